/* Annotations for Valgrind's helgrind, compiled in only by the helgrind
 * build (SL_VALGRIND, `make helgrind`); elsewhere they are empty.
 *
 * Helgrind knows pthread's primitives, not ours: the futex locks of locks.c
 * and the fork gate would look like no locking at all, and every field they
 * guard like a race. So each lock tells helgrind when it is taken and given
 * back, and the memory of our synchronisation words (only ever touched with
 * atomic instructions) is not checked: their accesses race by design.
 *
 * Kept out of the shipped library: each request is a handful of
 * instructions and a stack array even when not under valgrind, on the
 * hottest path we have (every tracked read and close takes a stripe). */
#ifndef SL_HG_H
#define SL_HG_H

#ifdef SL_VALGRIND
#include <valgrind/helgrind.h>
/* A mutex of ours: before waiting (helgrind checks the lock order there,
 * so an inversion is reported even when no deadlock happens), once held,
 * before giving it back. */
#define SL_HG_LOCK_PRE(m) VALGRIND_HG_MUTEX_LOCK_PRE((m), 0)
#define SL_HG_LOCK_POST(m) VALGRIND_HG_MUTEX_LOCK_POST(m)
#define SL_HG_UNLOCK(m) VALGRIND_HG_MUTEX_UNLOCK_PRE(m)
/* The gate: a reader-writer lock, forks being the writers. */
#define SL_HG_RW_ACQUIRED(l, is_w) ANNOTATE_RWLOCK_ACQUIRED((l), (is_w))
#define SL_HG_RW_RELEASED(l, is_w) ANNOTATE_RWLOCK_RELEASED((l), (is_w))
/* Memory only ever accessed atomically: nothing helgrind could find there. */
#define SL_HG_ATOMIC(addr, size) ANNOTATE_BENIGN_RACE_SIZED((addr), (size), "atomic")
/* Data published by a release store (BEFORE, just ahead of it) and read
 * after an acquire load that saw it (AFTER): helgrind sees no order in
 * atomics themselves. */
#define SL_HG_HAPPENS_BEFORE(obj) ANNOTATE_HAPPENS_BEFORE(obj)
#define SL_HG_HAPPENS_AFTER(obj) ANNOTATE_HAPPENS_AFTER(obj)
#else
#define SL_HG_LOCK_PRE(m) ((void)(m))
#define SL_HG_LOCK_POST(m) ((void)(m))
#define SL_HG_UNLOCK(m) ((void)(m))
#define SL_HG_RW_ACQUIRED(l, is_w) ((void)(l), (void)(is_w))
#define SL_HG_RW_RELEASED(l, is_w) ((void)(l), (void)(is_w))
#define SL_HG_ATOMIC(addr, size) ((void)(addr), (void)(size))
#define SL_HG_HAPPENS_BEFORE(obj) ((void)(obj))
#define SL_HG_HAPPENS_AFTER(obj) ((void)(obj))
#endif

#endif

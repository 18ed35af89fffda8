/* Every lock the library has, in one ordered list, and the one place that
 * takes them all around fork.
 *
 * Order (a thread holding a lock may only take locks further down):
 *     gate     rwlock: shared around our own unwinding and dl_iterate_phdr,
 *              exclusive for fork
 *     stripe   the fd table's 64 stripe mutexes (at most one at a time)
 *     depot    the stack depot
 *     reaper   the deadline queue
 *     log      the log writer
 *     modules  the module map
 *
 * Rules the code keeps (and the lock-debug build checks, SL_LOCK_DEBUG):
 * - every lock is taken with the re-entry guard set (sl_guard_enter), so a
 *   hook reached from a signal handler on a thread inside a locked section
 *   passes straight to libc instead of waiting for that thread's own lock;
 * - locks are taken in the order above, and never held across a real
 *   blocking call or an unwind (only the gate spans an unwind);
 * - the module map is never resolved under the log lock.
 *
 * Each thread records which of our locks it holds or is taking. fork's
 * prepare handler takes every lock the forking thread does not hold itself
 * (a fork from a signal handler that interrupted our own locked section
 * would otherwise wait for itself), the parent releases what prepare took,
 * and the child, alone with its one thread, starts every lock afresh. */
#ifndef SL_LOCKS_H
#define SL_LOCKS_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "sl.h"

enum sl_lock_id {
    SL_LK_GATE,
    SL_LK_STRIPE,
    SL_LK_DEPOT,
    SL_LK_REAPER,
    SL_LK_LOG,
    SL_LK_MODULES,
    SL_LK_COUNT
};

#define SL_STRIPES 64

/* Take or release lock id (sub: the stripe, for SL_LK_STRIPE). A failing
 * pthread call is a bug or memory corruption: abort with the lock's name and
 * the caller's function and line. Not for the gate. */
void sl_lock_at(enum sl_lock_id id, unsigned sub, const char *func, int line) SL_HIDDEN;
void sl_unlock_at(enum sl_lock_id id, unsigned sub, const char *func, int line) SL_HIDDEN;
#define SL_LOCK(id) sl_lock_at((id), 0, __func__, __LINE__)
#define SL_UNLOCK(id) sl_unlock_at((id), 0, __func__, __LINE__)
#define SL_LOCK_STRIPE(fd) sl_lock_at(SL_LK_STRIPE, (unsigned)(fd) % SL_STRIPES, __func__, __LINE__)
#define SL_UNLOCK_STRIPE(fd)                                                                       \
    sl_unlock_at(SL_LK_STRIPE, (unsigned)(fd) % SL_STRIPES, __func__, __LINE__)

/* The reaper sleeps on a word of its own (a futex) rather than a condition
 * variable, whose internal lock a fork child could inherit held. */
void sl_lock_wait_word(_Atomic uint32_t *w, uint32_t val, const struct timespec *timeout) SL_HIDDEN;
void sl_lock_wake_word(_Atomic uint32_t *w) SL_HIDDEN;

/* The fork gate, shared: around anything of ours that may take libunwind's
 * or the loader's locks (unwinding, dl_iterate_phdr), so no fork child
 * inherits those locks held by one of our threads. Never nested, first in
 * the order. Enter returns a token for leave. */
uint32_t sl_gate_enter_at(const char *func, int line) SL_HIDDEN;
void sl_gate_leave_at(const char *func, int line, uint32_t token) SL_HIDDEN;
/* A thread is about to be made: this thread's gate entry, if it was made
 * uncounted (the process had one thread) and is still under way (a signal
 * handler interrupted it), is counted now. */
void sl_gate_count_in(void) SL_HIDDEN;
#define SL_GATE_ENTER() sl_gate_enter_at(__func__, __LINE__)
#define SL_GATE_LEAVE(token) sl_gate_leave_at(__func__, __LINE__, (token))

/* At start-up, before other threads exist: tells helgrind (SL_VALGRIND
 * builds, hg.h) that the lock words are synchronisation; otherwise nothing. */
void sl_locks_init(void) SL_HIDDEN;

/* Does the calling thread hold (or wait for) any lock of ours? */
int sl_locks_held(void) SL_HIDDEN;

/* pthread_atfork handlers: prepare takes every lock in order (those this
 * thread holds itself excepted), parent releases what prepare took, child
 * re-creates every lock; forks nest (a signal handler's in the middle of
 * one). first: our parent and child handlers are the first to run after
 * the fork (ours was registered first). prepare returns 1 for a fork made
 * by the process's one thread from outside the library (nothing of ours
 * interrupted) with first: nothing of anyone's runs until our handlers. */
int sl_locks_prepare(int first) SL_HIDDEN;
void sl_locks_parent(void) SL_HIDDEN;
void sl_locks_child(void) SL_HIDDEN;
/* The same, told this thread's id (a fork child's: its pid). */
void sl_locks_child_is(pid_t tid) SL_HIDDEN;

#endif

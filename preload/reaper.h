/* The deadline queue and the thread that turns overdue EOFs into findings. */
#ifndef SL_REAPER_H
#define SL_REAPER_H

#include <stdatomic.h>
#include <stdint.h>
#include "sl.h"

/* Queue a deadline check of (fd, gen) at due_ns (CLOCK_MONOTONIC); starts the
 * reaper thread on first use. No allocation through malloc. */
void sl_reaper_schedule(int fd, uint32_t gen, int64_t due_ns) SL_HIDDEN;
/* Start the thread if it does not run, and have it look at its due times
 * again (the sweep was armed). errno is kept. */
void sl_reaper_kick(void) SL_HIDDEN;
/* The same in a fork child, before anything else of the library's ran in it. */
void sl_reaper_kick_child(int thread) SL_HIDDEN;
/* The kernel's name of a TCP state (tcpi_state), NULL when unknown. */
const char *sl_tcp_state_name(unsigned state) SL_HIDDEN;
/* At exit: every socket still open after end-of-stream is reported now,
 * marked at_exit. */
void sl_reaper_at_exit(void) SL_HIDDEN;

struct sl_slot;
struct sl_finding;
/* Write f for the slot (fd, gen) claimed by the caller, and its "closed"
 * record at once when the socket was closed meanwhile (since_ns: when its
 * deadline started). */
void sl_reaper_logged(int fd, struct sl_slot *s, uint32_t gen, struct sl_finding *f,
                      int64_t since_ns) SL_HIDDEN;

/* When the reaper finds a slot due it: checks gen and flags under the stripe
 * lock, re-queues if a send moved the deadline, verifies the inode (fstat),
 * reads TCP_INFO, writes the finding through sl_log_finding and sets
 * SL_F_REPORTED, finding_id and reported_ns. */

/* The first frame of depot stack id in words, without debug information: a
 * language frame's "function (file:line)", else "symbol (module+0xoff)" from
 * dladdr, or "module+0xoff" when the address is in no exported symbol.
 * Takes the loader lock (dladdr): no lock of ours may be held. */
void sl_reaper_frame_words(uint32_t id, char *out, size_t size) SL_HIDDEN;

/* fd's addresses as the report shows them ("" when unknown), control
 * characters as '?'. */
void sl_reaper_addrs(int fd, char *local, char *peer, size_t size) SL_HIDDEN;

/* fork child: empty the queue (those deadlines were the parent's), forget the
 * thread (the next schedule starts a new one). */
void sl_reaper_reinit_child(void) SL_HIDDEN;

/* Non-zero while a single-threaded process has work pending and no thread
 * of the library's: the wait hooks then cap their timeouts. */
extern _Atomic int sl_sched_active SL_HIDDEN;
#define SL_SCHED_ACTIVE() SL_UNLIKELY(atomic_load_explicit(&sl_sched_active, memory_order_relaxed))
/* From a wait hook on the program's thread (guard not set): do what is due
 * now; returns the next due time (CLOCK_MONOTONIC ns), 0 for no cap. */
int64_t sl_reaper_service(void) SL_HIDDEN;
/* 1 when some work is due now (a wait then blocks signals before doing it). */
int sl_reaper_due_now(void) SL_HIDDEN;
/* The program is about to block where no wait hook caps (a blocking accept,
 * connect, or read): from now on a thread of the library's does the work. */
void sl_reaper_blocking(void) SL_HIDDEN;

/* The process has one thread, the caller's: no thread of the program's
 * (pthread_create, clone) and none of the library's. */
int sl_reaper_one_thread(void) SL_HIDDEN;
/* At exit (guard set): the work already due that no wait of a
 * single-threaded program came to do. */
void sl_reaper_exit_due(void) SL_HIDDEN;
/* The program's last thread is leaving (threadcount.c): the library's thread,
 * if it runs, does what is due and ends; the caller waits for it to be gone.
 * Guard set, no lock held. */
void sl_reaper_stop(void) SL_HIDDEN;
/* Set when the program calls pthread_create. */
extern int sl_threads_made SL_HIDDEN;

#endif

/* Waits, and whether the program may block where no wait is capped.
 *
 * A single-threaded process stays single-threaded: while it has work of the
 * library's pending (a deadline, a sweep) and no thread of the library's
 * (reaper.c, sl_sched_active), each wait below is capped at the next due
 * time; the work is done on the program's own thread, and the wait goes on
 * for what is left. The program sees the same result, errno and remaining
 * time as without the library: a wait that the cap cut short is made again,
 * never returned; one that returned for the program's own reasons (an
 * event, a signal) returns as it did.
 *
 * A blocking socket's calls are capped too (track_block.c): accept and
 * reads wait in a capped ppoll when they would wait (sl_track_block_wait).
 * A wait that cannot be capped (a send that would wait, a wait for any
 * child) makes a thread of the library's (sl_reaper_blocking). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include "ownfd.h"
#include "rawsys.h"
#include "fdtable.h"
#include "locks.h"
#include "real.h"
#include "reaper.h"
#include "threadcount.h"
#include "track.h"
#include "track_int.h"

/* ------------------------------------------------------------ blocking fds */

/* 1 when fd is a stream socket in blocking mode: the slot's note (no
 * guard, no system call), else the kernel's answer, noted in the slot. */
int sl_track_fd_blocking(int fd)
{
    struct sl_slot *s = sl_fdtable_peek(fd);
    uint32_t f = s ? atomic_load_explicit(&s->flags, memory_order_relaxed) : 0;
    if ((f & SL_F_KNOWN) && !(f & SL_F_STREAM))
        return 0; /* a datagram socket's connect never waits */
    if (f & SL_F_NBSET)
        return !(f & SL_F_NONBLOCK);
    SL_ENSURE(fcntl);
    int e = errno;
    int fl = sl_real.fcntl(fd, F_GETFL);
    errno = e;
    if (fl < 0)
        return 0; /* no such fd: the call fails at once */
    if (s) {
        int g = sl_guard_enter();
        sl_slot_note_nonblock(fd, s, (fl & O_NONBLOCK) != 0);
        sl_guard_leave(g);
    }
    return !(fl & O_NONBLOCK);
}

void sl_track_before_block(int fd)
{
    if (!sl_block_watching() && sl_track_fd_blocking(fd))
        sl_block_watch();
}

void sl_track_note_nonblock(int fd, int nonblock)
{
    struct sl_slot *s = sl_fdtable_peek(fd);
    if (!s)
        return;
    int g = sl_guard_enter();
    sl_slot_note_nonblock(fd, s, nonblock);
    sl_guard_leave(g);
    if (!nonblock && atomic_load_explicit(&sl_sched_active, memory_order_relaxed))
        sl_block_watch();
}

/* A thread of the program's: the library's work moves to a thread of its own
 * at the next wait (another thread may block anywhere). */
static void sl_thread_made(void)
{
    __atomic_store_n(&sl_threads_made, 1, __ATOMIC_RELAXED);
    sl_block_unwatch(); /* before the thread: it never sees a watcher */
}

int sl_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                      void *arg)
{
    SL_ENSURE(pthread_create);
    sl_gate_count_in(); /* an entry of the caller's made uncounted, alone */
    if (sl_in_lib)      /* the library's own thread */
        return sl_real.pthread_create(thread, attr, start, arg);
    sl_thread_made();
    struct sl_thread_start *b = sl_thread_box(start, NULL, arg);
    if (!b)
        return sl_real.pthread_create(thread, attr, start, arg);
    int r = sl_real.pthread_create(thread, attr, sl_thread_begin, b);
    if (r)
        sl_thread_unbox(b);
    return r;
}

/* C11's thrd_create makes its thread without calling pthread_create
 * through the PLT. */
int sl_thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
    SL_ENSURE(thrd_create);
    sl_gate_count_in(); /* an entry of the caller's made uncounted, alone */
    if (sl_in_lib)
        return sl_real.thrd_create(thr, func, arg);
    sl_thread_made();
    struct sl_thread_start *b = sl_thread_box(NULL, func, arg);
    if (!b)
        return sl_real.thrd_create(thr, func, arg);
    int r = sl_real.thrd_create(thr, sl_thrd_begin, b);
    if (r != thrd_success)
        sl_thread_unbox(b);
    return r;
}

int sl_ioctl(int fd, unsigned long req, void *arg)
{
    SL_ENSURE(ioctl);
    int r = sl_real.ioctl(fd, req, arg);
    if (SL_UNLIKELY(req == FIONBIO) && r == 0 && arg && !sl_in_lib) {
        int e = errno;
        sl_track_note_nonblock(fd, *(const int *)arg != 0);
        errno = e;
    }
    return r;
}

/* ------------------------------------------------------------ capped waits
 *
 * Signals. Without the library a signal that comes during the wait ends it
 * with EINTR (none of these calls is restarted after a handler, whatever
 * SA_RESTART). The library's work between two capped calls must not lose
 * one: every signal is blocked from the moment a capped call returns (or
 * work is to be done first) until the wait ends, and the capped calls that
 * follow are the variants that take a signal mask (ppoll, epoll_pwait,
 * pselect), with the caller's mask while they wait. A signal that came
 * while blocked is delivered when the caller's mask comes back: then the
 * wait returns EINTR, as it would have. What is left is the instant
 * between a capped call's return and the blocking, as narrow as the one
 * every program has before it enters a wait. sigtimedwait, which has no
 * such variant, waits with the caller's mask. */

static inline int sl_wait_capping(void)
{
    return SL_UNLIKELY(atomic_load_explicit(&sl_sched_active, memory_order_relaxed)) &&
           !sl_in_lib && !sl_in_vfork_child();
}

/* One wait of the caller's: it ends at end (CLOCK_MONOTONIC ns, -1 never). */
struct sl_wait {
    int64_t end;
    int first;  /* no call made yet: an uncapped one passes the caller's own arguments */
    int masked; /* every signal blocked; orig is the caller's mask */
    sigset_t orig;
};

static void sl_wait_begin(struct sl_wait *w, int64_t timeout_ns)
{
    w->end = timeout_ns < 0 ? -1 : sl_now_ns() + timeout_ns;
    w->first = 1;
    w->masked = 0;
}

static void sl_wait_block(struct sl_wait *w)
{
    if (w->masked)
        return;
    int e = errno;
    sigset_t all;
    sigfillset(&all);
    sl_real.sigprocmask(SIG_BLOCK, &all, &w->orig);
    w->masked = 1;
    errno = e;
}

/* The caller's mask back. Returns 1 when a signal with a handler was
 * pending and not blocked by the caller: its handler runs now, and the wait
 * ends with EINTR as the signal would have ended it. */
static int sl_wait_unblock(struct sl_wait *w)
{
    if (!w->masked)
        return 0;
    int e = errno;
    w->masked = 0;
    sigset_t pend;
    int ran = 0;
    if (sigpending(&pend) == 0 && !sigisemptyset(&pend))
        for (int sig = 1; sig < NSIG; sig++) {
            struct sigaction sa;
            if (sigismember(&pend, sig) == 1 && sigismember(&w->orig, sig) != 1 &&
                sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_IGN &&
                sa.sa_handler != SIG_DFL)
                ran = 1;
        }
    sl_real.sigprocmask(SIG_SETMASK, &w->orig, NULL);
    errno = e;
    return ran;
}

/* Do the due work (signals blocked first), then say how long the next call
 * may wait: returns 1 and *ns, the cap, when it must stop before the
 * caller's end; else 0 and *ns, what is left of the caller's wait (-1 for
 * ever). */
static int sl_wait_next(struct sl_wait *w, int64_t *ns)
{
    if (!w->first || sl_reaper_due_now())
        sl_wait_block(w);
    int64_t next = sl_reaper_service();
    int64_t now = sl_now_ns();
    int64_t left = w->end < 0 ? -1 : (w->end > now ? w->end - now : 0);
    *ns = left;
    if (!next || !atomic_load_explicit(&sl_sched_active, memory_order_relaxed))
        return 0;
    int64_t cap = next > now ? next - now : 0;
    if (left >= 0 && left <= cap)
        return 0;
    *ns = cap;
    return 1;
}

/* One turn of a wait's loop: sl_wait_next, and *first, whether no call
 * was made yet. */
static int sl_wait_turn(struct sl_wait *w, int64_t *ns, int *first)
{
    int capped = sl_wait_next(w, ns);
    *first = w->first;
    w->first = 0;
    return capped;
}

/* A capped call returned r (timed out: more to wait): the caller's mask
 * back when it returns for good. */
static int sl_wait_done(struct sl_wait *w, int r)
{
    sl_wait_unblock(w); /* a signal after the call returned: its handler runs now */
    return r;
}

static int64_t sl_ts_ns(const struct timespec *ts)
{
    return ts ? (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec : -1;
}

static int sl_ts_valid(const struct timespec *ts)
{
    return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000 &&
           ts->tv_sec < INT64_MAX / 2000000000;
}

static struct timespec sl_ns_ts(int64_t ns)
{
    return (struct timespec){ns / 1000000000, ns % 1000000000};
}

/* Milliseconds for poll and epoll_wait, rounded up: a wait never ends
 * before the caller's time. */
static int sl_ns_ms(int64_t ns)
{
    if (ns < 0)
        return -1;
    int64_t ms = (ns + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* The loop every wait with a "ran out" result of 0 shares. FIRST(): the
 * call with the caller's own arguments; LEFT(ns): an uncapped call for
 * what is left (ns, -1 for ever); CAP(ns): a capped call with the caller's
 * mask; CAP_MASKED(ns, mask): the same while every signal is blocked, mask
 * the caller's own (orig: the one it had). */
#define SL_WAIT_LOOP(timeout_ns, FIRST, LEFT, CAP, CAP_MASKED)                                     \
    do {                                                                                           \
        struct sl_wait w;                                                                          \
        sl_wait_begin(&w, timeout_ns);                                                             \
        for (;;) {                                                                                 \
            int64_t ns;                                                                            \
            int first, capped = sl_wait_turn(&w, &ns, &first);                                     \
            if (!capped) {                                                                         \
                if (sl_wait_unblock(&w)) {                                                         \
                    errno = EINTR;                                                                 \
                    return -1;                                                                     \
                }                                                                                  \
                return first ? FIRST() : LEFT(ns);                                                 \
            }                                                                                      \
            int r = w.masked ? CAP_MASKED(ns, &w.orig) : CAP(ns);                                  \
            if (r != 0)                                                                            \
                return sl_wait_done(&w, r);                                                        \
        }                                                                                          \
    } while (0)

int sl_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    SL_ENSURE(poll);
    if (SL_LIKELY(!sl_wait_capping()))
        return sl_real.poll(fds, nfds, timeout);
    SL_ENSURE(ppoll);
#define FIRST() sl_real.poll(fds, nfds, timeout)
#define LEFT(ns) sl_real.poll(fds, nfds, sl_ns_ms(ns))
#define CAP_MASKED(ns, m)                                                                          \
    sl_real.ppoll(fds, nfds, &(struct timespec){(ns) / 1000000000, (ns) % 1000000000}, m)
    SL_WAIT_LOOP(timeout < 0 ? -1 : (int64_t)timeout * 1000000, FIRST, LEFT, LEFT, CAP_MASKED);
#undef FIRST
#undef LEFT
#undef CAP_MASKED
}

int sl___poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen)
{
    SL_ENSURE(__poll_chk);
    if (SL_LIKELY(!sl_wait_capping()) || fdslen / sizeof *fds < nfds)
        return sl_real.__poll_chk(fds, nfds, timeout, fdslen);
    return sl_poll(fds, nfds, timeout);
}

int sl_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask)
{
    SL_ENSURE(ppoll);
    if (SL_LIKELY(!sl_wait_capping()) || (tmo && !sl_ts_valid(tmo)))
        return sl_real.ppoll(fds, nfds, tmo, mask);
#define FIRST() sl_real.ppoll(fds, nfds, tmo, mask)
#define LEFT(ns)                                                                                   \
    sl_real.ppoll(fds, nfds,                                                                       \
                  (ns) < 0 ? NULL : &(struct timespec){(ns) / 1000000000, (ns) % 1000000000},      \
                  mask)
#define CAP_MASKED(ns, m)                                                                          \
    sl_real.ppoll(fds, nfds, &(struct timespec){(ns) / 1000000000, (ns) % 1000000000},             \
                  mask ? mask : m)
    SL_WAIT_LOOP(sl_ts_ns(tmo), FIRST, LEFT, LEFT, CAP_MASKED);
#undef FIRST
#undef LEFT
#undef CAP_MASKED
}

int sl___ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
                   const sigset_t *mask, size_t fdslen)
{
    SL_ENSURE(__ppoll_chk);
    if (SL_LIKELY(!sl_wait_capping()) || fdslen / sizeof *fds < nfds)
        return sl_real.__ppoll_chk(fds, nfds, tmo, mask, fdslen);
    return sl_ppoll(fds, nfds, tmo, mask);
}

int sl_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
    SL_ENSURE(epoll_wait);
    if (SL_LIKELY(!sl_wait_capping()))
        return sl_real.epoll_wait(epfd, ev, max, timeout);
    SL_ENSURE(epoll_pwait);
#define FIRST() sl_real.epoll_wait(epfd, ev, max, timeout)
#define LEFT(ns) sl_real.epoll_wait(epfd, ev, max, sl_ns_ms(ns))
#define CAP_MASKED(ns, m) sl_real.epoll_pwait(epfd, ev, max, sl_ns_ms(ns), m)
    SL_WAIT_LOOP(timeout < 0 ? -1 : (int64_t)timeout * 1000000, FIRST, LEFT, LEFT, CAP_MASKED);
#undef FIRST
#undef LEFT
#undef CAP_MASKED
}

int sl_epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
    SL_ENSURE(epoll_pwait);
    if (SL_LIKELY(!sl_wait_capping()))
        return sl_real.epoll_pwait(epfd, ev, max, timeout, mask);
#define FIRST() sl_real.epoll_pwait(epfd, ev, max, timeout, mask)
#define LEFT(ns) sl_real.epoll_pwait(epfd, ev, max, sl_ns_ms(ns), mask)
#define CAP_MASKED(ns, m) sl_real.epoll_pwait(epfd, ev, max, sl_ns_ms(ns), mask ? mask : m)
    SL_WAIT_LOOP(timeout < 0 ? -1 : (int64_t)timeout * 1000000, FIRST, LEFT, LEFT, CAP_MASKED);
#undef FIRST
#undef LEFT
#undef CAP_MASKED
}

int sl_epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *tmo,
                    const sigset_t *mask)
{
    SL_ENSURE(epoll_pwait2);
    if (SL_LIKELY(!sl_wait_capping()) || (tmo && !sl_ts_valid(tmo)))
        return sl_real.epoll_pwait2(epfd, ev, max, tmo, mask);
#define FIRST() sl_real.epoll_pwait2(epfd, ev, max, tmo, mask)
#define LEFT(ns)                                                                                   \
    sl_real.epoll_pwait2(                                                                          \
        epfd, ev, max, (ns) < 0 ? NULL : &(struct timespec){(ns) / 1000000000, (ns) % 1000000000}, \
        mask)
#define CAP_MASKED(ns, m)                                                                          \
    sl_real.epoll_pwait2(epfd, ev, max, &(struct timespec){(ns) / 1000000000, (ns) % 1000000000},  \
                         mask ? mask : m)
    SL_WAIT_LOOP(sl_ts_ns(tmo), FIRST, LEFT, LEFT, CAP_MASKED);
#undef FIRST
#undef LEFT
#undef CAP_MASKED
}

/* select and pselect: the sets are given back as they came before each
 * call again (a call that ran out emptied them); select's *tv holds what
 * is left of the caller's time when it returns, as Linux's select leaves
 * it. More than FD_SETSIZE fds are not copied: the wait is not capped. */
static void sl_sets_save(fd_set **sets, fd_set *copy, size_t bytes)
{
    for (int i = 0; i < 3; i++)
        if (sets[i])
            memcpy(&copy[i], sets[i], bytes);
}

static void sl_sets_restore(fd_set **sets, const fd_set *copy, size_t bytes)
{
    for (int i = 0; i < 3; i++)
        if (sets[i])
            memcpy(sets[i], &copy[i], bytes);
}

static void sl_tv_left(struct timeval *tv, const struct sl_wait *w)
{
    if (!tv)
        return;
    int64_t now = sl_now_ns(), left = w->end > now ? w->end - now : 0;
    tv->tv_sec = left / 1000000000;
    tv->tv_usec = left % 1000000000 / 1000;
}

int sl_select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
    SL_ENSURE(select);
    if (SL_LIKELY(!sl_wait_capping()) || nfds < 0 || nfds > FD_SETSIZE ||
        (tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000))) {
        if (sl_wait_capping() && nfds > FD_SETSIZE)
            sl_reaper_blocking();
        return sl_real.select(nfds, rd, wr, ex, tv);
    }
    SL_ENSURE(pselect);
    fd_set *sets[3] = {rd, wr, ex};
    fd_set copy[3];
    size_t bytes = ((size_t)nfds + 63) / 64 * 8;
    sl_sets_save(sets, copy, bytes);
    struct sl_wait w;
    sl_wait_begin(&w, tv ? (int64_t)tv->tv_sec * 1000000000 + (int64_t)tv->tv_usec * 1000 : -1);
    for (;;) {
        int64_t ns;
        int first, capped = sl_wait_turn(&w, &ns, &first);
        if (!first)
            sl_sets_restore(sets, copy, bytes);
        if (!capped) {
            if (sl_wait_unblock(&w)) {
                sl_tv_left(tv, &w);
                errno = EINTR;
                return -1;
            }
            if (!first && tv) {
                /* rounded up: the kernel's wait never ends before the caller's */
                int64_t us = (ns + 999) / 1000;
                tv->tv_sec = us / 1000000;
                tv->tv_usec = us % 1000000;
            }
            return sl_real.select(nfds, rd, wr, ex, tv);
        }
        struct timespec cap = sl_ns_ts(ns);
        int r = w.masked ? sl_real.pselect(nfds, rd, wr, ex, &cap, &w.orig)
                         : sl_real.pselect(nfds, rd, wr, ex, &cap, NULL);
        if (r != 0) {
            int e = errno;
            sl_tv_left(tv, &w);
            errno = e;
            return sl_wait_done(&w, r);
        }
    }
}

int sl_pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *tmo,
               const sigset_t *mask)
{
    SL_ENSURE(pselect);
    if (SL_LIKELY(!sl_wait_capping()) || nfds < 0 || nfds > FD_SETSIZE ||
        (tmo && !sl_ts_valid(tmo))) {
        if (sl_wait_capping() && nfds > FD_SETSIZE)
            sl_reaper_blocking();
        return sl_real.pselect(nfds, rd, wr, ex, tmo, mask);
    }
    fd_set *sets[3] = {rd, wr, ex};
    fd_set copy[3];
    size_t bytes = ((size_t)nfds + 63) / 64 * 8;
    sl_sets_save(sets, copy, bytes);
    int calls = 0;
#define SL_AGAIN() (calls++ ? sl_sets_restore(sets, copy, bytes) : (void)0)
#define FIRST() (SL_AGAIN(), sl_real.pselect(nfds, rd, wr, ex, tmo, mask))
#define LEFT(ns)                                                                                   \
    (SL_AGAIN(),                                                                                   \
     sl_real.pselect(nfds, rd, wr, ex,                                                             \
                     (ns) < 0 ? NULL : &(struct timespec){(ns) / 1000000000, (ns) % 1000000000},   \
                     mask))
#define CAP_MASKED(ns, m)                                                                          \
    (SL_AGAIN(),                                                                                   \
     sl_real.pselect(nfds, rd, wr, ex, &(struct timespec){(ns) / 1000000000, (ns) % 1000000000},   \
                     mask ? mask : m))
    SL_WAIT_LOOP(sl_ts_ns(tmo), FIRST, LEFT, LEFT, CAP_MASKED);
#undef SL_AGAIN
#undef FIRST
#undef LEFT
#undef CAP_MASKED
}

/* Sleeps. A capped piece is a ppoll of no fds (with the caller's mask once
 * signals are blocked), which a handler ends with EINTR as it ends them;
 * the remainder is then what is left of the caller's time. */
static int sl_sleep_piece(const struct sl_wait *w, int64_t ns)
{
    struct timespec ts = sl_ns_ts(ns);
    return sl_real.ppoll(NULL, 0, &ts, w->masked ? &w->orig : NULL);
}

static void sl_rem_left(struct timespec *rem, const struct sl_wait *w)
{
    if (!rem)
        return;
    int64_t now = sl_now_ns();
    *rem = sl_ns_ts(w->end > now ? w->end - now : 0);
}

int sl_nanosleep(const struct timespec *req, struct timespec *rem)
{
    SL_ENSURE(nanosleep);
    if (SL_LIKELY(!sl_wait_capping()) || !req || !sl_ts_valid(req))
        return sl_real.nanosleep(req, rem);
    SL_ENSURE(ppoll);
    struct sl_wait w;
    sl_wait_begin(&w, sl_ts_ns(req));
    for (;;) {
        int64_t ns;
        int first, capped = sl_wait_turn(&w, &ns, &first);
        if (!capped) {
            if (sl_wait_unblock(&w)) {
                sl_rem_left(rem, &w);
                errno = EINTR;
                return -1;
            }
            struct timespec ts = sl_ns_ts(ns);
            return sl_real.nanosleep(first ? req : &ts, rem);
        }
        if (sl_sleep_piece(&w, ns) != 0) { /* EINTR */
            int e = errno;
            sl_rem_left(rem, &w);
            errno = e;
            return sl_wait_done(&w, -1);
        }
    }
}

/* clock_nanosleep returns an error number. An absolute sleep keeps its
 * clock's end; a relative one is measured as nanosleep's is. Other clocks
 * than these three are not capped (the library's thread takes over). */
int sl_clock_nanosleep(clockid_t clk, int flags, const struct timespec *req, struct timespec *rem)
{
    SL_ENSURE(clock_nanosleep);
    int known = clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC || clk == CLOCK_BOOTTIME;
    if (SL_LIKELY(!sl_wait_capping()) || !req || !sl_ts_valid(req) || !known) {
        if (sl_wait_capping() && req && !known)
            sl_reaper_blocking();
        return sl_real.clock_nanosleep(clk, flags, req, rem);
    }
    SL_ENSURE(ppoll);
    int abs = (flags & TIMER_ABSTIME) != 0;
    struct sl_wait w;
    sl_wait_begin(&w, abs ? 0 : sl_ts_ns(req));
    for (;;) {
        if (abs) { /* what is left on the caller's clock */
            struct timespec now;
            clock_gettime(clk, &now);
            int64_t left = sl_ts_ns(req) - sl_ts_ns(&now);
            w.end = sl_now_ns() + (left > 0 ? left : 0);
        }
        int64_t ns;
        int first, capped = sl_wait_turn(&w, &ns, &first);
        if (!capped) {
            if (sl_wait_unblock(&w)) {
                if (!abs)
                    sl_rem_left(rem, &w);
                return EINTR;
            }
            struct timespec ts = sl_ns_ts(ns);
            return abs || first ? sl_real.clock_nanosleep(clk, flags, req, rem)
                                : sl_real.clock_nanosleep(clk, flags, &ts, rem);
        }
        if (sl_sleep_piece(&w, ns) != 0) {
            int err = errno;
            if (!abs)
                sl_rem_left(rem, &w);
            return sl_wait_done(&w, err);
        }
    }
}

/* sleep and usleep as glibc makes them of nanosleep (posix/sleep.c,
 * sysdeps/posix/usleep.c): its own calls never come through the hook. */
unsigned int sl_sleep(unsigned int secs)
{
    SL_ENSURE(sleep);
    if (SL_LIKELY(!sl_wait_capping()))
        return sl_real.sleep(secs);
    SL_ENSURE(nanosleep);
    int e = errno;
    struct timespec ts = {secs, 0};
    if (sl_nanosleep(&ts, &ts) < 0)
        return (unsigned int)ts.tv_sec;
    errno = e;
    return 0;
}

int sl_usleep(useconds_t usecs)
{
    SL_ENSURE(usleep);
    if (SL_LIKELY(!sl_wait_capping()))
        return sl_real.usleep(usecs);
    SL_ENSURE(nanosleep);
    struct timespec ts = {usecs / 1000000, (long)(usecs % 1000000) * 1000};
    return sl_nanosleep(&ts, NULL);
}

/* pause and sigsuspend: a capped piece is a ppoll of no fds with the same
 * mask, which a handler ends with -1 and EINTR as it ends them. */
int sl_pause(void)
{
    SL_ENSURE(pause);
    if (SL_LIKELY(!sl_wait_capping()))
        return sl_real.pause();
    SL_ENSURE(ppoll);
#define FIRST() sl_real.pause()
#define LEFT(ns) sl_real.pause()
#define CAP(ns)                                                                                    \
    sl_real.ppoll(NULL, 0, &(struct timespec){(ns) / 1000000000, (ns) % 1000000000}, NULL)
#define CAP_MASKED(ns, m)                                                                          \
    sl_real.ppoll(NULL, 0, &(struct timespec){(ns) / 1000000000, (ns) % 1000000000}, m)
    SL_WAIT_LOOP(-1, FIRST, LEFT, CAP, CAP_MASKED);
#undef FIRST
#undef LEFT
#undef CAP
#undef CAP_MASKED
}

int sl_sigsuspend(const sigset_t *mask)
{
    SL_ENSURE(sigsuspend);
    if (SL_LIKELY(!sl_wait_capping()) || !mask)
        return sl_real.sigsuspend(mask);
    SL_ENSURE(ppoll);
#define FIRST() sl_real.sigsuspend(mask)
#define LEFT(ns) sl_real.sigsuspend(mask)
#define CAP(ns)                                                                                    \
    sl_real.ppoll(NULL, 0, &(struct timespec){(ns) / 1000000000, (ns) % 1000000000}, mask)
#define CAP_MASKED(ns, m) CAP(ns)
    SL_WAIT_LOOP(-1, FIRST, LEFT, CAP, CAP_MASKED);
#undef FIRST
#undef LEFT
#undef CAP
#undef CAP_MASKED
}

/* sigtimedwait: -1 and EAGAIN when the time ran out. It takes no mask: it
 * waits with the caller's. */
int sl_sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *tmo)
{
    SL_ENSURE(sigtimedwait);
    if (SL_LIKELY(!sl_wait_capping()) || (tmo && !sl_ts_valid(tmo)))
        return sl_real.sigtimedwait(set, info, tmo);
    struct sl_wait w;
    sl_wait_begin(&w, sl_ts_ns(tmo));
    for (;;) {
        int64_t ns;
        int first, capped = sl_wait_turn(&w, &ns, &first);
        if (sl_wait_unblock(&w)) {
            errno = EINTR;
            return -1;
        }
        struct timespec ts = sl_ns_ts(ns);
        if (!capped)
            return sl_real.sigtimedwait(set, info, first ? tmo : ns < 0 ? NULL : &ts);
        int e = errno;
        int r = sl_real.sigtimedwait(set, info, &ts);
        if (r >= 0 || errno != EAGAIN)
            return r;
        errno = e;
    }
}

int sl_sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
    SL_ENSURE(sigwaitinfo);
    if (SL_LIKELY(!sl_wait_capping()))
        return sl_real.sigwaitinfo(set, info);
    SL_ENSURE(sigtimedwait);
    return sl_sigtimedwait(set, info, NULL);
}

/* sigwait returns an error number and never EINTR (glibc waits again). */
int sl_sigwait(const sigset_t *set, int *sig)
{
    SL_ENSURE(sigwait);
    if (SL_LIKELY(!sl_wait_capping()))
        return sl_real.sigwait(set, sig);
    SL_ENSURE(sigtimedwait);
    int e = errno;
    for (;;) {
        int r = sl_sigtimedwait(set, NULL, NULL);
        if (r > 0) {
            *sig = r;
            errno = e;
            return 0;
        }
        if (errno != EINTR) {
            int err = errno;
            errno = e;
            return err;
        }
    }
}

/* ------------------------------------------------------ waits for a child
 *
 * A wait for one child (waitpid, wait4 with a pid > 0, no option but
 * __WALL/__WCLONE) is capped by polling a pidfd of the child, readable once
 * it has exited; the child is then reaped by the same call made with
 * WNOHANG. Without a cap to keep (nothing due) the caller's call is made
 * as it is. A signal handler that runs during the poll ends it with EINTR
 * where the blocking call would have gone on (SA_RESTART): so the poll is
 * used only while every handler the program has set restarts, and none is
 * set for SIGCHLD (sl_sig_some_norestart). A wait for
 * any child or a group, or for stops (WUNTRACED, WCONTINUED, which a pidfd
 * does not report), makes the library's thread, as a handler that does not
 * restart does. */

/* Dispositions changed through sigaction or signal since the scan below. */
static _Atomic unsigned sl_sig_epoch = 1;
static unsigned sl_sig_seen;

static void sl_sig_changed(void)
{
    atomic_fetch_add_explicit(&sl_sig_epoch, 1, memory_order_relaxed);
}

int sl_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    SL_ENSURE(sigaction);
    int r = sl_real.sigaction(sig, act, old);
    if (act)
        sl_sig_changed();
    return r;
}

/* signal() and its variants, and siginterrupt (SA_RESTART itself). */
#define SL_SIG_SETTER(name)                                                                        \
    __sighandler_t sl_##name(int sig, __sighandler_t handler)                                      \
    {                                                                                              \
        SL_ENSURE(name);                                                                           \
        __sighandler_t r = sl_real.name(sig, handler);                                             \
        sl_sig_changed();                                                                          \
        return r;                                                                                  \
    }
SL_SIG_SETTER(signal)
SL_SIG_SETTER(sysv_signal)
SL_SIG_SETTER(bsd_signal)
SL_SIG_SETTER(sigset)
#undef SL_SIG_SETTER

int sl_siginterrupt(int sig, int flag)
{
    SL_ENSURE(siginterrupt);
    int r = sl_real.siginterrupt(sig, flag);
    sl_sig_changed();
    return r;
}

/* Can a handler of the program's tell a capped wait from the real call?
 * One that does not restart would end the poll with EINTR where the call
 * goes on. For a wait for a child (chld), one for SIGCHLD too: it runs when
 * the poll returns for the child's exit, before our WNOHANG reap: if it
 * reaps (waitpid(-1, WNOHANG) in a loop, the usual handler), the program's
 * own waitpid would fail with ECHILD, where the kernel hands the status to
 * the blocked waitpid first. Scanned again after a change (the first time:
 * handlers set before the library was bound). */
static int sl_sig_norestart, sl_sig_chld;

static int sl_sig_some_norestart(int chld)
{
    unsigned ep = atomic_load_explicit(&sl_sig_epoch, memory_order_relaxed);
    if (ep != sl_sig_seen) {
        SL_ENSURE(sigaction);
        int e = errno, any = 0, onchld = 0;
        for (int sig = 1; sig < NSIG; sig++) {
            struct sigaction sa;
            if (sl_real.sigaction(sig, NULL, &sa) != 0 || sa.sa_handler == SIG_DFL ||
                sa.sa_handler == SIG_IGN)
                continue;
            any |= !(sa.sa_flags & SA_RESTART);
            onchld |= sig == SIGCHLD;
        }
        errno = e;
        sl_sig_norestart = any;
        sl_sig_chld = onchld;
        sl_sig_seen = ep;
    }
    return sl_sig_norestart || (chld && sl_sig_chld);
}

/* A pidfd of pid out of the program's numbering; -1 when none. */
static int sl_child_pidfd(pid_t pid)
{
    long fd = sl_raw_syscall4(SYS_pidfd_open, pid, 0, 0, 0);
    if (fd < 0)
        return -1;
    int e = errno;
    int placed = sl_ownfd_place((int)fd);
    SL_SET(errno, e); /* unchanged: no page of the parent's written after a fork */
    return placed;
}

static void sl_child_pidfd_close(int fd)
{
    if (fd >= 0)
        sl_raw_syscall4(SYS_close, fd, 0, 0, 0);
}

/* -2: the caller makes its own call (after the thread was started, or with
 * nothing due); else the call's result. */
static pid_t sl_wait_child(pid_t pid, int *status, int options, struct rusage *ru)
{
    SL_ENSURE(wait4);
    SL_ENSURE(ppoll);
    if (pid <= 0 || (options & ~(__WALL | __WCLONE)) || sl_sig_some_norestart(1)) {
        /* A child already done, or none, is answered without waiting: no
         * thread for that. */
        int e = errno;
        pid_t r = sl_real.wait4(pid, status, options | WNOHANG, ru);
        if (r != 0)
            return r;
        errno = e;
        sl_reaper_blocking();
        return -2;
    }
    struct sl_wait w;
    sl_wait_begin(&w, -1);
    int pfd = -1;
    for (;;) {
        int64_t ns;
        int first, capped = sl_wait_turn(&w, &ns, &first);
        if (!capped) {
            sl_child_pidfd_close(pfd);
            sl_wait_unblock(&w); /* a handler that restarts runs, and the wait goes on */
            return -2;
        }
        int e = errno;
        pid_t r = sl_real.wait4(pid, status, options | WNOHANG, ru);
        if (r != 0) {
            sl_child_pidfd_close(pfd);
            return sl_wait_done(&w, r);
        }
        if (pfd < 0 && (pfd = sl_child_pidfd(pid)) < 0) {
            sl_wait_unblock(&w);
            sl_reaper_blocking();
            errno = e;
            return -2;
        }
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        struct timespec ts = sl_ns_ts(ns);
        /* exited, cap, or a handler ran */
        if (sl_real.ppoll(&p, 1, &ts, w.masked ? &w.orig : NULL) == 1) {
            /* Exited: reaped now, with no work of ours or mask between. */
            pid_t r = sl_real.wait4(pid, status, options | WNOHANG, ru);
            sl_child_pidfd_close(pfd);
            if (r != 0)
                return sl_wait_done(&w, r);
            /* Exited and not reapable yet (a tracer holds it): the pidfd
             * would answer at once for ever, so the thread does the work
             * and the caller blocks in its own call. */
            sl_wait_unblock(&w);
            sl_reaper_blocking();
            errno = e;
            return -2;
        }
        errno = e;
    }
}

pid_t sl_wait(int *status)
{
    SL_ENSURE(wait);
    if (sl_wait_capping()) {
        pid_t r = sl_wait_child(-1, status, 0, NULL);
        if (r != -2)
            return r;
    }
    return sl_real.wait(status);
}

pid_t sl_waitpid(pid_t pid, int *status, int options)
{
    SL_ENSURE(waitpid);
    if (sl_wait_capping() && !(options & WNOHANG)) {
        pid_t r = sl_wait_child(pid, status, options, NULL);
        if (r != -2)
            return r;
    }
    return sl_real.waitpid(pid, status, options);
}

pid_t sl_wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
    SL_ENSURE(wait4);
    if (sl_wait_capping() && !(options & WNOHANG)) {
        pid_t r = sl_wait_child(pid, status, options, ru);
        if (r != -2)
            return r;
    }
    return sl_real.wait4(pid, status, options, ru);
}

int sl_waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
    SL_ENSURE(waitid);
    if (sl_wait_capping() && !(options & WNOHANG))
        sl_reaper_blocking();
    return sl_real.waitid(idtype, id, info, options);
}

/* ------------------------------------------------------------ blocking sockets
 *
 * A blocking socket call that would wait (accept with no connection queued,
 * a read with nothing to read) is capped as a wait is: the caller's thread
 * waits in ppoll for the fd, capped at the next due time, does the work
 * due between, and makes the caller's own call once the fd is ready, when
 * that call no longer waits. A handler that restarts runs in the ppoll, as
 * it would have in the call, which then goes on. So this is done only
 * while every handler the program set restarts (sl_sig_some_norestart), on
 * a socket the kernel says blocks and that has no timeout (SO_RCVTIMEO: the
 * call would return at its end); else the library's thread takes the work,
 * as for any call it cannot cap. Another process that takes the connection
 * or the bytes between the ppoll and the call leaves the call to wait
 * uncapped, as a program sharing a listener across processes may.
 * accept: the call is an accept (the socket must listen). */
static int sl_block_cappable(int fd, int timeo, int accept)
{
    SL_ENSURE(fcntl);
    int fl = sl_real.fcntl(fd, F_GETFL), on = 0;
    socklen_t len = sizeof on;
    if (fl < 0 || (fl & O_NONBLOCK))
        return 0; /* the call fails, or returns at once */
    if (accept && (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) != 0 || !on))
        return 0; /* accept on a socket that does not listen: EINVAL at once */
    struct timeval tv = {0, 0};
    len = sizeof tv;
    if (sl_sig_some_norestart(0) ||
        (timeo && (getsockopt(fd, SOL_SOCKET, timeo, &tv, &len) != 0 || tv.tv_sec || tv.tv_usec))) {
        sl_reaper_blocking();
        return 0;
    }
    return 1;
}

void sl_track_block_wait(int fd, short events, int timeo, int accept)
{
    if (!sl_wait_capping())
        return;
    SL_ENSURE(ppoll);
    int e = errno;
    struct pollfd p = {.fd = fd, .events = events};
    struct timespec zero = {0, 0};
    if (sl_real.ppoll(&p, 1, &zero, NULL) != 0 || !sl_block_cappable(fd, timeo, accept)) {
        errno = e; /* ready (or no such fd): the call does not wait */
        return;
    }
    struct sl_wait w;
    sl_wait_begin(&w, -1);
    for (;;) {
        int64_t ns;
        int first;
        if (!sl_wait_turn(&w, &ns, &first))
            break; /* nothing due (or the thread took the work): the call waits */
        struct timespec ts = sl_ns_ts(ns);
        int r = sl_real.ppoll(&p, 1, &ts, w.masked ? &w.orig : NULL);
        if (r > 0 || (r < 0 && errno != EINTR))
            break; /* ready; or an error the call itself reports */
        /* The cap, or a handler that restarts: the call goes on, unless
         * the handler set one that does not, a timeout or O_NONBLOCK. */
        if (r < 0 && !sl_block_cappable(fd, timeo, accept))
            break;
    }
    sl_wait_unblock(&w); /* a signal that came meanwhile: its handler runs, the call goes on */
    errno = e;
}

void sl_track_before_accept(int fd, int flags)
{
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return; /* EINVAL at once */
    struct sl_slot *s = sl_fdtable_peek(fd);
    uint32_t f = s ? atomic_load_explicit(&s->flags, memory_order_relaxed) : 0;
    int known = (f & (SL_F_KNOWN | SL_F_STREAM | SL_F_NOTSOCK)) == (SL_F_KNOWN | SL_F_STREAM);
    if (!sl_track_fd_blocking(fd))
        return;
    /* A listener this process inherited through fork is shared: every
     * process polling it wakes for one connection, and the losers would
     * wait in their accept uncapped. A socket the table does not know
     * (inherited through exec, or none) is not polled either. */
    if (known && s->epoch == __atomic_load_n(&sl_fork_epoch, __ATOMIC_RELAXED))
        sl_track_block_wait(fd, POLLIN, SO_RCVTIMEO, 1);
    else
        sl_reaper_blocking();
}

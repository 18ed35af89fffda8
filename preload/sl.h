/* Internal definitions shared by every file of the preload library. */
#ifndef SL_H
#define SL_H

#include <stdint.h>
#include <time.h>

#define SL_HIDDEN __attribute__((visibility("hidden")))
#define SL_EXPORT __attribute__((visibility("default")))
#define SL_LIKELY(x) __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Test hooks: SL_TESTING is set only for the unit tests' build of the
 * library's internals (the Makefile's libsl_preload.a), never for
 * libsockleak.so. SL_TESTABLE marks a function that is file-local in the
 * shipped library and reachable by the unit tests. */
#ifdef SL_TESTING
#define SL_TESTABLE SL_HIDDEN
#else
#define SL_TESTABLE static
#endif

/* Thread-local re-entry guard: non-zero while this thread runs our own code
 * (unwinding, writing the log, classifying an fd). Hooks reached while it is
 * set pass straight through to the real function. Save and restore it:
 *     int g = sl_guard_enter(); ...; sl_guard_leave(g);                     */
extern __thread int sl_in_lib __attribute__((tls_model("initial-exec")));
static inline int sl_guard_enter(void) { int was = sl_in_lib; sl_in_lib = 1; return was; }
static inline void sl_guard_leave(int was) { sl_in_lib = was; }

static inline int64_t sl_now_ns(void) /* CLOCK_MONOTONIC */
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The last tick's CLOCK_MONOTONIC (a few ms behind sl_now_ns, no more):
 * cheap enough for every socket's creation. */
static inline int64_t sl_coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t sl_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line on stderr, prefixed "sockleak: ", through the real write(2); never
 * stdio, never malloc. Respects verbosity (0 silences it). */
void sl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2))) SL_HIDDEN;

/* Print "sockleak: fatal: ..." on fd 2 without libc's hooked functions, abort. */
void sl_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn)) SL_HIDDEN;

/* Lazily and idempotently initialise the library (real symbols, options).
 * Safe to call from any hook, including ones reached before our constructor. */
void sl_init(void) SL_HIDDEN;

/* getpid() cached at init and refreshed in the fork child. */
extern int sl_pid SL_HIDDEN;

/* State that fork's handlers write (locks, the pid, the log's and the
 * sweep's per-process state): kept in one page (forked.ld), so a fork costs
 * one copied page in the parent and one in the child for all of it, not
 * one per module. Each page written after a fork is a fault and a copy. */
#define SL_FORKED __attribute__((section("sl_forked")))
/* A store made only when it changes the value: after a fork every page the
 * parent writes is a fault and a copy, and state that a fork cycle sets to
 * what it already holds need not touch its page. */
#define SL_SET(var, val)                                                                           \
    do {                                                                                           \
        if ((var) != (val))                                                                        \
            (var) = (val);                                                                         \
    } while (0)
/* The code a fork child runs in the library, kept together in one page
 * (forked.ld): each page of code it runs is a fault in the child. */
#define SL_FORK_TEXT __attribute__((section("sl_fork_text")))

#endif

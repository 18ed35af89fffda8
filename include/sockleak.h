/* sockleak public API.
 *
 * sockleak finds the code that leaves TCP connections in CLOSE_WAIT. It works
 * on unmodified programs through LD_PRELOAD (see `sockleak run --help`); this
 * header is for programs and tests that want to ask it questions directly,
 * for example a test's teardown that fails when the code under test leaked.
 *
 * Every function is declared weak: a program that calls them links and runs
 * without libsockleak.so, where their addresses are NULL. Test first:
 *
 *     if (sockleak_check && sockleak_check(500) > 0)
 *         fail("a socket read end-of-stream and was not closed");
 *
 * or use the SOCKLEAK_CHECK() helper below, which is 0 without the library.
 */
#ifndef SOCKLEAK_H
#define SOCKLEAK_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef SOCKLEAK_WEAK /* the library defines it empty: its own definitions are strong */
#define SOCKLEAK_WEAK __attribute__((weak))
#endif

/* The library's version string, e.g. "0.1.0". */
extern const char *sockleak_version(void) SOCKLEAK_WEAK;

/* How many sockets of this process read end-of-stream and are still open
 * (whether or not their deadline has passed). Never blocks. */
extern int sockleak_pending(void) SOCKLEAK_WEAK;

/* Waits up to timeout_ms for every socket that read end-of-stream to be
 * closed (or shut down for writing); returns how many are still open then.
 * 0 means nothing is left in CLOSE_WAIT by this process. */
extern int sockleak_check(int timeout_ms) SOCKLEAK_WEAK;

/* Waits (at most a second) until every finding whose deadline has already
 * passed is written to the log. Returns 0, or -1 when the wait timed out. */
extern int sockleak_flush(void) SOCKLEAK_WEAK;

/* A baseline for one test: what leaks after it is the test's own. A mark is
 * a point in time (CLOCK_MONOTONIC nanoseconds); 0 is before everything. */
typedef unsigned long long sockleak_mark_t;

/* Now, as a mark. Call it in a test's setup. */
extern sockleak_mark_t sockleak_mark(void) SOCKLEAK_WEAK;

/* As sockleak_check, counting only the sockets that read end-of-stream at or
 * after mark: waits up to timeout_ms for them to be closed (or shut down for
 * writing); returns how many are still open then. A socket that read its
 * end-of-stream before the mark (an earlier test's leak) is not counted. */
extern int sockleak_check_since(sockleak_mark_t mark, int timeout_ms) SOCKLEAK_WEAK;

/* One socket that read end-of-stream and is still open. */
struct sockleak_pending_socket {
    int fd;
    int reported;         /* 1: its deadline passed and the finding is logged */
    long long eof_age_ms; /* since the end-of-stream read */
    char local[128];      /* addresses as the report shows them; "" unknown */
    char peer[128];
    char where[256]; /* the end-of-stream read's first frame, without debug
                      * information: "symbol (module+0xoff)" (dladdr) or
                      * "module+0xoff"; `sockleak report` gives file:line */
};

/* Fills out[0..max) with the sockets that read end-of-stream at or after
 * mark (0: all) and are still open, in fd order; returns how many there are
 * (may be more than max; out may be NULL when max is 0). */
extern size_t sockleak_list_pending(sockleak_mark_t mark, struct sockleak_pending_socket *out,
                                    size_t max) SOCKLEAK_WEAK;

/* Writes one line per such socket to out, for a test's failure message:
 * "sockleak: fd 7 127.0.0.1:8080 <- 127.0.0.1:53122 read end-of-stream 12 ms
 * ago at WHERE, still open". Returns how many. */
extern int sockleak_print_pending(FILE *out, sockleak_mark_t mark) SOCKLEAK_WEAK;

#define SOCKLEAK_CHECK(timeout_ms) (sockleak_check ? sockleak_check(timeout_ms) : 0)
#define SOCKLEAK_MARK() (sockleak_mark ? sockleak_mark() : 0ULL)
#define SOCKLEAK_CHECK_SINCE(mark, timeout_ms)                                                     \
    (sockleak_check_since ? sockleak_check_since((mark), (timeout_ms)) : 0)
#define SOCKLEAK_PRINT_PENDING(out, mark)                                                          \
    (sockleak_print_pending ? sockleak_print_pending((out), (mark)) : 0)
#define SOCKLEAK_PENDING() (sockleak_pending ? sockleak_pending() : 0)

#ifdef __cplusplus
}
#endif

#endif

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

#define SOCKLEAK_CHECK(timeout_ms) (sockleak_check ? sockleak_check(timeout_ms) : 0)
#define SOCKLEAK_PENDING() (sockleak_pending ? sockleak_pending() : 0)

#ifdef __cplusplus
}
#endif

#endif

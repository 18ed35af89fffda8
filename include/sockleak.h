/* sockleak public API.
 *
 * sockleak finds the code that leaves TCP connections in CLOSE_WAIT. It works
 * on unmodified programs through LD_PRELOAD (see `sockleak run --help`); this
 * header is only for programs and tests that want to talk to it directly.
 *
 * Every function is declared weak: a program that calls them still links and
 * runs without libsockleak.so, and can test whether it is loaded with
 *     if (sockleak_version) ...
 */
#ifndef SOCKLEAK_H
#define SOCKLEAK_H

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version string, e.g. "0.1.0"; NULL when not loaded. */
extern const char *sockleak_version(void) __attribute__((weak));

#ifdef __cplusplus
}
#endif

#endif

/* Small helpers shared by the report tool's modules. */
#ifndef SL_REPORT_UTIL_H
#define SL_REPORT_UTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Allocation that cannot fail: out of memory prints a message and exits 2. */
#define SL_UTIL_ALLOC __attribute__((returns_nonnull, warn_unused_result))
void *sl_util_xmalloc(size_t n) SL_UTIL_ALLOC __attribute__((malloc));
void *sl_util_xcalloc(size_t n, size_t size) SL_UTIL_ALLOC __attribute__((malloc));
void *sl_util_xrealloc(void *p, size_t n) SL_UTIL_ALLOC;
char *sl_util_xstrdup(const char *s) SL_UTIL_ALLOC __attribute__((malloc));
/* strdup of s, or of "" when s is NULL. */
char *sl_util_xstrdup0(const char *s) SL_UTIL_ALLOC __attribute__((malloc));
/* a, sep and b concatenated (malloc'd). */
char *sl_util_xjoin(const char *a, const char *sep, const char *b) SL_UTIL_ALLOC;

/* Parses all of s as a base-10 integer within [min, max]; false otherwise. */
bool sl_util_parse_long(const char *s, long min, long max, long *out);

/* The part of path after its last '/'. */
const char *sl_util_basename(const char *path);

/* Opens path for reading only when it is a regular file: O_NONBLOCK so that a
 * FIFO or device cannot block the open, then fstat. extra_flags adds e.g.
 * O_NOFOLLOW. Returns the fd with *st filled, or -1 with *why saying why (a
 * static string). */
int sl_util_open_regular(const char *path, int extra_flags, struct stat *st, const char **why);

/* Reads one line of at most max bytes (the '\n' not counted) into *buf,
 * growing it up to max + 1 bytes only: the rest of a longer line is read and
 * dropped, and *too_long set. *complete is false when the file ended before
 * a '\n'. Returns the length kept, or -1 at end of file or on an error. */
ssize_t sl_util_readline(FILE *fp, char **buf, size_t *cap, size_t max, bool *too_long,
                         bool *complete);

/* a + b, held at INT64_MIN/INT64_MAX instead of overflowing. */
int64_t sl_util_sat_add(int64_t a, int64_t b);

/* The longest length <= max at which s can be cut without splitting a UTF-8
 * character; only s[0..max) is read. */
size_t sl_util_utf8_cut(const char *s, size_t max);

/* snprintf that never leaves half a UTF-8 character at a cut. */
void sl_util_snprintf_utf8(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when s does not
 * start one. */
size_t sl_util_utf8_len(const unsigned char *s);

/* s with invalid UTF-8 bytes replaced by U+FFFD (malloc'd), so that JSON
 * writers never drop it. */
char *sl_util_xutf8(const char *s) SL_UTIL_ALLOC;

/* Writes s to out with control characters (C0, DEL, C1) and invalid UTF-8
 * shown as \xNN: text that came from a log must not drive the terminal. */
void sl_util_fputs_safe(const char *s, FILE *out);

/* sl_util_fputs_safe's escaping into a malloc'd string, for messages. */
char *sl_util_xescape(const char *s) SL_UTIL_ALLOC;

#endif

/* Small helpers shared by the report tool's modules. */
#ifndef SL_REPORT_UTIL_H
#define SL_REPORT_UTIL_H

#include <stddef.h>
#include <stdbool.h>

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

#endif

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noreturn)) static void sl_util_oom(void)
{
    fputs("sockleak: out of memory\n", stderr);
    exit(2);
}

void *sl_util_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        sl_util_oom();
    return p;
}

void *sl_util_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        sl_util_oom();
    return p;
}

void *sl_util_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        sl_util_oom();
    return p;
}

char *sl_util_xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        sl_util_oom();
    return d;
}

char *sl_util_xstrdup0(const char *s)
{
    return sl_util_xstrdup(s ? s : "");
}

char *sl_util_xjoin(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *s = malloc(la + ls + lb + 1);

    if (!s)
        sl_util_oom();
    memcpy(s, a, la);
    memcpy(s + la, sep, ls);
    memcpy(s + la + ls, b, lb + 1);
    return s;
}

bool sl_util_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    if (!s || !*s)
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max)
        return false;
    *out = v;
    return true;
}

const char *sl_util_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int sl_util_open_regular(const char *path, int extra_flags, struct stat *st, const char **why)
{
    int fd;

    /* Not even opened when it is no regular file now: opening some devices
     * does something. The fstat below catches a swap in between. */
    if ((extra_flags & O_NOFOLLOW ? lstat(path, st) : stat(path, st)) == 0 &&
        !S_ISREG(st->st_mode) && !S_ISLNK(st->st_mode)) {
        *why = "not a regular file";
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | extra_flags);
    if (fd < 0) {
        *why = errno == ELOOP && (extra_flags & O_NOFOLLOW) ? "a symbolic link" : strerror(errno);
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        *why = "not a regular file";
        close(fd);
        return -1;
    }
    return fd;
}

static void sl_util_grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    *cap = *cap ? *cap : 256;
    while (*cap < need)
        *cap *= 2;
    *buf = sl_util_xrealloc(*buf, *cap);
}

ssize_t sl_util_readline(FILE *fp, char **buf, size_t *cap, size_t max, bool *too_long,
                         bool *complete)
{
    size_t len = 0;
    bool any = false;
    int ch;

    *too_long = false;
    *complete = false;
    sl_util_grow(buf, cap, 1);
    while ((ch = getc_unlocked(fp)) != EOF) {
        any = true;
        if (ch == '\n') {
            *complete = true;
            break;
        }
        if (len == max) {
            *too_long = true;
            continue;
        }
        sl_util_grow(buf, cap, len + 2);
        (*buf)[len++] = (char)ch;
    }
    (*buf)[len] = '\0';
    return any ? (ssize_t)len : -1;
}

int64_t sl_util_sat_add(int64_t a, int64_t b)
{
    int64_t r;

    if (!__builtin_add_overflow(a, b, &r))
        return r;
    return b > 0 ? INT64_MAX : INT64_MIN;
}

size_t sl_util_utf8_cut(const char *s, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t j, need;

    if (max == 0)
        return 0;
    /* The character holding byte max - 1: keep it only when it ends by max.
     * Only bytes before max are looked at, so a buffer already cut there
     * (its byte max overwritten by a NUL) is handled too. */
    j = max - 1;
    while (j > 0 && (u[j] & 0xc0) == 0x80)
        j--;
    need = u[j] >= 0xf0 ? 4 : u[j] >= 0xe0 ? 3 : u[j] >= 0xc0 ? 2 : 1;
    return j + need <= max ? max : j;
}

void sl_util_snprintf_utf8(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (len == 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= len)
        buf[sl_util_utf8_cut(buf, len - 1)] = '\0';
}

size_t sl_util_utf8_len(const unsigned char *s)
{
    size_t n;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Appends c's escaped form (or c itself) at o; returns the new end. */
static char *sl_util_escape_one(char *o, const unsigned char *p, size_t n)
{
    bool c1 = n == 2 && p[0] == 0xc2 && p[1] < 0xa0;

    if (n == 0 || (n == 1 && (p[0] < 0x20 || p[0] == 0x7f))) {
        o += sprintf(o, "\\x%02x", p[0]);
    } else if (c1) {
        o += sprintf(o, "\\u%04x", p[1]);
    } else {
        memcpy(o, p, n);
        o += n;
    }
    return o;
}

/* U+FFFD for an invalid byte, else the character as it is. */
static char *sl_util_utf8_one(char *o, const unsigned char *p, size_t n)
{
    if (n == 0) {
        memcpy(o, "\xef\xbf\xbd", 3);
        return o + 3;
    }
    memcpy(o, p, n);
    return o + n;
}

/* s rewritten by one, a UTF-8 character (n its length) or an invalid byte
 * (n 0) at a time, at most width bytes out for each byte in (malloc'd). */
static char *sl_util_xmap(const char *s, size_t width,
                          char *(*one)(char *o, const unsigned char *p, size_t n))
{
    const unsigned char *p = (const unsigned char *)s;
    char *out = sl_util_xmalloc(width * strlen(s) + 1), *o = out;

    while (*p) {
        size_t n = sl_util_utf8_len(p);
        o = one(o, p, n);
        p += n ? n : 1;
    }
    *o = '\0';
    return out;
}

char *sl_util_xutf8(const char *s)
{
    return sl_util_xmap(s, 3, sl_util_utf8_one);
}

char *sl_util_xescape(const char *s)
{
    return sl_util_xmap(s, 4, sl_util_escape_one);
}

void sl_util_fputs_safe(const char *s, FILE *out)
{
    char *e = sl_util_xescape(s);

    fputs(e, out);
    free(e);
}

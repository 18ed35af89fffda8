/* Warnings and fatal errors. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "options.h"
#include "rawsys.h"
#include "real.h"

/* write(2) straight to the kernel: usable before sl_real is bound and from
 * paths where a hooked write must not be re-entered. */
static void sl_raw_write(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        long r = sl_raw_syscall4(SYS_write, fd, (long)buf, (long)len, 0);
        if (r == -EINTR)
            continue;
        if (r <= 0)
            return;
        buf += r;
        len -= (size_t)r;
    }
}

/* Format "sockleak: <msg>\n" into buf (truncating); returns the length. */
static size_t sl_format_line(char *buf, size_t size, const char *prefix, const char *fmt,
                             va_list ap)
{
    int n = snprintf(buf, size, "sockleak: %s", prefix);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len >= size - 1)
        len = size - 2;
    int m = vsnprintf(buf + len, size - 1 - len, fmt, ap);
    if (m > 0)
        len += (size_t)m < size - 1 - len ? (size_t)m : size - 2 - len;
    buf[len++] = '\n';
    return len;
}

void sl_warn(const char *fmt, ...)
{
    if (sl_opt.verbosity <= 0)
        return;
    int saved = errno;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    size_t len = sl_format_line(buf, sizeof buf, "", fmt, ap);
    va_end(ap);
    if (sl_real.write)
        sl_real.write(2, buf, len);
    else
        sl_raw_write(2, buf, len);
    errno = saved;
}

void sl_fatal(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    size_t len = sl_format_line(buf, sizeof buf, "fatal: ", fmt, ap);
    va_end(ap);
    sl_raw_write(2, buf, len);
    abort();
}

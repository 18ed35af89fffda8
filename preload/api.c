/* The public API of include/sockleak.h, exported from libsockleak.so. It only
 * reads the fd table; the deadline thread does all the writing. */
#include <errno.h>
#include <stdatomic.h>
#include <time.h>
#include "fdtable.h"
#include "options.h"
#define SOCKLEAK_WEAK
#include "sockleak.h"
#include "sl.h"

struct sl_api_count {
    int64_t now_ns;
    int open_after_eof; /* read EOF, still open, not shut down for writing */
    int due_unwritten;  /* of those, past the deadline and not yet logged */
};

static void sl_api_visit(int fd, struct sl_slot *s, void *arg)
{
    struct sl_api_count *c = arg;
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_acquire);
    if (!(f & SL_F_EOF) || (f & (SL_F_INHERITED | SL_F_SHUT_WR)))
        return;
    c->open_after_eof++;
    if (f & SL_F_REPORTED)
        return;
    int g = sl_guard_enter();
    sl_fdtable_lock(fd);
    int64_t start = s->eof_ns;
    int64_t sent = atomic_load_explicit(&s->last_send_ns, memory_order_relaxed);
    sl_fdtable_unlock(fd);
    sl_guard_leave(g);
    if (sent > start)
        start = sent;
    if (start + sl_opt.deadline_ms * 1000000 <= c->now_ns)
        c->due_unwritten++;
}

static struct sl_api_count sl_api_scan(void)
{
    struct sl_api_count c = {.now_ns = sl_now_ns()};
    sl_fdtable_foreach(sl_api_visit, &c);
    return c;
}

static void sl_api_nap(void)
{
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

SL_EXPORT const char *sockleak_version(void)
{
    return SOCKLEAK_VERSION;
}

SL_EXPORT int sockleak_pending(void)
{
    int saved = errno;
    int n = sl_api_scan().open_after_eof;
    errno = saved;
    return n;
}

SL_EXPORT int sockleak_check(int timeout_ms)
{
    int saved = errno;
    int64_t until = sl_now_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
    int n;
    while ((n = sl_api_scan().open_after_eof) > 0 && sl_now_ns() < until)
        sl_api_nap();
    errno = saved;
    return n;
}

SL_EXPORT int sockleak_flush(void)
{
    int saved = errno;
    int64_t until = sl_now_ns() + 1000 * 1000000LL;
    int rc = 0;
    while (sl_api_scan().due_unwritten > 0) {
        if (sl_now_ns() >= until) {
            rc = -1;
            break;
        }
        sl_api_nap();
    }
    errno = saved;
    return rc;
}

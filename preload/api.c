/* The public API of include/sockleak.h, exported from libsockleak.so. It only
 * reads the fd table; the deadline thread does all the writing. */
#include <errno.h>
#include <stdatomic.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include "fdtable.h"
#include "options.h"
#include "reaper.h"
#define SOCKLEAK_WEAK
#include "sockleak.h"
#include "sl.h"

struct sl_api_count {
    int64_t now_ns;
    int64_t since_ns;   /* count only EOFs read at or after this; 0 all */
    int open_after_eof; /* read EOF, still open, not shut down for writing */
    int due_unwritten;  /* of those, past the deadline and not yet logged */
};

static void sl_api_visit(int fd, struct sl_slot *s, void *arg)
{
    struct sl_api_count *c = arg;
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_acquire);
    if (!(f & SL_F_EOF) || (f & (SL_F_INHERITED | SL_F_SHUT_WR)))
        return;
    if (c->since_ns > 0) {
        int g = sl_guard_enter();
        sl_fdtable_lock(fd);
        int64_t eof = s->eof_ns;
        sl_fdtable_unlock(fd);
        sl_guard_leave(g);
        if (eof < c->since_ns)
            return;
    }
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

static struct sl_api_count sl_api_scan_since(int64_t since_ns)
{
    struct sl_api_count c = {.now_ns = sl_now_ns(), .since_ns = since_ns};
    sl_fdtable_foreach(sl_api_visit, &c);
    return c;
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

SL_EXPORT sockleak_mark_t sockleak_mark(void)
{
    return (sockleak_mark_t)sl_now_ns();
}

SL_EXPORT int sockleak_check_since(sockleak_mark_t mark, int timeout_ms)
{
    int saved = errno;
    int64_t since = mark > INT64_MAX ? INT64_MAX : (int64_t)mark;
    int64_t until = sl_now_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
    int n;
    while ((n = sl_api_scan_since(since).open_after_eof) > 0 && sl_now_ns() < until)
        sl_api_nap();
    errno = saved;
    return n;
}

/* What the listing takes from each slot under its lock; the rest (addresses,
 * dladdr) is asked after, with no lock of ours held. */
struct sl_api_list {
    int64_t since_ns;
    struct sockleak_pending_socket *out;
    uint32_t *stacks;
    int64_t *eof_ns;
    size_t skip, max, n; /* fill entries skip..skip+max of the n found */
};

static void sl_api_list_visit(int fd, struct sl_slot *s, void *arg)
{
    struct sl_api_list *l = arg;
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_acquire);
    if (!(f & SL_F_EOF) || (f & (SL_F_INHERITED | SL_F_SHUT_WR)))
        return;
    int g = sl_guard_enter();
    sl_fdtable_lock(fd);
    int64_t eof = s->eof_ns;
    uint32_t stack = s->eof_stack;
    sl_fdtable_unlock(fd);
    sl_guard_leave(g);
    if (eof < l->since_ns)
        return;
    size_t i = l->n++;
    if (i < l->skip || i - l->skip >= l->max)
        return;
    i -= l->skip;
    memset(&l->out[i], 0, sizeof l->out[i]);
    l->out[i].fd = fd;
    l->out[i].reported = (f & SL_F_REPORTED) != 0;
    l->stacks[i] = stack;
    l->eof_ns[i] = eof;
}

SL_EXPORT size_t sockleak_list_pending(sockleak_mark_t mark, struct sockleak_pending_socket *out,
                                       size_t max)
{
    int saved = errno;
    uint32_t stacks[64];
    int64_t eofs[64];
    struct sl_api_list l = {.since_ns = mark > INT64_MAX ? INT64_MAX : (int64_t)mark,
                            .out = out,
                            .stacks = stacks,
                            .eof_ns = eofs};
    size_t total = 0;

    /* In rounds of 64, so that no allocation is needed: fds are visited in
     * ascending order, and each round fills the next 64 found. */
    for (size_t done = 0;;) {
        l.out = out ? out + done : NULL;
        l.skip = done;
        l.max = out && max > done ? (max - done < 64 ? max - done : 64) : 0;
        l.n = 0;
        sl_fdtable_foreach(sl_api_list_visit, &l);
        total = l.n;
        size_t got = total > done ? total - done : 0;
        if (got > l.max)
            got = l.max;
        int64_t now = sl_now_ns();
        int g = sl_guard_enter();
        for (size_t i = 0; i < got; i++) {
            struct sockleak_pending_socket *p = &l.out[i];
            p->eof_age_ms = (now - eofs[i]) / 1000000;
            sl_reaper_addrs(p->fd, p->local, p->peer, sizeof p->local);
            sl_reaper_frame_words(stacks[i], p->where, sizeof p->where);
        }
        sl_guard_leave(g);
        done += got;
        if (got < 64 || done >= max || done >= total)
            break;
    }
    errno = saved;
    return total;
}

SL_EXPORT int sockleak_print_pending(FILE *out, sockleak_mark_t mark)
{
    int saved = errno;
    struct sockleak_pending_socket *p = calloc(16, sizeof *p);
    size_t n = sockleak_list_pending(mark, p, p ? 16 : 0);

    for (size_t i = 0; out && p && i < n && i < 16; i++)
        fprintf(out,
                "sockleak: fd %d %s <- %s read end-of-stream %lld ms ago at %s, still open%s\n",
                p[i].fd, p[i].local[0] ? p[i].local : "?", p[i].peer[0] ? p[i].peer : "?",
                p[i].eof_age_ms, p[i].where, p[i].reported ? " (reported)" : "");
    if (out && n > 16)
        fprintf(out, "sockleak: ... and %zu more\n", n - 16);
    free(p);
    errno = saved;
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

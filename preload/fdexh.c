/* fd_exhaustion (fdexh.h): a snapshot of who holds the fds, taken at the
 * first EMFILE or ENFILE of an episode. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include "fdexh.h"
#include "fdtable.h"
#include "hg.h"
#include "log.h"
#include "options.h"
#include "reaper.h"
#include "real.h"
#include "sockleak_log.h"
#include "stack.h"

/* Creation sites told apart in one snapshot; sockets of any more are left
 * out of the holders (the largest are nearly always among the first). */
#define SL_FDEXH_GROUPS 256
/* Numbers poll looks at per call. */
#define SL_FDEXH_POLL 256
/* Numbers counted at most: a limit above it is not counted whole. */
#define SL_FDEXH_COUNT_MAX (1 << 20)

/* 1 from an episode's first failure until the due work sees fds free. */
static _Atomic int sl_fdexh_active;

/* The snapshot's groups: one snapshot at a time (the one that set
 * sl_fdexh_active), so they are static rather than on a hook's stack. */
static struct sl_log_holder sl_fdexh_groups[SL_FDEXH_GROUPS];
static int64_t sl_fdexh_first_ns[SL_FDEXH_GROUPS]; /* oldest open_ns, 0 none */
static int sl_fdexh_ngroups;

static int64_t sl_fdexh_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    return rl.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_cur;
}

/* How many fds below limit are open, counting no further than stop: poll
 * with no events answers POLLNVAL for a number that is not open. No fd of
 * ours is needed, so it works with the table full. -1 when it fails. */
static int64_t sl_fdexh_count_open(int64_t limit, int64_t stop)
{
    struct pollfd p[SL_FDEXH_POLL];
    int64_t open = 0;
    if (limit > SL_FDEXH_COUNT_MAX)
        limit = SL_FDEXH_COUNT_MAX;
    for (int64_t base = 0; base < limit && open <= stop; base += SL_FDEXH_POLL) {
        int n = limit - base < SL_FDEXH_POLL ? (int)(limit - base) : SL_FDEXH_POLL;
        for (int i = 0; i < n; i++)
            p[i] = (struct pollfd){.fd = (int)(base + i)};
        if (sl_real.poll(p, (nfds_t)n, 0) < 0)
            return -1;
        for (int i = 0; i < n; i++)
            open += !(p[i].revents & POLLNVAL);
    }
    return open;
}

/* The group of sockets made at stack, NULL when the table is full. */
static struct sl_log_holder *sl_fdexh_group(uint32_t stack, int64_t **first)
{
    for (int i = 0; i < sl_fdexh_ngroups; i++)
        if (sl_fdexh_groups[i].stack == stack) {
            *first = &sl_fdexh_first_ns[i];
            return &sl_fdexh_groups[i];
        }
    if (sl_fdexh_ngroups == SL_FDEXH_GROUPS)
        return NULL;
    int i = sl_fdexh_ngroups++;
    memset(&sl_fdexh_groups[i], 0, sizeof sl_fdexh_groups[i]);
    sl_fdexh_groups[i].stack = stack;
    sl_fdexh_first_ns[i] = 0;
    *first = &sl_fdexh_first_ns[i];
    return &sl_fdexh_groups[i];
}

/* One slot of the snapshot: a tracked stream socket counts in the group of
 * where it was made; a TCP one by its state now. */
static void sl_fdexh_visit(int fd, struct sl_slot *s, void *arg)
{
    (void)arg;
    const uint32_t want = SL_F_KNOWN | SL_F_SOCKET | SL_F_STREAM;
    if ((atomic_load(&s->flags) & (want | SL_F_NOTSOCK)) != want)
        return;
    struct sl_class c;
    uint32_t gen;
    sl_slot_snapshot(fd, s, &c, &gen);
    if ((c.flags & (want | SL_F_NOTSOCK)) != want)
        return;
    unsigned state = 0;
    if (c.flags & SL_F_INET) {
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || len < 1)
            return; /* closed behind our back, or no longer TCP */
        state = ti.tcpi_state;
    }
    int64_t *first;
    struct sl_log_holder *h = sl_fdexh_group(c.open_stack, &first);
    if (!h)
        return;
    h->count++;
    if (state && state < SL_LOG_TCP_STATES)
        h->states[state]++;
    if (c.open_ns && (!*first || c.open_ns < *first))
        *first = c.open_ns;
}

/* The largest groups into f->holders, largest first. */
static void sl_fdexh_holders(struct sl_finding *f, int64_t now_ns)
{
    int taken[SL_FDEXH_GROUPS] = {0};
    while (f->n_holders < SL_LOG_HOLDERS) {
        int best = -1;
        for (int i = 0; i < sl_fdexh_ngroups; i++)
            if (!taken[i] && (best < 0 || sl_fdexh_groups[i].count > sl_fdexh_groups[best].count))
                best = i;
        if (best < 0)
            return;
        taken[best] = 1;
        struct sl_log_holder *h = &f->holders[f->n_holders++];
        *h = sl_fdexh_groups[best];
        int64_t first = sl_fdexh_first_ns[best];
        h->oldest_ms = first ? (now_ns > first ? (now_ns - first) / 1000000 : 0) : -1;
    }
}

/* At verbosity 2, the finding's line on stderr. */
static void sl_fdexh_say(const struct sl_finding *f)
{
    char prog[80], where[600] = "";
    if (sl_opt.verbosity < 2)
        return;
    sl_log_program(prog, sizeof prog);
    int64_t held = f->n_holders ? f->holders[0].count : 0;
    if (f->n_holders)
        sl_reaper_frame_words(f->holders[0].stack, where, sizeof where);
    sl_warn("pid %d %s: %s: %s failed with %s (limit %lld, %lld open); %lld sockets made at %s",
            sl_pid, prog, f->kind, f->call, f->err_name, (long long)f->limit,
            (long long)f->open_fds, (long long)held, where[0] ? where : "an unknown place");
}

void sl_fdexh_write(const char *call, int err, uint32_t stack)
{
    static struct sl_finding f; /* 1.5 KB of holders: not on a hook's stack */
    /* The due work may end the episode while its snapshot is taken, and the
     * next failure start another: the static tables serve one at a time,
     * the other is not written. */
    static _Atomic int busy;
    if (atomic_exchange(&busy, 1))
        return;
    SL_HG_HAPPENS_AFTER(&busy); /* the last snapshot's writes */
    memset(&f, 0, sizeof f);
    f.kind = SL_KIND_FD_EXHAUSTION;
    f.fd = -1;
    f.family = "other";
    f.fdexh = 1;
    f.fail_stack = stack;
    f.call = call;
    f.err_name = err == EMFILE ? "EMFILE" : "ENFILE";
    f.limit = sl_fdexh_limit();
    f.open_fds = f.limit > 0 ? sl_fdexh_count_open(f.limit, f.limit) : -1;
    sl_fdexh_ngroups = 0;
    int64_t hi = f.limit > 0 ? f.limit - 1 : SL_FDEXH_COUNT_MAX;
    sl_fdtable_foreach_range(0, (int)(hi < SL_FDEXH_COUNT_MAX ? hi : SL_FDEXH_COUNT_MAX), sl_fdexh_visit,
                             NULL);
    sl_fdexh_holders(&f, sl_now_ns());
    f.eof_unix_ms = sl_wall_ms();
    sl_log_reserve(); /* the program's thread: the log may be made here */
    if (sl_log_finding(&f) == 0)
        sl_fdexh_say(&f);
    SL_HG_HAPPENS_BEFORE(&busy);
    atomic_store(&busy, 0);
}

int sl_fdexh_begin(void)
{
    return !atomic_load_explicit(&sl_fdexh_active, memory_order_relaxed) &&
           !atomic_exchange(&sl_fdexh_active, 1);
}

void sl_fdexh_check(void)
{
    if (!atomic_load_explicit(&sl_fdexh_active, memory_order_relaxed))
        return;
    int64_t limit = sl_fdexh_limit();
    if (limit <= 0) {
        atomic_store(&sl_fdexh_active, 0);
        return;
    }
    int64_t free_at = limit - limit / 4;
    int64_t open = sl_fdexh_count_open(limit, free_at);
    if (open >= 0 && open <= free_at)
        atomic_store(&sl_fdexh_active, 0);
}

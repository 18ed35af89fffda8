/* time_wait_churn (churn.h): the table of (connect call site, destination)
 * entries, their 60-second windows, and the kernel's word on them. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "churn.h"
#include "hg.h"
#include "log.h"
#include "options.h"
#include "real.h"
#include "reaper.h"
#include "sockleak_log.h"
#include "sweep.h"

_Atomic uint64_t sl_churn_conns[SL_CHURN_SITES];

struct sl_churn_key sl_churn_keys[SL_CHURN_SITES];

/* An entry's state beyond its key (sl_churn_keys, same index): the
 * check's, which runs one at a time (sl_churn_busy), but for window and
 * folded, which an EADDRNOTAVAIL on another thread reads (relaxed: an
 * estimate). */
struct sl_churn_entry {
    int64_t born_ns;
    _Atomic uint64_t folded; /* connections already in the window */
    _Atomic int64_t window;  /* connections in the last SL_CHURN_WINDOW seconds */
    int64_t fold_s;          /* the second of the last fold */
    uint32_t bucket[SL_CHURN_WINDOW];
    int64_t counted;      /* this check: the kernel's TIME_WAIT count to it, -1 not asked */
    int64_t next_dump_ns; /* not asked again before */
    int64_t peak, rate_x10;
    uint32_t finding_id; /* its finding, 0 none */
    int finding_pid;     /* the process whose log holds it (a fork child's copy: not ours) */
    uint64_t written_conns;
    int64_t written_peak, written_rate;
    _Atomic int exhausted; /* an EADDRNOTAVAIL finding was written for it */
    /* The process whose entry this is: a fork child's copy is adopted
     * (sl_churn_adopt) at its first look, its counts starting afresh. */
    int pid;
    uint64_t base; /* connections counted before it was adopted */
};
static struct sl_churn_entry sl_churn_tab[SL_CHURN_SITES];

static _Atomic int sl_churn_used;           /* entries ever added */
SL_FORKED static _Atomic int sl_churn_busy; /* a check runs */
static _Atomic int sl_churn_range_state;    /* 0 unread, 1 being read, 2 read */
static int sl_churn_lo, sl_churn_hi;        /* 0, 0: unknown */

/* A connection closed without a check for this long still counts; a check
 * the kernel did not confirm is not asked again before this; a finding's
 * peak is asked again at most this often. */
#define SL_CHURN_RETRY_NS (30 * 1000000000LL)
#define SL_CHURN_UPDATE_NS (10 * 1000000000LL)
/* Entries an EADDRNOTAVAIL finding names. */
#define SL_CHURN_TOP SL_LOG_TOP_SITES

/* sa's family, port (network order) and address (an IPv4 one in a[0]);
 * 0 when not inet. */
static int sl_churn_key_of(const struct sockaddr *sa, socklen_t len, uint16_t *port, uint32_t a[4])
{
    memset(a, 0, 16);
    if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        a[0] = in->sin_addr.s_addr;
        *port = in->sin_port;
        return AF_INET;
    }
    if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(a, &in6->sin6_addr, 16);
        *port = in6->sin6_port;
        return AF_INET6;
    }
    return 0;
}

static int sl_churn_same(const struct sl_churn_key *e, uint32_t stack, int family, uint16_t port,
                         const uint32_t a[4])
{
    return e->stack == stack && e->famport == SL_CHURN_FAMPORT(family, port) &&
           !memcmp(e->addr, a, sizeof e->addr);
}

static int sl_churn_family(int k)
{
    return (int)(sl_churn_keys[k].famport & 0xffff);
}

static uint16_t sl_churn_port(int k)
{
    return (uint16_t)(sl_churn_keys[k].famport >> 16);
}

/* Add the key at entry k, which this thread claimed. */
static int sl_churn_add(uint32_t k, uint32_t stack, int family, uint16_t port, const uint32_t a[4])
{
    struct sl_churn_key *e = &sl_churn_keys[k];
    e->stack = stack;
    e->famport = SL_CHURN_FAMPORT(family, port);
    memcpy(e->addr, a, sizeof e->addr);
    sl_churn_tab[k].born_ns = sl_now_ns();
    sl_churn_tab[k].fold_s = sl_churn_tab[k].born_ns / 1000000000;
    sl_churn_tab[k].pid = sl_pid;
    atomic_fetch_add_explicit(&sl_churn_used, 1, memory_order_relaxed);
    SL_HG_HAPPENS_BEFORE(e);
    atomic_store_explicit(&e->state, SL_CHURN_READY, memory_order_release);
    return (int)k;
}

int sl_churn_entry(uint32_t stack, const struct sockaddr *sa, socklen_t len)
{
    uint16_t port = 0;
    uint32_t a[4];
    int family = sl_churn_key_of(sa, len, &port, a);
    if (!family)
        return -1;
    uint32_t h = sl_churn_hash(stack, port, a);
    for (uint32_t i = 0; i < 16; i++) {
        uint32_t k = (h + i) & (SL_CHURN_SITES - 1);
        struct sl_churn_key *e = &sl_churn_keys[k];
        uint32_t st = atomic_load_explicit(&e->state, memory_order_acquire);
        if (st == SL_CHURN_FREE &&
            atomic_compare_exchange_strong(&e->state, &st, (uint32_t)SL_CHURN_FILLING))
            return sl_churn_add(k, stack, family, port, a);
        if (st == SL_CHURN_FILLING)
            return -1; /* maybe this very key, added now: this connection is not counted */
        SL_HG_HAPPENS_AFTER(e); /* the key sl_churn_add published (helgrind only) */
        if (sl_churn_same(e, stack, family, port, a))
            return (int)k;
    }
    return -1;
}

/* ------------------------------------------------------------ the port range */

void sl_churn_read_range(void)
{
    int expect = 0;
    if (SL_LIKELY(atomic_load_explicit(&sl_churn_range_state, memory_order_acquire) == 2) ||
        !atomic_compare_exchange_strong(&sl_churn_range_state, &expect, 1))
        return;
    char buf[64];
    int e = errno;
    ssize_t n = sl_read_file("/proc/sys/net/ipv4/ip_local_port_range", buf, sizeof buf - 1);
    int lo = 0, hi = 0;
    if (n > 0) {
        buf[n] = '\0';
        if (sscanf(buf, "%d %d", &lo, &hi) != 2 || lo < 1 || hi > 65535 || lo > hi)
            lo = hi = 0;
    }
    sl_churn_lo = lo;
    sl_churn_hi = hi;
    errno = e;
    SL_HG_HAPPENS_BEFORE(&sl_churn_range_state);
    atomic_store_explicit(&sl_churn_range_state, 2, memory_order_release);
}

static int sl_churn_range_known(void)
{
    if (atomic_load_explicit(&sl_churn_range_state, memory_order_acquire) != 2)
        return 0;
    SL_HG_HAPPENS_AFTER(&sl_churn_range_state);
    return sl_churn_hi != 0;
}

/* TIME_WAIT sockets to one destination that churn_share of the range
 * allows; 0: no threshold (range unknown, or churn_share=0). */
static int64_t sl_churn_threshold(void)
{
    if (!sl_churn_range_known() || sl_opt.churn_share <= 0)
        return 0;
    int64_t ports = (int64_t)sl_churn_hi - sl_churn_lo + 1;
    int64_t t = (ports * sl_opt.churn_share + 99) / 100;
    return t < 1 ? 1 : t;
}

/* ------------------------------------------------------------ the window */

static void sl_churn_fold(struct sl_churn_entry *e, int k, int64_t now_s)
{
    uint64_t c = atomic_load_explicit(&sl_churn_conns[k], memory_order_relaxed);
    uint64_t d = c - atomic_load_explicit(&e->folded, memory_order_relaxed);
    int64_t w = atomic_load_explicit(&e->window, memory_order_relaxed);
    if (now_s - e->fold_s >= SL_CHURN_WINDOW) {
        memset(e->bucket, 0, sizeof e->bucket);
        w = 0;
    } else {
        for (int64_t s = e->fold_s + 1; s <= now_s; s++) {
            w -= e->bucket[s % SL_CHURN_WINDOW];
            e->bucket[s % SL_CHURN_WINDOW] = 0;
        }
    }
    if (now_s > e->fold_s)
        e->fold_s = now_s;
    e->bucket[now_s % SL_CHURN_WINDOW] += (uint32_t)d;
    atomic_store_explicit(&e->folded, c, memory_order_relaxed);
    atomic_store_explicit(&e->window, w + (int64_t)d, memory_order_relaxed);
}

/* Connections a second over the window, or since the entry was added when
 * that is shorter (at least a second): tenths. */
static int64_t sl_churn_rate_x10(const struct sl_churn_entry *e, int64_t window, int64_t now)
{
    int64_t span_ms = (now - e->born_ns) / 1000000;
    if (span_ms > SL_CHURN_WINDOW * 1000)
        span_ms = SL_CHURN_WINDOW * 1000;
    if (span_ms < 1000)
        span_ms = 1000;
    return window * 10000 / span_ms;
}

/* Estimated connections in the window now, from any thread. */
static int64_t sl_churn_estimate(const struct sl_churn_entry *e, int k)
{
    uint64_t c = atomic_load_explicit(&sl_churn_conns[k], memory_order_relaxed);
    uint64_t f = atomic_load_explicit(&e->folded, memory_order_relaxed);
    return atomic_load_explicit(&e->window, memory_order_relaxed) + (int64_t)(c - f);
}

/* ------------------------------------------------------------ the kernel's count */

struct sl_churn_count {
    int family;
    int n;
    int k[SL_CHURN_SITES + 1];          /* entries asked about */
    int64_t *count[SL_CHURN_SITES + 1]; /* where each one's count goes */
};

static void sl_churn_count_one(void *arg, const uint32_t raddr[4], uint16_t rport)
{
    struct sl_churn_count *c = arg;
    uint16_t port = htons(rport);
    for (int i = 0; i < c->n; i++) {
        const struct sl_churn_key *e = &sl_churn_keys[c->k[i]];
        if (e->famport == SL_CHURN_FAMPORT(c->family, port) &&
            !memcmp(e->addr, raddr, sizeof e->addr))
            (*c->count[i])++;
    }
}

/* One dump per family of the namespace's TIME_WAIT sockets: each asked
 * entry's count of those to its destination. -1 when the kernel could not
 * be asked. */
static int sl_churn_count(int nl, struct sl_churn_count *c)
{
    static const int families[2] = {AF_INET, AF_INET6};
    for (int f = 0; f < 2; f++) {
        int any = 0;
        for (int i = 0; i < c->n && !any; i++)
            any = sl_churn_family(c->k[i]) == families[f];
        c->family = families[f];
        if (any && sl_sweep_each_peer(nl, families[f], 1u << TCP_TIME_WAIT, sl_churn_count_one, c))
            return -1;
    }
    return 0;
}

static void sl_churn_ask(struct sl_churn_count *c, int k, int64_t *count)
{
    *count = 0;
    c->k[c->n] = k;
    c->count[c->n++] = count;
}

/* ------------------------------------------------------------ findings */

static void sl_churn_dest(int k, char *out, size_t size)
{
    int family = sl_churn_family(k);
    char ip[INET6_ADDRSTRLEN] = "?";
    inet_ntop(family, sl_churn_keys[k].addr, ip, sizeof ip);
    snprintf(out, size, family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, ntohs(sl_churn_port(k)));
}

static void sl_churn_finding_base(struct sl_finding *f, int k)
{
    memset(f, 0, sizeof *f);
    f->kind = SL_KIND_TIME_WAIT_CHURN;
    f->fd = -1;
    f->family = sl_churn_family(k) == AF_INET6 ? "inet6" : "inet";
    f->tcp_state = "TIME_WAIT";
    f->eof_unix_ms = sl_wall_ms();
    f->open_stack = sl_churn_keys[k].stack;
    f->churn = 1;
    sl_churn_dest(k, f->destination, sizeof f->destination);
    f->port_lo = sl_churn_lo;
    f->port_hi = sl_churn_hi;
}

/* verbosity=2: one line per finding, as the other kinds have. */
static void sl_churn_say(const struct sl_finding *f)
{
    char prog[80], where[600];
    if (sl_opt.verbosity < 2)
        return;
    sl_log_program(prog, sizeof prog);
    sl_reaper_frame_words(f->open_stack, where, sizeof where);
    if (f->exhausted)
        sl_warn("pid %d %s: %s: connect to %s failed with EADDRNOTAVAIL, %lld sockets to it in "
                "TIME_WAIT; connect at %s",
                sl_pid, prog, f->kind, f->destination, (long long)f->time_wait_peak, where);
    else
        sl_warn("pid %d %s: %s to %s: %lld connections left %lld sockets in TIME_WAIT (ports "
                "%d-%d); connected at %s",
                sl_pid, prog, f->kind, f->destination, (long long)f->connections,
                (long long)f->time_wait_peak, f->port_lo, f->port_hi, where);
}

/* Entry k's connections in this process. */
static uint64_t sl_churn_conns_of(int k)
{
    return atomic_load_explicit(&sl_churn_conns[k], memory_order_relaxed) - sl_churn_tab[k].base;
}

/* Entry k's finding, the kernel having counted held of its TIME_WAIT
 * sockets (never more than it made in the window). */
static void sl_churn_write(int k, int64_t held)
{
    struct sl_churn_entry *e = &sl_churn_tab[k];
    struct sl_finding f;
    sl_churn_finding_base(&f, k);
    f.connections = (int64_t)sl_churn_conns_of(k);
    f.rate_x10 = e->rate_x10;
    f.time_wait_peak = held;
    if (sl_log_finding(&f) != 0)
        return;
    sl_churn_say(&f);
    e->peak = held;
    e->finding_id = f.id;
    e->finding_pid = sl_pid;
    e->written_conns = (uint64_t)f.connections;
    e->written_peak = held;
    e->written_rate = e->rate_x10;
}

static void sl_churn_update(int k)
{
    struct sl_churn_entry *e = &sl_churn_tab[k];
    uint64_t conns = sl_churn_conns_of(k);
    if (conns == e->written_conns && e->peak == e->written_peak && e->rate_x10 == e->written_rate)
        return;
    sl_log_update(e->finding_id, (int64_t)conns, e->rate_x10, e->peak);
    e->written_conns = conns;
    e->written_peak = e->peak;
    e->written_rate = e->rate_x10;
}

/* Should this check ask the kernel about e (window: its connections in
 * the window)? */
static int sl_churn_wants(const struct sl_churn_entry *e, int64_t window, int64_t threshold,
                          int64_t now)
{
    if (now < e->next_dump_ns)
        return 0;
    if (!e->finding_id)
        return window >= threshold;
    return e->finding_pid == sl_pid && window > e->peak;
}

/* What the kernel said of entry k, asked this check. */
static void sl_churn_decide(int k, int64_t threshold, int64_t now, int writable)
{
    struct sl_churn_entry *e = &sl_churn_tab[k];
    int64_t window = atomic_load_explicit(&e->window, memory_order_relaxed);
    int64_t held = e->counted < window ? e->counted : window;
    if (!e->finding_id) {
        if (held < threshold)
            e->next_dump_ns = now + SL_CHURN_RETRY_NS; /* the peer closes first */
        else if (writable)
            sl_churn_write(k, held);
        return;
    }
    e->next_dump_ns = now + SL_CHURN_UPDATE_NS;
    if (held <= e->peak)
        return;
    e->peak = held;
    if (writable)
        sl_churn_update(k);
}

/* Takes the check's turn; wait: as long as another check runs (exit). */
static int sl_churn_take(int wait)
{
    for (int i = 0; atomic_exchange(&sl_churn_busy, 1); i++) {
        if (!wait || i > 10000)
            return 0;
        sched_yield();
    }
    SL_HG_HAPPENS_AFTER(&sl_churn_busy); /* the last check's writes */
    return 1;
}

static void sl_churn_give(void)
{
    SL_HG_HAPPENS_BEFORE(&sl_churn_busy);
    atomic_store(&sl_churn_busy, 0);
}

/* Entry k copied from the parent by fork: its connections, window and
 * findings were the parent's; from now on it counts this process's. */
static void sl_churn_adopt(int k)
{
    struct sl_churn_entry *e = &sl_churn_tab[k];
    uint64_t c = atomic_load_explicit(&sl_churn_conns[k], memory_order_relaxed);
    int exhausted = atomic_load_explicit(&e->exhausted, memory_order_relaxed);
    memset(e->bucket, 0, sizeof e->bucket);
    e->base = c;
    atomic_store_explicit(&e->folded, c, memory_order_relaxed);
    atomic_store_explicit(&e->window, 0, memory_order_relaxed);
    e->born_ns = sl_now_ns();
    e->fold_s = e->born_ns / 1000000000;
    e->next_dump_ns = e->peak = e->rate_x10 = 0;
    e->finding_id = 0;
    e->written_conns = 0;
    e->written_peak = e->written_rate = 0;
    if (exhausted)
        atomic_store_explicit(&e->exhausted, 0, memory_order_relaxed);
    e->pid = sl_pid;
}

/* Entry k holds a key (and is this process's: adopted if need be); the
 * caller has the check's turn. */
static int sl_churn_ready(int k)
{
    if (atomic_load_explicit(&sl_churn_keys[k].state, memory_order_acquire) != SL_CHURN_READY)
        return 0;
    SL_HG_HAPPENS_AFTER(&sl_churn_keys[k]);
    if (SL_UNLIKELY(sl_churn_tab[k].pid != sl_pid))
        sl_churn_adopt(k);
    return 1;
}

/* Fold entry k's connections into its window at now; 1 when the kernel is to
 * be asked about it. */
static int sl_churn_look(int k, int64_t threshold, int64_t now)
{
    struct sl_churn_entry *e = &sl_churn_tab[k];
    sl_churn_fold(e, k, now / 1000000000);
    int64_t window = atomic_load_explicit(&e->window, memory_order_relaxed);
    int64_t rate = sl_churn_rate_x10(e, window, now);
    if (rate > e->rate_x10)
        e->rate_x10 = rate;
    e->counted = -1;
    return threshold && sl_churn_wants(e, window, threshold, now);
}

/* The check (churn.h). nl < 0 with own set: a socket of its own when a
 * dump is needed (exit); writable: findings may be written now. */
static void sl_churn_run(int nl, int own, int writable)
{
    int64_t now = sl_now_ns(), threshold = sl_churn_threshold();
    struct sl_churn_count c = {0};
    for (int k = 0; k < SL_CHURN_SITES; k++)
        if (sl_churn_ready(k) && sl_churn_look(k, threshold, now))
            sl_churn_ask(&c, k, &sl_churn_tab[k].counted);
    if (!c.n)
        return;
    int made = nl < 0 && own ? sl_sweep_socket() : -1;
    if (made >= 0)
        nl = made;
    int ok = nl >= 0 && sl_churn_count(nl, &c) == 0;
    if (made >= 0)
        sl_real.close(made);
    for (int i = 0; i < c.n && ok; i++)
        sl_churn_decide(c.k[i], threshold, now, writable);
}

void sl_churn_check(int nl, int program)
{
    if (!atomic_load_explicit(&sl_churn_used, memory_order_relaxed) || !sl_churn_take(0))
        return;
    sl_churn_run(nl, 0, program || sl_log_writable());
    sl_churn_give();
}

void sl_churn_exit(void)
{
    if (!atomic_load_explicit(&sl_churn_used, memory_order_relaxed) || !sl_churn_take(1))
        return;
    sl_log_allow_create(1);
    /* The last word: the kernel asked whatever the waits between checks. */
    for (int k = 0; k < SL_CHURN_SITES; k++)
        sl_churn_tab[k].next_dump_ns = 0;
    sl_churn_run(-1, sl_opt.sweep, 1);
    for (int k = 0; k < SL_CHURN_SITES; k++)
        if (sl_churn_ready(k) && sl_churn_tab[k].finding_id &&
            sl_churn_tab[k].finding_pid == sl_pid)
            sl_churn_update(k);
    sl_log_allow_create(0);
    sl_churn_give();
}

/* The entries holding the most ports (estimated connections in the window),
 * largest first, into top[0..SL_CHURN_TOP): how many. */
static int sl_churn_top(int *top, int64_t *est)
{
    int n = 0;
    for (int k = 0; k < SL_CHURN_SITES; k++) {
        if (!sl_churn_ready(k))
            continue;
        int64_t v = sl_churn_estimate(&sl_churn_tab[k], k);
        if (v <= 0)
            continue;
        int i = n < SL_CHURN_TOP ? n++ : SL_CHURN_TOP;
        for (; i > 0 && est[i - 1] < v; i--)
            if (i < SL_CHURN_TOP) {
                top[i] = top[i - 1];
                est[i] = est[i - 1];
            }
        if (i < SL_CHURN_TOP) {
            top[i] = k;
            est[i] = v;
        }
    }
    return n;
}

/* The EADDRNOTAVAIL finding of entry k, the kernel asked through a socket
 * of its own: n top entries, their estimates. */
static void sl_churn_write_exhausted(int k, uint32_t stack, const int *top, const int64_t *est,
                                     int n)
{
    int64_t tw[SL_CHURN_TOP], mine;
    struct sl_churn_count c = {0};
    sl_churn_ask(&c, k, &mine);
    for (int i = 0; i < n; i++)
        sl_churn_ask(&c, top[i], &tw[i]);
    int nl = sl_sweep_socket();
    int asked = nl >= 0 && sl_churn_count(nl, &c) == 0;
    if (nl >= 0)
        sl_real.close(nl);
    struct sl_finding f;
    sl_churn_finding_base(&f, k);
    f.open_stack = stack;
    f.exhausted = 1;
    f.connections = (int64_t)sl_churn_conns_of(k);
    int64_t now_est = sl_churn_estimate(&sl_churn_tab[k], k);
    f.rate_x10 = sl_churn_rate_x10(&sl_churn_tab[k], now_est, sl_now_ns());
    f.time_wait_peak = asked ? mine : now_est;
    for (int i = 0; i < n; i++) {
        struct sl_log_site *s = &f.top[f.n_top++];
        s->stack = sl_churn_keys[top[i]].stack;
        sl_churn_dest(top[i], s->destination, sizeof s->destination);
        s->connections = (int64_t)sl_churn_conns_of(top[i]);
        s->time_wait = asked && tw[i] < est[i] ? tw[i] : est[i];
    }
    sl_log_reserve(); /* the program's thread: the log may be made here */
    if (sl_log_finding(&f) == 0)
        sl_churn_say(&f);
}

void sl_churn_exhausted(uint32_t stack, const struct sockaddr *sa, socklen_t len)
{
    sl_churn_read_range();
    int k = sl_churn_entry(stack, sa, len);
    /* The check's turn: its entries are read and may be adopted. */
    if (k < 0 || !sl_churn_take(1))
        return;
    if (sl_churn_ready(k) && !atomic_exchange(&sl_churn_tab[k].exhausted, 1)) {
        int top[SL_CHURN_TOP];
        int64_t est[SL_CHURN_TOP];
        int n = sl_churn_top(top, est);
        sl_churn_write_exhausted(k, stack, top, est, n);
    }
    sl_churn_give();
}

void sl_churn_init(void)
{
    /* Only ever touched atomically (relaxed: counts and estimates). */
    SL_HG_ATOMIC(sl_churn_conns, sizeof sl_churn_conns);
    SL_HG_ATOMIC(&sl_churn_used, sizeof sl_churn_used);
    SL_HG_ATOMIC(&sl_churn_busy, sizeof sl_churn_busy);
    SL_HG_ATOMIC(&sl_churn_range_state, sizeof sl_churn_range_state);
    for (int k = 0; k < SL_CHURN_SITES; k++) {
        SL_HG_ATOMIC(&sl_churn_keys[k].state, sizeof sl_churn_keys[k].state);
        SL_HG_ATOMIC(&sl_churn_tab[k].folded, sizeof sl_churn_tab[k].folded);
        SL_HG_ATOMIC(&sl_churn_tab[k].window, sizeof sl_churn_tab[k].window);
        SL_HG_ATOMIC(&sl_churn_tab[k].exhausted, sizeof sl_churn_tab[k].exhausted);
    }
}

SL_FORK_TEXT void sl_churn_reinit_child(void)
{
    atomic_store(&sl_churn_busy, 0);
}

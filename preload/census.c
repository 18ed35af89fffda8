/* The open-socket census (census.h). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include "census.h"
#include "fdtable.h"
#include "hg.h"
#include "log.h"
#include "options.h"
#include "real.h"
#include "reaper.h"
#include "sockleak_log.h"
#include "sweep.h"

/* Creation stacks counted per census; sockets of further ones are in the
 * record's total only. A power of two (open addressing). */
#define SL_CENSUS_TABLE 1024
/* Sockets of the namespace a dump keeps (inode and state); one of ours
 * beyond them is asked with TCP_INFO. */
#define SL_CENSUS_DIAG_MAX 65536

struct sl_census_diag {
    uint64_t inode;
    uint8_t state;
};

/* One census at a time (the deadline thread's, or the program's in a
 * wait); what follows is the census's own. */
SL_FORKED static _Atomic int sl_census_busy;
static _Atomic int64_t sl_census_next_ns;
static struct sl_census_site sl_census_tab[SL_CENSUS_TABLE];
static struct sl_census_diag *sl_census_diag;
static int sl_census_ndiag;
/* The last record written, and by which process (a fork child starts
 * afresh: its file has none). */
static struct sl_census_site sl_census_last[SL_CENSUS_SITES];
static int sl_census_nlast = -1;
static int64_t sl_census_last_total, sl_census_last_limit;
static int sl_census_last_pid;

struct sl_census_walk {
    uint64_t total;
    int overflow;
};

static void sl_census_take(void *arg, uint64_t inode, uint8_t state)
{
    (void)arg;
    if (inode && sl_census_ndiag < SL_CENSUS_DIAG_MAX)
        sl_census_diag[sl_census_ndiag++] = (struct sl_census_diag){inode, state};
}

static int sl_census_diag_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct sl_census_diag *)a)->inode;
    uint64_t y = ((const struct sl_census_diag *)b)->inode;
    return x < y ? -1 : x > y;
}

/* Every TCP socket of the namespace that may be an fd's (all states but
 * TIME_WAIT and the SYN_RECV requests), by inode. 0, or -1. */
static int sl_census_dump(int nl)
{
    uint32_t states = 0xfff & ~((1u << TCP_TIME_WAIT) | (1u << TCP_SYN_RECV) | 1u);
    if (!sl_census_diag) {
        void *p = mmap(NULL, SL_CENSUS_DIAG_MAX * sizeof *sl_census_diag, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return -1;
        sl_census_diag = p;
    }
    sl_census_ndiag = 0;
    if (nl < 0 || sl_sweep_each_state(nl, AF_INET, states, sl_census_take, NULL) < 0)
        return -1;
    if (sl_sweep_inet6() && sl_sweep_each_state(nl, AF_INET6, states, sl_census_take, NULL) < 0)
        return -1;
    qsort(sl_census_diag, (size_t)sl_census_ndiag, sizeof *sl_census_diag, sl_census_diag_cmp);
    return 0;
}

/* fd's TCP state: the dump's, else TCP_INFO's (a socket the dump did not
 * keep); 0 when the kernel cannot tell. */
static unsigned sl_census_state(int fd, uint64_t inode)
{
    struct sl_census_diag key = {.inode = inode}, *d = NULL;
    if (inode && sl_census_diag)
        d = bsearch(&key, sl_census_diag, (size_t)sl_census_ndiag, sizeof key,
                    sl_census_diag_cmp);
    if (d)
        return d->state;
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || len < 1)
        return 0;
    return ti.tcpi_state < SL_CENSUS_STATES ? ti.tcpi_state : 0;
}

static struct sl_census_site *sl_census_site(uint32_t stack)
{
    uint32_t h = (stack * 2654435761u) & (SL_CENSUS_TABLE - 1);
    for (int i = 0; i < SL_CENSUS_TABLE; i++, h = (h + 1) & (SL_CENSUS_TABLE - 1)) {
        struct sl_census_site *s = &sl_census_tab[h];
        if (s->total && s->stack == stack)
            return s;
        if (!s->total) {
            s->stack = stack;
            return s;
        }
    }
    return NULL;
}

static void sl_census_visit(int fd, struct sl_slot *s, void *arg)
{
    struct sl_census_walk *w = arg;
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_relaxed);
    if ((f & (SL_F_KNOWN | SL_F_INET | SL_F_NOTSOCK)) != (SL_F_KNOWN | SL_F_INET))
        return;
    struct sl_class c;
    uint32_t gen;
    uint64_t inode = sl_sweep_slot_inode(fd, s, &c, &gen);
    if (!inode)
        return; /* no socket there any more */
    unsigned st = sl_census_state(fd, inode);
    struct sl_census_site *site = sl_census_site(c.open_stack);
    w->total++;
    if (!site) {
        w->overflow = 1;
        return;
    }
    site->total++;
    site->n[st]++;
}

static void sl_census_count_inet(int fd, struct sl_slot *s, void *arg)
{
    (void)fd;
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_relaxed);
    if ((f & (SL_F_KNOWN | SL_F_INET | SL_F_NOTSOCK)) == (SL_F_KNOWN | SL_F_INET))
        ++*(size_t *)arg;
}

/* The k sites holding the most sockets, largest first, into out. */
static int sl_census_top(struct sl_census_site *out, int k)
{
    int n = 0;
    for (int i = 0; i < SL_CENSUS_TABLE; i++) {
        const struct sl_census_site *s = &sl_census_tab[i];
        if (!s->total)
            continue;
        int j = n < k ? n++ : k;
        if (j == k && s->total <= out[k - 1].total)
            continue;
        if (j == k)
            j = k - 1;
        while (j > 0 && out[j - 1].total < s->total) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = *s;
    }
    return n;
}

static int64_t sl_census_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    return rl.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_cur;
}

void sl_census_run(int nl, int64_t now_ns, int64_t period_ns)
{
    if (now_ns < atomic_load(&sl_census_next_ns) || atomic_exchange(&sl_census_busy, 1))
        return;
    SL_HG_HAPPENS_AFTER(&sl_census_busy); /* the tables' last user */
    atomic_store(&sl_census_next_ns, now_ns + SL_CENSUS_PERIODS * period_ns);
    struct sl_census_walk w = {0};
    struct sl_census_site top[SL_CENSUS_SITES];
    size_t inet = 0;
    memset(sl_census_tab, 0, sizeof sl_census_tab);
    /* No dump (a walk of the namespace's whole table) while none is open. */
    sl_fdtable_foreach(sl_census_count_inet, &inet);
    sl_census_ndiag = 0;
    if (inet && sl_census_dump(nl) < 0)
        sl_census_ndiag = 0; /* TCP_INFO for each */
    if (inet)
        sl_fdtable_foreach(sl_census_visit, &w);
    memset(top, 0, sizeof top);
    int n = sl_census_top(top, SL_CENSUS_SITES);
    int64_t limit = sl_census_fd_limit();
    if (sl_census_last_pid != sl_pid || n != sl_census_nlast ||
        (int64_t)w.total != sl_census_last_total || limit != sl_census_last_limit ||
        memcmp(top, sl_census_last, (size_t)n * sizeof *top) != 0) {
        if (sl_log_census(top, n, (int64_t)w.total, limit) == 0) {
            memcpy(sl_census_last, top, sizeof top);
            sl_census_nlast = n;
            sl_census_last_total = (int64_t)w.total;
            sl_census_last_limit = limit;
            sl_census_last_pid = sl_pid;
        }
    }
    SL_HG_HAPPENS_BEFORE(&sl_census_busy);
    atomic_store(&sl_census_busy, 0);
}

/* A census the fork's other threads were running is not the child's; its
 * file has no record yet (sl_census_last_pid tells). */
SL_FORK_TEXT void sl_census_reinit_child(void)
{
    atomic_store(&sl_census_busy, 0);
}

/* ------------------------------------------------------------ at exit */

/* A stream socket still open at exit. */
struct sl_census_open {
    int fd;
    uint32_t stack, listen_stack;
    uint8_t domain, state;
    uint64_t inode;
};

struct sl_census_list {
    struct sl_census_open *v;
    size_t n, cap;
};

static void sl_census_count_open(int fd, struct sl_slot *s, void *arg)
{
    (void)fd;
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_relaxed);
    if ((f & (SL_F_KNOWN | SL_F_STREAM | SL_F_NOTSOCK)) == (SL_F_KNOWN | SL_F_STREAM))
        ((struct sl_census_list *)arg)->cap++;
}

static void sl_census_collect(int fd, struct sl_slot *s, void *arg)
{
    struct sl_census_list *l = arg;
    struct sl_class c;
    uint32_t gen;
    sl_slot_snapshot(fd, s, &c, &gen);
    if ((c.flags & (SL_F_KNOWN | SL_F_STREAM | SL_F_NOTSOCK)) != (SL_F_KNOWN | SL_F_STREAM) ||
        l->n == l->cap)
        return;
    struct sl_census_open *o = &l->v[l->n++];
    o->fd = fd;
    o->stack = c.open_stack;
    o->listen_stack = c.listen_stack;
    o->domain = c.domain;
    o->inode = c.inode;
    o->state = (c.flags & SL_F_INET) ? (uint8_t)sl_census_state(fd, 0) : 0;
}

static int sl_census_open_cmp(const void *a, const void *b)
{
    const struct sl_census_open *x = a, *y = b;
    if (x->stack != y->stack)
        return x->stack < y->stack ? -1 : 1;
    if (x->state != y->state)
        return x->state < y->state ? -1 : 1;
    return (x->fd > y->fd) - (x->fd < y->fd);
}

/* One open_at_exit finding for o, standing for sockets of them. */
static void sl_census_write_open(const struct sl_census_open *o, int64_t sockets)
{
    struct sl_finding f = {0};
    f.kind = SL_KIND_OPEN_AT_EXIT;
    f.fd = o->fd;
    f.family = o->domain == AF_INET    ? "inet"
               : o->domain == AF_INET6 ? "inet6"
               : o->domain == AF_UNIX  ? "unix"
                                       : "other";
    sl_reaper_addrs(o->fd, f.local, f.peer, sizeof f.local);
    f.inode = o->inode;
    f.tcp_state = o->state ? sl_tcp_state_name(o->state) : NULL;
    f.eof_unix_ms = sl_wall_ms();
    f.open_stack = o->stack;
    f.listen_stack = o->listen_stack;
    f.sockets = sockets;
    f.at_exit = 1;
    sl_log_finding(&f);
}

void sl_census_exit(void)
{
    struct sl_census_list l = {0};
    sl_fdtable_foreach(sl_census_count_open, &l);
    if (!l.cap)
        return;
    size_t bytes = l.cap * sizeof *l.v;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    l.v = p;
    sl_fdtable_foreach(sl_census_collect, &l);
    qsort(l.v, l.n, sizeof *l.v, sl_census_open_cmp);
    sl_log_allow_create(1);
    for (size_t i = 0, k = 0; i < l.n; i = k) {
        for (k = i; k < l.n && l.v[k].stack == l.v[i].stack && l.v[k].state == l.v[i].state;)
            k++;
        /* A site and state's first examples each, the last one for the rest. */
        for (size_t j = i; j < k && j < i + SL_CENSUS_EXAMPLES; j++)
            sl_census_write_open(&l.v[j], j + 1 == i + SL_CENSUS_EXAMPLES ? (int64_t)(k - j) : 1);
    }
    sl_log_allow_create(0);
    munmap(p, bytes);
}

/* The kernel sweep (sweep.h). One NETLINK_SOCK_DIAG dump per family asks
 * for every CLOSE_WAIT socket of the network namespace, with its inode,
 * receive queue and tcp_info; the fd table is walked once and each of our
 * TCP sockets found among them starts its unread deadline. No syscall per
 * socket. The dump's own cost is roughly fixed (about a millisecond). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "census.h"
#include "churn.h"
#include "fdexh.h"
#include "fdtable.h"
#include "log.h"
#include "options.h"
#include "real.h"
#include "reaper.h"
#include "sockleak_log.h"
#include "stack.h"
#include "sweep.h"

/* One socket of a dump. */
struct sl_diag {
    uint64_t inode;
    uint32_t rqueue, wqueue, idle_ms;
    uint32_t ack_ms; /* since the last ACK received: at most since the peer's FIN */
    uint8_t family, state;
    uint16_t lport, rport;
    uint32_t laddr[4], raddr[4];
};

#define SL_SWEEP_MAX 65536 /* CLOSE_WAIT sockets looked at per sweep */
#define SL_LISTEN_MAX 4096
#define SL_PENDING_MAX 4096 /* unaccepted connections followed at once */

/* A connection in a listener's accept queue, closed by its peer. */
struct sl_pending {
    uint64_t listener;      /* the listener's inode */
    uint32_t raddr[4];
    uint16_t rport;
    uint8_t seen, reported;
    int64_t first_ns;
};

struct sl_sweep_ctx {
    struct sl_diag *tab;
    int n;
    int64_t now, deadline_ns;
    int at_exit; /* report whatever the deadline, marked at_exit */
    int exiting; /* on the program's thread at exit: the log may be made */
    int program; /* on the program's thread in a wait: the log may be made */
};

SL_FORKED static _Atomic int sl_sw_armed;
/* What a fork child's sweep needs of the options, copied where the fork
 * writes (a read of sl_opt was a fault more in each child): set before the
 * sweep is armed, and the same in each process. */
SL_FORKED static _Atomic int64_t sl_sw_fork_period_ns;
SL_FORKED static _Atomic int sl_sw_fork_thread;
SL_FORKED __attribute__((aligned(64))) static _Atomic int sl_sw_child_lazy; /* a fork child's socket and log are still to make */
SL_FORKED static _Atomic int sl_sw_deferred; /* a due finding waits for the log */
static _Atomic int sl_sw_inet6; /* an AF_INET6 socket was tracked: dump that family too */
SL_FORKED static _Atomic int64_t sl_sw_next_ns;
SL_FORKED static uint32_t sl_sw_fork_stack; /* where this process was forked, 0 none */
SL_FORKED static pid_t sl_sw_from_pid;
static uint32_t sl_sw_seq; /* atomic: dumps run on several threads */
/* Deadline thread only (the exit sweep has tables of its own); a fork
 * child's thread starts them afresh (sl_sw_state_pid), never its forking
 * thread. */
static pid_t sl_sw_state_pid;
static struct sl_diag *sl_sw_tab;
static struct sl_pending sl_sw_pending[SL_PENDING_MAX];
static int sl_sw_npending;

static int64_t sl_sweep_deadline_ns(void)
{
    long ms = sl_opt.unread_deadline_ms > 0 ? sl_opt.unread_deadline_ms : sl_opt.deadline_ms;
    return (int64_t)ms * 1000000;
}

/* Half the deadline, between 50 ms and 2.5 s: a leak is reported at most
 * half a deadline late. A dump walks the kernel's whole TCP hash table
 * (milliseconds with tens of thousands of sockets), so it is kept rare. */
static int64_t sl_sweep_period_ns(void)
{
    int64_t p = sl_sweep_deadline_ns() / 2;
    if (p < 50000000)
        p = 50000000;
    return p > 2500000000 ? 2500000000 : p;
}

int sl_sweep_armed(void)
{
    return atomic_load_explicit(&sl_sw_armed, memory_order_relaxed);
}

int64_t sl_sweep_due(void)
{
    return sl_sweep_armed() ? atomic_load(&sl_sw_next_ns) : 0;
}

int sl_sweep_socket(void)
{
    return sl_real.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
}

void sl_sweep_note_inet6(void)
{
    if (!atomic_load_explicit(&sl_sw_inet6, memory_order_relaxed))
        atomic_store(&sl_sw_inet6, 1);
}

/* The sweep's own netlink socket, placed above the program's fds; a
 * warning when there is none. */
static void sl_sweep_own_socket(void)
{
    int nl = sl_sweep_socket();
    if (nl < 0 || sl_log_adopt_fd(nl) < 0)
        sl_warn("cannot open a NETLINK_SOCK_DIAG socket (%s): CLOSE_WAIT sockets whose "
                "end-of-stream is never read will not be found",
                strerror(nl < 0 ? errno : EMFILE));
}

/* The first TCP socket: the sweep's socket and the log are made now, on the
 * program's thread (a fork child's, later: sl_sweep_child_setup). */
void sl_sweep_arm(void)
{
    int expect = 0;
    if (SL_LIKELY(sl_sweep_armed()) || !sl_opt.sweep)
        return;
    atomic_store_explicit(&sl_sw_fork_period_ns, sl_sweep_period_ns(), memory_order_relaxed);
    atomic_store_explicit(&sl_sw_fork_thread, sl_opt.thread, memory_order_relaxed);
    if (!atomic_compare_exchange_strong(&sl_sw_armed, &expect, 1))
        return;
    int e = errno;
    sl_sweep_own_socket();
    sl_log_reserve();
    sl_churn_read_range();
    atomic_store(&sl_sw_next_ns, sl_now_ns() + sl_sweep_period_ns());
    sl_reaper_kick();
    errno = e;
}

/* ------------------------------------------------------------ the dump */

static void sl_diag_tcp_info(struct sl_diag *d, const struct inet_diag_msg *m, int len)
{
    const struct rtattr *a = (const struct rtattr *)(m + 1);
    for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type != INET_DIAG_INFO || RTA_PAYLOAD(a) < sizeof(struct tcp_info))
            continue;
        const struct tcp_info *ti = RTA_DATA(a);
        d->idle_ms = ti->tcpi_last_data_recv < ti->tcpi_last_data_sent ? ti->tcpi_last_data_recv
                                                                        : ti->tcpi_last_data_sent;
        d->ack_ms = ti->tcpi_last_ack_recv;
    }
}

static void sl_diag_take(struct sl_diag *d, const struct nlmsghdr *h)
{
    const struct inet_diag_msg *m = NLMSG_DATA(h);
    memset(d, 0, sizeof *d);
    d->inode = m->idiag_inode;
    d->rqueue = m->idiag_rqueue;
    d->wqueue = m->idiag_wqueue;
    d->family = m->idiag_family;
    d->state = m->idiag_state;
    d->lport = ntohs(m->id.idiag_sport);
    d->rport = ntohs(m->id.idiag_dport);
    memcpy(d->laddr, m->id.idiag_src, sizeof d->laddr);
    memcpy(d->raddr, m->id.idiag_dst, sizeof d->raddr);
    sl_diag_tcp_info(d, m, (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m)));
}

/* What a dump does with each socket's message. */
typedef void (*sl_diag_fn)(void *arg, const struct nlmsghdr *h);

/* Replies to request seq, each socket's handed to fn. 0 at the end of the
 * dump, -1 on an error (errno). */
static int sl_diag_recv(int nl, uint32_t seq, sl_diag_fn fn, void *arg)
{
    char buf[8192] __attribute__((aligned(8)));
    for (;;) {
        ssize_t len = sl_real.recv(nl, buf, sizeof buf, 0);
        if (len < 0 && errno == EINTR)
            continue;
        if (len <= 0)
            return -1;
        int left = (int)len;
        for (const struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_seq != seq)
                continue;
            if (h->nlmsg_type == NLMSG_DONE)
                return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *err = NLMSG_DATA(h);
                errno = err->error ? -err->error : EPROTO;
                return -1;
            }
            if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                fn(arg, h);
        }
    }
}

/* Every TCP socket of family in one of states, handed to fn (with
 * tcp_info when info is set). */
static int sl_diag_dump_each(int nl, int family, uint32_t states, int info, sl_diag_fn fn,
                             void *arg)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
    } req;
    memset(&req, 0, sizeof req);
    req.nlh.nlmsg_len = sizeof req;
    req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    /* The exit's and an EADDRNOTAVAIL's dumps run beside the thread's, on
     * sockets of their own. */
    req.nlh.nlmsg_seq = __atomic_add_fetch(&sl_sw_seq, 1, __ATOMIC_RELAXED);
    req.r.sdiag_family = (uint8_t)family;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = states;
    req.r.idiag_ext = info ? 1 << (INET_DIAG_INFO - 1) : 0;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    ssize_t w;
    while ((w = sl_real.sendto(nl, &req, sizeof req, 0, (struct sockaddr *)&sa, sizeof sa)) < 0 &&
           errno == EINTR)
        ;
    if (w < 0)
        return -1;
    return sl_diag_recv(nl, req.nlh.nlmsg_seq, fn, arg);
}

struct sl_diag_into {
    struct sl_diag *tab;
    int *n, max;
};

static void sl_diag_into_tab(void *arg, const struct nlmsghdr *h)
{
    struct sl_diag_into *t = arg;
    if (*t->n < t->max)
        sl_diag_take(&t->tab[(*t->n)++], h);
}

/* Every TCP socket of family in one of states, appended to tab. */
static int sl_diag_dump(int nl, int family, uint32_t states, struct sl_diag *tab, int *n, int max)
{
    struct sl_diag_into t = {tab, n, max};
    return sl_diag_dump_each(nl, family, states, 1, sl_diag_into_tab, &t);
}

struct sl_peer_each {
    void (*fn)(void *arg, const uint32_t raddr[4], uint16_t rport);
    void *arg;
};

static void sl_diag_peer(void *arg, const struct nlmsghdr *h)
{
    const struct sl_peer_each *p = arg;
    const struct inet_diag_msg *m = NLMSG_DATA(h);
    uint32_t raddr[4];
    memcpy(raddr, m->id.idiag_dst, sizeof raddr);
    p->fn(p->arg, raddr, ntohs(m->id.idiag_dport));
}

int sl_sweep_each_peer(int nl, int family, uint32_t states,
                       void (*fn)(void *arg, const uint32_t raddr[4], uint16_t rport), void *arg)
{
    struct sl_peer_each p = {fn, arg};
    return sl_diag_dump_each(nl, family, states, 0, sl_diag_peer, &p);
}

struct sl_state_each {
    void (*fn)(void *arg, uint64_t inode, uint8_t state);
    void *arg;
};

static void sl_diag_state(void *arg, const struct nlmsghdr *h)
{
    const struct sl_state_each *p = arg;
    const struct inet_diag_msg *m = NLMSG_DATA(h);
    p->fn(p->arg, m->idiag_inode, m->idiag_state);
}

int sl_sweep_each_state(int nl, int family, uint32_t states,
                        void (*fn)(void *arg, uint64_t inode, uint8_t state), void *arg)
{
    struct sl_state_each p = {fn, arg};
    return sl_diag_dump_each(nl, family, states, 0, sl_diag_state, &p);
}

int sl_sweep_inet6(void)
{
    return atomic_load(&sl_sw_inet6);
}

static int sl_diag_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct sl_diag *)a)->inode, y = ((const struct sl_diag *)b)->inode;
    return x < y ? -1 : x > y;
}

static const struct sl_diag *sl_diag_find(const struct sl_sweep_ctx *c, uint64_t inode)
{
    struct sl_diag key = {.inode = inode};
    return inode ? bsearch(&key, c->tab, (size_t)c->n, sizeof *c->tab, sl_diag_cmp) : NULL;
}

static void sl_diag_addr(int family, const uint32_t *addr, uint16_t port, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    inet_ntop(family, addr, ip, sizeof ip);
    snprintf(out, size, family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
}

/* ------------------------------------------------------------ our sockets */

/* What a slot holds, read under its stripe. */
struct sl_sweep_slot {
    struct sl_class c; /* flags, inode, stacks */
    uint32_t gen;
    int64_t cw_since;
};

static void sl_sweep_read(int fd, struct sl_slot *s, struct sl_sweep_slot *v)
{
    sl_fdtable_lock(fd);
    sl_slot_read(s, &v->c, &v->gen);
    v->cw_since = s->cw_since_ns;
    sl_fdtable_unlock(fd);
}

/* Sockets are tracked without their inode (no system call when they are
 * made): the sweep takes it the first time it looks at one, kept only if
 * the slot still holds the same object (gen: a close or a new socket at
 * that number ends the slot before the fd changes hands). 0: no socket. */
static uint64_t sl_sweep_inode(int fd, struct sl_slot *s, struct sl_sweep_slot *v)
{
    struct stat st;
    if (v->c.inode)
        return v->c.inode;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return 0;
    sl_fdtable_lock(fd);
    if (s->gen == v->gen && !s->inode)
        s->inode = (uint64_t)st.st_ino;
    v->c.inode = s->gen == v->gen ? s->inode : 0;
    sl_fdtable_unlock(fd);
    return v->c.inode;
}

uint64_t sl_sweep_slot_inode(int fd, struct sl_slot *s, struct sl_class *c, uint32_t *gen)
{
    struct sl_sweep_slot v;
    sl_sweep_read(fd, s, &v);
    uint64_t inode = sl_sweep_inode(fd, s, &v);
    *c = v.c;
    *gen = v.gen;
    return inode;
}

/* Set the slot's CLOSE_WAIT start (0: left it) if it still holds gen. */
static void sl_sweep_mark(int fd, struct sl_slot *s, uint32_t gen, int64_t since)
{
    sl_fdtable_lock(fd);
    if (s->gen == gen) {
        if (since)
            sl_fork_walk_needed();
        s->cw_since_ns = since;
    }
    sl_fdtable_unlock(fd);
}

/* Claim the slot for one finding (a close from now on writes "closed"). */
static int sl_sweep_claim(int fd, struct sl_slot *s, uint32_t gen, int64_t now)
{
    int ok = 0;
    sl_fdtable_lock(fd);
    uint32_t f = atomic_load(&s->flags);
    if (s->gen == gen && !(f & SL_F_REPORTED)) {
        sl_fork_walk_needed();
        atomic_fetch_or(&s->flags, SL_F_REPORTED);
        s->finding_id = 0;
        s->reported_ns = now;
        ok = 1;
    }
    sl_fdtable_unlock(fd);
    return ok;
}

/* The last read's stack: the one captured the first time the socket was
 * read from the last read's place (sl_read_site), else that place alone
 * (its stack was not captured: an unwinder missing, or a socket read from
 * more places than it captures). 0: never read. */
static uint32_t sl_sweep_last_read(int fd, struct sl_slot *s, uint32_t gen)
{
    uintptr_t pc = (unsigned)fd < SL_LAST_READ_FDS ? sl_last_read_pc[fd] : 0;
    if (!pc)
        return 0;
    sl_fdtable_lock(fd);
    uint32_t id = s->gen == gen ? sl_slot_read_stack(s, pc) : 0;
    sl_fdtable_unlock(fd);
    return id ? id : sl_stack_store(&pc, 1);
}

static void sl_sweep_report(int fd, struct sl_slot *s, const struct sl_sweep_slot *v,
                            const struct sl_diag *d, const struct sl_sweep_ctx *c)
{
    struct stat st;
    /* No log yet (a fork child): the finding waits for the program's next
     * hook, or its exit, to make one. */
    if (!c->exiting && !c->program && !sl_log_writable()) {
        atomic_store(&sl_sw_deferred, 1);
        return;
    }
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_ino != d->inode ||
        !sl_sweep_claim(fd, s, v->gen, c->now))
        return;
    struct sl_finding f = {0};
    int forked = (v->c.flags & SL_F_FORKED) != 0;
    f.kind = forked ? SL_KIND_CLOSE_WAIT_INHERITED : SL_KIND_CLOSE_WAIT_UNREAD;
    f.fd = fd;
    f.family = d->family == AF_INET6 ? "inet6" : "inet";
    sl_diag_addr(d->family, d->laddr, d->lport, f.local, sizeof f.local);
    sl_diag_addr(d->family, d->raddr, d->rport, f.peer, sizeof f.peer);
    f.inode = d->inode;
    f.tcp_state = "CLOSE_WAIT";
    f.held_ms = (c->now - v->cw_since) / 1000000;
    f.open_stack = v->c.open_stack;
    f.listen_stack = v->c.listen_stack;
    f.last_read_stack = forked ? 0 : sl_sweep_last_read(fd, s, v->gen);
    f.fork_stack = forked ? sl_sw_fork_stack : 0;
    f.from_pid = forked ? (int)sl_sw_from_pid : 0;
    f.has_queue = 1;
    f.idle_ms = d->idle_ms;
    f.unread_bytes = d->rqueue ? d->rqueue - 1 : 0; /* the FIN takes one sequence number */
    f.at_exit = c->at_exit;
    sl_reaper_logged(fd, s, v->gen, &f, v->cw_since);
}

static void sl_sweep_visit(int fd, struct sl_slot *s, void *arg)
{
    const struct sl_sweep_ctx *c = arg;
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_relaxed);
    if ((f & (SL_F_INET | SL_F_NOTSOCK | SL_F_REPORTED)) != SL_F_INET)
        return;
    struct sl_sweep_slot v;
    sl_sweep_read(fd, s, &v); /* SL_F_FORKED is known under the slot's lock */
    f = v.c.flags;
    if ((f & SL_F_EOF) && !(f & SL_F_FORKED))
        return; /* its end-of-stream deadline reports it */
    const struct sl_diag *d = sl_diag_find(c, sl_sweep_inode(fd, s, &v));
    if (!d) {
        if (v.cw_since)
            sl_sweep_mark(fd, s, v.gen, 0);
        return;
    }
    if (!v.cw_since) {
        /* In CLOSE_WAIT since the peer's FIN, which came no later than the
         * last ACK received: a sweep that ran late (a single-threaded
         * program that did not wait) still counts from then. An inherited
         * copy counts from the first sweep of this process. */
        int64_t ack_ns = (int64_t)d->ack_ms * 1000000;
        v.cw_since = (f & SL_F_FORKED) || ack_ns > c->now ? c->now : c->now - ack_ns;
        sl_sweep_mark(fd, s, v.gen, v.cw_since);
    }
    if (c->at_exit || c->now - v.cw_since >= c->deadline_ns)
        sl_sweep_report(fd, s, &v, d, c);
}

/* ------------------------------------------------------------ accept queues */

struct sl_listen_ctx {
    const struct sl_sweep_ctx *c;
    const struct sl_diag *listeners;
    int nlisteners;
};

static int sl_same_local(const struct sl_diag *l, const struct sl_diag *d)
{
    static const uint32_t any[4];
    if (l->lport != d->lport)
        return 0;
    if (!memcmp(l->laddr, any, sizeof any))
        return l->family == d->family || l->family == AF_INET6;
    return l->family == d->family && !memcmp(l->laddr, d->laddr, d->family == AF_INET ? 4 : 16);
}

static struct sl_pending *sl_pending_find(uint64_t listener, const struct sl_diag *d)
{
    for (int i = 0; i < sl_sw_npending; i++) {
        struct sl_pending *p = &sl_sw_pending[i];
        if (p->listener == listener && p->rport == d->rport && !memcmp(p->raddr, d->raddr, 16))
            return p;
    }
    if (sl_sw_npending == SL_PENDING_MAX)
        return NULL;
    struct sl_pending *p = &sl_sw_pending[sl_sw_npending++];
    memset(p, 0, sizeof *p);
    p->listener = listener;
    p->rport = d->rport;
    memcpy(p->raddr, d->raddr, 16);
    return p;
}

/* Count, for listener l, the peer-closed connections in its queue that
 * are due (and not reported yet): marks them reported. */
static int64_t sl_listener_due(const struct sl_diag *l, const struct sl_sweep_ctx *c)
{
    int64_t due = 0;
    for (int i = 0; i < c->n; i++) {
        const struct sl_diag *d = &c->tab[i];
        if (d->inode != 0 || !sl_same_local(l, d))
            continue;
        struct sl_pending *p = sl_pending_find(l->inode, d);
        if (!p)
            continue;
        if (!p->first_ns)
            p->first_ns = c->now;
        p->seen = 1;
        if (!p->reported && (c->at_exit || c->now - p->first_ns >= c->deadline_ns)) {
            p->reported = 1;
            due++;
        }
    }
    return due;
}

static void sl_listen_visit(int fd, struct sl_slot *s, void *arg)
{
    const struct sl_listen_ctx *lc = arg;
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_relaxed);
    if ((f & (SL_F_INET | SL_F_NOTSOCK)) != SL_F_INET)
        return;
    struct sl_sweep_slot v;
    sl_sweep_read(fd, s, &v);
    sl_sweep_inode(fd, s, &v);
    for (int i = 0; i < lc->nlisteners; i++) {
        const struct sl_diag *l = &lc->listeners[i];
        if (l->inode != v.c.inode || !sl_log_writable())
            continue;
        int64_t due = sl_listener_due(l, lc->c);
        if (!due)
            return;
        struct sl_finding fi = {0};
        fi.kind = SL_KIND_CLOSE_WAIT_UNACCEPTED;
        fi.fd = fd;
        fi.family = l->family == AF_INET6 ? "inet6" : "inet";
        sl_diag_addr(l->family, l->laddr, l->lport, fi.local, sizeof fi.local);
        fi.inode = l->inode;
        fi.tcp_state = "CLOSE_WAIT";
        fi.listen_stack = v.c.open_stack;
        fi.sockets = due;
        fi.has_backlog = 1;
        fi.backlog = l->wqueue;
        fi.queued = l->rqueue;
        fi.at_exit = lc->c->at_exit;
        sl_log_finding(&fi);
        return;
    }
}

/* CLOSE_WAIT connections without an inode wait in some listener's queue:
 * ours when the listener's inode is one of our sockets. */
static void sl_sweep_unaccepted(int nl, const struct sl_sweep_ctx *c)
{
    int orphans = 0;
    for (int i = 0; i < c->n && !orphans; i++)
        orphans = c->tab[i].inode == 0;
    if (!orphans) {
        sl_sw_npending = 0;
        return;
    }
    static struct sl_diag listeners[SL_LISTEN_MAX];
    int nl_n = 0;
    if (sl_diag_dump(nl, AF_INET, 1u << TCP_LISTEN, listeners, &nl_n, SL_LISTEN_MAX) < 0 ||
        (atomic_load(&sl_sw_inet6) &&
         sl_diag_dump(nl, AF_INET6, 1u << TCP_LISTEN, listeners, &nl_n, SL_LISTEN_MAX) < 0))
        return;
    for (int i = 0; i < sl_sw_npending; i++)
        sl_sw_pending[i].seen = 0;
    struct sl_listen_ctx lc = {c, listeners, nl_n};
    sl_fdtable_foreach(sl_listen_visit, &lc);
    int kept = 0; /* connections no longer queued were accepted or reset */
    for (int i = 0; i < sl_sw_npending; i++)
        if (sl_sw_pending[i].seen)
            sl_sw_pending[kept++] = sl_sw_pending[i];
    sl_sw_npending = kept;
}

/* ------------------------------------------------------------ the sweep */

static struct sl_diag *sl_sweep_table(void)
{
    void *p = mmap(NULL, SL_SWEEP_MAX * sizeof(struct sl_diag), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void sl_sweep_run(enum sl_sweep_mode mode)
{
    /* At exit, a sweep of due sockets only when one had to wait for the
     * log: the deadline thread wrote the others. */
    if (!sl_sweep_armed() || (mode == SL_SWEEP_EXIT_DUE && !atomic_load(&sl_sw_deferred)))
        return;
    int g = sl_guard_enter();
    int e = errno;
    int exiting = mode != SL_SWEEP_THREAD && mode != SL_SWEEP_PROGRAM;
    if (mode == SL_SWEEP_PROGRAM)
        sl_sweep_child_setup();
    if (!exiting && sl_sw_state_pid != (pid_t)sl_pid) {
        sl_sw_state_pid = (pid_t)sl_pid;
        sl_sw_npending = 0; /* the parent's accept queues are not ours */
    }
    int nl = exiting ? sl_sweep_socket() : sl_log_aux_fd();
    struct sl_diag *tab = exiting ? sl_sweep_table() : (sl_sw_tab ? sl_sw_tab : sl_sweep_table());
    if (!exiting)
        sl_sw_tab = tab;
    struct sl_sweep_ctx c = {tab,
                             0,
                             sl_now_ns(),
                             sl_sweep_deadline_ns(),
                             mode == SL_SWEEP_EXIT_ALL,
                             exiting,
                             mode == SL_SWEEP_PROGRAM};
    const uint32_t cw = 1u << TCP_CLOSE_WAIT;
    int v6 = atomic_load(&sl_sw_inet6);
    if (exiting || c.program)
        sl_log_allow_create(1);
    if (nl >= 0 && tab && sl_diag_dump(nl, AF_INET, cw, tab, &c.n, SL_SWEEP_MAX) == 0 &&
        (!v6 || sl_diag_dump(nl, AF_INET6, cw, tab, &c.n, SL_SWEEP_MAX) == 0)) {
        qsort(tab, (size_t)c.n, sizeof *tab, sl_diag_cmp);
        sl_fdtable_foreach(sl_sweep_visit, &c);
        if (!exiting)
            sl_sweep_unaccepted(nl, &c);
    }
    if (!exiting) {
        sl_churn_check(nl, c.program);
        sl_census_run(nl, c.now, sl_sweep_period_ns());
        sl_fdexh_check();
    }
    if (c.program)
        sl_log_allow_create(0);
    if (exiting) {
        sl_log_allow_create(0);
        if (nl >= 0)
            sl_real.close(nl);
        if (tab)
            munmap(tab, SL_SWEEP_MAX * sizeof *tab);
    } else
        sl_log_counts();
    atomic_store(&sl_sw_next_ns, sl_now_ns() + sl_sweep_period_ns());
    errno = e;
    sl_guard_leave(g);
}

/* ------------------------------------------------------------ fork */

uint32_t sl_sweep_before_fork(int64_t *now)
{
    if (!sl_sweep_armed() || sl_in_lib)
        return 0;
    int g = sl_guard_enter();
    uint32_t id = sl_stack_capture();
    *now = sl_now_ns(); /* read here: the child's first call into libc's code is a fault */
    sl_guard_leave(g);
    return id;
}

SL_FORK_TEXT void sl_sweep_reinit_child(void)
{
    atomic_store(&sl_sw_deferred, 0);
    atomic_store(&sl_sw_child_lazy, 0);
    sl_sw_fork_stack = 0;
    sl_sw_from_pid = 0;
}

/* The child's copies of the parent's TCP sockets are followed by a sweep of
 * its own, with a netlink socket of its own (the parent's would mix both
 * one's replies) and an unnamed log, named only when it has something to
 * write (a child that execs at once leaves no file). Nothing is
 * made here: a child that execs or exits at once costs no system call of
 * ours. sl_sweep_child_setup makes them, on the program's thread, at the
 * child's first due work or before its thread starts. */
SL_FORK_TEXT void sl_sweep_after_fork_child(uint32_t fork_stack, pid_t parent, int64_t now)
{
    if (!sl_sweep_armed() || sl_in_lib)
        return;
    int g = sl_guard_enter();
    sl_sw_fork_stack = fork_stack;
    sl_sw_from_pid = parent;
    atomic_store(&sl_sw_child_lazy, 1);
    atomic_store(&sl_sw_next_ns,
                 now + atomic_load_explicit(&sl_sw_fork_period_ns, memory_order_relaxed));
    /* Keeps errno: the child's first libc call would be a fault. */
    sl_reaper_kick_child(atomic_load_explicit(&sl_sw_fork_thread, memory_order_relaxed));
    sl_guard_leave(g);
}

int sl_sweep_child_pending(void)
{
    return atomic_load_explicit(&sl_sw_child_lazy, memory_order_relaxed);
}

void sl_sweep_child_setup(void)
{
    /* One thread makes them: two of the program's may get here at once. */
    if (SL_LIKELY(!sl_sweep_child_pending()) || !atomic_exchange(&sl_sw_child_lazy, 0))
        return;
    int g = sl_guard_enter();
    int e = errno;
    sl_sweep_own_socket();
    sl_log_reserve_unnamed();
    errno = e;
    sl_guard_leave(g);
}

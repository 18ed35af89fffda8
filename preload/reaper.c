/* The deadline queue (a min-heap by due time in mmap'd memory, no malloc) and
 * the one thread, started on the first EOF, that turns overdue EOFs into
 * findings. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/single_threaded.h>
#include <sys/un.h>
#include <unistd.h>
#include "fdtable.h"
#include "hg.h"
#include "lframe.h"
#include "log.h"
#include "options.h"
#include "reaper.h"
#include "threadcount.h"
#include "track.h"

/* track_block.c's, which the unit tests that take this file do not link
 * (it would bring the hooks' bindings): a weak reference. */
#pragma weak sl_block_unwatch
#include "stack.h"
#include "sweep.h"
#include "sockleak_log.h"

struct sl_due {
    int64_t due_ns;
    int fd;
    uint32_t gen;
};

/* Bumped (reaper lock held) when the queue's earliest entry changes; the
 * thread sleeps on it with a futex. */
SL_FORKED static _Atomic uint32_t sl_reaper_seq;
SL_FORKED __attribute__((aligned(64))) static int sl_reaper_started;  /* a thread runs, or is being started */
static int sl_reaper_warned;
static struct sl_due *sl_heap;
SL_FORKED static size_t sl_heap_len;
static size_t sl_heap_cap;
/* The queue's earliest due time (0: empty), stored with the queue under
 * the reaper lock and read without it: the one-thread capped waits ask it
 * at every turn, and a turn that takes no lock writes no page. */
SL_FORKED static _Atomic int64_t sl_heap_first;

static void sl_heap_first_update(void)
{
    atomic_store_explicit(&sl_heap_first, sl_heap_len ? sl_heap[0].due_ns : 0,
                          memory_order_relaxed);
}

static void sl_heap_swap(size_t a, size_t b)
{
    struct sl_due t = sl_heap[a];
    sl_heap[a] = sl_heap[b];
    sl_heap[b] = t;
}

/* Add an entry (reaper lock held). Returns 0, or -1 when out of memory. */
SL_TESTABLE int sl_reaper_heap_push(int fd, uint32_t gen, int64_t due_ns);
SL_TESTABLE int sl_reaper_heap_push(int fd, uint32_t gen, int64_t due_ns)
{
    if (sl_heap_len == sl_heap_cap) {
        size_t old = sl_heap_cap * sizeof *sl_heap;
        size_t size = old ? old * 2 : 65536;
        void *p =
            old ? mremap(sl_heap, old, size, MREMAP_MAYMOVE)
                : mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return -1;
        sl_heap = p;
        sl_heap_cap = size / sizeof *sl_heap;
    }
    size_t i = sl_heap_len++;
    sl_heap[i] = (struct sl_due){due_ns, fd, gen};
    while (i > 0 && sl_heap[(i - 1) / 2].due_ns > sl_heap[i].due_ns) {
        sl_heap_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    sl_heap_first_update();
    return 0;
}

/* Remove the earliest entry into *out (reaper lock held). Returns 0 when empty. */
SL_TESTABLE int sl_reaper_heap_pop(int *fd, uint32_t *gen, int64_t *due_ns);
SL_TESTABLE int sl_reaper_heap_pop(int *fd, uint32_t *gen, int64_t *due_ns)
{
    if (sl_heap_len == 0)
        return 0;
    *fd = sl_heap[0].fd;
    *gen = sl_heap[0].gen;
    *due_ns = sl_heap[0].due_ns;
    sl_heap[0] = sl_heap[--sl_heap_len];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < sl_heap_len && sl_heap[l].due_ns < sl_heap[m].due_ns)
            m = l;
        if (r < sl_heap_len && sl_heap[r].due_ns < sl_heap[m].due_ns)
            m = r;
        if (m == i)
            break;
        sl_heap_swap(i, m);
        i = m;
    }
    sl_heap_first_update();
    return 1;
}

const char *sl_tcp_state_name(unsigned state)
{
    static const char *const names[] = {NULL,         "ESTABLISHED", "SYN_SENT",  "SYN_RECV",
                                        "FIN_WAIT1",  "FIN_WAIT2",   "TIME_WAIT", "CLOSE",
                                        "CLOSE_WAIT", "LAST_ACK",    "LISTEN",    "CLOSING"};
    return state < sizeof names / sizeof names[0] ? names[state] : NULL;
}

/* "ip:port", "[v6]:port", a unix path, "@abstract", or "" when unknown. */
static void sl_format_addr(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    out[0] = '\0';
    if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        if (inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip))
            snprintf(out, size, "%s:%u", ip, ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip))
            snprintf(out, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else if (ss->ss_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path)) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
        size_t n = len - offsetof(struct sockaddr_un, sun_path);
        if (n > sizeof un->sun_path)
            n = sizeof un->sun_path;
        if (un->sun_path[0] == '\0' && n > 1)
            snprintf(out, size, "@%.*s", (int)(n - 1), un->sun_path + 1);
        else
            snprintf(out, size, "%.*s", (int)strnlen(un->sun_path, n), un->sun_path);
    }
}

/* The object at fd changed behind our back, or its 0 read was no FIN: forget
 * the EOF (and, when replaced, the whole classification). */
static void sl_reaper_drop(int fd, struct sl_slot *s, uint32_t gen, int replaced)
{
    sl_fdtable_lock(fd);
    if (s->gen == gen) {
        if (replaced) {
            s->gen++;
            atomic_store(&s->flags, 0);
        } else {
            atomic_fetch_and(&s->flags, ~(uint32_t)SL_F_EOF);
        }
    }
    sl_fdtable_unlock(fd);
}

static void sl_reaper_requeue(int fd, uint32_t gen, int64_t due_ns)
{
    SL_LOCK(SL_LK_REAPER);
    sl_reaper_heap_push(fd, gen, due_ns);
    SL_UNLOCK(SL_LK_REAPER);
}

/* The slot at (fd, gen) read end-of-stream and is due (or at_exit): fill
 * in what the slot knows. 0 to go on, -1 when there is nothing to report
 * (or it was queued again for a later deadline). */
static int sl_reaper_take(int fd, struct sl_slot *s, uint32_t gen, int at_exit,
                          struct sl_finding *f, int64_t *eof_ns)
{
    sl_fdtable_lock(fd);
    uint32_t flags = atomic_load(&s->flags);
    if (s->gen != gen || !(flags & SL_F_EOF) || (flags & (SL_F_REPORTED | SL_F_INHERITED))) {
        sl_fdtable_unlock(fd);
        return -1;
    }
    int64_t last_send = atomic_load(&s->last_send_ns);
    int64_t start = last_send > s->eof_ns ? last_send : s->eof_ns;
    int64_t due = start + (int64_t)sl_opt.deadline_ms * 1000000;
    if (!at_exit && due > sl_now_ns()) {
        sl_fdtable_unlock(fd);
        sl_reaper_requeue(fd, gen, due);
        return -1;
    }
    f->kind = (flags & SL_F_SHUT_WR) ? SL_KIND_UNCLOSED_AFTER_SHUTDOWN : SL_KIND_CLOSE_WAIT;
    f->fd = fd;
    f->inode = s->inode;
    f->family = s->domain == AF_INET    ? "inet"
                : s->domain == AF_INET6 ? "inet6"
                : s->domain == AF_UNIX  ? "unix"
                                        : "other";
    f->eof_stack = s->eof_stack;
    f->open_stack = s->open_stack;
    f->listen_stack = s->listen_stack;
    f->at_exit = at_exit;
    *eof_ns = s->eof_ns;
    sl_fdtable_unlock(fd);
    return 0;
}

/* What the kernel says of the socket now: -1 (slot dropped) when the fd
 * holds another object, or the 0 read was no FIN after all. */
static int sl_reaper_facts(int fd, struct sl_slot *s, uint32_t gen, struct sl_finding *f)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || (f->inode && (uint64_t)st.st_ino != f->inode)) {
        sl_reaper_drop(fd, s, gen, 1);
        return -1;
    }
    f->inode = (uint64_t)st.st_ino;
    if (f->family[0] == 'i') {
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && len >= 1) {
            if (ti.tcpi_state == TCP_ESTABLISHED) {
                sl_reaper_drop(fd, s, gen, 0);
                return -1;
            }
            f->tcp_state = sl_tcp_state_name(ti.tcpi_state);
        }
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        sl_format_addr(&ss, len, f->local, sizeof f->local);
    len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        sl_format_addr(&ss, len, f->peer, sizeof f->peer);
    return 0;
}

/* src with control characters as '?': addresses and names from the kernel
 * or the loader go to a terminal. */
static void sl_reaper_clean(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    for (; src[n] && n + 1 < size; n++)
        dst[n] = (unsigned char)src[n] < 0x20 || src[n] == 0x7f ? '?' : src[n];
    dst[n] = '\0';
}

/* The first frame of stack id in words, as the library can tell it without
 * debug information: the innermost language frame's function (file:line),
 * else dladdr's symbol (when the address lies in an exported one) and
 * module+offset of frame 0. */
void sl_reaper_frame_words(uint32_t id, char *out, size_t size)
{
    const uintptr_t *pcs;
    int n = id ? sl_stack_get(id, &pcs) : 0;
    char a[256], b[256];
    Dl_info di;

    if (n <= 0) {
        snprintf(out, size, "an unknown stack");
        return;
    }
    int i = 0;
    while (i < n && !SL_LFRAME_IS(pcs[i]))
        i++;
    if (i < n) {
        struct sl_lframe *lf = sl_lframe_get(pcs[i]);
        sl_reaper_clean(a, sizeof a, lf && lf->function ? lf->function : "?");
        sl_reaper_clean(b, sizeof b, lf && lf->file ? lf->file : "?");
        snprintf(out, size, "%s (%s:%d)", a, b, lf ? lf->line : 0);
        return;
    }
    /* pcs[0] is a return address: the call is the byte before it. */
    if (!dladdr((void *)(pcs[0] - 1), &di) || !di.dli_fname) {
        snprintf(out, size, "0x%lx", (unsigned long)pcs[0]);
        return;
    }
    const char *slash = strrchr(di.dli_fname, '/');
    sl_reaper_clean(a, sizeof a, di.dli_sname ? di.dli_sname : "");
    sl_reaper_clean(b, sizeof b, slash ? slash + 1 : di.dli_fname);
    snprintf(out, size, "%s%s%s+0x%lx%s", a, a[0] ? " (" : "", b,
             (unsigned long)(pcs[0] - (uintptr_t)di.dli_fbase), a[0] ? ")" : "");
}

void sl_reaper_addrs(int fd, char *local, char *peer, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char buf[128];

    local[0] = peer[0] = '\0';
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        sl_format_addr(&ss, len, buf, sizeof buf);
        sl_reaper_clean(local, size, buf);
    }
    len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        sl_format_addr(&ss, len, buf, sizeof buf);
        sl_reaper_clean(peer, size, buf);
    }
}

/* verbosity=2: one line per finding, addresses as the report shows them
 * (local <- peer), and the frame that names the call site. */
static void sl_reaper_say(const struct sl_finding *f, int fd)
{
    char prog[80], local[128], peer[128], where[600];
    uint32_t site = f->eof_stack                        ? f->eof_stack
                    : f->listen_stack && !f->open_stack ? f->listen_stack
                                                        : f->open_stack;
    const char *what = f->eof_stack                      ? "end-of-stream read at"
                       : site == f->listen_stack && site ? "listener created at"
                                                         : "socket created at";

    sl_log_program(prog, sizeof prog);
    sl_reaper_clean(local, sizeof local, f->local[0] ? f->local : "?");
    sl_reaper_clean(peer, sizeof peer, f->peer[0] ? f->peer : "?");
    sl_reaper_frame_words(site, where, sizeof where);
    sl_warn("pid %d %s: %s fd %d %s <- %s (%s), held %lld ms; %s %s", (int)getpid(), prog, f->kind,
            fd, local, peer, f->tcp_state ? f->tcp_state : "no TCP state", (long long)f->held_ms,
            what, where);
}

void sl_reaper_logged(int fd, struct sl_slot *s, uint32_t gen, struct sl_finding *f,
                      int64_t since_ns)
{
    int rc = sl_log_finding(f);
    sl_fdtable_lock(fd);
    int still = s->gen == gen;
    if (still)
        s->finding_id = rc == 0 ? f->id : 0;
    sl_fdtable_unlock(fd);
    if (rc == 0 && !still)
        sl_log_closed(f->id, fd, (sl_now_ns() - since_ns) / 1000000);
    if (rc == 0 && sl_opt.verbosity >= 2)
        sl_reaper_say(f, fd);
}

/* One due entry: a finding if the socket is still open past its deadline
 * (at_exit: whatever the deadline). No lock of ours is held across the log
 * write (it may take the loader lock through the module map). */
static void sl_reaper_check(int fd, uint32_t gen, int at_exit)
{
    struct sl_slot *s = sl_fdtable_peek(fd);
    struct sl_finding f = {0};
    int64_t eof_ns;
    if (!s || sl_reaper_take(fd, s, gen, at_exit, &f, &eof_ns) < 0 ||
        sl_reaper_facts(fd, s, gen, &f) < 0)
        return;
    int64_t now = sl_now_ns();
    sl_fdtable_lock(fd);
    uint32_t flags = atomic_load(&s->flags);
    if (s->gen != gen || !(flags & SL_F_EOF) || (flags & SL_F_REPORTED)) {
        sl_fdtable_unlock(fd);
        return;
    }
    /* Claimed: a close from now on sees REPORTED (finding_id 0 until the
     * record is written; then this thread writes "closed" itself). */
    sl_fork_walk_needed();
    atomic_fetch_or(&s->flags, SL_F_REPORTED);
    s->finding_id = 0;
    s->reported_ns = now;
    int64_t last_send = atomic_load(&s->last_send_ns);
    int64_t start = last_send > eof_ns ? last_send : eof_ns;
    sl_fdtable_unlock(fd);
    f.held_ms = (now - start) / 1000000;
    f.eof_unix_ms = sl_wall_ms() - (now - eof_ns) / 1000000;
    sl_reaper_logged(fd, s, gen, &f, eof_ns);
}

static void sl_reaper_exit_slot(int fd, struct sl_slot *s, void *arg)
{
    (void)arg;
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_relaxed);
    if ((f & SL_F_EOF) && !(f & (SL_F_REPORTED | SL_F_INHERITED)))
        sl_reaper_check(fd, s->gen, 1);
}

void sl_reaper_at_exit(void)
{
    int g = sl_guard_enter();
    sl_fdtable_foreach(sl_reaper_exit_slot, NULL);
    sl_guard_leave(g);
}

/* Everything due by now: sweeps, then deadlines in order. Reaper lock not
 * held. Returns the next due time, 0 when nothing is queued. */
static int64_t sl_reaper_due_work_now(int64_t now, enum sl_sweep_mode mode)
{
    for (;;) {
        int64_t sweep = sl_sweep_due();
        if (sweep && sweep <= now) {
            sl_sweep_run(mode);
            now = sl_now_ns();
            continue;
        }
        SL_LOCK(SL_LK_REAPER);
        if (!sl_heap_len || sl_heap[0].due_ns > now) {
            int64_t due = sl_heap_len ? sl_heap[0].due_ns : 0;
            SL_UNLOCK(SL_LK_REAPER);
            return sweep && (!due || sweep < due) ? sweep : due;
        }
        int fd = -1;
        uint32_t gen = 0;
        int64_t due = 0;
        sl_reaper_heap_pop(&fd, &gen, &due);
        SL_UNLOCK(SL_LK_REAPER);
        sl_reaper_check(fd, gen, 0);
    }
}

/* The due work is done by one thread at a time: the library's, or a
 * program's thread in a capped wait. Two at once shared the sweep's netlink
 * socket and tables: one took the other's reply, which then waited in recv
 * for ever with every signal blocked (a fork child making threads under
 * thread=1: the turn that starts the library's thread let another of the
 * program's threads, and then the new thread, at the work together). Not
 * waited for: a thread that finds it taken comes back at its next turn,
 * SL_DUE_RETRY_NS later. */
SL_FORKED static _Atomic uint32_t sl_due_busy;
#define SL_DUE_RETRY_NS 10000000

static int64_t sl_reaper_due_work(int64_t now, enum sl_sweep_mode mode)
{
    uint32_t idle = 0;
    SL_HG_ATOMIC(&sl_due_busy, sizeof sl_due_busy);
    if (!atomic_compare_exchange_strong(&sl_due_busy, &idle, 1))
        return now + SL_DUE_RETRY_NS;
    SL_HG_HAPPENS_AFTER(&sl_due_busy);
    int64_t next = sl_reaper_due_work_now(now, mode);
    SL_HG_HAPPENS_BEFORE(&sl_due_busy);
    atomic_store(&sl_due_busy, 0);
    return next;
}

SL_FORKED static _Atomic int sl_reaper_quit; /* sl_reaper_stop: end the thread */
SL_FORKED static pthread_t sl_reaper_tid;    /* the thread, once made */

static void *sl_reaper_main(void *arg)
{
    (void)arg;
    sl_in_lib = 1; /* everything this thread calls is our own work */
    for (;;) {
        /* Read before the queue is: a push or a kick after that bumps it,
         * so the wait below returns at once. */
        uint32_t seq = atomic_load(&sl_reaper_seq);
        int64_t due = sl_reaper_due_work(sl_now_ns(), SL_SWEEP_THREAD), now = sl_now_ns();
        if (atomic_load(&sl_reaper_quit))
            return NULL;
        if (due && due <= now)
            continue;
        struct timespec ts = {(due - now) / 1000000000, (due - now) % 1000000000};
        sl_lock_wait_word(&sl_reaper_seq, seq, due ? &ts : NULL);
    }
    return NULL;
}

/* Start the thread with every signal blocked, so the program's signals are
 * never delivered to it; the caller's mask is restored. Joinable: the
 * program's last thread waits for it to end (sl_reaper_stop). */
static int sl_reaper_start(pthread_t *tid)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(tid, NULL, sl_reaper_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}

/* Work is pending (a deadline, a sweep): a thread of our own takes it,
 * or, in a single-threaded process (thread=0), the program's own waits do
 * (sl_reaper_service) until the program blocks where they cannot
 * (sl_reaper_blocking). Reaper lock not held. */
SL_FORKED _Atomic int sl_sched_active;
SL_FORKED static int sl_reaper_force; /* the program blocks where no wait is capped */
SL_FORKED int sl_threads_made;        /* the program made a thread (since fork, in a child) */
SL_FORKED static int sl_reaper_alone; /* a fork child: one thread, whatever glibc's flag says */

static int sl_reaper_single(void)
{
    return !__atomic_load_n(&sl_threads_made, __ATOMIC_RELAXED) &&
           (sl_reaper_alone || __libc_single_threaded);
}

static void sl_reaper_ensure(void)
{
    SL_LOCK(SL_LK_REAPER);
    int start = !sl_reaper_started;
    /* Done in the program's waits, and at exit once its threads all left. */
    if (start &&
        ((!sl_opt.thread && !sl_reaper_force && sl_reaper_single()) || sl_threads_all_left())) {
        atomic_store(&sl_sched_active, 1);
        start = 0;
    } else if (start) {
        sl_reaper_started = 1;
        atomic_store(&sl_sched_active, 0);
    }
    SL_UNLOCK(SL_LK_REAPER);
    if (!start)
        return; /* no system call but the futex's: errno is untouched */
    int saved = errno;
    sl_sweep_child_setup(); /* on the program's thread, before the thread */
    if (sl_block_unwatch)   /* the unit tests link no watchers */
        sl_block_unwatch(); /* the thread does the work: no call is capped */
    pthread_t tid = 0;
    int e = sl_reaper_start(&tid), warn = 0;
    SL_LOCK(SL_LK_REAPER);
    if (!e) {
        sl_reaper_tid = tid;
    } else {
        sl_reaper_started = 0;
        warn = !sl_reaper_warned;
        sl_reaper_warned = 1;
    }
    SL_UNLOCK(SL_LK_REAPER);
    if (warn)
        sl_warn("cannot start the reaper thread: %s; leaks will not be reported", strerror(e));
    errno = saved;
}

void sl_reaper_stop(void)
{
    SL_LOCK(SL_LK_REAPER);
    int running = sl_reaper_started && sl_reaper_tid && !atomic_load(&sl_reaper_quit);
    pthread_t tid = sl_reaper_tid;
    if (running) {
        atomic_store(&sl_reaper_quit, 1);
        atomic_fetch_add(&sl_reaper_seq, 1);
    }
    SL_UNLOCK(SL_LK_REAPER);
    if (!running)
        return;
    sl_lock_wake_word(&sl_reaper_seq);
    pthread_join(tid, NULL);
    SL_LOCK(SL_LK_REAPER);
    sl_reaper_started = 0;
    sl_reaper_tid = 0;
    atomic_store(&sl_reaper_quit, 0);
    SL_UNLOCK(SL_LK_REAPER);
}

/* Guard set, no lock held. */
static void sl_reaper_force_thread(void)
{
    SL_LOCK(SL_LK_REAPER);
    int was = sl_reaper_force;
    sl_reaper_force = 1;
    int pending = atomic_load(&sl_sched_active);
    SL_UNLOCK(SL_LK_REAPER);
    if (!was && pending)
        sl_reaper_ensure();
}

int sl_reaper_one_thread(void)
{
    return sl_reaper_single() && !__atomic_load_n(&sl_reaper_started, __ATOMIC_RELAXED) &&
           !__atomic_load_n(&sl_raw_clones, __ATOMIC_RELAXED);
}

void sl_reaper_blocking(void)
{
    if (sl_reaper_force)
        return;
    int g = sl_guard_enter();
    int e = errno;
    sl_reaper_force_thread();
    errno = e;
    sl_guard_leave(g);
}

/* The earliest of the queue's and the sweep's due times, 0 none. */
static int64_t sl_reaper_first_due(void)
{
    int64_t sweep = sl_sweep_due(),
            first = atomic_load_explicit(&sl_heap_first, memory_order_relaxed);
    return sweep && (!first || sweep < first) ? sweep : first;
}

int sl_reaper_due_now(void)
{
    int64_t due = sl_reaper_first_due();
    return due && due <= sl_now_ns();
}

void sl_reaper_exit_due(void)
{
    if (!atomic_load(&sl_sched_active))
        return;
    /* Another thread at the work ends it first (a second at most). */
    struct timespec ts = {0, 5000000};
    for (int i = 0; i < 200 && atomic_load(&sl_due_busy); i++)
        sl_lock_wait_word(&sl_due_busy, 1, &ts);
    sl_log_allow_create(1);
    sl_reaper_due_work(sl_now_ns(), SL_SWEEP_PROGRAM);
    sl_log_allow_create(0);
}

int64_t sl_reaper_service(void)
{
    /* Nothing due, one thread, no fork child's setup pending: the next due
     * time, and nothing written (no lock, no guard, no errno), as most
     * turns are. */
    if (atomic_load_explicit(&sl_sched_active, memory_order_relaxed) && sl_reaper_single() &&
        !sl_sweep_child_pending()) {
        int64_t due = sl_reaper_first_due();
        if (due && due > sl_now_ns())
            return due;
    }
    int g = sl_guard_enter();
    int e = errno;
    int64_t next = 0;
    if (!sl_reaper_single())
        sl_reaper_force_thread();
    if (atomic_load(&sl_sched_active)) {
        sl_sweep_child_setup();
        next = sl_reaper_due_work(sl_now_ns(), SL_SWEEP_PROGRAM);
        if (!next) /* nothing queued: no cap until something is */
            atomic_store(&sl_sched_active, 0);
    }
    errno = e;
    sl_guard_leave(g);
    return next;
}

void sl_reaper_schedule(int fd, uint32_t gen, int64_t due_ns)
{
    int g = sl_guard_enter();
    SL_LOCK(SL_LK_REAPER);
    int pushed = sl_reaper_heap_push(fd, gen, due_ns) == 0;
    int head =
        pushed && sl_heap[0].fd == fd && sl_heap[0].gen == gen && sl_heap[0].due_ns == due_ns;
    if (head)
        atomic_fetch_add(&sl_reaper_seq, 1);
    head = head && sl_reaper_started; /* a thread may be waiting: wake it */
    int warn_mem = !pushed && !sl_reaper_warned;
    if (warn_mem)
        sl_reaper_warned = 1;
    SL_UNLOCK(SL_LK_REAPER);
    if (head)
        sl_lock_wake_word(&sl_reaper_seq);
    if (warn_mem)
        sl_warn("out of memory for the deadline queue; some leaks will not be reported");
    if (pushed)
        sl_reaper_ensure();
    sl_guard_leave(g);
}

void sl_reaper_kick(void)
{
    int g = sl_guard_enter();
    SL_LOCK(SL_LK_REAPER);
    atomic_fetch_add(&sl_reaper_seq, 1);
    int started = sl_reaper_started; /* a thread may be waiting: wake it */
    SL_UNLOCK(SL_LK_REAPER);
    if (started)
        sl_lock_wake_word(&sl_reaper_seq);
    sl_reaper_ensure();
    sl_guard_leave(g);
}

/* sl_reaper_kick in a fork child just after sl_reaper_reinit_child, when
 * sl_reaper_ensure would start no thread: the work is the program's waits'.
 * No lock (the child has one thread, and none of ours) and no code or data
 * outside the pages fork writes: each other page is a fault in the child.
 * thread: the thread option, as the parent read it. */
SL_FORK_TEXT void sl_reaper_kick_child(int thread)
{
    if (thread || sl_reaper_started || sl_reaper_force || !sl_reaper_single()) {
        sl_reaper_kick(); /* a handler of the program's made a thread, or thread=1 */
        return;
    }
    atomic_fetch_add(&sl_reaper_seq, 1);
    atomic_store(&sl_sched_active, 1);
}

SL_FORK_TEXT void sl_reaper_reinit_child(void)
{
    sl_heap_len = 0;
    atomic_store_explicit(&sl_heap_first, 0, memory_order_relaxed);
    sl_reaper_started = 0;
    sl_reaper_tid = 0;
    /* Written only if set (a fork from a thread leaving last): the parent's
     * thread reads it without a lock, which helgrind would take for a race. */
    if (atomic_load_explicit(&sl_reaper_quit, memory_order_relaxed))
        atomic_store_explicit(&sl_reaper_quit, 0, memory_order_relaxed);
    sl_reaper_force = 0;
    sl_reaper_alone = 1;
    sl_threads_made = 0;
    atomic_store(&sl_sched_active, 0);
    /* Taken by a thread the child does not have; written only if set. */
    if (atomic_load_explicit(&sl_due_busy, memory_order_relaxed))
        atomic_store_explicit(&sl_due_busy, 0, memory_order_relaxed);
}

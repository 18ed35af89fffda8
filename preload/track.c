/* The bookkeeping behind every hook: which fds are stream sockets, when they
 * read end-of-stream, and when they stop existing. Hot paths (a read that
 * returned data, a send on an fd we do not follow) cost a compare or one
 * lock-free table lookup; everything else happens on rare events.
 *
 * A vfork child (vfork, and posix_spawn/popen/system before their exec) runs
 * in the parent's memory with its own fd table: a close, dup2 or close_range
 * there must not end the parent's slots (sl_in_vfork_child). Raw syscalls
 * that close fds are invisible: a socket's inode, taken when first needed
 * (its end-of-stream, or the sweep's first look), is checked again before
 * any finding is written. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "fdtable.h"
#include "log.h"
#include "ownfd.h"
#include "options.h"
#include "real.h"
#include "reaper.h"
#include "stack.h"
#include "sweep.h"
#include "track.h"

/* Bind the real function `name` before its first use from a hook. */
#define SL_ENSURE(name)                                                                            \
    do {                                                                                           \
        if (SL_UNLIKELY(!sl_real.name))                                                            \
            sl_ensure_real((void *const *)&sl_real.name, #name, sl_real_optional_##name);         \
    } while (0)

static __attribute__((noinline, cold)) void sl_ensure_real(void *const *fn, const char *name,
                                                            int optional)
{
    int saved = errno;
    sl_init();
    sl_real_bind_one((void **)fn, name, optional);
    if (!*fn)
        sl_fatal("the real %s is not available in this libc", name);
    errno = saved;
}

/* Before the library's own work (it calls many real functions). */
static void sl_init_all(void)
{
    sl_init();
    sl_real_init();
}

__thread int sl_vfork_child __attribute__((tls_model("initial-exec")));
int sl_raw_clones;

/* vfork.S: a failed vfork (the parent's flag is already restored). */
long sl_vfork_failed(long r)
{
    errno = (int)-r;
    return -1;
}

/* Are we a vfork child sharing the parent's memory (its table included)?
 * vfork() sets this thread's flag (vfork.S): no system call. Only after the
 * program made a process some other way (clone(), or syscall() with a clone,
 * fork or vfork number) is the real pid compared with the cached one, one
 * getpid each time; processes made by such a raw clone without CLONE_VM
 * then answer yes too: their table is a private copy, left as it was. The
 * children of posix_spawn, popen and system make no call that reaches us. */
static int sl_in_vfork_child(void)
{
    if (SL_UNLIKELY(sl_vfork_child))
        return 1;
    if (SL_LIKELY(!__atomic_load_n(&sl_raw_clones, __ATOMIC_RELAXED)) || !sl_pid)
        return 0;
    return getpid() != (pid_t)sl_pid;
}

/* clone(): its child may share our memory without vfork's flag. */
static int (*sl_real_clone)(int (*)(void *), void *, int, void *, ...);

int sl_clone(int (*fn)(void *), void *stack, int flags, void *arg, void *ptid, void *tls,
             void *ctid)
{
    __atomic_store_n(&sl_raw_clones, 1, __ATOMIC_RELAXED);
    if (SL_UNLIKELY(!__atomic_load_n(&sl_real_clone, __ATOMIC_ACQUIRE))) {
        int e = errno;
        int g = sl_guard_enter();
        void *p = dlsym(RTLD_NEXT, "clone");
        sl_guard_leave(g);
        if (!p)
            sl_fatal("cannot find the real 'clone'");
        __atomic_store_n(&sl_real_clone, p, __ATOMIC_RELEASE);
        errno = e;
    }
    return sl_real_clone(fn, stack, flags, arg, ptid, tls, ctid);
}

/* A tracked stream socket classified by its first use (sl_slot_class). */
static void sl_track_classified(const struct sl_class *c)
{
    atomic_fetch_add_explicit(&sl_count_sockets, 1, memory_order_relaxed);
    if (c->flags & SL_F_INET) {
        if (c->domain == AF_INET6)
            sl_sweep_note_inet6();
        sl_sweep_arm();
    }
}

/* The classification of fd, classified now if need be (see sl_slot_class). */
static void sl_track_class(int fd, struct sl_slot *s, struct sl_class *c, uint32_t *gen,
                           int verify)
{
    if (sl_slot_class(fd, s, c, gen, verify))
        sl_track_classified(c);
}

/* Install a fresh object at fd with classification c. Counts tracked sockets. */
static void sl_track_install(int fd, const struct sl_class *c)
{
    struct sl_slot *s = c->flags ? sl_fdtable_get(fd) : sl_fdtable_peek(fd);
    if (!s)
        return;
    sl_slot_install(fd, s, c);
    if ((c->flags & (SL_F_STREAM | SL_F_NOTSOCK)) == SL_F_STREAM)
        atomic_fetch_add_explicit(&sl_count_sockets, 1, memory_order_relaxed);
}

/* New fds from socket/socketpair/accept: drop stale state, track streams.
 * Inside our own code (our own sockets, or a signal handler that interrupted
 * it on this thread) nothing is recorded: a stale slot left at that number
 * is caught by the inode check before any finding. */
static void sl_track_created(const int *fds, int n, struct sl_class c)
{
    if (sl_in_lib)
        return;
    int g = sl_guard_enter();
    c.flags &= SL_CLASS_BITS;
    if ((c.flags & (SL_F_STREAM | SL_F_NOTSOCK)) == SL_F_STREAM) {
        sl_init_all();
        c.open_stack = sl_stack_capture();
    }
    /* No inode yet: it is taken when first needed (end-of-stream, the
     * sweep), so a connection costs no system call of ours before then. */
    c.inode = 0;
    for (int i = 0; i < n; i++)
        sl_track_install(fds[i], &c);
    if ((c.flags & (SL_F_INET | SL_F_NOTSOCK)) == SL_F_INET) {
        if (c.domain == AF_INET6)
            sl_sweep_note_inet6();
        sl_sweep_arm();
    }
    sl_guard_leave(g);
}

int sl_socket(int domain, int type, int proto)
{
    SL_ENSURE(socket);
    int r = sl_real.socket(domain, type, proto);
    if (r >= 0) {
        int e = errno;
        sl_track_created(&r, 1, sl_class_for(domain, type));
        errno = e;
    }
    return r;
}

int sl_socketpair(int domain, int type, int proto, int sv[2])
{
    SL_ENSURE(socketpair);
    int r = sl_real.socketpair(domain, type, proto, sv);
    if (r == 0) {
        int e = errno;
        sl_track_created(sv, 2, sl_class_for(domain, type));
        errno = e;
    }
    return r;
}

/* An accepted socket has the listener's domain and type. */
static void sl_track_accepted(int lfd, int fd)
{
    struct sl_class c = {0};
    if (sl_in_lib)
        return;
    struct sl_slot *ls = sl_fdtable_get(lfd);
    uint32_t gen;
    if (ls) {
        int g = sl_guard_enter();
        sl_init_all();
        sl_track_class(lfd, ls, &c, &gen, 0);
        sl_guard_leave(g);
    }
    c.flags = (c.flags & SL_F_SOCKET) ? sl_class_for(c.domain, c.type).flags : 0;
    c.inode = 0;
    c.listen_stack = c.open_stack;
    c.open_stack = 0;
    sl_track_created(&fd, 1, c);
}

int sl_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    SL_ENSURE(accept);
    int r = sl_real.accept(fd, sa, len);
    if (r >= 0) {
        int e = errno;
        sl_track_accepted(fd, r);
        errno = e;
    }
    return r;
}

int sl_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    SL_ENSURE(accept4);
    int r = sl_real.accept4(fd, sa, len, flags);
    if (r >= 0) {
        int e = errno;
        sl_track_accepted(fd, r);
        errno = e;
    }
    return r;
}

/* connect names the code that made the connection: refresh open_stack. */
int sl_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    SL_ENSURE(connect);
    int r = sl_real.connect(fd, sa, len);
    int e = errno;
    if ((r == 0 || e == EINPROGRESS) && !sl_in_lib) {
        struct sl_slot *s = sl_fdtable_get(fd);
        if (s) {
            int g = sl_guard_enter();
            sl_init_all();
            struct sl_class c;
            uint32_t gen;
            sl_track_class(fd, s, &c, &gen, 0);
            if ((c.flags & (SL_F_STREAM | SL_F_NOTSOCK | SL_F_EOF)) == SL_F_STREAM) {
                sl_slot_set_open_stack(fd, s, gen, sl_stack_capture());
            }
            sl_guard_leave(g);
        }
    }
    errno = e;
    return r;
}

int sl_track_open_stack(int fd, uint32_t *stack, uint32_t *gen)
{
    struct sl_slot *s = sl_fdtable_get(fd);
    if (!s)
        return 0;
    struct sl_class c;
    sl_track_class(fd, s, &c, gen, 1);
    if ((c.flags & (SL_F_STREAM | SL_F_NOTSOCK)) != SL_F_STREAM)
        return 0;
    *stack = c.open_stack;
    return 1;
}

void sl_track_set_open_stack(int fd, uint32_t gen, uint32_t stack)
{
    struct sl_slot *s = sl_fdtable_get(fd);
    if (s)
        sl_slot_set_open_stack(fd, s, gen, stack);
}

void sl_on_eof(int fd)
{
    if (sl_in_lib)
        return;
    struct sl_slot *s = sl_fdtable_peek(fd);
    if (s) {
        uint32_t f = atomic_load_explicit(&s->flags, memory_order_relaxed);
        if ((f & SL_F_KNOWN) && (f & (SL_F_NOTSOCK | SL_F_EOF | SL_F_INHERITED | SL_F_SHUT_RD)))
            return;
    }
    int g = sl_guard_enter();
    sl_init_all();
    s = sl_fdtable_get(fd);
    if (!s)
        goto out;
    struct sl_class c;
    uint32_t gen;
    sl_track_class(fd, s, &c, &gen, 1);
    const uint32_t skip = SL_F_NOTSOCK | SL_F_EOF | SL_F_INHERITED | SL_F_SHUT_RD;
    if (!(c.flags & SL_F_STREAM) || (c.flags & skip))
        goto out;
    struct sl_eof eof = {.inode = c.inode, .stack = sl_stack_capture(), .now_ns = sl_now_ns()};
    int scheduled = sl_slot_mark_eof(fd, s, gen, &eof);
    if (scheduled) {
        atomic_fetch_add_explicit(&sl_count_eof, 1, memory_order_relaxed);
        sl_reaper_schedule(fd, gen, eof.now_ns + (int64_t)sl_opt.deadline_ms * 1000000);
        /* The log's fd is made here, on the program's thread, long before
         * the reaper writes to it (never on the reaper: see log.h). */
        sl_log_reserve();
    }
out:
    sl_guard_leave(g);
}

/* The slow half of a hook reached before its real function is bound (from
 * another library's constructor): out of line, cold, and reached by a tail
 * call, so the hook's hot path keeps alive only the arguments it needs after
 * the real call. */
#define SL_UNBOUND(ret, fn, params, args)                                                           \
    static __attribute__((noinline, cold)) ret sl_##fn##_unbound params                            \
    {                                                                                              \
        SL_ENSURE(fn);                                                                             \
        return sl_##fn args;                                                                       \
    }

/* Out of line and cold, so that a read hook stays a call, a compare and a
 * return: inlined, this path made every read save registers it never uses. */
static __attribute__((noinline, cold)) void sl_after_eof_read(int fd)
{
    int e = errno;
    sl_on_eof(fd);
    errno = e;
}

#define SL_AFTER_READ(fd, r, wanted)                                                               \
    do {                                                                                           \
        if (SL_UNLIKELY((r) == 0 && (wanted) != 0))                                                \
            sl_after_eof_read(fd);                                                                 \
    } while (0)

static size_t sl_iov_len(const struct iovec *iov, int cnt)
{
    size_t n = 0;
    for (int i = 0; iov && i < cnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* A read-type hook: one compare after the real call; end-of-stream (0 for
 * a non-zero length) goes to the cold path. */
#define SL_READ_HOOK(ret, fn, params, args, opt)                                                   \
    SL_UNBOUND(ret, fn, params, args)                                                              \
    ret sl_##fn params                                                                             \
    {                                                                                              \
        if (SL_UNLIKELY(!sl_real.fn))                                                              \
            return sl_##fn##_unbound args;                                                         \
        if (SL_UNLIKELY(n == 0)) /* no end-of-stream in a zero-length read */                      \
            return sl_real.fn args;                                                                \
        ret r = sl_real.fn args;                                                                   \
        SL_NOTE_READ(fd);                                                                          \
        if (SL_UNLIKELY(r == 0))                                                                   \
            sl_after_eof_read(fd);                                                                 \
        return r;                                                                                  \
    }
SL_HOOKS_READ(SL_READ_HOOK)
#undef SL_READ_HOOK

SL_UNBOUND(ssize_t, recvmsg, (int fd, struct msghdr *msg, int flags), (fd, msg, flags))

ssize_t sl_recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (SL_UNLIKELY(!sl_real.recvmsg))
        return sl_recvmsg_unbound(fd, msg, flags);
    ssize_t r = sl_real.recvmsg(fd, msg, flags);
    SL_NOTE_READ(fd);
    /* MSG_ERRQUEUE returns 0 with control data on a live socket. */
    if (SL_UNLIKELY(r == 0) && !(flags & MSG_ERRQUEUE))
        SL_AFTER_READ(fd, r, msg ? sl_iov_len(msg->msg_iov, (int)msg->msg_iovlen) : 0);
    return r;
}

/* At end-of-stream a stream socket fills an entry with msg_len 0 (the call
 * returns >= 1); only an entry that asked for bytes is end-of-stream. */
SL_UNBOUND(int, recvmmsg,
           (int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *tmo),
           (fd, vec, vlen, flags, tmo))

int sl_recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *tmo)
{
    if (SL_UNLIKELY(!sl_real.recvmmsg))
        return sl_recvmmsg_unbound(fd, vec, vlen, flags, tmo);
    int r = sl_real.recvmmsg(fd, vec, vlen, flags, tmo);
    SL_NOTE_READ(fd);
    if (r > 0 && !(flags & MSG_ERRQUEUE)) {
        for (int i = 0; i < r; i++) {
            if (SL_UNLIKELY(vec[i].msg_len == 0) &&
                sl_iov_len(vec[i].msg_hdr.msg_iov, (int)vec[i].msg_hdr.msg_iovlen) != 0) {
                int e = errno;
                sl_on_eof(fd);
                errno = e;
                break;
            }
        }
    }
    return r;
}

SL_UNBOUND(ssize_t, readv, (int fd, const struct iovec *iov, int cnt), (fd, iov, cnt))

ssize_t sl_readv(int fd, const struct iovec *iov, int cnt)
{
    if (SL_UNLIKELY(!sl_real.readv))
        return sl_readv_unbound(fd, iov, cnt);
    ssize_t r = sl_real.readv(fd, iov, cnt);
    SL_NOTE_READ(fd);
    if (SL_UNLIKELY(r == 0))
        SL_AFTER_READ(fd, r, sl_iov_len(iov, cnt));
    return r;
}

/* A send after EOF moves the deadline (half-open use). */
static inline void sl_after_send(int fd, ssize_t r)
{
    if (r <= 0)
        return;
    struct sl_slot *s = sl_fdtable_peek(fd);
    if (SL_UNLIKELY(s && (atomic_load_explicit(&s->flags, memory_order_relaxed) & SL_F_EOF))) {
        int e = errno;
        atomic_store_explicit(&s->last_send_ns, sl_now_ns(), memory_order_relaxed);
        errno = e;
    }
}

/* A send-type hook: straight on to libc (a tail call, no frame of its own)
 * unless fd may have read end-of-stream (sl_fd_maybe_eof, one byte) or the
 * real function is not bound yet; its slow half handles both. */
#define SL_SEND_HOOK(ret, fn, params, args, opt)                                                   \
    static __attribute__((noinline, cold)) ret sl_##fn##_slow params                               \
    {                                                                                              \
        SL_ENSURE(fn);                                                                             \
        ret r = sl_real.fn args;                                                                   \
        sl_after_send(fd, r);                                                                      \
        return r;                                                                                  \
    }                                                                                              \
    ret sl_##fn params                                                                             \
    {                                                                                              \
        __typeof__(sl_real.fn) real = sl_real.fn;                                                  \
        if (SL_UNLIKELY(!real || sl_fd_maybe_eof(fd)))                                             \
            return sl_##fn##_slow args;                                                            \
        return real args;                                                                          \
    }
SL_HOOKS_SEND(SL_SEND_HOOK)
#undef SL_SEND_HOOK

ssize_t sl_sendfile(int out, int in, off_t *off, size_t n)
{
    SL_ENSURE(sendfile);
    ssize_t r = sl_real.sendfile(out, in, off, n);
    sl_after_send(out, r);
    return r;
}

ssize_t sl_splice(int in, loff_t *in_off, int out, loff_t *out_off, size_t n, unsigned int flags)
{
    SL_ENSURE(splice);
    ssize_t r = sl_real.splice(in, in_off, out, out_off, n, flags);
    SL_NOTE_READ(in);
    sl_after_send(out, r);
    SL_AFTER_READ(in, r, n);
    return r;
}

pid_t sl_fork(void)
{
    SL_ENSURE(fork);
    uint32_t stack = sl_sweep_before_fork();
    pid_t parent = (pid_t)sl_pid;
    pid_t pid = sl_real.fork();
    if (pid == 0)
        sl_sweep_after_fork_child(stack, parent);
    return pid;
}

int sl_shutdown(int fd, int how)
{
    SL_ENSURE(shutdown);
    int r = sl_real.shutdown(fd, how);
    if (r == 0) {
        uint32_t bits = 0;
        if (how == SHUT_WR || how == SHUT_RDWR)
            bits |= SL_F_SHUT_WR;
        if (how == SHUT_RD || how == SHUT_RDWR)
            bits |= SL_F_SHUT_RD;
        /* Recorded even on an fd not yet classified: a later 0 read after
         * SHUT_RD must not count as end-of-stream. */
        struct sl_slot *s = bits && !sl_in_lib ? sl_fdtable_get(fd) : NULL;
        if (s) {
            int e = errno;
            int g = sl_guard_enter();
            sl_slot_add_flags(fd, s, bits);
            sl_guard_leave(g);
            errno = e;
        }
    }
    return r;
}

/* The slot of an fd about to be closed (or replaced) ends now, before the
 * real call, since another thread may get the same number as soon as it
 * returns. A reported socket gets its "closed" record. */
static void sl_track_close_slot(int fd, struct sl_slot *s)
{
    int e = errno;
    int g = sl_guard_enter();
    int64_t held_ms;
    uint32_t id = sl_slot_end(fd, s, &held_ms);
    if (id) {
        sl_log_reserve(); /* the program's thread: the log may be remade here */
        sl_log_closed(id, fd, held_ms);
    }
    sl_guard_leave(g);
    errno = e;
}

/* Inside our own code (a signal handler on a thread in a locked section)
 * the slot is left as it is: the inode check catches it later. */
static void sl_track_close(int fd)
{
    struct sl_slot *s = sl_fdtable_peek(fd);
    if (!s || !atomic_load_explicit(&s->flags, memory_order_relaxed) || sl_in_lib)
        return;
    if (SL_UNLIKELY(sl_in_vfork_child()))
        return;
    sl_track_close_slot(fd, s);
}

static void sl_range_close_slot(int fd, struct sl_slot *s, void *arg)
{
    (void)arg;
    if (atomic_load_explicit(&s->flags, memory_order_relaxed))
        sl_track_close_slot(fd, s);
}

/* Every fd in [first, last] is about to be closed. Costs one pass over the
 * chunks that exist, whatever the width of the range. */
void sl_track_close_range(unsigned int first, unsigned int last)
{
    if (first > last || first > (unsigned int)INT_MAX || sl_in_lib)
        return;
    int hi = last > (unsigned int)INT_MAX ? INT_MAX : (int)last;
    int e = errno;
    if (!sl_in_vfork_child())
        sl_fdtable_foreach_range((int)first, hi, sl_range_close_slot, NULL);
    errno = e;
}

int sl_close(int fd)
{
    SL_ENSURE(close);
    /* Our log fd looks closed to the program, exactly as without us. */
    if (SL_UNLIKELY(sl_log_owns_fd(fd))) {
        errno = EBADF;
        return -1;
    }
    sl_track_close(fd);
    return sl_real.close(fd);
}

long sl_syscall_close(long nr, long fd)
{
    SL_ENSURE(syscall);
    if (SL_UNLIKELY(sl_log_owns_fd((int)fd))) {
        errno = EBADF;
        return -1;
    }
    sl_track_close((int)fd);
    return sl_real.syscall(nr, fd);
}

long sl_syscall_slow(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    SL_ENSURE(syscall);
    if (nr == SYS_close)
        return sl_syscall_close(nr, a0);
    if (nr == SYS_write && (int)a0 == SL_UNW_PIPE_W) /* an int, passed as one */
        return sl_ownfd_validate((const void *)a1);
    return sl_real.syscall(nr, a0, a1, a2, a3, a4, a5);
}

/* The real close_range over [first, last] without our own fds (ascending). */
static int sl_close_range_around(unsigned int first, unsigned int last, int flags, const int *own,
                                 int n)
{
    unsigned int lo = first;
    for (int i = 0; i < n; i++) {
        unsigned int o = (unsigned int)own[i];
        if (o < lo || o > last)
            continue;
        if (o > lo) {
            int r = sl_real.close_range(lo, o - 1, flags);
            if (r != 0)
                return r;
        }
        if (o == last)
            return 0;
        lo = o + 1;
    }
    return sl_real.close_range(lo, last, flags);
}

/* close_range(first, last, flags): CLOSE_RANGE_CLOEXEC closes nothing now
 * (the slots end with the image at exec); unknown flags fail with EINVAL
 * and close nothing. Our own fds (log, output directory) are left out of the
 * range: they are close-on-exec and the close hooks report them closed too. */
int sl_close_range(unsigned int first, unsigned int last, int flags)
{
    SL_ENSURE(close_range);
    if (first > last || (flags & ~CLOSE_RANGE_UNSHARE))
        return sl_real.close_range(first, last, flags);
    int e = errno;
    sl_track_close_range(first, last);
    int own[SL_LOG_OWN_FDS];
    int n = sl_log_own_fds(own);
    errno = e;
    return sl_close_range_around(first, last, flags, own, n);
}

void sl_closefrom(int lowfd)
{
    SL_ENSURE(closefrom);
    int e = errno;
    unsigned int lo = lowfd < 0 ? 0 : (unsigned int)lowfd;
    sl_track_close_range(lo, ~0U);
    int own[SL_LOG_OWN_FDS];
    int n = sl_log_own_fds(own);
    errno = e;
    if (n > 0 && own[n - 1] >= (int)lo && sl_real.close_range &&
        sl_close_range_around(lo, ~0U, 0, own, n) == 0) {
        errno = e;
        return;
    }
    /* No close_range (old kernel): glibc's own fallback, our fds included;
     * the log reopens itself by path on its next record. */
    errno = e;
    sl_real.closefrom(lowfd);
}

/* newfd now refers to oldfd's object: same classification, no EOF state.
 * Guard set. */
static void sl_track_dup_guarded(int oldfd, int newfd)
{
    struct sl_class c = {0};
    struct sl_slot *s = sl_fdtable_peek(oldfd);
    if (s) {
        uint32_t gen;
        sl_slot_snapshot(oldfd, s, &c, &gen);
        if (!(c.flags & SL_F_KNOWN))
            c = (struct sl_class){0};
    }
    c.flags &= SL_CLASS_BITS;
    struct sl_slot *n = c.flags ? sl_fdtable_get(newfd) : sl_fdtable_peek(newfd);
    if (!n)
        return;
    if ((c.flags || atomic_load_explicit(&n->flags, memory_order_relaxed)) &&
        SL_UNLIKELY(sl_in_vfork_child()))
        return;
    sl_slot_install(newfd, n, &c);
}

static void sl_track_dup(int oldfd, int newfd)
{
    if (sl_in_lib)
        return;
    int g = sl_guard_enter();
    sl_track_dup_guarded(oldfd, newfd);
    sl_guard_leave(g);
}

/* Our own fds are not open, as far as the program can tell. */
static int sl_own_ebadf(int fd)
{
    if (SL_LIKELY(!sl_log_owns_fd(fd)))
        return 0;
    errno = EBADF;
    return 1;
}

int sl_dup(int fd)
{
    SL_ENSURE(dup);
    if (SL_UNLIKELY(sl_own_ebadf(fd)))
        return -1;
    int r = sl_real.dup(fd);
    if (r >= 0) {
        int e = errno;
        sl_track_dup(fd, r);
        errno = e;
    }
    return r;
}

/* dup2/dup3 close whatever was at fd2 (Java NIO closes sockets this way).
 * Its slot ends only once the call succeeded: a failing call (bad source
 * fd, bad flags) leaves the socket open, and its end-of-stream must still be
 * reported. fd2 stays open throughout, so no other thread can be handed
 * that number in between. Our own fd at fd2 is forgotten first (reopened on
 * the next record if the call then fails). */
static void sl_before_dup_over(int fd, int fd2)
{
    if (fd != fd2 && SL_UNLIKELY(sl_log_owns_fd(fd2)) && !sl_in_lib && !sl_in_vfork_child()) {
        int g = sl_guard_enter();
        sl_log_evict(fd2);
        sl_guard_leave(g);
    }
}

static void sl_after_dup_over(int fd, int fd2)
{
    int e = errno;
    if (fd != fd2) {
        sl_track_close(fd2);
        sl_track_dup(fd, fd2);
    }
    errno = e;
}

int sl_dup2(int fd, int fd2)
{
    SL_ENSURE(dup2);
    if (SL_UNLIKELY(sl_own_ebadf(fd)))
        return -1;
    sl_before_dup_over(fd, fd2);
    int r = sl_real.dup2(fd, fd2);
    if (r >= 0)
        sl_after_dup_over(fd, r);
    return r;
}

int sl_dup3(int fd, int fd2, int flags)
{
    SL_ENSURE(dup3);
    if (SL_UNLIKELY(sl_own_ebadf(fd)))
        return -1;
    sl_before_dup_over(fd, fd2);
    int r = sl_real.dup3(fd, fd2, flags);
    if (r >= 0)
        sl_after_dup_over(fd, r);
    return r;
}

/* F_DUPFD(n) that skipped our fd, or failed for want of it, where the
 * program would have got its number: ours moves away, the call is made
 * again. Only an fd below the limit (no room above it) can be in the way. */
static int sl_dupfd_again(int (*fn)(int, int, ...), int fd, int cmd, void *arg, int r)
{
    int e = errno;
    int own = sl_in_lib ? -1 : sl_log_own_in_way((long)(intptr_t)arg);
    if (SL_LIKELY(own < 0) || (r >= 0 && r < own) || (r < 0 && e != EMFILE)) {
        errno = e;
        return r;
    }
    if (r >= 0)
        sl_real.close(r);
    int g = sl_guard_enter();
    sl_log_evict(own);
    sl_guard_leave(g);
    return fn(fd, cmd, arg);
}

int sl_fcntl(int fd, int cmd, void *arg, int use64)
{
    SL_ENSURE(fcntl);
    if (SL_UNLIKELY(sl_own_ebadf(fd)))
        return -1;
    if (use64 && SL_UNLIKELY(!sl_real.fcntl64))
        sl_real_bind_one((void **)&sl_real.fcntl64, "fcntl64", sl_real_optional_fcntl64);
    int (*fn)(int, int, ...) = use64 && sl_real.fcntl64 ? sl_real.fcntl64 : sl_real.fcntl;
    int r = fn(fd, cmd, arg);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        r = sl_dupfd_again(fn, fd, cmd, arg, r);
    if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) {
        int e = errno;
        sl_track_dup(fd, r);
        errno = e;
    }
    return r;
}

int sl_fclose(FILE *fp)
{
    SL_ENSURE(fclose);
    if (fp) {
        /* fclose closes the fd even when it fails: end the slot first. */
        int e = errno;
        int fd = fileno(fp);
        errno = e;
        if (fd >= 0)
            sl_track_close(fd);
    }
    return sl_real.fclose(fp);
}

/* libunwind (1.6) opens a pipe at its first unwind and keeps it for good:
 * it validates an address by write(2)-ing one byte from it into the pipe.
 * It gets two never-valid numbers instead; its write comes through our
 * syscall() and is answered by sl_ownfd_validate, its read and close of
 * them fail with EBADF (after which it simply asks for a pipe again). So
 * no fd is held for it at all. */
int sl_pipe2(int fds[2], int flags, const void *caller)
{
    SL_ENSURE(pipe2);
    if (SL_UNLIKELY(flags == (O_CLOEXEC | O_NONBLOCK)) &&
        (sl_in_lib || sl_stack_is_unwinder(caller))) {
        fds[0] = SL_UNW_PIPE_R;
        fds[1] = SL_UNW_PIPE_W;
        return 0;
    }
    return sl_real.pipe2(fds, flags);
}

/* The program changed its fd limit: our fds leave its new range. */
static void sl_after_limit_change(void)
{
    int e = errno;
    int g = sl_guard_enter();
    sl_log_follow_limit();
    sl_guard_leave(g);
    errno = e;
}

/* Bind only, no sl_init: sanitizer runtimes set limits (RLIMIT_CORE) while
 * they initialise, before our options can be parsed with their interceptors
 * ready. Only a change of the fd limit concerns us. */
static void sl_bind_only(void *const *fn, const char *name)
{
    if (SL_UNLIKELY(!*fn)) {
        sl_real_init();
        if (!*fn)
            sl_fatal("the real %s is not available in this libc", name);
    }
}

int sl_setrlimit(__rlimit_resource_t res, const struct rlimit *rl)
{
    sl_bind_only((void *const *)&sl_real.setrlimit, "setrlimit");
    int r = sl_real.setrlimit(res, rl);
    if (r == 0 && res == RLIMIT_NOFILE && !sl_in_lib)
        sl_after_limit_change();
    return r;
}

int sl_prlimit64(pid_t pid, __rlimit_resource_t res, const struct rlimit64 *rl,
               struct rlimit64 *old)
{
    sl_bind_only((void *const *)&sl_real.prlimit64, "prlimit64");
    int r = sl_real.prlimit64(pid, res, rl, old);
    if (r == 0 && rl && res == RLIMIT_NOFILE && !sl_in_lib &&
        (pid == 0 || pid == (pid_t)sl_real.syscall(SYS_getpid)))
        sl_after_limit_change();
    return r;
}

/* Before the program gives up the right to reach the output directory (a
 * worker dropping to an unprivileged user, a chroot): its log is made now
 * (as root) and the directory held open (see log.h). libunwind and the
 * module map (paths from /proc) are loaded now too, while the files can be
 * reached. Not in a vfork child: our state there is the parent's, its fd
 * table is not. */
static void sl_before_identity_change(void)
{
    if (sl_in_lib || sl_in_vfork_child())
        return;
    int e = errno;
    int g = sl_guard_enter();
    sl_init_all();
    sl_stack_prime();
    sl_log_before_identity_change();
    sl_guard_leave(g);
    errno = e;
}

#define SL_IDENTITY_HOOK(ret, name, params, args, opt)                                             \
    ret sl_##name params                                                                           \
    {                                                                                              \
        SL_ENSURE(name);                                                                           \
        sl_before_identity_change();                                                               \
        return sl_real.name args;                                                                  \
    }
SL_HOOKS_IDENTITY(SL_IDENTITY_HOOK)
#undef SL_IDENTITY_HOOK

/* In the child every socket is a copy: an end-of-stream read before the
 * fork is the parent's to report (SL_F_INHERITED), and a copy left in
 * CLOSE_WAIT is this process's (SL_F_FORKED, close_wait_inherited). */
static void sl_fork_child_slot(int fd, struct sl_slot *s, void *arg)
{
    (void)fd;
    (void)arg;
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_relaxed);
    if (!(f & SL_F_KNOWN))
        return;
    uint32_t add = (f & SL_F_EOF) ? SL_F_INHERITED : 0;
    if ((f & (SL_F_INET | SL_F_NOTSOCK)) == SL_F_INET)
        add |= SL_F_FORKED;
    atomic_store(&s->flags, (f | add) & ~(uint32_t)SL_F_REPORTED);
    s->finding_id = 0;
    s->reported_ns = 0;
    s->cw_since_ns = 0;
}

void sl_track_fork_child(void)
{
    sl_fdtable_foreach(sl_fork_child_slot, NULL);
}

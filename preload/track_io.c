/* Reads and sends. A read hook's hot path is the real call, one compare of
 * its caller with the last read's on the fd (a change goes to
 * sl_read_site: the new site is stored, and a TCP socket's stack captured
 * there once) and one compare of the result: a 0 result for a non-zero
 * length (end-of-stream) goes to sl_on_eof, which marks the slot and
 * schedules its deadline. A send hook goes straight on to libc unless fd
 * read end-of-stream (a send then moves the deadline: half-open use). */
#include <errno.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include "fdtable.h"
#include "log.h"
#include "ownfd.h"
#include "options.h"
#include "real.h"
#include "reaper.h"
#include "stack.h"
#include "track.h"
#include "track_int.h"

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
        /* A blocking socket: the program may next block where no wait is capped. */
        if (SL_SCHED_ACTIVE())
            sl_track_before_block(fd);
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

/* A read on fd from pc, a place other than the last read's: pc is the last
 * read's site from now on. On a TCP socket the sweep may report
 * (close_wait_unread), the first read from each place captures the stack
 * once (capture: the read was not end-of-stream, whose own stack the
 * deadline reports): the "last read" stack of its finding. A socket keeps
 * the stacks of two places, so a loop reading from two places alternately
 * captures nothing after its first round. */
static __attribute__((noinline, cold)) void sl_read_capture(int fd, struct sl_slot *s, uintptr_t pc)
{
    if (sl_in_vfork_child())
        return;
    int e = errno;
    int g = sl_guard_enter();
    uint32_t gen;
    if (sl_slot_read_room(fd, s, &gen)) {
        uint32_t stack = sl_stack_capture();
        if (stack)
            sl_slot_add_read_site(fd, s, gen, pc, stack);
    }
    sl_guard_leave(g);
    errno = e;
}

/* fd's last read is from pc from now on; on a TCP socket not read from pc
 * before, pc's stack is captured (sl_read_capture, a tail call: a read
 * alternating between two places known already saves no register). */
static inline void sl_read_site_at(int fd, uintptr_t pc)
{
    SL_READ_PC_AT(fd) = pc;
    if (sl_in_lib)
        return;
    struct sl_slot *s = sl_fdtable_peek(fd);
    if (!s)
        return;
    uint32_t f = atomic_load_explicit(&s->flags, memory_order_relaxed);
    if ((f & (SL_F_INET | SL_F_NOTSOCK | SL_F_EOF)) != SL_F_INET || sl_slot_read_site_known(s, pc))
        return;
    sl_read_capture(fd, s, pc);
}

/* A read-type hook's cold ends, reached by tail calls that return the
 * read's result, so the hot path keeps nothing alive across them: a read
 * from a new place (end-of-stream's own stack is the deadline's, so that
 * read captures no other), and end-of-stream. */
static __attribute__((noinline, cold)) ssize_t sl_read_new_site(int fd, ssize_t r, uintptr_t pc)
{
    if (r == 0) {
        SL_READ_PC_AT(fd) = pc;
        sl_after_eof_read(fd);
        return 0;
    }
    sl_read_site_at(fd, pc);
    return r;
}

static __attribute__((noinline, cold)) ssize_t sl_read_eof(int fd)
{
    sl_after_eof_read(fd);
    return 0;
}

/* A read that is not a read-type hook's (SL_NOTE_READ) from a new place:
 * capture when it was not end-of-stream. */
static __attribute__((noinline, cold)) void sl_read_site(int fd, uintptr_t pc, int capture)
{
    if (capture)
        sl_read_site_at(fd, pc);
    else
        SL_READ_PC_AT(fd) = pc;
}

/* The read of a hook written by hand (recvmsg, readv...) on fd returned r:
 * its site, when it changed. */
#define SL_NOTE_READ(fd, r)                                                                        \
    do {                                                                                           \
        uintptr_t pc_ = (uintptr_t)__builtin_return_address(0);                                    \
        if (SL_READ_SITE_NEW(fd, pc_))                                                             \
            sl_read_site(fd, pc_, (r) != 0);                                                       \
    } while (0)

static size_t sl_iov_len(const struct iovec *iov, int cnt)
{
    size_t n = 0;
    for (int i = 0; iov && i < cnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* A read-type hook: two compares after the real call (the site, the
 * result); a new site and end-of-stream (0 for a non-zero length) go to
 * the cold paths. */
#define SL_READ_HOOK(ret, fn, params, args, opt)                                                   \
    SL_UNBOUND(ret, fn, params, args)                                                              \
    ret sl_##fn params                                                                             \
    {                                                                                              \
        if (SL_UNLIKELY(!sl_real.fn))                                                              \
            return sl_##fn##_unbound args;                                                         \
        if (SL_UNLIKELY(n == 0)) /* no end-of-stream in a zero-length read */                      \
            return sl_real.fn args;                                                                \
        ret r = sl_real.fn args;                                                                   \
        uintptr_t pc = (uintptr_t)__builtin_return_address(0);                                     \
        if (SL_READ_SITE_NEW(fd, pc))                                                              \
            return sl_read_new_site(fd, r, pc);                                                    \
        if (SL_UNLIKELY(r == 0))                                                                   \
            return sl_read_eof(fd);                                                                \
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
    SL_NOTE_READ(fd, r);
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
    SL_NOTE_READ(fd, r);
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
    SL_NOTE_READ(fd, r);
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

/* libunwind checks that an address is readable by writing a byte from it
 * into a pipe, and gets two never-valid numbers for that pipe (sl_pipe2).
 * x86-64's libunwind 1.6 writes through syscall(); aarch64's through
 * write() itself, which lands here (a negative fd takes the slow half):
 * answered as the kernel would answer, 1 or EFAULT. The other send calls
 * reach libc and fail with EBADF, as on any unknown number. */
#define SL_UNW_PIPE_write(fd, buf, n)                                                              \
    if (SL_UNLIKELY((fd) == SL_UNW_PIPE_W))                                                        \
        return (n) == 1 ? sl_ownfd_validate(buf) : (errno = EBADF, -1);
#define SL_UNW_PIPE_send(...)
#define SL_UNW_PIPE_sendto(...)
#define SL_UNW_PIPE_sendmsg(...)
#define SL_UNW_PIPE_writev(...)

/* A send-type hook: straight on to libc (a tail call, no frame of its own)
 * unless fd may have read end-of-stream (sl_fd_maybe_eof, one byte) or the
 * real function is not bound yet; its slow half handles both. */
#define SL_SEND_HOOK(ret, fn, params, args, opt)                                                   \
    static __attribute__((noinline, cold)) ret sl_##fn##_slow params                               \
    {                                                                                              \
        SL_ENSURE(fn);                                                                             \
        SL_UNW_PIPE_##fn args                                                                      \
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
    SL_NOTE_READ(in, r);
    sl_after_send(out, r);
    SL_AFTER_READ(in, r, n);
    return r;
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

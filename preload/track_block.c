/* Blocking sockets in a single-threaded process: their calls are capped,
 * so the process keeps one thread.
 *
 * Once such a process uses a blocking stream socket while work of the
 * library's is pending (a blocking accept or connect, an accepted socket
 * left blocking, an end-of-stream on one, O_NONBLOCK cleared), a read or a
 * send on one could wait where no wait hook caps it. From then on the read
 * and send hooks' real functions (sl_real) are these watchers, the true
 * ones kept in sl_true: the hot path of a hook is unchanged, and a process
 * that never uses a blocking socket pays nothing. What a watcher found an
 * fd to be is noted apart (sl_blk_fd), so that the next call on it looks at
 * no slot: a read of a blocking socket is a function that makes the try
 * below and returns, and any call on an fd that is none goes to libc. On a
 * blocking stream socket (the slot's note, the kernel's answer once when
 * unknown) a watcher
 *   - reads with MSG_DONTWAIT: what a blocking read returns when it does
 *     not wait (the bytes there, end-of-stream, an error); would it wait,
 *     the capped wait (sl_track_block_wait) waits for the fd, then the
 *     caller's own call is made;
 *   - sends with MSG_DONTWAIT: all of it sent is what the blocking send
 *     returns; would it wait, the library's thread takes the work (a
 *     send that went in part returns at a signal, restarting or not, where
 *     a capped wait goes on): nothing sent, the caller's call follows; a
 *     part sent, the rest goes as the socket takes it (sl_send_rest).
 * Reads with MSG_WAITALL, recvmmsg, and writev, sendmsg, sendfile and
 * splice into a blocking socket make the thread, and so does an
 * SO_RCVLOWAT above 1 (or below 0) on any socket. libc's functions are
 * back whenever the process no longer caps its calls (sl_block_unwatch).
 * A socket given to stdio
 * (fdopen: its reads are libc's own, not hooked) makes it too. A read that
 * asks MSG_DONTWAIT, MSG_OOB or MSG_ERRQUEUE never waits. A connect on a
 * blocking socket is not capped: it waits at most the handshake's
 * retries. A process with another thread has the library's thread
 * instead. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "fdtable.h"
#include "hg.h"
#include "locks.h"
#include "options.h"
#include "rawsys.h"
#include "real.h"
#include "reaper.h"
#include "track.h"
#include "track_int.h"

/* The true functions behind the watchers. */
static struct {
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*read_chk)(int, void *, size_t, size_t);
    ssize_t (*recv_chk)(int, void *, size_t, size_t, int);
    ssize_t (*recvfrom_chk)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*readv)(int, const struct iovec *, int);
    int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*sendfile)(int, int, off_t *, size_t);
    ssize_t (*splice)(int, loff_t *, int, loff_t *, size_t, unsigned int);
} sl_true;
static int sl_watching;
/* A socket of this process's has an SO_RCVLOWAT above 1, which a read with
 * MSG_DONTWAIT does not heed: no watchers, the thread. */
static int sl_lowat_set;

/* Flags of a read that never waits: the caller's call. */
#define SL_READ_NOWAIT (MSG_DONTWAIT | MSG_OOB | MSG_ERRQUEUE)

/* fd is a stream socket in blocking mode, and a call on it is to be capped
 * now (a single-threaded process with work pending, outside the library).
 * What the slot's notes say, with no system call, is kept for the next
 * calls (sl_blk_fd): a socket to try at once, or an fd to pass, which
 * is answered first. */
static inline int sl_watched(int fd)
{
    if (sl_fd_blk(fd) == SL_BLK_PASS || !SL_SCHED_ACTIVE() || sl_in_lib)
        return 0;
    struct sl_slot *s = sl_fdtable_peek(fd);
    uint32_t f = s ? atomic_load_explicit(&s->flags, memory_order_relaxed) : 0;
    if (!(f & SL_F_KNOWN) || sl_in_vfork_child())
        return 0;
    if ((f & (SL_F_STREAM | SL_F_NOTSOCK)) != SL_F_STREAM ||
        (f & SL_NB_BITS) == (SL_F_NBSET | SL_F_NONBLOCK)) {
        sl_fd_set_blk(fd, SL_BLK_PASS);
        return 0;
    }
    if (!(f & SL_F_NBSET) && !sl_track_fd_blocking(fd))
        return 0;
    sl_fd_set_blk(fd, SL_BLK_TRY);
    return 1;
}

/* The thread takes the work when fd is watched: its next call may wait
 * where none is capped. */
static void sl_unwatched_call(int fd)
{
    if (sl_watched(fd))
        sl_reaper_blocking();
}

/* The tries go straight to the kernel: errno is the caller's until the
 * call fails. */
static inline long sl_try_recv(int fd, void *buf, size_t n, int flags, struct sockaddr *sa,
                               socklen_t *len)
{
    return sl_raw_syscall6(SYS_recvfrom, fd, (long)buf, (long)n, flags | MSG_DONTWAIT, (long)sa,
                           (long)len);
}

static inline long sl_try_send(int fd, const void *buf, size_t n, int flags,
                               const struct sockaddr *sa, socklen_t len)
{
    return sl_raw_syscall6(SYS_sendto, fd, (long)buf, (long)n, flags | MSG_DONTWAIT, (long)sa,
                           (long)len);
}

/* A read of a watched socket: TRY, the same read with MSG_DONTWAIT (the
 * result or -errno), is what the call returns unless it would wait
 * (EAGAIN); then the capped wait, and CALL, the caller's own. ENOTSOCK:
 * the slot outlived its fd (closed behind our back), the caller's call
 * answers. */
#define SL_WATCHED_READ(fd, TRY, CALL)                                                             \
    do {                                                                                           \
        long r_ = TRY;                                                                             \
        if (r_ >= 0)                                                                               \
            return r_;                                                                             \
        if (r_ == -EAGAIN) {                                                                       \
            sl_track_block_wait(fd, POLLIN, SO_RCVTIMEO, 0);                                       \
        } else if (r_ != -ENOTSOCK) {                                                              \
            errno = (int)-r_;                                                                      \
            return -1;                                                                             \
        }                                                                                          \
        return CALL;                                                                               \
    } while (0)

/* A read with flags on fd is one to try first; MSG_WAITALL, which may
 * wait after a part, makes the thread. */
static inline int sl_read_plain(int fd, int flags)
{
    if (SL_LIKELY(!(flags & (SL_READ_NOWAIT | MSG_WAITALL))))
        return sl_watched(fd);
    if (!(flags & SL_READ_NOWAIT))
        sl_unwatched_call(fd);
    return 0;
}

/* The most a read or write takes at once (MAX_RW_COUNT, whatever the page
 * size). Above it the kernel's read and write check the whole range given
 * (EFAULT past the address space) where recvfrom and sendto check only
 * what they take: such a call is libc's, not capped. */
#define SL_RW_MAX ((size_t)INT_MAX & ~(size_t)0xffff)

/* A read of 0 bytes returns 0 at once (the kernel's read path says so
 * before it looks at the socket; a recv with MSG_DONTWAIT would not). */
static __attribute__((noinline)) ssize_t sl_w_read_full(int fd, void *buf, size_t n)
{
    if (n - 1 >= SL_RW_MAX || !sl_watched(fd))
        return sl_true.read(fd, buf, n);
    SL_WATCHED_READ(fd, sl_try_recv(fd, buf, n, 0, NULL, NULL), sl_true.read(fd, buf, n));
}

static __attribute__((noinline)) ssize_t sl_w_recv_full(int fd, void *buf, size_t n, int flags)
{
    if (!sl_read_plain(fd, flags))
        return sl_true.recv(fd, buf, n, flags);
    SL_WATCHED_READ(fd, sl_try_recv(fd, buf, n, flags, NULL, NULL),
                    sl_true.recv(fd, buf, n, flags));
}

static __attribute__((noinline)) ssize_t sl_w_recvfrom_full(int fd, void *buf, size_t n, int flags,
                                                            struct sockaddr *sa, socklen_t *len)
{
    if (!sl_read_plain(fd, flags))
        return sl_true.recvfrom(fd, buf, n, flags, sa, len);
    SL_WATCHED_READ(fd, sl_try_recv(fd, buf, n, flags, sa, len),
                    sl_true.recvfrom(fd, buf, n, flags, sa, len));
}

/* The fortified reads: an overflowing length goes to libc as it is (it
 * aborts there). */
static __attribute__((noinline)) ssize_t sl_w_read_chk_full(int fd, void *buf, size_t n,
                                                            size_t buflen)
{
    if (n - 1 >= SL_RW_MAX || n > buflen || !sl_watched(fd))
        return sl_true.read_chk(fd, buf, n, buflen);
    SL_WATCHED_READ(fd, sl_try_recv(fd, buf, n, 0, NULL, NULL),
                    sl_true.read_chk(fd, buf, n, buflen));
}

static __attribute__((noinline)) ssize_t sl_w_recv_chk_full(int fd, void *buf, size_t n,
                                                            size_t buflen, int flags)
{
    if (n > buflen || !sl_read_plain(fd, flags))
        return sl_true.recv_chk(fd, buf, n, buflen, flags);
    SL_WATCHED_READ(fd, sl_try_recv(fd, buf, n, flags, NULL, NULL),
                    sl_true.recv_chk(fd, buf, n, buflen, flags));
}

static __attribute__((noinline)) ssize_t sl_w_recvfrom_chk_full(int fd, void *buf, size_t n,
                                                                size_t buflen, int flags,
                                                                struct sockaddr *sa, socklen_t *len)
{
    if (n > buflen || !sl_read_plain(fd, flags))
        return sl_true.recvfrom_chk(fd, buf, n, buflen, flags, sa, len);
    SL_WATCHED_READ(fd, sl_try_recv(fd, buf, n, flags, sa, len),
                    sl_true.recvfrom_chk(fd, buf, n, buflen, flags, sa, len));
}

static __attribute__((noinline)) ssize_t sl_w_recvmsg_full(int fd, struct msghdr *msg, int flags)
{
    if (!sl_read_plain(fd, flags))
        return sl_true.recvmsg(fd, msg, flags);
    SL_WATCHED_READ(fd, sl_raw_syscall4(SYS_recvmsg, fd, (long)msg, flags | MSG_DONTWAIT, 0),
                    sl_true.recvmsg(fd, msg, flags));
}

static int sl_iov_bytes(const struct iovec *iov, int cnt)
{
    for (int i = 0; i < cnt; i++)
        if (iov[i].iov_len)
            return 1;
    return 0;
}

static ssize_t sl_w_readv(int fd, const struct iovec *iov, int cnt)
{
    if (cnt < 0 || cnt > UIO_MAXIOV || !sl_watched(fd))
        return sl_true.readv(fd, iov, cnt); /* EINVAL, where recvmsg says EMSGSIZE */
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
    long r = sl_raw_syscall4(SYS_recvmsg, fd, (long)&m, MSG_DONTWAIT, 0);
    /* EAGAIN: the kernel read the iovecs, so they may be read here. */
    if (r == -EAGAIN && !sl_iov_bytes(iov, cnt))
        return sl_true.readv(fd, iov, cnt); /* 0 bytes: 0 at once, as read */
    SL_WATCHED_READ(fd, r, sl_true.readv(fd, iov, cnt));
}

/* A read of a socket to try at once (sl_blk_fd) goes straight to its
 * try, in a function of its own that saves no register. That note is not
 * trusted further: on any fd, a read with MSG_DONTWAIT that does not say
 * EAGAIN or ENOTSOCK returns what the caller's read would. EAGAIN: the
 * capped wait when sl_watched says so (the process still capping, outside
 * the library), else the note is dropped (a process that stops capping
 * pays one more try per such socket); then the caller's call. ENOTSOCK
 * drops the note and goes to the whole watcher, which decides (and notes
 * again). An fd to pass goes straight to libc. */
static __attribute__((noinline, cold)) long sl_read_failed(long r)
{
    errno = (int)-r;
    return -1;
}

#define SL_HINTED_READ(name, params, args, HINTED, NR, N, A1, A2, A3, A4, A5, AGAIN)               \
    static __attribute__((noinline, cold)) ssize_t sl_w_##name##_again params                      \
    {                                                                                              \
        sl_fd_set_blk(fd, 0);                                                                      \
        return sl_w_##name##_full args;                                                            \
    }                                                                                              \
    static __attribute__((noinline, cold)) ssize_t sl_w_##name##_wait params                       \
    {                                                                                              \
        if (sl_watched(fd))                                                                        \
            sl_track_block_wait(fd, POLLIN, SO_RCVTIMEO, 0);                                       \
        else if (sl_fd_blk(fd) == SL_BLK_TRY)                                                      \
            sl_fd_set_blk(fd, 0);                                                                  \
        return sl_true.name args;                                                                  \
    }                                                                                              \
    static __attribute__((noinline)) ssize_t sl_w_##name##_other params                            \
    {                                                                                              \
        if (sl_fd_blk(fd) == SL_BLK_PASS)                                                          \
            return sl_true.name args;                                                              \
        return sl_w_##name##_full args;                                                            \
    }                                                                                              \
    static ssize_t sl_w_##name params                                                              \
    {                                                                                              \
        if (HINTED) {                                                                              \
            int fd_ = fd;                                                                          \
            long a_[5] = {(long)(A1), (long)(A2), (long)(A3), (long)(A4), (long)(A5)};             \
            long r_ = sl_raw_syscall_fd_kept(NR, &fd_, N, a_);                                     \
            if (SL_LIKELY(r_ >= 0))                                                                \
                return r_;                                                                         \
            if (r_ == -EAGAIN)                                                                     \
                return sl_w_##name##_wait AGAIN;                                                   \
            if (r_ != -ENOTSOCK)                                                                   \
                return sl_read_failed(r_);                                                         \
            return sl_w_##name##_again AGAIN;                                                      \
        }                                                                                          \
        return sl_w_##name##_other args;                                                           \
    }

/* fd's read is tried at once. */
#define SL_TRIED_AT(fd) (sl_fd_blk(fd) == SL_BLK_TRY)
/* Flags that a watcher tries (sl_read_plain's). */
#define SL_READ_TRIED(flags) SL_LIKELY(!((flags) & (SL_READ_NOWAIT | MSG_WAITALL)))
/* The arguments again, from the try's (AGAIN). */
#define SL_A_FD fd_
#define SL_A_BUF ((void *)a_[0])
#define SL_A_N ((size_t)a_[1])
#define SL_A_FLAGS ((int)(a_[2] & ~MSG_DONTWAIT))

SL_HINTED_READ(read, (int fd, void *buf, size_t n), (fd, buf, n),
               n - 1 < SL_RW_MAX && SL_TRIED_AT(fd), SYS_recvfrom, 4, buf, n, MSG_DONTWAIT, 0, 0,
               (SL_A_FD, SL_A_BUF, SL_A_N))
SL_HINTED_READ(recv, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags),
               SL_READ_TRIED(flags) && SL_TRIED_AT(fd), SYS_recvfrom, 4, buf, n,
               flags | MSG_DONTWAIT, 0, 0, (SL_A_FD, SL_A_BUF, SL_A_N, SL_A_FLAGS))
SL_HINTED_READ(recvfrom,
               (int fd, void *buf, size_t n, int flags, struct sockaddr *sa, socklen_t *len),
               (fd, buf, n, flags, sa, len), SL_READ_TRIED(flags) && SL_TRIED_AT(fd), SYS_recvfrom,
               5, buf, n, flags | MSG_DONTWAIT, sa, len,
               (SL_A_FD, SL_A_BUF, SL_A_N, SL_A_FLAGS, (struct sockaddr *)a_[3],
                (socklen_t *)a_[4]))
SL_HINTED_READ(read_chk, (int fd, void *buf, size_t n, size_t buflen), (fd, buf, n, buflen),
               n - 1 < SL_RW_MAX && n <= buflen && SL_TRIED_AT(fd), SYS_recvfrom, 4, buf, n,
               MSG_DONTWAIT, 0, 0, (fd, buf, n, buflen))
SL_HINTED_READ(recv_chk, (int fd, void *buf, size_t n, size_t buflen, int flags),
               (fd, buf, n, buflen, flags), n <= buflen && SL_READ_TRIED(flags) && SL_TRIED_AT(fd),
               SYS_recvfrom, 4, buf, n, flags | MSG_DONTWAIT, 0, 0, (fd, buf, n, buflen, flags))
SL_HINTED_READ(recvfrom_chk,
               (int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *sa,
                socklen_t *len),
               (fd, buf, n, buflen, flags, sa, len),
               n <= buflen && SL_READ_TRIED(flags) && SL_TRIED_AT(fd), SYS_recvfrom, 5, buf, n,
               flags | MSG_DONTWAIT, sa, len, (fd, buf, n, buflen, flags, sa, len))
SL_HINTED_READ(recvmsg, (int fd, struct msghdr *msg, int flags), (fd, msg, flags),
               SL_READ_TRIED(flags) && SL_TRIED_AT(fd), SYS_recvmsg, 2, msg, flags | MSG_DONTWAIT,
               0, 0, 0, (SL_A_FD, (struct msghdr *)a_[0], (int)(a_[1] & ~MSG_DONTWAIT)))
#undef SL_A_FD
#undef SL_A_BUF
#undef SL_A_N
#undef SL_A_FLAGS
#undef SL_HINTED_READ

static int sl_w_recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
                         struct timespec *tmo)
{
    if (!(flags & MSG_DONTWAIT))
        sl_unwatched_call(fd);
    return sl_true.recvmmsg(fd, vec, vlen, flags, tmo);
}

/* What is left of a send whose first part went (done of n bytes), sent as
 * the one blocking send would: in parts as the socket takes them, until
 * all is sent, or a signal comes, the socket fails or shuts down, or its
 * SO_SNDTIMEO ends, the bytes sent so far then the result (no SIGPIPE, and
 * the socket's error left for the next call). No more than a system call
 * takes at once (MAX_RW_COUNT). The thread does the library's work
 * meanwhile. */
static ssize_t sl_send_rest(int fd, const char *buf, size_t n, size_t done, int flags,
                            const struct sockaddr *sa, socklen_t salen)
{
    int e = errno;
    size_t most = (size_t)INT_MAX & ~((size_t)getpagesize() - 1);
    n = n > most ? most : n;
    struct timeval tv = {0, 0};
    socklen_t len = sizeof tv;
    int64_t end = -1;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0 && (tv.tv_sec || tv.tv_usec))
        end = sl_now_ns() + (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
    while (done < n) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int64_t left = end < 0 ? -1 : end - sl_now_ns();
        if (end >= 0 && left <= 0)
            break;
        struct timespec ts = {left / 1000000000, left % 1000000000};
        if (sl_real.ppoll(&p, 1, end < 0 ? NULL : &ts, NULL) <= 0 ||
            (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
            break; /* a signal, the timeout, an error: the part sent */
        long w = sl_try_send(fd, buf + done, n - done, flags | MSG_NOSIGNAL, sa, salen);
        if (w < 0 && w != -EAGAIN)
            break;
        done += w > 0 ? (size_t)w : 0;
    }
    errno = e;
    return (ssize_t)done;
}

/* A send of a watched socket: TRY, the same send with MSG_DONTWAIT (the
 * result or -errno), is the call unless it would wait: then the thread,
 * and the caller's own CALL when nothing went, else sl_send_rest. */
#define SL_WATCHED_SEND(fd, buf, n, flags, sa, salen, TRY, CALL)                                   \
    do {                                                                                           \
        long r_ = TRY;                                                                             \
        if (r_ == (long)(n))                                                                       \
            return r_;                                                                             \
        if (r_ < 0 && r_ != -EAGAIN && r_ != -ENOTSOCK) {                                          \
            errno = (int)-r_;                                                                      \
            return -1;                                                                             \
        }                                                                                          \
        if (r_ != -ENOTSOCK)                                                                       \
            sl_reaper_blocking();                                                                  \
        if (r_ < 0)                                                                                \
            return CALL;                                                                           \
        return sl_send_rest(fd, buf, n, (size_t)r_, flags, sa, salen);                             \
    } while (0)

static ssize_t sl_w_send(int fd, const void *buf, size_t n, int flags)
{
    if ((flags & MSG_DONTWAIT) || !sl_watched(fd))
        return sl_true.send(fd, buf, n, flags);
    SL_WATCHED_SEND(fd, buf, n, flags, NULL, 0, sl_try_send(fd, buf, n, flags, NULL, 0),
                    sl_true.send(fd, buf, n, flags));
}

static ssize_t sl_w_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                           socklen_t len)
{
    if ((flags & MSG_DONTWAIT) || !sl_watched(fd))
        return sl_true.sendto(fd, buf, n, flags, sa, len);
    SL_WATCHED_SEND(fd, buf, n, flags, sa, len, sl_try_send(fd, buf, n, flags, sa, len),
                    sl_true.sendto(fd, buf, n, flags, sa, len));
}

/* write on a socket is send with no flags. */
static ssize_t sl_w_write(int fd, const void *buf, size_t n)
{
    if (n > SL_RW_MAX || !sl_watched(fd))
        return sl_true.write(fd, buf, n);
    SL_WATCHED_SEND(fd, buf, n, 0, NULL, 0, sl_try_send(fd, buf, n, 0, NULL, 0),
                    sl_true.write(fd, buf, n));
}

static ssize_t sl_w_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (!(flags & MSG_DONTWAIT))
        sl_unwatched_call(fd);
    return sl_true.sendmsg(fd, msg, flags);
}

static ssize_t sl_w_writev(int fd, const struct iovec *iov, int cnt)
{
    sl_unwatched_call(fd);
    return sl_true.writev(fd, iov, cnt);
}

static ssize_t sl_w_sendfile(int out, int in, off_t *off, size_t n)
{
    sl_unwatched_call(out);
    return sl_true.sendfile(out, in, off, n);
}

static ssize_t sl_w_splice(int in, loff_t *in_off, int out, loff_t *out_off, size_t n,
                           unsigned int flags)
{
    if (!(flags & SPLICE_F_NONBLOCK)) {
        sl_unwatched_call(in);
        sl_unwatched_call(out);
    }
    return sl_true.splice(in, in_off, out, out_off, n, flags);
}

/* Each watcher in place of its true function. Optional ones missing from
 * the libc stay NULL. */
#define SL_WATCH_EACH(X)                                                                           \
    X(read, read, sl_w_read)                                                                       \
    X(recv, recv, sl_w_recv)                                                                       \
    X(recvfrom, recvfrom, sl_w_recvfrom)                                                           \
    X(__read_chk, read_chk, sl_w_read_chk)                                                         \
    X(__recv_chk, recv_chk, sl_w_recv_chk)                                                         \
    X(__recvfrom_chk, recvfrom_chk, sl_w_recvfrom_chk)                                             \
    X(recvmsg, recvmsg, sl_w_recvmsg)                                                              \
    X(readv, readv, sl_w_readv)                                                                    \
    X(recvmmsg, recvmmsg, sl_w_recvmmsg)                                                           \
    X(send, send, sl_w_send)                                                                       \
    X(sendto, sendto, sl_w_sendto)                                                                 \
    X(write, write, sl_w_write)                                                                    \
    X(sendmsg, sendmsg, sl_w_sendmsg)                                                              \
    X(writev, writev, sl_w_writev)                                                                 \
    X(sendfile, sendfile, sl_w_sendfile)                                                           \
    X(splice, splice, sl_w_splice)

void sl_block_init(void)
{
    /* Written by one thread (at most: a fork child's, the parent's read
     * before it, which helgrind cannot tell from a race), read by any. */
    SL_HG_ATOMIC(&sl_watching, sizeof sl_watching);
    SL_HG_ATOMIC(&sl_lowat_set, sizeof sl_lowat_set);
    SL_HG_ATOMIC(&sl_true, sizeof sl_true);
}

int sl_block_watching(void)
{
    return __atomic_load_n(&sl_watching, __ATOMIC_RELAXED);
}

void sl_block_watch(void)
{
    if (sl_block_watching())
        return;
    if (sl_opt.thread || !sl_reaper_one_thread() || sl_lowat_set) {
        sl_reaper_blocking(); /* another thread: the library's does the work */
        return;
    }
    int g = sl_guard_enter();
    int e = errno;
    sl_init_all(); /* every real function bound */
    /* The true ones first: a signal handler's call between two stores
     * finds one or the other, each whole. */
#define SL_KEEP(name, field, watcher) sl_true.field = sl_real.name;
    SL_WATCH_EACH(SL_KEEP)
#undef SL_KEEP
#define SL_SWAP(name, field, watcher)                                                              \
    if (sl_true.field)                                                                             \
        __atomic_store_n(&sl_real.name, watcher, __ATOMIC_RELEASE);
    SL_WATCH_EACH(SL_SWAP)
#undef SL_SWAP
    __atomic_store_n(&sl_watching, 1, __ATOMIC_RELAXED);
    errno = e;
    sl_guard_leave(g);
}

/* A noted socket's read is a MSG_DONTWAIT try whatever the process's
 * state: not a cancellation point, blind to an SO_RCVLOWAT. Only a
 * single-threaded process that caps its calls keeps the watchers, which a
 * fork child may take again (sl_block_watch: one thread, no SO_RCVLOWAT). */
void sl_block_unwatch(void)
{
    if (!sl_block_watching())
        return;
#define SL_UNSWAP(name, field, watcher)                                                            \
    if (sl_true.field)                                                                             \
        __atomic_store_n(&sl_real.name, sl_true.field, __ATOMIC_RELEASE);
    SL_WATCH_EACH(SL_UNSWAP)
#undef SL_UNSWAP
    __atomic_store_n(&sl_watching, 0, __ATOMIC_RELAXED);
}

/* stdio reads a socket through libc's own read, which no hook sees: a
 * blocking one makes the thread. */
FILE *sl_fdopen(int fd, const char *mode)
{
    SL_ENSURE(fdopen);
    sl_unwatched_call(fd);
    return sl_real.fdopen(fd, mode);
}

/* SO_RCVLOWAT above 1 (a blocking read then waits for that many bytes,
 * which a read with MSG_DONTWAIT does not; a negative one is INT_MAX): the
 * library's thread from now on, libc's functions back. */
int sl_setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
    SL_ENSURE(setsockopt);
    int r = sl_real.setsockopt(fd, level, opt, val, len);
    if (SL_UNLIKELY(level == SOL_SOCKET && opt == SO_RCVLOWAT) && r == 0 && !sl_in_lib && val &&
        len >= sizeof(int) && (*(const int *)val > 1 || *(const int *)val < 0)) {
        __atomic_store_n(&sl_lowat_set, 1, __ATOMIC_RELAXED);
        if (SL_SCHED_ACTIVE())
            sl_reaper_blocking();
        sl_block_unwatch();
    }
    return r;
}

/* Every libc function the library binds and hooks, written once. Each entry
 *     HOOK(return type, name, (parameters), (arguments), Required|Optional)
 * makes, wherever the list is expanded:
 *   - the pointer to the real function and its binding (real.h, real.c);
 *     an Optional symbol may be missing from the libc (bound as NULL);
 *   - the declaration of sl_<name>, the hook's work (track.h);
 *   - the exported interposer `name` calling sl_<name> (hooks.c).
 * The groups say how sl_<name> is written: SL_HOOKS_READ and SL_HOOKS_SEND
 * by one macro each (track_io.c), SL_HOOKS_IDENTITY by one macro
 * (track_identity.c), SL_HOOKS_PLAIN by hand. SL_HOOKS_BY_HAND are bound from the list but
 * exported by hand (variadic, or with arguments of their own), and
 * SL_ALIASES are further exported names for a hook. Parameter names matter
 * to the read and send macros: the fd is `fd`, a read's length `n`. */
#ifndef SL_HOOKLIST_H
#define SL_HOOKLIST_H

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <threads.h>
#include <time.h>

#define SL_HOOK_Required 0
#define SL_HOOK_Optional 1

/* Reads: end-of-stream is a 0 result for a non-zero length. The fortified
 * entry points (-D_FORTIFY_SOURCE=2) never reach recv/read. */
#define SL_HOOKS_READ(HOOK)                                                                        \
    HOOK(ssize_t, recv, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags), Required)  \
    HOOK(ssize_t, recvfrom,                                                                        \
         (int fd, void *buf, size_t n, int flags, struct sockaddr *sa, socklen_t *len),            \
         (fd, buf, n, flags, sa, len), Required)                                                   \
    HOOK(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n), Required)                    \
    HOOK(ssize_t, __recv_chk, (int fd, void *buf, size_t n, size_t buflen, int flags),             \
         (fd, buf, n, buflen, flags), Optional)                                                    \
    HOOK(ssize_t, __recvfrom_chk,                                                                  \
         (int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *sa,              \
          socklen_t *len),                                                                         \
         (fd, buf, n, buflen, flags, sa, len), Optional)                                           \
    HOOK(ssize_t, __read_chk, (int fd, void *buf, size_t n, size_t buflen), (fd, buf, n, buflen),  \
         Optional)

/* Sends: after end-of-stream a send moves the deadline (half-open use). */
#define SL_HOOKS_SEND(HOOK)                                                                        \
    HOOK(ssize_t, send, (int fd, const void *buf, size_t n, int flags), (fd, buf, n, flags),      \
         Required)                                                                                 \
    HOOK(ssize_t, sendto,                                                                          \
         (int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa, socklen_t len), \
         (fd, buf, n, flags, sa, len), Required)                                                   \
    HOOK(ssize_t, sendmsg, (int fd, const struct msghdr *msg, int flags), (fd, msg, flags),       \
         Required)                                                                                 \
    HOOK(ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n), Required)             \
    HOOK(ssize_t, writev, (int fd, const struct iovec *iov, int cnt), (fd, iov, cnt), Required)

/* Identity changes: the output directory is held open first, so a worker
 * that drops privileges or chroots still writes its log. */
#define SL_HOOKS_IDENTITY(HOOK)                                                                    \
    HOOK(int, setuid, (uid_t u), (u), Required)                                                    \
    HOOK(int, seteuid, (uid_t u), (u), Required)                                                   \
    HOOK(int, setreuid, (uid_t r, uid_t e), (r, e), Required)                                      \
    HOOK(int, setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s), Required)                         \
    HOOK(int, setgid, (gid_t g), (g), Required)                                                    \
    HOOK(int, setegid, (gid_t g), (g), Required)                                                   \
    HOOK(int, setregid, (gid_t r, gid_t e), (r, e), Required)                                      \
    HOOK(int, setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s), Required)                         \
    HOOK(int, chroot, (const char *path), (path), Required)

/* The rest, each sl_<name> written by hand. */
#define SL_HOOKS_PLAIN(HOOK)                                                                       \
    HOOK(int, socket, (int domain, int type, int proto), (domain, type, proto), Required)         \
    HOOK(int, socketpair, (int domain, int type, int proto, int sv[2]), (domain, type, proto, sv), \
         Required)                                                                                 \
    HOOK(int, accept, (int fd, struct sockaddr *sa, socklen_t *len), (fd, sa, len), Required)     \
    HOOK(int, accept4, (int fd, struct sockaddr *sa, socklen_t *len, int flags),                   \
         (fd, sa, len, flags), Required)                                                           \
    HOOK(int, connect, (int fd, const struct sockaddr *sa, socklen_t len), (fd, sa, len),         \
         Required)                                                                                 \
    HOOK(ssize_t, recvmsg, (int fd, struct msghdr *msg, int flags), (fd, msg, flags), Required)   \
    HOOK(int, recvmmsg,                                                                            \
         (int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *tmo),        \
         (fd, vec, vlen, flags, tmo), Required)                                                    \
    HOOK(ssize_t, readv, (int fd, const struct iovec *iov, int cnt), (fd, iov, cnt), Required)    \
    HOOK(int, shutdown, (int fd, int how), (fd, how), Required)                                    \
    HOOK(int, close, (int fd), (fd), Required)                                                     \
    HOOK(int, close_range, (unsigned int first, unsigned int last, int flags),                     \
         (first, last, flags), Optional)                                                           \
    HOOK(void, closefrom, (int lowfd), (lowfd), Optional)                                          \
    HOOK(int, dup, (int fd), (fd), Required)                                                       \
    HOOK(int, dup2, (int fd, int fd2), (fd, fd2), Required)                                        \
    HOOK(int, dup3, (int fd, int fd2, int flags), (fd, fd2, flags), Required)                      \
    HOOK(int, fclose, (FILE * fp), (fp), Required)                                                 \
    HOOK(FILE *, fdopen, (int fd, const char *mode), (fd, mode), Required)                         \
    HOOK(int, setsockopt, (int fd, int level, int opt, const void *val, socklen_t len),            \
         (fd, level, opt, val, len), Required)                                                     \
    HOOK(int, setrlimit, (__rlimit_resource_t res, const struct rlimit *rl), (res, rl), Required)  \
    HOOK(int, prlimit64,                                                                           \
         (pid_t pid, __rlimit_resource_t res, const struct rlimit64 *rl, struct rlimit64 *old),    \
         (pid, res, rl, old), Required)                                                            \
    HOOK(pid_t, fork, (void), (), Required)                                                        \
    HOOK(int, __register_atfork,                                                                   \
         (void (*prepare)(void), void (*parent)(void), void (*child)(void), void *dso),            \
         (prepare, parent, child, dso), Required)                                                  \
    HOOK(int, pthread_create,                                                                      \
         (pthread_t * thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg),      \
         (thread, attr, start, arg), Required)                                                     \
    HOOK(int, thrd_create, (thrd_t * thr, thrd_start_t func, void *arg), (thr, func, arg),        \
         Optional)                                                                                 \
    HOOK(ssize_t, sendfile, (int out, int in, off_t *off, size_t n), (out, in, off, n), Required) \
    HOOK(ssize_t, splice,                                                                          \
         (int in, loff_t *in_off, int out, loff_t *out_off, size_t n, unsigned int flags),         \
         (in, in_off, out, out_off, n, flags), Required)

/* Waits: in a single-threaded process with work of the library's pending
 * (a deadline, a sweep) and no thread of its own, each is capped at the
 * next due time, the work is done on the program's thread, and the wait
 * goes on for what is left: same result, errno and remaining time
 * (track_wait.c). */
#define SL_HOOKS_WAIT(HOOK)                                                                        \
    HOOK(int, epoll_wait, (int epfd, struct epoll_event *ev, int max, int timeout),                \
         (epfd, ev, max, timeout), Required)                                                       \
    HOOK(int, epoll_pwait,                                                                         \
         (int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask),           \
         (epfd, ev, max, timeout, mask), Required)                                                 \
    HOOK(int, epoll_pwait2,                                                                        \
         (int epfd, struct epoll_event *ev, int max, const struct timespec *tmo,                   \
          const sigset_t *mask),                                                                   \
         (epfd, ev, max, tmo, mask), Optional)                                                     \
    HOOK(int, poll, (struct pollfd * fds, nfds_t nfds, int timeout), (fds, nfds, timeout),         \
         Required)                                                                                 \
    HOOK(int, __poll_chk, (struct pollfd * fds, nfds_t nfds, int timeout, size_t fdslen),          \
         (fds, nfds, timeout, fdslen), Optional)                                                   \
    HOOK(int, ppoll,                                                                               \
         (struct pollfd * fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask),     \
         (fds, nfds, tmo, mask), Required)                                                         \
    HOOK(int, __ppoll_chk,                                                                         \
         (struct pollfd * fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask,      \
          size_t fdslen),                                                                          \
         (fds, nfds, tmo, mask, fdslen), Optional)                                                 \
    HOOK(int, select, (int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv),          \
         (nfds, rd, wr, ex, tv), Required)                                                         \
    HOOK(int, pselect,                                                                             \
         (int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *tmo,                \
          const sigset_t *mask),                                                                   \
         (nfds, rd, wr, ex, tmo, mask), Required)                                                  \
    HOOK(int, nanosleep, (const struct timespec *req, struct timespec *rem), (req, rem), Required) \
    HOOK(int, clock_nanosleep,                                                                     \
         (clockid_t clk, int flags, const struct timespec *req, struct timespec *rem),             \
         (clk, flags, req, rem), Required)                                                         \
    HOOK(unsigned int, sleep, (unsigned int secs), (secs), Required)                               \
    HOOK(int, usleep, (useconds_t usecs), (usecs), Required)                                       \
    HOOK(int, pause, (void), (), Required)                                                         \
    HOOK(int, sigsuspend, (const sigset_t *mask), (mask), Required)                                \
    HOOK(int, sigtimedwait, (const sigset_t *set, siginfo_t *info, const struct timespec *tmo),    \
         (set, info, tmo), Required)                                                               \
    HOOK(int, sigwaitinfo, (const sigset_t *set, siginfo_t *info), (set, info), Required)          \
    HOOK(int, sigwait, (const sigset_t *set, int *sig), (set, sig), Required)                     \
    HOOK(pid_t, wait, (int *status), (status), Required)                                           \
    HOOK(pid_t, waitpid, (pid_t pid, int *status, int options), (pid, status, options), Required) \
    HOOK(pid_t, wait4, (pid_t pid, int *status, int options, struct rusage *ru),                   \
         (pid, status, options, ru), Required)                                                     \
    HOOK(int, waitid, (idtype_t idtype, id_t id, siginfo_t *info, int options),                    \
         (idtype, id, info, options), Required)                                                    \
    HOOK(int, sigaction, (int sig, const struct sigaction *act, struct sigaction *old),            \
         (sig, act, old), Required)                                                                \
    HOOK(__sighandler_t, signal, (int sig, __sighandler_t handler), (sig, handler), Required)     \
    HOOK(__sighandler_t, sysv_signal, (int sig, __sighandler_t handler), (sig, handler), Optional) \
    HOOK(__sighandler_t, bsd_signal, (int sig, __sighandler_t handler), (sig, handler), Optional)  \
    HOOK(__sighandler_t, sigset, (int sig, __sighandler_t handler), (sig, handler), Optional)      \
    HOOK(int, siginterrupt, (int sig, int flag), (sig, flag), Optional)

/* Bound from the list, exported by hand in hooks.c (fcntl: variadic; pipe2,
 * sigprocmask: their caller's address; syscall: syscall.S in preload/arch/). */
#define SL_HOOKS_BY_HAND(HOOK)                                                                     \
    HOOK(int, fcntl, (int fd, int cmd, ...), (), Required)                                         \
    HOOK(int, fcntl64, (int fd, int cmd, ...), (), Optional)                                       \
    HOOK(int, ioctl, (int fd, unsigned long req, ...), (), Required)                               \
    HOOK(int, pipe2, (int fds[2], int flags), (), Required)                                        \
    HOOK(int, sigprocmask, (int how, const sigset_t *set, sigset_t *old), (), Required)            \
    HOOK(long, syscall, (long nr, ...), (), Required)

/* Every hook with a generated export and declaration. */
#define SL_HOOKS_EXPORTED(HOOK)                                                                    \
    SL_HOOKS_READ(HOOK)                                                                            \
    SL_HOOKS_SEND(HOOK) SL_HOOKS_IDENTITY(HOOK) SL_HOOKS_PLAIN(HOOK) SL_HOOKS_WAIT(HOOK)

/* Every function bound. */
#define SL_HOOKS(HOOK) SL_HOOKS_EXPORTED(HOOK) SL_HOOKS_BY_HAND(HOOK)

/* ALIAS(return type, exported name, hook, (parameters), (arguments)):
 * glibc's public aliases (GLIBC_2.2.5), which programs and libraries that
 * call them directly reach instead of the names above (its other
 * __-prefixed socket entry points, __recv, __close_nocancel..., are
 * GLIBC_PRIVATE: glibc's own internal calls, which no program can link
 * against); sendfile64, the same call as sendfile (off_t is 64-bit); and
 * __sigaction and __sysv_signal, which set a handler as the others do. */
#define SL_ALIASES(ALIAS)                                                                          \
    ALIAS(int, __close, close, (int fd), (fd))                                                     \
    ALIAS(ssize_t, __read, read, (int fd, void *buf, size_t n), (fd, buf, n))                      \
    ALIAS(ssize_t, __write, write, (int fd, const void *buf, size_t n), (fd, buf, n))              \
    ALIAS(ssize_t, __send, send, (int fd, const void *buf, size_t n, int flags),                   \
          (fd, buf, n, flags))                                                                     \
    ALIAS(int, __connect, connect, (int fd, const struct sockaddr *sa, socklen_t len),             \
          (fd, sa, len))                                                                           \
    ALIAS(int, __nanosleep, nanosleep, (const struct timespec *req, struct timespec *rem),         \
          (req, rem))                                                                              \
    ALIAS(int, __sigsuspend, sigsuspend, (const sigset_t *mask), (mask))                           \
    ALIAS(int, __dup2, dup2, (int fd, int fd2), (fd, fd2))                                         \
    ALIAS(ssize_t, sendfile64, sendfile, (int out, int in, off_t *off, size_t n),                  \
          (out, in, off, n))                                                                       \
    ALIAS(int, __sigaction, sigaction,                                                             \
          (int sig, const struct sigaction *act, struct sigaction *old), (sig, act, old))          \
    ALIAS(__sighandler_t, __sysv_signal, sysv_signal, (int sig, __sighandler_t handler),           \
          (sig, handler))

#endif

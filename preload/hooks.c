/* The exported interposers: one line each, the work is in track.c. Nothing
 * else in the library is visible outside it. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/resource.h>
#include "track.h"

SL_EXPORT int socket(int domain, int type, int proto)
{
    return sl_socket(domain, type, proto);
}

SL_EXPORT int socketpair(int domain, int type, int proto, int sv[2])
{
    return sl_socketpair(domain, type, proto, sv);
}

SL_EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return sl_accept(fd, sa, len);
}

SL_EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    return sl_accept4(fd, sa, len, flags);
}

SL_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return sl_connect(fd, sa, len);
}

SL_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    return sl_recv(fd, buf, n, flags);
}

SL_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa,
                           socklen_t *len)
{
    return sl_recvfrom(fd, buf, n, flags, sa, len);
}

SL_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    return sl_recvmsg(fd, msg, flags);
}

SL_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
                       struct timespec *tmo)
{
    return sl_recvmmsg(fd, vec, vlen, flags, tmo);
}

SL_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    return sl_read(fd, buf, n);
}

SL_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    return sl_readv(fd, iov, cnt);
}

/* The fortified entry points (-D_FORTIFY_SOURCE=2) never reach recv/read. */
SL_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
    return sl_recv_chk(fd, buf, n, buflen, flags);
}

SL_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                                 struct sockaddr *sa, socklen_t *len)
{
    return sl_recvfrom_chk(fd, buf, n, buflen, flags, sa, len);
}

SL_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    return sl_read_chk(fd, buf, n, buflen);
}

SL_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    return sl_send(fd, buf, n, flags);
}

SL_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                         socklen_t len)
{
    return sl_sendto(fd, buf, n, flags, sa, len);
}

SL_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    return sl_sendmsg(fd, msg, flags);
}

SL_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    return sl_write(fd, buf, n);
}

SL_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    return sl_writev(fd, iov, cnt);
}

SL_EXPORT int shutdown(int fd, int how)
{
    return sl_shutdown(fd, how);
}

SL_EXPORT int close(int fd)
{
    return sl_close(fd);
}

SL_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
    return sl_close_range(first, last, flags);
}

SL_EXPORT void closefrom(int lowfd)
{
    sl_closefrom(lowfd);
}

SL_EXPORT int dup(int fd)
{
    return sl_dup(fd);
}

SL_EXPORT int dup2(int fd, int fd2)
{
    return sl_dup2(fd, fd2);
}

SL_EXPORT int dup3(int fd, int fd2, int flags)
{
    return sl_dup3(fd, fd2, flags);
}

/* The third argument is an int or a pointer depending on cmd; like glibc, read
 * it as a pointer-sized value and pass it on unchanged. */
SL_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return sl_fcntl(fd, cmd, arg, 0);
}

SL_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return sl_fcntl(fd, cmd, arg, 1);
}

SL_EXPORT int fclose(FILE *fp)
{
    return sl_fclose(fp);
}

SL_EXPORT int pipe2(int fds[2], int flags)
{
    return sl_pipe2(fds, flags, __builtin_return_address(0));
}

/* A new fd limit: our own fds move out of the program's new range. */
SL_EXPORT int setrlimit(__rlimit_resource_t res, const struct rlimit *rl)
{
    return sl_setrlimit(res, rl);
}

SL_EXPORT int setrlimit64(__rlimit_resource_t res, const struct rlimit64 *rl)
{
    return sl_setrlimit(res, (const struct rlimit *)rl);
}

SL_EXPORT int prlimit(pid_t pid, __rlimit_resource_t res, const struct rlimit *rl,
                      struct rlimit *old)
{
    return sl_prlimit(pid, res, (const struct rlimit64 *)rl, (struct rlimit64 *)old);
}

SL_EXPORT int prlimit64(pid_t pid, __rlimit_resource_t res, const struct rlimit64 *rl,
                        struct rlimit64 *old)
{
    return sl_prlimit(pid, res, rl, old);
}

/* Identity changes: the output directory is held open first, so a worker
 * that drops privileges or chroots still writes its log. */
SL_EXPORT int setuid(uid_t u)
{
    return sl_setuid(u);
}

SL_EXPORT int seteuid(uid_t u)
{
    return sl_seteuid(u);
}

SL_EXPORT int setreuid(uid_t r, uid_t e)
{
    return sl_setreuid(r, e);
}

SL_EXPORT int setresuid(uid_t r, uid_t e, uid_t s)
{
    return sl_setresuid(r, e, s);
}

SL_EXPORT int setgid(gid_t g)
{
    return sl_setgid(g);
}

SL_EXPORT int setegid(gid_t g)
{
    return sl_setegid(g);
}

SL_EXPORT int setregid(gid_t r, gid_t e)
{
    return sl_setregid(r, e);
}

SL_EXPORT int setresgid(gid_t r, gid_t e, gid_t s)
{
    return sl_setresgid(r, e, s);
}

SL_EXPORT int chroot(const char *path)
{
    return sl_chroot(path);
}

/* glibc's exported aliases (GLIBC_2.2.5, public): programs and libraries that
 * call them directly bypass the names above. Its other __-prefixed socket
 * entry points (__recv, __close_nocancel, ...) are GLIBC_PRIVATE: glibc's own
 * internal calls, which no program can link against. */
SL_EXPORT int __close(int fd)
{
    return sl_close(fd);
}

SL_EXPORT ssize_t __read(int fd, void *buf, size_t n)
{
    return sl_read(fd, buf, n);
}

SL_EXPORT ssize_t __write(int fd, const void *buf, size_t n)
{
    return sl_write(fd, buf, n);
}

SL_EXPORT ssize_t __send(int fd, const void *buf, size_t n, int flags)
{
    return sl_send(fd, buf, n, flags);
}

SL_EXPORT int __connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return sl_connect(fd, sa, len);
}

SL_EXPORT int __dup2(int fd, int fd2)
{
    return sl_dup2(fd, fd2);
}

SL_EXPORT int __fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return sl_fcntl(fd, cmd, arg, 0);
}

SL_EXPORT pid_t fork(void)
{
    return sl_fork();
}

/* clone(fn, stack, flags, arg, ptid, tls, ctid): the last three are read
 * only when flags ask for them; passed on as they came, like glibc reads them. */
SL_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    void *ptid = va_arg(ap, void *);
    void *tls = va_arg(ap, void *);
    void *ctid = va_arg(ap, void *);
    va_end(ap);
    return sl_clone(fn, stack, flags, arg, ptid, tls, ctid);
}

/* vfork() itself is preload/vfork.S. */

SL_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    return sl_sendfile(out, in, off, n);
}

/* off_t is 64-bit here: the _FILE_OFFSET_BITS=64 name is the same call. */
SL_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t n)
{
    return sl_sendfile(out, in, off, n);
}

SL_EXPORT ssize_t splice(int in, loff_t *in_off, int out, loff_t *out_off, size_t n,
                         unsigned int flags)
{
    return sl_splice(in, in_off, out, out_off, n, flags);
}

/* syscall() itself is preload/syscall.S. */

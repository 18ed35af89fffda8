/* Return values and errno of every intercepted call, success and failure.
 *
 * Prints one line per call: the call as written, its return value and the
 * errno it left. errno is preset to a sentinel before every call, so a
 * successful call that touches errno shows up. The output depends only on
 * the kernel and libc, never on ports or pids, so a run with the library
 * preloaded must print exactly the same lines as a run without it.
 *
 * Usage: st_errno [--fd-numbers]
 * By default a call that returns the lowest free fd prints "fd", not the
 * number; --fd-numbers prints numbers and the open fds below 1024 at the
 * end, which shows any fd the library keeps for itself.
 *
 * Built with -O2 -D_FORTIFY_SOURCE=2 (flags.mk): reads whose length the
 * compiler cannot bound (through `vlen`) become __read_chk, __recv_chk and
 * __recvfrom_chk; reads with constant lengths stay read, recv, recvfrom. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include "prog.h"

#define SENTINEL 4242

static int raw_fds; /* --fd-numbers */

/* Lengths the compiler cannot see through: the fortified _chk entry points. */
static volatile size_t vlen = 16;
static volatile size_t vzero = 0;
static volatile int vneg = -1;

static const char *errname(int e)
{
    static char buf[32];
    if (e == SENTINEL)
        return "untouched";
    const char *n = strerrorname_np(e);
    if (n)
        return n;
    snprintf(buf, sizeof buf, "%d", e);
    return buf;
}

static void show(const char *what, long r)
{
    int e = errno;
    printf("%-72s = %ld  errno %s\n", what, r, errname(e));
    fflush(stdout);
}

/* Evaluates expr with errno at the sentinel, prints the outcome, yields it. */
#define T(expr)                                                                                    \
    ({                                                                                             \
        errno = SENTINEL;                                                                          \
        long r_ = (long)(expr);                                                                    \
        show(#expr, r_);                                                                           \
        r_;                                                                                        \
    })

/* The same for calls that return the lowest free fd: its number is printed
 * only with --fd-numbers, where the library's own fds would shift it. */
#define TFD(expr)                                                                                  \
    ({                                                                                             \
        errno = SENTINEL;                                                                          \
        long r_ = (long)(expr);                                                                    \
        if (r_ >= 0 && !raw_fds)                                                                   \
            show_fd(#expr);                                                                        \
        else                                                                                       \
            show(#expr, r_);                                                                       \
        r_;                                                                                        \
    })

static void show_fd(const char *what)
{
    int e = errno;
    printf("%-72s = fd  errno %s\n", what, errname(e));
    fflush(stdout);
}

static void section(const char *name)
{
    printf("== %s\n", name);
}

/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
static int dead_port(void)
{
    int port;
    int fd = listen_loopback(&port);
    close(fd);
    return port;
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int set_nonblock(int fd)
{
    return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Fills a non-blocking socket's send buffer; returns the last send's result
 * (-1 with EAGAIN expected). The byte count itself is not stable. */
static long fill(int fd)
{
    static char big[65536];
    long r;
    do
        r = send(fd, big, sizeof big, MSG_DONTWAIT);
    while (r > 0);
    return r;
}

static void creation(void)
{
    section("socket, socketpair");
    int sv[2] = {-1, -1};
    int fd = TFD(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    T(close(fd));
    fd = TFD(socket(AF_INET6, SOCK_STREAM, 0));
    T(close(fd));
    fd = TFD(socket(AF_INET, SOCK_DGRAM, 0));
    T(close(fd));
    fd = TFD(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    T(close(fd));
    T(socket(AF_INET, SOCK_STREAM, 9999));
    T(socket(9999, SOCK_STREAM, 0));
    T(socket(AF_INET, 99, 0));
    T(socket(AF_INET, SOCK_STREAM | 0x40000000, 0));
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    if (raw_fds)
        printf("  sv = %d %d\n", sv[0], sv[1]);
    T(sv[1] != sv[0] && sv[0] >= 0);
    T(close(sv[0]));
    T(close(sv[1]));
    T(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
    T(close(sv[0]));
    T(close(sv[1]));
    T(socketpair(AF_INET, SOCK_STREAM, 0, sv));
    T(socketpair(AF_UNIX, 99, 0, sv));
}

static void accept_connect(void)
{
    section("accept, accept4, connect");
    int port;
    int lfd = listen_loopback(&port);
    struct sockaddr_in a = loopback(port);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    int s = TFD(accept(lfd, (struct sockaddr *)&peer, &plen));
    printf("  peer len %u family %d\n", plen, peer.sin_family);
    T(close(s));
    T(connect(c, (struct sockaddr *)&a, sizeof a)); /* EISCONN */
    T(close(c));
    c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    s = TFD(accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK));
    T(fcntl(s, F_GETFD));
    T(fcntl(s, F_GETFL));
    T(close(s));
    T(close(c));
    T(accept4(lfd, NULL, NULL, 0x12345));
    T(set_nonblock(lfd));
    T(accept(lfd, NULL, NULL));
    T(accept4(lfd, NULL, NULL, 0));
    int unlistened = socket(AF_INET, SOCK_STREAM, 0);
    T(accept(unlistened, NULL, NULL));
    T(accept4(unlistened, NULL, NULL, SOCK_CLOEXEC));
    T(close(unlistened));
    T(close(lfd));

    struct sockaddr_in dead = loopback(dead_port());
    c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&dead, sizeof dead));
    T(connect(c, (struct sockaddr *)&dead, 0));
    T(close(c));
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    T(connect(c, (struct sockaddr *)&a, 3));
    T(close(c));
}

static void reads(void)
{
    section("reads: data, EAGAIN, end-of-stream");
    int sv[2];
    char buf[64];
    struct iovec iov[2] = {{buf, 8}, {buf + 8, 8}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        die("socketpair");
    T(set_nonblock(sv[0]));
    T(recv(sv[0], buf, sizeof buf, 0));
    T(recv(sv[0], buf, vlen, 0));
    T(recvfrom(sv[0], buf, sizeof buf, 0, NULL, NULL));
    T(recvfrom(sv[0], buf, vlen, 0, NULL, NULL));
    T(recvmsg(sv[0], &msg, 0));
    T(read(sv[0], buf, sizeof buf));
    T(read(sv[0], buf, vlen));
    T(readv(sv[0], iov, 2));
    T(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    T(recv(sv[0], buf, 0, 0));
    T(read(sv[0], buf, vzero));

    T(write(sv[1], "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", 52));
    T(recv(sv[0], buf, 4, 0));
    T(recv(sv[0], buf, 4, MSG_PEEK));
    T(recv(sv[0], buf, vlen, 0));
    T(recvfrom(sv[0], buf, 4, 0, (struct sockaddr *)&from, &flen));
    T(recvfrom(sv[0], buf, vlen, 0, (struct sockaddr *)&from, &flen));
    T(recvmsg(sv[0], &msg, 0));
    printf("  msg_flags %d\n", msg.msg_flags);
    T(read(sv[0], buf, 2));
    T(read(sv[0], buf, vlen));
    T(readv(sv[0], iov, 2));
    T(readv(sv[0], iov, vneg));
    T(readv(sv[0], iov, 0));

    T(shutdown(sv[1], SHUT_WR));
    T(recv(sv[0], buf, sizeof buf, MSG_PEEK));
    T(recv(sv[0], buf, sizeof buf, 0));
    T(recv(sv[0], buf, vlen, 0));
    T(recvfrom(sv[0], buf, sizeof buf, 0, NULL, NULL));
    T(recvfrom(sv[0], buf, vlen, 0, (struct sockaddr *)&from, &flen));
    T(recvmsg(sv[0], &msg, 0));
    T(read(sv[0], buf, sizeof buf));
    T(read(sv[0], buf, vlen));
    T(readv(sv[0], iov, 2));
    T(close(sv[0]));
    T(close(sv[1]));

    /* The same on TCP, where end-of-stream is what the library looks for. */
    int c, s;
    tcp_pair(&c, &s);
    T(send(c, "hello", 5, 0));
    T(close(c));
    T(recv(s, buf, sizeof buf, 0));
    T(recv(s, buf, sizeof buf, 0));
    T(read(s, buf, vlen));
    T(recvmsg(s, &msg, MSG_ERRQUEUE));
    T(shutdown(s, SHUT_RDWR));
    T(close(s));

    section("reads: bad fds");
    int pfd[2];
    if (pipe(pfd) < 0)
        die("pipe");
    int bad[] = {-1, -2, INT_MIN, 999, 1 << 20, 1 << 30, INT_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = bad[i];
        printf("  fd %d\n", fd);
        T(recv(fd, buf, sizeof buf, 0));
        T(recv(fd, buf, vlen, 0));
        T(recvfrom(fd, buf, sizeof buf, 0, NULL, NULL));
        T(recvfrom(fd, buf, vlen, 0, NULL, NULL));
        T(recvmsg(fd, &msg, 0));
        T(read(fd, buf, sizeof buf));
        T(read(fd, buf, vlen));
        T(read(fd, buf, 0));
        T(readv(fd, iov, 2));
    }
    section("reads: not sockets");
    T(recv(pfd[0], buf, sizeof buf, MSG_DONTWAIT));
    T(recv(pfd[0], buf, vlen, 0));
    T(recvfrom(pfd[0], buf, sizeof buf, 0, NULL, NULL));
    T(recvmsg(pfd[0], &msg, 0));
    T(write(pfd[1], "abc", 3));
    T(close(pfd[1]));
    T(read(pfd[0], buf, sizeof buf));
    T(read(pfd[0], buf, sizeof buf));
    T(read(pfd[0], buf, vlen));
    T(readv(pfd[0], iov, 2));
    T(close(pfd[0]));
}

static void writes(void)
{
    section("writes: data, EAGAIN, EPIPE, bad fds");
    int sv[2];
    char buf[64] = "payload";
    struct iovec iov[2] = {{buf, 3}, {buf + 3, 4}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        die("socketpair");
    T(send(sv[0], buf, 7, 0));
    T(sendto(sv[0], buf, 7, 0, NULL, 0));
    T(sendmsg(sv[0], &msg, 0));
    T(write(sv[0], buf, 7));
    T(writev(sv[0], iov, 2));
    T(writev(sv[0], iov, vneg));
    T(send(sv[0], buf, 0, 0));
    T(write(sv[0], buf, 0));
    T(fill(sv[0]));
    T(send(sv[0], buf, 7, MSG_DONTWAIT));
    T(sendto(sv[0], buf, 7, MSG_DONTWAIT, NULL, 0));
    T(sendmsg(sv[0], &msg, MSG_DONTWAIT));
    T(close(sv[1]));
    T(send(sv[0], buf, 7, 0));
    T(sendto(sv[0], buf, 7, 0, NULL, 0));
    T(sendmsg(sv[0], &msg, 0));
    T(write(sv[0], buf, 7));
    T(writev(sv[0], iov, 2));
    T(close(sv[0]));

    int c, s;
    tcp_pair(&c, &s);
    T(shutdown(c, SHUT_WR));
    T(send(c, buf, 7, 0));
    T(write(c, buf, 7));
    T(writev(c, iov, 2));
    T(recv(s, buf, sizeof buf, 0));
    T(send(s, buf, 7, 0));
    T(close(c));
    T(close(s));

    struct sockaddr_in dead = loopback(dead_port());
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    T(sendto(u, buf, 7, 0, (struct sockaddr *)&dead, sizeof dead));
    T(sendto(u, buf, 7, 0, (struct sockaddr *)&dead, 1));
    T(close(u));

    int bad[] = {-1, INT_MIN, 999, 1 << 30, INT_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = bad[i];
        printf("  fd %d\n", fd);
        T(send(fd, buf, 7, 0));
        T(sendto(fd, buf, 7, 0, NULL, 0));
        T(sendmsg(fd, &msg, 0));
        T(write(fd, buf, 7));
        T(writev(fd, iov, 2));
    }
    int pfd[2];
    if (pipe(pfd) < 0)
        die("pipe");
    T(send(pfd[1], buf, 7, 0));
    T(sendto(pfd[1], buf, 7, 0, NULL, 0));
    T(sendmsg(pfd[1], &msg, 0));
    T(write(pfd[1], buf, 7));
    T(close(pfd[0]));
    T(write(pfd[1], buf, 7));
    T(writev(pfd[1], iov, 2));
    T(close(pfd[1]));
}

static void shutdowns(void)
{
    section("shutdown");
    int c, s;
    tcp_pair(&c, &s);
    T(shutdown(c, SHUT_RD));
    T(shutdown(c, SHUT_WR));
    T(shutdown(c, SHUT_RDWR));
    T(shutdown(c, 99));
    T(shutdown(c, -1));
    T(close(c));
    T(close(s));
    int u = socket(AF_INET, SOCK_STREAM, 0);
    T(shutdown(u, SHUT_WR));
    T(close(u));
    T(shutdown(0, SHUT_WR));
    T(shutdown(-1, SHUT_WR));
    T(shutdown(1 << 30, SHUT_RD));
    T(shutdown(INT_MAX, SHUT_RDWR));
}

static void closes_and_dups(void)
{
    section("close, dup, dup2, dup3");
    int c, s;
    char buf[16];
    tcp_pair(&c, &s);
    if (raw_fds)
        printf("  pair %d %d\n", c, s);
    T(close(-1));
    T(close(INT_MIN));
    T(close(999));
    T(close(1 << 30));
    T(close(INT_MAX));
    int d = TFD(dup(c));
    T(close(d));
    T(close(d));
    T(dup(-1));
    T(dup(INT_MAX));
    T(dup2(c, c) == c);
    T(dup2(c, 10));
    T(dup2(c, 10));
    T(dup2(s, 10));
    T(dup2(-1, 10));
    T(dup2(INT_MAX, 10));
    T(fcntl(10, F_GETFD));
    T(dup2(10, -1));
    T(dup2(10, INT_MAX));
    T(dup2(10, 1 << 30));
    T(dup2(999, 999));
    T(dup2(INT_MAX, INT_MAX));
    T(dup3(c, 11, O_CLOEXEC));
    T(fcntl(11, F_GETFD));
    T(dup3(c, 11, 0));
    T(fcntl(11, F_GETFD));
    T(dup3(c, c, 0));
    T(dup3(c, 12, 0x12345));
    T(dup3(-1, 12, 0));
    T(dup3(c, -1, 0));
    T(dup3(c, INT_MAX, 0));
    T(fcntl(12, F_GETFD));
    /* dup2 of a failing source onto a live socket leaves the socket open. */
    T(dup2(999, s));
    T(send(s, "z", 1, 0));
    T(recv(c, buf, sizeof buf, 0));
    /* dup2 over a socket that read end-of-stream: the socket is gone. */
    T(close(11));
    T(close(c));
    T(recv(s, buf, sizeof buf, 0));
    T(dup2(0, s) == s);
    T(fcntl(s, F_GETFL) & O_ACCMODE);
    T(close(s));
    T(close(10));
    T(close(12));
}

static void fcntls(void)
{
    section("fcntl, fcntl64");
    int c, s;
    tcp_pair(&c, &s);
    int d = TFD(fcntl(c, F_DUPFD, 0));
    T(close(d));
    T(fcntl(c, F_DUPFD, 50));
    T(fcntl(c, F_DUPFD_CLOEXEC, 50));
    T(fcntl(51, F_GETFD));
    T(fcntl(c, F_DUPFD, -1));
    T(fcntl(c, F_DUPFD, INT_MAX));
    T(fcntl(-1, F_DUPFD, 0));
    T(fcntl(INT_MAX, F_DUPFD_CLOEXEC, 0));
    T(fcntl(c, F_GETFL) & ~O_LARGEFILE);
    T(fcntl(c, F_SETFL, O_NONBLOCK));
    T(fcntl(c, F_GETFL) & ~O_LARGEFILE);
    T(fcntl(c, F_SETFD, FD_CLOEXEC));
    T(fcntl(c, F_GETFD));
    T(fcntl(c, 9999));
    T(fcntl(-1, F_GETFL));
    T(fcntl(1 << 30, F_GETFL));
    T(fcntl(INT_MAX, F_GETFD));
    T(fcntl64(c, F_GETFD));
    T(fcntl64(c, F_DUPFD, 60));
    T(fcntl64(-1, F_GETFL));
    T(fcntl64(c, 9999));

    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    char path[] = "/tmp/st_errno.XXXXXX";
    int f = mkstemp(path);
    if (f < 0)
        die("mkstemp");
    unlink(path);
    T(fcntl(f, F_SETLK, &fl));
    T(fcntl(f, F_GETLK, &fl));
    printf("  l_type %d\n", fl.l_type);
    fl.l_type = F_UNLCK;
    T(fcntl(f, F_SETLK, &fl));
    fl.l_type = F_WRLCK;
    T(fcntl64(f, F_SETLK, &fl));
    T(fcntl(c, F_SETLK, &fl));
    T(fcntl(-1, F_SETLK, &fl));
    int ro = open("/dev/null", O_RDONLY);
    T(fcntl(ro, F_SETLK, &fl));
    T(close(ro));
    fl.l_type = 12345;
    T(fcntl(f, F_SETLK, &fl));
    T(close(f));
    T(close(50));
    T(close(51));
    T(close(60));
    T(close(c));
    T(close(s));
}

static void fcloses(void)
{
    section("fclose");
    int c, s;
    tcp_pair(&c, &s);
    FILE *fp = fdopen(s, "r+");
    if (!fp)
        die("fdopen");
    T(fputs("line\n", fp));
    T(fflush(fp));
    char buf[16];
    T(recv(c, buf, sizeof buf, 0));
    T(close(c));
    T(fgetc(fp));
    T(fclose(fp));
    T(fcntl(s, F_GETFD));

    tcp_pair(&c, &s);
    fp = fdopen(s, "r");
    T(close(s));
    T(fclose(fp));
    T(close(c));
    fp = fopen("/dev/null", "w");
    T(fclose(fp));
}

static void raw_syscalls(void)
{
    section("syscall");
    int c, s;
    char buf[16];
    tcp_pair(&c, &s);
    T(syscall(SYS_getpid) == getpid());
    T(syscall(SYS_gettid) == gettid());
    T(syscall(SYS_close, c));
    T(syscall(SYS_close, c));
    T(syscall(SYS_read, s, buf, sizeof buf));
    T(syscall(SYS_close, -1));
    T(syscall(SYS_close, INT_MAX));
    T(syscall(SYS_close, 1 << 30));
    T(syscall(SYS_read, -1, buf, 1));
    T(syscall(SYS_dup3, s, 20, O_CLOEXEC));
    T(syscall(SYS_fcntl, 20, F_GETFD));
    T(syscall(SYS_close, 20));
    T(syscall(SYS_close, s));
    T(syscall(99999));
    T(syscall(SYS_getppid) == getppid());
    /* Six arguments pass through: an anonymous mapping, then unmapped. */
    long p = syscall(SYS_mmap, 0, 4096, 3 /* RW */, 0x22 /* PRIVATE|ANON */, -1, 0);
    T(p != -1 && p != 0);
    T(syscall(SYS_munmap, p, 4096));

    /* fork and clone through syscall(): the child runs and exits. */
    fflush(stdout);
    int status = -1;
#ifdef SYS_fork
    long pid = syscall(SYS_fork);
#else /* arm64 has only clone */
    long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
    if (pid == 0)
        _exit(3);
    T(pid > 0);
    T(waitpid((pid_t)pid, &status, 0) == pid);
    printf("  child status %d\n", WEXITSTATUS(status));
    fflush(stdout);
    pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(4);
    T(pid > 0);
    T(waitpid((pid_t)pid, &status, 0) == pid);
    printf("  child status %d\n", WEXITSTATUS(status));
}

/* glibc's exported internal names; programs and libraries built against
 * glibc internals call these, so the library wraps them too. */
extern int __close(int);
extern ssize_t __read(int, void *, size_t);
extern ssize_t __write(int, const void *, size_t);
#if !defined(__x86_64__)
#define __send send /* glibc exports __send on x86-64 only */
#endif
extern ssize_t __send(int, const void *, size_t, int);
extern int __connect(int, const struct sockaddr *, socklen_t);
extern int __dup2(int, int);
extern int __fcntl(int, int, ...);

static void more_entry_points(void)
{
    section("pipe2, close_range, closefrom, recvmmsg, __ names");
    int p[2], c, s;
    char buf[32];
    T(pipe2(p, O_CLOEXEC));
    T(fcntl(p[0], F_GETFD));
    T(pipe2(p + 0, 0x12345));
    T(close(p[0]));
    T(close(p[1]));

    tcp_pair(&c, &s);
    int d = TFD(dup(s));
    T(close_range((unsigned)d, (unsigned)d, CLOSE_RANGE_CLOEXEC));
    T(fcntl(d, F_GETFD));
    T(close_range((unsigned)d, (unsigned)d, 0));
    T(fcntl(d, F_GETFD));
    T(close_range(5, 3, 0));
    T(close_range(3, ~0U, 0x12345));
    T(close_range(1u << 30, ~0U, 0));
    T(dup2(s, 40));
    T(dup2(s, 41));
    T((closefrom(40), 0));
    T(fcntl(40, F_GETFD));
    T(fcntl(41, F_GETFD));

    struct iovec iov[2] = {{buf, 8}, {buf + 8, 8}};
    struct mmsghdr mm[2] = {{.msg_hdr = {.msg_iov = iov, .msg_iovlen = 1}},
                            {.msg_hdr = {.msg_iov = iov + 1, .msg_iovlen = 1}}};
    T(recvmmsg(s, mm, 2, MSG_DONTWAIT, NULL));
    T(send(c, "0123456789", 10, 0));
    T(recvmmsg(s, mm, 2, 0, NULL));
    printf("  msg_len %u\n", mm[0].msg_len);
    T(recvmmsg(-1, mm, 2, 0, NULL));
    T(recvmmsg(INT_MAX, mm, 2, 0, NULL));

    T(__send(c, "ab", 2, 0));
    T(__read(s, buf, sizeof buf));
    T(__write(c, "cd", 2));
    T(__read(s, buf, sizeof buf));
    T(__send(-1, "ab", 2, 0));
    T(__write(INT_MAX, "ab", 2));
    T(__read(-1, buf, 1));
    T(__fcntl(s, F_GETFD));
    T(__fcntl(-1, F_GETFD));
    T(__fcntl(s, F_DUPFD, 70));
    T(__dup2(s, 71));
    T(__dup2(-1, 71));
    T(__close(70));
    T(__close(71));
    T(__close(71));
    T(__close(-1));
    struct sockaddr_in dead = loopback(dead_port());
    int u = socket(AF_INET, SOCK_STREAM, 0);
    T(__connect(u, (struct sockaddr *)&dead, sizeof dead));
    T(__connect(-1, (struct sockaddr *)&dead, sizeof dead));
    T(close(u));
    T(close(c));
    T(recvmmsg(s, mm, 2, 0, NULL));
    T(__read(s, buf, sizeof buf));
    T(close(s));
}

/* Which low fds are open: the library must not take any of them. */
static void open_fds(void)
{
    section("open fds below 1024");
    printf("  ");
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            printf("%d ", fd);
    printf("\n");
}

int main(int argc, char **argv)
{
    raw_fds = argc > 1 && strcmp(argv[1], "--fd-numbers") == 0;
    signal(SIGPIPE, SIG_IGN);
    alarm(60); /* a read that never returns must not hang the test */
    /* Fixed fd numbers in the output: start from a known layout. */
    for (int fd = 3; fd < 64; fd++)
        close(fd);
    creation();
    accept_connect();
    reads();
    writes();
    shutdowns();
    closes_and_dups();
    fcntls();
    fcloses();
    raw_syscalls();
    more_entry_points();
    if (raw_fds)
        open_fds();
    printf("END\n");
    return 0;
}

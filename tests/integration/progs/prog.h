/* Shared helpers for the integration test programs.
 *
 * Every program ends on its own within a bounded time: it takes the
 * detector's deadline as a hint (SOCKLEAK_TEST_DEADLINE_MS, default 200 ms)
 * and holds its sockets about three deadlines, long enough for a leak to be
 * reported and short enough for a quick suite; a program whose sockets the
 * test must see before it goes holds them until the test releases it
 * (hold_until_released, below). Servers listen on 127.0.0.1
 * only and print "listening on PORT" for the test driver.
 *
 * Lines the tests check are marked in the programs' sources: the read that
 * sees end-of-stream with an EOF-SITE comment, the call that made the
 * connection (accept for a server, connect for a client) with OPEN-SITE; the tests scan for the markers, so keep any call
 * whose stack is checked in the program's own .c file, not here.
 */
#ifndef PROG_H
#define PROG_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <stdint.h>
#include "rawsys.h" /* preload/arch/$(ARCH)/: the processor's raw system call */
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Prints "NAME: message: strerror" and exits 1: a test program that cannot
 * set up its scenario must fail loudly, not pass by doing nothing. */
static inline __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program_invocation_short_name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", strerror(e));
    exit(1);
}

/* fork(), the child exiting at once with 0, and waitpid() for it. */
static inline void fork_exit_wait(void)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0)
        _exit(0);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
        die("waitpid");
}

static inline long deadline_ms(void)
{
    const char *s = getenv("SOCKLEAK_TEST_DEADLINE_MS");
    long v = s ? strtol(s, NULL, 10) : 0;
    return v > 0 && v < 60000 ? v : 200;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Waits up to limit_ms for child pid: 1 once it ended (its status in
 * *status), 0 when it still runs (it is left running), -1 when waitpid
 * fails. */
static inline int reap_within(pid_t pid, long limit_ms, int *status)
{
    for (long waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
        if (waited >= limit_ms)
            return 0;
        sleep_ms(10);
    }
}

/* Holds whatever is open for three deadlines. */
static inline void linger(void)
{
    sleep_ms(3 * deadline_ms());
}

/* Holding until the test says so: a program whose sockets the test must see
 * (with ss, and in the logs) calls hold_prepare() before it prints its port
 * and hold_until_released(limit_ms) after; the test sends SIGUSR2 (through
 * `sockleak run`, which passes it on) once it has seen what it waits for. A
 * slow machine then only makes the hold longer. limit_ms bounds it when no
 * signal comes; returns 1 when released by the signal, 0 at the limit. */
#define HOLD_SIGNAL SIGUSR2
#define HOLD_LIMIT_MS 20000 /* below the tests' 30 s limit for a whole run */

static inline void hold_prepare(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, HOLD_SIGNAL);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        die("sigprocmask");
}

static inline int hold_until_released(long limit_ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, HOLD_SIGNAL);
    struct timespec end, now;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += limit_ms / 1000;
    end.tv_nsec += (limit_ms % 1000) * 1000000L;
    if (end.tv_nsec >= 1000000000L) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000L;
    }
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left_ns = (end.tv_sec - now.tv_sec) * 1000000000L + (end.tv_nsec - now.tv_nsec);
        if (left_ns <= 0)
            return 0;
        struct timespec ts = {left_ns / 1000000000L, left_ns % 1000000000L};
        if (sigtimedwait(&set, NULL, &ts) == HOLD_SIGNAL)
            return 1;
        if (errno != EINTR && errno != EAGAIN)
            die("sigtimedwait");
    }
}

/* A listening TCP socket on 127.0.0.1, any free port; *port gets the port. */
static inline int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        die("bind/listen");
    *port = ntohs(a.sin_port);
    return fd;
}

/* A non-blocking listener on 127.0.0.1, as an event loop has: for
 * nonblocking_tcp_pair. */
static inline int nonblocking_listener(int *port)
{
    int fd = listen_loopback(port);
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
        die("fcntl");
    return fd;
}

/* Prints the port for the test driver, which connects only after this. */
static inline void announce_port(int port)
{
    printf("listening on %d\n", port);
    fflush(stdout);
}

static inline int connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect to port %d", port);
    return fd;
}

/* A receive timeout, so a driver that never comes cannot hang a program. */
static inline void recv_timeout(int fd, int seconds)
{
    struct timeval tv = {seconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static inline void send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("send");
        p += n;
        len -= (size_t)n;
    }
}

/* A connected TCP pair over loopback: *client made by connect(), *server by
 * accept(). For programs whose creation stack is not under test. */
static inline void tcp_pair(int *client, int *server)
{
    int port;
    int lfd = listen_loopback(&port);
    *client = connect_loopback(port);
    *server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (*server < 0)
        die("accept");
    close(lfd);
}

/* A connected TCP pair over loopback made without a blocking call, both
 * ends non-blocking, as an event loop makes it. lfd is a non-blocking
 * listener on port. */
static inline void nonblocking_tcp_pair(int lfd, int port, int *client, int *server)
{
    *client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (*client < 0 ||
        (connect(*client, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS))
        die("connect");
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, -1) != 1)
        die("poll");
    *server = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    if (*server < 0)
        die("accept");
}

/* The number in argv[i], or def when absent. */
/* close(2) behind the library's back: an inline system call (the
 * processor's, preload/arch/), as a Go runtime or a static helper makes
 * it, which no hook sees. */
static inline long raw_close(int fd)
{
    return sl_raw_syscall4(SYS_close, fd, 0, 0, 0);
}

static inline long arg_long(int argc, char **argv, int i, long def)
{
    return i < argc ? strtol(argv[i], NULL, 10) : def;
}

#endif

/* Shared helpers for the integration test programs.
 *
 * Every program ends on its own within a bounded time: it takes the
 * detector's deadline as a hint (SOCKLEAK_TEST_DEADLINE_MS, default 200 ms)
 * and holds its sockets about three deadlines, long enough for a leak to be
 * reported and short enough for a quick suite. Servers listen on 127.0.0.1
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
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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

/* Holds whatever is open for three deadlines. */
static inline void linger(void)
{
    sleep_ms(3 * deadline_ms());
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

/* The number in argv[i], or def when absent. */
/* close(2) behind the library's back: an inline system call (x86-64), as a Go
 * runtime or a static helper makes it, which no hook sees. */
static inline long raw_close(int fd)
{
    long r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "0"((long)SYS_close), "D"((long)fd)
                     : "rcx", "r11", "memory");
    return r;
}

static inline long arg_long(int argc, char **argv, int i, long def)
{
    return i < argc ? strtol(argv[i], NULL, 10) : def;
}

#endif

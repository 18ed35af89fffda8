/* Blocking socket calls behave as without the library while it caps them:
 * st_blockio checks each one's result, errno and time with the library's
 * sweep due every SOCKLEAK_OPTIONS deadline/2 (at least 50 ms), so every
 * wait of T = 300 ms is cut several times. Each check prints "ok NAME" or
 * "FAIL NAME: why"; the exit status is the number of failures.
 *
 * SIGALRM's handler restarts the calls (SA_RESTART) and counts; at its
 * second run (T) it does what ends the wait: it sends the bytes a read
 * waits for, or connects to the listener an accept waits on. A call that
 * returned at the first (T/2) did not restart. The capped calls come
 * first, and the program checks that it still has one thread; then one of
 * those the library's thread must take (st_blockio CHECK): rcvtimeo, a
 * socket with a receive timeout; waitall, a read with MSG_WAITALL; send, a
 * send that waits; eintr, a handler that does not restart; sendsignal, a
 * write that went in part and waits, ended by a restarting handler's
 * signal; lowat, a read that waits for SO_RCVLOWAT bytes; lowatmax, the
 * same with a mark of -1. Under the library (LD_PRELOAD set) the program
 * has two threads after it, and its reads are libc's again (a mark set by a
 * raw system call heeded). */
#include <fcntl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include "checks.h"

#define T_MS 300

static int port, client, server;
static const char *late_bytes = "late";
/* What the second alarm does: send the late bytes, connect to the
 * listener, make the server's socket non-blocking, or nothing. */
static enum { LATE_SEND, LATE_CONNECT, LATE_NONBLOCK, LATE_NOTHING } late;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void on_tick(int sig)
{
    on_alarm(sig);
    if (alarms != 2)
        return;
    if (late == LATE_CONNECT) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connect(fd, (struct sockaddr *)&a, sizeof a); /* EINPROGRESS: kept open */
    } else if (late == LATE_SEND) {
        send(client, late_bytes, strlen(late_bytes), MSG_NOSIGNAL);
    } else if (late == LATE_NONBLOCK) {
        fcntl(server, F_SETFL, fcntl(server, F_GETFL) | O_NONBLOCK);
    }
}

/* SIGALRM at T/2 and T, through a handler that restarts when restart. */
static void ticks(int restart)
{
    struct sigaction sa = {.sa_handler = on_tick, .sa_flags = restart ? SA_RESTART : 0};
    sigaction(SIGALRM, &sa, NULL);
    alarms = 0;
    struct itimerval it = {.it_interval = {0, T_MS / 2 * 1000}, .it_value = {0, T_MS / 2 * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void ticks_off(void)
{
    struct itimerval it = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static int threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* A read that waits for the late bytes: read(), recv() or readv(). */
static void check_late_read(const char *name, int how)
{
    char buf[64] = {0};
    ticks(1);
    double t0 = now_ms();
    errno = ENOTTY;
    ssize_t r;
    if (how == 0) {
        r = read(server, buf, sizeof buf);
    } else if (how == 1) {
        r = recv(server, buf, sizeof buf, 0);
    } else {
        struct iovec iov = {buf, sizeof buf};
        r = readv(server, &iov, 1);
    }
    double spent = now_ms() - t0;
    ticks_off();
    check(name,
          r == 4 && !memcmp(buf, "late", 4) && errno == ENOTTY && alarms == 2 && spent >= T_MS - 5,
          "r=%zd errno=%d alarms=%d after %.0f ms", r, errno, (int)alarms, spent);
}

/* A socket read from (so its next read is tried at once) whose fd a raw
 * dup3 makes a non-blocking pipe, which the library does not see: its
 * reads are the pipe's, bytes then EAGAIN at once. */
static void check_fd_replaced(int lfd)
{
    int c2 = connect_loopback(port), s2 = accept(lfd, NULL, NULL), p[2];
    if (s2 < 0 || pipe2(p, O_NONBLOCK) < 0)
        die("accept or pipe2");
    char buf[8] = {0};
    send_all(c2, "sock", 4);
    ssize_t r = read(s2, buf, sizeof buf);
    if (syscall(SYS_dup3, p[0], s2, 0) != s2)
        die("dup3");
    if (write(p[1], "pipe", 4) != 4)
        die("write");
    ssize_t r2 = read(s2, buf + 4, 4);
    errno = 0;
    double t0 = now_ms();
    ssize_t r3 = recv(s2, buf, sizeof buf, 0), r4 = read(s2, buf, sizeof buf);
    int e3 = errno;
    check("read-fd-replaced",
          r == 4 && r2 == 4 && !memcmp(buf, "sockpipe", 8) && r3 == -1 && r4 == -1 &&
              e3 == EAGAIN && now_ms() - t0 < T_MS / 2,
          "r=%zd r2=%zd recv %zd read %zd errno=%d", r, r2, r3, r4, e3);
    close(s2);
    close(c2);
    close(p[0]);
    close(p[1]);
}

static void capped_checks(int lfd)
{
    check_late_read("read-restarted", 0);
    check_late_read("recv-restarted", 1);
    check_late_read("readv-restarted", 2);

    late = LATE_CONNECT;
    ticks(1);
    double t0 = now_ms();
    int fd = accept(lfd, NULL, NULL);
    double spent = now_ms() - t0;
    ticks_off();
    late = LATE_SEND;
    check("accept-restarted", fd >= 0 && alarms == 2 && spent >= T_MS - 5,
          "fd=%d errno=%d alarms=%d after %.0f ms", fd, errno, (int)alarms, spent);

    send_all(client, "peek", 4);
    char buf[8] = {0};
    ssize_t r = recv(server, buf, sizeof buf, MSG_PEEK);
    ssize_t r2 = read(server, buf, sizeof buf);
    check("recv-peek", r == 4 && r2 == 4 && !memcmp(buf, "peek", 4), "r=%zd r2=%zd", r, r2);

    int closed = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int gone, gone_port;
    gone = listen_loopback(&gone_port);
    close(gone);
    a.sin_port = htons((uint16_t)gone_port);
    errno = 0;
    int c = connect(closed, (struct sockaddr *)&a, sizeof a);
    check("connect-refused", c == -1 && errno == ECONNREFUSED, "r=%d errno=%d", c, errno);
    close(closed);

    /* Calls that return at once, whatever the library waits for. */
    char none[1];
    struct iovec iov0 = {none, 0};
    errno = 0;
    r = read(server, none, 0);
    ssize_t rv = readv(server, &iov0, 1);
    check("read-nothing", r == 0 && rv == 0 && errno == 0, "read %zd readv %zd errno=%d", r, rv,
          errno);
    errno = 0;
    c = accept(server, NULL, NULL);
    check("accept-not-listening", c == -1 && errno == EINVAL, "r=%d errno=%d", c, errno);

    /* Lengths past what the kernel takes at once: read and write check
     * the whole range (EFAULT), where recvfrom and sendto would not. */
    send_all(client, "huge", 4);
    volatile size_t huge = (size_t)1 << 47;
    errno = 0;
    r = read(server, buf, huge);
    int er = errno;
    errno = 0;
    ssize_t w = write(server, buf, huge);
    int ew = errno;
    r2 = read(server, buf, sizeof buf);
    check("read-write-huge", r == -1 && er == EFAULT && w == -1 && ew == EFAULT && r2 == 4,
          "read %zd errno=%d write %zd errno=%d then %zd", r, er, w, ew, r2);

    /* The handler makes the socket non-blocking: the read ends, EAGAIN. */
    late = LATE_NONBLOCK;
    ticks(1);
    t0 = now_ms();
    errno = 0;
    r = read(server, buf, sizeof buf);
    spent = now_ms() - t0;
    ticks_off();
    late = LATE_SEND;
    fcntl(server, F_SETFL, fcntl(server, F_GETFL) & ~O_NONBLOCK);
    check("read-made-nonblocking", r == -1 && errno == EAGAIN && alarms == 2 && spent >= T_MS - 5,
          "r=%zd errno=%d alarms=%d after %.0f ms", r, errno, (int)alarms, spent);

    check_fd_replaced(lfd);
    check("one-thread", threads() == 1, "%d threads", threads());
}

/* Checks the library's thread must take, one per run (the thread, once
 * started, stays). */
static void check_rcvtimeo(void)
{
    struct timeval tv = {0, T_MS * 1000}, none = {0, 0};
    setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[64];
    double t0 = now_ms();
    errno = 0;
    ssize_t r = recv(server, buf, sizeof buf, 0);
    double spent = now_ms() - t0;
    /* Cleared: the next read's wait (check_after_thread) ends at T too,
     * when its bytes come, and a timeout left here would race them. */
    setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    check("recv-rcvtimeo", r == -1 && errno == EAGAIN && spent >= T_MS - 5,
          "r=%zd errno=%d after %.0f ms", r, errno, spent);
}

/* A child process sends after ms, and exits. */
static pid_t send_later(int ms, const char *bytes)
{
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(ms);
        send_all(client, bytes, strlen(bytes));
        _exit(0);
    }
    return pid;
}

static void check_waitall(void)
{
    send_all(client, "wait", 4); /* then "late" at T: 8 bytes in two parts */
    pid_t pid = send_later(T_MS, "late");
    char all[8];
    errno = ENOTTY;
    ssize_t r = recv(server, all, sizeof all, MSG_WAITALL);
    check("recv-waitall", r == 8 && !memcmp(all, "waitlate", 8) && errno == ENOTTY,
          "r=%zd errno=%d", r, errno);
    waitpid(pid, NULL, 0);
}

/* 32 MiB into a peer that reads it all, slower than it comes. */
static void check_send(void)
{
    size_t big = 32u << 20;
    char *p = calloc(1, big);
    pid_t pid = fork();
    if (pid == 0) {
        close(server);
        size_t got = 0;
        char chunk[65536];
        ssize_t n;
        while (got < big && (n = read(client, chunk, sizeof chunk)) > 0)
            got += (size_t)n;
        _exit(got == big ? 0 : 1);
    }
    errno = ENOTTY;
    ssize_t r = send(server, p, big, 0);
    int st = 0;
    waitpid(pid, &st, 0);
    check("send-whole", r == (ssize_t)big && errno == ENOTTY && WIFEXITED(st) && !WEXITSTATUS(st),
          "r=%zd errno=%d child status %d", r, errno, st);
    free(p);
}

/* A write that went in part, then waits for a peer that reads nothing: a
 * signal ends it with the part, restarting handler or not. */
static void check_send_signal(void)
{
    size_t big = 64u << 20;
    char *p = calloc(1, big);
    late = LATE_NOTHING;
    ticks(1);
    double t0 = now_ms();
    errno = ENOTTY;
    ssize_t r = write(server, p, big);
    double spent = now_ms() - t0;
    ticks_off();
    check("write-part-at-signal",
          r > 0 && r < (ssize_t)big && errno == ENOTTY && spent >= T_MS / 2 - 5,
          "r=%zd errno=%d after %.0f ms", r, errno, spent);
    free(p);
}

/* A read of the server's socket that finds its bytes: under the library,
 * its next reads are tried at once. */
static void read_once(void)
{
    char buf[8];
    send_all(client, "seen", 4);
    if (read(server, buf, sizeof buf) != 4)
        die("read");
}

/* SO_RCVLOWAT 7: a read with 4 bytes there waits for the 8 sent at T (the
 * kernel wakes a reader when the bytes not yet copied reach the mark). The
 * socket was read from first. */
static void check_lowat(void)
{
    char buf[64];
    read_once();
    int lowat = 7;
    setsockopt(server, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
    send_all(client, "wait", 4);
    pid_t pid = send_later(T_MS, "latelate");
    double t0 = now_ms();
    ssize_t r = read(server, buf, sizeof buf);
    double spent = now_ms() - t0;
    check("read-lowat", r == 12 && !memcmp(buf, "waitlatelate", 12) && spent >= T_MS - 5,
          "r=%zd errno=%d after %.0f ms", r, errno, spent);
    waitpid(pid, NULL, 0);
}

/* SO_RCVLOWAT -1, which the kernel makes INT_MAX: a read with 4 bytes
 * there waits for more, here until its SO_RCVTIMEO of T, and returns them. */
static void check_lowat_negative(void)
{
    char buf[64];
    read_once();
    int lowat = -1;
    struct timeval tv = {0, T_MS * 1000}, none = {0, 0};
    setsockopt(server, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
    setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    send_all(client, "wait", 4);
    double t0 = now_ms();
    ssize_t r = read(server, buf, sizeof buf);
    double spent = now_ms() - t0;
    setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    check("read-lowat-negative", r == 4 && !memcmp(buf, "wait", 4) && spent >= T_MS - 5,
          "r=%zd errno=%d after %.0f ms", r, errno, spent);
}

/* Once the library's thread does its work, the reads are libc's again: a
 * mark set by a raw system call (which no hook sees) is heeded, the read
 * with 3 bytes there waiting for the 8 sent at T (as in check_lowat). */
static void check_after_thread(void)
{
    int lowat = 8;
    if (syscall(SYS_setsockopt, server, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) != 0)
        die("setsockopt");
    send_all(client, "raw", 3);
    pid_t pid = send_later(T_MS, "rawlowat");
    char buf[64];
    double t0 = now_ms();
    ssize_t r = read(server, buf, sizeof buf);
    double spent = now_ms() - t0;
    check("read-raw-lowat-after-thread",
          r == 11 && !memcmp(buf, "rawrawlowat", 11) && spent >= T_MS - 5,
          "r=%zd errno=%d after %.0f ms", r, errno, spent);
    waitpid(pid, NULL, 0);
}

static void check_eintr(void)
{
    char buf[64];
    ticks(0); /* no SA_RESTART: the read ends at the first signal */
    double t0 = now_ms();
    errno = 0;
    ssize_t r = read(server, buf, sizeof buf);
    double spent = now_ms() - t0;
    ticks_off();
    check("read-eintr", r == -1 && errno == EINTR && alarms == 1 && spent >= T_MS / 2 - 5,
          "r=%zd errno=%d alarms=%d after %.0f ms", r, errno, (int)alarms, spent);
}

/* The checks the library's thread must take, by name. */
static const struct {
    const char *name;
    void (*run)(void);
} fallbacks[] = {
    {"rcvtimeo", check_rcvtimeo},
    {"waitall", check_waitall},
    {"send", check_send},
    {"eintr", check_eintr},
    {"sendsignal", check_send_signal},
    {"lowat", check_lowat},
    {"lowatmax", check_lowat_negative},
};
#define N_FALLBACKS (sizeof fallbacks / sizeof fallbacks[0])

int main(int argc, char **argv)
{
    size_t k = 0;
    while (argc == 2 && k < N_FALLBACKS && strcmp(argv[1], fallbacks[k].name))
        k++;
    if (argc != 2 || k == N_FALLBACKS) {
        fprintf(stderr, "usage: st_blockio CHECK, one of:");
        for (size_t i = 0; i < N_FALLBACKS; i++)
            fprintf(stderr, " %s", fallbacks[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    int lfd = listen_loopback(&port); /* blocking: the library's sweep starts */
    client = connect_loopback(port);  /* a blocking connect */
    server = accept(lfd, NULL, NULL);
    if (server < 0)
        die("accept");
    capped_checks(lfd);
    fallbacks[k].run();
    check("threads-after", threads() == (getenv("LD_PRELOAD") ? 2 : 1), "%d threads", threads());
    check_after_thread();
    printf("%d failures\n", failures);
    return failures;
}

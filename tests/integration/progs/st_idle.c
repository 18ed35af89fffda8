/* A single-threaded event-loop server that leaks, then sits idle in one kind
 * of wait: st_idle MODE, MODE one of epoll, poll, select, pselect, ppoll,
 * nanosleep, sleep, clock_nanosleep, pause, sigsuspend, sigtimedwait,
 * waitpid (for a child that waits to be killed: a wait with no timeout,
 * where the library's thread must take over, for SIGUSR2's handler does not
 * restart it), waitpid_restart (the same with a handler that restarts it
 * and kills the child: the library polls a pidfd of the child); or
 * busy: compute (no wait at all) for 2 s, then exit.
 *
 * Its TCP sockets are non-blocking, its waits the only place it blocks (a
 * blocking UDP socket's connect never waits). It
 * accepts two connections; the first reads end-of-stream and is kept
 * (close_wait), the second is never read again after its peer closes
 * (close_wait_unread). Then it waits in MODE, with no timeout or a long
 * one, until SIGUSR2 (a handler: every wait returns EINTR) or 60 s. The
 * test checks that the findings are written while it waits, by the
 * program's one thread.
 *
 * It prints "listening on PORT" and, once both connections are in, "idle". */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>
#include "prog.h"

static volatile sig_atomic_t released;
static pid_t child; /* waitpid modes */

static void on_release(int sig)
{
    (void)sig;
    released = 1;
    if (child > 0)
        kill(child, SIGKILL); /* waitpid_restart: the restarted wait then returns */
}

/* One wait in mode, up to 60 s (or for ever where the call takes no time). */
static void wait_once(const char *mode, int lfd)
{
    struct timespec long_ts = {60, 0};
    if (!strcmp(mode, "epoll")) {
        static int ep = -1;
        if (ep < 0) {
            ep = epoll_create1(EPOLL_CLOEXEC);
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
            if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
                die("epoll");
        }
        struct epoll_event out;
        epoll_wait(ep, &out, 1, -1);
    } else if (!strcmp(mode, "poll")) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        poll(&p, 1, -1);
    } else if (!strcmp(mode, "ppoll")) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        ppoll(&p, 1, &long_ts, NULL);
    } else if (!strcmp(mode, "select")) {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(lfd, &r);
        struct timeval tv = {60, 0};
        select(lfd + 1, &r, NULL, NULL, &tv);
    } else if (!strcmp(mode, "pselect")) {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(lfd, &r);
        pselect(lfd + 1, &r, NULL, NULL, NULL, NULL);
    } else if (!strcmp(mode, "nanosleep")) {
        nanosleep(&long_ts, NULL);
    } else if (!strcmp(mode, "clock_nanosleep")) {
        clock_nanosleep(CLOCK_MONOTONIC, 0, &long_ts, NULL);
    } else if (!strcmp(mode, "sleep")) {
        sleep(60);
    } else if (!strcmp(mode, "pause")) {
        pause();
    } else if (!strcmp(mode, "sigsuspend")) {
        sigset_t none;
        sigemptyset(&none);
        sigsuspend(&none);
    } else if (!strcmp(mode, "waitpid") || !strcmp(mode, "waitpid_restart")) {
        if (!child) {
            child = fork();
            if (child < 0)
                die("fork");
            if (child == 0) { /* holds none of the parent's sockets */
                closefrom(3);
                for (;;)
                    pause();
            }
        }
        int st;
        if (waitpid(child, &st, 0) == child || released) {
            kill(child, SIGKILL);
            waitpid(child, &st, 0);
        }
    } else if (!strcmp(mode, "sigtimedwait")) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1); /* never sent: SIGUSR2's handler ends the wait */
        sigtimedwait(&set, NULL, &long_ts);
    } else {
        fprintf(stderr, "st_idle: unknown mode %s\n", mode);
        exit(2);
    }
}

/* Waits (in poll: the program's own loop) until fd is readable. */
static void wait_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            die("poll");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: st_idle MODE\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa = {.sa_handler = on_release};
    if (!strcmp(argv[1], "waitpid_restart"))
        sa.sa_flags = SA_RESTART; /* the wait goes on after the handler */
    sigaction(SIGUSR2, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 8) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &len) < 0)
        die("listen");
    printf("listening on %d\n", ntohs(a.sin_port));
    /* A blocking datagram socket's connect never waits: it makes no thread. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    if (u < 0 || connect(u, (struct sockaddr *)&a, sizeof a) < 0)
        die("udp connect");
    close(u);

    int conn[2];
    for (int i = 0; i < 2; i++) {
        wait_readable(lfd);
        conn[i] = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); /* OPEN-SITE */
        if (conn[i] < 0)
            die("accept4");
    }
    /* The first: read to end-of-stream and keep it. */
    char buf[64];
    for (;;) {
        wait_readable(conn[0]);
        ssize_t r = recv(conn[0], buf, sizeof buf, 0); /* EOF-SITE */
        if (r == 0)
            break;
        if (r < 0 && errno != EAGAIN)
            die("recv");
    }
    printf("idle\n");
    if (!strcmp(argv[1], "busy")) { /* due work with no wait to do it: done at exit */
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t);
        while (t.tv_sec - t0.tv_sec < 2);
        return 0;
    }
    while (!released)
        wait_once(argv[1], lfd);
    return 0;
}

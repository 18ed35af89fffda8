/* Signal handlers that call hooked, async-signal-safe functions while the
 * interrupted thread works on sockets, and so may be inside the library's
 * own locked sections.
 *
 *   sg_handler dup ITERATIONS [INTERVAL_US]
 *                               a SIGALRM handler every INTERVAL_US (default
 *                               20) makes a socket, dup2s it over fd 114 and
 *                               closes both, while main reads end-of-stream,
 *                               dup2s onto fd 50 (the same fd-table stripe)
 *                               and closes
 *   sg_handler fork SECONDS [INTERVAL_US]
 *                               a SIGALRM handler every INTERVAL_US (default
 *                               500) forks a child that exits at once and
 *                               waits for it, while main reads end-of-stream
 *                               and closes (under valgrind a fork takes
 *                               longer than 500 us: the handler would run
 *                               back to back and main never get on)
 *
 * Both print "iterations N signals M" and exit 0; every socket is closed
 * right after its end-of-stream, so there is nothing to report. */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include "prog.h"

#define MAIN_FD 50
#define HANDLER_FD (MAIN_FD + 64)

static atomic_long signals;
static atomic_int handler_failed;

static void on_alarm_dup(int sig)
{
    (void)sig;
    int e = errno;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || dup2(s, HANDLER_FD) != HANDLER_FD || close(HANDLER_FD) != 0 || close(s) != 0)
        atomic_store(&handler_failed, 1);
    atomic_fetch_add(&signals, 1);
    errno = e;
}

static void on_alarm_fork(int sig)
{
    (void)sig;
    int e = errno;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int status = -1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
        atomic_store(&handler_failed, 1);
    atomic_fetch_add(&signals, 1);
    errno = e;
}

static void start_timer(void (*handler)(int), long interval_us)
{
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        die("sigaction");
    struct itimerval it = {{0, interval_us}, {0, interval_us}};
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        die("setitimer");
}

static void stop_timer(void)
{
    struct itimerval it = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &it, NULL);
}

/* One connection's life: end-of-stream read, a dup2 onto MAIN_FD when asked,
 * every descriptor closed. */
static void one_eof(int with_dup)
{
    int sv[2];
    char c;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair");
    if (shutdown(sv[1], SHUT_WR) != 0)
        die("shutdown");
    ssize_t r;
    while ((r = read(sv[0], &c, 1)) < 0 && errno == EINTR)
        ;
    if (r != 0)
        die("read of end-of-stream returned %zd", r);
    if (with_dup) {
        if (dup2(sv[0], MAIN_FD) != MAIN_FD)
            die("dup2");
        close(MAIN_FD);
    }
    close(sv[0]);
    close(sv[1]);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int dup_mode = argc > 1 && strcmp(argv[1], "dup") == 0;
    int fork_mode = argc > 1 && strcmp(argv[1], "fork") == 0;
    if (!dup_mode && !fork_mode) {
        fprintf(stderr, "usage: sg_handler dup ITERATIONS | fork SECONDS [INTERVAL_US]\n");
        return 2;
    }
    long n = arg_long(argc, argv, 2, dup_mode ? 20000 : 2);
    long done = 0;
    long interval_us = arg_long(argc, argv, 3, dup_mode ? 20 : 500);
    if (dup_mode) {
        start_timer(on_alarm_dup, interval_us);
        for (; done < n; done++)
            one_eof(1);
    } else {
        start_timer(on_alarm_fork, interval_us);
        for (double end = now_s() + (double)n; now_s() < end; done++)
            one_eof(0);
    }
    stop_timer();
    if (atomic_load(&handler_failed)) {
        fprintf(stderr, "sg_handler: a hooked call failed inside the signal handler\n");
        return 1;
    }
    printf("iterations %ld signals %ld\n", done, atomic_load(&signals));
    return 0;
}

/* Signal handlers that call hooked, async-signal-safe functions while the
 * interrupted thread works on sockets, and so may be inside the library's
 * own locked sections.
 *
 *   sg_handler dup ITERATIONS [MAX_DELAY_US]
 *                               a SIGALRM handler makes a socket, dup2s it
 *                               over fd 114 and closes both, while main reads
 *                               end-of-stream, dup2s onto fd 50 (the same
 *                               fd-table stripe) and closes
 *   sg_handler fork ITERATIONS [MAX_DELAY_US]
 *                               a SIGALRM handler forks a child that exits at
 *                               once and waits for it, while main reads
 *                               end-of-stream and closes
 *   sg_handler forknest ITERATIONS [MAX_DELAY_US]
 *                               the same handler, while main forks and waits
 *                               (so the handler's fork often comes in the
 *                               middle of main's); then main leaks a TCP
 *                               socket whose end-of-stream it read, prints
 *                               "listening on PORT" and holds it until
 *                               SIGUSR2 (prog.h), which the library must
 *                               report

 * The signal rate follows the program's progress, never the wall clock: the
 * one-shot timer is armed again, with a pseudo-random delay of 1 to
 * MAX_DELAY_US (default 40), only after the last signal was handled and main
 * finished one more iteration. However slow the machine or the handler (a
 * fork under valgrind, a stack capture), main always gets on, and the signal
 * still lands anywhere in main's work. At the end main waits for the signal
 * still pending, so a run that armed the timer handles at least one.
 *
 * dup and fork print "iterations N signals M" and exit 0; every socket is
 * closed right after its end-of-stream, so there is nothing to report.
 * forknest prints "nested K" too: the signals handled while main was in
 * fork(). */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include "prog.h"

#define MAIN_FD 50
#define HANDLER_FD (MAIN_FD + 64)

static atomic_long signals, nested;
static atomic_int handler_failed;
static volatile sig_atomic_t in_fork; /* main is in fork() (forknest) */

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
    if (in_fork)
        atomic_fetch_add(&nested, 1);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int status = -1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
        atomic_store(&handler_failed, 1);
    atomic_fetch_add(&signals, 1);
    errno = e;
}

static void install(void (*handler)(int))
{
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        die("sigaction");
}

/* Arms the one-shot timer when the signal armed last has been handled. */
static long armed;
static unsigned long rng = 0x9e3779b97f4a7c15UL;

static void arm_if_handled(long max_delay_us)
{
    if (atomic_load(&signals) < armed)
        return;
    rng = rng * 6364136223846793005UL + 1442695040888963407UL;
    long delay = 1 + (long)((rng >> 33) % (unsigned long)max_delay_us);
    struct itimerval it = {{0, 0}, {delay / 1000000, delay % 1000000}};
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        die("setitimer");
    armed++;
}

/* Waits for the signal still pending, if any (blocked while checking, so
 * that it cannot slip in between the check and the wait). */
static void wait_pending(void)
{
    sigset_t alrm, old;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    if (sigprocmask(SIG_BLOCK, &alrm, &old) != 0)
        die("sigprocmask");
    sigset_t wait_mask = old;
    sigdelset(&wait_mask, SIGALRM);
    while (atomic_load(&signals) < armed)
        sigsuspend(&wait_mask);
    sigprocmask(SIG_SETMASK, &old, NULL);
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

/* One fork of main's, the child exiting at once. */
static void one_fork(void)
{
    in_fork = 1;
    pid_t pid = fork();
    in_fork = 0;
    if (pid == 0)
        _exit(0);
    int status = -1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
        die("fork or waitpid in main");
}

/* A TCP socket whose end-of-stream main read, held open until released. */
static void leak_held(void)
{
    int port, lfd = listen_loopback(&port);
    int c = connect_loopback(port);
    int s = accept(lfd, NULL, NULL); /* OPEN-SITE */
    char b;
    if (s < 0 || close(c) != 0)
        die("accept");
    if (read(s, &b, 1) != 0) /* EOF-SITE */
        die("end-of-stream");
    announce_port(port);
    hold_until_released(HOLD_LIMIT_MS);
}

int main(int argc, char **argv)
{
    int dup_mode = argc > 1 && strcmp(argv[1], "dup") == 0;
    int nest_mode = argc > 1 && strcmp(argv[1], "forknest") == 0;
    int fork_mode = nest_mode || (argc > 1 && strcmp(argv[1], "fork") == 0);
    if (!dup_mode && !fork_mode) {
        fprintf(stderr, "usage: sg_handler dup|fork|forknest ITERATIONS [MAX_DELAY_US]\n");
        return 2;
    }
    if (nest_mode)
        hold_prepare();
    long n = arg_long(argc, argv, 2, dup_mode ? 20000 : 2000);
    long max_delay_us = arg_long(argc, argv, 3, 40);
    if (n < 0 || max_delay_us < 1)
        die("bad ITERATIONS or MAX_DELAY_US");
    long done = 0;
    install(dup_mode ? on_alarm_dup : on_alarm_fork);
    for (; done < n; done++) {
        arm_if_handled(max_delay_us);
        if (nest_mode)
            one_fork();
        else
            one_eof(dup_mode);
    }
    wait_pending();
    if (atomic_load(&handler_failed)) {
        fprintf(stderr, "sg_handler: a hooked call failed inside the signal handler\n");
        return 1;
    }
    printf("iterations %ld signals %ld\n", done, atomic_load(&signals));
    if (nest_mode) {
        printf("nested %ld\n", atomic_load(&nested));
        leak_held();
    }
    return 0;
}

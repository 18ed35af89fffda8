/* Waits behave as without the library while it caps them: st_waits checks
 * each hooked wait's result, errno, and the time it took or left, with a
 * TCP socket open (so the library has a sweep pending every
 * SOCKLEAK_OPTIONS deadline/2, at least 50 ms, and caps every wait at it).
 * Each check prints "ok NAME" or "FAIL NAME: why"; the exit status is the
 * number of failures.
 *
 * Times: every wait is T = 300 ms, a signal (SIGALRM, no SA_RESTART) comes
 * after T/2 where one is wanted. A wait must not end before its time; how
 * long after it ends is the machine's business (a loaded machine makes it
 * late). Time left (select's timeval, a sleep's remainder) is what the
 * wait had left when it returned: never more than its time less what this
 * program saw pass, never less than that measured before the call. A
 * signal that comes during the library's own work inside a wait is
 * st_sigwork's check. */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/wait.h>
#include "checks.h"

#define T_MS 300

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* A one-shot SIGALRM after ms. */
static void alarm_in(int ms)
{
    struct itimerval it = {.it_value = {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

/* A timer's signal may come a little early by this clock (ITIMER_REAL
 * counts another one): 5 ms of tolerance. */
static int took(double start, double want_ms)
{
    return now_ms() - start >= want_ms - 5;
}

/* left_ms, what a wait of total_ms said it had left, against spent_ms, the
 * time this program saw pass from before the call to after it. */
static int left_ok(double left_ms, double total_ms, double spent_ms)
{
    return left_ms >= total_ms - spent_ms - 1 && left_ms <= total_ms;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0); /* the library's sweep starts */
    if (tcp < 0)
        die("socket");
    int pipefd[2];
    if (pipe(pipefd) < 0)
        die("pipe");

    double t0 = now_ms();
    int r = poll(NULL, 0, T_MS);
    check("poll-timeout", r == 0 && took(t0, T_MS), "r=%d after %.0f ms", r, now_ms() - t0);

    struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
    t0 = now_ms();
    alarm_in(T_MS / 2);
    errno = 0;
    r = poll(&p, 1, 20000); /* ends by the signal: 20 s only so as never to hang */
    check("poll-eintr", r == -1 && errno == EINTR && took(t0, T_MS / 2), "r=%d errno=%d after %.0f ms",
          r, errno, now_ms() - t0);

    if (write(pipefd[1], "x", 1) != 1)
        die("write");
    t0 = now_ms();
    r = poll(&p, 1, T_MS);
    check("poll-ready", r == 1 && (p.revents & POLLIN), "r=%d revents=%d", r, p.revents);
    char c;
    if (read(pipefd[0], &c, 1) != 1)
        die("read");

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = pipefd[0]}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &ev);
    t0 = now_ms();
    r = epoll_wait(ep, &out, 1, T_MS);
    check("epoll_wait-timeout", r == 0 && took(t0, T_MS), "r=%d after %.0f ms", r, now_ms() - t0);
    t0 = now_ms();
    alarm_in(T_MS / 2);
    errno = 0;
    r = epoll_pwait(ep, &out, 1, -1, NULL);
    check("epoll_pwait-eintr", r == -1 && errno == EINTR && took(t0, T_MS / 2),
          "r=%d errno=%d after %.0f ms", r, errno, now_ms() - t0);
    errno = 0;
    r = epoll_wait(-1, &out, 1, T_MS);
    check("epoll_wait-ebadf", r == -1 && errno == EBADF, "r=%d errno=%d", r, errno);

    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(pipefd[0], &rd);
    struct timeval tv = {0, T_MS * 1000};
    t0 = now_ms();
    r = select(pipefd[0] + 1, &rd, NULL, NULL, &tv);
    check("select-timeout", r == 0 && took(t0, T_MS) && !FD_ISSET(pipefd[0], &rd) &&
                                tv.tv_sec == 0 && tv.tv_usec == 0,
          "r=%d set=%d tv=%ld.%06ld after %.0f ms", r, FD_ISSET(pipefd[0], &rd),
          (long)tv.tv_sec, (long)tv.tv_usec, now_ms() - t0);
    FD_ZERO(&rd);
    FD_SET(pipefd[0], &rd);
    tv = (struct timeval){1, 0};
    t0 = now_ms();
    alarm_in(T_MS / 2);
    errno = 0;
    r = select(pipefd[0] + 1, &rd, NULL, NULL, &tv);
    long left_ms = tv.tv_sec * 1000 + tv.tv_usec / 1000;
    double spent = now_ms() - t0;
    check("select-eintr-left", r == -1 && errno == EINTR && left_ok(left_ms, 1000, spent),
          "r=%d errno=%d left %ld ms after %.0f ms", r, errno, left_ms, spent);
    FD_ZERO(&rd);
    FD_SET(pipefd[0], &rd);
    if (write(pipefd[1], "x", 1) != 1)
        die("write");
    tv = (struct timeval){1, 0};
    r = select(pipefd[0] + 1, &rd, NULL, NULL, &tv);
    check("select-ready", r == 1 && FD_ISSET(pipefd[0], &rd), "r=%d", r);
    if (read(pipefd[0], &c, 1) != 1)
        die("read");
    FD_ZERO(&rd);
    FD_SET(pipefd[0], &rd);
    struct timespec ts = {0, T_MS * 1000000L};
    t0 = now_ms();
    r = pselect(pipefd[0] + 1, &rd, NULL, NULL, &ts, NULL);
    check("pselect-timeout", r == 0 && took(t0, T_MS) && !FD_ISSET(pipefd[0], &rd),
          "r=%d after %.0f ms", r, now_ms() - t0);

    t0 = now_ms();
    r = ppoll(&p, 1, &ts, NULL);
    check("ppoll-timeout", r == 0 && took(t0, T_MS), "r=%d after %.0f ms", r, now_ms() - t0);
    struct timespec bad = {0, 2000000000L};
    errno = 0;
    r = ppoll(&p, 1, &bad, NULL);
    check("ppoll-einval", r == -1 && errno == EINVAL, "r=%d errno=%d", r, errno);

    t0 = now_ms();
    r = nanosleep(&ts, NULL);
    check("nanosleep", r == 0 && took(t0, T_MS), "r=%d after %.0f ms", r, now_ms() - t0);
    struct timespec req = {1, 0}, rem = {0, 0};
    t0 = now_ms();
    alarm_in(T_MS / 2);
    errno = 0;
    r = nanosleep(&req, &rem);
    spent = now_ms() - t0;
    double rem_ms = rem.tv_sec * 1e3 + rem.tv_nsec / 1e6;
    check("nanosleep-eintr-rem", r == -1 && errno == EINTR && left_ok(rem_ms, 1000, spent),
          "r=%d errno=%d rem %.0f ms after %.0f ms", r, errno, rem_ms, spent);
    errno = 0;
    r = nanosleep(&bad, NULL);
    check("nanosleep-einval", r == -1 && errno == EINVAL, "r=%d errno=%d", r, errno);

    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += T_MS * 1000000L;
    if (abs.tv_nsec >= 1000000000L) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000L;
    }
    t0 = now_ms();
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL);
    struct timespec after;
    clock_gettime(CLOCK_MONOTONIC, &after);
    check("clock_nanosleep-abs", r == 0 && (after.tv_sec > abs.tv_sec ||
                                            (after.tv_sec == abs.tv_sec && after.tv_nsec >= abs.tv_nsec)),
          "r=%d", r);
    rem = (struct timespec){0, 0};
    t0 = now_ms();
    alarm_in(T_MS / 2);
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
    spent = now_ms() - t0;
    rem_ms = rem.tv_sec * 1e3 + rem.tv_nsec / 1e6;
    check("clock_nanosleep-eintr", r == EINTR && left_ok(rem_ms, 1000, spent),
          "r=%d rem %.0f ms after %.0f ms", r, rem_ms, spent);

    t0 = now_ms();
    alarm_in(T_MS * 2);
    unsigned int u = sleep(2);
    spent = now_ms() - t0;
    /* sleep returns the whole seconds left: at least those left when this
     * program looked, at most 1 (the signal came after 600 ms). */
    check("sleep-eintr", (int)u >= (spent >= 2000 ? 0 : (int)((2000 - spent) / 1000)) && u <= 1 &&
                             took(t0, T_MS * 2),
          "returned %u after %.0f ms", u, spent);
    t0 = now_ms();
    r = usleep(T_MS * 1000);
    check("usleep", r == 0 && took(t0, T_MS), "r=%d after %.0f ms", r, now_ms() - t0);

    int before = alarms;
    t0 = now_ms();
    alarm_in(T_MS);
    errno = 0;
    r = pause();
    check("pause", r == -1 && errno == EINTR && alarms == before + 1 && took(t0, T_MS),
          "r=%d errno=%d after %.0f ms", r, errno, now_ms() - t0);

    /* sigsuspend with SIGALRM blocked outside it: the handler runs inside. */
    sigset_t alrm, old, none;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &alrm, &old);
    before = alarms;
    t0 = now_ms();
    alarm_in(T_MS);
    errno = 0;
    r = sigsuspend(&none);
    check("sigsuspend", r == -1 && errno == EINTR && alarms == before + 1 && took(t0, T_MS),
          "r=%d errno=%d after %.0f ms", r, errno, now_ms() - t0);

    /* sigtimedwait: times out with EAGAIN; takes a pending SIGALRM. */
    t0 = now_ms();
    errno = 0;
    r = sigtimedwait(&alrm, NULL, &ts);
    check("sigtimedwait-timeout", r == -1 && errno == EAGAIN && took(t0, T_MS),
          "r=%d errno=%d after %.0f ms", r, errno, now_ms() - t0);
    t0 = now_ms();
    alarm_in(T_MS);
    siginfo_t si;
    r = sigwaitinfo(&alrm, &si);
    check("sigwaitinfo", r == SIGALRM && si.si_signo == SIGALRM && took(t0, T_MS),
          "r=%d after %.0f ms", r, now_ms() - t0);
    t0 = now_ms();
    alarm_in(T_MS);
    int sig = 0;
    r = sigwait(&alrm, &sig);
    check("sigwait", r == 0 && sig == SIGALRM && took(t0, T_MS), "r=%d sig=%d after %.0f ms", r,
          sig, now_ms() - t0);
    sigprocmask(SIG_SETMASK, &old, NULL);

    /* Waits for a child, with SIGALRM's handler restarting (SA_RESTART):
     * the library polls a pidfd of the child. The handler runs and the wait
     * goes on to the child's exit, with its pid and status. */
    struct sigaction restart = {.sa_handler = on_alarm, .sa_flags = SA_RESTART}, plain;
    sigaction(SIGALRM, &restart, &plain);
    t0 = now_ms();
    pid_t kid = fork();
    if (kid == 0) {
        struct timespec d = {0, T_MS * 1000000L};
        while (nanosleep(&d, &d) < 0)
            ;
        _exit(7);
    }
    before = alarms;
    alarm_in(T_MS / 2);
    int st = 0;
    pid_t w = waitpid(kid, &st, 0);
    check("waitpid-restart", w == kid && WIFEXITED(st) && WEXITSTATUS(st) == 7 &&
                                 alarms == before + 1 && took(t0, T_MS),
          "r=%d status=%#x alarms=%d after %.0f ms", (int)w, st, alarms - before, now_ms() - t0);
    t0 = now_ms();
    kid = fork();
    if (kid == 0) {
        struct timespec d = {0, T_MS * 1000000L};
        while (nanosleep(&d, &d) < 0)
            ;
        _exit(3);
    }
    struct rusage ru = {0};
    w = wait4(kid, &st, 0, &ru);
    check("wait4-rusage", w == kid && WIFEXITED(st) && WEXITSTATUS(st) == 3 && ru.ru_maxrss > 0 &&
                              took(t0, T_MS),
          "r=%d status=%#x maxrss=%ld after %.0f ms", (int)w, st, ru.ru_maxrss, now_ms() - t0);
    errno = 0;
    w = waitpid(getppid(), &st, 0);
    check("waitpid-echild", w == -1 && errno == ECHILD, "r=%d errno=%d", (int)w, errno);
    errno = 0;
    w = wait(&st);
    check("wait-none-echild", w == -1 && errno == ECHILD, "r=%d errno=%d", (int)w, errno);
    sigaction(SIGALRM, &plain, NULL);

    errno = 12345;
    poll(NULL, 0, 1);
    check("errno-kept", errno == 12345, "errno %d", errno);

    close(tcp);
    printf("%d failures\n", failures);
    return failures;
}

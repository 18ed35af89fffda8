/* A blocking waitpid ends with EINTR when a handler that does not restart
 * runs, with or without the library, however the handler was made so:
 * st_waitintr makes the library cap a waitpid first (every handler
 * restarts: it polls a pidfd), then turns SIGALRM's restarting off through
 * siginterrupt, then sets a handler with sysv_signal (no SA_RESTART), and
 * checks that each following waitpid is ended by the signal. A TCP socket
 * is open, so the library has a sweep due and caps the waits. Prints "ok
 * NAME" or "FAIL NAME: why"; the exit status is the number of failures. */
#include <sys/wait.h>
#include "checks.h"

/* Deprecated, and still what programs call: the library must see it. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define T_MS 300

/* A child that exits with code after T_MS. */
static pid_t child_after_t(int code)
{
    pid_t kid = fork();
    if (kid < 0)
        die("fork");
    if (kid == 0) {
        struct timespec d = {0, T_MS * 1000000L};
        while (nanosleep(&d, &d) < 0)
            ;
        _exit(code);
    }
    return kid;
}

/* waitpid for a child exiting after T_MS, SIGALRM at T_MS/2: the result,
 * and the child reaped in any case. */
static pid_t wait_with_alarm(pid_t kid, int *st, int *err)
{
    struct itimerval it = {.it_value = {0, T_MS * 500}};
    setitimer(ITIMER_REAL, &it, NULL);
    errno = 0;
    pid_t w = waitpid(kid, st, 0);
    *err = errno;
    if (w != kid)
        while (waitpid(kid, NULL, 0) < 0 && errno == EINTR)
            ;
    return w;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    if (tcp < 0)
        die("socket");
    int st, err;
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &sa, NULL);
    pid_t kid = child_after_t(1);
    pid_t w = wait_with_alarm(kid, &st, &err);
    check("restart", w == kid && WIFEXITED(st) && WEXITSTATUS(st) == 1, "r=%d errno=%d",
          (int)w, err);

    siginterrupt(SIGALRM, 1);
    kid = child_after_t(2);
    w = wait_with_alarm(kid, &st, &err);
    check("siginterrupt-eintr", w == -1 && err == EINTR, "r=%d errno=%d", (int)w, err);

    siginterrupt(SIGALRM, 0);
    kid = child_after_t(3);
    w = wait_with_alarm(kid, &st, &err);
    check("siginterrupt-restart", w == kid && WIFEXITED(st) && WEXITSTATUS(st) == 3,
          "r=%d errno=%d", (int)w, err);

    sysv_signal(SIGALRM, on_alarm); /* SysV: no SA_RESTART, reset after one */
    kid = child_after_t(4);
    w = wait_with_alarm(kid, &st, &err);
    check("sysv_signal-eintr", w == -1 && err == EINTR, "r=%d errno=%d", (int)w, err);

    close(tcp);
    printf("%d failures\n", failures);
    return failures;
}

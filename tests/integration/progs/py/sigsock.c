/* A C signal handler doing socket work wherever it lands: on SIGPROF
 * (every millisecond of CPU time) it makes a TCP socket and closes it,
 * keeping errno. Loaded by signals.py with ctypes. */
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static volatile int runs;

static void on_prof(int sig)
{
    (void)sig;
    int e = errno;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) {
        close(fd);
        runs++;
    }
    errno = e;
}

void sigsock_start(void)
{
    struct sigaction sa = {.sa_handler = on_prof, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, NULL);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_PROF, &it, NULL);
}

void sigsock_stop(void)
{
    struct itimerval it = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &it, NULL);
    signal(SIGPROF, SIG_IGN);
}

int sigsock_runs(void)
{
    return runs;
}

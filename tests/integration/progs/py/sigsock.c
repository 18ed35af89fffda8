/* A C signal handler doing socket work wherever it lands: on SIGPROF
 * (every millisecond of CPU time) it makes a TCP socket and closes it,
 * keeping errno. Loaded by signals.py (and finalizing.py) with ctypes. */
#include <errno.h>
#include <stdlib.h>
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

/* close_at_exit(fd): fd is closed by a C exit handler, which runs after the
 * interpreter finalized (daemon threads' states freed), then the process
 * waits 200 ms for the threads that read its end-of-stream. */
static int exit_fds[256], exit_n;

static void close_them(void)
{
    for (int i = 0; i < exit_n; i++)
        close(exit_fds[i]);
    usleep(200000);
}

void close_at_exit(int fd)
{
    if (exit_n == 0)
        atexit(close_them);
    if (exit_n < 256)
        exit_fds[exit_n++] = fd;
}

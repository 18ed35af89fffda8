/* A signal that comes while the library does its work inside the program's
 * wait must still end the wait with EINTR, as it would without the library.
 *
 * Run with SOCKLEAK_OPTIONS verbosity=2 (one line on stderr per finding)
 * and a short deadline. The program's stderr is a pipe it fills first, so
 * the library's line for a finding blocks in write(2). The program leaks a
 * socket that read end-of-stream and waits in poll (5 s, on a pipe that
 * never becomes readable). A watcher child waits until the program is in
 * that write (/proc/PID/syscall), sends SIGALRM, then drains the pipe: the
 * signal comes while the library does its work inside the program's poll.
 * Prints "EINTR after N ms" and exits 0 when the poll ended so, else "poll
 * returned R" and exits 1. */
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include "prog.h"

#define N 4

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);

    int err[2], idle[2];
    if (pipe(err) < 0 || pipe(idle) < 0)
        die("pipe");
    pid_t parent = getpid();
    pid_t watcher = fork();
    if (watcher < 0)
        die("fork");
    if (watcher == 0) {
        close(err[1]);
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/syscall", (int)parent);
        for (int i = 0; i < 30000; i++) { /* up to 30 s */
            FILE *f = fopen(path, "r");
            int in_write = f && fgets(line, sizeof line, f) && !strncmp(line, "1 0x2 ", 6);
            if (f)
                fclose(f);
            if (in_write)
                break;
            usleep(1000);
        }
        kill(parent, SIGALRM);
        char buf[4096];
        while (read(err[0], buf, sizeof buf) > 0) /* drain until the parent is gone */
            ;
        _exit(0);
    }
    close(err[0]);
    if (dup2(err[1], 2) < 0)
        die("dup2");
    close(err[1]);
    /* Fill the pipe: the library's next line on stderr blocks. */
    fcntl(2, F_SETFL, O_NONBLOCK);
    static char junk[4096];
    while (write(2, junk, sizeof junk) > 0)
        ;
    fcntl(2, F_SETFL, 0);

    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0); /* the library's sweep starts */
    if (tcp < 0)
        die("socket");
    for (int i = 0; i < N; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
            die("socketpair");
        close(sv[1]);
        char c;
        if (recv(sv[0], &c, 1, 0) != 0) /* end-of-stream, kept open */
            die("recv");
    }
    struct pollfd p = {.fd = idle[0], .events = POLLIN};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    errno = 0;
    int r = poll(&p, 1, 5000);
    int e = errno;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (r == -1 && e == EINTR && alarms == 1) {
        printf("EINTR after %ld ms\n", ms);
        return 0;
    }
    printf("poll returned %d (errno %d) after %ld ms, %d signal(s) handled\n", r, e, ms,
           (int)alarms);
    return 1;
}

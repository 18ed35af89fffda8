/* CPU time of a process that holds SOCKETS idle TCP sockets (SOCKETS/2
 * loopback connections) for SECONDS: what the kernel sweep costs it.
 *     idle SOCKETS SECONDS
 * prints "idle SOCKETS SECONDS CPU_SECONDS", CPU of every thread (user +
 * system) while holding, after the connections are made. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "idle: %s: %s\n", what, strerror(errno));
    exit(2);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        die("getrusage");
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10000, secs = argc > 2 ? atol(argv[2]) : 10;
    struct rlimit rl = {(rlim_t)n + 64, (rlim_t)n + 64};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        (long)rl.rlim_cur < n + 64)
        n = (long)rl.rlim_cur - 64;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &len) < 0)
        die("listen");
    for (long i = 0; i + 1 < n; i += 2) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0 || accept(lfd, NULL, NULL) < 0)
            die("connect/accept");
    }
    double before = cpu_seconds();
    struct timespec ts = {secs, 0};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    printf("idle %ld %ld %.4f\n", n, secs, cpu_seconds() - before);
    return 0;
}

/* The fd numbers a program gets, and how many it can open, at a given fd
 * limit, after it read end-of-stream on a socket (so the library is active
 * and has written a finding). Its output must be the same with and without
 * the library (see test_fds.py for the one documented difference).
 *
 * Usage: fd_numbers LIMIT soft|both
 *   soft: only the soft limit is set (the hard one stays higher);
 *   both: soft and hard limit are both LIMIT. */
#include "prog.h"
#include <fcntl.h>
#include <sys/resource.h>

static void show(const char *what, int r)
{
    if (r < 0)
        printf("%s = -1 (%s)\n", what, strerror(errno));
    else
        printf("%s = %d\n", what, r);
}

/* A socket that read end-of-stream and stays open: the library is at work. */
static int eof_leak(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    recv_timeout(srv, 10);
    close(cli);
    char b[8];
    if (read(srv, b, sizeof b) != 0) /* EOF-SITE */
        die("expected end-of-stream");
    return srv;
}

static void probes(int limit)
{
    int got[16], n = 0;
    int null = open("/dev/null", O_RDONLY);
    show("open", got[n++] = null);
    show("socket", got[n++] = socket(AF_INET, SOCK_STREAM, 0));
    int port;
    int l = listen_loopback(&port);
    show("listen", got[n++] = l);
    show("connect", got[n++] = connect_loopback(port));
    show("accept", got[n++] = accept(l, NULL, NULL));
    show("dup", got[n++] = dup(null));
    int p[2];
    if (pipe2(p, O_CLOEXEC) == 0) {
        printf("pipe2 fds %d %d\n", p[0], p[1]);
        close(p[0]);
        close(p[1]);
    } else {
        show("pipe2", -1);
    }
    int mins[] = {limit - 1, limit - 2, limit - 3, limit / 2, 900, limit};
    for (size_t i = 0; i < sizeof mins / sizeof mins[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "F_DUPFD(limit%+d)", mins[i] - limit);
        if (mins[i] == 900)
            snprintf(what, sizeof what, "F_DUPFD(900)");
        show(what, got[n++] = fcntl(null, F_DUPFD, mins[i]));
    }
    for (int i = 0; i < n; i++)
        if (got[i] >= 0)
            close(got[i]);
}

/* Nothing of the program's is open above its own few fds now: every probe
 * of a higher number must say "not open", as without the library. */
static void scan(int limit)
{
    printf("open above 3:");
    for (int fd = 4; fd < limit + 64; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            printf(" %d", fd);
    printf("\nclosable above 3:");
    for (int fd = 4; fd < limit + 64; fd++)
        if (close(fd) == 0)
            printf(" %d", fd);
    int fd2 = dup2(0, limit - 1);
    printf("\ndup2 onto limit-1: %d\n", fd2);
    if (fd2 >= 0)
        close(fd2);
}

static void count(void)
{
    static int fds[1 << 16];
    int n = 0, last = -1, fd;
    while (n < (int)(sizeof fds / sizeof fds[0]) && (fd = open("/dev/null", O_RDONLY)) >= 0) {
        fds[n++] = fd;
        last = fd;
    }
    printf("openable %d, highest %d, then %s\n", n, last, strerror(errno));
    while (n > 0)
        close(fds[--n]);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        die("usage: fd_numbers LIMIT soft|both");
    int limit = (int)arg_long(argc, argv, 1, 64);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)limit;
    if (strcmp(argv[2], "both") == 0)
        rl.rlim_max = (rlim_t)limit;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("setrlimit");
    int kept = eof_leak();
    printf("kept %d\n", kept);
    sleep_ms(3 * deadline_ms()); /* the finding is written now */
    probes(limit);
    scan(limit);
    count();
    printf("second leak %d\n", eof_leak());
    printf("END\n");
    fflush(stdout);
    sleep_ms(3 * deadline_ms());
    return 0;
}

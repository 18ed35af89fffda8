/* fd_full_server LIMIT: a server whose accepted connections fill its fd
 * table. Its soft RLIMIT_NOFILE is set to LIMIT (the hard one is left), so
 * once the clients hold LIMIT - 4 connections accept4 fails with EMFILE, again
 * and again while connections wait in the queue (the listener stays
 * readable): one episode of fd exhaustion. The connections stay open until
 * their peers close them; once none is left the table is free again, and
 * the next fill is a second episode.
 *
 * stdout, line-buffered: "listening on PORT", then "fd N" for each accepted
 * fd, "full PID CLIENTS ERRNO" at the first failure of each fill (ERRNO by
 * name), "drained" when the last client is gone, and "failures N" at exit
 * (SIGTERM). */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 4096

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static int listener(void)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 256) != 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) != 0) {
        perror("listen");
        exit(2);
    }
    printf("listening on %d\n", ntohs(sa.sin_port));
    return l;
}

static struct pollfd p[MAX_CLIENTS + 1];
static int n = 1; /* p[0] is the listener */
static int full;
static long failures;

static void accept_one(int l)
{
    int c = accept4(l, NULL, NULL, SOCK_CLOEXEC); /* ACCEPT-SITE */
    if (c >= 0 && n <= MAX_CLIENTS) {
        p[n++] = (struct pollfd){.fd = c, .events = POLLIN};
        printf("fd %d\n", c);
    } else if (c >= 0) {
        close(c);
    } else if (errno == EMFILE || errno == ENFILE) {
        failures++;
        if (!full)
            printf("full %d %d %s\n", (int)getpid(), n - 1, errno == EMFILE ? "EMFILE" : "ENFILE");
        full = 1;
        usleep(2000);
    } else if (errno != EINTR) {
        printf("accept4 failed: %s\n", strerror(errno));
    }
}

static void serve(int i)
{
    char buf[256];
    ssize_t r = read(p[i].fd, buf, sizeof buf);
    if (r > 0 || (r < 0 && errno == EINTR))
        return;
    close(p[i].fd);
    p[i] = p[--n];
    if (n == 1 && full) {
        full = 0;
        printf("drained\n");
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = argc > 1 ? (rlim_t)atol(argv[1]) : 64;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        perror("setrlimit");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    p[0] = (struct pollfd){.fd = listener(), .events = POLLIN};
    while (!stop) {
        if (poll(p, (nfds_t)n, 1000) < 0)
            continue;
        for (int i = n - 1; i >= 1; i--)
            if (p[i].revents)
                serve(i);
        if (p[0].revents & POLLIN)
            accept_one(p[0].fd);
    }
    printf("failures %ld\n", failures);
    return 0;
}

/* time_wait_churn: a client and its server (a fork child) on
 * 127.0.0.1:PORT. Meant for a network namespace of its own with a small
 * ephemeral port range (tests/integration/tw_netns.sh).
 *
 *   tw_churn percon N PORT [MS]  one connection per request, N of them:
 *                             the client closes first (its sockets go to
 *                             TIME_WAIT); with MS, a pause of MS
 *                             milliseconds (a nanosleep) after the first
 *                             half
 *   tw_churn pooled N PORT    one connection, N requests on it
 *   tw_churn srvfirst N PORT  one connection per request, but the server
 *                             closes first (its accepted sockets go to
 *                             TIME_WAIT); the client waits for the server's
 *                             FIN (poll POLLRDHUP, no read of it) and closes
 *   tw_churn forked N PORT    percon, then a fork child that exits at once
 *                             (normally: its exit handlers run)
 *   tw_churn exhaust N PORT   N connections per request, then more from
 *                             another call site until connect fails: it
 *                             must fail with EADDRNOTAVAIL
 *
 * With TW_HOLD_FILE set, the client waits (nanosleep) until that file
 * exists before it exits, its server gone.
 *
 * Exit status 0 when every call did what it does without the library. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in addr;
static int srvfirst;

static void die(const char *what)
{
    perror(what);
    exit(2);
}

/* The server: one connection at a time; each request byte gets a reply.
 * It stops when the client closes the pipe (stop). */
static void serve(int l, int stop)
{
    for (;;) {
        struct pollfd p[2] = {{l, POLLIN, 0}, {stop, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (p[1].revents)
            exit(0);
        int c = accept(l, NULL, NULL);
        if (c < 0)
            die("accept");
        char b;
        ssize_t r;
        while ((r = recv(c, &b, 1, 0)) == 1) {
            if (send(c, "y", 1, MSG_NOSIGNAL) != 1)
                break;
            if (srvfirst)
                break; /* the server closes first */
        }
        close(c);
    }
}

static void request(int c)
{
    char b;
    if (send(c, "x", 1, MSG_NOSIGNAL) != 1)
        die("send");
    if (recv(c, &b, 1, 0) != 1)
        die("recv reply");
}

static void connect_or_die(int c)
{
    if (connect(c, (struct sockaddr *)&addr, sizeof addr) < 0) /* CONNECT-SITE */
        die("connect");
}

/* One connection, one request, closed by the client first. */
static void per_request(void)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0)
        die("socket");
    connect_or_die(c);
    request(c);
    if (srvfirst) {
        /* The server's FIN, seen without reading it. */
        struct pollfd p = {c, POLLRDHUP, 0};
        while (!(p.revents & (POLLRDHUP | POLLHUP)))
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                die("poll rdhup");
    }
    close(c);
}

static void pooled(int n)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0)
        die("socket");
    connect_or_die(c);
    for (int i = 0; i < n; i++)
        request(c);
    close(c);
}

static void bulk(int n)
{
    for (int i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0)
            die("socket");
        if (connect(c, (struct sockaddr *)&addr, sizeof addr) < 0) /* BULK-SITE */
            die("connect bulk");
        request(c);
        close(c);
    }
}

/* Connections until connect fails: the errno it failed with, how many
 * succeeded in *made. */
static int until_no_port(int *made)
{
    for (*made = 0; *made < 5000; (*made)++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0)
            die("socket");
        errno = 0;
        if (connect(c, (struct sockaddr *)&addr, sizeof addr) < 0) { /* EXHAUST-SITE */
            int e = errno;
            close(c);
            return e;
        }
        request(c);
        close(c);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5)
        return fprintf(stderr, "usage: tw_churn percon|pooled|srvfirst|exhaust N PORT [MS]\n"), 2;
    long pause_ms = argc == 5 ? atol(argv[4]) : 0;
    const char *mode = argv[1];
    int n = atoi(argv[2]);
    srvfirst = strcmp(mode, "srvfirst") == 0;
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((unsigned short)atoi(argv[3]));
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), pp[2];
    if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(l, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(l, 64) < 0 || pipe(pp) < 0)
        die("listener");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(pp[1]);
        serve(l, pp[0]);
    }
    close(pp[0]);
    close(l);
    int rc = 0;
    if (!strcmp(mode, "percon") || !strcmp(mode, "forked") || srvfirst) {
        for (int i = 0; i < n; i++) {
            if (pause_ms && i == n / 2) {
                struct timespec ts = {pause_ms / 1000, pause_ms % 1000 * 1000000};
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                    ;
            }
            per_request();
        }
        printf("%d connections\n", n);
        if (!strcmp(mode, "forked")) {
            fflush(stdout);
            pid_t child = fork();
            if (child == 0)
                exit(0);
            int cst;
            if (child < 0 || waitpid(child, &cst, 0) != child || !WIFEXITED(cst))
                die("fork child");
        }
    } else if (!strcmp(mode, "pooled")) {
        pooled(n);
        printf("%d requests on one connection\n", n);
    } else if (!strcmp(mode, "exhaust")) {
        bulk(n);
        int made, e = until_no_port(&made);
        printf("connect failed with %s after %d more connections\n",
               e ? strerrorname_np(e) : "nothing", made);
        rc = e == EADDRNOTAVAIL ? 0 : 3;
    } else {
        return fprintf(stderr, "unknown mode %s\n", mode), 2;
    }
    close(pp[1]);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return fprintf(stderr, "server ended badly (%d)\n", st), 2;
    fflush(stdout);
    const char *hold = getenv("TW_HOLD_FILE");
    for (int i = 0; hold && i < 600 && access(hold, F_OK) != 0; i++) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    return rc;
}

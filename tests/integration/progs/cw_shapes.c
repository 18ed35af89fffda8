/* Sockets in CLOSE_WAIT that no read revealed: each shape sets itself up,
 * prints "listening on PORT" (the port of its listener, for the test to
 * look the sockets up with ss), holds them until the test releases it
 * (SIGUSR2, see hold_until_released; at most HOLD_LIMIT_MS) and exits 0.
 *
 *   cw_shapes unread N      N client connections read a response, then the
 *                           server sends 100 more bytes and closes: each
 *                           client sits in CLOSE_WAIT with its FIN and 100
 *                           bytes never read (an idle pooled connection)
 *   cw_shapes inherited     a server accepts a connection and forks a
 *                           worker; the client closes, the parent reads
 *                           end-of-stream and closes its copy correctly; the
 *                           worker's copy keeps the connection in CLOSE_WAIT
 *   cw_shapes unaccepted N  N clients connect to a listener that never
 *                           accepts, then close: their connections wait in
 *                           its accept queue in CLOSE_WAIT
 *   cw_shapes exit          reads end-of-stream on one connection and leaves
 *                           another in CLOSE_WAIT unread, then exits as soon
 *                           as the test looked (at most half a deadline)
 *                           without closing either (a short-lived process)
 */
#include <sys/wait.h>
#include "prog.h"

#define MAX_CONNS 64

static int make_listener(int *port) /* LISTEN-SITE is the socket() inside */
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* LISTEN-SITE */
    if (fd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, MAX_CONNS) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        die("bind/listen");
    *port = ntohs(a.sin_port);
    return fd;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) /* OPEN-SITE */
        die("connect");
    return fd;
}

static void read_response(int fd)
{
    char buf[16];
    if (recv(fd, buf, 5, MSG_WAITALL) != 5) /* LAST-READ-SITE */
        die("recv");
}

static int unread_mode(long n)
{
    int port, clients[MAX_CONNS];
    int lfd = make_listener(&port);
    char more[100];
    memset(more, 'x', sizeof more);
    for (long i = 0; i < n && i < MAX_CONNS; i++) {
        clients[i] = dial(port);
        int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (s < 0)
            die("accept");
        send_all(s, "hello", 5);
        read_response(clients[i]);
        send_all(s, more, sizeof more); /* a response nobody reads */
        close(s);                       /* the server's idle timeout */
    }
    hold_prepare();
    announce_port(port);
    hold_until_released(HOLD_LIMIT_MS);
    return 0;
}

static int inherited_mode(void)
{
    int port;
    int lfd = make_listener(&port);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    int s = accept(lfd, NULL, NULL); /* OPEN-SITE-INHERITED */
    if (s < 0)
        die("accept");
    hold_prepare(); /* in the worker too */
    pid_t pid = fork(); /* FORK-SITE */
    if (pid < 0)
        die("fork");
    if (pid == 0) { /* the worker closes what it knows of, and forgets s */
        close(c);
        close(lfd);
        hold_until_released(HOLD_LIMIT_MS); /* the parent passes the release on */
        exit(0);
    }
    close(c); /* the client hangs up */
    char buf[16];
    if (read(s, buf, sizeof buf) != 0)
        die("read of end-of-stream");
    close(s); /* the parent's copy, closed correctly */
    announce_port(port);
    hold_until_released(HOLD_LIMIT_MS);
    kill(pid, HOLD_SIGNAL);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("worker");
    return 0;
}

static int unaccepted_mode(long n)
{
    int port;
    int lfd = make_listener(&port);
    (void)lfd; /* never accepted: the application is stuck elsewhere */
    for (long i = 0; i < n && i < MAX_CONNS; i++)
        close(dial(port));
    hold_prepare();
    announce_port(port);
    hold_until_released(HOLD_LIMIT_MS);
    return 0;
}

static int exit_mode(void)
{
    int port;
    int lfd = make_listener(&port);
    int c1 = dial(port), s1 = accept(lfd, NULL, NULL);
    int c2 = dial(port), s2 = accept(lfd, NULL, NULL);
    if (s1 < 0 || s2 < 0)
        die("accept");
    close(s1);
    close(s2);
    char buf[16];
    sleep_ms(50); /* both FINs are in */
    if (read(c1, buf, sizeof buf) != 0) /* EOF-SITE */
        die("read of end-of-stream");
    hold_prepare();
    announce_port(port);
    hold_until_released(deadline_ms() / 2); /* the test looks, well before any deadline */
    (void)c2;
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "unread"))
        return unread_mode(arg_long(argc, argv, 2, 3));
    if (!strcmp(mode, "inherited"))
        return inherited_mode();
    if (!strcmp(mode, "unaccepted"))
        return unaccepted_mode(arg_long(argc, argv, 2, 3));
    if (!strcmp(mode, "exit"))
        return exit_mode();
    fprintf(stderr, "usage: cw_shapes unread N | inherited | unaccepted N | exit\n");
    return 2;
}

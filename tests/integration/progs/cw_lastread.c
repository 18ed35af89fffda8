/* A server that reads each request at two places and keeps the connection:
 * its sockets sit in CLOSE_WAIT with their end-of-stream never read, and the
 * last read is the body's, four calls deep (close_wait_unread, last read at
 * read_body < handle_conn < serve < main).
 *
 *   cw_lastread N   prints "listening on PORT", accepts N connections, reads
 *                   a 5-byte header (read_header) and a 4-byte body
 *                   (read_body) from each and keeps it open; holds them
 *                   until the test releases it (SIGUSR2) and exits 0.
 * The test's clients send "HEAD\nbody" and hang up. */
#include "prog.h"

#define MAX_CONNS 64

static int kept[MAX_CONNS];
static int nkept;

static void read_header(int fd)
{
    char buf[8];
    if (recv(fd, buf, 5, MSG_WAITALL) != 5) /* FIRST-READ-SITE */
        die("recv header");
}

static void read_body(int fd)
{
    char buf[8];
    if (recv(fd, buf, 4, MSG_WAITALL) != 4) /* LAST-READ-SITE */
        die("recv body");
}

static void handle_conn(int fd)
{
    read_header(fd);
    read_body(fd); /* HANDLE-SITE */
    kept[nkept++] = fd; /* kept for a reply that never comes */
}

static void serve(int lfd, long n)
{
    for (long i = 0; i < n && i < MAX_CONNS; i++) {
        int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* ACCEPT-SITE */
        if (s < 0)
            die("accept");
        recv_timeout(s, 20);
        handle_conn(s); /* SERVE-SITE */
    }
}

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 2);
    int port;
    int lfd = listen_loopback(&port);
    hold_prepare();
    announce_port(port);
    serve(lfd, n); /* MAIN-SITE */
    hold_until_released(HOLD_LIMIT_MS);
    return 0;
}

/* leaky_client: reads a server's banner to the end and then keeps the
 * connection's fd: its side of the connection stays in CLOSE_WAIT.
 *
 * Usage: leaky_client PORT [--linger-ms M]
 *   Connects to 127.0.0.1:PORT, copies everything the server sends to stdout
 *   until the server closes, then sleeps M milliseconds (default 3000) and
 *   exits 0 without closing the socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Returns a socket connected to 127.0.0.1:port, or -1. */
static int connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { /* OPEN-SITE */
        close(fd);
        return -1;
    }
    return fd;
}

/* Copies the banner to stdout until end-of-stream; returns bytes read or -1. */
static long read_banner(int fd)
{
    char buf[1024];
    long total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf); /* EOF-SITE */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return total; /* BUG: the caller never closes fd after this. */
        fwrite(buf, 1, (size_t)n, stdout);
        total += n;
    }
}

int main(int argc, char **argv)
{
    long linger_ms = 3000;
    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--linger-ms") == 0)) {
        fprintf(stderr, "usage: leaky_client PORT [--linger-ms M]\n");
        return 2;
    }
    if (argc == 4)
        linger_ms = strtol(argv[3], NULL, 10);
    int port = atoi(argv[1]);
    if (port <= 0 || port > 65535 || linger_ms < 0) {
        fprintf(stderr, "leaky_client: bad port or linger time\n");
        return 2;
    }

    int fd = connect_loopback(port);
    if (fd < 0) {
        perror("leaky_client: connect");
        return 1;
    }
    long n = read_banner(fd);
    if (n < 0) {
        perror("leaky_client: read");
        return 1;
    }
    fflush(stdout);
    struct timespec ts = {linger_ms / 1000, (linger_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return 0;
}

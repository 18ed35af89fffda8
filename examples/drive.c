/* drive: a tiny client for the example servers, so the demo needs neither
 * curl nor nc.
 *
 * Usage: drive PORT QUITS HANGUPS
 *   Opens QUITS connections that send "QUIT" and wait for the server to
 *   close, and HANGUPS connections that send one request, read the echo and
 *   hang up (the case leaky_server gets wrong), alternating. Exits 0 when
 *   every connection went as expected, 1 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    /* A server that stops answering must not hang the demo. */
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends msg, then reads until want bytes arrived (want > 0) or until EOF
 * (want == 0). Returns 0 on success. */
static int exchange(int fd, const char *msg, size_t want)
{
    if (send(fd, msg, strlen(msg), MSG_NOSIGNAL) != (ssize_t)strlen(msg))
        return -1;
    char buf[256];
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return want == 0 ? 0 : -1;
        got += (size_t)n;
        if (want > 0 && got >= want)
            return 0;
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: drive PORT QUITS HANGUPS\n");
        return 2;
    }
    int port = atoi(argv[1]), quits = atoi(argv[2]), hangups = atoi(argv[3]);
    int failed = 0;
    for (int i = 0; quits > 0 || hangups > 0; i++) {
        int quit = (i % 2 == 0 && quits > 0) || hangups == 0;
        int fd = connect_loopback(port);
        if (fd < 0) {
            perror("drive: connect");
            return 1;
        }
        if (quit) {
            quits--;
            failed |= exchange(fd, "QUIT\n", 0) != 0;
        } else {
            hangups--;
            failed |= exchange(fd, "hello\n", 6) != 0;
        }
        close(fd);
    }
    if (failed)
        fprintf(stderr, "drive: the server did not answer as expected\n");
    return failed;
}

/* leaky_server: a thread-per-connection TCP request server with a classic
 * CLOSE_WAIT bug, for trying sockleak on.
 *
 * Usage: leaky_server PORT [--max-conns N] [--linger-ms M]
 *   Listens on 127.0.0.1:PORT (0 = any free port) and prints
 *   "listening on PORT". Each connection gets its own thread: every request
 *   is echoed back; a request starting with "QUIT" gets "bye" and the
 *   connection is closed. When the client simply hangs up, the handler
 *   forgets to close (see handle_client), and the socket stays in CLOSE_WAIT
 *   until the process exits.
 *   With --max-conns N the server stops after N connections have been
 *   handled and M more milliseconds have passed (default 0); without it, it
 *   runs until SIGINT or SIGTERM. Either way it exits 0.
 *
 * Its twin fixed_server.c is the same program with the bug fixed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static atomic_int conns_handled;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Writes all of buf; returns 0, or -1 when the peer is gone. */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Serves one connection; owns fd. */
static void *handle_client(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0); /* EOF-SITE */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            break;
        }
        if (n == 0) {
            /* BUG: the client hung up, but we leave without close(fd): the
             * socket sits in CLOSE_WAIT and the fd leaks. */
            break;
        }
        if (n >= 4 && memcmp(buf, "QUIT", 4) == 0) {
            send_all(fd, "bye\n", 4);
            close(fd);
            break;
        }
        if (send_all(fd, buf, (size_t)n) < 0) {
            close(fd);
            break;
        }
    }
    atomic_fetch_add(&conns_handled, 1);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_requested)
        ;
}

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: leaky_server PORT [--max-conns N] [--linger-ms M]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long port = -1, max_conns = 0, linger_ms = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--max-conns") == 0 && i + 1 < argc) {
            if (parse_long(argv[++i], &max_conns) < 0)
                usage();
        } else if (strcmp(argv[i], "--linger-ms") == 0 && i + 1 < argc) {
            if (parse_long(argv[++i], &linger_ms) < 0)
                usage();
        } else if (port < 0) {
            if (parse_long(argv[i], &port) < 0 || port > 65535)
                usage();
        } else {
            usage();
        }
    }
    if (port < 0)
        usage();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() must wake up */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        perror("socket");
        return 1;
    }
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 64) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
        perror("bind/listen");
        return 1;
    }
    printf("listening on %d\n", ntohs(addr.sin_port));
    fflush(stdout);

    long accepted = 0;
    while (!stop_requested && (max_conns == 0 || accepted < max_conns)) {
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* OPEN-SITE */
        if (cfd < 0)
            continue;
        accepted++;
        pthread_t th;
        if (pthread_create(&th, NULL, handle_client, (void *)(intptr_t)cfd) != 0) {
            close(cfd);
            atomic_fetch_add(&conns_handled, 1);
            continue;
        }
        pthread_detach(th);
    }
    close(lfd);

    if (max_conns > 0) {
        while (!stop_requested && atomic_load(&conns_handled) < accepted)
            sleep_ms(20);
        if (!stop_requested)
            sleep_ms(linger_ms);
    }
    printf("handled %d connections\n", atomic_load(&conns_handled));
    return 0;
}

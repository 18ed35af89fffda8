/* A single-threaded server of the oldest kind, every socket blocking, that
 * leaks, then sits idle in one blocking call: st_blocking MODE, MODE one of
 *   accept  a blocking accept() on its listener;
 *   recv    a blocking recv() on a connection that stays open and silent;
 *   read    the same with read();
 *   send    a blocking send() of 64 MiB into that connection, whose other
 *           end reads nothing (a send's wait is not capped: the library's
 *           thread takes the work);
 *   fdopen  fgets() on that connection through stdio (libc's own read: the
 *           thread too);
 *   prefork accept as in accept mode, by a worker the process forked once
 *           it listened (its parent waits for it): a listener inherited
 *           through fork may be shared, its wait is not capped (the
 *           thread).
 *
 * It connects to its own listener with a blocking connect (the connection
 * it later waits on), then accepts three connections with blocking
 * accepts: its own, and the driver's two. The driver's first is read to
 * end-of-stream and kept (close_wait), its second never read again after
 * its peer closes (close_wait_unread). Then it waits in MODE until SIGUSR2,
 * whose handler restarts the call (SA_RESTART) and shuts the listener or
 * the connection down, which ends it. The test checks that the findings
 * are written while it waits there, on time, and by how many threads.
 *
 * It prints "listening on PORT" and, once both connections are in, "idle". */
#include "prog.h"

static int lfd = -1, held = -1;
static const char *mode;

static void on_release(int sig)
{
    (void)sig;
    if (!strcmp(mode, "accept") || !strcmp(mode, "prefork"))
        shutdown(lfd, SHUT_RDWR); /* the accept returns (EINVAL) */
    else
        shutdown(held, SHUT_RDWR); /* the read returns 0, the send fails */
}

static void wait_in_mode(int own)
{
    char buf[256];
    if (!strcmp(mode, "accept") || !strcmp(mode, "prefork")) {
        int fd = accept(lfd, NULL, NULL);
        if (fd >= 0 || errno != EINVAL)
            die("accept after shutdown: %d", fd);
    } else if (!strcmp(mode, "recv")) {
        if (recv(held, buf, sizeof buf, 0) != 0)
            die("recv after shutdown");
    } else if (!strcmp(mode, "read")) {
        if (read(held, buf, sizeof buf) != 0)
            die("read after shutdown");
    } else if (!strcmp(mode, "send")) {
        size_t big = 64u << 20;
        char *p = calloc(1, big);
        if (!p)
            die("calloc");
        ssize_t n = send(held, p, big, MSG_NOSIGNAL);
        if (n == (ssize_t)big)
            die("a send of 64 MiB never waited");
        free(p);
    } else if (!strcmp(mode, "fdopen")) {
        FILE *f = fdopen(held, "r");
        if (!f || fgets(buf, sizeof buf, f))
            die("fgets after shutdown");
    } else {
        die("unknown mode %s", mode);
    }
    close(own);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: st_blocking accept|recv|read|send|fdopen|prefork\n");
        return 2;
    }
    mode = argv[1];
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa = {.sa_handler = on_release, .sa_flags = SA_RESTART};
    sigaction(SIGUSR2, &sa, NULL);

    int port;
    lfd = listen_loopback(&port);
    if (!strcmp(mode, "prefork")) {
        pid_t worker = fork();
        if (worker < 0)
            die("fork");
        if (worker > 0) {
            int st;
            while (waitpid(worker, &st, 0) < 0)
                if (errno != EINTR)
                    die("waitpid");
            return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
        }
    }
    int own = connect_loopback(port); /* a blocking connect */
    held = accept(lfd, NULL, NULL);
    if (held < 0)
        die("accept");
    announce_port(port);
    int conn[2];
    for (int i = 0; i < 2; i++) {
        conn[i] = accept(lfd, NULL, NULL); /* OPEN-SITE */
        if (conn[i] < 0)
            die("accept");
    }
    /* The first: read to end-of-stream and keep it. */
    char buf[64];
    for (;;) {
        ssize_t r = recv(conn[0], buf, sizeof buf, 0); /* EOF-SITE */
        if (r == 0)
            break;
        if (r < 0)
            die("recv");
    }
    printf("idle\n");
    wait_in_mode(own);
    return 0;
}

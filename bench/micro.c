/* Micro benchmarks of the calls sockleak interposes. One case per run:
 *     micro CASE ITERATIONS
 * prints "CASE ITERATIONS NS_PER_ITERATION" on stdout. Run the same binary
 * with and without LD_PRELOAD (and under callgrind for N and 2N iterations:
 * set-up and warm-up are the same for any N, so the difference between the
 * two runs divided by N is the cost of one iteration).
 *
 * Cases:
 *   read_pipe    read() of 1 byte from a pipe that holds data (fd not tracked)
 *   rw_pipe      write() of 1 byte into a pipe, then read() of it back (fds not
 *                tracked): rw_pipe - read_pipe is one untracked write()
 *   recv_data    recv() of 1 byte on an accepted loopback TCP socket with data
 *   recv_data_nb the same on non-blocking sockets, as an event loop has them
 *   recv_eagain  recv() on a non-blocking accepted TCP socket with no data
 *   churn        socket, connect, accept, client close, server recv -> 0 (EOF),
 *                server close, over loopback TCP
 *   serve        churn with a request: the client sends 1 byte before it
 *                closes, the server reads it, then end-of-stream, at one
 *                place (a server's read loop): serve - churn is one data read
 *                on a new connection, its first (read-site stack) included
 *   eof          socketpair, close one end, recv -> 0 on the other, close it
 *   noeof        the same without the recv: eof - noeof = one EOF read
 *   forkwait     fork() of a process holding a connected TCP pair, the
 *                child _exit(0)s at once, waitpid() for it; two more fields
 *                follow the time: the page faults per cycle of the parent
 *                and of the child (getrusage: minor faults, exact whatever
 *                the load; on this VM a fault costs about 10 us)
 *   forkwait_nb  the same with non-blocking sockets
 *   forkwait_nosock  the same holding no socket (a shell, make, a server
 *                before its first connection)
 *   emfile       socket() failing with EMFILE, the soft fd limit (64) filled
 *                with TCP sockets: the storm after an episode's first failure
 *                (which the warm-up takes, with its snapshot)
 *   none         nothing at all, no warm-up: the cost of start-up and exit */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define WARMUP 200
#define CHUNK 16384

static void die(const char *what)
{
    fprintf(stderr, "micro: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Keeps the compiler from dropping results. */
static volatile long sink;

/* ---------------------------------------------------------------- read_pipe */
static int pipe_fd[2];
static size_t pipe_avail;
static char chunk[CHUNK];

static void pipe_setup(void)
{
    if (pipe2(pipe_fd, O_NONBLOCK) < 0)
        die("pipe2");
    /* A big pipe makes refills rare; failure only means more refills. */
    (void)fcntl(pipe_fd[1], F_SETPIPE_SZ, 1 << 20);
}

/* Fill the pipe until the kernel says it is full. */
static void pipe_refill(void)
{
    for (;;) {
        ssize_t w = write(pipe_fd[1], chunk, sizeof chunk);
        if (w < 0) {
            if (errno == EAGAIN)
                break;
            die("write pipe");
        }
        pipe_avail += (size_t)w;
    }
}

static void pipe_iter(void)
{
    char c;
    if (pipe_avail == 0)
        pipe_refill();
    ssize_t r = read(pipe_fd[0], &c, 1);
    if (r != 1)
        die("read pipe");
    pipe_avail--;
    sink += c;
}

static void rw_pipe_iter(void)
{
    char c = 'x';
    if (write(pipe_fd[1], &c, 1) != 1)
        die("write pipe");
    if (read(pipe_fd[0], &c, 1) != 1)
        die("read pipe");
    sink += c;
}

/* ---------------------------------------------------------------- TCP pair */
static int lfd = -1;
static struct sockaddr_in laddr;

static void listener_setup(void)
{
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0)
        die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&laddr, 0, sizeof laddr);
    laddr.sin_family = AF_INET;
    laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&laddr, sizeof laddr) < 0)
        die("bind");
    socklen_t len = sizeof laddr;
    if (getsockname(lfd, (struct sockaddr *)&laddr, &len) < 0)
        die("getsockname");
    if (listen(lfd, 128) < 0)
        die("listen");
}

static int cfd = -1, sfd = -1; /* client end, accepted (server) end */
static size_t sock_avail;

static void pair_setup(void)
{
    listener_setup();
    cfd = socket(AF_INET, SOCK_STREAM, 0);
    if (cfd < 0)
        die("socket");
    int big = 1 << 20;
    setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (connect(cfd, (struct sockaddr *)&laddr, sizeof laddr) < 0)
        die("connect");
    sfd = accept(lfd, NULL, NULL);
    if (sfd < 0)
        die("accept");
    setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
}

/* The same pair, non-blocking, made as an event loop makes it. */
static void pair_setup_nb(void)
{
    listener_setup();
    if (fcntl(lfd, F_SETFL, O_NONBLOCK) < 0)
        die("fcntl");
    cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (cfd < 0)
        die("socket");
    int big = 1 << 20;
    setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (connect(cfd, (struct sockaddr *)&laddr, sizeof laddr) < 0 && errno != EINPROGRESS)
        die("connect");
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, 10000) != 1)
        die("poll");
    sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    if (sfd < 0)
        die("accept4");
    p = (struct pollfd){.fd = cfd, .events = POLLOUT};
    if (poll(&p, 1, 10000) != 1)
        die("poll");
    setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
}

static void recv_data_iter(void)
{
    char c;
    if (sock_avail == 0) {
        ssize_t w = send(cfd, chunk, sizeof chunk, 0);
        if (w <= 0)
            die("send");
        sock_avail = (size_t)w;
    }
    ssize_t r = recv(sfd, &c, 1, 0);
    if (r != 1)
        die("recv data");
    sock_avail--;
    sink += c;
}

static void recv_eagain_iter(void)
{
    char c;
    ssize_t r = recv(sfd, &c, 1, 0);
    if (r != -1 || (errno != EAGAIN && errno != EWOULDBLOCK))
        die("recv eagain");
    sink += r;
}

/* ---------------------------------------------------------------- churn */
static void churn_iter(void)
{
    char c;
    int c1 = socket(AF_INET, SOCK_STREAM, 0);
    if (c1 < 0)
        die("socket");
    if (connect(c1, (struct sockaddr *)&laddr, sizeof laddr) < 0)
        die("connect");
    int s1 = accept(lfd, NULL, NULL);
    if (s1 < 0)
        die("accept");
    close(c1);
    if (recv(s1, &c, 1, 0) != 0)
        die("recv eof");
    close(s1);
}

static void serve_iter(void)
{
    char c = 'x';
    int c1 = socket(AF_INET, SOCK_STREAM, 0);
    if (c1 < 0)
        die("socket");
    if (connect(c1, (struct sockaddr *)&laddr, sizeof laddr) < 0)
        die("connect");
    if (send(c1, &c, 1, 0) != 1)
        die("send");
    close(c1);
    int s1 = accept(lfd, NULL, NULL);
    if (s1 < 0)
        die("accept");
    ssize_t r;
    while ((r = recv(s1, &c, 1, 0)) > 0) /* the request, then end-of-stream */
        sink += c;
    if (r != 0)
        die("recv");
    close(s1);
}

/* ---------------------------------------------------------------- eof */
static void eof_iter(void)
{
    int sv[2];
    char c;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        die("socketpair");
    close(sv[1]);
    if (recv(sv[0], &c, 1, 0) != 0)
        die("recv eof");
    close(sv[0]);
}

static void noeof_iter(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        die("socketpair");
    close(sv[1]);
    close(sv[0]);
}

/* ---------------------------------------------------------------- emfile */
static void emfile_setup(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("getrlimit");
    rl.rlim_cur = 64;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("setrlimit");
    while (socket(AF_INET, SOCK_STREAM, 0) >= 0)
        ;
    if (errno != EMFILE)
        die("socket");
}

static void emfile_iter(void)
{
    if (socket(AF_INET, SOCK_STREAM, 0) != -1 || errno != EMFILE)
        die("socket emfile");
}

static void forkwait_iter(void)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0)
        _exit(0);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr,
                "usage: micro "
                "read_pipe|rw_pipe|recv_data|recv_data_nb|recv_eagain|churn|serve|eof|noeof|"
                "forkwait|forkwait_nb|forkwait_nosock|emfile|none N\n");
        return 2;
    }
    const char *name = argv[1];
    long n = atol(argv[2]);
    void (*iter)(void);

    memset(chunk, 'x', sizeof chunk);
    if (!strcmp(name, "read_pipe")) {
        pipe_setup();
        iter = pipe_iter;
    } else if (!strcmp(name, "rw_pipe")) {
        pipe_setup();
        iter = rw_pipe_iter;
    } else if (!strcmp(name, "recv_data")) {
        pair_setup();
        iter = recv_data_iter;
    } else if (!strcmp(name, "recv_data_nb")) {
        pair_setup_nb();
        iter = recv_data_iter;
    } else if (!strcmp(name, "recv_eagain")) {
        pair_setup();
        if (fcntl(sfd, F_SETFL, fcntl(sfd, F_GETFL) | O_NONBLOCK) < 0)
            die("fcntl");
        iter = recv_eagain_iter;
    } else if (!strcmp(name, "churn")) {
        listener_setup();
        iter = churn_iter;
    } else if (!strcmp(name, "serve")) {
        listener_setup();
        iter = serve_iter;
    } else if (!strcmp(name, "eof")) {
        iter = eof_iter;
    } else if (!strcmp(name, "noeof")) {
        iter = noeof_iter;
    } else if (!strcmp(name, "forkwait")) {
        pair_setup();
        iter = forkwait_iter;
    } else if (!strcmp(name, "forkwait_nb")) {
        pair_setup_nb();
        iter = forkwait_iter;
    } else if (!strcmp(name, "forkwait_nosock")) {
        iter = forkwait_iter;
    } else if (!strcmp(name, "emfile")) {
        emfile_setup();
        iter = emfile_iter;
    } else if (!strcmp(name, "none")) {
        printf("%s %ld 0\n", name, n);
        return 0;
    } else {
        fprintf(stderr, "micro: unknown case %s\n", name);
        return 2;
    }

    /* The same warm-up whatever N is, so it cancels in N vs 2N. It also
     * binds lazy symbols and primes the unwinder before timing starts. */
    for (int i = 0; i < WARMUP; i++)
        iter();
    struct rusage self0, kids0, self1, kids1;
    getrusage(RUSAGE_SELF, &self0);
    getrusage(RUSAGE_CHILDREN, &kids0);
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++)
        iter();
    int64_t t1 = now_ns();
    getrusage(RUSAGE_SELF, &self1);
    getrusage(RUSAGE_CHILDREN, &kids1);
    printf("%s %ld %.1f", name, n, n ? (double)(t1 - t0) / (double)n : 0.0);
    if (iter == forkwait_iter && n)
        printf(" %.2f %.2f", (double)(self1.ru_minflt - self0.ru_minflt) / (double)n,
               (double)(kids1.ru_minflt - kids0.ru_minflt) / (double)n);
    printf("\n");
    return 0;
}

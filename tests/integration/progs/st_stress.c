/* Stress: many threads making short loopback connections and ending them
 * every way a program can, plus a known number of real leaks.
 *
 * Usage: st_stress conns THREADS PER_THREAD [SEED [FORKS]]
 *   Every thread has its own listener and makes PER_THREAD connections to
 *   it, ending each one at random: the client hangs up (shutdown) and the
 *   server reads to end-of-stream then closes; the server closes early;
 *   dup2 over the socket; dup then close both; shut down then close;
 *   syscall(SYS_close); reads through recv, read, readv and recvmsg.
 *   Threads 0 to LEAKS-1 each keep exactly one socket after reading its
 *   end-of-stream in keep_after_eof (held until exit). Unless FORKS is 0,
 *   every eighth thread forks now and then; the child makes a few
 *   connections of its own and leaves with _exit. Then everything lingers
 *   three deadlines.
 *   Prints "connections N leaked L forks F".
 *
 *        st_stress forklock SECONDS [THREADS [HOLD_MS]]
 *   THREADS threads read end-of-stream and close in a loop (the library's
 *   locks are taken all the time) while the main thread forks in a loop;
 *   with HOLD_MS, each socket is closed only HOLD_MS after its end-of-stream
 *   (a late close: past a shorter deadline the library writes a finding,
 *   then a "closed" record, while the forks go on);
 *   each child reads end-of-stream once and leaves with _exit(0). A child
 *   that has not exited within CHILD_LIMIT_S seconds is deadlocked: it is
 *   killed and the program fails. Prints "forks F children ok".
 *
 *        st_stress forkunwind SECONDS
 *   The same fork loop while two threads of the program unwind their own
 *   stacks with libunwind in a loop (as profilers and crash reporters do),
 *   which keeps libunwind's internal locks busy. Children that use no
 *   unwinder themselves must still exit. Prints "forks F children ok".
 *
 * Either mode exits 1 with a message on any unexpected error. */
#include <dlfcn.h>
#include <fcntl.h>
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include "prog.h"

#define LEAKS 7
#define MAX_THREADS 64
#define FORK_EVERY 40   /* iterations between forks in a forking thread */
#define CHILD_LIMIT_S 5

static long per_thread;
static unsigned seed;
static int with_forks = 1;
static int leaked[LEAKS];
static atomic_long conns, forks;
static atomic_int failed;

/* A failure inside a thread: say what and make the whole program fail. */
static void fail(const char *what, long tid)
{
    int e = errno;
    fprintf(stderr, "st_stress: thread %ld: %s: %s\n", tid, what, strerror(e));
    atomic_store(&failed, 1);
}

/* Waits for pid at most CHILD_LIMIT_S seconds; 0 when it exited with 0. */
static int reap_child(pid_t pid)
{
    int status, r = reap_within(pid, CHILD_LIMIT_S * 1000L, &status);
    if (r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (r > 0) {
        fprintf(stderr, "st_stress: child %d %s %d\n", (int)pid,
                WIFEXITED(status) ? "exited with status" : "was killed by signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    if (r < 0)
        return -1;
    char path[64], wchan[128] = "?";
    snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(wchan, sizeof wchan, f))
            strcpy(wchan, "?");
        fclose(f);
    }
    fprintf(stderr, "st_stress: child %d still running after %d s (deadlocked in %s)\n",
            (int)pid, CHILD_LIMIT_S, wchan);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* Reads fd until end-of-stream with a read call chosen by how; returns 0 at
 * end-of-stream, -1 on an error (ECONNRESET after an early close). */
static int drain(int fd, unsigned how)
{
    char buf[256];
    struct iovec iov[2] = {{buf, 100}, {buf + 100, 156}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    for (;;) {
        ssize_t n;
        switch (how % 4) {
        case 0:
            n = recv(fd, buf, sizeof buf, 0);
            break;
        case 1:
            n = read(fd, buf, sizeof buf);
            break;
        case 2:
            n = readv(fd, iov, 2);
            break;
        default:
            n = recvmsg(fd, &msg, 0);
            break;
        }
        if (n == 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* The client's end-of-stream for the server: a FIN, the fd stays open. */
static void hang_up(int fd)
{
    shutdown(fd, SHUT_WR);
}

/* Closes with a reset, once the server has read its end-of-stream: tens of
 * thousands of connections must not leave as many TIME_WAIT sockets holding
 * ports that later tests bind. */
static void abort_close(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* Reads exactly n bytes (n <= 64); -1 on an error or early EOF. */
static int recv_exact(int fd, size_t n)
{
    char buf[64];
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* The deliberate leak: end-of-stream read here, the fd kept. */
static int keep_after_eof(int fd)
{
    char buf[64];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) /* EOF-SITE */
        ;
    return n == 0 ? fd : -1;
}

static int connect_to(int port, long tid)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail("socket", tid);
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (errno == EINTR)
            continue;
        fail("connect", tid);
        close(fd);
        return -1;
    }
    recv_timeout(fd, 20);
    return fd;
}

/* A forked child: a few connections of its own, all ended properly. */
static void child_work(void)
{
    for (int i = 0; i < 3; i++) {
        int c, s;
        tcp_pair(&c, &s);
        recv_timeout(s, 10);
        send_all(c, "child", 5);
        hang_up(c);
        if (drain(s, (unsigned)i) < 0)
            _exit(2);
        abort_close(c);
        close(s);
    }
    _exit(0);
}

/* One connection, ended the way r says. */
static void one_connection(long tid, int lfd, int port, unsigned r, int devnull)
{
    int cli = connect_to(port, tid);
    if (cli < 0)
        return;
    int srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (srv < 0) {
        fail("accept", tid);
        close(cli);
        return;
    }
    recv_timeout(srv, 20);
    send_all(cli, "request\n", 8);
    int d;
    switch (r % 10) {
    case 4: /* the server gives up first; the client reads EOF or a reset */
        close(srv);
        drain(cli, r >> 4);
        abort_close(cli);
        break;
    case 5: /* dup2 of another file over the socket closes it */
        hang_up(cli);
        if (drain(srv, r >> 4) < 0)
            fail("drain before dup2", tid);
        abort_close(cli);
        if (dup2(devnull, srv) != srv)
            fail("dup2", tid);
        close(srv);
        break;
    case 6: /* dup2 over the socket before its EOF: the peer sees EOF */
        if (recv_exact(srv, 8) < 0)
            fail("recv", tid);
        if (dup2(devnull, srv) != srv)
            fail("dup2", tid);
        if (drain(cli, r >> 4) < 0)
            fail("client drain after dup2", tid);
        abort_close(cli);
        close(srv);
        break;
    case 7: /* EOF read through a dup, both closed */
        d = dup(srv);
        hang_up(cli);
        if (d < 0 || drain(d, r >> 4) < 0)
            fail("dup/drain", tid);
        abort_close(cli);
        close(srv);
        close(d);
        break;
    case 8: /* shut down for writing, then closed (the client keeps a
             * TIME_WAIT: rarer than the others) */
        if ((r >> 8) % 4 == 0) {
            close(cli);
            if (drain(srv, r >> 4) < 0)
                fail("drain", tid);
            shutdown(srv, SHUT_WR);
            close(srv);
            break;
        }
        /* fall through */
    case 9: /* closed by a raw syscall */
        hang_up(cli);
        if (drain(srv, r >> 4) < 0)
            fail("drain", tid);
        abort_close(cli);
        if (syscall(SYS_close, srv) != 0)
            fail("syscall(SYS_close)", tid);
        break;
    default: /* the usual: the client hangs up, the server reads EOF, closes */
        hang_up(cli);
        if (drain(srv, r >> 4) < 0)
            fail("drain", tid);
        abort_close(cli);
        close(srv);
        break;
    }
    atomic_fetch_add(&conns, 1);
}

static void *conn_worker(void *arg)
{
    long tid = (long)arg;
    unsigned rs = seed * 7919u + (unsigned)tid;
    int port;
    int lfd = listen_loopback(&port);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) {
        fail("open /dev/null", tid);
        return NULL;
    }
    int forker = with_forks && tid % 8 == 7;
    for (long i = 0; i < per_thread && !atomic_load(&failed); i++) {
        if (tid < LEAKS && i == per_thread / 2) {
            int cli = connect_to(port, tid);
            int srv = cli < 0 ? -1 : accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* OPEN-SITE */
            if (srv < 0) {
                fail("leak setup", tid);
                break;
            }
            recv_timeout(srv, 20);
            send_all(cli, "bye\n", 4);
            close(cli);
            leaked[tid] = keep_after_eof(srv);
            if (leaked[tid] < 0)
                fail("keep_after_eof", tid);
            atomic_fetch_add(&conns, 1);
            continue;
        }
        if (forker && i % FORK_EVERY == FORK_EVERY / 2) {
            pid_t pid = fork();
            if (pid == 0)
                child_work();
            if (pid < 0 || reap_child(pid) < 0) {
                fail("fork or child", tid);
                break;
            }
            atomic_fetch_add(&forks, 1);
        }
        one_connection(tid, lfd, port, (unsigned)rand_r(&rs), devnull);
    }
    close(devnull);
    close(lfd);
    return NULL;
}

static int conns_mode(int argc, char **argv)
{
    long threads = arg_long(argc, argv, 2, 32);
    per_thread = arg_long(argc, argv, 3, 500);
    seed = (unsigned)arg_long(argc, argv, 4, 1);
    with_forks = arg_long(argc, argv, 5, 1) != 0;
    if (threads < LEAKS || threads > MAX_THREADS || per_thread < 2) {
        fprintf(stderr, "st_stress conns: THREADS must be %d..%d, PER_THREAD >= 2\n", LEAKS,
                MAX_THREADS);
        return 2;
    }
    pthread_t th[MAX_THREADS];
    for (long t = 0; t < threads; t++)
        if (pthread_create(&th[t], NULL, conn_worker, (void *)t) != 0)
            die("pthread_create");
    for (long t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    if (atomic_load(&failed))
        return 1;
    linger();
    printf("connections %ld leaked %d forks %ld\n", atomic_load(&conns), LEAKS,
           atomic_load(&forks));
    return 0;
}

/* ------------------------------------------------------------ forklock */

static atomic_int stop;
static atomic_long eofs;
static long hold_ms;

#define HOLD_RING 64

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Closes fd at once, or hold_ms after its end-of-stream; ring[] keeps the
 * ones held (fd -1: empty slot). */
static void close_later(int fd, int ring[HOLD_RING], long since[HOLD_RING], long i)
{
    if (hold_ms <= 0) {
        abort_close(fd);
        return;
    }
    int k = (int)(i % HOLD_RING);
    if (ring[k] >= 0) {
        long left = since[k] + hold_ms - now_ms();
        if (left > 0)
            sleep_ms(left);
        close(ring[k]);
    }
    ring[k] = fd;
    since[k] = now_ms();
}

/* End-of-stream and close in a loop: unix stream pairs (cheap) and now and
 * then a TCP pair, so every lock on the EOF path is taken constantly. */
static void *eof_worker(void *arg)
{
    long tid = (long)arg;
    char buf[16];
    int ring[HOLD_RING];
    long since[HOLD_RING];
    for (int k = 0; k < HOLD_RING; k++)
        ring[k] = -1;
    for (long i = 0; !atomic_load(&stop); i++) {
        int sv[2];
        if (i % 16 == 0) {
            tcp_pair(&sv[0], &sv[1]);
        } else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            fail("socketpair", tid);
            return NULL;
        }
        close(sv[1]);
        if (read(sv[0], buf, sizeof buf) != 0)
            fail("read of end-of-stream", tid);
        close_later(sv[0], ring, since, i);
        atomic_fetch_add(&eofs, 1);
    }
    for (int k = 0; k < HOLD_RING; k++)
        if (ring[k] >= 0)
            close(ring[k]);
    return NULL;
}

/* Forks in a loop for `seconds`; each child reads end-of-stream once and
 * leaves with _exit(0). Returns the number of forks, -1 when a child hung. */
static long fork_loop(long seconds)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long n = 0;
    do {
        pid_t pid = fork();
        if (pid == 0) {
            int sv[2];
            char c;
            if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
                _exit(3);
            close(sv[1]);
            _exit(read(sv[0], &c, 1) == 0 ? 0 : 4);
        }
        if (pid < 0)
            die("fork");
        if (reap_child(pid) < 0)
            return -1;
        n++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec < seconds);
    return n;
}

static int forklock_mode(int argc, char **argv)
{
    long seconds = arg_long(argc, argv, 2, 3);
    long threads = arg_long(argc, argv, 3, 4);
    hold_ms = arg_long(argc, argv, 4, 0);
    if (threads < 1 || threads > MAX_THREADS)
        threads = 4;
    pthread_t th[MAX_THREADS];
    for (long t = 0; t < threads; t++)
        if (pthread_create(&th[t], NULL, eof_worker, (void *)t) != 0)
            die("pthread_create");
    long n = fork_loop(seconds);
    atomic_store(&stop, 1);
    for (long t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    if (n < 0 || atomic_load(&failed))
        return 1;
    printf("forks %ld children ok, %ld end-of-stream reads in the parent\n", n,
           atomic_load(&eofs));
    return 0;
}

/* ---------------------------------------------------------- forkunwind */

/* libunwind's local unwinder of this processor, looked up by name; the
 * context taken without linking libunwind (x86-64: a ucontext_t that
 * getcontext fills; arm64: the header's inline code). */
#if defined(__x86_64__)
#define UNW_LOCAL(f) "_ULx86_64_" f
#define UNW_GETCONTEXT(uc) getcontext(uc)
#elif defined(__aarch64__)
#define UNW_LOCAL(f) "_ULaarch64_" f
#define UNW_GETCONTEXT(uc) unw_tdep_getcontext(uc)
#endif
static int (*unw_init_local_fn)(unw_cursor_t *, unw_context_t *);
static int (*unw_step_fn)(unw_cursor_t *);

/* Walks its own stack with libunwind until told to stop. */
static void *unwinder(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        unw_context_t uc;
        unw_cursor_t cur;
        UNW_GETCONTEXT(&uc);
        if (unw_init_local_fn(&cur, &uc) == 0)
            while (unw_step_fn(&cur) > 0)
                ;
    }
    return NULL;
}

static int forkunwind_mode(int argc, char **argv)
{
    long seconds = arg_long(argc, argv, 2, 10);
    /* dlopen, not -lunwind: libunwind in the global scope would change how
     * C++ exceptions unwind; the same loaded copy is shared either way. */
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "st_stress: %s\n", dlerror());
        return 1;
    }
    unw_init_local_fn = (int (*)(unw_cursor_t *, unw_context_t *))dlsym(h, UNW_LOCAL("init_local"));
    unw_step_fn = (int (*)(unw_cursor_t *))dlsym(h, UNW_LOCAL("step"));
    if (!unw_init_local_fn || !unw_step_fn) {
        fprintf(stderr, "st_stress: libunwind without %s/%s\n", UNW_LOCAL("init_local"),
                UNW_LOCAL("step"));
        return 1;
    }
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        if (pthread_create(&th[t], NULL, unwinder, NULL) != 0)
            die("pthread_create");
    long n = fork_loop(seconds);
    atomic_store(&stop, 1);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    if (n < 0)
        return 1;
    printf("forks %ld children ok\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && strcmp(argv[1], "conns") == 0)
        return conns_mode(argc, argv);
    if (argc > 1 && strcmp(argv[1], "forklock") == 0)
        return forklock_mode(argc, argv);
    if (argc > 1 && strcmp(argv[1], "forkunwind") == 0)
        return forkunwind_mode(argc, argv);
    fprintf(stderr, "usage: st_stress conns [THREADS [PER_THREAD [SEED [FORKS]]]]\n"
                    "       st_stress forklock [SECONDS [THREADS [HOLD_MS]]]\n"
                    "       st_stress forkunwind [SECONDS]\n");
    return 2;
}

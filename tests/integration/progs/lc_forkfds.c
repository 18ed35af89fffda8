/* One fork+waitpid of a single-threaded process holding a TCP pair, made
 * after the library put its log and netlink socket at the top of the fd
 * range. The child prints its fd table's size (FDSize, which the fork
 * copied from the parent's), the number its first open gets and whether
 * SIGUSR1 (blocked by the program) and SIGUSR2 are blocked; the parent
 * prints the same of its own and whether its fds are the same numbers
 * after the fork as before (each number with the inode it holds).
 * argv[1]: "handler", a SIGUSR2 handler is set first; "full", the table is
 * filled but for one number before the fork; "lower", the fd limit is
 * lowered to 64 (hooked setrlimit) before the fork; "thrd", the fork is
 * made by a child that made a thread with C11's thrd_create, and only
 * that grandchild's FDSize is printed, once its parent waits for it.
 * Built with -DLC_LIB as lc_forkfds_lib.so, which the program links: with
 * LC_FORKFDS_ATFORK set, its constructor, which runs before the library's,
 * registers a fork child handler that opens a file and prints the number
 * it got. */
#include "prog.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <threads.h>

#ifdef LC_LIB

static void lc_child(void)
{
    int fd = open("/dev/null", O_RDONLY);
    dprintf(1, "atfork child fd %d\n", fd);
    close(fd);
}

__attribute__((constructor)) static void lc_ctor(void)
{
    if (getenv("LC_FORKFDS_ATFORK"))
        pthread_atfork(NULL, NULL, lc_child);
}

#else

static void on_usr2(int sig)
{
    (void)sig;
}

/* Numbers open now and their inodes, comma-separated. */
static void fd_list(char *out, size_t size)
{
    size_t used = 0;
    struct stat st;
    out[0] = '\0';
    for (int fd = 0; fd < 65536 && used + 40 < size; fd++)
        if (fstat(fd, &st) == 0)
            used +=
                (size_t)snprintf(out + used, size - used, "%d:%lu,", fd, (unsigned long)st.st_ino);
}

static int fd_size(void)
{
    char buf[4096];
    int st = open("/proc/self/status", O_RDONLY);
    ssize_t n = st >= 0 ? read(st, buf, sizeof buf - 1) : -1;
    buf[n > 0 ? n : 0] = '\0';
    if (st >= 0)
        close(st);
    const char *size = strstr(buf, "FDSize:");
    return size ? atoi(size + 7) : -1;
}

/* Until the parent sleeps (in its waitpid: in a system call that waits),
 * at most 10 s. */
static void wait_parent_asleep(void)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)getppid());
    for (int i = 0; i < 10000; i++) {
        int fd = open(path, O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0)
            close(fd);
        buf[n > 0 ? n : 0] = '\0';
        const char *state = strrchr(buf, ')');
        if (state && state[1] == ' ' && state[2] == 'S')
            return;
        usleep(1000);
    }
}

static int thrd_wait(void *arg)
{
    return read(*(int *)arg, &(char){0}, 1) < 0;
}

/* A child with a second thread (thrd_create) forks: the grandchild's
 * table size. */
static void thrd_fork(void)
{
    int p[2];
    thrd_t t;
    if (pipe(p) < 0 || thrd_create(&t, thrd_wait, &p[0]) != thrd_success)
        die("thrd_create");
    pid_t pid = fork();
    if (pid == 0) {
        dprintf(1, "grandchild fdsize %d\n", fd_size());
        wait_parent_asleep(); /* its waitpid is under way, not yet done */
        _exit(0);
    }
    if (pid < 0 || waitpid(pid, NULL, 0) != pid)
        die("grandchild");
    close(p[1]);
    thrd_join(t, NULL);
}

static void say_mask(const char *who, int next)
{
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    dprintf(1, "%s next fd %d usr1 %d usr2 %d\n", who, next, sigismember(&cur, SIGUSR1),
            sigismember(&cur, SIGUSR2));
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "handler")) {
        struct sigaction sa = {.sa_handler = on_usr2, .sa_flags = SA_RESTART};
        sigaction(SIGUSR2, &sa, NULL);
    }
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    int port, c, s;
    int lfd = nonblocking_listener(&port);
    nonblocking_tcp_pair(lfd, port, &c, &s);
    const char *mode = argc > 1 ? argv[1] : "plain";
    int filled = -1;
    if (!strcmp(mode, "full")) {
        int fd;
        while ((fd = open("/dev/null", O_RDONLY)) >= 0)
            filled = fd;
        close(filled);
    } else if (!strcmp(mode, "lower")) {
        struct rlimit rl = {64, 64};
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            die("setrlimit");
    }
    static char before[1 << 20], after[1 << 20];
    fd_list(before, sizeof before);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        if (!strcmp(mode, "thrd")) {
            thrd_fork();
            _exit(0);
        }
        int size = fd_size();
        dprintf(1, "child fdsize %d\n", size);
        say_mask("child", open("/dev/null", O_RDONLY));
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
        die("waitpid");
    fd_list(after, sizeof after);
    dprintf(1, "parent fds %s\n", strcmp(before, after) ? "changed" : "same");
    say_mask("parent", open("/dev/null", O_RDONLY));
    return 0;
}

#endif

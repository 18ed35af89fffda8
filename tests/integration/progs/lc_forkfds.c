/* One fork+waitpid of a single-threaded process holding a TCP pair, made
 * after the library put its log and netlink socket at the top of the fd
 * range. The child prints its fd table's size (FDSize, which the fork
 * copied from the parent's), the number its first open gets and whether
 * SIGUSR1 (blocked by the program) and SIGUSR2 are blocked; the parent
 * prints the same of its own and whether its fds are the same numbers
 * after the fork as before. argv[1] "handler": a SIGUSR2 handler is set
 * first. Built with -DLC_LIB as lc_forkfds_lib.so, which the program links:
 * with LC_FORKFDS_ATFORK set, its constructor, which runs before the
 * library's, registers a fork child handler that opens a file and prints
 * the number it got. */
#include "prog.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

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

/* Numbers open now, comma-separated (the listing's own fd included). */
static void fd_list(char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int fd = 0; fd < 65536 && used + 16 < size; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            used += (size_t)snprintf(out + used, size - used, "%d,", fd);
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
    int lfd = listen_loopback(&port);
    if (fcntl(lfd, F_SETFL, O_NONBLOCK) < 0)
        die("fcntl");
    nonblocking_tcp_pair(lfd, port, &c, &s);
    static char before[65536], after[65536];
    fd_list(before, sizeof before);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        char buf[4096];
        int st = open("/proc/self/status", O_RDONLY);
        ssize_t n = st >= 0 ? read(st, buf, sizeof buf - 1) : -1;
        buf[n > 0 ? n : 0] = '\0';
        const char *size = strstr(buf, "FDSize:");
        dprintf(1, "child fdsize %d\n", size ? atoi(size + 7) : -1);
        say_mask("child", st);
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

/* waitpid for one child in a single-threaded process holding a TCP pair
 * (non-blocking: the library caps the wait with a pidfd), in two shapes the
 * kernel answers in its own way:
 *   reap    a SIGCHLD handler (set with signal(), so it restarts) reaps
 *           every child with waitpid(-1, WNOHANG), as servers do; the
 *           program's own waitpid(pid) must still get each child's status,
 *           which the kernel hands to the blocked waitpid first. Prints
 *           "wrong N of 5".
 *   traced  a sibling holds the exited child with PTRACE_SEIZE for a second
 *           (its zombie cannot be reaped until the tracer lets go); the
 *           waitpid must get its status then. Prints "traced ok", or
 *           "no ptrace" when this system refuses PTRACE_SEIZE. */
#include "prog.h"
#include <fcntl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

static void reap_all(int sig)
{
    (void)sig;
    int e = errno, st;
    while (waitpid(-1, &st, WNOHANG) > 0)
        ;
    errno = e;
}

static int reap_mode(void)
{
    signal(SIGCHLD, reap_all);
    int wrong = 0;
    for (int i = 0; i < 5; i++) {
        pid_t p = fork();
        if (p < 0)
            die("fork");
        if (p == 0) {
            usleep(100000); /* the parent is in its waitpid by then */
            _exit(7);
        }
        int st = 0;
        pid_t r = waitpid(p, &st, 0);
        if (r != p || !WIFEXITED(st) || WEXITSTATUS(st) != 7) {
            wrong++;
            printf("waitpid(%d) = %d (%s)\n", (int)p, (int)r, r < 0 ? strerror(errno) : "-");
        }
    }
    printf("wrong %d of 5\n", wrong);
    return wrong != 0;
}

static int traced_mode(void)
{
    int sync[2];
    if (pipe(sync) < 0)
        die("pipe");
    pid_t a = fork();
    if (a < 0)
        die("fork");
    if (a == 0) {
        usleep(300000);
        _exit(5);
    }
    pid_t t = fork();
    if (t < 0)
        die("fork");
    if (t == 0) {
        char ok = ptrace(PTRACE_SEIZE, a, 0, 0) == 0 ? 'y' : 'n';
        if (write(sync[1], &ok, 1) != 1)
            _exit(1);
        sleep(1); /* never waits for a: its zombie stays the tracer's */
        _exit(0);
    }
    char ok = 'n';
    if (read(sync[0], &ok, 1) != 1 || ok != 'y') {
        kill(a, SIGKILL);
        waitpid(a, NULL, 0);
        waitpid(t, NULL, 0);
        printf("no ptrace\n");
        return 0;
    }
    int st = 0;
    pid_t r = waitpid(a, &st, 0);
    waitpid(t, NULL, 0);
    if (r != a || !WIFEXITED(st) || WEXITSTATUS(st) != 5)
        die("waitpid(%d) = %d, status %#x", (int)a, (int)r, st);
    printf("traced ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int port, c, s;
    int lfd = nonblocking_listener(&port);
    nonblocking_tcp_pair(lfd, port, &c, &s);
    if (argc > 1 && !strcmp(argv[1], "reap"))
        return reap_mode();
    if (argc > 1 && !strcmp(argv[1], "traced"))
        return traced_mode();
    die("usage: st_childwait reap|traced");
}

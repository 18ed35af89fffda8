/* Positive: like lc_vfork_close, with children made by glibc's clone()
 * sharing the parent's memory (CLONE_VM | CLONE_VFORK), not by vfork(). The
 * parent reads end-of-stream and keeps the socket; each child closes its
 * copy of the fd (its own fd table), dup2s over it, or close_ranges it.
 * Only the children's descriptors went away: one finding, not closed. */
#include "prog.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

static int srv, null_fd, round_no;

static int child(void *arg)
{
    (void)arg;
    if (round_no == 0)
        close(srv);
    else if (round_no == 1)
        dup2(null_fd, srv);
    else
        close_range((unsigned)srv, (unsigned)srv, 0);
    _exit(0);
}

static char stack[256 * 1024] __attribute__((aligned(16)));

int main(void)
{
    int cli;
    tcp_pair(&cli, &srv);
    recv_timeout(srv, 10);
    close(cli);
    char buf[64];
    if (recv(srv, buf, sizeof buf, 0) != 0) /* EOF-SITE */
        die("expected end-of-stream");
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0)
        die("open /dev/null");
    for (round_no = 0; round_no < 3; round_no++) {
        pid_t pid = clone(child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
        if (pid < 0)
            die("clone");
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
            die("clone child");
    }
    if (fcntl(srv, F_GETFD) < 0)
        die("the parent's socket is gone");
    printf("three clone children closed their copy\n");
    linger();
    return 0;
}

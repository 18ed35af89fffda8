/* Positive: the parent reads end-of-stream and keeps the socket; a vfork
 * child (sharing the parent's memory) closes its copy of the fd, dup2s over
 * it, close_ranges it, and exits. Only the child's descriptor went away:
 * the parent still leaks it, one finding, not closed. */
#include "prog.h"
#include <fcntl.h>
#include <sys/wait.h>

int main(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    recv_timeout(srv, 10);
    close(cli);
    char buf[64];
    if (recv(srv, buf, sizeof buf, 0) != 0) /* EOF-SITE */
        die("expected end-of-stream");
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0)
        die("open /dev/null");
    for (int round = 0; round < 3; round++) {
        pid_t pid = vfork();
        if (pid < 0)
            die("vfork");
        if (pid == 0) {
            if (round == 0)
                close(srv);
            else if (round == 1)
                dup2(null, srv);
            else
                close_range((unsigned)srv, (unsigned)srv, 0);
            _exit(0);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
            die("vfork child");
    }
    if (fcntl(srv, F_GETFD) < 0)
        die("the parent's socket is gone");
    printf("three vfork children closed their copy\n");
    linger();
    return 0;
}

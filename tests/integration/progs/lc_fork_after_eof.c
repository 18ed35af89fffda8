/* Positive: the parent reads end-of-stream, then forks without exec; the
 * child inherits the socket and lingers with it, and so does the parent.
 * One socket, one leak: exactly one finding, from the parent's pid.
 * Prints "parent PID" and "child PID". */
#include "prog.h"
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
    printf("parent %d\n", (int)getpid());
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        printf("child %d\n", (int)getpid());
        fflush(stdout);
        /* The child's own reads see the same end: still the parent's leak. */
        if (read(srv, buf, sizeof buf) != 0)
            die("child: expected end-of-stream");
        linger();
        _exit(0); /* srv still open */
    }
    linger();
    int status;
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* Positive: the parent reads end-of-stream, then forks without exec; the
 * child inherits the socket and lingers with it, and so does the parent.
 * Both copies hold the connection in CLOSE_WAIT: the parent's is a
 * close_wait at its read, the child's a close_wait_inherited.
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
        /* The child's own read sees the same end: the parent's end-of-stream,
         * so the child's finding is of its inherited copy. */
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

/* Positive: a forked child reads end-of-stream and lingers without closing.
 * The parent accepted the connection before fork and closes its copies; it
 * never reads EOF itself. Exactly one finding, from the child's pid.
 * Prints "parent PID" and "child PID"; exits with the child's status. */
#include "prog.h"
#include <sys/wait.h>

int main(void)
{
    int port;
    int lfd = listen_loopback(&port);
    int cli = connect_loopback(port);
    int srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* OPEN-SITE */
    if (srv < 0)
        die("accept");
    close(lfd);
    printf("parent %d\n", (int)getpid());
    fflush(stdout);

    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(cli);
        recv_timeout(srv, 10);
        char buf[64];
        ssize_t n = recv(srv, buf, sizeof buf, 0); /* EOF-SITE */
        if (n != 0)
            die("child: expected end-of-stream, got %zd", n);
        printf("child %d\n", (int)getpid());
        fflush(stdout);
        linger();
        exit(0); /* srv still open */
    }
    /* The last references to the client's end go away: the child sees EOF. */
    close(cli);
    close(srv);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

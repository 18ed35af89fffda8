/* Exec chains: each image has its own library instance and its own log.
 * The first image reads end-of-stream on a socket that is not CLOEXEC, then
 * forks; the child execs this program again ("image2 FD") before the
 * deadline, handing the socket over, and the first image closes its own
 * copy. The new image knows nothing of FD (never reads it, holds it), so
 * nothing is reported for it; it makes its own connection, reads the end
 * and keeps it: one finding, from the new image (its stacks, its pid).
 * Prints "first PID" and "image2 PID". */
#include "prog.h"
#include <fcntl.h>
#include <sys/wait.h>

static void image2_leak(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    recv_timeout(srv, 10);
    close(cli);
    char buf[64];
    if (recv(srv, buf, sizeof buf, 0) != 0) /* EOF-SITE */
        die("image2: expected end-of-stream");
    linger();
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "image2") == 0) {
        printf("image2 %d\n", (int)getpid());
        fflush(stdout);
        int inherited = atoi(argv[2]);
        if (fcntl(inherited, F_GETFD) < 0)
            die("image2: inherited fd %d is not open", inherited);
        image2_leak();
        return 0;
    }
    printf("first %d\n", (int)getpid());
    fflush(stdout);
    int cli, srv;
    tcp_pair(&cli, &srv);
    recv_timeout(srv, 10);
    close(cli);
    if (fcntl(srv, F_SETFD, 0) < 0) /* handed over across exec */
        die("F_SETFD");
    char buf[64];
    if (read(srv, buf, sizeof buf) != 0)
        die("expected end-of-stream");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        char num[16];
        snprintf(num, sizeof num, "%d", srv);
        execl("/proc/self/exe", argv[0], "image2", num, (char *)NULL);
        die("exec");
    }
    close(srv);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

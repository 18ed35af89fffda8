/* Socket activation (systemd style): the first image makes a listening
 * socket, and a child execs this program again with it as fd 3,
 * LISTEN_FDS=1 and LISTEN_PID. The new image never saw the socket created:
 * it accepts on fd 3, reads the end and keeps the connection: one finding,
 * whose creation stack is the accept in the new image. The first image is
 * the client. */
#include "prog.h"
#include <fcntl.h>
#include <sys/wait.h>

static void serve_fd3(void)
{
    const char *n = getenv("LISTEN_FDS"), *p = getenv("LISTEN_PID");
    if (!n || atoi(n) != 1 || !p || atoi(p) != (int)getpid())
        die("LISTEN_FDS/LISTEN_PID not for this process");
    int fd = accept4(3, NULL, NULL, SOCK_CLOEXEC); /* OPEN-SITE */
    if (fd < 0)
        die("accept on fd 3");
    recv_timeout(fd, 10);
    char buf[64];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) /* EOF-SITE */
        ;
    if (r != 0)
        die("read");
    printf("activated server read the end\n");
    fflush(stdout);
    linger();
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "activated") == 0) {
        serve_fd3();
        return 0;
    }
    int port;
    int lfd = listen_loopback(&port);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        /* dup2 clears CLOEXEC on 3, unless lfd already is 3. */
        if (lfd == 3 ? fcntl(3, F_SETFD, 0) != 0 : dup2(lfd, 3) != 3)
            die("fd 3");
        char num[16];
        snprintf(num, sizeof num, "%d", (int)getpid());
        setenv("LISTEN_PID", num, 1);
        setenv("LISTEN_FDS", "1", 1);
        execl("/proc/self/exe", argv[0], "activated", (char *)NULL);
        die("exec");
    }
    close(lfd);
    int cli = connect_loopback(port);
    send_all(cli, "activate\n", 9);
    close(cli);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

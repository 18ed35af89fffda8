/* A process started as root whose worker drops to nobody (as nginx's workers
 * do) and then leaks: its log must still be written in the output directory
 * that `sockleak run` created as root. */
#include <sys/wait.h>
#include "prog.h"

static void worker(void)
{
    if (setgid(65534) < 0 || setuid(65534) < 0)
        die("dropping privileges");
    int cli, srv;
    tcp_pair(&cli, &srv);
    close(cli);
    char buf[16];
    if (read(srv, buf, sizeof buf) != 0) /* EOF-SITE */
        die("expected end-of-stream");
    linger(); /* srv is never closed */
    _exit(0);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "pos_drop_privs: must run as root\n");
        return 77;
    }
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0)
        worker();
    int status;
    if (waitpid(pid, &status, 0) < 0)
        die("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

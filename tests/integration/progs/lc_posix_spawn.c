/* Positive: posix_spawn's file actions (addclose, adddup2) run in the
 * child without any wrapper call. The parent keeps one socket after its
 * end-of-stream (leaked, one finding) and closes another properly after
 * spawning children that close it: exactly one finding, at the leaked
 * socket's read. Argument: path of a program to spawn (default /bin/true). */
#include "prog.h"
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static void spawn_closing(const char *prog, int fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, fd);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = {(char *)prog, NULL};
    pid_t pid;
    int e = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e) {
        errno = e;
        die("posix_spawn %s", prog);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
        die("spawned %s failed", prog);
}

int main(int argc, char **argv)
{
    const char *prog = argc > 1 ? argv[1] : "/bin/true";
    char buf[64];
    int cli, kept;
    tcp_pair(&cli, &kept);
    recv_timeout(kept, 10);
    close(cli);
    if (recv(kept, buf, sizeof buf, 0) != 0) /* EOF-SITE */
        die("expected end-of-stream");
    spawn_closing(prog, kept);

    int cli2, closed;
    tcp_pair(&cli2, &closed);
    recv_timeout(closed, 10);
    close(cli2);
    if (read(closed, buf, sizeof buf) != 0)
        die("expected end-of-stream");
    spawn_closing(prog, closed);
    spawn_closing(prog, kept);
    close(closed);
    if (fcntl(kept, F_GETFD) < 0)
        die("the kept socket is gone");
    printf("spawned children closed their copies\n");
    linger();
    return 0;
}

/* fork and waitpid argv[1] times, holding no socket: the children _exit at
 * once. Prints "forked N". */
#include "prog.h"
#include <sys/wait.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0)
            _exit(0);
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
            die("waitpid");
    }
    printf("forked %d\n", n);
    return 0;
}

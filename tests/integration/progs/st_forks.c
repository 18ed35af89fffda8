/* fork and waitpid argv[1] times: the children _exit at once. With
 * argv[2] "sock" the process first makes argv[3] (default 1) connected TCP
 * pairs, made and held non-blocking (so it stays single-threaded under
 * the library), and holds them across every fork; otherwise it holds no
 * socket. Prints "forked N" and the children's minor page faults per fork
 * ("child faults F"). */
#include "prog.h"
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2 && !strcmp(argv[2], "sock")) {
        int port, pairs = argc > 3 ? atoi(argv[3]) : 1;
        int lfd = nonblocking_listener(&port);
        for (int i = 0; i < pairs; i++) {
            int c, s;
            nonblocking_tcp_pair(lfd, port, &c, &s);
        }
    }
    struct rusage before, after;
    getrusage(RUSAGE_CHILDREN, &before);
    for (int i = 0; i < n; i++)
        fork_exit_wait();
    getrusage(RUSAGE_CHILDREN, &after);
    printf("forked %d\nchild faults %.2f\n", n,
           n ? (double)(after.ru_minflt - before.ru_minflt) / n : 0.0);
    return 0;
}

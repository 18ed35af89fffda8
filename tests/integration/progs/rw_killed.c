/* Makes and closes COUNT loopback connections (each with its end-of-stream
 * read), then ends without the library's footer:
 *   rw_killed COUNT signal    raise(SIGTERM), the default action
 *   rw_killed COUNT rawexit   exit_group through an inline system call
 *   rw_killed COUNT exit      (the control) returns from main
 * Nothing leaks; the report must still say its counts are a lower bound. */
#include <signal.h>
#include "prog.h"

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 20);
    const char *how = argc > 2 ? argv[2] : "signal";
    for (long i = 0; i < n; i++) {
        int c, s;
        char b;
        tcp_pair(&c, &s);
        close(c);
        if (read(s, &b, 1) != 0)
            die("read of end-of-stream");
        close(s);
    }
    printf("made %ld\n", n);
    fflush(stdout);
    if (strcmp(how, "rawexit") == 0) {
        long r;
        __asm__ volatile("syscall" : "=a"(r) : "0"((long)SYS_exit_group), "D"(0L) : "rcx", "r11");
        return (int)r;
    }
    if (strcmp(how, "exit") == 0)
        return 0;
    raise(SIGTERM);
    return 1;
}

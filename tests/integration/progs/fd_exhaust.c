/* A leaking server at its fd limit: it accepts, reads end-of-stream and
 * never closes, until socket or accept fails with EMFILE. Every leaked
 * connection must still be reported.
 *
 * Usage: fd_exhaust LIMIT (soft and hard limit both set to LIMIT) */
#include "prog.h"
#include <sys/resource.h>

int main(int argc, char **argv)
{
    int limit = (int)arg_long(argc, argv, 1, 32);
    struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("setrlimit");
    int port;
    int l = listen_loopback(&port);
    int leaked = 0;
    for (;;) {
        int cli = socket(AF_INET, SOCK_STREAM, 0);
        if (cli < 0)
            break;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(cli, (struct sockaddr *)&a, sizeof a) < 0)
            die("connect");
        int srv = accept(l, NULL, NULL); /* OPEN-SITE */
        if (srv < 0)
            break; /* cli stays open: the table stays full, as a server's would */
        close(cli);
        recv_timeout(srv, 10);
        char b[8];
        if (recv(srv, b, sizeof b, 0) != 0) /* EOF-SITE */
            die("expected end-of-stream");
        leaked++;
    }
    if (errno != EMFILE)
        die("stopped for another reason than EMFILE");
    printf("leaked %d before EMFILE\n", leaked);
    fflush(stdout);
    linger();
    return 0;
}

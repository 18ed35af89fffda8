/* Hooks reached from another library's constructor, before sockleak's own
 * constructor ran. Built twice: with -DLC_LIB as lc_ctor_lib.so, whose
 * constructor makes connections, closes one correctly and keeps one after
 * its end-of-stream; and as the program, linked against that library,
 * which leaks one connection of its own. Two findings: one in the
 * library's constructor, one in main. */
#include "prog.h"

#ifdef LC_LIB

static int lc_ctor_result = -1;

static int lc_ctor_connections(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    send_all(cli, "ok", 2);
    close(cli);
    char buf[64];
    ssize_t n;
    while ((n = recv(srv, buf, sizeof buf, 0)) > 0)
        ;
    close(srv);

    int cli2, kept;
    tcp_pair(&cli2, &kept);
    recv_timeout(kept, 10);
    close(cli2);
    if (read(kept, buf, sizeof buf) != 0) /* EOF-SITE */
        return -1;
    return kept; /* never closed */
}

__attribute__((constructor)) static void lc_ctor_init(void)
{
    lc_ctor_result = lc_ctor_connections();
}

int lc_ctor_status(void)
{
    return lc_ctor_result;
}

#else

int lc_ctor_status(void);

int main(void)
{
    if (lc_ctor_status() < 0)
        die("the library's constructor failed");
    int cli, srv;
    tcp_pair(&cli, &srv);
    recv_timeout(srv, 10);
    close(cli);
    char buf[64];
    if (recv(srv, buf, sizeof buf, 0) != 0) /* EOF-SITE */
        die("expected end-of-stream");
    printf("constructor kept fd %d\n", lc_ctor_status());
    linger();
    return 0;
}

#endif

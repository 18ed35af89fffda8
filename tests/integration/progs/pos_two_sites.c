/* Positive: leaks from two different call sites make two groups: two
 * sockets from read_header, one from read_body. (Groups are keyed by the
 * whole stack, so both read_header calls come from one line of main.) */
#include "prog.h"

static void read_header(int fd)
{
    char buf[64];
    if (recv(fd, buf, sizeof buf, 0) != 0) /* EOF-SITE */
        die("read_header: expected end-of-stream");
}

static void read_body(int fd)
{
    char buf[64];
    if (read(fd, buf, sizeof buf) != 0) /* EOF-SITE */
        die("read_body: expected end-of-stream");
}

static int hung_up_connection(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    close(cli);
    recv_timeout(srv, 10);
    return srv;
}

int main(void)
{
    /* One call line for both headers: the same stack, so one group. */
    for (int i = 0; i < 2; i++)
        read_header(hung_up_connection());
    read_body(hung_up_connection());
    linger();
    printf("two sites\n");
    return 0;
}

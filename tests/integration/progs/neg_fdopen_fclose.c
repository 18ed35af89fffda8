/* Negative: a socket wrapped with fdopen and closed with fclose after it
 * read end-of-stream: zero findings (fclose closes the fd internally). */
#include "prog.h"

int main(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    send_all(cli, "line one\n", 9);
    close(cli);
    FILE *f = fdopen(srv, "r+");
    if (!f)
        die("fdopen");
    char buf[64];
    if (read(srv, buf, sizeof buf) != 9 || read(srv, buf, sizeof buf) != 0)
        die("expected 9 bytes and end-of-stream");
    if (fclose(f) != 0)
        die("fclose");
    linger();
    printf("closed by fclose\n");
    return 0;
}

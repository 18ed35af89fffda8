/* Negative: the program shuts down its own reading side; later reads return
 * 0 while the connection is still ESTABLISHED and the peer is alive: zero
 * findings. */
#include "prog.h"

int main(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    if (shutdown(srv, SHUT_RD) < 0)
        die("shutdown");
    char buf[64];
    for (int i = 0; i < 3; i++)
        if (recv(srv, buf, sizeof buf, 0) != 0)
            die("recv after SHUT_RD did not return 0");
    if (read(srv, buf, sizeof buf) != 0)
        die("read after SHUT_RD did not return 0");
    /* The writing side still works. */
    send_all(srv, "still here\n", 11);
    if (recv(cli, buf, sizeof buf, 0) != 11)
        die("client recv");
    linger();
    close(srv);
    close(cli);
    printf("shut down for reading\n");
    return 0;
}

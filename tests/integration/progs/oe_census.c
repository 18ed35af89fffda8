/* oe_census PORT_HELD PORT_CLOSING MODE: 5 connections to PORT_HELD (a
 * peer that keeps them: ESTABLISHED) made in connect_held, 2 to
 * PORT_CLOSING (a peer that closes them: CLOSE_WAIT) made in
 * connect_closing; prints "ready PID", then waits in sigsuspend (where the
 * library's due work runs) until SIGUSR1. MODE "hold" exits holding all 7,
 * "close" closes them first. test_open_sockets.py: the open-socket census
 * (sockleak_open_sockets) and --at-exit=all. */
#include "prog.h"

#define HELD 5
#define CLOSING 2

static volatile sig_atomic_t released;

static void on_usr1(int sig)
{
    (void)sig;
    released = 1;
}

static int connect_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect %d", port);
    return fd;
}

static __attribute__((noinline)) void connect_held(int port, int *fds)
{
    for (int i = 0; i < HELD; i++)
        fds[i] = connect_to(port); /* HELD-SITE */
}

static __attribute__((noinline)) void connect_closing(int port, int *fds)
{
    for (int i = 0; i < CLOSING; i++)
        fds[i] = connect_to(port); /* CLOSING-SITE */
}

int main(int argc, char **argv)
{
    int fds[HELD + CLOSING];
    sigset_t block, old;

    if (argc != 4)
        die("usage: oe_census PORT_HELD PORT_CLOSING hold|close");
    signal(SIGUSR1, on_usr1);
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    connect_held(atoi(argv[1]), fds);
    connect_closing(atoi(argv[2]), fds + HELD);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    while (!released)
        sigsuspend(&old);
    if (strcmp(argv[3], "close") == 0)
        for (int i = 0; i < HELD + CLOSING; i++)
            close(fds[i]);
    return 0;
}

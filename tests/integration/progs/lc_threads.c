/* Threads racing on accept/close with fd reuse. Eight server threads accept
 * on one listener, read each connection to its end and close it, except the
 * connections whose payload asks to be kept ("L"): those are leaked. Two
 * client threads make the connections; two churn threads open and close
 * fds of every kind meanwhile, so numbers are reused at once. Arguments:
 * CONNECTIONS LEAKS. Exactly LEAKS findings at the read below. */
#include "prog.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

#define SERVERS 8
#define CLIENTS 2
#define CHURNERS 2

static int lfd, port;
static long connections, leaks;
static atomic_long served, kept;
static atomic_int done;

static void *server(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* OPEN-SITE */
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL; /* listener shut down */
        }
        recv_timeout(fd, 10);
        char buf[16], first = 0;
        ssize_t n;
        while ((n = recv(fd, buf, sizeof buf, 0)) > 0) /* EOF-SITE */
            if (!first)
                first = buf[0];
        if (n != 0)
            die("server recv");
        if (first == 'L')
            atomic_fetch_add(&kept, 1); /* leaked: fd stays open */
        else
            close(fd);
        atomic_fetch_add(&served, 1);
    }
}

static void *client(void *arg)
{
    long id = (long)arg, step = connections / leaks;
    for (long i = id; i < connections; i += CLIENTS) {
        int fd = connect_loopback(port);
        send_all(fd, i % step == 0 && i / step < leaks ? "L" : "K", 1);
        close(fd);
    }
    return NULL;
}

static void *churn(void *arg)
{
    (void)arg;
    char buf[8];
    while (!atomic_load(&done)) {
        int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int sv[2];
        if (a < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            die("churn open");
        close(sv[1]);
        if (read(sv[0], buf, sizeof buf) != 0)
            die("churn: expected end-of-stream");
        int d = dup(sv[0]);
        close(sv[0]);
        if (d >= 0 && dup2(a, d) != d)
            die("churn dup2");
        close(d);
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        close(s);
        close(a);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    connections = arg_long(argc, argv, 1, 400);
    leaks = arg_long(argc, argv, 2, 10);
    if (leaks < 1 || leaks > connections)
        die("bad arguments");
    lfd = listen_loopback(&port);
    pthread_t s[SERVERS], c[CLIENTS], h[CHURNERS];
    for (long i = 0; i < SERVERS; i++)
        pthread_create(&s[i], NULL, server, NULL);
    for (long i = 0; i < CHURNERS; i++)
        pthread_create(&h[i], NULL, churn, NULL);
    for (long i = 0; i < CLIENTS; i++)
        pthread_create(&c[i], NULL, client, (void *)i);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(c[i], NULL);
    while (atomic_load(&served) < connections)
        sleep_ms(5);
    atomic_store(&done, 1);
    for (int i = 0; i < CHURNERS; i++)
        pthread_join(h[i], NULL);
    shutdown(lfd, SHUT_RDWR); /* wakes the servers' accept */
    for (int i = 0; i < SERVERS; i++)
        pthread_join(s[i], NULL);
    printf("served %ld, kept %ld\n", atomic_load(&served), atomic_load(&kept));
    fflush(stdout);
    if (atomic_load(&kept) != leaks)
        die("kept %ld connections, expected %ld", atomic_load(&kept), leaks);
    linger();
    return 0;
}

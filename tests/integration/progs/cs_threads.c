/* A threaded server whose handler returns on end-of-stream without closing:
 * the same loop (serve) runs on THREADS threads and on main, so identical
 * leaks have stacks that differ only below the loop (start_thread or main).
 *
 *   cs_threads THREADS PER_THREAD
 *
 * Prints "listening on PORT"; the driver makes THREADS+1 * PER_THREAD
 * connections and hangs each up. Holds the leaks until the test releases it
 * (SIGUSR2, blocked in every thread), then prints "served N" and exits. */
#include <pthread.h>
#include "prog.h"

static int lfd;
static long per_thread;

static void handle(int fd)
{
    char buf[64];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) /* EOF-SITE */
        ;
    /* the bug: fd is never closed */
}

static void *serve(void *arg)
{
    (void)arg;
    for (long i = 0; i < per_thread; i++) {
        int fd = accept(lfd, NULL, NULL); /* OPEN-SITE */
        if (fd < 0)
            die("accept");
        handle(fd);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = arg_long(argc, argv, 1, 3);
    per_thread = arg_long(argc, argv, 2, 2);
    int port;
    lfd = listen_loopback(&port);
    hold_prepare(); /* before the threads: they inherit the blocked signal */
    announce_port(port);
    pthread_t t[16];
    if (threads > 16)
        threads = 16;
    for (long i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, serve, NULL) != 0)
            die("pthread_create");
    serve(NULL);
    for (long i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    hold_until_released(HOLD_LIMIT_MS);
    printf("served %ld\n", (threads + 1) * per_thread);
    return 0;
}

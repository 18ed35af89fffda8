/* The program's last thread leaves with pthread_exit, or is cancelled, while
 * the library's thread runs: glibc ends the process (exit(0)) when the last
 * thread it counts leaves, and the library's thread is one it counts.
 *
 * st_pexit MODE: reads a TCP connection to its end-of-stream, keeps it
 * (a close_wait leak, reported at the deadline), then
 *   main:   main calls pthread_exit;
 *   last:   main calls pthread_exit; a thread of the program's waits for
 *           main to be gone (pthread_join), then returns;
 *   cancel: a thread of the program's cancels main, which waits in pause(),
 *           waits for it to be gone, then returns;
 *   late:   main calls pthread_exit; a thread of the program's sleeps a
 *           while, then returns (it does not join main, which helgrind
 *           cannot follow).
 * Each way the process ends as if the program called exit(0): its atexit
 * handler prints "atexit", its status is 0. A process that does not end
 * hangs: the test's time limit kills it (a signal cannot: the library's
 * thread blocks them all, and it may be all that is left). */
#include <pthread.h>
#include "prog.h"

static pthread_t main_thread;

static void at_exit(void)
{
    printf("atexit\n");
    fflush(stdout);
}

static void *sleep_then_return(void *arg)
{
    (void)arg;
    sleep_ms(2 * deadline_ms());
    printf("thread done\n");
    fflush(stdout);
    return NULL;
}

static void *outlive_main(void *arg)
{
    if (arg)
        pthread_cancel(main_thread);
    void *res = NULL;
    if (pthread_join(main_thread, &res) != 0)
        die("pthread_join(main)");
    printf("main gone%s\n", res == PTHREAD_CANCELED ? " (cancelled)" : "");
    fflush(stdout);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "main") && strcmp(mode, "last") && strcmp(mode, "cancel") &&
        strcmp(mode, "late")) {
        fprintf(stderr, "usage: st_pexit main|last|cancel|late\n");
        return 2;
    }
    atexit(at_exit);
    int cli, srv;
    char buf[16];
    tcp_pair(&cli, &srv);
    close(cli);
    recv_timeout(srv, 10);
    if (recv(srv, buf, sizeof buf, 0) != 0) /* EOF-SITE */
        die("recv: expected end-of-stream");
    linger(); /* the leak is reported now */
    main_thread = pthread_self();
    pthread_t t;
    void *(*start)(void *) = strcmp(mode, "late") ? outlive_main : sleep_then_return;
    if (strcmp(mode, "main") &&
        pthread_create(&t, NULL, start, strcmp(mode, "cancel") ? NULL : &t) != 0)
        die("pthread_create");
    printf("main leaving\n");
    fflush(stdout);
    if (!strcmp(mode, "cancel"))
        for (;;)
            pause();
    pthread_exit(NULL);
}

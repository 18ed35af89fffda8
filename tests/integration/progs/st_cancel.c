/* Thread cancellation inside a wrapped call must not leave the library's
 * locks held: a thread with a cancel pending closes a socket whose leak was
 * already reported (the library then writes a "closed" record), the
 * cancellation acts at the first cancellation point, and the process must
 * still exit normally.
 * Prints "cancelled" and "done"; a hang is cut after 5 s by alarm() (the
 * process dies of SIGALRM). */
#include <pthread.h>
#include <stdatomic.h>
#include "prog.h"

static int srv;
static atomic_int cancel_sent;

static void *closer(void *arg)
{
    (void)arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    while (!atomic_load(&cancel_sent))
        sleep_ms(1);
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    close(srv); /* the cancellation acts here, or inside */
    pthread_testcancel();
    return NULL;
}

int main(void)
{
    int cli;
    char buf[16];
    alarm(5);
    tcp_pair(&cli, &srv);
    close(cli);
    recv_timeout(srv, 10);
    if (recv(srv, buf, sizeof buf, 0) != 0) /* EOF-SITE */
        die("recv: expected end-of-stream");
    linger(); /* the leak is reported now */
    pthread_t t;
    if (pthread_create(&t, NULL, closer, NULL) != 0)
        die("pthread_create");
    pthread_cancel(t);
    atomic_store(&cancel_sent, 1);
    void *res;
    pthread_join(t, &res);
    printf("%s\n", res == PTHREAD_CANCELED ? "cancelled" : "not cancelled");
    fflush(stdout);
    /* More work that needs the library: a new connection read to its end. */
    int c2, s2;
    tcp_pair(&c2, &s2);
    close(c2);
    while (recv(s2, buf, sizeof buf, 0) > 0)
        ;
    close(s2);
    printf("done\n");
    return 0;
}

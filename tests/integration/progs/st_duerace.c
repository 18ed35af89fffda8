/* Threads of a fork child at the library's due work together. A thread of
 * the program's leaves; a key destructor of the program's, which glibc runs
 * after the library's, forks. The child's one thread has been counted out
 * already, so the library does its work (the sweep, the deadlines) in the
 * child's capped waits; the child then makes threads that wait, and the
 * first of them starts the library's thread. Two threads at the work at
 * once shared the sweep's netlink socket: one took the other's reply, and
 * the other waited in recv for ever, every signal blocked (4 to 9 runs in
 * 20 hung under thread=1).
 *
 * st_duerace ROUNDS: ROUNDS such forks, one after the other. Each child
 * holds a connection whose peer closed (CLOSE_WAIT), makes two threads that
 * sleep 200 and 300 ms, sleeps 400 ms itself, and leaves by pthread_exit.
 * The forking thread waits up to 10 s for each child, kills one that has
 * not ended and counts it. Prints "hung N of ROUNDS"; exits 0 when none
 * hung, 1 otherwise. */
#include <pthread.h>
#include "prog.h"

static pthread_key_t key;
static long hung;

static void *sleeper(void *arg)
{
    usleep(200000 + 100000 * (long)(intptr_t)arg);
    return NULL;
}

static void child(void)
{
    int cli, srv;
    tcp_pair(&cli, &srv);
    close(cli); /* srv sits in CLOSE_WAIT */
    for (intptr_t i = 0; i < 2; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, sleeper, (void *)i) != 0)
            die("pthread_create");
        pthread_detach(t);
    }
    usleep(400000);
    pthread_exit(NULL);
}

/* 1 when the child ended well within limit_ms; else it is killed: 0. */
static int reaped(pid_t pid, long limit_ms)
{
    int status, r = reap_within(pid, limit_ms, &status);
    if (r < 0)
        die("waitpid");
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return 0;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void forking_destructor(void *value)
{
    (void)value;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0)
        child();
    hung += !reaped(pid, 10000);
}

static void *leaver(void *arg)
{
    (void)arg;
    pthread_setspecific(key, &key); /* its destructor forks as it leaves */
    return NULL;
}

int main(int argc, char **argv)
{
    long rounds = arg_long(argc, argv, 1, 10);
    int cli, srv;
    tcp_pair(&cli, &srv); /* the parent holds TCP sockets too */
    if (pthread_key_create(&key, forking_destructor) != 0)
        die("pthread_key_create");
    for (long r = 0; r < rounds; r++) {
        pthread_t t;
        if (pthread_create(&t, NULL, leaver, NULL) != 0)
            die("pthread_create");
        pthread_join(t, NULL);
    }
    printf("hung %ld of %ld\n", hung, rounds);
    return hung != 0;
}

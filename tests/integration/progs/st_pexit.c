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
 *           cannot follow);
 *   clone:  first runs a child process made by glibc's clone() (no thread
 *           of this process), then as late;
 *   fork:   main calls pthread_exit; a key destructor of the program's,
 *           which glibc runs after the library's, forks: the child, whose
 *           one thread is leaving, ends as main would, and the parent
 *           waits for it.
 * Each way the process ends as if the program called exit(0): its atexit
 * handler prints "atexit", its status is 0. A process that does not end
 * hangs: the test's time limit kills it (a signal cannot: the library's
 * thread blocks them all, and it may be all that is left). */
#include <pthread.h>
#include <sched.h>
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

static int clone_child(void *arg)
{
    (void)arg;
    _exit(0);
}

static void fork_in_destructor(void *value)
{
    (void)value;
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        printf("child leaving\n");
        fflush(stdout);
        return;
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid");
    printf("child status %d\n", status);
    fflush(stdout);
}

/* st_pexit clone and fork: set-up before the leak. */
static void before(const char *mode)
{
    if (!strcmp(mode, "clone")) {
        static char stack[64 * 1024];
        int pid = clone(clone_child, stack + sizeof stack, SIGCHLD, NULL);
        if (pid < 0 || waitpid(pid, NULL, 0) != pid)
            die("clone");
    } else if (!strcmp(mode, "fork")) {
        static pthread_key_t key;
        if (pthread_key_create(&key, fork_in_destructor) != 0 ||
            pthread_setspecific(key, &key) != 0)
            die("pthread_key_create");
    }
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
    static const char *const modes[] = {"main", "last", "cancel", "late", "clone", "fork"};
    size_t m = 0;
    while (m < sizeof modes / sizeof *modes && strcmp(mode, modes[m]))
        m++;
    if (m == sizeof modes / sizeof *modes) {
        fprintf(stderr, "usage: st_pexit main|last|cancel|late|clone|fork\n");
        return 2;
    }
    atexit(at_exit);
    before(mode);
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
    int late = !strcmp(mode, "late") || !strcmp(mode, "clone");
    void *(*start)(void *) = late ? sleep_then_return : outlive_main;
    if (strcmp(mode, "main") && strcmp(mode, "fork") &&
        pthread_create(&t, NULL, start, strcmp(mode, "cancel") ? NULL : &t) != 0)
        die("pthread_create");
    /* Not cancelled in the write under fflush: cancelled after its data went
     * out but before stdio took it, the line was written again at exit
     * ("main leaving" twice, once in a loaded make check). */
    int was;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &was);
    printf("main leaving\n");
    fflush(stdout);
    pthread_setcancelstate(was, NULL);
    if (!strcmp(mode, "cancel"))
        for (;;)
            pause();
    pthread_exit(NULL);
}

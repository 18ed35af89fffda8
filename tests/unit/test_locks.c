/* The library's locks around fork (preload/locks.c): prepare waits for our
 * own unwinding to leave the fork gate, a fork from a signal handler that
 * interrupted one of our locked sections does not wait for itself, and a
 * child can take every lock again (those its interrupted section held
 * included, once that section releases them).
 *
 * Every test arms alarm(): a hang ends the program with SIGALRM, a failure
 * that `make unit` reports, rather than a stuck test run. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "locks.h"
#include "sl.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Waits for a child that must exit 0 on its own. */
static void expect_child_ok(pid_t pid)
{
    int status = -1;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static pthread_barrier_t inside;

/* Holds the fork gate for 300 ms, as our unwinding does for microseconds. */
static void *gate_holder(void *arg)
{
    (void)arg;
    int g = sl_guard_enter();
    uint32_t token = SL_GATE_ENTER();
    pthread_barrier_wait(&inside);
    sleep_ms(300);
    SL_GATE_LEAVE(token);
    sl_guard_leave(g);
    return NULL;
}

/* A fork waits until no thread of ours is inside the gate (the child would
 * otherwise inherit libunwind's or the loader's locks held). */
static void test_fork_waits_for_gate(void **state)
{
    (void)state;
    alarm(10);
    pthread_t th;
    pthread_barrier_init(&inside, NULL, 2);
    assert_int_equal(pthread_create(&th, NULL, gate_holder, NULL), 0);
    pthread_barrier_wait(&inside);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    double waited = now_s() - t0;
    assert_true(pid > 0);
    expect_child_ok(pid);
    pthread_join(th, NULL);
    pthread_barrier_destroy(&inside);
    assert_true(waited >= 0.2);
    alarm(0);
}

static volatile sig_atomic_t in_child;
static volatile pid_t forked;

static void fork_in_handler(int sig)
{
    (void)sig;
    pid_t pid = fork();
    if (pid == 0) {
        in_child = 1;
        return;
    }
    forked = pid;
}

/* Inside our own locked sections (a stripe, the log, the gate), a signal
 * handler forks: prepare must skip what this thread holds; in the child the
 * interrupted section releases them and every lock can be taken again. */
static void test_fork_from_handler_inside_locked_section(void **state)
{
    (void)state;
    alarm(10);
    signal(SIGUSR1, fork_in_handler);
    int g = sl_guard_enter();
    uint32_t token = SL_GATE_ENTER();
    SL_LOCK_STRIPE(7);
    SL_LOCK(SL_LK_LOG);
    raise(SIGUSR1);
    SL_UNLOCK(SL_LK_LOG);
    SL_UNLOCK_STRIPE(7);
    SL_GATE_LEAVE(token);
    if (in_child) {
        for (int id = SL_LK_DEPOT; id < SL_LK_COUNT; id++) {
            SL_LOCK(id);
            SL_UNLOCK(id);
        }
        SL_LOCK_STRIPE(7);
        SL_UNLOCK_STRIPE(7);
        token = SL_GATE_ENTER();
        SL_GATE_LEAVE(token);
        pid_t grandchild = fork(); /* the gate's count in the child is 0 */
        if (grandchild == 0)
            _exit(0);
        int status = -1;
        _exit(grandchild > 0 && waitpid(grandchild, &status, 0) == grandchild && status == 0 ? 0
                                                                                          : 1);
    }
    sl_guard_leave(g);
    assert_true(forked > 0);
    expect_child_ok(forked);
    /* The parent's locks are free again. */
    g = sl_guard_enter();
    SL_LOCK(SL_LK_LOG);
    SL_UNLOCK(SL_LK_LOG);
    SL_LOCK_STRIPE(7);
    SL_UNLOCK_STRIPE(7);
    sl_guard_leave(g);
    signal(SIGUSR1, SIG_DFL);
    alarm(0);
}

static _Atomic int stop;

/* Takes and releases every lock in order, as hooks and the reaper do. */
static void take_every_lock(unsigned stripe)
{
    int g = sl_guard_enter();
    uint32_t token = SL_GATE_ENTER();
    SL_GATE_LEAVE(token);
    SL_LOCK_STRIPE(stripe);
    SL_UNLOCK_STRIPE(stripe);
    for (int id = SL_LK_DEPOT; id < SL_LK_COUNT; id++) {
        SL_LOCK(id);
        SL_UNLOCK(id);
    }
    sl_guard_leave(g);
}

static void *lock_churn(void *arg)
{
    (void)arg;
    for (unsigned i = 0; !atomic_load(&stop); i++)
        take_every_lock(i);
    return NULL;
}

/* Forks while other threads take every lock: each child can take every
 * lock at once. */
static void test_fork_while_other_threads_churn(void **state)
{
    (void)state;
    alarm(20);
    pthread_t th[3];
    atomic_store(&stop, 0);
    for (int t = 0; t < 3; t++)
        assert_int_equal(pthread_create(&th[t], NULL, lock_churn, NULL), 0);
    for (int n = 0; n < 300; n++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (unsigned i = 0; i < SL_STRIPES; i++)
                take_every_lock(i);
            _exit(0);
        }
        assert_true(pid > 0);
        expect_child_ok(pid);
    }
    atomic_store(&stop, 1);
    for (int t = 0; t < 3; t++)
        pthread_join(th[t], NULL);
    alarm(0);
}

/* As the library's: its handlers registered first, so they run first after
 * the fork. */
static void prepare(void)
{
    (void)sl_locks_prepare(1);
}

int main(void)
{
    pthread_atfork(prepare, sl_locks_parent, sl_locks_child);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_waits_for_gate),
        cmocka_unit_test(test_fork_from_handler_inside_locked_section),
        cmocka_unit_test(test_fork_while_other_threads_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

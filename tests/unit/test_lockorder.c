/* The lock-debug build's checks (SL_LOCK_DEBUG): locks.c is compiled into
 * this test with them on. A lock taken out of order, twice, or outside the
 * re-entry guard aborts with a message naming both locks and the caller;
 * the order itself passes. Each case runs in a child, whose stderr and end
 * are checked. */
#define SL_LOCK_DEBUG 1
#include "../../preload/locks.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

/* Runs fn in a child with stderr captured; returns its wait status. */
static int in_child(void (*fn)(void), char *err, size_t size)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        fn();
        _exit(0);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < size && (r = read(p[0], err + len, size - 1 - len)) > 0)
        len += (size_t)r;
    err[len] = '\0';
    close(p[0]);
    int status = -1;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void in_order(void)
{
    int g = sl_guard_enter();
    uint32_t t = SL_GATE_ENTER();
    SL_LOCK(SL_LK_MODULES);
    SL_UNLOCK(SL_LK_MODULES);
    SL_GATE_LEAVE(t);
    SL_LOCK_STRIPE(3);
    SL_LOCK(SL_LK_DEPOT);
    SL_LOCK(SL_LK_REAPER);
    SL_LOCK(SL_LK_LOG);
    SL_LOCK(SL_LK_MODULES);
    SL_UNLOCK(SL_LK_MODULES);
    SL_UNLOCK(SL_LK_LOG);
    SL_UNLOCK(SL_LK_REAPER);
    SL_UNLOCK(SL_LK_DEPOT);
    SL_UNLOCK_STRIPE(3);
    sl_guard_leave(g);
}

static void log_then_depot(void)
{
    int g = sl_guard_enter();
    SL_LOCK(SL_LK_LOG);
    SL_LOCK(SL_LK_DEPOT);
    sl_guard_leave(g);
}

static void two_stripes(void)
{
    int g = sl_guard_enter();
    SL_LOCK_STRIPE(1);
    SL_LOCK_STRIPE(2);
    sl_guard_leave(g);
}

static void gate_under_log(void)
{
    int g = sl_guard_enter();
    SL_LOCK(SL_LK_LOG);
    (void)SL_GATE_ENTER();
    sl_guard_leave(g);
}

static void outside_guard(void)
{
    SL_LOCK(SL_LK_REAPER);
}

static void test_order_passes(void **state)
{
    (void)state;
    char err[1024];
    int st = in_child(in_order, err, sizeof err);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_string_equal(err, "");
}

static void expect_abort(void (*fn)(void), const char *message)
{
    char err[1024];
    int st = in_child(fn, err, sizeof err);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    if (!strstr(err, message))
        fail_msg("expected \"%s\" in: %s", message, err);
}

static void test_out_of_order_aborts(void **state)
{
    (void)state;
    expect_abort(log_then_depot, "lock order: stack depot taken in log_then_depot:");
    expect_abort(log_then_depot, "while log is held");
    expect_abort(two_stripes, "lock order: fdtable stripe taken twice in two_stripes:");
    expect_abort(gate_under_log, "lock order: gate taken in gate_under_log:");
    expect_abort(outside_guard, "lock order: reaper taken outside the re-entry guard in outside_guard:");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_passes),
        cmocka_unit_test(test_out_of_order_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

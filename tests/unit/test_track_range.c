/* Range closes: the fd table's range walk (only chunks that exist, any
 * width at the same cost), and close_range/closefrom bookkeeping: slots in
 * the range end, others stay, CLOSE_RANGE_CLOEXEC and bad arguments change
 * nothing, a vfork child (another pid sharing our memory) changes nothing,
 * and results and errno are the real call's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "fdtable.h"
#include "log.h"
#include "options.h"
#include "real.h"
#include "track.h"

/* The library's constructor is not linked into unit tests. */
void sl_init(void)
{
    sl_real_init();
}

#define TRACKED (SL_F_KNOWN | SL_F_SOCKET | SL_F_STREAM)

static void mark(int fd)
{
    struct sl_slot *s = sl_fdtable_get(fd);
    assert_non_null(s);
    atomic_store(&s->flags, TRACKED);
}

static uint32_t flags_of(int fd)
{
    struct sl_slot *s = sl_fdtable_peek(fd);
    return s ? atomic_load(&s->flags) : 0;
}

struct visit {
    int n, marked, lo, hi, out_of_range;
};

static void count_slot(int fd, struct sl_slot *s, void *arg)
{
    struct visit *v = arg;
    v->n++;
    if (fd < v->lo || fd > v->hi)
        v->out_of_range++;
    if (atomic_load(&s->flags) == TRACKED)
        v->marked++;
}

static struct visit walk(int lo, int hi)
{
    struct visit v = {.lo = lo, .hi = hi};
    sl_fdtable_foreach_range(lo, hi, count_slot, &v);
    return v;
}

static int setup(void **state)
{
    (void)state;
    sl_init();
    sl_pid = getpid();
    return 0;
}

static void test_range_walk_bounds(void **state)
{
    (void)state;
    mark(20000);
    mark(20001);
    mark(21500);
    struct visit v = walk(20000, 20001);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.marked, 2);
    v = walk(20001, 21499);
    assert_int_equal(v.marked, 1);
    assert_int_equal(v.out_of_range, 0);
    v = walk(20002, 21500);
    assert_int_equal(v.marked, 1);
    v = walk(0, INT_MAX);
    assert_true(v.marked >= 3);
    assert_int_equal(v.out_of_range, 0);
    /* Empty and negative ranges. */
    assert_int_equal(walk(21500, 20000).n, 0);
    assert_int_equal(walk(-5, -1).n, 0);
    v = walk(-100, 20000);
    assert_int_equal(v.out_of_range, 0);
    /* A range holding no chunk at all visits nothing. */
    assert_int_equal(walk(40000000, INT_MAX - 1).n, 0);
}

static void test_range_walk_cost_independent_of_width(void **state)
{
    (void)state;
    mark(5);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 1000; i++)
        sl_fdtable_foreach_range(100000, INT_MAX, count_slot, &(struct visit){0});
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    /* Only the top array up to the highest chunk ever mapped is scanned. */
    assert_true(us < 200000);
}

static void test_track_close_range_ends_slots_in_range(void **state)
{
    (void)state;
    mark(30010);
    mark(30011);
    mark(31000);
    uint32_t gen11 = sl_fdtable_peek(30011)->gen;
    sl_track_close_range(30011, ~0U);
    assert_int_equal(flags_of(30010), TRACKED);
    assert_int_equal(flags_of(30011), 0);
    assert_int_equal(flags_of(31000), 0);
    assert_int_equal(sl_fdtable_peek(30011)->gen, gen11 + 1);
    /* Nothing for empty or out-of-int ranges. */
    mark(30011);
    sl_track_close_range(30012, 30011);
    sl_track_close_range(0x80000000u, ~0U);
    assert_int_equal(flags_of(30011), TRACKED);
    sl_track_close_range(30010, 30011);
    assert_int_equal(flags_of(30010), 0);
    assert_int_equal(flags_of(30011), 0);
}

static void test_vfork_child_changes_nothing(void **state)
{
    (void)state;
    mark(32000);
    sl_vfork_child = 1; /* as vfork() sets it for its child */
    sl_track_close_range(0, ~0U);
    sl_vfork_child = 0;
    assert_int_equal(flags_of(32000), TRACKED);
    /* After a clone(): our memory, another pid. */
    int pid = sl_pid;
    sl_raw_clones = 1;
    sl_pid = pid + 1;
    sl_track_close_range(0, ~0U);
    sl_pid = pid;
    assert_int_equal(flags_of(32000), TRACKED);
    sl_track_close_range(0, 31999); /* the real pid again: ends what is in range */
    sl_raw_clones = 0;
    assert_int_equal(flags_of(32000), TRACKED);
    sl_track_close_range(32000, 32000);
    assert_int_equal(flags_of(32000), 0);
}

static void test_close_range_hook_results_and_errno(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    mark(sv[0]);
    mark(sv[1]);

    /* Bad arguments: the real error, nothing ended. */
    errno = 0;
    assert_int_equal(sl_close_range((unsigned)sv[1], (unsigned)sv[0], 0), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(sl_close_range((unsigned)sv[0], (unsigned)sv[1], 0x40000), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(flags_of(sv[0]), TRACKED);

    /* CLOSE_RANGE_CLOEXEC: still open, still tracked, errno untouched. */
    errno = 1234;
    assert_int_equal(sl_close_range((unsigned)sv[0], (unsigned)sv[1], CLOSE_RANGE_CLOEXEC), 0);
    assert_int_equal(errno, 1234);
    assert_int_equal(flags_of(sv[0]), TRACKED);
    assert_int_equal(fcntl(sv[0], F_GETFD), FD_CLOEXEC);

    /* A real close: slots end first, fds are gone, errno untouched. */
    errno = 4321;
    assert_int_equal(sl_close_range((unsigned)sv[0], (unsigned)sv[1], 0), 0);
    assert_int_equal(errno, 4321);
    assert_int_equal(flags_of(sv[0]), 0);
    assert_int_equal(flags_of(sv[1]), 0);
    assert_int_equal(fcntl(sv[0], F_GETFD), -1);
    assert_int_equal(fcntl(sv[1], F_GETFD), -1);
}

static void test_closefrom_hook(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int hi = fcntl(sv[0], F_DUPFD, 500);
    assert_true(hi >= 500);
    mark(hi);
    mark(sv[0]);
    errno = 77;
    sl_closefrom(500);
    assert_int_equal(errno, 77);
    assert_int_equal(flags_of(hi), 0);
    assert_int_equal(fcntl(hi, F_GETFD), -1);
    assert_int_equal(flags_of(sv[0]), TRACKED);
    assert_true(fcntl(sv[0], F_GETFD) >= 0);
    close(sv[0]);
    close(sv[1]);
}

/* Our pinned output directory survives a program's sweep of every fd, and
 * looks closed to the program's own close. */
static void test_sweeps_spare_our_own_fds(void **state)
{
    (void)state;
    char dir[] = "/tmp/sl_test_track_range.XXXXXX";
    assert_non_null(mkdtemp(dir));
    snprintf(sl_opt.output, sizeof sl_opt.output, "%s", dir);
    sl_log_pin_dir();
    int own[SL_LOG_OWN_FDS];
    assert_int_equal(sl_log_own_fds(own), 1);
    int d = own[0];
    assert_true(d >= 3);

    int a = socket(AF_UNIX, SOCK_STREAM, 0), b = socket(AF_UNIX, SOCK_STREAM, 0);
    /* Ours sits at the top of (or above) the fd limit: the program's
     * highest fd is just below it. */
    int hi = fcntl(a, F_DUPFD, d - 1);
    assert_true(a >= 3 && b >= 3 && hi >= d - 1 && hi != d);
    assert_int_equal(sl_close_range(3, ~0U, 0), 0);
    assert_int_equal(fcntl(a, F_GETFD), -1);
    assert_int_equal(fcntl(b, F_GETFD), -1);
    assert_int_equal(fcntl(hi, F_GETFD), -1);
    assert_true(fcntl(d, F_GETFD) >= 0);

    a = socket(AF_UNIX, SOCK_STREAM, 0);
    hi = fcntl(a, F_DUPFD, d - 1);
    sl_closefrom(3);
    assert_int_equal(fcntl(a, F_GETFD), -1);
    assert_int_equal(fcntl(hi, F_GETFD), -1);
    assert_true(fcntl(d, F_GETFD) >= 0);

    /* The program's own close of that number: EBADF, as without us. */
    errno = 0;
    assert_int_equal(sl_close(d), -1);
    assert_int_equal(errno, EBADF);
    assert_true(fcntl(d, F_GETFD) >= 0);
    assert_int_equal(sl_log_own_fds(own), 1);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_walk_bounds),
        cmocka_unit_test(test_range_walk_cost_independent_of_width),
        cmocka_unit_test(test_track_close_range_ends_slots_in_range),
        cmocka_unit_test(test_vfork_child_changes_nothing),
        cmocka_unit_test(test_close_range_hook_results_and_errno),
        cmocka_unit_test(test_closefrom_hook),
        cmocka_unit_test(test_sweeps_spare_our_own_fds),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

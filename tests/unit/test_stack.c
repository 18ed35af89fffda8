/* Unit tests of preload/stack.c: capture, skipping, the frames limit, the
 * depot (one id per distinct stack), concurrency, fork hooks, cost. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

#include "modules.h"
#include "options.h"
#include "locks.h"
#include "stack.h"

/* The library's own definitions live in files this test may not link
 * (init, hooks); weak, so the real ones win when the archive has them. */
__attribute__((weak)) __thread int sl_in_lib __attribute__((tls_model("initial-exec")));
__attribute__((weak)) struct sl_options sl_opt = {.frames = 32, .verbosity = 1};
__attribute__((weak)) void sl_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sockleak: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* With SL_TEST_NO_UNWIND set, libunwind "is not installed". */
void *dlopen(const char *file, int flags)
{
    static void *(*real)(const char *, int);
    if (file && strstr(file, "libunwind") && getenv("SL_TEST_NO_UNWIND"))
        return NULL;
    if (!real)
        real = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
    return real(file, flags);
}

extern int sl_stack_skip_self;
extern int sl_stack_skip_frames;

/* Frame 0 is then the return address into the function that called
 * sl_stack_capture, as in the library it is the caller of the hook. */
static int setup(void **state)
{
    (void)state;
    sl_stack_skip_self = 0;
    sl_stack_skip_frames = 1; /* sl_stack_capture itself */
    sl_opt.frames = 32;
    return 0;
}

static __thread volatile uint32_t sink;

/* noinline + a store after the call: the capture is a real call from here,
 * never a tail call, so frame 0 lies inside this function. */
__attribute__((noinline, noclone)) static uint32_t site_a(void)
{
    uint32_t id = sl_stack_capture();
    sink = id;
    return id;
}

__attribute__((noinline, noclone)) static uint32_t site_b(void)
{
    uint32_t id = sl_stack_capture();
    sink = id;
    return id;
}

__attribute__((noinline, noclone)) static uint32_t deep(int n)
{
    uint32_t id = n <= 1 ? sl_stack_capture() : deep(n - 1);
    sink = id;
    return id;
}

static int in_function(uintptr_t pc, void (*fn)(void))
{
    uintptr_t f = (uintptr_t)fn;
    return pc > f && pc < f + 512; /* these functions are far smaller */
}

/* Calls fn n times from one call site: the stack of each call is the same. */
__attribute__((noinline, noclone)) static void repeat(uint32_t (*fn)(void), int n, uint32_t *ids)
{
    for (volatile int i = 0; i < n; i++)
        ids[i] = fn();
}

static void test_same_site_same_id(void **state)
{
    (void)state;
    uint32_t ids[100];
    repeat(site_a, 100, ids);
    assert_true(ids[0] > 0);
    for (int i = 1; i < 100; i++)
        assert_int_equal(ids[i], ids[0]);
}

static void test_different_sites_different_ids(void **state)
{
    (void)state;
    uint32_t a = site_a(), b = site_b();
    assert_true(a > 0 && b > 0);
    assert_int_not_equal(a, b);

    /* Two calls from different lines of one function differ too. */
    uint32_t x = sl_stack_capture();
    uint32_t y = sl_stack_capture();
    assert_int_not_equal(x, y);
}

static void test_frames_are_the_callers(void **state)
{
    (void)state;
    const uintptr_t *pcs;
    uint32_t id = site_a();
    int n = sl_stack_get(id, &pcs);
    assert_true(n >= 2);
    assert_true(in_function(pcs[0], (void (*)(void))site_a));
    assert_true(in_function(pcs[1], (void (*)(void))test_frames_are_the_callers));

    /* Every frame of ours is in the test program or a library it loaded. */
    struct sl_module *exe = sl_modules_find((uintptr_t)site_a);
    assert_non_null(exe);
    assert_ptr_equal(sl_modules_find(pcs[0]), exe);
    assert_ptr_equal(sl_modules_find(pcs[1]), exe);
    for (int i = 0; i < n; i++)
        assert_non_null(sl_modules_find(pcs[i]));
}

static void test_frames_limit(void **state)
{
    (void)state;
    const uintptr_t *pcs;

    sl_opt.frames = 3;
    uint32_t id = deep(10);
    assert_int_equal(sl_stack_get(id, &pcs), 3);
    for (int i = 0; i < 3; i++)
        assert_true(in_function(pcs[i], (void (*)(void))deep));

    sl_opt.frames = 1;
    assert_int_equal(sl_stack_get(deep(10), &pcs), 1);

    /* Out-of-range option values are clamped, never trusted. */
    sl_opt.frames = 100000;
    assert_true(sl_stack_get(deep(10), &pcs) > 10);
    sl_opt.frames = 32;
    assert_true(sl_stack_get(deep(10), &pcs) > 10);
}

static void test_errno_kept(void **state)
{
    (void)state;
    errno = 12345;
    assert_true(site_a() > 0);
    assert_int_equal(errno, 12345);
}

static volatile uint32_t from_handler;

static void capture_handler(int sig)
{
    (void)sig;
    from_handler = sl_stack_capture();
}

__attribute__((noinline, noclone)) static void raise_here(void)
{
    raise(SIGUSR1);
    sink = 1;
}

/* Unwinding crosses the signal frame into the interrupted code. */
static void test_signal_handler(void **state)
{
    (void)state;
    const uintptr_t *pcs;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = capture_handler;
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    raise_here();
    sigaction(SIGUSR1, &old, NULL);
    int n = sl_stack_get(from_handler, &pcs);
    int found = 0;
    for (int i = 0; i < n; i++)
        found |= in_function(pcs[i], (void (*)(void))raise_here);
    assert_true(found);
}

static void test_get_bad_ids(void **state)
{
    (void)state;
    const uintptr_t *pcs = NULL;
    assert_int_equal(sl_stack_get(0, &pcs), 0);
    assert_non_null(pcs);
    assert_int_equal(sl_stack_get(0xfffffff0u, &pcs), -1);
    assert_non_null(pcs);
}

static void test_skip_own_module(void **state)
{
    (void)state;
    const uintptr_t *pcs;
    uintptr_t lo, hi;

    /* Linked into this program, "our module" is the test itself: every frame
     * up to libc's thread or process start is skipped. */
    sl_modules_self_range(&lo, &hi);
    assert_true(lo <= (uintptr_t)site_a && (uintptr_t)site_a < hi);
    sl_stack_skip_self = 1;
    int n = sl_stack_get(site_a(), &pcs);
    sl_stack_skip_self = 0;
    assert_true(n >= 1);
    assert_true(pcs[0] < lo || pcs[0] >= hi);
    struct sl_module *m = sl_modules_find(pcs[0]);
    assert_non_null(m); /* cmocka's runner, which called this test */
    assert_ptr_not_equal(m, sl_modules_find((uintptr_t)site_a));
}

/* ------------------------------------------------------------ threads */

#define THREADS 8
#define ROUNDS 2000

struct thread_result {
    uint32_t a, b;
    int bad;
};

__attribute__((noinline, noclone)) static void *capture_thread(void *arg)
{
    struct thread_result *r = arg;
    for (int i = 0; i < ROUNDS; i++) {
        uint32_t a, b;
        repeat(site_a, 1, &a);
        repeat(site_b, 1, &b);
        if (i == 0) {
            r->a = a;
            r->b = b;
        } else if (a != r->a || b != r->b) {
            r->bad++;
        }
        /* Distinct stacks too, to grow the table under contention. */
        if (deep(1 + i % 40) == 0)
            r->bad++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    struct thread_result r[THREADS];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, capture_thread, &r[i]), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(r[i].bad, 0);
        assert_true(r[i].a > 0 && r[i].b > 0 && r[i].a != r[i].b);
        /* Same code path from the same thread start: the same stack. */
        assert_int_equal(r[i].a, r[0].a);
        assert_int_equal(r[i].b, r[0].b);
    }
}

/* Many distinct stacks: ids stay dense and each keeps its own frames. */
__attribute__((noinline, noclone)) static uint32_t unique(int n)
{
    uint32_t id;
    switch (n % 4) { /* several call sites per level */
    case 0:
        id = n > 3 ? unique(n - 1) : sl_stack_capture();
        break;
    case 1:
        id = n > 3 ? unique(n - 1) : sl_stack_capture();
        break;
    case 2:
        id = n > 3 ? unique(n - 1) : sl_stack_capture();
        break;
    default:
        id = n > 3 ? unique(n - 1) : sl_stack_capture();
        break;
    }
    sink = id;
    return id;
}

static void test_many_stacks(void **state)
{
    (void)state;
    uint32_t ids[200];
    sl_opt.frames = SL_MAX_FRAMES; /* the stacks differ only in depth */
    for (volatile int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 200; i++) {
            uint32_t id = unique(4 + i);
            if (pass == 1) {
                assert_int_equal(id, ids[i]);
                continue;
            }
            ids[i] = id;
            assert_true(ids[i] > 0);
            for (int j = 0; j < i; j++)
                assert_int_not_equal(ids[i], ids[j]);
        }
    }
}

static void test_fork_hooks(void **state)
{
    (void)state;
    const uintptr_t *pcs;
    uint32_t before;
    repeat(site_a, 1, &before);
    int nbefore = sl_stack_get(before, &pcs);
    (void)sl_locks_prepare(1);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child keeps the parent's depot and can add to it. */
        uint32_t ids[2];
        const uintptr_t *cpcs;
        sl_locks_child();
        repeat(site_a, 2, ids);
        int ok = sl_stack_get(before, &cpcs) == nbefore && cpcs == pcs && ids[0] > before &&
                 ids[1] == ids[0];
        _exit(ok ? 0 : 1);
    }
    sl_locks_parent();
    assert_true(pid > 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    uint32_t ids[2];
    repeat(site_b, 2, ids); /* the parent's lock was released */
    assert_true(ids[0] > 0 && ids[0] == ids[1]);
}

/* Steady-state cost of a 10-deep capture (printed, not asserted: VMs vary). */
__attribute__((noinline, noclone)) static uint32_t bench_deep(int n, int iters)
{
    uint32_t id = 0;
    if (n > 1) {
        id = bench_deep(n - 1, iters);
    } else {
        for (int i = 0; i < iters; i++)
            id = sl_stack_capture();
    }
    sink = id;
    return id;
}

static void test_cost(void **state)
{
    (void)state;
    const uintptr_t *pcs;
    sl_stack_skip_frames = 1;
    sl_opt.frames = 32;
    bench_deep(10, 1000); /* warm */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint32_t id = bench_deep(10, 100000);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 100000;
    int n = sl_stack_get(id, &pcs);
    printf("sl_stack_capture: %d frames (10 in the test): %.0f ns per call\n", n, ns);
    assert_true(n >= 10);
}

/* Without libunwind: one warning, then every capture is id 0. */
static int no_unwind_child(void)
{
    for (int i = 0; i < 3; i++) {
        sl_stack_prime();
        if (sl_stack_capture() != 0)
            return 1;
    }
    const uintptr_t *pcs;
    return sl_stack_get(0, &pcs) == 0 ? 0 : 1;
}

static void test_without_libunwind(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 64], line[512];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    snprintf(cmd, sizeof(cmd), "SL_TEST_NO_UNWIND=1 '%s' no-unwind 2>&1", exe);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int lines = 0, warned = 0;
    while (fgets(line, sizeof(line), p)) {
        lines++;
        warned += strstr(line, "sockleak: cannot load libunwind") != NULL;
    }
    int st = pclose(p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(lines, 1);
    assert_int_equal(warned, 1);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "no-unwind") == 0)
        return no_unwind_child();
    sl_stack_prime();
    sl_stack_prime(); /* idempotent */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_same_site_same_id, setup),
        cmocka_unit_test_setup(test_different_sites_different_ids, setup),
        cmocka_unit_test_setup(test_frames_are_the_callers, setup),
        cmocka_unit_test_setup(test_frames_limit, setup),
        cmocka_unit_test_setup(test_errno_kept, setup),
        cmocka_unit_test_setup(test_signal_handler, setup),
        cmocka_unit_test_setup(test_get_bad_ids, setup),
        cmocka_unit_test_setup(test_skip_own_module, setup),
        cmocka_unit_test_setup(test_threads, setup),
        cmocka_unit_test_setup(test_many_stacks, setup),
        cmocka_unit_test_setup(test_fork_hooks, setup),
        cmocka_unit_test_setup(test_without_libunwind, setup),
        cmocka_unit_test_setup(test_cost, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

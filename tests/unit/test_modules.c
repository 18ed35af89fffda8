/* Unit tests of preload/modules.c: the module map (main program, libc,
 * dlopen'd and dlclose'd libraries, build ids, the fork child reset). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "modules.h"
#include "options.h"

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

int main(void);

__attribute__((noinline)) static int local_function(int x)
{
    return x * 3 + 1;
}

/* The build id as binutils sees it in the file on disk. */
static int readelf_build_id(const char *path, char *out, size_t size)
{
    char cmd[PATH_MAX + 64], line[512];
    snprintf(cmd, sizeof(cmd), "readelf -n '%s' 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int found = -1;
    while (fgets(line, sizeof(line), p)) {
        char *s = strstr(line, "Build ID: ");
        if (s && found < 0) {
            s += strlen("Build ID: ");
            s[strcspn(s, " \r\n")] = '\0';
            snprintf(out, size, "%s", s);
            found = 0;
        }
    }
    pclose(p);
    return found;
}

static int is_lower_hex(const char *s)
{
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
            return 0;
    return 1;
}

static void test_main_program(void **state)
{
    (void)state;
    char exe[PATH_MAX], want[256];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(n > 0);
    exe[n] = '\0';

    struct sl_module *m = sl_modules_find((uintptr_t)local_function);
    assert_non_null(m);
    assert_string_equal(m->path, exe);
    assert_true(m->lo <= (uintptr_t)local_function && (uintptr_t)local_function < m->hi);
    assert_true(m->base <= m->lo);
    assert_true(strlen(m->build_id) >= 16 && is_lower_hex(m->build_id));
    if (readelf_build_id(exe, want, sizeof(want)) == 0)
        assert_string_equal(m->build_id, want);
    else
        assert_int_equal(strlen(m->build_id), 40); /* no readelf: a SHA-1 id */

    /* Stable: the same entry, found by id too. */
    assert_ptr_equal(sl_modules_find((uintptr_t)main), m);
    assert_ptr_equal(sl_modules_get(m->id), m);
    assert_int_equal(local_function(1), 4);
}

static void test_libc(void **state)
{
    (void)state;
    char want[256];
    /* libc's own printf, even where a sanitizer interposes one. */
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(libc);
    uintptr_t libc_printf = (uintptr_t)dlsym(libc, "printf");
    uintptr_t libc_snprintf = (uintptr_t)dlsym(libc, "snprintf");
    dlclose(libc);
    struct sl_module *m = sl_modules_find(libc_printf);
    assert_non_null(m);
    assert_non_null(strstr(m->path, "libc.so.6"));
    assert_true(m->path[0] == '/');
    assert_true(m->base != 0);
    assert_ptr_not_equal(m, sl_modules_find((uintptr_t)local_function));
    assert_ptr_equal(sl_modules_find(libc_snprintf), m);
    if (readelf_build_id(m->path, want, sizeof(want)) == 0)
        assert_string_equal(m->build_id, want);
}

static void test_bogus_pc(void **state)
{
    (void)state;
    static int data_object;
    assert_null(sl_modules_find(0));
    assert_null(sl_modules_find(1));
    assert_null(sl_modules_find(UINTPTR_MAX));
    int stack_object;
    assert_null(sl_modules_find((uintptr_t)&stack_object));
    /* Data, not code: outside every executable segment. */
    assert_null(sl_modules_find((uintptr_t)&data_object));
    assert_null(sl_modules_get(100000));
}

static void test_no_vdso(void **state)
{
    (void)state;
    for (uint32_t id = 0; sl_modules_get(id); id++) {
        struct sl_module *m = sl_modules_get(id);
        assert_int_equal(m->id, id);
        assert_true(m->path[0] == '/');
        assert_null(strstr(m->path, "vdso"));
        assert_true(m->lo < m->hi);
    }
}

static void test_dlopen_dlclose(void **state)
{
    (void)state;
    void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        skip();
    void *fn = dlsym(h, "zlibVersion");
    assert_non_null(fn);

    struct sl_module *m = sl_modules_find((uintptr_t)fn);
    assert_non_null(m);
    assert_non_null(strstr(m->path, "libz.so.1"));
    uint32_t id = m->id;
    uintptr_t base = m->base;

    /* Unloaded: a pc captured while it was mapped still resolves to it. */
    assert_int_equal(dlclose(h), 0);
    void *still = dlopen("libz.so.1", RTLD_NOW | RTLD_NOLOAD); /* linked in already? */
    struct sl_module *gone = sl_modules_find((uintptr_t)fn);
    assert_non_null(gone); /* nothing was loaded since to take its place */
    assert_int_equal(gone->id, id);
    if (still)
        dlclose(still);

    /* Reloaded at the same address from the same path: the same id. */
    h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    assert_non_null(h);
    fn = dlsym(h, "zlibVersion");
    m = sl_modules_find((uintptr_t)fn);
    assert_non_null(m);
    if (m->base == base)
        assert_int_equal(m->id, id);
    else
        assert_true(m->id > id);
    dlclose(h);
}

static void test_self_range(void **state)
{
    (void)state;
    uintptr_t lo, hi;
    sl_modules_self_range(&lo, &hi);
    struct sl_module *m = sl_modules_find((uintptr_t)local_function);
    assert_non_null(m);
    assert_int_equal(lo, m->lo);
    assert_int_equal(hi, m->hi);
}

/* "Logged" is the log epoch a module's record was written in: a reset (a
 * fork child's new log) is a new epoch, and no module's page is written. */
static void test_reset_logged(void **state)
{
    (void)state;
    struct sl_module *m = sl_modules_find((uintptr_t)local_function);
    struct sl_module *c = sl_modules_find((uintptr_t)&printf);
    m->logged = sl_log_epoch;
    c->logged = sl_log_epoch;
    assert_true(SL_LOGGED(m) && SL_LOGGED(c));
    pid_t pid = fork();
    if (pid == 0) {
        sl_modules_reset_logged();
        int ok = !SL_LOGGED(m) && !SL_LOGGED(c) &&
                 sl_modules_find((uintptr_t)local_function) == m;
        _exit(ok ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(SL_LOGGED(m));
    uint32_t was = m->logged;
    sl_modules_reset_logged();
    assert_false(SL_LOGGED(m));
    assert_false(SL_LOGGED(c));
    assert_int_equal(m->logged, was); /* the module itself untouched */
}

static void *finder(void *arg)
{
    long bad = 0;
    struct sl_module *exe = arg;
    for (int i = 0; i < 20000; i++) {
        if (sl_modules_find((uintptr_t)local_function) != exe)
            bad++;
        if (!sl_modules_find((uintptr_t)&printf))
            bad++;
    }
    return (void *)bad;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    struct sl_module *exe = sl_modules_find((uintptr_t)local_function);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, finder, exe), 0);
    /* Loads and unloads in the meantime force rescans under the readers. */
    for (int i = 0; i < 50; i++) {
        void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
        if (h) {
            assert_non_null(sl_modules_find((uintptr_t)dlsym(h, "zlibVersion")));
            dlclose(h);
        }
    }
    for (int i = 0; i < 4; i++) {
        void *bad;
        assert_int_equal(pthread_join(t[i], &bad), 0);
        assert_null(bad);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_main_program),   cmocka_unit_test(test_libc),
        cmocka_unit_test(test_bogus_pc),       cmocka_unit_test(test_no_vdso),
        cmocka_unit_test(test_dlopen_dlclose), cmocka_unit_test(test_self_range),
        cmocka_unit_test(test_reset_logged),   cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* `sockleak run` internals: strict numbers, output directory, library
 * lookup, environment given to the program, exit statuses and the run_id
 * filter on the logs it reads back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"
#include "util.h"

static char dir[64];
/* libm, a real shared object at the processor's own path (its multiarch
 * folder), as the loader finds it. */
static char libm[PATH_MAX];

static int find_libm(void)
{
    Dl_info info;
    void *h = dlopen("libm.so.6", RTLD_NOW);
    void *cos_fn = h ? dlsym(h, "cos") : NULL;
    if (!cos_fn || !dladdr(cos_fn, &info) || !info.dli_fname ||
        snprintf(libm, sizeof libm, "%s", info.dli_fname) >= (int)sizeof libm)
        return -1;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sockleak-run-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    /* Any real shared object will do as the preloaded library here. */
    if (find_libm() != 0)
        return -1;
    setenv("SOCKLEAK_LIBRARY", libm, 1);
    unsetenv("SOCKLEAK_OPTIONS");
    unsetenv("LD_PRELOAD");
    return access(libm, R_OK);
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_parse_long_is_strict(void **state)
{
    long v = -1;
    (void)state;

    assert_true(sl_util_parse_long("5000", 1, 86400000, &v));
    assert_int_equal(v, 5000);
    assert_false(sl_util_parse_long("", 0, 10, &v));
    assert_false(sl_util_parse_long("12x", 0, 100, &v));
    assert_false(sl_util_parse_long("0", 1, 10, &v));
    assert_false(sl_util_parse_long("11", 1, 10, &v));
    assert_false(sl_util_parse_long("99999999999999999999999", 0, 10, &v));
    assert_false(sl_util_parse_long(NULL, 0, 10, &v));
    assert_int_equal(v, 5000);
}

static void test_paths(void **state)
{
    char path[256], *abs;
    struct stat st;
    (void)state;

    snprintf(path, sizeof(path), "%s/a/b/c", dir);
    assert_int_equal(sl_run_mkdirs(path), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(sl_run_mkdirs(path), 0); /* exists: fine */
    assert_int_equal(sl_run_mkdirs("/proc/sockleak-no/such"), -1);
    snprintf(path, sizeof(path), "%s/file", dir);
    fclose(fopen(path, "w"));
    assert_int_equal(sl_run_mkdirs(path), -1);

    abs = sl_run_abspath("rel/dir");
    assert_true(abs[0] == '/');
    assert_non_null(strstr(abs, "/rel/dir"));
    free(abs);
    abs = sl_run_abspath("/x/y");
    assert_string_equal(abs, "/x/y");
    free(abs);
}

static void test_find_library(void **state)
{
    char *lib;
    (void)state;

    lib = sl_run_find_library();
    assert_non_null(lib);
    assert_true(lib[0] == '/');
    free(lib);
    setenv("SOCKLEAK_LIBRARY", "/nonexistent/libsockleak.so", 1);
    assert_null(sl_run_find_library());
    setenv("SOCKLEAK_LIBRARY", libm, 1);
}

static int run(char **argv, const char *out, long error_exitcode, char **report)
{
    size_t len;
    FILE *fp = open_memstream(report, &len);
    struct sl_run_opts o = {
        .deadline_ms = 250,
        .output = out,
        .frames = -1,
        .verbosity = -1,
        .error_exitcode = error_exitcode,
        .argv = argv,
        .report = {.format = SL_REPORT_TEXT, .out = fp},
    };
    int rc = sl_run(&o);

    fclose(fp);
    return rc;
}

static void test_exit_statuses(void **state)
{
    char out[128], *report;
    char *exit7[] = {"sh", "-c", "exit 7", NULL};
    char *killed[] = {"sh", "-c", "kill -TERM $$", NULL};
    char *missing[] = {"/nonexistent/program", NULL};
    char notexec_path[128];
    char *notexec[] = {notexec_path, NULL};
    FILE *fp;
    (void)state;

    snprintf(notexec_path, sizeof(notexec_path), "%s/not-executable", dir);
    fp = fopen(notexec_path, "w");
    assert_non_null(fp);
    fputs("exit 0\n", fp);
    fclose(fp);
    assert_int_equal(chmod(notexec_path, 0644), 0);

    snprintf(out, sizeof(out), "%s/out", dir);
    assert_int_equal(run(exit7, out, 9, &report), 7);
    /* libm stands in for the library here: no process loaded ours, and a
     * run that watched nothing must not read as "no leaks". */
    assert_non_null(strstr(report, "SUMMARY: sockleak: nothing was watched"));
    free(report);
    assert_int_equal(run(killed, out, -1, &report), 128 + SIGTERM);
    free(report);
    assert_int_equal(run(missing, out, -1, &report), 127);
    free(report);
    assert_int_equal(run(notexec, out, -1, &report), 126);
    free(report);
}

/* The program writes a log of its own under the run's run_id, next to an
 * old log of another run: only the first counts. */
static void test_environment_and_run_id(void **state)
{
    char out[128], script[2048], envfile[192], *report, buf[1024];
    char *argv[] = {"sh", "-c", script, NULL};
    FILE *fp;
    (void)state;

    snprintf(out, sizeof(out), "%s/out2", dir);
    snprintf(envfile, sizeof(envfile), "%s/env", dir);
    assert_int_equal(sl_run_mkdirs(out), 0);
    snprintf(buf, sizeof(buf), "%s/old.1.jsonl", out);
    fp = fopen(buf, "w");
    fputs("{\"t\":\"header\",\"version\":1,\"pid\":1,\"program\":\"old\",\"run_id\":\"x\"}\n"
          "{\"t\":\"finding\",\"id\":1,\"kind\":\"close_wait\",\"fd\":3,\"eof_stack\":[],"
          "\"open_stack\":[]}\n",
          fp);
    fclose(fp);
    snprintf(
        script, sizeof(script),
        "printf '%%s\\n%%s\\n' \"$LD_PRELOAD\" \"$SOCKLEAK_OPTIONS\" > %s; "
        "id=$(printf '%%s' \"$SOCKLEAK_OPTIONS\" | sed 's/.*run_id=\\([^:]*\\).*/\\1/'); "
        "printf '%%s\\n%%s\\n' "
        "'{\"t\":\"header\",\"version\":1,\"pid\":2,\"program\":\"new\",\"run_id\":\"'$id'\"}' "
        "'{\"t\":\"finding\",\"id\":1,\"kind\":\"close_wait\",\"fd\":4,\"eof_stack\":[],"
        "\"open_stack\":[]}' > %s/new.2.jsonl",
        envfile, out);
    setenv("LD_PRELOAD", "libc.so.6", 1);
    setenv("SOCKLEAK_OPTIONS", "frames=4:verbosity=2", 1);
    assert_int_equal(run(argv, out, 9, &report), 9);
    unsetenv("LD_PRELOAD");
    unsetenv("SOCKLEAK_OPTIONS");
    assert_non_null(strstr(report, "in 1 process of new"));
    assert_null(strstr(report, "old"));
    assert_non_null(strstr(report, "SUMMARY: sockleak: 1 leaked socket in 1 call site"));
    free(report);

    fp = fopen(envfile, "r");
    assert_non_null(fp);
    assert_non_null(fgets(buf, sizeof(buf), fp));
    /* Ours first, resolved to an absolute path, then the user's. */
    assert_true(buf[0] == '/');
    assert_non_null(strstr(buf, "/libm.so.6:libc.so.6\n"));
    assert_non_null(fgets(buf, sizeof(buf), fp));
    fclose(fp);
    /* The user's options first, ours after them (they win). */
    assert_true(strncmp(buf, "frames=4:verbosity=2:output=", 28) == 0);
    assert_non_null(strstr(buf, ":deadline_ms=250"));
    assert_non_null(strstr(buf, ":run_id="));
    assert_null(strstr(buf, "frames=32"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_long_is_strict),   cmocka_unit_test(test_paths),
        cmocka_unit_test(test_find_library),           cmocka_unit_test(test_exit_statuses),
        cmocka_unit_test(test_environment_and_run_id),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

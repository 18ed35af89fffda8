/* The raw log writer: records read back with jansson. The program re-executes
 * itself with awkward arguments (quotes, control characters, invalid UTF-8)
 * so the header's argv escaping is checked against the real command line. */
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "log.h"
#include "logdir.h"
#include "options.h"
#include "real.h"
#include "sockleak_log.h"
#include "stack.h"

extern int sl_stack_skip_self; /* stack.c test knob: the test is "our" module */

static const char *dir; /* the log directory (logdir.h) */
static char **saved_argv;
static int saved_argc;

/* Every record of the log file at path, in order. */
static json_t *read_path(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    json_t *all = json_array();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *rec = json_loads(line, 0, &err);
        if (!rec)
            fail_msg("bad JSON line: %s (%s)", line, err.text);
        json_array_append_new(all, rec);
    }
    free(line);
    fclose(f);
    return all;
}

/* Every record of the process's first log file in out. */
static json_t *read_records(const char *out)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%d%s", out, program_invocation_short_name, (int)getpid(),
             SL_LOG_SUFFIX);
    return read_path(path);
}

static const char *rec_type(json_t *rec)
{
    return json_string_value(json_object_get(rec, "t"));
}

static int find_log_fd(void)
{
    for (int fd = 0; fd < 65536; fd++)
        if (sl_log_owns_fd(fd))
            return fd;
    return -1;
}

static void test_no_file_without_eof(void **state)
{
    (void)state;
    sl_log_footer();
    assert_null(read_records(dir));
    struct stat st;
    assert_int_equal(stat(sl_opt.output, &st), -1); /* not even the directory */
}

static void test_finding_record(void **state)
{
    (void)state;
    sl_stack_skip_self = 0;
    struct sl_finding f = {.kind = SL_KIND_CLOSE_WAIT,
                           .fd = 7,
                           .family = "inet",
                           .local = "127.0.0.1:8080",
                           .peer = "127.0.0.1:5\"3",
                           .inode = 123,
                           .tcp_state = "CLOSE_WAIT",
                           .eof_unix_ms = 1764000001000,
                           .held_ms = 5003};
    f.eof_stack = sl_stack_capture();
    f.open_stack = 0;
    sl_log_reserve(); /* the first end-of-stream, on the program's thread */
    assert_int_equal(sl_log_finding(&f), 0);
    assert_int_equal(f.id, 1);
    int fd = find_log_fd();
    assert_true(fd >= 3);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

    json_t *all = read_records(dir);
    assert_non_null(all);
    assert_true(json_array_size(all) >= 3);
    json_t *h = json_array_get(all, 0);
    assert_string_equal(rec_type(h), SL_REC_HEADER);
    assert_int_equal(json_integer_value(json_object_get(h, "version")), SL_LOG_VERSION);
    assert_int_equal(json_integer_value(json_object_get(h, "pid")), getpid());
    assert_int_equal(json_integer_value(json_object_get(h, "ppid")), getppid());
    assert_string_equal(json_string_value(json_object_get(h, "program")),
                        program_invocation_short_name);
    assert_string_equal(json_string_value(json_object_get(h, "run_id")), "run-7");
    assert_int_equal(json_integer_value(json_object_get(h, "deadline_ms")), 1234);
    assert_int_equal(json_integer_value(json_object_get(h, "frames")), 32);
    assert_true(json_integer_value(json_object_get(h, "start_unix_ms")) > 1600000000000LL);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    assert_string_equal(json_string_value(json_object_get(h, "exe")), exe);

    /* Module records come before the finding that names them. */
    json_t *fr = NULL;
    int modules_seen[64] = {0};
    size_t i;
    json_t *rec;
    json_array_foreach(all, i, rec)
    {
        if (!strcmp(rec_type(rec), SL_REC_MODULE)) {
            json_int_t id = json_integer_value(json_object_get(rec, "id"));
            assert_true(id >= 0 && id < 64);
            modules_seen[id] = 1;
            assert_true(json_is_string(json_object_get(rec, "build_id")));
            assert_true(json_is_integer(json_object_get(rec, "base")));
        } else if (!strcmp(rec_type(rec), SL_REC_FINDING)) {
            fr = rec;
            break;
        }
    }
    assert_non_null(fr);
    assert_int_equal(json_integer_value(json_object_get(fr, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(fr, "kind")), "close_wait");
    assert_int_equal(json_integer_value(json_object_get(fr, "fd")), 7);
    assert_string_equal(json_string_value(json_object_get(fr, "family")), "inet");
    assert_string_equal(json_string_value(json_object_get(fr, "local")), "127.0.0.1:8080");
    assert_string_equal(json_string_value(json_object_get(fr, "peer")), "127.0.0.1:5\"3");
    assert_int_equal(json_integer_value(json_object_get(fr, "inode")), 123);
    assert_string_equal(json_string_value(json_object_get(fr, "tcp_state")), "CLOSE_WAIT");
    assert_int_equal(json_integer_value(json_object_get(fr, "eof_unix_ms")), 1764000001000LL);
    assert_int_equal(json_integer_value(json_object_get(fr, "held_ms")), 5003);
    json_t *open = json_object_get(fr, "open_stack");
    assert_true(json_is_array(open));
    assert_int_equal(json_array_size(open), 0);
    json_t *eof = json_object_get(fr, "eof_stack");
    assert_true(json_array_size(eof) > 0);
    json_t *frame;
    json_array_foreach(eof, i, frame)
    {
        assert_int_equal(json_array_size(frame), 2);
        json_int_t mod = json_integer_value(json_array_get(frame, 0));
        assert_true(mod >= 0 && mod < 64);
        assert_true(modules_seen[mod]);
    }
    /* Frame 0 is in this test program: its module is the executable. */
    json_int_t mod0 = json_integer_value(json_array_get(json_array_get(eof, 0), 0));
    json_array_foreach(all, i, rec)
    {
        if (!strcmp(rec_type(rec), SL_REC_MODULE) &&
            json_integer_value(json_object_get(rec, "id")) == mod0)
            assert_string_equal(json_string_value(json_object_get(rec, "path")), exe);
    }
    json_decref(all);
}

static void test_argv_escaping(void **state)
{
    (void)state;
    json_t *all = read_records(dir);
    assert_non_null(all);
    json_t *argv = json_object_get(json_array_get(all, 0), "argv");
    assert_int_equal((int)json_array_size(argv), saved_argc);
    for (int i = 0; i < saved_argc; i++) {
        const char *got = json_string_value(json_array_get(argv, (size_t)i));
        assert_non_null(got);
        if (!strcmp(saved_argv[i], "bad\xff"
                                   "byte"))
            assert_string_equal(got, "bad\xef\xbf\xbd"
                                     "byte"); /* U+FFFD */
        else
            assert_string_equal(got, saved_argv[i]);
    }
    json_decref(all);
}

static void test_second_finding_no_module_repeat(void **state)
{
    (void)state;
    json_t *before = read_records(dir);
    size_t n0 = json_array_size(before);
    json_decref(before);
    struct sl_finding f = {.kind = SL_KIND_UNCLOSED_AFTER_SHUTDOWN,
                           .fd = 9,
                           .family = "unix",
                           .local = "@abstract",
                           .tcp_state = NULL};
    assert_int_equal(sl_log_finding(&f), 0);
    assert_int_equal(f.id, 2);
    json_t *all = read_records(dir);
    assert_int_equal(json_array_size(all), n0 + 1);
    json_t *fr = json_array_get(all, n0);
    assert_string_equal(rec_type(fr), SL_REC_FINDING);
    assert_string_equal(json_string_value(json_object_get(fr, "kind")), "unclosed_after_shutdown");
    assert_true(json_is_null(json_object_get(fr, "tcp_state")));
    assert_string_equal(json_string_value(json_object_get(fr, "peer")), "");
    json_decref(all);
}

/* The program closed our fd behind our back and reused the number: the next
 * hook on the program's thread reopens the file (no second header) and no
 * record lands in the program's file. */
static void test_reopen_after_fd_stolen(void **state)
{
    (void)state;
    int fd = find_log_fd();
    assert_true(fd >= 0);
    assert_true(sl_log_owns_fd(fd));
    close(fd);
    char other[512];
    snprintf(other, sizeof other, "%s/other", dir);
    int o = open(other, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(o >= 0);
    assert_int_equal(dup2(o, fd), fd);
    close(o);
    /* The number holds the program's file now: its close must go through. */
    assert_false(sl_log_owns_fd(fd));
    sl_log_reserve(); /* as the close hook does, on the program's thread */
    sl_log_closed(1, 7, 8000);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 0);
    close(fd);

    json_t *all = read_records(dir);
    size_t headers = 0, i;
    json_t *rec, *last = NULL;
    json_array_foreach(all, i, rec)
    {
        headers += !strcmp(rec_type(rec), SL_REC_HEADER);
        last = rec;
    }
    assert_int_equal(headers, 1);
    assert_string_equal(rec_type(last), SL_REC_CLOSED);
    assert_int_equal(json_integer_value(json_object_get(last, "id")), 1);
    assert_int_equal(json_integer_value(json_object_get(last, "fd")), 7);
    assert_int_equal(json_integer_value(json_object_get(last, "held_ms")), 8000);
    json_decref(all);

    /* dup2 onto our fd: the hooks call sl_log_forget_fd first. */
    fd = find_log_fd();
    sl_log_forget_fd();
    assert_false(sl_log_owns_fd(fd));
    sl_log_reserve();
    sl_log_closed(2, 9, 1);
    assert_true(find_log_fd() >= 0);
}

static void test_footer(void **state)
{
    (void)state;
    atomic_store(&sl_count_sockets, 12);
    atomic_store(&sl_count_eof, 5);
    sl_log_footer();
    json_t *all = read_records(dir);
    json_t *last = json_array_get(all, json_array_size(all) - 1);
    assert_string_equal(rec_type(last), SL_REC_FOOTER);
    assert_int_equal(json_integer_value(json_object_get(last, "sockets")), 12);
    assert_int_equal(json_integer_value(json_object_get(last, "eof_seen")), 5);
    assert_int_equal(json_integer_value(json_object_get(last, "findings")), 2);
    assert_true(json_integer_value(json_object_get(last, "end_unix_ms")) > 1600000000000LL);
    json_decref(all);
}

/* Our file was moved away and another put at its name while our fd was
 * lost: the log never reopens the name into a file it did not create; it
 * starts a new file (header, module records again) under a fresh name. */
static void test_replaced_file_not_reopened(void **state)
{
    (void)state;
    char path[1024], moved[1100], fresh[1024];
    snprintf(path, sizeof path, "%s/%s.%d%s", dir, program_invocation_short_name, (int)getpid(),
             SL_LOG_SUFFIX);
    snprintf(moved, sizeof moved, "%s.moved", path);
    snprintf(fresh, sizeof fresh, "%s/%s.%d.1%s", dir, program_invocation_short_name,
             (int)getpid(), SL_LOG_SUFFIX);
    assert_int_equal(rename(path, moved), 0);
    int o = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(o >= 0);
    assert_int_equal(write(o, "planted\n", 8), 8);
    close(o);
    sl_log_forget_fd(); /* as if the program had closed our fd */
    sl_log_reserve();
    sl_log_closed(2, 9, 3);
    char buf[64] = "";
    o = open(path, O_RDONLY);
    assert_int_equal(read(o, buf, sizeof buf - 1), 8);
    close(o);
    assert_string_equal(buf, "planted\n");
    struct stat st;
    assert_int_equal(stat(fresh, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    json_t *all = read_path(fresh);
    assert_non_null(all);
    assert_string_equal(rec_type(json_array_get(all, 0)), SL_REC_HEADER);
    assert_string_equal(rec_type(json_array_get(all, json_array_size(all) - 1)), SL_REC_CLOSED);
    json_decref(all);
    unlink(path); /* the tests after this one read the first name */
    assert_int_equal(rename(fresh, path), 0);
    sl_log_forget_fd();
}

/* An unwritable output: one warning naming the path, then silence. Run in a
 * fork child, which also checks that the child starts a log of its own. */
static void test_unwritable_warns_once(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sl_log_reinit_child();
        dup2(p[1], 2);
        snprintf(sl_opt.output, sizeof sl_opt.output, "/dev/null/sub");
        struct sl_finding f = {.kind = SL_KIND_CLOSE_WAIT, .fd = 7, .family = "inet"};
        int a = sl_log_finding(&f);
        int b = sl_log_finding(&f);
        sl_log_closed(1, 7, 1);
        atomic_store(&sl_count_eof, 1);
        sl_log_footer();
        _exit(a == -1 && b == -1 ? 0 : 1);
    }
    close(p[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t r;
    while ((r = read(p[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    assert_int_equal(lines, 1);
    assert_non_null(strstr(buf, "sockleak: "));
    assert_non_null(strstr(buf, "/dev/null/sub/"));
    assert_non_null(strstr(buf, strerror(ENOTDIR)));
}

static int setup(void **state)
{
    (void)state;
    dir = logdir_make("log", "out");
    if (!dir)
        return -1;
    snprintf(sl_opt.run_id, sizeof sl_opt.run_id, "run-7");
    sl_opt.deadline_ms = 1234;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return logdir_remove();
}

int main(int argc, char **argv)
{
    /* Re-run with arguments that need escaping (quote, backslash, newline,
     * tab, control byte, invalid UTF-8, valid UTF-8). */
    if (argc == 1) {
        char *args[] = {argv[0],
                        "say \"hi\"",
                        "back\\slash",
                        "new\nline\ttab",
                        "ctl\x01x",
                        "bad\xff"
                        "byte",
                        "caf\xc3\xa9",
                        "",
                        NULL};
        execv(strchr(argv[0], '/') ? argv[0] : "/proc/self/exe", args);
        perror("execv");
        return 1;
    }
    saved_argc = argc;
    saved_argv = argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_file_without_eof),
        cmocka_unit_test(test_finding_record),
        cmocka_unit_test(test_argv_escaping),
        cmocka_unit_test(test_second_finding_no_module_repeat),
        cmocka_unit_test(test_reopen_after_fd_stolen),
        cmocka_unit_test(test_footer),
        cmocka_unit_test(test_replaced_file_not_reopened),
        cmocka_unit_test(test_unwritable_warns_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

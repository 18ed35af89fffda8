/* Reading a log a line at a time (sl_logread_feed), the latest run of each
 * directory (report/runs.c) and "held" as of the report (report/held.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "held.h"
#include "logread.h"
#include "runs.h"

static void feed(struct sl_logread_set *set, struct sl_logread_cursor *k, const char *line)
{
    char *buf = strdup(line);
    assert_non_null(buf);
    sl_logread_feed(set, k, buf, strlen(buf), false);
    free(buf);
}

static void header(struct sl_logread_set *set, struct sl_logread_cursor *k, long long pid,
                   const char *run_id, long long start)
{
    char line[512];
    snprintf(line, sizeof(line),
             "{\"t\":\"header\",\"version\":1,\"pid\":%lld,\"program\":\"p\",\"argv\":[\"p\","
             "\"-x\",7],\"start_unix_ms\":%lld,\"run_id\":\"%s\"}",
             pid, start, run_id);
    feed(set, k, line);
}

static void finding(struct sl_logread_set *set, struct sl_logread_cursor *k, int id, long long eof,
                    long long held)
{
    char line[512];
    snprintf(line, sizeof(line),
             "{\"t\":\"finding\",\"id\":%d,\"kind\":\"close_wait\",\"fd\":7,"
             "\"eof_unix_ms\":%lld,\"held_ms\":%lld,\"eof_stack\":[],\"open_stack\":[]}",
             id, eof, held);
    feed(set, k, line);
}

static void test_feed_line_by_line(void **state)
{
    struct sl_logread_set set;
    struct sl_logread_cursor k = {.name = "a/x.jsonl", .trusted = true};

    (void)state;
    sl_logread_init(&set, NULL);
    header(&set, &k, 10, "r1", 1000);
    finding(&set, &k, 1, 2000, 500);
    assert_int_equal(set.n_procs, 1);
    assert_int_equal(set.procs[0].n_findings, 1);
    /* argv keeps its strings only, in order */
    assert_int_equal(set.procs[0].argc, 2);
    assert_string_equal(set.procs[0].argv[1], "-x");
    feed(&set, &k, "{\"t\":\"closed\",\"id\":1,\"fd\":7,\"held_ms\":9000}");
    assert_true(set.procs[0].findings[0].closed);
    assert_int_equal(set.procs[0].findings[0].held_as_of, SL_LOGREAD_HELD_CLOSED);
    feed(&set, &k, "{\"t\":\"footer\",\"end_unix_ms\":12345}");
    assert_int_equal(set.procs[0].end_unix_ms, 12345);
    assert_int_equal(k.line, 4);
    assert_int_equal(set.n_files, 1);
    sl_logread_free(&set);
}

static void test_latest_run_per_directory(void **state)
{
    struct sl_logread_set set;
    struct sl_logread_cursor a = {.name = "a/x.jsonl", .trusted = true};
    struct sl_logread_cursor b = {.name = "b/y.jsonl", .trusted = true};
    bool from_dir[6] = {true, true, true, true, true, false};
    struct sl_runs_left_out out;

    (void)state;
    sl_logread_init(&set, NULL);
    header(&set, &a, 1, "old", 1000); /* a: old run, two processes */
    header(&set, &a, 2, "old", 5000);
    header(&set, &a, 3, "new", 3000);  /* started after old's first: latest */
    header(&set, &b, 4, "old", 1000);  /* b: one run only, kept */
    header(&set, &b, 5, "x\\ny", 500); /* a run id with a newline: its own run */
    header(&set, &b, 6, "older", 100); /* named on the command line: kept */
    out = sl_runs_latest_only(&set, from_dir);
    assert_int_equal(out.runs, 2);
    assert_int_equal(out.processes, 3);
    assert_int_equal(set.n_procs, 3);
    assert_int_equal(set.procs[0].pid, 3);
    assert_int_equal(set.procs[1].pid, 4);
    assert_int_equal(set.procs[2].pid, 6);
    sl_logread_free(&set);
}

/* This process's start as the library writes it in a header. */
static long long own_start_ms(void)
{
    char buf[1024], *p;
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n;
    int field = 2;
    struct timespec bt, now;

    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    for (; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    clock_gettime(CLOCK_BOOTTIME, &bt);
    clock_gettime(CLOCK_REALTIME, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 -
           ((long long)bt.tv_sec * 1000 + bt.tv_nsec / 1000000) +
           (long long)(strtoull(p, NULL, 10) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

static void test_held_as_of_exit_now_and_deadline(void **state)
{
    struct sl_logread_set set;
    struct sl_logread_cursor k = {.name = "x.jsonl", .trusted = true};
    int64_t now = sl_held_now_ms();

    (void)state;
    sl_logread_init(&set, NULL);
    header(&set, &k, 10, "", 1000); /* ended normally at 9000 */
    finding(&set, &k, 1, 2000, 500);
    finding(&set, &k, 2, 0, 500); /* no end-of-stream time: kept */
    feed(&set, &k, "{\"t\":\"footer\",\"end_unix_ms\":9000}");
    header(&set, &k, getpid(), "", own_start_ms()); /* this process: running */
    finding(&set, &k, 1, now - 60000, 1000);
    header(&set, &k, getpid(), "", 1000); /* same pid, another start: ended unseen */
    finding(&set, &k, 1, 2000, 700);
    sl_held_as_of(&set, now);
    assert_int_equal(set.procs[0].findings[0].held_ms, 7000);
    assert_int_equal(set.procs[0].findings[0].held_as_of, SL_LOGREAD_HELD_EXIT);
    assert_int_equal(set.procs[0].findings[1].held_ms, 500);
    assert_int_equal(set.procs[0].findings[1].held_as_of, SL_LOGREAD_HELD_DEADLINE);
    assert_int_equal(set.procs[1].findings[0].held_ms, 60000);
    assert_int_equal(set.procs[1].findings[0].held_as_of, SL_LOGREAD_HELD_NOW);
    assert_int_equal(set.procs[2].findings[0].held_ms, 700);
    assert_int_equal(set.procs[2].findings[0].held_as_of, SL_LOGREAD_HELD_DEADLINE);
    assert_string_equal(sl_held_until_name(SL_LOGREAD_HELD_NOW), "now");
    sl_logread_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feed_line_by_line),
        cmocka_unit_test(test_latest_run_per_directory),
        cmocka_unit_test(test_held_as_of_exit_now_and_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

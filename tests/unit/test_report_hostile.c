/* The report on logs nobody vouches for: header suppressions kept only for
 * their own process and only from logs the reader may trust, FIFOs never
 * waited on, a lone high module id costing nothing, numbers that cannot
 * overflow, names cut on character boundaries, terminals kept safe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "group.h"
#include "logread.h"
#include "report.h"
#include "suppress.h"
#include "symbolize.h"
#include "util.h"

/* A FIFO must not hang a test: past this the test program dies. */
#define HANG_SECONDS 10

static char tmpdir[256];

static const char *path_in(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
    return buf;
}

static const char *write_file(const char *name, const char *text)
{
    const char *p = path_in(name);
    FILE *f = fopen(p, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sl-hostile-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[512];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

#define HEADER(pid, extra)                                                                         \
    "{\"t\":\"header\",\"version\":1,\"pid\":" #pid ",\"program\":\"p" #pid "\"" extra "}\n"
#define MODULE "{\"t\":\"module\",\"id\":0,\"path\":\"/nonexistent/server\",\"build_id\":\"\"}\n"
#define FINDING(id, held)                                                                          \
    "{\"t\":\"finding\",\"id\":" #id ",\"kind\":\"close_wait\",\"fd\":7,\"held_ms\":" #held        \
    ",\"eof_stack\":[[0,4096]],\"open_stack\":[[0,4000]]}\n"

/* Bytes malloc has handed out, mmapped blocks included. */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static void read_one(struct sl_logread_set *set, const char *path)
{
    sl_logread_init(set, NULL);
    alarm(HANG_SECONDS);
    assert_int_equal(sl_logread_path(set, path), 0);
    alarm(0);
}

/* Leaks left after sl_report_emit, the report itself thrown away. */
static int64_t emit_leaks(const struct sl_logread_set *logs)
{
    char *buf = NULL;
    size_t len = 0;
    struct sl_report_opts o = {.format = SL_REPORT_JSON, .out = open_memstream(&buf, &len)};
    int64_t leaks = sl_report_emit(&o, logs);

    fclose(o.out);
    free(buf);
    return leaks;
}

static void test_header_suppressions_stay_with_their_process(void **state)
{
    struct sl_logread_set set;
    char text[1024];
    (void)state;

    const char *supp = write_file("all.supp", "*:*\n");
    snprintf(text, sizeof(text),
             HEADER(1, ",\"suppressions\":\"%s\"") MODULE FINDING(1, 5) HEADER(2, "")
                 MODULE FINDING(1, 5),
             supp);
    read_one(&set, write_file("two.jsonl", text));
    assert_int_equal(set.n_procs, 2);
    assert_int_equal(emit_leaks(&set), 1);
    sl_logread_free(&set);
}

static void test_header_suppressions_of_another_users_log_are_dropped(void **state)
{
    struct sl_logread_set set;
    char text[1024];
    (void)state;

    snprintf(text, sizeof(text), HEADER(1, ",\"suppressions\":\"%s\"") MODULE FINDING(1, 5),
             write_file("all.supp", "*:*\n"));
    const char *log = write_file("other.jsonl", text);
    if (getuid() == 65534)
        skip();
    assert_int_equal(chown(log, 65534, 65534), 0);
    read_one(&set, log);
    assert_null(set.procs[0].suppressions);
    assert_int_equal(emit_leaks(&set), 1);
    sl_logread_free(&set);
}

static void test_relative_header_suppressions_are_dropped(void **state)
{
    struct sl_logread_set set;
    (void)state;

    read_one(&set, write_file("rel.jsonl", HEADER(1, ",\"suppressions\":\"all.supp\"")));
    assert_null(set.procs[0].suppressions);
    sl_logread_free(&set);
}

static void test_fifo_in_a_directory_is_skipped(void **state)
{
    struct sl_logread_set set;
    (void)state;

    assert_int_equal(mkdir(path_in("dir"), 0700), 0);
    write_file("dir/a.jsonl", HEADER(1, "") MODULE FINDING(1, 5));
    assert_int_equal(mkfifo(path_in("dir/b.jsonl"), 0600), 0);
    read_one(&set, path_in("dir"));
    assert_int_equal(set.n_procs, 1);
    sl_logread_free(&set);
}

static void test_fifo_suppressions_are_refused(void **state)
{
    struct sl_supp_set supp = {0};
    (void)state;

    assert_int_equal(mkfifo(path_in("supp.fifo"), 0600), 0);
    alarm(HANG_SECONDS);
    assert_int_equal(sl_supp_load(&supp, path_in("supp.fifo")), -1);
    assert_int_equal(sl_supp_load(&supp, "/dev/zero"), -1);
    alarm(0);
    assert_int_equal(supp.n, 0);
}

static void test_high_module_ids_cost_no_more_than_their_modules(void **state)
{
    struct sl_logread_set set;
    size_t before;
    FILE *f = fopen(path_in("high.jsonl"), "w");
    (void)state;

    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs(HEADER(1, "") "{\"t\":\"module\",\"id\":65535,\"path\":\"/x\"}\n", f);
    fclose(f);
    before = heap_in_use();
    read_one(&set, path_in("high.jsonl"));
    /* 200 processes of one module each: kilobytes, not a table per process
     * (under ASan mallinfo2 sees nothing and this holds trivially). */
    assert_true(heap_in_use() - before < (4u << 20));
    assert_int_equal(set.n_procs, 200);
    assert_non_null(sl_logread_module(&set.procs[199], 65535));
    assert_null(sl_logread_module(&set.procs[199], 0));
    sl_logread_free(&set);
}

static void test_modules_are_found_whatever_order_their_ids_come_in(void **state)
{
    struct sl_logread_set set;
    char *text = NULL, line[128];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    (void)state;

    fputs(HEADER(1, ""), f);
    for (int id = 100; id >= 0; id -= 3) {
        snprintf(line, sizeof(line), "{\"t\":\"module\",\"id\":%d,\"path\":\"/m%d\"}\n", id, id);
        fputs(line, f);
    }
    fputs("{\"t\":\"module\",\"id\":5000000000,\"path\":\"/far\"}\n", f);
    fclose(f);
    read_one(&set, write_file("order.jsonl", text));
    free(text);
    for (int id = 100; id >= 0; id -= 3) {
        snprintf(line, sizeof(line), "/m%d", id);
        assert_string_equal(sl_logread_module(&set.procs[0], id)->path, line);
    }
    assert_string_equal(sl_logread_module(&set.procs[0], 5000000000LL)->path, "/far");
    assert_null(sl_logread_module(&set.procs[0], 99));
    sl_logread_free(&set);
}

static void test_hostile_numbers_saturate(void **state)
{
    struct sl_logread_set set;
    struct sl_group_set g;
    (void)state;

    read_one(
        &set,
        write_file(
            "big.jsonl",
            HEADER(1, "") MODULE FINDING(1, 9223372036854775807) FINDING(2, 9223372036854775806)
                FINDING(3,
                        -7) "{\"t\":\"footer\",\"sockets\":9223372036854775807,\"eof_seen\":-3}\n"
                            "{\"t\":\"footer\",\"sockets\":9223372036854775807,\"lost\":5}\n"));
    assert_int_equal(set.procs[0].sockets, INT64_MAX);
    assert_int_equal(set.procs[0].eof_seen, 0);
    assert_int_equal(set.procs[0].findings[2].held_ms, 0);
    sl_group_build(&g, &set);
    assert_int_equal(g.n_groups, 1);
    assert_true(g.groups[0]->held_median >= 0);
    assert_int_equal(g.groups[0]->held_max, INT64_MAX);
    assert_int_equal(g.sockets, INT64_MAX);
    sl_group_free(&g);
    sl_logread_free(&set);
}

static void test_raw_frame_names_are_cut_on_a_character(void **state)
{
    struct sl_sym_ctx *sym = sl_sym_new(true);
    struct sl_sym_stack st = {0};
    char path[1024] = "/nonexistent/";
    (void)state;

    for (int i = 0; i < 300; i++)
        strcat(path, "\xc3\xa9"); /* U+00E9 */
    sl_sym_frame(sym, path, NULL, 0x1234, &st);
    assert_int_equal(st.n, 1);
    json_t *s = json_string(st.frames[0].function);
    assert_non_null(s); /* jansson refuses invalid UTF-8 */
    json_decref(s);
    sl_sym_stack_free(&st);
    sl_sym_free(sym);
}

static void test_text_report_escapes_control_characters(void **state)
{
    struct sl_logread_set set;
    struct sl_group_set g;
    struct sl_sym_ctx *sym = sl_sym_new(true);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    (void)state;

    read_one(&set, write_file("esc.jsonl",
                              "{\"t\":\"header\",\"pid\":1,\"program\":\"\\u001b[2J\\r\"}\n" MODULE
                              "{\"t\":\"finding\",\"id\":1,\"kind\":\"close_wait\\u0007\","
                              "\"peer\":\"\\u009b1m\",\"eof_stack\":[[0,1]]}\n"));
    sl_group_build(&g, &set);
    sl_group_symbolize(&g, sym);
    assert_int_equal(sl_fmt_text(out, &g, NULL, false, NULL), 0);
    fclose(out);
    for (size_t i = 0; i < len; i++)
        assert_false(((unsigned char)buf[i] < 0x20 && buf[i] != '\n') || buf[i] == 0x7f);
    assert_null(strstr(buf, "\xc2\x9b"));
    free(buf);
    sl_group_free(&g);
    sl_sym_free(sym);
    sl_logread_free(&set);
}

static void test_a_process_past_its_budget_keeps_what_came_first(void **state)
{
    struct sl_logread_set set;
    (void)state;

    sl_logread_init(&set, NULL);
    set.max_proc_bytes = 300;
    assert_int_equal(
        sl_logread_path(&set, write_file("budget.jsonl", HEADER(1, "") MODULE FINDING(1, 5)
                                                             FINDING(2, 5) FINDING(3, 5))),
        0);
    assert_int_equal(set.procs[0].n_modules, 1);
    assert_true(set.procs[0].n_findings < 3);
    assert_true(set.procs[0].over_budget);
    assert_true(set.n_warnings > 0);
    sl_logread_free(&set);
}

static void test_utf8_and_saturation_helpers(void **state)
{
    (void)state;
    assert_int_equal(sl_util_sat_add(INT64_MAX, 1), INT64_MAX);
    assert_int_equal(sl_util_sat_add(INT64_MIN, -1), INT64_MIN);
    assert_int_equal(sl_util_sat_add(2, 3), 5);
    assert_int_equal(sl_util_utf8_cut("a\xc3\xa9", 2), 1);
    assert_int_equal(sl_util_utf8_cut("a\xc3\xa9", 3), 3);
    assert_int_equal(sl_util_utf8_cut("\xe2\x82\xac", 2), 0);
    char *e = sl_util_xescape("a\x1b[\r\xc2\x9b\xff\xc3\xa9");
    assert_string_equal(e, "a\\x1b[\\x0d\\u009b\\xff\xc3\xa9");
    free(e);
    char *u = sl_util_xutf8("a\xff\xc3");
    assert_string_equal(u, "a\xef\xbf\xbd\xef\xbf\xbd");
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_header_suppressions_stay_with_their_process, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_header_suppressions_of_another_users_log_are_dropped,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_header_suppressions_are_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fifo_in_a_directory_is_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_suppressions_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_high_module_ids_cost_no_more_than_their_modules, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_modules_are_found_whatever_order_their_ids_come_in,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_numbers_saturate, setup, teardown),
        cmocka_unit_test(test_raw_frame_names_are_cut_on_a_character),
        cmocka_unit_test_setup_teardown(test_text_report_escapes_control_characters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_process_past_its_budget_keeps_what_came_first, setup,
                                        teardown),
        cmocka_unit_test(test_utf8_and_saturation_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Report output: the JSON schema (parsed back with jansson) and the text
 * layout, including suppressions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "group.h"
#include "logread.h"
#include "suppress.h"

struct fixture {
    struct sl_logread_set logs;
    struct sl_group_set groups;
    struct sl_sym_ctx *sym;
    struct sl_supp_set supp;
};

static const char *data(const char *name)
{
    static char buf[8192];
    const char *env = getenv("SOCKLEAK_TEST_DATA");
    char dir[4096];

    snprintf(dir, sizeof(dir), "%s", env ? env : __FILE__);
    if (!env) {
        *strrchr(dir, '/') = '\0';
        strcat(dir, "/data");
    }
    snprintf(buf, sizeof(buf), "%s/%s", dir, name);
    return buf;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    sl_logread_init(&f->logs, NULL);
    if (sl_logread_path(&f->logs, data("two_procs.jsonl")) < 0)
        return -1;
    sl_group_build(&f->groups, &f->logs);
    f->sym = sl_sym_new(true);
    sl_group_symbolize(&f->groups, f->sym);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    sl_supp_free(&f->supp);
    sl_group_free(&f->groups);
    sl_sym_free(f->sym);
    sl_logread_free(&f->logs);
    free(f);
    return 0;
}

static char *render(struct fixture *f, bool json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    assert_non_null(out);
    if (json)
        assert_int_equal(sl_fmt_json(out, &f->groups, f->supp.n ? &f->supp : NULL, NULL), 0);
    else
        assert_int_equal(sl_fmt_text(out, &f->groups, f->supp.n ? &f->supp : NULL, false, NULL), 0);
    fclose(out);
    return buf;
}

static void test_json_schema(void **state)
{
    struct fixture *f = *state;
    char *text = render(f, true);
    json_error_t err;
    json_t *root = json_loads(text, 0, &err), *sum, *findings, *g, *frame, *ex;

    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
    sum = json_object_get(root, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "processes")), 2);
    assert_int_equal(json_integer_value(json_object_get(sum, "sockets")), 15);
    assert_int_equal(json_integer_value(json_object_get(sum, "eof_seen")), 9);
    assert_int_equal(json_integer_value(json_object_get(sum, "leaks")), 5);

    findings = json_object_get(root, "findings");
    assert_true(json_is_array(findings));
    assert_int_equal(json_array_size(findings), 3);
    g = json_array_get(findings, 0);
    assert_string_equal(json_string_value(json_object_get(g, "kind")), "close_wait");
    assert_int_equal(json_integer_value(json_object_get(g, "count")), 3);
    assert_int_equal(json_integer_value(json_object_get(g, "processes")), 2);
    assert_string_equal(json_string_value(json_object_get(g, "tcp_state")), "CLOSE_WAIT");
    assert_int_equal(json_array_size(json_object_get(g, "eof_stack")), 3);
    frame = json_array_get(json_object_get(g, "eof_stack"), 0);
    assert_string_equal(json_string_value(json_object_get(frame, "function")), "server+0x1a2b");
    assert_string_equal(json_string_value(json_object_get(frame, "module")),
                        "/opt/sockleak-test/server");
    assert_string_equal(json_string_value(json_object_get(frame, "address")), "0x1a2b");
    /* Unknown file and line are left out, not null. */
    assert_null(json_object_get(frame, "file"));
    assert_null(json_object_get(frame, "line"));
    assert_null(json_object_get(frame, "inlined"));
    assert_int_equal(json_integer_value(json_object_get(g, "closed_late")), 1);
    assert_int_equal(json_integer_value(json_object_get(g, "held_ms_max")), 8000);

    ex = json_array_get(json_object_get(g, "examples"), 1);
    assert_int_equal(json_integer_value(json_object_get(ex, "pid")), 100);
    assert_int_equal(json_integer_value(json_object_get(ex, "fd")), 8);
    assert_string_equal(json_string_value(json_object_get(ex, "local")), "127.0.0.1:8080");
    assert_string_equal(json_string_value(json_object_get(ex, "peer")), "127.0.0.1:53124");
    assert_int_equal(json_integer_value(json_object_get(ex, "held_ms")), 8000);
    assert_true(json_is_true(json_object_get(ex, "closed")));

    /* The unix socket: state unknown is null, an unknown stack is []. */
    g = json_array_get(findings, 2);
    assert_string_equal(json_string_value(json_object_get(g, "kind")), "unclosed_after_shutdown");
    assert_true(json_is_null(json_object_get(g, "tcp_state")));
    assert_int_equal(json_array_size(json_object_get(g, "open_stack")), 0);
    assert_int_equal(json_array_size(json_object_get(root, "suppressed")), 0);
    json_decref(root);
    free(text);
}

static void test_json_suppressed(void **state)
{
    struct fixture *f = *state;
    char *text;
    json_t *root, *s;

    assert_int_equal(sl_supp_load(&f->supp, data("supp.txt")), 0);
    sl_supp_apply(&f->supp, &f->groups);
    text = render(f, true);
    root = json_loads(text, 0, NULL);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "summary"), "leaks")),
                     1);
    assert_int_equal(json_array_size(json_object_get(root, "findings")), 1);
    s = json_object_get(root, "suppressed");
    assert_int_equal(json_array_size(s), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(s, 0), "rule")),
                        "close_wait:server+0x1a2b");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(s, 0), "count")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(s, 1), "count")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(s, 2), "count")), 0);
    json_decref(root);
    free(text);
}

static void test_text_layout(void **state)
{
    struct fixture *f = *state;
    char *text = render(f, false), *last;

    assert_non_null(strstr(text, "==sockleak== close_wait: 3 sockets read end-of-stream and were "
                                 "not closed within the deadline\n  end-of-stream read at:\n    #0 0x1a2b "
                                 "(/opt/sockleak-test/server+0x1a2b)\n"));
    assert_non_null(strstr(text, "==sockleak== unclosed_after_shutdown: 1 socket"));
    assert_non_null(strstr(text, "  socket created at:\n"));
    assert_non_null(strstr(text, "kernel state at the deadline: CLOSE_WAIT"));
    assert_non_null(strstr(text, "pid 100 fd 8: 127.0.0.1:8080 <- 127.0.0.1:53124, held 8000 ms "
                                 "(closed late)"));
    assert_non_null(strstr(text, "held: median 5020 ms, max 8000 ms; 1 closed after the deadline"));
    assert_non_null(strstr(text, "in 2 processes of server"));
    assert_null(strchr(text, '\033'));
    last = strstr(text, "SUMMARY:");
    assert_non_null(last);
    assert_string_equal(last, "SUMMARY: sockleak: 5 leaked sockets in 3 call sites (2 processes, "
                              "15 sockets, 9 end-of-stream reads)\n");
    free(text);
}

static void test_text_all_suppressed(void **state)
{
    struct fixture *f = *state;
    char *text;

    assert_true(sl_supp_add(&f->supp, "*:server*"));
    sl_supp_apply(&f->supp, &f->groups);
    text = render(f, false);
    assert_null(strstr(text, "==sockleak=="));
    assert_non_null(strstr(text, "Suppressions used:\n  count rule\n      5 *:server*\n"));
    assert_non_null(strstr(text, "SUMMARY: sockleak: no leaks (2 processes, 15 sockets, 9 "
                                 "end-of-stream reads, 5 suppressed)\n"));
    free(text);
}

static json_t *obj_path(json_t *o, const char *path)
{
    char buf[256], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
        if (*k >= '0' && *k <= '9')
            o = json_array_get(o, (size_t)atoi(k));
        else
            o = json_object_get(o, k);
    }
    return o;
}

static const char *str_at(json_t *o, const char *path)
{
    json_t *v = obj_path(o, path);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void set_location(struct sl_sym_frame *f, const char *file, int line)
{
    free(f->file);
    f->file = strdup(file);
    f->line = line;
}

/* SARIF 2.1.0: the fields code-scanning tools read, checked one by one. */
static void test_sarif_shape(void **state)
{
    struct fixture *f = *state;
    struct sl_group *g0 = f->groups.groups[0];
    json_t *root, *run, *rules, *results, *r, *loc;
    char *text = NULL;
    size_t len = 0;
    FILE *out;

    /* Give the biggest group source lines: one frame under the working
     * directory (/src/proj), one outside it. */
    set_location(&g0->eof_sym.frames[1], "/src/proj/lib/conn handler.c", 42);
    set_location(&g0->eof_sym.frames[2], "/elsewhere/x.c", 7);
    set_location(&g0->open_sym.frames[0], "/usr/include/socket.h", 17);
    root = sl_fmt_sarif_build(&f->groups, NULL, "/src/proj");
    assert_non_null(root);
    assert_string_equal(str_at(root, "version"), "2.1.0");
    assert_string_equal(str_at(root, "$schema"), "https://json.schemastore.org/sarif-2.1.0.json");
    assert_int_equal(json_array_size(json_object_get(root, "runs")), 1);
    run = obj_path(root, "runs.0");
    assert_string_equal(str_at(run, "tool.driver.name"), "sockleak");
    assert_non_null(strstr(str_at(run, "tool.driver.informationUri"), "://"));
    assert_true(*str_at(run, "tool.driver.version"));
    assert_string_equal(str_at(run, "originalUriBaseIds.%SRCROOT%.uri"), "file:///src/proj/");

    rules = obj_path(run, "tool.driver.rules");
    assert_int_equal(json_array_size(rules), 2);
    for (size_t i = 0; i < json_array_size(rules); i++) {
        json_t *rule = json_array_get(rules, i);
        assert_true(*str_at(rule, "shortDescription.text"));
        assert_true(*str_at(rule, "fullDescription.text"));
        assert_true(*str_at(rule, "help.text"));
    }
    assert_string_equal(str_at(rules, "0.id"), "close_wait");
    assert_string_equal(str_at(rules, "1.id"), "unclosed_after_shutdown");

    results = obj_path(run, "results");
    assert_int_equal(json_array_size(results), 3);
    r = json_array_get(results, 0);
    assert_string_equal(str_at(r, "ruleId"), "close_wait");
    assert_int_equal(json_integer_value(obj_path(r, "ruleIndex")), 0);
    assert_string_equal(str_at(r, "level"), "error");
    assert_non_null(strstr(str_at(r, "message.text"), "close_wait: 3 sockets"));
    assert_non_null(strstr(str_at(r, "message.text"), "median 5020 ms, max 8000 ms"));
    /* The first located frame of the EOF stack, relative to the directory. */
    loc = obj_path(r, "locations.0.physicalLocation");
    assert_string_equal(str_at(loc, "artifactLocation.uri"), "lib/conn%20handler.c");
    assert_string_equal(str_at(loc, "artifactLocation.uriBaseId"), "%SRCROOT%");
    assert_int_equal(json_integer_value(obj_path(loc, "region.startLine")), 42);
    loc = obj_path(r, "relatedLocations.0.physicalLocation");
    assert_string_equal(str_at(loc, "artifactLocation.uri"), "file:///usr/include/socket.h");
    assert_null(obj_path(loc, "artifactLocation.uriBaseId"));
    assert_int_equal(json_integer_value(obj_path(loc, "region.startLine")), 17);
    assert_int_equal(json_array_size(obj_path(r, "stacks")), 2);
    assert_int_equal(json_array_size(obj_path(r, "stacks.0.frames")), 3);
    assert_int_equal(json_integer_value(obj_path(r, "properties.count")), 3);

    /* Nothing located: the module stands in, without a region. */
    r = json_array_get(results, 2);
    assert_string_equal(str_at(r, "ruleId"), "unclosed_after_shutdown");
    assert_int_equal(json_integer_value(obj_path(r, "ruleIndex")), 1);
    loc = obj_path(r, "locations.0.physicalLocation");
    assert_string_equal(str_at(loc, "artifactLocation.uri"), "file:///opt/sockleak-test/server");
    assert_null(obj_path(loc, "region"));
    assert_null(obj_path(r, "relatedLocations"));
    json_decref(root);

    /* Suppressed groups are not results; the rules that matched are kept. */
    assert_true(sl_supp_add(&f->supp, "close_wait:*"));
    sl_supp_apply(&f->supp, &f->groups);
    out = open_memstream(&text, &len);
    assert_int_equal(sl_fmt_sarif(out, &f->groups, &f->supp), 0);
    fclose(out);
    root = json_loads(text, 0, NULL);
    assert_non_null(root);
    assert_int_equal(json_array_size(obj_path(root, "runs.0.results")), 1);
    assert_int_equal(json_integer_value(obj_path(root, "runs.0.properties.suppressed")), 4);
    assert_string_equal(str_at(root, "runs.0.properties.suppressions.0.rule"), "close_wait:*");
    json_decref(root);
    free(text);
}

/* The kernel-swept kinds, from data/kinds.jsonl (see the test there). */
static int setup_kinds(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    sl_logread_init(&f->logs, NULL);
    if (sl_logread_path(&f->logs, data("kinds.jsonl")) < 0)
        return -1;
    sl_group_build(&f->groups, &f->logs);
    f->sym = sl_sym_new(true);
    sl_group_symbolize(&f->groups, f->sym);
    *state = f;
    return 0;
}

static void test_kinds_json(void **state)
{
    struct fixture *f = *state;
    char *text = render(f, true);
    json_t *root = json_loads(text, 0, NULL), *g;

    assert_non_null(root);
    assert_int_equal(json_integer_value(obj_path(root, "summary.leaks")), 10);
    assert_int_equal(json_integer_value(obj_path(root, "summary.sockets")), 20);
    assert_int_equal(json_integer_value(obj_path(root, "summary.eof_seen")), 1);
    assert_int_equal(json_array_size(obj_path(root, "findings")), 5);

    g = obj_path(root, "findings.0");
    assert_string_equal(str_at(g, "kind"), "close_wait_unaccepted");
    assert_int_equal(json_integer_value(obj_path(g, "count")), 5);
    assert_string_equal(str_at(g, "listen_stack.0.function"), "pool+0x4000");
    assert_null(obj_path(g, "last_read_stack"));
    assert_null(obj_path(g, "fork_stack"));
    assert_null(obj_path(g, "idle_ms_max"));
    assert_null(obj_path(g, "at_exit_count"));
    assert_int_equal(json_integer_value(obj_path(g, "examples.0.sockets")), 5);
    assert_int_equal(json_integer_value(obj_path(g, "examples.0.backlog")), 128);
    assert_int_equal(json_integer_value(obj_path(g, "examples.0.queued")), 7);
    assert_null(obj_path(g, "examples.0.idle_ms"));
    assert_null(obj_path(g, "examples.0.at_exit"));

    g = obj_path(root, "findings.1");
    assert_string_equal(str_at(g, "kind"), "close_wait_unread");
    assert_int_equal(json_integer_value(obj_path(g, "count")), 2);
    assert_int_equal(json_array_size(obj_path(g, "last_read_stack")), 2);
    assert_string_equal(str_at(g, "last_read_stack.0.function"), "pool+0x2000");
    assert_string_equal(str_at(g, "open_stack.0.function"), "pool+0x1000");
    assert_int_equal(json_integer_value(obj_path(g, "idle_ms_max")), 12000);
    assert_int_equal(json_integer_value(obj_path(g, "unread_bytes_max")), 512);
    assert_int_equal(json_integer_value(obj_path(g, "at_exit_count")), 1);
    assert_int_equal(json_integer_value(obj_path(g, "examples.0.idle_ms")), 12000);
    assert_int_equal(json_integer_value(obj_path(g, "examples.1.unread_bytes")), 0);
    assert_true(json_is_true(obj_path(g, "examples.1.at_exit")));
    assert_null(obj_path(g, "examples.0.at_exit"));
    assert_null(obj_path(g, "examples.0.from_pid"));

    /* Equal counts by kind: the accepted close_wait, inherited, unread. */
    g = obj_path(root, "findings.2");
    assert_string_equal(str_at(g, "kind"), "close_wait");
    assert_string_equal(str_at(g, "listen_stack.0.function"), "pool+0x4000");
    assert_null(obj_path(g, "idle_ms_max"));
    assert_null(obj_path(g, "examples.0.idle_ms"));
    g = obj_path(root, "findings.3");
    assert_string_equal(str_at(g, "kind"), "close_wait_inherited");
    assert_string_equal(str_at(g, "fork_stack.0.function"), "pool+0x3000");
    assert_int_equal(json_integer_value(obj_path(g, "examples.0.from_pid")), 299);
    g = obj_path(root, "findings.4");
    assert_string_equal(str_at(g, "kind"), "close_wait_unread");
    assert_null(obj_path(g, "last_read_stack")); /* never read */
    json_decref(root);
    free(text);
}

static void test_kinds_text(void **state)
{
    struct fixture *f = *state;
    char *text = render(f, false);

    assert_non_null(strstr(text, "==sockleak== close_wait_unaccepted: 5 connections were closed by "
                                 "their peer while waiting in the accept queue and were never "
                                 "accepted\n  listener created at:\n    #0 0x4000 "
                                 "(/opt/sockleak-test/pool+0x4000)\n  kernel state"));
    assert_non_null(strstr(text, "pid 300 fd 4: listener 0.0.0.0:8080, 5 closed before accept, 7 "
                                 "queued of backlog 128\n"));
    assert_non_null(strstr(text, "==sockleak== close_wait_unread: 2 sockets sat in CLOSE_WAIT with "
                                 "their end-of-stream never read (idle up to 12.0 s, up to 512 "
                                 "bytes unread; 1 reported at process exit)\n  call site: in "
                                 "pool+0x2000 (pool) (last read)\n  socket created at:\n    #0 "
                                 "0x1000 (/opt/sockleak-test/pool+0x1000)\n  last read at:\n    #0 "
                                 "0x2000 (/opt/sockleak-test/pool+0x2000)\n"));
    assert_non_null(strstr(text, "pid 300 fd 6: 127.0.0.1:40002 <- 127.0.0.1:80, held 7000 ms, "
                                 "idle 7000 ms, 0 bytes unread (at exit)\n"));
    assert_non_null(strstr(text, "==sockleak== close_wait_unread: 1 socket sat in CLOSE_WAIT with "
                                 "its end-of-stream never read (idle up to 3.0 s, up to 100 bytes "
                                 "unread)\n  call site: in pool+0x1000 (pool) (socket created)\n"));
    assert_non_null(strstr(text, "  last read at:\n    (never read)\n"));
    assert_non_null(strstr(text, "==sockleak== close_wait_inherited: 1 inherited socket sat in "
                                 "CLOSE_WAIT: the copy made by fork was never closed\n  call "
                                 "site: in pool+0x3000 (pool) (fork)\n  socket created at:\n    #0 "
                                 "0x1000 (/opt/sockleak-test/pool+0x1000)\n  "
                                 "copied into pid 300 by fork in pid 299 at:\n    #0 0x3000 "
                                 "(/opt/sockleak-test/pool+0x3000)\n"));
    assert_non_null(strstr(text, "pid 300 fd 3: 127.0.0.1:8080 <- 127.0.0.1:50000, held 6000 ms, "
                                 "from pid 299\n"));
    assert_non_null(strstr(text, "  socket created at:\n    #0 0x6000 "
                                 "(/opt/sockleak-test/pool+0x6000)\n  accepted from the listener "
                                 "created at:\n    #0 0x4000 (/opt/sockleak-test/pool+0x4000)\n"));
    assert_non_null(strstr(text, "SUMMARY: sockleak: 10 leaked sockets in 5 call sites (1 process, "
                                 "20 sockets, 1 end-of-stream read)\n"));
    free(text);
}

/* A rule with a real description per new kind, and the location each kind
 * is about: the last read, the fork, the listener. */
static void test_kinds_sarif(void **state)
{
    struct fixture *f = *state;
    json_t *root = sl_fmt_sarif_build(&f->groups, NULL, "/src/proj"), *rules, *r;
    static const char *const want[][2] = {
        {"close_wait_unaccepted", "pool+0x4000"},
        {"close_wait_unread", "pool+0x2000"},
        {"close_wait", "pool+0x5000"},
        {"close_wait_inherited", "pool+0x3000"},
        {"close_wait_unread", "pool+0x1000"},
    };

    assert_non_null(root);
    rules = obj_path(root, "runs.0.tool.driver.rules");
    for (size_t i = 0; i < 5; i++) {
        r = obj_path(root, "runs.0.results");
        r = json_array_get(r, i);
        assert_string_equal(str_at(r, "ruleId"), want[i][0]);
        assert_string_equal(str_at(r, "locations.0.logicalLocations.0.fullyQualifiedName"),
                            want[i][1]);
        json_t *rule = json_array_get(rules, (size_t)json_integer_value(obj_path(r, "ruleIndex")));
        assert_string_equal(str_at(rule, "id"), want[i][0]);
        assert_string_not_equal(str_at(rule, "shortDescription.text"), "A socket leaked");
        assert_true(strlen(str_at(rule, "fullDescription.text")) > 40);
        assert_true(strlen(str_at(rule, "help.text")) > 20);
    }
    r = obj_path(root, "runs.0.results.0");
    assert_non_null(strstr(str_at(r, "message.text"), "close_wait_unaccepted: 5 connections"));
    assert_int_equal(json_integer_value(obj_path(r, "properties.count")), 5);
    r = obj_path(root, "runs.0.results.1");
    assert_non_null(strstr(str_at(r, "message.text"), "close_wait_unread: 2 sockets"));
    assert_int_equal(json_integer_value(obj_path(r, "properties.idle_ms_max")), 12000);
    assert_int_equal(json_integer_value(obj_path(r, "properties.at_exit_count")), 1);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_suppressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_all_suppressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sarif_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kinds_json, setup_kinds, teardown),
        cmocka_unit_test_setup_teardown(test_kinds_text, setup_kinds, teardown),
        cmocka_unit_test_setup_teardown(test_kinds_sarif, setup_kinds, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

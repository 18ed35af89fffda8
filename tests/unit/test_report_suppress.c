/* Suppression rules: parsing, file errors, and glob matching against the
 * function, file and module of every frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suppress.h"

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

static void frame(struct sl_sym_stack *st, const char *fn, const char *file, const char *mod)
{
    st->frames = realloc(st->frames, (st->n + 1) * sizeof(*st->frames));
    st->frames[st->n] = (struct sl_sym_frame){.function = strdup(fn),
                                              .file = file ? strdup(file) : NULL,
                                              .line = 1,
                                              .module = strdup(mod)};
    st->n++;
    st->cap = st->n;
}

static void test_parse_rules(void **state)
{
    struct sl_supp_set s = {0};
    (void)state;

    assert_true(sl_supp_add(&s, "close_wait:handle_*"));
    assert_true(sl_supp_add(&s, "*:libfoo.so*"));
    assert_true(sl_supp_add(&s, "unclosed_after_shutdown:a:b")); /* pattern may hold ':' */
    assert_false(sl_supp_add(&s, "handle_client"));
    assert_false(sl_supp_add(&s, "close_wait:"));
    assert_false(sl_supp_add(&s, ":x"));
    assert_false(sl_supp_add(&s, "Close Wait:x"));
    assert_int_equal(s.n, 3);
    assert_string_equal(s.rules[2].kind, "unclosed_after_shutdown");
    assert_string_equal(s.rules[2].pattern, "a:b");
    sl_supp_free(&s);
}

static void test_load_file(void **state)
{
    struct sl_supp_set s = {0};
    (void)state;

    assert_int_equal(sl_supp_load(&s, data("supp.txt")), 0);
    assert_int_equal(s.n, 3); /* comments and blank lines skipped */
    assert_string_equal(s.rules[0].text, "close_wait:server+0x1a2b");
    sl_supp_free(&s);
    assert_int_equal(sl_supp_load(&s, data("supp_bad.txt")), -1);
    sl_supp_free(&s);
    assert_int_equal(sl_supp_load(&s, "/nonexistent/supp.txt"), -1);
    sl_supp_free(&s);
}

static void test_match(void **state)
{
    struct sl_group g = {.kind = "close_wait", .count = 2, .suppressed_by = -1};
    struct sl_supp_set s = {0};
    struct sl_group_set set = {0};
    struct sl_group *list[1] = {&g};
    (void)state;

    frame(&g.eof_sym, "read_request", "/src/app/server.c", "/usr/bin/server");
    frame(&g.eof_sym, "main", "/src/app/main.c", "/usr/bin/server");
    frame(&g.open_sym, "lib_connect", NULL, "/usr/lib/libnet.so.1");

    sl_supp_add(&s, "close_wait:read_*");
    sl_supp_add(&s, "unclosed_after_shutdown:*");
    sl_supp_add(&s, "*:server.c"); /* basename of the file */
    sl_supp_add(&s, "*:/src/app/*.c");
    sl_supp_add(&s, "*:libnet.so*"); /* module basename, open stack */
    sl_supp_add(&s, "*:nothing");
    sl_supp_add(&s, "*:/usr/lib/libnet.so.1");
    assert_true(sl_supp_match(&s.rules[0], &g));
    assert_false(sl_supp_match(&s.rules[1], &g));
    assert_true(sl_supp_match(&s.rules[2], &g));
    assert_true(sl_supp_match(&s.rules[3], &g));
    assert_true(sl_supp_match(&s.rules[4], &g));
    assert_false(sl_supp_match(&s.rules[5], &g));
    assert_true(sl_supp_match(&s.rules[6], &g));

    /* The first matching rule takes the group and counts its sockets. */
    set.groups = list;
    set.n_groups = 1;
    set.findings = 2;
    sl_supp_apply(&s, &set);
    assert_int_equal(g.suppressed_by, 0);
    assert_int_equal(s.rules[0].count, 2);
    assert_int_equal(s.rules[2].count, 0);
    assert_int_equal(set.leaks, 0);
    assert_int_equal(set.groups_left, 0);

    sl_sym_stack_free(&g.eof_sym);
    sl_sym_stack_free(&g.open_sym);
    sl_supp_free(&s);
}

/* Every kernel-swept kind: its name selects it, and a pattern looks at the
 * stacks that kind has (last read, fork, listener) as well. */
static void test_match_new_kinds(void **state)
{
    struct sl_group unread = {.kind = "close_wait_unread", .count = 2, .suppressed_by = -1};
    struct sl_group inherited = {.kind = "close_wait_inherited", .count = 1, .suppressed_by = -1};
    struct sl_group unaccepted = {.kind = "close_wait_unaccepted", .count = 5, .suppressed_by = -1};
    struct sl_group accepted = {.kind = "close_wait", .count = 1, .suppressed_by = -1};
    struct sl_group *list[] = {&unaccepted, &unread, &inherited, &accepted};
    struct sl_group_set set = {.groups = list, .n_groups = 4, .findings = 9};
    struct sl_supp_set s = {0};
    (void)state;

    frame(&unread.open_sym, "dial", "/src/pool.c", "/usr/bin/pool");
    frame(&unread.last_read_sym, "pool_get", "/src/pool.c", "/usr/bin/pool");
    frame(&inherited.open_sym, "dial", "/src/pool.c", "/usr/bin/pool");
    frame(&inherited.fork_sym, "spawn_worker", "/src/worker.c", "/usr/bin/pool");
    frame(&unaccepted.listen_sym, "start_listener", "/src/listen.c", "/usr/bin/pool");
    frame(&accepted.eof_sym, "serve", "/src/serve.c", "/usr/bin/pool");
    frame(&accepted.listen_sym, "start_listener", "/src/listen.c", "/usr/bin/pool");

    assert_true(sl_supp_add(&s, "close_wait:pool_get"));        /* wrong kind */
    assert_true(sl_supp_add(&s, "close_wait_unread:pool_get")); /* last read stack */
    assert_true(sl_supp_add(&s, "close_wait_inherited:worker.c"));
    assert_true(sl_supp_add(&s, "close_wait_unaccepted:start_*"));
    assert_true(sl_supp_add(&s, "*:listen.c")); /* an accepted socket's listener */
    assert_false(sl_supp_match(&s.rules[0], &unread));
    assert_true(sl_supp_match(&s.rules[1], &unread));
    assert_false(sl_supp_match(&s.rules[1], &inherited));
    assert_true(sl_supp_match(&s.rules[2], &inherited));
    assert_true(sl_supp_match(&s.rules[3], &unaccepted));
    assert_false(sl_supp_match(&s.rules[3], &accepted));
    assert_true(sl_supp_match(&s.rules[4], &accepted));

    sl_supp_apply(&s, &set);
    assert_int_equal(s.rules[1].count, 2);
    assert_int_equal(s.rules[2].count, 1);
    assert_int_equal(s.rules[3].count, 5);
    assert_int_equal(s.rules[4].count, 1);
    assert_int_equal(set.leaks, 0);

    for (size_t i = 0; i < 4; i++) {
        sl_sym_stack_free(&list[i]->eof_sym);
        sl_sym_stack_free(&list[i]->open_sym);
        sl_sym_stack_free(&list[i]->last_read_sym);
        sl_sym_stack_free(&list[i]->fork_sym);
        sl_sym_stack_free(&list[i]->listen_sym);
    }
    sl_supp_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_rules),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_match_new_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

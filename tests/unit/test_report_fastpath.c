/* The finding scanner (report/logread_fast.c) against jansson: every log the
 * tests and the fuzzer have (the fuzz seeds, the golden and unit test logs)
 * reads the same, field by field and warning by warning, with the scanner
 * and without it; lines the writer would never write are left to jansson;
 * a directory read on several threads reads as on one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logread.h"
#include "logread_eq.h"
#include "logread_fast.h"

#include "sockleak_log.h"

/* A directory of this source's tree, or a file in it. */
static const char *tree(const char *rel)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf), "%s", __FILE__);
    *strrchr(buf, '/') = '\0'; /* tests/unit */
    *strrchr(buf, '/') = '\0'; /* tests */
    snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%s", rel);
    return buf;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t cap = 0;

    assert_non_null(f);
    *len = 0;
    for (;;) {
        text = realloc(text, cap + 65536);
        size_t n = fread(text + cap, 1, 65536, f);
        cap += n;
        if (n < 65536)
            break;
    }
    fclose(f);
    *len = cap;
    return text;
}

/* Reads len bytes as one log, with the scanner or without; warnings to *out. */
static void read_bytes(struct sl_logread_set *set, const char *text, size_t len, bool no_fast,
                       char **out, size_t *out_len)
{
    FILE *in = fmemopen((void *)text, len ? len : 1, "r");

    assert_non_null(in);
    sl_logread_init(set, NULL);
    set->no_fast = no_fast;
    set->err = open_memstream(out, out_len);
    sl_logread_stream(set, in, "x.jsonl", true);
    fclose(set->err);
    set->err = NULL;
    fclose(in);
}

static size_t scanned; /* finding lines the scanner took, over all inputs */

static void count_scanned(const char *text, size_t len)
{
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        struct sl_logread_finding f;

        if (sl_logread_fast_scan(p, n, &f)) {
            scanned++;
            sl_logread_fast_free(&f);
        }
        p += n + 1;
    }
}

static void same_both_ways(const char *path, size_t skip)
{
    size_t len, la, lb;
    char *text = slurp(path, &len), *wa = NULL, *wb = NULL;
    struct sl_logread_set a, b;
    const char *why;

    if (len < skip)
        skip = len;
    read_bytes(&a, text + skip, len - skip, false, &wa, &la);
    read_bytes(&b, text + skip, len - skip, true, &wb, &lb);
    why = sl_eq_set(&a, &b);
    if (why)
        fail_msg("%s: the scanner's reading differs from jansson's: %s", path, why);
    if (la != lb || memcmp(wa, wb, la) != 0)
        fail_msg("%s: warnings differ:\n%s\n---\n%s", path, wa, wb);
    count_scanned(text + skip, len - skip);
    sl_logread_free(&a);
    sl_logread_free(&b);
    free(wa);
    free(wb);
    free(text);
}

/* Every regular file under dir (links and the fleet's subdirectories too). */
static void same_in_dir(const char *dir, size_t skip)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d))) {
        char full[2048];
        if (de->d_name[0] == '.')
            continue;
        snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
        if (de->d_type == DT_DIR)
            same_in_dir(full, skip);
        else if (strstr(de->d_name, ".jsonl") || skip)
            same_both_ways(full, skip);
    }
    closedir(d);
}

/* Findings the scanner takes with keys left out, out of order, at their
 * edges: each must read as jansson reads it. */
static const char sparse_log[] =
    "{\"t\":\"header\",\"version\":1,\"pid\":7,\"program\":\"p\"}\n"
    "{\"t\":\"finding\",\"kind\":\"close_wait\"}\n"
    "{\"t\":\"finding\",\"kind\":\"k\",\"id\":3,\"held_ms\":-4,\"sockets\":0,\"at_exit\":false}\n"
    "{\"t\":\"finding\",\"kind\":\"k\",\"id\":2,\"fd\":-0,\"inode\":-1,\"tcp_state\":\"\"}\n"
    "{\"t\":\"finding\",\"kind\":\"k\",\"open_stack\":[],\"id\":999999999999999999,"
    "\"eof_stack\":[[-999999999999999999,999999999999999999]],\"idle_ms\":0,\"from_pid\":-3}\n"
    "{\"t\":\"closed\",\"id\":2,\"held_ms\":5}\n"
    "{\"t\":\"finding\",\"kind\":\"k\",\"sockets\":-7,\"unread_bytes\":1,\"queued\":2}\n";

static void test_scanner_reads_as_jansson(void **state)
{
    char dir[1024], *wa = NULL, *wb = NULL;
    size_t la, lb;
    struct sl_logread_set a, b;
    const char *why;
    (void)state;

    read_bytes(&a, sparse_log, sizeof(sparse_log) - 1, false, &wa, &la);
    read_bytes(&b, sparse_log, sizeof(sparse_log) - 1, true, &wb, &lb);
    if ((why = sl_eq_set(&a, &b)))
        fail_msg("the sparse findings read differently: %s", why);
    assert_int_equal(a.procs[0].n_findings, 5);
    assert_int_equal(la, lb);
    sl_logread_free(&a);
    sl_logread_free(&b);
    free(wa);
    free(wb);
    scanned = 0;
    count_scanned(sparse_log, sizeof(sparse_log) - 1);
    assert_int_equal(scanned, 5);
    /* A fuzz seed's first byte picks the report's format: the log follows. */
    snprintf(dir, sizeof(dir), "%s", tree("fuzz/corpus"));
    same_in_dir(dir, 1);
    snprintf(dir, sizeof(dir), "%s", tree("unit/data"));
    same_in_dir(dir, 0);
    assert_true(scanned > 20); /* the comparison is not empty */
}

/* Lines jansson reads (or rejects) that the writer never writes: the
 * scanner leaves every one of them to jansson. */
static void test_scanner_declines_the_unusual(void **state)
{
#define FINDING_HEAD "{\"t\":\"finding\",\"id\":1,\"kind\":\"close_wait\","
    static const char *const odd[] = {
        FINDING_HEAD "\"fd\":7 }",
        FINDING_HEAD " \"fd\":7}",
        FINDING_HEAD "\"fd\":7}\n",
        FINDING_HEAD "\"fd\":7} ",
        FINDING_HEAD "\"fd\":7}x",
        FINDING_HEAD "\"fd\":7,\"fd\":8}",
        FINDING_HEAD "\"fd\":07}",
        FINDING_HEAD "\"fd\":7.0}",
        FINDING_HEAD "\"fd\":7e1}",
        FINDING_HEAD "\"fd\":-}",
        FINDING_HEAD "\"fd\":\"7\"}",
        FINDING_HEAD "\"fd\":1234567890123456789}",
        FINDING_HEAD "\"fd\":null}",
        FINDING_HEAD "\"peer\":\"a\\\"b\"}",
        FINDING_HEAD "\"peer\":\"\xc3\xa9\"}",
        FINDING_HEAD "\"peer\":\"\x01\"}",
        FINDING_HEAD "\"unknown_key\":1}",
        FINDING_HEAD "\"eof_stack\":null}",
        FINDING_HEAD "\"eof_stack\":[[0]]}",
        FINDING_HEAD "\"eof_stack\":[[0,1,2]]}",
        FINDING_HEAD "\"eof_stack\":[[0,1],]}",
        FINDING_HEAD "\"eof_stack\":[0,1]}",
        FINDING_HEAD "\"eof_stack\":{}}",
        FINDING_HEAD "\"at_exit\":1}",
        FINDING_HEAD "\"tcp_state\":7}",
        "{\"t\":\"finding\",\"id\":1,\"kind\":\"\"}",
        "{\"t\":\"finding\",\"id\":1}",
        "{\"t\":\"findings\",\"id\":1,\"kind\":\"close_wait\"}",
        "{\"t\":\"finding\",\"t\":\"finding\",\"kind\":\"close_wait\"}",
        "{\"t\": \"finding\",\"kind\":\"close_wait\"}",
        "{\"t\":\"header\",\"kind\":\"close_wait\"}",
        FINDING_HEAD "\"fd\":7",
        FINDING_HEAD,
    };
    char many[8192];
    struct sl_logread_finding f;
    size_t n;
    (void)state;

    for (size_t i = 0; i < sizeof(odd) / sizeof(*odd); i++)
        if (sl_logread_fast_scan(odd[i], strlen(odd[i]), &f))
            fail_msg("the scanner took: %s", odd[i]);
    /* More frames than the reader keeps: jansson's reading warns. */
    n = (size_t)snprintf(many, sizeof(many), FINDING_HEAD "\"eof_stack\":[");
    for (int i = 0; i <= SL_LOGREAD_MAX_FRAMES; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "%s[0,%d]", i ? "," : "", i);
    n += (size_t)snprintf(many + n, sizeof(many) - n, "]}");
    assert_false(sl_logread_fast_scan(many, n, &f));
    /* What the writer writes, optional keys and all, is taken. */
    const char *line =
        FINDING_HEAD "\"fd\":7,\"family\":\"inet\",\"local\":\"\",\"peer\":\"\","
                     "\"inode\":9,\"tcp_state\":null,\"eof_unix_ms\":0,\"held_ms\":-5,"
                     "\"eof_stack\":[],\"open_stack\":[[-2,3],[-1,0],[0,18]],"
                     "\"listen_stack\":[[1,2]],\"sockets\":3,\"backlog\":4,"
                     "\"queued\":5,\"at_exit\":true}";
    assert_true(sl_logread_fast_scan(line, strlen(line), &f));
    assert_int_equal(f.held_ms, 0);
    assert_null(f.tcp_state);
    assert_int_equal(f.open_stack.n, 3);
    assert_int_equal(f.open_stack.frames[0].module, -2);
    assert_int_equal(f.has,
                     SL_LOGREAD_HAS_SOCKETS | SL_LOGREAD_HAS_BACKLOG | SL_LOGREAD_HAS_QUEUED);
    assert_true(f.at_exit);
    sl_logread_fast_free(&f);
#undef FINDING_HEAD
}

static void read_dir_threads(struct sl_logread_set *set, const char *dir, int threads, char **out,
                             size_t *len)
{
    sl_logread_init(set, NULL);
    set->n_threads = threads;
    set->err = open_memstream(out, len);
    assert_int_equal(sl_logread_path(set, dir), 0);
    fclose(set->err);
    set->err = NULL;
}

/* Files read on several threads are joined in name order: the same
 * processes in the same order, the same warnings in the same order. */
static void test_threads_read_as_one(void **state)
{
    static const char *const dirs[] = {"unit/data", "unit/data/golden/fleet", "fuzz/corpus"};
    (void)state;

    for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
        struct sl_logread_set one, many;
        char *w1 = NULL, *wn = NULL, dir[1024];
        size_t l1, ln;
        const char *why;

        snprintf(dir, sizeof(dir), "%s", tree(dirs[i]));
        read_dir_threads(&one, dir, 1, &w1, &l1);
        read_dir_threads(&many, dir, 4, &wn, &ln);
        if ((why = sl_eq_set(&one, &many)))
            fail_msg("%s: on 4 threads: %s", dir, why);
        assert_int_equal(l1, ln);
        assert_memory_equal(w1, wn, l1);
        sl_logread_free(&one);
        sl_logread_free(&many);
        free(w1);
        free(wn);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scanner_reads_as_jansson),
        cmocka_unit_test(test_scanner_declines_the_unusual),
        cmocka_unit_test(test_threads_read_as_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

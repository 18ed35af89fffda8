/* Symbolization of a program compiled here: function, file:line and inlined
 * frames cross-checked with eu-addr2line, and the fallbacks (symbol table,
 * module+offset, rebuilt binary, missing file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "group.h"
#include "logread.h"
#include "symbolize.h"

/* Line numbers below are asserted: keep the program as it is. */
static const char sl_test_prog[] =
    "#include <unistd.h>\n"
    "static inline __attribute__((always_inline)) int sl_inner(int fd) { return (int)read(fd, 0, "
    "0); }\n"
    "__attribute__((noinline)) int sl_outer(int fd) { int r = sl_inner(fd); return r + 1; }\n"
    "__attribute__((noinline)) int sl_plain(int fd)\n"
    "{\n"
    "    return (int)read(fd, 0, 0) + 2;\n"
    "}\n"
    "int main(void) { return sl_outer(0) + sl_plain(0); }\n";

static char dir[64], bin[128], bin_nodebug[128], bin_stripped[128], build_id[128];
static char bin_debuglink[128], bin_split[128], bin_rebuilt[128], debug_root[128];
static char src_path[128];
static uint64_t ret_plain, ret_outer;
static bool have_addr2line;

static int run_capture(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    size_t n;

    if (!p)
        return -1;
    n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    return pclose(p) == 0 ? 0 : -1;
}

/* Return address of the call to read in fn (x86-64's call, arm64's bl): the
 * offset a log would hold. */
static uint64_t return_address(const char *fn)
{
    char cmd[512], out[64];

    snprintf(cmd, sizeof(cmd),
             "objdump -d --no-show-raw-insn %s | awk '/<%s>:/{f=1} f && /(call|bl)[ \\t].*<read@plt>/"
             "{getline; sub(\":\",\"\",$1); print $1; exit}'",
             bin, fn);
    if (run_capture(cmd, out, sizeof(out)) < 0 || !*out)
        return 0;
    return strtoull(out, NULL, 16);
}

static int setup(void **state)
{
    char cmd[1024], src[128];
    FILE *fp;
    (void)state;

    snprintf(dir, sizeof(dir), "/tmp/sockleak-sym-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(src, sizeof(src), "%s/prog.c", dir);
    snprintf(bin, sizeof(bin), "%s/prog", dir);
    snprintf(bin_nodebug, sizeof(bin_nodebug), "%s/prog-nodebug", dir);
    snprintf(bin_stripped, sizeof(bin_stripped), "%s/prog-stripped", dir);
    snprintf(src_path, sizeof(src_path), "%s", src);
    fp = fopen(src, "w");
    if (!fp)
        return -1;
    fputs(sl_test_prog, fp);
    fclose(fp);
    /* Compiled with a relative source name: file names are made absolute
     * with the compilation directory, as eu-addr2line does. */
    snprintf(cmd, sizeof(cmd),
             "cd %s && cc -g -O0 -Wl,--build-id -o prog prog.c && strip -g -o %s %s && "
             "strip -s -o %s %s",
             dir, bin_nodebug, bin, bin_stripped, bin);
    if (system(cmd) != 0)
        return -1;
    /* Separate debug information, the two ways distributions ship it: a
     * .gnu_debuglink beside the binary, and a file named by build-id under a
     * debug root (SOCKLEAK_DEBUGINFO_PATH here, /usr/lib/debug by default).
     * prog-rebuilt is another build of the same source with another build-id. */
    snprintf(bin_debuglink, sizeof(bin_debuglink), "%s/prog-dl", dir);
    snprintf(bin_split, sizeof(bin_split), "%s/prog-split", dir);
    snprintf(bin_rebuilt, sizeof(bin_rebuilt), "%s/prog-rebuilt", dir);
    snprintf(debug_root, sizeof(debug_root), "%s/debugroot", dir);
    snprintf(cmd, sizeof(cmd),
             "cd %s && objcopy --only-keep-debug prog prog-dl.debug && "
             "strip --strip-debug -o prog-dl prog && objcopy --add-gnu-debuglink=prog-dl.debug "
             "prog-dl && strip --strip-debug -o prog-split prog && "
             "cc -g -O0 -Wl,--build-id=md5 -o prog-rebuilt prog.c && strip --strip-debug "
             "prog-rebuilt",
             dir);
    if (system(cmd) != 0)
        return -1;
    ret_plain = return_address("sl_plain");
    ret_outer = return_address("sl_outer");
    snprintf(cmd, sizeof(cmd), "readelf -n %s | awk '/Build ID/{printf \"%%s\", $3}'", bin);
    if (ret_plain == 0 || ret_outer == 0 || run_capture(cmd, build_id, sizeof(build_id)) < 0)
        return -1;
    snprintf(
        cmd, sizeof(cmd),
        "mkdir -p %s/.build-id/%.2s && objcopy --only-keep-debug %s %s/.build-id/%.2s/%s.debug",
        debug_root, build_id, bin, debug_root, build_id, build_id + 2);
    if (strlen(build_id) < 8 || system(cmd) != 0)
        return -1;
    have_addr2line = system("eu-addr2line --version >/dev/null 2>&1") == 0;
    if (!have_addr2line)
        fprintf(stderr, "eu-addr2line not installed: cross-checks skipped\n");
    return 0;
}

static int teardown(void **state)
{
    char cmd[256];
    (void)state;

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void symbolize(const char *path, const char *bid, uint64_t off, struct sl_sym_stack *st)
{
    struct sl_sym_ctx *ctx = sl_sym_new(true);

    memset(st, 0, sizeof(*st));
    sl_sym_frame(ctx, path, bid, off, st);
    sl_sym_free(ctx);
}

/* Compares our frames with `eu-addr2line -i -f` at the call instruction:
 * same functions, same file:line, same order. */
static void cross_check(const struct sl_sym_stack *st, uint64_t off)
{
    char cmd[512], out[4096], *save = NULL, *line;
    size_t i = 0;

    if (!have_addr2line)
        return;
    snprintf(cmd, sizeof(cmd), "eu-addr2line -i -f -e %s 0x%" PRIx64, bin, off - 1);
    assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        char fn[256], file[512], *colon;
        int lineno;

        assert_true(i < st->n);
        sscanf(line, "%255s", fn);
        line = strtok_r(NULL, "\n", &save);
        assert_non_null(line);
        snprintf(file, sizeof(file), "%s", line);
        /* file:line[:column] */
        colon = strchr(file, ':');
        assert_non_null(colon);
        *colon = '\0';
        lineno = atoi(colon + 1);
        assert_string_equal(st->frames[i].function, fn);
        assert_string_equal(st->frames[i].file, file);
        assert_int_equal(st->frames[i].line, lineno);
    }
    assert_int_equal(i, st->n);
}

static void test_function_file_line(void **state)
{
    struct sl_sym_stack st;
    (void)state;

    symbolize(bin, build_id, ret_plain, &st);
    assert_int_equal(st.n, 1);
    assert_string_equal(st.frames[0].function, "sl_plain");
    assert_non_null(st.frames[0].file);
    assert_string_equal(st.frames[0].file, src_path);
    assert_int_equal(st.frames[0].line, 6);
    assert_string_equal(st.frames[0].module, bin);
    assert_int_equal(st.frames[0].address, ret_plain);
    assert_false(st.frames[0].inlined);
    assert_false(st.frames[0].stale);
    cross_check(&st, ret_plain);
    sl_sym_stack_free(&st);
}

static void test_inlined_frames(void **state)
{
    struct sl_sym_stack st;
    (void)state;

    symbolize(bin, "", ret_outer, &st);
    assert_int_equal(st.n, 2);
    assert_string_equal(st.frames[0].function, "sl_inner");
    assert_int_equal(st.frames[0].line, 2);
    assert_true(st.frames[0].inlined);
    assert_string_equal(st.frames[1].function, "sl_outer");
    assert_int_equal(st.frames[1].line, 3);
    assert_false(st.frames[1].inlined);
    assert_int_equal(st.frames[1].address, ret_outer);
    cross_check(&st, ret_outer);
    sl_sym_stack_free(&st);
}

static void test_no_debug_info_uses_symbol_table(void **state)
{
    struct sl_sym_stack st;
    (void)state;

    symbolize(bin_nodebug, NULL, ret_plain, &st);
    assert_int_equal(st.n, 1);
    assert_string_equal(st.frames[0].function, "sl_plain");
    assert_null(st.frames[0].file);
    assert_int_equal(st.frames[0].line, 0);
    sl_sym_stack_free(&st);
}

static void test_stripped_and_missing_give_module_offset(void **state)
{
    struct sl_sym_stack st;
    char want[64];
    (void)state;

    symbolize(bin_stripped, NULL, ret_plain, &st);
    assert_int_equal(st.n, 1);
    snprintf(want, sizeof(want), "prog-stripped+0x%" PRIx64, ret_plain);
    assert_string_equal(st.frames[0].function, want);
    assert_null(st.frames[0].file);
    sl_sym_stack_free(&st);

    symbolize("/nonexistent/dir/prog", NULL, 0x1234, &st);
    assert_int_equal(st.n, 1);
    assert_string_equal(st.frames[0].function, "prog+0x1234");
    assert_string_equal(st.frames[0].module, "/nonexistent/dir/prog");
    sl_sym_stack_free(&st);

    symbolize(NULL, NULL, 0x7f0012345678, &st);
    assert_int_equal(st.n, 1);
    assert_string_equal(st.frames[0].function, "0x7f0012345678");
    sl_sym_stack_free(&st);
}

static void test_rebuilt_binary_is_stale(void **state)
{
    struct sl_sym_stack st;
    (void)state;

    symbolize(bin, "0123456789abcdef", ret_plain, &st);
    assert_int_equal(st.n, 1);
    assert_true(st.frames[0].stale);
    assert_null(st.frames[0].file);
    assert_int_equal(st.frames[0].line, 0);
    sl_sym_stack_free(&st);
}

static void assert_plain_line(const struct sl_sym_stack *st)
{
    assert_int_equal(st->n, 1);
    assert_string_equal(st->frames[0].function, "sl_plain");
    assert_non_null(st->frames[0].file);
    assert_string_equal(st->frames[0].file, src_path);
    assert_int_equal(st->frames[0].line, 6);
    assert_false(st->frames[0].stale);
}

static void test_debuglink(void **state)
{
    struct sl_sym_stack st;
    (void)state;

    unsetenv("SOCKLEAK_DEBUGINFO_PATH");
    symbolize(bin_debuglink, build_id, ret_plain, &st);
    assert_plain_line(&st);
    assert_string_equal(st.frames[0].module, bin_debuglink);
    sl_sym_stack_free(&st);
}

static void test_debug_file_by_build_id(void **state)
{
    struct sl_sym_stack st;
    (void)state;

    /* Without the debug root: the symbol table only. */
    unsetenv("SOCKLEAK_DEBUGINFO_PATH");
    symbolize(bin_split, build_id, ret_plain, &st);
    assert_int_equal(st.n, 1);
    assert_string_equal(st.frames[0].function, "sl_plain");
    assert_null(st.frames[0].file);
    sl_sym_stack_free(&st);

    setenv("SOCKLEAK_DEBUGINFO_PATH", debug_root, 1);
    symbolize(bin_split, build_id, ret_plain, &st);
    assert_plain_line(&st);
    sl_sym_stack_free(&st);
    unsetenv("SOCKLEAK_DEBUGINFO_PATH");
}

/* The binary was rebuilt after the run, but the debug file of the build that
 * ran is there: its lines, not a stale frame. The binary gone entirely: the
 * same. */
static void test_rebuilt_binary_uses_debug_file_by_build_id(void **state)
{
    struct sl_sym_stack st;
    char gone[160];
    (void)state;

    setenv("SOCKLEAK_DEBUGINFO_PATH", debug_root, 1);
    symbolize(bin_rebuilt, build_id, ret_plain, &st);
    assert_plain_line(&st);
    assert_string_equal(st.frames[0].module, bin_rebuilt);
    sl_sym_stack_free(&st);

    snprintf(gone, sizeof(gone), "%s/no-such-prog", dir);
    symbolize(gone, build_id, ret_plain, &st);
    assert_plain_line(&st);
    sl_sym_stack_free(&st);

    /* A build-id with no debug file anywhere is stale as before. */
    symbolize(bin_rebuilt, "0123456789abcdef", ret_plain, &st);
    assert_int_equal(st.n, 1);
    assert_true(st.frames[0].stale);
    sl_sym_stack_free(&st);
    unsetenv("SOCKLEAK_DEBUGINFO_PATH");

    symbolize(bin_rebuilt, build_id, ret_plain, &st);
    assert_true(st.frames[0].stale);
    assert_null(st.frames[0].file);
    sl_sym_stack_free(&st);
}

/* The whole path a report takes: a log naming the binary, grouped and
 * symbolized, with one cached module for two processes. */
static void test_log_to_symbolized_group(void **state)
{
    char path[128];
    FILE *fp;
    struct sl_logread_set logs;
    struct sl_group_set g;
    struct sl_sym_ctx *ctx = sl_sym_new(true);
    (void)state;

    snprintf(path, sizeof(path), "%s/prog.1.jsonl", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    for (int pid = 1; pid <= 2; pid++) {
        fprintf(
            fp,
            "{\"t\":\"header\",\"version\":1,\"pid\":%d,\"program\":\"prog\",\"run_id\":\"\"}\n",
            pid);
        fprintf(fp, "{\"t\":\"module\",\"id\":0,\"path\":\"%s\",\"build_id\":\"%s\",\"base\":%d}\n",
                bin, build_id, pid * 4096);
        fprintf(fp,
                "{\"t\":\"finding\",\"id\":1,\"kind\":\"close_wait\",\"fd\":3,\"tcp_state\":"
                "\"CLOSE_WAIT\",\"held_ms\":5000,\"eof_stack\":[[0,%" PRIu64
                "]],\"open_stack\":[[0,%" PRIu64 "]]}\n",
                ret_outer, ret_plain);
    }
    fclose(fp);
    sl_logread_init(&logs, NULL);
    assert_int_equal(sl_logread_path(&logs, dir), 0);
    sl_group_build(&g, &logs);
    assert_int_equal(g.n_groups, 1);
    assert_int_equal(g.groups[0]->count, 2);
    sl_group_symbolize(&g, ctx);
    assert_int_equal(g.groups[0]->eof_sym.n, 2);
    assert_string_equal(g.groups[0]->eof_sym.frames[0].function, "sl_inner");
    assert_string_equal(g.groups[0]->eof_sym.frames[1].function, "sl_outer");
    assert_int_equal(g.groups[0]->open_sym.n, 1);
    assert_string_equal(g.groups[0]->open_sym.frames[0].function, "sl_plain");
    assert_int_equal(g.groups[0]->open_sym.frames[0].line, 6);
    sl_group_free(&g);
    sl_logread_free(&logs);
    sl_sym_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_function_file_line),
        cmocka_unit_test(test_inlined_frames),
        cmocka_unit_test(test_no_debug_info_uses_symbol_table),
        cmocka_unit_test(test_stripped_and_missing_give_module_offset),
        cmocka_unit_test(test_rebuilt_binary_is_stale),
        cmocka_unit_test(test_log_to_symbolized_group),
        cmocka_unit_test(test_debuglink),
        cmocka_unit_test(test_debug_file_by_build_id),
        cmocka_unit_test(test_rebuilt_binary_uses_debug_file_by_build_id),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

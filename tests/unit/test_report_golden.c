/* Golden files: committed raw logs and the exact text (no colour), JSON and
 * SARIF reports expected from them. The logs name modules that exist nowhere,
 * so their frames are module+offset on every machine, except the *.jsonl.in
 * templates, which name a small program compiled here from golden/prog.c. Its
 * temporary directory, return addresses and the tool's version are replaced
 * by placeholders before comparing.
 *
 * SOCKLEAK_UPDATE_GOLDEN=1 rewrites the expected files from what the report
 * prints now; review the diff before committing it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "held.h"
#include "logread.h"
#include "report.h"
#include "suppress.h"

#ifndef SOCKLEAK_VERSION
#define SOCKLEAK_VERSION "unknown"
#endif

struct golden_case {
    const char *name;  /* expected files: golden/NAME.expected.{txt,json,sarif} */
    const char *input; /* under golden/: a log, a directory, or a template */
    const char *supp;  /* suppressions under golden/, or NULL */
    size_t group_frames;
    bool built; /* input is a template naming the program built here */
};

static const struct golden_case cases[] = {
    {"basic", "basic.jsonl", NULL, 0, false},
    {"basic-suppressed", "basic.jsonl", "basic.supp", 0, false},
    {"corrupt", "corrupt.jsonl", NULL, 0, false},
    {"fleet", "fleet", NULL, 0, false},
    {"fleet-top2", "fleet", NULL, 2, false},
    {"built", "built.jsonl.in", NULL, 0, true},
    {"unread", "unread.jsonl.in", NULL, 0, true},
    {"inherited", "inherited.jsonl.in", NULL, 0, true},
    {"unaccepted", "unaccepted.jsonl.in", NULL, 0, true},
    {"kinds-suppressed", "kinds.jsonl.in", "kinds.supp", 0, true},
    {"churn", "churn.jsonl.in", NULL, 0, true},
    {"openexit", "openexit.jsonl.in", NULL, 0, true},
    {"fdexh", "fdexh.jsonl.in", NULL, 0, true},
};

static const struct {
    const char *ext;
    enum sl_report_format format;
} formats[] = {
    {"txt", SL_REPORT_TEXT},
    {"json", SL_REPORT_JSON},
    {"sarif", SL_REPORT_SARIF},
};

static char golden[1024], tmp[64], oldcwd[PATH_MAX], tool[1024];
static char bin[128], build_id[128];
static uint64_t ret_outer, ret_plain, ret_fork, ret_listen;

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

/* The return address of fn's call of callee (through the PLT; x86-64's call,
 * arm64's bl), or 0. */
static uint64_t return_address_of(const char *fn, const char *callee)
{
    char cmd[512], out[64];

    snprintf(cmd, sizeof(cmd),
             "objdump -d --no-show-raw-insn %s | awk '/<%s>:/{f=1} f && /(call|bl)[ \\t].*<%s@plt>/"
             "{getline; sub(\":\",\"\",$1); print $1; exit}'",
             bin, fn, callee);
    if (run_capture(cmd, out, sizeof(out)) < 0 || !*out)
        return 0;
    return strtoull(out, NULL, 16);
}

static uint64_t return_address(const char *fn)
{
    return return_address_of(fn, "read");
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *out;
    int c;

    if (!fp)
        return NULL;
    out = open_memstream(&buf, &len);
    while ((c = fgetc(fp)) != EOF)
        fputc(c, out);
    fclose(out);
    fclose(fp);
    return buf;
}

static int write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    if (!fp)
        return -1;
    fputs(text, fp);
    return fclose(fp);
}

static bool is_word(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* s with every whole-word occurrence of from replaced by to (malloc'd; s is
 * freed). A hex address must not match the start of a longer one. */
static char *replace(char *s, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to), len = 0;
    char *out = NULL, *p = s, *hit;
    FILE *m;

    if (!nf)
        return s;
    m = open_memstream(&out, &len);
    while ((hit = strstr(p, from))) {
        bool whole = !is_word(from[nf - 1]) || !is_word(hit[nf]);
        fwrite(p, 1, (size_t)(hit - p), m);
        fwrite(whole ? to : from, 1, whole ? nt : nf, m);
        p = hit + nf;
    }
    fputs(p, m);
    fclose(m);
    free(s);
    return out;
}

/* Placeholders for what differs from one machine or build to the next. */
static char *normalize(char *s)
{
    char hex[32];

    s = replace(s, tmp, "@DIR@");
    s = replace(s, "\"" SOCKLEAK_VERSION "\"", "\"@VERSION@\"");
    if (ret_outer) {
        snprintf(hex, sizeof(hex), "0x%" PRIx64, ret_outer);
        s = replace(s, hex, "@RET_OUTER@");
        snprintf(hex, sizeof(hex), "0x%" PRIx64, ret_plain);
        s = replace(s, hex, "@RET_PLAIN@");
        snprintf(hex, sizeof(hex), "0x%" PRIx64, ret_fork);
        s = replace(s, hex, "@RET_FORK@");
        snprintf(hex, sizeof(hex), "0x%" PRIx64, ret_listen);
        s = replace(s, hex, "@RET_LISTEN@");
    }
    return s;
}

static int setup(void **state)
{
    char cmd[PATH_MAX + 256], exe[900];
    const char *env = getenv("SOCKLEAK_TEST_DATA");
    ssize_t n;
    (void)state;

    if (env)
        snprintf(golden, sizeof(golden), "%s/golden", env);
    else {
        /* The data sits beside this source; make it absolute, since the
         * tests run in a temporary directory. */
        char rel[1024], *abs;
        snprintf(rel, sizeof(rel), "%s", __FILE__);
        *strrchr(rel, '/') = '\0';
        abs = realpath(rel, NULL);
        if (!abs || strlen(abs) > 900) {
            free(abs);
            return -1;
        }
        snprintf(golden, sizeof(golden), "%s/data/golden", abs);
        free(abs);
    }
    if (!getcwd(oldcwd, sizeof(oldcwd)))
        return -1;
    /* The tool: build/sockleak, two levels above build/tests/unit/. */
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int i = 0; i < 3 && strrchr(exe, '/'); i++)
            *strrchr(exe, '/') = '\0';
        snprintf(tool, sizeof(tool), "%s/sockleak", exe);
    }
    snprintf(tmp, sizeof(tmp), "/tmp/sockleak-golden-XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    snprintf(bin, sizeof(bin), "%s/prog", tmp);
    snprintf(cmd, sizeof(cmd), "cp %s/prog.c %s/ && cd %s && cc -g -O0 -o prog prog.c", golden, tmp,
             tmp);
    if (system(cmd) != 0)
        return -1;
    ret_outer = return_address("handle_client");
    ret_plain = return_address("open_socket");
    ret_fork = return_address_of("spawn_worker", "fork");
    ret_listen = return_address_of("start_listener", "listen");
    snprintf(cmd, sizeof(cmd), "readelf -n %s | awk '/Build ID/{printf \"%%s\", $3}'", bin);
    if (!ret_outer || !ret_plain || !ret_fork || !ret_listen ||
        run_capture(cmd, build_id, sizeof(build_id)) < 0)
        return -1;
    /* Reports are made from inside tmp: SARIF gives prog.c relative to it. */
    return chdir(tmp);
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;

    if (chdir(oldcwd) != 0)
        return -1;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* The input path of c, instantiating the template into tmp. */
static void input_path(const struct golden_case *c, char *path, size_t len)
{
    char num[32], *text;

    snprintf(path, len, "%s/%s", golden, c->input);
    if (!c->built)
        return;
    text = read_file(path);
    assert_non_null(text);
    text = replace(text, "@BIN@", bin);
    text = replace(text, "@BUILD_ID@", build_id);
    snprintf(num, sizeof(num), "%" PRIu64, ret_outer);
    text = replace(text, "@RET_OUTER@", num);
    snprintf(num, sizeof(num), "%" PRIu64, ret_plain);
    text = replace(text, "@RET_PLAIN@", num);
    snprintf(num, sizeof(num), "%" PRIu64, ret_fork);
    text = replace(text, "@RET_FORK@", num);
    snprintf(num, sizeof(num), "%" PRIu64, ret_listen);
    text = replace(text, "@RET_LISTEN@", num);
    snprintf(path, len, "%s/%s.jsonl", tmp, c->name);
    assert_int_equal(write_file(path, text), 0);
    free(text);
}

/* Compares actual with golden/NAME.EXT, or rewrites it when asked. */
static void compare(const char *name, const char *ext, const char *actual)
{
    char exp_path[PATH_MAX + 64], act_path[PATH_MAX], cmd[3 * PATH_MAX];
    const char *update = getenv("SOCKLEAK_UPDATE_GOLDEN");
    char *expected;

    snprintf(exp_path, sizeof(exp_path), "%s/%s.expected.%s", golden, name, ext);
    if (update && strcmp(update, "1") == 0) {
        assert_int_equal(write_file(exp_path, actual), 0);
        fprintf(stderr, "golden: wrote %s\n", exp_path);
        return;
    }
    expected = read_file(exp_path);
    if (!expected)
        fail_msg("%s is missing (SOCKLEAK_UPDATE_GOLDEN=1 writes it)", exp_path);
    if (strcmp(expected, actual) != 0) {
        snprintf(act_path, sizeof(act_path), "%s/%s.actual.%s", tmp, name, ext);
        assert_int_equal(write_file(act_path, actual), 0);
        snprintf(cmd, sizeof(cmd), "diff -u %s %s >&2", exp_path, act_path);
        if (system(cmd)) {
            /* diff's status is the mismatch itself. */
        }
        free(expected);
        fail_msg("%s differs from the report (diff above; SOCKLEAK_UPDATE_GOLDEN=1 to accept)",
                 exp_path);
    }
    free(expected);
}

static char *report(const struct golden_case *c, enum sl_report_format format)
{
    struct sl_logread_set logs;
    struct sl_supp_set supp = {0};
    struct sl_report_opts o = {
        .format = format, .colour = SL_REPORT_COLOUR_NEVER, .group_frames = c->group_frames};
    char path[PATH_MAX], *buf = NULL;
    size_t len = 0;

    input_path(c, path, sizeof(path));
    if (c->supp) {
        char sp[PATH_MAX + 64];
        snprintf(sp, sizeof(sp), "%s/%s", golden, c->supp);
        assert_int_equal(sl_supp_load(&supp, sp), 0);
        o.supp = &supp;
    }
    sl_logread_init(&logs, NULL);
    assert_int_equal(sl_logread_path(&logs, path), 0);
    sl_held_as_of(&logs, sl_held_now_ms()); /* as the tool does */
    o.out = open_memstream(&buf, &len);
    assert_non_null(o.out);
    assert_true(sl_report_emit(&o, &logs) >= 0);
    fclose(o.out);
    sl_logread_free(&logs);
    sl_supp_free(&supp);
    return normalize(buf);
}

static void test_golden(void **state)
{
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
            char *out = report(&cases[i], formats[f].format);
            compare(cases[i].name, formats[f].ext, out);
            free(out);
        }
}

/* The built program really was symbolized: its lines are in the golden
 * text, so a regression to module+offset cannot be accepted unnoticed. */
static void test_built_has_source_lines(void **state)
{
    char *out = report(&cases[5], SL_REPORT_TEXT);
    (void)state;

    assert_non_null(strstr(out, "in drain @DIR@/prog.c:6 (@DIR@/prog) [inlined]"));
    assert_non_null(strstr(out, "in handle_client @DIR@/prog.c:10 (@DIR@/prog)"));
    assert_non_null(strstr(out, "in open_socket @DIR@/prog.c:15 (@DIR@/prog)"));
    free(out);
}

/* The stacks each new kind is about are symbolized to the program's lines. */
static void test_new_kinds_have_source_lines(void **state)
{
    char *out;
    (void)state;

    out = report(&cases[6], SL_REPORT_TEXT);
    assert_non_null(strstr(out, "  last read at:\n    #0 @RET_OUTER@ in drain @DIR@/prog.c:6"));
    assert_non_null(strstr(out, "  last read at:\n    (never read)\n"));
    free(out);
    out = report(&cases[7], SL_REPORT_TEXT);
    assert_non_null(strstr(out, "by fork in pid 4000 at:\n    #0 @RET_FORK@ in spawn_worker "
                                "@DIR@/prog.c:25 (@DIR@/prog)\n"));
    free(out);
    out = report(&cases[8], SL_REPORT_TEXT);
    assert_non_null(strstr(out, "  listener created at:\n    #0 @RET_LISTEN@ in start_listener "
                                "@DIR@/prog.c:29 (@DIR@/prog)\n"));
    assert_non_null(strstr(out, "  accepted from the listener created at:\n    #0 @RET_LISTEN@"));
    free(out);
    out = report(&cases[9], SL_REPORT_TEXT);
    assert_non_null(strstr(out, "==sockleak== close_wait: 1 socket"));
    assert_null(strstr(out, "==sockleak== close_wait_"));
    free(out);
}

/* Runs cmd with sh; returns its exit status, its stdout in out (malloc'd). */
static int shell_run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r"), *m;
    size_t len = 0;
    int c, st;

    assert_non_null(p);
    *out = NULL;
    m = open_memstream(out, &len);
    while ((c = fgetc(p)) != EOF)
        fputc(c, m);
    fclose(m);
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs the tool with args (and env assignments before it); stderr dropped. */
static int tool_run(const char *args, const char *env, char **out)
{
    char cmd[3 * PATH_MAX];

    snprintf(cmd, sizeof(cmd), "%s %s %s 2>/dev/null", env ? env : "", tool, args);
    return shell_run(cmd, out);
}

/* The command line reaches the same output as the pipeline above. */
static void test_tool_formats_and_options(void **state)
{
    char args[PATH_MAX + 128], *out;
    (void)state;

    if (access(tool, X_OK) != 0) {
        fprintf(stderr, "%s not built: command-line checks skipped\n", tool);
        skip();
    }
    snprintf(args, sizeof(args), "report --format sarif --group-frames 2 %s/fleet", golden);
    assert_int_equal(tool_run(args, NULL, &out), 0);
    out = normalize(out);
    compare("fleet-top2", "sarif", out);
    free(out);
    snprintf(args, sizeof(args), "report --format=json --suppressions %s/basic.supp %s/basic.jsonl",
             golden, golden);
    assert_int_equal(tool_run(args, NULL, &out), 0);
    out = normalize(out);
    compare("basic-suppressed", "json", out);
    free(out);

    /* Colour: never when piped unless asked; --color always beats NO_COLOR. */
    snprintf(args, sizeof(args), "report %s/basic.jsonl", golden);
    assert_int_equal(tool_run(args, NULL, &out), 0);
    assert_null(strchr(out, '\033'));
    out = normalize(out);
    compare("basic", "txt", out);
    free(out);
    snprintf(args, sizeof(args), "report --color always %s/basic.jsonl", golden);
    assert_int_equal(tool_run(args, "NO_COLOR=1", &out), 0);
    assert_non_null(strstr(out, "\033[1;31m==sockleak== close_wait"));
    free(out);
    snprintf(args, sizeof(args), "report --color=never %s/basic.jsonl", golden);
    assert_int_equal(tool_run(args, NULL, &out), 0);
    assert_null(strchr(out, '\033'));
    free(out);

    /* Bad values are usage errors. */
    snprintf(args, sizeof(args), "report --color sometimes %s/basic.jsonl", golden);
    assert_int_equal(tool_run(args, NULL, &out), 2);
    free(out);
    snprintf(args, sizeof(args), "report --group-frames -1 %s/basic.jsonl", golden);
    assert_int_equal(tool_run(args, NULL, &out), 2);
    free(out);
    snprintf(args, sizeof(args), "report --format xml %s/basic.jsonl", golden);
    assert_int_equal(tool_run(args, NULL, &out), 2);
    free(out);
    assert_int_equal(tool_run("run --group-frames x -- true", NULL, &out), 2);
    free(out);
    assert_int_equal(tool_run("run --color x -- true", NULL, &out), 2);
    free(out);

    /* Every new option is in the help, with its default. */
    assert_int_equal(tool_run("report --help", NULL, &out), 0);
    assert_non_null(strstr(out, "--format text|json|sarif"));
    assert_non_null(strstr(out, "--group-frames N"));
    assert_non_null(strstr(out, "(default: 0, every frame)"));
    assert_non_null(strstr(out, "--color auto|always|never"));
    assert_non_null(strstr(out, "SOCKLEAK_DEBUGINFO_PATH"));
    free(out);
    assert_int_equal(tool_run("run --help", NULL, &out), 0);
    assert_non_null(strstr(out, "--group-frames N"));
    assert_non_null(strstr(out, "--color auto|always|never"));
    assert_non_null(strstr(out, "--format text|json|sarif"));
    free(out);
}

/* On a terminal, auto means colour unless NO_COLOR is set (script(1) gives
 * the tool a pseudo-terminal). */
static void test_tool_colour_on_a_terminal(void **state)
{
    char cmd[3 * PATH_MAX], *out;
    (void)state;

    if (access(tool, X_OK) != 0 || system("script --version >/dev/null 2>&1") != 0)
        skip();
    snprintf(cmd, sizeof(cmd),
             "env -u NO_COLOR script -qec '%s report %s/basic.jsonl 2>/dev/null' /dev/null", tool,
             golden);
    assert_int_equal(shell_run(cmd, &out), 0);
    assert_non_null(strstr(out, "\033[1;31m==sockleak=="));
    free(out);
    snprintf(cmd, sizeof(cmd),
             "NO_COLOR=1 script -qec '%s report %s/basic.jsonl 2>/dev/null' /dev/null", tool,
             golden);
    assert_int_equal(shell_run(cmd, &out), 0);
    assert_non_null(strstr(out, "==sockleak=="));
    assert_null(strchr(out, '\033'));
    free(out);
    snprintf(cmd, sizeof(cmd),
             "env -u NO_COLOR script -qec '%s report --color never %s/basic.jsonl 2>/dev/null' "
             "/dev/null",
             tool, golden);
    assert_int_equal(shell_run(cmd, &out), 0);
    assert_null(strchr(out, '\033'));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_built_has_source_lines),
        cmocka_unit_test(test_new_kinds_have_source_lines),
        cmocka_unit_test(test_tool_formats_and_options),
        cmocka_unit_test(test_tool_colour_on_a_terminal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* sockleak: the command-line tool. `sockleak run` runs a program under the
 * detector and reports; `sockleak report` reports from raw logs. */
#include "follow.h"
#include "held.h"
#include "libopts.h"
#include "logread.h"
#include "report.h"
#include "runs.h"
#include "run.h"
#include "serve.h"
#include "suppress.h"
#include "util.h"
#include "sockleak_options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef SOCKLEAK_VERSION
#define SOCKLEAK_VERSION "unknown"
#endif

static const char sl_main_usage[] =
    "Usage: sockleak COMMAND [OPTIONS] [ARGS...]\n"
    "Finds the code that leaves TCP connections in CLOSE_WAIT: the call site that\n"
    "read end-of-stream and then never closed the socket, and where it was created.\n"
    "\n"
    "Commands:\n"
    "  run [OPTIONS] -- PROGRAM [ARGS...]\n"
    "                 run PROGRAM with the detector preloaded, then report its leaks\n"
    "  report [OPTIONS] PATH...\n"
    "                 report from raw logs (files, or directories of *.jsonl files)\n"
    "  serve [--listen ADDR] PATH...\n"
    "                 serve the leaks of raw logs as Prometheus metrics on /metrics\n"
    "  help [COMMAND] this help, or COMMAND's (the same as `sockleak COMMAND --help`);\n"
    "                 `sockleak help options`: the library's SOCKLEAK_OPTIONS keys\n"
    "\n"
    "Options:\n"
    "  -h, --help     show this help; `sockleak COMMAND --help` shows a command's options\n"
    "  --version      print the version and exit\n"
    "\n"
    "Without the tool: LD_PRELOAD=/path/to/libsockleak.so SOCKLEAK_OPTIONS=key=value:...\n";

/* The top-level help, ending with the library's keys. */
static void sl_main_usage_print(FILE *out)
{
    fputs(sl_main_usage, out);
    sl_libopts_keys(out, "then `sockleak report DIR`. Keys:",
                    "(`sockleak help options` gives their defaults and ranges).");
}

static const char sl_main_report_usage[] =
    "Usage: sockleak report [OPTIONS] PATH...\n"
    "Reads raw logs (files, or directories: every *.jsonl inside), merges every\n"
    "process and run, groups the leaks by call site and prints them.\n"
    "\n"
    "Options:\n"
    "  --format text|json|sarif|openmetrics|prometheus\n"
    "                         report format (default: text). JSON is a stable schema,\n"
    "                         \"version\": 1; SARIF 2.1.0 is for code-scanning tools;\n"
    "                         openmetrics (OpenMetrics 1.0.0) and prometheus (the text\n"
    "                         format 0.0.4, for node_exporter's textfile collector) are\n"
    "                         metrics: leaks per kind, program and call site (see\n"
    "                         `sockleak serve --help`)\n"
    "  --group-frames N       group leaks by the top N frames of each stack only\n"
    "                         (default: 0, every frame)\n"
    "  --color auto|always|never\n"
    "                         colour in the text report (default: auto, only on a\n"
    "                         terminal and when NO_COLOR is unset or empty)\n"
    "  --suppressions FILE    suppression rules, one `KIND:PATTERN` a line, KIND being\n"
    "                         close_wait, unclosed_after_shutdown, close_wait_unread,\n"
    "                         close_wait_inherited, close_wait_unaccepted,\n"
    "                         double_close, time_wait_churn, open_at_exit,\n"
    "                         fd_exhaustion or *,\n"
    "                         PATTERN a glob matched against the function, source\n"
    "                         file and module of every frame of every stack of the\n"
    "                         finding; # starts a comment\n"
    "                         (default: none). A file a log header names\n"
    "                         (SOCKLEAK_OPTIONS suppressions=) applies to that\n"
    "                         process alone, and only from logs owned by you or root\n"
    "  --source-root DIR      your source tree: frames whose file is under DIR are\n"
    "                         your code (the call site is the first of them), and\n"
    "                         SARIF names those files relative to DIR (default: the\n"
    "                         runtimes and standard libraries are not your code;\n"
    "                         SARIF paths are relative to the current directory)\n"
    "  --error-exitcode N     exit with N (0..255) when a leak remains after\n"
    "                         suppressions (default: 0, leaks do not change the status)\n"
    "  -o FILE                write the report to FILE (default: standard output)\n"
    "  --all-runs             report every run found in a directory; by default a\n"
    "                         directory holding the logs of several `sockleak run`s\n"
    "                         (a reused --output) gives only its latest run\n"
    "  --follow               print each finding as it is logged, new processes and\n"
    "                         new files included, until interrupted (Ctrl-C: exit 0);\n"
    "                         a call site printed before gets a short line with its\n"
    "                         count so far. --format json: one object a line\n"
    "  -h, --help             show this help\n"
    "\n"
    "PATH directories are read recursively, in name order. Source lines come from\n"
    "the modules' debug information, also from separate debug files found by\n"
    "build-id or .gnu_debuglink under /usr/lib/debug, beside the module, in its\n"
    ".debug directory, and in the directories of SOCKLEAK_DEBUGINFO_PATH\n"
    "(colon-separated, searched first).\n"
    "\n"
    "Exit status: 0, N from --error-exitcode when leaks remain, 2 for bad arguments\n"
    "or unreadable input.\n";

static const char sl_main_run_usage[] =
    "Usage: sockleak run [OPTIONS] -- PROGRAM [ARGS...]\n"
    "Runs PROGRAM with libsockleak.so preloaded (added to any LD_PRELOAD), waits for it\n"
    "and for every process it left running, then prints the report of this run to\n"
    "standard error. Signals (INT, TERM, HUP, QUIT, USR1, USR2) sent to sockleak are\n"
    "passed on to PROGRAM; once PROGRAM has ended, one stops the wait for the rest.\n"
    "A run that could watch nothing (a static, Go or musl PROGRAM, a set-user-ID one,\n"
    "LD_PRELOAD removed) says so instead of \"no leaks\". A PROGRAM built with\n"
    "AddressSanitizer or ThreadSanitizer gets its runtime preloaded first.\n"
    "\n"
    "Options:\n"
    "  --deadline MS          a socket still open MS milliseconds after it read\n"
    "                         end-of-stream (and after its last send), or in\n"
    "                         CLOSE_WAIT that long unread, is a leak\n"
    "                         (default: " SL_OPTION_DEFAULT_TEXT(deadline_ms) "; "
    SL_OPTION_RANGE_TEXT(deadline_ms) ")\n"
    "  --output DIR           directory of the raw logs, created if needed\n"
    "                         (default: " SL_OPTION_DEFAULT_TEXT(output) ")\n"
    "  --frames N             stack frames recorded per stack (default: "
    SL_OPTION_DEFAULT_TEXT(frames) "; " SL_OPTION_RANGE_TEXT(frames) ")\n"
    "  --format text|json|sarif\n"
    "                         report format (default: text)\n"
    "  --group-frames N       group leaks by the top N frames of each stack only\n"
    "                         (default: 0, every frame)\n"
    "  --color auto|always|never\n"
    "                         colour in the text report (default: auto, only on a\n"
    "                         terminal and when NO_COLOR is unset or empty)\n"
    "  --suppressions FILE    suppression rules (see `sockleak report --help`)\n"
    "  --source-root DIR      your source tree (see `sockleak report --help`)\n"
    "  --error-exitcode N     exit with N (0..255) when a leak remains after\n"
    "                         suppressions (default: PROGRAM's exit status)\n"
    "  --quiet                no report when there is no leak, and no messages from\n"
    "                         the library (verbosity=0)\n"
    "  --verbosity N          the library's messages: 0 none, 1 warnings, 2 one line\n"
    "                         per finding (default: " SL_OPTION_DEFAULT_TEXT(verbosity)
    ", or 0 with --quiet); from 1 the\n"
    "                         tool also says what it preloaded and waited for\n"
    "  --at-exit[=all]        also report what each process still holds when it exits,\n"
    "                         whatever the deadline: sockets that read end-of-stream\n"
    "                         or sit in CLOSE_WAIT (for tests and short-lived programs);\n"
    "                         =all: also every stream socket still open, whatever its\n"
    "                         state (open_at_exit, with its TCP state), for CI that\n"
    "                         wants none\n"
    "  --churn-share PERCENT  a connect call site whose TIME_WAIT sockets to one\n"
    "                         destination fill PERCENT of the ephemeral port range is\n"
    "                         a time_wait_churn finding; 0: only connects failing\n"
    "                         with EADDRNOTAVAIL are (default: "
    SL_OPTION_DEFAULT_TEXT(churn_share) "; " SL_OPTION_RANGE_TEXT(churn_share) ")\n"
    "  --no-wait-descendants  report as soon as PROGRAM ends, without waiting for the\n"
    "                         processes it left running (their later leaks are missed)\n"
    "  -o, --output-report FILE\n"
    "                         write the report to FILE instead of standard error\n"
    "                         (created or truncated, mode 0600; refused when FILE is\n"
    "                         a symbolic link, a FIFO or a directory)\n"
    "  -h, --help             show this help\n"
    "\n"
    "The library is SOCKLEAK_LIBRARY if set, else libsockleak.so beside the sockleak\n"
    "executable, else ../lib/libsockleak.so from it, else the installed one.\n"
    "Extra library options can be given in SOCKLEAK_OPTIONS; those set by this\n"
    "command take precedence.\n"
    "\n"
    "Exit status: N from --error-exitcode when leaks remain; otherwise PROGRAM's exit\n"
    "status, or 128+SIG when it was killed by signal SIG; 126/127 when PROGRAM cannot\n"
    "be run; 2 for bad arguments.\n";

enum {
    SL_OPT_FORMAT = 256,
    SL_OPT_SUPP,
    SL_OPT_EXITCODE,
    SL_OPT_DEADLINE,
    SL_OPT_OUTPUT,
    SL_OPT_FRAMES,
    SL_OPT_QUIET,
    SL_OPT_VERBOSITY,
    SL_OPT_VERSION,
    SL_OPT_GROUP_FRAMES,
    SL_OPT_COLOR,
    SL_OPT_NO_WAIT,
    SL_OPT_AT_EXIT,
    SL_OPT_CHURN_SHARE,
    SL_OPT_SOURCE_ROOT,
    SL_OPT_FOLLOW,
    SL_OPT_ALL_RUNS,
};

static int sl_main_bad(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "sockleak%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'sockleak %s%s--help' for more information.\n", cmd ? cmd : "",
            cmd ? " " : "");
    return 2;
}

/* Reports an option getopt_long rejected: unknown or missing its value. */
static int sl_main_getopt_error(const char *cmd, int c, char **argv)
{
    const char *opt = argv[optind - 1];
    char shortopt[3] = {'-', (char)optopt, 0};

    if (optopt && optopt < 256)
        opt = shortopt;
    if (c == ':')
        return sl_main_bad(cmd, "option '%s' needs a value", opt);
    return sl_main_bad(cmd, "unknown option '%s'", opt);
}

static bool sl_main_format(const char *s, enum sl_report_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = SL_REPORT_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = SL_REPORT_JSON;
    else if (strcmp(s, "sarif") == 0)
        *out = SL_REPORT_SARIF;
    else if (strcmp(s, "openmetrics") == 0)
        *out = SL_REPORT_OPENMETRICS;
    else if (strcmp(s, "prometheus") == 0)
        *out = SL_REPORT_PROMETHEUS;
    else
        return false;
    return true;
}

static bool sl_main_colour(const char *s, enum sl_report_colour *out)
{
    if (strcmp(s, "auto") == 0)
        *out = SL_REPORT_COLOUR_AUTO;
    else if (strcmp(s, "always") == 0)
        *out = SL_REPORT_COLOUR_ALWAYS;
    else if (strcmp(s, "never") == 0)
        *out = SL_REPORT_COLOUR_NEVER;
    else
        return false;
    return true;
}

#define SL_MAIN_MAX_GROUP_FRAMES 1024

/* --source-root: the directory, resolved when it exists here; an absolute
 * path that does not (logs gathered from another machine) is taken as
 * given. No trailing '/'. Kept for the life of the process. */
static bool sl_main_source_root(const char *s, const char **out)
{
    static char buf[PATH_MAX];
    struct stat st;
    size_t n;

    if (realpath(s, buf)) {
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
            return false;
    } else if (s[0] == '/' && strlen(s) < sizeof(buf)) {
        strcpy(buf, s);
        for (n = strlen(buf); n > 1 && buf[n - 1] == '/';)
            buf[--n] = '\0';
    } else {
        return false;
    }
    *out = buf;
    return true;
}

static bool sl_main_group_frames(const char *s, size_t *out)
{
    long v;

    if (!sl_util_parse_long(s, 0, SL_MAIN_MAX_GROUP_FRAMES, &v))
        return false;
    *out = (size_t)v;
    return true;
}

/* The long options run and report share. */
#define SL_MAIN_COMMON_LONGOPTS                                                                    \
    {"format", required_argument, NULL, SL_OPT_FORMAT},                                            \
        {"group-frames", required_argument, NULL, SL_OPT_GROUP_FRAMES},                            \
        {"color", required_argument, NULL, SL_OPT_COLOR},                                          \
        {"colour", required_argument, NULL, SL_OPT_COLOR},                                         \
        {"suppressions", required_argument, NULL, SL_OPT_SUPP},                                    \
        {"source-root", required_argument, NULL, SL_OPT_SOURCE_ROOT},                              \
    {                                                                                              \
        "error-exitcode", required_argument, NULL, SL_OPT_EXITCODE                                 \
    }

/* Parses one of the options run and report share into ro, supp and
 * *exitcode. Returns 1 when c was one of them and its value is good, 0 when c
 * is not one of them, -1 after printing why the value is not usable. */
static int sl_main_common_option(const char *cmd, int c, const char *arg, struct sl_report_opts *ro,
                                 struct sl_supp_set *supp, long *exitcode)
{
    const char *bad = NULL;

    switch (c) {
    case SL_OPT_FORMAT:
        if (!sl_main_format(arg, &ro->format))
            bad = "--format must be text, json, sarif, openmetrics or prometheus, not '%s'";
        break;
    case SL_OPT_GROUP_FRAMES:
        if (!sl_main_group_frames(arg, &ro->group_frames))
            bad = "--group-frames needs a number 0..1024, not '%s'";
        break;
    case SL_OPT_COLOR:
        if (!sl_main_colour(arg, &ro->colour))
            bad = "--color must be auto, always or never, not '%s'";
        break;
    case SL_OPT_SOURCE_ROOT:
        if (!sl_main_source_root(arg, &ro->source_root))
            bad = "--source-root needs a directory (or an absolute path), not '%s'";
        break;
    case SL_OPT_SUPP:
        if (sl_supp_load(supp, arg) < 0)
            return -1; /* sl_supp_load said why */
        break;
    case SL_OPT_EXITCODE:
        if (!sl_util_parse_long(arg, 0, 255, exitcode))
            bad = "--error-exitcode needs a number 0..255, not '%s'";
        break;
    default:
        return 0;
    }
    if (bad) {
        sl_main_bad(cmd, bad, arg);
        return -1;
    }
    return 1;
}

/* Reads every PATH into logs; unless all_runs, a directory holding several
 * runs keeps its latest only. Returns 0, or -1 after printing an error. */
static int sl_main_read(struct sl_logread_set *logs, char **paths, int n, bool all_runs)
{
    bool *from_dir = NULL;
    struct sl_runs_left_out out;

    for (int i = 0; i < n; i++) {
        struct stat st;
        size_t before = logs->n_procs;
        bool dir = stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode);

        if (sl_logread_path(logs, paths[i]) < 0) {
            free(from_dir);
            return -1;
        }
        from_dir = sl_util_xrealloc(from_dir, (logs->n_procs + 1) * sizeof(*from_dir));
        for (size_t j = before; j < logs->n_procs; j++)
            from_dir[j] = dir;
    }
    if (!all_runs && logs->n_procs) {
        out = sl_runs_latest_only(logs, from_dir);
        sl_runs_say(&out);
    }
    free(from_dir);
    sl_held_as_of(logs, sl_held_now_ms());
    return 0;
}

/* What the options parsers return when the command is to go on. */
#define SL_MAIN_GO_ON (-1)

struct sl_main_report_args {
    struct sl_report_opts ro;
    struct sl_supp_set supp;
    const char *outfile; /* -o, or NULL */
    long exitcode;       /* --error-exitcode */
    bool follow, all_runs;
};

/* Parses report's options into *a. Returns SL_MAIN_GO_ON with optind at the
 * first PATH, or the exit status: 0 after --help, 2 after printing why the
 * arguments are not usable. */
static int sl_main_report_options(int argc, char **argv, struct sl_main_report_args *a)
{
    static const struct option longopts[] = {
        SL_MAIN_COMMON_LONGOPTS,
        {"follow", no_argument, NULL, SL_OPT_FOLLOW},
        {"all-runs", no_argument, NULL, SL_OPT_ALL_RUNS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
        int common = sl_main_common_option("report", c, optarg, &a->ro, &a->supp, &a->exitcode);
        if (common < 0)
            return 2;
        if (common > 0)
            continue;
        switch (c) {
        case 'h':
            fputs(sl_main_report_usage, stdout);
            return 0;
        case 'o':
            a->outfile = optarg;
            break;
        case SL_OPT_FOLLOW:
            a->follow = true;
            break;
        case SL_OPT_ALL_RUNS:
            a->all_runs = true;
            break;
        default:
            return sl_main_getopt_error("report", c, argv);
        }
    }
    if (optind >= argc)
        return sl_main_bad("report", "%s", "no PATH given (log files or directories)");
    if (a->follow && a->ro.format == SL_REPORT_SARIF)
        return sl_main_bad("report", "%s", "--follow prints text or json, not sarif");
    return SL_MAIN_GO_ON;
}

/* Reads the logs of paths (unless following them), opens -o FILE, and
 * reports or follows. Returns the exit status. */
static int sl_main_report_paths(struct sl_main_report_args *a, char **paths, int n)
{
    struct sl_logread_set logs;
    int rc = 0;
    int64_t leaks;

    sl_logread_init(&logs, NULL);
    if (!a->follow && sl_main_read(&logs, paths, n, a->all_runs) < 0) {
        sl_logread_free(&logs);
        return 2;
    }
    if (a->outfile) {
        a->ro.out = fopen(a->outfile, "we");
        if (!a->ro.out) {
            fprintf(stderr, "sockleak: cannot write %s: %s\n", a->outfile, strerror(errno));
            sl_logread_free(&logs);
            return 2;
        }
    }
    a->ro.supp = a->supp.n ? &a->supp : NULL;
    leaks = a->follow ? 0 : sl_report_emit(&a->ro, &logs);
    if (a->follow)
        rc = sl_follow(&a->ro, paths, n, a->all_runs);
    else if (leaks < 0)
        rc = 2;
    else if (leaks > 0)
        rc = (int)a->exitcode;
    if (a->outfile && fclose(a->ro.out) != 0 && rc != 2) {
        fprintf(stderr, "sockleak: cannot write %s: %s\n", a->outfile, strerror(errno));
        rc = 2;
    }
    sl_logread_free(&logs);
    return rc;
}

static int sl_main_report(int argc, char **argv)
{
    struct sl_main_report_args a = {.ro = {.format = SL_REPORT_TEXT, .out = stdout}};
    int rc = sl_main_report_options(argc, argv, &a);

    if (rc == SL_MAIN_GO_ON)
        rc = sl_main_report_paths(&a, argv + optind, argc - optind);
    sl_supp_free(&a.supp);
    return rc;
}

/* Parses one option of run alone into *o; false when c is none of them.
 * *bad gets the message for an unusable value. */
static bool sl_main_run_option(int c, const char *arg, struct sl_run_opts *o, const char **bad)
{
    switch (c) {
    case SL_OPT_DEADLINE:
        if (!sl_util_parse_long(arg, SL_OPTION_MIN(deadline_ms), SL_OPTION_MAX(deadline_ms),
                                &o->deadline_ms))
            *bad = "--deadline needs milliseconds " SL_OPTION_RANGE_TEXT(deadline_ms) ", not '%s'";
        break;
    case SL_OPT_OUTPUT:
        if (!*arg)
            *bad = "--output needs a directory%s";
        o->output = arg;
        break;
    case SL_OPT_FRAMES:
        if (!sl_util_parse_long(arg, SL_OPTION_MIN(frames), SL_OPTION_MAX(frames), &o->frames))
            *bad = "--frames needs a number " SL_OPTION_RANGE_TEXT(frames) ", not '%s'";
        break;
    case SL_OPT_QUIET:
        o->quiet = true;
        break;
    case SL_OPT_NO_WAIT:
        o->no_wait_descendants = true;
        break;
    case SL_OPT_AT_EXIT:
        o->at_exit = 1;
        if (arg && strcmp(arg, "all") == 0)
            o->at_exit = 2;
        else if (arg)
            *bad = "--at-exit takes no value or =all, not '%s'";
        break;
    case SL_OPT_CHURN_SHARE:
        if (!sl_util_parse_long(arg, SL_OPTION_MIN(churn_share), SL_OPTION_MAX(churn_share),
                                &o->churn_share))
            *bad = "--churn-share needs a percentage " SL_OPTION_RANGE_TEXT(churn_share)
                   ", not '%s'";
        break;
    case 'o':
        if (!*arg)
            *bad = "--output-report needs a file name%s";
        o->report_file = arg;
        break;
    case SL_OPT_VERBOSITY:
        if (!sl_util_parse_long(arg, SL_OPTION_MIN(verbosity), SL_OPTION_MAX(verbosity),
                                &o->verbosity))
            *bad = "--verbosity needs " SL_OPTION_RANGE_TEXT(verbosity) ", not '%s'";
        break;
    default:
        return false;
    }
    return true;
}

/* Parses run's options into *o and *supp. Returns SL_MAIN_GO_ON with optind
 * at PROGRAM, or the exit status: 0 after --help, 2 after printing why the
 * arguments are not usable. */
static int sl_main_run_options(int argc, char **argv, struct sl_run_opts *o,
                               struct sl_supp_set *supp)
{
    static const struct option longopts[] = {
        {"deadline", required_argument, NULL, SL_OPT_DEADLINE},
        {"output", required_argument, NULL, SL_OPT_OUTPUT},
        {"frames", required_argument, NULL, SL_OPT_FRAMES},
        SL_MAIN_COMMON_LONGOPTS,
        {"quiet", no_argument, NULL, SL_OPT_QUIET},
        {"verbosity", required_argument, NULL, SL_OPT_VERBOSITY},
        {"no-wait-descendants", no_argument, NULL, SL_OPT_NO_WAIT},
        {"at-exit", optional_argument, NULL, SL_OPT_AT_EXIT},
        {"churn-share", required_argument, NULL, SL_OPT_CHURN_SHARE},
        {"output-report", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 1;
    opterr = 0;
    /* '+': options end at PROGRAM, whose own options are its business. */
    while ((c = getopt_long(argc, argv, "+:ho:", longopts, NULL)) != -1) {
        const char *bad = NULL;
        int common = sl_main_common_option("run", c, optarg, &o->report, supp, &o->error_exitcode);
        if (common < 0)
            return 2;
        if (common > 0)
            continue;
        if (c == 'h') {
            fputs(sl_main_run_usage, stdout);
            return 0;
        }
        if (!sl_main_run_option(c, optarg, o, &bad))
            return sl_main_getopt_error("run", c, argv);
        if (bad)
            return sl_main_bad("run", bad, optarg);
    }
    if (optind >= argc)
        return sl_main_bad("run", "%s", "no PROGRAM given (sockleak run [OPTIONS] -- PROGRAM)");
    return SL_MAIN_GO_ON;
}

static int sl_main_run(int argc, char **argv)
{
    struct sl_run_opts o = {
        .deadline_ms = -1,
        .churn_share = -1,
        .output = SL_OPTION_DEFAULT_TEXT(output),
        .frames = -1,
        .verbosity = -1,
        .error_exitcode = -1,
        .report = {.format = SL_REPORT_TEXT, .out = stderr},
    };
    struct sl_supp_set supp = {0};
    int rc = sl_main_run_options(argc, argv, &o, &supp);

    if (rc == SL_MAIN_GO_ON) {
        o.argv = argv + optind;
        o.report.quiet = o.quiet;
        o.report.supp = supp.n ? &supp : NULL;
        rc = sl_run(&o);
    }
    sl_supp_free(&supp);
    return rc;
}

int main(int argc, char **argv);

/* `sockleak help COMMAND` is `sockleak COMMAND --help`, for any command;
 * `sockleak help options` prints the library's SOCKLEAK_OPTIONS keys. */
static int sl_main_help(char *self, char *topic, int extra)
{
    char help[] = "--help";
    char *av[] = {self, topic, help, NULL};

    if (extra > 0)
        return sl_main_bad(NULL, "%s", "help takes one COMMAND");
    if (topic[0] == '-')
        return sl_main_bad(NULL, "unknown command '%s'", topic);
    if (strcmp(topic, "options") == 0) {
        sl_libopts_help(stdout);
        return 0;
    }
    if (strcmp(topic, "help") == 0)
        av[1] = help; /* `sockleak --help --help` */
    return main(3, av);
}

static const char sl_main_serve_usage[] =
    "Usage: sockleak serve [OPTIONS] PATH...\n"
    "Serves the leaks of raw logs (files, or directories: every *.jsonl inside) as\n"
    "metrics on GET /metrics, for Prometheus to scrape. Every scrape reads what was\n"
    "appended to the logs since the last one (whole lines only), picks up new files,\n"
    "reads a truncated or replaced file again and forgets deleted ones. Runs until\n"
    "SIGINT or SIGTERM.\n"
    "\n"
    "Options:\n"
    "  --listen ADDR          where to listen: HOST:PORT, :PORT (every address) or\n"
    "                         [IPV6]:PORT (default: " SL_SERVE_DEFAULT_LISTEN "); port 0\n"
    "                         picks a free one; each address is printed on stderr.\n"
    "                         May be given up to 16 times. Under systemd socket\n"
    "                         activation (LISTEN_FDS, LISTEN_PID) the sockets passed\n"
    "                         are used instead, and no --listen may be given\n"
    "  --web.config.file FILE\n"
    "                         TLS, client certificates, basic auth and response\n"
    "                         headers, in the Prometheus exporter toolkit's format:\n"
    "                         tls_server_config (cert_file, key_file, client_ca_file,\n"
    "                         client_auth_type, min_version, max_version),\n"
    "                         basic_auth_users (user: bcrypt hash) and\n"
    "                         http_server_config (headers, http2). The file must be\n"
    "                         yours (or root's) and writable by no one else; a bad\n"
    "                         key exits 2, naming it. SIGHUP reads it again:\n"
    "                         certificates and users change without closing the\n"
    "                         listening sockets; a file that no longer reads is\n"
    "                         said on stderr and the old configuration stays\n"
    "  --suppressions FILE    suppression rules (see `sockleak report --help`)\n"
    "  -h, --help             show this help\n"
    "\n"
    "Metrics (labels kind, program, function, file, line: the report's call site,\n"
    "the first frame in your code; never pids, fds, ports or addresses):\n"
    "  sockleak_leaked_sockets_total      counter: sockets found leaked\n"
    "  sockleak_double_closes_total       counter: double_close findings (only when\n"
    "                                     there are some)\n"
    "  sockleak_fd_exhaustion_total       counter: fd_exhaustion findings, at the\n"
    "                                     failing call (only when there are some)\n"
    "  sockleak_time_wait_churn_total     counter: time_wait_churn findings, at the\n"
    "                                     connect (only when there are some)\n"
    "  sockleak_time_wait_sockets{program,function,file,line,destination}\n"
    "                                     gauge: TIME_WAIT sockets the kernel last\n"
    "                                     counted to the destination of such a call\n"
    "                                     site, while its process runs here\n"
    "  sockleak_ephemeral_ports{program}  gauge: size of the ephemeral port range\n"
    "                                     those findings were measured against\n"
    "  sockleak_open_sockets{program,function,file,line,state}\n"
    "                                     gauge: TCP sockets held per creation site\n"
    "                                     and kernel state by the processes still\n"
    "                                     running here (their latest census)\n"
    "  sockleak_fd_limit{program}         gauge: RLIMIT_NOFILE soft limit of its\n"
    "                                     running processes (the lowest)\n"
    "  sockleak_open_fds{program}         gauge: open descriptors of its running\n"
    "                                     process holding the most\n"
    "  sockleak_close_wait_sockets        gauge: of a close_wait kind, not closed yet,\n"
    "                                     held by a process still running here\n"
    "  sockleak_tcp_sockets{program,state} gauge: TCP sockets per kernel state of\n"
    "                                     the processes with a log still running here\n"
    "  sockleak_metrics_dropped_series    gauge: series left out past the cap of 1000\n"
    "The response is OpenMetrics 1.0.0 when the request accepts it (Prometheus\n"
    "does), else the text format 0.0.4. Other paths get 404, other methods 405;\n"
    "requests are limited to 8 KiB of headers (sent within 3 seconds) and\n"
    "connections to 10 seconds; at most 32 are open, and a new one closes the one\n"
    "that has sent no whole request for the longest.\n"
    "\n"
    "Exit status: 0 after SIGINT or SIGTERM, 2 for bad arguments, a bad web config\n"
    "file, or when it cannot listen.\n";

static int sl_main_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"web.config.file", required_argument, NULL, 'w'},
        {"suppressions", required_argument, NULL, SL_OPT_SUPP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sl_serve_opts so = {0};
    struct sl_supp_set supp = {0};
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(sl_main_serve_usage, stdout);
            sl_supp_free(&supp);
            return 0;
        }
        if (c == 'l') {
            if (so.n_listen == SL_SERVE_MAX_LISTEN) {
                sl_supp_free(&supp);
                return sl_main_bad("serve", "%s", "more than 16 --listen addresses");
            }
            so.listen[so.n_listen++] = optarg;
        } else if (c == 'w') {
            so.web_config = optarg;
        } else if (c == SL_OPT_SUPP) {
            if (sl_supp_load(&supp, optarg) < 0) {
                sl_supp_free(&supp);
                return 2;
            }
        } else {
            sl_supp_free(&supp);
            return sl_main_getopt_error("serve", c, argv);
        }
    }
    if (optind >= argc) {
        sl_supp_free(&supp);
        return sl_main_bad("serve", "%s", "no PATH given (log files or directories)");
    }
    so.paths = argv + optind;
    so.n_paths = (size_t)(argc - optind);
    so.supp = supp.n ? &supp : NULL;
    rc = sl_serve(&so);
    sl_supp_free(&supp);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (!cmd) {
        sl_main_usage_print(stderr);
        return 2;
    }
    if (strcmp(cmd, "help") == 0 && argc > 2)
        return sl_main_help(argv[0], argv[2], argc - 3);
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        sl_main_usage_print(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("sockleak %s\n", SOCKLEAK_VERSION);
        return 0;
    }
    if (strcmp(cmd, "report") == 0)
        return sl_main_report(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return sl_main_run(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return sl_main_serve(argc - 1, argv + 1);
    if (cmd[0] == '-')
        return sl_main_bad(NULL, "unknown option '%s'", cmd);
    return sl_main_bad(NULL, "unknown command '%s' (commands: run, report, serve)", cmd);
}

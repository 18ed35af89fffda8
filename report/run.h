/* `sockleak run`: run a program with the library preloaded, then report. */
#ifndef SL_REPORT_RUN_H
#define SL_REPORT_RUN_H

#include "report.h"

struct sl_run_opts {
    long deadline_ms;   /* -1: not given */
    const char *output; /* log directory, may be relative */
    long frames;        /* -1: not given */
    long verbosity;     /* -1: the library's default (0 with quiet) */
    bool quiet;
    bool no_wait_descendants; /* report when the direct child ends */
    int at_exit;         /* report what each process leaves open at exit: 1, 2 (=all) */
    long churn_share;    /* -1: not given */
    long error_exitcode; /* -1: unset */
    const char *report_file; /* -o FILE: the report goes there, not to stderr; NULL */
    char **argv;         /* PROGRAM ARGS..., NULL-terminated */
    struct sl_report_opts report;
};

/* Runs the program and reports; returns the tool's exit status. */
int sl_run(const struct sl_run_opts *o);

/* Where the library is (see `sockleak run --help`): a malloc'd absolute path,
 * or NULL after printing where it looked. */
char *sl_run_find_library(void);

/* path made absolute against the working directory (malloc'd). */
char *sl_run_abspath(const char *path);

/* mkdir -p, each directory it makes 0700: the logs hold command lines, and
 * a privilege-dropping worker makes its log before the drop, so nobody else
 * needs to write there. 0 or -1 with errno set. */
int sl_run_mkdirs(const char *path);

#endif

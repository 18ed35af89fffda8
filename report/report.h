/* The report pipeline shared by `sockleak report` and `sockleak run`: logs in
 * memory -> symbolized groups -> suppressions -> text or JSON. */
#ifndef SL_REPORT_REPORT_H
#define SL_REPORT_REPORT_H

#include "logread.h"
#include "suppress.h"
#include "watch.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* OPENMETRICS and PROMETHEUS: the metrics of report/metrics.h, in OpenMetrics
 * 1.0.0 or the Prometheus text format 0.0.4. */
enum sl_report_format {
    SL_REPORT_TEXT,
    SL_REPORT_JSON,
    SL_REPORT_SARIF,
    SL_REPORT_OPENMETRICS,
    SL_REPORT_PROMETHEUS
};

/* Text colour: AUTO is on a terminal with NO_COLOR unset or empty. */
enum sl_report_colour { SL_REPORT_COLOUR_AUTO, SL_REPORT_COLOUR_ALWAYS, SL_REPORT_COLOUR_NEVER };

struct sl_report_opts {
    enum sl_report_format format;
    enum sl_report_colour colour;
    size_t group_frames;      /* group by this many top frames; 0: all */
    struct sl_supp_set *supp; /* may be NULL */
    FILE *out;
    bool quiet; /* print nothing when no leak remains */
    const struct sl_watch *watch; /* `sockleak run`: what it could watch; NULL otherwise */
    /* --source-root: an absolute directory without a trailing '/', or NULL.
     * Files under it are user code, and SARIF names them relative to it. */
    const char *source_root;
};

/* Writes the report of logs; returns the leaks left after suppressions, or
 * -1 after printing an error when the output cannot be written. */
int64_t sl_report_emit(const struct sl_report_opts *o, const struct sl_logread_set *logs);

#endif

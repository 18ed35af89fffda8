/* Metrics for Prometheus: the leaks of raw logs as OpenMetrics 1.0.0 or the
 * Prometheus text format 0.0.4 (`sockleak report --format openmetrics`,
 * `sockleak serve`), and the kernel's TCP states of the processes with a
 * log that still run. Labels name call sites, kinds, programs and states
 * only, never pids, fds, ports or addresses, and the number of series is
 * capped. */
#ifndef SL_REPORT_METRICS_H
#define SL_REPORT_METRICS_H

#include "logread.h"
#include "suppress.h"
#include "symbolize.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Series kept per metric family; the rest (fewest leaks, or programs with
 * fewest sockets, first) are left out and counted in
 * sockleak_metrics_dropped_series. */
#define SL_METRICS_MAX_SERIES 1000

#define SL_METRICS_CONTENT_TYPE_OM "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define SL_METRICS_CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"

struct sl_metrics_opts {
    bool openmetrics;         /* OpenMetrics 1.0.0; else the Prometheus text format */
    struct sl_supp_set *supp; /* rules of --suppressions, or NULL (not changed) */
    struct sl_sym_ctx *sym;   /* symbolizer, kept between calls by serve */
    size_t max_series;        /* 0: SL_METRICS_MAX_SERIES */
};

/* Writes the metrics of the n processes (borrowed; several files' sets may
 * be mixed). Returns 0, or -1 on a write error. */
int sl_metrics_write(FILE *out, const struct sl_logread_process *const *procs, size_t n,
                     const struct sl_metrics_opts *o);

/* s as a label value between the quotes (malloc'd): backslash, double quote
 * and newline escaped as the formats require, invalid UTF-8 and the other
 * control characters replaced by U+FFFD. */
char *sl_metrics_escape(const char *s);

/* True when the process that wrote p still runs on this machine: no footer,
 * its pid exists, and that pid's start time is the header's. */
bool sl_metrics_alive(const struct sl_logread_process *p);

#endif

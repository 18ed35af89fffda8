#include "report.h"
#include "format.h"
#include "group.h"
#include "metrics.h"
#include "symbolize.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Adds the suppression files the processes named in SOCKLEAK_OPTIONS
 * (suppressions=, kept by the reader only from logs it may trust), each file
 * once, scoped to the processes that named it. One that cannot be used has
 * already said why; the report goes on without it. */
static void sl_report_log_suppressions(struct sl_supp_set *set, const struct sl_logread_set *logs)
{
    for (size_t i = 0; i < logs->n_procs; i++) {
        const char *f = logs->procs[i].suppressions;
        bool seen = false;
        for (size_t j = 0; f && j < i && !seen; j++)
            seen = logs->procs[j].suppressions && strcmp(logs->procs[j].suppressions, f) == 0;
        if (f && !seen)
            sl_supp_load_scoped(set, f);
    }
}

/* The metrics of every process of logs, suppressions as for the report. */
static int sl_report_metrics(const struct sl_report_opts *o, const struct sl_logread_set *logs,
                             struct sl_sym_ctx *sym)
{
    struct sl_metrics_opts mo = {
        .openmetrics = o->format == SL_REPORT_OPENMETRICS, .supp = o->supp, .sym = sym};
    const struct sl_logread_process **procs = calloc(logs->n_procs + 1, sizeof(*procs));
    int rc;

    if (!procs)
        return -1;
    for (size_t i = 0; i < logs->n_procs; i++)
        procs[i] = &logs->procs[i];
    rc = sl_metrics_write(o->out, procs, logs->n_procs, &mo);
    free(procs);
    return rc;
}

int64_t sl_report_emit(const struct sl_report_opts *o, const struct sl_logread_set *logs)
{
    struct sl_group_set groups;
    struct sl_sym_ctx *sym = sl_sym_new(false);
    struct sl_supp_set local = {0};
    struct sl_supp_set *supp = o->supp ? o->supp : &local;
    int64_t leaks;
    int rc = 0;

    sl_report_log_suppressions(supp, logs);
    if (supp->n == 0)
        supp = NULL;
    sl_group_build_src(&groups, logs, o->group_frames, o->source_root);
    sl_group_symbolize(&groups, sym);
    if (supp)
        sl_supp_apply(supp, &groups);
    /* The exit status counts every finding left: a double close or a call
     * site churning through the port range is a bug as a leak is; a socket
     * open at exit is there only when at_exit=all asked for none. */
    leaks = groups.leaks + groups.double_closes + groups.churns + groups.open_at_exit +
            groups.fdexhs;
    /* An unwatched run is no clean one: --quiet keeps its report. */
    if (!(o->quiet && leaks == 0 && !(o->watch && !o->watch->watched))) {
        bool colour = o->colour == SL_REPORT_COLOUR_ALWAYS ||
                      (o->colour == SL_REPORT_COLOUR_AUTO && sl_fmt_want_colour(o->out));

        if (o->format == SL_REPORT_JSON)
            rc = sl_fmt_json(o->out, &groups, supp, o->watch);
        else if (o->format == SL_REPORT_SARIF)
            rc = sl_fmt_sarif(o->out, &groups, supp);
        else if (o->format == SL_REPORT_OPENMETRICS || o->format == SL_REPORT_PROMETHEUS)
            rc = sl_report_metrics(o, logs, sym);
        else
            rc = sl_fmt_text(o->out, &groups, supp, colour, o->watch);
        if (rc == 0 && fflush(o->out) != 0)
            rc = -1;
        if (rc < 0)
            fprintf(stderr, "sockleak: cannot write the report: %s\n", strerror(errno));
    }
    sl_group_free(&groups);
    sl_sym_free(sym);
    sl_supp_free(&local);
    return rc < 0 ? -1 : leaks;
}

#include "report.h"
#include "format.h"
#include "group.h"
#include "symbolize.h"

#include <errno.h>
#include <string.h>

int64_t sl_report_emit(const struct sl_report_opts *o, const struct sl_logread_set *logs)
{
    struct sl_group_set groups;
    struct sl_sym_ctx *sym = sl_sym_new(false);
    int64_t leaks;
    int rc = 0;

    sl_group_build_n(&groups, logs, o->group_frames);
    sl_group_symbolize(&groups, sym);
    if (o->supp)
        sl_supp_apply(o->supp, &groups);
    leaks = groups.leaks;
    if (!(o->quiet && leaks == 0)) {
        bool colour = o->colour == SL_REPORT_COLOUR_ALWAYS ||
                      (o->colour == SL_REPORT_COLOUR_AUTO && sl_fmt_want_colour(o->out));

        if (o->format == SL_REPORT_JSON)
            rc = sl_fmt_json(o->out, &groups, o->supp);
        else if (o->format == SL_REPORT_SARIF)
            rc = sl_fmt_sarif(o->out, &groups, o->supp);
        else
            rc = sl_fmt_text(o->out, &groups, o->supp, colour);
        if (rc == 0 && fflush(o->out) != 0)
            rc = -1;
        if (rc < 0)
            fprintf(stderr, "sockleak: cannot write the report: %s\n", strerror(errno));
    }
    sl_group_free(&groups);
    sl_sym_free(sym);
    return rc < 0 ? -1 : leaks;
}

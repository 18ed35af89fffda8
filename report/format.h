/* Report output: the stable JSON schema (version 1), SARIF 2.1.0 and
 * sanitizer-like text. */
#ifndef SL_REPORT_FORMAT_H
#define SL_REPORT_FORMAT_H

#include "group.h"
#include "suppress.h"
#include "watch.h"

#include <jansson.h>
#include <stdio.h>

#define SL_FMT_JSON_VERSION 1

/* What to do about a time_wait_churn finding, one line for every format. */
#define SL_FMT_CHURN_ADVICE                                                                        \
    "keep connections open and reuse them (HTTP keep-alive, a connection pool) instead of one "    \
    "connection per request; sysctls such as tcp_tw_reuse or a wider ip_local_port_range only "    \
    "hide it"
/* The threshold's meaning, for the headline. */
#define SL_FMT_CHURN_WHAT "TIME_WAIT sockets of one connect call site to one destination"

/* A time_wait_churn group's own keys (destination, connections, rate_per_s,
 * time_wait_peak, port_range, exhausted, advice, top_sites) into o: JSON's
 * finding, SARIF's result properties. */
void sl_fmt_json_churn(json_t *o, const struct sl_group_set *set, const struct sl_group *g);

/* What to do about an fd_exhaustion finding, one line for every format. */
#define SL_FMT_FDEXH_ADVICE                                                                        \
    "close the sockets the largest holder keeps (a connection that is done, an idle keep-alive "   \
    "past its use) or bound how many it keeps (a pool size, a connection limit); a higher "        \
    "ulimit -n only postpones it"

/* An fd_exhaustion group's own keys (call, errno, limit, open_fds, advice,
 * holders) into o: JSON's finding, SARIF's result properties. */
void sl_fmt_json_fdexh(json_t *o, const struct sl_group_set *set, const struct sl_group *g);

/* A JSON string for s, which need not be valid UTF-8 (names from debug
 * information may not be): invalid bytes become U+FFFD rather than the value
 * going missing. Never NULL. */
json_t *sl_fmt_json_str(const char *s);
/* A group's call site as the report's "call_site" object, or null. */
json_t *sl_fmt_json_call_site(const struct sl_group *g);

/* Adds the kernel-swept kinds' maxima and the at-exit count of g to o
 * (JSON's group, SARIF's result properties): each only when some finding had
 * it, so the findings of the older kinds look as they always did. */
void sl_fmt_json_swept_counts(json_t *o, const struct sl_group *g);

/* True when rule i belongs in the report's list of rules: a rule from a file
 * a log named is listed only when it suppressed something. */
bool sl_fmt_rule_listed(const struct sl_supp_rule *r);

/* The whole report as a JSON object (caller owns the reference). The groups
 * must be symbolized and suppressions applied. */
/* The processes whose log has no footer, as JSON's incomplete[]. */
json_t *sl_fmt_json_incomplete(const struct sl_group_set *set);
/* Why p's log has no footer, for people (buf may hold the answer). */
const char *sl_fmt_incomplete_why(const struct sl_logread_process *p, char *buf, size_t len);
json_t *sl_fmt_json_build(const struct sl_group_set *set, const struct sl_supp_set *supp);

/* Adds what `sockleak run` could not watch: summary.watched and the
 * top-level "unwatched" list (program, pid, reason). */
void sl_fmt_json_add_watch(json_t *root, const struct sl_watch *watch);

/* Writes the JSON report; watch (NULL outside `sockleak run`) adds
 * sl_fmt_json_add_watch's fields. Returns 0, or -1 on a write error. */
int sl_fmt_json(FILE *out, const struct sl_group_set *set, const struct sl_supp_set *supp,
                const struct sl_watch *watch);

/* The report as a SARIF 2.1.0 log (caller owns the reference): one result per
 * group left after suppressions. Source files under cwd are given relative to
 * it, with uriBaseId %SRCROOT%; cwd NULL means the working directory. */
json_t *sl_fmt_sarif_build(const struct sl_group_set *set, const struct sl_supp_set *supp,
                           const char *cwd);

/* Writes the SARIF report; returns 0, or -1 on a write error. */
int sl_fmt_sarif(FILE *out, const struct sl_group_set *set, const struct sl_supp_set *supp);

/* Writes the text report, ending with the SUMMARY line; colour adds ANSI
 * escapes. With watch (NULL outside `sockleak run`) saying nothing was
 * watched, the SUMMARY says so instead of "no leaks". Returns 0, or -1 on a
 * write error. */
int sl_fmt_text(FILE *out, const struct sl_group_set *set, const struct sl_supp_set *supp,
                bool colour, const struct sl_watch *watch);

/* True when out is a terminal and NO_COLOR is unset or empty. */
bool sl_fmt_want_colour(FILE *out);

#endif

/* `sockleak report --follow`: prints each finding as it is logged, until
 * interrupted. */
#ifndef SL_REPORT_FOLLOW_H
#define SL_REPORT_FOLLOW_H

#include "report.h"

#include <stdbool.h>

/* How often the logs are looked at for new lines and new files. */
#define SL_FOLLOW_POLL_MS 200

/* Follows the logs at paths (files, or directories read recursively, new
 * files included as they appear): first the findings already logged (of the
 * latest run of each directory unless all_runs), then each new one as its
 * line is complete. A call site already printed gets a short line with its
 * count so far. Only ro->format (text or json: one object a line), ro->out,
 * ro->group_frames and ro->supp are used. Returns the exit status: 0 once
 * SIGINT or SIGTERM arrives, 2 when no path can be read or the output
 * cannot be written. */
int sl_follow(const struct sl_report_opts *ro, char **paths, int n_paths, bool all_runs);

#endif

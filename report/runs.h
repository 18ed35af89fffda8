/* A reused output directory holds the logs of several runs (`sockleak run`
 * tags each process with its run's run_id): by default a report covers only
 * the latest run of each directory. */
#ifndef SL_REPORT_RUNS_H
#define SL_REPORT_RUNS_H

#include "logread.h"

struct sl_runs_left_out {
    size_t runs;      /* earlier runs left out */
    size_t processes; /* their processes */
};

/* Among the processes read from directories (from_dir[i], n_procs entries), keeps
 * in each directory (the one holding the log file) only the processes of
 * its latest run: the run_id (untagged logs, run_id "", count as one run)
 * whose earliest process started last. Returns what was left out. */
struct sl_runs_left_out sl_runs_latest_only(struct sl_logread_set *set, const bool *from_dir);

/* The same choice, into keep[] (n_procs entries), the set unchanged. */
struct sl_runs_left_out sl_runs_mark_latest(const struct sl_logread_set *set, const bool *from_dir,
                                            bool *keep);

/* Says on stderr what was left out, when anything was. */
void sl_runs_say(const struct sl_runs_left_out *out);

#endif

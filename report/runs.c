#include "runs.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

/* A run of a directory, keyed "DIR\0RUN_ID" (both may hold any byte but NUL),
 * or a directory, keyed "DIR". */
struct sl_runs_entry {
    char *key;
    size_t len;
    int64_t start; /* run: its earliest process's start; directory: its latest run's */
    UT_hash_handle hh;
};

/* The run key of p (malloc'd, *len bytes): the directory holding its log
 * ("." when none), a NUL, its run_id. */
static char *sl_runs_key(const struct sl_logread_process *p, size_t *len)
{
    const char *slash = strrchr(p->source, '/');
    const char *dir = slash ? p->source : ".";
    size_t dlen = slash ? (size_t)(slash - p->source) : 1, rlen = strlen(p->run_id);
    char *key = sl_util_xmalloc(dlen + 1 + rlen + 1);

    memcpy(key, dir, dlen);
    key[dlen] = '\0';
    memcpy(key + dlen + 1, p->run_id, rlen + 1);
    *len = dlen + 1 + rlen;
    return key;
}

/* Finds or adds key (len bytes, taken over) with start, keeping the earliest
 * (min) or the latest. */
static struct sl_runs_entry *sl_runs_put(struct sl_runs_entry **h, char *key, size_t len,
                                         int64_t start, bool min)
{
    struct sl_runs_entry *e;

    HASH_FIND(hh, *h, key, len, e);
    if (!e) {
        e = sl_util_xcalloc(1, sizeof(*e));
        e->key = key;
        e->len = len;
        e->start = start;
        HASH_ADD_KEYPTR(hh, *h, e->key, e->len, e);
        return e;
    }
    free(key);
    if (min ? start < e->start : start > e->start)
        e->start = start;
    return e;
}

static void sl_runs_free(struct sl_runs_entry **h)
{
    struct sl_runs_entry *e, *tmp;

    HASH_ITER(hh, *h, e, tmp)
    {
        HASH_DEL(*h, e);
        free(e->key);
        free(e);
    }
}

/* The latest run start of the directory of run r, or INT64_MIN. */
static int64_t sl_runs_dir_latest(struct sl_runs_entry *dirs, const struct sl_runs_entry *r)
{
    struct sl_runs_entry *d;

    HASH_FIND(hh, dirs, r->key, strlen(r->key), d);
    return d ? d->start : INT64_MIN;
}

struct sl_runs_left_out sl_runs_mark_latest(const struct sl_logread_set *set, const bool *from_dir,
                                            bool *keep)
{
    struct sl_runs_entry *runs = NULL, *dirs = NULL, *r, *tmp;
    struct sl_runs_left_out out = {0, 0};
    size_t len;

    for (size_t i = 0; i < set->n_procs; i++)
        if (from_dir[i]) {
            char *key = sl_runs_key(&set->procs[i], &len);
            sl_runs_put(&runs, key, len, set->procs[i].start_unix_ms, true);
        }
    HASH_ITER(hh, runs, r, tmp)
    {
        sl_runs_put(&dirs, sl_util_xstrdup(r->key), strlen(r->key), r->start, false);
    }
    HASH_ITER(hh, runs, r, tmp)
    {
        out.runs += r->start < sl_runs_dir_latest(dirs, r);
    }
    for (size_t i = 0; i < set->n_procs; i++) {
        char *key;

        keep[i] = true;
        if (!from_dir[i])
            continue;
        key = sl_runs_key(&set->procs[i], &len);
        HASH_FIND(hh, runs, key, len, r);
        free(key);
        keep[i] = !r || r->start >= sl_runs_dir_latest(dirs, r);
        out.processes += !keep[i];
    }
    sl_runs_free(&runs);
    sl_runs_free(&dirs);
    return out;
}

struct sl_runs_left_out sl_runs_latest_only(struct sl_logread_set *set, const bool *from_dir)
{
    bool *keep = sl_util_xcalloc(set->n_procs ? set->n_procs : 1, sizeof(*keep));
    struct sl_runs_left_out out = sl_runs_mark_latest(set, from_dir, keep);

    if (out.processes)
        sl_logread_keep(set, keep);
    free(keep);
    return out;
}

void sl_runs_say(const struct sl_runs_left_out *out)
{
    if (!out->processes)
        return;
    fprintf(stderr,
            "sockleak: left out %zu earlier run%s (%zu process%s) whose logs share a "
            "directory with a later run; --all-runs reports every run\n",
            out->runs, out->runs == 1 ? "" : "s", out->processes, out->processes == 1 ? "" : "es");
}

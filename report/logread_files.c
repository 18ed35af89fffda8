/* Finding the logs to read and reading them: a file, or every *.jsonl file
 * under a directory, whose files are read on several threads, each into a
 * set of its own with its warnings held, then joined in name order: the
 * result and the warnings are those of reading the files one by one. */
#include "logread.h"
#include "util.h"

#include "sockleak_log.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SL_LOGREAD_MAX_THREADS 8

/* Reads the log at path. Only a regular file is opened (O_NONBLOCK: a FIFO
 * must not hang the report); in a directory anything else is skipped with a
 * warning, on the command line it is an error. */
static int sl_logread_open(struct sl_logread_set *set, const char *path, bool in_dir)
{
    FILE *err = set->err ? set->err : stderr;
    struct stat st;
    const char *why;
    int fd = sl_util_open_regular(path, 0, &st, &why), rc;
    FILE *fp;

    if (fd < 0 || !(fp = fdopen(fd, "r"))) {
        if (fd >= 0) {
            why = strerror(errno);
            close(fd);
        }
        fprintf(err, "sockleak: %scannot read ", in_dir ? "warning: " : "");
        sl_util_fputs_safe(path, err);
        fprintf(err, ": %s%s\n", why, in_dir ? ", skipped" : "");
        if (in_dir)
            set->n_warnings++;
        return in_dir ? 0 : -1;
    }
    rc = sl_logread_stream(set, fp, path, st.st_uid == getuid() || st.st_uid == 0);
    fclose(fp);
    return rc;
}

int sl_logread_file(struct sl_logread_set *set, const char *path)
{
    return sl_logread_open(set, path, false);
}

/* One file of a directory, or a subdirectory that could not be read (the
 * walk stops there). Read on a worker into set, its warnings into out. */
struct sl_logread_job {
    char *path;
    int dir_errno; /* opendir failed: the error to give at this place */
    struct sl_logread_set set;
    char *out;
    size_t out_len;
    int rc;
};

struct sl_logread_jobs {
    struct sl_logread_job *v;
    size_t n, cap;
    const struct sl_logread_set *like; /* the limits and filter to read with */
    atomic_size_t next;
};

struct sl_logread_entry {
    char *name;
    bool dir;
    bool maybe_dir; /* a link, or a type readdir did not tell */
};

static int sl_logread_cmp(const void *a, const void *b)
{
    return strcmp(((const struct sl_logread_entry *)a)->name,
                  ((const struct sl_logread_entry *)b)->name);
}

bool sl_logread_is_log(const char *name)
{
    size_t len = strlen(name), suffix = strlen(SL_LOG_SUFFIX);
    return len > suffix && strcmp(name + len - suffix, SL_LOG_SUFFIX) == 0;
}

bool sl_logread_is_marker_dir(const char *name)
{
    size_t len = strlen(name);
    return name[0] == '.' && len > 7 && strcmp(name + len - 7, ".loaded") == 0;
}

static struct sl_logread_job *sl_logread_job(struct sl_logread_jobs *J, char *path)
{
    struct sl_logread_job *j;

    if (J->n == J->cap) {
        J->cap = J->cap ? 2 * J->cap : 64;
        J->v = sl_util_xrealloc(J->v, J->cap * sizeof(*J->v));
    }
    j = &J->v[J->n++];
    memset(j, 0, sizeof(*j));
    j->path = path;
    return j;
}

/* The entries of directory path worth reading, sorted by name; NULL with
 * *n 0 for an empty one. */
static struct sl_logread_entry *sl_logread_entries(DIR *d, const char *path, const char *sep,
                                                   bool flat, size_t *n_out)
{
    struct sl_logread_entry *ents = NULL;
    struct dirent *de;
    size_t n = 0, cap = 0;

    while ((de = readdir(d))) {
        bool dir = de->d_type == DT_DIR;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            char *full = sl_util_xjoin(path, sep, de->d_name);
            dir = lstat(full, &st) == 0 && S_ISDIR(st.st_mode);
            free(full);
        }
        if (dir ? flat || sl_logread_is_marker_dir(de->d_name) : !sl_logread_is_log(de->d_name))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            ents = sl_util_xrealloc(ents, cap * sizeof(*ents));
        }
        ents[n].name = sl_util_xstrdup(de->d_name);
        ents[n].dir = dir;
        ents[n].maybe_dir = !dir && de->d_type != DT_REG;
        n++;
    }
    if (n)
        qsort(ents, n, sizeof(*ents), sl_logread_cmp);
    *n_out = n;
    return ents;
}

/* Every *.jsonl file under path, subdirectories included, in name order at
 * each level, as jobs. Symbolic links to directories are not followed (no
 * loops); links to files are. false: a directory could not be read (its
 * job says so), the walk ends there. */
static bool sl_logread_walk(struct sl_logread_jobs *J, const char *path)
{
    DIR *d = opendir(path);
    struct sl_logread_entry *ents;
    size_t n = 0, plen = strlen(path);
    const char *sep = plen && path[plen - 1] == '/' ? "" : "/";
    bool ok = true;

    if (!d) {
        sl_logread_job(J, sl_util_xstrdup(path))->dir_errno = errno ? errno : EIO;
        return false;
    }
    ents = sl_logread_entries(d, path, sep, J->like->flat, &n);
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        char *full = sl_util_xjoin(path, sep, ents[i].name);
        struct stat st;

        if (ok && ents[i].dir)
            ok = sl_logread_walk(J, full);
        else if (ok && (!ents[i].maybe_dir || stat(full, &st) != 0 || !S_ISDIR(st.st_mode))) {
            sl_logread_job(J, full);
            full = NULL;
        }
        free(full);
        free(ents[i].name);
    }
    free(ents);
    return ok;
}

/* Reads job j into a set of its own, with like's limits and filter. */
static void sl_logread_run_job(const struct sl_logread_set *like, struct sl_logread_job *j)
{
    FILE *out;

    if (j->dir_errno)
        return;
    sl_logread_init(&j->set, like->run_id);
    j->set.max_line = like->max_line;
    j->set.max_proc_bytes = like->max_proc_bytes;
    j->set.no_fast = like->no_fast;
    out = open_memstream(&j->out, &j->out_len);
    j->set.err = out ? out : stderr; /* no memory for the buffer: straight out */
    j->rc = sl_logread_open(&j->set, j->path, true);
    if (out)
        fclose(out);
    j->set.err = NULL;
}

static void *sl_logread_worker(void *arg)
{
    struct sl_logread_jobs *J = arg;
    size_t i;

    while ((i = atomic_fetch_add(&J->next, 1)) < J->n)
        sl_logread_run_job(J->like, &J->v[i]);
    return NULL;
}

/* Moves what job j read into set, and gives its warnings. */
static int sl_logread_join(struct sl_logread_set *set, struct sl_logread_job *j)
{
    FILE *err = set->err ? set->err : stderr;

    if (j->dir_errno) {
        fputs("sockleak: cannot read directory ", err);
        sl_util_fputs_safe(j->path, err);
        fprintf(err, ": %s\n", strerror(j->dir_errno));
        return -1;
    }
    if (j->out_len)
        fwrite(j->out, 1, j->out_len, err);
    if (set->n_procs + j->set.n_procs > set->cap_procs) {
        set->cap_procs = 2 * (set->n_procs + j->set.n_procs);
        set->procs = sl_util_xrealloc(set->procs, set->cap_procs * sizeof(*set->procs));
    }
    if (j->set.n_procs)
        memcpy(set->procs + set->n_procs, j->set.procs, j->set.n_procs * sizeof(*set->procs));
    set->n_procs += j->set.n_procs;
    j->set.n_procs = 0;
    set->n_files += j->set.n_files;
    set->n_warnings += j->set.n_warnings;
    set->n_skipped += j->set.n_skipped;
    return j->rc;
}

static int sl_logread_threads(const struct sl_logread_set *set, size_t jobs)
{
    long cpus = set->n_threads > 0 ? set->n_threads : sysconf(_SC_NPROCESSORS_ONLN);

    if (cpus < 1)
        cpus = 1;
    if (cpus > SL_LOGREAD_MAX_THREADS)
        cpus = SL_LOGREAD_MAX_THREADS;
    return (size_t)cpus < jobs ? (int)cpus : (int)jobs;
}

/* Reads the jobs on worker threads (the calling one among them), then joins
 * them in order up to the first that failed. */
static int sl_logread_jobs_run(struct sl_logread_set *set, struct sl_logread_jobs *J)
{
    pthread_t tid[SL_LOGREAD_MAX_THREADS];
    int n = sl_logread_threads(set, J->n), started = 0, rc = 0;

    json_object_seed(0); /* before any thread makes an object */
    for (int i = 1; i < n; i++)
        if (pthread_create(&tid[started], NULL, sl_logread_worker, J) == 0)
            started++;
    sl_logread_worker(J);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    for (size_t i = 0; i < J->n; i++) {
        if (rc == 0)
            rc = sl_logread_join(set, &J->v[i]);
        sl_logread_free(&J->v[i].set);
        free(J->v[i].out);
        free(J->v[i].path);
    }
    return rc;
}

static int sl_logread_dir(struct sl_logread_set *set, const char *path)
{
    struct sl_logread_jobs J = {.like = set};
    int rc;

    sl_logread_walk(&J, path);
    rc = sl_logread_jobs_run(set, &J);
    free(J.v);
    return rc;
}

int sl_logread_path(struct sl_logread_set *set, const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        FILE *err = set->err ? set->err : stderr;
        fputs("sockleak: cannot read ", err);
        sl_util_fputs_safe(path, err);
        fprintf(err, ": %s\n", strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode))
        return sl_logread_dir(set, path);
    return sl_logread_file(set, path);
}

#include "follow.h"
#include "format.h"
#include "runs.h"
#include "symbolize.h"
#include "util.h"

#include "sockleak_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

/* Bounds: a directory tree is walked this deep, and a poll reads at most
 * this much of one file, so a huge log does not stall the others. */
#define SL_FOLLOW_MAX_DEPTH 16
#define SL_FOLLOW_MAX_FILES 100000
#define SL_FOLLOW_CHUNK 65536
#define SL_FOLLOW_MAX_READ (4u << 20)

/* Which file: a log renamed or linked twice is one. */
struct sl_follow_key {
    dev_t dev;
    ino_t ino;
};

/* One log followed: how far it was read, and its size at the last look. It
 * is opened only to read what was appended (no fd is held: a fleet's
 * thousands of logs must not exhaust the fd limit). Only complete lines are
 * read; the bytes of a line still being written wait in the cursor. */
struct sl_follow_file {
    struct sl_follow_key key;
    char *path;
    off_t size;
    off_t off;
    bool said_shrunk, said_unreadable;
    bool in_dir; /* found in a directory, not named on the command line */
    struct sl_logread_cursor cur;
    UT_hash_handle hh;
};

/* A call site already printed, and its sockets so far. */
struct sl_follow_site {
    char *key;
    size_t count;
    UT_hash_handle hh;
};

/* A frame seen as a call site that the wrapper rule may rename (a read
 * wrapper), keyed by the place it names (sl_follow_place): the next user
 * frame of the first finding there, and whether a later one's differed. */
struct sl_follow_wrapper {
    char *key;
    char *first_next; /* its place, NULL when the first had none */
    bool differ;
    UT_hash_handle hh;
};

struct sl_follow {
    const struct sl_report_opts *ro;
    struct sl_logread_set set;
    struct sl_follow_file **files; /* in the order they were found */
    struct sl_follow_file *by_key;
    size_t n_files, cap_files;
    size_t *shown;  /* per process: findings printed (or passed over) */
    bool *from_dir; /* per process: its log was found in a directory */
    size_t cap_procs;
    struct sl_follow_site *sites;
    struct sl_follow_wrapper *wrappers;
    struct sl_sym_ctx *sym;
    bool write_failed;
};

static volatile sig_atomic_t sl_follow_stop;

static void sl_follow_on_signal(int sig)
{
    (void)sig;
    sl_follow_stop = 1;
}

/* Keeps the per-process arrays as long as the set's processes. */
static void sl_follow_grow_procs(struct sl_follow *F, bool from_dir)
{
    size_t old = F->cap_procs;

    if (F->set.n_procs > F->cap_procs) {
        F->cap_procs = F->set.n_procs * 2;
        F->shown = sl_util_xrealloc(F->shown, F->cap_procs * sizeof(*F->shown));
        F->from_dir = sl_util_xrealloc(F->from_dir, F->cap_procs * sizeof(*F->from_dir));
        for (size_t i = old; i < F->cap_procs; i++) {
            F->shown[i] = 0;
            F->from_dir[i] = from_dir;
        }
    }
}

/* Starts following path unless it is already followed (the same file);
 * notes its size st (from lstat in a directory: links are not followed). */
static void sl_follow_add_file(struct sl_follow *F, const char *path, const struct stat *st,
                               bool in_dir)
{
    struct sl_follow_key key;
    struct sl_follow_file *f;

    if (!S_ISREG(st->st_mode))
        return;
    memset(&key, 0, sizeof(key));
    key.dev = st->st_dev;
    key.ino = st->st_ino;
    HASH_FIND(hh, F->by_key, &key, sizeof(key), f);
    if (f) {
        f->size = st->st_size;
        return;
    }
    if (F->n_files >= SL_FOLLOW_MAX_FILES)
        return;
    if (F->n_files == F->cap_files) {
        F->cap_files = F->cap_files ? 2 * F->cap_files : 16;
        F->files = sl_util_xrealloc(F->files, F->cap_files * sizeof(*F->files));
    }
    f = sl_util_xcalloc(1, sizeof(*f));
    f->key = key;
    f->path = sl_util_xstrdup(path);
    f->size = st->st_size;
    f->in_dir = in_dir;
    f->cur.name = f->path;
    f->cur.trusted = st->st_uid == getuid() || st->st_uid == 0;
    HASH_ADD(hh, F->by_key, key, sizeof(f->key), f);
    F->files[F->n_files++] = f;
}

/* Every *.jsonl under dir; links are not followed, run's marker directories
 * (.RUN_ID.loaded) are skipped. */
static void sl_follow_scan_dir(struct sl_follow *F, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        char *full;
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            sl_logread_is_marker_dir(de->d_name))
            continue;
        full = sl_util_xjoin(dir, "/", de->d_name);
        if (lstat(full, &st) == 0) {
            if (S_ISDIR(st.st_mode) && depth < SL_FOLLOW_MAX_DEPTH)
                sl_follow_scan_dir(F, full, depth + 1);
            else if (S_ISREG(st.st_mode) && sl_logread_is_log(de->d_name))
                sl_follow_add_file(F, full, &st, true);
        }
        free(full);
    }
    if (d)
        closedir(d);
}

static void sl_follow_scan(struct sl_follow *F, char **paths, int n)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            sl_follow_scan_dir(F, paths[i], 0);
        else
            sl_follow_add_file(F, paths[i], &st, false);
    }
}

/* n new bytes of f: the lines they end are read, the rest waits in the
 * cursor (report/logread.h). */
static void sl_follow_bytes(struct sl_follow *F, struct sl_follow_file *f, const char *buf,
                            size_t n)
{
    sl_logread_feed_bytes(&F->set, &f->cur, buf, n);
    sl_follow_grow_procs(F, true);
}

/* Opens f again to read what was appended: only a regular file, and only
 * the same file (a name now holding another file is another log, found by
 * the next scan). -1 when it cannot be read now (said once). */
static int sl_follow_open(struct sl_follow_file *f)
{
    struct stat st;
    const char *why = "it was replaced";
    int fd = sl_util_open_regular(f->path, f->in_dir ? O_NOFOLLOW : 0, &st, &why);

    if (fd >= 0 && st.st_dev == f->key.dev && st.st_ino == f->key.ino)
        return fd;
    if (fd >= 0)
        close(fd);
    if (!f->said_unreadable && fd < 0) {
        fputs("sockleak: warning: cannot read ", stderr);
        sl_util_fputs_safe(f->path, stderr);
        fprintf(stderr, ": %s\n", why);
    }
    f->said_unreadable = fd < 0;
    return -1;
}

/* Reads what was appended to f since the last time, up to a bound; true
 * when the bound stopped it (more is waiting). */
static bool sl_follow_read(struct sl_follow *F, struct sl_follow_file *f)
{
    char buf[SL_FOLLOW_CHUNK];
    size_t total = 0;
    ssize_t n;
    int fd;

    if (f->size < f->off) {
        if (!f->said_shrunk) {
            fputs("sockleak: warning: ", stderr);
            sl_util_fputs_safe(f->path, stderr);
            fputs(" shrank: logs only grow; what is added from now on is read\n", stderr);
        }
        f->said_shrunk = true;
        f->off = f->size;
        return false;
    }
    if (f->size == f->off || (fd = sl_follow_open(f)) < 0)
        return false;
    while (total < SL_FOLLOW_MAX_READ && (n = pread(fd, buf, sizeof(buf), f->off)) > 0) {
        f->off += n;
        total += (size_t)n;
        sl_follow_bytes(F, f, buf, (size_t)n);
    }
    close(fd);
    if (f->off > f->size)
        f->size = f->off;
    return total >= SL_FOLLOW_MAX_READ;
}

/* The stacks that name a finding's call site, as report/group.c keys them. */
/* A finding's stacks symbolized, in a group of its own (what suppression
 * rules match against), and the key the report groups it by (malloc'd). */
static char *sl_follow_group(struct sl_follow *F, const struct sl_logread_process *p,
                             const struct sl_logread_finding *f, struct sl_group *g)
{
    memset(g, 0, sizeof(*g));
    g->kind = f->kind;
    g->supp_scope = p->suppressions;
    g->suppressed_by = -1;
    g->rep = f;
    g->rep_proc = p;
    sl_group_sym_stack(F->sym, p, &f->eof_stack, &g->eof_sym);
    sl_group_sym_stack(F->sym, p, &f->open_stack, &g->open_sym);
    sl_group_sym_stack(F->sym, p, &f->last_read_stack, &g->last_read_sym);
    sl_group_sym_stack(F->sym, p, &f->fork_stack, &g->fork_sym);
    sl_group_sym_stack(F->sym, p, &f->listen_stack, &g->listen_sym);
    sl_group_sym_stack(F->sym, p, &f->close_stack, &g->close_sym);
    sl_group_sym_stack(F->sym, p, &f->first_close_stack, &g->first_close_sym);
    sl_group_sym_stack(F->sym, p, &f->fail_stack, &g->fail_sym);
    g->fdexh = f->fdexh;
    g->destination = f->destination;
    g->exhausted = f->exhausted;
    g->connections = f->connections;
    g->time_wait_peak = f->time_wait_peak;
    g->rate_per_s = f->rate_per_s;
    g->port_lo = f->port_lo;
    g->port_hi = f->port_hi;
    g->processes = 1;
    sl_group_sym_sites(F->sym, g);
    struct sl_group_set where = {.source_root = F->ro->source_root};
    sl_group_call_site(&where, g);
    return sl_group_key(p, f, F->ro->group_frames, F->ro->source_root);
}

static void sl_follow_group_free(struct sl_group *g)
{
    sl_sym_stack_free(&g->eof_sym);
    sl_sym_stack_free(&g->open_sym);
    sl_sym_stack_free(&g->last_read_sym);
    sl_sym_stack_free(&g->fork_sym);
    sl_sym_stack_free(&g->listen_sym);
    sl_sym_stack_free(&g->close_sym);
    sl_sym_stack_free(&g->first_close_sym);
    sl_sym_stack_free(&g->fail_sym);
    sl_group_free_sites(g);
}

/* The place a frame names, as sl_group_sym_same compares frames
 * (malloc'd): function, file and line, or module and address. */
static char *sl_follow_place(const struct sl_sym_frame *fr)
{
    char num[32];
    if (fr->file)
        snprintf(num, sizeof(num), "\x1f%d", fr->line);
    else
        snprintf(num, sizeof(num), "\x1f@%" PRIx64, fr->address);
    char *a = sl_util_xjoin(fr->function, "\x1f", fr->file ? fr->file : fr->module);
    char *s = sl_util_xjoin(a, "", num);
    free(a);
    return s;
}

/* The report's wrapper rule (report/group.c), as findings come: once a
 * call site was seen with callers that differ, g and every later finding
 * there are named by their caller, via the call site. A finding printed
 * before that stays as it was printed. */
static void sl_follow_wrapper_rule(struct sl_follow *F, struct sl_group *g)
{
    struct sl_group_set where = {.source_root = F->ro->source_root};
    struct sl_follow_wrapper *w;
    const struct sl_sym_frame *next;
    char *key, *nk;

    if (!sl_group_wrapper_candidate(g))
        return;
    next = sl_group_next_user(&where, g);
    key = sl_follow_place(g->call_site);
    nk = next ? sl_follow_place(next) : NULL;
    HASH_FIND_STR(F->wrappers, key, w);
    if (!w) {
        w = sl_util_xcalloc(1, sizeof(*w));
        w->key = key;
        w->first_next = nk;
        HASH_ADD_KEYPTR(hh, F->wrappers, w->key, strlen(w->key), w);
    } else {
        free(key);
        if (!nk || !w->first_next || strcmp(nk, w->first_next) != 0)
            w->differ = true;
        free(nk);
    }
    if (w->differ && next)
        sl_group_via(g, next);
}

static bool sl_follow_suppressed(const struct sl_follow *F, const struct sl_group *g)
{
    for (size_t i = 0; F->ro->supp && i < F->ro->supp->n; i++)
        if (sl_supp_match(&F->ro->supp->rules[i], g)) {
            F->ro->supp->rules[i].count++;
            return true;
        }
    return false;
}

/* The frame that names the site: the first of the stack the finding is
 * about (the end-of-stream read; else the creation, the listener). */
/* The finding's call site (the report's: its first frame in user code) and
 * what happened there. */
static const struct sl_sym_frame *sl_follow_site_frame(const struct sl_group *g, const char **what)
{
    static const char *const said[][2] = {
        {"eof_stack", "end-of-stream read at"},      {"open_stack", "socket created at"},
        {"last_read_stack", "last read at"},         {"fork_stack", "forked at"},
        {"listen_stack", "listener created at"},     {"close_stack", "closed again at"},
    };

    *what = "at";
    if (g->fdexh)
        *what = "failed at";
    else if (g->destination)
        *what = g->exhausted ? "connect failed with EADDRNOTAVAIL at" : "connected at";
    else if (g->call_site_listener)
        *what = "accepted on the listener created at";
    else
        for (size_t i = 0; g->call_site && i < sizeof(said) / sizeof(said[0]); i++)
            if (strcmp(g->call_site_stack, said[i][0]) == 0)
                *what = said[i][1];
    return g->call_site;
}

static void sl_follow_put_frame(FILE *out, const struct sl_sym_frame *fr)
{
    if (!fr) {
        fputs("an unknown stack", out);
        return;
    }
    sl_util_fputs_safe(fr->function, out);
    if (fr->file) {
        fputs(" (", out);
        sl_util_fputs_safe(sl_util_basename(fr->file), out);
        fprintf(out, ":%d)", fr->line);
    } else if (*fr->module) {
        fputs(" (", out);
        sl_util_fputs_safe(sl_util_basename(fr->module), out);
        fputs(")", out);
    }
}

/* time_wait_churn's counts after its call site; the sites holding the
 * ports when none was left. */
static void sl_follow_churn(struct sl_follow *F, const struct sl_group *g, FILE *out)
{
    struct sl_group_set where = {.source_root = F->ro->source_root};
    int64_t ports = g->port_hi && g->port_hi >= g->port_lo ? g->port_hi - g->port_lo + 1 : 0;

    if (!g->exhausted)
        fprintf(out, ", %" PRId64 " connections, %.1f a second", g->connections, g->rate_per_s);
    fprintf(out, ", %" PRId64 " in TIME_WAIT", g->time_wait_peak);
    if (ports)
        fprintf(out, " of %" PRId64 " ephemeral ports", ports);
    for (size_t i = 0; i < g->n_top; i++) {
        const struct sl_sym_frame *fr = sl_group_first_user(&where, g, &g->top_sym[i]);
        if (!fr && g->top_sym[i].n)
            fr = &g->top_sym[i].frames[0];
        fprintf(out, "%s%" PRId64 " held by ", i ? ", " : "; ", g->rep->top_sites[i].time_wait);
        sl_follow_put_frame(out, fr);
    }
}

/* fd_exhaustion's call, errno and limit before its call site. */
static void sl_follow_fdexh_head(const struct sl_logread_finding *f, FILE *out)
{
    fputc(' ', out);
    sl_util_fputs_safe(f->call && *f->call ? f->call : "a call", out);
    fputs(" with ", out);
    sl_util_fputs_safe(f->err_name ? f->err_name : "?", out);
    fprintf(out, " (fd limit %" PRId64 ")", f->limit);
}

/* fd_exhaustion's holders after its call site. */
static void sl_follow_fdexh(struct sl_follow *F, const struct sl_group *g, FILE *out)
{
    struct sl_group_set where = {.source_root = F->ro->source_root};

    for (size_t i = 0; i < g->n_top && i < g->rep->n_holders; i++) {
        const struct sl_sym_frame *fr = sl_group_first_user(&where, g, &g->top_sym[i]);
        if (!fr && g->top_sym[i].n)
            fr = &g->top_sym[i].frames[0];
        fprintf(out, "%s%" PRId64 " sockets made at ", i ? ", " : "; ",
                g->rep->holders[i].count);
        sl_follow_put_frame(out, fr);
    }
}

/* One text line: "HH:MM:SS KIND pid PID PROGRAM fd FD LOCAL <- PEER:
 * end-of-stream read at FUNCTION (FILE:LINE)", or for a site printed
 * before "... again (N sockets so far)". */
/* What the finding is about: its destination, its failing call, or its fd
 * and addresses (and state, at exit). */
static void sl_follow_text_where(const struct sl_logread_finding *f, const struct sl_group *g,
                                 bool dclose, FILE *out)
{
    if (g->destination) {
        fputs(" to ", out);
        sl_util_fputs_safe(g->destination, out);
    } else if (g->fdexh) {
        sl_follow_fdexh_head(f, out);
    } else {
        fprintf(out, " fd %" PRId64, f->fd);
    }
    if (!dclose && !g->destination && !g->fdexh) {
        fputc(' ', out);
        sl_util_fputs_safe(*f->local ? f->local : "?", out);
        fputs(" <- ", out);
        sl_util_fputs_safe(*f->peer ? f->peer : "?", out);
    }
    if (strcmp(f->kind, SL_KIND_OPEN_AT_EXIT) == 0 && f->tcp_state) {
        fputc(' ', out);
        sl_util_fputs_safe(f->tcp_state, out);
    }
}

static void sl_follow_text(struct sl_follow *F, const struct sl_logread_process *p,
                           const struct sl_logread_finding *f, const struct sl_group *g,
                           size_t count)
{
    FILE *out = F->ro->out;
    const char *what;
    const struct sl_sym_frame *fr = sl_follow_site_frame(g, &what);
    /* When the finding was written, where the log tells (EOF + held). */
    time_t now = f->eof_unix_ms > 0 && f->held_ms < INT64_MAX - f->eof_unix_ms
                     ? (time_t)((f->eof_unix_ms + f->held_ms) / 1000)
                     : time(NULL);
    struct tm tm;
    char when[16];

    if (!localtime_r(&now, &tm) || !strftime(when, sizeof(when), "%H:%M:%S", &tm))
        strcpy(when, "--:--:--");
    fprintf(out, "%s ", when);
    sl_util_fputs_safe(f->kind, out);
    fprintf(out, " pid %" PRId64 " ", p->pid);
    sl_util_fputs_safe(p->program, out);
    bool dclose = strcmp(f->kind, SL_KIND_DOUBLE_CLOSE) == 0;
    sl_follow_text_where(f, g, dclose, out);
    fprintf(out, ": %s%s ", count > 1 ? "... again, " : "", what);
    sl_follow_put_frame(out, fr);
    if (g->call_site_via) {
        fputs(" via ", out);
        sl_follow_put_frame(out, g->call_site_via);
    }
    if (dclose) {
        struct sl_group_set where = {.source_root = F->ro->source_root};
        const struct sl_sym_frame *first = sl_group_first_user(&where, g, &g->first_close_sym);
        if (!first && g->first_close_sym.n)
            first = &g->first_close_sym.frames[0];
        fputs(", first closed at ", out);
        sl_follow_put_frame(out, first);
    }
    if (g->destination)
        sl_follow_churn(F, g, out);
    if (g->fdexh)
        sl_follow_fdexh(F, g, out);
    if (count > 1)
        fprintf(out, " (%zu %s so far)", count,
                g->destination ? "findings" : g->fdexh ? "episodes" : "sockets");
    fputc('\n', out);
}

/* One JSON object a line: the finding, its call site (the report's
 * "call_site") and the site's count so far. */
static void sl_follow_json(struct sl_follow *F, const struct sl_logread_process *p,
                           const struct sl_logread_finding *f, const struct sl_group *g,
                           size_t count)
{
    json_t *o = json_object();
    char *s;

    json_object_set_new(o, "kind", sl_fmt_json_str(f->kind));
    json_object_set_new(o, "pid", json_integer(p->pid));
    json_object_set_new(o, "program", sl_fmt_json_str(p->program));
    json_object_set_new(o, "fd", json_integer(f->fd));
    json_object_set_new(o, "local", sl_fmt_json_str(f->local));
    json_object_set_new(o, "peer", sl_fmt_json_str(f->peer));
    json_object_set_new(o, "held_ms", json_integer(f->held_ms));
    json_object_set_new(o, "call_site", sl_fmt_json_call_site(g));
    struct sl_group_set where = {.source_root = F->ro->source_root};
    sl_fmt_json_churn(o, &where, g);
    sl_fmt_json_fdexh(o, &where, g);
    json_object_set_new(o, "count_so_far", json_integer((json_int_t)count));
    json_object_set_new(o, "again", json_boolean(count > 1));
    s = json_dumps(o, JSON_COMPACT);
    if (s)
        fprintf(F->ro->out, "%s\n", s);
    free(s);
    json_decref(o);
}

/* Prints finding f of p: a call site seen for the first time in full, a
 * repeat with its count so far. */
static void sl_follow_print(struct sl_follow *F, const struct sl_logread_process *p,
                            const struct sl_logread_finding *f)
{
    struct sl_group g;
    struct sl_follow_site *site;
    char *key = sl_follow_group(F, p, f, &g);

    if (sl_follow_suppressed(F, &g)) {
        free(key);
        sl_follow_group_free(&g);
        return;
    }
    sl_follow_wrapper_rule(F, &g);
    HASH_FIND_STR(F->sites, key, site);
    if (site) {
        free(key);
    } else {
        site = sl_util_xcalloc(1, sizeof(*site));
        site->key = key;
        HASH_ADD_KEYPTR(hh, F->sites, site->key, strlen(site->key), site);
    }
    site->count += f->sockets > 0 ? (size_t)f->sockets : 1;
    if (F->ro->format == SL_REPORT_JSON)
        sl_follow_json(F, p, f, &g, site->count);
    else
        sl_follow_text(F, p, f, &g, site->count);
    if (fflush(F->ro->out) != 0 || ferror(F->ro->out))
        F->write_failed = true;
    sl_follow_group_free(&g);
}

/* A finding printed (or passed over) needs its stacks no more: what a long
 * follow keeps grows by a few bytes per finding, not by its stacks. */
static void sl_follow_forget_stacks(struct sl_logread_finding *f)
{
    struct sl_logread_stack *st[] = {&f->eof_stack,         &f->open_stack,
                                     &f->last_read_stack,   &f->fork_stack,
                                     &f->listen_stack,      &f->close_stack,
                                     &f->first_close_stack, &f->fail_stack};

    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
        free(st[i]->frames);
        st[i]->frames = NULL;
        st[i]->n = 0;
    }
}

static void sl_follow_print_new(struct sl_follow *F)
{
    for (size_t i = 0; i < F->set.n_procs && !F->write_failed; i++)
        while (F->shown[i] < F->set.procs[i].n_findings && !F->write_failed) {
            struct sl_logread_finding *f = &F->set.procs[i].findings[F->shown[i]++];
            sl_follow_print(F, &F->set.procs[i], f);
            sl_follow_forget_stacks(f);
        }
}

/* One look at every log: new files, then new lines. True when a file has
 * more to read than one look takes. */
static bool sl_follow_poll(struct sl_follow *F, char **paths, int n_paths)
{
    bool more = false;

    sl_follow_scan(F, paths, n_paths);
    for (size_t i = 0; i < F->n_files; i++) {
        size_t before = F->set.n_procs;
        more |= sl_follow_read(F, F->files[i]);
        /* A file named on the command line is no directory's run. */
        for (size_t j = before; !F->files[i]->in_dir && j < F->set.n_procs; j++)
            F->from_dir[j] = false;
    }
    return more;
}

/* What was logged before we started: only the latest run of each
 * directory (unless all_runs); the rest is passed over. */
static void sl_follow_skip_earlier_runs(struct sl_follow *F, bool all_runs)
{
    bool *keep;
    struct sl_runs_left_out out;

    if (all_runs || !F->set.n_procs)
        return;
    keep = sl_util_xcalloc(F->set.n_procs, sizeof(*keep));
    out = sl_runs_mark_latest(&F->set, F->from_dir, keep);
    for (size_t i = 0; i < F->set.n_procs; i++)
        if (!keep[i]) {
            F->shown[i] = F->set.procs[i].n_findings;
            for (size_t j = 0; j < F->shown[i]; j++)
                sl_follow_forget_stacks(&F->set.procs[i].findings[j]);
        }
    sl_runs_say(&out);
    free(keep);
}

static void sl_follow_free(struct sl_follow *F)
{
    struct sl_follow_site *s, *tmp;
    struct sl_follow_wrapper *w, *wtmp;

    HASH_ITER(hh, F->sites, s, tmp)
    {
        HASH_DEL(F->sites, s);
        free(s->key);
        free(s);
    }
    HASH_ITER(hh, F->wrappers, w, wtmp)
    {
        HASH_DEL(F->wrappers, w);
        free(w->key);
        free(w->first_next);
        free(w);
    }
    for (size_t i = 0; i < F->n_files; i++) {
        HASH_DEL(F->by_key, F->files[i]);
        free(F->files[i]->path);
        sl_logread_cursor_free(&F->files[i]->cur);
        free(F->files[i]);
    }
    free(F->files);
    free(F->shown);
    free(F->from_dir);
    sl_sym_free(F->sym);
    sl_logread_free(&F->set);
}

int sl_follow(const struct sl_report_opts *ro, char **paths, int n_paths, bool all_runs)
{
    struct sl_follow F = {.ro = ro};
    struct sigaction sa = {.sa_handler = sl_follow_on_signal}, old_int, old_term;
    struct timespec nap = {0, SL_FOLLOW_POLL_MS * 1000000L};

    for (int i = 0; i < n_paths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            fputs("sockleak: cannot read ", stderr);
            sl_util_fputs_safe(paths[i], stderr);
            fprintf(stderr, ": %s\n", strerror(errno));
            return 2;
        }
    }
    sl_logread_init(&F.set, NULL);
    F.sym = sl_sym_new(false);
    sigemptyset(&sa.sa_mask); /* no SA_RESTART: the nap ends at once */
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* What is there already is read whole before the runs are told apart. */
    while (sl_follow_poll(&F, paths, n_paths) && !sl_follow_stop)
        ;
    sl_follow_skip_earlier_runs(&F, all_runs);
    while (!sl_follow_stop && !F.write_failed) {
        sl_follow_print_new(&F);
        nanosleep(&nap, NULL);
        if (!sl_follow_stop)
            sl_follow_poll(&F, paths, n_paths);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (F.write_failed)
        fprintf(stderr, "sockleak: cannot write the report: %s\n", strerror(errno));
    sl_follow_free(&F);
    return F.write_failed ? 2 : 0;
}

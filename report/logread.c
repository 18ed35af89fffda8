#include "logread.h"
#include "logread_fast.h"
#include "util.h"

#include "sockleak_log.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

/* Past this many warnings in one file the rest are only counted: a file of
 * garbage must not bury the report. */
#define SL_LOGREAD_MAX_WARNINGS_PER_FILE 10

/* Where warnings go: stderr, or the buffer of a file read on a worker. */
#define SL_LOGREAD_ERR(set) ((set)->err ? (set)->err : stderr)
/* Bytes read at a time from a file read whole. */
#define SL_LOGREAD_CHUNK (256u << 10)

/* What the record functions work on: the set and the cursor of the file. */
struct sl_logread_ctx {
    struct sl_logread_set *set;
    struct sl_logread_cursor *k;
};

__attribute__((format(printf, 2, 3))) static void sl_logread_warn(struct sl_logread_ctx *c,
                                                                  const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;

    c->set->n_warnings++;
    if (++c->k->warnings > SL_LOGREAD_MAX_WARNINGS_PER_FILE)
        return;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    /* Names and messages quote the log: never raw onto a terminal. */
    fputs("sockleak: warning: ", SL_LOGREAD_ERR(c->set));
    sl_util_fputs_safe(c->k->name, SL_LOGREAD_ERR(c->set));
    fprintf(SL_LOGREAD_ERR(c->set), ":%zu: ", c->k->line);
    sl_util_fputs_safe(msg ? msg : "(out of memory)", SL_LOGREAD_ERR(c->set));
    fputc('\n', SL_LOGREAD_ERR(c->set));
    free(msg);
}

void sl_logread_init(struct sl_logread_set *set, const char *run_id)
{
    memset(set, 0, sizeof(*set));
    set->run_id = run_id ? sl_util_xstrdup(run_id) : NULL;
    set->max_line = SL_LOG_MAX_LINE;
    set->max_proc_bytes = SL_LOGREAD_MAX_PROC_BYTES;
}

static const char *sl_logread_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A copy of s cut to SL_LOGREAD_MAX_STR bytes on a character boundary ("" for
 * NULL): what one record can make the reader keep is bounded. */
static char *sl_logread_dup(const char *s)
{
    size_t n;
    char *d;

    if (!s)
        return sl_util_xstrdup("");
    n = strnlen(s, SL_LOGREAD_MAX_STR + 1);
    if (n > SL_LOGREAD_MAX_STR)
        n = sl_util_utf8_cut(s, SL_LOGREAD_MAX_STR);
    d = sl_util_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int64_t sl_logread_int(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* A count or duration: negative values from a damaged log read as 0. */
static int64_t sl_logread_count(json_t *o, const char *key, int64_t dflt)
{
    int64_t v = sl_logread_int(o, key, dflt);
    return v < 0 ? 0 : v;
}

/* One entry of a process's module hash. */
struct sl_logread_modref {
    int64_t id;
    size_t pos;
    UT_hash_handle hh;
};

const struct sl_logread_module *sl_logread_module(const struct sl_logread_process *proc, int64_t id)
{
    struct sl_logread_modref *head = proc->mod_hash, *r;

    /* Every frame of every stack asks: a hash lookup, never a scan. */
    HASH_FIND(hh, head, &id, sizeof(id), r);
    return r ? &proc->modules[r->pos] : NULL;
}

/* The header's suppressions file, when this log may name one: a log anyone
 * could have dropped into the tree must not silence findings, and a relative
 * path would be looked up wherever the reader happens to be. */
static char *sl_logread_header_supp(struct sl_logread_ctx *c, const char *supp)
{
    if (!supp || !*supp)
        return NULL;
    if (!c->k->trusted) {
        if (!c->k->said_untrusted)
            sl_logread_warn(c, "the log is owned by another user: the suppressions file its "
                               "header names is not used");
        c->k->said_untrusted = true;
        return NULL;
    }
    if (supp[0] != '/') {
        sl_logread_warn(c, "the header's suppressions path is not absolute, not used");
        return NULL;
    }
    return sl_logread_dup(supp);
}

/* The header's argv: at most SL_LOGREAD_MAX_ARGS arguments of at most
 * SL_LOGREAD_MAX_ARG bytes each; anything not a string is left out. */
static void sl_logread_argv(struct sl_logread_process *p, json_t *o)
{
    json_t *arr = json_object_get(o, SL_KEY(ARGV));
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;

    if (n > SL_LOGREAD_MAX_ARGS)
        n = SL_LOGREAD_MAX_ARGS;
    p->argv = n ? sl_util_xcalloc(n, sizeof(*p->argv)) : NULL;
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_array_get(arr, i));
        size_t len;

        if (!a)
            continue;
        len = strnlen(a, SL_LOGREAD_MAX_ARG + 1);
        if (len > SL_LOGREAD_MAX_ARG)
            len = sl_util_utf8_cut(a, SL_LOGREAD_MAX_ARG);
        p->argv[p->argc] = sl_util_xmalloc(len + 1);
        memcpy(p->argv[p->argc], a, len);
        p->argv[p->argc++][len] = '\0';
    }
}

static void sl_logread_header(struct sl_logread_ctx *c, json_t *o)
{
    struct sl_logread_set *set = c->set;
    struct sl_logread_process *p;
    const char *run_id = sl_logread_str(o, SL_KEY(RUN_ID));
    int64_t version = sl_logread_int(o, SL_KEY(VERSION), -1);

    if (version != SL_LOG_VERSION)
        sl_logread_warn(c, "log version %lld, this tool reads version %d; reading it anyway",
                        (long long)version, SL_LOG_VERSION);
    if (set->run_id && strcmp(set->run_id, run_id ? run_id : "") != 0) {
        c->k->skip = true;
        c->k->cur = -1;
        set->n_skipped++;
        return;
    }
    c->k->skip = false;
    if (set->n_procs == set->cap_procs) {
        set->cap_procs = set->cap_procs ? 2 * set->cap_procs : 8;
        set->procs = sl_util_xrealloc(set->procs, set->cap_procs * sizeof(*set->procs));
    }
    p = &set->procs[set->n_procs];
    memset(p, 0, sizeof(*p));
    p->source = sl_util_xstrdup(c->k->name);
    p->pid = sl_logread_int(o, SL_KEY(PID), -1);
    p->ppid = sl_logread_int(o, SL_KEY(PPID), -1);
    p->program = sl_logread_dup(sl_logread_str(o, SL_KEY(PROGRAM)));
    p->exe = sl_logread_dup(sl_logread_str(o, SL_KEY(EXE)));
    p->run_id = sl_logread_dup(run_id);
    p->suppressions = sl_logread_header_supp(c, sl_logread_str(o, SL_KEY(SUPPRESSIONS)));
    p->start_unix_ms = sl_logread_int(o, SL_KEY(START_UNIX_MS), 0);
    p->deadline_ms = sl_logread_int(o, SL_KEY(DEADLINE_MS), -1);
    p->frames = sl_logread_int(o, SL_KEY(FRAMES), -1);
    sl_logread_argv(p, o);
    c->k->cur = (long)set->n_procs++;
}

static void sl_logread_index_module(struct sl_logread_process *p, int64_t id, size_t pos)
{
    struct sl_logread_modref *r = sl_util_xmalloc(sizeof(*r));

    r->id = id;
    r->pos = pos;
    HASH_ADD(hh, p->mod_hash, id, sizeof(r->id), r);
}

static void sl_logread_module_rec(struct sl_logread_ctx *c, struct sl_logread_process *p, json_t *o)
{
    json_t *id = json_object_get(o, SL_KEY(ID));
    const char *path = sl_logread_str(o, SL_KEY(PATH));
    struct sl_logread_module *m;

    if (!json_is_integer(id) || !path) {
        sl_logread_warn(c, "module record without id or path, ignored");
        return;
    }
    m = (struct sl_logread_module *)sl_logread_module(p, json_integer_value(id));
    if (m) {
        free(m->path);
        free(m->build_id);
    } else {
        if (p->n_modules == p->cap_modules) {
            p->cap_modules = p->cap_modules ? 2 * p->cap_modules : 8;
            p->modules = sl_util_xrealloc(p->modules, p->cap_modules * sizeof(*p->modules));
        }
        m = &p->modules[p->n_modules];
        sl_logread_index_module(p, json_integer_value(id), p->n_modules++);
    }
    m->id = json_integer_value(id);
    m->path = sl_logread_dup(path);
    m->build_id = sl_logread_dup(sl_logread_str(o, SL_KEY(BUILD_ID)));
    m->base = (uint64_t)sl_logread_int(o, SL_KEY(BASE), 0);
}

const struct sl_logread_lframe *sl_logread_lframe(const struct sl_logread_process *proc, int64_t id)
{
    struct sl_logread_modref *head = proc->lframe_hash, *r;

    HASH_FIND(hh, head, &id, sizeof(id), r);
    return r ? &proc->lframes[r->pos] : NULL;
}

/* A language name as the log gave it when it is a short lowercase word
 * ("python", "javascript", "java", or one this reader does not know yet),
 * else "unknown": it is shown in brackets and as a JSON value. */
static char *sl_logread_lang(const char *lang)
{
    size_t n = lang ? strnlen(lang, SL_LOGREAD_MAX_LANG + 1) : 0;

    if (n == 0 || n > SL_LOGREAD_MAX_LANG)
        return sl_util_xstrdup("unknown");
    for (size_t i = 0; i < n; i++)
        if (!((lang[i] >= 'a' && lang[i] <= 'z') || (lang[i] >= '0' && lang[i] <= '9') ||
              lang[i] == '_' || lang[i] == '-'))
            return sl_util_xstrdup("unknown");
    return sl_util_xstrdup(lang);
}

/* A slot for the frame with this id: the one it had (a repeated record
 * replaces it) or a new one. */
static struct sl_logread_lframe *sl_logread_lframe_slot(struct sl_logread_process *p, int64_t id)
{
    struct sl_logread_lframe *lf = (struct sl_logread_lframe *)sl_logread_lframe(p, id);
    struct sl_logread_modref *r;

    if (lf) {
        free(lf->lang);
        free(lf->function);
        free(lf->file);
        return lf;
    }
    if (p->n_lframes == p->cap_lframes) {
        p->cap_lframes = p->cap_lframes ? 2 * p->cap_lframes : 8;
        p->lframes = sl_util_xrealloc(p->lframes, p->cap_lframes * sizeof(*p->lframes));
    }
    r = sl_util_xmalloc(sizeof(*r));
    r->id = id;
    r->pos = p->n_lframes;
    HASH_ADD(hh, p->lframe_hash, id, sizeof(r->id), r);
    return &p->lframes[p->n_lframes++];
}

/* {"t":"frame","id":3,"lang":"python","function":"handle","file":...,"line":12}:
 * id and function are needed; the rest falls back to unknown. */
static void sl_logread_lframe_rec(struct sl_logread_ctx *c, struct sl_logread_process *p, json_t *o)
{
    json_t *id = json_object_get(o, SL_KEY(ID)), *line = json_object_get(o, SL_KEY(LINE));
    const char *function = sl_logread_str(o, SL_KEY(FUNCTION));
    struct sl_logread_lframe *lf;

    if (!json_is_integer(id) || json_integer_value(id) < 0 || !function) {
        sl_logread_warn(c, "frame record without id or function, ignored");
        return;
    }
    if (line && (!json_is_integer(line) || json_integer_value(line) < 0 ||
                 json_integer_value(line) > INT_MAX)) {
        sl_logread_warn(c, "frame record with a bad line, read as unknown");
        line = NULL;
    }
    lf = sl_logread_lframe_slot(p, json_integer_value(id));
    lf->id = json_integer_value(id);
    lf->lang = sl_logread_lang(sl_logread_str(o, SL_KEY(LANG)));
    lf->function = sl_logread_dup(function);
    lf->file = sl_logread_dup(sl_logread_str(o, SL_KEY(FILE)));
    lf->line = line ? (int)json_integer_value(line) : 0;
}

/* A stack is [[module, offset], ...]; malformed frames are dropped with one
 * warning, the good ones kept. */
static void sl_logread_stack(struct sl_logread_ctx *c, json_t *o, const char *key,
                             struct sl_logread_stack *st)
{
    json_t *arr = json_object_get(o, key);
    size_t i, bad = 0, n;

    st->frames = NULL;
    st->n = 0;
    if (!arr || json_is_null(arr))
        return;
    if (!json_is_array(arr)) {
        sl_logread_warn(c, "\"%s\" is not an array, stack ignored", key);
        return;
    }
    n = json_array_size(arr);
    if (n > SL_LOGREAD_MAX_FRAMES) {
        sl_logread_warn(c, "\"%s\" has %zu frames, only the first %d kept", key, n,
                        SL_LOGREAD_MAX_FRAMES);
        n = SL_LOGREAD_MAX_FRAMES;
    }
    st->frames = sl_util_xcalloc(n, sizeof(*st->frames));
    for (i = 0; i < n; i++) {
        json_t *f = json_array_get(arr, i);
        json_t *mod = json_array_get(f, 0), *off = json_array_get(f, 1);

        if (!json_is_array(f) || json_array_size(f) != 2 || !json_is_integer(mod) ||
            !json_is_integer(off)) {
            bad++;
            continue;
        }
        st->frames[st->n].module = json_integer_value(mod);
        st->frames[st->n].offset = (uint64_t)json_integer_value(off);
        st->n++;
    }
    if (bad)
        sl_logread_warn(c, "%zu malformed frame(s) in \"%s\" dropped", bad, key);
}

/* An optional integer key of the kernel-swept kinds: its value, or 0, and
 * flag set in f->has when the log gave it. */
static int64_t sl_logread_opt(struct sl_logread_finding *f, json_t *o, const char *key,
                              unsigned flag)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        return 0;
    f->has |= flag;
    return (int64_t)json_integer_value(v);
}

/* The keys of the kinds the kernel tells (format/sockleak_log.h). A record
 * stands for at least one socket, whatever "sockets" says. */
static void sl_logread_swept(struct sl_logread_ctx *c, struct sl_logread_finding *f, json_t *o)
{
    f->sockets = sl_logread_opt(f, o, SL_KEY(SOCKETS), SL_LOGREAD_HAS_SOCKETS);
    if (f->sockets < 1)
        f->sockets = 1;
    f->idle_ms = sl_logread_opt(f, o, SL_KEY(IDLE_MS), SL_LOGREAD_HAS_IDLE_MS);
    f->unread_bytes = sl_logread_opt(f, o, SL_KEY(UNREAD_BYTES), SL_LOGREAD_HAS_UNREAD_BYTES);
    f->from_pid = sl_logread_opt(f, o, SL_KEY(FROM_PID), SL_LOGREAD_HAS_FROM_PID);
    f->backlog = sl_logread_opt(f, o, SL_KEY(BACKLOG), SL_LOGREAD_HAS_BACKLOG);
    f->queued = sl_logread_opt(f, o, SL_KEY(QUEUED), SL_LOGREAD_HAS_QUEUED);
    f->at_exit = json_is_true(json_object_get(o, SL_KEY(AT_EXIT)));
    sl_logread_stack(c, o, SL_KEY(LAST_READ_STACK), &f->last_read_stack);
    sl_logread_stack(c, o, SL_KEY(FORK_STACK), &f->fork_stack);
    sl_logread_stack(c, o, SL_KEY(LISTEN_STACK), &f->listen_stack);
    sl_logread_stack(c, o, SL_KEY(CLOSE_STACK), &f->close_stack);
    sl_logread_stack(c, o, SL_KEY(FIRST_CLOSE_STACK), &f->first_close_stack);
}

/* A non-negative number (rate_per_s), 0 when absent or damaged. */
static double sl_logread_rate(json_t *o, const char *key, double dflt)
{
    json_t *v = json_object_get(o, key);
    double x = json_is_number(v) ? json_number_value(v) : dflt;
    return x >= 0 && x < 1e15 ? x : 0; /* NaN and negatives read as 0 */
}

/* The counts of a time_wait_churn finding, from the finding or an update. */
static void sl_logread_churn_counts(struct sl_logread_finding *f, json_t *o)
{
    f->connections = sl_logread_count(o, SL_KEY(CONNECTIONS), f->connections);
    f->time_wait_peak = sl_logread_count(o, SL_KEY(TIME_WAIT_PEAK), f->time_wait_peak);
    f->rate_per_s = sl_logread_rate(o, SL_KEY(RATE_PER_S), f->rate_per_s);
}

/* "top_sites": at most SL_LOGREAD_MAX_SITES, each with a stack. */
static void sl_logread_top_sites(struct sl_logread_ctx *c, struct sl_logread_finding *f,
                                 json_t *o)
{
    json_t *arr = json_object_get(o, SL_KEY(TOP_SITES)), *site;
    size_t i;

    if (!json_is_array(arr))
        return;
    f->top_sites = sl_util_xcalloc(SL_LOGREAD_MAX_SITES, sizeof(*f->top_sites));
    json_array_foreach(arr, i, site)
    {
        if (!json_is_object(site) || f->n_top_sites == SL_LOGREAD_MAX_SITES)
            continue;
        struct sl_logread_site *s = &f->top_sites[f->n_top_sites++];
        sl_logread_stack(c, site, SL_KEY(OPEN_STACK), &s->open_stack);
        s->destination = sl_logread_dup(sl_logread_str(site, SL_KEY(DESTINATION)));
        s->connections = sl_logread_count(site, SL_KEY(CONNECTIONS), 0);
        s->time_wait = sl_logread_count(site, SL_KEY(TIME_WAIT), 0);
    }
}

/* time_wait_churn's keys (format/sockleak_log.h). */
static void sl_logread_churn(struct sl_logread_ctx *c, struct sl_logread_finding *f, json_t *o)
{
    json_t *range = json_object_get(o, SL_KEY(PORT_RANGE));

    if (strcmp(f->kind, SL_KIND_TIME_WAIT_CHURN) != 0)
        return;
    f->destination = sl_logread_dup(sl_logread_str(o, SL_KEY(DESTINATION)));
    sl_logread_churn_counts(f, o);
    if (json_is_array(range) && json_array_size(range) == 2 &&
        json_is_integer(json_array_get(range, 0)) && json_is_integer(json_array_get(range, 1))) {
        int64_t lo = json_integer_value(json_array_get(range, 0));
        int64_t hi = json_integer_value(json_array_get(range, 1));
        if (lo >= 0 && hi <= 65535 && lo <= hi) {
            f->port_lo = lo;
            f->port_hi = hi;
        }
    }
    f->exhausted = json_is_true(json_object_get(o, SL_KEY(EXHAUSTED)));
    if (f->exhausted)
        sl_logread_top_sites(c, f, o);
}

/* The TCP state names of a holder's "states", by tcpi_state. */
static const char *const sl_logread_tcp_states[SL_LOGREAD_TCP_STATES] = {
    "",         "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
    "TIME_WAIT", "CLOSE",      "CLOSE_WAIT", "LAST_ACK", "LISTEN",   "CLOSING"};

const char *sl_logread_tcp_state_name(size_t state)
{
    return state && state < SL_LOGREAD_TCP_STATES ? sl_logread_tcp_states[state] : NULL;
}

/* One holder of an fd_exhaustion finding; unknown state names are left out. */
static void sl_logread_holder(struct sl_logread_ctx *c, struct sl_logread_holder *h, json_t *o)
{
    json_t *states = json_object_get(o, SL_KEY(STATES)), *v;
    const char *name;

    sl_logread_stack(c, o, SL_KEY(OPEN_STACK), &h->open_stack);
    h->count = sl_logread_count(o, SL_KEY(COUNT), 0);
    h->oldest_ms = -1;
    json_t *old = json_object_get(o, SL_KEY(OLDEST_MS));
    if (json_is_integer(old) && json_integer_value(old) >= 0)
        h->oldest_ms = json_integer_value(old);
    if (!json_is_object(states))
        return;
    json_object_foreach(states, name, v)
    {
        for (size_t st = 1; st < SL_LOGREAD_TCP_STATES; st++)
            if (strcmp(name, sl_logread_tcp_states[st]) == 0)
                h->states[st] = sl_logread_count(states, name, 0);
    }
}

/* fd_exhaustion's keys (format/sockleak_log.h). */
static void sl_logread_fdexh(struct sl_logread_ctx *c, struct sl_logread_finding *f, json_t *o)
{
    json_t *arr = json_object_get(o, SL_KEY(HOLDERS)), *h, *open = json_object_get(o, SL_KEY(OPEN_FDS));
    size_t i;

    if (strcmp(f->kind, SL_KIND_FD_EXHAUSTION) != 0)
        return;
    f->fdexh = true;
    sl_logread_stack(c, o, SL_KEY(FAIL_STACK), &f->fail_stack);
    f->call = sl_logread_dup(sl_logread_str(o, SL_KEY(CALL)));
    f->err_name = sl_logread_dup(sl_logread_str(o, SL_KEY(ERRNO)));
    f->limit = sl_logread_count(o, SL_KEY(LIMIT), 0);
    f->open_fds = json_is_integer(open) && json_integer_value(open) >= 0 ? json_integer_value(open)
                                                                         : -1;
    if (!json_is_array(arr))
        return;
    f->holders = sl_util_xcalloc(SL_LOGREAD_MAX_SITES, sizeof(*f->holders));
    json_array_foreach(arr, i, h)
    {
        if (json_is_object(h) && f->n_holders < SL_LOGREAD_MAX_SITES)
            sl_logread_holder(c, &f->holders[f->n_holders++], h);
    }
}

static void sl_logread_finding(struct sl_logread_ctx *c, struct sl_logread_process *p, json_t *o)
{
    const char *kind = sl_logread_str(o, SL_KEY(KIND));
    struct sl_logread_finding *f;

    if (!kind || !*kind) {
        sl_logread_warn(c, "finding without kind, ignored");
        return;
    }
    if (p->n_findings == p->cap_findings) {
        p->cap_findings = p->cap_findings ? 2 * p->cap_findings : 8;
        p->findings = sl_util_xrealloc(p->findings, p->cap_findings * sizeof(*p->findings));
    }
    f = &p->findings[p->n_findings++];
    memset(f, 0, sizeof(*f));
    f->id = sl_logread_int(o, SL_KEY(ID), -1);
    if (p->n_findings > 1 && f->id <= f[-1].id)
        p->ids_unordered = true;
    f->kind = sl_logread_dup(kind);
    f->fd = sl_logread_int(o, SL_KEY(FD), -1);
    f->family = sl_logread_dup(sl_logread_str(o, SL_KEY(FAMILY)));
    f->local = sl_logread_dup(sl_logread_str(o, SL_KEY(LOCAL)));
    f->peer = sl_logread_dup(sl_logread_str(o, SL_KEY(PEER)));
    f->inode = (uint64_t)sl_logread_int(o, SL_KEY(INODE), 0);
    f->tcp_state = sl_logread_str(o, SL_KEY(TCP_STATE))
                       ? sl_logread_dup(sl_logread_str(o, SL_KEY(TCP_STATE)))
                       : NULL;
    f->eof_unix_ms = sl_logread_int(o, SL_KEY(EOF_UNIX_MS), 0);
    f->held_ms = sl_logread_count(o, SL_KEY(HELD_MS), 0);
    sl_logread_stack(c, o, SL_KEY(EOF_STACK), &f->eof_stack);
    sl_logread_stack(c, o, SL_KEY(OPEN_STACK), &f->open_stack);
    sl_logread_swept(c, f, o);
    sl_logread_churn(c, f, o);
    sl_logread_fdexh(c, f, o);
}

/* The finding with this id, or NULL. The writer numbers findings in order,
 * so a binary search; a log that does not falls back to a scan from the end.
 * A program that closes thousands of leaked sockets at exit must not make
 * reading quadratic. */
static struct sl_logread_finding *sl_logread_find(struct sl_logread_process *p, int64_t id)
{
    size_t lo = 0, hi = p->n_findings;

    if (p->ids_unordered) {
        for (size_t i = p->n_findings; i-- > 0;)
            if (p->findings[i].id == id)
                return &p->findings[i];
        return NULL;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->findings[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->n_findings && p->findings[lo].id == id ? &p->findings[lo] : NULL;
}

static void sl_logread_closed(struct sl_logread_ctx *c, struct sl_logread_process *p, json_t *o)
{
    json_t *id = json_object_get(o, SL_KEY(ID));
    struct sl_logread_finding *f;

    if (!json_is_integer(id)) {
        sl_logread_warn(c, "closed record without id, ignored");
        return;
    }
    f = sl_logread_find(p, json_integer_value(id));
    if (f) {
        f->closed = true;
        f->held_as_of = SL_LOGREAD_HELD_CLOSED;
        f->held_ms = sl_logread_count(o, SL_KEY(HELD_MS), f->held_ms);
        return;
    }
    sl_logread_warn(c, "closed record for unknown finding %lld, ignored",
                    (long long)json_integer_value(id));
}

/* A time_wait_churn finding's counts as they became later. */
static void sl_logread_update(struct sl_logread_ctx *c, struct sl_logread_process *p, json_t *o)
{
    json_t *id = json_object_get(o, SL_KEY(ID));
    struct sl_logread_finding *f;

    if (!json_is_integer(id)) {
        sl_logread_warn(c, "update record without id, ignored");
        return;
    }
    f = sl_logread_find(p, json_integer_value(id));
    if (f && f->destination) {
        sl_logread_churn_counts(f, o);
        return;
    }
    sl_logread_warn(c, "update record for unknown finding %lld, ignored",
                    (long long)json_integer_value(id));
}

/* True when p may keep a record of len more bytes: what one process makes
 * the reader hold is bounded, whatever its log holds. */
static bool sl_logread_budget(struct sl_logread_ctx *c, struct sl_logread_process *p, size_t len)
{
    if (p->bytes + len > c->set->max_proc_bytes) {
        if (!p->over_budget)
            sl_logread_warn(c,
                            "process %lld logged more than %zu bytes of records: the rest "
                            "of its modules and findings are left out",
                            (long long)p->pid, c->set->max_proc_bytes);
        p->over_budget = true;
        return false;
    }
    p->bytes += len;
    return true;
}

/* Sums saturate: two footers near INT64_MAX must not read as negative. */
static void sl_logread_footer(struct sl_logread_process *p, json_t *o)
{
    int64_t lost_errno = sl_logread_int(o, SL_KEY(LOST_ERRNO), 0);

    p->has_footer = true;
    p->lost = sl_util_sat_add(p->lost, sl_logread_count(o, SL_KEY(LOST), 0));
    if (lost_errno > 0 && lost_errno < 4096)
        p->lost_errno = (int)lost_errno;
    p->sockets = sl_util_sat_add(p->sockets, sl_logread_count(o, SL_KEY(SOCKETS), 0));
    p->eof_seen = sl_util_sat_add(p->eof_seen, sl_logread_count(o, SL_KEY(EOF_SEEN), 0));
    p->end_unix_ms = sl_logread_count(o, SL_KEY(END_UNIX_MS), 0);
}

/* The latest counts so far: each record holds totals, never a delta. */
static void sl_logread_counts(struct sl_logread_process *p, json_t *o)
{
    int64_t s = sl_logread_count(o, SL_KEY(SOCKETS), 0), e = sl_logread_count(o, SL_KEY(EOF_SEEN), 0);
    if (s > p->counted_sockets)
        p->counted_sockets = s;
    if (e > p->counted_eof)
        p->counted_eof = e;
}

static void sl_logread_free_stack(struct sl_logread_stack *st);

static const char *const sl_logread_states[SL_LOGREAD_STATES] = {
    "UNKNOWN",    "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
    "TIME_WAIT",  "CLOSE",       "CLOSE_WAIT", "LAST_ACK", "LISTEN",  "CLOSING"};

const char *sl_logread_state_name(int i)
{
    return i >= 0 && i < SL_LOGREAD_STATES ? sl_logread_states[i] : NULL;
}

static void sl_logread_free_census(struct sl_logread_process *p)
{
    for (size_t i = 0; i < p->n_census; i++)
        sl_logread_free_stack(&p->census[i].open_stack);
    free(p->census);
    p->census = NULL;
    p->n_census = 0;
}

/* A census site's "states": counts by name; names it does not know are
 * counted as UNKNOWN. */
static void sl_logread_census_states(struct sl_logread_census_site *cs, json_t *states)
{
    const char *name;
    json_t *v;

    json_object_foreach(states, name, v)
    {
        int st = 0;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            continue;
        for (int i = 1; i < SL_LOGREAD_STATES && !st; i++)
            if (strcmp(name, sl_logread_states[i]) == 0)
                st = i;
        cs->counts[st] = sl_util_sat_add(cs->counts[st], json_integer_value(v));
    }
}

/* The latest census of the process: the record replaces the one before. */
static void sl_logread_census(struct sl_logread_ctx *c, struct sl_logread_process *p, json_t *o)
{
    json_t *sites = json_object_get(o, SL_KEY(SITES)), *site;
    size_t i;

    if (!json_is_array(sites)) {
        sl_logread_warn(c, "open record without \"sites\", ignored");
        return;
    }
    sl_logread_free_census(p);
    p->has_census = true;
    p->census_sockets = sl_logread_count(o, SL_KEY(SOCKETS), 0);
    p->fd_limit = sl_logread_int(o, SL_KEY(FD_LIMIT), -1);
    p->census = sl_util_xcalloc(SL_LOGREAD_MAX_CENSUS, sizeof(*p->census));
    json_array_foreach(sites, i, site)
    {
        json_t *states = json_object_get(site, SL_KEY(STATES));
        if (!json_is_object(site) || !json_is_object(states) ||
            p->n_census == SL_LOGREAD_MAX_CENSUS)
            continue;
        struct sl_logread_census_site *cs = &p->census[p->n_census++];
        sl_logread_stack(c, site, SL_KEY(OPEN_STACK), &cs->open_stack);
        sl_logread_census_states(cs, states);
    }
}

static void sl_logread_record(struct sl_logread_ctx *c, json_t *o, size_t len)
{
    const char *t = sl_logread_str(o, SL_KEY(T));
    struct sl_logread_process *p;

    if (!t) {
        sl_logread_warn(c, "record without \"t\", ignored");
        return;
    }
    if (strcmp(t, SL_REC_HEADER) == 0) {
        sl_logread_header(c, o);
        return;
    }
    if (strcmp(t, SL_REC_MODULE) != 0 && strcmp(t, SL_REC_FINDING) != 0 &&
        strcmp(t, SL_REC_FRAME) != 0 && strcmp(t, SL_REC_CLOSED) != 0 &&
        strcmp(t, SL_REC_FOOTER) != 0 && strcmp(t, SL_REC_COUNTS) != 0 &&
        strcmp(t, SL_REC_UPDATE) != 0 && strcmp(t, SL_REC_OPEN) != 0) {
        sl_logread_warn(c, "unknown record type \"%s\", ignored", t);
        return;
    }
    if (c->k->skip)
        return;
    if (c->k->cur < 0) {
        sl_logread_warn(c, "\"%s\" record before any header, ignored", t);
        return;
    }
    p = &c->set->procs[c->k->cur];
    if (strcmp(t, SL_REC_MODULE) == 0) {
        if (sl_logread_budget(c, p, len))
            sl_logread_module_rec(c, p, o);
    } else if (strcmp(t, SL_REC_FRAME) == 0) {
        if (sl_logread_budget(c, p, len))
            sl_logread_lframe_rec(c, p, o);
    } else if (strcmp(t, SL_REC_FINDING) == 0) {
        if (sl_logread_budget(c, p, len))
            sl_logread_finding(c, p, o);
    } else if (strcmp(t, SL_REC_CLOSED) == 0) {
        sl_logread_closed(c, p, o);
    } else if (strcmp(t, SL_REC_COUNTS) == 0) {
        sl_logread_counts(p, o);
    } else if (strcmp(t, SL_REC_UPDATE) == 0) {
        sl_logread_update(c, p, o);
    } else if (strcmp(t, SL_REC_OPEN) == 0) {
        sl_logread_census(c, p, o);
    } else {
        sl_logread_footer(p, o);
    }
}

/* A finding line the scanner reads in full, kept as sl_logread_record
 * would keep it; false: the line is for jansson. */
static bool sl_logread_fast_finding(struct sl_logread_ctx *c, const char *buf, size_t len)
{
    struct sl_logread_finding tmp;
    struct sl_logread_process *p;

    if (!sl_logread_fast_scan(buf, len, &tmp))
        return false;
    if (c->k->skip || c->k->cur < 0 || !sl_logread_budget(c, p = &c->set->procs[c->k->cur], len)) {
        if (!c->k->skip && c->k->cur < 0)
            sl_logread_warn(c, "\"%s\" record before any header, ignored", SL_REC_FINDING);
        sl_logread_fast_free(&tmp);
        return true;
    }
    if (p->n_findings == p->cap_findings) {
        p->cap_findings = p->cap_findings ? 2 * p->cap_findings : 8;
        p->findings = sl_util_xrealloc(p->findings, p->cap_findings * sizeof(*p->findings));
    }
    p->findings[p->n_findings++] = tmp;
    if (p->n_findings > 1 && tmp.id <= p->findings[p->n_findings - 2].id)
        p->ids_unordered = true;
    return true;
}

/* One line of the log, len bytes at buf (not NUL-terminated). complete: it
 * ended with '\n' (else it is the last of a file read to its end). */
static void sl_logread_line(struct sl_logread_ctx *c, const char *buf, size_t len, bool complete)
{
    json_error_t err;
    json_t *o;

    if (!c->set->no_fast && sl_logread_fast_finding(c, buf, len))
        return;
    o = json_loadb(buf, len, 0, &err);
    if (!o || !json_is_object(o)) {
        if (!complete)
            sl_logread_warn(c, "truncated last line ignored (cut short: the process "
                               "was killed, or a write failed)");
        else
            sl_logread_warn(c, "corrupt line ignored: %s", o ? "not an object" : err.text);
        json_decref(o);
        return;
    }
    sl_logread_record(c, o, len);
    json_decref(o);
}

/* The cursor's first use: records attach to no process yet. */
static void sl_logread_start(struct sl_logread_set *set, struct sl_logread_cursor *k)
{
    if (k->started)
        return;
    k->started = true;
    k->cur = -1;
    set->n_files++;
}

void sl_logread_feed(struct sl_logread_set *set, struct sl_logread_cursor *k, const char *buf,
                     size_t len, bool too_long)
{
    struct sl_logread_ctx c = {.set = set, .k = k};

    sl_logread_start(set, k);
    k->line++;
    if (too_long)
        sl_logread_warn(&c, "line longer than %zu bytes, ignored", set->max_line);
    else if (len > 0)
        sl_logread_line(&c, buf, len, true);
}

/* Holds the n bytes at buf of a line not yet ended; a line past max_line is
 * never held: it is counted (and warned about) now, dropped to its '\n'. */
static void sl_logread_hold(struct sl_logread_set *set, struct sl_logread_cursor *k,
                            const char *buf, size_t n)
{
    if (k->discarding)
        return;
    if (k->plen + n > set->max_line) {
        k->discarding = true;
        k->plen = 0;
        sl_logread_feed(set, k, NULL, 0, true);
        return;
    }
    if (k->plen + n + 1 > k->pcap) {
        k->pcap = k->plen + n + 1 > 2 * k->pcap ? k->plen + n + 1 : 2 * k->pcap;
        k->pend = sl_util_xrealloc(k->pend, k->pcap);
    }
    memcpy(k->pend + k->plen, buf, n);
    k->plen += n;
    k->pend[k->plen] = '\0';
}

void sl_logread_feed_bytes(struct sl_logread_set *set, struct sl_logread_cursor *k, const char *buf,
                           size_t n)
{
    sl_logread_start(set, k);
    k->offset += (off_t)n;
    while (n > 0) {
        const char *nl = memchr(buf, '\n', n);
        size_t take = nl ? (size_t)(nl - buf) : n;

        if (nl && k->plen == 0 && !k->discarding && take <= set->max_line) {
            sl_logread_feed(set, k, buf, take, false); /* whole in buf: read in place */
        } else {
            sl_logread_hold(set, k, buf, take);
            if (!nl)
                return;
            if (!k->discarding)
                sl_logread_feed(set, k, k->pend ? k->pend : "", k->plen, false);
        }
        k->discarding = false;
        k->plen = 0;
        buf = nl + 1;
        n -= take + 1;
    }
}

void sl_logread_feed_end(struct sl_logread_set *set, struct sl_logread_cursor *k)
{
    struct sl_logread_ctx c = {.set = set, .k = k};

    sl_logread_start(set, k);
    if (!k->discarding && k->plen > 0) {
        k->line++;
        sl_logread_line(&c, k->pend, k->plen, false);
    }
    k->discarding = false;
    k->plen = 0;
}

void sl_logread_cursor_free(struct sl_logread_cursor *k)
{
    free(k->pend);
    k->pend = NULL;
    k->plen = k->pcap = 0;
}

/* The warnings past the limit of one file, counted in one line. */
static void sl_logread_more(struct sl_logread_set *set, const struct sl_logread_cursor *k)
{
    if (k->warnings <= SL_LOGREAD_MAX_WARNINGS_PER_FILE)
        return;
    fputs("sockleak: warning: ", SL_LOGREAD_ERR(set));
    sl_util_fputs_safe(k->name, SL_LOGREAD_ERR(set));
    fprintf(SL_LOGREAD_ERR(set), ": %zu more problems not shown\n",
            k->warnings - SL_LOGREAD_MAX_WARNINGS_PER_FILE);
}

int sl_logread_stream(struct sl_logread_set *set, FILE *fp, const char *name, bool trusted)
{
    struct sl_logread_cursor k = {.name = name, .trusted = trusted};
    char *buf = sl_util_xmalloc(SL_LOGREAD_CHUNK);
    size_t n;
    int rc = 0;

    sl_logread_start(set, &k);
    while ((n = fread(buf, 1, SL_LOGREAD_CHUNK, fp)) > 0)
        sl_logread_feed_bytes(set, &k, buf, n);
    free(buf);
    if (ferror(fp)) {
        fputs("sockleak: error reading ", SL_LOGREAD_ERR(set));
        sl_util_fputs_safe(name, SL_LOGREAD_ERR(set));
        fprintf(SL_LOGREAD_ERR(set), ": %s\n", strerror(errno));
        rc = -1;
    } else {
        sl_logread_feed_end(set, &k);
        sl_logread_more(set, &k);
    }
    sl_logread_cursor_free(&k);
    return rc;
}

static void sl_logread_free_stack(struct sl_logread_stack *st)
{
    free(st->frames);
}

static void sl_logread_free_index(struct sl_logread_modref **head)
{
    struct sl_logread_modref *r, *tmp;

    HASH_ITER(hh, *head, r, tmp)
    {
        HASH_DEL(*head, r);
        free(r);
    }
}

static void sl_logread_free_lframes(struct sl_logread_process *p)
{
    for (size_t j = 0; j < p->n_lframes; j++) {
        free(p->lframes[j].lang);
        free(p->lframes[j].function);
        free(p->lframes[j].file);
    }
    free(p->lframes);
    sl_logread_free_index(&p->lframe_hash);
}

static void sl_logread_free_proc(struct sl_logread_process *p)
{
    for (size_t j = 0; j < p->n_modules; j++) {
        free(p->modules[j].path);
        free(p->modules[j].build_id);
    }
    for (size_t j = 0; j < p->n_findings; j++) {
        struct sl_logread_finding *f = &p->findings[j];
        free(f->kind);
        free(f->family);
        free(f->local);
        free(f->peer);
        free(f->tcp_state);
        sl_logread_free_stack(&f->eof_stack);
        sl_logread_free_stack(&f->open_stack);
        sl_logread_free_stack(&f->last_read_stack);
        sl_logread_free_stack(&f->fork_stack);
        sl_logread_free_stack(&f->listen_stack);
        sl_logread_free_stack(&f->close_stack);
        sl_logread_free_stack(&f->first_close_stack);
        free(f->destination);
        for (size_t k = 0; k < f->n_top_sites; k++) {
            sl_logread_free_stack(&f->top_sites[k].open_stack);
            free(f->top_sites[k].destination);
        }
        free(f->top_sites);
        sl_logread_free_stack(&f->fail_stack);
        free(f->call);
        free(f->err_name);
        for (size_t k = 0; k < f->n_holders; k++)
            sl_logread_free_stack(&f->holders[k].open_stack);
        free(f->holders);
    }
    sl_logread_free_census(p);
    for (size_t j = 0; j < p->argc; j++)
        free(p->argv[j]);
    free(p->argv);
    free(p->modules);
    sl_logread_free_index(&p->mod_hash);
    sl_logread_free_lframes(p);
    free(p->findings);
    free(p->source);
    free(p->program);
    free(p->exe);
    free(p->run_id);
    free(p->suppressions);
}

void sl_logread_keep(struct sl_logread_set *set, const bool *keep)
{
    size_t n = 0;

    for (size_t i = 0; i < set->n_procs; i++) {
        if (!keep[i]) {
            sl_logread_free_proc(&set->procs[i]);
            continue;
        }
        if (n != i)
            set->procs[n] = set->procs[i];
        n++;
    }
    set->n_procs = n;
}

void sl_logread_free(struct sl_logread_set *set)
{
    for (size_t i = 0; i < set->n_procs; i++)
        sl_logread_free_proc(&set->procs[i]);
    free(set->procs);
    free(set->run_id);
    memset(set, 0, sizeof(*set));
}

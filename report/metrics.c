#include "metrics.h"
#include "group.h"
#include "held.h"
#include "tcpstate.h"
#include "util.h"

#include "sockleak_log.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

/* One series: the leaked sockets of one call site, kind and program. */
struct sl_metrics_series {
    char *key; /* the labels, \x1f-separated: hash key and output order */
    const char *kind, *program, *function, *file; /* borrowed (logs, symbols) */
    char *function_own, *file_own;                /* copies of the symbols */
    int line;
    uint64_t leaked; /* sockets leaked (the counter) */
    uint64_t held;   /* of those, still held in CLOSE_WAIT (the gauge) */
    UT_hash_handle hh;
};

char *sl_metrics_escape(const char *s)
{
    char *u = sl_util_xutf8(s ? s : "");
    size_t n = 0;
    char *out = sl_util_xmalloc(3 * strlen(u) + 1);

    for (const unsigned char *p = (const unsigned char *)u; *p; p++) {
        if (*p == '\\' || *p == '"') {
            out[n++] = '\\';
            out[n++] = (char)*p;
        } else if (*p == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else if (*p < 0x20 || *p == 0x7f) {
            memcpy(out + n, "\xef\xbf\xbd", 3); /* U+FFFD */
            n += 3;
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0) {
            memcpy(out + n, "\xef\xbf\xbd", 3); /* a C1 control */
            n += 3;
            p++;
        } else {
            out[n++] = (char)*p;
        }
    }
    out[n] = '\0';
    free(u);
    return out;
}

/* One TIME_WAIT series: a time_wait_churn call site and destination of
 * one program, with the most TIME_WAIT sockets the kernel last counted for
 * it in a process still running (0 when none runs). */
struct sl_metrics_tw {
    char *key; /* program, function, file, line, destination: \x1f-separated */
    const char *program;        /* borrowed from the logs */
    char *function, *file, *destination;
    int line;
    int64_t peak;
    UT_hash_handle hh;
};

/* The ephemeral port range's size a program's findings gave. */
struct sl_metrics_ports {
    const char *program; /* borrowed */
    int64_t ports;
};

/* The TCP sockets of one program's running processes, per kernel state;
 * their descriptors and fd limits. */
struct sl_metrics_tcp {
    const char *program; /* borrowed from the logs */
    uint64_t counts[SL_TCPSTATE_N];
    uint64_t total;
    size_t fds_max;      /* open descriptors of the process holding the most */
    int64_t limit_min;   /* lowest RLIMIT_NOFILE soft limit of a census, 0 none */
};

/* One open-socket series: the sockets a creation site of one program holds
 * in one TCP state, summed over its running processes' latest census. */
struct sl_metrics_open {
    char *key; /* program, function, file, line, state: \x1f-separated */
    const char *program, *state; /* borrowed */
    char *function, *file;
    int line;
    int64_t n;
    UT_hash_handle hh;
};

/* What one call of sl_metrics_write gathers. */
struct sl_metrics_ctx {
    const struct sl_metrics_opts *o;
    struct sl_supp_set supp;
    struct sl_metrics_series *hash;
    struct sl_metrics_tw *tw;
    struct sl_metrics_ports *ports;
    size_t n_ports;
    struct sl_metrics_tcp *tcp;
    size_t n_tcp;
    struct sl_tcpstate_cache *tcpc;
    struct sl_metrics_open *open;
};

/* Start times agree within this: clock ticks and two reads of two clocks. */
#define SL_METRICS_START_SLACK_MS 2000

bool sl_metrics_alive(const struct sl_logread_process *p)
{
    int64_t start;

    if (p->has_footer || p->pid <= 0 || p->pid > INT32_MAX)
        return false;
    if (kill((pid_t)p->pid, 0) != 0 && errno != EPERM)
        return false;
    /* The pid may have been reused since: its start time tells. */
    start = sl_held_pid_start(p->pid, sl_held_now_ms());
    return start >= 0 && llabs(start - p->start_unix_ms) <= SL_METRICS_START_SLACK_MS;
}

/* A time_wait_churn group g of program at call site function, file,
 * line: its TIME_WAIT series (the peak when held: a running process's),
 * and the program's port range. */
static void sl_metrics_add_tw(struct sl_metrics_ctx *x, const struct sl_group *g,
                              const char *program, const char *function, const char *file,
                              int line, bool held)
{
    struct sl_metrics_tw *t;
    char *key;
    int64_t ports = g->port_hi && g->port_hi >= g->port_lo ? g->port_hi - g->port_lo + 1 : 0;

    if (asprintf(&key, "%s\x1f%s\x1f%s\x1f%010d\x1f%s", program, function, file, line,
                 g->destination) < 0)
        key = sl_util_xstrdup("?"); /* not reached but for memory exhaustion */
    HASH_FIND_STR(x->tw, key, t);
    if (t) {
        free(key);
    } else {
        t = sl_util_xcalloc(1, sizeof(*t));
        t->key = key;
        t->program = program;
        t->function = sl_util_xstrdup(function);
        t->file = sl_util_xstrdup(file);
        t->destination = sl_util_xstrdup(g->destination);
        t->line = line;
        HASH_ADD_KEYPTR(hh, x->tw, t->key, strlen(t->key), t);
    }
    if (held && g->time_wait_peak > t->peak)
        t->peak = g->time_wait_peak;
    if (!ports)
        return;
    if (!x->n_ports || strcmp(x->ports[x->n_ports - 1].program, program) != 0) {
        x->ports = sl_util_xrealloc(x->ports, (x->n_ports + 1) * sizeof(*x->ports));
        x->ports[x->n_ports++] = (struct sl_metrics_ports){program, 0};
    }
    if (ports > x->ports[x->n_ports - 1].ports)
        x->ports[x->n_ports - 1].ports = ports;
}

static void sl_metrics_add(struct sl_metrics_ctx *x, const struct sl_group *g, const char *program,
                           bool held)
{
    struct sl_metrics_series **hash = &x->hash;
    /* The call site: the first frame in user code, else the first frame of
     * the stacks the finding is about; NULL when those are empty. */
    const struct sl_sym_frame *f = g->call_site;
    const char *function = f ? f->function : "unknown";
    const char *file = f && f->file ? sl_util_basename(f->file) : "";
    int line = f && f->line > 0 ? f->line : 0;
    struct sl_metrics_series *s;
    char *key;

    if (asprintf(&key, "%s\x1f%s\x1f%s\x1f%s\x1f%010d", g->kind, program, function, file, line) < 0)
        key = sl_util_xstrdup("?"); /* not reached but for memory exhaustion */
    HASH_FIND_STR(*hash, key, s);
    if (s) {
        free(key);
    } else {
        s = sl_util_xcalloc(1, sizeof(*s));
        s->key = key;
        s->kind = g->kind;
        s->program = program;
        s->function = s->function_own = sl_util_xstrdup(function);
        s->file = s->file_own = sl_util_xstrdup(file);
        s->line = line;
        HASH_ADD_KEYPTR(hh, *hash, s->key, strlen(s->key), s);
    }
    if (held)
        s->held += g->count;
    else
        s->leaked += g->count;
    if (g->destination)
        sl_metrics_add_tw(x, g, program, s->function, s->file, line, held);
}

/* Groups the n processes of one program (copies: the view is theirs alone)
 * and adds every group left after suppressions to the series. */
static void sl_metrics_add_view(struct sl_metrics_ctx *x, struct sl_logread_process *procs,
                                size_t n, bool held)
{
    struct sl_logread_set view = {.procs = procs, .n_procs = n, .cap_procs = n};
    struct sl_group_set groups;

    sl_group_build(&groups, &view);
    sl_group_symbolize(&groups, x->o->sym);
    if (x->supp.n)
        sl_supp_apply(&x->supp, &groups);
    for (size_t i = 0; i < groups.n_groups; i++)
        if (groups.groups[i]->suppressed_by < 0)
            sl_metrics_add(x, groups.groups[i], procs[0].program, held);
    sl_group_free(&groups);
}

/* The sockets still held in CLOSE_WAIT: findings of a close_wait kind not
 * followed by a closed record, in a process still running. */
static bool sl_metrics_held(const struct sl_logread_finding *f)
{
    return (!f->closed && strncmp(f->kind, SL_KIND_CLOSE_WAIT, strlen(SL_KIND_CLOSE_WAIT)) == 0) ||
           f->destination; /* time_wait_churn: its peak, while the process runs */
}

/* A running process of the program: its sockets go to the TCP counts. */
static void sl_metrics_add_tcp(struct sl_metrics_ctx *x, const struct sl_logread_process *p)
{
    struct sl_metrics_tcp *t = x->n_tcp ? &x->tcp[x->n_tcp - 1] : NULL;
    uint64_t counts[SL_TCPSTATE_N] = {0};

    size_t fds = 0;

    if (!sl_tcpstate_count(x->tcpc, p->pid, counts, &fds))
        return;
    if (!t || strcmp(t->program, p->program) != 0) {
        x->tcp = sl_util_xrealloc(x->tcp, (x->n_tcp + 1) * sizeof(*x->tcp));
        t = &x->tcp[x->n_tcp++];
        memset(t, 0, sizeof(*t));
        t->program = p->program;
    }
    for (int i = 0; i < SL_TCPSTATE_N; i++) {
        t->counts[i] += counts[i];
        t->total += counts[i];
    }
    if (fds > t->fds_max)
        t->fds_max = fds;
    if (p->has_census && p->fd_limit > 0 && (!t->limit_min || p->fd_limit < t->limit_min))
        t->limit_min = p->fd_limit;
}

/* The series of sockets at call site g of program, in the state its
 * synthetic findings carried (sl_metrics_add_census). */
static void sl_metrics_add_open(struct sl_metrics_ctx *x, const struct sl_group *g,
                                const char *program)
{
    const struct sl_sym_frame *f = g->call_site;
    const char *function = f ? f->function : "unknown";
    const char *file = f && f->file ? sl_util_basename(f->file) : "";
    int line = f && f->line > 0 ? f->line : 0;
    const char *state = g->destination;
    struct sl_metrics_open *o;
    char *key;

    if (asprintf(&key, "%s\x1f%s\x1f%s\x1f%010d\x1f%s", program, function, file, line, state) < 0)
        key = sl_util_xstrdup("?"); /* not reached but for memory exhaustion */
    HASH_FIND_STR(x->open, key, o);
    if (o) {
        free(key);
    } else {
        o = sl_util_xcalloc(1, sizeof(*o));
        o->key = key;
        o->program = program;
        o->state = state;
        o->function = sl_util_xstrdup(function);
        o->file = sl_util_xstrdup(file);
        o->line = line;
        HASH_ADD_KEYPTR(hh, x->open, o->key, strlen(o->key), o);
    }
    o->n += g->count > INT64_MAX ? INT64_MAX : (int64_t)g->count;
}

/* The latest census of the n running processes of one program: each
 * creation site's sockets in one state stand as one finding of kind
 * open_at_exit (grouped and named by its open_stack, as the report names
 * an open_at_exit call site, the wrapper rule included), the state in its
 * destination, which the group key keeps apart. */
static void sl_metrics_add_census(struct sl_metrics_ctx *x, const struct sl_logread_process *live,
                                  size_t n)
{
    struct sl_logread_process *view = sl_util_xcalloc(n, sizeof(*view));
    struct sl_logread_set set = {.procs = view, .n_procs = n, .cap_procs = n};
    struct sl_group_set groups;
    bool any = false;

    for (size_t i = 0; i < n; i++) {
        view[i] = live[i];
        view[i].findings =
            sl_util_xcalloc(live[i].n_census * SL_LOGREAD_STATES + 1, sizeof(*view[i].findings));
        view[i].n_findings = view[i].cap_findings = 0;
        for (size_t j = 0; live[i].has_census && j < live[i].n_census; j++)
            for (int st = 0; st < SL_LOGREAD_STATES; st++) {
                struct sl_logread_finding *f;
                if (!live[i].census[j].counts[st])
                    continue;
                f = &view[i].findings[view[i].n_findings++];
                f->kind = (char *)SL_KIND_OPEN_AT_EXIT;
                f->destination = (char *)sl_logread_state_name(st);
                f->open_stack = live[i].census[j].open_stack;
                f->sockets = live[i].census[j].counts[st];
                any = true;
            }
    }
    if (any) {
        sl_group_build(&groups, &set);
        sl_group_symbolize(&groups, x->o->sym);
        for (size_t i = 0; i < groups.n_groups; i++)
            sl_metrics_add_open(x, groups.groups[i], live[0].program);
        sl_group_free(&groups);
    }
    for (size_t i = 0; i < n; i++)
        free(view[i].findings);
    free(view);
}

/* Both views of the n processes of one program: all findings (the counter)
 * and those still held by running processes (the gauge); and the TCP
 * sockets of the running ones. */
static void sl_metrics_program(struct sl_metrics_ctx *x,
                               const struct sl_logread_process *const *procs, size_t n)
{
    struct sl_logread_process *all = sl_util_xcalloc(n, sizeof(*all));
    struct sl_logread_process *live = sl_util_xcalloc(n, sizeof(*live));
    size_t n_live = 0;

    for (size_t i = 0; i < n; i++) {
        struct sl_logread_process *l;

        all[i] = *procs[i];
        if (!sl_metrics_alive(procs[i]))
            continue;
        sl_metrics_add_tcp(x, procs[i]);
        l = &live[n_live++];
        *l = *procs[i];
        l->findings = sl_util_xcalloc(l->n_findings, sizeof(*l->findings));
        l->n_findings = l->cap_findings = 0;
        for (size_t j = 0; j < procs[i]->n_findings; j++)
            if (sl_metrics_held(&procs[i]->findings[j]))
                l->findings[l->n_findings++] = procs[i]->findings[j];
    }
    sl_metrics_add_view(x, all, n, false);
    if (n_live)
        sl_metrics_add_view(x, live, n_live, true);
    if (n_live)
        sl_metrics_add_census(x, live, n_live);
    for (size_t i = 0; i < n_live; i++)
        free(live[i].findings);
    free(live);
    free(all);
}

static int sl_metrics_cmp_program(const void *a, const void *b)
{
    const struct sl_logread_process *x = *(const struct sl_logread_process *const *)a;
    const struct sl_logread_process *y = *(const struct sl_logread_process *const *)b;
    int c = strcmp(x->program, y->program);

    /* Same program: keep the order of the logs (the address is it). */
    return c ? c : (x > y) - (x < y);
}

/* Most leaks first, so that the cap leaves out the smallest series. */
static int sl_metrics_cmp_leaked(const void *a, const void *b)
{
    const struct sl_metrics_series *x = *(struct sl_metrics_series *const *)a;
    const struct sl_metrics_series *y = *(struct sl_metrics_series *const *)b;

    if (x->leaked != y->leaked)
        return x->leaked > y->leaked ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int sl_metrics_cmp_key(const void *a, const void *b)
{
    return strcmp((*(struct sl_metrics_series *const *)a)->key,
                  (*(struct sl_metrics_series *const *)b)->key);
}

/* The rules of --suppressions and of the files the logs' headers name
 * (scoped to their processes), as `sockleak report` applies them. */
static void sl_metrics_supp(struct sl_supp_set *out, const struct sl_metrics_opts *o,
                            const struct sl_logread_process *const *procs, size_t n)
{
    for (size_t i = 0; o->supp && i < o->supp->n; i++)
        if (!o->supp->rules[i].scope) /* a log-named file's: loaded below */
            sl_supp_add(out, o->supp->rules[i].text);
    for (size_t i = 0; i < n; i++) {
        const char *f = procs[i]->suppressions;
        bool seen = false;
        for (size_t j = 0; f && j < i && !seen; j++)
            seen = procs[j]->suppressions && strcmp(procs[j]->suppressions, f) == 0;
        if (f && !seen)
            sl_supp_load_scoped(out, f);
    }
}

static void sl_metrics_family(FILE *out, bool om, const char *name, const char *type,
                              const char *help)
{
    /* OpenMetrics names a counter's family without the _total its samples
     * carry; the text format names it as its samples. */
    const char *suffix = !om && strcmp(type, "counter") == 0 ? "_total" : "";

    if (om)
        fprintf(out, "# TYPE %s %s\n# HELP %s %s\n", name, type, name, help);
    else
        fprintf(out, "# HELP %s%s %s\n# TYPE %s%s %s\n", name, suffix, help, name, suffix, type);
}

static void sl_metrics_sample(FILE *out, const char *name, const struct sl_metrics_series *s,
                              uint64_t value)
{
    const char *v[4] = {s->kind, s->program, s->function, s->file};
    const char *k[4] = {"kind", "program", "function", "file"};

    fprintf(out, "%s{", name);
    for (int i = 0; i < 4; i++) {
        char *e = sl_metrics_escape(v[i]);
        fprintf(out, "%s=\"%s\",", k[i], e);
        free(e);
    }
    fprintf(out, "line=\"%d\"} %" PRIu64 "\n", s->line, value);
}

#define SL_METRICS_LEAKED_HELP                                                                     \
    "Sockets sockleak found leaked (read end-of-stream or sat in CLOSE_WAIT past the deadline "    \
    "without being closed), by kind, program and call site."
#define SL_METRICS_DOUBLE_HELP                                                                     \
    "Sockets closed twice: a close (or dup2/dup3 from it) failed with EBADF on the number of a "    \
    "socket the program had closed before, by program and call site (the second close)."
#define SL_METRICS_CHURN_HELP                                                                      \
    "time_wait_churn findings: a connect call site whose TIME_WAIT sockets to one destination "    \
    "passed churn_share of the ephemeral port range, or a connect that failed with "              \
    "EADDRNOTAVAIL, by program and call site (the connect)."
#define SL_METRICS_FDEXH_HELP                                                                      \
    "fd_exhaustion findings: episodes in which a call that makes an fd failed with EMFILE or "    \
    "ENFILE, by program and call site (the failing call)."
#define SL_METRICS_TW_HELP                                                                         \
    "TIME_WAIT sockets to the destination that the kernel last counted for a time_wait_churn "    \
    "call site (its peak), in processes still running on this machine; 0 once none runs."
#define SL_METRICS_PORTS_HELP                                                                      \
    "Size of the ephemeral port range (net.ipv4.ip_local_port_range) a program's "                \
    "time_wait_churn findings were measured against."
#define SL_METRICS_HELD_HELP                                                                       \
    "Leaked sockets of a close_wait kind still held: no closed record followed and the "           \
    "process still runs on this machine."
#define SL_METRICS_TCP_HELP                                                                        \
    "TCP sockets of the processes with a log that still run on this machine, by program and "      \
    "kernel state."
#define SL_METRICS_OPEN_HELP                                                                       \
    "TCP sockets the processes still running on this machine hold, by program, creation site "    \
    "(the socket, accept or connect call) and kernel state, from each one's latest open-socket "  \
    "census (the 16 sites holding the most per process, every 10 s by default)."
#define SL_METRICS_LIMIT_HELP                                                                      \
    "RLIMIT_NOFILE soft limit of a program's running processes (the lowest, when they differ), "  \
    "from their open-socket census."
#define SL_METRICS_FDS_HELP                                                                        \
    "Open file descriptors of a program's running process holding the most (/proc/PID/fd)."
#define SL_METRICS_DROPPED_HELP                                                                    \
    "Series left out of the families above because there were more than the cap."

static void sl_metrics_emit_fds(FILE *out, struct sl_metrics_ctx *x, size_t kept, bool om);

/* Programs with most sockets first, so that the cap leaves out the least. */
static int sl_metrics_cmp_tcp(const void *a, const void *b)
{
    const struct sl_metrics_tcp *x = a, *y = b;

    if (x->total != y->total)
        return x->total > y->total ? -1 : 1;
    return strcmp(x->program, y->program);
}

static int sl_metrics_cmp_tcp_program(const void *a, const void *b)
{
    return strcmp(((const struct sl_metrics_tcp *)a)->program,
                  ((const struct sl_metrics_tcp *)b)->program);
}

/* The TCP state family: every state of every program kept (at most max
 * series); returns the series left out. */
static size_t sl_metrics_emit_tcp(FILE *out, struct sl_metrics_ctx *x, size_t max, bool om)
{
    size_t per = SL_TCPSTATE_N - 1, kept = max / per < x->n_tcp ? max / per : x->n_tcp;

    if (x->n_tcp) {
        qsort(x->tcp, x->n_tcp, sizeof(*x->tcp), sl_metrics_cmp_tcp);
        qsort(x->tcp, kept, sizeof(*x->tcp), sl_metrics_cmp_tcp_program);
    }
    sl_metrics_family(out, om, "sockleak_tcp_sockets", "gauge", SL_METRICS_TCP_HELP);
    for (size_t i = 0; i < kept; i++) {
        char *prog = sl_metrics_escape(x->tcp[i].program);
        for (int st = 1; st < SL_TCPSTATE_N; st++)
            fprintf(out, "sockleak_tcp_sockets{program=\"%s\",state=\"%s\"} %" PRIu64 "\n", prog,
                    sl_tcpstate_name(st), x->tcp[i].counts[st]);
        free(prog);
    }
    sl_metrics_emit_fds(out, x, kept, om);
    return (x->n_tcp - kept) * per;
}

/* A kind's counter (time_wait_churn, fd_exhaustion): a family of its own
 * (not a leak), named sockleak_KIND, there only when it has series. */
static void sl_metrics_emit_kind(FILE *out, struct sl_metrics_series **list, size_t n, bool om,
                                 const char *kind, const char *help)
{
    char family[64], total[72];
    bool any = false;

    snprintf(family, sizeof family, "sockleak_%s", kind);
    snprintf(total, sizeof total, "%s_total", family);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i]->kind, kind) != 0)
            continue;
        if (!any)
            sl_metrics_family(out, om, family, "counter", help);
        any = true;
        sl_metrics_sample(out, total, list[i], list[i]->leaked);
    }
}

/* Most TIME_WAIT sockets first, so that the cap leaves out the least. */
static int sl_metrics_cmp_tw(const void *a, const void *b)
{
    const struct sl_metrics_tw *x = *(struct sl_metrics_tw *const *)a;
    const struct sl_metrics_tw *y = *(struct sl_metrics_tw *const *)b;

    if (x->peak != y->peak)
        return x->peak > y->peak ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int sl_metrics_cmp_tw_key(const void *a, const void *b)
{
    return strcmp((*(struct sl_metrics_tw *const *)a)->key,
                  (*(struct sl_metrics_tw *const *)b)->key);
}

/* The TIME_WAIT gauge (at most max series) and the port range gauge,
 * there only when some program had a time_wait_churn finding; returns the
 * series left out. */
static size_t sl_metrics_emit_tw(FILE *out, struct sl_metrics_ctx *x, size_t max, bool om)
{
    size_t n = HASH_COUNT(x->tw), i = 0, kept = n < max ? n : max;
    struct sl_metrics_tw *t, *tmp, **list;

    if (!n)
        return 0;
    list = sl_util_xcalloc(n, sizeof(*list));
    HASH_ITER(hh, x->tw, t, tmp) list[i++] = t;
    qsort(list, n, sizeof(*list), sl_metrics_cmp_tw);
    qsort(list, kept, sizeof(*list), sl_metrics_cmp_tw_key);
    sl_metrics_family(out, om, "sockleak_time_wait_sockets", "gauge", SL_METRICS_TW_HELP);
    for (i = 0; i < kept; i++) {
        const char *v[5] = {list[i]->program, list[i]->function, list[i]->file, NULL,
                            list[i]->destination};
        const char *k[5] = {"program", "function", "file", "line", "destination"};
        fputs("sockleak_time_wait_sockets{", out);
        for (int j = 0; j < 5; j++) {
            char *e = v[j] ? sl_metrics_escape(v[j]) : NULL;
            if (e)
                fprintf(out, "%s%s=\"%s\"", j ? "," : "", k[j], e);
            else
                fprintf(out, ",%s=\"%d\"", k[j], list[i]->line);
            free(e);
        }
        fprintf(out, "} %" PRId64 "\n", list[i]->peak);
    }
    free(list);
    if (x->n_ports)
        sl_metrics_family(out, om, "sockleak_ephemeral_ports", "gauge", SL_METRICS_PORTS_HELP);
    for (i = 0; i < x->n_ports; i++) {
        char *e = sl_metrics_escape(x->ports[i].program);
        fprintf(out, "sockleak_ephemeral_ports{program=\"%s\"} %" PRId64 "\n", e,
                x->ports[i].ports);
        free(e);
    }
    return n - kept;
}

/* Most sockets first, so that the cap leaves out the least. */
static int sl_metrics_cmp_open(const void *a, const void *b)
{
    const struct sl_metrics_open *x = *(struct sl_metrics_open *const *)a;
    const struct sl_metrics_open *y = *(struct sl_metrics_open *const *)b;

    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int sl_metrics_cmp_open_key(const void *a, const void *b)
{
    return strcmp((*(struct sl_metrics_open *const *)a)->key,
                  (*(struct sl_metrics_open *const *)b)->key);
}

/* sockleak_open_sockets (at most max series), there only when a running
 * process wrote a census; returns the series left out. */
static size_t sl_metrics_emit_open(FILE *out, struct sl_metrics_ctx *x, size_t max, bool om)
{
    size_t n = HASH_COUNT(x->open), i = 0, kept = n < max ? n : max;
    struct sl_metrics_open *o, *tmp, **list;

    if (!n)
        return 0;
    list = sl_util_xcalloc(n, sizeof(*list));
    HASH_ITER(hh, x->open, o, tmp) list[i++] = o;
    qsort(list, n, sizeof(*list), sl_metrics_cmp_open);
    qsort(list, kept, sizeof(*list), sl_metrics_cmp_open_key);
    sl_metrics_family(out, om, "sockleak_open_sockets", "gauge", SL_METRICS_OPEN_HELP);
    for (i = 0; i < kept; i++) {
        char *v[4] = {sl_metrics_escape(list[i]->program), sl_metrics_escape(list[i]->function),
                      sl_metrics_escape(list[i]->file), sl_metrics_escape(list[i]->state)};
        fprintf(out,
                "sockleak_open_sockets{program=\"%s\",function=\"%s\",file=\"%s\",line=\"%d\","
                "state=\"%s\"} %" PRId64 "\n",
                v[0], v[1], v[2], list[i]->line, v[3], list[i]->n);
        for (int j = 0; j < 4; j++)
            free(v[j]);
    }
    free(list);
    return n - kept;
}

/* sockleak_fd_limit and sockleak_open_fds of the programs running (those
 * kept by the TCP family's cap). */
static void sl_metrics_emit_fds(FILE *out, struct sl_metrics_ctx *x, size_t kept, bool om)
{
    bool any = false;

    for (size_t i = 0; i < kept; i++) {
        char *prog;
        if (!x->tcp[i].limit_min)
            continue;
        if (!any)
            sl_metrics_family(out, om, "sockleak_fd_limit", "gauge", SL_METRICS_LIMIT_HELP);
        any = true;
        prog = sl_metrics_escape(x->tcp[i].program);
        fprintf(out, "sockleak_fd_limit{program=\"%s\"} %" PRId64 "\n", prog, x->tcp[i].limit_min);
        free(prog);
    }
    if (kept)
        sl_metrics_family(out, om, "sockleak_open_fds", "gauge", SL_METRICS_FDS_HELP);
    for (size_t i = 0; i < kept; i++) {
        char *prog = sl_metrics_escape(x->tcp[i].program);
        fprintf(out, "sockleak_open_fds{program=\"%s\"} %zu\n", prog, x->tcp[i].fds_max);
        free(prog);
    }
}

/* Every family; the leak series in list (n of them kept out of n_all). */
static void sl_metrics_emit(FILE *out, struct sl_metrics_ctx *x, struct sl_metrics_series **list,
                            size_t n, size_t n_all, size_t max)
{
    bool om = x->o->openmetrics;
    size_t dropped = n_all - n;

    size_t doubles = 0;

    sl_metrics_family(out, om, "sockleak_leaked_sockets", "counter", SL_METRICS_LEAKED_HELP);
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i]->kind, SL_KIND_DOUBLE_CLOSE) == 0)
            doubles++;
        else if (strcmp(list[i]->kind, SL_KIND_TIME_WAIT_CHURN) != 0 &&
                 strcmp(list[i]->kind, SL_KIND_FD_EXHAUSTION) != 0)
            sl_metrics_sample(out, "sockleak_leaked_sockets_total", list[i], list[i]->leaked);
    /* Not a leak: a family of its own, there only when it has series. */
    if (doubles)
        sl_metrics_family(out, om, "sockleak_double_closes", "counter", SL_METRICS_DOUBLE_HELP);
    for (size_t i = 0; i < n && doubles; i++)
        if (strcmp(list[i]->kind, SL_KIND_DOUBLE_CLOSE) == 0)
            sl_metrics_sample(out, "sockleak_double_closes_total", list[i], list[i]->leaked);
    sl_metrics_emit_kind(out, list, n, om, SL_KIND_TIME_WAIT_CHURN, SL_METRICS_CHURN_HELP);
    sl_metrics_emit_kind(out, list, n, om, SL_KIND_FD_EXHAUSTION, SL_METRICS_FDEXH_HELP);
    dropped += sl_metrics_emit_tw(out, x, max, om);
    sl_metrics_family(out, om, "sockleak_close_wait_sockets", "gauge", SL_METRICS_HELD_HELP);
    for (size_t i = 0; i < n; i++)
        if (strncmp(list[i]->kind, SL_KIND_CLOSE_WAIT, strlen(SL_KIND_CLOSE_WAIT)) == 0)
            sl_metrics_sample(out, "sockleak_close_wait_sockets", list[i], list[i]->held);
    dropped += sl_metrics_emit_open(out, x, max, om);
    dropped += sl_metrics_emit_tcp(out, x, max, om);
    sl_metrics_family(out, om, "sockleak_metrics_dropped_series", "gauge", SL_METRICS_DROPPED_HELP);
    fprintf(out, "sockleak_metrics_dropped_series %zu\n", dropped);
    if (om)
        fputs("# EOF\n", out);
}

static void sl_metrics_free(struct sl_metrics_ctx *x)
{
    struct sl_metrics_series *s, *tmp;

    HASH_ITER(hh, x->hash, s, tmp)
    {
        HASH_DEL(x->hash, s);
        free(s->key);
        free(s->function_own);
        free(s->file_own);
        free(s);
    }
    struct sl_metrics_tw *t, *ttmp;
    HASH_ITER(hh, x->tw, t, ttmp)
    {
        HASH_DEL(x->tw, t);
        free(t->key);
        free(t->function);
        free(t->file);
        free(t->destination);
        free(t);
    }
    struct sl_metrics_open *o, *otmp;
    HASH_ITER(hh, x->open, o, otmp)
    {
        HASH_DEL(x->open, o);
        free(o->key);
        free(o->function);
        free(o->file);
        free(o);
    }
    free(x->ports);
    free(x->tcp);
    sl_tcpstate_free(x->tcpc);
    sl_supp_free(&x->supp);
}

int sl_metrics_write(FILE *out, const struct sl_logread_process *const *procs, size_t n,
                     const struct sl_metrics_opts *o)
{
    const struct sl_logread_process **order = sl_util_xcalloc(n, sizeof(*order));
    struct sl_metrics_ctx x = {.o = o, .tcpc = sl_tcpstate_new()};
    struct sl_metrics_series *s, *tmp, **list;
    size_t n_series, kept, i = 0, max = o->max_series ? o->max_series : SL_METRICS_MAX_SERIES;

    memcpy(order, procs, n * sizeof(*order));
    qsort(order, n, sizeof(*order), sl_metrics_cmp_program);
    sl_metrics_supp(&x.supp, o, procs, n);
    for (size_t start = 0, end; start < n; start = end) {
        for (end = start + 1; end < n && strcmp(order[end]->program, order[start]->program) == 0;)
            end++;
        sl_metrics_program(&x, order + start, end - start);
    }
    n_series = HASH_COUNT(x.hash);
    list = sl_util_xcalloc(n_series, sizeof(*list));
    HASH_ITER(hh, x.hash, s, tmp) list[i++] = s;
    qsort(list, n_series, sizeof(*list), sl_metrics_cmp_leaked);
    kept = n_series < max ? n_series : max;
    qsort(list, kept, sizeof(*list), sl_metrics_cmp_key);
    sl_metrics_emit(out, &x, list, kept, n_series, max);
    free(list);
    free(order);
    sl_metrics_free(&x);
    return ferror(out) || fflush(out) != 0 ? -1 : 0;
}

#include "format.h"
#include "held.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sockleak_log.h"

json_t *sl_fmt_json_str(const char *s)
{
    json_t *v = json_string(s ? s : "");
    char *fixed;

    if (v)
        return v;
    fixed = sl_util_xutf8(s);
    v = json_string(fixed);
    free(fixed);
    return v ? v : json_string("");
}

bool sl_fmt_rule_listed(const struct sl_supp_rule *r)
{
    return !r->scope || r->count > 0;
}

/* A frame: function, file, line; a native frame's module and address, or a
 * language frame's lang (native frames have no "lang"). */
static json_t *sl_fmt_json_frame(const struct sl_sym_frame *f)
{
    json_t *o = json_object();
    char addr[32];

    json_object_set_new(o, "function", sl_fmt_json_str(f->function));
    if (f->file) {
        json_object_set_new(o, "file", sl_fmt_json_str(f->file));
        if (f->line > 0)
            json_object_set_new(o, "line", json_integer(f->line));
    }
    if (f->lang) {
        json_object_set_new(o, "lang", sl_fmt_json_str(f->lang));
        return o;
    }
    snprintf(addr, sizeof(addr), "0x%" PRIx64, f->address);
    json_object_set_new(o, "module", sl_fmt_json_str(f->module));
    json_object_set_new(o, "address", json_string(addr));
    if (f->inlined)
        json_object_set_new(o, "inlined", json_true());
    if (f->stale)
        json_object_set_new(o, "stale", json_true());
    return o;
}

static json_t *sl_fmt_json_stack(const struct sl_sym_stack *st)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < st->n; i++)
        json_array_append_new(arr, sl_fmt_json_frame(&st->frames[i]));
    return arr;
}

/* The group's call site: its frame, the stack it is from ("stack"), and
 * whether it is user code ("user") or the listener an accepted socket came
 * from ("listener"); null when the stacks are empty. */
/* {"function", "file", "line"} of a frame (file and line when known). */
static json_t *sl_fmt_json_place(const struct sl_sym_frame *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "function", sl_fmt_json_str(f->function));
    if (f->file)
        json_object_set_new(o, "file", sl_fmt_json_str(f->file));
    if (f->line > 0)
        json_object_set_new(o, "line", json_integer(f->line));
    return o;
}

json_t *sl_fmt_json_call_site(const struct sl_group *g)
{
    json_t *o;

    if (!g->call_site)
        return json_null();
    o = sl_fmt_json_frame(g->call_site);
    json_object_set_new(o, "stack", json_string(g->call_site_stack));
    json_object_set_new(o, "user", json_boolean(g->call_site_user));
    if (g->call_site_listener)
        json_object_set_new(o, "listener", json_true());
    if (g->call_site_via)
        json_object_set_new(o, "via", sl_fmt_json_place(g->call_site_via));
    if (g->call_site_loop)
        json_object_set_new(o, "event_loop", sl_fmt_json_place(g->call_site_loop));
    return o;
}

/* The kernel-swept kinds' stacks, only those the finding has. */
static void sl_fmt_json_swept_stacks(json_t *o, const struct sl_group *g)
{
    if (g->last_read_sym.n)
        json_object_set_new(o, "last_read_stack", sl_fmt_json_stack(&g->last_read_sym));
    if (g->fork_sym.n)
        json_object_set_new(o, "fork_stack", sl_fmt_json_stack(&g->fork_sym));
    if (g->listen_sym.n)
        json_object_set_new(o, "listen_stack", sl_fmt_json_stack(&g->listen_sym));
    if (strcmp(g->kind, SL_KIND_DOUBLE_CLOSE) == 0) {
        json_object_set_new(o, "close_stack", sl_fmt_json_stack(&g->close_sym));
        json_object_set_new(o, "first_close_stack", sl_fmt_json_stack(&g->first_close_sym));
    }
    if (g->fdexh)
        json_object_set_new(o, "fail_stack", sl_fmt_json_stack(&g->fail_sym));
}

void sl_fmt_json_swept_counts(json_t *o, const struct sl_group *g)
{
    if (g->has & SL_LOGREAD_HAS_IDLE_MS)
        json_object_set_new(o, "idle_ms_max", json_integer(g->idle_ms_max));
    if (g->has & SL_LOGREAD_HAS_UNREAD_BYTES)
        json_object_set_new(o, "unread_bytes_max", json_integer(g->unread_bytes_max));
    if (g->at_exit_count)
        json_object_set_new(o, "at_exit_count", json_integer((json_int_t)g->at_exit_count));
}

static void sl_fmt_json_swept_example(json_t *x, const struct sl_group_example *e)
{
    if (e->has & SL_LOGREAD_HAS_SOCKETS)
        json_object_set_new(x, "sockets", json_integer(e->sockets));
    if (e->has & SL_LOGREAD_HAS_IDLE_MS)
        json_object_set_new(x, "idle_ms", json_integer(e->idle_ms));
    if (e->has & SL_LOGREAD_HAS_UNREAD_BYTES)
        json_object_set_new(x, "unread_bytes", json_integer(e->unread_bytes));
    if (e->has & SL_LOGREAD_HAS_FROM_PID)
        json_object_set_new(x, "from_pid", json_integer(e->from_pid));
    if (e->has & SL_LOGREAD_HAS_BACKLOG)
        json_object_set_new(x, "backlog", json_integer(e->backlog));
    if (e->has & SL_LOGREAD_HAS_QUEUED)
        json_object_set_new(x, "queued", json_integer(e->queued));
    if (e->at_exit)
        json_object_set_new(x, "at_exit", json_true());
}

/* The example's process's command line (bounded by the reader), and what
 * held_ms counts up to. */
static void sl_fmt_json_example_extra(json_t *x, const struct sl_group_example *e)
{
    json_t *argv = json_array();

    for (size_t j = 0; e->proc && j < e->proc->argc; j++)
        json_array_append_new(argv, sl_fmt_json_str(e->proc->argv[j] ? e->proc->argv[j] : ""));
    json_object_set_new(x, "argv", argv);
    json_object_set_new(x, "held_until", json_string(sl_held_until_name(e->held_as_of)));
}

/* A frame's place: function, file, line (the call_site's first keys). */
static json_t *sl_fmt_json_site_of(const struct sl_sym_frame *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "function", sl_fmt_json_str(f->function));
    json_object_set_new(o, "file", f->file ? sl_fmt_json_str(f->file) : json_null());
    json_object_set_new(o, "line", json_integer(f->line > 0 ? f->line : 0));
    if (f->lang)
        json_object_set_new(o, "lang", sl_fmt_json_str(f->lang));
    return o;
}

void sl_fmt_json_churn(json_t *o, const struct sl_group_set *set, const struct sl_group *g)
{
    json_t *range, *top;

    if (!g->destination)
        return;
    range = json_array();
    json_object_set_new(o, "destination", sl_fmt_json_str(g->destination));
    json_object_set_new(o, "connections", json_integer(g->connections));
    json_object_set_new(o, "rate_per_s", json_real((double)(int64_t)(g->rate_per_s * 10 + 0.5) / 10));
    json_object_set_new(o, "time_wait_peak", json_integer(g->time_wait_peak));
    json_array_append_new(range, json_integer(g->port_lo));
    json_array_append_new(range, json_integer(g->port_hi));
    json_object_set_new(o, "port_range", range);
    json_object_set_new(o, "exhausted", json_boolean(g->exhausted));
    json_object_set_new(o, "advice", json_string(SL_FMT_CHURN_ADVICE));
    if (!g->exhausted)
        return;
    top = json_array();
    for (size_t i = 0; i < g->n_top; i++) {
        const struct sl_logread_site *ls = &g->rep->top_sites[i];
        const struct sl_sym_frame *f = sl_group_first_user(set, g, &g->top_sym[i]);
        json_t *x = json_object();
        if (!f && g->top_sym[i].n)
            f = &g->top_sym[i].frames[0];
        json_object_set_new(x, "call_site", f ? sl_fmt_json_site_of(f) : json_null());
        json_object_set_new(x, "destination", sl_fmt_json_str(ls->destination));
        json_object_set_new(x, "connections", json_integer(ls->connections));
        json_object_set_new(x, "time_wait", json_integer(ls->time_wait));
        json_object_set_new(x, "open_stack", sl_fmt_json_stack(&g->top_sym[i]));
        json_array_append_new(top, x);
    }
    json_object_set_new(o, "top_sites", top);
}

/* open_at_exit: "states", the group's sockets per TCP state ("none": no
 * TCP state, a unix socket). */
static void sl_fmt_json_open_states(json_t *o, const struct sl_group *g)
{
    json_t *states;

    if (strcmp(g->kind, SL_KIND_OPEN_AT_EXIT) != 0)
        return;
    states = json_object();
    for (size_t i = 0; i < g->n_states; i++)
        json_object_set_new(states, g->states[i].state ? g->states[i].state : "none",
                            json_integer((json_int_t)g->states[i].count));
    json_object_set_new(o, "states", states);
}

/* A holder's TCP states: {"ESTABLISHED": n, ...}. */
static json_t *sl_fmt_json_states(const struct sl_logread_holder *h)
{
    json_t *o = json_object();
    for (size_t st = 1; st < SL_LOGREAD_TCP_STATES; st++)
        if (h->states[st])
            json_object_set_new(o, sl_logread_tcp_state_name(st), json_integer(h->states[st]));
    return o;
}

void sl_fmt_json_fdexh(json_t *o, const struct sl_group_set *set, const struct sl_group *g)
{
    const struct sl_logread_finding *rep = g->rep;
    json_t *holders;

    if (!g->fdexh)
        return;
    json_object_set_new(o, "call", sl_fmt_json_str(rep->call ? rep->call : ""));
    json_object_set_new(o, "errno", sl_fmt_json_str(rep->err_name ? rep->err_name : ""));
    json_object_set_new(o, "limit", json_integer(rep->limit));
    json_object_set_new(o, "open_fds", json_integer(rep->open_fds));
    json_object_set_new(o, "advice", json_string(SL_FMT_FDEXH_ADVICE));
    holders = json_array();
    for (size_t i = 0; i < g->n_top && i < rep->n_holders; i++) {
        const struct sl_logread_holder *h = &rep->holders[i];
        const struct sl_sym_frame *f = sl_group_first_user(set, g, &g->top_sym[i]);
        json_t *x = json_object();
        if (!f && g->top_sym[i].n)
            f = &g->top_sym[i].frames[0];
        json_object_set_new(x, "call_site", f ? sl_fmt_json_site_of(f) : json_null());
        json_object_set_new(x, "open_stack", sl_fmt_json_stack(&g->top_sym[i]));
        json_object_set_new(x, "count", json_integer(h->count));
        json_object_set_new(x, "states", sl_fmt_json_states(h));
        json_object_set_new(x, "oldest_ms", json_integer(h->oldest_ms));
        json_array_append_new(holders, x);
    }
    json_object_set_new(o, "holders", holders);
}

static json_t *sl_fmt_json_group(const struct sl_group_set *set, const struct sl_group *g)
{
    json_t *o = json_object(), *progs = json_array(), *ex = json_array();

    json_object_set_new(o, "kind", sl_fmt_json_str(g->kind));
    json_object_set_new(o, "count", json_integer((json_int_t)g->count));
    json_object_set_new(o, "processes", json_integer((json_int_t)g->processes));
    for (size_t i = 0; i < g->n_programs; i++)
        json_array_append_new(progs, sl_fmt_json_str(g->programs[i]));
    json_object_set_new(o, "programs", progs);
    json_object_set_new(o, "call_site", sl_fmt_json_call_site(g));
    json_object_set_new(o, "eof_stack", sl_fmt_json_stack(&g->eof_sym));
    json_object_set_new(o, "open_stack", sl_fmt_json_stack(&g->open_sym));
    sl_fmt_json_swept_stacks(o, g);
    json_object_set_new(o, "tcp_state", g->tcp_state ? sl_fmt_json_str(g->tcp_state) : json_null());
    json_object_set_new(o, "held_ms_median", json_integer(g->held_median));
    json_object_set_new(o, "held_ms_max", json_integer(g->held_max));
    json_object_set_new(o, "closed_late", json_integer((json_int_t)g->closed_late));
    sl_fmt_json_swept_counts(o, g);
    sl_fmt_json_churn(o, set, g);
    sl_fmt_json_open_states(o, g);
    sl_fmt_json_fdexh(o, set, g);
    for (size_t i = 0; i < g->n_examples; i++) {
        const struct sl_group_example *e = &g->examples[i];
        json_t *x = json_object();
        json_object_set_new(x, "pid", json_integer(e->pid));
        json_object_set_new(x, "fd", json_integer(e->fd));
        json_object_set_new(x, "local", sl_fmt_json_str(e->local));
        json_object_set_new(x, "peer", sl_fmt_json_str(e->peer));
        json_object_set_new(x, "held_ms", json_integer(e->held_ms));
        json_object_set_new(x, "closed", json_boolean(e->closed));
        sl_fmt_json_swept_example(x, e);
        if (strcmp(g->kind, SL_KIND_OPEN_AT_EXIT) == 0)
            json_object_set_new(x, "tcp_state",
                                e->tcp_state ? sl_fmt_json_str(e->tcp_state) : json_null());
        sl_fmt_json_example_extra(x, e);
        json_array_append_new(ex, x);
    }
    json_object_set_new(o, "examples", ex);
    return o;
}

json_t *sl_fmt_json_incomplete(const struct sl_group_set *set)
{
    json_t *list = json_array();
    char why[64];
    for (size_t i = 0; i < set->n_incomplete; i++) {
        const struct sl_logread_process *p = set->incomplete[i];
        const char *abbrev = p->end_signal > 0 ? sigabbrev_np(p->end_signal) : NULL;
        json_t *o = json_object();
        json_object_set_new(o, "pid", json_integer(p->pid));
        json_object_set_new(o, "program", sl_fmt_json_str(p->program ? p->program : ""));
        if (p->end_signal > 0) {
            char name[32];
            snprintf(name, sizeof name, "SIG%s", abbrev ? abbrev : "?");
            json_object_set_new(o, "signal", json_string(name));
            json_object_set_new(o, "signal_number", json_integer(p->end_signal));
        }
        json_object_set_new(o, "running", json_boolean(p->running));
        json_object_set_new(o, "reason", json_string(sl_fmt_incomplete_why(p, why, sizeof why)));
        json_array_append_new(list, o);
    }
    return list;
}

json_t *sl_fmt_json_build(const struct sl_group_set *set, const struct sl_supp_set *supp)
{
    json_t *root = json_object(), *sum = json_object(), *findings = json_array(),
           *suppressed = json_array();

    json_object_set_new(root, "version", json_integer(SL_FMT_JSON_VERSION));
    json_object_set_new(sum, "processes", json_integer(set->processes));
    json_object_set_new(sum, "sockets", json_integer(set->sockets));
    json_object_set_new(sum, "eof_seen", json_integer(set->eof_seen));
    json_object_set_new(sum, "leaks", json_integer(set->leaks));
    json_object_set_new(sum, "double_closes", json_integer(set->double_closes));
    /* Present only when there are some: reports without them look as before. */
    if (set->churns)
        json_object_set_new(sum, "time_wait_churn", json_integer(set->churns));
    if (set->open_at_exit)
        json_object_set_new(sum, "open_at_exit", json_integer(set->open_at_exit));
    if (set->fdexhs)
        json_object_set_new(sum, "fd_exhaustion", json_integer(set->fdexhs));
    json_object_set_new(sum, "suppressed",
                        json_integer(set->findings - set->leaks - set->double_closes -
                                     set->churns - set->open_at_exit -
                                     set->fdexhs));
    /* Present only when the counts are a lower bound. */
    if (set->lost || set->outdir_full) {
        json_object_set_new(sum, "lost_records", json_integer(set->lost));
        json_object_set_new(sum, "lost_reason",
                            json_string(set->lost_errno ? strerror(set->lost_errno) : "unknown"));
    }
    json_object_set_new(sum, "incomplete", json_integer((json_int_t)set->n_incomplete));
    json_object_set_new(root, "summary", sum);
    json_object_set_new(root, "incomplete", sl_fmt_json_incomplete(set));
    for (size_t i = 0; i < set->n_groups; i++)
        if (set->groups[i]->suppressed_by < 0)
            json_array_append_new(findings, sl_fmt_json_group(set, set->groups[i]));
    json_object_set_new(root, "findings", findings);
    for (size_t i = 0; supp && i < supp->n; i++) {
        json_t *r;
        if (!sl_fmt_rule_listed(&supp->rules[i]))
            continue;
        r = json_object();
        json_object_set_new(r, "rule", sl_fmt_json_str(supp->rules[i].text));
        json_object_set_new(r, "count", json_integer((json_int_t)supp->rules[i].count));
        json_array_append_new(suppressed, r);
    }
    json_object_set_new(root, "suppressed", suppressed);
    return root;
}

void sl_fmt_json_add_watch(json_t *root, const struct sl_watch *watch)
{
    json_t *list = json_array();

    json_object_set_new(json_object_get(root, "summary"), "watched",
                        json_boolean(watch->watched));
    for (size_t i = 0; i < watch->n_unwatched; i++) {
        const struct sl_watch_entry *e = &watch->unwatched[i];
        json_t *o = json_object();
        json_object_set_new(o, "program", sl_fmt_json_str(e->program));
        if (e->pid > 0)
            json_object_set_new(o, "pid", json_integer(e->pid));
        json_object_set_new(o, "library_loaded", json_boolean(e->loaded));
        json_object_set_new(o, "reason", sl_fmt_json_str(e->reason));
        json_array_append_new(list, o);
    }
    json_object_set_new(root, "unwatched", list);
}

int sl_fmt_json(FILE *out, const struct sl_group_set *set, const struct sl_supp_set *supp,
                const struct sl_watch *watch)
{
    json_t *root = sl_fmt_json_build(set, supp);
    int rc;

    if (watch)
        sl_fmt_json_add_watch(root, watch);
    rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    json_decref(root);
    if (rc == 0 && fputc('\n', out) == EOF)
        rc = -1;
    return rc;
}

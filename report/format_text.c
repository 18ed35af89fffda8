#include "format.h"
#include "util.h"

#include "sockleak_log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SL_FMT_MAX_PEERS 2

struct sl_fmt_style {
    const char *head, *bold, *func, *off;
};

bool sl_fmt_want_colour(FILE *out)
{
    const char *nc = getenv("NO_COLOR");
    return isatty(fileno(out)) && (!nc || !*nc);
}

/* Every string that came from a log or a debug file goes out through here:
 * escape sequences in a program name must not clear the screen or forge a
 * SUMMARY line. */
static void sl_fmt_put(FILE *out, const char *s)
{
    sl_util_fputs_safe(s, out);
}

static const char *sl_fmt_s(size_t n)
{
    return n == 1 ? "" : "s";
}

/* ms as "850 ms" or "12.0 s". */
static void sl_fmt_duration(char *buf, size_t len, int64_t ms)
{
    if (ms < 1000)
        snprintf(buf, len, "%" PRId64 " ms", ms);
    else
        snprintf(buf, len, "%.1f s", (double)ms / 1000.0);
}

/* " (idle up to 12.0 s, up to 512 bytes unread; 1 reported at process
 * exit)": whichever of these the group's findings gave, or nothing. */
static void sl_fmt_swept_details(FILE *out, const struct sl_group *g)
{
    const char *sep = " (";
    char idle[32];

    if (g->has & SL_LOGREAD_HAS_IDLE_MS) {
        sl_fmt_duration(idle, sizeof(idle), g->idle_ms_max);
        fprintf(out, "%sidle up to %s", sep, idle);
        sep = ", ";
    }
    if ((g->has & SL_LOGREAD_HAS_UNREAD_BYTES) && g->unread_bytes_max > 0)
        fprintf(out, "%sup to %" PRId64 " byte%s unread", sep, g->unread_bytes_max,
                sl_fmt_s((size_t)g->unread_bytes_max));
    else if (g->has & SL_LOGREAD_HAS_UNREAD_BYTES)
        fprintf(out, "%sno data unread", sep);
    if (g->has & (SL_LOGREAD_HAS_IDLE_MS | SL_LOGREAD_HAS_UNREAD_BYTES))
        sep = "; ";
    if (g->at_exit_count) {
        fprintf(out, "%s%zu reported at process exit", sep, g->at_exit_count);
        sep = "; ";
    }
    if (strcmp(sep, " (") != 0)
        fputc(')', out);
}

/* The ephemeral port range's size, 0 when unknown. */
static int64_t sl_fmt_ports(const struct sl_group *g)
{
    return g->port_hi >= g->port_lo && g->port_hi ? g->port_hi - g->port_lo + 1 : 0;
}

/* " (range 40000-40999, 1000 ports)", or nothing when unknown. */
static void sl_fmt_churn_range(FILE *out, const struct sl_group *g)
{
    if (sl_fmt_ports(g))
        fprintf(out, " (%" PRId64 "-%" PRId64 ", %" PRId64 " ports)", g->port_lo, g->port_hi,
                sl_fmt_ports(g));
}

/* time_wait_churn: the destination and how much of the port range its
 * TIME_WAIT sockets took, or the connect that found none left. */
static bool sl_fmt_churn_headline(FILE *out, const struct sl_fmt_style *st,
                                  const struct sl_group *g)
{
    fprintf(out, "%s==sockleak== %s: ", st->head, g->kind);
    if (g->exhausted) {
        fputs("connect to ", out);
        sl_fmt_put(out, g->destination ? g->destination : "?");
        fputs(" failed with EADDRNOTAVAIL: no ephemeral port left", out);
        sl_fmt_churn_range(out, g);
        fprintf(out, ", %" PRId64 " socket%s to it in TIME_WAIT%s\n", g->time_wait_peak,
                sl_fmt_s((size_t)g->time_wait_peak), st->off);
        return true;
    }
    fputs("connections to ", out);
    sl_fmt_put(out, g->destination ? g->destination : "?");
    fprintf(out, " left %" PRId64 " socket%s in TIME_WAIT", g->time_wait_peak,
            sl_fmt_s((size_t)g->time_wait_peak));
    if (sl_fmt_ports(g))
        fprintf(out, ", %" PRId64 "%% of the ephemeral port range",
                g->time_wait_peak * 100 / sl_fmt_ports(g));
    sl_fmt_churn_range(out, g);
    fprintf(out, "%s\n", st->off);
    return true;
}

/* open_at_exit: how many sockets the processes held at exit, per state. */
static bool sl_fmt_open_headline(FILE *out, const struct sl_fmt_style *st,
                                 const struct sl_group *g)
{
    fprintf(out, "%s==sockleak== %s: %zu socket%s still open when the process exited (",
            st->head, g->kind, g->count, sl_fmt_s(g->count));
    for (size_t i = 0; i < g->n_states; i++)
        fprintf(out, "%s%zu %s", i ? ", " : "", g->states[i].count,
                g->states[i].state ? g->states[i].state : "no TCP state");
    fprintf(out, ")%s\n", st->off);
    return true;
}

/* fd_exhaustion: the call that failed, the limit, and how many of the fds
 * the largest holder's sockets took. */
static bool sl_fmt_fdexh_headline(FILE *out, const struct sl_fmt_style *st,
                                  const struct sl_group *g)
{
    const struct sl_logread_finding *f = g->rep;

    fprintf(out, "%s==sockleak== %s: ", st->head, g->kind);
    sl_fmt_put(out, f->call && *f->call ? f->call : "a call");
    fputs(" failed with ", out);
    sl_fmt_put(out, f->err_name && *f->err_name ? f->err_name : "?");
    fprintf(out, " (fd limit %" PRId64, f->limit);
    if (f->open_fds >= 0)
        fprintf(out, ", %" PRId64 " open", f->open_fds);
    fputc(')', out);
    if (f->n_holders)
        fprintf(out, "; %" PRId64 " of the fds are sockets made at one place", f->holders[0].count);
    if (g->count > 1)
        fprintf(out, " (%zu episodes)", g->count);
    fprintf(out, "%s\n", st->off);
    return true;
}

/* The kernel-swept kinds say what happened without an end-of-stream read.
 * False for the other kinds. */
static bool sl_fmt_swept_headline(FILE *out, const struct sl_fmt_style *st,
                                  const struct sl_group *g)
{
    bool one = g->count == 1;

    if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNREAD) == 0)
        fprintf(out,
                "%s==sockleak== %s: %zu socket%s sat in CLOSE_WAIT with %s end-of-stream never "
                "read",
                st->head, g->kind, g->count, sl_fmt_s(g->count), one ? "its" : "their");
    else if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_INHERITED) == 0)
        fprintf(out,
                "%s==sockleak== %s: %zu inherited socket%s sat in CLOSE_WAIT: the cop%s made "
                "by fork %s never closed",
                st->head, g->kind, g->count, sl_fmt_s(g->count), one ? "y" : "ies",
                one ? "was" : "were");
    else if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNACCEPTED) == 0)
        fprintf(out,
                "%s==sockleak== %s: %zu connection%s %s closed by %s peer while waiting in the "
                "accept queue and %s never accepted",
                st->head, g->kind, g->count, sl_fmt_s(g->count), one ? "was" : "were",
                one ? "its" : "their", one ? "was" : "were");
    else if (strcmp(g->kind, SL_KIND_DOUBLE_CLOSE) == 0)
        fprintf(out,
                "%s==sockleak== %s: %zu socket%s closed twice: the second close failed with "
                "EBADF; once the number is reused it closes another connection",
                st->head, g->kind, g->count, sl_fmt_s(g->count));
    else if (strcmp(g->kind, SL_KIND_TIME_WAIT_CHURN) == 0)
        return sl_fmt_churn_headline(out, st, g);
    else if (strcmp(g->kind, SL_KIND_OPEN_AT_EXIT) == 0)
        return sl_fmt_open_headline(out, st, g);
    else if (g->fdexh)
        return sl_fmt_fdexh_headline(out, st, g);
    else
        return false;
    sl_fmt_swept_details(out, g);
    fprintf(out, "%s\n", st->off);
    return true;
}

static void sl_fmt_headline(FILE *out, const struct sl_fmt_style *st, const struct sl_group *g)
{
    if (sl_fmt_swept_headline(out, st, g))
        return;
    fprintf(out, "%s==sockleak== ", st->head);
    sl_fmt_put(out, g->kind);
    fprintf(out, ": %zu socket%s ", g->count, sl_fmt_s(g->count));
    const char *was = g->count == 1 ? "was" : "were";
    const char *closed = sl_group_closed_words(g);
    if (strcmp(g->kind, SL_KIND_CLOSE_WAIT) == 0)
        fprintf(out, "read end-of-stream and %s %s", was, closed);
    else if (strcmp(g->kind, SL_KIND_UNCLOSED_AFTER_SHUTDOWN) == 0)
        fprintf(out, "read end-of-stream and %s shut down for writing but %s", was, closed);
    else
        fprintf(out, "leaked");
    sl_fmt_swept_details(out, g);
    fprintf(out, "%s\n", st->off);
}

/* True when the frame carries no name, only the "module+0xoff" fallback. */
static bool sl_fmt_raw(const struct sl_sym_frame *f)
{
    const char *base = sl_util_basename(f->module);
    size_t n = strlen(base);
    return *base && strncmp(f->function, base, n) == 0 && strncmp(f->function + n, "+0x", 3) == 0;
}

/* "in handle /srv/app.py:12": the function, then its file and line when
 * known. */
static void sl_fmt_function_at(FILE *out, const struct sl_fmt_style *st,
                               const struct sl_sym_frame *f)
{
    fprintf(out, "in %s", st->func);
    sl_fmt_put(out, f->function);
    fprintf(out, "%s", st->off);
    if (f->file) {
        fputc(' ', out);
        sl_fmt_put(out, f->file);
        if (f->line > 0)
            fprintf(out, ":%d", f->line);
    }
}

/* A language frame, "in handle /srv/app.py:12 [python]". */
static void sl_fmt_frame_where(FILE *out, const struct sl_fmt_style *st,
                               const struct sl_sym_frame *f)
{
    sl_fmt_function_at(out, st, f);
    if (f->lang) {
        fputs(" [", out);
        sl_fmt_put(out, f->lang);
        fputc(']', out);
    } else if (*f->module) {
        fputs(" (", out);
        sl_fmt_put(out, sl_util_basename(f->module));
        fputc(')', out);
    }
}

/* The stack the call site of a kernel-swept finding with two stacks was
 * taken from, as its text names it (" (last read)"), else "". */
static const char *sl_fmt_site_from(const struct sl_group *g)
{
    static const char *const from[][2] = {{"last_read_stack", " (last read)"},
                                          {"open_stack", " (socket created)"},
                                          {"fork_stack", " (fork)"}};
    if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNREAD) != 0 &&
        strcmp(g->kind, SL_KIND_CLOSE_WAIT_INHERITED) != 0)
        return "";
    for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++)
        if (strcmp(g->call_site_stack, from[i][0]) == 0)
            return from[i][1];
    return "";
}

/* "  call site: in handle /srv/app.py:12 [python]", when the stacks shown
 * do not already start with it: a language frame, a frame below the
 * runtime's, or the listener an event loop accepted the socket on; and for
 * the kernel-swept kinds with two stacks, which one it is from. */
static void sl_fmt_call_site(FILE *out, const struct sl_fmt_style *st, const struct sl_group *g)
{
    const struct sl_sym_frame *cs = g->call_site;

    if (!cs || !g->call_site_user ||
        (!cs->lang && !g->call_site_listener && !g->call_site_loop && !g->call_site_via &&
         cs == &g->call_site_in->frames[0] && !*sl_fmt_site_from(g)))
        return;
    fputs("  call site: ", out);
    if (g->call_site_loop) {
        /* "created in accept_cb (server.c:40); end-of-stream read by the
         * event loop in main (server.c:98)" */
        fputs("created ", out);
        sl_fmt_frame_where(out, st, cs);
        fputs("; end-of-stream read by the event loop ", out);
        sl_fmt_frame_where(out, st, g->call_site_loop);
        fputc('\n', out);
        return;
    }
    if (g->call_site_via) {
        /* "in handle_rx conn.c:281 (proxy) via buffer_recv buffer.c:88" */
        const struct sl_sym_frame *via = g->call_site_via;
        sl_fmt_frame_where(out, st, cs);
        fprintf(out, " via %s", st->func);
        sl_fmt_put(out, via->function);
        fputs(st->off, out);
        if (via->file) {
            fputc(' ', out);
            sl_fmt_put(out, via->file);
            if (via->line > 0)
                fprintf(out, ":%d", via->line);
        }
        fprintf(out, "%s\n", sl_fmt_site_from(g));
        return;
    }
    if (!g->call_site_listener || !cs->file) {
        sl_fmt_frame_where(out, st, cs);
        fprintf(out, "%s\n", sl_fmt_site_from(g));
        return;
    }
    /* "accepted on the listener created at /srv/server.js:12 in start
     * [javascript]" */
    fputs("accepted on the listener created at ", out);
    sl_fmt_put(out, cs->file);
    if (cs->line > 0)
        fprintf(out, ":%d", cs->line);
    fprintf(out, " in %s", st->func);
    sl_fmt_put(out, cs->function);
    fputs(st->off, out);
    if (cs->lang) {
        fputs(" [", out);
        sl_fmt_put(out, cs->lang);
        fputc(']', out);
    }
    fputc('\n', out);
}

static void sl_fmt_stack(FILE *out, const struct sl_fmt_style *st, const char *title,
                         const struct sl_sym_stack *s, const char *empty)
{
    fprintf(out, "  %s%s%s\n", st->bold, title, st->off);
    if (s->n == 0)
        fprintf(out, "    (%s)\n", empty);
    for (size_t i = 0; i < s->n; i++) {
        const struct sl_sym_frame *f = &s->frames[i];

        if (f->lang) {
            fprintf(out, "    #%zu ", i);
            sl_fmt_frame_where(out, st, f);
            fputc('\n', out);
            continue;
        }
        fprintf(out, "    #%zu 0x%" PRIx64, i, f->address);
        if (!*f->module)
            fprintf(out, " (unknown module)");
        else if (sl_fmt_raw(f)) {
            fputs(" (", out);
            sl_fmt_put(out, f->module);
            fprintf(out, "+0x%" PRIx64 ")", f->address);
        } else {
            fputc(' ', out);
            sl_fmt_function_at(out, st, f);
            fputs(" (", out);
            sl_fmt_put(out, f->module);
            fputc(')', out);
        }
        if (f->inlined)
            fprintf(out, " [inlined]");
        if (f->stale)
            fprintf(out, " [module rebuilt since the run]");
        fputc('\n', out);
    }
}

#define SL_FMT_OPEN_UNKNOWN "unknown: created before sockleak was loaded, or inherited"

/* The stacks of the kernel-swept kinds, in place of the end-of-stream read
 * they do not have. False for the other kinds. */
static bool sl_fmt_swept_stacks(FILE *out, const struct sl_fmt_style *st, const struct sl_group *g)
{
    char title[128];

    if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNACCEPTED) == 0) {
        sl_fmt_stack(out, st, "listener created at:", &g->listen_sym, SL_FMT_OPEN_UNKNOWN);
        return true;
    }
    if (strcmp(g->kind, SL_KIND_DOUBLE_CLOSE) == 0) {
        sl_fmt_stack(out, st, "closed again at:", &g->close_sym, "stack unknown");
        sl_fmt_stack(out, st, "first closed at:", &g->first_close_sym, "stack unknown");
        return true;
    }
    if (strcmp(g->kind, SL_KIND_TIME_WAIT_CHURN) == 0) {
        sl_fmt_stack(out, st, g->exhausted ? "connect failed at:" : "connected at:", &g->open_sym,
                     "stack unknown");
        return true;
    }
    if (strcmp(g->kind, SL_KIND_OPEN_AT_EXIT) == 0) {
        sl_fmt_stack(out, st, "socket created at:", &g->open_sym, SL_FMT_OPEN_UNKNOWN);
        if (g->listen_sym.n)
            sl_fmt_stack(out, st, "accepted from the listener created at:", &g->listen_sym,
                         SL_FMT_OPEN_UNKNOWN);
        return true;
    }
    if (g->fdexh) {
        sl_fmt_stack(out, st, "failed at:", &g->fail_sym, "stack unknown");
        return true;
    }
    if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNREAD) == 0) {
        sl_fmt_stack(out, st, "socket created at:", &g->open_sym, SL_FMT_OPEN_UNKNOWN);
        sl_fmt_stack(out, st, "last read at:", &g->last_read_sym, "never read");
        return true;
    }
    if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_INHERITED) != 0)
        return false;
    sl_fmt_stack(out, st, "socket created at:", &g->open_sym, SL_FMT_OPEN_UNKNOWN);
    if (g->n_examples && (g->examples[0].has & SL_LOGREAD_HAS_FROM_PID))
        snprintf(title, sizeof(title),
                 "copied into pid %" PRId64 " by fork in pid %" PRId64 " at:", g->examples[0].pid,
                 g->examples[0].from_pid);
    else
        snprintf(title, sizeof(title), "copied by fork at:");
    sl_fmt_stack(out, st, title, &g->fork_sym, "stack unknown");
    return true;
}

/* The rest of an example's line: what the kernel-swept kinds add. */
static void sl_fmt_swept_example(FILE *out, const struct sl_group_example *e)
{
    if (e->has & SL_LOGREAD_HAS_IDLE_MS)
        fprintf(out, ", idle %" PRId64 " ms", e->idle_ms);
    if (e->has & SL_LOGREAD_HAS_UNREAD_BYTES)
        fprintf(out, ", %" PRId64 " byte%s unread", e->unread_bytes,
                sl_fmt_s((size_t)e->unread_bytes));
    if (e->has & SL_LOGREAD_HAS_FROM_PID)
        fprintf(out, ", from pid %" PRId64, e->from_pid);
    fprintf(out, "%s\n", e->at_exit ? " (at exit)" : "");
}

/* Longest command line shown under an example, in bytes of the log. */
#define SL_FMT_MAX_COMMAND 240

/* "    command: ARGS" for e's process, once per process of a finding: each
 * argument escaped, quoted when it has a blank or is empty, and the line
 * cut at SL_FMT_MAX_COMMAND. */
static void sl_fmt_command(FILE *out, const struct sl_group *g, size_t i)
{
    const struct sl_logread_process *p = g->examples[i].proc;
    size_t shown = 0;

    if (!p || !p->argc)
        return;
    for (size_t j = 0; j < i; j++)
        if (g->examples[j].proc == p)
            return;
    fputs("    command:", out);
    for (size_t j = 0; j < p->argc; j++) {
        const char *a = p->argv[j] ? p->argv[j] : "";
        bool quote = !*a || strpbrk(a, " \t'\"") != NULL;

        if (shown + strlen(a) > SL_FMT_MAX_COMMAND) {
            fputs(" ...", out);
            break;
        }
        shown += strlen(a) + 1;
        fputs(quote ? " '" : " ", out);
        sl_fmt_put(out, a);
        fputs(quote ? "'" : "", out);
    }
    if (p->argc == SL_LOGREAD_MAX_ARGS)
        fputs(" ...", out);
    fputc('\n', out);
}

/* ", held N ms" and what N counts up to. */
static void sl_fmt_held(FILE *out, const struct sl_group_example *e)
{
    fprintf(out, ", held %" PRId64 " ms", e->held_ms);
    if (e->closed)
        fputs(" (closed late)", out);
    else if (e->held_as_of == SL_LOGREAD_HELD_EXIT)
        fputs(" until exit", out);
    else if (e->held_as_of == SL_LOGREAD_HELD_NOW)
        fputs(" so far (still open)", out);
}

/* A listener with connections closed in its accept queue. */
static void sl_fmt_listener_example(FILE *out, const struct sl_group_example *e)
{
    fprintf(out, "  pid %" PRId64 " fd %" PRId64 ": listener ", e->pid, e->fd);
    sl_fmt_put(out, *e->local ? e->local : "?");
    fprintf(out, ", %" PRId64 " closed before accept", e->sockets);
    if (e->has & SL_LOGREAD_HAS_QUEUED)
        fprintf(out, ", %" PRId64 " queued", e->queued);
    if (e->has & SL_LOGREAD_HAS_BACKLOG)
        fprintf(out, "%s backlog %" PRId64, e->has & SL_LOGREAD_HAS_QUEUED ? " of" : ",",
                e->backlog);
    fprintf(out, "%s\n", e->at_exit ? " (at exit)" : "");
}

/* A socket open at exit: its addresses and TCP state. */
static void sl_fmt_open_example(FILE *out, const struct sl_group_example *e)
{
    fprintf(out, "  pid %" PRId64 " fd %" PRId64 ": ", e->pid, e->fd);
    sl_fmt_put(out, *e->local ? e->local : "?");
    fputs(" <- ", out);
    sl_fmt_put(out, *e->peer ? e->peer : "?");
    fputs(", ", out);
    sl_fmt_put(out, e->tcp_state ? e->tcp_state : "no TCP state");
    if ((e->has & SL_LOGREAD_HAS_SOCKETS) && e->sockets > 1)
        fprintf(out, " (and %" PRId64 " more like it)", e->sockets - 1);
    fputc('\n', out);
}

/* "in 2 processes of server, worker", a group's last line. */
static void sl_fmt_group_programs(FILE *out, const struct sl_group *g)
{
    fprintf(out, "  in %zu process%s of ", g->processes, g->processes == 1 ? "" : "es");
    for (size_t i = 0; i < g->n_programs; i++) {
        fputs(i ? ", " : "", out);
        sl_fmt_put(out, g->programs[i]);
    }
    if (g->more_programs)
        fprintf(out, " and %zu more", g->more_programs);
    fputs("\n\n", out);
}

/* time_wait_churn's counts, the sites holding the ports when none was
 * left, and the advice. */
static void sl_fmt_churn(FILE *out, const struct sl_fmt_style *st, const struct sl_group_set *set,
                         const struct sl_group *g)
{
    if (g->exhausted) {
        fputs("  ports held by (TIME_WAIT sockets, connections made, from):\n", out);
        for (size_t i = 0; i < g->n_top; i++) {
            const struct sl_logread_site *ls = &g->rep->top_sites[i];
            const struct sl_sym_frame *f = sl_group_first_user(set, g, &g->top_sym[i]);
            if (!f && g->top_sym[i].n)
                f = &g->top_sym[i].frames[0];
            fprintf(out, "    %" PRId64 " to ", ls->time_wait);
            sl_fmt_put(out, ls->destination);
            fprintf(out, ", %" PRId64 " connection%s, ", ls->connections,
                    sl_fmt_s((size_t)ls->connections));
            if (f)
                sl_fmt_function_at(out, st, f);
            else
                fputs("stack unknown", out);
            fputc('\n', out);
        }
    } else {
        fprintf(out,
                "  %" PRId64 " connection%s, %.1f a second at most (60 s windows); TIME_WAIT "
                "peak %" PRId64 "\n",
                g->connections, sl_fmt_s((size_t)g->connections), g->rate_per_s,
                g->time_wait_peak);
    }
    fputs("  advice: " SL_FMT_CHURN_ADVICE "\n", out);
}

/* fd_exhaustion's holders (the first episode's), and the advice. */
static void sl_fmt_fdexh(FILE *out, const struct sl_fmt_style *st, const struct sl_group_set *set,
                         const struct sl_group *g)
{
    const struct sl_logread_finding *rep = g->rep;

    fputs(rep->n_holders ? "  fds held by (sockets, TCP states, oldest, made at):\n"
                         : "  fds held by: no socket sockleak tracks (files, pipes, datagram "
                           "sockets...)\n",
          out);
    for (size_t i = 0; i < g->n_top && i < rep->n_holders; i++) {
        const struct sl_logread_holder *h = &rep->holders[i];
        const struct sl_sym_frame *f = sl_group_first_user(set, g, &g->top_sym[i]);
        if (!f && g->top_sym[i].n)
            f = &g->top_sym[i].frames[0];
        fprintf(out, "    %" PRId64 " socket%s:", h->count, sl_fmt_s((size_t)h->count));
        for (size_t s = 1; s < SL_LOGREAD_TCP_STATES; s++)
            if (h->states[s])
                fprintf(out, " %s %" PRId64 ",", sl_logread_tcp_state_name(s), h->states[s]);
        if (h->oldest_ms >= 0)
            fprintf(out, " oldest %" PRId64 " ms,", h->oldest_ms);
        fputc(' ', out);
        if (f)
            sl_fmt_function_at(out, st, f);
        else
            fputs("stack unknown (made before sockleak was loaded, or inherited)", out);
        fputc('\n', out);
    }
    fputs("  advice: " SL_FMT_FDEXH_ADVICE "\n", out);
}

/* One line (and its command) per example, as its kind shows them. */
static void sl_fmt_group_examples(FILE *out, const struct sl_group *g, bool dclose, bool open)
{
    for (size_t i = 0; i < g->n_examples && i < SL_FMT_MAX_PEERS; i++) {
        const struct sl_group_example *e = &g->examples[i];
        if (dclose) {
            fprintf(out, "  pid %" PRId64 " fd %" PRId64 "\n", e->pid, e->fd);
            sl_fmt_command(out, g, i);
            continue;
        }
        if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNACCEPTED) == 0) {
            sl_fmt_listener_example(out, e);
            sl_fmt_command(out, g, i);
            continue;
        }
        if (open) {
            sl_fmt_open_example(out, e);
            sl_fmt_command(out, g, i);
            continue;
        }
        fprintf(out, "  pid %" PRId64 " fd %" PRId64 ": ", e->pid, e->fd);
        sl_fmt_put(out, *e->local ? e->local : "?");
        fputs(" <- ", out);
        sl_fmt_put(out, *e->peer ? e->peer : "?");
        sl_fmt_held(out, e);
        sl_fmt_swept_example(out, e);
        sl_fmt_command(out, g, i);
    }
}

static void sl_fmt_group(FILE *out, const struct sl_fmt_style *st, const struct sl_group_set *set,
                         const struct sl_group *g)
{
    sl_fmt_headline(out, st, g);
    sl_fmt_call_site(out, st, g);
    if (!sl_fmt_swept_stacks(out, st, g)) {
        sl_fmt_stack(out, st, "end-of-stream read at:", &g->eof_sym, "stack unknown");
        sl_fmt_stack(out, st, "socket created at:", &g->open_sym,
                     "unknown: created before sockleak was loaded, or inherited");
        if (g->listen_sym.n)
            sl_fmt_stack(out, st, "accepted from the listener created at:", &g->listen_sym, "");
    }
    if (g->destination || g->fdexh) {
        if (g->fdexh)
            sl_fmt_fdexh(out, st, set, g);
        else
            sl_fmt_churn(out, st, set, g);
        sl_fmt_group_programs(out, g);
        return;
    }
    bool dclose = strcmp(g->kind, SL_KIND_DOUBLE_CLOSE) == 0;
    bool open = strcmp(g->kind, SL_KIND_OPEN_AT_EXIT) == 0;
    if (!dclose && !open) {
        fputs("  kernel state at the deadline: ", out);
        sl_fmt_put(out, g->tcp_state ? g->tcp_state : "unknown (not a TCP socket)");
        fputc('\n', out);
    }
    sl_fmt_group_examples(out, g, dclose, open);
    if (!dclose && !open) {
        fprintf(out, "  held: median %" PRId64 " ms, max %" PRId64 " ms", g->held_median,
                g->held_max);
        if (g->closed_late)
            fprintf(out, "; %zu closed after the deadline", g->closed_late);
        fputc('\n', out);
    }
    sl_fmt_group_programs(out, g);
}

/* Counts that miss records the library could not write say so, and why. */
static void sl_fmt_text_lost(FILE *out, const struct sl_group_set *set)
{
    const char *why = set->lost_errno ? strerror(set->lost_errno) : "reason unknown";
    if (set->lost)
        fprintf(out, "sockleak: counts are a lower bound: %" PRId64 " record%s could not be"
                     " written (%s)\n", set->lost, sl_fmt_s((size_t)set->lost), why);
    if (set->outdir_full)
        fprintf(out, "sockleak: counts are a lower bound: the output directory's file system is"
                     " full (%s); logs may have been cut short\n", why);
}

/* Why a process's log has no footer, for people. */
const char *sl_fmt_incomplete_why(const struct sl_logread_process *p, char *buf, size_t len)
{
    const char *abbrev = p->end_signal > 0 ? sigabbrev_np(p->end_signal) : NULL;
    if (p->running)
        return "still running";
    if (abbrev) {
        snprintf(buf, len, "killed by SIG%s", abbrev);
        return buf;
    }
    if (p->end_signal > 0) {
        snprintf(buf, len, "killed by signal %d", p->end_signal);
        return buf;
    }
    return "killed, ended by a raw _exit, or its log was cut";
}

/* Processes whose log ended without its footer: named, since their counts
 * are a lower bound and "no leaks" would otherwise read as a clean run. */
static void sl_fmt_text_incomplete(FILE *out, const struct sl_group_set *set)
{
    enum { SHOWN = 8 };
    char why[64];
    if (!set->n_incomplete)
        return;
    fprintf(out, "sockleak: counts are a lower bound: %zu process%s ended without %s log's footer:",
            set->n_incomplete, set->n_incomplete == 1 ? "" : "es",
            set->n_incomplete == 1 ? "its" : "their");
    for (size_t i = 0; i < set->n_incomplete && i < SHOWN; i++) {
        const struct sl_logread_process *p = set->incomplete[i];
        fputs(i ? ", " : " ", out);
        sl_fmt_put(out, p->program ? p->program : "?");
        fprintf(out, " (pid %" PRId64 ", %s)", p->pid, sl_fmt_incomplete_why(p, why, sizeof why));
    }
    if (set->n_incomplete > SHOWN)
        fprintf(out, " and %zu more", set->n_incomplete - SHOWN);
    fputc('\n', out);
}

/* The summary's counts of the kinds counted apart from leaks. */
static void sl_fmt_text_kinds(FILE *out, const struct sl_group_set *set)
{
    if (set->double_closes)
        fprintf(out, ", %" PRId64 " double close%s in %zu call site%s", set->double_closes,
                set->double_closes == 1 ? "" : "s", set->double_close_sites,
                sl_fmt_s(set->double_close_sites));
    if (set->churns)
        fprintf(out, ", %" PRId64 " TIME_WAIT churn finding%s in %zu call site%s", set->churns,
                sl_fmt_s((size_t)set->churns), set->churn_sites, sl_fmt_s(set->churn_sites));
    if (set->open_at_exit)
        fprintf(out, ", %" PRId64 " socket%s open at exit in %zu call site%s", set->open_at_exit,
                sl_fmt_s((size_t)set->open_at_exit), set->open_at_exit_sites,
                sl_fmt_s(set->open_at_exit_sites));
    if (set->fdexhs)
        fprintf(out, ", %" PRId64 " fd exhaustion episode%s in %zu call site%s", set->fdexhs,
                sl_fmt_s((size_t)set->fdexhs), set->fdexh_sites, sl_fmt_s(set->fdexh_sites));
}

int sl_fmt_text(FILE *out, const struct sl_group_set *set, const struct sl_supp_set *supp,
                bool colour, const struct sl_watch *watch)
{
    struct sl_fmt_style st = {"", "", "", ""};
    int64_t suppressed =
        set->findings - set->leaks - set->double_closes - set->churns - set->open_at_exit -
        set->fdexhs;
    bool any = false;

    if (colour)
        st = (struct sl_fmt_style){"\033[1;31m", "\033[1m", "\033[34m", "\033[0m"};
    for (size_t i = 0; i < set->n_groups; i++)
        if (set->groups[i]->suppressed_by < 0)
            sl_fmt_group(out, &st, set, set->groups[i]);
    for (size_t i = 0; supp && i < supp->n; i++) {
        if (!supp->rules[i].count)
            continue;
        if (!any)
            fprintf(out, "Suppressions used:\n  count rule\n");
        any = true;
        fprintf(out, "%7zu ", supp->rules[i].count);
        sl_fmt_put(out, supp->rules[i].text);
        fputc('\n', out);
    }
    if (any)
        fputc('\n', out);
    sl_fmt_text_lost(out, set);
    sl_fmt_text_incomplete(out, set);
    fprintf(out, "%sSUMMARY: sockleak: ", st.bold);
    if (set->leaks)
        fprintf(out, "%" PRId64 " leaked socket%s in %zu call site%s", set->leaks,
                sl_fmt_s((size_t)set->leaks), set->groups_left, sl_fmt_s(set->groups_left));
    else if (watch && !watch->watched)
        fprintf(out, "nothing was watched, so no leak could be seen");
    else
        fprintf(out, "no leaks");
    sl_fmt_text_kinds(out, set);
    const char *floor = set->n_incomplete ? "at least " : "";
    fprintf(out,
            " (%" PRId64 " process%s, %s%" PRId64 " socket%s, %s%" PRId64 " end-of-stream read%s",
            set->processes, set->processes == 1 ? "" : "es", floor, set->sockets,
            sl_fmt_s((size_t)set->sockets), floor, set->eof_seen, sl_fmt_s((size_t)set->eof_seen));
    if (set->n_incomplete)
        fprintf(out, ", %zu ended without %s footer", set->n_incomplete,
                set->n_incomplete == 1 ? "its" : "their");
    if (suppressed)
        fprintf(out, ", %" PRId64 " suppressed", suppressed);
    fprintf(out, ")%s\n", st.off);
    return ferror(out) ? -1 : 0;
}

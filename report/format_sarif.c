#include "format.h"
#include "util.h"

#include "sockleak_log.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SOCKLEAK_VERSION
#define SOCKLEAK_VERSION "unknown"
#endif
/* The project's home page; a build can set its real one. */
#ifndef SOCKLEAK_URL
#define SOCKLEAK_URL "https://sockleak.invalid/"
#endif

#define SL_FMT_SARIF_SCHEMA "https://json.schemastore.org/sarif-2.1.0.json"
#define SL_FMT_SARIF_SRCROOT "%SRCROOT%"
#define SL_FMT_SARIF_FINGERPRINT "sockleakCallSite/v1"

struct sl_fmt_sarif_rule {
    const char *id, *name, *short_desc, *full_desc, *help;
};

static const struct sl_fmt_sarif_rule sl_fmt_sarif_rules[] = {
    {SL_KIND_CLOSE_WAIT, "SocketLeftInCloseWait",
     "A socket read end-of-stream and was never closed (CLOSE_WAIT)",
     "The program read end-of-stream (the peer closed the connection) on this socket, and "
     "neither closed it nor shut it down for writing within the deadline. The kernel keeps such "
     "a TCP connection in CLOSE_WAIT until the program closes it, holding a file descriptor, "
     "socket memory and a connection slot.",
     "Close the socket (or shut it down for writing) on every path that reads end-of-stream: a "
     "read, recv or recvmsg that returns 0 for a non-zero length. The location is the read that "
     "saw end-of-stream; the related location is where the socket was created."},
    {SL_KIND_UNCLOSED_AFTER_SHUTDOWN, "SocketShutDownButNotClosed",
     "A socket read end-of-stream and was shut down for writing but never closed",
     "The program read end-of-stream on this socket and shut it down for writing, so the "
     "connection is finished, but it never closed the file descriptor: the descriptor and the "
     "socket's memory leak.",
     "Call close() on the socket after shutdown(); shutdown() ends the connection but does not "
     "release the file descriptor."},
};
#define SL_FMT_SARIF_NRULES (sizeof(sl_fmt_sarif_rules) / sizeof(sl_fmt_sarif_rules[0]))

/* The kinds the kernel tells; a run lists their rules only when it has
 * results of them, so reports without them stay as they were. */
static const struct sl_fmt_sarif_rule sl_fmt_sarif_swept_rules[] = {
    {SL_KIND_CLOSE_WAIT_UNREAD, "SocketLeftInCloseWaitUnread",
     "A socket sat in CLOSE_WAIT with its end-of-stream never read",
     "The peer closed this connection and the kernel holds it in CLOSE_WAIT, but the program "
     "never read the end-of-stream and never closed the socket within the deadline: an idle "
     "pooled connection nobody checks, a response left unread, or a read the detector cannot "
     "see (stdio, io_uring). It holds a file descriptor, socket memory and a connection slot.",
     "Close idle connections whose peer has gone (poll for POLLRDHUP or read until 0 before "
     "reuse), and close the socket on every path that stops reading. The location is the last "
     "read of the socket (or its creation when it was never read)."},
    {SL_KIND_CLOSE_WAIT_INHERITED, "InheritedSocketLeftInCloseWait",
     "A socket copied into a child by fork sat in CLOSE_WAIT, never closed there",
     "This process got a copy of the socket through fork (or kept it across exec) and never "
     "closed it; the peer has closed the connection, and the copy alone keeps it in CLOSE_WAIT "
     "even after the process that made it closed its own.",
     "Create sockets with SOCK_CLOEXEC (accept4, socket flags) and close the copies a child "
     "does not use right after fork. The location is the fork; the related location is where "
     "the socket was created."},
    {SL_KIND_CLOSE_WAIT_UNACCEPTED, "ConnectionClosedInAcceptQueue",
     "Connections were closed by their peer while waiting in a listener's accept queue",
     "Connections reached a listening socket of this process, were closed by their peer while "
     "waiting to be accepted, and were never accepted within the deadline: the listener is not "
     "being served (a blocked or missing accept loop) or its backlog is too large for the rate "
     "it is served at.",
     "Accept from the listener promptly (or close it when the program stops serving), and size "
     "its backlog to what the program can serve. The location is where the listener was made."},
    {SL_KIND_DOUBLE_CLOSE, "SocketClosedTwice",
     "A socket's file descriptor was closed twice",
     "The program closed a socket, then called close (or dup2/dup3 from it) on the same number "
     "again, which failed with EBADF. Had another thread or call been handed that number in "
     "between, the second close would have closed someone else's connection or file.",
     "Close each descriptor once, and forget its number when closing it (set the variable to "
     "-1). The location is the second close; the related location is the first."},
    {SL_KIND_TIME_WAIT_CHURN, "EphemeralPortChurn",
     "A connect call site fills the ephemeral port range with TIME_WAIT sockets",
     "The program opens a new connection per request to one destination and closes it first: "
     "each such close leaves a TIME_WAIT socket holding an ephemeral port for 60 s, and this "
     "call site's TIME_WAIT sockets to one destination passed churn_share percent of the range "
     "(net.ipv4.ip_local_port_range), as the kernel counted them. When the range runs out, "
     "connect fails with EADDRNOTAVAIL (a finding marked exhausted, which names the call sites "
     "holding the most ports).",
     "Keep connections open and reuse them (HTTP keep-alive, a connection pool) instead of one "
     "connection per request; sysctls such as tcp_tw_reuse or a wider ip_local_port_range only "
     "hide it. The location is the connect."},
    {SL_KIND_OPEN_AT_EXIT, "SocketOpenAtExit",
     "A socket was still open when the process exited",
     "Asked for with at_exit=all (sockleak run --at-exit=all): the process exited holding this "
     "socket, whatever its TCP state, as valgrind's --track-fds lists descriptors left open. "
     "The kernel closes it at exit, but a long-running program that leaves sockets open this "
     "way holds them until it stops.",
     "Close every socket when its work is done (or before exiting, for a test that wants no "
     "socket left). The location is where the socket was made."},
    {SL_KIND_FD_EXHAUSTION, "FdExhaustion",
     "A call that makes a file descriptor failed with EMFILE or ENFILE",
     "The process reached its open file limit (RLIMIT_NOFILE, EMFILE) or the system's (ENFILE): "
     "socket, accept, dup and the like fail until descriptors are closed. One finding per "
     "episode (until at most three quarters of the limit is open again); it names the "
     "sockets the process held then, grouped by where they were made, with their TCP states "
     "and the oldest's age.",
     "Close the sockets the largest holder keeps (a connection that is done, an idle keep-alive "
     "past its use) or bound how many it keeps (a pool size, a connection limit); a higher "
     "ulimit -n only postpones it. The location is the failing call; the related locations "
     "are where the held sockets were made."},
};
#define SL_FMT_SARIF_NSWEPT (sizeof(sl_fmt_sarif_swept_rules) / sizeof(sl_fmt_sarif_swept_rules[0]))

/* The rule of a kernel-swept kind, or NULL for any other kind. */
static const struct sl_fmt_sarif_rule *sl_fmt_sarif_swept_rule(const char *kind)
{
    for (size_t i = 0; i < SL_FMT_SARIF_NSWEPT; i++)
        if (strcmp(sl_fmt_sarif_swept_rules[i].id, kind) == 0)
            return &sl_fmt_sarif_swept_rules[i];
    return NULL;
}

/* The stack a kernel-swept finding is about (the result's location), or
 * NULL for the other kinds. */
static const struct sl_sym_stack *sl_fmt_sarif_swept_stack(const struct sl_group *g)
{
    if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNREAD) == 0)
        return g->last_read_sym.n ? &g->last_read_sym : &g->open_sym;
    if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_INHERITED) == 0)
        return &g->fork_sym;
    if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNACCEPTED) == 0)
        return &g->listen_sym;
    if (strcmp(g->kind, SL_KIND_DOUBLE_CLOSE) == 0)
        return &g->close_sym;
    if (strcmp(g->kind, SL_KIND_TIME_WAIT_CHURN) == 0 ||
        strcmp(g->kind, SL_KIND_OPEN_AT_EXIT) == 0)
        return &g->open_sym;
    if (g->fdexh)
        return &g->fail_sym;
    return NULL;
}

/* s percent-encoded for a URI path: unreserved characters and '/' kept. */
static char *sl_fmt_sarif_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = sl_util_xmalloc(3 * strlen(s) + 1), *o = out;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* An artifactLocation for path: relative to cwd with uriBaseId %SRCROOT% when
 * it lies under cwd, otherwise an absolute file: URI (or the path as given
 * when it is relative already). */
static json_t *sl_fmt_sarif_artifact(const char *path, const char *cwd)
{
    json_t *a = json_object();
    size_t n = cwd ? strlen(cwd) : 0;
    char *enc;

    if (strncmp(path, "file:///", 8) == 0) /* an ES module's file URL */
        path += 7;
    if (n > 1 && strncmp(path, cwd, n) == 0 && path[n] == '/' && path[n + 1]) {
        enc = sl_fmt_sarif_encode(path + n + 1);
        json_object_set_new(a, "uri", sl_fmt_json_str(enc));
        json_object_set_new(a, "uriBaseId", json_string(SL_FMT_SARIF_SRCROOT));
    } else if (path[0] == '/') {
        char *e = sl_fmt_sarif_encode(path);
        enc = sl_util_xjoin("file://", "", e);
        free(e);
        json_object_set_new(a, "uri", sl_fmt_json_str(enc));
    } else {
        enc = sl_fmt_sarif_encode(path);
        json_object_set_new(a, "uri", sl_fmt_json_str(enc));
        json_object_set_new(a, "uriBaseId", json_string(SL_FMT_SARIF_SRCROOT));
    }
    free(enc);
    return a;
}

static bool sl_fmt_sarif_located(const struct sl_sym_frame *f)
{
    return f->file && f->line > 0;
}

static const struct sl_sym_frame *sl_fmt_sarif_first_located(const struct sl_sym_stack *st)
{
    for (size_t i = 0; i < st->n; i++)
        if (sl_fmt_sarif_located(&st->frames[i]))
            return &st->frames[i];
    return NULL;
}

/* A location for frame f: its source line when known, else its module. */
static json_t *sl_fmt_sarif_location(const struct sl_sym_frame *f, const char *cwd,
                                     const char *message)
{
    json_t *loc = json_object(), *phys = NULL, *logical;

    if (sl_fmt_sarif_located(f)) {
        json_t *region = json_object();
        phys = json_object();
        json_object_set_new(phys, "artifactLocation", sl_fmt_sarif_artifact(f->file, cwd));
        json_object_set_new(region, "startLine", json_integer(f->line));
        json_object_set_new(phys, "region", region);
    } else if (*f->module) {
        phys = json_object();
        json_object_set_new(phys, "artifactLocation", sl_fmt_sarif_artifact(f->module, cwd));
    }
    if (phys)
        json_object_set_new(loc, "physicalLocation", phys);
    logical = json_object();
    json_object_set_new(logical, "fullyQualifiedName", sl_fmt_json_str(f->function));
    json_object_set_new(logical, "kind", json_string("function"));
    json_object_set_new(loc, "logicalLocations", json_pack("[o]", logical));
    if (message)
        json_object_set_new(loc, "message", json_pack("{s:s}", "text", message));
    return loc;
}

static json_t *sl_fmt_sarif_stack(const struct sl_sym_stack *st, const char *cwd,
                                  const char *message)
{
    json_t *frames = json_array();

    for (size_t i = 0; i < st->n; i++) {
        const struct sl_sym_frame *f = &st->frames[i];
        json_t *fr = json_object();
        json_object_set_new(fr, "location", sl_fmt_sarif_location(f, cwd, NULL));
        if (*f->module)
            json_object_set_new(fr, "module", sl_fmt_json_str(f->module));
        if (f->lang)
            json_object_set_new(fr, "properties",
                                json_pack("{s:o}", "lang", sl_fmt_json_str(f->lang)));
        json_array_append_new(frames, fr);
    }
    return json_pack("{s:{s:s},s:o}", "message", "text", message, "frames", frames);
}

/* "fn (file:line)" or "fn" for the message text. */
static void sl_fmt_sarif_where(char *buf, size_t len, const struct sl_sym_frame *f)
{
    /* Cut on a character boundary: half a character would void the message. */
    if (sl_fmt_sarif_located(f))
        sl_util_snprintf_utf8(buf, len, "%s (%s:%d)", f->function, sl_util_basename(f->file),
                              f->line);
    else
        sl_util_snprintf_utf8(buf, len, "%s", f->function);
}

/* " in fn (file:line)" for the first frame of st in user code (else its
 * first frame), or nothing. */
static void sl_fmt_sarif_in(FILE *m, const char *what, const struct sl_group_set *set,
                            const struct sl_group *g, const struct sl_sym_stack *st)
{
    const struct sl_sym_frame *f;
    char where[1024];

    if (!st->n)
        return;
    f = sl_group_first_user(set, g, st);
    sl_fmt_sarif_where(where, sizeof(where), f ? f : &st->frames[0]);
    fprintf(m, "%s%s", what, where);
}

/* "; N processes of prog, prog and K more" of a message. */
static void sl_fmt_sarif_programs(FILE *m, const struct sl_group *g)
{
    fprintf(m, "; %zu process%s of ", g->processes, g->processes == 1 ? "" : "es");
    for (size_t i = 0; i < g->n_programs; i++)
        fprintf(m, "%s%s", i ? ", " : "", g->programs[i]);
    if (g->more_programs)
        fprintf(m, " and %zu more", g->more_programs);
}

/* time_wait_churn's message: the destination, the kernel's count against
 * the port range, the call site, the advice. */
static void sl_fmt_sarif_churn_message(FILE *m, const struct sl_group_set *set,
                                       const struct sl_group *g)
{
    int64_t ports = g->port_hi && g->port_hi >= g->port_lo ? g->port_hi - g->port_lo + 1 : 0;

    if (g->exhausted)
        fprintf(m, "%s: connect to %s failed with EADDRNOTAVAIL (no ephemeral port left; %" PRId64
                   " sockets to it in TIME_WAIT)",
                g->kind, g->destination, g->time_wait_peak);
    else
        fprintf(m, "%s: %" PRId64 " connections to %s left %" PRId64 " sockets in TIME_WAIT",
                g->kind, g->connections, g->destination, g->time_wait_peak);
    if (ports)
        fprintf(m, " of a %" PRId64 "-port ephemeral range", ports);
    sl_fmt_sarif_in(m, "; connect in ", set, g, &g->open_sym);
    for (size_t i = 0; i < g->n_top; i++)
        sl_fmt_sarif_in(m, i ? ", " : "; most ports held by connections from ", set, g,
                        &g->top_sym[i]);
    sl_fmt_sarif_programs(m, g);
    fprintf(m, ". Fix: %s.", SL_FMT_CHURN_ADVICE);
}

/* fd_exhaustion's message: the failing call, the limit, the holders. */
static void sl_fmt_sarif_fdexh_message(FILE *m, const struct sl_group_set *set,
                                       const struct sl_group *g)
{
    const struct sl_logread_finding *f = g->rep;

    fprintf(m, "%s: %s failed with %s (fd limit %" PRId64 ")", g->kind,
            f->call && *f->call ? f->call : "a call", f->err_name ? f->err_name : "?", f->limit);
    if (g->count > 1)
        fprintf(m, " in %zu episodes", g->count);
    sl_fmt_sarif_in(m, "; failed in ", set, g, &g->fail_sym);
    for (size_t i = 0; i < g->n_top && i < f->n_holders; i++) {
        fprintf(m, "%s%" PRId64 " sockets", i ? ", " : "; fds held by ", f->holders[i].count);
        sl_fmt_sarif_in(m, " made in ", set, g, &g->top_sym[i]);
    }
    sl_fmt_sarif_programs(m, g);
    fprintf(m, ". Fix: %s.", SL_FMT_FDEXH_ADVICE);
}

/* The message of a kernel-swept kind: what happened, where, how much. */
static void sl_fmt_sarif_swept_message(FILE *m, const struct sl_group_set *set,
                                       const struct sl_group *g)
{
    bool one = g->count == 1;

    if (strcmp(g->kind, SL_KIND_TIME_WAIT_CHURN) == 0) {
        sl_fmt_sarif_churn_message(m, set, g);
        return;
    }
    if (g->fdexh) {
        sl_fmt_sarif_fdexh_message(m, set, g);
        return;
    }
    fprintf(m, "%s: %zu ", g->kind, g->count);
    if (strcmp(g->kind, SL_KIND_DOUBLE_CLOSE) == 0) {
        fprintf(m, "socket%s closed again", one ? "" : "s");
        sl_fmt_sarif_in(m, " in ", set, g, &g->close_sym);
        sl_fmt_sarif_in(m, " (EBADF) after the first close in ", set, g, &g->first_close_sym);
    } else if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNREAD) == 0) {
        fprintf(m, "socket%s sat in CLOSE_WAIT with %s end-of-stream never read", one ? "" : "s",
                one ? "its" : "their");
        if (g->last_read_sym.n)
            sl_fmt_sarif_in(m, "; last read in ", set, g, &g->last_read_sym);
        else
            fprintf(m, "; the program never read from it");
    } else if (strcmp(g->kind, SL_KIND_OPEN_AT_EXIT) == 0) {
        fprintf(m, "socket%s still open when the process exited (", one ? "" : "s");
        for (size_t i = 0; i < g->n_states; i++)
            fprintf(m, "%s%zu %s", i ? ", " : "", g->states[i].count,
                    g->states[i].state ? g->states[i].state : "no TCP state");
        fputc(')', m);
    } else if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_INHERITED) == 0) {
        fprintf(m, "inherited socket%s sat in CLOSE_WAIT, never closed", one ? "" : "s");
        sl_fmt_sarif_in(m, "; copied by fork in ", set, g, &g->fork_sym);
    } else {
        fprintf(m, "connection%s closed by %s peer in the accept queue %s never accepted",
                one ? "" : "s", one ? "its" : "their", one ? "was" : "were");
        sl_fmt_sarif_in(m, "; listener created in ", set, g, &g->listen_sym);
    }
    if (g->has & SL_LOGREAD_HAS_IDLE_MS)
        fprintf(m, "; idle up to %" PRId64 " ms", g->idle_ms_max);
    if (g->has & SL_LOGREAD_HAS_UNREAD_BYTES)
        fprintf(m, "; up to %" PRId64 " bytes unread", g->unread_bytes_max);
    if (g->at_exit_count && strcmp(g->kind, SL_KIND_OPEN_AT_EXIT) != 0)
        fprintf(m, "; %zu reported at process exit", g->at_exit_count);
    sl_fmt_sarif_programs(m, g);
    if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNACCEPTED) != 0 &&
        strcmp(g->kind, SL_KIND_DOUBLE_CLOSE) != 0 && strcmp(g->kind, SL_KIND_OPEN_AT_EXIT) != 0)
        sl_fmt_sarif_in(m, "; socket created in ", set, g, &g->open_sym);
    fputc('.', m);
}

static char *sl_fmt_sarif_message(const struct sl_group_set *set, const struct sl_group *g)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);

    if (!m)
        return sl_util_xstrdup(g->kind);
    if (sl_fmt_sarif_swept_stack(g)) {
        sl_fmt_sarif_swept_message(m, set, g);
        fclose(m);
        return buf;
    }
    fprintf(m, "%s: %zu socket%s read end-of-stream and ", g->kind, g->count,
            g->count == 1 ? "" : "s");
    if (strcmp(g->kind, SL_KIND_UNCLOSED_AFTER_SHUTDOWN) == 0)
        fprintf(m, "%s shut down for writing but %s", g->count == 1 ? "was" : "were",
                sl_group_closed_words(g));
    else
        fprintf(m, "%s %s", g->count == 1 ? "was" : "were", sl_group_closed_words(g));
    sl_fmt_sarif_in(m, " after the read in ", set, g, &g->eof_sym);
    if (g->call_site_listener)
        sl_fmt_sarif_in(m, "; accepted on the listener created in ", set, g, &g->listen_sym);
    fprintf(m, "; held median %" PRId64 " ms, max %" PRId64 " ms", g->held_median, g->held_max);
    if (g->closed_late)
        fprintf(m, ", %zu closed after the deadline", g->closed_late);
    fprintf(m, "; kernel state %s", g->tcp_state ? g->tcp_state : "unknown");
    sl_fmt_sarif_programs(m, g);
    sl_fmt_sarif_in(m, "; socket created in ", set, g, &g->open_sym);
    fputc('.', m);
    fclose(m);
    return buf;
}

static json_t *sl_fmt_sarif_rule_json(const struct sl_fmt_sarif_rule *r)
{
    return json_pack("{s:o,s:o,s:{s:s},s:{s:s},s:{s:s},s:{s:s}}", "id", sl_fmt_json_str(r->id),
                     "name", sl_fmt_json_str(r->name), "shortDescription", "text", r->short_desc,
                     "fullDescription", "text", r->full_desc, "help", "text", r->help,
                     "defaultConfiguration", "level", "error");
}

/* Index of kind in rules (an array of rule objects), added when new. */
static size_t sl_fmt_sarif_rule_index(json_t *rules, const char *kind)
{
    struct sl_fmt_sarif_rule generic = {kind, kind, "A socket leaked", "A socket leaked.",
                                        "Close the socket on every path."};
    size_t i;

    for (i = 0; i < json_array_size(rules); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(rules, i), "id"));
        if (id && strcmp(id, kind) == 0)
            return i;
    }
    json_array_append_new(rules, sl_fmt_sarif_rule_json(sl_fmt_sarif_swept_rule(kind)
                                                            ? sl_fmt_sarif_swept_rule(kind)
                                                            : &generic));
    return i;
}

/* The kernel-swept kinds' stacks and fields, those the group has. */
static void sl_fmt_sarif_swept_extras(json_t *stacks, json_t *props, const struct sl_group *g,
                                      const char *cwd)
{
    if (g->last_read_sym.n)
        json_array_append_new(stacks, sl_fmt_sarif_stack(&g->last_read_sym, cwd, "last read at"));
    if (g->fork_sym.n)
        json_array_append_new(stacks, sl_fmt_sarif_stack(&g->fork_sym, cwd, "copied by fork at"));
    if (g->listen_sym.n)
        json_array_append_new(stacks,
                              sl_fmt_sarif_stack(&g->listen_sym, cwd,
                                                 strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNACCEPTED) == 0
                                                     ? "listener created at"
                                                     : "accepted from the listener created at"));
    if (g->close_sym.n)
        json_array_append_new(stacks, sl_fmt_sarif_stack(&g->close_sym, cwd, "closed again at"));
    if (g->first_close_sym.n)
        json_array_append_new(stacks,
                              sl_fmt_sarif_stack(&g->first_close_sym, cwd, "first closed at"));
    sl_fmt_json_swept_counts(props, g);
}

/* The located frame of st that stands for it: its first in user code when
 * that has a source line, else its first with one; NULL when none has. */
static const struct sl_sym_frame *sl_fmt_sarif_pick(const struct sl_group_set *set,
                                                    const struct sl_group *g,
                                                    const struct sl_sym_stack *st)
{
    const struct sl_sym_frame *f = sl_group_first_user(set, g, st);
    return f && sl_fmt_sarif_located(f) ? f : sl_fmt_sarif_first_located(st);
}

/* The frame of the result's location. Code-scanning tools need one: the
 * call site when it has a source line; else the located read, else the
 * located creation, else the first frame; for the kinds without a read, the
 * stack the finding is about. */
static const struct sl_sym_frame *sl_fmt_sarif_primary(const struct sl_group_set *set,
                                                       const struct sl_group *g)
{
    const struct sl_sym_stack *bug = sl_fmt_sarif_swept_stack(g);
    const struct sl_sym_frame *f;

    if (g->call_site && g->call_site_user && sl_fmt_sarif_located(g->call_site))
        return g->call_site;
    if (bug && bug->n)
        return (f = sl_fmt_sarif_pick(set, g, bug)) ? f : &bug->frames[0];
    if ((f = sl_fmt_sarif_pick(set, g, &g->eof_sym)) ||
        (f = sl_fmt_sarif_pick(set, g, &g->open_sym)))
        return f;
    if (g->eof_sym.n)
        return &g->eof_sym.frames[0];
    return g->open_sym.n ? &g->open_sym.frames[0] : NULL;
}

static void sl_fmt_sarif_fnv(uint64_t *h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        *h = (*h ^ *p) * 0x100000001b3ULL;
    *h = (*h ^ 0xff) * 0x100000001b3ULL; /* a separator no string holds */
}

/* partialFingerprints: a hash of the kind and the call site's function and
 * file (relative to base when under it, else its module's name), so that a
 * code-scanning tool knows the finding again in the next run: no line
 * numbers (they drift), pids, ports or addresses. */
static json_t *sl_fmt_sarif_fingerprint(const struct sl_group *g, const char *base)
{
    const struct sl_sym_frame *cs = g->call_site;
    const char *file = "", *fn = "";
    uint64_t h = 0xcbf29ce484222325ULL;
    char hex[32];
    size_t n = base ? strlen(base) : 0;

    if (cs) {
        fn = cs->function;
        file = cs->file ? cs->file : sl_util_basename(cs->module);
        if (strncmp(file, "file://", 7) == 0)
            file += 7;
        if (n > 1 && strncmp(file, base, n) == 0 && file[n] == '/')
            file += n + 1;
    }
    sl_fmt_sarif_fnv(&h, g->kind);
    if (g->exhausted) /* not the destination: it differs between deployments */
        sl_fmt_sarif_fnv(&h, "exhausted");
    sl_fmt_sarif_fnv(&h, fn);
    sl_fmt_sarif_fnv(&h, file);
    snprintf(hex, sizeof(hex), "%016" PRIx64, h);
    return json_pack("{s:s}", SL_FMT_SARIF_FINGERPRINT, hex);
}

/* Related locations: the creation, and the listener an event loop accepted
 * the socket on when that is the call site. */
static void sl_fmt_sarif_related(json_t *res, const struct sl_group_set *set,
                                 const struct sl_group *g, const char *cwd)
{
    bool dclose = strcmp(g->kind, SL_KIND_DOUBLE_CLOSE) == 0;
    const struct sl_sym_frame *open =
        g->destination ? NULL
                       : sl_fmt_sarif_pick(set, g, dclose ? &g->first_close_sym : &g->open_sym);
    json_t *rels = json_array(), *rel;

    /* time_wait_churn found no port left: the connects holding the most. */
    for (size_t i = 0; i < g->n_top; i++) {
        const struct sl_sym_frame *f = sl_fmt_sarif_pick(set, g, &g->top_sym[i]);
        char what[160];
        if (!f)
            continue;
        if (g->fdexh)
            snprintf(what, sizeof what, "%" PRId64 " of the fds are sockets made here",
                     g->rep->holders[i].count);
        else
            snprintf(what, sizeof what, "holds %" PRId64 " ephemeral ports (TIME_WAIT) here",
                     g->rep->top_sites[i].time_wait);
        rel = sl_fmt_sarif_location(f, cwd, what);
        json_object_set_new(rel, "id", json_integer((json_int_t)i + 1));
        json_array_append_new(rels, rel);
    }
    if (open) {
        rel = sl_fmt_sarif_location(open, cwd, dclose ? "first closed here" : "socket created here");
        json_object_set_new(rel, "id", json_integer(1));
        json_array_append_new(rels, rel);
    }
    if (g->call_site_listener && sl_fmt_sarif_located(g->call_site)) {
        rel = sl_fmt_sarif_location(g->call_site, cwd, "accepted on the listener created here");
        json_object_set_new(rel, "id", json_integer(2));
        json_array_append_new(rels, rel);
    }
    if (json_array_size(rels))
        json_object_set_new(res, "relatedLocations", rels);
    else
        json_decref(rels);
}

static json_t *sl_fmt_sarif_result(const struct sl_group_set *set, const struct sl_group *g,
                                   json_t *rules, const char *cwd)
{
    json_t *res = json_object(), *locs = json_array(), *stacks = json_array(), *props;
    const struct sl_sym_frame *primary = sl_fmt_sarif_primary(set, g);
    char *msg = sl_fmt_sarif_message(set, g);

    json_object_set_new(res, "ruleId", sl_fmt_json_str(g->kind));
    json_object_set_new(res, "ruleIndex",
                        json_integer((json_int_t)sl_fmt_sarif_rule_index(rules, g->kind)));
    json_object_set_new(res, "level", json_string("error"));
    json_object_set_new(res, "message", json_pack("{s:o}", "text", sl_fmt_json_str(msg)));
    free(msg);
    if (primary)
        json_array_append_new(locs, sl_fmt_sarif_location(primary, cwd, NULL));
    json_object_set_new(res, "locations", locs);
    json_object_set_new(res, "partialFingerprints", sl_fmt_sarif_fingerprint(g, cwd));
    sl_fmt_sarif_related(res, set, g, cwd);
    if (g->eof_sym.n)
        json_array_append_new(stacks,
                              sl_fmt_sarif_stack(&g->eof_sym, cwd, "end-of-stream read at"));
    if (g->open_sym.n)
        json_array_append_new(stacks,
                              sl_fmt_sarif_stack(&g->open_sym, cwd,
                                                 g->destination ? "connected at"
                                                                : "socket created at"));
    if (g->fail_sym.n)
        json_array_append_new(stacks, sl_fmt_sarif_stack(&g->fail_sym, cwd, "failed at"));
    for (size_t i = 0; i < g->n_top; i++)
        json_array_append_new(stacks,
                              sl_fmt_sarif_stack(&g->top_sym[i], cwd,
                                                 g->fdexh ? "fds held by sockets made at"
                                                          : "ports held by the connect at"));
    json_object_set_new(res, "stacks", stacks);
    props = json_object();
    json_object_set_new(props, "count", json_integer((json_int_t)g->count));
    json_object_set_new(props, "processes", json_integer((json_int_t)g->processes));
    json_object_set_new(props, "held_ms_median", json_integer(g->held_median));
    json_object_set_new(props, "held_ms_max", json_integer(g->held_max));
    json_object_set_new(props, "closed_late", json_integer((json_int_t)g->closed_late));
    json_object_set_new(props, "tcp_state",
                        g->tcp_state ? sl_fmt_json_str(g->tcp_state) : json_null());
    sl_fmt_sarif_swept_extras(stacks, props, g, cwd);
    sl_fmt_json_churn(props, set, g);
    sl_fmt_json_fdexh(props, set, g);
    json_object_set_new(res, "properties", props);
    return res;
}

json_t *sl_fmt_sarif_build(const struct sl_group_set *set, const struct sl_supp_set *supp,
                           const char *cwd)
{
    json_t *root = json_object(), *run = json_object(), *driver = json_object(),
           *rules = json_array(), *results = json_array(), *props = json_object(),
           *supps = json_array();
    char cwdbuf[PATH_MAX];

    if (!cwd)
        cwd = set->source_root ? set->source_root : getcwd(cwdbuf, sizeof(cwdbuf));
    json_object_set_new(root, "$schema", json_string(SL_FMT_SARIF_SCHEMA));
    json_object_set_new(root, "version", json_string("2.1.0"));
    json_object_set_new(driver, "name", json_string("sockleak"));
    json_object_set_new(driver, "informationUri", json_string(SOCKLEAK_URL));
    json_object_set_new(driver, "version", json_string(SOCKLEAK_VERSION));
    for (size_t i = 0; i < SL_FMT_SARIF_NRULES; i++)
        json_array_append_new(rules, sl_fmt_sarif_rule_json(&sl_fmt_sarif_rules[i]));
    for (size_t i = 0; i < set->n_groups; i++)
        if (set->groups[i]->suppressed_by < 0)
            json_array_append_new(results, sl_fmt_sarif_result(set, set->groups[i], rules, cwd));
    json_object_set_new(driver, "rules", rules);
    json_object_set_new(run, "tool", json_pack("{s:o}", "driver", driver));
    if (cwd && cwd[0] == '/') {
        char *enc = sl_fmt_sarif_encode(cwd);
        char *uri = sl_util_xjoin("file://", enc, strcmp(cwd, "/") == 0 ? "" : "/");
        json_object_set_new(run, "originalUriBaseIds",
                            json_pack("{s:{s:s}}", SL_FMT_SARIF_SRCROOT, "uri", uri));
        free(uri);
        free(enc);
    }
    json_object_set_new(run, "results", results);
    json_object_set_new(props, "processes", json_integer(set->processes));
    json_object_set_new(props, "sockets", json_integer(set->sockets));
    json_object_set_new(props, "eof_seen", json_integer(set->eof_seen));
    json_object_set_new(props, "leaks", json_integer(set->leaks));
    json_object_set_new(props, "double_closes", json_integer(set->double_closes));
    if (set->churns)
        json_object_set_new(props, "time_wait_churn", json_integer(set->churns));
    if (set->open_at_exit)
        json_object_set_new(props, "open_at_exit", json_integer(set->open_at_exit));
    if (set->fdexhs)
        json_object_set_new(props, "fd_exhaustion", json_integer(set->fdexhs));
    json_object_set_new(props, "suppressed",
                        json_integer(set->findings - set->leaks - set->double_closes -
                                     set->churns - set->open_at_exit -
                                     set->fdexhs));
    json_object_set_new(props, "incomplete", json_integer((json_int_t)set->n_incomplete));
    json_object_set_new(props, "incomplete_processes", sl_fmt_json_incomplete(set));
    for (size_t i = 0; supp && i < supp->n; i++)
        if (sl_fmt_rule_listed(&supp->rules[i]))
            json_array_append_new(supps, json_pack("{s:o,s:I}", "rule",
                                                   sl_fmt_json_str(supp->rules[i].text), "count",
                                                   (json_int_t)supp->rules[i].count));
    json_object_set_new(props, "suppressions", supps);
    json_object_set_new(run, "properties", props);
    json_object_set_new(root, "runs", json_pack("[o]", run));
    return root;
}

int sl_fmt_sarif(FILE *out, const struct sl_group_set *set, const struct sl_supp_set *supp)
{
    json_t *root = sl_fmt_sarif_build(set, supp, NULL);
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    json_decref(root);
    if (rc == 0 && fputc('\n', out) == EOF)
        rc = -1;
    return rc;
}

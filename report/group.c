#include "group.h"
#include "usercode.h"
#include "util.h"

#include "sockleak_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sl_group_buf {
    char *s;
    size_t len, cap;
};

static void sl_group_append(struct sl_group_buf *b, const char *s)
{
    size_t n = strlen(s);

    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = sl_util_xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

/* What keys a finding's stacks. */
struct sl_group_keyctx {
    const struct sl_logread_process *p;
    size_t max_frames; /* frames keyed per stack, 0: all */
    const char *root;  /* --source-root, or NULL */
    bool lang;         /* the finding has language frames */
};

/* "@<offset in hex>;" into num: what snprintf would write, at a fraction
 * of its cost (every frame of every finding is keyed). */
static void sl_group_offset(char *num, uint64_t off)
{
    char digits[16];
    int n = 0;

    do {
        digits[n++] = "0123456789abcdef"[off & 15];
        off >>= 4;
    } while (off);
    *num++ = '@';
    while (n)
        *num++ = digits[--n];
    *num++ = ';';
    *num = '\0';
}

static void sl_group_frame_key(struct sl_group_buf *b, const struct sl_logread_process *p,
                               const struct sl_logread_frame *f)
{
    char num[64];
    const struct sl_logread_module *m;

    if (f->module == SL_LOGREAD_LANG_FRAME) {
        const struct sl_logread_lframe *lf = sl_logread_lframe(p, (int64_t)f->offset);
        if (!lf) {
            /* No frame record: only this process knows what the id means. */
            snprintf(num, sizeof(num), "L#%" PRId64 "/%" PRIu64 ";", p->pid, f->offset);
            sl_group_append(b, num);
            return;
        }
        /* What the frame is, not its id: ids differ from process to process. */
        snprintf(num, sizeof(num), "\x1f%d;", lf->line);
        sl_group_append(b, "L:");
        sl_group_append(b, lf->lang);
        sl_group_append(b, "\x1f");
        sl_group_append(b, lf->function);
        sl_group_append(b, "\x1f");
        sl_group_append(b, lf->file);
        sl_group_append(b, num);
        return;
    }
    m = sl_logread_module(p, f->module);
    if (f->module == SL_LOGREAD_NO_MODULE) {
        sl_group_append(b, "?");
    } else if (!m) {
        /* No module record: only this process knows what id means. */
        snprintf(num, sizeof(num), "#%" PRId64 "/%" PRId64, p->pid, f->module);
        sl_group_append(b, num);
    } else {
        sl_group_append(b, *m->build_id ? m->build_id : m->path);
    }
    sl_group_offset(num, f->offset);
    sl_group_append(b, num);
}

/* True when a logged frame is user code (usercode.h): a language frame by
 * its record, a native one by its module. */
static bool sl_group_frame_user(const struct sl_group_keyctx *kc, const struct sl_logread_frame *f)
{
    const struct sl_logread_module *m;

    if (f->module == SL_LOGREAD_LANG_FRAME) {
        const struct sl_logread_lframe *lf = sl_logread_lframe(kc->p, (int64_t)f->offset);
        return lf && sl_uc_lang_user(lf->lang, lf->function, lf->file, kc->root);
    }
    m = f->module == SL_LOGREAD_NO_MODULE ? NULL : sl_logread_module(kc->p, f->module);
    return m && sl_uc_module_user(m->path, kc->p->exe);
}

static bool sl_group_same_frame(const struct sl_logread_frame *a, const struct sl_logread_frame *b)
{
    return a->module == b->module && a->offset == b->offset;
}

/* How many outermost frames stacks a and b share: how the thread running
 * both was entered (start_thread, or main and the C start-up), not where
 * the socket was made or read. 0 unless both keep a frame of their own
 * above them. */
static size_t sl_group_shared_suffix(const struct sl_logread_stack *a,
                                     const struct sl_logread_stack *b)
{
    size_t c = 0;
    while (c < a->n && c < b->n &&
           sl_group_same_frame(&a->frames[a->n - 1 - c], &b->frames[b->n - 1 - c]))
        c++;
    return c < a->n && c < b->n ? c : 0;
}

/* Appends the key of one stack. A C program's stack keys by every frame. A
 * stack of a finding with language frames keys by its frames in user code
 * only (the runtime's native frames and the standard library's frames vary
 * with how the interpreter got there, not with the call site), or, when it
 * has none, by its language frames. True when it had a frame in user code. */
static bool sl_group_stack_key(struct sl_group_buf *b, const struct sl_group_keyctx *kc,
                               const struct sl_logread_stack *st, size_t shared)
{
    size_t n = st->n - shared, used = 0;
    if (kc->max_frames && kc->max_frames < n)
        n = kc->max_frames;

    if (!kc->lang) {
        for (size_t i = 0; i < n; i++)
            sl_group_frame_key(b, kc->p, &st->frames[i]);
        return true;
    }
    for (size_t i = 0; i < st->n && (!kc->max_frames || used < kc->max_frames); i++)
        if (sl_group_frame_user(kc, &st->frames[i])) {
            sl_group_frame_key(b, kc->p, &st->frames[i]);
            used++;
        }
    if (used)
        return true;
    for (size_t i = 0; i < st->n && (!kc->max_frames || used < kc->max_frames); i++)
        if (st->frames[i].module == SL_LOGREAD_LANG_FRAME) {
            sl_group_frame_key(b, kc->p, &st->frames[i]);
            used++;
        }
    return false;
}

static bool sl_group_stack_has_lang(const struct sl_logread_stack *st)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->frames[i].module == SL_LOGREAD_LANG_FRAME)
            return true;
    return false;
}

static bool sl_group_has_lang(const struct sl_logread_finding *f)
{
    return sl_group_stack_has_lang(&f->eof_stack) || sl_group_stack_has_lang(&f->open_stack) ||
           sl_group_stack_has_lang(&f->last_read_stack) ||
           sl_group_stack_has_lang(&f->fork_stack) || sl_group_stack_has_lang(&f->listen_stack) ||
           sl_group_stack_has_lang(&f->close_stack) ||
           sl_group_stack_has_lang(&f->first_close_stack) ||
           sl_group_stack_has_lang(&f->fail_stack);
}

/* Counts add up without wrapping: one record may stand for any number of
 * sockets ("sockets"), and a wrapped count would hide a leak. */
static size_t sl_group_sat_add(size_t a, int64_t b)
{
    uint64_t n = b > 0 ? (uint64_t)b : 0;
    return n > SIZE_MAX - a ? SIZE_MAX : a + (size_t)n;
}

static int64_t sl_group_sat_add64(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    return a + b;
}

/* The stacks that name the bug make the call site: for close_wait and
 * unclosed_after_shutdown (and unknown kinds) the EOF read and the creation;
 * for the kernel-swept kinds the stacks they carry instead (no EOF read). */
static void sl_group_stacks_key(struct sl_group_buf *b, struct sl_group_keyctx *kc,
                                const struct sl_logread_finding *f)
{
    const struct sl_logread_stack *first = &f->eof_stack, *second = &f->open_stack;
    bool user;

    if (strcmp(f->kind, SL_KIND_CLOSE_WAIT_UNREAD) == 0) {
        first = &f->open_stack;
        second = &f->last_read_stack;
    } else if (strcmp(f->kind, SL_KIND_CLOSE_WAIT_INHERITED) == 0) {
        first = &f->open_stack;
        second = &f->fork_stack;
    } else if (strcmp(f->kind, SL_KIND_CLOSE_WAIT_UNACCEPTED) == 0) {
        first = &f->listen_stack;
        second = NULL;
    } else if (strcmp(f->kind, SL_KIND_DOUBLE_CLOSE) == 0) {
        first = &f->close_stack;
        second = &f->first_close_stack;
    } else if (strcmp(f->kind, SL_KIND_TIME_WAIT_CHURN) == 0 ||
               strcmp(f->kind, SL_KIND_OPEN_AT_EXIT) == 0) {
        first = &f->open_stack;
        second = NULL;
    } else if (f->fdexh) {
        first = &f->fail_stack;
        second = NULL;
    }
    kc->lang = sl_group_has_lang(f);
    /* Leaks whose stacks agree down to the thread's own loop are one
     * finding however the thread was entered: the frames both stacks share
     * at their outer end are left out of a C program's key. */
    size_t shared = second && !kc->lang ? sl_group_shared_suffix(first, second) : 0;
    sl_group_append(b, f->kind);
    sl_group_append(b, "|");
    user = sl_group_stack_key(b, kc, first, shared);
    if (second) {
        sl_group_append(b, "|");
        user = sl_group_stack_key(b, kc, second, shared) || user;
    }
    /* Sockets a runtime's event loop accepted and read, with no user code
     * on their stacks: the listener the user's code made tells them apart. */
    if (kc->lang && !user && second) {
        sl_group_append(b, "|listener:");
        sl_group_stack_key(b, kc, &f->listen_stack, 0);
    }
}

/* The kernel-swept kinds' fields of f, for the group's maxima and counts. */
static void sl_group_add_swept(struct sl_group *g, const struct sl_logread_finding *f)
{
    if ((f->has & SL_LOGREAD_HAS_IDLE_MS) &&
        (!(g->has & SL_LOGREAD_HAS_IDLE_MS) || f->idle_ms > g->idle_ms_max))
        g->idle_ms_max = f->idle_ms;
    if ((f->has & SL_LOGREAD_HAS_UNREAD_BYTES) &&
        (!(g->has & SL_LOGREAD_HAS_UNREAD_BYTES) || f->unread_bytes > g->unread_bytes_max))
        g->unread_bytes_max = f->unread_bytes;
    g->has |= f->has;
    if (f->at_exit)
        g->at_exit_count = sl_group_sat_add(g->at_exit_count, f->sockets);
}

/* The group key of f (malloc'd): kind, both stacks, and the process's own
 * suppressions file. */
char *sl_group_key(const struct sl_logread_process *p, const struct sl_logread_finding *f,
                   size_t max_frames, const char *root)
{
    struct sl_group_buf b = {0};
    struct sl_group_keyctx kc = {.p = p, .max_frames = max_frames, .root = root};

    sl_group_stacks_key(&b, &kc, f);
    /* One connect call site churns apart for each destination; a connect
     * that found no port left is a finding of its own. */
    if (f->destination) {
        sl_group_append(&b, f->exhausted ? "|exhausted|" : "|");
        sl_group_append(&b, f->destination);
    }
    /* A process's own suppressions file applies to its findings only: they
     * group apart from those of processes without it. */
    if (p->suppressions) {
        sl_group_append(&b, "|");
        sl_group_append(&b, p->suppressions);
    }
    return b.s;
}

/* Counts f's kernel state in g. */
static void sl_group_add_state(struct sl_group *g, const struct sl_logread_finding *f)
{
    size_t i;

    for (i = 0; i < g->n_states; i++)
        if ((!g->states[i].state && !f->tcp_state) ||
            (g->states[i].state && f->tcp_state && strcmp(g->states[i].state, f->tcp_state) == 0))
            break;
    if (i == g->n_states) {
        g->states = sl_util_xrealloc(g->states, (g->n_states + 1) * sizeof(*g->states));
        g->states[g->n_states].state = f->tcp_state;
        g->states[g->n_states].count = 0;
        g->n_states++;
    }
    /* An open_at_exit finding may stand for several sockets of its state. */
    g->states[i].count += strcmp(f->kind, SL_KIND_OPEN_AT_EXIT) == 0 && f->sockets > 1
                              ? (size_t)f->sockets
                              : 1;
}

/* The group of f's key, made (empty, f its representative) when new. */
static struct sl_group *sl_group_find(struct sl_group_set *set, const struct sl_logread_process *p,
                                      const struct sl_logread_finding *f, size_t max_frames)
{
    char *key = sl_group_key(p, f, max_frames, set->source_root);
    struct sl_group *g;

    HASH_FIND_STR(set->hash, key, g);
    if (g) {
        free(key);
        return g;
    }
    g = sl_util_xcalloc(1, sizeof(*g));
    g->key = key;
    g->kind = f->kind;
    g->last_proc = -1;
    g->rep_proc = p;
    g->rep = f;
    g->supp_scope = p->suppressions;
    g->suppressed_by = -1;
    g->destination = f->destination;
    g->exhausted = f->exhausted;
    g->port_lo = f->port_lo;
    g->port_hi = f->port_hi;
    g->fdexh = f->fdexh;
    HASH_ADD_KEYPTR(hh, set->hash, g->key, strlen(g->key), g);
    return g;
}

/* Counts process pi (p) in g, and its program among g's programs. */
static void sl_group_add_process(struct sl_group *g, long pi, const struct sl_logread_process *p)
{
    size_t i;

    /* Findings arrive process by process, so a change of index is a new
     * process for this group. */
    if (g->last_proc == pi)
        return;
    g->last_proc = pi;
    g->processes++;
    for (i = 0; i < g->n_programs; i++)
        if (strcmp(g->programs[i], p->program) == 0)
            return;
    if (g->n_programs < SL_GROUP_MAX_PROGRAMS)
        g->programs[g->n_programs++] = p->program;
    else
        g->more_programs++;
}

/* f of process p as one of a group's examples. */
static void sl_group_example(struct sl_group_example *e, const struct sl_logread_process *p,
                             const struct sl_logread_finding *f)
{
    *e = (struct sl_group_example){
        .pid = p->pid,
        .fd = f->fd,
        .local = f->local,
        .peer = f->peer,
        .held_ms = f->held_ms,
        .held_as_of = f->held_as_of,
        .closed = f->closed,
        .tcp_state = f->tcp_state,
        .proc = p,
        .sockets = f->sockets,
        .idle_ms = f->idle_ms,
        .unread_bytes = f->unread_bytes,
        .from_pid = f->from_pid,
        .backlog = f->backlog,
        .queued = f->queued,
        .at_exit = f->at_exit,
        .has = f->has,
    };
}

static void sl_group_add(struct sl_group_set *set, long pi, const struct sl_logread_process *p,
                         const struct sl_logread_finding *f, size_t max_frames)
{
    struct sl_group *g = sl_group_find(set, p, f, max_frames);

    g->count = sl_group_sat_add(g->count, f->sockets);
    sl_group_add_process(g, pi, p);
    if (g->n_examples < SL_GROUP_MAX_EXAMPLES)
        sl_group_example(&g->examples[g->n_examples++], p, f);
    sl_group_add_swept(g, f);
    if (f->destination) {
        g->connections = sl_group_sat_add64(g->connections, f->connections);
        if (f->time_wait_peak > g->time_wait_peak)
            g->time_wait_peak = f->time_wait_peak;
        if (f->rate_per_s > g->rate_per_s)
            g->rate_per_s = f->rate_per_s;
    }
    if (g->n_held == g->cap_held) {
        g->cap_held = g->cap_held ? 2 * g->cap_held : 4;
        g->held = sl_util_xrealloc(g->held, g->cap_held * sizeof(*g->held));
    }
    g->held[g->n_held++] = f->held_ms;
    if (f->closed)
        g->closed_late = sl_group_sat_add(g->closed_late, f->sockets);
    sl_group_add_state(g, f);
}

static int sl_group_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int sl_group_cmp(const void *a, const void *b)
{
    const struct sl_group *x = *(struct sl_group *const *)a, *y = *(struct sl_group *const *)b;
    int c;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    c = strcmp(x->kind, y->kind);
    return c ? c : strcmp(x->key, y->key);
}

static void sl_group_finish(struct sl_group *g)
{
    size_t best = 0;

    qsort(g->held, g->n_held, sizeof(*g->held), sl_group_cmp_i64);
    g->held_max = g->n_held ? g->held[g->n_held - 1] : 0;
    if (g->n_held == 0)
        g->held_median = 0;
    else if (g->n_held % 2)
        g->held_median = g->held[g->n_held / 2];
    else /* halves first: two times near INT64_MAX must not overflow */
        g->held_median = g->held[g->n_held / 2 - 1] / 2 + g->held[g->n_held / 2] / 2 +
                         (g->held[g->n_held / 2 - 1] % 2 + g->held[g->n_held / 2] % 2) / 2;
    g->tcp_state = NULL;
    for (size_t i = 0; i < g->n_states; i++)
        if (g->states[i].state && g->states[i].count > best) {
            best = g->states[i].count;
            g->tcp_state = g->states[i].state;
        }
}

/* 1 when f's kind means the program read end-of-stream, else 0. */
static int sl_group_read_eof(const struct sl_logread_finding *f)
{
    return strcmp(f->kind, SL_KIND_CLOSE_WAIT_UNREAD) != 0 &&
           strcmp(f->kind, SL_KIND_CLOSE_WAIT_INHERITED) != 0 &&
           strcmp(f->kind, SL_KIND_CLOSE_WAIT_UNACCEPTED) != 0 &&
           strcmp(f->kind, SL_KIND_DOUBLE_CLOSE) != 0 &&
           strcmp(f->kind, SL_KIND_TIME_WAIT_CHURN) != 0 &&
           strcmp(f->kind, SL_KIND_OPEN_AT_EXIT) != 0 && !f->fdexh;
}

void sl_group_build(struct sl_group_set *set, const struct sl_logread_set *logs)
{
    sl_group_build_n(set, logs, 0);
}

void sl_group_build_n(struct sl_group_set *set, const struct sl_logread_set *logs,
                      size_t max_frames)
{
    sl_group_build_src(set, logs, max_frames, NULL);
}

void sl_group_build_src(struct sl_group_set *set, const struct sl_logread_set *logs,
                        size_t max_frames, const char *source_root)
{
    struct sl_group *g, *tmp;
    size_t i = 0;

    memset(set, 0, sizeof(*set));
    set->source_root = source_root;
    set->processes = (int64_t)logs->n_procs;
    for (size_t pi = 0; pi < logs->n_procs; pi++) {
        const struct sl_logread_process *p = &logs->procs[pi];
        /* A process killed or ended with _exit wrote no footer: its findings
         * are all we know, and each was a socket (the kernel-swept kinds
         * without an end-of-stream read). */
        int64_t floor = 0, eof_floor = 0;
        for (size_t fi = 0; fi < p->n_findings; fi++) {
            sl_group_add(set, (long)pi, p, &p->findings[fi], max_frames);
            floor = sl_util_sat_add(floor, p->findings[fi].sockets);
            eof_floor = sl_util_sat_add(eof_floor, sl_group_read_eof(&p->findings[fi]));
        }
        /* Without a footer, the counts records it wrote before it ended. */
        int64_t socks = p->has_footer ? p->sockets : p->counted_sockets;
        int64_t eofs = p->has_footer ? p->eof_seen : p->counted_eof;
        set->sockets = sl_util_sat_add(set->sockets, socks > floor ? socks : floor);
        set->eof_seen = sl_util_sat_add(set->eof_seen, eofs > eof_floor ? eofs : eof_floor);
        set->findings = sl_util_sat_add(set->findings, floor);
        if (!p->has_footer) {
            if (!set->incomplete)
                set->incomplete = sl_util_xcalloc(logs->n_procs, sizeof(*set->incomplete));
            set->incomplete[set->n_incomplete++] = p;
        }
        set->lost = sl_util_sat_add(set->lost, p->lost);
        if (p->lost_errno)
            set->lost_errno = p->lost_errno;
    }
    if (logs->outdir_errno) {
        set->outdir_full = true;
        if (!set->lost_errno)
            set->lost_errno = logs->outdir_errno;
    }
    set->n_groups = HASH_COUNT(set->hash);
    set->groups = sl_util_xcalloc(set->n_groups, sizeof(*set->groups));
    HASH_ITER(hh, set->hash, g, tmp)
    {
        sl_group_finish(g);
        set->groups[i++] = g;
    }
    qsort(set->groups, set->n_groups, sizeof(*set->groups), sl_group_cmp);
    sl_group_count(set);
}

void sl_group_sym_stack(struct sl_sym_ctx *sym, const struct sl_logread_process *p,
                        const struct sl_logread_stack *st, struct sl_sym_stack *out)
{
    for (size_t i = 0; i < st->n; i++) {
        const struct sl_logread_frame *f = &st->frames[i];
        const struct sl_logread_module *m;
        char name[64];

        if (f->module == SL_LOGREAD_LANG_FRAME) {
            const struct sl_logread_lframe *lf = sl_logread_lframe(p, (int64_t)f->offset);
            if (lf) {
                sl_sym_lang_frame(out, lf->lang, lf->function, lf->file, lf->line, f->offset);
            } else {
                snprintf(name, sizeof(name), "[frame %" PRIu64 "]", f->offset);
                sl_sym_lang_frame(out, "unknown", name, NULL, 0, f->offset);
            }
            continue;
        }
        if (f->module == SL_LOGREAD_NO_MODULE) {
            sl_sym_frame(sym, NULL, NULL, f->offset, out);
            continue;
        }
        m = sl_logread_module(p, f->module);
        if (m) {
            sl_sym_frame(sym, m->path, m->build_id, f->offset, out);
        } else {
            /* A name without '/' is never opened: the frame stays raw. */
            snprintf(name, sizeof(name), "[module %" PRId64 "]", f->module);
            sl_sym_frame(sym, name, NULL, f->offset, out);
        }
    }
}

/* The frames of st in user code, at most max, into out; their number. */
static size_t sl_group_user_frames(const struct sl_group_set *set, const struct sl_group *g,
                                   const struct sl_sym_stack *st, const struct sl_sym_frame **out,
                                   size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < st->n && k < max; i++)
        if (sl_uc_sym_user(&st->frames[i], g->rep_proc->exe, set->source_root))
            out[k++] = &st->frames[i];
    return k;
}

/* The first frame of st in user code, or NULL. */
const struct sl_sym_frame *sl_group_first_user(const struct sl_group_set *set,
                                               const struct sl_group *g,
                                               const struct sl_sym_stack *st)
{
    const struct sl_sym_frame *f;
    return sl_group_user_frames(set, g, st, &f, 1) ? f : NULL;
}

/* The stacks a finding is about, in the order they name its call site. */
static size_t sl_group_primary(const struct sl_group *g, const struct sl_sym_stack *st[2],
                               const char *names[2])
{
    if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNACCEPTED) == 0) {
        st[0] = &g->listen_sym, names[0] = "listen_stack";
        return 1;
    }
    if (strcmp(g->kind, SL_KIND_DOUBLE_CLOSE) == 0) {
        st[0] = &g->close_sym, names[0] = "close_stack";
        st[1] = &g->first_close_sym, names[1] = "first_close_stack";
        return 2;
    }
    if (strcmp(g->kind, SL_KIND_TIME_WAIT_CHURN) == 0 ||
        strcmp(g->kind, SL_KIND_OPEN_AT_EXIT) == 0) {
        st[0] = &g->open_sym, names[0] = "open_stack";
        return 1;
    }
    if (g->fdexh) {
        st[0] = &g->fail_sym, names[0] = "fail_stack";
        return 1;
    }
    st[0] = &g->eof_sym, names[0] = "eof_stack";
    if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_UNREAD) == 0)
        st[0] = &g->last_read_sym, names[0] = "last_read_stack";
    else if (strcmp(g->kind, SL_KIND_CLOSE_WAIT_INHERITED) == 0)
        st[0] = &g->fork_sym, names[0] = "fork_stack";
    st[1] = &g->open_sym, names[1] = "open_stack";
    return 2;
}

bool sl_group_sym_same(const struct sl_sym_frame *a, const struct sl_sym_frame *b)
{
    if (strcmp(a->function, b->function) != 0 || a->line != b->line)
        return false;
    if (a->file || b->file)
        return a->file && b->file && strcmp(a->file, b->file) == 0;
    return strcmp(a->module, b->module) == 0 && a->address == b->address;
}

/* Event loop: the end-of-stream stack's user frames are only the loop that
 * the creation stack runs in too (main -> event_base_dispatch, uv_run...):
 * the code that made the socket, the creation stack's first user frame, is
 * where the fix goes. True when it applied. */
static bool sl_group_event_loop(const struct sl_group_set *set, struct sl_group *g)
{
    enum { MAXU = 64 };
    const struct sl_sym_frame *ue[MAXU], *uo[MAXU];
    size_t ne = sl_group_user_frames(set, g, &g->eof_sym, ue, MAXU);
    size_t no = sl_group_user_frames(set, g, &g->open_sym, uo, MAXU);

    if (ne == 0 || no <= ne || ne == MAXU || no == MAXU)
        return false;
    for (size_t i = 0; i < ne; i++)
        if (!sl_group_sym_same(ue[i], uo[no - ne + i]))
            return false;
    g->call_site = uo[0];
    g->call_site_stack = "open_stack";
    g->call_site_in = &g->open_sym;
    g->call_site_user = true;
    g->call_site_loop = ue[0];
    return true;
}

/* The call site: the first frame in user code of the stacks the finding is
 * about (the creation stack's when the end-of-stream read was the event
 * loop's), else of its listener's stack, else the first frame shown. */
void sl_group_call_site(const struct sl_group_set *set, struct sl_group *g)
{
    const struct sl_sym_stack *st[2];
    const char *names[2];
    size_t n = sl_group_primary(g, st, names);

    g->call_site_loop = NULL;
    g->call_site_via = NULL;
    if (n == 2 && st[0] == &g->eof_sym && sl_group_event_loop(set, g))
        return;
    for (size_t i = 0; i < n; i++)
        if ((g->call_site = sl_group_first_user(set, g, st[i]))) {
            g->call_site_stack = names[i];
            g->call_site_in = st[i];
            g->call_site_user = true;
            return;
        }
    if (n > 1 && (g->call_site = sl_group_first_user(set, g, &g->listen_sym))) {
        g->call_site_stack = "listen_stack";
        g->call_site_in = &g->listen_sym;
        g->call_site_user = true;
        g->call_site_listener = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (st[i]->n) {
            g->call_site = &st[i]->frames[0];
            g->call_site_stack = names[i];
            g->call_site_in = st[i];
            return;
        }
}

const struct sl_sym_frame *sl_group_next_user(const struct sl_group_set *set,
                                              const struct sl_group *g)
{
    const struct sl_sym_stack *st = g->call_site_in;
    for (size_t i = (size_t)(g->call_site - st->frames) + 1; i < st->n; i++)
        if (sl_uc_sym_user(&st->frames[i], g->rep_proc->exe, set->source_root))
            return &st->frames[i];
    return NULL;
}

bool sl_group_wrapper_candidate(const struct sl_group *g)
{
    return g->call_site && g->call_site_user && !g->call_site_listener && !g->call_site_loop;
}

void sl_group_via(struct sl_group *g, const struct sl_sym_frame *next)
{
    g->call_site_via = g->call_site;
    g->call_site = next;
}

static int sl_group_cmp_site(const void *a, const void *b)
{
    const struct sl_sym_frame *x = (*(struct sl_group *const *)a)->call_site;
    const struct sl_sym_frame *y = (*(struct sl_group *const *)b)->call_site;
    int c = strcmp(x->function, y->function);
    if (c)
        return c;
    c = strcmp(x->file ? x->file : "", y->file ? y->file : "");
    if (c)
        return c;
    return (x->line > y->line) - (x->line < y->line);
}

/* Wrappers: findings that share their call site (a read wrapper every
 * handler calls) and whose next user frames differ are told apart by that
 * caller, named with the wrapper: "handle_rx (conn.c:281) via buffer_recv
 * (buffer.c:88)". */
static void sl_group_wrappers(struct sl_group_set *set)
{
    struct sl_group **v = sl_util_xcalloc(set->n_groups ? set->n_groups : 1, sizeof(*v));
    size_t n = 0;

    for (size_t i = 0; i < set->n_groups; i++) {
        struct sl_group *g = set->groups[i];
        if (sl_group_wrapper_candidate(g))
            v[n++] = g;
    }
    qsort(v, n, sizeof(*v), sl_group_cmp_site);
    for (size_t a = 0, b; a < n; a = b) {
        const struct sl_sym_frame *first = NULL;
        bool differ = false;
        for (b = a; b < n && sl_group_sym_same(v[a]->call_site, v[b]->call_site); b++) {
            const struct sl_sym_frame *next = sl_group_next_user(set, v[b]);
            if (b == a)
                first = next;
            else if (!next || !first || !sl_group_sym_same(next, first))
                differ = true;
        }
        for (size_t i = a; differ && i < b; i++) {
            const struct sl_sym_frame *next = sl_group_next_user(set, v[i]);
            if (next)
                sl_group_via(v[i], next);
        }
    }
    free(v);
}

void sl_group_sym_sites(struct sl_sym_ctx *sym, struct sl_group *g)
{
    const struct sl_logread_finding *f = g->rep;
    g->n_top = f->n_top_sites ? f->n_top_sites : f->n_holders;
    g->top_sym = g->n_top ? sl_util_xcalloc(g->n_top, sizeof(*g->top_sym)) : NULL;
    for (size_t i = 0; i < g->n_top; i++)
        sl_group_sym_stack(sym, g->rep_proc,
                           f->n_top_sites ? &f->top_sites[i].open_stack
                                          : &f->holders[i].open_stack,
                           &g->top_sym[i]);
}

void sl_group_free_sites(struct sl_group *g)
{
    for (size_t i = 0; i < g->n_top; i++)
        sl_sym_stack_free(&g->top_sym[i]);
    free(g->top_sym);
    g->top_sym = NULL;
    g->n_top = 0;
}

void sl_group_symbolize(struct sl_group_set *set, struct sl_sym_ctx *sym)
{
    for (size_t i = 0; i < set->n_groups; i++) {
        struct sl_group *g = set->groups[i];
        sl_group_sym_stack(sym, g->rep_proc, &g->rep->eof_stack, &g->eof_sym);
        sl_group_sym_stack(sym, g->rep_proc, &g->rep->open_stack, &g->open_sym);
        sl_group_sym_stack(sym, g->rep_proc, &g->rep->last_read_stack, &g->last_read_sym);
        sl_group_sym_stack(sym, g->rep_proc, &g->rep->fork_stack, &g->fork_sym);
        sl_group_sym_stack(sym, g->rep_proc, &g->rep->listen_stack, &g->listen_sym);
        sl_group_sym_stack(sym, g->rep_proc, &g->rep->close_stack, &g->close_sym);
        sl_group_sym_stack(sym, g->rep_proc, &g->rep->first_close_stack, &g->first_close_sym);
        sl_group_sym_stack(sym, g->rep_proc, &g->rep->fail_stack, &g->fail_sym);
        sl_group_sym_sites(sym, g);
        sl_group_call_site(set, g);
    }
    sl_group_wrappers(set);
}

void sl_group_count(struct sl_group_set *set)
{
    set->leaks = 0;
    set->groups_left = 0;
    set->double_closes = 0;
    set->double_close_sites = 0;
    set->churns = 0;
    set->churn_sites = 0;
    set->open_at_exit = 0;
    set->open_at_exit_sites = 0;
    set->fdexhs = 0;
    set->fdexh_sites = 0;
    for (size_t i = 0; i < set->n_groups; i++)
        if (set->groups[i]->suppressed_by < 0) {
            int64_t n = set->groups[i]->count > INT64_MAX ? INT64_MAX
                                                          : (int64_t)set->groups[i]->count;
            if (strcmp(set->groups[i]->kind, SL_KIND_DOUBLE_CLOSE) == 0) {
                set->double_closes = sl_group_sat_add64(set->double_closes, n);
                set->double_close_sites++;
            } else if (strcmp(set->groups[i]->kind, SL_KIND_TIME_WAIT_CHURN) == 0) {
                set->churns = sl_group_sat_add64(set->churns, n);
                set->churn_sites++;
            } else if (strcmp(set->groups[i]->kind, SL_KIND_OPEN_AT_EXIT) == 0) {
                set->open_at_exit = sl_group_sat_add64(set->open_at_exit, n);
                set->open_at_exit_sites++;
            } else if (set->groups[i]->fdexh) {
                set->fdexhs = sl_group_sat_add64(set->fdexhs, n);
                set->fdexh_sites++;
            } else {
                set->leaks = sl_group_sat_add64(set->leaks, n);
                set->groups_left++;
            }
        }
}

void sl_group_free(struct sl_group_set *set)
{
    struct sl_group *g, *tmp;

    HASH_ITER(hh, set->hash, g, tmp)
    {
        HASH_DEL(set->hash, g);
        sl_sym_stack_free(&g->eof_sym);
        sl_sym_stack_free(&g->open_sym);
        sl_sym_stack_free(&g->last_read_sym);
        sl_sym_stack_free(&g->fork_sym);
        sl_sym_stack_free(&g->listen_sym);
        sl_sym_stack_free(&g->close_sym);
        sl_sym_stack_free(&g->first_close_sym);
        sl_sym_stack_free(&g->fail_sym);
        sl_group_free_sites(g);
        free(g->held);
        free(g->states);
        free(g->key);
        free(g);
    }
    free(set->groups);
    free(set->incomplete);
    memset(set, 0, sizeof(*set));
}

const char *sl_group_closed_words(const struct sl_group *g)
{
    if (g->closed_late == 0)
        return "never closed";
    return g->closed_late == g->count ? "closed only after the deadline"
                                      : "not closed within the deadline";
}

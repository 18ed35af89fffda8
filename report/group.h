/* Grouping findings by call site: same kind, same EOF stack, same creation
 * stack, where a frame is (module build-id or path, offset), so different
 * processes and load addresses merge. */
#ifndef SL_REPORT_GROUP_H
#define SL_REPORT_GROUP_H

#include "logread.h"
#include "symbolize.h"

#include <uthash.h>

#define SL_GROUP_MAX_EXAMPLES 3
#define SL_GROUP_MAX_PROGRAMS 8

struct sl_group_example {
    int64_t pid;
    int64_t fd;
    const char *local; /* borrowed from the log set */
    const char *peer;
    int64_t held_ms;
    int held_as_of; /* SL_LOGREAD_HELD_*: what held_ms counts up to */
    bool closed;
    const struct sl_logread_process *proc; /* its process (argv), borrowed */
    /* The kernel-swept kinds' fields, as the finding had them. */
    int64_t sockets, idle_ms, unread_bytes, from_pid, backlog, queued;
    bool at_exit;
    unsigned has; /* SL_LOGREAD_HAS_*: which of them the log gave */
    const char *tcp_state; /* borrowed; NULL: unknown (shown for open_at_exit) */
};

struct sl_group_state {
    const char *state; /* borrowed; NULL: unknown */
    size_t count;
};

struct sl_group {
    char *key;
    const char *kind; /* borrowed from the log set */
    size_t count;
    size_t processes;
    long last_proc; /* index of the last process counted */
    const char *programs[SL_GROUP_MAX_PROGRAMS];
    size_t n_programs; /* distinct programs stored; more may exist */
    size_t more_programs;
    struct sl_group_example examples[SL_GROUP_MAX_EXAMPLES];
    size_t n_examples;
    int64_t *held;
    size_t n_held, cap_held;
    int64_t held_median, held_max;
    size_t closed_late;
    struct sl_group_state *states;
    size_t n_states;
    const char *tcp_state; /* most common known state, NULL when none */
    /* The first finding of the group: its stacks stand for all. */
    const struct sl_logread_process *rep_proc;
    const struct sl_logread_finding *rep;
    struct sl_sym_stack eof_sym, open_sym;
    /* The kernel-swept kinds' stacks (empty when not logged) and fields. */
    struct sl_sym_stack last_read_sym, fork_sym, listen_sym;
    struct sl_sym_stack close_sym, first_close_sym; /* double_close */
    struct sl_sym_stack fail_sym;                    /* fd_exhaustion: the failing call */
    bool fdexh; /* fd_exhaustion: top_sym holds the representative's holders */
    /* time_wait_churn: the destination (borrowed), the connections summed,
     * the highest rate and peak, the port range and the EADDRNOTAVAIL flag
     * (part of the key), and an exhausted finding's top sites (the
     * representative's, symbolized). */
    const char *destination;
    int64_t connections, time_wait_peak;
    double rate_per_s;
    int64_t port_lo, port_hi;
    bool exhausted;
    struct sl_sym_stack *top_sym;
    size_t n_top;
    int64_t idle_ms_max, unread_bytes_max; /* over findings that had the key */
    size_t at_exit_count;                  /* sockets reported at process exit */
    unsigned has;                          /* SL_LOGREAD_HAS_* of any finding */
    /* The call site (sl_group_symbolize): the first frame in user code
     * (usercode.h) of the stacks the finding is about (the end-of-stream
     * read, else the creation; the last read, the fork or the listener for
     * the kernel-swept kinds), else of the listener an accepted socket came
     * from (call_site_listener), else the first frame shown (call_site_user
     * false). NULL when the stacks are empty. */
    const struct sl_sym_frame *call_site;
    const struct sl_sym_stack *call_site_in; /* the stack it is a frame of */
    const char *call_site_stack; /* its stack's JSON name: "eof_stack", ... */
    bool call_site_user;
    bool call_site_listener;
    /* Event loop: the end-of-stream stack's user frames were only the loop
     * both stacks share, so the call site is the creation stack's; this is
     * the loop's frame (in eof_sym), else NULL. */
    const struct sl_sym_frame *call_site_loop;
    /* Wrapper: the frame the call site was reached through (the first user
     * frame, shared with other findings whose callers differ), else NULL. */
    const struct sl_sym_frame *call_site_via;
    const char *supp_scope; /* its processes' own suppressions file, or NULL */
    long suppressed_by;     /* rule index, -1 when reported */
    UT_hash_handle hh;
};

struct sl_group_set {
    struct sl_group *hash;
    struct sl_group **groups; /* ordered: count desc, then kind */
    size_t n_groups;
    int64_t processes, sockets, eof_seen;
    int64_t findings;   /* sockets of every finding read */
    int64_t lost;       /* records the library could not write */
    int lost_errno;     /* why (an errno value), 0 when not known */
    bool outdir_full;   /* the output file system was full at the end */
    int64_t leaks;      /* leaked sockets not suppressed (every kind but double_close,
                         * time_wait_churn and open_at_exit) */
    size_t groups_left; /* their groups */
    int64_t double_closes;     /* double_close findings not suppressed */
    size_t double_close_sites; /* their groups */
    int64_t churns;            /* time_wait_churn findings not suppressed */
    size_t churn_sites;        /* their groups */
    int64_t open_at_exit;      /* open_at_exit sockets not suppressed (at_exit=all) */
    size_t open_at_exit_sites; /* their groups */
    int64_t fdexhs;            /* fd_exhaustion findings (episodes) not suppressed */
    size_t fdexh_sites;        /* their groups */
    /* Processes whose log has no footer (killed, a raw _exit, cut short, or
     * still running): their counts are a lower bound. Borrowed from logs. */
    const struct sl_logread_process **incomplete;
    size_t n_incomplete;
    const char *source_root; /* --source-root (borrowed), or NULL */
};

/* Groups every finding of logs (which must outlive set) and orders them. */
void sl_group_build(struct sl_group_set *set, const struct sl_logread_set *logs);

/* Same, keyed by the first max_frames logged frames of each stack only (0:
 * all). A group's stacks shown are those of its first finding, in full. */
void sl_group_build_n(struct sl_group_set *set, const struct sl_logread_set *logs,
                      size_t max_frames);

/* Same, with source_root (an absolute directory without a trailing '/', or
 * NULL) deciding which frames are user code (usercode.h): a finding with
 * language frames is keyed by its frames in user code only. */
void sl_group_build_src(struct sl_group_set *set, const struct sl_logread_set *logs,
                        size_t max_frames, const char *source_root);

/* The first frame of st (one of g's stacks) in user code, or NULL. */
const struct sl_sym_frame *sl_group_first_user(const struct sl_group_set *set,
                                               const struct sl_group *g,
                                               const struct sl_sym_stack *st);

/* Symbolizes the representative stacks of every group and picks each
 * group's call site. */
void sl_group_symbolize(struct sl_group_set *set, struct sl_sym_ctx *sym);
/* The key finding f of process p groups by (malloc'd): its kind, the stacks
 * that name its call site (at most max_frames of each, 0: all; the user's
 * frames when it has language frames) and its process's suppressions file;
 * root: --source-root or NULL. */
char *sl_group_key(const struct sl_logread_process *p, const struct sl_logread_finding *f,
                   size_t max_frames, const char *root);
/* One stack of process p symbolized into out (language frames included). */
void sl_group_sym_stack(struct sl_sym_ctx *sym, const struct sl_logread_process *p,
                        const struct sl_logread_stack *st, struct sl_sym_stack *out);
/* An exhausted time_wait_churn group's top sites symbolized (g->rep's),
 * and freed. */
void sl_group_sym_sites(struct sl_sym_ctx *sym, struct sl_group *g);
void sl_group_free_sites(struct sl_group *g);
/* g's call site from its symbolized stacks (g->rep_proc set); user code as
 * set->source_root decides. */
void sl_group_call_site(const struct sl_group_set *set, struct sl_group *g);

/* The wrapper rule (sl_group_symbolize): groups whose call sites are one
 * frame (a read wrapper) and whose next user frames differ are each named
 * by that next frame, via the wrapper. The pieces, for a caller that meets
 * the groups one at a time (report --follow): */
/* May the rule rename g's call site (a user frame, not the listener's nor
 * an event loop's)? */
bool sl_group_wrapper_candidate(const struct sl_group *g);
/* The user frame after g's call site in its stack, or NULL. */
const struct sl_sym_frame *sl_group_next_user(const struct sl_group_set *set,
                                              const struct sl_group *g);
/* g named by next, via its call site. */
void sl_group_via(struct sl_group *g, const struct sl_sym_frame *next);
/* Two symbolized frames name the same place in the code. */
bool sl_group_sym_same(const struct sl_sym_frame *a, const struct sl_sym_frame *b);

/* Recomputes leaks and groups_left from the groups' suppressed_by. */
void sl_group_count(struct sl_group_set *set);

/* How the group's sockets ended, for messages: "never closed", "closed only
 * after the deadline" (all closed late) or "not closed within the deadline". */
const char *sl_group_closed_words(const struct sl_group *g);

void sl_group_free(struct sl_group_set *set);

#endif

/* Reading raw logs (format/sockleak_log.h) into memory: whole
 * (sl_logread_path, the files of a directory on several threads) or as they
 * grow (sl_logread_feed_bytes). */
#ifndef SL_REPORT_LOGREAD_H
#define SL_REPORT_LOGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Module id of a frame the writer could not place in any module. */
#define SL_LOGREAD_NO_MODULE (-1)
/* Module id of a language frame ([-2, id] in the log): offset is the id of a
 * "frame" record of the process (sl_logread_lframe). */
#define SL_LOGREAD_LANG_FRAME (-2)

struct sl_logread_frame {
    int64_t module;  /* module id within the process, or SL_LOGREAD_NO_MODULE */
    uint64_t offset; /* pc - module base (the absolute pc when no module) */
};

struct sl_logread_stack {
    struct sl_logread_frame *frames;
    size_t n;
};

/* A "frame" record: a frame of the program's own language. */
struct sl_logread_lframe {
    int64_t id;
    char *lang; /* "python", "javascript", "java", another lowercase word,
                 * or "unknown" when the log gave none usable */
    char *function;
    char *file; /* "" when unknown */
    int line;   /* 0 when unknown */
};

struct sl_logread_module {
    int64_t id;
    char *path;
    char *build_id; /* lowercase hex, "" when none */
    uint64_t base;
};

/* What a finding's held_ms counts up to (see report/held.h). */
#define SL_LOGREAD_HELD_DEADLINE 0 /* when the finding was written (the log's own figure) */
#define SL_LOGREAD_HELD_CLOSED 1   /* the late close ("closed" record) */
#define SL_LOGREAD_HELD_EXIT 2     /* the process's exit (footer end_unix_ms) */
#define SL_LOGREAD_HELD_NOW 3      /* the report: the process still runs, the socket is open */

/* Which optional keys of the kernel-swept kinds a finding carried
 * (sl_logread_finding.has): "when present" differs from 0 in the report. */
#define SL_LOGREAD_HAS_IDLE_MS 0x1u
#define SL_LOGREAD_HAS_UNREAD_BYTES 0x2u
#define SL_LOGREAD_HAS_FROM_PID 0x4u
#define SL_LOGREAD_HAS_BACKLOG 0x8u
#define SL_LOGREAD_HAS_QUEUED 0x10u
#define SL_LOGREAD_HAS_SOCKETS 0x20u

/* A (connect call site, destination) a time_wait_churn finding with
 * "exhausted" names among those holding the most ports. */
struct sl_logread_site {
    struct sl_logread_stack open_stack;
    char *destination;
    int64_t connections, time_wait;
};
#define SL_LOGREAD_MAX_SITES 16 /* kept per finding */

/* A creation site an fd_exhaustion finding names among the holders of the
 * fds: its sockets, by TCP state (tcpi_state numbering), and the oldest's
 * age (-1 unknown). */
#define SL_LOGREAD_TCP_STATES 12
struct sl_logread_holder {
    struct sl_logread_stack open_stack;
    int64_t count, oldest_ms;
    int64_t states[SL_LOGREAD_TCP_STATES];
};

struct sl_logread_finding {
    int64_t id;
    char *kind;
    int64_t fd;
    char *family;
    char *local;
    char *peer;
    uint64_t inode;
    char *tcp_state; /* NULL when the kernel could not tell */
    int64_t eof_unix_ms;
    int64_t held_ms;
    bool closed; /* a "closed" record followed: closed late */
    struct sl_logread_stack eof_stack;
    struct sl_logread_stack open_stack;
    /* The kernel-swept kinds (sockleak_log.h); absent keys read as 0 or []. */
    int64_t sockets; /* connections the record stands for, >= 1 */
    int64_t idle_ms;
    int64_t unread_bytes;
    int64_t from_pid;
    int64_t backlog;
    int64_t queued;
    bool at_exit;
    unsigned has; /* SL_LOGREAD_HAS_* */
    int held_as_of; /* SL_LOGREAD_HELD_*: what held_ms counts up to */
    struct sl_logread_stack last_read_stack;
    struct sl_logread_stack fork_stack;
    struct sl_logread_stack listen_stack; /* the listener, or an accepted socket's */
    /* double_close: the close that failed with EBADF, and the earlier one. */
    struct sl_logread_stack close_stack;
    struct sl_logread_stack first_close_stack;
    /* time_wait_churn (NULL destination for the other kinds); "update"
     * records bring connections, rate_per_s and time_wait_peak up to date. */
    char *destination;
    int64_t connections, time_wait_peak;
    double rate_per_s;
    int64_t port_lo, port_hi; /* 0, 0: unknown */
    bool exhausted;
    struct sl_logread_site *top_sites;
    size_t n_top_sites;
    /* fd_exhaustion (fdexh set): the failing call, its name, the errno's
     * name, the limit, the fds open (-1 unknown), the holders (at most
     * SL_LOGREAD_MAX_SITES). */
    bool fdexh;
    struct sl_logread_stack fail_stack;
    char *call, *err_name;
    int64_t limit, open_fds;
    struct sl_logread_holder *holders;
    size_t n_holders;
};

/* The open-socket census ("open" records): a creation site's sockets per
 * kernel TCP state, indexed by state number (1 ESTABLISHED .. 11 CLOSING;
 * 0 a state the kernel could not tell, "UNKNOWN"). */
#define SL_LOGREAD_STATES 12
#define SL_LOGREAD_MAX_CENSUS 64 /* sites kept of a record */
struct sl_logread_census_site {
    struct sl_logread_stack open_stack;
    int64_t counts[SL_LOGREAD_STATES];
};

/* The log's (and the kernel's) name of state i ("ESTABLISHED"), or NULL. */
const char *sl_logread_state_name(int i);

struct sl_logread_process {
    char *source; /* file the header came from */
    int64_t pid;
    int64_t ppid;
    char *program;
    char *exe;
    char *run_id;
    /* SOCKLEAK_OPTIONS suppressions= file, or NULL: kept only from a log
     * owned by the reader or root, and only an absolute path. It applies to
     * this process's findings alone. */
    char *suppressions;
    int64_t start_unix_ms;
    int64_t end_unix_ms; /* footer's; 0 when none */
    char **argv;         /* the header's command line, bounded (SL_LOGREAD_MAX_ARGS) */
    size_t argc;
    int64_t deadline_ms;
    int64_t frames;
    struct sl_logread_module *modules;
    size_t n_modules, cap_modules;
    /* module id -> position in modules: a hash, so that neither a lone high
     * id nor many sparse ones cost more than the modules themselves. */
    struct sl_logread_modref *mod_hash;
    struct sl_logread_lframe *lframes; /* "frame" records, indexed likewise */
    size_t n_lframes, cap_lframes;
    struct sl_logread_modref *lframe_hash;
    struct sl_logread_finding *findings;
    size_t n_findings, cap_findings;
    bool ids_unordered; /* finding ids not strictly increasing in the log */
    bool has_footer;
    bool running;    /* no footer, and still running here (sl_held_as_of) */
    int end_signal;  /* the signal that killed it, when `sockleak run` saw it; 0 */
    int64_t lost;    /* records the writer could not write (footer) */
    int lost_errno;  /* why, as an errno value; 0 when not said */
    int64_t sockets; /* footer sums, saturated, never negative */
    int64_t eof_seen;
    /* The latest counts record's (no footer yet: a lower bound). */
    int64_t counted_sockets, counted_eof;
    /* The latest "open" record's census: replaces the one before. */
    bool has_census;
    struct sl_logread_census_site *census;
    size_t n_census;
    int64_t census_sockets; /* its TCP sockets in all */
    int64_t fd_limit;       /* RLIMIT_NOFILE soft limit, -1 unlimited */
    size_t bytes;     /* log bytes kept for this process (its budget) */
    bool over_budget; /* records past the budget were left out */
};

/* What one log may cost. The writer stays far below every one of them. */
#define SL_LOGREAD_MAX_PROC_BYTES (64u << 20) /* module, finding lines per process */
#define SL_LOGREAD_MAX_FRAMES 256             /* frames kept per stack */
#define SL_LOGREAD_MAX_STR 4096               /* bytes kept of any string */
#define SL_LOGREAD_MAX_LANG 32                /* bytes of a language name */
#define SL_LOGREAD_MAX_ARGS 64                /* arguments kept of a command line */
#define SL_LOGREAD_MAX_ARG 256                /* bytes kept of each argument */

struct sl_logread_set {
    struct sl_logread_process *procs;
    size_t n_procs, cap_procs;
    size_t n_files;
    size_t n_warnings;
    size_t n_skipped; /* processes left out by the run_id filter */
    char *run_id;     /* filter, or NULL */
    bool flat;        /* directories: their own files only, no subdirectories */
    /* Set by `run` when the output directory's file system is full at the
     * end (logs may then be cut short without a word): an errno value. */
    int outdir_errno;
    /* Limits (set by sl_logread_init to the defaults; tests lower them). */
    size_t max_line; /* longer lines are skipped, never held whole */
    size_t max_proc_bytes;
    bool no_fast;  /* every line through jansson (tests compare the two readings) */
    FILE *err;     /* warnings go here; NULL: stderr */
    int n_threads; /* files of a directory read at once; 0: one per CPU (at most 8) */
};

/* Starts an empty set; run_id NULL keeps every process, otherwise only those
 * whose header has exactly that run_id. */
void sl_logread_init(struct sl_logread_set *set, const char *run_id);

/* Adds a log file, or every *.jsonl file under a directory (recursively, in
 * name order at each level; links to directories are not followed).
 * Problems inside a file are warnings on stderr (file:line) and the rest is
 * kept. Returns 0, or -1 after printing an error when path cannot be read. */
int sl_logread_path(struct sl_logread_set *set, const char *path);

/* A log's name: *.jsonl (SL_LOG_SUFFIX). */
bool sl_logread_is_log(const char *name);

/* `sockleak run`'s load markers (.<run_id>.loaded/<pid>.<name>): no logs
 * in there, and possibly thousands of entries. Never walked. */
bool sl_logread_is_marker_dir(const char *name);

/* Adds one file; same contract as sl_logread_path. Only a regular file is
 * read: anything else (a FIFO, a device) is an error. */
int sl_logread_file(struct sl_logread_set *set, const char *path);

/* Reads the log in fp, named name in warnings. trusted: the log is owned by
 * the reader or root, so its headers' suppressions files are kept. Returns
 * 0, or -1 after printing an error when fp cannot be read. */
int sl_logread_stream(struct sl_logread_set *set, FILE *fp, const char *name, bool trusted);

/* Reading a log as it grows (`sockleak serve`, `sockleak report --follow`)
 * and reading it whole (sl_logread_stream): what the reader keeps between
 * bytes. Zeroed, then name and trusted set, before the first bytes; freed
 * with sl_logread_cursor_free. */
struct sl_logread_cursor {
    const char *name; /* in warnings */
    bool trusted;     /* owned by the reader or root: header suppressions kept */
    off_t offset;     /* bytes fed so far: where the next read starts */
    size_t line;      /* lines read, for warnings */
    size_t warnings;  /* warnings given for this file */
    long cur;         /* index of the process records attach to, -1 for none */
    bool skip;        /* the current process is filtered out */
    bool said_untrusted, started;
    char *pend; /* the bytes of a line not yet ended by '\n' */
    size_t plen, pcap;
    bool discarding; /* inside a line past max_line: dropped up to its '\n' */
};

/* Adds one whole line of a log (len bytes at buf, without its '\n') as
 * sl_logread_stream would; too_long: the line was longer than
 * set->max_line and is only counted. */
void sl_logread_feed(struct sl_logread_set *set, struct sl_logread_cursor *k, const char *buf,
                     size_t len, bool too_long);

/* Adds the next n bytes of a log: every line they end is read; the bytes
 * of a line not yet ended wait in k for the next call (the writer may be in
 * the middle of it). A line is never held past set->max_line: it is
 * counted as too long at once and the rest of it dropped. */
void sl_logread_feed_bytes(struct sl_logread_set *set, struct sl_logread_cursor *k, const char *buf,
                           size_t n);

/* The end of a log read whole: a last line without its '\n' is read if it
 * parses, else warned about as truncated. */
void sl_logread_feed_end(struct sl_logread_set *set, struct sl_logread_cursor *k);

void sl_logread_cursor_free(struct sl_logread_cursor *k);

/* Removes the processes whose keep[i] is false (keep has n_procs entries),
 * keeping the others in order. */
void sl_logread_keep(struct sl_logread_set *set, const bool *keep);

/* The module with this id in proc, or NULL. */
const struct sl_logread_module *sl_logread_module(const struct sl_logread_process *proc,
                                                  int64_t id);

/* The language frame with this id in proc, or NULL (a stack may name an id
 * whose record is missing: an unknown frame). */
const struct sl_logread_lframe *sl_logread_lframe(const struct sl_logread_process *proc,
                                                  int64_t id);

void sl_logread_free(struct sl_logread_set *set);

/* The name of TCP state st (tcpi_state), NULL for 0 or unknown. */
const char *sl_logread_tcp_state_name(size_t st);

#endif

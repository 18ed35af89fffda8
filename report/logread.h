/* Reading raw logs (include/sockleak_log.h) into memory. */
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

/* Which optional keys of the kernel-swept kinds a finding carried
 * (sl_logread_finding.has): "when present" differs from 0 in the report. */
#define SL_LOGREAD_HAS_IDLE_MS 0x1u
#define SL_LOGREAD_HAS_UNREAD_BYTES 0x2u
#define SL_LOGREAD_HAS_FROM_PID 0x4u
#define SL_LOGREAD_HAS_BACKLOG 0x8u
#define SL_LOGREAD_HAS_QUEUED 0x10u
#define SL_LOGREAD_HAS_SOCKETS 0x20u

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
    struct sl_logread_stack last_read_stack;
    struct sl_logread_stack fork_stack;
    struct sl_logread_stack listen_stack; /* the listener, or an accepted socket's */
};

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
    int64_t lost;    /* records the writer could not write (footer) */
    int lost_errno;  /* why, as an errno value; 0 when not said */
    int64_t sockets; /* footer sums, saturated, never negative */
    int64_t eof_seen;
    size_t bytes;     /* log bytes kept for this process (its budget) */
    bool over_budget; /* records past the budget were left out */
};

/* What one log may cost. The writer stays far below every one of them. */
#define SL_LOGREAD_MAX_PROC_BYTES (64u << 20) /* module, finding lines per process */
#define SL_LOGREAD_MAX_FRAMES 256             /* frames kept per stack */
#define SL_LOGREAD_MAX_STR 4096               /* bytes kept of any string */
#define SL_LOGREAD_MAX_LANG 32                /* bytes of a language name */

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
};

/* Starts an empty set; run_id NULL keeps every process, otherwise only those
 * whose header has exactly that run_id. */
void sl_logread_init(struct sl_logread_set *set, const char *run_id);

/* Adds a log file, or every *.jsonl file under a directory (recursively, in
 * name order at each level; links to directories are not followed).
 * Problems inside a file are warnings on stderr (file:line) and the rest is
 * kept. Returns 0, or -1 after printing an error when path cannot be read. */
int sl_logread_path(struct sl_logread_set *set, const char *path);

/* Adds one file; same contract as sl_logread_path. Only a regular file is
 * read: anything else (a FIFO, a device) is an error. */
int sl_logread_file(struct sl_logread_set *set, const char *path);

/* Reads the log in fp, named name in warnings. trusted: the log is owned by
 * the reader or root, so its headers' suppressions files are kept. Returns
 * 0, or -1 after printing an error when fp cannot be read. */
int sl_logread_stream(struct sl_logread_set *set, FILE *fp, const char *name, bool trusted);

/* Reading a log as it grows (`sockleak serve`): where the last read stopped
 * and the reader's state there, so that only appended lines are parsed. */
struct sl_logread_tail {
    off_t offset;    /* bytes consumed: whole lines only */
    size_t line;     /* lines read, for warnings */
    size_t warnings; /* warnings given for this file */
    long cur;        /* process records attach to (index in the set), -1: none */
    bool skip;       /* the current process is filtered out */
    bool said_untrusted;
    bool in_long_line; /* inside an unended line already too long: drop to its '\n' */
};

/* A tail at the start of a file. */
void sl_logread_tail_init(struct sl_logread_tail *t);

/* Reads the lines of fp from t->offset on into set, as sl_logread_stream
 * would, but only whole ones: a last line not yet ended by '\n' (the writer
 * may be in the middle of it) is left for the next call. The caller starts
 * a fresh set and tail when the file was truncated or replaced. Returns 0, or
 * -1 after printing an error. */
int sl_logread_tail_read(struct sl_logread_set *set, struct sl_logread_tail *t, FILE *fp,
                         const char *name, bool trusted);

/* The module with this id in proc, or NULL. */
const struct sl_logread_module *sl_logread_module(const struct sl_logread_process *proc,
                                                  int64_t id);

/* The language frame with this id in proc, or NULL (a stack may name an id
 * whose record is missing: an unknown frame). */
const struct sl_logread_lframe *sl_logread_lframe(const struct sl_logread_process *proc,
                                                  int64_t id);

void sl_logread_free(struct sl_logread_set *set);

#endif

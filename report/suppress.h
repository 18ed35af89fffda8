/* Suppression rules: one `kind:pattern` a line, the pattern a glob matched
 * against every frame's function, file and module of every stack a finding
 * has (end-of-stream read, creation, last read, fork, listener). */
#ifndef SL_REPORT_SUPPRESS_H
#define SL_REPORT_SUPPRESS_H

#include "group.h"

struct sl_supp_rule {
    char *text;  /* the line as written, or FILE:LINE for a log-named file */
    char *scope; /* NULL: every finding; else only groups of processes whose
                  * header named this file (sl_group.supp_scope) */
    char *kind;  /* a finding kind or "*" */
    char *pattern;
    size_t count; /* leaked sockets it suppressed */
};

struct sl_supp_set {
    struct sl_supp_rule *rules;
    size_t n, cap;
};

/* Longest rule line and largest file read: a suppressions file is a short
 * hand-written list. */
#define SL_SUPP_MAX_LINE 4096
#define SL_SUPP_MAX_BYTES (1u << 20)

/* Adds the rules of file to set. Only a regular file is read. Returns 0, or
 * -1 after printing an error (file:line for a bad line, or why the file
 * cannot be read). */
int sl_supp_load(struct sl_supp_set *set, const char *file);

/* Adds the rules of a file named in a log header, scoped to the processes
 * that named it. Nothing of the file's content is ever printed or kept for
 * the report: rules are shown as FILE:LINE, bad lines are skipped with a
 * warning naming FILE:LINE only. Returns 0, or -1 after a warning. */
int sl_supp_load_scoped(struct sl_supp_set *set, const char *file);

/* Adds one rule; false when line is not `kind:pattern`. */
bool sl_supp_add(struct sl_supp_set *set, const char *line);

/* True when rule suppresses the group (its stacks must be symbolized). */
bool sl_supp_match(const struct sl_supp_rule *rule, const struct sl_group *g);

/* Marks every group matched by a rule (the first that matches) and counts. */
void sl_supp_apply(struct sl_supp_set *set, struct sl_group_set *groups);

void sl_supp_free(struct sl_supp_set *set);

#endif

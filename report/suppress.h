/* Suppression rules: one `kind:pattern` a line, the pattern a glob matched
 * against every frame's function, file and module of every stack a finding
 * has (end-of-stream read, creation, last read, fork, listener). */
#ifndef SL_REPORT_SUPPRESS_H
#define SL_REPORT_SUPPRESS_H

#include "group.h"

struct sl_supp_rule {
    char *text; /* the line as written, for the report */
    char *kind; /* a finding kind or "*" */
    char *pattern;
    size_t count; /* leaked sockets it suppressed */
};

struct sl_supp_set {
    struct sl_supp_rule *rules;
    size_t n, cap;
};

/* Adds the rules of file to set. Returns 0, or -1 after printing an error
 * (file:line for a bad line, or why the file cannot be read). */
int sl_supp_load(struct sl_supp_set *set, const char *file);

/* Adds one rule; false when line is not `kind:pattern`. */
bool sl_supp_add(struct sl_supp_set *set, const char *line);

/* True when rule suppresses the group (its stacks must be symbolized). */
bool sl_supp_match(const struct sl_supp_rule *rule, const struct sl_group *g);

/* Marks every group matched by a rule (the first that matches) and counts. */
void sl_supp_apply(struct sl_supp_set *set, struct sl_group_set *groups);

void sl_supp_free(struct sl_supp_set *set);

#endif

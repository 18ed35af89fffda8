#include "suppress.h"
#include "util.h"

#include "sockleak_log.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool sl_supp_kind_ok(const char *kind)
{
    if (strcmp(kind, "*") == 0)
        return true;
    /* Kinds are identifiers; future kinds are accepted so that a newer
     * suppression file still loads. */
    for (const char *p = kind; *p; p++)
        if (!islower((unsigned char)*p) && *p != '_' && !isdigit((unsigned char)*p))
            return false;
    return *kind != '\0';
}

static void sl_supp_rule_free(struct sl_supp_rule *r)
{
    free(r->text);
    free(r->kind);
    free(r->pattern);
    free(r->scope);
}

bool sl_supp_add(struct sl_supp_set *set, const char *line)
{
    const char *colon = strchr(line, ':');
    struct sl_supp_rule *r;
    char *kind;

    if (!colon || colon[1] == '\0')
        return false;
    kind = strndup(line, (size_t)(colon - line));
    if (!kind)
        return false;
    if (!sl_supp_kind_ok(kind)) {
        free(kind);
        return false;
    }
    if (set->n == set->cap) {
        set->cap = set->cap ? 2 * set->cap : 8;
        set->rules = sl_util_xrealloc(set->rules, set->cap * sizeof(*set->rules));
    }
    r = &set->rules[set->n++];
    r->text = sl_util_xstrdup(line);
    r->kind = kind;
    r->pattern = sl_util_xstrdup(colon + 1);
    r->scope = NULL;
    r->count = 0;
    return true;
}

/* Opens file for sl_supp_read: a regular file of bounded size only, so that a
 * FIFO cannot hang the report and /dev/zero cannot fill memory. */
static FILE *sl_supp_open(const char *file, bool scoped)
{
    struct stat st;
    const char *why = "too large";
    int fd = sl_util_open_regular(file, 0, &st, &why);
    FILE *fp = NULL;

    if (fd >= 0 && st.st_size <= (off_t)SL_SUPP_MAX_BYTES && (fp = fdopen(fd, "r")))
        return fp;
    if (fd >= 0 && st.st_size <= (off_t)SL_SUPP_MAX_BYTES)
        why = strerror(errno);
    if (fd >= 0)
        close(fd);
    fprintf(stderr, "sockleak: %scannot read suppressions ", scoped ? "warning: " : "");
    sl_util_fputs_safe(file, stderr);
    fprintf(stderr, ": %s%s\n", why, scoped ? "; not used" : "");
    return NULL;
}

/* One line of a file: s trimmed in place; true when it is blank or a comment
 * or was added as a rule. */
static bool sl_supp_line(struct sl_supp_set *set, char *s, const char *file, size_t lineno,
                         bool scoped)
{
    char *e, where[64];

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    if (*s == '\0' || *s == '#')
        return true;
    if (!sl_supp_add(set, s))
        return false;
    if (scoped) {
        struct sl_supp_rule *r = &set->rules[set->n - 1];
        snprintf(where, sizeof(where), ":%zu", lineno);
        free(r->text);
        r->text = sl_util_xjoin(file, "", where);
        r->scope = sl_util_xstrdup(file);
    }
    return true;
}

static int sl_supp_read(struct sl_supp_set *set, const char *file, bool scoped)
{
    FILE *fp = sl_supp_open(file, scoped);
    char *buf = NULL;
    size_t cap = 0, lineno = 0;
    bool too_long, complete;
    int rc = 0;

    if (!fp)
        return -1;
    while (rc == 0 &&
           sl_util_readline(fp, &buf, &cap, SL_SUPP_MAX_LINE, &too_long, &complete) >= 0) {
        lineno++;
        if (!too_long && sl_supp_line(set, buf, file, lineno, scoped))
            continue;
        fprintf(stderr, "sockleak: %s", scoped ? "warning: " : "");
        sl_util_fputs_safe(file, stderr);
        if (scoped) /* the line itself is never shown: the file may be anything */
            fprintf(stderr, ":%zu: not a suppression rule; the file is not used\n", lineno);
        else if (too_long)
            fprintf(stderr, ":%zu: line longer than %d bytes\n", lineno, SL_SUPP_MAX_LINE);
        else {
            fprintf(stderr, ":%zu: bad suppression \"", lineno);
            sl_util_fputs_safe(buf, stderr);
            fprintf(stderr,
                    "\": expected KIND:PATTERN with KIND %s, %s, %s, %s, %s, %s, %s, %s, %s or *\n",
                    SL_KIND_CLOSE_WAIT, SL_KIND_UNCLOSED_AFTER_SHUTDOWN, SL_KIND_CLOSE_WAIT_UNREAD,
                    SL_KIND_CLOSE_WAIT_INHERITED, SL_KIND_CLOSE_WAIT_UNACCEPTED,
                    SL_KIND_DOUBLE_CLOSE, SL_KIND_TIME_WAIT_CHURN, SL_KIND_OPEN_AT_EXIT,
                    SL_KIND_FD_EXHAUSTION);
        }
        rc = -1;
    }
    free(buf);
    fclose(fp);
    return rc;
}

int sl_supp_load(struct sl_supp_set *set, const char *file)
{
    return sl_supp_read(set, file, false);
}

int sl_supp_load_scoped(struct sl_supp_set *set, const char *file)
{
    size_t before = set->n;
    int rc = sl_supp_read(set, file, true);

    /* A file with a bad line is not a suppressions file: none of it applies. */
    while (rc < 0 && set->n > before)
        sl_supp_rule_free(&set->rules[--set->n]);
    return rc;
}

static bool sl_supp_glob(const char *pattern, const char *s)
{
    if (!s || !*s)
        return false;
    if (fnmatch(pattern, s, 0) == 0)
        return true;
    /* A pattern without '/' also matches a path's last component, so
     * `server.c` or `libfoo.so*` work without a leading `*`. */
    return !strchr(pattern, '/') && strchr(s, '/') && fnmatch(pattern, sl_util_basename(s), 0) == 0;
}

static bool sl_supp_match_stack(const struct sl_supp_rule *rule, const struct sl_sym_stack *st)
{
    for (size_t i = 0; i < st->n; i++) {
        const struct sl_sym_frame *f = &st->frames[i];
        if (sl_supp_glob(rule->pattern, f->function) || sl_supp_glob(rule->pattern, f->file) ||
            sl_supp_glob(rule->pattern, f->module))
            return true;
    }
    return false;
}

/* An exhausted time_wait_churn finding's top sites are its stacks too. */
static bool sl_supp_match_sites(const struct sl_supp_rule *rule, const struct sl_group *g)
{
    for (size_t i = 0; i < g->n_top; i++)
        if (sl_supp_match_stack(rule, &g->top_sym[i]))
            return true;
    return false;
}

bool sl_supp_match(const struct sl_supp_rule *rule, const struct sl_group *g)
{
    if (rule->scope && (!g->supp_scope || strcmp(rule->scope, g->supp_scope) != 0))
        return false;
    if (strcmp(rule->kind, "*") != 0 && strcmp(rule->kind, g->kind) != 0)
        return false;
    return sl_supp_match_stack(rule, &g->eof_sym) || sl_supp_match_stack(rule, &g->open_sym) ||
           sl_supp_match_stack(rule, &g->last_read_sym) ||
           sl_supp_match_stack(rule, &g->fork_sym) || sl_supp_match_stack(rule, &g->listen_sym) ||
           sl_supp_match_stack(rule, &g->close_sym) ||
           sl_supp_match_stack(rule, &g->first_close_sym) ||
           sl_supp_match_stack(rule, &g->fail_sym) || sl_supp_match_sites(rule, g);
}

void sl_supp_apply(struct sl_supp_set *set, struct sl_group_set *groups)
{
    for (size_t i = 0; i < groups->n_groups; i++) {
        struct sl_group *g = groups->groups[i];
        g->suppressed_by = -1;
        for (size_t r = 0; r < set->n; r++)
            if (sl_supp_match(&set->rules[r], g)) {
                g->suppressed_by = (long)r;
                set->rules[r].count += g->count;
                break;
            }
    }
    sl_group_count(groups);
}

void sl_supp_free(struct sl_supp_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        sl_supp_rule_free(&set->rules[i]);
    free(set->rules);
    memset(set, 0, sizeof(*set));
}

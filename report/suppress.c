#include "suppress.h"
#include "util.h"

#include "sockleak_log.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    r->count = 0;
    return true;
}

int sl_supp_load(struct sl_supp_set *set, const char *file)
{
    FILE *fp = fopen(file, "re");
    char *buf = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;

    if (!fp) {
        fprintf(stderr, "sockleak: cannot read suppressions %s: %s\n", file, strerror(errno));
        return -1;
    }
    while ((len = getline(&buf, &cap, fp)) >= 0) {
        char *s = buf, *e;

        lineno++;
        while (isspace((unsigned char)*s))
            s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*s == '\0' || *s == '#')
            continue;
        if (!sl_supp_add(set, s)) {
            fprintf(stderr,
                    "sockleak: %s:%zu: bad suppression \"%s\": expected KIND:PATTERN with KIND "
                    "%s, %s, %s, %s, %s or *\n",
                    file, lineno, s, SL_KIND_CLOSE_WAIT, SL_KIND_UNCLOSED_AFTER_SHUTDOWN,
                    SL_KIND_CLOSE_WAIT_UNREAD, SL_KIND_CLOSE_WAIT_INHERITED,
                    SL_KIND_CLOSE_WAIT_UNACCEPTED);
            rc = -1;
            break;
        }
    }
    free(buf);
    fclose(fp);
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

bool sl_supp_match(const struct sl_supp_rule *rule, const struct sl_group *g)
{
    if (strcmp(rule->kind, "*") != 0 && strcmp(rule->kind, g->kind) != 0)
        return false;
    return sl_supp_match_stack(rule, &g->eof_sym) || sl_supp_match_stack(rule, &g->open_sym) ||
           sl_supp_match_stack(rule, &g->last_read_sym) ||
           sl_supp_match_stack(rule, &g->fork_sym) || sl_supp_match_stack(rule, &g->listen_sym);
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
    for (size_t i = 0; i < set->n; i++) {
        free(set->rules[i].text);
        free(set->rules[i].kind);
        free(set->rules[i].pattern);
    }
    free(set->rules);
    memset(set, 0, sizeof(*set));
}

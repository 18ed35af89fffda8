/* Whether two readings of logs are the same, field by field: the unit tests
 * and the fuzz target compare the finding scanner's reading with jansson's
 * (set.no_fast). Returns NULL, or the first field that differs. */
#ifndef SL_TESTS_LOGREAD_EQ_H
#define SL_TESTS_LOGREAD_EQ_H

#include "logread.h"

#include <string.h>

static inline int sl_eq_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static inline int sl_eq_stack(const struct sl_logread_stack *a, const struct sl_logread_stack *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->frames[i].module != b->frames[i].module ||
            a->frames[i].offset != b->frames[i].offset)
            return 0;
    return 1;
}

static inline const char *sl_eq_finding(const struct sl_logread_finding *a,
                                        const struct sl_logread_finding *b)
{
#define SL_EQ_NUM(x)                                                                               \
    if (a->x != b->x)                                                                              \
        return #x;
#define SL_EQ_STR(x)                                                                               \
    if (!sl_eq_str(a->x, b->x))                                                                    \
        return #x;
#define SL_EQ_STACK(x)                                                                             \
    if (!sl_eq_stack(&a->x, &b->x))                                                                \
        return #x;
    SL_EQ_NUM(id)
    SL_EQ_STR(kind) SL_EQ_NUM(fd) SL_EQ_STR(family) SL_EQ_STR(local) SL_EQ_STR(peer)
        SL_EQ_NUM(inode) SL_EQ_STR(tcp_state) SL_EQ_NUM(eof_unix_ms) SL_EQ_NUM(held_ms)
            SL_EQ_NUM(closed) SL_EQ_STACK(eof_stack) SL_EQ_STACK(open_stack) SL_EQ_NUM(sockets)
                SL_EQ_NUM(idle_ms) SL_EQ_NUM(unread_bytes) SL_EQ_NUM(from_pid) SL_EQ_NUM(backlog)
                    SL_EQ_NUM(queued) SL_EQ_NUM(at_exit) SL_EQ_NUM(has) SL_EQ_NUM(held_as_of)
                        SL_EQ_STACK(last_read_stack) SL_EQ_STACK(fork_stack)
                            SL_EQ_STACK(listen_stack) return NULL;
}

static inline const char *sl_eq_proc(const struct sl_logread_process *a,
                                     const struct sl_logread_process *b)
{
    const char *why;

    SL_EQ_STR(source)
    SL_EQ_NUM(pid) SL_EQ_NUM(ppid) SL_EQ_STR(program) SL_EQ_STR(exe) SL_EQ_STR(run_id)
        SL_EQ_STR(suppressions) SL_EQ_NUM(start_unix_ms) SL_EQ_NUM(end_unix_ms) SL_EQ_NUM(argc)
            SL_EQ_NUM(deadline_ms) SL_EQ_NUM(frames) SL_EQ_NUM(n_modules) SL_EQ_NUM(n_lframes)
                SL_EQ_NUM(n_findings) SL_EQ_NUM(ids_unordered) SL_EQ_NUM(has_footer) SL_EQ_NUM(lost)
                    SL_EQ_NUM(lost_errno) SL_EQ_NUM(sockets) SL_EQ_NUM(eof_seen) SL_EQ_NUM(bytes)
                        SL_EQ_NUM(over_budget) for (size_t i = 0; i < a->argc;
                                                    i++) if (!sl_eq_str(a->argv[i],
                                                                        b->argv[i])) return "argv";
    for (size_t i = 0; i < a->n_modules; i++)
        if (a->modules[i].id != b->modules[i].id || a->modules[i].base != b->modules[i].base ||
            !sl_eq_str(a->modules[i].path, b->modules[i].path) ||
            !sl_eq_str(a->modules[i].build_id, b->modules[i].build_id))
            return "module";
    for (size_t i = 0; i < a->n_lframes; i++)
        if (a->lframes[i].id != b->lframes[i].id || a->lframes[i].line != b->lframes[i].line ||
            !sl_eq_str(a->lframes[i].lang, b->lframes[i].lang) ||
            !sl_eq_str(a->lframes[i].function, b->lframes[i].function) ||
            !sl_eq_str(a->lframes[i].file, b->lframes[i].file))
            return "frame";
    for (size_t i = 0; i < a->n_findings; i++)
        if ((why = sl_eq_finding(&a->findings[i], &b->findings[i])))
            return why;
    return NULL;
}

static inline const char *sl_eq_set(const struct sl_logread_set *a, const struct sl_logread_set *b)
{
    const char *why;

    SL_EQ_NUM(n_procs)
    SL_EQ_NUM(n_files) SL_EQ_NUM(n_warnings) SL_EQ_NUM(
        n_skipped) for (size_t i = 0; i < a->n_procs;
                        i++) if ((why = sl_eq_proc(&a->procs[i], &b->procs[i]))) return why;
    return NULL;
#undef SL_EQ_NUM
#undef SL_EQ_STR
#undef SL_EQ_STACK
}

#endif

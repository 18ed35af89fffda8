/* The finding line read without building a JSON tree: finding records are
 * nearly every line of a large log, and jansson's tree cost the report half
 * its time. The scanner is strict: it takes only what the writer writes
 * (format/sockleak_log.h: known keys, each once, no white space, strings of
 * printable ASCII without escapes, integers that fit, well-formed stacks of
 * at most SL_LOGREAD_MAX_FRAMES) and gives up on anything else, which
 * jansson then reads: whatever it takes gives the finding jansson's reading
 * gives, and lines it gives up on are read exactly as before. */
#include "logread_fast.h"
#include "util.h"

#include "sockleak_log.h"

#include <stdlib.h>
#include <string.h>

#include <stddef.h>

enum sl_fast_type {
    SL_FAST_T,
    SL_FAST_STR,
    SL_FAST_STR_NULL,
    SL_FAST_INT,
    SL_FAST_UINT,
    SL_FAST_BOOL,
    SL_FAST_STACK
};

/* What the scanner holds for one line: where it is and the keys seen. */
struct sl_fast {
    const char *p, *end;
    unsigned seen;
    size_t next; /* the key after the last one: where the writer's order goes on */
    struct sl_logread_finding *f;
};

/* A key of the finding record and where its value goes. */
struct sl_fast_key {
    const char *key;
    size_t len;
    enum sl_fast_type type;
    size_t off;   /* in struct sl_logread_finding */
    unsigned has; /* SL_LOGREAD_HAS_* for the optional integers */
};

#define SL_FAST_AT(field) offsetof(struct sl_logread_finding, field)
static const struct sl_fast_key sl_fast_keys[] = {
    {SL_KEY(T), sizeof(SL_KEY(T)) - 1, SL_FAST_T, 0, 0},
    {SL_KEY(ID), sizeof(SL_KEY(ID)) - 1, SL_FAST_INT, SL_FAST_AT(id), 0},
    {SL_KEY(KIND), sizeof(SL_KEY(KIND)) - 1, SL_FAST_STR, SL_FAST_AT(kind), 0},
    {SL_KEY(FD), sizeof(SL_KEY(FD)) - 1, SL_FAST_INT, SL_FAST_AT(fd), 0},
    {SL_KEY(FAMILY), sizeof(SL_KEY(FAMILY)) - 1, SL_FAST_STR, SL_FAST_AT(family), 0},
    {SL_KEY(LOCAL), sizeof(SL_KEY(LOCAL)) - 1, SL_FAST_STR, SL_FAST_AT(local), 0},
    {SL_KEY(PEER), sizeof(SL_KEY(PEER)) - 1, SL_FAST_STR, SL_FAST_AT(peer), 0},
    {SL_KEY(INODE), sizeof(SL_KEY(INODE)) - 1, SL_FAST_UINT, SL_FAST_AT(inode), 0},
    {SL_KEY(TCP_STATE), sizeof(SL_KEY(TCP_STATE)) - 1, SL_FAST_STR_NULL, SL_FAST_AT(tcp_state), 0},
    {SL_KEY(EOF_UNIX_MS), sizeof(SL_KEY(EOF_UNIX_MS)) - 1, SL_FAST_INT, SL_FAST_AT(eof_unix_ms), 0},
    {SL_KEY(HELD_MS), sizeof(SL_KEY(HELD_MS)) - 1, SL_FAST_INT, SL_FAST_AT(held_ms), 0},
    {SL_KEY(EOF_STACK), sizeof(SL_KEY(EOF_STACK)) - 1, SL_FAST_STACK, SL_FAST_AT(eof_stack), 0},
    {SL_KEY(OPEN_STACK), sizeof(SL_KEY(OPEN_STACK)) - 1, SL_FAST_STACK, SL_FAST_AT(open_stack), 0},
    {SL_KEY(LAST_READ_STACK), sizeof(SL_KEY(LAST_READ_STACK)) - 1, SL_FAST_STACK,
     SL_FAST_AT(last_read_stack), 0},
    {SL_KEY(FORK_STACK), sizeof(SL_KEY(FORK_STACK)) - 1, SL_FAST_STACK, SL_FAST_AT(fork_stack), 0},
    {SL_KEY(LISTEN_STACK), sizeof(SL_KEY(LISTEN_STACK)) - 1, SL_FAST_STACK,
     SL_FAST_AT(listen_stack), 0},
    {SL_KEY(CLOSE_STACK), sizeof(SL_KEY(CLOSE_STACK)) - 1, SL_FAST_STACK, SL_FAST_AT(close_stack),
     0},
    {SL_KEY(FIRST_CLOSE_STACK), sizeof(SL_KEY(FIRST_CLOSE_STACK)) - 1, SL_FAST_STACK,
     SL_FAST_AT(first_close_stack), 0},
    {SL_KEY(IDLE_MS), sizeof(SL_KEY(IDLE_MS)) - 1, SL_FAST_INT, SL_FAST_AT(idle_ms),
     SL_LOGREAD_HAS_IDLE_MS},
    {SL_KEY(UNREAD_BYTES), sizeof(SL_KEY(UNREAD_BYTES)) - 1, SL_FAST_INT, SL_FAST_AT(unread_bytes),
     SL_LOGREAD_HAS_UNREAD_BYTES},
    {SL_KEY(FROM_PID), sizeof(SL_KEY(FROM_PID)) - 1, SL_FAST_INT, SL_FAST_AT(from_pid),
     SL_LOGREAD_HAS_FROM_PID},
    {SL_KEY(SOCKETS), sizeof(SL_KEY(SOCKETS)) - 1, SL_FAST_INT, SL_FAST_AT(sockets),
     SL_LOGREAD_HAS_SOCKETS},
    {SL_KEY(BACKLOG), sizeof(SL_KEY(BACKLOG)) - 1, SL_FAST_INT, SL_FAST_AT(backlog),
     SL_LOGREAD_HAS_BACKLOG},
    {SL_KEY(QUEUED), sizeof(SL_KEY(QUEUED)) - 1, SL_FAST_INT, SL_FAST_AT(queued),
     SL_LOGREAD_HAS_QUEUED},
    {SL_KEY(AT_EXIT), sizeof(SL_KEY(AT_EXIT)) - 1, SL_FAST_BOOL, SL_FAST_AT(at_exit), 0},
};
#define SL_FAST_N_KEYS (sizeof(sl_fast_keys) / sizeof(sl_fast_keys[0]))

static bool sl_fast_lit(struct sl_fast *s, const char *lit, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return false;
    s->p += n;
    return true;
}

/* A string of printable ASCII without escapes; *out, *n: its bytes. */
static bool sl_fast_str(struct sl_fast *s, const char **out, size_t *n)
{
    const char *q;

    if (s->p >= s->end || *s->p != '"')
        return false;
    for (q = ++s->p; q < s->end && *q != '"'; q++)
        if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e || *q == '\\')
            return false;
    if (q >= s->end || (size_t)(q - s->p) > SL_LOGREAD_MAX_STR)
        return false;
    *out = s->p;
    *n = (size_t)(q - s->p);
    s->p = q + 1;
    return true;
}

/* An integer as JSON writes it, of at most 18 digits (it fits, jansson
 * takes it as an integer). */
static bool sl_fast_int(struct sl_fast *s, int64_t *v)
{
    bool neg = s->p < s->end && *s->p == '-';
    const char *q = s->p + neg, *start = q;
    int64_t x = 0;

    while (q < s->end && *q >= '0' && *q <= '9') {
        if (q - start == 18)
            return false; /* a 19th digit: jansson may find it too big */
        x = x * 10 + (*q++ - '0');
    }
    if (q == start || (*start == '0' && q - start > 1))
        return false;
    if (q < s->end && (*q == '.' || *q == 'e' || *q == 'E'))
        return false;
    *v = neg ? -x : x;
    s->p = q;
    return true;
}

/* [[module, offset], ...] with every frame well formed. */
static bool sl_fast_stack(struct sl_fast *s, struct sl_logread_stack *st)
{
    struct sl_logread_frame fr[SL_LOGREAD_MAX_FRAMES];
    size_t n = 0;
    int64_t mod, off;

    if (!sl_fast_lit(s, "[", 1))
        return false;
    if (!sl_fast_lit(s, "]", 1)) {
        do {
            if (n == SL_LOGREAD_MAX_FRAMES || !sl_fast_lit(s, "[", 1) || !sl_fast_int(s, &mod) ||
                !sl_fast_lit(s, ",", 1) || !sl_fast_int(s, &off) || !sl_fast_lit(s, "]", 1))
                return false;
            fr[n].module = mod;
            fr[n++].offset = (uint64_t)off;
        } while (sl_fast_lit(s, ",", 1));
        if (!sl_fast_lit(s, "]", 1))
            return false;
    }
    free(st->frames);
    st->frames = sl_util_xcalloc(n, sizeof(*st->frames));
    memcpy(st->frames, fr, n * sizeof(*fr));
    st->n = n;
    return true;
}

static char *sl_fast_dup(const char *s, size_t n)
{
    char *d = sl_util_xmalloc(n + 1);

    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* The value of key k, into its field of the finding. */
static bool sl_fast_value(struct sl_fast *s, const struct sl_fast_key *k)
{
    char *field = (char *)s->f + k->off;
    const char *str;
    size_t n;
    int64_t v;

    switch (k->type) {
    case SL_FAST_T:
        return sl_fast_str(s, &str, &n) && n == strlen(SL_REC_FINDING) &&
               memcmp(str, SL_REC_FINDING, n) == 0;
    case SL_FAST_STR_NULL:
        if (sl_fast_lit(s, "null", 4))
            return true;
        /* fall through */
    case SL_FAST_STR:
        if (!sl_fast_str(s, &str, &n))
            return false;
        *(char **)field = sl_fast_dup(str, n);
        return true;
    case SL_FAST_INT:
    case SL_FAST_UINT:
        if (!sl_fast_int(s, &v))
            return false;
        if (k->type == SL_FAST_UINT)
            *(uint64_t *)field = (uint64_t)v;
        else
            *(int64_t *)field = v;
        s->f->has |= k->has;
        return true;
    case SL_FAST_BOOL:
        if (sl_fast_lit(s, "true", 4))
            return (*(bool *)field = true);
        return sl_fast_lit(s, "false", 5);
    case SL_FAST_STACK:
        return sl_fast_stack(s, (struct sl_logread_stack *)field);
    }
    return false;
}

/* "key": one of the finding's, not seen before on this line. */
static const struct sl_fast_key *sl_fast_key(struct sl_fast *s)
{
    const char *key;
    size_t n;

    if (!sl_fast_str(s, &key, &n) || !sl_fast_lit(s, ":", 1))
        return NULL;
    for (size_t j = 0; j < SL_FAST_N_KEYS; j++) {
        size_t i = (s->next + j) % SL_FAST_N_KEYS;

        if (sl_fast_keys[i].len != n || memcmp(sl_fast_keys[i].key, key, n) != 0)
            continue;
        if (s->seen & (1u << i))
            return NULL;
        s->seen |= 1u << i;
        s->next = i + 1;
        return &sl_fast_keys[i];
    }
    return NULL;
}

/* What the reader makes of keys a finding lacks (report/logread.c). */
static void sl_fast_defaults(struct sl_logread_finding *f)
{
    if (f->held_ms < 0)
        f->held_ms = 0;
    if (f->sockets < 1)
        f->sockets = 1;
    if (!f->family)
        f->family = sl_util_xstrdup("");
    if (!f->local)
        f->local = sl_util_xstrdup("");
    if (!f->peer)
        f->peer = sl_util_xstrdup("");
}

bool sl_logread_fast_scan(const char *buf, size_t len, struct sl_logread_finding *f)
{
    static const char prefix[] = "{" SL_JKEY(T) "\"" SL_REC_FINDING "\",";
    struct sl_fast s = {.p = buf + 1, .end = buf + len, .f = f};
    const struct sl_fast_key *k;

    if (len < sizeof(prefix) - 1 || memcmp(buf, prefix, sizeof(prefix) - 1) != 0)
        return false;
    memset(f, 0, sizeof(*f));
    f->id = -1;
    f->fd = -1;
    do {
        if (!(k = sl_fast_key(&s)) || !sl_fast_value(&s, k)) {
            sl_logread_fast_free(f);
            return false;
        }
    } while (sl_fast_lit(&s, ",", 1));
    if (!sl_fast_lit(&s, "}", 1) || s.p != s.end || !f->kind || !*f->kind) {
        sl_logread_fast_free(f);
        return false;
    }
    sl_fast_defaults(f);
    return true;
}

void sl_logread_fast_free(struct sl_logread_finding *f)
{
    free(f->kind);
    free(f->family);
    free(f->local);
    free(f->peer);
    free(f->tcp_state);
    free(f->eof_stack.frames);
    free(f->open_stack.frames);
    free(f->last_read_stack.frames);
    free(f->fork_stack.frames);
    free(f->listen_stack.frames);
    free(f->close_stack.frames);
    free(f->first_close_stack.frames);
    memset(f, 0, sizeof(*f));
}

#include "tcpstate.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

struct sl_tcpstate_sock {
    uint64_t inode;
    int state;
    UT_hash_handle hh;
};

struct sl_tcpstate_ns {
    char key[64]; /* "net:[4026531992]" */
    struct sl_tcpstate_sock *socks;
    UT_hash_handle hh;
};

struct sl_tcpstate_cache {
    struct sl_tcpstate_ns *ns;
};

static const char *const sl_tcpstate_names[SL_TCPSTATE_N] = {
    NULL,        "established", "syn_sent",   "syn_recv", "fin_wait1", "fin_wait2",
    "time_wait", "close",       "close_wait", "last_ack", "listen",    "closing",
};

const char *sl_tcpstate_name(int st)
{
    return st > 0 && st < SL_TCPSTATE_N ? sl_tcpstate_names[st] : NULL;
}

struct sl_tcpstate_cache *sl_tcpstate_new(void)
{
    return sl_util_xcalloc(1, sizeof(struct sl_tcpstate_cache));
}

void sl_tcpstate_free(struct sl_tcpstate_cache *c)
{
    struct sl_tcpstate_ns *n, *ntmp;
    struct sl_tcpstate_sock *s, *stmp;

    if (!c)
        return;
    HASH_ITER(hh, c->ns, n, ntmp)
    {
        HASH_ITER(hh, n->socks, s, stmp)
        {
            HASH_DEL(n->socks, s);
            free(s);
        }
        HASH_DEL(c->ns, n);
        free(n);
    }
    free(c);
}

/* Adds the sockets of one table (/proc/PID/net/tcp or tcp6): per line
 * "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...". */
static void sl_tcpstate_table(struct sl_tcpstate_ns *n, const char *path)
{
    FILE *fp = fopen(path, "re");
    char line[512];

    if (!fp)
        return;
    while (fgets(line, sizeof(line), fp)) {
        unsigned st;
        uint64_t inode;
        struct sl_tcpstate_sock *s;

        if (sscanf(line, " %*s %*s %*s %x %*s %*s %*s %*s %*s %" SCNu64, &st, &inode) != 2 ||
            inode == 0 || !sl_tcpstate_name((int)st))
            continue;
        HASH_FIND(hh, n->socks, &inode, sizeof(inode), s);
        if (s)
            continue;
        s = sl_util_xmalloc(sizeof(*s));
        s->inode = inode;
        s->state = (int)st;
        HASH_ADD(hh, n->socks, inode, sizeof(s->inode), s);
    }
    fclose(fp);
}

/* The TCP tables of pid's network namespace, read once per namespace. */
static struct sl_tcpstate_ns *sl_tcpstate_ns_of(struct sl_tcpstate_cache *c, int64_t pid)
{
    char path[64], key[64];
    ssize_t len;
    struct sl_tcpstate_ns *n;

    snprintf(path, sizeof(path), "/proc/%" PRId64 "/ns/net", pid);
    len = readlink(path, key, sizeof(key) - 1);
    if (len <= 0)
        return NULL;
    key[len] = '\0';
    HASH_FIND_STR(c->ns, key, n);
    if (n)
        return n;
    n = sl_util_xcalloc(1, sizeof(*n));
    memcpy(n->key, key, (size_t)len + 1);
    snprintf(path, sizeof(path), "/proc/%" PRId64 "/net/tcp", pid);
    sl_tcpstate_table(n, path);
    snprintf(path, sizeof(path), "/proc/%" PRId64 "/net/tcp6", pid);
    sl_tcpstate_table(n, path);
    HASH_ADD_STR(c->ns, key, n);
    return n;
}

bool sl_tcpstate_count(struct sl_tcpstate_cache *c, int64_t pid, uint64_t counts[SL_TCPSTATE_N],
                       size_t *fds)
{
    char path[64], target[64];
    struct sl_tcpstate_ns *n = sl_tcpstate_ns_of(c, pid);
    struct dirent *de;
    size_t seen = 0;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%" PRId64 "/fd", pid);
    if (!n || !(d = opendir(path)))
        return false;
    while ((de = readdir(d)) && seen < SL_TCPSTATE_MAX_FDS) {
        ssize_t len = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
        struct sl_tcpstate_sock *s;
        uint64_t inode;

        if (de->d_name[0] == '.' || len <= 0)
            continue;
        seen++;
        target[len] = '\0';
        if (sscanf(target, "socket:[%" SCNu64 "]", &inode) != 1)
            continue;
        HASH_FIND(hh, n->socks, &inode, sizeof(inode), s);
        if (s)
            counts[s->state]++;
    }
    closedir(d);
    if (fds)
        *fds = seen;
    return true;
}

#include "logscan.h"
#include "util.h"

#include "sockleak_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

struct sl_logscan_file {
    char *path;
    dev_t dev;
    ino_t ino;
    struct sl_logread_set logs; /* this file's processes alone */
    struct sl_logread_cursor cur; /* how far it was read */
    unsigned gen; /* the scan that last saw it */
    bool said;    /* a failure to open it was reported */
    UT_hash_handle hh;
};

void sl_logscan_init(struct sl_logscan *s, char *const *paths, size_t n_paths)
{
    memset(s, 0, sizeof(*s));
    s->paths = paths;
    s->n_paths = n_paths;
}

/* Forgets what was read of e: the file is read again from its start. */
static void sl_logscan_reset(struct sl_logscan_file *e, const struct stat *st)
{
    sl_logread_free(&e->logs);
    sl_logread_init(&e->logs, NULL);
    sl_logread_cursor_free(&e->cur);
    memset(&e->cur, 0, sizeof(e->cur));
    e->cur.name = e->path;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
}

static struct sl_logscan_file *sl_logscan_entry(struct sl_logscan *s, const char *path,
                                                const struct stat *st)
{
    struct sl_logscan_file *e;

    HASH_FIND_STR(s->files, path, e);
    if (!e) {
        e = sl_util_xcalloc(1, sizeof(*e));
        e->path = sl_util_xstrdup(path);
        sl_logread_init(&e->logs, NULL);
        e->cur.name = e->path;
        e->dev = st->st_dev;
        e->ino = st->st_ino;
        HASH_ADD_KEYPTR(hh, s->files, e->path, strlen(e->path), e);
    }
    e->gen = s->gen;
    /* Replaced (another inode) or truncated: what was read is void. */
    if (e->dev != st->st_dev || e->ino != st->st_ino || st->st_size < e->cur.offset)
        sl_logscan_reset(e, st);
    return e;
}

/* Feeds what was appended to e's file (open as fd) since the last read;
 * the bytes of a line still being written wait in the cursor. */
static void sl_logscan_read(struct sl_logscan_file *e, int fd, const char *path)
{
    char buf[65536];
    ssize_t n;

    while ((n = pread(fd, buf, sizeof(buf), e->cur.offset)) > 0)
        sl_logread_feed_bytes(&e->logs, &e->cur, buf, (size_t)n);
    if (n < 0) {
        fputs("sockleak: error reading ", stderr);
        sl_util_fputs_safe(path, stderr);
        fprintf(stderr, ": %s\n", strerror(errno));
    }
}

/* Reads what was appended to the log at path (st: its stat). Only a
 * regular file is opened; follow: path was named by the user, a symbolic
 * link to it is followed (as `report` does), never one inside a directory. */
static void sl_logscan_file(struct sl_logscan *s, const char *path, const struct stat *st,
                            bool follow)
{
    struct sl_logscan_file *e = sl_logscan_entry(s, path, st);
    struct stat now;
    const char *why;
    int fd;

    if (st->st_size == e->cur.offset)
        return; /* nothing new: not even opened */
    fd = sl_util_open_regular(path, follow ? 0 : O_NOFOLLOW, &now, &why);
    if (fd < 0) {
        if (!e->said) {
            fputs("sockleak: warning: cannot read ", stderr);
            sl_util_fputs_safe(path, stderr);
            fprintf(stderr, ": %s, skipped\n", why);
        }
        e->said = true;
        return;
    }
    e->said = false;
    if (now.st_dev != e->dev || now.st_ino != e->ino || now.st_size < e->cur.offset)
        sl_logscan_reset(e, &now); /* replaced between the stat and the open */
    e->cur.trusted = now.st_uid == getuid() || now.st_uid == 0;
    sl_logscan_read(e, fd, path);
    close(fd);
}

/* Every *.jsonl regular file under dir, subdirectories included; symbolic
 * links are not followed (no loops, no log planted through a link). */
static void sl_logscan_dir(struct sl_logscan *s, const char *dir, int depth)
{
    DIR *d = depth < 32 ? opendir(dir) : NULL;
    struct dirent *de;
    size_t len = strlen(dir);
    const char *sep = len && dir[len - 1] == '/' ? "" : "/";

    if (!d)
        return;
    while ((de = readdir(d))) {
        struct stat st;
        char *full;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        full = sl_util_xjoin(dir, sep, de->d_name);
        if (lstat(full, &st) == 0) {
            if (S_ISDIR(st.st_mode) && !sl_logread_is_marker_dir(de->d_name))
                sl_logscan_dir(s, full, depth + 1);
            else if (S_ISREG(st.st_mode) && sl_logread_is_log(de->d_name))
                sl_logscan_file(s, full, &st, false);
        }
        free(full);
    }
    closedir(d);
}

/* Forgets a file and its processes. */
static void sl_logscan_drop(struct sl_logscan *s, struct sl_logscan_file *e)
{
    HASH_DEL(s->files, e);
    sl_logread_free(&e->logs);
    sl_logread_cursor_free(&e->cur);
    free(e->path);
    free(e);
}

int sl_logscan_update(struct sl_logscan *s)
{
    struct sl_logscan_file *e, *tmp;
    int rc = 0;

    s->gen++;
    for (size_t i = 0; i < s->n_paths; i++) {
        struct stat st;

        if (stat(s->paths[i], &st) != 0) {
            rc = -1;
            continue;
        }
        if (S_ISDIR(st.st_mode))
            sl_logscan_dir(s, s->paths[i], 0);
        else if (S_ISREG(st.st_mode))
            sl_logscan_file(s, s->paths[i], &st, true);
        else
            rc = -1;
    }
    /* Files gone (deleted, or moved away): their processes go too. */
    HASH_ITER(hh, s->files, e, tmp)
    {
        if (e->gen == s->gen)
            continue;
        sl_logscan_drop(s, e);
    }
    return rc;
}

static int sl_logscan_cmp(struct sl_logscan_file *a, struct sl_logscan_file *b)
{
    return strcmp(a->path, b->path);
}

const struct sl_logread_process **sl_logscan_procs(struct sl_logscan *s, size_t *n)
{
    struct sl_logscan_file *e, *tmp;
    const struct sl_logread_process **out;
    size_t total = 0, i = 0;

    HASH_SORT(s->files, sl_logscan_cmp);
    HASH_ITER(hh, s->files, e, tmp) total += e->logs.n_procs;
    out = sl_util_xcalloc(total, sizeof(*out));
    HASH_ITER(hh, s->files, e, tmp)
    {
        for (size_t j = 0; j < e->logs.n_procs; j++)
            out[i++] = &e->logs.procs[j];
    }
    *n = total;
    return out;
}

size_t sl_logscan_files(const struct sl_logscan *s, uint64_t *bytes)
{
    const struct sl_logscan_file *e;
    size_t n = 0;

    *bytes = 0;
    for (e = s->files; e; e = e->hh.next, n++)
        *bytes += (uint64_t)e->cur.offset;
    return n;
}

void sl_logscan_free(struct sl_logscan *s)
{
    struct sl_logscan_file *e, *tmp;

    HASH_ITER(hh, s->files, e, tmp)
    {
        sl_logscan_drop(s, e);
    }
    memset(s, 0, sizeof(*s));
}

#include "watch.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *sl_watch_dir(const char *outdir, const char *run_id)
{
    char *name = sl_util_xjoin(".", run_id, ".loaded");
    char *dir = sl_util_xjoin(outdir, "/", name);

    free(name);
    return dir;
}

int sl_watch_prepare(const char *dir)
{
    char *proto;
    int fd;

    /* Private, as root too: a process that changed its user after loading
     * the library leaves no marker (the run may then say it cannot tell),
     * rather than every local user being able to write here. */
    if (mkdir(dir, 0700) < 0)
        return -1;
    proto = sl_util_xjoin(dir, "/", ".proto");
    fd = open(proto, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    free(proto);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

void sl_watch_remove(const char *dir)
{
    char *proto = sl_util_xjoin(dir, "/", ".proto");

    unlink(proto);
    free(proto);
    rmdir(dir);
}

/* What the markers say about the direct child and the rest of the tree. */
struct sl_watch_marks {
    size_t total, others; /* markers; markers of processes other than the child */
    bool child_final;     /* the child's last image loaded the library */
    char child_first[64]; /* a name the child had when it loaded it */
};

static void sl_watch_read_marks(const char *dir, const struct sl_watch_input *in,
                                struct sl_watch_marks *m)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char *full;

    memset(m, 0, sizeof(*m));
    while (d && (de = readdir(d))) {
        char *dot;
        long pid = strtol(de->d_name, &dot, 10);

        if (de->d_name[0] == '.' || *dot != '.')
            continue;
        m->total++;
        if (pid != in->child)
            m->others++;
        else if (!in->child_comm[0] || strcmp(dot + 1, in->child_comm) == 0)
            m->child_final = true;
        else
            snprintf(m->child_first, sizeof(m->child_first), "%s", dot + 1);
        full = sl_util_xjoin(dir, "/", de->d_name);
        if (unlink(full) < 0)
            rmdir(full); /* the library's fallback: a directory */
        free(full);
    }
    if (d)
        closedir(d);
    sl_watch_remove(dir);
}

static void sl_watch_add(struct sl_watch *w, const char *program, long pid, bool loaded,
                         const char *reason)
{
    struct sl_watch_entry *e;

    w->unwatched = sl_util_xrealloc(w->unwatched, (w->n_unwatched + 1) * sizeof(*e));
    e = &w->unwatched[w->n_unwatched++];
    e->program = sl_util_xstrdup(program);
    e->pid = pid;
    e->loaded = loaded;
    e->reason = sl_util_xstrdup(reason);
}

void sl_watch_decide(struct sl_watch *w, const char *dir, const struct sl_watch_input *in)
{
    const char *elf_reason = sl_elfinfo_unwatchable(in->elf);
    struct sl_watch_marks m;
    bool logged_child = false, logged_other = false, child_ok;
    char reason[512];

    memset(w, 0, sizeof(*w));
    sl_watch_read_marks(dir, in, &m);
    /* A log is proof too, and covers a process that renamed itself. */
    for (size_t i = 0; i < in->logs->n_procs; i++)
        *(in->logs->procs[i].pid == in->child ? &logged_child : &logged_other) = true;
    w->loaded = m.total;
    /* Go loads the library like any program, then bypasses libc. */
    child_ok = (m.child_final || logged_child) && !in->elf->is_go;
    w->watched = child_ok || m.others > 0 || logged_other;
    if (child_ok)
        return;
    if (elf_reason)
        snprintf(reason, sizeof(reason), "%s", elf_reason);
    else if (m.child_first[0])
        snprintf(reason, sizeof(reason),
                 "it replaced %s (pid %ld), which had loaded the library, by exec and did not "
                 "load it (a static or Go program, set-user-ID, or LD_PRELOAD removed)",
                 m.child_first, (long)in->child);
    else
        snprintf(reason, sizeof(reason),
                 "no process of the run loaded it (LD_PRELOAD removed or ignored on the way)");
    sl_watch_add(w, m.child_first[0] && in->child_comm[0] ? in->child_comm
                                                           : sl_util_basename(in->program),
                 (long)in->child, m.child_final && in->elf->is_go, reason);
}

void sl_watch_print(FILE *out, const struct sl_watch *w)
{
    for (size_t i = 0; i < w->n_unwatched; i++) {
        const struct sl_watch_entry *e = &w->unwatched[i];
        if (e->loaded)
            fprintf(out, "sockleak: %s%s was not watched: %s", w->watched ? "warning: " : "",
                    e->program, e->reason);
        else
            fprintf(out, "sockleak: %sthe library was not loaded by %s: %s",
                    w->watched ? "warning: " : "", e->program, e->reason);
        if (w->watched)
            fprintf(out, "; other processes of the run were watched\n");
        else
            fprintf(out, "; nothing was watched\n");
    }
}

void sl_watch_free(struct sl_watch *w)
{
    for (size_t i = 0; i < w->n_unwatched; i++) {
        free(w->unwatched[i].program);
        free(w->unwatched[i].reason);
    }
    free(w->unwatched);
    memset(w, 0, sizeof(*w));
}

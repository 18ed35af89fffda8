/* The load marker: `sockleak run` cannot otherwise tell a process that
 * loaded the library and saw nothing (a genuine "no leaks") from one that
 * never loaded it (static, Go, setuid, LD_PRELOAD removed). A log file
 * would cost a descriptor and change the program's fd numbers; a name in a
 * directory costs one system call and nothing that stays open. A hard link
 * rather than a new inode: on ext4 here link() takes about 27 us in a fresh
 * process, mkdir() or symlink() about 350 us (inode allocation). */
#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "loaded.h"
#include "options.h"

void sl_loaded_mark(void)
{
    char comm[17] = "", dir[sizeof sl_opt.output + sizeof sl_opt.run_id + 16], path[sizeof dir + 32],
                        proto[sizeof dir + 8];
    int saved = errno;

    if (!sl_opt.run_id[0])
        return;
    /* The name of the image that loaded us (the kernel's comm, what the tool
     * reads from the exited process too): an exec into a program that does
     * not load the library leaves a marker under the old name only. */
    prctl(PR_GET_NAME, comm, 0, 0, 0);
    for (char *c = comm; *c; c++)
        if (*c == '/')
            *c = '_';
    int n = snprintf(dir, sizeof dir, "%s/.%s.loaded", sl_opt.output, sl_opt.run_id);
    if (n < 0 || (size_t)n >= sizeof dir)
        return;
    snprintf(path, sizeof path, "%s/%d.%s", dir, sl_pid, comm);
    snprintf(proto, sizeof proto, "%s/.proto", dir);
    /* Failure (the run's directory gone, a full disk) only costs the proof:
     * the tool then says it cannot tell, never that there was no leak. The
     * link can fail where a directory can still be made: too many links
     * (ext4 stops at 65000), protected_hardlinks after a privilege change. */
    if (link(proto, path) < 0 && errno != EEXIST && errno != ENOENT)
        mkdir(path, 0700);
    errno = saved;
}

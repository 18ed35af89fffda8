/* The load marker: `sockleak run` cannot otherwise tell a process that
 * loaded the library and saw nothing (a genuine "no leaks") from one that
 * never loaded it (static, Go, setuid, LD_PRELOAD removed). A log file
 * would cost a descriptor and change the program's fd numbers; an empty
 * directory costs one mkdir and nothing that stays open. */
#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include "loaded.h"
#include "options.h"

void sl_loaded_mark(void)
{
    char comm[17] = "", path[sizeof sl_opt.output + sizeof sl_opt.run_id + 48];
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
    int n = snprintf(path, sizeof path, "%s/.%s.loaded/%d.%s", sl_opt.output, sl_opt.run_id,
                     sl_pid, comm);
    /* Failure (the run's directory gone, a full disk) only costs the proof:
     * the tool then says it cannot tell, never that there was no leak. */
    if (n > 0 && (size_t)n < sizeof path)
        mkdir(path, 0700);
    errno = saved;
}

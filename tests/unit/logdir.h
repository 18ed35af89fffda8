/* Unit tests that let the library's log writer run: a fresh temporary
 * directory for the logs (sl_opt.output), removed with all it holds. */
#ifndef SL_TEST_LOGDIR_H
#define SL_TEST_LOGDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "options.h"
#include "real.h"

static char logdir_root[256], logdir_out[300];

/* Makes /tmp/sl-test-NAME.XXXXXX, binds the real functions and points the
 * log output at it (at its "out" below it with sub: the writer creates that
 * one itself). Returns the output directory, NULL when mkdtemp fails. */
static const char *logdir_make(const char *name, const char *sub)
{
    snprintf(logdir_root, sizeof logdir_root, "/tmp/sl-test-%s.XXXXXX", name);
    if (!mkdtemp(logdir_root))
        return NULL;
    sl_real_init();
    snprintf(logdir_out, sizeof logdir_out, "%s%s%s", logdir_root, sub ? "/" : "", sub ? sub : "");
    snprintf(sl_opt.output, sizeof sl_opt.output, "%s", logdir_out);
    return logdir_out;
}

static int logdir_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes the directory logdir_make made, with everything in it. */
static int logdir_remove(void)
{
    return nftw(logdir_root, logdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif

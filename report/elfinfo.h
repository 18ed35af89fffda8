/* What `sockleak run` can tell from the program file before running it:
 * whether LD_PRELOAD can reach it at all, and which sanitizer runtime must
 * come first. Read with libelf; the program is never run or ldd'd. */
#ifndef SL_REPORT_ELFINFO_H
#define SL_REPORT_ELFINFO_H

#include <limits.h>
#include <stdbool.h>

struct sl_elfinfo {
    char path[PATH_MAX]; /* the ELF inspected: the program, or a script's interpreter */
    bool is_elf;         /* false: nothing could be told (not found, not ELF) */
    bool is_static;      /* no PT_INTERP */
    bool is_go;          /* .go.buildinfo, .note.go.buildid or runtime.main */
    bool is_musl;        /* interpreter ld-musl-* */
    bool is_setid;       /* set-user-ID or set-group-ID of someone else */
    char interp[256];    /* PT_INTERP, "" when none */
    char sanitizer[64];  /* DT_NEEDED runtime that must be preloaded first, or "" */
    const char *sanitizer_name; /* "AddressSanitizer", ... when sanitizer is set */
};

/* Inspects what execvp(prog) would run, following a "#!" line (and
 * "#!/usr/bin/env NAME") one level. Always fills *info (is_elf false when
 * nothing could be read). */
void sl_elfinfo_inspect(const char *prog, struct sl_elfinfo *info);

/* Why LD_PRELOAD cannot watch the program, as "it is ..." text, or NULL. */
const char *sl_elfinfo_unwatchable(const struct sl_elfinfo *info);

/* The absolute path of shared library soname (libasan.so.8) in the loader's
 * standard directories or ld.so.cache (`ldconfig -p`), malloc'd, or NULL. */
char *sl_elfinfo_find_lib(const char *soname);

#endif

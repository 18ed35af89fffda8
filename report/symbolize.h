/* Offline symbolization of module + offset frames with elfutils libdwfl. */
#ifndef SL_REPORT_SYMBOLIZE_H
#define SL_REPORT_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_sym_frame {
    char *function;   /* never NULL: a name, "module+0xoff" or "0xpc" */
    char *file;       /* NULL when unknown */
    int line;         /* 0 when unknown */
    char *module;     /* module path, "" when unknown */
    uint64_t address; /* the logged offset (the pc when there is no module) */
    bool inlined;     /* inlined into the frame that follows it */
    bool stale;       /* the module on disk is not the one that ran */
    char *lang;       /* a language frame's language ("python", ...); NULL: native */
};

struct sl_sym_stack {
    struct sl_sym_frame *frames;
    size_t n, cap;
};

struct sl_sym_ctx;

/* Directories searched first for separate debug files (colon-separated, as
 * libdwfl's debuginfo_path): DIR/.build-id/xx/rest.debug and the module's
 * .gnu_debuglink name under DIR. */
#define SL_SYM_DEBUGINFO_ENV "SOCKLEAK_DEBUGINFO_PATH"

/* A cache of opened modules; each module path is opened once. quiet: no
 * warnings on stderr (tests). Reads SOCKLEAK_DEBUGINFO_PATH. */
struct sl_sym_ctx *sl_sym_new(bool quiet);
void sl_sym_free(struct sl_sym_ctx *ctx);

/* Appends the frames for one logged frame to out: one, or more when the
 * address lies in inlined code (innermost first). path NULL means the frame
 * had no module (offset is then the pc). build_id "" or NULL: not checked.
 * Never fails: unknown parts fall back to "module+0xoff". */
void sl_sym_frame(struct sl_sym_ctx *ctx, const char *path, const char *build_id, uint64_t offset,
                  struct sl_sym_stack *out);

/* Appends a frame of the program's own language (a "frame" record): lang,
 * function, file (NULL or "": unknown) and line as logged, module "",
 * address the frame's id. */
void sl_sym_lang_frame(struct sl_sym_stack *out, const char *lang, const char *function,
                       const char *file, int line, uint64_t id);

void sl_sym_stack_free(struct sl_sym_stack *st);

#endif

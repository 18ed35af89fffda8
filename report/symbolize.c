#include "symbolize.h"
#include "util.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

/* One opened module: a Dwfl of its own, because every module is reported at
 * base 0 and the addresses of two modules would overlap in one Dwfl. */
struct sl_sym_mod {
    char *key;  /* path, or "path\nbuild-id" for a debug file found by build-id */
    char *path; /* the module as logged: what frames name */
    Dwfl *dwfl;
    Dwfl_Module *mod;    /* NULL: could not be opened */
    char *disk_build_id; /* lowercase hex, "" when none */
    GElf_Addr bias;      /* Dwfl address = ELF vaddr + bias */
    int open_errno;      /* why the file could not be opened, 0 if it was */
    char **warned_ids;   /* logged build-ids already warned about */
    size_t n_warned;
    UT_hash_handle hh;
};

struct sl_sym_ctx {
    struct sl_sym_mod *mods;
    bool quiet;
    /* libdwfl's search path for separate debug files (build-id under each
     * absolute entry, .gnu_debuglink in all of them); the Dwfls point here. */
    char *debuginfo_path;
    Dwfl_Callbacks callbacks;
};

/* libdwfl's own default: the module's directory, its .debug, /usr/lib/debug. */
#define SL_SYM_DEFAULT_DEBUGINFO_PATH ":.debug:/usr/lib/debug"

struct sl_sym_ctx *sl_sym_new(bool quiet)
{
    struct sl_sym_ctx *ctx = sl_util_xcalloc(1, sizeof(*ctx));
    const char *env = getenv(SL_SYM_DEBUGINFO_ENV);

    ctx->quiet = quiet;
    ctx->debuginfo_path = env && *env ? sl_util_xjoin(env, ":", SL_SYM_DEFAULT_DEBUGINFO_PATH)
                                      : sl_util_xstrdup(SL_SYM_DEFAULT_DEBUGINFO_PATH);
    ctx->callbacks.find_elf = dwfl_build_id_find_elf;
    ctx->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
    ctx->callbacks.section_address = dwfl_offline_section_address;
    ctx->callbacks.debuginfo_path = &ctx->debuginfo_path;
    return ctx;
}

void sl_sym_free(struct sl_sym_ctx *ctx)
{
    struct sl_sym_mod *m, *tmp;

    if (!ctx)
        return;
    HASH_ITER(hh, ctx->mods, m, tmp)
    {
        HASH_DEL(ctx->mods, m);
        if (m->dwfl)
            dwfl_end(m->dwfl);
        for (size_t i = 0; i < m->n_warned; i++)
            free(m->warned_ids[i]);
        free(m->warned_ids);
        free(m->disk_build_id);
        free(m->path);
        free(m->key);
        free(m);
    }
    free(ctx->debuginfo_path);
    free(ctx);
}

/* Reads the open file fd (named file) with libdwfl as module path, cached
 * under key; libdwfl takes fd when it accepts the file, else it is closed
 * here. fd -1: not found, the entry only remembers that. */
static struct sl_sym_mod *sl_sym_load(struct sl_sym_ctx *ctx, const char *key, const char *path,
                                      const char *file, int fd, bool warn)
{
    struct sl_sym_mod *m;
    const unsigned char *bits;
    GElf_Addr vaddr;
    int len;

    m = sl_util_xcalloc(1, sizeof(*m));
    m->key = sl_util_xstrdup(key);
    m->path = sl_util_xstrdup(path);
    m->disk_build_id = sl_util_xstrdup("");
    HASH_ADD_KEYPTR(hh, ctx->mods, m->key, strlen(m->key), m);
    if (fd < 0)
        return m;
    m->dwfl = dwfl_begin(&ctx->callbacks);
    if (!m->dwfl) {
        close(fd);
        return m;
    }
    dwfl_report_begin(m->dwfl);
    m->mod = dwfl_report_elf(m->dwfl, sl_util_basename(path), file, fd, 0, false);
    dwfl_report_end(m->dwfl, NULL, NULL);
    if (!m->mod) {
        close(fd);
        if (warn && !ctx->quiet) {
            fputs("sockleak: warning: cannot read ", stderr);
            sl_util_fputs_safe(file, stderr);
            fprintf(stderr, ": %s; its frames are shown as module+offset\n", dwfl_errmsg(-1));
        }
        return m;
    }
    if (!dwfl_module_getelf(m->mod, &m->bias)) {
        m->mod = NULL;
        return m;
    }
    len = dwfl_module_build_id(m->mod, &bits, &vaddr);
    if (len > 0) {
        free(m->disk_build_id);
        m->disk_build_id = sl_util_xmalloc(2 * (size_t)len + 1);
        for (int i = 0; i < len; i++)
            sprintf(m->disk_build_id + 2 * i, "%02x", bits[i]);
    }
    return m;
}

static struct sl_sym_mod *sl_sym_open(struct sl_sym_ctx *ctx, const char *path)
{
    struct sl_sym_mod *m;
    struct stat st;
    const char *why;
    int fd;

    HASH_FIND_STR(ctx->mods, path, m);
    if (m)
        return m;
    /* Pseudo-modules such as linux-vdso.so.1 have no file: no warning. */
    if (!strchr(path, '/'))
        return sl_sym_load(ctx, path, path, NULL, -1, false);
    /* A path from a log: only a regular file is opened (a FIFO would hang). */
    errno = 0;
    fd = sl_util_open_regular(path, 0, &st, &why);
    if (fd < 0) {
        /* Warned about at its first frame, unless a debug file found by
         * build-id stands in for it. */
        int err = errno;
        m = sl_sym_load(ctx, path, path, NULL, -1, false);
        m->open_errno = err ? err : -1; /* -1: not a regular file */
        return m;
    }
    return sl_sym_load(ctx, path, path, path, fd, true);
}

/* The module that ran, when the file at path was rebuilt since: a file named
 * by its build-id (.build-id/xx/rest.debug, or .build-id/xx/rest) under an
 * absolute directory of the debuginfo path, whose own build-id matches.
 * NULL when there is none. */
static struct sl_sym_mod *sl_sym_open_by_build_id(struct sl_sym_ctx *ctx, const char *path,
                                                  const char *build_id)
{
    struct sl_sym_mod *m;
    char *key = sl_util_xjoin(path, "\n", build_id), *list, *save = NULL, file[PATH_MAX];
    const char *found = NULL, *why;
    struct stat st;
    int fd = -1;

    HASH_FIND_STR(ctx->mods, key, m);
    if (m) {
        free(key);
        return m->mod ? m : NULL;
    }
    if (strlen(build_id) > 2 && strspn(build_id, "0123456789abcdef") == strlen(build_id)) {
        list = sl_util_xstrdup(ctx->debuginfo_path);
        for (char *dir = strtok_r(list, ":", &save); dir && !found;
             dir = strtok_r(NULL, ":", &save)) {
            /* '+' and '-' prefixes tell libdwfl whether to check CRCs. */
            dir += *dir == '+' || *dir == '-';
            if (dir[0] != '/')
                continue;
            for (int debug = 1; debug >= 0 && !found; debug--) {
                snprintf(file, sizeof(file), "%s/.build-id/%.2s/%s%s", dir, build_id, build_id + 2,
                         debug ? ".debug" : "");
                if ((fd = sl_util_open_regular(file, 0, &st, &why)) >= 0)
                    found = file;
            }
        }
        free(list);
    }
    m = sl_sym_load(ctx, key, path, found, fd, false);
    free(key);
    if (m->mod && strcmp(m->disk_build_id, build_id) != 0)
        m->mod = NULL;
    return m->mod ? m : NULL;
}

/* True when the file on disk is not the one that ran; warns once per
 * module and logged build-id. */
static bool sl_sym_stale(struct sl_sym_ctx *ctx, struct sl_sym_mod *m, const char *build_id)
{
    if (!build_id || !*build_id || strcmp(build_id, m->disk_build_id) == 0)
        return false;
    for (size_t i = 0; i < m->n_warned; i++)
        if (strcmp(m->warned_ids[i], build_id) == 0)
            return true;
    m->warned_ids = sl_util_xrealloc(m->warned_ids, (m->n_warned + 1) * sizeof(char *));
    m->warned_ids[m->n_warned++] = sl_util_xstrdup(build_id);
    if (!ctx->quiet) {
        fputs("sockleak: warning: ", stderr);
        sl_util_fputs_safe(m->path, stderr);
        fprintf(stderr, " changed since the run (build-id %s on disk, ",
                *m->disk_build_id ? m->disk_build_id : "none");
        sl_util_fputs_safe(build_id, stderr);
        fputs(" in the log); its frames are shown without source lines\n", stderr);
    }
    return true;
}

static void sl_sym_push(struct sl_sym_stack *out, const char *function, const char *file, int line,
                        const char *module, uint64_t address, bool inlined, bool stale)
{
    struct sl_sym_frame *f;

    if (out->n == out->cap) {
        out->cap = out->cap ? 2 * out->cap : 16;
        out->frames = sl_util_xrealloc(out->frames, out->cap * sizeof(*out->frames));
    }
    f = &out->frames[out->n++];
    f->function = sl_util_xstrdup(function);
    f->file = file && *file ? sl_util_xstrdup(file) : NULL;
    f->line = f->file ? line : 0;
    f->module = sl_util_xstrdup(module);
    f->address = address;
    f->inlined = inlined;
    f->stale = stale;
    f->lang = NULL;
}

void sl_sym_lang_frame(struct sl_sym_stack *out, const char *lang, const char *function,
                       const char *file, int line, uint64_t id)
{
    sl_sym_push(out, function, file, line, "", id, false, false);
    out->frames[out->n - 1].lang = sl_util_xstrdup(lang);
}

static void sl_sym_push_raw(struct sl_sym_stack *out, const char *path, uint64_t offset, bool stale)
{
    char name[512];

    sl_util_snprintf_utf8(name, sizeof(name), "%s+0x%" PRIx64, sl_util_basename(path), offset);
    sl_sym_push(out, name, NULL, 0, path, offset, false, stale);
}

typedef char *(*sl_sym_demangle_fn)(const char *, char *, size_t *, int *);

/* C++ names are demangled when libstdc++ is around to do it; the tool itself
 * does not link it. The returned string is malloc'd, or NULL. */
static char *sl_sym_demangle(const char *name)
{
    static sl_sym_demangle_fn fn;
    static bool tried;
    int status = -1;
    char *res;

    if (strncmp(name, "_Z", 2) != 0)
        return NULL;
    if (!tried) {
        void *h;
        tried = true;
        h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
        if (h)
            fn = (sl_sym_demangle_fn)dlsym(h, "__cxa_demangle");
    }
    if (!fn)
        return NULL;
    res = fn(name, NULL, NULL, &status);
    if (status != 0) {
        free(res);
        return NULL;
    }
    return res;
}

static const char *sl_sym_diename(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *name;

    name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
    if (!name)
        name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
    if (!name)
        name = dwarf_diename(die);
    return name;
}

static void sl_sym_push_named(struct sl_sym_stack *out, const char *name, const char *file,
                              int line, const char *module, uint64_t address, bool inlined)
{
    char *dem = sl_sym_demangle(name);
    sl_sym_push(out, dem ? dem : name, file, line, module, address, inlined, false);
    free(dem);
}

/* file as eu-addr2line prints it by default: a relative name is joined to
 * the compilation directory of its CU. Returns file or buf. */
static const char *sl_sym_abs(Dwarf_Die *cudie, const char *file, char *buf, size_t len)
{
    Dwarf_Attribute attr;
    const char *dir;

    if (!file || file[0] == '/' || !cudie)
        return file;
    dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &attr));
    if (!dir || !*dir)
        return file;
    snprintf(buf, len, "%s/%s", dir, file);
    return buf;
}

/* The scopes around pc, innermost first, as nested in the code: malloc'd
 * in *chain. Returns their number, or 0 (and *chain NULL) when none. */
static int sl_sym_scopes(Dwarf_Die *cudie, Dwarf_Addr pc, Dwarf_Die **chain)
{
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes(cudie, pc, &scopes);

    *chain = NULL;
    if (n <= 0) {
        free(scopes);
        return 0;
    }
    /* dwarf_getscopes follows an inlined function into its abstract
     * definition; the concrete nesting (who it was inlined into) comes from
     * the DIE tree around the innermost scope. */
    n = dwarf_getscopes_die(&scopes[0], chain);
    free(scopes);
    if (n <= 0) {
        free(*chain);
        *chain = NULL;
        return 0;
    }
    return n;
}

/* Where the inlined subroutine die was called from: its file (joined to the
 * CU's directory in buf; NULL when not recorded) and *line (0 when not). */
static const char *sl_sym_call_site(Dwarf_Die *cudie, Dwarf_Files *files, Dwarf_Die *die, char *buf,
                                    size_t len, int *line)
{
    Dwarf_Attribute attr;
    Dwarf_Word val;
    const char *file = NULL;

    if (files && dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &val) == 0)
        file = sl_sym_abs(cudie, dwarf_filesrc(files, val, NULL, NULL), buf, len);
    *line = dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &val) == 0 ? (int)val : 0;
    return file;
}

/* Pushes the inline chain at addr (innermost first), the way
 * `eu-addr2line -i -f` prints it. False when there is no DWARF scope. */
static bool sl_sym_dwarf(struct sl_sym_mod *m, Dwarf_Addr addr, const char *src, int srcline,
                         uint64_t offset, const char *symname, struct sl_sym_stack *out)
{
    Dwarf_Addr cubias = 0;
    Dwarf_Die *cudie = dwfl_module_addrdie(m->mod, addr, &cubias);
    Dwarf_Die *chain = NULL;
    Dwarf_Files *files = NULL;
    const char *file;
    char buf[2 * PATH_MAX];
    int line = srcline, n;
    size_t before = out->n;
    bool done = false;

    if (!cudie)
        return false;
    file = sl_sym_abs(cudie, src, buf, sizeof(buf));
    n = sl_sym_scopes(cudie, addr - cubias, &chain);
    if (n <= 0)
        return false;
    if (dwarf_getsrcfiles(cudie, &files, NULL) != 0)
        files = NULL;
    for (int i = 0; i < n && !done; i++) {
        Dwarf_Die *die = &chain[i];
        int tag = dwarf_tag(die);
        const char *name;

        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue;
        name = sl_sym_diename(die);
        if (!name)
            name = symname;
        if (tag == DW_TAG_subprogram) {
            sl_sym_push_named(out, name ? name : "??", file, line, m->path, offset, false);
            done = true;
            break;
        }
        sl_sym_push_named(out, name ? name : "??", file, line, m->path, offset, true);
        file = sl_sym_call_site(cudie, files, die, buf, sizeof(buf), &line);
    }
    free(chain);
    if (!done && out->n > before) {
        /* Inlined frames without an enclosing subprogram DIE: the caller is
         * whatever the symbol table says. */
        sl_sym_push_named(out, symname ? symname : "??", file, line, m->path, offset, false);
        done = true;
    }
    return done;
}

void sl_sym_frame(struct sl_sym_ctx *ctx, const char *path, const char *build_id, uint64_t offset,
                  struct sl_sym_stack *out)
{
    struct sl_sym_mod *m;
    Dwarf_Addr addr;
    Dwfl_Line *dl;
    const char *symname, *src = NULL;
    int srcline = 0;

    if (!path) {
        char name[32];
        snprintf(name, sizeof(name), "0x%" PRIx64, offset);
        sl_sym_push(out, name, NULL, 0, "", offset, false, false);
        return;
    }
    m = sl_sym_open(ctx, path);
    /* A module gone or rebuilt since the run may still have its debug file,
     * named by the build-id the log recorded. */
    if (build_id && *build_id && (!m->mod || strcmp(build_id, m->disk_build_id) != 0)) {
        struct sl_sym_mod *dm = sl_sym_open_by_build_id(ctx, path, build_id);
        if (dm)
            m = dm;
        else if (m->mod && sl_sym_stale(ctx, m, build_id)) {
            sl_sym_push_raw(out, path, offset, true);
            return;
        }
    }
    if (!m->mod) {
        if (m->open_errno && !ctx->quiet) {
            fputs("sockleak: warning: cannot open ", stderr);
            sl_util_fputs_safe(path, stderr);
            fprintf(stderr, ": %s; its frames are shown as module+offset\n",
                    m->open_errno < 0 ? "not a regular file" : strerror(m->open_errno));
        }
        m->open_errno = 0;
        sl_sym_push_raw(out, path, offset, false);
        return;
    }
    /* Logged frames are return addresses: the call is the byte before. */
    addr = (offset ? offset - 1 : 0) + m->bias;
    symname = dwfl_module_addrname(m->mod, addr);
    dl = dwfl_module_getsrc(m->mod, addr);
    if (dl)
        src = dwfl_lineinfo(dl, NULL, &srcline, NULL, NULL, NULL);
    if (sl_sym_dwarf(m, addr, src, srcline, offset, symname, out))
        return;
    if (symname) {
        char buf[2 * PATH_MAX];
        Dwarf_Addr cubias;
        src = sl_sym_abs(dwfl_module_addrdie(m->mod, addr, &cubias), src, buf, sizeof(buf));
        sl_sym_push_named(out, symname, src, srcline, path, offset, false);
    } else
        sl_sym_push_raw(out, path, offset, false);
}

void sl_sym_stack_free(struct sl_sym_stack *st)
{
    for (size_t i = 0; i < st->n; i++) {
        free(st->frames[i].function);
        free(st->frames[i].file);
        free(st->frames[i].module);
        free(st->frames[i].lang);
    }
    free(st->frames);
    st->frames = NULL;
    st->n = st->cap = 0;
}

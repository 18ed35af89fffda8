/* Perl frames in captured stacks (perl 5.36.0, threaded), read in-process.
 *
 * A socket call from Perl reaches our hook from an op's C function, run by
 * the interpreter's loop: read <- PerlIOUnix_read <- ... <- Perl_pp_sysread
 * <- Perl_runops_standard <- perl_run <- main. A Perl-to-Perl sub call does
 * not recurse in C: one activation of the loop runs any number of subs, and
 * a new one starts only where C calls Perl (call_sv: BEGIN blocks, sort
 * subs, tie and overload methods, DESTROY, XS callbacks, ithreads). The
 * calling thread's interpreter is pthread_getspecific(PL_thr_key), which
 * is what Perl_get_context() returns (Perl_set_context sets the key in
 * every threaded build); PL_curcop is the statement running, and each
 * stackinfo's context stack holds the subs (CXt_SUB), evals and requires
 * (CXt_EVAL) entered, each with blk_oldcop, the statement that entered it
 * (what caller() reads). A sub or string eval whose return op (retop) is
 * NULL was entered from C: it is the first frame of a new activation.
 *
 * Nothing here calls Perl: no allocation, no lock of the interpreter's.
 * The thread's own contexts cannot change while it is in a C call, but a
 * signal can land mid-update, and the interpreter may be mid-destruction:
 * every pointer followed is checked (user space, aligned, readable by a
 * system call probe cached per page for one capture, objects of the type
 * they must be: SVt_PVCV, SVt_PVGV, SVt_PVHV, a COP of a nextstate op),
 * strings and indexes are bounded, the walk is at most SL_PL_MAX_DEPTH
 * frames over at most SL_PL_MAX_STEPS contexts.
 *
 * Layouts are build-specific: the one built in is Debian's 5.36.0
 * x86_64- and aarch64-linux-gnu-thread-multi (tests/unit/test_perlframes.c checks it
 * against the installed headers); any other version, or the same version
 * built with other binary-compatibility options (PL_bincompat_options), is
 * refused. */
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "langframes.h"
#include "lframe.h"
#include "modules.h"
#include "ownfd.h"
#include "perlframes.h"
#include "rawsys.h"

#define SL_PL_MAX_DEPTH 128
#define SL_PL_MAX_STEPS 4096 /* contexts looked at in one walk */
#define SL_PL_MAX_SI 64      /* stackinfos followed */
#define SL_PL_MAX_CX (1 << 20)
#define SL_PL_PAGES 48      /* readable pages remembered in one capture */
#define SL_PL_MAX_PROBES 96 /* readability probes in one capture */
#define SL_PL_PAGE 4096u

uintptr_t sl_pl_run_lo[2] SL_HIDDEN, sl_pl_run_hi[2] SL_HIDDEN;

static const struct sl_pl_layout *sl_pl_lay;
static const pthread_key_t *sl_pl_thr_key;   /* PL_thr_key */
static void *const *sl_pl_curinterp;         /* PL_curinterp: set once perl_alloc ran */
static uintptr_t sl_pl_mod_lo, sl_pl_mod_hi; /* the interpreter's module's code */
static uintptr_t sl_pl_tramp_range[2][2];    /* code that may hold the signal trampoline */

/* ------------------------------------------------------------ layouts */

/* PL_compiling's offset in the interpreter: fields before it differ in size
 * between processors (Debian's 5.36.0-7: 1936 on x86-64, 2032 on arm64;
 * every other offset below is the same on both). */
#if defined(__x86_64__)
#define SL_PL_5360_COMPILING 1936
#elif defined(__aarch64__)
#define SL_PL_5360_COMPILING 2032
#endif

static const struct sl_pl_layout sl_pl_5360 = {
    .revision = 5,
    .version = 36,
    .subversion = 0,
    .bincompat = " HAS_TIMES MULTIPLICITY PERLIO_LAYERS USE_64_BIT_ALL USE_64_BIT_INT "
                 "USE_ITHREADS USE_LARGE_FILES USE_LOCALE_COLLATE USE_LOCALE_NUMERIC "
                 "USE_LOCALE_TIME USE_PERLIO USE_REENTRANT_API",
    .in_curcop = 208,
    .in_curstackinfo = 224,
    .in_compiling = SL_PL_5360_COMPILING,
    .si_cxstack = 8,
    .si_prev = 16,
    .si_cxix = 32,
    .si_cxmax = 36,
    .ctx_size = 104,
    .ctx_type = 0,
    .ctx_u16 = 2,
    .ctx_oldcop = 16,
    .ctx_sub_cv = 72,
    .ctx_retop = 48,
    .op_type = 32,
    .cop_line = 36,
    .cop_file = 48,
    .cop_size = 88,
    .sv_any = 0,
    .sv_flags = 12,
    .cv_stash = 32,
    .cv_gv = 56,
    .cv_flags = 92,
    .gv_namehek = 32,
    .gv_stash = 40,
    .hv_aux = 32,
    .aux_name = 0,
    .aux_name_count = 28,
    .hek_len = 4,
    .hek_key = 8,
    .op_nextstate = 195,
    .op_dbstate = 196,
    .op_require = 342,
    .svt_pvcv = 13,
    .svt_pvgv = 9,
    .svt_pvhv = 12,
    .svf_ook = 0x02000000,
    .cvf_named = 0x8000,
    .cxt_typemask = 0xf,
    .cxt_sub = 9,
    .cxt_format = 10,
    .cxt_eval = 11,
    .cxp_evalblock = 0x40,
    .cxp_try = 0x80,
};

const struct sl_pl_layout *sl_pl_builtin_layout(int revision, int version, int subversion)
{
    if (revision == 5 && version == 36 && subversion == 0)
        return &sl_pl_5360;
    return NULL;
}

const struct sl_pl_layout *sl_pl_layout_in_use(void)
{
    return sl_pl_run_hi[0] ? sl_pl_lay : NULL;
}

/* [lo, hi) of the function named sym, or 0 when it is not there. */
static int sl_pl_func_range(const char *sym, uintptr_t *lo, uintptr_t *hi)
{
    const ElfW(Sym) *s = NULL;
    Dl_info info;
    void *f = dlsym(RTLD_DEFAULT, sym);
    if (!f || !dladdr1(f, &info, (void **)&s, RTLD_DL_SYMENT) || !s || s->st_size == 0)
        return 0;
    *lo = (uintptr_t)f;
    *hi = (uintptr_t)f + s->st_size;
    return 1;
}

/* [lo, hi) of the code of the module holding pc; left as is when unknown. */
static void sl_pl_code_range(uintptr_t pc, uintptr_t *lo, uintptr_t *hi)
{
    struct sl_module *m = pc ? sl_modules_find(pc) : NULL;
    if (m) {
        *lo = m->lo;
        *hi = m->hi;
    }
}

/* The brk heap, where glibc's malloc puts the main thread's memory (the
 * interpreter, its contexts, ops, SV arenas and strings): one mapping from
 * the start of the heap to the program break, read without a system call
 * (sbrk(0)). The start is not known without /proc, but nothing is mapped
 * between the main program's last segment and it: a page above the program
 * found readable once is in the heap, and so is every page from it up to
 * the break. So heap pages are probed once per process, not per capture. */
static uintptr_t sl_pl_exe_end;               /* end of the main program's segments */
static uintptr_t sl_pl_heap_lo = UINTPTR_MAX; /* lowest heap page found readable */

static int sl_pl_exe_end_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        if (ph->p_type == PT_LOAD && end > *(uintptr_t *)data)
            *(uintptr_t *)data = end;
    }
    return 1; /* the first object is the main program */
}

int sl_pl_init(void)
{
    uintptr_t lo[2] = {0, 0}, hi[2] = {0, 0};
    if (!sl_pl_func_range("Perl_runops_standard", &lo[0], &hi[0]))
        return 0; /* no Perl in this process: captures pay one range check */
    const unsigned char *rev = dlsym(RTLD_DEFAULT, "PL_revision");
    const unsigned char *ver = dlsym(RTLD_DEFAULT, "PL_version");
    const unsigned char *sub = dlsym(RTLD_DEFAULT, "PL_subversion");
    const char *bincompat = dlsym(RTLD_DEFAULT, "PL_bincompat_options");
    sl_pl_thr_key = dlsym(RTLD_DEFAULT, "PL_thr_key"); /* threaded builds only */
    sl_pl_curinterp = dlsym(RTLD_DEFAULT, "PL_curinterp");
    if (!rev || !ver || !sub || !bincompat || !sl_pl_thr_key || !sl_pl_curinterp)
        return 0;
    const struct sl_pl_layout *l = sl_pl_builtin_layout(*rev, *ver, *sub);
    if (!l || strcmp(bincompat, l->bincompat) != 0)
        return 0; /* another perl, or this one built otherwise: no guessing */
    sl_pl_func_range("Perl_runops_debug", &lo[1], &hi[1]);
    uintptr_t exe_end = 0;
    dl_iterate_phdr(sl_pl_exe_end_cb, &exe_end);
    sl_pl_exe_end = (exe_end + SL_PL_PAGE - 1) & ~(uintptr_t)(SL_PL_PAGE - 1);
    sl_pl_lay = l;
    sl_pl_code_range(lo[0], &sl_pl_mod_lo, &sl_pl_mod_hi);
    sl_pl_code_range(SL_SIGRETURN_HOME(), &sl_pl_tramp_range[0][0], &sl_pl_tramp_range[0][1]);
    sl_pl_code_range((uintptr_t)dlsym(RTLD_DEFAULT, "sigaction"), &sl_pl_tramp_range[1][0],
                     &sl_pl_tramp_range[1][1]);
    sl_pl_run_lo[1] = lo[1], sl_pl_run_hi[1] = hi[1];
    sl_pl_run_lo[0] = lo[0], sl_pl_run_hi[0] = hi[0];
    return 1;
}

/* ------------------------------------------------------------ reading */

/* One capture's reader: the pages it found readable. */
struct sl_pl_rd {
    uintptr_t page[SL_PL_PAGES];
    int npage, probes;
    uintptr_t brk; /* the program break, read once per capture */
};

static int sl_pl_page_ok(struct sl_pl_rd *r, uintptr_t page)
{
    uintptr_t lo = __atomic_load_n(&sl_pl_heap_lo, __ATOMIC_RELAXED);
    if (page >= lo && page + SL_PL_PAGE <= r->brk)
        return 1;
    for (int i = 0; i < r->npage; i++)
        if (r->page[i] == page)
            return 1;
    if (r->probes >= SL_PL_MAX_PROBES)
        return 0;
    r->probes++;
    if (sl_ownfd_validate((const void *)page) != 1)
        return 0;
    if (sl_pl_exe_end && page >= sl_pl_exe_end && page + SL_PL_PAGE <= r->brk && page < lo)
        __atomic_store_n(&sl_pl_heap_lo, page, __ATOMIC_RELAXED); /* any heap page is right */
    r->page[r->npage < SL_PL_PAGES ? r->npage++ : r->probes % SL_PL_PAGES] = page;
    return 1;
}

/* Can [p, p+len) be read? */
static int sl_pl_ok(struct sl_pl_rd *r, uintptr_t p, uintptr_t len)
{
    const uintptr_t top = (uintptr_t)1 << 47;
    if (p < SL_PL_PAGE || p >= top || len == 0 || len > top - p)
        return 0;
    for (uintptr_t pg = p & ~(uintptr_t)(SL_PL_PAGE - 1); pg < p + len; pg += SL_PL_PAGE)
        if (!sl_pl_page_ok(r, pg))
            return 0;
    return 1;
}

/* A pointer field: aligned and readable for len bytes, or 0. */
static inline uintptr_t sl_pl_ptr(struct sl_pl_rd *r, uintptr_t p, uintptr_t len)
{
    return (p & 7) == 0 && sl_pl_ok(r, p, len) ? p : 0;
}

static inline uintptr_t sl_pl_ld(uintptr_t base, uint32_t off)
{
    return *(const volatile uintptr_t *)(base + off);
}

static inline uint32_t sl_pl_ld32(uintptr_t base, uint32_t off)
{
    return *(const volatile uint32_t *)(base + off);
}

/* The body (SvANY) of the SV at sv when it is of the given type, readable
 * for len bytes; else 0. */
static uintptr_t sl_pl_body(struct sl_pl_rd *r, uintptr_t sv, int type, uint32_t len)
{
    const struct sl_pl_layout *l = sl_pl_lay;
    if (!sl_pl_ptr(r, sv, l->sv_flags + 4) || (int)(sl_pl_ld32(sv, l->sv_flags) & 0xff) != type)
        return 0;
    return sl_pl_ptr(r, sl_pl_ld(sv, l->sv_any), len);
}

/* Append up to n bytes of s (stopping at a NUL) to dst[*k..cap). */
static void sl_pl_put(char *dst, size_t *k, size_t cap, const char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i] && *k + 1 < cap; i++)
        dst[(*k)++] = s[i];
    dst[*k] = '\0';
}

/* Append the key of the HEK at hek; 0 when it is unreadable. */
static int sl_pl_hek(struct sl_pl_rd *r, uintptr_t hek, char *dst, size_t *k, size_t cap)
{
    const struct sl_pl_layout *l = sl_pl_lay;
    if (!sl_pl_ptr(r, hek, l->hek_key))
        return 0;
    int32_t len = (int32_t)sl_pl_ld32(hek, l->hek_len);
    if (len < 0)
        return 0;
    if (len > SL_LFRAME_NAME_MAX)
        len = SL_LFRAME_NAME_MAX;
    if (len && !sl_pl_ok(r, hek + l->hek_key, (uintptr_t)len))
        return 0;
    sl_pl_put(dst, k, cap, (const char *)(hek + l->hek_key), (size_t)len);
    return 1;
}

/* Append the name of the stash (package) hv; 0 when it has none. */
static int sl_pl_stash_name(struct sl_pl_rd *r, uintptr_t hv, char *dst, size_t *k, size_t cap)
{
    const struct sl_pl_layout *l = sl_pl_lay;
    uintptr_t body = sl_pl_body(r, hv, l->svt_pvhv, l->hv_aux + l->aux_name_count + 4);
    if (!body || !(sl_pl_ld32(hv, l->sv_flags) & l->svf_ook))
        return 0;
    uintptr_t aux = body + l->hv_aux;
    uintptr_t name = sl_pl_ld(aux, l->aux_name);
    if (name && sl_pl_ld32(aux, l->aux_name_count) != 0) /* a list of names: the first */
        name = sl_pl_ptr(r, name, 8) ? sl_pl_ld(name, 0) : 0;
    return name && sl_pl_hek(r, name, dst, k, cap);
}

/* The name of the sub cv as caller() gives it: Package::name. Never
 * through CvGV(), which may create a GV for a sub named by a HEK only. */
static void sl_pl_sub_name(struct sl_pl_rd *r, uintptr_t cv, char *dst, size_t cap)
{
    const struct sl_pl_layout *l = sl_pl_lay;
    size_t k = 0;
    uintptr_t hek = 0, stash = 0;
    dst[0] = '\0';
    uintptr_t body = sl_pl_body(r, cv, l->svt_pvcv, l->cv_flags + 4);
    if (body) {
        uintptr_t gv = sl_pl_ld(body, l->cv_gv);
        if (sl_pl_ld32(body, l->cv_flags) & l->cvf_named) {
            hek = gv;
            stash = sl_pl_ld(body, l->cv_stash);
        } else {
            uintptr_t gvb = sl_pl_body(r, gv, l->svt_pvgv, l->gv_stash + 8);
            if (gvb) {
                hek = sl_pl_ld(gvb, l->gv_namehek);
                stash = sl_pl_ld(gvb, l->gv_stash);
            }
        }
    }
    if (stash && sl_pl_stash_name(r, stash, dst, &k, cap))
        sl_pl_put(dst, &k, cap, "::", 2);
    if (!hek || !sl_pl_hek(r, hek, dst, &k, cap))
        sl_pl_put(dst, &k, cap, "__ANON__", 8);
}

/* The file and line of the statement cop, as far as they can be read. */
static void sl_pl_cop(struct sl_pl_rd *r, uintptr_t interp, uintptr_t cop, char *file, size_t cap,
                      int *line)
{
    const struct sl_pl_layout *l = sl_pl_lay;
    file[0] = '\0';
    *line = 0;
    if (!sl_pl_ptr(r, cop, l->cop_size))
        return;
    unsigned type = *(const volatile uint16_t *)(cop + l->op_type) & 0x1ff;
    if (type != (unsigned)l->op_nextstate && type != (unsigned)l->op_dbstate &&
        cop != interp + l->in_compiling)
        return; /* no statement */
    *line = (int)sl_pl_ld32(cop, l->cop_line);
    uintptr_t s = sl_pl_ld(cop, l->cop_file);
    size_t k = 0;
    /* A C string: read a page at a time. */
    while (s && k < SL_LFRAME_NAME_MAX && k + 1 < cap) {
        if (!sl_pl_ok(r, s, 1))
            break;
        uintptr_t room = SL_PL_PAGE - (s & (SL_PL_PAGE - 1));
        size_t before = k;
        sl_pl_put(file, &k, cap, (const char *)s, room);
        if (k - before < room)
            break; /* NUL found, or dst full */
        s += room;
    }
    if (*line < 0)
        *line = 0;
}

/* ------------------------------------------------------------ frames */

struct sl_pl_walk {
    struct sl_pl_rd rd;
    uintptr_t interp;
    uintptr_t si;  /* stackinfo being walked; 0 once the main program is next */
    int32_t ix;    /* next context of si to look at */
    uintptr_t cop; /* the statement of the next frame */
    int hops, steps, depth;
    int done; /* every frame given */
};

/* Move w to the next stackinfo down; 0 when there is none. */
static int sl_pl_next_si(struct sl_pl_walk *w, uintptr_t si)
{
    const struct sl_pl_layout *l = sl_pl_lay;
    w->si = 0;
    if (w->hops++ >= SL_PL_MAX_SI || !sl_pl_ptr(&w->rd, si, l->si_cxmax + 4))
        return 0;
    int32_t ix = (int32_t)sl_pl_ld32(si, l->si_cxix);
    int32_t max = (int32_t)sl_pl_ld32(si, l->si_cxmax);
    if (ix < -1 || ix > max || max >= SL_PL_MAX_CX)
        return 0;
    w->si = si;
    w->ix = ix;
    return 1;
}

static int sl_pl_start(struct sl_pl_walk *w)
{
    const struct sl_pl_layout *l = sl_pl_lay;
    memset(w, 0, sizeof *w);
    void *brk = sbrk(0);
    w->rd.brk = brk == (void *)-1 ? 0 : (uintptr_t)brk; /* 0: no heap pages known */
    if (!*(void *const volatile *)sl_pl_curinterp)
        return 0; /* no interpreter yet: the key may not even exist */
    uintptr_t interp = (uintptr_t)pthread_getspecific(*sl_pl_thr_key);
    if (!sl_pl_ptr(&w->rd, interp, l->in_compiling + l->cop_size))
        return 0; /* not a Perl thread */
    w->interp = interp;
    w->cop = sl_pl_ld(interp, l->in_curcop);
    sl_pl_next_si(w, sl_pl_ld(interp, l->in_curstackinfo));
    return 1;
}

/* The next Perl frame of w as a tagged pc (0 when it could not be
 * interned), and in *entry whether it is the first frame its run loop
 * activation ran. Returns 0 when there is none left. */
static int sl_pl_next(struct sl_pl_walk *w, uintptr_t *pc, int *entry)
{
    const struct sl_pl_layout *l = sl_pl_lay;
    char fn[SL_LFRAME_NAME_MAX + 1], file[SL_LFRAME_NAME_MAX + 1];
    int line;
    *entry = 0;
    if (w->done || w->depth >= SL_PL_MAX_DEPTH)
        return 0;
    while (w->si) {
        if (w->ix < 0) {
            sl_pl_next_si(w, sl_pl_ld(w->si, l->si_prev));
            continue;
        }
        if (w->steps++ >= SL_PL_MAX_STEPS)
            return w->done = 1, 0;
        uintptr_t stack = sl_pl_ld(w->si, l->si_cxstack);
        uintptr_t cx = stack + (uintptr_t)w->ix * l->ctx_size;
        w->ix--;
        if (!sl_pl_ptr(&w->rd, stack, 8) || !sl_pl_ptr(&w->rd, cx, l->ctx_size))
            return w->done = 1, 0;
        unsigned flags = *(const volatile uint8_t *)(cx + l->ctx_type);
        int type = (int)(flags & (unsigned)l->cxt_typemask);
        uintptr_t retop = sl_pl_ld(cx, l->ctx_retop);
        if (type == l->cxt_sub || type == l->cxt_format) {
            sl_pl_sub_name(&w->rd, sl_pl_ld(cx, l->ctx_sub_cv), fn, sizeof fn);
        } else if (type == l->cxt_eval && !(flags & (unsigned)l->cxp_try) &&
                   !((flags & (unsigned)l->cxp_evalblock) && !retop)) {
            /* eval {}, eval '' and require; not call_sv's own eval scope */
            unsigned op = *(const volatile uint16_t *)(cx + l->ctx_u16) >> 7;
            strcpy(fn, op == (unsigned)l->op_require ? "(require)" : "(eval)");
        } else {
            continue;
        }
        sl_pl_cop(&w->rd, w->interp, w->cop, file, sizeof file, &line);
        w->cop = sl_pl_ld(cx, l->ctx_oldcop);
        *entry = retop == 0;
        *pc = sl_lframe_intern(SL_LANG_PERL, fn, file, line);
        w->depth++;
        return 1;
    }
    sl_pl_cop(&w->rd, w->interp, w->cop, file, sizeof file, &line);
    *pc = sl_lframe_intern(SL_LANG_PERL, "main", file, line);
    w->done = 1;
    w->depth++;
    return 1;
}

/* Append the Perl frames of the next run loop activation to out[*k..max);
 * the last activation takes every frame left. */
static int sl_pl_activation(struct sl_pl_walk *w, uintptr_t *out, int *k, int max, int last)
{
    int added = 0, entry;
    uintptr_t pc;
    while (*k < max && sl_pl_next(w, &pc, &entry)) {
        if (pc) {
            out[(*k)++] = pc;
            added++;
        }
        if (entry && !last)
            break;
    }
    return added;
}

/* Is pc the kernel's return into a signal trampoline (glibc's __restore_rt,
 * or a sanitizer's: SL_SIGRETURN_CODE, rawsys.h)? Only pcs inside the code that
 * may hold one are read. */
static int sl_pl_is_sigreturn(uintptr_t pc)
{
    static const unsigned char tramp[] = SL_SIGRETURN_CODE;
    for (int r = 0; r < 2; r++)
        if (pc >= sl_pl_tramp_range[r][0] && pc + sizeof tramp <= sl_pl_tramp_range[r][1])
            return memcmp((const void *)pc, tramp, sizeof tramp) == 0;
    return 0;
}

/* A C signal handler that interrupted the interpreter may find its context
 * stack mid-update: Perl frames are read only when no signal frame lies
 * between the hook and the innermost run loop. Perl's own %SIG handlers
 * run from the loop (deferred signals), not in the signal frame. */
static int sl_pl_interrupted(const uintptr_t *in, int n)
{
    for (int i = 0; i < n && !sl_pl_is_runops(in[i]); i++)
        if (sl_pl_is_sigreturn(in[i]))
            return 1;
    return 0;
}

static inline int sl_pl_is_interp(uintptr_t pc)
{
    return pc - 1 - sl_pl_mod_lo < sl_pl_mod_hi - sl_pl_mod_lo;
}

int sl_pl_splice(const uintptr_t *in, int n, uintptr_t *out, int max)
{
    struct sl_pl_walk w;
    int k = 0, held = -1; /* in[held..i): natives since the last Perl frame */
    int runs = 0, seen = 0, have = 0;
    if (sl_pl_lay && !sl_pl_interrupted(in, n) && sl_pl_start(&w)) {
        have = 1;
        for (int i = 0; i < n; i++)
            runs += sl_pl_is_runops(in[i]);
    }
    for (int i = 0; i < n && k < max; i++) {
        if (have && sl_pl_is_runops(in[i])) {
            for (int j = held; j >= 0 && j < i && k < max; j++)
                if (!sl_pl_is_interp(in[j]))
                    out[k++] = in[j]; /* glue dropped, other modules kept */
            /* An activation with no frame of its own once frames were
             * spliced (a sort block's: it runs in no sub; or the walk has
             * given them all) is glue too. */
            if (sl_pl_activation(&w, out, &k, max, ++seen == runs) > 0 || held >= 0) {
                held = i + 1;
                continue;
            }
        }
        if (held < 0 && k < max)
            out[k++] = in[i];
    }
    for (int j = held; j >= 0 && j < n && k < max; j++)
        out[k++] = in[j]; /* no Perl frame came after them: all kept */
    return k;
}

/* Perl's sub calls do not recurse in C: the native stack is short, the
 * splice lengthens it. */
static int sl_pl_native_depth(int want)
{
    return want;
}

static int sl_pl_owns(uintptr_t pc)
{
    return sl_pl_is_runops(pc);
}

const struct sl_lang_provider sl_lang_perl = {
    .name = "perl",
    .init = sl_pl_init,
    .owns = sl_pl_owns,
    .splice = sl_pl_splice,
    .native_depth = sl_pl_native_depth,
};

/* Python frames in captured stacks (CPython 3.11-3.13), read in-process.
 *
 * A socket call from Python reaches our hook with the GIL released, deep in
 * C: recv <- sock_recv_impl <- ... <- _PyEval_EvalFrameDefault <- ... Each
 * activation of _PyEval_EvalFrameDefault runs one or more Python frames (a
 * Python-to-Python call does not recurse in C). The calling thread's frames
 * hang off its thread state: PyGILState_GetThisThreadState() is a TSS read
 * (pthread_getspecific) that needs no GIL and takes no lock. The chain, from
 * the innermost frame, splits into activations at entry frames: is_entry
 * (3.11) marks the first frame an activation ran; 3.12+ pushes a frame
 * owned by the C stack (FRAME_OWNED_BY_CSTACK) below it.
 *
 * Nothing here calls Python: no GIL, no allocation, no lock of the
 * interpreter's. The thread's own frames cannot change while it is in a C
 * call, but a signal can land mid-update, and a finalizing interpreter frees
 * thread states under daemon threads: every pointer followed is checked
 * (aligned, in user space, objects of the type they must be: PyCode_Type,
 * PyUnicode_Type, PyBytes_Type), strings and tables are bounded, the walk is
 * at most SL_PY_MAX_DEPTH frames. The line comes from our own port of the
 * location-table parser, bounded by the table's size: PyCode_Addr2Line is
 * pure computation too, but trusts the table and the offset it is given.
 *
 * Layouts: 3.13 describes its own structures in _Py_DebugOffsets, at the
 * start of _PyRuntime; 3.11 and 3.12 have none, so their offsets are built
 * in (tests/unit/test_pyframes.c checks them against the installed headers).
 * The minor version comes from the exported Py_Version. */
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <signal.h>
#include <string.h>

#include "lframe.h"
#include "modules.h"
#include "langframes.h"
#include "pyframes.h"
#include "rawsys.h"

#define SL_PY_MAX_DEPTH 128
#define SL_PY_MAX_STR 4096         /* characters read from a name */
#define SL_PY_MAX_TABLE (1L << 24) /* location table bytes */

uintptr_t sl_py_eval_lo SL_HIDDEN, sl_py_eval_hi SL_HIDDEN;

static struct sl_py_layout sl_py_lay;
static uintptr_t (*sl_py_tstate_fn)(void);
static uintptr_t sl_py_code_type, sl_py_str_type, sl_py_bytes_type;
static uintptr_t sl_py_runtime;              /* _PyRuntime */
static uintptr_t sl_py_mod_lo, sl_py_mod_hi; /* the interpreter's module's code */
/* Code that may hold the signal trampoline: libc's (the vDSO's on arm64:
 * SL_SIGRETURN_HOME, rawsys.h), and that of whoever
 * provides the program's sigaction (a sanitizer runtime installs handlers
 * with a restorer of its own). */
static uintptr_t sl_py_tramp_range[2][2];

/* ------------------------------------------------------------ layouts */

static const struct sl_py_layout sl_py_311 = {
    .minor = 11,
    .rt_finalizing = 24,
    .has_cframe = 1,
    .ts_frame = 56,
    .cf_current = 8,
    .fr_previous = 48,
    .fr_code = 32,
    .fr_instr = 56,
    .fr_entry = 68,
    .co_size = 16,
    .co_filename = 112,
    .co_name = 120,
    .co_qualname = 128,
    .co_linetable = 136,
    .co_firstlineno = 72,
    .co_code = 184,
    .by_size = 16,
    .by_data = 32,
    .str_length = 16,
    .str_state = 32,
    .str_ascii_size = 48,
    .str_compact_size = 72,
};

static const struct sl_py_layout sl_py_312 = {
    .minor = 12,
    .rt_finalizing = 24,
    .has_cframe = 1,
    .ts_frame = 56,
    .cf_current = 0,
    .fr_previous = 8,
    .fr_code = 0,
    .fr_instr = 56,
    .fr_entry = 70,
    .entry_is_owner = 1,
    .owner_cstack = 3,
    .co_size = 16,
    .co_filename = 112,
    .co_name = 120,
    .co_qualname = 128,
    .co_linetable = 136,
    .co_firstlineno = 68,
    .co_code = 192,
    .by_size = 16,
    .by_data = 32,
    .str_length = 16,
    .str_state = 32,
    .str_ascii_size = 40,
    .str_compact_size = 56,
};

const struct sl_py_layout *sl_py_builtin_layout(int minor)
{
    return minor == 11 ? &sl_py_311 : minor == 12 ? &sl_py_312 : NULL;
}

const struct sl_py_layout *sl_py_layout_in_use(void)
{
    return sl_py_eval_hi ? &sl_py_lay : NULL;
}

/* CPython 3.13's _Py_DebugOffsets (Include/internal/pycore_runtime.h), up
 * to the part we read; every field is a uint64_t. */
struct sl_py_debug_offsets {
    char cookie[8];
    uint64_t version, free_threaded;
    uint64_t rt_size, rt_finalizing, rt_interpreters_head, interpreter_state[13];
    uint64_t ts_size, ts_prev, ts_next, ts_interp, ts_current_frame, ts_rest[4];
    uint64_t fr_size, fr_previous, fr_executable, fr_instr_ptr, fr_localsplus, fr_owner;
    uint64_t co_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno, co_argcount,
        co_localsplusnames, co_localspluskinds, co_code_adaptive;
    uint64_t pyobject[2], type_object[4], tuple_object[3], list_object[3], dict_object[3],
        float_object[2], long_object[3];
    uint64_t by_size, by_ob_size, by_ob_sval;
    uint64_t str_size, str_state, str_length, str_asciiobject_size;
};

static int sl_py_layout_313(const struct sl_py_debug_offsets *d, unsigned long version)
{
    if (memcmp(d->cookie, "xdebugpy", 8) != 0 || (d->version >> 16) != (version >> 16) ||
        d->free_threaded)
        return -1;
    uint64_t all[] = {
        d->rt_finalizing,       d->ts_current_frame, d->fr_previous,    d->fr_executable,
        d->fr_instr_ptr,        d->fr_owner,         d->co_filename,    d->co_name,
        d->co_qualname,         d->co_linetable,     d->co_firstlineno, d->co_code_adaptive,
        d->by_ob_size,          d->by_ob_sval,       d->str_state,      d->str_length,
        d->str_asciiobject_size};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] >= 4096)
            return -1;
    sl_py_lay = (struct sl_py_layout){
        .minor = 13,
        .rt_finalizing = (uint32_t)d->rt_finalizing,
        .ts_frame = (uint32_t)d->ts_current_frame,
        .fr_previous = (uint32_t)d->fr_previous,
        .fr_code = (uint32_t)d->fr_executable,
        .fr_instr = (uint32_t)d->fr_instr_ptr,
        .fr_entry = (uint32_t)d->fr_owner,
        .entry_is_owner = 1,
        .owner_cstack = 3, /* FRAME_OWNED_BY_CSTACK */
        .co_size = 16,
        .co_filename = (uint32_t)d->co_filename,
        .co_name = (uint32_t)d->co_name,
        .co_qualname = (uint32_t)d->co_qualname,
        .co_linetable = (uint32_t)d->co_linetable,
        .co_firstlineno = (uint32_t)d->co_firstlineno,
        .co_code = (uint32_t)d->co_code_adaptive,
        .by_size = (uint32_t)d->by_ob_size,
        .by_data = (uint32_t)d->by_ob_sval,
        .str_length = (uint32_t)d->str_length,
        .str_state = (uint32_t)d->str_state,
        .str_ascii_size = (uint32_t)d->str_asciiobject_size,
        /* PyCompactUnicodeObject: PyASCIIObject, utf8_length, utf8 */
        .str_compact_size = (uint32_t)d->str_asciiobject_size + 16,
    };
    return 0;
}

/* The definition the process uses: for data that is the main program's
 * copy when it links libpython and refers to the object (copy relocation),
 * so no check that it lies in the interpreter's own module. */
static void *sl_py_sym(const char *name)
{
    return dlsym(RTLD_DEFAULT, name);
}

static int sl_py_pick_layout(void)
{
    const unsigned long *version = sl_py_sym("Py_Version");
    if (!version || (*version >> 24) != 3)
        return -1; /* before 3.11 (no Py_Version), or unknown */
    int minor = (int)((*version >> 16) & 0xff);
    if (minor == 13) {
        const struct sl_py_debug_offsets *d = sl_py_sym("_PyRuntime");
        return d ? sl_py_layout_313(d, *version) : -1;
    }
    const struct sl_py_layout *l = sl_py_builtin_layout(minor);
    if (!l)
        return -1;
    sl_py_lay = *l;
    return 0;
}

/* [lo, hi) of the code of the module holding pc; left as is when unknown. */
static void sl_py_code_range(uintptr_t pc, uintptr_t *lo, uintptr_t *hi)
{
    struct sl_module *m = pc ? sl_modules_find(pc) : NULL;
    if (m) {
        *lo = m->lo;
        *hi = m->hi;
    }
}

void sl_py_init(void)
{
    const ElfW(Sym) *sym = NULL;
    Dl_info info;
    void *eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");

    if (!eval || !dladdr1(eval, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || sym->st_size == 0)
        return; /* no CPython in this process: captures pay one range check */
    sl_py_tstate_fn = (uintptr_t(*)(void))sl_py_sym("PyGILState_GetThisThreadState");
    sl_py_code_type = (uintptr_t)sl_py_sym("PyCode_Type");
    sl_py_str_type = (uintptr_t)sl_py_sym("PyUnicode_Type");
    sl_py_bytes_type = (uintptr_t)sl_py_sym("PyBytes_Type");
    sl_py_runtime = (uintptr_t)sl_py_sym("_PyRuntime");
    if (!sl_py_tstate_fn || !sl_py_code_type || !sl_py_str_type || !sl_py_bytes_type ||
        !sl_py_runtime || sl_py_pick_layout() != 0)
        return;
    sl_py_code_range((uintptr_t)eval, &sl_py_mod_lo, &sl_py_mod_hi);
    sl_py_code_range(SL_SIGRETURN_HOME(), &sl_py_tramp_range[0][0], &sl_py_tramp_range[0][1]);
    sl_py_code_range((uintptr_t)sl_py_sym("sigaction"), &sl_py_tramp_range[1][0],
                     &sl_py_tramp_range[1][1]);
    sl_py_eval_lo = (uintptr_t)eval;
    sl_py_eval_hi = (uintptr_t)eval + sym->st_size;
}

/* ------------------------------------------------------------ reading */

/* A pointer the walk may follow: user space, aligned, not the zero page. */
static inline int sl_py_ptr_ok(uintptr_t p)
{
    return p >= 4096 && p < ((uintptr_t)1 << 47) && (p & 7) == 0;
}

static inline uintptr_t sl_py_ld(uintptr_t base, uint32_t off)
{
    return *(const volatile uintptr_t *)(base + off);
}

static inline int sl_py_is(uintptr_t obj, uintptr_t type)
{
    return sl_py_ptr_ok(obj) && sl_py_ld(obj, 8) == type; /* ob_type */
}

/* Append code point c as UTF-8 if it fits in dst[*n..cap). */
static int sl_py_put_utf8(char *dst, size_t *n, size_t cap, uint32_t c)
{
    char b[4];
    size_t k;
    if (c >= 0xd800 && c < 0xe000)
        c = '?'; /* lone surrogate */
    if (c < 0x80) {
        b[0] = (char)c, k = 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xc0 | c >> 6), b[1] = (char)(0x80 | (c & 0x3f)), k = 2;
    } else if (c < 0x10000) {
        b[0] = (char)(0xe0 | c >> 12), b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        b[2] = (char)(0x80 | (c & 0x3f)), k = 3;
    } else if (c < 0x110000) {
        b[0] = (char)(0xf0 | c >> 18), b[1] = (char)(0x80 | ((c >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((c >> 6) & 0x3f)), b[3] = (char)(0x80 | (c & 0x3f)), k = 4;
    } else {
        b[0] = '?', k = 1;
    }
    if (*n + k >= cap)
        return -1;
    memcpy(dst + *n, b, k);
    *n += k;
    return 0;
}

/* A compact str object as UTF-8 in dst (cap bytes, NUL-terminated); 0 when
 * it is no plausible str. */
static int sl_py_str(uintptr_t obj, char *dst, size_t cap)
{
    const struct sl_py_layout *l = &sl_py_lay;
    dst[0] = '\0';
    if (!sl_py_is(obj, sl_py_str_type))
        return 0;
    long len = (long)sl_py_ld(obj, l->str_length);
    uint32_t state = *(const volatile uint32_t *)(obj + l->str_state);
    unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
    if (len < 0 || !compact || (kind != 1 && kind != 2 && kind != 4))
        return 0;
    if (len > SL_PY_MAX_STR)
        len = SL_PY_MAX_STR;
    const unsigned char *data =
        (const unsigned char *)obj + (ascii ? l->str_ascii_size : l->str_compact_size);
    size_t n = 0;
    for (long i = 0; i < len; i++) {
        uint32_t c = kind == 1   ? data[i]
                     : kind == 2 ? ((const uint16_t *)data)[i]
                                 : ((const uint32_t *)data)[i];
        if (c == 0 || sl_py_put_utf8(dst, &n, cap, c) != 0)
            break;
    }
    dst[n] = '\0';
    return 1;
}

/* ------------------------------------------------------------ lines */

/* Location table varints: 6 bits a byte, bit 6 "more". */
static const uint8_t *sl_py_varint(const uint8_t *p, const uint8_t *end, unsigned *val)
{
    unsigned v = 0, shift = 0, b;
    do {
        if (p >= end || shift > 30)
            return NULL;
        b = *p++;
        v |= (b & 63u) << shift;
        shift += 6;
    } while (b & 64);
    *val = v;
    return p;
}

/* Objects/codeobject.c: get_line_delta. */
static int sl_py_line_delta(const uint8_t *p, const uint8_t *end)
{
    unsigned code = (*p >> 3) & 15, u;
    switch (code) {
    case 13: /* PY_CODE_LOCATION_INFO_NO_COLUMNS */
    case 14: /* PY_CODE_LOCATION_INFO_LONG */
        if (!sl_py_varint(p + 1, end, &u))
            return 0;
        return (u & 1) ? -(int)(u >> 1) : (int)(u >> 1);
    case 11: /* PY_CODE_LOCATION_INFO_ONE_LINE1 */
        return 1;
    case 12: /* PY_CODE_LOCATION_INFO_ONE_LINE2 */
        return 2;
    default: /* NONE, ONE_LINE0, the short forms: same line */
        return 0;
    }
}

int sl_py_addr2line(const uint8_t *table, long len, int firstlineno, long addr)
{
    const uint8_t *p = table, *end = table + len;
    long start = 0;
    int line = firstlineno;

    if (addr < 0)
        return firstlineno;
    while (p < end) {
        unsigned code = (*p >> 3) & 15;
        line += sl_py_line_delta(p, end);
        start += 2 * ((*p & 7) + 1); /* code units of 2 bytes */
        if (addr < start)
            return code == 15 ? -1 : line; /* PY_CODE_LOCATION_INFO_NONE */
        do
            p++;
        while (p < end && !(*p & 0x80));
    }
    return -1;
}

/* ------------------------------------------------------------ frames */

/* The tagged pc of the Python frame at fr, or 0 when it is no plausible
 * frame of running code. */
static uintptr_t sl_py_frame(uintptr_t fr)
{
    const struct sl_py_layout *l = &sl_py_lay;
    char fn[SL_LFRAME_NAME_MAX + 1], file[SL_LFRAME_NAME_MAX + 1];
    uintptr_t co = sl_py_ld(fr, l->fr_code);
    if (!sl_py_is(co, sl_py_code_type))
        return 0;
    long units = (long)sl_py_ld(co, l->co_size);
    uintptr_t instr = sl_py_ld(fr, l->fr_instr);
    long lasti = ((long)instr - (long)(co + l->co_code)) / 2;
    if (lasti < 0 || lasti >= units)
        return 0; /* not started yet (or no code of this object) */
    int line = -1;
    uintptr_t tab = sl_py_ld(co, l->co_linetable);
    if (sl_py_is(tab, sl_py_bytes_type)) {
        long tlen = (long)sl_py_ld(tab, l->by_size);
        int first = *(const volatile int *)(co + l->co_firstlineno);
        if (tlen >= 0 && tlen < SL_PY_MAX_TABLE)
            line = sl_py_addr2line((const uint8_t *)tab + l->by_data, tlen, first, 2 * lasti);
    }
    if (!sl_py_str(sl_py_ld(co, l->co_qualname), fn, sizeof fn) || !fn[0])
        sl_py_str(sl_py_ld(co, l->co_name), fn, sizeof fn);
    sl_py_str(sl_py_ld(co, l->co_filename), file, sizeof file);
    return sl_lframe_intern(SL_LANG_PYTHON, fn, file, line > 0 ? line : 0);
}

/* Is fr the frame at which one activation of the eval loop ends? 3.11: it
 * is the activation's first frame (is_entry), and is one of its frames;
 * 3.12+: it is the C stack's marker frame below them, and is none. */
static inline int sl_py_is_entry(uintptr_t fr)
{
    const struct sl_py_layout *l = &sl_py_lay;
    char v = *(const volatile char *)(fr + l->fr_entry);
    return l->entry_is_owner ? v == l->owner_cstack : v != 0;
}

struct sl_py_walk {
    uintptr_t fr; /* next frame, 0 when the chain ended */
    int depth;
};

/* Append the Python frames of the next eval activation to out[*k..max). */
static int sl_py_activation(struct sl_py_walk *w, uintptr_t *out, int *k, int max)
{
    const struct sl_py_layout *l = &sl_py_lay;
    int added = 0;
    while (w->fr && w->depth++ < SL_PY_MAX_DEPTH) {
        uintptr_t fr = w->fr;
        int entry = sl_py_is_entry(fr);
        uintptr_t prev = sl_py_ld(fr, l->fr_previous);
        w->fr = sl_py_ptr_ok(prev) ? prev : 0;
        if (!(entry && l->entry_is_owner) && *k < max) {
            uintptr_t pc = sl_py_frame(fr);
            if (pc) {
                out[(*k)++] = pc;
                added++;
            }
        }
        if (entry)
            return added;
    }
    w->fr = 0;
    return added;
}

/* The calling thread's innermost frame, or 0: none, no Python thread, or
 * an interpreter finalizing (it frees other threads' states and frame
 * stacks while daemon threads may still sit in a blocking call). */
static uintptr_t sl_py_current_frame(void)
{
    const struct sl_py_layout *l = &sl_py_lay;
    if (__atomic_load_n((const uintptr_t *)(sl_py_runtime + l->rt_finalizing), __ATOMIC_ACQUIRE))
        return 0;
    uintptr_t ts = sl_py_tstate_fn();
    if (!sl_py_ptr_ok(ts))
        return 0;
    uintptr_t p = sl_py_ld(ts, l->ts_frame);
    if (l->has_cframe) {
        if (!sl_py_ptr_ok(p))
            return 0;
        p = sl_py_ld(p, l->cf_current);
    }
    return sl_py_ptr_ok(p) ? p : 0;
}

/* Is pc the kernel's return into a signal trampoline (glibc's __restore_rt,
 * or a sanitizer's: SL_SIGRETURN_CODE, rawsys.h), i.e. a signal frame? Only pcs
 * inside the code that may hold one are read (an unwinder may report a
 * bogus pc), and only within that code. */
static int sl_py_is_sigreturn(uintptr_t pc)
{
    static const unsigned char tramp[] = SL_SIGRETURN_CODE;
    for (int r = 0; r < 2; r++)
        if (pc >= sl_py_tramp_range[r][0] && pc + sizeof tramp <= sl_py_tramp_range[r][1])
            return memcmp((const void *)pc, tramp, sizeof tramp) == 0;
    return 0;
}

/* A signal handler that interrupted the interpreter itself may find its
 * frame chain mid-update (a frame linked before its fields are set): Python
 * frames are read only when no signal frame lies between the hook and the
 * innermost eval activation. Python-level handlers run from the eval loop,
 * not in the signal frame, and keep their frames. */
static int sl_py_interrupted(const uintptr_t *in, int n)
{
    for (int i = 0; i < n && !sl_py_is_eval(in[i]); i++)
        if (sl_py_is_sigreturn(in[i]))
            return 1;
    return 0;
}

static inline int sl_py_is_interp(uintptr_t pc)
{
    return pc - 1 - sl_py_mod_lo < sl_py_mod_hi - sl_py_mod_lo;
}

int sl_py_splice(const uintptr_t *in, int n, uintptr_t *out, int max)
{
    struct sl_py_walk w = {0};
    int k = 0, held = -1; /* in[held..i): natives since the last Python frame */
    if (sl_py_tstate_fn && !sl_py_interrupted(in, n))
        w.fr = sl_py_current_frame();
    for (int i = 0; i < n && k < max; i++) {
        if (sl_py_is_eval(in[i]) && w.fr) {
            for (int j = held; j >= 0 && j < i && k < max; j++)
                if (!sl_py_is_interp(in[j]))
                    out[k++] = in[j]; /* glue dropped, other modules kept */
            if (sl_py_activation(&w, out, &k, max) > 0) {
                held = i + 1;
                continue;
            }
            held = -1;
        }
        if (held < 0)
            out[k++] = in[i];
    }
    for (int j = held; j >= 0 && j < n && k < max; j++)
        out[k++] = in[j]; /* no Python frame came after them: all kept */
    return k;
}

static int sl_py_provider_init(void)
{
    sl_py_init();
    return sl_py_eval_hi != 0;
}

static int sl_py_owns(uintptr_t pc)
{
    return sl_py_is_eval(pc);
}

const struct sl_lang_provider sl_lang_python = {
    .name = "python",
    .init = sl_py_provider_init,
    .owns = sl_py_owns,
    .splice = sl_py_splice,
    .native_depth = sl_py_native_depth,
};

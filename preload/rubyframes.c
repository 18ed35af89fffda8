/* Ruby frames in captured stacks (CRuby 3.1), read in-process.
 *
 * A socket call from Ruby reaches our hook deep in C, with or without the
 * GVL (Socket#connect_nonblock keeps it, TCPSocket.new and blocking reads
 * release it): read <- rb_io_... <- vm_call_cfunc... <- vm_exec_core <-
 * rb_vm_exec <- ... Each activation of rb_vm_exec runs one or more Ruby
 * frames (a Ruby-to-Ruby call does not recurse in C); a C method calling
 * back into Ruby (Array#each, Integer#times, rb_funcall) starts another.
 *
 * The calling thread's frames are its execution context's control frames:
 * the thread-local ruby_current_ec (set for as long as the thread is a Ruby
 * thread, NULL on any other), whose cfp is the innermost frame; the frames
 * above it run up to the end of the VM stack. The first frame an
 * activation ran carries VM_FRAME_FLAG_FINISH; the VM's frames of C
 * methods (VM_FRAME_FLAG_CFRAME) stand for native frames and are left out.
 * The line comes from the iseq's instruction table (its succinct index,
 * iseq.c: succ_index_lookup) at the frame's pc.
 *
 * Nothing here runs Ruby's code: no GVL, no allocation, no lock of the
 * VM's. Only this thread changes its own control frames, and it is in a C
 * call; but another thread holding the GVL may run the GC (a compaction
 * moves iseqs and strings, leaving T_MOVED in their place): every pointer
 * followed is checked (in user space, aligned, an object of the type it
 * must be: an imemo iseq, a String, an Array), strings and tables are
 * bounded, and the walk is at most SL_RB_MAX_DEPTH frames.
 *
 * Layout: CRuby 3.1's is built in (tests/unit/test_rubyframes.c checks it
 * against the installed headers); any other version (ruby_api_version) is
 * refused. */
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "langframes.h"
#include "lframe.h"
#include "modules.h"
#include "rubyframes.h"
#include "rawsys.h"

#define SL_RB_MAX_DEPTH 128
#define SL_RB_MAX_STACK (1L << 28) /* VM stack words */
#define SL_RB_MAX_TABLE (1L << 24) /* instructions, table entries */

/* vm_core.h */
#define SL_RB_FLAG_FINISH 0x0020
#define SL_RB_FLAG_CFRAME 0x0080
#define SL_RB_T_MASK 0x1f
#define SL_RB_T_STRING 0x05
#define SL_RB_T_ARRAY 0x07
#define SL_RB_T_IMEMO 0x1a
#define SL_RB_IMEMO_ISEQ 7
#define SL_RB_FL_USHIFT 12
#define SL_RB_ISEQ_TYPE_TOP 0
#define SL_RB_ENV_LOCAL 0x0002
#define SL_RB_FL_SINGLETON 0x1000
#define SL_RB_T_CLASS 0x02
#define SL_RB_T_MODULE 0x03
#define SL_RB_T_ICLASS 0x1c
#define SL_RB_IMEMO_SVAR 2
#define SL_RB_IMEMO_MENT 6
#define SL_RB_METHOD_ISEQ 0
#define SL_RB_ST_ENTRY 24 /* st.c: st_table_entry {hash, key, record} */
#define SL_RB_MAX_IVARS 64
#define SL_RB_MAX_ENVS 64

uintptr_t sl_rb_exec_lo SL_HIDDEN, sl_rb_exec_hi SL_HIDDEN;

static const struct sl_rb_layout sl_rb_31 = {
    .ec_vm_stack = 0,
    .ec_vm_stack_size = 8,
    .ec_cfp = 16,
    .cfp_size = 64,
    .cfp_pc = 0,
    .cfp_iseq = 16,
    .cfp_ep = 32,
    .iseq_body = 16,
    .body_type = 0,
    .body_iseq_size = 4,
    .body_iseq_encoded = 8,
    .body_pathobj = 64,
    .body_label = 80,
    .body_first_lineno = 88,
    .body_ii_body = 120,
    .body_ii_size = 136,
    .body_ii_succ = 144,
    .ii_entry_size = 12,
    .ii_line = 0,
    .str_len = 16,
    .str_ptr = 24,
    .str_ary = 16,
    .ary_len = 16,
    .ary_ptr = 32,
    .ary_ary = 16,
    .str_noembed = 1u << 13,       /* RUBY_FL_USER1 */
    .str_embed_mask = 0x1fu << 14, /* RUBY_FL_USER2..6 */
    .str_embed_shift = 14,
    .ary_embed = 1u << 13,      /* RUBY_FL_USER1 */
    .ary_embed_mask = 3u << 15, /* RUBY_FL_USER3..4 */
    .ary_embed_shift = 15,
    .body_base_label = 72,
    .me_defined_class = 8,
    .me_def = 16,
    .svar_cref_or_me = 8,
    .class_ext = 24,
    .ext_iv_tbl = 8,
    .st_entries_start = 32,
    .st_entries_bound = 40,
    .st_entries = 48,
};

static const struct sl_rb_layout *const sl_rb_lay = &sl_rb_31;

const struct sl_rb_layout *sl_rb_builtin_layout(void)
{
    return &sl_rb_31;
}

/* ruby_current_ec's offset from the thread pointer: libruby's TLS is in the
 * static block (it is loaded with the program), the same offset in every
 * thread. */
static intptr_t sl_rb_ec_off;
/* &rb_cObject; the IDs of __classpath__ and __attached__, found in
 * Object's and its singleton class's instance variables at first use. */
static uintptr_t sl_rb_cobject_addr;
static uintptr_t sl_rb_classpath_id, sl_rb_attached_id;
static uintptr_t sl_rb_mod_lo, sl_rb_mod_hi; /* libruby's code */

/* ------------------------------------------------------------ reading */

static inline int sl_rb_ptr_ok(uintptr_t p)
{
    return p >= 4096 && p < ((uintptr_t)1 << 47) && (p & 7) == 0;
}

static inline uintptr_t sl_rb_ld(uintptr_t base, uint32_t off)
{
    return *(const volatile uintptr_t *)(base + off);
}

static inline uint32_t sl_rb_ld32(uintptr_t base, uint32_t off)
{
    return *(const volatile uint32_t *)(base + off);
}

static inline int sl_rb_type(uintptr_t obj)
{
    return sl_rb_ptr_ok(obj) ? (int)(sl_rb_ld(obj, 0) & SL_RB_T_MASK) : -1;
}

/* A String as at most cap-1 bytes in dst, cut at a UTF-8 boundary and at
 * a NUL; 0 when obj is no plausible String. */
static int sl_rb_str(uintptr_t obj, char *dst, size_t cap)
{
    const struct sl_rb_layout *l = sl_rb_lay;
    dst[0] = '\0';
    if (sl_rb_type(obj) != SL_RB_T_STRING)
        return 0;
    uintptr_t flags = sl_rb_ld(obj, 0);
    long len;
    uintptr_t ptr;
    if (flags & l->str_noembed) {
        len = (long)sl_rb_ld(obj, l->str_len);
        ptr = sl_rb_ld(obj, l->str_ptr);
        if (ptr < 4096 || ptr >= ((uintptr_t)1 << 47))
            return 0;
    } else {
        len = (long)((flags & l->str_embed_mask) >> l->str_embed_shift);
        ptr = obj + l->str_ary;
    }
    if (len < 0)
        return 0;
    size_t n = (size_t)len < cap - 1 ? (size_t)len : cap - 1;
    const volatile char *s = (const volatile char *)ptr;
    size_t i = 0;
    for (; i < n && s[i]; i++)
        dst[i] = s[i];
    if (i == cap - 1 && (size_t)len > i)
        while (i > 0 && ((unsigned char)dst[i] & 0xc0) == 0x80)
            i--; /* cut: drop a partial character */
    dst[i] = '\0';
    return 1;
}

/* Element i of an Array, or 0. */
static uintptr_t sl_rb_aref(uintptr_t ary, long i)
{
    const struct sl_rb_layout *l = sl_rb_lay;
    if (sl_rb_type(ary) != SL_RB_T_ARRAY)
        return 0;
    uintptr_t flags = sl_rb_ld(ary, 0);
    long len;
    uintptr_t ptr;
    if (flags & l->ary_embed) {
        len = (long)((flags & l->ary_embed_mask) >> l->ary_embed_shift);
        ptr = ary + l->ary_ary;
    } else {
        len = (long)sl_rb_ld(ary, l->ary_len);
        ptr = sl_rb_ld(ary, l->ary_ptr);
        if (!sl_rb_ptr_ok(ptr))
            return 0;
    }
    return i >= 0 && i < len ? sl_rb_ld(ptr, (uint32_t)(8 * i)) : 0;
}

/* ------------------------------------------------------------ lines */

/* iseq.c: struct succ_index_table, for CRuby 3.1. */
#define SL_RB_IMM_SIZE 54 /* IMMEDIATE_TABLE_SIZE */
#define SL_RB_SUCC_PART 48
#define SL_RB_SUCC_BLOCK 80 /* rank, small_block_ranks, bits[8] */

int sl_rb_succ_lookup(const void *table, int max_pos, int pos)
{
    uintptr_t t = (uintptr_t)table;
    if (pos < 0 || pos >= max_pos)
        return -1;
    if (pos < SL_RB_IMM_SIZE) {
        uint64_t v = *(const volatile uint64_t *)(t + 8 * (unsigned)(pos / 9));
        return (int)((v >> (7 * (pos % 9))) & 0x7f);
    }
    int x = pos - SL_RB_IMM_SIZE;
    uintptr_t block = t + SL_RB_SUCC_PART + (uintptr_t)SL_RB_SUCC_BLOCK * (unsigned)(x / 512);
    int bit = x % 512, small = bit / 64;
    uint32_t rank = *(const volatile uint32_t *)block;
    uint64_t ranks = *(const volatile uint64_t *)(block + 8);
    uint64_t bits = *(const volatile uint64_t *)(block + 16 + 8 * (unsigned)small);
    int small_rank = small == 0 ? 0 : (int)((ranks >> ((small - 1) * 9)) & 0x1ff);
    return (int)rank + small_rank + __builtin_popcountll(bits << (63 - bit % 64));
}

/* vm_backtrace.c: calc_pos. The line of the instruction before pc in the
 * iseq body, its first line without a pc, 0 when unknown. */
static int sl_rb_line(uintptr_t body, uintptr_t pc)
{
    const struct sl_rb_layout *l = sl_rb_lay;
    if (!pc) {
        if (sl_rb_ld32(body, l->body_type) == SL_RB_ISEQ_TYPE_TOP)
            return 0;
        uintptr_t first = sl_rb_ld(body, l->body_first_lineno);
        return (first & 1) && (intptr_t)first > 0 ? (int)((intptr_t)first >> 1) : 0;
    }
    long size = sl_rb_ld32(body, l->body_iseq_size);
    uintptr_t enc = sl_rb_ld(body, l->body_iseq_encoded);
    if (!sl_rb_ptr_ok(enc) || pc < enc || ((pc - enc) & 7) || size > SL_RB_MAX_TABLE)
        return 0;
    long n = (long)((pc - enc) / 8);
    if (n > size)
        return 0;
    int pos = n ? (int)n - 1 : 0;
    long count = sl_rb_ld32(body, l->body_ii_size);
    uintptr_t entries = sl_rb_ld(body, l->body_ii_body);
    if (count <= 0 || count > SL_RB_MAX_TABLE || entries < 4096 ||
        entries >= ((uintptr_t)1 << 47) || (entries & 3))
        return 0;
    long idx = 1;
    if (count > 1) {
        uintptr_t succ = sl_rb_ld(body, l->body_ii_succ);
        if (!sl_rb_ptr_ok(succ))
            return 0;
        idx = sl_rb_succ_lookup((const void *)succ, (int)size, pos);
    }
    if (idx < 1 || idx > count)
        return 0;
    int line =
        (int)sl_rb_ld32(entries + (uintptr_t)l->ii_entry_size * (uintptr_t)(idx - 1), l->ii_line);
    return line > 0 ? line : 0;
}

/* ------------------------------------------------------------ classes */

static int sl_rb_imemo(uintptr_t obj, int type)
{
    return sl_rb_type(obj) == SL_RB_T_IMEMO &&
           (int)((sl_rb_ld(obj, 0) >> SL_RB_FL_USHIFT) & 0xf) == type;
}

static int sl_rb_str_is(uintptr_t obj, const char *s)
{
    char buf[64];
    return sl_rb_str(obj, buf, sizeof buf) && strcmp(buf, s) == 0;
}

/* A class's or module's instance variable table (variable.c keeps them in
 * an st_table): with key, the value stored under it; without, the key
 * whose value is `value`, or is a String reading `name`. 0 when not found. */
static uintptr_t sl_rb_civar(uintptr_t klass, uintptr_t key, uintptr_t value, const char *name)
{
    const struct sl_rb_layout *l = sl_rb_lay;
    int t = sl_rb_type(klass);
    if (t != SL_RB_T_CLASS && t != SL_RB_T_MODULE)
        return 0;
    uintptr_t ext = sl_rb_ld(klass, l->class_ext);
    uintptr_t tbl = sl_rb_ptr_ok(ext) ? sl_rb_ld(ext, l->ext_iv_tbl) : 0;
    if (!sl_rb_ptr_ok(tbl))
        return 0;
    uintptr_t start = sl_rb_ld(tbl, l->st_entries_start);
    uintptr_t bound = sl_rb_ld(tbl, l->st_entries_bound);
    uintptr_t ent = sl_rb_ld(tbl, l->st_entries);
    if (!sl_rb_ptr_ok(ent) || bound < start || bound - start > SL_RB_MAX_IVARS)
        return 0;
    for (uintptr_t i = start; i < bound; i++) {
        uintptr_t e = ent + SL_RB_ST_ENTRY * i;
        if (sl_rb_ld(e, 0) == ~(uintptr_t)0)
            continue; /* deleted */
        uintptr_t k = sl_rb_ld(e, 8), v = sl_rb_ld(e, 16);
        if (key ? k == key : value ? v == value : sl_rb_str_is(v, name))
            return key ? v : k;
    }
    return 0;
}

/* The two IDs, from Object: its __classpath__ is "Object", its singleton
 * class's __attached__ is Object. */
static void sl_rb_find_ids(void)
{
    uintptr_t obj = sl_rb_cobject_addr ? *(const volatile uintptr_t *)sl_rb_cobject_addr : 0;
    if (!sl_rb_ptr_ok(obj))
        return; /* the VM is not set up yet */
    if (!__atomic_load_n(&sl_rb_classpath_id, __ATOMIC_RELAXED))
        __atomic_store_n(&sl_rb_classpath_id, sl_rb_civar(obj, 0, 0, "Object"), __ATOMIC_RELAXED);
    uintptr_t meta = sl_rb_ld(obj, 8); /* RBasic.klass */
    if (!__atomic_load_n(&sl_rb_attached_id, __ATOMIC_RELAXED) &&
        sl_rb_type(meta) == SL_RB_T_CLASS && (sl_rb_ld(meta, 0) & SL_RB_FL_SINGLETON))
        __atomic_store_n(&sl_rb_attached_id, sl_rb_civar(meta, 0, obj, NULL), __ATOMIC_RELAXED);
}

/* vm.c: rb_vm_frame_method_entry. The method entry of the method the
 * frame at cfp runs (a block's: the method it is in), if an iseq method. */
static uintptr_t sl_rb_method_entry(uintptr_t cfp)
{
    const struct sl_rb_layout *l = sl_rb_lay;
    uintptr_t ep = sl_rb_ld(cfp, l->cfp_ep), me = 0;
    for (int i = 0; i < SL_RB_MAX_ENVS && sl_rb_ptr_ok(ep); i++) {
        uintptr_t flags = sl_rb_ld(ep, 0);
        uintptr_t v = *(const volatile uintptr_t *)(ep - 16); /* ep[ME_CREF] */
        if (!(flags & 1))
            return 0;
        if (sl_rb_imemo(v, SL_RB_IMEMO_MENT)) {
            me = v;
            break;
        }
        if (flags & SL_RB_ENV_LOCAL) {
            if (sl_rb_imemo(v, SL_RB_IMEMO_SVAR)) {
                v = sl_rb_ld(v, l->svar_cref_or_me);
                if (sl_rb_imemo(v, SL_RB_IMEMO_MENT))
                    me = v;
            }
            break;
        }
        ep = *(const volatile uintptr_t *)(ep - 8) & ~(uintptr_t)3; /* ep[SPECVAL] */
    }
    uintptr_t def = me ? sl_rb_ld(me, l->me_def) : 0;
    if (!sl_rb_ptr_ok(def) || (*(const volatile uint8_t *)def & 0xf) != SL_RB_METHOD_ISEQ)
        return 0;
    return me;
}

/* vm_backtrace.c: rb_profile_frame_classpath. The path of the class the
 * method entry me is defined in ("Net::HTTP"), *single set for a singleton
 * method; 0 for anonymous classes and singletons of other objects. */
static int sl_rb_class_path(uintptr_t me, char *dst, size_t cap, int *single)
{
    const struct sl_rb_layout *l = sl_rb_lay;
    uintptr_t cp = __atomic_load_n(&sl_rb_classpath_id, __ATOMIC_RELAXED);
    uintptr_t at = __atomic_load_n(&sl_rb_attached_id, __ATOMIC_RELAXED);
    uintptr_t klass = sl_rb_ld(me, l->me_defined_class);
    *single = 0;
    if (!cp)
        return 0;
    if (sl_rb_type(klass) == SL_RB_T_ICLASS)
        klass = sl_rb_ld(klass, 8); /* RBasic.klass: the module */
    else if (sl_rb_type(klass) == SL_RB_T_CLASS && (sl_rb_ld(klass, 0) & SL_RB_FL_SINGLETON)) {
        klass = at ? sl_rb_civar(klass, at, 0, NULL) : 0;
        *single = 1;
    }
    return sl_rb_str(sl_rb_civar(klass, cp, 0, NULL), dst, cap) && dst[0];
}

/* vm_backtrace.c: rb_profile_frame_full_label. fn (the frame's label,
 * "block in fetch") with the method's name qualified: "block in
 * Client#fetch", "Client.create"; left as is without a named class. */
static void sl_rb_qualify(uintptr_t cfp, uintptr_t body, char *fn, size_t cap)
{
    char cls[SL_LFRAME_NAME_MAX + 1], base[SL_LFRAME_NAME_MAX + 1];
    int single;
    uintptr_t me = sl_rb_method_entry(cfp);
    if (!me || !sl_rb_str(sl_rb_ld(body, sl_rb_lay->body_base_label), base, sizeof base) ||
        !base[0])
        return;
    size_t n = strlen(fn), b = strlen(base);
    if (b > n || strcmp(fn + n - b, base) != 0)
        return;
    if (!__atomic_load_n(&sl_rb_classpath_id, __ATOMIC_RELAXED) ||
        !__atomic_load_n(&sl_rb_attached_id, __ATOMIC_RELAXED))
        sl_rb_find_ids();
    if (!sl_rb_class_path(me, cls, sizeof cls, &single))
        return;
    size_t c = strlen(cls), prefix = n - b;
    if (prefix + c + 1 + b >= cap)
        return; /* too long: the plain label */
    memmove(fn + prefix + c + 1, base, b + 1);
    memcpy(fn + prefix, cls, c);
    fn[prefix + c] = single ? '.' : '#';
}

/* ------------------------------------------------------------ frames */

/* The tagged pc of the Ruby frame at cfp (flags: its env's flags), or 0
 * when it is no plausible frame of Ruby code. */
static uintptr_t sl_rb_frame(uintptr_t cfp)
{
    const struct sl_rb_layout *l = sl_rb_lay;
    char fn[SL_LFRAME_NAME_MAX + 1], file[SL_LFRAME_NAME_MAX + 1];
    uintptr_t iseq = sl_rb_ld(cfp, l->cfp_iseq);
    if (sl_rb_type(iseq) != SL_RB_T_IMEMO ||
        ((sl_rb_ld(iseq, 0) >> SL_RB_FL_USHIFT) & 0xf) != SL_RB_IMEMO_ISEQ)
        return 0;
    uintptr_t body = sl_rb_ld(iseq, l->iseq_body);
    if (!sl_rb_ptr_ok(body))
        return 0;
    int line = sl_rb_line(body, sl_rb_ld(cfp, l->cfp_pc));
    sl_rb_str(sl_rb_ld(body, l->body_label), fn, sizeof fn);
    sl_rb_qualify(cfp, body, fn, sizeof fn);
    /* pathobj: the path, or [path, realpath] (realpath nil for eval). */
    uintptr_t path = sl_rb_ld(body, l->body_pathobj);
    if (!sl_rb_str(path, file, sizeof file) && !sl_rb_str(sl_rb_aref(path, 1), file, sizeof file))
        sl_rb_str(sl_rb_aref(path, 0), file, sizeof file);
    return sl_lframe_intern(SL_LANG_RUBY, fn, file, line);
}

struct sl_rb_walk {
    uintptr_t cfp, end; /* next control frame; cfp == end: none left */
    int depth;
};

/* Append the Ruby frames of the next rb_vm_exec activation (up to and
 * including its FINISH frame) to out[*k..max). */
static int sl_rb_activation(struct sl_rb_walk *w, uintptr_t *out, int *k, int max)
{
    const struct sl_rb_layout *l = sl_rb_lay;
    int added = 0;
    while (w->cfp < w->end && w->depth++ < SL_RB_MAX_DEPTH) {
        uintptr_t cfp = w->cfp;
        w->cfp += l->cfp_size;
        uintptr_t ep = sl_rb_ld(cfp, l->cfp_ep);
        uintptr_t flags = sl_rb_ptr_ok(ep) ? sl_rb_ld(ep, 0) : 0;
        if (!(flags & 1))
            break; /* no env flags (a fixnum): a frame being set up */
        if (!(flags & SL_RB_FLAG_CFRAME) && *k < max) {
            uintptr_t pc = sl_rb_frame(cfp);
            if (pc) {
                out[(*k)++] = pc;
                added++;
            }
        }
        if (flags & SL_RB_FLAG_FINISH)
            return added;
    }
    w->cfp = w->end;
    return added;
}

/* The calling thread's control frames, innermost first; 0 when it has none
 * (not a Ruby thread) or they are not plausible. */
static int sl_rb_walk_start(struct sl_rb_walk *w)
{
    const struct sl_rb_layout *l = sl_rb_lay;
    w->cfp = w->end = 0;
    w->depth = 0;
    if (!sl_rb_ec_off)
        return 0;
    uintptr_t ec = *(const volatile uintptr_t *)((uintptr_t)__builtin_thread_pointer() +
                                                 (uintptr_t)sl_rb_ec_off);
    if (!sl_rb_ptr_ok(ec))
        return 0;
    uintptr_t stack = sl_rb_ld(ec, l->ec_vm_stack);
    uintptr_t words = sl_rb_ld(ec, l->ec_vm_stack_size);
    uintptr_t cfp = sl_rb_ld(ec, l->ec_cfp);
    if (!sl_rb_ptr_ok(stack) || words == 0 || words > SL_RB_MAX_STACK)
        return 0;
    uintptr_t end = stack + 8 * words;
    if (cfp < stack || cfp >= end || (end - cfp) % l->cfp_size)
        return 0;
    w->cfp = cfp;
    w->end = end;
    return 1;
}

int sl_rb_frames(uintptr_t *out, int max)
{
    struct sl_rb_walk w;
    int k = 0;
    if (!sl_rb_walk_start(&w))
        return 0;
    while (w.cfp < w.end && k < max)
        sl_rb_activation(&w, out, &k, max);
    return k;
}

/* ------------------------------------------------------------ provider */

static inline int sl_rb_is_exec(uintptr_t pc)
{
    return pc - 1 - sl_rb_exec_lo < sl_rb_exec_hi - sl_rb_exec_lo;
}

static inline int sl_rb_is_interp(uintptr_t pc)
{
    return pc - 1 - sl_rb_mod_lo < sl_rb_mod_hi - sl_rb_mod_lo;
}

/* As sl_py_splice: each rb_vm_exec activation becomes the Ruby frames it
 * runs; libruby's glue between them is dropped, native frames of other
 * modules (C extensions, libc) are kept. */
static int sl_rb_splice(const uintptr_t *in, int n, uintptr_t *out, int max)
{
    struct sl_rb_walk w;
    int k = 0, held = -1; /* in[held..i): natives since the last Ruby frame */
    sl_rb_walk_start(&w);
    for (int i = 0; i < n && k < max; i++) {
        if (sl_rb_is_exec(in[i]) && w.cfp < w.end) {
            for (int j = held; j >= 0 && j < i && k < max; j++)
                if (!sl_rb_is_interp(in[j]))
                    out[k++] = in[j];
            if (sl_rb_activation(&w, out, &k, max) > 0) {
                held = i + 1;
                continue;
            }
            held = -1;
        }
        if (held < 0)
            out[k++] = in[i];
    }
    for (int j = held; j >= 0 && j < n && k < max; j++)
        out[k++] = in[j];
    return k;
}

static int sl_rb_init(void)
{
    const ElfW(Sym) *sym = NULL;
    Dl_info info;
    void *exec = dlsym(RTLD_DEFAULT, "rb_vm_exec");
    const int *api = dlsym(RTLD_DEFAULT, "ruby_api_version");
    const char *version = dlsym(RTLD_DEFAULT, "ruby_version");

    if (!exec || !api || !version)
        return 0; /* no Ruby in this process */
    if (api[0] != 3 || api[1] != 1 || strncmp(version, "3.1.", 4) != 0) {
        sl_warn("Ruby %.16s: its frames are not read (CRuby 3.1 only)", version);
        return 0;
    }
    if (!dladdr1(exec, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || sym->st_size == 0)
        return 0;
    /* This thread's copy: in the static TLS block (rawsys.h), else in a
     * dynamic one elsewhere, which is not read. */
    uintptr_t ec = (uintptr_t)dlsym(RTLD_DEFAULT, "ruby_current_ec");
    intptr_t off = (intptr_t)(ec - (uintptr_t)__builtin_thread_pointer());
    if (!ec || !SL_STATIC_TLS_OFF(off)) {
        sl_warn("Ruby's thread-local state is not in the static TLS block: its frames are not"
                " read");
        return 0;
    }
    struct sl_module *m = sl_modules_find((uintptr_t)exec);
    if (m) {
        sl_rb_mod_lo = m->lo;
        sl_rb_mod_hi = m->hi;
    }
    sl_rb_cobject_addr = (uintptr_t)dlsym(RTLD_DEFAULT, "rb_cObject");
    sl_rb_ec_off = off;
    sl_rb_exec_lo = (uintptr_t)exec;
    sl_rb_exec_hi = (uintptr_t)exec + sym->st_size;
    return 1;
}

static int sl_rb_owns(uintptr_t pc)
{
    return sl_rb_is_exec(pc);
}

static int sl_rb_native_depth(int want)
{
    return want * 4 < 256 ? want * 4 : 256; /* SL_MAX_FRAMES */
}

const struct sl_lang_provider sl_lang_ruby = {
    .name = "ruby",
    .init = sl_rb_init,
    .owns = sl_rb_owns,
    .splice = sl_rb_splice,
    .native_depth = sl_rb_native_depth,
};

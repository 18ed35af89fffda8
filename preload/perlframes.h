/* Perl frames in captured stacks: the calling thread's Perl subs, read
 * straight from the interpreter's structures (no Perl API call, no lock),
 * spliced into the native stack where the interpreter's run loop
 * (Perl_runops_standard) is. Perl 5.36.0, threaded (Debian 12's perl). */
#ifndef SL_PERLFRAMES_H
#define SL_PERLFRAMES_H

#include <stdint.h>
#include "sl.h"

/* Where the structures keep what the walk reads (byte offsets), and the
 * constants it compares with. One per supported build. */
struct sl_pl_layout {
    int revision, version, subversion; /* PL_revision, PL_version, PL_subversion */
    const char *bincompat;             /* PL_bincompat_options, exactly */
    /* PerlInterpreter: PL_curcop, PL_curstackinfo, PL_compiling */
    uint32_t in_curcop, in_curstackinfo, in_compiling;
    /* PERL_SI */
    uint32_t si_cxstack, si_prev, si_cxix, si_cxmax;
    /* PERL_CONTEXT: its size, ctx_type, blk_u16, blk_oldcop, blk_sub.cv and
     * blk_sub.retop (== blk_eval.retop) */
    uint32_t ctx_size, ctx_type, ctx_u16, ctx_oldcop, ctx_sub_cv, ctx_retop;
    /* COP: the 16-bit word holding op_type (its low 9 bits), cop_line,
     * cop_file (a char * in threaded builds), its size */
    uint32_t op_type, cop_line, cop_file, cop_size;
    /* SV head: sv_any, sv_flags */
    uint32_t sv_any, sv_flags;
    /* XPVCV: xcv_stash, xcv_gv_u, xcv_flags */
    uint32_t cv_stash, cv_gv, cv_flags;
    /* XPVGV: xiv_u.xivu_namehek, xnv_u.xgv_stash */
    uint32_t gv_namehek, gv_stash;
    /* xpvhv_with_aux: xhv_aux; xpvhv_aux: xhv_name_u, xhv_name_count */
    uint32_t hv_aux, aux_name, aux_name_count;
    /* HEK: hek_len, hek_key */
    uint32_t hek_len, hek_key;
    int op_nextstate, op_dbstate, op_require;
    int svt_pvcv, svt_pvgv, svt_pvhv;
    uint32_t svf_ook, cvf_named;
    int cxt_typemask, cxt_sub, cxt_format, cxt_eval;
    int cxp_evalblock, cxp_try;
};

/* The built-in layout for perl revision.version.subversion, or NULL. */
const struct sl_pl_layout *sl_pl_builtin_layout(int revision, int version,
                                                int subversion) SL_HIDDEN;

/* Find the interpreter in this process (once, from the stack prime): its
 * run loop's code and the layout. Returns 1 when Perl frames can be read. */
int sl_pl_init(void) SL_HIDDEN;

/* [lo, hi) of Perl_runops_standard and Perl_runops_debug; 0 without Perl. */
extern uintptr_t sl_pl_run_lo[2] SL_HIDDEN, sl_pl_run_hi[2] SL_HIDDEN;

/* Is pc (a return address) inside the interpreter's run loop? */
static inline int sl_pl_is_runops(uintptr_t pc)
{
    return pc - 1 - sl_pl_run_lo[0] < sl_pl_run_hi[0] - sl_pl_run_lo[0] ||
           pc - 1 - sl_pl_run_lo[1] < sl_pl_run_hi[1] - sl_pl_run_lo[1];
}

/* Copy the native frames in[0..n) to out (at most max), each activation of
 * the run loop replaced by the Perl frames it runs, innermost first: the
 * current statement in the innermost sub, each sub, eval and require of the
 * context stacks, then the main program ("main"). The interpreter's own
 * native frames between two activations are dropped; those of other
 * modules, the innermost (the op that called libc) and the outermost are
 * kept. Returns the number of frames written. Call with the re-entry guard
 * set and no lock of ours held. */
int sl_pl_splice(const uintptr_t *in, int n, uintptr_t *out, int max) SL_HIDDEN;

/* Test knob: the layout in use (NULL without Perl). */
const struct sl_pl_layout *sl_pl_layout_in_use(void) SL_HIDDEN;

#endif

/* Ruby frames (CRuby 3.1) in captured stacks: internals shared with the unit
 * test (tests/unit/test_rubyframes.c). The provider is sl_lang_ruby
 * (langframes.h). */
#ifndef SL_RUBYFRAMES_H
#define SL_RUBYFRAMES_H

#include <stdint.h>
#include "sl.h"

/* Offsets (bytes) of what the walk reads; CRuby 3.1's are built in and
 * checked against the installed headers by the unit test. */
struct sl_rb_layout {
    uint32_t ec_vm_stack, ec_vm_stack_size, ec_cfp; /* rb_execution_context_t */
    uint32_t cfp_size, cfp_pc, cfp_iseq, cfp_ep;    /* rb_control_frame_t */
    uint32_t iseq_body;                             /* rb_iseq_t */
    /* struct rb_iseq_constant_body */
    uint32_t body_type, body_iseq_size, body_iseq_encoded;
    uint32_t body_pathobj, body_label, body_first_lineno;
    uint32_t body_ii_body, body_ii_size, body_ii_succ;
    uint32_t ii_entry_size, ii_line; /* struct iseq_insn_info_entry */
    /* struct RString, struct RArray */
    uint32_t str_len, str_ptr, str_ary, ary_len, ary_ptr, ary_ary;
    uint64_t str_noembed, str_embed_mask, ary_embed, ary_embed_mask;
    uint32_t str_embed_shift, ary_embed_shift;
    /* the method's class: the method entry (rb_callable_method_entry_t),
     * struct vm_svar, struct RClass, struct rb_classext_struct, st_table */
    uint32_t body_base_label, me_defined_class, me_def, svar_cref_or_me;
    uint32_t class_ext, ext_iv_tbl, st_entries_start, st_entries_bound, st_entries;
};

const struct sl_rb_layout *sl_rb_builtin_layout(void) SL_HIDDEN;

/* The line of instruction position pos in a succinct index table (iseq.c:
 * succ_index_lookup) built for max_pos positions; -1 when pos is out of
 * range. Reads only inside the table's size for max_pos. */
int sl_rb_succ_lookup(const void *table, int max_pos, int pos) SL_HIDDEN;

/* The calling thread's Ruby frames (innermost first, at most max, the VM's
 * C-function frames left out) as interned language frames into out; the
 * number written. For the unit test: splice does this per activation. */
int sl_rb_frames(uintptr_t *out, int max) SL_HIDDEN;

/* [lo, hi) of rb_vm_exec once init found a supported libruby, else 0. */
extern uintptr_t sl_rb_exec_lo SL_HIDDEN, sl_rb_exec_hi SL_HIDDEN;

#endif

/* Python frames in captured stacks: the CPython interpreter's frames of the
 * calling thread, read straight from its structures (no Python API call, no
 * lock, no GIL), spliced into the native stack where the interpreter's
 * _PyEval_EvalFrameDefault activations are. CPython 3.11, 3.12 and 3.13. */
#ifndef SL_PYFRAMES_H
#define SL_PYFRAMES_H

#include <stdint.h>
#include "sl.h"

/* Where the structures keep what the walk reads (byte offsets). */
struct sl_py_layout {
    int minor;              /* 3.minor */
    uint32_t rt_finalizing; /* _PyRuntime: the finalizing thread state */
    int has_cframe;         /* 3.11, 3.12: thread state -> _PyCFrame -> frame */
    uint32_t ts_frame;      /* thread state: cframe pointer, or current_frame */
    uint32_t cf_current;    /* _PyCFrame.current_frame */
    uint32_t fr_previous, fr_code, fr_instr;
    uint32_t fr_entry;  /* 3.11: is_entry (bool); 3.12+: owner (char) */
    int entry_is_owner; /* 3.12+: an entry is an owner == owner_cstack frame */
    int owner_cstack;
    uint32_t co_size; /* ob_size: code units */
    uint32_t co_filename, co_name, co_qualname, co_linetable, co_firstlineno, co_code;
    uint32_t by_size, by_data; /* bytes: ob_size, ob_sval */
    uint32_t str_length, str_state, str_ascii_size, str_compact_size;
};

/* Built-in layouts for 3.11 and 3.12 (NULL for other minors); 3.13 reads
 * the interpreter's own _Py_DebugOffsets. */
const struct sl_py_layout *sl_py_builtin_layout(int minor) SL_HIDDEN;

/* Find the interpreter in this process (once, from the stack prime): its
 * _PyEval_EvalFrameDefault range and structure layout. Leaves the range
 * empty when there is no supported CPython. */
void sl_py_init(void) SL_HIDDEN;

/* [lo, hi) of _PyEval_EvalFrameDefault; both 0 without Python. */
extern uintptr_t sl_py_eval_lo SL_HIDDEN, sl_py_eval_hi SL_HIDDEN;

/* Is pc (a return address) inside _PyEval_EvalFrameDefault? */
static inline int sl_py_is_eval(uintptr_t pc)
{
    return pc - 1 - sl_py_eval_lo < sl_py_eval_hi - sl_py_eval_lo;
}

/* Copy the native frames in[0..n) to out (at most max), each activation of
 * _PyEval_EvalFrameDefault replaced by the Python frames it runs (interned
 * language frames). The interpreter's own native frames between two Python
 * frames (its call glue: PyObject_Call, _PyFunction_Vectorcall...) are
 * dropped; native frames of other modules (C extensions calling back into
 * Python), the ones Python called (innermost) and the ones that started
 * it (outermost) are kept. Returns the number of frames written. Call with
 * the re-entry guard set and no lock of ours held. */
int sl_py_splice(const uintptr_t *in, int n, uintptr_t *out, int max) SL_HIDDEN;

/* How many native frames to unwind to keep `want` frames after splicing. */
static inline int sl_py_native_depth(int want)
{
    return want * 4 < 256 ? want * 4 : 256; /* SL_MAX_FRAMES */
}

/* The line of the instruction at byte offset addr of a code object whose
 * location table (3.11+ format) is table[0..len), first line firstlineno;
 * -1 when the instruction has no line. Bounded by len, never reads past it. */
int sl_py_addr2line(const uint8_t *table, long len, int firstlineno, long addr) SL_HIDDEN;

/* Test knob: the layout in use (NULL without Python). */
const struct sl_py_layout *sl_py_layout_in_use(void) SL_HIDDEN;

#endif

/* Unit tests of preload/rubyframes.c against the installed CRuby 3.1
 * (ruby3.1-dev): the built-in layout equals the installed headers' offsetof
 * (the VM's own structures come from rb_mjit_min_header, which MJIT
 * compiles against: the one installed header that has them), the frames
 * read from the thread's control frames equal rb_profile_frames' (label,
 * file, line) for Ruby code run by an embedded VM, and a stack captured
 * under Ruby code holds that code's frames in place of rb_vm_exec's. */
#include <rb_mjit_min_header-3.1.2.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "langframes.h"
#include "langtest.h"
#include "lframe.h"
#include "options.h"
#include "rubyframes.h"
#include "stack.h"

/* ruby/debug.h (its own include would define again what the min header
 * holds). */
int rb_profile_frames(int start, int limit, VALUE *buff, int *lines);
VALUE rb_profile_frame_path(VALUE frame);
VALUE rb_profile_frame_absolute_path(VALUE frame);
VALUE rb_profile_frame_full_label(VALUE frame);

static void test_layout_is_the_headers(void **state)
{
    (void)state;
    const struct sl_rb_layout *l = sl_rb_builtin_layout();
    assert_int_equal(ruby_api_version[0], 3);
    assert_int_equal(ruby_api_version[1], 1);
    assert_int_equal(l->ec_vm_stack, offsetof(rb_execution_context_t, vm_stack));
    assert_int_equal(l->ec_vm_stack_size, offsetof(rb_execution_context_t, vm_stack_size));
    assert_int_equal(l->ec_cfp, offsetof(rb_execution_context_t, cfp));
    assert_int_equal(l->cfp_size, sizeof(rb_control_frame_t));
    assert_int_equal(l->cfp_pc, offsetof(rb_control_frame_t, pc));
    assert_int_equal(l->cfp_iseq, offsetof(rb_control_frame_t, iseq));
    assert_int_equal(l->cfp_ep, offsetof(rb_control_frame_t, ep));
    assert_int_equal(l->iseq_body, offsetof(rb_iseq_t, body));
    assert_int_equal(l->body_type, offsetof(struct rb_iseq_constant_body, type));
    assert_int_equal(l->body_iseq_size, offsetof(struct rb_iseq_constant_body, iseq_size));
    assert_int_equal(l->body_iseq_encoded, offsetof(struct rb_iseq_constant_body, iseq_encoded));
    assert_int_equal(l->body_pathobj, offsetof(struct rb_iseq_constant_body, location.pathobj));
    assert_int_equal(l->body_label, offsetof(struct rb_iseq_constant_body, location.label));
    assert_int_equal(l->body_first_lineno,
                     offsetof(struct rb_iseq_constant_body, location.first_lineno));
    assert_int_equal(l->body_ii_body, offsetof(struct rb_iseq_constant_body, insns_info.body));
    assert_int_equal(l->body_ii_size, offsetof(struct rb_iseq_constant_body, insns_info.size));
    assert_int_equal(l->body_ii_succ,
                     offsetof(struct rb_iseq_constant_body, insns_info.succ_index_table));
    assert_int_equal(l->ii_entry_size, sizeof(struct iseq_insn_info_entry));
    assert_int_equal(l->ii_line, offsetof(struct iseq_insn_info_entry, line_no));
    assert_int_equal(l->str_len, offsetof(struct RString, as.heap.len));
    assert_int_equal(l->str_ptr, offsetof(struct RString, as.heap.ptr));
    assert_int_equal(l->str_ary, offsetof(struct RString, as.embed.ary));
    assert_int_equal(l->ary_len, offsetof(struct RArray, as.heap.len));
    assert_int_equal(l->ary_ptr, offsetof(struct RArray, as.heap.ptr));
    assert_int_equal(l->ary_ary, offsetof(struct RArray, as.ary));
    assert_int_equal(l->str_noembed, RSTRING_NOEMBED);
    assert_int_equal(l->str_embed_mask, RSTRING_EMBED_LEN_MASK);
    assert_int_equal(l->str_embed_shift, RSTRING_EMBED_LEN_SHIFT);
    assert_int_equal(l->ary_embed, RARRAY_EMBED_FLAG);
    assert_int_equal(l->ary_embed_mask, RARRAY_EMBED_LEN_MASK);
    assert_int_equal(l->ary_embed_shift, RARRAY_EMBED_LEN_SHIFT);
    assert_int_equal(l->body_base_label,
                     offsetof(struct rb_iseq_constant_body, location.base_label));
    assert_int_equal(l->me_defined_class, offsetof(rb_callable_method_entry_t, defined_class));
    assert_int_equal(l->me_def, offsetof(rb_callable_method_entry_t, def));
    assert_int_equal(l->svar_cref_or_me, offsetof(struct vm_svar, cref_or_me));
    assert_int_equal(l->class_ext, offsetof(struct RClass, ptr));
    assert_int_equal(l->ext_iv_tbl, offsetof(struct rb_classext_struct, iv_tbl));
    assert_int_equal(l->st_entries_start, offsetof(st_table, entries_start));
    assert_int_equal(l->st_entries_bound, offsetof(st_table, entries_bound));
    assert_int_equal(l->st_entries, offsetof(st_table, entries));
    assert_int_equal(VM_ENV_FLAG_LOCAL, 0x2);
    assert_int_equal(VM_ENV_DATA_INDEX_ME_CREF, -2);
    assert_int_equal(VM_ENV_DATA_INDEX_SPECVAL, -1);
    assert_int_equal(RUBY_FL_SINGLETON, 0x1000);
    assert_int_equal(RUBY_T_CLASS, 0x02);
    assert_int_equal(RUBY_T_MODULE, 0x03);
    assert_int_equal(RUBY_T_ICLASS, 0x1c);
    assert_int_equal(imemo_svar, 2);
    assert_int_equal(imemo_ment, 6);
    assert_int_equal(VM_METHOD_TYPE_ISEQ, 0);
    assert_int_equal(VM_FRAME_FLAG_FINISH, 0x20);
    assert_int_equal(VM_FRAME_FLAG_CFRAME, 0x80);
    assert_int_equal(RUBY_T_STRING, 0x05);
    assert_int_equal(RUBY_T_ARRAY, 0x07);
    assert_int_equal(RUBY_T_IMEMO, 0x1a);
    assert_int_equal(imemo_iseq, 7);
    assert_int_equal(RUBY_FL_USHIFT, 12);
    assert_int_equal(ISEQ_TYPE_TOP, 0);
}

/* A succinct index table as iseq.c builds it (succ_index_table_create),
 * for positions data[0..size) of max_pos, and the lookup of every position
 * against a linear count. */
static void test_succ_lookup_is_a_rank(void **state)
{
    (void)state;
    enum { MAX = 54 + 512 * 3 + 100 };
    static uint64_t table[6 + 10 * 4];
    static int pos[] = {0,   1,   2,   7,   8,   9,    30,   53,   54,   55,   100,  117,
                        118, 565, 566, 567, 600, 1000, 1077, 1078, 1079, 1500, 1600, 1689};
    int n = sizeof pos / sizeof pos[0];
    uint8_t bit[MAX] = {0};
    for (int i = 0; i < n; i++)
        bit[pos[i]] = 1;
    /* imm_part: the rank (1-based count of set bits up to and including
     * x) of x < 54, 7 bits each, 9 a word. */
    int r = 0;
    for (int x = 0; x < 54; x++) {
        r += bit[x];
        table[x / 9] |= (uint64_t)r << (7 * (x % 9));
    }
    for (int b = 0; 54 + 512 * b < MAX; b++) {
        uint64_t *blk = table + 6 + 10 * b;
        blk[0] = (uint32_t)r; /* rank: set bits before the block */
        int small = 0;
        for (int s = 0; s < 8; s++) {
            if (s > 0)
                blk[1] |= (uint64_t)small << (9 * (s - 1));
            for (int k = 0; k < 64; k++) {
                int x = 54 + 512 * b + 64 * s + k;
                if (x < MAX && bit[x]) {
                    blk[2 + s] |= 1ull << k;
                    small++;
                    r++;
                }
            }
        }
    }
    int want = 0;
    for (int x = 0; x < MAX; x++) {
        want += bit[x];
        assert_int_equal(sl_rb_succ_lookup(table, MAX, x), want);
    }
    assert_int_equal(sl_rb_succ_lookup(table, MAX, MAX), -1);
    assert_int_equal(sl_rb_succ_lookup(table, MAX, -1), -1);
}

/* ------------------------------------------------------------ live VM */

#define MAXF 64
static uintptr_t got[MAXF];
static int calls, mismatches;
static char mismatch[2048];
static uint32_t cap_id;

static void copy_str(VALUE s, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (RB_TYPE_P(s, T_STRING))
        snprintf(dst, cap, "%.*s", (int)RSTRING_LEN(s), RSTRING_PTR(s));
}

/* Our label is Ruby's full label, but for a block: rb_profile_frames gives
 * a block the method's entry, so its full label is the method's
 * ("Client#fetch") where ours, like Ruby's backtraces, is "block in
 * Client#fetch". And an anonymous class's methods go unqualified. */
static int label_is(const char *ours, const char *ruby)
{
    size_t n = strlen(ours), r = strlen(ruby);
    if (strcmp(ours, ruby) == 0)
        return 1;
    /* An anonymous class has no path: our label is the method's alone. */
    if (strncmp(ruby, "#<", 2) == 0 && r > n + 1 && strcmp(ruby + r - n, ours) == 0 &&
        (ruby[r - n - 1] == '#' || ruby[r - n - 1] == '.'))
        return 1;
    return strncmp(ours, "block ", 6) == 0 && n > r + 4 && strcmp(ours + n - r, ruby) == 0 &&
           strncmp(ours + n - r - 4, " in ", 4) == 0;
}

/* frames(): our read of this thread's frames against rb_profile_frames'
 * (full label, absolute path or path, line; the GVL is held here, so the
 * allocating accessors are safe), then a stack capture. A C method called
 * by Ruby code: mismatches are counted, the test asserts outside Ruby. */
static VALUE rb_capture(VALUE self)
{
    (void)self;
    VALUE buf[MAXF];
    int lines[MAXF];
    char label[600], file[600];
    int got_n = sl_rb_frames(got, MAXF);
    int n = rb_profile_frames(0, MAXF, buf, lines), k = 0;
    calls++;
    for (int i = 0; i < n; i++) {
        VALUE path = rb_profile_frame_path(buf[i]);
        if (NIL_P(path))
            continue; /* a C method: our read leaves it out */
        VALUE abs = rb_profile_frame_absolute_path(buf[i]);
        copy_str(rb_profile_frame_full_label(buf[i]), label, sizeof label);
        copy_str(NIL_P(abs) ? path : abs, file, sizeof file);
        struct sl_lframe *f = k < got_n ? sl_lframe_get(got[k]) : NULL;
        k++;
        if (!f || f->lang != SL_LANG_RUBY || !label_is(f->function, label) ||
            strcmp(f->file, file) || f->line != lines[i]) {
            if (!mismatches++)
                snprintf(mismatch, sizeof mismatch, "call %d frame %d: want %s %s:%d, got %s %s:%d",
                         calls, k - 1, label, file, lines[i], f ? f->function : "-",
                         f ? f->file : "-", f ? f->line : 0);
        }
    }
    if (k != got_n && !mismatches++)
        snprintf(mismatch, sizeof mismatch, "call %d: %d frames, read %d", calls, k, got_n);
    cap_id = sl_stack_capture();
    return Qnil;
}

static const char script[] =
    "module Helper\n"                              /* 1 */
    "  def helper = frames()\n"                    /* 2 */
    "end\n"                                        /* 3 */
    "class Client\n"                               /* 4 */
    "  include Helper\n"                           /* 5 */
    "  def self.make = new\n"                      /* 6 */
    "  def fetch(n)\n"                             /* 7 */
    "    [1].each { |x| helper }\n"                /* 8 */
    "    n\n"                                      /* 9 */
    "  end\n"                                      /* 10 */
    "  def self.ping = frames()\n"                 /* 11 */
    "end\n"                                        /* 12 */
    "def outer\n"                                  /* 13 */
    "  Client.make.fetch(1)\n"                     /* 14 */
    "end\n"                                        /* 15 */
    "2.times { outer }\n"                          /* 16 */
    "Client.ping\n"                                /* 17 */
    "Class.new { def anon = frames() }.new.anon\n" /* 18 */
    "s = 'x' * 300 + 'é'; eval(\"def #{s}; frames(); end; #{s}\", nil, '/tmp/' + s + '.rb', 40)\n";

static const char *frame_of(uintptr_t pc, int *line)
{
    struct sl_lframe *f = sl_lframe_get(pc);
    if (!f)
        return NULL;
    assert_int_equal(f->lang, SL_LANG_RUBY);
    *line = f->line;
    return f->function;
}

static void test_frames_equal_rb_profile_frames(void **state)
{
    (void)state;
    rb_define_global_function("frames", rb_capture, 0);
    sl_stack_skip_self = 0;
    sl_stack_skip_frames = 1;
    int err = 0;
    rb_eval_string_protect(script, &err);
    assert_int_equal(err, 0);
    assert_int_equal(calls, 5);
    if (mismatches)
        fail_msg("%d mismatches; first: %s", mismatches, mismatch);
    /* The last call: the long-named method from eval, its name cut at
     * SL_LFRAME_NAME_MAX ("Object#" + 300 + 'é' fits). */
    struct sl_lframe *f = sl_lframe_get(got[0]);
    assert_non_null(f);
    assert_int_equal(f->line, 40);
    assert_int_equal(strlen(f->function), 7 + 302);
}

static void test_capture_splices_ruby_frames(void **state)
{
    (void)state;
    int err = 0;
    rb_eval_string_protect("outer", &err);
    assert_int_equal(err, 0);
    const uintptr_t *pcs;
    int n = sl_stack_get(cap_id, &pcs), line = 0, k = 0;
    const char *want[] = {"Helper#helper", "block in Client#fetch", "Client#fetch", "Object#outer",
                          "<main>"};
    int lines[] = {2, 8, 8, 14, 1};
    int first = -1;
    for (int i = 0; i < n; i++) {
        const char *fn = frame_of(pcs[i], &line);
        if (!fn)
            continue;
        if (first < 0)
            first = i;
        assert_true(k < 5);
        assert_string_equal(fn, want[k]);
        assert_int_equal(line, lines[k]);
        k++;
    }
    assert_int_equal(k, 5);
    assert_true(first > 0); /* native frames innermost: this test's */
    /* No rb_vm_exec left where Ruby frames came in. */
    for (int i = 0; i < n; i++)
        assert_false(pcs[i] - 1 - sl_rb_exec_lo < sl_rb_exec_hi - sl_rb_exec_lo);
}

static void *frames_here(void *arg)
{
    *(int *)arg = sl_rb_frames(got, MAXF);
    return NULL;
}

/* A thread the VM did not make: no execution context, no frames. */
static void test_no_frames_off_a_ruby_thread(void **state)
{
    (void)state;
    pthread_t t;
    int n = -1;
    assert_int_equal(pthread_create(&t, NULL, frames_here, &n), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(n, 0);
}

int main(void)
{
    ruby_setup();
    ruby_init_loadpath();
    assert_true(sl_lang_ruby.init());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_is_the_headers),
        cmocka_unit_test(test_succ_lookup_is_a_rank),
        cmocka_unit_test(test_frames_equal_rb_profile_frames),
        cmocka_unit_test(test_capture_splices_ruby_frames),
        cmocka_unit_test(test_no_frames_off_a_ruby_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of preload/pyframes.c against the installed CPython 3.11
 * (python3.11-dev): the built-in 3.11 layout equals the headers' offsetof,
 * our location-table parser gives PyCode_Addr2Line's line for every
 * instruction of real code, and a stack captured under Python code holds
 * that code's frames in place of the interpreter's. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_code.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_runtime.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "langtest.h"
#include "lframe.h"
#include "options.h"
#include "pyframes.h"
#include "stack.h"

static void test_layout_is_the_headers(void **state)
{
    (void)state;
    assert_int_equal(PY_MAJOR_VERSION, 3);
    assert_int_equal(PY_MINOR_VERSION, 11);
    const struct sl_py_layout *l = sl_py_builtin_layout(11);
    assert_non_null(l);
    assert_int_equal(l->rt_finalizing, offsetof(_PyRuntimeState, _finalizing));
    assert_int_equal(l->ts_frame, offsetof(PyThreadState, cframe));
    assert_int_equal(l->cf_current, offsetof(_PyCFrame, current_frame));
    assert_int_equal(l->fr_previous, offsetof(_PyInterpreterFrame, previous));
    assert_int_equal(l->fr_code, offsetof(_PyInterpreterFrame, f_code));
    assert_int_equal(l->fr_instr, offsetof(_PyInterpreterFrame, prev_instr));
    assert_int_equal(l->fr_entry, offsetof(_PyInterpreterFrame, is_entry));
    assert_int_equal(l->co_size, offsetof(PyVarObject, ob_size));
    assert_int_equal(l->co_filename, offsetof(PyCodeObject, co_filename));
    assert_int_equal(l->co_name, offsetof(PyCodeObject, co_name));
    assert_int_equal(l->co_qualname, offsetof(PyCodeObject, co_qualname));
    assert_int_equal(l->co_linetable, offsetof(PyCodeObject, co_linetable));
    assert_int_equal(l->co_firstlineno, offsetof(PyCodeObject, co_firstlineno));
    assert_int_equal(l->co_code, offsetof(PyCodeObject, co_code_adaptive));
    assert_int_equal(l->by_size, offsetof(PyVarObject, ob_size));
    assert_int_equal(l->by_data, offsetof(PyBytesObject, ob_sval));
    assert_int_equal(l->str_length, offsetof(PyASCIIObject, length));
    assert_int_equal(l->str_state, offsetof(PyASCIIObject, state));
    assert_int_equal(l->str_ascii_size, sizeof(PyASCIIObject));
    assert_int_equal(l->str_compact_size, sizeof(PyCompactUnicodeObject));
    assert_int_equal(offsetof(PyObject, ob_type), 8);
    /* The state bits the string reader decodes. */
    PyASCIIObject probe;
    memset(&probe, 0, sizeof probe);
    probe.state.kind = 4, probe.state.compact = 1, probe.state.ascii = 1;
    uint32_t bits;
    memcpy(&bits, (char *)&probe + offsetof(PyASCIIObject, state), sizeof bits);
    assert_int_equal(bits, (4u << 2) | (1u << 5) | (1u << 6));
    assert_null(sl_py_builtin_layout(10));
}

/* Every instruction of co and of the code objects among its constants. */
static long check_lines(PyCodeObject *co)
{
    long n = 0, nbytes = Py_SIZE(co) * (long)sizeof(_Py_CODEUNIT);
    const uint8_t *tab = (const uint8_t *)PyBytes_AS_STRING(co->co_linetable);
    long tlen = PyBytes_GET_SIZE(co->co_linetable);
    for (long addr = -2; addr < nbytes; addr += 2, n++) {
        int want = PyCode_Addr2Line(co, (int)addr);
        int got = sl_py_addr2line(tab, tlen, co->co_firstlineno, addr);
        if (got != want)
            fail_msg("%s: offset %ld: line %d, PyCode_Addr2Line says %d",
                     PyUnicode_AsUTF8(co->co_qualname), addr, got, want);
    }
    PyObject *consts = co->co_consts;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(consts); i++)
        if (PyCode_Check(PyTuple_GET_ITEM(consts, i)))
            n += check_lines((PyCodeObject *)PyTuple_GET_ITEM(consts, i));
    return n;
}

static void test_lines_match_addr2line(void **state)
{
    (void)state;
    const char *files[] = {"/usr/lib/python3.11/threading.py", "/usr/lib/python3.11/socket.py",
                           "/usr/lib/python3.11/asyncio/base_events.py",
                           "/usr/lib/python3.11/socketserver.py"};
    long checked = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        FILE *f = fopen(files[i], "r");
        assert_non_null(f);
        static char src[1 << 20];
        size_t len = fread(src, 1, sizeof src - 1, f);
        fclose(f);
        src[len] = '\0';
        PyObject *co = Py_CompileString(src, files[i], Py_file_input);
        assert_non_null(co);
        checked += check_lines((PyCodeObject *)co);
        Py_DECREF(co);
    }
    assert_true(checked > 10000);
    /* An empty or cut table: no line, and nothing read past its end. */
    static const uint8_t cut[] = {0xf0 | 0x80 | (14 << 3)};
    assert_int_equal(sl_py_addr2line(cut, 0, 7, 0), -1);
    assert_int_equal(sl_py_addr2line(cut, 1, 7, 0), 7);
    assert_int_equal(sl_py_addr2line(cut, 1, 7, -1), 7);
}

/* capture() from Python: the depot id of the stack where it is called. */
static PyObject *py_capture(PyObject *self, PyObject *args)
{
    (void)self, (void)args;
    return PyLong_FromUnsignedLong(sl_stack_capture());
}

/* capture_in_signal(): the same, captured by a C signal handler that
 * interrupted this call. */
static volatile uint32_t sig_id;
static void on_usr1(int sig)
{
    (void)sig;
    sig_id = sl_stack_capture();
}

static PyObject *py_capture_in_signal(PyObject *self, PyObject *args)
{
    (void)self, (void)args;
    struct sigaction sa = {.sa_handler = on_usr1}, old;
    sigaction(SIGUSR1, &sa, &old);
    raise(SIGUSR1);
    sigaction(SIGUSR1, &old, NULL);
    return PyLong_FromUnsignedLong(sig_id);
}

static PyMethodDef capture_methods[] = {
    {"capture", py_capture, METH_NOARGS, NULL},
    {"capture_in_signal", py_capture_in_signal, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static const char *frame_name(uintptr_t pc, int *line)
{
    struct sl_lframe *f = sl_lframe_get(pc);
    if (!f)
        return NULL;
    assert_int_equal(f->lang, SL_LANG_PYTHON);
    *line = f->line;
    return f->function;
}

#define PY_SRC                                                                                     \
    "class K:\n"                                                                                   \
    "    def m(self):\n"                                                                           \
    "        return capture()\n"                                                                   \
    "def outer():\n"                                                                               \
    "    return [K().m() for _ in 'x'][0]\n"                                                       \
    "ID = sorted([1], key=lambda _: outer())[0]\n"

static void test_capture_names_python_frames(void **state)
{
    (void)state;
    sl_stack_skip_self = 0;
    sl_stack_skip_frames = 1;
    PyObject *mod = PyImport_AddModule("__main__");
    PyObject *d = PyModule_GetDict(mod);
    PyObject *fn = PyCFunction_New(&capture_methods[0], NULL);
    PyDict_SetItemString(d, "capture", fn);
    PyObject *r = PyRun_String(PY_SRC, Py_file_input, d, d);
    assert_non_null(r);
    Py_DECREF(r);
    assert_non_null(sl_py_layout_in_use());
    uint32_t id = (uint32_t)PyLong_AsUnsignedLong(PyDict_GetItemString(d, "ID"));
    const uintptr_t *pcs;
    int n = sl_stack_get(id, &pcs), line = 0, k = 0;
    const char *want[] = {"K.m", "outer.<locals>.<listcomp>", "outer", "<lambda>", "<module>"};
    int lines[] = {3, 5, 5, 6, 6};
    int first = -1;
    for (int i = 0; i < n && k < 5; i++) {
        const char *name = frame_name(pcs[i], &line);
        if (!name)
            continue;
        if (first < 0)
            first = i;
        /* The interpreter's glue between them (sorted() calling the lambda
         * included) is gone: the five frames stand together. */
        assert_int_equal(i, first + k);
        assert_string_equal(name, want[k]);
        assert_int_equal(line, lines[k]);
        k++;
    }
    assert_int_equal(k, 5);
    for (int i = 0; i < n; i++) /* no eval activation is left once its frames stand in */
        assert_false(sl_py_is_eval(pcs[i]) && i < 8);
    Py_DECREF(fn);
}

/* The frames option bounds the stack, Python frames included. */
static void test_frames_limit(void **state)
{
    (void)state;
    PyObject *d = PyModule_GetDict(PyImport_AddModule("__main__"));
    sl_opt.frames = 6;
    PyObject *r = PyRun_String("def deep(n):\n    return deep(n - 1) if n else capture()\n"
                               "ID = deep(50)\n",
                               Py_file_input, d, d);
    sl_opt.frames = 64;
    assert_non_null(r);
    Py_DECREF(r);
    const uintptr_t *pcs;
    int n = sl_stack_get((uint32_t)PyLong_AsUnsignedLong(PyDict_GetItemString(d, "ID")), &pcs);
    assert_int_equal(n, 6);
    int line;
    const char *last = frame_name(pcs[n - 1], &line);
    assert_non_null(last);
    assert_string_equal(last, "deep");
}

/* A C signal handler may have interrupted the interpreter mid-update of its
 * frame chain: its stacks keep the native frames only. */
static void test_signal_frame_keeps_native_frames(void **state)
{
    (void)state;
    if (!sigreturn_findable())
        skip();
    PyObject *d = PyModule_GetDict(PyImport_AddModule("__main__"));
    PyObject *fn = PyCFunction_New(&capture_methods[1], NULL);
    PyDict_SetItemString(d, "capture_in_signal", fn);
    PyObject *r =
        PyRun_String("def f():\n    return capture_in_signal()\nID = f()\n", Py_file_input, d, d);
    assert_non_null(r);
    Py_DECREF(r);
    const uintptr_t *pcs;
    int n = sl_stack_get((uint32_t)PyLong_AsUnsignedLong(PyDict_GetItemString(d, "ID")), &pcs);
    int evals = 0;
    for (int i = 0; i < n; i++) {
        assert_false(SL_LFRAME_IS(pcs[i]));
        evals += sl_py_is_eval(pcs[i]);
    }
    assert_true(evals > 0);
    Py_DECREF(fn);
}

/* A thread the interpreter does not know: the eval pcs stay as they are. */
static void *no_python(void *arg)
{
    uintptr_t in[2] = {sl_py_eval_lo + 1, 0x1234}, out[2];
    *(int *)arg = sl_py_splice(in, 2, out, 2) == 2 && out[0] == in[0] && out[1] == in[1];
    return NULL;
}

static void test_thread_without_python(void **state)
{
    (void)state;
    pthread_t t;
    int ok = 0;
    assert_int_equal(pthread_create(&t, NULL, no_python, &ok), 0);
    pthread_join(t, NULL);
    assert_true(ok);
}

int main(void)
{
    Py_InitializeEx(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_is_the_headers),
        cmocka_unit_test(test_lines_match_addr2line),
        cmocka_unit_test(test_capture_names_python_frames),
        cmocka_unit_test(test_frames_limit),
        cmocka_unit_test(test_signal_frame_keeps_native_frames),
        cmocka_unit_test(test_thread_without_python),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

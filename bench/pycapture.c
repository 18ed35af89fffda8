/* The cost of one stack capture (sl_stack_capture: unwind, splice, store),
 * native and under Python frames. Linked with the library's internals and
 * the installed CPython 3.11; prints
 *     native NS_PER_CAPTURE
 *     python DEPTH NS_PER_CAPTURE
 * "native": from C code, in a process with Python loaded (what a C caller
 * pays: one range check more). "python": from a C function called DEPTH
 * Python frames deep, the frames read and interned in every capture. Every
 * capture is of the same stack, so the depot finds it stored: unwinding and
 * splicing are what is timed. */
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>

#include "capture.h"

static PyObject *py_captures(PyObject *self, PyObject *arg)
{
    (void)self;
    return PyFloat_FromDouble(captures(PyLong_AsLong(arg)));
}

static PyMethodDef methods[] = {{"captures", py_captures, METH_O, NULL}, {NULL, NULL, 0, NULL}};

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    Py_InitializeEx(0);
    printf("native %.1f\n", captures(n));
    PyObject *d = PyModule_GetDict(PyImport_AddModule("__main__"));
    PyObject *fn = PyCFunction_New(&methods[0], NULL);
    PyDict_SetItemString(d, "captures", fn);
    PyDict_SetItemString(d, "N", PyLong_FromLong(n));
    PyObject *r = PyRun_String("def nest(k):\n"
                               "    return captures(N) if k <= 1 else nest(k - 1)\n"
                               "NS = nest(10)\n",
                               Py_file_input, d, d);
    if (!r) {
        PyErr_Print();
        return 1;
    }
    printf("python %d %.1f\n", DEPTH, PyFloat_AsDouble(PyDict_GetItemString(d, "NS")));
    return 0;
}

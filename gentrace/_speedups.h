/* The compiled core's parts, one C file each, joined in one module by _speedups.c. */
#ifndef GENTRACE_SPEEDUPS_H
#define GENTRACE_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* _render.c: the JSON Lines and text renderers' compiled parts, added to the module. */
int gentrace_render_init(PyObject *module);

#endif

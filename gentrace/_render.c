/* The renderers' compiled parts (see jsonl.py). */
#include "_speedups.h"

int
gentrace_render_init(PyObject *module)
{
    (void)module;
    return 0;
}

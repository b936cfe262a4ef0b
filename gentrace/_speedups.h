/* The compiled core's parts, one C file each, joined in one module by _speedups.c. */
#ifndef GENTRACE_SPEEDUPS_H
#define GENTRACE_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* _render.c: the JSON Lines and text renderers' compiled parts, added to the module. */
int gentrace_render_init(PyObject *module);

/* _clock.c: the clock of records, time.perf_counter_ns()'s, read from the CPU's time-stamp counter
 * where the kernel keeps time by it (see there); `clock` added to the module. */
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define GENTRACE_TSC 1
#include <x86intrin.h>
#endif
#define GENTRACE_ANCHOR_TICKS (1ULL << 28) /* re-anchored at least this often: 0.1 s at 2.7 GHz */
#define GENTRACE_MAX_MULT (1ULL << 33)     /* ns per tick << 32: a counter of 0.5 GHz and up */

struct gentrace_clock {
    PyObject *func;            /* _speedups.clock */
    PyObject *perf_counter_ns; /* time.perf_counter_ns */
    int usable;                /* the counter may be read: invariant, and the kernel's clocksource */
    int counting;              /* its rate is learnt: readings come from it */
    uint64_t tsc0, base_tsc;   /* the first pair's counter, the anchor's */
    long long ns0, base_ns;    /* their real clock and reading */
    uint64_t mult, rate;       /* ns per tick << 32: steered, learnt */
};
extern struct gentrace_clock gentrace_clock;

int gentrace_clock_init(PyObject *module);
int gentrace_clock_slow(long long *now);
int gentrace_real_ns(long long *now); /* perf_counter_ns's clock itself: -1 with an exception */

/* The clock's reading, in ns; -1 with an exception set if the real clock failed. */
static inline int
gentrace_clock_now(long long *now)
{
#if defined(GENTRACE_TSC)
    if (gentrace_clock.counting) {
        uint64_t ticks = __rdtsc() - gentrace_clock.base_tsc;
        if (ticks < GENTRACE_ANCHOR_TICKS) {
            *now = gentrace_clock.base_ns + (long long)((ticks * gentrace_clock.mult) >> 32);
            return 0;
        }
    }
#endif
    return gentrace_clock_slow(now);
}

#endif

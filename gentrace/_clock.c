/* The compiled core's clock: time.perf_counter_ns()'s (CLOCK_MONOTONIC on Linux), read without the call.
 *
 * Two reads of that clock were a sixth of a compiled step's cost (clock_gettime is 24 ns here). On
 * x86-64 Linux, where the kernel itself keeps time by the CPU's time-stamp counter (its clocksource
 * is "tsc", which it only picks for an invariant counter, in step on every CPU), the counter is
 * read directly (10 ns) and turned into nanoseconds of the real clock:
 *
 * - first the real clock is read, as perf_counter_ns() does, while the counter's rate is learnt
 *   over CALIBRATE_NS of it (from the pair read at import to a pair read then);
 * - from then on a reading is `base_ns + (ticks since base_tsc) * mult`; at least every
 *   ANCHOR_TICKS the slow path reads a new pair, re-learns the rate over all the time since import,
 *   and anchors the reading where it stands, its rate steered so that it meets the real clock by
 *   the next anchor. So it never goes back, and stays within a few µs of the real clock (a pair
 *   read too far apart, interrupted, is not learnt from; when the two part by over a millisecond,
 *   as when the machine sleeps, the rate is learnt afresh).
 *
 * Elsewhere, or when the counter is not the kernel's clocksource, every reading is the real clock.
 * Callers hold the GIL (the module declares it used), which keeps the state consistent.
 */
#include "_speedups.h"

#include <time.h>

#if defined(GENTRACE_TSC)
#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#endif

struct gentrace_clock gentrace_clock;

#define CALIBRATE_NS 20000000LL /* the real clock's time over which the rate is first learnt */
#define PARTED_NS 1000000LL     /* the real clock and the reading this far apart have parted */
#define MISSES 64               /* pairs that may fail before the counter is given up */
#define PAIR_TICKS 1000         /* a pair read further apart than this (0.3 µs at 3 GHz) was interrupted */

int
gentrace_real_ns(long long *now)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyTime_t t;
    if (PyTime_PerfCounterRaw(&t) < 0) {
        return -1;
    }
    *now = (long long)t;
    return 0;
#elif defined(CLOCK_MONOTONIC)
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    *now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    return 0;
#else
    PyObject *t = PyObject_CallNoArgs(gentrace_clock.perf_counter_ns);
    if (t == NULL) {
        return -1;
    }
    *now = PyLong_AsLongLong(t);
    Py_DECREF(t);
    return (*now == -1 && PyErr_Occurred()) ? -1 : 0;
#endif
}

#if defined(GENTRACE_TSC)

/* ns per tick, << 32, learnt over all the time since the first pair; 0 if it makes no sense. */
static uint64_t
learnt_rate(uint64_t tsc, long long ns)
{
    if (tsc <= gentrace_clock.tsc0 || ns <= gentrace_clock.ns0) {
        return 0;
    }
    unsigned __int128 rate = ((unsigned __int128)(ns - gentrace_clock.ns0) << 32) / (tsc - gentrace_clock.tsc0);
    return rate == 0 || rate >= GENTRACE_MAX_MULT ? 0 : (uint64_t)rate;
}

/* The reading at `tsc` by the current anchor, past ANCHOR_TICKS at the learnt rate. */
static long long
reading_at(uint64_t tsc)
{
    uint64_t ticks = tsc - gentrace_clock.base_tsc;
    if (ticks <= GENTRACE_ANCHOR_TICKS) {
        return gentrace_clock.base_ns + (long long)((ticks * gentrace_clock.mult) >> 32);
    }
    unsigned __int128 past = (unsigned __int128)(ticks - GENTRACE_ANCHOR_TICKS) * gentrace_clock.rate;
    return gentrace_clock.base_ns + (long long)((GENTRACE_ANCHOR_TICKS * gentrace_clock.mult) >> 32)
           + (long long)(past >> 32);
}

/* A pair of readings, the counter's and the real clock's, taken together; 0 if interrupted. */
static int
read_pair(uint64_t *tsc, long long *ns)
{
    uint64_t before = __rdtsc();
    if (gentrace_real_ns(ns) < 0) {
        return -1;
    }
    uint64_t after = __rdtsc();
    if (after - before > PAIR_TICKS) {
        *tsc = after;
        return 0;
    }
    *tsc = before + (after - before) / 2;
    return 1;
}

int
gentrace_clock_slow(long long *now)
{
    static int misses;
    if (!gentrace_clock.counting) {
        if (gentrace_real_ns(now) < 0) {
            return -1;
        }
        if (!gentrace_clock.usable || *now - gentrace_clock.ns0 < CALIBRATE_NS) {
            return 0;
        }
    }
    uint64_t tsc;
    long long ns;
    int paired = read_pair(&tsc, &ns);
    if (paired < 0) {
        return -1;
    }
    if (!gentrace_clock.counting) {
        uint64_t rate = paired ? learnt_rate(tsc, ns) : 0;
        if (rate != 0) {
            gentrace_clock.rate = gentrace_clock.mult = rate;
            gentrace_clock.base_tsc = tsc;
            gentrace_clock.base_ns = ns;
            gentrace_clock.counting = 1;
        }
        else if (++misses == MISSES) { /* the two are never read together here: give up on it */
            gentrace_clock.usable = 0;
        }
        *now = ns;
        return 0;
    }
    if ((int64_t)(tsc - gentrace_clock.base_tsc) < 0) { /* another CPU's counter, a hair behind */
        *now = gentrace_clock.base_ns;
        return 0;
    }
    long long reading = reading_at(tsc);
    if (paired) {
        long long off = ns - reading;
        if (off > PARTED_NS || off < -PARTED_NS) {
            /* They parted (the machine slept): the rate is learnt afresh from here, and a reading
             * behind the real clock jumps to it; one ahead is slowed down to it, never sent back. */
            gentrace_clock.tsc0 = tsc;
            gentrace_clock.ns0 = ns;
            if (off > 0) {
                reading = ns;
                off = 0;
            }
        }
        else {
            uint64_t rate = learnt_rate(tsc, ns);
            gentrace_clock.rate = rate != 0 ? rate : gentrace_clock.rate;
        }
        /* steered to gain `off` over the next ANCHOR_TICKS, within half and twice the rate */
        __int128 rate = gentrace_clock.rate;
        __int128 steered = rate + ((__int128)off << 32) / (__int128)GENTRACE_ANCHOR_TICKS;
        steered = steered < rate / 2 ? rate / 2 : steered > rate * 2 ? rate * 2 : steered;
        gentrace_clock.mult = steered < (__int128)GENTRACE_MAX_MULT ? (uint64_t)steered : (uint64_t)rate;
    }
    gentrace_clock.base_tsc = tsc;
    gentrace_clock.base_ns = reading;
    *now = reading;
    return 0;
}

/* Whether the kernel keeps time by an invariant time-stamp counter. */
static int
counter_usable(void)
{
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx) || !(edx & (1u << 8))) {
        return 0;
    }
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f == NULL) {
        return 0;
    }
    char source[16] = {0};
    int tsc = fgets(source, sizeof source, f) != NULL && strcmp(source, "tsc\n") == 0;
    fclose(f);
    return tsc;
}

#else

int
gentrace_clock_slow(long long *now)
{
    return gentrace_real_ns(now);
}

#endif

static PyObject *
clock_func(PyObject *module, PyObject *unused)
{
    long long now;
    return gentrace_clock_now(&now) < 0 ? NULL : PyLong_FromLongLong(now);
}

static PyMethodDef clock_def = {
    "clock", (PyCFunction)clock_func, METH_NOARGS,
    "clock() -> int: time.perf_counter_ns(), read from the CPU's time-stamp counter where the "
    "kernel keeps time by it (gentrace/_clock.c): the clock of records on the compiled path.",
};

int
gentrace_clock_init(PyObject *module)
{
    PyObject *time = PyImport_ImportModule("time");
    if (time == NULL) {
        return -1;
    }
    gentrace_clock.perf_counter_ns = PyObject_GetAttrString(time, "perf_counter_ns");
    Py_DECREF(time);
    if (gentrace_clock.perf_counter_ns == NULL) {
        return -1;
    }
    gentrace_clock.func = PyCFunction_NewEx(&clock_def, NULL, NULL);
    if (gentrace_clock.func == NULL || PyModule_AddObjectRef(module, "clock", gentrace_clock.func) < 0) {
        return -1;
    }
#if defined(GENTRACE_TSC)
    gentrace_clock.usable = counter_usable();
    if (gentrace_clock.usable && read_pair(&gentrace_clock.tsc0, &gentrace_clock.ns0) <= 0) {
        gentrace_clock.usable = 0; /* an error (cleared: the real clock will say it) or interrupted */
        PyErr_Clear();
    }
#endif
    return 0;
}

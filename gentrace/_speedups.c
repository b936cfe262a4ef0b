/* gentrace's compiled core: the generator proxy's steps and the recorder's hot path.
 *
 * The twins of proxy._PythonSteps and the fields of recorder.Recorder that a step reads. A step
 * here does what the Python one does, in the same order (the clock is called as often, the sinks
 * are fed the same record tuple), but no Python frame stands between the caller and the
 * generator: `PyIter_Send` calls the real one. What is rare (a step that raises, a step past
 * max_events, the sinks that want a step's start) calls back into Python, to the same code the
 * pure-Python path runs. `configure()` hands over that code and the record vocabulary once.
 */
#include "_speedups.h"

#include <structmember.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#if PY_VERSION_HEX < 0x030B0000
#include <frameobject.h>
#endif

/* -- what configure() hands over ---------------------------------------------------------- */

static PyObject *s_next, *s_send, *s_throw, *s_close;        /* ops */
static PyObject *s_yield, *s_return, *s_closed;               /* outcomes */
static PyObject *s_running, *s_suspended, *s_gen_closed;      /* states */
static PyObject *raised_func;    /* proxy.record_raised(proxy, seq, op, arg, exc, before, depth, thread, task, start, end) */
static PyObject *task_of_func;   /* recorder.task_of(tasks) */
static PyObject *thread_factory; /* recorder.new_thread_state(): [depth, thread name] */
static PyObject *discard_func;   /* recorder.discard: where records go that nothing keeps */
static PyTypeObject *instance_ref_type;
static Py_ssize_t state_offset;  /* of InstanceRef's `state` slot */

static PyObject *str_gi_code, *str_cr_code, *str_ag_code;
static PyObject *str_gi_frame, *str_overflow, *str_start, *str_thread_key, *str_info;
static PyObject *str_catch_up, *str_fail, *str_thread_id, *str_get_name;

static int configured = 0;
static Py_ssize_t deep, room, step_frames;  /* proxy.DEEP, ROOM, COMPILED_STEP_FRAMES */

/* -- the clock ----------------------------------------------------------------------------- */

/* Read `clock`: the compiled core's own (_clock.c), or perf_counter_ns's (a test may pass it), or
 * any other by a call. */
static int
read_clock(PyObject *clock, long long *now)
{
    if (clock == gentrace_clock.func) {
        return gentrace_clock_now(now);
    }
    if (clock == gentrace_clock.perf_counter_ns) {
        return gentrace_real_ns(now);
    }
    PyObject *t = PyObject_CallNoArgs(clock);
    if (t == NULL) {
        return -1;
    }
    *now = PyLong_AsLongLong(t);
    Py_DECREF(t);
    return (*now == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* -- per thread: [depth, name], shared with the Python code (recorder.thread_state.s) ------- */

/* The last thread's list, by the thread state's id (never reused): steps mostly run on one thread. */
static PyObject *cached_thread_list;
static uint64_t cached_thread_id;

static PyObject *
thread_list_slow(void)  /* borrowed */
{
    PyObject *dict = PyThreadState_GetDict();
    if (dict == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "gentrace: no thread state");
        return NULL;
    }
    PyObject *st = PyDict_GetItemWithError(dict, str_thread_key);
    if (st != NULL || PyErr_Occurred()) {
        return st;
    }
    st = PyObject_CallNoArgs(thread_factory);
    if (st == NULL) {
        return NULL;
    }
    if (!PyList_CheckExact(st) || PyList_GET_SIZE(st) != 2) {
        Py_DECREF(st);
        PyErr_SetString(PyExc_TypeError, "gentrace: a thread's state must be a list [depth, name]");
        return NULL;
    }
    int failed = PyDict_SetItem(dict, str_thread_key, st);
    Py_DECREF(st);  /* the thread's dict holds it */
    return failed ? NULL : st;
}

static PyObject *
thread_list(void)  /* borrowed */
{
    uint64_t id = PyThreadState_GetID(PyThreadState_Get());
    if (cached_thread_list != NULL && cached_thread_id == id) {
        return cached_thread_list;
    }
    PyObject *st = thread_list_slow();
    if (st != NULL) {
        Py_XSETREF(cached_thread_list, Py_NewRef(st));
        cached_thread_id = id;
    }
    return st;
}

/* Set a thread's depth (`st` is its [depth, name]: a list of two, made by thread_list); steals
 * `depth`. */
static inline void
put_depth(PyObject *st, PyObject *depth)
{
    PyObject *old = PyList_GET_ITEM(st, 0);
    PyList_SET_ITEM(st, 0, depth);
    Py_DECREF(old);
}

typedef struct {
    PyObject_HEAD
} ThreadStateObject;

static PyObject *
threadstate_get_s(PyObject *self, void *closure)
{
    PyObject *st = thread_list();
    Py_XINCREF(st);
    return st;
}

static PyGetSetDef threadstate_getset[] = {
    {"s", threadstate_get_s, NULL, "This thread's [depth of traced steps running, thread name].", NULL},
    {NULL},
};

static PyTypeObject ThreadStateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gentrace._speedups.ThreadState",
    .tp_basicsize = sizeof(ThreadStateObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Per thread, `s`: [depth, thread name], as recorder._ThreadState (kept on the thread state).",
    .tp_getset = threadstate_getset,
    .tp_new = PyType_GenericNew,
};

/* -- Counter: the seqs, as itertools.count(start) gives them, but read in C without an int ---- */

typedef struct {
    PyObject_HEAD
    long long next;
} Counter;

static PyObject *
counter_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"start", NULL};
    long long start = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|L:Counter", kwlist, &start)) {
        return NULL;
    }
    Counter *self = (Counter *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->next = start;
    }
    return (PyObject *)self;
}

static PyObject *
counter_iternext(Counter *self)
{
    if (self->next == LLONG_MAX) {
        PyErr_SetString(PyExc_OverflowError, "gentrace: seq past 2**63 - 1");
        return NULL;
    }
    return PyLong_FromLongLong(self->next++);
}

static PyObject *
counter_repr(Counter *self)
{
    return PyUnicode_FromFormat("Counter(%lld)", self->next);
}

static PyTypeObject CounterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gentrace._speedups.Counter",
    .tp_basicsize = sizeof(Counter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Counter(start=0): start, start + 1, ... as itertools.count, which a compiled step "
              "reads without making an int.",
    .tp_repr = (reprfunc)counter_repr,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)counter_iternext,
    .tp_new = counter_new,
};

/* -- RecorderCore: the fields of Recorder a step reads ------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *counter;
    long long limit;
    long long latest;
    PyObject *clock;
    PyObject *tasks;
    PyObject *starting;
    PyObject *emit;
    PyObject *naming, *refs, *by_name, *on_collect;  /* what an instance's creation reads */
} RecorderCore;

static int
core_traverse(RecorderCore *self, visitproc visit, void *arg)
{
    Py_VISIT(self->counter);
    Py_VISIT(self->clock);
    Py_VISIT(self->tasks);
    Py_VISIT(self->starting);
    Py_VISIT(self->emit);
    Py_VISIT(self->naming);
    Py_VISIT(self->refs);
    Py_VISIT(self->by_name);
    Py_VISIT(self->on_collect);
    return 0;
}

static int
core_clear(RecorderCore *self)
{
    Py_CLEAR(self->counter);
    Py_CLEAR(self->clock);
    Py_CLEAR(self->tasks);
    Py_CLEAR(self->starting);
    Py_CLEAR(self->emit);
    Py_CLEAR(self->naming);
    Py_CLEAR(self->refs);
    Py_CLEAR(self->by_name);
    Py_CLEAR(self->on_collect);
    return 0;
}

static void
core_dealloc(RecorderCore *self)
{
    PyObject_GC_UnTrack(self);
    core_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

#define CORE_MEMBER(name, doc) {#name, T_OBJECT_EX, offsetof(RecorderCore, name), 0, doc}

static PyMemberDef core_members[] = {
    CORE_MEMBER(counter, "The next seq: an iterator of ints (a Counter, which a step reads in C)."),
    {"limit", T_LONGLONG, offsetof(RecorderCore, limit), 0,
     "The last seq recorded (max_events); -1 once recording stopped."},
    {"latest", T_LONGLONG, offsetof(RecorderCore, latest), 0, "The seq of the latest operation started."},
    {"_naming", T_OBJECT_EX, offsetof(RecorderCore, naming), 0, "Per (function, name): its instances' names."},
    {"_refs", T_OBJECT_EX, offsetof(RecorderCore, refs), 0, "The live instances' InstanceRefs, in creation order."},
    {"by_name", T_OBJECT_EX, offsetof(RecorderCore, by_name), 0, "The live instances by name."},
    {"_on_collect", T_OBJECT_EX, offsetof(RecorderCore, on_collect), 0, "Every InstanceRef's callback."},
    CORE_MEMBER(clock, "The clock, in ns."),
    CORE_MEMBER(tasks, "asyncio's table of running tasks, or None."),
    CORE_MEMBER(starting, "Whether a sink wants each operation's start."),
    CORE_MEMBER(emit, "Where each record goes."),
    {NULL},
};

static PyObject *core_adopt(RecorderCore *self, PyObject *const *args, Py_ssize_t nargs);
static PyObject *core_collected(RecorderCore *self, PyObject *ref);

static PyMethodDef core_methods[] = {
    {"adopt", (PyCFunction)(void (*)(void))core_adopt, METH_FASTCALL,
     "adopt(gen, name, func, arg, proxy_type, state, frame_attr): name a new instance of the traced "
     "function `func`, put `proxy_type` around it and record its creation; the proxy."},
    {"collected", (PyCFunction)core_collected, METH_O,
     "The callback of an instance's weak reference: forget it, and record its collect (by "
     "_record_collect) if it was left live."},
    {NULL},
};

static PyTypeObject RecorderCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gentrace._speedups.RecorderCore",
    .tp_basicsize = sizeof(RecorderCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The fields of a Recorder that a compiled step reads and writes.",
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_members = core_members,
    .tp_methods = core_methods,
    .tp_new = PyType_GenericNew,
};

/* -- Memory: every record kept, as C structs in chunks (Recorder.memory, keep=None) --------- */

/* One record: (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took,
 * lasti, ended_after), its numbers as C integers: what a step describes, and what a sink that
 * wants a tuple gets from rec_tuple. */
typedef struct {
    long long seq, start, took, ended, depth, lasti;
    PyObject *info, *op, *arg, *outcome, *value, *before, *after, *thread, *task;
} Rec;

/* What Memory keeps of a record: 80 bytes, where a Rec takes 128, since the pages of a long run's
 * records cost more than anything else in keeping them. The vocabulary (op, outcome, the states)
 * as codes, the small numbers in 32 bits (`ended` as ended - seq, which another thread's steps can
 * make negative); a record that does not fit (a test's odd clock, a step of over 4 s, a word not
 * in the vocabulary) is kept whole as its tuple, in `arg`, with `op` ODD. */
typedef struct {
    long long seq, start;
    PyObject *info, *arg, *value, *thread, *task;
    uint32_t took;
    int32_t ended, lasti;
    uint16_t depth;
    uint8_t op, outcome, before, after;
} Kept;

#define ODD 255

/* The vocabulary: the words a record's op, outcome and states are (interned strs, kept for good,
 * and None: a create record has no state before), by code; a word's code is found by its address
 * in an open-addressed table, never emptied. */
static PyObject *vocab[ODD];
static int nvocab;
#define VOCAB_SLOTS 512 /* a power of two, over twice ODD: short probes */
static struct {
    PyObject *word;
    uint8_t code;
} vocab_table[VOCAB_SLOTS];

static uint8_t
code_of(PyObject *word)
{
    size_t slot = ((uintptr_t)word >> 4) & (VOCAB_SLOTS - 1);
    while (vocab_table[slot].word != NULL) {
        if (vocab_table[slot].word == word) {
            return vocab_table[slot].code;
        }
        slot = (slot + 1) & (VOCAB_SLOTS - 1);
    }
    if (word == NULL || nvocab == ODD
        || (word != Py_None && !(PyUnicode_CheckExact(word) && PyUnicode_CHECK_INTERNED(word)))) {
        return ODD;
    }
    vocab[nvocab] = Py_NewRef(word);
    vocab_table[slot].word = word;
    vocab_table[slot].code = (uint8_t)nvocab;
    return (uint8_t)nvocab++;
}

/* The records are kept in chunks: the first of FIRST records (80 KiB), then chunks of MORE, each
 * 2 MiB, aligned and advised to be one huge page where the kernel allows it (Linux's
 * transparent huge pages): a long run's records then cost one page fault per 26,214 of them, not
 * one per 51, which was as much as the rest of keeping them. */
#define FIRST 1024
#define HUGE_PAGE ((size_t)1 << 21)
#define MORE ((Py_ssize_t)(HUGE_PAGE / sizeof(Kept)))

typedef struct {
    PyObject_HEAD
    Kept **chunks;
    Py_ssize_t nchunks;   /* allocated */
    Py_ssize_t count;     /* records kept */
    Kept *next, *end;     /* where the next one goes in the last chunk, and that chunk's end */
} Memory;

static PyTypeObject MemoryType;
static PyMethodDef *memory_append_def;

static Py_ssize_t
chunk_length(Py_ssize_t chunk)
{
    return chunk == 0 ? FIRST : MORE;
}

static Kept *
kept_at(Kept **chunks, Py_ssize_t i)
{
    return i < FIRST ? &chunks[0][i] : &chunks[1 + (i - FIRST) / MORE][(i - FIRST) % MORE];
}

static Kept *
new_chunk(Py_ssize_t chunk)
{
    if (chunk == 0) {
        return PyMem_Malloc(FIRST * sizeof(Kept));
    }
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    void *huge;
    if (posix_memalign(&huge, HUGE_PAGE, HUGE_PAGE) != 0) {
        return NULL;
    }
    (void)madvise(huge, HUGE_PAGE, MADV_HUGEPAGE); /* advice: where it is refused, small pages */
    return huge;
#else
    return malloc(HUGE_PAGE);
#endif
}

static void
free_chunk(Py_ssize_t chunk, Kept *kept)
{
    if (chunk == 0) {
        PyMem_Free(kept);
    }
    else {
        free(kept);
    }
}

/* memory_slot's way when the last chunk is full: the next one (and room for it). */
static Kept *
memory_grow(Memory *self)
{
    Py_ssize_t chunk = self->count == 0 ? 0 : 1 + (self->count - FIRST) / MORE;
    if (chunk == self->nchunks) {
        Py_ssize_t n = self->nchunks ? self->nchunks * 2 : 4;
        Kept **grown = PyMem_Realloc(self->chunks, (size_t)n * sizeof(Kept *));
        if (grown == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        for (Py_ssize_t i = self->nchunks; i < n; i++) {
            grown[i] = NULL;
        }
        self->chunks = grown;
        self->nchunks = n;
    }
    self->chunks[chunk] = new_chunk(chunk);
    if (self->chunks[chunk] == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    self->next = self->chunks[chunk];
    self->end = self->next + chunk_length(chunk);
    return self->next;
}

/* Where the next record goes; memory_kept() once it is filled. */
static inline Kept *
memory_slot(Memory *self)
{
    return self->next < self->end ? self->next : memory_grow(self);
}

static inline void
memory_kept(Memory *self)
{
    self->next++;
    self->count++;
}

static PyObject *rec_tuple(const Rec *r);

/* Keep a record whole, as its tuple `record` (stolen), in a slot of its own. */
static int
keep_whole(Memory *self, PyObject *record)
{
    Kept *k = memory_slot(self);
    if (k == NULL) {
        Py_DECREF(record);
        return -1;
    }
    *k = (Kept){.arg = record, .op = ODD};
    memory_kept(self);
    return 0;
}

/* Whether a record's numbers fit a Kept's fields. */
static int
fits(const Rec *r)
{
    /* ended - seq in unsigned arithmetic, which cannot overflow, then read as signed */
    unsigned long long shift = (unsigned long long)r->ended - (unsigned long long)r->seq + 0x80000000ULL;
    return r->took >= 0 && r->took <= UINT32_MAX && shift <= UINT32_MAX && r->lasti >= -1
           && r->lasti <= INT32_MAX && r->depth >= 0 && r->depth <= UINT16_MAX;
}

/* Keep `r` (its objects are borrowed: taken here). */
static int
memory_keep(Memory *self, const Rec *r)
{
    uint8_t op = code_of(r->op), outcome = code_of(r->outcome), before = code_of(r->before);
    uint8_t after = code_of(r->after);
    if (op == ODD || outcome == ODD || before == ODD || after == ODD || !fits(r)) {
        PyObject *record = rec_tuple(r);  /* made before the slot is taken: it may run Python */
        return record == NULL ? -1 : keep_whole(self, record);
    }
    Kept *k = memory_slot(self);
    if (k == NULL) {
        return -1;
    }
    k->op = op;
    k->outcome = outcome;
    k->before = before;
    k->after = after;
    k->seq = r->seq;
    k->start = r->start;
    k->info = Py_NewRef(r->info);
    k->arg = Py_NewRef(r->arg);
    k->value = Py_NewRef(r->value);
    k->thread = Py_NewRef(r->thread);
    k->task = Py_NewRef(r->task);
    k->took = (uint32_t)r->took;
    k->ended = (int32_t)((unsigned long long)r->ended - (unsigned long long)r->seq);
    k->lasti = (int32_t)r->lasti;
    k->depth = (uint16_t)r->depth;
    memory_kept(self);
    return 0;
}

static PyObject *
rec_tuple(const Rec *r)
{
    PyObject *seq = PyLong_FromLongLong(r->seq), *depth = PyLong_FromLongLong(r->depth);
    PyObject *start = PyLong_FromLongLong(r->start), *took = PyLong_FromLongLong(r->took);
    PyObject *lasti = PyLong_FromLongLong(r->lasti), *ended = PyLong_FromLongLong(r->ended);
    PyObject *t = NULL;
    if (seq && depth && start && took && lasti && ended) {
        t = PyTuple_Pack(15, seq, r->info, r->op, r->arg, r->outcome, r->value, r->before, r->after,
                         depth, r->thread, r->task, start, took, lasti, ended);
    }
    Py_XDECREF(seq);
    Py_XDECREF(depth);
    Py_XDECREF(start);
    Py_XDECREF(took);
    Py_XDECREF(lasti);
    Py_XDECREF(ended);
    return t;
}

static PyObject *
kept_tuple(const Kept *k)
{
    if (k->op == ODD) {
        return Py_NewRef(k->arg);
    }
    unsigned long long ended = (unsigned long long)k->seq + (unsigned long long)(long long)k->ended;
    Rec r = {.seq = k->seq, .start = k->start, .took = k->took, .ended = (long long)ended,
             .depth = k->depth, .lasti = k->lasti, .info = k->info, .op = vocab[k->op], .arg = k->arg,
             .outcome = vocab[k->outcome], .value = k->value, .before = vocab[k->before],
             .after = vocab[k->after], .thread = k->thread, .task = k->task};
    return rec_tuple(&r);
}

static int
as_machine_int(PyObject *o, long long *out)
{
    if (!PyLong_CheckExact(o)) {
        return -1;
    }
    int overflow;
    *out = PyLong_AsLongLongAndOverflow(o, &overflow);
    return overflow ? -1 : 0;
}

static PyObject *
memory_append(Memory *self, PyObject *record)
{
    if (!PyTuple_CheckExact(record) || PyTuple_GET_SIZE(record) != 15) {
        PyErr_SetString(PyExc_TypeError, "Memory.append() takes a record: a tuple of 15");
        return NULL;
    }
    PyObject **f = &PyTuple_GET_ITEM(record, 0);
    Rec r = {0};
    if (as_machine_int(f[0], &r.seq) || as_machine_int(f[8], &r.depth) || as_machine_int(f[11], &r.start)
        || as_machine_int(f[12], &r.took) || as_machine_int(f[13], &r.lasti)
        || as_machine_int(f[14], &r.ended)) {
        return keep_whole(self, Py_NewRef(record)) < 0 ? NULL : Py_NewRef(Py_None);
    }
    r.info = f[1];
    r.op = f[2];
    r.arg = f[3];
    r.outcome = f[4];
    r.value = f[5];
    r.before = f[6];
    r.after = f[7];
    r.thread = f[9];
    r.task = f[10];
    return memory_keep(self, &r) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
memory_records(Memory *self, PyObject *unused)
{
    Py_ssize_t count = self->count;  /* records appended while the tuples are made come later */
    PyObject *list = PyList_New(count);
    if (list == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *t = kept_tuple(kept_at(self->chunks, i));
        if (t == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, t);
    }
    return list;
}

static Py_ssize_t
memory_len(Memory *self)
{
    return self->count;
}

#define FOR_EACH_KEPT(self, k)                                                                   \
    for (Py_ssize_t i_ = 0; i_ < (self)->count; i_++)                                            \
        for (Kept *k = kept_at((self)->chunks, i_); k != NULL; k = NULL)

static int
memory_traverse(Memory *self, visitproc visit, void *arg)
{
    FOR_EACH_KEPT(self, k) {
        Py_VISIT(k->info);
        Py_VISIT(k->arg);
        Py_VISIT(k->value);  /* thread and task are names: strs or None */
    }
    return 0;
}

static int
memory_clear(Memory *self)
{
    Py_ssize_t count = self->count;
    Kept **chunks = self->chunks;
    Py_ssize_t nchunks = self->nchunks;
    self->count = 0;
    self->chunks = NULL;
    self->nchunks = 0;
    self->next = self->end = NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        Kept *k = kept_at(chunks, i);
        Py_XDECREF(k->info);
        Py_XDECREF(k->arg);
        Py_XDECREF(k->value);
        Py_XDECREF(k->thread);
        Py_XDECREF(k->task);
    }
    for (Py_ssize_t c = 0; c < nchunks && chunks[c] != NULL; c++) {
        free_chunk(c, chunks[c]);
    }
    PyMem_Free(chunks);
    return 0;
}

static void
memory_dealloc(Memory *self)
{
    PyObject_GC_UnTrack(self);
    memory_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef memory_methods[] = {
    {"append", (PyCFunction)memory_append, METH_O, "Keep one record (a tuple of 15)."},
    {"records", (PyCFunction)memory_records, METH_NOARGS, "The records kept, as tuples, in the order kept."},
    {NULL},
};

static PySequenceMethods memory_as_sequence = {
    .sq_length = (lenfunc)memory_len,
};

static PyTypeObject MemoryType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gentrace._speedups.Memory",
    .tp_basicsize = sizeof(Memory),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Every record kept (keep=None), as C structs in chunks: the twin of the flat list.",
    .tp_traverse = (traverseproc)memory_traverse,
    .tp_clear = (inquiry)memory_clear,
    .tp_dealloc = (destructor)memory_dealloc,
    .tp_methods = memory_methods,
    .tp_as_sequence = &memory_as_sequence,
    .tp_new = PyType_GenericNew,
};

/* -- GeneratorSteps: the proxy's next/send/throw/close ------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *gen;
    RecorderCore *rec;
    PyObject *ref;
    PyObject *info;
    PyObject *weakreflist;
    PyObject *frame;  /* borrowed: the real generator's frame object, once looked up (paused_at) */
} Steps;

#define REF_STATE(ref) (*(PyObject **)((char *)(ref) + state_offset))

static void
set_state(PyObject *ref, PyObject *state)
{
    PyObject *old = REF_STATE(ref);
    Py_INCREF(state);
    REF_STATE(ref) = state;
    Py_XDECREF(old);
}

/* StopIteration(value), as a generator's send() raises it (a tuple or exception is wrapped). */
static void
set_stop_iteration(PyObject *value)
{
    if (value == Py_None) {
        PyErr_SetNone(PyExc_StopIteration);
        return;
    }
    if (!PyTuple_Check(value) && !PyExceptionInstance_Check(value)) {
        PyErr_SetObject(PyExc_StopIteration, value);
        return;
    }
    PyObject *exc = PyObject_CallOneArg(PyExc_StopIteration, value);
    if (exc != NULL) {
        PyErr_SetObject(PyExc_StopIteration, exc);
        Py_DECREF(exc);
    }
}

/* What __next__ gives for a step's outcome: the value yielded, or NULL with StopIteration (a bare
 * one for None, as a generator's __next__ raises) or the step's error. */
static PyObject *
as_next(PySendResult r, PyObject *result)
{
    if (r == PYGEN_NEXT) {
        return result;
    }
    if (r == PYGEN_RETURN) {
        if (result != Py_None) {
            set_stop_iteration(result);
        }
        Py_DECREF(result);
    }
    return NULL;
}

/* What send() gives for a step's outcome: as __next__, but StopIteration(value) whatever it is. */
static PyObject *
as_send(PySendResult r, PyObject *result)
{
    if (r == PYGEN_NEXT) {
        return result;
    }
    if (r == PYGEN_RETURN) {
        set_stop_iteration(result);
        Py_DECREF(result);
    }
    return NULL;
}

/* The exception being raised, taken (normalized, with its traceback), and put back. */
typedef struct {
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc;
#else
    PyObject *type, *exc, *tb;
#endif
} Raised;

static void
take_raised(Raised *r)
{
#if PY_VERSION_HEX >= 0x030C0000
    r->exc = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&r->type, &r->exc, &r->tb);
    PyErr_NormalizeException(&r->type, &r->exc, &r->tb);
    if (r->tb != NULL && r->exc != NULL) {
        PyException_SetTraceback(r->exc, r->tb);
    }
#endif
}

static void
drop_raised(Raised *r)
{
#if PY_VERSION_HEX < 0x030C0000
    Py_XDECREF(r->type);
    Py_XDECREF(r->tb);
#endif
    Py_XDECREF(r->exc);
}

static void
restore_raised(Raised *r)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(r->exc);
#else
    PyErr_Restore(r->type, r->exc, r->tb);
#endif
}

/* -- LoneEmit: the recorder's emit when one sink and no memory take the records ------------- */

/* The twin of Recorder._make_emit's `emit_one`: a record goes to the lone sink's `end` (after the
 * deferred ones, in order); one it has no stack room for is deferred; its other failures stop the
 * recording (Recorder._fail) and never reach the traced program. */
typedef struct {
    PyObject_HEAD
    PyObject *end;
    PyObject *deferred;  /* Recorder._deferred: [(write, record)] */
    PyObject *recorder;
    vectorcallfunc vectorcall;
} LoneEmit;

static int
lone_defer(LoneEmit *self, PyObject *record)
{
    PyObject *pair = PyTuple_Pack(2, self->end, record);
    if (pair == NULL) {
        return -1;
    }
    int failed = PyList_Append(self->deferred, pair);
    Py_DECREF(pair);
    return failed;
}

/* Emit one record: None, or NULL with what must reach the program (not an Exception's fault). */
static PyObject *
lone_emit(LoneEmit *self, PyObject *record)
{
    if (self->end == NULL) {  /* cleared by the collector, with the recorder: nothing takes it */
        Py_RETURN_NONE;
    }
    if (PyList_GET_SIZE(self->deferred) > 0) {
        PyObject *caught_up = PyObject_CallMethodNoArgs(self->recorder, str_catch_up);
        if (caught_up == NULL) {
            return NULL;
        }
        int ok = PyObject_IsTrue(caught_up);
        Py_DECREF(caught_up);
        if (ok < 0) {
            return NULL;
        }
        if (!ok) {
            return lone_defer(self, record) < 0 ? NULL : Py_NewRef(Py_None);
        }
    }
    PyObject *result = PyObject_CallOneArg(self->end, record);
    if (result != NULL) {
        Py_DECREF(result);
        Py_RETURN_NONE;
    }
    if (PyErr_ExceptionMatches(PyExc_RecursionError)) {  /* the program used the stack up */
        PyErr_Clear();
        return lone_defer(self, record) < 0 ? NULL : Py_NewRef(Py_None);
    }
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {  /* KeyboardInterrupt, SystemExit: the program's */
        return NULL;
    }
    Raised raised;
    take_raised(&raised);
    PyObject *failed = PyObject_CallMethodOneArg(self->recorder, str_fail, raised.exc);
    drop_raised(&raised);
    if (failed == NULL) {
        return NULL;
    }
    Py_DECREF(failed);
    Py_RETURN_NONE;
}

static PyObject *
lone_vectorcall(LoneEmit *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0)) {
        PyErr_SetString(PyExc_TypeError, "LoneEmit() takes one record");
        return NULL;
    }
    return lone_emit(self, args[0]);
}

static PyObject *
lone_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"end", "deferred", "recorder", NULL};
    PyObject *end, *deferred, *recorder;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!O:LoneEmit", kwlist, &end, &PyList_Type, &deferred,
                                     &recorder)) {
        return NULL;
    }
    LoneEmit *self = (LoneEmit *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->end = Py_NewRef(end);
    self->deferred = Py_NewRef(deferred);
    self->recorder = Py_NewRef(recorder);
    self->vectorcall = (vectorcallfunc)lone_vectorcall;
    return (PyObject *)self;
}

static int
lone_traverse(LoneEmit *self, visitproc visit, void *arg)
{
    Py_VISIT(self->end);
    Py_VISIT(self->deferred);
    Py_VISIT(self->recorder);
    return 0;
}

static int
lone_clear(LoneEmit *self)
{
    Py_CLEAR(self->end);
    Py_CLEAR(self->deferred);
    Py_CLEAR(self->recorder);
    return 0;
}

static void
lone_dealloc(LoneEmit *self)
{
    PyObject_GC_UnTrack(self);
    lone_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject LoneEmitType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gentrace._speedups.LoneEmit",
    .tp_basicsize = sizeof(LoneEmit),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "LoneEmit(end, deferred, recorder): a recorder's emit to one sink and no memory, the "
              "twin of Recorder._make_emit's emit_one.",
    .tp_traverse = (traverseproc)lone_traverse,
    .tp_clear = (inquiry)lone_clear,
    .tp_dealloc = (destructor)lone_dealloc,
    .tp_vectorcall_offset = offsetof(LoneEmit, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = lone_new,
};

/* A frame's f_lasti, as Python shows it. */
static long long
frame_lasti(PyObject *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyFrame_GetLasti((PyFrameObject *)frame);
#else
    int i = ((PyFrameObject *)frame)->f_lasti;
    return i < 0 ? -1 : (long long)i * (long long)sizeof(_Py_CODEUNIT);
#endif
}

/* The offset of the instruction a generator is paused at, as its `frame_attr` (gi_frame, ag_frame,
 * cr_frame).f_lasti says; -1 when it has no frame.
 *
 * With `cache` (a proxy's `frame`), a real generator's or coroutine's frame object is looked up
 * once (the attribute is audited: a lookup costs more than the rest of the step) and kept there,
 * borrowed: the generator holds that same frame object until it finishes, and a cached one is only
 * read after a step that yielded, which a finished generator never does. Borrowed, so that a
 * finished generator's frame and its locals go when they would untraced. */
static int
paused_at(PyObject *gen, PyObject *frame_attr, long long *lasti, PyObject **cache)
{
    if (cache != NULL && *cache != NULL) {
        *lasti = frame_lasti(*cache);
        return 0;
    }
    PyObject *frame = PyObject_GetAttr(gen, frame_attr);
    if (frame == NULL) {
        return -1;
    }
    *lasti = frame == Py_None ? -1 : frame_lasti(frame);
    if (cache != NULL && frame != Py_None
        && (PyGen_CheckExact(gen) || PyCoro_CheckExact(gen) || PyAsyncGen_CheckExact(gen))) {
        *cache = frame;
    }
    Py_DECREF(frame);
    return 0;
}

typedef enum { CALL_NEXT, CALL_SEND, CALL_THROW, CALL_CLOSE } Call;

/* Call the real generator: PYGEN_NEXT (it yielded *result), PYGEN_RETURN (it returned *result,
 * no exception set) or PYGEN_ERROR. */
static PySendResult
call_gen(PyObject *gen, Call call, PyObject *arg, PyObject *const *args, Py_ssize_t nargs, PyObject **result)
{
    if (call == CALL_NEXT || call == CALL_SEND) {
        return PyIter_Send(gen, arg, result);
    }
    PyObject *stack[4] = {gen, NULL, NULL, NULL};
    for (Py_ssize_t i = 0; i < nargs; i++) {
        stack[i + 1] = args[i];
    }
    PyObject *name = call == CALL_THROW ? s_throw : s_close;
    *result = PyObject_VectorcallMethod(name, stack, (size_t)(nargs + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    return *result == NULL ? PYGEN_ERROR : PYGEN_NEXT;
}

static int
emit_record(RecorderCore *rec, const Rec *r)
{
    PyObject *emit = rec->emit;
    if (emit == discard_func) {
        return 0;
    }
    if (PyCFunction_Check(emit)) {
        PyMethodDef *def = ((PyCFunctionObject *)emit)->m_ml;
        PyObject *memory = PyCFunction_GET_SELF(emit);
        if (def == memory_append_def && Py_IS_TYPE(memory, &MemoryType)) {
            return memory_keep((Memory *)memory, r);
        }
    }
    PyObject *record = rec_tuple(r);
    if (record == NULL) {
        return -1;
    }
    PyObject *result = PyObject_CallOneArg(emit, record);
    Py_DECREF(record);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

static int
recorder_ready(RecorderCore *rec)
{
    if (rec->counter == NULL || rec->clock == NULL || rec->emit == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "gentrace: the recorder is not set up");
        return -1;
    }
    return 0;
}

/* The next seq, taken from the recorder's counter into *number and made the latest: 0. Past
 * max_events: 1, after Recorder.overflow(seq), nothing to record; -1 on an error. */
static int
take_seq(RecorderCore *rec, long long *number)
{
    PyObject *counter = rec->counter;
    if (Py_IS_TYPE(counter, &CounterType) && ((Counter *)counter)->next < LLONG_MAX) {
        *number = ((Counter *)counter)->next++;
    }
    else {
        PyObject *got = Py_TYPE(counter)->tp_iternext(counter);
        if (got == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetNone(PyExc_StopIteration);
            }
            return -1;
        }
        *number = PyLong_AsLongLong(got);
        Py_DECREF(got);
        if (*number == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    if (*number > rec->limit) {
        PyObject *seq = PyLong_FromLongLong(*number);
        PyObject *r = seq == NULL ? NULL : PyObject_CallMethodOneArg((PyObject *)rec, str_overflow, seq);
        Py_XDECREF(seq);
        Py_XDECREF(r);
        return r == NULL ? -1 : 1;
    }
    rec->latest = *number;
    return 0;
}

/* recorder.task_of(tasks) for asyncio's usual table, a dict of one running loop and its task,
 * the loop one of asyncio's own (it has `_thread_id`); anything else asks the Python one. */
static PyObject *
task_of_one(PyObject *tasks)
{
    if (!PyDict_CheckExact(tasks) || PyDict_GET_SIZE(tasks) != 1) {
        return PyObject_CallOneArg(task_of_func, tasks);
    }
    Py_ssize_t pos = 0;
    PyObject *loop, *task;
    PyDict_Next(tasks, &pos, &loop, &task);
    Py_INCREF(loop);
    Py_INCREF(task);
    PyObject *thread = PyObject_GetAttr(loop, str_thread_id);
    PyObject *name = NULL;
    if (thread == NULL || !PyLong_CheckExact(thread)) {
        PyErr_Clear();
        name = PyObject_CallOneArg(task_of_func, tasks);
    }
    else {
        unsigned long ident = PyLong_AsUnsignedLong(thread);
        if (ident == (unsigned long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            name = PyObject_CallOneArg(task_of_func, tasks);
        }
        else if (ident == PyThread_get_thread_ident()) {
            name = PyObject_CallMethodNoArgs(task, str_get_name);
        }
        else {
            name = Py_NewRef(Py_None);
        }
    }
    Py_XDECREF(thread);
    Py_DECREF(loop);
    Py_DECREF(task);
    return name;
}

/* The name of the asyncio task running now, or None (a new reference; NULL on an error). */
static PyObject *
current_task(RecorderCore *rec)
{
    PyObject *tasks = rec->tasks;
    int busy = 0;
    if (tasks != NULL && tasks != Py_None) {
        busy = PyDict_CheckExact(tasks) ? PyDict_GET_SIZE(tasks) > 0 : PyObject_IsTrue(tasks);
    }
    if (busy < 0) {
        return NULL;
    }
    return busy ? task_of_one(tasks) : Py_NewRef(Py_None);
}

/* Recorder.start(record) for the sinks that want an operation's start. */
static int
tell_start(RecorderCore *rec, long long number, PyObject *info, PyObject *op, PyObject *arg, PyObject *before,
           PyObject *depth, PyObject *thread, PyObject *task, long long start)
{
    PyObject *now = PyLong_FromLongLong(start), *seq = PyLong_FromLongLong(number);
    if (now == NULL || seq == NULL) {
        Py_XDECREF(now);
        Py_XDECREF(seq);
        return -1;
    }
    PyObject *zero = PyLong_FromLong(0), *minus = PyLong_FromLong(-1);
    PyObject *record = PyTuple_Pack(15, seq, info, op, arg, Py_None, Py_None, before, Py_None, depth,
                                    thread, task, now, zero, minus, zero);
    Py_DECREF(now);
    Py_DECREF(seq);
    Py_DECREF(zero);
    Py_DECREF(minus);
    if (record == NULL) {
        return -1;
    }
    PyObject *r = PyObject_CallMethodOneArg((PyObject *)rec, str_start, record);
    Py_DECREF(record);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* One traced step: as _PythonSteps.__next__/send/_step_slow. Returns what call_gen returned
 * (the result in *result), with the step recorded. */
static PySendResult
step(Steps *self, PyObject *op, Call call, PyObject *arg, PyObject *const *args, Py_ssize_t nargs,
     PyObject **result)
{
    RecorderCore *rec = self->rec;
    PyObject *gen = self->gen;
    *result = NULL;
    if (recorder_ready(rec) < 0) {
        return PYGEN_ERROR;
    }
    long long number;
    int over = take_seq(rec, &number);
    if (over != 0) {
        return over < 0 ? PYGEN_ERROR : call_gen(gen, call, arg, args, nargs, result);
    }

    PyObject *ref = self->ref;
    PyObject *info = self->info;
    PyObject *before = REF_STATE(ref);
    if (before == NULL) {
        PyErr_SetString(PyExc_AttributeError, "state");
        return PYGEN_ERROR;
    }
    Py_INCREF(before);
    set_state(ref, s_running);

    PySendResult outcome = PYGEN_ERROR;
    Raised raised = {0};
    PyObject *depth_obj = NULL, *thread = NULL, *task = NULL;
    PyObject *st = thread_list();
    if (st == NULL) {
        goto done;
    }
    Py_INCREF(st);
    depth_obj = PyList_GET_ITEM(st, 0);
    Py_INCREF(depth_obj);
    thread = PyList_GET_ITEM(st, 1);
    Py_INCREF(thread);
    Py_ssize_t depth = PyLong_AsSsize_t(depth_obj);
    if (depth == -1 && PyErr_Occurred()) {
        goto done;
    }
    PyObject *deeper = PyLong_FromSsize_t(depth + 1);
    if (deeper == NULL) {
        goto done;
    }
    put_depth(st, deeper);
    int extra = 0;  /* as the Python step: past DEEP nested steps, room for what each one adds */
    if (depth >= deep) {
        extra = (int)(depth == deep ? step_frames * deep + room : step_frames);
        if (extra) {
            Py_SetRecursionLimit(Py_GetRecursionLimit() + extra);
        }
    }

    task = current_task(rec);
    if (task == NULL) {
        goto undepth;
    }
    long long start, end;
    if (rec->starting == Py_True
        && (read_clock(rec->clock, &start) < 0
            || tell_start(rec, number, info, op, arg, before, depth_obj, thread, task, start) < 0)) {
        goto undepth;
    }
    /* Nothing keeps records and the clock is the compiled one (`run -q`): no time to read. A sink
     * added during the step gets it with no duration. */
    int timed = rec->emit != discard_func || rec->clock != gentrace_clock.func;
    start = 0;
    if (timed && read_clock(rec->clock, &start) < 0) {
        goto undepth;
    }
    outcome = call_gen(gen, call, arg, args, nargs, result);
    if (outcome == PYGEN_ERROR) {
        take_raised(&raised);
    }
    int clock_failed = 0;
    end = start;
    if (timed || rec->emit != discard_func) {
        clock_failed = read_clock(rec->clock, &end);
        start = timed ? start : end;
    }
    put_depth(st, Py_NewRef(depth_obj));
    if (extra) {
        Py_SetRecursionLimit(Py_GetRecursionLimit() - extra);
    }
    if (clock_failed) {
        goto fail_raised;  /* the clock's error goes up, as from Python's except clause */
    }
    long long ended = rec->latest;
    Rec r = {.seq = number, .start = start, .took = end - start, .ended = ended, .depth = depth,
             .lasti = -1, .info = info, .op = op, .arg = arg, .before = before, .thread = thread,
             .task = task};
    if (outcome == PYGEN_ERROR && PyErr_GivenExceptionMatches(raised.exc, PyExc_StopIteration)) {
        /* throw() or close() finished it: the generator returned. */
        PyObject *value = PyObject_GetAttrString(raised.exc, "value");
        if (value == NULL) {
            goto fail_raised;
        }
        set_state(ref, s_gen_closed);
        r.outcome = s_return;
        r.value = value;
        r.after = s_gen_closed;
        int failed = emit_record(rec, &r);
        Py_DECREF(value);
        if (failed) {
            goto fail_raised;
        }
        restore_raised(&raised);
    }
    else if (outcome == PYGEN_ERROR) {
        PyObject *seq = PyLong_FromLongLong(number);
        PyObject *start_obj = PyLong_FromLongLong(start), *end_obj = PyLong_FromLongLong(end);
        PyObject *done_ = NULL;
        if (seq != NULL && start_obj != NULL && end_obj != NULL) {
            PyObject *call_args[11] = {(PyObject *)self, seq, op, arg, raised.exc, before, depth_obj,
                                       thread, task, start_obj, end_obj};
            done_ = PyObject_Vectorcall(raised_func, call_args, 11, NULL);
        }
        Py_XDECREF(seq);
        Py_XDECREF(start_obj);
        Py_XDECREF(end_obj);
        if (done_ == NULL) {
            goto fail_raised;
        }
        Py_DECREF(done_);
        restore_raised(&raised);
    }
    else {
        if (outcome == PYGEN_RETURN) {
            r.outcome = s_return;
            r.after = s_gen_closed;
        }
        else if (call == CALL_CLOSE) {
            r.outcome = s_closed;
            r.after = s_gen_closed;
        }
        else {
            r.outcome = s_yield;
            r.after = s_suspended;
        }
        set_state(ref, r.after);
        if (rec->emit == discard_func) {
            goto done;
        }
        if (r.after == s_suspended && paused_at(gen, str_gi_frame, &r.lasti, &self->frame) < 0) {
            goto fail;
        }
        r.value = call == CALL_CLOSE ? Py_None : *result;
        if (emit_record(rec, &r) < 0) {
            goto fail;
        }
    }
    goto done;

undepth:
    put_depth(st, Py_NewRef(depth_obj));
    if (extra) {
        Py_SetRecursionLimit(Py_GetRecursionLimit() - extra);
    }
    goto fail;
fail_raised:
    /* recording failed after the call: that error goes up, not the generator's */
    if (outcome == PYGEN_ERROR) {
        drop_raised(&raised);
    }
fail:
    if (outcome != PYGEN_ERROR) {
        Py_CLEAR(*result);
    }
    outcome = PYGEN_ERROR;
done:
    Py_XDECREF(st);
    Py_XDECREF(depth_obj);
    Py_XDECREF(thread);
    Py_XDECREF(task);
    Py_DECREF(before);
    return outcome;
}

static PyObject *
steps_iternext(Steps *self)
{
    PyObject *result;
    PySendResult r = step(self, s_next, CALL_NEXT, Py_None, NULL, 0, &result);
    return as_next(r, result);
}

static PyObject *
steps_send(Steps *self, PyObject *value)
{
    PyObject *result;
    PySendResult r = step(self, s_send, CALL_SEND, value, NULL, 0, &result);
    return as_send(r, result);
}

static PySendResult
steps_am_send(Steps *self, PyObject *value, PyObject **result)
{
    /* `yield from` and `await`: what PyIter_Send does with an object that has no am_send. */
    if (value == Py_None) {
        return step(self, s_next, CALL_NEXT, Py_None, NULL, 0, result);
    }
    return step(self, s_send, CALL_SEND, value, NULL, 0, result);
}

static PyObject *
steps_throw(Steps *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        /* the generator's own error ("throw expected at least 1 argument, got 0") */
        PyObject *stack[4] = {self->gen, NULL, NULL, NULL};
        for (Py_ssize_t i = 0; i < nargs && i < 3; i++) {
            stack[i + 1] = args[i];
        }
        return PyObject_VectorcallMethod(s_throw, stack, (size_t)(nargs + 1), NULL);
    }
    PyObject *typ = args[0];
    PyObject *val = nargs > 1 ? args[1] : Py_None;
    PyObject *tb = nargs > 2 ? args[2] : Py_None;
    /* Forward exactly the arguments given: the one- and three-argument forms differ. */
    PyObject *forwarded[3] = {typ, val, tb};
    Py_ssize_t count = (val == Py_None && tb == Py_None) ? 1 : 3;
    PyObject *thrown = val == Py_None ? typ : val;
    PyObject *result;
    PySendResult r = step(self, s_throw, CALL_THROW, thrown, forwarded, count, &result);
    return r == PYGEN_NEXT ? result : NULL;
}

static PyObject *
steps_close(Steps *self, PyObject *unused)
{
    PyObject *result;
    PySendResult r = step(self, s_close, CALL_CLOSE, Py_None, NULL, 0, &result);
    return r == PYGEN_NEXT ? result : NULL;
}

/* What an __init__ of a proxy checks and takes: the recorder and the InstanceRef, its info. */
static int
proxy_parts(PyObject *rec, PyObject *ref, PyObject **info)
{
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "gentrace._speedups is not configured");
        return -1;
    }
    if (!PyObject_TypeCheck(rec, &RecorderCoreType)) {
        PyErr_SetString(PyExc_TypeError, "recorder must be a gentrace Recorder");
        return -1;
    }
    if (!PyObject_TypeCheck(ref, instance_ref_type)) {
        PyErr_SetString(PyExc_TypeError, "ref must be an InstanceRef");
        return -1;
    }
    *info = PyObject_GetAttr(ref, str_info);
    return *info == NULL ? -1 : 0;
}

/* GeneratorSteps(gen, recorder, ref), and CoroutineSteps(coro, recorder, ref). */
static int
steps_init(Steps *self, PyObject *args, PyObject *kwds)
{
    PyObject *gen, *rec, *ref, *info;
    static char *kwlist[] = {"gen", "recorder", "ref", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO", kwlist, &gen, &rec, &ref)
        || proxy_parts(rec, ref, &info) < 0) {
        return -1;
    }
    Py_XSETREF(self->gen, Py_NewRef(gen));
    Py_XSETREF(self->rec, (RecorderCore *)Py_NewRef(rec));
    Py_XSETREF(self->ref, Py_NewRef(ref));
    Py_XSETREF(self->info, info);
    self->frame = NULL;
    return 0;
}

static int
steps_traverse(Steps *self, visitproc visit, void *arg)
{
    Py_VISIT(self->gen);
    Py_VISIT(self->rec);
    Py_VISIT(self->ref);
    Py_VISIT(self->info);
    return 0;
}

static int
steps_clear(Steps *self)
{
    Py_CLEAR(self->gen);
    Py_CLEAR(self->rec);
    Py_CLEAR(self->ref);
    Py_CLEAR(self->info);
    return 0;
}

static void
steps_dealloc(Steps *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    steps_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef steps_methods[] = {
    {"send", (PyCFunction)steps_send, METH_O, "Send `value` into the generator, as `generator.send` does."},
    {"throw", (PyCFunction)(void (*)(void))steps_throw, METH_FASTCALL,
     "Raise an exception inside the generator, as `generator.throw` does."},
    {"close", (PyCFunction)steps_close, METH_NOARGS,
     "Close the generator, as `generator.close` does (which returns its return value on 3.13+)."},
    {NULL},
};

static PyMemberDef steps_members[] = {
    {"_gen", T_OBJECT_EX, offsetof(Steps, gen), READONLY, "The real generator."},
    {"_rec", T_OBJECT_EX, offsetof(Steps, rec), READONLY, "The recorder."},
    {"_ref", T_OBJECT_EX, offsetof(Steps, ref), READONLY, "The instance's InstanceRef: its info and state."},
    {"_info", T_OBJECT_EX, offsetof(Steps, info), READONLY, "The instance's info tuple."},
    {NULL},
};

static PyAsyncMethods steps_as_async = {
    .am_send = (sendfunc)steps_am_send,
};

static PyTypeObject StepsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gentrace._speedups.GeneratorSteps",
    .tp_basicsize = sizeof(Steps),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC
#ifdef Py_TPFLAGS_HAVE_AM_SEND
                | Py_TPFLAGS_HAVE_AM_SEND
#endif
    ,
    .tp_doc = "A traced generator's steps, compiled: the twin of proxy._PythonSteps.",
    .tp_traverse = (traverseproc)steps_traverse,
    .tp_clear = (inquiry)steps_clear,
    .tp_dealloc = (destructor)steps_dealloc,
    .tp_weaklistoffset = offsetof(Steps, weakreflist),
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)steps_iternext,
    .tp_as_async = &steps_as_async,
    .tp_methods = steps_methods,
    .tp_members = steps_members,
    .tp_init = (initproc)steps_init,
    .tp_new = PyType_GenericNew,
};

/* -- async generators and coroutines: their hot steps ------------------------------------------
 *
 * The twins of aproxy's _PythonAsyncGeneratorSteps.__anext__, _PythonAsyncStep.__next__ and
 * _PythonCoroutineSteps.send: the common path (an operation started and ended in one step, a
 * coroutine's step) is done here; the rest calls the same Python methods the pure-Python twins
 * call (AsyncStep.send, _finish; CoroutineProxy._ended; aproxy._described). */

static PyObject *s_anext, *s_aclose;                             /* ops */
static PyObject *s_agen_running, *s_agen_suspended;              /* states */
static PyObject *s_coro_running, *s_coro_suspended, *s_coro_closed;
static PyTypeObject *async_step_type;  /* aproxy.AsyncStep */
static PyObject *described_func;       /* aproxy._described(result, aw) */
static PyObject *sleep_code, *sleep0_code, *sleep0_shown;  /* asyncio.sleep's, its __sleep0's, and Sleep(None, 0) */
static PyObject *str_ag_frame, *str_cr_frame, *str_cr_await, *str_anext_first, *str_finish, *str_ended;
static int async_configured = 0;

typedef struct {
    PyObject_HEAD
    PyObject *agen;
    RecorderCore *rec;
    PyObject *ref;
    PyObject *info;
    PyObject *handle;
    char hooked;
    PyObject *weakreflist;
    PyObject *frame;  /* borrowed: the real async generator's frame object, once looked up */
} AgenSteps;

typedef struct {
    PyObject_HEAD
    AgenSteps *proxy;
    PyObject *op, *arg, *aw;
    long long seq;  /* 0: not started; -1: not recorded (past the limit) or completed */
    PyObject *before, *thread, *task;
    long long depth, start;
} AsyncStepCore;

static PyTypeObject AgenStepsType;
static PyTypeObject AsyncStepType;

/* This thread's [depth, name]: a new reference to the list, its depth in *depth and a new
 * reference to its name in *thread. */
static PyObject *
thread_parts(Py_ssize_t *depth, PyObject **thread)
{
    PyObject *st = thread_list();
    if (st == NULL) {
        return NULL;
    }
    *depth = PyLong_AsSsize_t(PyList_GET_ITEM(st, 0));
    if (*depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    *thread = Py_NewRef(PyList_GET_ITEM(st, 1));
    return Py_NewRef(st);
}

static int
set_depth(PyObject *st, Py_ssize_t depth)
{
    PyObject *d = PyLong_FromSsize_t(depth);
    if (d == NULL) {
        return -1;
    }
    put_depth(st, d);
    return 0;
}

/* The StopIteration being raised, taken (as take_raised), and its value (borrowed). */
static PyObject *
stop_value(Raised *raised)
{
#if PY_VERSION_HEX >= 0x030C0000
    take_raised(raised);
    return ((PyStopIterationObject *)raised->exc)->value;
#else
    /* Left as the generator raised it, unnormalized: the value itself, or a StopIteration (of a
     * tuple or an exception, or normalized already); not made an exception only to be read. */
    PyErr_Fetch(&raised->type, &raised->exc, &raised->tb);
    if (raised->exc == NULL) {
        return Py_None;
    }
    if (PyObject_TypeCheck(raised->exc, (PyTypeObject *)PyExc_StopIteration)) {
        return ((PyStopIterationObject *)raised->exc)->value;
    }
    return raised->exc;
#endif
}

/* -- AsyncStepCore: the awaitable of one operation on a traced async generator ---------------- */

static int
astep_init(AsyncStepCore *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"proxy", "op", "arg", "aw", NULL};
    PyObject *proxy, *op, *arg, *aw;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OOO:AsyncStep", kwlist, &AgenStepsType, &proxy, &op,
                                     &arg, &aw)) {
        return -1;
    }
    Py_XSETREF(self->proxy, (AgenSteps *)Py_NewRef(proxy));
    Py_XSETREF(self->op, Py_NewRef(op));
    Py_XSETREF(self->arg, Py_NewRef(arg));
    Py_XSETREF(self->aw, Py_NewRef(aw));
    self->seq = 0;
    return 0;
}

/* The fields an operation that goes on past its first step needs for its end (AsyncStep._started). */
static void
astep_started(AsyncStepCore *self, long long seq, PyObject *before, Py_ssize_t depth, PyObject *thread,
              PyObject *task, long long start)
{
    self->seq = seq;
    Py_XSETREF(self->before, Py_NewRef(before));
    self->depth = depth;
    Py_XSETREF(self->thread, Py_NewRef(thread));
    Py_XSETREF(self->task, Py_NewRef(task));
    self->start = start;
}

/* The first step of an operation on a traced async generator, as _PythonAsyncStep.__next__. */
static PyObject *
astep_iternext(AsyncStepCore *self)
{
    if (self->seq != 0) {
        return PyObject_CallMethodOneArg((PyObject *)self, s_send, Py_None);
    }
    AgenSteps *proxy = self->proxy;
    RecorderCore *rec = proxy->rec;
    PyObject *aw = self->aw;
    iternextfunc step_aw = Py_TYPE(aw)->tp_iternext;
    if (step_aw == NULL) {
        return PyObject_CallMethodOneArg(aw, s_send, Py_None);  /* its own TypeError */
    }
    if (recorder_ready(rec) < 0) {
        return NULL;
    }
    long long number;
    int over = take_seq(rec, &number);
    if (over != 0) {
        if (over < 0) {
            return NULL;
        }
        self->seq = -1;
        return step_aw(aw);
    }
    PyObject *before = REF_STATE(proxy->ref);
    if (before == NULL) {
        PyErr_SetString(PyExc_AttributeError, "state");
        return NULL;
    }
    Py_INCREF(before);
    set_state(proxy->ref, s_agen_running);
    PyObject *result = NULL, *thread = NULL, *task = NULL, *depth_obj = NULL;
    Py_ssize_t depth;
    PyObject *st = thread_parts(&depth, &thread);
    if (st == NULL) {
        goto done;
    }
    task = current_task(rec);
    if (task == NULL) {
        goto done;
    }
    long long start, end;
    if (read_clock(rec->clock, &start) < 0) {
        goto done;
    }
    if (rec->starting == Py_True) {
        depth_obj = PyLong_FromSsize_t(depth);
        if (depth_obj == NULL
            || tell_start(rec, number, proxy->info, self->op, self->arg, before, depth_obj, thread, task, start) < 0) {
            goto done;
        }
    }
    if (set_depth(st, depth + 1) < 0) {
        goto done;
    }
    result = step_aw(aw);
    if (set_depth(st, depth) < 0) {
        Py_CLEAR(result);
        goto done;
    }
    if (result != NULL) {  /* suspended to the loop inside the operation: not an event */
        astep_started(self, number, before, depth, thread, task, start);
        goto done;
    }
    Raised raised = {0};
    if (PyErr_ExceptionMatches(PyExc_StopIteration) && self->op != s_aclose) {
        PyObject *value = stop_value(&raised);
        /* After anext(), the StopIteration says it yielded `value` (one raised inside the async
         * generator is turned into a RuntimeError, a finished one raises StopAsyncIteration), so it
         * is unfinished and a frame cached earlier is still its. Not after athrow(): on a finished
         * async generator, 3.10 and 3.11 end it with StopIteration, and only ag_frame tells. */
        PyObject *frame = proxy->frame != NULL && self->op == s_anext
                              ? Py_NewRef(proxy->frame)
                              : PyObject_GetAttr(proxy->agen, str_ag_frame);
        if (frame == NULL) {
            drop_raised(&raised);
            goto done;
        }
        if (frame != Py_None) {
            long long lasti = frame_lasti(frame);
            if (PyAsyncGen_CheckExact(proxy->agen)) {
                proxy->frame = frame;  /* borrowed: see paused_at */
            }
            Py_DECREF(frame);
            if (read_clock(rec->clock, &end) < 0) {
                drop_raised(&raised);
                goto done;
            }
            long long ended = rec->latest;
            self->seq = -1;
            set_state(proxy->ref, s_agen_suspended);
            Rec r = {.seq = number, .start = start, .took = end - start, .ended = ended, .depth = depth,
                     .lasti = lasti, .info = proxy->info, .op = self->op, .arg = self->arg,
                     .outcome = s_yield, .value = value, .before = before, .after = s_agen_suspended,
                     .thread = thread, .task = task};
            if (emit_record(rec, &r) < 0) {
                drop_raised(&raised);
                goto done;
            }
            restore_raised(&raised);  /* `await` takes the value from it */
            goto done;
        }
        Py_DECREF(frame);
        restore_raised(&raised);  /* to be taken normalized, as _finish wants it */
    }
    take_raised(&raised);
    astep_started(self, number, before, depth, thread, task, start);
    PyObject *finished = PyObject_CallMethodOneArg((PyObject *)self, str_finish, raised.exc);
    if (finished == NULL) {
        drop_raised(&raised);
        goto done;
    }
    Py_DECREF(finished);
    restore_raised(&raised);
done:
    Py_XDECREF(st);
    Py_XDECREF(thread);
    Py_XDECREF(task);
    Py_XDECREF(depth_obj);
    Py_DECREF(before);
    return result;
}

static int
astep_traverse(AsyncStepCore *self, visitproc visit, void *arg)
{
    Py_VISIT(self->proxy);
    Py_VISIT(self->op);
    Py_VISIT(self->arg);
    Py_VISIT(self->aw);
    Py_VISIT(self->before);
    Py_VISIT(self->thread);
    Py_VISIT(self->task);
    return 0;
}

static int
astep_clear(AsyncStepCore *self)
{
    Py_CLEAR(self->proxy);
    Py_CLEAR(self->op);
    Py_CLEAR(self->arg);
    Py_CLEAR(self->aw);
    Py_CLEAR(self->before);
    Py_CLEAR(self->thread);
    Py_CLEAR(self->task);
    return 0;
}

static void
astep_dealloc(AsyncStepCore *self)
{
    PyObject_GC_UnTrack(self);
    astep_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
self_iter(PyObject *self)
{
    return Py_NewRef(self);
}

static PyMemberDef astep_members[] = {
    {"_proxy", T_OBJECT_EX, offsetof(AsyncStepCore, proxy), READONLY, "The traced async generator."},
    {"_op", T_OBJECT_EX, offsetof(AsyncStepCore, op), READONLY, "The operation: anext, asend, athrow, aclose."},
    {"_arg", T_OBJECT_EX, offsetof(AsyncStepCore, arg), READONLY, "What was sent or thrown."},
    {"_aw", T_OBJECT_EX, offsetof(AsyncStepCore, aw), READONLY, "The real generator's awaitable."},
    {"_seq", T_LONGLONG, offsetof(AsyncStepCore, seq), 0, "0: not started; -1: not recorded or completed."},
    {"_before", T_OBJECT, offsetof(AsyncStepCore, before), 0, "The state before the operation."},
    {"_depth", T_LONGLONG, offsetof(AsyncStepCore, depth), 0, "The depth it started at."},
    {"_thread", T_OBJECT, offsetof(AsyncStepCore, thread), 0, "The thread it started on."},
    {"_task", T_OBJECT, offsetof(AsyncStepCore, task), 0, "The task it started in, or None."},
    {"_start", T_LONGLONG, offsetof(AsyncStepCore, start), 0, "When it started."},
    {NULL},
};

static PyAsyncMethods astep_as_async = {
    .am_await = self_iter,
};

static PyTypeObject AsyncStepType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gentrace._speedups.AsyncStepCore",
    .tp_basicsize = sizeof(AsyncStepCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The awaitable of one operation on a traced async generator, its first step compiled: "
              "the twin of aproxy._PythonAsyncStep.",
    .tp_traverse = (traverseproc)astep_traverse,
    .tp_clear = (inquiry)astep_clear,
    .tp_dealloc = (destructor)astep_dealloc,
    .tp_iter = self_iter,
    .tp_iternext = (iternextfunc)astep_iternext,
    .tp_as_async = &astep_as_async,
    .tp_members = astep_members,
    .tp_init = (initproc)astep_init,
    .tp_new = PyType_GenericNew,
};

/* -- AgenSteps: a traced async generator's __anext__ ------------------------------------------- */

static int
agen_init(AgenSteps *self, PyObject *args, PyObject *kwds)
{
    PyObject *agen, *rec, *ref, *info;
    static char *kwlist[] = {"agen", "recorder", "ref", NULL};
    if (!async_configured) {
        PyErr_SetString(PyExc_RuntimeError, "gentrace._speedups is not configured for async generators");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO", kwlist, &agen, &rec, &ref)
        || proxy_parts(rec, ref, &info) < 0) {
        return -1;
    }
    Py_XSETREF(self->agen, Py_NewRef(agen));
    Py_XSETREF(self->rec, (RecorderCore *)Py_NewRef(rec));
    Py_XSETREF(self->ref, Py_NewRef(ref));
    Py_XSETREF(self->info, info);
    Py_XSETREF(self->handle, Py_NewRef(Py_None));
    self->hooked = 0;
    self->frame = NULL;
    return 0;
}

/* __anext__, as _PythonAsyncGeneratorSteps'. */
static PyObject *
agen_anext(AgenSteps *self)
{
    if (!self->hooked) {
        return PyObject_CallMethodNoArgs((PyObject *)self, str_anext_first);
    }
    PyAsyncMethods *am = Py_TYPE(self->agen)->tp_as_async;
    PyObject *aw = am != NULL && am->am_anext != NULL ? am->am_anext(self->agen)
                                                      : PyObject_CallMethod(self->agen, "__anext__", NULL);
    if (aw == NULL) {
        return NULL;
    }
    AsyncStepCore *step = (AsyncStepCore *)async_step_type->tp_alloc(async_step_type, 0);
    if (step == NULL) {
        Py_DECREF(aw);
        return NULL;
    }
    step->proxy = (AgenSteps *)Py_NewRef(self);
    step->op = Py_NewRef(s_anext);
    step->arg = Py_NewRef(Py_None);
    step->aw = aw;
    return (PyObject *)step;
}

static int
agen_traverse(AgenSteps *self, visitproc visit, void *arg)
{
    Py_VISIT(self->agen);
    Py_VISIT(self->rec);
    Py_VISIT(self->ref);
    Py_VISIT(self->info);
    Py_VISIT(self->handle);
    return 0;
}

static int
agen_clear(AgenSteps *self)
{
    Py_CLEAR(self->agen);
    Py_CLEAR(self->rec);
    Py_CLEAR(self->ref);
    Py_CLEAR(self->info);
    Py_CLEAR(self->handle);
    return 0;
}

static void
agen_dealloc(AgenSteps *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    agen_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef agen_members[] = {
    {"_agen", T_OBJECT_EX, offsetof(AgenSteps, agen), READONLY, "The real async generator."},
    {"_rec", T_OBJECT_EX, offsetof(AgenSteps, rec), READONLY, "The recorder."},
    {"_ref", T_OBJECT_EX, offsetof(AgenSteps, ref), READONLY, "The instance's InstanceRef: its info and state."},
    {"_info", T_OBJECT_EX, offsetof(AgenSteps, info), READONLY, "The instance's info tuple."},
    {"_handle", T_OBJECT, offsetof(AgenSteps, handle), 0, "What the loop's hooks were given, or None."},
    {"_hooked", T_BOOL, offsetof(AgenSteps, hooked), 0, "Whether its first operation has called the hooks."},
    {NULL},
};

static PyAsyncMethods agen_as_async = {
    .am_aiter = self_iter,
    .am_anext = (unaryfunc)agen_anext,
};

static PyTypeObject AgenStepsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gentrace._speedups.AsyncGeneratorSteps",
    .tp_basicsize = sizeof(AgenSteps),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A traced async generator's __anext__, compiled: the twin of "
              "aproxy._PythonAsyncGeneratorSteps.",
    .tp_traverse = (traverseproc)agen_traverse,
    .tp_clear = (inquiry)agen_clear,
    .tp_dealloc = (destructor)agen_dealloc,
    .tp_weaklistoffset = offsetof(AgenSteps, weakreflist),
    .tp_as_async = &agen_as_async,
    .tp_members = agen_members,
    .tp_init = (initproc)agen_init,
    .tp_new = PyType_GenericNew,
};

/* -- CoroSteps: a traced coroutine's send (and __next__) --------------------------------------- */

/* A GeneratorSteps' fields, `gen` the real coroutine: its init, traversal and deallocation. */
typedef Steps CoroSteps;

static PyTypeObject CoroStepsType;

/* aproxy._described(result, aw): what a coroutine that yielded `result` to the loop while awaiting
 * `aw` shows. Awaiting a future (or anything but a coroutine, a generator or a traced awaitable),
 * the result itself; in asyncio.sleep(0), the one Sleep; else what the Python function says. */
static PyObject *
described(PyObject *result, PyObject *aw)
{
    PyTypeObject *type = Py_TYPE(aw);
    if (type != &PyCoro_Type && type != &PyGen_Type && !PyObject_TypeCheck(aw, &CoroStepsType)
        && !PyObject_TypeCheck(aw, &AsyncStepType)) {
        return Py_NewRef(result);
    }
    if (type == &PyCoro_Type && result == Py_None) {
        PyObject *code = PyObject_GetAttr(aw, str_cr_code);
        PyObject *inner = code == sleep_code ? PyObject_GetAttr(aw, str_cr_await) : NULL;
        PyObject *inner_code = inner != NULL && Py_IS_TYPE(inner, &PyGen_Type) ? PyObject_GetAttr(inner, str_gi_code) : NULL;
        int in_sleep0 = inner_code != NULL && inner_code == sleep0_code;
        Py_XDECREF(code);
        Py_XDECREF(inner);
        Py_XDECREF(inner_code);
        if (PyErr_Occurred()) {
            return NULL;
        }
        if (in_sleep0) {
            return Py_NewRef(sleep0_shown);
        }
    }
    return PyObject_CallFunctionObjArgs(described_func, result, aw, NULL);
}

/* One step of the coroutine, as _PythonCoroutineSteps.send. */
static PySendResult
coro_step(CoroSteps *self, PyObject *value, PyObject **result)
{
    RecorderCore *rec = self->rec;
    *result = NULL;
    if (!async_configured) {
        PyErr_SetString(PyExc_RuntimeError, "gentrace._speedups is not configured for coroutines");
        return PYGEN_ERROR;
    }
    if (recorder_ready(rec) < 0) {
        return PYGEN_ERROR;
    }
    long long number;
    int over = take_seq(rec, &number);
    if (over != 0) {
        return over < 0 ? PYGEN_ERROR : PyIter_Send(self->gen, value, result);
    }
    PyObject *ref = self->ref;
    PyObject *before = REF_STATE(ref);
    if (before == NULL) {
        PyErr_SetString(PyExc_AttributeError, "state");
        return PYGEN_ERROR;
    }
    Py_INCREF(before);
    set_state(ref, s_coro_running);
    PySendResult outcome = PYGEN_ERROR;
    PyObject *thread = NULL, *task = NULL, *depth_obj = NULL, *shown = NULL;
    Py_ssize_t depth;
    PyObject *st = thread_parts(&depth, &thread);
    if (st == NULL) {
        goto done;
    }
    depth_obj = PyLong_FromSsize_t(depth);
    if (depth_obj == NULL || set_depth(st, depth + 1) < 0) {
        goto done;
    }
    task = current_task(rec);
    long long start, end;
    if (task == NULL || read_clock(rec->clock, &start) < 0
        || (rec->starting == Py_True
            && tell_start(rec, number, self->info, s_send, value, before, depth_obj, thread, task, start) < 0)) {
        set_depth(st, depth);
        goto done;
    }
    PySendResult sent = PyIter_Send(self->gen, value, result);
    Raised raised = {0};
    if (sent == PYGEN_ERROR) {
        take_raised(&raised);
    }
    if (read_clock(rec->clock, &end) < 0 || set_depth(st, depth) < 0) {
        goto fail_raised;
    }
    long long ended = rec->latest;
    if (sent == PYGEN_ERROR) {  /* it raised: the Python code records it */
        PyObject *seq = PyLong_FromLongLong(number);
        PyObject *start_obj = PyLong_FromLongLong(start), *end_obj = PyLong_FromLongLong(end);
        PyObject *call_args[11] = {(PyObject *)self, seq, s_send, value, raised.exc, before, depth_obj, thread,
                                   task, start_obj, end_obj};
        PyObject *done_ = seq == NULL || start_obj == NULL || end_obj == NULL
                              ? NULL
                              : PyObject_VectorcallMethod(str_ended, call_args,
                                                          11 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        Py_XDECREF(seq);
        Py_XDECREF(start_obj);
        Py_XDECREF(end_obj);
        if (done_ == NULL) {
            goto fail_raised;
        }
        Py_DECREF(done_);
        restore_raised(&raised);
        goto done;
    }
    Rec r = {.seq = number, .start = start, .took = end - start, .ended = ended, .depth = depth, .lasti = -1,
             .info = self->info, .op = s_send, .arg = value, .before = before, .thread = thread, .task = task};
    if (sent == PYGEN_RETURN) {
        set_state(ref, s_coro_closed);
        r.outcome = s_return;
        r.value = *result;
        r.after = s_coro_closed;
    }
    else {
        set_state(ref, s_coro_suspended);
        PyObject *aw = PyObject_GetAttr(self->gen, str_cr_await);
        if (aw == NULL) {
            goto fail;
        }
        shown = aw == Py_None ? Py_NewRef(*result) : described(*result, aw);
        Py_DECREF(aw);
        if (shown == NULL || paused_at(self->gen, str_cr_frame, &r.lasti, &self->frame) < 0) {
            goto fail;
        }
        r.outcome = s_yield;
        r.value = shown;
        r.after = s_coro_suspended;
    }
    if (emit_record(rec, &r) < 0) {
        goto fail;
    }
    outcome = sent;
    goto done;

fail_raised:
    if (sent == PYGEN_ERROR) {
        drop_raised(&raised);
    }
fail:
    if (sent != PYGEN_ERROR) {
        Py_CLEAR(*result);
    }
done:
    Py_XDECREF(st);
    Py_XDECREF(thread);
    Py_XDECREF(task);
    Py_XDECREF(depth_obj);
    Py_XDECREF(shown);
    Py_DECREF(before);
    return outcome;
}

static PyObject *
coro_iternext(CoroSteps *self)
{
    PyObject *result;
    PySendResult r = coro_step(self, Py_None, &result);
    return as_next(r, result);
}

static PyObject *
coro_send(CoroSteps *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "send() takes from 1 to 2 positional arguments but %zd were given",
                     nargs + 1);
        return NULL;
    }
    PyObject *result;
    PySendResult r = coro_step(self, nargs ? args[0] : Py_None, &result);
    return as_send(r, result);
}

static PySendResult
coro_am_send(CoroSteps *self, PyObject *value, PyObject **result)
{
    return coro_step(self, value, result);
}

static PyMethodDef coro_methods[] = {
    {"send", (PyCFunction)(void (*)(void))coro_send, METH_FASTCALL,
     "Send `value` into the coroutine, as `coroutine.send` does (``__next__`` sends None)."},
    {NULL},
};

static PyMemberDef coro_members[] = {
    {"_coro", T_OBJECT_EX, offsetof(CoroSteps, gen), READONLY, "The real coroutine."},
    {"_rec", T_OBJECT_EX, offsetof(CoroSteps, rec), READONLY, "The recorder."},
    {"_ref", T_OBJECT_EX, offsetof(CoroSteps, ref), READONLY, "The instance's InstanceRef: its info and state."},
    {"_info", T_OBJECT_EX, offsetof(CoroSteps, info), READONLY, "The instance's info tuple."},
    {NULL},
};

static PyAsyncMethods coro_as_async = {
    .am_send = (sendfunc)coro_am_send,
};

static PyTypeObject CoroStepsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gentrace._speedups.CoroutineSteps",
    .tp_basicsize = sizeof(CoroSteps),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC
#ifdef Py_TPFLAGS_HAVE_AM_SEND
                | Py_TPFLAGS_HAVE_AM_SEND
#endif
    ,
    .tp_doc = "A traced coroutine's send, compiled: the twin of aproxy._PythonCoroutineSteps.",
    .tp_traverse = (traverseproc)steps_traverse,
    .tp_clear = (inquiry)steps_clear,
    .tp_dealloc = (destructor)steps_dealloc,
    .tp_weaklistoffset = offsetof(CoroSteps, weakreflist),
    .tp_iternext = (iternextfunc)coro_iternext,
    .tp_as_async = &coro_as_async,
    .tp_methods = coro_methods,
    .tp_members = coro_members,
    .tp_init = (initproc)steps_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *
configure_async(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"ops", "agen_states", "coro_states", "step", "described", "sleep", NULL};
    PyObject *step, *described, *s_code, *s0_code, *s0_shown;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "(UU)(UU)(UUU)O!O(O!O!O):configure_async", kwlist, &s_anext,
                                     &s_aclose, &s_agen_running, &s_agen_suspended, &s_coro_running,
                                     &s_coro_suspended, &s_coro_closed, &PyType_Type, &step, &described,
                                     &PyCode_Type, &s_code, &PyCode_Type, &s0_code, &s0_shown)) {
        return NULL;
    }
    if (!PyType_IsSubtype((PyTypeObject *)step, &AsyncStepType)
        || ((PyTypeObject *)step)->tp_basicsize != AsyncStepType.tp_basicsize) {
        PyErr_SetString(PyExc_TypeError, "step must be a subclass of AsyncStepCore with no fields of its own");
        return NULL;
    }
    PyObject *interned[] = {s_anext, s_aclose, s_agen_running, s_agen_suspended, s_coro_running,
                            s_coro_suspended, s_coro_closed};
    for (size_t i = 0; i < sizeof(interned) / sizeof(interned[0]); i++) {
        Py_INCREF(interned[i]);  /* kept for the module's life */
    }
    Py_XSETREF(async_step_type, (PyTypeObject *)Py_NewRef(step));
    Py_XSETREF(described_func, Py_NewRef(described));
    Py_XSETREF(sleep_code, Py_NewRef(s_code));
    Py_XSETREF(sleep0_code, Py_NewRef(s0_code));
    Py_XSETREF(sleep0_shown, Py_NewRef(s0_shown));
    async_configured = 1;
    Py_RETURN_NONE;
}

/* -- RecorderCore.adopt: a new instance named, proxied and its creation recorded ---------------- */

static PyObject *s_create, *s_created, *s_gen_created;  /* the creation record's op, outcome, state */
static PyObject *running_tasks_func;    /* recorder.running_tasks() */
static PyObject *collected_states;      /* records.COLLECTED: state -> state once collected */
static PyObject *str_instance, *str_record_collect, *str_hash;
static Py_ssize_t info_offset;          /* of InstanceRef's `info` slot */

#define REF_INFO(ref) (*(PyObject **)((char *)(ref) + info_offset))

/* f"{base}#{number}" */
static PyObject *
instance_title(PyObject *base, PyObject *number)
{
    PyObject *digits = PyObject_Str(number);
    if (digits == NULL) {
        return NULL;
    }
    PyObject *marked = PyUnicode_Concat(base, str_hash);
    PyObject *title = marked == NULL ? NULL : PyUnicode_Concat(marked, digits);
    Py_XDECREF(marked);
    Py_DECREF(digits);
    return title;
}

/* A new proxy of `proxy_type` around `gen`: made here when the type is one of the compiled ones
 * with their own __init__ (what it would do, without parsing arguments), else by calling it. */
static PyObject *
new_proxy(PyObject *proxy_type, PyObject *gen, RecorderCore *rec, PyObject *ref)
{
    PyTypeObject *type = (PyTypeObject *)proxy_type;
    int steps = PyType_Check(proxy_type) && type->tp_init == (initproc)steps_init
                && (PyType_IsSubtype(type, &StepsType) || PyType_IsSubtype(type, &CoroStepsType));
    int agen = PyType_Check(proxy_type) && type->tp_init == (initproc)agen_init
               && PyType_IsSubtype(type, &AgenStepsType);
    if (!steps && !agen) {
        PyObject *args[3] = {gen, (PyObject *)rec, ref};
        return PyObject_Vectorcall(proxy_type, args, 3, NULL);
    }
    PyObject *info = REF_INFO(ref);
    if (info == NULL) {
        PyErr_SetString(PyExc_AttributeError, "info");
        return NULL;
    }
    PyObject *proxy = type->tp_alloc(type, 0);
    if (proxy == NULL) {
        return NULL;
    }
    if (steps) {
        Steps *p = (Steps *)proxy;
        p->gen = Py_NewRef(gen);
        p->rec = (RecorderCore *)Py_NewRef(rec);
        p->ref = Py_NewRef(ref);
        p->info = Py_NewRef(info);
    }
    else {
        AgenSteps *p = (AgenSteps *)proxy;
        p->agen = Py_NewRef(gen);
        p->rec = (RecorderCore *)Py_NewRef(rec);
        p->ref = Py_NewRef(ref);
        p->info = Py_NewRef(info);
        p->handle = Py_NewRef(Py_None);
        p->hooked = 0;
    }
    return proxy;
}

/* Recorder.instance() for a function whose names are known already (its `_naming` entry): None
 * when they are not, for the Python method to find. */
static PyObject *
known_instance(RecorderCore *rec, PyObject *gen, PyObject *name, PyObject *func)
{
    PyObject *naming_table = rec->naming;
    if (naming_table == NULL || !PyDict_CheckExact(naming_table) || rec->refs == NULL || rec->by_name == NULL
        || rec->on_collect == NULL) {
        return Py_NewRef(Py_None);  /* not set up as Recorder sets it up: its own method decides */
    }
    PyObject *key = PyTuple_Pack(2, func, name);
    PyObject *naming = key == NULL ? NULL : Py_XNewRef(PyDict_GetItemWithError(naming_table, key));
    Py_XDECREF(key);
    if (naming == NULL || !PyTuple_CheckExact(naming) || PyTuple_GET_SIZE(naming) != 3) {
        Py_XDECREF(naming);
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    PyObject *code_attr = PyGen_CheckExact(gen) ? str_gi_code : PyCoro_CheckExact(gen) ? str_cr_code : str_ag_code;
    PyObject *code = PyObject_GetAttr(gen, code_attr);
    PyObject *numbers = PyTuple_GET_ITEM(naming, 2);
    PyObject *number = code == NULL ? NULL : PyIter_Next(numbers);
    PyObject *ref = NULL, *info = NULL, *title = NULL, *filename = NULL;
    if (number == NULL) {
        if (code != NULL && !PyErr_Occurred()) {
            PyErr_SetNone(PyExc_StopIteration);
        }
        goto done;
    }
    if (rec->tasks == NULL || rec->tasks == Py_None) {
        PyObject *tasks = PyObject_CallNoArgs(running_tasks_func);
        if (tasks == NULL) {
            goto done;
        }
        Py_XSETREF(rec->tasks, tasks);
    }
    PyObject *ref_args[2] = {gen, rec->on_collect};
    ref = PyObject_Vectorcall((PyObject *)instance_ref_type, ref_args, 2, NULL);
    title = instance_title(PyTuple_GET_ITEM(naming, 0), number);
    filename = code == Py_None  ? Py_NewRef(Py_None)
               : PyCode_Check(code) ? Py_NewRef(((PyCodeObject *)code)->co_filename)
                                    : PyObject_GetAttrString(code, "co_filename");
    if (ref == NULL || title == NULL || filename == NULL) {
        Py_CLEAR(ref);
        goto done;
    }
    info = PyTuple_Pack(4, title, PyTuple_GET_ITEM(naming, 1), code, filename);
    if (info == NULL) {
        Py_CLEAR(ref);
        goto done;
    }
    Py_XSETREF(REF_INFO(ref), Py_NewRef(info));
    set_state(ref, s_gen_created);
    if (PyObject_SetItem(rec->refs, ref, Py_None) < 0 || PyObject_SetItem(rec->by_name, title, ref) < 0) {
        Py_CLEAR(ref);
    }
done:
    Py_XDECREF(naming);
    Py_XDECREF(code);
    Py_XDECREF(number);
    Py_XDECREF(title);
    Py_XDECREF(filename);
    Py_XDECREF(info);
    return ref;
}

/* Recorder._instant for the creation: (seq, info, create, arg, created, None, None, state, depth,
 * thread, task, now, 0, lasti, seq). */
static int
record_created(RecorderCore *rec, PyObject *ref, PyObject *arg, PyObject *state, long long lasti)
{
    long long number;
    int over = take_seq(rec, &number);
    if (over != 0) {
        return over < 0 ? -1 : 0;
    }
    Py_ssize_t depth;
    PyObject *thread = NULL, *task = NULL;
    PyObject *st = thread_parts(&depth, &thread);
    if (st == NULL) {
        return -1;
    }
    int failed = -1;
    long long now;
    task = current_task(rec);
    if (task == NULL || read_clock(rec->clock, &now) < 0) {
        goto done;
    }
    Rec r = {.seq = number, .start = now, .took = 0, .ended = number, .depth = depth, .lasti = lasti,
             .info = REF_INFO(ref), .op = s_create, .arg = arg, .outcome = s_created, .value = Py_None,
             .before = Py_None, .after = state, .thread = thread, .task = task};
    failed = emit_record(rec, &r);
done:
    Py_DECREF(st);
    Py_XDECREF(thread);
    Py_XDECREF(task);
    return failed;
}

/* Take `key` out of the dict `table` (a Recorder's) if it is there. */
static int
forget_key(PyObject *table, PyObject *key)
{
    if (table == NULL || !PyDict_Check(table)) {
        PyErr_SetString(PyExc_TypeError, "gentrace: the recorder's instance tables are not set up");
        return -1;
    }
    int failed = PyDict_DelItem(table, key);
    if (failed && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        failed = 0;
    }
    return failed;
}

/* collected(ref): Recorder._collected, the callback of an instance's weak reference, compiled: the
 * instance forgotten, and its `collect` recorded (by _record_collect) if it was left live. */
static PyObject *
core_collected(RecorderCore *self, PyObject *ref)
{
    if (!PyObject_TypeCheck(ref, instance_ref_type)) {
        PyErr_SetString(PyExc_TypeError, "collected() takes an InstanceRef");
        return NULL;
    }
    PyObject *info = REF_INFO(ref), *before = REF_STATE(ref);
    if (info == NULL || before == NULL || !PyTuple_Check(info) || PyTuple_GET_SIZE(info) < 1) {
        PyErr_SetString(PyExc_AttributeError, "info");
        return NULL;
    }
    Py_INCREF(ref);  /* the tables may hold its last references */
    Py_INCREF(info);
    Py_INCREF(before);
    PyObject *result = NULL;
    if (forget_key(self->refs, ref) < 0 || forget_key(self->by_name, PyTuple_GET_ITEM(info, 0)) < 0) {
        goto done;
    }
    PyObject *after = PyDict_GetItemWithError(collected_states, before);
    if (after == NULL) {
        result = PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
        goto done;
    }
    PyObject *call_args[4] = {(PyObject *)self, ref, before, after};
    result = PyObject_VectorcallMethod(str_record_collect, call_args, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
done:
    Py_DECREF(before);
    Py_DECREF(info);
    Py_DECREF(ref);
    return result;
}

/* adopt(gen, name, func, arg, proxy_type, state, frame_attr): Tracer._adopt's instance(), proxy and
 * created() for a generator, coroutine or async generator made by the traced function `func`. */
static PyObject *
core_adopt(RecorderCore *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "adopt() takes gen, name, func, arg, proxy_type, state, frame_attr");
        return NULL;
    }
    PyObject *gen = args[0], *name = args[1], *func = args[2], *arg = args[3], *proxy_type = args[4];
    PyObject *state = args[5], *frame_attr = args[6];
    if (recorder_ready(self) < 0) {
        return NULL;
    }
    PyObject *ref = known_instance(self, gen, name, func);
    if (ref == Py_None) {
        Py_DECREF(ref);
        PyObject *call_args[4] = {(PyObject *)self, gen, name, func};
        ref = PyObject_VectorcallMethod(str_instance, call_args, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    if (ref == NULL) {
        return NULL;
    }
    PyObject *proxy = new_proxy(proxy_type, gen, self, ref);
    PyObject **cache = NULL;
    if (proxy != NULL && (PyObject_TypeCheck(proxy, &StepsType) || PyObject_TypeCheck(proxy, &CoroStepsType))) {
        cache = &((Steps *)proxy)->frame;
    }
    else if (proxy != NULL && PyObject_TypeCheck(proxy, &AgenStepsType) && PyAsyncGen_CheckExact(gen)) {
        cache = &((AgenSteps *)proxy)->frame;
    }
    long long lasti;
    if (proxy == NULL || paused_at(gen, frame_attr, &lasti, cache) < 0) {
        Py_XDECREF(proxy);
        Py_DECREF(ref);
        return NULL;
    }
    set_state(ref, state);
    int failed = record_created(self, ref, arg, state, lasti);
    Py_DECREF(ref);
    if (failed) {
        Py_DECREF(proxy);
        return NULL;
    }
    return proxy;
}

/* -- configure() ---------------------------------------------------------------------------- */

static PyObject *
configure(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"ops", "outcomes", "states", "create", "collected", "raised", "task_of",
                             "new_thread_state", "running_tasks", "instance_ref", "discard", "deep", "room",
                             "step_frames", NULL};
    PyObject *raised, *task_of, *factory, *tasks_func, *ref_type, *discard, *collected;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "(UUUU)(UUU)(UUU)(UUU)O!OOOOO!Onnn:configure", kwlist,
                                     &s_next, &s_send, &s_throw, &s_close,
                                     &s_yield, &s_return, &s_closed,
                                     &s_running, &s_suspended, &s_gen_closed,
                                     &s_create, &s_created, &s_gen_created, &PyDict_Type, &collected,
                                     &raised, &task_of, &factory, &tasks_func, &PyType_Type, &ref_type,
                                     &discard, &deep, &room, &step_frames)) {
        return NULL;
    }
    PyObject *descr = PyObject_GetAttrString(ref_type, "state");
    if (descr == NULL) {
        return NULL;
    }
    if (!PyObject_TypeCheck(descr, &PyMemberDescr_Type)
        || ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
        Py_DECREF(descr);
        PyErr_SetString(PyExc_TypeError, "instance_ref.state must be a __slots__ slot");
        return NULL;
    }
    state_offset = ((PyMemberDescrObject *)descr)->d_member->offset;
    Py_DECREF(descr);
    descr = PyObject_GetAttrString(ref_type, "info");
    if (descr == NULL) {
        return NULL;
    }
    if (!PyObject_TypeCheck(descr, &PyMemberDescr_Type)
        || ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
        Py_DECREF(descr);
        PyErr_SetString(PyExc_TypeError, "instance_ref.info must be a __slots__ slot");
        return NULL;
    }
    info_offset = ((PyMemberDescrObject *)descr)->d_member->offset;
    Py_DECREF(descr);
    PyObject *interned[] = {s_next, s_send, s_throw, s_close, s_yield, s_return, s_closed,
                            s_running, s_suspended, s_gen_closed, s_create, s_created, s_gen_created};
    for (size_t i = 0; i < sizeof(interned) / sizeof(interned[0]); i++) {
        Py_INCREF(interned[i]);  /* kept for the module's life */
    }
    Py_XSETREF(raised_func, Py_NewRef(raised));
    Py_XSETREF(task_of_func, Py_NewRef(task_of));
    Py_XSETREF(thread_factory, Py_NewRef(factory));
    Py_XSETREF(running_tasks_func, Py_NewRef(tasks_func));
    Py_XSETREF(collected_states, Py_NewRef(collected));
    Py_XSETREF(discard_func, Py_NewRef(discard));
    Py_XSETREF(instance_ref_type, (PyTypeObject *)Py_NewRef(ref_type));
    configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef module_functions[] = {
    {"configure", (PyCFunction)(void (*)(void))configure, METH_VARARGS | METH_KEYWORDS,
     "Hand over the record vocabulary and the Python code a compiled step calls back (once)."},
    {"configure_async", (PyCFunction)(void (*)(void))configure_async, METH_VARARGS | METH_KEYWORDS,
     "Hand over what the compiled async steps need besides configure()'s (once)."},
    {NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "gentrace._speedups", NULL, -1, module_functions,
};

static int
init_globals(void)
{
    memory_append_def = &memory_methods[0];
    str_gi_frame = PyUnicode_InternFromString("gi_frame");
    str_overflow = PyUnicode_InternFromString("overflow");
    str_start = PyUnicode_InternFromString("start");
    str_thread_key = PyUnicode_InternFromString("gentrace.thread_state");
    str_info = PyUnicode_InternFromString("info");
    str_catch_up = PyUnicode_InternFromString("_catch_up");
    str_fail = PyUnicode_InternFromString("_fail");
    str_thread_id = PyUnicode_InternFromString("_thread_id");
    str_get_name = PyUnicode_InternFromString("get_name");
    str_ag_frame = PyUnicode_InternFromString("ag_frame");
    str_cr_frame = PyUnicode_InternFromString("cr_frame");
    str_cr_await = PyUnicode_InternFromString("cr_await");
    str_anext_first = PyUnicode_InternFromString("_anext_first");
    str_finish = PyUnicode_InternFromString("_finish");
    str_ended = PyUnicode_InternFromString("_ended");
    str_hash = PyUnicode_InternFromString("#");
    str_instance = PyUnicode_InternFromString("instance");
    str_gi_code = PyUnicode_InternFromString("gi_code");
    str_cr_code = PyUnicode_InternFromString("cr_code");
    str_ag_code = PyUnicode_InternFromString("ag_code");
    str_record_collect = PyUnicode_InternFromString("_record_collect");
    if (!str_gi_frame || !str_overflow || !str_start || !str_thread_key || !str_info || !str_catch_up
        || !str_fail || !str_thread_id || !str_get_name || !str_ag_frame || !str_cr_frame || !str_cr_await
        || !str_anext_first || !str_finish || !str_ended || !str_hash || !str_instance || !str_gi_code || !str_cr_code || !str_ag_code
        || !str_record_collect) {
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (init_globals() < 0) {
        return NULL;
    }
    if (PyType_Ready(&ThreadStateType) < 0 || PyType_Ready(&CounterType) < 0 || PyType_Ready(&RecorderCoreType) < 0
        || PyType_Ready(&MemoryType) < 0 || PyType_Ready(&LoneEmitType) < 0
        || PyType_Ready(&StepsType) < 0 || PyType_Ready(&AsyncStepType) < 0 || PyType_Ready(&AgenStepsType) < 0
        || PyType_Ready(&CoroStepsType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&speedups_module);
    if (m == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    PyUnstable_Module_SetGIL(m, Py_MOD_GIL_USED);
#endif
    if (PyModule_AddObjectRef(m, "ThreadState", (PyObject *)&ThreadStateType) < 0
        || PyModule_AddObjectRef(m, "Counter", (PyObject *)&CounterType) < 0
        || PyModule_AddObjectRef(m, "RecorderCore", (PyObject *)&RecorderCoreType) < 0
        || PyModule_AddObjectRef(m, "GeneratorSteps", (PyObject *)&StepsType) < 0
        || PyModule_AddObjectRef(m, "Memory", (PyObject *)&MemoryType) < 0
        || PyModule_AddObjectRef(m, "LoneEmit", (PyObject *)&LoneEmitType) < 0
        || PyModule_AddObjectRef(m, "AsyncStepCore", (PyObject *)&AsyncStepType) < 0
        || PyModule_AddObjectRef(m, "AsyncGeneratorSteps", (PyObject *)&AgenStepsType) < 0
        || PyModule_AddObjectRef(m, "CoroutineSteps", (PyObject *)&CoroStepsType) < 0
        || gentrace_render_init(m) < 0 || gentrace_clock_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

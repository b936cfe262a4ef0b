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
#include <time.h>
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
static PyObject *perf_counter_ns;

static PyObject *str_gi_frame, *str_overflow, *str_start, *str_thread_key, *str_info;
static PyObject *str_catch_up, *str_fail;

static int configured = 0;
static Py_ssize_t deep, room, step_frames;  /* proxy.DEEP, ROOM, COMPILED_STEP_FRAMES */

/* -- the clock ----------------------------------------------------------------------------- */

/* time.perf_counter_ns() without the call: the same clock (CLOCK_MONOTONIC on POSIX). */
static int
read_clock(PyObject *clock, long long *now)
{
    if (clock == perf_counter_ns) {
#if PY_VERSION_HEX >= 0x030D0000
        PyTime_t t;
        PyTime_PerfCounterRaw(&t);
        *now = (long long)t;
        return 0;
#elif defined(CLOCK_MONOTONIC)
        struct timespec ts;
        if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
            *now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
            return 0;
        }
#endif
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

static PyObject *
thread_list(void)  /* borrowed */
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

/* -- RecorderCore: the fields of Recorder a step reads ------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *counter;
    PyObject *limit;
    PyObject *latest;
    PyObject *clock;
    PyObject *tasks;
    PyObject *starting;
    PyObject *emit;
} RecorderCore;

static int
core_traverse(RecorderCore *self, visitproc visit, void *arg)
{
    Py_VISIT(self->counter);
    Py_VISIT(self->limit);
    Py_VISIT(self->latest);
    Py_VISIT(self->clock);
    Py_VISIT(self->tasks);
    Py_VISIT(self->starting);
    Py_VISIT(self->emit);
    return 0;
}

static int
core_clear(RecorderCore *self)
{
    Py_CLEAR(self->counter);
    Py_CLEAR(self->limit);
    Py_CLEAR(self->latest);
    Py_CLEAR(self->clock);
    Py_CLEAR(self->tasks);
    Py_CLEAR(self->starting);
    Py_CLEAR(self->emit);
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
    CORE_MEMBER(counter, "The next seq: an iterator of ints."),
    CORE_MEMBER(limit, "The last seq recorded (max_events); -1 once recording stopped."),
    CORE_MEMBER(latest, "The seq of the latest operation started."),
    CORE_MEMBER(clock, "The clock, in ns."),
    CORE_MEMBER(tasks, "asyncio's table of running tasks, or None."),
    CORE_MEMBER(starting, "Whether a sink wants each operation's start."),
    CORE_MEMBER(emit, "Where each record goes."),
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
    .tp_new = PyType_GenericNew,
};

/* -- Memory: every record kept, as C structs in chunks (Recorder.memory, keep=None) --------- */

/* One record: (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took,
 * lasti, ended_after), its numbers as C integers. A record whose numbers are not machine integers
 * (a test's odd clock) is kept as its tuple in `odd`. */
typedef struct {
    long long seq, start, took, ended, depth, lasti;
    PyObject *info, *op, *arg, *outcome, *value, *before, *after, *thread, *task;
    PyObject *odd;
} Rec;

#define CHUNK 1024

typedef struct {
    PyObject_HEAD
    Rec **chunks;
    Py_ssize_t nchunks;   /* allocated */
    Py_ssize_t count;     /* records kept */
} Memory;

static PyTypeObject MemoryType;
static PyMethodDef *memory_append_def;

static Rec *
memory_slot(Memory *self)
{
    Py_ssize_t chunk = self->count / CHUNK;
    if (chunk == self->nchunks) {
        Py_ssize_t n = self->nchunks ? self->nchunks * 2 : 16;
        if (chunk >= n) {
            n = chunk + 1;
        }
        if (self->nchunks == 0 || chunk >= self->nchunks) {
            Rec **grown = PyMem_Realloc(self->chunks, (size_t)n * sizeof(Rec *));
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
    }
    if (self->chunks[chunk] == NULL) {
        self->chunks[chunk] = PyMem_Malloc(CHUNK * sizeof(Rec));
        if (self->chunks[chunk] == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
    }
    return &self->chunks[chunk][self->count % CHUNK];
}

/* Keep `r` (its objects are borrowed: taken here). */
static int
memory_keep(Memory *self, const Rec *r)
{
    Rec *slot = memory_slot(self);
    if (slot == NULL) {
        return -1;
    }
    *slot = *r;
    Py_XINCREF(slot->info);
    Py_XINCREF(slot->op);
    Py_XINCREF(slot->arg);
    Py_XINCREF(slot->outcome);
    Py_XINCREF(slot->value);
    Py_XINCREF(slot->before);
    Py_XINCREF(slot->after);
    Py_XINCREF(slot->thread);
    Py_XINCREF(slot->task);
    Py_XINCREF(slot->odd);
    self->count++;
    return 0;
}

static PyObject *
rec_tuple(const Rec *r)
{
    if (r->odd != NULL) {
        return Py_NewRef(r->odd);
    }
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
        Rec odd = {0};
        odd.odd = record;
        return memory_keep(self, &odd) < 0 ? NULL : Py_NewRef(Py_None);
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
        PyObject *t = rec_tuple(&self->chunks[i / CHUNK][i % CHUNK]);
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

#define FOR_EACH_REC(self, r)                                                                    \
    for (Py_ssize_t i_ = 0; i_ < (self)->count; i_++)                                            \
        for (Rec *r = &(self)->chunks[i_ / CHUNK][i_ % CHUNK]; r != NULL; r = NULL)

static int
memory_traverse(Memory *self, visitproc visit, void *arg)
{
    FOR_EACH_REC(self, r) {
        Py_VISIT(r->info);
        Py_VISIT(r->arg);
        Py_VISIT(r->value);
        Py_VISIT(r->odd);
    }
    return 0;
}

static int
memory_clear(Memory *self)
{
    Py_ssize_t count = self->count;
    Rec **chunks = self->chunks;
    Py_ssize_t nchunks = self->nchunks;
    self->count = 0;
    self->chunks = NULL;
    self->nchunks = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        Rec *r = &chunks[i / CHUNK][i % CHUNK];
        Py_XDECREF(r->info);
        Py_XDECREF(r->op);
        Py_XDECREF(r->arg);
        Py_XDECREF(r->outcome);
        Py_XDECREF(r->value);
        Py_XDECREF(r->before);
        Py_XDECREF(r->after);
        Py_XDECREF(r->thread);
        Py_XDECREF(r->task);
        Py_XDECREF(r->odd);
    }
    for (Py_ssize_t c = 0; c < nchunks; c++) {
        PyMem_Free(chunks[c]);
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

/* The offset of the instruction the generator is paused at, as its gi_frame.f_lasti says. */
static int
paused_at(PyObject *gen, long long *lasti)
{
    PyObject *frame = PyObject_GetAttr(gen, str_gi_frame);
    if (frame == NULL) {
        return -1;
    }
    *lasti = -1;
    if (frame != Py_None) {
#if PY_VERSION_HEX >= 0x030B0000
        *lasti = PyFrame_GetLasti((PyFrameObject *)frame);
#else
        int i = ((PyFrameObject *)frame)->f_lasti;
        *lasti = i < 0 ? -1 : (long long)i * (long long)sizeof(_Py_CODEUNIT);
#endif
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

/* One traced step: as _PythonSteps.__next__/send/_step_slow. Returns what call_gen returned
 * (the result in *result), with the step recorded. */
static PySendResult
step(Steps *self, PyObject *op, Call call, PyObject *arg, PyObject *const *args, Py_ssize_t nargs,
     PyObject **result)
{
    RecorderCore *rec = self->rec;
    PyObject *gen = self->gen;
    *result = NULL;
    if (rec->counter == NULL || rec->limit == NULL || rec->clock == NULL || rec->emit == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "gentrace: the recorder is not set up");
        return PYGEN_ERROR;
    }
    PyObject *seq = Py_TYPE(rec->counter)->tp_iternext(rec->counter);
    if (seq == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetNone(PyExc_StopIteration);
        }
        return PYGEN_ERROR;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(rec->limit);
    Py_ssize_t number = PyLong_AsSsize_t(seq);
    int over;
    if ((limit == -1 || number == -1) && PyErr_Occurred()) {
        PyErr_Clear();  /* not machine ints: a seq past sys.maxsize is past any limit */
        over = PyObject_RichCompareBool(seq, rec->limit, Py_GT);
        if (over == 0) {
            over = -1;
            PyErr_SetString(PyExc_OverflowError, "gentrace: seq past sys.maxsize");
        }
    }
    else {
        over = number > limit;
    }
    if (over != 0) {
        if (over > 0) {
            PyObject *r = PyObject_CallMethodOneArg((PyObject *)rec, str_overflow, seq);
            Py_XDECREF(r);
            over = r == NULL ? -1 : 1;
        }
        Py_DECREF(seq);
        return over < 0 ? PYGEN_ERROR : call_gen(gen, call, arg, args, nargs, result);
    }
    Py_INCREF(seq);
    Py_XSETREF(rec->latest, seq);

    PyObject *ref = self->ref;
    PyObject *info = self->info;
    PyObject *before = REF_STATE(ref);
    if (before == NULL) {
        PyErr_SetString(PyExc_AttributeError, "state");
        Py_DECREF(seq);
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
    PyList_SetItem(st, 0, deeper);
    int extra = 0;  /* as the Python step: past DEEP nested steps, room for what each one adds */
    if (depth >= deep) {
        extra = (int)(depth == deep ? step_frames * deep + room : step_frames);
        if (extra) {
            Py_SetRecursionLimit(Py_GetRecursionLimit() + extra);
        }
    }

    PyObject *tasks = rec->tasks;
    int busy = 0;
    if (tasks != NULL && tasks != Py_None) {
        busy = PyDict_CheckExact(tasks) ? PyDict_GET_SIZE(tasks) > 0 : PyObject_IsTrue(tasks);
    }
    if (busy < 0) {
        goto undepth;
    }
    if (busy) {
        task = PyObject_CallOneArg(task_of_func, tasks);
        if (task == NULL) {
            goto undepth;
        }
    }
    else {
        task = Py_NewRef(Py_None);
    }
    long long start, end;
    if (rec->starting == Py_True) {
        if (read_clock(rec->clock, &start) < 0) {
            goto undepth;
        }
        PyObject *now = PyLong_FromLongLong(start);
        if (now == NULL) {
            goto undepth;
        }
        PyObject *zero = PyLong_FromLong(0), *minus = PyLong_FromLong(-1);
        PyObject *record = PyTuple_Pack(15, seq, info, op, arg, Py_None, Py_None, before, Py_None,
                                        depth_obj, thread, task, now, zero, minus, zero);
        Py_DECREF(now);
        Py_DECREF(zero);
        Py_DECREF(minus);
        if (record == NULL) {
            goto undepth;
        }
        PyObject *r = PyObject_CallMethodOneArg((PyObject *)rec, str_start, record);
        Py_DECREF(record);
        if (r == NULL) {
            goto undepth;
        }
        Py_DECREF(r);
    }
    if (read_clock(rec->clock, &start) < 0) {
        goto undepth;
    }
    outcome = call_gen(gen, call, arg, args, nargs, result);
    if (outcome == PYGEN_ERROR) {
        take_raised(&raised);
    }
    int clock_failed = read_clock(rec->clock, &end);
    PyList_SetItem(st, 0, Py_NewRef(depth_obj));
    if (extra) {
        Py_SetRecursionLimit(Py_GetRecursionLimit() - extra);
    }
    if (clock_failed) {
        goto fail_raised;  /* the clock's error goes up, as from Python's except clause */
    }
    long long ended = PyLong_AsLongLong(rec->latest);
    if (ended == -1 && PyErr_Occurred()) {
        goto fail_raised;
    }
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
        PyObject *start_obj = PyLong_FromLongLong(start), *end_obj = PyLong_FromLongLong(end);
        PyObject *done_ = NULL;
        if (start_obj != NULL && end_obj != NULL) {
            PyObject *call_args[11] = {(PyObject *)self, seq, op, arg, raised.exc, before, depth_obj,
                                       thread, task, start_obj, end_obj};
            done_ = PyObject_Vectorcall(raised_func, call_args, 11, NULL);
        }
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
        if (r.after == s_suspended && paused_at(gen, &r.lasti) < 0) {
            goto fail;
        }
        r.value = call == CALL_CLOSE ? Py_None : *result;
        if (emit_record(rec, &r) < 0) {
            goto fail;
        }
    }
    goto done;

undepth:
    PyList_SetItem(st, 0, Py_NewRef(depth_obj));
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
    Py_DECREF(seq);
    return outcome;
}

static PyObject *
steps_iternext(Steps *self)
{
    PyObject *result;
    PySendResult r = step(self, s_next, CALL_NEXT, Py_None, NULL, 0, &result);
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

static PyObject *
steps_send(Steps *self, PyObject *value)
{
    PyObject *result;
    PySendResult r = step(self, s_send, CALL_SEND, value, NULL, 0, &result);
    if (r == PYGEN_NEXT) {
        return result;
    }
    if (r == PYGEN_RETURN) {
        set_stop_iteration(result);
        Py_DECREF(result);
    }
    return NULL;
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

static int
steps_init(Steps *self, PyObject *args, PyObject *kwds)
{
    PyObject *gen, *rec, *ref;
    static char *kwlist[] = {"gen", "recorder", "ref", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:GeneratorProxy", kwlist, &gen, &rec, &ref)) {
        return -1;
    }
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
    PyObject *info = PyObject_GetAttr(ref, str_info);
    if (info == NULL) {
        return -1;
    }
    Py_XSETREF(self->gen, Py_NewRef(gen));
    Py_XSETREF(self->rec, (RecorderCore *)Py_NewRef(rec));
    Py_XSETREF(self->ref, Py_NewRef(ref));
    Py_XSETREF(self->info, info);
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

/* -- configure() ---------------------------------------------------------------------------- */

static PyObject *
configure(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"ops", "outcomes", "states", "raised", "task_of", "new_thread_state",
                             "instance_ref", "discard", "deep", "room", "step_frames", NULL};
    PyObject *raised, *task_of, *factory, *ref_type, *discard;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "(UUUU)(UUU)(UUU)OOOO!Onnn:configure", kwlist,
                                     &s_next, &s_send, &s_throw, &s_close,
                                     &s_yield, &s_return, &s_closed,
                                     &s_running, &s_suspended, &s_gen_closed,
                                     &raised, &task_of, &factory, &PyType_Type, &ref_type, &discard,
                                     &deep, &room, &step_frames)) {
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
    PyObject *interned[] = {s_next, s_send, s_throw, s_close, s_yield, s_return, s_closed,
                            s_running, s_suspended, s_gen_closed};
    for (size_t i = 0; i < sizeof(interned) / sizeof(interned[0]); i++) {
        Py_INCREF(interned[i]);  /* kept for the module's life */
    }
    Py_XSETREF(raised_func, Py_NewRef(raised));
    Py_XSETREF(task_of_func, Py_NewRef(task_of));
    Py_XSETREF(thread_factory, Py_NewRef(factory));
    Py_XSETREF(discard_func, Py_NewRef(discard));
    Py_XSETREF(instance_ref_type, (PyTypeObject *)Py_NewRef(ref_type));
    configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef module_functions[] = {
    {"configure", (PyCFunction)(void (*)(void))configure, METH_VARARGS | METH_KEYWORDS,
     "Hand over the record vocabulary and the Python code a compiled step calls back (once)."},
    {NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "gentrace._speedups", NULL, -1, module_functions,
};

static int
init_globals(void)
{
    PyObject *time = PyImport_ImportModule("time");
    if (time == NULL) {
        return -1;
    }
    perf_counter_ns = PyObject_GetAttrString(time, "perf_counter_ns");
    Py_DECREF(time);
    if (perf_counter_ns == NULL) {
        return -1;
    }
    memory_append_def = &memory_methods[0];
    str_gi_frame = PyUnicode_InternFromString("gi_frame");
    str_overflow = PyUnicode_InternFromString("overflow");
    str_start = PyUnicode_InternFromString("start");
    str_thread_key = PyUnicode_InternFromString("gentrace.thread_state");
    str_info = PyUnicode_InternFromString("info");
    str_catch_up = PyUnicode_InternFromString("_catch_up");
    str_fail = PyUnicode_InternFromString("_fail");
    if (!str_gi_frame || !str_overflow || !str_start || !str_thread_key || !str_info || !str_catch_up
        || !str_fail) {
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
    if (PyType_Ready(&ThreadStateType) < 0 || PyType_Ready(&RecorderCoreType) < 0
        || PyType_Ready(&MemoryType) < 0 || PyType_Ready(&LoneEmitType) < 0
        || PyType_Ready(&StepsType) < 0) {
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
        || PyModule_AddObjectRef(m, "RecorderCore", (PyObject *)&RecorderCoreType) < 0
        || PyModule_AddObjectRef(m, "GeneratorSteps", (PyObject *)&StepsType) < 0
        || PyModule_AddObjectRef(m, "Memory", (PyObject *)&MemoryType) < 0
        || PyModule_AddObjectRef(m, "LoneEmit", (PyObject *)&LoneEmitType) < 0
        || gentrace_render_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* The renderers' compiled parts: `JsonLines`, the JSON Lines form of the common records, and
 * `TextLines`, a text log file's common steps; each is also the batch of lines a file sink writes
 * at once.
 *
 * A `JsonLines` renders a record as `jsonl.JsonRenderer` does, byte for byte: the parts of a line
 * that repeat (an instance's name and place, its states, thread and task) come from the Python
 * renderer, once for each combination, and are remembered here; the seq, times and the values of
 * the common types (int under 2**1024, float, str, bytes, None, bool, small tuples, lists and dicts
 * of them) are written here. Any other record — an exception, a value of a class of the program's,
 * a repr that would be cut, a create with arguments, an iter() — is rendered by the Python renderer
 * itself.
 *
 * Given a `drain`, it is also a file sink's batch: `end(record)` adds the record's line, and calls
 * `drain()` (which writes `take()` to the file) first when the batch is full or its first line is
 * older than the interval. A line is built whole before it joins the batch, so a record recorded
 * meanwhile (a finalizer's `collect`, another thread's step) never lands inside it.
 */
#include "_speedups.h"

#include <string.h>
#include <time.h>
#ifdef _WIN32
#include <windows.h>
#endif

#define RECORD_FIELDS 15
enum { SEQ, INST, OP, ARG, OUTCOME, VALUE, BEFORE, AFTER, DEPTH, THREAD, TASK, START, DURATION,
       LASTI, ENDED_AFTER };

#define SMALL_INT (1LL << 62)
#define CACHE_SIZE 64        /* remembered parts, by instance, place and the rest of the key */
#define CONTAINER_ITEMS 16   /* a tuple or list rendered here: at most this many items... */
#define CONTAINER_DEPTH 3    /* ...and this deep */
#define BATCH_BYTES (1 << 16)
#define INTERVAL_NS 100000000LL

/* -- a growing byte buffer ------------------------------------------------------------------- */

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    char inline_data[512];
} Text;

static void
text_init(Text *t)
{
    t->data = t->inline_data;
    t->len = 0;
    t->cap = (Py_ssize_t)sizeof(t->inline_data);
}

static void
text_free(Text *t)
{
    if (t->data != t->inline_data) {
        PyMem_Free(t->data);
    }
    text_init(t);
}

static int
text_grow(Text *t, Py_ssize_t more)
{
    Py_ssize_t cap = t->cap * 2;
    while (cap < t->len + more) {
        cap *= 2;
    }
    char *data;
    if (t->data == t->inline_data) {
        data = PyMem_Malloc(cap);
        if (data != NULL) {
            memcpy(data, t->data, t->len);
        }
    }
    else {
        data = PyMem_Realloc(t->data, cap);
    }
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->data = data;
    t->cap = cap;
    return 0;
}

static inline int
text_reserve(Text *t, Py_ssize_t more)
{
    return t->len + more <= t->cap ? 0 : text_grow(t, more);
}

static inline int
text_add(Text *t, const char *s, Py_ssize_t n)
{
    if (text_reserve(t, n) < 0) {
        return -1;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    return 0;
}

#define TEXT_LIT(t, s) text_add((t), (s), (Py_ssize_t)(sizeof(s) - 1))

static const char two_digits[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static inline int
text_int(Text *t, long long v)
{
    char digits[24];
    int i = (int)sizeof(digits);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    while (u >= 100) {  /* two digits a division */
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        digits[--i] = two_digits[d + 1];
        digits[--i] = two_digits[d];
    }
    if (u >= 10) {
        digits[--i] = two_digits[u * 2 + 1];
        digits[--i] = two_digits[u * 2];
    }
    else {
        digits[--i] = (char)('0' + u);
    }
    if (v < 0) {
        digits[--i] = '-';
    }
    return text_add(t, digits + i, (Py_ssize_t)sizeof(digits) - i);
}

/* `json.encoder.encode_basestring_ascii(s)`, quotes included. */
static int
text_json_string(Text *t, PyObject *s)
{
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    if (text_reserve(t, n * 12 + 2) < 0) {
        return -1;
    }
    char *out = t->data + t->len;
    *out++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= ' ' && c <= '~' && c != '\\' && c != '"') {
            *out++ = (char)c;
            continue;
        }
        *out++ = '\\';
        switch (c) {
        case '\\': *out++ = '\\'; break;
        case '"': *out++ = '"'; break;
        case '\b': *out++ = 'b'; break;
        case '\f': *out++ = 'f'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        default:
            if (c >= 0x10000) {
                Py_UCS4 v = c - 0x10000;
                Py_UCS4 high = 0xd800 | ((v >> 10) & 0x3ff);
                *out++ = 'u';
                *out++ = hex[(high >> 12) & 0xf];
                *out++ = hex[(high >> 8) & 0xf];
                *out++ = hex[(high >> 4) & 0xf];
                *out++ = hex[high & 0xf];
                *out++ = '\\';
                c = 0xdc00 | (v & 0x3ff);
            }
            *out++ = 'u';
            *out++ = hex[(c >> 12) & 0xf];
            *out++ = hex[(c >> 8) & 0xf];
            *out++ = hex[(c >> 4) & 0xf];
            *out++ = hex[c & 0xf];
        }
    }
    *out++ = '"';
    t->len = out - t->data;
    return 0;
}

/* -- the names a record holds ------------------------------------------------------------------ */

enum { OP_NEXT, OP_ANEXT, OP_SEND, OP_ASEND, OP_THROW, OP_ATHROW, OP_CLOSE, OP_ACLOSE, OP_COLLECT,
       OP_CREATE, OP_ITER, OP_AITER, OP_LEAVE, OP_OTHER };
static const char *const op_names[] = {"next", "anext", "send", "asend", "throw", "athrow", "close",
                                       "aclose", "collect", "create", "iter", "aiter", "leave"};
#define OP_NAMED OP_OTHER

enum { OUT_CREATED, OUT_YIELD, OUT_RETURN, OUT_RAISE, OUT_CLOSED, OUT_LEFT, OUT_OTHER };
static const char *const outcome_names[] = {"created", "yield", "return", "raise", "closed", "left"};
#define OUT_NAMED OUT_OTHER

static PyObject *op_strs[OP_NAMED];
static PyObject *outcome_strs[OUT_NAMED];

/* Which of `names` `s` is (the same object, as the records' constants are, or an equal str). */
static int
name_of(PyObject *s, PyObject **strs, const char *const *names, int count)
{
    for (int i = 0; i < count; i++) {
        if (s == strs[i]) {
            return i;
        }
    }
    if (!PyUnicode_Check(s)) {
        return count;
    }
    for (int i = 0; i < count; i++) {
        if (PyUnicode_CompareWithASCIIString(s, names[i]) == 0) {
            return i;
        }
    }
    return count;
}

/* -- JSON Lines ------------------------------------------------------------------------------ */

typedef struct {
    /* The key, as JsonRenderer's memo of steps has it (held, so an address is never reused). */
    PyObject *info, *op, *before, *after, *thread, *task;
    long long depth, lasti;
    int loop;
    /* The line's parts: before its arg, from its states to its time, its place (ASCII). */
    PyObject *lead, *tail, *where;
} Parts;

/* A part's text: its str is held while it is written. */
#define PART(t, s) text_add((t), (const char *)PyUnicode_DATA(s), PyUnicode_GET_LENGTH(s))

typedef struct {
    PyObject_HEAD
    PyObject *renderer;   /* the Python JsonRenderer: its memos, and every line rendered there */
    PyObject *steps;      /* renderer._steps */
    PyObject *render;     /* renderer._render: any record */
    PyObject *step_parts; /* renderer._step_parts: a step's parts, remembered in _steps */
    PyObject *parts;      /* renderer._parts: any record's parts, not remembered there */
    PyObject *loop;       /* records.LOOP */
    PyObject *default_;   /* records.Default */
    PyObject *drain;      /* a sink's drain(), or None */
    long long origin;
    Py_ssize_t limit;     /* the longest repr shown whole (PY_SSIZE_T_MAX: no limit) */
    Parts cache[2][CACHE_SIZE]; /* [0] steps (JsonRenderer's fast path), [1] any other record */
    Text batch;
    long long since;      /* when the batch's first line came */
} JsonLines;

static long long
now_ns(void)
{
#ifdef _WIN32
    return (long long)GetTickCount64() * 1000000LL;
#else
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
#endif
}

static void
parts_clear(Parts *p)
{
    Py_CLEAR(p->info);
    Py_CLEAR(p->op);
    Py_CLEAR(p->before);
    Py_CLEAR(p->after);
    Py_CLEAR(p->thread);
    Py_CLEAR(p->task);
    Py_CLEAR(p->lead);
    Py_CLEAR(p->tail);
    Py_CLEAR(p->where);
}

/* An int that fits in a long long: 1, with it in *out; 0 if it is not an exact int or too big. */
static int
exact_long(PyObject *obj, long long *out)
{
    if (!PyLong_CheckExact(obj)) {
        return 0;
    }
    int overflow;
    *out = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow) {
        return 0;
    }
    if (*out == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* An int whose repr is never cut here (as reprs.SMALL_INT bounds it). */
static int
small_int(PyObject *obj)
{
    long long v;
    return exact_long(obj, &v) && v > -SMALL_INT && v < SMALL_INT;
}

#define NOT_PLAIN -1
#define TOO_LONG -2

/* No more than len(repr(obj)), when that repr is the builtin's, with no code of the program's in
 * it, and printable: None, a bool, an int that is not huge, a float, a str, bytes, or a small tuple,
 * list or dict of those (nested). NOT_PLAIN if it is not one of those; TOO_LONG if it is longer than
 * `limit`. */
static Py_ssize_t
plain_least(PyObject *obj, Py_ssize_t limit, int depth)
{
    Py_ssize_t least;
    if (obj == Py_None || obj == Py_True) {
        least = 4;
    }
    else if (obj == Py_False) {
        least = 5;
    }
    else if (PyFloat_CheckExact(obj)) {
        least = 3; /* 0.0, inf, nan */
    }
    else if (PyLong_CheckExact(obj)) {
        least = small_int(obj) ? 1 : NOT_PLAIN;
    }
    else if (PyUnicode_CheckExact(obj)) {
        least = PyUnicode_GET_LENGTH(obj) + 2;
    }
    else if (PyBytes_CheckExact(obj)) {
        least = PyBytes_GET_SIZE(obj) + 3;
    }
    else if (depth >= CONTAINER_DEPTH) {
        least = NOT_PLAIN;
    }
    else if (PyTuple_CheckExact(obj) || PyList_CheckExact(obj)) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(obj);
        if (n > CONTAINER_ITEMS) {
            return NOT_PLAIN;
        }
        /* the brackets, ", " between items, and a 1-tuple's comma */
        least = n == 0 ? 2 : 2 * n + (n == 1 && PyTuple_CheckExact(obj));
        for (Py_ssize_t i = 0; i < n && least <= limit; i++) {
            Py_ssize_t item = plain_least(PySequence_Fast_GET_ITEM(obj, i), limit - least, depth + 1);
            if (item < 0) {
                return item;
            }
            least += item;
        }
    }
    else if (PyDict_CheckExact(obj)) {
        Py_ssize_t n = PyDict_GET_SIZE(obj), at = 0;
        if (n > CONTAINER_ITEMS) {
            return NOT_PLAIN;
        }
        least = n == 0 ? 2 : 4 * n; /* the braces, ": " in each item and ", " between them */
        PyObject *key, *value;
        while (least <= limit && PyDict_Next(obj, &at, &key, &value)) {
            Py_ssize_t item = plain_least(key, limit - least, depth + 1);
            if (item >= 0) {
                least += item;
                item = plain_least(value, limit - least, depth + 1);
            }
            if (item < 0) {
                return item;
            }
            least += item;
        }
    }
    else {
        least = NOT_PLAIN;
    }
    return least > limit ? TOO_LONG : least;
}

/* repr(obj), when it is what reprs.safe_repr(obj, limit) shows, whole: a plain value (plain_least)
 * or an int too big for a number here but under 2**1024 (at most 309 digits: quick to write). A new
 * reference, or NULL, with no error if it is not such a value or is longer than `limit`. */
static PyObject *
whole_repr(PyObject *obj, Py_ssize_t limit)
{
    if (PyLong_CheckExact(obj) && !small_int(obj)) {
        if (PyLong_AsDouble(obj) == -1.0 && PyErr_Occurred()) {
            if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_Clear(); /* huge: its repr is cut, or too long to make (the Python renderer's) */
            }
            return NULL;
        }
    }
    else if (plain_least(obj, limit, 0) < 0) {
        return NULL;
    }
    PyObject *repr = PyObject_Repr(obj);
    if (repr != NULL && PyUnicode_GET_LENGTH(repr) > limit) {
        Py_CLEAR(repr);
    }
    return repr;
}

/* The repr of None, a bool, an int that is not huge or a float, which is never cut in JSON: 1 if
 * written, 0 if `obj` is none of those, -1 on error. */
static int
write_number(Text *t, PyObject *obj)
{
    if (obj == Py_None) {
        return TEXT_LIT(t, "None") < 0 ? -1 : 1;
    }
    if (obj == Py_True) {
        return TEXT_LIT(t, "True") < 0 ? -1 : 1;
    }
    if (obj == Py_False) {
        return TEXT_LIT(t, "False") < 0 ? -1 : 1;
    }
    if (PyLong_CheckExact(obj)) {
        long long v;
        if (!exact_long(obj, &v) || v <= -SMALL_INT || v >= SMALL_INT) {
            return 0;
        }
        return text_int(t, v) < 0 ? -1 : 1;
    }
    if (PyFloat_CheckExact(obj)) {
        char *repr = PyOS_double_to_string(PyFloat_AS_DOUBLE(obj), 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (repr == NULL) {
            return -1;
        }
        int failed = text_add(t, repr, (Py_ssize_t)strlen(repr)) < 0;
        PyMem_Free(repr);
        return failed ? -1 : 1;
    }
    return 0;
}

/* A value as JSON: the JSON string of its safe repr (reprs.safe_repr, jsonl._json_repr). 1 if
 * written, 0 if it is not a value rendered here (`plain`: only a number, a bool or None, as
 * JsonRenderer's fast path takes), -1 on error. */
static int
write_value(JsonLines *self, Text *t, PyObject *obj, int plain)
{
    Py_ssize_t mark = t->len;
    if (TEXT_LIT(t, "\"") < 0) {
        return -1;
    }
    int done = write_number(t, obj);
    if (done == 1) {
        return TEXT_LIT(t, "\"") < 0 ? -1 : 1;
    }
    t->len = mark;
    if (done < 0 || plain) {
        return done;
    }
    PyObject *repr = whole_repr(obj, self->limit);
    if (repr == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    done = text_json_string(t, repr) < 0 ? -1 : 1;
    Py_DECREF(repr);
    return done;
}

static Py_ssize_t
cache_slot(PyObject *info, PyObject *op, long long lasti, long long depth)
{
    size_t h = (size_t)info >> 4;
    h ^= ((size_t)op >> 4) * 31u;
    h ^= (size_t)lasti * 131u + (size_t)depth * 7u;
    h ^= h >> 7;
    return (Py_ssize_t)(h % CACHE_SIZE);
}

static Parts not_ascii; /* what get_parts gives for parts the Python renderer must write itself */

/* The parts of a line with this key: remembered here, else JsonRenderer's (`steps`: its memo of
 * steps and `_step_parts`, as its fast path does; else `_parts`). A borrowed entry, `&not_ascii`,
 * or NULL. */
static Parts *
get_parts(JsonLines *self, PyObject *const *rec, long long depth, long long lasti, int loop, int steps)
{
    PyObject *info = rec[INST], *op = rec[OP];
    Parts *p = &self->cache[steps ? 0 : 1][cache_slot(info, op, lasti, depth)];
    if (p->info == info && p->op == op && p->before == rec[BEFORE] && p->after == rec[AFTER]
        && p->thread == rec[THREAD] && p->task == rec[TASK] && p->depth == depth && p->lasti == lasti
        && p->loop == loop) {
        return p;
    }
    if (!PyTuple_Check(info) || PyTuple_GET_SIZE(info) < 1) {
        PyErr_SetString(PyExc_TypeError, "a record's info must be a tuple");
        return NULL;
    }
    PyObject *key = PyTuple_Pack(9, PyTuple_GET_ITEM(info, 0), op, rec[BEFORE], rec[AFTER], rec[DEPTH],
                                 rec[THREAD], rec[TASK], rec[LASTI], loop ? Py_True : Py_False);
    if (key == NULL) {
        return NULL;
    }
    PyObject *found = NULL;
    if (steps) {
        found = PyDict_GetItemWithError(self->steps, key); /* borrowed */
        if (found != NULL) {
            Py_INCREF(found);
        }
        else if (!PyErr_Occurred()) {
            found = PyObject_CallFunctionObjArgs(self->step_parts, info, key, NULL);
        }
    }
    else {
        found = PyObject_CallFunctionObjArgs(self->parts, info, key, NULL);
    }
    Py_DECREF(key);
    if (found == NULL) {
        return NULL;
    }
    if (!PyTuple_Check(found) || PyTuple_GET_SIZE(found) != 3) {
        Py_DECREF(found);
        PyErr_SetString(PyExc_TypeError, "a line's parts must be a tuple of 3 str");
        return NULL;
    }
    for (int i = 0; i < 3; i++) {
        PyObject *s = PyTuple_GET_ITEM(found, i);
        if (!PyUnicode_Check(s)) {
            Py_DECREF(found);
            PyErr_SetString(PyExc_TypeError, "a line's parts must be str");
            return NULL;
        }
        if (!PyUnicode_IS_ASCII(s)) { /* an odd op or state, written as it is */
            Py_DECREF(found);
            return &not_ascii;
        }
    }
    /* What the Python code just ran may have filled this entry: it is replaced whole. */
    Parts fresh = {
        Py_NewRef(info), Py_NewRef(op), Py_NewRef(rec[BEFORE]), Py_NewRef(rec[AFTER]),
        Py_NewRef(rec[THREAD]), Py_NewRef(rec[TASK]), depth, lasti, loop,
        Py_NewRef(PyTuple_GET_ITEM(found, 0)), Py_NewRef(PyTuple_GET_ITEM(found, 1)),
        Py_NewRef(PyTuple_GET_ITEM(found, 2)),
    };
    Py_DECREF(found);
    Parts old = *p;
    *p = fresh;
    parts_clear(&old);
    return p;
}

/* A line from its parts: `arg` and `value` NULL for null, values else (`plain`: only a number, a
 * bool or None); `loop` appended at its end. As render_line returns. */
static int
write_line(JsonLines *self, Text *t, Parts *p, long long seq, PyObject *arg, const char *outcome,
           PyObject *value, int plain, long long time, long long took, long long ended, int loop)
{
    /* A repr may run the garbage collector, and a finalizer record a line meanwhile, which may
     * replace this entry of the cache: the parts are held. (Plain values run no Python code.) */
    PyObject *lead = Py_NewRef(p->lead), *tail = Py_NewRef(p->tail), *where = Py_NewRef(p->where);
    Py_ssize_t mark = t->len;
    int done = -1;
    if (TEXT_LIT(t, "{\"seq\":") < 0 || text_int(t, seq) < 0 || TEXT_LIT(t, ",") < 0
        || PART(t, lead) < 0) {
        goto finally;
    }
    done = arg == NULL ? (TEXT_LIT(t, "null") < 0 ? -1 : 1) : write_value(self, t, arg, plain);
    if (done != 1) {
        goto finally;
    }
    if (TEXT_LIT(t, ",\"outcome\":\"") < 0 || text_add(t, outcome, (Py_ssize_t)strlen(outcome)) < 0
        || TEXT_LIT(t, "\",\"value\":") < 0) {
        done = -1;
        goto finally;
    }
    done = value == NULL ? (TEXT_LIT(t, "null") < 0 ? -1 : 1) : write_value(self, t, value, plain);
    if (done != 1) {
        goto finally;
    }
    if (PART(t, tail) < 0 || text_int(t, time) < 0 || TEXT_LIT(t, "e-9,\"duration\":") < 0
        || text_int(t, took) < 0 || TEXT_LIT(t, "e-9,") < 0 || PART(t, where) < 0
        || TEXT_LIT(t, ",\"ended_after\":") < 0 || text_int(t, ended) < 0
        || (loop && TEXT_LIT(t, ",\"loop\":true") < 0) || TEXT_LIT(t, "}") < 0) {
        done = -1;
    }
finally:
    if (done != 1) {
        t->len = mark;
    }
    Py_DECREF(lead);
    Py_DECREF(tail);
    Py_DECREF(where);
    return done;
}

static int
is_plain(PyObject *obj)
{
    return obj == Py_None || PyBool_Check(obj) || PyFloat_CheckExact(obj) || small_int(obj);
}

/* The record's line into `t` (no newline): 1 if written, 0 if the Python renderer must render it
 * (nothing written), -1 on error. No code of the program's runs while `t` grows: a step's line is
 * written in place, any other built apart first. */
static int
render_line(JsonLines *self, Text *t, PyObject *record)
{
    if (!PyTuple_CheckExact(record) || PyTuple_GET_SIZE(record) != RECORD_FIELDS) {
        return 0;
    }
    PyObject *const *rec = &PyTuple_GET_ITEM(record, 0);
    long long seq, depth, start, took, lasti, ended;
    if (!exact_long(rec[SEQ], &seq) || !exact_long(rec[DEPTH], &depth) || !exact_long(rec[START], &start)
        || !exact_long(rec[DURATION], &took) || !exact_long(rec[LASTI], &lasti)
        || !exact_long(rec[ENDED_AFTER], &ended)) {
        return 0;
    }
    if (start <= -SMALL_INT || start >= SMALL_INT) {
        return 0; /* the difference might not fit (the origin is within these bounds) */
    }
    int op = name_of(rec[OP], op_strs, op_names, OP_NAMED);
    int outcome = name_of(rec[OUTCOME], outcome_strs, outcome_names, OUT_NAMED);
    if (outcome == OUT_OTHER || op == OP_ITER || op == OP_AITER) {
        return 0;
    }
    PyObject *arg = rec[ARG];
    int loop = arg == self->loop;
    Parts *p;

    /* JsonRenderer's fast path: a step that yields a number or None. */
    if (outcome == OUT_YIELD && (op == OP_NEXT || op == OP_ANEXT || op == OP_SEND || op == OP_ASEND)
        && (op == OP_NEXT || op == OP_ANEXT || is_plain(arg)) && is_plain(rec[VALUE])) {
        p = get_parts(self, rec, depth, lasti, loop, 1);
        if (p == NULL || p == &not_ascii) {
            return p == NULL ? -1 : 0;
        }
        return write_line(self, t, p, seq, op == OP_NEXT || op == OP_ANEXT ? NULL : arg, "yield",
                          rec[VALUE], 1, start - self->origin, took, ended, 0);
    }

    /* JsonRenderer._line, for the values and args rendered here. */
    if (outcome == OUT_RAISE) {
        return 0; /* it has the exception's type and message */
    }
    PyObject *value = outcome == OUT_YIELD || outcome == OUT_RETURN ? rec[VALUE] : NULL;
    PyObject *shown_arg = NULL;
    switch (op) {
    case OP_CLOSE:
    case OP_COLLECT:
        break;
    case OP_SEND:
    case OP_THROW:
    case OP_ASEND:
    case OP_ATHROW:
        shown_arg = arg;
        break;
    case OP_CREATE:
        if (arg != Py_None) {
            return 0; /* the call's arguments */
        }
        break;
    default:
        if (Py_IS_TYPE(arg, (PyTypeObject *)self->default_)) {
            return 0; /* next(it, default): the default's repr */
        }
    }
    p = get_parts(self, rec, depth, lasti, 0, 0);
    if (p == NULL || p == &not_ascii) {
        return p == NULL ? -1 : 0;
    }
    /* A repr may run the garbage collector, and a finalizer record a line meanwhile (into the same
     * batch): this line is built apart, and joins `t` whole. */
    Text line;
    text_init(&line);
    int done = write_line(self, &line, p, seq, shown_arg, outcome_names[outcome], value, 0,
                          start - self->origin, took, ended, loop);
    if (done == 1 && text_add(t, line.data, line.len) < 0) {
        done = -1;
    }
    text_free(&line);
    return done;
}

/* The line of any record as a str: rendered here, or by the Python renderer. */
static PyObject *
JsonLines_render(JsonLines *self, PyObject *record)
{
    Text t;
    text_init(&t);
    int done = render_line(self, &t, record);
    PyObject *line = NULL;
    if (done == 1) {
        line = PyUnicode_New(t.len, 127);
        if (line != NULL) {
            memcpy(PyUnicode_DATA(line), t.data, t.len);
        }
    }
    else if (done == 0) {
        line = PyObject_CallOneArg(self->render, record);
    }
    text_free(&t);
    return line;
}

/* A str's UTF-8; a lone surrogate (a path's undecodable byte, say) as a log file writes it, with
 * "backslashreplace" (sinks.open_log). */
static int
text_utf8(Text *t, PyObject *s)
{
    if (PyUnicode_IS_ASCII(s)) {
        return text_add(t, (const char *)PyUnicode_DATA(s), PyUnicode_GET_LENGTH(s));
    }
    Py_ssize_t n;
    const char *data = PyUnicode_AsUTF8AndSize(s, &n);
    if (data != NULL) {
        return text_add(t, data, n);
    }
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        return -1;
    }
    PyErr_Clear();
    PyObject *bytes = PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");
    if (bytes == NULL) {
        return -1;
    }
    int failed = text_add(t, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
    Py_DECREF(bytes);
    return failed;
}

/* -- a file's batch (JsonLines' and TextLines'): lines waiting, and when the first came ----- */

static int
batch_due(const Text *batch, long long since)
{
    return batch->len >= BATCH_BYTES || (batch->len > 0 && now_ns() - since >= INTERVAL_NS);
}

/* Before adding to the batch: an empty one starts its clock. */
static void
batch_opening(const Text *batch, long long *since)
{
    if (batch->len == 0) {
        *since = now_ns();
    }
}

static PyObject *
batch_append(Text *batch, long long *since, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "append() takes a str");
        return NULL;
    }
    batch_opening(batch, since);
    if (text_utf8(batch, text) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static void
batch_emptied(Text *batch)
{
    batch->len = 0;
    if (batch->cap > 4 * BATCH_BYTES) {
        text_free(batch); /* one huge line: its room is not kept */
    }
}

static PyObject *
batch_take(Text *batch)
{
    PyObject *text = PyUnicode_DecodeUTF8(batch->data, batch->len, NULL);
    if (text != NULL) {
        batch_emptied(batch);
    }
    return text;
}

static PyObject *
batch_take_bytes(Text *batch)
{
    PyObject *data = PyBytes_FromStringAndSize(batch->data, batch->len);
    if (data != NULL) {
        batch_emptied(batch);
    }
    return data;
}

static PyObject *
JsonLines_end(JsonLines *self, PyObject *record)
{
    /* The batch is written before the line is added, so a record whose end() failed (no stack
     * room left, say: the recorder gives it again later) is in it never or once. */
    if (self->drain != Py_None && batch_due(&self->batch, self->since)) {
        PyObject *drained = PyObject_CallNoArgs(self->drain);
        if (drained == NULL) {
            return NULL;
        }
        Py_DECREF(drained);
    }
    batch_opening(&self->batch, &self->since);
    int done = render_line(self, &self->batch, record);
    if (done == 0) {
        PyObject *line = PyObject_CallOneArg(self->render, record);
        if (line == NULL) {
            return NULL;
        }
        if (!PyUnicode_Check(line)) {
            Py_DECREF(line);
            PyErr_SetString(PyExc_TypeError, "a rendered line must be a str");
            return NULL;
        }
        Py_ssize_t n;
        const char *data = PyUnicode_AsUTF8AndSize(line, &n);
        done = data == NULL ? -1 : text_add(&self->batch, data, n) < 0 ? -1 : 1;
        Py_DECREF(line);
    }
    if (done < 0 || TEXT_LIT(&self->batch, "\n") < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
JsonLines_append(JsonLines *self, PyObject *text)
{
    return batch_append(&self->batch, &self->since, text);
}

static PyObject *
JsonLines_take(JsonLines *self, PyObject *unused)
{
    (void)unused;
    return batch_take(&self->batch);
}

static PyObject *
JsonLines_take_bytes(JsonLines *self, PyObject *unused)
{
    (void)unused;
    return batch_take_bytes(&self->batch);
}

static PyObject *
JsonLines_due(JsonLines *self, PyObject *unused)
{
    (void)unused;
    return PyBool_FromLong(batch_due(&self->batch, self->since));
}

static int
JsonLines_init(JsonLines *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"renderer", "loop", "default", "drain", NULL};
    PyObject *renderer, *loop, *default_, *drain = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO!|O:JsonLines", kwlist, &renderer, &loop,
                                     &PyType_Type, &default_, &drain)) {
        return -1;
    }
    PyObject *steps = PyObject_GetAttrString(renderer, "_steps");
    PyObject *render = PyObject_GetAttrString(renderer, "_render");
    PyObject *step_parts = PyObject_GetAttrString(renderer, "_step_parts");
    PyObject *parts = PyObject_GetAttrString(renderer, "_parts");
    PyObject *origin = PyObject_GetAttrString(renderer, "origin");
    PyObject *limit = PyObject_GetAttrString(renderer, "limit");
    int ok = steps != NULL && render != NULL && step_parts != NULL && parts != NULL && origin != NULL
             && limit != NULL;
    if (ok && !PyDict_CheckExact(steps)) {
        PyErr_SetString(PyExc_TypeError, "the renderer's _steps must be a dict");
        ok = 0;
    }
    long long origin_ns = 0;
    Py_ssize_t limit_n = PY_SSIZE_T_MAX;
    if (ok) {
        origin_ns = PyLong_AsLongLong(origin);
        ok = !(origin_ns == -1 && PyErr_Occurred());
    }
    if (ok && (origin_ns <= -SMALL_INT || origin_ns >= SMALL_INT)) {
        PyErr_SetString(PyExc_ValueError, "the renderer's origin is out of range");
        ok = 0;
    }
    if (ok && limit != Py_None) {
        limit_n = PyLong_AsSsize_t(limit);
        ok = !(limit_n == -1 && PyErr_Occurred());
    }
    Py_XDECREF(origin);
    Py_XDECREF(limit);
    if (!ok) {
        Py_XDECREF(steps);
        Py_XDECREF(render);
        Py_XDECREF(step_parts);
        Py_XDECREF(parts);
        return -1;
    }
    Py_XSETREF(self->renderer, Py_NewRef(renderer));
    Py_XSETREF(self->steps, steps);
    Py_XSETREF(self->render, render);
    Py_XSETREF(self->step_parts, step_parts);
    Py_XSETREF(self->parts, parts);
    Py_XSETREF(self->loop, Py_NewRef(loop));
    Py_XSETREF(self->default_, Py_NewRef(default_));
    Py_XSETREF(self->drain, Py_NewRef(drain));
    self->origin = origin_ns;
    self->limit = limit_n;
    return 0;
}

static PyObject *
JsonLines_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    JsonLines *self = (JsonLines *)type->tp_alloc(type, 0);
    if (self != NULL) {
        text_init(&self->batch);
    }
    return (PyObject *)self;
}

static int
JsonLines_traverse(JsonLines *self, visitproc visit, void *arg)
{
    Py_VISIT(self->renderer);
    Py_VISIT(self->steps);
    Py_VISIT(self->render);
    Py_VISIT(self->step_parts);
    Py_VISIT(self->parts);
    Py_VISIT(self->loop);
    Py_VISIT(self->default_);
    Py_VISIT(self->drain);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < CACHE_SIZE; i++) {
            Parts *p = &self->cache[k][i];
            Py_VISIT(p->info);
            Py_VISIT(p->op);
            Py_VISIT(p->before);
            Py_VISIT(p->after);
            Py_VISIT(p->thread);
            Py_VISIT(p->task);
        }
    }
    return 0;
}

static int
JsonLines_clear(JsonLines *self)
{
    Py_CLEAR(self->renderer);
    Py_CLEAR(self->steps);
    Py_CLEAR(self->render);
    Py_CLEAR(self->step_parts);
    Py_CLEAR(self->parts);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->default_);
    Py_CLEAR(self->drain);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < CACHE_SIZE; i++) {
            parts_clear(&self->cache[k][i]);
        }
    }
    return 0;
}

static void
JsonLines_dealloc(JsonLines *self)
{
    PyObject_GC_UnTrack(self);
    JsonLines_clear(self);
    text_free(&self->batch);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef JsonLines_methods[] = {
    {"render", (PyCFunction)JsonLines_render, METH_O, "The JSON line of a record (no newline)."},
    {"end", (PyCFunction)JsonLines_end, METH_O,
     "Add the record's line to the batch; drain() first if the batch is due."},
    {"append", (PyCFunction)JsonLines_append, METH_O, "Add text (whole lines) to the batch."},
    {"take", (PyCFunction)JsonLines_take, METH_NOARGS, "The batch's text; the batch is emptied."},
    {"take_bytes", (PyCFunction)JsonLines_take_bytes, METH_NOARGS,
     "The batch's text in UTF-8; the batch is emptied."},
    {"due", (PyCFunction)JsonLines_due, METH_NOARGS,
     "Whether the batch is full, or its first line older than the interval."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject JsonLinesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gentrace._speedups.JsonLines",
    .tp_doc = "JsonLines(renderer, loop, default, drain=None): JsonRenderer's lines of the common "
              "records, and a file sink's batch of lines.",
    .tp_basicsize = sizeof(JsonLines),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = JsonLines_new,
    .tp_init = (initproc)JsonLines_init,
    .tp_dealloc = (destructor)JsonLines_dealloc,
    .tp_traverse = (traverseproc)JsonLines_traverse,
    .tp_clear = (inquiry)JsonLines_clear,
    .tp_methods = JsonLines_methods,
};

/* -- the text log ------------------------------------------------------------------------------ */
/*
 * A `TextLines` writes a file's text log as `textlog.LogWriter` does, for the common steps: a
 * next, send or close's ``>>>`` line, and a yield's result line right after it, from the parts the
 * writer's `TextSteps` remembers (found there once for each combination, and remembered here), the
 * value shown as `renderers._shown` shows it when that is its whole repr and ASCII. Every other line
 * is the sink's Python code's (`start_text`, `end_text`), which holds the sink's lock; while one
 * runs, every line is (another thread's waits for it, as it would for the lock). It batches its
 * lines as a `JsonLines` does.
 */

typedef struct {
    PyObject *info, *op;
    long long depth;
    PyObject *head, *tail; /* a send's line before and after the value; a fixed line is `head` */
    Py_ssize_t limit;
} StartParts;

typedef struct {
    PyObject *info, *before, *after, *thread, *task;
    long long lasti, depth;
    PyObject *lead, *reset, *comment;
    Py_ssize_t width, limit;
} EndParts;

typedef struct {
    PyObject_HEAD
    PyObject *prepare;    /* the sink's configured LogWriter, the first time it is needed */
    PyObject *start_text; /* the sink's start line(s) of a record, in Python, under its lock */
    PyObject *end_text;   /* the sink's end line(s) of a record, likewise */
    PyObject *drain;
    PyObject *loop;
    PyObject *writer;     /* NULL until prepared */
    PyObject *sends, *send_parts, *fixed, *ends, *end_parts; /* the writer's TextSteps' */
    int busy;             /* Python code of the sink's is running */
    PyObject *open_seq;   /* the writer's, kept here while no Python code of the sink's runs */
    StartParts starts[CACHE_SIZE];
    EndParts endings[CACHE_SIZE];
    Text batch;
    long long since;
} TextLines;

static PyObject *open_seq_str;

static void
start_parts_clear(StartParts *p)
{
    Py_CLEAR(p->info);
    Py_CLEAR(p->op);
    Py_CLEAR(p->head);
    Py_CLEAR(p->tail);
}

static void
end_parts_clear(EndParts *p)
{
    Py_CLEAR(p->info);
    Py_CLEAR(p->before);
    Py_CLEAR(p->after);
    Py_CLEAR(p->thread);
    Py_CLEAR(p->task);
    Py_CLEAR(p->lead);
    Py_CLEAR(p->reset);
    Py_CLEAR(p->comment);
}

/* A limit from a part: None is no limit. */
static int
limit_of(PyObject *obj, Py_ssize_t *out)
{
    if (obj == Py_None) {
        *out = PY_SSIZE_T_MAX;
        return 0;
    }
    *out = PyLong_AsSsize_t(obj);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* `renderers._shown(value, limit, False)` when it is the value's whole repr: 1 if written (`*ascii`
 * says whether it is ASCII), 0 if not shown here, -1 on error. */
static int
write_shown(Text *t, PyObject *obj, Py_ssize_t limit, int *ascii)
{
    *ascii = 1;
    Py_ssize_t mark = t->len;
    int done = write_number(t, obj);
    if (done == 1 && t->len - mark > limit) {
        t->len = mark; /* a number cut: the Python path's */
        return 0;
    }
    if (done != 0) {
        return done;
    }
    PyObject *repr = whole_repr(obj, limit);
    if (repr == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    *ascii = PyUnicode_IS_ASCII(repr);
    done = text_utf8(t, repr) < 0 ? -1 : 1;
    Py_DECREF(repr);
    return done;
}

/* The writer's open_seq (the seq whose `>>>` line was written last, nothing after) is read once it
 * is prepared and after its Python code ran, and given back to it before that code runs. */
static int
open_from_writer(TextLines *self)
{
    PyObject *open_seq = PyObject_GetAttr(self->writer, open_seq_str);
    if (open_seq == NULL) {
        return -1;
    }
    Py_XSETREF(self->open_seq, open_seq);
    return 0;
}

static int
open_to_writer(TextLines *self)
{
    return PyObject_SetAttr(self->writer, open_seq_str, self->open_seq);
}

static int
TextLines_ready(TextLines *self)
{
    if (self->writer != NULL) {
        return 0;
    }
    PyObject *writer = PyObject_CallNoArgs(self->prepare);
    if (writer == NULL) {
        return -1;
    }
    PyObject *steps = PyObject_GetAttrString(writer, "_steps");
    if (steps == NULL) {
        Py_DECREF(writer);
        return -1;
    }
    PyObject *sends = PyObject_GetAttrString(steps, "_sends");
    PyObject *send_parts = PyObject_GetAttrString(steps, "_send_parts");
    PyObject *fixed = PyObject_GetAttrString(steps, "_fixed");
    PyObject *ends = PyObject_GetAttrString(steps, "_ends");
    PyObject *end_parts = PyObject_GetAttrString(steps, "_end_parts");
    Py_DECREF(steps);
    if (sends == NULL || send_parts == NULL || fixed == NULL || ends == NULL || end_parts == NULL
        || !PyDict_CheckExact(sends) || !PyDict_CheckExact(fixed) || !PyDict_CheckExact(ends)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "the writer's steps must remember parts in dicts");
        }
        Py_XDECREF(sends);
        Py_XDECREF(send_parts);
        Py_XDECREF(fixed);
        Py_XDECREF(ends);
        Py_XDECREF(end_parts);
        Py_DECREF(writer);
        return -1;
    }
    self->writer = writer;
    self->sends = sends;
    self->send_parts = send_parts;
    self->fixed = fixed;
    self->ends = ends;
    self->end_parts = end_parts;
    if (open_from_writer(self) < 0) {
        Py_CLEAR(self->writer); /* prepared again next time */
        return -1;
    }
    return 0;
}

/* The Python path's text of a record, added to the batch whole. The writer's open_seq is its own
 * while Python code of the sink's runs. */
static int
text_fallback(TextLines *self, PyObject *func, PyObject *record)
{
    if (self->busy == 0 && open_to_writer(self) < 0) {
        return -1;
    }
    self->busy++;
    PyObject *text = PyObject_CallOneArg(func, record);
    self->busy--;
    if (text == NULL || (self->busy == 0 && open_from_writer(self) < 0)) {
        Py_XDECREF(text);
        return -1;
    }
    int failed = !PyUnicode_Check(text) || text_utf8(&self->batch, text) < 0;
    if (failed && !PyErr_Occurred()) {
        PyErr_SetString(PyExc_TypeError, "a log's text must be a str");
    }
    Py_DECREF(text);
    return failed ? -1 : 0;
}

/* Before a record's lines: the batch written if due (by the clock only at an end), the writer
 * ready. */
static int
text_begin(TextLines *self, int start)
{
    if (start ? self->batch.len >= BATCH_BYTES : batch_due(&self->batch, self->since)) {
        PyObject *drained = PyObject_CallNoArgs(self->drain);
        if (drained == NULL) {
            return -1;
        }
        Py_DECREF(drained);
    }
    batch_opening(&self->batch, &self->since);
    return TextLines_ready(self);
}

/* A start's parts: a send's (`_sends`, else `_send_parts`), or a fixed line (`_fixed`, else NULL
 * with no error: the Python path writes it, and remembers it). A borrowed entry, or NULL. */
static StartParts *
get_start_parts(TextLines *self, PyObject *record, PyObject *const *rec, long long depth, int send)
{
    PyObject *info = rec[INST], *op = rec[OP];
    StartParts *p = &self->starts[cache_slot(info, op, 0, depth)];
    if (p->info == info && p->op == op && p->depth == depth && (p->tail != NULL) == send) {
        return p;
    }
    if (!PyTuple_Check(info) || PyTuple_GET_SIZE(info) < 1) {
        return NULL;
    }
    PyObject *key = PyTuple_Pack(3, PyTuple_GET_ITEM(info, 0), op, rec[DEPTH]);
    if (key == NULL) {
        return NULL;
    }
    PyObject *found = PyDict_GetItemWithError(send ? self->sends : self->fixed, key);
    Py_XINCREF(found);
    if (found == NULL && !PyErr_Occurred() && send) {
        found = PyObject_CallFunctionObjArgs(self->send_parts, record, key, NULL);
    }
    Py_DECREF(key);
    if (found == NULL) {
        return NULL;
    }
    StartParts fresh = {Py_NewRef(info), Py_NewRef(op), depth, NULL, NULL, PY_SSIZE_T_MAX};
    if (send) {
        if (!PyTuple_Check(found) || PyTuple_GET_SIZE(found) != 3
            || limit_of(PyTuple_GET_ITEM(found, 2), &fresh.limit) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "a send's parts must be (head, tail, limit)");
            }
            Py_DECREF(found);
            start_parts_clear(&fresh);
            return NULL;
        }
        fresh.head = Py_NewRef(PyTuple_GET_ITEM(found, 0));
        fresh.tail = Py_NewRef(PyTuple_GET_ITEM(found, 1));
    }
    else {
        fresh.head = Py_NewRef(found);
    }
    Py_DECREF(found);
    StartParts old = *p;
    *p = fresh;
    start_parts_clear(&old);
    return p;
}

static EndParts *
get_end_parts(TextLines *self, PyObject *record, PyObject *const *rec, long long lasti, long long depth)
{
    PyObject *info = rec[INST];
    EndParts *p = &self->endings[cache_slot(info, rec[AFTER], lasti, depth)];
    if (p->info == info && p->before == rec[BEFORE] && p->after == rec[AFTER] && p->thread == rec[THREAD]
        && p->task == rec[TASK] && p->lasti == lasti && p->depth == depth) {
        return p;
    }
    if (!PyTuple_Check(info) || PyTuple_GET_SIZE(info) < 1) {
        PyErr_SetString(PyExc_TypeError, "a record's info must be a tuple");
        return NULL;
    }
    PyObject *key = PyTuple_Pack(7, PyTuple_GET_ITEM(info, 0), rec[BEFORE], rec[AFTER], rec[LASTI],
                                 rec[THREAD], rec[TASK], rec[DEPTH]);
    if (key == NULL) {
        return NULL;
    }
    PyObject *found = PyDict_GetItemWithError(self->ends, key);
    Py_XINCREF(found);
    if (found == NULL && !PyErr_Occurred()) {
        found = PyObject_CallFunctionObjArgs(self->end_parts, record, key, NULL);
    }
    Py_DECREF(key);
    if (found == NULL) {
        return NULL;
    }
    EndParts fresh = {Py_NewRef(info), Py_NewRef(rec[BEFORE]), Py_NewRef(rec[AFTER]), Py_NewRef(rec[THREAD]),
                      Py_NewRef(rec[TASK]), lasti, depth, NULL, NULL, NULL, 0, PY_SSIZE_T_MAX};
    if (!PyTuple_Check(found) || PyTuple_GET_SIZE(found) != 5 || !PyUnicode_Check(PyTuple_GET_ITEM(found, 0))
        || !PyUnicode_Check(PyTuple_GET_ITEM(found, 1)) || !PyUnicode_Check(PyTuple_GET_ITEM(found, 3))
        || (fresh.width = PyLong_AsSsize_t(PyTuple_GET_ITEM(found, 2))) == -1
        || limit_of(PyTuple_GET_ITEM(found, 4), &fresh.limit) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "a result's parts must be (lead, reset, width, comment, limit)");
        }
        Py_DECREF(found);
        end_parts_clear(&fresh);
        return NULL;
    }
    fresh.lead = Py_NewRef(PyTuple_GET_ITEM(found, 0));
    fresh.reset = Py_NewRef(PyTuple_GET_ITEM(found, 1));
    fresh.comment = Py_NewRef(PyTuple_GET_ITEM(found, 3));
    Py_DECREF(found);
    EndParts old = *p;
    *p = fresh;
    end_parts_clear(&old);
    return p;
}

/* A step's ``>>>`` line into `t`: 1 if written, 0 if the Python path must write it, -1 on error. */
static int
start_line(TextLines *self, Text *t, PyObject *record)
{
    if (!PyTuple_CheckExact(record) || PyTuple_GET_SIZE(record) != RECORD_FIELDS) {
        return 0;
    }
    PyObject *const *rec = &PyTuple_GET_ITEM(record, 0);
    long long depth;
    if (!exact_long(rec[DEPTH], &depth)) {
        return 0;
    }
    int op = name_of(rec[OP], op_strs, op_names, OP_NAMED);
    int send = op == OP_SEND || op == OP_ASEND;
    if (!send && !((op == OP_NEXT || op == OP_ANEXT || op == OP_CLOSE || op == OP_ACLOSE)
                   && (rec[ARG] == Py_None || rec[ARG] == self->loop))) {
        return 0;
    }
    StartParts *p = get_start_parts(self, record, rec, depth, send);
    if (p == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *head = Py_NewRef(p->head), *tail = Py_XNewRef(p->tail);
    int done = text_utf8(t, head) < 0 ? -1 : 1;
    if (done == 1 && send) {
        int ascii;
        done = write_shown(t, rec[ARG], p->limit, &ascii);
        if (done == 1 && text_utf8(t, tail) < 0) {
            done = -1;
        }
    }
    Py_DECREF(head);
    Py_XDECREF(tail);
    return done;
}

/* A yield's result line, right after its start, into `t`: as start_line returns. */
static int
end_line(TextLines *self, Text *t, PyObject *record)
{
    if (!PyTuple_CheckExact(record) || PyTuple_GET_SIZE(record) != RECORD_FIELDS) {
        return 0;
    }
    PyObject *const *rec = &PyTuple_GET_ITEM(record, 0);
    long long depth, lasti, seq, open;
    if (!exact_long(rec[DEPTH], &depth) || !exact_long(rec[LASTI], &lasti) || !exact_long(rec[SEQ], &seq)) {
        return 0;
    }
    int op = name_of(rec[OP], op_strs, op_names, OP_NAMED);
    if (op == OP_CREATE || op == OP_COLLECT || op == OP_ITER || op == OP_AITER || op == OP_LEAVE
        || name_of(rec[OUTCOME], outcome_strs, outcome_names, OUT_NAMED) != OUT_YIELD
        || !exact_long(self->open_seq, &open) || open != seq) {
        return 0;
    }
    EndParts *p = get_end_parts(self, record, rec, lasti, depth);
    if (p == NULL) {
        return -1;
    }
    PyObject *lead = Py_NewRef(p->lead), *reset = Py_NewRef(p->reset), *comment = Py_NewRef(p->comment);
    Py_ssize_t width = p->width, mark = t->len;
    int ascii, done = text_utf8(t, lead) < 0 ? -1 : 1;
    if (done == 1) {
        Py_ssize_t at = t->len;
        done = write_shown(t, rec[VALUE], p->limit, &ascii);
        Py_ssize_t shown = t->len - at;
        if (done == 1 && (!ascii || shown == 0)) {
            done = 0; /* padded by the columns it takes, or styled apart: the Python path's */
        }
        if (done == 1) {
            Py_ssize_t pad = width - shown - PyUnicode_GET_LENGTH(reset);
            pad = pad > 0 ? pad : 0;
            if (text_utf8(t, reset) < 0 || text_reserve(t, pad) < 0) {
                done = -1;
            }
            else {
                memset(t->data + t->len, ' ', pad);
                t->len += pad;
                done = text_utf8(t, comment) < 0 ? -1 : 1;
            }
        }
    }
    if (done != 1) {
        t->len = mark;
    }
    Py_DECREF(lead);
    Py_DECREF(reset);
    Py_DECREF(comment);
    return done;
}

static PyObject *
TextLines_step(TextLines *self, PyObject *record, int start)
{
    if (text_begin(self, start) < 0) {
        return NULL;
    }
    int done = 0;
    if (!self->busy) {
        /* A repr may run the garbage collector, and a finalizer log a line meanwhile: this line is
         * built apart, and joins the batch whole. */
        Text line;
        text_init(&line);
        done = start ? start_line(self, &line, record) : end_line(self, &line, record);
        if (done == 1) {
            if (text_add(&self->batch, line.data, line.len) < 0) {
                done = -1;
            }
            else {
                Py_XSETREF(self->open_seq, Py_NewRef(start ? PyTuple_GET_ITEM(record, SEQ) : Py_None));
            }
        }
        text_free(&line);
    }
    if (done == 0) {
        done = text_fallback(self, start ? self->start_text : self->end_text, record) < 0 ? -1 : 1;
    }
    if (done < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
TextLines_start(TextLines *self, PyObject *record)
{
    return TextLines_step(self, record, 1);
}

static PyObject *
TextLines_end(TextLines *self, PyObject *record)
{
    return TextLines_step(self, record, 0);
}

static PyObject *
TextLines_append(TextLines *self, PyObject *text)
{
    return batch_append(&self->batch, &self->since, text);
}

static PyObject *
TextLines_take(TextLines *self, PyObject *unused)
{
    (void)unused;
    return batch_take(&self->batch);
}

static PyObject *
TextLines_take_bytes(TextLines *self, PyObject *unused)
{
    (void)unused;
    return batch_take_bytes(&self->batch);
}

static int
TextLines_init(TextLines *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"prepare", "start_text", "end_text", "drain", "loop", NULL};
    PyObject *prepare, *start_text, *end_text, *drain, *loop;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOO:TextLines", kwlist, &prepare, &start_text, &end_text,
                                     &drain, &loop)) {
        return -1;
    }
    Py_XSETREF(self->prepare, Py_NewRef(prepare));
    Py_XSETREF(self->start_text, Py_NewRef(start_text));
    Py_XSETREF(self->end_text, Py_NewRef(end_text));
    Py_XSETREF(self->drain, Py_NewRef(drain));
    Py_XSETREF(self->loop, Py_NewRef(loop));
    return 0;
}

static PyObject *
TextLines_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    TextLines *self = (TextLines *)type->tp_alloc(type, 0);
    if (self != NULL) {
        text_init(&self->batch);
    }
    return (PyObject *)self;
}

static int
TextLines_traverse(TextLines *self, visitproc visit, void *arg)
{
    Py_VISIT(self->prepare);
    Py_VISIT(self->start_text);
    Py_VISIT(self->end_text);
    Py_VISIT(self->drain);
    Py_VISIT(self->loop);
    Py_VISIT(self->writer);
    Py_VISIT(self->open_seq);
    Py_VISIT(self->sends);
    Py_VISIT(self->send_parts);
    Py_VISIT(self->fixed);
    Py_VISIT(self->ends);
    Py_VISIT(self->end_parts);
    for (int i = 0; i < CACHE_SIZE; i++) {
        Py_VISIT(self->starts[i].info);
        Py_VISIT(self->starts[i].op);
        Py_VISIT(self->endings[i].info);
        Py_VISIT(self->endings[i].before);
        Py_VISIT(self->endings[i].after);
        Py_VISIT(self->endings[i].thread);
        Py_VISIT(self->endings[i].task);
    }
    return 0;
}

static int
TextLines_clear(TextLines *self)
{
    Py_CLEAR(self->prepare);
    Py_CLEAR(self->start_text);
    Py_CLEAR(self->end_text);
    Py_CLEAR(self->drain);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->writer);
    Py_CLEAR(self->open_seq);
    Py_CLEAR(self->sends);
    Py_CLEAR(self->send_parts);
    Py_CLEAR(self->fixed);
    Py_CLEAR(self->ends);
    Py_CLEAR(self->end_parts);
    for (int i = 0; i < CACHE_SIZE; i++) {
        start_parts_clear(&self->starts[i]);
        end_parts_clear(&self->endings[i]);
    }
    return 0;
}

static void
TextLines_dealloc(TextLines *self)
{
    PyObject_GC_UnTrack(self);
    TextLines_clear(self);
    text_free(&self->batch);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef TextLines_methods[] = {
    {"start", (PyCFunction)TextLines_start, METH_O, "An operation starts: its line(s) to the batch."},
    {"end", (PyCFunction)TextLines_end, METH_O, "An operation ended: its line(s) to the batch."},
    {"append", (PyCFunction)TextLines_append, METH_O, "Add text (whole lines) to the batch."},
    {"take", (PyCFunction)TextLines_take, METH_NOARGS, "The batch's text; the batch is emptied."},
    {"take_bytes", (PyCFunction)TextLines_take_bytes, METH_NOARGS,
     "The batch's text in UTF-8; the batch is emptied."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TextLinesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gentrace._speedups.TextLines",
    .tp_doc = "TextLines(prepare, start_text, end_text, drain, loop): a text log file's sink, batched.",
    .tp_basicsize = sizeof(TextLines),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = TextLines_new,
    .tp_init = (initproc)TextLines_init,
    .tp_dealloc = (destructor)TextLines_dealloc,
    .tp_traverse = (traverseproc)TextLines_traverse,
    .tp_clear = (inquiry)TextLines_clear,
    .tp_methods = TextLines_methods,
};


int
gentrace_render_init(PyObject *module)
{
    for (int i = 0; i < OP_NAMED; i++) {
        if (op_strs[i] == NULL && (op_strs[i] = PyUnicode_InternFromString(op_names[i])) == NULL) {
            return -1;
        }
    }
    for (int i = 0; i < OUT_NAMED; i++) {
        if (outcome_strs[i] == NULL
            && (outcome_strs[i] = PyUnicode_InternFromString(outcome_names[i])) == NULL) {
            return -1;
        }
    }
    if (open_seq_str == NULL && (open_seq_str = PyUnicode_InternFromString("open_seq")) == NULL) {
        return -1;
    }
    if (PyType_Ready(&JsonLinesType) < 0 || PyType_Ready(&TextLinesType) < 0) {
        return -1;
    }
    Py_INCREF(&JsonLinesType);
    if (PyModule_AddObject(module, "JsonLines", (PyObject *)&JsonLinesType) < 0) {
        Py_DECREF(&JsonLinesType);
        return -1;
    }
    Py_INCREF(&TextLinesType);
    if (PyModule_AddObject(module, "TextLines", (PyObject *)&TextLinesType) < 0) {
        Py_DECREF(&TextLinesType);
        return -1;
    }
    return 0;
}

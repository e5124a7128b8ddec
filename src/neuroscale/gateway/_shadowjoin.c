/* The shadow worker's per-copy work, in C: reading the gateway's records, joining KServe V1 copies into
 * predict calls, and comparing each copy's part of a call's answer with its primary answer.
 *
 * Hand-written because it measurably wins (issue 15, bench/RESULTS.md): the worker did this in Python at
 * 8-11 µs of CPU per copy, which on two saturated cores cost the primary ~20 % of its throughput against a
 * target of 10 %; with this module a copy costs the worker well under a microsecond. The module decides
 * only what it can decide exactly as Python does; everything else goes back to the Python path:
 *
 * - `runs` walks the records `shadow_frames` writes (same layout: `<BHHIIId` then endpoint, revision,
 *   head, body, primary) and groups consecutive copies of one endpoint, revision and request head;
 * - `plan_v1` joins copies whose body is exactly `{"instances": [...]}` in a strict subset of JSON (ASCII
 *   only, no escapes in the key, no object rows, nesting up to MAX_DEPTH) into calls of at most `max_rows`
 *   rows and `max_bytes` bytes of joined rows (one copy alone may have more) with one row signature (the first row's length or scalar type, as `coalesce` keys them); a call's
 *   records may hold copies it does not join (holes, returned for Python), never joinable ones. A joined
 *   body is the members' validated rows, spliced: each body was checked to be one complete document, so
 *   no bytes of one copy can move another's rows. Any other body is returned for `coalesce`;
 * - `members_v1` lists a call's members again (its records less the holes), for a call asked copy by copy;
 * - `compare_v1` compares each member's primary `predictions` with its rows of the answer with
 *   `agreement.same`'s rules (ints and strings exactly, floats with `math.isclose`'s formula, booleans and
 *   null as themselves, lists by length then element), and returns the members it cannot decide (objects,
 *   escaped strings, integers past 18 digits, anything unparsed) for Python to compare.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the record header's number is read as a little-endian double"
#endif

#define HEADER_BYTES 25
#define COPY 0
#define MAX_DEPTH 64
#define MAX_NUMBER 64

enum { DISAGREE = 0, AGREE = 1, UNDECIDED = -1 };
enum { SIG_INT = -1, SIG_FLOAT = -2, SIG_STR = -3, SIG_BOOL = -4, SIG_NULL = -5 };

typedef struct {
    int kind;
    Py_ssize_t endpoint, revision, head, body, primary, total;
    double number;
} Header;

/* The record at `at`, or 0 when `data` ends before it does. */
static int header_at(const unsigned char *data, Py_ssize_t at, Py_ssize_t end, Header *h) {
    if (end - at < HEADER_BYTES)
        return 0;
    const unsigned char *p = data + at;
    h->kind = p[0];
    h->endpoint = (Py_ssize_t)p[1] | (Py_ssize_t)p[2] << 8;
    h->revision = (Py_ssize_t)p[3] | (Py_ssize_t)p[4] << 8;
    uint32_t head, body, primary;
    memcpy(&head, p + 5, 4);
    memcpy(&body, p + 9, 4);
    memcpy(&primary, p + 13, 4);
    memcpy(&h->number, p + 17, 8);
    h->head = head;
    h->body = body;
    h->primary = primary;
    h->total = HEADER_BYTES + h->endpoint + h->revision + h->head + h->body + h->primary;
    return end - at >= h->total;
}

/* --- a strict JSON scanner ------------------------------------------------------------------------ */

typedef struct {
    const unsigned char *p, *end;
    int depth;
    int utf8;  /* accept bytes >= 0x80 inside strings (an answer orjson wrote), else refuse them */
} Cursor;

static void blank(Cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int accept(Cursor *c, unsigned char ch) {
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static int hex4(const unsigned char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9') v |= ch - '0';
        else if (ch >= 'a' && ch <= 'f') v |= ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') v |= ch - 'A' + 10;
        else return 0;
    }
    *out = v;
    return 1;
}

/* A string at the cursor; `escaped` tells whether it holds a backslash (its bytes then do not decide). */
static int string(Cursor *c, int *escaped) {
    if (!accept(c, '"'))
        return 0;
    while (c->p < c->end) {
        unsigned char ch = *c->p;
        if (ch == '"') {
            c->p++;
            return 1;
        }
        if (ch < 0x20 || (ch >= 0x80 && !c->utf8))
            return 0;
        if (ch == '\\') {
            *escaped = 1;
            if (c->end - c->p < 2)
                return 0;
            ch = c->p[1];
            if (ch == 'u') {
                unsigned code;
                if (c->end - c->p < 6 || !hex4(c->p + 2, &code) || (code >= 0xD800 && code <= 0xDFFF))
                    return 0;  /* surrogates: orjson and the model server may disagree; Python decides */
                c->p += 6;
            } else if (ch == '"' || ch == '\\' || ch == '/' || ch == 'b' || ch == 'f' || ch == 'n' ||
                       ch == 'r' || ch == 't') {
                c->p += 2;
            } else {
                return 0;
            }
        } else {
            c->p++;
        }
    }
    return 0;
}

static int digits(Cursor *c) {
    const unsigned char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > start;
}

/* A number as JSON writes it; `is_float` when it has a fraction or an exponent (Python reads a float). */
static int number(Cursor *c, int *is_float) {
    accept(c, '-');
    if (accept(c, '0')) {
        if (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            return 0;
    } else if (!digits(c)) {
        return 0;
    }
    *is_float = 0;
    if (accept(c, '.')) {
        *is_float = 1;
        if (!digits(c))
            return 0;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        *is_float = 1;
        if (!accept(c, '+'))
            accept(c, '-');
        if (!digits(c))
            return 0;
    }
    return 1;
}

static int word(Cursor *c, const char *text, Py_ssize_t n) {
    if (c->end - c->p < n || memcmp(c->p, text, (size_t)n) != 0)
        return 0;
    c->p += n;
    return 1;
}

static int value(Cursor *c);

/* The elements of an array at the cursor, counted into `count` (NULL: not counted). */
static int array(Cursor *c, Py_ssize_t *count) {
    if (!accept(c, '[') || ++c->depth > MAX_DEPTH)
        return 0;
    Py_ssize_t n = 0;
    blank(c);
    if (!accept(c, ']')) {
        do {
            blank(c);
            if (!value(c))
                return 0;
            n++;
            blank(c);
        } while (accept(c, ','));
        if (!accept(c, ']'))
            return 0;
    }
    c->depth--;
    if (count != NULL)
        *count = n;
    return 1;
}

static int object(Cursor *c) {
    if (!accept(c, '{') || ++c->depth > MAX_DEPTH)
        return 0;
    blank(c);
    if (!accept(c, '}')) {
        do {
            int escaped = 0;
            blank(c);
            if (!string(c, &escaped))
                return 0;
            blank(c);
            if (!accept(c, ':'))
                return 0;
            blank(c);
            if (!value(c))
                return 0;
            blank(c);
        } while (accept(c, ','));
        if (!accept(c, '}'))
            return 0;
    }
    c->depth--;
    return 1;
}

static int value(Cursor *c) {
    if (c->p >= c->end)
        return 0;
    int flag = 0;
    switch (*c->p) {
    case '{': return object(c);
    case '[': return array(c, NULL);
    case '"': return string(c, &flag);
    case 't': return word(c, "true", 4);
    case 'f': return word(c, "false", 5);
    case 'n': return word(c, "null", 4);
    default: return number(c, &flag);
    }
}

/* --- V1 bodies -------------------------------------------------------------------------------------- */

static const char INSTANCES[] = "\"instances\"";

/* The rows of a body that is exactly {"instances": [row, ...]} with at least one row and no object rows:
 * their bytes [*first, *last), their count and the first row's signature (as coalesce keys a call). */
static int v1_body(const unsigned char *body, Py_ssize_t n, const unsigned char **first,
                   const unsigned char **last, Py_ssize_t *rows, Py_ssize_t *signature) {
    Cursor c = {body, body + n, 0, 0};
    blank(&c);
    if (!accept(&c, '{'))
        return 0;
    blank(&c);
    if (!word(&c, INSTANCES, (Py_ssize_t)sizeof INSTANCES - 1))
        return 0;
    blank(&c);
    if (!accept(&c, ':'))
        return 0;
    blank(&c);
    if (!accept(&c, '['))
        return 0;
    c.depth = 2;
    blank(&c);
    *first = c.p;
    Py_ssize_t count = 0;
    do {
        blank(&c);
        if (count > 0 || c.p >= c.end) {
            if (!value(&c))
                return 0;
        } else if (*c.p == '[') {
            if (!array(&c, signature))
                return 0;
        } else if (*c.p == '{') {
            return 0;  /* object rows: coalesce keys them by their fields */
        } else {
            int is_float = 0;
            const unsigned char *token = c.p;
            *signature = *c.p == '"' ? SIG_STR : *c.p == 't' || *c.p == 'f' ? SIG_BOOL : *c.p == 'n' ? SIG_NULL : 0;
            if (*signature ? !value(&c) : !number(&c, &is_float))
                return 0;
            if (!*signature && !is_float && c.p - token - (*token == '-') > 18)
                return 0;  /* orjson reads an integer past 64 bits as a float: Python keys this row */
            if (!*signature)
                *signature = is_float ? SIG_FLOAT : SIG_INT;
        }
        count++;
        *last = c.p;
        blank(&c);
    } while (accept(&c, ','));
    if (!accept(&c, ']'))
        return 0;
    blank(&c);
    if (!accept(&c, '}'))
        return 0;
    blank(&c);
    *rows = count;
    return c.p == c.end;
}

/* The copy record at `at` (header read into *h), when it is one plan_v1 joins: its rows and signature. */
static int joinable(const unsigned char *data, Py_ssize_t at, Py_ssize_t stop, Py_ssize_t max_member, Header *h,
                    const unsigned char **first, const unsigned char **last, Py_ssize_t *rows, Py_ssize_t *signature) {
    if (!header_at(data, at, stop, h) || h->kind != COPY || h->body > max_member)
        return 0;
    return v1_body(data + at + HEADER_BYTES + h->endpoint + h->revision + h->head, h->body, first, last, rows,
                   signature);
}

typedef struct {
    char *bytes;
    Py_ssize_t size, capacity;
} Buffer;

static int append(Buffer *b, const void *bytes, Py_ssize_t n) {
    if (b->size + n > b->capacity) {
        Py_ssize_t capacity = b->capacity ? b->capacity : 4096;
        while (capacity < b->size + n)
            capacity *= 2;
        char *grown = PyMem_Realloc(b->bytes, (size_t)capacity);
        if (grown == NULL)
            return 0;
        b->bytes = grown;
        b->capacity = capacity;
    }
    memcpy(b->bytes + b->size, bytes, (size_t)n);
    b->size += n;
    return 1;
}

static int add_call(PyObject *calls, Buffer *joined, Py_ssize_t first, Py_ssize_t stop, Py_ssize_t rows,
                    Py_ssize_t members) {
    PyObject *call = Py_BuildValue("(y#nnnn)", joined->bytes, joined->size, first, stop, rows, members);
    if (call == NULL)
        return 0;
    int failed = PyList_Append(calls, call);
    Py_DECREF(call);
    joined->size = 0;
    return failed == 0;
}

static PyObject *plan_v1(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, stop, max_rows, max_member, max_bytes;
    if (!PyArg_ParseTuple(args, "y*nnnnn", &view, &start, &stop, &max_rows, &max_member, &max_bytes))
        return NULL;
    const unsigned char *data = view.buf;
    if (start < 0 || stop > view.len || start > stop) {
        PyBuffer_Release(&view);
        return PyErr_Format(PyExc_ValueError, "records [%zd, %zd) are outside the data", start, stop);
    }
    PyObject *calls = PyList_New(0), *others = PyList_New(0);
    Buffer joined = {NULL, 0, 0};
    Py_ssize_t first = 0, end = 0, rows = 0, members = 0, signature = 0;
    Header h;
    int ok = calls != NULL && others != NULL;
    for (Py_ssize_t at = start; ok && at < stop && header_at(data, at, stop, &h); at += h.total) {
        const unsigned char *a, *b;
        Py_ssize_t n = 0, sig = 0;
        if (!joinable(data, at, stop, max_member, &h, &a, &b, &n, &sig)) {  /* a hole in the call: left to Python */
            PyObject *offset = PyLong_FromSsize_t(at);
            ok = ok && offset != NULL && PyList_Append(others, offset) == 0;
            Py_XDECREF(offset);
            continue;
        }
        if (members && (sig != signature || rows + n > max_rows || joined.size + 1 + (b - a) > max_bytes)) {
            ok = add_call(calls, &joined, first, end, rows, members);
            members = 0;
        }
        if (!members) {
            first = at;
            rows = 0;
            signature = sig;
        } else {
            ok = ok && append(&joined, ",", 1);
        }
        ok = ok && append(&joined, a, b - a);
        rows += n;
        members++;
        end = at + h.total;
    }
    if (ok && members)
        ok = add_call(calls, &joined, first, end, rows, members);
    PyMem_Free(joined.bytes);
    PyBuffer_Release(&view);
    if (!ok) {
        Py_XDECREF(calls);
        Py_XDECREF(others);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    return Py_BuildValue("(NN)", calls, others);
}

/* --- comparing answers ------------------------------------------------------------------------------- */

static int kind_of(const unsigned char *p) {
    switch (*p) {
    case '{': case '[': case '"': case 't': case 'f': case 'n': return *p;
    default: return '0';
    }
}

/* A number token as a double (its text, at most MAX_NUMBER bytes, read by strtod as Python reads it). */
static int as_double(const unsigned char *p, const unsigned char *end, double *out) {
    char text[MAX_NUMBER + 1];
    Py_ssize_t n = end - p;
    if (n > MAX_NUMBER)
        return 0;
    memcpy(text, p, (size_t)n);
    text[n] = '\0';
    *out = strtod(text, NULL);
    return isfinite(*out);
}

static int as_integer(const unsigned char *p, const unsigned char *end, long long *out) {
    int negative = p < end && *p == '-';
    p += negative;
    if (end - p > 18)
        return 0;  /* Python compares any size; this decides up to 18 digits */
    long long v = 0;
    for (; p < end; p++)
        v = v * 10 + (*p - '0');
    *out = negative ? -v : v;
    return 1;
}

typedef struct {
    double relative, absolute;
} Tolerance;

static int close_enough(double a, double b, const Tolerance *t) {  /* math.isclose, term for term */
    if (a == b)
        return 1;
    double diff = fabs(b - a);
    return diff <= fabs(t->relative * b) || diff <= fabs(t->relative * a) || diff <= t->absolute;
}

static int same_value(Cursor a, Cursor b, const Tolerance *t);

/* Lists: of other lengths never the same; else the same when every element is. */
/* `n` elements pairwise from the cursors (each at an element): the same when every pair is. */
static int same_elements(Cursor a, Cursor b, Py_ssize_t n, const Tolerance *t) {
    int verdict = AGREE;
    for (Py_ssize_t i = 0; i < n; i++) {
        blank(&a);
        blank(&b);
        Cursor next_a = a, next_b = b;
        if (!value(&next_a) || !value(&next_b))
            return UNDECIDED;
        int one = same_value(a, b, t);
        if (one == DISAGREE)
            return DISAGREE;
        if (one == UNDECIDED)
            verdict = UNDECIDED;
        a = next_a;
        b = next_b;
        blank(&a);
        blank(&b);
        accept(&a, ',');
        accept(&b, ',');
    }
    return verdict;
}

static int same_arrays(Cursor a, Cursor b, const Tolerance *t) {
    Cursor whole_a = a, whole_b = b;
    Py_ssize_t na, nb;
    if (!array(&whole_a, &na) || !array(&whole_b, &nb))
        return UNDECIDED;
    if (na != nb)
        return DISAGREE;
    a.p++;
    b.p++;
    return same_elements(a, b, na, t);
}

/* agreement.same on the two valid JSON values that start at the cursors. */
static int same_value(Cursor a, Cursor b, const Tolerance *t) {
    if (a.p >= a.end || b.p >= b.end)
        return UNDECIDED;
    int ka = kind_of(a.p), kb = kind_of(b.p);
    const unsigned char *sa = a.p, *sb = b.p;
    if (ka == '[' && kb == '[')
        return same_arrays(a, b, t);
    if (ka == '{' || kb == '{')
        return ka == kb ? UNDECIDED : DISAGREE;
    if (ka != kb)
        return DISAGREE;  /* different types are never the same in Python (a bool is only itself) */
    if (ka == '"') {
        int ea = 0, eb = 0;
        if (!string(&a, &ea) || !string(&b, &eb) || ea || eb)
            return UNDECIDED;
        return a.p - sa == b.p - sb && memcmp(sa, sb, (size_t)(a.p - sa)) == 0 ? AGREE : DISAGREE;
    }
    if (ka != '0')
        return AGREE;  /* true, false, null: the same word (its first letter told) */
    int fa = 0, fb = 0;
    if (!number(&a, &fa) || !number(&b, &fb))
        return UNDECIDED;
    if (fa || fb) {
        double x, y;
        if (!as_double(sa, a.p, &x) || !as_double(sb, b.p, &y))
            return UNDECIDED;
        return close_enough(x, y, t) ? AGREE : DISAGREE;
    }
    long long x, y;
    if (!as_integer(sa, a.p, &x) || !as_integer(sb, b.p, &y))
        return UNDECIDED;
    return x == y ? AGREE : DISAGREE;
}

static const char PREDICTIONS[] = "\"predictions\"";

/* The start of the `predictions` array of a primary answer that is a JSON object in the strict subset
 * with that key once (and no escaped key), and its element count; 0 when Python must read it. A
 * `predictions` that is not an array is found with *count = -1. */
static int primary_predictions(const unsigned char *p, Py_ssize_t n, Cursor *found, Py_ssize_t *count) {
    Cursor c = {p, p + n, 0, 0};
    int seen = 0;
    blank(&c);
    if (!accept(&c, '{'))
        return 0;
    c.depth = 1;
    blank(&c);
    if (!accept(&c, '}')) {
        do {
            int escaped = 0;
            blank(&c);
            const unsigned char *key = c.p;
            if (!string(&c, &escaped) || escaped)
                return 0;
            int is_predictions = c.p - key == (Py_ssize_t)sizeof PREDICTIONS - 1 &&
                                 memcmp(key, PREDICTIONS, sizeof PREDICTIONS - 1) == 0;
            blank(&c);
            if (!accept(&c, ':'))
                return 0;
            blank(&c);
            if (is_predictions) {
                if (seen++)
                    return 0;
                *found = c;
                *count = -1;
                if (c.p < c.end && *c.p == '[') {
                    if (!array(&c, count))
                        return 0;
                } else if (!value(&c)) {
                    return 0;
                }
            } else if (!value(&c)) {
                return 0;
            }
            blank(&c);
        } while (accept(&c, ','));
        if (!accept(&c, '}'))
            return 0;
    }
    blank(&c);
    return seen && c.p == c.end;
}

/* A member's verdict: its primary's predictions against its `rows` rows of the answer from `row`. */
static int member_verdict(const unsigned char *primary, Py_ssize_t n, const unsigned char **answer_rows,
                          const unsigned char *answer_end, Py_ssize_t row, Py_ssize_t rows, const Tolerance *t) {
    Cursor mine;
    Py_ssize_t count;
    if (!primary_predictions(primary, n, &mine, &count))
        return UNDECIDED;
    if (count != rows)
        return count < 0 ? UNDECIDED : DISAGREE;  /* same() on lists of other lengths */
    Cursor theirs = {answer_rows[row], answer_end, 0, 1};
    mine.p++;
    return same_elements(mine, theirs, rows, t);
}

/* Where each element of a JSON array (an answer's predictions as orjson wrote them) starts. */
static const unsigned char **element_starts(const unsigned char *p, Py_ssize_t n, Py_ssize_t expected) {
    Cursor c = {p, p + n, 0, 1};
    const unsigned char **starts = PyMem_Malloc(sizeof(*starts) * (size_t)(expected ? expected : 1));
    if (starts == NULL)
        return NULL;
    Py_ssize_t count = 0;
    blank(&c);
    if (!accept(&c, '['))
        goto refused;
    c.depth = 1;
    blank(&c);
    if (!accept(&c, ']')) {
        do {
            blank(&c);
            if (count == expected)
                goto refused;
            starts[count++] = c.p;
            if (!value(&c))
                goto refused;
            blank(&c);
        } while (accept(&c, ','));
        if (!accept(&c, ']'))
            goto refused;
    }
    if (count == expected)
        return starts;
refused:
    PyMem_Free(starts);
    return NULL;
}

static PyObject *compare_v1(PyObject *self, PyObject *args) {
    Py_buffer view, answer;
    Py_ssize_t first, stop, max_member, total;
    Tolerance t;
    if (!PyArg_ParseTuple(args, "y*nnny*ndd", &view, &first, &stop, &max_member, &answer, &total, &t.relative,
                          &t.absolute))
        return NULL;
    PyObject *result = NULL, *undecided = NULL;
    const unsigned char **rows_at = NULL;
    if (first < 0 || stop > view.len || first > stop || total < 0) {
        PyErr_Format(PyExc_ValueError, "records [%zd, %zd) are outside the data", first, stop);
        goto done;
    }
    rows_at = element_starts(answer.buf, answer.len, total);
    if (rows_at == NULL) {
        result = Py_NewRef(Py_None);  /* not one element per joined row */
        goto done;
    }
    undecided = PyList_New(0);
    if (undecided == NULL)
        goto done;
    const unsigned char *data = view.buf, *answer_end = (const unsigned char *)answer.buf + answer.len;
    Py_ssize_t agree = 0, disagree = 0, row = 0;
    Header h;
    for (Py_ssize_t at = first; at < stop && header_at(data, at, stop, &h); at += h.total) {
        const unsigned char *a, *b;
        Py_ssize_t rows = 0, signature = 0;
        if (!joinable(data, at, stop, max_member, &h, &a, &b, &rows, &signature))
            continue;  /* a hole: plan_v1 left it to Python */
        if (row + rows > total) {
            PyErr_SetString(PyExc_ValueError, "a call's records changed since they were planned");
            goto done;
        }
        const unsigned char *primary = data + at + HEADER_BYTES + h.endpoint + h.revision + h.head + h.body;
        int verdict = member_verdict(primary, h.primary, rows_at, answer_end, row, rows, &t);
        if (verdict == AGREE) {
            agree++;
        } else if (verdict == DISAGREE) {
            disagree++;
        } else {
            PyObject *item = Py_BuildValue("(nnn)", at, row, rows);
            if (item == NULL || PyList_Append(undecided, item) != 0) {
                Py_XDECREF(item);
                goto done;
            }
            Py_DECREF(item);
        }
        row += rows;
    }
    result = Py_BuildValue("(nnO)", agree, disagree, undecided);
done:
    Py_XDECREF(undecided);
    PyMem_Free(rows_at);
    PyBuffer_Release(&view);
    PyBuffer_Release(&answer);
    return result;
}

static PyObject *members_v1(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t first, stop, max_member;
    if (!PyArg_ParseTuple(args, "y*nnn", &view, &first, &stop, &max_member))
        return NULL;
    PyObject *found = first >= 0 && stop <= view.len ? PyList_New(0) : NULL;
    Header h;
    for (Py_ssize_t at = first; found != NULL && at < stop && header_at(view.buf, at, stop, &h); at += h.total) {
        const unsigned char *a, *b;
        Py_ssize_t rows, signature;
        if (!joinable(view.buf, at, stop, max_member, &h, &a, &b, &rows, &signature))
            continue;
        PyObject *offset = PyLong_FromSsize_t(at);
        if (offset == NULL || PyList_Append(found, offset) != 0)
            Py_CLEAR(found);
        Py_XDECREF(offset);
    }
    PyBuffer_Release(&view);
    if (found == NULL && !PyErr_Occurred())
        PyErr_Format(PyExc_ValueError, "records [%zd, %zd) are outside the data", first, stop);
    return found;
}

/* --- records ------------------------------------------------------------------------------------------- */

static int add_run(PyObject *runs, const unsigned char *data, Py_ssize_t at, const Header *h, Py_ssize_t stop,
                   long long count) {
    const char *endpoint = (const char *)data + at + HEADER_BYTES;
    PyObject *run = Py_BuildValue("(iNNy#nnL)", h->kind,
                                  PyUnicode_DecodeUTF8(endpoint, h->endpoint, "replace"),
                                  PyUnicode_DecodeUTF8(endpoint + h->endpoint, h->revision, "replace"),
                                  endpoint + h->endpoint + h->revision, h->kind == COPY ? h->head : 0,
                                  at, stop, count);
    if (run == NULL)
        return 0;
    int failed = PyList_Append(runs, run);
    Py_DECREF(run);
    return failed == 0;
}

static PyObject *runs(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view))
        return NULL;
    const unsigned char *data = view.buf;
    PyObject *found = PyList_New(0);
    Py_ssize_t at = 0, run_at = -1, keyed = 0;
    long long count = 0;
    Header h, run;
    int ok = found != NULL;
    for (; ok && header_at(data, at, view.len, &h); at += h.total) {
        keyed = h.endpoint + h.revision + h.head;
        if (h.kind == COPY && run_at >= 0 && h.endpoint == run.endpoint && h.revision == run.revision &&
            h.head == run.head && memcmp(data + at + HEADER_BYTES, data + run_at + HEADER_BYTES, (size_t)keyed) == 0) {
            count++;
            continue;
        }
        if (run_at >= 0)
            ok = add_run(found, data, run_at, &run, at, count);
        if (h.kind == COPY) {
            run_at = at;
            run = h;
            count = 1;
        } else {
            run_at = -1;
            double skipped = h.number >= 0 && h.number < 1e15 ? h.number : 0;  /* the gateway's count */
            ok = ok && add_run(found, data, at, &h, at + h.total, (long long)skipped);
        }
    }
    if (ok && run_at >= 0)
        ok = add_run(found, data, run_at, &run, at, count);
    PyBuffer_Release(&view);
    if (!ok) {
        Py_XDECREF(found);
        return NULL;
    }
    return Py_BuildValue("(Nn)", found, at);
}

static PyMethodDef methods[] = {
    {"runs", runs, METH_VARARGS,
     "runs(data) -> (runs, used): the complete records at the front of data, consecutive copies of one endpoint, "
     "revision and head as one run (kind, endpoint, revision, head, start, stop, copies); a tally as a run of its "
     "own (kind, endpoint, revision, b'', start, stop, skipped); used: the bytes they take."},
    {"plan_v1", plan_v1, METH_VARARGS,
     "plan_v1(data, start, stop, max_rows, max_member, max_bytes) -> (calls, others): the copies in "
     "data[start:stop] joined into calls (rows joined, first, stop, rows, members) and the offsets of the copies left to Python."},
    {"compare_v1", compare_v1, METH_VARARGS,
     "compare_v1(data, first, stop, max_member, predictions, rows, relative, absolute) -> (agree, disagree, "
     "undecided) or None when predictions has not one element per row; undecided: (offset, first row, rows) per "
     "copy for Python."},
    {"members_v1", members_v1, METH_VARARGS,
     "members_v1(data, first, stop, max_member) -> offsets of the copies a call of plan_v1 joined."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_shadowjoin", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__shadowjoin(void) { return PyModule_Create(&module); }

/*
 * varsel.matching._prefilter: find the lines of a Zeek TSV run that may match, in one pass.
 *
 * This is a conservative filter, not a matcher. A line is a *candidate* when one of its
 * matched columns holds a value that might be a key of the compiled matcher; every other line
 * certainly matches nothing. The candidates (a small share of a log) then go through the
 * Python matcher, which decides. The filter may therefore answer "maybe" wrongly (a Bloom
 * filter false positive costs a re-check) but must never answer "no" for a value that matches:
 *
 *   - every key of the exact tables (IPv4, domains, subdomain rules, e-mail, hashes) is in a
 *     (blocked) Bloom filter, hashed over 8-byte windows aligned on the string's end, so that
 *     one walk over a log value yields the hash of the value and of every suffix after a dot
 *     (tested against a second filter of the subdomain rules) at once;
 *   - a dotted-quad value is tested against the IPv4 block segments by binary search;
 *   - when the matcher holds IPv6 keys, any value containing ':' is a candidate;
 *   - any value with a byte >= 0x80, any line with a carriage return and any line whose field
 *     count differs from the header's is a candidate (the Python reader decides, reports or
 *     skips such lines exactly as it does without the filter).
 *
 * Interface (all buffers are read-only, nothing is kept after a call returns):
 *   Bloom(bits_log2)                       a filter of 2**bits_log2 bits
 *   Bloom.add(data, offsets)               keys data[offsets[i]:offsets[i+1]] (offsets: int64)
 *   Bloom.maybe(value: bytes) -> bool      for tests
 *   scan(data, lo, hi, sep, set_sep, width, columns, bloom, sub, sub_digits, segments, colon)
 *       -> (lines, quiet, candidates)
 *     data[lo:hi] is a run of whole data lines; columns a tuple of (field index, is_set);
 *     bloom holds every exact key, sub (or None) the subdomain rules' keys, sub_digits tells
 *     whether one of those is only digits and dots; segments is None or
 *     (bounds int64 sorted, nonempty uint8, index16 int32[65537], busy16 uint8[65536]): the
 *     IPv4 segments and, per /16, the segment of its first address and whether any non-empty
 *     segment meets it; colon true when ':' makes a value a candidate. Returns the number of lines in the run, the number of
 *     regular lines that are not candidates, and bytes of int64 triples (line index in the
 *     run, start offset, end offset without the newline) of the candidates.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_COLUMNS 64

static const int PROBES = 4;

typedef struct {
    PyObject_HEAD
    uint64_t *bits;
    uint64_t mask; /* number of bits - 1 */
    Py_ssize_t keys;
} Bloom;

static inline uint64_t mix(uint64_t h)
{
    /* The finaliser of MurmurHash3: spreads the FNV state over all 64 bits. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static const uint64_t SEED = 0xcbf29ce484222325ULL;
static const uint64_t K = 0x9e3779b97f4a7c15ULL;
static const uint64_t LOW7 = 0x7f7f7f7f7f7f7f7fULL;
static const uint64_t HIGH = 0x8080808080808080ULL;
static const uint64_t ONES = 0x0101010101010101ULL;

/* ASCII 'A'-'Z' to lower case in each byte of w, without branches (bytes >= 0x80 unchanged). */
static inline uint64_t lower8(uint64_t w)
{
    uint64_t heptets = w & LOW7;
    uint64_t above_z = heptets + 0x2525252525252525ULL; /* high bit set when byte > 'Z' */
    uint64_t from_a = heptets + 0x3f3f3f3f3f3f3f3fULL;  /* high bit set when byte >= 'A' */
    uint64_t upper = ~w & (from_a ^ above_z) & HIGH;
    return w | (upper >> 2);
}

/* The high bit of each byte of w that equals c, and of no other byte. */
static inline uint64_t bytes_equal(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (ONES * c);
    return ~(((x & LOW7) + LOW7) | x | LOW7);
}

static inline uint64_t fold_word(uint64_t h, uint64_t w)
{
    h = (h ^ w) * K;
    return h ^ (h >> 32);
}

/* Window k of s[0:n]: the 8 bytes ending 8*k bytes before the end, lowercased, with the bytes
 * before s[0] (in the first, partial window) as zeros. Windows are aligned on the *end* of the
 * string, so a suffix of a value has the same windows as the value, but for its first. */
static inline uint64_t window(const unsigned char *s, Py_ssize_t right)
{
    uint64_t w = 0;
    if (right >= 8)
        memcpy(&w, s + right - 8, 8);
    else
        memcpy((unsigned char *)&w + (8 - right), s, (size_t)right);
    return lower8(w);
}

/* The hash of s[0:n]: its end-aligned windows folded from the last. The hash of a suffix
 * starting inside window k is the fold of windows 0..k-1 with window k cut to the suffix's
 * bytes, so a log value's walk meets the hash of every parent domain on the way. Collisions
 * only cost a false candidate. */
static uint64_t hash_value(const unsigned char *s, Py_ssize_t n)
{
    uint64_t h = SEED;
    for (Py_ssize_t right = n; right > 0; right -= 8)
        h = fold_word(h, window(s, right));
    return h;
}

/* A blocked Bloom filter: the PROBES bits of a key lie in one 64-bit word, so a test costs one
 * memory access. The word comes from the low bits of the mixed hash, the bit numbers from the
 * high ones. */
static inline uint64_t bloom_word(const Bloom *b, uint64_t h)
{
    return h & (b->mask >> 6);
}

static inline uint64_t bloom_bits(uint64_t h)
{
    uint64_t bits = 0;
    for (int i = 0; i < PROBES; i++)
        bits |= 1ULL << ((h >> (40 + 6 * i)) & 63);
    return bits;
}

static inline void bloom_set(Bloom *b, uint64_t state)
{
    uint64_t h = mix(state);
    b->bits[bloom_word(b, h)] |= bloom_bits(h);
}

static inline int bloom_test(const Bloom *b, uint64_t state)
{
    uint64_t h = mix(state);
    uint64_t bits = bloom_bits(h);
    return (b->bits[bloom_word(b, h)] & bits) == bits;
}

static int Bloom_init(Bloom *self, PyObject *args, PyObject *kwds)
{
    int bits_log2;
    static char *kwlist[] = {"bits_log2", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "i", kwlist, &bits_log2))
        return -1;
    if (bits_log2 < 6 || bits_log2 > 34) {
        PyErr_SetString(PyExc_ValueError, "bits_log2 must be between 6 and 34");
        return -1;
    }
    PyMem_Free(self->bits);
    uint64_t nbits = 1ULL << bits_log2;
    self->bits = PyMem_Calloc((size_t)(nbits / 64), sizeof(uint64_t));
    if (self->bits == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->mask = nbits - 1;
    self->keys = 0;
    return 0;
}

static void Bloom_dealloc(Bloom *self)
{
    PyMem_Free(self->bits);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Bloom_add(Bloom *self, PyObject *args)
{
    Py_buffer data, offsets;
    if (!PyArg_ParseTuple(args, "y*y*", &data, &offsets))
        return NULL;
    PyObject *result = NULL;
    if (offsets.len % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "offsets must be int64");
        goto done;
    }
    const int64_t *off = (const int64_t *)offsets.buf;
    Py_ssize_t n = offsets.len / 8 - 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (off[i] < 0 || off[i + 1] < off[i] || off[i + 1] > data.len) {
            PyErr_SetString(PyExc_ValueError, "offsets out of range");
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++)
        bloom_set(self, hash_value((const unsigned char *)data.buf + off[i], off[i + 1] - off[i]));
    self->keys += n > 0 ? n : 0;
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    return result;
}

static PyObject *Bloom_maybe(Bloom *self, PyObject *args)
{
    Py_buffer value;
    if (!PyArg_ParseTuple(args, "y*", &value))
        return NULL;
    int hit = bloom_test(self, hash_value((const unsigned char *)value.buf, value.len));
    PyBuffer_Release(&value);
    return PyBool_FromLong(hit);
}

static PyObject *Bloom_get_keys(Bloom *self, void *closure)
{
    return PyLong_FromSsize_t(self->keys);
}

static PyMethodDef Bloom_methods[] = {
    {"add", (PyCFunction)Bloom_add, METH_VARARGS,
     "Add the keys data[offsets[i]:offsets[i+1]] (offsets as int64)."},
    {"maybe", (PyCFunction)Bloom_maybe, METH_VARARGS,
     "Return False when the value is certainly not a key."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Bloom_getset[] = {
    {"keys", (getter)Bloom_get_keys, NULL, "Number of keys added.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BloomType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "varsel.matching._prefilter.Bloom",
    .tp_basicsize = sizeof(Bloom),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A blocked Bloom filter of keys, hashed as log values are.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Bloom_init,
    .tp_dealloc = (destructor)Bloom_dealloc,
    .tp_methods = Bloom_methods,
    .tp_getset = Bloom_getset,
};

typedef struct {
    const Bloom *bloom; /* every exact key */
    const Bloom *sub;   /* the subdomain rules' keys, or NULL when there are none */
    int sub_digits;     /* is some subdomain rule's key only digits and dots? */
    const int64_t *bounds;
    const uint8_t *nonempty;
    const int32_t *index16; /* per /16: the segment holding its first address */
    const uint8_t *busy16;  /* per /16: does a non-empty segment meet it? */
    Py_ssize_t segments;
    int colon;
} Filter;

/* Is the dotted quad s[0:n] inside a non-empty IPv4 segment? (Leading zeros are accepted here,
 * which only widens the candidates.) */
static int in_segments(const Filter *f, const unsigned char *s, Py_ssize_t n)
{
    uint64_t number = 0, octet = 0;
    int dots = 0, digits = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= '0' && c <= '9') {
            octet = octet * 10 + (uint64_t)(c - '0');
            if (octet > 255)
                return 0;
            digits++;
        } else if (c == '.' && digits && dots < 3) {
            number = (number << 8) | octet;
            octet = 0;
            digits = 0;
            dots++;
        } else {
            return 0;
        }
    }
    if (dots != 3 || !digits)
        return 0;
    int64_t value = (int64_t)((number << 8) | octet);
    uint32_t top = (uint32_t)(value >> 16);
    if (!f->busy16[top])
        return 0;
    /* The last segment whose start is <= value lies between those of the /16's ends. */
    Py_ssize_t lo = f->index16[top] < 0 ? 0 : f->index16[top];
    Py_ssize_t hi = (Py_ssize_t)f->index16[top + 1] + 1;
    if (hi > f->segments)
        hi = f->segments;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (f->bounds[mid] <= value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && f->nonempty[lo - 1];
}

/* May the value s[0:n] match? One walk over its windows tests the value and each parent. */
static inline int maybe_value(const Filter *f, const unsigned char *s, Py_ssize_t n)
{
    if (n == 0)
        return 0;
    Py_ssize_t end = n;
    while (end > 0 && s[end - 1] == '.')
        end--;
    if (end != n && bloom_test(f->bloom, hash_value(s, n)))
        return 1; /* e-mail and hash keys are looked up without trimming dots */
    /* A dotted quad has no parent domain worth testing unless a subdomain rule is all digits. */
    int quad = end <= 15;
    for (Py_ssize_t i = 0; quad && i < end; i++)
        quad = s[i] == '.' || (unsigned)(s[i] - '0') <= 9;
    const Bloom *sub = quad && !f->sub_digits ? NULL : f->sub;
    uint64_t h = SEED;
    for (Py_ssize_t right = end; right > 0; right -= 8) {
        uint64_t w = window(s, right);
        if (w & HIGH)
            return 1;
        if (f->colon && bytes_equal(w, ':'))
            return 1;
        if (sub) {
            for (uint64_t dots = bytes_equal(w, '.'); dots; dots &= dots - 1) {
                int after = (__builtin_ctzll(dots) >> 3) + 1; /* bytes of w before the suffix */
                uint64_t suffix = after == 8 ? h : fold_word(h, w & (~0ULL << (8 * after)));
                if (bloom_test(sub, suffix))
                    return 1;
            }
        }
        h = fold_word(h, w);
    }
    if (bloom_test(f->bloom, h))
        return 1;
    return quad && f->segments && in_segments(f, s, end);
}

static int maybe_field(const Filter *f, const unsigned char *s, Py_ssize_t n, int is_set,
                       unsigned char set_sep)
{
    if (!is_set)
        return maybe_value(f, s, n);
    Py_ssize_t start = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (i == n || s[i] == set_sep) {
            if (maybe_value(f, s + start, i - start))
                return 1;
            start = i + 1;
        }
    }
    return 0;
}

typedef struct {
    int64_t *items;
    Py_ssize_t len, cap;
} Triples;

/* Runs without the GIL: uses the raw allocator and leaves raising to the caller. */
static int push(Triples *t, int64_t a, int64_t b, int64_t c)
{
    if (t->len + 3 > t->cap) {
        Py_ssize_t cap = t->cap ? t->cap * 2 : 3 * 1024;
        int64_t *grown = PyMem_RawRealloc(t->items, (size_t)cap * sizeof(int64_t));
        if (grown == NULL)
            return -1;
        t->items = grown;
        t->cap = cap;
    }
    t->items[t->len++] = a;
    t->items[t->len++] = b;
    t->items[t->len++] = c;
    return 0;
}

typedef struct {
    int fields;    /* number of fields of the line */
    int candidate; /* the line may match (or must go to the careful reader) */
} Line;

/* The end of a field was found at ``at``: test the field if it is a matched column. */
static inline void field_end(const Filter *f, const unsigned char *buf, Py_ssize_t *start,
                             Py_ssize_t at, const int *want, const int *is_set,
                             unsigned char set_sep, Line *line)
{
    int column = line->fields < 256 ? want[line->fields] : -1;
    if (column >= 0 && !line->candidate &&
        maybe_field(f, buf + *start, at - *start, is_set[column], set_sep))
        line->candidate = 1;
    line->fields++;
    *start = at + 1;
}

/* Split the line starting at ``pos``, testing its matched columns; return where it ends (its
 * newline, or ``hi``). With SSE2, 16 bytes are compared with the separator, the newline and the
 * carriage return at once and the field ends are taken from the bit masks. */
static Py_ssize_t split_line(const Filter *f, const unsigned char *buf, Py_ssize_t pos,
                             Py_ssize_t hi, unsigned char sep, unsigned char set_sep,
                             const int *want, const int *is_set, Line *line)
{
    Py_ssize_t i = pos, start = pos;
#ifdef __SSE2__
    const __m128i vsep = _mm_set1_epi8((char)sep), vnl = _mm_set1_epi8('\n'),
                  vcr = _mm_set1_epi8('\r');
    while (i + 16 <= hi) {
        __m128i chunk = _mm_loadu_si128((const __m128i *)(buf + i));
        unsigned nl = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, vnl));
        unsigned seps = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, vsep));
        unsigned cr = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, vcr));
        unsigned below = nl ? (nl & -nl) - 1 : 0xffffu; /* the bytes before the newline */
        if (cr & below)
            line->candidate = 1;
        seps &= below;
        while (seps) {
            field_end(f, buf, &start, i + __builtin_ctz(seps), want, is_set, set_sep, line);
            seps &= seps - 1;
        }
        if (nl) {
            Py_ssize_t end = i + __builtin_ctz(nl);
            field_end(f, buf, &start, end, want, is_set, set_sep, line);
            return end;
        }
        i += 16;
    }
#endif
    for (; i < hi && buf[i] != '\n'; i++) {
        if (buf[i] == sep)
            field_end(f, buf, &start, i, want, is_set, set_sep, line);
        else if (buf[i] == '\r')
            line->candidate = 1;
    }
    field_end(f, buf, &start, i, want, is_set, set_sep, line);
    return i;
}

static PyObject *scan(PyObject *module, PyObject *args)
{
    Py_buffer data, bounds = {0}, nonempty = {0}, index16 = {0}, busy16 = {0};
    Py_ssize_t lo, hi;
    int sep, set_sep, width, sub_digits, colon;
    PyObject *columns, *sub_obj, *segments_obj;
    Bloom *bloom;
    if (!PyArg_ParseTuple(args, "y*nniiiO!O!OpOp", &data, &lo, &hi, &sep, &set_sep, &width,
                          &PyTuple_Type, &columns, &BloomType, &bloom, &sub_obj, &sub_digits,
                          &segments_obj, &colon))
        return NULL;

    PyObject *result = NULL;
    Triples found = {0};
    int index[MAX_COLUMNS], is_set[MAX_COLUMNS];
    int want[256]; /* field number -> position in index[], or -1; fields >= 256 not matched */
    Py_ssize_t ncols = PyTuple_GET_SIZE(columns);
    Filter f = {bloom, NULL, 0, NULL, NULL, NULL, NULL, 0, colon};

    if (lo < 0 || hi > data.len || lo > hi) {
        PyErr_SetString(PyExc_ValueError, "run out of range");
        goto done;
    }
    if (ncols > MAX_COLUMNS || width < 1) {
        PyErr_SetString(PyExc_ValueError, "too many columns or no width");
        goto done;
    }
    if (sub_obj != Py_None) {
        if (!PyObject_TypeCheck(sub_obj, &BloomType)) {
            PyErr_SetString(PyExc_TypeError, "sub must be a Bloom or None");
            goto done;
        }
        f.sub = (const Bloom *)sub_obj;
        f.sub_digits = sub_digits;
    }
    for (int i = 0; i < 256; i++)
        want[i] = -1;
    for (Py_ssize_t i = 0; i < ncols; i++) {
        PyObject *item = PyTuple_GET_ITEM(columns, i);
        if (!PyArg_ParseTuple(item, "ip", &index[i], &is_set[i]))
            goto done;
        if (index[i] < 0 || index[i] >= 256) {
            PyErr_SetString(PyExc_ValueError, "column index out of range");
            goto done;
        }
        want[index[i]] = (int)i;
    }
    if (segments_obj != Py_None) {
        if (!PyArg_ParseTuple(segments_obj, "y*y*y*y*", &bounds, &nonempty, &index16, &busy16))
            goto done;
        f.segments = bounds.len / 8;
        if (nonempty.len < f.segments || index16.len != 4 * 65537 || busy16.len != 65536) {
            PyErr_SetString(PyExc_ValueError, "malformed IPv4 segments");
            goto done;
        }
        f.bounds = (const int64_t *)bounds.buf;
        f.nonempty = (const uint8_t *)nonempty.buf;
        f.index16 = (const int32_t *)index16.buf;
        f.busy16 = (const uint8_t *)busy16.buf;
    }

    const unsigned char *buf = (const unsigned char *)data.buf;
    Py_ssize_t pos = lo, lines = 0, quiet = 0;
    int out_of_memory = 0;
    Py_BEGIN_ALLOW_THREADS
    while (pos < hi) {
        Line line = {0};
        Py_ssize_t end = split_line(&f, buf, pos, hi, (unsigned char)sep, (unsigned char)set_sep,
                                    want, is_set, &line);
        if (line.candidate || line.fields != width || end == pos) {
            if (push(&found, lines, pos, end) < 0) {
                out_of_memory = 1;
                break;
            }
        } else {
            quiet++;
        }
        lines++;
        pos = end + 1;
    }
    Py_END_ALLOW_THREADS
    if (out_of_memory) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *packed = PyBytes_FromStringAndSize((const char *)found.items,
                                                 found.len * (Py_ssize_t)sizeof(int64_t));
    if (packed != NULL)
        result = Py_BuildValue("nnN", lines, quiet, packed);
done:
    PyMem_RawFree(found.items);
    PyBuffer_Release(&data);
    if (bounds.obj)
        PyBuffer_Release(&bounds);
    if (nonempty.obj)
        PyBuffer_Release(&nonempty);
    if (index16.obj)
        PyBuffer_Release(&index16);
    if (busy16.obj)
        PyBuffer_Release(&busy16);
    return result;
}

static PyMethodDef module_methods[] = {
    {"scan", scan, METH_VARARGS,
     "Return (lines, quiet, candidates) of a run of Zeek TSV data lines."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef prefilter_module = {
    PyModuleDef_HEAD_INIT, "_prefilter",
    "Find the lines of a Zeek TSV run that may match a compiled matcher.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__prefilter(void)
{
    if (PyType_Ready(&BloomType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&prefilter_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "Bloom", (PyObject *)&BloomType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

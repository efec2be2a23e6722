/*
 * Python values to one line of JSON, for simlog.Writer.write(dict): what
 * json.dumps(obj, ensure_ascii=False, allow_nan=False) writes, without its
 * spaces, in one pass into a buffer the writer reuses.  Anything JSON
 * cannot hold (NaN and the infinities, bytes, sets, objects) is refused,
 * naming the field, instead of being written as something else.
 */
#include <math.h>
#include <string.h>

#include "simlog_py.h"

void
simlog_py_enc_init(struct simlog_py_enc *e)
{
	memset(e, 0, sizeof(*e));
}

void
simlog_py_enc_clear(struct simlog_py_enc *e)
{
	PyMem_RawFree(e->buf);
	e->buf = NULL;
	e->len = e->cap = 0;
}

static int
grow(struct simlog_py_enc *e, size_t n)
{
	size_t cap = e->cap ? e->cap : 4096;
	char *p;

	while (cap - e->len < n) {
		if (cap > ((size_t)1 << 40)) {
			PyErr_NoMemory();
			return -1;
		}
		cap *= 2;
	}
	if ((p = PyMem_RawRealloc(e->buf, cap)) == NULL) {
		PyErr_NoMemory();
		return -1;
	}
	e->buf = p;
	e->cap = cap;
	return 0;
}

static inline int
room(struct simlog_py_enc *e, size_t n)
{
	return e->cap - e->len >= n ? 0 : grow(e, n);
}

static inline int
put(struct simlog_py_enc *e, const char *s, size_t n)
{
	if (room(e, n) < 0)
		return -1;
	memcpy(e->buf + e->len, s, n);
	e->len += n;
	return 0;
}

static inline int
putc1(struct simlog_py_enc *e, char c)
{
	if (room(e, 1) < 0)
		return -1;
	e->buf[e->len++] = c;
	return 0;
}

/* --- refusals, naming the field ------------------------------------------ */

/* "details.scores[3]": the way to the value at depth e->depth. */
static PyObject *
field_name(const struct simlog_py_enc *e)
{
	PyObject *parts = PyList_New(0), *s = NULL, *sep, *out = NULL;

	if (parts == NULL)
		return NULL;
	for (int i = 0; i < e->depth; i++) {
		if (e->key[i] != NULL)
			s = PyUnicode_FromFormat(i == 0 ? "%S" : ".%S",
			    e->key[i]);
		else
			s = PyUnicode_FromFormat("[%zd]", e->idx[i]);
		if (s == NULL || PyList_Append(parts, s) < 0)
			goto out;
		Py_CLEAR(s);
	}
	if ((sep = PyUnicode_FromString("")) != NULL) {
		out = PyUnicode_Join(sep, parts);
		Py_DECREF(sep);
	}
out:
	Py_XDECREF(s);
	Py_DECREF(parts);
	return out;
}

/* Raise simlog.RefusedRecord: "field 'x.y': <why>". */
static int
refuse(const struct simlog_py_enc *e, const char *fmt, ...)
{
	PyObject *name, *why;
	va_list ap;

	va_start(ap, fmt);
	why = PyUnicode_FromFormatV(fmt, ap);
	va_end(ap);
	if (why == NULL)
		return -1;
	if (e->depth == 0)
		simlog_py_raisef(SIMLOG_EX_DATAERR, "the record: %U", why);
	else if ((name = field_name(e)) != NULL) {
		simlog_py_raisef(SIMLOG_EX_DATAERR, "field '%U': %U", name,
		    why);
		Py_DECREF(name);
	}
	Py_DECREF(why);
	return -1;
}

/* --- strings -------------------------------------------------------------- */

/* What each byte needs inside a JSON string: 0 itself, else the letter
 * of its short escape, or 'u' for \u00XX. */
static const char esc[256] = {
	'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r',
	'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
	'u', 'u', 'u', 'u', 0, 0, '"', [92] = '\\',
};

static int
put_escaped(struct simlog_py_enc *e, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run;

	/* Worst case every byte grows to six. */
	if (room(e, n + 2) < 0)
		return -1;
	e->buf[e->len++] = '"';
	while (i < n) {
		for (run = i; run < n && !esc[(unsigned char)s[run]]; run++)
			;
		if (put(e, s + i, run - i) < 0)
			return -1;
		if (run == n)
			break;
		if (room(e, 7) < 0)
			return -1;
		{
			unsigned char c = (unsigned char)s[run];
			char *p = e->buf + e->len;

			*p++ = '\\';
			if (esc[c] == 'u') {
				*p++ = 'u';
				*p++ = '0';
				*p++ = '0';
				*p++ = hex[c >> 4];
				*p++ = hex[c & 15];
			} else
				*p++ = esc[c];
			e->len = (size_t)(p - e->buf);
		}
		i = run + 1;
	}
	return putc1(e, '"');
}

static int
put_str(struct simlog_py_enc *e, PyObject *s)
{
	const char *p;
	Py_ssize_t n;

	if (PyUnicode_IS_READY(s) && PyUnicode_IS_ASCII(s)) {
		p = (const char *)PyUnicode_DATA(s);
		n = PyUnicode_GET_LENGTH(s);
	} else if ((p = PyUnicode_AsUTF8AndSize(s, &n)) == NULL) {
		if (!PyErr_ExceptionMatches(PyExc_UnicodeError))
			return -1;
		PyErr_Clear();
		return refuse(e, "a string with a lone surrogate (not UTF-8)");
	}
	return put_escaped(e, p, (size_t)n);
}

/* --- numbers -------------------------------------------------------------- */

static int
put_ll(struct simlog_py_enc *e, long long v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v :
	    (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	return put(e, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* An int of any size, as int.__repr__ writes it (a subclass's own
 * __str__ or __repr__ is not asked, as json does not ask it). */
static int
put_long(struct simlog_py_enc *e, PyObject *v)
{
	int overflow;
	long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
	PyObject *s;
	const char *p;
	Py_ssize_t n;
	int rc;

	if (!overflow) {
		if (x == -1 && PyErr_Occurred())
			return -1;
		return put_ll(e, x);
	}
	if ((s = PyLong_Type.tp_repr(v)) == NULL)
		return -1;
	rc = (p = PyUnicode_AsUTF8AndSize(s, &n)) == NULL ? -1 :
	    put(e, p, (size_t)n);
	Py_DECREF(s);
	return rc;
}

static int
put_float(struct simlog_py_enc *e, double d)
{
	char *s;
	int rc;

	if (!isfinite(d))
		return refuse(e, "%s is not a JSON number", isnan(d) ? "NaN" :
		    d > 0 ? "Infinity" : "-Infinity");
	/* float.__repr__: the shortest text that reads back the same. */
	if ((s = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0,
	    NULL)) == NULL)
		return -1;
	rc = put(e, s, strlen(s));
	PyMem_Free(s);
	return rc;
}

/* --- values --------------------------------------------------------------- */

static int put_value(struct simlog_py_enc *e, PyObject *v);

/* A member's name: a string, or an int written as one (as json does). */
static int
put_key(struct simlog_py_enc *e, PyObject *k)
{
	if (PyUnicode_Check(k))
		return put_str(e, k);
	if (PyLong_Check(k) && !PyBool_Check(k)) {
		if (putc1(e, '"') < 0 || put_long(e, k) < 0)
			return -1;
		return putc1(e, '"');
	}
	return refuse(e, "a member named by a %s (names are strings)",
	    Py_TYPE(k)->tp_name);
}

static int
enter(struct simlog_py_enc *e)
{
	if (e->depth >= SIMLOG_PY_MAXDEPTH)
		return refuse(e, "nested more than %d deep (does it hold "
		    "itself?)", SIMLOG_PY_MAXDEPTH);
	return 0;
}

static int
put_dict(struct simlog_py_enc *e, PyObject *d)
{
	PyObject *k, *v;
	Py_ssize_t pos = 0;
	int first = 1, rc = 0;

	if (enter(e) < 0 || putc1(e, '{') < 0)
		return -1;
	while (rc == 0 && PyDict_Next(d, &pos, &k, &v)) {
		/* Held: converting a value may run Python code. */
		Py_INCREF(k);
		Py_INCREF(v);
		e->key[e->depth] = k;
		e->depth++;
		if ((!first && putc1(e, ',') < 0) || put_key(e, k) < 0 ||
		    putc1(e, ':') < 0 || put_value(e, v) < 0)
			rc = -1;
		e->depth--;
		first = 0;
		Py_DECREF(k);
		Py_DECREF(v);
	}
	return rc < 0 ? -1 : putc1(e, '}');
}

static int
put_seq(struct simlog_py_enc *e, PyObject *s)
{
	Py_ssize_t i;

	if (enter(e) < 0 || putc1(e, '[') < 0)
		return -1;
	/* By index each time: a list may change while its items convert. */
	for (i = 0; i < PySequence_Fast_GET_SIZE(s); i++) {
		PyObject *v = PySequence_Fast_GET_ITEM(s, i);
		int rc;

		Py_INCREF(v);
		e->key[e->depth] = NULL;
		e->idx[e->depth] = i;
		e->depth++;
		rc = (i > 0 && putc1(e, ',') < 0) || put_value(e, v) < 0;
		e->depth--;
		Py_DECREF(v);
		if (rc)
			return -1;
	}
	return putc1(e, ']');
}

static int
put_value(struct simlog_py_enc *e, PyObject *v)
{
	if (PyUnicode_Check(v))
		return put_str(e, v);
	if (v == Py_None)
		return put(e, "null", 4);
	if (v == Py_True)
		return put(e, "true", 4);
	if (v == Py_False)
		return put(e, "false", 5);
	if (PyLong_Check(v))
		return put_long(e, v);
	if (PyFloat_Check(v))
		return put_float(e, PyFloat_AS_DOUBLE(v));
	if (PyDict_Check(v))
		return put_dict(e, v);
	if (PyList_Check(v) || PyTuple_Check(v))
		return put_seq(e, v);
	if (PyBytes_Check(v) || PyByteArray_Check(v))
		return refuse(e, "bytes are not JSON (decode them to a string)");
	if (PyIndex_Check(v)) {
		/* An integer of another kind (numpy's): its value. */
		PyObject *i = PyNumber_Index(v);
		int rc;

		if (i == NULL)
			return -1;
		rc = put_long(e, i);
		Py_DECREF(i);
		return rc;
	}
	return refuse(e, "a %s is not a JSON value", Py_TYPE(v)->tp_name);
}

int
simlog_py_encode(struct simlog_py_enc *e, PyObject *obj)
{
	e->len = 0;
	e->depth = 0;
	if (PyDict_Check(obj))
		return put_dict(e, obj);
	if (PyList_Check(obj) || PyTuple_Check(obj))
		return put_seq(e, obj);
	return put_value(e, obj);
}

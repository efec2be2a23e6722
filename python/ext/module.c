/*
 * simlog._simlog: the module, its exceptions (one per exit code of
 * simlog(7), so a caller catches a class of failure, not a message), and
 * helpers its types share.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "net/conn.h"
#include "policy.h"
#include "simlog_health.h"
#include "simlog_py.h"

PyObject *simlog_py_Error;

/* The classes under simlog.Error, by exit code; a code not listed raises
 * simlog.Error itself (70 internal, 73 cannot create, ...). */
static const struct {
	int code;
	const char *name;
	PyObject **base;		/* a builtin class it also is */
	const char *doc;
} classes[] = {
	{ SIMLOG_EX_USAGE, "UsageError", &PyExc_ValueError,
	  "An option or argument is not valid (64)." },
	{ SIMLOG_EX_DATAERR, "RefusedRecord", &PyExc_ValueError,
	  "A record (or state) was refused: bad JSON, no type, too long, a "
	  "value JSON cannot hold (65).  Other records are not affected." },
	{ SIMLOG_EX_NOINPUT, "NotFound", &PyExc_LookupError,
	  "No such state, version or file (66)." },
	{ SIMLOG_EX_UNAVAILABLE, "Unavailable", NULL,
	  "Redis could not be reached (69)." },
	{ SIMLOG_EX_OSERR, "LocalError", NULL,
	  "This process's own resources ran out (descriptors, memory, local "
	  "ports): not a failure of Redis (71)." },
	{ SIMLOG_EX_IOERR, "StorageError", NULL,
	  "Records could not be stored anywhere: the spool is full or cannot "
	  "be written (74)." },
	{ SIMLOG_EX_TEMPFAIL, "TemporaryFailure", NULL,
	  "Redis failed part-way; trying again later may work (75)." },
	{ SIMLOG_EX_NOPERM, "AuthError", NULL,
	  "Authentication, an ACL or a certificate was refused (77)." },
	{ SIMLOG_EX_CONFIG, "ConfigError", NULL,
	  "A setting of Redis or of the caller is at fault (78)." },
	{ SIMLOG_EX_CONFLICT, "Conflict", NULL,
	  "expect_version named a version that is no longer the latest "
	  "(79); nothing was stored." },
};
static PyObject *subclass[sizeof(classes) / sizeof(classes[0])];

static PyObject *
class_of(int code)
{
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (classes[i].code == code)
			return subclass[i];
	return simlog_py_Error;
}

static PyObject *
raise_msg(int code, PyObject *msg)
{
	PyObject *cls = class_of(code), *exc, *c;

	if (msg == NULL)
		return NULL;
	exc = PyObject_CallOneArg(cls, msg);
	Py_DECREF(msg);
	if (exc == NULL)
		return NULL;
	if ((c = PyLong_FromLong(code)) == NULL ||
	    PyObject_SetAttrString(exc, "code", c) < 0) {
		Py_XDECREF(c);
		Py_DECREF(exc);
		return NULL;
	}
	Py_DECREF(c);
	PyErr_SetObject(cls, exc);
	Py_DECREF(exc);
	return NULL;
}

PyObject *
simlog_py_raise(const struct simlog_err *e)
{
	int code = e->code ? e->code : SIMLOG_EX_SOFTWARE;

	return raise_msg(code, PyUnicode_DecodeUTF8(e->msg, strlen(e->msg),
	    "replace"));
}

PyObject *
simlog_py_raisef(int code, const char *fmt, ...)
{
	PyObject *msg;
	va_list ap;

	va_start(ap, fmt);
	msg = PyUnicode_FromFormatV(fmt, ap);
	va_end(ap);
	return raise_msg(code, msg);
}

/* --- JSON lines the library writes ---------------------------------------- */

int
simlog_py_text_open(struct simlog_py_text *t)
{
	memset(t, 0, sizeof(*t));
	if ((t->f = open_memstream(&t->buf, &t->len)) == NULL) {
		PyErr_NoMemory();
		return -1;
	}
	return 0;
}

PyObject *
simlog_py_text_parse(struct simlog_py_text *t)
{
	PyObject *json, *r = NULL;
	int bad = fclose(t->f) != 0;

	t->f = NULL;
	if (bad || t->buf == NULL)
		PyErr_NoMemory();
	else if ((json = PyImport_ImportModule("json")) != NULL) {
		r = PyObject_CallMethod(json, "loads", "s#", t->buf,
		    (Py_ssize_t)t->len);
		Py_DECREF(json);
	}
	free(t->buf);
	t->buf = NULL;
	return r;
}

/* --- strings the library keeps pointers to -------------------------------- */

int
simlog_py_keep(struct simlog_py_strs *strs, const char *s, const char **out)
{
	char *c;

	*out = NULL;
	if (s == NULL)
		return 0;
	if (strs->n == (int)(sizeof(strs->v) / sizeof(strs->v[0])) ||
	    (c = strdup(s)) == NULL) {
		PyErr_NoMemory();
		return -1;
	}
	strs->v[strs->n++] = c;
	*out = c;
	return 0;
}

void
simlog_py_strs_clear(struct simlog_py_strs *strs)
{
	for (int i = 0; i < strs->n; i++)
		free(strs->v[i]);
	strs->n = 0;
}

void
simlog_py_lock(pthread_mutex_t *m)
{
	if (pthread_mutex_trylock(m) == 0)
		return;
	Py_BEGIN_ALLOW_THREADS
	pthread_mutex_lock(m);
	Py_END_ALLOW_THREADS
}

/* --- connecting, as the tools do ------------------------------------------ */

static int
no_op(struct simlog_conn *conn, void *arg, struct simlog_err *err)
{
	(void)conn, (void)arg, (void)err;
	return 0;
}

int
simlog_py_connect(struct simlog_conn *conn)
{
	struct simlog_policy pol;
	struct simlog_breaker brk;
	struct simlog_err e;
	char endpoint[700];
	int rc, have_brk = 0;

	if (simlog_policy_init(&pol, &e) < 0) {
		simlog_py_raise(&e);
		return -1;
	}
	simlog_conn_endpoint(conn, 0, endpoint, sizeof(endpoint));
	/* Without a usable breaker directory: still connect, as push does. */
	if (simlog_breaker_init(&brk, endpoint, 0, 0, &e) == 0) {
		pol.brk = &brk;
		have_brk = 1;
	} else if (e.code == SIMLOG_EX_USAGE) {
		simlog_py_raise(&e);
		return -1;
	}
	Py_BEGIN_ALLOW_THREADS
	rc = simlog_policy_run(conn, &pol, 0, no_op, NULL, &e);
	Py_END_ALLOW_THREADS
	if (have_brk)
		simlog_breaker_clear(&brk);
	if (rc < 0)
		simlog_py_raise(&e);
	return rc;
}

/* --- ping ------------------------------------------------------------------- */

/* What simlog-ping reports; a Redis that does not answer raises the error
 * of its class, with the report as .report. */
PyObject *
simlog_py_ping(PyObject *self, PyObject *args, PyObject *kw)
{
	static const char *kwlist[] = {
		"url", "timeout", "password_file", "sentinel_password_file",
		"tls_ca", "tls_cert", "tls_key", "tls_server_name",
		"tls_no_verify", "count", "interval", "wait", "check", NULL,
	};
	struct simlog_conn_opts co;
	struct simlog_ping_opts o;
	struct simlog_ping *p;
	struct simlog_py_text t;
	struct simlog_jw jw;
	struct simlog_err e;
	int insecure = 0, rc;
	PyObject *report;

	(void)self;
	memset(&co, 0, sizeof(co));
	co.timeout = 2;
	co.name = "simlog-python";
	co.url_name = "url";
	simlog_ping_opts_init(&o);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$zdzzzzzzpLddp",
	    (char **)kwlist, &co.url, &co.timeout, &co.password_file,
	    &co.sentinel_password_file, &co.tls.ca, &co.tls.cert, &co.tls.key,
	    &co.tls.server_name, &insecure, &o.count, &o.interval, &o.wait,
	    &o.check))
		return NULL;
	co.tls.insecure = insecure;
	if ((p = simlog_ping_new(&co, &o, &e)) == NULL)
		return simlog_py_raise(&e);
	Py_BEGIN_ALLOW_THREADS
	rc = simlog_ping_run(p, &e);
	Py_END_ALLOW_THREADS
	if (simlog_py_text_open(&t) < 0) {
		simlog_ping_free(p);
		return NULL;
	}
	simlog_jw_init(&jw, t.f);
	simlog_ping_report(p, &jw);
	simlog_jw_end(&jw);
	simlog_ping_free(p);
	if ((report = simlog_py_text_parse(&t)) == NULL || rc == 0)
		return report;
	/* As simlog-ping's exit status: anything that keeps Redis from
	 * answering is "unavailable", bar refused credentials. */
	if (e.code != SIMLOG_EX_NOPERM && e.code != SIMLOG_EX_SOFTWARE &&
	    e.code != SIMLOG_EX_CONFIG && e.code != SIMLOG_EX_OSERR)
		e.code = SIMLOG_EX_UNAVAILABLE;
	simlog_py_raise(&e);
	{
		PyObject *type, *value, *tb;

		PyErr_Fetch(&type, &value, &tb);
		PyErr_NormalizeException(&type, &value, &tb);
		if (value != NULL &&
		    PyObject_SetAttrString(value, "report", report) < 0)
			PyErr_Clear();
		PyErr_Restore(type, value, tb);
	}
	Py_DECREF(report);
	return NULL;
}

/* --- encode ------------------------------------------------------------------ */

static PyObject *
encode(PyObject *self, PyObject *obj)
{
	struct simlog_py_enc e;
	PyObject *r = NULL;

	(void)self;
	simlog_py_enc_init(&e);
	if (simlog_py_encode(&e, obj) == 0)
		r = PyBytes_FromStringAndSize(e.buf, (Py_ssize_t)e.len);
	simlog_py_enc_clear(&e);
	return r;
}

/* --- the module ------------------------------------------------------------ */

static PyMethodDef methods[] = {
	{ "ping", (PyCFunction)(void (*)(void))simlog_py_ping,
	  METH_VARARGS | METH_KEYWORDS, "ping(**options) -> dict: see simlog.ping." },
	{ "encode", encode, METH_O,
	  "encode(obj) -> bytes: see simlog.encode." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "simlog._simlog",
	"The C half of the simlog module: use the simlog package.", -1,
	methods, NULL, NULL, NULL, NULL,
};

static int
add_classes(PyObject *m)
{
	simlog_py_Error = PyErr_NewExceptionWithDoc("simlog.Error",
	    "A simlog failure; .code is its exit class (simlog(7): 64 usage, "
	    "65 data, 66 no such item, 69 unavailable, 70 internal, 71 local "
	    "resources, 74 I/O, 75 temporary, 77 permission, 78 "
	    "configuration, 79 conflict).", NULL, NULL);
	if (simlog_py_Error == NULL)
		return -1;
	{
		PyObject *c = PyLong_FromLong(SIMLOG_EX_SOFTWARE);
		int rc = c == NULL ? -1 :
		    PyObject_SetAttrString(simlog_py_Error, "code", c);

		Py_XDECREF(c);
		if (rc < 0 ||
		    PyModule_AddObjectRef(m, "Error", simlog_py_Error) < 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		char name[64];
		PyObject *bases, *dict, *code;

		snprintf(name, sizeof(name), "simlog.%s", classes[i].name);
		bases = classes[i].base ? PyTuple_Pack(2, simlog_py_Error,
		    *classes[i].base) : PyTuple_Pack(1, simlog_py_Error);
		dict = PyDict_New();
		code = PyLong_FromLong(classes[i].code);
		if (bases == NULL || dict == NULL || code == NULL ||
		    PyDict_SetItemString(dict, "code", code) < 0 ||
		    (subclass[i] = PyErr_NewExceptionWithDoc(name,
		    classes[i].doc, bases, dict)) == NULL ||
		    PyModule_AddObjectRef(m, classes[i].name, subclass[i]) < 0) {
			Py_XDECREF(bases);
			Py_XDECREF(dict);
			Py_XDECREF(code);
			return -1;
		}
		Py_DECREF(bases);
		Py_DECREF(dict);
		Py_DECREF(code);
	}
	return 0;
}

PyMODINIT_FUNC
PyInit__simlog(void)
{
	PyObject *m = PyModule_Create(&module);

	if (m == NULL)
		return NULL;
	if (add_classes(m) < 0 ||
	    PyType_Ready(&simlog_py_WriterType) < 0 ||
	    PyModule_AddObjectRef(m, "Writer",
	    (PyObject *)&simlog_py_WriterType) < 0 ||
	    PyType_Ready(&simlog_py_StateType) < 0 ||
	    PyModule_AddObjectRef(m, "State",
	    (PyObject *)&simlog_py_StateType) < 0 ||
	    PyModule_AddStringConstant(m, "LIBRARY_VERSION",
	    SIMLOG_VERSION) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}

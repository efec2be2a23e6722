/*
 * The simlog Python module's C half (simlog._simlog): what its files
 * share.  The Python half (python/simlog/) checks options and documents
 * the API; this half is a thin layer over libsimlog.
 */
#ifndef SIMLOG_PY_H
#define SIMLOG_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdio.h>

#include "simlog.h"

/* Exceptions, by exit code (simlog.Error and its subclasses). */
extern PyObject *simlog_py_Error;
/* Raise the exception of e's class with e's message; returns NULL. */
PyObject *simlog_py_raise(const struct simlog_err *e);
/* Raise an error of code with a message; returns NULL. */
PyObject *simlog_py_raisef(int code, const char *fmt, ...);

/* --- records to JSON text ------------------------------------------------ */

#define SIMLOG_PY_MAXDEPTH 256

struct simlog_py_enc {
	char *buf;
	size_t len, cap;
	/* The way to the value being written, for a message naming it:
	 * a member's name, or NULL and an element's index. */
	PyObject *key[SIMLOG_PY_MAXDEPTH];
	Py_ssize_t idx[SIMLOG_PY_MAXDEPTH];
	int depth;
};
void simlog_py_enc_init(struct simlog_py_enc *e);
void simlog_py_enc_clear(struct simlog_py_enc *e);
/*
 * Write obj (a dict, list or tuple at the top) as one line of JSON into
 * e->buf (e->len bytes, not terminated).  A value JSON cannot hold raises
 * simlog.RefusedRecord naming its field; -1 with an exception set.
 */
int simlog_py_encode(struct simlog_py_enc *e, PyObject *obj);

/* --- JSON the library writes, back as Python values ------------------------ */

/* A memory stream for a struct simlog_jw, and its text parsed by Python's
 * json module (NULL with an exception set on failure). */
struct simlog_py_text {
	char *buf;
	size_t len;
	FILE *f;
};
int simlog_py_text_open(struct simlog_py_text *t);
PyObject *simlog_py_text_parse(struct simlog_py_text *t);

/* --- connection options, as the Python half passes them ------------------ */

/* Strings owned by an object, freed with it: the library keeps pointers
 * to what its options point at. */
struct simlog_py_strs {
	char *v[16];
	int n;
};
/* A copy of s kept in strs (NULL stays NULL); -1 with MemoryError. */
int simlog_py_keep(struct simlog_py_strs *strs, const char *s,
		   const char **out);
void simlog_py_strs_clear(struct simlog_py_strs *strs);

/* Lock m, waiting for it without the GIL (whoever holds it may be waiting
 * for the library with the GIL released). */
void simlog_py_lock(pthread_mutex_t *m);

/* Connect conn as the tools do: under the failure policy, with the shared
 * circuit breaker, the GIL released.  -1 with an exception set. */
int simlog_py_connect(struct simlog_conn *conn);

extern PyTypeObject simlog_py_WriterType;
extern PyTypeObject simlog_py_StateType;
PyObject *simlog_py_ping(PyObject *self, PyObject *args, PyObject *kw);

#endif

/*
 * simlog._simlog.Writer: libsimlog's writer (libsimlog(3)) for Python.
 *
 * The library asks that one thread use a writer at a time; Python threads
 * share one through a lock of the object's own, taken without the GIL
 * when it is busy (a thread holding it may be waiting in the library with
 * the GIL released).  The GIL is released while the library works, so a
 * write that waits for Redis lets the program's other threads run.  The
 * library's diagnostics come from its own thread, which never touches
 * Python: they wait in a small box until the next call hands them to the
 * Python half (its _say method).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simlog_py.h"
#include "util.h"

#define SAY_MAX 32		/* diagnostics kept between two calls */
#define REFUSED_KEPT 100	/* write_many: refusals listed */

struct saybox {
	pthread_mutex_t mu;
	char *msg[SAY_MAX];
	int n;
	unsigned long lost;	/* older ones let go when it was full */
	int pending;		/* read without the lock */
};

typedef struct {
	PyObject_HEAD
	struct simlog_writer *w;
	pthread_mutex_t lock;		/* one call in the library at a time */
	unsigned long forks;		/* simlog_forks() when made */
	long pid;			/* the process that made it */
	struct simlog_py_enc enc;	/* under lock */
	struct simlog_writer_input in;	/* under lock */
	struct saybox *say;
	struct simlog_py_strs strs;
	struct simlog_writer_stats final;	/* once closed */
	PyObject *summary;		/* close()'s, made when first asked */
	int status;			/* the exit status, once closed */
	int opened;
	PyObject *weakreflist;
} WriterObject;

/* --- diagnostics ------------------------------------------------------------ */

static void
say(void *arg, const char *msg)
{
	struct saybox *b = arg;
	char *c = strdup(msg);

	pthread_mutex_lock(&b->mu);
	if (b->n == SAY_MAX) {
		free(b->msg[0]);
		memmove(b->msg, b->msg + 1, sizeof(b->msg[0]) * (SAY_MAX - 1));
		b->n--;
		b->lost++;
	}
	if (c != NULL)
		b->msg[b->n++] = c;
	else
		b->lost++;
	__atomic_store_n(&b->pending, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&b->mu);
}

/* Hand what the library said to self._say(), with the GIL. */
static void
tell(WriterObject *self)
{
	struct saybox *b = self->say;
	char *msg[SAY_MAX];
	unsigned long lost;
	int n;
	PyObject *type, *value, *tb;

	if (b == NULL || !__atomic_load_n(&b->pending, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&b->mu);
	n = b->n;
	memcpy(msg, b->msg, sizeof(msg[0]) * (size_t)n);
	lost = b->lost;
	b->n = 0;
	b->lost = 0;
	__atomic_store_n(&b->pending, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&b->mu);
	/* An exception on its way out stays what it was. */
	PyErr_Fetch(&type, &value, &tb);
	if (lost > 0) {
		char m[96];
		PyObject *r;

		snprintf(m, sizeof(m), "%lu earlier messages were not kept",
		    lost);
		if ((r = PyObject_CallMethod((PyObject *)self, "_say", "s",
		    m)) == NULL)
			PyErr_WriteUnraisable((PyObject *)self);
		Py_XDECREF(r);
	}
	for (int i = 0; i < n; i++) {
		PyObject *r = PyObject_CallMethod((PyObject *)self, "_say",
		    "s", msg[i]);

		if (r == NULL)
			PyErr_WriteUnraisable((PyObject *)self);
		Py_XDECREF(r);
		free(msg[i]);
	}
	PyErr_Restore(type, value, tb);
}

/* --- the lock and the checks every call makes ------------------------------- */

static void
lock(WriterObject *self)
{
	simlog_py_lock(&self->lock);
}

static void
unlock(WriterObject *self)
{
	pthread_mutex_unlock(&self->lock);
}

/* Whether the object may be used in this process; raises if not.  In a
 * child of a fork, the lock may be held by a thread that stayed behind:
 * this is asked before taking it. */
static int
usable(WriterObject *self)
{
	if (simlog_forks() == self->forks)
		return 1;
	simlog_py_raisef(SIMLOG_EX_USAGE, "this writer was opened in process "
	    "%ld, before a fork: a child process opens a writer of its own",
	    self->pid);
	return 0;
}

/* Under the lock: the writer, or NULL and an exception if closed. */
static struct simlog_writer *
open_writer(WriterObject *self)
{
	if (self->w != NULL)
		return self->w;
	simlog_py_raisef(SIMLOG_EX_USAGE, self->opened ? "the writer is "
	    "closed" : "the writer was never opened");
	return NULL;
}

/* Usable, locked and open: the writer, the lock held; else NULL with an
 * exception, the lock not held. */
static struct simlog_writer *
enter(WriterObject *self)
{
	struct simlog_writer *w;

	if (!usable(self))
		return NULL;
	lock(self);
	if ((w = open_writer(self)) == NULL)
		unlock(self);
	return w;
}

/* --- making one ------------------------------------------------------------- */

static PyObject *
Writer_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	WriterObject *self = (WriterObject *)type->tp_alloc(type, 0);

	(void)args, (void)kw;
	if (self == NULL)
		return NULL;
	pthread_mutex_init(&self->lock, NULL);
	self->forks = simlog_forks();
	self->pid = (long)getpid();
	self->status = -1;
	simlog_py_enc_init(&self->enc);
	if ((self->say = calloc(1, sizeof(*self->say))) == NULL) {
		Py_DECREF(self);
		return PyErr_NoMemory();
	}
	pthread_mutex_init(&self->say->mu, NULL);
	return (PyObject *)self;
}

static int
Writer_init(WriterObject *self, PyObject *args, PyObject *kw)
{
	/* (char **): Python 3.11 takes them without const. */
	static const char *kwlist[] = {
		"url", "sim", "type", "type_field", "sim_field", "priority",
		"timeout",
		"deadline", "spool", "spool_max", "batch", "inflight",
		"max_record", "flush_interval", "max_backlog",
		"wait_replicas", "retries", "retry_base", "retry_factor",
		"retry_cap", "breaker_failures", "breaker_reset",
		"password_file", "sentinel_password_file", "tls_ca",
		"tls_cert", "tls_key", "tls_server_name", "tls_no_verify",
		"name", "replay_only", NULL,
	};
	struct simlog_writer_opts o;
	const char *url = NULL, *sim = NULL, *type = NULL, *field = NULL,
	    *simfield = NULL, *spool = NULL, *pwfile = NULL, *spwfile = NULL, *ca = NULL,
	    *cert = NULL, *key = NULL, *sni = NULL, *name = NULL;
	int prio, insecure = 0, replay = 0;
	unsigned long long spool_max, max_backlog;
	Py_ssize_t batch, inflight, max_record;
	struct simlog_err e;
	struct simlog_writer *w;

	if (!usable(self))
		return -1;
	simlog_writer_opts_init(&o);
	prio = (int)o.prio;
	spool_max = o.spool_max;
	max_backlog = o.max_backlog;
	batch = (Py_ssize_t)o.batch;
	inflight = (Py_ssize_t)o.inflight;
	max_record = (Py_ssize_t)o.max_record;
	if (!PyArg_ParseTupleAndKeywords(args, kw,
	    "|$zzzzzidd" "zKnnndK" "iiddd" "id" "zzzzzzp" "zp",
	    (char **)kwlist, &url, &sim, &type, &field, &simfield, &prio, &o.conn.timeout, &o.deadline,
	    &spool, &spool_max, &batch, &inflight, &max_record,
	    &o.flush_interval, &max_backlog,
	    &o.wait_replicas, &o.retries, &o.retry_base, &o.retry_factor,
	    &o.retry_cap, &o.breaker_failures, &o.breaker_reset,
	    &pwfile, &spwfile, &ca, &cert, &key, &sni, &insecure,
	    &name, &replay))
		return -1;
	if (self->opened) {
		simlog_py_raisef(SIMLOG_EX_USAGE, "the writer is open already");
		return -1;
	}
	if (prio < SIMLOG_PRIO_LOW || prio > SIMLOG_PRIO_CRITICAL ||
	    batch < 0 || inflight < 0 || max_record < 0) {
		simlog_py_raisef(SIMLOG_EX_USAGE, "writer options out of range");
		return -1;
	}
	o.prio = (enum simlog_priority)prio;
	o.spool_max = spool_max;
	o.max_backlog = max_backlog;
	o.batch = (size_t)batch;
	o.inflight = (size_t)inflight;
	o.max_record = (size_t)max_record;
	o.conn.tls.insecure = insecure;
	o.replay_only = replay;
	o.say = say;
	o.say_arg = self->say;
	o.conn.name = "simlog-python";
	if (simlog_py_keep(&self->strs, url, &o.conn.url) < 0 ||
	    simlog_py_keep(&self->strs, sim, &o.sim) < 0 ||
	    simlog_py_keep(&self->strs, type, &o.type) < 0 ||
	    simlog_py_keep(&self->strs, field ? field : "type",
	    &o.type_field) < 0 ||
	    simlog_py_keep(&self->strs, simfield, &o.sim_field) < 0 ||
	    simlog_py_keep(&self->strs, spool, &o.spool_dir) < 0 ||
	    simlog_py_keep(&self->strs, pwfile, &o.conn.password_file) < 0 ||
	    simlog_py_keep(&self->strs, spwfile,
	    &o.conn.sentinel_password_file) < 0 ||
	    simlog_py_keep(&self->strs, ca, &o.conn.tls.ca) < 0 ||
	    simlog_py_keep(&self->strs, cert, &o.conn.tls.cert) < 0 ||
	    simlog_py_keep(&self->strs, key, &o.conn.tls.key) < 0 ||
	    simlog_py_keep(&self->strs, sni, &o.conn.tls.server_name) < 0 ||
	    (name != NULL && simlog_py_keep(&self->strs, name,
	    &o.conn.name) < 0))
		return -1;
	o.conn.url_name = "url";
	o.type_hint = " (give every record's type with type=, or name the "
	    "member that holds it with type_field=)";
	w = simlog_writer_open(&o, &e);
	tell(self);
	if (w == NULL) {
		simlog_py_raise(&e);
		return -1;
	}
	lock(self);
	self->w = w;
	self->opened = 1;
	self->in.prio = o.prio;
	self->in.replay_only = replay;
	unlock(self);
	return 0;
}

/* --- records ---------------------------------------------------------------- */

/* One record into the library, under the lock; 0 taken, 1 refused (an
 * exception set), -1 failed (likewise). */
static int
write_one(WriterObject *self, struct simlog_writer *w, PyObject *rec)
{
	const char *p;
	Py_ssize_t n;
	struct simlog_err why;
	int r;

	self->in.read++;
	if (PyUnicode_Check(rec)) {
		if ((p = PyUnicode_AsUTF8AndSize(rec, &n)) == NULL) {
			if (!PyErr_ExceptionMatches(PyExc_UnicodeError))
				return -1;
			PyErr_Clear();
			self->in.rejected++;
			simlog_py_raisef(SIMLOG_EX_DATAERR, "the record holds a "
			    "lone surrogate (not UTF-8)");
			return 1;
		}
	} else if (PyBytes_Check(rec)) {
		p = PyBytes_AS_STRING(rec);
		n = PyBytes_GET_SIZE(rec);
	} else if (PyDict_Check(rec)) {
		if (simlog_py_encode(&self->enc, rec) < 0) {
			if (!PyErr_ExceptionMatches(PyExc_ValueError))
				return -1;
			self->in.rejected++;
			return 1;
		}
		p = self->enc.buf;
		n = (Py_ssize_t)self->enc.len;
	} else {
		self->in.read--;
		PyErr_Format(PyExc_TypeError, "a record is a dict, or one line "
		    "of JSON as str or bytes, not %s", Py_TYPE(rec)->tp_name);
		return -1;
	}
	Py_BEGIN_ALLOW_THREADS
	r = simlog_writer_write(w, p, (size_t)n, &why);
	Py_END_ALLOW_THREADS
	if (r == 0)
		return 0;
	if (r == 1)
		self->in.rejected++;
	simlog_py_raise(&why);
	return r;
}

static PyObject *
Writer_write(WriterObject *self, PyObject *rec)
{
	struct simlog_writer *w;
	int r;

	if ((w = enter(self)) == NULL)
		return NULL;
	r = write_one(self, w, rec);
	unlock(self);
	tell(self);
	if (r != 0)
		return NULL;
	Py_RETURN_NONE;
}

/* The refusals of a write_many, as the exception it raises at the end. */
static PyObject *
raise_refused(PyObject *refused, Py_ssize_t n, Py_ssize_t total)
{
	PyObject *first = PyList_GET_ITEM(refused, 0), *type, *value, *tb;

	simlog_py_raisef(SIMLOG_EX_DATAERR, "%zd of %zd records refused; "
	    "the first, record %S: %S", n, total, PyTuple_GET_ITEM(first, 0),
	    PyTuple_GET_ITEM(first, 1));
	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	if (value != NULL)
		PyObject_SetAttrString(value, "refused", refused);
	PyErr_Restore(type, value, tb);
	return NULL;
}

static PyObject *
Writer_write_many(WriterObject *self, PyObject *iterable)
{
	PyObject *it, *rec, *refused = NULL;
	struct simlog_writer *w;
	Py_ssize_t i = 0, taken = 0, nrefused = 0;
	int failed = 0;

	if (!usable(self) || (it = PyObject_GetIter(iterable)) == NULL)
		return NULL;
	if ((refused = PyList_New(0)) == NULL) {
		Py_DECREF(it);
		return NULL;
	}
	/* The lock is taken for each record: the iterator is the caller's
	 * code, which may use the writer itself. */
	while (!failed && (rec = PyIter_Next(it)) != NULL) {
		int r;

		lock(self);
		if ((w = open_writer(self)) == NULL)
			r = -1;
		else
			r = write_one(self, w, rec);
		unlock(self);
		Py_DECREF(rec);
		if (r == 0)
			taken++;
		else if (r == 1) {
			PyObject *type, *value, *tb, *t;

			PyErr_Fetch(&type, &value, &tb);
			nrefused++;
			t = PyList_GET_SIZE(refused) >= REFUSED_KEPT ? NULL :
			    Py_BuildValue("(nO)", i, value ? value : Py_None);
			Py_XDECREF(type);
			Py_XDECREF(value);
			Py_XDECREF(tb);
			if (PyList_GET_SIZE(refused) < REFUSED_KEPT &&
			    (t == NULL || PyList_Append(refused, t) < 0))
				failed = 1;
			Py_XDECREF(t);
		} else
			failed = 1;
		i++;
	}
	Py_DECREF(it);
	tell(self);
	if (failed || PyErr_Occurred()) {
		Py_DECREF(refused);
		return NULL;
	}
	if (nrefused > 0) {
		raise_refused(refused, nrefused, i);
		Py_DECREF(refused);
		return NULL;
	}
	Py_DECREF(refused);
	return PyLong_FromSsize_t(taken);
}

static PyObject *
Writer_flush(WriterObject *self, PyObject *unused)
{
	struct simlog_writer *w;

	(void)unused;
	if ((w = enter(self)) == NULL)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	simlog_writer_flush(w);
	Py_END_ALLOW_THREADS
	unlock(self);
	tell(self);
	Py_RETURN_NONE;
}

/* --- statistics and the end ------------------------------------------------- */

static PyObject *
stats_dict(WriterObject *self, const struct simlog_writer_stats *s, int end)
{
	PyObject *d = Py_BuildValue("{sKsKsKsKsKsKsKsKsKsKsKsKsKsisssssKsK}",
	    "records", s->records, "pushed", s->pushed,
	    "spooled", s->spooled, "dropped", s->dropped,
	    "failed", s->failed, "overflowed", s->overflowed,
	    "replayed", s->replayed, "deferred", s->deferred,
	    "batches", s->batches,
	    "bytes", s->bytes, "spool_lost", s->spool_lost,
	    "damaged_segments", s->damaged_segments,
	    "retries", s->retries, "spooling", s->spooling,
	    "sim", s->sim, "spool_dir", s->spool_dir,
	    "read", self->in.read, "rejected", self->in.rejected);

	if (d == NULL || !end)
		return d;
	{
		PyObject *more = Py_BuildValue("{sssisdsisisisN}",
		    "breaker", simlog_breaker_name(s->breaker),
		    "spool_pending", s->spool_pending,
		    "seconds", s->seconds,
		    "auth_failed", s->auth_failed,
		    "config_failed", s->config_failed,
		    "spool_failed", s->spool_failed,
		    "fatal", s->fatal.code ? PyUnicode_DecodeUTF8(s->fatal.msg,
		    (Py_ssize_t)strlen(s->fatal.msg), "replace") :
		    Py_NewRef(Py_None));

		if (more == NULL || PyDict_Update(d, more) < 0) {
			Py_XDECREF(more);
			Py_DECREF(d);
			return NULL;
		}
		Py_DECREF(more);
	}
	return d;
}

static PyObject *
Writer_get_stats(WriterObject *self, void *closure)
{
	struct simlog_writer_stats st;
	struct simlog_writer *w;
	PyObject *d;

	(void)closure;
	if (!usable(self))
		return NULL;
	lock(self);
	if (self->status >= 0) {
		st = self->final;
		unlock(self);
		return stats_dict(self, &st, 1);
	}
	if ((w = open_writer(self)) == NULL) {
		unlock(self);
		return NULL;
	}
	simlog_writer_stats(w, &st);
	d = stats_dict(self, &st, 0);
	unlock(self);
	tell(self);
	return d;
}

static PyObject *
summary_of(WriterObject *self, const struct simlog_writer_stats *st)
{
	struct simlog_py_text t;
	struct simlog_jw jw;

	if (simlog_py_text_open(&t) < 0)
		return NULL;
	simlog_jw_init(&jw, t.f);
	simlog_writer_summary(&jw, st, &self->in);
	return simlog_py_text_parse(&t);
}

/* Close under the lock (held).  Nothing of Python's is made here: this
 * also runs as the interpreter ends. */
static void
close_locked(WriterObject *self)
{
	struct simlog_writer *w = self->w;

	self->w = NULL;
	Py_BEGIN_ALLOW_THREADS
	simlog_writer_close(w, &self->final);
	Py_END_ALLOW_THREADS
	self->in.left = self->final.spool_pending;
	self->status = simlog_writer_status(&self->final, &self->in);
}

static PyObject *
Writer_close(WriterObject *self, PyObject *unused)
{
	PyObject *r;

	(void)unused;
	if (!usable(self))
		return NULL;
	lock(self);
	if (self->w != NULL)
		close_locked(self);
	else if (!self->opened) {
		unlock(self);
		Py_RETURN_NONE;
	}
	if (self->summary == NULL)
		self->summary = summary_of(self, &self->final);
	r = self->summary != NULL ? Py_NewRef(self->summary) : NULL;
	unlock(self);
	tell(self);
	return r;
}

static PyObject *
Writer_enter(WriterObject *self, PyObject *unused)
{
	(void)unused;
	return Py_NewRef((PyObject *)self);
}

static PyObject *
Writer_exit(WriterObject *self, PyObject *args)
{
	PyObject *r;

	(void)args;
	if ((r = PyObject_CallMethod((PyObject *)self, "close", NULL)) == NULL)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

static PyObject *
Writer_get_status(WriterObject *self, void *closure)
{
	(void)closure;
	if (self->status < 0)
		Py_RETURN_NONE;
	return PyLong_FromLong(self->status);
}

static PyObject *
Writer_get_closed(WriterObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->w == NULL);
}

/* Garbage collected (or the interpreter ends) while open: closed as
 * close() would, so nothing taken is lost.  Never in a child of a fork:
 * the writer is the parent's. */
static void
Writer_finalize(WriterObject *self)
{
	PyObject *type, *value, *tb;

	if (self->w == NULL || simlog_forks() != self->forks)
		return;
	PyErr_Fetch(&type, &value, &tb);
	lock(self);
	if (self->w != NULL)
		close_locked(self);
	unlock(self);
	tell(self);
	PyErr_Restore(type, value, tb);
}

static void
Writer_dealloc(WriterObject *self)
{
	if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0)
		return;		/* resurrected */
	if (self->weakreflist != NULL)
		PyObject_ClearWeakRefs((PyObject *)self);
	/* In a child of a fork, the parent's writer and strings stay. */
	if (simlog_forks() == self->forks) {
		simlog_py_strs_clear(&self->strs);
		if (self->say != NULL) {
			for (int i = 0; i < self->say->n; i++)
				free(self->say->msg[i]);
			pthread_mutex_destroy(&self->say->mu);
			free(self->say);
		}
		pthread_mutex_destroy(&self->lock);
	}
	simlog_py_enc_clear(&self->enc);
	Py_XDECREF(self->summary);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Writer_methods[] = {
	{ "write", (PyCFunction)Writer_write, METH_O,
	  "write(record): take one record (a dict, or a JSON line)." },
	{ "write_many", (PyCFunction)Writer_write_many, METH_O,
	  "write_many(iterable) -> int: take every record; the number taken." },
	{ "flush", (PyCFunction)Writer_flush, METH_NOARGS,
	  "flush(): send the records taken so far now, without waiting." },
	{ "close", (PyCFunction)Writer_close, METH_NOARGS,
	  "close() -> dict: send or spool everything; simlog-push's summary." },
	{ "__enter__", (PyCFunction)Writer_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)Writer_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef Writer_getset[] = {
	{ "stats", (getter)Writer_get_stats, NULL,
	  "Where the records have gone so far, as a dict.", NULL },
	{ "status", (getter)Writer_get_status, NULL,
	  "Once closed, simlog-push's exit status for the run; else None.",
	  NULL },
	{ "closed", (getter)Writer_get_closed, NULL,
	  "Whether the writer is closed (or was never opened).", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject simlog_py_WriterType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "simlog._simlog.Writer",
	.tp_basicsize = sizeof(WriterObject),
	.tp_dealloc = (destructor)Writer_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "The writer of libsimlog; use simlog.Writer.",
	.tp_weaklistoffset = offsetof(WriterObject, weakreflist),
	.tp_methods = Writer_methods,
	.tp_getset = Writer_getset,
	.tp_init = (initproc)Writer_init,
	.tp_new = Writer_new,
	.tp_finalize = (destructor)Writer_finalize,
};

/*
 * simlog._simlog.State: the state store of simlog-state(1), one request at
 * a time over a connection of the object's own (opened when first
 * needed, again after a failure closed it), the GIL released while Redis
 * answers.  Metadata comes back as the dicts simlog-state prints.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "simlog_py.h"
#include "simlog_state.h"
#include "state_json.h"
#include "util.h"

typedef struct {
	PyObject_HEAD
	struct simlog_conn conn;
	int inited;
	pthread_mutex_t lock;		/* one request at a time */
	unsigned long forks;
	struct simlog_py_strs strs;
	struct simlog_state_enc *enc;	/* kept from save to save */
} StateObject;

static PyObject *
State_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	StateObject *self = (StateObject *)type->tp_alloc(type, 0);

	(void)args, (void)kw;
	if (self == NULL)
		return NULL;
	pthread_mutex_init(&self->lock, NULL);
	self->forks = simlog_forks();
	return (PyObject *)self;
}

static int
State_init(StateObject *self, PyObject *args, PyObject *kw)
{
	static const char *kwlist[] = {
		"url", "timeout", "password_file", "sentinel_password_file",
		"tls_ca", "tls_cert", "tls_key", "tls_server_name",
		"tls_no_verify", NULL,
	};
	struct simlog_conn_opts o;
	const char *url = NULL, *pw = NULL, *spw = NULL, *ca = NULL,
	    *cert = NULL, *key = NULL, *sni = NULL;
	int insecure = 0;
	struct simlog_err e;

	memset(&o, 0, sizeof(o));
	o.timeout = 2;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$zdzzzzzzp",
	    (char **)kwlist, &url, &o.timeout, &pw, &spw, &ca, &cert, &key,
	    &sni, &insecure))
		return -1;
	if (self->inited) {
		simlog_py_raisef(SIMLOG_EX_USAGE, "the state store is open "
		    "already");
		return -1;
	}
	if (simlog_py_keep(&self->strs, url, &o.url) < 0 ||
	    simlog_py_keep(&self->strs, pw, &o.password_file) < 0 ||
	    simlog_py_keep(&self->strs, spw, &o.sentinel_password_file) < 0 ||
	    simlog_py_keep(&self->strs, ca, &o.tls.ca) < 0 ||
	    simlog_py_keep(&self->strs, cert, &o.tls.cert) < 0 ||
	    simlog_py_keep(&self->strs, key, &o.tls.key) < 0 ||
	    simlog_py_keep(&self->strs, sni, &o.tls.server_name) < 0)
		return -1;
	o.tls.insecure = insecure;
	o.name = "simlog-python";
	o.url_name = "url";
	if (simlog_conn_init(&self->conn, &o, &e) < 0) {
		simlog_py_raise(&e);
		return -1;
	}
	if ((self->enc = simlog_state_enc_new()) == NULL) {
		simlog_conn_clear(&self->conn);
		PyErr_NoMemory();
		return -1;
	}
	self->inited = 1;
	return 0;
}

/* Take the lock (without the GIL while it is busy) and make sure of a
 * connection; 0, or -1 with an exception and the lock not held. */
static int
begin(StateObject *self)
{
	if (simlog_forks() != self->forks) {
		simlog_py_raisef(SIMLOG_EX_USAGE, "this state store was opened "
		    "before a fork: a child process opens one of its own");
		return -1;
	}
	simlog_py_lock(&self->lock);
	if (!self->inited) {
		pthread_mutex_unlock(&self->lock);
		simlog_py_raisef(SIMLOG_EX_USAGE, "the state store is closed");
		return -1;
	}
	if (!simlog_conn_connected(&self->conn) &&
	    simlog_py_connect(&self->conn) < 0) {
		pthread_mutex_unlock(&self->lock);
		return -1;
	}
	return 0;
}

static void
end(StateObject *self)
{
	pthread_mutex_unlock(&self->lock);
}

/* One version's metadata, as simlog-state prints it; with the ID's
 * number of versions when versions >= 0 (list). */
static PyObject *
meta_dict(const char *id, const struct simlog_state_meta *m,
	  long long expires, long long versions)
{
	struct simlog_py_text t;
	struct simlog_jw jw;

	if (simlog_py_text_open(&t) < 0)
		return NULL;
	simlog_jw_init(&jw, t.f);
	simlog_jw_begin(&jw);
	simlog_state_meta_put(&jw, id, m, expires);
	if (versions >= 0)
		simlog_jw_kint(&jw, "versions", versions);
	simlog_jw_end(&jw);
	return simlog_py_text_parse(&t);
}

static PyObject *
State_save(StateObject *self, PyObject *args)
{
	const char *id, *tags, *comp;
	Py_buffer data;
	double ttl;
	long long maxv, expect;
	int raw, wait, rc;
	struct simlog_state_item it;
	struct simlog_state_meta m;
	struct simlog_err e;
	long long expires;
	PyObject *r = NULL;

	if (!PyArg_ParseTuple(args, "sy*sdsLLpi", &id, &data, &tags, &ttl,
	    &comp, &maxv, &expect, &raw, &wait))
		return NULL;
	memset(&it, 0, sizeof(it));
	if (!simlog_state_valid_id(id, strlen(id))) {
		simlog_py_raisef(SIMLOG_EX_USAGE, "invalid state ID '%.128s': "
		    "use 1-128 of [A-Za-z0-9_.:-]", id);
		goto out;
	}
	snprintf(it.id, sizeof(it.id), "%s", id);
	for (const char *p = tags; *p != '\0'; ) {
		size_t n = strcspn(p, ",");

		if (simlog_state_tags_add(it.tags, p, n, &e) < 0) {
			e.code = SIMLOG_EX_USAGE;
			simlog_py_raise(&e);
			goto out;
		}
		p += n + (p[n] == ',');
	}
	if (simlog_state_comp_parse(comp, &it.comp) < 0) {
		simlog_py_raisef(SIMLOG_EX_USAGE, "invalid compress: '%.40s': "
		    "use lz4, zlib or none", comp);
		goto out;
	}
	if (wait < 0) {
		long long n = 0;

		if (simlog_env_ll("SIMLOG_WAIT_REPLICAS", 0, 100, &n, &e) < 0) {
			simlog_py_raise(&e);
			goto out;
		}
		wait = (int)n;
	}
	it.raw = raw;
	it.ttl_ms = ttl > 0 ? (long long)(ttl * 1000 + 0.5) : 0;
	it.max_versions = maxv;
	it.expect_version = expect;
	it.wait_replicas = wait;
	if (begin(self) < 0)
		goto out;
	Py_BEGIN_ALLOW_THREADS
	rc = simlog_state_prepare(&it, self->enc, data.buf, (size_t)data.len,
	    &e) < 0 || simlog_state_save(&self->conn, &it, &m, &expires,
	    &e) < 0;
	Py_END_ALLOW_THREADS
	end(self);
	r = rc ? simlog_py_raise(&e) : meta_dict(id, &m, expires, -1);
out:
	simlog_state_item_clear(&it);
	PyBuffer_Release(&data);
	return r;
}

static PyObject *
State_load(StateObject *self, PyObject *args)
{
	const char *id;
	long long version;
	struct simlog_state_loaded l;
	struct simlog_err e;
	PyObject *r;
	int rc;

	if (!PyArg_ParseTuple(args, "sL", &id, &version) || begin(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = simlog_state_load(&self->conn, id, version, &l, &e);
	Py_END_ALLOW_THREADS
	end(self);
	if (rc < 0)
		return simlog_py_raise(&e);
	r = PyBytes_FromStringAndSize(l.data, (Py_ssize_t)l.len);
	simlog_state_loaded_clear(&l);
	return r;
}

/* The versions `which` selects (a version, 0 the latest, -1 all). */
static PyObject *
State_describe(StateObject *self, PyObject *args)
{
	const char *id;
	long long which;
	struct simlog_state_info info;
	struct simlog_state_meta *m = NULL;
	struct simlog_err e;
	size_t n = 0;
	PyObject *list;
	int rc;

	if (!PyArg_ParseTuple(args, "sL", &id, &which) || begin(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = simlog_state_describe(&self->conn, id, which, &info, &m, &n, &e);
	Py_END_ALLOW_THREADS
	end(self);
	if (rc < 0)
		return simlog_py_raise(&e);
	if ((list = PyList_New(0)) != NULL)
		for (size_t i = 0; i < n; i++) {
			PyObject *d = meta_dict(id, &m[i], info.expires_ms, -1);

			if (d == NULL || PyList_Append(list, d) < 0) {
				Py_XDECREF(d);
				Py_CLEAR(list);
				break;
			}
			Py_DECREF(d);
		}
	free(m);
	return list;
}

/* Every ID's latest version, with its number of versions; IDs that go
 * while listed are left out. */
static PyObject *
State_list(StateObject *self, PyObject *unused)
{
	char **ids = NULL;
	size_t n = 0, i;
	struct simlog_err e;
	PyObject *list = NULL;
	int rc;

	(void)unused;
	if (begin(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = simlog_state_ids(&self->conn, &ids, &n, &e);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		end(self);
		return simlog_py_raise(&e);
	}
	if ((list = PyList_New(0)) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		struct simlog_state_info info;
		struct simlog_state_meta *m = NULL;
		size_t k = 0;
		PyObject *d;

		Py_BEGIN_ALLOW_THREADS
		rc = simlog_state_describe(&self->conn, ids[i],
		    SIMLOG_STATE_LATEST, &info, &m, &k, &e);
		Py_END_ALLOW_THREADS
		if (rc < 0 && e.code == SIMLOG_EX_NOINPUT)
			continue;
		if (rc < 0) {
			simlog_py_raise(&e);
			Py_CLEAR(list);
			break;
		}
		d = k > 0 ? meta_dict(ids[i], &m[0], info.expires_ms,
		    info.versions) : NULL;
		free(m);
		if (k > 0 && (d == NULL || PyList_Append(list, d) < 0)) {
			Py_XDECREF(d);
			Py_CLEAR(list);
			break;
		}
		Py_XDECREF(d);
	}
out:
	end(self);
	simlog_strv_free(ids, n);
	return list;
}

static PyObject *
State_rollback(StateObject *self, PyObject *args)
{
	const char *id;
	long long to, expires;
	struct simlog_state_meta m;
	struct simlog_err e;
	int rc;

	if (!PyArg_ParseTuple(args, "sL", &id, &to) || begin(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = simlog_state_rollback(&self->conn, id, to, &m, &expires, &e);
	Py_END_ALLOW_THREADS
	end(self);
	return rc < 0 ? simlog_py_raise(&e) : meta_dict(id, &m, expires, -1);
}

/* delete (version, 0 the whole ID) or prune (keep): versions deleted. */
static PyObject *
removal(StateObject *self, PyObject *args, int prune)
{
	const char *id;
	long long v, deleted = 0;
	struct simlog_err e;
	int rc;

	if (!PyArg_ParseTuple(args, "sL", &id, &v) || begin(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = prune ? simlog_state_prune(&self->conn, id, v, &deleted, &e) :
	    simlog_state_delete(&self->conn, id, v, &deleted, &e);
	Py_END_ALLOW_THREADS
	end(self);
	return rc < 0 ? simlog_py_raise(&e) : PyLong_FromLongLong(deleted);
}

static PyObject *
State_delete(StateObject *self, PyObject *args)
{
	return removal(self, args, 0);
}

static PyObject *
State_prune(StateObject *self, PyObject *args)
{
	return removal(self, args, 1);
}

static void
clear(StateObject *self)
{
	if (!self->inited)
		return;
	self->inited = 0;
	simlog_conn_clear(&self->conn);
	simlog_state_enc_free(self->enc);
	self->enc = NULL;
	simlog_py_strs_clear(&self->strs);
}

static PyObject *
State_close(StateObject *self, PyObject *unused)
{
	(void)unused;
	if (simlog_forks() != self->forks)
		Py_RETURN_NONE;
	simlog_py_lock(&self->lock);
	clear(self);
	pthread_mutex_unlock(&self->lock);
	Py_RETURN_NONE;
}

static void
State_dealloc(StateObject *self)
{
	/* A child of a fork leaves the parent's connection alone: closing
	 * it (a TLS goodbye) would speak on the parent's socket. */
	if (simlog_forks() == self->forks) {
		clear(self);
		pthread_mutex_destroy(&self->lock);
	}
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef State_methods[] = {
	{ "_save", (PyCFunction)State_save, METH_VARARGS, NULL },
	{ "_load", (PyCFunction)State_load, METH_VARARGS, NULL },
	{ "_describe", (PyCFunction)State_describe, METH_VARARGS, NULL },
	{ "_list", (PyCFunction)State_list, METH_NOARGS, NULL },
	{ "_rollback", (PyCFunction)State_rollback, METH_VARARGS, NULL },
	{ "_delete", (PyCFunction)State_delete, METH_VARARGS, NULL },
	{ "_prune", (PyCFunction)State_prune, METH_VARARGS, NULL },
	{ "close", (PyCFunction)State_close, METH_NOARGS,
	  "close(): drop the connection." },
	{ NULL, NULL, 0, NULL },
};

PyTypeObject simlog_py_StateType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "simlog._simlog.State",
	.tp_basicsize = sizeof(StateObject),
	.tp_dealloc = (destructor)State_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "The state store of libsimlog; use simlog.State.",
	.tp_methods = State_methods,
	.tp_init = (initproc)State_init,
	.tp_new = State_new,
};

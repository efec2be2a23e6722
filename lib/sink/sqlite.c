/*
 * The SQLite sink: a database file in WAL mode with synchronous=FULL, one
 * writer at a time (BEGIN IMMEDIATE), a prepared insert per table.
 *
 * Checkpoints (copying the WAL into the database file, and syncing both)
 * are made by a thread of the sink's own on a second connection, after
 * each commit, while the drain goes on inserting: they cost the drain no
 * time.  Without that thread, SQLite checkpoints inside COMMIT.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "chunk.h"
#include "schema.h"
#include "sink/sink.h"
#include "sink/sink_int.h"
#include "util.h"

/* Jobs for the writer (or the rows it found refused), one after another
 * in a buffer. */
struct jobs {
	unsigned char *b;
	size_t len, cap, n;
};

/* A row refused by its table, then its simulation, record and reason. */
struct misfit {
	uint32_t route;
	uint32_t waited;		/* the record had waited for a parent */
	size_t simlen, jlen, wlen;
};

enum { WR_NONE, WR_SQLITE, WR_OOM, WR_MARKED, WR_COMMIT };	/* how the
							 * writer failed */

struct lite {
	sqlite3 *db;
	sqlite3_stmt *mark;		/* INSERT INTO simlog_batches */
	sqlite3_stmt *seen;		/* SELECT from simlog_batches */
	sqlite3 *rdb;			/* a reader of the committed batch ids */
	sqlite3_stmt *rseen;		/* its SELECT */
	sqlite3_stmt *reject;		/* INSERT INTO simlog_rejects */
	sqlite3_stmt *wput;		/* INSERT INTO simlog_waiting */
	int in_txn;
	char *path;
	int fd;				/* the database file, to tell whether
					 * the path still names it; -1 none */

	/* the checkpointer */
	sqlite3 *ckdb;
	pthread_t ck;
	int ck_started;
	pthread_mutex_t ck_mu;
	pthread_cond_t ck_cv;
	unsigned ck_due;		/* commits not yet checkpointed */
	int ck_stop;

	/* the writer */
	pthread_t wr;
	int wr_started;
	pthread_mutex_t wr_mu;
	pthread_cond_t wr_go, wr_done;
	int wr_busy, wr_stop, wr_abort;
	int main_waits;			/* in hand_over, lite_settle or
					 * waiting on Redis (lite_idle):
					 * fill is the writer's to take */
	const volatile sig_atomic_t *stop;
	/* A commit the writer makes (then begins the next transaction)
	 * before its next jobs, and how it went (lite_commit_next). */
	int commit_due, commit_failed;
	char commit_msg[SIMLOG_ERRLEN / 2];
	int commit_rc, commit_errno;
	struct jobs fill, run;		/* queued; given to the writer */
	struct jobs misfits;		/* refused rows, for dead letters */
	int wr_failed;			/* WR_*: it stopped */
	int wr_rc, wr_errno;
	uint32_t wr_route;
	char wr_msg[SIMLOG_ERRLEN / 2];
	char save_sim[72];
};

/* A typed table's insert. */
struct lite_table {
	sqlite3_stmt *ins;
	int raw;			/* on duplicate update: raw values
					 * follow at ncols + 1 */
	sqlite3_stmt *owner;		/* the simulation of a key's row */
	int okey[8];			/* its parameters: column indexes */
	size_t nokey;
};

#define L(s) ((struct lite *)(s)->impl)

static int
busy(int code)
{
	return code == SQLITE_BUSY || code == SQLITE_LOCKED;
}

/* The process's own limits met inside SQLite (its open files, memory)
 * are its own error (71), named, whatever SQLite calls them. */
static void
own_limits(sqlite3 *db, struct simlog_err *err)
{
	const char *hint;
	size_t n;

	if (db == NULL || err == NULL ||
	    !simlog_errno_local(sqlite3_system_errno(db), &hint))
		return;
	err->code = SIMLOG_EX_OSERR;
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, " (%s: %s)",
	    strerror(sqlite3_system_errno(db)), hint);
}

/*
 * A statement can end the whole transaction, not only itself: a conflict
 * clause of ROLLBACK, a trigger's RAISE(ROLLBACK), SQLite's own rollback
 * after a full disk or an I/O error.  The rows after it would each be
 * committed on their own (autocommit) while the drain believes them in
 * its transaction, so such a failure is never a dead letter: the
 * transaction fails, and the entries stay in Redis.
 */
#define ROLLED_BACK " (the database rolled the transaction back)"

static int
txn_lost(struct simlog_sink *s)
{
	return L(s)->in_txn && sqlite3_get_autocommit(L(s)->db);
}

/* An error naming the database and what was being done. */
static int
fail(struct simlog_sink *s, struct simlog_err *err, int code, const char *what)
{
	simlog_seterr(err, busy(code) && !txn_lost(s) ? SIMLOG_EX_TEMPFAIL :
	    SIMLOG_EX_IOERR, "%s: %s: %s%s", s->name, what,
	    sqlite3_errmsg(L(s)->db), txn_lost(s) ? ROLLED_BACK : "");
	own_limits(L(s)->db, err);
	return -1;
}

static int
exec(struct simlog_sink *s, const char *sql, const char *what,
     struct simlog_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(L(s)->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int code = sqlite3_errcode(L(s)->db);

		simlog_seterr(err, busy(code) ? SIMLOG_EX_TEMPFAIL :
		    SIMLOG_EX_IOERR, "%s: %s: %s", s->name, what,
		    msg ? msg : sqlite3_errmsg(L(s)->db));
		own_limits(L(s)->db, err);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
prepare(struct simlog_sink *s, const char *sql, sqlite3_stmt **st,
	const char *what, struct simlog_err *err)
{
	if (sqlite3_prepare_v3(L(s)->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    st, NULL) != SQLITE_OK)
		return fail(s, err, sqlite3_errcode(L(s)->db), what);
	return 0;
}

static int
wal(struct simlog_sink *s, const char *path, struct simlog_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(L(s)->db, "PRAGMA journal_mode=WAL", -1, &st,
	    NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		/* A file that is there but no database (or a damaged one) is
		 * a database error, not one that could not be created. */
		int code = sqlite3_errcode(L(s)->db);

		simlog_seterr(err, busy(rc) ? SIMLOG_EX_TEMPFAIL :
		    code == SQLITE_NOTADB || code == SQLITE_CORRUPT ?
		    SIMLOG_EX_IOERR : SIMLOG_EX_CANTCREAT,
		    "%s: cannot switch to WAL mode: %s",
		    path, sqlite3_errmsg(L(s)->db));
		own_limits(L(s)->db, err);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static void
lite_unschema(struct simlog_sink *s, struct simlog_schema *sc)
{
	(void)s;
	for (size_t i = 0; i < sc->ntables; i++) {
		struct lite_table *t = sc->tables[i].sink;

		if (t != NULL) {
			sqlite3_finalize(t->ins);
			sqlite3_finalize(t->owner);
		}
		free(t);
		sc->tables[i].sink = NULL;
	}
}

/* --- the checkpointer ------------------------------------------------------ */

static void *
checkpointer(void *arg)
{
	struct lite *l = arg;

	pthread_mutex_lock(&l->ck_mu);
	for (;;) {
		while (l->ck_due == 0 && !l->ck_stop)
			pthread_cond_wait(&l->ck_cv, &l->ck_mu);
		if (l->ck_stop)
			break;
		l->ck_due = 0;
		pthread_mutex_unlock(&l->ck_mu);
		/* PASSIVE: never waits on, nor holds up, a writer or a
		 * reader; what it cannot copy now, the next one does.  A
		 * failure (another process checkpointing) is left to the
		 * next commit's. */
		sqlite3_wal_checkpoint_v2(l->ckdb, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&l->ck_mu);
	}
	pthread_mutex_unlock(&l->ck_mu);
	return NULL;
}

/* Best effort: without the thread, SQLite checkpoints as it always
 * does (wal_autocheckpoint). */
static void
checkpointer_start(struct lite *l, const char *path)
{
	if (sqlite3_open_v2(path, &l->ckdb, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_exec(l->ckdb, "PRAGMA synchronous=FULL", NULL, NULL,
	    NULL) != SQLITE_OK) {
		sqlite3_close(l->ckdb);
		l->ckdb = NULL;
		return;
	}
	pthread_mutex_init(&l->ck_mu, NULL);
	pthread_cond_init(&l->ck_cv, NULL);
	if (simlog_sink_thread(&l->ck, NULL, checkpointer, l) != 0) {
		pthread_cond_destroy(&l->ck_cv);
		pthread_mutex_destroy(&l->ck_mu);
		sqlite3_close(l->ckdb);
		l->ckdb = NULL;
		return;
	}
	l->ck_started = 1;
	sqlite3_exec(l->db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL);
}

/* A commit: its pages are for the checkpointer to copy. */
static void
checkpointer_kick(struct lite *l)
{
	if (!l->ck_started)
		return;
	pthread_mutex_lock(&l->ck_mu);
	l->ck_due++;
	pthread_cond_signal(&l->ck_cv);
	pthread_mutex_unlock(&l->ck_mu);
}

/* Stop the thread; the last connection to close checkpoints the rest. */
static void
checkpointer_stop(struct lite *l)
{
	if (!l->ck_started)
		return;
	pthread_mutex_lock(&l->ck_mu);
	l->ck_stop = 1;
	pthread_cond_signal(&l->ck_cv);
	pthread_mutex_unlock(&l->ck_mu);
	pthread_join(l->ck, NULL);
	pthread_cond_destroy(&l->ck_cv);
	pthread_mutex_destroy(&l->ck_mu);
	sqlite3_close(l->ckdb);
	l->ckdb = NULL;
	l->ck_started = 0;
}

/* --- the writer ------------------------------------------------------------
 *
 * Bulk rows — a default table's, and a typed table's that no other table
 * refers to and whose rows no later record updates — are bound and
 * stepped by a thread of the sink's own while the drain goes on reading,
 * decoding and converting the next ones: SQLite's insert ceiling is then
 * the drain's.  They go to it as jobs, copied into a buffer; any other use
 * of the connection first waits until every job is done (lite_sync), so
 * the connection is only ever used by one thread at a time.  A row the
 * table refuses (a constraint) becomes a dead letter at that wait, in
 * order, as if it had been refused at once.
 */

#define HANDOFF_JOBS 8			/* jobs worth waking the writer for */
#define FILL_MAX (512u << 10)		/* bytes the drain queues before it
					 * waits for the writer */
#define FILL_MAX_COMMITTING (2u << 20)	/* the same while the writer commits:
					 * the next rows' work goes on; 4 MiB
					 * drained no faster here, and cost
					 * 4 MiB more peak RSS (make bench) */

#define NO_ROUTE UINT32_MAX		/* a batch id: one row must go in */
#define BEGIN_ROUTE (UINT32_MAX - 1)	/* none: beginning a transaction */

/* A job: this header, the statement's parameters, then the simulation
 * and the record (for a dead letter). */
struct job {
	sqlite3_stmt *st;
	uint32_t size;			/* of the job, this header included */
	uint32_t route;			/* the record's, or NO_ROUTE */
	uint32_t simlen, jlen;		/* at the end; a default table's
					 * row: 0, its parameters are they */
	uint32_t waited;		/* the record had waited for a parent */
};

enum { P_NULL, P_INT, P_REAL, P_TEXT, P_BLOB };

static int
jobs_grow(struct jobs *q, size_t more)
{
	if (q->len + more > q->cap) {
		size_t cap = q->cap ? q->cap : 64u << 10;
		unsigned char *b;

		while (cap < q->len + more)
			cap *= 2;
		if ((b = realloc(q->b, cap)) == NULL)
			return -1;
		q->b = b;
		q->cap = cap;
	}
	return 0;
}

static void
job_put(struct jobs *q, const void *p, size_t n)
{
	if (n > 0)
		memcpy(q->b + q->len, p, n);
	q->len += n;
}

static void
job_param(struct jobs *q, int kind, const void *p, size_t n)
{
	unsigned char k = (unsigned char)kind;
	uint32_t len = (uint32_t)n;

	job_put(q, &k, 1);
	if (kind == P_TEXT || kind == P_BLOB)
		job_put(q, &len, sizeof(len));
	job_put(q, p, n);
}

/* A value's room in a job, at most. */
static size_t
val_room(const struct simlog_val *v)
{
	return 1 + sizeof(uint32_t) + (v->kind == SIMLOG_V_TEXT ? v->n : 8);
}

static void
job_val(struct jobs *q, const struct simlog_val *v)
{
	if (!v->set || v->kind == SIMLOG_V_NULL)
		job_param(q, P_NULL, NULL, 0);
	else if (v->kind == SIMLOG_V_INT)
		job_param(q, P_INT, &v->i, sizeof(v->i));
	else if (v->kind == SIMLOG_V_REAL)
		job_param(q, P_REAL, &v->r, sizeof(v->r));
	else
		job_param(q, P_TEXT, v->s, v->n);
}

/* Room for a job of up to n bytes, its header begun at *at; the caller
 * adds the parameters, then job_end.  0, or -1 out of memory. */
static int
job_begin(struct lite *l, sqlite3_stmt *st, uint32_t route, size_t n,
	  size_t *at)
{
	struct job h = { st, 0, route, 0, 0, 0 };

	if (jobs_grow(&l->fill, sizeof(h) + n) < 0)
		return -1;
	*at = l->fill.len;
	job_put(&l->fill, &h, sizeof(h));
	return 0;
}

static void
job_end(struct lite *l, size_t at, const char *sim, size_t simlen,
	const char *json, size_t jlen, int waited)
{
	struct job h;

	job_put(&l->fill, sim, simlen);
	job_put(&l->fill, json, jlen);
	memcpy(&h, l->fill.b + at, sizeof(h));
	h.simlen = (uint32_t)simlen;
	h.jlen = (uint32_t)jlen;
	h.waited = waited != 0;
	h.size = (uint32_t)(l->fill.len - at);
	memcpy(l->fill.b + at, &h, sizeof(h));
	l->fill.n++;
}

/* The writer stopped.  Read by the drain's thread without the lock (to
 * queue no more), with it once the writer is idle (to say why). */
static void
wr_fail(struct lite *l, int how)
{
	__atomic_store_n(&l->wr_failed, how, __ATOMIC_RELAXED);
}

static int
wr_failed(const struct lite *l)
{
	return __atomic_load_n(&l->wr_failed, __ATOMIC_RELAXED);
}

/* A refused row, kept for lite_sync to make a dead letter of. */
static void
note_misfit(struct lite *l, const struct job *h, const char *sim,
	    size_t simlen, const char *json, size_t jlen, const char *why)
{
	size_t wlen = strlen(why);
	struct misfit m = { h->route, h->waited, simlen, jlen, wlen };

	if (jobs_grow(&l->misfits, sizeof(m) + simlen + jlen + wlen) < 0) {
		wr_fail(l, WR_OOM);
		return;
	}
	job_put(&l->misfits, &m, sizeof(m));
	job_put(&l->misfits, sim, simlen);
	job_put(&l->misfits, json, jlen);
	job_put(&l->misfits, why, wlen);
	l->misfits.n++;
}

/* Run the writer's jobs (in its thread, the drain's thread waiting or
 * queueing more).  A failure stops it, with what lite_sync needs to say
 * it (the routes are the drain's thread's to read). */
static void
run_jobs(struct lite *l, struct jobs *q)
{
	size_t at = 0;

	while (at < q->len && !wr_failed(l) &&
	    !__atomic_load_n(&l->wr_abort, __ATOMIC_RELAXED)) {
		const unsigned char *p = q->b + at, *end, *text[2] = { NULL };
		uint32_t tlen[2] = { 0, 0 };
		struct job h;
		int rc, k;

		memcpy(&h, p, sizeof(h));
		end = p + h.size - h.simlen - h.jlen;
		p += sizeof(h);
		for (k = 1; p < end; k++) {
			unsigned char kind = *p++;
			uint32_t n = 8;
			sqlite3_int64 i;
			double r;

			if (kind == P_TEXT || kind == P_BLOB) {
				memcpy(&n, p, sizeof(n));
				p += sizeof(n);
			}
			switch (kind) {
			case P_NULL:
				n = 0;
				sqlite3_bind_null(h.st, k);
				break;
			case P_INT:
				memcpy(&i, p, sizeof(i));
				sqlite3_bind_int64(h.st, k, i);
				break;
			case P_REAL:
				memcpy(&r, p, sizeof(r));
				sqlite3_bind_double(h.st, k, r);
				break;
			case P_TEXT:
				sqlite3_bind_text(h.st, k, (const char *)p,
				    (int)n, SQLITE_STATIC);
				if (k <= 2) {
					text[k - 1] = p;
					tlen[k - 1] = n;
				}
				break;
			default:
				sqlite3_bind_blob(h.st, k, p, (int)n,
				    SQLITE_STATIC);
				break;
			}
			p += n;
		}
		rc = sqlite3_step(h.st);
		sqlite3_reset(h.st);
		if (rc == SQLITE_DONE && h.route == NO_ROUTE &&
		    sqlite3_changes(l->db) != 1)
			wr_fail(l, WR_MARKED);
		else if ((rc == SQLITE_CONSTRAINT || rc == SQLITE_MISMATCH) &&
		    h.route != NO_ROUTE && sqlite3_get_autocommit(l->db) == 0) {
			/* A default table's row: the simulation and the
			 * record are its two parameters. */
			if (h.simlen == 0 && h.jlen == 0)
				note_misfit(l, &h, (const char *)text[0],
				    tlen[0], (const char *)text[1], tlen[1],
				    sqlite3_errmsg(l->db));
			else
				note_misfit(l, &h, (const char *)end,
				    h.simlen, (const char *)end + h.simlen,
				    h.jlen, sqlite3_errmsg(l->db));
		} else if (rc != SQLITE_DONE) {
			l->wr_rc = rc;
			l->wr_route = h.route;
			l->wr_errno = sqlite3_system_errno(l->db);
			snprintf(l->wr_msg, sizeof(l->wr_msg), "%s%s",
			    sqlite3_errmsg(l->db), sqlite3_get_autocommit(l->db) ?
			    ROLLED_BACK : "");
			wr_fail(l, WR_SQLITE);
		}
		at += h.size;
	}
	q->len = q->n = 0;
}

/* PRAGMA data_version: it changes when another connection commits; -1
 * if it cannot be read. */
static sqlite3_int64
data_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	sqlite3_int64 v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/*
 * The commit lite_commit_next asked for, in the writer's thread: COMMIT
 * (waiting out a busy checkpoint, as lite_commit does), then BEGIN the
 * next transaction.  A failed commit fails every job after it; a failed
 * BEGIN too, and never lets them run outside a transaction.
 */
static void
commit_then_begin(struct lite *l)
{
	/* Read while the write lock is still held, so that any commit of
	 * another connection before BEGIN has taken it again shows. */
	sqlite3_int64 before = data_version(l->db);
	int rc;

	while ((rc = sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL)) !=
	    SQLITE_OK && busy(rc) && sqlite3_get_autocommit(l->db) == 0 &&
	    !(l->stop && *l->stop))
		;
	if (rc != SQLITE_OK) {
		l->commit_rc = rc;
		l->commit_errno = sqlite3_system_errno(l->db);
		snprintf(l->commit_msg, sizeof(l->commit_msg), "%s%s",
		    sqlite3_errmsg(l->db), sqlite3_get_autocommit(l->db) ?
		    ROLLED_BACK : "");
		l->commit_failed = 1;
		wr_fail(l, WR_COMMIT);
		return;
	}
	checkpointer_kick(l);
	if ((rc = sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) !=
	    SQLITE_OK) {
		l->wr_rc = rc;
		l->wr_route = BEGIN_ROUTE;
		l->wr_errno = sqlite3_system_errno(l->db);
		snprintf(l->wr_msg, sizeof(l->wr_msg), "%s",
		    sqlite3_errmsg(l->db));
		wr_fail(l, WR_SQLITE);
	} else if (before < 0 || data_version(l->db) != before) {
		/* The drain looked batch ids up before this transaction held
		 * the database; another connection committed between the two
		 * transactions, so they may have changed: the transaction is
		 * done again. */
		l->wr_rc = SQLITE_BUSY;
		l->wr_route = BEGIN_ROUTE;
		l->wr_errno = 0;
		snprintf(l->wr_msg, sizeof(l->wr_msg), "another drain "
		    "committed between two transactions of this one");
		wr_fail(l, WR_SQLITE);
	}
}

/* Under wr_mu, the drain's thread not touching fill: the queued jobs
 * become the writer's to run, fill the emptied buffer. */
static void
take_fill(struct lite *l)
{
	struct jobs swap = l->run;

	l->run = l->fill;
	l->fill = swap;
}

/* Under wr_mu, the writer idle: give it the queued jobs and wake it. */
static void
give_fill(struct lite *l)
{
	take_fill(l);
	__atomic_store_n(&l->wr_busy, 1, __ATOMIC_RELEASE);
	pthread_cond_signal(&l->wr_go);
}

static void *
writer(void *arg)
{
	struct lite *l = arg;

	pthread_mutex_lock(&l->wr_mu);
	for (;;) {
		while (!l->wr_busy && !l->wr_stop)
			pthread_cond_wait(&l->wr_go, &l->wr_mu);
		if (l->wr_stop)
			break;
		if (l->commit_due) {
			pthread_mutex_unlock(&l->wr_mu);
			commit_then_begin(l);
			pthread_mutex_lock(&l->wr_mu);
			l->commit_due = 0;
			pthread_cond_signal(&l->wr_done);
		}
		pthread_mutex_unlock(&l->wr_mu);
		run_jobs(l, &l->run);
		pthread_mutex_lock(&l->wr_mu);
		/* The drain's thread waits, its queue left alone: take that
		 * and go on, rather than sleep until it is woken to give it
		 * (two wake-ups a batch, on a busy machine each a pause; and
		 * while it waits on Redis, the rows it queued before). */
		if (l->main_waits && l->fill.n > 0)
			take_fill(l);
		else
			__atomic_store_n(&l->wr_busy, 0, __ATOMIC_RELEASE);
		pthread_cond_signal(&l->wr_done);
	}
	pthread_mutex_unlock(&l->wr_mu);
	return NULL;
}

/* Best effort: without the thread, rows go in as they come. */
static void
writer_start(struct simlog_sink *s)
{
	struct lite *l = L(s);

	l->stop = s->stop;
	pthread_mutex_init(&l->wr_mu, NULL);
	pthread_cond_init(&l->wr_go, NULL);
	pthread_cond_init(&l->wr_done, NULL);
	if (simlog_sink_thread(&l->wr, NULL, writer, l) != 0) {
		pthread_cond_destroy(&l->wr_done);
		pthread_cond_destroy(&l->wr_go);
		pthread_mutex_destroy(&l->wr_mu);
		return;
	}
	l->wr_started = 1;
}

/* What the drain may queue before it waits: more while the writer
 * commits. */
static size_t
fill_max(const struct lite *l)
{
	return __atomic_load_n(&l->commit_due, __ATOMIC_RELAXED) ?
	    FILL_MAX_COMMITTING : FILL_MAX;
}

/* Give the queued jobs to the writer; with wait, until it has done them
 * (and with wait > 1, whatever it was given before). */
static void
hand_over(struct lite *l, int wait)
{
	pthread_mutex_lock(&l->wr_mu);
	l->main_waits = 1;
	while (l->wr_busy && (wait || l->fill.len >= fill_max(l)))
		pthread_cond_wait(&l->wr_done, &l->wr_mu);
	if (!l->wr_busy && l->fill.n > 0) {
		give_fill(l);
		while (wait && l->wr_busy)
			pthread_cond_wait(&l->wr_done, &l->wr_mu);
	}
	l->main_waits = 0;
	pthread_mutex_unlock(&l->wr_mu);
}

/* A job queued: the writer is woken once enough wait, or waited for when
 * the queue is full. */
static int
queued(struct simlog_sink *s)
{
	struct lite *l = L(s);

	if (l->fill.len >= fill_max(l) || (l->fill.n >= HANDOFF_JOBS &&
	    !__atomic_load_n(&l->wr_busy, __ATOMIC_ACQUIRE)))
		hand_over(l, 0);
	return 0;
}

/*
 * The drain's thread waits on something else (Redis) from idle = 1 until
 * idle = 0: meanwhile the writer takes what it queued, at once if it is
 * idle, else once it has done what it has, rather than wait until the
 * drain's thread queues again.
 */
static void
lite_idle(struct simlog_sink *s, int idle)
{
	struct lite *l = L(s);

	if (!l->wr_started)
		return;
	pthread_mutex_lock(&l->wr_mu);
	l->main_waits = idle;
	if (idle && !l->wr_busy && l->fill.n > 0)
		give_fill(l);
	pthread_mutex_unlock(&l->wr_mu);
}

static int reject_now(struct simlog_sink *s, const char *type,
		      const char *json, size_t len, const char *why,
		      struct simlog_err *err);

/* The writer's failure, in the words of the drain's thread's own. */
static int
writer_failed(struct simlog_sink *s, struct simlog_err *err)
{
	struct lite *l = L(s);
	const char *hint;
	int rc, errnum;

	if (l->wr_failed == WR_OOM)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if (l->wr_failed == WR_MARKED)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "%s: a batch "
		    "found missing was there when recorded", s->name);
	if (l->wr_failed == WR_COMMIT) {
		rc = l->commit_rc;
		errnum = l->commit_errno;
		simlog_seterr(err, busy(rc) && !strstr(l->commit_msg,
		    ROLLED_BACK) ? SIMLOG_EX_TEMPFAIL : SIMLOG_EX_IOERR,
		    "%s: committing: %s", s->name, l->commit_msg);
	} else {
		rc = l->wr_rc;
		errnum = l->wr_errno;
		simlog_seterr(err, busy(rc) ? SIMLOG_EX_TEMPFAIL :
		    SIMLOG_EX_IOERR, "%s: %s: %s", s->name,
		    l->wr_route == NO_ROUTE ? "recording a batch" :
		    l->wr_route == BEGIN_ROUTE ? "starting a transaction" :
		    s->routes[l->wr_route].table, l->wr_msg);
	}
	if (simlog_errno_local(errnum, &hint)) {
		size_t n = strlen(err->msg);

		err->code = SIMLOG_EX_OSERR;
		snprintf(err->msg + n, sizeof(err->msg) - n, " (%s: %s)",
		    strerror(errnum), hint);
	}
	return -1;
}

/*
 * Every job done, the connection the drain's thread's again: the rows
 * refused meanwhile become dead letters, in order; a failure of the
 * writer's is this call's.
 */
static int
lite_sync(struct simlog_sink *s, struct simlog_err *err)
{
	struct lite *l = L(s);
	size_t at = 0;
	int rc = 0;

	if (!l->wr_started)
		return 0;
	if (l->fill.n > 0 || __atomic_load_n(&l->wr_busy, __ATOMIC_ACQUIRE))
		hand_over(l, 1);
	if (l->wr_failed)
		return writer_failed(s, err);
	while (rc == 0 && at < l->misfits.len) {
		const char *p = (const char *)l->misfits.b + at;
		struct simlog_route *r;
		struct misfit m;
		char sim[sizeof(s->sim)], why[SIMLOG_ERRLEN];

		memcpy(&m, p, sizeof(m));
		p += sizeof(m);
		r = &s->routes[m.route];
		snprintf(sim, sizeof(sim), "%.*s", (int)m.simlen, p);
		snprintf(why, sizeof(why), "%.*s", (int)m.wlen,
		    p + m.simlen + m.jlen);
		/* The dead letter is the record's simulation's. */
		memcpy(l->save_sim, s->sim, sizeof(s->sim));
		memcpy(s->sim, sim, sizeof(s->sim));
		rc = reject_now(s, r->type, p + m.simlen, m.jlen, why, err);
		memcpy(s->sim, l->save_sim, sizeof(s->sim));
		if (rc == 0)
			simlog_sink_misfit(s, r, why, (int)m.waited);
		at += sizeof(m) + m.simlen + m.jlen + m.wlen;
	}
	l->misfits.len = l->misfits.n = 0;
	return rc;
}

/* The jobs of a transaction rolled back: dropped, the writer stopped at
 * its next one. */
static void
lite_drop_jobs(struct simlog_sink *s)
{
	struct lite *l = L(s);

	if (!l->wr_started)
		return;
	__atomic_store_n(&l->wr_abort, 1, __ATOMIC_RELAXED);
	l->fill.len = l->fill.n = 0;
	hand_over(l, 1);
	__atomic_store_n(&l->wr_abort, 0, __ATOMIC_RELAXED);
	l->misfits.len = l->misfits.n = 0;
	l->wr_failed = 0;
	l->commit_failed = 0;
}

static void
writer_stop(struct simlog_sink *s)
{
	struct lite *l = L(s);

	if (!l->wr_started)
		return;
	lite_drop_jobs(s);
	pthread_mutex_lock(&l->wr_mu);
	l->wr_stop = 1;
	pthread_cond_signal(&l->wr_go);
	pthread_mutex_unlock(&l->wr_mu);
	pthread_join(l->wr, NULL);
	pthread_cond_destroy(&l->wr_done);
	pthread_cond_destroy(&l->wr_go);
	pthread_mutex_destroy(&l->wr_mu);
	l->wr_started = 0;
	free(l->fill.b);
	free(l->run.b);
	free(l->misfits.b);
}

/*
 * A second connection looks batch ids up while the writer goes on: the
 * transaction holds the write lock, so what others committed stays as
 * this reader sees it, and what the transaction itself recorded the sink
 * knows (simlog_sink_mark).  Best effort: without it, expect waits for
 * the writer and asks the connection the rows go in by.
 */
static void
reader_start(struct simlog_sink *s, const char *path)
{
	struct lite *l = L(s);

	if (!l->wr_started || sqlite3_open_v2(path, &l->rdb,
	    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(l->rdb, "SELECT 1 FROM simlog_batches WHERE "
	    "batch = ?1", -1, SQLITE_PREPARE_PERSISTENT, &l->rseen,
	    NULL) != SQLITE_OK) {
		sqlite3_close(l->rdb);
		l->rdb = NULL;
		return;
	}
	sqlite3_busy_timeout(l->rdb, (int)(s->busy_timeout * 1000));
}

/*
 * Whether the path still names the file the sink has open.  A database
 * deleted or replaced under the drain would take what it commits with it
 * (into an unlinked file, or one nobody reads), while the drain deleted
 * the records from Redis: checked before each commit, and by the drain
 * before it deletes what a commit stored.
 */
static int
lite_check(struct simlog_sink *s, struct simlog_err *err)
{
	struct lite *l = L(s);
	struct stat open_st, path_st;

	if (l->fd < 0)
		return 0;
	if (fstat(l->fd, &open_st) < 0)
		return simlog_seterr(err, SIMLOG_EX_IOERR, "%s: %s", l->path,
		    strerror(errno));
	if (stat(l->path, &path_st) < 0)
		return simlog_seterr(err, SIMLOG_EX_IOERR, "%s: %s while the "
		    "drain wrote to it: nothing more is committed, nor "
		    "deleted from Redis", l->path, errno == ENOENT ?
		    "the database file was deleted" : strerror(errno));
	if (path_st.st_dev != open_st.st_dev ||
	    path_st.st_ino != open_st.st_ino)
		return simlog_seterr(err, SIMLOG_EX_IOERR, "%s: the database "
		    "file was replaced by another while the drain wrote to "
		    "it: nothing more is committed, nor deleted from Redis",
		    l->path);
	return 0;
}

static void
lite_close(struct simlog_sink *s)
{
	struct lite *l = L(s);

	if (l == NULL)
		return;
	writer_stop(s);
	checkpointer_stop(l);
	for (size_t i = 0; i < s->nroutes; i++)
		sqlite3_finalize(s->routes[i].plain);
	if (s->schema != NULL)
		lite_unschema(s, s->schema);
	sqlite3_finalize(l->mark);
	sqlite3_finalize(l->seen);
	sqlite3_finalize(l->rseen);
	sqlite3_close(l->rdb);
	sqlite3_finalize(l->reject);
	sqlite3_finalize(l->wput);
	/* SQLite neither checkpoints nor deletes the WAL of a database file
	 * deleted or replaced while open: it stays at the path, where the
	 * next database there would have it replayed into it, pages of
	 * another file.  Empty it into the lost file instead. */
	if (l->db != NULL && l->fd >= 0 && lite_check(s, NULL) < 0) {
		if (!sqlite3_get_autocommit(l->db))
			sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_wal_checkpoint_v2(l->db, NULL,
		    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	}
	sqlite3_close(l->db);
	/* Only now: closing any descriptor of the file drops the POSIX
	 * locks SQLite holds on it. */
	if (l->fd >= 0)
		close(l->fd);
	free(l->path);
	free(l);
	s->impl = NULL;
}

static int
lite_open(struct simlog_sink *s, const char *path, struct simlog_err *err)
{
	struct lite *l = calloc(1, sizeof(*l));
	int rc;

	if ((s->impl = l) == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	l->fd = -1;
	if ((l->path = strdup(path)) == NULL) {
		lite_close(s);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	}
	/* No memory statistics: they take a global mutex on every
	 * allocation, a tenth of a typed drain's time with AgentFarm's
	 * indexes.  Refused (harmlessly) once SQLite is initialized. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	rc = sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		simlog_seterr(err, SIMLOG_EX_CANTCREAT, "%s: %s", path,
		    l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
		own_limits(l->db, err);
		lite_close(s);
		return -1;
	}
	sqlite3_busy_timeout(l->db, (int)(s->busy_timeout * 1000));
	/* Only takes effect on a new database: bigger pages mean fewer
	 * system calls per drained row (a no-op on an existing file).
	 * The largest SQLite has: 64 KiB pages drain about a tenth faster
	 * than 16 KiB ones (make bench).  But an index on keys that come in
	 * no order (AgentFarm's agent ids) inserts into the middle of its
	 * pages, moving half a page each time: with a schema, 16 KiB pages
	 * drain AgentFarm's tables about 5% faster than 64 KiB ones. */
	sqlite3_exec(l->db, s->typed ? "PRAGMA page_size=16384" :
	    "PRAGMA page_size=65536", NULL, NULL, NULL);
	/* WAL lets readers query while a drain writes; FULL makes a commit
	 * durable before the drained entries are deleted from Redis. */
	/* Foreign keys are enforced, as in PostgreSQL: a row whose parent
	 * is not there is refused by the database too (parents.c holds it
	 * back before that). */
	if (wal(s, path, err) < 0 ||
	    exec(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
	    "CREATE TABLE IF NOT EXISTS simlog_batches ("
	    " batch BLOB PRIMARY KEY,"
	    " simulation_id TEXT NOT NULL,"
	    " records INTEGER NOT NULL,"
	    " drained_at REAL NOT NULL"
	    ") WITHOUT ROWID;"
	    "CREATE TABLE IF NOT EXISTS simlog_rejects ("
	    " id INTEGER PRIMARY KEY,"
	    " simulation_id TEXT NOT NULL,"
	    " type TEXT NOT NULL,"
	    " data TEXT NOT NULL,"
	    " error TEXT NOT NULL,"
	    " drained_at REAL NOT NULL"
	    ");"
	    "CREATE TABLE IF NOT EXISTS simlog_waiting ("
	    " id INTEGER PRIMARY KEY,"
	    " simulation_id TEXT NOT NULL,"
	    " type TEXT NOT NULL,"
	    " data TEXT NOT NULL,"
	    " parent TEXT NOT NULL,"
	    " parent_key TEXT NOT NULL,"
	    " drained_at REAL NOT NULL"
	    ");"
	    "CREATE INDEX IF NOT EXISTS simlog_waiting_parent"
	    " ON simlog_waiting (parent, parent_key);",
	    "creating simlog's tables", err) < 0 ||
	    prepare(s, "INSERT INTO simlog_batches "
	    "(batch, simulation_id, records, drained_at) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT (batch) DO NOTHING", &l->mark, "simlog_batches",
	    err) < 0 ||
	    prepare(s, "SELECT 1 FROM simlog_batches WHERE batch = ?1",
	    &l->seen, "simlog_batches", err) < 0 ||
	    prepare(s, "INSERT INTO simlog_rejects "
	    "(simulation_id, type, data, error, drained_at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)", &l->reject, "simlog_rejects",
	    err) < 0 ||
	    prepare(s, "INSERT INTO simlog_waiting (simulation_id, type, "
	    "data, parent, parent_key, drained_at) VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6)", &l->wput, "simlog_waiting", err) < 0) {
		lite_close(s);
		return -1;
	}
	/* The file SQLite has open (the WAL switch made it if it was not
	 * there); a name that is no file (":memory:") goes unchecked. */
	l->fd = open(path, O_RDONLY | O_CLOEXEC);
	checkpointer_start(l, path);
	writer_start(s);
	reader_start(s, path);
	return 0;
}

/* --- tables ---------------------------------------------------------------- */

static void
sql_literal(struct simlog_sql *b, const struct simlog_column *c)
{
	switch (c->dkind) {
	case SIMLOG_D_NONE:
	case SIMLOG_D_NULL:
		simlog_sqlf(b, "NULL");
		break;
	case SIMLOG_D_INT:
	case SIMLOG_D_REAL:
		simlog_sqlf(b, "%s", c->dform);
		break;
	case SIMLOG_D_TEXT:
		simlog_sqlf(b, "'");
		for (const char *p = c->dtext; *p; p++)
			simlog_sqlf(b, *p == '\'' ? "''" : "%c", *p);
		simlog_sqlf(b, "'");
		break;
	}
}

/* The declared type.  JSON, ID and DATETIME are kept as TEXT: SQLite's
 * JSON functions read it, TEXT affinity never turns "5" into a number, and
 * a date-time's text is what SQLAlchemy and datetime.fromisoformat read. */
static const char *
decl_type(const struct simlog_column *c)
{
	return c->type == SIMLOG_C_JSON || c->type == SIMLOG_C_ID ||
	    c->type == SIMLOG_C_DATETIME ? "TEXT" : simlog_ctype_names[c->type];
}

static void
column_def(struct simlog_sql *b, const struct simlog_schema *sc,
	   const struct simlog_column *c, int adding, int key)
{
	simlog_sqlf(b, "\"%s\" %s", c->name, decl_type(c));
	if (c->primary && !adding)
		simlog_sqlf(b, " PRIMARY KEY");
	if (c->unique && !adding)
		simlog_sqlf(b, " UNIQUE");
	/* A key is never NULL (SQLite would let a non-INTEGER one be). */
	if (c->notnull || (!adding && ((c->primary &&
	    c->type != SIMLOG_C_INTEGER) || key)))
		simlog_sqlf(b, " NOT NULL");
	if (c->dkind != SIMLOG_D_NONE) {
		simlog_sqlf(b, " DEFAULT ");
		sql_literal(b, c);
	}
	if (!adding)
		simlog_sql_references(b, sc, c);
}

static void
create_sql(struct simlog_sql *b, const struct simlog_schema *sc,
	   const struct simlog_stable *t)
{
	size_t i;

	simlog_sqlf(b, "CREATE TABLE IF NOT EXISTS \"%s\" (", t->name);
	for (i = 0; i < t->ncols; i++) {
		simlog_sqlf(b, i ? ", " : "");
		column_def(b, sc, &t->cols[i], 0, simlog_stable_in_key(t,
		    &t->cols[i]));
	}
	simlog_sql_constraints(b, t);
	simlog_sqlf(b, ")");
}

/* Whether the table has column name (SQLite compares names without
 * regard to case). */
static int
has_column(sqlite3 *db, const char *table, const char *name)
{
	sqlite3_stmt *st;
	int found = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) "
	    "WHERE name = ?2 COLLATE NOCASE", -1, &st, NULL) != SQLITE_OK)
		return 1;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* A column added to the schema later joins the existing table. */
static int
add_columns(struct simlog_sink *s, const struct simlog_stable *t,
	    struct simlog_err *err)
{
	struct simlog_sql b = { NULL, 0, 0, 0 };
	int rc = 0;

	for (size_t i = 0; i < t->ncols && rc == 0; i++) {
		const struct simlog_column *c = &t->cols[i];

		if (has_column(L(s)->db, t->name, c->name))
			continue;
		if ((rc = simlog_stable_addable(t, c, err)) == 0) {
			b.len = 0;
			simlog_sqlf(&b, "ALTER TABLE \"%s\" ADD COLUMN ", t->name);
			column_def(&b, NULL, c, 1, 0);
			rc = b.oom ? simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory") : exec(s, b.s, t->name, err);
		}
	}
	free(b.s);
	return rc;
}

/*
 * The insert: ?1..?n the row's values (defaults filled in).  Under on
 * duplicate update, ?n+1..?2n are the record's own values (NULL where it
 * left a field out or gave null): the row keeps its value for those.
 */
static void
insert_sql(struct simlog_sql *b, const struct simlog_stable *t)
{
	size_t i;
	int first = 1;

	simlog_sqlf(b, "INSERT INTO \"%s\" (", t->name);
	simlog_sql_columns(b, t);
	simlog_sqlf(b, ") VALUES (");
	for (i = 0; i < t->ncols; i++)
		simlog_sqlf(b, "%s?%zu", i ? ", " : "", i + 1);
	simlog_sqlf(b, ")");
	if (t->on_dup == SIMLOG_DUP_IGNORE) {
		simlog_sqlf(b, " ON CONFLICT DO NOTHING");
		return;
	}
	if (t->on_dup != SIMLOG_DUP_UPDATE)
		return;
	for (i = 0; i < t->ncols; i++) {
		const struct simlog_column *c = &t->cols[i];

		if (c->primary || c->is_sim || simlog_stable_in_key(t, c))
			continue;
		simlog_sqlf(b, "%s\"%s\" = coalesce(?%zu, \"%s\")",
		    first ? " ON CONFLICT DO UPDATE SET " : ", ",
		    c->name, t->ncols + i + 1, c->name);
		first = 0;
	}
	if (first)
		simlog_sqlf(b, " ON CONFLICT DO NOTHING");
	else if (t->owner_check)
		/* Never another simulation's row: 0 changes, a dead letter. */
		simlog_sqlf(b, " WHERE \"%s\".\"%s\" IS excluded.\"%s\"",
		    t->name, t->cols[t->sim_col].name,
		    t->cols[t->sim_col].name);
}

/* The statement that finds which simulation owns a key (owner_check). */
static int
owner_stmt(struct simlog_sink *s, const struct simlog_stable *t,
	   struct lite_table *lt, struct simlog_err *err)
{
	struct simlog_sql b = { NULL, 0, 0, 0 };
	const char *cols[8];
	size_t n = simlog_stable_conflict_cols(t, cols, 8);
	int rc;

	sqlite3_finalize(lt->owner);
	lt->owner = NULL;
	lt->nokey = 0;
	if (!t->owner_check)
		return 0;
	simlog_sqlf(&b, "SELECT \"%s\" FROM \"%s\" WHERE ",
	    t->cols[t->sim_col].name, t->name);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < t->ncols; k++)
			if (strcasecmp(t->cols[k].name, cols[i]) == 0)
				lt->okey[lt->nokey++] = (int)k;
		simlog_sqlf(&b, "%s\"%s\" IS ?%zu", i ? " AND " : "", cols[i],
		    i + 1);
	}
	rc = b.oom ? simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory") :
	    prepare(s, b.s, &lt->owner, t->name, err);
	free(b.s);
	return rc;
}

/* The table's indexes, made with it or added to it. */
static int
make_indexes(struct simlog_sink *s, const struct simlog_stable *t,
	     struct simlog_err *err)
{
	struct simlog_sql b = { NULL, 0, 0, 0 };
	int rc;

	if (t->nidx == 0)
		return 0;
	simlog_sql_indexes(&b, t);
	rc = b.oom ? simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory") :
	    exec(s, b.s, t->name, err);
	free(b.s);
	return rc;
}

/* SQLite's type affinity of a declared type (datatype3.html, 3.1):
 * i INTEGER, t TEXT, b BLOB (none), r REAL, n NUMERIC. */
static char
affinity(const char *decl)
{
	char up[64];
	size_t i;

	for (i = 0; decl[i] && i + 1 < sizeof(up); i++)
		up[i] = (char)toupper((unsigned char)decl[i]);
	up[i] = '\0';
	if (strstr(up, "INT"))
		return 'i';
	if (strstr(up, "CHAR") || strstr(up, "CLOB") || strstr(up, "TEXT"))
		return 't';
	if (strstr(up, "BLOB") || up[0] == '\0')
		return 'b';
	if (strstr(up, "REAL") || strstr(up, "FLOA") || strstr(up, "DOUB"))
		return 'r';
	return 'n';
}

/* Whether a column of that affinity keeps the schema type's values as
 * they are bound (NUMERIC, as SQLAlchemy declares JSON, BOOLEAN and
 * DATETIME columns, keeps those). */
static int
takes(char aff, enum simlog_ctype want)
{
	if (aff == 'b')
		return 1;
	switch (want) {
	case SIMLOG_C_INTEGER:
		return aff == 'i' || aff == 'n';
	case SIMLOG_C_REAL:
		/* An INTEGER column keeps 2.0 as 2: the same number. */
		return aff == 'r' || aff == 'i' || aff == 'n';
	case SIMLOG_C_BOOLEAN:
		return aff == 'i' || aff == 'n';
	case SIMLOG_C_JSON:
	case SIMLOG_C_DATETIME:
		return aff == 't' || aff == 'n';
	default:
		return aff == 't';
	}
}

/* Whether column c of table holds JSON strings ("..." in quotes), as a
 * JSON column does, where the schema wants plain text: the first 100
 * values of its first 10000 rows are all such. */
static int
holds_json_strings(struct simlog_sink *s, const char *table, const char *col)
{
	char sql[512];
	sqlite3_stmt *st;
	int yes = 0;

	snprintf(sql, sizeof(sql), "SELECT count(*), coalesce(sum(v GLOB "
	    "'\"*' AND json_valid(v) AND json_type(v) = 'text'), 0) FROM "
	    "(SELECT v FROM (SELECT \"%s\" AS v FROM \"%s\" LIMIT 10000) "
	    "WHERE v IS NOT NULL LIMIT 100)", col, table);
	if (sqlite3_prepare_v2(L(s)->db, sql, -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		yes = sqlite3_column_int(st, 0) > 0 &&
		    sqlite3_column_int(st, 0) == sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	return yes;
}

/*
 * A table that is there already: each of its columns the schema names
 * must take the schema's values, and none the schema leaves out may
 * refuse every row (NOT NULL without a default).  Found before the first
 * row; what to do is said.
 */
static int
check_existing(struct simlog_sink *s, const struct simlog_stable *t,
	       struct simlog_err *err)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (sqlite3_prepare_v2(L(s)->db, "SELECT name, type, \"notnull\", "
	    "dflt_value IS NOT NULL, pk FROM pragma_table_info(?1)", -1, &st,
	    NULL) != SQLITE_OK)
		return fail(s, err, sqlite3_errcode(L(s)->db), t->name);
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *decl = (const char *)sqlite3_column_text(st, 1);
		const struct simlog_column *c = NULL;
		char found[96], fix[SIMLOG_ERRLEN / 2];

		for (size_t i = 0; i < t->ncols && c == NULL; i++)
			if (strcasecmp(t->cols[i].name, name) == 0)
				c = &t->cols[i];
		if (c == NULL) {
			if (sqlite3_column_int(st, 2) &&
			    !sqlite3_column_int(st, 3) &&
			    !sqlite3_column_int(st, 4))
				rc = simlog_seterr(err, SIMLOG_EX_CONFIG,
				    "table %s has column %s, NOT NULL without "
				    "a default, which the schema does not "
				    "fill: every row would be refused; nothing "
				    "was drained.  Give it a default, or add "
				    "it to the schema", t->name, name);
			continue;
		}
		snprintf(found, sizeof(found), "%s", decl && *decl ? decl :
		    "no type");
		if (!takes(affinity(decl ? decl : ""), c->type)) {
			snprintf(fix, sizeof(fix), "SQLite cannot change a "
			    "column's type: rebuild the table with the "
			    "schema's types and copy its rows (see "
			    "simlog-schema(5), OLD DATABASES), or drain into a "
			    "new database");
			rc = simlog_sink_type_mismatch(s, t, c, found, fix,
			    err);
		} else if ((c->type == SIMLOG_C_TEXT ||
		    c->type == SIMLOG_C_ID) && affinity(decl ? decl : "") ==
		    't' && holds_json_strings(s, t->name, c->name)) {
			snprintf(fix, sizeof(fix), "To keep the text they "
			    "hold: UPDATE \"%s\" SET \"%s\" = json_extract("
			    "\"%s\", '$') WHERE json_valid(\"%s\") AND "
			    "json_type(\"%s\") = 'text'", t->name, c->name,
			    c->name, c->name, c->name);
			rc = simlog_sink_type_mismatch(s, t, c,
			    "JSON strings (\"...\" in quotes, as a JSON column "
			    "keeps them)", fix, err);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

static int
apply_table(struct simlog_sink *s, struct simlog_stable *t,
	    struct simlog_err *err)
{
	struct simlog_sql b = { NULL, 0, 0, 0 };
	struct lite_table *lt = t->sink;
	int rc;

	if (check_existing(s, t, err) < 0)
		return -1;
	create_sql(&b, s->schema, t);
	if (b.oom || exec(s, b.s, t->name, err) < 0 ||
	    add_columns(s, t, err) < 0 || make_indexes(s, t, err) < 0) {
		rc = b.oom ? simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "out of memory") : -1;
		free(b.s);
		return rc;
	}
	if (lt == NULL && (t->sink = lt = calloc(1, sizeof(*lt))) == NULL) {
		free(b.s);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	}
	b.len = 0;
	insert_sql(&b, t);
	sqlite3_finalize(lt->ins);
	lt->ins = NULL;
	lt->raw = t->on_dup == SIMLOG_DUP_UPDATE;
	rc = b.oom ? simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory") :
	    sqlite3_prepare_v3(L(s)->db, b.s, -1, SQLITE_PREPARE_PERSISTENT,
	    &lt->ins, NULL) != SQLITE_OK ? simlog_seterr(err, SIMLOG_EX_IOERR,
	    "table %s: %s", t->name, sqlite3_errmsg(L(s)->db)) : 0;
	free(b.s);
	return rc < 0 ? rc : owner_stmt(s, t, lt, err);
}

static int
lite_apply_schema(struct simlog_sink *s, struct simlog_schema *sc,
		  struct simlog_err *err)
{
	/* Eight MiB of pages (the default is two): indexes on keys that come
	 * in no order, such as AgentFarm's agent ids, change pages all over
	 * their trees, and a page read again costs a system call.  Default
	 * tables only ever append, and keep SQLite's two. */
	sqlite3_exec(L(s)->db, "PRAGMA cache_size=-8192", NULL, NULL, NULL);
	/* Under the write lock: two drains never race an ALTER. */
	if (lite_sync(s, err) < 0 ||
	    exec(s, "BEGIN IMMEDIATE", "applying the schema", err) < 0)
		return -1;
	for (size_t i = 0; i < sc->ntables; i++)
		if (apply_table(s, &sc->tables[i], err) < 0) {
			sqlite3_exec(L(s)->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	return exec(s, "COMMIT", "applying the schema", err);
}

static int
lite_plain_table(struct simlog_sink *s, struct simlog_route *r,
		 struct simlog_err *err)
{
	char ident[160], sql[512];

	if (simlog_sink_ident(r->table, strlen(r->table), ident,
	    sizeof(ident)) < 0)
		return simlog_seterr(err, SIMLOG_EX_DATAERR, "record type "
		    "'%s': not a table name", r->type);
	snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS %s ("
	    "id INTEGER PRIMARY KEY, simulation_id TEXT NOT NULL, "
	    "data TEXT NOT NULL)", ident);
	if (lite_sync(s, err) < 0 || exec(s, sql, ident, err) < 0)
		return -1;
	snprintf(sql, sizeof(sql),
	    "INSERT INTO %s (simulation_id, data) VALUES (?1, ?2)", ident);
	return prepare(s, sql, (sqlite3_stmt **)&r->plain, ident, err);
}

static void
lite_forget(struct simlog_sink *s, struct simlog_route *r)
{
	(void)s;
	sqlite3_finalize(r->plain);
	r->plain = NULL;
}

/* --- transactions ----------------------------------------------------------- */

static int
lite_begin(struct simlog_sink *s, const char *sim, struct simlog_err *err)
{
	(void)sim;
	if (exec(s, "BEGIN IMMEDIATE", "starting a transaction", err) < 0)
		return -1;
	L(s)->in_txn = 1;
	return 0;
}

static int
lite_mark(struct simlog_sink *s, const unsigned char *id, uint32_t records,
	  int *dup, struct simlog_err *err)
{
	sqlite3_stmt *st = L(s)->mark;
	int r;

	if (lite_sync(s, err) < 0)
		return -1;
	sqlite3_bind_blob(st, 1, id, SIMLOG_BATCH_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->sim, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, records);
	sqlite3_bind_double(st, 4, simlog_now_wall());
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return fail(s, err, r, "recording a batch");
	*dup = sqlite3_changes(L(s)->db) == 0;
	return 0;
}

static int
lite_expect(struct simlog_sink *s, const unsigned char *ids, size_t n,
	    unsigned char *found, struct simlog_err *err)
{
	sqlite3 *db = L(s)->rdb ? L(s)->rdb : L(s)->db;
	sqlite3_stmt *st = L(s)->rdb ? L(s)->rseen : L(s)->seen;

	if (db == L(s)->db && lite_sync(s, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int r;

		sqlite3_bind_blob(st, 1, ids + i * SIMLOG_BATCH_ID_LEN,
		    SIMLOG_BATCH_ID_LEN, SQLITE_STATIC);
		r = sqlite3_step(st);
		sqlite3_reset(st);
		if (r != SQLITE_ROW && r != SQLITE_DONE) {
			simlog_seterr(err, busy(r) ? SIMLOG_EX_TEMPFAIL :
			    SIMLOG_EX_IOERR, "%s: looking up batches: %s",
			    s->name, sqlite3_errmsg(db));
			own_limits(db, err);
			return -1;
		}
		found[i] = r == SQLITE_ROW;
	}
	return 0;
}

/* The transaction holds the write lock: an id found missing stays so,
 * and the writer records it with the rows. */
static int
lite_mark_new(struct simlog_sink *s, const unsigned char *id,
	      uint32_t records, struct simlog_err *err)
{
	struct lite *l = L(s);
	size_t slen = strlen(s->sim), at;
	sqlite3_int64 n = records;
	double now = simlog_now_wall();
	int dup;

	if (!l->wr_started || !l->in_txn) {
		if (lite_mark(s, id, records, &dup, err) < 0)
			return -1;
		return dup ? simlog_seterr(err, SIMLOG_EX_SOFTWARE, "%s: a "
		    "batch found missing was there when recorded",
		    s->name) : 0;
	}
	if (wr_failed(l))
		return lite_sync(s, err);
	if (job_begin(l, l->mark, NO_ROUTE, 64 + slen, &at) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	job_param(&l->fill, P_BLOB, id, SIMLOG_BATCH_ID_LEN);
	job_param(&l->fill, P_TEXT, s->sim, slen);
	job_param(&l->fill, P_INT, &n, sizeof(n));
	job_param(&l->fill, P_REAL, &now, sizeof(now));
	job_end(l, at, "", 0, "", 0, 0);
	return queued(s);
}

static int
lite_insert_plain(struct simlog_sink *s, struct simlog_route *r,
		  const char *json, size_t len, struct simlog_err *err)
{
	struct lite *l = L(s);
	sqlite3_stmt *st = r->plain;
	size_t slen = strlen(s->sim), at;
	int rc;

	/* In a transaction: a row outside one is committed on its own,
	 * and the caller is told how it went. */
	if (l->wr_started && l->in_txn) {
		if (wr_failed(l))
			return lite_sync(s, err);
		if (job_begin(l, st, (uint32_t)(r - s->routes), 16 + slen + len,
		    &at) < 0)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		job_param(&l->fill, P_TEXT, s->sim, slen);
		job_param(&l->fill, P_TEXT, json, len);
		job_end(l, at, "", 0, "", 0, 0);
		return queued(s);
	}
	sqlite3_bind_text(st, 1, s->sim, (int)slen, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, json, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if ((rc == SQLITE_CONSTRAINT || rc == SQLITE_MISMATCH) && !txn_lost(s))
		return simlog_seterr(err, SIMLOG_EX_DATAERR, "%s",
		    sqlite3_errmsg(L(s)->db)), 1;
	return fail(s, err, rc, r->table);
}

static void
bind(sqlite3_stmt *st, int k, const struct simlog_val *v)
{
	switch (v->kind) {
	case SIMLOG_V_NULL:
		sqlite3_bind_null(st, k);
		break;
	case SIMLOG_V_INT:
		sqlite3_bind_int64(st, k, v->i);
		break;
	case SIMLOG_V_REAL:
		sqlite3_bind_double(st, k, v->r);
		break;
	case SIMLOG_V_TEXT:
		sqlite3_bind_text(st, k, v->s, (int)v->n, SQLITE_STATIC);
		break;
	}
}

/* On duplicate update changed nothing: the key's row is another
 * simulation's (1, a dead letter saying whose), or the record's own
 * simulation's with nothing to change (0). */
static int
owned_elsewhere(struct simlog_sink *s, const struct simlog_stable *t,
		const struct lite_table *lt, const struct simlog_val *vals,
		struct simlog_err *err)
{
	sqlite3_stmt *st = lt->owner;
	const struct simlog_val *sv = &vals[t->sim_col];
	int rc, mine = 1;

	for (size_t i = 0; i < lt->nokey; i++)
		bind(st, (int)i + 1, &vals[lt->okey[i]]);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *o = (const char *)sqlite3_column_text(st, 0);

		mine = o != NULL && strlen(o) == sv->n &&
		    memcmp(o, sv->s, sv->n) == 0;
		if (!mine)
			simlog_seterr(err, SIMLOG_EX_DATAERR, "%s: the row of "
			    "this key belongs to simulation '%s' (on duplicate "
			    "update changes only the record's own "
			    "simulation's rows)", t->name, o ? o : "(null)");
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(s, err, rc, t->name);
	return mine ? 0 : 1;
}

/* Rows no later one updates nor refers to go to the writer. */
static int
bulk_table(const struct simlog_stable *t)
{
	const struct lite_table *lt = t->sink;

	return !lt->raw && lt->owner == NULL && !t->referenced;
}

/* Whether the route's records are queued for the writer (in a
 * transaction), or written at once, after every queued job.  A type a
 * strict schema does not know is a dead letter either way: it keeps its
 * place among the queued. */
static int
lite_queues(const struct simlog_sink *s, const struct simlog_route *r)
{
	return L(s)->wr_started && (r->st == NULL || bulk_table(r->st));
}

/* Whether the schema's tables are of both kinds. */
static int
lite_splits(const struct simlog_sink *s)
{
	int bulk = 0, direct = 0;

	if (!L(s)->wr_started || s->schema == NULL)
		return 0;
	for (size_t i = 0; i < s->schema->ntables; i++)
		if (bulk_table(&s->schema->tables[i]))
			bulk = 1;
		else
			direct = 1;
	return bulk && direct;
}

static int
lite_insert_row(struct simlog_sink *s, struct simlog_route *r,
		const struct simlog_val *vals, const char *json, size_t len,
		struct simlog_err *err)
{
	const struct simlog_stable *t = r->st;
	const struct lite_table *lt = t->sink;
	struct lite *l = L(s);
	sqlite3_stmt *st = lt->ins;
	int n = (int)t->ncols, rc;

	if (l->wr_started && l->in_txn && bulk_table(t)) {
		size_t need = len + strlen(s->sim), at;

		if (wr_failed(l))
			return lite_sync(s, err);
		for (int i = 0; i < n; i++)
			need += val_room(&vals[i]);
		if (job_begin(l, st, (uint32_t)(r - s->routes), need, &at) < 0)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		for (int i = 0; i < n; i++)
			job_val(&l->fill, &vals[i]);
		job_end(l, at, s->sim, strlen(s->sim), json, len,
		    s->from_wait);
		return queued(s);
	}
	if (lite_sync(s, err) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		const struct simlog_val *v = &vals[i];

		if (v->set)
			bind(st, i + 1, v);
		else
			sqlite3_bind_null(st, i + 1);
		if (!lt->raw)
			continue;
		if (v->set && !v->dflt)
			bind(st, n + i + 1, v);
		else
			sqlite3_bind_null(st, n + i + 1);
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return lt->owner != NULL && sqlite3_changes(L(s)->db) == 0 ?
		    owned_elsewhere(s, t, lt, vals, err) : 0;
	if ((rc == SQLITE_CONSTRAINT || rc == SQLITE_MISMATCH) && !txn_lost(s))
		return simlog_seterr(err, SIMLOG_EX_DATAERR, "%s",
		    sqlite3_errmsg(L(s)->db)), 1;
	return fail(s, err, rc, t->name);
}

static int
reject_now(struct simlog_sink *s, const char *type, const char *json,
	   size_t len, const char *why, struct simlog_err *err)
{
	sqlite3_stmt *st = L(s)->reject;
	int r;

	sqlite3_bind_text(st, 1, s->sim, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, json, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, why, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 5, simlog_now_wall());
	r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? 0 : fail(s, err, r, "simlog_rejects");
}

static int
lite_reject(struct simlog_sink *s, const char *type, const char *json,
	    size_t len, const char *why, struct simlog_err *err)
{
	if (lite_sync(s, err) < 0)
		return -1;
	return reject_now(s, type, json, len, why, err);
}

/* --- foreign keys ----------------------------------------------------------- */

static int
lite_parent_has(struct simlog_sink *s, struct simlog_parent *p,
		const char *key, size_t n, int *found, struct simlog_err *err)
{
	char sql[300];
	sqlite3_stmt *st;
	int rc;

	if (lite_sync(s, err) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT 1 FROM \"%s\" WHERE \"%s\" = ?1 "
	    "LIMIT 1", p->st->name, p->st->cols[p->col].name);
	if (sqlite3_prepare_v2(L(s)->db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail(s, err, sqlite3_errcode(L(s)->db), p->name);
	sqlite3_bind_text(st, 1, key, (int)n, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(s, err, rc, p->name);
	*found = rc == SQLITE_ROW;
	return 0;
}

static int
lite_wait_put(struct simlog_sink *s, const char *sim, const char *type,
	      const char *json, size_t len, const struct simlog_parent *p,
	      const char *key, size_t n, struct simlog_err *err)
{
	sqlite3_stmt *st = L(s)->wput;
	int r;

	if (lite_sync(s, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, sim, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, json, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, key, (int)n, SQLITE_STATIC);
	sqlite3_bind_double(st, 6, simlog_now_wall());
	r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE ? 0 : fail(s, err, r, "simlog_waiting");
}

static int
lite_wait_list(struct simlog_sink *s,
	       void (*fn)(struct simlog_sink *, const char *, const char *),
	       unsigned long long *rows, struct simlog_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (lite_sync(s, err) < 0)
		return -1;
	if (sqlite3_prepare_v2(L(s)->db, "SELECT parent, parent_key, count(*) "
	    "FROM simlog_waiting GROUP BY parent, parent_key", -1, &st,
	    NULL) != SQLITE_OK)
		return fail(s, err, sqlite3_errcode(L(s)->db),
		    "simlog_waiting");
	*rows = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fn(s, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1));
		*rows += (unsigned long long)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(s, err, rc, "simlog_waiting");
}

static int
lite_wait_take(struct simlog_sink *s, const struct simlog_parent *p,
	       const char *key, size_t n,
	       int (*fn)(struct simlog_sink *, const char *, const char *,
			 const char *, size_t, struct simlog_err *),
	       struct simlog_err *err)
{
	static const char *const sql[2] = {
		"SELECT simulation_id, type, data FROM simlog_waiting "
		"WHERE parent = ?1 AND parent_key = ?2 ORDER BY id",
		"DELETE FROM simlog_waiting WHERE parent = ?1 AND "
		"parent_key = ?2",
	};

	if (lite_sync(s, err) < 0)
		return -1;
	for (int k = 0; k < 2; k++) {
		sqlite3_stmt *st;
		int rc;

		if (sqlite3_prepare_v2(L(s)->db, sql[k], -1, &st, NULL) !=
		    SQLITE_OK)
			return fail(s, err, sqlite3_errcode(L(s)->db),
			    "simlog_waiting");
		sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, key, (int)n, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			if (fn(s, (const char *)sqlite3_column_text(st, 0),
			    (const char *)sqlite3_column_text(st, 1),
			    (const char *)sqlite3_column_text(st, 2),
			    (size_t)sqlite3_column_bytes(st, 2), err) < 0) {
				sqlite3_finalize(st);
				return -1;
			}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return fail(s, err, rc, "simlog_waiting");
	}
	return 0;
}

static int
lite_commit(struct simlog_sink *s, struct simlog_err *err)
{
	int rc;

	if (lite_sync(s, err) < 0 || lite_check(s, err) < 0)
		return -1;
	/* COMMIT can meet a busy checkpoint; the busy handler waits, and
	 * the transaction stays open to try again. */
	while ((rc = exec(s, "COMMIT", "committing", err)) < 0 &&
	    err->code == SIMLOG_EX_TEMPFAIL && !(s->stop && *s->stop))
		;
	if (rc == 0) {
		L(s)->in_txn = 0;
		checkpointer_kick(L(s));
	}
	return rc;
}

static int
lite_overlaps(const struct simlog_sink *s)
{
	return L(s)->wr_started && L(s)->in_txn;
}

/* Every job done, the writer is given the commit, and the jobs queued
 * meanwhile go in after it (in the transaction it begins). */
static int
lite_commit_next(struct simlog_sink *s, struct simlog_err *err)
{
	struct lite *l = L(s);

	if (lite_sync(s, err) < 0 || lite_check(s, err) < 0)
		return -1;
	pthread_mutex_lock(&l->wr_mu);
	l->commit_due = 1;
	__atomic_store_n(&l->wr_busy, 1, __ATOMIC_RELEASE);
	pthread_cond_signal(&l->wr_go);
	pthread_mutex_unlock(&l->wr_mu);
	return 0;
}

static int
lite_settle(struct simlog_sink *s, struct simlog_err *err)
{
	struct lite *l = L(s);
	int failed;

	pthread_mutex_lock(&l->wr_mu);
	/* The rows queued meanwhile are the writer's to take as soon as
	 * the commit is done. */
	l->main_waits = 1;
	while (l->commit_due)
		pthread_cond_wait(&l->wr_done, &l->wr_mu);
	l->main_waits = 0;
	failed = l->commit_failed;
	pthread_mutex_unlock(&l->wr_mu);
	if (!failed)
		return 0;
	/* The writer stopped there: the transaction after it never began. */
	hand_over(l, 1);
	return writer_failed(s, err);
}

static void
lite_rollback(struct simlog_sink *s)
{
	lite_drop_jobs(s);
	if (sqlite3_get_autocommit(L(s)->db) == 0)
		sqlite3_exec(L(s)->db, "ROLLBACK", NULL, NULL, NULL);
	L(s)->in_txn = 0;
}

static int
lite_prune(struct simlog_sink *s, double before, struct simlog_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (lite_sync(s, err) < 0)
		return -1;
	if (sqlite3_prepare_v2(L(s)->db, "DELETE FROM simlog_batches "
	    "WHERE drained_at < ?1", -1, &st, NULL) != SQLITE_OK)
		return fail(s, err, sqlite3_errcode(L(s)->db),
		    "pruning old batch ids");
	sqlite3_bind_double(st, 1, before);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(s, err, rc, "pruning old batch ids");
}

const struct simlog_sink_ops simlog_sink_sqlite = {
	.kind = "sqlite",
	.open = lite_open,
	.close = lite_close,
	.apply_schema = lite_apply_schema,
	.begin = lite_begin,
	.mark = lite_mark,
	.expect = lite_expect,
	.mark_new = lite_mark_new,
	.plain_table = lite_plain_table,
	.insert_plain = lite_insert_plain,
	.insert_row = lite_insert_row,
	.reject = lite_reject,
	.parent_has = lite_parent_has,
	.wait_put = lite_wait_put,
	.wait_list = lite_wait_list,
	.wait_take = lite_wait_take,
	.commit = lite_commit,
	.overlaps = lite_overlaps,
	.commit_next = lite_commit_next,
	.settle = lite_settle,
	.idle = lite_idle,
	.queues = lite_queues,
	.splits = lite_splits,
	.rollback = lite_rollback,
	.prune = lite_prune,
	.forget = lite_forget,
	.unschema = lite_unschema,
	.check = lite_check,
};

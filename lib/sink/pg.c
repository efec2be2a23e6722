/*
 * The PostgreSQL sink (libpq).  Rows are buffered per table as COPY text
 * and sent with COPY when the transaction commits (or a buffer grows
 * large); the batch ids are inserted at once, in the same transaction.  A
 * transaction takes an advisory lock on its simulation, so drains on
 * several hosts take turns per simulation and never double a batch; DDL
 * takes a lock of its own.
 *
 * PostgreSQL checks constraints as rows arrive: a COPY that meets a
 * misfit fails whole.  Each flush is therefore made under a savepoint;
 * when it fails for the data (SQLSTATE classes 22 and 23) it is rolled
 * back to the savepoint and done again row by row, each row under a
 * savepoint of its own, and the rows that fail become dead letters.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chunk.h"
#include "net/net.h"
#include "schema.h"
#include "sink/sink.h"
#include "sink/sink_int.h"
#include "util.h"

#define LOCK_SIM 0x73696d6c		/* "siml": a simulation's drains */
#define LOCK_DDL 0x73696d64		/* "simd": creating and altering */
#define FLUSH_BYTES (4u << 20)		/* flush a table's rows early */

struct buf {
	char *s;
	size_t len, cap;
};

/* How a table's rows go in. */
enum mode {
	M_COPY,		/* COPY into the table */
	M_STAGE,	/* COPY into a temporary table, then INSERT ... SELECT
			 * (on duplicate ignore, or keys to number) */
	M_ROWS,		/* a prepared INSERT per row (on duplicate update) */
};

/* Rows as COPY text: a table's, waiting to be sent, or those on their
 * way (struct pg's flight).  A typed row's flags: its key was numbered
 * here; its record had waited in simlog_waiting. */
enum { ROW_NUMBERED = 1, ROW_WAITED = 2 };
struct rowset {
	struct buf rows;		/* COPY text, one line per row */
	size_t nrows;
	int numbered;			/* a row needs its key numbered */
	int has_n;			/* lines start with an order number */
	struct buf json;		/* typed rows: the records, for dead
					 * letters (offsets in jofs) */
	size_t *jofs;
	unsigned char *flags;		/* row k's ROW_ flags */
	size_t jcap;
	unsigned long long *seq;	/* row k's place in the transaction */
	size_t scap;
};

/* A table's statements and its rows waiting for the commit. */
struct pgtab {
	char type[64];			/* the record type (for dead letters) */
	char *copy, *copy_stage;	/* COPY ... FROM STDIN */
	char *move;			/* stage -> table, then TRUNCATE */
	char *stage_ddl;		/* CREATE TEMP TABLE */
	char *insert;			/* one row, $1... */
	char *owner;			/* on duplicate update: the simulation
					 * of a key's row, $1... its columns */
	int okey[8], nokey, simcol;
	char stmt[24];			/* its prepared name */
	int nparams;
	Oid *ptypes;			/* parameter types, 0: inferred */
	enum mode mode;
	int serial;			/* column of a numbered key, or -1 */
	char *seq;			/* its sequence */
	long long *ids;			/* values taken from it, not yet used */
	size_t nids, idpos, idcap;
	int plain;			/* a default-mapping table */
	const struct simlog_stable *st;	/* else the schema's */
	unsigned prep_gen, stage_gen;	/* connection they were made on */
	struct rowset r;
};

/* A dead letter's line in the rejects' COPY text, and its record's place
 * in the transaction: rows refused when their COPY failed come late, and
 * are put back in order at the commit. */
struct reject {
	unsigned long long seq;
	size_t off, len;
};

struct pg {
	PGconn *c;
	char *target;
	unsigned gen;			/* connection count: statements and
					 * temporary tables are per connection */
	unsigned mark_gen;
	int in_txn;
	int locking;			/* statements may wait for a lock */
	double allowed;			/* the call's time, for messages */
	char why[SIMLOG_ERRLEN];	/* a call given up on: why */
	int why_stopped;		/* ... because a stop was asked for */
	struct buf rejects;		/* COPY text for simlog_rejects */
	struct reject *rj;		/* its lines, by place */
	size_t nrj, rjcap;
	unsigned long long seq;		/* records the transaction has seen */
	struct buf waits;		/* COPY text for simlog_waiting */
	struct buf line;		/* one row's parameters */
	struct pgtab **tabs;		/* every table with statements */
	size_t ntabs;
	char password[128];		/* to scrub from messages */

	/* The flight: a table's rows sent by COPY while the drain goes on,
	 * its answer read before the connection's next command (land). */
	struct pgtab *fly;
	struct rowset flyset;		/* its rows, for a retry one by one */
	size_t flysent;			/* bytes of them handed to libpq */
	int flyend;			/* the COPY's end handed to libpq */
	int release_due;		/* its savepoint is still to release */
	unsigned tick;
	/* batch ids found missing, to record at the commit */
	unsigned char *mk;
	uint32_t *mkrec;
	size_t nmk, mkcap;

	/* Foreign keys checked by the drain (own_checks): in the open
	 * transaction (1), by the server (-1), not decided yet (0); the
	 * connection whose role may not set session_replication_role;
	 * the next transaction leaves them to the server. */
	int own;
	unsigned own_denied;
	int server_next;
};

#define P(s) ((struct pg *)(s)->impl)

/* --- buffers ----------------------------------------------------------------- */

static int
grow(struct buf *b, size_t more)
{
	if (b->len + more + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *q;

		while (cap < b->len + more + 1)
			cap *= 2;
		if ((q = realloc(b->s, cap)) == NULL)
			return -1;
		b->s = q;
		b->cap = cap;
	}
	return 0;
}

static void
put(struct buf *b, const char *s, size_t n)
{
	memcpy(b->s + b->len, s, n);
	b->len += n;
}

/* s[0..n) in COPY text form: backslash, tab, newline and CR escaped.
 * Needs 2n bytes of room. */
static void
put_escaped(struct buf *b, const char *s, size_t n)
{
	static unsigned char special[256];
	const char *end = s + n, *run = s;

	if (!special['\\'])
		special['\\'] = special['\t'] = special['\n'] =
		    special['\r'] = 1;
	for (; s < end; s++) {
		if (!special[(unsigned char)*s])
			continue;
		put(b, run, (size_t)(s - run));
		b->s[b->len++] = '\\';
		b->s[b->len++] = *s == '\\' ? '\\' : *s == '\t' ? 't' :
		    *s == '\n' ? 'n' : 'r';
		run = s + 1;
	}
	put(b, run, (size_t)(end - run));
}

static void
rowset_clear(struct rowset *rs, int has_n)
{
	rs->rows.len = rs->json.len = rs->nrows = 0;
	rs->numbered = 0;
	rs->has_n = has_n;
}

/* The next row's place in the transaction. */
static int
rowset_seq(struct rowset *rs, unsigned long long seq)
{
	if (rs->nrows == rs->scap) {
		size_t cap = rs->scap ? 2 * rs->scap : 1024;
		unsigned long long *q = realloc(rs->seq, cap * sizeof(*q));

		if (q == NULL)
			return -1;
		rs->seq = q;
		rs->scap = cap;
	}
	rs->seq[rs->nrows] = seq;
	return 0;
}

static void
rowset_free(struct rowset *rs)
{
	free(rs->rows.s);
	free(rs->json.s);
	free(rs->jofs);
	free(rs->flags);
	free(rs->seq);
	memset(rs, 0, sizeof(*rs));
}

/* --- errors ------------------------------------------------------------------ */

/* The first line of a libpq message, a password scrubbed from it. */
static void
clean(struct simlog_sink *s, const char *m, char *out, size_t len)
{
	char *p;

	while (*m == ' ')
		m++;
	/* "connection to server ... failed: FATAL:  why": keep why. */
	if ((p = strstr(m, "FATAL:  ")) != NULL)
		m = p + 8;
	else if ((p = strstr(m, "ERROR:  ")) != NULL)
		m = p + 8;
	snprintf(out, len, "%s", m);
	out[strcspn(out, "\n")] = '\0';
	if (P(s) != NULL && strlen(P(s)->password) >= 3) {
		size_t pl = strlen(P(s)->password);

		while ((p = strstr(out, P(s)->password)) != NULL) {
			memmove(p + 3, p + pl, strlen(p + pl) + 1);
			memcpy(p, "***", 3);
		}
	}
}

/* The exit class of an SQLSTATE. */
static int
sqlstate_class(const char *st)
{
	if (st == NULL)
		return SIMLOG_EX_TEMPFAIL;	/* no server reply */
	if (strncmp(st, "08", 2) == 0 || strcmp(st, "40001") == 0 ||
	    strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0 ||
	    strncmp(st, "57P", 3) == 0 || strcmp(st, "57014") == 0 ||
	    strcmp(st, "53300") == 0)
		return SIMLOG_EX_TEMPFAIL;
	if (strncmp(st, "28", 2) == 0 || strcmp(st, "42501") == 0)
		return SIMLOG_EX_NOPERM;
	if (strcmp(st, "3D000") == 0)
		return SIMLOG_EX_NOINPUT;
	return SIMLOG_EX_IOERR;
}

/* A failed command (res may be NULL): its class and message. */
static int
fail(struct simlog_sink *s, const PGresult *res, const char *what,
     struct simlog_err *err)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *m = res ? PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char msg[SIMLOG_ERRLEN];
	int code;

	if (res == NULL && P(s)->why[0] != '\0') {
		/* A call given up on (the connection is closed). */
		simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: %s: %s", s->name,
		    what, P(s)->why);
		if (err != NULL)
			err->stopped = P(s)->why_stopped;
		P(s)->why[0] = '\0';
		return -1;
	}
	if (P(s)->c == NULL)
		return simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: %s: not "
		    "connected", s->name, what);
	if (PQstatus(P(s)->c) == CONNECTION_BAD) {
		code = SIMLOG_EX_TEMPFAIL;
		clean(s, PQerrorMessage(P(s)->c), msg, sizeof(msg));
		if (msg[0] == '\0')
			snprintf(msg, sizeof(msg), "lost the connection");
	} else {
		code = sqlstate_class(st);
		clean(s, m ? m : PQerrorMessage(P(s)->c), msg, sizeof(msg));
	}
	return simlog_seterr(err, code, "%s: %s: %s", s->name, what, msg);
}

/* Whether a failed command failed for the data it was given. */
static int
data_error(const PGresult *res)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return st != NULL && (strncmp(st, "22", 2) == 0 ||
	    strncmp(st, "23", 2) == 0);
}

/* A row's failure in the words SQLite uses, where there are such. */
static void
misfit_reason(const PGresult *res, char *out, size_t len)
{
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *tab = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
	const char *col = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
	const char *det = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *k, *e;

	if (st && strcmp(st, "23502") == 0 && tab && col) {
		snprintf(out, len, "NOT NULL constraint failed: %s.%s", tab,
		    col);
		return;
	}
	/* "Key (a, b)=(1, 2) already exists." */
	if (st && strcmp(st, "23505") == 0 && tab && det &&
	    (k = strstr(det, "Key (")) != NULL &&
	    (e = strstr(k, ")=(")) != NULL) {
		size_t o = (size_t)snprintf(out, len,
		    "UNIQUE constraint failed: ");

		for (k += 5; k < e && o < len;) {
			size_t n = strcspn(k, ",)");

			if (k + n > e)
				n = (size_t)(e - k);
			o += (size_t)snprintf(out + o, len - o, "%s%s.%.*s",
			    o > 26 ? ", " : "", tab, (int)n, k);
			k += n;
			while (k < e && (*k == ',' || *k == ' '))
				k++;
		}
		return;
	}
	snprintf(out, len, "%s", m ? m : "rejected by PostgreSQL");
}

/* --- waiting for the server ---------------------------------------------------
 *
 * The connection is non-blocking: each call sends, then polls the socket
 * until a deadline computed once when the call starts (simlog_net_wait,
 * which re-checks it after every EINTR), so a frozen server or a lost
 * network costs one --timeout, never a hang.  A call given up on is
 * cancelled on the server (PQcancel) and its connection closed: what it
 * did is rolled back or (a COMMIT) done or not, which the batch ids sort
 * out.  The drain's stop flag (SIGINT, SIGTERM) ends a wait at once.
 */

/* Poll in slices: a signal that comes just before poll() starts still
 * ends the wait this soon. */
#define STOP_SLICE 0.2

/* The moment a call must be answered by: --timeout from now, and for a
 * statement that may wait for another drain's lock (an advisory lock;
 * creating or altering tables) the time the server may wait for it
 * (lock_timeout: --busy-timeout) as well. */
static double
deadline(struct simlog_sink *s)
{
	struct pg *p = P(s);

	p->allowed = s->timeout;
	if (p->locking)
		p->allowed += s->busy_timeout;
	p->why[0] = '\0';
	return simlog_now_mono() + p->allowed;
}

static void *
canceller(void *arg)
{
	char why[256];

	(void)PQcancel(arg, why, sizeof(why));
	PQfreeCancel(arg);
	return NULL;
}

/*
 * Ask the server to stop what the connection runs.  PQcancel connects to
 * the server and waits, with no bound, for it to close that connection —
 * a frozen server never does — so it runs in a thread of its own that
 * nobody waits for: it ends when the server answers, or with the process.
 * The thread starts with every signal blocked (they are the drain's).
 */
static void
cancel_async(PGconn *c)
{
	PGcancel *cancel;
	pthread_attr_t a;
	pthread_t t;

	if (PQstatus(c) != CONNECTION_OK ||
	    PQtransactionStatus(c) != PQTRANS_ACTIVE ||
	    (cancel = PQgetCancel(c)) == NULL)
		return;
	if (pthread_attr_init(&a) != 0) {
		PQfreeCancel(cancel);
		return;
	}
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (simlog_sink_thread(&t, &a, canceller, cancel) != 0)
		PQfreeCancel(cancel);
	pthread_attr_destroy(&a);
}

/* Give up on the call in progress: cancel it, close the connection (the
 * next call connects again) and keep why for fail().  Returns -1. */
__attribute__((format(printf, 3, 4)))
static int
give_up(struct simlog_sink *s, int stopped, const char *fmt, ...)
{
	struct pg *p = P(s);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	p->why_stopped = stopped;
	cancel_async(p->c);
	/* Non-blocking: its goodbye is not waited for either. */
	PQfinish(p->c);
	p->c = NULL;
	p->in_txn = 0;
	return -1;
}

/* Wait until the socket is ready for events: 0, or -1 having given up
 * (the deadline passed, a stop was asked for, poll failed). */
static int
wait_sock(struct simlog_sink *s, short events, double dl)
{
	int fd = PQsocket(P(s)->c);

	if (fd < 0)
		return give_up(s, 0, "lost the connection");
	for (;;) {
		double now = simlog_now_mono();
		int r = simlog_net_wait(fd, events, dl < now + STOP_SLICE ? dl :
		    now + STOP_SLICE, s->stop);

		if (r > 0)
			return 0;
		if (s->stop != NULL && *s->stop)
			return give_up(s, 1, "interrupted");
		if (r < 0)
			return give_up(s, 0, "waiting for the server: %s",
			    strerror(errno));
		if (simlog_now_mono() >= dl)
			return give_up(s, 0, "no answer within %g s (--timeout%s)",
			    P(s)->allowed, P(s)->allowed > s->timeout ?
			    " and --busy-timeout" : "");
	}
}

/* Send what libpq holds: 0, or -1 having given up.  A server slow to read
 * may be writing to us meanwhile: read as well, or both sides stall.  A
 * failure to write shows in the call's result. */
static int
flush_out(struct simlog_sink *s, double dl)
{
	while (PQflush(P(s)->c) == 1) {
		if (wait_sock(s, POLLIN | POLLOUT, dl) < 0)
			return -1;
		if (!PQconsumeInput(P(s)->c))
			break;
	}
	return 0;
}

/* The call's next result by the deadline: 0 with *res (NULL when there
 * are no more), or -1 having given up. */
static int
next_result(struct simlog_sink *s, double dl, PGresult **res)
{
	char msg[SIMLOG_ERRLEN];

	*res = NULL;
	while (PQisBusy(P(s)->c)) {
		if (wait_sock(s, POLLIN, dl) < 0)
			return -1;
		if (!PQconsumeInput(P(s)->c) && PQisBusy(P(s)->c)) {
			clean(s, PQerrorMessage(P(s)->c), msg, sizeof(msg));
			return give_up(s, 0, "%s", msg);
		}
	}
	*res = PQgetResult(P(s)->c);
	return 0;
}

/* A call sent (or not): its last result by the deadline, as PQexec gives
 * it (stopping at a COPY); NULL when it could not be sent (PQerrorMessage
 * says why) or was given up on (P(s)->why). */
static PGresult *
finish_call(struct simlog_sink *s, int sent, double dl)
{
	PGresult *last = NULL, *r;

	if (!sent || flush_out(s, dl) < 0)
		return NULL;
	for (;;) {
		if (next_result(s, dl, &r) < 0) {
			PQclear(last);
			return NULL;
		}
		if (r == NULL)
			return last;
		PQclear(last);
		last = r;
		if (PQresultStatus(r) == PGRES_COPY_IN ||
		    PQresultStatus(r) == PGRES_COPY_OUT ||
		    PQresultStatus(r) == PGRES_COPY_BOTH ||
		    PQstatus(P(s)->c) == CONNECTION_BAD)
			return last;
	}
}

/* PQexec, PQexecParams, PQexecPrepared and PQprepare, by a deadline. */
static PGresult *
pq_exec(struct simlog_sink *s, const char *sql)
{
	double dl = deadline(s);

	return finish_call(s, PQsendQuery(P(s)->c, sql), dl);
}

static PGresult *
pq_exec_params(struct simlog_sink *s, const char *sql, int n,
	       const Oid *types, const char *const *v, const int *lens,
	       const int *fmts, int rfmt)
{
	double dl = deadline(s);

	return finish_call(s, PQsendQueryParams(P(s)->c, sql, n, types, v,
	    lens, fmts, rfmt), dl);
}

static PGresult *
pq_exec_prepared(struct simlog_sink *s, const char *name, int n,
		 const char *const *v, const int *lens, const int *fmts,
		 int rfmt)
{
	double dl = deadline(s);

	return finish_call(s, PQsendQueryPrepared(P(s)->c, name, n, v, lens,
	    fmts, rfmt), dl);
}

static PGresult *
pq_prepare(struct simlog_sink *s, const char *name, const char *sql, int n,
	   const Oid *types)
{
	double dl = deadline(s);

	return finish_call(s, PQsendPrepare(P(s)->c, name, sql, n, types), dl);
}

/* One piece of COPY data, by a deadline of its own (a large COPY goes on
 * for as long as the server keeps taking it): 0, or -1 (given up, or
 * the connection failed: PQerrorMessage). */
static int
pq_put_copy(struct simlog_sink *s, const char *data, int n)
{
	double dl = deadline(s);
	int r;

	while ((r = PQputCopyData(P(s)->c, data, n)) == 0)
		if (wait_sock(s, POLLOUT, dl) < 0 || PQflush(P(s)->c) < 0)
			return -1;
	return r < 0 ? -1 : flush_out(s, dl);
}

static int
pq_end_copy(struct simlog_sink *s, double dl)
{
	int r;

	while ((r = PQputCopyEnd(P(s)->c, NULL)) == 0)
		if (wait_sock(s, POLLOUT, dl) < 0 || PQflush(P(s)->c) < 0)
			return -1;
	return r < 0 ? -1 : flush_out(s, dl);
}

/* --- commands ----------------------------------------------------------------- */

static int
run(struct simlog_sink *s, const char *sql, const char *what,
    struct simlog_err *err)
{
	PGresult *res = pq_exec(s, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = fail(s, res, what, err);
	PQclear(res);
	return rc;
}

/*
 * Run ddl (a CREATE) unless the table ident (quoted) exists already.  A
 * role with no CREATE on the schema drains into tables made for it, and
 * PostgreSQL checks that privilege before IF NOT EXISTS: look first.
 */
static int
create_missing(struct simlog_sink *s, const char *ident, const char *ddl,
	       const char *what, struct simlog_err *err)
{
	const char *v[1] = { ident };
	PGresult *res = pq_exec_params(s, "SELECT to_regclass($1) IS NULL",
	    1, NULL, v, NULL, NULL, 0);
	int rc, missing;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = fail(s, res, what, err);
		PQclear(res);
		return rc;
	}
	missing = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!missing || run(s, ddl, what, err) == 0)
		return 0;
	if (err != NULL && err->code == SIMLOG_EX_NOPERM) {
		size_t n = strlen(err->msg);

		snprintf(err->msg + n, sizeof(err->msg) - n, " (the drain "
		    "makes the tables it misses: give its role CREATE on the "
		    "schema, or make them first; simlog-drain(1), PRIVILEGES)");
	}
	return -1;
}

static void
quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;		/* NOTICEs such as "already exists, skipping" */
}

/* What every session of ours needs. */
static int
session(struct simlog_sink *s, struct simlog_err *err)
{
	char sql[400];
	double ms = s->busy_timeout * 1000;

	PQsetNoticeProcessor(P(s)->c, quiet, NULL);
	/* A commit must be durable before its entries leave Redis; a lock
	 * held longer than --busy-timeout is a temporary failure.  Should
	 * the drain vanish (its cancel lost with it), the server ends its
	 * statement once no drain would still wait for it, and frees the
	 * simulation's lock from a transaction left idle: other drains of
	 * the simulation need not wait for a dead one. */
	snprintf(sql, sizeof(sql), "SET synchronous_commit = on; "
	    "SET lock_timeout = %.0f; SET statement_timeout = %.0f; "
	    "SET idle_in_transaction_session_timeout = %.0f",
	    ms >= 1 ? ms : 1, ms + s->timeout * 1000 + 1000,
	    (60 + 4 * s->timeout) * 1000);
	return run(s, sql, "setting up the session", err);
}

/* Connect by --timeout, polling libpq's non-blocking connect. */
static int
pg_connect(struct simlog_sink *s, struct simlog_err *err)
{
	/* Ours first (the URL's own settings win), the encoding last (the
	 * rows are UTF-8, whatever the URL says).  TCP keepalives notice a
	 * dead server host while a statement waits for a lock. */
	const char *kw[] = { "keepalives", "keepalives_idle",
	    "keepalives_interval", "keepalives_count",
	    "fallback_application_name", "dbname", "client_encoding", NULL };
	char idle[24];
	const char *val[] = { "1", idle, "1", "3", "simlog-drain",
	    P(s)->target, "UTF8", NULL };
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	double dl = simlog_now_mono() + s->timeout;
	char msg[SIMLOG_ERRLEN];
	int code = SIMLOG_EX_TEMPFAIL;

	snprintf(idle, sizeof(idle), "%.0f", s->timeout < 1 ? 1 :
	    s->timeout + 0.5);
	PQfinish(P(s)->c);
	P(s)->in_txn = 0;
	P(s)->c = PQconnectStartParams(kw, val, 1);
	if (P(s)->c == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	P(s)->allowed = s->timeout;
	while (PQstatus(P(s)->c) != CONNECTION_BAD &&
	    st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		if (wait_sock(s, st == PGRES_POLLING_READING ? POLLIN :
		    POLLOUT, dl) < 0) {
			simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: cannot "
			    "connect: %s", s->name, P(s)->why);
			err->stopped = P(s)->why_stopped;
			P(s)->why[0] = '\0';
			return -1;
		}
		st = PQconnectPoll(P(s)->c);
	}
	if (PQstatus(P(s)->c) == CONNECTION_OK) {
		if (PQsetnonblocking(P(s)->c, 1) != 0)
			return fail(s, NULL, "connecting", err);
		P(s)->gen++;
		return session(s, err);
	}
	clean(s, PQerrorMessage(P(s)->c), msg, sizeof(msg));
	if (strstr(msg, "password authentication failed") ||
	    strstr(msg, "no password supplied") ||
	    strstr(msg, "authentication failed") ||
	    (strstr(msg, "role \"") && strstr(msg, "does not exist")) ||
	    strstr(msg, "no pg_hba.conf entry") ||
	    strstr(msg, "permission denied"))
		code = SIMLOG_EX_NOPERM;
	else if (strstr(msg, "database \"") && strstr(msg, "does not exist"))
		code = SIMLOG_EX_NOINPUT;
	else if (strstr(msg, "invalid ") || strstr(msg, "missing \"=\"") ||
	    strstr(msg, "unrecognized") || strstr(msg, "invalid URI"))
		code = SIMLOG_EX_USAGE;
	return simlog_seterr(err, code, "%s: cannot connect: %s", s->name, msg);
}

/* The connection is back after a failure: what was prepared on the old
 * one is gone. */
static int
ensure_connected(struct simlog_sink *s, struct simlog_err *err)
{
	if (PQstatus(P(s)->c) == CONNECTION_OK)
		return 0;
	return pg_connect(s, err);
}

static int
prepare(struct simlog_sink *s, const char *name, const char *sql, int n,
	const Oid *types, const char *what, struct simlog_err *err)
{
	PGresult *res = pq_prepare(s, name, sql, n, types);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = fail(s, res, what, err);
	PQclear(res);
	return rc;
}

/* --- opening and closing ------------------------------------------------------ */

static void
tab_free(struct pgtab *t)
{
	if (t == NULL)
		return;
	free(t->copy);
	free(t->copy_stage);
	free(t->move);
	free(t->stage_ddl);
	free(t->insert);
	free(t->owner);
	free(t->seq);
	free(t->ids);
	free(t->ptypes);
	rowset_free(&t->r);
	free(t);
}

static void
pg_close(struct simlog_sink *s)
{
	struct pg *p = P(s);

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->ntabs; i++)
		tab_free(p->tabs[i]);
	if (s->schema != NULL)
		for (size_t i = 0; i < s->schema->ntables; i++)
			s->schema->tables[i].sink = NULL;
	for (size_t i = 0; i < s->nroutes; i++)
		s->routes[i].plain = NULL;
	free(p->tabs);
	rowset_free(&p->flyset);
	free(p->rj);
	free(p->mk);
	free(p->mkrec);
	free(p->rejects.s);
	free(p->waits.s);
	free(p->line.s);
	free(p->target);
	PQfinish(p->c);
	free(p);
	s->impl = NULL;
}

static void
find_password(struct pg *p)
{
	PQconninfoOption *o = PQconninfoParse(p->target, NULL);

	for (PQconninfoOption *q = o; q && q->keyword; q++)
		if (strcmp(q->keyword, "password") == 0 && q->val)
			snprintf(p->password, sizeof(p->password), "%s",
			    q->val);
	PQconninfoFree(o);
}

static int
pg_open(struct simlog_sink *s, const char *target, struct simlog_err *err)
{
	struct pg *p = calloc(1, sizeof(*p));
	char lock[80];

	if ((s->impl = p) == NULL || (p->target = strdup(target)) == NULL) {
		free(p);
		s->impl = NULL;
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	}
	find_password(p);
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%d, 0)",
	    LOCK_DDL);
	p->locking = 1;		/* another drain may hold the DDL lock */
	if (pg_connect(s, err) < 0 ||
	    run(s, "BEGIN", "creating simlog's tables", err) < 0 ||
	    run(s, lock, "creating simlog's tables", err) < 0 ||
	    create_missing(s, "simlog_batches",
	    "CREATE TABLE IF NOT EXISTS simlog_batches ("
	    " batch bytea PRIMARY KEY,"
	    " simulation_id text NOT NULL,"
	    " records bigint NOT NULL,"
	    " drained_at double precision NOT NULL)",
	    "creating simlog's tables", err) < 0 ||
	    create_missing(s, "simlog_rejects",
	    "CREATE TABLE IF NOT EXISTS simlog_rejects ("
	    " id bigserial PRIMARY KEY,"
	    " simulation_id text NOT NULL,"
	    " type text NOT NULL,"
	    " data text NOT NULL,"
	    " error text NOT NULL,"
	    " drained_at double precision NOT NULL)",
	    "creating simlog's tables", err) < 0 ||
	    create_missing(s, "simlog_waiting",
	    "CREATE TABLE IF NOT EXISTS simlog_waiting ("
	    " id bigserial PRIMARY KEY,"
	    " simulation_id text NOT NULL,"
	    " type text NOT NULL,"
	    " data text NOT NULL,"
	    " parent text NOT NULL,"
	    " parent_key text NOT NULL,"
	    " drained_at double precision NOT NULL);"
	    "CREATE INDEX IF NOT EXISTS simlog_waiting_parent"
	    " ON simlog_waiting (parent, parent_key)",
	    "creating simlog's tables", err) < 0 ||
	    run(s, "COMMIT", "creating simlog's tables", err) < 0) {
		pg_close(s);
		return -1;
	}
	p->locking = 0;
	return 0;
}

/* --- tables ------------------------------------------------------------------- */

static const char *
pgtype(const struct simlog_column *c)
{
	static const char *const n[SIMLOG_NCTYPES] = { "bigint",
	    "double precision", "text", "boolean", "jsonb", "text",
	    "timestamptz" };

	return n[c->type];
}

/* A default as a quoted literal: PostgreSQL gives it the column's type. */
static void
literal(struct simlog_sql *b, const struct simlog_column *c)
{
	const char *v = c->dkind == SIMLOG_D_TEXT ? c->dtext : c->dform;

	if (c->dkind == SIMLOG_D_NULL) {
		simlog_sqlf(b, "NULL");
		return;
	}
	if (c->type == SIMLOG_C_BOOLEAN && c->dkind == SIMLOG_D_INT)
		v = c->dint ? "true" : "false";
	simlog_sqlf(b, "'");
	for (; *v; v++)
		simlog_sqlf(b, *v == '\'' ? "''" : "%c", *v);
	simlog_sqlf(b, "'");
}

/* Whether column i is the table's single INTEGER primary key, numbered
 * from a sequence for records that leave it out (SQLite's rowid). */
static int
is_serial(const struct simlog_column *c)
{
	return c->primary && c->type == SIMLOG_C_INTEGER &&
	    c->dkind == SIMLOG_D_NONE && c->tmpl == NULL;
}

static void
column_def(struct simlog_sql *b, const struct simlog_schema *sc,
	   const struct simlog_column *c, int adding)
{
	simlog_sqlf(b, "\"%s\" %s", c->name, !adding && is_serial(c) ?
	    "bigserial" : pgtype(c));
	if (c->primary && !adding)
		simlog_sqlf(b, " PRIMARY KEY");
	if (c->unique && !adding)
		simlog_sqlf(b, " UNIQUE");
	if (c->notnull)
		simlog_sqlf(b, " NOT NULL");
	if (c->dkind != SIMLOG_D_NONE) {
		simlog_sqlf(b, " DEFAULT ");
		literal(b, c);
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
		column_def(b, sc, &t->cols[i], 0);
	}
	simlog_sql_constraints(b, t);
	simlog_sqlf(b, ")");
}

static int
has_column(struct simlog_sink *s, const char *table, const char *col,
	   int *has, struct simlog_err *err)
{
	const char *v[2] = { table, col };
	PGresult *res = pq_exec_params(s, "SELECT 1 FROM pg_attribute "
	    "WHERE attrelid = quote_ident($1)::regclass AND attname = $2 "
	    "AND attnum > 0 AND NOT attisdropped", 2, NULL, v, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = fail(s, res, table, err);
	else
		*has = PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

static int
add_columns(struct simlog_sink *s, const struct simlog_stable *t,
	    struct simlog_err *err)
{
	struct simlog_sql b = { NULL, 0, 0, 0 };
	int rc = 0, has = 0;

	for (size_t i = 0; i < t->ncols && rc == 0; i++) {
		const struct simlog_column *c = &t->cols[i];

		if ((rc = has_column(s, t->name, c->name, &has, err)) < 0 || has)
			continue;
		if ((rc = simlog_stable_addable(t, c, err)) == 0) {
			b.len = 0;
			simlog_sqlf(&b, "ALTER TABLE \"%s\" ADD COLUMN ", t->name);
			column_def(&b, NULL, c, 1);
			rc = !b.oom ? run(s, b.s, t->name, err) :
			    simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		}
	}
	free(b.s);
	return rc;
}

/* The conflict target of on duplicate update: the primary key, else the
 * first unique constraint. */
static void
conflict_target(struct simlog_sql *b, const struct simlog_stable *t)
{
	const char *cols[SIMLOG_SCHEMA_MAXCOLS];
	size_t n = simlog_stable_conflict_cols(t, cols, SIMLOG_SCHEMA_MAXCOLS);

	simlog_sqlf(b, " ON CONFLICT (");
	for (size_t i = 0; i < n; i++)
		simlog_sqlf(b, "%s\"%s\"", i ? ", " : "", cols[i]);
	simlog_sqlf(b, ")");
}

static int
has_conflict_target(const struct simlog_stable *t)
{
	const char *cols[1];

	return simlog_stable_conflict_cols(t, cols, 1) > 0;
}

/* on duplicate update never changes another simulation's row: when it
 * changed none, this finds whose it is. */
static void
owner_statement(struct pgtab *pt, const struct simlog_stable *t)
{
	struct simlog_sql b = { NULL, 0, 0, 0 };
	const char *cols[8];
	size_t n = simlog_stable_conflict_cols(t, cols, 8);

	pt->nokey = 0;
	pt->simcol = t->sim_col;
	if (!t->owner_check)
		return;
	simlog_sqlf(&b, "SELECT \"%s\" FROM \"%s\" WHERE ",
	    t->cols[t->sim_col].name, t->name);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < t->ncols; k++)
			if (strcmp(t->cols[k].name, cols[i]) == 0)
				pt->okey[pt->nokey++] = (int)k;
		simlog_sqlf(&b, "%s\"%s\" = $%zu", i ? " AND " : "",
		    cols[i], i + 1);
	}
	pt->owner = b.s;
}

/* The statements of a typed table; the serial key's sequence is seq. */
static int
typed_statements(struct pgtab *pt, const struct simlog_stable *t,
		 const char *seq, size_t index)
{
	struct simlog_sql b = { NULL, 0, 0, 0 };
	size_t i, n = t->ncols;
	int first = 1, oom = 0;

	pt->serial = -1;
	for (i = 0; i < n; i++)
		if (is_serial(&t->cols[i]) && seq != NULL)
			pt->serial = (int)i;
	pt->mode = t->on_dup == SIMLOG_DUP_UPDATE && has_conflict_target(t) ?
	    M_ROWS : t->on_dup == SIMLOG_DUP_IGNORE ? M_STAGE : M_COPY;
	pt->nparams = (int)(pt->mode == M_ROWS ? 2 * n : n);
	pt->r.has_n = pt->mode == M_STAGE;
	/* A record's own value of a key column is not used: say its type,
	 * which nothing else would. */
	if ((pt->ptypes = calloc((size_t)pt->nparams, sizeof(Oid))) == NULL)
		return -1;
	for (i = 0; pt->mode == M_ROWS && i < n; i++)
		if (t->cols[i].primary || t->cols[i].is_sim ||
		    simlog_stable_in_key(t, &t->cols[i]))
			pt->ptypes[n + i] = 25;		/* text */
	snprintf(pt->stmt, sizeof(pt->stmt), "simlog_t%zu", index);

	/* One row: a left-out numbered key takes the sequence's next. */
	simlog_sqlf(&b, "INSERT INTO \"%s\" AS simlog_t (", t->name);
	simlog_sql_columns(&b, t);
	simlog_sqlf(&b, ") VALUES (");
	for (i = 0; i < n; i++)
		if ((int)i == pt->serial)
			simlog_sqlf(&b, "%scoalesce($%zu::bigint, nextval('%s'))",
			    i ? ", " : "", i + 1, seq);
		else
			simlog_sqlf(&b, "%s$%zu", i ? ", " : "", i + 1);
	simlog_sqlf(&b, ")");
	if (t->on_dup == SIMLOG_DUP_IGNORE)
		simlog_sqlf(&b, " ON CONFLICT DO NOTHING");
	else if (pt->mode == M_ROWS) {
		conflict_target(&b, t);
		for (i = 0; i < n; i++) {
			const struct simlog_column *c = &t->cols[i];

			if (c->primary || c->is_sim ||
			    simlog_stable_in_key(t, c))
				continue;
			/* Left out or null: the row keeps its value. */
			simlog_sqlf(&b, "%s\"%s\" = coalesce($%zu, simlog_t.\"%s\")",
			    first ? " DO UPDATE SET " : ", ", c->name,
			    n + i + 1, c->name);
			first = 0;
		}
		if (first)
			simlog_sqlf(&b, " DO NOTHING");
		else if (t->owner_check)
			simlog_sqlf(&b, " WHERE simlog_t.\"%s\" IS NOT DISTINCT "
			    "FROM EXCLUDED.\"%s\"", t->cols[t->sim_col].name,
			    t->cols[t->sim_col].name);
		owner_statement(pt, t);
	}
	pt->insert = b.s;
	oom |= b.oom;
	b = (struct simlog_sql){ NULL, 0, 0, 0 };

	simlog_sqlf(&b, "COPY \"%s\" (", t->name);
	simlog_sql_columns(&b, t);
	simlog_sqlf(&b, ") FROM STDIN");
	pt->copy = b.s;
	oom |= b.oom;
	b = (struct simlog_sql){ NULL, 0, 0, 0 };

	/* The staging table: the same columns, no constraints, and the
	 * records' order. */
	simlog_sqlf(&b, "CREATE TEMP TABLE IF NOT EXISTS simlog_stage%zu "
	    "(simlog_n bigint", index);
	for (i = 0; i < n; i++)
		simlog_sqlf(&b, ", \"%s\" %s", t->cols[i].name, pgtype(&t->cols[i]));
	simlog_sqlf(&b, ")");
	pt->stage_ddl = b.s;
	oom |= b.oom;
	b = (struct simlog_sql){ NULL, 0, 0, 0 };
	simlog_sqlf(&b, "COPY simlog_stage%zu FROM STDIN", index);
	pt->copy_stage = b.s;
	oom |= b.oom;
	b = (struct simlog_sql){ NULL, 0, 0, 0 };
	simlog_sqlf(&b, "INSERT INTO \"%s\" (", t->name);
	simlog_sql_columns(&b, t);
	simlog_sqlf(&b, ") SELECT ");
	for (i = 0; i < n; i++)
		if ((int)i == pt->serial)
			simlog_sqlf(&b, "%scoalesce(\"%s\", nextval('%s'))",
			    i ? ", " : "", t->cols[i].name, seq);
		else
			simlog_sqlf(&b, "%s\"%s\"", i ? ", " : "", t->cols[i].name);
	simlog_sqlf(&b, " FROM simlog_stage%zu ORDER BY simlog_n%s; "
	    "TRUNCATE simlog_stage%zu", index,
	    t->on_dup == SIMLOG_DUP_IGNORE ? " ON CONFLICT DO NOTHING" : "",
	    index);
	pt->move = b.s;
	oom |= b.oom;
	return oom ? -1 : 0;
}

static int
add_tab(struct simlog_sink *s, struct pgtab *pt)
{
	void *q = realloc(P(s)->tabs, (P(s)->ntabs + 1) * sizeof(*P(s)->tabs));

	if (q == NULL)
		return -1;
	P(s)->tabs = q;
	P(s)->tabs[P(s)->ntabs++] = pt;
	return 0;
}

/* The sequence that numbers the table's INTEGER primary key, if any. */
static char *
serial_sequence(struct simlog_sink *s, const struct simlog_stable *t,
		struct simlog_err *err)
{
	char *seq = NULL;

	for (size_t i = 0; i < t->ncols; i++) {
		const char *v[2] = { t->name, t->cols[i].name };
		PGresult *res;

		if (!is_serial(&t->cols[i]))
			continue;
		res = pq_exec_params(s, "SELECT pg_get_serial_sequence("
		    "quote_ident($1), $2)", 2, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			fail(s, res, t->name, err);
		else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
			seq = strdup(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	return seq;
}

/* The table's indexes, made with it or added to it. */
static int
make_indexes(struct simlog_sink *s, const struct simlog_stable *t,
	     struct simlog_err *err)
{
	/* One by one, each only when missing: CREATE INDEX wants the
	 * table's owner even when the index is there (a role with rows only
	 * drains into tables made for it). */
	for (size_t i = 0; i < t->nidx; i++) {
		struct simlog_sql b = { NULL, 0, 0, 0 };
		char ident[160];
		int rc;

		simlog_sql_index(&b, t, i);
		rc = !b.oom && simlog_sink_ident(t->idx[i].name,
		    strlen(t->idx[i].name), ident, sizeof(ident)) == 0 ?
		    create_missing(s, ident, b.s, t->name, err) :
		    simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		free(b.s);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Whether a column of PostgreSQL type found (format_type's words) takes
 * the schema type's values as they are sent. */
static int
takes(const char *found, enum simlog_ctype want)
{
	static const char *const ok[SIMLOG_NCTYPES][4] = {
		{ "bigint", "integer", "smallint", NULL },
		{ "double precision", "real", "numeric", NULL },
		{ "text", "character varying", NULL, NULL },
		{ "boolean", NULL, NULL, NULL },
		{ "jsonb", "json", NULL, NULL },
		{ "text", "character varying", NULL, NULL },
		{ "timestamp with time zone", "timestamp without time zone",
		    NULL, NULL },
	};

	for (int i = 0; i < 4 && ok[want][i] != NULL; i++)
		if (strncmp(found, ok[want][i], strlen(ok[want][i])) == 0 &&
		    (found[strlen(ok[want][i])] == '\0' ||
		    found[strlen(ok[want][i])] == '('))
			return 1;
	return 0;
}

/*
 * A table that is there already: each of its columns the schema names
 * must take the schema's type, and none the schema leaves out may refuse
 * every row (NOT NULL without a default).  Found before the first row,
 * with the ALTER TABLE that fixes it.
 */
static int
check_existing(struct simlog_sink *s, const struct simlog_stable *t,
	       struct simlog_err *err)
{
	const char *v[1] = { t->name };
	PGresult *res = pq_exec_params(s, "SELECT a.attname, "
	    "format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef "
	    "FROM pg_attribute a WHERE a.attrelid = to_regclass("
	    "quote_ident($1)) AND a.attnum > 0 AND NOT a.attisdropped "
	    "ORDER BY a.attnum", 1, NULL, v, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = fail(s, res, t->name, err);
		PQclear(res);
		return rc;
	}
	for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
		const char *name = PQgetvalue(res, i, 0);
		const char *found = PQgetvalue(res, i, 1);
		const struct simlog_column *c = NULL;
		char fix[SIMLOG_ERRLEN / 2];
		int js;

		for (size_t k = 0; k < t->ncols && c == NULL; k++)
			if (strcmp(t->cols[k].name, name) == 0)
				c = &t->cols[k];
		if (c == NULL) {
			if (PQgetvalue(res, i, 2)[0] == 't' &&
			    PQgetvalue(res, i, 3)[0] == 'f')
				rc = simlog_seterr(err, SIMLOG_EX_CONFIG,
				    "table %s has column %s, NOT NULL without "
				    "a default, which the schema does not "
				    "fill: every row would be refused; nothing "
				    "was drained.  Give it a default, or add "
				    "it to the schema", t->name, name);
			continue;
		}
		if (takes(found, c->type))
			continue;
		/* A JSON string becomes the text it holds. */
		js = strncmp(found, "json", 4) == 0 &&
		    (c->type == SIMLOG_C_TEXT || c->type == SIMLOG_C_ID);
		snprintf(fix, sizeof(fix), "To change it, keeping its rows: "
		    "ALTER TABLE \"%s\" ALTER COLUMN \"%s\" TYPE %s USING "
		    "\"%s\"%s%s", t->name, name, pgtype(c), name,
		    js ? " #>> '{}'" : "::", js ? "" : pgtype(c));
		rc = simlog_sink_type_mismatch(s, t, c, found, fix, err);
	}
	PQclear(res);
	return rc;
}

static int
apply_table(struct simlog_sink *s, struct simlog_stable *t, size_t index,
	    struct simlog_err *err)
{
	struct simlog_sql b = { NULL, 0, 0, 0 };
	struct pgtab *pt;
	char *seq, ident[160];
	int rc;

	if (check_existing(s, t, err) < 0)
		return -1;
	create_sql(&b, s->schema, t);
	rc = !b.oom && simlog_sink_ident(t->name, strlen(t->name), ident,
	    sizeof(ident)) == 0 ? create_missing(s, ident, b.s, t->name, err) :
	    simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	free(b.s);
	if (rc < 0 || add_columns(s, t, err) < 0 || make_indexes(s, t, err) < 0)
		return -1;
	if ((pt = calloc(1, sizeof(*pt))) == NULL || add_tab(s, pt) < 0) {
		free(pt);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	}
	snprintf(pt->type, sizeof(pt->type), "%s", t->type);
	pt->st = t;
	seq = serial_sequence(s, t, err);
	rc = typed_statements(pt, t, seq, index);
	pt->seq = seq;
	if (rc < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	t->sink = pt;
	return 0;
}

static void
pg_unschema(struct simlog_sink *s, struct simlog_schema *sc)
{
	for (size_t i = 0; i < sc->ntables; i++) {
		struct pgtab *pt = sc->tables[i].sink;

		if (pt != NULL)
			pt->st = NULL;
		sc->tables[i].sink = NULL;	/* freed with P(s)->tabs */
	}
	(void)s;
}

static int
pg_apply_schema(struct simlog_sink *s, struct simlog_schema *sc,
		struct simlog_err *err)
{
	char lock[80];

	snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%d, 0)",
	    LOCK_DDL);
	if (ensure_connected(s, err) < 0 ||
	    run(s, "BEGIN", "applying the schema", err) < 0)
		return -1;
	/* One drain at a time: two never race a CREATE or an ALTER. */
	if (run(s, lock, "applying the schema", err) < 0)
		goto fail;
	for (size_t i = 0; i < sc->ntables; i++)
		if (apply_table(s, &sc->tables[i], P(s)->ntabs, err) < 0)
			goto fail;
	return run(s, "COMMIT", "applying the schema", err);
fail:
	run(s, "ROLLBACK", "rolling back", NULL);
	return -1;
}

static int settle(struct simlog_sink *s, struct simlog_err *err);

static int
pg_plain_table(struct simlog_sink *s, struct simlog_route *r,
	       struct simlog_err *err)
{
	struct simlog_sql b = { NULL, 0, 0, 0 };
	struct pgtab *pt;
	char ident[160];
	int rc;

	if (simlog_sink_ident(r->table, strlen(r->table), ident,
	    sizeof(ident)) < 0)
		return simlog_seterr(err, SIMLOG_EX_DATAERR, "record type "
		    "'%s': not a table name", r->type);
	if (settle(s, err) < 0)
		return -1;
	simlog_sqlf(&b, "SELECT pg_advisory_xact_lock(%d, 0); "
	    "CREATE TABLE IF NOT EXISTS %s (id bigserial PRIMARY KEY, "
	    "simulation_id text NOT NULL, data jsonb NOT NULL)", LOCK_DDL,
	    ident);
	P(s)->locking = 1;	/* another drain may hold the DDL lock */
	rc = !b.oom ? create_missing(s, ident, b.s, ident, err) :
	    simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	P(s)->locking = 0;
	free(b.s);
	if (rc < 0)
		return -1;
	if ((pt = calloc(1, sizeof(*pt))) == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	snprintf(pt->type, sizeof(pt->type), "%s", r->type);
	pt->plain = 1;
	pt->mode = M_COPY;
	pt->serial = -1;
	pt->nparams = 2;
	snprintf(pt->stmt, sizeof(pt->stmt), "simlog_p%zu", P(s)->ntabs);
	b = (struct simlog_sql){ NULL, 0, 0, 0 };
	simlog_sqlf(&b, "INSERT INTO %s (simulation_id, data) VALUES ($1, $2)", ident);
	pt->insert = b.s;
	b = (struct simlog_sql){ NULL, 0, 0, 0 };
	simlog_sqlf(&b, "COPY %s (simulation_id, data) FROM STDIN", ident);
	pt->copy = b.s;
	if (pt->insert == NULL || pt->copy == NULL || add_tab(s, pt) < 0) {
		tab_free(pt);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	}
	r->plain = pt;
	return 0;
}

static void
pg_forget(struct simlog_sink *s, struct simlog_route *r)
{
	/* The statements stay with the other tables until close; the
	 * route is made again, and its table with it. */
	struct pgtab *pt = r->plain;

	if (pt != NULL) {
		rowset_clear(&pt->r, 0);
		pt->type[0] = '\0';
	}
	(void)s;
	r->plain = NULL;
}

/* --- the flight ----------------------------------------------------------------
 *
 * The server turns COPY text into rows (parsing jsonb, checking keys) more
 * slowly than the drain makes it: a table's rows go out by COPY while the
 * drain goes on decoding and converting, and the COPY's answer is read
 * only before the connection's next command.  One COPY is on its way at a
 * time (a connection carries one command), under a savepoint of its own,
 * as every flush is: rows the server refuses for their data are tried
 * again one by one (land).  What is sent goes out as the socket takes it
 * (pump), never waiting for the server but at the next command.
 */

#define LAUNCH_BYTES (64u << 10)	/* rows worth a COPY of their own
					 * when nothing is on its way */
#define PIECE (64u << 10)		/* COPY data handed to libpq at once */

static int rows_one_by_one(struct simlog_sink *s, struct pgtab *pt,
			   struct rowset *rs, int careful, PGresult **failed,
			   struct simlog_err *err);

/* Hand the flight's rows to the socket: as far as it takes them without
 * waiting (wait = 0), or all of them and the COPY's end (wait = 1).  A
 * wait's deadline is --timeout from the last piece taken: a large COPY
 * goes on for as long as the server keeps reading. */
static int
pump(struct simlog_sink *s, int wait, struct simlog_err *err)
{
	struct pg *p = P(s);
	const struct buf *b = &p->flyset.rows;
	const char *what = p->fly->type;
	double dl = deadline(s);

	for (;;) {
		int r = PQflush(p->c);

		if (r < 0)
			return fail(s, NULL, what, err);
		if (r == 0 && p->flysent < b->len) {
			size_t n = b->len - p->flysent;

			if (n > PIECE)
				n = PIECE;
			if (PQputCopyData(p->c, b->s + p->flysent, (int)n) != 1)
				return fail(s, NULL, what, err);
			p->flysent += n;
			dl = deadline(s);
			continue;
		}
		if (r == 0 && !p->flyend) {
			if ((r = PQputCopyEnd(p->c, NULL)) < 0)
				return fail(s, NULL, what, err);
			p->flyend = r == 1;
			if (r == 1)
				continue;
		}
		if (r == 0 || !wait)
			return 0;
		/* A server slow to read may be writing to us meanwhile:
		 * read as well, or both sides stall. */
		if (wait_sock(s, POLLIN | POLLOUT, dl) < 0 ||
		    !PQconsumeInput(p->c))
			return fail(s, NULL, what, err);
	}
}

/* Read the flight's answer: its rows are in (its savepoint left for the
 * next command to release: release_due), or, refused for their data,
 * were tried again one by one.  0 with nothing on its way, or -1. */
static int
land(struct simlog_sink *s, struct simlog_err *err)
{
	struct pg *p = P(s);
	struct pgtab *pt = p->fly;
	PGresult *res, *failed = NULL;
	double dl;
	int rc = 0;

	if (pt == NULL)
		return 0;
	if (pump(s, 1, err) < 0) {
		/* Half a COPY sent: the connection cannot go on. */
		if (P(s)->c != NULL) {
			give_up(s, 0, "lost the connection");
			P(s)->why[0] = '\0';
		}
		rc = -1;
	}
	dl = deadline(s);
	while (P(s)->c != NULL) {
		if (next_result(s, dl, &res) < 0) {
			if (rc == 0)
				rc = fail(s, NULL, pt->type, err);
			break;
		}
		if (res == NULL)
			break;
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
			rc = fail(s, res, pt->type, err);
			failed = res;
			continue;
		}
		PQclear(res);
	}
	/* The answer is read: the connection is free for what follows. */
	p->fly = NULL;
	if (rc < 0 && failed != NULL && data_error(failed) && P(s)->c != NULL) {
		PQclear(failed);
		failed = NULL;
		rc = run(s, "ROLLBACK TO SAVEPOINT simlog_flush", pt->type, err);
		if (rc == 0)
			rc = rows_one_by_one(s, pt, &p->flyset, 1, &failed,
			    err);
	}
	PQclear(failed);
	rowset_clear(&p->flyset, 0);
	p->release_due = rc == 0;
	return rc;
}

/* Before any other command: the flight's answer read, its savepoint
 * released. */
static int
settle(struct simlog_sink *s, struct simlog_err *err)
{
	if (land(s, err) < 0)
		return -1;
	if (!P(s)->release_due)
		return 0;
	P(s)->release_due = 0;
	return run(s, "RELEASE SAVEPOINT simlog_flush", "releasing a savepoint",
	    err);
}

static int own_checks(struct simlog_sink *s, struct simlog_err *err);
/* Rows a COPY must carry for the drain to check foreign keys itself: a
 * smaller transaction leaves them to the server, saving the look at the
 * tables' triggers. */
#define OWN_ROWS 256

/* Send a table's rows by COPY, not waiting for the server's answer (the
 * flight before it lands first). */
static int
launch(struct simlog_sink *s, struct pgtab *pt, struct simlog_err *err)
{
	struct pg *p = P(s);
	struct simlog_sql b = { NULL, 0, 0, 0 };
	struct rowset swap;
	PGresult *res;
	int rc = 0;

	if (p->own == 0 && pt->r.nrows >= OWN_ROWS &&
	    (settle(s, err) < 0 || own_checks(s, err) < 0))
		return -1;
	if (land(s, err) < 0)
		return -1;
	/* One round trip: the last flight's savepoint released, this one's
	 * taken, the COPY begun. */
	simlog_sqlf(&b, "%sSAVEPOINT simlog_flush; %s", p->release_due ?
	    "RELEASE SAVEPOINT simlog_flush; " : "", pt->copy);
	if (b.oom)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	p->release_due = 0;
	res = pq_exec(s, b.s);
	free(b.s);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		rc = fail(s, res, pt->type, err);
	PQclear(res);
	if (rc < 0)
		return -1;
	swap = p->flyset;
	p->flyset = pt->r;
	pt->r = swap;
	rowset_clear(&pt->r, 0);
	p->fly = pt;
	p->flysent = 0;
	p->flyend = 0;
	return pump(s, 0, err);
}

/* Whether a table's rows can fly: one COPY into the table itself. */
static int
can_fly(const struct pgtab *pt)
{
	return pt->mode == M_COPY && !pt->r.numbered;
}

static int flush_tab(struct simlog_sink *s, struct pgtab *pt,
		     struct simlog_err *err);
static int flush_parents(struct simlog_sink *s, struct pgtab *pt, int depth,
			 struct simlog_err *err);

/*
 * After a row: every so often, more of the flight out, and when the
 * server has answered it, this table's rows (and with a schema, those of
 * the tables above it) on their way next.  The server is kept busy with
 * rows in COPYs no larger than they grew while it was busy.
 */
static int
poke(struct simlog_sink *s, struct pgtab *pt, struct simlog_err *err)
{
	struct pg *p = P(s);

	if ((++p->tick & 31) != 0)
		return 0;
	if (p->fly != NULL) {
		if (pump(s, 0, err) < 0)
			return -1;
		if (!p->flyend)
			return 0;
		if (!PQconsumeInput(p->c))
			return fail(s, NULL, p->fly->type, err);
		if (PQisBusy(p->c))
			return 0;
		if (land(s, err) < 0)
			return -1;
	}
	if (pt->r.rows.len < LAUNCH_BYTES || !can_fly(pt))
		return 0;
	return pt->plain ? launch(s, pt, err) : flush_parents(s, pt, 0, err);
}

/* --- rows --------------------------------------------------------------------- */

/* Flush a typed table early, the rows of the tables it refers to before
 * its own: a parent's rows always go in before its children's.  (The
 * schema names a table's parents above it: depth only guards.) */
static int
flush_parents(struct simlog_sink *s, struct pgtab *pt, int depth,
	      struct simlog_err *err)
{
	for (size_t i = 0; pt->st != NULL && depth < 8 && i < pt->st->ncols;
	    i++) {
		int rt = pt->st->cols[i].ref_t;
		struct pgtab *parent = rt >= 0 ? s->schema->tables[rt].sink :
		    NULL;

		if (parent != NULL && parent != pt &&
		    flush_parents(s, parent, depth + 1, err) < 0)
			return -1;
	}
	return flush_tab(s, pt, err);
}

static int
pg_insert_plain(struct simlog_sink *s, struct simlog_route *r,
		const char *json, size_t len, struct simlog_err *err)
{
	struct pgtab *pt = r->plain;
	struct buf *b = &pt->r.rows;
	size_t slen = strlen(s->sim);

	if (grow(b, slen * 2 + len * 2 + 4) < 0 ||
	    rowset_seq(&pt->r, ++P(s)->seq) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	put_escaped(b, s->sim, slen);
	b->s[b->len++] = '\t';
	put_escaped(b, json, len);
	b->s[b->len++] = '\n';
	pt->r.nrows++;
	/* A large --batch must not hold all its rows in memory. */
	if (b->len >= FLUSH_BYTES)
		return flush_tab(s, pt, err);
	return poke(s, pt, err);
}

/* A value in COPY text; a date-time is UTC (simlog_stable_row's). */
static void
put_val(struct buf *b, const struct simlog_val *v, enum simlog_ctype type)
{
	if (!v->set || v->kind == SIMLOG_V_NULL)
		put(b, "\\N", 2);
	else {
		put_escaped(b, v->s, v->n);
		if (type == SIMLOG_C_DATETIME && !v->dflt)
			put(b, "+00", 3);
	}
}

/* The next value of a table's key sequence, from a block taken at once:
 * one query per block of rows numbered rather than a staging table; the
 * blocks grow (to 16384) as the table keeps numbering, each query a
 * pause of the flight. */
static int
next_id(struct simlog_sink *s, struct pgtab *pt, long long *id,
	struct simlog_err *err)
{
	if (pt->idpos == pt->nids) {
		size_t want = pt->nids < 1024 ? 1024 : pt->nids < 16384 ?
		    2 * pt->nids : 16384;
		char num[24];
		const char *v[2] = { pt->seq, num };
		PGresult *res;
		int n;

		if (settle(s, err) < 0)
			return -1;
		snprintf(num, sizeof(num), "%zu", want);
		res = pq_exec_params(s, "SELECT nextval($1::regclass) "
		    "FROM generate_series(1, $2::int)", 2, NULL, v, NULL, NULL,
		    0);
		n = PQntuples(res);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || n == 0) {
			int rc = fail(s, res, pt->type, err);

			PQclear(res);
			return rc;
		}
		if (want > pt->idcap) {
			long long *q = realloc(pt->ids, want * sizeof(*q));

			if (q == NULL) {
				PQclear(res);
				return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
				    "out of memory");
			}
			pt->ids = q;
			pt->idcap = want;
		}
		for (int i = 0; i < n && (size_t)i < want; i++)
			pt->ids[i] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		pt->nids = (size_t)n < want ? (size_t)n : want;
		pt->idpos = 0;
		PQclear(res);
	}
	*id = pt->ids[pt->idpos++];
	return 0;
}

static int
pg_insert_row(struct simlog_sink *s, struct simlog_route *r,
	      const struct simlog_val *vals, const char *json, size_t len,
	      struct simlog_err *err)
{
	const struct simlog_stable *t = r->st;
	struct pgtab *pt = t->sink;
	struct rowset *rs = &pt->r;
	struct buf *b = &rs->rows;
	size_t need = 56 + 2 * len, n = t->ncols;
	char num[24];

	for (size_t i = 0; i < n; i++)
		need += 2 * (vals[i].n + 5) * (pt->mode == M_ROWS ? 2 : 1) + 2;
	if (rs->nrows + 2 > rs->jcap) {
		size_t cap = rs->jcap ? 2 * rs->jcap : 1024;
		size_t *q = realloc(rs->jofs, cap * sizeof(*q));
		unsigned char *a = q ? realloc(rs->flags, cap) : NULL;

		if (q == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		rs->jofs = q;
		if (a == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		rs->flags = a;
		rs->jcap = cap;
	}
	if (grow(b, need) < 0 || grow(&rs->json, len) < 0 ||
	    rowset_seq(rs, ++P(s)->seq) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	/* The record itself, should the row be a dead letter. */
	if (rs->nrows == 0)
		rs->jofs[0] = 0;
	put(&rs->json, json, len);
	rs->jofs[rs->nrows + 1] = rs->json.len;
	rs->flags[rs->nrows] = s->from_wait ? ROW_WAITED : 0;
	if (pt->mode == M_STAGE) {
		/* The order number, used when the rows are staged. */
		put(b, num, (size_t)snprintf(num, sizeof(num), "%zu",
		    rs->nrows));
		b->s[b->len++] = '\t';
	}
	for (size_t i = 0; i < n; i++) {
		int missing = (int)i == pt->serial && (!vals[i].set ||
		    vals[i].kind == SIMLOG_V_NULL);

		if (missing && pt->mode == M_COPY) {
			long long id = 0;

			/* Numbered here: the rows still go in by one COPY. */
			if (next_id(s, pt, &id, err) < 0)
				return -1;
			rs->flags[rs->nrows] |= ROW_NUMBERED;
			put(b, num, (size_t)snprintf(num, sizeof(num),
			    "%lld", id));
		} else {
			put_val(b, &vals[i], t->cols[i].type);
			rs->numbered |= missing;
		}
		b->s[b->len++] = i + 1 < n || pt->mode == M_ROWS ? '\t' : '\n';
	}
	/* On duplicate update: the record's own values follow. */
	for (size_t i = 0; pt->mode == M_ROWS && i < n; i++) {
		if (vals[i].set && !vals[i].dflt)
			put_val(b, &vals[i], t->cols[i].type);
		else
			put(b, "\\N", 2);
		b->s[b->len++] = i + 1 < n ? '\t' : '\n';
	}
	rs->nrows++;
	if (b->len >= FLUSH_BYTES)
		return flush_parents(s, pt, 0, err);
	return poke(s, pt, err);
}

static int
reject_at(struct simlog_sink *s, unsigned long long seq, const char *sim,
	  const char *type, const char *json, size_t len, const char *why,
	  struct simlog_err *err)
{
	struct pg *p = P(s);
	struct buf *b = &p->rejects;
	size_t wlen = strlen(why);
	char num[40];

	if (p->nrj == p->rjcap) {
		size_t cap = p->rjcap ? 2 * p->rjcap : 64;
		struct reject *q = realloc(p->rj, cap * sizeof(*q));

		if (q == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		p->rj = q;
		p->rjcap = cap;
	}
	if (grow(b, 2 * (strlen(sim) + strlen(type) + len + wlen) + 64) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	p->rj[p->nrj].seq = seq;
	p->rj[p->nrj].off = b->len;
	put_escaped(b, sim, strlen(sim));
	b->s[b->len++] = '\t';
	put_escaped(b, type, strlen(type));
	b->s[b->len++] = '\t';
	put_escaped(b, json, len);
	b->s[b->len++] = '\t';
	put_escaped(b, why, wlen);
	put(b, num, (size_t)snprintf(num, sizeof(num), "\t%.6f\n",
	    simlog_now_wall()));
	p->rj[p->nrj].len = b->len - p->rj[p->nrj].off;
	p->nrj++;
	return 0;
}

static int
pg_reject(struct simlog_sink *s, const char *type, const char *json,
	  size_t len, const char *why, struct simlog_err *err)
{
	return reject_at(s, ++P(s)->seq, s->sim, type, json, len, why, err);
}

static int
by_seq(const void *a, const void *b)
{
	const struct reject *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The dead letters in the order their records came. */
static int
rejects_in_order(struct simlog_sink *s, struct buf *out)
{
	struct pg *p = P(s);

	qsort(p->rj, p->nrj, sizeof(*p->rj), by_seq);
	out->len = 0;
	if (grow(out, p->rejects.len) < 0)
		return -1;
	for (size_t i = 0; i < p->nrj; i++)
		put(out, p->rejects.s + p->rj[i].off, p->rj[i].len);
	return 0;
}

/* --- sending rows ------------------------------------------------------------- */

static int
copy_in(struct simlog_sink *s, const char *sql, const struct buf *b,
	const char *what, PGresult **failed, struct simlog_err *err)
{
	PGresult *res = pq_exec(s, sql);
	double dl;
	int rc = 0;

	*failed = NULL;
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		rc = fail(s, res, what, err);
		*failed = res;
		return rc;
	}
	PQclear(res);
	for (size_t o = 0; o < b->len && rc == 0; o += 1u << 20) {
		size_t n = b->len - o < (1u << 20) ? b->len - o : 1u << 20;

		if (pq_put_copy(s, b->s + o, (int)n) < 0)
			rc = fail(s, NULL, what, err);
	}
	if (P(s)->c == NULL)
		return rc;		/* given up: the connection is gone */
	dl = deadline(s);
	if (pq_end_copy(s, dl) < 0 && rc == 0)
		rc = fail(s, NULL, what, err);
	while (P(s)->c != NULL) {
		if (next_result(s, dl, &res) < 0) {
			if (rc == 0)
				rc = fail(s, NULL, what, err);
			break;
		}
		if (res == NULL)
			break;
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
			rc = fail(s, res, what, err);
			*failed = res;
			continue;
		}
		PQclear(res);
	}
	return rc;
}

static int
ensure_prepared(struct simlog_sink *s, struct pgtab *pt,
		struct simlog_err *err)
{
	if (pt->prep_gen == P(s)->gen)
		return 0;
	if (prepare(s, pt->stmt, pt->insert, pt->nparams, pt->ptypes, pt->type,
	    err) < 0)
		return -1;
	pt->prep_gen = P(s)->gen;
	return 0;
}

/* Split one COPY text line into parameters, in place. */
static int
split_line(char *line, char **params, int max, int skip)
{
	int n = 0;

	for (char *p = line;; ) {
		char *end = strchr(p, '\t'), *o = p, *q;

		if (end != NULL)
			*end = '\0';
		if (skip > 0)
			skip--;
		else if (n < max) {
			if (strcmp(p, "\\N") == 0)
				params[n++] = NULL;
			else {
				for (q = p; *q; q++) {
					if (*q == '\\' && q[1]) {
						q++;
						*o++ = *q == 't' ? '\t' :
						    *q == 'n' ? '\n' :
						    *q == 'r' ? '\r' : *q;
					} else
						*o++ = *q;
				}
				*o = '\0';
				params[n++] = p;
			}
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return n;
}

static struct simlog_route *
route_of(struct simlog_sink *s, const struct pgtab *pt)
{
	return simlog_sink_route_of(s, pt->type, strlen(pt->type));
}

/* The simulation of a row sent earlier (the one open now may be that of
 * a record that waited, being tried again). */
static const char *
row_sim(struct simlog_sink *s, const struct pgtab *pt, char **params)
{
	if (pt->plain)
		return params[0] ? params[0] : s->sim;
	if (pt->st != NULL && pt->st->sim_col >= 0 &&
	    params[pt->st->sim_col] != NULL)
		return params[pt->st->sim_col];
	return s->sim;
}

/* One row that failed for its data: a dead letter. */
static int
row_misfit(struct simlog_sink *s, struct pgtab *pt, const struct rowset *rs,
	   size_t k, char **params, const PGresult *res,
	   struct simlog_err *err)
{
	char why[SIMLOG_ERRLEN];
	const char *json;
	size_t jlen;

	misfit_reason(res, why, sizeof(why));
	if (pt->plain) {
		json = params[1];
		jlen = strlen(json);
	} else {
		json = rs->json.s + rs->jofs[k];
		jlen = rs->jofs[k + 1] - rs->jofs[k];
	}
	if (reject_at(s, rs->seq[k], row_sim(s, pt, params), pt->type, json,
	    jlen, why, err) < 0)
		return -1;
	simlog_sink_misfit(s, route_of(s, pt), why,
	    !pt->plain && (rs->flags[k] & ROW_WAITED));
	return 0;
}

/* On duplicate update changed no row: if the key's row is another
 * simulation's, the record is a dead letter saying whose. */
static int
owned_elsewhere(struct simlog_sink *s, struct pgtab *pt,
		const struct rowset *rs, size_t k, char **params,
		struct simlog_err *err)
{
	const char *v[8];
	PGresult *res;
	int rc = 0;

	for (int i = 0; i < pt->nokey; i++)
		v[i] = params[pt->okey[i]];
	res = pq_exec_params(s, pt->owner, pt->nokey, NULL, v, NULL, NULL,
	    0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = fail(s, res, pt->type, err);
	else if (PQntuples(res) == 1 && (PQgetisnull(res, 0, 0) ||
	    params[pt->simcol] == NULL ||
	    strcmp(PQgetvalue(res, 0, 0), params[pt->simcol]) != 0)) {
		char why[SIMLOG_ERRLEN];

		snprintf(why, sizeof(why), "%s: the row of this key belongs to "
		    "simulation '%s' (on duplicate update changes only the "
		    "record's own simulation's rows)", route_of(s, pt)->table,
		    PQgetvalue(res, 0, 0));
		if (reject_at(s, rs->seq[k], row_sim(s, pt, params), pt->type,
		    rs->json.s + rs->jofs[k], rs->jofs[k + 1] - rs->jofs[k],
		    why, err) < 0)
			rc = -1;
		else
			simlog_sink_misfit(s, route_of(s, pt), why,
			    rs->flags[k] & ROW_WAITED);
	}
	PQclear(res);
	return rc;
}

/* Every row's parameters, split out of a copy of the COPY text: rows
 * [0, nrows) at params + k * nparams. */
static int
split_rows(struct simlog_sink *s, struct pgtab *pt, const struct rowset *rs,
	   char ***params, struct simlog_err *err)
{
	struct buf *lb = &P(s)->line;
	size_t np = (size_t)pt->nparams;
	char *line, *end;
	char **pv;

	lb->len = 0;
	if (grow(lb, rs->rows.len) < 0 ||
	    (pv = calloc(rs->nrows * np + 1, sizeof(*pv))) == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	put(lb, rs->rows.s, rs->rows.len);
	end = lb->s + lb->len;
	line = lb->s;
	for (size_t k = 0; line < end; k++) {
		char *nl = memchr(line, '\n', (size_t)(end - line));

		*nl = '\0';
		split_line(line, pv + k * np, pt->nparams, rs->has_n);
		/* A key numbered here (it met a key a record gave): the
		 * sequence's next, as the statement takes it for NULL. */
		if (!pt->plain && (rs->flags[k] & ROW_NUMBERED) &&
		    pt->serial >= 0)
			pv[k * np + (size_t)pt->serial] = NULL;
		line = nl + 1;
	}
	*params = pv;
	return 0;
}

/*
 * Send rows [from, to) in one pipeline and read their answers: 0 with
 * *bad = to when all went in (zero[k]: row k changed nothing), else *bad
 * = the first row refused, *res its result; -1 on a failure of the
 * connection.
 */
static int
pipeline_rows(struct simlog_sink *s, struct pgtab *pt, char **params,
	      size_t from, size_t to, unsigned char *zero, size_t *bad,
	      PGresult **res, struct simlog_err *err)
{
	PGconn *c = P(s)->c;
	size_t np = (size_t)pt->nparams, k;
	double dl = deadline(s);
	int rc = 0, synced = 0;

	*bad = to;
	*res = NULL;
	if (!PQenterPipelineMode(c))
		return fail(s, NULL, pt->type, err);
	for (k = from; k < to; k++) {
		if (!PQsendQueryPrepared(c, pt->stmt, pt->nparams,
		    (const char *const *)params + k * np, NULL, NULL, 0))
			break;
		/* Sent as it goes: the server answers meanwhile. */
		if ((k - from) % 64 == 63 && (PQflush(c) < 0 ||
		    !PQconsumeInput(c)))
			break;
	}
	if (k < to || !PQpipelineSync(c) || flush_out(s, dl) < 0)
		rc = fail(s, NULL, pt->type, err);
	for (k = from; rc == 0 && !synced;) {
		PGresult *r;

		if (next_result(s, dl, &r) < 0) {
			rc = fail(s, NULL, pt->type, err);
			break;
		}
		if (r == NULL)
			continue;
		dl = deadline(s);
		switch (PQresultStatus(r)) {
		case PGRES_PIPELINE_SYNC:
			synced = 1;
			break;
		case PGRES_COMMAND_OK:
			zero[k++] = strcmp(PQcmdTuples(r), "0") == 0;
			break;
		case PGRES_PIPELINE_ABORTED:
			k++;
			break;
		default:
			if (*bad == to) {
				*bad = k;
				*res = r;
				r = NULL;
			}
			k++;
			break;
		}
		PQclear(r);
	}
	if (P(s)->c != NULL && PQpipelineStatus(P(s)->c) != PQ_PIPELINE_OFF &&
	    !PQexitPipelineMode(P(s)->c) && rc == 0)
		rc = fail(s, NULL, pt->type, err);
	if (rc < 0) {
		PQclear(*res);
		*res = NULL;
		/* Answers still owed: the connection cannot go on. */
		if (P(s)->c != NULL) {
			give_up(s, 0, "lost the connection");
			P(s)->why[0] = '\0';
		}
	}
	return rc;
}

/* The rows in [from, to) that changed nothing, checked for another
 * simulation's key, in order. */
static int
owners(struct simlog_sink *s, struct pgtab *pt, const struct rowset *rs,
       char **params, const unsigned char *zero, size_t from, size_t to,
       struct simlog_err *err)
{
	for (size_t k = from; pt->owner != NULL && k < to; k++)
		if (zero[k] && owned_elsewhere(s, pt, rs, k, params +
		    k * (size_t)pt->nparams, err) < 0)
			return -1;
	return 0;
}

/*
 * Row by row (after a flush failed for the data, or for on duplicate
 * update), the INSERTs sent PIPELINE rows at a time, their answers read
 * after.  careful: a row refused for its data is a dead letter — the
 * stretch since the last one is rolled back to its savepoint, its rows
 * before the refused one sent again, and the next stretch begins after
 * it; else the first failure fails the whole.
 */
#define PIPELINE 1024

static int
rows_one_by_one(struct simlog_sink *s, struct pgtab *pt, struct rowset *rs,
		int careful, PGresult **failed, struct simlog_err *err)
{
	size_t n = rs->nrows, from = 0, at = 0, bad, k, to;
	unsigned char *zero = calloc(n + 1, 1);
	char **params = NULL;
	PGresult *res = NULL;
	int rc;

	*failed = NULL;
	if (zero == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if ((rc = split_rows(s, pt, rs, &params, err)) < 0 ||
	    (rc = ensure_prepared(s, pt, err)) < 0 ||
	    (careful && (rc = run(s, "SAVEPOINT simlog_rows", pt->type,
	    err)) < 0))
		goto out;
	while (rc == 0 && at < n) {
		to = at + PIPELINE < n ? at + PIPELINE : n;
		if ((rc = pipeline_rows(s, pt, params, at, to, zero, &bad,
		    &res, err)) < 0)
			break;
		if (bad == to) {
			rc = owners(s, pt, rs, params, zero, at, to, err);
			at = to;
			continue;
		}
		if (!careful || !data_error(res)) {
			rc = fail(s, res, pt->type, err);
			if (!careful && data_error(res))
				*failed = res;
			else
				PQclear(res);
			res = NULL;
			break;
		}
		/* Back to the stretch's start, its good rows in again. */
		rc = run(s, "ROLLBACK TO SAVEPOINT simlog_rows", pt->type, err);
		for (k = from; rc == 0 && k < bad; k = to) {
			PGresult *again;
			size_t stop;

			to = k + PIPELINE < bad ? k + PIPELINE : bad;
			rc = pipeline_rows(s, pt, params, k, to, zero, &stop,
			    &again, err);
			if (rc == 0 && stop != to)
				rc = fail(s, again, pt->type, err);
			PQclear(again);
		}
		if (rc == 0)
			rc = owners(s, pt, rs, params, zero, at, bad, err);
		if (rc == 0)
			rc = row_misfit(s, pt, rs, bad, params + bad *
			    (size_t)pt->nparams, res, err);
		PQclear(res);
		res = NULL;
		if (rc == 0)
			rc = run(s, "RELEASE SAVEPOINT simlog_rows; SAVEPOINT "
			    "simlog_rows", pt->type, err);
		from = at = bad + 1;
	}
	if (rc == 0 && careful)
		rc = run(s, "RELEASE SAVEPOINT simlog_rows", pt->type, err);
out:
	free(zero);
	free(params);
	return rc;
}

static int renumber(struct rowset *rs);

/* The fast way: one COPY (into the table, or staged). */
static int
rows_at_once(struct simlog_sink *s, struct pgtab *pt, PGresult **failed,
	     struct simlog_err *err)
{
	if (pt->mode == M_COPY && !pt->r.numbered)
		return copy_in(s, pt->copy, &pt->r.rows, pt->type, failed,
		    err);
	/* Staged: in order, and keys numbered where records left them out. */
	if (!pt->r.has_n && renumber(&pt->r) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if (copy_in(s, pt->copy_stage, &pt->r.rows, pt->type, failed,
	    err) < 0)
		return -1;
	{
		PGresult *res = pq_exec(s, pt->move);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			int rc = fail(s, res, pt->type, err);

			*failed = res;
			return rc;
		}
		PQclear(res);
	}
	return 0;
}

/* Order numbers in front of every line, for the staging table. */
static int
renumber(struct rowset *rs)
{
	struct buf b = { NULL, 0, 0 };
	char *line = rs->rows.s, *end = rs->rows.s + rs->rows.len;
	char num[24];

	if (grow(&b, rs->rows.len + rs->nrows * 22) < 0)
		return -1;
	for (size_t k = 0; line < end; k++) {
		char *nl = memchr(line, '\n', (size_t)(end - line));

		put(&b, num, (size_t)snprintf(num, sizeof(num), "%zu\t", k));
		put(&b, line, (size_t)(nl - line) + 1);
		line = nl + 1;
	}
	free(rs->rows.s);
	rs->rows = b;
	rs->has_n = 1;
	return 0;
}

/* Send a table's rows: on their way by COPY (the flight), or at once
 * under a savepoint and, when that fails for the data, again row by row. */
static int
flush_tab(struct simlog_sink *s, struct pgtab *pt, struct simlog_err *err)
{
	PGresult *failed = NULL;
	int rc;

	if (pt->r.nrows == 0)
		return 0;
	if (can_fly(pt))
		return launch(s, pt, err);
	if (settle(s, err) < 0 ||
	    run(s, "SAVEPOINT simlog_flush", pt->type, err) < 0)
		return -1;
	/* A table whose rows can be another simulation's goes row by row
	 * under savepoints: its dead letters are made once. */
	rc = pt->mode == M_ROWS ? rows_one_by_one(s, pt, &pt->r,
	    pt->owner != NULL, &failed, err) :
	    rows_at_once(s, pt, &failed, err);
	if (rc < 0 && failed != NULL && data_error(failed)) {
		PQclear(failed);
		failed = NULL;
		if (run(s, "ROLLBACK TO SAVEPOINT simlog_flush", pt->type,
		    err) < 0)
			return -1;
		rc = rows_one_by_one(s, pt, &pt->r, 1, &failed, err);
	}
	PQclear(failed);
	if (rc < 0 || run(s, "RELEASE SAVEPOINT simlog_flush", pt->type,
	    err) < 0)
		return -1;
	rowset_clear(&pt->r, pt->mode == M_STAGE);
	return 0;
}

/* --- transactions ------------------------------------------------------------- */

static void
clear_rows(struct simlog_sink *s)
{
	for (size_t i = 0; i < P(s)->ntabs; i++) {
		struct pgtab *pt = P(s)->tabs[i];

		rowset_clear(&pt->r, pt->mode == M_STAGE);
	}
	rowset_clear(&P(s)->flyset, 0);
	P(s)->fly = NULL;
	P(s)->release_due = 0;
	P(s)->rejects.len = P(s)->nrj = 0;
	P(s)->seq = 0;
	P(s)->waits.len = 0;
	P(s)->nmk = 0;
}

/* The staging tables of this connection, made outside any transaction
 * (one made in a transaction that rolls back would be gone with it). */
static int
ensure_stages(struct simlog_sink *s, struct simlog_err *err)
{
	for (size_t i = 0; i < P(s)->ntabs; i++) {
		struct pgtab *pt = P(s)->tabs[i];

		if (pt->plain || pt->stage_gen == P(s)->gen)
			continue;
		if (run(s, pt->stage_ddl, pt->type, err) < 0)
			return -1;
		pt->stage_gen = P(s)->gen;
	}
	return 0;
}

static int
pg_begin(struct simlog_sink *s, const char *sim, struct simlog_err *err)
{
	char sql[200];
	int rc;

	clear_rows(s);
	if (ensure_connected(s, err) < 0 || ensure_stages(s, err) < 0)
		return -1;
	/* Drains of one simulation take turns; the names are safe.  Only
	 * the wait for the lock may last --busy-timeout: a server that
	 * does not answer BEGIN is given up on after --timeout. */
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%d, "
	    "hashtext('%s'))", LOCK_SIM, sim);
	if (run(s, "BEGIN", "starting a transaction", err) < 0)
		return -1;
	P(s)->locking = 1;
	rc = run(s, sql, "starting a transaction", err);
	P(s)->locking = 0;
	if (rc < 0) {
		run(s, "ROLLBACK", "rolling back", NULL);
		return -1;
	}
	P(s)->in_txn = 1;
	P(s)->own = 0;
	s->used_keys = s->nparents > 0;
	return 0;
}

static int
pg_mark(struct simlog_sink *s, const unsigned char *id, uint32_t records,
	int *dup, struct simlog_err *err)
{
	char n[24], t[40];
	const char *v[4] = { (const char *)id, s->sim, n, t };
	const int lens[4] = { SIMLOG_BATCH_ID_LEN, 0, 0, 0 };
	const int fmts[4] = { 1, 0, 0, 0 };
	PGresult *res;
	int rc = 0;

	if (settle(s, err) < 0)
		return -1;
	if (P(s)->mark_gen != P(s)->gen) {
		if (prepare(s, "simlog_mark", "INSERT INTO simlog_batches "
		    "(batch, simulation_id, records, drained_at) "
		    "VALUES ($1, $2, $3, $4) ON CONFLICT (batch) DO NOTHING",
		    4, NULL, "recording a batch", err) < 0)
			return -1;
		P(s)->mark_gen = P(s)->gen;
	}
	snprintf(n, sizeof(n), "%u", records);
	snprintf(t, sizeof(t), "%.6f", simlog_now_wall());
	res = pq_exec_prepared(s, "simlog_mark", 4, v, lens, fmts, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = fail(s, res, "recording a batch", err);
	else
		*dup = strcmp(PQcmdTuples(res), "0") == 0;
	PQclear(res);
	return rc;
}

static int
hexval(char c)
{
	return c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0';
}

/* ids as a bytea[] literal: {"\\x00ff...",...}. */
static int
id_array(struct buf *b, const unsigned char *ids, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	b->len = 0;
	if (grow(b, n * (2 * SIMLOG_BATCH_ID_LEN + 8) + 2) < 0)
		return -1;
	b->s[b->len++] = '{';
	for (size_t i = 0; i < n; i++) {
		const unsigned char *id = ids + i * SIMLOG_BATCH_ID_LEN;

		put(b, i ? ",\"\\\\x" : "\"\\\\x", i ? 5 : 4);
		for (size_t k = 0; k < SIMLOG_BATCH_ID_LEN; k++) {
			b->s[b->len++] = hex[id[k] >> 4];
			b->s[b->len++] = hex[id[k] & 15];
		}
		b->s[b->len++] = '"';
	}
	b->s[b->len++] = '}';
	b->s[b->len] = '\0';
	return 0;
}

/* Which of the ids simlog_batches holds: one query, which releases the
 * last flight's savepoint as well (the ids go inline, in hex). */
static int
pg_expect(struct simlog_sink *s, const unsigned char *ids, size_t n,
	  unsigned char *found, struct simlog_err *err)
{
	static const char hex[] = "0123456789abcdef";
	struct simlog_sql b = { NULL, 0, 0, 0 };
	unsigned char id[SIMLOG_BATCH_ID_LEN];
	PGresult *res;
	int rc = 0;

	if (land(s, err) < 0)
		return -1;
	simlog_sqlf(&b, "%sSELECT encode(batch, 'hex') FROM simlog_batches "
	    "WHERE batch IN (",
	    P(s)->release_due ? "RELEASE SAVEPOINT simlog_flush; " : "");
	for (size_t i = 0; i < n; i++) {
		char h[2 * SIMLOG_BATCH_ID_LEN + 1];

		for (size_t k = 0; k < SIMLOG_BATCH_ID_LEN; k++) {
			h[2 * k] = hex[ids[i * SIMLOG_BATCH_ID_LEN + k] >> 4];
			h[2 * k + 1] = hex[ids[i * SIMLOG_BATCH_ID_LEN + k] & 15];
		}
		h[2 * SIMLOG_BATCH_ID_LEN] = '\0';
		simlog_sqlf(&b, "%sdecode('%s', 'hex')", i ? ", " : "", h);
	}
	simlog_sqlf(&b, ")");
	if (b.oom)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	P(s)->release_due = 0;
	res = pq_exec(s, b.s);
	free(b.s);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = fail(s, res, "looking up batches", err);
	for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
		const char *v = PQgetvalue(res, r, 0);

		if (strlen(v) != 2 * SIMLOG_BATCH_ID_LEN)
			continue;
		for (size_t k = 0; k < SIMLOG_BATCH_ID_LEN; k++)
			id[k] = (unsigned char)(hexval(v[2 * k]) << 4 |
			    hexval(v[2 * k + 1]));
		for (size_t i = 0; i < n; i++)
			if (memcmp(id, ids + i * SIMLOG_BATCH_ID_LEN,
			    SIMLOG_BATCH_ID_LEN) == 0)
				found[i] = 1;
	}
	PQclear(res);
	return rc;
}

/* Kept for the commit, which records them all in one statement. */
static int
pg_mark_new(struct simlog_sink *s, const unsigned char *id, uint32_t records,
	    struct simlog_err *err)
{
	struct pg *p = P(s);

	if (p->nmk == p->mkcap) {
		size_t cap = p->mkcap ? 2 * p->mkcap : 64;
		unsigned char *q = realloc(p->mk, cap * SIMLOG_BATCH_ID_LEN);
		uint32_t *r;

		if (q == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		p->mk = q;
		if ((r = realloc(p->mkrec, cap * sizeof(*r))) == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		p->mkrec = r;
		p->mkcap = cap;
	}
	memcpy(p->mk + p->nmk * SIMLOG_BATCH_ID_LEN, id, SIMLOG_BATCH_ID_LEN);
	p->mkrec[p->nmk++] = records;
	return 0;
}

/*
 * The batch ids pg_mark_new kept, in one statement.  Each was found
 * missing under the simulation's lock, which every drain takes: if one is
 * there now all the same, the transaction fails (to be tried again, when
 * the id is found) rather than store its records twice.
 */
static int
record_marks(struct simlog_sink *s, struct simlog_err *err)
{
	struct pg *p = P(s);
	struct buf counts = { NULL, 0, 0 };
	char t[40];
	const char *v[4];
	PGresult *res;
	int rc = 0;

	if (p->nmk == 0)
		return 0;
	if (id_array(&p->line, p->mk, p->nmk) < 0 ||
	    grow(&counts, p->nmk * 11 + 2) < 0) {
		free(counts.s);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	}
	counts.s[counts.len++] = '{';
	for (size_t i = 0; i < p->nmk; i++)
		counts.len += (size_t)snprintf(counts.s + counts.len,
		    counts.cap - counts.len, "%s%u", i ? "," : "", p->mkrec[i]);
	counts.s[counts.len++] = '}';
	counts.s[counts.len] = '\0';
	snprintf(t, sizeof(t), "%.6f", simlog_now_wall());
	v[0] = p->line.s;
	v[1] = s->sim;
	v[2] = counts.s;
	v[3] = t;
	res = pq_exec_params(s, "INSERT INTO simlog_batches (batch, "
	    "simulation_id, records, drained_at) SELECT b, $2, r, $4 FROM "
	    "unnest($1::bytea[], $3::bigint[]) AS u(b, r) "
	    "ON CONFLICT (batch) DO NOTHING", 4, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = fail(s, res, "recording batches", err);
	else if (strtoull(PQcmdTuples(res), NULL, 10) != p->nmk)
		rc = simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: recording "
		    "batches: another drain recorded one of them meanwhile; "
		    "rolled back, to be drained again", s->name);
	PQclear(res);
	free(counts.s);
	if (rc == 0)
		p->nmk = 0;
	return rc;
}

static int own_verify(struct simlog_sink *s, struct simlog_err *err);

static int
pg_commit(struct simlog_sink *s, struct simlog_err *err)
{
	struct pg *p = P(s);

	for (size_t i = 0; i < p->ntabs; i++)
		if (flush_tab(s, p->tabs[i], err) < 0)
			return -1;
	if (settle(s, err) < 0)
		return -1;
	if (p->nrj > 0) {
		PGresult *failed;
		int rc;

		if (rejects_in_order(s, &p->line) < 0)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		rc = copy_in(s, "COPY simlog_rejects (simulation_id, type, "
		    "data, error, drained_at) FROM STDIN", &p->line,
		    "simlog_rejects", &failed, err);
		PQclear(failed);
		if (rc < 0)
			return -1;
		p->rejects.len = p->nrj = 0;
	}
	if (p->waits.len > 0) {
		PGresult *failed;
		int rc = copy_in(s, "COPY simlog_waiting (simulation_id, type, "
		    "data, parent, parent_key, drained_at) FROM STDIN",
		    &p->waits, "simlog_waiting", &failed, err);

		PQclear(failed);
		if (rc < 0)
			return -1;
		p->waits.len = 0;
	}
	if (p->own == 1 && own_verify(s, err) < 0)
		return -1;
	if (record_marks(s, err) < 0 ||
	    run(s, "COMMIT", "committing", err) < 0)
		return -1;
	p->in_txn = 0;
	/* A transaction left to the server's checks settles it. */
	if (p->own != 1)
		p->server_next = 0;
	return 0;
}

static void
pg_rollback(struct simlog_sink *s)
{
	/* A COPY on its way cannot be interrupted by a ROLLBACK: the
	 * connection goes with it (the server rolls back), and the next
	 * transaction connects again. */
	if (P(s)->fly != NULL && P(s)->c != NULL) {
		give_up(s, 0, "rolled back");
		P(s)->why[0] = '\0';
	}
	P(s)->own = 0;
	clear_rows(s);
	if (PQstatus(P(s)->c) == CONNECTION_OK &&
	    PQtransactionStatus(P(s)->c) != PQTRANS_IDLE)
		run(s, "ROLLBACK", "rolling back", NULL);
	P(s)->in_txn = 0;
}

/* --- foreign keys ---------------------------------------------------------------- */

/*
 * PostgreSQL checks a foreign key with a query of its own for every row,
 * at about ten times the cost of the row's insert.  The drain knows each
 * row's parent key already (parents.c): where it may, it checks them
 * itself instead, once a transaction, with the lock the server's check
 * takes (FOR KEY SHARE), before the commit, and has the server skip its
 * own for the transaction's rows (session_replication_role = replica,
 * SET LOCAL).  It may when
 *  - its role may set session_replication_role (a superuser, or GRANT SET
 *    ON PARAMETER, PostgreSQL 15);
 *  - the tables it writes have no triggers or rules but those of the
 *    foreign keys its schema declares (replica mode would skip a user's
 *    trigger, or fire one made ENABLE REPLICA), and no foreign keys but
 *    those: it holds them in ROW EXCLUSIVE mode from before it looks
 *    until the commit, so that none is added meanwhile;
 *  - every parent column holds integers or text, whose keys compare as
 *    the drain writes them.
 * A parent found gone at the commit rolls the transaction back; the next
 * one asks the database for the parents again, and leaves the checks to
 * the server.
 */

/* Whether the parents' keys compare as the drain writes them. */
static int
own_keys(const struct simlog_sink *s)
{
	for (size_t i = 0; i < s->nparents; i++) {
		enum simlog_ctype t = s->parents[i].st->cols[s->parents[i].col].type;

		if (t != SIMLOG_C_INTEGER && t != SIMLOG_C_TEXT && t != SIMLOG_C_ID)
			return 0;
	}
	return 1;
}

/* An array literal of texts, {"a","b"}, in b (NUL-terminated). */
static int
text_array(struct buf *b, const char *const *v, const size_t *n, size_t k)
{
	size_t need = 2;

	for (size_t i = 0; i < k; i++)
		need += 2 * n[i] + 3;
	b->len = 0;
	if (grow(b, need) < 0)
		return -1;
	put(b, "{", 1);
	for (size_t i = 0; i < k; i++) {
		if (i)
			put(b, ",", 1);
		put(b, "\"", 1);
		for (size_t j = 0; j < n[i]; j++) {
			if (v[i][j] == '"' || v[i][j] == '\\')
				put(b, "\\", 1);
			put(b, v[i] + j, 1);
		}
		put(b, "\"", 1);
	}
	put(b, "}", 1);
	b->s[b->len] = '\0';
	return 0;
}

/* The tables the transaction writes that are there already: the schema's,
 * the drain's own, and default tables made before. */
static size_t
written_tables(struct simlog_sink *s, const char **v, size_t *n, size_t max)
{
	static const char *const own[] = { "simlog_batches", "simlog_rejects",
	    "simlog_waiting" };
	size_t k = 0;

	for (size_t i = 0; i < 3 && k < max; i++)
		v[k++] = own[i];
	for (size_t i = 0; i < s->schema->ntables && k < max; i++)
		v[k++] = s->schema->tables[i].name;
	for (size_t i = 0; i < s->nroutes && k < max; i++)
		if (s->routes[i].plain != NULL && !s->routes[i].made_in_txn)
			v[k++] = s->routes[i].table;
	for (size_t i = 0; i < k; i++)
		n[i] = strlen(v[i]);
	return k;
}

/* The schema's foreign keys as four arrays (child table, its column,
 * parent table, its column) in a[0..3]. */
static int
declared_keys(struct simlog_sink *s, struct buf a[4])
{
	const struct simlog_schema *sc = s->schema;
	size_t k = 0, cap = 0;
	const char **v[4] = { NULL, NULL, NULL, NULL };
	size_t *n = NULL;
	int rc = -1;

	for (size_t t = 0; t < sc->ntables; t++)
		for (size_t i = 0; i < sc->tables[t].ncols; i++)
			cap += sc->tables[t].cols[i].ref_t >= 0;
	for (int j = 0; j < 4; j++)
		if ((v[j] = calloc(cap + 1, sizeof(*v[j]))) == NULL)
			goto out;
	if ((n = calloc(4 * (cap + 1), sizeof(*n))) == NULL)
		goto out;
	for (size_t t = 0; t < sc->ntables; t++)
		for (size_t i = 0; i < sc->tables[t].ncols; i++) {
			const struct simlog_column *c = &sc->tables[t].cols[i];
			const struct simlog_stable *pt;

			if (c->ref_t < 0)
				continue;
			pt = &sc->tables[c->ref_t];
			v[0][k] = sc->tables[t].name;
			v[1][k] = c->name;
			v[2][k] = pt->name;
			v[3][k] = pt->cols[c->ref_c].name;
			for (int j = 0; j < 4; j++)
				n[j * (cap + 1) + k] = strlen(v[j][k]);
			k++;
		}
	rc = 0;
	for (int j = 0; j < 4 && rc == 0; j++)
		rc = text_array(&a[j], v[j], n + j * (cap + 1), k);
out:
	for (int j = 0; j < 4; j++)
		free(v[j]);
	free(n);
	return rc;
}

/* The triggers, rules and foreign keys on the tables (their names in $1)
 * other than those of the foreign keys the schema declares ($2..$5). */
static const char others_sql[] =
    "WITH tabs AS (SELECT to_regclass(quote_ident(n)) AS oid "
    "FROM unnest($1::text[]) AS n), "
    "ours AS (SELECT k.oid FROM pg_constraint k JOIN "
    "unnest($2::text[], $3::text[], $4::text[], $5::text[]) "
    "AS d(ct, cc, pt, pc) ON k.contype = 'f' "
    "AND k.conrelid = to_regclass(quote_ident(d.ct)) "
    "AND k.confrelid = to_regclass(quote_ident(d.pt)) "
    "AND k.conkey = ARRAY[(SELECT attnum FROM pg_attribute "
    "WHERE attrelid = k.conrelid AND attname = d.cc)] "
    "AND k.confkey = ARRAY[(SELECT attnum FROM pg_attribute "
    "WHERE attrelid = k.confrelid AND attname = d.pc)]) "
    "SELECT (SELECT count(*) FROM pg_constraint k WHERE k.contype = 'f' "
    "AND (k.conrelid IN (SELECT oid FROM tabs) "
    "OR k.confrelid IN (SELECT oid FROM tabs)) "
    "AND k.oid NOT IN (SELECT oid FROM ours)) "
    "+ (SELECT count(*) FROM pg_trigger t "
    "WHERE t.tgrelid IN (SELECT oid FROM tabs) AND t.tgenabled <> 'D' "
    "AND NOT (t.tgisinternal AND t.tgconstraint IN (SELECT oid FROM ours))) "
    "+ (SELECT count(*) FROM pg_rewrite r "
    "WHERE r.ev_class IN (SELECT oid FROM tabs) AND r.rulename <> '_RETURN')";

/* Decide, before the transaction's first COPY, who checks its foreign
 * keys; with no answer from the server, -1. */
static int
own_checks(struct simlog_sink *s, struct simlog_err *err)
{
	struct pg *p = P(s);
	struct simlog_sql lock = { NULL, 0, 0, 0 };
	struct buf names = { NULL, 0, 0 }, a[4];
	const char *v[5], *tv[256];
	size_t tn[256], nt;
	PGresult *res;
	const char *st;
	int rc = -1, others = -1;

	p->own = -1;
	if (s->nparents == 0 || p->server_next || p->own_denied == p->gen ||
	    !own_keys(s))
		return 0;
	memset(a, 0, sizeof(a));
	nt = written_tables(s, tv, tn, 256);
	if (nt == 256)
		return 0;	/* more than it cares to name */
	simlog_sqlf(&lock, "LOCK TABLE ");
	for (size_t i = 0; i < nt; i++)
		simlog_sqlf(&lock, "%s\"%s\"", i ? ", " : "", tv[i]);
	simlog_sqlf(&lock, " IN ROW EXCLUSIVE MODE");
	if (lock.oom || text_array(&names, tv, tn, nt) < 0 ||
	    declared_keys(s, a) < 0) {
		rc = simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		goto out;
	}
	rc = 0;
	/* Whether the role may: asked first.  The lock then wants INSERT,
	 * UPDATE, DELETE or TRUNCATE on every table named, those this
	 * transaction has no rows for too; without it, the server checks. */
	res = pq_exec(s, "SAVEPOINT simlog_own; "
	    "SET LOCAL session_replication_role = replica");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (st == NULL || strcmp(st, "42501") != 0) {
			rc = fail(s, res, "setting session_replication_role",
			    err);
			PQclear(res);
			goto out;
		}
		p->own_denied = p->gen;
	}
	PQclear(res);
	if (p->own_denied != p->gen) {
		/* The lock may wait for another's ALTER or CREATE INDEX. */
		p->locking = 1;
		res = pq_exec(s, lock.s);
		p->locking = 0;
		st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    (st == NULL || strcmp(st, "42501") != 0))
			rc = fail(s, res, "locking the tables", err);
		else if (PQresultStatus(res) != PGRES_COMMAND_OK)
			p->own_denied = p->gen;
		PQclear(res);
		if (rc < 0)
			goto out;
	}
	if (p->own_denied != p->gen) {
		v[0] = names.s;
		for (int j = 0; j < 4; j++)
			v[j + 1] = a[j].s;
		res = pq_exec_params(s, others_sql, 5, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK ||
		    PQntuples(res) != 1)
			rc = fail(s, res, "looking at the tables' triggers", err);
		else
			others = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (rc < 0)
			goto out;
	}
	/* Kept, or undone (the setting with it) for the server to check. */
	if (others == 0) {
		rc = run(s, "RELEASE SAVEPOINT simlog_own", "releasing a "
		    "savepoint", err);
		p->own = rc == 0 ? 1 : -1;
	} else
		rc = run(s, "ROLLBACK TO SAVEPOINT simlog_own; "
		    "RELEASE SAVEPOINT simlog_own", "rolling back", err);
out:
	free(lock.s);
	free(names.s);
	for (int j = 0; j < 4; j++)
		free(a[j].s);
	return rc;
}

/* A parent key of pa (its keys in P(s)->line) is gone, deleted since the
 * drain saw it: say which, and have the next transaction ask the database
 * for pa's keys again and leave the checks to the server (the rows that
 * refer to it then wait for it).  Returns -1. */
static int
parent_gone(struct simlog_sink *s, struct simlog_parent *pa,
	    struct simlog_err *err)
{
	const struct simlog_column *c = &pa->st->cols[pa->col];
	struct simlog_sql b = { NULL, 0, 0, 0 };
	const char *v[1] = { P(s)->line.s };
	char gone[84] = "?";
	PGresult *res;

	simlog_sqlf(&b, "SELECT k FROM unnest($1::text[]) AS u(k) EXCEPT "
	    "SELECT \"%s\"::text FROM \"%s\" WHERE \"%s\" = "
	    "ANY ($1::text[]::%s[]) LIMIT 1", c->name, pa->st->name, c->name,
	    pgtype(c));
	res = b.oom ? NULL : pq_exec_params(s, b.s, 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		snprintf(gone, sizeof(gone), "%.80s", PQgetvalue(res, 0, 0));
	PQclear(res);
	free(b.s);
	simlog_parents_forget_all(pa);
	P(s)->server_next = 1;
	return simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: %s: '%s', which "
	    "rows of this transaction refer to, is gone; rolled back, to be "
	    "drained again", s->name, pa->name, gone);
}

/*
 * Before the commit: every parent key the transaction's rows refer to is
 * there, and locked as the server's own check would lock it.  One found
 * gone fails the transaction, to be tried again asking the database for
 * every parent of that column afresh.
 */
static int
own_verify(struct simlog_sink *s, struct simlog_err *err)
{
	struct pg *p = P(s);

	for (size_t i = 0; i < s->nparents; i++) {
		struct simlog_parent *pa = &s->parents[i];
		const struct simlog_column *c = &pa->st->cols[pa->col];
		struct simlog_sql q = { NULL, 0, 0, 0 };
		const char **keys = NULL, *v[1], *k;
		size_t *lens = NULL, nk = 0, cap = 0, it = 0, kn;
		PGresult *res;
		int rc = 0;

		while ((k = simlog_parents_used(pa, &it, &kn)) != NULL) {
			if (nk == cap) {
				size_t c2 = cap ? 2 * cap : 64;
				void *q1 = realloc(keys, c2 * sizeof(*keys));
				void *q2 = q1 ? realloc(lens, c2 *
				    sizeof(*lens)) : NULL;

				if (q1 != NULL)
					keys = q1;
				if (q2 == NULL) {
					free(keys);
					free(lens);
					return simlog_seterr(err,
					    SIMLOG_EX_SOFTWARE,
					    "out of memory");
				}
				lens = q2;
				cap = c2;
			}
			keys[nk] = k;
			lens[nk++] = kn;
		}
		if (nk == 0)
			continue;
		/* The column is unique (a key others refer to): one row a
		 * key. */
		simlog_sqlf(&q, "SELECT count(*) FROM (SELECT FROM \"%s\" WHERE "
		    "\"%s\" = ANY ($1::text[]::%s[]) FOR KEY SHARE) AS x",
		    pa->st->name, c->name, pgtype(c));
		if (q.oom || text_array(&p->line, keys, lens, nk) < 0) {
			free(q.s);
			free(keys);
			free(lens);
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		}
		free(keys);
		free(lens);
		v[0] = p->line.s;
		res = pq_exec_params(s, q.s, 1, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK ||
		    PQntuples(res) != 1)
			rc = fail(s, res, pa->name, err);
		else if (strtoull(PQgetvalue(res, 0, 0), NULL, 10) != nk)
			rc = parent_gone(s, pa, err);
		PQclear(res);
		free(q.s);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int
pg_parent_has(struct simlog_sink *s, struct simlog_parent *p, const char *key,
	      size_t n, int *found, struct simlog_err *err)
{
	struct simlog_sql b = { NULL, 0, 0, 0 };
	char *k = strndup(key, n);
	const char *v[1] = { k };
	PGresult *res;
	int rc = 0;

	if (settle(s, err) < 0) {
		free(k);
		return -1;
	}
	simlog_sqlf(&b, "SELECT 1 FROM \"%s\" WHERE \"%s\" = $1 LIMIT 1",
	    p->st->name, p->st->cols[p->col].name);
	if (b.oom || k == NULL) {
		free(b.s);
		free(k);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	}
	res = pq_exec_params(s, b.s, 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = fail(s, res, p->name, err);
	else
		*found = PQntuples(res) > 0;
	PQclear(res);
	free(b.s);
	free(k);
	return rc;
}

static int
pg_wait_put(struct simlog_sink *s, const char *sim, const char *type,
	    const char *json, size_t len, const struct simlog_parent *p,
	    const char *key, size_t n, struct simlog_err *err)
{
	struct buf *b = &P(s)->waits;
	char num[40];

	if (grow(b, 2 * (strlen(sim) + strlen(type) + len + strlen(p->name) +
	    n) + 64) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	put_escaped(b, sim, strlen(sim));
	b->s[b->len++] = '\t';
	put_escaped(b, type, strlen(type));
	b->s[b->len++] = '\t';
	put_escaped(b, json, len);
	b->s[b->len++] = '\t';
	put_escaped(b, p->name, strlen(p->name));
	b->s[b->len++] = '\t';
	put_escaped(b, key, n);
	put(b, num, (size_t)snprintf(num, sizeof(num), "\t%.6f\n",
	    simlog_now_wall()));
	return 0;
}

static int
pg_wait_list(struct simlog_sink *s,
	     void (*fn)(struct simlog_sink *, const char *, const char *),
	     unsigned long long *rows, struct simlog_err *err)
{
	PGresult *res;
	int rc = 0;

	if (ensure_connected(s, err) < 0 || settle(s, err) < 0)
		return -1;
	res = pq_exec(s, "SELECT parent, parent_key, count(*) FROM "
	    "simlog_waiting GROUP BY parent, parent_key");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = fail(s, res, "simlog_waiting", err);
	else {
		*rows = 0;
		for (int i = 0; i < PQntuples(res); i++) {
			fn(s, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
			*rows += strtoull(PQgetvalue(res, i, 2), NULL, 10);
		}
	}
	PQclear(res);
	return rc;
}

static int
pg_wait_take(struct simlog_sink *s, const struct simlog_parent *p,
	     const char *key, size_t n,
	     int (*fn)(struct simlog_sink *, const char *, const char *,
		       const char *, size_t, struct simlog_err *),
	     struct simlog_err *err)
{
	char *k = strndup(key, n);
	const char *v[2] = { p->name, k };
	PGresult *res;
	int rc = 0;

	if (k == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if (settle(s, err) < 0) {
		free(k);
		return -1;
	}
	res = pq_exec_params(s, "WITH taken AS (DELETE FROM simlog_waiting "
	    "WHERE parent = $1 AND parent_key = $2 RETURNING id, "
	    "simulation_id, type, data) SELECT simulation_id, type, data "
	    "FROM taken ORDER BY id", 2, NULL, v, NULL, NULL, 0);
	free(k);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = fail(s, res, "simlog_waiting", err);
	for (int i = 0; rc == 0 && i < PQntuples(res); i++)
		rc = fn(s, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2), err);
	PQclear(res);
	return rc;
}

static int
pg_prune(struct simlog_sink *s, double before, struct simlog_err *err)
{
	char t[40];
	const char *v[1] = { t };
	PGresult *res;
	int rc = 0;

	/* Housekeeping, which the next drain does as well: not worth
	 * keeping a drain asked to stop, nor connecting again to a server
	 * that failed it. */
	if ((s->stop != NULL && *s->stop) || PQstatus(P(s)->c) != CONNECTION_OK)
		return 0;
	snprintf(t, sizeof(t), "%.6f", before);
	res = pq_exec_params(s, "DELETE FROM simlog_batches WHERE "
	    "drained_at < $1", 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = fail(s, res, "pruning old batch ids", err);
	PQclear(res);
	return rc;
}

/* Creating and altering tables waits for the DDL lock another drain may
 * hold, and for a table's readers. */
static int
pg_apply_schema_waiting(struct simlog_sink *s, struct simlog_schema *sc,
			struct simlog_err *err)
{
	int rc;

	P(s)->locking = 1;
	rc = pg_apply_schema(s, sc, err);
	P(s)->locking = 0;
	return rc;
}

const struct simlog_sink_ops simlog_sink_pg = {
	.kind = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.apply_schema = pg_apply_schema_waiting,
	.begin = pg_begin,
	.mark = pg_mark,
	.expect = pg_expect,
	.mark_new = pg_mark_new,
	.plain_table = pg_plain_table,
	.insert_plain = pg_insert_plain,
	.insert_row = pg_insert_row,
	.reject = pg_reject,
	.parent_has = pg_parent_has,
	.wait_put = pg_wait_put,
	.wait_list = pg_wait_list,
	.wait_take = pg_wait_take,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.prune = pg_prune,
	.forget = pg_forget,
	.unschema = pg_unschema,
};

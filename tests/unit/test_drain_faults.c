/*
 * The drain engine (lib/drain.c) stopped at every point of a transaction,
 * of a --follow round and of a --shard hand-over, through the sink that
 * fails on demand (fault_sink.h), then run again: every record lands
 * exactly once and Redis ends empty.  A database error of each class ends
 * the run with the status and the messages simlog-drain gives for it.
 * Against a private redis-server on a unix socket in a directory of the
 * test's own, and SQLite files there; and the same for a schema whose
 * tables refer to one another (split_pages).  Nothing waits on a clock: retries
 * have no backoff (SIMLOG_RETRY_BASE=0) and failures come at once.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sqlite3.h>

#include "simlog.h"
#include "simlog_drain.h"
#include "fault_sink.h"
#include "server.h"
#include "tap.h"

/* --- a private Redis ------------------------------------------------------- */

static struct server srv;
static char url[160], dbpath[160];

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void
bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

/* A command on the test's own connection, which must answer. */
static redisReply *
answered(redisReply *r)
{
	if (r == NULL)
		bail("redis-server: no answer");
	return r;
}

#define cmd(...) answered(server_cmd(&srv, __VA_ARGS__))

/* --- records in, records out ------------------------------------------------ */

/* The ith record to push into buf: its length. */
typedef int (*record_fn)(const char *sim, int i, char *buf, size_t cap);

/* Records 0..n-1 of line into Redis for sim, chunk records to a stream
 * entry; every one must be pushed. */
static void
push_records(const char *sim, int n, size_t chunk, record_fn line)
{
	struct simlog_writer_opts o;
	struct simlog_writer_stats st;
	struct simlog_writer *w;
	struct simlog_err e;

	simlog_writer_opts_init(&o);
	o.sim = sim;
	o.batch = chunk;
	o.flush_interval = 0;
	if ((w = simlog_writer_open(&o, &e)) == NULL)
		bail("writer: %s", e.msg);
	for (int i = 0; i < n; i++) {
		char rec[128];
		int len = line(sim, i, rec, sizeof(rec));

		if (simlog_writer_write(w, rec, (size_t)len, &e) != 0)
			bail("write: %s", e.msg);
	}
	simlog_writer_close(w, &st);
	if (st.pushed != (unsigned long long)n)
		bail("pushed %llu of %d records of %s", st.pushed, n, sim);
}

static int ev_from;

static int
ev_line(const char *sim, int i, char *buf, size_t cap)
{
	return snprintf(buf, cap, "{\"type\":\"ev\",\"sim\":\"%s\",\"n\":%d}",
	    sim, ev_from + i);
}

/* n records {"type":"ev","sim":SIM,"n":from..from+n-1} into Redis, chunk
 * records to a stream entry. */
static void
push(const char *sim, int from, int n, size_t chunk)
{
	ev_from = from;
	push_records(sim, n, chunk, ev_line);
}

/* A fresh Redis and no database. */
static void
reset(void)
{
	char p[200];

	freeReplyObject(cmd("FLUSHALL"));
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
}

/* The simlog keys left in Redis. */
static long long
simlog_keys(void)
{
	redisReply *r = cmd("KEYS simlog:*");
	long long n = (long long)r->elements;

	freeReplyObject(r);
	return n;
}

/* Entries in sim's stream. */
static long long
backlog(const char *sim)
{
	redisReply *r = cmd("XLEN simlog:{%s}:q", sim);
	long long n = r->integer;

	freeReplyObject(r);
	return n;
}

/* Records of sim in the database: rows, distinct rows, and whether they
 * are exactly n = 0..count-1. */
static int
landed(const char *sim, int count, char *why, size_t len)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long rows = -1, distinct = -1, lo = -1, hi = -1, ns = -1;
	int ok;

	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK || sqlite3_prepare_v2(db, "SELECT COUNT(*), "
	    "COUNT(DISTINCT data), MIN(json_extract(data, '$.n')), "
	    "MAX(json_extract(data, '$.n')), COUNT(DISTINCT "
	    "json_extract(data, '$.n')) FROM ev WHERE simulation_id = ?",
	    -1, &st, NULL) != SQLITE_OK) {
		snprintf(why, len, "%s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return 0;
	}
	sqlite3_bind_text(st, 1, sim, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		rows = sqlite3_column_int64(st, 0);
		distinct = sqlite3_column_int64(st, 1);
		lo = sqlite3_column_int64(st, 2);
		hi = sqlite3_column_int64(st, 3);
		ns = sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	ok = rows == count && distinct == count && ns == count &&
	    (count == 0 || (lo == 0 && hi == count - 1));
	snprintf(why, len, "%s: %lld rows, %lld distinct, n %lld..%lld; want "
	    "%d", sim, rows, distinct, lo, hi, count);
	return ok;
}

/* --- drains ------------------------------------------------------------------- */

/* What the drainer said. */
static char said[64][SIMLOG_ERRLEN * 2];
static int nsaid;

static void
say(void *arg, const char *msg)
{
	(void)arg;
	if (nsaid < 64)
		snprintf(said[nsaid++], sizeof(said[0]), "%s", msg);
}

static int
said_line(const char *want)
{
	for (int i = 0; i < nsaid; i++)
		if (strcmp(said[i], want) == 0)
			return 1;
	return 0;
}

static void
show_said(void)
{
	for (int i = 0; i < nsaid; i++)
		printf("#   said: %s\n", said[i]);
}

static void
opts(struct simlog_drainer_opts *o, size_t batch)
{
	simlog_drainer_opts_init(o);
	o->conn.url = url;
	o->db = dbpath;
	o->batch = batch;
	o->say = say;
}

struct result {
	int status;			/* the run's, or -SIGNAL */
	struct simlog_err why;
	struct simlog_drainer_stats st;
};

/* One run of a drainer on the fault sink (plan may be NULL), here. */
static struct result
drain_here(const struct simlog_drainer_opts *o, struct fault_plan *plan)
{
	static struct fault_plan none;
	struct simlog_drain_hooks h;
	struct simlog_drainer *d;
	struct simlog_sink *s;
	struct result res;
	struct simlog_err e;

	if (plan == NULL) {
		memset(&none, 0, sizeof(none));
		plan = &none;
	}
	h = fault_sink_hooks(plan);
	nsaid = 0;
	if ((s = fault_sink_open(dbpath, plan, &e)) == NULL ||
	    (d = simlog_drainer_open_on(o, s, &h, &e)) == NULL)
		bail("drainer: %s", e.msg);
	plan->d = d;
	res.status = simlog_drainer_run(d, &res.why);
	simlog_drainer_stats(d, &res.st);
	simlog_drainer_close(d);
	plan->d = NULL;
	return res;
}

/* The same in a child process, which the plan may kill: its exit status,
 * or -SIGNAL.  Waited for up to 60 s. */
static int
drain_child(const struct simlog_drainer_opts *o, struct fault_plan *plan)
{
	pid_t pid;
	int status;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		struct result r = drain_here(o, plan);

		_exit(r.status);
	}
	for (int i = 0; i < 6000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFSIGNALED(status) ? -WTERMSIG(status) :
			    WEXITSTATUS(status);
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1000;
}

/* After whatever happened: a plain drain (shard i of n, or all) ends it,
 * and every record is in once, Redis empty of them. */
static int
drain_rest(size_t batch, struct result *r)
{
	struct simlog_drainer_opts o;

	opts(&o, batch);
	*r = drain_here(&o, NULL);
	if (r->status != 0)
		show_said();
	return r->status;
}

struct sim {
	const char *name;
	int records;
};

static int
all_once(const struct sim *sims, size_t n, const char *what)
{
	char why[200];
	int good = 1;

	for (size_t i = 0; i < n; i++)
		if (!landed(sims[i].name, sims[i].records, why, sizeof(why))) {
			printf("#   %s: %s\n", what, why);
			good = 0;
		}
	if (simlog_keys() != 0) {
		printf("#   %s: %lld simlog keys left in Redis\n", what,
		    simlog_keys());
		good = 0;
	}
	return good;
}

static void
load(const struct sim *sims, size_t n, size_t chunk)
{
	reset();
	for (size_t i = 0; i < n; i++)
		push(sims[i].name, 0, sims[i].records, chunk);
}

/* --- every point of a transaction ------------------------------------------- */

static const struct sim two[] = { { "s1", 80 }, { "s2", 48 } };

static const char *
action_name(enum fault_action a, int code)
{
	static char buf[32];

	if (a == FAULT_DIE)
		return "SIGKILL";
	if (a == FAULT_STOP)
		return "stop";
	snprintf(buf, sizeof(buf), "failure %d", code);
	return buf;
}

/*
 * Where the nth time of point at falls: in whose transaction (s1's come
 * first), and whether that transaction has entries (each simulation ends
 * with an empty one, which finds nothing more).  s1 has 40 entries of 2
 * records, s2 24; a transaction takes one page of 16 entries (batch 24)
 * or all (batch 1000).
 */
static const char *
sim_at(enum fault_point at, unsigned long nth, size_t batch, int *empty)
{
	static const int small[] = { 16, 16, 8, 0, 16, 8, 0 };
	static const int large[] = { 40, 0, 24, 0 };
	const int *txn = batch < 32 ? small : large;
	size_t ntxn = batch < 32 ? 7 : 4, s1 = batch < 32 ? 4 : 2, i;

	*empty = 0;
	switch (at) {
	case FAULT_MARK:
		return nth <= 40 ? "s1" : "s2";
	case FAULT_ROW:
		return nth <= 80 ? "s1" : "s2";
	case FAULT_ACK:
		/* Only a transaction with entries deletes any. */
		for (i = 0; i < ntxn && nth > 0; i++)
			if (txn[i] > 0 && --nth == 0)
				break;
		break;
	default:
		i = nth - 1;
		break;
	}
	*empty = i < ntxn && txn[i] == 0;
	return i < s1 ? "s1" : "s2";
}

/*
 * A fault at the nth time of point at, acting as act; then a plain drain.
 * Returns 0 when the point was never reached that often (the caller's
 * loop ends), 1 after checking what happened.
 */
static int
one_fault(enum fault_point at, unsigned long nth, enum fault_action act,
	  int code, size_t batch)
{
	struct fault_plan plan = { .at = at, .nth = nth, .act = act,
	    .code = code };
	struct simlog_drainer_opts o;
	struct result first, rest;
	char what[160], msg[SIMLOG_ERRLEN * 2];
	int empty, transient = code == SIMLOG_EX_TEMPFAIL, good = 1;
	const char *sim = sim_at(at, nth, batch, &empty);

	snprintf(what, sizeof(what), "%s at %s #%lu (batch %zu)",
	    action_name(act, code), fault_names[at], nth, batch);
	load(two, 2, 2);
	opts(&o, batch);
	if (act == FAULT_DIE) {
		int st = drain_child(&o, &plan);

		if (st != -SIGKILL)
			return 0;	/* never got that far */
	} else {
		first = drain_here(&o, &plan);
		if (plan.fired == 0)
			return 0;
		if (act == FAULT_STOP) {
			/* The transaction ends, then the run. */
			good &= first.status == 0;
		} else if (transient) {
			/* Retried at once, and through. */
			snprintf(msg, sizeof(msg), "injected failure 75 at %s "
			    "#%lu; retry 1 in 0.00 s", fault_names[at], nth);
			good &= first.status == 0 && first.st.retries == 1 &&
			    said_line(msg);
			/* Committed, then retried: found in already, and
			 * deleted in the same run. */
			if ((at == FAULT_ACK || at == FAULT_COMMIT_LOST) &&
			    !empty)
				good &= first.st.duplicate_batches > 0;
			good &= simlog_keys() == 0;
		} else {
			snprintf(msg, sizeof(msg), "%s: injected failure %d "
			    "at %s #%lu", sim, code, fault_names[at], nth);
			good &= first.status == code && said_line(msg) &&
			    first.why.code == code;
			if (at == FAULT_ACK) {
				/* Redis's failure, s1's alone: s2 drained. */
				snprintf(msg, sizeof(msg), "1 simulation not "
				    "drained (see above): %s", sim);
				good &= said_line(msg);
			}
		}
		if (!good) {
			printf("#   %s: status %d (%s), retries %llu, "
			    "duplicate batches %llu\n", what, first.status,
			    first.why.msg, first.st.retries,
			    first.st.duplicate_batches);
			show_said();
		}
	}
	good &= drain_rest(batch, &rest) == 0;
	good &= all_once(two, 2, what);
	ok(good, "%s: every record once, Redis empty", what);
	return 1;
}

/* Every nth of point at (every step-th row), until it is not reached. */
static void
every(enum fault_point at, enum fault_action act, int code, size_t batch)
{
	unsigned long step = at == FAULT_ROW || at == FAULT_MARK ? 7 : 1;
	unsigned long nth;

	for (nth = 1; one_fault(at, nth, act, code, batch); nth += step)
		;
	if (nth == 1)
		ok(0, "%s at %s (batch %zu): never reached",
		    action_name(act, code), fault_names[at], batch);
}

/*
 * A drain with no fault passes every point as often as the layout above
 * says: the seam sees the whole of every transaction (a sink that went
 * round one of the wrapped entry points would hide it from the tests).
 */
static void
points_seen(size_t batch)
{
	/* begin, row, mark, commit, commit (lost), ack */
	static const unsigned long small[] = { 7, 128, 64, 7, 7, 5 };
	static const unsigned long large[] = { 4, 128, 64, 4, 4, 2 };
	const unsigned long *want = batch < 32 ? small : large;
	struct fault_plan plan = { .at = FAULT_NONE };
	struct simlog_drainer_opts o;
	struct result r;
	int good;

	load(two, 2, 2);
	opts(&o, batch);
	r = drain_here(&o, &plan);
	good = r.status == 0 && all_once(two, 2, "no fault");
	for (int p = FAULT_BEGIN; p < FAULT_NPOINTS; p++)
		if (plan.seen[p] != want[p - 1]) {
			printf("#   %s: %lu times, want %lu\n", fault_names[p],
			    plan.seen[p], want[p - 1]);
			good = 0;
		}
	ok(good, "batch %zu: a drain passes each point of its transactions "
	    "as often as they have them", batch);
}

/* A drain with plan's fault: in a child, killed there (FAULT_DIE), or
 * here (its result in *r).  0 when the fault was not reached. */
static int
faulted(const struct simlog_drainer_opts *o, struct fault_plan *plan,
	struct result *r)
{
	if (plan->act == FAULT_DIE)
		return drain_child(o, plan) == -SIGKILL;
	*r = drain_here(o, plan);
	return plan->fired != 0;
}

/* Every point of a transaction, in order. */
static const enum fault_point txn_points[] = { FAULT_BEGIN, FAULT_ROW,
    FAULT_MARK, FAULT_COMMIT, FAULT_COMMIT_LOST, FAULT_ACK };
#define NTXN_POINTS (sizeof(txn_points) / sizeof(txn_points[0]))

static void
transaction_points(size_t batch)
{
	for (size_t i = 0; i < NTXN_POINTS; i++) {
		every(txn_points[i], FAULT_DIE, 0, batch);
		every(txn_points[i], FAULT_STOP, 0, batch);
		every(txn_points[i], FAULT_FAIL, SIMLOG_EX_IOERR, batch);
		every(txn_points[i], FAULT_FAIL, SIMLOG_EX_TEMPFAIL, batch);
	}
}

/*
 * Each of a transaction's points under each of the nacts actions, at its
 * every nth time (every rowstep-th for rows and marks), by fault, until
 * the point is not reached that often; one never reached at all fails,
 * named with what (a failure's action as code).
 */
static void
sweep(const char *what, int (*fault)(enum fault_point, unsigned long,
      enum fault_action), const enum fault_action *acts, size_t nacts,
      unsigned long rowstep, int code)
{
	for (size_t i = 0; i < NTXN_POINTS; i++)
		for (size_t j = 0; j < nacts; j++) {
			enum fault_point at = txn_points[i];
			unsigned long nth, step = at == FAULT_ROW ||
			    at == FAULT_MARK ? rowstep : 1;

			for (nth = 1; fault(at, nth, acts[j]); nth += step)
				;
			if (nth == 1)
				ok(0, "%s: %s at %s: never reached", what,
				    action_name(acts[j], code), fault_names[at]);
		}
}

/* --- each class of database error ------------------------------------------- */

/*
 * A database that fails at every begin (or row, or commit) with class
 * code: simlog-drain retries what may pass (75, 69) three times, then
 * says "SIM: why" and ends the run with the class (69 as 75); anything
 * else at once.  The pass stops there: s2 is not touched.
 */
static void
db_class(enum fault_point at, int code)
{
	struct fault_plan plan = { .at = at, .nth = 1, .act = FAULT_FAIL,
	    .code = code, .again = 1 };
	int transient = code == SIMLOG_EX_TEMPFAIL ||
	    code == SIMLOG_EX_UNAVAILABLE;
	int want = code == SIMLOG_EX_UNAVAILABLE ? SIMLOG_EX_TEMPFAIL : code;
	struct simlog_drainer_opts o;
	struct result r, rest;
	char msg[SIMLOG_ERRLEN * 2];
	int good = 1;

	load(two, 2, 2);
	opts(&o, 1000);
	r = drain_here(&o, &plan);
	good &= r.status == want && r.why.code == want;
	if (transient) {
		for (int i = 1; i <= 3; i++) {
			snprintf(msg, sizeof(msg), "injected failure %d at %s "
			    "#%d; retry %d in 0.00 s", code, fault_names[at],
			    i, i);
			good &= said_line(msg);
		}
		good &= r.st.retries == 3 && nsaid == 4;
	} else
		good &= r.st.retries == 0 && nsaid == 1;
	snprintf(msg, sizeof(msg), "s1: injected failure %d at %s #%d", code,
	    fault_names[at], transient ? 4 : 1);
	good &= said_line(msg) && strcmp(r.why.msg, msg) == 0;
	/* Nothing of s2 was touched, nothing of s1 deleted. */
	good &= backlog("s1") == 40 && backlog("s2") == 24 && r.st.rows == 0;
	if (!good) {
		printf("#   status %d (%s), retries %llu\n", r.status, r.why.msg,
		    r.st.retries);
		show_said();
	}
	good &= drain_rest(1000, &rest) == 0 && all_once(two, 2, "after");
	ok(good, "a database failing with %d at %s: status %d, said as "
	    "simlog-drain says it; then every record once", code,
	    fault_names[at], want);
}

/* --- a --follow round ----------------------------------------------------------- */

static volatile sig_atomic_t child_stop;

static void
on_term(int sig)
{
	(void)sig;
	child_stop = 1;
}

/* Wait (up to 20 s) until sim's stream is gone: drained. */
static int
drained(const char *sim)
{
	for (int i = 0; i < 2000; i++) {
		if (backlog(sim) == 0)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

/*
 * A --follow drain in a child drains a first round (s1, s2), waits in
 * Redis, and meets a second (more of s1, and s3, new) with a fault at
 * the round's nth time of point at.  Then SIGTERM (if it lives) and a
 * plain drain: every record of both rounds once.  0 when the second round
 * never reached the point that often.
 */
static int
follow_fault(enum fault_point at, unsigned long nth, enum fault_action act)
{
	static const struct sim all[] = { { "s1", 40 }, { "s2", 20 },
	    { "s3", 20 } };
	/* The first round: per simulation a transaction of 10 entries (20
	 * rows) and an empty one. */
	static const unsigned long round1[FAULT_NPOINTS] = { 0, 4, 40, 20, 4,
	    4, 2 };
	struct fault_plan plan = { .at = at, .nth = round1[at] + nth,
	    .act = act, .code = SIMLOG_EX_IOERR };
	struct simlog_drainer_opts o;
	struct result rest;
	char what[120];
	int status, fired = 0, good = 1;
	pid_t pid;

	snprintf(what, sizeof(what), "--follow: %s at the second round's %s "
	    "#%lu", action_name(act, plan.code), fault_names[at], nth);
	reset();
	push("s1", 0, 20, 2);
	push("s2", 0, 20, 2);
	opts(&o, 1000);
	o.follow = 1;
	o.commit_interval = 0.05;
	o.stop = &child_stop;
	fflush(stdout);
	if ((pid = fork()) == 0) {
		struct sigaction sa;
		struct result r;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_term;
		sigaction(SIGTERM, &sa, NULL);
		r = drain_here(&o, &plan);
		/* 100 + how often it acted: the parent's plan is a copy. */
		_exit(r.status != 0 ? r.status : 100 + (int)plan.fired);
	}
	if (!drained("s1") || !drained("s2"))
		bail("%s: the first round was not drained", what);
	push("s1", 20, 20, 2);
	push("s3", 0, 20, 2);
	/* It dies, fails, or drains the round (and goes on waiting). */
	for (int i = 0; i < 2000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (backlog("s1") == 0 && backlog("s3") == 0) {
			kill(pid, SIGTERM);
			if (waitpid(pid, &status, 0) != pid)
				bail("waitpid: %s", strerror(errno));
			break;
		}
		sleep_ms(10);
	}
	if (WIFSIGNALED(status))
		fired = WTERMSIG(status) == SIGKILL;
	else if (WEXITSTATUS(status) >= 100)
		fired = WEXITSTATUS(status) > 100;
	else
		fired = WEXITSTATUS(status) == plan.code;
	if (!fired) {
		/* Drained without meeting it, and stopped: status 0. */
		good &= WIFEXITED(status) && WEXITSTATUS(status) == 100;
		if (!good)
			printf("#   %s: not reached, yet status %d\n", what,
			    status);
		drain_rest(1000, &rest);
		if (!good || !all_once(all, 3, what))
			ok(0, "%s", what);
		return 0;
	}
	good &= drain_rest(1000, &rest) == 0;
	good &= all_once(all, 3, what);
	ok(good, "%s: every record of both rounds once, Redis empty", what);
	return 1;
}

static void
follow_round(void)
{
	static const enum fault_action acts[] = { FAULT_DIE, FAULT_STOP,
	    FAULT_FAIL };

	sweep("--follow", follow_fault, acts, sizeof(acts) / sizeof(acts[0]),
	    11, SIMLOG_EX_IOERR);
}

/* A --follow drain told to stop while it waits in Redis ends at once,
 * with 0, and has drained what came before. */
static void
follow_stop_idle(void)
{
	static const struct sim one[] = { { "s1", 20 } };
	struct simlog_drainer_opts o;
	int status = -1;
	pid_t pid;

	reset();
	push("s1", 0, 20, 2);
	opts(&o, 1000);
	o.follow = 1;
	o.commit_interval = 60;
	o.conn.timeout = 120;
	o.stop = &child_stop;
	fflush(stdout);
	if ((pid = fork()) == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_term;
		sigaction(SIGTERM, &sa, NULL);
		_exit(drain_here(&o, NULL).status);
	}
	if (!drained("s1"))
		bail("the follow drain did not drain");
	kill(pid, SIGTERM);
	for (int i = 0; i < 3000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		sleep_ms(10);
	}
	if (status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    all_once(one, 1, "stopped idle"),
	    "--follow: SIGTERM while it waits in XREAD BLOCK: 0, drained");
}

/* --- a --shard hand-over ---------------------------------------------------------- */

static const struct sim six[] = { { "a", 20 }, { "b", 20 }, { "c", 20 },
    { "d", 20 }, { "e", 20 }, { "f", 20 } };

/*
 * The drain of shard 0 of 2 is stopped at the nth time of point at; the
 * drains of a new split (shards 0, 1, 2 of 3) take over, one after the
 * other.  The simulations of shard 1 of 2 were left alone by the first;
 * at the end every record is in once.  0 when never reached.
 */
static int
handover(enum fault_point at, unsigned long nth, enum fault_action act)
{
	struct fault_plan plan = { .at = at, .nth = nth, .act = act,
	    .code = SIMLOG_EX_IOERR };
	struct simlog_drainer_opts o;
	struct result r;
	char what[120];
	int good = 1;

	snprintf(what, sizeof(what), "--shard 0/2 %s at %s #%lu, then 0/3, "
	    "1/3, 2/3", action_name(act, plan.code), fault_names[at], nth);
	load(six, 6, 1);
	opts(&o, 12);
	o.shard = 0;
	o.shards = 2;
	if (!faulted(&o, &plan, &r))
		return 0;
	for (size_t i = 0; i < 6; i++)
		if (simlog_shard_of(six[i].name, 2) == 1 &&
		    backlog(six[i].name) != 20) {
			printf("#   %s: %s of shard 1/2 was touched\n", what,
			    six[i].name);
			good = 0;
		}
	for (unsigned s = 0; s < 3; s++) {
		opts(&o, 12);
		o.shard = s;
		o.shards = 3;
		r = drain_here(&o, NULL);
		if (r.status != 0) {
			printf("#   %s: shard %u/3: status %d\n", what, s,
			    r.status);
			good = 0;
		}
	}
	good &= all_once(six, 6, what);
	ok(good, "%s: every record once, Redis empty", what);
	return 1;
}

static void
shard_handover(void)
{
	static const enum fault_action acts[] = { FAULT_DIE, FAULT_STOP };
	int mine = 0;

	/* The test needs both shards of 2 to hold simulations. */
	for (size_t i = 0; i < 6; i++)
		mine += simlog_shard_of(six[i].name, 2) == 0;
	if (!ok(mine > 0 && mine < 6, "both shards of 2 have simulations "
	    "(%d of 6 in shard 0)", mine))
		return;
	sweep("--shard", handover, acts, sizeof(acts) / sizeof(acts[0]), 9,
	    SIMLOG_EX_IOERR);
}

/* --- a schema whose tables refer to one another ------------------------------
 *
 * Owners are referred to by items and updated by later owner records, so
 * each page's owner records go in before its items (the writer thread
 * waits once a page): a fault at every point of such a page, then a plain
 * drain, and every item and owner is in once, none left waiting or dead.
 */

static char split_schema[200];

static const char split_text[] =
    "table owners for owner\n"
    "    on duplicate update\n"
    "    simulation_id  TEXT     sim\n"
    "    oid            TEXT     primary key\n"
    "    seen           INTEGER  not null\n"
    "\n"
    "table items for item\n"
    "    simulation_id  TEXT     sim\n"
    "    n              INTEGER  primary key\n"
    "    oid            TEXT     references owners(oid)\n";

#define SPLIT_OWNERS 10
#define SPLIT_ITEMS 80

/* For each owner k, ten records: its first item (before the owner, in
 * the same entry), the owner, seven more items, the owner again (an
 * update); two records an entry. */
static int
split_line(const char *sim, int i, char *buf, size_t cap)
{
	int k = i / 10, j = i % 10 - 1;

	(void)sim;
	if (j == 0 || j == 8)
		return snprintf(buf, cap, "{\"type\":\"owner\",\"oid\":\"o%d\","
		    "\"seen\":%d}", k, j == 0 ? 1 : 2);
	return snprintf(buf, cap, "{\"type\":\"item\",\"n\":%d,\"oid\":"
	    "\"o%d\"}", k * 8 + (j < 0 ? 0 : j), k);
}

static void
split_load(void)
{
	reset();
	push_records("t1", SPLIT_OWNERS * 10, 2, split_line);
}

static long long
q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int
split_landed(const char *what)
{
	sqlite3 *db;
	long long items, distinct, lo, hi, owners, updated, dead, waiting;
	int good;

	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		bail("%s: %s", dbpath, sqlite3_errmsg(db));
	items = q1(db, "SELECT count(*) FROM items");
	distinct = q1(db, "SELECT count(DISTINCT n) FROM items");
	lo = q1(db, "SELECT min(n) FROM items");
	hi = q1(db, "SELECT max(n) FROM items");
	owners = q1(db, "SELECT count(*) FROM owners");
	updated = q1(db, "SELECT count(*) FROM owners WHERE seen = 2");
	dead = q1(db, "SELECT count(*) FROM simlog_rejects");
	waiting = q1(db, "SELECT count(*) FROM simlog_waiting");
	sqlite3_close(db);
	good = items == SPLIT_ITEMS && distinct == SPLIT_ITEMS && lo == 0 &&
	    hi == SPLIT_ITEMS - 1 && owners == SPLIT_OWNERS &&
	    updated == SPLIT_OWNERS && dead == 0 && waiting == 0 &&
	    simlog_keys() == 0;
	if (!good)
		printf("#   %s: items %lld (%lld distinct, %lld..%lld), owners "
		    "%lld (%lld updated), dead letters %lld, waiting %lld, "
		    "%lld simlog keys\n", what, items, distinct, lo, hi,
		    owners, updated, dead, waiting, simlog_keys());
	return good;
}

static void
split_opts(struct simlog_drainer_opts *o)
{
	opts(o, 24);
	o->schema = split_schema;
}

/* An item's dead letter, then an owner's. */
static int
misfit_line(const char *sim, int i, char *buf, size_t cap)
{
	(void)sim;
	return snprintf(buf, cap, "%s", i == 0 ?
	    "{\"type\":\"item\",\"n\":\"x\",\"oid\":\"o0\"}" :
	    "{\"type\":\"owner\",\"oid\":\"o1\"}");
}

/* A page's owner records go in before its items: an item's dead letter,
 * then an owner's, in one entry, are numbered owner first. */
static void
split_order(void)
{
	struct simlog_drainer_opts o;
	struct result r;
	sqlite3 *db;
	sqlite3_stmt *q;
	char got[64] = "";

	reset();
	push_records("t2", 2, 2, misfit_line);
	split_opts(&o);
	r = drain_here(&o, NULL);
	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK && sqlite3_prepare_v2(db, "SELECT group_concat(type, "
	    "' ') FROM (SELECT type FROM simlog_rejects ORDER BY id)", -1, &q,
	    NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
	    sqlite3_column_text(q, 0) != NULL)
		snprintf(got, sizeof(got), "%s", sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
	ok(r.status == 0 && r.st.rejects == 2 && strcmp(got, "owner item") == 0,
	    "split page: the owner record went in before the item that came "
	    "first (dead letters: %s)", got);
}

/* A fault at the nth time of point at; 0 when it was never reached. */
static int
split_fault(enum fault_point at, unsigned long nth, enum fault_action act)
{
	struct fault_plan plan = { .at = at, .nth = nth, .act = act,
	    .code = SIMLOG_EX_TEMPFAIL };
	struct simlog_drainer_opts o;
	struct result first, rest;
	char what[160];
	int good = 1;

	snprintf(what, sizeof(what), "split page: %s at %s #%lu",
	    action_name(act, SIMLOG_EX_TEMPFAIL), fault_names[at], nth);
	split_load();
	split_opts(&o);
	if (!faulted(&o, &plan, &first))
		return 0;
	if (act != FAULT_DIE) {
		/* Retried at once, and through. */
		good &= first.status == 0 && first.st.retries == 1;
		if (!good) {
			printf("#   %s: status %d (%s)\n", what, first.status,
			    first.why.msg);
			show_said();
		}
	}
	rest = drain_here(&o, NULL);
	if (rest.status != 0)
		show_said();
	good &= rest.status == 0;
	ok(good && split_landed(what), "%s: every item and owner once, none "
	    "waiting or dead, Redis empty", what);
	return 1;
}

static void
split_pages(void)
{
	static const enum fault_action acts[] = { FAULT_FAIL, FAULT_DIE };
	struct simlog_drainer_opts o;
	struct result r;
	FILE *f;

	server_path(&srv, "split.schema", split_schema, sizeof(split_schema));
	if ((f = fopen(split_schema, "w")) == NULL ||
	    fputs(split_text, f) == EOF || fclose(f) != 0)
		bail("%s: %s", split_schema, strerror(errno));
	split_load();
	split_opts(&o);
	r = drain_here(&o, NULL);
	ok(r.status == 0 && split_landed("split page, no fault"),
	    "split page, no fault: every item and owner once (status %d)",
	    r.status);
	split_order();
	sweep("split page", split_fault, acts, sizeof(acts) / sizeof(acts[0]),
	    5, SIMLOG_EX_TEMPFAIL);
}

int
main(void)
{
	static const int classes[] = { SIMLOG_EX_TEMPFAIL, SIMLOG_EX_UNAVAILABLE,
	    SIMLOG_EX_IOERR, SIMLOG_EX_NOPERM, SIMLOG_EX_OSERR,
	    SIMLOG_EX_CANTCREAT, SIMLOG_EX_NOINPUT, SIMLOG_EX_CONFIG,
	    SIMLOG_EX_DATAERR, SIMLOG_EX_SOFTWARE };
	double t0;

	/* In memory where there is some: SQLite syncs every commit, and
	 * hundreds of drains would wait on a disk for what no test here
	 * asks of it (a power cut). */
	if (getenv("TMPDIR") == NULL && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	server_start_or_skip(&srv, NULL);
	snprintf(url, sizeof(url), "%s", srv.url);
	server_path(&srv, "results.db", dbpath, sizeof(dbpath));
	setenv("SIMLOG_REDIS_URL", url, 1);
	setenv("SIMLOG_BREAKER_DIR", srv.dir, 1);
	setenv("SIMLOG_BREAKER_FAILURES", "1000", 1);
	setenv("SIMLOG_SPOOL_DIR", srv.dir, 1);
	setenv("SIMLOG_RETRIES", "3", 1);
	setenv("SIMLOG_RETRY_BASE", "0", 1);
	t0 = simlog_now_mono();

	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		db_class(FAULT_BEGIN, classes[i]);
		db_class(FAULT_ROW, classes[i]);
		db_class(FAULT_COMMIT, classes[i]);
	}
	points_seen(24);
	points_seen(1000);
	transaction_points(24);
	transaction_points(1000);
	follow_round();
	follow_stop_idle();
	shard_handover();
	split_pages();
	printf("# %.1f s\n", simlog_now_mono() - t0);
	return tap_done();
}

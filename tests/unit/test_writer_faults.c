/*
 * The writer (lib/writer.c) through a connection that fails, made to fail
 * at once by the fault transport (fault.h) in front of a real
 * redis-server: frozen (records go to the spool; the producer never waits
 * for Redis; a replay and a drain then hold every record once) and cut in
 * the middle of a pipeline (chunks sent again, none lost; the one chunk
 * stored twice carries the same batch id both times).  What landed is
 * read from Redis itself and from the SQLite database simlog-drain fills.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <sqlite3.h>

#include "chunk.h"
#include "fault.h"
#include "server.h"
#include "simlog.h"
#include "tap.h"
#include "util.h"

static struct server srv;

/* --- records ------------------------------------------------------------- */

struct recs {
	char **v;
	size_t n, cap;
};

static void
recs_add(struct recs *r, const char *s, size_t len)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
	}
	r->v[r->n++] = strndup(s, len);
}

static int
by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
recs_free(struct recs *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* Whether got holds exactly want's records, each once. */
static int
recs_same(struct recs *got, struct recs *want, const char *what)
{
	qsort(got->v, got->n, sizeof(*got->v), by_str);
	qsort(want->v, want->n, sizeof(*want->v), by_str);
	if (got->n != want->n) {
		printf("# %s: %zu records, %zu written\n", what, got->n,
		    want->n);
		return 0;
	}
	for (size_t i = 0; i < got->n; i++)
		if (strcmp(got->v[i], want->v[i]) != 0) {
			printf("# %s: '%s' where '%s' was written\n", what,
			    got->v[i], want->v[i]);
			return 0;
		}
	return 1;
}

/* Write records from..to-1 of sim; the longest a write took in *longest. */
static int
write_some(struct simlog_writer *w, const char *sim, int from, int to,
	   struct recs *written, double *longest)
{
	char line[128];
	struct simlog_err e;

	for (int i = from; i < to; i++) {
		int n = snprintf(line, sizeof(line), "{\"type\":\"agent\","
		    "\"sim\":\"%s\",\"id\":%d,\"x\":%d}", sim, i, i * 7);
		double t0 = simlog_now_mono(), took;

		if (simlog_writer_write(w, line, (size_t)n, &e) != 0) {
			printf("# write %d: %s\n", i, e.msg);
			return -1;
		}
		took = simlog_now_mono() - t0;
		if (longest != NULL && took > *longest)
			*longest = took;
		recs_add(written, line, (size_t)n);
	}
	return 0;
}

/* Wait until the writer has placed every record taken (pushed, spooled,
 * dropped or failed); the bound only catches a writer that is stuck. */
static int
settled(struct simlog_writer *w, struct simlog_writer_stats *st)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	for (int i = 0; i < 15000; i++) {
		simlog_writer_stats(w, st);
		if (st->pushed + st->spooled + st->dropped + st->failed ==
		    st->records)
			return 1;
		nanosleep(&ts, NULL);
	}
	printf("# the writer placed %llu of %llu records in 30 s\n",
	    st->pushed + st->spooled + st->dropped + st->failed, st->records);
	return 0;
}

static void
opts(struct simlog_writer_opts *o, const char *sim, double timeout)
{
	static char spool[128];

	server_path(&srv, "spool", spool, sizeof(spool));
	simlog_writer_opts_init(o);
	o->conn.url = srv.url;
	o->conn.timeout = timeout;
	o->sim = sim;
	o->spool_dir = spool;
	o->retries = 1;
	o->retry_base = o->retry_cap = 0.005;
}

/* A writer, with n records of sim pushed through it already (the
 * connection is up, the scripts loaded); NULL when that failed. */
static struct simlog_writer *
started(const struct simlog_writer_opts *o, int n, struct recs *written)
{
	struct simlog_writer_stats st;
	struct simlog_err e;
	struct simlog_writer *w = simlog_writer_open(o, &e);

	if (w == NULL) {
		printf("# %s\n", e.msg);
		return NULL;
	}
	write_some(w, o->sim, 0, n, written, NULL);
	simlog_writer_flush(w);
	if (!settled(w, &st) || st.pushed != (unsigned long long)n) {
		simlog_writer_close(w, NULL);
		return NULL;
	}
	return w;
}

/* --- what landed ---------------------------------------------------------- */

struct batch {
	char id[2 * SIMLOG_BATCH_ID_LEN + 1];
	char *enc;
	size_t len;
	int times;
};

/*
 * The records of sim's stream in Redis, each batch once (into got); 0
 * when every batch stored more than once holds the same bytes each time,
 * and *twice says how many were.
 */
static int
stream_batches(const char *sim, struct recs *got, int *twice, size_t *entries)
{
	redisReply *r = server_cmd(&srv, "XRANGE simlog:{%s}:q - +", sim);
	struct batch *b;
	size_t nb = 0;
	int rc = 0;

	*twice = 0;
	*entries = 0;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -1;
	}
	b = calloc(r->elements + 1, sizeof(*b));
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *f = r->element[i]->element[1];
		struct simlog_chunk ch;
		struct simlog_err e;
		char id[2 * SIMLOG_BATCH_ID_LEN + 1];
		const char *type, *json;
		size_t tlen, jlen, pos = 0, k;

		(*entries)++;
		simlog_chunk_init(&ch);
		if (simlog_chunk_decode(&ch, f->element[1]->str,
		    f->element[1]->len, &e) < 0) {
			printf("# entry %zu: %s\n", i, e.msg);
			rc = -1;
			simlog_chunk_clear(&ch);
			continue;
		}
		simlog_hex(ch.id, SIMLOG_BATCH_ID_LEN, id);
		for (k = 0; k < nb && strcmp(b[k].id, id) != 0; k++)
			;
		if (k < nb) {
			if (b[k].times++ == 1)
				(*twice)++;
			if (b[k].len != f->element[1]->len ||
			    memcmp(b[k].enc, f->element[1]->str, b[k].len)) {
				printf("# batch %s stored twice, different\n",
				    id);
				rc = -1;
			}
			simlog_chunk_clear(&ch);
			continue;
		}
		memcpy(b[nb].id, id, sizeof(id));
		b[nb].enc = f->element[1]->str;
		b[nb].len = f->element[1]->len;
		b[nb].times = 1;
		nb++;
		while (simlog_chunk_next(&ch, &pos, &type, &tlen, &json,
		    &jlen) > 0)
			recs_add(got, json, jlen);
		simlog_chunk_clear(&ch);
	}
	free(b);
	freeReplyObject(r);
	return rc;
}

/* simlog-drain everything into a fresh SQLite file; its records. */
static int
drain(const char *name, struct recs *got)
{
	char db[160], sql[200];
	const char *av[] = { "simlog-drain", "-q", "-u", srv.url, "-d", db, NULL };
	sqlite3 *s;
	sqlite3_stmt *tables, *rows;
	int rc;

	server_path(&srv, name, db, sizeof(db));
	if ((rc = run_tool("simlog-drain", av, NULL)) != 0) {
		printf("# simlog-drain exited with %d\n", rc);
		return -1;
	}
	if (sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	sqlite3_prepare_v2(s, "SELECT name FROM sqlite_master WHERE type = "
	    "'table' AND name NOT LIKE 'simlog\\_%' ESCAPE '\\' AND name NOT "
	    "LIKE 'sqlite\\_%' ESCAPE '\\'", -1, &tables, NULL);
	while (sqlite3_step(tables) == SQLITE_ROW) {
		snprintf(sql, sizeof(sql), "SELECT data FROM \"%s\"",
		    (const char *)sqlite3_column_text(tables, 0));
		sqlite3_prepare_v2(s, sql, -1, &rows, NULL);
		while (sqlite3_step(rows) == SQLITE_ROW)
			recs_add(got, (const char *)sqlite3_column_text(rows, 0),
			    (size_t)sqlite3_column_bytes(rows, 0));
		sqlite3_finalize(rows);
	}
	sqlite3_finalize(tables);
	sqlite3_close(s);
	return 0;
}

/* --- frozen --------------------------------------------------------------- */

static void
test_frozen(void)
{
	struct simlog_writer_opts o;
	struct simlog_writer_stats st, st2;
	struct simlog_writer *w;
	struct simlog_err e;
	struct recs written = { 0 }, stored = { 0 }, landed = { 0 };
	double longest = 0, t0;
	size_t entries = 0;
	int twice = 0, rc;

	opts(&o, "frozen", 0.4);
	o.batch = 50;
	o.inflight = 4;
	o.flush_interval = 0.02;
	o.queue_max = 4096;
	w = started(&o, 100, &written);
	ok(w != NULL, "before the freeze: 100 records pushed");
	if (w == NULL)
		return;

	/* From the next command on, Redis takes commands and answers none:
	 * on this connection and on every one opened after. */
	fault_arm(FAULT_FREEZE, 1, 0, 0);
	t0 = simlog_now_mono();
	ok(write_some(w, "frozen", 100, 3100, &written, &longest) == 0,
	    "3000 writes to a frozen Redis all return, taken");
	printf("# 3000 writes took %.3f s, the longest %.3f s (timeout "
	    "0.4 s)\n", simlog_now_mono() - t0, longest);
	simlog_writer_flush(w);
	ok(settled(w, &st), "every record placed");
	ok(st.spooled > 0 && st.overflowed > 0 && fault_struck() > 0,
	    "while Redis is frozen the records go to the spool, and the "
	    "producer set chunks aside itself instead of waiting (%llu "
	    "spooled, %llu by the producer)", st.spooled, st.overflowed);
	simlog_writer_close(w, &st);
	ok(st.records == 3100 && st.pushed + st.spooled == 3100 &&
	    st.failed == 0 && st.dropped == 0, "closed frozen: %llu pushed, "
	    "%llu spooled, none failed or dropped", st.pushed, st.spooled);

	/* Redis answers again: a replay empties the spool into it. */
	fault_clear();
	opts(&o, "frozen", 2);
	o.replay_only = 1;
	w = simlog_writer_open(&o, &e);
	rc = w != NULL ? simlog_writer_close(w, &st2) : -1;
	ok(rc == 0 && st2.replayed == st.spooled && !st2.spool_pending,
	    "the replay takes every spooled record into Redis (%llu)",
	    st2.replayed);
	rc = stream_batches("frozen", &stored, &twice, &entries);
	ok(rc == 0 && recs_same(&stored, &written, "Redis"), "Redis holds "
	    "every record; a batch stored twice (%d of %zu entries) is the "
	    "same chunk both times", twice, entries);
	rc = drain("frozen.db", &landed);
	ok(rc == 0 && recs_same(&landed, &written, "SQLite"),
	    "drained: each of the 3100 records once");
	recs_free(&written);
	recs_free(&stored);
	recs_free(&landed);
}

/* --- cut mid-pipeline ---------------------------------------------------- */

static void
test_cut(void)
{
	struct simlog_writer_opts o;
	struct simlog_writer_stats st;
	struct simlog_writer *w;
	struct recs written = { 0 }, stored = { 0 }, landed = { 0 };
	size_t entries = 0;
	int twice = 0, rc;

	opts(&o, "cut", 2);
	o.batch = 20;
	o.inflight = 8;
	o.flush_interval = 0;
	o.retries = 3;
	w = started(&o, 100, &written);
	ok(w != NULL, "before the cut: 5 chunks pushed");
	if (w == NULL)
		return;

	/* Redis takes the third chunk from here; the connection closes
	 * before its reply, and what was sent behind it never arrives. */
	fault_arm(FAULT_CUT, 3, 1, 0);
	write_some(w, "cut", 100, 500, &written, NULL);
	simlog_writer_close(w, &st);
	ok(fault_struck() == 1, "the cut came (%lu commands sent behind it "
	    "were lost with the connection)", fault_lost());
	ok(st.records == 500 && st.pushed == 500 && st.spooled == 0 &&
	    st.failed == 0 && st.retries >= 1, "every record pushed after "
	    "%llu retry(ies), none spooled", st.retries);
	rc = stream_batches("cut", &stored, &twice, &entries);
	/* The cut chunk, and any whose reply was still unread when a write
	 * found the connection closed, went twice. */
	ok(rc == 0 && recs_same(&stored, &written, "Redis") && twice >= 1 &&
	    entries == 25 + (size_t)twice, "Redis holds every record; a "
	    "chunk stored twice has one batch id and the same bytes both "
	    "times (%zu entries of 25 chunks, %d stored twice)", entries,
	    twice);
	rc = drain("cut.db", &landed);
	ok(rc == 0 && recs_same(&landed, &written, "SQLite"),
	    "drained: each of the 500 records once");
	fault_clear();
	recs_free(&written);
	recs_free(&stored);
	recs_free(&landed);
}

int
main(void)
{
	char dir[160];
	double t0 = simlog_now_mono();

	server_start_or_skip(&srv, NULL);
	/* The spool, the breaker and the drain's state: the test's own. */
	server_path(&srv, "breaker", dir, sizeof(dir));
	setenv("SIMLOG_BREAKER_DIR", dir, 1);
	server_path(&srv, "state", dir, sizeof(dir));
	setenv("XDG_STATE_HOME", dir, 1);
	setenv("XDG_RUNTIME_DIR", srv.dir, 1);
	server_path(&srv, "spool", dir, sizeof(dir));
	setenv("SIMLOG_SPOOL_DIR", dir, 1);
	unsetenv("SIMLOG_REDIS_URL");
	unsetenv("SIMLOG_SIM");
	fault_install();
	test_frozen();
	test_cut();
	fault_remove();
	server_stop(&srv);
	printf("# %.2f s in all\n", simlog_now_mono() - t0);
	return tap_done();
}

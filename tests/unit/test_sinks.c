/*
 * The sink contract (lib/sink/sink.h), one set of cases run against both
 * backends: an SQLite file in a temporary directory, and a PostgreSQL
 * server the test starts itself (pgserver.h; where its binaries are not
 * installed, those cases skip).  Each case drains into a database of its
 * own through sink.h alone, then asks the database itself, on a
 * connection of the test's own, what it holds.
 *
 * Records are written as PostgreSQL prints jsonb ("{"n": 1}": keys in
 * its order, a space after ':' and ','), so that a default table's data
 * column reads back the same text from both databases.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "simlog.h"
#include "schema.h"
#include "sink/sink.h"
#include "util.h"
#include "pgserver.h"
#include "server.h"
#include "tap.h"

/* A backend under test, and the database of the case that runs. */
struct backend {
	const char *kind;		/* as simlog_sink_kind says it */
	int pg;
	char target[300];		/* the case's database */
	char path[200];			/* SQLite: its file */
	sqlite3 *lite;			/* the test's own connection */
	PGconn *pgc;
};

static char dir[64];			/* SQLite files and schema files */
static struct pgserver pgs;
static struct simlog_err e;
static const struct simlog_sink_opts opts = {
	/* Generous: the machine is shared, and no case is about time. */
	.busy_timeout = 30, .timeout = 30,
};

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

static void
cleanup(void)
{
	if (dir[0] != '\0')
		rm_tree(dir);
}

/* --- the database, as the test sees it --------------------------------------- */

static void
db_close(struct backend *b)
{
	sqlite3_close(b->lite);
	b->lite = NULL;
	PQfinish(b->pgc);
	b->pgc = NULL;
}

/* A new, empty database for the case called name. */
static void
db_new(struct backend *b, const char *name)
{
	char p[240];

	db_close(b);
	if (b->pg) {
		if (pgserver_newdb(&pgs, name, b->target,
		    sizeof(b->target)) < 0)
			bail("PostgreSQL: cannot create database %s", name);
		return;
	}
	snprintf(b->path, sizeof(b->path), "%s/%s.db", dir, name);
	snprintf(b->target, sizeof(b->target), "%s", b->path);
	unlink(b->path);
	snprintf(p, sizeof(p), "%s-wal", b->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", b->path);
	unlink(p);
}

static size_t
add(char *buf, size_t len, size_t o, const char *s)
{
	int n = snprintf(buf + o, len - o, "%s", s);

	return o + (size_t)n < len ? o + (size_t)n : len - 1;
}

/* What sql returns in the case's database: rows joined by '\n', values
 * by '|', NULL as NULL, an error as "ERROR: ...".  Four results may be
 * in use at once. */
static const char *
q(struct backend *b, const char *sql)
{
	static char ring[4][8192];
	static int next;
	char *out = ring[next++ % 4];
	size_t o = 0, len = sizeof(ring[0]);

	out[0] = '\0';
	if (b->pg) {
		PGresult *res;

		if (b->pgc == NULL && PQstatus(b->pgc = PQconnectdb(b->target))
		    != CONNECTION_OK)
			return add(out, len, 0, "ERROR: "), add(out, len, 7,
			    PQerrorMessage(b->pgc)), out;
		res = PQexec(b->pgc, sql);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			for (int r = 0; r < PQntuples(res); r++)
				for (int c = 0; c < PQnfields(res); c++) {
					o = add(out, len, o, c ? "|" : r ? "\n" :
					    "");
					o = add(out, len, o, PQgetisnull(res, r,
					    c) ? "NULL" : PQgetvalue(res, r, c));
				}
		else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			o = add(out, len, 0, "ERROR: ");
			add(out, len, o, PQresultErrorMessage(res));
			out[strcspn(out, "\n")] = '\0';
		}
		PQclear(res);
		return out;
	}
	if (b->lite == NULL) {
		if (sqlite3_open_v2(b->path, &b->lite, SQLITE_OPEN_READWRITE |
		    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
			return add(out, len, 0, "ERROR: cannot open"), out;
		sqlite3_busy_timeout(b->lite, 30000);
	}
	for (const char *tail = sql; tail != NULL && *tail != '\0';) {
		sqlite3_stmt *st;
		int rc, r = 0;

		if (sqlite3_prepare_v2(b->lite, tail, -1, &st, &tail) !=
		    SQLITE_OK) {
			o = add(out, len, 0, "ERROR: ");
			add(out, len, o, sqlite3_errmsg(b->lite));
			return out;
		}
		if (st == NULL)
			break;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				const char *v = (const char *)
				    sqlite3_column_text(st, c);

				o = add(out, len, o, c ? "|" : r ? "\n" : "");
				o = add(out, len, o, v ? v : "NULL");
			}
			r++;
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			o = add(out, len, 0, "ERROR: ");
			add(out, len, o, sqlite3_errmsg(b->lite));
			return out;
		}
	}
	return out;
}

/* The record tables (not simlog's own), by name. */
static const char *
tables(struct backend *b)
{
	return q(b, b->pg ? "SELECT tablename FROM pg_tables WHERE schemaname "
	    "= 'public' AND tablename NOT LIKE 'simlog\\_%' ORDER BY tablename "
	    "COLLATE \"C\"" : "SELECT name FROM sqlite_master WHERE type = "
	    "'table' AND name NOT LIKE 'simlog\\_%' ESCAPE '\\' ORDER BY name");
}

/* simlog_batches, in the order the ids were recorded. */
static const char *
batches(struct backend *b)
{
	return q(b, "SELECT simulation_id, records FROM simlog_batches ORDER BY "
	    "drained_at");
}

static const char *
rows(struct backend *b, const char *table)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "SELECT simulation_id, data FROM \"%s\" "
	    "ORDER BY id", table);
	return q(b, sql);
}

static const char *
rejects(struct backend *b)
{
	return q(b, "SELECT simulation_id, type, data, error FROM simlog_rejects "
	    "ORDER BY data");
}

/* --- the sink, as the drain engine sees it ------------------------------------ */

/* A file in dir holding text (a schema). */
static const char *
write_file(const char *name, const char *text)
{
	static char path[200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) < 0 ||
	    fclose(f) != 0)
		bail("%s: %s", path, strerror(errno));
	return path;
}

static struct simlog_schema *
schema(const char *name, const char *text)
{
	struct simlog_schema *sc = simlog_schema_load(write_file(name, text),
	    &e);

	if (sc == NULL)
		bail("schema %s: %s", name, e.msg);
	return sc;
}

/* A sink on the case's database (and sc applied, unless NULL); NULL after
 * a failed test. */
static struct simlog_sink *
sink(struct backend *b, struct simlog_schema *sc)
{
	struct simlog_sink *s = simlog_sink_open(b->target, &opts, &e);

	if (s == NULL) {
		ok(0, "%s: open %s: %s", b->kind, b->target, e.msg);
		return NULL;
	}
	if (sc != NULL && simlog_sink_apply_schema(s, sc, &e) < 0) {
		ok(0, "%s: apply %s: %s", b->kind, simlog_schema_path(sc),
		    e.msg);
		simlog_sink_free(s);
		return NULL;
	}
	return s;
}

/* Whether a call that must succeed did; if not, a failed test. */
static int
did(const struct backend *b, int rc, const char *what)
{
	if (rc == 0)
		return 1;
	ok(0, "%s: %s: %s (status %d)", b->kind, what, e.msg, e.code);
	return 0;
}

static void
batch_id(unsigned char id[16], int n)
{
	memset(id, 0, 16);
	memcpy(id, "batch", 5);
	id[15] = (unsigned char)n;
}

struct rec {
	const char *type, *json;
};

enum end { COMMIT, ROLLBACK };

/* One transaction, as the engine makes it: begin(sim), mark(batch) and,
 * unless it is a duplicate, insert the records (up to one whose type is
 * NULL); then commit or roll back.  The mark's answer, or -1 after a
 * failed test. */
static int
txn(const struct backend *b, struct simlog_sink *s, const char *sim,
    int batch, const struct rec *r, enum end end)
{
	unsigned char id[16];
	uint32_t n = 0;
	int dup;

	while (r[n].type != NULL)
		n++;
	batch_id(id, batch);
	if (!did(b, simlog_sink_begin(s, sim, &e), "begin") ||
	    !did(b, simlog_sink_mark(s, id, n, &dup, &e), "mark"))
		return -1;
	for (uint32_t i = 0; !dup && i < n; i++)
		if (!did(b, simlog_sink_insert(s, r[i].type, strlen(r[i].type),
		    r[i].json, strlen(r[i].json), 0, &e), r[i].json)) {
			simlog_sink_rollback(s);
			return -1;
		}
	if (end == ROLLBACK)
		simlog_sink_rollback(s);
	else if (!did(b, simlog_sink_commit(s, &e), "commit")) {
		simlog_sink_rollback(s);
		return -1;
	}
	return dup;
}

/* The mark of batch in a transaction of its own, rolled back. */
static int
marked(const struct backend *b, struct simlog_sink *s, int batch)
{
	unsigned char id[16];
	int dup = -1;

	batch_id(id, batch);
	if (did(b, simlog_sink_begin(s, "s1", &e), "begin") &&
	    !did(b, simlog_sink_mark(s, id, 1, &dup, &e), "mark"))
		dup = -1;
	simlog_sink_rollback(s);
	return dup;
}

static int
by_type(const void *a, const void *b)
{
	return strcmp((*(const struct simlog_sink_count *const *)a)->type,
	    (*(const struct simlog_sink_count *const *)b)->type);
}

/* simlog_sink_counts as "type table rows rejects waiting unmapped
 * resumed", "; " between types, by type (their order is not the
 * contract's). */
static const char *
counts(const struct simlog_sink *s)
{
	static char buf[1024];
	const struct simlog_sink_count *c, *by[32];
	size_t n = simlog_sink_counts(s, &c), o = 0;

	buf[0] = '\0';
	if (n > 32)
		return "(too many types)";
	for (size_t i = 0; i < n; i++)
		by[i] = &c[i];
	qsort(by, n, sizeof(by[0]), by_type);
	for (size_t i = 0; i < n && o < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
		    "%s%s %s %llu %llu %llu %llu %llu", i ? "; " : "",
		    by[i]->type, by[i]->table, by[i]->rows, by[i]->rejects,
		    by[i]->waiting, by[i]->unmapped, by[i]->resumed);
	return buf;
}

/* --- the cases ------------------------------------------------------------------ */

static const struct rec two[] = {
	{ "ev", "{\"n\": 1}" }, { "ev", "{\"n\": 2}" }, { NULL, NULL }
};

/* A committed transaction's rows and batch id are there, and the counts
 * say what it stored. */
static void
committed(struct backend *b)
{
	struct simlog_sink *s;

	db_new(b, "committed");
	if ((s = sink(b, NULL)) == NULL)
		return;
	is_str(simlog_sink_kind(s), b->kind, "%s: the sink's kind", b->kind);
	ok(txn(b, s, "s1", 1, two, COMMIT) == 0, "%s: a new batch is no "
	    "duplicate", b->kind);
	is_str(rows(b, "ev"), "s1|{\"n\": 1}\ns1|{\"n\": 2}",
	    "%s: commit: the rows, with their simulation", b->kind);
	is_str(q(b, "SELECT simulation_id, records, length(batch) FROM "
	    "simlog_batches"), "s1|2|16", "%s: commit: the batch id, once",
	    b->kind);
	is_str(counts(s), "ev ev 2 0 0 0 0", "%s: commit: counts", b->kind);
	ok(simlog_sink_first_reject(s) == NULL, "%s: commit: no dead letter",
	    b->kind);
	is_str(q(b, "SELECT count(*) FROM simlog_rejects"), "0",
	    "%s: commit: simlog_rejects empty", b->kind);
	e.msg[0] = '\0';
	ok(simlog_sink_check(s, &e) == 0, "%s: check after a commit%s%s",
	    b->kind, e.msg[0] ? ": " : "", e.msg);
	simlog_sink_free(s);
}

/* A rolled-back transaction leaves neither rows, nor its batch id, nor a
 * table it made; the same batch then goes in once. */
static void
rolled_back(struct backend *b)
{
	static const struct rec first[] = { { "ev", "{\"n\": 1}" },
	    { NULL, NULL } };
	static const struct rec again[] = { { "ev", "{\"n\": 2}" },
	    { "rb", "{\"n\": 3}" }, { "rb", "{\"n\": 4}" }, { NULL, NULL } };
	struct simlog_sink *s;

	db_new(b, "rolled_back");
	if ((s = sink(b, NULL)) == NULL)
		return;
	txn(b, s, "s1", 1, first, COMMIT);
	ok(txn(b, s, "s2", 2, again, ROLLBACK) == 0, "%s: a batch rolled back",
	    b->kind);
	is_str(rows(b, "ev"), "s1|{\"n\": 1}", "%s: rollback: no rows stay",
	    b->kind);
	is_str(batches(b), "s1|1", "%s: rollback: nor its batch id", b->kind);
	is_str(tables(b), "ev", "%s: rollback: nor the table it made", b->kind);
	ok(txn(b, s, "s2", 2, again, COMMIT) == 0, "%s: the batch again: no "
	    "duplicate", b->kind);
	is_str(counts(s), "ev ev 1 0 0 0 0; rb rb 2 0 0 0 0",
	    "%s: the batch again: counts", b->kind);
	ok(txn(b, s, "s2", 2, again, COMMIT) == 1, "%s: and a third time: a "
	    "duplicate", b->kind);
	is_str(counts(s), "", "%s: a duplicate stores nothing", b->kind);
	is_str(rows(b, "ev"), "s1|{\"n\": 1}\ns2|{\"n\": 2}",
	    "%s: the batch in once: ev", b->kind);
	is_str(rows(b, "rb"), "s2|{\"n\": 3}\ns2|{\"n\": 4}",
	    "%s: the batch in once: rb", b->kind);
	is_str(batches(b), "s1|1\ns2|3", "%s: the batch id once", b->kind);
	simlog_sink_free(s);
}

/* mark() says dup for a batch id committed earlier, and for one seen
 * earlier in the same transaction. */
static void
duplicates(struct backend *b)
{
	struct simlog_sink *s;
	unsigned char id[16];
	int dup = -1;

	db_new(b, "duplicates");
	if ((s = sink(b, NULL)) == NULL)
		return;
	txn(b, s, "s1", 1, two, COMMIT);
	if (!did(b, simlog_sink_begin(s, "s1", &e), "begin"))
		goto out;
	batch_id(id, 1);
	ok(simlog_sink_mark(s, id, 2, &dup, &e) == 0 && dup == 1,
	    "%s: a batch id committed before is a duplicate", b->kind);
	batch_id(id, 2);
	dup = -1;
	ok(simlog_sink_mark(s, id, 1, &dup, &e) == 0 && dup == 0,
	    "%s: a new one is not", b->kind);
	dup = -1;
	ok(simlog_sink_mark(s, id, 1, &dup, &e) == 0 && dup == 1,
	    "%s: one seen before in the same transaction is", b->kind);
	if (did(b, simlog_sink_insert(s, "ev", 2, "{\"n\": 3}", 8, 0, &e),
	    "insert") && did(b, simlog_sink_commit(s, &e), "commit"))
		is_str(batches(b), "s1|2\ns1|1", "%s: each id recorded once",
		    b->kind);
	is_str(rows(b, "ev"), "s1|{\"n\": 1}\ns1|{\"n\": 2}\ns1|{\"n\": 3}",
	    "%s: and the rows once", b->kind);
	ok(marked(b, s, 2) == 1, "%s: the id committed in that transaction "
	    "is a duplicate after it", b->kind);
out:
	simlog_sink_free(s);
}

static const char items_schema[] =
    "# A typed table, and one waiting for its parents.\n"
    "table items for item\n"
    "    id      INTEGER  primary key\n"
    "    sim_id  TEXT     sim\n"
    "    name    TEXT     unique\n"
    "    qty     INTEGER  not null\n"
    "    price   REAL\n";

/* A typed table from a schema, beside a default one. */
static void
typed(struct backend *b, struct simlog_schema *sc)
{
	static const struct rec r[] = {
	    { "item", "{\"id\": 1, \"qty\": 2, \"name\": \"a\", "
	      "\"price\": 2.5}" },
	    { "item", "{\"id\": 2, \"qty\": 0, \"name\": \"b\", "
	      "\"extra\": true}" },
	    { "ev", "{\"n\": 1}" }, { NULL, NULL } };
	struct simlog_sink *s;
	char buf[100];

	db_new(b, "typed");
	if ((s = sink(b, sc)) == NULL)
		return;
	is_str(tables(b), "items", "%s: the schema's table made", b->kind);
	txn(b, s, "s1", 1, r, COMMIT);
	is_str(q(b, "SELECT id, sim_id, name, qty, price FROM items ORDER BY "
	    "id"), "1|s1|a|2|2.5\n2|s1|b|0|NULL", "%s: typed rows", b->kind);
	is_str(rows(b, "ev"), "s1|{\"n\": 1}", "%s: a type the schema does not "
	    "map goes to its default table", b->kind);
	is_str(tables(b), "ev\nitems", "%s: the tables", b->kind);
	is_str(counts(s), "ev ev 1 0 0 0 0; item items 2 0 0 1 0",
	    "%s: typed: counts, one record with a field no column takes",
	    b->kind);
	simlog_sink_unmapped_fields(s, "items", buf, sizeof(buf));
	is_str(buf, "extra", "%s: the field no column takes", b->kind);
	simlog_sink_free(s);
}

/* A record that a CHECK, NOT NULL or UNIQUE constraint refuses is a dead
 * letter with the database's reason; the others are stored. */
static void
refused(struct backend *b, struct simlog_schema *sc)
{
	static const struct rec r[] = {
	    { "item", "{\"id\": 1, \"qty\": \"many\", \"name\": \"a\"}" },
	    { "item", "{\"id\": 2, \"qty\": 1, \"name\": \"b\"}" },
	    { "item", "{\"id\": 3, \"name\": \"c\"}" },
	    { "item", "{\"id\": 4, \"qty\": 2, \"name\": \"b\"}" },
	    { "item", "{\"id\": 2, \"qty\": 3, \"name\": \"d\"}" },
	    { "item", "{\"id\": 5, \"qty\": 4, \"name\": \"e\"}" },
	    { "checked", "{\"v\": 1}" },
	    { "checked", "{\"v\": -1}" },
	    { "checked", "{\"v\": 2}" },
	    { "ev", "{\"n\": 1}" },
	    { "ev", "{\"n\": 2" },
	    { "ev", "{\"s\": \"\xff\"}" }, { NULL, NULL } };
	const char *check = b->pg ? "new row for relation \"checked\" violates "
	    "check constraint \"v_nonneg\"" : "CHECK constraint failed: v_nonneg";
	char want[1024];
	struct simlog_sink *s;

	db_new(b, "refused");
	/* A default table with a constraint someone added. */
	is_str(q(b, b->pg ? "CREATE TABLE checked (id bigserial PRIMARY KEY, "
	    "simulation_id text NOT NULL, data jsonb NOT NULL, CONSTRAINT "
	    "v_nonneg CHECK ((data->>'v')::int >= 0))" : "CREATE TABLE checked "
	    "(id INTEGER PRIMARY KEY, simulation_id TEXT NOT NULL, data TEXT NOT "
	    "NULL, CONSTRAINT v_nonneg CHECK (json_extract(data, '$.v') >= 0))"),
	    "", "%s: a table with a CHECK constraint", b->kind);
	db_close(b);
	if ((s = sink(b, sc)) == NULL)
		return;
	txn(b, s, "s1", 1, r, COMMIT);
	is_str(q(b, "SELECT id, sim_id, name, qty FROM items ORDER BY id"),
	    "2|s1|b|1\n5|s1|e|4", "%s: the records that fit are rows", b->kind);
	is_str(rows(b, "checked"), "s1|{\"v\": 1}\ns1|{\"v\": 2}",
	    "%s: in the table with a CHECK too", b->kind);
	is_str(rows(b, "ev"), "s1|{\"n\": 1}", "%s: and in a table with none",
	    b->kind);
	snprintf(want, sizeof(want),
	    "s1|ev|eyJzIjogIv8ifQ==|invalid UTF-8 at byte 8; the record is kept "
	    "in base64: it is not UTF-8 text\n"
	    "s1|item|{\"id\": 1, \"qty\": \"many\", \"name\": \"a\"}|column qty: "
	    "expected an integer, got a string\n"
	    "s1|item|{\"id\": 2, \"qty\": 3, \"name\": \"d\"}|UNIQUE constraint "
	    "failed: items.id\n"
	    "s1|item|{\"id\": 3, \"name\": \"c\"}|NOT NULL constraint failed: "
	    "items.qty\n"
	    "s1|item|{\"id\": 4, \"qty\": 2, \"name\": \"b\"}|UNIQUE constraint "
	    "failed: items.name\n"
	    "s1|ev|{\"n\": 2|unterminated object at byte 8\n"
	    "s1|checked|{\"v\": -1}|%s", check);
	is_str(rejects(b), want, "%s: the others are dead letters, with the "
	    "database's reasons", b->kind);
	is_str(counts(s), "checked checked 2 1 0 0 0; ev ev 1 2 0 0 0; "
	    "item items 2 4 0 0 0", "%s: refused: counts", b->kind);
	is_str(simlog_sink_first_reject(s), "item: column qty: expected an "
	    "integer, got a string", "%s: the first dead letter's reason", b->kind);
	is_str(batches(b), "s1|12", "%s: the batch is in", b->kind);
	simlog_sink_free(s);
}

/* One large transaction: BULK_N records of 230 bytes into a default
 * table (more than a backend may hold before it writes), and ITEMS_N
 * typed ones of which three repeat a unique name; then commit or roll
 * back.  0, or -1 after a failed test. */
#define BULK_N 20000
#define ITEMS_N 3000
static int
bulk_txn(const struct backend *b, struct simlog_sink *s, enum end end)
{
	unsigned char id[16];
	char rec[300];
	int dup, n;

	batch_id(id, 7);
	if (!did(b, simlog_sink_begin(s, "big", &e), "begin") ||
	    !did(b, simlog_sink_mark(s, id, BULK_N + ITEMS_N, &dup, &e),
	    "mark"))
		return -1;
	for (int i = 0; i < BULK_N + ITEMS_N; i++) {
		int k = i - BULK_N + 1;

		if (i < BULK_N)
			n = snprintf(rec, sizeof(rec), "{\"n\": %d, \"pad\": "
			    "\"%0200d\"}", i, i);
		else
			n = snprintf(rec, sizeof(rec), "{\"id\": %d, \"qty\": "
			    "%d, \"name\": \"i%d\"}", k, k, k % 1000 ? k : 1);
		if (!did(b, simlog_sink_insert(s, i < BULK_N ? "bulk" : "item",
		    4, rec, (size_t)n, 0, &e), "insert")) {
			simlog_sink_rollback(s);
			return -1;
		}
	}
	if (end == ROLLBACK)
		simlog_sink_rollback(s);
	else if (!did(b, simlog_sink_commit(s, &e), "commit")) {
		simlog_sink_rollback(s);
		return -1;
	}
	return 0;
}

/* A transaction larger than a backend keeps in memory: rolled back,
 * nothing; committed, every row once and the misfits dead letters. */
static void
bulk(struct backend *b, struct simlog_schema *sc)
{
	struct simlog_sink *s;
	char last[300];

	db_new(b, "bulk");
	if ((s = sink(b, sc)) == NULL)
		return;
	if (bulk_txn(b, s, ROLLBACK) == 0) {
		is_str(tables(b), "items", "%s: bulk rolled back: no table "
		    "made", b->kind);
		is_str(q(b, "SELECT count(*) FROM items"), "0",
		    "%s: bulk rolled back: no typed row", b->kind);
		is_str(rejects(b), "", "%s: bulk rolled back: no dead letter",
		    b->kind);
		is_str(batches(b), "", "%s: bulk rolled back: no batch id",
		    b->kind);
	}
	if (bulk_txn(b, s, COMMIT) < 0)
		goto out;
	is_str(q(b, b->pg ? "SELECT count(*), count(DISTINCT data), "
	    "sum((data->>'n')::bigint), min(simulation_id), max(simulation_id) "
	    "FROM bulk" : "SELECT count(*), count(DISTINCT data), "
	    "sum(json_extract(data, '$.n')), min(simulation_id), "
	    "max(simulation_id) FROM bulk"), "20000|20000|199990000|big|big",
	    "%s: bulk: every row once", b->kind);
	snprintf(last, sizeof(last), "{\"n\": %d, \"pad\": \"%0200d\"}",
	    BULK_N - 1, BULK_N - 1);
	is_str(q(b, "SELECT data FROM bulk WHERE id = (SELECT max(id) FROM "
	    "bulk)"), last, "%s: bulk: the last row whole", b->kind);
	is_str(q(b, "SELECT count(*), sum(qty), min(id), max(id) FROM items"),
	    "2997|4495500|1|2999", "%s: bulk: the typed rows", b->kind);
	is_str(rejects(b),
	    "big|item|{\"id\": 1000, \"qty\": 1000, \"name\": \"i1\"}|"
	    "UNIQUE constraint failed: items.name\n"
	    "big|item|{\"id\": 2000, \"qty\": 2000, \"name\": \"i1\"}|"
	    "UNIQUE constraint failed: items.name\n"
	    "big|item|{\"id\": 3000, \"qty\": 3000, \"name\": \"i1\"}|"
	    "UNIQUE constraint failed: items.name",
	    "%s: bulk: the misfits are dead letters", b->kind);
	is_str(counts(s), "bulk bulk 20000 0 0 0 0; item items 2997 3 0 0 0",
	    "%s: bulk: counts", b->kind);
	is_str(batches(b), "big|23000", "%s: bulk: the batch id", b->kind);
out:
	simlog_sink_free(s);
}

/* The dead letters are kept in the records' order, whoever refused them:
 * the database (PostgreSQL finds its refusals only at the commit) or
 * simlog.  The first reason (sink.h) is the first refused record's in
 * SQLite, and in PostgreSQL the first simlog found in the transaction
 * when simlog refused any, the database's refusals coming later. */
static void
first_in_order(struct backend *b, struct simlog_schema *sc)
{
	static const struct rec r[] = {
	    { "item", "{\"id\": 3, \"name\": \"c\"}" },
	    { "item", "{\"id\": 1, \"qty\": \"many\", \"name\": \"a\"}" },
	    { NULL, NULL } };
	struct simlog_sink *s;

	db_new(b, "first_in_order");
	if ((s = sink(b, sc)) == NULL)
		return;
	txn(b, s, "s1", 1, r, COMMIT);
	is_str(counts(s), "item items 0 2 0 0 0", "%s: two misfits: counts",
	    b->kind);
	is_str(simlog_sink_first_reject(s), b->pg ?
	    "item: column qty: expected an integer, got a string" :
	    "item: NOT NULL constraint failed: items.qty",
	    "%s: the first reason, as sink.h says", b->kind);
	is_str(q(b, "SELECT data FROM simlog_rejects ORDER BY id"),
	    "{\"id\": 3, \"name\": \"c\"}\n"
	    "{\"id\": 1, \"qty\": \"many\", \"name\": \"a\"}",
	    "%s: dead letters in the records' order", b->kind);
	simlog_sink_free(s);
}

static const char parents_schema[] =
    "table parents for parent\n"
    "    pid     TEXT     primary key\n"
    "table kids for kid\n"
    "    kid     INTEGER  primary key\n"
    "    sim     TEXT     sim\n"
    "    pid     TEXT     references parents(pid)\n";

static const struct rec parent_p1[] = {
    { "parent", "{\"pid\": \"p1\"}" }, { NULL, NULL } };

static const char *
kids(struct backend *b)
{
	return q(b, "SELECT kid, sim, pid FROM kids ORDER BY kid");
}

static const char *
waiting(struct backend *b)
{
	return q(b, "SELECT simulation_id, type, data, parent, parent_key FROM "
	    "simlog_waiting ORDER BY id");
}

/* A row whose parent is missing waits in simlog_waiting, and goes in in
 * the transaction that brings its parent: of this sink, or of a sink
 * opened later. */
static void
orphans(struct backend *b, struct simlog_schema *sc)
{
	static const struct rec first[] = {
	    { "kid", "{\"kid\": 1, \"pid\": \"p1\"}" },
	    { "kid", "{\"kid\": 2, \"pid\": \"p2\"}" },
	    { "parent", "{\"pid\": \"p2\"}" },
	    { "kid", "{\"kid\": 3, \"pid\": null}" }, { NULL, NULL } };
	static const struct rec k4[] = {
	    { "kid", "{\"kid\": 4, \"pid\": \"p4\"}" }, { NULL, NULL } };
	static const struct rec p4[] = { { "parent", "{\"pid\": \"p4\"}" },
	    { NULL, NULL } };
	struct simlog_sink *s;

	db_new(b, "orphans");
	if ((s = sink(b, sc)) == NULL)
		return;
	txn(b, s, "s1", 1, first, COMMIT);
	is_str(kids(b), "2|s1|p2\n3|s1|NULL", "%s: a parent later in the "
	    "transaction, and none needed: stored", b->kind);
	is_str(waiting(b), "s1|kid|{\"kid\": 1, \"pid\": \"p1\"}|parents(pid)|p1",
	    "%s: a missing parent: the row waits", b->kind);
	is_str(counts(s), "kid kids 2 0 1 0 0; parent parents 1 0 0 0 0",
	    "%s: counts: one waiting", b->kind);
	ok(simlog_sink_waiting(s) == 1, "%s: one row waits (%llu)", b->kind,
	    simlog_sink_waiting(s));
	ok(simlog_sink_first_wait(s) != NULL, "%s: and says why: %s", b->kind,
	    simlog_sink_first_wait(s));

	txn(b, s, "s2", 2, parent_p1, COMMIT);
	is_str(kids(b), "1|s1|p1\n2|s1|p2\n3|s1|NULL", "%s: its parent came: "
	    "the row went in, its simulation kept", b->kind);
	is_str(waiting(b), "", "%s: nothing waits", b->kind);
	is_str(counts(s), "kid kids 0 0 0 0 1; parent parents 1 0 0 0 0",
	    "%s: counts: one resumed", b->kind);
	ok(simlog_sink_waiting(s) == 0, "%s: no row waits (%llu)", b->kind,
	    simlog_sink_waiting(s));

	txn(b, s, "s1", 3, k4, COMMIT);
	simlog_sink_free(s);
	is_str(waiting(b), "s1|kid|{\"kid\": 4, \"pid\": \"p4\"}|parents(pid)|p4",
	    "%s: a row waits when the sink is closed", b->kind);
	if ((s = sink(b, sc)) == NULL)
		return;
	ok(simlog_sink_waiting(s) == 1, "%s: a sink opened later finds it "
	    "(%llu)", b->kind, simlog_sink_waiting(s));
	txn(b, s, "s3", 4, p4, COMMIT);
	is_str(kids(b), "1|s1|p1\n2|s1|p2\n3|s1|NULL\n4|s1|p4", "%s: and stores "
	    "it when its parent comes", b->kind);
	is_str(waiting(b), "", "%s: nothing waits at the end", b->kind);
	is_str(counts(s), "kid kids 0 0 0 0 1; parent parents 1 0 0 0 0",
	    "%s: counts: one resumed, from an earlier drain", b->kind);
	simlog_sink_free(s);
}

/* A rolled-back transaction that brought a parent, left a row waiting and
 * a dead letter leaves all as it was: the row still waits, and goes in
 * with the parent's next coming. */
static void
orphans_rolled_back(struct backend *b, struct simlog_schema *sc)
{
	static const struct rec k1[] = {
	    { "kid", "{\"kid\": 1, \"pid\": \"p1\"}" }, { NULL, NULL } };
	static const struct rec undone[] = {
	    { "parent", "{\"pid\": \"p1\"}" },
	    { "kid", "{\"kid\": 5, \"pid\": \"p5\"}" },
	    { "kid", "{\"kid\": \"five\"}" }, { NULL, NULL } };
	static const struct rec k6[] = {
	    { "kid", "{\"kid\": 6, \"pid\": \"p1\"}" }, { NULL, NULL } };
	static const char k1_waits[] =
	    "s1|kid|{\"kid\": 1, \"pid\": \"p1\"}|parents(pid)|p1";
	char want[300];
	struct simlog_sink *s;

	snprintf(want, sizeof(want), "%s\n%s", k1_waits,
	    "s1|kid|{\"kid\": 6, \"pid\": \"p1\"}|parents(pid)|p1");

	db_new(b, "orphans_rolled_back");
	if ((s = sink(b, sc)) == NULL)
		return;
	txn(b, s, "s1", 1, k1, COMMIT);
	ok(txn(b, s, "s2", 2, undone, ROLLBACK) == 0, "%s: a transaction "
	    "bringing a parent, rolled back", b->kind);
	is_str(kids(b), "", "%s: rollback: the waiting row did not go in",
	    b->kind);
	is_str(q(b, "SELECT pid FROM parents"), "", "%s: nor the parent",
	    b->kind);
	is_str(waiting(b), k1_waits, "%s: rollback: it still waits, and "
	    "nothing more does", b->kind);
	is_str(rejects(b), "", "%s: rollback: no dead letter", b->kind);
	ok(simlog_sink_first_reject(s) == NULL, "%s: nor a first reason",
	    b->kind);
	ok(simlog_sink_waiting(s) == 1, "%s: one row waits (%llu)", b->kind,
	    simlog_sink_waiting(s));
	/* The parent the rollback took away is not taken for there. */
	txn(b, s, "s1", 3, k6, COMMIT);
	is_str(waiting(b), want, "%s: a row for the parent rolled back waits "
	    "too", b->kind);
	is_str(rejects(b), "", "%s: and is no dead letter", b->kind);
	txn(b, s, "s2", 2, parent_p1, COMMIT);
	is_str(kids(b), "1|s1|p1\n6|s1|p1", "%s: the parent again: the rows "
	    "go in", b->kind);
	is_str(waiting(b), "", "%s: and wait no more", b->kind);
	is_str(counts(s), "kid kids 0 0 0 0 2; parent parents 1 0 0 0 0",
	    "%s: counts: two resumed", b->kind);
	simlog_sink_free(s);
}

/* prune() forgets the batch ids recorded before a time, and nothing
 * else. */
static void
pruned(struct backend *b)
{
	static const struct rec one[] = { { "ev", "{\"n\": 1}" },
	    { NULL, NULL } };
	static const struct rec later[] = { { "ev", "{\"n\": 2}" },
	    { "ev", "{\"n\": 3}" }, { NULL, NULL } };
	struct simlog_sink *s;
	double t;

	db_new(b, "pruned");
	if ((s = sink(b, NULL)) == NULL)
		return;
	txn(b, s, "s1", 1, one, COMMIT);
	/* A moment after the first id was recorded, before the second. */
	t = simlog_now_wall();
	while (simlog_now_wall() <= t)
		;
	txn(b, s, "s1", 2, later, COMMIT);
	e.msg[0] = '\0';
	ok(simlog_sink_prune(s, t, &e) == 0, "%s: prune%s%s", b->kind,
	    e.msg[0] ? ": " : "", e.msg);
	is_str(batches(b), "s1|2", "%s: the older id is forgotten, the newer "
	    "kept", b->kind);
	is_str(rows(b, "ev"), "s1|{\"n\": 1}\ns1|{\"n\": 2}\ns1|{\"n\": 3}",
	    "%s: every row kept", b->kind);
	ok(marked(b, s, 1) == 0, "%s: a forgotten id is new again", b->kind);
	ok(marked(b, s, 2) == 1, "%s: a kept one is a duplicate", b->kind);
	simlog_sink_free(s);
}

/* SQLite: the file deleted or replaced under the sink is IOERR, naming
 * it, from check() and from a commit. */
static void
astray(struct backend *b)
{
	static const struct rec one[] = { { "ev", "{\"n\": 1}" },
	    { NULL, NULL } };
	struct simlog_sink *s;
	char other[240];
	unsigned char id[16];
	int dup;

	if (b->pg) {
		printf("ok %d # skip %s: a server's database cannot be deleted "
		    "under the drain (check: committed above)\n", ++tap_n,
		    b->kind);
		return;
	}
	db_new(b, "deleted");
	if ((s = sink(b, NULL)) == NULL)
		return;
	txn(b, s, "s1", 1, one, COMMIT);
	db_close(b);
	unlink(b->path);
	e.code = 0;
	ok(simlog_sink_check(s, &e) < 0 && e.code == SIMLOG_EX_IOERR &&
	    strstr(e.msg, b->path) != NULL && strstr(e.msg, "deleted"),
	    "%s: check after the file is deleted: IOERR naming it", b->kind);
	printf("#   %d: %s\n", e.code, e.msg);
	batch_id(id, 2);
	e.code = 0;
	ok(simlog_sink_begin(s, "s1", &e) == 0 &&
	    simlog_sink_mark(s, id, 1, &dup, &e) == 0 &&
	    simlog_sink_insert(s, "ev", 2, "{\"n\": 2}", 8, 0, &e) == 0 &&
	    simlog_sink_commit(s, &e) < 0 && e.code == SIMLOG_EX_IOERR &&
	    strstr(e.msg, b->path) != NULL, "%s: a commit then: IOERR too",
	    b->kind);
	simlog_sink_rollback(s);
	simlog_sink_free(s);
	/* What the lost file's drain left at the path is not replayed into
	 * the next database there. */
	if ((s = sink(b, NULL)) != NULL) {
		is_str(tables(b), "", "%s: a new database at the path is "
		    "empty", b->kind);
		simlog_sink_free(s);
	}

	db_new(b, "replaced");
	snprintf(other, sizeof(other), "%s/other.db", dir);
	if ((s = sink(b, NULL)) == NULL)
		return;
	txn(b, s, "s1", 1, one, COMMIT);
	{
		sqlite3 *db;

		if (sqlite3_open(other, &db) != SQLITE_OK ||
		    sqlite3_exec(db, "CREATE TABLE x (a)", NULL, NULL, NULL) !=
		    SQLITE_OK)
			bail("%s: %s", other, sqlite3_errmsg(db));
		sqlite3_close(db);
	}
	if (rename(other, b->path) < 0)
		bail("rename %s: %s", other, strerror(errno));
	e.code = 0;
	ok(simlog_sink_check(s, &e) < 0 && e.code == SIMLOG_EX_IOERR &&
	    strstr(e.msg, b->path) != NULL && strstr(e.msg, "replaced"),
	    "%s: check after the file is replaced: IOERR naming it", b->kind);
	printf("#   %d: %s\n", e.code, e.msg);
	simlog_sink_free(s);
}

/* A type that cannot name a table is DATAERR, and makes nothing. */
static void
bad_types(struct backend *b)
{
	static const struct {
		const char *type;
		size_t len;
	} bad[] = {
		{ "", 0 }, { "9lives", 6 }, { "two words", 9 },
		{ "semi;colon", 10 }, { "quo\"te", 6 }, { "nul\0x", 5 },
		{ "simlog_batches", 14 }, { "SQLITE_master", 13 },
		{ "a123456789b123456789c123456789d123456789e123456789f123456789"
		  "abcd", 64 },
	};
	struct simlog_sink *s;

	db_new(b, "bad_types");
	if ((s = sink(b, NULL)) == NULL)
		return;
	if (!did(b, simlog_sink_begin(s, "s1", &e), "begin"))
		goto out;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.code = 0;
		ok(simlog_sink_insert(s, bad[i].type, bad[i].len, "{\"n\": 1}",
		    8, 0, &e) < 0 && e.code == SIMLOG_EX_DATAERR,
		    "%s: type '%.*s': DATAERR (%s)", b->kind, (int)bad[i].len,
		    bad[i].type, e.msg);
	}
	simlog_sink_rollback(s);
	txn(b, s, "s1", 1, two, COMMIT);
	is_str(tables(b), "ev", "%s: no table made for them", b->kind);
	is_str(rejects(b), "", "%s: nor a dead letter", b->kind);
	is_str(batches(b), "s1|2", "%s: the good batch in", b->kind);
out:
	simlog_sink_free(s);
}

static void
contract(struct backend *b)
{
	struct simlog_schema *items = schema("items.schema", items_schema);
	struct simlog_schema *fams = schema("parents.schema", parents_schema);

	committed(b);
	rolled_back(b);
	duplicates(b);
	typed(b, items);
	refused(b, items);
	first_in_order(b, items);
	bulk(b, items);
	orphans(b, fams);
	orphans_rolled_back(b, fams);
	pruned(b);
	astray(b);
	bad_types(b);
	db_close(b);
	simlog_schema_free(items);
	simlog_schema_free(fams);
}

int
main(void)
{
	struct backend lite = { .kind = "sqlite" };
	struct backend pg = { .kind = "postgresql", .pg = 1 };
	const char *tmp = getenv("TMPDIR");
	double t0 = simlog_now_mono(), t1;

	/* In memory where there is some: SQLite syncs every commit, which
	 * no case here is about. */
	snprintf(dir, sizeof(dir), "%s/simlog-sinks.XXXXXX", tmp != NULL &&
	    strlen(tmp) < 40 ? tmp : access("/dev/shm", W_OK) == 0 ?
	    "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL)
		bail("no temporary directory: %s", strerror(errno));
	atexit(cleanup);

	contract(&lite);
	t1 = simlog_now_mono();
	printf("# sqlite: %.1f s\n", t1 - t0);
	if (!pgserver_available()) {
		/* A package build has no server; make check has. */
		int n = tap_n;

		for (int i = 0; i < n; i++)
			printf("ok %d # skip PostgreSQL server binaries are not "
			    "installed\n", ++tap_n);
	} else if (pgserver_start(&pgs) < 0)
		bail("PostgreSQL did not start");
	else {
		printf("# postgresql: started in %.1f s\n",
		    simlog_now_mono() - t1);
		contract(&pg);
		pgserver_stop(&pgs);
		printf("# postgresql: %.1f s\n", simlog_now_mono() - t1);
	}
	return tap_done();
}

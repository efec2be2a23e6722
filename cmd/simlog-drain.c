/*
 * simlog-drain: move buffered records from Redis into SQLite tables,
 * exactly once.  Each SQLite transaction records the batch ids it inserted;
 * stream entries are deleted from Redis only after the commit, so a drain
 * killed anywhere either redoes a batch (rolled back) or finds its id
 * already present and only deletes it.  See simlog(7).
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sqlite3.h>

#include "common.h"

#define DEFAULT_BATCH 20000
#define PAGE 16			/* stream entries per XRANGE */

enum {
	OPT_BATCH = 0x100, OPT_BUSY_TIMEOUT, OPT_KEEP_BATCHES, OPT_PROGRESS,
	OPT_SCHEMA, OPT_FOLLOW, OPT_COMMIT_INTERVAL,
};

static const struct option longopts[] = {
	CLI_CONN_LONGOPTS,
	{ "sim", required_argument, NULL, 's' },
	{ "db", required_argument, NULL, 'd' },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "busy-timeout", required_argument, NULL, OPT_BUSY_TIMEOUT },
	{ "keep-batches", required_argument, NULL, OPT_KEEP_BATCHES },
	{ "quiet", no_argument, NULL, 'q' },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "schema", required_argument, NULL, OPT_SCHEMA },
	{ "follow", no_argument, NULL, 'f' },
	{ "commit-interval", required_argument, NULL, OPT_COMMIT_INTERVAL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(void)
{
	fputs(
"Usage: simlog-drain [options]\n"
"\n"
"Move buffered records from Redis into SQLite tables, exactly once.\n"
"\n"
"Options:\n"
"  -u, --url URL            Redis URL (default $SIMLOG_REDIS_URL, else\n"
"                           redis://127.0.0.1:6379/0)\n"
"      --password-file FILE read the Redis password from FILE\n"
"      --timeout SECONDS    connect and command timeout (default 2)\n"
"  -s, --sim SIM            drain only this simulation (default: all)\n"
"  -d, --db PATH            SQLite database (default $SIMLOG_DB, else ./simlog.db)\n"
"      --schema FILE|NAME   typed tables from a schema (simlog-schema(5)),\n"
"                           e.g. --schema agentfarm\n"
"      --batch N            records per SQLite transaction (default 20000)\n"
"  -f, --follow             keep draining as records arrive; stop on\n"
"                           SIGINT or SIGTERM\n"
"      --commit-interval S  commit at least this often (default 1)\n"
"      --busy-timeout SECS  wait this long for a locked database (default 30)\n"
"      --keep-batches DAYS  remember drained batch ids this long (default 30)\n"
"  -q, --quiet              no progress on stderr\n"
"      --progress           show progress even when stderr is not a terminal\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Exit status: 0 drained, 65 undecodable entries set aside, 69 Redis\n"
"unreachable, 74 database error, 75 Redis or the database failed part-way,\n"
"77 authentication refused; see simlog-drain(1).\n",
	    stdout);
}

/* Where records of one type go: a schema table, the default mapping,
 * or (unknown to a strict schema) the dead letters. */
struct table {
	char name[64];			/* the record type */
	char table[64];			/* the table it lands in */
	sqlite3_stmt *ins;		/* default mapping */
	struct simlog_stable *st;	/* schema mapping */
	int unknown;			/* strict schema, no table */
	unsigned long long rows, rejects;	/* this simulation, committed */
	unsigned long long pending, prejects;	/* in the open transaction */
};

/* What an open transaction has done, counted once it commits. */
struct txn {
	unsigned long long rows, batches, dups, dup_rows;
};

struct drain {
	const char *dbpath;
	size_t batch;
	double busy_timeout;
	double keep_days;
	int progress;

	struct simlog_conn conn;
	sqlite3 *db;
	sqlite3_stmt *mark;		/* INSERT INTO simlog_batches */
	sqlite3_stmt *reject;		/* INSERT INTO simlog_rejects */
	struct simlog_schema *schema;
	struct table *tables;
	size_t ntables, tcap, last;
	struct simlog_chunk ch;

	unsigned long long rows, rejects, batches, dups, dup_rows, corrupt;
	unsigned long long expect;	/* records buffered at start */
	int follow;
	double commit_interval;
	unsigned long long rows_seen;	/* --follow: rows at the last pass */
	struct tally *tally;
	size_t ntally;
	struct simlog_policy pol;	/* Redis failures (lib/policy.c) */
	struct simlog_breaker brk;
	double t0, shown;
	int status;
};

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int
dberr(struct drain *d, struct simlog_err *e, const char *what)
{
	int code = sqlite3_errcode(d->db);

	return simlog_seterr(e, (code == SQLITE_BUSY || code == SQLITE_LOCKED) ?
	    SIMLOG_EX_TEMPFAIL : SIMLOG_EX_IOERR, "%s: %s: %s", d->dbpath,
	    what, sqlite3_errmsg(d->db));
}

/* The insert statement for a type's table, creating the table first. */
static struct table *
table_for(struct drain *d, const char *type, size_t tlen, struct simlog_err *e)
{
	char ident[160], sql[512];
	const char *why;
	struct table *t;
	size_t i;

	if (d->last < d->ntables) {
		t = &d->tables[d->last];
		if (strncmp(t->name, type, tlen) == 0 && t->name[tlen] == '\0')
			return t;
	}
	for (i = 0; i < d->ntables; i++) {
		t = &d->tables[i];
		if (strncmp(t->name, type, tlen) == 0 && t->name[tlen] == '\0') {
			d->last = i;
			return t;
		}
	}
	/* Only a validated type ever becomes an identifier. */
	if (simlog_valid_type(type, tlen, &why) < 0 ||
	    simlog_db_ident(type, tlen, ident, sizeof(ident)) < 0) {
		simlog_seterr(e, SIMLOG_EX_DATAERR, "record type '%.*s': %s",
		    (int)(tlen > 64 ? 64 : tlen), type, why);
		return NULL;
	}
	if (d->ntables == d->tcap) {
		size_t n = d->tcap ? d->tcap * 2 : 16;
		struct table *q = realloc(d->tables, n * sizeof(*q));

		if (q == NULL)
			errx(SIMLOG_EX_SOFTWARE, "out of memory");
		d->tables = q;
		d->tcap = n;
	}
	t = &d->tables[d->ntables];
	memset(t, 0, sizeof(*t));
	memcpy(t->name, type, tlen);
	if (d->schema != NULL &&
	    (t->st = simlog_schema_table(d->schema, type, tlen)) != NULL) {
		snprintf(t->table, sizeof(t->table), "%s",
		    simlog_stable_name(t->st));
		d->last = d->ntables++;
		return t;
	}
	if (d->schema != NULL && simlog_schema_strict(d->schema)) {
		t->unknown = 1;
		snprintf(t->table, sizeof(t->table), "simlog_rejects");
		d->last = d->ntables++;
		return t;
	}
	memcpy(t->table, type, tlen);
	snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS %s ("
	    "id INTEGER PRIMARY KEY, simulation_id TEXT NOT NULL, "
	    "data TEXT NOT NULL)", ident);
	if (simlog_db_exec(d->db, sql, e) < 0)
		return NULL;
	snprintf(sql, sizeof(sql),
	    "INSERT INTO %s (simulation_id, data) VALUES (?1, ?2)", ident);
	if (sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &t->ins, NULL) != SQLITE_OK) {
		dberr(d, e, ident);
		return NULL;
	}
	d->last = d->ntables++;
	return t;
}

/* A record that does not fit goes to simlog_rejects in the same
 * transaction: it never blocks the queue and never vanishes. */
static int
dead_letter(struct drain *d, struct table *t, const char *sim,
	    const char *json, size_t jlen, const char *why,
	    struct simlog_err *e)
{
	int r;

	sqlite3_bind_text(d->reject, 1, sim, -1, SQLITE_STATIC);
	sqlite3_bind_text(d->reject, 2, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(d->reject, 3, json, (int)jlen, SQLITE_STATIC);
	sqlite3_bind_text(d->reject, 4, why, -1, SQLITE_STATIC);
	sqlite3_bind_double(d->reject, 5, simlog_now_wall());
	r = sqlite3_step(d->reject);
	sqlite3_reset(d->reject);
	if (r != SQLITE_DONE)
		return dberr(d, e, "simlog_rejects");
	t->prejects++;
	return 0;
}

static int
insert_record(struct drain *d, const char *sim, const char *type, size_t tlen,
	      const char *json, size_t jlen, struct simlog_err *e)
{
	struct table *t = table_for(d, type, tlen, e);
	struct simlog_err re;
	int r;

	if (t == NULL)
		return -1;
	if (t->st != NULL) {
		r = simlog_stable_insert(d->schema, t->st, d->db, sim, json,
		    jlen, &re);
		if (r < 0) {
			*e = re;
			return -1;
		}
		if (r > 0)
			return dead_letter(d, t, sim, json, jlen, re.msg, e);
	} else if (t->unknown) {
		char why[120];

		snprintf(why, sizeof(why), "record type %s is not in the "
		    "strict schema", t->name);
		return dead_letter(d, t, sim, json, jlen, why, e);
	} else {
		sqlite3_bind_text(t->ins, 1, sim, -1, SQLITE_STATIC);
		sqlite3_bind_text(t->ins, 2, json, (int)jlen, SQLITE_STATIC);
		r = sqlite3_step(t->ins);
		sqlite3_reset(t->ins);
		if (r != SQLITE_DONE)
			return dberr(d, e, t->table);
	}
	t->pending++;
	return 0;
}

static void
tables_reset_counts(struct drain *d)
{
	for (size_t i = 0; i < d->ntables; i++) {
		struct table *t = &d->tables[i];

		t->rows = t->pending = t->rejects = t->prejects = 0;
	}
}

/* Returns the rejects the transaction held. */
static unsigned long long
tables_settle(struct drain *d, int committed)
{
	unsigned long long rejects = 0;

	for (size_t i = 0; i < d->ntables; i++) {
		struct table *t = &d->tables[i];

		if (committed) {
			t->rows += t->pending;
			t->rejects += t->prejects;
			rejects += t->prejects;
		}
		t->pending = t->prejects = 0;
	}
	return rejects;
}

/* A decodable chunk may still hold a type we would not make a table of. */
static const char *
bad_type(const struct simlog_chunk *ch)
{
	const char *why;

	for (size_t i = 0; i < ch->ntypes; i++)
		if (simlog_valid_type(ch->types[i].name,
		    strlen(ch->types[i].name), &why) < 0)
			return why;
	return NULL;
}

static void
show_progress(struct drain *d, const char *sim, int final)
{
	double now = simlog_now_mono(), el = now - d->t0;

	if (!d->progress || (!final && now - d->shown < 0.5))
		return;
	d->shown = now;
	fprintf(stderr, "\rsimlog-drain: %s: %llu of %llu rows, %.0f rows/s   ",
	    sim, d->rows, d->expect, el > 0 ? (double)d->rows / el : 0.0);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

/* Insert one decoded chunk's records; *dup set if it was drained before. */
static int
insert_chunk(struct drain *d, const char *sim, int *dup, struct simlog_err *e)
{
	const char *type, *json;
	size_t tlen, jlen, pos = 0;
	int r;

	sqlite3_bind_blob(d->mark, 1, d->ch.id, SIMLOG_BATCH_ID_LEN,
	    SQLITE_STATIC);
	sqlite3_bind_text(d->mark, 2, sim, -1, SQLITE_STATIC);
	sqlite3_bind_int64(d->mark, 3, d->ch.records);
	sqlite3_bind_double(d->mark, 4, simlog_now_wall());
	r = sqlite3_step(d->mark);
	sqlite3_reset(d->mark);
	if (r != SQLITE_DONE)
		return dberr(d, e, "recording a batch");
	*dup = sqlite3_changes(d->db) == 0;
	if (*dup)
		return 0;
	while ((r = simlog_chunk_next(&d->ch, &pos, &type, &tlen, &json,
	    &jlen)) > 0)
		if (insert_record(d, sim, type, tlen, json, jlen, e) < 0)
			return -1;
	return 0;
}

struct acklist {
	struct simlog_ack *a;
	size_t n, cap;
};

static void
acks_clear(struct acklist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((void *)l->a[i].types);
	l->n = 0;
}

static void
acks_add(struct acklist *l, const struct simlog_sid *id,
	 const struct simlog_chunk *ch)
{
	struct simlog_typecount *t;

	if (l->n == l->cap) {
		size_t n = l->cap ? l->cap * 2 : 64;
		struct simlog_ack *q = realloc(l->a, n * sizeof(*q));

		if (q == NULL)
			errx(SIMLOG_EX_SOFTWARE, "out of memory");
		l->a = q;
		l->cap = n;
	}
	t = malloc((ch->ntypes ? ch->ntypes : 1) * sizeof(*t));
	if (t == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	memcpy(t, ch->types, ch->ntypes * sizeof(*t));
	l->a[l->n].id = *id;
	l->a[l->n].types = t;
	l->a[l->n].ntypes = ch->ntypes;
	l->n++;
}

/*
 * One transaction: read entries after *after (up to upto) until the batch
 * is full, insert them, commit, then delete them from Redis.  Returns the
 * number of entries handled, or -1.
 */
enum where { IN_DB, IN_REDIS };

static long
drain_txn(struct drain *d, const char *sim, struct simlog_sid *after,
	  int *started, const struct simlog_sid *upto, struct acklist *acks,
	  enum where *where, struct simlog_err *e)
{
	size_t records = 0, handled = 0;
	struct simlog_sid resume = *after;
	int rc, resume_started = *started;
	struct txn t = { 0, 0, 0, 0 };

	acks_clear(acks);
	*where = IN_DB;
	if (simlog_db_exec(d->db, "BEGIN IMMEDIATE", e) < 0)
		return -1;
	double t0 = simlog_now_mono();

	while (records < d->batch &&
	    simlog_now_mono() - t0 < d->commit_interval) {
		struct simlog_entry *ent;
		size_t n, i;

		*where = IN_REDIS;
		if (simlog_queue_read(&d->conn, sim, *started ? after : NULL,
		    upto, PAGE, &ent, &n, e) < 0)
			goto rollback;
		*where = IN_DB;
		for (i = 0; i < n; i++) {
			struct simlog_err de;
			int dup;

			*after = ent[i].id;
			*started = 1;
			handled++;
			const char *why;
			int bad = 1;

			if (ent[i].data == NULL)
				snprintf(de.msg, sizeof(de.msg),
				    "entry has no chunk field");
			else if (simlog_chunk_decode(&d->ch, ent[i].data,
			    ent[i].len, &de) < 0)
				;	/* de says why */
			else if ((why = bad_type(&d->ch)) != NULL)
				snprintf(de.msg, sizeof(de.msg), "chunk holds "
				    "a record type that is not valid: %s", why);
			else
				bad = 0;
			if (bad) {
				char id[48];

				simlog_sid_format(&ent[i].id, id);
				warnx("%s: entry %s: %s; moved to "
				    "simlog:{%s}:corrupt", sim, id, de.msg, sim);
				*where = IN_REDIS;
				if (simlog_queue_quarantine(&d->conn, sim,
				    &ent[i], de.msg, e) < 0) {
					simlog_entries_free(ent, n);
					goto rollback;
				}
				*where = IN_DB;
				d->corrupt++;
				d->status = SIMLOG_EX_DATAERR;
				continue;
			}
			if (insert_chunk(d, sim, &dup, e) < 0) {
				simlog_entries_free(ent, n);
				goto rollback;
			}
			if (dup) {
				t.dups++;
				t.dup_rows += d->ch.records;
			} else {
				t.batches++;
				t.rows += d->ch.records;
			}
			records += d->ch.records;
			acks_add(acks, &ent[i].id, &d->ch);
		}
		simlog_entries_free(ent, n);
		if (n < PAGE)
			break;
		show_progress(d, sim, 0);
	}
	/* COMMIT can meet a busy checkpoint; the busy handler waits. */
	while ((rc = simlog_db_exec(d->db, "COMMIT", e)) < 0 &&
	    e->code == SIMLOG_EX_TEMPFAIL && !stop_requested)
		;
	if (rc < 0)
		goto rollback;
	{
		unsigned long long rejects = tables_settle(d, 1);

		d->rows += t.rows - rejects;
		d->rejects += rejects;
	}
	d->batches += t.batches;
	d->dups += t.dups;
	d->dup_rows += t.dup_rows;
	/* Committed: the rows are safe.  If we die before this ack, the
	 * next drain finds the batch ids and only deletes the entries. */
	*where = IN_REDIS;
	if (acks->n > 0 &&
	    simlog_queue_ack(&d->conn, sim, acks->a, acks->n, e) < 0)
		return -1;
	return (long)handled;
rollback:
	sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	tables_settle(d, 0);
	/* Read again from where this transaction began. */
	*after = resume;
	*started = resume_started;
	return -1;
}

static unsigned long long
backlog_of(struct drain *d, const char *sim)
{
	char k[SIMLOG_KEYLEN];
	const char *av[2] = { "HVALS", k };
	redisReply *r;
	unsigned long long n = 0;

	simlog_key_count(sim, k);
	if ((r = simlog_cmd(&d->conn, NULL, 2, av, NULL)) == NULL)
		return 0;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			n += strtoull(r->element[i]->str, NULL, 10);
	freeReplyObject(r);
	return n;
}

/*
 * After a failed transaction: wait and go on (1), or give up (0).  Redis
 * failures follow the library's policy (retries and the shared breaker;
 * with --follow, for as long as the drain runs); a busy database waited
 * its busy timeout already and gets the same number of retries.
 */
static int
retry_after(struct drain *d, struct simlog_err *e, enum where where,
	    int *attempt, int *dbtries)
{
	double delay;

	if (where == IN_REDIS)
		return simlog_policy_failed(&d->conn, &d->pol, attempt, e);
	if (!simlog_err_transient(e) || stop_requested ||
	    ++*dbtries > d->pol.retry.tries)
		return 0;
	delay = simlog_retry_delay(&d->pol.retry, *dbtries);
	warnx("%s; retry %d in %.2f s", e->msg, *dbtries, delay);
	simlog_sleep(delay, &stop_requested);
	d->pol.retries++;
	return !stop_requested;
}

/* One command's worth of work under the policy: the newest entry. */
struct last_op {
	const char *sim;
	struct simlog_sid *upto;
	int *found;
};

static int
op_last(struct simlog_conn *conn, void *arg, struct simlog_err *e)
{
	struct last_op *o = arg;

	return simlog_queue_last(conn, o->sim, o->upto, o->found, e);
}

struct list_op {
	char ***sims;
	size_t *n;
};

static int
op_list(struct simlog_conn *conn, void *arg, struct simlog_err *e)
{
	struct list_op *o = arg;

	if (simlog_list_sims(conn, o->sims, o->n, e) < 0)
		return -1;
	/* The old layout's index loses what has gone. */
	simlog_forget_old_sims(conn, *o->sims, *o->n);
	return 0;
}

static int
op_none(struct simlog_conn *conn, void *arg, struct simlog_err *e)
{
	(void)conn;
	(void)arg;
	(void)e;
	return 0;
}

/* Rows per simulation and type over the whole run, printed at the end
 * (a --follow drain makes many passes). */
struct tally {
	char sim[72], type[64], table[64];
	unsigned long long rows, rejects;
};

static void
tally_add(struct drain *d, const char *sim, const struct table *t)
{
	size_t i;

	for (i = 0; i < d->ntally; i++)
		if (strcmp(d->tally[i].sim, sim) == 0 &&
		    strcmp(d->tally[i].type, t->name) == 0)
			break;
	if (i == d->ntally) {
		struct tally *q = realloc(d->tally, (i + 1) * sizeof(*q));

		if (q == NULL)
			errx(SIMLOG_EX_SOFTWARE, "out of memory");
		d->tally = q;
		memset(&q[i], 0, sizeof(q[i]));
		snprintf(q[i].sim, sizeof(q[i].sim), "%s", sim);
		snprintf(q[i].type, sizeof(q[i].type), "%s", t->name);
		snprintf(q[i].table, sizeof(q[i].table), "%s", t->table);
		d->ntally++;
	}
	d->tally[i].rows += t->rows;
	d->tally[i].rejects += t->rejects;
}

static size_t
count_sims(const struct drain *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->ntally; i++) {
		size_t j;

		for (j = 0; j < i; j++)
			if (strcmp(d->tally[j].sim, d->tally[i].sim) == 0)
				break;
		n += j == i;
	}
	return n;
}

static void
print_tallies(const struct drain *d)
{
	for (size_t i = 0; i < d->ntally; i++)
		printf("{\"sim\":\"%s\",\"type\":\"%s\",\"table\":\"%s\","
		    "\"rows\":%llu,\"rejects\":%llu}\n", d->tally[i].sim,
		    d->tally[i].type, d->tally[i].table, d->tally[i].rows,
		    d->tally[i].rejects);
}

static int
drain_sim(struct drain *d, const char *sim, struct simlog_err *e)
{
	struct simlog_sid upto, after = { 0, 0 };
	struct acklist acks = { NULL, 0, 0 };
	unsigned long long rows0 = d->rows;
	int found, started = 0;
	long n;

	struct last_op lo = { sim, &upto, &found };

	if (simlog_run(&d->conn, &d->pol, 0, op_last, &lo, e) < 0)
		return -1;
	if (!found)
		return 0;
	d->expect += backlog_of(d, sim);
	tables_reset_counts(d);
	for (int attempt = 0, dbtries = 0;;) {
		enum where where = IN_REDIS;

		if (simlog_policy_connect(&d->conn, &d->pol, e) < 0)
			n = -1;
		else
			n = drain_txn(d, sim, &after, &started, &upto, &acks,
			    &where, e);
		show_progress(d, sim, 0);
		if (n > 0) {
			attempt = dbtries = 0;
			if (stop_requested)
				break;
			continue;
		}
		if (n == 0 || !retry_after(d, e, where, &attempt, &dbtries))
			break;
	}
	acks_clear(&acks);
	free(acks.a);
	if (d->progress && d->rows > rows0)
		show_progress(d, sim, 1);
	for (size_t i = 0; i < d->ntables; i++) {
		const struct table *t = &d->tables[i];

		if (t->rows > 0 || t->rejects > 0)
			tally_add(d, sim, t);
	}
	return n < 0 ? -1 : 0;
}

static void
prune_batches(struct drain *d)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(d->db, "DELETE FROM simlog_batches "
	    "WHERE drained_at < ?1", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_double(st, 1, simlog_now_wall() - d->keep_days * 86400);
	if (sqlite3_step(st) != SQLITE_DONE)
		warnx("%s: pruning old batch ids: %s", d->dbpath,
		    sqlite3_errmsg(d->db));
	sqlite3_finalize(st);
}

/* One pass over the simulations (or just sim); 0 or an exit status. */
static int
drain_pass(struct drain *d, const char *sim, char ***sims, size_t *nsims)
{
	struct simlog_err e;
	int rc = 0;

	simlog_strv_free(*sims, *nsims);
	*sims = NULL;
	*nsims = 0;
	if (sim != NULL) {
		if ((*sims = calloc(1, sizeof(**sims))) == NULL ||
		    ((*sims)[0] = strdup(sim)) == NULL)
			errx(SIMLOG_EX_SOFTWARE, "out of memory");
		*nsims = 1;
	} else {
		struct list_op lo = { sims, nsims };

		if (simlog_run(&d->conn, &d->pol, 0, op_list, &lo, &e) < 0) {
			if (e.stopped)
				return 0;
			warnx("%s", e.msg);
			return e.code == SIMLOG_EX_UNAVAILABLE ?
			    SIMLOG_EX_TEMPFAIL : e.code;
		}
	}
	for (size_t i = 0; i < *nsims && !stop_requested; i++)
		if (drain_sim(d, (*sims)[i], &e) < 0) {
			if (e.stopped)
				break;
			warnx("%s: %s", (*sims)[i], e.msg);
			rc = e.code ? e.code : SIMLOG_EX_SOFTWARE;
			/* Redis or the database is in trouble: a later
			 * simulation would only meet the same failure. */
			if (rc == SIMLOG_EX_UNAVAILABLE)
				rc = SIMLOG_EX_TEMPFAIL;
			break;
		}
	return rc;
}

/*
 * --follow with nothing to do: block in XREAD on every simulation's stream
 * until an entry arrives or the commit interval passes (new simulations are
 * picked up at the next pass).
 */
static void
wait_for_records(struct drain *d, char **sims, size_t nsims)
{
	double block = d->commit_interval;
	const char **av;
	char (*keys)[SIMLOG_KEYLEN], ms[24];
	size_t ac = 0, i;
	redisReply *r;

	/* New simulations and signals are seen between blocks: keep them
	 * short (a signal does not interrupt a blocked read), and inside the
	 * command timeout. */
	if (block > 1)
		block = 1;
	if (block > d->conn.timeout / 2)
		block = d->conn.timeout / 2;
	if (nsims == 0) {
		simlog_sleep(block, &stop_requested);
		return;
	}
	av = calloc(2 * nsims + 6, sizeof(*av));
	keys = calloc(nsims, sizeof(*keys));
	if (av == NULL || keys == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	snprintf(ms, sizeof(ms), "%.0f", block * 1000 > 1 ? block * 1000 : 1);
	av[ac++] = "XREAD";
	av[ac++] = "COUNT";
	av[ac++] = "1";
	av[ac++] = "BLOCK";
	av[ac++] = ms;
	av[ac++] = "STREAMS";
	for (i = 0; i < nsims; i++) {
		simlog_key_stream(sims[i], keys[i]);
		av[ac++] = keys[i];
	}
	for (i = 0; i < nsims; i++)
		av[ac++] = "$";
	r = simlog_cmd(&d->conn, NULL, (int)ac, av, NULL);
	if (r == NULL) {
		/* Trouble shows itself at the next pass; don't spin on it. */
		simlog_conn_close(&d->conn);
		simlog_sleep(block, &stop_requested);
	}
	freeReplyObject(r);
	free(av);
	free(keys);
}

static void
say(void *arg, const char *msg)
{
	(void)arg;
	warnx("%s", msg);
}

/*
 * Connect under the policy: a one-shot drain fails fast on an open breaker
 * and gives up after its retries (69, or 75 for the breaker); --follow
 * waits for Redis for as long as it runs.
 */
static void
connect_redis(struct drain *d, struct simlog_conn_opts *co)
{
	struct simlog_err e;
	char endpoint[700];

	/* No stop flag on the connection: a signal lets the transaction in
	 * progress finish (every wait is bounded by --timeout anyway). */
	if (simlog_policy_init(&d->pol, &e) < 0 ||
	    simlog_conn_init(&d->conn, co, &e) < 0)
		cli_die(&e);
	simlog_conn_endpoint(&d->conn, 0, endpoint, sizeof(endpoint));
	if (simlog_breaker_init(&d->brk, endpoint, 0, 0, &e) < 0)
		warnx("%s; going on without a circuit breaker", e.msg);
	else
		d->pol.brk = &d->brk;
	d->pol.forever = d->follow;
	d->pol.stop = &stop_requested;
	d->pol.say = say;
	if (simlog_run(&d->conn, &d->pol, 0, op_none, NULL, &e) < 0 &&
	    !e.stopped)
		cli_die(&e);
}

int
main(int argc, char **argv)
{
	struct simlog_conn_opts co = { .name = "simlog-drain", .timeout = 2 };
	struct drain d;
	struct simlog_err e;
	struct sigaction sa;
	const char *sim = NULL;
	char **sims = NULL;
	size_t nsims = 0, i;
	int c, quiet = 0, force_progress = 0, rc = 0;
	const char *schema_name = NULL;

	cli_protect_secrets();

	memset(&d, 0, sizeof(d));
	d.batch = DEFAULT_BATCH;
	d.busy_timeout = 30;
	d.keep_days = 30;
	d.commit_interval = 1;
	d.dbpath = getenv("SIMLOG_DB");
	while ((c = getopt_long(argc, argv, "u:s:d:fqhV", longopts, NULL)) != -1) {
		if (cli_conn_option(c, optarg, &co))
			continue;
		switch (c) {
		case 's':
			if (!simlog_valid_sim(optarg, strlen(optarg)))
				errx(SIMLOG_EX_USAGE, "invalid --sim: '%s': "
				    "use 1-64 of [A-Za-z0-9_.-]", optarg);
			sim = optarg;
			break;
		case 'd':
			if (*optarg == '\0')
				errx(SIMLOG_EX_USAGE, "invalid --db: empty path");
			d.dbpath = optarg;
			break;
		case OPT_BATCH:
			d.batch = (size_t)cli_number("--batch", optarg, 1,
			    10000000);
			break;
		case OPT_BUSY_TIMEOUT:
			d.busy_timeout = cli_seconds("--busy-timeout", optarg,
			    86400);
			break;
		case OPT_KEEP_BATCHES:
			d.keep_days = (double)cli_number("--keep-batches",
			    optarg, 1, 36500);
			break;
		case 'q':
			quiet = 1;
			break;
		case OPT_PROGRESS:
			force_progress = 1;
			break;
		case OPT_SCHEMA:
			schema_name = optarg;
			break;
		case 'f':
			d.follow = 1;
			break;
		case OPT_COMMIT_INTERVAL:
			d.commit_interval = cli_seconds("--commit-interval",
			    optarg, 3600);
			if (d.commit_interval < 0.001)
				errx(SIMLOG_EX_USAGE, "invalid --commit-interval: "
				    "'%s': at least 0.001", optarg);
			break;
		case 'h':
			usage();
			return cli_close_stdout() == 0 ? 0 : SIMLOG_EX_IOERR;
		case 'V':
			cli_version();
		default:
			cli_try_help();
		}
	}
	if (optind < argc) {
		warnx("unexpected argument '%s'", argv[optind]);
		cli_try_help();
	}
	if (d.dbpath == NULL || *d.dbpath == '\0')
		d.dbpath = "simlog.db";
	if (schema_name == NULL)
		schema_name = getenv("SIMLOG_SCHEMA");
	if (schema_name != NULL && *schema_name != '\0' &&
	    (d.schema = simlog_schema_load(schema_name, &e)) == NULL)
		cli_die(&e);
	d.progress = !quiet && (force_progress || isatty(STDERR_FILENO));

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	d.t0 = simlog_now_mono();
	connect_redis(&d, &co);
	if (simlog_db_open(d.dbpath, d.busy_timeout, &d.db, &e) < 0)
		cli_die(&e);
	if (sqlite3_prepare_v3(d.db, "INSERT INTO simlog_batches "
	    "(batch, simulation_id, records, drained_at) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT (batch) DO NOTHING", -1, SQLITE_PREPARE_PERSISTENT,
	    &d.mark, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(d.db, "INSERT INTO simlog_rejects "
	    "(simulation_id, type, data, error, drained_at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)", -1, SQLITE_PREPARE_PERSISTENT,
	    &d.reject, NULL) != SQLITE_OK)
		errx(SIMLOG_EX_IOERR, "%s: %s", d.dbpath, sqlite3_errmsg(d.db));
	if (d.schema != NULL) {
		/* Under the write lock: two drains never race an ALTER. */
		if (simlog_db_exec(d.db, "BEGIN IMMEDIATE", &e) < 0 ||
		    simlog_schema_apply(d.schema, d.db, &e) < 0 ||
		    simlog_db_exec(d.db, "COMMIT", &e) < 0) {
			sqlite3_exec(d.db, "ROLLBACK", NULL, NULL, NULL);
			errx(e.code, "%s: %s: %s", d.dbpath,
			    simlog_schema_path(d.schema), e.msg);
		}
	}
	simlog_chunk_init(&d.ch);

	do {
		rc = drain_pass(&d, sim, &sims, &nsims);
		if (rc != 0 || !d.follow || stop_requested)
			break;
		/* Nothing new this pass: sleep in Redis until records come. */
		if (d.rows == d.rows_seen)
			wait_for_records(&d, sims, nsims);
		d.rows_seen = d.rows;
	} while (!stop_requested);
	prune_batches(&d);
	print_tallies(&d);
	printf("{\"rows\":%llu,\"rejects\":%llu,\"batches\":%llu,\"duplicate_batches\":%llu,"
	    "\"duplicate_rows\":%llu,\"corrupt\":%llu,\"sims\":%zu,"
	    "\"retries\":%llu,\"seconds\":%.3f}\n", d.rows, d.rejects, d.batches, d.dups,
	    d.dup_rows, d.corrupt, d.ntally ? count_sims(&d) : 0, d.pol.retries, simlog_now_mono() - d.t0);

	for (i = 0; i < d.ntables; i++)
		sqlite3_finalize(d.tables[i].ins);
	free(d.tables);
	free(d.tally);
	sqlite3_finalize(d.mark);
	sqlite3_finalize(d.reject);
	simlog_schema_free(d.schema);
	simlog_db_close(d.db);
	simlog_chunk_clear(&d.ch);
	simlog_strv_free(sims, nsims);
	simlog_conn_clear(&d.conn);
	simlog_breaker_clear(&d.brk);
	if (cli_close_stdout() < 0 && rc == 0)
		rc = SIMLOG_EX_IOERR;
	return rc ? rc : d.status;
}

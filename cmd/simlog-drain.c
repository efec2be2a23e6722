/*
 * simlog-drain: move buffered records from Redis into a database (SQLite
 * or PostgreSQL, lib/sink/), exactly once.  Each transaction records the
 * batch ids it inserted; stream entries are deleted from Redis only after
 * the commit, so a drain killed anywhere either redoes a batch (rolled
 * back) or finds its id already present and only deletes it.  See
 * simlog(7).
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common.h"
#include "simlog_backlog.h"
#include "sink/sink.h"

#define DEFAULT_BATCH 100000
#define PAGE 16			/* stream entries per XRANGE */

enum {
	OPT_BATCH = 0x100, OPT_BUSY_TIMEOUT, OPT_KEEP_BATCHES, OPT_PROGRESS,
	OPT_SCHEMA, OPT_FOLLOW, OPT_COMMIT_INTERVAL, OPT_CORRUPT, OPT_DISCARD,
	OPT_SHARD,
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
	{ "corrupt", required_argument, NULL, OPT_CORRUPT },
	{ "discard", no_argument, NULL, OPT_DISCARD },
	{ "shard", required_argument, NULL, OPT_SHARD },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(void)
{
	fputs(
"Usage: simlog-drain [options]\n"
"       simlog-drain -s SIM --corrupt list|export|purge\n"
"       simlog-drain -s SIM --discard\n"
"\n"
"Move buffered records from Redis into SQLite or PostgreSQL tables,\n"
"exactly once.\n"
"\n"
"Options:\n"
CLI_CONN_USAGE
"  -s, --sim SIM            drain only this simulation (default: all)\n"
"      --shard I/N          drain only the simulations of shard I of N\n"
"                           (FNV-1a of the name, mod N): N drains split\n"
"                           the work with no overlap\n"
"  -d, --db PATH|URL        SQLite database, or postgresql://... (default\n"
"                           $SIMLOG_DB, else ./simlog.db)\n"
"      --schema FILE|NAME   typed tables from a schema (simlog-schema(5)),\n"
"                           e.g. --schema agentfarm\n"
"      --batch N            records per transaction (default 100000)\n"
"  -f, --follow             keep draining as records arrive; stop on\n"
"                           SIGINT or SIGTERM\n"
"      --commit-interval S  commit at least this often (default 1)\n"
"      --busy-timeout SECS  wait this long for a locked database (default 30)\n"
"      --keep-batches DAYS  remember drained batch ids this long (default 30)\n"
"  -q, --quiet              no progress on stderr\n"
"      --progress           show progress even when stderr is not a terminal\n"
"      --corrupt ACTION     with -s: list, export (JSON lines) or purge the\n"
"                           entries set aside in simlog:{SIM}:corrupt\n"
"      --discard            with -s: delete the simulation's whole backlog\n"
"                           from Redis, undrained\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Exit status: 0 drained, 65 undecodable entries set aside, 66 no such\n"
"database, 69 Redis unreachable, 73 database cannot be created, 74\n"
"database error, 75 Redis or the database failed part-way, 77\n"
"authentication refused; a simulation that fails alone is named and the\n"
"others drained, with the worst status; see simlog-drain(1).\n",
	    stdout);
}

/* Rows per simulation and type over the whole run, printed at the end
 * (a --follow drain makes many passes). */
struct tally {
	char sim[72], type[64], table[64];
	unsigned long long rows, rejects, waiting, unmapped;
};

/* The newest entry seen of each simulation (--follow waits after it),
 * and its record types so far (sorted). */
struct seen {
	char sim[72];
	struct simlog_sid id;
	char (*types)[64];
	size_t ntypes;
};

/* A simulation the drain could not drain at its last try, and why. */
struct undrained {
	char sim[72];
	int code;
	char why[SIMLOG_ERRLEN];
};

struct drain {
	const char *target;		/* --db as given */
	unsigned shard, shards;		/* --shard I/N; shards 0: all */
	size_t batch;
	double busy_timeout;
	double keep_days;
	int progress;

	struct simlog_conn conn;
	struct simlog_sink *sink;
	struct simlog_schema *schema;
	struct simlog_chunk ch;

	unsigned long long rows, rejects, batches, dups, dup_rows, corrupt;
	unsigned long long waiting, resumed;	/* foreign keys */
	unsigned long long expect;	/* records buffered at start */
	int follow;
	double commit_interval;
	unsigned long long rows_seen;	/* --follow: rows at the last pass */
	struct tally *tally;
	size_t ntally;
	size_t *thash, thcap;		/* (sim, type) -> tally index + 1 */
	struct seen *seen;
	size_t nseen;
	struct seen *cur;		/* the simulation being drained */
	struct undrained *undrained;	/* failed at their last try */
	size_t nundrained;
	struct simlog_policy pol;	/* Redis failures (lib/policy.c) */
	struct simlog_breaker brk;
	double t0, shown;
	int status;
	int said_partial;		/* that masters did not answer */
};

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	return p;
}

/* --- what a run drained ----------------------------------------------------- */

/* The worse of two exit statuses: a set-aside entry (65) is less than a
 * simulation left for later (75), less than Redis gone (69), less than
 * anything else. */
static int
worse(int a, int b)
{
	int ra = a == 0 ? 0 : a == SIMLOG_EX_DATAERR ? 1 :
	    a == SIMLOG_EX_TEMPFAIL ? 2 : a == SIMLOG_EX_UNAVAILABLE ? 3 : 4;
	int rb = b == 0 ? 0 : b == SIMLOG_EX_DATAERR ? 1 :
	    b == SIMLOG_EX_TEMPFAIL ? 2 : b == SIMLOG_EX_UNAVAILABLE ? 3 : 4;

	return rb > ra ? b : a;
}

static size_t
tally_slot(const struct drain *d, const char *sim, const char *type)
{
	return (simlog_fnv1a(sim, strlen(sim)) * 1099511628211ull ^
	    simlog_fnv1a(type, strlen(type))) & (d->thcap - 1);
}

/* Index entry i of the tally by its simulation and type. */
static void
tally_index(struct drain *d, size_t i)
{
	size_t h = tally_slot(d, d->tally[i].sim, d->tally[i].type);

	while (d->thash[h] != 0)
		h = (h + 1) & (d->thcap - 1);
	d->thash[h] = i + 1;
}

/* The tally's entry for sim and type, made if need be: found through an
 * index at most half full, so that many simulations and types cost no
 * more a commit than a few. */
static struct tally *
tally_of(struct drain *d, const char *sim, const struct simlog_sink_count *c)
{
	size_t h, i;

	if (d->thcap > 0)
		for (h = tally_slot(d, sim, c->type); d->thash[h] != 0;
		    h = (h + 1) & (d->thcap - 1)) {
			struct tally *t = &d->tally[d->thash[h] - 1];

			if (strcmp(t->sim, sim) == 0 &&
			    strcmp(t->type, c->type) == 0)
				return t;
		}
	i = d->ntally++;
	d->tally = xrealloc(d->tally, d->ntally * sizeof(*d->tally));
	memset(&d->tally[i], 0, sizeof(d->tally[i]));
	snprintf(d->tally[i].sim, sizeof(d->tally[i].sim), "%s", sim);
	snprintf(d->tally[i].type, sizeof(d->tally[i].type), "%s", c->type);
	snprintf(d->tally[i].table, sizeof(d->tally[i].table), "%s", c->table);
	if (2 * (d->ntally + 1) > d->thcap) {
		d->thcap = d->thcap ? 2 * d->thcap : 64;
		free(d->thash);
		d->thash = xrealloc(NULL, d->thcap * sizeof(*d->thash));
		memset(d->thash, 0, d->thcap * sizeof(*d->thash));
		for (size_t j = 0; j < d->ntally; j++)
			tally_index(d, j);
	} else
		tally_index(d, i);
	return &d->tally[i];
}

static void
tally_add(struct drain *d, const char *sim, const struct simlog_sink_count *c)
{
	struct tally *t = tally_of(d, sim, c);

	t->rows += c->rows;
	t->rejects += c->rejects;
	t->waiting += c->waiting;
	t->unmapped += c->unmapped;
	d->rows += c->rows;
	d->rejects += c->rejects;
	d->waiting += c->waiting;
	d->resumed += c->resumed;
}

/* Records handled: stored, dead letters, or waiting for a parent. */
static unsigned long long
handled(const struct drain *d)
{
	return d->rows + d->rejects + d->waiting;
}

static int
by_sim(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* How many simulations the tally holds: n log n, not n^2. */
static size_t
count_sims(const struct drain *d)
{
	const char **v = xrealloc(NULL, (d->ntally + 1) * sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < d->ntally; i++)
		v[i] = d->tally[i].sim;
	qsort(v, d->ntally, sizeof(*v), by_sim);
	for (size_t i = 0; i < d->ntally; i++)
		n += i == 0 || strcmp(v[i], v[i - 1]) != 0;
	free(v);
	return n;
}

/* Records of tally i's table that carried fields no column takes, over
 * every simulation; 0 unless i is the table's first tally. */
static unsigned long long
table_unmapped(const struct drain *d, size_t i)
{
	unsigned long long n = 0;
	size_t j;

	for (j = 0; j < i; j++)
		if (strcmp(d->tally[j].table, d->tally[i].table) == 0)
			return 0;	/* counted with the first */
	for (j = i; j < d->ntally; j++)
		if (strcmp(d->tally[j].table, d->tally[i].table) == 0)
			n += d->tally[j].unmapped;
	return n;
}

/* "unmapped": {"table": records, ...}, per table over the run. */
static void
print_unmapped(const struct drain *d, struct simlog_jw *w)
{
	simlog_jw_key(w, "unmapped");
	simlog_jw_obj(w);
	for (size_t i = 0; i < d->ntally; i++) {
		unsigned long long n = table_unmapped(d, i);

		if (n > 0)
			simlog_jw_kuint(w, d->tally[i].table, n);
	}
	simlog_jw_close(w);
}

static void
print_summary(const struct drain *d)
{
	struct simlog_jw w;

	simlog_jw_init(&w, stdout);
	for (size_t i = 0; i < d->ntally; i++) {
		simlog_jw_begin(&w);
		simlog_jw_kstr(&w, "sim", d->tally[i].sim);
		simlog_jw_kstr(&w, "type", d->tally[i].type);
		simlog_jw_kstr(&w, "table", d->tally[i].table);
		simlog_jw_kuint(&w, "rows", d->tally[i].rows);
		simlog_jw_kuint(&w, "rejects", d->tally[i].rejects);
		simlog_jw_kuint(&w, "waiting", d->tally[i].waiting);
		simlog_jw_kuint(&w, "unmapped", d->tally[i].unmapped);
		simlog_jw_end(&w);
	}
	simlog_jw_begin(&w);
	simlog_jw_kuint(&w, "rows", d->rows);
	simlog_jw_kuint(&w, "rejects", d->rejects);
	simlog_jw_kuint(&w, "waiting", d->waiting);
	simlog_jw_kuint(&w, "resumed", d->resumed);
	print_unmapped(d, &w);
	simlog_jw_kuint(&w, "batches", d->batches);
	simlog_jw_kuint(&w, "duplicate_batches", d->dups);
	simlog_jw_kuint(&w, "duplicate_rows", d->dup_rows);
	simlog_jw_kuint(&w, "corrupt", d->corrupt);
	simlog_jw_kuint(&w, "sims", d->ntally ? count_sims(d) : 0);
	simlog_jw_kuint(&w, "retries", d->pol.retries);
	simlog_jw_kstr(&w, "db", simlog_sink_name(d->sink));
	simlog_jw_kdouble(&w, "seconds", simlog_now_mono() - d->t0, 3);
	simlog_jw_end(&w);
}

/* Fields no column took, and rows waiting for a parent row, are said
 * once a run (also with -q). */
static void
report_notes(const struct drain *d)
{
	const char *first = simlog_sink_first_wait(d->sink);
	unsigned long long now = simlog_sink_waiting(d->sink);

	for (size_t i = 0; i < d->ntally; i++) {
		char names[SIMLOG_ERRLEN / 2];
		unsigned long long n = table_unmapped(d, i);

		if (n > 0 && simlog_sink_unmapped_fields(d->sink,
		    d->tally[i].table, names, sizeof(names)) > 0)
			warnx("table %s: %llu record%s carried fields no column "
			    "takes, not stored: %s", d->tally[i].table, n,
			    n == 1 ? "" : "s", names);
	}
	if (now > 0)
		warnx("%llu row%s wait%s in simlog_waiting in %s for a parent "
		    "row not there yet, and go in when it comes%s%s", now,
		    now == 1 ? "" : "s", now == 1 ? "s" : "",
		    simlog_sink_name(d->sink), first ? "; the first: " : "",
		    first ? first : "");
}

/* Dead letters are said, not only counted (also with -q). */
static void
report_rejects(const struct drain *d)
{
	const char *first = simlog_sink_first_reject(d->sink);
	const struct tally *one = NULL;
	size_t n = 0;

	if (d->rejects == 0)
		return;
	for (size_t i = 0; i < d->ntally; i++)
		if (d->tally[i].rejects > 0) {
			n++;
			one = &d->tally[i];
		}
	if (n == 1 && strcmp(one->table, "simlog_rejects") != 0)
		warnx("%llu record%s of type %s did not fit table %s and "
		    "went to simlog_rejects in %s; the first: %s", d->rejects,
		    d->rejects == 1 ? "" : "s", one->type, one->table,
		    simlog_sink_name(d->sink), first ? first : "?");
	else
		warnx("%llu record%s went to simlog_rejects in %s; the "
		    "first: %s", d->rejects, d->rejects == 1 ? "" : "s",
		    simlog_sink_name(d->sink), first ? first : "?");
}

static void
show_progress(struct drain *d, const char *sim, int final)
{
	double now = simlog_now_mono(), el = now - d->t0, rate;
	unsigned long long done = handled(d) + d->dup_rows;
	char eta[32] = "";

	if (!d->progress || (!final && now - d->shown < 0.5))
		return;
	d->shown = now;
	rate = el > 0 ? (double)done / el : 0.0;
	if (!final && rate > 0 && d->expect > done)
		snprintf(eta, sizeof(eta), ", ETA %.0f s",
		    (double)(d->expect - done) / rate + 0.5);
	fprintf(stderr, "\rsimlog-drain: %s: %llu of %llu rows (%.0f%%), "
	    "%.0f rows/s%s   ", sim, done, d->expect, d->expect ?
	    100.0 * (double)(done > d->expect ? d->expect : done) /
	    (double)d->expect : 100.0, rate, eta);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

/* --- one transaction ---------------------------------------------------------- */

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
		l->cap = l->cap ? l->cap * 2 : 64;
		l->a = xrealloc(l->a, l->cap * sizeof(*l->a));
	}
	t = xrealloc(NULL, (ch->ntypes ? ch->ntypes : 1) * sizeof(*t));
	memcpy(t, ch->types, ch->ntypes * sizeof(*t));
	l->a[l->n].id = *id;
	l->a[l->n].types = t;
	l->a[l->n].ntypes = ch->ntypes;
	l->n++;
}

enum where { IN_DB, IN_REDIS };

/* One transaction's state: where it reads, what it has done. */
struct txn {
	const char *sim;
	struct simlog_sid *after;	/* last entry handled */
	int *started;			/* after is valid */
	const struct simlog_sid *upto;	/* the backlog's end */
	struct acklist *acks;		/* entries to delete once committed */
	enum where where;		/* where a failure came from */
	size_t records, handled;
	unsigned long long batches, dups, dup_rows;
	/* The page after the one being inserted: asked for (its reply on
	 * its way), or read already (ahead). */
	int asked;
	struct simlog_entry *ahead;
	size_t nahead;
	int have_ahead;
};

/* Read the page asked for ahead, to keep (before another command). */
static int
take_ahead(struct drain *d, struct txn *t, struct simlog_err *e)
{
	if (!t->asked)
		return 0;
	t->asked = 0;
	if (simlog_queue_read_recv(&d->conn, t->sim, &t->ahead, &t->nahead,
	    e) < 0)
		return -1;
	t->have_ahead = 1;
	return 0;
}

/* A transaction that failed forgets the page ahead: it reads again from
 * where it began.  A reply still owed is read and dropped (or, if Redis
 * fails meanwhile, the connection goes with it). */
static void
drop_ahead(struct drain *d, struct txn *t)
{
	struct simlog_err ignored;

	take_ahead(d, t, &ignored);
	if (t->have_ahead)
		simlog_entries_free(t->ahead, t->nahead);
	t->ahead = NULL;
	t->nahead = 0;
	t->have_ahead = 0;
}

/* The index of type in a simulation's sorted types, or where it goes. */
static size_t
type_at(const struct seen *s, const char *type, int *found)
{
	size_t lo = 0, hi = s->ntypes;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->types[mid], type);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Each record type makes a table: a simulation brings at most
 * SIMLOG_SIM_MAXTYPES of them into one drain.  The chunk's new types are
 * taken, or (-1) none when they would be too many.
 */
static int
admit_types(struct seen *s, const struct simlog_chunk *ch)
{
	size_t fresh = 0, i, at;
	int found;

	for (i = 0; i < ch->ntypes; i++) {
		type_at(s, ch->types[i].name, &found);
		fresh += !found;
	}
	if (fresh == 0)
		return 0;
	if (s->ntypes + fresh > SIMLOG_SIM_MAXTYPES)
		return -1;
	s->types = xrealloc(s->types, (s->ntypes + fresh) * sizeof(*s->types));
	for (i = 0; i < ch->ntypes; i++) {
		at = type_at(s, ch->types[i].name, &found);
		if (found)
			continue;
		memmove(&s->types[at + 1], &s->types[at],
		    (s->ntypes - at) * sizeof(*s->types));
		memcpy(s->types[at], ch->types[i].name, sizeof(s->types[at]));
		s->ntypes++;
	}
	return 0;
}

/* Decode an entry into d->ch, within the bounds of simlog(7); 0, or -1
 * with the reason in why. */
static int
decode_entry(struct drain *d, const struct simlog_entry *ent,
	     struct simlog_err *why)
{
	if (ent->nfields > SIMLOG_ENTRY_MAXFIELDS)
		return simlog_seterr(why, SIMLOG_EX_DATAERR, "entry has %zu "
		    "fields, more than %d", ent->nfields,
		    SIMLOG_ENTRY_MAXFIELDS);
	if (ent->data == NULL)
		return simlog_seterr(why, SIMLOG_EX_DATAERR,
		    "entry has no chunk field");
	if (simlog_chunk_decode(&d->ch, ent->data, ent->len, why) < 0)
		return -1;
	if (admit_types(d->cur, &d->ch) < 0)
		return simlog_seterr(why, SIMLOG_EX_DATAERR, "its record types "
		    "would give the simulation more than %d", SIMLOG_SIM_MAXTYPES);
	return 0;
}

/* An entry that cannot be decoded goes to the corrupt stream. */
static int
set_aside(struct drain *d, struct txn *t, const struct simlog_entry *ent,
	  const char *why, struct simlog_err *e)
{
	char id[48];
	int rc;

	simlog_sid_format(&ent->id, id);
	t->where = IN_REDIS;
	if (take_ahead(d, t, e) < 0 ||
	    (rc = simlog_queue_quarantine(&d->conn, t->sim, ent, why, e)) < 0)
		return -1;
	/* Said once it is so. */
	if (rc == 2)
		warnx("%s: simlog:{%s}:corrupt was no stream; it is now "
		    "simlog:{%s}:corrupt:displaced:%s", t->sim, t->sim, t->sim,
		    id);
	if (rc > 0)
		warnx("%s: entry %s: %s; moved to simlog:{%s}:corrupt", t->sim,
		    id, why, t->sim);
	t->where = IN_DB;
	if (rc > 0) {
		d->corrupt++;
		d->status = worse(d->status, SIMLOG_EX_DATAERR);
	}
	return 0;
}

/* The page's batch ids, told the sink at once: one lookup for the page
 * rather than one per chunk. */
static int
expect_page(struct drain *d, const struct simlog_entry *ent, size_t n,
	    struct simlog_err *e)
{
	unsigned char ids[PAGE * SIMLOG_BATCH_ID_LEN];
	size_t k = 0;

	for (size_t i = 0; i < n && k < PAGE; i++)
		if (simlog_chunk_peek_id(ent[i].data, ent[i].len,
		    ids + k * SIMLOG_BATCH_ID_LEN) == 0)
			k++;
	return simlog_sink_expect(d->sink, ids, k, e);
}

/* Insert the decoded chunk's records, unless its batch id says they are
 * in already. */
static int
insert_chunk(struct drain *d, struct txn *t, const struct simlog_entry *ent,
	     struct simlog_err *e)
{
	const char *type, *json;
	size_t tlen, jlen, pos = 0;
	int dup;

	if (simlog_sink_mark(d->sink, d->ch.id, d->ch.records, &dup, e) < 0)
		return -1;
	if (dup) {
		t->dups++;
		t->dup_rows += d->ch.records;
	} else {
		t->batches++;
		while (simlog_chunk_next(&d->ch, &pos, &type, &tlen, &json,
		    &jlen) > 0)
			if (simlog_sink_insert(d->sink, type, tlen, json, jlen,
			    e) < 0)
				return -1;
	}
	t->records += d->ch.records;
	acks_add(t->acks, &ent->id, &d->ch);
	return 0;
}

/*
 * Read and insert one page of entries; the number read, or -1.  When
 * more is set and the page is full, the next page is asked for before
 * this one is inserted: Redis sends it meanwhile, and the transaction
 * must go on to read it (t->asked).
 */
static long
drain_page(struct drain *d, struct txn *t, int more, struct simlog_err *e)
{
	struct simlog_entry *ent;
	size_t n, i;

	t->where = IN_REDIS;
	if (t->have_ahead) {
		ent = t->ahead;
		n = t->nahead;
		t->ahead = NULL;
		t->have_ahead = 0;
	} else {
		if (!t->asked && simlog_queue_read_send(&d->conn, t->sim,
		    *t->started ? t->after : NULL, t->upto, PAGE, e) < 0)
			return -1;
		t->asked = 0;
		if (simlog_queue_read_recv(&d->conn, t->sim, &ent, &n, e) < 0)
			return -1;
	}
	if (more && n == PAGE) {
		/* Not when this page fills the transaction. */
		size_t coming = t->records;

		for (i = 0; i < n; i++)
			coming += simlog_chunk_peek_records(ent[i].data,
			    ent[i].len);
		if (coming < d->batch) {
			if (simlog_queue_read_send(&d->conn, t->sim,
			    &ent[n - 1].id, t->upto, PAGE, e) < 0) {
				simlog_entries_free(ent, n);
				return -1;
			}
			t->asked = 1;
		}
	}
	t->where = IN_DB;
	if (expect_page(d, ent, n, e) < 0) {
		simlog_entries_free(ent, n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct simlog_err why;
		int rc;

		*t->after = ent[i].id;
		*t->started = 1;
		t->handled++;
		if (decode_entry(d, &ent[i], &why) < 0)
			rc = set_aside(d, t, &ent[i], why.msg, e);
		else
			rc = insert_chunk(d, t, &ent[i], e);
		if (rc < 0) {
			simlog_entries_free(ent, n);
			return -1;
		}
	}
	simlog_entries_free(ent, n);
	return (long)n;
}

/* Committed: count it, then delete the entries.  If we die before the
 * ack, the next drain finds the batch ids and only deletes the entries. */
static int
commit(struct drain *d, struct txn *t, struct simlog_err *e)
{
	const struct simlog_sink_count *c;
	size_t n;
	int reset = 0;

	/* Rows committed into a database file deleted or replaced meanwhile
	 * are in no database anyone reads: their entries stay. */
	if (simlog_sink_commit(d->sink, e) < 0 ||
	    simlog_sink_check(d->sink, e) < 0)
		return -1;
	n = simlog_sink_counts(d->sink, &c);
	for (size_t i = 0; i < n; i++)
		tally_add(d, t->sim, &c[i]);
	d->batches += t->batches;
	d->dups += t->dups;
	d->dup_rows += t->dup_rows;
	t->where = IN_REDIS;
	if (t->acks->n > 0 && (reset = simlog_queue_ack(&d->conn, t->sim,
	    t->acks->a, t->acks->n, e)) < 0)
		return -1;
	if (reset > 0)
		warnx("%s: %d backlog counter%s in simlog:{%s}:n and :b held no "
		    "number (or no hash) and %s reset", t->sim, reset,
		    reset == 1 ? "" : "s", t->sim, reset == 1 ? "was" : "were");
	return 0;
}

/*
 * One transaction: read entries after *after (up to upto) until the batch
 * is full or the commit interval has passed, insert them, commit, then
 * delete them from Redis.  Returns the number of entries handled, or -1
 * with *where saying whether Redis or the database failed.
 */
static long
drain_txn(struct drain *d, const char *sim, struct simlog_sid *after,
	  int *started, const struct simlog_sid *upto, struct acklist *acks,
	  enum where *where, struct simlog_err *e)
{
	struct txn t = { sim, after, started, upto, acks, IN_DB, 0, 0, 0, 0,
	    0, 0, NULL, 0, 0 };
	struct simlog_sid resume = *after;
	int resume_started = *started;
	double t0;
	long n;

	acks_clear(acks);
	if (simlog_sink_begin(d->sink, sim, e) < 0)
		goto fail;
	t0 = simlog_now_mono();
	for (;;) {
		int more = t.records < d->batch &&
		    simlog_now_mono() - t0 < d->commit_interval;

		/* A page asked for is read in this transaction. */
		if (!more && !t.asked && !t.have_ahead)
			break;
		if ((n = drain_page(d, &t, more, e)) < 0)
			goto rollback;
		if (n < PAGE)
			break;
		show_progress(d, sim, 0);
	}
	if (commit(d, &t, e) < 0) {
		if (t.where == IN_REDIS) {
			*where = IN_REDIS;
			return -1;	/* committed: only the ack failed */
		}
		goto rollback;
	}
	*where = t.where;
	return (long)t.handled;
rollback:
	simlog_sink_rollback(d->sink);
fail:
	*where = t.where;
	drop_ahead(d, &t);
	/* Read again from where this transaction began. */
	*after = resume;
	*started = resume_started;
	return -1;
}

/* --- Redis ------------------------------------------------------------------ */

/*
 * Records buffered for sim, by its counters: only an estimate for
 * --progress.  A counter that is no number counts as 0, and the sum is
 * never more than the stream's entries could hold (planted counters can
 * claim anything).
 */
static unsigned long long
backlog_of(struct drain *d, const char *sim)
{
	char k[SIMLOG_KEYLEN], q[SIMLOG_KEYLEN];
	const char *av[2] = { "HVALS", k }, *xl[2] = { "XLEN", q };
	redisReply *r;
	unsigned long long n = 0, most;

	simlog_key_count(sim, k);
	simlog_key_stream(sim, q);
	if ((r = simlog_cmd(&d->conn, NULL, 2, xl, NULL)) == NULL)
		return 0;
	most = r->type == REDIS_REPLY_INTEGER && r->integer > 0 ?
	    (unsigned long long)r->integer * (SIMLOG_CHUNK_MAXRAW / 3) : 0;
	freeReplyObject(r);
	if ((r = simlog_cmd(&d->conn, NULL, 2, av, NULL)) == NULL)
		return 0;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		long long v;
		const char *why;

		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    simlog_parse_ll(r->element[i]->str, 0, LLONG_MAX, &v,
		    &why) == 0 && (__builtin_add_overflow(n,
		    (unsigned long long)v, &n) || n > most))
			n = most;
	}
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
	int partial;			/* some masters did not answer */
	struct simlog_err why;		/* which */
};

static int
op_list(struct simlog_conn *conn, void *arg, struct simlog_err *e)
{
	struct list_op *o = arg;
	int rc;

	/* A cluster master that is down hides its own simulations only:
	 * the others are drained. */
	if ((rc = simlog_list_sims_reachable(conn, o->sims, o->n, e)) < 0)
		return -1;
	o->partial = rc > 0;
	if (o->partial)
		o->why = *e;
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

/* The index of sim in d->seen, or d->nseen. */
static size_t
seen_at(const struct drain *d, const char *sim)
{
	size_t j;

	for (j = 0; j < d->nseen; j++)
		if (strcmp(d->seen[j].sim, sim) == 0)
			break;
	return j;
}

/* Remember the newest entry id of sim seen so far. */
static void
saw(struct drain *d, const char *sim, const struct simlog_sid *id)
{
	size_t i = seen_at(d, sim);

	if (i == d->nseen) {
		d->seen = xrealloc(d->seen, (i + 1) * sizeof(*d->seen));
		memset(&d->seen[i], 0, sizeof(d->seen[i]));
		snprintf(d->seen[i].sim, sizeof(d->seen[i].sim), "%s", sim);
		d->nseen++;
	}
	if (simlog_sid_cmp(id, &d->seen[i].id) > 0)
		d->seen[i].id = *id;
}

/* Drain one simulation: 0, or -1 with e and *where saying what failed. */
/* In a cluster a simulation whose master does not answer is given up on
 * for this pass while the others are drained; elsewhere Redis answers for
 * every simulation or for none, and the policy alone decides. */
static int
sim_reachable(struct drain *d, const char *sim, struct simlog_err *e)
{
	char key[SIMLOG_KEYLEN];

	if (d->conn.url.topo != SIMLOG_TOPO_CLUSTER ||
	    simlog_policy_connect(&d->conn, &d->pol, e) < 0)
		return 1;
	simlog_key_stream(sim, key);
	return simlog_conn_reachable(&d->conn, key, e) == 0;
}

static int
drain_sim(struct drain *d, const char *sim, enum where *where,
	  struct simlog_err *e)
{
	struct simlog_sid upto, after = { 0, 0 };
	struct acklist acks = { NULL, 0, 0 };
	unsigned long long done0 = handled(d);
	int found, started = 0;
	long n;

	struct last_op lo = { sim, &upto, &found };

	*where = IN_REDIS;
	if (!sim_reachable(d, sim, e))
		return -1;
	if (simlog_run(&d->conn, &d->pol, 0, op_last, &lo, e) < 0)
		return -1;
	if (!found)
		return 0;
	saw(d, sim, &upto);
	d->cur = &d->seen[seen_at(d, sim)];
	if (__builtin_add_overflow(d->expect, backlog_of(d, sim), &d->expect))
		d->expect = ULLONG_MAX;
	for (int attempt = 0, dbtries = 0;;) {
		*where = IN_REDIS;
		if (simlog_policy_connect(&d->conn, &d->pol, e) < 0)
			n = -1;
		else
			n = drain_txn(d, sim, &after, &started, &upto, &acks,
			    where, e);
		show_progress(d, sim, 0);
		if (n > 0) {
			attempt = dbtries = 0;
			if (stop_requested)
				break;
			continue;
		}
		/* Its master gone: this simulation waits for the next pass,
		 * the others go on (a --follow drain retries for ever). */
		if (n < 0 && *where == IN_REDIS && !sim_reachable(d, sim, e))
			break;
		if (n == 0 || !retry_after(d, e, *where, &attempt, &dbtries))
			break;
	}
	acks_clear(&acks);
	free(acks.a);
	if (d->progress && handled(d) > done0)
		show_progress(d, sim, 1);
	return n < 0 ? -1 : 0;
}

/* --shard: only this drain's simulations stay in the list. */
static void
keep_shard(struct drain *d, char **sims, size_t *n)
{
	size_t o = 0;

	for (size_t i = 0; i < *n; i++) {
		if (simlog_shard_of(sims[i], d->shards) == d->shard)
			sims[o++] = sims[i];
		else
			free(sims[i]);
	}
	*n = o;
}

/* --- what one simulation's failure means ------------------------------------ */

/*
 * How draining one simulation ended.  One place decides whether a failure
 * is that simulation's alone, so the pass goes on to the next one (its
 * data, its keys, an error Redis gave about them; in a cluster, the
 * master that holds its slot), or everyone's, so the pass stops (the
 * database, Redis as a whole, its configuration or ACLs, a stop request),
 * and which exit status it earns.
 */
struct sim_outcome {
	int code;		/* the exit status this failure earns */
	int local;		/* this simulation's alone: go on */
};

static struct sim_outcome
judge(const struct drain *d, const struct simlog_err *e, enum where where)
{
	struct sim_outcome o = { e->code ? e->code : SIMLOG_EX_SOFTWARE, 0 };

	/* Redis failed part-way, after the retries. */
	if (o.code == SIMLOG_EX_UNAVAILABLE)
		o.code = SIMLOG_EX_TEMPFAIL;
	if (e->stopped || stop_requested || where == IN_DB)
		return o;
	switch (e->code) {
	case SIMLOG_EX_NOPERM:
		/* ACL key patterns can deny one simulation's keys alone; a
		 * command denied is denied for all. */
		o.local = strstr(e->msg, "access one of the keys") != NULL ||
		    strstr(e->msg, "can't access") != NULL;
		return o;
	case SIMLOG_EX_CONFIG:
		return o;
	case SIMLOG_EX_UNAVAILABLE:
	case SIMLOG_EX_TEMPFAIL:
		/* The connection itself: all of Redis, unless a cluster's
		 * other masters still answer (full or loading: all). */
		o.local = d->conn.url.topo == SIMLOG_TOPO_CLUSTER && !e->full;
		return o;
	default:
		o.local = 1;
		return o;
	}
}

static size_t
undrained_at(const struct drain *d, const char *sim)
{
	size_t i;

	for (i = 0; i < d->nundrained; i++)
		if (strcmp(d->undrained[i].sim, sim) == 0)
			break;
	return i;
}

/* sim failed: said once per reason (a --follow drain tries every pass). */
static void
sim_failed(struct drain *d, const char *sim, int code,
	   const struct simlog_err *e)
{
	size_t i = undrained_at(d, sim);
	struct undrained *u;

	if (i == d->nundrained) {
		d->undrained = xrealloc(d->undrained, (i + 1) *
		    sizeof(*d->undrained));
		memset(&d->undrained[i], 0, sizeof(d->undrained[i]));
		snprintf(d->undrained[i].sim, sizeof(d->undrained[i].sim), "%s",
		    sim);
		d->nundrained++;
	}
	u = &d->undrained[i];
	u->code = code;
	if (strcmp(u->why, e->msg) != 0)
		warnx("%s: %s", sim, e->msg);
	snprintf(u->why, sizeof(u->why), "%s", e->msg);
}

static void
sim_drained(struct drain *d, const char *sim)
{
	size_t i = undrained_at(d, sim);

	if (i < d->nundrained)
		d->undrained[i] = d->undrained[--d->nundrained];
}

/* At the end: name every simulation left undrained; the worst status. */
static int
name_undrained(const struct drain *d)
{
	char names[1024];
	size_t len = 0;
	int rc = 0;

	if (d->nundrained == 0)
		return 0;
	names[0] = '\0';
	for (size_t i = 0; i < d->nundrained; i++) {
		rc = worse(rc, d->undrained[i].code);
		if (len < sizeof(names))
			len += (size_t)snprintf(names + len, sizeof(names) - len,
			    "%s%s", i ? ", " : "", d->undrained[i].sim);
	}
	warnx("%zu simulation%s not drained (see above): %s%s", d->nundrained,
	    d->nundrained == 1 ? "" : "s", names,
	    len >= sizeof(names) ? "..." : "");
	return rc;
}

/*
 * One pass over the simulations (or just sim): 0, or the exit status of a
 * failure that stops every simulation.  A simulation's own failure is
 * noted (d->undrained) and the pass goes on to the next.
 */
static int
drain_pass(struct drain *d, const char *sim, char ***sims, size_t *nsims)
{
	struct simlog_err e;

	simlog_strv_free(*sims, *nsims);
	*sims = NULL;
	*nsims = 0;
	if (sim != NULL) {
		*sims = xrealloc(NULL, sizeof(**sims));
		if (((*sims)[0] = strdup(sim)) == NULL)
			errx(SIMLOG_EX_SOFTWARE, "out of memory");
		*nsims = 1;
	} else {
		struct list_op lo = { sims, nsims, 0, { 0 } };

		if (simlog_run(&d->conn, &d->pol, 0, op_list, &lo, &e) < 0) {
			if (e.stopped)
				return 0;
			warnx("%s", e.msg);
			return e.code == SIMLOG_EX_UNAVAILABLE ?
			    SIMLOG_EX_TEMPFAIL : e.code;
		}
		if (d->shards > 1)
			keep_shard(d, *sims, nsims);
		if (lo.partial && !d->said_partial)
			warnx("%s; the simulations of the others are drained",
			    lo.why.msg);
		d->said_partial = lo.partial;
		/* The pass goes on; a one-shot drain ends with 75. */
		if (lo.partial && !d->follow)
			d->status = SIMLOG_EX_TEMPFAIL;
	}
	for (size_t i = 0; i < *nsims && !stop_requested; i++) {
		struct sim_outcome o;
		enum where where;

		if (drain_sim(d, (*sims)[i], &where, &e) == 0) {
			sim_drained(d, (*sims)[i]);
			continue;
		}
		if (e.stopped)
			break;
		o = judge(d, &e, where);
		if (!o.local) {
			warnx("%s: %s", (*sims)[i], e.msg);
			return o.code;
		}
		sim_failed(d, (*sims)[i], o.code, &e);
	}
	return 0;
}

/*
 * In a cluster one XREAD may not name streams of two slots, and one
 * connection cannot block on several masters: ask each stream (one
 * pipelined round per master) every 50 ms until an entry newer than the
 * last seen arrives, or the block time passes.
 */
static void
wait_cluster(struct drain *d, char (*keys)[SIMLOG_KEYLEN], char (*ids)[48],
	     size_t n, double block)
{
	double end = simlog_now_mono() + block;

	while (!stop_requested) {
		struct simlog_err e;
		int got = 0;
		size_t i, asked, sent = 0;

		for (i = 0; i < n; i++) {
			const char *av[6] = { "XREAD", "COUNT", "1", "STREAMS",
			    keys[i], ids[i] };

			/* A master that is down waits for the next pass, which
			 * says so; the others are watched meanwhile. */
			if (simlog_conn_reachable(&d->conn, keys[i], &e) < 0)
				continue;
			if (simlog_conn_append(&d->conn, 6, av, NULL, &e) < 0)
				break;
			sent++;
		}
		asked = i;
		for (i = 0; i < sent; i++) {
			redisReply *r;

			if (simlog_conn_recv(&d->conn, 0, &r, &e) < 0)
				break;
			got |= r->type == REDIS_REPLY_ARRAY;
			freeReplyObject(r);
		}
		if (asked < n || i < sent) {
			/* Trouble shows itself at the next pass. */
			simlog_conn_close(&d->conn);
			simlog_sleep(end - simlog_now_mono(), &stop_requested);
			return;
		}
		if (got || simlog_now_mono() >= end)
			return;
		simlog_sleep(0.05, &stop_requested);
	}
}

/*
 * --follow with nothing to do: block in XREAD on the stream of every
 * simulation listed or drained before (a drained stream is deleted, so a
 * listing no longer finds it, but it is where the next records of a
 * running simulation go) until an entry newer than the last one seen
 * arrives (one that came between the pass and this wait wakes it at
 * once), or the commit interval passes (new simulations are picked up at
 * the next pass).
 */
static void
wait_for_records(struct drain *d, char **sims, size_t nsims)
{
	double block = d->commit_interval;
	const char **av;
	char (*keys)[SIMLOG_KEYLEN], (*ids)[48], ms[24];
	size_t ac = 0, i, j, n = 0, cap = nsims + d->nseen;
	redisReply *r;

	/* New simulations and signals are seen between blocks: keep them
	 * short (a signal does not interrupt a blocked read), and inside the
	 * command timeout. */
	if (block > 1)
		block = 1;
	if (block > d->conn.timeout / 2)
		block = d->conn.timeout / 2;
	if (cap == 0) {
		simlog_sleep(block, &stop_requested);
		return;
	}
	av = xrealloc(NULL, (2 * cap + 6) * sizeof(*av));
	keys = xrealloc(NULL, cap * sizeof(*keys));
	ids = xrealloc(NULL, cap * sizeof(*ids));
	for (i = 0; i < d->nseen; i++) {
		simlog_key_stream(d->seen[i].sim, keys[n]);
		simlog_sid_format(&d->seen[i].id, ids[n++]);
	}
	for (i = 0; i < nsims; i++)
		if ((j = seen_at(d, sims[i])) == d->nseen) {
			simlog_key_stream(sims[i], keys[n]);
			snprintf(ids[n++], sizeof(ids[0]), "0-0");
		}
	if (d->conn.url.topo == SIMLOG_TOPO_CLUSTER) {
		wait_cluster(d, keys, ids, n, block);
		goto out;
	}
	snprintf(ms, sizeof(ms), "%.0f", block * 1000 > 1 ? block * 1000 : 1);
	av[ac++] = "XREAD";
	av[ac++] = "COUNT";
	av[ac++] = "1";
	av[ac++] = "BLOCK";
	av[ac++] = ms;
	av[ac++] = "STREAMS";
	for (i = 0; i < n; i++)
		av[ac++] = keys[i];
	for (i = 0; i < n; i++)
		av[ac++] = ids[i];
	r = simlog_cmd(&d->conn, NULL, (int)ac, av, NULL);
	if (r == NULL) {
		/* Trouble shows itself at the next pass; don't spin on it. */
		simlog_conn_close(&d->conn);
		simlog_sleep(block, &stop_requested);
	}
	freeReplyObject(r);
out:
	free(av);
	free(keys);
	free(ids);
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

/* A Redis that may evict buffered records loses them silently. */
static void
check_policy(struct drain *d)
{
	char *policy = simlog_maxmemory_policy(&d->conn);

	if (policy != NULL && simlog_maxmemory_evicts(policy))
		warnx("%s: maxmemory-policy %s lets Redis evict buffered "
		    "records; use noeviction", d->conn.display, policy);
	free(policy);
}

/* --- the database ------------------------------------------------------------ */

/* Open the database (retrying what may pass) and apply the schema. */
static void
open_sink(struct drain *d)
{
	struct simlog_sink_opts o = { .busy_timeout = d->busy_timeout,
	    .stop = &stop_requested, .timeout = d->conn.timeout };
	struct simlog_err e;
	int n = 0;

	while ((d->sink = simlog_sink_open(d->target, &o, &e)) == NULL) {
		double delay;

		if (!simlog_err_transient(&e) || ++n > d->pol.retry.tries ||
		    stop_requested)
			cli_die(&e);
		delay = simlog_retry_delay(&d->pol.retry, n);
		warnx("%s; retry %d in %.2f s", e.msg, n, delay);
		simlog_sleep(delay, &stop_requested);
		d->pol.retries++;
	}
	if (d->schema != NULL &&
	    simlog_sink_apply_schema(d->sink, d->schema, &e) < 0)
		errx(e.code, "%s: %s: %s", simlog_sink_name(d->sink),
		    simlog_schema_path(d->schema), e.msg);
	simlog_chunk_init(&d->ch);
}

static void
prune_batches(struct drain *d)
{
	struct simlog_err e;

	if (simlog_sink_prune(d->sink, simlog_now_wall() - d->keep_days * 86400,
	    &e) < 0)
		warnx("%s", e.msg);
}

/* --- housekeeping: the corrupt stream, a discarded backlog -------------------- */

/* One set-aside entry as a JSON line; with data, its fields' values in
 * base64. */
static void
print_corrupt(const char *sim, const struct simlog_corrupt *c, int data)
{
	struct simlog_jw w;
	char entry[48];
	size_t bytes = 0;

	simlog_sid_format(&c->entry, entry);
	for (size_t j = 0; j < c->nfields; j++)
		bytes += c->fields[j].vlen;
	simlog_jw_init(&w, stdout);
	simlog_jw_begin(&w);
	simlog_jw_kstr(&w, "sim", sim);
	simlog_jw_kstr(&w, "entry", entry);
	simlog_jw_kstr(&w, "id", c->id);
	simlog_jw_kstr(&w, "why", c->why ? c->why : "");
	simlog_jw_kuint(&w, "bytes", bytes);
	if (data) {
		simlog_jw_key(&w, "fields");
		simlog_jw_obj(&w);
		for (size_t j = 0; j < c->nfields; j++) {
			const struct simlog_field *f = &c->fields[j];
			char *b = xrealloc(NULL, 4 * ((f->vlen + 2) / 3) + 1);

			simlog_base64((const unsigned char *)f->val, f->vlen, b);
			simlog_jw_keyn(&w, f->name, f->nlen);
			simlog_jw_str(&w, b);
			free(b);
		}
		simlog_jw_close(&w);
	}
	simlog_jw_end(&w);
}

/* --corrupt list|export|purge: a purge prints what it deletes, as export
 * does, so nothing is deleted unseen. */
static int
corrupt_action(struct drain *d, const char *sim, const char *action)
{
	int purge = strcmp(action, "purge") == 0;
	struct simlog_sid after;
	struct simlog_corrupt *c;
	struct simlog_err e;
	unsigned long long gone, purged = 0;
	size_t n;
	int started = 0;

	do {
		if (simlog_corrupt_read(&d->conn, sim, started ? &after : NULL,
		    100, &c, &n, &e) < 0)
			cli_die(&e);
		for (size_t i = 0; i < n; i++)
			print_corrupt(sim, &c[i], strcmp(action, "list") != 0);
		if (fflush(stdout) != 0 && errno != EPIPE)
			err(SIMLOG_EX_IOERR, "write error");
		if (purge && n > 0) {
			if (simlog_corrupt_delete(&d->conn, sim, c, n, &gone,
			    &e) < 0) {
				simlog_corrupt_free(c, n);
				cli_die(&e);
			}
			purged += gone;
		}
		if (n > 0) {
			after = c[n - 1].entry;
			started = 1;
		}
		simlog_corrupt_free(c, n);
	} while (n == 100 && !stop_requested);
	if (purged > 0)
		warnx("%s: purged %llu entries from simlog:{%s}:corrupt", sim,
		    purged, sim);
	return 0;
}

static int
discard(struct drain *d, const char *sim)
{
	struct simlog_err e;
	struct simlog_jw w;
	unsigned long long entries, records;

	if (simlog_backlog_discard(&d->conn, sim, &entries, &records, &e) < 0)
		cli_die(&e);
	simlog_jw_init(&w, stdout);
	simlog_jw_begin(&w);
	simlog_jw_kstr(&w, "sim", sim);
	simlog_jw_kuint(&w, "discarded_entries", entries);
	simlog_jw_kuint(&w, "discarded_records", records);
	simlog_jw_end(&w);
	if (records > 0 || entries > 0)
		warnx("%s: discarded %llu records in %llu entries, undrained",
		    sim, records, entries);
	return 0;
}

/* --- the command line ---------------------------------------------------------- */

struct args {
	struct simlog_conn_opts co;
	const char *sim, *schema, *corrupt;
	int quiet, force_progress, discard, sharded;
};

static void
parse_args(int argc, char **argv, struct drain *d, struct args *a)
{
	int c;

	while ((c = getopt_long(argc, argv, "u:s:d:fqhV", longopts, NULL)) != -1) {
		if (cli_conn_option(c, optarg, &a->co))
			continue;
		switch (c) {
		case 's':
			if (!simlog_valid_sim(optarg, strlen(optarg)))
				errx(SIMLOG_EX_USAGE, "invalid --sim: '%.64s%s': "
				    "use 1-64 of [A-Za-z0-9_.-]", optarg,
				    strlen(optarg) > 64 ? "..." : "");
			a->sim = optarg;
			break;
		case 'd':
			if (*optarg == '\0')
				errx(SIMLOG_EX_USAGE, "invalid --db: empty path");
			if (simlog_sink_has_password(optarg))
				warnx("a password in --db is visible to other "
				    "users (ps); use PGPASSWORD, PGPASSFILE, "
				    "PGSERVICE or SIMLOG_DB");
			d->target = optarg;
			break;
		case OPT_BATCH:
			d->batch = (size_t)cli_number("--batch", optarg, 1,
			    10000000);
			break;
		case OPT_BUSY_TIMEOUT:
			d->busy_timeout = cli_seconds("--busy-timeout", optarg,
			    86400);
			break;
		case OPT_KEEP_BATCHES:
			d->keep_days = (double)cli_number("--keep-batches",
			    optarg, 1, 36500);
			break;
		case 'q':
			a->quiet = 1;
			break;
		case OPT_PROGRESS:
			a->force_progress = 1;
			break;
		case OPT_SCHEMA:
			a->schema = optarg;
			break;
		case 'f':
			d->follow = 1;
			break;
		case OPT_COMMIT_INTERVAL:
			d->commit_interval = cli_seconds("--commit-interval",
			    optarg, 3600);
			if (d->commit_interval < 0.001)
				errx(SIMLOG_EX_USAGE, "invalid --commit-interval: "
				    "'%s': at least 0.001", optarg);
			break;
		case OPT_CORRUPT:
			if (strcmp(optarg, "list") != 0 &&
			    strcmp(optarg, "export") != 0 &&
			    strcmp(optarg, "purge") != 0)
				errx(SIMLOG_EX_USAGE, "invalid --corrupt: '%s': "
				    "use list, export or purge", optarg);
			a->corrupt = optarg;
			break;
		case OPT_DISCARD:
			a->discard = 1;
			break;
		case OPT_SHARD: {
			long long i, n;
			char *slash = strchr(optarg, '/');
			const char *why;

			if (slash == NULL)
				errx(SIMLOG_EX_USAGE, "invalid --shard: '%.40s': "
				    "use I/N, e.g. 0/2", optarg);
			*slash = '\0';
			if (simlog_parse_ll(optarg, 0, 1023, &i, &why) < 0 ||
			    simlog_parse_ll(slash + 1, 1, 1024, &n, &why) < 0 ||
			    i >= n)
				errx(SIMLOG_EX_USAGE, "invalid --shard: '%.20s/"
				    "%.20s': use I/N with 0 <= I < N <= 1024",
				    optarg, slash + 1);
			d->shard = (unsigned)i;
			d->shards = (unsigned)n;
			a->sharded = 1;
			break;
		}
		case 'h':
			usage();
			exit(cli_close_stdout() == 0 ? 0 : SIMLOG_EX_IOERR);
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
	if (a->sharded && (a->sim != NULL || a->corrupt || a->discard))
		errx(SIMLOG_EX_USAGE, "--shard takes simulations by their "
		    "names: it excludes --sim, --corrupt and --discard");
	if ((a->corrupt || a->discard) && a->sim == NULL)
		errx(SIMLOG_EX_USAGE, "--%s needs --sim", a->corrupt ?
		    "corrupt" : "discard");
	if (a->corrupt && a->discard)
		errx(SIMLOG_EX_USAGE, "--corrupt and --discard exclude each "
		    "other");
	if ((a->corrupt || a->discard) && d->follow)
		errx(SIMLOG_EX_USAGE, "--%s and --follow exclude each other",
		    a->corrupt ? "corrupt" : "discard");
	if (d->target == NULL || *d->target == '\0')
		d->target = "simlog.db";
	if (a->schema == NULL)
		a->schema = getenv("SIMLOG_SCHEMA");
	d->progress = !a->quiet && (a->force_progress || isatty(STDERR_FILENO));
}

static void
on_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Pass after pass (once without --follow); 0 or an exit status. */
static int
run(struct drain *d, const char *sim)
{
	char **sims = NULL;
	size_t nsims = 0;
	int rc;

	do {
		rc = drain_pass(d, sim, &sims, &nsims);
		if (rc != 0 || !d->follow || stop_requested)
			break;
		/* Nothing new this pass: sleep in Redis until records come. */
		if (handled(d) + d->dup_rows == d->rows_seen)
			wait_for_records(d, sims, nsims);
		d->rows_seen = handled(d) + d->dup_rows;
	} while (!stop_requested);
	simlog_strv_free(sims, nsims);
	return worse(rc, name_undrained(d));
}

static void
cleanup(struct drain *d)
{
	simlog_sink_free(d->sink);
	simlog_schema_free(d->schema);
	simlog_chunk_clear(&d->ch);
	free(d->tally);
	free(d->thash);
	for (size_t i = 0; i < d->nseen; i++)
		free(d->seen[i].types);
	free(d->seen);
	free(d->undrained);
	simlog_conn_clear(&d->conn);
	simlog_breaker_clear(&d->brk);
}

int
main(int argc, char **argv)
{
	struct args a = { .co = { .name = "simlog-drain", .timeout = 2 } };
	struct drain d = { .batch = DEFAULT_BATCH, .busy_timeout = 30,
	    .keep_days = 30, .commit_interval = 1 };
	struct simlog_err e;
	int rc;

	cli_protect_secrets();
	d.target = getenv("SIMLOG_DB");
	parse_args(argc, argv, &d, &a);
	if (!a.corrupt && !a.discard && a.schema != NULL && *a.schema != '\0' &&
	    (d.schema = simlog_schema_load(a.schema, &e)) == NULL)
		cli_die(&e);
	on_signals();
	d.t0 = simlog_now_mono();
	connect_redis(&d, &a.co);
	if (a.corrupt || a.discard) {
		rc = a.corrupt ? corrupt_action(&d, a.sim, a.corrupt) :
		    discard(&d, a.sim);
		cleanup(&d);
		return cli_close_stdout() < 0 ? SIMLOG_EX_IOERR : rc;
	}
	check_policy(&d);
	open_sink(&d);
	rc = run(&d, a.sim);
	prune_batches(&d);
	print_summary(&d);
	report_rejects(&d);
	report_notes(&d);
	cleanup(&d);
	if (cli_close_stdout() < 0 && rc == 0)
		rc = SIMLOG_EX_IOERR;
	return worse(rc, d.status);
}

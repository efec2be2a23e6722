/*
 * The drainer: records out of Redis, into a database (lib/sink/), exactly
 * once (libsimlog(3), simlog-drain(1)); the mirror of lib/writer.c.
 *
 * Each transaction drains one simulation: it reads stream entries a page
 * at a time (the next page asked for while this one is inserted), decodes
 * each entry's chunk, records its batch id and inserts its records, and
 * commits; only then are the entries deleted from Redis.  A drain stopped
 * anywhere either redoes a batch (rolled back) or finds its id already
 * present and only deletes the entry.  An entry that cannot be decoded is
 * set aside in the simulation's corrupt stream.  Failures go through the
 * policy (lib/policy.c): Redis's with its retries and breaker, the
 * database's with the same backoff and no breaker.  One place (judge)
 * decides whether a failure is one simulation's alone, so the others are
 * drained, or everyone's, so the run ends.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "chunk.h"
#include "drain.h"
#include "maxmemory.h"
#include "net/conn.h"
#include "policy.h"
#include "queue.h"
#include "schema.h"
#include "simlog.h"
#include "simlog_backlog.h"
#include "simlog_drain.h"
#include "sink/sink.h"
#include "util.h"

#define DEFAULT_BATCH 100000
#define PAGE 16			/* stream entries per XRANGE */

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

struct acklist {
	struct simlog_ack *a;
	size_t n, cap;
};

enum where { IN_DB, IN_REDIS };

/*
 * A transaction the sink commits in the background while the next one
 * fills (simlog_sink_commit_next): its entries, deleted once the commit is
 * settled; where it began, to read again from if it fails; where it ended,
 * where the next one begins.
 */
struct pending {
	int active;
	struct acklist acks;
	struct simlog_sid from, to;
	int from_started;
	unsigned long long batches, dups, dup_rows;
};

/* A pending commit is settled after this many pages of the next
 * transaction: by then the commit is about done (make bench). */
#define SETTLE_PAGES 2

struct simlog_drainer {
	struct simlog_drainer_opts o;
	char sim[72];			/* o.sim */
	const volatile sig_atomic_t *stop;	/* o.stop, else stop_own */
	volatile sig_atomic_t stop_own;	/* simlog_drainer_stop */
	struct simlog_drain_hooks hooks;

	struct simlog_conn conn;
	int have_conn;
	struct simlog_policy pol;	/* Redis failures, and the database's */
	struct simlog_breaker brk;
	struct simlog_sink *sink;
	struct simlog_schema *schema;
	struct simlog_chunk ch;
	/* A page's records the sink writes at once, held in order while
	 * the page is decoded (insert_held). */
	struct {
		char *b;
		size_t len, cap;
	} held;
	struct pending pend;

	unsigned long long rows, rejects, waiting, resumed;
	unsigned long long batches, dups, dup_rows, corrupt;
	unsigned long long expect;	/* records buffered, an estimate */
	unsigned long long rows_seen;	/* --follow: handled at the last pass */
	struct simlog_drainer_tally *tally;
	size_t ntally;
	size_t *thash, thcap;		/* (sim, type) -> tally index + 1 */
	struct seen *seen;
	size_t nseen;
	struct seen *cur;		/* the simulation being drained */
	struct undrained *undrained;	/* failed at their last try */
	size_t nundrained;
	double t0;
	int status;			/* entries set aside, masters away */
	int said_partial;		/* that masters did not answer */
	struct simlog_err why;		/* the failure that ended a pass */
};

void
simlog_drainer_opts_init(struct simlog_drainer_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->conn.timeout = 2;
	o->conn.name = "simlog-drain";
	o->batch = DEFAULT_BATCH;
	o->commit_interval = 1;
	o->busy_timeout = 30;
	o->keep_days = 30;
}

static int
stopping(const struct simlog_drainer *d)
{
	return d->stop_own || (d->o.stop != NULL && *d->o.stop);
}

/* Diagnostics go to the caller's say, if any. */
#define say(d, ...) simlog_say((d)->o.say, (d)->o.say_arg, __VA_ARGS__)

static int
oom(struct simlog_err *e)
{
	return simlog_seterr(e, SIMLOG_EX_SOFTWARE, "out of memory");
}

/* The worse of two exit statuses: a set-aside entry (65) is less than a
 * simulation left for later (75), less than Redis gone (69), less than
 * anything else. */
static int
rank(int a)
{
	return a == 0 ? 0 : a == SIMLOG_EX_DATAERR ? 1 :
	    a == SIMLOG_EX_TEMPFAIL ? 2 : a == SIMLOG_EX_UNAVAILABLE ? 3 : 4;
}

static int
worse(int a, int b)
{
	return rank(b) > rank(a) ? b : a;
}

/* --- what a run drained ----------------------------------------------------- */

static size_t
tally_slot(const struct simlog_drainer *d, const char *sim, const char *type)
{
	return (simlog_fnv1a(sim, strlen(sim)) * 1099511628211ull ^
	    simlog_fnv1a(type, strlen(type))) & (d->thcap - 1);
}

/* Index entry i of the tally by its simulation and type. */
static void
tally_index(struct simlog_drainer *d, size_t i)
{
	size_t h = tally_slot(d, d->tally[i].sim, d->tally[i].type);

	while (d->thash[h] != 0)
		h = (h + 1) & (d->thcap - 1);
	d->thash[h] = i + 1;
}

/* Grow the index to keep it at most half full. */
static int
tally_grow(struct simlog_drainer *d)
{
	size_t cap = d->thcap ? 2 * d->thcap : 64, *h;

	if ((h = calloc(cap, sizeof(*h))) == NULL)
		return -1;
	free(d->thash);
	d->thash = h;
	d->thcap = cap;
	for (size_t j = 0; j < d->ntally; j++)
		tally_index(d, j);
	return 0;
}

/* The tally's entry for sim and type, made if need be (NULL: out of
 * memory): found through an index at most half full, so that many
 * simulations and types cost no more a commit than a few. */
static struct simlog_drainer_tally *
tally_of(struct simlog_drainer *d, const char *sim,
	 const struct simlog_sink_count *c)
{
	struct simlog_drainer_tally *t;
	size_t h, i;

	if (d->thcap > 0)
		for (h = tally_slot(d, sim, c->type); d->thash[h] != 0;
		    h = (h + 1) & (d->thcap - 1)) {
			t = &d->tally[d->thash[h] - 1];
			if (strcmp(t->sim, sim) == 0 &&
			    strcmp(t->type, c->type) == 0)
				return t;
		}
	if (2 * (d->ntally + 2) > d->thcap && tally_grow(d) < 0)
		return NULL;
	if ((t = realloc(d->tally, (d->ntally + 1) * sizeof(*t))) == NULL)
		return NULL;
	d->tally = t;
	i = d->ntally++;
	memset(&t[i], 0, sizeof(t[i]));
	snprintf(t[i].sim, sizeof(t[i].sim), "%s", sim);
	snprintf(t[i].type, sizeof(t[i].type), "%s", c->type);
	snprintf(t[i].table, sizeof(t[i].table), "%s", c->table);
	tally_index(d, i);
	return &t[i];
}

static void
tally_add(struct simlog_drainer *d, const char *sim,
	  const struct simlog_sink_count *c)
{
	struct simlog_drainer_tally *t = tally_of(d, sim, c);

	if (t != NULL) {
		t->rows += c->rows;
		t->rejects += c->rejects;
		t->waiting += c->waiting;
		t->unmapped += c->unmapped;
	}
	d->rows += c->rows;
	d->rejects += c->rejects;
	d->waiting += c->waiting;
	d->resumed += c->resumed;
}

/* Records handled: stored, dead letters, or waiting for a parent. */
static unsigned long long
handled(const struct simlog_drainer *d)
{
	return d->rows + d->rejects + d->waiting;
}

static void
show_progress(struct simlog_drainer *d, const char *sim, int final)
{
	if (d->o.progress != NULL)
		d->o.progress(d->o.progress_arg, sim, handled(d) + d->dup_rows,
		    d->expect, final);
}

static int
by_sim(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* How many simulations the tally holds: n log n, not n^2. */
static unsigned long long
count_sims(const struct simlog_drainer *d)
{
	const char **v = malloc((d->ntally + 1) * sizeof(*v));
	unsigned long long n = 0;

	if (v == NULL)
		return 0;
	for (size_t i = 0; i < d->ntally; i++)
		v[i] = d->tally[i].sim;
	qsort(v, d->ntally, sizeof(*v), by_sim);
	for (size_t i = 0; i < d->ntally; i++)
		n += i == 0 || strcmp(v[i], v[i - 1]) != 0;
	free(v);
	return n;
}

/* --- one transaction ---------------------------------------------------------- */

static void
acks_clear(struct acklist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((void *)l->a[i].types);
	l->n = 0;
}

static int
acks_add(struct acklist *l, const struct simlog_sid *id,
	 const struct simlog_chunk *ch, struct simlog_err *e)
{
	struct simlog_typecount *t;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct simlog_ack *a = realloc(l->a, cap * sizeof(*a));

		if (a == NULL)
			return oom(e);
		l->a = a;
		l->cap = cap;
	}
	if ((t = malloc((ch->ntypes ? ch->ntypes : 1) * sizeof(*t))) == NULL)
		return oom(e);
	memcpy(t, ch->types, ch->ntypes * sizeof(*t));
	l->a[l->n].id = *id;
	l->a[l->n].types = t;
	l->a[l->n].ntypes = ch->ntypes;
	l->n++;
	return 0;
}

/* One transaction's state: where it reads, what it has done. */
struct txn {
	const char *sim;
	struct simlog_sid *after;	/* last entry handled */
	int *started;			/* after is valid */
	const struct simlog_sid *upto;	/* the backlog's end */
	struct acklist *acks;		/* entries to delete once committed */
	struct simlog_sid from;		/* where to read again from if it
					 * fails */
	int from_started;
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

/* A page's reply read; meanwhile the sink goes on with the rows it was
 * given. */
static int
recv_page(struct simlog_drainer *d, const char *sim, struct simlog_entry **ent,
	  size_t *n, struct simlog_err *e)
{
	int rc;

	simlog_sink_idle(d->sink, 1);
	rc = simlog_queue_read_recv(&d->conn, sim, ent, n, e);
	simlog_sink_idle(d->sink, 0);
	return rc;
}

/* Read the page asked for ahead, to keep (before another command). */
static int
take_ahead(struct simlog_drainer *d, struct txn *t, struct simlog_err *e)
{
	if (!t->asked)
		return 0;
	t->asked = 0;
	if (recv_page(d, t->sim, &t->ahead, &t->nahead, e) < 0)
		return -1;
	t->have_ahead = 1;
	return 0;
}

/* A transaction that failed forgets the page ahead: it reads again from
 * where it began.  A reply still owed is read and dropped (or, if Redis
 * fails meanwhile, the connection goes with it). */
static void
drop_ahead(struct simlog_drainer *d, struct txn *t)
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
 * taken (0), or none when they would be too many (1); -1 out of memory.
 */
static int
admit_types(struct seen *s, const struct simlog_chunk *ch)
{
	size_t fresh = 0, i, at;
	char (*types)[64];
	int found;

	for (i = 0; i < ch->ntypes; i++) {
		type_at(s, ch->types[i].name, &found);
		fresh += !found;
	}
	if (fresh == 0)
		return 0;
	if (s->ntypes + fresh > SIMLOG_SIM_MAXTYPES)
		return 1;
	if ((types = realloc(s->types, (s->ntypes + fresh) *
	    sizeof(*s->types))) == NULL)
		return -1;
	s->types = types;
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

/* Decode an entry into d->ch, within the bounds of simlog(7): 0; 1 when
 * it cannot be, with the reason in why; -1 out of memory (in e). */
static int
decode_entry(struct simlog_drainer *d, const struct simlog_entry *ent,
	     struct simlog_err *why, struct simlog_err *e)
{
	int rc;

	if (ent->nfields > SIMLOG_ENTRY_MAXFIELDS) {
		simlog_seterr(why, SIMLOG_EX_DATAERR, "entry has %zu fields, "
		    "more than %d", ent->nfields, SIMLOG_ENTRY_MAXFIELDS);
		return 1;
	}
	if (ent->data == NULL) {
		simlog_seterr(why, SIMLOG_EX_DATAERR, "entry has no chunk field");
		return 1;
	}
	if (simlog_chunk_decode(&d->ch, ent->data, ent->len, why) < 0)
		return 1;
	if ((rc = admit_types(d->cur, &d->ch)) < 0)
		return oom(e);
	if (rc > 0) {
		simlog_seterr(why, SIMLOG_EX_DATAERR, "its record types would "
		    "give the simulation more than %d", SIMLOG_SIM_MAXTYPES);
		return 1;
	}
	return 0;
}

/* An entry that cannot be decoded goes to the corrupt stream. */
static int
set_aside(struct simlog_drainer *d, struct txn *t,
	  const struct simlog_entry *ent, const char *why, struct simlog_err *e)
{
	char id[48], k[SIMLOG_KEYLEN];
	int rc;

	simlog_sid_format(&ent->id, id);
	simlog_key_corrupt(t->sim, k);
	t->where = IN_REDIS;
	if (take_ahead(d, t, e) < 0 ||
	    (rc = simlog_queue_quarantine(&d->conn, t->sim, ent, why, e)) < 0)
		return -1;
	/* Said once it is so. */
	if (rc == 2)
		say(d, "%s: %s was no stream; it is now %s:displaced:%s",
		    t->sim, k, k, id);
	if (rc > 0)
		say(d, "%s: entry %s: %s; moved to %s", t->sim, id, why, k);
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
expect_page(struct simlog_drainer *d, const struct simlog_entry *ent,
	    size_t n, struct simlog_err *e)
{
	unsigned char ids[PAGE * SIMLOG_BATCH_ID_LEN];
	size_t k = 0;

	for (size_t i = 0; i < n && k < PAGE; i++)
		if (simlog_chunk_peek_id(ent[i].data, ent[i].len,
		    ids + k * SIMLOG_BATCH_ID_LEN) == 0)
			k++;
	return simlog_sink_expect(d->sink, ids, k, e);
}

/* Which of a chunk's records go in: all of them, or (a page in two
 * passes, simlog_sink_splits) those the sink writes at once, or those it
 * queues. */
enum pass { ALL, AT_ONCE, QUEUED };

/* Held records past this many bytes go in at once (a page of large
 * chunks holds no more). */
#define HELD_MAX (4u << 20)

struct held_rec {
	uint32_t tlen, jlen;
	int checked;
};

/* Insert the held records, in the order they came. */
static int
insert_held(struct simlog_drainer *d, struct simlog_err *e)
{
	size_t at = 0;
	int rc = 0;

	while (rc == 0 && at < d->held.len) {
		struct held_rec h;
		const char *p = d->held.b + at + sizeof(h);

		memcpy(&h, d->held.b + at, sizeof(h));
		rc = simlog_sink_insert(d->sink, p, h.tlen, p + h.tlen, h.jlen,
		    h.checked, e);
		at += sizeof(h) + h.tlen + h.jlen;
	}
	d->held.len = 0;
	return rc;
}

static int
hold(struct simlog_drainer *d, const char *type, size_t tlen,
     const char *json, size_t jlen, struct simlog_err *e)
{
	struct held_rec h = { (uint32_t)tlen, (uint32_t)jlen, d->ch.checked };
	size_t need = d->held.len + sizeof(h) + tlen + jlen;

	if (need > d->held.cap) {
		size_t cap = d->held.cap ? d->held.cap : 16384;
		char *b;

		while (cap < need)
			cap *= 2;
		if ((b = realloc(d->held.b, cap)) == NULL)
			return oom(e);
		d->held.b = b;
		d->held.cap = cap;
	}
	memcpy(d->held.b + d->held.len, &h, sizeof(h));
	memcpy(d->held.b + d->held.len + sizeof(h), type, tlen);
	memcpy(d->held.b + d->held.len + sizeof(h) + tlen, json, jlen);
	d->held.len = need;
	return d->held.len > HELD_MAX ? insert_held(d, e) : 0;
}

/* Insert the decoded chunk's records of this pass (those of the AT_ONCE
 * pass are held, for insert_held); *left set when the chunk has records
 * for the QUEUED pass. */
static int
insert_records(struct simlog_drainer *d, enum pass pass, int *left,
	       struct simlog_err *e)
{
	const char *type, *json;
	size_t tlen, jlen, pos = 0;

	*left = 0;
	while (simlog_chunk_next(&d->ch, &pos, &type, &tlen, &json,
	    &jlen) > 0) {
		if (pass != ALL) {
			int q = simlog_sink_queues(d->sink, type, tlen, e);

			if (q < 0)
				return -1;
			if (q != (pass == QUEUED)) {
				*left |= q;
				continue;
			}
			if (pass == AT_ONCE) {
				if (hold(d, type, tlen, json, jlen, e) < 0)
					return -1;
				continue;
			}
		}
		if (simlog_sink_insert(d->sink, type, tlen, json, jlen,
		    d->ch.checked, e) < 0)
			return -1;
	}
	return 0;
}

/* Insert the decoded chunk's records (of its first pass), unless its
 * batch id says they are in already; *left as insert_records. */
static int
insert_chunk(struct simlog_drainer *d, struct txn *t,
	     const struct simlog_entry *ent, enum pass pass, int *left,
	     struct simlog_err *e)
{
	int dup;

	*left = 0;
	if (simlog_sink_mark(d->sink, d->ch.id, d->ch.records, &dup, e) < 0)
		return -1;
	if (dup) {
		t->dups++;
		t->dup_rows += d->ch.records;
	} else {
		t->batches++;
		if (insert_records(d, pass, left, e) < 0)
			return -1;
	}
	t->records += d->ch.records;
	return acks_add(t->acks, &ent->id, &d->ch, e);
}

/*
 * A page's queued records, after the records the sink writes at once
 * (parents, rows that records update), which were held while the page
 * was decoded: the sink's queue then waits for those once a page, not
 * once each, and goes on while the page is decoded.  The chunks are
 * decoded again, from the same bytes.
 */
static int
insert_queued(struct simlog_drainer *d, const struct simlog_entry *ent,
	      size_t n, const unsigned char *left, struct simlog_err *e)
{
	struct simlog_err why;
	int more;

	for (size_t i = 0; i < n; i++) {
		if (!left[i])
			continue;
		if (simlog_chunk_decode(&d->ch, ent[i].data, ent[i].len,
		    &why) < 0)
			return simlog_seterr(e, SIMLOG_EX_SOFTWARE, "a chunk "
			    "decoded once did not decode again: %s", why.msg);
		if (insert_records(d, QUEUED, &more, e) < 0)
			return -1;
	}
	return 0;
}

/* Ask for the page after this one, unless it would overfill the
 * transaction: Redis sends it while this one is inserted. */
static int
ask_ahead(struct simlog_drainer *d, struct txn *t,
	  const struct simlog_entry *ent, size_t n, struct simlog_err *e)
{
	size_t coming = t->records;

	for (size_t i = 0; i < n; i++)
		coming += simlog_chunk_peek_records(ent[i].data, ent[i].len);
	if (coming >= d->o.batch)
		return 0;
	if (simlog_queue_read_send(&d->conn, t->sim, &ent[n - 1].id, t->upto,
	    PAGE, e) < 0)
		return -1;
	t->asked = 1;
	return 0;
}

/*
 * Read and insert one page of entries; the number read, or -1.  When
 * more is set and the page is full, the next page is asked for before
 * this one is inserted: Redis sends it meanwhile, and the transaction
 * must go on to read it (t->asked).
 */
static long
drain_page(struct simlog_drainer *d, struct txn *t, int more,
	   struct simlog_err *e)
{
	struct simlog_entry *ent;
	unsigned char left[PAGE];
	size_t n, i;
	int split;

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
		if (recv_page(d, t->sim, &ent, &n, e) < 0)
			return -1;
	}
	if (more && n == PAGE && ask_ahead(d, t, ent, n, e) < 0) {
		simlog_entries_free(ent, n);
		return -1;
	}
	t->where = IN_DB;
	if (expect_page(d, ent, n, e) < 0) {
		simlog_entries_free(ent, n);
		return -1;
	}
	split = n <= PAGE && simlog_sink_splits(d->sink);
	d->held.len = 0;	/* what a failed page held */
	for (i = 0; i < n; i++) {
		struct simlog_err why;
		int rc, rest = 0;

		*t->after = ent[i].id;
		*t->started = 1;
		t->handled++;
		if ((rc = decode_entry(d, &ent[i], &why, e)) > 0)
			rc = set_aside(d, t, &ent[i], why.msg, e);
		else if (rc == 0)
			rc = insert_chunk(d, t, &ent[i], split ? AT_ONCE : ALL,
			    &rest, e);
		if (rc < 0) {
			simlog_entries_free(ent, n);
			return -1;
		}
		if (split)
			left[i] = (unsigned char)rest;
	}
	if (split && (insert_held(d, e) < 0 ||
	    insert_queued(d, ent, n, left, e) < 0)) {
		simlog_entries_free(ent, n);
		return -1;
	}
	simlog_entries_free(ent, n);
	return (long)n;
}

/* A commit done: count it, check the database is still the one, then
 * delete the entries.  If we die before the ack, the next drain finds the
 * batch ids and only deletes the entries. */
static int
committed(struct simlog_drainer *d, struct txn *t, const struct acklist *acks,
	  const struct pending *p, struct simlog_err *e)
{
	const struct simlog_sink_count *c;
	char k[SIMLOG_KEYLEN];
	size_t n;
	int reset = 0;

	/* Rows committed into a database file deleted or replaced meanwhile
	 * are in no database anyone reads: their entries stay. */
	if (simlog_sink_check(d->sink, e) < 0)
		return -1;
	n = simlog_sink_counts(d->sink, &c);
	for (size_t i = 0; i < n; i++)
		tally_add(d, t->sim, &c[i]);
	d->batches += p->batches;
	d->dups += p->dups;
	d->dup_rows += p->dup_rows;
	t->where = IN_REDIS;
	if (acks->n == 0)
		return 0;
	if (d->hooks.committed != NULL &&
	    d->hooks.committed(d->hooks.arg, t->sim, e) < 0)
		return -1;
	/* The next transaction's rows go in while Redis deletes. */
	simlog_sink_idle(d->sink, 1);
	reset = simlog_queue_ack(&d->conn, t->sim, acks->a, acks->n, e);
	simlog_sink_idle(d->sink, 0);
	if (reset < 0)
		return -1;
	simlog_key_count(t->sim, k);
	if (reset > 0)
		say(d, "%s: %d backlog counter%s in %s and :b held no number "
		    "(or no hash) and %s reset", t->sim, reset,
		    reset == 1 ? "" : "s", k, reset == 1 ? "was" : "were");
	return 0;
}

/* What a transaction did, as a pending commit keeps it. */
static struct pending
done_of(const struct txn *t)
{
	struct pending p = { 0, { NULL, 0, 0 }, { 0, 0 }, { 0, 0 }, 0,
	    t->batches, t->dups, t->dup_rows };

	return p;
}

/* Commit, then count and delete the entries. */
static int
commit(struct simlog_drainer *d, struct txn *t, struct simlog_err *e)
{
	struct pending p = done_of(t);

	if (simlog_sink_commit(d->sink, e) < 0)
		return -1;
	return committed(d, t, t->acks, &p, e);
}

/* Commit in the background and go on with the next transaction at once:
 * its entries are deleted when settle finds the commit done. */
static int
commit_next(struct simlog_drainer *d, struct txn *t, struct simlog_err *e)
{
	struct pending *p = &d->pend;
	struct acklist keep = p->acks;

	if (simlog_sink_commit_next(d->sink, e) < 0)
		return -1;
	*p = done_of(t);
	p->active = 1;
	p->acks = *t->acks;
	*t->acks = keep;
	p->from = t->from;
	p->from_started = t->from_started;
	p->to = *t->after;
	return 0;
}

/* The pending commit settled and its entries deleted, if there is one;
 * the transaction that goes on then reads again, if it fails, from where
 * the settled one ended. */
static int
settle(struct simlog_drainer *d, struct txn *t, struct simlog_err *e)
{
	struct pending *p = &d->pend;

	if (!p->active)
		return 0;
	t->where = IN_REDIS;
	if (take_ahead(d, t, e) < 0)
		return -1;
	t->where = IN_DB;
	p->active = 0;
	if (simlog_sink_settle(d->sink, e) < 0 || committed(d, t, &p->acks,
	    p, e) < 0)
		return -1;
	acks_clear(&p->acks);
	t->from = p->to;
	t->from_started = 1;
	t->where = IN_DB;
	return 0;
}

/* A pending commit met by a failure: settled (and counted, as a commit
 * whose entries could not be deleted), its entries left to the next
 * read, which finds their batch ids in. */
static void
settle_quietly(struct simlog_drainer *d, const char *sim)
{
	struct pending *p = &d->pend;
	struct simlog_err ignored;
	const struct simlog_sink_count *c;
	size_t n;

	if (!p->active)
		return;
	p->active = 0;
	if (simlog_sink_settle(d->sink, &ignored) == 0) {
		n = simlog_sink_counts(d->sink, &c);
		for (size_t i = 0; i < n; i++)
			tally_add(d, sim, &c[i]);
		d->batches += p->batches;
		d->dups += p->dups;
		d->dup_rows += p->dup_rows;
	}
	acks_clear(&p->acks);
}

/*
 * One transaction: read entries after *after (up to upto) until the batch
 * is full or the commit interval has passed, insert them, commit, then
 * delete them from Redis.  Returns the number of entries handled, or -1
 * with *where saying whether Redis or the database failed.
 */
static long
drain_txn(struct simlog_drainer *d, const char *sim, struct simlog_sid *after,
	  int *started, const struct simlog_sid *upto, struct acklist *acks,
	  enum where *where, struct simlog_err *e)
{
	struct txn t = { sim, after, started, upto, acks, *after, *started,
	    IN_DB, 0, 0, 0, 0, 0, 0, NULL, 0, 0 };
	double t0;
	long n = 0;
	int pages = 0;

	acks_clear(acks);
	if (d->pend.active) {
		/* Begun already, after the commit still going on. */
		t.from = d->pend.from;
		t.from_started = d->pend.from_started;
	} else if (simlog_sink_begin(d->sink, sim, e) < 0)
		goto fail;
	t0 = simlog_now_mono();
	for (;;) {
		int more = t.records < d->o.batch &&
		    simlog_now_mono() - t0 < d->o.commit_interval;

		/* A page asked for is read in this transaction. */
		if (!more && !t.asked && !t.have_ahead)
			break;
		if ((n = drain_page(d, &t, more, e)) < 0)
			goto rollback;
		if (++pages >= SETTLE_PAGES && settle(d, &t, e) < 0)
			goto rollback;
		if (n < PAGE)
			break;
		show_progress(d, sim, 0);
	}
	if (settle(d, &t, e) < 0)
		goto rollback;
	/* A full transaction that ended on a full page: the next one is
	 * likely to follow, and begins while this one commits. */
	if (n == PAGE && !stopping(d) && simlog_sink_overlaps(d->sink)) {
		if (commit_next(d, &t, e) < 0)
			goto rollback;
	} else if (commit(d, &t, e) < 0) {
		if (t.where == IN_REDIS)
			goto fail;	/* committed: only the ack failed */
		goto rollback;
	}
	*where = t.where;
	return (long)t.handled;
rollback:
	settle_quietly(d, sim);
	simlog_sink_rollback(d->sink);
fail:
	*where = t.where;
	drop_ahead(d, &t);
	/* Read again from where this transaction began (entries committed
	 * but not deleted are found in already, and deleted). */
	*after = t.from;
	*started = t.from_started;
	return -1;
}

/* The commit still pending when a simulation's drain ends: settled, its
 * entries deleted, and the transaction begun after it (empty) let go. */
static int
end_pending(struct simlog_drainer *d, const char *sim, enum where *where,
	    struct simlog_err *e)
{
	struct acklist none = { NULL, 0, 0 };
	struct simlog_sid after = d->pend.to;
	int started = 1;
	struct txn t = { sim, &after, &started, NULL, &none, after, 1,
	    IN_DB, 0, 0, 0, 0, 0, 0, NULL, 0, 0 };
	int rc;

	if (!d->pend.active)
		return 0;
	rc = settle(d, &t, e);
	settle_quietly(d, sim);
	simlog_sink_rollback(d->sink);
	*where = t.where;
	return rc;
}

/* --- one simulation ------------------------------------------------------------ */

/* After a failed transaction: wait and go on (1), or give up (0), as the
 * policy says for Redis or for the database. */
static int
retry_after(struct simlog_drainer *d, struct simlog_err *e, enum where where,
	    int *attempt, int *dbtries)
{
	if (where == IN_REDIS)
		return simlog_policy_failed(&d->conn, &d->pol, attempt, e);
	return simlog_policy_retry(&d->pol, dbtries, e);
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

/* The index of sim in d->seen, or d->nseen. */
static size_t
seen_at(const struct simlog_drainer *d, const char *sim)
{
	size_t j;

	for (j = 0; j < d->nseen; j++)
		if (strcmp(d->seen[j].sim, sim) == 0)
			break;
	return j;
}

/* Remember the newest entry id of sim seen so far; its record. */
static struct seen *
saw(struct simlog_drainer *d, const char *sim, const struct simlog_sid *id)
{
	size_t i = seen_at(d, sim);

	if (i == d->nseen) {
		struct seen *s = realloc(d->seen, (i + 1) * sizeof(*s));

		if (s == NULL)
			return NULL;
		d->seen = s;
		memset(&s[i], 0, sizeof(s[i]));
		snprintf(s[i].sim, sizeof(s[i].sim), "%s", sim);
		d->nseen++;
	}
	if (simlog_sid_cmp(id, &d->seen[i].id) > 0)
		d->seen[i].id = *id;
	return &d->seen[i];
}

/* In a cluster a simulation whose master does not answer is given up on
 * for this pass while the others are drained; elsewhere Redis answers for
 * every simulation or for none, and the policy alone decides. */
static int
sim_reachable(struct simlog_drainer *d, const char *sim, struct simlog_err *e)
{
	char key[SIMLOG_KEYLEN];

	if (d->conn.url.topo != SIMLOG_TOPO_CLUSTER ||
	    simlog_policy_connect(&d->conn, &d->pol, e) < 0)
		return 1;
	simlog_key_stream(sim, key);
	return simlog_conn_reachable(&d->conn, key, e) == 0;
}

/* Estimate the backlog, for progress. */
static void
expect_more(struct simlog_drainer *d, const char *sim)
{
	if (__builtin_add_overflow(d->expect, simlog_queue_backlog(&d->conn,
	    sim), &d->expect))
		d->expect = ULLONG_MAX;
}

/* Drain one simulation: 0, or -1 with e and *where saying what failed. */
static int
drain_sim(struct simlog_drainer *d, const char *sim, enum where *where,
	  struct simlog_err *e)
{
	struct simlog_sid upto, after = { 0, 0 };
	struct acklist acks = { NULL, 0, 0 };
	unsigned long long done0 = handled(d);
	struct simlog_err ignored;
	int found, started = 0;
	long n;
	struct last_op lo = { sim, &upto, &found };

	*where = IN_REDIS;
	if (!sim_reachable(d, sim, e))
		return -1;
	if (simlog_policy_run(&d->conn, &d->pol, 0, op_last, &lo, e) < 0)
		return -1;
	if (!found)
		return 0;
	if ((d->cur = saw(d, sim, &upto)) == NULL) {
		*where = IN_DB;
		return oom(e);
	}
	expect_more(d, sim);
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
			if (stopping(d))
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
	if (end_pending(d, sim, where, n < 0 ? &ignored : e) < 0 && n >= 0)
		n = -1;
	acks_clear(&acks);
	free(acks.a);
	if (handled(d) > done0)
		show_progress(d, sim, 1);
	return n < 0 ? -1 : 0;
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
judge(const struct simlog_drainer *d, const struct simlog_err *e,
      enum where where)
{
	struct sim_outcome o = { e->code ? e->code : SIMLOG_EX_SOFTWARE, 0 };

	/* Redis failed part-way, after the retries. */
	if (o.code == SIMLOG_EX_UNAVAILABLE)
		o.code = SIMLOG_EX_TEMPFAIL;
	if (e->stopped || stopping(d) || where == IN_DB)
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
undrained_at(const struct simlog_drainer *d, const char *sim)
{
	size_t i;

	for (i = 0; i < d->nundrained; i++)
		if (strcmp(d->undrained[i].sim, sim) == 0)
			break;
	return i;
}

/* sim failed: said once per reason (a --follow drain tries every pass). */
static void
sim_failed(struct simlog_drainer *d, const char *sim, int code,
	   const struct simlog_err *e)
{
	size_t i = undrained_at(d, sim);
	struct undrained *u;

	if (i == d->nundrained) {
		if ((u = realloc(d->undrained, (i + 1) * sizeof(*u))) == NULL) {
			say(d, "%s: %s", sim, e->msg);
			d->status = worse(d->status, code);
			return;
		}
		d->undrained = u;
		memset(&u[i], 0, sizeof(u[i]));
		snprintf(u[i].sim, sizeof(u[i].sim), "%s", sim);
		d->nundrained++;
	}
	u = &d->undrained[i];
	u->code = code;
	if (strcmp(u->why, e->msg) != 0)
		say(d, "%s: %s", sim, e->msg);
	snprintf(u->why, sizeof(u->why), "%s", e->msg);
}

static void
sim_drained(struct simlog_drainer *d, const char *sim)
{
	size_t i = undrained_at(d, sim);

	if (i < d->nundrained)
		d->undrained[i] = d->undrained[--d->nundrained];
}

/* At the end: name every simulation left undrained; the worst status. */
static int
name_undrained(struct simlog_drainer *d)
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
	say(d, "%zu simulation%s not drained (see above): %s%s", d->nundrained,
	    d->nundrained == 1 ? "" : "s", names,
	    len >= sizeof(names) ? "..." : "");
	if (d->why.code == 0)
		simlog_seterr(&d->why, rc, "%zu simulation%s not drained: %s%s",
		    d->nundrained, d->nundrained == 1 ? "" : "s", names,
		    len >= sizeof(names) ? "..." : "");
	return rc;
}

/* --- a pass over the simulations ------------------------------------------------ */

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

/* --shard: only this drain's simulations stay in the list. */
static void
keep_shard(struct simlog_drainer *d, char **sims, size_t *n)
{
	size_t o = 0;

	for (size_t i = 0; i < *n; i++) {
		if (simlog_shard_of(sims[i], d->o.shards) == d->o.shard)
			sims[o++] = sims[i];
		else
			free(sims[i]);
	}
	*n = o;
}

/* The simulations of this pass: sim alone, or those Redis lists (of this
 * shard); 0, 1 stopped, or an exit status. */
static int
list_sims(struct simlog_drainer *d, char ***sims, size_t *nsims)
{
	struct list_op lo = { sims, nsims, 0, { 0 } };
	struct simlog_err e;

	if (d->sim[0] != '\0') {
		if ((*sims = malloc(sizeof(**sims))) == NULL ||
		    ((*sims)[0] = strdup(d->sim)) == NULL) {
			free(*sims);
			*sims = NULL;
			oom(&d->why);
			say(d, "%s", d->why.msg);
			return d->why.code;
		}
		*nsims = 1;
		return 0;
	}
	if (simlog_policy_run(&d->conn, &d->pol, 0, op_list, &lo, &e) < 0) {
		if (e.stopped)
			return 1;
		say(d, "%s", e.msg);
		d->why = e;
		d->why.code = e.code == SIMLOG_EX_UNAVAILABLE ?
		    SIMLOG_EX_TEMPFAIL : e.code;
		return d->why.code;
	}
	if (d->o.shards > 1)
		keep_shard(d, *sims, nsims);
	if (lo.partial && !d->said_partial)
		say(d, "%s; the simulations of the others are drained",
		    lo.why.msg);
	d->said_partial = lo.partial;
	/* The pass goes on; a one-shot drain ends with 75. */
	if (lo.partial && !d->o.follow)
		d->status = SIMLOG_EX_TEMPFAIL;
	return 0;
}

/*
 * One pass over the simulations (or just sim): 0, or the exit status of a
 * failure that stops every simulation.  A simulation's own failure is
 * noted (d->undrained) and the pass goes on to the next.
 */
static int
drain_pass(struct simlog_drainer *d, char ***sims, size_t *nsims)
{
	struct simlog_err e;
	int rc;

	simlog_strv_free(*sims, *nsims);
	*sims = NULL;
	*nsims = 0;
	if ((rc = list_sims(d, sims, nsims)) != 0)
		return rc == 1 ? 0 : rc;
	for (size_t i = 0; i < *nsims && !stopping(d); i++) {
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
			say(d, "%s: %s", (*sims)[i], e.msg);
			simlog_seterr(&d->why, o.code, "%s: %s", (*sims)[i],
			    e.msg);
			return o.code;
		}
		sim_failed(d, (*sims)[i], o.code, &e);
	}
	return 0;
}

/*
 * --follow with nothing to do: wait in Redis on the stream of every
 * simulation listed or drained before (a drained stream is deleted, so a
 * listing no longer finds it, but it is where the next records of a
 * running simulation go) until an entry newer than the last one seen
 * arrives (one that came between the pass and this wait wakes it at
 * once), or the commit interval passes (new simulations are picked up at
 * the next pass).
 */
static void
wait_for_records(struct simlog_drainer *d, char **sims, size_t nsims)
{
	double block = d->o.commit_interval;
	size_t i, n = 0, cap = nsims + d->nseen;
	char **names = malloc((cap + 1) * sizeof(*names));
	struct simlog_sid *after = malloc((cap + 1) * sizeof(*after));

	/* New simulations and signals are seen between blocks: keep them
	 * short (a signal does not interrupt a blocked read), and inside the
	 * command timeout. */
	if (block > 1)
		block = 1;
	if (block > d->conn.timeout / 2)
		block = d->conn.timeout / 2;
	if (names != NULL && after != NULL) {
		for (i = 0; i < d->nseen; i++) {
			names[n] = d->seen[i].sim;
			after[n++] = d->seen[i].id;
		}
		for (i = 0; i < nsims; i++)
			if (seen_at(d, sims[i]) == d->nseen) {
				names[n] = sims[i];
				after[n].ms = after[n].seq = 0;
				n++;
			}
	}
	simlog_queue_wait(&d->conn, names, after, n, block, d->stop);
	free(names);
	free(after);
}

int
simlog_drainer_run(struct simlog_drainer *d, struct simlog_err *why)
{
	char **sims = NULL;
	size_t nsims = 0;
	struct simlog_err e;
	int rc = 0;

	memset(&d->why, 0, sizeof(d->why));
	if (d->sink == NULL) {
		simlog_seterr(&d->why, SIMLOG_EX_USAGE, "a drainer opened for "
		    "Redis only does not drain");
		rc = SIMLOG_EX_USAGE;
		goto out;
	}
	do {
		rc = drain_pass(d, &sims, &nsims);
		if (rc != 0 || !d->o.follow || stopping(d))
			break;
		/* Nothing new this pass: sleep in Redis until records come. */
		if (handled(d) + d->dup_rows == d->rows_seen)
			wait_for_records(d, sims, nsims);
		d->rows_seen = handled(d) + d->dup_rows;
	} while (!stopping(d));
	simlog_strv_free(sims, nsims);
	rc = worse(rc, name_undrained(d));
	if (simlog_sink_prune(d->sink, simlog_now_wall() - d->o.keep_days *
	    86400, &e) < 0)
		say(d, "%s", e.msg);
	rc = worse(rc, d->status);
out:
	if (why != NULL)
		*why = d->why;
	return rc;
}

/* --- opening and closing --------------------------------------------------------- */

static int
op_none(struct simlog_conn *conn, void *arg, struct simlog_err *e)
{
	(void)conn;
	(void)arg;
	(void)e;
	return 0;
}

/*
 * Connect under the policy: a one-shot drain fails fast on an open breaker
 * and gives up after its retries (69, or 75 for the breaker); --follow
 * waits for Redis for as long as it runs.  A stop meanwhile is no failure.
 */
static int
connect_redis(struct simlog_drainer *d, struct simlog_err *e)
{
	struct simlog_conn_opts co = d->o.conn;
	char endpoint[700];

	/* No stop flag on the connection: a signal lets the transaction in
	 * progress finish (every wait is bounded by the timeout anyway). */
	co.stop = NULL;
	if (simlog_policy_init(&d->pol, e) < 0 ||
	    simlog_conn_init(&d->conn, &co, e) < 0)
		return -1;
	d->have_conn = 1;
	simlog_conn_endpoint(&d->conn, 0, endpoint, sizeof(endpoint));
	if (simlog_breaker_init(&d->brk, endpoint, 0, 0, e) < 0)
		say(d, "%s; going on without a circuit breaker", e->msg);
	else
		d->pol.brk = &d->brk;
	d->pol.forever = d->o.follow;
	d->pol.stop = d->stop;
	d->pol.say = d->o.say;
	d->pol.say_arg = d->o.say_arg;
	if (simlog_policy_run(&d->conn, &d->pol, 0, op_none, NULL, e) < 0 &&
	    !e->stopped)
		return -1;
	return 0;
}

/* A Redis that may evict buffered records loses them silently. */
static void
check_eviction(struct simlog_drainer *d)
{
	char *policy = simlog_maxmemory_policy(&d->conn);

	if (policy != NULL && simlog_maxmemory_evicts(policy))
		say(d, "%s: maxmemory-policy %s lets Redis evict buffered "
		    "records; use noeviction", d->conn.display, policy);
	free(policy);
}

/* Open the database, retrying what may pass as the policy says. */
static int
open_sink(struct simlog_drainer *d, const char *target, struct simlog_err *e)
{
	struct simlog_sink_opts so = { .busy_timeout = d->o.busy_timeout,
	    .stop = d->stop, .timeout = d->conn.timeout,
	    .typed = d->schema != NULL };
	int n = 0;

	if (target == NULL)
		target = getenv("SIMLOG_DB");
	if (target == NULL || *target == '\0')
		target = "simlog.db";
	/* A stop during a wait leaves one more try. */
	while ((d->sink = simlog_sink_open(target, &so, e)) == NULL)
		if (stopping(d) || (!simlog_policy_retry(&d->pol, &n, e) &&
		    !stopping(d)))
			return -1;
	return 0;
}

/* Make or check the schema's tables, retrying what may pass (a server
 * restarting, a lock held too long) as the policy says. */
static int
apply_schema(struct simlog_drainer *d, struct simlog_err *e)
{
	char msg[SIMLOG_ERRLEN];
	int n = 0;

	while (simlog_sink_apply_schema(d->sink, d->schema, e) < 0) {
		struct simlog_err was = *e;
		const char *name = simlog_sink_name(d->sink);
		size_t nl = strlen(name);

		/* The database, then the schema file, in the retry's message
		 * as in the last. */
		snprintf(msg, sizeof(msg), "%s", strncmp(e->msg, name, nl) == 0 &&
		    strncmp(e->msg + nl, ": ", 2) == 0 ? e->msg + nl + 2 : e->msg);
		simlog_seterr(e, e->code, "%s: %s: %s", name,
		    simlog_schema_path(d->schema), msg);
		e->stopped = was.stopped;
		e->full = was.full;
		if (stopping(d) || (!simlog_policy_retry(&d->pol, &n, e) &&
		    !stopping(d)))
			return -1;
	}
	return 0;
}

static struct simlog_drainer *
drainer_open(const struct simlog_drainer_opts *o, struct simlog_sink *sink,
	     const struct simlog_drain_hooks *hooks, struct simlog_err *e)
{
	struct simlog_drainer *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		simlog_sink_free(sink);
		oom(e);
		return NULL;
	}
	d->o = *o;
	d->o.db = d->o.schema = d->o.sim = NULL;	/* the caller's */
	d->brk.fd = -1;
	d->stop = o->stop != NULL ? o->stop : &d->stop_own;
	d->sink = sink;
	if (hooks != NULL)
		d->hooks = *hooks;
	if (d->o.batch == 0)
		d->o.batch = DEFAULT_BATCH;
	simlog_chunk_init(&d->ch);
	if (o->sim != NULL)
		snprintf(d->sim, sizeof(d->sim), "%s", o->sim);
	if (!o->redis_only && o->schema != NULL && *o->schema != '\0' &&
	    (d->schema = simlog_schema_load(o->schema, e)) == NULL)
		goto fail;
	d->t0 = simlog_now_mono();
	if (connect_redis(d, e) < 0)
		goto fail;
	if (o->redis_only)
		return d;
	check_eviction(d);
	if (d->sink == NULL && open_sink(d, o->db, e) < 0)
		goto fail;
	if (d->schema != NULL && apply_schema(d, e) < 0)
		goto fail;
	return d;
fail:
	simlog_drainer_close(d);
	return NULL;
}

struct simlog_drainer *
simlog_drainer_open(const struct simlog_drainer_opts *o,
		    struct simlog_err *err)
{
	return drainer_open(o, NULL, NULL, err);
}

struct simlog_drainer *
simlog_drainer_open_on(const struct simlog_drainer_opts *o,
		       struct simlog_sink *sink,
		       const struct simlog_drain_hooks *hooks,
		       struct simlog_err *err)
{
	return drainer_open(o, sink, hooks, err);
}

void
simlog_drainer_stop(struct simlog_drainer *d)
{
	d->stop_own = 1;
}

void
simlog_drainer_stats(struct simlog_drainer *d, struct simlog_drainer_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->rows = d->rows;
	st->rejects = d->rejects;
	st->waiting = d->waiting;
	st->resumed = d->resumed;
	st->batches = d->batches;
	st->duplicate_batches = d->dups;
	st->duplicate_rows = d->dup_rows;
	st->corrupt = d->corrupt;
	st->sims = d->ntally ? count_sims(d) : 0;
	st->retries = d->pol.retries;
	st->seconds = simlog_now_mono() - d->t0;
	if (d->sink != NULL) {
		st->db = simlog_sink_name(d->sink);
		st->first_reject = simlog_sink_first_reject(d->sink);
		st->first_wait = simlog_sink_first_wait(d->sink);
		st->waiting_now = simlog_sink_waiting(d->sink);
	}
}

size_t
simlog_drainer_tallies(const struct simlog_drainer *d,
		       const struct simlog_drainer_tally **t)
{
	*t = d->tally;
	return d->ntally;
}

size_t
simlog_drainer_unmapped(const struct simlog_drainer *d, const char *table,
			char *buf, size_t len)
{
	if (d->sink == NULL) {
		if (len > 0)
			buf[0] = '\0';
		return 0;
	}
	return simlog_sink_unmapped_fields(d->sink, table, buf, len);
}

struct simlog_conn *
simlog_drainer_conn(struct simlog_drainer *d)
{
	return &d->conn;
}

void
simlog_drainer_close(struct simlog_drainer *d)
{
	if (d == NULL)
		return;
	simlog_sink_free(d->sink);
	simlog_schema_free(d->schema);
	simlog_chunk_clear(&d->ch);
	free(d->held.b);
	free(d->tally);
	free(d->thash);
	for (size_t i = 0; i < d->nseen; i++)
		free(d->seen[i].types);
	free(d->seen);
	free(d->undrained);
	acks_clear(&d->pend.acks);
	free(d->pend.acks.a);
	if (d->have_conn)
		simlog_conn_clear(&d->conn);
	simlog_breaker_clear(&d->brk);
	free(d);
}

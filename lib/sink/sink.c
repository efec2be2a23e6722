/*
 * The sink front: picks the database from the target, routes each record
 * type to its table (schema, default mapping or dead letters), and counts
 * what each transaction stored.  The SQL is the implementations'.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chunk.h"
#include "json.h"
#include "schema.h"
#include "sink/sink.h"
#include "sink/sink_int.h"
#include "util.h"

int
simlog_sink_is_url(const char *target)
{
	return strncmp(target, "postgresql://", 13) == 0 ||
	    strncmp(target, "postgres://", 11) == 0;
}

/* The user information of a URL: what lies before the last '@' of the
 * authority (between "://" and the first '/', '?' or '#'). */
static const char *
userinfo(const char *target, size_t *len)
{
	const char *p = strstr(target, "://"), *end, *at = NULL;

	if (p == NULL)
		return NULL;
	p += 3;
	end = p + strcspn(p, "/?#");
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (at == NULL)
		return NULL;
	*len = (size_t)(at - p);
	return p;
}

int
simlog_sink_has_password(const char *target)
{
	const char *u, *c, *q;
	size_t n;

	if (!simlog_sink_is_url(target))
		return 0;
	if ((u = userinfo(target, &n)) != NULL &&
	    (c = memchr(u, ':', n)) != NULL && c + 1 < u + n)
		return 1;
	return (q = strchr(target, '?')) != NULL &&
	    (strncmp(q + 1, "password=", 9) == 0 ||
	    strstr(q, "&password=") != NULL);
}

void
simlog_sink_redact(const char *target, char *buf, size_t len)
{
	const char *u, *c;
	size_t n, o = 0;

	snprintf(buf, len, "%s", target);
	if (!simlog_sink_is_url(target))
		return;
	if ((u = userinfo(target, &n)) != NULL &&
	    (c = memchr(u, ':', n)) != NULL && c + 1 < u + n)
		o = (size_t)snprintf(buf, len, "%.*s:***%s",
		    (int)(c - target), target, u + n);
	/* A password=... parameter too. */
	for (char *p = buf; o < len && (p = strstr(p, "password=")) != NULL;) {
		if (p == buf || (p[-1] != '?' && p[-1] != '&')) {
			p++;
			continue;
		}
		p += 9;
		size_t v = strcspn(p, "&#");

		if (strlen(buf) + 3 - v >= len)
			break;
		memmove(p + 3, p + v, strlen(p + v) + 1);
		memcpy(p, "***", 3);
		p += 3;
	}
}

struct simlog_sink *
simlog_sink_open(const char *target, const struct simlog_sink_opts *o,
		 struct simlog_err *err)
{
	struct simlog_sink *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->vals = calloc(SIMLOG_SCHEMA_MAXCOLS,
	    sizeof(*s->vals))) == NULL) {
		free(s);
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	s->ops = simlog_sink_is_url(target) ? &simlog_sink_pg :
	    &simlog_sink_sqlite;
	s->busy_timeout = o->busy_timeout;
	s->typed = o->typed;
	s->timeout = o->timeout > 0 ? o->timeout : 2.0;
	s->stop = o->stop;
	simlog_sink_redact(target, s->name, sizeof(s->name));
	if (s->ops->open(s, target, err) < 0) {
		free(s->vals);
		free(s);
		return NULL;
	}
	return s;
}

/* --- batch ids of the open transaction ------------------------------------- */

#define IDLEN SIMLOG_BATCH_ID_LEN

static size_t
id_slot(const struct simlog_idset *set, const unsigned char *id)
{
	uint64_t h;
	size_t i;

	/* 8 random bytes of the producer, then its sequence: mixed. */
	memcpy(&h, id + 8, sizeof(h));
	h ^= (uint64_t)simlog_fnv1a((const char *)id, 8);
	h *= 0x9e3779b97f4a7c15u;
	for (i = (size_t)(h >> 32) & (set->cap - 1);
	    set->flag[i] != 0 && memcmp(set->e + i * IDLEN, id, IDLEN) != 0;
	    i = (i + 1) & (set->cap - 1))
		;
	return i;
}

/* The flag of id (0: not in the set). */
static int
idset_get(const struct simlog_idset *set, const unsigned char *id)
{
	return set->cap > 0 ? set->flag[id_slot(set, id)] : 0;
}

static int
idset_put(struct simlog_idset *set, const unsigned char *id, int flag)
{
	size_t i;

	if ((set->used + 1) * 2 > set->cap) {
		struct simlog_idset old = *set;

		set->cap = old.cap ? 2 * old.cap : 64;
		set->used = 0;
		set->e = malloc(set->cap * IDLEN);
		set->flag = calloc(set->cap, 1);
		if (set->e == NULL || set->flag == NULL) {
			free(set->e);
			free(set->flag);
			*set = old;
			return -1;
		}
		for (i = 0; i < old.cap; i++)
			if (old.flag[i] != 0)
				idset_put(set, old.e + i * IDLEN, old.flag[i]);
		free(old.e);
		free(old.flag);
	}
	i = id_slot(set, id);
	if (set->flag[i] == 0) {
		memcpy(set->e + i * IDLEN, id, IDLEN);
		set->used++;
	}
	set->flag[i] = (unsigned char)flag;
	return 0;
}

static void
idset_clear(struct simlog_idset *set)
{
	if (set->used > 0)
		memset(set->flag, 0, set->cap);
	set->used = 0;
}

static void
idset_free(struct simlog_idset *set)
{
	free(set->e);
	free(set->flag);
	memset(set, 0, sizeof(*set));
}

void
simlog_sink_free(struct simlog_sink *s)
{
	if (s == NULL)
		return;
	s->ops->close(s);
	idset_free(&s->expected);
	idset_free(&s->marked);
	idset_free(&s->settling);
	simlog_parents_free(s);
	free(s->routes);
	free(s->rhash);
	free(s->counts);
	free(s->vals);
	free(s);
}

const char *simlog_sink_name(const struct simlog_sink *s) { return s->name; }
const char *simlog_sink_kind(const struct simlog_sink *s) { return s->ops->kind; }

int
simlog_sink_apply_schema(struct simlog_sink *s, struct simlog_schema *sc,
			 struct simlog_err *err)
{
	/* The same one again is a retry: what the failed try made goes. */
	if (s->schema != NULL)
		s->ops->unschema(s, s->schema);
	s->schema = sc;
	if (s->ops->apply_schema(s, sc, err) < 0)
		return -1;
	return simlog_parents_init(s, err);
}

static void
zero_counts(struct simlog_route *r)
{
	r->rows = r->rejects = r->waiting = r->unmapped = r->resumed = 0;
}

int
simlog_sink_begin(struct simlog_sink *s, const char *sim,
		  struct simlog_err *err)
{
	snprintf(s->sim, sizeof(s->sim), "%s", sim);
	for (size_t i = 0; i < s->nroutes; i++)
		zero_counts(&s->routes[i]);
	idset_clear(&s->expected);
	idset_clear(&s->marked);
	if (s->ops->begin(s, sim, err) < 0)
		return -1;
	if (simlog_parents_begin(s, err) < 0) {
		simlog_sink_rollback(s);
		return -1;
	}
	return 0;
}

int
simlog_sink_expect(struct simlog_sink *s, const unsigned char *ids, size_t n,
		   struct simlog_err *err)
{
	unsigned char found[64];
	size_t k;

	if (s->ops->expect == NULL)
		return 0;
	for (; n > 0; ids += k * IDLEN, n -= k) {
		k = n < sizeof(found) ? n : sizeof(found);
		memset(found, 0, k);
		if (s->ops->expect(s, ids, k, found, err) < 0)
			return -1;
		for (size_t i = 0; i < k; i++)
			if (idset_put(&s->expected, ids + i * IDLEN,
			    found[i] ? 2 : 1) < 0)
				return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
				    "out of memory");
	}
	return 0;
}

/* A batch id marked twice in one transaction is a duplicate the second
 * time, as the database would say; one expected is answered from what
 * expect found. */
int
simlog_sink_mark(struct simlog_sink *s, const unsigned char *id,
		 uint32_t records, int *dup, struct simlog_err *err)
{
	int seen = idset_get(&s->expected, id);

	*dup = idset_get(&s->marked, id) != 0 || seen == 2 ||
	    (s->pending && idset_get(&s->settling, id) != 0);
	if (*dup)
		return 0;
	if ((seen == 1 ? s->ops->mark_new(s, id, records, err) :
	    s->ops->mark(s, id, records, dup, err)) < 0)
		return -1;
	if (!*dup && idset_put(&s->marked, id, 1) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	return 0;
}

/* Whether route r is for type[0..tlen): by length, byte for byte. */
static int
route_is(const struct simlog_route *r, const char *type, size_t tlen)
{
	return tlen < sizeof(r->type) && memcmp(r->type, type, tlen) == 0 &&
	    r->type[tlen] == '\0';
}

/* Put route i in the index of routes by type. */
static void
index_route(struct simlog_sink *s, size_t i)
{
	size_t h = simlog_fnv1a(s->routes[i].type, strlen(s->routes[i].type)) &
	    (s->rhcap - 1);

	while (s->rhash[h] != 0)
		h = (h + 1) & (s->rhcap - 1);
	s->rhash[h] = i + 1;
}

/* Index every route by its type anew (grown, or after a rollback dropped
 * some), in a table at most half full, so that finding a route costs the
 * same however many types the drain has met. */
static int
rehash(struct simlog_sink *s)
{
	size_t cap = s->rhcap ? s->rhcap : 64;

	while (cap < 2 * (s->nroutes + 1))
		cap *= 2;
	if (cap != s->rhcap) {
		size_t *q = realloc(s->rhash, cap * sizeof(*q));

		if (q == NULL)
			return -1;
		s->rhash = q;
		s->rhcap = cap;
	}
	memset(s->rhash, 0, s->rhcap * sizeof(*s->rhash));
	for (size_t i = 0; i < s->nroutes; i++)
		index_route(s, i);
	return 0;
}

/* A new route: where records of this type go from now on. */
struct simlog_route *
simlog_sink_new_route(struct simlog_sink *s, const char *type, size_t tlen,
		      struct simlog_err *err)
{
	struct simlog_route *r;
	const char *why;

	/* Only a validated type ever becomes an identifier. */
	if (simlog_valid_type(type, tlen, &why) < 0) {
		simlog_seterr(err, SIMLOG_EX_DATAERR, "record type '%.*s': %s",
		    (int)(tlen > 64 ? 64 : tlen), type, why);
		return NULL;
	}
	if (s->nroutes == s->rcap) {
		size_t n = s->rcap ? s->rcap * 2 : 16;
		void *q = realloc(s->routes, n * sizeof(*s->routes));

		if (q == NULL) {
			simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
			return NULL;
		}
		s->routes = q;
		s->rcap = n;
	}
	r = &s->routes[s->nroutes];
	memset(r, 0, sizeof(*r));
	memcpy(r->type, type, tlen);
	if (s->schema != NULL &&
	    (r->st = simlog_schema_table(s->schema, type, tlen)) != NULL)
		snprintf(r->table, sizeof(r->table), "%s", r->st->name);
	else if (s->schema != NULL && simlog_schema_strict(s->schema)) {
		r->strict_unknown = 1;
		snprintf(r->table, sizeof(r->table), "simlog_rejects");
	} else {
		memcpy(r->table, type, tlen);
		if (s->ops->plain_table(s, r, err) < 0)
			return NULL;
		r->made_in_txn = 1;
	}
	s->last = s->nroutes++;
	if (2 * (s->nroutes + 1) > s->rhcap) {
		if (rehash(s) < 0) {
			s->nroutes--;
			simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
			return NULL;
		}
	} else
		index_route(s, s->last);
	return &s->routes[s->last];
}

struct simlog_route *
simlog_sink_route_of(struct simlog_sink *s, const char *type, size_t tlen)
{
	struct simlog_route *r;
	size_t h;

	if (s->last < s->nroutes && route_is(&s->routes[s->last], type, tlen))
		return &s->routes[s->last];
	if (s->rhcap == 0)
		return NULL;
	for (h = simlog_fnv1a(type, tlen) & (s->rhcap - 1); s->rhash[h] != 0;
	    h = (h + 1) & (s->rhcap - 1)) {
		r = &s->routes[s->rhash[h] - 1];
		if (route_is(r, type, tlen)) {
			s->last = s->rhash[h] - 1;
			return r;
		}
	}
	return NULL;
}

static void
note_reject(struct simlog_sink *s, struct simlog_route *r, const char *why)
{
	r->rejects++;
	if (s->pending_reject[0] == '\0')
		snprintf(s->pending_reject, sizeof(s->pending_reject),
		    "%s: %s", r->type, why);
}

void
simlog_sink_misfit(struct simlog_sink *s, struct simlog_route *r,
		   const char *why, int from_wait)
{
	unsigned long long *n = from_wait ? &r->resumed : &r->rows;

	if (*n > 0)
		(*n)--;
	note_reject(s, r, why);
}

/* A record that does not fit goes to simlog_rejects in the same
 * transaction: it never blocks the queue and never vanishes. */
static int
dead_letter(struct simlog_sink *s, struct simlog_route *r, const char *json,
	    size_t jlen, const char *why, struct simlog_err *err)
{
	char *b64, msg[400];
	int rc;

	if (simlog_utf8_text(json, jlen)) {
		if (s->ops->reject(s, r->type, json, jlen, why, err) < 0)
			return -1;
		note_reject(s, r, why);
		return 0;
	}
	/* Bytes that are not text (planted in Redis, not pushed) would
	 * make the database refuse the whole transaction, or a reader
	 * unable to read the row: they are kept whole, in base64. */
	if (jlen > SIZE_MAX / 2 || (b64 = malloc(4 * ((jlen + 2) / 3) + 1)) ==
	    NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	simlog_base64((const unsigned char *)json, jlen, b64);
	snprintf(msg, sizeof(msg), "%.320s; the record is kept in base64: it "
	    "is not UTF-8 text", why);
	rc = s->ops->reject(s, r->type, b64, strlen(b64), msg, err);
	free(b64);
	if (rc < 0)
		return -1;
	note_reject(s, r, msg);
	return 0;
}

/* A row went in: one that had waited in simlog_waiting, or a new one. */
static void
count_stored(struct simlog_route *r, int from_wait)
{
	if (from_wait)
		r->resumed++;
	else
		r->rows++;
}

/*
 * A record of a schema's table: a row, a dead letter, or held for a parent
 * row not there yet.  again: a held record tried again, which returns 1
 * while its parent is still missing; from_wait: one that had waited in
 * simlog_waiting.
 */
static int
typed_insert(struct simlog_sink *s, struct simlog_route *r, const char *json,
	     size_t jlen, int again, int from_wait, struct simlog_err *err)
{
	struct simlog_err why;
	int rc = simlog_stable_row(s->schema, r->st, s->sim, json, jlen,
	    s->vals, &why);

	if (rc >= 0 && !again && r->st->row_unmapped > 0)
		r->unmapped++;
	if (rc == 0) {
		rc = simlog_parents_check(s, r, s->sim, json, jlen, again,
		    &why);
		if (rc > 0)
			return again ? 1 : 0;
	}
	if (rc == 0) {
		s->from_wait = from_wait;
		rc = s->ops->insert_row(s, r, s->vals, json, jlen, &why);
		s->from_wait = 0;
	}
	if (rc < 0) {
		*err = why;
		return -1;
	}
	if (rc > 0)
		return dead_letter(s, r, json, jlen, why.msg, err);
	if (simlog_parents_stored(s, r->st, s->vals, err) < 0)
		return -1;
	count_stored(r, from_wait);
	return 0;
}

/* Any record, by its route; checked: known to be a JSON object in UTF-8. */
static int
route_insert(struct simlog_sink *s, struct simlog_route *r, const char *json,
	     size_t jlen, int checked, int again, int from_wait,
	     struct simlog_err *err)
{
	struct simlog_err why;
	struct simlog_jfield none;
	const char *bad;
	size_t at;
	int rc;

	if (r->st != NULL)
		return typed_insert(s, r, json, jlen, again, from_wait, err);
	if (r->strict_unknown) {
		char msg[120];

		snprintf(msg, sizeof(msg), "record type %s is not in the "
		    "strict schema", r->type);
		return dead_letter(s, r, json, jlen, msg, err);
	}
	/* Push takes only JSON objects in UTF-8, and marks its chunks as
	 * checked (a mark the chunk's checksum covers); anything else got
	 * into Redis by another way, and a reader of data could not read it
	 * back. */
	if (!checked && simlog_json_scan(json, jlen, NULL, 0, &none, &bad,
	    &at) < 0) {
		char msg[120];

		/* Worded as push words a line it refuses. */
		snprintf(msg, sizeof(msg), "%s at byte %zu", bad, at + 1);
		return dead_letter(s, r, json, jlen, msg, err);
	}
	/* A constraint of the table (a CHECK someone added) refuses it. */
	if ((rc = s->ops->insert_plain(s, r, json, jlen, &why)) > 0)
		return dead_letter(s, r, json, jlen, why.msg, err);
	if (rc < 0) {
		*err = why;
		return -1;
	}
	count_stored(r, from_wait);
	return 0;
}

int
simlog_sink_insert(struct simlog_sink *s, const char *type, size_t tlen,
		   const char *json, size_t jlen, int checked,
		   struct simlog_err *err)
{
	struct simlog_route *r = simlog_sink_route_of(s, type, tlen);

	if (r == NULL && (r = simlog_sink_new_route(s, type, tlen, err)) == NULL)
		return -1;
	return route_insert(s, r, json, jlen, checked, 0, 0, err);
}

int
simlog_sink_retry(struct simlog_sink *s, struct simlog_route *r,
		  const char *json, size_t jlen, int from_wait,
		  struct simlog_err *err)
{
	return route_insert(s, r, json, jlen, 0, 1, from_wait, err);
}

/* The open transaction's counts become the last commit's; the routes it
 * made are marked made (0), or made by a commit not yet settled (2). */
static int
take_counts(struct simlog_sink *s, int made, struct simlog_err *err)
{
	size_t i, n = 0;

	if (s->nroutes > 0) {
		void *q = realloc(s->counts, s->nroutes * sizeof(*s->counts));

		if (q == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		s->counts = q;
	}
	for (i = 0; i < s->nroutes; i++) {
		struct simlog_route *r = &s->routes[i];

		if (r->made_in_txn == 1)
			r->made_in_txn = made;
		if (r->rows == 0 && r->rejects == 0 && r->waiting == 0 &&
		    r->unmapped == 0 && r->resumed == 0)
			continue;
		s->counts[n].type = r->type;
		s->counts[n].table = r->table;
		s->counts[n].rows = r->rows;
		s->counts[n].rejects = r->rejects;
		s->counts[n].waiting = r->waiting;
		s->counts[n].unmapped = r->unmapped;
		s->counts[n].resumed = r->resumed;
		n++;
		zero_counts(r);
	}
	s->ncounts = n;
	return 0;
}

/* A transaction's first dead letter's reason, once it is committed. */
static void
keep_first(char *first, char *pending)
{
	if (first[0] == '\0')
		memcpy(first, pending, SIMLOG_ERRLEN);
	pending[0] = '\0';
}

int
simlog_sink_commit(struct simlog_sink *s, struct simlog_err *err)
{
	if (simlog_sink_settle(s, err) < 0 ||
	    simlog_parents_settle(s, err) < 0 || s->ops->commit(s, err) < 0)
		return -1;
	simlog_parents_commit(s);
	idset_clear(&s->expected);
	idset_clear(&s->marked);
	keep_first(s->first_reject, s->pending_reject);
	keep_first(s->first_wait, s->pending_wait);
	return take_counts(s, 0, err);
}

int
simlog_sink_overlaps(const struct simlog_sink *s)
{
	return s->ops->overlaps != NULL && s->nparents == 0 && !s->pending &&
	    s->ops->overlaps(s);
}

int
simlog_sink_commit_next(struct simlog_sink *s, struct simlog_err *err)
{
	struct simlog_idset t;

	if (!simlog_sink_overlaps(s))
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "%s: cannot "
		    "commit in the background now", s->name);
	if (s->ops->commit_next(s, err) < 0)
		return -1;
	s->pending = 1;
	/* The next transaction's batch ids start afresh; the committing
	 * one's still say what is in until it is settled. */
	t = s->settling;
	s->settling = s->marked;
	s->marked = t;
	idset_clear(&s->marked);
	idset_clear(&s->expected);
	memcpy(s->settling_reject, s->pending_reject, SIMLOG_ERRLEN);
	s->pending_reject[0] = '\0';
	return take_counts(s, 2, err);
}

int
simlog_sink_settle(struct simlog_sink *s, struct simlog_err *err)
{
	if (!s->pending)
		return 0;
	s->pending = 0;
	idset_clear(&s->settling);
	/* What the reader found missing before the commit was done may be
	 * in now: the next page asks again. */
	idset_clear(&s->expected);
	if (s->ops->settle(s, err) < 0) {
		s->settling_reject[0] = '\0';
		return -1;
	}
	keep_first(s->first_reject, s->settling_reject);
	for (size_t i = 0; i < s->nroutes; i++)
		if (s->routes[i].made_in_txn == 2)
			s->routes[i].made_in_txn = 0;
	return 0;
}

int
simlog_sink_splits(const struct simlog_sink *s)
{
	return s->ops->splits != NULL && s->ops->splits(s);
}

int
simlog_sink_queues(struct simlog_sink *s, const char *type, size_t tlen,
		   struct simlog_err *err)
{
	struct simlog_route *r = simlog_sink_route_of(s, type, tlen);

	if (r == NULL && (r = simlog_sink_new_route(s, type, tlen, err)) == NULL)
		return -1;
	return s->ops->queues != NULL && s->ops->queues(s, r);
}

void
simlog_sink_idle(struct simlog_sink *s, int idle)
{
	if (s->ops->idle != NULL)
		s->ops->idle(s, idle);
}

void
simlog_sink_rollback(struct simlog_sink *s)
{
	size_t i, keep = 0;

	/* A commit still going on ends first, whichever way: the routes it
	 * made are forgotten with the rest (made again if need be). */
	s->ops->rollback(s);
	if (s->pending) {
		s->pending = 0;
		idset_clear(&s->settling);
		s->settling_reject[0] = '\0';
	}
	simlog_parents_rollback(s);
	idset_clear(&s->expected);
	idset_clear(&s->marked);
	s->pending_reject[0] = '\0';
	s->pending_wait[0] = '\0';
	/* A table made in the rolled-back transaction is gone with it. */
	for (i = 0; i < s->nroutes; i++) {
		struct simlog_route *r = &s->routes[i];

		if (r->made_in_txn) {
			s->ops->forget(s, r);
			continue;
		}
		zero_counts(r);
		s->routes[keep++] = *r;
	}
	s->nroutes = keep;
	s->last = 0;
	s->ncounts = 0;
	/* Fewer routes than before: the table it had is large enough. */
	if (s->rhcap > 0)
		rehash(s);
}

void
simlog_sqlf(struct simlog_sql *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *q;

		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		if ((q = realloc(b->s, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->s = q;
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
simlog_sql_columns(struct simlog_sql *b, const struct simlog_stable *t)
{
	for (size_t i = 0; i < t->ncols; i++)
		simlog_sqlf(b, "%s\"%s\"", i ? ", " : "", t->cols[i].name);
}

static void
name_list(struct simlog_sql *b, const char *what, char **names, size_t n)
{
	simlog_sqlf(b, ", %s (", what);
	for (size_t i = 0; i < n; i++)
		simlog_sqlf(b, "%s\"%s\"", i ? ", " : "", names[i]);
	simlog_sqlf(b, ")");
}

void
simlog_sql_constraints(struct simlog_sql *b, const struct simlog_stable *t)
{
	if (t->nkey > 0)
		name_list(b, "PRIMARY KEY", t->key, t->nkey);
	for (size_t u = 0; u < t->nuniques; u++)
		name_list(b, "UNIQUE", t->uniques[u], t->nuniq[u]);
}

/* Quote an identifier ("name" with "" doubled) into buf. */
int
simlog_sink_ident(const char *name, size_t len, char *buf, size_t buflen)
{
	size_t i, o = 0;

	if (buflen < 3)
		return -1;
	buf[o++] = '"';
	for (i = 0; i < len; i++) {
		if (name[i] == '\0' || o + 3 >= buflen)
			return -1;
		if (name[i] == '"')
			buf[o++] = '"';
		buf[o++] = name[i];
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return 0;
}

int
simlog_sink_thread(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *),
		   void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(t, a, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int
simlog_sink_check(struct simlog_sink *s, struct simlog_err *err)
{
	return s->ops->check != NULL ? s->ops->check(s, err) : 0;
}

int
simlog_sink_prune(struct simlog_sink *s, double before, struct simlog_err *err)
{
	return s->ops->prune(s, before, err);
}

size_t
simlog_sink_counts(const struct simlog_sink *s,
		   const struct simlog_sink_count **c)
{
	*c = s->counts;
	return s->ncounts;
}

const char *
simlog_sink_first_reject(const struct simlog_sink *s)
{
	return s->first_reject[0] ? s->first_reject : NULL;
}

const char *
simlog_sink_first_wait(const struct simlog_sink *s)
{
	return s->first_wait[0] ? s->first_wait : NULL;
}

unsigned long long
simlog_sink_waiting(const struct simlog_sink *s)
{
	return s->waiting;
}

size_t
simlog_sink_unmapped_fields(const struct simlog_sink *s, const char *table,
			    char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; s->schema != NULL && i < s->schema->ntables; i++) {
		const struct simlog_stable *t = &s->schema->tables[i];

		if (strcmp(t->name, table) != 0)
			continue;
		for (size_t k = 0; k < t->nunmapped && o < len; k++)
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
			    k ? ", " : "", t->unmapped[k]);
		if (t->unmapped_more && o < len)
			o += (size_t)snprintf(buf + o, len - o, ", ...");
	}
	return o < len ? o : len - 1;
}

/* A type the table holds that the schema's type cannot go into. */
int
simlog_sink_type_mismatch(struct simlog_sink *s, const struct simlog_stable *t,
			  const struct simlog_column *c, const char *found,
			  const char *fix, struct simlog_err *err)
{
	(void)s;
	return simlog_seterr(err, SIMLOG_EX_CONFIG, "table %s, column %s: the "
	    "database has %s, the schema wants %s; nothing was drained. %s",
	    t->name, c->name, found, simlog_ctype_names[c->type], fix);
}

void
simlog_sql_index(struct simlog_sql *b, const struct simlog_stable *t,
		 size_t i)
{
	const struct simlog_index *x = &t->idx[i];

	simlog_sqlf(b, "CREATE %sINDEX IF NOT EXISTS \"%s\" ON \"%s\" (",
	    x->unique ? "UNIQUE " : "", x->name, t->name);
	for (size_t k = 0; k < x->ncols; k++)
		simlog_sqlf(b, "%s\"%s\"", k ? ", " : "", x->cols[k]);
	simlog_sqlf(b, ");");
}

void
simlog_sql_indexes(struct simlog_sql *b, const struct simlog_stable *t)
{
	for (size_t i = 0; i < t->nidx; i++)
		simlog_sql_index(b, t, i);
}

void
simlog_sql_references(struct simlog_sql *b, const struct simlog_schema *sc,
		      const struct simlog_column *c)
{
	const struct simlog_stable *pt;

	if (c->ref_t < 0)
		return;
	pt = &sc->tables[c->ref_t];
	simlog_sqlf(b, " REFERENCES \"%s\" (\"%s\")", pt->name,
	    pt->cols[c->ref_c].name);
}

/*
 * Foreign keys (references TABLE(COLUMN)): a row goes in only once its
 * parent row is there, the same way in every database.  Records are
 * streamed, and a parent may come later than its children (later in the
 * same transaction, in a later chunk, or under another simulation): such a
 * row is held until the transaction's end, when its parent may have come;
 * then it waits in simlog_waiting and goes in in the transaction that
 * brings its parent.  It is never a dead letter for that.
 *
 * Which keys each parent column holds is kept in memory (the keys this
 * drain stored, and those it found in the database), so the check costs a
 * hash lookup per row; a key not seen yet costs one query.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "schema.h"
#include "sink/sink.h"
#include "sink/sink_int.h"
#include "util.h"

struct simlog_key {
	char *k;			/* NULL: a free slot */
	size_t n;
	uint32_t h;
	unsigned char txn;		/* added in the open transaction */
};

/* A record held in the open transaction for a parent not seen yet. */
struct simlog_held {
	size_t route;
	char sim[72];
	char *json;
	size_t len;
	int from_wait;			/* taken from simlog_waiting */
};

/* --- key sets ---------------------------------------------------------------- */

static uint32_t
hash(const char *s, size_t n)
{
	return (uint32_t)simlog_fnv1a(s, n);
}

static struct simlog_key *
slot(const struct simlog_keyset *ks, const char *k, size_t n, uint32_t h)
{
	size_t i = h & (ks->cap - 1);

	for (;; i = (i + 1) & (ks->cap - 1)) {
		struct simlog_key *e = &ks->e[i];

		if (e->k == NULL || (e->h == h && e->n == n &&
		    memcmp(e->k, k, n) == 0))
			return e;
	}
}

static int
keyset_has(const struct simlog_keyset *ks, const char *k, size_t n)
{
	return ks->cap > 0 && slot(ks, k, n, hash(k, n))->k != NULL;
}

static int keyset_add(struct simlog_keyset *ks, const char *k, size_t n,
		      int txn);

static int
keyset_grow(struct simlog_keyset *ks)
{
	struct simlog_keyset old = *ks;

	ks->cap = old.cap ? old.cap * 2 : 64;
	ks->used = 0;
	if ((ks->e = calloc(ks->cap, sizeof(*ks->e))) == NULL) {
		*ks = old;
		return -1;
	}
	for (size_t i = 0; i < old.cap; i++)
		if (old.e[i].k != NULL) {
			*slot(ks, old.e[i].k, old.e[i].n, old.e[i].h) = old.e[i];
			ks->used++;
		}
	free(old.e);
	return 0;
}

/* Add k (txn: as of the open transaction); 0, or -1 out of memory. */
static int
keyset_add(struct simlog_keyset *ks, const char *k, size_t n, int txn)
{
	struct simlog_key *e;
	uint32_t h = hash(k, n);

	if ((ks->used + 1) * 2 > ks->cap && keyset_grow(ks) < 0)
		return -1;
	e = slot(ks, k, n, h);
	if (e->k != NULL)
		return 0;
	if ((e->k = malloc(n + 1)) == NULL)
		return -1;
	memcpy(e->k, k, n);
	e->k[n] = '\0';
	e->n = n;
	e->h = h;
	e->txn = (unsigned char)txn;
	ks->used++;
	return 0;
}

/* Keep only the keys with txn == 0 (all = 1: none); clear the flags of
 * those kept. */
static void
keyset_drop(struct simlog_keyset *ks, int all)
{
	struct simlog_keyset old = *ks;

	memset(ks, 0, sizeof(*ks));
	for (size_t i = 0; i < old.cap; i++) {
		if (old.e[i].k != NULL && !all && !old.e[i].txn)
			keyset_add(ks, old.e[i].k, old.e[i].n, 0);
		free(old.e[i].k);
	}
	free(old.e);
}

static void
keyset_settle(struct simlog_keyset *ks)
{
	for (size_t i = 0; i < ks->cap; i++)
		ks->e[i].txn = 0;
}

static void
keyset_remove(struct simlog_keyset *ks, const char *k, size_t n)
{
	struct simlog_keyset old = *ks;

	memset(ks, 0, sizeof(*ks));
	for (size_t i = 0; i < old.cap; i++) {
		if (old.e[i].k != NULL && !(old.e[i].n == n &&
		    memcmp(old.e[i].k, k, n) == 0))
			keyset_add(ks, old.e[i].k, old.e[i].n, old.e[i].txn);
		free(old.e[i].k);
	}
	free(old.e);
}

/* --- parents ------------------------------------------------------------------ */

static struct simlog_parent *
parent_of(struct simlog_sink *s, const struct simlog_column *c)
{
	struct simlog_stable *pt = &s->schema->tables[c->ref_t];

	for (size_t i = 0; i < s->nparents; i++)
		if (s->parents[i].st == pt && s->parents[i].col == c->ref_c)
			return &s->parents[i];
	return NULL;
}

static struct simlog_parent *
parent_named(struct simlog_sink *s, const char *name)
{
	for (size_t i = 0; i < s->nparents; i++)
		if (strcmp(s->parents[i].name, name) == 0)
			return &s->parents[i];
	return NULL;
}

void
simlog_parents_free(struct simlog_sink *s)
{
	for (size_t i = 0; i < s->nparents; i++) {
		keyset_drop(&s->parents[i].known, 1);
		keyset_drop(&s->parents[i].missing, 1);
		keyset_drop(&s->parents[i].waited, 1);
		keyset_drop(&s->parents[i].arrived, 1);
		keyset_drop(&s->parents[i].used, 1);
	}
	free(s->parents);
	s->parents = NULL;
	s->nparents = 0;
	for (size_t i = 0; i < s->nheld; i++)
		free(s->held[i].json);
	free(s->held);
	s->held = NULL;
	s->nheld = s->heldcap = 0;
}

static void
note_waited(struct simlog_sink *s, const char *parent, const char *key)
{
	struct simlog_parent *p = parent_named(s, parent);

	if (p != NULL)
		keyset_add(&p->waited, key, strlen(key), 0);
}

/* The rows waiting in the database, and for which keys. */
int
simlog_parents_load(struct simlog_sink *s, struct simlog_err *err)
{
	if (s->nparents == 0)
		return 0;
	for (size_t i = 0; i < s->nparents; i++)
		keyset_drop(&s->parents[i].waited, 1);
	s->reload_waits = 0;
	return s->ops->wait_list(s, note_waited, &s->waiting, err);
}

/* Every parent column the schema's references name. */
int
simlog_parents_init(struct simlog_sink *s, struct simlog_err *err)
{
	struct simlog_schema *sc = s->schema;

	simlog_parents_free(s);
	for (size_t ti = 0; ti < sc->ntables; ti++)
		for (size_t i = 0; i < sc->tables[ti].ncols; i++) {
			const struct simlog_column *c = &sc->tables[ti].cols[i];
			struct simlog_parent *p;
			void *q;

			if (c->ref_t < 0 || parent_of(s, c) != NULL)
				continue;
			q = realloc(s->parents, (s->nparents + 1) *
			    sizeof(*s->parents));
			if (q == NULL)
				return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
				    "out of memory");
			s->parents = q;
			p = &s->parents[s->nparents++];
			memset(p, 0, sizeof(*p));
			p->st = &sc->tables[c->ref_t];
			p->col = c->ref_c;
			snprintf(p->name, sizeof(p->name), "%s(%s)",
			    p->st->name, p->st->cols[p->col].name);
		}
	return simlog_parents_load(s, err);
}

/* A row of t: 0 when every parent it names is there, 1 when one is not
 * (*pp and the key say which), -1 on a database failure. */
static int
missing_parent(struct simlog_sink *s, const struct simlog_stable *t,
	       const struct simlog_val *vals, struct simlog_parent **pp,
	       char *kbuf, const char **key, size_t *kn, struct simlog_err *err)
{
	for (size_t i = 0; i < t->ncols; i++) {
		const struct simlog_column *c = &t->cols[i];
		struct simlog_parent *p;
		int found = 0;

		if (c->ref_t < 0 || !vals[i].set ||
		    vals[i].kind == SIMLOG_V_NULL)
			continue;
		p = parent_of(s, c);
		*key = simlog_val_key(&vals[i], kbuf, kn);
		if (!keyset_has(&p->known, *key, *kn)) {
			if (keyset_has(&p->missing, *key, *kn)) {
				*pp = p;
				return 1;
			}
			if (s->ops->parent_has(s, p, *key, *kn, &found,
			    err) < 0)
				return -1;
			if (keyset_add(found ? &p->known : &p->missing, *key,
			    *kn, 1) < 0)
				return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
				    "out of memory");
			if (!found) {
				*pp = p;
				return 1;
			}
		}
		if (s->used_keys && keyset_add(&p->used, *key, *kn, 0) < 0)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
	}
	return 0;
}

/* A row of t went in: the keys it gives its children. */
int
simlog_parents_stored(struct simlog_sink *s, const struct simlog_stable *t,
		      const struct simlog_val *vals, struct simlog_err *err)
{
	if (!t->referenced)
		return 0;
	for (size_t i = 0; i < s->nparents; i++) {
		struct simlog_parent *p = &s->parents[i];
		const struct simlog_val *v = &vals[p->col];
		const char *k;
		char buf[32];
		size_t n;

		if (p->st != t || !v->set || v->kind == SIMLOG_V_NULL)
			continue;
		k = simlog_val_key(v, buf, &n);
		if (keyset_add(&p->known, k, n, 1) < 0 ||
		    (keyset_has(&p->waited, k, n) &&
		    keyset_add(&p->arrived, k, n, 1) < 0))
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		if (p->missing.cap > 0 && keyset_has(&p->missing, k, n))
			keyset_remove(&p->missing, k, n);
	}
	return 0;
}

static int
hold(struct simlog_sink *s, const struct simlog_route *r, const char *sim,
     const char *json, size_t len, int from_wait, struct simlog_err *err)
{
	struct simlog_held *h;

	if (s->nheld == s->heldcap) {
		size_t cap = s->heldcap ? 2 * s->heldcap : 64;
		void *q = realloc(s->held, cap * sizeof(*s->held));

		if (q == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		s->held = q;
		s->heldcap = cap;
	}
	h = &s->held[s->nheld];
	if ((h->json = malloc(len + 1)) == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	memcpy(h->json, json, len);
	h->json[len] = '\0';
	h->len = len;
	h->route = (size_t)(r - s->routes);
	h->from_wait = from_wait;
	snprintf(h->sim, sizeof(h->sim), "%s", sim);
	s->nheld++;
	return 0;
}

/*
 * Before a typed row goes in: 0 when its parents are there (insert it), 1
 * when it was held instead (held = 1 for a record tried again: it stays
 * where it was), -1 on a failure.
 */
int
simlog_parents_check(struct simlog_sink *s, struct simlog_route *r,
		     const char *sim, const char *json, size_t len,
		     int again, struct simlog_err *err)
{
	struct simlog_parent *p;
	const char *key;
	char kbuf[32];
	size_t kn;
	int rc;

	if (s->nparents == 0)
		return 0;
	rc = missing_parent(s, r->st, s->vals, &p, kbuf, &key, &kn, err);
	if (rc <= 0 || again)
		return rc;
	return hold(s, r, sim, json, len, 0, err) < 0 ? -1 : 1;
}

/* A record taken from simlog_waiting: tried again with the others held. */
static int
taken(struct simlog_sink *s, const char *sim, const char *type,
      const char *json, size_t len, struct simlog_err *err)
{
	struct simlog_route *r = simlog_sink_route_of(s, type, strlen(type));

	if (s->waiting > 0)
		s->waiting--;
	if (r == NULL && (r = simlog_sink_new_route(s, type, strlen(type),
	    err)) == NULL)
		return -1;
	return hold(s, r, sim, json, len, 1, err);
}

/* The rows waiting for keys that came in this transaction: held now. */
static int
take_arrived(struct simlog_sink *s, int *took, struct simlog_err *err)
{
	for (size_t i = 0; i < s->nparents; i++) {
		struct simlog_parent *p = &s->parents[i];

		for (size_t k = 0; k < p->arrived.cap; k++) {
			struct simlog_key *e = &p->arrived.e[k];

			if (e->k == NULL)
				continue;
			if (s->ops->wait_take(s, p, e->k, e->n, taken,
			    err) < 0)
				return -1;
			keyset_remove(&p->waited, e->k, e->n);
			*took = 1;
		}
		keyset_drop(&p->arrived, 1);
	}
	return 0;
}

/* The record a held one left waiting for, in the words of a message. */
static void
wait_reason(const struct simlog_route *r, const struct simlog_parent *p,
	    const char *key, size_t kn, char *out, size_t len)
{
	snprintf(out, len, "%s: waits for %s = '%.*s', not there yet",
	    r->type, p->name, (int)(kn > 80 ? 80 : kn), key);
}

/*
 * At the transaction's end: the held records whose parents came go in
 * (which may bring other parents: again until nothing moves); the rest
 * wait in simlog_waiting.
 */
int
simlog_parents_settle(struct simlog_sink *s, struct simlog_err *err)
{
	int moved = 1;
	char save[sizeof(s->sim)];

	if (s->nparents == 0)
		return 0;
	memcpy(save, s->sim, sizeof(save));
	while (moved) {
		size_t keep = 0;

		moved = 0;
		if (take_arrived(s, &moved, err) < 0)
			return -1;
		for (size_t i = 0; i < s->nheld; i++) {
			struct simlog_held h = s->held[i];
			int rc;

			/* Dead letters and counts go to the record's own
			 * simulation. */
			snprintf(s->sim, sizeof(s->sim), "%s", h.sim);
			rc = simlog_sink_retry(s, &s->routes[h.route], h.json,
			    h.len, h.from_wait, err);
			memcpy(s->sim, save, sizeof(save));
			if (rc < 0)
				return -1;
			if (rc == 1) {
				s->held[keep++] = h;
				continue;
			}
			free(h.json);
			moved = 1;
		}
		s->nheld = keep;
	}
	for (size_t i = 0; i < s->nheld; i++) {
		struct simlog_held *h = &s->held[i];
		struct simlog_route *r = &s->routes[h->route];
		struct simlog_parent *p = NULL;
		const char *key = NULL;
		char kbuf[32], why[SIMLOG_ERRLEN / 2];
		size_t kn = 0;
		struct simlog_err e2;

		if (simlog_stable_row(s->schema, r->st, h->sim, h->json,
		    h->len, s->vals, &e2) != 0 ||
		    missing_parent(s, r->st, s->vals, &p, kbuf, &key, &kn,
		    err) != 1)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "a held record changed its mind");
		wait_reason(r, p, key, kn, why, sizeof(why));
		if (s->ops->wait_put(s, h->sim, r->type, h->json, h->len, p,
		    key, kn, err) < 0 ||
		    keyset_add(&p->waited, key, kn, 1) < 0)
			return -1;
		if (s->pending_wait[0] == '\0')
			snprintf(s->pending_wait, sizeof(s->pending_wait), "%s",
			    why);
		if (!h->from_wait)
			r->waiting++;
		s->waiting_txn++;
		free(h->json);
	}
	s->nheld = 0;
	return 0;
}

/* Committed: what the transaction learnt is so. */
void
simlog_parents_commit(struct simlog_sink *s)
{
	for (size_t i = 0; i < s->nparents; i++) {
		keyset_settle(&s->parents[i].known);
		keyset_settle(&s->parents[i].waited);
		keyset_drop(&s->parents[i].used, 1);
	}
	s->waiting += s->waiting_txn;
	s->waiting_txn = 0;
}

/* Rolled back: forget what it learnt, and what it held; the rows it took
 * from simlog_waiting are back there. */
void
simlog_parents_rollback(struct simlog_sink *s)
{
	for (size_t i = 0; i < s->nparents; i++) {
		keyset_drop(&s->parents[i].known, 0);
		keyset_drop(&s->parents[i].arrived, 1);
		keyset_drop(&s->parents[i].used, 1);
	}
	for (size_t i = 0; i < s->nheld; i++)
		free(s->held[i].json);
	s->nheld = 0;
	s->waiting_txn = 0;
	s->reload_waits = s->nparents > 0;
}

/* A new transaction: what was missing may have come since. */
int
simlog_parents_begin(struct simlog_sink *s, struct simlog_err *err)
{
	for (size_t i = 0; i < s->nparents; i++) {
		keyset_drop(&s->parents[i].missing, 1);
		keyset_drop(&s->parents[i].used, 1);
	}
	return s->reload_waits ? simlog_parents_load(s, err) : 0;
}

const char *
simlog_parents_used(const struct simlog_parent *p, size_t *i, size_t *n)
{
	for (; *i < p->used.cap; (*i)++)
		if (p->used.e[*i].k != NULL) {
			*n = p->used.e[*i].n;
			return p->used.e[(*i)++].k;
		}
	return NULL;
}

void
simlog_parents_forget_all(struct simlog_parent *p)
{
	keyset_drop(&p->known, 1);
}

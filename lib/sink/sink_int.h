/*
 * What a sink backend implements (struct simlog_sink_ops) and what the
 * backends share: the sink's state, routes, parent keys (parents.c) and
 * an SQL text builder.  Only lib/sink/ (and a test double) include this;
 * the drain engine speaks sink.h (as curl's vtls.h / vtls_int.h).
 */
#ifndef SIMLOG_SINK_INT_H
#define SIMLOG_SINK_INT_H

#include <pthread.h>
#include <signal.h>

#include "sink/sink.h"

/* A record type's way into the database. */
struct simlog_route {
	char type[64];
	char table[64];
	struct simlog_stable *st;	/* a schema's table, else NULL */
	int strict_unknown;		/* not in a strict schema: reject */
	void *plain;			/* the sink's state for a default table */
	int made_in_txn;		/* created by the open transaction (1)
					 * or by a commit not yet settled (2) */
	struct simlog_sink_count c;	/* the last commit's */
	/* in the open transaction */
	unsigned long long rows, rejects, waiting, unmapped, resumed;
};

/* A parent column (references TABLE(COLUMN)) and the keys known to be in
 * it, known missing, and waited for by rows in simlog_waiting. */
struct simlog_keyset {
	struct simlog_key *e;
	size_t cap, used;
};
struct simlog_parent {
	struct simlog_stable *st;
	int col;
	char name[140];			/* "table(column)" */
	struct simlog_keyset known, missing, waited, arrived;
	/* the keys the open transaction's rows refer to (used_keys) */
	struct simlog_keyset used;
};

struct simlog_val;
struct simlog_sink_ops {
	const char *kind;
	int (*open)(struct simlog_sink *s, const char *target,
		    struct simlog_err *err);
	void (*close)(struct simlog_sink *s);
	int (*apply_schema)(struct simlog_sink *s, struct simlog_schema *sc,
			    struct simlog_err *err);
	int (*begin)(struct simlog_sink *s, const char *sim,
		     struct simlog_err *err);
	int (*mark)(struct simlog_sink *s, const unsigned char *id,
		    uint32_t records, int *dup, struct simlog_err *err);
	/* Optional, both or neither.  expect: found[i] = 1 for each of the
	 * n ids the database holds (committed, or in the open transaction);
	 * mark_new: record an id expect found missing, and that no other
	 * drain can record meanwhile (the transaction holds the
	 * simulation), without asking the database again. */
	int (*expect)(struct simlog_sink *s, const unsigned char *ids,
		      size_t n, unsigned char *found, struct simlog_err *err);
	int (*mark_new)(struct simlog_sink *s, const unsigned char *id,
			uint32_t records, struct simlog_err *err);
	/* Create (if needed) a default table for r->table, in the open
	 * transaction. */
	int (*plain_table)(struct simlog_sink *s, struct simlog_route *r,
			   struct simlog_err *err);
	/* A default table's row: 0 stored, 1 refused by a constraint of
	 * the table (err says why), -1 failure. */
	int (*insert_plain)(struct simlog_sink *s, struct simlog_route *r,
			    const char *json, size_t len,
			    struct simlog_err *err);
	/* A typed row: 0 stored (or left for commit), 1 it does not fit
	 * (err says why, nothing stored), -1 failure. */
	int (*insert_row)(struct simlog_sink *s, struct simlog_route *r,
			  const struct simlog_val *vals, const char *json,
			  size_t len, struct simlog_err *err);
	int (*reject)(struct simlog_sink *s, const char *type,
		      const char *json, size_t len, const char *why,
		      struct simlog_err *err);
	/* Whether parent p holds key (in the database, committed or in the
	 * open transaction). */
	int (*parent_has)(struct simlog_sink *s, struct simlog_parent *p,
			  const char *key, size_t n, int *found,
			  struct simlog_err *err);
	/* simlog_waiting: keep a record of simulation sim waiting for key in
	 * p; list every (parent, key) waited for; take (delete, and give to
	 * fn) the records waiting for key in p. */
	int (*wait_put)(struct simlog_sink *s, const char *sim,
			const char *type, const char *json, size_t len,
			const struct simlog_parent *p, const char *key,
			size_t n, struct simlog_err *err);
	int (*wait_list)(struct simlog_sink *s,
			 void (*fn)(struct simlog_sink *s, const char *parent,
				    const char *key),
			 unsigned long long *rows, struct simlog_err *err);
	int (*wait_take)(struct simlog_sink *s, const struct simlog_parent *p,
			 const char *key, size_t n,
			 int (*fn)(struct simlog_sink *s, const char *sim,
				   const char *type, const char *json,
				   size_t len, struct simlog_err *err),
			 struct simlog_err *err);
	int (*commit)(struct simlog_sink *s, struct simlog_err *err);
	/* Optional, all three or none.  overlaps: whether a commit can go
	 * on in the background now; commit_next: check and commit the open
	 * transaction and begin the next (the database as commit leaves
	 * it), returning before the commit is done, the rows that follow
	 * going in after it; settle: wait for that commit, 0 done or -1
	 * it failed (and the transaction after it with it).  rollback
	 * waits for such a commit before it rolls back. */
	int (*overlaps)(const struct simlog_sink *s);
	int (*commit_next)(struct simlog_sink *s, struct simlog_err *err);
	int (*settle)(struct simlog_sink *s, struct simlog_err *err);
	/* Optional: the drain's thread is about to wait on Redis (1), or
	 * is back (0); see simlog_sink_idle. */
	void (*idle)(struct simlog_sink *s, int idle);
	/* Optional, both or neither; see simlog_sink_queues and
	 * simlog_sink_splits. */
	int (*queues)(const struct simlog_sink *s,
		      const struct simlog_route *r);
	int (*splits)(const struct simlog_sink *s);
	void (*rollback)(struct simlog_sink *s);
	int (*prune)(struct simlog_sink *s, double before,
		     struct simlog_err *err);
	/* A table made in a rolled-back transaction is gone. */
	void (*forget)(struct simlog_sink *s, struct simlog_route *r);
	/* Let go of what apply_schema kept in a schema's tables. */
	void (*unschema)(struct simlog_sink *s, struct simlog_schema *sc);
	/* simlog_sink_check; NULL: a database that cannot go astray. */
	int (*check)(struct simlog_sink *s, struct simlog_err *err);
};

/* Batch ids: a set of SIMLOG_BATCH_ID_LEN-byte ids, each with a flag. */
struct simlog_idset {
	unsigned char *e;		/* cap ids */
	unsigned char *flag;		/* per slot: 0 free, 1 absent, 2
					 * present */
	size_t cap, used;
};

struct simlog_sink {
	const struct simlog_sink_ops *ops;
	void *impl;			/* the implementation's state */
	char name[512];			/* fit to print */
	double busy_timeout;
	int typed;			/* simlog_sink_opts */
	double timeout;
	const volatile sig_atomic_t *stop;
	struct simlog_schema *schema;
	char sim[72];			/* the open transaction's */
	struct simlog_route *routes;
	size_t nroutes, rcap, last;
	size_t *rhash, rhcap;		/* type -> route index + 1 (0 free) */
	struct simlog_sink_count *counts;
	size_t ncounts;
	char first_reject[SIMLOG_ERRLEN];
	char pending_reject[SIMLOG_ERRLEN];	/* not yet committed */
	char first_wait[SIMLOG_ERRLEN];
	char pending_wait[SIMLOG_ERRLEN];
	struct simlog_val *vals;
	/* foreign keys: the parent columns, the records held in the open
	 * transaction for a parent not yet seen, the rows waiting in the
	 * database */
	struct simlog_parent *parents;
	size_t nparents;
	struct simlog_held *held;
	size_t nheld, heldcap;
	unsigned long long waiting, waiting_txn;
	int reload_waits;
	int used_keys;			/* keep each parent's used keys */
	int from_wait;			/* the record insert_row is given had
					 * waited in simlog_waiting */
	/* the open transaction's batch ids: those expected (whether the
	 * database had them), those marked; and those of a commit not yet
	 * settled (simlog_sink_commit_next) */
	struct simlog_idset expected, marked, settling;
	int pending;			/* such a commit */
	char settling_reject[SIMLOG_ERRLEN];
};

/* A record found not to fit only at commit (PostgreSQL checks
 * constraints then): count it as a dead letter instead of a row.  The
 * implementation stores it. */
void simlog_sink_misfit(struct simlog_sink *s, struct simlog_route *r,
			const char *why, int from_wait);
/* An existing table's column cannot take the schema's type: a CONFIG
 * error naming table, column, the type found, the type wanted and fix,
 * what to do. */
int simlog_sink_type_mismatch(struct simlog_sink *s,
			      const struct simlog_stable *t,
			      const struct simlog_column *c, const char *found,
			      const char *fix, struct simlog_err *err);
/* SQL text built piece by piece (malloc'd s); oom set when memory ran
 * out, and nothing more is added. */
struct simlog_sql {
	char *s;
	size_t len, cap;
	int oom;
};
void simlog_sqlf(struct simlog_sql *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The table's columns, quoted: "a", "b", ... */
void simlog_sql_columns(struct simlog_sql *b, const struct simlog_stable *t);
/* Its composite constraints: ", PRIMARY KEY (...)", ", UNIQUE (...)". */
void simlog_sql_constraints(struct simlog_sql *b,
			    const struct simlog_stable *t);
/* CREATE [UNIQUE] INDEX IF NOT EXISTS for each of the table's indexes,
 * each ending in ';' (nothing without any). */
void simlog_sql_indexes(struct simlog_sql *b, const struct simlog_stable *t);
/* The same for index i of the table alone. */
void simlog_sql_index(struct simlog_sql *b, const struct simlog_stable *t,
		      size_t i);
/* A column's REFERENCES clause (nothing without one). */
void simlog_sql_references(struct simlog_sql *b, const struct simlog_schema *sc,
			   const struct simlog_column *c);

/* The route a new record type takes (made now). */
struct simlog_route *simlog_sink_new_route(struct simlog_sink *s,
					   const char *type, size_t tlen,
					   struct simlog_err *err);
/* A held record tried again (parents.c): 1 while its parent is still
 * missing, 0 stored or a dead letter, -1 failure. */
int simlog_sink_retry(struct simlog_sink *s, struct simlog_route *r,
		      const char *json, size_t jlen, int from_wait,
		      struct simlog_err *err);

/* Foreign keys (parents.c): the parent columns of the schema's references
 * (init, after the tables are made), a transaction's begin, a row checked
 * before it goes in (0 go on, 1 held: leave it), a row stored, the held
 * rows settled before the commit, then the commit or rollback. */
int simlog_parents_init(struct simlog_sink *s, struct simlog_err *err);
int simlog_parents_load(struct simlog_sink *s, struct simlog_err *err);
void simlog_parents_free(struct simlog_sink *s);
int simlog_parents_begin(struct simlog_sink *s, struct simlog_err *err);
int simlog_parents_check(struct simlog_sink *s, struct simlog_route *r,
			 const char *sim, const char *json, size_t len,
			 int again, struct simlog_err *err);
int simlog_parents_stored(struct simlog_sink *s, const struct simlog_stable *t,
			  const struct simlog_val *vals,
			  struct simlog_err *err);
int simlog_parents_settle(struct simlog_sink *s, struct simlog_err *err);
void simlog_parents_commit(struct simlog_sink *s);
void simlog_parents_rollback(struct simlog_sink *s);
/* With used_keys set, the keys of p the open transaction's rows refer to:
 * the one at or after *i (then past it), NULL after the last. */
const char *simlog_parents_used(const struct simlog_parent *p, size_t *i,
				size_t *n);
/* Keys of p found gone from the database: every key is asked for again. */
void simlog_parents_forget_all(struct simlog_parent *p);

/* pthread_create for a sink's own thread, started with every signal
 * blocked: signals are the drain's thread's (a SIGTERM must interrupt its
 * waits, not another's). */
int simlog_sink_thread(pthread_t *t, const pthread_attr_t *a,
		       void *(*fn)(void *), void *arg);

/* Quote an identifier ("name" with "" doubled) into buf; -1 if it does
 * not fit. */
int simlog_sink_ident(const char *name, size_t len, char *buf, size_t buflen);
struct simlog_route *simlog_sink_route_of(struct simlog_sink *s,
					  const char *type, size_t tlen);

extern const struct simlog_sink_ops simlog_sink_sqlite;
extern const struct simlog_sink_ops simlog_sink_pg;

#endif

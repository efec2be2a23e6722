/*
 * libsimlog's drainer: records out of Redis, into SQLite or PostgreSQL,
 * exactly once (libsimlog(3), simlog-drain(1)); the mirror of the writer
 * in simlog.h.
 *
 * Same conventions as simlog.h: 0 on success, -1 with a struct simlog_err
 * filled on failure; nothing here prints or exits (diagnostics go to the
 * say callback); every *_close() accepts NULL.
 */
#ifndef SIMLOG_DRAIN_H
#define SIMLOG_DRAIN_H

#include "simlog.h"

#ifdef __cplusplus
extern "C" {
#endif

struct simlog_drainer_opts {
	struct simlog_conn_opts conn;	/* its .stop is not used: a stop
					 * lets the transaction in progress
					 * finish (every wait is bounded by
					 * the timeout anyway) */
	const char *db;			/* an SQLite file or a postgresql://
					 * URL; NULL: $SIMLOG_DB, else
					 * "simlog.db" */
	const char *schema;		/* a simlog-schema(5) file or name;
					 * NULL or "": no schema */
	const char *sim;		/* only this simulation; NULL: all */
	unsigned shard, shards;		/* only the simulations of shard
					 * `shard` of `shards`
					 * (simlog_shard_of); shards 0: all */
	size_t batch;			/* records per transaction (100000) */
	double commit_interval;		/* commit at least this often (1 s) */
	double busy_timeout;		/* wait for a locked database (30 s) */
	double keep_days;		/* remember batch ids this long (30) */
	int follow;			/* go on as records arrive, waiting
					 * for Redis for as long as it takes,
					 * until stopped */
	int redis_only;			/* no database, no schema: connect for
					 * housekeeping on simlog_drainer_conn
					 * (simlog_backlog.h) */
	const volatile sig_atomic_t *stop;	/* set (by a signal handler):
					 * the run ends after the transaction
					 * in progress; NULL: only
					 * simlog_drainer_stop */
	void (*say)(void *arg, const char *msg);	/* diagnostics */
	void *say_arg;
	/* Records of sim handled so far in all (done: stored, dead letters,
	 * waiting for a parent row, or found in already) against those
	 * buffered when their simulations' turn came (expect, an estimate):
	 * called after every page read, and once more (final) when a
	 * simulation is through, if it had records.  NULL: not called. */
	void (*progress)(void *arg, const char *sim, unsigned long long done,
			 unsigned long long expect, int final);
	void *progress_arg;
};
/* The defaults above. */
SIMLOG_API
void simlog_drainer_opts_init(struct simlog_drainer_opts *o);

/* What a drainer has done so far. */
struct simlog_drainer_stats {
	unsigned long long rows;	/* stored */
	unsigned long long rejects;	/* dead letters (simlog_rejects) */
	unsigned long long waiting;	/* left waiting for a parent row */
	unsigned long long resumed;	/* waited, and went in */
	unsigned long long batches;	/* chunks stored */
	unsigned long long duplicate_batches;	/* found stored already */
	unsigned long long duplicate_rows;	/* their records */
	unsigned long long corrupt;	/* entries set aside, undecodable */
	unsigned long long sims;	/* simulations drained from */
	unsigned long long retries;	/* of Redis and of the database */
	double seconds;			/* since simlog_drainer_open */
	const char *db;			/* the database, fit to print; NULL
					 * with redis_only */
	const char *first_reject;	/* the first dead letter's reason */
	const char *first_wait;		/* the first row left waiting */
	unsigned long long waiting_now;	/* rows waiting in the database */
};

/* Rows per simulation and record type: what landed where. */
struct simlog_drainer_tally {
	char sim[72], type[64], table[64];
	unsigned long long rows, rejects, waiting, unmapped;
};

/* A database target: whether it names PostgreSQL rather than an SQLite
 * file; whether it carries a password (to warn about argv); the target
 * with any password replaced by "***" into buf. */
SIMLOG_API
int simlog_sink_is_url(const char *target);
SIMLOG_API
int simlog_sink_has_password(const char *target);
SIMLOG_API
void simlog_sink_redact(const char *target, char *buf, size_t len);

/* The shard (0 to shards - 1) of a simulation, for the shard option and
 * simlog-drain --shard: the 64-bit FNV-1a hash of its name, modulo
 * shards.  Stable: it depends on the name alone. */
SIMLOG_API
unsigned simlog_shard_of(const char *sim, unsigned shards);

struct simlog_drainer;
/*
 * Load the schema, connect to Redis and open the database (creating what
 * simlog needs), retrying what may pass under the failure policy.  NULL
 * with err set when one of them fails; a stop while Redis is awaited
 * returns a drainer whose run does nothing.
 */
SIMLOG_API
struct simlog_drainer *simlog_drainer_open(const struct simlog_drainer_opts *o,
					   struct simlog_err *err);
/*
 * Drain: one pass over the simulations, or with follow pass after pass
 * until stopped.  Each transaction takes up to batch records of one
 * simulation, commits, and only then deletes their entries from Redis.
 * A simulation that fails alone is said and the others drained; a
 * failure of the database or of Redis as a whole ends the run.  Returns
 * the worst exit status (enum simlog_exit): 0 all drained, 65 entries set
 * aside, 75 left for later, ...; why (may be NULL) says the failure that
 * earned it, with why->code 0 when no pass failed (only entries set
 * aside, or cluster masters that did not answer).
 */
SIMLOG_API
int simlog_drainer_run(struct simlog_drainer *d, struct simlog_err *why);
/* End the run after the transaction in progress.  Async-signal-safe. */
SIMLOG_API
void simlog_drainer_stop(struct simlog_drainer *d);
SIMLOG_API
void simlog_drainer_stats(struct simlog_drainer *d,
			  struct simlog_drainer_stats *st);
/* Every (simulation, type) drained so far, in the order first met; the
 * array is the drainer's, valid until its next run or its close. */
SIMLOG_API
size_t simlog_drainer_tallies(const struct simlog_drainer *d,
			      const struct simlog_drainer_tally **t);
/* The fields that records of table carried and no column takes, as
 * "a, b, c" (", ..." when there were more), into buf; 0 if none. */
SIMLOG_API
size_t simlog_drainer_unmapped(const struct simlog_drainer *d,
			       const char *table, char *buf, size_t len);
/* The drainer's connection to Redis (for simlog_backlog.h). */
SIMLOG_API
struct simlog_conn *simlog_drainer_conn(struct simlog_drainer *d);
/* Close the database and the connection, free d.  NULL is a no-op. */
SIMLOG_API
void simlog_drainer_close(struct simlog_drainer *d);

#ifdef __cplusplus
}
#endif

#endif

/*
 * Sinks: the database a drain writes to, behind one interface.  The drain
 * speaks only this; each database is one file beside this header (like
 * SQLite's VFS or curl's lib/vtls/): sqlite.c, pg.c.
 *
 * A target is an SQLite file path, or a postgresql:// (postgres://) URL.
 * Records are routed here, the same way for every database: a type named
 * by the schema goes to its typed table, any other type to a table of its
 * own (id, simulation_id, data), or, under a strict schema, to the dead
 * letters.  A record that does not fit its table, or that the database
 * refuses (a CHECK, NOT NULL, UNIQUE or foreign key constraint), is a dead
 * letter in simlog_rejects, in the same transaction, with the reason.
 *
 * A row whose parent row (references TABLE(COLUMN)) is not in the database
 * yet waits for it: held until the transaction's end, when its parent may
 * have come in the same transaction, then kept in simlog_waiting; it goes
 * in, in the transaction that brings its parent.
 *
 * One transaction drains one simulation:
 *
 *   begin(sim)
 *     expect(batch ids of the chunks to come)   (optional)
 *     mark(batch id) -> already there? then skip the chunk
 *     insert(record)...
 *   commit   (or rollback)
 *
 * Errors come back in struct simlog_err with an exit class: TEMPFAIL for
 * what may pass (a locked database, a lost server, a deadlock), IOERR for
 * other database failures, NOPERM for refused credentials or privileges,
 * NOINPUT for a database that does not exist, CANTCREAT for a file that
 * cannot be created, CONFIG for a schema the database cannot take.
 */
#ifndef SIMLOG_SINK_H
#define SIMLOG_SINK_H

#include <signal.h>

#include <stddef.h>
#include <stdint.h>

#include "simlog.h"
#include "simlog_drain.h"

struct simlog_sink;
struct simlog_schema;
struct simlog_stable;
struct simlog_column;

struct simlog_sink_opts {
	double busy_timeout;	/* seconds to wait for a lock */
	const volatile sig_atomic_t *stop;	/* set by a signal: stop
						 * waiting */
	double timeout;		/* seconds a database server may take to
				 * answer (beyond a lock's wait); 0: 2 */
	int typed;		/* tables will come from a schema (a new
				 * SQLite database is laid out for their
				 * indexes) */
};

/* simlog_sink_is_url, _has_password and _redact: simlog_drain.h. */

/* Open (creating what simlog needs) the database target names.  Returns
 * a sink to free with simlog_sink_free, or NULL with err set; messages
 * name the database, never with a password. */
struct simlog_sink *simlog_sink_open(const char *target,
				     const struct simlog_sink_opts *o,
				     struct simlog_err *err);
void simlog_sink_free(struct simlog_sink *s);

/* The database, fit to print (a URL's password replaced by ***). */
const char *simlog_sink_name(const struct simlog_sink *s);
/* "sqlite" or "postgresql". */
const char *simlog_sink_kind(const struct simlog_sink *s);

/* Create the schema's tables, add columns it gained; at most one drain at
 * a time does this.  The schema must outlive the sink. */
int simlog_sink_apply_schema(struct simlog_sink *s, struct simlog_schema *sc,
			     struct simlog_err *err);

int simlog_sink_begin(struct simlog_sink *s, const char *sim,
		      struct simlog_err *err);
/* The batch ids (n of SIMLOG_BATCH_ID_LEN bytes, one after another) the
 * next marks will ask about: looked up at once, so that those marks need
 * no round trip each.  Optional: a mark works without it. */
int simlog_sink_expect(struct simlog_sink *s, const unsigned char *ids,
		       size_t n, struct simlog_err *err);
/* Record a batch id; *dup = 1 when it was recorded before (its records
 * are in already: skip them). */
int simlog_sink_mark(struct simlog_sink *s, const unsigned char *id,
		     uint32_t records, int *dup, struct simlog_err *err);
/* Store one record of the open transaction's simulation: a row, or a dead
 * letter.  checked: the record is known to be a JSON object in UTF-8 (its
 * chunk's writer checked it), and a default table takes it as it is.
 * Fails only for the database (or a type that cannot name a table:
 * DATAERR). */
int simlog_sink_insert(struct simlog_sink *s, const char *type, size_t tlen,
		       const char *json, size_t jlen, int checked,
		       struct simlog_err *err);
/* Commit; then the counts below say what the transaction stored. */
int simlog_sink_commit(struct simlog_sink *s, struct simlog_err *err);
/*
 * A commit that goes on while the next transaction fills: where
 * simlog_sink_overlaps says so, simlog_sink_commit_next commits the open
 * transaction in the background and begins the next one of the same
 * simulation at once (the counts below are the committing one's).
 * simlog_sink_settle waits for that commit: 0 it is done, and nothing
 * before it need be kept elsewhere; -1 it failed, and the transaction
 * after it is lost too (roll back).  Settle between a page's records,
 * never inside one page's marks.  0 at once when no commit is pending.
 */
int simlog_sink_overlaps(const struct simlog_sink *s);
int simlog_sink_commit_next(struct simlog_sink *s, struct simlog_err *err);
int simlog_sink_settle(struct simlog_sink *s, struct simlog_err *err);
void simlog_sink_rollback(struct simlog_sink *s);
/* The caller is about to wait on something else, such as Redis (1), and is
 * back (0) before it calls the sink again: meanwhile the sink may go on
 * with what it was given. */
void simlog_sink_idle(struct simlog_sink *s, int idle);
/*
 * Some sinks queue the records of some types for a thread of their own,
 * and write those of others (a parent table's, one that records update)
 * at once, after whatever is queued: each of those then waits for the
 * queue.  simlog_sink_splits says whether the sink's tables are of both
 * kinds; simlog_sink_queues whether a record of this type is queued (1),
 * written at once (0), or -1 (err: the type cannot name a table, or the
 * database failed making its table).  A caller that inserts a batch's
 * records that are written at once first, then the rest, waits once a
 * batch rather than once such a record; either order stores the same
 * rows, as no queued table is referred to or updated.
 */
int simlog_sink_splits(const struct simlog_sink *s);
int simlog_sink_queues(struct simlog_sink *s, const char *type, size_t tlen,
		       struct simlog_err *err);

/* Whether the database is still the one opened: an SQLite file deleted
 * or replaced under the drain is IOERR, naming it.  Call it after a commit,
 * before deleting from elsewhere what the commit stored. */
int simlog_sink_check(struct simlog_sink *s, struct simlog_err *err);

/* Forget batch ids recorded before a Unix time. */
int simlog_sink_prune(struct simlog_sink *s, double before,
		      struct simlog_err *err);

/* What the last committed transaction stored, per record type: rows,
 * dead letters, records left waiting for a parent row, records that
 * carried fields no column takes; and rows that had waited and went in
 * (of any simulation). */
struct simlog_sink_count {
	const char *type, *table;
	unsigned long long rows, rejects, waiting, unmapped, resumed;
};
size_t simlog_sink_counts(const struct simlog_sink *s,
			  const struct simlog_sink_count **c);
/* The first dead letter's reason since the sink was opened, or NULL: the
 * first refused record's, except that PostgreSQL finds the database's
 * own refusals (constraints) only at the commit, so within a transaction
 * where simlog refused a record too, simlog's comes first.  The dead
 * letters themselves are stored in the records' order in both. */
const char *simlog_sink_first_reject(const struct simlog_sink *s);
/* The first reason a row was left waiting since the sink was opened, or
 * NULL; and how many rows wait in the database now. */
const char *simlog_sink_first_wait(const struct simlog_sink *s);
unsigned long long simlog_sink_waiting(const struct simlog_sink *s);
/* The fields records of table carried that no column takes, as
 * "a, b, c" (and ", ..." when there were more), into buf; 0 if none. */
size_t simlog_sink_unmapped_fields(const struct simlog_sink *s,
				   const char *table, char *buf, size_t len);

/* What a backend implements, and the helpers the backends share:
 * sink_int.h. */

#endif

/*
 * libsimlog backlog: what is buffered in Redis per simulation and record
 * type, read from the counters push and drain keep; and its housekeeping:
 * what is set aside in a simulation's corrupt stream
 * (simlog:{SIM}:corrupt), read and purged, and a whole backlog discarded
 * on purpose, its stream and counters together (lib/backlog.c).
 *
 * Same conventions as simlog.h: 0 on success, -1 with a struct simlog_err
 * filled on failure; nothing here prints or exits; every *_free() accepts
 * NULL.
 */
#ifndef SIMLOG_BACKLOG_H
#define SIMLOG_BACKLOG_H

#include "simlog.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- backlog ----------------------------------------------------------- */

struct simlog_backlog_type {
	char *name;			/* record type */
	long long records, bytes;	/* bytes: the records' JSON text */
};
struct simlog_backlog_sim {
	char *name;
	struct simlog_backlog_type *types;	/* sorted by name */
	size_t ntypes;
	long long records, bytes;
	long long oldest_ms;		/* Redis time of its first stream
					 * entry, ms since 1970; -1: none */
};
struct simlog_backlog {
	struct simlog_backlog_sim *sims;	/* sorted by name */
	size_t nsims;
	long long records, bytes;
	long long now_ms;		/* Redis's TIME after the read; -1
					 * when no simulation was read */
	unsigned commands;		/* commands the read sent */
};
/*
 * Read the records buffered and not yet drained, per simulation and type,
 * from the counters simlog-push and simlog-drain keep (simlog:sims and
 * each simulation's :n and :b hashes, pipelined with the first entry of
 * its stream), then Redis's TIME if any simulation has records: 1 + 3 x
 * simulations commands (+ 1), no KEYS or SCAN.  Simulations with nothing buffered are left out.
 */
SIMLOG_API
int simlog_backlog_read(struct simlog_conn *conn, struct simlog_backlog *b,
			struct simlog_err *err);
SIMLOG_API
void simlog_backlog_clear(struct simlog_backlog *b);
/* How long the oldest record of s has waited, in seconds, by Redis's
 * clock; -1 when unknown. */
SIMLOG_API
double simlog_backlog_age(const struct simlog_backlog *b,
			  const struct simlog_backlog_sim *s);

/* --- the corrupt stream and discarding --------------------------------- */

/* A stream entry id, ms-seq. */
struct simlog_sid {
	uint64_t ms, seq;
};

/* One field of a stream entry, as Redis holds it (binary-safe). */
struct simlog_field {
	char *name, *val;
	size_t nlen, vlen;
};

/* An entry the drain set aside: its id in the corrupt stream, the id it
 * had in the buffer, why, and the original entry's fields. */
struct simlog_corrupt {
	struct simlog_sid entry;
	char id[48];
	char *why;
	struct simlog_field *fields;
	size_t nfields;
};

/* Up to count entries of sim's corrupt stream after *after (NULL: from the
 * start).  *out is malloc'd; free it with simlog_corrupt_free. */
SIMLOG_API
int simlog_corrupt_read(struct simlog_conn *conn, const char *sim,
			const struct simlog_sid *after, size_t count,
			struct simlog_corrupt **out, size_t *n,
			struct simlog_err *err);
SIMLOG_API
void simlog_corrupt_free(struct simlog_corrupt *c, size_t n);
/* Delete these entries of the corrupt stream (the stream too once it is
 * empty), atomically; *deleted counts those that were there. */
SIMLOG_API
int simlog_corrupt_delete(struct simlog_conn *conn, const char *sim,
			  const struct simlog_corrupt *c, size_t n,
			  unsigned long long *deleted, struct simlog_err *err);

/* Delete sim's whole backlog, undrained: the stream and its counters in
 * one step (and its name in the old layout's simlog:sims).  *entries and
 * *records say what went. */
SIMLOG_API
int simlog_backlog_discard(struct simlog_conn *conn, const char *sim,
			   unsigned long long *entries,
			   unsigned long long *records, struct simlog_err *err);

#ifdef __cplusplus
}
#endif

#endif

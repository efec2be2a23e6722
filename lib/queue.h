/*
 * The Redis buffer (lib/queue.c, not installed): the key layout of
 * simlog(7) KEYS, storing chunks, listing simulations, reading, deleting
 * and setting aside stream entries.
 */
#ifndef SIMLOG_QUEUE_H
#define SIMLOG_QUEUE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "simlog.h"
#include "simlog_backlog.h"

/* Key names; buf must hold SIMLOG_KEYLEN bytes. */
#define SIMLOG_KEYLEN 128
/* The set that listed simulations before they were found by scanning:
 * read, and emptied of names whose stream has gone, never written. */
#define SIMLOG_SIMS_KEY "simlog:sims"
void simlog_key_stream(const char *sim, char *buf);
void simlog_key_count(const char *sim, char *buf);
void simlog_key_bytes(const char *sim, char *buf);
void simlog_key_corrupt(const char *sim, char *buf);

/*
 * Append the pipelined command that stores a sealed chunk for sim.  The
 * reply (read with simlog_push_reply) is the new stream entry id.  With
 * max_backlog > 0 the store is refused (SIMLOG_EX_TEMPFAIL, "backlog")
 * while the simulation already has that many records buffered.
 */
int simlog_push_append(struct simlog_conn *conn, const char *sim,
		       const struct simlog_chunk *ch, uint64_t max_backlog,
		       struct simlog_err *err);
/* The same for an encoded chunk and its tallies (from a spool). */
int simlog_push_append_enc(struct simlog_conn *conn, const char *sim,
			   const char *enc, size_t enclen,
			   const struct simlog_typecount *types, size_t ntypes,
			   uint64_t max_backlog, struct simlog_err *err);
/* The reply to the oldest chunk sent, by deadline (0: the timeout). */
int simlog_push_reply(struct simlog_conn *conn, double deadline,
		      struct simlog_err *err);

/* The names of simulations with buffered records, sorted, found by
 * scanning every master for their streams (malloc'd array of malloc'd
 * strings; free with simlog_strv_free). */
int simlog_list_sims(struct simlog_conn *conn, char ***sims, size_t *n,
		     struct simlog_err *err);
/* The same, going on past masters that do not answer: 1 when some did
 * not (err says which), as simlog_scan_reachable. */
int simlog_list_sims_reachable(struct simlog_conn *conn, char ***sims,
			       size_t *n, struct simlog_err *err);
/* simlog_strv_free: simlog.h; simlog_shard_of: simlog_drain.h. */
/* Take from the old layout's set (SIMLOG_SIMS_KEY) the names that are not
 * in sims[0..n) (sorted): their streams have gone.  Best effort. */
void simlog_forget_old_sims(struct simlog_conn *conn, char **sims, size_t n);

/* Stream entry ids (struct simlog_sid: simlog_backlog.h). */
int simlog_sid_parse(const char *s, size_t len, struct simlog_sid *id);
void simlog_sid_format(const struct simlog_sid *id, char *buf);	/* 48 */
int simlog_sid_cmp(const struct simlog_sid *a, const struct simlog_sid *b);

/* The id of the newest entry of sim's stream; *found = 0 when empty. */
int simlog_queue_last(struct simlog_conn *conn, const char *sim,
		      struct simlog_sid *last, int *found,
		      struct simlog_err *err);

/* One entry read from the stream. */
struct simlog_entry {
	struct simlog_sid id;
	char *data;		/* the encoded chunk */
	size_t len;
	size_t nfields;		/* field-value pairs the entry has */
};
/* Read up to count entries with after < id <= upto (*n = how many), in
 * two halves, so that the next page can be on its way while this one is
 * worked on: send asks (nothing else may be sent on conn until recv has
 * read the answer). */
int simlog_queue_read_send(struct simlog_conn *conn, const char *sim,
			   const struct simlog_sid *after,
			   const struct simlog_sid *upto, size_t count,
			   struct simlog_err *err);
int simlog_queue_read_recv(struct simlog_conn *conn, const char *sim,
			   struct simlog_entry **out, size_t *n,
			   struct simlog_err *err);
void simlog_entries_free(struct simlog_entry *e, size_t n);

/*
 * Delete drained entries and take their records off the backlog counters,
 * atomically per step of a few hundred entries (each step applies whole or
 * not at all); an entry already deleted (by a concurrent drain, or a
 * previous try) is not counted twice.  tallies[i] are the per-type
 * tallies of ids[i].  Returns -1, or how many counters were reset because
 * they were not numbers (or their key not a hash).
 */
struct simlog_ack {
	struct simlog_sid id;
	const struct simlog_typecount *types;
	size_t ntypes;
};
int simlog_queue_ack(struct simlog_conn *conn, const char *sim,
		     const struct simlog_ack *acks, size_t n,
		     struct simlog_err *err);
/* Move an undecodable entry aside to the corrupt stream, all its fields
 * (more than a few hundred are kept packed, see simlog(7)).  Returns -1,
 * 0 when the entry was gone already, 1 moved, 2 moved after a key of
 * another type that held the corrupt stream's name was renamed
 * simlog:{SIM}:corrupt:displaced:ID. */
int simlog_queue_quarantine(struct simlog_conn *conn, const char *sim,
			    const struct simlog_entry *e, const char *why,
			    struct simlog_err *err);
/* Records buffered for sim, as its counters say (bounded by what its
 * stream's entries could hold): an estimate, 0 when unknown. */
unsigned long long simlog_queue_backlog(struct simlog_conn *conn,
					const char *sim);
/* Wait up to block seconds (or until *stop) for an entry newer than
 * after[i] in the stream of sims[i] (XREAD BLOCK; in a cluster, polling
 * each master that answers): 1 one came, 0 none, -1 Redis failed (the
 * connection is closed, the rest of the time slept). */
int simlog_queue_wait(struct simlog_conn *conn, char *const *sims,
		      const struct simlog_sid *after, size_t n, double block,
		      const volatile sig_atomic_t *stop);

struct redisReply;
/* The entries of an XRANGE reply, their chunks taken out of r: 0, -1
 * when r is no such reply, -2 out of memory. */
int simlog_queue_entries(struct redisReply *r, struct simlog_entry **out,
			 size_t *n);

#endif

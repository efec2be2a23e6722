/*
 * The spool: a durable local store for undelivered chunks (lib/spool.c,
 * not installed); the file format is in spool.c's opening comment.
 */
#ifndef SIMLOG_SPOOL_H
#define SIMLOG_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "simlog.h"
#include "simlog_health.h"

struct simlog_spool;
struct simlog_spool_seg;
/* Open (creating) DIR/<endpoint id>/, bounded by max_bytes in all.  Writes
 * may come from several threads. */
struct simlog_spool *simlog_spool_open(const char *dir, const char *endpoint,
				       uint64_t max_bytes,
				       struct simlog_err *err);
void simlog_spool_free(struct simlog_spool *sp);
/* simlog_spool_default_dir: simlog.h. */
/* The subdirectory of dir that holds an endpoint's spool. */
void simlog_spool_path(const char *dir, const char *endpoint, char *buf,
		       size_t len);
const char *simlog_spool_dir(const struct simlog_spool *sp);
/* Append one sealed chunk of `records` records; on return it is on disk
 * (fdatasync).  A full spool fails with SIMLOG_EX_IOERR saying so. */
int simlog_spool_write(struct simlog_spool *sp, const char *sim,
		       const char *chunk, size_t len, uint32_t records,
		       struct simlog_err *err);
/* Close our segment (with its end mark) so that it can be replayed. */
void simlog_spool_seal(struct simlog_spool *sp);
uint64_t simlog_spool_bytes(const struct simlog_spool *sp);
/* Whether any segment (ours or not) waits (1, or 0); re-scans the
 * directory; -1 with err set when it cannot be read. */
int simlog_spool_pending(struct simlog_spool *sp, struct simlog_err *err);
/* Where to say that the directory vanished and what was written back
 * (from whichever thread wrote). */
void simlog_spool_on_say(struct simlog_spool *sp,
			 void (*say)(void *, const char *), void *arg);
/* Records this spool took and keeps no more (the directory vanished and
 * they could not be written back), in all; why says what happened. */
uint64_t simlog_spool_lost(struct simlog_spool *sp, struct simlog_err *why);
/* Keep a chunk a replay cannot deliver now (its master does not answer)
 * in a segment of its own, so that the replay goes on past it; once
 * sealed (simlog_spool_seal_aside), this spool does not take that segment
 * again: a later run replays it. */
int simlog_spool_write_aside(struct simlog_spool *sp, const char *sim,
			     const char *chunk, size_t len, uint32_t records,
			     struct simlog_err *err);
void simlog_spool_seal_aside(struct simlog_spool *sp);
/* Take the next segment no live process holds; 0 when none is left. */
int simlog_spool_take(struct simlog_spool *sp, struct simlog_spool_seg **seg,
		      struct simlog_err *err);

/* One readable chunk of a segment. */
struct simlog_spool_rec {
	char sim[72];
	const char *chunk;		/* into the segment's buffer */
	size_t len;
	uint32_t records;		/* 0 in the first format (unknown) */
	size_t end;			/* where the next frame starts */
	uint64_t seen;			/* records of the segment up to here */
};
/* What a segment lost: records in damaged or cut-short chunks. */
struct simlog_spool_loss {
	uint64_t records;		/* counted exactly */
	int unknown;			/* and more that cannot be counted */
	int damaged;			/* bytes that did not check out */
	int torn;			/* the file ends inside a chunk */
	uint64_t bad_bytes;
};
/* The next readable chunk: 1, or 0 at the end.  Damage is skipped (the
 * reader finds the next chunk whose header checks out) and counted. */
int simlog_spool_seg_next(struct simlog_spool_seg *seg,
			  struct simlog_spool_rec *r);
void simlog_spool_seg_loss(const struct simlog_spool_seg *seg,
			   struct simlog_spool_loss *loss);
const char *simlog_spool_seg_name(const struct simlog_spool_seg *seg);
/* Redis took the chunks before byte offset done (done_records of the
 * segment's records): keep only the rest.  The segment is released. */
int simlog_spool_seg_trim(struct simlog_spool *sp, struct simlog_spool_seg *seg,
			  size_t done, uint64_t done_records,
			  struct simlog_err *err);
/* Every readable chunk was replayed: delete the segment, or, when it had
 * damage, keep it as "<name>.damaged" (written to kept).  Released. */
int simlog_spool_seg_done(struct simlog_spool *sp, struct simlog_spool_seg *seg,
			  char *kept, size_t len);
/* Give a segment back untouched. */
void simlog_spool_seg_release(struct simlog_spool_seg *seg);

/* Spool size on this host for an endpoint directory, for monitoring
 * (struct simlog_spool_usage: simlog_health.h). */
int simlog_spool_usage(const char *dir, struct simlog_spool_usage *u);

/* What waits in an endpoint's spool directory, one segment at a time. */
enum simlog_spool_state {
	SIMLOG_SPOOL_WAITING,		/* replayable */
	SIMLOG_SPOOL_BUSY,		/* a live process holds it */
	SIMLOG_SPOOL_DAMAGED,		/* kept aside after a replay */
};
#define SIMLOG_SPOOL_STAT_SIMS 16
struct simlog_spool_stat {
	const char *name;		/* the file's name */
	enum simlog_spool_state state;
	uint64_t bytes, records, chunks;
	struct {
		char name[72];
		uint64_t records;
	} sims[SIMLOG_SPOOL_STAT_SIMS];	/* the first simulations in it */
	size_t nsims;
	struct simlog_spool_loss loss;
};
/* Call fn for each segment (fn returning non-zero stops); -1 if the
 * directory cannot be read. */
int simlog_spool_status(const char *dir,
			int (*fn)(void *, const struct simlog_spool_stat *),
			void *arg);
/* Every endpoint's spool under dir (DIR/<id>/ naming its endpoint, as
 * simlog_spool_open makes them), in name order: fn(arg, path, endpoint)
 * for each; fn returning non-zero stops, and is returned.  0 for a dir
 * that does not exist, -1 for one that cannot be read. */
int simlog_spool_each(const char *dir,
		      int (*fn)(void *, const char *path, const char *endpoint),
		      void *arg);


#endif

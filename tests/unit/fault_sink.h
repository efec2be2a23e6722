/*
 * A sink that fails on demand, for unit tests only (as SQLite's test VFS
 * is for SQLite's): a real SQLite sink behind the sink's backend table
 * (lib/sink/sink.h), with each entry point the engine reaches wrapped so
 * that the Nth time a named point is reached it fails with a chosen error
 * class, asks the drainer to stop, or kills the process (SIGKILL, for a
 * drain run in a child).  The point between the commit and the deletion
 * of the entries from Redis is the engine's own: it is reached through
 * the drainer's hook (lib/drain.h), which fault_sink_hooks() fills in.
 */
#ifndef SIMLOG_FAULT_SINK_H
#define SIMLOG_FAULT_SINK_H

#include "simlog.h"
#include "drain.h"

enum fault_point {
	FAULT_NONE,
	FAULT_BEGIN,		/* a transaction's BEGIN */
	FAULT_ROW,		/* a row (or dead letter) written */
	FAULT_MARK,		/* a batch id checked and recorded */
	FAULT_COMMIT,		/* the COMMIT, instead of committing */
	FAULT_COMMIT_LOST,	/* the COMMIT, after committing: its answer
				 * lost on the way */
	FAULT_ACK,		/* committed, the entries not yet deleted
				 * from Redis (the engine's hook) */
	FAULT_NPOINTS
};

enum fault_action {
	FAULT_FAIL,		/* fail with the plan's code */
	FAULT_STOP,		/* simlog_drainer_stop, and go on */
	FAULT_DIE,		/* SIGKILL this process, there and then */
};

struct fault_plan {
	enum fault_point at;
	unsigned long nth;		/* the nth time at is reached (1-) */
	enum fault_action act;
	int code;			/* FAULT_FAIL: the error class */
	int again;			/* FAULT_FAIL: and every time after */
	struct simlog_drainer *d;	/* FAULT_STOP: the drainer to stop */
	/* out */
	unsigned long seen[FAULT_NPOINTS];	/* times each was reached */
	unsigned long fired;		/* times it acted */
};

/* The points' names, as failures and tests name them. */
extern const char *const fault_names[FAULT_NPOINTS];

/* An SQLite sink on path that fails as plan says (the plan outlives it);
 * NULL with err set when the database cannot be opened. */
struct simlog_sink *fault_sink_open(const char *path, struct fault_plan *plan,
				    struct simlog_err *err);
/* The drainer's hooks that reach the engine's own point (FAULT_ACK). */
struct simlog_drain_hooks fault_sink_hooks(struct fault_plan *plan);

#endif

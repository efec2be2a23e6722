/*
 * The drainer's seam for tests (not installed): a drainer opened on a
 * sink the caller made, such as the unit tests' sink that fails on
 * demand (tests/unit/fault_sink.c), and a hook at the one point of a
 * transaction that is the engine's own, between the commit and the
 * deletion of the entries from Redis.
 */
#ifndef SIMLOG_DRAIN_INT_H
#define SIMLOG_DRAIN_INT_H

#include "simlog_drain.h"

struct simlog_sink;

struct simlog_drain_hooks {
	/* After each commit (and the database's check), before the entries
	 * are deleted from Redis: -1 with err set fails there, as the
	 * deletion failing would (err->stopped: as a stop would, nothing
	 * more done). */
	int (*committed)(void *arg, const char *sim, struct simlog_err *err);
	void *arg;
};

/* simlog_drainer_open on an open sink, which the drainer takes (freed at
 * close, or here on failure); o->db is not used.  hooks may be NULL. */
struct simlog_drainer *simlog_drainer_open_on(const struct simlog_drainer_opts *o,
					      struct simlog_sink *sink,
					      const struct simlog_drain_hooks *hooks,
					      struct simlog_err *err);

#endif

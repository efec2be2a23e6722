/*
 * The sink that fails on demand (fault_sink.h): each wrapped entry point
 * counts its passes and acts at the plan's one; the rest of the backend
 * table is the real SQLite sink's.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_sink.h"
#include "sink/sink.h"
#include "sink/sink_int.h"
#include "util.h"

const char *const fault_names[FAULT_NPOINTS] = {
	"none", "begin", "row", "mark", "commit", "commit (lost)", "ack",
};

/* The sinks made here, each with its plan and the real table. */
#define FAULT_SINKS 8
static struct fault_entry {
	struct simlog_sink *s;
	const struct simlog_sink_ops *real;
	struct fault_plan *plan;
} fault_reg[FAULT_SINKS];

static struct fault_entry *
fault_of(const struct simlog_sink *s)
{
	for (size_t i = 0; i < FAULT_SINKS; i++)
		if (fault_reg[i].s == s)
			return &fault_reg[i];
	abort();		/* a sink not made here */
}

/* Point p is reached: 0 go on, -1 fail with err set. */
static int
fault_hit(struct fault_plan *p, enum fault_point at, struct simlog_err *err)
{
	unsigned long n = ++p->seen[at];

	if (p->at != at || n < p->nth || (n > p->nth && !p->again))
		return 0;
	p->fired++;
	switch (p->act) {
	case FAULT_DIE:
		fflush(NULL);
		raise(SIGKILL);
		abort();
	case FAULT_STOP:
		simlog_drainer_stop(p->d);
		return 0;
	case FAULT_FAIL:
		break;
	}
	return simlog_seterr(err, p->code, "injected failure %d at %s #%lu",
	    p->code, fault_names[at], n);
}

static int
fault_begin(struct simlog_sink *s, const char *sim, struct simlog_err *err)
{
	struct fault_entry *f = fault_of(s);

	if (fault_hit(f->plan, FAULT_BEGIN, err) < 0)
		return -1;
	return f->real->begin(s, sim, err);
}

static int
fault_mark(struct simlog_sink *s, const unsigned char *id, uint32_t records,
	   int *dup, struct simlog_err *err)
{
	struct fault_entry *f = fault_of(s);

	if (fault_hit(f->plan, FAULT_MARK, err) < 0)
		return -1;
	return f->real->mark(s, id, records, dup, err);
}

/* A batch id that expect found missing is recorded without asking
 * again: the same point as mark. */
static int
fault_mark_new(struct simlog_sink *s, const unsigned char *id,
	       uint32_t records, struct simlog_err *err)
{
	struct fault_entry *f = fault_of(s);

	if (fault_hit(f->plan, FAULT_MARK, err) < 0)
		return -1;
	return f->real->mark_new(s, id, records, err);
}

static int
fault_insert_plain(struct simlog_sink *s, struct simlog_route *r,
		   const char *json, size_t len, struct simlog_err *err)
{
	struct fault_entry *f = fault_of(s);

	if (fault_hit(f->plan, FAULT_ROW, err) < 0)
		return -1;
	return f->real->insert_plain(s, r, json, len, err);
}

static int
fault_insert_row(struct simlog_sink *s, struct simlog_route *r,
		 const struct simlog_val *vals, const char *json, size_t len,
		 struct simlog_err *err)
{
	struct fault_entry *f = fault_of(s);

	if (fault_hit(f->plan, FAULT_ROW, err) < 0)
		return -1;
	return f->real->insert_row(s, r, vals, json, len, err);
}

static int
fault_reject(struct simlog_sink *s, const char *type, const char *json,
	     size_t len, const char *why, struct simlog_err *err)
{
	struct fault_entry *f = fault_of(s);

	if (fault_hit(f->plan, FAULT_ROW, err) < 0)
		return -1;
	return f->real->reject(s, type, json, len, why, err);
}

static int
fault_commit(struct simlog_sink *s, struct simlog_err *err)
{
	struct fault_entry *f = fault_of(s);

	if (fault_hit(f->plan, FAULT_COMMIT, err) < 0)
		return -1;
	if (f->real->commit(s, err) < 0)
		return -1;
	return fault_hit(f->plan, FAULT_COMMIT_LOST, err);
}

/* A commit in the background, which begins the next transaction: the
 * same three points, the commit and the begin where they are asked for,
 * the commit's answer where it is learnt (settle). */
static int
fault_commit_next(struct simlog_sink *s, struct simlog_err *err)
{
	struct fault_entry *f = fault_of(s);

	if (fault_hit(f->plan, FAULT_COMMIT, err) < 0 ||
	    f->real->commit_next(s, err) < 0)
		return -1;
	return fault_hit(f->plan, FAULT_BEGIN, err);
}

static int
fault_settle(struct simlog_sink *s, struct simlog_err *err)
{
	struct fault_entry *f = fault_of(s);

	if (f->real->settle(s, err) < 0)
		return -1;
	return fault_hit(f->plan, FAULT_COMMIT_LOST, err);
}

static void
fault_close(struct simlog_sink *s)
{
	struct fault_entry *f = fault_of(s);

	f->real->close(s);
	free((void *)s->ops);
	s->ops = f->real;
	memset(f, 0, sizeof(*f));
}

/* The engine's own point, through the drainer's hook: arg is the plan. */
static int
fault_committed(void *arg, const char *sim, struct simlog_err *err)
{
	(void)sim;
	return fault_hit(arg, FAULT_ACK, err);
}

struct simlog_drain_hooks
fault_sink_hooks(struct fault_plan *p)
{
	struct simlog_drain_hooks h = { fault_committed, p };

	return h;
}

struct simlog_sink *
fault_sink_open(const char *path, struct fault_plan *plan,
		struct simlog_err *err)
{
	struct simlog_sink_opts o = { .busy_timeout = 5, .timeout = 2 };
	struct simlog_sink_ops *ops;
	struct simlog_sink *s;
	size_t i;

	for (i = 0; i < FAULT_SINKS && fault_reg[i].s != NULL; i++)
		;
	if (i == FAULT_SINKS || (ops = malloc(sizeof(*ops))) == NULL)
		abort();
	if ((s = simlog_sink_open(path, &o, err)) == NULL) {
		free(ops);
		return NULL;
	}
	fault_reg[i].s = s;
	fault_reg[i].real = s->ops;
	fault_reg[i].plan = plan;
	*ops = *s->ops;
	ops->begin = fault_begin;
	ops->mark = fault_mark;
	if (ops->mark_new != NULL)
		ops->mark_new = fault_mark_new;
	ops->insert_plain = fault_insert_plain;
	ops->insert_row = fault_insert_row;
	ops->reject = fault_reject;
	ops->commit = fault_commit;
	if (ops->commit_next != NULL) {
		ops->commit_next = fault_commit_next;
		ops->settle = fault_settle;
	}
	ops->close = fault_close;
	s->ops = ops;
	return s;
}

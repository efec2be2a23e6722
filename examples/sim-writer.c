/*
 * sim-writer: a toy simulation that writes its records to Redis
 * through libsimlog's writer (libsimlog(3)), where another program
 * would pipe them to simlog-push(1).
 *
 *   cc -o sim-writer sim-writer.c $(pkg-config --cflags --libs simlog)
 *   SIMLOG_SIM=run42 ./sim-writer 4 100
 *   simlog-drain -d results.db
 *
 * Agents wander on a small torus; every move costs energy and some
 * cells hold food.  Each move is a "move" record, an agent that runs
 * out of energy leaves a "death" record, and the run ends with one
 * "run" record.  The run is the same every time (a fixed seed).
 *
 * At the end one JSON line on standard output says where the records
 * went, and so does the exit status, as simlog-push's does: 0 all are
 * in Redis, 65 some were refused as invalid, 74 some were lost, 75
 * some wait in the local spool for Redis, 77 Redis refused the
 * password (the records are in the spool); 64 for a bad command line,
 * and the writer's own code when it cannot start.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <simlog.h>

#define GRID 16		/* the world: GRID x GRID cells, a torus */
#define START_ENERGY 10
#define FOOD 4		/* energy gained on a cell with food */
#define MAX_AGENTS 1000

struct agent {
	int x, y, energy, alive;
};

/* What the simulation saw of the writer. */
struct run {
	long steps;		/* steps simulated */
	unsigned long long refused;	/* records found invalid */
	int lost;		/* 0, or the code of the error that
				 * made the writer take no more */
};

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Diagnostics from the library (retries, spooling, Redis back).  It
 * is called from the writer's own thread: it only writes to stderr. */
static void
say(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "sim-writer: %s\n", msg);
}

/* Park and Miller's minimal standard generator, seeded once. */
static uint32_t
rng(void)
{
	static uint32_t state = 42;

	state = (uint32_t)((uint64_t)state * 48271 % 2147483647);
	return state;
}

static int
has_food(int x, int y)
{
	return (x * 7 + y * 3) % 5 == 0;
}

/*
 * Hand one record to the writer.  Returns 0 to go on, -1 when the
 * writer takes no more records (the simulation should stop).
 */
static int
emit(struct simlog_writer *w, struct run *r, const char *rec,
     size_t len)
{
	struct simlog_err why;

	switch (simlog_writer_write(w, rec, len, &why)) {
	case 0:
		/* Taken: it will be in Redis, or in the spool, by the
		 * time simlog_writer_close() returns. */
		return 0;
	case 1:
		/* Refused: not a JSON object, no valid type, too
		 * long.  The other records are not affected. */
		fprintf(stderr, "sim-writer: record refused: %s\n",
		    why.msg);
		r->refused++;
		return 0;
	default:
		/* -1: nothing more can be stored (the spool is full
		 * or cannot be written), this record included. */
		fprintf(stderr, "sim-writer: %s; stopping\n", why.msg);
		r->lost = why.code ? why.code : SIMLOG_EX_SOFTWARE;
		return -1;
	}
}

/* Format a record and emit it. */
static int
emitf(struct simlog_writer *w, struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
emitf(struct simlog_writer *w, struct run *r, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		fprintf(stderr, "sim-writer: a record is too long\n");
		r->lost = SIMLOG_EX_SOFTWARE;
		return -1;
	}
	return emit(w, r, buf, (size_t)n);
}

/* One agent's step: move, spend energy, eat; its records. */
static int
step_agent(struct simlog_writer *w, struct run *r, struct agent *a,
	   int id, long step)
{
	a->x = (a->x + (int)(rng() % 3) - 1 + GRID) % GRID;
	a->y = (a->y + (int)(rng() % 3) - 1 + GRID) % GRID;
	a->energy--;
	if (has_food(a->x, a->y))
		a->energy += FOOD;
	if (emitf(w, r, "{\"type\":\"move\",\"agent\":%d,\"step\":%ld,"
	    "\"x\":%d,\"y\":%d,\"energy\":%d}", id, step, a->x, a->y,
	    a->energy) < 0)
		return -1;
	if (a->energy > 0)
		return 0;
	a->alive = 0;
	return emitf(w, r, "{\"type\":\"death\",\"agent\":%d,"
	    "\"step\":%ld}", id, step);
}

static void
simulate(struct simlog_writer *w, struct run *r, int n, long steps)
{
	struct agent agents[MAX_AGENTS];
	int alive = n;

	for (int i = 0; i < n; i++) {
		agents[i].x = (int)(rng() % GRID);
		agents[i].y = (int)(rng() % GRID);
		agents[i].energy = START_ENERGY;
		agents[i].alive = 1;
	}
	/* SIGINT or SIGTERM ends the run after the step in hand. */
	for (r->steps = 0; r->steps < steps && alive > 0 && !stop;
	    r->steps++) {
		for (int i = 0; i < n; i++) {
			if (!agents[i].alive)
				continue;
			if (step_agent(w, r, &agents[i], i,
			    r->steps) < 0)
				return;
			alive -= !agents[i].alive;
		}
	}
	emitf(w, r, "{\"type\":\"run\",\"agents\":%d,\"steps\":%ld,"
	    "\"alive\":%d}", n, r->steps, alive);
}

/* Where the records went, as one JSON line on standard output. */
static int
summary(const struct simlog_writer_stats *st, const struct run *r)
{
	struct simlog_jw j;

	simlog_jw_init(&j, stdout);
	simlog_jw_begin(&j);
	simlog_jw_kstr(&j, "sim", st->sim);
	simlog_jw_kint(&j, "steps", r->steps);
	simlog_jw_kuint(&j, "records", st->records);
	simlog_jw_kuint(&j, "refused", r->refused);
	simlog_jw_kuint(&j, "pushed", st->pushed);
	simlog_jw_kuint(&j, "spooled", st->spooled);
	simlog_jw_kuint(&j, "replayed", st->replayed);
	simlog_jw_kuint(&j, "dropped", st->dropped);
	simlog_jw_kuint(&j, "failed", st->failed);
	simlog_jw_kuint(&j, "spool_lost", st->spool_lost);
	simlog_jw_kuint(&j, "batches", st->batches);
	simlog_jw_kuint(&j, "stored_bytes", st->bytes);
	simlog_jw_kuint(&j, "retries", st->retries);
	simlog_jw_kstr(&j, "breaker", simlog_breaker_name(st->breaker));
	simlog_jw_kdouble(&j, "seconds", st->seconds, 3);
	if (simlog_jw_end(&j) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "sim-writer: writing the summary: %s\n",
		    strerror(simlog_jw_error(&j) ? simlog_jw_error(&j) :
		    errno));
		return -1;
	}
	return 0;
}

/* The records not in Redis decide, worst first (as simlog-push(1)). */
static int
exit_status(const struct simlog_writer_stats *st, const struct run *r)
{
	if (st->failed > 0 || st->spool_lost > 0 ||
	    st->spool_lost_unknown)
		return SIMLOG_EX_IOERR;		/* stored nowhere */
	if (r->lost)
		return r->lost;			/* e.g. out of memory */
	if (st->auth_failed)
		return SIMLOG_EX_NOPERM;	/* spooled */
	if (st->spooled > 0 && st->spool_pending)
		return SIMLOG_EX_TEMPFAIL;	/* safe in the spool */
	if (st->dropped > 0)
		return SIMLOG_EX_UNAVAILABLE;	/* priority low only */
	return r->refused > 0 ? SIMLOG_EX_DATAERR : SIMLOG_EX_OK;
}

/* A whole decimal number in [min, max]. */
static int
number(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return end == s || *end != '\0' || errno != 0 || *out < min ||
	    *out > max ? -1 : 0;
}

int
main(int argc, char **argv)
{
	struct simlog_writer_opts o;
	struct simlog_writer *w;
	struct simlog_writer_stats st;
	struct simlog_err err;
	struct run r = { 0, 0, 0 };
	struct sigaction sa;
	long agents = 4, steps = 100;
	int status;

	if (argc > 3 ||
	    (argc > 1 && number(argv[1], 1, MAX_AGENTS, &agents) < 0) ||
	    (argc > 2 && number(argv[2], 1, 1000000, &steps) < 0)) {
		fprintf(stderr, "usage: sim-writer [AGENTS [STEPS]]\n"
		    "  AGENTS 1 to %d (default 4), STEPS 1 to 1000000 "
		    "(default 100)\n", MAX_AGENTS);
		return SIMLOG_EX_USAGE;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/*
	 * The library's defaults: Redis from $SIMLOG_REDIS_URL (else
	 * redis://127.0.0.1:6379/0), the simulation from $SIMLOG_SIM
	 * (else "default"), each record's type from its "type"
	 * member, and what Redis does not take kept in the spool.
	 * Ours: the name CLIENT LIST shows, where diagnostics go, and
	 * the stop flag.
	 */
	simlog_writer_opts_init(&o);
	o.conn.name = "sim-writer";
	o.say = say;
	o.say_arg = NULL;
	/* Once set, a failing Redis is given up on at once (records go
	 * to the spool) and closing does not replay the spool. */
	o.stop = &stop;

	/* This does not wait for Redis: the writer connects in its own
	 * thread.  It fails for bad settings (SIMLOG_SIM, the URL, a
	 * password file) or a spool directory it cannot use. */
	if ((w = simlog_writer_open(&o, &err)) == NULL) {
		fprintf(stderr, "sim-writer: %s\n", err.msg);
		return err.code ? err.code : SIMLOG_EX_SOFTWARE;
	}
	simulate(w, &r, (int)agents, steps);

	/* Send or spool every record taken, wait for Redis's
	 * replies, replay the spool if Redis is there; then say where
	 * the records went. */
	simlog_writer_close(w, &st);
	status = exit_status(&st, &r);
	if (st.failed > 0)
		fprintf(stderr, "sim-writer: %llu records were not "
		    "stored anywhere: %s\n", st.failed, st.fatal.msg);
	if (status == SIMLOG_EX_TEMPFAIL)
		fprintf(stderr, "sim-writer: %llu records wait in the "
		    "spool %s; 'simlog-push --replay' sends them\n",
		    st.spooled, st.spool_dir);
	if (summary(&st, &r) < 0 && status == SIMLOG_EX_OK)
		status = SIMLOG_EX_IOERR;
	return status;
}

/*
 * The writer: records in, chunks out to Redis, never holding the producer
 * hostage (libsimlog(3), simlog-push(1)).
 *
 * The caller's thread validates each record and adds it to the chunk being
 * filled, under a lock of its own (fill) that the writer's thread takes
 * only to send a chunk whose flush interval is up: a record costs no
 * contended lock.  A full chunk (or one older than the flush interval)
 * joins a queue, under the lock the two threads share (mu).  Lock order:
 * fill, then mu.  A thread of the writer's own compresses queued chunks
 * and sends them through a bounded pipeline on one connection, reading
 * replies as they come.  Every wait it makes is bounded by the timeout.
 * When Redis fails, the policy (lib/policy.c) retries with the same
 * chunks; once it gives up, chunks go to the spool and the writer probes
 * Redis now and then, replaying the spool when Redis is back.
 *
 * The queue is bounded.  When it is full while Redis is failing (or has
 * taken nothing for a quarter of the timeout), the caller's thread spools
 * the chunk itself instead of waiting: once Redis stops answering, a
 * producer waits at most a quarter of the timeout, and not at all once a
 * failure is known.  While Redis is only slower than the producer, the
 * producer waits (back-pressure).  Priority critical waits for Redis
 * instead (up to its deadline), low drops instead of spooling.
 *
 * Accounting: every record taken ends up pushed, spooled, dropped or
 * failed (not stored anywhere), exactly once.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "breaker.h"
#include "chunk.h"
#include "json.h"
#include "maxmemory.h"
#include "net/conn.h"
#include "policy.h"
#include "queue.h"
#include "simlog.h"
#include "spool.h"
#include "util.h"

#define DEFAULT_QUEUE_MAX (4u << 20)
#define POOL_MAX 96		/* spare items kept for reuse */
#define CHUNK_BYTES (256 * 1024)	/* seal a chunk at this much raw JSON */

/* A chunk on its way: queued, in flight, or (spool) being replayed. */
struct item {
	struct simlog_chunk ch;
	char sim[72];
	struct item *next;
	double sent_at;
	int sealed;
	int from_spool;			/* a replayed chunk, not ours */
	size_t seg_end;			/* spool: where its frame ends */
	uint64_t seg_seen;		/* spool: segment records to here */
	int waits;			/* replicas a WAIT after it asks for
					 * (its reply follows the chunk's) */
};

enum wstate { W_SENDING, W_RECOVERING, W_SPOOLING };

struct simlog_writer {
	struct simlog_writer_opts o;
	char sim[72];
	char field[72];
	size_t flen;
	int sim_default;		/* sim_field: records without it go
					 * to sim */
	char last_type[64];		/* the last type found valid */
	size_t last_tlen;		/* (the caller's thread only) */
	char stream_key[SIMLOG_KEYLEN];

	pthread_mutex_t fill;		/* cur */
	pthread_mutex_t mu;
	pthread_cond_t space;		/* the queue has room, or progress */
	pthread_t thread;
	int started;
	int wake;			/* eventfd: work for the thread */

	/* under fill */
	struct item *cur;		/* being filled */
	/* atomic, so the writer's thread can look without the lock: */
	int cur_open;			/* cur holds a record */
	double cur_since;		/* when cur's first record came */
	unsigned long long accepted;	/* records taken (written by the
					 * caller's thread only) */

	/* under mu: what the caller's thread and the writer's thread share */
	struct item *qhead, *qtail;	/* full chunks, oldest first */
	size_t qbytes;
	struct item *pool;		/* spare items */
	int closing;
	int asleep;			/* the thread waits for a kick (also
					 * read atomically) */
	int fatal;			/* spool full or unwritable (also
					 * read atomically) */
	struct simlog_err fatal_err;
	uint64_t spool_lost;		/* spooled records the spool lost */
	struct simlog_err lost_err;	/* and why */
	enum wstate state;
	unsigned long long progress;	/* chunks Redis acknowledged */
	double progress_at;		/* when it last acknowledged one */
	size_t npool;
	struct simlog_writer_stats st;

	/* the writer's thread only */
	struct simlog_conn conn;
	struct simlog_policy pol;
	struct simlog_breaker brk;
	int have_brk;
	struct simlog_spool *spool;
	struct simlog_idgen ids;
	struct item **ring;		/* sent, awaiting replies, oldest first */
	size_t rhead, nring;
	double next_probe;
	double next_spool_look;		/* when to look for spooled segments */
	int spool_unreadable;		/* said that it cannot be listed */
	int policy_checked;
	struct simlog_spool_seg *seg;	/* being replayed */
	size_t seg_done;
	uint64_t seg_done_records;
	struct simlog_chunk scratch;
	const volatile sig_atomic_t *stop;
	unsigned long forks;		/* simlog_forks() when opened */
	int auto_wait;			/* --wait-replicas not given: wait for
					 * one where a failover is automatic
					 * and the master has replicas */
	int said_wait;			/* and said so */
	int said_aside;			/* said that a replay moved past
					 * chunks whose master is down */
};

void
simlog_writer_opts_init(struct simlog_writer_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->conn.timeout = 2;
	o->conn.name = "simlog";
	o->type_field = "type";
	o->batch = 1024;
	o->inflight = 8;
	o->max_record = 1 << 20;
	o->flush_interval = 0.25;
	o->prio = SIMLOG_PRIO_NORMAL;
	o->deadline = 30;
	o->spool_max = 1ull << 30;
	o->queue_max = DEFAULT_QUEUE_MAX;
	o->retries = -1;
	o->wait_replicas = -1;
	o->retry_base = o->retry_factor = o->retry_cap = -1;
}

/* Diagnostics go to the caller's say, if any. */
#define tell(w, ...) simlog_say((w)->o.say, (w)->o.say_arg, __VA_ARGS__)

static void
policy_say(void *arg, const char *msg)
{
	struct simlog_writer *w = arg;

	if (w->o.say != NULL)
		w->o.say(w->o.say_arg, msg);
}

/* The spool writes back what a vanished directory took; it says so
 * here, from whichever thread was spooling. */
static void
spool_say(void *arg, const char *msg)
{
	policy_say(arg, msg);
}

static void
kick(struct simlog_writer *w)
{
	uint64_t one = 1;

	(void)!write(w->wake, &one, sizeof(one));
}

/* --- items ---------------------------------------------------------------- */

static struct item *
item_get(struct simlog_writer *w)
{
	struct item *it = w->pool;

	if (it != NULL) {
		w->pool = it->next;
		w->npool--;
		simlog_chunk_reset(&it->ch);
	} else if ((it = calloc(1, sizeof(*it))) != NULL)
		simlog_chunk_init(&it->ch);
	if (it != NULL) {
		it->next = NULL;
		it->sealed = 0;
		it->from_spool = 0;
		it->waits = 0;
		snprintf(it->sim, sizeof(it->sim), "%s", w->sim);
	}
	return it;
}

/* Under mu.  A burst's surplus goes back to the system. */
static void
item_put(struct simlog_writer *w, struct item *it)
{
	if (w->npool >= POOL_MAX) {
		simlog_chunk_clear(&it->ch);
		free(it);
		return;
	}
	it->next = w->pool;
	w->pool = it;
	w->npool++;
}

static void
item_free_all(struct item *it)
{
	while (it != NULL) {
		struct item *next = it->next;

		simlog_chunk_clear(&it->ch);
		free(it);
		it = next;
	}
}

/* Under fill: take the chunk being filled (NULL when it is empty). */
static struct item *
detach_cur(struct simlog_writer *w)
{
	struct item *it = w->cur;

	if (it == NULL || it->ch.records == 0)
		return NULL;
	w->cur = NULL;
	__atomic_store_n(&w->cur_open, 0, __ATOMIC_SEQ_CST);
	return it;
}

/* Under mu: a chunk joins the queue. */
static void
enqueue(struct simlog_writer *w, struct item *it)
{
	if (it == NULL)
		return;
	if (w->qtail != NULL)
		w->qtail->next = it;
	else
		w->qhead = it;
	w->qtail = it;
	w->qbytes += it->ch.rawlen;
	/* A thread at work finds the chunk anyway: only a sleeping one
	 * needs the (system call's worth of) kick. */
	if (__atomic_load_n(&w->asleep, __ATOMIC_SEQ_CST))
		kick(w);
}

/* Compress a chunk under a fresh batch id. */
static int
seal(struct simlog_writer *w, struct item *it)
{
	unsigned char id[SIMLOG_BATCH_ID_LEN];

	if (it->sealed)
		return 0;
	simlog_idgen_next(&w->ids, id);
	/* Every record was checked on its way in (record_type). */
	if (simlog_chunk_seal(&it->ch, id, SIMLOG_SEAL_LZ4 |
	    SIMLOG_SEAL_CHECKED) < 0)
		return -1;
	it->sealed = 1;
	pthread_mutex_lock(&w->mu);
	w->st.batches++;
	w->st.bytes += it->ch.enclen;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* --- where records go when Redis does not take them ----------------------- */

/* Records spooled and then lost with a vanished spool directory are
 * failed, not spooled: the totals say where records are. */
static void
count_spool_lost(struct simlog_writer *w)
{
	struct simlog_err why;
	uint64_t n = simlog_spool_lost(w->spool, &why), more;

	pthread_mutex_lock(&w->mu);
	if (n > w->spool_lost) {
		more = n - w->spool_lost;
		w->spool_lost = n;
		w->lost_err = why;
		w->st.spooled -= more < w->st.spooled ? more : w->st.spooled;
		w->st.failed += more;
	}
	pthread_mutex_unlock(&w->mu);
}

/* Any thread: keep a chunk out of Redis (spool, or drop if low). */
static void
set_aside(struct simlog_writer *w, struct item *it)
{
	struct simlog_err e;
	uint32_t n = it->ch.records;
	int fatal = 0;

	if (w->o.prio == SIMLOG_PRIO_LOW) {
		pthread_mutex_lock(&w->mu);
		w->st.dropped += n;
		pthread_mutex_unlock(&w->mu);
		return;
	}
	pthread_mutex_lock(&w->mu);
	fatal = w->fatal;
	pthread_mutex_unlock(&w->mu);
	if (!fatal && seal(w, it) < 0)
		simlog_seterr(&e, SIMLOG_EX_SOFTWARE, "out of memory");
	else if (!fatal && simlog_spool_write(w->spool, it->sim, it->ch.enc,
	    it->ch.enclen, n, &e) == 0) {
		pthread_mutex_lock(&w->mu);
		w->st.spooled += n;
		pthread_mutex_unlock(&w->mu);
		count_spool_lost(w);
		return;
	}
	pthread_mutex_lock(&w->mu);
	if (!w->fatal) {
		w->fatal_err = e;
		__atomic_store_n(&w->fatal, 1, __ATOMIC_RELEASE);
		w->st.spool_failed = 1;
	}
	w->st.failed += n;
	pthread_cond_broadcast(&w->space);
	pthread_mutex_unlock(&w->mu);
}

/* --- accepting records ---------------------------------------------------- */

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The record's type, validated; 1 with why filled when it has none. */
/* --sim-field: the simulation a record names, into sbuf; the default
 * (sim) for one that names none, if there is a default. */
static int
record_sim(struct simlog_writer *w, const char *line, size_t len, char *sbuf,
	   struct simlog_err *why)
{
	const char *f = w->o.sim_field, *what;
	struct simlog_jfield v;
	size_t at, n;

	/* The line was scanned whole already: this cannot fail. */
	simlog_json_scan(line, len, f, strlen(f), &v, &what, &at);
	if (v.kind == SIMLOG_J_ABSENT && w->sim_default) {
		snprintf(sbuf, 72, "%s", w->sim);
		return 0;
	}
	if (v.kind == SIMLOG_J_ABSENT)
		return simlog_seterr(why, SIMLOG_EX_DATAERR, "no \"%s\" field "
		    "(the record's simulation), and no default simulation "
		    "(-s)", f), 1;
	if (v.kind != SIMLOG_J_STRING || v.dup)
		return simlog_seterr(why, SIMLOG_EX_DATAERR, "\"%s\" %s", f,
		    v.dup ? "appears twice" : "is not a string"), 1;
	n = v.len;
	if (n < 72 && v.escaped)
		n = simlog_json_unescape(v.val, v.len, sbuf);
	else if (n < 72)
		memcpy(sbuf, v.val, n);
	if (n >= 72 || !simlog_valid_sim(sbuf, n))
		return simlog_seterr(why, SIMLOG_EX_DATAERR, "\"%s\": not a "
		    "simulation name (1-64 of [A-Za-z0-9_.-])", f), 1;
	sbuf[n] = '\0';
	return 0;
}

static int
record_type(struct simlog_writer *w, const char *line, size_t len,
	    char *tbuf, size_t tcap, const char **type, size_t *tlen,
	    struct simlog_err *why)
{
	struct simlog_jfield f;
	const char *what;
	size_t at;

	if (simlog_json_scan(line, len, w->o.type ? NULL : w->field, w->flen,
	    &f, &what, &at) < 0) {
		simlog_seterr(why, SIMLOG_EX_DATAERR, "%s at byte %zu", what,
		    at + 1);
		return 1;
	}
	if (w->o.type != NULL) {
		*type = w->o.type;
		*tlen = strlen(w->o.type);
		return 0;
	}
	if (f.kind == SIMLOG_J_ABSENT) {
		simlog_seterr(why, SIMLOG_EX_DATAERR, "no \"%s\" field%s",
		    w->field, w->o.type_hint ? w->o.type_hint : "");
		return 1;
	}
	if (f.kind != SIMLOG_J_STRING) {
		simlog_seterr(why, SIMLOG_EX_DATAERR, "\"%s\" is not a string",
		    w->field);
		return 1;
	}
	if (f.dup) {
		simlog_seterr(why, SIMLOG_EX_DATAERR, "\"%s\" appears twice",
		    w->field);
		return 1;
	}
	*type = f.val;
	*tlen = f.len;
	/* Records of a type come in runs: the last type checked is the
	 * likeliest, and needs no second look. */
	if (!f.escaped && f.len == w->last_tlen &&
	    memcmp(f.val, w->last_type, f.len) == 0)
		return 0;
	if (f.escaped) {
		/* Decoding never grows; a type is at most 63 bytes anyway. */
		if (f.len > tcap) {
			simlog_seterr(why, SIMLOG_EX_DATAERR,
			    "type longer than 63 characters");
			return 1;
		}
		*tlen = simlog_json_unescape(f.val, f.len, tbuf);
		*type = tbuf;
	}
	if (simlog_valid_type(*type, *tlen, &what) < 0) {
		simlog_seterr(why, SIMLOG_EX_DATAERR, "%s", what);
		return 1;
	}
	if (!f.escaped && *tlen < sizeof(w->last_type)) {
		memcpy(w->last_type, *type, *tlen);
		w->last_tlen = *tlen;
	}
	return 0;
}

/*
 * Under mu, queue full: wait for room (Redis is slower than the producer:
 * back-pressure), or say to spool (1) instead when Redis is failing or
 * has taken nothing for a quarter of the timeout (frozen, most likely:
 * the failure is not known yet, but waiting for it would hold the
 * producer up).
 */
static int
wait_for_room(struct simlog_writer *w)
{
	double stall = w->o.conn.timeout / 4;

	while (w->qbytes >= w->o.queue_max && !w->fatal) {
		struct timespec ts;
		double t;

		if (w->o.prio != SIMLOG_PRIO_CRITICAL &&
		    (w->state != W_SENDING ||
		    simlog_now_mono() - w->progress_at >= stall))
			return 1;
		t = simlog_now_wall() + 0.05;
		ts.tv_sec = (time_t)t;
		ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&w->space, &w->mu, &ts);
	}
	return 0;
}

/* In a child of the process that opened the writer, whose thread, locks
 * and connection stayed with the parent: nothing of it may be touched. */
static int
forked(const struct simlog_writer *w)
{
	return simlog_forks() != w->forks;
}

/* A sealed chunk to the thread, once the queue has room (or set aside, as
 * the thread would, when it has none in time).  0, or -1 with why. */
static int
hand_over(struct simlog_writer *w, struct item *full, struct simlog_err *why)
{
	struct item *overflow = NULL;
	int rc = 0;

	pthread_mutex_lock(&w->mu);
	if (w->qbytes >= w->o.queue_max && wait_for_room(w)) {
		overflow = full;
		w->st.overflowed += overflow->ch.records;
	} else
		enqueue(w, full);
	pthread_mutex_unlock(&w->mu);
	if (overflow != NULL) {
		/* Not under the lock: spooling is disk I/O. */
		set_aside(w, overflow);
		pthread_mutex_lock(&w->mu);
		item_put(w, overflow);
		if (w->fatal && why != NULL) {
			*why = w->fatal_err;
			rc = -1;
		}
		pthread_mutex_unlock(&w->mu);
	}
	return rc;
}

int
simlog_writer_write(struct simlog_writer *w, const char *line, size_t len,
		    struct simlog_err *why)
{
	const char *type;
	size_t tlen;
	char tbuf[80];
	struct item *full;
	char sim[72];
	int rc = 0;

	if (forked(w))
		return simlog_seterr(why, SIMLOG_EX_USAGE, "the writer was "
		    "opened before a fork(2): a child opens a writer of its "
		    "own");
	while (len > 0 && is_space(line[0])) {
		line++;
		len--;
	}
	while (len > 0 && is_space(line[len - 1]))
		len--;
	if (len == 0) {
		simlog_seterr(why, SIMLOG_EX_DATAERR, "empty record");
		return 1;
	}
	/* A chunk ends records at line feeds: one inside would cut this
	 * record in two and spoil its whole chunk. */
	if (memchr(line, '\n', len) != NULL) {
		simlog_seterr(why, SIMLOG_EX_DATAERR, "a line feed inside the "
		    "record (a record is one line)");
		return 1;
	}
	if (len > w->o.max_record) {
		simlog_seterr(why, SIMLOG_EX_DATAERR, "record of %zu bytes is "
		    "longer than the largest accepted, %zu", len,
		    w->o.max_record);
		return 1;
	}
	if (record_type(w, line, len, tbuf, sizeof(tbuf), &type, &tlen, why) ||
	    (w->o.sim_field != NULL && record_sim(w, line, len, sim, why)))
		return 1;
	if (__atomic_load_n(&w->fatal, __ATOMIC_ACQUIRE) || w->closing) {
		pthread_mutex_lock(&w->mu);
		if (w->fatal && why != NULL)
			*why = w->fatal_err;
		else if (!w->fatal)
			simlog_seterr(why, SIMLOG_EX_SOFTWARE, "writer closed");
		/* Taken and stored nowhere: counted, so the totals add up. */
		if (w->fatal) {
			__atomic_store_n(&w->accepted, w->accepted + 1,
			    __ATOMIC_RELAXED);
			w->st.failed++;
		}
		pthread_mutex_unlock(&w->mu);
		return -1;
	}
	pthread_mutex_lock(&w->fill);
	/* A chunk holds one simulation's records: another simulation's
	 * record seals it. */
	if (w->o.sim_field != NULL && w->cur != NULL &&
	    w->cur->ch.records > 0 && strcmp(w->cur->sim, sim) != 0) {
		full = detach_cur(w);
		pthread_mutex_unlock(&w->fill);
		if ((rc = hand_over(w, full, why)) < 0)
			return rc;
		pthread_mutex_lock(&w->fill);
	}
	if (w->cur == NULL) {
		pthread_mutex_lock(&w->mu);
		w->cur = item_get(w);
		pthread_mutex_unlock(&w->mu);
		if (w->cur == NULL)
			goto oom;
	}
	if (w->o.sim_field != NULL && w->cur->ch.records == 0)
		snprintf(w->cur->sim, sizeof(w->cur->sim), "%s", sim);
	if (simlog_chunk_add(&w->cur->ch, type, tlen, line, len) < 0)
		goto oom;
	__atomic_store_n(&w->accepted, w->accepted + 1, __ATOMIC_RELAXED);
	if (w->cur->ch.records == 1) {
		double t = simlog_now_mono();

		__atomic_store(&w->cur_since, &t, __ATOMIC_RELAXED);
		__atomic_store_n(&w->cur_open, 1, __ATOMIC_SEQ_CST);
		/* The thread may be asleep for a second: it must wake when
		 * this chunk's flush interval is up, not then.  (It flags
		 * asleep before it looks at cur_open: one of the two sees
		 * the other.) */
		if (w->o.flush_interval > 0 &&
		    __atomic_load_n(&w->asleep, __ATOMIC_SEQ_CST))
			kick(w);
	}
	/* A chunk never holds more types than a drain takes in one. */
	if (w->cur->ch.records < w->o.batch &&
	    w->cur->ch.rawlen < CHUNK_BYTES &&
	    w->cur->ch.ntypes < SIMLOG_CHUNK_MAXTYPES) {
		pthread_mutex_unlock(&w->fill);
		return 0;
	}
	/* Full: out of fill before any wait, so the thread never waits on
	 * a producer that waits on the thread. */
	full = detach_cur(w);
	pthread_mutex_unlock(&w->fill);
	return hand_over(w, full, why);
oom:
	pthread_mutex_unlock(&w->fill);
	simlog_seterr(why, SIMLOG_EX_SOFTWARE, "out of memory");
	return -1;
}

void
simlog_writer_flush(struct simlog_writer *w)
{
	struct item *it;

	if (forked(w))
		return;
	pthread_mutex_lock(&w->fill);
	it = detach_cur(w);
	pthread_mutex_unlock(&w->fill);
	pthread_mutex_lock(&w->mu);
	enqueue(w, it);
	pthread_mutex_unlock(&w->mu);
}

void
simlog_writer_stats(struct simlog_writer *w, struct simlog_writer_stats *st)
{
	if (forked(w)) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&w->mu);
	*st = w->st;
	st->spooling = w->state != W_SENDING;
	pthread_mutex_unlock(&w->mu);
	st->records = __atomic_load_n(&w->accepted, __ATOMIC_RELAXED);
	snprintf(st->sim, sizeof(st->sim), "%s", w->sim);
	snprintf(st->spool_dir, sizeof(st->spool_dir), "%s",
	    w->spool ? simlog_spool_dir(w->spool) : "");
}

/* --- the writer's thread: sending ----------------------------------------- */

static void
set_state(struct simlog_writer *w, enum wstate s)
{
	pthread_mutex_lock(&w->mu);
	w->state = s;
	pthread_cond_broadcast(&w->space);
	pthread_mutex_unlock(&w->mu);
}

/*
 * How many replicas must confirm a chunk of key's stream: --wait-replicas;
 * by default one, behind sentinels or in a cluster (where a replica takes
 * over by itself, and what it does not have is lost) when the master has
 * replicas, so that an acknowledged record survives a failover.
 */
static int
replicas_to_wait(struct simlog_writer *w, const char *key)
{
	int have;

	if (!w->auto_wait)
		return w->o.wait_replicas;
	if (w->conn.url.topo == SIMLOG_TOPO_SINGLE ||
	    (have = simlog_conn_replicas(&w->conn, key)) <= 0)
		return 0;
	if (!w->said_wait) {
		w->said_wait = 1;
		tell(w, "%s: the master has %d replica%s: a chunk counts as "
		    "pushed once one of them has it too (--wait-replicas 0 "
		    "not to wait)", w->conn.display, have, have == 1 ? "" :
		    "s");
	}
	return 1;
}

/* Append a chunk's command (and its WAIT) to the pipeline. */
static int
send_item(struct simlog_writer *w, struct item *it, struct simlog_err *e)
{
	char n[16], ms[24], key[SIMLOG_KEYLEN];
	const char *av[3] = { "WAIT", n, ms };

	if (simlog_push_append_enc(&w->conn, it->sim, it->ch.enc,
	    it->ch.enclen, it->ch.types, it->ch.ntypes, w->o.max_backlog,
	    e) < 0)
		return -1;
	simlog_key_stream(it->sim, key);
	it->waits = replicas_to_wait(w, key);
	if (it->waits > 0) {
		snprintf(n, sizeof(n), "%d", it->waits);
		snprintf(ms, sizeof(ms), "%.0f", w->o.conn.timeout * 1000);
		if (simlog_conn_append_to(&w->conn, key, 3, av, NULL, e) < 0)
			return -1;
	}
	it->sent_at = simlog_now_mono();
	return 0;
}

/* The reply (and WAIT reply) of the oldest chunk in flight, r already
 * read; 0 stored (and confirmed), -1 not (e says why). */
static int
settle_oldest(struct simlog_writer *w, redisReply *r, struct simlog_err *e)
{
	struct item *it = w->ring[w->rhead];
	int rc = 0;

	if (r->type != REDIS_REPLY_STRING) {
		simlog_conn_error(&w->conn, r, "storing a batch", e);
		rc = -1;
	}
	freeReplyObject(r);
	if (it->waits) {
		redisReply *wr;

		if (simlog_conn_recv(&w->conn, it->sent_at + w->o.conn.timeout +
		    w->o.conn.timeout, &wr, e) < 0)
			return simlog_conn_error(&w->conn, NULL,
			    "waiting for replicas", e);
		if (rc == 0 && wr->type != REDIS_REPLY_INTEGER) {
			simlog_conn_error(&w->conn, wr, "WAIT", e);
			rc = -1;
		} else if (rc == 0 && wr->integer < it->waits) {
			simlog_seterr(e, SIMLOG_EX_TEMPFAIL, "%s: only %lld of "
			    "%d replicas confirmed a batch within %g s",
			    w->conn.display, wr->integer, it->waits,
			    w->o.conn.timeout);
			rc = -1;
		}
		freeReplyObject(wr);
	}
	return rc;
}

/* Redis took the oldest chunk in flight. */
static void
acked(struct simlog_writer *w)
{
	struct item *it = w->ring[w->rhead];

	w->rhead = (w->rhead + 1) % w->o.inflight;
	w->nring--;
	pthread_mutex_lock(&w->mu);
	if (it->from_spool)
		w->st.replayed += it->ch.records;
	else
		w->st.pushed += it->ch.records;
	w->progress++;
	w->progress_at = simlog_now_mono();
	pthread_cond_broadcast(&w->space);
	if (it->from_spool) {
		w->seg_done = it->seg_end;
		w->seg_done_records = it->seg_seen;
	}
	item_put(w, it);
	pthread_mutex_unlock(&w->mu);
}

/* Wait for the oldest chunk's reply, by its deadline. */
static int
ack_oldest(struct simlog_writer *w, struct simlog_err *e)
{
	struct item *it = w->ring[w->rhead];
	redisReply *r;

	if (simlog_conn_recv(&w->conn, it->sent_at + w->o.conn.timeout, &r,
	    e) < 0)
		return simlog_conn_error(&w->conn, NULL, "storing a batch", e);
	if (settle_oldest(w, r, e) < 0)
		return -1;
	acked(w);
	return 0;
}

/* Replies that have already come, without waiting. */
static int
ack_ready(struct simlog_writer *w, struct simlog_err *e)
{
	while (w->nring > 0) {
		redisReply *r;
		int got = simlog_conn_try_recv(&w->conn, &r, e);

		if (got < 0)
			return -1;
		if (got == 0)
			return 0;
		if (settle_oldest(w, r, e) < 0)
			return -1;
		acked(w);
	}
	return 0;
}

/* The op the policy retries: connect is done; send every chunk still
 * unacknowledged again and wait for all replies.  Chunks Redis had
 * stored are stored twice; simlog-drain keeps one (batch ids). */
static int
resend_all(struct simlog_conn *conn, void *arg, struct simlog_err *e)
{
	struct simlog_writer *w = arg;

	(void)conn;
	for (size_t i = 0; i < w->nring; i++)
		if (send_item(w, w->ring[(w->rhead + i) % w->o.inflight],
		    e) < 0)
			return -1;
	if (simlog_conn_flush(&w->conn, e) < 0)
		return -1;
	while (w->nring > 0)
		if (ack_oldest(w, e) < 0)
			return -1;
	return 0;
}

static void
check_policy(struct simlog_writer *w)
{
	char *policy;

	if (w->policy_checked)
		return;
	w->policy_checked = 1;
	if ((policy = simlog_maxmemory_policy(&w->conn)) != NULL) {
		if (simlog_maxmemory_evicts(policy))
			tell(w, "%s: maxmemory-policy %s lets Redis evict "
			    "buffered records; use noeviction", w->conn.display,
			    policy);
		free(policy);
	}
}

/* Let go of a segment being replayed: what Redis took leaves it. */
static void
seg_let_go(struct simlog_writer *w)
{
	struct simlog_err e;

	if (w->seg == NULL)
		return;
	if (simlog_spool_seg_trim(w->spool, w->seg, w->seg_done,
	    w->seg_done_records, &e) < 0)
		tell(w, "%s", e.msg);
	w->seg = NULL;
}

/* Redis is given up on for now: chunks in flight go to the spool. */
static void
start_spooling(struct simlog_writer *w, const struct simlog_err *e)
{
	int quiet = w->state == W_SPOOLING;

	while (w->nring > 0) {
		struct item *it = w->ring[w->rhead];

		w->rhead = (w->rhead + 1) % w->o.inflight;
		w->nring--;
		/* A replayed chunk is still in its segment. */
		if (!it->from_spool)
			set_aside(w, it);
		pthread_mutex_lock(&w->mu);
		item_put(w, it);
		pthread_mutex_unlock(&w->mu);
	}
	seg_let_go(w);
	simlog_conn_close(&w->conn);
	if (e->code == SIMLOG_EX_NOPERM || e->code == SIMLOG_EX_CONFIG ||
	    e->code == SIMLOG_EX_OSERR) {
		pthread_mutex_lock(&w->mu);
		if (e->code == SIMLOG_EX_NOPERM)
			w->st.auth_failed = 1;
		else if (e->code == SIMLOG_EX_CONFIG)
			w->st.config_failed = 1;
		else
			w->st.local_failed = 1;
		pthread_mutex_unlock(&w->mu);
	}
	if (!quiet)
		tell(w, "%s; %s to %s%s", e->msg,
		    w->o.prio == SIMLOG_PRIO_LOW ? "dropping records instead "
		    "of spooling them" : "spooling records",
		    simlog_spool_dir(w->spool), e->code == SIMLOG_EX_OSERR ?
		    "" : " until Redis is back");
	set_state(w, W_SPOOLING);
	w->next_probe = simlog_now_mono() + (w->have_brk ? w->brk.reset : 5);
}

/* After a failure: retry as the priority allows, or spool. */
static void
recover(struct simlog_writer *w, struct simlog_err *e)
{
	simlog_conn_close(&w->conn);
	if (!simlog_policy_transient(e)) {
		start_spooling(w, e);
		return;
	}
	set_state(w, W_RECOVERING);
	w->pol.give_up_at = w->o.prio == SIMLOG_PRIO_CRITICAL ?
	    simlog_now_mono() + w->o.deadline : 0;
	if (simlog_policy_run(&w->conn, &w->pol, SIMLOG_RUN_FAILED,
	    resend_all, w, e) == 0) {
		set_state(w, W_SENDING);
		return;
	}
	start_spooling(w, e);
}

/*
 * Behind sentinels: have they switched the master?  A demoted master may
 * go on taking writes until it is reconfigured, and what it takes then is
 * lost; the sentinels' word is acted on at once, as a failure: the chunks
 * it has not acknowledged go to the new master.
 */
static int
failed_over(struct simlog_writer *w, struct simlog_err *e)
{
	if (w->conn.url.topo != SIMLOG_TOPO_SENTINEL)
		return 0;
	(void)simlog_conn_watch_fd(&w->conn);
	return simlog_conn_watch_check(&w->conn, e) == 1;
}

/* Send one chunk into the pipeline, making room first. */
static void
deliver(struct simlog_writer *w, struct item *it)
{
	struct simlog_err e;

	for (;;) {
		if (w->state == W_SPOOLING) {
			set_aside(w, it);
			pthread_mutex_lock(&w->mu);
			item_put(w, it);
			pthread_mutex_unlock(&w->mu);
			return;
		}
		if (failed_over(w, &e)) {
			recover(w, &e);
			continue;
		}
		/* Room first; the chunk is not in flight yet, so a failure
		 * here leaves it to this loop: sent after the recovery, or
		 * set aside. */
		if (w->nring == w->o.inflight && ack_oldest(w, &e) < 0) {
			recover(w, &e);
			continue;
		}
		w->ring[(w->rhead + w->nring) % w->o.inflight] = it;
		w->nring++;
		/* In flight now: a recovery resends it or sets it aside. */
		if (send_item(w, it, &e) < 0 ||
		    simlog_conn_flush(&w->conn, &e) < 0)
			recover(w, &e);
		return;
	}
}

/* One go at Redis while spooling: connect, and resume if it answers. */
static void
probe(struct simlog_writer *w)
{
	struct simlog_policy once = w->pol;
	struct simlog_err e;

	/* Refused credentials or a setting at fault will not mend by
	 * themselves: no probing for the rest of the run. */
	if (w->st.auth_failed || w->st.config_failed ||
	    simlog_now_mono() < w->next_probe)
		return;
	once.retry.tries = 0;
	once.give_up_at = 0;
	once.say = NULL;
	if (simlog_policy_run(&w->conn, &once, 0, resend_all, w, &e) == 0) {
		tell(w, "%s: Redis is back; sending records again",
		    w->conn.display);
		/* Our segment becomes replayable, at once. */
		simlog_spool_seal(w->spool);
		w->next_spool_look = 0;
		set_state(w, W_SENDING);
		return;
	}
	simlog_conn_close(&w->conn);
	w->next_probe = simlog_now_mono() + (w->have_brk ? w->brk.reset : 5);
	if (w->have_brk && w->brk.retry_at - simlog_now_wall() > 0)
		w->next_probe = simlog_now_mono() + w->brk.retry_at -
		    simlog_now_wall();
}

/* --- replaying the spool -------------------------------------------------- */

/* Every readable chunk of the segment is in Redis: it goes (or, with
 * damage, is kept aside), and what it lost is said and counted. */
static void
seg_finished(struct simlog_writer *w)
{
	struct simlog_spool_loss loss;
	char name[700], kept[720];

	simlog_spool_seg_loss(w->seg, &loss);
	snprintf(name, sizeof(name), "%s", simlog_spool_seg_name(w->seg));
	/* What it moved past is on disk, in a segment of its own, before
	 * the segment goes. */
	simlog_spool_seal_aside(w->spool);
	simlog_spool_seg_done(w->spool, w->seg, kept, sizeof(kept));
	w->seg = NULL;
	if (!loss.damaged && !loss.torn)
		return;
	pthread_mutex_lock(&w->mu);
	w->st.spool_lost += loss.records;
	w->st.spool_lost_unknown |= loss.unknown;
	w->st.damaged_segments++;
	pthread_mutex_unlock(&w->mu);
	if (loss.records == 0 && !loss.unknown && !loss.damaged) {
		tell(w, "spool: %s: its last record was cut short (the push "
		    "writing it was killed, or its disk was full, so it was "
		    "never counted as spooled); the rest was replayed, the "
		    "file is kept as %s", name, kept);
		return;
	}
	tell(w, "spool: %s: %s: %llu records lost%s; the readable rest was "
	    "replayed, the file is kept as %s", name, loss.damaged ?
	    "damaged bytes were skipped" : "the file was cut short",
	    (unsigned long long)loss.records, loss.unknown ? ", and more "
	    "after the damage that cannot be counted (the segment has no end "
	    "mark)" : "", kept);
}

/*
 * In a cluster a spooled chunk may belong to a master that is down while
 * the others are up: sent, it would fail the pipeline and send the run's
 * own records to the spool too.  It is asked first whether it answers.
 */
static int
master_answers(struct simlog_writer *w, const struct simlog_spool_rec *rec)
{
	char key[SIMLOG_KEYLEN];
	struct simlog_err e;

	if (w->conn.url.topo != SIMLOG_TOPO_CLUSTER)
		return 1;
	simlog_key_stream(rec->sim, key);
	if (simlog_conn_reachable(&w->conn, key, &e) == 0)
		return 1;
	if (!w->said_aside) {
		w->said_aside = 1;
		tell(w, "spool: %s; the records of %s (and of any simulation "
		    "on that master) stay in the spool, the rest is replayed",
		    e.msg, rec->sim);
	}
	return 0;
}

/* Keep a chunk whose master does not answer in a segment of its own,
 * and go on past it; 0 when it could not be kept (the replay stops here:
 * the segment keeps it). */
static int
move_past(struct simlog_writer *w, const struct simlog_spool_rec *rec)
{
	struct simlog_err e;

	if (simlog_spool_write_aside(w->spool, rec->sim, rec->chunk, rec->len,
	    rec->records, &e) < 0) {
		tell(w, "%s", e.msg);
		return 0;
	}
	pthread_mutex_lock(&w->mu);
	w->st.deferred += rec->records;
	pthread_mutex_unlock(&w->mu);
	return 1;
}

/* Queue up to a window of spooled chunks; 0 when there is nothing. */
static int
replay_some(struct simlog_writer *w)
{
	struct simlog_spool_rec rec;
	struct simlog_err e;

	if (w->seg == NULL) {
		/* Reading the directory each time the thread catches up
		 * would cost a system call or five per chunk: once a second
		 * finds what other processes spooled soon enough. */
		double now = simlog_now_mono();

		if (now < w->next_spool_look)
			return 0;
		w->next_spool_look = now + 1;
		switch (simlog_spool_pending(w->spool, &e)) {
		case -1:
			if (!w->spool_unreadable)
				tell(w, "%s; its segments are not replayed",
				    e.msg);
			w->spool_unreadable = 1;
			return 0;
		case 0:
			return 0;
		}
		w->spool_unreadable = 0;
		if (simlog_spool_take(w->spool, &w->seg, &e) <= 0) {
			w->seg = NULL;
			return 0;
		}
		w->seg_done = 0;
		w->seg_done_records = 0;
	}
	while (w->nring < w->o.inflight) {
		struct item *it;

		if (simlog_spool_seg_next(w->seg, &rec) == 0) {
			if (w->nring == 0)
				break;	/* done once all are acknowledged */
			return 1;
		}
		if (!master_answers(w, &rec)) {
			if (!move_past(w, &rec))
				return 0;
			continue;
		}
		pthread_mutex_lock(&w->mu);
		it = item_get(w);
		pthread_mutex_unlock(&w->mu);
		if (it == NULL)
			return 0;
		if (simlog_chunk_decode(&it->ch, rec.chunk, rec.len, &e) < 0) {
			/* Checked by its CRC, yet not a chunk: count it. */
			pthread_mutex_lock(&w->mu);
			w->st.spool_lost += rec.records;
			item_put(w, it);
			pthread_mutex_unlock(&w->mu);
			continue;
		}
		/* Send the bytes as they were spooled. */
		if (simlog_chunk_set_enc(&it->ch, rec.chunk, rec.len) < 0) {
			pthread_mutex_lock(&w->mu);
			item_put(w, it);
			pthread_mutex_unlock(&w->mu);
			return 0;
		}
		it->sealed = 1;
		it->from_spool = 1;
		it->seg_end = rec.end;
		it->seg_seen = rec.seen;
		snprintf(it->sim, sizeof(it->sim), "%s", rec.sim);
		deliver(w, it);
		if (w->state != W_SENDING)
			return 0;
	}
	if (w->nring == 0 && w->seg != NULL)
		seg_finished(w);
	return 1;
}

/* --- the writer's thread -------------------------------------------------- */

/* The chunk being filled is due: its flush interval is up, or the writer
 * is closing. */
static int
cur_due(struct simlog_writer *w, int closing)
{
	double since;

	if (!__atomic_load_n(&w->cur_open, __ATOMIC_SEQ_CST))
		return 0;
	__atomic_load(&w->cur_since, &since, __ATOMIC_RELAXED);
	return closing || (w->o.flush_interval > 0 &&
	    simlog_now_mono() - since >= w->o.flush_interval * 0.999);
}

/* What the thread should do now. */
static struct item *
take_work(struct simlog_writer *w, int *done)
{
	struct item *it = NULL;
	int closing = __atomic_load_n(&w->closing, __ATOMIC_ACQUIRE);

	if (cur_due(w, closing)) {
		/* Looked at without the lock: again under it (the chunk
		 * seen may have filled up and gone meanwhile). */
		pthread_mutex_lock(&w->fill);
		if (cur_due(w, closing))
			it = detach_cur(w);
		pthread_mutex_unlock(&w->fill);
	}
	*done = 0;
	pthread_mutex_lock(&w->mu);
	enqueue(w, it);
	it = NULL;
	if (w->qhead != NULL) {
		it = w->qhead;
		w->qhead = it->next;
		if (w->qhead == NULL)
			w->qtail = NULL;
		w->qbytes -= it->ch.rawlen;
		it->next = NULL;
		pthread_cond_broadcast(&w->space);
	} else if (w->closing && !__atomic_load_n(&w->cur_open,
	    __ATOMIC_SEQ_CST))
		*done = 1;
	pthread_mutex_unlock(&w->mu);
	return it;
}

/* How long the thread may sleep (ms) before something falls due. */
static int
sleep_ms(struct simlog_writer *w)
{
	double now = simlog_now_mono(), until = now + 1.0;

	pthread_mutex_lock(&w->mu);
	/* Checked and flagged under the lock the caller's thread queues
	 * under: a chunk queued from now on comes with a kick. */
	if (w->qhead != NULL || w->closing)
		until = now;
	else
		__atomic_store_n(&w->asleep, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&w->mu);
	/* After asleep is flagged: a chunk opened from now on comes with a
	 * kick, one opened before is seen here. */
	if (w->o.flush_interval > 0 &&
	    __atomic_load_n(&w->cur_open, __ATOMIC_SEQ_CST)) {
		double due;

		__atomic_load(&w->cur_since, &due, __ATOMIC_RELAXED);
		due += w->o.flush_interval;
		if (due < until)
			until = due;
	}
	if (w->nring > 0 &&
	    w->ring[w->rhead]->sent_at + w->o.conn.timeout < until)
		until = w->ring[w->rhead]->sent_at + w->o.conn.timeout;
	if (w->state == W_SPOOLING && w->next_probe < until)
		until = w->next_probe;
	return until <= now ? 0 : (int)((until - now) * 1000) + 1;
}

/* Sleep until work comes, a reply comes, or something falls due. */
static void
idle(struct simlog_writer *w)
{
	struct pollfd p[3];
	struct simlog_err e;
	int n = 1, ms = sleep_ms(w);
	uint64_t v;

	p[0].fd = w->wake;
	p[0].events = POLLIN;
	if (w->state == W_SENDING && w->nring > 0 &&
	    (p[n].fd = simlog_conn_fd(&w->conn)) >= 0)
		p[n++].events = POLLIN;
	/* A failover is learnt while idle too. */
	if (w->state == W_SENDING && w->conn.url.topo == SIMLOG_TOPO_SENTINEL &&
	    (p[n].fd = simlog_conn_watch_fd(&w->conn)) >= 0)
		p[n++].events = POLLIN;
	if (ms > 0 && poll(p, (nfds_t)n, ms) > 0 && (p[0].revents & POLLIN))
		(void)!read(w->wake, &v, sizeof(v));
	__atomic_store_n(&w->asleep, 0, __ATOMIC_SEQ_CST);
	if (w->state == W_SENDING && failed_over(w, &e)) {
		recover(w, &e);
		return;
	}
	if (w->state != W_SENDING || w->nring == 0)
		return;
	if (ack_ready(w, &e) < 0) {
		recover(w, &e);
		return;
	}
	if (w->nring > 0 && simlog_now_mono() >=
	    w->ring[w->rhead]->sent_at + w->o.conn.timeout) {
		/* The reply is late: the same as a read timing out. */
		if (ack_oldest(w, &e) < 0)
			recover(w, &e);
	}
}

/* At the end: every reply, and (when Redis is there) the spool. */
static void
finish(struct simlog_writer *w)
{
	struct simlog_err e;

	while (w->state == W_SENDING && w->nring > 0)
		if (ack_oldest(w, &e) < 0)
			recover(w, &e);
	simlog_spool_seal(w->spool);
	while (w->state == W_SENDING && !(w->stop && *w->stop)) {
		/* At the end every segment is looked for at once. */
		w->next_spool_look = 0;
		if (replay_some(w) <= 0)
			break;
		while (w->state == W_SENDING && w->nring > 0)
			if (ack_oldest(w, &e) < 0)
				recover(w, &e);
	}
	seg_let_go(w);
}

static void *
run(void *arg)
{
	struct simlog_writer *w = arg;
	struct simlog_err e;
	sigset_t all;

	/* Signals are the caller's thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (w->have_brk && !simlog_breaker_allow(&w->brk, w->o.replay_only)) {
		char why[SIMLOG_ERRLEN + SIMLOG_BREAKER_WHYLEN];

		simlog_breaker_explain(&w->brk, why, sizeof(why));
		simlog_seterr(&e, SIMLOG_EX_UNAVAILABLE, "%s: %s",
		    w->conn.display, why);
		if (w->o.prio == SIMLOG_PRIO_CRITICAL)
			recover(w, &e);
		else
			start_spooling(w, &e);
	} else if (simlog_conn_open(&w->conn, &e) < 0)
		recover(w, &e);
	else if (w->have_brk)
		simlog_breaker_success(&w->brk);
	if (w->state == W_SENDING)
		check_policy(w);
	for (;;) {
		struct item *it;
		int done;

		it = take_work(w, &done);
		if (w->state == W_SPOOLING)
			probe(w);
		if (w->state == W_SENDING && w->conn.net != NULL &&
		    !w->policy_checked && simlog_conn_connected(&w->conn))
			check_policy(w);
		if (it != NULL) {
			if (seal(w, it) < 0) {
				simlog_seterr(&e, SIMLOG_EX_SOFTWARE,
				    "out of memory");
				start_spooling(w, &e);
			}
			deliver(w, it);
			continue;
		}
		if (done)
			break;
		/* Nothing queued: a window of the spool, if Redis is here. */
		if (w->state == W_SENDING && w->nring == 0 &&
		    !(w->stop && *w->stop) && replay_some(w) > 0)
			continue;
		idle(w);
	}
	finish(w);
	return NULL;
}

/* --- opening and closing -------------------------------------------------- */

struct simlog_writer *
simlog_writer_open(const struct simlog_writer_opts *o, struct simlog_err *err)
{
	struct simlog_writer *w = calloc(1, sizeof(*w));
	char endpoint[700], *dir = NULL;
	const char *sim = o->sim;
	struct simlog_err be;

	if (w == NULL) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	w->o = *o;
	w->wake = -1;
	pthread_mutex_init(&w->fill, NULL);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->space, NULL);
	w->stop = o->stop;
	w->forks = simlog_forks();
	if (w->o.batch == 0)
		w->o.batch = 1024;
	if (w->o.inflight == 0)
		w->o.inflight = 8;
	if (w->o.queue_max == 0)
		w->o.queue_max = DEFAULT_QUEUE_MAX;
	if (w->o.max_record == 0)
		w->o.max_record = 1 << 20;
	if (w->o.batch > 100000 || w->o.inflight > 1024 ||
	    w->o.max_record > (64u << 20) || w->o.flush_interval < 0 ||
	    w->o.deadline < 0 || w->o.spool_max < 4096 ||
	    (o->type_field != NULL && (*o->type_field == '\0' ||
	    strlen(o->type_field) > 64))) {
		simlog_seterr(err, SIMLOG_EX_USAGE, "writer options out of "
		    "range (batch 1-100000, inflight 1-1024, max_record up to "
		    "64 MiB, spool_max at least 4096, a type field of 1-64 "
		    "bytes)");
		goto fail;
	}
	if (sim == NULL || *sim == '\0')
		sim = getenv("SIMLOG_SIM");
	w->sim_default = sim != NULL && *sim != '\0';
	if (sim == NULL || *sim == '\0')
		sim = "default";
	if (o->sim_field != NULL && (*o->sim_field == '\0' ||
	    strlen(o->sim_field) > 64)) {
		simlog_seterr(err, SIMLOG_EX_USAGE, "a sim field of 1-64 bytes");
		goto fail;
	}
	if (!simlog_valid_sim(sim, strlen(sim))) {
		simlog_seterr(err, SIMLOG_EX_USAGE, "invalid simulation name "
		    "'%.64s%s'%s: use 1-64 of [A-Za-z0-9_.-]", sim,
		    strlen(sim) > 64 ? "..." : "",
		    o->sim && *o->sim ? "" : " (from SIMLOG_SIM)");
		goto fail;
	}
	snprintf(w->sim, sizeof(w->sim), "%s", sim);
	simlog_key_stream(w->sim, w->stream_key);
	snprintf(w->field, sizeof(w->field), "%s",
	    o->type_field ? o->type_field : "type");
	w->flen = strlen(w->field);
	if (o->type != NULL) {
		const char *why;

		if (simlog_valid_type(o->type, strlen(o->type), &why) < 0) {
			simlog_seterr(err, SIMLOG_EX_USAGE, "invalid record "
			    "type '%.64s': %s", o->type, why);
			goto fail;
		}
	}
	if (simlog_policy_init(&w->pol, err) < 0)
		goto fail;
	if (w->o.wait_replicas < 0) {
		long long n = 0;
		int set = simlog_env_ll("SIMLOG_WAIT_REPLICAS", 0, 100, &n, err);

		if (set < 0)
			goto fail;
		w->o.wait_replicas = (int)n;
		w->auto_wait = set == 0;
	}
	if (o->retries >= 0)
		w->pol.retry.tries = o->retries;
	if (o->retry_base >= 0)
		w->pol.retry.base = o->retry_base;
	if (o->retry_factor >= 0)
		w->pol.retry.factor = o->retry_factor;
	if (o->retry_cap >= 0)
		w->pol.retry.cap = o->retry_cap;
	w->pol.stop = o->stop;
	w->pol.say = policy_say;
	w->pol.say_arg = w;
	w->pol.force = o->replay_only;
	if (simlog_conn_init(&w->conn, &o->conn, err) < 0)
		goto fail;
	/* The connection resolved the default: every wait uses the same. */
	w->o.conn.timeout = w->conn.timeout;
	simlog_conn_endpoint(&w->conn, 0, endpoint, sizeof(endpoint));
	if (simlog_breaker_init(&w->brk, endpoint, o->breaker_failures,
	    o->breaker_reset, &be) < 0) {
		if (be.code == SIMLOG_EX_USAGE) {
			*err = be;
			goto fail;
		}
		tell(w, "%s; going on without a circuit breaker", be.msg);
	} else {
		w->have_brk = 1;
		w->pol.brk = &w->brk;
	}
	simlog_conn_endpoint(&w->conn, 1, endpoint, sizeof(endpoint));
	if (o->spool_endpoint != NULL)
		snprintf(endpoint, sizeof(endpoint), "%s", o->spool_endpoint);
	if ((dir = o->spool_dir ? strdup(o->spool_dir) :
	    simlog_spool_default_dir()) == NULL) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		goto fail;
	}
	if ((w->spool = simlog_spool_open(dir, endpoint, o->spool_max,
	    err)) == NULL)
		goto fail;
	simlog_spool_on_say(w->spool, spool_say, w);
	free(dir);
	dir = NULL;
	if (simlog_idgen_init(&w->ids) < 0) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "getrandom: %s",
		    strerror(errno));
		goto fail;
	}
	if ((w->ring = calloc(w->o.inflight, sizeof(*w->ring))) == NULL ||
	    (w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		simlog_seterrno(err, SIMLOG_EX_SOFTWARE, errno, "writer");
		goto fail;
	}
	simlog_chunk_init(&w->scratch);
	w->st.start = simlog_now_mono();
	w->progress_at = w->st.start;
	if (pthread_create(&w->thread, NULL, run, w) != 0) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "writer: cannot start "
		    "its thread");
		goto fail;
	}
	w->started = 1;
	return w;
fail:
	free(dir);
	simlog_writer_close(w, NULL);
	return NULL;
}

int
simlog_writer_close(struct simlog_writer *w, struct simlog_writer_stats *st)
{
	if (w == NULL)
		return 0;
	if (forked(w)) {
		/* The parent's: left as it is, its memory too. */
		if (st != NULL)
			memset(st, 0, sizeof(*st));
		return -1;
	}
	if (w->started) {
		simlog_writer_flush(w);
		pthread_mutex_lock(&w->mu);
		__atomic_store_n(&w->closing, 1, __ATOMIC_RELEASE);
		kick(w);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	if (w->spool != NULL) {
		struct simlog_err e;

		/* Sealing looked at the directory a last time. */
		count_spool_lost(w);
		if (st != NULL)
			st->spool_pending = simlog_spool_pending(w->spool,
			    &e) != 0;
	}
	if (st != NULL) {
		int pending = st->spool_pending;

		simlog_writer_stats(w, st);
		st->spool_pending = pending;
		st->breaker = w->have_brk ? w->brk.seen : SIMLOG_B_CLOSED;
		st->nchanges = w->have_brk ? w->brk.nchanges : 0;
		for (int i = 0; i < st->nchanges; i++)
			snprintf(st->changes[i], sizeof(st->changes[i]), "%s",
			    w->brk.changes[i]);
		st->retries = w->pol.retries;
		st->seconds = simlog_now_mono() - w->st.start;
		if (w->fatal)
			st->fatal = w->fatal_err;
		else if (w->spool_lost > 0)
			st->fatal = w->lost_err;
	}
	if (w->cur != NULL) {
		simlog_chunk_clear(&w->cur->ch);
		free(w->cur);
	}
	item_free_all(w->qhead);
	item_free_all(w->pool);
	free(w->ring);
	simlog_chunk_clear(&w->scratch);
	simlog_spool_free(w->spool);
	if (w->have_brk)
		simlog_breaker_clear(&w->brk);
	simlog_conn_clear(&w->conn);
	if (w->wake >= 0)
		close(w->wake);
	pthread_cond_destroy(&w->space);
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->fill);
	free(w);
	return 0;
}

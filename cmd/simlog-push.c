/*
 * simlog-push: JSON lines on stdin into the simlog buffer in Redis, in
 * compressed chunks sent through a bounded pipeline.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common.h"

#define DEFAULT_BATCH 256
#define DEFAULT_INFLIGHT 8
#define DEFAULT_MAX_RECORD (1 << 20)
#define CHUNK_BYTES (256 * 1024)	/* seal a chunk at this much raw JSON */

#define DEFAULT_SPOOL_MAX (1ull << 30)

enum {
	OPT_TYPE_FIELD = 0x100, OPT_TEE, OPT_REJECT, OPT_BATCH,
	OPT_MAX_RECORD, OPT_INFLIGHT, OPT_FLUSH_INTERVAL, OPT_PRIORITY,
	OPT_DEADLINE, OPT_MAX_BACKLOG, OPT_SPOOL, OPT_SPOOL_MAX, OPT_REPLAY,
	OPT_RETRIES, OPT_RETRY_BASE, OPT_RETRY_FACTOR, OPT_RETRY_CAP,
	OPT_BREAKER_FAILURES, OPT_BREAKER_RESET,
};

static const struct option longopts[] = {
	CLI_CONN_LONGOPTS,
	{ "sim", required_argument, NULL, 's' },
	{ "type", required_argument, NULL, 't' },
	{ "type-field", required_argument, NULL, OPT_TYPE_FIELD },
	{ "tee", no_argument, NULL, OPT_TEE },
	{ "reject", required_argument, NULL, OPT_REJECT },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "max-record", required_argument, NULL, OPT_MAX_RECORD },
	{ "inflight", required_argument, NULL, OPT_INFLIGHT },
	{ "flush-interval", required_argument, NULL, OPT_FLUSH_INTERVAL },
	{ "priority", required_argument, NULL, OPT_PRIORITY },
	{ "deadline", required_argument, NULL, OPT_DEADLINE },
	{ "max-backlog", required_argument, NULL, OPT_MAX_BACKLOG },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "spool-max", required_argument, NULL, OPT_SPOOL_MAX },
	{ "replay", no_argument, NULL, OPT_REPLAY },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "retry-base", required_argument, NULL, OPT_RETRY_BASE },
	{ "retry-factor", required_argument, NULL, OPT_RETRY_FACTOR },
	{ "retry-cap", required_argument, NULL, OPT_RETRY_CAP },
	{ "breaker-failures", required_argument, NULL, OPT_BREAKER_FAILURES },
	{ "breaker-reset", required_argument, NULL, OPT_BREAKER_RESET },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(void)
{
	fputs(
"Usage: simlog-push [options] < records.jsonl\n"
"       simlog-push --replay [options]\n"
"\n"
"Buffer JSON-line records in Redis for simlog-drain.\n"
"\n"
"Options:\n"
"  -u, --url URL            Redis URL (default $SIMLOG_REDIS_URL, else\n"
"                           redis://127.0.0.1:6379/0)\n"
"      --password-file FILE read the Redis password from FILE\n"
"      --timeout SECONDS    connect and command timeout (default 2)\n"
"  -s, --sim SIM            simulation name (default $SIMLOG_SIM, else default)\n"
"  -t, --type TYPE          record type of every line\n"
"      --type-field NAME    field that holds the record type (default type)\n"
"      --tee                copy every input line to stdout; summary to stderr\n"
"      --reject FILE        append rejected lines to FILE\n"
"      --batch N            records per chunk (default 256)\n"
"      --max-record BYTES   longest accepted line (default 1048576)\n"
"      --inflight N         chunks awaiting Redis's reply (default 8)\n"
"      --flush-interval S   send a partial chunk after S seconds (default 1)\n"
"\n"
"When Redis fails:\n"
"      --priority P         critical: retry inline until --deadline, then\n"
"                           spool; normal: spool once retries are spent or\n"
"                           the breaker is open (default); low: drop\n"
"      --deadline SECONDS   how long a critical push retries (default 30)\n"
"      --max-backlog N      spool (normal) or wait (critical) while the\n"
"                           simulation has N records waiting in Redis\n"
"      --spool DIR          spool directory (default $SIMLOG_SPOOL_DIR, else\n"
"                           $XDG_STATE_HOME/simlog/spool)\n"
"      --spool-max BYTES    largest spool for this Redis (default 1 GiB)\n"
"      --replay             replay the spool into Redis and exit\n"
"      --retries N          retries after a failure (default 3)\n"
"      --retry-base S       first backoff ceiling (default 0.1)\n"
"      --retry-factor F     backoff growth (default 2)\n"
"      --retry-cap S        largest backoff (default 2)\n"
"      --breaker-failures N failures that open the circuit breaker (default 3)\n"
"      --breaker-reset S    seconds open before one probe (default 5)\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Exit status: 0 all in Redis, 65 some lines rejected, 69 low-priority\n"
"records dropped, 74 spool full or unwritable, 75 records safe in the spool,\n"
"77 authentication refused (records spooled, or dropped if low);\n"
"see simlog-push(1).\n",
	    stdout);
}

/* A sealed chunk sent to Redis whose reply has not been read yet. */
struct slot {
	struct simlog_chunk ch;
};

enum priority { PRIO_LOW, PRIO_NORMAL, PRIO_CRITICAL };
static const char *const prio_names[] = { "low", "normal", "critical" };

struct push {
	/* options */
	const char *sim;
	const char *type;		/* -t */
	const char *field;		/* --type-field */
	size_t flen;
	int tee;
	const char *reject_path;
	FILE *reject;
	size_t batch, inflight, max_record;
	double flush_interval;
	enum priority prio;
	double deadline;		/* critical: how long to retry inline */
	uint64_t max_backlog;
	const char *spool_dir;
	uint64_t spool_max;
	int replay_only;

	struct simlog_conn conn;
	struct simlog_retry retry;
	struct simlog_breaker brk;
	struct simlog_spool *spool;
	struct simlog_idgen ids;
	struct simlog_chunk cur, scratch;
	double cur_started;
	struct slot *ring;
	size_t head, nring;		/* oldest unacknowledged, how many */
	int spooling;			/* Redis given up on for now */
	double next_probe;		/* wall clock: when to try it again */
	int policy_checked;
	FILE *out;			/* where the summary goes */

	/* tallies */
	unsigned long long read, pushed, rejected, blank, failed, batches;
	unsigned long long spooled, replayed, dropped, retries, bytes;
	int auth_failed, spool_failed, damaged;
	size_t partial;			/* bytes of an unfinished last line */
	int tee_closed;
	double t0;
};

static volatile sig_atomic_t stop_requested, flush_due;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
on_alarm(int sig)
{
	(void)sig;
	flush_due = 1;
}

static void
install_signals(double interval)
{
	struct sigaction sa;
	struct itimerval it;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocked read(2) returns EINTR so we can act. */
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (interval > 0) {
		it.it_interval.tv_sec = (time_t)interval;
		it.it_interval.tv_usec = (suseconds_t)((interval -
		    (double)(time_t)interval) * 1e6);
		if (it.it_interval.tv_sec == 0 && it.it_interval.tv_usec == 0)
			it.it_interval.tv_usec = 1000;
		it.it_value = it.it_interval;
		setitimer(ITIMER_REAL, &it, NULL);
	}
}

static void
reject_line(struct push *p, unsigned long long lineno, const char *why,
	    size_t at, int have_at, const char *line, size_t len)
{
	p->rejected++;
	if (have_at)
		warnx("line %llu: %s at byte %zu", lineno, why, at + 1);
	else
		warnx("line %llu: %s", lineno, why);
	if (p->reject != NULL && line != NULL) {
		fwrite(line, 1, len, p->reject);
		putc('\n', p->reject);
		if (ferror(p->reject))
			errx(SIMLOG_EX_IOERR, "%s: write error", p->reject_path);
	}
}

/* Write hiredis's output buffer to the socket now, not at the next read. */
static int
send_pending(struct push *p, struct simlog_err *e)
{
	int done = 0;

	while (!done)
		if (redisBufferWrite(p->conn.c, &done) != REDIS_OK)
			return simlog_conn_error(&p->conn, NULL,
			    "sending a batch", e);
	return 0;
}

static void
check_policy(struct push *p)
{
	char *policy;

	if (p->policy_checked)
		return;
	p->policy_checked = 1;
	if ((policy = simlog_maxmemory_policy(&p->conn)) != NULL) {
		if (simlog_policy_evicts(policy))
			warnx("%s: maxmemory-policy %s lets Redis evict "
			    "buffered records; use noeviction", p->conn.display,
			    policy);
		free(policy);
	}
}

/* Keep a chunk Redis would not take: in the spool, or dropped (low). */
static void
set_aside(struct push *p, const struct simlog_chunk *ch)
{
	struct simlog_err e;

	if (p->prio == PRIO_LOW) {
		p->dropped += ch->records;
		return;
	}
	if (p->spool_failed) {
		p->failed += ch->records;
		return;
	}
	if (simlog_spool_write(p->spool, p->sim, ch->enc, ch->enclen, &e) < 0) {
		warnx("%s; %u records lost, input no longer read", e.msg,
		    ch->records);
		p->failed += ch->records;
		p->spool_failed = 1;
		stop_requested = 1;	/* nowhere left to put records */
		return;
	}
	p->spooled += ch->records;
}

static void
ring_set_aside(struct push *p)
{
	for (size_t i = 0; i < p->nring; i++)
		set_aside(p, &p->ring[(p->head + i) % p->inflight].ch);
	p->nring = 0;
}

/*
 * Send every chunk of one spool segment, a window at a time.  Redis
 * replies in order, so after a failure the acknowledged prefix is known:
 * the segment keeps only the rest, and the next replay goes on from there.
 */
static int
replay_segment(struct push *p, struct simlog_spool_seg *seg,
	       struct simlog_err *e)
{
	char sim[72], kept[700];
	const char *enc;
	size_t len, sent = 0, acked = 0, *ends;
	unsigned *recs;
	size_t done = 0;	/* segment bytes Redis has acknowledged */
	int r, rc = 0;

	ends = calloc(p->inflight, sizeof(*ends));
	recs = calloc(p->inflight, sizeof(*recs));
	if (ends == NULL || recs == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	while ((r = simlog_spool_seg_next(seg, sim, &enc, &len)) > 0) {
		if (simlog_chunk_decode(&p->scratch, enc, len, e) < 0) {
			r = -1;	/* damaged: like a torn tail */
			break;
		}
		if (simlog_push_append_enc(&p->conn, sim, enc, len,
		    p->scratch.types, p->scratch.ntypes, p->max_backlog, e) < 0)
			goto failed;
		ends[sent % p->inflight] = simlog_spool_seg_pos(seg);
		recs[sent % p->inflight] = p->scratch.records;
		sent++;
		if (sent - acked == p->inflight) {
			if (simlog_push_reply(&p->conn, e) < 0)
				goto failed;
			done = ends[acked % p->inflight];
			p->replayed += recs[acked % p->inflight];
			acked++;
		}
	}
	while (acked < sent) {
		if (simlog_push_reply(&p->conn, e) < 0)
			goto failed;
		done = ends[acked % p->inflight];
		p->replayed += recs[acked % p->inflight];
		acked++;
	}
	if (r == -2) {
		/* Cut short by a crash while it was written: it never
		 * counted as spooled, and nothing follows it. */
		warnx("spool: ignored the unfinished last record of a segment "
		    "(a push was stopped while writing it)");
		simlog_spool_seg_done(p->spool, seg);
	} else if (r != 0) {
		simlog_spool_seg_damaged(p->spool, seg, done, kept,
		    sizeof(kept));
		warnx("spool: a damaged record; what came before it was "
		    "replayed, the segment is kept as %s", kept);
		p->damaged = 1;
	} else
		simlog_spool_seg_done(p->spool, seg);
	free(ends);
	free(recs);
	return 0;
failed:
	{
		struct simlog_err te;

		if (simlog_spool_seg_trim(p->spool, seg, done, &te) < 0)
			warnx("%s", te.msg);
	}
	free(ends);
	free(recs);
	rc = -1;
	return rc;
}

static int
replay_spool(struct push *p, struct simlog_err *e)
{
	struct simlog_spool_seg *seg;
	int r;

	if (p->spool == NULL || !simlog_spool_pending(p->spool))
		return 0;
	simlog_spool_seal(p->spool);	/* ours is replayable too */
	while ((r = simlog_spool_take(p->spool, &seg, e)) > 0)
		if (replay_segment(p, seg, e) < 0)
			return -1;
	return r;
}

/* Read the reply of the oldest chunk in the ring. */
static int
ack_oldest(struct push *p, struct simlog_err *e)
{
	if (simlog_push_reply(&p->conn, e) < 0)
		return -1;
	p->pushed += p->ring[p->head].ch.records;
	p->head = (p->head + 1) % p->inflight;
	p->nring--;
	return 0;
}

/*
 * One go at Redis: connect if need be, replay the spool, resend every
 * unacknowledged chunk and wait for all their replies.  Chunks Redis had
 * already stored are stored twice; simlog-drain keeps one (batch ids make
 * delivery idempotent).
 */
static int
attempt(struct push *p, struct simlog_err *e)
{
	size_t i;

	if (p->conn.c == NULL && simlog_conn_open(&p->conn, e) < 0)
		return -1;
	check_policy(p);
	if (replay_spool(p, e) < 0)
		return -1;
	for (i = 0; i < p->nring; i++)
		if (simlog_push_append(&p->conn, p->sim,
		    &p->ring[(p->head + i) % p->inflight].ch, p->max_backlog,
		    e) < 0)
			return -1;
	while (p->nring > 0)
		if (ack_oldest(p, e) < 0)
			return -1;
	return 0;
}

static int
permanent(const struct simlog_err *e)
{
	return !simlog_err_transient(e);
}

/*
 * After a failure (in *e): retry with backoff as the priority allows.
 * fresh: e is a new failure the breaker has not counted yet.  Returns 0
 * when Redis took everything, -1 when we give up on it for now.
 */
static int
recover(struct push *p, struct simlog_err *e, int fresh, int force)
{
	double start = simlog_now_mono();
	int n = 0;

	for (;;) {
		double delay, left;

		simlog_conn_close(&p->conn);
		if (permanent(e)) {
			warnx("%s", e->msg);
			if (e->code == SIMLOG_EX_NOPERM)
				p->auth_failed = 1;
			return -1;
		}
		if (fresh && !e->full)
			simlog_breaker_failure(&p->brk);
		fresh = 0;
		left = p->deadline - (simlog_now_mono() - start);
		/* Asked to stop: spool now rather than wait for Redis. */
		if (stop_requested || (p->prio == PRIO_CRITICAL ? left <= 0 :
		    n >= p->retry.tries)) {
			warnx("%s", e->msg);
			return -1;
		}
		n++;
		delay = simlog_retry_delay(&p->retry, n);
		if (!force && !simlog_breaker_allow(&p->brk, 0)) {
			double wait = p->brk.retry_at - simlog_now_wall();

			if (p->prio != PRIO_CRITICAL) {
				warnx("%s; circuit breaker open", e->msg);
				return -1;
			}
			/* Critical waits for the breaker's probe. */
			delay = wait > delay ? wait : delay;
		}
		if (p->prio == PRIO_CRITICAL && delay > left)
			delay = left;
		warnx("%s; retry %d in %.2f s", e->msg, n, delay);
		simlog_sleep(delay, &stop_requested);
		if (stop_requested)
			continue;
		if (!force && !simlog_breaker_allow(&p->brk, 0))
			continue;	/* another process is probing */
		p->retries++;
		if (attempt(p, e) == 0) {
			simlog_breaker_success(&p->brk);
			return 0;
		}
		fresh = 1;
	}
}

static void
start_spooling(struct push *p)
{
	ring_set_aside(p);
	p->spooling = 1;
	p->next_probe = p->brk.seen == SIMLOG_B_CLOSED ?
	    simlog_now_wall() + p->brk.reset : p->brk.retry_at;
}

/* While spooling: now and then, one go at Redis. */
static void
maybe_resume(struct push *p)
{
	struct simlog_err e;

	if (p->auth_failed || simlog_now_wall() < p->next_probe)
		return;
	if (!simlog_breaker_allow(&p->brk, 0)) {
		p->next_probe = p->brk.retry_at;
		return;
	}
	if (attempt(p, &e) == 0) {
		simlog_breaker_success(&p->brk);
		p->spooling = 0;
		return;
	}
	if (!e.full && !permanent(&e))
		simlog_breaker_failure(&p->brk);
	simlog_conn_close(&p->conn);
	p->next_probe = simlog_now_wall() + p->brk.reset;
}

static void
failed_now(struct push *p, struct simlog_err *e)
{
	if (recover(p, e, 1, 0) < 0)
		start_spooling(p);
}

/* Seal the current chunk and send it, or set it aside. */
static void
flush_chunk(struct push *p)
{
	unsigned char id[SIMLOG_BATCH_ID_LEN];
	struct simlog_err e;
	struct slot *s;
	struct simlog_chunk tmp;

	if (p->cur.records == 0)
		return;
	simlog_idgen_next(&p->ids, id);
	if (simlog_chunk_seal(&p->cur, id, 1) < 0)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	p->batches++;
	p->bytes += p->cur.enclen;
	if (p->spooling)
		maybe_resume(p);
	if (p->spooling) {
		set_aside(p, &p->cur);
		simlog_chunk_reset(&p->cur);
		return;
	}
	if (p->nring == p->inflight && ack_oldest(p, &e) < 0)
		failed_now(p, &e);
	if (p->spooling) {
		set_aside(p, &p->cur);
		simlog_chunk_reset(&p->cur);
		return;
	}
	s = &p->ring[(p->head + p->nring) % p->inflight];
	/* Swap buffers so both chunks keep their memory for reuse. */
	tmp = s->ch;
	s->ch = p->cur;
	p->cur = tmp;
	simlog_chunk_reset(&p->cur);
	p->nring++;
	if (simlog_push_append(&p->conn, p->sim, &s->ch, p->max_backlog,
	    &e) < 0 || send_pending(p, &e) < 0)
		failed_now(p, &e);
}

static void
finish(struct push *p)
{
	struct simlog_err e;

	flush_chunk(p);
	while (!p->spooling && p->nring > 0)
		if (ack_oldest(p, &e) < 0)
			failed_now(p, &e);
}

/* First contact: reach Redis (replaying the spool) or start spooling. */
static void
start(struct push *p)
{
	struct simlog_err e;

	if (!simlog_breaker_allow(&p->brk, p->replay_only)) {
		simlog_seterr(&e, SIMLOG_EX_UNAVAILABLE, "%s: Redis known to be "
		    "down (circuit breaker open)", p->conn.display);
		if (p->prio == PRIO_CRITICAL && recover(p, &e, 0, 0) == 0)
			return;
		if (p->prio != PRIO_CRITICAL)
			warnx("%s; %s", e.msg, p->prio == PRIO_LOW ?
			    "dropping records" : "spooling records");
		start_spooling(p);
		return;
	}
	if (attempt(p, &e) == 0) {
		simlog_breaker_success(&p->brk);
		return;
	}
	if (recover(p, &e, 1, p->replay_only) < 0)
		start_spooling(p);
}
/* Decode an escaped type value; only ASCII can make a valid type. */
static size_t
unescape_type(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < n && o < cap; i++) {
		if (s[i] != '\\') {
			out[o++] = s[i];
			continue;
		}
		i++;
		if (s[i] == 'u' && i + 4 < n) {
			char hex[5];
			unsigned long u;

			memcpy(hex, s + i + 1, 4);
			hex[4] = '\0';
			u = strtoul(hex, NULL, 16);
			out[o++] = u < 0x80 ? (char)u : '?';
			i += 4;
		} else
			out[o++] = '?';	/* \n, \t, ...: never valid */
	}
	return o;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
handle_line(struct push *p, unsigned long long lineno, const char *line,
	    size_t len)
{
	struct simlog_jfield f;
	const char *why, *type;
	size_t at, tlen;
	char tbuf[80];

	if (p->tee && !p->tee_closed) {
		fwrite(line, 1, len, stdout);
		putc('\n', stdout);
		if (ferror(stdout)) {
			if (errno != EPIPE)
				err(SIMLOG_EX_IOERR, "write error");
			/* The reader went away: finish what we read, stop. */
			p->tee_closed = 1;
			stop_requested = 1;
		}
	}
	while (len > 0 && is_space(line[0])) {
		line++;
		len--;
	}
	while (len > 0 && is_space(line[len - 1]))
		len--;
	if (len == 0) {
		p->blank++;
		return;
	}
	p->read++;
	if (simlog_json_scan(line, len, p->type ? NULL : p->field,
	    p->flen, &f, &why, &at) < 0) {
		reject_line(p, lineno, why, at, 1, line, len);
		return;
	}
	if (p->type != NULL) {
		type = p->type;
		tlen = strlen(type);
	} else {
		if (f.kind == SIMLOG_J_ABSENT) {
			snprintf(tbuf, sizeof(tbuf), "no \"%s\" field", p->field);
			reject_line(p, lineno, tbuf, 0, 0, line, len);
			return;
		}
		if (f.kind != SIMLOG_J_STRING) {
			snprintf(tbuf, sizeof(tbuf), "\"%s\" is not a string",
			    p->field);
			reject_line(p, lineno, tbuf, 0, 0, line, len);
			return;
		}
		if (f.dup) {
			snprintf(tbuf, sizeof(tbuf), "\"%s\" appears twice",
			    p->field);
			reject_line(p, lineno, tbuf, 0, 0, line, len);
			return;
		}
		type = f.val;
		tlen = f.len;
		if (f.escaped) {
			tlen = unescape_type(f.val, f.len, tbuf, sizeof(tbuf));
			type = tbuf;
		}
		if (simlog_valid_type(type, tlen, &why) < 0) {
			reject_line(p, lineno, why, 0, 0, line, len);
			return;
		}
	}
	if (simlog_chunk_add(&p->cur, type, tlen, line, len) < 0)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	if (p->cur.records == 1)
		p->cur_started = simlog_now_mono();
	if (p->cur.records >= p->batch || p->cur.rawlen >= CHUNK_BYTES)
		flush_chunk(p);
}

static void
maybe_flush_partial(struct push *p)
{
	flush_due = 0;
	if (p->cur.records > 0 &&
	    simlog_now_mono() - p->cur_started >= p->flush_interval * 0.999)
		flush_chunk(p);
}

static int
run(struct push *p, struct simlog_lines *in)
{
	int status = SIMLOG_EX_OK;

	for (;;) {
		const char *line;
		size_t len;
		enum simlog_line_status st;

		if (stop_requested)
			simlog_lines_stop(in);	/* keep what is buffered */
		st = simlog_lines_next(in, &line, &len);
		if (st == SIMLOG_LINE_EOF)
			break;
		if (st == SIMLOG_LINE_OK)
			handle_line(p, simlog_lines_number(in), line, len);
		else if (st == SIMLOG_LINE_TOOLONG) {
			char why[96];

			p->read++;
			snprintf(why, sizeof(why),
			    "line of %zu bytes is longer than --max-record %zu",
			    len, p->max_record);
			reject_line(p, simlog_lines_number(in), why, 0, 0,
			    NULL, 0);
		} else if (st == SIMLOG_LINE_PARTIAL) {
			/* Half a record: it was never a line, so it is not a
			 * rejected one either. */
			warnx("line %llu: stopped in the middle of it; its %zu "
			    "bytes were not pushed", simlog_lines_number(in),
			    len);
			p->partial = len;
		} else if (st == SIMLOG_LINE_ERROR) {
			warn("reading standard input");
			status = SIMLOG_EX_IOERR;
			break;
		}
		if (flush_due)
			maybe_flush_partial(p);
	}
	finish(p);
	return status;
}

static void
summary(struct push *p)
{
	fprintf(p->out, "{\"sim\":\"%s\",\"read\":%llu,\"pushed\":%llu,"
	    "\"rejected\":%llu,\"spooled\":%llu,\"replayed\":%llu,"
	    "\"dropped\":%llu,\"failed\":%llu,\"blank\":%llu,"
	    "\"batches\":%llu,\"stored_bytes\":%llu,\"retries\":%llu,"
	    "\"partial_bytes\":%zu,\"priority\":\"%s\",\"breaker\":\"%s\",\"breaker_changes\":[",
	    p->sim, p->read, p->pushed, p->rejected, p->spooled, p->replayed,
	    p->dropped, p->failed, p->blank, p->batches, p->bytes, p->retries,
	    p->partial, prio_names[p->prio], simlog_breaker_name(p->brk.seen));
	for (int i = 0; i < p->brk.nchanges; i++)
		fprintf(p->out, "%s\"%s\"", i ? "," : "", p->brk.changes[i]);
	fprintf(p->out, "],\"seconds\":%.3f}\n", simlog_now_mono() - p->t0);
	fflush(p->out);
}

/* Records of this run not in Redis decide the status, worst first. */
static int
exit_status(struct push *p, int status)
{
	if (status != SIMLOG_EX_OK)
		return status;
	if (p->failed > 0 || p->damaged)
		return SIMLOG_EX_IOERR;		/* not stored anywhere */
	if (p->auth_failed)
		return SIMLOG_EX_NOPERM;	/* safe in the spool */
	if (p->spooled > 0 && simlog_spool_pending(p->spool))
		return SIMLOG_EX_TEMPFAIL;
	if (p->replay_only && simlog_spool_pending(p->spool))
		return SIMLOG_EX_TEMPFAIL;
	if (p->dropped > 0)
		return SIMLOG_EX_UNAVAILABLE;
	return p->rejected > 0 ? SIMLOG_EX_DATAERR : SIMLOG_EX_OK;
}

int
main(int argc, char **argv)
{
	struct simlog_conn_opts co = { .name = "simlog-push", .timeout = 2 };
	struct push p;
	struct simlog_lines *in = NULL;
	struct simlog_err e;
	char endpoint[600];
	char *spool_dir = NULL;
	int c, status, bfail = 0, tries = -1;
	double breset = 0, rbase = -1, rfactor = -1, rcap = -1;

	cli_protect_secrets();

	memset(&p, 0, sizeof(p));
	p.field = "type";
	p.batch = DEFAULT_BATCH;
	p.inflight = DEFAULT_INFLIGHT;
	p.max_record = DEFAULT_MAX_RECORD;
	p.flush_interval = 1.0;
	p.prio = PRIO_NORMAL;
	p.deadline = 30;
	p.spool_max = DEFAULT_SPOOL_MAX;
	p.sim = getenv("SIMLOG_SIM");
	while ((c = getopt_long(argc, argv, "u:s:t:hV", longopts, NULL)) != -1) {
		if (cli_conn_option(c, optarg, &co))
			continue;
		switch (c) {
		case 's':
			p.sim = optarg;
			if (!simlog_valid_sim(optarg, strlen(optarg)))
				errx(SIMLOG_EX_USAGE, "invalid --sim: '%s': "
				    "use 1-64 of [A-Za-z0-9_.-]", optarg);
			break;
		case 't': {
			const char *why;

			if (simlog_valid_type(optarg, strlen(optarg), &why) < 0)
				errx(SIMLOG_EX_USAGE, "invalid --type: '%s': %s",
				    optarg, why);
			p.type = optarg;
			break;
		}
		case OPT_TYPE_FIELD:
			if (*optarg == '\0' || strlen(optarg) > 64)
				errx(SIMLOG_EX_USAGE, "invalid --type-field: "
				    "'%s': 1 to 64 bytes", optarg);
			p.field = optarg;
			break;
		case OPT_TEE:
			p.tee = 1;
			break;
		case OPT_REJECT:
			p.reject_path = optarg;
			break;
		case OPT_BATCH:
			p.batch = (size_t)cli_number("--batch", optarg, 1, 100000);
			break;
		case OPT_MAX_RECORD:
			p.max_record = (size_t)cli_number("--max-record", optarg,
			    16, 64 << 20);
			break;
		case OPT_INFLIGHT:
			p.inflight = (size_t)cli_number("--inflight", optarg, 1,
			    1024);
			break;
		case OPT_FLUSH_INTERVAL:
			p.flush_interval = cli_seconds("--flush-interval",
			    optarg, 86400);
			break;
		case OPT_PRIORITY:
			for (c = 0; c < 3; c++)
				if (strcmp(optarg, prio_names[c]) == 0)
					break;
			if (c == 3)
				errx(SIMLOG_EX_USAGE, "invalid --priority: '%s': "
				    "use critical, normal or low", optarg);
			p.prio = (enum priority)c;
			break;
		case OPT_DEADLINE:
			p.deadline = cli_seconds("--deadline", optarg, 86400 * 7);
			break;
		case OPT_MAX_BACKLOG:
			p.max_backlog = (uint64_t)cli_number("--max-backlog",
			    optarg, 0, (long long)1 << 50);
			break;
		case OPT_SPOOL:
			if (*optarg == '\0')
				errx(SIMLOG_EX_USAGE, "invalid --spool: empty path");
			p.spool_dir = optarg;
			break;
		case OPT_SPOOL_MAX:
			p.spool_max = (uint64_t)cli_number("--spool-max", optarg,
			    4096, (long long)1 << 50);
			break;
		case OPT_REPLAY:
			p.replay_only = 1;
			break;
		case OPT_RETRIES:
			tries = (int)cli_number("--retries", optarg, 0, 1000);
			break;
		case OPT_RETRY_BASE:
			rbase = cli_seconds("--retry-base", optarg, 3600);
			break;
		case OPT_RETRY_FACTOR:
			rfactor = cli_seconds("--retry-factor", optarg, 100);
			if (rfactor < 1)
				errx(SIMLOG_EX_USAGE, "invalid --retry-factor: "
				    "'%s': at least 1", optarg);
			break;
		case OPT_RETRY_CAP:
			rcap = cli_seconds("--retry-cap", optarg, 3600);
			break;
		case OPT_BREAKER_FAILURES:
			bfail = (int)cli_number("--breaker-failures", optarg, 1,
			    1000);
			break;
		case OPT_BREAKER_RESET:
			breset = cli_seconds("--breaker-reset", optarg, 86400);
			if (breset <= 0)
				errx(SIMLOG_EX_USAGE, "invalid --breaker-reset: "
				    "'%s': must be more than 0", optarg);
			break;
		case 'h':
			usage();
			return cli_close_stdout() == 0 ? 0 : SIMLOG_EX_IOERR;
		case 'V':
			cli_version();
		default:
			cli_try_help();
		}
	}
	if (optind < argc) {
		warnx("unexpected argument '%s'", argv[optind]);
		cli_try_help();
	}
	/* Defaults, then the environment, then the command line. */
	if (simlog_retry_init(&p.retry, &e) < 0)
		errx(SIMLOG_EX_USAGE, "%s", e.msg);
	if (tries >= 0)
		p.retry.tries = tries;
	if (rbase >= 0)
		p.retry.base = rbase;
	if (rfactor >= 0)
		p.retry.factor = rfactor;
	if (rcap >= 0)
		p.retry.cap = rcap;
	if (p.sim == NULL || *p.sim == '\0')
		p.sim = "default";
	else if (!simlog_valid_sim(p.sim, strlen(p.sim)))
		errx(SIMLOG_EX_USAGE, "invalid SIMLOG_SIM: '%s': "
		    "use 1-64 of [A-Za-z0-9_.-]", p.sim);
	p.flen = strlen(p.field);
	p.out = p.tee ? stderr : stdout;
	p.t0 = simlog_now_mono();

	if (p.reject_path != NULL &&
	    (p.reject = fopen(p.reject_path, "a")) == NULL)
		err(SIMLOG_EX_CANTCREAT, "%s", p.reject_path);
	if ((!p.replay_only &&
	    (in = simlog_lines_new(STDIN_FILENO, p.max_record)) == NULL) ||
	    (p.ring = calloc(p.inflight, sizeof(*p.ring))) == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	if (simlog_idgen_init(&p.ids) < 0)
		err(SIMLOG_EX_SOFTWARE, "getrandom");
	simlog_chunk_init(&p.cur);
	simlog_chunk_init(&p.scratch);

	if (simlog_conn_init(&p.conn, &co, &e) < 0)
		cli_die(&e);
	simlog_conn_endpoint(&p.conn, 0, endpoint, sizeof(endpoint));
	if (simlog_breaker_init(&p.brk, endpoint, bfail, breset, &e) < 0)
		warnx("%s; going on without a circuit breaker", e.msg);
	simlog_conn_endpoint(&p.conn, 1, endpoint, sizeof(endpoint));
	if ((spool_dir = p.spool_dir ? strdup(p.spool_dir) :
	    simlog_spool_default_dir()) == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	if ((p.spool = simlog_spool_open(spool_dir, endpoint, p.spool_max,
	    &e)) == NULL)
		cli_die(&e);
	install_signals(p.replay_only ? 0 : p.flush_interval);

	start(&p);
	status = p.replay_only ? SIMLOG_EX_OK : run(&p, in);
	summary(&p);
	status = exit_status(&p, status);

	if (p.reject != NULL && fclose(p.reject) != 0) {
		warn("%s", p.reject_path);
		status = SIMLOG_EX_IOERR;
	}
	if (!p.tee_closed && cli_close_stdout() < 0 && status == 0)
		status = SIMLOG_EX_IOERR;
	for (size_t i = 0; i < p.inflight; i++)
		simlog_chunk_clear(&p.ring[i].ch);
	free(p.ring);
	free(spool_dir);
	simlog_chunk_clear(&p.cur);
	simlog_chunk_clear(&p.scratch);
	simlog_lines_free(in);
	simlog_spool_free(p.spool);
	simlog_breaker_clear(&p.brk);
	simlog_conn_clear(&p.conn);
	return status;
}

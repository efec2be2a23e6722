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
#define RETRIES 5

enum {
	OPT_TYPE_FIELD = 0x100, OPT_TEE, OPT_REJECT, OPT_BATCH,
	OPT_MAX_RECORD, OPT_INFLIGHT, OPT_FLUSH_INTERVAL,
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
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(void)
{
	fputs(
"Usage: simlog-push [options] < records.jsonl\n"
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
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Exit status: 0 all pushed, 65 some lines rejected, 69 Redis unreachable,\n"
"75 Redis failed part-way, 77 authentication refused; see simlog-push(1).\n",
	    stdout);
}

/* A sealed chunk sent to Redis whose reply has not been read yet. */
struct slot {
	struct simlog_chunk ch;
};

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

	struct simlog_conn conn;
	struct simlog_idgen ids;
	struct simlog_chunk cur;
	double cur_started;
	struct slot *ring;
	size_t head, nring;		/* oldest unacknowledged, how many */
	FILE *out;			/* where the summary goes */

	/* tallies */
	unsigned long long read, pushed, rejected, blank, failed, batches;
	unsigned long long retries, bytes;
	int fatal;			/* exit class of a failure that stopped us */
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

static void
sleep_for(double s)
{
	struct timespec ts;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
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

/*
 * After a failure, reconnect and send every unacknowledged chunk again.
 * Chunks Redis had already stored are stored twice; simlog-drain keeps one
 * (batch ids make delivery idempotent).
 */
static int
recover(struct push *p, struct simlog_err *e)
{
	double delay = 0.1;
	int attempt;

	for (attempt = 1; attempt <= RETRIES; attempt++) {
		size_t i;

		if (e->code == SIMLOG_EX_NOPERM || e->code == SIMLOG_EX_CONFIG ||
		    e->code == SIMLOG_EX_SOFTWARE)
			return -1;	/* retrying cannot help */
		warnx("%s; retrying in %.1f s (%d/%d)", e->msg, delay, attempt,
		    RETRIES);
		p->retries++;
		sleep_for(delay);
		delay = delay * 2 > 2.0 ? 2.0 : delay * 2;
		if (simlog_conn_open(&p->conn, e) < 0)
			continue;
		for (i = 0; i < p->nring; i++) {
			struct slot *s = &p->ring[(p->head + i) % p->inflight];

			if (simlog_push_append(&p->conn, p->sim, &s->ch, e) < 0)
				break;
		}
		if (i == p->nring && send_pending(p, e) == 0)
			return 0;
	}
	return -1;
}

/* Read the oldest reply; on failure recover, or give the chunks up. */
static int
collect_one(struct push *p)
{
	struct simlog_err e;

	while (simlog_push_reply(&p->conn, &e) < 0) {
		if (recover(p, &e) < 0) {
			size_t i;

			warnx("%s", e.msg);
			for (i = 0; i < p->nring; i++)
				p->failed +=
				    p->ring[(p->head + i) % p->inflight].ch.records;
			p->nring = 0;
			p->fatal = e.code ? e.code : SIMLOG_EX_TEMPFAIL;
			simlog_conn_close(&p->conn);
			return -1;
		}
	}
	p->pushed += p->ring[p->head].ch.records;
	p->head = (p->head + 1) % p->inflight;
	p->nring--;
	return 0;
}

static int
collect_all(struct push *p)
{
	while (p->nring > 0)
		if (collect_one(p) < 0)
			return -1;
	return 0;
}

/* Seal the current chunk, send it, and keep it until Redis has it. */
static void
flush_chunk(struct push *p)
{
	unsigned char id[SIMLOG_BATCH_ID_LEN];
	struct simlog_err e;
	struct slot *s;
	struct simlog_chunk tmp;

	if (p->cur.records == 0)
		return;
	if (p->fatal) {
		p->failed += p->cur.records;
		simlog_chunk_reset(&p->cur);
		return;
	}
	if (p->nring == p->inflight && collect_one(p) < 0) {
		p->failed += p->cur.records;
		simlog_chunk_reset(&p->cur);
		return;
	}
	simlog_idgen_next(&p->ids, id);
	if (simlog_chunk_seal(&p->cur, id, 1) < 0)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	s = &p->ring[(p->head + p->nring) % p->inflight];
	/* Swap buffers so both chunks keep their memory for reuse. */
	tmp = s->ch;
	s->ch = p->cur;
	p->cur = tmp;
	simlog_chunk_reset(&p->cur);
	p->nring++;
	p->batches++;
	p->bytes += s->ch.enclen;
	if (simlog_push_append(&p->conn, p->sim, &s->ch, &e) < 0 ||
	    send_pending(p, &e) < 0) {
		if (recover(p, &e) < 0) {
			size_t i;

			warnx("%s", e.msg);
			for (i = 0; i < p->nring; i++)
				p->failed +=
				    p->ring[(p->head + i) % p->inflight].ch.records;
			p->nring = 0;
			p->fatal = e.code ? e.code : SIMLOG_EX_TEMPFAIL;
		}
	}
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
		} else if (st == SIMLOG_LINE_ERROR) {
			warn("reading standard input");
			status = SIMLOG_EX_IOERR;
			break;
		}
		if (flush_due)
			maybe_flush_partial(p);
	}
	flush_chunk(p);
	if (!p->fatal)
		collect_all(p);
	return status;
}

static void
summary(struct push *p)
{
	fprintf(p->out, "{\"sim\":\"%s\",\"read\":%llu,\"pushed\":%llu,"
	    "\"rejected\":%llu,\"failed\":%llu,\"blank\":%llu,"
	    "\"batches\":%llu,\"stored_bytes\":%llu,\"retries\":%llu,"
	    "\"seconds\":%.3f}\n", p->sim, p->read, p->pushed, p->rejected,
	    p->failed, p->blank, p->batches, p->bytes, p->retries,
	    simlog_now_mono() - p->t0);
	fflush(p->out);
}

int
main(int argc, char **argv)
{
	struct simlog_conn_opts co = { .name = "simlog-push", .timeout = 2 };
	struct push p;
	struct simlog_lines *in;
	int c, status;
	char *policy;

	memset(&p, 0, sizeof(p));
	p.field = "type";
	p.batch = DEFAULT_BATCH;
	p.inflight = DEFAULT_INFLIGHT;
	p.max_record = DEFAULT_MAX_RECORD;
	p.flush_interval = 1.0;
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
	if ((in = simlog_lines_new(STDIN_FILENO, p.max_record)) == NULL ||
	    (p.ring = calloc(p.inflight, sizeof(*p.ring))) == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	if (simlog_idgen_init(&p.ids) < 0)
		err(SIMLOG_EX_SOFTWARE, "getrandom");
	simlog_chunk_init(&p.cur);

	cli_connect(&p.conn, &co);
	if ((policy = simlog_maxmemory_policy(&p.conn)) != NULL) {
		if (simlog_policy_evicts(policy))
			warnx("%s: maxmemory-policy %s lets Redis evict "
			    "buffered records; use noeviction", p.conn.display,
			    policy);
		free(policy);
	}
	install_signals(p.flush_interval);

	status = run(&p, in);
	summary(&p);

	if (p.reject != NULL && fclose(p.reject) != 0)
		warn("%s", p.reject_path), status = SIMLOG_EX_IOERR;
	if (!p.tee_closed && cli_close_stdout() < 0 && status == 0)
		status = SIMLOG_EX_IOERR;
	for (size_t i = 0; i < p.inflight; i++)
		simlog_chunk_clear(&p.ring[i].ch);
	free(p.ring);
	simlog_chunk_clear(&p.cur);
	simlog_lines_free(in);
	simlog_conn_clear(&p.conn);
	if (status != SIMLOG_EX_OK)
		return status;
	if (p.fatal)
		return p.fatal == SIMLOG_EX_NOPERM ? SIMLOG_EX_NOPERM :
		    SIMLOG_EX_TEMPFAIL;
	return p.rejected > 0 ? SIMLOG_EX_DATAERR : SIMLOG_EX_OK;
}

/*
 * simlog-push: JSON lines on stdin into the simlog buffer in Redis.  The
 * library's writer (libsimlog(3)) does the work; this is options, the input
 * loop, --tee and --reject, progress and the summary.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "lines.h"
#include "net/conn.h"
#include "simlog_health.h"
#include "spool.h"
#include "util.h"

enum {
	OPT_TYPE_FIELD = 0x100, OPT_TEE, OPT_TEE_ERROR, OPT_REJECT, OPT_BATCH,
	OPT_MAX_RECORD, OPT_INFLIGHT, OPT_FLUSH_INTERVAL, OPT_PRIORITY,
	OPT_DEADLINE, OPT_MAX_BACKLOG, OPT_SPOOL, OPT_SPOOL_MAX, OPT_REPLAY,
	OPT_SPOOL_STATUS, OPT_RETRIES, OPT_RETRY_BASE, OPT_RETRY_FACTOR,
	OPT_RETRY_CAP, OPT_BREAKER_FAILURES, OPT_BREAKER_RESET,
	OPT_WAIT_REPLICAS, OPT_PROGRESS, OPT_REPLAY_FROM, OPT_SIM_FIELD,
};

static const struct option longopts[] = {
	CLI_CONN_LONGOPTS,
	{ "sim", required_argument, NULL, 's' },
	{ "type", required_argument, NULL, 't' },
	{ "type-field", required_argument, NULL, OPT_TYPE_FIELD },
	{ "sim-field", required_argument, NULL, OPT_SIM_FIELD },
	{ "tee", no_argument, NULL, OPT_TEE },
	{ "tee-error", required_argument, NULL, OPT_TEE_ERROR },
	{ "reject", required_argument, NULL, OPT_REJECT },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "max-record", required_argument, NULL, OPT_MAX_RECORD },
	{ "inflight", required_argument, NULL, OPT_INFLIGHT },
	{ "flush-interval", required_argument, NULL, OPT_FLUSH_INTERVAL },
	{ "priority", required_argument, NULL, OPT_PRIORITY },
	{ "deadline", required_argument, NULL, OPT_DEADLINE },
	{ "max-backlog", required_argument, NULL, OPT_MAX_BACKLOG },
	{ "wait-replicas", required_argument, NULL, OPT_WAIT_REPLICAS },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "spool-max", required_argument, NULL, OPT_SPOOL_MAX },
	{ "replay", no_argument, NULL, OPT_REPLAY },
	{ "replay-from", required_argument, NULL, OPT_REPLAY_FROM },
	{ "spool-status", no_argument, NULL, OPT_SPOOL_STATUS },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "retry-base", required_argument, NULL, OPT_RETRY_BASE },
	{ "retry-factor", required_argument, NULL, OPT_RETRY_FACTOR },
	{ "retry-cap", required_argument, NULL, OPT_RETRY_CAP },
	{ "breaker-failures", required_argument, NULL, OPT_BREAKER_FAILURES },
	{ "breaker-reset", required_argument, NULL, OPT_BREAKER_RESET },
	{ "quiet", no_argument, NULL, 'q' },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(void)
{
	fputs(
"Usage: simlog-push [options] < records.jsonl\n"
"       simlog-push --replay [--replay-from ENDPOINT|all] [options]\n"
"       simlog-push --spool-status [options]\n"
"\n"
"Buffer JSON-line records in Redis for simlog-drain.\n"
"\n"
"Options:\n"
CLI_CONN_USAGE
"  -s, --sim SIM            simulation name (default $SIMLOG_SIM, else default)\n"
"  -t, --type TYPE          record type of every line\n"
"      --type-field NAME    field that holds the record type (default type)\n"
"      --sim-field NAME     take each record's simulation from field NAME\n"
"                           (-s: for records without it)\n"
"      --tee                copy every input line to stdout; summary to stderr\n"
"      --tee-error MODE     when stdout's reader goes away: warn (once, and\n"
"                           go on pushing; the default) or exit (stop reading)\n"
"      --reject FILE        append rejected lines to FILE\n"
"      --batch N            records per chunk (default 1024)\n"
"      --max-record BYTES   longest accepted line (default 1048576)\n"
"      --inflight N         chunks awaiting Redis's reply (default 8)\n"
"      --flush-interval S   send a partial chunk after S seconds (default\n"
"                           0.25; 0: only full chunks)\n"
"  -q, --quiet              no progress on stderr\n"
"      --progress           progress even when stderr is not a terminal\n"
"\n"
"When Redis fails:\n"
"      --priority P         critical: retry until --deadline, then spool;\n"
"                           normal: spool once retries are spent or the\n"
"                           breaker is open (default); low: drop\n"
"      --deadline SECONDS   how long a critical push retries (default 30)\n"
"      --max-backlog N      refuse while the simulation has N records\n"
"                           waiting in Redis (spool, or wait if critical)\n"
"      --wait-replicas N    a chunk counts as pushed once N replicas have\n"
"                           it (default $SIMLOG_WAIT_REPLICAS, else 0)\n"
"      --spool DIR          spool directory (default $SIMLOG_SPOOL_DIR, else\n"
"                           $XDG_STATE_HOME/simlog/spool)\n"
"      --spool-max BYTES    largest spool for this Redis (default 1 GiB)\n"
"      --replay             replay the spool into Redis and exit\n"
"      --replay-from ENDPOINT  replay the spool kept for another URL (as\n"
"                           its messages name it), or of every URL (all),\n"
"                           into this one; implies --replay\n"
"      --spool-status       show what waits in the spool, as JSON lines\n"
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
"records dropped, 74 records lost (spool full or damaged), 75 records\n"
"safe in the spool, 77 authentication or a certificate refused (records\n"
"spooled, or dropped if low); see simlog-push(1).\n",
	    stdout);
}

enum tee_mode { TEE_WARN, TEE_EXIT };

struct push {
	struct simlog_writer_opts o;
	struct simlog_writer *w;
	int tee;
	enum tee_mode tee_mode;
	int tee_closed;
	const char *reject_path;
	FILE *reject;
	const char *replay_from;	/* --replay-from */
	char endpoint[700];		/* whose spool the writer uses */
	int progress;
	double shown;
	int drawn;			/* a progress line is on the screen */
	FILE *out;			/* where the summary goes */

	unsigned long long read, rejected, blank;
	size_t partial;			/* bytes of an unfinished last line */
	int lost_input;			/* the writer refused: stop reading */
	int left;			/* --replay: segments are left */
	struct simlog_writer_stats st;
};

static void
reject_line(struct push *p, unsigned long long lineno, const char *why,
	    const char *line, size_t len)
{
	p->rejected++;
	warnx("line %llu: %s", lineno, why);
	if (p->reject != NULL && line != NULL) {
		fwrite(line, 1, len, p->reject);
		putc('\n', p->reject);
		if (ferror(p->reject))
			errx(SIMLOG_EX_IOERR, "%s: write error", p->reject_path);
	}
}

static void
tee_line(struct push *p, const char *line, size_t len)
{
	if (!p->tee || p->tee_closed)
		return;
	fwrite(line, 1, len, stdout);
	putc('\n', stdout);
	if (!ferror(stdout))
		return;
	if (errno != EPIPE)
		err(SIMLOG_EX_IOERR, "--tee: write error");
	p->tee_closed = 1;
	if (p->tee_mode == TEE_EXIT) {
		/* As before --tee-error: finish what was read, stop. */
		cli_stop = 1;
		return;
	}
	warnx("--tee: standard output's reader went away; going on "
	    "pushing records to the end of the input");
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
	struct simlog_err why;
	size_t i;
	int r;

	tee_line(p, line, len);
	for (i = 0; i < len && is_space(line[i]); i++)
		;
	if (i == len) {
		p->blank++;
		return;
	}
	p->read++;
	if (memchr(line, '\0', len) != NULL) {
		reject_line(p, lineno, "holds a NUL byte (not text)", line,
		    len);
		return;
	}
	r = simlog_writer_write(p->w, line, len, &why);
	if (r == 1)
		reject_line(p, lineno, why.msg, line, len);
	else if (r < 0 && !p->lost_input) {
		warnx("%s; no longer reading input", why.msg);
		p->lost_input = 1;
		cli_stop = 1;
	}
}

static void
show_progress(struct push *p)
{
	struct simlog_writer_stats st;
	double now, el;

	if (!p->progress || (now = simlog_now_mono()) - p->shown < 0.5)
		return;
	p->shown = now;
	simlog_writer_stats(p->w, &st);
	el = now - st.start;
	/* Short runs say nothing: the summary says it all. */
	if (el < 2)
		return;
	fprintf(stderr, "\rsimlog-push: %llu records, %.0f/s, %llu in Redis,"
	    " %llu spooled%s   ", st.records, (double)st.records / el,
	    st.pushed, st.spooled, st.spooling ? " (Redis failing)" : "");
	fflush(stderr);
	p->drawn = 1;
}

/* The progress line's last state, once every reply is in. */
static void
show_final(struct push *p)
{
	const struct simlog_writer_stats *s = &p->st;

	if (!p->drawn)
		return;
	fprintf(stderr, "\rsimlog-push: %llu records, %.0f/s, %llu in Redis,"
	    " %llu spooled   \n", s->records, s->seconds > 0 ?
	    (double)s->records / s->seconds : 0.0, s->pushed, s->spooled);
	fflush(stderr);
}

/* Wait for input, waking to redraw progress. */
static void
wait_input(struct push *p, struct simlog_lines *in)
{
	struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };

	if (!p->progress || simlog_lines_ready(in))
		return;
	while (!cli_stop && poll(&pfd, 1, 500) == 0)
		show_progress(p);
}

static int
run(struct push *p, struct simlog_lines *in)
{
	for (;;) {
		const char *line;
		size_t len;
		enum simlog_line_status st;

		if (cli_stop)
			simlog_lines_stop(in);	/* keep what is buffered */
		wait_input(p, in);
		st = simlog_lines_next(in, &line, &len);
		if (st == SIMLOG_LINE_EOF)
			break;
		if (st == SIMLOG_LINE_OK)
			handle_line(p, simlog_lines_number(in), line, len);
		else if (st == SIMLOG_LINE_TOOLONG) {
			char why[96];

			p->read++;
			snprintf(why, sizeof(why), "line of %zu bytes is "
			    "longer than --max-record %zu", len,
			    p->o.max_record);
			reject_line(p, simlog_lines_number(in), why, NULL, 0);
		} else if (st == SIMLOG_LINE_PARTIAL) {
			/* Half a record: it was never a line, so it is not a
			 * rejected one either. */
			warnx("line %llu: stopped in the middle of it; its %zu "
			    "bytes were not pushed", simlog_lines_number(in),
			    len);
			p->partial = len;
		} else if (st == SIMLOG_LINE_ERROR) {
			warn("reading standard input");
			return SIMLOG_EX_IOERR;
		}
		show_progress(p);
	}
	return SIMLOG_EX_OK;
}

/* What the run fed the writer, for the summary and the status. */
static struct simlog_writer_input
input_counts(const struct push *p)
{
	struct simlog_writer_input in = { .read = p->read,
	    .rejected = p->rejected, .blank = p->blank, .partial = p->partial,
	    .prio = p->o.prio, .replay_only = p->o.replay_only,
	    .left = p->left, .replayed_from = p->o.spool_endpoint };

	return in;
}

static void
summary(struct push *p)
{
	struct simlog_writer_input in = input_counts(p);
	struct simlog_jw w;

	simlog_jw_init(&w, p->out);
	simlog_writer_summary(&w, &p->st, &in);
	fflush(p->out);
}

/* What is left in the spool: held by other live processes, or waiting. */
struct left {
	unsigned long long busy, busy_records, waiting, waiting_records;
};

static int
left_one(void *arg, const struct simlog_spool_stat *s)
{
	struct left *l = arg;

	if (s->state == SIMLOG_SPOOL_BUSY) {
		l->busy++;
		l->busy_records += s->records;
	} else if (s->state == SIMLOG_SPOOL_WAITING) {
		l->waiting++;
		l->waiting_records += s->records;
	}
	return 0;
}

/* A replay that leaves segments says why: others hold them, or Redis
 * did not take them.  Looked at once more: segments another replay held
 * when the writer closed may be gone now. */
static void
report_left(struct push *p)
{
	const struct simlog_writer_stats *s = &p->st;
	struct left l = { 0, 0, 0, 0 };

	p->left = s->spool_pending;
	if (!s->spool_pending || simlog_spool_status(s->spool_dir, left_one,
	    &l) < 0)
		return;
	p->left = l.busy > 0 || l.waiting > 0;
	if (l.busy > 0)
		warnx("%llu records in %llu segment%s of the spool %s are "
		    "held by other running processes (another replay, or a "
		    "push writing its own spool): left to them", l.busy_records,
		    l.busy, l.busy == 1 ? "" : "s", s->spool_dir);
	if (l.waiting > 0)
		warnx("%llu records in %llu segment%s still wait in the spool "
		    "%s: Redis did not take them; run 'simlog-push %s%s' "
		    "again once it does", l.waiting_records, l.waiting,
		    l.waiting == 1 ? "" : "s", s->spool_dir,
		    p->o.spool_endpoint ? "--replay-from " : "--replay",
		    p->o.spool_endpoint ? p->o.spool_endpoint : "");
}

/* What became of the records, said once at the end, worst first. */
static void
report(struct push *p)
{
	const struct simlog_writer_stats *s = &p->st;

	if (s->failed > 0)
		warnx("%llu records were not stored anywhere: %s%s", s->failed,
		    s->fatal.msg, strstr(s->fatal.msg, "is full") ?
		    "; raise --spool-max, or replay the spool" : "");
	if (s->spool_lost > 0 || s->spool_lost_unknown)
		warnx("replaying the spool lost %llu records%s in %llu damaged "
		    "segment(s)", s->spool_lost, s->spool_lost_unknown ?
		    " and more that cannot be counted" : "",
		    s->damaged_segments);
	if (s->spooled > 0 && s->spool_pending)
		warnx("%llu records wait in the spool %s; the next simlog-push "
		    "to %s replays them, or now 'simlog-push --replay'; to "
		    "send them with another URL, 'simlog-push --replay-from "
		    "%s -u URL'", s->spooled, s->spool_dir, p->endpoint,
		    p->endpoint);
	if (s->dropped > 0)
		warnx("%llu low-priority records were dropped", s->dropped);
	if (p->o.replay_only)
		report_left(p);
}

/* Records of this run not in Redis decide the status, worst first. */
static int
exit_status(struct push *p, int status)
{
	struct simlog_writer_input in = input_counts(p);

	if (status != SIMLOG_EX_OK)
		return status;
	return simlog_writer_status(&p->st, &in);
}

/* The endpoint (the spool's name for a server) of url, or of the
 * connection options' own URL when url is NULL; -1 if it is no URL. */
static int
endpoint_of(const struct simlog_conn_opts *co, const char *url, char *buf,
	    size_t len, struct simlog_err *e)
{
	struct simlog_conn_opts o = *co;
	struct simlog_conn conn;

	if (url != NULL)
		o.url = url;
	if (simlog_conn_init(&conn, &o, e) < 0)
		return -1;
	simlog_conn_endpoint(&conn, 1, buf, len);
	simlog_conn_clear(&conn);
	return 0;
}

/* The spool directory (malloc'd). */
static char *
spool_root(const struct simlog_writer_opts *o)
{
	char *dir = o->spool_dir ? strdup(o->spool_dir) :
	    simlog_spool_default_dir();

	if (dir == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	return dir;
}

/* One writer from open to close: records in (none for a replay), the
 * summary, what became of them; the exit status. */
static int
push_once(struct push *p, struct simlog_lines *in)
{
	struct simlog_err e;
	int status;

	if ((p->w = simlog_writer_open(&p->o, &e)) == NULL)
		cli_die(&e);
	status = p->o.replay_only ? SIMLOG_EX_OK : run(p, in);
	simlog_writer_close(p->w, &p->st);
	show_final(p);
	p->w = NULL;
	summary(p);
	report(p);
	return exit_status(p, status);
}

/* --- every endpoint's spool (--replay-from) ----------------------------- */

struct spool_dir {
	char path[1024];
	char endpoint[700];
};

struct spools {
	struct spool_dir *v;
	size_t n;
};

static int
add_spool(void *arg, const char *path, const char *endpoint)
{
	struct spools *l = arg;
	struct spool_dir *q = realloc(l->v, (l->n + 1) * sizeof(*q));

	if (q == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	l->v = q;
	snprintf(q[l->n].path, sizeof(q->path), "%s", path);
	snprintf(q[l->n].endpoint, sizeof(q->endpoint), "%s", endpoint);
	l->n++;
	return 0;
}

static void
list_spools(const struct push *p, struct spools *l)
{
	char *dir = spool_root(&p->o);

	l->v = NULL;
	l->n = 0;
	if (simlog_spool_each(dir, add_spool, l) < 0)
		err(SIMLOG_EX_IOERR, "spool %s", dir);
	free(dir);
}

/* Segments waiting in an endpoint's spool. */
static unsigned long long
waiting(const struct spool_dir *d)
{
	struct simlog_spool_usage u;

	return simlog_spool_usage(d->path, &u) == 0 ? u.segments : 0;
}

/* Whether d is the spool --replay-from names: by its endpoint as the
 * messages spell it, by its directory's name, or as a URL would be. */
static int
named(const struct push *p, const struct spool_dir *d, const char *as_url)
{
	const char *base = strrchr(d->path, '/');

	return strcmp(p->replay_from, d->endpoint) == 0 ||
	    strcmp(p->replay_from, base ? base + 1 : d->path) == 0 ||
	    (as_url[0] != '\0' && strcmp(as_url, d->endpoint) == 0);
}

/* The worse of two exit statuses, as exit_status ranks them. */
static int
worse(int a, int b)
{
	static const int rank[] = { SIMLOG_EX_IOERR, SIMLOG_EX_NOPERM,
	    SIMLOG_EX_CONFIG, SIMLOG_EX_OSERR, SIMLOG_EX_TEMPFAIL,
	    SIMLOG_EX_UNAVAILABLE, SIMLOG_EX_DATAERR };

	for (size_t i = 0; i < sizeof(rank) / sizeof(rank[0]); i++)
		if (a == rank[i] || b == rank[i])
			return rank[i];
	return a != SIMLOG_EX_OK ? a : b;
}

/* --replay-from ENDPOINT|all: that spool (or every one with segments
 * waiting) replayed into this URL, a summary line each. */
static int
replay_from(struct push *p)
{
	struct spools l;
	struct simlog_err e;
	char as_url[700] = "", here[700];
	int all = strcmp(p->replay_from, "all") == 0, status = SIMLOG_EX_OK;
	size_t i, done = 0;

	if (endpoint_of(&p->o.conn, NULL, here, sizeof(here), &e) < 0)
		cli_die(&e);
	if (!all && endpoint_of(&p->o.conn, p->replay_from, as_url,
	    sizeof(as_url), &e) < 0)
		as_url[0] = '\0';
	list_spools(p, &l);
	for (i = 0; i < l.n; i++) {
		if (all ? waiting(&l.v[i]) == 0 : !named(p, &l.v[i], as_url))
			continue;
		snprintf(p->endpoint, sizeof(p->endpoint), "%s",
		    l.v[i].endpoint);
		p->o.spool_endpoint = p->endpoint;
		if (strcmp(p->endpoint, here) != 0)
			warnx("replaying the spool of %s (%s) into %s",
			    p->endpoint, l.v[i].path, here);
		status = worse(status, push_once(p, NULL));
		done++;
	}
	if (done == 0 && !all) {
		char *dir = spool_root(&p->o);

		warnx("--replay-from %.200s: no spool of that name in %s; "
		    "there are:%s", p->replay_from, dir, l.n ? "" : " none");
		for (i = 0; i < l.n; i++)
			fprintf(stderr, "  %s (%llu segments waiting)\n",
			    l.v[i].endpoint, waiting(&l.v[i]));
		free(dir);
		status = SIMLOG_EX_NOINPUT;
	}
	free(l.v);
	return status;
}

/* After a plain --replay: spools kept for other URLs that this replay
 * did not touch, each said once with the line that sends them here. */
static void
other_spools(const struct push *p)
{
	struct spools l;

	list_spools(p, &l);
	for (size_t i = 0; i < l.n; i++) {
		unsigned long long n;

		if (strcmp(l.v[i].endpoint, p->endpoint) == 0 ||
		    (n = waiting(&l.v[i])) == 0)
			continue;
		warnx("the spool of %s also holds %llu segment(s), for another "
		    "URL: 'simlog-push --replay-from %s' sends them to this "
		    "one", l.v[i].endpoint, n, l.v[i].endpoint);
	}
	free(l.v);
}

/* --spool-status: one line per segment, then the totals. */
struct status {
	struct simlog_jw w;
	const char *dir;
	unsigned long long segments, records, bytes, damaged, lost;
	int unknown;
};

static int
status_line(void *arg, const struct simlog_spool_stat *s)
{
	static const char *const states[] = { "waiting", "busy", "damaged" };
	struct status *t = arg;
	struct simlog_jw *w = &t->w;

	simlog_jw_begin(w);
	simlog_jw_kstr(w, "spool", t->dir);
	simlog_jw_kstr(w, "segment", s->name);
	simlog_jw_kstr(w, "state", states[s->state]);
	simlog_jw_kuint(w, "bytes", s->bytes);
	simlog_jw_kuint(w, "chunks", s->chunks);
	simlog_jw_kuint(w, "records", s->records);
	simlog_jw_kuint(w, "lost_records", s->loss.records);
	simlog_jw_kbool(w, "lost_uncounted", s->loss.unknown);
	simlog_jw_key(w, "sims");
	simlog_jw_obj(w);
	for (size_t i = 0; i < s->nsims; i++)
		simlog_jw_kuint(w, s->sims[i].name, s->sims[i].records);
	simlog_jw_close(w);
	simlog_jw_end(w);
	t->segments++;
	/* A damaged file's readable records were replayed already. */
	if (s->state != SIMLOG_SPOOL_DAMAGED)
		t->records += s->records;
	t->bytes += s->bytes;
	t->damaged += s->state == SIMLOG_SPOOL_DAMAGED;
	t->lost += s->loss.records;
	t->unknown |= s->loss.unknown;
	return 0;
}

static int
spool_status(const struct simlog_writer_opts *o)
{
	struct simlog_conn conn;
	struct simlog_err e;
	struct status t;
	char endpoint[700], path[1200], *dir;

	if (simlog_conn_init(&conn, &o->conn, &e) < 0)
		cli_die(&e);
	simlog_conn_endpoint(&conn, 1, endpoint, sizeof(endpoint));
	dir = spool_root(o);
	simlog_spool_path(dir, endpoint, path, sizeof(path));
	memset(&t, 0, sizeof(t));
	simlog_jw_init(&t.w, stdout);
	t.dir = path;
	if (simlog_spool_status(path, status_line, &t) < 0)
		err(SIMLOG_EX_IOERR, "spool %s", path);
	simlog_jw_begin(&t.w);
	simlog_jw_kstr(&t.w, "spool", path);
	simlog_jw_kstr(&t.w, "endpoint", conn.display);
	simlog_jw_kuint(&t.w, "segments", t.segments);
	simlog_jw_kuint(&t.w, "records", t.records);
	simlog_jw_kuint(&t.w, "bytes", t.bytes);
	simlog_jw_kuint(&t.w, "damaged_segments", t.damaged);
	simlog_jw_kuint(&t.w, "lost_records", t.lost);
	simlog_jw_kbool(&t.w, "lost_uncounted", t.unknown);
	simlog_jw_end(&t.w);
	free(dir);
	simlog_conn_clear(&conn);
	return cli_close_stdout() == 0 ? SIMLOG_EX_OK : SIMLOG_EX_IOERR;
}

static enum simlog_priority
parse_priority(const char *s)
{
	static const char *const names[] = { "low", "normal", "critical" };

	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0)
			return (enum simlog_priority)i;
	errx(SIMLOG_EX_USAGE, "invalid --priority: '%.40s': use critical, "
	    "normal or low", s);
}

/* The options; returns whether --spool-status was asked for. */
static int
options(int argc, char **argv, struct push *p)
{
	struct simlog_writer_opts *o = &p->o;
	int c, status = 0, quiet = 0, force = 0;

	while ((c = getopt_long(argc, argv, "u:s:t:qhV", longopts, NULL)) != -1) {
		if (cli_conn_option(c, optarg, &o->conn))
			continue;
		switch (c) {
		case 's':
			cli_check_sim("--sim", optarg);
			o->sim = optarg;
			break;
		case 't': {
			const char *why;

			if (simlog_valid_type(optarg, strlen(optarg), &why) < 0)
				errx(SIMLOG_EX_USAGE, "invalid --type: "
				    "'%.64s': %s", optarg, why);
			o->type = optarg;
			break;
		}
		case OPT_TYPE_FIELD:
			if (*optarg == '\0' || strlen(optarg) > 64)
				errx(SIMLOG_EX_USAGE, "invalid --type-field: "
				    "'%.64s': 1 to 64 bytes", optarg);
			o->type_field = optarg;
			break;
		case OPT_SIM_FIELD:
			if (*optarg == '\0' || strlen(optarg) > 64)
				errx(SIMLOG_EX_USAGE, "invalid --sim-field: "
				    "'%.64s': 1 to 64 bytes", optarg);
			o->sim_field = optarg;
			break;
		case OPT_TEE:
			p->tee = 1;
			break;
		case OPT_TEE_ERROR:
			if (strcmp(optarg, "warn") == 0)
				p->tee_mode = TEE_WARN;
			else if (strcmp(optarg, "exit") == 0)
				p->tee_mode = TEE_EXIT;
			else
				errx(SIMLOG_EX_USAGE, "invalid --tee-error: "
				    "'%.40s': use warn or exit", optarg);
			break;
		case OPT_REJECT:
			p->reject_path = optarg;
			break;
		case OPT_BATCH:
			o->batch = (size_t)cli_number("--batch", optarg, 1,
			    100000);
			break;
		case OPT_MAX_RECORD:
			o->max_record = (size_t)cli_number("--max-record",
			    optarg, 16, 64 << 20);
			break;
		case OPT_INFLIGHT:
			o->inflight = (size_t)cli_number("--inflight", optarg,
			    1, 1024);
			break;
		case OPT_FLUSH_INTERVAL:
			o->flush_interval = cli_seconds("--flush-interval",
			    optarg, 86400);
			break;
		case OPT_PRIORITY:
			o->prio = parse_priority(optarg);
			break;
		case OPT_DEADLINE:
			o->deadline = cli_seconds("--deadline", optarg,
			    86400 * 7);
			break;
		case OPT_MAX_BACKLOG:
			o->max_backlog = (uint64_t)cli_number("--max-backlog",
			    optarg, 0, (long long)1 << 50);
			break;
		case OPT_WAIT_REPLICAS:
			o->wait_replicas = (int)cli_number("--wait-replicas",
			    optarg, 0, 100);
			break;
		case OPT_SPOOL:
			if (*optarg == '\0')
				errx(SIMLOG_EX_USAGE, "invalid --spool: empty "
				    "path");
			o->spool_dir = optarg;
			break;
		case OPT_SPOOL_MAX:
			o->spool_max = (uint64_t)cli_number("--spool-max",
			    optarg, 4096, (long long)1 << 50);
			break;
		case OPT_REPLAY:
			o->replay_only = 1;
			break;
		case OPT_REPLAY_FROM:
			if (*optarg == '\0')
				errx(SIMLOG_EX_USAGE, "invalid --replay-from: "
				    "empty (an endpoint, as the spool's messages "
				    "name it, or all)");
			p->replay_from = optarg;
			o->replay_only = 1;
			break;
		case OPT_SPOOL_STATUS:
			status = 1;
			break;
		case OPT_RETRIES:
			o->retries = (int)cli_number("--retries", optarg, 0,
			    1000);
			break;
		case OPT_RETRY_BASE:
			o->retry_base = cli_seconds("--retry-base", optarg,
			    3600);
			break;
		case OPT_RETRY_FACTOR:
			o->retry_factor = cli_seconds("--retry-factor", optarg,
			    100);
			if (o->retry_factor < 1)
				errx(SIMLOG_EX_USAGE, "invalid --retry-factor: "
				    "'%.40s': at least 1", optarg);
			break;
		case OPT_RETRY_CAP:
			o->retry_cap = cli_seconds("--retry-cap", optarg, 3600);
			break;
		case OPT_BREAKER_FAILURES:
			o->breaker_failures = (int)cli_number(
			    "--breaker-failures", optarg, 1, 1000);
			break;
		case OPT_BREAKER_RESET:
			o->breaker_reset = cli_seconds("--breaker-reset",
			    optarg, 86400);
			if (o->breaker_reset <= 0)
				errx(SIMLOG_EX_USAGE, "invalid --breaker-reset: "
				    "'%.40s': must be more than 0", optarg);
			break;
		case 'q':
			quiet = 1;
			break;
		case OPT_PROGRESS:
			force = 1;
			break;
		case 'h':
			usage();
			exit(cli_close_stdout() == 0 ? 0 : SIMLOG_EX_IOERR);
		case 'V':
			cli_version();
		default:
			cli_try_help();
		}
	}
	if (optind < argc) {
		warnx("unexpected argument '%.100s'", argv[optind]);
		cli_try_help();
	}
	p->progress = !quiet && (force || isatty(STDERR_FILENO));
	return status;
}

int
main(int argc, char **argv)
{
	struct push p;
	struct simlog_lines *in = NULL;
	struct simlog_err e;
	int status;

	cli_protect_secrets();
	memset(&p, 0, sizeof(p));
	simlog_writer_opts_init(&p.o);
	p.o.conn.name = "simlog-push";
	if (options(argc, argv, &p))
		return spool_status(&p.o);
	p.o.stop = &cli_stop;
	p.o.say = cli_say;
	p.o.type_hint = " (give every line's type with -t TYPE, or name the "
	    "field that holds it with --type-field)";
	p.out = p.tee ? stderr : stdout;
	if (p.reject_path != NULL &&
	    (p.reject = fopen(p.reject_path, "a")) == NULL)
		err(SIMLOG_EX_CANTCREAT, "%s", p.reject_path);
	if (!p.o.replay_only &&
	    (in = simlog_lines_new(STDIN_FILENO, p.o.max_record)) == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	cli_signals();
	if (p.replay_from != NULL)
		status = replay_from(&p);
	else {
		if (endpoint_of(&p.o.conn, NULL, p.endpoint,
		    sizeof(p.endpoint), &e) < 0)
			cli_die(&e);
		status = push_once(&p, in);
		if (p.o.replay_only)
			other_spools(&p);
	}

	if (p.reject != NULL && fclose(p.reject) != 0) {
		warn("%s", p.reject_path);
		status = SIMLOG_EX_IOERR;
	}
	if (!p.tee_closed && cli_close_stdout() < 0 && status == 0)
		status = SIMLOG_EX_IOERR;
	simlog_lines_free(in);
	return status;
}

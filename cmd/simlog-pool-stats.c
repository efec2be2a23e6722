/*
 * simlog-pool-stats: who holds connections to Redis and how close it is
 * to maxclients, how busy and how full it is, and what simlog has buffered
 * and not yet drained; one JSON line (or a table) per sample.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "simlog_health.h"

enum { OPT_WARN_AT = 0x100, OPT_SPOOL };

static const struct option longopts[] = {
	CLI_CONN_LONGOPTS,
	{ "watch", required_argument, NULL, 'w' },
	{ "count", required_argument, NULL, 'n' },
	{ "warn-at", required_argument, NULL, OPT_WARN_AT },
	{ "format", required_argument, NULL, 'f' },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(void)
{
	fputs(
"Usage: simlog-pool-stats [-u URL] [--watch SECONDS] [--count N]\n"
"                         [--warn-at FRACTION] [--format json|table]\n"
"\n"
"Report Redis connections by client name, utilization of maxclients,\n"
"rejected connections, load, memory, and simlog's backlog per simulation\n"
"and record type; one JSON line per sample.\n"
"\n"
"Options:\n"
"  -u, --url URL            Redis URL (default $SIMLOG_REDIS_URL, else\n"
"                           redis://127.0.0.1:6379/0)\n"
"      --password-file FILE read the Redis password from FILE\n"
"      --timeout SECONDS    connect and command timeout (default 2)\n"
"  -w, --watch SECONDS      sample every SECONDS until interrupted\n"
"  -n, --count N            stop after N samples (default 1, or unlimited\n"
"                           with --watch)\n"
"      --warn-at FRACTION   exit 1 if utilization reaches FRACTION (0-1)\n"
"  -f, --format FORMAT      json (default) or table\n"
"      --spool DIR          spool directory (default $SIMLOG_SPOOL_DIR, else\n"
"                           $XDG_STATE_HOME/simlog/spool)\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Exit status: 0 ok, 1 utilization reached --warn-at, 69 Redis unreachable\n"
"or lost, 77 authentication refused; see simlog-pool-stats(1).\n",
	    stdout);
}

struct sample {
	double wall, mono;
	struct simlog_pool pool;
	struct simlog_clients clients;
	struct simlog_backlog backlog;
	struct simlog_spool_usage spool;
	char spool_path[700];
	unsigned commands;	/* sent after INFO, for the next average */
};

struct stats {
	double watch;
	long long count;	/* 0: no end */
	double warn_at;		/* 0: off */
	int table;
	char *spool_dir;

	struct simlog_conn conn;
	struct sample cur, prev;
	int have_prev;
	int warned;
};

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the pause between samples ends at once.  A signal
	 * during a command lets it finish (hiredis retries on EINTR). */
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void
sample_clear(struct sample *s)
{
	simlog_clients_clear(&s->clients);
	simlog_backlog_clear(&s->backlog);
}

/* INFO, CLIENT LIST, the backlog counters, and the spool directory. */
static int
take_sample(struct stats *st, struct sample *s, struct simlog_err *e)
{
	char *info, *v;

	memset(s, 0, sizeof(*s));
	s->wall = simlog_now_wall();
	s->mono = simlog_now_mono();
	if ((info = simlog_info(&st->conn, NULL, e)) == NULL)
		return -1;
	simlog_pool_parse(info, &s->pool);
	free(info);
	if (s->pool.maxclients < 0) {
		/* Before Redis 7, INFO did not give maxclients. */
		if ((v = simlog_config_get(&st->conn, "maxclients", e)) != NULL) {
			s->pool.maxclients = strtoll(v, NULL, 10);
			free(v);
		}
		s->commands++;
	}
	if (simlog_clients_read(&st->conn, &s->clients, e) < 0)
		return -1;
	s->commands++;
	if (simlog_backlog_read(&st->conn, &s->backlog, e) < 0)
		return -1;
	s->commands += s->backlog.commands;
	return simlog_spool_backlog(st->spool_dir, &st->conn, s->spool_path,
	    sizeof(s->spool_path), &s->spool, e);
}

static double
utilization(const struct sample *s)
{
	if (s->pool.connected_clients < 0 || s->pool.maxclients <= 0)
		return -1;
	return (double)s->pool.connected_clients / (double)s->pool.maxclients;
}

/* Commands per second since the previous sample, ours left out; -1 when
 * there is no previous sample or the counter went back (a restart). */
static double
ops_avg(const struct stats *st)
{
	const struct sample *a = &st->prev, *b = &st->cur;
	long long n;
	double dt;

	if (!st->have_prev || a->pool.total_commands < 0 ||
	    b->pool.total_commands < a->pool.total_commands)
		return -1;
	dt = b->mono - a->mono;
	/* Redis counts a command once it has run: the previous INFO shows
	 * up in this count, this one not yet. */
	n = b->pool.total_commands - a->pool.total_commands -
	    (long long)a->commands - 1;
	if (dt <= 0)
		return -1;
	return (double)(n > 0 ? n : 0) / dt;
}

static long long
rejected_delta(const struct stats *st)
{
	long long a = st->prev.pool.rejected_connections;
	long long b = st->cur.pool.rejected_connections;

	if (!st->have_prev || a < 0 || b < a)
		return -1;
	return b - a;
}

/* --- JSON ------------------------------------------------------------- */

static void
j_str(const char *s)
{
	simlog_json_write_str(stdout, s, strlen(s));
}

static void
j_ll(const char *name, long long v)
{
	if (v < 0)
		printf(",\"%s\":null", name);
	else
		printf(",\"%s\":%lld", name, v);
}

static void
j_head(const struct stats *st, int ok, double wall)
{
	printf("{\"ok\":%s,\"time\":%.3f,\"url\":", ok ? "true" : "false",
	    wall);
	j_str(st->conn.display);
}

static void
json_sample(const struct stats *st)
{
	const struct sample *s = &st->cur;
	double u = utilization(s), ops = ops_avg(st);
	size_t i, j;

	j_head(st, 1, s->wall);
	j_ll("connected_clients", s->pool.connected_clients);
	j_ll("maxclients", s->pool.maxclients);
	if (u < 0)
		fputs(",\"utilization\":null", stdout);
	else
		printf(",\"utilization\":%.6f", u);
	j_ll("rejected_connections", s->pool.rejected_connections);
	j_ll("rejected_connections_delta", rejected_delta(st));
	j_ll("blocked_clients", s->pool.blocked_clients);
	fputs(",\"clients_by_name\":{", stdout);
	for (i = 0; i < s->clients.n; i++) {
		if (i > 0)
			putchar(',');
		j_str(s->clients.v[i].name);
		printf(":%lu", s->clients.v[i].count);
	}
	putchar('}');
	j_ll("ops_per_sec", s->pool.ops_per_sec);
	if (ops < 0)
		fputs(",\"ops_per_sec_avg\":null", stdout);
	else
		printf(",\"ops_per_sec_avg\":%.1f", ops);
	j_ll("total_commands_processed", s->pool.total_commands);
	j_ll("used_memory", s->pool.used_memory);
	j_ll("maxmemory", s->pool.maxmemory);
	printf(",\"backlog\":{\"records\":%lld,\"bytes\":%lld,\"sims\":{",
	    s->backlog.records, s->backlog.bytes);
	for (i = 0; i < s->backlog.nsims; i++) {
		const struct simlog_backlog_sim *m = &s->backlog.sims[i];

		if (i > 0)
			putchar(',');
		j_str(m->name);
		printf(":{\"records\":%lld,\"bytes\":%lld,\"types\":{",
		    m->records, m->bytes);
		for (j = 0; j < m->ntypes; j++) {
			if (j > 0)
				putchar(',');
			j_str(m->types[j].name);
			printf(":{\"records\":%lld,\"bytes\":%lld}",
			    m->types[j].records, m->types[j].bytes);
		}
		fputs("}}", stdout);
	}
	fputs("},\"spool\":{\"dir\":", stdout);
	j_str(s->spool_path);
	printf(",\"segments\":%llu,\"bytes\":%llu}}}\n",
	    (unsigned long long)s->spool.segments,
	    (unsigned long long)s->spool.bytes);
}

static void
json_error(const struct stats *st, const struct simlog_err *e)
{
	j_head(st, 0, simlog_now_wall());
	fputs(",\"error\":", stdout);
	j_str(e->msg);
	fputs("}\n", stdout);
}

/* --- table ------------------------------------------------------------ */

static const char *
human(long long v, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	int u = 0;

	if (v < 0)
		return "?";
	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lld B", v);
	else
		snprintf(buf, len, "%.1f %s", d, unit[u]);
	return buf;
}

static int
width_ll(long long v)
{
	char b[32];

	return snprintf(b, sizeof(b), "%lld", v);
}

static void
table_sample(const struct stats *st)
{
	const struct sample *s = &st->cur;
	double u = utilization(s), ops = ops_avg(st);
	long long rd = rejected_delta(st);
	char tbuf[32], h1[32], h2[32];
	struct tm tm;
	time_t t = (time_t)s->wall;
	int wn = 4, wc = 11, ws = 3, wt = 5, wr = 7, wb = 5;
	size_t i, j;

	localtime_r(&t, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s  %s\n", tbuf, st->conn.display);
	printf("%-10s%lld of %lld", "clients", s->pool.connected_clients,
	    s->pool.maxclients);
	if (u >= 0)
		printf(" (%.1f %%)", u * 100);
	printf(", %lld blocked\n", s->pool.blocked_clients);
	printf("%-10s%lld connections", "rejected",
	    s->pool.rejected_connections);
	if (rd >= 0)
		printf(" (+%lld since the last sample)", rd);
	putchar('\n');
	printf("%-10s%lld/s", "ops", s->pool.ops_per_sec);
	if (ops >= 0)
		printf(" (%.1f/s on average since the last sample)", ops);
	putchar('\n');
	printf("%-10s%s used, ", "memory", human(s->pool.used_memory, h1,
	    sizeof(h1)));
	if (s->pool.maxmemory > 0)
		printf("maxmemory %s\n", human(s->pool.maxmemory, h2,
		    sizeof(h2)));
	else
		puts("no maxmemory");
	printf("%-10s%llu segments, %s (%s)\n", "spool",
	    (unsigned long long)s->spool.segments,
	    human((long long)s->spool.bytes, h1, sizeof(h1)), s->spool_path);

	for (i = 0; i < s->clients.n; i++) {
		int w = (int)strlen(s->clients.v[i].name);

		wn = w > wn ? w : wn;
	}
	printf("\n%-*s  %*s\n", wn, "NAME", wc, "CONNECTIONS");
	for (i = 0; i < s->clients.n; i++)
		printf("%-*s  %*lu\n", wn,
		    s->clients.v[i].name[0] ? s->clients.v[i].name : "\"\"",
		    wc, s->clients.v[i].count);

	for (i = 0; i < s->backlog.nsims; i++) {
		const struct simlog_backlog_sim *m = &s->backlog.sims[i];
		int w = (int)strlen(m->name);

		ws = w > ws ? w : ws;
		for (j = 0; j < m->ntypes; j++) {
			w = (int)strlen(m->types[j].name);
			wt = w > wt ? w : wt;
		}
	}
	wr = width_ll(s->backlog.records) > wr ?
	    width_ll(s->backlog.records) : wr;
	wb = width_ll(s->backlog.bytes) > wb ? width_ll(s->backlog.bytes) : wb;
	printf("\n%-*s  %-*s  %*s  %*s\n", ws, "SIM", wt, "TYPE", wr, "RECORDS",
	    wb, "BYTES");
	for (i = 0; i < s->backlog.nsims; i++) {
		const struct simlog_backlog_sim *m = &s->backlog.sims[i];

		for (j = 0; j < m->ntypes; j++)
			printf("%-*s  %-*s  %*lld  %*lld\n", ws, m->name, wt,
			    m->types[j].name, wr, m->types[j].records, wb,
			    m->types[j].bytes);
	}
	printf("%-*s  %-*s  %*lld  %*lld\n\n", ws, "", wt, "total", wr,
	    s->backlog.records, wb, s->backlog.bytes);
}

/* --- main loop -------------------------------------------------------- */

/* Exit status of a failure: a health monitor sees any server that does
 * not answer as unavailable, refused credentials apart. */
static int
fail_status(const struct simlog_err *e)
{
	if (e->code == SIMLOG_EX_NOPERM || e->code == SIMLOG_EX_SOFTWARE ||
	    e->code == SIMLOG_EX_CONFIG || e->code == SIMLOG_EX_IOERR)
		return e->code;
	return SIMLOG_EX_UNAVAILABLE;
}

static int
fail(struct stats *st, const struct simlog_err *e)
{
	if (!st->table)
		json_error(st, e);
	warnx("%s", e->msg);
	return fail_status(e);
}

/* Write a sample; 1 when the reader went away, -1 on a write error. */
static int
emit(struct stats *st)
{
	double u = utilization(&st->cur);

	if (st->table)
		table_sample(st);
	else
		json_sample(st);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE)
			return 1;
		warn("write error");
		return -1;
	}
	if (st->warn_at > 0 && u >= st->warn_at) {
		warnx("%s: %lld of %lld connections in use (%.1f %%), at or "
		    "above --warn-at %g", st->conn.display,
		    st->cur.pool.connected_clients, st->cur.pool.maxclients,
		    u * 100, st->warn_at);
		st->warned = 1;
	}
	return 0;
}

static int
run(struct stats *st)
{
	struct simlog_err e;
	double start = simlog_now_mono();
	long long i;

	if (simlog_conn_open(&st->conn, &e) < 0)
		return fail(st, &e);
	for (i = 0; st->count == 0 || i < st->count; i++) {
		int w;

		if (i > 0) {
			/* Keep to the schedule; a slow sample shifts it. */
			double next = start + (double)i * st->watch;
			double now = simlog_now_mono();

			if (next < now)
				start = now - (double)i * st->watch;
			else
				simlog_sleep(next - now,
				    (volatile int *)&stop_requested);
		}
		if (stop_requested)
			break;
		if (take_sample(st, &st->cur, &e) < 0) {
			sample_clear(&st->cur);
			return fail(st, &e);
		}
		w = emit(st);
		sample_clear(&st->prev);
		st->prev = st->cur;
		st->have_prev = 1;
		memset(&st->cur, 0, sizeof(st->cur));
		if (w < 0)
			return SIMLOG_EX_IOERR;
		if (w > 0 || stop_requested)
			break;
	}
	return SIMLOG_EX_OK;
}

int
main(int argc, char **argv)
{
	struct simlog_conn_opts co = { .name = "simlog-pool-stats",
	    .timeout = 2 };
	struct stats st;
	struct simlog_err e;
	const char *spool = NULL;
	int c, status, counted = 0;

	cli_protect_secrets();

	memset(&st, 0, sizeof(st));
	while ((c = getopt_long(argc, argv, "u:w:n:f:hV", longopts,
	    NULL)) != -1) {
		if (cli_conn_option(c, optarg, &co))
			continue;
		switch (c) {
		case 'w':
			st.watch = cli_seconds("--watch", optarg, 86400);
			if (st.watch <= 0)
				errx(SIMLOG_EX_USAGE, "invalid --watch: '%s': "
				    "must be more than 0", optarg);
			break;
		case 'n':
			st.count = cli_number("--count", optarg, 1,
			    1000000000);
			counted = 1;
			break;
		case OPT_WARN_AT:
			st.warn_at = cli_seconds("--warn-at", optarg, 1);
			if (st.warn_at <= 0)
				errx(SIMLOG_EX_USAGE, "invalid --warn-at: '%s': "
				    "must be more than 0", optarg);
			break;
		case 'f':
			if (strcmp(optarg, "json") == 0)
				st.table = 0;
			else if (strcmp(optarg, "table") == 0)
				st.table = 1;
			else
				errx(SIMLOG_EX_USAGE, "invalid --format: '%s': "
				    "json or table", optarg);
			break;
		case OPT_SPOOL:
			if (*optarg == '\0')
				errx(SIMLOG_EX_USAGE, "invalid --spool: empty "
				    "path");
			spool = optarg;
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
	/* One sample by default; --count without --watch: a second apart. */
	if (!counted)
		st.count = st.watch > 0 ? 0 : 1;
	if (st.watch <= 0)
		st.watch = 1;
	if ((st.spool_dir = spool ? strdup(spool) :
	    simlog_spool_default_dir()) == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	if (simlog_conn_init(&st.conn, &co, &e) < 0)
		cli_die(&e);
	install_signals();

	status = run(&st);
	if (status == SIMLOG_EX_OK && st.warned)
		status = SIMLOG_EX_FAIL;
	if (cli_close_stdout() < 0 && status == SIMLOG_EX_OK)
		status = SIMLOG_EX_IOERR;
	sample_clear(&st.prev);
	sample_clear(&st.cur);
	simlog_conn_clear(&st.conn);
	free(st.spool_dir);
	return status;
}

/*
 * simlog-ping: is Redis there, how fast does it answer, and is it safe as
 * a simlog buffer?  One JSON line for CI and scripts, on one connection.
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

#include <hiredis/hiredis.h>

#include "common.h"
#include "simlog_health.h"

#define DEFAULT_COUNT 3
#define DEFAULT_INTERVAL 0.1
#define WAIT_STEP_MIN 0.05	/* first pause between --wait attempts */
#define WAIT_STEP_MAX 1.0

enum { OPT_CHECK = 0x100, OPT_STRICT };

static const struct option longopts[] = {
	CLI_CONN_LONGOPTS,
	{ "count", required_argument, NULL, 'c' },
	{ "interval", required_argument, NULL, 'i' },
	{ "wait", required_argument, NULL, 'w' },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "strict", no_argument, NULL, OPT_STRICT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(void)
{
	fputs(
"Usage: simlog-ping [-u URL] [-c COUNT] [-i INTERVAL] [--wait SECONDS]\n"
"                   [--check [--strict]]\n"
"\n"
"Check that Redis answers, measure its latency, and (--check) whether it is\n"
"safe as a simlog buffer; print one JSON line.\n"
"\n"
"Options:\n"
"  -u, --url URL            Redis URL (default $SIMLOG_REDIS_URL, else\n"
"                           redis://127.0.0.1:6379/0)\n"
"      --password-file FILE read the Redis password from FILE\n"
"      --timeout SECONDS    connect and command timeout (default 2)\n"
"  -c, --count N            PINGs to send (default 3)\n"
"  -i, --interval SECONDS   pause between PINGs (default 0.1)\n"
"  -w, --wait SECONDS       keep trying until Redis answers or SECONDS pass\n"
"      --check              report settings that make Redis unsafe as a buffer\n"
"      --strict             with --check, warnings fail too\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Exit status: 0 Redis answers (and --check found no problem), 69 Redis\n"
"unreachable or not answering, 77 authentication refused, 78 --check found\n"
"a problem; see simlog-ping(1).\n",
	    stdout);
}

struct ping {
	long long count;
	double interval, wait, timeout;
	int check, strict;

	struct simlog_conn conn;
	double *ms;			/* round trips, milliseconds */
	size_t n;
	int attempts;
	struct simlog_server server;
	int have_server;
	struct simlog_finding findings[SIMLOG_MAX_FINDINGS];
	size_t nfindings;
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
	/* No SA_RESTART: a pause between PINGs ends at once. */
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void
pause_for(double s)
{
	simlog_sleep(s, (volatile int *)&stop_requested);
}

/* One PING; its round trip in milliseconds into *ms. */
static int
ping_once(struct ping *p, double *ms, struct simlog_err *e)
{
	const char *av[1] = { "PING" };
	struct timespec t0, t1;
	redisReply *r;
	int ok;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = simlog_cmd(&p->conn, e, 1, av, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r == NULL)
		return -1;
	ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
	freeReplyObject(r);
	if (!ok)
		return simlog_seterr(e, SIMLOG_EX_UNAVAILABLE,
		    "%s: PING: unexpected reply", p->conn.display);
	*ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	return 0;
}

/* Give the commands after the first their whole --timeout again. */
static void
restore_timeout(struct ping *p)
{
	struct timeval tv;

	p->conn.timeout = p->timeout;
	tv.tv_sec = (time_t)p->timeout;
	tv.tv_usec = (suseconds_t)((p->timeout - (double)tv.tv_sec) * 1e6);
	redisSetTimeout(p->conn.c, tv);
}

/*
 * Connect and get a first PONG, trying again for --wait seconds while the
 * failure may pass (refused, timed out, loading, too many clients).  One
 * connection at a time: each attempt replaces the last.
 */
static int
reach(struct ping *p, struct simlog_err *e)
{
	double deadline = simlog_now_mono() + p->wait, step = WAIT_STEP_MIN;

	for (;;) {
		double left = deadline - simlog_now_mono();

		p->attempts++;
		/* An attempt must not outlast the wait. */
		p->conn.timeout = p->timeout;
		if (p->wait > 0 && left > 0 && left < p->timeout)
			p->conn.timeout = left;
		if (simlog_conn_open(&p->conn, e) == 0 &&
		    ping_once(p, &p->ms[0], e) == 0) {
			p->n = 1;
			if (p->conn.timeout != p->timeout)
				restore_timeout(p);
			return 0;
		}
		simlog_conn_close(&p->conn);
		left = deadline - simlog_now_mono();
		if (!simlog_err_transient(e) || left <= 0 || stop_requested)
			return -1;
		pause_for(step < left ? step : left);
		if (stop_requested)
			return -1;
		step = step * 2 > WAIT_STEP_MAX ? WAIT_STEP_MAX : step * 2;
	}
}

static int
ping_rest(struct ping *p, struct simlog_err *e)
{
	while (p->n < (size_t)p->count && !stop_requested) {
		if (p->interval > 0)
			pause_for(p->interval);
		if (stop_requested)
			break;
		if (ping_once(p, &p->ms[p->n], e) < 0)
			return -1;
		p->n++;
	}
	return 0;
}

/*
 * INFO for the server block; with --check also CONFIG GET save.  Without
 * --check an ACL that denies INFO costs only the server block.
 */
static int
inspect(struct ping *p, struct simlog_err *e)
{
	char *info, *save = NULL;
	struct simlog_err se;
	long long aof;

	if ((info = simlog_info(&p->conn, NULL, e)) == NULL) {
		if (p->check || e->code != SIMLOG_EX_NOPERM)
			return -1;
		warnx("%s", e->msg);
		return 0;
	}
	simlog_server_parse(info, &p->server);
	p->have_server = 1;
	if (p->check) {
		/* Only needed when AOF is off; CONFIG may be denied. */
		if ((save = simlog_config_get(&p->conn, "save", &se)) == NULL &&
		    simlog_info_ll(info, "aof_enabled", &aof) == 0 && aof == 0)
			warnx("cannot read the RDB save schedule: %s", se.msg);
		p->nfindings = simlog_check(info, save, p->findings,
		    SIMLOG_MAX_FINDINGS);
	}
	free(save);
	free(info);
	return 0;
}

static void
put_ms(const char *name, double v, int last)
{
	printf("\"%s\":%.3f%s", name, v, last ? "" : ",");
}

static void
put_str(const char *name, const char *v)
{
	printf("\"%s\":", name);
	simlog_json_write_str(stdout, v, strlen(v));
}

static void
report(struct ping *p, const struct simlog_err *e)
{
	struct simlog_latency l;
	size_t i;

	printf("{\"ok\":%s,", e == NULL ? "true" : "false");
	put_str("url", p->conn.display);
	printf(",\"attempts\":%d,\"pings\":%zu", p->attempts, p->n);
	if (e != NULL) {
		putchar(',');
		put_str("error", e->msg);
		fputs("}\n", stdout);
		return;
	}
	simlog_latency_stats(p->ms, p->n, &l);
	fputs(",\"latency_ms\":{", stdout);
	put_ms("min", l.min, 0);
	put_ms("avg", l.avg, 0);
	put_ms("p50", l.p50, 0);
	put_ms("p99", l.p99, 0);
	put_ms("max", l.max, 1);
	fputs("},\"server\":", stdout);
	if (p->have_server) {
		putchar('{');
		put_str("version", p->server.version);
		putchar(',');
		put_str("role", p->server.role);
		putchar(',');
		put_str("mode", p->server.mode);
		if (p->server.uptime >= 0)
			printf(",\"uptime\":%lld}", p->server.uptime);
		else
			fputs(",\"uptime\":null}", stdout);
	} else
		fputs("null", stdout);
	if (p->check) {
		size_t problems = 0, warnings = 0;

		fputs(",\"findings\":[", stdout);
		for (i = 0; i < p->nfindings; i++) {
			const struct simlog_finding *f = &p->findings[i];

			if (f->severity == SIMLOG_SEV_PROBLEM)
				problems++;
			else
				warnings++;
			printf("%s{", i ? "," : "");
			put_str("setting", f->setting);
			putchar(',');
			put_str("value", f->value);
			putchar(',');
			put_str("severity", simlog_severity_name(f->severity));
			putchar(',');
			put_str("why", f->why);
			putchar('}');
		}
		printf("],\"problems\":%zu,\"warnings\":%zu", problems,
		    warnings);
	}
	fputs("}\n", stdout);
}

/* Exit status for a failure: anything that keeps Redis from answering is
 * "unavailable" to a health check, bar refused credentials. */
static int
fail_status(const struct simlog_err *e)
{
	if (e->code == SIMLOG_EX_NOPERM || e->code == SIMLOG_EX_SOFTWARE ||
	    e->code == SIMLOG_EX_CONFIG)
		return e->code;
	return SIMLOG_EX_UNAVAILABLE;
}

static int
verdict(const struct ping *p)
{
	size_t i;

	for (i = 0; i < p->nfindings; i++) {
		const struct simlog_finding *f = &p->findings[i];

		if (f->severity == SIMLOG_SEV_PROBLEM || p->strict) {
			warnx("%s: %s %s: %s", p->conn.display, f->setting,
			    f->value, f->why);
		}
	}
	for (i = 0; i < p->nfindings; i++)
		if (p->findings[i].severity == SIMLOG_SEV_PROBLEM || p->strict)
			return SIMLOG_EX_CONFIG;
	return SIMLOG_EX_OK;
}

int
main(int argc, char **argv)
{
	struct simlog_conn_opts co = { .name = "simlog-ping", .timeout = 2 };
	struct ping p;
	struct simlog_err e;
	int c, status;

	cli_protect_secrets();

	memset(&p, 0, sizeof(p));
	p.count = DEFAULT_COUNT;
	p.interval = DEFAULT_INTERVAL;
	while ((c = getopt_long(argc, argv, "u:c:i:w:hV", longopts, NULL)) != -1) {
		if (cli_conn_option(c, optarg, &co))
			continue;
		switch (c) {
		case 'c':
			p.count = cli_number("--count", optarg, 1, 1000000);
			break;
		case 'i':
			p.interval = cli_seconds("--interval", optarg, 3600);
			break;
		case 'w':
			p.wait = cli_seconds("--wait", optarg, 86400);
			break;
		case OPT_CHECK:
			p.check = 1;
			break;
		case OPT_STRICT:
			p.check = p.strict = 1;
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
	if (simlog_conn_init(&p.conn, &co, &e) < 0)
		cli_die(&e);
	if ((p.ms = calloc((size_t)p.count, sizeof(*p.ms))) == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	p.timeout = p.conn.timeout;
	install_signals();

	if (reach(&p, &e) < 0 || ping_rest(&p, &e) < 0 ||
	    inspect(&p, &e) < 0) {
		if (stop_requested && p.n == 0)
			snprintf(e.msg, sizeof(e.msg), "%.200s: interrupted before "
			    "Redis answered", p.conn.display);
		report(&p, &e);
		warnx("%s", e.msg);
		status = fail_status(&e);
	} else {
		report(&p, NULL);
		status = verdict(&p);
	}
	if (cli_close_stdout() < 0 && status == SIMLOG_EX_OK)
		status = SIMLOG_EX_IOERR;
	simlog_conn_clear(&p.conn);
	free(p.ms);
	return status;
}

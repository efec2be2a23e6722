/*
 * simlog-ping: is Redis there, how fast does it answer, and is it safe as
 * a simlog buffer?  One JSON line for CI and scripts, on one connection;
 * behind a cluster or sentinel URL, with a look at every node.
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
CLI_CONN_USAGE
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

/* The one line; -1 when writing it failed (and was said). */
static int
report(struct simlog_ping *p)
{
	struct simlog_jw w;

	simlog_jw_init(&w, stdout);
	simlog_ping_report(p, &w);
	return cli_line_end(&w) < 0 ? -1 : 0;
}

/* Exit status for a failure: anything that keeps Redis from answering is
 * "unavailable" to a health check, bar refused credentials. */
static int
fail_status(struct simlog_err *e)
{
	if (e->code == SIMLOG_EX_NOPERM || e->code == SIMLOG_EX_SOFTWARE ||
	    e->code == SIMLOG_EX_CONFIG || e->code == SIMLOG_EX_OSERR)
		return e->code;
	return SIMLOG_EX_UNAVAILABLE;
}

/* Findings that fail the run are said; 78 if there are any. */
static int
verdict(const struct simlog_ping *p, int strict)
{
	const struct simlog_finding *f;
	const char *node;
	int status = SIMLOG_EX_OK;

	for (size_t i = 0; (f = simlog_ping_finding(p, i, &node)) != NULL;
	    i++) {
		if (f->severity != SIMLOG_SEV_PROBLEM && !strict)
			continue;
		if (node != NULL)
			warnx("%s (%s): %s %s: %s", simlog_ping_url(p), node,
			    f->setting, f->value, f->why);
		else
			warnx("%s: %s %s: %s", simlog_ping_url(p), f->setting,
			    f->value, f->why);
		status = SIMLOG_EX_CONFIG;
	}
	return status;
}

int
main(int argc, char **argv)
{
	struct simlog_conn_opts co = { .name = "simlog-ping", .timeout = 2 };
	struct simlog_ping_opts o;
	struct simlog_ping *p;
	struct simlog_err e;
	int c, status, written, strict = 0;

	cli_protect_secrets();
	simlog_ping_opts_init(&o);
	while ((c = getopt_long(argc, argv, "u:c:i:w:hV", longopts, NULL)) != -1) {
		if (cli_conn_option(c, optarg, &co))
			continue;
		switch (c) {
		case 'c':
			o.count = cli_number("--count", optarg, 1, 1000000);
			break;
		case 'i':
			o.interval = cli_seconds("--interval", optarg, 3600);
			break;
		case 'w':
			o.wait = cli_seconds("--wait", optarg, 86400);
			break;
		case OPT_CHECK:
			o.check = 1;
			break;
		case OPT_STRICT:
			o.check = strict = 1;
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
		char q[CLI_QUOTE_LEN];

		warnx("unexpected argument %s",
		    cli_quote(argv[optind], q, sizeof(q)));
		cli_try_help();
	}
	o.stop = &cli_stop;
	o.say = cli_say;
	if ((p = simlog_ping_new(&co, &o, &e)) == NULL)
		cli_die(&e);
	cli_signals();

	if (simlog_ping_run(p, &e) < 0) {
		status = fail_status(&e);
		written = report(p);
		(void)verdict(p, strict);
		warnx("%s", e.msg);
	} else {
		written = report(p);
		status = verdict(p, strict);
	}
	if ((written < 0 || cli_close_stdout() < 0) && status == SIMLOG_EX_OK)
		status = SIMLOG_EX_IOERR;
	simlog_ping_free(p);
	return status;
}

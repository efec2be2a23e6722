/* Command-line plumbing shared by the simlog tools. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "common.h"

extern char *program_invocation_short_name;

void
cli_protect_secrets(void)
{
	const struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none) < 0)
		warn("cannot turn core dumps off: setrlimit");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		warn("cannot turn core dumps off: prctl");
}

int
cli_conn_option(int c, const char *arg, struct simlog_conn_opts *o)
{
	switch (c) {
	case 'u':
		if (simlog_url_has_password(arg))
			warnx("a password in --url is visible to other users "
			    "(ps); use --password-file or SIMLOG_REDIS_URL");
		o->url = arg;
		return 1;
	case CLI_OPT_PASSWORD_FILE:
		o->password_file = arg;
		return 1;
	case CLI_OPT_TIMEOUT:
		o->timeout = cli_seconds("--timeout", arg, 3600);
		if (o->timeout <= 0)
			errx(SIMLOG_EX_USAGE, "invalid --timeout: '%s': "
			    "must be more than 0", arg);
		return 1;
	}
	return 0;
}

void
cli_try_help(void)
{
	fprintf(stderr, "Try '%s --help' for more information.\n",
	    program_invocation_short_name);
	exit(SIMLOG_EX_USAGE);
}

void
cli_version(void)
{
	printf("%s (simlog) %s\n", program_invocation_short_name,
	    SIMLOG_VERSION);
	exit(cli_close_stdout() == 0 ? SIMLOG_EX_OK : SIMLOG_EX_IOERR);
}

long long
cli_number(const char *opt, const char *arg, long long min, long long max)
{
	long long v;
	const char *why;

	if (simlog_parse_ll(arg, min, max, &v, &why) < 0)
		errx(SIMLOG_EX_USAGE, "invalid %s: '%s': %s (%lld to %lld)",
		    opt, arg, why, min, max);
	return v;
}

double
cli_seconds(const char *opt, const char *arg, double max)
{
	double v;
	const char *why;

	if (simlog_parse_seconds(arg, max, &v, &why) < 0)
		errx(SIMLOG_EX_USAGE, "invalid %s: '%s': %s", opt, arg, why);
	return v;
}

void
cli_die(const struct simlog_err *e)
{
	errx(e->code ? e->code : SIMLOG_EX_SOFTWARE, "%s", e->msg);
}

void
cli_connect(struct simlog_conn *conn, const struct simlog_conn_opts *o)
{
	struct simlog_err e;

	if (simlog_conn_init(conn, o, &e) < 0)
		cli_die(&e);
	if (simlog_conn_open(conn, &e) < 0) {
		simlog_conn_clear(conn);
		cli_die(&e);
	}
}

int
cli_close_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE)
			return 0;
		warn("write error");
		fclose(stdout);
		return -1;
	}
	if (fclose(stdout) != 0 && errno != EPIPE) {
		warn("write error");
		return -1;
	}
	return 0;
}

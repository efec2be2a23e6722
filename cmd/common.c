/* Command-line plumbing shared by the simlog tools. */
#include <err.h>
#include <signal.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "breaker.h"
#include "common.h"
#include "net/conn.h"
#include "policy.h"
#include "url.h"
#include "util.h"

extern char *program_invocation_short_name;

int
cli_conn_option(int c, const char *arg, struct simlog_conn_opts *o)
{
	switch (c) {
	case 'u':
		if (simlog_url_has_password(arg))
			warnx("a password in --url is visible to other users "
			    "(ps); use --password-file or SIMLOG_REDIS_URL");
		if (strlen(arg) > 4096)
			errx(SIMLOG_EX_USAGE, "invalid --url: longer than 4096 "
			    "bytes");
		o->url = arg;
		o->url_name = "--url";
		return 1;
	case CLI_OPT_PASSWORD_FILE:
		o->password_file = arg;
		return 1;
	case CLI_OPT_TIMEOUT:
		o->timeout = cli_seconds("--timeout", arg, 3600);
		if (o->timeout <= 0)
			errx(SIMLOG_EX_USAGE, "invalid --timeout: '%.40s': "
			    "must be more than 0", arg);
		return 1;
	case CLI_OPT_SENTINEL_PASSWORD_FILE:
		o->sentinel_password_file = arg;
		return 1;
	case CLI_OPT_TLS_CA:
		o->tls.ca = arg;
		return 1;
	case CLI_OPT_TLS_CERT:
		o->tls.cert = arg;
		return 1;
	case CLI_OPT_TLS_KEY:
		o->tls.key = arg;
		return 1;
	case CLI_OPT_TLS_SERVER_NAME:
		if (*arg == '\0' || strlen(arg) > 253)
			errx(SIMLOG_EX_USAGE, "invalid --tls-server-name: "
			    "1 to 253 characters");
		o->tls.server_name = arg;
		return 1;
	case CLI_OPT_TLS_NO_VERIFY:
		o->tls.insecure = 1;
		return 1;
	}
	return 0;
}

void
cli_check_sim(const char *opt, const char *arg)
{
	size_t n = strlen(arg);

	if (!simlog_valid_sim(arg, n))
		errx(SIMLOG_EX_USAGE, "invalid %s: '%.64s%s'%s: use 1-64 of "
		    "[A-Za-z0-9_.-]", opt, arg, n > 64 ? "..." : "",
		    n > 64 ? " (too long)" : "");
}

void
cli_protect_secrets(void)
{
	struct rlimit none = { 0, 0 };

	/* A core file would hold the password in plain text. */
	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
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

const char *
cli_quote(const char *s, char *buf, size_t len)
{
	size_t n = strlen(s), show = n > CLI_QUOTE_MAX ? CLI_QUOTE_MAX : n, i;
	char *p = buf;

	/* Room: quotes, the bytes shown, "..." and " (N bytes)". */
	if (len < CLI_QUOTE_MAX + 40) {
		snprintf(buf, len, "(%zu bytes)", n);
		return buf;
	}
	*p++ = '\'';
	for (i = 0; i < show; i++)
		*p++ = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (show < n)
		p += sprintf(p, "...' (%zu bytes)", n);
	else
		*p++ = '\'', *p = '\0';
	return buf;
}

int
cli_line_end(struct simlog_jw *w)
{
	if (simlog_jw_end(w) == 0)
		return 0;
	if (simlog_jw_error(w) == EPIPE)
		return 1;
	if (simlog_jw_error(w) == EINVAL)
		errx(SIMLOG_EX_SOFTWARE, "internal error: malformed JSON output");
	warnx("write error: %s", strerror(simlog_jw_error(w)));
	return -1;
}

void
cli_say(void *arg, const char *msg)
{
	(void)arg;
	warnx("%s", msg);
}

volatile sig_atomic_t cli_stop;

static void
on_stop(int sig)
{
	(void)sig;
	cli_stop = 1;
}

void
cli_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;	/* no SA_RESTART */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int
no_op(struct simlog_conn *conn, void *arg, struct simlog_err *e)
{
	(void)conn;
	(void)arg;
	(void)e;
	return 0;
}

int
cli_open(struct simlog_conn *conn, struct simlog_err *e)
{
	struct simlog_policy pol;
	struct simlog_breaker brk;
	char endpoint[700];
	int rc;

	if (simlog_policy_init(&pol, e) < 0)
		return -1;
	pol.say = cli_say;
	simlog_conn_endpoint(conn, 0, endpoint, sizeof(endpoint));
	/* Without a usable breaker directory: still connect, as push does. */
	if (simlog_breaker_init(&brk, endpoint, 0, 0, e) == 0)
		pol.brk = &brk;
	else if (e->code == SIMLOG_EX_USAGE)
		return -1;
	else
		warnx("%s; going on without a circuit breaker", e->msg);
	rc = simlog_policy_run(conn, &pol, 0, no_op, NULL, e);
	if (pol.brk != NULL)
		simlog_breaker_clear(&brk);
	return rc;
}

void
cli_connect(struct simlog_conn *conn, const struct simlog_conn_opts *o)
{
	struct simlog_err e;

	if (simlog_conn_init(conn, o, &e) < 0)
		cli_die(&e);
	if (cli_open(conn, &e) < 0) {
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

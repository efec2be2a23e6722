/* Command-line plumbing shared by the simlog tools (not part of libsimlog:
 * this is the layer that talks to the user and exits). */
#ifndef SIMLOG_CMD_COMMON_H
#define SIMLOG_CMD_COMMON_H

#include "simlog.h"

/* Long options every tool that talks to Redis takes. */
#define CLI_OPT_PASSWORD_FILE 0x1001
#define CLI_OPT_TIMEOUT 0x1002
#define CLI_CONN_LONGOPTS \
	{ "url", required_argument, NULL, 'u' }, \
	{ "password-file", required_argument, NULL, CLI_OPT_PASSWORD_FILE }, \
	{ "timeout", required_argument, NULL, CLI_OPT_TIMEOUT }

/* Handle -u, --password-file, --timeout; returns 1 if c was one of them. */
int cli_conn_option(int c, const char *arg, struct simlog_conn_opts *o);

/* Keep the Redis password out of core dumps: no core file (RLIMIT_CORE
 * 0) and the process not dumpable, which also keeps other processes of
 * the same user from reading its memory.  First thing in main(). */
void cli_protect_secrets(void);
/* "Try 'prog --help'..." on stderr, exit 64. */
void cli_try_help(void) __attribute__((noreturn));
void cli_version(void) __attribute__((noreturn));
/* Range-checked numbers; a bad one exits 64 naming the option. */
long long cli_number(const char *opt, const char *arg, long long min,
		     long long max);
double cli_seconds(const char *opt, const char *arg, double max);
/* Exit with the library error's class, after printing it. */
void cli_die(const struct simlog_err *e) __attribute__((noreturn));
/* Connect or die. */
void cli_connect(struct simlog_conn *conn, const struct simlog_conn_opts *o);
/* Flush and close stdout; returns 0, or -1 after printing why.  A reader
 * that went away (EPIPE) is a normal end for a filter. */
int cli_close_stdout(void);

#endif

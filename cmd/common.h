/* Command-line plumbing shared by the simlog tools (not part of libsimlog:
 * this is the layer that talks to the user and exits). */
#ifndef SIMLOG_CMD_COMMON_H
#define SIMLOG_CMD_COMMON_H

#include <signal.h>

#include "simlog.h"

/* Long options every tool that talks to Redis takes. */
#define CLI_OPT_PASSWORD_FILE 0x1001
#define CLI_OPT_TIMEOUT 0x1002
#define CLI_OPT_SENTINEL_PASSWORD_FILE 0x1003
#define CLI_OPT_TLS_CA 0x1004
#define CLI_OPT_TLS_CERT 0x1005
#define CLI_OPT_TLS_KEY 0x1006
#define CLI_OPT_TLS_SERVER_NAME 0x1007
#define CLI_OPT_TLS_NO_VERIFY 0x1008
#define CLI_CONN_LONGOPTS \
	{ "url", required_argument, NULL, 'u' }, \
	{ "password-file", required_argument, NULL, CLI_OPT_PASSWORD_FILE }, \
	{ "timeout", required_argument, NULL, CLI_OPT_TIMEOUT }, \
	{ "sentinel-password-file", required_argument, NULL, \
	    CLI_OPT_SENTINEL_PASSWORD_FILE }, \
	{ "tls-ca", required_argument, NULL, CLI_OPT_TLS_CA }, \
	{ "tls-cert", required_argument, NULL, CLI_OPT_TLS_CERT }, \
	{ "tls-key", required_argument, NULL, CLI_OPT_TLS_KEY }, \
	{ "tls-server-name", required_argument, NULL, CLI_OPT_TLS_SERVER_NAME }, \
	{ "tls-no-verify", no_argument, NULL, CLI_OPT_TLS_NO_VERIFY }

/* Their lines of --help. */
#define CLI_CONN_USAGE \
"  -u, --url URL            Redis URL (default $SIMLOG_REDIS_URL, else\n" \
"                           redis://127.0.0.1:6379/0); also rediss://,\n" \
"                           redis[s]-cluster://, redis[s]-sentinel://\n" \
"      --password-file FILE read the Redis password from FILE\n" \
"      --sentinel-password-file FILE  the sentinels' own password\n" \
"                           (default $SIMLOG_SENTINEL_PASSWORD)\n" \
"      --timeout SECONDS    bound on every connect, write and read\n" \
"                           (default 2)\n" \
"      --tls-ca FILE        CA certificates for rediss:// (default\n" \
"                           $SIMLOG_TLS_CA, else the system's)\n" \
"      --tls-cert FILE      client certificate ($SIMLOG_TLS_CERT)\n" \
"      --tls-key FILE       its private key ($SIMLOG_TLS_KEY)\n" \
"      --tls-server-name NAME  name the certificate must carry\n" \
"      --tls-no-verify      do not verify the server (unsafe)\n"

/* Handle the connection options; returns 1 if c was one of them. */
int cli_conn_option(int c, const char *arg, struct simlog_conn_opts *o);
/* A simulation name from option opt, or exit 64 (not echoing it whole). */
void cli_check_sim(const char *opt, const char *arg);
/* A tool that may hold a password keeps it out of core dumps. */
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
/* An argument as a message may show it, quoted: at most CLI_QUOTE_MAX
 * bytes of it, unprintable ones as '?', and its length when cut.  buf
 * holds CLI_QUOTE_LEN bytes; returns buf. */
#define CLI_QUOTE_MAX 40
#define CLI_QUOTE_LEN (CLI_QUOTE_MAX + 40)
const char *cli_quote(const char *s, char *buf, size_t len);
/* End a JSON line: 0; 1 when the reader has gone (EPIPE, a normal end for
 * a filter); -1 after saying why the write failed. */
int cli_line_end(struct simlog_jw *w);
/* Connect or die. */
void cli_connect(struct simlog_conn *conn, const struct simlog_conn_opts *o);
/* (Re)connect an initialized connection under the shared failure policy
 * (retries and the circuit breaker): 0, or -1 with e set. */
int cli_open(struct simlog_conn *conn, struct simlog_err *e);
/* Diagnostics of the library's policy, on stderr. */
void cli_say(void *arg, const char *msg);
/* Set by SIGINT or SIGTERM once cli_signals() has run: every wait of the
 * library given it (a .stop option) ends, and the tool winds down.  The
 * handlers do not restart system calls, so a blocked read(2) or poll(2)
 * ends too; SIGPIPE is ignored (a closed pipe downstream is EPIPE, a
 * normal way for a filter to end). */
extern volatile sig_atomic_t cli_stop;
void cli_signals(void);
/* Flush and close stdout; returns 0, or -1 after printing why.  A reader
 * that went away (EPIPE) is a normal end for a filter. */
int cli_close_stdout(void);

#endif

/*
 * libsimlog health: is a Redis fit to buffer simlog's records (a ping
 * with its findings, simlog-ping(1)), what this host's spool holds for
 * it, and how the shared circuit breaker stands; with simlog_backlog.h,
 * what is buffered per simulation and record type.
 *
 * Same conventions as simlog.h: 0 on success, -1 with a struct simlog_err
 * filled on failure; nothing here prints or exits; every *_clear() and
 * *_free() accepts NULL.
 */
#ifndef SIMLOG_HEALTH_H
#define SIMLOG_HEALTH_H

#include "simlog.h"
#include "simlog_backlog.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- findings -------------------------------------------------------- */

enum simlog_severity {
	SIMLOG_SEV_WARNING = 1,	/* risky; fails only with --strict */
	SIMLOG_SEV_PROBLEM = 2,	/* buffered records can be lost or refused */
};
/* "warning" or "problem". */
SIMLOG_API
const char *simlog_ping_severity_name(enum simlog_severity s);

struct simlog_finding {
	const char *setting;		/* static: "maxmemory-policy", ... */
	char value[64];
	enum simlog_severity severity;
	char why[256];
};
#define SIMLOG_MAX_FINDINGS 8

/* --- this host's spool ------------------------------------------------- */

/* Spool size on this host for an endpoint directory, for monitoring. */
struct simlog_spool_usage {
	uint64_t segments, bytes;
};
/*
 * This host's spool for the server conn points at: the segments and bytes
 * (sealed chunks, compressed) under the subdirectory of dir that
 * simlog_spool_open() gives that server, whose path goes into path.  A
 * missing directory is an empty spool.  Reads the directory only.
 */
SIMLOG_API
int simlog_spool_backlog(const char *dir, const struct simlog_conn *conn,
			 char *path, size_t len, struct simlog_spool_usage *u,
			 struct simlog_err *err);

/* --- ping (simlog-ping(1)) ---------------------------------------------- */

struct simlog_ping_opts {
	long long count;		/* PINGs to time (3) */
	double interval;		/* pause between them (0.1 s) */
	double wait;			/* keep trying this long for a first
					 * answer (0: one attempt, retried as
					 * the policy allows) */
	int check;			/* judge the settings (findings) */
	const volatile sig_atomic_t *stop;	/* set: stop waiting */
	void (*say)(void *arg, const char *msg);	/* warnings, or NULL */
	void *say_arg;
};
SIMLOG_API
void simlog_ping_opts_init(struct simlog_ping_opts *o);

/* Ready to ping the Redis co names; no I/O yet.  NULL with err set for
 * options that do not resolve (the URL, a password file, TLS files).
 * Free with simlog_ping_free. */
struct simlog_ping;
SIMLOG_API
struct simlog_ping *simlog_ping_new(const struct simlog_conn_opts *co,
				    const struct simlog_ping_opts *o,
				    struct simlog_err *err);
/*
 * Connect and get a first PONG (trying again within the wait, even
 * through an open circuit breaker, which an answer closes), time the
 * rest, read INFO and with check judge it; behind a cluster or sentinel
 * URL every master and sentinel too.  0 when Redis answered (findings may
 * still say it is unsafe); -1 with err when it did not, or a master
 * behind a cluster or sentinel URL did not.
 */
SIMLOG_API
int simlog_ping_run(struct simlog_ping *p, struct simlog_err *err);
/* simlog-ping's report of the run: begins the object and writes its
 * members; the caller ends it (simlog_jw_end). */
SIMLOG_API
void simlog_ping_report(struct simlog_ping *p, struct simlog_jw *w);
/* The i-th finding (NULL past the last) and the node it is about (NULL
 * behind a plain URL). */
SIMLOG_API
const struct simlog_finding *simlog_ping_finding(const struct simlog_ping *p,
						 size_t i, const char **node);
/* The URL pinged, its password hidden. */
SIMLOG_API
const char *simlog_ping_url(const struct simlog_ping *p);
SIMLOG_API
void simlog_ping_free(struct simlog_ping *p);

/* --- the circuit breaker, as a monitor sees it -------------------------- */

/*
 * Read the shared circuit breaker's state for the server conn points at,
 * from its file (see simlog_breaker_init()), without creating, locking or
 * changing anything.  A missing or damaged file reads as closed.
 */
SIMLOG_API
int simlog_breaker_peek(const struct simlog_conn *conn,
			struct simlog_breaker_view *v, struct simlog_err *err);

#ifdef __cplusplus
}
#endif

#endif

/*
 * libsimlog's public API (libsimlog(3)): errors and exit codes, the
 * connection handle and its options, the JSON-lines writer a summary is
 * written with, and the writer, which takes a C program's records to
 * Redis.  The drainer is in simlog_drain.h, the state store in
 * simlog_state.h, health and backlog reading in simlog_health.h and
 * simlog_backlog.h.  These headers are installed and kept across
 * versions; everything else the library uses is declared in its
 * internal headers (lib/NAME.h beside the lib/NAME.c implementing it), which are
 * not.
 *
 * Conventions: functions return 0 on success and -1 on failure, filling a
 * struct simlog_err the caller may show; the library never prints and never
 * exits.  Every *_free() accepts NULL.
 */
#ifndef SIMLOG_H
#define SIMLOG_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the shared library exports: it is built with -fvisibility=hidden,
 * so a function not marked so stays inside it. */
#if defined(__GNUC__) && __GNUC__ >= 4
#define SIMLOG_API __attribute__((visibility("default")))
#else
#define SIMLOG_API
#endif

#define SIMLOG_VERSION "0.1.0"

/* Exit codes: an interface, listed in every man page (sysexits-style). */
enum simlog_exit {
	SIMLOG_EX_OK = 0,
	SIMLOG_EX_USAGE = 64,		/* bad command line */
	SIMLOG_EX_DATAERR = 65,		/* some input was rejected */
	SIMLOG_EX_NOINPUT = 66,		/* a named input or item does not exist */
	SIMLOG_EX_UNAVAILABLE = 69,	/* Redis could not be reached */
	SIMLOG_EX_SOFTWARE = 70,	/* internal error */
	SIMLOG_EX_OSERR = 71,		/* this process's own resources ran
					 * out (open files, memory, local
					 * ports): not Redis's failure */
	SIMLOG_EX_CANTCREAT = 73,	/* an output file could not be created */
	SIMLOG_EX_IOERR = 74,		/* reading input or writing output failed */
	SIMLOG_EX_TEMPFAIL = 75,	/* try again later: Redis failed part-way */
	SIMLOG_EX_NOPERM = 77,		/* authentication or permission refused */
	SIMLOG_EX_CONFIG = 78,		/* server or configuration is unsafe/unusable */
	/* Past sysexits: simlog-state's --expect-version named a version
	 * that is no longer the latest.  Unlike 75, nothing was stored for
	 * certain, so a script may reload, redo its change and save again. */
	SIMLOG_EX_CONFLICT = 79,
};

#define SIMLOG_ERRLEN 512

/* An error as the library reports it: an exit class and a message. */
struct simlog_err {
	int code;			/* one of enum simlog_exit */
	int full;			/* Redis is up but refused: out of room
					 * (maxmemory, --max-backlog) or still
					 * loading; draining or waiting helps,
					 * the breaker does not count it */
	char msg[SIMLOG_ERRLEN];
	int stopped;			/* a wait ended because the caller's
					 * stop flag was set */
};

/* The monotonic clock, in seconds (the writer's start and the like). */
SIMLOG_API
double simlog_now_mono(void);

/* --- connection URL ---------------------------------------------------- */

#define SIMLOG_DEFAULT_URL "redis://127.0.0.1:6379/0"

/* How the servers behind a URL are arranged. */
enum simlog_topo {
	SIMLOG_TOPO_SINGLE,	/* redis://, rediss://, unix:// */
	SIMLOG_TOPO_SENTINEL,	/* redis[s]-sentinel://: a master found by
				 * asking its sentinels */
	SIMLOG_TOPO_CLUSTER,	/* redis[s]-cluster://: seed nodes */
};

struct simlog_hostport {
	char *host;
	int port;
};

struct simlog_url {
	enum simlog_topo topo;
	int tls;			/* rediss... */
	char *host;		/* the first address; NULL for a unix socket */
	int port;
	char *path;		/* unix socket path, else NULL */
	char *user;		/* NULL when absent */
	char *password;		/* NULL when absent */
	int db;
	struct simlog_hostport *addrs;	/* every address given */
	size_t naddrs;
	char *master;		/* sentinel: the monitored master's name */
};

/* (simlog_conn_init parses the URL into conn->url.) */

/* --- Redis connection -------------------------------------------------- */

/*
 * A connection to "Redis" as the URL names it: one server, the master its
 * sentinels name, or a cluster's masters.  Every connect, write and read
 * is bounded by the timeout through a deadline the I/O checks itself;
 * TLS is done here too (rediss...).  Commands go to the node that holds
 * their key.  Not thread-safe: one thread uses a connection at a time.
 */
struct simlog_tls_opts {
	const char *ca;			/* CA file; NULL: the system's */
	const char *cert, *key;		/* client certificate and its key */
	const char *server_name;	/* name to verify; NULL: the host */
	int insecure;			/* --tls-no-verify: no verification */
};

struct simlog_conn_opts {
	const char *url;		/* NULL: $SIMLOG_REDIS_URL, else default */
	const char *password_file;	/* overrides a URL password */
	const char *sentinel_password_file;	/* else
					 * $SIMLOG_SENTINEL_PASSWORD */
	double timeout;			/* seconds; 0: 2 */
	const char *name;		/* CLIENT SETNAME, e.g. "simlog-push" */
	struct simlog_tls_opts tls;	/* NULL members: $SIMLOG_TLS_CA,
					 * $SIMLOG_TLS_CERT, $SIMLOG_TLS_KEY */
	const volatile sig_atomic_t *stop;	/* set (by a signal
					 * handler): every wait ends now */
	const char *url_name;		/* what messages call url ("--url"
					 * in the tools); NULL: "URL" */
};

struct simlog_net;
struct simlog_conn {
	struct simlog_url url;
	char display[320];		/* URL with the password redacted */
	char source[24];		/* "--url", "SIMLOG_REDIS_URL" or "" */
	double timeout;
	char name[64];
	struct simlog_net *net;		/* the library's own */
};

/* Resolve the URL, passwords and TLS settings without connecting. */
SIMLOG_API
int simlog_conn_init(struct simlog_conn *conn,
		     const struct simlog_conn_opts *o, struct simlog_err *err);
/* (Re)connect: the server, AUTH, SELECT, CLIENT SETNAME; for a sentinel
 * URL the master first, for a cluster the slot map.  Any old connection is
 * dropped first. */
SIMLOG_API
int simlog_conn_open(struct simlog_conn *conn, struct simlog_err *err);
SIMLOG_API
int simlog_conn_connected(const struct simlog_conn *conn);
SIMLOG_API
void simlog_conn_close(struct simlog_conn *conn);
SIMLOG_API
void simlog_conn_clear(struct simlog_conn *conn);

/* Free a malloc'd array of n malloc'd strings (simlog_state_ids' and
 * the like).  NULL is a no-op. */
SIMLOG_API
void simlog_strv_free(char **v, size_t n);

/* --- JSON-lines writer ------------------------------------------------- */

/*
 * Writes JSON objects to a stream, one per line: every string (member
 * names too) escaped, with each byte that is not well-formed UTF-8 written
 * as U+FFFD; commas and brackets placed by the writer.  The first failure
 * sticks: later calls do nothing, and simlog_jw_end() and simlog_jw_error()
 * report it as an errno value (the write's, or EINVAL for calls in an
 * impossible order, such as a value without its key).  For example
 *
 *	simlog_jw_begin(&w);
 *	simlog_jw_kstr(&w, "id", id);
 *	simlog_jw_key(&w, "tags");
 *	simlog_jw_arr(&w);
 *	simlog_jw_str(&w, "a");
 *	simlog_jw_close(&w);
 *	if (simlog_jw_end(&w) < 0) ...
 *
 * writes {"id":"...","tags":["a"]} and a newline.
 */
#define SIMLOG_JW_MAXDEPTH 32
struct simlog_jw {
	FILE *f;
	int err;			/* errno of the first failure, or 0 */
	int depth;			/* open objects and arrays */
	int want_value;			/* a member name was written */
	char open[SIMLOG_JW_MAXDEPTH];	/* how each open one closes */
	unsigned char any[SIMLOG_JW_MAXDEPTH];	/* it has members already */
};
SIMLOG_API
void simlog_jw_init(struct simlog_jw *w, FILE *f);
/* Start a line's object; end it (and the line).  _end returns 0, or -1
 * when anything written since _init failed. */
SIMLOG_API
void simlog_jw_begin(struct simlog_jw *w);
SIMLOG_API
int simlog_jw_end(struct simlog_jw *w);
SIMLOG_API
int simlog_jw_error(const struct simlog_jw *w);
/* A member name; the value follows. */
SIMLOG_API
void simlog_jw_key(struct simlog_jw *w, const char *k);
SIMLOG_API
void simlog_jw_keyn(struct simlog_jw *w, const char *k, size_t n);
/* Values: a member's (after its name) or an array element. */
SIMLOG_API
void simlog_jw_obj(struct simlog_jw *w);	/* nested object ... */
SIMLOG_API
void simlog_jw_arr(struct simlog_jw *w);	/* nested array ... */
SIMLOG_API
void simlog_jw_close(struct simlog_jw *w);	/* ... ends the innermost */
SIMLOG_API
void simlog_jw_str(struct simlog_jw *w, const char *s);
SIMLOG_API
void simlog_jw_strn(struct simlog_jw *w, const char *s, size_t n);
SIMLOG_API
void simlog_jw_int(struct simlog_jw *w, long long v);
SIMLOG_API
void simlog_jw_uint(struct simlog_jw *w, unsigned long long v);
/* Fixed-point with `decimals` digits (0-17); not finite: null. */
SIMLOG_API
void simlog_jw_double(struct simlog_jw *w, double v, int decimals);
SIMLOG_API
void simlog_jw_bool(struct simlog_jw *w, int v);
SIMLOG_API
void simlog_jw_null(struct simlog_jw *w);
/* A value given as JSON text the caller knows to be valid; its line
 * breaks (white space between tokens) are written as spaces. */
SIMLOG_API
void simlog_jw_raw(struct simlog_jw *w, const char *json, size_t n);
/* A member name and its value in one call. */
SIMLOG_API
void simlog_jw_kstr(struct simlog_jw *w, const char *k, const char *s);
SIMLOG_API
void simlog_jw_kint(struct simlog_jw *w, const char *k, long long v);
SIMLOG_API
void simlog_jw_kuint(struct simlog_jw *w, const char *k,
		     unsigned long long v);
SIMLOG_API
void simlog_jw_kdouble(struct simlog_jw *w, const char *k, double v,
		       int decimals);
SIMLOG_API
void simlog_jw_kbool(struct simlog_jw *w, const char *k, int v);
SIMLOG_API
void simlog_jw_knull(struct simlog_jw *w, const char *k);

/* --- the circuit breaker's state --------------------------------------- */

/*
 * Closed / open / half-open: simlog processes share a breaker per Redis
 * server (simlog(7) FAILURE HANDLING); the writer's stats and a monitor
 * (simlog_breaker_peek, simlog_health.h) report its state.
 */
enum simlog_bstate { SIMLOG_B_CLOSED, SIMLOG_B_OPEN, SIMLOG_B_HALF_OPEN };
#define SIMLOG_BREAKER_WHYLEN 200
/* "closed", "open" or "half-open". */
SIMLOG_API
const char *simlog_breaker_name(enum simlog_bstate s);
/* The breaker as a monitor sees it: read from its file, nothing created,
 * locked or changed.  A missing or damaged file reads as closed. */
struct simlog_breaker_view {
	enum simlog_bstate state;	/* closed when there is no file */
	int failures;			/* consecutive failures counted */
	double opened_at;		/* wall clock; 0 when closed */
	char path[512];			/* the breaker file */
	char why[SIMLOG_BREAKER_WHYLEN];	/* the failure that opened it */
};

/* --- the writer: records in, to Redis (libsimlog(3)) ----------------------- */

enum simlog_priority {
	SIMLOG_PRIO_LOW,		/* drop what Redis does not take */
	SIMLOG_PRIO_NORMAL,		/* spool it (the default) */
	SIMLOG_PRIO_CRITICAL,		/* wait for Redis up to the deadline,
					 * then spool */
};

struct simlog_writer_opts {
	struct simlog_conn_opts conn;	/* .stop: a signal's flag ends waits */
	const char *sim;		/* NULL: $SIMLOG_SIM, else "default" */
	const char *type;		/* every record's type, or NULL */
	const char *type_field;		/* member holding the type ("type") */
	const char *type_hint;		/* added to "no \"type\" field" */
	const char *sim_field;		/* take each record's simulation from
					 * this member (NULL: every record is
					 * sim's); sim, or $SIMLOG_SIM, then
					 * stands for records without it,
					 * which are refused without those */
	size_t batch;			/* records per chunk (1024) */
	size_t inflight;		/* chunks awaiting replies (8) */
	size_t max_record;		/* longest record, bytes (1 MiB) */
	double flush_interval;		/* send a partial chunk this old
					 * (0.25 s); 0: only when full */
	enum simlog_priority prio;
	double deadline;		/* critical: how long to retry (30 s) */
	uint64_t max_backlog;		/* refuse past this many buffered
					 * records of the simulation (0: no) */
	const char *spool_dir;		/* NULL: simlog_spool_default_dir() */
	uint64_t spool_max;		/* bytes (1 GiB) */
	size_t queue_max;		/* raw bytes waiting in memory (4 MiB) */
	int wait_replicas;		/* WAIT for this many replicas; < 0:
					 * $SIMLOG_WAIT_REPLICAS, else 1
					 * behind sentinels or in a cluster
					 * when the master has replicas */
	int retries;			/* < 0: the environment's, else 3 */
	double retry_base, retry_factor, retry_cap;	/* < 0: likewise */
	int breaker_failures;		/* 0: the environment's, else 3 */
	double breaker_reset;		/* 0: likewise, else 5 s */
	int replay_only;		/* probe through an open breaker */
	const char *spool_endpoint;	/* the spool of this endpoint (as
					 * simlog_spool_each names it), not
					 * the URL's own: to replay records
					 * spooled for another URL here */
	const volatile sig_atomic_t *stop;	/* set: give up on a failing
					 * Redis at once, no replay at close */
	void (*say)(void *arg, const char *msg);	/* diagnostics; may be
					 * called from the writer's thread */
	void *say_arg;
};
/* The defaults above. */
SIMLOG_API
void simlog_writer_opts_init(struct simlog_writer_opts *o);

/* Where the records of a run went: records = pushed + spooled + dropped
 * + failed once the writer is closed. */
struct simlog_writer_stats {
	unsigned long long records;	/* taken by simlog_writer_write */
	unsigned long long pushed;	/* acknowledged by Redis */
	unsigned long long spooled;	/* on disk in the spool */
	unsigned long long dropped;	/* priority low, Redis failing */
	unsigned long long failed;	/* stored nowhere (spool full) */
	unsigned long long overflowed;	/* set aside (spooled, dropped or
					 * failed) by the caller's thread,
					 * the queue being full */
	unsigned long long replayed;	/* from the spool into Redis */
	unsigned long long deferred;	/* spooled records a replay left in
					 * the spool: their master did not
					 * answer (a cluster) */
	unsigned long long batches;	/* chunks made of this run's records */
	unsigned long long bytes;	/* their size, compressed */
	unsigned long long spool_lost;	/* in damaged spool records */
	int spool_lost_unknown;		/* and more that cannot be counted */
	unsigned long long damaged_segments;
	int auth_failed, spool_failed;
	int config_failed;		/* Redis blamed the setup (78) */
	int local_failed;		/* this process's own resources ran
					 * out (71): its open files, memory */
	int spooling;			/* Redis is being given up on now */
	int spool_pending;		/* segments still wait (at close) */
	unsigned long long retries;
	enum simlog_bstate breaker;
	char changes[8][24];
	int nchanges;
	double start, seconds;
	struct simlog_err fatal;	/* why records failed, if any did */
	char sim[72];			/* the simulation written to */
	char spool_dir[600];		/* the endpoint's spool directory */
};

struct simlog_writer;
/* Start a writer (it connects in its own thread; this does not wait for
 * Redis).  NULL with err set for bad options or an unusable spool. */
SIMLOG_API
struct simlog_writer *simlog_writer_open(const struct simlog_writer_opts *o,
					 struct simlog_err *err);
/*
 * Add one record: a JSON object (no newline).  0 taken; 1 refused (why
 * says what is wrong with it: bad JSON, no type, too long); -1 the writer
 * can take no more (why: the spool is full, records are being lost).
 * Blocks at most --timeout, and only while Redis is slower than the
 * producer and no failure is known (critical: until the deadline).
 */
SIMLOG_API
int simlog_writer_write(struct simlog_writer *w, const char *line,
			size_t len, struct simlog_err *why);
/* Send the partial chunk now, without waiting. */
SIMLOG_API
void simlog_writer_flush(struct simlog_writer *w);
/* Progress so far (retries, the breaker, spool_pending, seconds and fatal
 * are filled in by simlog_writer_close only). */
SIMLOG_API
void simlog_writer_stats(struct simlog_writer *w,
			 struct simlog_writer_stats *st);
/* Send or spool everything, replay the spool if Redis is there, stop the
 * thread, fill st (may be NULL) and free the writer.  NULL is a no-op. */
SIMLOG_API
int simlog_writer_close(struct simlog_writer *w,
			struct simlog_writer_stats *st);

/* What the program fed a writer, beside the writer's own counts. */
struct simlog_writer_input {
	unsigned long long read;	/* records offered, refused ones too */
	unsigned long long rejected;	/* refused */
	unsigned long long blank;	/* blank lines passed over */
	size_t partial;			/* bytes of an unfinished last line */
	enum simlog_priority prio;	/* the writer's */
	int replay_only;		/* the writer only replayed */
	int left;			/* and segments are left in the spool */
	const char *replayed_from;	/* the spool replayed (an endpoint's,
					 * --replay-from), or NULL */
};
/* simlog-push's summary line (simlog-push(1) SUMMARY) for a closed
 * writer's st, and its exit status: where the run's records went, the
 * worst first (74 lost, 77 and 78 refused by Redis and spooled, 71
 * spooled for want of this process's own resources, 75 spooled or a
 * replay that left segments, 69 dropped, 65 some refused, else 0). */
SIMLOG_API
void simlog_writer_summary(struct simlog_jw *w,
			   const struct simlog_writer_stats *st,
			   const struct simlog_writer_input *in);
SIMLOG_API
int simlog_writer_status(const struct simlog_writer_stats *st,
			 const struct simlog_writer_input *in);

/* The default spool directory: $SIMLOG_SPOOL_DIR, else
 * $XDG_STATE_HOME/simlog/spool, else ~/.local/state/simlog/spool
 * (malloc'd). */
SIMLOG_API
char *simlog_spool_default_dir(void);

#ifdef __cplusplus
}
#endif

#endif

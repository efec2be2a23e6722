/*
 * libsimlog: the pieces every simlog tool shares — Redis connection and URL
 * handling, the JSON-line scanner, the buffer (chunk) format, the Redis
 * queue operations and schema files.
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

/* Fill err (if not NULL) and return -1. */
int simlog_seterr(struct simlog_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same for a failed system call whose errno is e: "WHAT: strerror",
 * with code, or with SIMLOG_EX_OSERR and the limit named when e is this
 * process's own trouble (open files, memory, local ports). */
int simlog_seterrno(struct simlog_err *err, int code, int e,
		    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Whether errno value e is this process's own trouble, and which limit
 * it met (*hint, may be NULL). */
int simlog_errno_local(int e, const char **hint);

/* --- numbers and names ------------------------------------------------- */

/*
 * Parse a whole decimal integer in [min, max].  Returns 0, or -1 with a
 * reason ("not a number", "too small", "too large") in *why.
 */
int simlog_parse_ll(const char *s, long long min, long long max,
		    long long *out, const char **why);
/* A whole number in [min, max] from the environment variable name: 1 set
 * (in *out), 0 unset or empty, -1 invalid (err names the variable). */
int simlog_env_ll(const char *name, long long min, long long max,
		  long long *out, struct simlog_err *err);
/* Parse a non-negative number of seconds, fractions allowed, <= max. */
int simlog_parse_seconds(const char *s, double max, double *out,
			 const char **why);

/* Record type: [A-Za-z_][A-Za-z0-9_]{0,62}, and no reserved prefix. */
int simlog_valid_type(const char *s, size_t len, const char **why);
/* Simulation name: [A-Za-z0-9_.-]{1,64}. */
int simlog_valid_sim(const char *s, size_t len);

/* FNV-1a, 64 bits: names for state files derived from endpoints. */
uint64_t simlog_fnv1a(const char *s, size_t len);

/* Monotonic and wall clocks, in seconds. */
double simlog_now_mono(void);
double simlog_now_wall(void);
/* How many fork(2)s separate this process from the one that first called
 * this: an object made before a fork can tell it is in a child that must
 * leave it alone (its threads stayed in the parent). */
unsigned long simlog_forks(void);

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

/* Parse any URL form of simlog(7): redis[s]://[[user]:password@]host[:port]
 * [/db], unix:///path[?db=N], redis[s]-cluster://[[user]:password@]host:port
 * [,host:port...], redis[s]-sentinel://[[user]:password@]host:port[,...]
 * /MASTER[/db].  Messages never repeat the URL (it may hold a password). */
int simlog_url_parse(const char *s, struct simlog_url *u,
		     struct simlog_err *err);
void simlog_url_clear(struct simlog_url *u);
/* Print the URL with any password replaced by "***" into buf. */
void simlog_url_format(const struct simlog_url *u, char *buf, size_t len);
/* The same for a string that may not parse: the text between the
 * scheme's first ':' after "://" and the last '@' becomes "***". */
void simlog_url_redact(const char *s, char *buf, size_t len);
/* Whether a URL string carries a password (to warn about argv). */
int simlog_url_has_password(const char *s);

/* Read a password from a file: first line, trailing CR/LF removed.  Returns
 * a malloc'd string the caller frees, or NULL with err set. */
char *simlog_read_password_file(const char *path, struct simlog_err *err);

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
int simlog_conn_init(struct simlog_conn *conn,
		     const struct simlog_conn_opts *o, struct simlog_err *err);
/* (Re)connect: the server, AUTH, SELECT, CLIENT SETNAME; for a sentinel
 * URL the master first, for a cluster the slot map.  Any old connection is
 * dropped first. */
int simlog_conn_open(struct simlog_conn *conn, struct simlog_err *err);
int simlog_conn_connected(const struct simlog_conn *conn);
void simlog_conn_close(struct simlog_conn *conn);
void simlog_conn_clear(struct simlog_conn *conn);

struct redisReply;
/*
 * Turn a failure into an error with a class: r an error reply, or NULL for
 * the connection's last I/O failure.  UNAVAILABLE for I/O, TEMPFAIL for
 * transient server states (LOADING, BUSY, OOM, READONLY during a failover,
 * ...), NOPERM for auth and ACLs, CONFIG for a setting at fault, SOFTWARE
 * otherwise.  Returns -1.
 */
int simlog_conn_error(struct simlog_conn *conn, const struct redisReply *r,
		      const char *what, struct simlog_err *err);

/* Run one command; returns the reply (free with freeReplyObject) or NULL
 * with err set.  An error reply is returned as NULL too. */
struct redisReply *simlog_cmd(struct simlog_conn *conn, struct simlog_err *err,
			      int argc, const char **argv, const size_t *lens);

/*
 * Pipelining: queue commands, then read their replies in the same order.
 * _recv waits until deadline (monotonic seconds; 0: the timeout from now)
 * and returns error replies as replies; -1 on I/O failure (then the
 * connection is closed and the replies still owed are lost).
 */
int simlog_conn_append(struct simlog_conn *conn, int argc, const char **argv,
		       const size_t *lens, struct simlog_err *err);
int simlog_conn_flush(struct simlog_conn *conn, struct simlog_err *err);
int simlog_conn_recv(struct simlog_conn *conn, double deadline,
		     struct redisReply **r, struct simlog_err *err);
size_t simlog_conn_pending(const struct simlog_conn *conn);
/* Commands sent so far, on every node (a monitor subtracts its own). */
uint64_t simlog_conn_commands(const struct simlog_conn *conn);
/* A command routed as one on key would be (WAIT after a write). */
int simlog_conn_append_to(struct simlog_conn *conn, const char *key, int argc,
			  const char **argv, const size_t *lens,
			  struct simlog_err *err);
/* For an event loop: the socket the oldest owed reply comes on (-1 when
 * none is owed), and a reply if one has come, without waiting (1, 0 none
 * yet, -1 failed as _recv). */
int simlog_conn_fd(const struct simlog_conn *conn);
int simlog_conn_try_recv(struct simlog_conn *conn, struct redisReply **r,
			 struct simlog_err *err);

/*
 * Lua scripts go by SHA-1 (EVALSHA); a connection loads each script once,
 * ahead of its first call, and falls back to EVAL if Redis lacks it.
 * Declare one with SIMLOG_SCRIPT("#!lua\n...").  argv[0] and argv[1] (and
 * lens[0], lens[1]) are filled in here; argv[2] is the number of keys.
 */
struct simlog_script {
	const char *body;
	size_t len;
	char sha[41];
	int id;				/* -1 until first used */
};
#define SIMLOG_SCRIPT(text) { text, sizeof(text) - 1, "", -1 }
int simlog_script_append(struct simlog_conn *conn, struct simlog_script *s,
			 int argc, const char **argv, size_t *lens,
			 struct simlog_err *err);
/* Call and wait; an error reply is returned as NULL with err set, its
 * message about what. */
struct redisReply *simlog_script_call(struct simlog_conn *conn,
				      struct simlog_script *s, int argc,
				      const char **argv, size_t *lens,
				      const char *what, struct simlog_err *err);

/* The servers that hold data: the one server, the sentinels' master, or
 * every master of a cluster. */
#define SIMLOG_MAX_NODES 256
struct simlog_node {
	size_t index;			/* for simlog_node_cmd */
	char addr[300];			/* host:port or the socket path */
};
int simlog_conn_nodes(struct simlog_conn *conn, struct simlog_node *out,
		      size_t max, size_t *n, struct simlog_err *err);
/* Each sentinel of a sentinel URL: whether it answers, in how long, and
 * which master it names (a connection of its own to each, closed again). */
struct simlog_sentinel {
	char addr[300];
	int ok;
	double ms;			/* the question's round trips */
	char master[256];		/* the master's host, "" if none */
	int master_port;
	char error[SIMLOG_ERRLEN];
};
int simlog_conn_sentinels(struct simlog_conn *conn, struct simlog_sentinel *out,
			  size_t max, size_t *n, struct simlog_err *err);
/* One command to one of those nodes (no pipeline may be pending). */
struct redisReply *simlog_node_cmd(struct simlog_conn *conn, size_t node,
				   struct simlog_err *err, int argc,
				   const char **argv, const size_t *lens);
/* Every key matching a SCAN pattern (of a type, unless NULL), on every
 * node that holds data; a malloc'd array of malloc'd strings. */
int simlog_scan(struct simlog_conn *conn, const char *match, const char *type,
		char ***keys, size_t *n, struct simlog_err *err);
/* The same, going on past masters that do not answer: 0 all listed, 1
 * the keys of those that answered (err says which did not), -1 none. */
int simlog_scan_reachable(struct simlog_conn *conn, const char *match,
			  const char *type, char ***keys, size_t *n,
			  struct simlog_err *err);

/* The replicas of the master serving key (NULL: any master), as the
 * sentinels' master said in its ROLE or the cluster's slot map lists;
 * -1 when not known (plain URLs do not ask). */
int simlog_conn_replicas(const struct simlog_conn *conn, const char *key);
/*
 * Sentinel URLs: a subscription to the sentinels' +switch-master, on a
 * connection of its own that outlives reconnections.  _watch_fd is the
 * socket to poll for it (opened on the first call, and again at most
 * every 5 s after it breaks; -1 when there is none).  _watch_check reads
 * what has come, without waiting: 1 when the sentinels switched this
 * URL's master away from the one last connected (why says to where), 0
 * when not, -1 when the subscription broke.
 */
int simlog_conn_watch_fd(struct simlog_conn *conn);
int simlog_conn_watch_check(struct simlog_conn *conn, struct simlog_err *why);

/* Cluster URLs: whether the master serving key answers (its connection
 * opened if need be): 0, or -1 with err set; a master that did not is
 * not asked again for 5 s.  Always 0 for other URLs and unknown slots. */
int simlog_conn_reachable(struct simlog_conn *conn, const char *key,
			  struct simlog_err *err);

/* The maxmemory-policy, malloc'd, or NULL when it cannot be read. */
char *simlog_maxmemory_policy(struct simlog_conn *conn);
/* Whether a maxmemory-policy may evict simlog's keys. */
int simlog_maxmemory_evicts(const char *policy);

/* --- JSON lines -------------------------------------------------------- */

/*
 * Validate one line as a JSON object (RFC 8259, UTF-8, no NUL, nesting at
 * most SIMLOG_JSON_MAXDEPTH) and find the string value of the top-level
 * member `field` (which may be NULL).  On success out->val and out->len
 * point into the line at the raw string contents (between the quotes,
 * still escaped) and out->escaped says whether it holds escapes; out->kind
 * is SIMLOG_J_ABSENT if the member is absent.  Returns 0, or -1 with *why naming the problem and *at its byte
 * offset.
 */
#define SIMLOG_JSON_MAXDEPTH 512
enum simlog_jkind { SIMLOG_J_ABSENT, SIMLOG_J_STRING, SIMLOG_J_OTHER };
struct simlog_jfield {
	enum simlog_jkind kind;
	const char *val;
	size_t len;
	int escaped;
	int dup;		/* the member appeared more than once */
};
int simlog_json_scan(const char *line, size_t len, const char *field,
		     size_t flen, struct simlog_jfield *out,
		     const char **why, size_t *at);

/* The top-level members of a JSON object line, as raw spans into it. */
enum simlog_jvkind {
	SIMLOG_JV_STRING, SIMLOG_JV_NUMBER, SIMLOG_JV_TRUE, SIMLOG_JV_FALSE,
	SIMLOG_JV_NULL, SIMLOG_JV_OBJECT, SIMLOG_JV_ARRAY,
};
struct simlog_jmember {
	const char *key;	/* between the quotes, still escaped */
	size_t klen;
	int kesc;		/* key holds escapes */
	const char *val;	/* the raw value; strings with their quotes */
	size_t vlen;
	enum simlog_jvkind kind;
};
/* Validate and list up to max members; -1 with *why on bad JSON or more
 * members than max. */
int simlog_json_members(const char *line, size_t len, struct simlog_jmember *m,
			size_t max, size_t *n, const char **why);
/* Decode the escapes of a validated JSON string body into out, which must
 * hold n bytes (decoding never grows); returns the decoded length. */
size_t simlog_json_unescape(const char *s, size_t n, char *out);
/* In a validated JSON object (key != NULL) its member key, or in an array
 * its element index: 0 with *out set (out->val, vlen, kind), 1 when there
 * is no such member or element, -1 when val is not an object (array). */
int simlog_json_child(const char *val, size_t len, const char *key,
		      size_t klen, size_t index, struct simlog_jmember *out);

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
void simlog_jw_init(struct simlog_jw *w, FILE *f);
/* Start a line's object; end it (and the line).  _end returns 0, or -1
 * when anything written since _init failed. */
void simlog_jw_begin(struct simlog_jw *w);
int simlog_jw_end(struct simlog_jw *w);
int simlog_jw_error(const struct simlog_jw *w);
/* A member name; the value follows. */
void simlog_jw_key(struct simlog_jw *w, const char *k);
void simlog_jw_keyn(struct simlog_jw *w, const char *k, size_t n);
/* Values: a member's (after its name) or an array element. */
void simlog_jw_obj(struct simlog_jw *w);	/* nested object ... */
void simlog_jw_arr(struct simlog_jw *w);	/* nested array ... */
void simlog_jw_close(struct simlog_jw *w);	/* ... ends the innermost */
void simlog_jw_str(struct simlog_jw *w, const char *s);
void simlog_jw_strn(struct simlog_jw *w, const char *s, size_t n);
void simlog_jw_int(struct simlog_jw *w, long long v);
void simlog_jw_uint(struct simlog_jw *w, unsigned long long v);
/* Fixed-point with `decimals` digits (0-17); not finite: null. */
void simlog_jw_double(struct simlog_jw *w, double v, int decimals);
void simlog_jw_bool(struct simlog_jw *w, int v);
void simlog_jw_null(struct simlog_jw *w);
/* A value given as JSON text the caller knows to be valid; its line
 * breaks (white space between tokens) are written as spaces. */
void simlog_jw_raw(struct simlog_jw *w, const char *json, size_t n);
/* A member name and its value in one call. */
void simlog_jw_kstr(struct simlog_jw *w, const char *k, const char *s);
void simlog_jw_kint(struct simlog_jw *w, const char *k, long long v);
void simlog_jw_kuint(struct simlog_jw *w, const char *k,
		     unsigned long long v);
void simlog_jw_kdouble(struct simlog_jw *w, const char *k, double v,
		       int decimals);
void simlog_jw_kbool(struct simlog_jw *w, const char *k, int v);
void simlog_jw_knull(struct simlog_jw *w, const char *k);

/* --- line reader ------------------------------------------------------- */

/*
 * Reads '\n'-terminated lines from a file descriptor with a hard length
 * limit: a longer line is reported by length and skipped without being held
 * in memory.
 */
struct simlog_lines;
struct simlog_lines *simlog_lines_new(int fd, size_t maxlen);
void simlog_lines_free(struct simlog_lines *r);
enum simlog_line_status {
	SIMLOG_LINE_OK,		/* *line, *len valid until the next call */
	SIMLOG_LINE_TOOLONG,	/* *len = its length; it was skipped */
	SIMLOG_LINE_PARTIAL,	/* after _stop: an unfinished last line */
	SIMLOG_LINE_EOF,
	SIMLOG_LINE_INTR,	/* read(2) interrupted by a signal */
	SIMLOG_LINE_ERROR,	/* errno set */
};
enum simlog_line_status simlog_lines_next(struct simlog_lines *r,
					  const char **line, size_t *len);
/* Whether the next call returns without reading (a whole line is
 * buffered, or the input has ended): a caller may do other work before a
 * read that could wait. */
int simlog_lines_ready(struct simlog_lines *r);
/* Read nothing more: the next calls return what is buffered, then EOF. */
void simlog_lines_stop(struct simlog_lines *r);
/* Line number of the line just returned (1-based). */
unsigned long long simlog_lines_number(const struct simlog_lines *r);

/* --- buffer chunks ----------------------------------------------------- */

/*
 * A chunk is the unit simlog-push stores in Redis: many records, LZ4
 * compressed, with a unique batch id that makes delivery idempotent.  See
 * simlog(7) for the byte layout.
 */
#define SIMLOG_BATCH_ID_LEN 16
#define SIMLOG_CHUNK_HDR 36
#define SIMLOG_CHUNK_MAXRAW (256u << 20)
/* Bounds on what a drain or a replay takes from outside (Redis, a spool):
 * a chunk or entry beyond them is set aside undecoded (simlog(7) BOUNDS).
 * simlog-push never writes past them. */
#define SIMLOG_CHUNK_MAXTYPES 256	/* record types in one chunk */
#define SIMLOG_RECORD_MAX (64u << 20)	/* bytes of one record */
#define SIMLOG_ENTRY_MAXFIELDS 8	/* fields of one stream entry (push
					 * writes one, "c") */
#define SIMLOG_SIM_MAXTYPES 1024	/* record types (so tables) of one
					 * simulation a drain takes */

struct simlog_typecount {
	char name[64];
	uint32_t records;
	uint64_t bytes;
};

struct simlog_chunk {
	unsigned char id[SIMLOG_BATCH_ID_LEN];
	uint32_t records;
	char *raw;			/* "type\tjson\n" per record */
	size_t rawlen, rawcap;
	struct simlog_typecount *types;	/* per-type tallies of this chunk */
	size_t ntypes, typecap;
	char *enc;			/* encoded chunk after _seal */
	size_t enclen, enccap;
};
/* The record count a chunk's header claims, unchecked (0 when buf is no
 * chunk): an estimate, for deciding how much to read ahead. */
uint32_t simlog_chunk_peek_records(const char *buf, size_t len);
/* The batch id its header gives, unchecked as above: 0, or -1. */
int simlog_chunk_peek_id(const char *buf, size_t len,
			 unsigned char id[SIMLOG_BATCH_ID_LEN]);

void simlog_chunk_init(struct simlog_chunk *ch);
void simlog_chunk_clear(struct simlog_chunk *ch);	/* frees memory */
void simlog_chunk_reset(struct simlog_chunk *ch);	/* empties, keeps memory */
int simlog_chunk_add(struct simlog_chunk *ch, const char *type, size_t tlen,
		     const char *json, size_t jlen);
/* Encode (compress) the chunk under the given batch id into ch->enc. */
int simlog_chunk_seal(struct simlog_chunk *ch,
		      const unsigned char id[SIMLOG_BATCH_ID_LEN], int compress);
/* Decode an encoded chunk into ch (raw, records, types, id). */
int simlog_chunk_decode(struct simlog_chunk *ch, const char *buf, size_t len,
			struct simlog_err *err);

/* Take encoded bytes as the chunk's encoding (e.g. a spooled chunk, sent
 * again as it was); the raw records stay as decoded. */
int simlog_chunk_set_enc(struct simlog_chunk *ch, const char *enc,
			 size_t len);

/* Iterate the records of a decoded chunk.  *pos starts at 0. */
int simlog_chunk_next(const struct simlog_chunk *ch, size_t *pos,
		      const char **type, size_t *tlen,
		      const char **json, size_t *jlen);

/* Batch ids: 8 random bytes per producer + a 64-bit sequence. */
struct simlog_idgen {
	unsigned char prefix[8];
	uint64_t seq;
};
int simlog_idgen_init(struct simlog_idgen *g);
void simlog_idgen_next(struct simlog_idgen *g,
		       unsigned char out[SIMLOG_BATCH_ID_LEN]);
void simlog_hex(const unsigned char *p, size_t n, char *out);	/* 2n+1 */

/* --- the Redis buffer (queue) ------------------------------------------ */

/* Key names; buf must hold SIMLOG_KEYLEN bytes. */
#define SIMLOG_KEYLEN 128
/* The set that listed simulations before they were found by scanning:
 * read, and emptied of names whose stream has gone, never written. */
#define SIMLOG_SIMS_KEY "simlog:sims"
void simlog_key_stream(const char *sim, char *buf);
void simlog_key_count(const char *sim, char *buf);
void simlog_key_bytes(const char *sim, char *buf);
void simlog_key_corrupt(const char *sim, char *buf);

/*
 * Append the pipelined command that stores a sealed chunk for sim.  The
 * reply (read with simlog_push_reply) is the new stream entry id.  With
 * max_backlog > 0 the store is refused (SIMLOG_EX_TEMPFAIL, "backlog")
 * while the simulation already has that many records buffered.
 */
int simlog_push_append(struct simlog_conn *conn, const char *sim,
		       const struct simlog_chunk *ch, uint64_t max_backlog,
		       struct simlog_err *err);
/* The same for an encoded chunk and its tallies (from a spool). */
int simlog_push_append_enc(struct simlog_conn *conn, const char *sim,
			   const char *enc, size_t enclen,
			   const struct simlog_typecount *types, size_t ntypes,
			   uint64_t max_backlog, struct simlog_err *err);
/* The reply to the oldest chunk sent, by deadline (0: the timeout). */
int simlog_push_reply(struct simlog_conn *conn, double deadline,
		      struct simlog_err *err);

/* The names of simulations with buffered records, sorted, found by
 * scanning every master for their streams (malloc'd array of malloc'd
 * strings; free with simlog_strv_free). */
int simlog_list_sims(struct simlog_conn *conn, char ***sims, size_t *n,
		     struct simlog_err *err);
/* The same, going on past masters that do not answer: 1 when some did
 * not (err says which), as simlog_scan_reachable. */
int simlog_list_sims_reachable(struct simlog_conn *conn, char ***sims,
			       size_t *n, struct simlog_err *err);
void simlog_strv_free(char **v, size_t n);
/* The shard (0 to shards - 1) of a simulation, for simlog-drain --shard:
 * the 64-bit FNV-1a hash of its name, modulo shards.  Stable: it depends
 * on the name alone. */
unsigned simlog_shard_of(const char *sim, unsigned shards);
/* Take from the old layout's set (SIMLOG_SIMS_KEY) the names that are not
 * in sims[0..n) (sorted): their streams have gone.  Best effort. */
void simlog_forget_old_sims(struct simlog_conn *conn, char **sims, size_t n);

/* A stream entry id, ms-seq. */
struct simlog_sid {
	uint64_t ms, seq;
};
int simlog_sid_parse(const char *s, size_t len, struct simlog_sid *id);
void simlog_sid_format(const struct simlog_sid *id, char *buf);	/* 48 */
int simlog_sid_cmp(const struct simlog_sid *a, const struct simlog_sid *b);

/* The id of the newest entry of sim's stream; *found = 0 when empty. */
int simlog_queue_last(struct simlog_conn *conn, const char *sim,
		      struct simlog_sid *last, int *found,
		      struct simlog_err *err);

/* One entry read from the stream. */
struct simlog_entry {
	struct simlog_sid id;
	char *data;		/* the encoded chunk */
	size_t len;
	size_t nfields;		/* field-value pairs the entry has */
};
/* Read up to count entries with after < id <= upto (*n = how many), in
 * two halves, so that the next page can be on its way while this one is
 * worked on: send asks (nothing else may be sent on conn until recv has
 * read the answer). */
int simlog_queue_read_send(struct simlog_conn *conn, const char *sim,
			   const struct simlog_sid *after,
			   const struct simlog_sid *upto, size_t count,
			   struct simlog_err *err);
int simlog_queue_read_recv(struct simlog_conn *conn, const char *sim,
			   struct simlog_entry **out, size_t *n,
			   struct simlog_err *err);
void simlog_entries_free(struct simlog_entry *e, size_t n);

/*
 * Delete drained entries and take their records off the backlog counters,
 * atomically per step of a few hundred entries (each step applies whole or
 * not at all); an entry already deleted (by a concurrent drain, or a
 * previous try) is not counted twice.  tallies[i] are the per-type
 * tallies of ids[i].  Returns -1, or how many counters were reset because
 * they were not numbers (or their key not a hash).
 */
struct simlog_ack {
	struct simlog_sid id;
	const struct simlog_typecount *types;
	size_t ntypes;
};
int simlog_queue_ack(struct simlog_conn *conn, const char *sim,
		     const struct simlog_ack *acks, size_t n,
		     struct simlog_err *err);
/* Move an undecodable entry aside to the corrupt stream, all its fields
 * (more than a few hundred are kept packed, see simlog(7)).  Returns -1,
 * 0 when the entry was gone already, 1 moved, 2 moved after a key of
 * another type that held the corrupt stream's name was renamed
 * simlog:{SIM}:corrupt:displaced:ID. */
int simlog_queue_quarantine(struct simlog_conn *conn, const char *sim,
			    const struct simlog_entry *e, const char *why,
			    struct simlog_err *err);
/* Records buffered for sim, as its counters say (bounded by what its
 * stream's entries could hold): an estimate, 0 when unknown. */
unsigned long long simlog_queue_backlog(struct simlog_conn *conn,
					const char *sim);
/* Wait up to block seconds (or until *stop) for an entry newer than
 * after[i] in the stream of sims[i] (XREAD BLOCK; in a cluster, polling
 * each master that answers): 1 one came, 0 none, -1 Redis failed (the
 * connection is closed, the rest of the time slept). */
int simlog_queue_wait(struct simlog_conn *conn, char *const *sims,
		      const struct simlog_sid *after, size_t n, double block,
		      const volatile sig_atomic_t *stop);

/* --- schemas (simlog-schema(5)) ------------------------------------------ */

struct simlog_schema;
struct simlog_stable;
/* Load a schema file (a path with '/' or ending in .schema) or a named
 * one from $SIMLOG_SCHEMA_PATH or the installed schema directory.  Parse
 * errors name the file and line. */
struct simlog_schema *simlog_schema_load(const char *name,
					 struct simlog_err *err);
void simlog_schema_free(struct simlog_schema *s);
const char *simlog_schema_path(const struct simlog_schema *s);
/* Strict: record types the schema does not map are dead letters. */
int simlog_schema_strict(const struct simlog_schema *s);
struct simlog_stable *simlog_schema_table(struct simlog_schema *s,
					  const char *type, size_t len);
const char *simlog_stable_name(const struct simlog_stable *t);
/* Where the records go and how rows are written: lib/sink/sink.h. */

/* --- retries ------------------------------------------------------------ */

/* Exponential backoff with full jitter: attempt k (1-based) sleeps a random
 * time in [0, min(cap, base * factor^(k-1))]. */
struct simlog_retry {
	int tries;		/* attempts after the first failure */
	double base, factor, cap;
};
/* Defaults (3 tries, 0.1 s, x2, 2 s), then SIMLOG_RETRIES,
 * SIMLOG_RETRY_BASE, SIMLOG_RETRY_FACTOR, SIMLOG_RETRY_CAP. */
int simlog_retry_init(struct simlog_retry *r, struct simlog_err *err);
double simlog_retry_delay(const struct simlog_retry *r, int attempt);
/* Whether a failure may go away by itself (I/O, timeouts, LOADING, BUSY,
 * TRYAGAIN, MASTERDOWN, OOM, max clients, a failover); never a stop. */
int simlog_err_transient(const struct simlog_err *e);
/* Sleep to a deadline, ending early only when *stop becomes set. */
void simlog_sleep(double seconds, const volatile sig_atomic_t *stop);

/* The server's identity for the breaker (no db) and the spool (with db),
 * never with credentials. */
void simlog_conn_endpoint(const struct simlog_conn *conn, int with_db,
			  char *buf, size_t len);

/* --- circuit breaker shared across processes ---------------------------- */

/*
 * Closed / open / half-open, kept in a small file per Redis server under
 * $XDG_RUNTIME_DIR/simlog (else /tmp/simlog-UID), read and updated under
 * flock(2), so every simlog process of a user agrees on it.
 */
enum simlog_bstate { SIMLOG_B_CLOSED, SIMLOG_B_OPEN, SIMLOG_B_HALF_OPEN };
struct simlog_clock;
#define SIMLOG_BREAKER_WHYLEN 200
struct simlog_breaker {
	int fd;			/* -1: no state file (breaker disabled) */
	char path[512];
	int threshold;		/* consecutive failures that open it */
	double reset;		/* seconds open before a probe */
	enum simlog_bstate seen;	/* state after our last look */
	double retry_at;	/* when an open breaker lets a probe through */
	double opened_at;
	char why[SIMLOG_BREAKER_WHYLEN];	/* the failure that opened it */
	char changes[8][24];	/* transitions this process made */
	int nchanges;
	const struct simlog_clock *clock;	/* NULL: the real clock; a
					 * test's own (lib/clock.h) after
					 * _init */
};
/* Defaults 3 failures, 5 s; SIMLOG_BREAKER_FAILURES, SIMLOG_BREAKER_RESET;
 * SIMLOG_BREAKER_DIR overrides the directory. */
int simlog_breaker_init(struct simlog_breaker *b, const char *endpoint,
			int threshold, double reset, struct simlog_err *err);
/* May this process talk to Redis now?  force: yes, and become the probe. */
int simlog_breaker_allow(struct simlog_breaker *b, int force);
void simlog_breaker_success(struct simlog_breaker *b);
/* A failure (why: what it was, kept in the file for every process). */
void simlog_breaker_failure(struct simlog_breaker *b, const char *why);
/* Why an open breaker refuses, when it lets a probe through, what to run. */
void simlog_breaker_explain(const struct simlog_breaker *b, char *buf,
			    size_t len);
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
int simlog_breaker_read(const char *endpoint, struct simlog_breaker_view *v,
			struct simlog_err *err);
void simlog_breaker_clear(struct simlog_breaker *b);

/* --- the failure policy ----------------------------------------------- */

/*
 * How a tool goes on when Redis fails (simlog(7) FAILURE HANDLING):
 * transient failures (simlog_err_transient) are retried with backoff,
 * reconnecting first; they feed the breaker unless Redis only said it is
 * full; an open breaker refuses at once (one-shot tools) or is waited out
 * (forever, give_up_at).  Diagnostics go to say(), never to a stream.
 */
struct simlog_policy {
	struct simlog_retry retry;
	double give_up_at;		/* monotonic; 0: after retry.tries */
	int forever;			/* --follow: until stopped */
	int force;			/* probe even through an open breaker */
	struct simlog_breaker *brk;	/* NULL: no breaker */
	const volatile sig_atomic_t *stop;	/* set: give up at once */
	void (*say)(void *arg, const char *msg);
	void *say_arg;
	unsigned long long retries;	/* out: retries made */
	int lost;			/* out: Redis is gone (forever) */
	int refused;			/* the breaker refused a connect */
	const struct simlog_clock *clock;	/* NULL: the real clock;
					 * the breaker keeps its own */
};
/* Retry settings from the environment, the rest zero. */
int simlog_policy_init(struct simlog_policy *p, struct simlog_err *err);
/* The two halves of simlog_run, for loops that also retry other things:
 * connect if need be, as the breaker allows (1 connected now, 0 was
 * already, -1 failed or refused); and after a failure, decide, count and
 * wait (1: try again, reconnecting; 0: give up, err says why). */
int simlog_policy_connect(struct simlog_conn *conn, struct simlog_policy *p,
			  struct simlog_err *err);
int simlog_policy_failed(struct simlog_conn *conn, struct simlog_policy *p,
			 int *attempt, struct simlog_err *err);
/* The same decision for a failure of something without a breaker or a
 * connection to reset (a database): transient failures are retried
 * retry.tries times (never forever), with the same backoff and the same
 * message, counted in retries.  1 try again, 0 give up (err says why). */
int simlog_policy_retry(struct simlog_policy *p, int *attempt,
			struct simlog_err *err);

/* The op must not run twice once it may have reached Redis (a save that
 * makes a new version): only its connecting is retried. */
#define SIMLOG_RUN_ONCE 1u
/* The op has just failed with *err: start by handling that failure. */
#define SIMLOG_RUN_FAILED 2u
/*
 * Run op(conn, arg, err) under the policy: connect first (as the breaker
 * allows), and after a transient failure close, wait, reconnect and run it
 * again.  The op must be safe to repeat unless SIMLOG_RUN_ONCE is given.
 */
int simlog_run(struct simlog_conn *conn, struct simlog_policy *p,
	       unsigned flags,
	       int (*op)(struct simlog_conn *, void *, struct simlog_err *),
	       void *arg, struct simlog_err *err);

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
struct simlog_writer *simlog_writer_open(const struct simlog_writer_opts *o,
					 struct simlog_err *err);
/*
 * Add one record: a JSON object (no newline).  0 taken; 1 refused (why
 * says what is wrong with it: bad JSON, no type, too long); -1 the writer
 * can take no more (why: the spool is full, records are being lost).
 * Blocks at most --timeout, and only while Redis is slower than the
 * producer and no failure is known (critical: until the deadline).
 */
int simlog_writer_write(struct simlog_writer *w, const char *line,
			size_t len, struct simlog_err *why);
/* Send the partial chunk now, without waiting. */
void simlog_writer_flush(struct simlog_writer *w);
/* Progress so far (retries, the breaker, spool_pending, seconds and fatal
 * are filled in by simlog_writer_close only). */
void simlog_writer_stats(struct simlog_writer *w,
			 struct simlog_writer_stats *st);
/* Send or spool everything, replay the spool if Redis is there, stop the
 * thread, fill st (may be NULL) and free the writer.  NULL is a no-op. */
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
void simlog_writer_summary(struct simlog_jw *w,
			   const struct simlog_writer_stats *st,
			   const struct simlog_writer_input *in);
int simlog_writer_status(const struct simlog_writer_stats *st,
			 const struct simlog_writer_input *in);

/* --- the spool: a durable local store for undelivered chunks ------------ */

struct simlog_spool;
struct simlog_spool_seg;
/* Open (creating) DIR/<endpoint id>/, bounded by max_bytes in all.  Writes
 * may come from several threads. */
struct simlog_spool *simlog_spool_open(const char *dir, const char *endpoint,
				       uint64_t max_bytes,
				       struct simlog_err *err);
void simlog_spool_free(struct simlog_spool *sp);
/* The default directory: $SIMLOG_SPOOL_DIR, else $XDG_STATE_HOME/simlog/spool,
 * else ~/.local/state/simlog/spool (malloc'd). */
char *simlog_spool_default_dir(void);
/* The subdirectory of dir that holds an endpoint's spool. */
void simlog_spool_path(const char *dir, const char *endpoint, char *buf,
		       size_t len);
const char *simlog_spool_dir(const struct simlog_spool *sp);
/* Append one sealed chunk of `records` records; on return it is on disk
 * (fdatasync).  A full spool fails with SIMLOG_EX_IOERR saying so. */
int simlog_spool_write(struct simlog_spool *sp, const char *sim,
		       const char *chunk, size_t len, uint32_t records,
		       struct simlog_err *err);
/* Close our segment (with its end mark) so that it can be replayed. */
void simlog_spool_seal(struct simlog_spool *sp);
uint64_t simlog_spool_bytes(const struct simlog_spool *sp);
/* Whether any segment (ours or not) waits (1, or 0); re-scans the
 * directory; -1 with err set when it cannot be read. */
int simlog_spool_pending(struct simlog_spool *sp, struct simlog_err *err);
/* Where to say that the directory vanished and what was written back
 * (from whichever thread wrote). */
void simlog_spool_on_say(struct simlog_spool *sp,
			 void (*say)(void *, const char *), void *arg);
/* Records this spool took and keeps no more (the directory vanished and
 * they could not be written back), in all; why says what happened. */
uint64_t simlog_spool_lost(struct simlog_spool *sp, struct simlog_err *why);
/* Keep a chunk a replay cannot deliver now (its master does not answer)
 * in a segment of its own, so that the replay goes on past it; once
 * sealed (simlog_spool_seal_aside), this spool does not take that segment
 * again: a later run replays it. */
int simlog_spool_write_aside(struct simlog_spool *sp, const char *sim,
			     const char *chunk, size_t len, uint32_t records,
			     struct simlog_err *err);
void simlog_spool_seal_aside(struct simlog_spool *sp);
/* Take the next segment no live process holds; 0 when none is left. */
int simlog_spool_take(struct simlog_spool *sp, struct simlog_spool_seg **seg,
		      struct simlog_err *err);

/* One readable chunk of a segment. */
struct simlog_spool_rec {
	char sim[72];
	const char *chunk;		/* into the segment's buffer */
	size_t len;
	uint32_t records;		/* 0 in the first format (unknown) */
	size_t end;			/* where the next frame starts */
	uint64_t seen;			/* records of the segment up to here */
};
/* What a segment lost: records in damaged or cut-short chunks. */
struct simlog_spool_loss {
	uint64_t records;		/* counted exactly */
	int unknown;			/* and more that cannot be counted */
	int damaged;			/* bytes that did not check out */
	int torn;			/* the file ends inside a chunk */
	uint64_t bad_bytes;
};
/* The next readable chunk: 1, or 0 at the end.  Damage is skipped (the
 * reader finds the next chunk whose header checks out) and counted. */
int simlog_spool_seg_next(struct simlog_spool_seg *seg,
			  struct simlog_spool_rec *r);
void simlog_spool_seg_loss(const struct simlog_spool_seg *seg,
			   struct simlog_spool_loss *loss);
const char *simlog_spool_seg_name(const struct simlog_spool_seg *seg);
/* Redis took the chunks before byte offset done (done_records of the
 * segment's records): keep only the rest.  The segment is released. */
int simlog_spool_seg_trim(struct simlog_spool *sp, struct simlog_spool_seg *seg,
			  size_t done, uint64_t done_records,
			  struct simlog_err *err);
/* Every readable chunk was replayed: delete the segment, or, when it had
 * damage, keep it as "<name>.damaged" (written to kept).  Released. */
int simlog_spool_seg_done(struct simlog_spool *sp, struct simlog_spool_seg *seg,
			  char *kept, size_t len);
/* Give a segment back untouched. */
void simlog_spool_seg_release(struct simlog_spool_seg *seg);

/* Spool size on this host for an endpoint directory, for monitoring. */
struct simlog_spool_usage {
	uint64_t segments, bytes;
};
int simlog_spool_usage(const char *dir, struct simlog_spool_usage *u);

/* What waits in an endpoint's spool directory, one segment at a time. */
enum simlog_spool_state {
	SIMLOG_SPOOL_WAITING,		/* replayable */
	SIMLOG_SPOOL_BUSY,		/* a live process holds it */
	SIMLOG_SPOOL_DAMAGED,		/* kept aside after a replay */
};
#define SIMLOG_SPOOL_STAT_SIMS 16
struct simlog_spool_stat {
	const char *name;		/* the file's name */
	enum simlog_spool_state state;
	uint64_t bytes, records, chunks;
	struct {
		char name[72];
		uint64_t records;
	} sims[SIMLOG_SPOOL_STAT_SIMS];	/* the first simulations in it */
	size_t nsims;
	struct simlog_spool_loss loss;
};
/* Call fn for each segment (fn returning non-zero stops); -1 if the
 * directory cannot be read. */
int simlog_spool_status(const char *dir,
			int (*fn)(void *, const struct simlog_spool_stat *),
			void *arg);
/* Every endpoint's spool under dir (DIR/<id>/ naming its endpoint, as
 * simlog_spool_open makes them), in name order: fn(arg, path, endpoint)
 * for each; fn returning non-zero stops, and is returned.  0 for a dir
 * that does not exist, -1 for one that cannot be read. */
int simlog_spool_each(const char *dir,
		      int (*fn)(void *, const char *path, const char *endpoint),
		      void *arg);

#ifdef __cplusplus
}
#endif

#endif

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
#include <stdio.h>
#include <sys/time.h>

#define SIMLOG_VERSION "0.1.0"

/* Exit codes: an interface, listed in every man page (sysexits-style). */
enum simlog_exit {
	SIMLOG_EX_OK = 0,
	SIMLOG_EX_FAIL = 1,		/* a tool-specific condition, see its man page */
	SIMLOG_EX_USAGE = 64,		/* bad command line */
	SIMLOG_EX_DATAERR = 65,		/* some input was rejected */
	SIMLOG_EX_NOINPUT = 66,		/* a named input or item does not exist */
	SIMLOG_EX_UNAVAILABLE = 69,	/* Redis could not be reached */
	SIMLOG_EX_SOFTWARE = 70,	/* internal error */
	SIMLOG_EX_CANTCREAT = 73,	/* an output file could not be created */
	SIMLOG_EX_IOERR = 74,		/* reading input or writing output failed */
	SIMLOG_EX_TEMPFAIL = 75,	/* try again later: Redis failed part-way */
	SIMLOG_EX_NOPERM = 77,		/* authentication or permission refused */
	SIMLOG_EX_CONFIG = 78,		/* server or configuration is unsafe/unusable */
};

#define SIMLOG_ERRLEN 256

/* An error as the library reports it: an exit class and a message. */
struct simlog_err {
	int code;			/* one of enum simlog_exit */
	int full;			/* Redis is up but refused for lack of room
					 * (maxmemory, --max-backlog): draining
					 * helps, the breaker does not count it */
	char msg[SIMLOG_ERRLEN];
};

/* Fill err (if not NULL) and return -1. */
int simlog_seterr(struct simlog_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- numbers and names ------------------------------------------------- */

/*
 * Parse a whole decimal integer in [min, max].  Returns 0, or -1 with a
 * reason ("not a number", "too small", "too large") in *why.
 */
int simlog_parse_ll(const char *s, long long min, long long max,
		    long long *out, const char **why);
/* Parse a non-negative number of seconds, fractions allowed, <= max. */
int simlog_parse_seconds(const char *s, double max, double *out,
			 const char **why);

/* Record type: [A-Za-z_][A-Za-z0-9_]{0,62}, and no reserved prefix. */
int simlog_valid_type(const char *s, size_t len, const char **why);
/* Simulation name: [A-Za-z0-9_.-]{1,64}. */
int simlog_valid_sim(const char *s, size_t len);

/* Monotonic and wall clocks, in seconds. */
double simlog_now_mono(void);
double simlog_now_wall(void);

/* --- connection URL ---------------------------------------------------- */

#define SIMLOG_DEFAULT_URL "redis://127.0.0.1:6379/0"

struct simlog_url {
	char *host;		/* NULL for a unix socket */
	int port;
	char *path;		/* unix socket path, else NULL */
	char *user;		/* NULL when absent */
	char *password;		/* NULL when absent */
	int db;
};

/* Parse redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N]. */
int simlog_url_parse(const char *s, struct simlog_url *u,
		     struct simlog_err *err);
void simlog_url_clear(struct simlog_url *u);
/* Print the URL with any password replaced by "***" into buf. */
void simlog_url_format(const struct simlog_url *u, char *buf, size_t len);
/* Whether a URL string carries a password (to warn about argv). */
int simlog_url_has_password(const char *s);

/* Read a password from a file: first line, trailing CR/LF removed.  Returns
 * a malloc'd string the caller frees, or NULL with err set. */
char *simlog_read_password_file(const char *path, struct simlog_err *err);

/* --- Redis connection -------------------------------------------------- */

struct simlog_conn_opts {
	const char *url;		/* NULL: $SIMLOG_REDIS_URL, else default */
	const char *password_file;	/* overrides a URL password */
	double timeout;			/* connect and command timeout, seconds */
	const char *name;		/* CLIENT SETNAME, e.g. "simlog-push" */
};

struct redisContext;
struct simlog_conn {
	struct redisContext *c;
	struct simlog_url url;
	char *password;			/* from file or URL; never printed */
	char display[320];		/* URL with the password redacted */
	double timeout;
	char name[64];
};

/* Resolve the URL and password without connecting. */
int simlog_conn_init(struct simlog_conn *conn,
		     const struct simlog_conn_opts *o, struct simlog_err *err);
/* (Re)connect: connect, AUTH, SELECT, CLIENT SETNAME.  Any old context is
 * freed first, since hiredis contexts are not reusable after an error. */
int simlog_conn_open(struct simlog_conn *conn, struct simlog_err *err);
void simlog_conn_close(struct simlog_conn *conn);
void simlog_conn_clear(struct simlog_conn *conn);

struct redisReply;
/*
 * Turn a failed hiredis call (NULL reply, context error) or an error reply
 * into an error with a class: UNAVAILABLE for I/O, TEMPFAIL for transient
 * server states (LOADING, BUSY, OOM, ...), NOPERM for auth, SOFTWARE
 * otherwise.  Returns -1.
 */
int simlog_conn_error(struct simlog_conn *conn, const struct redisReply *r,
		      const char *what, struct simlog_err *err);

/* Run one command; returns the reply (free with freeReplyObject) or NULL
 * with err set.  An error reply is returned as NULL too. */
struct redisReply *simlog_cmd(struct simlog_conn *conn, struct simlog_err *err,
			      int argc, const char **argv, const size_t *lens);

/* The maxmemory-policy, malloc'd, or NULL when it cannot be read. */
char *simlog_maxmemory_policy(struct simlog_conn *conn);
/* Whether a maxmemory-policy may evict simlog's keys. */
int simlog_policy_evicts(const char *policy);

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

/* Write a JSON string (with quotes) for s[0..len) to f. */
void simlog_json_write_str(FILE *f, const char *s, size_t len);

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
int simlog_push_reply(struct simlog_conn *conn, struct simlog_err *err);

/* The names of simulations with buffered records (malloc'd array of
 * malloc'd strings; free with simlog_strv_free). */
int simlog_list_sims(struct simlog_conn *conn, char ***sims, size_t *n,
		     struct simlog_err *err);
void simlog_strv_free(char **v, size_t n);

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
};
/* Read up to count entries with after < id <= upto. *n = how many. */
int simlog_queue_read(struct simlog_conn *conn, const char *sim,
		      const struct simlog_sid *after,
		      const struct simlog_sid *upto, size_t count,
		      struct simlog_entry **out, size_t *n,
		      struct simlog_err *err);
void simlog_entries_free(struct simlog_entry *e, size_t n);

/*
 * Delete drained entries and take their records off the backlog counters,
 * atomically; an entry already deleted (by a concurrent drain) is not
 * counted twice.  tallies[i] are the per-type tallies of ids[i].
 */
struct simlog_ack {
	struct simlog_sid id;
	const struct simlog_typecount *types;
	size_t ntypes;
};
int simlog_queue_ack(struct simlog_conn *conn, const char *sim,
		     const struct simlog_ack *acks, size_t n,
		     struct simlog_err *err);
/* Move an undecodable entry aside to the corrupt stream. */
int simlog_queue_quarantine(struct simlog_conn *conn, const char *sim,
			    const struct simlog_entry *e, const char *why,
			    struct simlog_err *err);

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
 * TRYAGAIN, MASTERDOWN, OOM, max clients). */
int simlog_err_transient(const struct simlog_err *e);
/* Sleep, resuming after signals unless *stop becomes set. */
void simlog_sleep(double seconds, volatile int *stop);

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
struct simlog_breaker {
	int fd;			/* -1: no state file (breaker disabled) */
	char path[512];
	int threshold;		/* consecutive failures that open it */
	double reset;		/* seconds open before a probe */
	enum simlog_bstate seen;	/* state after our last look */
	double retry_at;	/* when an open breaker lets a probe through */
	char changes[8][24];	/* transitions this process made */
	int nchanges;
};
/* Defaults 3 failures, 5 s; SIMLOG_BREAKER_FAILURES, SIMLOG_BREAKER_RESET;
 * SIMLOG_BREAKER_DIR overrides the directory. */
int simlog_breaker_init(struct simlog_breaker *b, const char *endpoint,
			int threshold, double reset, struct simlog_err *err);
/* May this process talk to Redis now?  force: yes, and become the probe. */
int simlog_breaker_allow(struct simlog_breaker *b, int force);
void simlog_breaker_success(struct simlog_breaker *b);
void simlog_breaker_failure(struct simlog_breaker *b);
const char *simlog_breaker_name(enum simlog_bstate s);
void simlog_breaker_clear(struct simlog_breaker *b);

/* --- the spool: a durable local store for undelivered chunks ------------ */

struct simlog_spool;
struct simlog_spool_seg;
/* Open (creating) DIR/<endpoint id>/, bounded by max_bytes in all. */
struct simlog_spool *simlog_spool_open(const char *dir, const char *endpoint,
				       uint64_t max_bytes,
				       struct simlog_err *err);
void simlog_spool_free(struct simlog_spool *sp);
/* The default directory: $SIMLOG_SPOOL_DIR, else $XDG_STATE_HOME/simlog/spool,
 * else ~/.local/state/simlog/spool (malloc'd). */
char *simlog_spool_default_dir(void);
/* Append one sealed chunk; on return it is on disk (fdatasync).  A full
 * spool fails with SIMLOG_EX_IOERR and a message saying so. */
int simlog_spool_write(struct simlog_spool *sp, const char *sim,
		       const char *chunk, size_t len, struct simlog_err *err);
/* Close our segment so that it can be replayed. */
void simlog_spool_seal(struct simlog_spool *sp);
uint64_t simlog_spool_bytes(const struct simlog_spool *sp);
/* Whether any segment (ours or not) waits; re-scans the directory. */
int simlog_spool_pending(struct simlog_spool *sp);
/* Take the next segment no live process holds; 0 when none is left. */
int simlog_spool_take(struct simlog_spool *sp, struct simlog_spool_seg **seg,
		      struct simlog_err *err);
/* Next chunk of a segment: 1, 0 at the end, -2 for a torn last record (a
 * crash while writing it: nothing after it was ever written), -1 for a
 * damaged one (what follows cannot be read). */
int simlog_spool_seg_next(struct simlog_spool_seg *seg, char *sim,
			  const char **chunk, size_t *len);
/* Where the next chunk of a segment starts (to remember progress). */
size_t simlog_spool_seg_pos(const struct simlog_spool_seg *seg);
/* Keep only what follows byte offset done (Redis took the rest); the
 * segment is released. */
int simlog_spool_seg_trim(struct simlog_spool *sp, struct simlog_spool_seg *seg,
			  size_t done, struct simlog_err *err);
/* Set a segment with an unreadable record aside as "<name>.damaged"
 * (its name is written to kept); the segment is released. */
int simlog_spool_seg_damaged(struct simlog_spool *sp,
			     struct simlog_spool_seg *seg, size_t done,
			     char *kept, size_t len);
/* Delete a replayed segment, or give it back untouched. */
int simlog_spool_seg_done(struct simlog_spool *sp, struct simlog_spool_seg *seg);
void simlog_spool_seg_release(struct simlog_spool_seg *seg);

/* Spool size on this host for an endpoint directory, for monitoring. */
struct simlog_spool_usage {
	uint64_t segments, bytes;
};
int simlog_spool_usage(const char *dir, struct simlog_spool_usage *u);

#endif

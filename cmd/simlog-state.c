/*
 * simlog-state: save and restore versioned, compressed, checksummed states
 * in Redis, one at a time or a whole experiment over one pipeline.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common.h"
#include "json.h"
#include "lines.h"
#include "simlog_health.h"
#include "simlog_state.h"
#include "state_json.h"
#include "util.h"

#define WINDOW 64			/* batch requests in flight */
#define WINDOW_BYTES ((size_t)8 << 20)	/* and their stored bytes */
#define LOAD_INLINE ((size_t)256 << 10)	/* batch loads larger: fetched */
#define BATCH_MAXLINE ((size_t)64 << 20)
#define MAX_VERSION (1LL << 53)

/* Options, by bit, so each subcommand can say which it takes. */
enum {
	O_TTL = 1 << 0, O_TAG = 1 << 1, O_COMPRESS = 1 << 2,
	O_MAXV = 1 << 3, O_EXPECT = 1 << 4, O_RAW = 1 << 5, O_BATCH = 1 << 6,
	O_VERSION = 1 << 7, O_TO = 1 << 8, O_KEEP = 1 << 9, O_MATCH = 1 << 10,
	O_OUTPUT = 1 << 11, O_WAIT = 1 << 12,
};

enum {
	OPT_TTL = 0x100, OPT_TAG, OPT_COMPRESS, OPT_MAXV, OPT_EXPECT, OPT_RAW,
	OPT_BATCH, OPT_VERSION, OPT_TO, OPT_KEEP, OPT_MATCH, OPT_WAIT,
};

#define SUB_LONGOPTS \
	{ "ttl", required_argument, NULL, OPT_TTL }, \
	{ "tag", required_argument, NULL, OPT_TAG }, \
	{ "compress", required_argument, NULL, OPT_COMPRESS }, \
	{ "max-versions", required_argument, NULL, OPT_MAXV }, \
	{ "expect-version", required_argument, NULL, OPT_EXPECT }, \
	{ "raw", no_argument, NULL, OPT_RAW }, \
	{ "batch", no_argument, NULL, OPT_BATCH }, \
	{ "to", required_argument, NULL, OPT_TO }, \
	{ "keep", required_argument, NULL, OPT_KEEP }, \
	{ "match", required_argument, NULL, OPT_MATCH }, \
	{ "wait-replicas", required_argument, NULL, OPT_WAIT }, \
	{ "output", required_argument, NULL, 'o' }

/* Before the subcommand: the connection, help and version.  Subcommand
 * options are known here only to say where they belong. */
static const struct option global_longopts[] = {
	CLI_CONN_LONGOPTS,
	SUB_LONGOPTS,
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* After it: --version is a state's version. */
static const struct option sub_longopts[] = {
	CLI_CONN_LONGOPTS,
	SUB_LONGOPTS,
	{ "version", required_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(void)
{
	fputs(
"Usage: simlog-state [-u URL] [--password-file FILE] [--timeout SECONDS]\n"
"                    COMMAND [ID] [options]\n"
"\n"
"Versioned, compressed, checksummed states in Redis.\n"
"\n"
"Commands:\n"
"  save ID [--ttl S] [--tag TAG]... [--compress lz4|zlib|none]\n"
"          [--max-versions N] [--expect-version N] [--raw]\n"
"          [--wait-replicas N] < state\n"
"  save --batch [--ttl S] [--tag TAG]... [--compress C] [--max-versions N]\n"
"          [--wait-replicas N]\n"
"  load ID [--version N] [-o FILE]\n"
"  load --batch\n"
"  versions ID\n"
"  meta ID [--version N]\n"
"  list [--tag TAG]... [--match GLOB]\n"
"  rollback ID --to N\n"
"  delete ID [--version N]\n"
"  prune ID --keep N\n"
"  stats\n"
"\n"
"Options:\n"
CLI_CONN_USAGE
"      --ttl SECONDS        every key of the ID expires SECONDS after this save\n"
"      --tag TAG            tag the version (list: only IDs with TAG)\n"
"      --compress ALGO      lz4 (default), zlib or none\n"
"      --max-versions N     keep only the newest N versions (default: all)\n"
"      --expect-version N   save only if N is the latest version (0: none)\n"
"      --raw                store any bytes, not only a JSON document\n"
"      --wait-replicas N    a save counts once N replicas have it (default\n"
"                           $SIMLOG_WAIT_REPLICAS, else 0)\n"
"      --batch              many states as JSON lines on stdin\n"
"      --version N          that version instead of the latest\n"
"  -o, --output FILE        (load) write the state to FILE, replacing it only\n"
"                           once the state is loaded and verified\n"
"      --to N               the version to roll back to\n"
"      --keep N             how many of the newest versions prune keeps\n"
"      --match GLOB         list only IDs that match the shell pattern GLOB\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            (before COMMAND) show the version and exit\n"
"\n"
"Exit status: 0 done, 64 bad usage, 65 bad input or a corrupt stored state,\n"
"66 no such state or version, 69 Redis unreachable, 70 internal error,\n"
"73 FILE cannot be created, 74 I/O error, 75 Redis failed part-way,\n"
"77 authentication refused, 78 configuration, 79 --expect-version\n"
"conflict, or the version loaded was deleted while read; see\n"
"simlog-state(1).\n",
	    stdout);
}

struct st {
	struct simlog_conn_opts co;
	struct simlog_conn conn;
	const char *id;
	unsigned given;			/* O_* bits */
	long long ttl_ms;
	char tags[SIMLOG_STATE_TAGSLEN];
	enum simlog_state_comp comp;
	long long max_versions, expect_version, version, to, keep;
	int wait_replicas;
	const char *match;
	const char *output;		/* load -o FILE */
	int status;			/* of the first failed batch line */
	struct simlog_state_enc *enc;	/* kept from state to state */
};

struct sub {
	const char *name;
	int (*run)(struct st *);
	unsigned opts;			/* O_* it takes */
	int id;				/* 1: takes an ID (unless --batch) */
};

/* The JSON lines on standard output. */
static struct simlog_jw out;

/* Exit with the error's class; a Redis reply that blames the setup
 * (such as a database the server does not have) is a configuration
 * error, with the fix. */
static void __attribute__((noreturn))
die(struct simlog_err *e)
{
	cli_die(e);
}

static void
fail_line(struct st *s, unsigned long long lineno, struct simlog_err *e)
{
	warnx("line %llu: %s", lineno, e->msg);
	if (s->status == 0)
		s->status = e->code ? e->code : SIMLOG_EX_SOFTWARE;
}

/* The connection broke: nothing more can be done over it. */
static void
check_fatal(struct st *s, struct simlog_err *e)
{
	if (!simlog_conn_connected(&s->conn))
		die(e);
}

static void
connect_redis(struct st *s)
{
	struct simlog_err e;

	if (simlog_conn_init(&s->conn, &s->co, &e) < 0)
		die(&e);
	if (cli_open(&s->conn, &e) < 0) {
		simlog_conn_clear(&s->conn);
		die(&e);
	}
}

/* Connect for pipelined requests (scripts load themselves, pipelined
 * ahead of their first call). */
static void
connect_pipelined(struct st *s)
{
	connect_redis(s);
}

/* --- output -------------------------------------------------------------- */

/* End a line; stop early when the reader has gone. */
static void
line_end(void)
{
	int r = cli_line_end(&out);

	if (r > 0)
		exit(SIMLOG_EX_OK);
	if (r < 0)
		exit(SIMLOG_EX_IOERR);
}

/* The metadata of one version, without ending the line. */
static void
put_meta(const char *id, const struct simlog_state_meta *m, long long expires)
{
	simlog_jw_begin(&out);
	simlog_state_meta_put(&out, id, m, expires);
}

static void
meta_line(const char *id, const struct simlog_state_meta *m, long long expires)
{
	put_meta(id, m, expires);
	line_end();
}

static void
deleted_line(const char *id, long long n)
{
	simlog_jw_begin(&out);
	simlog_jw_kstr(&out, "id", id);
	simlog_jw_kint(&out, "deleted", n);
	line_end();
}

/* --- save ------------------------------------------------------------------ */

/* Room kept around the input, to validate a JSON document that is not an
 * object by wrapping it in one in place. */
#define WRAP_HEAD 4
#define WRAP_TAIL 1

static char *
read_stdin(size_t *len)
{
	struct stat sb;
	size_t cap = 1 << 16, n = 0;
	char *buf;

	if (fstat(STDIN_FILENO, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    sb.st_size > 0 && (uint64_t)sb.st_size <= SIMLOG_STATE_MAXSIZE)
		cap = (size_t)sb.st_size + 1;	/* + 1 to see the end */
	if ((buf = malloc(WRAP_HEAD + cap + WRAP_TAIL)) == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *p;

			if ((uint64_t)cap > SIMLOG_STATE_MAXSIZE)
				errx(SIMLOG_EX_DATAERR, "standard input: state "
				    "larger than the limit of %llu bytes",
				    (unsigned long long)SIMLOG_STATE_MAXSIZE);
			cap *= 2;
			if ((p = realloc(buf, WRAP_HEAD + cap + WRAP_TAIL)) == NULL)
				errx(SIMLOG_EX_SOFTWARE, "out of memory");
			buf = p;
		}
		r = read(STDIN_FILENO, buf + WRAP_HEAD + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err(SIMLOG_EX_IOERR, "reading standard input");
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if ((uint64_t)n > SIMLOG_STATE_MAXSIZE)
		errx(SIMLOG_EX_DATAERR, "standard input: state of %zu bytes is "
		    "larger than the limit of %llu", n,
		    (unsigned long long)SIMLOG_STATE_MAXSIZE);
	*len = n;
	return buf;
}

/* Whether buf[WRAP_HEAD..+len) is one JSON document (any value). */
static void
check_json(char *buf, size_t len)
{
	char *doc = buf + WRAP_HEAD;
	const char *why;
	size_t i = 0, at;

	while (i < len && strchr(" \t\r\n", doc[i]) != NULL)
		i++;
	if (i == len)
		errx(SIMLOG_EX_DATAERR, "standard input: no JSON document "
		    "(--raw stores any bytes)");
	if (doc[i] == '{') {
		if (simlog_json_scan(doc, len, NULL, 0, NULL, &why, &at) == 0)
			return;
	} else {
		memcpy(buf, "{\"\":", WRAP_HEAD);
		doc[len] = '}';
		if (simlog_json_scan(buf, WRAP_HEAD + len + WRAP_TAIL, NULL, 0,
		    NULL, &why, &at) == 0)
			return;
		/* Say it of the document, not of the wrapper around it. */
		at = at < WRAP_HEAD ? 0 : at - WRAP_HEAD;
		if (at < len && (strcmp(why, "unterminated object") == 0 ||
		    strcmp(why, "expected ',' or '}'") == 0))
			why = "junk after the document";
	}
	if (at >= len) {
		at = len;
		why = "unexpected end of the document";
	}
	errx(SIMLOG_EX_DATAERR, "standard input: not JSON: %s at byte %zu "
	    "(--raw stores any bytes)", why, at + 1);
}

static void
item_defaults(const struct st *s, struct simlog_state_item *it)
{
	memset(it, 0, sizeof(*it));
	memcpy(it->tags, s->tags, sizeof(it->tags));
	it->comp = s->comp;
	it->ttl_ms = s->ttl_ms;
	it->max_versions = s->max_versions;
	it->wait_replicas = s->wait_replicas;
	it->expect_version = s->expect_version;
}

static int
save_one(struct st *s)
{
	struct simlog_state_item it;
	struct simlog_state_meta m;
	struct simlog_err e;
	long long expires;
	size_t len;
	char *buf = read_stdin(&len);

	if (!(s->given & O_RAW))
		check_json(buf, len);
	item_defaults(s, &it);
	snprintf(it.id, sizeof(it.id), "%s", s->id);
	it.raw = (s->given & O_RAW) != 0;
	if (simlog_state_prepare(&it, NULL, buf + WRAP_HEAD, len, &e) < 0)
		die(&e);
	if (it.owned != NULL) {
		/* Compressed: the input is no longer needed. */
		free(buf);
		buf = NULL;
	}
	connect_redis(s);
	if (simlog_state_save(&s->conn, &it, &m, &expires, &e) < 0)
		die(&e);
	meta_line(it.id, &m, expires);
	simlog_state_item_clear(&it);
	free(buf);
	return SIMLOG_EX_OK;
}

/* A batch request awaiting its reply. */
struct pending {
	unsigned long long lineno;
	struct simlog_state_item it;	/* save */
	long long version;		/* load */
	char id[SIMLOG_STATE_IDMAX + 1];
	int received;
	int failed;
	struct simlog_err e;
	struct simlog_state_loaded l;
};

struct ring {
	struct pending *p;
	size_t head, n, bytes;
};

static struct pending *
ring_at(struct ring *r, size_t i)
{
	return &r->p[(r->head + i) % WINDOW];
}

static void
save_collect_one(struct st *s, struct ring *r)
{
	struct pending *p = ring_at(r, 0);
	struct simlog_state_meta m;
	struct simlog_err e;
	long long expires;

	if (simlog_state_save_recv(&s->conn, &p->it, &m, &expires, &e) < 0) {
		check_fatal(s, &e);
		fail_line(s, p->lineno, &e);
	} else {
		meta_line(p->it.id, &m, expires);
	}
	r->bytes -= p->it.stored_len;
	simlog_state_item_clear(&p->it);
	r->head = (r->head + 1) % WINDOW;
	r->n--;
}

static void
save_batch_line(struct st *s, struct ring *r, unsigned long long lineno,
		const char *line, size_t len)
{
	struct simlog_state_batch b;
	struct simlog_state_item it;
	struct simlog_err e;
	const char *why;

	while (len > 0 && strchr(" \t\r", line[len - 1]) != NULL)
		len--;
	if (len == 0)
		return;
	if (simlog_state_batch_parse(line, len, 0, &b, &why) < 0) {
		simlog_seterr(&e, SIMLOG_EX_DATAERR, "%s", why);
		fail_line(s, lineno, &e);
		return;
	}
	item_defaults(s, &it);
	memcpy(it.id, b.id, sizeof(it.id));
	if (b.has_ttl)
		it.ttl_ms = b.ttl > 0 ? llround(b.ttl * 1000) : 0;
	if (b.has_tags)
		memcpy(it.tags, b.tags, sizeof(it.tags));
	it.expect_version = b.expect_version;
	if (simlog_state_prepare(&it, s->enc, b.state, b.state_len, &e) < 0 ||
	    simlog_state_item_own(&it, &e) < 0) {
		simlog_state_item_clear(&it);
		if (e.code == SIMLOG_EX_SOFTWARE)
			die(&e);
		fail_line(s, lineno, &e);
		return;
	}
	if (it.stored_len > SIMLOG_STATE_PIECE) {
		struct simlog_state_meta m;
		long long expires;

		/* Too large for the pipeline: on its own, in order. */
		while (r->n > 0)
			save_collect_one(s, r);
		if (simlog_state_save(&s->conn, &it, &m, &expires, &e) < 0) {
			check_fatal(s, &e);
			fail_line(s, lineno, &e);
		} else {
			meta_line(it.id, &m, expires);
		}
		simlog_state_item_clear(&it);
		return;
	}
	if (simlog_state_save_send(&s->conn, &it, &e) < 0) {
		simlog_state_item_clear(&it);
		die(&e);
	}
	{
		struct pending *p = ring_at(r, r->n);

		p->lineno = lineno;
		p->it = it;
		r->n++;
		r->bytes += it.stored_len;
	}
	while (r->n == WINDOW || (r->n > 0 && r->bytes > WINDOW_BYTES))
		save_collect_one(s, r);
}

typedef void line_fn(struct st *, struct ring *, unsigned long long,
		     const char *, size_t);

/* Every line of standard input to fn.  Before a read that would wait for
 * the producer, idle runs: replies come back and are written out while the
 * producer is quiet, not only when the window fills. */
static void
each_line(struct st *s, struct ring *r, line_fn *fn,
	  void (*idle)(struct st *, struct ring *))
{
	struct simlog_lines *in = simlog_lines_new(STDIN_FILENO, BATCH_MAXLINE);
	struct simlog_err e;
	const char *line;
	size_t len;

	if (in == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	for (;;) {
		if (!simlog_lines_ready(in)) {
			struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };

			if (poll(&pfd, 1, 0) == 0)
				idle(s, r);
		}
		switch (simlog_lines_next(in, &line, &len)) {
		case SIMLOG_LINE_OK:
		case SIMLOG_LINE_PARTIAL:
			fn(s, r, simlog_lines_number(in), line, len);
			continue;
		case SIMLOG_LINE_TOOLONG:
			simlog_seterr(&e, SIMLOG_EX_DATAERR, "line of %zu bytes "
			    "is longer than the limit of %zu", len,
			    BATCH_MAXLINE);
			fail_line(s, simlog_lines_number(in), &e);
			continue;
		case SIMLOG_LINE_INTR:
			continue;
		case SIMLOG_LINE_ERROR:
			err(SIMLOG_EX_IOERR, "reading standard input");
		case SIMLOG_LINE_EOF:
			break;
		}
		break;
	}
	simlog_lines_free(in);
}

static void
save_idle(struct st *s, struct ring *r)
{
	while (r->n > 0)
		save_collect_one(s, r);
	if (fflush(stdout) != 0)
		line_end();	/* says why, and ends */
}

static int
save_batch(struct st *s)
{
	struct ring r = { 0 };

	if ((r.p = calloc(WINDOW, sizeof(*r.p))) == NULL ||
	    (s->enc = simlog_state_enc_new()) == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	connect_pipelined(s);
	each_line(s, &r, save_batch_line, save_idle);
	while (r.n > 0)
		save_collect_one(s, &r);
	simlog_state_enc_free(s->enc);
	free(r.p);
	return s->status;
}

static int
cmd_save(struct st *s)
{
	return s->given & O_BATCH ? save_batch(s) : save_one(s);
}

/* --- load ------------------------------------------------------------------ */

/*
 * Write a loaded state to path: into a new file beside it, synced, then
 * renamed over it, so that path holds either what it held before or the
 * whole state.  A file already there keeps its permissions.
 */
static void
write_file(const char *path, const char *data, size_t len)
{
	const char *base = strrchr(path, '/');
	char *tmp, *dir;
	struct stat sb;
	mode_t mask;
	int fd, dfd;

	/* dir/.base.XXXXXX: hidden, and on the same file system. */
	base = base != NULL ? base + 1 : path;
	if ((dir = strndup(path, (size_t)(base - path))) == NULL ||
	    asprintf(&tmp, "%s.%s.XXXXXX", dir, base) < 0)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	if (*dir == '\0') {
		free(dir);
		if ((dir = strdup(".")) == NULL)
			errx(SIMLOG_EX_SOFTWARE, "out of memory");
	}
	if ((fd = mkstemp(tmp)) < 0)
		err(SIMLOG_EX_CANTCREAT, "cannot create %s", path);
	if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
		mask = sb.st_mode & 07777;
	else {
		mask = umask(0);
		umask(mask);
		mask = 0666 & ~mask;
	}
	for (size_t done = 0; done < len; ) {
		ssize_t n = write(fd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			warn("writing %s", tmp);
			goto fail;
		}
		done += (size_t)n;
	}
	if (fchmod(fd, mask) < 0 || fsync(fd) < 0) {
		warn("writing %s", tmp);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		warn("writing %s", tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		errno = e;
		err(SIMLOG_EX_CANTCREAT, "cannot replace %s", path);
	}
	/* The rename itself is durable once the directory is synced. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(tmp);
	free(dir);
	return;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	exit(SIMLOG_EX_IOERR);
}

static int
load_one(struct st *s)
{
	struct simlog_state_loaded l;
	struct simlog_err e;

	connect_redis(s);
	if (simlog_state_load(&s->conn, s->id, s->version, &l, &e) < 0)
		die(&e);
	if (s->output != NULL)
		write_file(s->output, l.data, l.len);
	else if (l.len > 0 && fwrite(l.data, 1, l.len, stdout) != l.len &&
	    errno != EPIPE)
		err(SIMLOG_EX_IOERR, "write error");
	simlog_state_loaded_clear(&l);
	return SIMLOG_EX_OK;
}

/* One line of load --batch output: the state inline, on one line (the
 * writer turns a document's line breaks into spaces), then its tags and
 * the seconds it has left, when it has them, so that save --batch copies
 * them (and --tag, --ttl apply where it has none). */
static void
state_line(const char *id, const struct simlog_state_loaded *l)
{
	simlog_jw_begin(&out);
	simlog_jw_kstr(&out, "id", id);
	simlog_jw_kint(&out, "version", l->meta.version);
	simlog_jw_key(&out, "state");
	simlog_jw_raw(&out, l->data, l->len);
	if (l->meta.tags[0] != '\0')
		simlog_state_tags_put(&out, l->meta.tags);
	if (l->expires_ms > 0) {
		double left = (double)l->expires_ms / 1000 - simlog_now_wall();

		simlog_jw_kdouble(&out, "ttl", left > 0.001 ? left : 0.001, 3);
	}
	line_end();
}

static void
load_finish(struct st *s, struct pending *p)
{
	struct simlog_err e;

	if (p->failed)
		fail_line(s, p->lineno, &p->e);
	else if (p->l.meta.raw) {
		simlog_seterr(&e, SIMLOG_EX_DATAERR, "%s version %lld: saved "
		    "with --raw, so not JSON to put on a line", p->id,
		    p->l.meta.version);
		fail_line(s, p->lineno, &e);
	} else
		state_line(p->id, &p->l);
	simlog_state_loaded_clear(&p->l);
}

static void
load_receive(struct st *s, struct pending *p)
{
	if (simlog_state_load_recv(&s->conn, p->id, &p->l, &p->e) < 0) {
		check_fatal(s, &p->e);
		p->failed = 1;
	}
	p->received = 1;
}

static void
load_collect_one(struct st *s, struct ring *r)
{
	struct pending *p = ring_at(r, 0);

	if (!p->received)
		load_receive(s, p);
	if (!p->failed && p->l.need_fetch) {
		size_t i;

		/* Fetching needs the connection to itself. */
		for (i = 1; i < r->n; i++)
			if (!ring_at(r, i)->received)
				load_receive(s, ring_at(r, i));
		if (simlog_state_fetch(&s->conn, p->id, &p->l, &p->e) < 0) {
			check_fatal(s, &p->e);
			p->failed = 1;
		}
	}
	load_finish(s, p);
	r->head = (r->head + 1) % WINDOW;
	r->n--;
}

static void
load_batch_line(struct st *s, struct ring *r, unsigned long long lineno,
		const char *line, size_t len)
{
	struct simlog_state_batch b;
	struct simlog_err e;
	struct pending *p;
	const char *why;

	while (len > 0 && strchr(" \t\r", line[len - 1]) != NULL)
		len--;
	if (len == 0)
		return;
	if (simlog_state_batch_parse(line, len, 1, &b, &why) < 0) {
		simlog_seterr(&e, SIMLOG_EX_DATAERR, "%s", why);
		fail_line(s, lineno, &e);
		return;
	}
	if (simlog_state_load_send(&s->conn, b.id, b.version, LOAD_INLINE,
	    &e) < 0)
		die(&e);
	p = ring_at(r, r->n);
	memset(p, 0, sizeof(*p));
	p->lineno = lineno;
	p->version = b.version;
	memcpy(p->id, b.id, sizeof(p->id));
	r->n++;
	if (r->n == WINDOW)
		load_collect_one(s, r);
}

static void
load_idle(struct st *s, struct ring *r)
{
	while (r->n > 0)
		load_collect_one(s, r);
	if (fflush(stdout) != 0)
		line_end();	/* says why, and ends */
}

static int
load_batch(struct st *s)
{
	struct ring r = { 0 };

	if ((r.p = calloc(WINDOW, sizeof(*r.p))) == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	connect_pipelined(s);
	each_line(s, &r, load_batch_line, load_idle);
	while (r.n > 0)
		load_collect_one(s, &r);
	free(r.p);
	return s->status;
}

static int
cmd_load(struct st *s)
{
	return s->given & O_BATCH ? load_batch(s) : load_one(s);
}

/* --- metadata -------------------------------------------------------------- */

static int
describe(struct st *s, long long which)
{
	struct simlog_state_info info;
	struct simlog_state_meta *m;
	struct simlog_err e;
	size_t n, i;

	int rc = SIMLOG_EX_OK;

	connect_redis(s);
	if (simlog_state_describe(&s->conn, s->id, which, &info, &m, &n,
	    &e) < 0)
		die(&e);
	/* A damaged version is named, never passed over in silence. */
	for (i = 0; i < n; i++)
		if (m[i].damaged) {
			warnx("%s version %lld: listed, but its stored metadata "
			    "is missing or damaged", s->id, m[i].version);
			rc = SIMLOG_EX_DATAERR;
		} else
			meta_line(s->id, &m[i], info.expires_ms);
	free(m);
	return rc;
}

static int
cmd_versions(struct st *s)
{
	return describe(s, SIMLOG_STATE_ALL);
}

static int
cmd_meta(struct st *s)
{
	return describe(s, s->version);
}

/* Every ID, described in pipelined windows; fn sees the ones still there. */
static void
each_id(struct st *s, long long which,
	void (*fn)(struct st *, const char *, const struct simlog_state_info *,
		   const struct simlog_state_meta *, void *), void *arg)
{
	struct simlog_err e;
	char **ids;
	size_t n, i, j;

	if (simlog_state_ids(&s->conn, &ids, &n, &e) < 0)
		die(&e);
	for (i = 0; i < n; i += WINDOW) {
		size_t k = n - i < WINDOW ? n - i : WINDOW;

		for (j = 0; j < k; j++)
			if (simlog_state_describe_send(&s->conn, ids[i + j],
			    which, &e) < 0)
				die(&e);
		for (j = 0; j < k; j++) {
			struct simlog_state_info info;
			struct simlog_state_meta m;
			int found;

			if (simlog_state_describe_recv(&s->conn, ids[i + j],
			    &info, which == SIMLOG_STATE_LATEST ? &m : NULL,
			    &found, &e) < 0) {
				check_fatal(s, &e);
				warnx("%s", e.msg);
				if (s->status == 0)
					s->status = e.code;
				continue;
			}
			if (found)
				fn(s, ids[i + j], &info, &m, arg);
		}
	}
	simlog_strv_free(ids, n);
}

static void
list_one(struct st *s, const char *id, const struct simlog_state_info *info,
	 const struct simlog_state_meta *m, void *arg)
{
	const char *p = s->tags;

	(void)arg;
	if (s->match != NULL && fnmatch(s->match, id, 0) != 0)
		return;
	while (*p != '\0') {
		char t[SIMLOG_STATE_TAGMAX + 1];
		size_t n = strcspn(p, ",");

		memcpy(t, p, n);
		t[n] = '\0';
		if (!simlog_state_tags_has(m->tags, t))
			return;
		p += n + (p[n] == ',');
	}
	put_meta(id, m, info->expires_ms);
	simlog_jw_kint(&out, "versions", info->versions);
	line_end();
}

static int
cmd_list(struct st *s)
{
	connect_pipelined(s);
	each_id(s, SIMLOG_STATE_LATEST, list_one, NULL);
	return s->status;
}

struct totals {
	unsigned long long ids, versions, raw, stored;
};

static void
stats_one(struct st *s, const char *id, const struct simlog_state_info *info,
	  const struct simlog_state_meta *m, void *arg)
{
	struct totals *t = arg;

	(void)s, (void)id, (void)m;
	t->ids++;
	t->versions += (unsigned long long)info->versions;
	t->raw += info->raw_bytes;
	t->stored += info->stored_bytes;
}

static int
cmd_stats(struct st *s)
{
	struct totals t = { 0, 0, 0, 0 };
	struct simlog_err e;
	long long mem;

	connect_pipelined(s);
	each_id(s, SIMLOG_STATE_NOVERSIONS, stats_one, &t);
	if (simlog_state_used_memory(&s->conn, &mem, &e) < 0)
		die(&e);
	simlog_jw_begin(&out);
	simlog_jw_kuint(&out, "ids", t.ids);
	simlog_jw_kuint(&out, "versions", t.versions);
	simlog_jw_kuint(&out, "raw_bytes", t.raw);
	simlog_jw_kuint(&out, "stored_bytes", t.stored);
	simlog_jw_kdouble(&out, "ratio",
	    t.raw > 0 ? (double)t.stored / (double)t.raw : 0.0, 3);
	simlog_jw_kint(&out, "redis_used_memory", mem);
	line_end();
	return s->status;
}

/* --- history --------------------------------------------------------------- */

static int
cmd_rollback(struct st *s)
{
	struct simlog_state_meta m;
	struct simlog_err e;
	long long expires;

	connect_redis(s);
	if (simlog_state_rollback(&s->conn, s->id, s->to, &m, &expires, &e) < 0)
		die(&e);
	meta_line(s->id, &m, expires);
	return SIMLOG_EX_OK;
}

static int
cmd_delete(struct st *s)
{
	struct simlog_err e;
	long long n;

	connect_redis(s);
	if (simlog_state_delete(&s->conn, s->id, s->version, &n, &e) < 0)
		die(&e);
	deleted_line(s->id, n);
	return SIMLOG_EX_OK;
}

static int
cmd_prune(struct st *s)
{
	struct simlog_err e;
	long long n;

	connect_redis(s);
	if (simlog_state_prune(&s->conn, s->id, s->keep, &n, &e) < 0)
		die(&e);
	deleted_line(s->id, n);
	return SIMLOG_EX_OK;
}

/* --- command line ---------------------------------------------------------- */

static const struct sub subs[] = {
	{ .name = "save", .run = cmd_save, .id = 1, .opts = O_TTL | O_TAG |
	    O_COMPRESS | O_MAXV | O_EXPECT | O_RAW | O_BATCH | O_WAIT },
	{ .name = "load", .run = cmd_load, .id = 1,
	    .opts = O_VERSION | O_BATCH | O_OUTPUT },
	{ .name = "versions", .run = cmd_versions, .id = 1 },
	{ .name = "meta", .run = cmd_meta, .id = 1, .opts = O_VERSION },
	{ .name = "list", .run = cmd_list, .opts = O_TAG | O_MATCH },
	{ .name = "rollback", .run = cmd_rollback, .id = 1, .opts = O_TO },
	{ .name = "delete", .run = cmd_delete, .id = 1, .opts = O_VERSION },
	{ .name = "prune", .run = cmd_prune, .id = 1, .opts = O_KEEP },
	{ .name = "stats", .run = cmd_stats },
};

static const char *
opt_name(unsigned bit)
{
	static const char *const names[] = { "--ttl", "--tag", "--compress",
	    "--max-versions", "--expect-version", "--raw", "--batch",
	    "--version", "--to", "--keep", "--match", "--output",
	    "--wait-replicas" };
	unsigned i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (bit == 1u << i)
			return names[i];
	return "?";
}

static void
sub_option(struct st *s, int c, const char *arg)
{
	char q[CLI_QUOTE_LEN];

	switch (c) {
	case OPT_TTL: {
		double t = cli_seconds("--ttl", arg, 1e9);

		if (t < 0.001)
			errx(SIMLOG_EX_USAGE, "invalid --ttl: '%s': must be at "
			    "least 0.001", arg);
		s->ttl_ms = llround(t * 1000);
		s->given |= O_TTL;
		break;
	}
	case OPT_TAG: {
		struct simlog_err e;

		if (simlog_state_tags_add(s->tags, arg, strlen(arg), &e) < 0)
			errx(SIMLOG_EX_USAGE, "invalid --tag: %s", e.msg);
		s->given |= O_TAG;
		break;
	}
	case OPT_COMPRESS:
		if (simlog_state_comp_parse(arg, &s->comp) < 0)
			errx(SIMLOG_EX_USAGE, "invalid --compress: %s: use "
			    "lz4, zlib or none", cli_quote(arg, q, sizeof(q)));
		s->given |= O_COMPRESS;
		break;
	case OPT_MAXV:
		s->max_versions = cli_number("--max-versions", arg, 0, 1000000);
		s->given |= O_MAXV;
		break;
	case OPT_EXPECT:
		s->expect_version = cli_number("--expect-version", arg, 0,
		    MAX_VERSION);
		s->given |= O_EXPECT;
		break;
	case OPT_RAW:
		s->given |= O_RAW;
		break;
	case OPT_BATCH:
		s->given |= O_BATCH;
		break;
	case OPT_VERSION:
		s->version = cli_number("--version", arg, 1, MAX_VERSION);
		s->given |= O_VERSION;
		break;
	case OPT_TO:
		s->to = cli_number("--to", arg, 1, MAX_VERSION);
		s->given |= O_TO;
		break;
	case OPT_KEEP:
		s->keep = cli_number("--keep", arg, 1, 1000000);
		s->given |= O_KEEP;
		break;
	case OPT_MATCH:
		s->match = arg;
		s->given |= O_MATCH;
		break;
	case OPT_WAIT:
		s->wait_replicas = (int)cli_number("--wait-replicas", arg, 0,
		    100);
		s->given |= O_WAIT;
		break;
	case 'o':
		if (*arg == '\0')
			errx(SIMLOG_EX_USAGE, "invalid --output: empty path");
		s->output = arg;
		s->given |= O_OUTPUT;
		break;
	default:
		cli_try_help();
	}
}

/* Options before the subcommand; returns the index of the subcommand. */
static int
global_options(struct st *s, int argc, char **argv)
{
	int c, li = -1;

	while ((c = getopt_long(argc, argv, "+u:o:hV", global_longopts,
	    &li)) != -1) {
		if (cli_conn_option(c, optarg, &s->co)) {
			li = -1;
			continue;
		}
		switch (c) {
		case 'h':
			usage();
			exit(cli_close_stdout() == 0 ? SIMLOG_EX_OK :
			    SIMLOG_EX_IOERR);
		case 'V':
			cli_version();
		case '?':
			cli_try_help();
		default:
			/* li is set for a long option only. */
			if (li < 0)
				warnx("-%c: an option of a command; give it "
				    "after the command", c);
			else
				warnx("--%s: an option of a command; give it "
				    "after the command",
				    global_longopts[li].name);
			cli_try_help();
		}
	}
	if (optind >= argc) {
		warnx("no command given");
		cli_try_help();
	}
	return optind;
}

static const struct sub *
sub_options(struct st *s, char *prog, int argc, char **argv)
{
	const struct sub *sub = NULL;
	char q[CLI_QUOTE_LEN];
	unsigned i;
	int c;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[0], subs[i].name) == 0)
			sub = &subs[i];
	if (sub == NULL) {
		warnx("unknown command %s", cli_quote(argv[0], q, sizeof(q)));
		cli_try_help();
	}
	/* argv[0] stands in for the program name in getopt's messages. */
	argv[0] = prog;
	optind = 0;
	while ((c = getopt_long(argc, argv, "u:o:h", sub_longopts,
	    NULL)) != -1) {
		if (cli_conn_option(c, optarg, &s->co))
			continue;
		if (c == 'h') {
			usage();
			exit(cli_close_stdout() == 0 ? SIMLOG_EX_OK :
			    SIMLOG_EX_IOERR);
		}
		sub_option(s, c, optarg);
	}
	for (i = 0; i < 32; i++)
		if ((s->given & ~sub->opts) & (1u << i)) {
			warnx("%s: not an option of %s", opt_name(1u << i),
			    sub->name);
			cli_try_help();
		}
	if (sub->id && !(s->given & O_BATCH)) {
		if (optind >= argc) {
			warnx("%s: no state ID given", sub->name);
			cli_try_help();
		}
		s->id = argv[optind++];
		if (!simlog_state_valid_id(s->id, strlen(s->id)))
			errx(SIMLOG_EX_USAGE, "invalid ID %s: use 1-%d of "
			    "[A-Za-z0-9_.:-]", cli_quote(s->id, q, sizeof(q)),
			    SIMLOG_STATE_IDMAX);
	}
	if (optind < argc) {
		warnx("unexpected argument %s",
		    cli_quote(argv[optind], q, sizeof(q)));
		cli_try_help();
	}
	if ((s->given & O_BATCH) &&
	    (s->given & (O_EXPECT | O_RAW | O_VERSION | O_OUTPUT))) {
		unsigned bad = s->given & (O_EXPECT | O_RAW | O_VERSION |
		    O_OUTPUT);

		warnx("%s: not an option of %s --batch%s",
		    opt_name(bad & -bad), sub->name,
		    bad & (O_RAW | O_OUTPUT) ? "" : s->given & O_EXPECT ?
		    " (a line may hold \"expect_version\")" :
		    " (a line may hold \"version\")");
		cli_try_help();
	}
	if (strcmp(sub->name, "rollback") == 0 && !(s->given & O_TO)) {
		warnx("rollback: --to N is required");
		cli_try_help();
	}
	if (strcmp(sub->name, "prune") == 0 && !(s->given & O_KEEP)) {
		warnx("prune: --keep N is required");
		cli_try_help();
	}
	return sub;
}

int
main(int argc, char **argv)
{
	struct st s;
	const struct sub *sub;
	int first, status;

	cli_protect_secrets();

	memset(&s, 0, sizeof(s));
	s.co.name = "simlog-state";
	s.co.timeout = 2;
	s.comp = SIMLOG_STATE_LZ4;
	s.expect_version = -1;
	simlog_jw_init(&out, stdout);
	first = global_options(&s, argc, argv);
	sub = sub_options(&s, argv[0], argc - first, argv + first);
	if (!(s.given & O_WAIT)) {
		struct simlog_err e;
		long long n = 0;

		if (simlog_env_ll("SIMLOG_WAIT_REPLICAS", 0, 100, &n, &e) < 0)
			cli_die(&e);
		s.wait_replicas = (int)n;
	}
	signal(SIGPIPE, SIG_IGN);

	status = sub->run(&s);

	simlog_conn_clear(&s.conn);
	if (cli_close_stdout() < 0 && status == SIMLOG_EX_OK)
		status = SIMLOG_EX_IOERR;
	return status;
}

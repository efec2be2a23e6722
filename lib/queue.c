/*
 * The Redis side of the buffer.  Per simulation SIM (a hash tag, so one
 * simulation stays on one cluster slot):
 *
 *   simlog:{SIM}:q        stream; one entry per chunk, field "c"
 *   simlog:{SIM}:n        hash; type -> records buffered
 *   simlog:{SIM}:b        hash; type -> JSON bytes buffered
 *   simlog:{SIM}:corrupt  stream; entries that could not be decoded
 *
 * Appends and acknowledgements are Lua scripts, so the stream and its
 * counters never disagree; every script touches one simulation's keys
 * only, all in one cluster slot.  Simulations are found by scanning for
 * their streams on every master.  (Before, a global set simlog:sims listed
 * them; it is read as well, and names whose stream is gone leave it.)
 * Every command on these keys is built here, the drain's estimate of a
 * backlog and its wait for new entries (XREAD) too.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "chunk.h"
#include "net/conn.h"
#include "policy.h"
#include "queue.h"
#include "simlog.h"
#include "simlog_backlog.h"
#include "simlog_drain.h"
#include "util.h"

/*
 * What the push and the acknowledgement share: the stream must be one (a
 * key of another type there stops the script before its first write);
 * the counters are derived figures, so a counter key that is not a hash,
 * or a field that is not a number or would overflow (planted, damaged),
 * is reset rather than allowed to stop a script half-way: Redis does not
 * undo what a failed script did.  A field at zero or below goes.
 */
#define COUNTERS_LUA \
    "local reset = 0\n" \
    "local st = redis.call('TYPE', KEYS[1]).ok\n" \
    "if st ~= 'stream' and st ~= 'none' then\n" \
    "  return redis.error_reply('SIMLOGTYPE ' .. KEYS[1] .. ' is a ' ..\n" \
    "    st .. ', not a stream')\n" \
    "end\n" \
    "for k = 2, 3 do\n" \
    "  local t = redis.call('TYPE', KEYS[k]).ok\n" \
    "  if t ~= 'hash' and t ~= 'none' then\n" \
    "    redis.call('DEL', KEYS[k])\n" \
    "    reset = reset + 1\n" \
    "  end\n" \
    "end\n" \
    "local function add(k, f, by)\n" \
    "  local v = redis.pcall('HINCRBY', k, f, by)\n" \
    "  if type(v) ~= 'number' then\n" \
    "    reset = reset + 1\n" \
    "    redis.call('HDEL', k, f)\n" \
    "    v = redis.call('HINCRBY', k, f, by)\n" \
    "  end\n" \
    "  if v <= 0 then redis.call('HDEL', k, f) end\n" \
    "end\n"

/* Denied as a whole when Redis is out of memory: nothing half-applied. */
static const char push_lua[] =
    "#!lua\n"
    COUNTERS_LUA
    "local max = tonumber(ARGV[3])\n"
    "if max > 0 then\n"
    "  local total = 0\n"
    "  for _, v in ipairs(redis.call('HVALS', KEYS[2])) do\n"
    "    total = total + (tonumber(v) or 0)\n"
    "  end\n"
    "  if total >= max then\n"
    "    return redis.error_reply('SIMLOGBACKLOG simulation ' ..\n"
    "      ARGV[1] .. ' has ' .. total ..\n"
    "      ' records buffered, --max-backlog is ' .. max)\n"
    "  end\n"
    "end\n"
    "local id = redis.call('XADD', KEYS[1], '*', 'c', ARGV[2])\n"
    "for i = 4, #ARGV, 3 do\n"
    "  add(KEYS[2], ARGV[i], ARGV[i + 1])\n"
    "  add(KEYS[3], ARGV[i], ARGV[i + 2])\n"
    "end\n"
    "return id\n";

/*
 * Must run when Redis is full: draining is what frees the memory.
 * KEYS: stream, counts, bytes; ARGV: sim, n, then per entry its id, its
 * number of types and per type the name and the two amounts to add
 * ("-N", or "0": never "-0", which HINCRBY refuses).  Nothing in it fails
 * half-way (COUNTERS_LUA), so an entry's deletion and its counters go
 * together; a second run finds the entries gone and changes nothing.
 * Returns {entries deleted, counters reset}.
 */
static const char ack_lua[] =
    "#!lua flags=allow-oom\n"
    COUNTERS_LUA
    "local i, deleted = 3, 0\n"
    "for e = 1, tonumber(ARGV[2]) do\n"
    "  local gone = redis.call('XDEL', KEYS[1], ARGV[i])\n"
    "  local nt = tonumber(ARGV[i + 1])\n"
    "  i = i + 2\n"
    "  for t = 1, nt do\n"
    "    if gone == 1 then\n"
    "      add(KEYS[2], ARGV[i], ARGV[i + 1])\n"
    "      add(KEYS[3], ARGV[i], ARGV[i + 2])\n"
    "    end\n"
    "    i = i + 3\n"
    "  end\n"
    "  deleted = deleted + gone\n"
    "end\n"
    "if redis.call('XLEN', KEYS[1]) == 0 then\n"
    "  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])\n"
    "end\n"
    "return {deleted, reset}\n";

/*
 * KEYS: stream, corrupt, counts, bytes, where a corrupt key of another
 * type goes; ARGV: id, why.  The entry's fields are copied as they are,
 * up to QUARANTINE_FIELDS of them; an entry with more (unpack could not
 * pass them in one call) keeps them all in one "packed" value: each name
 * and value as its length in decimal, ':', its bytes.
 */
#define QUARANTINE_FIELDS "512"
static const char quarantine_lua[] =
    "#!lua flags=allow-oom\n"
    "local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])\n"
    "if #e == 0 then return 0 end\n"
    "local moved = 1\n"
    "local t = redis.call('TYPE', KEYS[2]).ok\n"
    "if t ~= 'stream' and t ~= 'none' then\n"
    "  redis.call('RENAME', KEYS[2], KEYS[5])\n"
    "  moved = 2\n"
    "end\n"
    "local f = e[1][2]\n"
    "if #f <= 2 * " QUARANTINE_FIELDS " then\n"
    "  redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], 'why', ARGV[2],\n"
    "    unpack(f))\n"
    "else\n"
    "  local p = {}\n"
    "  for j = 1, #f do p[j] = #f[j] .. ':' .. f[j] end\n"
    "  redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], 'why', ARGV[2],\n"
    "    'packed', table.concat(p))\n"
    "end\n"
    "redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "if redis.call('XLEN', KEYS[1]) == 0 then\n"
    "  redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])\n"
    "end\n"
    "return moved\n";

static struct simlog_script push_script = SIMLOG_SCRIPT(push_lua);
static struct simlog_script ack_script = SIMLOG_SCRIPT(ack_lua);
static struct simlog_script quarantine_script = SIMLOG_SCRIPT(quarantine_lua);

static void
key(const char *sim, const char *suffix, char *buf)
{
	snprintf(buf, SIMLOG_KEYLEN, "simlog:{%s}:%s", sim, suffix);
}

void simlog_key_stream(const char *sim, char *buf) { key(sim, "q", buf); }
void simlog_key_count(const char *sim, char *buf) { key(sim, "n", buf); }
void simlog_key_bytes(const char *sim, char *buf) { key(sim, "b", buf); }
void simlog_key_corrupt(const char *sim, char *buf) { key(sim, "corrupt", buf); }

int
simlog_push_append(struct simlog_conn *conn, const char *sim,
		   const struct simlog_chunk *ch, uint64_t max_backlog,
		   struct simlog_err *err)
{
	return simlog_push_append_enc(conn, sim, ch->enc, ch->enclen, ch->types,
	    ch->ntypes, max_backlog, err);
}

int
simlog_push_append_enc(struct simlog_conn *conn, const char *sim,
		       const char *enc, size_t enclen,
		       const struct simlog_typecount *types, size_t ntypes,
		       uint64_t max_backlog, struct simlog_err *err)
{
	char k[3][SIMLOG_KEYLEN], maxb[24];
	size_t argc = 9 + 3 * ntypes, i, a = 2;
	const char **argv = malloc(argc * sizeof(*argv));
	size_t *lens = malloc(argc * sizeof(*lens));
	char (*num)[24] = malloc(2 * ntypes * sizeof(*num) + 1);
	int rc = 0;

	if (argv == NULL || lens == NULL || num == NULL) {
		rc = simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		goto out;
	}
	simlog_key_stream(sim, k[0]);
	simlog_key_count(sim, k[1]);
	simlog_key_bytes(sim, k[2]);
	snprintf(maxb, sizeof(maxb), "%llu", (unsigned long long)max_backlog);
#define ARG(s, n) do { argv[a] = (s); lens[a] = (n); a++; } while (0)
	ARG("3", 1);
	for (i = 0; i < 3; i++)
		ARG(k[i], strlen(k[i]));
	ARG(sim, strlen(sim));
	ARG(enc, enclen);
	ARG(maxb, strlen(maxb));
	for (i = 0; i < ntypes; i++) {
		const struct simlog_typecount *t = &types[i];

		snprintf(num[2 * i], 24, "%u", t->records);
		snprintf(num[2 * i + 1], 24, "%llu",
		    (unsigned long long)t->bytes);
		ARG(t->name, strlen(t->name));
		ARG(num[2 * i], strlen(num[2 * i]));
		ARG(num[2 * i + 1], strlen(num[2 * i + 1]));
	}
#undef ARG
	rc = simlog_script_append(conn, &push_script, (int)a, argv, lens, err);
out:
	free(argv);
	free(lens);
	free(num);
	return rc;
}

int
simlog_push_reply(struct simlog_conn *conn, double deadline,
		  struct simlog_err *err)
{
	redisReply *r = NULL;

	if (simlog_conn_recv(conn, deadline, &r, err) < 0)
		return simlog_conn_error(conn, NULL, "storing a batch", err);
	if (r->type != REDIS_REPLY_STRING) {
		simlog_conn_error(conn, r, "storing a batch", err);
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

/* "simlog:{SIM}:q" -> SIM, if it is a name simlog would have written. */
static int
sim_of_key(const char *k, size_t len, char *sim)
{
	if (len < 12 || strncmp(k, "simlog:{", 8) != 0 ||
	    strncmp(k + len - 3, "}:q", 3) != 0 ||
	    !simlog_valid_sim(k + 8, len - 11))
		return 0;
	memcpy(sim, k + 8, len - 11);
	sim[len - 11] = '\0';
	return 1;
}

static int
by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
simlog_forget_old_sims(struct simlog_conn *conn, char **sims, size_t n)
{
	const char *av[2] = { "SMEMBERS", SIMLOG_SIMS_KEY };
	redisReply *r = simlog_cmd(conn, NULL, 2, av, NULL);

	for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    i < r->elements; i++) {
		const char *name = r->element[i]->str;
		const char *rm[3] = { "SREM", SIMLOG_SIMS_KEY, name };

		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    bsearch(&name, sims, n, sizeof(*sims), by_str) != NULL)
			continue;
		freeReplyObject(simlog_cmd(conn, NULL, 3, rm, NULL));
	}
	freeReplyObject(r);
}

int
simlog_list_sims_reachable(struct simlog_conn *conn, char ***sims, size_t *n,
			   struct simlog_err *err)
{
	char **keys = NULL, **v, sim[SIMLOG_KEYLEN];
	size_t nkeys = 0, i, o = 0;
	int rc;

	*sims = NULL;
	*n = 0;
	if ((rc = simlog_scan_reachable(conn, "simlog:{*}:q", "stream", &keys,
	    &nkeys, err)) < 0)
		return -1;
	if ((v = calloc(nkeys + 1, sizeof(*v))) == NULL) {
		simlog_strv_free(keys, nkeys);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	}
	for (i = 0; i < nkeys; i++)
		if (sim_of_key(keys[i], strlen(keys[i]), sim) &&
		    (v[o] = strdup(sim)) != NULL)
			o++;
	simlog_strv_free(keys, nkeys);
	if (o > 1)
		qsort(v, o, sizeof(*v), by_str);
	*sims = v;
	*n = o;
	return rc;
}

int
simlog_list_sims(struct simlog_conn *conn, char ***sims, size_t *n,
		 struct simlog_err *err)
{
	int rc = simlog_list_sims_reachable(conn, sims, n, err);

	if (rc > 0) {
		simlog_strv_free(*sims, *n);
		*sims = NULL;
		*n = 0;
		return -1;
	}
	return rc;
}

int
simlog_sid_parse(const char *s, size_t len, struct simlog_sid *id)
{
	uint64_t v[2] = { 0, 0 };
	size_t i;
	int part = 0, ndig = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '-' && part == 0 && ndig > 0) {
			part = 1;
			ndig = 0;
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || ndig >= 20)
			return -1;
		v[part] = v[part] * 10 + (uint64_t)(s[i] - '0');
		ndig++;
	}
	if (part != 1 || ndig == 0)
		return -1;
	id->ms = v[0];
	id->seq = v[1];
	return 0;
}

void
simlog_sid_format(const struct simlog_sid *id, char *buf)
{
	snprintf(buf, 48, "%llu-%llu", (unsigned long long)id->ms,
	    (unsigned long long)id->seq);
}

int
simlog_sid_cmp(const struct simlog_sid *a, const struct simlog_sid *b)
{
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

int
simlog_queue_last(struct simlog_conn *conn, const char *sim,
		  struct simlog_sid *last, int *found, struct simlog_err *err)
{
	char k[SIMLOG_KEYLEN];
	const char *av[6] = { "XREVRANGE", k, "+", "-", "COUNT", "1" };
	redisReply *r;

	simlog_key_stream(sim, k);
	*found = 0;
	if ((r = simlog_cmd(conn, err, 6, av, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
		redisReply *e = r->element[0];

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
		    e->element[0]->type != REDIS_REPLY_STRING ||
		    simlog_sid_parse(e->element[0]->str, e->element[0]->len,
		    last) < 0) {
			freeReplyObject(r);
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "reading %s: unexpected reply", k);
		}
		*found = 1;
	}
	freeReplyObject(r);
	return 0;
}

void
simlog_entries_free(struct simlog_entry *e, size_t n)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < n; i++)
		free(e[i].data);
	free(e);
}

int
simlog_queue_read_send(struct simlog_conn *conn, const char *sim,
		       const struct simlog_sid *after,
		       const struct simlog_sid *upto, size_t count,
		       struct simlog_err *err)
{
	char k[SIMLOG_KEYLEN], lo[50], hi[48], cnt[24];
	const char *av[6] = { "XRANGE", k, lo, hi, "COUNT", cnt };

	simlog_key_stream(sim, k);
	if (after != NULL) {
		lo[0] = '(';
		simlog_sid_format(after, lo + 1);
	} else
		snprintf(lo, sizeof(lo), "-");
	simlog_sid_format(upto, hi);
	snprintf(cnt, sizeof(cnt), "%zu", count);
	if (simlog_conn_append(conn, 6, av, NULL, err) < 0 ||
	    simlog_conn_flush(conn, err) < 0)
		return -1;
	return 0;
}

int
simlog_queue_entries(redisReply *r, struct simlog_entry **out, size_t *n)
{
	struct simlog_entry *e;
	size_t i;

	*out = NULL;
	*n = 0;
	if (r->type != REDIS_REPLY_ARRAY)
		return -1;
	if ((e = calloc(r->elements + 1, sizeof(*e))) == NULL)
		return -2;
	for (i = 0; i < r->elements; i++) {
		redisReply *x = r->element[i], *f;
		size_t j;

		if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 ||
		    x->element[0]->type != REDIS_REPLY_STRING ||
		    simlog_sid_parse(x->element[0]->str, x->element[0]->len,
		    &e[i].id) < 0 || x->element[1]->type != REDIS_REPLY_ARRAY) {
			simlog_entries_free(e, i);
			return -1;
		}
		f = x->element[1];
		e[i].nfields = f->elements / 2;
		for (j = 0; j + 1 < f->elements; j += 2)
			if (f->element[j]->type == REDIS_REPLY_STRING &&
			    f->element[j]->len == 1 && f->element[j]->str[0] == 'c' &&
			    f->element[j + 1]->type == REDIS_REPLY_STRING) {
				/* Take the buffer instead of copying it. */
				e[i].data = f->element[j + 1]->str;
				e[i].len = f->element[j + 1]->len;
				f->element[j + 1]->str = NULL;
				f->element[j + 1]->len = 0;
				break;
			}
	}
	*out = e;
	*n = r->elements;
	return 0;
}

int
simlog_queue_read_recv(struct simlog_conn *conn, const char *sim,
		       struct simlog_entry **out, size_t *n,
		       struct simlog_err *err)
{
	char k[SIMLOG_KEYLEN];
	redisReply *r;
	int rc;

	*out = NULL;
	*n = 0;
	if (simlog_conn_recv(conn, 0, &r, err) < 0) {
		simlog_conn_error(conn, NULL, "XRANGE", err);
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		simlog_conn_error(conn, r, "XRANGE", err);
		freeReplyObject(r);
		return -1;
	}
	rc = simlog_queue_entries(r, out, n);
	freeReplyObject(r);
	if (rc == -2)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if (rc < 0) {
		simlog_key_stream(sim, k);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "reading %s: unexpected reply", k);
	}
	return 0;
}

/* One acknowledgement script call: at most ACK_ENTRIES entries and
 * ACK_ARGS arguments, so that no call makes Redis busy for long. */
#define ACK_ENTRIES 512
#define ACK_ARGS 8192

/* A counter's change, never "-0". */
static void
minus(char *buf, unsigned long long v)
{
	if (v == 0)
		snprintf(buf, 24, "0");
	else
		snprintf(buf, 24, "-%llu", v);
}

/* Entries acks[0..*n) in one call; *n becomes how many it took. */
static int
ack_step(struct simlog_conn *conn, const char *sim,
	 const struct simlog_ack *acks, size_t *n, unsigned long long *reset,
	 struct simlog_err *err)
{
	char k[3][SIMLOG_KEYLEN], nbuf[24];
	size_t argc = 8, i, j, a = 2, nn = 0, take;
	const char **argv;
	char (*num)[48];
	redisReply *r;
	int rc = 0;

	/* An entry with more types than one call may carry still goes
	 * alone: bounded by SIMLOG_CHUNK_MAXTYPES all the same. */
	for (take = 0; take < *n && take < ACK_ENTRIES; take++) {
		size_t more = 2 + 3 * acks[take].ntypes;

		if (take > 0 && argc + more > ACK_ARGS)
			break;
		argc += more;
	}
	*n = take;
	argv = malloc(argc * sizeof(*argv));
	num = malloc(argc * sizeof(*num));
	if (argv == NULL || num == NULL) {
		rc = simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		goto out;
	}
	simlog_key_stream(sim, k[0]);
	simlog_key_count(sim, k[1]);
	simlog_key_bytes(sim, k[2]);
	snprintf(nbuf, sizeof(nbuf), "%zu", take);
	argv[a++] = "3";
	for (i = 0; i < 3; i++)
		argv[a++] = k[i];
	argv[a++] = sim;
	argv[a++] = nbuf;
	for (i = 0; i < take; i++) {
		simlog_sid_format(&acks[i].id, num[nn]);
		argv[a++] = num[nn++];
		snprintf(num[nn], 48, "%zu", acks[i].ntypes);
		argv[a++] = num[nn++];
		for (j = 0; j < acks[i].ntypes; j++) {
			const struct simlog_typecount *t = &acks[i].types[j];

			argv[a++] = t->name;
			minus(num[nn], t->records);
			argv[a++] = num[nn++];
			minus(num[nn], t->bytes);
			argv[a++] = num[nn++];
		}
	}
	if ((r = simlog_script_call(conn, &ack_script, (int)a, argv, NULL,
	    "acknowledging drained batches", err)) == NULL) {
		rc = -1;
		goto out;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->integer > 0)
		*reset += (unsigned long long)r->element[1]->integer;
	freeReplyObject(r);
out:
	free(argv);
	free(num);
	return rc;
}

int
simlog_queue_ack(struct simlog_conn *conn, const char *sim,
		 const struct simlog_ack *acks, size_t n, struct simlog_err *err)
{
	unsigned long long reset = 0;

	/* Each step applies whole or not at all, and again changes nothing:
	 * a failure part-way leaves the steps done done, and the drain's
	 * next acknowledgement of the same entries finishes the rest. */
	while (n > 0) {
		size_t took = n;

		if (ack_step(conn, sim, acks, &took, &reset, err) < 0)
			return -1;
		acks += took;
		n -= took;
	}
	return reset > INT_MAX ? INT_MAX : (int)reset;
}

int
simlog_queue_quarantine(struct simlog_conn *conn, const char *sim,
			const struct simlog_entry *e, const char *why,
			struct simlog_err *err)
{
	char k[4][SIMLOG_KEYLEN], id[48], aside[SIMLOG_KEYLEN + 64];
	const char *av[10] = { NULL, NULL, "5", k[0], k[1], k[2], k[3], aside,
	    id, why };
	redisReply *r;
	int rc;

	simlog_key_stream(sim, k[0]);
	simlog_key_corrupt(sim, k[1]);
	simlog_key_count(sim, k[2]);
	simlog_key_bytes(sim, k[3]);
	simlog_sid_format(&e->id, id);
	/* Where a key of another type that holds the corrupt stream's name
	 * goes (the hash tag keeps it in the simulation's slot). */
	snprintf(aside, sizeof(aside), "%s:displaced:%s", k[1], id);
	if ((r = simlog_script_call(conn, &quarantine_script, 10, av, NULL,
	    "moving an entry aside", err)) == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : 1;
	freeReplyObject(r);
	return rc;
}

unsigned
simlog_shard_of(const char *sim, unsigned shards)
{
	return shards > 0 ? (unsigned)(simlog_fnv1a(sim, strlen(sim)) %
	    shards) : 0;
}

/*
 * Records buffered for sim, by its counters: only an estimate, for a
 * progress line.  A counter that is no number counts as 0, and the sum is
 * never more than the stream's entries could hold (planted counters can
 * claim anything).
 */
unsigned long long
simlog_queue_backlog(struct simlog_conn *conn, const char *sim)
{
	char k[SIMLOG_KEYLEN], q[SIMLOG_KEYLEN];
	const char *av[2] = { "HVALS", k }, *xl[2] = { "XLEN", q };
	redisReply *r;
	unsigned long long n = 0, most;

	simlog_key_count(sim, k);
	simlog_key_stream(sim, q);
	if ((r = simlog_cmd(conn, NULL, 2, xl, NULL)) == NULL)
		return 0;
	most = r->type == REDIS_REPLY_INTEGER && r->integer > 0 ?
	    (unsigned long long)r->integer * (SIMLOG_CHUNK_MAXRAW / 3) : 0;
	freeReplyObject(r);
	if ((r = simlog_cmd(conn, NULL, 2, av, NULL)) == NULL)
		return 0;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		long long v;
		const char *why;

		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    simlog_parse_ll(r->element[i]->str, 0, LLONG_MAX, &v,
		    &why) == 0 && (__builtin_add_overflow(n,
		    (unsigned long long)v, &n) || n > most))
			n = most;
	}
	freeReplyObject(r);
	return n;
}

/*
 * In a cluster one XREAD may not name streams of two slots, and one
 * connection cannot block on several masters: ask each stream (one
 * pipelined round per master) every 50 ms until an entry newer than the
 * last seen arrives, or the block time passes.
 */
static int
wait_cluster(struct simlog_conn *conn, char (*keys)[SIMLOG_KEYLEN],
	     char (*ids)[48], size_t n, double block,
	     const volatile sig_atomic_t *stop)
{
	double end = simlog_now_mono() + block;

	while (stop == NULL || !*stop) {
		struct simlog_err e;
		int got = 0;
		size_t i, asked, sent = 0;

		for (i = 0; i < n; i++) {
			const char *av[6] = { "XREAD", "COUNT", "1", "STREAMS",
			    keys[i], ids[i] };

			/* A master that is down waits for the next pass, which
			 * says so; the others are watched meanwhile. */
			if (simlog_conn_reachable(conn, keys[i], &e) < 0)
				continue;
			if (simlog_conn_append(conn, 6, av, NULL, &e) < 0)
				break;
			sent++;
		}
		asked = i;
		for (i = 0; i < sent; i++) {
			redisReply *r;

			if (simlog_conn_recv(conn, 0, &r, &e) < 0)
				break;
			got |= r->type == REDIS_REPLY_ARRAY;
			freeReplyObject(r);
		}
		if (asked < n || i < sent) {
			/* Trouble shows itself at the next pass. */
			simlog_conn_close(conn);
			simlog_policy_sleep(end - simlog_now_mono(), stop);
			return -1;
		}
		if (got || simlog_now_mono() >= end)
			return got;
		simlog_policy_sleep(0.05, stop);
	}
	return 0;
}

int
simlog_queue_wait(struct simlog_conn *conn, char *const *sims,
		  const struct simlog_sid *after, size_t n, double block,
		  const volatile sig_atomic_t *stop)
{
	const char **av = malloc((2 * n + 6) * sizeof(*av));
	char (*keys)[SIMLOG_KEYLEN] = malloc((n + 1) * sizeof(*keys));
	char (*ids)[48] = malloc((n + 1) * sizeof(*ids)), ms[24];
	size_t ac = 0, i;
	redisReply *r;
	int rc = -1;

	if (n == 0 || av == NULL || keys == NULL || ids == NULL) {
		simlog_policy_sleep(block, stop);
		rc = 0;
		goto out;
	}
	for (i = 0; i < n; i++) {
		simlog_key_stream(sims[i], keys[i]);
		simlog_sid_format(&after[i], ids[i]);
	}
	if (conn->url.topo == SIMLOG_TOPO_CLUSTER) {
		rc = wait_cluster(conn, keys, ids, n, block, stop);
		goto out;
	}
	snprintf(ms, sizeof(ms), "%.0f", block * 1000 > 1 ? block * 1000 : 1);
	av[ac++] = "XREAD";
	av[ac++] = "COUNT";
	av[ac++] = "1";
	av[ac++] = "BLOCK";
	av[ac++] = ms;
	av[ac++] = "STREAMS";
	for (i = 0; i < n; i++)
		av[ac++] = keys[i];
	for (i = 0; i < n; i++)
		av[ac++] = ids[i];
	if ((r = simlog_cmd(conn, NULL, (int)ac, av, NULL)) == NULL) {
		/* Trouble shows itself at the next pass; don't spin on it. */
		simlog_conn_close(conn);
		simlog_policy_sleep(block, stop);
		goto out;
	}
	rc = r->type == REDIS_REPLY_ARRAY;
	freeReplyObject(r);
out:
	free(av);
	free(keys);
	free(ids);
	return rc;
}

/* The Redis side of the buffer (lib/queue.c) against a private
 * redis-server: the key layout, the push script and its counters, its
 * refusals (--max-backlog, out of memory) that leave nothing half done,
 * reading pages back, acknowledgements that may run twice after a partial
 * failure and still end in the same state, quarantine, and finding the
 * simulations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "chunk.h"
#include "queue.h"
#include "server.h"
#include "simlog.h"
#include "simlog_backlog.h"
#include "simlog_drain.h"
#include "tap.h"

static struct server srv;
static struct simlog_conn conn;
static struct simlog_idgen ids;

/* A sealed chunk of the records "TYPE<TAB>JSON" in recs (NULL-ended). */
static void
chunk(struct simlog_chunk *ch, const char *const *recs)
{
	unsigned char id[SIMLOG_BATCH_ID_LEN];

	simlog_chunk_init(ch);
	for (int i = 0; recs[i] != NULL; i++) {
		const char *tab = strchr(recs[i], '\t');

		simlog_chunk_add(ch, recs[i], (size_t)(tab - recs[i]), tab + 1,
		    strlen(tab + 1));
	}
	simlog_idgen_next(&ids, id);
	simlog_chunk_seal(ch, id, SIMLOG_SEAL_LZ4);
}

static const char *const recs_a[] = {
	"agent\t{\"agent_id\":1,\"x\":3}", "agent\t{\"agent_id\":2,\"x\":4}",
	"step\t{\"step\":1}", "agent\t{\"agent_id\":3,\"x\":5}", NULL,
};
static const char *const recs_b[] = {
	"step\t{\"step\":2}", "action\t{\"a\":\"move\",\"agent_id\":1}", NULL,
};
static const char *const recs_c[] = {
	"agent\t{\"agent_id\":4,\"x\":0}", NULL,
};

/* Push one chunk for sim; the reply read. */
static int
push(const char *sim, const struct simlog_chunk *ch, uint64_t max_backlog,
     struct simlog_err *e)
{
	memset(e, 0, sizeof(*e));
	if (simlog_push_append(&conn, sim, ch, max_backlog, e) < 0)
		return -1;
	return simlog_push_reply(&conn, 0, e);
}

/* A reply's number (an integer, or a string of one), the reply freed;
 * -1 otherwise. */
static long long
num(redisReply *r)
{
	long long v = -1;

	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	else if (r != NULL && r->type == REDIS_REPLY_STRING)
		v = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	return v;
}

static int
by_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The hash key (:n or :b) of sim as "field=value ..." sorted by field,
 * or "(none)". */
static void
hash(const char *key, char *out, size_t len)
{
	redisReply *r = server_cmd(&srv, "HGETALL %s", key);
	char pairs[32][96];
	size_t n = 0, o = 0;

	out[0] = '\0';
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
		snprintf(out, len, "(none)");
		freeReplyObject(r);
		return;
	}
	for (size_t i = 0; i + 1 < r->elements && n < 32; i += 2)
		snprintf(pairs[n++], sizeof(pairs[0]), "%s=%s",
		    r->element[i]->str, r->element[i + 1]->str);
	freeReplyObject(r);
	qsort(pairs, n, sizeof(pairs[0]), by_str);
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? " " : "",
		    pairs[i]);
}

static void
counts(const char *sim, char *out, size_t len)
{
	char k[SIMLOG_KEYLEN];

	simlog_key_count(sim, k);
	hash(k, out, len);
}

static long long
xlen(const char *sim)
{
	char k[SIMLOG_KEYLEN];

	simlog_key_stream(sim, k);
	return num(server_cmd(&srv, "XLEN %s", k));
}

/* How many of sim's keys (stream, counts, bytes) exist. */
static long long
keys_of(const char *sim)
{
	char k[3][SIMLOG_KEYLEN];

	simlog_key_stream(sim, k[0]);
	simlog_key_count(sim, k[1]);
	simlog_key_bytes(sim, k[2]);
	return num(server_cmd(&srv, "EXISTS %s %s %s", k[0], k[1], k[2]));
}

/* Every entry of sim's stream, read with the library (pages of up to
 * page entries); *n of them. */
static struct simlog_entry *
read_all(const char *sim, size_t page, size_t *n)
{
	struct simlog_entry *all = NULL, *e;
	struct simlog_sid last, after = { 0, 0 };
	struct simlog_err err = { 0 };
	size_t got, total = 0;
	int found, have_after = 0;

	*n = 0;
	if (simlog_queue_last(&conn, sim, &last, &found, &err) < 0 || !found)
		return NULL;
	for (;;) {
		if (simlog_queue_read_send(&conn, sim, have_after ? &after :
		    NULL, &last, page, &err) < 0 ||
		    simlog_queue_read_recv(&conn, sim, &e, &got, &err) < 0) {
			printf("# read: %s\n", err.msg);
			break;
		}
		if (got == 0) {
			free(e);
			break;
		}
		all = realloc(all, (total + got) * sizeof(*all));
		memcpy(all + total, e, got * sizeof(*e));
		free(e);
		total += got;
		after = all[total - 1].id;
		have_after = 1;
	}
	*n = total;
	return all;
}

static void
ack_of(struct simlog_ack *a, const struct simlog_entry *e,
       const struct simlog_chunk *ch)
{
	a->id = e->id;
	a->types = ch->types;
	a->ntypes = ch->ntypes;
}

static void
test_keys(void)
{
	char k[SIMLOG_KEYLEN];

	simlog_key_stream("run-1.a_b", k);
	is_str(k, "simlog:{run-1.a_b}:q", "keys: the stream");
	simlog_key_count("run-1.a_b", k);
	is_str(k, "simlog:{run-1.a_b}:n", "keys: records per type");
	simlog_key_bytes("run-1.a_b", k);
	is_str(k, "simlog:{run-1.a_b}:b", "keys: JSON bytes per type");
	simlog_key_corrupt("run-1.a_b", k);
	is_str(k, "simlog:{run-1.a_b}:corrupt",
	    "keys: the corrupt stream; all four in one hash tag, one slot");
	is_str(SIMLOG_SIMS_KEY, "simlog:sims", "keys: the old layout's set");
}

static void
test_ids(void)
{
	struct simlog_sid a, b;
	char buf[48];

	ok(simlog_sid_parse("1700000000000-7", 15, &a) == 0 &&
	    a.ms == 1700000000000ULL && a.seq == 7, "ids: ms-seq parsed");
	simlog_sid_format(&a, buf);
	is_str(buf, "1700000000000-7", "ids: and formatted back");
	ok(simlog_sid_parse("17-", 3, &b) < 0 && simlog_sid_parse("-1", 2, &b)
	    < 0 && simlog_sid_parse("1-2-3", 5, &b) < 0 &&
	    simlog_sid_parse("12", 2, &b) < 0 &&
	    simlog_sid_parse("123456789012345678901-0", 23, &b) < 0,
	    "ids: malformed ones refused");
	simlog_sid_parse("1700000000000-10", 16, &b);
	ok(simlog_sid_cmp(&a, &b) < 0 && simlog_sid_cmp(&b, &a) > 0 &&
	    simlog_sid_cmp(&a, &a) == 0, "ids: ordered by ms, then seq");

	ok(simlog_shard_of("run-1", 1) == 0 && simlog_shard_of("run-1", 0) ==
	    0, "shards: one shard (or none) takes all");
	{
		unsigned seen[4] = { 0 }, bad = 0;
		char sim[32];

		for (int i = 0; i < 400; i++) {
			unsigned s;

			snprintf(sim, sizeof(sim), "run-%d", i);
			s = simlog_shard_of(sim, 4);
			bad += s >= 4 || s != simlog_shard_of(sim, 4);
			seen[s < 4 ? s : 0]++;
		}
		ok(bad == 0 && seen[0] > 50 && seen[1] > 50 && seen[2] > 50 &&
		    seen[3] > 50, "shards: stable, in range, spread (%u %u %u "
		    "%u of 400)", seen[0], seen[1], seen[2], seen[3]);
	}
}

static void
test_push(void)
{
	struct simlog_chunk a, b;
	struct simlog_err e;
	struct simlog_entry *got;
	size_t n;
	redisReply *r;
	char c[400], want[400], k[SIMLOG_KEYLEN];
	int rc;

	chunk(&a, recs_a);
	chunk(&b, recs_b);
	rc = push("p1", &a, 0, &e);
	ok(rc == 0, "push: a chunk is stored%s%s", rc ? ": " : "", e.msg);
	ok(xlen("p1") == 1, "push: one stream entry");
	simlog_key_stream("p1", k);
	r = server_cmd(&srv, "XRANGE %s - +", k);
	ok(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->element[1]->elements == 2 &&
	    strcmp(r->element[0]->element[1]->element[0]->str, "c") == 0 &&
	    r->element[0]->element[1]->element[1]->len == a.enclen &&
	    memcmp(r->element[0]->element[1]->element[1]->str, a.enc,
	    a.enclen) == 0, "push: its one field c holds the sealed chunk, "
	    "byte for byte");
	freeReplyObject(r);
	counts("p1", c, sizeof(c));
	is_str(c, "agent=3 step=1", "push: records counted per type");
	simlog_key_bytes("p1", k);
	hash(k, c, sizeof(c));
	/* The chunk's own tallies, which are its records' JSON lengths. */
	snprintf(want, sizeof(want), "agent=%zu step=%zu", strlen(recs_a[0]) +
	    strlen(recs_a[1]) + strlen(recs_a[3]) - 3 * strlen("agent\t"),
	    strlen(recs_a[2]) - strlen("step\t"));
	is_str(c, want, "push: JSON bytes counted per type");

	ok(push("p1", &b, 0, &e) == 0 && xlen("p1") == 2,
	    "push: a second chunk appended");
	counts("p1", c, sizeof(c));
	is_str(c, "action=1 agent=3 step=2", "push: the counters add up");

	got = read_all("p1", 1, &n);
	ok(n == 2 && got[0].len == a.enclen && memcmp(got[0].data, a.enc,
	    a.enclen) == 0 && got[1].len == b.enclen && memcmp(got[1].data,
	    b.enc, b.enclen) == 0 && simlog_sid_cmp(&got[0].id, &got[1].id)
	    < 0, "read: a page at a time, in order, byte for byte");
	{
		struct simlog_chunk d;
		struct simlog_err de = { 0 };

		simlog_chunk_init(&d);
		ok(simlog_chunk_decode(&d, got[1].data, got[1].len, &de) == 0 &&
		    d.records == 2 && memcmp(d.id, b.id, sizeof(d.id)) == 0,
		    "read: what comes back decodes to the chunk pushed");
		simlog_chunk_clear(&d);
	}
	simlog_entries_free(got, n);

	/* --max-backlog: refused as a whole while the simulation holds that
	 * many records (6 now); "full", so the breaker is not told. */
	ok(push("p1", &a, 6, &e) < 0 && e.code == SIMLOG_EX_TEMPFAIL &&
	    e.full && strstr(e.msg, "simulation p1 has 6 records buffered, "
	    "--max-backlog is 6"), "backlog: refused at the limit: '%s'",
	    e.msg);
	counts("p1", c, sizeof(c));
	ok(xlen("p1") == 2 && strcmp(c, "action=1 agent=3 step=2") == 0,
	    "backlog: nothing stored, nothing counted");
	ok(push("p1", &a, 7, &e) == 0 && xlen("p1") == 3,
	    "backlog: below the limit it is stored");

	/* Out of memory: the script is denied before it runs. */
	freeReplyObject(server_cmd(&srv, "CONFIG SET maxmemory 1"));
	ok(push("p1", &b, 0, &e) < 0 && e.code == SIMLOG_EX_TEMPFAIL &&
	    e.full && strstr(e.msg, "OOM"), "full: out of memory is refused, "
	    "counted as full: '%s'", e.msg);
	counts("p1", c, sizeof(c));
	ok(xlen("p1") == 3 && strcmp(c, "action=1 agent=6 step=3") == 0,
	    "full: nothing half-applied");
	/* The acknowledgement must run then: draining is what frees it. */
	got = read_all("p1", 10, &n);
	{
		struct simlog_ack ack;

		memset(&e, 0, sizeof(e));
		rc = -1;
		if (n == 3) {
			ack_of(&ack, &got[0], &a);
			rc = simlog_queue_ack(&conn, "p1", &ack, 1, &e);
		}
		ok(rc == 0 && xlen("p1") == 2, "full: an acknowledgement still "
		    "runs%s%s", rc ? ": " : "", e.msg);
	}
	counts("p1", c, sizeof(c));
	is_str(c, "action=1 agent=3 step=2", "full: and takes its records "
	    "off the counters");
	freeReplyObject(server_cmd(&srv, "CONFIG SET maxmemory 0"));
	simlog_entries_free(got, n);
	simlog_chunk_clear(&a);
	simlog_chunk_clear(&b);
}

/* Three chunks pushed for sim; their entries (read back) in e. */
static void
three(const char *sim, struct simlog_chunk ch[3], struct simlog_entry **e)
{
	struct simlog_err err;
	size_t n;

	chunk(&ch[0], recs_a);
	chunk(&ch[1], recs_b);
	chunk(&ch[2], recs_c);
	for (int i = 0; i < 3; i++)
		push(sim, &ch[i], 0, &err);
	*e = read_all(sim, 10, &n);
	if (n != 3)
		printf("# %s: %zu entries, not 3\n", sim, n);
}

static void
test_ack(void)
{
	struct simlog_chunk ch[3], dh[3];
	struct simlog_entry *e, *f;
	struct simlog_ack acks[3], last;
	struct simlog_err err = { 0 };
	char c[400], d[400];

	/* In one go. */
	three("a1", ch, &e);
	for (int i = 0; i < 3; i++)
		ack_of(&acks[i], &e[i], &ch[i]);
	counts("a1", c, sizeof(c));
	is_str(c, "action=1 agent=4 step=2", "ack: three chunks counted");
	ok(simlog_queue_ack(&conn, "a1", acks, 2, &err) == 0 &&
	    xlen("a1") == 1, "ack: two acknowledged, deleted");
	counts("a1", c, sizeof(c));
	is_str(c, "agent=1", "ack: their records off the counters, types "
	    "at 0 gone");
	last = acks[2];

	/* As after a partial failure: the first acknowledgement went
	 * through but its reply was lost, so the drain runs it again, with
	 * the next batch's.  Nothing is taken off twice. */
	three("a2", dh, &f);
	for (int i = 0; i < 3; i++)
		ack_of(&acks[i], &f[i], &dh[i]);
	ok(simlog_queue_ack(&conn, "a2", acks, 1, &err) == 0 &&
	    simlog_queue_ack(&conn, "a2", acks, 2, &err) == 0 &&
	    simlog_queue_ack(&conn, "a2", acks, 1, &err) == 0 &&
	    xlen("a2") == 1, "ack again: re-run acknowledgements succeed");
	counts("a2", d, sizeof(d));
	is_str(d, c, "ack again: the same counters as acknowledging once");

	/* The last entry: the stream empties, and the simulation's keys go
	 * with it, acknowledged once or twice. */
	ok(simlog_queue_ack(&conn, "a1", &last, 1, &err) == 0 &&
	    keys_of("a1") == 0, "ack: the last one takes all three keys");
	ack_of(&acks[2], &f[2], &dh[2]);
	ok(simlog_queue_ack(&conn, "a2", acks, 3, &err) == 0 &&
	    keys_of("a2") == 0 && simlog_queue_ack(&conn, "a2", acks, 3,
	    &err) == 0 && keys_of("a2") == 0,
	    "ack again: the same end, nothing recreated by a late re-run");
	simlog_entries_free(e, 3);
	simlog_entries_free(f, 3);
	for (int i = 0; i < 3; i++) {
		simlog_chunk_clear(&ch[i]);
		simlog_chunk_clear(&dh[i]);
	}
}

/* EVALSHA calls Redis has counted since its statistics were reset. */
static long long
script_calls(void)
{
	redisReply *r = server_cmd(&srv, "INFO commandstats");
	const char *p;
	long long n = -1;

	/* No line at all: none since the reset. */
	if (r != NULL && r->str != NULL)
		n = (p = strstr(r->str, "cmdstat_evalsha:calls=")) != NULL ?
		    strtoll(p + strlen("cmdstat_evalsha:calls="), NULL, 10) : 0;
	freeReplyObject(r);
	return n;
}

static void
test_ack_steps(void)
{
	enum { N = 1300 };
	struct simlog_chunk ch;
	struct simlog_entry *e;
	struct simlog_ack *acks;
	struct simlog_typecount zero[1];
	struct simlog_err err = { 0 };
	size_t n;
	long long calls;

	/* Many entries: acknowledged in steps of at most 512, so that no
	 * one script call keeps Redis busy for long, all of them in the
	 * end. */
	chunk(&ch, recs_c);
	for (int i = 0; i < N; i++)
		push("as", &ch, 0, &err);
	e = read_all("as", 500, &n);
	acks = calloc(N, sizeof(*acks));
	for (size_t i = 0; acks != NULL && i < n && i < N; i++)
		ack_of(&acks[i], &e[i], &ch);
	freeReplyObject(server_cmd(&srv, "CONFIG RESETSTAT"));
	ok(n == N && acks != NULL &&
	    simlog_queue_ack(&conn, "as", acks, n, &err) == 0 &&
	    (calls = script_calls()) == 3 && keys_of("as") == 0,
	    "ack steps: %d entries acknowledged in 3 calls (512, 512, 276), "
	    "all gone", N);
	simlog_entries_free(e, n);
	free(acks);

	/* A type whose amounts are 0 is sent as 0, never as -0 (which
	 * HINCRBY refuses, failing the whole call). */
	push("az", &ch, 0, &err);
	e = read_all("az", 10, &n);
	zero[0] = ch.types[0];
	zero[0].records = 0;
	zero[0].bytes = 0;
	if (n == 1) {
		struct simlog_ack a = { .id = e[0].id, .types = zero,
		    .ntypes = 1 };

		ok(simlog_queue_ack(&conn, "az", &a, 1, &err) == 0 &&
		    xlen("az") == 0, "ack steps: amounts of 0 are taken%s%s",
		    err.msg[0] ? ": " : "", err.msg);
	} else
		ok(0, "ack steps: amounts of 0 (%zu entries, not 1)", n);
	simlog_entries_free(e, n);
	freeReplyObject(server_cmd(&srv, "DEL simlog:{az}:q simlog:{az}:n "
	    "simlog:{az}:b"));

	/* Entries of many types: a call also stops at 8192 arguments, 27
	 * entries of 100 types (302 arguments each) at most. */
	{
		static struct simlog_typecount many[100];
		struct simlog_ack a[60];

		for (int i = 0; i < 100; i++)
			snprintf(many[i].name, sizeof(many[i].name), "t%d", i);
		for (int i = 0; i < 60; i++)
			push("at", &ch, 0, &err);
		e = read_all("at", 100, &n);
		for (size_t i = 0; i < n && i < 60; i++) {
			a[i].id = e[i].id;
			a[i].types = many;
			a[i].ntypes = 100;
		}
		freeReplyObject(server_cmd(&srv, "CONFIG RESETSTAT"));
		ok(n == 60 && simlog_queue_ack(&conn, "at", a, n, &err) == 0 &&
		    (calls = script_calls()) == 3 && keys_of("at") == 0,
		    "ack steps: 60 entries of 100 types in 3 calls (27, 27, "
		    "6), all gone");
		simlog_entries_free(e, n);
	}
	simlog_chunk_clear(&ch);
}

/* The corrupt stream's name taken by a key of another type, and an entry
 * with more fields than one XADD of them may carry. */
static void
test_quarantine_odd(void)
{
	enum { PAIRS = 600 };
	struct simlog_chunk ch[3];
	struct simlog_entry *e, big;
	struct simlog_err err = { 0 };
	char k[SIMLOG_KEYLEN], aside[SIMLOG_KEYLEN + 64], id[48];
	char names[PAIRS][8], values[PAIRS][8], *want, *w;
	const char *argv[3 + 2 * PAIRS];
	redisReply *r = NULL;
	int ok_big;

	three("qd", ch, &e);
	simlog_key_corrupt("qd", k);
	freeReplyObject(server_cmd(&srv, "SET %s someone-elses", k));
	simlog_sid_format(&e[0].id, id);
	snprintf(aside, sizeof(aside), "%s:displaced:%s", k, id);
	ok(simlog_queue_quarantine(&conn, "qd", &e[0], "bad", &err) == 2 &&
	    num(server_cmd(&srv, "XLEN %s", k)) == 1 && xlen("qd") == 2 &&
	    (r = server_cmd(&srv, "GET %s", aside)) != NULL &&
	    r->type == REDIS_REPLY_STRING && strcmp(r->str, "someone-elses")
	    == 0, "quarantine: a string in the corrupt stream's place is "
	    "kept aside, renamed (2: moved, and that)");
	freeReplyObject(r);
	simlog_entries_free(e, 3);
	for (int i = 0; i < 3; i++)
		simlog_chunk_clear(&ch[i]);
	/* Not a simulation for test_sims to find. */
	freeReplyObject(server_cmd(&srv, "DEL simlog:{qd}:q simlog:{qd}:n "
	    "simlog:{qd}:b"));

	/* 600 fields, more than unpack passes in one call: all kept, in one
	 * "packed" value of length:bytes pairs. */
	simlog_key_stream("qb", k);
	argv[0] = "XADD";
	argv[1] = k;
	argv[2] = "*";
	want = malloc(PAIRS * 20);
	w = want;
	for (int i = 0; want != NULL && i < PAIRS; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		snprintf(values[i], sizeof(values[i]), "%d", i * 7);
		argv[3 + 2 * i] = names[i];
		argv[4 + 2 * i] = values[i];
		w += sprintf(w, "%zu:%s%zu:%s", strlen(names[i]), names[i],
		    strlen(values[i]), values[i]);
	}
	freeReplyObject(server_cmd(&srv, "PING"));
	r = srv.c != NULL ? redisCommandArgv(srv.c, 3 + 2 * PAIRS, argv,
	    NULL) : NULL;
	memset(&big, 0, sizeof(big));
	ok_big = r != NULL && r->type == REDIS_REPLY_STRING &&
	    simlog_sid_parse(r->str, r->len, &big.id) == 0;
	freeReplyObject(r);
	ok(ok_big && want != NULL &&
	    simlog_queue_quarantine(&conn, "qb", &big, "too many", &err) == 1 &&
	    keys_of("qb") == 0, "quarantine: an entry of %d fields is moved "
	    "aside%s%s", 2 * PAIRS, err.msg[0] ? ": " : "", err.msg);
	simlog_key_corrupt("qb", k);
	r = server_cmd(&srv, "XRANGE %s - +", k);
	ok(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->element[1]->elements == 6 &&
	    strcmp(r->element[0]->element[1]->element[4]->str, "packed") == 0
	    && want != NULL &&
	    strcmp(r->element[0]->element[1]->element[5]->str, want) == 0,
	    "quarantine: its fields packed whole, each name and value as "
	    "length:bytes");
	freeReplyObject(r);
	free(want);
}

static void
test_quarantine(void)
{
	struct simlog_chunk ch[3];
	struct simlog_entry *e;
	struct simlog_err err = { 0 };
	char k[SIMLOG_KEYLEN], id[48];
	redisReply *r;

	three("qq", ch, &e);
	ok(simlog_queue_quarantine(&conn, "qq", &e[1], "cannot decode: "
	    "bad checksum", &err) == 1 && xlen("qq") == 2,
	    "quarantine: the entry leaves the stream (1: moved)");
	simlog_key_corrupt("qq", k);
	simlog_sid_format(&e[1].id, id);
	r = server_cmd(&srv, "XRANGE %s - +", k);
	ok(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->element[1]->elements == 6 &&
	    strcmp(r->element[0]->element[1]->element[0]->str, "id") == 0 &&
	    strcmp(r->element[0]->element[1]->element[1]->str, id) == 0 &&
	    strcmp(r->element[0]->element[1]->element[2]->str, "why") == 0 &&
	    strcmp(r->element[0]->element[1]->element[3]->str,
	    "cannot decode: bad checksum") == 0 &&
	    strcmp(r->element[0]->element[1]->element[4]->str, "c") == 0 &&
	    r->element[0]->element[1]->element[5]->len == e[1].len &&
	    memcmp(r->element[0]->element[1]->element[5]->str, e[1].data,
	    e[1].len) == 0, "quarantine: kept aside with its id, the reason "
	    "and its bytes");
	freeReplyObject(r);
	ok(simlog_queue_quarantine(&conn, "qq", &e[1], "again", &err) == 0 &&
	    num(server_cmd(&srv, "XLEN %s", k)) == 1,
	    "quarantine: again is a no-op, 0: gone already (a re-run after a "
	    "lost reply)");
	ok(simlog_queue_quarantine(&conn, "qq", &e[0], "x", &err) == 1 &&
	    simlog_queue_quarantine(&conn, "qq", &e[2], "x", &err) == 1 &&
	    keys_of("qq") == 0 && num(server_cmd(&srv, "XLEN %s", k)) == 3,
	    "quarantine: the last entry takes the simulation's keys, the "
	    "corrupt stream stays");
	simlog_entries_free(e, 3);
	for (int i = 0; i < 3; i++)
		simlog_chunk_clear(&ch[i]);
	test_quarantine_odd();
}

static void
test_sims(void)
{
	struct simlog_chunk ch;
	struct simlog_err err = { 0 };
	char **sims;
	size_t n;

	chunk(&ch, recs_c);
	push("s-b", &ch, 0, &err);
	push("s-a", &ch, 0, &err);
	/* Not simulations simlog wrote: a name it refuses, a string. */
	freeReplyObject(server_cmd(&srv, "XADD simlog:{bad name}:q * c x"));
	freeReplyObject(server_cmd(&srv, "SET simlog:{str}:q x"));
	if (simlog_list_sims(&conn, &sims, &n, &err) < 0) {
		sims = NULL;
		n = 0;
	}
	ok(n == 3 && strcmp(sims[0], "p1") == 0 && strcmp(sims[1], "s-a") ==
	    0 && strcmp(sims[2], "s-b") == 0, "sims: found by their streams, "
	    "sorted, others passed over (%zu)", n);
	freeReplyObject(server_cmd(&srv, "SADD simlog:sims s-a gone"));
	simlog_forget_old_sims(&conn, sims, n);
	ok(num(server_cmd(&srv, "SISMEMBER simlog:sims gone")) == 0 &&
	    num(server_cmd(&srv, "SISMEMBER simlog:sims s-a")) == 1,
	    "sims: the old set forgets names whose stream is gone");
	simlog_strv_free(sims, n);
	simlog_chunk_clear(&ch);
}

int
main(void)
{
	struct simlog_conn_opts o = { 0 };
	struct simlog_err err = { 0 };

	/* Whatever hangs ends the test (and TAP so far is out). */
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(120);
	test_keys();
	test_ids();
	/* A package build has no servers; make check has. */
	if (!server_available()) {
		printf("ok %d # skip the rest: redis-server is not installed\n",
		    ++tap_n);
		return tap_done();
	}
	server_start_or_skip(&srv, NULL);
	o.url = srv.url;
	o.timeout = 10;
	if (simlog_conn_init(&conn, &o, &err) < 0 ||
	    simlog_conn_open(&conn, &err) < 0 || simlog_idgen_init(&ids) < 0) {
		printf("Bail out! %s: %s\n", srv.url, err.msg);
		server_stop(&srv);
		return 1;
	}
	test_push();
	test_ack();
	test_ack_steps();
	test_quarantine();
	test_sims();
	simlog_conn_clear(&conn);
	server_stop(&srv);
	return tap_done();
}

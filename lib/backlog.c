/*
 * The backlog (simlog_backlog.h): what is buffered, read from the counters
 * push and drain keep; and its housekeeping: the corrupt stream read and
 * purged, a backlog discarded.  The changes are Lua scripts over one simulation's keys (one
 * cluster slot), so a stream and its counters never disagree (see
 * queue.c for the buffer's layout).
 */
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "net/conn.h"
#include "queue.h"
#include "simlog_backlog.h"
#include "util.h"

/* Delete the listed entries; the stream goes once it is empty. */
static const char purge_lua[] =
    "#!lua flags=allow-oom\n"
    "local n = 0\n"
    "for i = 1, #ARGV do\n"
    "  n = n + redis.call('XDEL', KEYS[1], ARGV[i])\n"
    "end\n"
    "if redis.call('XLEN', KEYS[1]) == 0 then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return n\n";

/* The stream and both counters together (one simulation's keys, one
 * cluster slot); what the counters said is returned with the number of
 * entries.  A counter that holds no number counts as 0, a counter key of
 * another type as none, and the sum stops at 2^53, which a double holds
 * exactly. */
static const char discard_lua[] =
    "#!lua flags=allow-oom\n"
    "local records = 0\n"
    "local vals = redis.pcall('HVALS', KEYS[2])\n"
    "if vals.err then vals = {} end\n"
    "for _, v in ipairs(vals) do\n"
    "  local n = tonumber(v) or 0\n"
    "  if n > 0 then records = math.min(records + n, 9007199254740992) end\n"
    "end\n"
    "local entries = redis.call('XLEN', KEYS[1])\n"
    "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])\n"
    "return {entries, records}\n";

static struct simlog_script purge_script = SIMLOG_SCRIPT(purge_lua);
static struct simlog_script discard_script = SIMLOG_SCRIPT(discard_lua);

void
simlog_corrupt_free(struct simlog_corrupt *c, size_t n)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < c[i].nfields; j++) {
			free(c[i].fields[j].name);
			free(c[i].fields[j].val);
		}
		free(c[i].fields);
		free(c[i].why);
	}
	free(c);
}

static char *
dup_bytes(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* One field of c, copied. */
static int
add_field(struct simlog_corrupt *c, size_t *cap, const char *name,
	  size_t nlen, const char *val, size_t vlen)
{
	struct simlog_field *fl;

	if (c->nfields == *cap) {
		size_t n = *cap ? 2 * *cap : 8;
		void *q = realloc(c->fields, n * sizeof(*c->fields));

		if (q == NULL)
			return -1;
		c->fields = q;
		*cap = n;
	}
	fl = &c->fields[c->nfields];
	memset(fl, 0, sizeof(*fl));
	if ((fl->name = dup_bytes(name, nlen)) == NULL ||
	    (fl->val = dup_bytes(val, vlen)) == NULL) {
		free(fl->name);
		return -1;
	}
	fl->nlen = nlen;
	fl->vlen = vlen;
	c->nfields++;
	return 0;
}

/* The next "LEN:BYTES" of a packed value at *p (before end); -1 if the
 * value is not what the quarantine script writes. */
static int
packed_next(const char **p, const char *end, const char **s, size_t *n)
{
	size_t len = 0, digits = 0;

	while (*p < end && **p >= '0' && **p <= '9' && digits < 12) {
		len = len * 10 + (size_t)(**p - '0');
		(*p)++;
		digits++;
	}
	if (digits == 0 || *p == end || **p != ':' ||
	    len > (size_t)(end - *p - 1))
		return -1;
	*s = *p + 1;
	*n = len;
	*p += 1 + len;
	return 0;
}

/* The fields of an entry set aside packed (one with too many fields to
 * copy one by one), unpacked. */
static int
unpack_fields(struct simlog_corrupt *c, size_t *cap, const char *v,
	      size_t vlen)
{
	const char *p = v, *end = v + vlen, *name, *val;
	size_t nlen, len;

	while (p < end) {
		if (packed_next(&p, end, &name, &nlen) < 0 ||
		    packed_next(&p, end, &val, &len) < 0 ||
		    add_field(c, cap, name, nlen, val, len) < 0)
			return -1;
	}
	return 0;
}

/* One reply entry [id, [field, value, ...]] into c; -1 if malformed. */
static int
take_entry(const redisReply *x, struct simlog_corrupt *c)
{
	const redisReply *f;
	size_t cap = 0;

	if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 ||
	    x->element[0]->type != REDIS_REPLY_STRING ||
	    simlog_sid_parse(x->element[0]->str, x->element[0]->len,
	    &c->entry) < 0 || x->element[1]->type != REDIS_REPLY_ARRAY)
		return -1;
	f = x->element[1];
	for (size_t j = 0; j + 1 < f->elements; j += 2) {
		const redisReply *k = f->element[j], *v = f->element[j + 1];

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			return -1;
		if (k->len == 2 && memcmp(k->str, "id", 2) == 0 && !c->id[0])
			snprintf(c->id, sizeof(c->id), "%.*s", (int)v->len,
			    v->str);
		else if (k->len == 3 && memcmp(k->str, "why", 3) == 0 &&
		    c->why == NULL) {
			if ((c->why = dup_bytes(v->str, v->len)) == NULL)
				return -1;
		} else if (j == 4 && k->len == 6 &&
		    memcmp(k->str, "packed", 6) == 0) {
			if (unpack_fields(c, &cap, v->str, v->len) < 0)
				return -1;
		} else if (add_field(c, &cap, k->str, k->len, v->str,
		    v->len) < 0)
			return -1;
	}
	return 0;
}

int
simlog_corrupt_read(struct simlog_conn *conn, const char *sim,
		    const struct simlog_sid *after, size_t count,
		    struct simlog_corrupt **out, size_t *n,
		    struct simlog_err *err)
{
	char k[SIMLOG_KEYLEN], lo[50], cnt[24];
	const char *av[6] = { "XRANGE", k, lo, "+", "COUNT", cnt };
	struct simlog_corrupt *c;
	redisReply *r;
	size_t i;

	*out = NULL;
	*n = 0;
	simlog_key_corrupt(sim, k);
	if (after != NULL) {
		lo[0] = '(';
		simlog_sid_format(after, lo + 1);
	} else
		snprintf(lo, sizeof(lo), "-");
	snprintf(cnt, sizeof(cnt), "%zu", count);
	if ((r = simlog_cmd(conn, err, 6, av, NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY ||
	    (c = calloc(r->elements + 1, sizeof(*c))) == NULL) {
		freeReplyObject(r);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "reading %s: "
		    "unexpected reply or out of memory", k);
	}
	for (i = 0; i < r->elements; i++)
		if (take_entry(r->element[i], &c[i]) < 0) {
			simlog_corrupt_free(c, i + 1);
			freeReplyObject(r);
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "reading %s: unexpected reply", k);
		}
	freeReplyObject(r);
	*out = c;
	*n = i;
	return 0;
}

int
simlog_corrupt_delete(struct simlog_conn *conn, const char *sim,
		      const struct simlog_corrupt *c, size_t n,
		      unsigned long long *deleted, struct simlog_err *err)
{
	char k[SIMLOG_KEYLEN];
	const char **av = malloc((n + 4) * sizeof(*av));
	char (*ids)[48] = malloc((n + 1) * sizeof(*ids));
	size_t a = 0;
	redisReply *r = NULL;
	int rc = 0;

	*deleted = 0;
	if (av == NULL || ids == NULL) {
		rc = simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		goto out;
	}
	simlog_key_corrupt(sim, k);
	av[a++] = NULL;		/* EVALSHA and the script's SHA-1 */
	av[a++] = NULL;
	av[a++] = "1";
	av[a++] = k;
	for (size_t i = 0; i < n; i++) {
		simlog_sid_format(&c[i].entry, ids[i]);
		av[a++] = ids[i];
	}
	if ((r = simlog_script_call(conn, &purge_script, (int)a, av, NULL,
	    "purging the corrupt stream", err)) == NULL)
		rc = -1;
	else if (r->type == REDIS_REPLY_INTEGER)
		*deleted = (unsigned long long)r->integer;
out:
	freeReplyObject(r);
	free(av);
	free(ids);
	return rc;
}

int
simlog_backlog_discard(struct simlog_conn *conn, const char *sim,
		       unsigned long long *entries,
		       unsigned long long *records, struct simlog_err *err)
{
	char k[3][SIMLOG_KEYLEN];
	const char *av[6] = { NULL, NULL, "3", k[0], k[1], k[2] };
	const char *rm[3] = { "SREM", SIMLOG_SIMS_KEY, sim };
	redisReply *r;

	simlog_key_stream(sim, k[0]);
	simlog_key_count(sim, k[1]);
	simlog_key_bytes(sim, k[2]);
	*entries = *records = 0;
	if ((r = simlog_script_call(conn, &discard_script, 6, av, NULL,
	    "discarding the backlog", err)) == NULL)
		return -1;
	/* The set older versions kept (simlog_forget_old_sims would take
	 * the name out at the next listing anyway). */
	freeReplyObject(simlog_cmd(conn, NULL, 3, rm, NULL));
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_INTEGER) {
		*entries = (unsigned long long)r->element[0]->integer;
		*records = (unsigned long long)r->element[1]->integer;
	}
	freeReplyObject(r);
	return 0;
}

/* --- reading the backlog from the counters ---------------------------- */

static int
cmp_type(const void *a, const void *b)
{
	return strcmp(((const struct simlog_backlog_type *)a)->name,
	    ((const struct simlog_backlog_type *)b)->name);
}

static int
cmp_sim(const void *a, const void *b)
{
	return strcmp(((const struct simlog_backlog_sim *)a)->name,
	    ((const struct simlog_backlog_sim *)b)->name);
}

static long long
reply_ll(const redisReply *r)
{
	long long v;
	const char *why;

	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING &&
	    simlog_parse_ll(r->str, INT64_MIN, INT64_MAX, &v, &why) == 0)
		return v;
	return 0;
}

/* The type name[0..len) among s->types[0..sorted) (sorted by name), else
 * a new one at the end: a hash of many fields costs n log n, not n^2. */
static struct simlog_backlog_type *
find_type(struct simlog_backlog_sim *s, size_t sorted, const char *name,
	  size_t len)
{
	struct simlog_backlog_type k, *t;
	size_t n = s->ntypes;

	memset(&k, 0, sizeof(k));
	if ((k.name = strndup(name, len)) == NULL)
		return NULL;
	t = sorted > 0 ? bsearch(&k, s->types, sorted, sizeof(*s->types),
	    cmp_type) : NULL;
	if (t != NULL) {
		free(k.name);
		return t;
	}
	/* Room doubles at 8, 16, 32...: appending stays linear. */
	if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
		void *nv = realloc(s->types, (n < 8 ? 8 : 2 * n) *
		    sizeof(*s->types));

		if (nv == NULL) {
			free(k.name);
			return NULL;
		}
		s->types = nv;
	}
	s->types[n] = k;
	return &s->types[s->ntypes++];
}

/* The time of the first entry of an XRANGE ... COUNT 1 reply, into
 * s->oldest_ms (-1 when the stream is empty). */
static int
first_entry(struct simlog_backlog_sim *s, const redisReply *r)
{
	const redisReply *id;
	struct simlog_sid sid;

	s->oldest_ms = -1;
	if (r->type != REDIS_REPLY_ARRAY)
		return -1;
	if (r->elements == 0)
		return 0;
	if (r->element[0]->type != REDIS_REPLY_ARRAY ||
	    r->element[0]->elements < 1 ||
	    (id = r->element[0]->element[0])->type != REDIS_REPLY_STRING ||
	    simlog_sid_parse(id->str, id->len, &sid) < 0)
		return -1;
	s->oldest_ms = (long long)sid.ms;
	return 0;
}

/* Redis's clock, in ms since 1970, from TIME. */
static int
redis_time(struct simlog_conn *conn, long long *ms, struct simlog_err *err)
{
	const char *av[1] = { "TIME" };
	redisReply *r;
	long long sec, usec;
	const char *why;
	int rc = -1;

	if ((r = simlog_cmd(conn, err, 1, av, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    r->element[1]->type == REDIS_REPLY_STRING &&
	    simlog_parse_ll(r->element[0]->str, 0, INT64_MAX / 1000, &sec,
	    &why) == 0 &&
	    simlog_parse_ll(r->element[1]->str, 0, 999999, &usec, &why) == 0) {
		*ms = sec * 1000 + usec / 1000;
		rc = 0;
	} else
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "TIME: unexpected reply");
	freeReplyObject(r);
	return rc;
}

/* a + b for counts that are never negative: at most INT64_MAX. */
static long long
sat_add(long long a, long long b)
{
	long long r;

	return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/* Fold one HGETALL reply (type -> number) into s.  A counter that is no
 * number or below zero (damaged, planted) counts as 0; sums saturate. */
static int
add_hash(struct simlog_backlog_sim *s, const redisReply *r, int bytes)
{
	size_t i, sorted = s->ntypes;

	if (r->type != REDIS_REPLY_ARRAY)
		return -1;
	/* The counts come first: their fields are all new (a hash has each
	 * once); the bytes then find theirs among them, sorted. */
	if (!bytes)
		sorted = 0;
	else if (s->ntypes > 1)
		qsort(s->types, s->ntypes, sizeof(*s->types), cmp_type);
	for (i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i];
		struct simlog_backlog_type *t;
		long long v;

		if (k->type != REDIS_REPLY_STRING)
			continue;
		if ((t = find_type(s, sorted, k->str, k->len)) == NULL)
			return -2;
		if ((v = reply_ll(r->element[i + 1])) < 0)
			v = 0;
		if (bytes) {
			t->bytes = v;
			s->bytes = sat_add(s->bytes, v);
		} else {
			t->records = v;
			s->records = sat_add(s->records, v);
		}
	}
	return 0;
}

int
simlog_backlog_read(struct simlog_conn *conn, struct simlog_backlog *b,
		    struct simlog_err *err)
{
	char **sims = NULL, k[SIMLOG_KEYLEN];
	size_t nsims = 0, i, j, sent = 0;
	uint64_t before = simlog_conn_commands(conn);
	int rc = -1;

	memset(b, 0, sizeof(*b));
	b->now_ms = -1;
	if (simlog_list_sims(conn, &sims, &nsims, err) < 0)
		return -1;
	if (nsims > 0 && (b->sims = calloc(nsims, sizeof(*b->sims))) == NULL) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		goto out;
	}
	/* One round trip for all simulations: per simulation its counts and
	 * bytes per type, and its oldest entry. */
	for (i = 0; i < nsims; i++)
		for (j = 0; j < 3; j++) {
			const char *av[6] = { "HGETALL", k, "-", "+", "COUNT",
			    "1" };
			int ac = 2;

			if (j == 0)
				simlog_key_count(sims[i], k);
			else if (j == 1)
				simlog_key_bytes(sims[i], k);
			else {
				simlog_key_stream(sims[i], k);
				av[0] = "XRANGE";
				ac = 6;
			}
			if (simlog_conn_append(conn, ac, av, NULL, err) < 0)
				goto out;
			sent++;
		}
	for (i = 0; i < nsims; i++) {
		struct simlog_backlog_sim *s = &b->sims[b->nsims];

		s->name = sims[i];
		sims[i] = NULL;
		b->nsims++;
		for (j = 0; j < 3; j++) {
			redisReply *r = NULL;
			int a;

			if (simlog_conn_recv(conn, 0, &r, err) < 0) {
				simlog_conn_error(conn, NULL,
				    "reading the backlog", err);
				goto out;
			}
			sent--;
			if (r->type == REDIS_REPLY_ERROR) {
				simlog_conn_error(conn, r, "reading the backlog",
				    err);
				freeReplyObject(r);
				goto out;
			}
			a = j == 2 ? first_entry(s, r) : add_hash(s, r, j == 1);
			freeReplyObject(r);
			if (a == -2) {
				simlog_seterr(err, SIMLOG_EX_SOFTWARE,
				    "out of memory");
				goto out;
			}
			if (a < 0) {
				simlog_seterr(err, SIMLOG_EX_SOFTWARE,
				    "reading the backlog: unexpected reply");
				goto out;
			}
		}
		if (s->ntypes == 0) {
			/* Drained between SMEMBERS and HGETALL. */
			free(s->name);
			memset(s, 0, sizeof(*s));
			b->nsims--;
			continue;
		}
		qsort(s->types, s->ntypes, sizeof(*s->types), cmp_type);
		b->records = sat_add(b->records, s->records);
		b->bytes = sat_add(b->bytes, s->bytes);
	}
	if (b->nsims > 1)
		qsort(b->sims, b->nsims, sizeof(*b->sims), cmp_sim);
	/* The ages of the oldest records, by the clock that stamped them. */
	if (b->nsims > 0 && redis_time(conn, &b->now_ms, err) < 0)
		goto out;
	rc = 0;
out:
	b->commands = (unsigned)(simlog_conn_commands(conn) - before);
	if (rc < 0) {
		/* Replies still owed make the context unusable: drop it. */
		if (sent > 0)
			simlog_conn_close(conn);
		simlog_backlog_clear(b);
	}
	simlog_strv_free(sims, nsims);
	return rc;
}

void
simlog_backlog_clear(struct simlog_backlog *b)
{
	size_t i, j;

	if (b == NULL)
		return;
	for (i = 0; i < b->nsims; i++) {
		for (j = 0; j < b->sims[i].ntypes; j++)
			free(b->sims[i].types[j].name);
		free(b->sims[i].types);
		free(b->sims[i].name);
	}
	free(b->sims);
	memset(b, 0, sizeof(*b));
}

double
simlog_backlog_age(const struct simlog_backlog *b,
		   const struct simlog_backlog_sim *s)
{
	if (b->now_ms < 0 || s->oldest_ms < 0)
		return -1;
	/* An entry stamped later than now: a clock stepped back. */
	if (s->oldest_ms > b->now_ms)
		return 0;
	return (double)(b->now_ms - s->oldest_ms) / 1000;
}

/*
 * Backlog housekeeping: the corrupt stream read and purged, a backlog
 * discarded.  The changes are Lua scripts over one simulation's keys (one
 * cluster slot), so a stream and its counters never disagree (see
 * queue.c for the buffer's layout).
 */
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "simlog_backlog.h"

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
simlog_base64(const unsigned char *p, size_t n, char *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*out++ = a[p[i] >> 2];
		*out++ = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*out++ = a[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
		*out++ = a[p[i + 2] & 63];
	}
	if (i < n) {
		*out++ = a[p[i] >> 2];
		if (i + 1 < n) {
			*out++ = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
			*out++ = a[(p[i + 1] & 15) << 2];
		} else {
			*out++ = a[(p[i] & 3) << 4];
			*out++ = '=';
		}
		*out++ = '=';
	}
	*out = '\0';
}

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

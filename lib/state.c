/*
 * The Redis side of the state store.  Per state ID (a hash tag, so one
 * state stays in one cluster slot), every key expiring at the same moment:
 *
 *   simlog:state:{ID}:head       hash: seq (last version number given out),
 *                                expires_at (ms)
 *   simlog:state:{ID}:versions   sorted set: the versions that exist
 *   simlog:state:{ID}:meta:N     hash: version N's metadata
 *   simlog:state:{ID}:data:N     string: version N's stored value
 *   simlog:state:{ID}:upload:R   string: a large value being uploaded
 *
 * IDs are found by scanning every master for their head keys: a script
 * touches one ID's keys only, all in one cluster slot.  (Before, a sorted
 * set simlog:state:ids indexed them; nothing reads or writes it now.)
 *
 * Every change is one Lua script, so a version's value, metadata and index
 * entries appear together or not at all.  Scripts check everything before
 * their first write: Redis does not undo a script that fails half-way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <hiredis/hiredis.h>

#include "net/conn.h"
#include "simlog_state.h"
#include "state_codec.h"
#include "util.h"

/* An upload's staging key outlives a crashed uploader by this long. */
#define UPLOAD_TTL_MS "3600000"

/* Shared by the scripts that write. */
#define WRITE_PRELUDE \
    "local P, head, vers = ARGV[1], KEYS[1], KEYS[2]\n" \
    "local function mk(v) return P .. 'meta:' .. v end\n" \
    "local function dk(v) return P .. 'data:' .. v end\n" \
    "local t = redis.call('TIME')\n" \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
    "local function drop_version(v)\n" \
    "  redis.call('DEL', mk(v), dk(v))\n" \
    "  redis.call('ZREM', vers, v)\n" \
    "end\n" \
    /* Every key of the ID expires at `at` (ms), or never; `only` is the \
     * one version a new ID has, to spare reading the set. */ \
    "local function expire_all(at, only)\n" \
    "  local keys = {head, vers}\n" \
    "  local vs = only and {only} or redis.call('ZRANGE', vers, 0, -1)\n" \
    "  for _, v in ipairs(vs) do\n" \
    "    keys[#keys + 1] = mk(v)\n" \
    "    keys[#keys + 1] = dk(v)\n" \
    "  end\n" \
    "  for _, k in ipairs(keys) do\n" \
    "    if at then redis.call('PEXPIREAT', k, at)\n" \
    "    else redis.call('PERSIST', k) end\n" \
    "  end\n" \
    "end\n"

/*
 * A version's metadata as a flat {field, value, ...} list: only the fields
 * simlog writes, so a hash of any size (damaged, planted) costs the same,
 * and {} when it is missing or not a hash; and whether version v is in the
 * versions set.  Needs P and vers.
 */
#define META_LUA \
    "local function listed(v)\n" \
    "  return #redis.call('ZRANGE', vers, v, v, 'BYSCORE') > 0\n" \
    "end\n" \
    "local META = {'version', 'size', 'stored_size', 'compression',\n" \
    "  'checksum', 'format', 'tags', 'created_at', 'rollback_of'}\n" \
    "local function meta(v)\n" \
    "  local x = redis.pcall('HMGET', P .. 'meta:' .. v, unpack(META))\n" \
    "  local m = {}\n" \
    "  if x.err then return m end\n" \
    "  for i, f in ipairs(META) do\n" \
    "    if x[i] then m[#m + 1] = f; m[#m + 1] = x[i] end\n" \
    "  end\n" \
    "  return m\n" \
    "end\n"

/*
 * KEYS: head, versions[, staging]
 * ARGV: prefix, id, value, size, stored_size, compression, checksum,
 *       format, tags, ttl_ms, max_versions, expect_version
 * -> {1, version, created_ms, expires_ms} | {0, latest} (conflict)
 *    | {-1, staged length} (upload incomplete)
 *
 * A save is the hot path of save --batch: it makes as few calls as it can.
 */
static const char save_lua[] =
    "#!lua\n"
    WRITE_PRELUDE
    "local staged = KEYS[3]\n"
    "if staged then\n"
    "  local n = redis.call('STRLEN', staged)\n"
    "  if n ~= tonumber(ARGV[5]) then return {-1, n} end\n"
    "end\n"
    /* Its type checked before the first write: nothing half-done. */
    "redis.call('ZCARD', vers)\n"
    "local expect = tonumber(ARGV[12])\n"
    "if expect >= 0 then\n"
    "  local cur = tonumber(redis.call('ZREVRANGE', vers, 0, 0)[1] or 0)\n"
    "  if expect ~= cur then\n"
    "    if staged then redis.call('DEL', staged) end\n"
    "    return {0, cur}\n"
    "  end\n"
    "end\n"
    "local v = redis.call('HINCRBY', head, 'seq', 1)\n"
    "if staged then\n"
    "  redis.call('RENAME', staged, dk(v))\n"
    "  redis.call('PERSIST', dk(v))\n"
    "else\n"
    "  redis.call('SET', dk(v), ARGV[3])\n"
    "end\n"
    "redis.call('DEL', mk(v))\n"
    "redis.call('HSET', mk(v), 'version', v, 'size', ARGV[4],\n"
    "  'stored_size', ARGV[5], 'compression', ARGV[6], 'checksum', ARGV[7],\n"
    "  'format', ARGV[8], 'tags', ARGV[9], 'created_at', now)\n"
    "redis.call('ZADD', vers, v, v)\n"
    "local keep = tonumber(ARGV[11])\n"
    "if keep > 0 and v > keep then\n"
    "  for _, o in ipairs(redis.call('ZRANGE', vers, 0, -keep - 1)) do\n"
    "    drop_version(o)\n"
    "  end\n"
    "end\n"
    /* seq 1: a new ID, with only the keys just written. */
    "local only = v == 1 and v or nil\n"
    "local ttl, at = tonumber(ARGV[10]), 0\n"
    "if ttl > 0 then\n"
    "  at = now + ttl\n"
    "  redis.call('HSET', head, 'expires_at', at)\n"
    "  expire_all(at, only)\n"
    "else\n"
    "  if redis.call('HDEL', head, 'expires_at') == 1 then expire_all(nil) end\n"
    "end\n"
    "return {1, v, now, at}\n";

/*
 * KEYS: head, versions; ARGV: prefix, id, to, its created_at as verified
 * -> {1, meta, expires_ms|nil} | {0} (no such version) | {-1} (no value)
 *    | {-2} (not the version verified) | {-3} (the head is damaged)
 *
 * The caller has read and checked version `to` (its checksum); everything
 * is looked at again before the first write, so a failure writes nothing.
 */
static const char rollback_lua[] =
    "#!lua\n"
    WRITE_PRELUDE
    META_LUA
    "local to = ARGV[3]\n"
    "redis.call('ZCARD', vers)\n"
    "local m = meta(to)\n"
    "if #m == 0 then return {0} end\n"
    "local h = {}\n"
    "for i = 1, #m, 2 do h[m[i]] = m[i + 1] end\n"
    "if h['created_at'] ~= ARGV[4] then return {-2} end\n"
    "if redis.call('EXISTS', dk(to)) == 0 then return {-1} end\n"
    "local at = redis.call('HGET', head, 'expires_at')\n"
    "if at and not tonumber(at) then return {-3} end\n"
    "local v = redis.call('HINCRBY', head, 'seq', 1)\n"
    "redis.call('COPY', dk(to), dk(v), 'REPLACE')\n"
    "h['version'], h['created_at'], h['rollback_of'] = v, now, to\n"
    "local a = {}\n"
    "for k, x in pairs(h) do a[#a + 1] = k; a[#a + 1] = x end\n"
    "redis.call('DEL', mk(v))\n"
    "redis.call('HSET', mk(v), unpack(a))\n"
    "redis.call('ZADD', vers, v, v)\n"
    "for _, k in ipairs({mk(v), dk(v)}) do\n"
    "  if at then redis.call('PEXPIREAT', k, at)\n"
    "  else redis.call('PERSIST', k) end\n"
    "end\n"
    "return {1, meta(v), at}\n";

/*
 * KEYS: head, versions; ARGV: prefix, id, version (0: all)
 * -> versions deleted (0: nothing there)
 */
static const char delete_lua[] =
    "#!lua flags=allow-oom\n"
    WRITE_PRELUDE
    "local v, n = tonumber(ARGV[3]), 0\n"
    "if v > 0 then\n"
    "  if redis.call('EXISTS', mk(v)) == 0 then return 0 end\n"
    "  drop_version(v)\n"
    "  if redis.call('ZCARD', vers) > 0 then return 1 end\n"
    "  n = 1\n"
    "else\n"
    "  for _, o in ipairs(redis.call('ZRANGE', vers, 0, -1)) do\n"
    "    drop_version(o)\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', head, vers)\n"
    "return n\n";

/*
 * KEYS: head, versions; ARGV: prefix, id, keep
 * -> versions deleted, or -1 when the ID does not exist
 */
static const char prune_lua[] =
    "#!lua flags=allow-oom\n"
    WRITE_PRELUDE
    "if redis.call('ZCARD', vers) == 0 then return -1 end\n"
    "local n = 0\n"
    "for _, o in ipairs(redis.call('ZRANGE', vers, 0, -tonumber(ARGV[3]) - 1)) do\n"
    "  drop_version(o)\n"
    "  n = n + 1\n"
    "end\n"
    "return n\n";

/*
 * KEYS: head, versions; ARGV: prefix, version (0: latest), inline_max
 * -> {1, meta, expires_ms|nil, stored length (-1: no string), value|nil
 *    (too large or missing), version read, version asked for}
 *    | {0, versions that exist, version asked for, 1 if it is listed}
 */
static const char load_lua[] =
    "#!lua flags=no-writes\n"
    "local P, head, vers = ARGV[1], KEYS[1], KEYS[2]\n"
    META_LUA
    "local v = ARGV[2]\n"
    "if v == '0' then v = redis.call('ZREVRANGE', vers, 0, 0)[1] end\n"
    "local m = v and meta(v) or {}\n"
    "if #m == 0 then\n"
    "  return {0, redis.call('ZCARD', vers), ARGV[2],\n"
    "    v and listed(v) and 1 or 0}\n"
    "end\n"
    "local d = P .. 'data:' .. v\n"
    "local n = redis.pcall('STRLEN', d)\n"
    "if type(n) ~= 'number' then n = -1 end\n"
    "local data = false\n"
    "if n >= 0 and n <= tonumber(ARGV[3]) then data = redis.call('GET', d) end\n"
    "return {1, m, redis.call('HGET', head, 'expires_at'), n, data, v,\n"
    "  ARGV[2]}\n";

/*
 * KEYS: head, versions; ARGV: prefix, which (-2 none, -1 all, 0 latest, N)
 * -> {versions that exist, expires_ms, size total, stored size total,
 *    then per version: its number, its meta ({} when missing or damaged)}
 * A version asked for by number that is neither listed nor has metadata
 * is left out.
 */
static const char describe_lua[] =
    "#!lua flags=no-writes\n"
    "local P, head, vers = ARGV[1], KEYS[1], KEYS[2]\n"
    META_LUA
    "local which = ARGV[2]\n"
    "local all = redis.call('ZRANGE', vers, 0, -1)\n"
    "local raw, stored = 0, 0\n"
    "if which == '-2' then\n"
    "  for _, v in ipairs(all) do\n"
    "    local s = redis.pcall('HMGET', P .. 'meta:' .. v, 'size', 'stored_size')\n"
    "    if not s.err then\n"
    "      raw = raw + (tonumber(s[1]) or 0)\n"
    "      stored = stored + (tonumber(s[2]) or 0)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local out = {#all, redis.call('HGET', head, 'expires_at'), raw, stored}\n"
    "local vs = {}\n"
    "if which == '-1' then vs = all\n"
    "elseif which == '0' then vs = {all[#all]}\n"
    "elseif which ~= '-2' then vs = {which} end\n"
    "for _, v in ipairs(vs) do\n"
    "  local m = meta(v)\n"
    "  if #m > 0 or listed(v) then\n"
    "    out[#out + 1] = v\n"
    "    out[#out + 1] = m\n"
    "  end\n"
    "end\n"
    "return out\n";

/* --- scripts ---------------------------------------------------------------- */

enum script_id {
	S_SAVE, S_ROLLBACK, S_DELETE, S_PRUNE, S_LOAD, S_DESCRIBE, NSCRIPTS
};

static struct simlog_script scripts[NSCRIPTS] = {
	SIMLOG_SCRIPT(save_lua),
	SIMLOG_SCRIPT(rollback_lua),
	SIMLOG_SCRIPT(delete_lua),
	SIMLOG_SCRIPT(prune_lua),
	SIMLOG_SCRIPT(load_lua),
	SIMLOG_SCRIPT(describe_lua),
};

/* --- keys and replies ---------------------------------------------------- */

/* "simlog:state:{" ID "}:" and the longest suffix, "versions". */
#define PRELEN (sizeof(SIMLOG_STATE_PREFIX) + SIMLOG_STATE_IDMAX + 3)
#define KEYBUF (PRELEN + 48)

struct keys {
	char pre[PRELEN];
	char head[KEYBUF];
	char vers[KEYBUF];
};

static void
state_keys(const char *id, struct keys *k)
{
	snprintf(k->pre, sizeof(k->pre), SIMLOG_STATE_PREFIX "{%.128s}:", id);
	snprintf(k->head, sizeof(k->head), "%shead", k->pre);
	snprintf(k->vers, sizeof(k->vers), "%sversions", k->pre);
}

static int
bad_id(const char *id, struct simlog_err *err)
{
	return simlog_seterr(err, SIMLOG_EX_USAGE, "invalid state ID '%.*s': "
	    "use 1-%d of [A-Za-z0-9_.:-]", 140, id, SIMLOG_STATE_IDMAX);
}

static int
append_cmd(struct simlog_conn *conn, int argc, const char **argv,
	   const size_t *lens, const char *what, struct simlog_err *err)
{
	if (simlog_conn_append(conn, argc, argv, lens, err) < 0)
		return simlog_conn_error(conn, NULL, what, err);
	return 0;
}

/* The next reply, or NULL with err set (an error reply included). */
static redisReply *
recv_reply(struct simlog_conn *conn, const char *what, struct simlog_err *err)
{
	redisReply *r;

	if (simlog_conn_recv(conn, 0, &r, err) < 0) {
		simlog_conn_error(conn, NULL, what, err);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		simlog_conn_error(conn, r, what, err);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* Append a script call; argv[0] and argv[1] are filled in here. */
static int
script_append(struct simlog_conn *conn, enum script_id id, int argc,
	      const char **argv, size_t *lens, const char *what,
	      struct simlog_err *err)
{
	if (simlog_script_append(conn, &scripts[id], argc, argv, lens, err) < 0)
		return simlog_conn_error(conn, NULL, what, err);
	return 0;
}

static redisReply *
script_call(struct simlog_conn *conn, enum script_id id, int argc,
	    const char **argv, size_t *lens, const char *what,
	    struct simlog_err *err)
{
	return simlog_script_call(conn, &scripts[id], argc, argv, lens, what,
	    err);
}

static int
unexpected(redisReply *r, const char *what, struct simlog_err *err)
{
	freeReplyObject(r);
	return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "%s: unexpected reply "
	    "from Redis", what);
}

/* An integer from an integer or string reply; -1 if neither. */
static int
reply_ll(const redisReply *r, long long *v)
{
	const char *why;

	if (r->type == REDIS_REPLY_INTEGER) {
		*v = r->integer;
		return 0;
	}
	if (r->type == REDIS_REPLY_STRING &&
	    simlog_parse_ll(r->str, -(1LL << 62), 1LL << 62, v, &why) == 0)
		return 0;
	return -1;
}

/* An optional integer (nil is 0); -1 if something else. */
static int
reply_opt_ll(const redisReply *r, long long *v)
{
	if (r->type == REDIS_REPLY_NIL) {
		*v = 0;
		return 0;
	}
	return reply_ll(r, v);
}

/* Prefix err's message with "ID version N: " (or "ID: "). */
static int
about(struct simlog_err *err, const char *id, long long v)
{
	char msg[SIMLOG_ERRLEN];

	if (err == NULL)
		return -1;
	memcpy(msg, err->msg, sizeof(msg));
	if (v > 0)
		return simlog_seterr(err, err->code, "%s version %lld: %s", id,
		    v, msg);
	return simlog_seterr(err, err->code, "%s: %s", id, msg);
}

static int
tags_ok(const char *s, size_t n)
{
	size_t i = 0, ntags = 0;

	if (n == 0)
		return 1;
	while (i <= n) {
		size_t j = i;

		while (j < n && s[j] != ',')
			j++;
		if (!simlog_state_valid_tag(s + i, j - i) ||
		    ++ntags > SIMLOG_STATE_MAXTAGS)
			return 0;
		i = j + 1;
	}
	return 1;
}

/*
 * Metadata from a flat HGETALL reply.  Anything missing or out of range
 * means the stored state is damaged.
 */
static int
parse_meta(const redisReply *r, const char *id, struct simlog_state_meta *m,
	   struct simlog_err *err)
{
	int have = 0;
	size_t i;

	memset(m, 0, sizeof(*m));
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
		goto bad;
	for (i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		long long n = 0;
		const char *f;

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			goto bad;
		f = k->str;
		if (strcmp(f, "compression") == 0) {
			if (simlog_state_comp_parse(v->str, &m->comp) < 0)
				goto bad;
			have |= 1;
		} else if (strcmp(f, "checksum") == 0) {
			char *end;

			if (v->len != 8)
				goto bad;
			m->checksum = (uint32_t)strtoul(v->str, &end, 16);
			if (*end != '\0')
				goto bad;
			have |= 2;
		} else if (strcmp(f, "format") == 0) {
			if (strcmp(v->str, "json") != 0 &&
			    strcmp(v->str, "raw") != 0)
				goto bad;
			m->raw = v->str[0] == 'r';
			have |= 4;
		} else if (strcmp(f, "tags") == 0) {
			if (v->len >= sizeof(m->tags) || !tags_ok(v->str, v->len))
				goto bad;
			memcpy(m->tags, v->str, v->len + 1);
			have |= 8;
		} else if (reply_ll(v, &n) < 0 || n < 0) {
			if (strcmp(f, "version") == 0 || strcmp(f, "size") == 0 ||
			    strcmp(f, "stored_size") == 0 ||
			    strcmp(f, "created_at") == 0 ||
			    strcmp(f, "rollback_of") == 0)
				goto bad;
		} else if (strcmp(f, "version") == 0) {
			m->version = n;
			have |= 16;
		} else if (strcmp(f, "size") == 0) {
			if ((uint64_t)n > SIMLOG_STATE_MAXSIZE)
				goto bad;
			m->size = (uint64_t)n;
			have |= 32;
		} else if (strcmp(f, "stored_size") == 0) {
			m->stored_size = (uint64_t)n;
			have |= 64;
		} else if (strcmp(f, "created_at") == 0) {
			m->created_ms = n;
			have |= 128;
		} else if (strcmp(f, "rollback_of") == 0)
			m->rollback_of = n;
	}
	if (have == 255 && m->version > 0)
		return 0;
bad:
	if (m->version > 0)
		return simlog_seterr(err, SIMLOG_EX_DATAERR, "%s version %lld: "
		    "stored metadata is damaged", id, m->version);
	return simlog_seterr(err, SIMLOG_EX_DATAERR, "%s: stored metadata is "
	    "damaged", id);
}

/* --- saving ---------------------------------------------------------------- */

int
simlog_state_prepare(struct simlog_state_item *it,
		     struct simlog_state_enc *enc, const char *raw, size_t len,
		     struct simlog_err *err)
{
	char *out;
	size_t outlen;

	it->size = len;
	it->checksum = simlog_state_crc32(raw, len);
	if (simlog_state_compress(enc, it->comp, raw, len, &out, &outlen,
	    err) < 0)
		return -1;
	free(it->owned);
	it->owned = out;
	it->stored = out != NULL ? out : raw;
	it->stored_len = outlen;
	return 0;
}

int
simlog_state_item_own(struct simlog_state_item *it, struct simlog_err *err)
{
	char *p;

	if (it->owned != NULL || it->stored == NULL)
		return 0;
	if ((p = malloc(it->stored_len > 0 ? it->stored_len : 1)) == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	memcpy(p, it->stored, it->stored_len);
	it->owned = p;
	it->stored = p;
	return 0;
}

void
simlog_state_item_clear(struct simlog_state_item *it)
{
	if (it == NULL)
		return;
	free(it->owned);
	it->owned = NULL;
	it->stored = NULL;
	it->stored_len = 0;
}

/* The arguments of the save script; staging is NULL for a value sent
 * inline.  av[0] and av[1] are left for script_append. */
struct save_args {
	struct keys k;
	char size[24], ssize[24], crc[12], ttl[24], keep[24], expect[24];
	const char *av[20];
	size_t lens[20];
	int argc;
};

static int
save_args(struct save_args *s, const struct simlog_state_item *it,
	  const char *staging, struct simlog_err *err)
{
	int a = 2;

	if (!simlog_state_valid_id(it->id, strlen(it->id)))
		return bad_id(it->id, err);
	state_keys(it->id, &s->k);
	snprintf(s->size, sizeof(s->size), "%llu", (unsigned long long)it->size);
	snprintf(s->ssize, sizeof(s->ssize), "%zu", it->stored_len);
	snprintf(s->crc, sizeof(s->crc), "%08x", (unsigned)it->checksum);
	snprintf(s->ttl, sizeof(s->ttl), "%lld", it->ttl_ms);
	snprintf(s->keep, sizeof(s->keep), "%lld", it->max_versions);
	snprintf(s->expect, sizeof(s->expect), "%lld", it->expect_version);
#define ARG(x, n) do { s->av[a] = (x); s->lens[a] = (n); a++; } while (0)
#define SARG(x) ARG((x), strlen(x))
	SARG(staging ? "3" : "2");
	SARG(s->k.head);
	SARG(s->k.vers);
	if (staging != NULL)
		SARG(staging);
	SARG(s->k.pre);
	SARG(it->id);
	if (staging != NULL)
		SARG("");
	else
		ARG(it->stored_len ? it->stored : "", it->stored_len);
	SARG(s->size);
	SARG(s->ssize);
	SARG(simlog_state_comp_name(it->comp));
	SARG(s->crc);
	SARG(it->raw ? "raw" : "json");
	SARG(it->tags);
	SARG(s->ttl);
	SARG(s->keep);
	SARG(s->expect);
#undef SARG
#undef ARG
	s->argc = a;
	return 0;
}

/* With --wait-replicas, a WAIT on the same connection (node) right behind
 * the save: it counts the replicas that have this connection's writes. */
static int
wait_append(struct simlog_conn *conn, const struct simlog_state_item *it,
	    const struct keys *k, struct simlog_err *err)
{
	char n[16], ms[24];
	const char *av[3] = { "WAIT", n, ms };

	if (it->wait_replicas <= 0)
		return 0;
	snprintf(n, sizeof(n), "%d", it->wait_replicas);
	snprintf(ms, sizeof(ms), "%.0f", conn->timeout * 1000);
	if (simlog_conn_append_to(conn, k->head, 3, av, NULL, err) < 0)
		return simlog_conn_error(conn, NULL, "WAIT", err);
	return 0;
}

int
simlog_state_save_send(struct simlog_conn *conn,
		       const struct simlog_state_item *it,
		       struct simlog_err *err)
{
	struct save_args a;

	if (it->stored_len > SIMLOG_STATE_PIECE)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "%s: a stored "
		    "value of %zu bytes cannot be pipelined", it->id,
		    it->stored_len);
	if (save_args(&a, it, NULL, err) < 0)
		return -1;
	if (script_append(conn, S_SAVE, a.argc, a.av, a.lens,
	    "saving a state", err) < 0)
		return -1;
	return wait_append(conn, it, &a.k, err);
}

/* The WAIT reply for a save that made version v. */
static int
wait_result(struct simlog_conn *conn, const struct simlog_state_item *it,
	    long long v, int saved, struct simlog_err *err)
{
	redisReply *r;
	long long got;

	if (it->wait_replicas <= 0)
		return 0;
	/* WAIT itself may take the whole timeout. */
	if (simlog_conn_recv(conn, simlog_now_mono() + 2 * conn->timeout, &r,
	    err) < 0)
		return simlog_conn_error(conn, NULL, "WAIT", err);
	if (r->type != REDIS_REPLY_INTEGER) {
		simlog_conn_error(conn, r, "WAIT", err);
		freeReplyObject(r);
		return -1;
	}
	got = r->integer;
	freeReplyObject(r);
	if (saved && got < it->wait_replicas)
		return simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: saved as "
		    "version %lld, but only %lld of %d replicas confirmed it "
		    "within %g s: a failover now could lose it", it->id, v,
		    got, it->wait_replicas, conn->timeout);
	return 0;
}

/* After a one-off save: WAIT for the replicas asked for. */
static int
saved_wait(struct simlog_conn *conn, const struct simlog_state_item *it,
	   const struct keys *k, const struct simlog_state_meta *m,
	   struct simlog_err *err)
{
	if (it->wait_replicas <= 0)
		return 0;
	if (wait_append(conn, it, k, err) < 0)
		return -1;
	return wait_result(conn, it, m->version, 1, err);
}

/* What the save script answered; r is freed. */
static int
save_result(redisReply *r, const struct simlog_state_item *it,
	    struct simlog_state_meta *m, long long *expires_ms,
	    struct simlog_err *err)
{
	long long st, a, b = 0, c = 0;

	if (r == NULL)
		return about(err, it->id, 0);
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    reply_ll(r->element[0], &st) < 0 || reply_ll(r->element[1], &a) < 0 ||
	    (st == 1 && (r->elements != 4 || reply_ll(r->element[2], &b) < 0 ||
	    reply_ll(r->element[3], &c) < 0)))
		return unexpected(r, "saving a state", err);
	freeReplyObject(r);
	if (st == 0)
		return simlog_seterr(err, SIMLOG_EX_CONFLICT, "%s: version conflict: "
		    "the latest version is %lld, not %lld", it->id, a,
		    it->expect_version);
	if (st < 0)
		return simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: upload "
		    "incomplete: %lld of %zu bytes arrived", it->id, a,
		    it->stored_len);
	memset(m, 0, sizeof(*m));
	m->version = a;
	m->size = it->size;
	m->stored_size = it->stored_len;
	m->comp = it->comp;
	m->checksum = it->checksum;
	m->raw = it->raw;
	m->created_ms = b;
	snprintf(m->tags, sizeof(m->tags), "%s", it->tags);
	if (expires_ms != NULL)
		*expires_ms = c;
	return 0;
}

int
simlog_state_save_recv(struct simlog_conn *conn,
		       const struct simlog_state_item *it,
		       struct simlog_state_meta *m, long long *expires_ms,
		       struct simlog_err *err)
{
	struct simlog_err werr;
	int rc = save_result(recv_reply(conn, "saving a state", err), it, m,
	    expires_ms, err);

	/* The WAIT reply is owed either way; the save's result comes first. */
	if (wait_result(conn, it, rc == 0 ? m->version : 0, rc == 0,
	    &werr) < 0 && rc == 0) {
		*err = werr;
		return -1;
	}
	return rc;
}

static int
flush_out(struct simlog_conn *conn, const char *what, struct simlog_err *err)
{
	if (simlog_conn_flush(conn, err) < 0)
		return simlog_conn_error(conn, NULL, what, err);
	return 0;
}

static int
recv_ok(struct simlog_conn *conn, const char *what, struct simlog_err *err)
{
	redisReply *r = recv_reply(conn, what, err);

	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/*
 * A large value goes to a staging key in pieces, at most two in flight, so
 * neither side holds an extra copy of it; the save script then renames the
 * key into place.  The key is allocated whole first, so the pieces never
 * make Redis reallocate it.
 */
static int
upload(struct simlog_conn *conn, const struct simlog_state_item *it,
       const char *key, struct simlog_err *err)
{
	static const char what[] = "uploading a state";
	size_t off, pending = 0;
	char offs[24];

	snprintf(offs, sizeof(offs), "%zu", it->stored_len - 1);
	{
		/* One zero byte at the end allocates the whole string. */
		const char *av[4] = { "SETRANGE", key, offs, "\0" };
		size_t lens[4] = { 8, strlen(key), strlen(offs), 1 };
		const char *ex[3] = { "PEXPIRE", key, UPLOAD_TTL_MS };

		if (append_cmd(conn, 4, av, lens, what, err) < 0 ||
		    append_cmd(conn, 3, ex, NULL, what, err) < 0)
			return -1;
		pending = 2;
	}
	for (off = 0; off < it->stored_len; off += SIMLOG_STATE_PIECE) {
		size_t n = it->stored_len - off;
		const char *av[4] = { "SETRANGE", key, offs, it->stored + off };
		size_t lens[4];

		if (n > SIMLOG_STATE_PIECE)
			n = SIMLOG_STATE_PIECE;
		snprintf(offs, sizeof(offs), "%zu", off);
		lens[0] = 8;
		lens[1] = strlen(key);
		lens[2] = strlen(offs);
		lens[3] = n;
		if (append_cmd(conn, 4, av, lens, what, err) < 0 ||
		    flush_out(conn, what, err) < 0)
			return -1;
		pending++;
		while (pending > 2) {
			if (recv_ok(conn, what, err) < 0)
				return -1;
			pending--;
		}
	}
	while (pending > 0) {
		if (recv_ok(conn, what, err) < 0)
			return -1;
		pending--;
	}
	return 0;
}

int
simlog_state_save(struct simlog_conn *conn, const struct simlog_state_item *it,
		  struct simlog_state_meta *m, long long *expires_ms,
		  struct simlog_err *err)
{
	unsigned char rnd[8];
	char hex[17];
	struct keys k;
	char staging[KEYBUF + 32];
	struct save_args a;

	if (it->stored_len <= SIMLOG_STATE_PIECE) {
		if (save_args(&a, it, NULL, err) < 0)
			return -1;
		if (save_result(script_call(conn, S_SAVE, a.argc, a.av,
		    a.lens, "saving a state", err), it, m, expires_ms, err) < 0)
			return -1;
		return saved_wait(conn, it, &a.k, m, err);
	}
	if (!simlog_state_valid_id(it->id, strlen(it->id)))
		return bad_id(it->id, err);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "getrandom: %s",
		    strerror(errno));
	simlog_hex(rnd, sizeof(rnd), hex);
	state_keys(it->id, &k);
	snprintf(staging, sizeof(staging), "%supload:%s", k.pre, hex);
	if (upload(conn, it, staging, err) < 0) {
		/* Best effort: the key expires anyway. */
		if (simlog_conn_connected(conn) &&
		    simlog_conn_pending(conn) == 0) {
			const char *av[2] = { "DEL", staging };
			redisReply *r = simlog_cmd(conn, NULL, 2, av, NULL);

			freeReplyObject(r);
		}
		return about(err, it->id, 0);
	}
	if (save_args(&a, it, staging, err) < 0)
		return -1;
	if (save_result(script_call(conn, S_SAVE, a.argc, a.av, a.lens,
	    "saving a state", err), it, m, expires_ms, err) < 0)
		return -1;
	return saved_wait(conn, it, &a.k, m, err);
}

/* --- loading --------------------------------------------------------------- */

void
simlog_state_loaded_clear(struct simlog_state_loaded *l)
{
	if (l == NULL)
		return;
	free(l->data);
	memset(l, 0, sizeof(*l));
}

/* The load script's arguments; av[0] and av[1] are left for script_append. */
struct load_args {
	struct keys k;
	char v[24], max[24];
	const char *av[8];
};

static int
load_args(struct load_args *a, const char *id, long long version,
	  size_t inline_max, struct simlog_err *err)
{
	if (!simlog_state_valid_id(id, strlen(id)))
		return bad_id(id, err);
	state_keys(id, &a->k);
	snprintf(a->v, sizeof(a->v), "%lld", version);
	snprintf(a->max, sizeof(a->max), "%zu", inline_max);
	a->av[2] = "2";
	a->av[3] = a->k.head;
	a->av[4] = a->k.vers;
	a->av[5] = a->k.pre;
	a->av[6] = a->v;
	a->av[7] = a->max;
	return 0;
}

int
simlog_state_load_send(struct simlog_conn *conn, const char *id,
		       long long version, size_t inline_max,
		       struct simlog_err *err)
{
	struct load_args a;

	if (load_args(&a, id, version, inline_max, err) < 0)
		return -1;
	return script_append(conn, S_LOAD, 8, a.av, NULL, "loading a state",
	    err);
}

/* Decode a whole stored value held in memory into l. */
static int
decode_into(struct simlog_state_loaded *l, const char *id, const char *p,
	    size_t n, struct simlog_err *err)
{
	struct simlog_state_dec *d;
	int rc;

	d = simlog_state_dec_new(l->meta.comp, l->meta.size,
	    l->meta.stored_size, err);
	if (d == NULL)
		return about(err, id, l->meta.version);
	rc = simlog_state_dec_feed(d, p, n, err);
	if (rc == 0)
		rc = simlog_state_dec_finish(d, l->meta.checksum, &l->data,
		    &l->len, err);
	simlog_state_dec_free(d);
	return rc < 0 ? about(err, id, l->meta.version) : 0;
}

/* The version the metadata in l is for: v, or (DATAERR) it says another. */
static int
meta_is(const struct simlog_state_meta *m, const char *id, long long v,
	struct simlog_err *err)
{
	if (m->version == v)
		return 0;
	return simlog_seterr(err, SIMLOG_EX_DATAERR, "%s version %lld: stored "
	    "metadata is damaged: it says version %lld", id, v, m->version);
}

/* What the load script answered; r is freed. */
static int
load_result(redisReply *r, const char *id, struct simlog_state_loaded *l,
	    struct simlog_err *err)
{
	redisReply *data;
	long long st, n, asked, v, listed;

	memset(l, 0, sizeof(*l));
	if (r == NULL)
		return about(err, id, 0);
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    reply_ll(r->element[0], &st) < 0)
		return unexpected(r, "loading a state", err);
	if (st == 0) {
		if (r->elements != 4 || reply_ll(r->element[1], &n) < 0 ||
		    reply_ll(r->element[2], &asked) < 0 ||
		    reply_ll(r->element[3], &listed) < 0)
			return unexpected(r, "loading a state", err);
		freeReplyObject(r);
		if (listed)
			return simlog_seterr(err, SIMLOG_EX_DATAERR, "%s%s%.0lld: "
			    "listed, but its stored metadata is missing or "
			    "damaged", id, asked ? " version " : ": the latest "
			    "version", asked);
		if (n == 0)
			return simlog_seterr(err, SIMLOG_EX_NOINPUT,
			    "%s: no such state", id);
		return simlog_seterr(err, SIMLOG_EX_NOINPUT,
		    "%s: no version %lld", id, asked);
	}
	if (r->elements != 7 || reply_opt_ll(r->element[2], &l->expires_ms) < 0 ||
	    reply_ll(r->element[3], &n) < 0 || reply_ll(r->element[5], &v) < 0 ||
	    reply_ll(r->element[6], &l->asked) < 0)
		return unexpected(r, "loading a state", err);
	if (parse_meta(r->element[1], id, &l->meta, err) < 0 ||
	    meta_is(&l->meta, id, v, err) < 0) {
		freeReplyObject(r);
		return -1;
	}
	data = r->element[4];
	if (n < 0 || (uint64_t)n != l->meta.stored_size) {
		freeReplyObject(r);
		if (n < 0)
			simlog_seterr(err, SIMLOG_EX_DATAERR, "stored state is "
			    "corrupt: its value is not a string");
		else
			simlog_seterr(err, SIMLOG_EX_DATAERR, "stored state is "
			    "corrupt: %lld bytes stored, %llu recorded", n,
			    (unsigned long long)l->meta.stored_size);
		return about(err, id, l->meta.version);
	}
	if (data->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		l->need_fetch = 1;
		return 0;
	}
	if (data->type != REDIS_REPLY_STRING)
		return unexpected(r, "loading a state", err);
	st = decode_into(l, id, data->str, data->len, err);
	freeReplyObject(r);
	return (int)st;
}

int
simlog_state_load_recv(struct simlog_conn *conn, const char *id,
		       struct simlog_state_loaded *l, struct simlog_err *err)
{
	return load_result(recv_reply(conn, "loading a state", err), id, l,
	    err);
}

/* Whether version v of id still exists as the one created at created_ms. */
static int
still_there(struct simlog_conn *conn, const char *id, long long v,
	    long long created_ms)
{
	struct keys k;
	char key[KEYBUF + 32];
	const char *av[3] = { "HGET", key, "created_at" };
	redisReply *r;
	long long at;
	int same;

	state_keys(id, &k);
	snprintf(key, sizeof(key), "%smeta:%lld", k.pre, v);
	if ((r = simlog_cmd(conn, NULL, 3, av, NULL)) == NULL)
		return 1;	/* unknown: the damage stands */
	same = reply_ll(r, &at) == 0 && at == created_ms;
	freeReplyObject(r);
	return same;
}

/*
 * Read a large value in pieces: 0, -1 failed, or 1 when the version went
 * away meanwhile (deleted, or pruned by a newer save: its value is cut
 * short, or, once the ID was deleted and made anew, it no longer checks
 * out and its metadata is another's).
 */
static int
fetch_pieces(struct simlog_conn *conn, const char *id,
	     struct simlog_state_loaded *l, struct simlog_err *err)
{
	static const char what[] = "loading a state";
	struct simlog_state_dec *d;
	struct keys k;
	char key[KEYBUF + 32], lo[24], hi[24];
	const char *av[4] = { "GETRANGE", key, lo, hi };
	uint64_t off;
	int rc = -1;

	state_keys(id, &k);
	snprintf(key, sizeof(key), "%sdata:%lld", k.pre, l->meta.version);
	d = simlog_state_dec_new(l->meta.comp, l->meta.size,
	    l->meta.stored_size, err);
	if (d == NULL)
		return about(err, id, l->meta.version);
	for (off = 0; off < l->meta.stored_size; off += SIMLOG_STATE_PIECE) {
		uint64_t want = l->meta.stored_size - off;
		redisReply *r;

		if (want > SIMLOG_STATE_PIECE)
			want = SIMLOG_STATE_PIECE;
		snprintf(lo, sizeof(lo), "%llu", (unsigned long long)off);
		snprintf(hi, sizeof(hi), "%llu",
		    (unsigned long long)(off + want - 1));
		if (append_cmd(conn, 4, av, NULL, what, err) < 0 ||
		    (r = recv_reply(conn, what, err)) == NULL) {
			about(err, id, l->meta.version);
			goto out;
		}
		if (r->type != REDIS_REPLY_STRING) {
			unexpected(r, what, err);
			goto out;
		}
		if (r->len != want) {
			/* Values never change once written: it went away. */
			freeReplyObject(r);
			rc = 1;
			goto out;
		}
		if (simlog_state_dec_feed(d, r->str, r->len, err) < 0) {
			freeReplyObject(r);
			about(err, id, l->meta.version);
			goto out;
		}
		freeReplyObject(r);
	}
	if (simlog_state_dec_finish(d, l->meta.checksum, &l->data, &l->len,
	    err) < 0) {
		rc = still_there(conn, id, l->meta.version,
		    l->meta.created_ms) ? about(err, id, l->meta.version) : 1;
		goto out;
	}
	rc = 0;
out:
	simlog_state_dec_free(d);
	return rc;
}

int
simlog_state_fetch(struct simlog_conn *conn, const char *id,
		   struct simlog_state_loaded *l, struct simlog_err *err)
{
	struct load_args a;
	long long v = l->meta.version;
	int rc;

	if (!l->need_fetch)
		return 0;
	if ((rc = fetch_pieces(conn, id, l, err)) <= 0) {
		l->need_fetch = rc < 0;
		return rc;
	}
	if (l->asked != 0)
		return simlog_seterr(err, SIMLOG_EX_CONFLICT, "%s version %lld: "
		    "deleted while it was being read (pruned by a newer save, "
		    "or deleted)", id, v);
	/* The latest went while it was read: the latest now, whole, in one
	 * script (so nothing can take it away half-read). */
	if (load_args(&a, id, 0, SIZE_MAX, err) < 0 ||
	    load_result(script_call(conn, S_LOAD, 8, a.av, NULL,
	    "loading a state", err), id, l, err) < 0)
		return -1;
	return 0;
}

int
simlog_state_load(struct simlog_conn *conn, const char *id, long long version,
		  struct simlog_state_loaded *l, struct simlog_err *err)
{
	struct load_args a;

	memset(l, 0, sizeof(*l));
	if (load_args(&a, id, version, SIMLOG_STATE_PIECE, err) < 0 ||
	    load_result(script_call(conn, S_LOAD, 8, a.av, NULL,
	    "loading a state", err), id, l, err) < 0)
		return -1;
	if (simlog_state_fetch(conn, id, l, err) < 0) {
		simlog_state_loaded_clear(l);
		return -1;
	}
	return 0;
}

/* --- metadata -------------------------------------------------------------- */

int
simlog_state_describe_send(struct simlog_conn *conn, const char *id,
			   long long which, struct simlog_err *err)
{
	struct keys k;
	char w[24];
	const char *av[7] = { NULL, NULL, "2", k.head, k.vers, k.pre, w };

	if (!simlog_state_valid_id(id, strlen(id)))
		return bad_id(id, err);
	state_keys(id, &k);
	snprintf(w, sizeof(w), "%lld", which);
	return script_append(conn, S_DESCRIBE, 7, av, NULL,
	    "reading metadata", err);
}

/* The totals at the head of a describe reply. */
static int
parse_info(redisReply *r, const char *id, struct simlog_state_info *info,
	   struct simlog_err *err)
{
	long long raw, stored;

	memset(info, 0, sizeof(*info));
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 4 ||
	    reply_ll(r->element[0], &info->versions) < 0)
		return unexpected(r, "reading metadata", err);
	if (reply_opt_ll(r->element[1], &info->expires_ms) < 0 ||
	    reply_opt_ll(r->element[2], &raw) < 0 ||
	    reply_opt_ll(r->element[3], &stored) < 0 || raw < 0 || stored < 0) {
		freeReplyObject(r);
		return simlog_seterr(err, SIMLOG_EX_DATAERR, "%s: stored "
		    "totals are damaged", id);
	}
	info->raw_bytes = (uint64_t)raw;
	info->stored_bytes = (uint64_t)stored;
	return 0;
}

/*
 * One version of a describe reply: its number vr and its metadata mr.  0,
 * or -1 with err saying what is damaged and m->damaged set (m->version
 * is then the number it is listed under).
 */
static int
describe_one(const redisReply *vr, const redisReply *mr, const char *id,
	     struct simlog_state_meta *m, struct simlog_err *err)
{
	long long v;

	if (reply_ll(vr, &v) < 0 || v < 1)
		v = 0;
	if (mr->type == REDIS_REPLY_ARRAY && mr->elements == 0) {
		memset(m, 0, sizeof(*m));
		simlog_seterr(err, SIMLOG_EX_DATAERR, "%s version %lld: listed, "
		    "but its stored metadata is missing or damaged", id, v);
	} else if (parse_meta(mr, id, m, err) == 0 &&
	    meta_is(m, id, v, err) == 0)
		return 0;
	m->version = v;
	m->damaged = 1;
	return -1;
}

int
simlog_state_describe_recv(struct simlog_conn *conn, const char *id,
			   struct simlog_state_info *info,
			   struct simlog_state_meta *latest, int *found,
			   struct simlog_err *err)
{
	redisReply *r = recv_reply(conn, "reading metadata", err);

	*found = 0;
	if (r == NULL)
		return about(err, id, 0);
	if (parse_info(r, id, info, err) < 0)
		return -1;
	if (info->versions > 0 && latest != NULL) {
		if (r->elements != 6)
			return unexpected(r, "reading metadata", err);
		if (describe_one(r->element[4], r->element[5], id, latest,
		    err) < 0) {
			freeReplyObject(r);
			return -1;
		}
	}
	*found = info->versions > 0;
	freeReplyObject(r);
	return 0;
}

int
simlog_state_describe(struct simlog_conn *conn, const char *id,
		      long long which, struct simlog_state_info *info,
		      struct simlog_state_meta **metas, size_t *n,
		      struct simlog_err *err)
{
	redisReply *r;
	size_t i;

	struct keys k;
	char w[24];
	const char *av[7] = { NULL, NULL, "2", k.head, k.vers, k.pre, w };

	*metas = NULL;
	*n = 0;
	if (!simlog_state_valid_id(id, strlen(id)))
		return bad_id(id, err);
	state_keys(id, &k);
	snprintf(w, sizeof(w), "%lld", which);
	if ((r = script_call(conn, S_DESCRIBE, 7, av, NULL, "reading metadata",
	    err)) == NULL)
		return about(err, id, 0);
	if (parse_info(r, id, info, err) < 0)
		return -1;
	if (info->versions == 0) {
		freeReplyObject(r);
		return simlog_seterr(err, SIMLOG_EX_NOINPUT, "%s: no such state",
		    id);
	}
	if (which > 0 && r->elements < 6) {
		freeReplyObject(r);
		return simlog_seterr(err, SIMLOG_EX_NOINPUT, "%s: no version %lld",
		    id, which);
	}
	if ((r->elements - 4) % 2 != 0)
		return unexpected(r, "reading metadata", err);
	if (r->elements > 4 &&
	    (*metas = calloc((r->elements - 4) / 2, sizeof(**metas))) == NULL) {
		freeReplyObject(r);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	}
	/* A damaged version is marked, and the others still described. */
	for (i = 4; i + 1 < r->elements; i += 2) {
		struct simlog_err why;

		describe_one(r->element[i], r->element[i + 1], id,
		    &(*metas)[(i - 4) / 2], &why);
	}
	*n = (r->elements - 4) / 2;
	freeReplyObject(r);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
simlog_state_ids(struct simlog_conn *conn, char ***ids, size_t *n,
		 struct simlog_err *err)
{
	static const char pre[] = SIMLOG_STATE_PREFIX "{";
	static const char suf[] = "}:head";
	const size_t plen = sizeof(pre) - 1, slen = sizeof(suf) - 1;
	char **keys;
	size_t nkeys, i;

	*ids = NULL;
	*n = 0;
	/* Expired keys are never listed: SCAN skips them. */
	if (simlog_scan(conn, SIMLOG_STATE_PREFIX "{*}:head", "hash", &keys,
	    &nkeys, err) < 0)
		return -1;
	for (i = 0; i < nkeys; i++) {
		char *k = keys[i];
		size_t len = strlen(k);

		/* A name we would not have written is not ours. */
		if (len < plen + slen ||
		    strcmp(k + len - slen, suf) != 0 ||
		    !simlog_state_valid_id(k + plen, len - plen - slen)) {
			free(k);
			continue;
		}
		memmove(k, k + plen, len - plen - slen);
		k[len - plen - slen] = '\0';
		keys[(*n)++] = k;
	}
	if (*n > 1)
		qsort(keys, *n, sizeof(char *), cmp_str);
	*ids = keys;
	return 0;
}

/* --- changing history ------------------------------------------------------ */

/* Run a write script with the usual three keys and one more argument. */
static redisReply *
run_script(struct simlog_conn *conn, enum script_id lua, const char *id,
	   long long arg, const char *what, struct simlog_err *err)
{
	struct keys k;
	char a[24];
	const char *av[8] = { NULL, NULL, "2", k.head, k.vers, k.pre, id, a };
	redisReply *r;

	if (!simlog_state_valid_id(id, strlen(id))) {
		bad_id(id, err);
		return NULL;
	}
	state_keys(id, &k);
	snprintf(a, sizeof(a), "%lld", arg);
	if ((r = script_call(conn, lua, 8, av, NULL, what, err)) == NULL)
		about(err, id, 0);
	return r;
}

int
simlog_state_rollback(struct simlog_conn *conn, const char *id, long long to,
		      struct simlog_state_meta *m, long long *expires_ms,
		      struct simlog_err *err)
{
	struct simlog_state_loaded l;
	struct keys k;
	char a[24], created[24];
	const char *av[9] = { NULL, NULL, "2", k.head, k.vers, k.pre, id, a,
	    created };
	redisReply *r;
	long long st;

	/* What is copied is checked first: a damaged version is refused
	 * (65) before anything is written. */
	if (to < 1)
		return simlog_seterr(err, SIMLOG_EX_NOINPUT, "%s: no version "
		    "%lld", id, to);
	if (simlog_state_load(conn, id, to, &l, err) < 0)
		return -1;
	snprintf(created, sizeof(created), "%lld", l.meta.created_ms);
	simlog_state_loaded_clear(&l);
	state_keys(id, &k);
	snprintf(a, sizeof(a), "%lld", to);
	if ((r = script_call(conn, S_ROLLBACK, 9, av, NULL, "rolling back",
	    err)) == NULL)
		return about(err, id, 0);
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    reply_ll(r->element[0], &st) < 0 || (st == 1 && r->elements != 3))
		return unexpected(r, "rolling back", err);
	if (st != 1) {
		freeReplyObject(r);
		if (st == 0 || st == -2)
			return simlog_seterr(err, st == 0 ? SIMLOG_EX_NOINPUT :
			    SIMLOG_EX_CONFLICT, "%s: no version %lld%s", id, to,
			    st == 0 ? "" : " (it was deleted and made anew "
			    "while it was being checked)");
		return simlog_seterr(err, SIMLOG_EX_DATAERR, "%s: stored state "
		    "is corrupt: %s", id, st == -1 ? "a value is missing" :
		    "its expiry time is damaged");
	}
	if (reply_opt_ll(r->element[2], expires_ms) < 0)
		return unexpected(r, "rolling back", err);
	st = parse_meta(r->element[1], id, m, err);
	freeReplyObject(r);
	return (int)st;
}

int
simlog_state_delete(struct simlog_conn *conn, const char *id,
		    long long version, long long *deleted,
		    struct simlog_err *err)
{
	redisReply *r = run_script(conn, S_DELETE, id, version,
	    "deleting", err);

	if (r == NULL)
		return -1;
	if (reply_ll(r, deleted) < 0)
		return unexpected(r, "deleting", err);
	freeReplyObject(r);
	if (*deleted > 0)
		return 0;
	if (version > 0)
		return simlog_seterr(err, SIMLOG_EX_NOINPUT,
		    "%s: no version %lld", id, version);
	return simlog_seterr(err, SIMLOG_EX_NOINPUT, "%s: no such state", id);
}

int
simlog_state_prune(struct simlog_conn *conn, const char *id, long long keep,
		   long long *deleted, struct simlog_err *err)
{
	redisReply *r;

	if (keep < 1)
		return simlog_seterr(err, SIMLOG_EX_USAGE,
		    "prune must keep at least one version");
	if ((r = run_script(conn, S_PRUNE, id, keep, "pruning", err)) == NULL)
		return -1;
	if (reply_ll(r, deleted) < 0)
		return unexpected(r, "pruning", err);
	freeReplyObject(r);
	if (*deleted < 0) {
		*deleted = 0;
		return simlog_seterr(err, SIMLOG_EX_NOINPUT,
		    "%s: no such state", id);
	}
	return 0;
}

int
simlog_state_used_memory(struct simlog_conn *conn, long long *bytes,
			 struct simlog_err *err)
{
	const char *av[2] = { "INFO", "memory" };
	redisReply *r = simlog_cmd(conn, err, 2, av, NULL);
	const char *p;

	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_STRING)
		return unexpected(r, "reading INFO memory", err);
	p = strstr(r->str, "used_memory:");
	if (p == NULL) {
		freeReplyObject(r);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "INFO memory has no used_memory");
	}
	*bytes = atoll(p + strlen("used_memory:"));
	freeReplyObject(r);
	return 0;
}

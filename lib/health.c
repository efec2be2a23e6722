/*
 * Health and monitoring pieces shared by simlog-ping and simlog-pool-stats:
 * INFO and CLIENT LIST parsing, latency statistics, the buffer-safety
 * checks and the backlog read from simlog's own counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "simlog.h"
#include "simlog_health.h"

/* --- INFO -------------------------------------------------------------- */

/* Any node: the command goes where the connection routes it. */
#define ANY_NODE ((size_t)-1)

/* One command, routed (ANY_NODE) or to one node. */
static redisReply *
node_cmd(struct simlog_conn *conn, size_t node, struct simlog_err *err,
	 int argc, const char **argv)
{
	if (node == ANY_NODE)
		return simlog_cmd(conn, err, argc, argv, NULL);
	return simlog_node_cmd(conn, node, err, argc, argv, NULL);
}

static char *
info_at(struct simlog_conn *conn, size_t node, const char *section,
	struct simlog_err *err)
{
	const char *av[2] = { "INFO", section };
	redisReply *r;
	char *s;

	if ((r = node_cmd(conn, node, err, section ? 2 : 1, av)) == NULL)
		return NULL;
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "INFO: unexpected reply type %d", r->type);
		freeReplyObject(r);
		return NULL;
	}
	if ((s = strndup(r->str, r->len)) == NULL)
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	freeReplyObject(r);
	return s;
}

char *
simlog_info(struct simlog_conn *conn, const char *section,
	    struct simlog_err *err)
{
	return info_at(conn, ANY_NODE, section, err);
}

char *
simlog_info_node(struct simlog_conn *conn, size_t node, const char *section,
		 struct simlog_err *err)
{
	return info_at(conn, node, section, err);
}

const char *
simlog_info_field(const char *info, const char *field, size_t *len)
{
	size_t flen = strlen(field);
	const char *p = info;

	if (info == NULL)
		return NULL;
	while (*p != '\0') {
		const char *eol = p + strcspn(p, "\r\n");

		if ((size_t)(eol - p) > flen && strncmp(p, field, flen) == 0 &&
		    p[flen] == ':') {
			*len = (size_t)(eol - p) - flen - 1;
			return p + flen + 1;
		}
		p = eol;
		while (*p == '\r' || *p == '\n')
			p++;
	}
	return NULL;
}

int
simlog_info_ll(const char *info, const char *field, long long *out)
{
	const char *v, *why;
	size_t len;
	char buf[32];

	*out = -1;
	if ((v = simlog_info_field(info, field, &len)) == NULL ||
	    len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (simlog_parse_ll(buf, INT64_MIN, INT64_MAX, out, &why) < 0) {
		*out = -1;
		return -1;
	}
	return 0;
}

int
simlog_info_str(const char *info, const char *field, char *buf, size_t len)
{
	const char *v;
	size_t n;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	if ((v = simlog_info_field(info, field, &n)) == NULL)
		return -1;
	if (n >= len)
		n = len - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return 0;
}

void
simlog_server_parse(const char *info, struct simlog_server *s)
{
	memset(s, 0, sizeof(*s));
	simlog_info_str(info, "redis_version", s->version, sizeof(s->version));
	if (simlog_info_str(info, "redis_mode", s->mode, sizeof(s->mode)) < 0)
		snprintf(s->mode, sizeof(s->mode), "standalone");
	simlog_info_str(info, "role", s->role, sizeof(s->role));
	/* Redis still says "slave"; the rest of its documentation says
	 * replica.  A sentinel has no replication section. */
	if (strcmp(s->role, "slave") == 0)
		snprintf(s->role, sizeof(s->role), "replica");
	if (s->role[0] == '\0' && strcmp(s->mode, "sentinel") == 0)
		snprintf(s->role, sizeof(s->role), "sentinel");
	simlog_info_ll(info, "uptime_in_seconds", &s->uptime);
}

void
simlog_pool_parse(const char *info, struct simlog_pool *p)
{
	simlog_info_ll(info, "connected_clients", &p->connected_clients);
	simlog_info_ll(info, "maxclients", &p->maxclients);
	simlog_info_ll(info, "blocked_clients", &p->blocked_clients);
	simlog_info_ll(info, "rejected_connections", &p->rejected_connections);
	simlog_info_ll(info, "instantaneous_ops_per_sec", &p->ops_per_sec);
	simlog_info_ll(info, "total_commands_processed", &p->total_commands);
	simlog_info_ll(info, "used_memory", &p->used_memory);
	simlog_info_ll(info, "maxmemory", &p->maxmemory);
}

static char *
config_get_at(struct simlog_conn *conn, size_t node, const char *param,
	      struct simlog_err *err)
{
	const char *av[3] = { "CONFIG", "GET", param };
	redisReply *r;
	char *v = NULL;

	if ((r = node_cmd(conn, node, err, 3, av)) == NULL)
		return NULL;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING) {
		if ((v = strndup(r->element[1]->str, r->element[1]->len)) == NULL)
			simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	} else
		simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "CONFIG GET %s: no such parameter", param);
	freeReplyObject(r);
	return v;
}

char *
simlog_config_get(struct simlog_conn *conn, const char *param,
		  struct simlog_err *err)
{
	return config_get_at(conn, ANY_NODE, param, err);
}

char *
simlog_config_get_node(struct simlog_conn *conn, size_t node,
		       const char *param, struct simlog_err *err)
{
	return config_get_at(conn, node, param, err);
}

/* --- latency ----------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double
simlog_percentile(const double *sorted, size_t n, double p)
{
	/* Rank ceil(p/100 * n), 1-based; the tiny slack keeps 99 % of 100
	 * samples at rank 99 despite rounding in p/100 * n. */
	double r;
	size_t k;

	if (n == 0)
		return 0;
	r = p / 100.0 * (double)n - 1e-9;
	k = r > 0 ? (size_t)r : 0;
	if ((double)k < r)
		k++;
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return sorted[k - 1];
}

void
simlog_latency_stats(double *v, size_t n, struct simlog_latency *out)
{
	double sum = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	for (i = 0; i < n; i++)
		sum += v[i];
	out->n = n;
	out->min = v[0];
	out->max = v[n - 1];
	out->avg = sum / (double)n;
	out->p50 = simlog_percentile(v, n, 50);
	out->p99 = simlog_percentile(v, n, 99);
}

/* --- CLIENT LIST ------------------------------------------------------- */

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct simlog_namecount *)a)->name,
	    ((const struct simlog_namecount *)b)->name);
}

/*
 * The name= field of one CLIENT LIST line.  Fields are "key=value"
 * separated by spaces, in a fixed order: ... addr laddr fd name age ...;
 * CLIENT SETNAME keeps spaces out of names, but a unix socket path in
 * addr= and laddr= may hold anything.  So look for "fd=N name=X age=",
 * and only when no line has that shape for the first "fd=N name=".
 */
static int
line_name(const char *s, size_t len, int strict, const char **name,
	  size_t *nlen)
{
	const char *end = s + len, *p = s;

	while (p < end) {
		const char *f = memmem(p, (size_t)(end - p), " fd=", 4);
		const char *q, *n;

		if (f == NULL)
			break;
		p = f + 1;
		q = f + 4;
		if (q < end && *q == '-')
			q++;
		while (q < end && *q >= '0' && *q <= '9')
			q++;
		if ((size_t)(end - q) < 6 || memcmp(q, " name=", 6) != 0)
			continue;
		n = q + 6;
		q = n;
		while (q < end && *q != ' ')
			q++;
		if (strict && ((size_t)(end - q) < 5 || memcmp(q, " age=", 5) != 0))
			continue;
		*name = n;
		*nlen = (size_t)(q - n);
		return 0;
	}
	return -1;
}

int
simlog_clients_parse(const char *text, size_t len, struct simlog_clients *out,
		     struct simlog_err *err)
{
	const char *p = text, *end = text + len;
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t ll = (size_t)((eol ? eol : end) - p), nlen, i;
		const char *name;

		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll > 0) {
			if (line_name(p, ll, 1, &name, &nlen) < 0 &&
			    line_name(p, ll, 0, &name, &nlen) < 0) {
				simlog_clients_clear(out);
				return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
				    "CLIENT LIST: a line without fd= name=");
			}
			out->total++;
			for (i = 0; i < out->n; i++)
				if (strlen(out->v[i].name) == nlen &&
				    memcmp(out->v[i].name, name, nlen) == 0)
					break;
			if (i == out->n) {
				if (out->n == cap) {
					size_t nc = cap ? 2 * cap : 8;
					void *nv = realloc(out->v,
					    nc * sizeof(*out->v));

					if (nv == NULL)
						goto oom;
					out->v = nv;
					cap = nc;
				}
				out->v[i].count = 0;
				if ((out->v[i].name = strndup(name, nlen)) == NULL)
					goto oom;
				out->n++;
			}
			out->v[i].count++;
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_name);
	return 0;
oom:
	simlog_clients_clear(out);
	return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
}

static int
clients_at(struct simlog_conn *conn, size_t node, struct simlog_clients *out,
	   struct simlog_err *err)
{
	const char *av[2] = { "CLIENT", "LIST" };
	redisReply *r;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((r = node_cmd(conn, node, err, 2, av)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
		freeReplyObject(r);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "CLIENT LIST: unexpected reply");
	}
	rc = simlog_clients_parse(r->str, r->len, out, err);
	freeReplyObject(r);
	return rc;
}

int
simlog_clients_read(struct simlog_conn *conn, struct simlog_clients *out,
		    struct simlog_err *err)
{
	return clients_at(conn, ANY_NODE, out, err);
}

int
simlog_clients_read_node(struct simlog_conn *conn, size_t node,
			 struct simlog_clients *out, struct simlog_err *err)
{
	return clients_at(conn, node, out, err);
}

int
simlog_clients_add(struct simlog_clients *a, const struct simlog_clients *b,
		   struct simlog_err *err)
{
	size_t i, j, n = a->n;

	for (j = 0; j < b->n; j++) {
		for (i = 0; i < n; i++)
			if (strcmp(a->v[i].name, b->v[j].name) == 0)
				break;
		if (i < n) {
			a->v[i].count += b->v[j].count;
			continue;
		}
		/* Grown one at a time: a handful of names per server. */
		{
			void *nv = realloc(a->v, (a->n + 1) * sizeof(*a->v));

			if (nv == NULL)
				return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
				    "out of memory");
			a->v = nv;
		}
		if ((a->v[a->n].name = strdup(b->v[j].name)) == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		a->v[a->n++].count = b->v[j].count;
	}
	a->total += b->total;
	if (a->n > 1)
		qsort(a->v, a->n, sizeof(*a->v), cmp_name);
	return 0;
}

void
simlog_clients_clear(struct simlog_clients *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		free(c->v[i].name);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* --- buffer safety ----------------------------------------------------- */

const char *
simlog_severity_name(enum simlog_severity s)
{
	return s == SIMLOG_SEV_PROBLEM ? "problem" : "warning";
}

struct findings {
	struct simlog_finding *v;
	size_t n, max;
};

__attribute__((format(printf, 5, 6)))
static void
add(struct findings *f, const char *setting, const char *value,
    enum simlog_severity sev, const char *fmt, ...)
{
	struct simlog_finding *x;
	va_list ap;

	if (f->n >= f->max)
		return;
	x = &f->v[f->n++];
	x->setting = setting;
	snprintf(x->value, sizeof(x->value), "%s", value);
	x->severity = sev;
	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->why), fmt, ap);
	va_end(ap);
}

static void
check_clients(struct findings *f, const char *info)
{
	long long max, conn, free_slots;
	char v[64];

	if (simlog_info_ll(info, "maxclients", &max) < 0 || max <= 0 ||
	    simlog_info_ll(info, "connected_clients", &conn) < 0)
		return;
	free_slots = max - conn;
	if (free_slots >= SIMLOG_CHECK_MIN_FREE_CLIENTS &&
	    free_slots * 100 >= max * SIMLOG_CHECK_MIN_FREE_CLIENTS_PCT)
		return;
	snprintf(v, sizeof(v), "%lld", max);
	add(f, "maxclients", v, SIMLOG_SEV_WARNING,
	    "%lld of %lld connections in use: every simlog-push and "
	    "simlog-drain takes one, and past the limit Redis refuses new ones "
	    "(\"max number of clients reached\")", conn, max);
}

static void
check_memory(struct findings *f, const char *info)
{
	long long max, used;
	char v[64];

	if (simlog_info_ll(info, "maxmemory", &max) < 0 ||
	    simlog_info_ll(info, "used_memory", &used) < 0)
		return;
	snprintf(v, sizeof(v), "%lld", max);
	if (max == 0) {
		add(f, "maxmemory", v, SIMLOG_SEV_WARNING,
		    "no memory limit: Redis can grow until the kernel's OOM "
		    "killer ends it, buffer and all; set maxmemory (with "
		    "noeviction) so that writes are refused, and simlog-push "
		    "retries, instead");
		return;
	}
	if (used * 100 >= max * SIMLOG_CHECK_MEMORY_PCT)
		add(f, "maxmemory", v, SIMLOG_SEV_WARNING,
		    "%lld of %lld bytes used (%lld %%): little headroom before "
		    "Redis refuses new records; drain, or raise maxmemory",
		    used, max, used * 100 / max);
}

size_t
simlog_check(const char *info, const char *save, struct simlog_finding *out,
	     size_t max)
{
	return simlog_check_topo(info, save, SIMLOG_TOPO_SINGLE, out, max);
}

size_t
simlog_check_topo(const char *info, const char *save, enum simlog_topo topo,
		  struct simlog_finding *out, size_t max)
{
	struct findings f = { out, 0, max };
	struct simlog_server s;
	char policy[64];
	long long aof;

	simlog_server_parse(info, &s);
	if (strcmp(s.mode, "sentinel") == 0) {
		add(&f, "mode", s.mode, SIMLOG_SEV_PROBLEM,
		    "a sentinel stores no data: use a redis-sentinel://"
		    "HOST:PORT[,...]/MASTER URL, which finds the master it "
		    "monitors");
		return f.n;
	}
	/* Behind redis-cluster:// a cluster's master is what it should be;
	 * behind a plain URL simlog would reach only this node's slots. */
	if (strcmp(s.mode, "cluster") == 0 && topo != SIMLOG_TOPO_CLUSTER)
		add(&f, "mode", s.mode, SIMLOG_SEV_PROBLEM,
		    "a Redis Cluster node behind a plain URL: simulations "
		    "whose keys hash to other nodes' slots are refused (MOVED, "
		    "CROSSSLOT); use a redis-cluster:// URL");
	if (strcmp(s.role, "replica") == 0)
		add(&f, "role", s.role, SIMLOG_SEV_PROBLEM,
		    "a replica is read-only, or loses its writes at the next "
		    "resync; point simlog at the master");
	if (simlog_info_str(info, "maxmemory_policy", policy,
	    sizeof(policy)) == 0 && simlog_maxmemory_evicts(policy))
		add(&f, "maxmemory-policy", policy, SIMLOG_SEV_PROBLEM,
		    "Redis may evict any key when memory is full, buffered "
		    "records included, silently; use noeviction");
	if (simlog_info_ll(info, "aof_enabled", &aof) == 0 && aof == 0) {
		if (save == NULL)
			add(&f, "appendonly", "no", SIMLOG_SEV_WARNING,
			    "AOF is off and the RDB save schedule could not be "
			    "read (CONFIG GET save): a Redis restart may lose "
			    "every buffered record; use appendonly yes");
		else if (save[strspn(save, " ")] == '\0')
			add(&f, "appendonly", "no", SIMLOG_SEV_WARNING,
			    "persistence is off (no AOF, and save is empty so no "
			    "RDB snapshots): a Redis restart loses every "
			    "buffered record; use appendonly yes");
	}
	check_clients(&f, info);
	check_memory(&f, info);
	return f.n;
}

/* --- the commands each tool needs -------------------------------------- */

enum {
	T_PUSH = 1u, T_DRAIN = 2u, T_STATE = 4u, T_PING = 8u, T_POOL = 16u,
	T_ALL = 31u,
	T_SCRIPTS = T_PUSH | T_DRAIN | T_STATE,	/* they run scripts */
};
static const char *const tool_names[] = { "simlog-push", "simlog-drain",
    "simlog-state", "simlog-ping", "simlog-pool-stats" };
#define NTOOLS (sizeof(tool_names) / sizeof(tool_names[0]))

/*
 * What each tool sends, as simlog(7) lists it for ACLs: each command with
 * arguments of the shape a tool sends (K: a key where the tool keeps its
 * keys), harmless to run where a reader runs it.  The ones every
 * connection sends first (CLIENT SETNAME, SELECT, PING) and INFO are
 * proven by the time --check asks: they answered.
 */
static const struct need {
	const char *acl;	/* its name in ACL rules */
	unsigned tools;
	const char *args;	/* words, one space apart */
	int proven;
} needs[] = {
	{ "client|setname", T_ALL, "CLIENT SETNAME simlog-ping", 1 },
	{ "select", T_ALL, "SELECT 0", 1 },
	{ "ping", T_ALL, "PING", 1 },
	{ "info", T_STATE | T_PING | T_POOL, "INFO", 1 },
	{ "eval", T_SCRIPTS, "EVAL return 1 K", 0 },
	{ "evalsha", T_SCRIPTS, "EVALSHA "
	    "0000000000000000000000000000000000000000 1 K", 0 },
	{ "script|load", T_SCRIPTS, "SCRIPT LOAD return", 0 },
	{ "wait", T_PUSH | T_STATE, "WAIT 0 0", 0 },
	{ "xadd", T_PUSH | T_DRAIN, "XADD K * c x", 0 },
	{ "hincrby", T_PUSH | T_DRAIN | T_STATE, "HINCRBY K f 1", 0 },
	{ "hvals", T_PUSH | T_DRAIN, "HVALS K", 0 },
	{ "scan", T_DRAIN | T_STATE | T_POOL, "SCAN 0 COUNT 1", 0 },
	{ "xrange", T_DRAIN | T_POOL, "XRANGE K - + COUNT 1", 0 },
	{ "xrevrange", T_DRAIN, "XREVRANGE K + - COUNT 1", 0 },
	{ "xread", T_DRAIN, "XREAD STREAMS K 0", 0 },
	{ "xlen", T_DRAIN, "XLEN K", 0 },
	{ "xdel", T_DRAIN, "XDEL K 0-1", 0 },
	{ "hdel", T_DRAIN | T_STATE, "HDEL K f", 0 },
	{ "del", T_DRAIN | T_STATE, "DEL K", 0 },
	{ "smembers", T_DRAIN, "SMEMBERS simlog:sims", 0 },
	{ "srem", T_DRAIN, "SREM simlog:sims x", 0 },
	{ "time", T_STATE | T_POOL, "TIME", 0 },
	{ "get", T_STATE, "GET K", 0 },
	{ "set", T_STATE, "SET K v", 0 },
	{ "setrange", T_STATE, "SETRANGE K 0 v", 0 },
	{ "getrange", T_STATE, "GETRANGE K 0 1", 0 },
	{ "strlen", T_STATE, "STRLEN K", 0 },
	{ "exists", T_STATE, "EXISTS K", 0 },
	{ "copy", T_STATE, "COPY K K", 0 },
	{ "rename", T_STATE, "RENAME K K", 0 },
	{ "pexpire", T_STATE, "PEXPIRE K 1", 0 },
	{ "pexpireat", T_STATE, "PEXPIREAT K 1", 0 },
	{ "persist", T_STATE, "PERSIST K", 0 },
	{ "hset", T_STATE, "HSET K f v", 0 },
	{ "hget", T_STATE, "HGET K f", 0 },
	{ "hmget", T_STATE, "HMGET K f", 0 },
	{ "hgetall", T_STATE | T_POOL, "HGETALL K", 0 },
	{ "zadd", T_STATE, "ZADD K 1 m", 0 },
	{ "zrem", T_STATE, "ZREM K m", 0 },
	{ "zcard", T_STATE, "ZCARD K", 0 },
	{ "zrange", T_STATE, "ZRANGE K 0 -1", 0 },
	{ "zrevrange", T_STATE, "ZREVRANGE K 0 -1", 0 },
	{ "client|list", T_POOL, "CLIENT LIST TYPE pubsub", 0 },
};
#define NNEEDS (sizeof(needs) / sizeof(needs[0]))
#define MAX_WORDS 8

/* Where a tool's keys live, for the ACL's key patterns. */
static const char *
tool_key(unsigned tool)
{
	return tool == T_STATE ? "simlog:state:simlog-ping" :
	    "simlog:{simlog-ping}:q";
}

/* The need's words into av (K as the tool's key); their number. */
static int
need_words(const struct need *nd, unsigned tool, char *buf, size_t len,
	   const char **av)
{
	int ac = 0;

	snprintf(buf, len, "%s", nd->args);
	for (char *w = strtok(buf, " "); w != NULL && ac < MAX_WORDS;
	    w = strtok(NULL, " "))
		av[ac++] = strcmp(w, "K") == 0 ? tool_key(tool) : w;
	return ac;
}

/* "simlog-push, simlog-drain and simlog-state" */
static void
tool_list(unsigned tools, char *buf, size_t len)
{
	size_t o = 0, left = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NTOOLS; i++)
		left += (tools >> i) & 1;
	for (size_t i = 0; i < NTOOLS && o < len; i++) {
		if (!((tools >> i) & 1))
			continue;
		o += (size_t)snprintf(buf + o, len - o, "%s%s", tool_names[i],
		    left > 2 ? ", " : left == 2 ? " and " : "");
		left--;
	}
}

static unsigned
user_tools(const char *user)
{
	for (size_t i = 0; user != NULL && i < NTOOLS; i++)
		if (strcmp(user, tool_names[i]) == 0)
			return 1u << i;
	return T_ALL;
}

/* What a command's failure says. */
enum answer { RAN, UNKNOWN, REFUSED, OTHER, FAILED };

static enum answer
failure(const struct simlog_err *e)
{
	if (e->code == SIMLOG_EX_NOPERM)
		return REFUSED;
	if (e->code == SIMLOG_EX_CONFIG &&
	    strstr(e->msg, "ERR unknown command") != NULL)
		return UNKNOWN;
	/* Any other refusal comes from a server that knows the command. */
	if (e->code == SIMLOG_EX_SOFTWARE || e->code == SIMLOG_EX_CONFIG)
		return OTHER;
	return FAILED;
}

static enum answer
answer(struct simlog_conn *conn, size_t node, int ac, const char **av,
       struct simlog_err *err)
{
	redisReply *r = node_cmd(conn, node, err, ac, av);

	if (r == NULL)
		return failure(err);
	freeReplyObject(r);
	return RAN;
}

/* The command's name (its first word) into buf. */
static const char *
cmd_name(const struct need *nd, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s", (int)strcspn(nd->args, " "), nd->args);
	return buf;
}

/*
 * Commands renamed away: each name sent with the wrong number of
 * arguments (none; TIME one), which a server checks before anything else
 * bar the name, an ACL included: nothing runs, and a user that may not run
 * the command leaves no denial in the ACL log.
 */
static int
check_renamed(struct simlog_conn *conn, size_t node, struct findings *f,
	      struct simlog_err *err)
{
	for (size_t i = 0; i < NNEEDS; i++) {
		char name[32], other[32], who[120];
		const char *av[2] = { name, "x" };
		unsigned tools = 0;
		int seen = 0;
		enum answer a;

		cmd_name(&needs[i], name, sizeof(name));
		/* Each name once; one that answered already is there. */
		for (size_t j = 0; j < NNEEDS; j++)
			if (strcmp(cmd_name(&needs[j], other, sizeof(other)),
			    name) == 0) {
				seen |= j < i || needs[j].proven;
				tools |= needs[j].tools;
			}
		if (seen)
			continue;
		a = answer(conn, node, strcmp(name, "TIME") == 0 ? 2 : 1, av,
		    err);
		if (a == FAILED)
			return -1;
		if (a != UNKNOWN)
			continue;
		tool_list(tools, who, sizeof(who));
		add(f, "command", name, SIMLOG_SEV_PROBLEM, "renamed away "
		    "(rename-command) or not in this server: %s need%s it", who,
		    (tools & (tools - 1)) ? "" : "s");
	}
	return 0;
}

/* A command that an ACL refuses to user, for those of tools that need it. */
static void
refused(struct findings *f, const struct need *nd, unsigned tools,
	const char *user, const char *more)
{
	char who[120];

	tool_list(tools, who, sizeof(who));
	add(f, "command", nd->acl, SIMLOG_SEV_PROBLEM, "refused to user "
	    "'%.40s' by an ACL rule: %s need%s it (+%s)%s", user, who,
	    (tools & (tools - 1)) ? "" : "s", nd->acl, more);
}

/* The script: ARGV is groups "N word1 ... wordN"; for each, 1 the user
 * may run it, 0 not, -1 no such command.  Before Redis 7.0 an error
 * naming acl_check_cmd. */
static const char acl_script[] =
    "if redis.acl_check_cmd == nil then\n"
    "  return redis.error_reply('ERR no redis.acl_check_cmd')\n"
    "end\n"
    "local out, i = {}, 1\n"
    "while i <= #ARGV do\n"
    "  local n = tonumber(ARGV[i])\n"
    "  local ok, yes = pcall(redis.acl_check_cmd, unpack(ARGV, i + 1, i + n))\n"
    "  out[#out + 1] = (not ok) and -1 or (yes and 1 or 0)\n"
    "  i = i + n + 1\n"
    "end\n"
    "return out\n";

/* Ask the ACL in one script about every need of tools, for each tool
 * (their keys differ). */
static int
ask_acl(struct simlog_conn *conn, size_t node, const char *user,
	unsigned tools, struct findings *f, struct simlog_err *err)
{
	const char **av = NULL;
	char *bufs = NULL, counts[NNEEDS * NTOOLS][4];
	unsigned asked[NNEEDS * NTOOLS], bad[NNEEDS] = { 0 };
	size_t which[NNEEDS * NTOOLS], nq = 0, ac = 3;
	const struct need *eval = &needs[0];
	struct simlog_err e;
	redisReply *r = NULL;
	int rc = -1;

	while (strcmp(eval->acl, "eval") != 0)
		eval++;
	av = malloc((3 + NNEEDS * NTOOLS * (MAX_WORDS + 1)) * sizeof(*av));
	bufs = malloc(NNEEDS * NTOOLS * 128);
	if (av == NULL || bufs == NULL) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		goto out;
	}
	av[0] = "EVAL";
	av[1] = acl_script;
	av[2] = "0";
	for (size_t i = 0; i < NNEEDS; i++)
		for (size_t t = 0; t < NTOOLS; t++) {
			unsigned tool = 1u << t;
			int n;

			if (!(needs[i].tools & tools & tool))
				continue;
			n = need_words(&needs[i], tool, bufs + nq * 128, 128,
			    av + ac + 1);
			snprintf(counts[nq], sizeof(counts[nq]), "%d", n);
			av[ac] = counts[nq];
			ac += (size_t)n + 1;
			which[nq] = i;
			asked[nq++] = tool;
		}
	if ((r = node_cmd(conn, node, &e, (int)ac, av)) == NULL) {
		switch (failure(&e)) {
		case REFUSED:
			refused(f, eval, eval->tools & tools, user, "; without "
			    "it the others could not be checked");
			rc = 0;
			break;
		case UNKNOWN:		/* EVAL renamed away: said already */
			rc = 0;
			break;
		default:
			if (strstr(e.msg, "acl_check_cmd") != NULL) {
				add(f, "acl", user, SIMLOG_SEV_WARNING, "the "
				    "commands the tools need were not checked "
				    "against its ACL rules: that takes Redis "
				    "7.0");
				rc = 0;
			} else
				*err = e;
		}
		goto out;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != nq) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "the ACL check: "
		    "unexpected reply");
		goto out;
	}
	for (size_t q = 0; q < nq; q++)
		if (r->element[q]->type == REDIS_REPLY_INTEGER &&
		    r->element[q]->integer == 0)
			bad[which[q]] |= asked[q];
	for (size_t i = 0; i < NNEEDS; i++)
		if (bad[i])
			refused(f, &needs[i], bad[i], user, "");
	rc = 0;
out:
	freeReplyObject(r);
	free(av);
	free(bufs);
	return rc;
}

/* A user of tools that run no scripts: run the reads they need. */
static int
run_reads(struct simlog_conn *conn, size_t node, const char *user,
	  unsigned tools, struct findings *f, struct simlog_err *err)
{
	for (size_t i = 0; i < NNEEDS; i++) {
		const char *av[MAX_WORDS];
		char buf[128];
		enum answer a;

		if (needs[i].proven || !(needs[i].tools & tools))
			continue;
		a = answer(conn, node, need_words(&needs[i], T_POOL, buf,
		    sizeof(buf), av), av, err);
		if (a == FAILED)
			return -1;
		if (a == REFUSED)
			refused(f, &needs[i], needs[i].tools & tools, user, "");
	}
	return 0;
}

static int
commands_at(struct simlog_conn *conn, size_t node, const char *user,
	    struct simlog_finding *out, size_t max, size_t *n,
	    struct simlog_err *err)
{
	struct findings f = { out, 0, max };
	unsigned tools = user_tools(user);
	int rc;

	if (user == NULL)
		user = "default";
	rc = check_renamed(conn, node, &f, err);
	if (rc == 0 && (tools & T_SCRIPTS))
		rc = ask_acl(conn, node, user, tools, &f, err);
	else if (rc == 0)
		rc = run_reads(conn, node, user, tools, &f, err);
	*n = f.n;
	return rc;
}

int
simlog_check_commands(struct simlog_conn *conn, const char *user,
		      struct simlog_finding *out, size_t max, size_t *n,
		      struct simlog_err *err)
{
	return commands_at(conn, ANY_NODE, user, out, max, n, err);
}

int
simlog_check_commands_node(struct simlog_conn *conn, size_t node,
			   const char *user, struct simlog_finding *out,
			   size_t max, size_t *n, struct simlog_err *err)
{
	return commands_at(conn, node, user, out, max, n, err);
}

/* --- backlog ----------------------------------------------------------- */

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

int
simlog_spool_backlog(const char *dir, const struct simlog_conn *conn,
		     char *path, size_t len, struct simlog_spool_usage *u,
		     struct simlog_err *err)
{
	char endpoint[600];

	simlog_conn_endpoint(conn, 1, endpoint, sizeof(endpoint));
	simlog_spool_path(dir, endpoint, path, len);
	if (simlog_spool_usage(path, u) < 0)
		return simlog_seterrno(err, SIMLOG_EX_IOERR, errno, "spool %s",
		    path);
	return 0;
}

int
simlog_breaker_peek(const struct simlog_conn *conn, struct simlog_breaker_view *v,
		    struct simlog_err *err)
{
	char endpoint[700];

	simlog_conn_endpoint(conn, 0, endpoint, sizeof(endpoint));
	return simlog_breaker_read(endpoint, v, err);
}

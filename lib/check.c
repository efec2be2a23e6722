/*
 * Whether a Redis is safe as a simlog buffer (health.h): the settings
 * checked (persistence, eviction, clients, memory) and the commands each
 * tool needs, allowed by renames and ACL rules; simlog-ping --check.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "health.h"
#include "maxmemory.h"
#include "net/conn.h"
#include "simlog.h"
#include "simlog_health.h"
#include "util.h"

/* --- buffer safety ----------------------------------------------------- */

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

	simlog_info_server(info, &s);
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
	redisReply *r = simlog_node_cmd(conn, node, err, ac, av, NULL);

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
	if ((r = simlog_node_cmd(conn, node, &e, (int)ac, av, NULL)) == NULL) {
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
	return commands_at(conn, SIMLOG_ANY_NODE, user, out, max, n, err);
}

int
simlog_check_commands_node(struct simlog_conn *conn, size_t node,
			   const char *user, struct simlog_finding *out,
			   size_t max, size_t *n, struct simlog_err *err)
{
	return commands_at(conn, node, user, out, max, n, err);
}

/*
 * One node of a connection: adding it, connecting and greeting it (AUTH,
 * SELECT, CLIENT SETNAME, then a PING), and what its failures mean: an
 * error reply or an I/O failure turned into a class and words a user can
 * act on (simlog_conn_error).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "net/conn.h"
#include "net/conn_int.h"
#include "util.h"

static int
has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

void
simlog_net_target(const struct simlog_conn *conn, const char *host, int port,
		  struct link_target *t)
{
	t->path = conn->url.path;
	t->host = conn->url.path != NULL ? NULL : host;
	t->port = port;
	t->tls = conn->net->tls;
	t->server_name = conn->net->server_name;
}

int
simlog_net_node_add(struct simlog_conn *conn, const char *host, int port)
{
	struct simlog_net *n = conn->net;
	size_t i;

	for (i = 0; i < n->nnodes; i++)
		if (n->nodes[i].port == port &&
		    strcmp(n->nodes[i].host, host) == 0)
			return (int)i;
	if (n->nnodes == n->ncap) {
		size_t cap = n->ncap ? n->ncap * 2 : 4;
		struct net_node *q = realloc(n->nodes, cap * sizeof(*q));

		if (q == NULL)
			return -1;
		n->nodes = q;
		n->ncap = cap;
	}
	memset(&n->nodes[i], 0, sizeof(n->nodes[i]));
	snprintf(n->nodes[i].host, sizeof(n->nodes[i].host), "%s", host);
	n->nodes[i].port = port;
	n->nodes[i].replicas = -1;
	simlog_link_init(&n->nodes[i].link);
	n->nodes[i].link.stop = n->stop;
	n->nodes[i].link.count = &n->commands;
	n->nnodes++;
	return (int)i;
}

/* Where a node's failure happened, for messages. */
static void
node_where(struct simlog_conn *conn, int i, char *buf, size_t len)
{
	struct simlog_net *n = conn->net;

	if (conn->url.topo == SIMLOG_TOPO_SINGLE || i < 0 ||
	    (size_t)i >= n->nnodes)
		snprintf(buf, len, "%s", conn->display);
	else
		snprintf(buf, len, "%s (%s%s:%d)", conn->display,
		    conn->url.topo == SIMLOG_TOPO_CLUSTER ? "node " : "master ",
		    n->nodes[i].host, n->nodes[i].port);
}

int
simlog_net_hello(struct simlog_conn *conn, struct simlog_link *l,
		 const char *user, const char *password, int db,
		 const char *setname, double deadline, const char *where,
		 struct simlog_err *err)
{
	const char *av[3];
	char dbs[16];
	int sent = 0;

	if (password != NULL) {
		int ac = 0;

		av[ac++] = "AUTH";
		if (user != NULL)
			av[ac++] = user;
		av[ac++] = password;
		if (simlog_link_append(l, ac, av, NULL, LINK_USER, 0, err) < 0)
			return -1;
		sent++;
	}
	if (db != 0) {
		snprintf(dbs, sizeof(dbs), "%d", db);
		av[0] = "SELECT";
		av[1] = dbs;
		if (simlog_link_append(l, 2, av, NULL, LINK_USER, 0, err) < 0)
			return -1;
		sent++;
	}
	if (setname != NULL) {
		av[0] = "CLIENT";
		av[1] = "SETNAME";
		av[2] = setname;
		if (simlog_link_append(l, 3, av, NULL, LINK_USER, 0, err) < 0)
			return -1;
		sent++;
	}
	/* Last, a PING: a server still loading its data takes the commands
	 * above but refuses this one, so "connected" means "answers". */
	av[0] = "PING";
	if (simlog_link_append(l, 1, av, NULL, LINK_USER, 0, err) < 0)
		return -1;
	sent++;
	/* Read every reply, so the first refusal is the one reported. */
	for (int rc = 0; sent > 0; sent--) {
		struct simlog_err ioerr;
		redisReply *r;

		if (simlog_link_recv(l, deadline, &r, &ioerr) < 0) {
			/* A refusal read already (max clients) says more
			 * than the close that followed it. */
			if (rc == 0)
				simlog_net_io_error(conn, &l->why,
				    l->any_reply, where, err);
			return -1;
		}
		if (r->type == REDIS_REPLY_ERROR && rc == 0) {
			simlog_conn_error(conn, r, where, err);
			rc = -1;
		}
		freeReplyObject(r);
		if (sent == 1 && rc < 0)
			return -1;
	}
	return 0;
}

int
simlog_net_connect_failed(const char *where, const char *hint,
			  struct simlog_err *err)
{
	char why[SIMLOG_ERRLEN];
	int stopped;

	if (err == NULL)
		return -1;
	snprintf(why, sizeof(why), "%s", err->msg);
	stopped = err->stopped;
	simlog_seterr(err, err->code, "cannot connect to %s: %s%s", where,
	    why, hint);
	/* A stop stays a stop: no retry, no other server asked. */
	err->stopped = stopped;
	return -1;
}

int
simlog_net_node_open(struct simlog_conn *conn, int i, double deadline,
		     struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	struct net_node *nd = &n->nodes[i];
	struct link_target t;
	char where[640];

	node_where(conn, i, where, sizeof(where));
	simlog_net_target(conn, nd->host, nd->port, &t);
	if (simlog_link_open(&nd->link, &t, deadline, err) < 0)
		return simlog_net_connect_failed(where, err != NULL &&
		    strstr(err->msg, "refused") && conn->url.topo ==
		    SIMLOG_TOPO_SINGLE ? (conn->source[0] == '\0' ?
		    " (the default URL: give -u URL or set SIMLOG_REDIS_URL)" :
		    strcmp(conn->source, "SIMLOG_REDIS_URL") == 0 ?
		    " (from SIMLOG_REDIS_URL)" : "") : "", err);
	if (simlog_net_hello(conn, &nd->link, conn->url.user, n->password,
	    conn->url.topo == SIMLOG_TOPO_CLUSTER ? 0 : conn->url.db,
	    conn->name, deadline, where, err) < 0) {
		simlog_link_close(&nd->link);
		return -1;
	}
	return 0;
}

/* --- errors --------------------------------------------------------------- */

/* Replies that blame the setup (the URL, the password, the server's
 * settings or version) rather than the server's state: what to change. */
static const struct {
	const char *reply;		/* the reply starts with this */
	const char *fix;
} config_replies[] = {
	{ "ERR DB index is out of range", "no such database on this server "
	    "(see its 'databases'): use a lower /DB in the URL" },
	{ "ERR SELECT is not allowed in cluster mode", "this is a Redis "
	    "Cluster node: use a redis-cluster:// URL" },
	{ "ERR AUTH <password> called without any password configured",
	    "the server has no password: give none" },
	{ "ERR Client sent AUTH, but no password is set",
	    "the server has no password: give none" },
	{ "ERR unknown command", "a command simlog needs was renamed away, "
	    "or the server is older than Redis 7.0" },
	{ "ERR unknown subcommand", "the server is older than Redis 7.0" },
	{ "CROSSSLOT", "this is a Redis Cluster: use a redis-cluster:// URL" },
	{ "WRONGTYPE", "a simlog key holds data of another kind: another "
	    "program writes this database; give simlog one of its own" },
};

/* Error reply text to (class, words a user can act on). */
static int
classify_reply(const struct simlog_conn *conn, const char *s,
	       const char **words)
{
	*words = NULL;
	for (size_t i = 0; i < sizeof(config_replies) /
	    sizeof(config_replies[0]); i++)
		if (has_prefix(s, config_replies[i].reply)) {
			*words = config_replies[i].fix;
			return SIMLOG_EX_CONFIG;
		}
	if (has_prefix(s, "NOAUTH") || has_prefix(s, "WRONGPASS") ||
	    strstr(s, "invalid password") != NULL ||
	    strstr(s, "invalid username-password") != NULL) {
		*words = "authentication failed";
		return SIMLOG_EX_NOPERM;
	}
	/* Redis 7.0 words a command a script may not run as an ERR. */
	if (has_prefix(s, "NOPERM") || strstr(s, "user executing the script "
	    "can't run this command") != NULL) {
		*words = "permission denied by Redis ACL";
		return SIMLOG_EX_NOPERM;
	}
	if (has_prefix(s, "OOM")) {
		*words = "Redis maxmemory reached (noeviction)";
		return SIMLOG_EX_TEMPFAIL;
	}
	if (strstr(s, "max number of clients reached") != NULL) {
		*words = "max number of clients reached";
		return SIMLOG_EX_TEMPFAIL;
	}
	if (has_prefix(s, "LOADING")) {
		*words = "Redis is loading its dataset";
		return SIMLOG_EX_TEMPFAIL;
	}
	if (has_prefix(s, "NOSCRIPT")) {
		*words = "Redis lost simlog's scripts (SCRIPT FLUSH or a "
		    "restart)";
		return SIMLOG_EX_TEMPFAIL;
	}
	if (has_prefix(s, "MOVED") || has_prefix(s, "ASK ")) {
		/* Routing is ours in a cluster; a plain URL met one. */
		if (conn->url.topo == SIMLOG_TOPO_CLUSTER)
			return SIMLOG_EX_TEMPFAIL;
		*words = "this is a Redis Cluster: use a redis-cluster:// URL";
		return SIMLOG_EX_CONFIG;
	}
	/* A slot in migration: keys of one simulation are on both nodes for
	 * a moment.  A multi-key command is refused (TRYAGAIN), and a script
	 * that reaches a key gone meanwhile is stopped; both pass. */
	if (has_prefix(s, "TRYAGAIN") || strstr(s, "Script attempted to "
	    "access a non local key") != NULL) {
		*words = "a slot is being migrated (resharding)";
		return SIMLOG_EX_TEMPFAIL;
	}
	if (has_prefix(s, "BUSY") || has_prefix(s, "MASTERDOWN") ||
	    has_prefix(s, "CLUSTERDOWN"))
		return SIMLOG_EX_TEMPFAIL;
	if (has_prefix(s, "READONLY")) {
		/* Behind sentinels or in a cluster a master that became a
		 * replica is a failover under way; a plain URL naming a
		 * replica is a mistake to fix. */
		if (conn->url.topo != SIMLOG_TOPO_SINGLE) {
			*words = "the master became a replica (failover)";
			return SIMLOG_EX_TEMPFAIL;
		}
		*words = "Redis is a read-only replica: point the URL at its "
		    "master";
		return SIMLOG_EX_CONFIG;
	}
	if (has_prefix(s, "MISCONF")) {
		*words = "Redis cannot save its snapshot and refuses writes";
		return SIMLOG_EX_TEMPFAIL;
	}
	if (has_prefix(s, "NOREPLICAS")) {
		*words = "not enough good replicas to write";
		return SIMLOG_EX_TEMPFAIL;
	}
	return SIMLOG_EX_SOFTWARE;
}

int
simlog_net_io_error(struct simlog_conn *conn, const struct simlog_err *why,
		    int any_reply, const char *what, struct simlog_err *err)
{
	if (why->stopped) {
		simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: interrupted", what);
		if (err != NULL)
			err->stopped = 1;
		return -1;
	}
	if (strcmp(why->msg, "timed out") == 0)
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "%s: timed out after %g s", what, conn->timeout);
	if (why->code == 0)
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "%s: not connected", what);
	if (strcmp(why->msg, "Redis closed the connection") == 0 &&
	    !any_reply && conn->url.tls == 0 && conn->url.path == NULL)
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE, "%s: Redis "
		    "closed the connection before answering (a TLS-only "
		    "port? use rediss://)", what);
	return simlog_seterr(err, why->code, "%s: %s", what, why->msg);
}

int
simlog_conn_error(struct simlog_conn *conn, const redisReply *r,
		  const char *what, struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	const char *words;
	int code;

	if (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    has_prefix(r->str, "SIMLOGBACKLOG ")) {
		simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: %s", what,
		    r->str + 14);
		if (err != NULL)
			err->full = 1;
		return -1;
	}
	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		code = classify_reply(conn, r->str, &words);
		if (code == SIMLOG_EX_CONFIG && words != NULL)
			simlog_seterr(err, code, "%s: %.120s: %s", what, r->str,
			    words);
		else if (words != NULL)
			simlog_seterr(err, code, "%s: %s (%.120s)", what, words,
			    r->str);
		else
			simlog_seterr(err, code, "%s: %.200s", what, r->str);
		/* Up, and answering: only not ready, not roomy, or moving a
		 * slot.  Waiting (or draining) cures it; the breaker does not
		 * count it. */
		if (err != NULL && (has_prefix(r->str, "OOM") ||
		    has_prefix(r->str, "LOADING") ||
		    has_prefix(r->str, "TRYAGAIN") || strstr(r->str,
		    "Script attempted to access a non local key") != NULL))
			err->full = 1;
		return -1;
	}
	if (r != NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "%s: unexpected reply type %d", what, r->type);
	if (n != NULL && n->last >= 0 && (size_t)n->last < n->nnodes &&
	    n->nodes[n->last].link.broken)
		return simlog_net_io_error(conn, &n->nodes[n->last].link.why,
		    n->nodes[n->last].link.any_reply, what, err);
	if (n != NULL && n->saved.code != 0)
		return simlog_net_io_error(conn, &n->saved, n->saved_any_reply, what,
		    err);
	return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE, "%s: not connected",
	    what);
}

redisReply *
simlog_net_no_error(struct simlog_conn *conn, redisReply *r, const char *what,
		    struct simlog_err *err)
{
	if (r->type != REDIS_REPLY_ERROR)
		return r;
	simlog_conn_error(conn, r, what, err);
	freeReplyObject(r);
	return NULL;
}

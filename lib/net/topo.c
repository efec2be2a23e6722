/*
 * Topologies beyond one server.
 *
 * Sentinel: ask the sentinels, in the order the URL gives them, which
 * address the master has (SENTINEL get-master-addr-by-name); connect there
 * and confirm with ROLE that it is a master, since a sentinel may still
 * name a master that has just become a replica.  Any failure later
 * (closed connection, READONLY) makes the caller reconnect, which asks
 * again.
 *
 * Cluster: the slot map comes from CLUSTER SLOTS of any seed that answers;
 * a command goes to the master serving its key's slot; MOVED updates the
 * map (re-read whole, since a moved slot seldom moves alone) and ASK sends
 * one command, after ASKING, where a migrating slot's key now lives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "net/topo.h"

/* --- sentinel ------------------------------------------------------------- */

/* Ask one sentinel for the master's address. */
static int
ask_sentinel(struct simlog_conn *conn, const struct simlog_hostport *s,
	     double deadline, char *host, size_t hlen, int *port,
	     struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	struct link_target t = { NULL, s->host, s->port };
	const char *av[3] = { "SENTINEL", "get-master-addr-by-name",
	    conn->url.master };
	struct simlog_link l;
	redisReply *r = NULL;
	char where[640];
	int rc = -1;

	snprintf(where, sizeof(where), "sentinel %s:%d", s->host, s->port);
	simlog_link_init(&l);
	l.stop = n->stop;
	if (simlog_link_open(&l, &t, n->tls, n->server_name, deadline, err) < 0) {
		char why[SIMLOG_ERRLEN];

		snprintf(why, sizeof(why), "%s", err ? err->msg : "");
		simlog_seterr(err, err ? err->code : SIMLOG_EX_UNAVAILABLE,
		    "cannot connect to %s: %s", where, why);
		goto out;
	}
	if (simlog_net_hello(conn, &l, NULL, n->sentinel_password, 0, NULL, deadline,
	    where, err) < 0)
		goto out;
	if (simlog_link_append(&l, 3, av, NULL, LINK_USER, 0, err) < 0 ||
	    simlog_link_recv(&l, deadline, &r, err) < 0) {
		simlog_net_io_error(conn, &l.why, l.any_reply, where, err);
		goto out;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		simlog_conn_error(conn, r, where, err);
		goto out;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING) {
		simlog_seterr(err, SIMLOG_EX_CONFIG, "%s does not know a master "
		    "named '%s' (check the name after the addresses in the URL)",
		    where, conn->url.master);
		goto out;
	}
	snprintf(host, hlen, "%s", r->element[0]->str);
	*port = atoi(r->element[1]->str);
	rc = 0;
out:
	freeReplyObject(r);
	simlog_link_close(&l);
	return rc;
}

/* Whether the node just opened says it is a master. */
static int
confirm_master(struct simlog_conn *conn, int i, double deadline,
	       struct simlog_err *err)
{
	struct simlog_link *l = &conn->net->nodes[i].link;
	const char *av[1] = { "ROLE" };
	redisReply *r;
	char where[640];
	int ok;

	snprintf(where, sizeof(where), "%s (master %s:%d)", conn->display,
	    conn->net->nodes[i].host, conn->net->nodes[i].port);
	if (simlog_link_append(l, 1, av, NULL, LINK_USER, 0, err) < 0 ||
	    simlog_link_recv(l, deadline, &r, err) < 0)
		return simlog_net_io_error(conn, &l->why, l->any_reply, where, err);
	if (r->type == REDIS_REPLY_ERROR) {
		simlog_conn_error(conn, r, where, err);
		freeReplyObject(r);
		return -1;
	}
	ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[0]->str, "master") == 0;
	/* A master's ROLE lists its connected replicas third. */
	if (ok && r->elements >= 3 && r->element[2]->type == REDIS_REPLY_ARRAY)
		conn->net->nodes[i].replicas = (int)r->element[2]->elements;
	freeReplyObject(r);
	if (!ok)
		return simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: the sentinels "
		    "name it as master of %s, but it is not one (a failover is "
		    "under way)", where, conn->url.master);
	return 0;
}

int
simlog_net_sentinel_open(struct simlog_conn *conn, double deadline,
			 struct simlog_err *err)
{
	struct simlog_url *u = &conn->url;
	char host[256];
	int port = 0, rc = -1;

	for (size_t s = 0; s < u->naddrs; s++) {
		int i;

		if (ask_sentinel(conn, &u->addrs[s], deadline, host,
		    sizeof(host), &port, err) < 0) {
			/* A wrong master name is wrong on every sentinel. */
			if (err != NULL && (err->code == SIMLOG_EX_CONFIG ||
			    err->code == SIMLOG_EX_NOPERM || err->stopped))
				return -1;
			continue;
		}
		if ((i = simlog_net_node_add(conn, host, port)) < 0)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		if (simlog_net_node_open(conn, i, deadline, err) == 0 &&
		    (rc = confirm_master(conn, i, deadline, err)) == 0) {
			/* The master is node 0, where commands go. */
			if (i != 0) {
				struct net_node tmp = conn->net->nodes[0];

				conn->net->nodes[0] = conn->net->nodes[i];
				conn->net->nodes[i] = tmp;
			}
			snprintf(conn->net->master_host,
			    sizeof(conn->net->master_host), "%s", host);
			conn->net->master_port = port;
			return 0;
		}
		simlog_link_close(&conn->net->nodes[i].link);
		if (err != NULL && (err->code == SIMLOG_EX_NOPERM ||
		    err->stopped))
			return -1;
	}
	return rc;
}

/*
 * The sentinels say when they switch a master (+switch-master on their
 * pub/sub): a subscription on a connection of its own tells a writer at
 * once, where otherwise it would go on writing to a demoted master that
 * still takes writes (a planned failover) until it is reconfigured.
 */
static int
watch_open(struct simlog_conn *conn, struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	struct simlog_url *u = &conn->url;
	double deadline = simlog_now_mono() + conn->timeout;
	const char *av[2] = { "SUBSCRIBE", "+switch-master" };

	for (size_t s = 0; s < u->naddrs; s++) {
		struct link_target t = { NULL, u->addrs[s].host,
		    u->addrs[s].port };
		char where[640];
		redisReply *r = NULL;

		snprintf(where, sizeof(where), "sentinel %s:%d",
		    u->addrs[s].host, u->addrs[s].port);
		if (simlog_link_open(&n->watch, &t, n->tls, n->server_name,
		    deadline, err) < 0)
			continue;
		if (simlog_net_hello(conn, &n->watch, NULL, n->sentinel_password,
		    0, NULL, deadline, where, err) == 0 &&
		    simlog_link_append(&n->watch, 2, av, NULL, LINK_USER, 0,
		    err) == 0 &&
		    simlog_link_recv(&n->watch, deadline, &r, err) == 0 &&
		    r->type == REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			return 0;
		}
		freeReplyObject(r);
		simlog_link_close(&n->watch);
		if (simlog_now_mono() >= deadline)
			break;
	}
	return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE, "%s: no sentinel "
	    "takes a subscription to +switch-master", conn->display);
}

int
simlog_conn_watch_fd(struct simlog_conn *conn)
{
	struct simlog_net *n = conn->net;
	struct simlog_err ignored;

	if (n == NULL || conn->url.topo != SIMLOG_TOPO_SENTINEL)
		return -1;
	if (!simlog_link_connected(&n->watch)) {
		if (simlog_now_mono() < n->watch_retry_at)
			return -1;
		/* Not every second: a sentinel that is down is the
		 * master's connection's business, not this one's. */
		n->watch_retry_at = simlog_now_mono() + 5;
		if (watch_open(conn, &ignored) < 0)
			return -1;
	}
	return n->watch.fd;
}

int
simlog_conn_watch_check(struct simlog_conn *conn, struct simlog_err *why)
{
	struct simlog_net *n = conn->net;
	redisReply *r;
	int got, switched = 0;

	if (n == NULL || !simlog_link_connected(&n->watch))
		return 0;
	while ((got = simlog_link_try_recv(&n->watch, &r, why)) > 0) {
		const redisReply *m;
		char name[256], host[256];
		int port;

		/* "message", "+switch-master", "NAME OLDIP OLDPORT NEWIP
		 * NEWPORT" */
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    (m = r->element[2])->type == REDIS_REPLY_STRING &&
		    sscanf(m->str, "%255s %*s %*d %255s %d", name, host,
		    &port) == 3 && strcmp(name, conn->url.master) == 0 &&
		    (port != n->master_port ||
		    strcmp(host, n->master_host) != 0)) {
			simlog_seterr(why, SIMLOG_EX_TEMPFAIL, "%s: the "
			    "sentinels switched master %s from %s:%d to %s:%d "
			    "(a failover)", conn->display, name, n->master_host,
			    n->master_port, host, port);
			switched = 1;
		}
		freeReplyObject(r);
	}
	if (got < 0) {
		simlog_link_close(&n->watch);
		n->watch_retry_at = simlog_now_mono() + 1;
		return switched ? 1 : -1;
	}
	return switched;
}

int
simlog_conn_replicas(const struct simlog_conn *conn, const char *key)
{
	const struct simlog_net *n = conn->net;
	int i = 0;

	if (n == NULL || n->nnodes == 0)
		return -1;
	if (conn->url.topo == SIMLOG_TOPO_CLUSTER) {
		if (n->slots == NULL)
			return -1;
		i = key ? n->slots[simlog_net_key_slot(key, strlen(key))] : -1;
		for (size_t s = 0; s < NET_SLOTS && i < 0; s++)
			i = n->slots[s];
		if (i < 0)
			return -1;
	}
	return n->nodes[i].replicas;
}

/* --- cluster -------------------------------------------------------------- */

unsigned
simlog_net_key_slot(const char *key, size_t len)
{
	size_t s, e;
	uint16_t crc = 0;

	/* Only what is inside the first non-empty {...} counts. */
	for (s = 0; s < len && key[s] != '{'; s++)
		;
	if (s < len) {
		for (e = s + 1; e < len && key[e] != '}'; e++)
			;
		if (e < len && e > s + 1) {
			key += s + 1;
			len = e - s - 1;
		}
	}
	/* CRC16-CCITT (XMODEM), as the cluster specification gives it. */
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)((unsigned char)key[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (uint16_t)(crc << 1 ^ 0x1021) :
			    (uint16_t)(crc << 1);
	}
	return crc & (NET_SLOTS - 1);
}

/* The address in a CLUSTER SLOTS node entry; an empty host means "the
 * node you asked". */
static int
slot_node(struct simlog_conn *conn, const redisReply *e, int asked)
{
	const char *host;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[1]->type != REDIS_REPLY_INTEGER)
		return -2;
	host = e->element[0]->str;
	if (host[0] == '\0' || strcmp(host, "?") == 0)
		host = conn->net->nodes[asked].host;
	return simlog_net_node_add(conn, host, (int)e->element[1]->integer);
}

/* Build the slot map from a CLUSTER SLOTS reply. */
static int
read_slots(struct simlog_conn *conn, const redisReply *r, int asked,
	   struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	int16_t *map;

	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
		return simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: the cluster "
		    "serves no slots yet", conn->display);
	if ((map = malloc(NET_SLOTS * sizeof(*map))) == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	for (size_t s = 0; s < NET_SLOTS; s++)
		map[s] = -1;
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];
		long long lo, hi;
		int node;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
		    e->element[0]->type != REDIS_REPLY_INTEGER ||
		    e->element[1]->type != REDIS_REPLY_INTEGER)
			goto bad;
		lo = e->element[0]->integer;
		hi = e->element[1]->integer;
		if (lo < 0 || hi >= NET_SLOTS || lo > hi)
			goto bad;
		if ((node = slot_node(conn, e->element[2], asked)) == -2)
			goto bad;
		if (node < 0) {
			free(map);
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		}
		n->nodes[node].master = 1;
		/* After the master: its replicas. */
		n->nodes[node].replicas = (int)e->elements - 3;
		for (long long s = lo; s <= hi; s++)
			map[s] = (int16_t)node;
	}
	free(n->slots);
	n->slots = map;
	return 0;
bad:
	free(map);
	return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "%s: CLUSTER SLOTS: "
	    "unexpected reply", conn->display);
}

/* CLUSTER SLOTS from node i (opened if need be).  A node whose link has
 * replies owed (a MOVED read in the middle of a pipeline) is asked on a
 * connection of its own: the answer must not take a pipelined command's
 * place, nor the next pipelined reply be read as the answer. */
static int
slots_from(struct simlog_conn *conn, int i, double deadline,
	   struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	struct simlog_link *l = &n->nodes[i].link, own;
	struct link_target t = { NULL, n->nodes[i].host, n->nodes[i].port };
	const char *av[2] = { "CLUSTER", "SLOTS" };
	redisReply *r = NULL;
	char where[640];
	int rc = -1, mine = 0;

	snprintf(where, sizeof(where), "%s (node %s:%d)", conn->display,
	    n->nodes[i].host, n->nodes[i].port);
	simlog_link_init(&own);
	if (simlog_link_connected(l) && simlog_link_pending(l) > 0) {
		own.stop = n->stop;
		if (simlog_link_open(&own, &t, n->tls, n->server_name, deadline,
		    err) < 0 ||
		    simlog_net_hello(conn, &own, conn->url.user, n->password, 0,
		    NULL, deadline, where, err) < 0)
			goto out;
		l = &own;
		mine = 1;
	} else if (!simlog_link_connected(l)) {
		if (simlog_net_node_open(conn, i, deadline, err) < 0)
			return -1;
		l = &n->nodes[i].link;
	}
	if (simlog_link_append(l, 2, av, NULL, LINK_USER, 0, err) < 0 ||
	    simlog_link_recv(l, deadline, &r, err) < 0) {
		simlog_net_io_error(conn, &l->why, l->any_reply, where, err);
		goto out;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (strstr(r->str, "cluster support disabled") != NULL)
			simlog_seterr(err, SIMLOG_EX_CONFIG, "%s is not a "
			    "cluster node: use a redis:// URL", where);
		else
			simlog_conn_error(conn, r, where, err);
	} else
		rc = read_slots(conn, r, i, err);
out:
	freeReplyObject(r);
	if (mine)
		simlog_link_close(&own);
	return rc;
}

int
simlog_net_cluster_open(struct simlog_conn *conn, double deadline,
			struct simlog_err *err)
{
	struct simlog_url *u = &conn->url;
	int rc = -1;

	for (size_t s = 0; s < u->naddrs && rc < 0; s++) {
		int i = simlog_net_node_add(conn, u->addrs[s].host, u->addrs[s].port);

		if (i < 0)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		rc = slots_from(conn, i, deadline, err);
		if (rc < 0 && err != NULL && (err->code == SIMLOG_EX_NOPERM ||
		    err->code == SIMLOG_EX_CONFIG || err->stopped))
			break;
	}
	return rc;
}

/* Read the map again from a master we know, else from the seeds. */
static int
refresh(struct simlog_conn *conn, double deadline, struct simlog_err *err)
{
	struct simlog_net *n = conn->net;

	for (size_t i = 0; i < n->nnodes; i++)
		if (n->nodes[i].master && simlog_link_connected(&n->nodes[i].link) &&
		    slots_from(conn, (int)i, deadline, err) == 0)
			return 0;
	return simlog_net_cluster_open(conn, deadline, err);
}

int
simlog_net_cluster_node(struct simlog_conn *conn, const char *key, size_t klen,
			double deadline, struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	int i = -1;

	if (n->slots == NULL && refresh(conn, deadline, err) < 0)
		return -1;
	if (key != NULL)
		i = n->slots[simlog_net_key_slot(key, klen)];
	else
		for (size_t s = 0; s < NET_SLOTS && i < 0; s++)
			i = n->slots[s];
	if (i < 0) {
		if (refresh(conn, deadline, err) < 0)
			return -1;
		i = key ? n->slots[simlog_net_key_slot(key, klen)] : n->slots[0];
		if (i < 0)
			return simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: no "
			    "master serves the slot (CLUSTERDOWN?)",
			    conn->display);
	}
	return i;
}

int
simlog_net_cluster_redirect(struct simlog_conn *conn, const redisReply *r,
			    int script, double deadline, struct simlog_err *err)
{
	const char *s = r->str, *sp, *colon;
	int ask, slot, port, i;
	char host[256];

	if (strncmp(s, "MOVED ", 6) == 0)
		ask = 0;
	else if (strncmp(s, "ASK ", 4) == 0)
		ask = 1;
	else
		return -2;
	slot = atoi(s + (ask ? 4 : 6));
	sp = strrchr(s, ' ');
	colon = strrchr(s, ':');
	if (sp == NULL || colon == NULL || colon < sp ||
	    (size_t)(colon - sp - 1) >= sizeof(host) || slot < 0 ||
	    slot >= NET_SLOTS)
		return -2;
	memcpy(host, sp + 1, (size_t)(colon - sp - 1));
	host[colon - sp - 1] = '\0';
	port = atoi(colon + 1);
	if (!ask) {
		/* Best effort: the redirection itself is authoritative. */
		struct simlog_err ignored;

		refresh(conn, deadline, &ignored);
	}
	if ((i = simlog_net_node_add(conn, host, port)) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if (!ask) {
		conn->net->nodes[i].master = 1;
		if (conn->net->slots != NULL)
			conn->net->slots[slot] = (int16_t)i;
	}
	if (!simlog_link_connected(&conn->net->nodes[i].link) &&
	    simlog_net_node_open(conn, i, deadline, err) < 0)
		return -1;
	/* Before ASKING, which holds for the next command only. */
	if (script > 0 && simlog_net_script_ensure(&conn->net->nodes[i].link,
	    script - 1, err) < 0)
		return -1;
	if (ask) {
		const char *av[1] = { "ASKING" };

		if (simlog_link_append(&conn->net->nodes[i].link, 1, av, NULL,
		    LINK_IGNORE, 0, err) < 0)
			return -1;
	}
	return i;
}

int
simlog_conn_reachable(struct simlog_conn *conn, const char *key,
		      struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	unsigned slot;
	double now;
	int i, again = 1;

	if (n == NULL || conn->url.topo != SIMLOG_TOPO_CLUSTER ||
	    n->slots == NULL)
		return 0;
	slot = simlog_net_key_slot(key, strlen(key));
	for (;;) {
		if ((i = n->slots[slot]) < 0)
			return 0;	/* not known: the command finds out */
		now = simlog_now_mono();
		if (now < n->nodes[i].down_until)
			return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
			    "%s: node %s:%d did not answer a moment ago",
			    conn->display, n->nodes[i].host,
			    n->nodes[i].port);
		if (simlog_link_connected(&n->nodes[i].link) ||
		    simlog_net_node_open(conn, i, now + conn->timeout,
		    err) == 0)
			return 0;
		/* Before giving up on the slot: has a replica taken over? */
		n->nodes[i].down_until = simlog_now_mono() + 5;
		if (!again-- || refresh(conn, simlog_now_mono() +
		    conn->timeout, NULL) < 0 || n->slots[slot] == i)
			return -1;
	}
}

/* --- every node ----------------------------------------------------------- */

int
simlog_conn_nodes(struct simlog_conn *conn, struct simlog_node *out,
		  size_t max, size_t *n, struct simlog_err *err)
{
	struct simlog_net *net = conn->net;
	size_t i;

	*n = 0;
	if (net == NULL || net->nnodes == 0)
		return simlog_conn_error(conn, NULL, "listing nodes", err);
	if (conn->url.topo == SIMLOG_TOPO_CLUSTER && net->slots == NULL &&
	    refresh(conn, simlog_now_mono() + conn->timeout, err) < 0)
		return -1;
	for (i = 0; i < net->nnodes && *n < max; i++) {
		struct net_node *nd = &net->nodes[i];

		if (conn->url.topo == SIMLOG_TOPO_CLUSTER ? !nd->master : i > 0)
			continue;
		out[*n].index = i;
		if (conn->url.path != NULL)
			snprintf(out[*n].addr, sizeof(out[*n].addr), "%s",
			    conn->url.path);
		else
			snprintf(out[*n].addr, sizeof(out[*n].addr),
			    strchr(nd->host, ':') ? "[%s]:%d" : "%s:%d",
			    nd->host, nd->port);
		(*n)++;
	}
	return 0;
}

redisReply *
simlog_node_cmd(struct simlog_conn *conn, size_t node, struct simlog_err *err,
		int argc, const char **argv, const size_t *lens)
{
	struct simlog_net *n = conn->net;
	double deadline = simlog_now_mono() + conn->timeout;
	struct simlog_link *l;
	redisReply *r;

	if (n == NULL || node >= n->nnodes || n->ocount > 0) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "%s: no such node or "
		    "replies still owed", argv[0]);
		return NULL;
	}
	n->last = (int)node;
	l = &n->nodes[node].link;
	if (!simlog_link_connected(l) && (l->fd >= 0 ||
	    simlog_net_node_open(conn, (int)node, deadline, err) < 0)) {
		if (l->fd >= 0)
			simlog_conn_error(conn, NULL, argv[0], err);
		return NULL;
	}
	l = &n->nodes[node].link;
	if (simlog_link_append(l, argc, argv, lens, LINK_USER, 0, err) < 0 ||
	    simlog_link_recv(l, deadline, &r, err) < 0) {
		simlog_conn_error(conn, NULL, argv[0], err);
		return NULL;
	}
	return simlog_net_no_error(conn, r, argv[0], err);
}

/* Add the keys of one SCAN reply to *keys; the next cursor in *cursor. */
static int
scan_take(const redisReply *r, char *cursor, size_t clen, char ***keys,
	  size_t *n, size_t *cap)
{
	const redisReply *ks;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY)
		return -2;
	snprintf(cursor, clen, "%s", r->element[0]->str);
	ks = r->element[1];
	for (size_t i = 0; i < ks->elements; i++) {
		if (ks->element[i]->type != REDIS_REPLY_STRING)
			continue;
		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 64;
			char **q = realloc(*keys, c * sizeof(*q));

			if (q == NULL)
				return -1;
			*keys = q;
			*cap = c;
		}
		if (((*keys)[*n] = strndup(ks->element[i]->str,
		    ks->element[i]->len)) == NULL)
			return -1;
		(*n)++;
	}
	return 0;
}

/* SCAN one node for keys; 0, or -1 with err set. */
static int
scan_node(struct simlog_conn *conn, size_t node, const char *match,
	  const char *type, char ***keys, size_t *n, size_t *cap,
	  struct simlog_err *err)
{
	char cursor[32] = "0";

	do {
		const char *av[8] = { "SCAN", cursor, "MATCH", match,
		    "COUNT", "1000", "TYPE", type };
		redisReply *r = simlog_node_cmd(conn, node, err, type ? 8 : 6,
		    av, NULL);
		int rc;

		if (r == NULL)
			return -1;
		rc = scan_take(r, cursor, sizeof(cursor), keys, n, cap);
		freeReplyObject(r);
		if (rc == -1)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		if (rc == -2)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "SCAN: unexpected reply");
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

int
simlog_scan_reachable(struct simlog_conn *conn, const char *match,
		      const char *type, char ***keys, size_t *n,
		      struct simlog_err *err)
{
	struct simlog_node nodes[SIMLOG_MAX_NODES];
	struct simlog_err first = { 0 };
	size_t nn, cap = 0, down = 0;

	*keys = NULL;
	*n = 0;
	if (simlog_conn_nodes(conn, nodes, SIMLOG_MAX_NODES, &nn, err) < 0)
		return -1;
	for (size_t i = 0; i < nn; i++) {
		struct simlog_err e;

		if (scan_node(conn, nodes[i].index, match, type, keys, n, &cap,
		    &e) == 0)
			continue;
		/* A master that does not answer hides only its own keys;
		 * anything else (an ACL, no memory) is the same everywhere. */
		if (!simlog_err_transient(&e) || nn == 1) {
			if (err != NULL)
				*err = e;
			goto fail;
		}
		if (down++ == 0)
			first = e;
	}
	if (down == 0)
		return 0;
	if (down == nn) {
		if (err != NULL)
			*err = first;
		goto fail;
	}
	simlog_seterr(err, first.code, "%zu of %zu masters did not answer, "
	    "their keys are not listed: %s", down, nn, first.msg);
	return 1;
fail:
	simlog_strv_free(*keys, *n);
	*keys = NULL;
	*n = 0;
	return -1;
}

int
simlog_scan(struct simlog_conn *conn, const char *match, const char *type,
	    char ***keys, size_t *n, struct simlog_err *err)
{
	int rc = simlog_scan_reachable(conn, match, type, keys, n, err);

	if (rc > 0) {
		simlog_strv_free(*keys, *n);
		*keys = NULL;
		*n = 0;
		return -1;
	}
	return rc;
}

/* --- the sentinels, as a monitor sees them -------------------------------- */

int
simlog_conn_sentinels(struct simlog_conn *conn, struct simlog_sentinel *out,
		      size_t max, size_t *n, struct simlog_err *err)
{
	struct simlog_url *u = &conn->url;

	*n = 0;
	if (u->topo != SIMLOG_TOPO_SENTINEL)
		return simlog_seterr(err, SIMLOG_EX_USAGE, "%s is not a "
		    "sentinel URL", conn->display);
	for (size_t i = 0; i < u->naddrs && *n < max; i++) {
		struct simlog_sentinel *s = &out[(*n)++];
		struct simlog_err e;
		double t0 = simlog_now_mono();

		memset(s, 0, sizeof(*s));
		snprintf(s->addr, sizeof(s->addr), strchr(u->addrs[i].host,
		    ':') ? "[%s]:%d" : "%s:%d", u->addrs[i].host,
		    u->addrs[i].port);
		if (ask_sentinel(conn, &u->addrs[i], t0 + conn->timeout,
		    s->master, sizeof(s->master), &s->master_port, &e) < 0) {
			snprintf(s->error, sizeof(s->error), "%s", e.msg);
			s->master[0] = '\0';
			continue;
		}
		s->ok = 1;
		s->ms = (simlog_now_mono() - t0) * 1000;
	}
	return 0;
}

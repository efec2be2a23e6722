/*
 * Cluster slot routing: the slot map comes from CLUSTER SLOTS of any seed
 * that answers; a command goes to the master serving its key's slot
 * (CRC16 of the key's {hash tag}, mod 16384); MOVED updates the map (re-
 * read whole, since a moved slot seldom moves alone) and ASK sends one
 * command, after ASKING, where a migrating slot's key now lives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "net/conn.h"
#include "net/conn_int.h"
#include "util.h"

unsigned
simlog_net_cluster_slot(const char *key, size_t len)
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
	struct link_target t;
	const char *av[2] = { "CLUSTER", "SLOTS" };
	redisReply *r = NULL;
	char where[640];
	int rc = -1, mine = 0;

	snprintf(where, sizeof(where), "%s (node %s:%d)", conn->display,
	    n->nodes[i].host, n->nodes[i].port);
	simlog_link_init(&own);
	if (simlog_link_connected(l) && simlog_link_pending(l) > 0) {
		own.stop = n->stop;
		simlog_net_target(conn, n->nodes[i].host, n->nodes[i].port,
		    &t);
		if (simlog_link_open(&own, &t, deadline, err) < 0 ||
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

int
simlog_net_cluster_refresh(struct simlog_conn *conn, double deadline,
			   struct simlog_err *err)
{
	struct simlog_net *n = conn->net;

	for (size_t i = 0; i < n->nnodes; i++)
		if (n->nodes[i].master && simlog_link_connected(&n->nodes[i].link) &&
		    slots_from(conn, (int)i, deadline, err) == 0)
			return 0;
	return simlog_net_cluster_open(conn, deadline, err);
}

int
simlog_net_cluster_master(const struct simlog_conn *conn, const char *key)
{
	const struct simlog_net *n = conn->net;
	int i;

	if (n == NULL || n->slots == NULL)
		return -1;
	i = key ? n->slots[simlog_net_cluster_slot(key, strlen(key))] : -1;
	for (size_t s = 0; s < NET_SLOTS && i < 0; s++)
		i = n->slots[s];
	return i;
}

int
simlog_net_cluster_node(struct simlog_conn *conn, const char *key, size_t klen,
			double deadline, struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	int i = -1;

	if (n->slots == NULL &&
	    simlog_net_cluster_refresh(conn, deadline, err) < 0)
		return -1;
	if (key != NULL)
		i = n->slots[simlog_net_cluster_slot(key, klen)];
	else
		for (size_t s = 0; s < NET_SLOTS && i < 0; s++)
			i = n->slots[s];
	if (i < 0) {
		if (simlog_net_cluster_refresh(conn, deadline, err) < 0)
			return -1;
		i = key ? n->slots[simlog_net_cluster_slot(key, klen)] :
		    n->slots[0];
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

		simlog_net_cluster_refresh(conn, deadline, &ignored);
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
	slot = simlog_net_cluster_slot(key, strlen(key));
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
		if (!again-- || simlog_net_cluster_refresh(conn,
		    simlog_now_mono() + conn->timeout, NULL) < 0 ||
		    n->slots[slot] == i)
			return -1;
	}
}

/*
 * Behind sentinels: ask them, in the order the URL gives them, which
 * address the master has (SENTINEL get-master-addr-by-name); connect there
 * and confirm with ROLE that it is a master, since a sentinel may still
 * name a master that has just become a replica.  Any failure later
 * (closed connection, READONLY) makes the caller reconnect, which asks
 * again.  A subscription to the sentinels' +switch-master tells a writer
 * of a failover at once; a monitor asks each sentinel in turn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "net/conn.h"
#include "net/conn_int.h"
#include "util.h"

/* Ask one sentinel for the master's address. */
static int
ask_sentinel(struct simlog_conn *conn, const struct simlog_hostport *s,
	     double deadline, char *host, size_t hlen, int *port,
	     struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	struct link_target t;
	const char *av[3] = { "SENTINEL", "get-master-addr-by-name",
	    conn->url.master };
	struct simlog_link l;
	redisReply *r = NULL;
	char where[640];
	int rc = -1;

	snprintf(where, sizeof(where), "sentinel %s:%d", s->host, s->port);
	simlog_link_init(&l);
	l.stop = n->stop;
	simlog_net_target(conn, s->host, s->port, &t);
	if (simlog_link_open(&l, &t, deadline, err) < 0) {
		simlog_net_connect_failed(where, "", err);
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
		struct link_target t;
		char where[640];
		redisReply *r = NULL;

		snprintf(where, sizeof(where), "sentinel %s:%d",
		    u->addrs[s].host, u->addrs[s].port);
		simlog_net_target(conn, u->addrs[s].host, u->addrs[s].port,
		    &t);
		if (simlog_link_open(&n->watch, &t, deadline, err) < 0)
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

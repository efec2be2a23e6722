/*
 * Every node that holds data, in turn: listing them (the one server, the
 * sentinels' master, or each master of a cluster), one command to one of
 * them, and SCAN across all, going on past masters that do not answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "net/conn.h"
#include "net/conn_int.h"
#include "policy.h"
#include "util.h"

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
	    simlog_net_cluster_refresh(conn, simlog_now_mono() +
	    conn->timeout, err) < 0)
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

	if (node == SIMLOG_ANY_NODE)
		return simlog_cmd(conn, err, argc, argv, lens);
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
		if (!simlog_policy_transient(&e) || nn == 1) {
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

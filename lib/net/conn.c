/*
 * Connections to Redis as a URL names it: one server, the master a set of
 * sentinels names, or the masters of a cluster.  Each server is a node
 * with a link (lib/net/node.c); this file resolves the URL, the passwords
 * and TLS settings, opens the topology (lib/net/sentinel.c,
 * lib/net/cluster.c), routes each command to the node that holds its key
 * (following MOVED and ASK), keeps the replies of a pipeline in order
 * across nodes, and runs scripts by SHA-1 (lib/net/script.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/hiredis.h>

#include "net/conn.h"
#include "net/conn_int.h"
#include "url.h"
#include "util.h"

/* --- setting up ----------------------------------------------------------- */

static const char *
env(const char *name)
{
	const char *s = getenv(name);

	return s != NULL && *s != '\0' ? s : NULL;
}

static int
bad_url(struct simlog_conn *conn, const char *url, const char *source,
	struct simlog_err *err)
{
	char shown[300], why[SIMLOG_ERRLEN];

	(void)conn;
	simlog_url_redact(url, shown, sizeof(shown));
	snprintf(why, sizeof(why), "%s", err ? err->msg : "");
	return simlog_seterr(err, SIMLOG_EX_USAGE, "invalid %s '%s': %s",
	    source, shown, why);
}

static char *
secret(const char *file, const char *envname, const char *inline_pw,
       struct simlog_err *err, int *failed)
{
	char *s = NULL;

	*failed = 0;
	if (file != NULL) {
		if ((s = simlog_url_password_file(file, err)) == NULL)
			*failed = 1;
		return s;
	}
	if (envname != NULL && env(envname) != NULL)
		inline_pw = env(envname);
	if (inline_pw != NULL && (s = strdup(inline_pw)) == NULL) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		*failed = 1;
	}
	return s;
}

int
simlog_conn_init(struct simlog_conn *conn, const struct simlog_conn_opts *o,
		 struct simlog_err *err)
{
	const char *url = o->url, *source = o->url_name ? o->url_name : "URL";
	struct simlog_tls_opts tls = o->tls;
	struct simlog_net *n;
	int failed;

	memset(conn, 0, sizeof(*conn));
	if (url == NULL || *url == '\0') {
		url = env("SIMLOG_REDIS_URL");
		source = "SIMLOG_REDIS_URL";
	}
	if (url == NULL) {
		url = SIMLOG_DEFAULT_URL;
		source = "";
	}
	snprintf(conn->source, sizeof(conn->source), "%s", source);
	if (simlog_url_parse(url, &conn->url, err) < 0)
		return bad_url(conn, url, *source ? source : "URL", err);
	if ((n = conn->net = calloc(1, sizeof(*n))) == NULL) {
		simlog_url_clear(&conn->url);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	}
	n->stop = o->stop;
	simlog_link_init(&n->watch);
	n->watch.stop = o->stop;
	n->password = secret(o->password_file, NULL, conn->url.password, err,
	    &failed);
	if (failed)
		goto fail;
	if (conn->url.topo == SIMLOG_TOPO_SENTINEL) {
		n->sentinel_password = secret(o->sentinel_password_file,
		    "SIMLOG_SENTINEL_PASSWORD", NULL, err, &failed);
		if (failed)
			goto fail;
	}
	/* Options given for TLS with a plain URL are a mistake to say; the
	 * environment's are for the TLS URLs only. */
	if (!conn->url.tls && (tls.ca || tls.cert || tls.key ||
	    tls.server_name || tls.insecure)) {
		simlog_seterr(err, SIMLOG_EX_USAGE, "TLS options are given but "
		    "the URL does not use TLS: use rediss://, "
		    "rediss-cluster:// or rediss-sentinel://");
		goto fail;
	}
	if (o->sentinel_password_file != NULL &&
	    conn->url.topo != SIMLOG_TOPO_SENTINEL) {
		simlog_seterr(err, SIMLOG_EX_USAGE, "--sentinel-password-file "
		    "is for redis-sentinel:// and rediss-sentinel:// URLs");
		goto fail;
	}
	if (tls.ca == NULL)
		tls.ca = env("SIMLOG_TLS_CA");
	if (tls.cert == NULL)
		tls.cert = env("SIMLOG_TLS_CERT");
	if (tls.key == NULL)
		tls.key = env("SIMLOG_TLS_KEY");
	if (conn->url.tls) {
		if ((n->tls = simlog_tls_new(&tls, err)) == NULL)
			goto fail;
		if (tls.server_name != NULL &&
		    (n->server_name = strdup(tls.server_name)) == NULL) {
			simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
			goto fail;
		}
	}
	simlog_url_format(&conn->url, conn->display, sizeof(conn->display));
	conn->timeout = o->timeout > 0 ? o->timeout : 2.0;
	snprintf(conn->name, sizeof(conn->name), "%s",
	    o->name ? o->name : "simlog");
	return 0;
fail:
	simlog_conn_clear(conn);
	return -1;
}

int
simlog_conn_open(struct simlog_conn *conn, struct simlog_err *err)
{
	double deadline = simlog_now_mono() + conn->timeout;

	simlog_conn_close(conn);
	conn->net->saved.code = 0;
	conn->net->last = 0;
	switch (conn->url.topo) {
	case SIMLOG_TOPO_SENTINEL:
		return simlog_net_sentinel_open(conn, deadline, err);
	case SIMLOG_TOPO_CLUSTER:
		return simlog_net_cluster_open(conn, deadline, err);
	case SIMLOG_TOPO_SINGLE:
		break;
	}
	if (simlog_net_node_add(conn, conn->url.path ? "" : conn->url.host,
	    conn->url.port) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	return simlog_net_node_open(conn, 0, deadline, err);
}

int
simlog_conn_connected(const struct simlog_conn *conn)
{
	const struct simlog_net *n = conn->net;

	if (n == NULL || n->nnodes == 0)
		return 0;
	if (conn->url.topo == SIMLOG_TOPO_CLUSTER)
		return n->slots != NULL;
	return simlog_link_connected(&n->nodes[0].link);
}

static void
order_clear(struct simlog_net *n)
{
	for (size_t i = 0; i < n->ocount; i++)
		free(n->order[(n->ohead + i) % n->ocap].cmd);
	n->ohead = n->ocount = 0;
}

void
simlog_conn_close(struct simlog_conn *conn)
{
	struct simlog_net *n = conn ? conn->net : NULL;

	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nnodes; i++) {
		struct simlog_link *l = &n->nodes[i].link;

		/* What broke it stays known after the link has gone. */
		if (l->broken && (int)i == n->last) {
			n->saved = l->why;
			n->saved_any_reply = l->any_reply;
		}
		simlog_link_close(l);
	}
	free(n->nodes);
	n->nodes = NULL;
	n->nnodes = n->ncap = 0;
	free(n->slots);
	n->slots = NULL;
	order_clear(n);
}

void
simlog_conn_clear(struct simlog_conn *conn)
{
	struct simlog_net *n;

	if (conn == NULL)
		return;
	simlog_conn_close(conn);
	if ((n = conn->net) != NULL) {
		simlog_link_close(&n->watch);
		free(n->order);
		simlog_tls_free(n->tls);
		free(n->server_name);
		if (n->password != NULL) {
			memset(n->password, 0, strlen(n->password));
			free(n->password);
		}
		if (n->sentinel_password != NULL) {
			memset(n->sentinel_password, 0,
			    strlen(n->sentinel_password));
			free(n->sentinel_password);
		}
		free(n);
		conn->net = NULL;
	}
	simlog_url_clear(&conn->url);
}

/* --- commands ------------------------------------------------------------- */

/* The key a command is routed by, or NULL for any node. */
static const char *
cmd_key(int argc, const char **argv, const size_t *lens, size_t *klen)
{
	int k = -1;

	if (argc < 2)
		return NULL;
	if (strcasecmp(argv[0], "EVAL") == 0 ||
	    strcasecmp(argv[0], "EVALSHA") == 0 ||
	    strcasecmp(argv[0], "EVAL_RO") == 0 ||
	    strcasecmp(argv[0], "EVALSHA_RO") == 0) {
		if (argc > 3 && strcmp(argv[2], "0") != 0)
			k = 3;
	} else if (strcasecmp(argv[0], "XREAD") == 0) {
		for (int i = 1; i + 1 < argc; i++)
			if (strcasecmp(argv[i], "STREAMS") == 0) {
				k = i + 1;
				break;
			}
	} else if (strcasecmp(argv[0], "INFO") == 0 ||
	    strcasecmp(argv[0], "PING") == 0 ||
	    strcasecmp(argv[0], "CLIENT") == 0 ||
	    strcasecmp(argv[0], "CONFIG") == 0 ||
	    strcasecmp(argv[0], "SCRIPT") == 0 ||
	    strcasecmp(argv[0], "SCAN") == 0 ||
	    strcasecmp(argv[0], "TIME") == 0 ||
	    strcasecmp(argv[0], "ROLE") == 0 ||
	    strcasecmp(argv[0], "WAIT") == 0) {
		k = -1;
	} else
		k = 1;
	if (k < 0 || k >= argc)
		return NULL;
	*klen = lens ? lens[k] : strlen(argv[k]);
	return argv[k];
}

/* The node a command goes to, its link opened; -1 with err set. */
static int
route(struct simlog_conn *conn, int argc, const char **argv,
      const size_t *lens, double deadline, struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	const char *key;
	size_t klen = 0;
	int i = 0;

	if (n == NULL || n->nnodes == 0)
		return simlog_conn_error(conn, NULL, argv[0], err);
	if (conn->url.topo == SIMLOG_TOPO_CLUSTER) {
		key = cmd_key(argc, argv, lens, &klen);
		i = simlog_net_cluster_node(conn, key, klen, deadline, err);
		if (i < 0)
			return -1;
	}
	n->last = i;
	if (!simlog_link_connected(&n->nodes[i].link)) {
		if (n->nodes[i].link.fd >= 0)
			return simlog_conn_error(conn, NULL, argv[0], err);
		if (simlog_net_node_open(conn, i, deadline, err) < 0)
			return -1;
	}
	return i;
}

static int
order_push(struct simlog_net *n, int node, char *cmd, size_t len, int script)
{
	if (n->ocount == n->ocap) {
		size_t cap = n->ocap ? n->ocap * 2 : 64, i;
		struct net_pending *q = malloc(cap * sizeof(*q));

		if (q == NULL)
			return -1;
		for (i = 0; i < n->ocount; i++)
			q[i] = n->order[(n->ohead + i) % n->ocap];
		free(n->order);
		n->order = q;
		n->ocap = cap;
		n->ohead = 0;
	}
	n->order[(n->ohead + n->ocount) % n->ocap] =
	    (struct net_pending){ node, cmd, len, 0, script };
	n->ocount++;
	return 0;
}

/* Queue a command on node i; script: the id + 1 of the script an EVALSHA
 * runs (a redirection loads it where the command goes), else 0. */
static int
append_at(struct simlog_conn *conn, int i, int argc, const char **argv,
	  const size_t *lens, int script, struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	char *copy = NULL;
	size_t clen = 0;

	/* A cluster may redirect the command: keep it to send again. */
	if (conn->url.topo == SIMLOG_TOPO_CLUSTER &&
	    simlog_link_format(argc, argv, lens, &copy, &clen) < 0)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if (simlog_link_append(&n->nodes[i].link, argc, argv, lens, LINK_USER, 0,
	    err) < 0 || order_push(n, i, copy, clen, script) < 0) {
		free(copy);
		return simlog_conn_error(conn, NULL, argv[0], err);
	}
	return 0;
}

int
simlog_conn_append(struct simlog_conn *conn, int argc, const char **argv,
		   const size_t *lens, struct simlog_err *err)
{
	double deadline = simlog_now_mono() + conn->timeout;
	int i = route(conn, argc, argv, lens, deadline, err);

	return i < 0 ? -1 : append_at(conn, i, argc, argv, lens, 0, err);
}

int
simlog_conn_append_to(struct simlog_conn *conn, const char *key, int argc,
		      const char **argv, const size_t *lens,
		      struct simlog_err *err)
{
	/* Route as a command on key would be (e.g. WAIT after a write). */
	const char *rv[2] = { "GET", key };
	double deadline = simlog_now_mono() + conn->timeout;
	int i = route(conn, 2, rv, NULL, deadline, err);

	return i < 0 ? -1 : append_at(conn, i, argc, argv, lens, 0, err);
}

int
simlog_conn_flush(struct simlog_conn *conn, struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	double deadline = simlog_now_mono() + conn->timeout;

	for (size_t i = 0; n != NULL && i < n->nnodes; i++)
		if (simlog_link_unsent(&n->nodes[i].link) > 0 &&
		    simlog_link_flush(&n->nodes[i].link, deadline, err) < 0) {
			n->last = (int)i;
			return simlog_conn_error(conn, NULL, "sending", err);
		}
	return 0;
}

uint64_t
simlog_conn_commands(const struct simlog_conn *conn)
{
	return conn->net ? conn->net->commands : 0;
}

size_t
simlog_conn_pending(const struct simlog_conn *conn)
{
	return conn->net ? conn->net->ocount : 0;
}

/* Forget every reply owed: the connection broke under them. */
static void
lose_pending(struct simlog_conn *conn)
{
	order_clear(conn->net);
	simlog_conn_close(conn);
}

/*
 * The reply r came for the oldest command owed: hand it out (1), or, when
 * a cluster redirected the command, send it where the slot lives and wait
 * again (0); -1 with err set and the connection closed.
 */
static int
settle(struct simlog_conn *conn, redisReply *r, double deadline,
       redisReply **out, struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	struct net_pending *p = &n->order[n->ohead];

	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0)
		n->nodes[p->node].link.scripts_loaded = 0;
	if (conn->url.topo == SIMLOG_TOPO_CLUSTER && p->cmd != NULL &&
	    r->type == REDIS_REPLY_ERROR && p->redirects < 5) {
		int to = simlog_net_cluster_redirect(conn, r, p->script,
		    deadline, err);

		if (to != -2) {
			freeReplyObject(r);
			if (to < 0) {
				/* What the redirection met (a node that does
				 * not answer) is what the caller is told,
				 * once the connection has gone too. */
				if (err != NULL) {
					n->saved = *err;
					n->saved_any_reply = 0;
				}
				lose_pending(conn);
				return -1;
			}
			if (simlog_link_append_raw(&n->nodes[to].link, p->cmd,
			    p->len, err) < 0) {
				n->last = to;
				simlog_conn_error(conn, NULL, "redirecting",
				    err);
				lose_pending(conn);
				return -1;
			}
			/* Sent again where the slot lives: its reply takes
			 * this one's place at the head. */
			p->node = to;
			p->redirects++;
			return 0;
		}
	}
	free(p->cmd);
	n->ohead = (n->ohead + 1) % n->ocap;
	n->ocount--;
	*out = r;
	return 1;
}

/* Other nodes' queued commands must not wait on the one read from. */
static int
flush_others(struct simlog_conn *conn, int node, struct simlog_err *err)
{
	struct simlog_net *n = conn->net;

	for (size_t i = 0; i < n->nnodes; i++)
		if ((int)i != node && simlog_link_unsent(&n->nodes[i].link) > 0 &&
		    simlog_link_flush_some(&n->nodes[i].link, err) < 0) {
			n->last = (int)i;
			simlog_conn_error(conn, NULL, "sending", err);
			lose_pending(conn);
			return -1;
		}
	return 0;
}

int
simlog_conn_recv(struct simlog_conn *conn, double deadline, redisReply **out,
		 struct simlog_err *err)
{
	struct simlog_net *n = conn->net;

	*out = NULL;
	if (deadline <= 0)
		deadline = simlog_now_mono() + conn->timeout;
	for (;;) {
		int node, rc;
		redisReply *r;

		if (n == NULL || n->ocount == 0)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "no reply is owed");
		node = n->order[n->ohead].node;
		if (flush_others(conn, node, err) < 0)
			return -1;
		n->last = node;
		if (simlog_link_recv(&n->nodes[node].link, deadline, &r, err) < 0) {
			simlog_conn_error(conn, NULL, "reading a reply", err);
			lose_pending(conn);
			return -1;
		}
		if ((rc = settle(conn, r, deadline, out, err)) != 0)
			return rc > 0 ? 0 : -1;
	}
}

int
simlog_conn_try_recv(struct simlog_conn *conn, redisReply **out,
		     struct simlog_err *err)
{
	struct simlog_net *n = conn->net;
	double deadline = simlog_now_mono() + conn->timeout;

	*out = NULL;
	for (;;) {
		int node, rc;
		redisReply *r;

		if (n == NULL || n->ocount == 0)
			return 0;
		node = n->order[n->ohead].node;
		if (flush_others(conn, node, err) < 0)
			return -1;
		n->last = node;
		rc = simlog_link_try_recv(&n->nodes[node].link, &r, err);
		if (rc == 0)
			return 0;
		if (rc < 0) {
			simlog_conn_error(conn, NULL, "reading a reply", err);
			lose_pending(conn);
			return -1;
		}
		if ((rc = settle(conn, r, deadline, out, err)) != 0)
			return rc > 0 ? 1 : -1;
	}
}

int
simlog_conn_fd(const struct simlog_conn *conn)
{
	const struct simlog_net *n = conn->net;

	if (n == NULL || n->ocount == 0)
		return -1;
	return n->nodes[n->order[n->ohead].node].link.fd;
}

redisReply *
simlog_cmd(struct simlog_conn *conn, struct simlog_err *err, int argc,
	   const char **argv, const size_t *lens)
{
	redisReply *r;

	if (simlog_conn_pending(conn) > 0) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "%s: replies of a "
		    "pipeline are still owed", argv[0]);
		return NULL;
	}
	if (simlog_conn_append(conn, argc, argv, lens, err) < 0)
		return NULL;
	if (simlog_conn_recv(conn, 0, &r, err) < 0) {
		/* The reply's context is the command. */
		simlog_conn_error(conn, NULL, argv[0], err);
		return NULL;
	}
	return simlog_net_no_error(conn, r, argv[0], err);
}

int
simlog_script_append(struct simlog_conn *conn, struct simlog_script *s,
		     int argc, const char **argv, size_t *lens,
		     struct simlog_err *err)
{
	double deadline = simlog_now_mono() + conn->timeout;
	int node, eval;

	if (simlog_net_script_register(s, err) < 0)
		return -1;
	simlog_net_script_argv(s, 0, argv, lens);
	if ((node = route(conn, argc, argv, lens, deadline, err)) < 0)
		return -1;
	if ((eval = simlog_net_script_ensure(&conn->net->nodes[node].link,
	    s->id, err)) < 0)
		return simlog_conn_error(conn, NULL, "SCRIPT LOAD", err);
	simlog_net_script_argv(s, eval, argv, lens);
	/* A cluster may redirect the call to a node that lacks the script:
	 * the pending command remembers which script it runs. */
	return append_at(conn, node, argc, argv, lens, eval ? 0 : s->id + 1,
	    err);
}

redisReply *
simlog_script_call(struct simlog_conn *conn, struct simlog_script *s,
		   int argc, const char **argv, size_t *lens, const char *what,
		   struct simlog_err *err)
{
	redisReply *r;

	for (int tries = 0;; tries++) {
		if (simlog_conn_pending(conn) > 0) {
			simlog_seterr(err, SIMLOG_EX_SOFTWARE, "a script call "
			    "while replies of a pipeline are owed");
			return NULL;
		}
		if (simlog_script_append(conn, s, argc, argv, lens, err) < 0) {
			simlog_conn_error(conn, NULL, what, err);
			return NULL;
		}
		if (simlog_conn_recv(conn, 0, &r, err) < 0) {
			simlog_conn_error(conn, NULL, what, err);
			return NULL;
		}
		/* Lost since loaded: the next try loads it again. */
		if (tries == 0 && r->type == REDIS_REPLY_ERROR &&
		    strncmp(r->str, "NOSCRIPT", 8) == 0) {
			freeReplyObject(r);
			continue;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			simlog_conn_error(conn, r, what, err);
			freeReplyObject(r);
			return NULL;
		}
		return r;
	}
}

int
simlog_conn_replicas(const struct simlog_conn *conn, const char *key)
{
	const struct simlog_net *n = conn->net;
	int i = 0;

	if (n == NULL || n->nnodes == 0)
		return -1;
	if (conn->url.topo == SIMLOG_TOPO_CLUSTER &&
	    (i = simlog_net_cluster_master(conn, key)) < 0)
		return -1;
	return n->nodes[i].replicas;
}

void
simlog_conn_endpoint(const struct simlog_conn *conn, int with_db, char *buf,
		     size_t len)
{
	const struct simlog_url *u = &conn->url;
	struct simlog_url anon = *u;

	/* The URL without credentials names the deployment. */
	anon.user = NULL;
	anon.password = NULL;
	if (u->path != NULL)
		snprintf(buf, len, "unix://%s", u->path);
	else if (u->topo == SIMLOG_TOPO_SINGLE && !u->tls) {
		if (strchr(u->host, ':') != NULL)
			snprintf(buf, len, "redis://[%s]:%d", u->host, u->port);
		else
			snprintf(buf, len, "redis://%s:%d", u->host, u->port);
	} else {
		simlog_url_format(&anon, buf, len);
		/* Formatting puts the database last; added below. */
		if (u->topo != SIMLOG_TOPO_CLUSTER) {
			char *slash = strrchr(buf, '/');

			if (slash != NULL)
				*slash = '\0';
		}
	}
	if (with_db && u->topo != SIMLOG_TOPO_CLUSTER) {
		size_t n = strlen(buf);

		snprintf(buf + n, len - n, u->path ? "?db=%d" : "/%d", u->db);
	}
}

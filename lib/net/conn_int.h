/*
 * The inside of a struct simlog_conn: its nodes (one link each), the slot
 * map of a cluster, and the order in which a pipeline's replies are owed;
 * what the files of lib/net above the link share.  Internal to the
 * library (as curl's vtls_int.h is to its backends).  Files call downwards
 * only:
 *
 *	conn.c   the connection as simlog.h offers it: open, route, pipeline,
 *	         scripts
 *	scan.c   every master in turn: SCAN, one command to one node
 *	cluster.c, sentinel.c   finding the node a command goes to
 *	node.c   one node: connect, hello, what its failures mean
 *	script.c scripts by SHA-1, loaded once per link
 *	net.h    the link and its transports
 */
#ifndef SIMLOG_NET_CONN_INT_H
#define SIMLOG_NET_CONN_INT_H

#include "net/conn.h"
#include "net/net.h"

#define NET_SLOTS 16384

struct net_node {
	char host[256];			/* "" for a unix socket */
	int port;
	int master;			/* cluster: serves slots */
	double down_until;		/* monotonic: did not answer; not
					 * asked again before this */
	int replicas;			/* the replicas it has, as the
					 * sentinels' ROLE or the slot map
					 * said; -1 not known */
	struct simlog_link link;
};

/* A reply owed: by which node, and (cluster) the command to send again
 * where a MOVED or ASK says the key lives. */
struct net_pending {
	int node;
	char *cmd;
	size_t len;
	int redirects;
	int script;			/* EVALSHA of script id + 1, else 0 */
};

struct simlog_net {
	struct simlog_tls *tls;
	char *server_name;		/* --tls-server-name */
	char *password;
	char *sentinel_password;
	const volatile sig_atomic_t *stop;
	struct net_node *nodes;
	size_t nnodes, ncap;
	int16_t *slots;			/* cluster: slot -> node, -1 unknown */
	struct net_pending *order;	/* ring: replies owed, oldest first */
	size_t ohead, ocount, ocap;
	int last;			/* the node of the latest command */
	struct simlog_err saved;	/* what broke a link since closed */
	uint64_t commands;		/* sent on every link, in all */
	int saved_any_reply;
	/* Sentinel: a subscription to +switch-master, kept across
	 * reconnections, and the master it was confirmed at. */
	struct simlog_link watch;
	double watch_retry_at;		/* monotonic: when to open it again */
	char master_host[256];
	int master_port;
};

/* --- node.c --------------------------------------------------------------- */

/* The node at host:port, added if new; its index, or -1 out of memory. */
int simlog_net_node_add(struct simlog_conn *conn, const char *host, int port);
/* Connect node i and say hello (AUTH, SELECT, CLIENT SETNAME). */
int simlog_net_node_open(struct simlog_conn *conn, int i, double deadline,
			 struct simlog_err *err);
/* Where to connect to host:port (or the URL's unix socket), with the
 * connection's TLS settings. */
void simlog_net_target(const struct simlog_conn *conn, const char *host,
		       int port, struct link_target *t);
/* err from a connect that failed, as "cannot connect to WHERE: why" and
 * the hint; its class kept, and a stop kept a stop.  -1. */
int simlog_net_connect_failed(const char *where, const char *hint,
			      struct simlog_err *err);
/* AUTH/SELECT/CLIENT SETNAME on a fresh link (NULL/0 skip each), then a
 * PING. */
int simlog_net_hello(struct simlog_conn *conn, struct simlog_link *l,
		     const char *user, const char *password, int db,
		     const char *setname, double deadline, const char *where,
		     struct simlog_err *err);
/* An I/O failure (why) as a classed message about what. */
int simlog_net_io_error(struct simlog_conn *conn, const struct simlog_err *why,
			int any_reply, const char *what,
			struct simlog_err *err);
/* r, or NULL with err set (about what) when it is an error reply, which
 * is freed. */
struct redisReply *simlog_net_no_error(struct simlog_conn *conn,
				       struct redisReply *r, const char *what,
				       struct simlog_err *err);

/* --- script.c ------------------------------------------------------------- */

/* Give s its id and SHA-1 the first time it is used: 0, or -1. */
int simlog_net_script_register(struct simlog_script *s,
			       struct simlog_err *err);
/* argv[0..1] (and lens) for EVALSHA of s, or for EVAL of its body. */
void simlog_net_script_argv(const struct simlog_script *s, int eval,
			    const char **argv, size_t *lens);
/* Queue SCRIPT LOAD of script id on l unless it has it: 0, or 1 when l
 * must be sent the body (EVAL) instead, or -1 with err set. */
int simlog_net_script_ensure(struct simlog_link *l, int id,
			     struct simlog_err *err);

/* --- sentinel.c ----------------------------------------------------------- */

/* Find the master through the sentinels, connect, confirm with ROLE. */
int simlog_net_sentinel_open(struct simlog_conn *conn, double deadline,
			     struct simlog_err *err);

/* --- cluster.c ------------------------------------------------------------ */

/* Read the slot map from a seed node. */
int simlog_net_cluster_open(struct simlog_conn *conn, double deadline,
			    struct simlog_err *err);
/* Read the map again from a master we know, else from the seeds. */
int simlog_net_cluster_refresh(struct simlog_conn *conn, double deadline,
			       struct simlog_err *err);
/* The node serving key (NULL: any master), its link opened. */
int simlog_net_cluster_node(struct simlog_conn *conn, const char *key,
			    size_t klen, double deadline,
			    struct simlog_err *err);
/* The master the slot map names for key (NULL: any), without asking
 * anyone; -1 when not known. */
int simlog_net_cluster_master(const struct simlog_conn *conn,
			      const char *key);
/* A MOVED or ASK reply: the node to send the command to (opened; the
 * script of an EVALSHA (id + 1, or 0) loaded there if need be, then for
 * ASK an ASKING, are queued on it first); -2 when r is no redirection; -1
 * with err set. */
int simlog_net_cluster_redirect(struct simlog_conn *conn,
				const struct redisReply *r, int script,
				double deadline, struct simlog_err *err);
/* A key's hash slot (CRC16 of its {hash tag}, mod 16384). */
unsigned simlog_net_cluster_slot(const char *key, size_t len);

#endif

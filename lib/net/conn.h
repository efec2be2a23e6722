/*
 * What the library asks of a connection beyond the public handle
 * (simlog.h) (not installed): commands and pipelines, scripts, the nodes
 * behind a URL, SCAN, replicas and failover watching.  Implemented in
 * lib/net/: conn.c, script.c, scan.c, sentinel.c, cluster.c, node.c.
 */
#ifndef SIMLOG_NET_CONN_H
#define SIMLOG_NET_CONN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "simlog.h"

struct redisReply;
/*
 * Turn a failure into an error with a class: r an error reply, or NULL for
 * the connection's last I/O failure.  UNAVAILABLE for I/O, TEMPFAIL for
 * transient server states (LOADING, BUSY, OOM, READONLY during a failover,
 * ...), NOPERM for auth and ACLs, CONFIG for a setting at fault, SOFTWARE
 * otherwise.  Returns -1.
 */
int simlog_conn_error(struct simlog_conn *conn, const struct redisReply *r,
		      const char *what, struct simlog_err *err);

/* Run one command; returns the reply (free with freeReplyObject) or NULL
 * with err set.  An error reply is returned as NULL too. */
struct redisReply *simlog_cmd(struct simlog_conn *conn, struct simlog_err *err,
			      int argc, const char **argv, const size_t *lens);

/*
 * Pipelining: queue commands, then read their replies in the same order.
 * _recv waits until deadline (monotonic seconds; 0: the timeout from now)
 * and returns error replies as replies; -1 on I/O failure (then the
 * connection is closed and the replies still owed are lost).
 */
int simlog_conn_append(struct simlog_conn *conn, int argc, const char **argv,
		       const size_t *lens, struct simlog_err *err);
int simlog_conn_flush(struct simlog_conn *conn, struct simlog_err *err);
int simlog_conn_recv(struct simlog_conn *conn, double deadline,
		     struct redisReply **r, struct simlog_err *err);
size_t simlog_conn_pending(const struct simlog_conn *conn);
/* Commands sent so far, on every node (a monitor subtracts its own). */
uint64_t simlog_conn_commands(const struct simlog_conn *conn);
/* A command routed as one on key would be (WAIT after a write). */
int simlog_conn_append_to(struct simlog_conn *conn, const char *key, int argc,
			  const char **argv, const size_t *lens,
			  struct simlog_err *err);
/* For an event loop: the socket the oldest owed reply comes on (-1 when
 * none is owed), and a reply if one has come, without waiting (1, 0 none
 * yet, -1 failed as _recv). */
int simlog_conn_fd(const struct simlog_conn *conn);
int simlog_conn_try_recv(struct simlog_conn *conn, struct redisReply **r,
			 struct simlog_err *err);

/*
 * Lua scripts go by SHA-1 (EVALSHA); a connection loads each script once,
 * ahead of its first call, and falls back to EVAL if Redis lacks it.
 * Declare one with SIMLOG_SCRIPT("#!lua\n...").  argv[0] and argv[1] (and
 * lens[0], lens[1]) are filled in here; argv[2] is the number of keys.
 */
struct simlog_script {
	const char *body;
	size_t len;
	char sha[41];
	int id;				/* -1 until first used */
};
#define SIMLOG_SCRIPT(text) { text, sizeof(text) - 1, "", -1 }
int simlog_script_append(struct simlog_conn *conn, struct simlog_script *s,
			 int argc, const char **argv, size_t *lens,
			 struct simlog_err *err);
/* Call and wait; an error reply is returned as NULL with err set, its
 * message about what. */
struct redisReply *simlog_script_call(struct simlog_conn *conn,
				      struct simlog_script *s, int argc,
				      const char **argv, size_t *lens,
				      const char *what, struct simlog_err *err);

/* The servers that hold data: the one server, the sentinels' master, or
 * every master of a cluster. */
#define SIMLOG_MAX_NODES 256
struct simlog_node {
	size_t index;			/* for simlog_node_cmd */
	char addr[300];			/* host:port or the socket path */
};
int simlog_conn_nodes(struct simlog_conn *conn, struct simlog_node *out,
		      size_t max, size_t *n, struct simlog_err *err);
/* Each sentinel of a sentinel URL: whether it answers, in how long, and
 * which master it names (a connection of its own to each, closed again). */
struct simlog_sentinel {
	char addr[300];
	int ok;
	double ms;			/* the question's round trips */
	char master[256];		/* the master's host, "" if none */
	int master_port;
	char error[SIMLOG_ERRLEN];
};
int simlog_conn_sentinels(struct simlog_conn *conn, struct simlog_sentinel *out,
			  size_t max, size_t *n, struct simlog_err *err);
/* One command to one of those nodes (no pipeline may be pending), or
 * with SIMLOG_ANY_NODE where the connection routes it (simlog_cmd). */
#define SIMLOG_ANY_NODE ((size_t)-1)
struct redisReply *simlog_node_cmd(struct simlog_conn *conn, size_t node,
				   struct simlog_err *err, int argc,
				   const char **argv, const size_t *lens);
/* Every key matching a SCAN pattern (of a type, unless NULL), on every
 * node that holds data; a malloc'd array of malloc'd strings. */
int simlog_scan(struct simlog_conn *conn, const char *match, const char *type,
		char ***keys, size_t *n, struct simlog_err *err);
/* The same, going on past masters that do not answer: 0 all listed, 1
 * the keys of those that answered (err says which did not), -1 none. */
int simlog_scan_reachable(struct simlog_conn *conn, const char *match,
			  const char *type, char ***keys, size_t *n,
			  struct simlog_err *err);

/* The replicas of the master serving key (NULL: any master), as the
 * sentinels' master said in its ROLE or the cluster's slot map lists;
 * -1 when not known (plain URLs do not ask). */
int simlog_conn_replicas(const struct simlog_conn *conn, const char *key);
/*
 * Sentinel URLs: a subscription to the sentinels' +switch-master, on a
 * connection of its own that outlives reconnections.  _watch_fd is the
 * socket to poll for it (opened on the first call, and again at most
 * every 5 s after it breaks; -1 when there is none).  _watch_check reads
 * what has come, without waiting: 1 when the sentinels switched this
 * URL's master away from the one last connected (why says to where), 0
 * when not, -1 when the subscription broke.
 */
int simlog_conn_watch_fd(struct simlog_conn *conn);
int simlog_conn_watch_check(struct simlog_conn *conn, struct simlog_err *why);

/* Cluster URLs: whether the master serving key answers (its connection
 * opened if need be): 0, or -1 with err set; a master that did not is
 * not asked again for 5 s.  Always 0 for other URLs and unknown slots. */
int simlog_conn_reachable(struct simlog_conn *conn, const char *key,
			  struct simlog_err *err);

/* The server's identity for the breaker (no db) and the spool (with db),
 * never with credentials. */
void simlog_conn_endpoint(const struct simlog_conn *conn, int with_db,
			  char *buf, size_t len);


#endif

/*
 * What simlog-ping and simlog-pool-stats read from a server (not
 * installed): INFO and CONFIG GET (lib/info.c), CLIENT LIST (clients.c),
 * latency statistics (latency.c), and the checks that say whether a Redis
 * is safe as a simlog buffer (check.c).  The public part, the ping and
 * its findings, is in simlog_health.h.
 */
#ifndef SIMLOG_HEALTH_INT_H
#define SIMLOG_HEALTH_INT_H

#include <stddef.h>

#include "simlog.h"
#include "simlog_health.h"

/* --- INFO -------------------------------------------------------------- */

/*
 * Send INFO (section NULL: the default sections, which every server mode
 * answers) and return its text, malloc'd; the caller frees it.  NULL with
 * err set on failure.
 */
char *simlog_info(struct simlog_conn *conn, const char *section,
		  struct simlog_err *err);
/* The same from one node of simlog_conn_nodes() (its index), for views
 * of every master of a cluster. */
char *simlog_info_node(struct simlog_conn *conn, size_t node,
		       const char *section, struct simlog_err *err);

/*
 * The value of field in INFO text: a pointer into info and its length (up
 * to the line end), or NULL when the field is absent.  Matches whole field
 * names only ("maxmemory" is not "maxmemory_policy").
 */
const char *simlog_info_field(const char *info, const char *field,
			      size_t *len);
/* The field as a whole integer; -1 when absent or not one. */
int simlog_info_ll(const char *info, const char *field, long long *out);
/* The field copied into buf (truncated to len - 1); -1 when absent. */
int simlog_info_str(const char *info, const char *field, char *buf,
		    size_t len);

/* What simlog-ping reports about a server. */
struct simlog_server {
	char version[32];	/* redis_version; "" when unknown */
	char mode[16];		/* standalone, cluster or sentinel */
	char role[16];		/* master, replica or sentinel; "" unknown */
	long long uptime;	/* seconds; -1 when unknown */
};
void simlog_info_server(const char *info, struct simlog_server *s);

/* The connection and memory figures simlog-pool-stats reports; -1 marks a
 * field the server did not give. */
struct simlog_pool {
	long long connected_clients;
	long long maxclients;
	long long blocked_clients;
	long long rejected_connections;
	long long ops_per_sec;		/* instantaneous_ops_per_sec */
	long long total_commands;	/* total_commands_processed */
	long long used_memory;
	long long maxmemory;		/* 0: no limit */
};
void simlog_info_pool(const char *info, struct simlog_pool *p);

/* CONFIG GET of one parameter: its value, malloc'd, or NULL with err set
 * (CONFIG may be renamed away or denied by an ACL). */
char *simlog_info_config(struct simlog_conn *conn, const char *param,
			struct simlog_err *err);
char *simlog_info_config_node(struct simlog_conn *conn, size_t node,
			     const char *param, struct simlog_err *err);

/* --- latency ----------------------------------------------------------- */

struct simlog_latency {
	size_t n;
	double min, avg, p50, p99, max;	/* same unit as the samples */
};
/*
 * Statistics of v[0..n); sorts v in place.  Percentiles are nearest-rank:
 * the smallest sample with at least p % of the samples at or below it.
 * n == 0 gives all zeros.
 */
void simlog_latency_stats(double *v, size_t n, struct simlog_latency *out);
/* Nearest-rank percentile p (0 < p <= 100) of sorted[0..n); 0 if n is 0. */
double simlog_latency_percentile(const double *sorted, size_t n, double p);

/* --- CLIENT LIST ------------------------------------------------------- */

struct simlog_namecount {
	char *name;		/* CLIENT SETNAME name; "" for unnamed */
	unsigned long count;
};
struct simlog_clients {
	struct simlog_namecount *v;	/* sorted by name */
	size_t n;
	unsigned long total;		/* connections listed */
};
/* Count the connections of CLIENT LIST output text[0..len) by name. */
int simlog_clients_parse(const char *text, size_t len,
			 struct simlog_clients *out, struct simlog_err *err);
/* Send CLIENT LIST and count. */
int simlog_clients_read(struct simlog_conn *conn, struct simlog_clients *out,
			struct simlog_err *err);
int simlog_clients_read_node(struct simlog_conn *conn, size_t node,
			     struct simlog_clients *out, struct simlog_err *err);
/* Add the counts of b into a (both sorted by name, as parsed). */
int simlog_clients_add(struct simlog_clients *a, const struct simlog_clients *b,
		       struct simlog_err *err);
void simlog_clients_clear(struct simlog_clients *c);

/* Thresholds, also in simlog-ping(1). */
#define SIMLOG_CHECK_MIN_FREE_CLIENTS 32	/* free maxclients slots */
#define SIMLOG_CHECK_MIN_FREE_CLIENTS_PCT 10	/* ... or percent free */
#define SIMLOG_CHECK_MEMORY_PCT 80		/* used of maxmemory */

/*
 * Judge a server from its INFO text and its CONFIG GET save value (NULL
 * when it could not be read).  Fills out[0..max) and returns the number of
 * findings; a safe server has none.  simlog_check judges a server a plain
 * URL names; simlog_check_topo one reached through a URL of the given
 * topology (a cluster's master is no problem behind redis-cluster://).
 */
size_t simlog_check(const char *info, const char *save,
		    struct simlog_finding *out, size_t max);
size_t simlog_check_topo(const char *info, const char *save,
			 enum simlog_topo topo, struct simlog_finding *out,
			 size_t max);

/*
 * Whether the commands the tools need can run (simlog-ping --check).  A
 * command renamed away (rename-command) or missing is a problem for every
 * tool that needs it; it is found without running anything.  A command an
 * ACL rule refuses to user (NULL: "default") is a problem for the tools
 * that user is for: a user named after a tool (simlog-push, simlog-drain,
 * simlog-state, simlog-ping, simlog-pool-stats, as simlog(7) names them)
 * is for that tool, any other for every tool.  The ACL is asked in a
 * script (redis.acl_check_cmd, Redis 7.0), with keys where the tools keep
 * theirs; a user only for simlog-ping or simlog-pool-stats, which run no
 * scripts, has the reads they need run instead.  Findings go into
 * out[0..max) as simlog_check's do, *n of them; -1 with err set when the
 * server could not be asked.  _node asks one node of simlog_conn_nodes().
 */
#define SIMLOG_MAX_COMMAND_FINDINGS 64
int simlog_check_commands(struct simlog_conn *conn, const char *user,
			  struct simlog_finding *out, size_t max, size_t *n,
			  struct simlog_err *err);
int simlog_check_commands_node(struct simlog_conn *conn, size_t node,
			       const char *user, struct simlog_finding *out,
			       size_t max, size_t *n, struct simlog_err *err);


#endif

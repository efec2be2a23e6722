/*
 * simlog-pool-stats: who holds connections to Redis and how close it is
 * to maxclients, how busy and how full it is, and what simlog has buffered
 * and not yet drained; one JSON line (or a table, or OpenMetrics text) per
 * sample.  Behind a cluster or sentinel URL, each master too, and the
 * figures of all of them together.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "health.h"
#include "net/conn.h"
#include "policy.h"
#include "simlog_health.h"
#include "spool.h"
#include "util.h"

enum { OPT_WARN_AT = 0x100, OPT_SPOOL };

static const struct option longopts[] = {
	CLI_CONN_LONGOPTS,
	{ "watch", required_argument, NULL, 'w' },
	{ "count", required_argument, NULL, 'n' },
	{ "warn-at", required_argument, NULL, OPT_WARN_AT },
	{ "format", required_argument, NULL, 'f' },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(void)
{
	fputs(
"Usage: simlog-pool-stats [-u URL] [--watch SECONDS] [--count N]\n"
"                         [--warn-at FRACTION]\n"
"                         [--format json|table|openmetrics] [--spool DIR]\n"
"\n"
"Report Redis connections by client name, utilization of maxclients,\n"
"rejected connections, load, memory, and simlog's backlog per simulation\n"
"and record type, the age of its oldest record, the spool and the circuit\n"
"breaker; one JSON line per sample.\n"
"\n"
"Options:\n"
CLI_CONN_USAGE
"  -w, --watch SECONDS      sample every SECONDS until interrupted\n"
"  -n, --count N            stop after N samples (default 1, or unlimited\n"
"                           with --watch)\n"
"      --warn-at FRACTION   exit 78 if utilization reaches FRACTION (0-1)\n"
"  -f, --format FORMAT      json (default), table, or openmetrics (for\n"
"                           Prometheus and the node_exporter textfile\n"
"                           collector)\n"
"      --spool DIR          spool directory (default $SIMLOG_SPOOL_DIR, else\n"
"                           $XDG_STATE_HOME/simlog/spool)\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Exit status: 0 ok, 64 bad usage, 66 password file unreadable, 69 Redis\n"
"unreachable or lost, 70 internal error, 74 I/O error, 77 authentication\n"
"refused, 78 configuration, or utilization reached --warn-at;\n"
"see simlog-pool-stats(1).\n",
	    stdout);
}

/* One master of a cluster, or a sentinel URL's master. */
struct node_sample {
	char addr[300];
	char role[16];
	struct simlog_pool pool;
	struct simlog_clients clients;
};

struct sample {
	double wall, mono;
	struct simlog_pool pool;
	struct simlog_clients clients;
	struct simlog_backlog backlog;
	struct simlog_spool_usage spool;
	char spool_path[700];
	struct simlog_breaker_view breaker;
	unsigned commands;	/* sent after INFO, for the next average */
	unsigned infos;		/* INFO commands (one per node) */
	struct node_sample *nodes;	/* cluster or sentinel URL, else NULL */
	size_t nnodes;
};

enum format { F_JSON, F_TABLE, F_OPENMETRICS };

struct stats {
	double watch;
	long long count;	/* 0: no end */
	double warn_at;		/* 0: off */
	enum format format;
	int redraw;		/* table on a terminal: each sample in place */
	char *spool_dir;
	struct simlog_jw out;

	struct simlog_conn conn;
	struct sample cur, prev;
	int have_prev;
	int warned;
};

static void
sample_clear(struct sample *s)
{
	simlog_clients_clear(&s->clients);
	simlog_backlog_clear(&s->backlog);
	for (size_t i = 0; i < s->nnodes; i++)
		simlog_clients_clear(&s->nodes[i].clients);
	free(s->nodes);
	s->nodes = NULL;
	s->nnodes = 0;
}

/* What this host knows without Redis: the spool and the breaker. */
static int
take_local(struct stats *st, struct sample *s, struct simlog_err *e)
{
	if (simlog_spool_backlog(st->spool_dir, &st->conn, s->spool_path,
	    sizeof(s->spool_path), &s->spool, e) < 0)
		return -1;
	return simlog_breaker_peek(&st->conn, &s->breaker, e);
}

/* a += b, where -1 is "not given" and stays so. */
static void
sum_ll(long long *a, long long b)
{
	*a = *a < 0 || b < 0 ? -1 : *a + b;
}

/* The figures of every node added up (utilization is the busiest
 * node's: see utilization()). */
static int
sum_nodes(struct sample *s, struct simlog_err *e)
{
	struct simlog_pool *t = &s->pool;

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < s->nnodes; i++) {
		const struct simlog_pool *p = &s->nodes[i].pool;

		sum_ll(&t->connected_clients, p->connected_clients);
		sum_ll(&t->maxclients, p->maxclients);
		sum_ll(&t->blocked_clients, p->blocked_clients);
		sum_ll(&t->rejected_connections, p->rejected_connections);
		sum_ll(&t->ops_per_sec, p->ops_per_sec);
		sum_ll(&t->total_commands, p->total_commands);
		sum_ll(&t->used_memory, p->used_memory);
		sum_ll(&t->maxmemory, p->maxmemory);
		if (simlog_clients_add(&s->clients, &s->nodes[i].clients,
		    e) < 0)
			return -1;
	}
	return 0;
}

/* A node's failure, named by the node. */
static int
node_failed(const struct node_sample *n, struct simlog_err *e)
{
	char why[SIMLOG_ERRLEN];

	snprintf(why, sizeof(why), "%s", e->msg);
	return simlog_seterr(e, e->code, "master %s: %s", n->addr, why);
}

/*
 * Every node of a cluster or sentinel URL: INFO from each first (so that
 * everything sent after it counts as ours in the next average), then
 * what older servers lack in INFO, then CLIENT LIST from each.
 */
static int
take_nodes(struct stats *st, struct sample *s, struct simlog_err *e)
{
	struct simlog_node nodes[SIMLOG_MAX_NODES];
	uint64_t after_info;
	size_t n, i;
	char *info, *v;

	if (simlog_conn_nodes(&st->conn, nodes, SIMLOG_MAX_NODES, &n, e) < 0)
		return -1;
	if ((s->nodes = calloc(n ? n : 1, sizeof(*s->nodes))) == NULL)
		return simlog_seterr(e, SIMLOG_EX_SOFTWARE, "out of memory");
	for (i = 0; i < n; i++) {
		struct node_sample *ns = &s->nodes[s->nnodes++];

		snprintf(ns->addr, sizeof(ns->addr), "%s", nodes[i].addr);
		if ((info = simlog_info_node(&st->conn, nodes[i].index, NULL,
		    e)) == NULL)
			return node_failed(ns, e);
		s->infos++;
		simlog_info_pool(info, &ns->pool);
		simlog_info_str(info, "role", ns->role, sizeof(ns->role));
		if (strcmp(ns->role, "slave") == 0)
			snprintf(ns->role, sizeof(ns->role), "replica");
		free(info);
	}
	after_info = simlog_conn_commands(&st->conn);
	for (i = 0; i < n; i++) {
		struct node_sample *ns = &s->nodes[i];

		if (ns->pool.maxclients < 0 && (v = simlog_info_config_node(
		    &st->conn, nodes[i].index, "maxclients", e)) != NULL) {
			ns->pool.maxclients = strtoll(v, NULL, 10);
			free(v);
		}
		if (simlog_clients_read_node(&st->conn, nodes[i].index,
		    &ns->clients, e) < 0)
			return node_failed(ns, e);
	}
	if (sum_nodes(s, e) < 0 ||
	    simlog_backlog_read(&st->conn, &s->backlog, e) < 0)
		return -1;
	s->commands = (unsigned)(simlog_conn_commands(&st->conn) - after_info);
	return take_local(st, s, e);
}

/* INFO, CLIENT LIST, the backlog counters, the spool directory and the
 * breaker file. */
static int
take_sample(struct stats *st, struct sample *s, struct simlog_err *e)
{
	char *info, *v;

	memset(s, 0, sizeof(*s));
	s->wall = simlog_now_wall();
	s->mono = simlog_now_mono();
	if (st->conn.url.topo != SIMLOG_TOPO_SINGLE)
		return take_nodes(st, s, e);
	if ((info = simlog_info(&st->conn, NULL, e)) == NULL)
		return -1;
	s->infos = 1;
	simlog_info_pool(info, &s->pool);
	free(info);
	if (s->pool.maxclients < 0) {
		/* Before Redis 7, INFO did not give maxclients. */
		if ((v = simlog_info_config(&st->conn, "maxclients",
		    e)) != NULL) {
			s->pool.maxclients = strtoll(v, NULL, 10);
			free(v);
		}
		s->commands++;
	}
	if (simlog_clients_read(&st->conn, &s->clients, e) < 0)
		return -1;
	s->commands++;
	if (simlog_backlog_read(&st->conn, &s->backlog, e) < 0)
		return -1;
	s->commands += s->backlog.commands;
	return take_local(st, s, e);
}

static double
pool_utilization(const struct simlog_pool *p)
{
	if (p->connected_clients < 0 || p->maxclients <= 0)
		return -1;
	return (double)p->connected_clients / (double)p->maxclients;
}

/* The node nearest its maxclients: the one that turns clients away
 * first.  NULL for a plain URL. */
static const struct node_sample *
busiest(const struct sample *s)
{
	const struct node_sample *b = NULL;

	for (size_t i = 0; i < s->nnodes; i++)
		if (b == NULL || pool_utilization(&s->nodes[i].pool) >
		    pool_utilization(&b->pool))
			b = &s->nodes[i];
	return b;
}

static double
utilization(const struct sample *s)
{
	const struct node_sample *b = busiest(s);

	return pool_utilization(b != NULL ? &b->pool : &s->pool);
}

/* Commands per second since the previous sample, ours left out; -1 when
 * there is no previous sample or the counter went back (a restart). */
static double
ops_avg(const struct stats *st)
{
	const struct sample *a = &st->prev, *b = &st->cur;
	long long n;
	double dt;

	if (!st->have_prev || a->pool.total_commands < 0 ||
	    b->pool.total_commands < a->pool.total_commands ||
	    a->nnodes != b->nnodes)
		return -1;
	dt = b->mono - a->mono;
	/* Redis counts a command once it has run: the previous INFO shows
	 * up in this count (on each node), this one not yet. */
	n = b->pool.total_commands - a->pool.total_commands -
	    (long long)a->commands - (long long)a->infos;
	if (dt <= 0)
		return -1;
	return (double)(n > 0 ? n : 0) / dt;
}

static long long
rejected_delta(const struct stats *st)
{
	long long a = st->prev.pool.rejected_connections;
	long long b = st->cur.pool.rejected_connections;

	if (!st->have_prev || a < 0 || b < a ||
	    st->prev.nnodes != st->cur.nnodes)
		return -1;
	return b - a;
}

/* --- JSON ------------------------------------------------------------- */

/* A member that Redis may not have given (-1): null then. */
static void
j_ll(struct simlog_jw *w, const char *name, long long v)
{
	if (v < 0)
		simlog_jw_knull(w, name);
	else
		simlog_jw_kint(w, name, v);
}

static void
j_head(struct stats *st, int ok, double wall)
{
	simlog_jw_begin(&st->out);
	simlog_jw_kbool(&st->out, "ok", ok);
	simlog_jw_kdouble(&st->out, "time", wall, 3);
	simlog_jw_kstr(&st->out, "url", st->conn.display);
}

static void
j_nodes(struct simlog_jw *w, const struct sample *s)
{
	simlog_jw_key(w, "nodes");
	simlog_jw_arr(w);
	for (size_t i = 0; i < s->nnodes; i++) {
		const struct node_sample *n = &s->nodes[i];
		double u = pool_utilization(&n->pool);

		simlog_jw_obj(w);
		simlog_jw_kstr(w, "addr", n->addr);
		simlog_jw_kstr(w, "role", n->role);
		j_ll(w, "connected_clients", n->pool.connected_clients);
		j_ll(w, "maxclients", n->pool.maxclients);
		if (u < 0)
			simlog_jw_knull(w, "utilization");
		else
			simlog_jw_kdouble(w, "utilization", u, 6);
		j_ll(w, "rejected_connections", n->pool.rejected_connections);
		j_ll(w, "blocked_clients", n->pool.blocked_clients);
		simlog_jw_key(w, "clients_by_name");
		simlog_jw_obj(w);
		for (size_t j = 0; j < n->clients.n; j++)
			simlog_jw_kuint(w, n->clients.v[j].name,
			    n->clients.v[j].count);
		simlog_jw_close(w);
		j_ll(w, "ops_per_sec", n->pool.ops_per_sec);
		j_ll(w, "total_commands_processed", n->pool.total_commands);
		j_ll(w, "used_memory", n->pool.used_memory);
		j_ll(w, "maxmemory", n->pool.maxmemory);
		simlog_jw_close(w);
	}
	simlog_jw_close(w);
}

static void
j_backlog(struct simlog_jw *w, const struct simlog_backlog *b)
{
	size_t i, j;

	simlog_jw_key(w, "backlog");
	simlog_jw_obj(w);
	simlog_jw_kint(w, "records", b->records);
	simlog_jw_kint(w, "bytes", b->bytes);
	simlog_jw_key(w, "sims");
	simlog_jw_obj(w);
	for (i = 0; i < b->nsims; i++) {
		const struct simlog_backlog_sim *m = &b->sims[i];
		double age = simlog_backlog_age(b, m);

		simlog_jw_key(w, m->name);
		simlog_jw_obj(w);
		simlog_jw_kint(w, "records", m->records);
		simlog_jw_kint(w, "bytes", m->bytes);
		if (age < 0)
			simlog_jw_knull(w, "oldest_age");
		else
			simlog_jw_kdouble(w, "oldest_age", age, 3);
		simlog_jw_key(w, "types");
		simlog_jw_obj(w);
		for (j = 0; j < m->ntypes; j++) {
			simlog_jw_key(w, m->types[j].name);
			simlog_jw_obj(w);
			simlog_jw_kint(w, "records", m->types[j].records);
			simlog_jw_kint(w, "bytes", m->types[j].bytes);
			simlog_jw_close(w);
		}
		simlog_jw_close(w);
		simlog_jw_close(w);
	}
	simlog_jw_close(w);
}

static void
j_local(struct simlog_jw *w, const struct sample *s)
{
	simlog_jw_key(w, "spool");
	simlog_jw_obj(w);
	simlog_jw_kstr(w, "dir", s->spool_path);
	simlog_jw_kuint(w, "segments", s->spool.segments);
	simlog_jw_kuint(w, "bytes", s->spool.bytes);
	simlog_jw_close(w);
}

static void
j_breaker(struct simlog_jw *w, const struct sample *s)
{
	simlog_jw_key(w, "breaker");
	simlog_jw_obj(w);
	simlog_jw_kstr(w, "state", simlog_breaker_name(s->breaker.state));
	simlog_jw_kint(w, "failures", s->breaker.failures);
	if (s->breaker.state == SIMLOG_B_CLOSED)
		simlog_jw_knull(w, "opened_at");
	else
		simlog_jw_kdouble(w, "opened_at", s->breaker.opened_at, 3);
	simlog_jw_close(w);
}

static void
json_sample(struct stats *st)
{
	const struct sample *s = &st->cur;
	struct simlog_jw *w = &st->out;
	double u = utilization(s), ops = ops_avg(st);
	size_t i;

	j_head(st, 1, s->wall);
	j_ll(w, "connected_clients", s->pool.connected_clients);
	j_ll(w, "maxclients", s->pool.maxclients);
	if (u < 0)
		simlog_jw_knull(w, "utilization");
	else
		simlog_jw_kdouble(w, "utilization", u, 6);
	j_ll(w, "rejected_connections", s->pool.rejected_connections);
	j_ll(w, "rejected_connections_delta", rejected_delta(st));
	j_ll(w, "blocked_clients", s->pool.blocked_clients);
	simlog_jw_key(w, "clients_by_name");
	simlog_jw_obj(w);
	for (i = 0; i < s->clients.n; i++)
		simlog_jw_kuint(w, s->clients.v[i].name, s->clients.v[i].count);
	simlog_jw_close(w);
	j_ll(w, "ops_per_sec", s->pool.ops_per_sec);
	if (ops < 0)
		simlog_jw_knull(w, "ops_per_sec_avg");
	else
		simlog_jw_kdouble(w, "ops_per_sec_avg", ops, 1);
	j_ll(w, "total_commands_processed", s->pool.total_commands);
	j_ll(w, "used_memory", s->pool.used_memory);
	j_ll(w, "maxmemory", s->pool.maxmemory);
	if (st->conn.url.topo != SIMLOG_TOPO_SINGLE)
		j_nodes(w, s);
	j_backlog(w, &s->backlog);
	j_local(w, s);
	simlog_jw_close(w);
	j_breaker(w, s);
}

static void
json_error(struct stats *st, const struct simlog_err *e)
{
	j_head(st, 0, simlog_now_wall());
	simlog_jw_kstr(&st->out, "error", e->msg);
}

/* --- OpenMetrics ------------------------------------------------------ */

/*
 * OpenMetrics text (and Prometheus's text format, which reads it): each
 * family once, with TYPE, HELP and UNIT first, label values escaped, and
 * "# EOF" at the end.  No timestamps: the node_exporter textfile collector
 * refuses them.
 */

static void
om_family(const char *name, const char *type, const char *unit,
	  const char *help)
{
	printf("# TYPE %s %s\n", name, type);
	if (unit != NULL)
		printf("# UNIT %s %s\n", name, unit);
	printf("# HELP %s %s\n", name, help);
}

/* A label value: backslash, double quote and line feed escaped. */
static void
om_label(const char *name, const char *v, int first)
{
	printf("%s%s=\"", first ? "{" : ",", name);
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			putchar('\\');
		if (*v == '\n')
			fputs("\\n", stdout);
		else
			putchar(*v);
	}
	putchar('"');
}

/* A sample without labels; nothing when Redis did not give it. */
static void
om_ll(const char *name, const char *type, const char *unit,
      const char *help, long long v)
{
	const char *sfx = strcmp(type, "counter") == 0 ? "_total" : "";

	om_family(name, type, unit, help);
	if (v >= 0)
		printf("%s%s %lld\n", name, sfx, v);
}

static void
om_redis(const struct sample *s)
{
	size_t i;

	om_ll("simlog_redis_connected_clients", "gauge", NULL,
	    "Client connections open (INFO connected_clients).",
	    s->pool.connected_clients);
	om_family("simlog_redis_clients", "gauge", NULL,
	    "Client connections open by CLIENT SETNAME name (\"\" for none).");
	for (i = 0; i < s->clients.n; i++) {
		fputs("simlog_redis_clients", stdout);
		om_label("name", s->clients.v[i].name, 1);
		printf("} %lu\n", s->clients.v[i].count);
	}
	om_ll("simlog_redis_maxclients", "gauge", NULL,
	    "The most client connections Redis accepts.",
	    s->pool.maxclients);
	om_ll("simlog_redis_rejected_connections", "counter", NULL,
	    "Connections Redis refused at maxclients since it started.",
	    s->pool.rejected_connections);
	om_ll("simlog_redis_blocked_clients", "gauge", NULL,
	    "Connections blocked in a command such as BLPOP.",
	    s->pool.blocked_clients);
	om_ll("simlog_redis_used_memory_bytes", "gauge", "bytes",
	    "Memory Redis has allocated (INFO used_memory).",
	    s->pool.used_memory);
	om_ll("simlog_redis_maxmemory_bytes", "gauge", "bytes",
	    "Redis's memory limit; 0 for none.", s->pool.maxmemory);
}

/* Per node, behind a cluster or sentinel URL. */
static void
om_nodes(const struct sample *s)
{
	static const struct {
		const char *name, *type, *unit, *help;
		size_t off;
	} fam[] = {
		{ "simlog_redis_node_connected_clients", "gauge", NULL,
		    "Client connections open on each master.",
		    offsetof(struct simlog_pool, connected_clients) },
		{ "simlog_redis_node_maxclients", "gauge", NULL,
		    "The most client connections each master accepts.",
		    offsetof(struct simlog_pool, maxclients) },
		{ "simlog_redis_node_rejected_connections", "counter", NULL,
		    "Connections each master refused at maxclients.",
		    offsetof(struct simlog_pool, rejected_connections) },
		{ "simlog_redis_node_used_memory_bytes", "gauge", "bytes",
		    "Memory each master has allocated.",
		    offsetof(struct simlog_pool, used_memory) },
	};

	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		const char *sfx = strcmp(fam[f].type, "counter") == 0 ?
		    "_total" : "";

		om_family(fam[f].name, fam[f].type, fam[f].unit, fam[f].help);
		for (size_t i = 0; i < s->nnodes; i++) {
			long long v = *(const long long *)(const void *)
			    ((const char *)&s->nodes[i].pool + fam[f].off);

			if (v < 0)
				continue;
			printf("%s%s", fam[f].name, sfx);
			om_label("node", s->nodes[i].addr, 1);
			printf("} %lld\n", v);
		}
	}
}

static void
om_backlog(const struct simlog_backlog *b)
{
	size_t i, j;
	int bytes;

	for (bytes = 0; bytes < 2; bytes++) {
		const char *name = bytes ? "simlog_backlog_bytes" :
		    "simlog_backlog_records";

		om_family(name, "gauge", bytes ? "bytes" : NULL, bytes ?
		    "JSON text of the records buffered in Redis and not yet "
		    "drained, per simulation and record type." :
		    "Records buffered in Redis and not yet drained, per "
		    "simulation and record type.");
		for (i = 0; i < b->nsims; i++)
			for (j = 0; j < b->sims[i].ntypes; j++) {
				const struct simlog_backlog_type *t =
				    &b->sims[i].types[j];

				fputs(name, stdout);
				om_label("sim", b->sims[i].name, 1);
				om_label("type", t->name, 0);
				printf("} %lld\n", bytes ? t->bytes : t->records);
			}
	}
	om_family("simlog_backlog_oldest_age_seconds", "gauge", "seconds",
	    "How long the oldest record buffered for a simulation has waited "
	    "(the drain's lag), by Redis's clock.");
	for (i = 0; i < b->nsims; i++) {
		double age = simlog_backlog_age(b, &b->sims[i]);

		if (age < 0)
			continue;
		fputs("simlog_backlog_oldest_age_seconds", stdout);
		om_label("sim", b->sims[i].name, 1);
		printf("} %.3f\n", age);
	}
}

static void
om_local(const struct sample *s)
{
	static const enum simlog_bstate states[] = { SIMLOG_B_CLOSED,
	    SIMLOG_B_OPEN, SIMLOG_B_HALF_OPEN };
	size_t i;

	om_ll("simlog_spool_segments", "gauge", NULL,
	    "Spool files on this host waiting to be replayed into this Redis.",
	    (long long)s->spool.segments);
	om_ll("simlog_spool_bytes", "gauge", "bytes",
	    "Bytes of the spool files on this host for this Redis.",
	    (long long)s->spool.bytes);
	om_family("simlog_breaker_state", "gauge", NULL,
	    "The circuit breaker the simlog tools share for this Redis: 1 "
	    "for its state.");
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		fputs("simlog_breaker_state", stdout);
		om_label("state", simlog_breaker_name(states[i]), 1);
		printf("} %d\n", s->breaker.state == states[i]);
	}
	om_ll("simlog_breaker_failures", "gauge", NULL,
	    "Consecutive failures the circuit breaker has counted.",
	    s->breaker.failures);
}

/* A whole exposition; without Redis (up 0) only what this host knows. */
static void
om_sample(const struct sample *s, int up, int local)
{
	om_ll("simlog_redis_up", "gauge", NULL,
	    "1 if Redis answered this sample, else 0.", up);
	if (up) {
		om_redis(s);
		if (s->nodes != NULL)
			om_nodes(s);
		om_backlog(&s->backlog);
	}
	if (local)
		om_local(s);
	fputs("# EOF\n", stdout);
}

/* --- table ------------------------------------------------------------ */

static const char *
human(long long v, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	int u = 0;

	if (v < 0)
		return "?";
	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lld B", v);
	else
		snprintf(buf, len, "%.1f %s", d, unit[u]);
	return buf;
}

static int
width_ll(long long v)
{
	char b[32];

	return snprintf(b, sizeof(b), "%lld", v);
}

/* A line per master, behind a cluster or sentinel URL. */
static void
table_nodes(const struct sample *s)
{
	int wa = 4;
	char h[32];

	for (size_t i = 0; i < s->nnodes; i++) {
		int w = (int)strlen(s->nodes[i].addr);

		wa = w > wa ? w : wa;
	}
	printf("\n%-*s  %-7s  %7s  %10s  %6s  %10s\n", wa, "NODE", "ROLE",
	    "CLIENTS", "MAXCLIENTS", "UTIL", "MEMORY");
	for (size_t i = 0; i < s->nnodes; i++) {
		const struct node_sample *n = &s->nodes[i];
		double u = pool_utilization(&n->pool);
		char us[16] = "?";

		if (u >= 0)
			snprintf(us, sizeof(us), "%.1f %%", u * 100);
		printf("%-*s  %-7s  %7lld  %10lld  %6s  %10s\n", wa, n->addr,
		    n->role[0] ? n->role : "?", n->pool.connected_clients,
		    n->pool.maxclients, us, human(n->pool.used_memory, h,
		    sizeof(h)));
	}
}

static void
table_sample(const struct stats *st)
{
	const struct sample *s = &st->cur;
	double u = utilization(s), ops = ops_avg(st);
	long long rd = rejected_delta(st);
	char tbuf[32], h1[32], h2[32];
	struct tm tm;
	time_t t = (time_t)s->wall;
	int wn = 4, wc = 11, ws = 3, wt = 5, wr = 7, wb = 5;
	size_t i, j;

	localtime_r(&t, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s  %s\n", tbuf, st->conn.display);
	printf("%-10s%lld of %lld", "clients", s->pool.connected_clients,
	    s->pool.maxclients);
	if (u >= 0)
		printf(" (%.1f %%)", u * 100);
	printf(", %lld blocked\n", s->pool.blocked_clients);
	printf("%-10s%lld connections", "rejected",
	    s->pool.rejected_connections);
	if (rd >= 0)
		printf(" (+%lld since the last sample)", rd);
	putchar('\n');
	printf("%-10s%lld/s", "ops", s->pool.ops_per_sec);
	if (ops >= 0)
		printf(" (%.1f/s on average since the last sample)", ops);
	putchar('\n');
	printf("%-10s%s used, ", "memory", human(s->pool.used_memory, h1,
	    sizeof(h1)));
	if (s->pool.maxmemory > 0)
		printf("maxmemory %s\n", human(s->pool.maxmemory, h2,
		    sizeof(h2)));
	else
		puts("no maxmemory");
	printf("%-10s%llu segments, %s (%s)\n", "spool",
	    (unsigned long long)s->spool.segments,
	    human((long long)s->spool.bytes, h1, sizeof(h1)), s->spool_path);

	if (s->nodes != NULL)
		table_nodes(s);
	for (i = 0; i < s->clients.n; i++) {
		int w = (int)strlen(s->clients.v[i].name);

		wn = w > wn ? w : wn;
	}
	printf("\n%-*s  %*s\n", wn, "NAME", wc, "CONNECTIONS");
	for (i = 0; i < s->clients.n; i++)
		printf("%-*s  %*lu\n", wn,
		    s->clients.v[i].name[0] ? s->clients.v[i].name : "\"\"",
		    wc, s->clients.v[i].count);

	for (i = 0; i < s->backlog.nsims; i++) {
		const struct simlog_backlog_sim *m = &s->backlog.sims[i];
		int w = (int)strlen(m->name);

		ws = w > ws ? w : ws;
		for (j = 0; j < m->ntypes; j++) {
			w = (int)strlen(m->types[j].name);
			wt = w > wt ? w : wt;
		}
	}
	wr = width_ll(s->backlog.records) > wr ?
	    width_ll(s->backlog.records) : wr;
	wb = width_ll(s->backlog.bytes) > wb ? width_ll(s->backlog.bytes) : wb;
	printf("\n%-*s  %-*s  %*s  %*s\n", ws, "SIM", wt, "TYPE", wr, "RECORDS",
	    wb, "BYTES");
	for (i = 0; i < s->backlog.nsims; i++) {
		const struct simlog_backlog_sim *m = &s->backlog.sims[i];

		for (j = 0; j < m->ntypes; j++)
			printf("%-*s  %-*s  %*lld  %*lld\n", ws, m->name, wt,
			    m->types[j].name, wr, m->types[j].records, wb,
			    m->types[j].bytes);
	}
	printf("%-*s  %-*s  %*lld  %*lld\n\n", ws, "", wt, "total", wr,
	    s->backlog.records, wb, s->backlog.bytes);
}

/* --- main loop -------------------------------------------------------- */

/* Exit status of a failure: a health monitor sees any server that does
 * not answer as unavailable, refused credentials apart. */
static int
fail_status(struct simlog_err *e)
{
	if (e->code == SIMLOG_EX_NOPERM || e->code == SIMLOG_EX_SOFTWARE ||
	    e->code == SIMLOG_EX_CONFIG || e->code == SIMLOG_EX_OSERR || e->code == SIMLOG_EX_IOERR)
		return e->code;
	return SIMLOG_EX_UNAVAILABLE;
}

/* Say why a sample failed: on standard error, and in the JSON line or the
 * OpenMetrics text (with what this host knows without Redis). */
static int
fail(struct stats *st, struct simlog_err *e)
{
	int status = fail_status(e);
	struct simlog_err le;
	struct sample s;

	switch (st->format) {
	case F_JSON:
		json_error(st, e);
		(void)cli_line_end(&st->out);
		break;
	case F_OPENMETRICS:
		memset(&s, 0, sizeof(s));
		om_sample(&s, 0, take_local(st, &s, &le) == 0);
		break;
	case F_TABLE:
		break;
	}
	warnx("%s", e->msg);
	return status;
}

/* Write a sample; 1 when the reader went away, -1 on a write error. */
static int
emit(struct stats *st)
{
	double u = utilization(&st->cur);
	int r;

	switch (st->format) {
	case F_TABLE:
		/* Home and clear, as watch(1) redraws. */
		if (st->redraw)
			fputs("\033[H\033[J", stdout);
		table_sample(st);
		break;
	case F_JSON:
		json_sample(st);
		if ((r = cli_line_end(&st->out)) != 0)
			return r;
		break;
	case F_OPENMETRICS:
		om_sample(&st->cur, 1, 1);
		break;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE)
			return 1;
		warn("write error");
		return -1;
	}
	if (st->warn_at > 0 && u >= st->warn_at) {
		const struct node_sample *b = busiest(&st->cur);

		if (b != NULL)
			warnx("%s (master %s): %lld of %lld connections in use "
			    "(%.1f %%), at or above --warn-at %g",
			    st->conn.display, b->addr,
			    b->pool.connected_clients, b->pool.maxclients,
			    u * 100, st->warn_at);
		else
			warnx("%s: %lld of %lld connections in use (%.1f %%), "
			    "at or above --warn-at %g", st->conn.display,
			    st->cur.pool.connected_clients,
			    st->cur.pool.maxclients, u * 100, st->warn_at);
		st->warned = 1;
	}
	return 0;
}

static int
run(struct stats *st)
{
	struct simlog_err e;
	double start = simlog_now_mono();
	long long i;

	/* A monitor looks once per sample, and reads the breaker without
	 * taking part in it. */
	if (simlog_conn_open(&st->conn, &e) < 0)
		return fail(st, &e);
	for (i = 0; st->count == 0 || i < st->count; i++) {
		int w;

		if (i > 0) {
			/* Keep to the schedule; a slow sample shifts it. */
			double next = start + (double)i * st->watch;
			double now = simlog_now_mono();

			if (next < now)
				start = now - (double)i * st->watch;
			else
				simlog_policy_sleep(next - now, &cli_stop);
		}
		if (cli_stop)
			break;
		if (take_sample(st, &st->cur, &e) < 0) {
			sample_clear(&st->cur);
			return fail(st, &e);
		}
		w = emit(st);
		sample_clear(&st->prev);
		st->prev = st->cur;
		st->have_prev = 1;
		memset(&st->cur, 0, sizeof(st->cur));
		if (w < 0)
			return SIMLOG_EX_IOERR;
		if (w > 0 || cli_stop)
			break;
	}
	return SIMLOG_EX_OK;
}

int
main(int argc, char **argv)
{
	struct simlog_conn_opts co = { .name = "simlog-pool-stats",
	    .timeout = 2 };
	struct stats st;
	struct simlog_err e;
	const char *spool = NULL;
	char q[CLI_QUOTE_LEN];
	int c, status, counted = 0;

	cli_protect_secrets();

	memset(&st, 0, sizeof(st));
	simlog_jw_init(&st.out, stdout);
	while ((c = getopt_long(argc, argv, "u:w:n:f:hV", longopts,
	    NULL)) != -1) {
		if (cli_conn_option(c, optarg, &co))
			continue;
		switch (c) {
		case 'w':
			st.watch = cli_seconds("--watch", optarg, 86400);
			if (st.watch <= 0)
				errx(SIMLOG_EX_USAGE, "invalid --watch: %s: "
				    "must be more than 0",
				    cli_quote(optarg, q, sizeof(q)));
			break;
		case 'n':
			st.count = cli_number("--count", optarg, 1,
			    1000000000);
			counted = 1;
			break;
		case OPT_WARN_AT:
			st.warn_at = cli_seconds("--warn-at", optarg, 1);
			if (st.warn_at <= 0)
				errx(SIMLOG_EX_USAGE, "invalid --warn-at: %s: "
				    "must be more than 0",
				    cli_quote(optarg, q, sizeof(q)));
			break;
		case 'f':
			if (strcmp(optarg, "json") == 0)
				st.format = F_JSON;
			else if (strcmp(optarg, "table") == 0)
				st.format = F_TABLE;
			else if (strcmp(optarg, "openmetrics") == 0)
				st.format = F_OPENMETRICS;
			else
				errx(SIMLOG_EX_USAGE, "invalid --format: %s: "
				    "json, table or openmetrics",
				    cli_quote(optarg, q, sizeof(q)));
			break;
		case OPT_SPOOL:
			if (*optarg == '\0')
				errx(SIMLOG_EX_USAGE, "invalid --spool: empty "
				    "path");
			spool = optarg;
			break;
		case 'h':
			usage();
			return cli_close_stdout() == 0 ? 0 : SIMLOG_EX_IOERR;
		case 'V':
			cli_version();
		default:
			cli_try_help();
		}
	}
	if (optind < argc) {
		warnx("unexpected argument %s",
		    cli_quote(argv[optind], q, sizeof(q)));
		cli_try_help();
	}
	/* One sample by default; --count without --watch: a second apart. */
	if (!counted)
		st.count = st.watch > 0 ? 0 : 1;
	if (st.watch <= 0)
		st.watch = 1;
	/* More than one table on a terminal: each in place of the last. */
	st.redraw = st.format == F_TABLE && st.count != 1 &&
	    isatty(STDOUT_FILENO);
	if ((st.spool_dir = spool ? strdup(spool) :
	    simlog_spool_default_dir()) == NULL)
		errx(SIMLOG_EX_SOFTWARE, "out of memory");
	if (simlog_conn_init(&st.conn, &co, &e) < 0)
		cli_die(&e);
	cli_signals();

	status = run(&st);
	if (status == SIMLOG_EX_OK && st.warned)
		status = SIMLOG_EX_CONFIG;
	if (cli_close_stdout() < 0 && status == SIMLOG_EX_OK)
		status = SIMLOG_EX_IOERR;
	sample_clear(&st.prev);
	sample_clear(&st.cur);
	simlog_conn_clear(&st.conn);
	free(st.spool_dir);
	return status;
}

/*
 * Is Redis there, how fast does it answer, and is it safe as a simlog
 * buffer?  simlog-ping(1)'s engine: one connection, a first PONG within
 * the wait, the PINGs timed, INFO read and (check) judged; behind a
 * cluster or sentinel URL, a look at every node.  The report is the one
 * JSON object simlog-ping prints.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "breaker.h"
#include "health.h"
#include "net/conn.h"
#include "policy.h"
#include "simlog_health.h"
#include "util.h"

#define WAIT_STEP_MIN 0.05	/* first pause between attempts in the wait */
#define WAIT_STEP_MAX 1.0

/* A finding and the node it is about ("" behind a plain URL). */
struct found {
	char node[300];
	struct simlog_finding f;
};

/* One master of a cluster, or a sentinel URL's master. */
struct node_view {
	char addr[300];
	int ok;
	double ms;			/* one PING's round trip */
	struct simlog_server server;
	int have_server;
	long long replicas;		/* connected_slaves; -1 unknown */
	size_t problems, warnings;
	char error[SIMLOG_ERRLEN];
};

struct simlog_ping {
	struct simlog_ping_opts o;
	double timeout;

	struct simlog_conn conn;
	struct simlog_policy pol;
	struct simlog_breaker brk;
	double *ms;			/* round trips, milliseconds */
	size_t n;
	int attempts;
	struct simlog_server server;
	int have_server;
	struct found *found;		/* --check: every node's findings */
	size_t nfound;
	int multi;			/* a cluster or sentinel URL */
	struct node_view *nodes;
	size_t nnodes;
	struct simlog_sentinel *sentinels;
	size_t nsentinels;
	struct simlog_err node_err;	/* the first node that failed */
	int failed;			/* 0, FAILED_RUN or FAILED_NODE */
	struct simlog_err err;		/* why, when the run failed */
};

enum { FAILED_RUN = 1, FAILED_NODE };

static int
stopped(const struct simlog_ping *p)
{
	return p->o.stop != NULL && *p->o.stop;
}

/* Diagnostics go to the caller's say, if any. */
#define tell(p, ...) simlog_say((p)->o.say, (p)->o.say_arg, __VA_ARGS__)

/* One PING; its round trip in milliseconds into *ms. */
static int
ping_once(struct simlog_ping *p, double *ms, struct simlog_err *e)
{
	const char *av[1] = { "PING" };
	struct timespec t0, t1;
	redisReply *r;
	int ok;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = simlog_cmd(&p->conn, e, 1, av, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r == NULL)
		return -1;
	ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
	freeReplyObject(r);
	if (!ok)
		return simlog_seterr(e, SIMLOG_EX_UNAVAILABLE,
		    "%s: PING: unexpected reply", p->conn.display);
	*ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	return 0;
}

/*
 * Connect and get a first PONG, trying again for --wait seconds while the
 * failure may pass (refused, timed out, loading, too many clients), as the
 * library's policy does: backoff from 0.05 s to 1 s.  A ping always tries,
 * even through an open circuit breaker, and closes it when Redis answers.
 */
static int
reach(struct simlog_ping *p, struct simlog_err *e)
{
	int attempt = 0;

	p->pol.give_up_at = simlog_now_mono() + p->o.wait;
	for (;;) {
		double left = p->pol.give_up_at - simlog_now_mono();

		p->attempts++;
		/* An attempt must not outlast the wait. */
		p->conn.timeout = p->o.wait > 0 && left > 0 && left < p->timeout ?
		    left : p->timeout;
		if (simlog_policy_connect(&p->conn, &p->pol, e) >= 0 &&
		    ping_once(p, &p->ms[0], e) == 0) {
			p->n = 1;
			p->conn.timeout = p->timeout;
			return 0;
		}
		if (!simlog_policy_failed(&p->conn, &p->pol, &attempt, e))
			return -1;
	}
}

static int
ping_rest(struct simlog_ping *p, struct simlog_err *e)
{
	while (p->n < (size_t)p->o.count && !stopped(p)) {
		if (p->o.interval > 0)
			simlog_policy_sleep(p->o.interval, p->o.stop);
		if (stopped(p))
			break;
		if (ping_once(p, &p->ms[p->n], e) < 0)
			return -1;
		p->n++;
	}
	return 0;
}

/* Keep a node's findings (node "" for the one server of a plain URL). */
static int
keep_findings(struct simlog_ping *p, const char *node,
	      const struct simlog_finding *f, size_t n, struct simlog_err *e)
{
	struct found *v;

	if (n == 0)
		return 0;
	if ((v = realloc(p->found, (p->nfound + n) * sizeof(*v))) == NULL)
		return simlog_seterr(e, SIMLOG_EX_SOFTWARE, "out of memory");
	p->found = v;
	for (size_t i = 0; i < n; i++) {
		snprintf(v[p->nfound].node, sizeof(v[p->nfound].node), "%s",
		    node);
		v[p->nfound++].f = f[i];
	}
	return 0;
}

/* Judge a server from its INFO (and CONFIG GET save, read only when AOF
 * is off; CONFIG may be denied), for the topology the URL names. */
static int
judge(struct simlog_ping *p, size_t node, const char *addr, const char *info,
      size_t *problems, size_t *warnings, struct simlog_err *e)
{
	struct simlog_finding f[SIMLOG_MAX_FINDINGS + SIMLOG_MAX_COMMAND_FINDINGS];
	struct simlog_server srv;
	struct simlog_err se;
	char *save;
	long long aof;
	size_t n, nc = 0;

	save = p->multi ? simlog_info_config_node(&p->conn, node, "save", &se) :
	    simlog_info_config(&p->conn, "save", &se);
	if (save == NULL && simlog_info_ll(info, "aof_enabled", &aof) == 0 &&
	    aof == 0) {
		if (p->multi)
			tell(p, "%s: cannot read the RDB save schedule: %s",
			    addr, se.msg);
		else
			tell(p, "cannot read the RDB save schedule: %s", se.msg);
	}
	n = simlog_check_topo(info, save, p->conn.url.topo, f,
	    SIMLOG_MAX_FINDINGS);
	free(save);
	/* The commands the tools need, as this URL's user (a sentinel
	 * serves none of them, as its finding says). */
	simlog_info_server(info, &srv);
	if (strcmp(srv.mode, "sentinel") != 0 &&
	    (p->multi ? simlog_check_commands_node(&p->conn, node,
	    p->conn.url.user, f + n, SIMLOG_MAX_COMMAND_FINDINGS, &nc, e) :
	    simlog_check_commands(&p->conn, p->conn.url.user, f + n,
	    SIMLOG_MAX_COMMAND_FINDINGS, &nc, e)) < 0)
		return -1;
	n += nc;
	for (size_t i = 0; i < n; i++) {
		if (f[i].severity == SIMLOG_SEV_PROBLEM)
			(*problems)++;
		else
			(*warnings)++;
	}
	return keep_findings(p, addr, f, n, e);
}

/* One node: a PING, its INFO, and with --check its findings.  A node that
 * fails is noted in its view; -1 only when memory runs out. */
static int
look_at_node(struct simlog_ping *p, const struct simlog_node *nd,
	     struct node_view *v, struct simlog_err *e)
{
	const char *av[1] = { "PING" };
	struct simlog_err ne;
	redisReply *r;
	char *info;
	double t0;

	memset(v, 0, sizeof(*v));
	snprintf(v->addr, sizeof(v->addr), "%s", nd->addr);
	v->replicas = -1;
	/* INFO first: the PING is timed on a connection already open. */
	r = NULL;
	if ((info = simlog_info_node(&p->conn, nd->index, NULL, &ne)) == NULL ||
	    (t0 = simlog_now_mono(), (r = simlog_node_cmd(&p->conn, nd->index,
	    &ne, 1, av, NULL)) == NULL)) {
		free(info);
		snprintf(v->error, sizeof(v->error), "%s", ne.msg);
		if (p->node_err.code == 0)
			simlog_seterr(&p->node_err, ne.code, "master %s: %s",
			    v->addr, ne.msg);
		return 0;
	}
	v->ms = (simlog_now_mono() - t0) * 1e3;
	freeReplyObject(r);
	v->ok = 1;
	simlog_info_server(info, &v->server);
	v->have_server = 1;
	simlog_info_ll(info, "connected_slaves", &v->replicas);
	if (p->o.check && judge(p, nd->index, v->addr, info, &v->problems,
	    &v->warnings, &ne) < 0) {
		free(info);
		if (ne.code == SIMLOG_EX_SOFTWARE) {
			*e = ne;
			return -1;
		}
		/* It stopped answering while judged. */
		v->ok = 0;
		snprintf(v->error, sizeof(v->error), "%s", ne.msg);
		if (p->node_err.code == 0)
			simlog_seterr(&p->node_err, ne.code, "master %s: %s",
			    v->addr, ne.msg);
		return 0;
	}
	free(info);
	return 0;
}

/* With --check, what the sentinels say: each should answer and name the
 * master simlog found. */
static int
judge_sentinels(struct simlog_ping *p, struct simlog_err *e)
{
	const char *master = p->nnodes > 0 && p->nodes[0].ok ?
	    p->nodes[0].addr : NULL;

	for (size_t i = 0; i < p->nsentinels; i++) {
		const struct simlog_sentinel *s = &p->sentinels[i];
		struct simlog_finding f;
		char named[300];

		memset(&f, 0, sizeof(f));
		f.setting = "sentinel";
		snprintf(f.value, sizeof(f.value), "%.63s", s->addr);
		f.severity = SIMLOG_SEV_WARNING;
		if (!s->ok) {
			snprintf(f.why, sizeof(f.why), "does not answer (%.180s): "
			    "fewer sentinels are left to agree on a failover",
			    s->error);
		} else {
			snprintf(named, sizeof(named), strchr(s->master, ':') ?
			    "[%s]:%d" : "%s:%d", s->master, s->master_port);
			if (master == NULL || strcmp(named, master) == 0)
				continue;
			snprintf(f.why, sizeof(f.why), "names %.60s as the "
			    "master, not %.60s: a failover is under way or the "
			    "sentinel is cut off", named, master);
		}
		if (keep_findings(p, s->addr, &f, 1, e) < 0)
			return -1;
	}
	return 0;
}

/*
 * Every master of a cluster, or a sentinel URL's master and its sentinels.
 * A master that fails to answer makes the run fail (node_err) once the
 * others have been looked at; a sentinel that fails is only reported.
 */
static int
survey(struct simlog_ping *p, struct simlog_err *e)
{
	struct simlog_node *nodes;
	size_t n;
	int rc = -1;

	if ((nodes = calloc(SIMLOG_MAX_NODES, sizeof(*nodes))) == NULL)
		return simlog_seterr(e, SIMLOG_EX_SOFTWARE, "out of memory");
	if (simlog_conn_nodes(&p->conn, nodes, SIMLOG_MAX_NODES, &n, e) < 0)
		goto out;
	if ((p->nodes = calloc(n ? n : 1, sizeof(*p->nodes))) == NULL) {
		simlog_seterr(e, SIMLOG_EX_SOFTWARE, "out of memory");
		goto out;
	}
	for (p->nnodes = 0; p->nnodes < n; p->nnodes++)
		if (look_at_node(p, &nodes[p->nnodes], &p->nodes[p->nnodes],
		    e) < 0)
			goto out;
	if (p->conn.url.topo == SIMLOG_TOPO_SENTINEL) {
		size_t max = p->conn.url.naddrs;

		if ((p->sentinels = calloc(max, sizeof(*p->sentinels))) == NULL) {
			simlog_seterr(e, SIMLOG_EX_SOFTWARE, "out of memory");
			goto out;
		}
		if (simlog_conn_sentinels(&p->conn, p->sentinels, max,
		    &p->nsentinels, e) < 0)
			goto out;
		if (p->o.check && judge_sentinels(p, e) < 0)
			goto out;
	}
	rc = 0;
out:
	free(nodes);
	return rc;
}

/*
 * INFO for the server block; with --check also CONFIG GET save.  Without
 * --check an ACL that denies INFO costs only the server block.  Behind a
 * cluster or sentinel URL every node is looked at too.
 */
static int
inspect(struct simlog_ping *p, struct simlog_err *e)
{
	char *info;
	size_t problems = 0, warnings = 0;

	if ((info = simlog_info(&p->conn, NULL, e)) == NULL) {
		if (p->o.check || e->code != SIMLOG_EX_NOPERM)
			return -1;
		tell(p, "%s", e->msg);
		return 0;
	}
	simlog_info_server(info, &p->server);
	p->have_server = 1;
	if (p->multi) {
		free(info);
		return survey(p, e);
	}
	if (p->o.check && judge(p, 0, "", info, &problems, &warnings, e) < 0) {
		free(info);
		return -1;
	}
	free(info);
	return 0;
}

static void
put_server(struct simlog_jw *w, const struct simlog_server *s)
{
	simlog_jw_key(w, "server");
	if (s == NULL) {
		simlog_jw_null(w);
		return;
	}
	simlog_jw_obj(w);
	simlog_jw_kstr(w, "version", s->version);
	simlog_jw_kstr(w, "role", s->role);
	simlog_jw_kstr(w, "mode", s->mode);
	if (s->uptime >= 0)
		simlog_jw_kint(w, "uptime", s->uptime);
	else
		simlog_jw_knull(w, "uptime");
	simlog_jw_close(w);
}

static void
put_findings(struct simlog_jw *w, const struct simlog_ping *p)
{
	size_t i, problems = 0, warnings = 0;

	simlog_jw_key(w, "findings");
	simlog_jw_arr(w);
	for (i = 0; i < p->nfound; i++) {
		const struct simlog_finding *f = &p->found[i].f;

		if (f->severity == SIMLOG_SEV_PROBLEM)
			problems++;
		else
			warnings++;
		simlog_jw_obj(w);
		if (p->multi)
			simlog_jw_kstr(w, "node", p->found[i].node);
		simlog_jw_kstr(w, "setting", f->setting);
		simlog_jw_kstr(w, "value", f->value);
		simlog_jw_kstr(w, "severity",
		    simlog_ping_severity_name(f->severity));
		simlog_jw_kstr(w, "why", f->why);
		simlog_jw_close(w);
	}
	simlog_jw_close(w);
	simlog_jw_kuint(w, "problems", problems);
	simlog_jw_kuint(w, "warnings", warnings);
}

static void
put_nodes(struct simlog_jw *w, const struct simlog_ping *p)
{
	simlog_jw_key(w, "nodes");
	simlog_jw_arr(w);
	for (size_t i = 0; i < p->nnodes; i++) {
		const struct node_view *v = &p->nodes[i];

		simlog_jw_obj(w);
		simlog_jw_kstr(w, "addr", v->addr);
		simlog_jw_kbool(w, "ok", v->ok);
		if (!v->ok) {
			simlog_jw_kstr(w, "error", v->error);
			simlog_jw_close(w);
			continue;
		}
		simlog_jw_kdouble(w, "latency_ms", v->ms, 3);
		put_server(w, &v->server);
		if (v->replicas >= 0)
			simlog_jw_kint(w, "replicas", v->replicas);
		else
			simlog_jw_knull(w, "replicas");
		if (p->o.check) {
			simlog_jw_kuint(w, "problems", v->problems);
			simlog_jw_kuint(w, "warnings", v->warnings);
		}
		simlog_jw_close(w);
	}
	simlog_jw_close(w);
	if (p->conn.url.topo != SIMLOG_TOPO_SENTINEL)
		return;
	simlog_jw_key(w, "sentinels");
	simlog_jw_arr(w);
	for (size_t i = 0; i < p->nsentinels; i++) {
		const struct simlog_sentinel *s = &p->sentinels[i];
		char named[300];

		simlog_jw_obj(w);
		simlog_jw_kstr(w, "addr", s->addr);
		simlog_jw_kbool(w, "ok", s->ok);
		if (s->ok) {
			snprintf(named, sizeof(named), strchr(s->master, ':') ?
			    "[%s]:%d" : "%s:%d", s->master, s->master_port);
			simlog_jw_kdouble(w, "answer_ms", s->ms, 3);
			simlog_jw_kstr(w, "master", named);
		} else
			simlog_jw_kstr(w, "error", s->error);
		simlog_jw_close(w);
	}
	simlog_jw_close(w);
}

/* --- the engine's doors ---------------------------------------------------- */

void
simlog_ping_opts_init(struct simlog_ping_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->count = 3;
	o->interval = 0.1;
}

struct simlog_ping *
simlog_ping_new(const struct simlog_conn_opts *co,
		const struct simlog_ping_opts *o, struct simlog_err *err)
{
	struct simlog_ping *p = calloc(1, sizeof(*p));
	struct simlog_err be;
	char endpoint[700];

	if (p == NULL || (p->ms = calloc(o->count > 0 ? (size_t)o->count : 1,
	    sizeof(*p->ms))) == NULL) {
		free(p);
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	p->o = *o;
	if (p->o.count < 1)
		p->o.count = 1;
	if (simlog_policy_init(&p->pol, err) < 0 ||
	    simlog_conn_init(&p->conn, co, err) < 0) {
		free(p->ms);
		free(p);
		return NULL;
	}
	p->timeout = p->conn.timeout;
	p->multi = p->conn.url.topo != SIMLOG_TOPO_SINGLE;
	p->pol.retry.base = WAIT_STEP_MIN;
	p->pol.retry.factor = 2;
	p->pol.retry.cap = WAIT_STEP_MAX;
	p->pol.force = 1;
	p->pol.stop = o->stop;
	p->brk.fd = -1;
	simlog_conn_endpoint(&p->conn, 0, endpoint, sizeof(endpoint));
	/* Without a usable breaker directory a ping still pings. */
	if (simlog_breaker_init(&p->brk, endpoint, 0, 0, &be) == 0)
		p->pol.brk = &p->brk;
	return p;
}

int
simlog_ping_run(struct simlog_ping *p, struct simlog_err *err)
{
	if (reach(p, &p->err) < 0 || ping_rest(p, &p->err) < 0 ||
	    inspect(p, &p->err) < 0) {
		if (stopped(p) && p->n == 0)
			snprintf(p->err.msg, sizeof(p->err.msg), "%.200s: "
			    "interrupted before Redis answered",
			    p->conn.display);
		p->failed = FAILED_RUN;
	} else if (p->node_err.code != 0) {
		p->err = p->node_err;
		p->failed = FAILED_NODE;
	}
	if (!p->failed)
		return 0;
	if (err != NULL)
		*err = p->err;
	return -1;
}

void
simlog_ping_report(struct simlog_ping *p, struct simlog_jw *w)
{
	struct simlog_latency l;

	simlog_jw_begin(w);
	simlog_jw_kbool(w, "ok", !p->failed);
	simlog_jw_kstr(w, "url", p->conn.display);
	simlog_jw_kint(w, "attempts", p->attempts);
	simlog_jw_kuint(w, "pings", p->n);
	if (p->failed)
		simlog_jw_kstr(w, "error", p->err.msg);
	/* A node that failed behind a cluster or sentinel URL: the rest of
	 * the survey is still worth reading. */
	if (!p->failed || (p->multi && p->failed == FAILED_NODE)) {
		simlog_latency_stats(p->ms, p->n, &l);
		simlog_jw_key(w, "latency_ms");
		simlog_jw_obj(w);
		simlog_jw_kdouble(w, "min", l.min, 3);
		simlog_jw_kdouble(w, "avg", l.avg, 3);
		simlog_jw_kdouble(w, "p50", l.p50, 3);
		simlog_jw_kdouble(w, "p99", l.p99, 3);
		simlog_jw_kdouble(w, "max", l.max, 3);
		simlog_jw_close(w);
		put_server(w, p->have_server ? &p->server : NULL);
		if (p->multi)
			put_nodes(w, p);
		if (p->o.check)
			put_findings(w, p);
	}
}

const struct simlog_finding *
simlog_ping_finding(const struct simlog_ping *p, size_t i, const char **node)
{
	if (i >= p->nfound)
		return NULL;
	if (node != NULL)
		*node = p->multi ? p->found[i].node : NULL;
	return &p->found[i].f;
}

const char *
simlog_ping_url(const struct simlog_ping *p)
{
	return p->conn.display;
}

void
simlog_ping_free(struct simlog_ping *p)
{
	if (p == NULL)
		return;
	simlog_conn_clear(&p->conn);
	if (p->pol.brk != NULL)
		simlog_breaker_clear(&p->brk);
	free(p->ms);
	free(p->found);
	free(p->nodes);
	free(p->sentinels);
	free(p);
}

const char *
simlog_ping_severity_name(enum simlog_severity s)
{
	return s == SIMLOG_SEV_PROBLEM ? "problem" : "warning";
}

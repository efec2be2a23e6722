/*
 * Lua scripts by SHA-1.  Each connection loads a script once, pipelined
 * ahead of its first EVALSHA (so the first call costs no extra round
 * trip); a script Redis has lost (SCRIPT FLUSH, a restart, a failover to a
 * replica that never saw it) is sent again with EVAL by the blocking call,
 * and makes a pipelined call fail as transient so its caller resends it.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <hiredis/hiredis.h>

#include "net/topo.h"

#define MAX_SCRIPTS 64

static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static int nscripts;

/* Give a script its id and SHA-1 the first time it is used. */
static int
known(struct simlog_script *s, struct simlog_err *err)
{
	int id = __atomic_load_n(&s->id, __ATOMIC_ACQUIRE);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (id >= 0)
		return 0;
	pthread_mutex_lock(&registry);
	if (s->id < 0) {
		if (nscripts == MAX_SCRIPTS ||
		    EVP_Digest(s->body, s->len, md, &mdlen, EVP_sha1(),
		    NULL) != 1 || mdlen != 20) {
			pthread_mutex_unlock(&registry);
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "cannot register a script");
		}
		simlog_hex(md, 20, s->sha);
		__atomic_store_n(&s->id, nscripts++, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&registry);
	return 0;
}

/* Fill argv[0..1] for EVALSHA (or EVAL, if eval). */
static void
fill(struct simlog_script *s, int eval, const char **argv, size_t *lens)
{
	argv[0] = eval ? "EVAL" : "EVALSHA";
	argv[1] = eval ? s->body : s->sha;
	if (lens != NULL) {
		lens[0] = eval ? 4 : 7;
		lens[1] = eval ? s->len : 40;
	}
}

int
simlog_script_append(struct simlog_conn *conn, struct simlog_script *s,
		     int argc, const char **argv, size_t *lens,
		     struct simlog_err *err)
{
	double deadline = simlog_now_mono() + conn->timeout;
	struct simlog_link *l;
	uint64_t bit;
	int node, eval = 0;

	if (known(s, err) < 0)
		return -1;
	fill(s, 0, argv, lens);
	if ((node = simlog_net_route(conn, argc, argv, lens, deadline, err)) < 0)
		return -1;
	l = &conn->net->nodes[node].link;
	bit = 1ull << s->id;
	if (l->scripts_failed & bit)
		eval = 1;	/* SCRIPT LOAD refused (an ACL): send the body */
	else if (!(l->scripts_loaded & bit)) {
		const char *av[3] = { "SCRIPT", "LOAD", s->body };
		size_t lv[3] = { 6, 4, s->len };

		/* Redis runs commands in order: the EVALSHAs queued behind
		 * this find the script, and one load is enough. */
		if (simlog_link_append(l, 3, av, lv, LINK_SCRIPT_LOAD, (uint32_t)s->id,
		    err) < 0)
			return simlog_conn_error(conn, NULL, "SCRIPT LOAD", err);
		l->scripts_loaded |= bit;
	}
	fill(s, eval, argv, lens);
	return simlog_conn_append(conn, argc, argv, lens, err);
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

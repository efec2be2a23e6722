/*
 * Lua scripts by SHA-1: the registry that gives each script an id, and
 * the loading onto a link.  Each link loads a script once, pipelined ahead
 * of its first EVALSHA (so the first call costs no extra round trip); a
 * script Redis has lost (SCRIPT FLUSH, a restart, a failover to a replica
 * that never saw it) is sent again with EVAL by the blocking call, and
 * makes a pipelined call fail as transient so its caller resends it (both
 * in lib/net/conn.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <hiredis/hiredis.h>

#include "net/conn.h"
#include "net/conn_int.h"
#include "util.h"

#define MAX_SCRIPTS 64

static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static int nscripts;
static const struct simlog_script *registered[MAX_SCRIPTS];

int
simlog_net_script_register(struct simlog_script *s, struct simlog_err *err)
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
		registered[nscripts] = s;
		__atomic_store_n(&s->id, nscripts++, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&registry);
	return 0;
}

void
simlog_net_script_argv(const struct simlog_script *s, int eval,
		       const char **argv, size_t *lens)
{
	argv[0] = eval ? "EVAL" : "EVALSHA";
	argv[1] = eval ? s->body : s->sha;
	if (lens != NULL) {
		lens[0] = eval ? 4 : 7;
		lens[1] = eval ? s->len : 40;
	}
}

int
simlog_net_script_ensure(struct simlog_link *l, int id, struct simlog_err *err)
{
	const struct simlog_script *s;
	uint64_t bit = 1ull << id;

	if (l->scripts_failed & bit)
		return 1;	/* SCRIPT LOAD refused (an ACL): send the body */
	if (l->scripts_loaded & bit)
		return 0;
	pthread_mutex_lock(&registry);
	s = registered[id];
	pthread_mutex_unlock(&registry);
	{
		const char *av[3] = { "SCRIPT", "LOAD", s->body };
		size_t lv[3] = { 6, 4, s->len };

		/* Redis runs commands in order: the EVALSHAs queued behind
		 * this find the script, and one load is enough. */
		if (simlog_link_append(l, 3, av, lv, LINK_SCRIPT_LOAD,
		    (uint32_t)id, err) < 0)
			return -1;
	}
	l->scripts_loaded |= bit;
	return 0;
}

/*
 * Redis's maxmemory-policy, as simlog cares about it: a policy that may
 * evict keys may evict buffered records, which then are lost.  The writer
 * and the drain warn about one; simlog-ping's checks (lib/check.c) name
 * it.
 */
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "maxmemory.h"
#include "net/conn.h"
#include "simlog.h"

char *
simlog_maxmemory_policy(struct simlog_conn *conn)
{
	const char *av[3] = { "CONFIG", "GET", "maxmemory-policy" };
	redisReply *r;
	char *p = NULL;

	r = simlog_cmd(conn, NULL, 3, av, NULL);
	if (r == NULL)
		return NULL;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING)
		p = strdup(r->element[1]->str);
	freeReplyObject(r);
	return p;
}

int
simlog_maxmemory_evicts(const char *policy)
{
	/* volatile-* evict only keys with a TTL, and simlog's buffer keys
	 * never have one; allkeys-* can take any buffered record. */
	return strncmp(policy, "allkeys-", 8) == 0;
}

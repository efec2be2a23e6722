/*
 * What a server says about itself (health.h): INFO read and its fields
 * parsed, the server's and the pool's figures, CONFIG GET; for
 * simlog-ping and simlog-pool-stats.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "health.h"
#include "net/conn.h"
#include "simlog.h"
#include "simlog_health.h"
#include "util.h"

/* --- INFO -------------------------------------------------------------- */

static char *
info_at(struct simlog_conn *conn, size_t node, const char *section,
	struct simlog_err *err)
{
	const char *av[2] = { "INFO", section };
	redisReply *r;
	char *s;

	if ((r = simlog_node_cmd(conn, node, err, section ? 2 : 1, av,
	    NULL)) == NULL)
		return NULL;
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "INFO: unexpected reply type %d", r->type);
		freeReplyObject(r);
		return NULL;
	}
	if ((s = strndup(r->str, r->len)) == NULL)
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	freeReplyObject(r);
	return s;
}

char *
simlog_info(struct simlog_conn *conn, const char *section,
	    struct simlog_err *err)
{
	return info_at(conn, SIMLOG_ANY_NODE, section, err);
}

char *
simlog_info_node(struct simlog_conn *conn, size_t node, const char *section,
		 struct simlog_err *err)
{
	return info_at(conn, node, section, err);
}

const char *
simlog_info_field(const char *info, const char *field, size_t *len)
{
	size_t flen = strlen(field);
	const char *p = info;

	if (info == NULL)
		return NULL;
	while (*p != '\0') {
		const char *eol = p + strcspn(p, "\r\n");

		if ((size_t)(eol - p) > flen && strncmp(p, field, flen) == 0 &&
		    p[flen] == ':') {
			*len = (size_t)(eol - p) - flen - 1;
			return p + flen + 1;
		}
		p = eol;
		while (*p == '\r' || *p == '\n')
			p++;
	}
	return NULL;
}

int
simlog_info_ll(const char *info, const char *field, long long *out)
{
	const char *v, *why;
	size_t len;
	char buf[32];

	*out = -1;
	if ((v = simlog_info_field(info, field, &len)) == NULL ||
	    len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (simlog_parse_ll(buf, INT64_MIN, INT64_MAX, out, &why) < 0) {
		*out = -1;
		return -1;
	}
	return 0;
}

int
simlog_info_str(const char *info, const char *field, char *buf, size_t len)
{
	const char *v;
	size_t n;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	if ((v = simlog_info_field(info, field, &n)) == NULL)
		return -1;
	if (n >= len)
		n = len - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return 0;
}

void
simlog_info_server(const char *info, struct simlog_server *s)
{
	memset(s, 0, sizeof(*s));
	simlog_info_str(info, "redis_version", s->version, sizeof(s->version));
	if (simlog_info_str(info, "redis_mode", s->mode, sizeof(s->mode)) < 0)
		snprintf(s->mode, sizeof(s->mode), "standalone");
	simlog_info_str(info, "role", s->role, sizeof(s->role));
	/* Redis still says "slave"; the rest of its documentation says
	 * replica.  A sentinel has no replication section. */
	if (strcmp(s->role, "slave") == 0)
		snprintf(s->role, sizeof(s->role), "replica");
	if (s->role[0] == '\0' && strcmp(s->mode, "sentinel") == 0)
		snprintf(s->role, sizeof(s->role), "sentinel");
	simlog_info_ll(info, "uptime_in_seconds", &s->uptime);
}

void
simlog_info_pool(const char *info, struct simlog_pool *p)
{
	simlog_info_ll(info, "connected_clients", &p->connected_clients);
	simlog_info_ll(info, "maxclients", &p->maxclients);
	simlog_info_ll(info, "blocked_clients", &p->blocked_clients);
	simlog_info_ll(info, "rejected_connections", &p->rejected_connections);
	simlog_info_ll(info, "instantaneous_ops_per_sec", &p->ops_per_sec);
	simlog_info_ll(info, "total_commands_processed", &p->total_commands);
	simlog_info_ll(info, "used_memory", &p->used_memory);
	simlog_info_ll(info, "maxmemory", &p->maxmemory);
}

static char *
config_get_at(struct simlog_conn *conn, size_t node, const char *param,
	      struct simlog_err *err)
{
	const char *av[3] = { "CONFIG", "GET", param };
	redisReply *r;
	char *v = NULL;

	if ((r = simlog_node_cmd(conn, node, err, 3, av, NULL)) == NULL)
		return NULL;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING) {
		if ((v = strndup(r->element[1]->str,
		    r->element[1]->len)) == NULL)
			simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	} else
		simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "CONFIG GET %s: no such parameter", param);
	freeReplyObject(r);
	return v;
}

char *
simlog_info_config(struct simlog_conn *conn, const char *param,
		  struct simlog_err *err)
{
	return config_get_at(conn, SIMLOG_ANY_NODE, param, err);
}

char *
simlog_info_config_node(struct simlog_conn *conn, size_t node,
		       const char *param, struct simlog_err *err)
{
	return config_get_at(conn, node, param, err);
}

/* Redis connections: URL and password resolution, connect, AUTH, SELECT,
 * CLIENT SETNAME, and turning hiredis failures into classed errors. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/socket.h>

#include <hiredis/hiredis.h>

#include "simlog.h"

static struct timeval
tv_of(double s)
{
	struct timeval tv;

	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	if (tv.tv_sec == 0 && tv.tv_usec == 0)
		tv.tv_usec = 1000;
	return tv;
}

int
simlog_conn_init(struct simlog_conn *conn, const struct simlog_conn_opts *o,
		 struct simlog_err *err)
{
	const char *url = o->url;

	memset(conn, 0, sizeof(*conn));
	if (url == NULL || *url == '\0')
		url = getenv("SIMLOG_REDIS_URL");
	if (url == NULL || *url == '\0')
		url = SIMLOG_DEFAULT_URL;
	if (simlog_url_parse(url, &conn->url, err) < 0) {
		/* The message may not repeat the URL: it may hold a password. */
		return -1;
	}
	if (o->password_file != NULL) {
		conn->password = simlog_read_password_file(o->password_file, err);
		if (conn->password == NULL) {
			simlog_url_clear(&conn->url);
			return -1;
		}
	} else if (conn->url.password != NULL) {
		if ((conn->password = strdup(conn->url.password)) == NULL) {
			simlog_url_clear(&conn->url);
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		}
	}
	simlog_url_format(&conn->url, conn->display, sizeof(conn->display));
	conn->timeout = o->timeout > 0 ? o->timeout : 2.0;
	snprintf(conn->name, sizeof(conn->name), "%s",
	    o->name ? o->name : "simlog");
	return 0;
}

static int
has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* Error reply text to (class, words a user can act on). */
static int
classify_reply(const char *s, const char **words)
{
	*words = NULL;
	if (has_prefix(s, "NOAUTH") || has_prefix(s, "WRONGPASS") ||
	    strstr(s, "invalid password") != NULL ||
	    strstr(s, "invalid username-password") != NULL) {
		*words = "authentication failed";
		return SIMLOG_EX_NOPERM;
	}
	/* Redis 7.0 words a command a script may not run as an ERR. */
	if (has_prefix(s, "NOPERM") || strstr(s, "user executing the script "
	    "can't run this command") != NULL) {
		*words = "permission denied by Redis ACL";
		return SIMLOG_EX_NOPERM;
	}
	if (has_prefix(s, "OOM")) {
		*words = "Redis maxmemory reached (noeviction)";
		return SIMLOG_EX_TEMPFAIL;
	}
	if (strstr(s, "max number of clients reached") != NULL) {
		*words = "max number of clients reached";
		return SIMLOG_EX_TEMPFAIL;
	}
	if (has_prefix(s, "LOADING")) {
		*words = "Redis is loading its dataset";
		return SIMLOG_EX_TEMPFAIL;
	}
	if (has_prefix(s, "BUSY") || has_prefix(s, "TRYAGAIN") ||
	    has_prefix(s, "MASTERDOWN") || has_prefix(s, "CLUSTERDOWN"))
		return SIMLOG_EX_TEMPFAIL;
	if (has_prefix(s, "READONLY")) {
		*words = "Redis is a read-only replica";
		return SIMLOG_EX_CONFIG;
	}
	return SIMLOG_EX_SOFTWARE;
}

int
simlog_conn_error(struct simlog_conn *conn, const redisReply *r,
		  const char *what, struct simlog_err *err)
{
	const char *words;
	int code;

	if (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    has_prefix(r->str, "SIMLOGBACKLOG ")) {
		simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: %s", what,
		    r->str + 14);
		if (err != NULL)
			err->full = 1;
		return -1;
	}
	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		code = classify_reply(r->str, &words);
		if (words != NULL)
			simlog_seterr(err, code, "%s: %s (%s)", what, words,
			    r->str);
		else
			simlog_seterr(err, code, "%s: %s", what, r->str);
		if (err != NULL && has_prefix(r->str, "OOM"))
			err->full = 1;
		return -1;
	}
	if (conn->c == NULL)
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "%s: not connected", what);
	/* A server that refuses a client ("max number of clients reached")
	 * says why and closes; our write can fail before we read that. */
	if ((conn->c->err == REDIS_ERR_IO || conn->c->err == REDIS_ERR_EOF) &&
	    conn->c->fd >= 0) {
		char buf[256];
		ssize_t n = recv(conn->c->fd, buf, sizeof(buf) - 1,
		    MSG_PEEK | MSG_DONTWAIT);

		if (n > 1 && buf[0] == '-') {
			redisReply fake;

			buf[n] = '\0';
			buf[strcspn(buf, "\r\n")] = '\0';
			memset(&fake, 0, sizeof(fake));
			fake.type = REDIS_REPLY_ERROR;
			fake.str = buf + 1;
			fake.len = strlen(buf + 1);
			return simlog_conn_error(conn, &fake, what, err);
		}
	}
	if (conn->c->err == REDIS_ERR_IO &&
	    (strstr(conn->c->errstr, "temporarily unavailable") != NULL ||
	    strstr(conn->c->errstr, "timed out") != NULL))
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "%s: timed out after %g s", what, conn->timeout);
	if (conn->c->err == REDIS_ERR_EOF)
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "%s: Redis closed the connection", what);
	if (conn->c->err == REDIS_ERR_OOM)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "%s: out of memory", what);
	if (conn->c->err == REDIS_ERR_PROTOCOL)
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE,
		    "%s: protocol error: %s", what, conn->c->errstr);
	if (conn->c->err != 0) {
		/* hiredis's messages start with a capital; keep err(3) style. */
		char msg[128];

		snprintf(msg, sizeof(msg), "%s", conn->c->errstr);
		if (msg[0] >= 'A' && msg[0] <= 'Z' && msg[1] >= 'a')
			msg[0] = (char)(msg[0] - 'A' + 'a');
		return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE, "%s: %s",
		    what, msg);
	}
	return simlog_seterr(err, SIMLOG_EX_UNAVAILABLE, "%s: no reply", what);
}

redisReply *
simlog_cmd(struct simlog_conn *conn, struct simlog_err *err, int argc,
	   const char **argv, const size_t *lens)
{
	redisReply *r;

	if (conn->c == NULL) {
		simlog_seterr(err, SIMLOG_EX_UNAVAILABLE, "%s: not connected",
		    argv[0]);
		return NULL;
	}
	r = redisCommandArgv(conn->c, argc, argv, lens);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		simlog_conn_error(conn, r, argv[0], err);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static int
simple_cmd(struct simlog_conn *conn, struct simlog_err *err, const char *what,
	   int argc, const char **argv)
{
	redisReply *r = simlog_cmd(conn, err, argc, argv, NULL);

	if (r == NULL) {
		char msg[SIMLOG_ERRLEN];

		if (err != NULL) {
			snprintf(msg, sizeof(msg), "%s", err->msg);
			/* Replace the command name with what we were doing. */
			const char *colon = strchr(msg, ':');
			snprintf(err->msg, sizeof(err->msg), "%s%s", what,
			    colon ? colon : "");
		}
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

int
simlog_conn_open(struct simlog_conn *conn, struct simlog_err *err)
{
	struct timeval tv = tv_of(conn->timeout);
	char what[400];
	char dbs[16];

	simlog_conn_close(conn);
	snprintf(what, sizeof(what), "cannot connect to %s", conn->display);
	if (conn->url.path != NULL)
		conn->c = redisConnectUnixWithTimeout(conn->url.path, tv);
	else
		conn->c = redisConnectWithTimeout(conn->url.host,
		    conn->url.port, tv);
	if (conn->c == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "%s: out of memory", what);
	if (conn->c->err != 0) {
		simlog_conn_error(conn, NULL, what, err);
		simlog_conn_close(conn);
		return -1;
	}
	if (redisSetTimeout(conn->c, tv) != REDIS_OK) {
		simlog_conn_error(conn, NULL, what, err);
		simlog_conn_close(conn);
		return -1;
	}
	snprintf(what, sizeof(what), "%s", conn->display);
	if (conn->password != NULL) {
		const char *av[3] = { "AUTH", NULL, NULL };
		int ac = 0;

		av[ac++] = "AUTH";
		if (conn->url.user != NULL)
			av[ac++] = conn->url.user;
		av[ac++] = conn->password;
		if (simple_cmd(conn, err, what, ac, av) < 0)
			goto fail;
	}
	if (conn->url.db != 0) {
		const char *av[2] = { "SELECT", dbs };

		snprintf(dbs, sizeof(dbs), "%d", conn->url.db);
		if (simple_cmd(conn, err, what, 2, av) < 0)
			goto fail;
	}
	{
		const char *av[3] = { "CLIENT", "SETNAME", conn->name };

		if (simple_cmd(conn, err, what, 3, av) < 0)
			goto fail;
	}
	return 0;
fail:
	simlog_conn_close(conn);
	return -1;
}

void
simlog_conn_close(struct simlog_conn *conn)
{
	if (conn->c != NULL) {
		redisFree(conn->c);
		conn->c = NULL;
	}
}

void
simlog_conn_clear(struct simlog_conn *conn)
{
	if (conn == NULL)
		return;
	simlog_conn_close(conn);
	simlog_url_clear(&conn->url);
	if (conn->password != NULL) {
		memset(conn->password, 0, strlen(conn->password));
		free(conn->password);
		conn->password = NULL;
	}
}

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
simlog_policy_evicts(const char *policy)
{
	/* volatile-* evict only keys with a TTL, and simlog's buffer keys
	 * never have one; allkeys-* can take any buffered record. */
	return strncmp(policy, "allkeys-", 8) == 0;
}

void
simlog_conn_endpoint(const struct simlog_conn *conn, int with_db, char *buf,
		     size_t len)
{
	const struct simlog_url *u = &conn->url;

	if (u->path != NULL)
		snprintf(buf, len, "unix://%s", u->path);
	else if (strchr(u->host, ':') != NULL)
		snprintf(buf, len, "redis://[%s]:%d", u->host, u->port);
	else
		snprintf(buf, len, "redis://%s:%d", u->host, u->port);
	if (with_db) {
		size_t n = strlen(buf);

		snprintf(buf + n, len - n, u->path ? "?db=%d" : "/%d", u->db);
	}
}

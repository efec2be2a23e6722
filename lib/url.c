/*
 * Redis URLs (simlog(7) URLS):
 *
 *   redis[s]://[[user]:password@]host[:port][/db]
 *   unix:///path[?db=N]
 *   redis[s]-cluster://[[user]:password@]host:port[,host:port...]
 *   redis[s]-sentinel://[[user]:password@]host:port[,host:port...]/MASTER[/db]
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simlog.h"
#include "url.h"
#include "util.h"

#define MAX_ADDRS 64

static const struct scheme {
	const char *prefix;
	enum simlog_topo topo;
	int tls;
} schemes[] = {
	{ "redis://", SIMLOG_TOPO_SINGLE, 0 },
	{ "rediss://", SIMLOG_TOPO_SINGLE, 1 },
	{ "redis-cluster://", SIMLOG_TOPO_CLUSTER, 0 },
	{ "rediss-cluster://", SIMLOG_TOPO_CLUSTER, 1 },
	{ "redis-sentinel://", SIMLOG_TOPO_SENTINEL, 0 },
	{ "rediss-sentinel://", SIMLOG_TOPO_SENTINEL, 1 },
};

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into a new string; NULL on a bad escape or NUL. */
static char *
pct_decode(const char *s, size_t n)
{
	char *out, *o;
	size_t i;

	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0, o = out; i < n; i++) {
		if (s[i] == '%') {
			int h, l;

			if (i + 2 >= n)
				goto bad;
			h = hexval((unsigned char)s[i + 1]);
			l = hexval((unsigned char)s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				goto bad;
			*o++ = (char)(h << 4 | l);
			i += 2;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

static int
parse_db(const char *s, size_t n, int *db)
{
	long long v;
	const char *why;
	char buf[16];

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (simlog_parse_ll(buf, 0, 1000000, &v, &why) < 0)
		return -1;
	*db = (int)v;
	return 0;
}

static int
parse_unix(const char *s, struct simlog_url *u, struct simlog_err *err)
{
	const char *q = strchr(s, '?');
	size_t plen = q ? (size_t)(q - s) : strlen(s);

	if (plen == 0 || s[0] != '/')
		return simlog_seterr(err, SIMLOG_EX_USAGE,
		    "a unix URL needs an absolute path "
		    "(unix:///path/redis.sock)");
	if ((u->path = pct_decode(s, plen)) == NULL)
		return simlog_seterr(err, SIMLOG_EX_USAGE,
		    "bad %%-escape in the socket path");
	if (q != NULL) {
		if (strncmp(q + 1, "db=", 3) != 0 ||
		    parse_db(q + 4, strlen(q + 4), &u->db) < 0)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "a unix URL's query must be ?db=N with N a "
			    "database number");
	}
	return 0;
}

/* user:password@ before the last '@' of s[0..end): a password may hold an
 * unescaped '@'.  Returns where the hosts start, or NULL with err set. */
static const char *
parse_userinfo(const char *s, const char *end, struct simlog_url *u,
	       struct simlog_err *err)
{
	const char *at = NULL, *c;

	for (const char *p = s; p < end; p++)
		if (*p == '@')
			at = p;
	if (at == NULL)
		return s;
	if ((c = memchr(s, ':', (size_t)(at - s))) == NULL) {
		simlog_seterr(err, SIMLOG_EX_USAGE,
		    "URL user info must be user:password@ or :password@");
		return NULL;
	}
	if (c > s && (u->user = pct_decode(s, (size_t)(c - s))) == NULL) {
		simlog_seterr(err, SIMLOG_EX_USAGE,
		    "bad %%-escape in the URL's user name");
		return NULL;
	}
	if ((u->password = pct_decode(c + 1, (size_t)(at - c - 1))) == NULL) {
		simlog_seterr(err, SIMLOG_EX_USAGE,
		    "bad %%-escape in the URL's password");
		return NULL;
	}
	if (u->password[0] == '\0') {
		free(u->password);
		u->password = NULL;
	}
	return at + 1;
}

/* One host[:port] of s[0..end) into a. */
static int
parse_hostport(const char *s, const char *end, struct simlog_hostport *a,
	       int need_port, struct simlog_err *err)
{
	const char *colon;
	size_t hlen;

	a->port = 6379;
	if (*s == '[') {
		const char *rb = memchr(s, ']', (size_t)(end - s));

		if (rb == NULL)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "unterminated [ in the URL's host");
		hlen = (size_t)(rb - s - 1);
		a->host = strndup(s + 1, hlen);
		colon = rb + 1 < end ? rb + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "junk after ] in the URL's host");
	} else {
		colon = memchr(s, ':', (size_t)(end - s));
		hlen = (size_t)((colon ? colon : end) - s);
		a->host = strndup(s, hlen);
	}
	if (a->host == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if (a->host[0] == '\0')
		return simlog_seterr(err, SIMLOG_EX_USAGE, "URL has no host");
	if (colon != NULL) {
		long long p;
		const char *why;
		char buf[16];
		size_t n = (size_t)(end - colon - 1);

		if (n == 0 || n >= sizeof(buf))
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "URL port must be 1-65535");
		memcpy(buf, colon + 1, n);
		buf[n] = '\0';
		if (simlog_parse_ll(buf, 1, 65535, &p, &why) < 0)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "URL port must be 1-65535");
		a->port = (int)p;
	} else if (need_port)
		return simlog_seterr(err, SIMLOG_EX_USAGE, "every address of "
		    "a cluster or sentinel URL needs its port (host:port)");
	return 0;
}

/* host[:port][,host[:port]...] of s[0..end). */
static int
parse_addrs(const char *s, const char *end, struct simlog_url *u, int many,
	    struct simlog_err *err)
{
	if (s == end)
		return simlog_seterr(err, SIMLOG_EX_USAGE, "URL has no host");
	if ((u->addrs = calloc(MAX_ADDRS, sizeof(*u->addrs))) == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	while (s < end) {
		const char *comma = many ? memchr(s, ',', (size_t)(end - s)) :
		    NULL;
		const char *e = comma ? comma : end;

		if (u->naddrs == MAX_ADDRS)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "more than %d addresses in the URL", MAX_ADDRS);
		if (parse_hostport(s, e, &u->addrs[u->naddrs++], many, err) < 0)
			return -1;
		s = comma ? comma + 1 : end;
		if (comma != NULL && s == end)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "URL ends with a comma");
	}
	u->host = u->addrs[0].host;
	u->port = u->addrs[0].port;
	return 0;
}

static int
parse_net(const char *s, struct simlog_url *u, struct simlog_err *err)
{
	const char *slash = strchr(s, '/'), *end, *hosts, *rest;

	end = slash ? slash : s + strlen(s);
	if ((hosts = parse_userinfo(s, end, u, err)) == NULL)
		return -1;
	if (parse_addrs(hosts, end, u, u->topo != SIMLOG_TOPO_SINGLE, err) < 0)
		return -1;
	rest = slash ? slash + 1 : NULL;
	if (u->topo == SIMLOG_TOPO_SENTINEL) {
		const char *s2 = rest ? strchr(rest, '/') : NULL;
		size_t n = rest ? (s2 ? (size_t)(s2 - rest) : strlen(rest)) : 0;

		if (n == 0)
			return simlog_seterr(err, SIMLOG_EX_USAGE, "a sentinel "
			    "URL names the master after the addresses "
			    "(redis-sentinel://host:port,.../MASTER[/db])");
		if ((u->master = pct_decode(rest, n)) == NULL)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "bad %%-escape in the master name");
		rest = s2 ? s2 + 1 : NULL;
	}
	if (rest != NULL && *rest != '\0') {
		if (parse_db(rest, strlen(rest), &u->db) < 0)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "URL database must be a number after /");
		if (u->topo == SIMLOG_TOPO_CLUSTER && u->db != 0)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "Redis Cluster has only database 0");
	}
	return 0;
}

int
simlog_url_parse(const char *s, struct simlog_url *u, struct simlog_err *err)
{
	size_t i;
	int rc;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (strncmp(s, "unix://", 7) == 0) {
		rc = parse_unix(s + 7, u, err);
		goto out;
	}
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncmp(s, schemes[i].prefix,
		    strlen(schemes[i].prefix)) == 0)
			break;
	if (i == sizeof(schemes) / sizeof(schemes[0])) {
		rc = simlog_seterr(err, SIMLOG_EX_USAGE, "a URL starts with "
		    "redis://, rediss://, unix://, redis-cluster:// or "
		    "redis-sentinel://");
		goto out;
	}
	u->topo = schemes[i].topo;
	u->tls = schemes[i].tls;
	rc = parse_net(s + strlen(schemes[i].prefix), u, err);
out:
	if (rc < 0)
		simlog_url_clear(u);
	return rc;
}

void
simlog_url_clear(struct simlog_url *u)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < u->naddrs; i++)
		free(u->addrs[i].host);
	if (u->naddrs == 0)
		free(u->host);
	free(u->addrs);
	free(u->path);
	free(u->user);
	free(u->master);
	if (u->password != NULL) {
		/* Do not leave the secret lying around in freed memory. */
		memset(u->password, 0, strlen(u->password));
		free(u->password);
	}
	memset(u, 0, sizeof(*u));
}

static const char *
scheme_of(const struct simlog_url *u)
{
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (schemes[i].topo == u->topo && schemes[i].tls == u->tls)
			return schemes[i].prefix;
	return "redis://";
}

/* host:port, bracketing IPv6 literals. */
static int
put_addr(char *buf, size_t len, const char *host, int port)
{
	return snprintf(buf, len, strchr(host, ':') ? "[%s]:%d" : "%s:%d",
	    host, port);
}

/* Append to buf[0..len) what fmt says, never past the end. */
static void
cat(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
cat(char *buf, size_t len, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
}

void
simlog_url_format(const struct simlog_url *u, char *buf, size_t len)
{
	char a[300];

	if (len == 0)
		return;
	buf[0] = '\0';
	if (u->path != NULL) {
		if (u->db != 0)
			snprintf(buf, len, "unix://%s?db=%d", u->path, u->db);
		else
			snprintf(buf, len, "unix://%s", u->path);
		return;
	}
	cat(buf, len, "%s", scheme_of(u));
	if (u->user != NULL || u->password != NULL)
		cat(buf, len, "%s%s@", u->user ? u->user : "",
		    u->password ? ":***" : "");
	if (u->naddrs == 0) {
		put_addr(a, sizeof(a), u->host, u->port);
		cat(buf, len, "%s", a);
	}
	for (size_t i = 0; i < u->naddrs; i++) {
		put_addr(a, sizeof(a), u->addrs[i].host, u->addrs[i].port);
		cat(buf, len, "%s%s", i ? "," : "", a);
	}
	if (u->topo == SIMLOG_TOPO_SENTINEL)
		cat(buf, len, "/%s", u->master);
	if (u->topo != SIMLOG_TOPO_CLUSTER)
		cat(buf, len, "/%d", u->db);
}

int
simlog_url_has_password(const char *s)
{
	struct simlog_url u;
	int has;

	if (simlog_url_parse(s, &u, NULL) < 0) {
		/* Not a URL we take, yet it may still carry a secret. */
		char shown[300];

		simlog_url_redact(s, shown, sizeof(shown));
		return strcmp(shown, s) != 0;
	}
	has = u.password != NULL;
	simlog_url_clear(&u);
	return has;
}

void
simlog_url_redact(const char *s, char *buf, size_t len)
{
	const char *sep = strstr(s, "://"), *auth, *end, *at = NULL, *colon;

	if (len == 0)
		return;
	if (sep == NULL) {
		snprintf(buf, len, "%.*s", 200, s);
		return;
	}
	auth = sep + 3;
	end = auth + strcspn(auth, "/?");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon == NULL)
		snprintf(buf, len, "%.*s", 200, s);
	else
		snprintf(buf, len, "%.*s:***%.*s", (int)(colon - s), s, 200,
		    at);
}

char *
simlog_url_password_file(const char *path, struct simlog_err *err)
{
	FILE *f;
	char buf[1024];
	size_t n;

	if ((f = fopen(path, "r")) == NULL) {
		simlog_seterr(err, SIMLOG_EX_NOINPUT, "%s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		simlog_seterr(err, SIMLOG_EX_CONFIG, "%s: empty password file",
		    path);
		return NULL;
	}
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n == 0) {
		simlog_seterr(err, SIMLOG_EX_CONFIG, "%s: empty password file",
		    path);
		return NULL;
	}
	char *pw = strdup(buf);
	memset(buf, 0, sizeof(buf));
	if (pw == NULL)
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	return pw;
}

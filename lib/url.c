/* Redis URLs: redis://[[user]:password@]host[:port][/db], unix:///path[?db=N]. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simlog.h"

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
		    "unix URL needs an absolute path (unix:///path/redis.sock)");
	if ((u->path = pct_decode(s, plen)) == NULL)
		return simlog_seterr(err, SIMLOG_EX_USAGE,
		    "bad %%-escape in socket path");
	if (q != NULL) {
		if (strncmp(q + 1, "db=", 3) != 0 ||
		    parse_db(q + 4, strlen(q + 4), &u->db) < 0)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "unix URL query must be ?db=N with N a database number");
	}
	return 0;
}

static int
parse_redis(const char *s, struct simlog_url *u, struct simlog_err *err)
{
	const char *at, *hostp, *end, *slash, *colon;
	size_t hlen;

	/* Userinfo ends at the last '@' before the path: a password may
	 * contain an unescaped '@'. */
	slash = strchr(s, '/');
	end = slash ? slash : s + strlen(s);
	at = NULL;
	for (const char *p = s; p < end; p++)
		if (*p == '@')
			at = p;
	hostp = s;
	if (at != NULL) {
		const char *c = memchr(s, ':', (size_t)(at - s));

		if (c == NULL)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "URL user info must be user:password@ or :password@");
		if (c > s && (u->user = pct_decode(s, (size_t)(c - s))) == NULL)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "bad %%-escape in URL user name");
		if ((u->password = pct_decode(c + 1, (size_t)(at - c - 1))) == NULL)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "bad %%-escape in URL password");
		if (u->password[0] == '\0') {
			free(u->password);
			u->password = NULL;
		}
		hostp = at + 1;
	}
	if (*hostp == '[') {
		const char *rb = memchr(hostp, ']', (size_t)(end - hostp));

		if (rb == NULL)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "unterminated [ in URL host");
		hlen = (size_t)(rb - hostp - 1);
		u->host = strndup(hostp + 1, hlen);
		colon = rb + 1 < end ? rb + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "junk after ] in URL host");
	} else {
		colon = memchr(hostp, ':', (size_t)(end - hostp));
		hlen = (size_t)((colon ? colon : end) - hostp);
		u->host = strndup(hostp, hlen);
	}
	if (u->host == NULL)
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
	if (u->host[0] == '\0')
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
		u->port = (int)p;
	}
	if (slash != NULL && slash[1] != '\0' &&
	    parse_db(slash + 1, strlen(slash + 1), &u->db) < 0)
		return simlog_seterr(err, SIMLOG_EX_USAGE,
		    "URL database must be a number after /");
	return 0;
}

int
simlog_url_parse(const char *s, struct simlog_url *u, struct simlog_err *err)
{
	int rc;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (strncmp(s, "redis://", 8) == 0)
		rc = parse_redis(s + 8, u, err);
	else if (strncmp(s, "unix://", 7) == 0)
		rc = parse_unix(s + 7, u, err);
	else
		rc = simlog_seterr(err, SIMLOG_EX_USAGE,
		    "URL must start with redis:// or unix://");
	if (rc < 0)
		simlog_url_clear(u);
	return rc;
}

void
simlog_url_clear(struct simlog_url *u)
{
	if (u == NULL)
		return;
	free(u->host);
	free(u->path);
	free(u->user);
	if (u->password != NULL) {
		/* Do not leave the secret lying around in freed memory. */
		memset(u->password, 0, strlen(u->password));
		free(u->password);
	}
	memset(u, 0, sizeof(*u));
}

void
simlog_url_format(const struct simlog_url *u, char *buf, size_t len)
{
	const char *auth = u->password ? "***@" : "";
	const char *user = u->user ? u->user : "";
	const char *sep = (u->user && u->password) ? ":" :
	    (u->password ? ":" : "");

	if (u->path != NULL) {
		if (u->db != 0)
			snprintf(buf, len, "unix://%s?db=%d", u->path, u->db);
		else
			snprintf(buf, len, "unix://%s", u->path);
		return;
	}
	if (u->user && !u->password)
		auth = "@";
	if (strchr(u->host, ':') != NULL)
		snprintf(buf, len, "redis://%s%s%s[%s]:%d/%d", user, sep, auth,
		    u->host, u->port, u->db);
	else
		snprintf(buf, len, "redis://%s%s%s%s:%d/%d", user, sep, auth,
		    u->host, u->port, u->db);
}

int
simlog_url_has_password(const char *s)
{
	struct simlog_url u;
	int has;

	if (simlog_url_parse(s, &u, NULL) < 0)
		return 0;
	has = u.password != NULL;
	simlog_url_clear(&u);
	return has;
}

char *
simlog_read_password_file(const char *path, struct simlog_err *err)
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

/*
 * CLIENT LIST read and counted by name (health.h), for
 * simlog-pool-stats's view of who holds connections.
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

/* --- CLIENT LIST ------------------------------------------------------- */

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct simlog_namecount *)a)->name,
	    ((const struct simlog_namecount *)b)->name);
}

/*
 * The name= field of one CLIENT LIST line.  Fields are "key=value"
 * separated by spaces, in a fixed order: ... addr laddr fd name age ...;
 * CLIENT SETNAME keeps spaces out of names, but a unix socket path in
 * addr= and laddr= may hold anything.  So look for "fd=N name=X age=",
 * and only when no line has that shape for the first "fd=N name=".
 */
static int
line_name(const char *s, size_t len, int strict, const char **name,
	  size_t *nlen)
{
	const char *end = s + len, *p = s;

	while (p < end) {
		const char *f = memmem(p, (size_t)(end - p), " fd=", 4);
		const char *q, *n;

		if (f == NULL)
			break;
		p = f + 1;
		q = f + 4;
		if (q < end && *q == '-')
			q++;
		while (q < end && *q >= '0' && *q <= '9')
			q++;
		if ((size_t)(end - q) < 6 || memcmp(q, " name=", 6) != 0)
			continue;
		n = q + 6;
		q = n;
		while (q < end && *q != ' ')
			q++;
		if (strict && ((size_t)(end - q) < 5 || memcmp(q, " age=", 5) != 0))
			continue;
		*name = n;
		*nlen = (size_t)(q - n);
		return 0;
	}
	return -1;
}

int
simlog_clients_parse(const char *text, size_t len, struct simlog_clients *out,
		     struct simlog_err *err)
{
	const char *p = text, *end = text + len;
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t ll = (size_t)((eol ? eol : end) - p), nlen, i;
		const char *name;

		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll > 0) {
			if (line_name(p, ll, 1, &name, &nlen) < 0 &&
			    line_name(p, ll, 0, &name, &nlen) < 0) {
				simlog_clients_clear(out);
				return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
				    "CLIENT LIST: a line without fd= name=");
			}
			out->total++;
			for (i = 0; i < out->n; i++)
				if (strlen(out->v[i].name) == nlen &&
				    memcmp(out->v[i].name, name, nlen) == 0)
					break;
			if (i == out->n) {
				if (out->n == cap) {
					size_t nc = cap ? 2 * cap : 8;
					void *nv = realloc(out->v,
					    nc * sizeof(*out->v));

					if (nv == NULL)
						goto oom;
					out->v = nv;
					cap = nc;
				}
				out->v[i].count = 0;
				if ((out->v[i].name = strndup(name, nlen)) == NULL)
					goto oom;
				out->n++;
			}
			out->v[i].count++;
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_name);
	return 0;
oom:
	simlog_clients_clear(out);
	return simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
}

static int
clients_at(struct simlog_conn *conn, size_t node, struct simlog_clients *out,
	   struct simlog_err *err)
{
	const char *av[2] = { "CLIENT", "LIST" };
	redisReply *r;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((r = simlog_node_cmd(conn, node, err, 2, av, NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
		freeReplyObject(r);
		return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "CLIENT LIST: unexpected reply");
	}
	rc = simlog_clients_parse(r->str, r->len, out, err);
	freeReplyObject(r);
	return rc;
}

int
simlog_clients_read(struct simlog_conn *conn, struct simlog_clients *out,
		    struct simlog_err *err)
{
	return clients_at(conn, SIMLOG_ANY_NODE, out, err);
}

int
simlog_clients_read_node(struct simlog_conn *conn, size_t node,
			 struct simlog_clients *out, struct simlog_err *err)
{
	return clients_at(conn, node, out, err);
}

int
simlog_clients_add(struct simlog_clients *a, const struct simlog_clients *b,
		   struct simlog_err *err)
{
	size_t i, j, n = a->n;

	for (j = 0; j < b->n; j++) {
		for (i = 0; i < n; i++)
			if (strcmp(a->v[i].name, b->v[j].name) == 0)
				break;
		if (i < n) {
			a->v[i].count += b->v[j].count;
			continue;
		}
		/* Grown one at a time: a handful of names per server. */
		{
			void *nv = realloc(a->v, (a->n + 1) * sizeof(*a->v));

			if (nv == NULL)
				return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
				    "out of memory");
			a->v = nv;
		}
		if ((a->v[a->n].name = strdup(b->v[j].name)) == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		a->v[a->n++].count = b->v[j].count;
	}
	a->total += b->total;
	if (a->n > 1)
		qsort(a->v, a->n, sizeof(*a->v), cmp_name);
	return 0;
}

void
simlog_clients_clear(struct simlog_clients *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		free(c->v[i].name);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

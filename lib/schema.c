/*
 * Schema files (simlog-schema(5)): record types mapped to tables, JSON
 * fields to typed columns.  Loading parses and checks a file; applying
 * creates or extends the tables; inserting converts one record's fields
 * and reports a record that does not fit, so it can become a dead letter.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sqlite3.h>

#include "simlog.h"

#ifndef SIMLOG_SCHEMA_DIR
#define SIMLOG_SCHEMA_DIR "/usr/local/share/simlog/schemas"
#endif

#define MAX_COLS 256
#define MAX_MEMBERS 512

enum ctype { C_INTEGER, C_REAL, C_TEXT, C_BOOLEAN, C_JSON };
static const char *const ctype_names[] = {
	"INTEGER", "REAL", "TEXT", "BOOLEAN", "JSON",
};

enum dkind { D_NONE, D_NULL, D_INT, D_REAL, D_TEXT };

struct column {
	char *name;
	char *field;		/* source field; NULL for sim/computed/rest */
	enum ctype type;
	int notnull, primary, unique;
	int is_sim, is_rest;
	char *tmpl;		/* computed: "{col}..." */
	size_t nrefs;		/* {col} references in tmpl */
	int line;		/* where it was declared */
	enum dkind dkind;	/* default */
	long long dint;
	double dreal;
	char *dtext;
};

struct simlog_stable {
	char *name, *type;
	struct column *cols;
	size_t ncols;
	char **key;		/* composite primary key */
	size_t nkey;
	char ***uniques;	/* composite unique constraints */
	size_t *nuniq, nuniques;
	int rest;		/* index of the rest column, or -1 */
	int on_dup;		/* 0 reject, 1 update, 2 ignore */
	/* field-name hash: slot -> column index + 1 */
	unsigned *hash;
	size_t hcap;
	sqlite3_stmt *ins;
	int line;
};

struct simlog_schema {
	char *path;
	int strict;
	char *typefield;
	struct simlog_stable *tables;
	size_t ntables;
	/* scratch for one record */
	char *buf;
	size_t bufcap;
};

static uint32_t
fnv(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* --- parsing ------------------------------------------------------------ */

struct parser {
	const char *path;
	int line;
	struct simlog_err *err;
	char *tok[64];
	int ntok;
	char toks[4096];
};

static int
perr(struct parser *p, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return simlog_seterr(p->err, SIMLOG_EX_CONFIG, "%s:%d: %s", p->path,
	    p->line, msg);
}

/* Split a line into words and "quoted strings" (kept with a leading '"'). */
static int
tokenize(struct parser *p, const char *s)
{
	char *o = p->toks, *end = p->toks + sizeof(p->toks) - 2;

	p->ntok = 0;
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == ',' || *s == '\r' ||
		    *s == '\n')
			s++;
		if (*s == '\0' || *s == '#')
			return 0;
		if (p->ntok == 64)
			return perr(p, "too many words on one line");
		p->tok[p->ntok++] = o;
		if (*s == '"') {
			*o++ = *s++;
			while (*s != '"') {
				if (*s == '\0' || *s == '\n')
					return perr(p, "unterminated string");
				if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
					s++;
				if (o >= end)
					return perr(p, "line too long");
				*o++ = *s++;
			}
			s++;
		} else {
			while (*s && !isspace((unsigned char)*s) && *s != ',' &&
			    *s != '#') {
				if (o >= end)
					return perr(p, "line too long");
				*o++ = *s++;
			}
		}
		*o++ = '\0';
	}
}

static int
is_ident(const char *s)
{
	const char *why;

	/* Table and column names follow the record type rule, so nothing
	 * from a schema file needs more than quoting to be SQL-safe. */
	if (strlen(s) > 63 || !(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (const char *c = s; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_')
			return 0;
	(void)why;
	return 1;
}

static struct column *
find_col(struct simlog_stable *t, const char *name)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (strcasecmp(t->cols[i].name, name) == 0)
			return &t->cols[i];
	return NULL;
}

static int
parse_default(struct parser *p, struct column *c, const char *v)
{
	char *end;

	if (*v == '"') {
		c->dkind = D_TEXT;
		c->dtext = strdup(v + 1);
		return c->dtext ? 0 : perr(p, "out of memory");
	}
	if (strcmp(v, "null") == 0) {
		c->dkind = D_NULL;
		return 0;
	}
	if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
		c->dkind = D_INT;
		c->dint = v[0] == 't';
		return 0;
	}
	errno = 0;
	c->dint = strtoll(v, &end, 10);
	if (*end == '\0' && errno == 0 && end != v) {
		c->dkind = D_INT;
		return 0;
	}
	c->dreal = strtod(v, &end);
	if (*end == '\0' && end != v && isfinite(c->dreal)) {
		c->dkind = D_REAL;
		return 0;
	}
	return perr(p, "default '%s' is not a number, a \"string\", true, "
	    "false or null", v);
}

static int
check_template(struct parser *p, struct simlog_stable *t, struct column *c)
{
	for (const char *s = c->tmpl; (s = strchr(s, '{')) != NULL;) {
		const char *e = strchr(s, '}');
		char name[64];
		struct column *ref;

		if (e == NULL || e - s - 1 <= 0 || e - s - 1 >= 64)
			return perr(p, "column %s: bad {name} in template",
			    c->name);
		memcpy(name, s + 1, (size_t)(e - s - 1));
		name[e - s - 1] = '\0';
		if ((ref = find_col(t, name)) == NULL)
			return perr(p, "column %s: template names unknown column "
			    "'%s'", c->name, name);
		if (ref->tmpl != NULL)
			return perr(p, "column %s: template names computed "
			    "column '%s'", c->name, name);
		s = e + 1;
	}
	return 0;
}

static int
parse_column(struct parser *p, struct simlog_stable *t)
{
	struct column *c;
	int i, k;

	if (t->ncols == MAX_COLS)
		return perr(p, "more than %d columns", MAX_COLS);
	if (!is_ident(p->tok[0]))
		return perr(p, "'%s' is not a column name "
		    "([A-Za-z_][A-Za-z0-9_]*)", p->tok[0]);
	if (find_col(t, p->tok[0]) != NULL)
		return perr(p, "column %s named twice", p->tok[0]);
	if (p->ntok < 2)
		return perr(p, "column %s needs a type (INTEGER, REAL, TEXT, "
		    "BOOLEAN, JSON)", p->tok[0]);
	c = &t->cols[t->ncols];
	memset(c, 0, sizeof(*c));
	for (k = 0; k < 5; k++)
		if (strcasecmp(p->tok[1], ctype_names[k]) == 0)
			break;
	if (k == 5)
		return perr(p, "column %s: unknown type '%s' (INTEGER, REAL, "
		    "TEXT, BOOLEAN, JSON)", p->tok[0], p->tok[1]);
	c->type = (enum ctype)k;
	c->line = p->line;
	if ((c->name = strdup(p->tok[0])) == NULL)
		return perr(p, "out of memory");
	t->ncols++;
	for (i = 2; i < p->ntok; i++) {
		const char *w = p->tok[i];

		if (strcasecmp(w, "not") == 0 && i + 1 < p->ntok &&
		    strcasecmp(p->tok[i + 1], "null") == 0) {
			c->notnull = 1;
			i++;
		} else if (strcasecmp(w, "primary") == 0 && i + 1 < p->ntok &&
		    strcasecmp(p->tok[i + 1], "key") == 0) {
			c->primary = 1;
			i++;
		} else if (strcasecmp(w, "unique") == 0)
			c->unique = 1;
		else if (strcasecmp(w, "sim") == 0)
			c->is_sim = 1;
		else if (strcasecmp(w, "from") == 0 && i + 1 < p->ntok) {
			const char *f = p->tok[++i];

			free(c->field);
			/* A quoted field name: the word after the marker. */
			if ((c->field = strdup(f[0] == '"' ? f + 1 : f)) == NULL)
				return perr(p, "out of memory");
		} else if (strcasecmp(w, "default") == 0 && i + 1 < p->ntok) {
			if (parse_default(p, c, p->tok[++i]) < 0)
				return -1;
		} else if (strcmp(w, "=") == 0 && i + 1 < p->ntok &&
		    p->tok[i + 1][0] == '"') {
			if ((c->tmpl = strdup(p->tok[++i] + 1)) == NULL)
				return perr(p, "out of memory");
			for (const char *q = c->tmpl; (q = strchr(q, '{')); q++)
				c->nrefs++;
		} else
			return perr(p, "column %s: unexpected '%s'", c->name, w);
	}
	if ((c->is_sim != 0) + (c->tmpl != NULL) + (c->field != NULL) > 1)
		return perr(p, "column %s: choose one of sim, from and =",
		    c->name);
	if (c->is_sim && c->type != C_TEXT)
		return perr(p, "column %s: a sim column is TEXT", c->name);
	if (!c->is_sim && c->tmpl == NULL && c->field == NULL &&
	    (c->field = strdup(c->name)) == NULL)
		return perr(p, "out of memory");
	return 0;
}

static int
parse_list(struct parser *p, struct simlog_stable *t, char ***out, size_t *n)
{
	int i;

	if (p->ntok < 2)
		return perr(p, "%s needs column names", p->tok[0]);
	if ((*out = calloc((size_t)p->ntok, sizeof(char *))) == NULL)
		return perr(p, "out of memory");
	for (i = 1; i < p->ntok; i++) {
		if (find_col(t, p->tok[i]) == NULL)
			return perr(p, "%s names unknown column '%s' (declare "
			    "columns first)", p->tok[0], p->tok[i]);
		if (((*out)[i - 1] = strdup(p->tok[i])) == NULL)
			return perr(p, "out of memory");
		(*n)++;
	}
	return 0;
}

static int
finish_table(struct parser *p, struct simlog_stable *t)
{
	size_t nprim = 0, i;

	if (t->ncols == 0)
		return simlog_seterr(p->err, SIMLOG_EX_CONFIG,
		    "%s:%d: table %s has no columns", p->path, t->line,
		    t->name);
	for (i = 0; i < t->ncols; i++) {
		nprim += t->cols[i].primary;
		if (t->cols[i].tmpl != NULL) {
			int save = p->line;

			p->line = t->cols[i].line;
			if (check_template(p, t, &t->cols[i]) < 0)
				return -1;
			p->line = save;
		}
	}
	if (nprim > 1 || (nprim == 1 && t->nkey > 0))
		return simlog_seterr(p->err, SIMLOG_EX_CONFIG,
		    "%s:%d: table %s: more than one primary key (use key a, b "
		    "for a composite one)", p->path, t->line, t->name);
	/* A field-name hash for the insert path. */
	for (t->hcap = 16; t->hcap < 2 * t->ncols; t->hcap *= 2)
		;
	if ((t->hash = calloc(t->hcap, sizeof(*t->hash))) == NULL)
		return perr(p, "out of memory");
	for (i = 0; i < t->ncols; i++) {
		const char *f = t->cols[i].field;
		size_t h;

		if (f == NULL)
			continue;
		for (h = fnv(f, strlen(f)) & (t->hcap - 1); t->hash[h] != 0;
		    h = (h + 1) & (t->hcap - 1))
			if (strcmp(t->cols[t->hash[h] - 1].field, f) == 0)
				return simlog_seterr(p->err, SIMLOG_EX_CONFIG,
				    "%s:%d: table %s: field %s feeds two "
				    "columns", p->path, t->line, t->name, f);
		t->hash[h] = (unsigned)i + 1;
	}
	return 0;
}

static struct simlog_stable *
find_table_by_type(struct simlog_schema *s, const char *type, size_t n)
{
	for (size_t i = 0; i < s->ntables; i++)
		if (strlen(s->tables[i].type) == n &&
		    memcmp(s->tables[i].type, type, n) == 0)
			return &s->tables[i];
	return NULL;
}

static int
parse(struct simlog_schema *s, FILE *f, struct parser *p)
{
	char line[4096];
	struct simlog_stable *t = NULL;
	size_t cap = 0;

	while (fgets(line, sizeof(line), f) != NULL) {
		p->line++;
		if (strchr(line, '\n') == NULL && !feof(f))
			return perr(p, "line longer than %zu bytes",
			    sizeof(line) - 2);
		if (tokenize(p, line) < 0)
			return -1;
		if (p->ntok == 0)
			continue;
		if (strcmp(p->tok[0], "strict") == 0 && p->ntok == 1) {
			if (t != NULL)
				return perr(p, "strict goes before the tables");
			s->strict = 1;
		} else if (strcmp(p->tok[0], "typefield") == 0) {
			if (p->ntok != 2 || t != NULL)
				return perr(p, "typefield NAME goes before the "
				    "tables");
			free(s->typefield);
			s->typefield = strdup(p->tok[1]);
		} else if (strcmp(p->tok[0], "table") == 0) {
			const char *type, *why;

			if (t != NULL && finish_table(p, t) < 0)
				return -1;
			if (p->ntok != 2 && !(p->ntok == 4 &&
			    strcmp(p->tok[2], "for") == 0))
				return perr(p, "expected: table NAME [for TYPE]");
			if (!is_ident(p->tok[1]) ||
			    strncasecmp(p->tok[1], "sqlite_", 7) == 0 ||
			    strncasecmp(p->tok[1], "simlog_", 7) == 0)
				return perr(p, "'%s' is not a table name (and "
				    "sqlite_, simlog_ are reserved)", p->tok[1]);
			type = p->ntok == 4 ? p->tok[3] : p->tok[1];
			if (simlog_valid_type(type, strlen(type), &why) < 0)
				return perr(p, "record type '%s': %s", type, why);
			if (find_table_by_type(s, type, strlen(type)) != NULL)
				return perr(p, "record type %s mapped twice",
				    type);
			for (size_t i = 0; i < s->ntables; i++)
				if (strcasecmp(s->tables[i].name, p->tok[1]) == 0)
					return perr(p, "table %s declared twice",
					    p->tok[1]);
			if (s->ntables == cap) {
				void *q = realloc(s->tables, (cap = cap ? cap * 2 :
				    8) * sizeof(*s->tables));

				if (q == NULL)
					return perr(p, "out of memory");
				s->tables = q;
			}
			t = &s->tables[s->ntables++];
			memset(t, 0, sizeof(*t));
			t->rest = -1;
			t->line = p->line;
			t->name = strdup(p->tok[1]);
			t->type = strdup(type);
			t->cols = calloc(MAX_COLS, sizeof(*t->cols));
			if (!t->name || !t->type || !t->cols)
				return perr(p, "out of memory");
		} else if (t == NULL)
			return perr(p, "'%s' outside a table (start one with "
			    "table NAME [for TYPE])", p->tok[0]);
		else if (strcmp(p->tok[0], "key") == 0) {
			if (t->nkey > 0)
				return perr(p, "table %s has a key already",
				    t->name);
			if (parse_list(p, t, &t->key, &t->nkey) < 0)
				return -1;
		} else if (strcmp(p->tok[0], "unique") == 0) {
			void *q = realloc(t->uniques, (t->nuniques + 1) *
			    sizeof(*t->uniques));
			void *r = realloc(t->nuniq, (t->nuniques + 1) *
			    sizeof(*t->nuniq));

			if (q == NULL || r == NULL)
				return perr(p, "out of memory");
			t->uniques = q;
			t->nuniq = r;
			t->nuniq[t->nuniques] = 0;
			t->uniques[t->nuniques] = NULL;
			t->nuniques++;
			if (parse_list(p, t, &t->uniques[t->nuniques - 1],
			    &t->nuniq[t->nuniques - 1]) < 0)
				return -1;
		} else if (strcmp(p->tok[0], "on") == 0) {
			static const char *const acts[] = { "reject", "update",
			    "ignore" };
			int a;

			if (p->ntok != 3 || strcmp(p->tok[1], "duplicate") != 0)
				return perr(p, "expected: on duplicate reject|"
				    "update|ignore");
			for (a = 0; a < 3; a++)
				if (strcmp(p->tok[2], acts[a]) == 0)
					break;
			if (a == 3)
				return perr(p, "on duplicate: '%s' is not reject, "
				    "update or ignore", p->tok[2]);
			t->on_dup = a;
		} else if (strcmp(p->tok[0], "rest") == 0) {
			struct column *c;

			if (p->ntok != 2 || !is_ident(p->tok[1]))
				return perr(p, "expected: rest COLUMN");
			if (t->rest >= 0 || find_col(t, p->tok[1]) != NULL)
				return perr(p, "rest column %s: declared twice",
				    p->tok[1]);
			if (t->ncols == MAX_COLS)
				return perr(p, "too many columns");
			c = &t->cols[t->ncols];
			memset(c, 0, sizeof(*c));
			c->name = strdup(p->tok[1]);
			c->type = C_JSON;
			c->is_rest = 1;
			t->rest = (int)t->ncols++;
		} else if (parse_column(p, t) < 0)
			return -1;
	}
	if (ferror(f))
		return simlog_seterr(p->err, SIMLOG_EX_IOERR, "%s: %s", p->path,
		    strerror(errno));
	if (t != NULL && finish_table(p, t) < 0)
		return -1;
	if (s->ntables == 0)
		return simlog_seterr(p->err, SIMLOG_EX_CONFIG,
		    "%s: no tables in the schema", p->path);
	return 0;
}

/*
 * The directories searched for a named schema, colon-separated:
 * $SIMLOG_SCHEMA_PATH's, then ../share/simlog/schemas beside the running
 * executable's directory, then SIMLOG_SCHEMA_DIR.  The second finds the
 * schemas of an install whose PREFIX differs from the one compiled in
 * (make, then make install PREFIX=...) and of a DESTDIR staging tree.
 */
static void
schema_dirs(char *dirs, size_t len)
{
	const char *envp = getenv("SIMLOG_SCHEMA_PATH");
	char exe[PATH_MAX], *slash;
	size_t used;
	ssize_t n;

	snprintf(dirs, len, "%s%s", envp ? envp : "", envp && *envp ? ":" :
	    "");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		/* PREFIX/bin/simlog-drain -> PREFIX */
		for (int up = 0; up < 2 && (slash = strrchr(exe, '/')); up++)
			*slash = '\0';
		used = strlen(dirs);
		if (slash != NULL && strchr(exe, ':') == NULL &&
		    snprintf(dirs + used, len - used, "%s/share/simlog/schemas:",
		    exe) >= (int)(len - used))
			dirs[used] = '\0';	/* too long: leave it out */
	}
	used = strlen(dirs);
	snprintf(dirs + used, len - used, "%s", SIMLOG_SCHEMA_DIR);
}

/* NAME: a file path if it holds '/' or ends in .schema, else a schema
 * installed in one of schema_dirs(). */
static FILE *
open_schema(const char *name, char *path, size_t len, struct simlog_err *err)
{
	char dirs[2048];
	FILE *f;

	if (strchr(name, '/') != NULL || (strlen(name) > 7 &&
	    strcmp(name + strlen(name) - 7, ".schema") == 0)) {
		snprintf(path, len, "%s", name);
		if ((f = fopen(path, "r")) == NULL)
			simlog_seterr(err, errno == ENOENT ? SIMLOG_EX_NOINPUT :
			    SIMLOG_EX_CONFIG, "%s: %s", path, strerror(errno));
		return f;
	}
	if (!is_ident(name)) {
		simlog_seterr(err, SIMLOG_EX_USAGE, "'%s' is neither a schema "
		    "file nor a schema name", name);
		return NULL;
	}
	schema_dirs(dirs, sizeof(dirs));
	for (char *d = strtok(dirs, ":"); d != NULL; d = strtok(NULL, ":")) {
		snprintf(path, len, "%s/%s.schema", d, name);
		if ((f = fopen(path, "r")) != NULL)
			return f;
	}
	simlog_seterr(err, SIMLOG_EX_NOINPUT, "no schema named '%s' (looked in "
	    "$SIMLOG_SCHEMA_PATH and %s)", name, SIMLOG_SCHEMA_DIR);
	return NULL;
}

struct simlog_schema *
simlog_schema_load(const char *name, struct simlog_err *err)
{
	struct simlog_schema *s = calloc(1, sizeof(*s));
	struct parser p;
	char path[1024];
	FILE *f;

	if (s == NULL) {
		simlog_seterr(err, SIMLOG_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	if ((f = open_schema(name, path, sizeof(path), err)) == NULL) {
		free(s);
		return NULL;
	}
	memset(&p, 0, sizeof(p));
	p.path = path;
	p.err = err;
	s->path = strdup(path);
	s->typefield = strdup("type");
	if (parse(s, f, &p) < 0) {
		fclose(f);
		simlog_schema_free(s);
		return NULL;
	}
	fclose(f);
	return s;
}

void
simlog_schema_free(struct simlog_schema *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->ntables; i++) {
		struct simlog_stable *t = &s->tables[i];

		for (size_t j = 0; j < t->ncols; j++) {
			free(t->cols[j].name);
			free(t->cols[j].field);
			free(t->cols[j].tmpl);
			free(t->cols[j].dtext);
		}
		for (size_t j = 0; j < t->nkey; j++)
			free(t->key[j]);
		for (size_t u = 0; u < t->nuniques; u++) {
			for (size_t j = 0; j < t->nuniq[u]; j++)
				free(t->uniques[u][j]);
			free(t->uniques[u]);
		}
		free(t->uniques);
		free(t->nuniq);
		free(t->key);
		free(t->cols);
		free(t->hash);
		free(t->name);
		free(t->type);
		sqlite3_finalize(t->ins);
	}
	free(s->tables);
	free(s->typefield);
	free(s->path);
	free(s->buf);
	free(s);
}

const char *simlog_schema_path(const struct simlog_schema *s) { return s->path; }
int simlog_schema_strict(const struct simlog_schema *s) { return s->strict; }
const char *simlog_stable_name(const struct simlog_stable *t) { return t->name; }

struct simlog_stable *
simlog_schema_table(struct simlog_schema *s, const char *type, size_t n)
{
	return find_table_by_type(s, type, n);
}

/* --- tables ------------------------------------------------------------- */

struct sqlbuf {
	char *s;
	size_t len, cap;
	int oom;
};

static void
sqlf(struct sqlbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL,
		    b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->s != NULL && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *q = realloc(b->s, cap);
		if (q == NULL) {
			b->oom = 1;
			return;
		}
		b->s = q;
		b->cap = cap;
	}
}

static void
sql_literal(struct sqlbuf *b, const struct column *c)
{
	switch (c->dkind) {
	case D_NONE:
	case D_NULL:
		sqlf(b, "NULL");
		break;
	case D_INT:
		sqlf(b, "%lld", c->dint);
		break;
	case D_REAL:
		sqlf(b, "%.17g", c->dreal);
		break;
	case D_TEXT:
		sqlf(b, "'");
		for (const char *p = c->dtext; *p; p++)
			sqlf(b, *p == '\'' ? "''" : "%c", *p);
		sqlf(b, "'");
		break;
	}
}

static int
in_key(const struct simlog_stable *t, const struct column *c)
{
	for (size_t j = 0; j < t->nkey; j++)
		if (strcasecmp(t->key[j], c->name) == 0)
			return 1;
	return 0;
}

static void
column_def(struct sqlbuf *b, const struct column *c, int adding, int key)
{
	/* JSON is kept as TEXT: SQLite's JSON functions read it, and TEXT
	 * affinity never turns "5" into a number. */
	sqlf(b, "\"%s\" %s", c->name, c->type == C_JSON ? "TEXT" :
	    ctype_names[c->type]);
	if (c->primary && !adding)
		sqlf(b, " PRIMARY KEY");
	if (c->unique && !adding)
		sqlf(b, " UNIQUE");
	/* A key is never NULL (SQLite would let a non-INTEGER one be). */
	if (c->notnull || (!adding && ((c->primary && c->type != C_INTEGER) ||
	    key)))
		sqlf(b, " NOT NULL");
	if (c->dkind != D_NONE) {
		sqlf(b, " DEFAULT ");
		sql_literal(b, c);
	}
}

static int
existing_columns(sqlite3 *db, const char *table, char ***names, size_t *n,
		 struct simlog_err *err)
{
	char sql[200];
	sqlite3_stmt *st;

	*names = NULL;
	*n = 0;
	snprintf(sql, sizeof(sql), "PRAGMA table_info(\"%s\")", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return simlog_seterr(err, SIMLOG_EX_IOERR, "%s: %s", table,
		    sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW) {
		char **q = realloc(*names, (*n + 1) * sizeof(char *));

		if (q == NULL)
			break;
		*names = q;
		(*names)[(*n)++] = strdup((const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return 0;
}

static int
apply_table(struct simlog_stable *t, sqlite3 *db, struct simlog_err *err)
{
	struct sqlbuf b = { NULL, 0, 0, 0 };
	char **have;
	size_t nhave, i, j;
	int rc = 0;

	sqlf(&b, "CREATE TABLE IF NOT EXISTS \"%s\" (", t->name);
	for (i = 0; i < t->ncols; i++) {
		sqlf(&b, i ? ", " : "");
		column_def(&b, &t->cols[i], 0, in_key(t, &t->cols[i]));
	}
	if (t->nkey > 0) {
		sqlf(&b, ", PRIMARY KEY (");
		for (i = 0; i < t->nkey; i++)
			sqlf(&b, "%s\"%s\"", i ? ", " : "", t->key[i]);
		sqlf(&b, ")");
	}
	for (size_t u = 0; u < t->nuniques; u++) {
		sqlf(&b, ", UNIQUE (");
		for (i = 0; i < t->nuniq[u]; i++)
			sqlf(&b, "%s\"%s\"", i ? ", " : "", t->uniques[u][i]);
		sqlf(&b, ")");
	}
	sqlf(&b, ")");
	if (b.oom || simlog_db_exec(db, b.s, err) < 0) {
		free(b.s);
		return b.oom ? simlog_seterr(err, SIMLOG_EX_SOFTWARE,
		    "out of memory") : -1;
	}
	/* A column added to the schema later joins the existing table. */
	if (existing_columns(db, t->name, &have, &nhave, err) < 0) {
		free(b.s);
		return -1;
	}
	for (i = 0; i < t->ncols && rc == 0; i++) {
		const struct column *c = &t->cols[i];

		for (j = 0; j < nhave; j++)
			if (have[j] && strcasecmp(have[j], c->name) == 0)
				break;
		if (j < nhave)
			continue;
		if (c->primary || c->unique)
			rc = simlog_seterr(err, SIMLOG_EX_CONFIG, "table %s: "
			    "cannot add key column %s to an existing table",
			    t->name, c->name);
		else if (c->notnull && (c->dkind == D_NONE || c->dkind == D_NULL))
			rc = simlog_seterr(err, SIMLOG_EX_CONFIG, "table %s: "
			    "cannot add NOT NULL column %s without a default "
			    "to an existing table", t->name, c->name);
		else {
			b.len = 0;
			sqlf(&b, "ALTER TABLE \"%s\" ADD COLUMN ", t->name);
			column_def(&b, c, 1, 0);
			rc = b.oom ? -1 : simlog_db_exec(db, b.s, err);
		}
	}
	for (j = 0; j < nhave; j++)
		free(have[j]);
	free(have);
	if (rc < 0) {
		free(b.s);
		return -1;
	}
	b.len = 0;
	sqlf(&b, "INSERT INTO \"%s\" (", t->name);
	for (i = 0; i < t->ncols; i++)
		sqlf(&b, "%s\"%s\"", i ? ", " : "", t->cols[i].name);
	sqlf(&b, ") VALUES (");
	for (i = 0; i < t->ncols; i++) {
		/* ?N+ncols says the field was missing: the default applies on
		 * insert, and an update keeps the row's value. */
		if (t->cols[i].dkind != D_NONE && t->cols[i].tmpl == NULL &&
		    !t->cols[i].is_sim) {
			sqlf(&b, "%sCASE WHEN ?%zu THEN ", i ? ", " : "",
			    t->ncols + i + 1);
			sql_literal(&b, &t->cols[i]);
			sqlf(&b, " ELSE ?%zu END", i + 1);
		} else
			sqlf(&b, "%s?%zu", i ? ", " : "", i + 1);
	}
	sqlf(&b, ")");
	if (t->on_dup == 2)
		sqlf(&b, " ON CONFLICT DO NOTHING");
	else if (t->on_dup == 1) {
		/* A later record fills in what it carries; what it leaves
		 * out keeps its value. */
		int first = 1;

		for (i = 0; i < t->ncols; i++) {
			const struct column *c = &t->cols[i];

			if (c->primary || c->is_sim)
				continue;
			for (j = 0; j < t->nkey; j++)
				if (strcasecmp(t->key[j], c->name) == 0)
					break;
			if (j < t->nkey)
				continue;
			/* Missing (bound NULL) or null: keep the row's value. */
			sqlf(&b, "%s\"%s\" = coalesce(?%zu, \"%s\")",
			    first ? " ON CONFLICT DO UPDATE SET " : ", ",
			    c->name, i + 1, c->name);
			first = 0;
		}
		if (first)
			sqlf(&b, " ON CONFLICT DO NOTHING");
	}
	sqlite3_finalize(t->ins);
	t->ins = NULL;
	if (b.oom || sqlite3_prepare_v3(db, b.s, -1, SQLITE_PREPARE_PERSISTENT,
	    &t->ins, NULL) != SQLITE_OK)
		rc = simlog_seterr(err, SIMLOG_EX_IOERR, "table %s: %s",
		    t->name, sqlite3_errmsg(db));
	free(b.s);
	return rc;
}

int
simlog_schema_apply(struct simlog_schema *s, sqlite3 *db,
		    struct simlog_err *err)
{
	for (size_t i = 0; i < s->ntables; i++)
		if (apply_table(&s->tables[i], db, err) < 0)
			return -1;
	return 0;
}

/* --- inserting records -------------------------------------------------- */

struct val {
	int set;		/* 0: missing */
	int dflt;		/* the default stands in: bind NULL, SQL fills it */
	enum dkind kind;	/* D_NULL, D_INT, D_REAL, D_TEXT */
	long long i;
	double r;
	const char *s;
	size_t n;
};

static int
misfit(struct simlog_err *err, const struct column *c, const char *what)
{
	return simlog_seterr(err, SIMLOG_EX_DATAERR, "column %s: %s", c->name,
	    what);
}

static const char *
kind_name(enum simlog_jvkind k)
{
	static const char *const n[] = { "a string", "a number", "true",
	    "false", "null", "an object", "an array" };

	return n[k];
}

/* Convert one member to a column's type; out points into the line or
 * into the scratch buffer at *o. */
static int
convert(const struct column *c, const struct simlog_jmember *m, char **o,
	struct val *v, struct simlog_err *err)
{
	char what[80];

	v->set = 1;
	if (m->kind == SIMLOG_JV_NULL) {
		v->kind = D_NULL;
		return 0;
	}
	switch (c->type) {
	case C_INTEGER: {
		char num[32], *end;

		if (m->kind != SIMLOG_JV_NUMBER || m->vlen >= sizeof(num) ||
		    memchr(m->val, '.', m->vlen) || memchr(m->val, 'e', m->vlen) ||
		    memchr(m->val, 'E', m->vlen))
			goto wrong;
		memcpy(num, m->val, m->vlen);
		num[m->vlen] = '\0';
		errno = 0;
		v->i = strtoll(num, &end, 10);
		if (errno == ERANGE)
			return misfit(err, c, "integer out of 64-bit range");
		v->kind = D_INT;
		return 0;
	}
	case C_REAL: {
		char num[400], *end;

		if (m->kind != SIMLOG_JV_NUMBER || m->vlen >= sizeof(num))
			goto wrong;
		memcpy(num, m->val, m->vlen);
		num[m->vlen] = '\0';
		v->r = strtod(num, &end);
		if (!isfinite(v->r))
			return misfit(err, c, "number out of range");
		v->kind = D_REAL;
		return 0;
	}
	case C_BOOLEAN:
		if (m->kind == SIMLOG_JV_TRUE || m->kind == SIMLOG_JV_FALSE) {
			v->kind = D_INT;
			v->i = m->kind == SIMLOG_JV_TRUE;
			return 0;
		}
		if (m->kind == SIMLOG_JV_NUMBER && m->vlen == 1 &&
		    (m->val[0] == '0' || m->val[0] == '1')) {
			v->kind = D_INT;
			v->i = m->val[0] == '1';
			return 0;
		}
		goto wrong;
	case C_TEXT:
		if (m->kind != SIMLOG_JV_STRING)
			goto wrong;
		v->kind = D_TEXT;
		v->s = *o;
		v->n = simlog_json_unescape(m->val + 1, m->vlen - 2, *o);
		if (memchr(v->s, '\0', v->n) != NULL)
			return misfit(err, c, "text holds a NUL character");
		*o += v->n;
		return 0;
	case C_JSON:
		v->kind = D_TEXT;
		v->s = m->val;
		v->n = m->vlen;
		return 0;
	}
wrong:
	snprintf(what, sizeof(what), "expected %s, got %s",
	    c->type == C_INTEGER ? "an integer" : c->type == C_REAL ?
	    "a number" : c->type == C_BOOLEAN ? "true or false" : "a string",
	    kind_name(m->kind));
	return misfit(err, c, what);
}

/* Text form of a value for a computed column. */
static size_t
val_text(const struct val *v, char *out, size_t cap)
{
	switch (v->kind) {
	case D_INT:
		return (size_t)snprintf(out, cap, "%lld", v->i);
	case D_REAL:
		return (size_t)snprintf(out, cap, "%.17g", v->r);
	case D_TEXT:
		if (v->n < cap)
			memcpy(out, v->s, v->n);
		return v->n;
	default:
		return 0;
	}
}

static int
compute(struct simlog_stable *t, const struct column *c, struct val *vals,
	char **o, struct simlog_err *err)
{
	char *start = *o;

	for (const char *p = c->tmpl; *p;) {
		if (*p != '{') {
			*(*o)++ = *p++;
			continue;
		}
		const char *e = strchr(p, '}');
		size_t n = (size_t)(e - p - 1), k;
		char name[64];

		memcpy(name, p + 1, n);
		name[n] = '\0';
		for (k = 0; k < t->ncols; k++)
			if (strcasecmp(t->cols[k].name, name) == 0)
				break;
		if (!vals[k].set || vals[k].kind == D_NULL) {
			char what[100];

			snprintf(what, sizeof(what), "needs column %s, which "
			    "is missing", name);
			return misfit(err, c, what);
		}
		*o += val_text(&vals[k], *o, 64 + (vals[k].kind == D_TEXT ?
		    vals[k].n : 0));
		p = e + 1;
	}
	vals[c - t->cols].set = 1;
	vals[c - t->cols].kind = D_TEXT;
	vals[c - t->cols].s = start;
	vals[c - t->cols].n = (size_t)(*o - start);
	return 0;
}

static int
find_member_col(const struct simlog_stable *t, const char *key, size_t n)
{
	for (size_t h = fnv(key, n) & (t->hcap - 1); t->hash[h] != 0;
	    h = (h + 1) & (t->hcap - 1)) {
		const char *f = t->cols[t->hash[h] - 1].field;

		if (strlen(f) == n && memcmp(f, key, n) == 0)
			return (int)t->hash[h] - 1;
	}
	return -1;
}

int
simlog_stable_insert(struct simlog_schema *s, struct simlog_stable *t,
		     sqlite3 *db, const char *sim, const char *json,
		     size_t len, struct simlog_err *err)
{
	struct simlog_jmember m[MAX_MEMBERS];
	struct val vals[MAX_COLS];
	size_t n, i, need, tflen = strlen(s->typefield);
	const char *why;
	char *text, *rest, *comp, *r0;
	int r;

	if (simlog_json_members(json, len, m, MAX_MEMBERS, &n, &why) < 0)
		return simlog_seterr(err, SIMLOG_EX_DATAERR, "record: %s",
		    why), 1;
	/* Scratch areas: unescaped text (never longer than the line), the
	 * rest object (no longer than the line), computed values. */
	need = 2 * len + 8;
	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].tmpl != NULL)
			need += strlen(t->cols[i].tmpl) + t->cols[i].nrefs *
			    (len + 64);
	if (need > s->bufcap) {
		char *q = realloc(s->buf, need);

		if (q == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		s->buf = q;
		s->bufcap = need;
	}
	text = s->buf;
	r0 = rest = s->buf + len + 1;
	comp = s->buf + 2 * len + 4;
	memset(vals, 0, t->ncols * sizeof(*vals));
	*rest++ = '{';
	for (i = 0; i < n; i++) {
		char kbuf[256];
		const char *key = m[i].key;
		size_t klen = m[i].klen;
		int ci;

		if (m[i].kesc && klen < sizeof(kbuf)) {
			klen = simlog_json_unescape(key, klen, kbuf);
			key = kbuf;
		}
		if ((ci = find_member_col(t, key, klen)) >= 0) {
			if (vals[ci].set)
				return misfit(err, &t->cols[ci],
				    "field appears twice"), 1;
			if (convert(&t->cols[ci], &m[i], &text, &vals[ci],
			    err) < 0)
				return 1;
			continue;
		}
		if (t->rest < 0 || (klen == tflen &&
		    memcmp(key, s->typefield, tflen) == 0))
			continue;	/* not kept */
		if (rest > r0 + 1)
			*rest++ = ',';
		*rest++ = '"';
		memcpy(rest, m[i].key, m[i].klen);
		rest += m[i].klen;
		*rest++ = '"';
		*rest++ = ':';
		memcpy(rest, m[i].val, m[i].vlen);
		rest += m[i].vlen;
	}
	*rest++ = '}';
	if (t->rest >= 0) {
		vals[t->rest].set = 1;
		vals[t->rest].kind = D_TEXT;
		vals[t->rest].s = r0;
		vals[t->rest].n = (size_t)(rest - r0);
	}
	for (i = 0; i < t->ncols; i++) {
		const struct column *c = &t->cols[i];

		if (c->is_sim) {
			vals[i].set = 1;
			vals[i].kind = D_TEXT;
			vals[i].s = sim;
			vals[i].n = strlen(sim);
		} else if (!vals[i].set && c->dkind != D_NONE && !c->tmpl) {
			vals[i].set = 1;
			vals[i].dflt = 1;
			vals[i].kind = c->dkind;
			vals[i].i = c->dint;
			vals[i].r = c->dreal;
			vals[i].s = c->dtext;
			vals[i].n = c->dtext ? strlen(c->dtext) : 0;
		}
	}
	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].tmpl != NULL &&
		    compute(t, &t->cols[i], vals, &comp, err) < 0)
			return 1;
	for (i = 0; i < t->ncols; i++) {
		int k = (int)i + 1;

		sqlite3_bind_int(t->ins, (int)t->ncols + k,
		    !vals[i].set || vals[i].dflt);
		if (!vals[i].set || vals[i].kind == D_NULL || vals[i].dflt)
			sqlite3_bind_null(t->ins, k);
		else if (vals[i].kind == D_INT)
			sqlite3_bind_int64(t->ins, k, vals[i].i);
		else if (vals[i].kind == D_REAL)
			sqlite3_bind_double(t->ins, k, vals[i].r);
		else
			sqlite3_bind_text(t->ins, k, vals[i].s, (int)vals[i].n,
			    SQLITE_STATIC);
	}
	r = sqlite3_step(t->ins);
	sqlite3_reset(t->ins);
	if (r == SQLITE_DONE)
		return 0;
	if (r == SQLITE_CONSTRAINT || r == SQLITE_MISMATCH)
		return simlog_seterr(err, SIMLOG_EX_DATAERR, "%s",
		    sqlite3_errmsg(db)), 1;
	return simlog_seterr(err, (r == SQLITE_BUSY || r == SQLITE_LOCKED) ?
	    SIMLOG_EX_TEMPFAIL : SIMLOG_EX_IOERR, "table %s: %s", t->name,
	    sqlite3_errmsg(db));
}

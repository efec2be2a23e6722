/*
 * Schema files (simlog-schema(5)): record types mapped to tables, JSON
 * fields to typed columns.  Loading parses and checks a file; a record
 * becomes a row of typed values, or a reason why it does not fit (a dead
 * letter).  The SQL of each database is the sinks' (lib/sink/).
 *
 * How a record's fields map to columns (simlog_stable_row; the rules as a
 * user reads them are simlog-schema(5) Columns, Column types, UNMAPPED
 * FIELDS and DEAD LETTERS):
 *   - the record's type (the type field, "type" unless the header says
 *     otherwise) picks the table: "table NAME for TYPE";
 *   - each top-level field feeds the column named like it, or the columns
 *     whose "from FIELD" names it; a "from" path (.member, [index]) goes on
 *     into the field's value (convert_path), and the simulation column
 *     checks the field against the simulation the record came from;
 *   - the JSON value is converted to the column's type (convert: INTEGER,
 *     REAL, TEXT, BOOLEAN, JSON, ID, DATETIME); a value that does not
 *     convert, or a field given twice, makes the record a dead letter with
 *     that reason (misfit);
 *   - a field no column takes goes, as JSON text, into the table's "rest"
 *     column if it has one; otherwise it is noted as unmapped, or under
 *     "strict fields" makes the record a dead letter;
 *   - a column the record leaves out gets its default, or NULL
 *     (fill_missing); computed columns are filled last, from their
 *     templates (compute).
 * The row is then the sink's to write (simlog_sink_insert, lib/sink/).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "json.h"
#include "schema.h"
#include "util.h"

#ifndef SIMLOG_SCHEMA_DIR
#define SIMLOG_SCHEMA_DIR "/usr/local/share/simlog/schemas"
#endif

#define MAX_COLS SIMLOG_SCHEMA_MAXCOLS
#define MAX_MEMBERS 512

const char *const simlog_ctype_names[SIMLOG_NCTYPES] = {
	"INTEGER", "REAL", "TEXT", "BOOLEAN", "JSON", "ID", "DATETIME",
};

#define TYPE_LIST "INTEGER, REAL, TEXT, BOOLEAN, JSON, ID, DATETIME"

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

static struct simlog_column *
find_col(struct simlog_stable *t, const char *name)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (strcasecmp(t->cols[i].name, name) == 0)
			return &t->cols[i];
	return NULL;
}

static int
parse_default(struct parser *p, struct simlog_column *c, const char *v)
{
	char *end;

	if (*v == '"') {
		c->dkind = SIMLOG_D_TEXT;
		c->dtext = strdup(v + 1);
		return c->dtext ? 0 : perr(p, "out of memory");
	}
	if (strcmp(v, "null") == 0) {
		c->dkind = SIMLOG_D_NULL;
		return 0;
	}
	if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
		c->dkind = SIMLOG_D_INT;
		c->dint = v[0] == 't';
		snprintf(c->dform, sizeof(c->dform), "%lld", c->dint);
		return 0;
	}
	errno = 0;
	c->dint = strtoll(v, &end, 10);
	if (*end == '\0' && errno == 0 && end != v) {
		c->dkind = SIMLOG_D_INT;
		snprintf(c->dform, sizeof(c->dform), "%lld", c->dint);
		return 0;
	}
	c->dreal = strtod(v, &end);
	if (*end == '\0' && end != v && isfinite(c->dreal)) {
		c->dkind = SIMLOG_D_REAL;
		snprintf(c->dform, sizeof(c->dform), "%.17g", c->dreal);
		return 0;
	}
	return perr(p, "default '%s' is not a number, a \"string\", true, "
	    "false or null", v);
}

static int
check_template(struct parser *p, struct simlog_stable *t, struct simlog_column *c)
{
	for (const char *s = c->tmpl; (s = strchr(s, '{')) != NULL;) {
		const char *e = strchr(s, '}');
		char name[64];
		struct simlog_column *ref;

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

/* The template as literal pieces and column references, so that a record
 * never searches it or the column names. */
static int
compile_template(struct parser *p, struct simlog_stable *t,
		 struct simlog_column *c)
{
	const char *s = c->tmpl;
	size_t n = 0;

	if ((c->parts = calloc(c->nrefs + 1, sizeof(*c->parts))) == NULL)
		return perr(p, "out of memory");
	for (;;) {
		const char *b = strchr(s, '{'), *e;
		struct simlog_tpart *pt = &c->parts[n++];

		pt->lit = s;
		pt->litlen = b ? (size_t)(b - s) : strlen(s);
		pt->col = -1;
		if (b == NULL)
			break;
		e = strchr(b, '}');
		for (size_t k = 0; k < t->ncols; k++)
			if (strlen(t->cols[k].name) == (size_t)(e - b - 1) &&
			    strncasecmp(t->cols[k].name, b + 1,
			    (size_t)(e - b - 1)) == 0) {
				pt->col = (int)k;
				break;
			}
		s = e + 1;
	}
	c->nparts = n;
	return 0;
}

/* from FIELD: a top-level field, then .member and [index] steps. */
static int
parse_path(struct parser *p, struct simlog_column *c, const char *f)
{
	size_t n = strcspn(f, ".[");

	if (n == 0)
		return perr(p, "column %s: from '%s': no field name before the "
		    "path", c->name, f);
	if ((c->field = strndup(f, n)) == NULL)
		return perr(p, "out of memory");
	for (f += n; *f != '\0';) {
		struct simlog_pstep st = { NULL, 0, 0 };
		void *q;

		if (*f == '.') {
			n = strcspn(++f, ".[");
			if (n == 0)
				return perr(p, "column %s: from: an empty name "
				    "after '.'", c->name);
			if ((st.key = strndup(f, n)) == NULL)
				return perr(p, "out of memory");
			st.klen = n;
			f += n;
		} else {
			char *end = (char *)f;

			if (isdigit((unsigned char)f[1])) {
				errno = 0;
				st.index = strtoul(f + 1, &end, 10);
			}
			if (end == f || errno != 0 || *end != ']' ||
			    st.index > 1000000)
				return perr(p, "column %s: from: '%s' is not an "
				    "[index] (0 to 1000000)", c->name, f);
			f = end + 1;
		}
		if ((q = realloc(c->path, (c->npath + 1) *
		    sizeof(*c->path))) == NULL) {
			free(st.key);
			return perr(p, "out of memory");
		}
		c->path = q;
		c->path[c->npath++] = st;
	}
	return 0;
}

/* references TABLE(COLUMN), or TABLE (COLUMN): a table declared above,
 * and a column of it that is its primary key or unique. */
static int
parse_ref(struct parser *p, struct simlog_column *c, const char *w,
	  const char *next, int *i)
{
	char tab[80], col[80];
	const char *o = strchr(w, '(');

	if (c->ref_table != NULL)
		return perr(p, "column %s: references named twice", c->name);
	if (o == NULL && next != NULL && next[0] == '(') {
		snprintf(tab, sizeof(tab), "%s", w);
		o = next;
		(*i)++;
	} else if (o != NULL && o - w < (int)sizeof(tab))
		snprintf(tab, sizeof(tab), "%.*s", (int)(o - w), w);
	else
		o = NULL;
	if (o == NULL || strlen(o) < 3 || o[strlen(o) - 1] != ')' ||
	    strlen(o) - 2 >= sizeof(col))
		return perr(p, "column %s: expected references TABLE(COLUMN)",
		    c->name);
	snprintf(col, sizeof(col), "%.*s", (int)strlen(o) - 2, o + 1);
	(*i)++;
	if ((c->ref_table = strdup(tab)) == NULL ||
	    (c->ref_col = strdup(col)) == NULL)
		return perr(p, "out of memory");
	return 0;
}

static int
parse_column(struct parser *p, struct simlog_stable *t)
{
	struct simlog_column *c;
	int i, k;

	if (t->ncols == MAX_COLS)
		return perr(p, "more than %d columns", MAX_COLS);
	if (!is_ident(p->tok[0]))
		return perr(p, "'%s' is not a column name "
		    "([A-Za-z_][A-Za-z0-9_]*)", p->tok[0]);
	if (find_col(t, p->tok[0]) != NULL)
		return perr(p, "column %s named twice", p->tok[0]);
	if (p->ntok < 2)
		return perr(p, "column %s needs a type (" TYPE_LIST ")",
		    p->tok[0]);
	c = &t->cols[t->ncols];
	memset(c, 0, sizeof(*c));
	c->ref_t = c->ref_c = -1;
	for (k = 0; k < SIMLOG_NCTYPES; k++)
		if (strcasecmp(p->tok[1], simlog_ctype_names[k]) == 0)
			break;
	if (k == SIMLOG_NCTYPES)
		return perr(p, "column %s: unknown type '%s' (" TYPE_LIST ")",
		    p->tok[0], p->tok[1]);
	c->type = (enum simlog_ctype)k;
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
			/* A quoted field name: the word after the marker, as
			 * it is; else a path (meta.seed, position[0]). */
			if (f[0] == '"') {
				if ((c->field = strdup(f + 1)) == NULL)
					return perr(p, "out of memory");
			} else if (parse_path(p, c, f) < 0)
				return -1;
		} else if (strcasecmp(w, "references") == 0 && i + 1 < p->ntok) {
			if (parse_ref(p, c, p->tok[i + 1], i + 2 < p->ntok ?
			    p->tok[i + 2] : NULL, &i) < 0)
				return -1;
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
	if (c->is_sim && c->type != SIMLOG_C_TEXT)
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

/* The source of top-level field f, made if need be. */
static struct simlog_source *
source_of(struct simlog_stable *t, const char *f)
{
	size_t n = strlen(f), h;
	struct simlog_source *src;

	for (h = fnv(f, n) & (t->hcap - 1); t->hash[h] != 0;
	    h = (h + 1) & (t->hcap - 1)) {
		src = &t->src[t->hash[h] - 1];
		if (src->klen == n && memcmp(src->key, f, n) == 0)
			return src;
	}
	src = &t->src[t->nsrc];
	src->key = f;
	src->klen = n;
	src->col = src->sim = -1;
	t->hash[h] = (unsigned)++t->nsrc;
	return src;
}

/*
 * The fields the table's columns take, each once, in a hash for the insert
 * path: a field fed whole to a column, compared with the simulation by a
 * sim column, or read inside by columns with a path.
 */
static int
build_sources(struct parser *p, struct simlog_stable *t)
{
	for (t->hcap = 16; t->hcap < 2 * t->ncols; t->hcap *= 2)
		;
	t->hash = calloc(t->hcap, sizeof(*t->hash));
	t->src = calloc(t->ncols + 1, sizeof(*t->src));
	if (t->hash == NULL || t->src == NULL)
		return perr(p, "out of memory");
	for (size_t i = 0; i < t->ncols; i++) {
		struct simlog_column *c = &t->cols[i];
		struct simlog_source *src;
		void *q;

		if (c->field == NULL && !c->is_sim)
			continue;
		src = source_of(t, c->field ? c->field : c->name);
		if (c->is_sim)
			src->sim = (int)i;
		else if (c->npath == 0) {
			if (src->col >= 0)
				return simlog_seterr(p->err, SIMLOG_EX_CONFIG,
				    "%s:%d: table %s: field %s feeds two "
				    "columns", p->path, t->line, t->name,
				    c->field);
			src->col = (int)i;
		} else {
			if ((q = realloc(src->paths, (src->npaths + 1) *
			    sizeof(*src->paths))) == NULL)
				return perr(p, "out of memory");
			src->paths = q;
			src->paths[src->npaths++] = (int)i;
		}
		if (src->sim >= 0 && (src->col >= 0 || src->npaths > 0))
			return simlog_seterr(p->err, SIMLOG_EX_CONFIG,
			    "%s:%d: table %s: field %s is the sim column's and "
			    "cannot feed another column", p->path, t->line,
			    t->name, src->key);
	}
	return 0;
}

/* Whether a column is one of those on duplicate update matches by (and
 * there are such). */
static int
in_conflict_cols(const struct simlog_stable *t, const char *name)
{
	const char *cols[MAX_COLS];
	size_t n = simlog_stable_conflict_cols(t, cols, MAX_COLS);

	if (n == 0)
		return 1;	/* nothing to match: no row is updated */
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(cols[i], name) == 0)
			return 1;
	return 0;
}

/* References: to a table declared above (so that it is made first, and
 * its rows go in first), to its primary key or a unique column.  The
 * table then knows it is referenced. */
static int
resolve_refs(struct parser *p, struct simlog_schema *s)
{
	for (size_t ti = 0; ti < s->ntables; ti++) {
		struct simlog_stable *t = &s->tables[ti];

		for (size_t i = 0; i < t->ncols; i++) {
			struct simlog_column *c = &t->cols[i], *pc;
			struct simlog_stable *pt = NULL;
			size_t k;

			if (c->ref_table == NULL)
				continue;
			p->line = c->line;
			for (k = 0; k < ti; k++)
				if (strcasecmp(s->tables[k].name,
				    c->ref_table) == 0)
					pt = &s->tables[k];
			if (pt == NULL)
				return perr(p, "column %s: references %s, which "
				    "is not a table declared above it", c->name,
				    c->ref_table);
			if ((pc = find_col(pt, c->ref_col)) == NULL)
				return perr(p, "column %s: references %s(%s): "
				    "no such column", c->name, pt->name,
				    c->ref_col);
			if (!pc->primary && !pc->unique && !(pt->nkey == 1 &&
			    strcasecmp(pt->key[0], pc->name) == 0))
				return perr(p, "column %s: references %s(%s), "
				    "which is neither its primary key nor unique",
				    c->name, pt->name, pc->name);
			c->ref_t = (int)(pt - s->tables);
			c->ref_c = (int)(pc - pt->cols);
			pt->referenced = 1;
		}
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
			if (check_template(p, t, &t->cols[i]) < 0 ||
			    compile_template(p, t, &t->cols[i]) < 0)
				return -1;
			p->line = save;
			t->scratch += strlen(t->cols[i].tmpl) +
			    t->cols[i].nrefs * 64;
		}
		if (t->cols[i].field != NULL)
			t->cols[i].flen = strlen(t->cols[i].field);
	}
	if (nprim > 1 || (nprim == 1 && t->nkey > 0))
		return simlog_seterr(p->err, SIMLOG_EX_CONFIG,
		    "%s:%d: table %s: more than one primary key (use key a, b "
		    "for a composite one)", p->path, t->line, t->name);
	if (t->strict_fields && t->rest >= 0)
		return simlog_seterr(p->err, SIMLOG_EX_CONFIG,
		    "%s:%d: table %s: strict fields and a rest column exclude "
		    "each other", p->path, t->line, t->name);
	t->sim_col = -1;
	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].is_sim && t->sim_col < 0)
			t->sim_col = (int)i;
	return build_sources(p, t);
}

/* index NAME on COLUMN, ...; unique index NAME on COLUMN, ... */
static int
parse_index(struct parser *p, struct simlog_schema *s, struct simlog_stable *t)
{
	int u = strcmp(p->tok[0], "unique") == 0, w = u ? 2 : 1;
	struct simlog_index *x;
	void *q;

	if (p->ntok < w + 3 || strcmp(p->tok[w + 1], "on") != 0)
		return perr(p, "expected: %sindex NAME on COLUMN, ...",
		    u ? "unique " : "");
	if (!is_ident(p->tok[w]) || strncasecmp(p->tok[w], "sqlite_", 7) == 0)
		return perr(p, "'%s' is not an index name (and sqlite_ is "
		    "reserved)", p->tok[w]);
	/* Index names share one namespace with each other in the database. */
	for (size_t i = 0; i < s->ntables; i++)
		for (size_t j = 0; j < s->tables[i].nidx; j++)
			if (strcasecmp(s->tables[i].idx[j].name,
			    p->tok[w]) == 0)
				return perr(p, "index %s declared twice",
				    p->tok[w]);
	if ((q = realloc(t->idx, (t->nidx + 1) * sizeof(*t->idx))) == NULL)
		return perr(p, "out of memory");
	t->idx = q;
	x = &t->idx[t->nidx++];
	memset(x, 0, sizeof(*x));
	x->unique = u;
	if ((x->name = strdup(p->tok[w])) == NULL ||
	    (x->cols = calloc((size_t)p->ntok, sizeof(char *))) == NULL)
		return perr(p, "out of memory");
	for (int i = w + 2; i < p->ntok; i++) {
		if (find_col(t, p->tok[i]) == NULL)
			return perr(p, "index %s names unknown column '%s' "
			    "(declare columns first)", x->name, p->tok[i]);
		if ((x->cols[x->ncols++] = strdup(p->tok[i])) == NULL)
			return perr(p, "out of memory");
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
		} else if (strcmp(p->tok[0], "strict") == 0 && p->ntok == 2 &&
		    strcmp(p->tok[1], "fields") == 0) {
			if (t != NULL)
				t->strict_fields = 1;
			else
				s->strict_fields = 1;
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
		} else if (strcmp(p->tok[0], "index") == 0 ||
		    (strcmp(p->tok[0], "unique") == 0 && p->ntok > 1 &&
		    strcmp(p->tok[1], "index") == 0)) {
			if (parse_index(p, s, t) < 0)
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
			t->on_dup = a == 0 ? SIMLOG_DUP_REJECT : a == 1 ?
			    SIMLOG_DUP_UPDATE : SIMLOG_DUP_IGNORE;
		} else if (strcmp(p->tok[0], "rest") == 0) {
			struct simlog_column *c;

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
			c->type = SIMLOG_C_JSON;
			c->ref_t = c->ref_c = -1;
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
	for (size_t i = 0; i < s->ntables; i++) {
		t = &s->tables[i];
		t->strict_fields |= s->strict_fields && t->rest < 0;
		t->owner_check = t->on_dup == SIMLOG_DUP_UPDATE &&
		    t->sim_col >= 0 && !in_conflict_cols(t,
		    t->cols[t->sim_col].name);
	}
	return resolve_refs(p, s);
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

/* No schema NAME: say which there are, and where they were looked for. */
static void
not_found(const char *name, struct simlog_err *err)
{
	char dirs[2048], names[SIMLOG_ERRLEN / 2] = "", where[SIMLOG_ERRLEN / 2];
	size_t nl = 0, wl = 0;

	schema_dirs(dirs, sizeof(dirs));
	where[0] = '\0';
	for (char *d = strtok(dirs, ":"); d != NULL; d = strtok(NULL, ":")) {
		DIR *dp = opendir(d);
		struct dirent *e;

		if (wl < sizeof(where))
			wl += (size_t)snprintf(where + wl, sizeof(where) - wl,
			    "%s%s", wl ? ", " : "", d);
		while (dp != NULL && (e = readdir(dp)) != NULL) {
			size_t n = strlen(e->d_name);
			char one[80];

			if (n <= 7 || n > 70 ||
			    strcmp(e->d_name + n - 7, ".schema") != 0)
				continue;
			snprintf(one, sizeof(one), "%.*s", (int)n - 7,
			    e->d_name);
			/* Listed once, though several directories hold it. */
			if (strstr(names, one) != NULL && (strlen(one) ==
			    strlen(names) || strstr(names, one)[strlen(one)] ==
			    ',' || strstr(names, one)[strlen(one)] == '\0'))
				continue;
			if (nl < sizeof(names))
				nl += (size_t)snprintf(names + nl,
				    sizeof(names) - nl, "%s%s", nl ? ", " : "",
				    one);
		}
		if (dp != NULL)
			closedir(dp);
	}
	simlog_seterr(err, SIMLOG_EX_NOINPUT, "no schema named '%.64s'; %s%s "
	    "(looked in %s; SIMLOG_SCHEMA_PATH adds directories)", name,
	    nl ? "there are: " : "there are none", names, where);
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
	not_found(name, err);
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
			for (size_t k = 0; k < t->cols[j].npath; k++)
				free(t->cols[j].path[k].key);
			free(t->cols[j].path);
			free(t->cols[j].ref_table);
			free(t->cols[j].ref_col);
			free(t->cols[j].name);
			free(t->cols[j].field);
			free(t->cols[j].tmpl);
			free(t->cols[j].dtext);
			free(t->cols[j].parts);
		}
		for (size_t j = 0; j < t->nkey; j++)
			free(t->key[j]);
		for (size_t u = 0; u < t->nuniques; u++) {
			for (size_t j = 0; j < t->nuniq[u]; j++)
				free(t->uniques[u][j]);
			free(t->uniques[u]);
		}
		for (size_t j = 0; t->src != NULL && j < t->nsrc; j++)
			free(t->src[j].paths);
		free(t->src);
		for (size_t j = 0; j < t->nidx; j++) {
			for (size_t k = 0; k < t->idx[j].ncols; k++)
				free(t->idx[j].cols[k]);
			free(t->idx[j].cols);
			free(t->idx[j].name);
		}
		free(t->idx);
		for (size_t j = 0; j < t->nunmapped; j++)
			free(t->unmapped[j]);
		free(t->uniques);
		free(t->nuniq);
		free(t->key);
		free(t->cols);
		free(t->hash);
		free(t->name);
		free(t->type);
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


int
simlog_stable_addable(const struct simlog_stable *t,
		      const struct simlog_column *c, struct simlog_err *err)
{
	if (c->primary || c->unique)
		return simlog_seterr(err, SIMLOG_EX_CONFIG, "table %s: cannot "
		    "add key column %s to an existing table", t->name, c->name);
	if (c->notnull && (c->dkind == SIMLOG_D_NONE ||
	    c->dkind == SIMLOG_D_NULL))
		return simlog_seterr(err, SIMLOG_EX_CONFIG, "table %s: cannot "
		    "add NOT NULL column %s without a default to an existing "
		    "table", t->name, c->name);
	return 0;
}

int
simlog_stable_in_key(const struct simlog_stable *t, const struct simlog_column *c)
{
	for (size_t j = 0; j < t->nkey; j++)
		if (strcasecmp(t->key[j], c->name) == 0)
			return 1;
	return 0;
}

/* --- records into rows ---------------------------------------------------- */

static int
misfit(struct simlog_err *err, const struct simlog_column *c, const char *what)
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

/*
 * A JSON integer (already validated as a JSON number) in one pass: 0, -1
 * for a number with a fraction or an exponent, -2 out of 64-bit range.
 */
static int
json_integer(const char *p, size_t n, long long *out)
{
	unsigned long long v = 0, lim = (unsigned long long)LLONG_MAX;
	size_t i = 0;
	int neg = 0, over = 0;

	if (n > 0 && p[0] == '-') {
		neg = 1;
		lim++;
		i++;
	}
	for (; i < n; i++) {
		unsigned d = (unsigned char)p[i] - '0';

		if (d > 9)
			return -1;	/* '.', 'e' or 'E' */
		if (v > (lim - d) / 10)
			over = 1;
		else
			v = v * 10 + d;
	}
	if (over)
		return -2;
	*out = neg ? (long long)(0 - v) : (long long)v;
	return 0;
}

/*
 * A JSON number as a double, correctly rounded.  Most numbers records
 * carry have few digits: those take Clinger's fast path (an exact integer
 * mantissa times an exact power of ten is rounded once); the rest go to
 * strtod.
 */
static int
json_real(const char *p, size_t n, double *out)
{
	static const double p10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
	    1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
	    1e19, 1e20, 1e21, 1e22 };
	unsigned long long m = 0;
	int exp10 = 0, digits = 0, neg = 0, ok = 1;
	size_t i = 0;
	char num[400], *end;

	if (i < n && p[i] == '-') {
		neg = 1;
		i++;
	}
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		if (digits >= 19) {
			ok = 0;
			break;
		}
		m = m * 10 + (unsigned)(p[i] - '0');
		digits += m != 0;
	}
	if (ok && i < n && p[i] == '.')
		for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
			if (digits >= 19) {
				ok = 0;
				break;
			}
			m = m * 10 + (unsigned)(p[i] - '0');
			digits += m != 0;
			exp10--;
		}
	if (ok && i < n && (p[i] == 'e' || p[i] == 'E')) {
		int e = 0, eneg = 0;

		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			eneg = p[i++] == '-';
		for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			if (e < 10000)
				e = e * 10 + (p[i] - '0');
		exp10 += eneg ? -e : e;
	}
	if (ok && i == n && m <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
		double d = (double)m;

		d = exp10 < 0 ? d / p10[-exp10] : d * p10[exp10];
		*out = neg ? -d : d;
		return 0;
	}
	if (n >= sizeof(num))
		return -1;
	memcpy(num, p, n);
	num[n] = '\0';
	*out = strtod(num, &end);
	return isfinite(*out) ? 0 : -2;
}

/* --- date-times --------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
 * days_from_civil), and back. */
static long long
days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static void
civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
	long long era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (long long)yoe + era * 400 + (*m <= 2);
}

/* Fixed-width decimal digits at p; -1 unless all n are digits. */
static int
digits_at(const char *p, size_t avail, size_t n, long *out)
{
	long v = 0;

	if (avail < n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

/* Seconds and microseconds since the epoch, as the stored text. */
static size_t
format_time(long long secs, long usec, char *out)
{
	long long days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	long long rem = secs - days * 86400, y;
	unsigned m, d;

	civil_from_days(days, &y, &m, &d);
	return (size_t)snprintf(out, 32, "%04lld-%02u-%02u %02lld:%02lld:%02lld."
	    "%06ld", y, m, d, rem / 3600, rem / 60 % 60, rem % 60, usec);
}

/*
 * ISO 8601 text: YYYY-MM-DD, then optionally T or a space and
 * HH:MM[:SS[.fraction]], then optionally Z or +HH[:MM] / -HH[:MM].  A time
 * with a zone is turned to UTC; one without is kept as written.  Returns
 * the seconds and microseconds, or -1.
 */
static int
parse_iso(const char *p, size_t n, long long *secs, long *usec)
{
	long y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, zh, zm = 0;
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31,
	    30, 31, 30, 31 };
	size_t i = 10;

	if (digits_at(p, n, 4, &y) < 0 || n < 10 || p[4] != '-' ||
	    digits_at(p + 5, n - 5, 2, &mo) < 0 || p[7] != '-' ||
	    digits_at(p + 8, n - 8, 2, &d) < 0)
		return -1;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && (y % 4 != 0 || (y % 100 == 0 &&
	    y % 400 != 0))))
		return -1;
	*usec = 0;
	if (i < n && (p[i] == 'T' || p[i] == 't' || p[i] == ' ')) {
		if (digits_at(p + i + 1, n - i - 1, 2, &h) < 0 ||
		    i + 3 >= n || p[i + 3] != ':' ||
		    digits_at(p + i + 4, n - i - 4, 2, &mi) < 0)
			return -1;
		i += 6;
		if (i < n && p[i] == ':') {
			if (digits_at(p + i + 1, n - i - 1, 2, &sec) < 0)
				return -1;
			i += 3;
			if (i < n && (p[i] == '.' || p[i] == ',')) {
				size_t k = 0;

				for (i++; i < n && p[i] >= '0' && p[i] <= '9';
				    i++, k++)
					if (k < 6)
						frac = frac * 10 + (p[i] - '0');
				if (k == 0)
					return -1;
				for (; k < 6; k++)
					frac *= 10;
			}
		}
		if (h > 23 || mi > 59 || sec > 59)
			return -1;
	}
	*secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
	    h * 3600 + mi * 60 + sec;
	*usec = frac;
	if (i < n && (p[i] == 'Z' || p[i] == 'z'))
		i++;
	else if (i < n && (p[i] == '+' || p[i] == '-') && i > 10) {
		int neg = p[i] == '-';

		if (digits_at(p + i + 1, n - i - 1, 2, &zh) < 0)
			return -1;
		i += 3;
		if (i < n && p[i] == ':')
			i++;
		if (i < n) {
			if (digits_at(p + i, n - i, 2, &zm) < 0)
				return -1;
			i += 2;
		}
		if (zh > 23 || zm > 59)
			return -1;
		*secs -= (neg ? -1 : 1) * (zh * 3600 + zm * 60);
	}
	return i == n ? 0 : -1;
}

/* Epoch seconds, an integer or a decimal fraction; an exponent goes
 * through a double.  -1 out of range. */
static int
parse_epoch(const char *p, size_t n, long long *secs, long *usec)
{
	long long whole = 0;
	long frac = 0;
	size_t i = 0, k = 0;
	int neg = 0;

	if (memchr(p, 'e', n) != NULL || memchr(p, 'E', n) != NULL) {
		double d, f;

		if (json_real(p, n, &d) < 0 || fabs(d) > 253402300800.0)
			return -1;
		f = floor(d);
		*secs = (long long)f;
		*usec = lround((d - f) * 1e6);
	} else {
		if (p[0] == '-') {
			neg = 1;
			i++;
		}
		for (; i < n && p[i] != '.'; i++) {
			if (whole > 300000000000LL)
				return -1;
			whole = whole * 10 + (p[i] - '0');
		}
		for (i += i < n; i < n; i++, k++)
			if (k < 6)
				frac = frac * 10 + (p[i] - '0');
			else if (k == 6 && p[i] >= '5')
				frac++;		/* rounded to microseconds */
		for (; k < 6; k++)
			frac *= 10;
		*secs = neg ? -whole : whole;
		*usec = frac;
		if (neg && frac > 0) {
			(*secs)--;
			*usec = 1000000 - frac;
		}
	}
	if (*usec >= 1000000) {
		(*secs)++;
		*usec -= 1000000;
	}
	/* 0001-01-01 to 9999-12-31 */
	return *secs < -62135596800LL || *secs > 253402300799LL ? -1 : 0;
}

static int
convert_datetime(const struct simlog_column *c, const struct simlog_jmember *m,
		 char **o, struct simlog_val *v, struct simlog_err *err)
{
	long long secs;
	long usec;
	char what[120];

	if (m->kind == SIMLOG_JV_NUMBER) {
		if (parse_epoch(m->val, m->vlen, &secs, &usec) < 0)
			return misfit(err, c, "epoch seconds out of range "
			    "(years 1 to 9999)");
	} else if (m->kind != SIMLOG_JV_STRING ||
	    memchr(m->val + 1, '\\', m->vlen - 2) != NULL ||
	    parse_iso(m->val + 1, m->vlen - 2, &secs, &usec) < 0 ||
	    secs < -62135596800LL || secs > 253402300799LL) {
		snprintf(what, sizeof(what), "expected an ISO 8601 date-time "
		    "or epoch seconds, got %s%.*s", m->kind == SIMLOG_JV_STRING ?
		    "" : kind_name(m->kind), m->kind == SIMLOG_JV_STRING ?
		    (int)(m->vlen > 40 ? 40 : m->vlen) : 0, m->val);
		return misfit(err, c, what);
	}
	v->kind = SIMLOG_V_TEXT;
	v->s = *o;
	v->n = format_time(secs, usec, *o);
	*o += v->n;
	return 0;
}

/* Convert one member to a column's type; decoded text goes to the scratch
 * buffer at *o. */
static int
convert(const struct simlog_column *c, const struct simlog_jmember *m,
	char **o, struct simlog_val *v, struct simlog_err *err)
{
	char what[80];

	v->set = 1;
	if (m->kind == SIMLOG_JV_NULL) {
		v->kind = SIMLOG_V_NULL;
		return 0;
	}
	switch (c->type) {
	case SIMLOG_C_INTEGER:
		if (m->kind != SIMLOG_JV_NUMBER)
			goto wrong;
		switch (json_integer(m->val, m->vlen, &v->i)) {
		case -1:
			goto wrong;
		case -2:
			return misfit(err, c, "integer out of 64-bit range");
		}
		v->kind = SIMLOG_V_INT;
		v->s = m->val;
		v->n = m->vlen;
		return 0;
	case SIMLOG_C_REAL:
		if (m->kind != SIMLOG_JV_NUMBER)
			goto wrong;
		switch (json_real(m->val, m->vlen, &v->r)) {
		case -1:
			goto wrong;
		case -2:
			return misfit(err, c, "number out of range");
		}
		v->kind = SIMLOG_V_REAL;
		v->s = m->val;
		v->n = m->vlen;
		return 0;
	case SIMLOG_C_BOOLEAN:
		if (m->kind == SIMLOG_JV_TRUE || m->kind == SIMLOG_JV_FALSE)
			v->i = m->kind == SIMLOG_JV_TRUE;
		else if (m->kind == SIMLOG_JV_NUMBER && m->vlen == 1 &&
		    (m->val[0] == '0' || m->val[0] == '1'))
			v->i = m->val[0] == '1';
		else
			goto wrong;
		v->kind = SIMLOG_V_INT;
		v->s = v->i ? "1" : "0";
		v->n = 1;
		return 0;
	case SIMLOG_C_TEXT:
		if (m->kind != SIMLOG_JV_STRING)
			goto wrong;
		v->kind = SIMLOG_V_TEXT;
		if (memchr(m->val + 1, '\\', m->vlen - 2) == NULL) {
			/* Nothing to decode (the scanner refused raw NULs). */
			v->s = m->val + 1;
			v->n = m->vlen - 2;
			return 0;
		}
		v->s = *o;
		v->n = simlog_json_unescape(m->val + 1, m->vlen - 2, *o);
		if (memchr(v->s, '\0', v->n) != NULL)
			return misfit(err, c, "text holds a NUL character");
		*o += v->n;
		return 0;
	case SIMLOG_C_JSON:
		v->kind = SIMLOG_V_TEXT;
		v->s = m->val;
		v->n = m->vlen;
		return 0;
	case SIMLOG_C_ID:
		/* A number is kept as its JSON text: 42 is '42'. */
		if (m->kind == SIMLOG_JV_NUMBER) {
			v->kind = SIMLOG_V_TEXT;
			v->s = m->val;
			v->n = m->vlen;
			return 0;
		}
		if (m->kind != SIMLOG_JV_STRING)
			goto wrong;
		c = &(struct simlog_column){ .name = c->name,
		    .type = SIMLOG_C_TEXT };
		return convert(c, m, o, v, err);
	case SIMLOG_C_DATETIME:
		return convert_datetime(c, m, o, v, err);
	}
wrong:
	snprintf(what, sizeof(what), "expected %s, got %s",
	    c->type == SIMLOG_C_INTEGER ? "an integer" :
	    c->type == SIMLOG_C_REAL ? "a number" :
	    c->type == SIMLOG_C_BOOLEAN ? "true or false" :
	    c->type == SIMLOG_C_ID ? "a string or a number" : "a string",
	    kind_name(m->kind));
	return misfit(err, c, what);
}

/* A computed column's value: its template filled in at *o. */
static int
compute(struct simlog_stable *t, const struct simlog_column *c,
	struct simlog_val *vals, char **o, struct simlog_err *err)
{
	char *start = *o;

	for (size_t k = 0; k < c->nparts; k++) {
		const struct simlog_tpart *pt = &c->parts[k];
		const struct simlog_val *v;

		memcpy(*o, pt->lit, pt->litlen);
		*o += pt->litlen;
		if (pt->col < 0)
			break;
		v = &vals[pt->col];
		if (!v->set || v->kind == SIMLOG_V_NULL) {
			char what[100];

			snprintf(what, sizeof(what), "needs column %s, which "
			    "is missing", t->cols[pt->col].name);
			return misfit(err, c, what);
		}
		if (v->kind == SIMLOG_V_INT)
			*o += snprintf(*o, 32, "%lld", v->i);
		else if (v->kind == SIMLOG_V_REAL)
			*o += snprintf(*o, 32, "%.17g", v->r);
		else {
			memcpy(*o, v->s, v->n);
			*o += v->n;
		}
	}
	vals[c - t->cols].set = 1;
	vals[c - t->cols].kind = SIMLOG_V_TEXT;
	vals[c - t->cols].s = start;
	vals[c - t->cols].n = (size_t)(*o - start);
	return 0;
}

static int
find_source(const struct simlog_stable *t, const char *key, size_t n)
{
	for (size_t h = fnv(key, n) & (t->hcap - 1); t->hash[h] != 0;
	    h = (h + 1) & (t->hcap - 1)) {
		const struct simlog_source *src = &t->src[t->hash[h] - 1];

		if (src->klen == n && memcmp(src->key, key, n) == 0)
			return (int)t->hash[h] - 1;
	}
	return -1;
}

/* The scratch space one record of len bytes may need. */
static int
reserve(struct simlog_schema *s, const struct simlog_stable *t, size_t len,
	struct simlog_err *err)
{
	/* Unescaped text and date-times, the rest object (no longer than
	 * the line), computed values. */
	size_t need = 2 * len + 8 + 32 * t->ncols + t->scratch;

	for (size_t i = 0; i < t->ncols; i++)
		if (t->cols[i].tmpl != NULL)
			need += t->cols[i].nrefs * len;
	if (need > s->bufcap) {
		char *q = realloc(s->buf, need);

		if (q == NULL)
			return simlog_seterr(err, SIMLOG_EX_SOFTWARE,
			    "out of memory");
		s->buf = q;
		s->bufcap = need;
	}
	return 0;
}

/* What stands for a column the record does not give. */
static void
fill_missing(struct simlog_stable *t, const char *sim, struct simlog_val *vals)
{
	for (size_t i = 0; i < t->ncols; i++) {
		const struct simlog_column *c = &t->cols[i];
		struct simlog_val *v = &vals[i];

		if (c->is_sim) {
			v->set = 1;
			v->kind = SIMLOG_V_TEXT;
			v->s = sim;
			v->n = strlen(sim);
		} else if (!v->set && c->dkind != SIMLOG_D_NONE && !c->tmpl) {
			v->set = 1;
			v->dflt = 1;
			switch (c->dkind) {
			case SIMLOG_D_INT:
				v->kind = SIMLOG_V_INT;
				v->i = c->dint;
				v->s = c->dform;
				break;
			case SIMLOG_D_REAL:
				v->kind = SIMLOG_V_REAL;
				v->r = c->dreal;
				v->s = c->dform;
				break;
			case SIMLOG_D_TEXT:
				v->kind = SIMLOG_V_TEXT;
				v->s = c->dtext;
				break;
			default:
				v->kind = SIMLOG_V_NULL;
				v->s = NULL;
			}
			v->n = v->s ? strlen(v->s) : 0;
		}
	}
}

/* A field no column takes: named once a run (the first few). */
static void
note_unmapped(struct simlog_stable *t, const char *key, size_t klen)
{
	t->row_unmapped++;
	for (size_t i = 0; i < t->nunmapped; i++)
		if (strlen(t->unmapped[i]) == klen &&
		    memcmp(t->unmapped[i], key, klen) == 0)
			return;
	if (t->nunmapped == SIMLOG_UNMAPPED_NAMES ||
	    (t->unmapped[t->nunmapped] = strndup(key, klen)) == NULL)
		t->unmapped_more = 1;
	else
		t->nunmapped++;
}

/* The record's own value of the sim column's field: the simulation it was
 * pushed under, or null. */
static int
check_sim(const struct simlog_column *c, const struct simlog_jmember *m,
	  const char *sim, char *tmp, struct simlog_err *err)
{
	char what[SIMLOG_ERRLEN / 2];
	const char *v = m->val + 1;
	size_t n = m->vlen - 2;

	if (m->kind == SIMLOG_JV_NULL)
		return 0;
	if (m->kind != SIMLOG_JV_STRING) {
		snprintf(what, sizeof(what), "expected the simulation's name, "
		    "got %s", kind_name(m->kind));
		return misfit(err, c, what);
	}
	if (memchr(v, '\\', n) != NULL) {
		n = simlog_json_unescape(v, n, tmp);
		v = tmp;
	}
	if (n == strlen(sim) && memcmp(v, sim, n) == 0)
		return 0;
	snprintf(what, sizeof(what), "the record names simulation '%.*s', "
	    "but it was pushed under '%s'", (int)(n > 80 ? 80 : n), v, sim);
	return misfit(err, c, what);
}

/* A column fed from inside a field: follow its path.  A step that finds
 * nothing leaves the column missing; one into a value of another kind is
 * a misfit. */
static int
convert_path(const struct simlog_column *c, const struct simlog_jmember *top,
	     char **o, struct simlog_val *v, struct simlog_err *err)
{
	struct simlog_jmember m = *top;
	char what[160];

	for (size_t k = 0; k < c->npath; k++) {
		const struct simlog_pstep *st = &c->path[k];
		int rc;

		if (m.kind == SIMLOG_JV_NULL)
			return 0;
		rc = simlog_json_child(m.val, m.vlen, st->key, st->klen,
		    st->index, &m);
		if (rc > 0)
			return 0;
		if (rc < 0) {
			snprintf(what, sizeof(what), "from %s: expected %s at "
			    "step %zu, got %s", c->field, st->key ? "an object" :
			    "an array", k + 1, kind_name(m.kind));
			return misfit(err, c, what);
		}
	}
	if (v->set)
		return misfit(err, c, "field appears twice");
	return convert(c, &m, o, v, err);
}

int
simlog_stable_row(struct simlog_schema *s, struct simlog_stable *t,
		  const char *sim, const char *json, size_t len,
		  struct simlog_val *vals, struct simlog_err *err)
{
	struct simlog_jmember m[MAX_MEMBERS];
	size_t n, i, tflen = strlen(s->typefield);
	const char *why;
	char *text, *rest, *comp, *r0;
	int sim_seen = 0;

	t->row_unmapped = 0;
	if (simlog_json_members(json, len, m, MAX_MEMBERS, &n, &why) < 0)
		return simlog_seterr(err, SIMLOG_EX_DATAERR, "record: %s",
		    why), 1;
	if (reserve(s, t, len, err) < 0)
		return -1;
	text = s->buf;
	r0 = rest = s->buf + len + 32 * t->ncols + 1;
	comp = r0 + len + 3;
	memset(vals, 0, t->ncols * sizeof(*vals));
	*rest++ = '{';
	for (i = 0; i < n; i++) {
		char kbuf[256];
		const char *key = m[i].key;
		size_t klen = m[i].klen;
		const struct simlog_source *src;
		int si;

		if (m[i].kesc && klen < sizeof(kbuf)) {
			klen = simlog_json_unescape(key, klen, kbuf);
			key = kbuf;
		}
		if (i < 64 && t->pred[i] != 0 && t->src[t->pred[i] - 1].klen ==
		    klen && memcmp(t->src[t->pred[i] - 1].key, key,
		    klen) == 0)
			si = t->pred[i] - 1;
		else if ((si = find_source(t, key, klen)) >= 0 && i < 64)
			t->pred[i] = (unsigned short)(si + 1);
		if (si >= 0) {
			src = &t->src[si];
			if (src->sim >= 0) {
				if (sim_seen++)
					return misfit(err, &t->cols[src->sim],
					    "field appears twice"), 1;
				if (check_sim(&t->cols[src->sim], &m[i], sim,
				    text, err) < 0)
					return 1;
				continue;
			}
			if (src->col >= 0) {
				if (vals[src->col].set)
					return misfit(err, &t->cols[src->col],
					    "field appears twice"), 1;
				if (convert(&t->cols[src->col], &m[i], &text,
				    &vals[src->col], err) < 0)
					return 1;
			}
			for (size_t k = 0; k < src->npaths; k++)
				if (convert_path(&t->cols[src->paths[k]], &m[i],
				    &text, &vals[src->paths[k]], err) < 0)
					return 1;
			continue;
		}
		if (klen == tflen && memcmp(key, s->typefield, tflen) == 0)
			continue;	/* the record's type: not a field */
		if (t->rest < 0) {
			note_unmapped(t, key, klen);
			if (t->strict_fields)
				return simlog_seterr(err, SIMLOG_EX_DATAERR,
				    "field %.*s feeds no column of table %s "
				    "(strict fields)", (int)(klen > 64 ? 64 :
				    klen), key, t->name), 1;
			continue;	/* not kept */
		}
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
		vals[t->rest].kind = SIMLOG_V_TEXT;
		vals[t->rest].s = r0;
		vals[t->rest].n = (size_t)(rest - r0);
	}
	fill_missing(t, sim, vals);
	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].tmpl != NULL &&
		    compute(t, &t->cols[i], vals, &comp, err) < 0)
			return 1;
	return 0;
}

size_t
simlog_stable_conflict_cols(const struct simlog_stable *t, const char **names,
			    size_t max)
{
	size_t i, n = 0;

	if (t->nkey > 0) {
		for (i = 0; i < t->nkey && n < max; i++)
			names[n++] = t->key[i];
		return n;
	}
	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].primary) {
			names[0] = t->cols[i].name;
			return 1;
		}
	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].unique) {
			names[0] = t->cols[i].name;
			return 1;
		}
	for (i = 0; t->nuniques > 0 && i < t->nuniq[0] && n < max; i++)
		names[n++] = t->uniques[0][i];
	return n;
}

const char *
simlog_val_key(const struct simlog_val *v, char *buf, size_t *n)
{
	if (v->kind == SIMLOG_V_INT) {
		*n = (size_t)snprintf(buf, 24, "%lld", v->i);
		return buf;
	}
	*n = v->n;
	return v->s;
}

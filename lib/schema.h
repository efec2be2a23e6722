/*
 * Schema internals shared by lib/schema.c (parsing, and turning a record
 * into a row of typed values) and the sinks in lib/sink/ (tables and rows
 * in one database's SQL).  Not installed: the public face of schemas is in
 * simlog.h.
 */
#ifndef SIMLOG_SCHEMA_H
#define SIMLOG_SCHEMA_H

#include "simlog.h"

#define SIMLOG_SCHEMA_MAXCOLS 256

enum simlog_ctype { SIMLOG_C_INTEGER, SIMLOG_C_REAL, SIMLOG_C_TEXT,
	SIMLOG_C_BOOLEAN, SIMLOG_C_JSON };
/* The names schema files use. */
extern const char *const simlog_ctype_names[5];

/* A column's default (simlog-schema(5) "default VALUE"). */
enum simlog_dkind { SIMLOG_D_NONE, SIMLOG_D_NULL, SIMLOG_D_INT, SIMLOG_D_REAL,
	SIMLOG_D_TEXT };

enum simlog_on_dup { SIMLOG_DUP_REJECT, SIMLOG_DUP_UPDATE, SIMLOG_DUP_IGNORE };

/* One piece of a computed column's template: literal text, then the value
 * of column col (-1: none, the template ends). */
struct simlog_tpart {
	const char *lit;
	size_t litlen;
	int col;
};

struct simlog_column {
	char *name;
	char *field;		/* source field; NULL for sim/computed/rest */
	size_t flen;
	enum simlog_ctype type;
	int notnull, primary, unique;
	int is_sim, is_rest;
	char *tmpl;		/* computed: "{col}..." */
	struct simlog_tpart *parts;	/* tmpl, compiled */
	size_t nparts, nrefs;
	int line;		/* where it was declared */
	enum simlog_dkind dkind;	/* default */
	long long dint;
	double dreal;
	char *dtext;
	char dform[40];		/* a numeric default as text */
};

struct simlog_stable {
	char *name, *type;
	struct simlog_column *cols;
	size_t ncols;
	char **key;		/* composite primary key */
	size_t nkey;
	char ***uniques;	/* composite unique constraints */
	size_t *nuniq, nuniques;
	int rest;		/* index of the rest column, or -1 */
	enum simlog_on_dup on_dup;
	unsigned *hash;		/* field-name hash: slot -> column index + 1 */
	size_t hcap;
	size_t scratch;		/* bytes of scratch templates need beyond 2n */
	unsigned short pred[64];	/* member i -> the column index + 1 the
					 * record before matched there, 0 none:
					 * records of a type keep their order */
	int line;
	void *sink;		/* the sink's state for this table */
};

struct simlog_schema {
	char *path;
	int strict;
	char *typefield;
	struct simlog_stable *tables;
	size_t ntables;
	char *buf;		/* scratch for one record */
	size_t bufcap;
};

/* One value of a row.  s/n hold the text form of every kind but NULL: the
 * decoded string for TEXT, the JSON text for JSON, the number as written
 * for INTEGER and REAL, "0"/"1" for BOOLEAN, the default's text. */
enum simlog_vkind { SIMLOG_V_NULL, SIMLOG_V_INT, SIMLOG_V_REAL, SIMLOG_V_TEXT };
struct simlog_val {
	unsigned char set;	/* present: a field, the simulation, computed */
	unsigned char dflt;	/* missing, the column's default stands in */
	enum simlog_vkind kind;
	long long i;
	double r;
	const char *s;
	size_t n;
};

/*
 * Turn a record into a row of its table: vals[i] for column i.  Values
 * point into json, sim, the schema or its scratch space, valid until the
 * next call.  Returns 0, or 1 when the record does not fit (err says why).
 */
int simlog_stable_row(struct simlog_schema *s, struct simlog_stable *t,
		      const char *sim, const char *json, size_t len,
		      struct simlog_val *vals, struct simlog_err *err);

/* Whether column c, missing from t's existing table, may be added to it
 * (ALTER TABLE ADD COLUMN): not a key, not NOT NULL without a default.
 * 0, or -1 with a CONFIG error saying why. */
int simlog_stable_addable(const struct simlog_stable *t,
			  const struct simlog_column *c, struct simlog_err *err);

/* Whether column c is part of t's composite key. */
int simlog_stable_in_key(const struct simlog_stable *t,
			 const struct simlog_column *c);

#endif

/*
 * Schemas (simlog-schema(5)), lib/schema.c, not installed: a schema file
 * loaded, and how a record's fields become a row of typed values, which
 * the sinks in lib/sink/ write in their database's SQL.  How fields map
 * to columns is explained in schema.c's opening comment.
 */
#ifndef SIMLOG_SCHEMA_H
#define SIMLOG_SCHEMA_H

#include "simlog.h"

struct simlog_schema;
struct simlog_stable;
/* Load a schema file (a path with '/' or ending in .schema) or a named
 * one from $SIMLOG_SCHEMA_PATH or the installed schema directory.  Parse
 * errors name the file and line. */
struct simlog_schema *simlog_schema_load(const char *name,
					 struct simlog_err *err);
void simlog_schema_free(struct simlog_schema *s);
const char *simlog_schema_path(const struct simlog_schema *s);
/* Strict: record types the schema does not map are dead letters. */
int simlog_schema_strict(const struct simlog_schema *s);
struct simlog_stable *simlog_schema_table(struct simlog_schema *s,
					  const char *type, size_t len);
const char *simlog_stable_name(const struct simlog_stable *t);
/* Where the records go and how rows are written: lib/sink/sink.h. */

#define SIMLOG_SCHEMA_MAXCOLS 256

/* ID: a string or a number, stored as text; DATETIME: ISO 8601 text or
 * epoch seconds, stored as UTC "YYYY-MM-DD HH:MM:SS.ffffff". */
enum simlog_ctype { SIMLOG_C_INTEGER, SIMLOG_C_REAL, SIMLOG_C_TEXT,
	SIMLOG_C_BOOLEAN, SIMLOG_C_JSON, SIMLOG_C_ID, SIMLOG_C_DATETIME };
#define SIMLOG_NCTYPES 7
/* The names schema files use. */
extern const char *const simlog_ctype_names[SIMLOG_NCTYPES];

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

/* One step of a path into a field (from meta.seed, from position[0]). */
struct simlog_pstep {
	char *key;		/* a member of an object, or NULL: */
	size_t klen;
	size_t index;		/* an element of an array */
};

struct simlog_column {
	char *name;
	char *field;		/* source field; NULL for sim/computed/rest */
	size_t flen;
	struct simlog_pstep *path;	/* inside the field, npath steps */
	size_t npath;
	char *ref_table, *ref_col;	/* references TABLE(COLUMN) */
	int ref_t, ref_c;		/* their indexes in the schema */
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

/* index NAME on COLUMN, ... (unique index ...) */
struct simlog_index {
	char *name;
	int unique;
	char **cols;
	size_t ncols;
};

/* A top-level field of the records and what it feeds. */
struct simlog_source {
	const char *key;
	size_t klen;
	int col;		/* the column it feeds as a whole, or -1 */
	int sim;		/* the sim column it must agree with, or -1 */
	int *paths;		/* columns fed from inside it */
	size_t npaths;
};

#define SIMLOG_UNMAPPED_NAMES 16

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
	struct simlog_source *src;	/* the fields its columns take */
	size_t nsrc;
	unsigned *hash;		/* field-name hash: slot -> source index + 1 */
	size_t hcap;
	struct simlog_index *idx;
	size_t nidx;
	int strict_fields;	/* a field that feeds no column: dead letter */
	int sim_col;		/* the sim column, or -1 */
	int referenced;		/* another table's column references it */
	int owner_check;	/* on duplicate update with a sim column
				 * outside the key: only the record's own
				 * simulation's row is updated */
	/* Fields records carried that feed no column, named once a run. */
	char *unmapped[SIMLOG_UNMAPPED_NAMES];
	size_t nunmapped;
	int unmapped_more;
	unsigned row_unmapped;	/* such fields in the last record */
	size_t scratch;		/* bytes of scratch templates need beyond 2n */
	unsigned short pred[64];	/* member i -> the source index + 1 the
					 * record before matched there, 0 none:
					 * records of a type keep their order */
	int line;
	void *sink;		/* the sink's state for this table */
};

struct simlog_schema {
	char *path;
	int strict;
	int strict_fields;
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

/* The columns on duplicate update matches rows by (the primary key, else
 * the first unique column or unique line): n names, or 0 when none. */
size_t simlog_stable_conflict_cols(const struct simlog_stable *t,
				   const char **names, size_t max);

/* A value's text as a parent key (INTEGER in decimal): into buf, or
 * pointing into v; the length in *n. */
const char *simlog_val_key(const struct simlog_val *v, char *buf, size_t *n);

#endif

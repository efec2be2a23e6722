/*
 * Schema files (lib/schema.c): what the parser accepts and how it reports
 * what it does not (FILE:LINE), and records converted and stored through
 * the SQLite sink (lib/sink/sqlite.c): return codes, stored values and
 * their SQLite types.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "schema.h"
#include "simlog.h"
#include "sink/sink.h"
#include "sink/sink_int.h"
#include "tap.h"

static char dir[256];
static int nfile;

/* Write text to a new .schema file in the temporary directory. */
static const char *
write_schema(const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/s%d.schema", dir, ++nfile);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF ||
	    fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	return path;
}

static struct simlog_schema *
load(const char *text, const char *what)
{
	struct simlog_err e = { 0 };
	struct simlog_schema *s = simlog_schema_load(write_schema(text), &e);

	if (!ok(s != NULL, "parses: %s", what))
		printf("#   %s\n", e.msg);
	return s;
}

/* The schema must be refused with status 78 and "PATH:LINE: ...want...". */
static void
bad(const char *text, int line, const char *want)
{
	struct simlog_err e = { 0 };
	const char *path = write_schema(text);
	struct simlog_schema *s = simlog_schema_load(path, &e);
	char prefix[600];

	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	if (!ok(s == NULL && e.code == SIMLOG_EX_CONFIG &&
	    strncmp(e.msg, prefix, strlen(prefix)) == 0 &&
	    strstr(e.msg, want) != NULL, "refused at line %d: %s", line, want))
		printf("#   got %s (code %d): %s\n", s ? "a schema" : "NULL",
		    e.code, e.msg);
	simlog_schema_free(s);
}

/* The first column of the first row of sql, as text ("" if none). */
static const char *
one(sqlite3 *db, const char *sql)
{
	static char buf[4096];
	sqlite3_stmt *st;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(buf, sizeof(buf), "SQL error: %s", sqlite3_errmsg(db));
		return buf;
	}
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(buf, sizeof(buf), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return buf;
}

/* A schema applied to a fresh database through the SQLite sink, and a
 * connection of our own to look at the database with. */
struct fixture {
	struct simlog_schema *s;
	struct simlog_sink *sink;
	sqlite3 *db;
	char path[512];
};

static int
setup(struct fixture *f, const char *text, const char *what)
{
	struct simlog_err e = { 0 };
	struct simlog_sink_opts o = { .busy_timeout = 5 };

	f->db = NULL;
	f->sink = NULL;
	snprintf(f->path, sizeof(f->path), "%s/t%d.db", dir, ++nfile);
	if ((f->s = load(text, what)) == NULL)
		return -1;
	if ((f->sink = simlog_sink_open(f->path, &o, &e)) == NULL ||
	    sqlite3_open(f->path, &f->db) != SQLITE_OK) {
		ok(0, "open %s: %s", f->path, e.msg);
		return -1;
	}
	if (!ok(simlog_sink_apply_schema(f->sink, f->s, &e) == 0, "apply: %s",
	    what)) {
		printf("#   %s\n", e.msg);
		return -1;
	}
	snprintf(f->sink->sim, sizeof(f->sink->sim), "SIM1");
	return 0;
}

static void
teardown(struct fixture *f)
{
	simlog_sink_free(f->sink);
	simlog_schema_free(f->s);
	sqlite3_close(f->db);
	unlink(f->path);
	strcat(f->path, "-wal");
	unlink(f->path);
	f->path[strlen(f->path) - 4] = '\0';
	strcat(f->path, "-shm");
	unlink(f->path);
}

/* Insert json as a record of type into f; returns the insert's result and
 * leaves its message in *e. */
static int
ins(struct fixture *f, const char *type, const char *json,
    struct simlog_err *e)
{
	struct simlog_stable *t = simlog_schema_table(f->s, type, strlen(type));
	struct simlog_val vals[SIMLOG_SCHEMA_MAXCOLS];
	struct simlog_route r;
	int rc;

	memset(e, 0, sizeof(*e));
	if (t == NULL) {
		snprintf(e->msg, sizeof(e->msg), "no table for %s", type);
		return -2;
	}
	memset(&r, 0, sizeof(r));
	r.st = t;
	rc = simlog_stable_row(f->s, t, "SIM1", json, strlen(json), vals, e);
	if (rc != 0)
		return rc;
	return f->sink->ops->insert_row(f->sink, &r, vals, json, strlen(json),
	    e);
}

static void
ins_ok(struct fixture *f, const char *type, const char *json)
{
	struct simlog_err e;
	int r = ins(f, type, json, &e);

	if (!ok(r == 0, "insert %s", json))
		printf("#   returned %d: %s\n", r, e.msg);
}

static void
misfit(struct fixture *f, const char *type, const char *json, const char *want)
{
	struct simlog_err e;
	int r = ins(f, type, json, &e);

	if (!ok(r == 1 && e.code == SIMLOG_EX_DATAERR && strcmp(e.msg, want) == 0,
	    "misfit %s: %s", json, want))
		printf("#   returned %d (code %d): %s\n", r, e.code, e.msg);
}

static void
test_parse_good(void)
{
	struct simlog_schema *s;
	struct simlog_err e = { 0 };
	char sp[600];
	const char *top = getenv("SIMLOG_TOP");
	static const char *const types[][2] = {
		{ "agent", "agents" }, { "action", "agent_actions" },
		{ "health_incident", "health_incidents" },
		{ "agent_state", "agent_states" }, { "step", "simulation_steps" },
		{ "resource_state", "resource_states" },
	};

	snprintf(sp, sizeof(sp), "%s/nothing-here:%s/schemas", dir,
	    top ? top : ".");
	setenv("SIMLOG_SCHEMA_PATH", sp, 1);
	s = simlog_schema_load("agentfarm", &e);
	if (ok(s != NULL, "agentfarm found through SIMLOG_SCHEMA_PATH")) {
		const char *p = simlog_schema_path(s);

		ok(strlen(p) > 17 && strcmp(p + strlen(p) - 17,
		    "/agentfarm.schema") == 0, "its path: %s", p);
		ok(!simlog_schema_strict(s), "agentfarm is not strict");
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			struct simlog_stable *t = simlog_schema_table(s,
			    types[i][0], strlen(types[i][0]));

			ok(t != NULL && strcmp(simlog_stable_name(t),
			    types[i][1]) == 0, "type %s -> table %s",
			    types[i][0], types[i][1]);
		}
		ok(simlog_schema_table(s, "agents", 6) == NULL,
		    "a table name is not a type");
		ok(simlog_schema_table(s, "agentx", 5) != NULL,
		    "types are matched by length");
	} else
		printf("#   %s\n", e.msg);
	simlog_schema_free(s);
	simlog_schema_free(NULL);
	ok(1, "simlog_schema_free(NULL) is a no-op");

	/* The example of simlog-schema(5). */
	s = load("# ticks.schema\n"
	    "strict\n"
	    "\n"
	    "table ticks for tick\n"
	    "    sim_name     TEXT     not null  sim\n"
	    "    step         INTEGER  not null\n"
	    "    population   INTEGER  default 0\n"
	    "    mean_energy  REAL\n"
	    "    crowded      BOOLEAN  default false\n"
	    "    key step, sim_name\n"
	    "    on duplicate ignore\n"
	    "\n"
	    "table events for event\n"
	    "    id           TEXT     primary key  = \"{sim_name}/{step}/{seq}\"\n"
	    "    sim_name     TEXT     sim\n"
	    "    step         INTEGER  not null\n"
	    "    seq          INTEGER  not null\n"
	    "    kind         TEXT     from event_kind\n"
	    "    payload      JSON\n"
	    "    rest         extra\n", "the example of simlog-schema(5)");
	if (s != NULL) {
		ok(simlog_schema_strict(s), "strict");
		ok(simlog_schema_table(s, "tick", 4) != NULL &&
		    simlog_schema_table(s, "event", 5) != NULL &&
		    simlog_schema_table(s, "ticks", 5) == NULL, "its types");
	}
	simlog_schema_free(s);

	s = load("typefield kind\n"
	    "table Tab\t# comment\n"
	    "\tA integer PRIMARY KEY\n"
	    "    b Text Not Null Default \"x # y\"\n"
	    "    c real,default,-0.5 # comment\n"
	    "    strict text\n"
	    "    d boolean default true\n"
	    "    e json default null\n"
	    "    f text from \"g\"\n"
	    "    h TEXT = \"{A}\\\"{b}\\\\\"\n"
	    "    UNIQUE text\n"
	    "    unique A, b\n"
	    "    unique c\n"
	    "    on duplicate update\n", "case, commas, comments and quotes");
	simlog_schema_free(s);
}

static void
test_parse_bad(void)
{
	struct simlog_err e = { 0 };
	char longline[5000];
	char words[1024] = "table a\n    x TEXT";
	struct simlog_schema *s;
	const char *path;

	bad("table a\n    x FLOAT\n", 2, "column x: unknown type 'FLOAT'");
	bad("table a\n    x TEXT\n    y TEXT not null bogus\n", 3,
	    "column y: unexpected 'bogus'");
	bad("table a\n    x TEXT primary\n", 2, "column x: unexpected 'primary'");
	bad("table a\n    x TEXT not\n", 2, "column x: unexpected 'not'");
	bad("table a\n    x TEXT = foo\n", 2, "column x: unexpected '='");
	bad("table a\n    x TEXT from\n", 2, "column x: unexpected 'from'");
	bad("# c\n\n    x TEXT\n", 3, "'x' outside a table");
	bad("table a for t\n    x TEXT\ntable a for u\n    y TEXT\n", 3,
	    "table a declared twice");
	bad("table a for t\n    x TEXT\ntable b for t\n    y TEXT\n", 3,
	    "record type t mapped twice");
	bad("table a\n    x TEXT\n    key x, z\n", 3,
	    "key names unknown column 'z'");
	bad("table a\n    key x\n    x TEXT\n", 2, "key names unknown column 'x'");
	bad("table a\n    x TEXT\n    unique x, z\n", 3,
	    "unique names unknown column 'z'");
	bad("table a\n    x TEXT\n    key x\n    key x\n", 4,
	    "table a has a key already");
	bad("table a\n    x TEXT\n    key\n", 3, "key needs column names");
	bad("table a\n    x TEXT\n    on duplicate merge\n", 3,
	    "on duplicate: 'merge' is not reject, update or ignore");
	bad("table a\n    x TEXT\n    on conflict reject\n", 3,
	    "expected: on duplicate reject|update|ignore");
	bad("table a\n    x TEXT\n    rest r\n    rest q\n", 4,
	    "rest column q: declared twice");
	bad("table a\n    x TEXT\n    rest x\n", 3, "rest column x: declared twice");
	bad("table a\n    x TEXT\n    rest 9r\n", 3, "expected: rest COLUMN");
	bad("table a\n    x TEXT\nstrict\n", 3, "strict goes before the tables");
	bad("table a\n    x TEXT\ntypefield kind\n", 3,
	    "typefield NAME goes before the tables");
	bad("typefield a b\ntable a\n    x TEXT\n", 1,
	    "typefield NAME goes before the tables");
	bad("table a b\n    x TEXT\n", 1, "expected: table NAME [for TYPE]");
	bad("table a for\n    x TEXT\n", 1, "expected: table NAME [for TYPE]");
	bad("table 1a\n    x TEXT\n", 1, "'1a' is not a table name");
	bad("table SQLite_x\n    x TEXT\n", 1, "'SQLite_x' is not a table name");
	bad("table a for simlog_t\n    x TEXT\n", 1, "record type 'simlog_t'");
	bad("table a\n    1x TEXT\n", 2, "'1x' is not a column name");
	bad("table a\n    x-y TEXT\n", 2, "'x-y' is not a column name");
	bad("table a\n    x\n", 2, "column x needs a type");
	bad("table a\n    x TEXT\n    X REAL\n", 3, "column X named twice");
	bad("table a\n    s INTEGER sim\n", 2, "column s: a sim column is TEXT");
	bad("table a\n    s TEXT sim from f\n", 2,
	    "column s: choose one of sim, from and =");
	bad("table a\n    s TEXT from f = \"x\"\n", 2,
	    "column s: choose one of sim, from and =");
	bad("table a\n    x INTEGER default 1x\n", 2,
	    "default '1x' is not a number");
	bad("table a\n    x INTEGER default 1e999\n", 2,
	    "default '1e999' is not a number");
	bad("table a\n    x TEXT default \"abc\n", 2, "unterminated string");
	bad("table a\ntable b\n    x TEXT\n", 1, "table a has no columns");
	bad("table a\n    x TEXT\ntable b\n", 3, "table b has no columns");
	bad("table a\n    x TEXT primary key\n    y TEXT primary key\n", 1,
	    "table a: more than one primary key");
	bad("table a\n    x TEXT primary key\n    y TEXT\n    key x, y\n", 1,
	    "table a: more than one primary key");
	bad("table a\n    x TEXT\n    y TEXT from x\n", 1,
	    "table a: field x feeds two columns");
	bad("table a\n    x TEXT\n    y TEXT = \"{x\"\n", 3,
	    "column y: bad {name} in template");
	bad("table a\n    x TEXT\n    y TEXT = \"{}\"\n", 3,
	    "column y: bad {name} in template");
	/* A template's problem is on the template's own line. */
	bad("table a\n    x TEXT\n    y TEXT = \"{x}-{z}\"\n", 3,
	    "column y: template names unknown column 'z'");
	bad("table a\n    x TEXT = \"{z}\"\n    z TEXT\n    y TEXT = \"{x}\"\n", 4,
	    "column y: template names computed column 'x'");

	memset(longline, 'x', sizeof(longline) - 2);
	memcpy(longline, "table a\n# ", 10);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	bad(longline, 2, "line longer than 4094 bytes");
	for (int i = 0; i < 70; i++)
		strcat(words, " unique");
	strcat(words, "\n");
	bad(words, 2, "too many words on one line");

	/* No tables: the file is named, there is no line to name. */
	path = write_schema("# only a comment\nstrict\n");
	s = simlog_schema_load(path, &e);
	ok(s == NULL && e.code == SIMLOG_EX_CONFIG &&
	    strstr(e.msg, path) == e.msg &&
	    strstr(e.msg, "no tables in the schema") != NULL,
	    "no tables: %s", e.msg);

	s = simlog_schema_load("nosuch", &e);
	ok(s == NULL && e.code == SIMLOG_EX_NOINPUT &&
	    strstr(e.msg, "no schema named 'nosuch'") != NULL,
	    "an unknown name: 66, %s", e.msg);
	s = simlog_schema_load("./nosuch.schema", &e);
	ok(s == NULL && e.code == SIMLOG_EX_NOINPUT, "a missing file: 66, %s",
	    e.msg);
	s = simlog_schema_load("a b", &e);
	ok(s == NULL && e.code == SIMLOG_EX_USAGE, "neither file nor name: "
	    "64, %s", e.msg);
	s = simlog_schema_load(dir, &e);
	ok(s == NULL && e.code != 0, "a directory: %d, %s", e.code, e.msg);
}

static const char typed[] =
    "table t for rec\n"
    "    id    INTEGER  primary key\n"
    "    i     INTEGER\n"
    "    r     REAL\n"
    "    s     TEXT\n"
    "    b     BOOLEAN\n"
    "    j     JSON\n"
    "    nn    TEXT     not null  from must\n"
    "    d     INTEGER  default 7\n"
    "    sim   TEXT     sim\n"
    "    rest  extra\n";

static void
test_insert(void)
{
	struct fixture f;
	struct simlog_err e;

	if (setup(&f, typed, "typed columns") < 0) {
		teardown(&f);
		return;
	}
	is_str(one(f.db, "SELECT group_concat(name || ' ' || type || ' ' || "
	    "\"notnull\" || pk, ', ') FROM pragma_table_info('t')"),
	    "id INTEGER 01, i INTEGER 00, r REAL 00, s TEXT 00, b BOOLEAN 00, "
	    "j TEXT 00, nn TEXT 10, d INTEGER 00, sim TEXT 00, extra TEXT 00",
	    "the table's columns");

	ins_ok(&f, "rec", "{\"type\":\"rec\",\"id\":1,\"i\":9007199254740993,"
	    "\"r\":1,\"s\":\"a\\\"b\\u00e9\\ud83d\\ude00\\n\",\"b\":true,"
	    "\"j\":{\"a\":[1,\"x\"]},\"must\":\"m\",\"x\":[1, 2],\"y\":null}");
	is_str(one(f.db, "SELECT quote(i) || ':' || typeof(i) FROM t WHERE id = 1"),
	    "9007199254740993:integer", "2^53+1 stored exactly");
	is_str(one(f.db, "SELECT quote(r) || ':' || typeof(r) FROM t WHERE id = 1"),
	    "1.0:real", "an integer in a REAL column is a REAL");
	is_str(one(f.db, "SELECT s FROM t WHERE id = 1"),
	    "a\"b\xc3\xa9\xf0\x9f\x98\x80\n", "TEXT unescaped, surrogate pair "
	    "joined");
	is_str(one(f.db, "SELECT quote(b) || ':' || typeof(b) FROM t WHERE id = 1"),
	    "1:integer", "true is 1");
	is_str(one(f.db, "SELECT j || ':' || typeof(j) FROM t WHERE id = 1"),
	    "{\"a\":[1,\"x\"]}:text", "JSON kept as its text");
	is_str(one(f.db, "SELECT nn || ' ' || d || ' ' || sim FROM t WHERE id = 1"),
	    "m 7 SIM1", "from, a default and the simulation");
	is_str(one(f.db, "SELECT extra FROM t WHERE id = 1"),
	    "{\"x\":[1, 2],\"y\":null}", "rest: other fields, not the type");

	ins_ok(&f, "rec", "{\"id\":2,\"i\":-9223372036854775808,\"b\":0,"
	    "\"must\":\"m\",\"d\":null,\"j\":\"s\",\"r\":-1.5e-300}");
	is_str(one(f.db, "SELECT i || ' ' || b || ' ' || quote(d) || ' ' || j "
	    "|| ' ' || extra FROM t WHERE id = 2"),
	    "-9223372036854775808 0 NULL \"s\" {}", "smallest integer, 0, "
	    "null is not the default, a JSON string keeps its quotes");
	is_str(one(f.db, "SELECT typeof(r) || (abs(r / -1.5e-300 - 1) < 1e-9) "
	    "FROM t WHERE id = 2"), "real1", "a small REAL");
	ins_ok(&f, "rec", "{\"i\":9223372036854775807,\"b\":1,\"must\":\"m\","
	    "\"i2\":1}");
	is_str(one(f.db, "SELECT id || ' ' || i || ' ' || b FROM t WHERE id = 3"),
	    "3 9223372036854775807 1", "an INTEGER primary key left out is the "
	    "next rowid; the largest integer");

	misfit(&f, "rec", "{\"i\":\"1\",\"must\":\"m\"}",
	    "column i: expected an integer, got a string");
	misfit(&f, "rec", "{\"i\":1.0,\"must\":\"m\"}",
	    "column i: expected an integer, got a number");
	misfit(&f, "rec", "{\"i\":1e3,\"must\":\"m\"}",
	    "column i: expected an integer, got a number");
	misfit(&f, "rec", "{\"i\":1E3,\"must\":\"m\"}",
	    "column i: expected an integer, got a number");
	misfit(&f, "rec", "{\"i\":true,\"must\":\"m\"}",
	    "column i: expected an integer, got true");
	misfit(&f, "rec", "{\"i\":9223372036854775808,\"must\":\"m\"}",
	    "column i: integer out of 64-bit range");
	misfit(&f, "rec", "{\"i\":-9223372036854775809,\"must\":\"m\"}",
	    "column i: integer out of 64-bit range");
	misfit(&f, "rec", "{\"r\":1e999,\"must\":\"m\"}",
	    "column r: number out of range");
	misfit(&f, "rec", "{\"r\":\"1.5\",\"must\":\"m\"}",
	    "column r: expected a number, got a string");
	misfit(&f, "rec", "{\"r\":[1],\"must\":\"m\"}",
	    "column r: expected a number, got an array");
	misfit(&f, "rec", "{\"s\":5,\"must\":\"m\"}",
	    "column s: expected a string, got a number");
	misfit(&f, "rec", "{\"s\":{},\"must\":\"m\"}",
	    "column s: expected a string, got an object");
	/* The scanner refuses \u0000 before any column sees it. */
	misfit(&f, "rec", "{\"s\":\"a\\u0000b\",\"must\":\"m\"}",
	    "record: \\u0000 in string");
	misfit(&f, "rec", "{\"b\":2,\"must\":\"m\"}",
	    "column b: expected true or false, got a number");
	misfit(&f, "rec", "{\"b\":1.0,\"must\":\"m\"}",
	    "column b: expected true or false, got a number");
	misfit(&f, "rec", "{\"b\":\"true\",\"must\":\"m\"}",
	    "column b: expected true or false, got a string");
	misfit(&f, "rec", "{\"i\":1}", "NOT NULL constraint failed: t.nn");
	misfit(&f, "rec", "{\"must\":null}", "NOT NULL constraint failed: t.nn");
	misfit(&f, "rec", "{\"id\":1,\"must\":\"m\"}",
	    "UNIQUE constraint failed: t.id");
	misfit(&f, "rec", "{\"s\":\"a\",\"must\":\"m\",\"s\":\"b\"}",
	    "column s: field appears twice");
	misfit(&f, "rec", "{\"s\":\"a\",\"must\":\"m\",\"\\u0073\":\"b\"}",
	    "column s: field appears twice");
	misfit(&f, "rec", "{\"must\":\"m\",\"must\":null}",
	    "column nn: field appears twice");
	misfit(&f, "rec", "[1]", "record: not a JSON object");
	is_str(one(f.db, "SELECT count(*) FROM t"), "3",
	    "no misfit left a row");

	{
		/* More top-level members than the insert path takes. */
		static char big[8192];
		size_t n = 0;
		struct simlog_err e2;
		int r;

		n += (size_t)snprintf(big + n, sizeof(big) - n, "{\"must\":\"m\"");
		for (int i = 0; i < 600; i++)
			n += (size_t)snprintf(big + n, sizeof(big) - n,
			    ",\"k%d\":%d", i, i);
		snprintf(big + n, sizeof(big) - n, "}");
		r = ins(&f, "rec", big, &e2);
		ok(r == 1 && strstr(e2.msg, "record:") == e2.msg &&
		    strstr(e2.msg, "too many members") != NULL,
		    "600 fields: %d, %s", r, e2.msg);
	}

	/* A record whose escaped key names a column. */
	ins_ok(&f, "rec", "{\"id\":10,\"\\u006dust\":\"esc\"}");
	is_str(one(f.db, "SELECT nn FROM t WHERE id = 10"), "esc",
	    "an escaped field name matches its column");

	/* The database failing is -1, not a misfit, and names the database
	 * and the table. */
	sqlite3_exec(f.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	ok(ins(&f, "rec", "{\"id\":20,\"must\":\"m\"}", &e) == -1 &&
	    e.code == SIMLOG_EX_TEMPFAIL && strstr(e.msg, f.path) == e.msg &&
	    strstr(e.msg, ": t: database is locked") != NULL,
	    "a locked database: -1, %s", e.msg);
	sqlite3_exec(f.db, "COMMIT", NULL, NULL, NULL);
	ins_ok(&f, "rec", "{\"id\":20,\"must\":\"m\"}");
	teardown(&f);
}

static void
test_computed(void)
{
	struct fixture f;
	struct simlog_err e;

	if (setup(&f, "table st for state\n"
	    "    id    TEXT  primary key  = \"{simulation_id}:{agent_id}-{step_number}\"\n"
	    "    simulation_id  TEXT  sim\n"
	    "    step_number    INTEGER\n"
	    "    agent_id       TEXT\n"
	    "    r              REAL\n"
	    "    rs             TEXT  = \"<{r}>{b}{j}\"\n"
	    "    b              BOOLEAN  default false\n"
	    "    j              JSON  default \"[]\"\n",
	    "computed columns") == 0) {
		ins_ok(&f, "state", "{\"agent_id\":\"a\\u00e9\",\"step_number\":"
		    "-3,\"r\":0.5}");
		is_str(one(f.db, "SELECT id || ' ' || rs FROM st"),
		    "SIM1:a\xc3\xa9--3 <0.5>0[]", "templates over the "
		    "simulation, decoded text, integers, reals, defaults");
		misfit(&f, "state", "{\"agent_id\":\"a\",\"step_number\":4}",
		    "column rs: needs column r, which is missing");
		misfit(&f, "state", "{\"agent_id\":null,\"step_number\":4,"
		    "\"r\":1}", "column id: needs column agent_id, which is "
		    "missing");
		misfit(&f, "state", "{\"agent_id\":\"a\\u00e9\",\"step_number\":"
		    "-3,\"r\":1}", "UNIQUE constraint failed: st.id");
		ok(ins(&f, "state", "{\"agent_id\":\"a\",\"step_number\":5,"
		    "\"r\":1,\"id\":\"mine\"}", &e) == 0, "a field named like a "
		    "computed column is not taken");
		is_str(one(f.db, "SELECT id FROM st WHERE step_number = 5"),
		    "SIM1:a-5", "the computed value stands");
	}
	teardown(&f);
}

/* A template that repeats a long value: the child crashes or writes out
 * of bounds if the scratch space is too small. */
static void
test_computed_long(void)
{
	pid_t pid;
	int status = -1;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		struct fixture f;
		struct simlog_err e;
		static char json[40100];
		int bad = 0;

		/* Quiet: only the exit status counts (a sanitizer report
		 * on stderr would break up the TAP stream). */
		if (freopen("/dev/null", "w", stdout) == NULL ||
		    freopen("/dev/null", "w", stderr) == NULL ||
		    setup(&f, "table big for big\n"
		    "    s  TEXT\n"
		    "    c  TEXT  = \"{s}{s}{s}{s}{s}{s}{s}{s}\"\n", "long") < 0)
			_exit(3);
		for (int k = 1; k <= 40; k++) {
			size_t n = (size_t)k * 1000;

			memcpy(json, "{\"s\":\"", 6);
			memset(json + 6, 'a' + k % 26, n);
			memcpy(json + 6 + n, "\"}", 3);
			if (ins(&f, "big", json, &e) != 0)
				bad++;
		}
		if (strcmp(one(f.db, "SELECT count(*) FROM big WHERE "
		    "c = s || s || s || s || s || s || s || s"), "40") != 0)
			bad++;
		teardown(&f);
		_exit(bad ? 1 : 0);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (!ok(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "a template repeating a 40000-byte value, 40 records"))
		printf("#   child %s %d\n", WIFSIGNALED(status) ?
		    "killed by signal" : "exited with",
		    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

static void
test_duplicates(void)
{
	struct fixture f;
	struct simlog_err e;

	if (setup(&f, "table up for up\n"
	    "    on duplicate update\n"
	    "    id     TEXT     primary key\n"
	    "    sim    TEXT     sim\n"
	    "    name   TEXT\n"
	    "    score  INTEGER  default 0\n"
	    "table ig for ig\n"
	    "    on duplicate ignore\n"
	    "    a  INTEGER  not null\n"
	    "    b  INTEGER  not null\n"
	    "    v  TEXT\n"
	    "    key a, b\n"
	    "table rj for rj\n"
	    "    a  TEXT\n"
	    "    b  TEXT\n"
	    "    c  TEXT  unique\n"
	    "    unique a, b\n", "duplicates") == 0) {
		ins_ok(&f, "up", "{\"id\":\"p\",\"name\":\"ann\",\"score\":5}");
		ins_ok(&f, "up", "{\"id\":\"p\",\"name\":\"bea\"}");
		is_str(one(f.db, "SELECT count(*) || ' ' || name FROM up"),
		    "1 bea", "update: the later value replaces the row's");
		ins_ok(&f, "up", "{\"id\":\"p\",\"name\":null,\"score\":6}");
		is_str(one(f.db, "SELECT name FROM up"), "bea",
		    "update: a null keeps the row's value");
		is_str(one(f.db, "SELECT score FROM up"), "6",
		    "update: a value replaces the row's");
		ins_ok(&f, "up", "{\"id\":\"p\"}");
		is_str(one(f.db, "SELECT score FROM up"), "6",
		    "update: a field left out keeps the row's value, "
		    "though the column has a default");

		ins_ok(&f, "ig", "{\"a\":1,\"b\":1,\"v\":\"first\"}");
		ins_ok(&f, "ig", "{\"a\":1,\"b\":2,\"v\":\"other\"}");
		ins_ok(&f, "ig", "{\"a\":1,\"b\":1,\"v\":\"second\"}");
		is_str(one(f.db, "SELECT group_concat(v, ',') FROM "
		    "(SELECT v FROM ig ORDER BY b)"), "first,other",
		    "ignore: the first row stays");

		ins_ok(&f, "rj", "{\"a\":\"1\",\"b\":\"2\",\"c\":\"x\"}");
		misfit(&f, "rj", "{\"a\":\"1\",\"b\":\"2\",\"c\":\"y\"}",
		    "UNIQUE constraint failed: rj.a, rj.b");
		misfit(&f, "rj", "{\"a\":\"3\",\"b\":\"2\",\"c\":\"x\"}",
		    "UNIQUE constraint failed: rj.c");
		ins_ok(&f, "rj", "{\"a\":\"3\",\"b\":\"2\",\"c\":\"z\"}");
		(void)e;
	}
	teardown(&f);

	if (setup(&f, "table k for k\n"
	    "    id  TEXT  primary key\n"
	    "    v   INTEGER\n", "a TEXT primary key") == 0) {
		ins_ok(&f, "k", "{\"id\":\"a\",\"v\":1}");
		ok(ins(&f, "k", "{\"v\":2}", &e) == 1,
		    "a record without its primary key does not fit: %s", e.msg);
		is_str(one(f.db, "SELECT count(*) FROM k WHERE id IS NULL"),
		    "0", "no row with a NULL primary key");
	}
	teardown(&f);
}

static void
test_typefield(void)
{
	struct fixture f;

	if (setup(&f, "typefield kind\n"
	    "table t for t\n"
	    "    n  INTEGER\n"
	    "    rest  more\n", "typefield") == 0) {
		ins_ok(&f, "t", "{\"kind\":\"t\",\"n\":1,\"type\":\"x\"}");
		is_str(one(f.db, "SELECT more FROM t"), "{\"type\":\"x\"}",
		    "the type field is left out of rest, type is not");
	}
	teardown(&f);
}

/* Quoted words are part of the grammar; a quoted FIELD names the field
 * between the quotes (or is refused), never one with a quote in its name. */
static void
test_quoted_field(void)
{
	struct fixture f;

	if (setup(&f, "table q for q\n"
	    "    id  INTEGER  primary key\n"
	    "    x   TEXT     from \"my field\"\n", "a quoted FIELD") == 0) {
		ins_ok(&f, "q", "{\"id\":1,\"my field\":\"v\"}");
		is_str(one(f.db, "SELECT quote(x) FROM q"), "'v'",
		    "from \"my field\" takes the field my field");
	}
	teardown(&f);
}

static void
test_evolution(void)
{
	struct simlog_schema *s2;
	struct simlog_err e = { 0 };
	struct fixture f;

	if (setup(&f, "table ev for ev\n"
	    "    id  INTEGER  primary key\n"
	    "    a   TEXT\n", "version 1") < 0) {
		teardown(&f);
		return;
	}
	ins_ok(&f, "ev", "{\"id\":1,\"a\":\"old\"}");

	s2 = load("table ev for ev\n"
	    "    id  INTEGER  primary key\n"
	    "    a   TEXT\n"
	    "    b   INTEGER  not null  default 4\n"
	    "    c   JSON\n"
	    "    d   TEXT  = \"{a}{b}\"\n", "version 2");
	if (s2 != NULL) {
		ok(simlog_sink_apply_schema(f.sink, s2, &e) == 0, "apply "
		    "version 2 to the version 1 table: %s", e.msg);
		is_str(one(f.db, "SELECT group_concat(name, ',') FROM "
		    "pragma_table_info('ev')"), "id,a,b,c,d", "columns added");
		is_str(one(f.db, "SELECT a || b || quote(c) || quote(d) FROM ev "
		    "WHERE id = 1"), "old4NULLNULL", "the old row kept, with "
		    "the default");
		simlog_schema_free(f.s);
		f.s = s2;
		ins_ok(&f, "ev", "{\"id\":2,\"a\":\"new\",\"c\":[1]}");
		is_str(one(f.db, "SELECT a || b || c || d FROM ev WHERE id = 2"),
		    "new4[1]new4", "a new row in the grown table");
		ok(simlog_sink_apply_schema(f.sink, s2, &e) == 0 &&
		    strcmp(one(f.db, "SELECT count(*) FROM pragma_table_info"
		    "('ev')"), "5") == 0, "applying again changes nothing");
	}

	s2 = load("table ev for ev\n"
	    "    id  INTEGER  primary key\n"
	    "    a   TEXT\n"
	    "    k   TEXT  unique\n", "version 3, a unique column");
	if (s2 != NULL)
		ok(simlog_sink_apply_schema(f.sink, s2, &e) == -1 &&
		    e.code == SIMLOG_EX_CONFIG && strcmp(e.msg, "table ev: cannot "
		    "add key column k to an existing table") == 0,
		    "a unique column cannot be added: %s", e.msg);
	simlog_sink_apply_schema(f.sink, f.s, &e);
	simlog_schema_free(s2);
	s2 = load("table ev for ev\n"
	    "    id  INTEGER  primary key\n"
	    "    n   TEXT  not null\n", "version 4, NOT NULL");
	if (s2 != NULL)
		ok(simlog_sink_apply_schema(f.sink, s2, &e) == -1 &&
		    e.code == SIMLOG_EX_CONFIG && strcmp(e.msg, "table ev: cannot "
		    "add NOT NULL column n without a default to an existing "
		    "table") == 0, "NOT NULL without a default cannot be added: "
		    "%s", e.msg);
	simlog_sink_apply_schema(f.sink, f.s, &e);
	simlog_schema_free(s2);
	is_str(one(f.db, "SELECT count(*) FROM ev"), "2", "rows kept");
	teardown(&f);
}

/* DATETIME: ISO 8601 with and without a zone, epoch seconds, as the UTC
 * text SQLAlchemy reads; impossible dates and other values are misfits. */
static void
test_datetime(void)
{
	static const struct { const char *in, *want; } good[] = {
		{ "\"2025-10-01\"", "2025-10-01 00:00:00.000000" },
		{ "\"2025-10-01T09:05\"", "2025-10-01 09:05:00.000000" },
		{ "\"2025-10-01 09:05:07.5\"", "2025-10-01 09:05:07.500000" },
		{ "\"2025-10-01T09:05:07.1234567Z\"", "2025-10-01 09:05:07.123456" },
		{ "\"2025-10-01T01:00:00+02:00\"", "2025-09-30 23:00:00.000000" },
		{ "\"2024-03-01T00:30:00+0100\"", "2024-02-29 23:30:00.000000" },
		{ "\"2025-12-31T23:00:00-01\"", "2026-01-01 00:00:00.000000" },
		{ "\"2000-02-29T12:00:00,25\"", "2000-02-29 12:00:00.250000" },
		{ "0", "1970-01-01 00:00:00.000000" },
		{ "1759309300.25", "2025-10-01 09:01:40.250000" },
		{ "-1.5", "1969-12-31 23:59:58.500000" },
		{ "1.7593093e9", "2025-10-01 09:01:40.000000" },
		{ "253402300799", "9999-12-31 23:59:59.000000" },
		{ "0.0000005", "1970-01-01 00:00:00.000001" },
	};
	static const char *const bad[] = {
		"\"2025-02-29\"", "\"1900-02-29T00:00\"", "\"2025-13-01\"",
		"\"2025-01-01T24:00\"", "\"2025-01-01T10:60\"",
		"\"2025-01-01T10:00:00+25:00\"", "\"2025-01-01T10\"",
		"\"2025-1-01\"", "\"0000-01-01\"", "\"2025-01-01T10:00:00.\"",
		"\"yesterday\"", "true", "[1]",
	};
	struct fixture f;
	char json[200], sql[100];

	if (setup(&f, "table t for ev\n    n INTEGER\n    at DATETIME\n",
	    "a DATETIME column") < 0) {
		teardown(&f);
		return;
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(json, sizeof(json), "{\"n\":%zu,\"at\":%s}", i,
		    good[i].in);
		ins_ok(&f, "ev", json);
		snprintf(sql, sizeof(sql), "SELECT at FROM t WHERE n = %zu", i);
		is_str(one(f.db, sql), good[i].want, "%s is %s", good[i].in,
		    good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct simlog_err e;

		snprintf(json, sizeof(json), "{\"at\":%s}", bad[i]);
		ok(ins(&f, "ev", json, &e) == 1 &&
		    strncmp(e.msg, "column at: ", 11) == 0, "misfit %s: %s",
		    bad[i], e.msg);
	}
	{
		struct simlog_err e;

		ok(ins(&f, "ev", "{\"at\":253402300800}", &e) == 1 &&
		    strcmp(e.msg, "column at: epoch seconds out of range "
		    "(years 1 to 9999)") == 0, "past 9999: %s", e.msg);
	}
	teardown(&f);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/simlog-test-schema.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_parse_good();
	test_parse_bad();
	test_insert();
	test_computed();
	test_computed_long();
	test_duplicates();
	test_typefield();
	test_quoted_field();
	test_evolution();
	test_datetime();

	for (int i = 1; i <= nfile; i++) {
		char path[512];

		snprintf(path, sizeof(path), "%s/s%d.schema", dir, i);
		unlink(path);
	}
	rmdir(dir);
	return tap_done();
}

/*
 * sqlite_ceiling: SQLite's own insert ceiling for make bench — the rows a
 * default-mapping simlog-drain stores, already in memory, inserted into
 * the same tables with the same pragmas, page size and transaction size,
 * and checkpointed the same way (lib/sink/sqlite.c).  What the drain takes
 * beyond this is its own work: reading Redis, decoding chunks, batch ids.
 */
#define _GNU_SOURCE	/* memmem */

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define EX_USAGE	64
#define EX_DATAERR	65
#define EX_IOERR	74
#define MAXTYPES	64

static void
usage(void)
{
	fputs("Usage: sqlite_ceiling [-b BATCH] [-c] FILE DB SIM\n"
	      "\n"
	      "Insert FILE's JSON-line records, read into memory first, into\n"
	      "the SQLite database DB as simlog-drain's default mapping does\n"
	      "(a table per record type: id, simulation_id SIM, data), and\n"
	      "print the time it took (open to close) as one JSON line.\n"
	      "\n"
	      "  -b, --batch BATCH   rows per transaction (default 100000)\n"
	      "  -c, --no-checkpointer  let SQLite checkpoint inside COMMIT\n"
	      "                      (wal_autocheckpoint) rather than from a\n"
	      "                      thread on a second connection\n"
	      "  -h, --help          show this help and exit\n", stdout);
}

struct row {
	const char *json;
	int len;
	int type;			/* index into types[] */
};

static char types[MAXTYPES][64];
static size_t ntypes;

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The record's "type" member: the first "type":"..." of the line (simgen
 * writes it first). */
static int
type_of(const char *line, size_t len)
{
	const char *p = memmem(line, len, "\"type\":\"", 8), *q;
	size_t n, i;

	if (p == NULL || (q = memchr(p + 8, '"', len - (size_t)(p + 8 -
	    line))) == NULL || (n = (size_t)(q - p - 8)) == 0 ||
	    n >= sizeof(types[0]))
		return -1;
	p += 8;
	for (i = 0; i < ntypes; i++)
		if (strncmp(types[i], p, n) == 0 && types[i][n] == '\0')
			return (int)i;
	if (ntypes == MAXTYPES)
		return -1;
	memcpy(types[ntypes], p, n);
	types[ntypes][n] = '\0';
	return (int)ntypes++;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n;

	if (f == NULL)
		err(EX_USAGE, "%s", path);
	*len = 0;
	do {
		if (*len == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			if ((buf = realloc(buf, cap)) == NULL)
				errx(EX_IOERR, "out of memory");
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
	} while (n > 0);
	if (ferror(f))
		err(EX_IOERR, "%s", path);
	fclose(f);
	return buf;
}

static void
check(sqlite3 *db, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		errx(EX_IOERR, "%s: %s", what, sqlite3_errmsg(db));
}

static void
exec(sqlite3 *db, const char *sql)
{
	check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), sql);
}

/* The checkpointer, as the sink runs it: PASSIVE after each commit, from
 * a second connection. */
static struct {
	sqlite3 *db;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned due;
	int stop;
} ck = { NULL, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

static void *
checkpointer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&ck.mu);
	for (;;) {
		while (ck.due == 0 && !ck.stop)
			pthread_cond_wait(&ck.cv, &ck.mu);
		if (ck.stop)
			break;
		ck.due = 0;
		pthread_mutex_unlock(&ck.mu);
		sqlite3_wal_checkpoint_v2(ck.db, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&ck.mu);
	}
	pthread_mutex_unlock(&ck.mu);
	return NULL;
}

static void
kick(int stop)
{
	pthread_mutex_lock(&ck.mu);
	if (stop)
		ck.stop = 1;
	else
		ck.due++;
	pthread_cond_signal(&ck.cv);
	pthread_mutex_unlock(&ck.mu);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "no-checkpointer", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	sqlite3_stmt *ins[MAXTYPES] = { NULL };
	struct row *rows = NULL;
	size_t nrows = 0, cap = 0, len, i, batch = 100000;
	const char *sim;
	char *buf, *p, *end, *e;
	int c, use_ck = 1;
	pthread_t th;
	sqlite3 *db;
	double t0, t1;

	while ((c = getopt_long(argc, argv, "b:ch", longopts, NULL)) != -1)
		switch (c) {
		case 'b':
			errno = 0;
			batch = strtoul(optarg, &e, 10);
			if (*optarg < '1' || *optarg > '9' || *e || errno ||
			    batch > 100000000)
				errx(EX_USAGE, "invalid --batch: '%s'", optarg);
			break;
		case 'c':
			use_ck = 0;
			break;
		case 'h':
			usage();
			return 0;
		default:
			fputs("Try 'sqlite_ceiling --help' for more "
			    "information.\n", stderr);
			return EX_USAGE;
		}
	if (argc - optind != 3) {
		fputs("Try 'sqlite_ceiling --help' for more information.\n",
		    stderr);
		return EX_USAGE;
	}
	sim = argv[optind + 2];

	buf = slurp(argv[optind], &len);
	for (p = buf, end = buf + len; p < end; p = e + 1) {
		if ((e = memchr(p, '\n', (size_t)(end - p))) == NULL)
			e = end;
		if (e == p)
			continue;
		if (nrows == cap) {
			cap = cap ? cap * 2 : 1 << 16;
			if ((rows = realloc(rows, cap * sizeof(*rows))) == NULL)
				errx(EX_IOERR, "out of memory");
		}
		rows[nrows].json = p;
		rows[nrows].len = (int)(e - p);
		if ((rows[nrows].type = type_of(p, (size_t)(e - p))) < 0)
			errx(EX_DATAERR, "%s: line %zu: no type (or more than "
			    "%d types)", argv[optind], nrows + 1, MAXTYPES);
		nrows++;
	}

	t0 = now();
	/* The sink's settings (lib/sink/sqlite.c, lite_open). */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sqlite3_open_v2(argv[optind + 1], &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		errx(EX_IOERR, "%s: %s", argv[optind + 1], sqlite3_errmsg(db));
	exec(db, "PRAGMA page_size=65536");
	exec(db, "PRAGMA journal_mode=WAL");
	exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
	    "CREATE TABLE IF NOT EXISTS simlog_batches ("
	    " batch BLOB PRIMARY KEY, simulation_id TEXT NOT NULL,"
	    " records INTEGER NOT NULL, drained_at REAL NOT NULL"
	    ") WITHOUT ROWID;"
	    "CREATE TABLE IF NOT EXISTS simlog_rejects ("
	    " id INTEGER PRIMARY KEY, simulation_id TEXT NOT NULL,"
	    " type TEXT NOT NULL, data TEXT NOT NULL, error TEXT NOT NULL,"
	    " drained_at REAL NOT NULL);"
	    "CREATE TABLE IF NOT EXISTS simlog_waiting ("
	    " id INTEGER PRIMARY KEY, simulation_id TEXT NOT NULL,"
	    " type TEXT NOT NULL, data TEXT NOT NULL, parent TEXT NOT NULL,"
	    " parent_key TEXT NOT NULL, drained_at REAL NOT NULL);"
	    "CREATE INDEX IF NOT EXISTS simlog_waiting_parent"
	    " ON simlog_waiting (parent, parent_key);");
	if (use_ck) {
		if (sqlite3_open_v2(argv[optind + 1], &ck.db,
		    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK)
			errx(EX_IOERR, "%s: %s", argv[optind + 1],
			    sqlite3_errmsg(ck.db));
		exec(ck.db, "PRAGMA synchronous=FULL");
		if (pthread_create(&th, NULL, checkpointer, NULL) != 0)
			errx(EX_IOERR, "cannot start the checkpointer");
		exec(db, "PRAGMA wal_autocheckpoint=0");
	}

	for (i = 0; i < nrows; i++) {
		sqlite3_stmt *st;
		int t = rows[i].type;

		if (i % batch == 0)
			exec(db, "BEGIN IMMEDIATE");
		if ((st = ins[t]) == NULL) {
			char sql[256];

			/* Made in the transaction that first meets the type,
			 * as the drain does. */
			snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS "
			    "\"%s\" (id INTEGER PRIMARY KEY, simulation_id "
			    "TEXT NOT NULL, data TEXT NOT NULL)", types[t]);
			exec(db, sql);
			snprintf(sql, sizeof(sql), "INSERT INTO \"%s\" "
			    "(simulation_id, data) VALUES (?1, ?2)", types[t]);
			check(db, sqlite3_prepare_v3(db, sql, -1,
			    SQLITE_PREPARE_PERSISTENT, &ins[t], NULL), sql);
			st = ins[t];
		}
		sqlite3_bind_text(st, 1, sim, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, rows[i].json, rows[i].len,
		    SQLITE_STATIC);
		check(db, sqlite3_step(st), types[t]);
		sqlite3_reset(st);
		if ((i + 1) % batch == 0 || i + 1 == nrows) {
			exec(db, "COMMIT");
			if (use_ck)
				kick(0);
		}
	}
	for (i = 0; i < ntypes; i++)
		sqlite3_finalize(ins[i]);
	if (use_ck) {
		kick(1);
		pthread_join(th, NULL);
		sqlite3_close(ck.db);
	}
	check(db, sqlite3_close(db), "closing");
	t1 = now();
	printf("{\"rows\":%zu,\"seconds\":%.6f,\"rows_per_s\":%.0f,"
	    "\"checkpointer\":%s}\n", nrows, t1 - t0, nrows / (t1 - t0),
	    use_ck ? "true" : "false");
	free(rows);
	free(buf);
	return 0;
}

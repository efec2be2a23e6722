/* SQLite helpers: open in WAL mode with simlog's bookkeeping tables. */
#include <string.h>

#include <sqlite3.h>

#include "simlog.h"

int
simlog_db_exec(sqlite3 *db, const char *sql, struct simlog_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int code = sqlite3_errcode(db);

		simlog_seterr(err, (code == SQLITE_BUSY || code == SQLITE_LOCKED) ?
		    SIMLOG_EX_TEMPFAIL : SIMLOG_EX_IOERR, "%s",
		    msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
simlog_db_open(const char *path, double busy_timeout, sqlite3 **dbp,
	       struct simlog_err *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc;

	*dbp = NULL;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		simlog_seterr(err, SIMLOG_EX_CANTCREAT, "%s: %s", path,
		    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, (int)(busy_timeout * 1000));
	/* Only takes effect on a new database: bigger pages mean fewer
	 * system calls per drained row (a no-op on an existing file). */
	sqlite3_exec(db, "PRAGMA page_size=16384", NULL, NULL, NULL);
	/* WAL lets readers query while a drain writes; FULL makes a commit
	 * durable before the drained entries are deleted from Redis. */
	rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		simlog_seterr(err, rc == SQLITE_BUSY ? SIMLOG_EX_TEMPFAIL :
		    SIMLOG_EX_CANTCREAT, "%s: cannot switch to WAL mode: %s",
		    path, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		sqlite3_close(db);
		return -1;
	}
	sqlite3_finalize(st);
	if (simlog_db_exec(db, "PRAGMA synchronous=FULL;"
	    "CREATE TABLE IF NOT EXISTS simlog_batches ("
	    " batch BLOB PRIMARY KEY,"
	    " simulation_id TEXT NOT NULL,"
	    " records INTEGER NOT NULL,"
	    " drained_at REAL NOT NULL"
	    ") WITHOUT ROWID;"
	    "CREATE TABLE IF NOT EXISTS simlog_rejects ("
	    " id INTEGER PRIMARY KEY,"
	    " simulation_id TEXT NOT NULL,"
	    " type TEXT NOT NULL,"
	    " data TEXT NOT NULL,"
	    " error TEXT NOT NULL,"
	    " drained_at REAL NOT NULL"
	    ");", err) < 0) {
		char msg[SIMLOG_ERRLEN];

		snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
		simlog_seterr(err, err ? err->code : SIMLOG_EX_IOERR, "%s: %s",
		    path, msg);
		sqlite3_close(db);
		return -1;
	}
	*dbp = db;
	return 0;
}

void
simlog_db_close(sqlite3 *db)
{
	sqlite3_close(db);
}

int
simlog_db_ident(const char *name, size_t len, char *buf, size_t buflen)
{
	size_t i, o = 0;

	if (buflen < 3)
		return -1;
	buf[o++] = '"';
	for (i = 0; i < len; i++) {
		if (name[i] == '\0')
			return -1;
		if (o + 3 >= buflen)
			return -1;
		if (name[i] == '"')
			buf[o++] = '"';
		buf[o++] = name[i];
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return 0;
}

/*
 * A private PostgreSQL server for a unit test, as tests/pg_helpers.bash
 * starts one for the pg*.bats suites: initdb into a temporary directory of
 * its own, the server listening only on a unix socket there, run as the
 * postgres user (or nobody) when the test runs as root.  The server is the
 * test's child and dies with it, however the test ends; its directory is
 * removed when it is stopped or the test exits.
 */
#ifndef SIMLOG_TEST_PGSERVER_H
#define SIMLOG_TEST_PGSERVER_H

#include <stddef.h>
#include <sys/types.h>

struct pgserver {
	char dir[64];		/* the temporary directory: socket, data, logs */
	char bin[256];		/* the PostgreSQL binaries' directory */
	pid_t pid;		/* the postmaster; 0: not running */
};

/* Whether the server binaries are there ($PG_BIN, else the newest
 * /usr/lib/postgresql/N/bin): a package build has none, and its tests
 * that need a server skip. */
int pgserver_available(void);
/* initdb and start a server (the superuser is "simlog", trusted on the
 * socket), and wait until it answers.  0, or -1 with a message on stderr. */
int pgserver_start(struct pgserver *p);
/* Stop it (an immediate shutdown) and remove its directory; a stopped
 * server is a no-op. */
void pgserver_stop(struct pgserver *p);
/* Create database name (dropped first if it is there) and put its URL in
 * url.  0, or -1 with a message on stderr. */
int pgserver_newdb(struct pgserver *p, const char *name, char *url,
		   size_t len);

#endif

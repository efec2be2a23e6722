/*
 * A private redis-server for a unit test, as tests/helpers.bash starts
 * one for the bats suites: on a unix socket in a temporary directory of
 * its own, removed with everything in it when the server is stopped (or
 * the test exits).  The server dies with the test.
 */
#ifndef SIMLOG_TEST_SERVER_H
#define SIMLOG_TEST_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

struct server {
	char dir[64];		/* the temporary directory */
	char sock[96];		/* the server's socket in it */
	char url[112];		/* unix://SOCK */
	pid_t pid;		/* 0: not running */
	redisContext *c;	/* the helper's own connection */
	const char *const *extra;	/* server_start's, for a restart */
};

/* Whether redis-server is on PATH (a package build may have none; the
 * tests that need one then skip, as the bats suites are not run there). */
int server_available(void);
/* Start a server (extra: more redis-server arguments, NULL-terminated,
 * or NULL) and wait until it answers.  0, or -1 with a message on
 * stderr. */
int server_start(struct server *s, const char *const *extra);
/* The same for a TAP test's main(): on failure it prints "Bail out!"
 * and exits 1, and without redis-server it skips the whole test (exit 0). */
void server_start_or_skip(struct server *s, const char *const *extra);
/* Kill it and remove its directory; a stopped server is a no-op. */
void server_stop(struct server *s);
/* Kill it (SIGKILL, as a crash) and keep its directory: the socket file
 * stays, nothing answers there.  server_restart starts it again on the
 * same socket with the same arguments (extra must still be there); 0, or
 * -1 as server_start. */
void server_kill(struct server *s);
int server_restart(struct server *s);
/* DIR/NAME in buf (for the test's spool, database, ...). */
void server_path(const struct server *s, const char *name, char *buf,
		 size_t len);
/* A command on the helper's own connection (not through lib/net): the
 * reply to free with freeReplyObject, or NULL. */
redisReply *server_cmd(struct server *s, const char *fmt, ...);

/* Run a tool of this build (bin/NAME) with argv (argv[0] is replaced),
 * its output to OUT (NULL: /dev/null); its exit status, or -1 when it
 * could not run or had not ended in 60 s (then it is killed). */
int run_tool(const char *name, const char *const argv[], const char *out);

#endif

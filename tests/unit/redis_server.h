/*
 * A private redis-server for a C unit test, as tests/helpers.bash's
 * start_redis is for the bats suites: on a unix socket in a temporary
 * directory of its own, no port, nothing saved; gone, directory and all,
 * when the test stops it, and killed by the kernel if the test dies
 * first.  Every wait has a deadline.
 *
 *	struct test_redis r;
 *	if (test_redis_start(&r, NULL) < 0)	(r.why says why; r.missing:
 *		...;				 not installed, may skip)
 *	conn_opts.url = r.url;			(unix://DIR/sock)
 *	redisReply *x = test_redis_cmd(&r, "XLEN %s", key);
 *	test_redis_kill(&r);		(kill -9: the socket goes dead)
 *	test_redis_restart(&r);		(the same socket, the same args)
 *	test_redis_stop(&r);
 */
#ifndef SIMLOG_TEST_REDIS_H
#define SIMLOG_TEST_REDIS_H

#include <errno.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

struct test_redis {
	pid_t pid;			/* 0: not running */
	char dir[128];			/* its temporary directory */
	char sock[160];			/* dir/sock */
	char url[180];			/* unix://dir/sock */
	char why[256];			/* why it did not start */
	int missing;			/* no redis-server on $PATH: a test
					 * may skip (a package build) */
	redisContext *c;		/* test_redis_cmd's connection */
	const char *const *args;	/* the caller's, for a restart */
};

static inline void
test_redis_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Remove the directory's files and the directory (no subdirectories). */
static inline void
test_redis_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[400];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* A reply to PING (or LOADING, NOAUTH: up, if not ready) within ms. */
static inline int
test_redis_answers(struct test_redis *r, long ms)
{
	struct timeval tv = { 0, 200000 };

	for (long waited = 0; waited <= ms; waited += 20) {
		redisContext *c;
		redisReply *x;
		int up = 0;

		if (access(r->sock, F_OK) == 0 &&
		    (c = redisConnectUnixWithTimeout(r->sock, tv)) != NULL) {
			if (!c->err && redisSetTimeout(c, tv) == REDIS_OK &&
			    (x = redisCommand(c, "PING")) != NULL) {
				up = x->type == REDIS_REPLY_STATUS ||
				    (x->type == REDIS_REPLY_ERROR &&
				    (strncmp(x->str, "LOADING", 7) == 0 ||
				    strncmp(x->str, "NOAUTH", 6) == 0));
				freeReplyObject(x);
			}
			redisFree(c);
			if (up)
				return 1;
		}
		if (r->pid > 0 && waitpid(r->pid, NULL, WNOHANG) == r->pid) {
			r->pid = 0;
			return 0;
		}
		test_redis_sleep_ms(20);
	}
	return 0;
}

static inline void test_redis_stop(struct test_redis *r);

/* Run redis-server in r->dir and wait up to 10 s for it to answer. */
static inline int
test_redis_spawn(struct test_redis *r)
{
	const char *argv[64];
	char log[200];
	pid_t parent = getpid();
	int n = 0;

	snprintf(log, sizeof(log), "%s/log", r->dir);
	argv[n++] = "redis-server";
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--unixsocket";
	argv[n++] = r->sock;
	argv[n++] = "--unixsocketperm";
	argv[n++] = "700";
	argv[n++] = "--dir";
	argv[n++] = r->dir;
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--logfile";
	argv[n++] = log;
	for (int i = 0; r->args != NULL && r->args[i] != NULL && n < 63; i++)
		argv[n++] = r->args[i];
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	if ((r->pid = fork()) < 0) {
		snprintf(r->why, sizeof(r->why), "fork: %s", strerror(errno));
		r->pid = 0;
		return -1;
	}
	if (r->pid == 0) {
		/* Gone with the test, however the test ends (and if it has
		 * ended already, at once). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		execvp("redis-server", (char *const *)argv);
		_exit(127);
	}
	if (!test_redis_answers(r, 10000)) {
		FILE *f = fopen(log, "r");
		char line[200] = "";

		if (f != NULL) {
			(void)!fgets(line, sizeof(line), f);
			fclose(f);
		}
		line[strcspn(line, "\n")] = '\0';
		snprintf(r->why, sizeof(r->why), "redis-server did not answer "
		    "within 10 s%s%s", line[0] ? ": " : " (is it installed?)",
		    line);
		return -1;
	}
	return 0;
}

/* Whether redis-server is on $PATH. */
static inline int
test_redis_installed(void)
{
	const char *path = getenv("PATH"), *p, *end;
	char f[512];

	for (p = path != NULL ? path : "/usr/bin:/bin"; *p; p = end) {
		size_t n;

		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		snprintf(f, sizeof(f), "%.*s/redis-server", (int)n,
		    n ? p : ".");
		if (access(f, X_OK) == 0)
			return 1;
		if (*end == ':')
			end++;
	}
	return 0;
}

/*
 * Start redis-server with the extra arguments args (NULL-terminated, may
 * be NULL; kept for test_redis_restart, so they must outlive r), wait up
 * to 10 s for it to answer.  0, or -1 with r->why set (and r->missing
 * when redis-server is not installed; otherwise it would not start, and
 * its log's first line is in why).
 */
static inline int
test_redis_start(struct test_redis *r, const char *const *args)
{
	const char *tmp = getenv("TMPDIR");

	memset(r, 0, sizeof(*r));
	r->args = args;
	if (!test_redis_installed()) {
		r->missing = 1;
		snprintf(r->why, sizeof(r->why), "redis-server is not "
		    "installed (apt-get install redis-server)");
		return -1;
	}
	/* A unix socket path must fit in 108 bytes: a long $TMPDIR (a
	 * bats directory) is passed over for /tmp. */
	snprintf(r->dir, sizeof(r->dir), "%s/simlog-redis.XXXXXX",
	    tmp != NULL && *tmp == '/' && strlen(tmp) < 60 ? tmp : "/tmp");
	if (mkdtemp(r->dir) == NULL) {
		snprintf(r->why, sizeof(r->why), "mkdtemp %s: %s", r->dir,
		    strerror(errno));
		r->dir[0] = '\0';
		return -1;
	}
	snprintf(r->sock, sizeof(r->sock), "%s/sock", r->dir);
	snprintf(r->url, sizeof(r->url), "unix://%s", r->sock);
	if (test_redis_spawn(r) < 0) {
		test_redis_stop(r);
		return -1;
	}
	return 0;
}

/* SIGKILL, as a crash: its socket file stays, nothing answers there. */
static inline void
test_redis_kill(struct test_redis *r)
{
	if (r->c != NULL) {
		redisFree(r->c);
		r->c = NULL;
	}
	if (r->pid > 0) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
		r->pid = 0;
	}
}

/* After test_redis_kill: the server again, on the same socket, with the
 * same arguments (its data gone, unless they kept it). */
static inline int
test_redis_restart(struct test_redis *r)
{
	test_redis_kill(r);
	unlink(r->sock);
	return test_redis_spawn(r);
}

static inline redisReply *
test_redis_vcmd(struct test_redis *r, const char *fmt, va_list ap)
{
	struct timeval tv = { 10, 0 };
	redisReply *x;

	if (r->c == NULL) {
		r->c = redisConnectUnixWithTimeout(r->sock, tv);
		if (r->c == NULL || r->c->err ||
		    redisSetTimeout(r->c, tv) != REDIS_OK) {
			redisFree(r->c);
			r->c = NULL;
			return NULL;
		}
	}
	if ((x = redisvCommand(r->c, fmt, ap)) == NULL) {
		redisFree(r->c);
		r->c = NULL;
	}
	return x;
}

/* A command on the helper's own connection (opened on first use), for a
 * test to look at or change what the code under test sees; NULL when the
 * connection failed.  Free the reply with freeReplyObject. */
__attribute__((format(printf, 2, 3)))
static inline redisReply *
test_redis_cmd(struct test_redis *r, const char *fmt, ...)
{
	redisReply *x;
	va_list ap;

	va_start(ap, fmt);
	x = test_redis_vcmd(r, fmt, ap);
	va_end(ap);
	return x;
}

/* A reply's number: an integer, or a string holding one; -1 otherwise
 * (an error, nil, no connection). */
__attribute__((format(printf, 2, 3)))
static inline long long
test_redis_int(struct test_redis *r, const char *fmt, ...)
{
	redisReply *x;
	long long v = -1;
	va_list ap;

	va_start(ap, fmt);
	x = test_redis_vcmd(r, fmt, ap);
	va_end(ap);
	if (x != NULL && x->type == REDIS_REPLY_INTEGER)
		v = x->integer;
	else if (x != NULL && x->type == REDIS_REPLY_STRING)
		v = strtoll(x->str, NULL, 10);
	freeReplyObject(x);
	return v;
}

/* Stop the server (TERM, then KILL after 5 s) and remove its directory;
 * a no-op when it is not running. */
static inline void
test_redis_stop(struct test_redis *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGCONT);
		kill(r->pid, SIGTERM);
		for (int i = 0; i < 250; i++) {
			if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
				r->pid = 0;
				break;
			}
			test_redis_sleep_ms(20);
		}
	}
	test_redis_kill(r);	/* what is left: the connection, a server
				 * that would not end */
	if (r->dir[0] != '\0')
		test_redis_rmdir(r->dir);
	r->dir[0] = '\0';
}

#endif

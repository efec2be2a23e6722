/*
 * The unit tests' redis-server (server.h).  Every wait is on a condition
 * (the server answers, a child has ended) with a bound that only catches
 * something stuck.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

#ifndef UNIT_BUILD_DIR
#define UNIT_BUILD_DIR "build/std"
#endif

extern char **environ;

#define MAX_SERVERS 8
static struct server *started[MAX_SERVERS];

static void
nap(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void
stop_all(void)
{
	for (int i = 0; i < MAX_SERVERS; i++)
		if (started[i] != NULL)
			server_stop(started[i]);
}

void
server_path(const struct server *s, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", s->dir, name);
}

int
server_available(void)
{
	const char *path = getenv("PATH"), *p, *end;
	char file[600];

	for (p = path ? path : ""; *p != '\0'; p = *end ? end + 1 : end) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		snprintf(file, sizeof(file), "%.*s/redis-server",
		    (int)(end - p), p);
		if (access(file, X_OK) == 0)
			return 1;
	}
	return 0;
}

/* Run redis-server in s->dir, with s->extra, and wait until it answers:
 * 0, or -1 with a message on stderr (the server gone again). */
static int
spawn(struct server *s)
{
	const char *av[32];
	char log[96];
	pid_t parent = getpid();
	int ac = 0;

	server_path(s, "log", log, sizeof(log));
	av[ac++] = "redis-server";
	av[ac++] = "--port";
	av[ac++] = "0";
	av[ac++] = "--unixsocket";
	av[ac++] = s->sock;
	av[ac++] = "--unixsocketperm";
	av[ac++] = "700";
	av[ac++] = "--dir";
	av[ac++] = s->dir;
	av[ac++] = "--save";
	av[ac++] = "";
	av[ac++] = "--appendonly";
	av[ac++] = "no";
	av[ac++] = "--logfile";
	av[ac++] = log;
	for (int i = 0; s->extra != NULL && s->extra[i] != NULL && ac < 31;
	    i++)
		av[ac++] = s->extra[i];
	av[ac] = NULL;
	fflush(stdout);
	if ((s->pid = fork()) < 0) {
		fprintf(stderr, "server: fork: %s\n", strerror(errno));
		s->pid = 0;
		return -1;
	}
	if (s->pid == 0) {
		/* Gone with the test, however the test ends (and at once if
		 * it ended before the death signal was asked for). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		execvp("redis-server", (char *const *)av);
		_exit(127);
	}
	for (int i = 0; i < 2000; i++) {
		redisReply *r;

		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			fprintf(stderr, "server: redis-server exited (see %s)\n",
			    log);
			s->pid = 0;
			return -1;
		}
		if ((s->c = redisConnectUnix(s->sock)) != NULL && !s->c->err &&
		    (r = redisCommand(s->c, "PING")) != NULL) {
			int up = r->type == REDIS_REPLY_STATUS;

			freeReplyObject(r);
			if (up)
				return 0;
		}
		redisFree(s->c);
		s->c = NULL;
		nap();
	}
	fprintf(stderr, "server: redis-server did not answer in 20 s\n");
	server_kill(s);
	return -1;
}

int
server_start(struct server *s, const char *const *extra)
{
	static int registered;
	int slot = -1;
	const char *tmp = getenv("TMPDIR");

	memset(s, 0, sizeof(*s));
	s->extra = extra;
	for (int i = 0; i < MAX_SERVERS && slot < 0; i++)
		if (started[i] == NULL)
			slot = i;
	/* A unix socket path has room for about 100 bytes. */
	snprintf(s->dir, sizeof(s->dir), "%s/simlog-unit.XXXXXX",
	    tmp != NULL && strlen(tmp) < 40 ? tmp : "/tmp");
	if (slot < 0 || mkdtemp(s->dir) == NULL) {
		fprintf(stderr, "server: no temporary directory: %s\n",
		    strerror(errno));
		return -1;
	}
	server_path(s, "sock", s->sock, sizeof(s->sock));
	snprintf(s->url, sizeof(s->url), "unix://%s", s->sock);
	if (!registered++)
		atexit(stop_all);
	started[slot] = s;
	if (spawn(s) < 0) {
		server_stop(s);
		return -1;
	}
	return 0;
}

void
server_kill(struct server *s)
{
	redisFree(s->c);
	s->c = NULL;
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

int
server_restart(struct server *s)
{
	server_kill(s);
	unlink(s->sock);
	return spawn(s);
}

void
server_start_or_skip(struct server *s, const char *const *extra)
{
	if (!server_available()) {
		printf("1..0 # SKIP redis-server is not installed\n");
		exit(0);
	}
	if (server_start(s, extra) < 0) {
		printf("Bail out! redis-server did not start\n");
		exit(1);
	}
}

void
server_stop(struct server *s)
{
	for (int i = 0; i < MAX_SERVERS; i++)
		if (started[i] == s)
			started[i] = NULL;
	server_kill(s);
	if (s->dir[0] != '\0')
		nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	s->dir[0] = '\0';
}

redisReply *
server_cmd(struct server *s, const char *fmt, ...)
{
	/* A bound for a test that froze its server (SIGSTOP). */
	struct timeval tv = { 10, 0 };
	va_list ap;
	redisReply *r;

	if (s->c == NULL || s->c->err) {
		redisFree(s->c);
		s->c = redisConnectUnixWithTimeout(s->sock, tv);
		if (s->c == NULL || s->c->err ||
		    redisSetTimeout(s->c, tv) != REDIS_OK) {
			redisFree(s->c);
			s->c = NULL;
			return NULL;
		}
	}
	va_start(ap, fmt);
	r = redisvCommand(s->c, fmt, ap);
	va_end(ap);
	return r;
}

int
run_tool(const char *name, const char *const argv[], const char *out)
{
	posix_spawn_file_actions_t fa;
	const char *build = getenv("SIMLOG_BUILD");
	char path[600];
	pid_t pid;
	int st, rc;
	size_t n = 0;
	const char **av;

	snprintf(path, sizeof(path), "%s/bin/%s",
	    build != NULL ? build : UNIT_BUILD_DIR, name);
	while (argv[n] != NULL)
		n++;
	if ((av = calloc(n + 1, sizeof(*av))) == NULL)
		return -1;
	memcpy(av, argv, n * sizeof(*av));
	av[0] = path;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null",
	    O_WRONLY | O_CREAT | O_TRUNC, 0600);
	/* posix_spawn's argv is not const for history's sake only. */
	rc = posix_spawn(&pid, path, &fa, NULL, (char *const *)av, environ);
	posix_spawn_file_actions_destroy(&fa);
	free(av);
	if (rc != 0) {
		fprintf(stderr, "run_tool: %s: %s\n", path, strerror(rc));
		return -1;
	}
	for (int i = 0; i < 6000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		nap();
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fprintf(stderr, "run_tool: %s had not ended in 60 s\n", name);
	return -1;
}

/*
 * The unit tests' PostgreSQL server (pgserver.h).  The postmaster is run
 * as the test's own child rather than through pg_ctl, so that the kernel
 * shuts it down when the test dies without running atexit (a sanitizer's
 * abort, a signal).  Every wait is on a condition (initdb has ended, the
 * server answers) with a bound that only catches something stuck.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgserver.h"
#include "server.h"

#define MAX_PGSERVERS 4
static struct pgserver *started[MAX_PGSERVERS];

static void
nap(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static void
stop_all(void)
{
	for (int i = 0; i < MAX_PGSERVERS; i++)
		if (started[i] != NULL)
			pgserver_stop(started[i]);
}

/* The directory of the newest /usr/lib/postgresql/N/bin with initdb. */
static int
find_bin(char *buf, size_t len)
{
	const char *env = getenv("PG_BIN");
	char path[300];
	DIR *d;
	struct dirent *e;
	long best = -1;

	if (env != NULL && *env != '\0') {
		snprintf(path, sizeof(path), "%s/initdb", env);
		snprintf(buf, len, "%s", env);
		return access(path, X_OK) == 0;
	}
	if ((d = opendir("/usr/lib/postgresql")) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long v = strtol(e->d_name, &end, 10);

		snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/initdb",
		    e->d_name);
		if (end != e->d_name && *end == '\0' && v > best &&
		    access(path, X_OK) == 0) {
			best = v;
			snprintf(buf, len, "/usr/lib/postgresql/%ld/bin", v);
		}
	}
	closedir(d);
	return best >= 0;
}

int
pgserver_available(void)
{
	char bin[256];

	return find_bin(bin, sizeof(bin));
}

/* The user the server runs as: the test's own, or, for root (which
 * PostgreSQL refuses to run as), postgres or else nobody.  NULL: as is. */
static const struct passwd *
server_user(void)
{
	const struct passwd *pw;

	if (geteuid() != 0)
		return NULL;
	if ((pw = getpwnam("postgres")) == NULL)
		pw = getpwnam("nobody");
	return pw;
}

/* Run p->bin/argv[0] as the server's user, its output to DIR/log; die
 * (with sig) if the test does.  The child's pid, or -1. */
static pid_t
spawn(const struct pgserver *p, const char *const argv[], const char *log,
      int sig)
{
	const struct passwd *pw = server_user();
	pid_t parent = getpid(), pid;
	char path[400], out[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", p->bin, argv[0]);
	snprintf(out, sizeof(out), "%s/%s", p->dir, log);
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		fprintf(stderr, "pgserver: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0)
		return pid;
	if ((fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0 ||
	    dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(126);
	if (pw != NULL && (fchown(fd, pw->pw_uid, pw->pw_gid) < 0 ||
	    setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0))
		_exit(126);
	close(fd);
	/* Asked for after setuid, which clears it; and at once if the test
	 * ended before it was asked for. */
	prctl(PR_SET_PDEATHSIG, sig);
	if (getppid() != parent || chdir(p->dir) < 0)
		_exit(127);
	execv(path, (char *const *)argv);
	_exit(127);
}

/* Wait for pid to end, for at most secs: its exit status, or -1 (then
 * it is killed). */
static int
reap(pid_t pid, int secs)
{
	int st;

	if (pid <= 0)
		return -1;
	for (int i = 0; i < secs * 100; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		nap();
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static void
quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;		/* "database ... does not exist, skipping" */
}

static void
conninfo(const struct pgserver *p, const char *db, char *buf, size_t len)
{
	snprintf(buf, len, "host=%s user=simlog dbname=%s connect_timeout=10",
	    p->dir, db);
}

int
pgserver_start(struct pgserver *p)
{
	static int registered;
	const struct passwd *pw = server_user();
	char data[96], info[160], sock[128];
	const char *initdb[] = { "initdb", "-D", data, "-U", "simlog",
	    "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
	    NULL };
	const char *postgres[] = { "postgres", "-D", data, "-k", p->dir,
	    "-c", "listen_addresses=", "-c", "fsync=off",
	    "-c", "shared_buffers=16MB", "-c", "max_connections=20", NULL };
	int slot = -1;

	memset(p, 0, sizeof(*p));
	for (int i = 0; i < MAX_PGSERVERS && slot < 0; i++)
		if (started[i] == NULL)
			slot = i;
	if (slot < 0 || !find_bin(p->bin, sizeof(p->bin))) {
		fprintf(stderr, "pgserver: no PostgreSQL server binaries\n");
		return -1;
	}
	/* In /tmp, as pg_helpers.bash: the server's user must reach it, and
	 * a socket's path has room for about 100 bytes. */
	snprintf(p->dir, sizeof(p->dir), "/tmp/simlog-pg.XXXXXX");
	if (mkdtemp(p->dir) == NULL) {
		fprintf(stderr, "pgserver: no temporary directory: %s\n",
		    strerror(errno));
		p->dir[0] = '\0';
		return -1;
	}
	if (!registered++)
		atexit(stop_all);
	started[slot] = p;
	if (pw != NULL && chown(p->dir, pw->pw_uid, pw->pw_gid) < 0) {
		fprintf(stderr, "pgserver: chown %s: %s\n", p->dir,
		    strerror(errno));
		pgserver_stop(p);
		return -1;
	}
	snprintf(data, sizeof(data), "%s/data", p->dir);
	if (reap(spawn(p, initdb, "initdb.log", SIGKILL), 120) != 0) {
		fprintf(stderr, "pgserver: initdb failed (see %s/initdb.log)\n",
		    p->dir);
		pgserver_stop(p);
		return -1;
	}
	/* SIGQUIT: PostgreSQL's immediate shutdown, which ends its
	 * backends too. */
	if ((p->pid = spawn(p, postgres, "log", SIGQUIT)) < 0) {
		p->pid = 0;
		pgserver_stop(p);
		return -1;
	}
	conninfo(p, "postgres", info, sizeof(info));
	snprintf(sock, sizeof(sock), "%s/.s.PGSQL.5432", p->dir);
	for (int i = 0; i < 6000; i++) {
		if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
			fprintf(stderr, "pgserver: postgres exited (see %s/log)\n",
			    p->dir);
			p->pid = 0;
			pgserver_stop(p);
			return -1;
		}
		if (access(sock, F_OK) == 0 && PQping(info) == PQPING_OK)
			return 0;
		nap();
	}
	fprintf(stderr, "pgserver: postgres did not answer in 60 s\n");
	pgserver_stop(p);
	return -1;
}

void
pgserver_stop(struct pgserver *p)
{
	for (int i = 0; i < MAX_PGSERVERS; i++)
		if (started[i] == p)
			started[i] = NULL;
	if (p->pid > 0) {
		kill(p->pid, SIGQUIT);
		reap(p->pid, 20);
		p->pid = 0;
	}
	if (p->dir[0] != '\0')
		rm_tree(p->dir);
	p->dir[0] = '\0';
}

int
pgserver_newdb(struct pgserver *p, const char *name, char *url, size_t len)
{
	char info[160], sql[200];
	PGconn *c;
	int rc = 0;

	conninfo(p, "postgres", info, sizeof(info));
	if ((c = PQconnectdb(info)) == NULL || PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgserver: %s", c ? PQerrorMessage(c) :
		    "out of memory\n");
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	for (int k = 0; k < 2 && rc == 0; k++) {
		PGresult *res;

		snprintf(sql, sizeof(sql), k == 0 ? "DROP DATABASE IF EXISTS "
		    "\"%s\"" : "CREATE DATABASE \"%s\"", name);
		res = PQexec(c, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fprintf(stderr, "pgserver: %s: %s", sql,
			    PQerrorMessage(c));
			rc = -1;
		}
		PQclear(res);
	}
	PQfinish(c);
	snprintf(url, len, "postgresql://simlog@/%s?host=%s", name, p->dir);
	return rc;
}

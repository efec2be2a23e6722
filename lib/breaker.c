/*
 * A circuit breaker shared by every simlog process of one user talking to
 * one Redis deployment.  Its state lives in a one-line text file, read and
 * rewritten under flock(2):
 *
 *   state failures opened_at probe_pid probe_at<TAB>last failure
 *
 * so a cron job that runs simlog many times fails fast while Redis is known
 * to be down, and only one process at a time probes a half-open breaker.
 * Times are wall-clock seconds, since other processes read them (from the
 * breaker's clock, lib/clock.h); one later than now (a clock stepped back)
 * counts as now, so a breaker can never stay open for good.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "breaker.h"
#include "clock.h"
#include "net/conn.h"
#include "simlog.h"
#include "simlog_health.h"
#include "util.h"

struct bfile {
	int state, failures;
	double opened_at;
	long probe_pid;
	double probe_at;
	char why[SIMLOG_BREAKER_WHYLEN];
};

static const char *const names[] = { "closed", "open", "half-open" };

const char *
simlog_breaker_name(enum simlog_bstate s)
{
	return (unsigned)s < 3 ? names[s] : "unknown";
}

/* A directory we own and nobody else can write, or -1. */
static int
private_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != getuid() || (st.st_mode & 022) != 0) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

static int load(struct simlog_breaker *b, struct bfile *f, double now);

/* The directory breaker files live in. */
static void
breaker_dir(char *dir, size_t len)
{
	const char *base = getenv("SIMLOG_BREAKER_DIR"), *s;

	if (base != NULL && *base != '\0')
		snprintf(dir, len, "%s", base);
	else if ((s = getenv("XDG_RUNTIME_DIR")) != NULL && *s == '/')
		snprintf(dir, len, "%s/simlog", s);
	else
		snprintf(dir, len, "/tmp/simlog-%u", (unsigned)getuid());
}

static void
breaker_file(const char *dir, const char *endpoint, char *buf, size_t len)
{
	snprintf(buf, len, "%s/breaker-%016llx", dir, (unsigned long long)
	    simlog_fnv1a(endpoint, strlen(endpoint)));
}

int
simlog_breaker_read(const char *endpoint, struct simlog_breaker_view *v,
		    struct simlog_err *err)
{
	struct simlog_breaker b;
	struct bfile f;
	char dir[400];

	memset(v, 0, sizeof(*v));
	v->state = SIMLOG_B_CLOSED;
	breaker_dir(dir, sizeof(dir));
	breaker_file(dir, endpoint, v->path, sizeof(v->path));
	memset(&b, 0, sizeof(b));
	if ((b.fd = open(v->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		/* No process has failed against this server yet. */
		if (errno == ENOENT)
			return 0;
		return simlog_seterr(err, SIMLOG_EX_IOERR, "breaker %s: %s",
		    v->path, strerror(errno));
	}
	/* Unlocked: one short pwrite makes readers see old or new. */
	load(&b, &f, simlog_now_wall());
	close(b.fd);
	v->state = (enum simlog_bstate)f.state;
	v->failures = f.failures;
	v->opened_at = f.state == SIMLOG_B_CLOSED ? 0 : f.opened_at;
	snprintf(v->why, sizeof(v->why), "%s", f.why);
	return 0;
}

int
simlog_breaker_init(struct simlog_breaker *b, const char *endpoint,
		    int threshold, double reset, struct simlog_err *err)
{
	char dir[400];
	const char *s, *why;
	long long v;
	double d;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	b->threshold = threshold > 0 ? threshold : 3;
	b->reset = reset > 0 ? reset : 5;
	if (threshold <= 0 && (s = getenv("SIMLOG_BREAKER_FAILURES")) && *s) {
		if (simlog_parse_ll(s, 1, 1000, &v, &why) < 0)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "invalid SIMLOG_BREAKER_FAILURES: '%s': %s", s, why);
		b->threshold = (int)v;
	}
	if (reset <= 0 && (s = getenv("SIMLOG_BREAKER_RESET")) && *s) {
		if (simlog_parse_seconds(s, 86400, &d, &why) < 0)
			return simlog_seterr(err, SIMLOG_EX_USAGE,
			    "invalid SIMLOG_BREAKER_RESET: '%s': %s", s, why);
		b->reset = d;
	}
	breaker_dir(dir, sizeof(dir));
	if (private_dir(dir) < 0)
		return simlog_seterr(err, SIMLOG_EX_CANTCREAT,
		    "circuit breaker directory %s: %s", dir, strerror(errno));
	breaker_file(dir, endpoint, b->path, sizeof(b->path));
	b->fd = open(b->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (b->fd < 0)
		return simlog_seterr(err, SIMLOG_EX_CANTCREAT, "%s: %s",
		    b->path, strerror(errno));
	return 0;
}

void
simlog_breaker_clear(struct simlog_breaker *b)
{
	if (b != NULL && b->fd >= 0) {
		close(b->fd);
		b->fd = -1;
	}
}

/* Read the file into f; 1 when a time in it lay after now. */
static int
load(struct simlog_breaker *b, struct bfile *f, double now)
{
	char buf[128 + SIMLOG_BREAKER_WHYLEN];
	const char *tab;
	ssize_t n;
	int moved = 0;

	memset(f, 0, sizeof(*f));
	n = pread(b->fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* A damaged file reads as a closed breaker: fail open, not shut. */
	if (sscanf(buf, "%d %d %lf %ld %lf", &f->state, &f->failures,
	    &f->opened_at, &f->probe_pid, &f->probe_at) != 5 ||
	    f->state < 0 || f->state > 2 || f->failures < 0) {
		memset(f, 0, sizeof(*f));
		return 0;
	}
	if ((tab = strchr(buf, '\t')) != NULL)
		snprintf(f->why, sizeof(f->why), "%.*s",
		    (int)strcspn(tab + 1, "\n"), tab + 1);
	/* The clock went back (or the file came from elsewhere): a time
	 * in the future would keep the breaker open for good. */
	if (f->opened_at > now) {
		f->opened_at = now;
		moved = 1;
	}
	if (f->probe_at > now) {
		f->probe_at = now;
		moved = 1;
	}
	return moved;
}

static void
store(struct simlog_breaker *b, const struct bfile *f)
{
	char buf[128 + SIMLOG_BREAKER_WHYLEN];
	int n = snprintf(buf, sizeof(buf), "%d %d %.3f %ld %.3f\t%s\n",
	    f->state, f->failures, f->opened_at, f->probe_pid, f->probe_at,
	    f->why);

	if (n >= (int)sizeof(buf))
		n = (int)sizeof(buf) - 1;
	/* One write of a short line under the lock: readers see old or new. */
	if (pwrite(b->fd, buf, (size_t)n, 0) == n)
		(void)!ftruncate(b->fd, n);
}

static void
note(struct simlog_breaker *b, int from, int to)
{
	if (from == to || b->nchanges >= 8)
		return;
	snprintf(b->changes[b->nchanges++], sizeof(b->changes[0]), "%s>%s",
	    names[from], names[to]);
}

static int
lock(struct simlog_breaker *b)
{
	while (flock(b->fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static void
unlock(struct simlog_breaker *b)
{
	flock(b->fd, LOCK_UN);
}

int
simlog_breaker_allow(struct simlog_breaker *b, int force)
{
	struct bfile f;
	double now;
	int allow = 0;

	if (b->fd < 0 || lock(b) < 0)
		return 1;
	/* The time is read under the lock: one read before it, while
	 * another process held it and the clock was set back, would make
	 * a live probe look silent for the whole step. */
	now = simlog_clock_wall(b->clock);
	/* A time from the future counts as now: written back, so that the
	 * reset runs from the first look rather than from every look. */
	if (load(b, &f, now))
		store(b, &f);
	switch (f.state) {
	case SIMLOG_B_CLOSED:
		allow = 1;
		break;
	case SIMLOG_B_OPEN:
		if (force || now - f.opened_at >= b->reset) {
			note(b, f.state, SIMLOG_B_HALF_OPEN);
			f.state = SIMLOG_B_HALF_OPEN;
			f.probe_pid = (long)getpid();
			f.probe_at = now;
			store(b, &f);
			allow = 1;
		}
		break;
	case SIMLOG_B_HALF_OPEN:
		/* One probe at a time; take over from a dead or stale one. */
		if (force || f.probe_pid == (long)getpid() ||
		    kill((pid_t)f.probe_pid, 0) < 0 ||
		    now - f.probe_at >= b->reset) {
			f.probe_pid = (long)getpid();
			f.probe_at = now;
			store(b, &f);
			allow = 1;
		}
		break;
	}
	b->seen = (enum simlog_bstate)f.state;
	b->retry_at = f.state == SIMLOG_B_OPEN ? f.opened_at + b->reset :
	    f.probe_at + b->reset;
	b->opened_at = f.opened_at;
	snprintf(b->why, sizeof(b->why), "%s", f.why);
	unlock(b);
	return allow;
}

void
simlog_breaker_success(struct simlog_breaker *b)
{
	struct bfile f;

	if (b->fd < 0 || lock(b) < 0)
		return;
	load(b, &f, simlog_clock_wall(b->clock));
	if (f.state != SIMLOG_B_CLOSED || f.failures != 0) {
		note(b, f.state, SIMLOG_B_CLOSED);
		memset(&f, 0, sizeof(f));
		store(b, &f);
	}
	b->seen = SIMLOG_B_CLOSED;
	unlock(b);
}

void
simlog_breaker_failure(struct simlog_breaker *b, const char *why)
{
	struct bfile f;
	double now;

	if (b->fd < 0 || lock(b) < 0)
		return;
	now = simlog_clock_wall(b->clock);	/* under the lock, as allow */
	load(b, &f, now);
	f.failures++;
	if (why != NULL) {
		/* One line in the file: no newlines or tabs from messages. */
		snprintf(f.why, sizeof(f.why), "%s", why);
		for (char *p = f.why; *p; p++)
			if (*p == '\n' || *p == '\t')
				*p = ' ';
	}
	if (f.state == SIMLOG_B_HALF_OPEN ||
	    (f.state == SIMLOG_B_CLOSED && f.failures >= b->threshold)) {
		note(b, f.state, SIMLOG_B_OPEN);
		f.state = SIMLOG_B_OPEN;
		f.opened_at = now;
		f.probe_pid = 0;
	}
	store(b, &f);
	b->seen = (enum simlog_bstate)f.state;
	b->retry_at = f.opened_at + b->reset;
	b->opened_at = f.opened_at;
	snprintf(b->why, sizeof(b->why), "%s", f.why);
	unlock(b);
}

void
simlog_breaker_explain(const struct simlog_breaker *b, char *buf, size_t len)
{
	double wait = b->retry_at - simlog_clock_wall(b->clock);

	snprintf(buf, len, "circuit breaker open after: %s; next try in "
	    "%.1f s ('simlog-ping --wait SECONDS' waits for Redis and closes "
	    "it; 'simlog-push --replay' replays spooled records)",
	    b->why[0] ? b->why : "repeated failures", wait > 0 ? wait : 0);
}

/* The breaker of conn's endpoint, as a monitor (simlog-ping,
 * simlog-pool-stats) sees it. */
int
simlog_breaker_peek(const struct simlog_conn *conn,
		    struct simlog_breaker_view *v, struct simlog_err *err)
{
	char endpoint[700];

	simlog_conn_endpoint(conn, 0, endpoint, sizeof(endpoint));
	return simlog_breaker_read(endpoint, v, err);
}

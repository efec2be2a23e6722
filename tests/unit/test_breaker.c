/* The circuit breaker (lib/breaker.c) on a stepped clock: its states and
 * transitions, its reset, the probe given to one process at a time, the
 * wall clock stepped forward and back, files stamped in the future, and
 * processes sharing one breaker file at once; none of it waits. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "simlog.h"
#include "fake_clock.h"
#include "tap.h"

#define T0 1700000000.0		/* the fake wall clock's start */

static char dir[256];
static struct fake_clock fc;
static int nep;
/* The clock every breaker of a test lives by: fc, or one in shared memory
 * that a process can step while the others use it. */
static struct simlog_clock *clk = &fc.clock;

/* A breaker on the fake clock for an endpoint of its own (each test its
 * own file), threshold 3 and reset 5 s unless told. */
static void
open_breaker(struct simlog_breaker *b, char *ep, int threshold, double reset)
{
	struct simlog_err e = { 0 };

	snprintf(ep, 64, "unix:///test/breaker/%d", ++nep);
	if (simlog_breaker_init(b, ep, threshold, reset, &e) < 0) {
		printf("Bail out! breaker: %s\n", e.msg);
		exit(1);
	}
	b->clock = clk;
}

/* Another handle on the same file, as another process would have. */
static void
same_breaker(struct simlog_breaker *b, const char *ep, int threshold,
	     double reset)
{
	struct simlog_err e = { 0 };

	if (simlog_breaker_init(b, ep, threshold, reset, &e) < 0) {
		printf("Bail out! breaker: %s\n", e.msg);
		_exit(1);
	}
	b->clock = clk;
}

static void
view(const char *ep, struct simlog_breaker_view *v)
{
	struct simlog_err e = { 0 };

	if (simlog_breaker_read(ep, v, &e) < 0)
		printf("# breaker_read: %s\n", e.msg);
}

/* The file's fields: state failures opened_at probe_pid probe_at. */
static int
fields(const struct simlog_breaker *b, int *state, int *failures,
       double *opened_at, long *probe_pid, double *probe_at)
{
	char buf[512];
	ssize_t n = pread(b->fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return sscanf(buf, "%d %d %lf %ld %lf", state, failures, opened_at,
	    probe_pid, probe_at) == 5 ? 0 : -1;
}

/* Write the file by hand, as lib/breaker.c writes it. */
static void
stamp(const struct simlog_breaker *b, const char *line)
{
	if (pwrite(b->fd, line, strlen(line), 0) != (ssize_t)strlen(line) ||
	    ftruncate(b->fd, (off_t)strlen(line)) < 0)
		printf("# stamp: %s\n", strerror(errno));
}

static int
changed(const struct simlog_breaker *b, const char *what)
{
	for (int i = 0; i < b->nchanges; i++)
		if (strcmp(b->changes[i], what) == 0)
			return 1;
	return 0;
}

/* What a child reports through its exit status: allow()'s answer. */
static int
child_allow(const char *ep)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct simlog_breaker c;

		same_breaker(&c, ep, 3, 5);
		_exit(simlog_breaker_allow(&c, 0));
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* In another process, refused while a probe lives: the seconds its
 * message gives until the next try (retry_at as explain() shows it), or
 * -1 when it was let through or the two disagree. */
static int
child_next_try(const char *ep)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct simlog_breaker c;
		char msg[600], want[64];
		double left;

		same_breaker(&c, ep, 3, 5);
		if (simlog_breaker_allow(&c, 0) != 0)
			_exit(255);
		left = c.retry_at - fc.wall;
		simlog_breaker_explain(&c, msg, sizeof(msg));
		snprintf(want, sizeof(want), "; next try in %.1f s", left);
		_exit(strstr(msg, want) != NULL && left >= 0 && left < 200 ?
		    (int)left : 255);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) == 255)
		return -1;
	return WEXITSTATUS(st);
}

static void
test_threshold(void)
{
	struct simlog_breaker b;
	struct simlog_breaker_view v;
	char ep[64];

	open_breaker(&b, ep, 3, 5);
	ok(simlog_breaker_allow(&b, 0) == 1 && b.seen == SIMLOG_B_CLOSED,
	    "threshold: a new breaker is closed and lets through");
	simlog_breaker_failure(&b, "cannot connect to x: connection refused");
	simlog_breaker_failure(&b, "cannot connect to x: connection refused");
	view(ep, &v);
	ok(b.seen == SIMLOG_B_CLOSED && v.state == SIMLOG_B_CLOSED &&
	    v.failures == 2 && v.opened_at == 0,
	    "threshold: two failures of three leave it closed, counted");
	ok(simlog_breaker_allow(&b, 0) == 1, "threshold: still lets through");

	/* Only consecutive failures count. */
	simlog_breaker_success(&b);
	view(ep, &v);
	ok(v.failures == 0 && v.state == SIMLOG_B_CLOSED,
	    "threshold: a success sets the count back to 0");
	simlog_breaker_failure(&b, "one");
	simlog_breaker_failure(&b, "two");
	fake_clock_step(&fc, 1);
	simlog_breaker_failure(&b, "cannot connect to x: connection refused");
	view(ep, &v);
	ok(b.seen == SIMLOG_B_OPEN && v.state == SIMLOG_B_OPEN &&
	    v.failures == 3, "threshold: the third failure in a row opens it");
	ok(v.opened_at == fc.wall && b.opened_at == fc.wall &&
	    b.retry_at == fc.wall + 5,
	    "threshold: opened now, a probe due after the reset (5 s)");
	is_str(v.why, "cannot connect to x: connection refused",
	    "threshold: the file keeps the failure that opened it");
	ok(changed(&b, "closed>open") && b.nchanges == 1,
	    "threshold: the transition is noted once");
	ok(simlog_breaker_allow(&b, 0) == 0 && b.seen == SIMLOG_B_OPEN,
	    "threshold: an open breaker refuses");
	ok(child_allow(ep) == 0, "threshold: and refuses another process");
	simlog_breaker_clear(&b);
}

static void
test_reset(void)
{
	struct simlog_breaker b;
	struct simlog_breaker_view v;
	char ep[64], msg[600];
	int st, fails;
	double opened, probe_at;
	long probe;

	open_breaker(&b, ep, 1, 5);
	simlog_breaker_failure(&b, "timed out after 2 s");
	ok(b.seen == SIMLOG_B_OPEN, "reset: threshold 1 opens at once");
	fake_clock_step(&fc, 2);
	simlog_breaker_explain(&b, msg, sizeof(msg));
	ok(strstr(msg, "circuit breaker open after: timed out after 2 s; "
	    "next try in 3.0 s") != NULL && strstr(msg, "simlog-ping --wait")
	    && strstr(msg, "simlog-push --replay"),
	    "reset: the message names the failure, the time left, what to run");
	printf("# %s\n", msg);
	fake_clock_step(&fc, 2.875);
	ok(simlog_breaker_allow(&b, 0) == 0, "reset: 4.875 s on, still open");
	fake_clock_step(&fc, 0.125);
	ok(simlog_breaker_allow(&b, 0) == 1 && b.seen == SIMLOG_B_HALF_OPEN,
	    "reset: 5 s on, half-open: this process is let through to probe");
	view(ep, &v);
	ok(v.state == SIMLOG_B_HALF_OPEN && fields(&b, &st, &fails, &opened,
	    &probe, &probe_at) == 0 && probe == (long)getpid() &&
	    probe_at == fc.wall, "reset: the file names the probe and when");
	ok(changed(&b, "open>half-open"), "reset: the transition is noted");
	ok(simlog_breaker_allow(&b, 0) == 1,
	    "reset: the probe itself may go on trying");
	simlog_breaker_clear(&b);

	/* force: through an open breaker before its time, as the probe. */
	open_breaker(&b, ep, 1, 5);
	simlog_breaker_failure(&b, "x");
	ok(simlog_breaker_allow(&b, 0) == 0 && simlog_breaker_allow(&b, 1) == 1
	    && b.seen == SIMLOG_B_HALF_OPEN,
	    "reset: force lets a process through at once, as the probe");
	ok(child_allow(ep) == 0, "reset: the forced probe keeps others out");
	simlog_breaker_clear(&b);
}

static void
test_half_open(void)
{
	struct simlog_breaker b;
	struct simlog_breaker_view v;
	char ep[64], line[200];
	int st, fails;
	double opened, probe_at;
	long probe;
	pid_t dead;

	open_breaker(&b, ep, 1, 5);
	simlog_breaker_failure(&b, "x");
	fake_clock_step(&fc, 5);
	ok(simlog_breaker_allow(&b, 0) == 1, "half-open: this process probes");
	ok(child_allow(ep) == 0,
	    "half-open: another process is refused while the probe lives");
	fake_clock_step(&fc, 2);
	ok(child_next_try(ep) == 3, "half-open: a refused process may ask "
	    "again when the probe's time is up (3 s), not the opening's, and "
	    "its message says so");

	/* Success of the probe closes it. */
	simlog_breaker_success(&b);
	view(ep, &v);
	ok(b.seen == SIMLOG_B_CLOSED && v.state == SIMLOG_B_CLOSED &&
	    v.failures == 0 && v.why[0] == '\0',
	    "half-open: the probe's success closes it, count and reason gone");
	ok(changed(&b, "half-open>closed"), "half-open: noted");
	ok(child_allow(ep) == 1, "half-open: now every process goes through");
	simlog_breaker_clear(&b);

	/* Failure of the probe opens it again, the reset counted anew. */
	open_breaker(&b, ep, 3, 5);
	for (int i = 0; i < 3; i++)
		simlog_breaker_failure(&b, "x");
	fake_clock_step(&fc, 6);
	ok(simlog_breaker_allow(&b, 0) == 1, "half-open: probing again");
	fake_clock_step(&fc, 1);
	simlog_breaker_failure(&b, "still refused");
	view(ep, &v);
	ok(b.seen == SIMLOG_B_OPEN && v.state == SIMLOG_B_OPEN &&
	    v.opened_at == fc.wall && fields(&b, &st, &fails, &opened,
	    &probe, &probe_at) == 0 && probe == 0,
	    "half-open: one failed probe opens it again (threshold or not)");
	is_str(v.why, "still refused", "half-open: with the new reason");
	fake_clock_step(&fc, 4.875);
	ok(simlog_breaker_allow(&b, 0) == 0,
	    "half-open: the reset runs from the failed probe");
	fake_clock_step(&fc, 0.125);
	ok(simlog_breaker_allow(&b, 0) == 1, "half-open: then a probe again");

	/* A probe that died, or went quiet, is taken over. */
	if ((dead = fork()) == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	snprintf(line, sizeof(line), "2 3 %.3f %ld %.3f\tx\n", fc.wall,
	    (long)dead, fc.wall);
	stamp(&b, line);
	ok(child_allow(ep) == 1,
	    "half-open: a dead probe's turn goes to the next process");
	snprintf(line, sizeof(line), "2 3 %.3f %ld %.3f\tx\n", fc.wall,
	    (long)getpid(), fc.wall);
	stamp(&b, line);
	ok(child_allow(ep) == 0, "half-open: a live probe keeps it");
	fake_clock_step(&fc, 5);
	ok(child_allow(ep) == 1,
	    "half-open: a probe silent for the reset time is taken over");
	simlog_breaker_clear(&b);
}

static void
test_wall_steps(void)
{
	struct simlog_breaker b;
	struct simlog_breaker_view v;
	char ep[64], line[300], msg[600];
	int st, fails;
	double opened, probe_at;
	long probe;
	pid_t prober;

	/* Forward: the reset is wall time, shared with other processes, so
	 * a step forward brings the probe early (once), never late. */
	open_breaker(&b, ep, 1, 5);
	simlog_breaker_failure(&b, "x");
	fake_clock_set_wall(&fc, 3600);
	ok(simlog_breaker_allow(&b, 0) == 1 && b.seen == SIMLOG_B_HALF_OPEN,
	    "wall forward: an hour's step lets the probe through at once");
	ok(child_allow(ep) == 0, "wall forward: one probe all the same");
	simlog_breaker_clear(&b);

	/* Back: the file's times lie in the future and count as now, so
	 * the breaker opens for the reset time, not for the hour. */
	open_breaker(&b, ep, 1, 5);
	simlog_breaker_failure(&b, "x");
	fake_clock_set_wall(&fc, -3600);
	ok(simlog_breaker_allow(&b, 0) == 0,
	    "wall back: set back an hour, still open just after");
	ok(fields(&b, &st, &fails, &opened, &probe, &probe_at) == 0 &&
	    opened == fc.wall && b.retry_at == fc.wall + 5,
	    "wall back: the future opening time was written back as now");
	fake_clock_step(&fc, 4.875);
	ok(simlog_breaker_allow(&b, 0) == 0 && child_allow(ep) == 0,
	    "wall back: open until the reset has passed since that look");
	fake_clock_step(&fc, 0.125);
	ok(simlog_breaker_allow(&b, 0) == 1,
	    "wall back: 5 s on, a probe, not an hour on");
	simlog_breaker_clear(&b);

	/* A file stamped an hour ahead by hand (a clock that was set back
	 * after writing it, or a file from another machine). */
	open_breaker(&b, ep, 3, 5);
	snprintf(line, sizeof(line), "1 3 %.3f 0 %.3f\tcannot connect to "
	    "unix:///x: connection refused\n", fc.wall + 3600, fc.wall + 3600);
	stamp(&b, line);
	ok(simlog_breaker_allow(&b, 0) == 0,
	    "stamped ahead: an open breaker from the future refuses now");
	simlog_breaker_explain(&b, msg, sizeof(msg));
	ok(strstr(msg, "circuit breaker open after: cannot connect to "
	    "unix:///x: connection refused; next try in 5.0 s") != NULL,
	    "stamped ahead: and says the next try is a reset away, not an hour");
	view(ep, &v);
	ok(v.state == SIMLOG_B_OPEN && v.opened_at == fc.wall,
	    "stamped ahead: a monitor reads it as opened now");
	fake_clock_step(&fc, 5);
	ok(child_allow(ep) == 1,
	    "stamped ahead: another process probes after the reset");
	ok(simlog_breaker_allow(&b, 0) == 1 && b.seen == SIMLOG_B_HALF_OPEN,
	    "stamped ahead: that probe gone, this process takes its turn");
	simlog_breaker_success(&b);
	view(ep, &v);
	ok(v.state == SIMLOG_B_CLOSED, "stamped ahead: a success closes it");

	/* Half-open from the future, its probe process alive. */
	if ((prober = fork()) == 0) {
		pause();
		_exit(0);
	}
	snprintf(line, sizeof(line), "2 3 %.3f %ld %.3f\tmax number of "
	    "clients reached\n", fc.wall + 3600, (long)prober, fc.wall + 3600);
	stamp(&b, line);
	ok(simlog_breaker_allow(&b, 0) == 0,
	    "stamped ahead, half-open: its live probe holds it for now");
	fake_clock_step(&fc, 4.875);
	ok(simlog_breaker_allow(&b, 0) == 0,
	    "stamped ahead, half-open: 4.875 s on, still the live probe's");
	fake_clock_step(&fc, 0.125);
	ok(simlog_breaker_allow(&b, 0) == 1 && fields(&b, &st, &fails,
	    &opened, &probe, &probe_at) == 0 && probe == (long)getpid(),
	    "stamped ahead, half-open: a reset on, this process takes over");
	kill(prober, SIGKILL);
	waitpid(prober, NULL, 0);
	simlog_breaker_clear(&b);
}

static void
test_files(void)
{
	struct simlog_breaker b;
	struct simlog_breaker_view v;
	struct simlog_err e = { 0 };
	char ep[64];

	open_breaker(&b, ep, 3, 5);
	stamp(&b, "garbage\n");
	ok(simlog_breaker_allow(&b, 0) == 1 && b.seen == SIMLOG_B_CLOSED,
	    "files: a damaged file reads as closed (fail open)");
	stamp(&b, "7 1 0 0 0\tx\n");
	ok(simlog_breaker_allow(&b, 0) == 1 && b.seen == SIMLOG_B_CLOSED,
	    "files: so does a bad state");
	simlog_breaker_failure(&b, "line\none\tmore");
	view(ep, &v);
	is_str(v.why, "line one more",
	    "files: a reason's newlines and tabs cannot break the line");
	simlog_breaker_clear(&b);
	simlog_breaker_clear(&b);
	ok(b.fd == -1, "files: clear twice is harmless");
	ok(simlog_breaker_allow(&b, 0) == 1,
	    "files: a breaker without a file lets everything through");

	ok(simlog_breaker_read("unix:///never/used", &v, &e) == 0 &&
	    v.state == SIMLOG_B_CLOSED && v.failures == 0,
	    "files: no file yet reads as closed, and none is made");
	ok(access(v.path, F_OK) < 0, "files: (none made)");

	setenv("SIMLOG_BREAKER_FAILURES", "0", 1);
	ok(simlog_breaker_init(&b, "x", 0, 0, &e) < 0 &&
	    e.code == SIMLOG_EX_USAGE &&
	    strstr(e.msg, "invalid SIMLOG_BREAKER_FAILURES: '0'"),
	    "files: SIMLOG_BREAKER_FAILURES is range-checked");
	unsetenv("SIMLOG_BREAKER_FAILURES");
	setenv("SIMLOG_BREAKER_RESET", "soon", 1);
	ok(simlog_breaker_init(&b, "x", 0, 0, &e) < 0 &&
	    e.code == SIMLOG_EX_USAGE &&
	    strstr(e.msg, "invalid SIMLOG_BREAKER_RESET: 'soon'"),
	    "files: SIMLOG_BREAKER_RESET must be seconds");
	setenv("SIMLOG_BREAKER_RESET", "0.25", 1);
	setenv("SIMLOG_BREAKER_FAILURES", "7", 1);
	ok(simlog_breaker_init(&b, "x", 0, 0, &e) == 0 && b.reset == 0.25 &&
	    b.threshold == 7, "files: the environment's settings are taken");
	simlog_breaker_clear(&b);
	ok(simlog_breaker_init(&b, "x", 2, 9, &e) == 0 && b.reset == 9 &&
	    b.threshold == 2, "files: the caller's settings come first");
	simlog_breaker_clear(&b);
	unsetenv("SIMLOG_BREAKER_RESET");
	unsetenv("SIMLOG_BREAKER_FAILURES");
}

/* --- processes at once ------------------------------------------------- */

#define NPROC 8
#define ROUNDS 20

/*
 * fork NPROC children that each open the breaker file themselves, wait
 * for one start signal (a pipe closed), run fn, write one result line to
 * a shared pipe, then wait for the end signal before exiting (so that a
 * probe stays alive until every other process has looked).  The lines,
 * in the order they came, are in out.
 */
static int race_me;		/* in a child of race(): which, from 0 */

static void
race(const char *ep, int threshold, void (*fn)(struct simlog_breaker *,
     char *, size_t), char out[NPROC][64])
{
	int start[2], done[2], res[2];
	pid_t pids[NPROC];
	FILE *in;

	if (pipe(start) < 0 || pipe(done) < 0 || pipe(res) < 0) {
		printf("Bail out! pipe: %s\n", strerror(errno));
		exit(1);
	}
	fflush(stdout);
	for (int i = 0; i < NPROC; i++) {
		if ((pids[i] = fork()) == 0) {
			struct simlog_breaker c;
			char line[64], x;

			race_me = i;
			close(start[1]);
			close(done[1]);
			close(res[0]);
			same_breaker(&c, ep, threshold, 5);
			(void)!read(start[0], &x, 1);
			fn(&c, line, sizeof(line));
			(void)!write(res[1], line, strlen(line));
			(void)!read(done[0], &x, 1);
			_exit(0);
		}
	}
	close(start[0]);
	close(done[0]);
	close(res[1]);
	close(start[1]);		/* go */
	in = fdopen(res[0], "r");
	for (int i = 0; i < NPROC; i++)
		if (in == NULL || fgets(out[i], 64, in) == NULL)
			snprintf(out[i], 64, "none\n");
	close(done[1]);			/* all may end */
	for (int i = 0; i < NPROC; i++)
		waitpid(pids[i], NULL, 0);
	if (in != NULL)
		fclose(in);
}

static void
fail_many(struct simlog_breaker *c, char *line, size_t len)
{
	for (int i = 0; i < 500; i++)
		simlog_breaker_failure(c, "x");
	snprintf(line, len, "%d\n", c->nchanges);
}

static void
fail_once(struct simlog_breaker *c, char *line, size_t len)
{
	simlog_breaker_failure(c, "refused");
	snprintf(line, len, "%d %s\n", c->nchanges,
	    c->nchanges ? c->changes[0] : "-");
}

static void
allow_once(struct simlog_breaker *c, char *line, size_t len)
{
	int a = simlog_breaker_allow(c, 0);

	snprintf(line, len, "%d %ld\n", a, (long)getpid());
}

/*
 * ROUNDS times: the clock f moved on by step, the breaker stamped open
 * since ago seconds (due), every process asking at once through fn: one
 * is let through, and the file names it.  How many rounds were not so.
 */
static int
probe_rounds(struct simlog_breaker *b, const char *ep, struct fake_clock *f,
	     double step, double ago,
	     void (*fn)(struct simlog_breaker *, char *, size_t))
{
	char out[NPROC][64], line[200];
	int n, allowed, bad = 0, st, fails;
	long winner = 0, probe;
	double at, probe_at;

	for (int round = 0; round < ROUNDS; round++) {
		fake_clock_step(f, step);
		snprintf(line, sizeof(line), "1 3 %.3f 0 0\trefused\n",
		    f->wall - ago);
		stamp(b, line);
		race(ep, 3, fn, out);
		allowed = 0;
		for (int i = 0; i < NPROC; i++)
			if (sscanf(out[i], "%d %ld", &n, &probe) == 2 &&
			    n == 1) {
				allowed++;
				winner = probe;
			}
		if (allowed != 1 || fields(b, &st, &fails, &at, &probe,
		    &probe_at) < 0 || st != SIMLOG_B_HALF_OPEN ||
		    probe != winner) {
			printf("# round %d: %d let through\n", round, allowed);
			bad++;
		}
	}
	return bad;
}

static void
test_processes(void)
{
	struct simlog_breaker b;
	struct simlog_breaker_view v;
	char ep[64], out[NPROC][64];
	int n, opened, allowed, bad;

	/* No failure lost when every process counts at once. */
	open_breaker(&b, ep, NPROC * 500 + 1, 5);
	race(ep, NPROC * 500 + 1, fail_many, out);
	view(ep, &v);
	ok(v.failures == NPROC * 500 && v.state == SIMLOG_B_CLOSED,
	    "processes: %d processes x 500 failures at once: %d counted",
	    NPROC, v.failures);
	simlog_breaker_clear(&b);

	/* The threshold crossed by the racing processes: opened once. */
	open_breaker(&b, ep, 3, 5);
	race(ep, 3, fail_once, out);
	opened = 0;
	for (int i = 0; i < NPROC; i++)
		if (strcmp(out[i], "1 closed>open\n") == 0)
			opened++;
	view(ep, &v);
	ok(opened == 1 && v.state == SIMLOG_B_OPEN && v.failures == NPROC,
	    "processes: one process of %d opened it (%d did), all counted (%d)",
	    NPROC, opened, v.failures);

	/* Past the reset, every process asks at once: one probe.  Rounds,
	 * because a lost lock shows only when two asks meet. */
	bad = probe_rounds(&b, ep, &fc, 5, 5, allow_once);
	ok(bad == 0, "processes: %d ask at once past the reset, %d rounds: "
	    "one let through each time, the file names it", NPROC, ROUNDS);

	/* The probe has gone (its process ended): the next asker takes
	 * over, and its success lets everyone through. */
	race(ep, 3, allow_once, out);
	allowed = 0;
	for (int i = 0; i < NPROC; i++)
		if (sscanf(out[i], "%d", &n) == 1 && n == 1)
			allowed++;
	ok(allowed == 1, "processes: the probe gone, again one of %d (%d)",
	    NPROC, allowed);
	simlog_breaker_success(&b);
	race(ep, 3, allow_once, out);
	allowed = 0;
	for (int i = 0; i < NPROC; i++)
		if (sscanf(out[i], "%d", &n) == 1 && n == 1)
			allowed++;
	ok(allowed == NPROC, "processes: closed again, all %d agree (%d)",
	    NPROC, allowed);
	simlog_breaker_clear(&b);
}

/* --- processes at once, the clock stepped under them ------------------- */

static struct fake_clock *sc;	/* shared by the racing processes */

/* Race member 0 steps the shared wall clock while the others work:
 * back an hour and forward again, STEPS times, ending where it began. */
#define STEPS 300

static void
step_or(void (*fn)(struct simlog_breaker *, char *, size_t),
	struct simlog_breaker *c, char *line, size_t len)
{
	if (race_me != 0) {
		fn(c, line, len);
		return;
	}
	for (int i = 0; i < STEPS; i++) {
		fake_clock_set_wall(sc, -3600);
		sched_yield();
		fake_clock_set_wall(sc, 3600);
		sched_yield();
	}
	snprintf(line, len, "stepper\n");
}

static void
fail_many_stepped(struct simlog_breaker *c, char *line, size_t len)
{
	step_or(fail_many, c, line, len);
}

/* The stepper goes back only (a forward step of the reset would rightly
 * hand a silent probe's turn on): 100 s at a time, and forward 0.01 s
 * between, 3 s in all, less than the reset. */
static void
allow_once_stepped(struct simlog_breaker *c, char *line, size_t len)
{
	if (race_me != 0) {
		allow_once(c, line, len);
		return;
	}
	for (int i = 0; i < STEPS; i++) {
		fake_clock_set_wall(sc, -100);
		sched_yield();
		fake_clock_set_wall(sc, 0.01);
	}
	snprintf(line, len, "stepper\n");
}

static void
test_processes_stepped(void)
{
	struct simlog_breaker b;
	struct simlog_breaker_view v;
	char ep[64], out[NPROC][64];
	int opened, bad, st, fails;
	long probe;
	double at, probe_at;

	sc = mmap(NULL, sizeof(*sc), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sc == MAP_FAILED) {
		printf("Bail out! mmap: %s\n", strerror(errno));
		exit(1);
	}
	fake_clock_init(sc, T0 + 86400);
	clk = &sc->clock;

	/* Counting while the wall clock jumps both ways: nothing lost, the
	 * threshold crossed once. */
	open_breaker(&b, ep, 3, 5);
	race(ep, 3, fail_many_stepped, out);
	opened = 0;
	for (int i = 0; i < NPROC; i++)
		if (strcmp(out[i], "1\n") == 0)
			opened++;
	view(ep, &v);
	ok(v.failures == (NPROC - 1) * 500 && v.state == SIMLOG_B_OPEN &&
	    opened == 1, "stepped processes: %d processes x 500 failures, the "
	    "wall clock an hour back and forth %d times under them: %d "
	    "counted, opened by %d", NPROC - 1, STEPS, v.failures, opened);

	/* Whatever time it was stamped with, a clock set back far still
	 * brings the probe one reset after the first look. */
	fake_clock_set_wall(sc, -7300);
	ok(simlog_breaker_allow(&b, 0) == 0 && fields(&b, &st, &fails, &at,
	    &probe, &probe_at) == 0 && at == sc->wall,
	    "stepped processes: then set back two hours: open, its time now");
	fake_clock_step(sc, 4.875);
	ok(simlog_breaker_allow(&b, 0) == 0 && child_allow(ep) == 0,
	    "stepped processes: open until a reset has passed");
	fake_clock_step(sc, 0.125);
	ok(simlog_breaker_allow(&b, 0) == 1 && b.seen == SIMLOG_B_HALF_OPEN,
	    "stepped processes: a reset on, one probe");
	simlog_breaker_clear(&b);

	/* A breaker long due, and every process asking while the clock is
	 * set back under them: still one probe each round, the one the file
	 * names; the probe's own time never lies ahead of the wall clock for
	 * good, so no one takes over a live probe. */
	open_breaker(&b, ep, 3, 5);
	bad = probe_rounds(&b, ep, sc, 0, 100000, allow_once_stepped);
	ok(bad == 0, "stepped processes: %d ask at once as the clock is set "
	    "back %d times, %d rounds: one let through each time", NPROC - 1,
	    STEPS, ROUNDS);
	simlog_breaker_clear(&b);
	clk = &fc.clock;
	munmap(sc, sizeof(*sc));
}

static void
cleanup(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (dir[0] != '\0')
		(void)!system(cmd);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	/* Whatever hangs ends the test (and TAP so far is out). */
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(120);
	snprintf(dir, sizeof(dir), "%s/simlog-breaker.XXXXXX",
	    tmp != NULL && *tmp == '/' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	atexit(cleanup);
	setenv("SIMLOG_BREAKER_DIR", dir, 1);
	unsetenv("SIMLOG_BREAKER_FAILURES");
	unsetenv("SIMLOG_BREAKER_RESET");
	fake_clock_init(&fc, T0);

	test_threshold();
	test_reset();
	test_half_open();
	test_wall_steps();
	test_files();
	test_processes();
	test_processes_stepped();
	return tap_done();
}

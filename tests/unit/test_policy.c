/* The failure policy (lib/policy.c) on a stepped clock: which failures are
 * retried and how often, the backoff and its bounds, deadlines, --follow's
 * "until stopped", the breaker refusing and being waited out, and which
 * failures the breaker never hears of.  No test waits: the clock moves
 * when the policy sleeps.  The end-to-end cases run ops against a private
 * redis-server (server.h); the failing ones against a socket no
 * server listens on. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "fake_clock.h"
#include "net/conn.h"
#include "server.h"
#include "simlog.h"
#include "tap.h"

#define T0 1700000000.0
#define HALF 0x80000000u	/* a draw of exactly half: exact delays */

static char dir[128];
static struct fake_clock fc;
static struct simlog_conn down;		/* nothing listens there */
static struct server srv;
static struct simlog_conn up;		/* srv */
static int nep;

/* What the policy said, one line each. */
static char said[64][SIMLOG_ERRLEN + 200];
static int nsaid;

static void
say(void *arg, const char *msg)
{
	(void)arg;
	if (nsaid < 64)
		snprintf(said[nsaid], sizeof(said[0]), "%s", msg);
	nsaid++;
}

static void
conn_to(struct simlog_conn *c, const char *url)
{
	struct simlog_conn_opts o = { 0 };
	struct simlog_err e = { 0 };

	o.url = url;
	o.timeout = 5;
	if (simlog_conn_init(c, &o, &e) < 0) {
		printf("Bail out! %s: %s\n", url, e.msg);
		exit(1);
	}
}

/* A policy on the fake clock, the default retry settings (3 tries, 0.1 s,
 * x2, 2 s), draws of exactly half, no breaker; the clock's record of
 * sleeps and what was said forgotten. */
static void
policy(struct simlog_policy *p)
{
	struct simlog_err e = { 0 };

	if (simlog_policy_init(p, &e) < 0) {
		printf("Bail out! policy: %s\n", e.msg);
		exit(1);
	}
	p->clock = &fc.clock;
	p->say = say;
	fc.random_fixed = 1;
	fc.random_value = HALF;
	fc.on_sleep = NULL;
	fake_clock_forget(&fc);
	nsaid = 0;
}

static void
breaker(struct simlog_breaker *b, char *ep, int threshold, double reset)
{
	struct simlog_err e = { 0 };

	snprintf(ep, 64, "unix:///test/policy/%d", ++nep);
	if (simlog_breaker_init(b, ep, threshold, reset, &e) < 0) {
		printf("Bail out! breaker: %s\n", e.msg);
		exit(1);
	}
	b->clock = &fc.clock;
}

static int
failures(const char *ep)
{
	struct simlog_breaker_view v;
	struct simlog_err e = { 0 };

	if (simlog_breaker_read(ep, &v, &e) < 0)
		return -1;
	return v.failures;
}

static void
fail(struct simlog_err *e, int code, int full, const char *msg)
{
	memset(e, 0, sizeof(*e));
	e->code = code;
	e->full = full;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
}

/* simlog_policy_failed after e, again and again while it says to retry;
 * how many times it did (at most 1,000: a policy that never gives up
 * fails the test instead of hanging it). */
static int
retry_all(struct simlog_policy *p, int *attempt, struct simlog_err *e)
{
	int n = 0;

	while (n < 1000 && simlog_policy_failed(&down, p, attempt, e))
		n++;
	return n;
}

static int
near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

/* --- retry settings ---------------------------------------------------- */

static void
test_settings(void)
{
	struct simlog_retry r;
	struct simlog_err e = { 0 };

	ok(simlog_retry_init(&r, &e) == 0 && r.tries == 3 && r.base == 0.1 &&
	    r.factor == 2 && r.cap == 2,
	    "settings: 3 tries, 0.1 s doubling up to 2 s by default");
	setenv("SIMLOG_RETRIES", "7", 1);
	setenv("SIMLOG_RETRY_BASE", "0.5", 1);
	setenv("SIMLOG_RETRY_FACTOR", "3", 1);
	setenv("SIMLOG_RETRY_CAP", "10", 1);
	ok(simlog_retry_init(&r, &e) == 0 && r.tries == 7 && r.base == 0.5 &&
	    r.factor == 3 && r.cap == 10, "settings: from the environment");
	setenv("SIMLOG_RETRY_FACTOR", "0.5", 1);
	ok(simlog_retry_init(&r, &e) < 0 && e.code == SIMLOG_EX_USAGE &&
	    strcmp(e.msg, "invalid SIMLOG_RETRY_FACTOR: '0.5': too small")
	    == 0, "settings: a factor under 1 is refused, named");
	setenv("SIMLOG_RETRIES", "many", 1);
	ok(simlog_retry_init(&r, &e) < 0 && e.code == SIMLOG_EX_USAGE &&
	    strstr(e.msg, "invalid SIMLOG_RETRIES: 'many'") != NULL,
	    "settings: SIMLOG_RETRIES must be a number");
	unsetenv("SIMLOG_RETRIES");
	unsetenv("SIMLOG_RETRY_BASE");
	unsetenv("SIMLOG_RETRY_FACTOR");
	unsetenv("SIMLOG_RETRY_CAP");
}

/* --- backoff ----------------------------------------------------------- */

static double
ceiling(int attempt)
{
	double c = 0.1;

	for (int i = 1; i < attempt; i++)
		c *= 2;
	return c < 2 ? c : 2;
}

static void
test_backoff(void)
{
	static const double want[] = { 0.05, 0.1, 0.2, 0.4, 0.8, 1, 1, 1 };
	struct simlog_policy p;
	struct simlog_err e;
	int attempt = 0, n = 0, bad = 0, low = 0;

	policy(&p);
	p.retry.tries = 8;
	fail(&e, SIMLOG_EX_UNAVAILABLE, 0, "cannot connect to x: refused");
	n = retry_all(&p, &attempt, &e);
	ok(n == 8 && p.retries == 8 && attempt == 9 && fc.nsleeps == 8,
	    "backoff: 8 tries, 8 retries counted, 8 waits (%d, %llu, %d)", n,
	    p.retries, fc.nsleeps);
	for (int i = 0; i < 8; i++)
		bad += !near(fc.slept[i], want[i]);
	ok(bad == 0, "backoff: each wait doubles from 0.1 s up to the 2 s cap "
	    "(times the draw, here one half)");
	ok(e.code == SIMLOG_EX_UNAVAILABLE && strcmp(e.msg,
	    "cannot connect to x: refused") == 0,
	    "backoff: the last failure is what is reported");
	ok(nsaid == 8 && strcmp(said[0], "cannot connect to x: refused; "
	    "retry 1 in 0.05 s") == 0 && strcmp(said[7], "cannot connect to "
	    "x: refused; retry 8 in 1.00 s") == 0,
	    "backoff: each retry said, with its number and wait");

	/* The draw's bounds: 0 waits nothing, the largest just under the
	 * ceiling; seeded draws all fall within [0, ceiling). */
	policy(&p);
	fc.random_value = 0;
	attempt = 0;
	simlog_policy_failed(&down, &p, &attempt, &e);
	ok(fc.nsleeps == 1 && fc.slept[0] == 0, "backoff: a draw of 0 waits 0");
	policy(&p);
	fc.random_value = UINT32_MAX;
	p.retry.tries = 6;
	attempt = 0;
	retry_all(&p, &attempt, &e);
	ok(fc.slept[5] < 2 && fc.slept[5] > 2 - 1e-6 && fc.slept[0] < 0.1 &&
	    fc.slept[0] > 0.1 - 1e-6, "backoff: the largest draw waits just "
	    "under the ceiling (%.9f of 2 s)", fc.slept[5]);

	policy(&p);
	fc.random_fixed = 0;
	p.retry.tries = 200;
	attempt = 0;
	retry_all(&p, &attempt, &e);
	bad = 0;
	for (int i = 0; i < 200; i++) {
		double c = ceiling(i + 1);

		bad += fc.slept[i] < 0 || fc.slept[i] >= c;
		low += fc.slept[i] < c / 2;
	}
	ok(fc.nsleeps == 200 && bad == 0 && low > 50 && low < 150,
	    "backoff: 200 jittered waits each within [0, ceiling), %d in the "
	    "lower half", low);

	/* The real draw, through the public function. */
	bad = low = 0;
	for (int a = 1; a <= 10; a++)
		for (int i = 0; i < 100; i++) {
			double d = simlog_retry_delay(&p.retry, a);

			bad += d < 0 || d >= ceiling(a);
			low += d < ceiling(a) / 2;
		}
	ok(bad == 0 && low > 300 && low < 700, "backoff: simlog_retry_delay's "
	    "1,000 real draws within bounds, %d in the lower half", low);
}

/* --- deadlines, forever, stopping --------------------------------------- */

static volatile sig_atomic_t stop;
static int stop_after;

static void
stop_later(struct fake_clock *f, void *arg)
{
	(void)arg;
	if (f->nsleeps >= stop_after)
		stop = 1;
}

static void
test_deadline(void)
{
	struct simlog_policy p;
	struct simlog_err e;
	double start;
	int attempt = 0, n = 0;

	policy(&p);
	start = fc.mono;
	p.give_up_at = start + 5;
	p.retry.base = 0.125;		/* exact sums: 1/16 s upward */
	fail(&e, SIMLOG_EX_TEMPFAIL, 0, "LOADING Redis is loading");
	n = retry_all(&p, &attempt, &e);
	/* Waits 1/16, 1/8, 1/4, 1/2, then 1 (the 2 s cap, halved) four
	 * times (4.9375 s), then one cut to the deadline. */
	ok(fc.mono == start + 5 && fc.nsleeps == 9 && fc.slept[8] == 0.0625,
	    "deadline: retried until give_up_at, the last wait cut to it "
	    "(%d waits, %.4f s)", fc.nsleeps, fc.slept_total);
	ok(n == 9 && p.retries == 9 && attempt == 10,
	    "deadline: the tries setting does not end it first (%d)", n);
	ok(e.code == SIMLOG_EX_TEMPFAIL, "deadline: then gives up, 75");
	ok(!simlog_policy_failed(&down, &p, &attempt, &e) && fc.nsleeps == 9,
	    "deadline: past it, no more waiting");
}

static void
test_forever(void)
{
	struct simlog_policy p;
	struct simlog_err e;
	int attempt = 0, n = 0;

	policy(&p);
	p.forever = 1;
	p.stop = &stop;
	stop = 0;
	stop_after = 50;
	fc.on_sleep = stop_later;
	fail(&e, SIMLOG_EX_UNAVAILABLE, 0, "cannot connect: refused");
	n = retry_all(&p, &attempt, &e);
	ok(n == 49 && p.retries == 49 && fc.nsleeps == 50 && e.stopped,
	    "forever: retried past the tries until the stop flag (%d), which "
	    "ended the 50th wait", n);
	ok(near(fc.slept[49], 1) && near(fc.slept[40], 1),
	    "forever: the waits stay at the cap");
	ok(nsaid == 1 && p.lost && strstr(said[0], "cannot connect: refused; "
	    "retrying until Redis is back") && strstr(said[0], down.display),
	    "forever: said once, where: '%s'", said[0]);

	/* A stop flag already set, or a failure that was a stop: at once. */
	policy(&p);
	p.stop = &stop;
	attempt = 0;
	fail(&e, SIMLOG_EX_UNAVAILABLE, 0, "x");
	ok(!simlog_policy_failed(&down, &p, &attempt, &e) && e.stopped &&
	    fc.nsleeps == 0 && attempt == 0,
	    "stop: a set flag ends it at once, nothing counted");
	stop = 0;
	fail(&e, SIMLOG_EX_TEMPFAIL, 0, "interrupted");
	e.stopped = 1;
	ok(!simlog_policy_failed(&down, &p, &attempt, &e) && fc.nsleeps == 0,
	    "stop: so does a failure that was the stop itself");
}

/* --- what the breaker hears -------------------------------------------- */

static void
test_blame(void)
{
	struct simlog_policy p;
	struct simlog_breaker b;
	struct simlog_err e;
	char ep[64];
	int attempt = 0, n = 0;

	policy(&p);
	breaker(&b, ep, 3, 5);
	p.brk = &b;
	fail(&e, SIMLOG_EX_OSERR, 0, "cannot connect: Too many open files "
	    "(this process's limit of open files)");
	ok(!simlog_policy_failed(&down, &p, &attempt, &e) && attempt == 0 &&
	    fc.nsleeps == 0 && failures(ep) == 0 && b.seen == SIMLOG_B_CLOSED,
	    "local: this process's own limit (71) is not retried, and the "
	    "shared breaker never hears of it");
	fail(&e, SIMLOG_EX_NOPERM, 0, "authentication failed");
	ok(!simlog_policy_failed(&down, &p, &attempt, &e) && fc.nsleeps == 0 &&
	    failures(ep) == 0, "local: nor is a refused password (77)");
	fail(&e, SIMLOG_EX_SOFTWARE, 0, "unexpected reply");
	ok(!simlog_policy_failed(&down, &p, &attempt, &e) && fc.nsleeps == 0 &&
	    failures(ep) == 0, "local: nor an internal error (70)");

	/* Full: Redis is up, only out of room; waiting helps, the breaker
	 * must stay shut however often it happens. */
	p.retry.tries = 10;
	attempt = 0;
	fail(&e, SIMLOG_EX_TEMPFAIL, 1, "OOM command not allowed");
	n = retry_all(&p, &attempt, &e);
	ok(n == 10 && p.retries == 10 && failures(ep) == 0 &&
	    simlog_breaker_allow(&b, 0) == 1,
	    "full: retried 10 times, the breaker (threshold 3) never told");

	/* And what it does hear: a transient failure, counted once each. */
	policy(&p);
	p.brk = &b;
	attempt = 0;
	fail(&e, SIMLOG_EX_UNAVAILABLE, 0, "cannot connect: refused");
	ok(simlog_policy_failed(&down, &p, &attempt, &e) && failures(ep) == 1,
	    "transient: a refused connection is counted by the breaker");
	simlog_breaker_clear(&b);
}

/* --- the breaker in the loop ------------------------------------------- */

static int op_calls;

static int
op_never(struct simlog_conn *c, void *arg, struct simlog_err *e)
{
	(void)c;
	(void)arg;
	(void)e;
	op_calls++;
	return 0;
}

static void
test_breaker_loop(void)
{
	struct simlog_policy p;
	struct simlog_breaker b;
	struct simlog_err e = { 0 };
	char ep[64], msg[400];
	int rc;

	/* One-shot, open breaker: refused at once, not counted, no wait. */
	policy(&p);
	breaker(&b, ep, 1, 5);
	simlog_breaker_failure(&b, "cannot connect to x: connection refused");
	p.brk = &b;
	op_calls = 0;
	rc = simlog_policy_run(&down, &p, 0, op_never, NULL, &e);
	ok(rc < 0 &&
	    e.code == SIMLOG_EX_TEMPFAIL && op_calls == 0 &&
	    fc.nsleeps == 0 && p.retries == 0 && failures(ep) == 1,
	    "refused: an open breaker refuses a one-shot run at once (75), "
	    "no wait, nothing counted");
	snprintf(msg, sizeof(msg), "%s: circuit breaker open after: ",
	    down.display);
	ok(strncmp(e.msg, msg, strlen(msg)) == 0 &&
	    strstr(e.msg, "connection refused; next try in 5.0 s"),
	    "refused: '%s'", e.msg);
	simlog_breaker_clear(&b);

	/* force (simlog-ping --force): through the open breaker as its
	 * probe, every try made, each failure counted and reported as it
	 * is, not as the breaker's refusal. */
	policy(&p);
	breaker(&b, ep, 1, 5);
	simlog_breaker_failure(&b, "cannot connect to x: connection refused");
	p.brk = &b;
	p.force = 1;
	rc = simlog_policy_run(&down, &p, 0, op_never, NULL, &e);
	ok(rc < 0 && e.code == SIMLOG_EX_UNAVAILABLE &&
	    p.retries == (unsigned long long)p.retry.tries &&
	    failures(ep) == 1 + p.retry.tries + 1 && b.seen == SIMLOG_B_OPEN,
	    "force: an open breaker is gone through, %d tries, each failure "
	    "counted (%d), the last reported (%d)", p.retry.tries + 1,
	    failures(ep), e.code);
	simlog_breaker_clear(&b);

	/* One-shot, the failure that opens it ends the tries left: they
	 * would only hammer a server known to be down. */
	policy(&p);
	breaker(&b, ep, 2, 5);
	p.brk = &b;
	rc = simlog_policy_run(&down, &p, 0, op_never, NULL, &e);
	ok(rc < 0 &&
	    e.code == SIMLOG_EX_UNAVAILABLE && p.retries == 1 &&
	    fc.nsleeps == 1 && failures(ep) == 2 && b.seen == SIMLOG_B_OPEN,
	    "opened: the second failure opens it (threshold 2); the third try "
	    "never comes; the failure is what is reported (69)");
	simlog_breaker_clear(&b);

	/* A deadline nearer than the probe: wait to the deadline, give up. */
	policy(&p);
	breaker(&b, ep, 1, 5);
	simlog_breaker_failure(&b, "timed out after 2 s");
	p.brk = &b;
	p.give_up_at = fc.mono + 3;
	rc = simlog_policy_run(&down, &p, 0, op_never, NULL, &e);
	ok(rc < 0 &&
	    e.code == SIMLOG_EX_TEMPFAIL && strstr(e.msg, "circuit breaker "
	    "open after: timed out after 2 s") && fc.mono == p.give_up_at &&
	    fc.nsleeps == 1, "deadline: a probe due after it: waits to the "
	    "deadline (3 s), then gives up (75)");
	simlog_breaker_clear(&b);

	/* A deadline farther: waited out, probing once per reset (the
	 * connection fails each time), at most a second between looks. */
	policy(&p);
	breaker(&b, ep, 1, 5);
	simlog_breaker_failure(&b, "refused");
	p.brk = &b;
	p.retry.base = 0.125;
	p.give_up_at = fc.mono + 18;
	rc = simlog_policy_run(&down, &p, 0, op_never, NULL, &e);
	ok(rc < 0 &&
	    e.code == SIMLOG_EX_TEMPFAIL && fc.mono == p.give_up_at &&
	    failures(ep) == 4 && p.retries == 3,
	    "deadline 18 s, reset 5 s: probes at 5, 10, 15 s (each a failure, "
	    "%d counted, %llu retries), then gives up at the deadline",
	    failures(ep), p.retries);
	{
		int longest = 1;

		for (int i = 0; i < fc.nsleeps && i < FAKE_CLOCK_MAX_SLEEPS;
		    i++)
			longest &= fc.slept[i] <= 1 || i == fc.nsleeps - 1;
		ok(longest, "deadline: looked again at least every second "
		    "(another process may have closed it)");
	}
	simlog_breaker_clear(&b);

	/* --follow: waits for the breaker, says so once, until stopped. */
	policy(&p);
	breaker(&b, ep, 1, 5);
	simlog_breaker_failure(&b, "refused");
	p.brk = &b;
	p.forever = 1;
	p.stop = &stop;
	stop = 0;
	stop_after = 8;
	fc.on_sleep = stop_later;
	rc = simlog_policy_run(&down, &p, 0, op_never, NULL, &e);
	ok(rc < 0 && e.stopped &&
	    fc.nsleeps == 8 && p.retries == 1 && failures(ep) == 2,
	    "forever: waits out the breaker, probes once at 5 s (%d failures), "
	    "and ends when stopped", failures(ep));
	ok(nsaid == 1 && strstr(said[0], "circuit breaker open after: refused")
	    && strstr(said[0], "; waiting"), "forever: said once: '%s'",
	    said[0]);
	stop = 0;
	simlog_breaker_clear(&b);
}

/* --- end to end, against a real server --------------------------------- */

struct script {
	int calls;
	int fail[8];		/* the exit class of call i's failure, or 0 */
	int full;
};

static int
op_script(struct simlog_conn *c, void *arg, struct simlog_err *e)
{
	struct script *s = arg;
	const char *av[1] = { "PING" };
	redisReply *r;
	int i = s->calls++;

	if (i < 8 && s->fail[i] != 0) {
		simlog_seterr(e, s->fail[i], "scripted failure %d", i + 1);
		e->full = s->full;
		return -1;
	}
	if ((r = simlog_cmd(c, e, 1, av, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

static void
restart_later(struct fake_clock *f, void *arg)
{
	(void)arg;
	if (f->nsleeps == 3 && server_restart(&srv) < 0)
		printf("# the restart failed\n");
}

static void
test_run(void)
{
	struct simlog_policy p;
	struct simlog_breaker b;
	struct simlog_err e = { 0 };
	struct script s;
	char ep[64];
	int rc;

	policy(&p);
	breaker(&b, ep, 3, 5);
	p.brk = &b;
	memset(&s, 0, sizeof(s));
	s.fail[0] = s.fail[1] = SIMLOG_EX_TEMPFAIL;
	rc = simlog_policy_run(&up, &p, 0, op_script, &s, &e);
	ok(rc == 0 && s.calls == 3 &&
	    p.retries == 2 && fc.nsleeps == 2 && failures(ep) == 0,
	    "run: two transient failures, retried, the third call succeeds; "
	    "the reconnection closed the breaker's count (%d)", failures(ep));

	policy(&p);
	p.brk = &b;
	memset(&s, 0, sizeof(s));
	s.fail[0] = SIMLOG_EX_TEMPFAIL;
	rc = simlog_policy_run(&up, &p, SIMLOG_RUN_ONCE, op_script, &s, &e);
	ok(rc < 0 &&
	    s.calls == 1 && p.retries == 0 && fc.nsleeps == 0 &&
	    strcmp(e.msg, "scripted failure 1") == 0,
	    "run once: an op that may have reached Redis is not repeated");

	policy(&p);
	p.brk = &b;
	memset(&s, 0, sizeof(s));
	fail(&e, SIMLOG_EX_UNAVAILABLE, 0, "the caller's own failure");
	rc = simlog_policy_run(&up, &p, SIMLOG_RUN_FAILED, op_script, &s, &e);
	ok(rc == 0 &&
	    s.calls == 1 && p.retries == 1 && fc.nsleeps == 1,
	    "run failed: the given failure is handled first, then the op runs");

	policy(&p);
	p.brk = &b;
	p.retry.tries = 5;
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 5; i++)
		s.fail[i] = SIMLOG_EX_TEMPFAIL;
	s.full = 1;
	rc = simlog_policy_run(&up, &p, 0, op_script, &s, &e);
	ok(rc == 0 && s.calls == 6 &&
	    p.retries == 5 && failures(ep) == 0,
	    "run full: five 'Redis is full' failures retried, none counted");

	policy(&p);
	p.brk = &b;
	memset(&s, 0, sizeof(s));
	s.fail[0] = SIMLOG_EX_OSERR;
	rc = simlog_policy_run(&up, &p, 0, op_script, &s, &e);
	ok(rc < 0 &&
	    e.code == SIMLOG_EX_OSERR && s.calls == 1 && p.retries == 0 &&
	    failures(ep) == 0, "run local: 71 ends the run, the breaker "
	    "untouched");

	/* Lost and back: the server killed, --follow retries until it is
	 * back (restarted during the third wait), and says so once each. */
	policy(&p);
	p.forever = 1;
	memset(&s, 0, sizeof(s));
	simlog_conn_close(&up);
	server_kill(&srv);
	fc.on_sleep = restart_later;
	rc = simlog_policy_run(&up, &p, 0, op_script, &s, &e);
	ok(rc == 0 && s.calls == 1 &&
	    p.retries == 3 && nsaid == 2 && strstr(said[0], "retrying until "
	    "Redis is back") && strstr(said[1], ": Redis is back") && !p.lost,
	    "run forever: Redis killed, then back: lost and back said once "
	    "each ('%s', '%s')", nsaid > 0 ? said[0] : "",
	    nsaid > 1 ? said[1] : "");
	simlog_breaker_clear(&b);
}

static void
cleanup(void)
{
	char cmd[200];

	server_stop(&srv);
	if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		(void)!system(cmd);
	}
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");
	char url[300];

	/* Whatever hangs ends the test (and TAP so far is out). */
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(120);
	snprintf(dir, sizeof(dir), "%s/simlog-policy.XXXXXX",
	    tmp != NULL && *tmp == '/' && strlen(tmp) < 60 ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	atexit(cleanup);
	setenv("SIMLOG_BREAKER_DIR", dir, 1);
	unsetenv("SIMLOG_RETRIES");
	unsetenv("SIMLOG_RETRY_BASE");
	unsetenv("SIMLOG_RETRY_FACTOR");
	unsetenv("SIMLOG_RETRY_CAP");
	fake_clock_init(&fc, T0);
	snprintf(url, sizeof(url), "unix://%s/nobody/sock", dir);
	conn_to(&down, url);
	if (server_available() && server_start(&srv, NULL) < 0) {
		printf("Bail out! redis-server did not start\n");
		return 1;
	}

	test_settings();
	test_backoff();
	test_deadline();
	test_forever();
	test_blame();
	test_breaker_loop();
	/* A package build has no servers; make check has. */
	if (srv.pid == 0)
		printf("ok %d # skip ops against a server: redis-server is "
		    "not installed\n", ++tap_n);
	else {
		conn_to(&up, srv.url);
		test_run();
		simlog_conn_clear(&up);
	}
	simlog_conn_clear(&down);
	return tap_done();
}

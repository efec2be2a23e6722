/*
 * The failure policy every tool shares (simlog(7) FAILURE HANDLING): which
 * failures are retried (I/O, timeouts and transient server states), with
 * what backoff (exponential, full jitter), for how long (a number of tries,
 * a deadline, or for as long as the tool runs), and which of them feed the
 * circuit breaker (all but "Redis is full", which draining cures).  Its
 * time, sleeps and jitter come from the policy's clock (lib/clock.h), so
 * that tests step through minutes of backoff without waiting.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "breaker.h"
#include "policy.h"
#include "simlog.h"
#include "clock.h"
#include "util.h"

static int
env_number(const char *name, double min, double max, double *out,
	   struct simlog_err *err)
{
	const char *s = getenv(name), *why;
	double v;

	if (s == NULL || *s == '\0')
		return 0;
	if (simlog_parse_seconds(s, max, &v, &why) < 0 || v < min)
		return simlog_seterr(err, SIMLOG_EX_USAGE,
		    "invalid %s: '%.40s': %s", name, s,
		    v < min ? "too small" : why);
	*out = v;
	return 0;
}

int
simlog_retry_init(struct simlog_retry *r, struct simlog_err *err)
{
	const char *s = getenv("SIMLOG_RETRIES"), *why;
	long long tries = 3;

	r->base = 0.1;
	r->factor = 2;
	r->cap = 2;
	if (s != NULL && *s != '\0' &&
	    simlog_parse_ll(s, 0, 1000, &tries, &why) < 0)
		return simlog_seterr(err, SIMLOG_EX_USAGE,
		    "invalid SIMLOG_RETRIES: '%.40s': %s", s, why);
	if (env_number("SIMLOG_RETRY_BASE", 0, 3600, &r->base, err) < 0 ||
	    env_number("SIMLOG_RETRY_FACTOR", 1, 100, &r->factor, err) < 0 ||
	    env_number("SIMLOG_RETRY_CAP", 0, 3600, &r->cap, err) < 0)
		return -1;
	r->tries = (int)tries;
	return 0;
}

/* Full jitter: many processes retrying at once spread out.  x is a
 * uniform 32-bit draw. */
static double
delay(const struct simlog_retry *r, int attempt, uint32_t x)
{
	double ceiling = r->base;

	for (int i = 1; i < attempt && ceiling < r->cap; i++)
		ceiling *= r->factor;
	if (ceiling > r->cap)
		ceiling = r->cap;
	return ceiling * ((double)x / 4294967296.0);
}

double
simlog_retry_delay(const struct simlog_retry *r, int attempt)
{
	return delay(r, attempt, simlog_clock_random(NULL));
}

int
simlog_policy_transient(const struct simlog_err *e)
{
	return !e->stopped && (e->code == SIMLOG_EX_UNAVAILABLE ||
	    e->code == SIMLOG_EX_TEMPFAIL);
}

void
simlog_policy_sleep(double seconds, const volatile sig_atomic_t *stop)
{
	double end = simlog_now_mono() + seconds;

	/* Sleep to a deadline: a signal cuts one nanosleep short, and only
	 * the stop flag ends the wait early. */
	for (;;) {
		double left = end - simlog_now_mono();
		struct timespec ts;

		if (left <= 0 || (stop != NULL && *stop))
			return;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

int
simlog_policy_init(struct simlog_policy *p, struct simlog_err *err)
{
	memset(p, 0, sizeof(*p));
	return simlog_retry_init(&p->retry, err);
}

/* Diagnostics go to the caller's say, if any. */
#define tell(p, ...) simlog_say((p)->say, (p)->say_arg, __VA_ARGS__)

static int
stopping(const struct simlog_policy *p)
{
	return p->stop != NULL && *p->stop;
}

/* Whether the policy lets this attempt go on after a failure. */
static int
may_retry(const struct simlog_policy *p, int attempt)
{
	if (p->forever)
		return 1;
	if (p->give_up_at > 0)
		return simlog_clock_mono(p->clock) < p->give_up_at;
	return attempt <= p->retry.tries;
}

/* The wait before retry attempt, within the deadline if there is one. */
static double
backoff(const struct simlog_policy *p, int attempt)
{
	double wait = delay(&p->retry, attempt, simlog_clock_random(p->clock));

	if (p->give_up_at > 0 &&
	    simlog_clock_mono(p->clock) + wait > p->give_up_at)
		wait = p->give_up_at - simlog_clock_mono(p->clock);
	return wait;
}

/* The breaker is open: wait for its probe, or give up (0 / -1). */
static int
breaker_wait(struct simlog_conn *conn, struct simlog_policy *p,
	     struct simlog_err *err)
{
	char why[SIMLOG_ERRLEN + SIMLOG_BREAKER_WHYLEN];
	double wait;

	simlog_breaker_explain(p->brk, why, sizeof(why));
	if (!p->forever && p->give_up_at <= 0)
		return simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: %s",
		    conn->display, why);
	/* retry_at is the breaker's wall clock, shared with other
	 * processes; the deadline is this process's monotonic one. */
	wait = p->brk->retry_at - simlog_clock_wall(p->brk->clock);
	if (p->give_up_at > 0 &&
	    simlog_clock_mono(p->clock) + wait > p->give_up_at) {
		simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: %s", conn->display,
		    why);
		wait = p->give_up_at - simlog_clock_mono(p->clock);
		simlog_clock_sleep(p->clock, wait, p->stop);
		return -1;
	}
	if (!p->lost && p->forever) {
		tell(p, "%s: %s; waiting", conn->display, why);
		p->lost = 1;
	}
	/* Someone else may be probing: look again at least every second. */
	simlog_clock_sleep(p->clock, wait > 1 ? 1 : wait > 0.05 ? wait : 0.05,
	    p->stop);
	if (stopping(p)) {
		simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "%s: interrupted",
		    conn->display);
		err->stopped = 1;
		return -1;
	}
	return 0;
}

int
simlog_policy_connect(struct simlog_conn *conn, struct simlog_policy *p,
		      struct simlog_err *err)
{
	if (simlog_conn_connected(conn))
		return 0;
	while (p->brk != NULL && !simlog_breaker_allow(p->brk, p->force)) {
		if (breaker_wait(conn, p, err) < 0) {
			/* Refused, not failed: nothing to retry. */
			err->code = err->stopped ? err->code : SIMLOG_EX_TEMPFAIL;
			p->refused = 1;
			return -1;
		}
	}
	if (simlog_conn_open(conn, err) < 0)
		return -1;
	if (p->brk != NULL)
		simlog_breaker_success(p->brk);
	if (p->lost) {
		tell(p, "%s: Redis is back", conn->display);
		p->lost = 0;
	}
	return 1;
}

int
simlog_policy_failed(struct simlog_conn *conn, struct simlog_policy *p,
		     int *attempt, struct simlog_err *err)
{
	double wait;

	if (p->refused) {
		p->refused = 0;
		return 0;
	}
	if (err->stopped || stopping(p)) {
		err->stopped = 1;
		return 0;
	}
	if (!simlog_policy_transient(err))
		return 0;
	simlog_conn_close(conn);
	if (p->brk != NULL && !err->full)
		simlog_breaker_failure(p->brk, err->msg);
	++*attempt;
	if (!may_retry(p, *attempt))
		return 0;
	/* This failure opened the breaker: the tries that are left would
	 * only hammer a server known to be down.  The failure itself is
	 * what to report. */
	if (p->brk != NULL && !err->full && !p->forever &&
	    p->give_up_at <= 0 && !simlog_breaker_allow(p->brk, p->force))
		return 0;
	wait = backoff(p, *attempt > 30 ? 30 : *attempt);
	if (p->forever) {
		/* Say where, unless the failure does already. */
		if (!p->lost)
			tell(p, "%s%s%s; retrying until Redis is back",
			    strstr(err->msg, conn->display) ? "" :
			    conn->display, strstr(err->msg, conn->display) ?
			    "" : ": ", err->msg);
		p->lost = 1;
	} else
		tell(p, "%s; retry %d in %.2f s", err->msg, *attempt, wait);
	simlog_clock_sleep(p->clock, wait, p->stop);
	if (stopping(p)) {
		err->stopped = 1;
		return 0;
	}
	p->retries++;
	return 1;
}

int
simlog_policy_run(struct simlog_conn *conn, struct simlog_policy *p,
		  unsigned flags,
		  int (*op)(struct simlog_conn *, void *,
			    struct simlog_err *),
		  void *arg, struct simlog_err *err)
{
	int attempt = 0, failed = (flags & SIMLOG_RUN_FAILED) != 0;

	p->refused = 0;
	for (;;) {
		if (!failed) {
			int rc = simlog_policy_connect(conn, p, err);

			if (rc >= 0) {
				if (op(conn, arg, err) == 0)
					return 0;
				/* The op may have reached Redis: repeating
				 * it could apply it twice. */
				if ((flags & SIMLOG_RUN_ONCE) &&
				    !err->stopped)
					return -1;
			}
		}
		failed = 0;
		if (!simlog_policy_failed(conn, p, &attempt, err))
			return -1;
	}
}

int
simlog_policy_retry(struct simlog_policy *p, int *attempt,
		    struct simlog_err *err)
{
	double wait;

	if (!simlog_policy_transient(err) || stopping(p) ||
	    ++*attempt > p->retry.tries)
		return 0;
	wait = backoff(p, *attempt);
	tell(p, "%s; retry %d in %.2f s", err->msg, *attempt, wait);
	simlog_clock_sleep(p->clock, wait, p->stop);
	p->retries++;
	return !stopping(p);
}

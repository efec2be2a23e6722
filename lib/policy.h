/*
 * Retries and the failure policy (lib/policy.c, not installed).
 */
#ifndef SIMLOG_POLICY_H
#define SIMLOG_POLICY_H

#include <signal.h>

#include "breaker.h"
#include "simlog.h"

/* Exponential backoff with full jitter: attempt k (1-based) sleeps a random
 * time in [0, min(cap, base * factor^(k-1))]. */
struct simlog_retry {
	int tries;		/* attempts after the first failure */
	double base, factor, cap;
};
/* Defaults (3 tries, 0.1 s, x2, 2 s), then SIMLOG_RETRIES,
 * SIMLOG_RETRY_BASE, SIMLOG_RETRY_FACTOR, SIMLOG_RETRY_CAP. */
int simlog_retry_init(struct simlog_retry *r, struct simlog_err *err);
double simlog_retry_delay(const struct simlog_retry *r, int attempt);
/* Whether a failure may go away by itself (I/O, timeouts, LOADING, BUSY,
 * TRYAGAIN, MASTERDOWN, OOM, max clients, a failover); never a stop. */
int simlog_policy_transient(const struct simlog_err *e);
/* Sleep to a deadline, ending early only when *stop becomes set. */
void simlog_policy_sleep(double seconds, const volatile sig_atomic_t *stop);

/* --- the failure policy ----------------------------------------------- */

/*
 * How a tool goes on when Redis fails (simlog(7) FAILURE HANDLING):
 * transient failures (simlog_policy_transient) are retried with backoff,
 * reconnecting first; they feed the breaker unless Redis only said it is
 * full; an open breaker refuses at once (one-shot tools) or is waited out
 * (forever, give_up_at).  Diagnostics go to say(), never to a stream.
 */
struct simlog_policy {
	struct simlog_retry retry;
	double give_up_at;		/* monotonic; 0: after retry.tries */
	int forever;			/* --follow: until stopped */
	int force;			/* probe even through an open breaker */
	struct simlog_breaker *brk;	/* NULL: no breaker */
	const volatile sig_atomic_t *stop;	/* set: give up at once */
	void (*say)(void *arg, const char *msg);
	void *say_arg;
	unsigned long long retries;	/* out: retries made */
	int lost;			/* out: Redis is gone (forever) */
	int refused;			/* the breaker refused a connect */
	const struct simlog_clock *clock;	/* NULL: the real clock;
					 * the breaker keeps its own */
};
/* Retry settings from the environment, the rest zero. */
int simlog_policy_init(struct simlog_policy *p, struct simlog_err *err);
/* The two halves of simlog_policy_run, for loops that also retry other things:
 * connect if need be, as the breaker allows (1 connected now, 0 was
 * already, -1 failed or refused); and after a failure, decide, count and
 * wait (1: try again, reconnecting; 0: give up, err says why). */
int simlog_policy_connect(struct simlog_conn *conn, struct simlog_policy *p,
			  struct simlog_err *err);
int simlog_policy_failed(struct simlog_conn *conn, struct simlog_policy *p,
			 int *attempt, struct simlog_err *err);
/* The same decision for a failure of something without a breaker or a
 * connection to reset (a database): transient failures are retried
 * retry.tries times (never forever), with the same backoff and the same
 * message, counted in retries.  1 try again, 0 give up (err says why). */
int simlog_policy_retry(struct simlog_policy *p, int *attempt,
			struct simlog_err *err);

/* The op must not run twice once it may have reached Redis (a save that
 * makes a new version): only its connecting is retried. */
#define SIMLOG_RUN_ONCE 1u
/* The op has just failed with *err: start by handling that failure. */
#define SIMLOG_RUN_FAILED 2u
/*
 * Run op(conn, arg, err) under the policy: connect first (as the breaker
 * allows), and after a transient failure close, wait, reconnect and run it
 * again.  The op must be safe to repeat unless SIMLOG_RUN_ONCE is given.
 */
int simlog_policy_run(struct simlog_conn *conn, struct simlog_policy *p,
		      unsigned flags,
		      int (*op)(struct simlog_conn *, void *,
				struct simlog_err *),
		      void *arg, struct simlog_err *err);


#endif

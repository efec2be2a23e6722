/*
 * The time the circuit breaker and the retry policy live by: monotonic and
 * wall-clock seconds, sleeping, and the retry jitter's randomness, behind
 * one small table, so that a test can step time by hand (both ways) and
 * prove in milliseconds what real clocks prove only by waiting.  A NULL
 * clock is the real one, which is what every tool uses; the stepped one
 * lives in the unit tests (tests/unit/fake_clock.h).  Not installed.
 */
#ifndef SIMLOG_CLOCK_H
#define SIMLOG_CLOCK_H

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>

#include "policy.h"
#include "simlog.h"
#include "util.h"

struct simlog_clock {
	double (*mono)(void *arg);		/* seconds, never back */
	double (*wall)(void *arg);		/* seconds since the epoch */
	/* Sleep, ending early only when *stop (may be NULL) becomes set. */
	void (*sleep)(void *arg, double seconds,
		      const volatile sig_atomic_t *stop);
	uint32_t (*random)(void *arg);		/* uniform over 32 bits */
	void *arg;
};

static inline double
simlog_clock_mono(const struct simlog_clock *c)
{
	return c != NULL ? c->mono(c->arg) : simlog_now_mono();
}

static inline double
simlog_clock_wall(const struct simlog_clock *c)
{
	return c != NULL ? c->wall(c->arg) : simlog_now_wall();
}

static inline void
simlog_clock_sleep(const struct simlog_clock *c, double seconds,
		   const volatile sig_atomic_t *stop)
{
	if (c != NULL)
		c->sleep(c->arg, seconds, stop);
	else
		simlog_policy_sleep(seconds, stop);
}

static inline uint32_t
simlog_clock_random(const struct simlog_clock *c)
{
	uint32_t x = 0;

	if (c != NULL)
		return c->random(c->arg);
	/* Jitter only spreads retries out: rand() will do without entropy. */
	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
		x = (uint32_t)rand();
	return x;
}

#endif

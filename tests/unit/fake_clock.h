/*
 * A clock for the unit tests (lib/clock.h) that moves only when the test
 * moves it: sleeping advances both clocks at once and returns, so minutes
 * of backoff take no time, and the wall clock can be stepped either way
 * on its own (an NTP step, a clock set back) while the monotonic one goes
 * on.  Its randomness is fixed or a seeded sequence, for exact delays.
 */
#ifndef SIMLOG_FAKE_CLOCK_H
#define SIMLOG_FAKE_CLOCK_H

#include <string.h>

#include "clock.h"

#define FAKE_CLOCK_MAX_SLEEPS 256

struct fake_clock {
	struct simlog_clock clock;	/* give &f->clock to the library */
	double mono, wall;
	/* Randomness: random_value when random_fixed, else xorshift64. */
	int random_fixed;
	uint32_t random_value;
	uint64_t seed;
	/* Every sleep asked for, in order (the first MAX kept), and all. */
	double slept[FAKE_CLOCK_MAX_SLEEPS];
	int nsleeps;
	double slept_total;
	/* Called after each sleep has moved the clocks (e.g. to set a stop
	 * flag, or to bring a server back) unless NULL. */
	void (*on_sleep)(struct fake_clock *f, void *arg);
	void *on_sleep_arg;
};

static inline double
fake_clock_mono(void *arg)
{
	return ((struct fake_clock *)arg)->mono;
}

static inline double
fake_clock_wall(void *arg)
{
	return ((struct fake_clock *)arg)->wall;
}

/* As the real sleep: a set stop flag ends it at once (here: before it
 * starts); otherwise the whole time passes. */
static inline void
fake_clock_sleep(void *arg, double seconds, const volatile sig_atomic_t *stop)
{
	struct fake_clock *f = arg;

	if (stop != NULL && *stop)
		return;
	if (seconds < 0)
		seconds = 0;
	if (f->nsleeps < FAKE_CLOCK_MAX_SLEEPS)
		f->slept[f->nsleeps] = seconds;
	f->nsleeps++;
	f->slept_total += seconds;
	f->mono += seconds;
	f->wall += seconds;
	if (f->on_sleep != NULL)
		f->on_sleep(f, f->on_sleep_arg);
}

static inline uint32_t
fake_clock_random(void *arg)
{
	struct fake_clock *f = arg;

	if (f->random_fixed)
		return f->random_value;
	f->seed ^= f->seed << 13;
	f->seed ^= f->seed >> 7;
	f->seed ^= f->seed << 17;
	return (uint32_t)(f->seed >> 32);
}

/* A clock at wall time wall (seconds since the epoch), monotonic 1000,
 * randomness the largest draw (each backoff at its ceiling). */
static inline void
fake_clock_init(struct fake_clock *f, double wall)
{
	memset(f, 0, sizeof(*f));
	f->clock.mono = fake_clock_mono;
	f->clock.wall = fake_clock_wall;
	f->clock.sleep = fake_clock_sleep;
	f->clock.random = fake_clock_random;
	f->clock.arg = f;
	f->mono = 1000;
	f->wall = wall;
	f->random_fixed = 1;
	f->random_value = UINT32_MAX;
	f->seed = 88172645463325252ULL;
}

/* Time passes: both clocks move on by seconds. */
static inline void
fake_clock_step(struct fake_clock *f, double seconds)
{
	f->mono += seconds;
	f->wall += seconds;
}

/* The wall clock is set (forward or back) by seconds; monotonic time
 * does not notice. */
static inline void
fake_clock_set_wall(struct fake_clock *f, double seconds)
{
	f->wall += seconds;
}

/* Forget the sleeps seen so far. */
static inline void
fake_clock_forget(struct fake_clock *f)
{
	f->nsleeps = 0;
	f->slept_total = 0;
}

#endif

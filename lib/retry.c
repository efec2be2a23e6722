/* Retry policy: which failures are worth retrying and how long to wait. */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "simlog.h"

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
		    "invalid %s: '%s': %s", name, s,
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
		    "invalid SIMLOG_RETRIES: '%s': %s", s, why);
	if (env_number("SIMLOG_RETRY_BASE", 0, 3600, &r->base, err) < 0 ||
	    env_number("SIMLOG_RETRY_FACTOR", 1, 100, &r->factor, err) < 0 ||
	    env_number("SIMLOG_RETRY_CAP", 0, 3600, &r->cap, err) < 0)
		return -1;
	r->tries = (int)tries;
	return 0;
}

double
simlog_retry_delay(const struct simlog_retry *r, int attempt)
{
	double ceiling = r->base;
	uint32_t x = 0;

	for (int i = 1; i < attempt && ceiling < r->cap; i++)
		ceiling *= r->factor;
	if (ceiling > r->cap)
		ceiling = r->cap;
	/* Full jitter: many processes retrying at once spread out. */
	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
		x = (uint32_t)rand();
	return ceiling * ((double)x / 4294967296.0);
}

int
simlog_err_transient(const struct simlog_err *e)
{
	return e->code == SIMLOG_EX_UNAVAILABLE || e->code == SIMLOG_EX_TEMPFAIL;
}

void
simlog_sleep(double seconds, volatile int *stop)
{
	struct timespec ts;

	if (seconds <= 0)
		return;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		if (stop != NULL && *stop)
			break;
}

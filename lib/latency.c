/*
 * Latency statistics of a set of round trips (health.h): percentiles,
 * minimum, mean, maximum.
 */
#include <stdlib.h>
#include <string.h>

#include "health.h"

/* --- latency ----------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double
simlog_latency_percentile(const double *sorted, size_t n, double p)
{
	/* Rank ceil(p/100 * n), 1-based; the tiny slack keeps 99 % of 100
	 * samples at rank 99 despite rounding in p/100 * n. */
	double r;
	size_t k;

	if (n == 0)
		return 0;
	r = p / 100.0 * (double)n - 1e-9;
	k = r > 0 ? (size_t)r : 0;
	if ((double)k < r)
		k++;
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return sorted[k - 1];
}

void
simlog_latency_stats(double *v, size_t n, struct simlog_latency *out)
{
	double sum = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	for (i = 0; i < n; i++)
		sum += v[i];
	out->n = n;
	out->min = v[0];
	out->max = v[n - 1];
	out->avg = sum / (double)n;
	out->p50 = simlog_latency_percentile(v, n, 50);
	out->p99 = simlog_latency_percentile(v, n, 99);
}

/*
 * pace: writes JSON-line records at a steady rate, each stamped with the
 * time it was written, as the producer for the --follow latency benchmark
 * and for the fault tests, which need to know how long the consumer ever
 * kept a write(2) blocked (longest_write_ms in the summary).
 */
#define _POSIX_C_SOURCE 200809L

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EX_USAGE	64
#define STAMP_MAX	40	/* {"t_ns":<20 digits>, */

static void usage(void)
{
	fputs("Usage: pace -n COUNT -r RATE [-i MICROSECONDS] FILE\n"
	      "\n"
	      "Write COUNT records at RATE records/s to stdout, in one burst\n"
	      "every MICROSECONDS (default 1000).  The records are FILE's JSON\n"
	      "object lines, reused in turn, each with a first member \"t_ns\"\n"
	      "holding CLOCK_REALTIME in nanoseconds when its burst was\n"
	      "written.  A summary goes to stderr as one JSON line; its\n"
	      "longest_write_ms is the longest a single write(2) took.\n"
	      "\n"
	      "  -n, --count COUNT        records to write, 1 to 10^10\n"
	      "  -r, --rate RATE          records per second, 1 to 10^8\n"
	      "  -i, --interval MICROSECONDS  time between bursts, 10 to 10^6\n"
	      "  -h, --help               show this help and exit\n", stdout);
}

static unsigned long long number(const char *s, unsigned long long lo,
				 unsigned long long hi, const char *opt)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		errx(EX_USAGE, "invalid %s: '%s'", opt, s);
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno == ERANGE || v < lo || v > hi)
		errx(EX_USAGE, "invalid %s: '%s': %llu to %llu", opt, s, lo, hi);
	return v;
}

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static struct timespec ts_of(int64_t ns)
{
	struct timespec t = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };

	return t;
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return ns_of(&t);
}

/* The file's lines, each without its opening '{' and with its newline. */
static char **lines;
static size_t *lens, nlines;

static void load(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t cap = 0, n = 0;
	char *line = NULL;
	ssize_t len;

	if (f == NULL)
		err(1, "%s", path);
	while ((len = getline(&line, &n, f)) > 0) {
		if (line[len - 1] != '\n')
			line[len++] = '\n';	/* getline left room for the NUL */
		if (len < 3 || line[0] != '{')
			errx(1, "%s: line %zu: not a JSON object", path,
			     nlines + 1);
		if (nlines == cap) {
			cap = cap ? 2 * cap : 4096;
			lines = realloc(lines, cap * sizeof(*lines));
			lens = realloc(lens, cap * sizeof(*lens));
			if (lines == NULL || lens == NULL)
				errx(1, "out of memory");
		}
		lens[nlines] = (size_t)len - 1;
		if ((lines[nlines] = malloc(lens[nlines])) == NULL)
			errx(1, "out of memory");
		memcpy(lines[nlines], line + 1, lens[nlines]);
		nlines++;
	}
	if (ferror(f))
		err(1, "%s", path);
	fclose(f);
	free(line);
	if (nlines == 0)
		errx(1, "%s: no records", path);
}

/* The longest one write(2) took: how long the reader ever held us up. */
static int64_t write_max;

static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		int64_t t0 = clock_ns(CLOCK_MONOTONIC);
		ssize_t w = write(STDOUT_FILENO, p, n);
		int64_t took = clock_ns(CLOCK_MONOTONIC) - t0;

		if (took > write_max)
			write_max = took;

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			err(1, "writing output failed");
		p += w;
		n -= (size_t)w;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long count = 0, rate = 0, interval_us = 1000;
	unsigned long long bursts, k, sent = 0, late = 0, next = 0;
	int64_t start, late_max = 0, wall0;
	size_t maxlen = 0, cap, i;
	char *buf;
	int c;

	while ((c = getopt_long(argc, argv, "n:r:i:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			count = number(optarg, 1, 10000000000ULL, "count");
			break;
		case 'r':
			rate = number(optarg, 1, 100000000ULL, "rate");
			break;
		case 'i':
			interval_us = number(optarg, 10, 1000000, "interval");
			break;
		case 'h':
			usage();
			return 0;
		default:
			fputs("Try 'pace --help' for more information.\n", stderr);
			return EX_USAGE;
		}
	}
	if (count == 0 || rate == 0 || optind != argc - 1) {
		warnx("need -n COUNT, -r RATE and one FILE");
		fputs("Try 'pace --help' for more information.\n", stderr);
		return EX_USAGE;
	}
	load(argv[optind]);

	/* Burst k ends at record count*(k+1)/bursts: the counts add up to
	 * COUNT exactly, spread evenly over COUNT/RATE seconds. */
	bursts = (count * 1000000 + rate * interval_us - 1) /
	    (rate * interval_us);
	if (bursts == 0)
		bursts = 1;
	for (i = 0; i < nlines; i++)
		if (lens[i] > maxlen)
			maxlen = lens[i];
	cap = (count / bursts + 1) * (maxlen + STAMP_MAX);
	if ((buf = malloc(cap)) == NULL)
		errx(1, "out of memory");

	wall0 = clock_ns(CLOCK_REALTIME);
	start = clock_ns(CLOCK_MONOTONIC) + 1000000;
	for (k = 0; k < bursts; k++) {
		int64_t due = start + (int64_t)(k * interval_us * 1000), now;
		unsigned long long upto = count * (k + 1) / bursts;
		struct timespec t = ts_of(due);
		char stamp[STAMP_MAX];
		size_t len = 0;
		int slen;

		/* An absolute schedule: a late burst is not made up by
		 * sleeping less later, only by not sleeping at all. */
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t,
		    NULL) == EINTR)
			;
		now = clock_ns(CLOCK_MONOTONIC);
		if (now - due > 10000000)
			late++;
		if (now - due > late_max)
			late_max = now - due;
		slen = snprintf(stamp, sizeof(stamp), "{\"t_ns\":%lld,",
		    (long long)clock_ns(CLOCK_REALTIME));
		for (; sent < upto; sent++) {
			memcpy(buf + len, stamp, (size_t)slen);
			len += (size_t)slen;
			memcpy(buf + len, lines[next], lens[next]);
			len += lens[next];
			if (++next == nlines)
				next = 0;
		}
		write_all(buf, len);
	}
	fprintf(stderr, "{\"records\":%llu,\"bursts\":%llu,\"seconds\":%.3f,"
	    "\"late_bursts\":%llu,\"late_max_ms\":%.3f,"
	    "\"longest_write_ms\":%.3f}\n", sent, bursts,
	    (double)(clock_ns(CLOCK_REALTIME) - wall0) / 1e9, late,
	    (double)late_max / 1e6, (double)write_max / 1e6);
	if (close(STDOUT_FILENO) != 0)
		err(1, "writing output failed");
	return 0;
}

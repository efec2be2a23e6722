/* Small shared helpers: errors, number and name validation, clocks. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "simlog.h"
#include "util.h"

static void
vseterr(struct simlog_err *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	err->full = 0;
	err->stopped = 0;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int
simlog_seterr(struct simlog_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vseterr(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

void
simlog_say(void (*fn)(void *, const char *), void *arg, const char *fmt, ...)
{
	char msg[SIMLOG_ERRLEN * 4];	/* a drain names up to 1 KiB of
					 * simulations left undrained */
	va_list ap;

	if (fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(arg, msg);
}

int
simlog_errno_local(int e, const char **hint)
{
	const char *h;

	switch (e) {
	case EMFILE:
		h = "this process's limit of open files: see ulimit -n";
		break;
	case ENFILE:
		h = "the system's limit of open files";
		break;
	case ENOMEM:
	case ENOBUFS:
		h = "this host is out of memory";
		break;
	case EADDRNOTAVAIL:
		h = "no local port or address is free";
		break;
	default:
		return 0;
	}
	if (hint != NULL)
		*hint = h;
	return 1;
}

int
simlog_seterrno(struct simlog_err *err, int code, int e, const char *fmt, ...)
{
	const char *hint;
	va_list ap;
	size_t n;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vseterr(err, code, fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (simlog_errno_local(e, &hint)) {
		err->code = SIMLOG_EX_OSERR;
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s (%s)",
		    strerror(e), hint);
	} else
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
		    strerror(e));
	return -1;
}

int
simlog_parse_ll(const char *s, long long min, long long max, long long *out,
		const char **why)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s)) {
		*why = "not a number";
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		*why = "not a number";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MIN) || v < min) {
		*why = "too small";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MAX) || v > max) {
		*why = "too large";
		return -1;
	}
	*out = v;
	return 0;
}

int
simlog_parse_seconds(const char *s, double max, double *out, const char **why)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s)) {
		*why = "not a number";
		return -1;
	}
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0' || errno != 0 || isnan(v)) {
		*why = "not a number";
		return -1;
	}
	if (v < 0) {
		*why = "negative";
		return -1;
	}
	if (v > max) {
		*why = "too large";
		return -1;
	}
	*out = v;
	return 0;
}

static int
isident(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

int
simlog_valid_type(const char *s, size_t len, const char **why)
{
	size_t i;

	if (len == 0) {
		*why = "empty type";
		return -1;
	}
	if (len > 63) {
		*why = "type longer than 63 characters";
		return -1;
	}
	if (s[0] >= '0' && s[0] <= '9') {
		*why = "type starts with a digit";
		return -1;
	}
	for (i = 0; i < len; i++)
		if (!isident((unsigned char)s[i])) {
			*why = "type has a character outside [A-Za-z0-9_]";
			return -1;
		}
	/* Types become table names: keep SQLite's and our own tables apart. */
	if ((len >= 7 && strncasecmp(s, "sqlite_", 7) == 0) ||
	    (len >= 7 && strncasecmp(s, "simlog_", 7) == 0)) {
		*why = "type uses a reserved prefix (sqlite_, simlog_)";
		return -1;
	}
	return 0;
}

int
simlog_valid_sim(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 64)
		return 0;
	for (i = 0; i < len; i++)
		if (!isident((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
			return 0;
	return 1;
}

double
simlog_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
simlog_now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counted in each child by a handler of pthread_atfork(3), registered the
 * first time anyone asks: no writer exists before then. */
static unsigned long forks;
static pthread_once_t forks_once = PTHREAD_ONCE_INIT;

static void
fork_child(void)
{
	__atomic_add_fetch(&forks, 1, __ATOMIC_RELAXED);
}

static void
forks_watch(void)
{
	pthread_atfork(NULL, NULL, fork_child);
}

unsigned long
simlog_forks(void)
{
	pthread_once(&forks_once, forks_watch);
	return __atomic_load_n(&forks, __ATOMIC_RELAXED);
}

void
simlog_strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
simlog_hex(const unsigned char *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

uint64_t
simlog_fnv1a(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

int
simlog_env_ll(const char *name, long long min, long long max, long long *out,
	      struct simlog_err *err)
{
	const char *v = getenv(name), *why;

	if (v == NULL || *v == '\0')
		return 0;
	if (simlog_parse_ll(v, min, max, out, &why) < 0)
		return simlog_seterr(err, SIMLOG_EX_USAGE, "invalid %s: "
		    "'%.40s': %s (%lld to %lld)", name, v, why, min, max);
	return 1;
}

void
simlog_base64(const unsigned char *p, size_t n, char *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*out++ = a[p[i] >> 2];
		*out++ = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*out++ = a[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
		*out++ = a[p[i + 2] & 63];
	}
	if (i < n) {
		*out++ = a[p[i] >> 2];
		if (i + 1 < n) {
			*out++ = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
			*out++ = a[(p[i + 1] & 15) << 2];
		} else {
			*out++ = a[(p[i] & 3) << 4];
			*out++ = '=';
		}
		*out++ = '=';
	}
	*out = '\0';
}

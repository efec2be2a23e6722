/*
 * The JSON-lines writer every tool prints its data with: one object per
 * line, strings escaped (member names too), commas and brackets placed by
 * the writer rather than by hand, and the first failure kept.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "simlog.h"
#include "util.h"

void
simlog_jw_init(struct simlog_jw *w, FILE *f)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
}

int
simlog_jw_error(const struct simlog_jw *w)
{
	return w->err;
}

static void
put(struct simlog_jw *w, const char *s, size_t n)
{
	if (w->err == 0 && n > 0 && fwrite(s, 1, n, w->f) != n)
		w->err = errno ? errno : EIO;
}

static void
putch(struct simlog_jw *w, char c)
{
	if (w->err == 0 && putc(c, w->f) == EOF)
		w->err = errno ? errno : EIO;
}

static void
misuse(struct simlog_jw *w)
{
	if (w->err == 0)
		w->err = EINVAL;
}

/*
 * The length of the well-formed UTF-8 sequence at p[0..n) (Unicode table
 * 3-7), or 0 when the bytes there are not one.
 */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len, i;
	unsigned lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;	/* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;	/* nothing past U+10FFFF */
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return len;
}

int
simlog_utf8_text(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, len;

	while (i < n) {
		if (p[i] == 0 || (len = utf8_len(p + i, n - i)) == 0)
			return 0;
		i += len;
	}
	return 1;
}

/* A JSON string: quotes and backslashes escaped, control characters as
 * \u00XX, and each byte that is not part of well-formed UTF-8 replaced by
 * U+FFFD, so that the line is always valid JSON in UTF-8. */
static void
put_string(struct simlog_jw *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	putch(w, '"');
	while (i < n) {
		unsigned c = p[i];
		size_t len = 1;
		char esc[8];

		if (c >= 0x20 && c != '"' && c != '\\' &&
		    (c < 0x80 || (len = utf8_len(p + i, n - i)) > 0)) {
			i += len;
			run += len;
			continue;
		}
		put(w, s + i - run, run);
		run = 0;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(w, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(w, esc, 6);
		} else
			put(w, "\xEF\xBF\xBD", 3);
		i++;
	}
	put(w, s + i - run, run);
	putch(w, '"');
}

/* Before a value: a comma after an earlier array element; inside an
 * object only after a key. */
static int
value_start(struct simlog_jw *w)
{
	int d = w->depth;

	if (w->err != 0)
		return -1;
	if (d == 0 || (w->open[d - 1] == '}') != w->want_value) {
		misuse(w);
		return -1;
	}
	if (w->want_value)
		w->want_value = 0;
	else if (w->any[d - 1])
		putch(w, ',');
	w->any[d - 1] = 1;
	return 0;
}

static void
open_container(struct simlog_jw *w, char open, char close)
{
	if (w->depth == SIMLOG_JW_MAXDEPTH) {
		misuse(w);
		return;
	}
	putch(w, open);
	w->open[w->depth] = close;
	w->any[w->depth] = 0;
	w->depth++;
}

void
simlog_jw_begin(struct simlog_jw *w)
{
	if (w->err != 0)
		return;
	if (w->depth != 0) {
		misuse(w);
		return;
	}
	w->want_value = 0;
	open_container(w, '{', '}');
}

int
simlog_jw_end(struct simlog_jw *w)
{
	if (w->err == 0 && (w->depth != 1 || w->want_value))
		misuse(w);
	if (w->err == 0) {
		w->depth = 0;
		put(w, "}\n", 2);
	}
	if (w->err == 0 && ferror(w->f))
		w->err = errno ? errno : EIO;
	return w->err == 0 ? 0 : -1;
}

void
simlog_jw_obj(struct simlog_jw *w)
{
	if (value_start(w) == 0)
		open_container(w, '{', '}');
}

void
simlog_jw_arr(struct simlog_jw *w)
{
	if (value_start(w) == 0)
		open_container(w, '[', ']');
}

void
simlog_jw_close(struct simlog_jw *w)
{
	if (w->err != 0)
		return;
	/* The line's own object is closed by simlog_jw_end. */
	if (w->depth < 2 || w->want_value) {
		misuse(w);
		return;
	}
	w->depth--;
	putch(w, w->open[w->depth]);
}

void
simlog_jw_keyn(struct simlog_jw *w, const char *k, size_t n)
{
	int d = w->depth;

	if (w->err != 0)
		return;
	if (d == 0 || w->open[d - 1] != '}' || w->want_value) {
		misuse(w);
		return;
	}
	if (w->any[d - 1])
		putch(w, ',');
	put_string(w, k, n);
	putch(w, ':');
	w->want_value = 1;
}

void
simlog_jw_key(struct simlog_jw *w, const char *k)
{
	simlog_jw_keyn(w, k, strlen(k));
}

void
simlog_jw_strn(struct simlog_jw *w, const char *s, size_t n)
{
	if (value_start(w) == 0)
		put_string(w, s, n);
}

void
simlog_jw_str(struct simlog_jw *w, const char *s)
{
	simlog_jw_strn(w, s, strlen(s));
}

void
simlog_jw_int(struct simlog_jw *w, long long v)
{
	char buf[32];

	if (value_start(w) == 0)
		put(w, buf, (size_t)snprintf(buf, sizeof(buf), "%lld", v));
}

void
simlog_jw_uint(struct simlog_jw *w, unsigned long long v)
{
	char buf[32];

	if (value_start(w) == 0)
		put(w, buf, (size_t)snprintf(buf, sizeof(buf), "%llu", v));
}

void
simlog_jw_double(struct simlog_jw *w, double v, int decimals)
{
	char buf[400];
	int n;

	if (!isfinite(v)) {
		/* JSON has no NaN or infinity. */
		simlog_jw_null(w);
		return;
	}
	if (decimals < 0 || decimals > 17) {
		misuse(w);
		return;
	}
	n = snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	if (value_start(w) == 0)
		put(w, buf, n > 0 && (size_t)n < sizeof(buf) ? (size_t)n : 0);
}

void
simlog_jw_bool(struct simlog_jw *w, int v)
{
	if (value_start(w) == 0)
		put(w, v ? "true" : "false", v ? 4 : 5);
}

void
simlog_jw_null(struct simlog_jw *w)
{
	if (value_start(w) == 0)
		put(w, "null", 4);
}

void
simlog_jw_raw(struct simlog_jw *w, const char *json, size_t n)
{
	const char *p = json, *end = json + n, *q;

	if (n == 0) {
		misuse(w);
		return;
	}
	if (value_start(w) < 0)
		return;
	/* In valid JSON a raw line break can only be white space between
	 * tokens: a space keeps the value and the line whole. */
	for (q = p; q < end; q++)
		if (*q == '\n' || *q == '\r') {
			put(w, p, (size_t)(q - p));
			putch(w, ' ');
			p = q + 1;
		}
	put(w, p, (size_t)(end - p));
}

void
simlog_jw_kstr(struct simlog_jw *w, const char *k, const char *s)
{
	simlog_jw_key(w, k);
	simlog_jw_str(w, s);
}

void
simlog_jw_kint(struct simlog_jw *w, const char *k, long long v)
{
	simlog_jw_key(w, k);
	simlog_jw_int(w, v);
}

void
simlog_jw_kuint(struct simlog_jw *w, const char *k, unsigned long long v)
{
	simlog_jw_key(w, k);
	simlog_jw_uint(w, v);
}

void
simlog_jw_kdouble(struct simlog_jw *w, const char *k, double v, int decimals)
{
	simlog_jw_key(w, k);
	simlog_jw_double(w, v, decimals);
}

void
simlog_jw_kbool(struct simlog_jw *w, const char *k, int v)
{
	simlog_jw_key(w, k);
	simlog_jw_bool(w, v);
}

void
simlog_jw_knull(struct simlog_jw *w, const char *k)
{
	simlog_jw_key(w, k);
	simlog_jw_null(w);
}

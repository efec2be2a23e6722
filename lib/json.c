/*
 * A validating JSON scanner for one record line.  It checks the whole line
 * against RFC 8259 (UTF-8, no raw control characters, no NUL) without
 * building a tree, and finds one top-level string member on the way.  A
 * jansson tree per record costs about four times as much; tests/unit
 * compares this scanner's verdicts with jansson's on mutated input.
 */
#include <stdint.h>
#include <string.h>

#include "json.h"
#include "simlog.h"

struct scan {
	const unsigned char *p, *end, *start;
	const char *why;
	int depth;
	/* When set, the top-level members are recorded here. */
	struct simlog_jmember *members;
	size_t nmembers, maxmembers;
};

/* 1 for bytes that end the fast path inside a string. */
static const unsigned char strstop[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* '"' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,	/* '\\' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/*
 * Eight bytes at a time: the bits 0x80 of the bytes of v that strstop
 * marks ('"', '\\', below 0x20, above 0x7f).  A borrow can only mark a
 * byte above one marked itself, so the lowest bit set is a true one.
 */
#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

static uint64_t
word_stops(uint64_t v)
{
	uint64_t q = v ^ (ONES * '"'), b = v ^ (ONES * '\\');

	return ((v - ONES * 0x20) | (q - ONES) | (b - ONES) | v) & HIGHS;
}

/* The first byte from p on that strstop marks, or end. */
static const unsigned char *
skip_plain(const unsigned char *p, const unsigned char *end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t v, m;

	while (end - p >= 8) {
		memcpy(&v, p, sizeof(v));
		if ((m = word_stops(v)) != 0)
			return p + (__builtin_ctzll(m) >> 3);
		p += 8;
	}
#endif
	while (p < end && !strstop[*p])
		p++;
	return p;
}

static int
fail(struct scan *s, const char *why)
{
	s->why = why;
	return -1;
}

static void
skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned c = p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

/* One UTF-8 sequence starting at a byte >= 0x80 (Unicode table 3-7). */
static int
utf8_seq(struct scan *s)
{
	const unsigned char *p = s->p;
	size_t left = (size_t)(s->end - p);
	unsigned c = p[0];
	unsigned lo = 0x80, hi = 0xBF;
	size_t n;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;	/* no UTF-16 surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return fail(s, "invalid UTF-8");
	if (left < n || p[1] < lo || p[1] > hi)
		return fail(s, "invalid UTF-8");
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return fail(s, "invalid UTF-8");
	s->p += n;
	return 0;
}

/* A string; s->p at the opening quote.  *esc set if it has escapes. */
static int
scan_string(struct scan *s, int *esc)
{
	s->p++;
	*esc = 0;
	for (;;) {
		s->p = skip_plain(s->p, s->end);
		if (s->p >= s->end)
			return fail(s, "unterminated string");
		unsigned c = *s->p;
		if (c == '"') {
			s->p++;
			return 0;
		}
		if (c == '\\') {
			*esc = 1;
			if (s->end - s->p < 2)
				return fail(s, "unterminated string");
			switch (s->p[1]) {
			case '"': case '\\': case '/': case 'b':
			case 'f': case 'n': case 'r': case 't':
				s->p += 2;
				break;
			case 'u': {
				unsigned u, u2;

				if (s->end - s->p < 6 || hex4(s->p + 2, &u) < 0)
					return fail(s, "bad \\u escape");
				if (u == 0)
					return fail(s, "\\u0000 in string");
				s->p += 6;
				if (u >= 0xDC00 && u <= 0xDFFF)
					return fail(s, "lone UTF-16 surrogate");
				if (u >= 0xD800 && u <= 0xDBFF) {
					if (s->end - s->p < 6 || s->p[0] != '\\' ||
					    s->p[1] != 'u' ||
					    hex4(s->p + 2, &u2) < 0 ||
					    u2 < 0xDC00 || u2 > 0xDFFF)
						return fail(s,
						    "lone UTF-16 surrogate");
					s->p += 6;
				}
				break;
			}
			default:
				return fail(s, "bad escape in string");
			}
			continue;
		}
		if (c < 0x20)
			return fail(s, c == 0 ? "NUL byte" :
			    "control character in string");
		if (utf8_seq(s) < 0)
			return -1;
	}
}

static int
digits(struct scan *s)
{
	const unsigned char *q = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > q ? 0 : -1;
}

static int
scan_number(struct scan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (digits(s) < 0)
		return fail(s, "bad number");
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (digits(s) < 0)
			return fail(s, "bad number");
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (digits(s) < 0)
			return fail(s, "bad number");
	}
	return 0;
}

static int
scan_word(struct scan *s, const char *w, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return fail(s, "invalid literal");
	s->p += n;
	return 0;
}

static int scan_value(struct scan *s);

/* Decode a short escaped key for comparison; -1 if it does not fit. */
static int
unescape_small(const unsigned char *p, size_t n, char *out, size_t cap,
	       size_t *olen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned c = p[i];

		if (o + 4 >= cap)
			return -1;
		if (c != '\\') {
			out[o++] = (char)c;
			continue;
		}
		c = p[++i];
		switch (c) {
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u': {
			unsigned u;

			if (hex4(p + i + 1, &u) < 0)
				return -1;
			i += 4;
			if (u >= 0x80)
				out[o++] = '\x80';	/* never matches ASCII */
			else
				out[o++] = (char)u;
			break;
		}
		default: out[o++] = (char)c; break;
		}
	}
	*olen = o;
	return 0;
}

struct want {
	const char *name;
	size_t len;
	struct simlog_jfield *out;
};

static int
key_matches(const unsigned char *k, size_t klen, int esc, const struct want *w)
{
	char buf[128];
	size_t n;

	if (!esc)
		return klen == w->len && memcmp(k, w->name, klen) == 0;
	if (unescape_small(k, klen, buf, sizeof(buf), &n) < 0)
		return 0;
	return n == w->len && memcmp(buf, w->name, n) == 0;
}

static int
scan_object(struct scan *s, const struct want *w)
{
	if (++s->depth > SIMLOG_JSON_MAXDEPTH)
		return fail(s, "nested too deeply");
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		const unsigned char *k;
		int esc, match = 0;

		if (s->p >= s->end || *s->p != '"')
			return fail(s, "expected a member name");
		k = s->p + 1;
		if (scan_string(s, &esc) < 0)
			return -1;
		if (w != NULL)
			match = key_matches(k, (size_t)(s->p - 1 - k), esc, w);
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return fail(s, "expected ':'");
		s->p++;
		skip_ws(s);
		if (s->p >= s->end)
			return fail(s, "unexpected end of line");
		if (s->members != NULL && s->depth == 1) {
			struct simlog_jmember *m;
			const unsigned char *v = s->p;

			if (s->nmembers == s->maxmembers)
				return fail(s, "too many members");
			m = &s->members[s->nmembers++];
			m->key = (const char *)k;
			m->klen = (size_t)(v - k);	/* trimmed below */
			m->kesc = esc;
			if (scan_value(s) < 0)
				return -1;
			m->val = (const char *)v;
			m->vlen = (size_t)(s->p - v);
			switch (*v) {
			case '"': m->kind = SIMLOG_JV_STRING; break;
			case '{': m->kind = SIMLOG_JV_OBJECT; break;
			case '[': m->kind = SIMLOG_JV_ARRAY; break;
			case 't': m->kind = SIMLOG_JV_TRUE; break;
			case 'f': m->kind = SIMLOG_JV_FALSE; break;
			case 'n': m->kind = SIMLOG_JV_NULL; break;
			default: m->kind = SIMLOG_JV_NUMBER; break;
			}
			/* The key ends at its closing quote. */
			while (m->klen > 0 && m->key[m->klen - 1] != '"')
				m->klen--;
			if (m->klen > 0)
				m->klen--;
		} else if (match) {
			struct simlog_jfield *f = w->out;

			if (f->kind != SIMLOG_J_ABSENT)
				f->dup = 1;
			if (*s->p == '"') {
				const unsigned char *v = s->p + 1;

				if (scan_string(s, &f->escaped) < 0)
					return -1;
				f->kind = SIMLOG_J_STRING;
				f->val = (const char *)v;
				f->len = (size_t)(s->p - 1 - v);
			} else {
				if (scan_value(s) < 0)
					return -1;
				f->kind = SIMLOG_J_OTHER;
			}
		} else if (scan_value(s) < 0)
			return -1;
		skip_ws(s);
		if (s->p >= s->end)
			return fail(s, "unterminated object");
		if (*s->p == '}') {
			s->p++;
			s->depth--;
			return 0;
		}
		if (*s->p != ',')
			return fail(s, "expected ',' or '}'");
		s->p++;
		skip_ws(s);
	}
}

static int
scan_array(struct scan *s)
{
	if (++s->depth > SIMLOG_JSON_MAXDEPTH)
		return fail(s, "nested too deeply");
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		if (scan_value(s) < 0)
			return -1;
		skip_ws(s);
		if (s->p >= s->end)
			return fail(s, "unterminated array");
		if (*s->p == ']') {
			s->p++;
			s->depth--;
			return 0;
		}
		if (*s->p != ',')
			return fail(s, "expected ',' or ']'");
		s->p++;
		skip_ws(s);
	}
}

static int
scan_value(struct scan *s)
{
	int esc;

	if (s->p >= s->end)
		return fail(s, "unexpected end of line");
	switch (*s->p) {
	case '{':
		return scan_object(s, NULL);
	case '[':
		return scan_array(s);
	case '"':
		return scan_string(s, &esc);
	case 't':
		return scan_word(s, "true", 4);
	case 'f':
		return scan_word(s, "false", 5);
	case 'n':
		return scan_word(s, "null", 4);
	case '\0':
		return fail(s, "NUL byte");
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return scan_number(s);
		return fail(s, "invalid JSON value");
	}
}

int
simlog_json_scan(const char *line, size_t len, const char *field, size_t flen,
		 struct simlog_jfield *out, const char **why, size_t *at)
{
	struct scan s;
	struct want w = { field, flen, out };
	struct simlog_jfield dummy;

	if (out == NULL)
		out = &dummy;
	memset(out, 0, sizeof(*out));
	w.out = out;
	s.start = s.p = (const unsigned char *)line;
	s.end = s.p + len;
	s.why = NULL;
	s.depth = 0;
	s.members = NULL;
	s.nmembers = s.maxmembers = 0;
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{') {
		if (s.p < s.end && memchr(s.p, '\0', (size_t)(s.end - s.p)))
			s.why = "NUL byte";
		else
			s.why = s.p < s.end && strchr("[\"tfn-0123456789", *s.p) ?
			    "not a JSON object" : "invalid JSON";
		goto bad;
	}
	if (scan_object(&s, field ? &w : NULL) < 0)
		goto bad;
	skip_ws(&s);
	if (s.p != s.end) {
		s.why = *s.p == '\0' ? "NUL byte" : "junk after the object";
		goto bad;
	}
	return 0;
bad:
	*why = s.why;
	*at = (size_t)(s.p - s.start);
	return -1;
}

int
simlog_json_members(const char *line, size_t len, struct simlog_jmember *m,
		    size_t max, size_t *n, const char **why)
{
	struct scan s;

	memset(&s, 0, sizeof(s));
	s.start = s.p = (const unsigned char *)line;
	s.end = s.p + len;
	s.members = m;
	s.maxmembers = max;
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{') {
		*why = "not a JSON object";
		return -1;
	}
	if (scan_object(&s, NULL) < 0) {
		*why = s.why;
		return -1;
	}
	skip_ws(&s);
	if (s.p != s.end) {
		*why = "junk after the object";
		return -1;
	}
	*n = s.nmembers;
	return 0;
}

static void
put_utf8(char **o, unsigned u)
{
	unsigned char *p = (unsigned char *)*o;

	if (u < 0x80)
		*p++ = (unsigned char)u;
	else if (u < 0x800) {
		*p++ = (unsigned char)(0xC0 | u >> 6);
		*p++ = (unsigned char)(0x80 | (u & 0x3F));
	} else if (u < 0x10000) {
		*p++ = (unsigned char)(0xE0 | u >> 12);
		*p++ = (unsigned char)(0x80 | (u >> 6 & 0x3F));
		*p++ = (unsigned char)(0x80 | (u & 0x3F));
	} else {
		*p++ = (unsigned char)(0xF0 | u >> 18);
		*p++ = (unsigned char)(0x80 | (u >> 12 & 0x3F));
		*p++ = (unsigned char)(0x80 | (u >> 6 & 0x3F));
		*p++ = (unsigned char)(0x80 | (u & 0x3F));
	}
	*o = (char *)p;
}

size_t
simlog_json_unescape(const char *s, size_t n, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	char *o = out;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned u, u2;

		if (p[i] != '\\') {
			*o++ = (char)p[i];
			continue;
		}
		if (++i >= n)
			break;
		switch (p[i]) {
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if (i + 4 >= n || hex4(p + i + 1, &u) < 0)
				return (size_t)(o - out);
			i += 4;
			if (u >= 0xD800 && u <= 0xDBFF && i + 6 < n &&
			    p[i + 1] == '\\' && p[i + 2] == 'u' &&
			    hex4(p + i + 3, &u2) == 0 &&
			    u2 >= 0xDC00 && u2 <= 0xDFFF) {
				u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
				i += 6;
			}
			put_utf8(&o, u);
			break;
		default: *o++ = (char)p[i]; break;
		}
	}
	return (size_t)(o - out);
}

/* The kind of a value from its first byte. */
static enum simlog_jvkind
kind_of(unsigned char c)
{
	switch (c) {
	case '"': return SIMLOG_JV_STRING;
	case '{': return SIMLOG_JV_OBJECT;
	case '[': return SIMLOG_JV_ARRAY;
	case 't': return SIMLOG_JV_TRUE;
	case 'f': return SIMLOG_JV_FALSE;
	case 'n': return SIMLOG_JV_NULL;
	default: return SIMLOG_JV_NUMBER;
	}
}

int
simlog_json_child(const char *val, size_t len, const char *key, size_t klen,
		  size_t index, struct simlog_jmember *out)
{
	struct scan s;
	struct simlog_jfield f;
	struct want w = { key, klen, &f };
	unsigned char close = key != NULL ? '}' : ']';
	size_t i = 0;

	memset(&s, 0, sizeof(s));
	s.start = s.p = (const unsigned char *)val;
	s.end = s.p + len;
	skip_ws(&s);
	if (s.p >= s.end || *s.p != (key != NULL ? '{' : '['))
		return -1;
	s.p++;
	skip_ws(&s);
	while (s.p < s.end && *s.p != close) {
		const unsigned char *k = NULL, *v;
		int esc = 0, match;

		if (key != NULL) {
			k = s.p + 1;
			if (scan_string(&s, &esc) < 0)
				return -1;
			match = key_matches(k, (size_t)(s.p - 1 - k), esc, &w);
			skip_ws(&s);
			s.p++;		/* ':' */
			skip_ws(&s);
		} else
			match = i++ == index;
		v = s.p;
		if (scan_value(&s) < 0)
			return -1;
		if (match) {
			out->key = (const char *)k;
			out->klen = k ? klen : 0;
			out->kesc = esc;
			out->val = (const char *)v;
			out->vlen = (size_t)(s.p - v);
			out->kind = kind_of(*v);
			return 0;
		}
		skip_ws(&s);
		if (s.p < s.end && *s.p == ',')
			s.p++;
		skip_ws(&s);
	}
	return 1;
}

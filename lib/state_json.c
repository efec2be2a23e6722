/* The lines of simlog-state save --batch and load --batch: validated whole
 * by the JSON scanner, then walked member by member for what we need.
 * Members we do not know are ignored, so one mode's output is the other's
 * input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "simlog_state.h"
#include "state_json.h"
#include "util.h"

struct walk {
	const char *p, *end;
};

static void
ws(struct walk *w)
{
	while (w->p < w->end && (*w->p == ' ' || *w->p == '\t' ||
	    *w->p == '\n' || *w->p == '\r'))
		w->p++;
}

/* Past a string; w->p at its opening quote.  The line is valid JSON. */
static void
skip_string(struct walk *w)
{
	w->p++;
	while (w->p < w->end && *w->p != '"') {
		if (*w->p == '\\')
			w->p++;
		w->p++;
	}
	w->p++;
}

/* Past one value of a line already known to be valid JSON. */
static void
skip_value(struct walk *w)
{
	int depth = 0;

	do {
		switch (*w->p) {
		case '"':
			skip_string(w);
			continue;
		case '{': case '[':
			depth++;
			break;
		case '}': case ']':
			depth--;
			break;
		default:
			if (depth == 0) {
				while (w->p < w->end && !strchr(",}] \t\r\n",
				    *w->p))
					w->p++;
				return;
			}
		}
		w->p++;
	} while (depth > 0 && w->p < w->end);
}

/* Decode a short JSON string body into out (cap bytes with the NUL).
 * Names are ASCII, which takes at most six bytes per character to write
 * (\u00XX): a longer body cannot be a name.  -1 if too long. */
#define ESC_MAX 6
static int
unescape(const char *s, size_t n, char *out, size_t cap, size_t *olen)
{
	char tmp[ESC_MAX * (SIMLOG_STATE_IDMAX + 1)];
	size_t len;

	if (n > ESC_MAX * (cap - 1) || n > sizeof(tmp))
		return -1;
	len = simlog_json_unescape(s, n, tmp);
	if (len >= cap)
		return -1;
	memcpy(out, tmp, len);
	out[len] = '\0';
	*olen = len;
	return 0;
}

/* A string value's body; w->p at the quote. */
static int
string_value(struct walk *w, const char **s, size_t *n)
{
	const char *start;

	if (*w->p != '"')
		return -1;
	start = w->p + 1;
	skip_string(w);
	*s = start;
	*n = (size_t)(w->p - 1 - start);
	return 0;
}

static int
name_value(struct walk *w, char *out, size_t cap, int tag)
{
	const char *s;
	size_t n, len;

	if (string_value(w, &s, &n) < 0 || unescape(s, n, out, cap, &len) < 0)
		return -1;
	return tag ? simlog_state_valid_tag(out, len) ? 0 : -1 :
	    simlog_state_valid_id(out, len) ? 0 : -1;
}

/* A number's text, copied out for strtod/strtoll; -1 if not a number. */
static int
number_text(struct walk *w, char *buf, size_t cap)
{
	const char *s = w->p;
	size_t n;

	if (!(*s == '-' || (*s >= '0' && *s <= '9')))
		return -1;
	skip_value(w);
	n = (size_t)(w->p - s);
	if (n >= cap)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

static int
is_null(struct walk *w)
{
	if (w->end - w->p >= 4 && memcmp(w->p, "null", 4) == 0) {
		w->p += 4;
		return 1;
	}
	return 0;
}

static int
integer_value(struct walk *w, long long min, long long *v)
{
	char buf[32];
	const char *why;

	if (number_text(w, buf, sizeof(buf)) < 0)
		return -1;
	return simlog_parse_ll(buf, min, 1LL << 53, v, &why);
}

static int
tags_value(struct walk *w, char *tags, const char **why)
{
	tags[0] = '\0';
	if (*w->p != '[') {
		*why = "\"tags\" is not an array";
		return -1;
	}
	w->p++;
	ws(w);
	if (*w->p == ']') {
		w->p++;
		return 0;
	}
	for (;;) {
		char t[SIMLOG_STATE_TAGMAX + 1];

		if (name_value(w, t, sizeof(t), 1) < 0) {
			*why = "a tag is not a string of 1-64 of [A-Za-z0-9_.:-]";
			return -1;
		}
		if (simlog_state_tags_add(tags, t, strlen(t), NULL) < 0) {
			*why = "more than 32 tags";
			return -1;
		}
		ws(w);
		if (*w->p == ']') {
			w->p++;
			return 0;
		}
		w->p++;		/* ',' */
		ws(w);
	}
}

enum { M_ID = 1, M_STATE = 2, M_TTL = 4, M_TAGS = 8, M_VERSION = 16,
       M_EXPECT = 32 };

static int
member(const char *k, size_t n, int load)
{
	static const struct { const char *name; int bit, load; } m[] = {
		{ "id", M_ID, 2 }, { "state", M_STATE, 0 }, { "ttl", M_TTL, 0 },
		{ "tags", M_TAGS, 0 }, { "expect_version", M_EXPECT, 0 },
		{ "version", M_VERSION, 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (strlen(m[i].name) == n && memcmp(m[i].name, k, n) == 0 &&
		    (m[i].load == 2 || m[i].load == load))
			return m[i].bit;
	return 0;
}

int
simlog_state_batch_parse(const char *line, size_t len, int load,
			 struct simlog_state_batch *b, const char **why)
{
	struct walk w = { line, line + len };
	size_t at;
	int seen = 0;

	memset(b, 0, sizeof(*b));
	b->expect_version = -1;
	if (simlog_json_scan(line, len, NULL, 0, NULL, why, &at) < 0)
		return -1;
	ws(&w);
	w.p++;		/* '{' */
	ws(&w);
	while (*w.p != '}') {
		const char *k = NULL;
		size_t kn = 0;
		char key[32];
		int bit;

		if (string_value(&w, &k, &kn) < 0) {
			*why = "expected a member name";	/* cannot happen */
			return -1;
		}
		/* Escaped member names are compared decoded. */
		if (memchr(k, '\\', kn) != NULL) {
			if (unescape(k, kn, key, sizeof(key), &kn) < 0)
				kn = 0;
			k = key;
		}
		bit = member(k, kn, load);
		ws(&w);
		w.p++;		/* ':' */
		ws(&w);
		if (bit & seen) {
			*why = "a member appears twice";
			return -1;
		}
		seen |= bit;
		switch (bit) {
		case M_ID:
			if (name_value(&w, b->id, sizeof(b->id), 0) < 0) {
				*why = "\"id\" is not a string of 1-128 of "
				    "[A-Za-z0-9_.:-]";
				return -1;
			}
			break;
		case M_STATE:
			b->state = w.p;
			skip_value(&w);
			b->state_len = (size_t)(w.p - b->state);
			break;
		case M_TTL: {
			char buf[64];
			const char *tw;

			b->has_ttl = 1;
			if (is_null(&w))
				break;
			if (number_text(&w, buf, sizeof(buf)) < 0 ||
			    simlog_parse_seconds(buf, 1e9, &b->ttl, &tw) < 0 ||
			    b->ttl < 0.001) {
				*why = "\"ttl\" is not a number of seconds "
				    "(0.001 to 1e9) or null";
				return -1;
			}
			break;
		}
		case M_TAGS:
			b->has_tags = 1;
			if (tags_value(&w, b->tags, why) < 0)
				return -1;
			break;
		case M_VERSION:
			if (is_null(&w))
				break;
			if (integer_value(&w, 1, &b->version) < 0) {
				*why = "\"version\" is not a whole number from 1";
				return -1;
			}
			break;
		case M_EXPECT:
			if (is_null(&w)) {
				b->expect_version = -1;
				break;
			}
			if (integer_value(&w, 0, &b->expect_version) < 0) {
				*why = "\"expect_version\" is not a whole number "
				    "from 0";
				return -1;
			}
			break;
		default:
			skip_value(&w);
		}
		ws(&w);
		if (*w.p == ',') {
			w.p++;
			ws(&w);
		}
	}
	if (!(seen & M_ID)) {
		*why = "no \"id\"";
		return -1;
	}
	if (!load && !(seen & M_STATE)) {
		*why = "no \"state\"";
		return -1;
	}
	return 0;
}

/* --- metadata as simlog-state prints it ---------------------------------- */

/* A time in ms since 1970 as seconds with milliseconds; null if unset. */
static void
put_time(struct simlog_jw *w, const char *name, long long ms)
{
	if (ms <= 0)
		simlog_jw_knull(w, name);
	else
		simlog_jw_kdouble(w, name, (double)ms / 1000, 3);
}

void
simlog_state_tags_put(struct simlog_jw *w, const char *tags)
{
	const char *p = tags;

	simlog_jw_key(w, "tags");
	simlog_jw_arr(w);
	while (*p != '\0') {
		size_t n = strcspn(p, ",");

		simlog_jw_strn(w, p, n);
		p += n;
		if (*p == ',')
			p++;
	}
	simlog_jw_close(w);
}

void
simlog_state_meta_put(struct simlog_jw *w, const char *id,
		      const struct simlog_state_meta *m, long long expires_ms)
{
	char crc[16];

	snprintf(crc, sizeof(crc), "crc32:%08x", (unsigned)m->checksum);
	simlog_jw_kstr(w, "id", id);
	simlog_jw_kint(w, "version", m->version);
	simlog_jw_kuint(w, "size", m->size);
	simlog_jw_kuint(w, "stored_size", m->stored_size);
	simlog_jw_kstr(w, "compression", simlog_state_comp_name(m->comp));
	simlog_jw_kstr(w, "checksum", crc);
	simlog_jw_kstr(w, "format", m->raw ? "raw" : "json");
	put_time(w, "created_at", m->created_ms);
	simlog_state_tags_put(w, m->tags);
	put_time(w, "expires_at", expires_ms);
	if (m->rollback_of > 0)
		simlog_jw_kint(w, "rollback_of", m->rollback_of);
}

/* State store pieces that need no Redis: names, tags, checksums, the
 * codecs (round trips, corruption, bounded decoding) and batch lines. */
#include <stdlib.h>

#include <zlib.h>

#include "simlog.h"
#include "simlog_state.h"
#include "state_codec.h"
#include "state_json.h"
#include "tap.h"

static const enum simlog_state_comp comps[] = {
	SIMLOG_STATE_NONE, SIMLOG_STATE_LZ4, SIMLOG_STATE_ZLIB,
};

static uint64_t rng = 88172645463325252ULL;

static unsigned
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)rng;
}

/* Random bytes, or JSON-like text with varying numbers, which compresses
 * but not to nothing. */
static char *
sample(size_t n, int random)
{
	char *p = malloc(n + 1);
	size_t i = 0;

	while (i < n) {
		char rec[64];
		size_t k;

		if (random) {
			p[i++] = (char)rnd();
			continue;
		}
		k = (size_t)snprintf(rec, sizeof(rec), "{\"agent\":%u,\"pos\":"
		    "[%u,%u]}\n", rnd() % 1000, rnd() % 100, rnd() % 100);
		if (k > n - i)
			k = n - i;
		memcpy(p + i, rec, k);
		i += k;
	}
	return p;
}

/* Decode enc in pieces of `piece` bytes (0: whole); 0 on success. */
static int
decode(enum simlog_state_comp c, const char *enc, size_t enclen, size_t size,
       uint32_t crc, size_t piece, char **out, size_t *outlen,
       struct simlog_err *e)
{
	struct simlog_state_dec *d = simlog_state_dec_new(c, size, enclen, e);
	size_t off = 0;
	int rc = 0;

	*out = NULL;
	if (d == NULL)
		return -1;
	while (rc == 0 && off < enclen) {
		size_t n = piece == 0 || enclen - off < piece ? enclen - off : piece;

		rc = simlog_state_dec_feed(d, enc + off, n, e);
		off += n;
	}
	if (rc == 0)
		rc = simlog_state_dec_finish(d, crc, out, outlen, e);
	simlog_state_dec_free(d);
	return rc;
}

static void
round_trip(enum simlog_state_comp c, size_t n, int random)
{
	const char *name = simlog_state_comp_name(c);
	char *raw = sample(n, random), *enc, *out;
	size_t enclen, outlen;
	uint32_t crc = simlog_state_crc32(raw, n);
	struct simlog_err e;
	static const size_t pieces[] = { 0, 1, 7, 4096 };

	if (!ok(simlog_state_compress(NULL, c, raw, n, &enc, &enclen, &e) == 0,
	    "%s: compress %zu %s bytes", name, n, random ? "random" : "text")) {
		free(raw);
		return;
	}
	ok((c == SIMLOG_STATE_NONE) == (enc == NULL), "%s: only none keeps "
	    "the raw bytes", name);
	if (c == SIMLOG_STATE_NONE)
		enc = raw;
	if (!random && n > 1000 && c != SIMLOG_STATE_NONE)
		ok(enclen < n / 2, "%s: text shrinks (%zu to %zu)", name, n,
		    enclen);
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		if (pieces[i] == 1 && n > 100000)
			continue;
		int rc = decode(c, enc, enclen, n, crc, pieces[i], &out,
		    &outlen, &e);

		ok(rc == 0 && outlen == n && memcmp(out, raw, n) == 0,
		    "%s: %zu %s bytes back exactly, fed in pieces of %zu%s%s",
		    name, n, random ? "random" : "text", pieces[i],
		    rc ? ": " : "", rc ? e.msg : "");
		free(out);
	}
	if (enc != raw)
		free(enc);
	free(raw);
}

/* Every single flipped bit is refused: never wrong bytes, never a crash. */
static void
flips(enum simlog_state_comp c)
{
	const char *name = simlog_state_comp_name(c);
	size_t n = 3000, enclen, outlen, refused = 0, i;
	char *raw = sample(n, 0), *enc, *bad, *out;
	uint32_t crc = simlog_state_crc32(raw, n);
	struct simlog_err e;

	simlog_state_compress(NULL, c, raw, n, &enc, &enclen, &e);
	if (enc == NULL)
		enc = raw;
	bad = malloc(enclen);
	for (i = 0; i < enclen; i++) {
		memcpy(bad, enc, enclen);
		bad[i] ^= (char)(1 << (i % 8));
		if (decode(c, bad, enclen, n, crc, 0, &out, &outlen, &e) < 0 &&
		    e.code == SIMLOG_EX_DATAERR)
			refused++;
		else if (outlen == n && memcmp(out, raw, n) == 0)
			refused++;	/* a flip that changes nothing decoded */
		free(out);
	}
	ok(refused == enclen, "%s: %zu of %zu flipped bytes caught", name,
	    refused, enclen);
	/* Truncated by one byte, and with one byte too many. */
	ok(decode(c, enc, enclen - 1, n, crc, 0, &out, &outlen, &e) < 0 &&
	    e.code == SIMLOG_EX_DATAERR, "%s: truncated value refused: %s",
	    name, e.msg);
	free(out);
	{
		struct simlog_state_dec *d = simlog_state_dec_new(c, n, enclen, &e);

		ok(d != NULL && simlog_state_dec_feed(d, enc, enclen, &e) == 0 &&
		    simlog_state_dec_feed(d, "x", 1, &e) < 0 &&
		    e.code == SIMLOG_EX_DATAERR, "%s: a byte past the recorded "
		    "length refused", name);
		simlog_state_dec_free(d);
	}
	ok(decode(c, enc, enclen, n, crc ^ 1, 0, &out, &outlen, &e) < 0 &&
	    strstr(e.msg, "checksum") != NULL, "%s: wrong checksum refused",
	    name);
	free(out);
	free(bad);
	if (enc != raw)
		free(enc);
	free(raw);
}

/* A small recorded size bounds the output whatever the value expands to. */
static void
bombs(void)
{
	size_t n = 10 << 20, enclen, outlen;
	char *zeros = calloc(1, n), *enc, *out;
	uint32_t crc = simlog_state_crc32(zeros, 1000);
	struct simlog_err e;

	for (size_t i = 1; i < 3; i++) {
		enum simlog_state_comp c = comps[i];

		simlog_state_compress(NULL, c, zeros, n, &enc, &enclen, &e);
		ok(enclen < n / 100, "%s: 10 MiB of zeros is %zu bytes",
		    simlog_state_comp_name(c), enclen);
		ok(decode(c, enc, enclen, 1000, crc, 0, &out, &outlen, &e) < 0 &&
		    e.code == SIMLOG_EX_DATAERR, "%s: a value that expands past "
		    "its recorded size is refused: %s",
		    simlog_state_comp_name(c), e.msg);
		free(out);
		ok(decode(c, enc, enclen, n + 1, crc, 0, &out, &outlen, &e) < 0,
		    "%s: a value that ends before its recorded size is refused",
		    simlog_state_comp_name(c));
		free(out);
		free(enc);
	}
	ok(simlog_state_dec_new(SIMLOG_STATE_LZ4, 10, 1000, &e) == NULL &&
	    e.code == SIMLOG_EX_DATAERR, "lz4: a stored size no compressor "
	    "makes is refused up front");
	ok(simlog_state_dec_new(SIMLOG_STATE_NONE, 10, 11, &e) == NULL,
	    "none: stored size must equal the size");
	ok(simlog_state_dec_new(SIMLOG_STATE_NONE, SIMLOG_STATE_MAXSIZE + 1,
	    SIMLOG_STATE_MAXSIZE + 1, &e) == NULL, "a size past the limit is "
	    "refused before allocating");
	ok(simlog_state_dec_new((enum simlog_state_comp)7, 1, 1, &e) == NULL,
	    "an unknown compression is refused");
	free(zeros);
}

/* A compressor kept from state to state gives what a fresh one gives. */
static void
reuse(void)
{
	static const size_t sizes[] = { 100, 70000, 0, 5000, 1 };
	struct simlog_state_enc *enc = simlog_state_enc_new();
	struct simlog_err e;
	size_t i, same = 0;

	for (i = 0; i < 2 * sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i % 5], l1, l2, ol;
		char *raw = sample(n, (int)(i & 1)), *a, *b, *out;

		simlog_state_compress(enc, SIMLOG_STATE_ZLIB, raw, n, &a, &l1, &e);
		simlog_state_compress(NULL, SIMLOG_STATE_ZLIB, raw, n, &b, &l2, &e);
		if (l1 == l2 && memcmp(a, b, l1) == 0 &&
		    decode(SIMLOG_STATE_ZLIB, a, l1, n,
		    simlog_state_crc32(raw, n), 0, &out, &ol, &e) == 0 &&
		    ol == n && memcmp(out, raw, n) == 0)
			same++;
		free(out);
		free(a);
		free(b);
		free(raw);
	}
	ok(same == i, "zlib: a reused compressor, %zu states of %zu the same "
	    "and back exactly", same, i);
	simlog_state_enc_free(enc);
	simlog_state_enc_free(NULL);
}

static void
names(void)
{
	char id[200];
	enum simlog_state_comp c;

	ok(simlog_state_valid_id("run-1.step_2:agent", 18), "an ordinary ID");
	memset(id, 'a', sizeof(id));
	ok(simlog_state_valid_id(id, 128), "128 characters");
	ok(!simlog_state_valid_id(id, 129), "not 129");
	ok(!simlog_state_valid_id("", 0), "not empty");
	ok(!simlog_state_valid_id("a b", 3), "no space");
	ok(!simlog_state_valid_id("a{b}", 4), "no braces (the hash tag)");
	ok(!simlog_state_valid_id("a/b", 3) && !simlog_state_valid_id("é", 2),
	    "nothing outside the set");
	ok(simlog_state_valid_tag(id, 64) && !simlog_state_valid_tag(id, 65),
	    "tags: up to 64");
	ok(!simlog_state_valid_tag("a,b", 3), "no comma in a tag");
	ok(simlog_state_comp_parse("zlib", &c) == 0 && c == SIMLOG_STATE_ZLIB &&
	    simlog_state_comp_parse("lz4", &c) == 0 && c == SIMLOG_STATE_LZ4 &&
	    simlog_state_comp_parse("none", &c) == 0 && c == SIMLOG_STATE_NONE,
	    "compression names");
	ok(simlog_state_comp_parse("gzip", &c) < 0 &&
	    simlog_state_comp_parse("LZ4", &c) < 0, "unknown names refused");
	is_str(simlog_state_comp_name(SIMLOG_STATE_LZ4), "lz4", "name of lz4");
	ok(simlog_state_crc32("123456789", 9) == 0xcbf43926,
	    "CRC-32 check value");
	ok(simlog_state_crc32("", 0) == 0, "CRC-32 of nothing");
}

static void
tags(void)
{
	char t[SIMLOG_STATE_TAGSLEN] = "";
	struct simlog_err e;
	char name[8];
	int i, rc = 0;

	ok(simlog_state_tags_add(t, "user", 4, &e) == 0 &&
	    simlog_state_tags_add(t, "session", 7, &e) == 0 &&
	    simlog_state_tags_add(t, "user", 4, &e) == 0, "add, twice");
	is_str(t, "user,session", "a tag is kept once");
	ok(simlog_state_tags_has(t, "session") && simlog_state_tags_has(t, "user")
	    && !simlog_state_tags_has(t, "use") && !simlog_state_tags_has(t, ""),
	    "has: whole tags only");
	ok(simlog_state_tags_add(t, "a b", 3, &e) < 0 &&
	    e.code == SIMLOG_EX_USAGE, "a bad tag refused: %s", e.msg);
	t[0] = '\0';
	for (i = 0; i < SIMLOG_STATE_MAXTAGS; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		rc |= simlog_state_tags_add(t, name, strlen(name), &e);
	}
	ok(rc == 0, "%d tags", SIMLOG_STATE_MAXTAGS);
	ok(simlog_state_tags_add(t, "more", 4, &e) < 0, "not one more");
}

/* Parse a save line; NULL why on success. */
static const char *
save_line(const char *line, struct simlog_state_batch *b)
{
	const char *why = NULL;

	if (simlog_state_batch_parse(line, strlen(line), 0, b, &why) == 0)
		return NULL;
	return why ? why : "?";
}

static int
load_line(const char *line, struct simlog_state_batch *b, const char **why)
{
	return simlog_state_batch_parse(line, strlen(line), 1, b, why);
}

/* A save line that must be refused, with `about` in the reason. */
static void
refused(const char *line, const char *about, const char *what)
{
	struct simlog_state_batch b;
	const char *why = save_line(line, &b);

	ok(why != NULL && (about == NULL || strstr(why, about) != NULL),
	    "%s: %s", what, why ? why : "accepted");
}

static int
state_is(const struct simlog_state_batch *b, const char *want)
{
	return b->state_len == strlen(want) &&
	    memcmp(b->state, want, b->state_len) == 0;
}

static void
batch(void)
{
	struct simlog_state_batch b;
	const char *why;

	ok(save_line("{\"id\":\"a1\",\"state\":{\"x\":[1,{\"y\":\"}]\\\"\"}]},"
	    "\"ttl\":2.5,\"tags\":[\"t\",\"u\"]}", &b) == NULL &&
	    state_is(&b, "{\"x\":[1,{\"y\":\"}]\\\"\"}]}"),
	    "the state's exact text, brackets in strings and all");
	ok(strcmp(b.id, "a1") == 0 && b.has_ttl && b.ttl == 2.5 && b.has_tags &&
	    strcmp(b.tags, "t,u") == 0 && b.expect_version == -1,
	    "id, ttl, tags");
	ok(save_line("{ \"state\" : 12.5e3 , \"id\" : \"x\" }", &b) == NULL &&
	    state_is(&b, "12.5e3") && !b.has_ttl && !b.has_tags,
	    "a number state, members in any order, white space");
	ok(save_line("{\"id\":\"x\",\"state\":\"s\",\"version\":3,\"size\":9,"
	    "\"more\":{\"id\":\"no\"}}", &b) == NULL && strcmp(b.id, "x") == 0 &&
	    b.version == 0 && state_is(&b, "\"s\""),
	    "other members (load's output) ignored, nested ids too");
	ok(save_line("{\"\\u0069d\":\"\\u0041b\",\"state\":null,\"ttl\":null,"
	    "\"expect_version\":0}", &b) == NULL && strcmp(b.id, "Ab") == 0 &&
	    state_is(&b, "null") && b.has_ttl && b.ttl == 0 &&
	    b.expect_version == 0, "escapes decoded; null ttl; expect 0");
	refused("{\"id\":\"x\"}", "state", "no state");
	refused("{\"state\":1}", "id", "no id");
	refused("{\"id\":\"a b\",\"state\":1}", "id", "bad id");
	refused("{\"id\":7,\"state\":1}", "id", "id not a string");
	refused("{\"id\":\"x\",\"id\":\"y\",\"state\":1}", "twice", "id twice");
	refused("{\"id\":\"x\",\"state\":1,\"ttl\":-1}", "ttl", "negative ttl");
	refused("{\"id\":\"x\",\"state\":1,\"ttl\":\"5\"}", "ttl",
	    "ttl as a string");
	refused("{\"id\":\"x\",\"state\":1,\"tags\":\"t\"}", "tags",
	    "tags not an array");
	refused("{\"id\":\"x\",\"state\":1,\"tags\":[1]}", "tag",
	    "a tag not a string");
	refused("{\"id\":\"x\",\"state\":1,\"expect_version\":1.5}",
	    "expect_version", "fractional expect_version");
	refused("{\"id\":\"x\",\"state\":1", NULL, "not JSON");
	refused("[1]", NULL, "not an object");
	ok(load_line("{\"id\":\"x\",\"version\":4}", &b,
	    &why) == 0 && b.version == 4, "load line with a version");
	ok(load_line("{\"id\":\"x\"}", &b, &why) == 0 &&
	    b.version == 0, "load line, latest");
	why = NULL;
	ok(load_line("{\"id\":\"x\",\"version\":0}", &b,
	    &why) < 0 && why != NULL, "version 0 refused");
	ok(load_line("{\"id\":\"x\",\"version\":null,\"state\":"
	    "[1,2]}", &b, &why) == 0 && b.version == 0,
	    "load ignores state (save's input), null version is latest");
}

int
main(void)
{
	static const size_t sizes[] = { 0, 1, 100, 70000, 5 << 20 };

	names();
	tags();
	for (size_t i = 0; i < 3; i++) {
		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			round_trip(comps[i], sizes[j], 0);
			round_trip(comps[i], sizes[j], 1);
		}
		flips(comps[i]);
	}
	reuse();
	bombs();
	batch();
	return tap_done();
}

/*
 * The record scanner: fixed cases, then a differential run against jansson
 * on mutated input (jansson is the oracle for what is valid JSON).
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "json.h"
#include "simlog.h"
#include "tap.h"

static int
scan(const char *s, const char **why)
{
	struct simlog_jfield f;
	size_t at;

	return simlog_json_scan(s, strlen(s), "type", 4, &f, why, &at);
}

static void
accept(const char *s)
{
	const char *why = NULL;

	ok(scan(s, &why) == 0, "accept %s%s%s", s, why ? ": " : "",
	    why ? why : "");
}

static void
reject(const char *s, size_t len, const char *want)
{
	struct simlog_jfield f;
	const char *why = "";
	size_t at;

	ok(simlog_json_scan(s, len, "type", 4, &f, &why, &at) < 0 &&
	    strstr(why, want) != NULL, "reject [%.*s]: %s (want %s)",
	    (int)(len > 40 ? 40 : len), s, why, want);
}

static void
field(const char *s, enum simlog_jkind kind, const char *val, int esc, int dup)
{
	struct simlog_jfield f;
	const char *why;
	size_t at;

	if (!ok(simlog_json_scan(s, strlen(s), "type", 4, &f, &why, &at) == 0,
	    "scan %s", s))
		return;
	ok(f.kind == kind, "%s: kind %d", s, f.kind);
	if (val != NULL)
		ok(f.len == strlen(val) && memcmp(f.val, val, f.len) == 0,
		    "%s: value %.*s", s, (int)f.len, f.val);
	ok(f.escaped == esc, "%s: escaped %d", s, f.escaped);
	ok(f.dup == dup, "%s: dup %d", s, f.dup);
}

/* Does jansson call it a valid object?  -1: cannot judge (number range). */
static int
oracle(const char *s, size_t len, json_t **root)
{
	json_error_t e;

	*root = json_loadb(s, len, 0, &e);
	if (*root == NULL) {
		if (strstr(e.text, "too big") != NULL ||
		    strstr(e.text, "overflow") != NULL ||
		    strstr(e.text, "too deep") != NULL)
			return -1;
		return 0;
	}
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		return 0;
	}
	return 1;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t
next(void)
{
	uint64_t z = (rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static const char *const seeds[] = {
	"{\"type\":\"agent\",\"agent_id\":\"a1\",\"x\":1.5e3,\"alive\":true}",
	"{\"type\":\"step\",\"n\":-0.25,\"c\":{\"a\":[1,2,{\"b\":null}]}}",
	"{\"s\":\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \\\" \\\\ \\/ \\n\"}",
	" { \"type\" : \"x\" , \"a\" : [ ] , \"o\" : { } } ",
	"{\"type\":\"\\u0061gent\",\"big\":123456789012345678901234567890}",
	"{\"e\":[1E5,2e-3,0.0,-0,\"\xf0\x9f\x98\x80\"]}",
	"{}",
	"[1,2]",
	"{\"a\":tru}",
	"{\"a\":\"\\x\"}",
};

static const char interesting[] =
    "{}[],:\"\\0123456789eE.-+ tfnru\t\r\n\x01\x7f\x80\xbf\xc0\xc3\xe0\xed"
    "\xa0\xef\xf0\xf4\x90\xff";

static void
differential(int rounds)
{
	char buf[512];
	int mism = 0, judged = 0, valid = 0;

	for (int i = 0; i < rounds; i++) {
		const char *seed = seeds[next() % (sizeof(seeds) / sizeof(*seeds))];
		size_t len = strlen(seed), n = 1 + next() % 4;
		json_t *root;
		struct simlog_jfield f;
		const char *why;
		size_t at;

		memcpy(buf, seed, len);
		while (n-- > 0 && len > 0 && len < sizeof(buf) - 16) {
			size_t pos = next() % len;
			char c = interesting[next() % (sizeof(interesting) - 1)];

			switch (next() % 5) {
			case 0: buf[pos] = c; break;
			case 1: buf[pos] = (char)(next() & 0xff); break;
			case 2:
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = c;
				len++;
				break;
			case 3:
				memmove(buf + pos, buf + pos + 1, len - pos - 1);
				len--;
				break;
			default:
				len = pos + 1;
				break;
			}
		}
		int want = oracle(buf, len, &root);
		int got = simlog_json_scan(buf, len, "type", 4, &f, &why, &at) == 0;

		if (want < 0)
			continue;
		judged++;
		valid += want;
		if (got != want) {
			if (mism++ < 5)
				printf("# mismatch (scanner %d, jansson %d): "
				    "[%.*s]\n", got, want, (int)len, buf);
		} else if (want && !f.dup) {
			json_t *t = json_object_get(root, "type");

			if ((f.kind == SIMLOG_J_ABSENT) != (t == NULL) ||
			    (f.kind == SIMLOG_J_STRING) != json_is_string(t) ||
			    (f.kind == SIMLOG_J_STRING && !f.escaped &&
			    (json_string_length(t) != f.len ||
			    memcmp(json_string_value(t), f.val, f.len) != 0))) {
				if (mism++ < 5)
					printf("# type field differs: [%.*s]\n",
					    (int)len, buf);
			}
		}
		json_decref(root);
	}
	ok(mism == 0, "scanner agrees with jansson on %d mutated lines "
	    "(%d valid)", judged, valid);
	ok(valid > rounds / 50 && judged - valid > rounds / 50,
	    "the mutations reach both verdicts");
}

int
main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 300000;

	accept("{}");
	accept("{\"type\":\"a\"}");
	accept("  {\"a\":[1,-2.5e+10,true,false,null,{\"b\":\"\"}]}\t\r");
	accept("{\"u\":\"\\ud83d\\ude00 caf\xc3\xa9\"}");
	accept("{\"n\":123456789012345678901234567890}");

	reject("", 0, "invalid JSON");
	reject("[1]", 3, "not a JSON object");
	reject("\"s\"", 3, "not a JSON object");
	reject("{", 1, "expected a member name");
	reject("{\"a\":1,}", 8, "expected a member name");
	reject("{\"a\" 1}", 7, "expected ':'");
	reject("{\"a\":1} x", 9, "junk after");
	reject("{\"a\":01}", 8, "expected ','");
	reject("{\"a\":1.}", 8, "bad number");
	reject("{\"a\":-}", 7, "bad number");
	reject("{\"a\":1e}", 8, "bad number");
	reject("{\"a\":nul}", 9, "invalid literal");
	reject("{\"a\":'x'}", 9, "invalid JSON value");
	reject("{\"a\":\"x}", 8, "unterminated string");
	reject("{\"a\":\"\\q\"}", 10, "bad escape");
	reject("{\"a\":\"\\u12\"}", 12, "bad \\u escape");
	reject("{\"a\":\"\\u0000\"}", 14, "\\u0000");
	reject("{\"a\":\"\\ud800\"}", 14, "surrogate");
	reject("{\"a\":\"\\udc00\"}", 14, "surrogate");
	reject("{\"a\":\"\t\"}", 9, "control character");
	reject("{\"a\":\"\0\"}", 9, "NUL byte");
	reject("{\"a\":1}\0", 8, "NUL byte");
	reject("{\"a\":\"\xff\"}", 9, "invalid UTF-8");
	reject("{\"a\":\"\xc0\xaf\"}", 10, "invalid UTF-8");	/* overlong */
	reject("{\"a\":\"\xed\xa0\x80\"}", 11, "invalid UTF-8");	/* surrogate */
	reject("{\"a\":\"\xf4\x90\x80\x80\"}", 12, "invalid UTF-8");	/* > U+10FFFF */
	reject("{\"a\":\"\xe2\x82\"}", 10, "invalid UTF-8");	/* truncated */
	{
		char deep[2 * SIMLOG_JSON_MAXDEPTH + 16];
		size_t n = 0;

		deep[n++] = '{';
		deep[n++] = '"';
		deep[n++] = 'a';
		deep[n++] = '"';
		deep[n++] = ':';
		for (int i = 0; i < SIMLOG_JSON_MAXDEPTH; i++)
			deep[n++] = '[';
		reject(deep, n, "nested too deeply");
	}

	field("{\"type\":\"agent\"}", SIMLOG_J_STRING, "agent", 0, 0);
	field("{\"a\":{\"type\":\"inner\"},\"type\":\"outer\"}", SIMLOG_J_STRING,
	    "outer", 0, 0);
	field("{\"a\":{\"type\":\"inner\"}}", SIMLOG_J_ABSENT, NULL, 0, 0);
	field("{\"type\":5}", SIMLOG_J_OTHER, NULL, 0, 0);
	field("{\"type\":\"a\\u0062\"}", SIMLOG_J_STRING, "a\\u0062", 1, 0);
	field("{\"t\\u0079pe\":\"x\"}", SIMLOG_J_STRING, "x", 0, 0);
	field("{\"type\":\"a\",\"type\":\"b\"}", SIMLOG_J_STRING, "b", 0, 1);
	field("{\"typo\":\"a\",\"typ\":\"b\",\"types\":1}", SIMLOG_J_ABSENT, NULL,
	    0, 0);

	differential(rounds);
	return tap_done();
}

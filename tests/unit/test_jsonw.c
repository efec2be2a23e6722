/* The JSON-lines writer: structure, escaping, numbers, misuse and write
 * errors; every line it writes is checked with the JSON scanner too. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "json.h"
#include "simlog.h"
#include "tap.h"

static char *buf;
static size_t len;

static FILE *
open_mem(void)
{
	free(buf);
	buf = NULL;
	len = 0;
	return open_memstream(&buf, &len);
}

/* Close the stream; the text written, which must be one valid JSON line. */
static const char *
text(FILE *f, const char *what)
{
	const char *why;
	size_t at;

	fclose(f);
	ok(len > 0 && buf[len - 1] == '\n' && memchr(buf, '\n', len - 1) == NULL,
	    "%s: one line", what);
	ok(simlog_json_scan(buf, len - 1, NULL, 0, NULL, &why, &at) == 0,
	    "%s: valid JSON", what);
	return buf;
}

int
main(void)
{
	struct simlog_jw w;
	FILE *f;

	f = open_mem();
	simlog_jw_init(&w, f);
	simlog_jw_begin(&w);
	simlog_jw_kbool(&w, "ok", 1);
	simlog_jw_kstr(&w, "s", "a\"b\\c");
	simlog_jw_kint(&w, "i", -42);
	simlog_jw_kuint(&w, "u", 18446744073709551615ull);
	simlog_jw_kdouble(&w, "d", 0.5, 3);
	simlog_jw_knull(&w, "n");
	simlog_jw_key(&w, "a");
	simlog_jw_arr(&w);
	simlog_jw_int(&w, 1);
	simlog_jw_obj(&w);
	simlog_jw_close(&w);
	simlog_jw_arr(&w);
	simlog_jw_close(&w);
	simlog_jw_str(&w, "x");
	simlog_jw_close(&w);
	simlog_jw_key(&w, "o");
	simlog_jw_obj(&w);
	simlog_jw_kbool(&w, "f", 0);
	simlog_jw_close(&w);
	ok(simlog_jw_end(&w) == 0, "a line with every kind of value");
	is_str(text(f, "every kind"),
	    "{\"ok\":true,\"s\":\"a\\\"b\\\\c\",\"i\":-42,"
	    "\"u\":18446744073709551615,\"d\":0.500,\"n\":null,"
	    "\"a\":[1,{},[],\"x\"],\"o\":{\"f\":false}}\n", "its text");

	/* Two lines through one writer. */
	f = open_mem();
	simlog_jw_init(&w, f);
	simlog_jw_begin(&w);
	ok(simlog_jw_end(&w) == 0, "an empty object");
	simlog_jw_begin(&w);
	simlog_jw_kint(&w, "n", 2);
	simlog_jw_end(&w);
	fclose(f);
	is_str(buf, "{}\n{\"n\":2}\n", "two lines");

	/* Control characters, invalid UTF-8 and well-formed UTF-8. */
	f = open_mem();
	simlog_jw_init(&w, f);
	simlog_jw_begin(&w);
	simlog_jw_keyn(&w, "k\n\"", 3);
	simlog_jw_strn(&w, "\x01\t\x1f\x7f \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    16);
	simlog_jw_key(&w, "bad");
	simlog_jw_strn(&w, "\xff\xc3(\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf", 12);
	simlog_jw_end(&w);
	is_str(text(f, "escapes"),
	    "{\"k\\u000a\\\"\":\"\\u0001\\u0009\\u001f\x7f \xc3\xa9 \xe2\x82\xac "
	    "\xf0\x9f\x98\x80\",\"bad\":\"\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"}\n",
	    "controls escaped, bad bytes replaced, UTF-8 kept");
	/* (simlog's scanner refuses \u0000 in records; JSON allows it.) */
	f = open_mem();
	simlog_jw_init(&w, f);
	simlog_jw_begin(&w);
	simlog_jw_key(&w, "nul");
	simlog_jw_strn(&w, "a\0b", 3);
	simlog_jw_end(&w);
	fclose(f);
	is_str(buf, "{\"nul\":\"a\\u0000b\"}\n", "a NUL byte escaped");

	/* Numbers: fixed decimals; no NaN or infinity in JSON. */
	f = open_mem();
	simlog_jw_init(&w, f);
	simlog_jw_begin(&w);
	simlog_jw_kdouble(&w, "t", 1795322227.199, 3);
	simlog_jw_kdouble(&w, "u", 0.0001, 6);
	simlog_jw_kdouble(&w, "nan", NAN, 3);
	simlog_jw_kdouble(&w, "inf", -INFINITY, 1);
	simlog_jw_end(&w);
	is_str(text(f, "numbers"),
	    "{\"t\":1795322227.199,\"u\":0.000100,\"nan\":null,\"inf\":null}\n",
	    "fixed decimals, null for NaN and infinity");

	/* Raw JSON: line breaks become spaces. */
	f = open_mem();
	simlog_jw_init(&w, f);
	simlog_jw_begin(&w);
	simlog_jw_key(&w, "state");
	simlog_jw_raw(&w, "{\n \"a\": [1,\r\n2]\n}", 17);
	simlog_jw_end(&w);
	is_str(text(f, "raw"), "{\"state\":{  \"a\": [1,  2] }}\n",
	    "raw value on one line");

	/* Misuse sticks and is reported. */
	f = open_mem();
	simlog_jw_init(&w, f);
	simlog_jw_begin(&w);
	simlog_jw_int(&w, 1);
	ok(simlog_jw_error(&w) == EINVAL, "a value without a key is refused");
	ok(simlog_jw_end(&w) < 0, "... and _end fails");
	fclose(f);
	simlog_jw_init(&w, f = open_mem());
	simlog_jw_begin(&w);
	simlog_jw_key(&w, "a");
	ok(simlog_jw_end(&w) < 0, "a key without its value is refused");
	fclose(f);
	simlog_jw_init(&w, f = open_mem());
	simlog_jw_begin(&w);
	simlog_jw_key(&w, "a");
	simlog_jw_arr(&w);
	simlog_jw_key(&w, "b");
	ok(simlog_jw_error(&w) == EINVAL, "a key inside an array is refused");
	fclose(f);
	simlog_jw_init(&w, f = open_mem());
	simlog_jw_begin(&w);
	simlog_jw_close(&w);
	ok(simlog_jw_error(&w) == EINVAL, "closing the line's object early");
	fclose(f);
	simlog_jw_init(&w, f = open_mem());
	simlog_jw_begin(&w);
	simlog_jw_key(&w, "a");
	simlog_jw_arr(&w);
	ok(simlog_jw_end(&w) < 0, "ending with an array open");
	fclose(f);
	simlog_jw_init(&w, f = open_mem());
	simlog_jw_begin(&w);
	simlog_jw_key(&w, "a");
	for (int i = 0; i < SIMLOG_JW_MAXDEPTH; i++)
		simlog_jw_arr(&w);
	ok(simlog_jw_error(&w) == EINVAL, "nesting past the limit");
	fclose(f);

	/* A failed write is kept. */
	if ((f = fopen("/dev/full", "w")) != NULL) {
		setvbuf(f, NULL, _IONBF, 0);
		simlog_jw_init(&w, f);
		simlog_jw_begin(&w);
		simlog_jw_kstr(&w, "a", "b");
		ok(simlog_jw_end(&w) < 0 && simlog_jw_error(&w) == ENOSPC,
		    "a write to a full device fails with ENOSPC");
		fclose(f);
	}
	free(buf);
	return tap_done();
}

/* Names and numbers from the user: types, simulations, ranges. */
#include "maxmemory.h"
#include "simlog.h"
#include "tap.h"
#include "util.h"

static int
type_ok(const char *s)
{
	const char *why;

	return simlog_valid_type(s, strlen(s), &why) == 0;
}

int
main(void)
{
	long long v;
	double d;
	const char *why;
	char long_type[70];

	ok(type_ok("agent") && type_ok("_x") && type_ok("A9_b"), "good types");
	ok(!type_ok("") && !type_ok("9a") && !type_ok("a-b") &&
	    !type_ok("a b") && !type_ok("é"), "bad types");
	ok(!type_ok("sqlite_master") && !type_ok("SQLite_x") &&
	    !type_ok("simlog_batches") && !type_ok("SIMLOG_x"),
	    "reserved prefixes refused");
	memset(long_type, 'a', 63);
	long_type[63] = '\0';
	ok(type_ok(long_type), "63 characters fine");
	long_type[63] = 'a';
	long_type[64] = '\0';
	ok(!type_ok(long_type), "64 characters refused");

	ok(simlog_valid_sim("run-1.2_x", 9), "good sim");
	ok(!simlog_valid_sim("", 0) && !simlog_valid_sim("a b", 3) &&
	    !simlog_valid_sim("a{b}", 4) && !simlog_valid_sim("a:b", 3),
	    "bad sims (no braces or colons: they would break the key layout)");

	ok(simlog_parse_ll("42", 1, 100, &v, &why) == 0 && v == 42, "42");
	ok(simlog_parse_ll("0", 1, 100, &v, &why) < 0 &&
	    strcmp(why, "too small") == 0, "too small");
	ok(simlog_parse_ll("101", 1, 100, &v, &why) < 0 &&
	    strcmp(why, "too large") == 0, "too large");
	ok(simlog_parse_ll("99999999999999999999", 1, 100, &v, &why) < 0 &&
	    strcmp(why, "too large") == 0, "overflow is too large");
	ok(simlog_parse_ll("1x", 1, 100, &v, &why) < 0 &&
	    simlog_parse_ll(" 1", 1, 100, &v, &why) < 0 &&
	    simlog_parse_ll("", 1, 100, &v, &why) < 0, "garbage refused");
	ok(simlog_parse_seconds("0.25", 10, &d, &why) == 0 && d == 0.25,
	    "fractional seconds");
	ok(simlog_parse_seconds("-1", 10, &d, &why) < 0 &&
	    simlog_parse_seconds("nan", 10, &d, &why) < 0 &&
	    simlog_parse_seconds("11", 10, &d, &why) < 0 &&
	    simlog_parse_seconds("1s", 10, &d, &why) < 0, "bad seconds");
	ok(simlog_maxmemory_evicts("allkeys-lru") &&
	    simlog_maxmemory_evicts("allkeys-random") &&
	    !simlog_maxmemory_evicts("noeviction") &&
	    !simlog_maxmemory_evicts("volatile-lru"), "evicting policies");
	return tap_done();
}

/*
 * The sink front (lib/sink/sink.c): which targets are PostgreSQL URLs,
 * which carry a password, and how a password is kept out of messages.
 */
#include <stdio.h>
#include <string.h>

#include "simlog.h"
#include "sink/sink.h"
#include "tap.h"

static void
redacts(const char *in, const char *want)
{
	char buf[512];

	simlog_sink_redact(in, buf, sizeof(buf));
	is_str(buf, want, "redact %s", in);
}

int
main(void)
{
	ok(simlog_sink_is_url("postgresql://h/db"), "postgresql:// is a URL");
	ok(simlog_sink_is_url("postgres:///db"), "postgres:// is a URL");
	ok(!simlog_sink_is_url("results.db"), "a path is not");
	ok(!simlog_sink_is_url("./postgresql://x"), "nor a path that holds one");
	ok(!simlog_sink_is_url("mysql://h/db"), "nor another scheme");

	ok(simlog_sink_has_password("postgresql://u:pw@h/db"), "u:pw@");
	ok(simlog_sink_has_password("postgres://:pw@h/db"), ":pw@");
	ok(!simlog_sink_has_password("postgresql://u@h/db"), "u@ alone");
	ok(!simlog_sink_has_password("postgresql://u:@h/db"), "an empty one");
	ok(!simlog_sink_has_password("postgresql://h:5432/db"), "a port");
	ok(!simlog_sink_has_password("postgresql://h/db?x=a@b:c"),
	    "@ and : after the path");
	ok(simlog_sink_has_password("postgresql:///db?host=/s&password=pw"),
	    "a password parameter");
	ok(simlog_sink_has_password("postgresql:///db?password=pw"),
	    "the first parameter");
	ok(!simlog_sink_has_password("postgresql:///db?xpassword=pw"),
	    "a parameter that only ends in password");
	ok(!simlog_sink_has_password("u:pw@h.db"), "a path is never a URL");

	redacts("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db");
	redacts("postgresql://u:p%40w@h/db?sslmode=require",
	    "postgresql://u:***@h/db?sslmode=require");
	redacts("postgresql://u:p@w@h/db", "postgresql://u:***@h/db");
	redacts("postgresql://u@h/db", "postgresql://u@h/db");
	redacts("postgresql:///db?host=/s&password=pw&user=u",
	    "postgresql:///db?host=/s&password=***&user=u");
	redacts("postgresql:///db?password=pw", "postgresql:///db?password=***");
	redacts("postgresql://a:b@h/db?password=c#f",
	    "postgresql://a:***@h/db?password=***#f");
	redacts("sim:pw@x.db", "sim:pw@x.db");
	return tap_done();
}

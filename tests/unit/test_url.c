/* URL parsing, redaction and password files. */
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

#include "simlog.h"
#include "tap.h"
#include "url.h"

static void
good(const char *s, const char *host, int port, const char *path,
     const char *user, const char *pw, int db, const char *shown)
{
	struct simlog_url u;
	struct simlog_err e;
	char buf[256];

	if (!ok(simlog_url_parse(s, &u, &e) == 0, "parse %s", s)) {
		printf("#   %s\n", e.msg);
		return;
	}
	is_str(u.host, host, "%s: host", s);
	ok(u.port == port, "%s: port %d", s, u.port);
	is_str(u.path, path, "%s: path", s);
	is_str(u.user, user, "%s: user", s);
	is_str(u.password, pw, "%s: password", s);
	ok(u.db == db, "%s: db %d", s, u.db);
	simlog_url_format(&u, buf, sizeof(buf));
	is_str(buf, shown, "%s: shown redacted", s);
	if (pw != NULL)
		ok(strstr(buf, pw) == NULL, "%s: password not shown", s);
	simlog_url_clear(&u);
}

static void
bad(const char *s, const char *why)
{
	struct simlog_url u;
	struct simlog_err e;

	e.msg[0] = '\0';
	ok(simlog_url_parse(s, &u, &e) < 0 && strstr(e.msg, why) != NULL,
	    "reject %s (%s): %s", s, why, e.msg);
	ok(e.code == SIMLOG_EX_USAGE, "reject %s: usage class", s);
}

int
main(void)
{
	good("redis://127.0.0.1:6379/0", "127.0.0.1", 6379, NULL, NULL, NULL,
	    0, "redis://127.0.0.1:6379/0");
	good("redis://localhost", "localhost", 6379, NULL, NULL, NULL, 0,
	    "redis://localhost:6379/0");
	good("redis://h:7000/3", "h", 7000, NULL, NULL, NULL, 3,
	    "redis://h:7000/3");
	good("redis://:s3cret@h/2", "h", 6379, NULL, NULL, "s3cret", 2,
	    "redis://:***@h:6379/2");
	good("redis://alice:s3cret@h:1", "h", 1, NULL, "alice", "s3cret", 0,
	    "redis://alice:***@h:1/0");
	good("redis://alice:p%40ss%3Aw@h", "h", 6379, NULL, "alice", "p@ss:w",
	    0, "redis://alice:***@h:6379/0");
	good("redis://:p@ss@h", "h", 6379, NULL, NULL, "p@ss", 0,
	    "redis://:***@h:6379/0");
	good("redis://[::1]:6380/1", "::1", 6380, NULL, NULL, NULL, 1,
	    "redis://[::1]:6380/1");
	good("redis://h/", "h", 6379, NULL, NULL, NULL, 0, "redis://h:6379/0");
	good("unix:///tmp/r.sock", NULL, 6379, "/tmp/r.sock", NULL, NULL, 0,
	    "unix:///tmp/r.sock");
	good("unix:///tmp/r.sock?db=4", NULL, 6379, "/tmp/r.sock", NULL, NULL,
	    4, "unix:///tmp/r.sock?db=4");

	bad("http://h", "redis://, rediss://, unix://");
	bad("redis://", "no host");
	bad("redis://h:0", "port");
	bad("redis://h:70000", "port");
	bad("redis://h:x", "port");
	bad("redis://h/db", "database");
	bad("redis://h/-1", "database");
	bad("redis://user@h", "user info");
	bad("redis://:%zz@h", "escape");
	bad("redis://:%00@h", "escape");
	bad("redis://[::1", "unterminated");
	bad("unix://relative.sock", "absolute");
	bad("unix:///s?database=1", "db=N");

	/* TLS, sentinel and cluster forms. */
	good("rediss://h:6380/1", "h", 6380, NULL, NULL, NULL, 1,
	    "rediss://h:6380/1");
	{
		struct simlog_url u;
		struct simlog_err e;
		char buf[256];

		ok(simlog_url_parse("redis-cluster://:pw@a:7000,b:7001,[::1]:7002",
		    &u, &e) == 0, "cluster URL: %s", e.msg);
		ok(u.topo == SIMLOG_TOPO_CLUSTER && !u.tls, "cluster: topology");
		ok(u.naddrs == 3, "cluster: three seeds");
		is_str(u.addrs[2].host, "::1", "cluster: IPv6 seed");
		ok(u.addrs[1].port == 7001, "cluster: second port");
		is_str(u.password, "pw", "cluster: password");
		simlog_url_format(&u, buf, sizeof(buf));
		is_str(buf, "redis-cluster://:***@a:7000,b:7001,[::1]:7002",
		    "cluster: shown redacted, no database");
		simlog_url_clear(&u);

		ok(simlog_url_parse("rediss-sentinel://s1:26379,s2:26380/mymaster/3",
		    &u, &e) == 0, "sentinel URL: %s", e.msg);
		ok(u.topo == SIMLOG_TOPO_SENTINEL && u.tls, "sentinel: TLS");
		is_str(u.master, "mymaster", "sentinel: master name");
		ok(u.db == 3 && u.naddrs == 2, "sentinel: db and addresses");
		simlog_url_format(&u, buf, sizeof(buf));
		is_str(buf, "rediss-sentinel://s1:26379,s2:26380/mymaster/3",
		    "sentinel: shown");
		simlog_url_clear(&u);
	}
	bad("redis-sentinel://s1:26379", "names the master");
	bad("redis-sentinel://s1:26379/", "names the master");
	bad("redis-cluster://a:7000,b", "needs its port");
	bad("redis-cluster://a:7000,", "comma");
	bad("redis-cluster://a:7000/1", "only database 0");
	{
		char buf[256];

		simlog_url_redact("redis://user:s3cret@h:1/x?y", buf, sizeof(buf));
		is_str(buf, "redis://user:***@h:1/x?y", "redact: user and "
		    "password");
		simlog_url_redact("redis://:p@ss@h", buf, sizeof(buf));
		is_str(buf, "redis://:***@h", "redact: '@' in the password");
		simlog_url_redact("redis-cluster://a:1,b:2", buf, sizeof(buf));
		is_str(buf, "redis-cluster://a:1,b:2", "redact: ports are not "
		    "passwords");
		simlog_url_redact("garbage", buf, sizeof(buf));
		is_str(buf, "garbage", "redact: no scheme");
	}

	ok(simlog_url_has_password("redis://:x@h"), "has password");
	ok(!simlog_url_has_password("redis://h"), "has no password");

	{
		char path[] = "/tmp/simlog-pw-XXXXXX";
		int fd = mkstemp(path);
		struct simlog_err e;
		char *pw;

		ok(fd >= 0 && write(fd, "hunter2\r\nsecond\n", 16) == 16,
		    "write password file");
		close(fd);
		pw = simlog_url_password_file(path, &e);
		is_str(pw, "hunter2", "password file: first line, CRLF cut");
		free(pw);
		fd = open(path, O_WRONLY | O_TRUNC);
		close(fd);
		pw = simlog_url_password_file(path, &e);
		ok(pw == NULL && strstr(e.msg, "empty") != NULL,
		    "empty password file refused");
		unlink(path);
		pw = simlog_url_password_file(path, &e);
		ok(pw == NULL && e.code == SIMLOG_EX_NOINPUT,
		    "missing password file refused");
	}
	return tap_done();
}

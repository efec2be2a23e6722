/* Unit tests for health.h (lib/info.c, clients.c, latency.c, check.c):
 * INFO fields, server and pool figures, latency statistics, CLIENT LIST
 * counting and the buffer-safety checks. */
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "simlog_health.h"
#include "tap.h"

static const char info_base[] =
    "# Server\r\n"
    "redis_version:7.0.15\r\n"
    "redis_mode:standalone\r\n"
    "uptime_in_seconds:4242\r\n"
    "\r\n"
    "# Clients\r\n"
    "connected_clients:3\r\n"
    "maxclients:10000\r\n"
    "blocked_clients:1\r\n"
    "\r\n"
    "# Memory\r\n"
    "used_memory:1048576\r\n"
    "used_memory_human:1.00M\r\n"
    "maxmemory:67108864\r\n"
    "maxmemory_human:64.00M\r\n"
    "maxmemory_policy:noeviction\r\n"
    "\r\n"
    "# Persistence\r\n"
    "aof_enabled:1\r\n"
    "\r\n"
    "# Stats\r\n"
    "total_commands_processed:123456\r\n"
    "instantaneous_ops_per_sec:77\r\n"
    "rejected_connections:5\r\n"
    "\r\n"
    "# Replication\r\n"
    "role:master\r\n";

/* base with its line "field:..." replaced by "field:value"; two static
 * buffers in turn, so that one result can be the next one's base. */
static const char *
set(const char *base, const char *field, const char *value)
{
	static char bufs[2][4096];
	static int turn;
	char *buf = bufs[turn ^= 1];
	const char *p = strstr(base, field), *eol;
	size_t n;

	if (p == NULL)
		abort();
	eol = strstr(p, "\r\n");
	n = (size_t)(p - base);
	memcpy(buf, base, n);
	snprintf(buf + n, sizeof(bufs[0]) - n, "%s:%s%s", field, value, eol);
	return buf;
}

static const char *
with(const char *field, const char *value)
{
	return set(info_base, field, value);
}

static void
test_info_fields(void)
{
	const char *v;
	size_t len;
	long long n;
	char s[16];

	v = simlog_info_field(info_base, "maxmemory", &len);
	ok(v != NULL && len == 8 && strncmp(v, "67108864", 8) == 0,
	    "info: maxmemory is not confused with maxmemory_human/policy");
	v = simlog_info_field(info_base, "maxmemory_policy", &len);
	ok(v != NULL && len == 10 && strncmp(v, "noeviction", 10) == 0,
	    "info: maxmemory_policy, CR left out");
	ok(simlog_info_field(info_base, "memory", &len) == NULL,
	    "info: a field name's tail is not a field");
	ok(simlog_info_field(info_base, "redis_versio", &len) == NULL,
	    "info: a field name's head is not a field");
	ok(simlog_info_field(info_base, "# Server", &len) == NULL,
	    "info: section headers are not fields");
	ok(simlog_info_ll(info_base, "redis_version", &n) < 0 && n == -1,
	    "info: a non-number is -1");
	ok(simlog_info_ll(info_base, "no_such_field", &n) < 0 && n == -1,
	    "info: an absent field is -1");
	ok(simlog_info_ll(info_base, "role", &n) < 0, "info: last line, text");
	ok(simlog_info_str(info_base, "role", s, sizeof(s)) == 0 &&
	    strcmp(s, "master") == 0, "info: last line read whole");
	ok(simlog_info_str(info_base, "redis_version", s, 4) == 0 &&
	    strcmp(s, "7.0") == 0, "info: a long value is truncated");
	ok(simlog_info_ll("a:1\nb:2", "b", &n) == 0 && n == 2,
	    "info: LF line ends and no final newline");
	ok(simlog_info_ll("a:1\r\nb:", "b", &n) < 0,
	    "info: an empty value is not a number");
	ok(simlog_info_field(NULL, "a", &len) == NULL, "info: NULL text");
}

static void
test_server(void)
{
	struct simlog_server s;

	simlog_info_server(info_base, &s);
	is_str(s.version, "7.0.15", "server: version");
	is_str(s.mode, "standalone", "server: mode");
	is_str(s.role, "master", "server: role");
	ok(s.uptime == 4242, "server: uptime");
	simlog_info_server(with("role", "slave"), &s);
	is_str(s.role, "replica", "server: slave is reported as replica");
	simlog_info_server("# Server\r\nredis_version:7.0.15\r\n"
	    "redis_mode:sentinel\r\n", &s);
	is_str(s.role, "sentinel", "server: a sentinel's role");
	ok(s.uptime == -1, "server: no uptime is -1");
	simlog_info_server("redis_version:2.8.0\r\n", &s);
	is_str(s.mode, "standalone", "server: no redis_mode is standalone");
	is_str(s.role, "", "server: no role is empty");
}

static void
test_pool(void)
{
	struct simlog_pool p;

	simlog_info_pool(info_base, &p);
	ok(p.connected_clients == 3 && p.maxclients == 10000 &&
	    p.blocked_clients == 1 && p.rejected_connections == 5 &&
	    p.ops_per_sec == 77 && p.total_commands == 123456 &&
	    p.used_memory == 1048576 && p.maxmemory == 67108864,
	    "pool: every figure");
	simlog_info_pool("connected_clients:1\r\n", &p);
	ok(p.connected_clients == 1 && p.maxclients == -1 &&
	    p.rejected_connections == -1, "pool: absent figures are -1");
}

static int
near(double a, double b)
{
	return a - b < 1e-9 && b - a < 1e-9;
}

static void
test_latency(void)
{
	struct simlog_latency l;
	double v[100], one[1] = { 2.5 };
	size_t i;

	/* 100 samples 1..100, shuffled. */
	for (i = 0; i < 100; i++)
		v[i] = (double)((i * 37) % 100 + 1);
	simlog_latency_stats(v, 100, &l);
	ok(l.n == 100 && near(l.min, 1) && near(l.max, 100),
	    "latency: min and max");
	ok(near(l.avg, 50.5), "latency: avg");
	ok(near(l.p50, 50), "latency: p50 is the 50th of 100 (nearest rank)");
	ok(near(l.p99, 99), "latency: p99 is the 99th of 100");
	ok(v[0] == 1 && v[99] == 100, "latency: samples sorted in place");

	simlog_latency_stats(one, 1, &l);
	ok(l.n == 1 && near(l.min, 2.5) && near(l.p50, 2.5) &&
	    near(l.p99, 2.5) && near(l.max, 2.5) && near(l.avg, 2.5),
	    "latency: one sample is every statistic");

	double three[3] = { 3, 1, 2 };
	simlog_latency_stats(three, 3, &l);
	ok(near(l.p50, 2) && near(l.p99, 3), "latency: 3 samples");

	double ten[10] = { 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 };
	simlog_latency_stats(ten, 10, &l);
	ok(near(l.p50, 5) && near(l.p99, 10),
	    "latency: 10 samples: p50 rank 5, p99 rank 10");

	simlog_latency_stats(NULL, 0, &l);
	ok(l.n == 0 && l.min == 0 && l.max == 0, "latency: no samples");
	ok(simlog_latency_percentile(NULL, 0, 50) == 0,
	    "latency: percentile of none");

	double s1000[1000];
	for (i = 0; i < 1000; i++)
		s1000[i] = (double)(1000 - i);
	ok(near(simlog_latency_percentile((simlog_latency_stats(s1000, 1000, &l),
	    s1000), 1000, 99.9), 999), "latency: p99.9 of 1000 is rank 999");
	ok(near(l.p99, 990), "latency: p99 of 1000 is rank 990");
}

static const char clients_text[] =
    "id=3 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=8 name=simlog-push "
    "age=1 idle=0 flags=N db=0 cmd=eval user=default redir=-1 resp=2\n"
    "id=4 addr=127.0.0.1:5001 laddr=127.0.0.1:6379 fd=9 name= age=1 "
    "idle=0 flags=N db=0 cmd=ping\n"
    "id=5 addr=/tmp/odd fd=3 name=x/sock:0 laddr=/tmp/odd fd=3 name=x/sock:0 "
    "fd=10 name=simlog-push age=2 cmd=client|list\n"
    "id=6 addr=127.0.0.1:5003 laddr=127.0.0.1:6379 fd=11 name=worker "
    "age=1 cmd=NULL\n"
    "id=7 addr=127.0.0.1:5004 laddr=127.0.0.1:6379 fd=12 name= age=1\n";

static void
test_clients(void)
{
	struct simlog_clients c;
	struct simlog_err e;

	ok(simlog_clients_parse(clients_text, strlen(clients_text), &c, &e) == 0,
	    "clients: parsed");
	ok(c.total == 5 && c.n == 3, "clients: 5 connections, 3 names");
	if (c.n == 3) {
		is_str(c.v[0].name, "", "clients: unnamed sorts first");
		ok(c.v[0].count == 2, "clients: 2 unnamed");
		is_str(c.v[1].name, "simlog-push", "clients: simlog-push");
		ok(c.v[1].count == 2,
		    "clients: a socket path holding ' fd=N name=' is not a name");
		is_str(c.v[2].name, "worker", "clients: worker");
	}
	simlog_clients_clear(&c);
	simlog_clients_clear(&c);
	simlog_clients_clear(NULL);
	ok(1, "clients: clear twice and clear(NULL)");

	ok(simlog_clients_parse("", 0, &c, &e) == 0 && c.total == 0 &&
	    c.n == 0, "clients: empty list");
	simlog_clients_clear(&c);
	ok(simlog_clients_parse("id=1 addr=x\r\n", 13, &c, &e) < 0 &&
	    strstr(e.msg, "CLIENT LIST") != NULL,
	    "clients: a line without a name is an error");
	const char crlf[] = "id=1 addr=a fd=-1 name=lua\r\n";
	ok(simlog_clients_parse(crlf, strlen(crlf), &c, &e) == 0 &&
	    c.n == 1 && strcmp(c.v[0].name, "lua") == 0,
	    "clients: fd=-1 and CR LF");
	simlog_clients_clear(&c);
}

/* The finding for setting, or NULL. */
static const struct simlog_finding *
find(const struct simlog_finding *f, size_t n, const char *setting)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(f[i].setting, setting) == 0)
			return &f[i];
	return NULL;
}

static void
test_check(void)
{
	struct simlog_finding f[SIMLOG_MAX_FINDINGS];
	const struct simlog_finding *x;
	size_t n;
	char buf[4096];

	n = simlog_check(info_base, "", f, SIMLOG_MAX_FINDINGS);
	ok(n == 0, "check: AOF, noeviction, a maxmemory with room: no findings");

	n = simlog_check(with("maxmemory_policy", "allkeys-lru"), "", f,
	    SIMLOG_MAX_FINDINGS);
	x = find(f, n, "maxmemory-policy");
	ok(n == 1 && x != NULL && x->severity == SIMLOG_SEV_PROBLEM &&
	    strcmp(x->value, "allkeys-lru") == 0 && strstr(x->why, "evict"),
	    "check: allkeys-lru is a problem");
	is_str(simlog_ping_severity_name(x ? x->severity : SIMLOG_SEV_WARNING),
	    "problem", "check: severity name");
	n = simlog_check(with("maxmemory_policy", "volatile-lru"), "", f,
	    SIMLOG_MAX_FINDINGS);
	ok(n == 0, "check: volatile-lru never evicts simlog's keys");

	n = simlog_check(with("aof_enabled", "0"), "", f, SIMLOG_MAX_FINDINGS);
	x = find(f, n, "appendonly");
	ok(n == 1 && x != NULL && x->severity == SIMLOG_SEV_WARNING,
	    "check: no AOF and no RDB is a warning");
	is_str(simlog_ping_severity_name(SIMLOG_SEV_WARNING), "warning",
	    "check: warning's name");
	n = simlog_check(with("aof_enabled", "0"), "3600 1 300 100", f,
	    SIMLOG_MAX_FINDINGS);
	ok(n == 0, "check: RDB snapshots alone are persistence");
	n = simlog_check(with("aof_enabled", "0"), NULL, f,
	    SIMLOG_MAX_FINDINGS);
	x = find(f, n, "appendonly");
	ok(n == 1 && x != NULL && strstr(x->why, "could not be read"),
	    "check: an unreadable save schedule is said so");

	n = simlog_check(with("maxmemory", "0"), "", f, SIMLOG_MAX_FINDINGS);
	x = find(f, n, "maxmemory");
	ok(n == 1 && x != NULL && x->severity == SIMLOG_SEV_WARNING &&
	    strstr(x->why, "no memory limit"), "check: no maxmemory");
	n = simlog_check(with("used_memory", "53687092"), "", f,
	    SIMLOG_MAX_FINDINGS);
	x = find(f, n, "maxmemory");
	ok(n == 1 && x != NULL && strstr(x->why, "80 %"),
	    "check: 80 %% of maxmemory used is little headroom");
	n = simlog_check(with("used_memory", "53687090"), "", f,
	    SIMLOG_MAX_FINDINGS);
	ok(n == 0, "check: just under 80 %% is fine");

	n = simlog_check(with("maxclients", "2"), "", f, SIMLOG_MAX_FINDINGS);
	x = find(f, n, "maxclients");
	ok(n == 1 && x != NULL && strcmp(x->value, "2") == 0 &&
	    strstr(x->why, "3 of 2"), "check: maxclients 2 is little");
	n = simlog_check(with("maxclients", "35"), "", f, SIMLOG_MAX_FINDINGS);
	ok(n == 0, "check: 32 free slots is enough");
	n = simlog_check(with("maxclients", "34"), "", f, SIMLOG_MAX_FINDINGS);
	ok(n == 1, "check: 31 free slots is a warning");
	snprintf(buf, sizeof(buf), "%s", set(with("maxclients", "1000"),
	    "connected_clients", "901"));
	n = simlog_check(buf, "", f, SIMLOG_MAX_FINDINGS);
	ok(n == 1 && find(f, n, "maxclients") != NULL,
	    "check: under 10 %% free is a warning");

	n = simlog_check(with("role", "slave"), "", f, SIMLOG_MAX_FINDINGS);
	x = find(f, n, "role");
	ok(n == 1 && x != NULL && x->severity == SIMLOG_SEV_PROBLEM &&
	    strcmp(x->value, "replica") == 0, "check: a replica is a problem");
	n = simlog_check(with("redis_mode", "cluster"), "", f,
	    SIMLOG_MAX_FINDINGS);
	x = find(f, n, "mode");
	ok(n == 1 && x != NULL && x->severity == SIMLOG_SEV_PROBLEM &&
	    strstr(x->why, "CROSSSLOT"), "check: cluster mode is a problem");
	n = simlog_check("redis_version:7.0.15\r\nredis_mode:sentinel\r\n", NULL,
	    f, SIMLOG_MAX_FINDINGS);
	ok(n == 1 && strcmp(f[0].setting, "mode") == 0 &&
	    strcmp(f[0].value, "sentinel") == 0, "check: a sentinel, and only that");

	snprintf(buf, sizeof(buf), "%s", with("maxmemory_policy", "allkeys-lfu"));
	n = simlog_check(buf, "", f, 1);
	ok(n == 1, "check: never more findings than room");
	n = simlog_check("", "", f, SIMLOG_MAX_FINDINGS);
	ok(n == 0, "check: nothing known, nothing found");
}

int
main(void)
{
	test_info_fields();
	test_server();
	test_pool();
	test_latency();
	test_clients();
	test_check();
	return tap_done();
}

/*
 * A connection's failures, made to happen at once by the fault transport
 * (fault.h) in front of a real redis-server: refused and hanging
 * connects, a connection cut in the middle of a pipeline or of the hello,
 * replies frozen, dropped or late, and the retry policy over them.  Each
 * test says what the server took, counted by the server itself.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "fault.h"
#include "net/conn.h"
#include "policy.h"
#include "server.h"
#include "simlog.h"
#include "tap.h"

static struct server srv;

static void
conn_new(struct simlog_conn *c, double timeout,
	 const volatile sig_atomic_t *stop)
{
	struct simlog_conn_opts o;
	struct simlog_err e;

	memset(&o, 0, sizeof(o));
	o.url = srv.url;
	o.timeout = timeout;
	o.name = "unit";
	o.stop = stop;
	if (simlog_conn_init(c, &o, &e) < 0) {
		printf("Bail out! %s\n", e.msg);
		exit(1);
	}
}

/* The counter key as the server has it (0 when unset). */
static long long
counter(void)
{
	redisReply *r = server_cmd(&srv, "GET n");
	long long v = r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;

	freeReplyObject(r);
	return v;
}

static void
counter_reset(void)
{
	freeReplyObject(server_cmd(&srv, "DEL n"));
}

static int
ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

static redisReply *
incr(struct simlog_conn *c, struct simlog_err *e)
{
	const char *av[2] = { "INCR", "n" };

	return simlog_cmd(c, e, 2, av, NULL);
}

static int
op_incr(struct simlog_conn *c, void *arg, struct simlog_err *e)
{
	redisReply *r = incr(c, e);

	(void)arg;
	freeReplyObject(r);
	return r != NULL ? 0 : -1;
}

static void
test_refused(void)
{
	struct simlog_conn c;
	struct simlog_policy p;
	struct simlog_err e;

	conn_new(&c, 2, NULL);
	fault_arm(FAULT_REFUSE, 1, 0, 0);
	ok(simlog_conn_open(&c, &e) < 0 && e.code == SIMLOG_EX_UNAVAILABLE &&
	    strncmp(e.msg, "cannot connect to ", 18) == 0 &&
	    ends_with(e.msg, ": connection refused") && !e.stopped,
	    "a refused connect: unavailable, and says so (%s)", e.msg);
	ok(fault_struck() == 1, "one connect struck");

	/* The policy tries again, and the second connect is let through. */
	fault_arm(FAULT_REFUSE, 1, 1, 0);
	simlog_policy_init(&p, &e);
	p.retry.tries = 2;
	p.retry.base = p.retry.cap = 0.001;
	counter_reset();
	ok(simlog_policy_run(&c, &p, 0, op_incr, NULL, &e) == 0 &&
	    p.retries == 1 && fault_connects() == 2 && counter() == 1,
	    "the policy retries a refused connect: 1 retry, 2 connects, the "
	    "op run once");
	fault_clear();
	simlog_conn_clear(&c);
}

static void
test_hang(void)
{
	struct simlog_conn c;
	struct simlog_err e;
	double t0;

	conn_new(&c, 0.2, NULL);
	fault_arm(FAULT_HANG, 1, 0, 0);
	t0 = simlog_now_mono();
	ok(simlog_conn_open(&c, &e) < 0 && e.code == SIMLOG_EX_UNAVAILABLE &&
	    ends_with(e.msg, ": timed out") && !e.stopped,
	    "a connect that hangs ends at the timeout (%s)", e.msg);
	printf("# hanging connect given up after %.3f s (timeout 0.2 s)\n",
	    simlog_now_mono() - t0);
	fault_clear();
	simlog_conn_clear(&c);
}

/* --- a stop (a signal's flag) ends a hanging connect ---------------------- */

static volatile sig_atomic_t stop_flag;
static volatile int stop_done;
static pthread_t main_thread;

static void
on_usr1(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* Signal the main thread while its connect hangs, again until it has
 * returned: one that lands just before its poll() would only end the wait
 * at the next wake-up. */
static void *
stopper(void *arg)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	(void)arg;
	while (fault_connects() == 0 && !stop_done)
		nanosleep(&ts, NULL);
	while (!stop_done) {
		pthread_kill(main_thread, SIGUSR1);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void
test_stop(void)
{
	struct sigaction sa;
	struct simlog_conn c;
	struct simlog_err e;
	pthread_t th;
	double t0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	main_thread = pthread_self();
	conn_new(&c, 60, &stop_flag);
	fault_arm(FAULT_HANG, 1, 0, 0);
	pthread_create(&th, NULL, stopper, NULL);
	t0 = simlog_now_mono();
	ok(simlog_conn_open(&c, &e) < 0 && e.stopped &&
	    e.code == SIMLOG_EX_TEMPFAIL && ends_with(e.msg, "interrupted"),
	    "a stop ends a connect that hangs, as a stop (%s)", e.msg);
	stop_done = 1;
	pthread_join(th, NULL);
	printf("# stopped after %.3f s (timeout 60 s)\n",
	    simlog_now_mono() - t0);
	fault_clear();
	simlog_conn_clear(&c);
	stop_flag = 0;
}

/* --- replies ------------------------------------------------------------- */

static void
test_cut_pipeline(void)
{
	const char *av[2] = { "INCR", "n" };
	struct simlog_conn c;
	struct simlog_err e;
	redisReply *r;
	int good = 1, i;

	conn_new(&c, 2, NULL);
	counter_reset();
	if (simlog_conn_open(&c, &e) < 0)
		printf("# %s\n", e.msg);
	/* The fifth of ten pipelined commands is cut. */
	fault_arm(FAULT_CUT, 5, 1, 0);
	for (i = 0; i < 10; i++)
		simlog_conn_append(&c, 2, av, NULL, &e);
	simlog_conn_flush(&c, &e);
	for (i = 1; i <= 4; i++) {
		good &= simlog_conn_recv(&c, 0, &r, &e) == 0 &&
		    r->type == REDIS_REPLY_INTEGER && r->integer == i;
		if (r != NULL)
			freeReplyObject(r);
	}
	ok(good, "the replies before the cut come");
	ok(simlog_conn_recv(&c, 0, &r, &e) < 0 &&
	    e.code == SIMLOG_EX_UNAVAILABLE &&
	    ends_with(e.msg, "Redis closed the connection") &&
	    simlog_conn_pending(&c) == 0 && !simlog_conn_connected(&c),
	    "the cut: unavailable, the replies owed are lost, the connection "
	    "closed (%s)", e.msg);
	ok(counter() == 5, "the server took the command cut and none after "
	    "it (%lld)", counter());
	ok(simlog_conn_open(&c, &e) == 0 && (r = incr(&c, &e)) != NULL &&
	    r->integer == 6, "a new connection works");
	freeReplyObject(r);
	simlog_conn_clear(&c);
}

static void
test_cut_hello(void)
{
	struct simlog_conn c;
	struct simlog_err e;

	conn_new(&c, 2, NULL);
	fault_arm(FAULT_CUT, 1, 1, 0);
	ok(simlog_conn_open(&c, &e) < 0 && e.code == SIMLOG_EX_UNAVAILABLE &&
	    strstr(e.msg, "Redis closed the connection") != NULL,
	    "a connection cut during the hello (%s)", e.msg);
	ok(simlog_conn_open(&c, &e) == 0, "the next connect works");
	fault_clear();
	simlog_conn_clear(&c);
}

static void
test_silence(enum fault_kind kind, const char *what, long long taken)
{
	struct simlog_conn c;
	struct simlog_err e;
	redisReply *r;

	conn_new(&c, 0.2, NULL);
	counter_reset();
	simlog_conn_open(&c, &e);
	fault_arm(kind, 1, 0, 0);
	r = incr(&c, &e);
	ok(r == NULL && e.code == SIMLOG_EX_UNAVAILABLE &&
	    strcmp(e.msg, "INCR: timed out after 0.2 s") == 0,
	    "%s: the command times out (%s)", what, e.msg);
	fault_clear();
	ok(counter() == taken, "%s: the server took %lld command(s)", what,
	    taken);
	freeReplyObject(r);
	simlog_conn_clear(&c);
}

static void
test_delay(void)
{
	struct simlog_conn c;
	struct simlog_err e;
	redisReply *r;
	double t0;

	conn_new(&c, 2, NULL);
	counter_reset();
	simlog_conn_open(&c, &e);
	fault_arm(FAULT_DELAY, 1, 1, 0.05);
	t0 = simlog_now_mono();
	r = incr(&c, &e);
	ok(r != NULL && r->integer == 1, "a reply late by less than the "
	    "timeout is taken");
	printf("# the late reply came after %.3f s (held 0.05 s)\n",
	    simlog_now_mono() - t0);
	freeReplyObject(r);
	simlog_conn_clear(&c);

	conn_new(&c, 0.1, NULL);
	simlog_conn_open(&c, &e);
	fault_arm(FAULT_DELAY, 1, 1, 0.5);
	r = incr(&c, &e);
	ok(r == NULL && strcmp(e.msg, "INCR: timed out after 0.1 s") == 0,
	    "a reply later than the timeout is not waited for (%s)", e.msg);
	ok(counter() == 2, "both commands reached the server");
	fault_clear();
	freeReplyObject(r);
	simlog_conn_clear(&c);
}

/* The policy over a command cut after the server took it: run again
 * (twice applied), unless the op may run only once. */
static void
test_policy_cut(void)
{
	struct simlog_conn c;
	struct simlog_policy p;
	struct simlog_err e;

	conn_new(&c, 2, NULL);
	counter_reset();
	simlog_policy_init(&p, &e);
	p.retry.tries = 2;
	p.retry.base = p.retry.cap = 0.001;
	simlog_conn_open(&c, &e);
	fault_arm(FAULT_CUT, 1, 1, 0);
	ok(simlog_policy_run(&c, &p, 0, op_incr, NULL, &e) == 0 &&
	    p.retries == 1 && counter() == 2, "a cut op is run again on a new "
	    "connection (the server took it twice)");

	counter_reset();
	simlog_policy_init(&p, &e);
	p.retry.tries = 2;
	p.retry.base = p.retry.cap = 0.001;
	fault_arm(FAULT_CUT, 1, 1, 0);
	ok(simlog_policy_run(&c, &p, SIMLOG_RUN_ONCE, op_incr, NULL, &e) < 0 &&
	    p.retries == 0 && counter() == 1 &&
	    e.code == SIMLOG_EX_UNAVAILABLE, "SIMLOG_RUN_ONCE: a cut op is "
	    "not run again (%s)", e.msg);
	fault_clear();
	simlog_conn_clear(&c);
}

int
main(void)
{
	double t0 = simlog_now_mono();

	server_start_or_skip(&srv, NULL);
	fault_install();
	test_refused();
	test_hang();
	test_stop();
	test_cut_pipeline();
	test_cut_hello();
	test_silence(FAULT_FREEZE, "frozen", 1);
	test_silence(FAULT_DROP, "dropped", 0);
	test_delay();
	test_policy_cut();
	fault_remove();
	server_stop(&srv);
	printf("# %.2f s in all\n", simlog_now_mono() - t0);
	return tap_done();
}

/*
 * Cluster routing (lib/net/cluster.c) through failures the fault
 * transport (fault.h) makes at once, on a cluster of two real nodes: A
 * serves every slot, then hands one slot to B.  A command on that slot
 * is redirected (MOVED) to B; a connect to B that is refused fails the
 * command as transient, and the retry policy's next attempt reads the
 * slot map again and lands it on B, once.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "fault.h"
#include "net/conn.h"
#include "net/conn_int.h"
#include "policy.h"
#include "server.h"
#include "simlog.h"
#include "tap.h"

static struct server a, b;
static int port_a, port_b;
static char id_a[64], id_b[64];

/* A cluster node on 127.0.0.1 at a free port (and port + 10000, its bus). */
static int
node_start(struct server *s, int *port)
{
	static unsigned seed;
	char ports[16];

	if (seed == 0)
		seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	for (int try = 0; try < 10; try++) {
		const char *extra[] = { "--port", ports, "--bind", "127.0.0.1",
		    "--cluster-enabled", "yes", "--cluster-config-file",
		    "nodes.conf", "--cluster-node-timeout", "5000", NULL };

		*port = 23000 + (int)(rand_r(&seed) % 9000);
		snprintf(ports, sizeof(ports), "%d", *port);
		if (server_start(s, extra) == 0)
			return 0;
	}
	return -1;
}

static int
reply_ok(redisReply *r)
{
	int good = r != NULL && r->type != REDIS_REPLY_ERROR;

	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		printf("# %s\n", r->str);
	freeReplyObject(r);
	return good;
}

static void
my_id(struct server *s, char *id)
{
	redisReply *r = server_cmd(s, "CLUSTER MYID");

	snprintf(id, 64, "%s", r && r->type == REDIS_REPLY_STRING ? r->str :
	    "");
	freeReplyObject(r);
}

/* Whether s knows the other node and sees the cluster as ok. */
static int
agreed(struct server *s)
{
	redisReply *r = server_cmd(s, "CLUSTER INFO");
	int good = r != NULL && r->type == REDIS_REPLY_STRING &&
	    strstr(r->str, "cluster_state:ok") != NULL &&
	    strstr(r->str, "cluster_known_nodes:2") != NULL;

	freeReplyObject(r);
	return good;
}

static int
cluster_up(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	if (node_start(&a, &port_a) < 0 || node_start(&b, &port_b) < 0)
		return -1;
	my_id(&a, id_a);
	my_id(&b, id_b);
	if (!reply_ok(server_cmd(&a, "CLUSTER ADDSLOTSRANGE 0 16383")) ||
	    !reply_ok(server_cmd(&a, "CLUSTER MEET 127.0.0.1 %d", port_b)))
		return -1;
	/* The bound only catches a cluster that never forms. */
	for (int i = 0; i < 3000; i++) {
		if (agreed(&a) && agreed(&b))
			return 0;
		nanosleep(&ts, NULL);
	}
	printf("# the two nodes did not agree in 30 s\n");
	return -1;
}

/* Hand slot (empty) from A to B, as a resharding does. */
static int
move_slot(unsigned slot)
{
	return reply_ok(server_cmd(&b, "CLUSTER SETSLOT %u IMPORTING %s", slot,
	    id_a)) && reply_ok(server_cmd(&a, "CLUSTER SETSLOT %u MIGRATING "
	    "%s", slot, id_b)) && reply_ok(server_cmd(&b, "CLUSTER SETSLOT %u "
	    "NODE %s", slot, id_b)) && reply_ok(server_cmd(&a, "CLUSTER "
	    "SETSLOT %u NODE %s", slot, id_b)) ? 0 : -1;
}

static long long
get_on(struct server *s, const char *key)
{
	redisReply *r = server_cmd(s, "GET %s", key);
	long long v = r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;

	freeReplyObject(r);
	return v;
}

static const char *moved_key = "{moved}:n";

static int
op_incr(struct simlog_conn *c, void *arg, struct simlog_err *e)
{
	const char *av[2] = { "INCR", arg };
	redisReply *r = simlog_cmd(c, e, 2, av, NULL);

	freeReplyObject(r);
	return r != NULL ? 0 : -1;
}

int
main(void)
{
	struct simlog_conn_opts o;
	struct simlog_conn c;
	struct simlog_policy p;
	struct simlog_err e;
	char url[64];
	unsigned slot = simlog_net_cluster_slot(moved_key, strlen(moved_key));
	double t0 = simlog_now_mono();
	int rc;

	server_start_or_skip(&a, NULL);
	server_stop(&a);
	if (cluster_up() < 0) {
		printf("Bail out! no cluster\n");
		return 1;
	}
	fault_install();
	snprintf(url, sizeof(url), "redis-cluster://127.0.0.1:%d", port_a);
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.timeout = 2;
	simlog_conn_init(&c, &o, &e);
	rc = simlog_conn_open(&c, &e);
	ok(rc == 0 && op_incr(&c, (void *)"{a}:n", &e) == 0 &&
	    get_on(&a, "{a}:n") == 1, "the slot map read, a command on A");

	/* The conn's map still says A; A now answers MOVED to B, and B
	 * refuses the connection once. */
	ok(move_slot(slot) == 0, "slot %u handed to B", slot);
	fault_arm(FAULT_REFUSE, 1, 1, 0);
	rc = op_incr(&c, (void *)moved_key, &e);
	ok(rc < 0 && e.code == SIMLOG_EX_UNAVAILABLE &&
	    strstr(e.msg, "connection refused") != NULL &&
	    simlog_policy_transient(&e), "redirected to a node that refuses: a "
	    "transient failure (%s)", e.msg);
	ok(get_on(&a, moved_key) == 0 && get_on(&b, moved_key) == 0,
	    "the command ran nowhere");

	fault_arm(FAULT_REFUSE, 1, 1, 0);
	simlog_policy_init(&p, &e);
	p.retry.tries = 2;
	p.retry.base = p.retry.cap = 0.001;
	rc = simlog_policy_run(&c, &p, 0, op_incr, (void *)moved_key, &e);
	ok(rc == 0 && p.retries == 1 && get_on(&b, moved_key) == 1 &&
	    get_on(&a, moved_key) == 0, "the policy's retry reconnects, "
	    "follows the new slot map to B and runs the command there once "
	    "(%llu retry)", p.retries);
	fault_clear();

	/* A pipeline whose replies come from both nodes, cut on B. */
	{
		const char *av1[2] = { "INCR", "{a}:n" };
		const char *av2[2] = { "INCR", moved_key };
		redisReply *r = NULL;
		int good;

		simlog_conn_close(&c);
		simlog_conn_open(&c, &e);
		simlog_conn_append(&c, 2, av1, NULL, &e);
		simlog_conn_append(&c, 2, av2, NULL, &e);
		simlog_conn_append(&c, 2, av1, NULL, &e);
		/* Connects are done; the commands are counted as they are
		 * written, A's two (node 0 is flushed first), then B's:
		 * the third is cut. */
		fault_arm(FAULT_CUT, 3, 1, 0);
		simlog_conn_flush(&c, &e);
		good = simlog_conn_recv(&c, 0, &r, &e) == 0 &&
		    r->integer == 2;
		freeReplyObject(r);
		r = NULL;
		ok(good && simlog_conn_recv(&c, 0, &r, &e) < 0 &&
		    e.code == SIMLOG_EX_UNAVAILABLE &&
		    simlog_conn_pending(&c) == 0, "a pipeline over two nodes, "
		    "cut on B: A's reply before it comes, then the failure, "
		    "and no reply is owed any more (%s)", e.msg);
		freeReplyObject(r);
		ok(get_on(&b, moved_key) == 2 && get_on(&a, "{a}:n") == 3,
		    "B took the command cut, A the one behind it");
		fault_clear();
	}
	simlog_conn_clear(&c);
	fault_remove();
	server_stop(&a);
	server_stop(&b);
	printf("# %.2f s in all\n", simlog_now_mono() - t0);
	return tap_done();
}

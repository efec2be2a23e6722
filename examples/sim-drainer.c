/*
 * sim-drainer: move a simulation's records from Redis into a database
 * through libsimlog's drainer (libsimlog(3)), where another program
 * would run simlog-drain(1): exactly once, even when it is stopped or
 * killed part-way.
 *
 *   cc -o sim-drainer sim-drainer.c $(pkg-config --cflags --libs simlog)
 *   SIMLOG_SIM=run42 ./sim-writer 4 100
 *   ./sim-drainer results.db run42
 *
 * Usage: sim-drainer [-f] DB [SIM].  DB is an SQLite file or a
 * postgresql:// URL; without SIM every simulation is drained.  With -f
 * it goes on draining records as they arrive until SIGINT or SIGTERM.
 *
 * It prints what landed where, one line per simulation and record type
 * ("SIM TYPE TABLE ROWS"), then a line of totals, and exits with the
 * drainer's status: 0 all drained, 65 undecodable entries set aside,
 * 69 Redis unreachable, 74 a database error, 75 Redis or the database
 * failed part-way, 77 authentication refused; 64 for a bad command
 * line, and the drainer's own code when it cannot start.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <simlog_drain.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Diagnostics from the library: retries, entries set aside, failures. */
static void
say(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "sim-drainer: %s\n", msg);
}

static int
usage(void)
{
	fprintf(stderr, "usage: sim-drainer [-f] DB [SIM]\n");
	return SIMLOG_EX_USAGE;
}

int
main(int argc, char **argv)
{
	struct simlog_drainer_opts o;
	struct simlog_drainer_stats st;
	const struct simlog_drainer_tally *t;
	struct simlog_drainer *d;
	struct simlog_err e;
	struct sigaction sa;
	size_t n;
	int c, status;

	simlog_drainer_opts_init(&o);
	while ((c = getopt(argc, argv, "f")) != -1) {
		if (c != 'f')
			return usage();
		o.follow = 1;
	}
	if (optind >= argc || argc - optind > 2)
		return usage();
	o.db = argv[optind];
	o.sim = argv[optind + 1];	/* NULL when not given */
	o.say = say;
	/* A signal ends the run after the transaction in progress: what
	 * is committed is deleted from Redis, nothing is lost. */
	o.stop = &stop;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if ((d = simlog_drainer_open(&o, &e)) == NULL) {
		fprintf(stderr, "sim-drainer: %s\n", e.msg);
		return e.code;
	}
	status = simlog_drainer_run(d, NULL);
	n = simlog_drainer_tallies(d, &t);
	for (size_t i = 0; i < n; i++)
		printf("%s %s %s %llu\n", t[i].sim, t[i].type, t[i].table,
		    t[i].rows);
	simlog_drainer_stats(d, &st);
	printf("rows %llu, dead letters %llu, batches %llu, found in "
	    "already %llu, set aside %llu, into %s\n", st.rows, st.rejects,
	    st.batches, st.duplicate_batches, st.corrupt, st.db);
	simlog_drainer_close(d);
	if (fflush(stdout) != 0 && status == 0)
		status = SIMLOG_EX_IOERR;
	return status;
}

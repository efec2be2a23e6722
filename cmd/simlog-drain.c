/*
 * simlog-drain: move buffered records from Redis into a database (SQLite
 * or PostgreSQL), exactly once, through libsimlog's drainer (lib/drain.c,
 * which says how); this is its options, its wiring and its output, and
 * the housekeeping of --corrupt and --discard.  See simlog(7).
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "queue.h"
#include "simlog_backlog.h"
#include "simlog_drain.h"
#include "util.h"

enum {
	OPT_BATCH = 0x100, OPT_BUSY_TIMEOUT, OPT_KEEP_BATCHES, OPT_PROGRESS,
	OPT_SCHEMA, OPT_FOLLOW, OPT_COMMIT_INTERVAL, OPT_CORRUPT, OPT_DISCARD,
	OPT_SHARD,
};

static const struct option longopts[] = {
	CLI_CONN_LONGOPTS,
	{ "sim", required_argument, NULL, 's' },
	{ "db", required_argument, NULL, 'd' },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "busy-timeout", required_argument, NULL, OPT_BUSY_TIMEOUT },
	{ "keep-batches", required_argument, NULL, OPT_KEEP_BATCHES },
	{ "quiet", no_argument, NULL, 'q' },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "schema", required_argument, NULL, OPT_SCHEMA },
	{ "follow", no_argument, NULL, 'f' },
	{ "commit-interval", required_argument, NULL, OPT_COMMIT_INTERVAL },
	{ "corrupt", required_argument, NULL, OPT_CORRUPT },
	{ "discard", no_argument, NULL, OPT_DISCARD },
	{ "shard", required_argument, NULL, OPT_SHARD },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(void)
{
	fputs(
"Usage: simlog-drain [options]\n"
"       simlog-drain -s SIM --corrupt list|export|purge\n"
"       simlog-drain -s SIM --discard\n"
"\n"
"Move buffered records from Redis into SQLite or PostgreSQL tables,\n"
"exactly once.\n"
"\n"
"Options:\n"
CLI_CONN_USAGE
"  -s, --sim SIM            drain only this simulation (default: all)\n"
"      --shard I/N          drain only the simulations of shard I of N\n"
"                           (FNV-1a of the name, mod N): N drains split\n"
"                           the work with no overlap\n"
"  -d, --db PATH|URL        SQLite database, or postgresql://... (default\n"
"                           $SIMLOG_DB, else ./simlog.db)\n"
"      --schema FILE|NAME   typed tables from a schema (simlog-schema(5)),\n"
"                           e.g. --schema agentfarm\n"
"      --batch N            records per transaction (default 100000)\n"
"  -f, --follow             keep draining as records arrive; stop on\n"
"                           SIGINT or SIGTERM\n"
"      --commit-interval S  commit at least this often (default 1)\n"
"      --busy-timeout SECS  wait this long for a locked database (default 30)\n"
"      --keep-batches DAYS  remember drained batch ids this long (default 30)\n"
"  -q, --quiet              no progress on stderr\n"
"      --progress           show progress even when stderr is not a terminal\n"
"      --corrupt ACTION     with -s: list, export (JSON lines) or purge the\n"
"                           entries set aside in simlog:{SIM}:corrupt\n"
"      --discard            with -s: delete the simulation's whole backlog\n"
"                           from Redis, undrained\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Exit status: 0 drained, 65 undecodable entries set aside, 66 no such\n"
"database, 69 Redis unreachable, 73 database cannot be created, 74\n"
"database error, 75 Redis or the database failed part-way, 77\n"
"authentication refused; a simulation that fails alone is named and the\n"
"others drained, with the worst status; see simlog-drain(1).\n",
	    stdout);
}

/* What the command line asks for beyond the drainer's options. */
struct args {
	const char *corrupt;		/* --corrupt ACTION */
	int quiet, force_progress, discard, sharded;
};

/* --- the progress line ----------------------------------------------------------- */

static double t0, shown;

static void
show_progress(void *arg, const char *sim, unsigned long long done,
	      unsigned long long expect, int final)
{
	double now = simlog_now_mono(), el = now - t0, rate;
	char eta[32] = "";

	(void)arg;
	if (!final && now - shown < 0.5)
		return;
	shown = now;
	rate = el > 0 ? (double)done / el : 0.0;
	if (!final && rate > 0 && expect > done)
		snprintf(eta, sizeof(eta), ", ETA %.0f s",
		    (double)(expect - done) / rate + 0.5);
	fprintf(stderr, "\rsimlog-drain: %s: %llu of %llu rows (%.0f%%), "
	    "%.0f rows/s%s   ", sim, done, expect, expect ?
	    100.0 * (double)(done > expect ? expect : done) /
	    (double)expect : 100.0, rate, eta);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

/* --- what a run drained ----------------------------------------------------------- */

/* Records of tally i's table that carried fields no column takes, over
 * every simulation; 0 unless i is the table's first tally. */
static unsigned long long
table_unmapped(const struct simlog_drainer_tally *t, size_t n, size_t i)
{
	unsigned long long sum = 0;
	size_t j;

	for (j = 0; j < i; j++)
		if (strcmp(t[j].table, t[i].table) == 0)
			return 0;	/* counted with the first */
	for (j = i; j < n; j++)
		if (strcmp(t[j].table, t[i].table) == 0)
			sum += t[j].unmapped;
	return sum;
}

static void
print_summary(struct simlog_drainer *d)
{
	const struct simlog_drainer_tally *t;
	size_t n = simlog_drainer_tallies(d, &t);
	struct simlog_drainer_stats st;
	struct simlog_jw w;

	simlog_drainer_stats(d, &st);
	simlog_jw_init(&w, stdout);
	for (size_t i = 0; i < n; i++) {
		simlog_jw_begin(&w);
		simlog_jw_kstr(&w, "sim", t[i].sim);
		simlog_jw_kstr(&w, "type", t[i].type);
		simlog_jw_kstr(&w, "table", t[i].table);
		simlog_jw_kuint(&w, "rows", t[i].rows);
		simlog_jw_kuint(&w, "rejects", t[i].rejects);
		simlog_jw_kuint(&w, "waiting", t[i].waiting);
		simlog_jw_kuint(&w, "unmapped", t[i].unmapped);
		simlog_jw_end(&w);
	}
	simlog_jw_begin(&w);
	simlog_jw_kuint(&w, "rows", st.rows);
	simlog_jw_kuint(&w, "rejects", st.rejects);
	simlog_jw_kuint(&w, "waiting", st.waiting);
	simlog_jw_kuint(&w, "resumed", st.resumed);
	/* "unmapped": {"table": records, ...}, per table over the run. */
	simlog_jw_key(&w, "unmapped");
	simlog_jw_obj(&w);
	for (size_t i = 0; i < n; i++) {
		unsigned long long u = table_unmapped(t, n, i);

		if (u > 0)
			simlog_jw_kuint(&w, t[i].table, u);
	}
	simlog_jw_close(&w);
	simlog_jw_kuint(&w, "batches", st.batches);
	simlog_jw_kuint(&w, "duplicate_batches", st.duplicate_batches);
	simlog_jw_kuint(&w, "duplicate_rows", st.duplicate_rows);
	simlog_jw_kuint(&w, "corrupt", st.corrupt);
	simlog_jw_kuint(&w, "sims", st.sims);
	simlog_jw_kuint(&w, "retries", st.retries);
	simlog_jw_kstr(&w, "db", st.db);
	simlog_jw_kdouble(&w, "seconds", st.seconds, 3);
	simlog_jw_end(&w);
}

/* Fields no column took, and rows waiting for a parent row, are said
 * once a run (also with -q). */
static void
report_notes(struct simlog_drainer *d)
{
	const struct simlog_drainer_tally *t;
	size_t n = simlog_drainer_tallies(d, &t);
	struct simlog_drainer_stats st;

	simlog_drainer_stats(d, &st);
	for (size_t i = 0; i < n; i++) {
		char names[SIMLOG_ERRLEN / 2];
		unsigned long long u = table_unmapped(t, n, i);

		if (u > 0 && simlog_drainer_unmapped(d, t[i].table, names,
		    sizeof(names)) > 0)
			warnx("table %s: %llu record%s carried fields no column "
			    "takes, not stored: %s", t[i].table, u,
			    u == 1 ? "" : "s", names);
	}
	if (st.waiting_now > 0)
		warnx("%llu row%s wait%s in simlog_waiting in %s for a parent "
		    "row not there yet, and go in when it comes%s%s",
		    st.waiting_now, st.waiting_now == 1 ? "" : "s",
		    st.waiting_now == 1 ? "s" : "", st.db,
		    st.first_wait ? "; the first: " : "",
		    st.first_wait ? st.first_wait : "");
}

/* Dead letters are said, not only counted (also with -q). */
static void
report_rejects(struct simlog_drainer *d)
{
	const struct simlog_drainer_tally *t, *one = NULL;
	size_t nt = simlog_drainer_tallies(d, &t), n = 0;
	struct simlog_drainer_stats st;
	const char *first;

	simlog_drainer_stats(d, &st);
	if (st.rejects == 0)
		return;
	first = st.first_reject ? st.first_reject : "?";
	for (size_t i = 0; i < nt; i++)
		if (t[i].rejects > 0) {
			n++;
			one = &t[i];
		}
	if (n == 1 && strcmp(one->table, "simlog_rejects") != 0)
		warnx("%llu record%s of type %s did not fit table %s and "
		    "went to simlog_rejects in %s; the first: %s", st.rejects,
		    st.rejects == 1 ? "" : "s", one->type, one->table, st.db,
		    first);
	else
		warnx("%llu record%s went to simlog_rejects in %s; the "
		    "first: %s", st.rejects, st.rejects == 1 ? "" : "s", st.db,
		    first);
}

/* --- housekeeping: the corrupt stream, a discarded backlog -------------------- */

/* One set-aside entry as a JSON line; with data, its fields' values in
 * base64. */
static void
print_corrupt(const char *sim, const struct simlog_corrupt *c, int data)
{
	struct simlog_jw w;
	char entry[48];
	size_t bytes = 0;

	simlog_sid_format(&c->entry, entry);
	for (size_t j = 0; j < c->nfields; j++)
		bytes += c->fields[j].vlen;
	simlog_jw_init(&w, stdout);
	simlog_jw_begin(&w);
	simlog_jw_kstr(&w, "sim", sim);
	simlog_jw_kstr(&w, "entry", entry);
	simlog_jw_kstr(&w, "id", c->id);
	simlog_jw_kstr(&w, "why", c->why ? c->why : "");
	simlog_jw_kuint(&w, "bytes", bytes);
	if (data) {
		simlog_jw_key(&w, "fields");
		simlog_jw_obj(&w);
		for (size_t j = 0; j < c->nfields; j++) {
			const struct simlog_field *f = &c->fields[j];
			char *b = malloc(4 * ((f->vlen + 2) / 3) + 1);

			if (b == NULL)
				errx(SIMLOG_EX_SOFTWARE, "out of memory");
			simlog_base64((const unsigned char *)f->val, f->vlen, b);
			simlog_jw_keyn(&w, f->name, f->nlen);
			simlog_jw_str(&w, b);
			free(b);
		}
		simlog_jw_close(&w);
	}
	simlog_jw_end(&w);
}

/* --corrupt list|export|purge: a purge prints what it deletes, as export
 * does, so nothing is deleted unseen. */
static int
corrupt_action(struct simlog_conn *conn, const char *sim, const char *action)
{
	int purge = strcmp(action, "purge") == 0;
	char k[SIMLOG_KEYLEN];
	struct simlog_sid after;
	struct simlog_corrupt *c;
	struct simlog_err e;
	unsigned long long gone, purged = 0;
	size_t n;
	int started = 0;

	do {
		if (simlog_corrupt_read(conn, sim, started ? &after : NULL,
		    100, &c, &n, &e) < 0)
			cli_die(&e);
		for (size_t i = 0; i < n; i++)
			print_corrupt(sim, &c[i], strcmp(action, "list") != 0);
		if (fflush(stdout) != 0 && errno != EPIPE)
			err(SIMLOG_EX_IOERR, "write error");
		if (purge && n > 0) {
			if (simlog_corrupt_delete(conn, sim, c, n, &gone,
			    &e) < 0) {
				simlog_corrupt_free(c, n);
				cli_die(&e);
			}
			purged += gone;
		}
		if (n > 0) {
			after = c[n - 1].entry;
			started = 1;
		}
		simlog_corrupt_free(c, n);
	} while (n == 100 && !cli_stop);
	simlog_key_corrupt(sim, k);
	if (purged > 0)
		warnx("%s: purged %llu entries from %s", sim, purged, k);
	return 0;
}

static int
discard(struct simlog_conn *conn, const char *sim)
{
	struct simlog_err e;
	struct simlog_jw w;
	unsigned long long entries, records;

	if (simlog_backlog_discard(conn, sim, &entries, &records, &e) < 0)
		cli_die(&e);
	simlog_jw_init(&w, stdout);
	simlog_jw_begin(&w);
	simlog_jw_kstr(&w, "sim", sim);
	simlog_jw_kuint(&w, "discarded_entries", entries);
	simlog_jw_kuint(&w, "discarded_records", records);
	simlog_jw_end(&w);
	if (records > 0 || entries > 0)
		warnx("%s: discarded %llu records in %llu entries, undrained",
		    sim, records, entries);
	return 0;
}

/* --- the command line ---------------------------------------------------------- */

static void
parse_shard(char *arg, struct simlog_drainer_opts *o)
{
	long long i, n;
	char *slash = strchr(arg, '/');
	const char *why;

	if (slash == NULL)
		errx(SIMLOG_EX_USAGE, "invalid --shard: '%.40s': use I/N, e.g. "
		    "0/2", arg);
	*slash = '\0';
	if (simlog_parse_ll(arg, 0, 1023, &i, &why) < 0 ||
	    simlog_parse_ll(slash + 1, 1, 1024, &n, &why) < 0 || i >= n)
		errx(SIMLOG_EX_USAGE, "invalid --shard: '%.20s/%.20s': use I/N "
		    "with 0 <= I < N <= 1024", arg, slash + 1);
	o->shard = (unsigned)i;
	o->shards = (unsigned)n;
}

static void
parse_option(int c, struct simlog_drainer_opts *o, struct args *a)
{
	switch (c) {
	case 's':
		if (!simlog_valid_sim(optarg, strlen(optarg)))
			errx(SIMLOG_EX_USAGE, "invalid --sim: '%.64s%s': use "
			    "1-64 of [A-Za-z0-9_.-]", optarg,
			    strlen(optarg) > 64 ? "..." : "");
		o->sim = optarg;
		break;
	case 'd':
		if (*optarg == '\0')
			errx(SIMLOG_EX_USAGE, "invalid --db: empty path");
		if (simlog_sink_has_password(optarg))
			warnx("a password in --db is visible to other users "
			    "(ps); use PGPASSWORD, PGPASSFILE, PGSERVICE or "
			    "SIMLOG_DB");
		o->db = optarg;
		break;
	case OPT_BATCH:
		o->batch = (size_t)cli_number("--batch", optarg, 1, 10000000);
		break;
	case OPT_BUSY_TIMEOUT:
		o->busy_timeout = cli_seconds("--busy-timeout", optarg, 86400);
		break;
	case OPT_KEEP_BATCHES:
		o->keep_days = (double)cli_number("--keep-batches", optarg, 1,
		    36500);
		break;
	case 'q':
		a->quiet = 1;
		break;
	case OPT_PROGRESS:
		a->force_progress = 1;
		break;
	case OPT_SCHEMA:
		o->schema = optarg;
		break;
	case 'f':
		o->follow = 1;
		break;
	case OPT_COMMIT_INTERVAL:
		o->commit_interval = cli_seconds("--commit-interval", optarg,
		    3600);
		if (o->commit_interval < 0.001)
			errx(SIMLOG_EX_USAGE, "invalid --commit-interval: '%s': "
			    "at least 0.001", optarg);
		break;
	case OPT_CORRUPT:
		if (strcmp(optarg, "list") != 0 &&
		    strcmp(optarg, "export") != 0 &&
		    strcmp(optarg, "purge") != 0)
			errx(SIMLOG_EX_USAGE, "invalid --corrupt: '%s': use "
			    "list, export or purge", optarg);
		a->corrupt = optarg;
		break;
	case OPT_DISCARD:
		a->discard = 1;
		break;
	case OPT_SHARD:
		parse_shard(optarg, o);
		a->sharded = 1;
		break;
	case 'h':
		usage();
		exit(cli_close_stdout() == 0 ? 0 : SIMLOG_EX_IOERR);
	case 'V':
		cli_version();
	default:
		cli_try_help();
	}
}

static void
parse_args(int argc, char **argv, struct simlog_drainer_opts *o,
	   struct args *a)
{
	int c;

	while ((c = getopt_long(argc, argv, "u:s:d:fqhV", longopts, NULL)) != -1)
		if (!cli_conn_option(c, optarg, &o->conn))
			parse_option(c, o, a);
	if (optind < argc) {
		warnx("unexpected argument '%s'", argv[optind]);
		cli_try_help();
	}
	if (a->sharded && (o->sim != NULL || a->corrupt || a->discard))
		errx(SIMLOG_EX_USAGE, "--shard takes simulations by their "
		    "names: it excludes --sim, --corrupt and --discard");
	if ((a->corrupt || a->discard) && o->sim == NULL)
		errx(SIMLOG_EX_USAGE, "--%s needs --sim", a->corrupt ?
		    "corrupt" : "discard");
	if (a->corrupt && a->discard)
		errx(SIMLOG_EX_USAGE, "--corrupt and --discard exclude each "
		    "other");
	if ((a->corrupt || a->discard) && o->follow)
		errx(SIMLOG_EX_USAGE, "--%s and --follow exclude each other",
		    a->corrupt ? "corrupt" : "discard");
	if (o->schema == NULL)
		o->schema = getenv("SIMLOG_SCHEMA");
	o->redis_only = a->corrupt || a->discard;
	if (!a->quiet && (a->force_progress || isatty(STDERR_FILENO)))
		o->progress = show_progress;
}

int
main(int argc, char **argv)
{
	struct simlog_drainer_opts o;
	struct args a = { 0 };
	struct simlog_drainer *d;
	struct simlog_err e, why;
	int rc;

	cli_protect_secrets();
	simlog_drainer_opts_init(&o);
	o.db = getenv("SIMLOG_DB");
	o.stop = &cli_stop;
	o.say = cli_say;
	parse_args(argc, argv, &o, &a);
	cli_signals();
	t0 = simlog_now_mono();
	if ((d = simlog_drainer_open(&o, &e)) == NULL)
		cli_die(&e);
	if (a.corrupt || a.discard) {
		rc = a.corrupt ? corrupt_action(simlog_drainer_conn(d), o.sim,
		    a.corrupt) : discard(simlog_drainer_conn(d), o.sim);
		simlog_drainer_close(d);
		return cli_close_stdout() < 0 ? SIMLOG_EX_IOERR : rc;
	}
	rc = simlog_drainer_run(d, &why);
	print_summary(d);
	report_rejects(d);
	report_notes(d);
	simlog_drainer_close(d);
	/* Output that could not be written is worse than entries set aside
	 * or masters away (65, 75), not than a pass that failed. */
	if (cli_close_stdout() < 0 && why.code == 0)
		rc = SIMLOG_EX_IOERR;
	return rc;
}

/*
 * simgen: writes AgentFarm-shaped simulation records as JSON lines, the same
 * lines for the same seed, as input for the simlog benchmarks.  The shapes
 * are those AgentFarm's DataLogger and SimulationDatabase write (commit
 * db2f8f2): a simulation and its configuration first; agents with
 * position [x, y] and their deaths as later partial records; details as
 * JSON text; ids numbered by the database; resource ids that are strings
 * for the first resources and integers for later ones.
 */
#define _POSIX_C_SOURCE 200809L

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EX_USAGE	64
#define MAX_COUNT	100000000000ULL	/* keeps step and id counters far from wrapping */
#define MAX_AGENTS	512
#define TARGET_POP	40
#define NRESOURCES	64
#define FIRST_RESOURCES	40	/* these have string ids, the rest integers */
#define MAX_RESOURCE	30.0
#define WORLD		100.0

enum { A_MOVE, A_GATHER, A_SHARE, A_ATTACK, A_REPRODUCE, A_DEFEND, NACTIONS };

static const char *const action_names[NACTIONS] = {
	"move", "gather", "share", "attack", "reproduce", "defend",
};
/* Mean policy weights; each agent gets a jittered copy. */
static const double base_weights[NACTIONS] = {
	0.30, 0.35, 0.08, 0.07, 0.05, 0.15,
};
static const char *const module_types[3] = { "dqn", "ppo", "rule" };

#define NTYPES 3
static const char *const agent_types[NTYPES] = {
	"system", "independent", "control",
};

struct agent {
	unsigned id;
	int type;
	int module;
	unsigned birth;
	unsigned max_age;
	unsigned generation;
	unsigned lineage;
	double x, y;
	double res, initial_res;
	double health, start_health;
	double total_reward;
	int starving;
	int defending;
	double w[NACTIONS];
};

struct resource {
	double x, y, amount;
	int touched;
};

static struct {
	uint64_t rng;
	unsigned long long left;	/* lines still to write */
	struct agent pop[MAX_AGENTS];
	int npop;
	struct resource res[NRESOURCES];
	unsigned step;
	unsigned type_count[NTYPES];	/* at the start of the step */
	unsigned next_agent;
	unsigned next_lineage;
	const char *sim;		/* --sim: every record's simulation_id */
	int ids;			/* --ids: actions and incidents numbered */
	unsigned long long action_id, incident_id;
	/* per-step tallies for the "step" record */
	unsigned births, deaths, nactions;
	double gathered, consumed, reward_sum;
} g;

/* splitmix64: tiny, fast, and the same on every platform, unlike rand(). */
static uint64_t next64(void)
{
	uint64_t z = (g.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double unif(void)
{
	return (double)(next64() >> 11) * 0x1p-53;
}

static double range(double lo, double hi)
{
	return lo + (hi - lo) * unif();
}

static unsigned below(unsigned n)
{
	return (unsigned)((next64() >> 32) * n >> 32);
}

static double clamp(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Small numeric helpers, so the program needs libc and not libm. */
static double dmin(double a, double b)
{
	return a < b ? a : b;
}

static double root(double v)
{
	double r = v > 1 ? v : 1;
	int i;

	if (v <= 0)
		return 0;
	for (i = 0; i < 40; i++)
		r = (r + v / r) / 2;
	return r;
}

static double ln(double x)
{
	double y, y2, term, sum = 0;
	int k = 0, i;

	while (x >= 2) {
		x /= 2;
		k++;
	}
	while (x < 1) {
		x *= 2;
		k--;
	}
	/* ln x = 2 atanh((x-1)/(x+1)), and |y| <= 1/3 converges fast */
	y = (x - 1) / (x + 1);
	y2 = y * y;
	term = y;
	for (i = 1; i < 40; i += 2) {
		sum += term / i;
		term *= y2;
	}
	return 2 * sum + k * 0.69314718055994530942;
}

/* Claims one output line and starts it ({"type":"TYPE", and the
 * simulation_id with --sim); once COUNT is reached the model runs on
 * silently. */
static int line(const char *type)
{
	if (g.left == 0)
		return 0;
	g.left--;
	printf("{\"type\":\"%s\",", type);
	if (g.sim != NULL)
		printf("\"simulation_id\":\"%s\",", g.sim);
	return 1;
}

/* A resource's id as AgentFarm gives it: "resource_<shortid>" for the
 * first ones, an integer for those spawned later. */
static void put_resource_id(int r)
{
	if (r < FIRST_RESOURCES)
		printf("\"resource_%04x%02d\"", (unsigned)(r * 2654435761u) >> 16,
		       r);
	else
		printf("%d", r);
}

/* details as AgentFarm writes them: json.dumps(...), a JSON string. */
static void put_details(const char *json)
{
	fputs("\"details\":\"", stdout);
	for (; *json; json++) {
		if (*json == '"' || *json == '\\')
			putchar('\\');
		putchar(*json);
	}
	putchar('"');
}

static void emit_simulation(unsigned long long seed)
{
	if (!line("simulation"))
		return;
	printf("\"start_time\":\"2025-10-01T09:00:00\",\"status\":\"running\","
	       "\"parameters\":{\"seed\":%llu,\"width\":%g,\"height\":%g,"
	       "\"resources\":%d},\"simulation_db_path\":\"simgen.db\"}\n",
	       seed, WORLD, WORLD, NRESOURCES);
	if (!line("simulation_config"))
		return;
	printf("\"timestamp\":1759309200,\"config_data\":\"{\\\"seed\\\": %llu, "
	       "\\\"width\\\": %g, \\\"height\\\": %g}\"}\n", seed, WORLD, WORLD);
}

/* log_agent's record at birth. */
static void emit_agent(const struct agent *a)
{
	int i;

	if (!line("agent"))
		return;
	printf("\"agent_id\":\"a%06u\",\"birth_time\":%u,"
	       "\"agent_type\":\"%s\",\"position\":[%.4f,%.4f],"
	       "\"initial_resources\":%.6g,\"starting_health\":%.5g,"
	       "\"genome_id\":\"g%04x.%u\",\"generation\":%u,"
	       "\"action_weights\":{",
	       a->id, a->birth, agent_types[a->type], a->x, a->y,
	       a->initial_res, a->start_health, a->lineage, a->generation,
	       a->generation);
	for (i = 0; i < NACTIONS; i++)
		printf("%s\"%s\":%.4g", i ? "," : "", action_names[i], a->w[i]);
	fputs("}}\n", stdout);
}

/* update_agent_death: the agent's death_time, and an incident. */
static void emit_death(const struct agent *a, const char *cause)
{
	if (line("agent"))
		printf("\"agent_id\":\"a%06u\",\"death_time\":%u}\n", a->id,
		       g.step);
	if (!line("health_incident"))
		return;
	if (g.ids)
		printf("\"incident_id\":%llu,", ++g.incident_id);
	printf("\"step_number\":%u,\"agent_id\":\"a%06u\",\"health_before\":0,"
	       "\"health_after\":0,\"cause\":\"%s\",", g.step, a->id, cause);
	put_details("{\"final_state\": \"dead\"}");
	fputs("}\n", stdout);
}

static void emit_incident(const struct agent *a, double before,
			  const char *cause, const struct agent *by)
{
	char d[160];

	if (!line("health_incident"))
		return;
	if (g.ids)
		printf("\"incident_id\":%llu,", ++g.incident_id);
	printf("\"step_number\":%u,\"agent_id\":\"a%06u\","
	       "\"health_before\":%.5g,\"health_after\":%.5g,\"cause\":\"%s\",",
	       g.step, a->id, before, a->health, cause);
	if (by)
		snprintf(d, sizeof(d), "{\"attacker_id\": \"a%06u\", "
			 "\"defending\": %s}", by->id,
			 a->defending ? "true" : "false");
	else
		snprintf(d, sizeof(d), "{\"starvation_counter\": %d, "
			 "\"resource_level\": %.3f}", a->starving, a->res);
	put_details(d);
	fputs("}\n", stdout);
}

static void emit_state(const struct agent *a)
{
	if (!line("agent_state"))
		return;
	printf("\"step_number\":%u,"
	       "\"agent_id\":\"a%06u\",\"position_x\":%.3f,\"position_y\":%.3f,"
	       "\"resource_level\":%.4g,"
	       "\"current_health\":%.4g,\"starting_health\":%.5g,"
	       "\"starvation_counter\":%d,\"is_defending\":%s,"
	       "\"total_reward\":%.5g,\"age\":%u}\n",
	       g.step, a->id, a->x, a->y, a->res, a->health, a->start_health,
	       a->starving, a->defending ? "true" : "false", a->total_reward,
	       g.step - a->birth);
}

static void emit_resource(int r)
{
	if (!line("resource_state"))
		return;
	printf("\"step_number\":%u,\"resource_id\":", g.step);
	put_resource_id(r);
	printf(",\"amount\":%.4g,\"position_x\":%.2f,\"position_y\":%.2f}\n",
	       g.res[r].amount, g.res[r].x, g.res[r].y);
}

static void new_agent(struct agent *a, const struct agent *parent)
{
	int i;

	memset(a, 0, sizeof(*a));
	a->id = ++g.next_agent;
	a->birth = g.step;
	a->max_age = 60 + below(240);
	a->start_health = parent ? parent->start_health : range(80, 120);
	a->health = a->start_health;
	if (parent) {
		a->type = parent->type;
		a->module = parent->module;
		a->generation = parent->generation + 1;
		/* an occasional mutation founds a new genome line */
		a->lineage = unif() < 0.1 ? ++g.next_lineage : parent->lineage;
		a->x = clamp(parent->x + range(-2, 2), 0, WORLD);
		a->y = clamp(parent->y + range(-2, 2), 0, WORLD);
		for (i = 0; i < NACTIONS; i++)
			a->w[i] = clamp(parent->w[i] * range(0.9, 1.1), 0.001, 1);
	} else {
		a->type = (int)below(NTYPES);
		a->module = (int)below(3);
		a->lineage = ++g.next_lineage;
		a->x = range(0, WORLD);
		a->y = range(0, WORLD);
		a->res = range(5, 15);
		for (i = 0; i < NACTIONS; i++)
			a->w[i] = base_weights[i] * range(0.7, 1.3);
	}
	a->initial_res = a->res;
}

static struct agent *other_agent(const struct agent *self)
{
	struct agent *o;

	if (g.npop < 2)
		return NULL;
	do
		o = &g.pop[below((unsigned)g.npop)];
	while (o == self);
	return o;
}

static int choose_action(const struct agent *a)
{
	double sum = 0, pick;
	int i;

	for (i = 0; i < NACTIONS; i++)
		sum += a->w[i];
	pick = unif() * sum;
	for (i = 0; i < NACTIONS - 1; i++) {
		pick -= a->w[i];
		if (pick < 0)
			break;
	}
	return i;
}

/* Carries out one action of agent i and logs it (and what it caused). */
static void act(int i)
{
	struct agent *a = &g.pop[i], *t = NULL, *child = NULL;
	int kind = choose_action(a), r = -1, ok = 1;
	double before = a->res, reward = 0, amount = 0, dist = 0, tbefore = 0;
	double damage = 0;
	char d[200];

	switch (kind) {
	case A_MOVE: {
		double ox = a->x, oy = a->y;

		a->x = clamp(a->x + range(-1.5, 1.5), 0, WORLD);
		a->y = clamp(a->y + range(-1.5, 1.5), 0, WORLD);
		dist = root((a->x - ox) * (a->x - ox) + (a->y - oy) * (a->y - oy));
		a->res -= 0.01 * dist;
		reward = -0.01;
		break;
	}
	case A_GATHER:
		r = (int)below(NRESOURCES);
		amount = dmin(g.res[r].amount, range(0.5, 3));
		g.res[r].amount -= amount;
		g.res[r].touched = 1;
		a->res += amount;
		g.gathered += amount;
		ok = amount > 0;
		reward = ok ? 0.1 * amount : -0.05;
		break;
	case A_SHARE:
		t = other_agent(a);
		ok = t && a->res > 1;
		if (ok) {
			tbefore = t->res;
			amount = dmin(a->res * 0.2, 1.0);
			a->res -= amount;
			t->res += amount;
			reward = 0.05;
		}
		break;
	case A_ATTACK:
		t = other_agent(a);
		ok = t && unif() < 0.7;
		if (ok) {
			double hb = t->health;

			damage = range(2, 10) * (t->defending ? 0.5 : 1);
			t->health -= damage;
			reward = 0.5;
			emit_incident(t, hb, "attack", a);
		} else {
			reward = -0.1;
		}
		a->res -= 0.2;
		break;
	case A_REPRODUCE:
		/* crowding is felt per type, so no type takes over */
		ok = a->res >= 6 && g.npop < MAX_AGENTS &&
		     unif() < clamp(1.5 - (double)g.type_count[a->type] *
				    NTYPES / TARGET_POP, 0, 1);
		if (ok) {
			child = &g.pop[g.npop++];
			new_agent(child, a);
			child->res = a->res / 2;
			child->initial_res = child->res;
			a->res -= child->res;
			reward = 1;
			g.births++;
		}
		break;
	case A_DEFEND:
		a->defending = 1;
		a->res -= 0.05;
		reward = 0.02;
		break;
	}
	if (a->res < 0)
		a->res = 0;
	a->total_reward += reward;
	g.reward_sum += reward;
	g.nactions++;

	if (!line("action"))
		return;
	if (g.ids)
		printf("\"action_id\":%llu,", ++g.action_id);
	printf("\"step_number\":%u,\"agent_id\":\"a%06u\",\"action_type\":\"%s\","
	       "\"action_target_id\":", g.step, a->id, action_names[kind]);
	if (r >= 0)
		put_resource_id(r);
	else if (t)
		printf("\"a%06u\"", t->id);
	else
		fputs("null", stdout);
	printf(",\"reward\":%.3g,", reward);
	switch (kind) {
	case A_MOVE:
		snprintf(d, sizeof(d), "{\"distance\": %.4f}", dist);
		break;
	case A_GATHER:
		snprintf(d, sizeof(d), "{\"resource_before\": %.5g, "
			 "\"amount_gathered\": %.4g, \"success\": %s}", before,
			 amount, ok ? "true" : "false");
		break;
	case A_SHARE:
		if (ok)
			snprintf(d, sizeof(d), "{\"amount_shared\": %.4g, "
				 "\"target_resources_before\": %.4g, "
				 "\"success\": true}", amount, tbefore);
		else
			snprintf(d, sizeof(d), "{\"success\": false, "
				 "\"reason\": \"too_poor\", "
				 "\"resources_before\": %.6g}", before);
		break;
	case A_ATTACK:
		snprintf(d, sizeof(d), "{\"damage_dealt\": %.3f, "
			 "\"success\": %s, \"resources_before\": %.6g}",
			 damage, ok ? "true" : "false", before);
		break;
	case A_REPRODUCE:
		if (ok)
			snprintf(d, sizeof(d), "{\"success\": true, "
				 "\"offspring_id\": \"a%06u\", "
				 "\"offspring_generation\": %u}", child->id,
				 child->generation);
		else
			snprintf(d, sizeof(d), "{\"success\": false, "
				 "\"reason\": \"insufficient_resources\", "
				 "\"resources_before\": %.6g}", before);
		break;
	case A_DEFEND:
		/* As AgentFarm's defend: what it cost, before and after. */
		snprintf(d, sizeof(d), "{\"duration\": 1, \"cost\": 0.05, "
			 "\"resources_before\": %.6g, "
			 "\"resources_after\": %.6g}", before, a->res);
		break;
	}
	put_details(d);
	printf(",\"module_type\":\"%s\",\"module_id\":\"m%d\"}\n",
	       module_types[a->module], a->module * NACTIONS + kind);
	if (child)
		emit_agent(child);
}

static int cmp_unsigned(const void *pa, const void *pb)
{
	unsigned a = *(const unsigned *)pa, b = *(const unsigned *)pb;

	return (a > b) - (a < b);
}

static void emit_step(void)
{
	unsigned counts[NTYPES] = { 0 }, lineages[MAX_AGENTS];
	unsigned maxgen = 0, distinct = 0, run = 0, best = 0;
	double total_res = 0, agent_res = 0, health = 0, age = 0;
	double entropy = 0, n = g.npop ? g.npop : 1;
	int i;

	for (i = 0; i < NRESOURCES; i++)
		total_res += g.res[i].amount;
	for (i = 0; i < NRESOURCES && total_res > 0; i++) {
		double p = g.res[i].amount / total_res;

		if (p > 0)
			entropy -= p * ln(p);
	}
	for (i = 0; i < g.npop; i++) {
		const struct agent *a = &g.pop[i];

		counts[a->type]++;
		agent_res += a->res;
		health += a->health;
		age += g.step - a->birth;
		if (a->generation > maxgen)
			maxgen = a->generation;
		lineages[i] = a->lineage;
	}
	qsort(lineages, (size_t)g.npop, sizeof(lineages[0]), cmp_unsigned);
	for (i = 0; i < g.npop; i++) {
		if (i == 0 || lineages[i] != lineages[i - 1]) {
			distinct++;
			run = 0;
		}
		if (++run > best)
			best = run;
	}

	if (!line("step"))
		return;
	printf("\"step_number\":%u,\"total_agents\":%d,"
	       "\"agent_type_counts\":{\"system\":%u,\"independent\":%u,"
	       "\"control\":%u},\"total_resources\":%.6g,"
	       "\"average_agent_resources\":%.6g,\"births\":%u,\"deaths\":%u,"
	       "\"current_max_generation\":%u,\"resource_efficiency\":%.4f,"
	       "\"resource_distribution_entropy\":%.6g,"
	       "\"average_agent_health\":%.5g,\"average_agent_age\":%.4g,"
	       "\"average_reward\":%.6g,\"genetic_diversity\":%.4f,"
	       "\"dominant_genome_ratio\":%.4f,\"resources_consumed\":%.6g}\n",
	       g.step, g.npop, counts[0], counts[1], counts[2], total_res,
	       agent_res / n, g.births, g.deaths, maxgen,
	       g.consumed > 0 ? g.gathered / g.consumed : 0.0, entropy,
	       health / n, age / n,
	       g.nactions ? g.reward_sum / g.nactions : 0.0, distinct / n,
	       best / n, g.consumed);
}

static void sim_step(void)
{
	int i, n;

	g.births = g.deaths = g.nactions = 0;
	g.gathered = g.consumed = g.reward_sum = 0;
	for (i = 0; i < NRESOURCES; i++)
		g.res[i].touched = 0;
	memset(g.type_count, 0, sizeof(g.type_count));
	for (i = 0; i < g.npop; i++) {
		g.pop[i].defending = 0;
		g.type_count[g.pop[i].type]++;
	}

	/* newborns wait for the next step before they act */
	n = g.npop;
	for (i = 0; i < n; i++) {
		act(i);
		if (unif() < 0.2)
			act(i);
	}

	for (i = 0; i < g.npop; i++) {
		struct agent *a = &g.pop[i];
		double burn = range(0.1, 0.3);

		g.consumed += dmin(burn, a->res);
		a->res -= burn;
		if (a->res < 0) {
			double hb = a->health;

			a->res = 0;
			a->starving++;
			a->health -= range(1, 4);
			emit_incident(a, hb, "starvation", NULL);
		} else {
			a->starving = 0;
			if (a->health < a->start_health)
				a->health = dmin(a->start_health, a->health + 0.5);
		}
		emit_state(a);
	}

	for (i = 0; i < NRESOURCES; i++) {
		struct resource *r = &g.res[i];

		if (r->touched || unif() < 0.45) {
			r->amount = dmin(MAX_RESOURCE, r->amount + range(0, 1.5));
			emit_resource(i);
		}
	}

	for (i = 0; i < g.npop;) {
		struct agent *a = &g.pop[i];

		if (a->health <= 0 || g.step - a->birth >= a->max_age) {
			emit_death(a, a->health <= 0 ? "starvation" : "old_age");
			g.pop[i] = g.pop[--g.npop];
			g.deaths++;
		} else {
			i++;
		}
	}
	/* immigration keeps a crashed population from dying out */
	while (g.npop < TARGET_POP / 8) {
		new_agent(&g.pop[g.npop], NULL);
		emit_agent(&g.pop[g.npop++]);
		g.births++;
	}

	emit_step();
	g.step++;
}

static void usage(void)
{
	fputs("Usage: simgen [-n COUNT] [-s SEED] [--help]\n"
	      "\n"
	      "Write COUNT (default 1000) simulation records as JSON lines;\n"
	      "the same SEED (default 1) gives the same lines.\n"
	      "\n"
	      "  -n, --count COUNT  number of records, 0 to 10^11\n"
	      "  -s, --seed SEED    unsigned 64-bit seed\n"
	      "      --sim NAME     give every record \"simulation_id\":\"NAME\"\n"
	      "      --ids          give actions and incidents their ids\n"
	      "                     (action_id, incident_id), which AgentFarm's\n"
	      "                     database assigns, and agents ids of the\n"
	      "                     seed's own: every line is distinct, and\n"
	      "                     distinct from other seeds' lines\n"
	      "  -h, --help         show this help and exit\n", stdout);
}

static unsigned long long number(const char *s, int base,
				 unsigned long long max, const char *opt)
{
	unsigned long long v;
	char *end;

	errno = 0;
	/* strtoull quietly negates "-1"; refuse signs outright */
	if (*s == '-' || *s == '+' || *s == '\0')
		errx(EX_USAGE, "invalid %s: '%s'", opt, s);
	v = strtoull(s, &end, base);
	if (*end != '\0')
		errx(EX_USAGE, "invalid %s: '%s'", opt, s);
	if (errno == ERANGE || v > max)
		errx(EX_USAGE, "%s too large: '%s'", opt, s);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "sim", required_argument, NULL, 'S' },
		{ "ids", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char outbuf[1 << 20];
	unsigned long long count = 1000, seed = 1;
	int c, i;

	while ((c = getopt_long(argc, argv, "n:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			count = number(optarg, 10, MAX_COUNT, "count");
			break;
		case 's':
			seed = number(optarg, 0, UINT64_MAX, "seed");
			break;
		case 'S':
			/* Written as it is: a simulation name needs no
			 * escaping (simlog-push refuses any other). */
			if (strlen(optarg) > 64 || strpbrk(optarg, "\"\\") != NULL)
				errx(EX_USAGE, "invalid --sim: '%s'", optarg);
			g.sim = optarg;
			break;
		case 'I':
			g.ids = 1;
			break;
		case 'h':
			usage();
			return 0;
		default:
			fputs("Try 'simgen --help' for more information.\n",
			      stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		warnx("unexpected argument: '%s'", argv[optind]);
		fputs("Try 'simgen --help' for more information.\n", stderr);
		return EX_USAGE;
	}

	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	g.rng = seed;
	/* Agents of two seeds never share an id (nor their records). */
	if (g.ids)
		g.next_agent = (unsigned)(seed % 4000) * 1000000u;
	g.left = count;
	for (i = 0; i < NRESOURCES; i++) {
		g.res[i].x = range(0, WORLD);
		g.res[i].y = range(0, WORLD);
		g.res[i].amount = range(5, MAX_RESOURCE);
	}
	emit_simulation(seed);
	while (g.npop < TARGET_POP) {
		new_agent(&g.pop[g.npop], NULL);
		emit_agent(&g.pop[g.npop++]);
	}
	while (g.left > 0)
		sim_step();

	if (fclose(stdout) != 0)
		err(1, "writing output failed");
	return 0;
}

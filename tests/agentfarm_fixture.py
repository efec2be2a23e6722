#!/usr/bin/python3
"""The rows AgentFarm writes, and SQL equivalents of its read paths.

AgentFarm (github.com/Dooders/AgentFarm, db2f8f2) writes its results
through DataLogger and SimulationDatabase (farm/database/data_logging.py,
database.py) and reads them back through its repositories and
validate_simulation_database.  Its code is not ours to copy, so this
fixture stands in for it (tests/agentfarm.bats):

  records SEED            the records of one 25-step run, as JSON lines:
                          every record kind, string and integer resource
                          ids, deaths as partial agent records, a
                          simulation, its configuration and experiment
  direct sqlite PATH SEED the same rows written straight into the tables
  direct pg DSN SEED      AgentFarm's models make (its DDL), no simlog
  reads sqlite PATH       the read paths' answers, one line each, the
  reads pg DSN            same text for the same data in either database

Only the standard library, and psycopg2 for PostgreSQL.
"""

import datetime
import json
import random
import sqlite3
import sys

SIM = "sim_Kq7x2"
EXPERIMENT = "exp_3vQ9"
STEPS = 25
AGENTS = 24
TYPES = ["SystemAgent", "IndependentAgent", "ControlAgent"]
ACTIONS = ["move", "gather", "share", "attack", "reproduce", "defend"]


def shortid(rng):
    """AgentFarm's Identity.short(): a short base-57 id."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    return "".join(rng.choice(alphabet) for _ in range(6))


def run(seed):
    """One simulation's rows, in the order AgentFarm writes them: a list of
    (record type, dict) pairs, where a later agent or simulation record
    updates the row of its key."""
    rng = random.Random(seed)
    out = []
    start = datetime.datetime(2025, 10, 1, 9, 0, 5, 250000)
    out.append(("experiment", {
        "experiment_id": EXPERIMENT, "name": "baseline",
        "description": "24 agents, 25 steps", "hypothesis": None,
        "creation_date": "2025-10-01T08:59:00+00:00",
        "last_updated": "2025-10-01T08:59:00+00:00", "status": "running",
        "tags": ["fixture", "simlog"], "variables": {"seed": [seed]},
        "results_summary": None, "notes": "written by agentfarm_fixture.py"}))
    params = {"width": 100, "height": 100, "system_agents": 8,
              "seed": seed, "learning": {"lr": 0.001, "gamma": 0.99}}
    out.append(("simulation", {
        "simulation_id": SIM, "experiment_id": EXPERIMENT,
        "start_time": start.isoformat(), "status": "running",
        "parameters": params, "simulation_db_path": "simulation.db"}))
    out.append(("simulation_config", {
        "simulation_id": SIM, "timestamp": 1759309205,
        "config_data": json.dumps(params)}))
    out.append(("simulation_config", {
        "simulation_id": SIM, "timestamp": 1759309206,
        "config_data": json.dumps(dict(params, width=120))}))

    agents = {}
    for i in range(AGENTS):
        aid = "agent_" + shortid(rng)
        agents[aid] = {"pos": [round(rng.uniform(0, 100), 2),
                               round(rng.uniform(0, 100), 2)],
                       "res": round(rng.uniform(2, 8), 3), "health": 100.0,
                       "reward": 0.0, "alive": True, "born": 0}
        out.append(("agent", {
            "simulation_id": SIM, "agent_id": aid, "birth_time": 0,
            "agent_type": TYPES[i % 3], "position": agents[aid]["pos"],
            "initial_resources": agents[aid]["res"],
            "starting_health": 100.0, "genome_id": "g%d" % (i % 5),
            "generation": 0,
            "action_weights": {a: round(rng.random(), 4)
                               for a in ACTIONS}}))
    # The first resources have Identity ids; those spawned later are
    # numbered (farm/core/resource_manager.py).
    resources = {}
    for _ in range(10):
        resources["resource_" + shortid(rng)] = [
            round(rng.uniform(0, 100), 1), round(rng.uniform(0, 100), 1),
            round(rng.uniform(5, 20), 2)]
    next_resource = 0
    for rid, (x, y, amount) in resources.items():
        out.append(("resource_state", {
            "simulation_id": SIM, "step_number": 0, "resource_id": rid,
            "amount": amount, "position_x": x, "position_y": y}))

    for step in range(1, STEPS + 1):
        if step % 5 == 0:
            resources[next_resource] = [round(rng.uniform(0, 100), 1),
                                        round(rng.uniform(0, 100), 1), 10.0]
            next_resource += 1
        alive = [a for a, s in agents.items() if s["alive"]]
        for aid in alive:
            s = agents[aid]
            kind = rng.choice(ACTIONS)
            target = None
            details = None
            if kind == "gather":
                target = rng.choice(list(resources))
                details = {"amount_gathered": round(rng.uniform(0, 2), 3),
                           "resource_before": 5.0}
                s["res"] = round(s["res"] + details["amount_gathered"], 3)
            elif kind in ("share", "attack"):
                target = rng.choice(alive)
                details = {"target_id": target, "success": rng.random() > .5}
            reward = round(rng.uniform(-0.5, 1.0), 4)
            s["reward"] = round(s["reward"] + reward, 4)
            s["pos"] = [round(s["pos"][0] + rng.uniform(-1, 1), 3),
                        round(s["pos"][1] + rng.uniform(-1, 1), 3)]
            rec = {"simulation_id": SIM, "step_number": step,
                   "agent_id": aid, "action_type": kind,
                   "action_target_id": target, "reward": reward,
                   "details": json.dumps(details) if details else None,
                   "module_type": "dqn" if kind != "defend" else None,
                   "module_id": str(140000 + len(aid)) if kind != "defend"
                   else None}
            out.append(("action", rec))
            if kind == "attack" and target != aid:
                before = agents[target]["health"]
                agents[target]["health"] = round(before - 7.5, 2)
                out.append(("health_incident", {
                    "simulation_id": SIM, "step_number": step,
                    "agent_id": target, "health_before": before,
                    "health_after": agents[target]["health"],
                    "cause": "attack",
                    "details": json.dumps({"attacker_id": aid})}))
        for aid in alive:
            s = agents[aid]
            out.append(("agent_state", {
                "simulation_id": SIM, "step_number": step, "agent_id": aid,
                "position_x": s["pos"][0], "position_y": s["pos"][1],
                "resource_level": s["res"], "current_health": s["health"],
                "starting_health": 100.0,
                "starvation_counter": step % 3,
                "is_defending": rng.random() > 0.8,
                "total_reward": s["reward"], "age": step - s["born"]}))
        for rid, (x, y, amount) in resources.items():
            out.append(("resource_state", {
                "simulation_id": SIM, "step_number": step,
                "resource_id": rid, "amount": round(amount - step * .1, 2),
                "position_x": x, "position_y": y}))
        counts = {}
        for aid in alive:
            t = TYPES[list(agents).index(aid) % 3]
            counts[t] = counts.get(t, 0) + 1
        deaths = [a for a in alive if agents[a]["health"] < 80][:2]
        out.append(("step", {
            "simulation_id": SIM, "step_number": step,
            "total_agents": len(alive), "agent_type_counts": counts,
            "total_resources": round(sum(r[2] for r in resources.values()),
                                     2),
            "average_agent_resources": round(
                sum(agents[a]["res"] for a in alive) / len(alive), 4),
            "births": 0, "deaths": len(deaths), "current_max_generation": 0,
            "resource_efficiency": round(rng.random(), 4),
            "resource_distribution_entropy": round(rng.uniform(1, 3), 4),
            "average_agent_health": round(
                sum(agents[a]["health"] for a in alive) / len(alive), 4),
            "average_agent_age": round(
                sum(step - agents[a]["born"] for a in alive) / len(alive),
                4),
            "average_reward": round(rng.uniform(0, 1), 4),
            "genetic_diversity": round(rng.random(), 4),
            "dominant_genome_ratio": round(rng.random(), 4),
            "resources_consumed": round(rng.uniform(0, 5), 3)}))
        # update_agent_death: the agent's row gets its death_time, and a
        # health incident without a simulation_id.
        for aid in deaths:
            agents[aid]["alive"] = False
            out.append(("agent", {"agent_id": aid, "death_time": step}))
            out.append(("health_incident", {
                "step_number": step, "agent_id": aid, "health_before": 0,
                "health_after": 0, "cause": "starvation",
                "details": json.dumps({"final_state": "dead"})}))
    # update_simulation_record at the end.
    out.append(("simulation", {
        "simulation_id": SIM, "status": "completed",
        "end_time": (start + datetime.timedelta(seconds=95.5)).isoformat(),
        "results_summary": {"final_agents": sum(
            1 for s in agents.values() if s["alive"])}}))
    return out


def records(seed):
    for kind, row in run(seed):
        print(json.dumps(dict({"type": kind}, **row), separators=(",", ":")))


# --- the database AgentFarm's own code makes ------------------------------

# The DDL SQLAlchemy emits for farm/database/models.py (String(n) as
# VARCHAR(n), Float as FLOAT, DateTime as DATETIME / timestamp), written
# out so that no AgentFarm code is needed.
DDL = """
CREATE TABLE experiments (experiment_id VARCHAR(64) NOT NULL, name VARCHAR(255)
  NOT NULL, description VARCHAR(4096), hypothesis VARCHAR(2048), creation_date
  {dt}, last_updated {dt}, status VARCHAR(50), tags {js}, variables {js},
  results_summary {js}, notes VARCHAR(4096), PRIMARY KEY (experiment_id));
CREATE TABLE simulations (simulation_id VARCHAR(64) NOT NULL, experiment_id
  VARCHAR(64), start_time {dt}, end_time {dt}, status VARCHAR(50), parameters
  {js} NOT NULL, results_summary {js}, simulation_db_path VARCHAR(255) NOT NULL,
  PRIMARY KEY (simulation_id), FOREIGN KEY(experiment_id) REFERENCES
  experiments (experiment_id));
CREATE TABLE simulation_config (simulation_id VARCHAR(64), config_id {pk},
  timestamp INTEGER NOT NULL, config_data VARCHAR(4096) NOT NULL,
  FOREIGN KEY(simulation_id) REFERENCES simulations (simulation_id));
CREATE TABLE agents (simulation_id VARCHAR(64), agent_id VARCHAR(64) NOT NULL,
  birth_time INTEGER, death_time INTEGER, agent_type VARCHAR(50), position_x
  FLOAT, position_y FLOAT, initial_resources FLOAT, starting_health FLOAT,
  genome_id VARCHAR(64), generation INTEGER, action_weights {js}, PRIMARY KEY
  (agent_id), FOREIGN KEY(simulation_id) REFERENCES simulations
  (simulation_id));
CREATE TABLE agent_states (id VARCHAR(128) NOT NULL, simulation_id
  VARCHAR(64), step_number INTEGER, agent_id VARCHAR(64), position_x FLOAT,
  position_y FLOAT, position_z FLOAT, resource_level FLOAT, current_health
  FLOAT, starting_health FLOAT, starvation_counter INTEGER, is_defending
  BOOLEAN, total_reward FLOAT, age INTEGER, PRIMARY KEY (id), FOREIGN
  KEY(simulation_id) REFERENCES simulations (simulation_id), FOREIGN
  KEY(agent_id) REFERENCES agents (agent_id));
CREATE TABLE resource_states (id {pk}, simulation_id VARCHAR(64), step_number
  INTEGER, resource_id VARCHAR(64), amount FLOAT, position_x FLOAT,
  position_y FLOAT, FOREIGN KEY(simulation_id) REFERENCES simulations
  (simulation_id));
CREATE TABLE simulation_steps (step_number INTEGER NOT NULL, simulation_id
  VARCHAR(64) NOT NULL, total_agents INTEGER, agent_type_counts {js},
  total_resources FLOAT, average_agent_resources FLOAT, births INTEGER,
  deaths INTEGER, current_max_generation INTEGER, resource_efficiency FLOAT,
  resource_distribution_entropy FLOAT, average_agent_health FLOAT,
  average_agent_age {age}, average_reward FLOAT, genetic_diversity FLOAT,
  dominant_genome_ratio FLOAT, resources_consumed FLOAT, PRIMARY KEY
  (step_number, simulation_id), FOREIGN KEY(simulation_id) REFERENCES
  simulations (simulation_id));
CREATE TABLE agent_actions (action_id {pk}, simulation_id VARCHAR(64),
  step_number INTEGER NOT NULL, agent_id VARCHAR(64) NOT NULL, action_type
  VARCHAR(20) NOT NULL, action_target_id VARCHAR(64), reward FLOAT, details
  VARCHAR(1024), module_type VARCHAR(50), module_id VARCHAR(64), FOREIGN
  KEY(simulation_id) REFERENCES simulations (simulation_id), FOREIGN
  KEY(agent_id) REFERENCES agents (agent_id));
CREATE TABLE health_incidents (incident_id {pk}, simulation_id VARCHAR(64),
  step_number INTEGER NOT NULL, agent_id VARCHAR(64) NOT NULL, health_before
  FLOAT, health_after FLOAT, cause VARCHAR(50) NOT NULL, details VARCHAR(512),
  FOREIGN KEY(simulation_id) REFERENCES simulations (simulation_id), FOREIGN
  KEY(agent_id) REFERENCES agents (agent_id));
"""

KEYS = {"experiment": ("experiments", "experiment_id"),
        "simulation": ("simulations", "simulation_id"),
        "simulation_config": ("simulation_config", None),
        "agent": ("agents", "agent_id"),
        "agent_state": ("agent_states", None),
        "resource_state": ("resource_states", None),
        "step": ("simulation_steps", None),
        "action": ("agent_actions", None),
        "health_incident": ("health_incidents", None)}


def utc_text(v):
    """A date-time as AgentFarm's SQLite holds it (SQLAlchemy's
    'YYYY-MM-DD HH:MM:SS.ffffff'), in UTC."""
    d = datetime.datetime.fromisoformat(v)
    if d.tzinfo is not None:
        d = d.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")


def direct(kind, target, seed):
    """The rows of run(seed) written straight into AgentFarm's tables: what
    its own DataLogger and SimulationDatabase leave there."""
    if kind == "sqlite":
        db = sqlite3.connect(target)
        db.executescript(DDL.format(dt="DATETIME", js="JSON",
                                    pk="INTEGER NOT NULL PRIMARY KEY",
                                    age="FLOAT"))
        mark = "?"
    else:
        import psycopg2
        db = psycopg2.connect(target)
        db.cursor().execute(DDL.format(dt="timestamp with time zone",
                                       js="jsonb", pk="SERIAL PRIMARY KEY",
                                       age="double precision"))
        mark = "%s"
    cur = db.cursor()
    for rtype, row in run(seed):
        table, key = KEYS[rtype]
        row = dict(row)
        if rtype == "agent" and "position" in row:
            row["position_x"], row["position_y"] = row.pop("position")
        if rtype == "agent_state":
            row["id"] = "%s:%s-%s" % (SIM, row["agent_id"],
                                      row["step_number"])
        if rtype not in ("experiment",):
            row["simulation_id"] = SIM
        for k, v in list(row.items()):
            if k in ("start_time", "end_time", "creation_date",
                     "last_updated") and v is not None:
                row[k] = utc_text(v) + ("+00" if kind == "pg" else "")
            elif isinstance(v, (dict, list)):
                row[k] = json.dumps(v)
        if key is not None:
            cur.execute("SELECT count(*) FROM %s WHERE %s = %s"
                        % (table, key, mark), (row[key],))
            if cur.fetchone()[0]:
                sets = [k for k in row if k != key]
                cur.execute("UPDATE %s SET %s WHERE %s = %s" % (
                    table, ", ".join("%s = %s" % (k, mark) for k in sets),
                    key, mark), [row[k] for k in sets] + [row[key]])
                continue
        if rtype == "simulation":
            row.setdefault("parameters", "{}")
            row.setdefault("simulation_db_path", "")
        if rtype == "resource_state" and row["resource_id"] is not None:
            row["resource_id"] = str(row["resource_id"])
        if rtype == "action" and row["action_target_id"] is not None:
            row["action_target_id"] = str(row["action_target_id"])
        cols = list(row)
        cur.execute("INSERT INTO %s (%s) VALUES (%s)" % (
            table, ", ".join(cols), ", ".join([mark] * len(cols))),
            [row[c] for c in cols])
    db.commit()
    db.close()


# --- AgentFarm's read paths, in SQL ---------------------------------------

def norm(v):
    """One value as text, the same from either database."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float):
        return repr(round(v, 6))
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def js(v):
    """A JSON column: parsed (SQLite text, or PostgreSQL's value)."""
    if isinstance(v, str):
        v = json.loads(v)
    return json.dumps(v, sort_keys=True)


READS = [
    # population_repository.get_population_data: steps with agents, and
    # the resources their agents held.
    ("population over time", """
     SELECT s.step_number, s.total_agents, s.total_resources,
            sum(st.resource_level)
     FROM simulation_steps s LEFT JOIN agent_states st
          ON st.step_number = s.step_number
     WHERE s.total_agents > 0
     GROUP BY s.step_number, s.total_agents, s.total_resources
     ORDER BY s.step_number""", None),
    ("agent types per step", """
     SELECT step_number, agent_type_counts, average_agent_age
     FROM simulation_steps ORDER BY step_number""", {1: js}),
    # agent_repository.get_actions_with_states: actions joined with the
    # state of their agent at their step.
    ("actions with states", """
     SELECT a.step_number, a.agent_id, a.action_type, a.action_target_id,
            a.reward, a.details, a.module_type, a.module_id,
            st.id, st.resource_level, st.current_health, st.is_defending
     FROM agent_actions a JOIN agent_states st
          ON a.agent_id = st.agent_id AND a.step_number = st.step_number
     ORDER BY a.step_number, a.agent_id""", {5: lambda v: norm(v)}),
    # action_repository / learning_repository: actions by scope.
    ("actions by type", """
     SELECT action_type, count(*), avg(reward),
            count(module_type)
     FROM agent_actions GROUP BY action_type ORDER BY action_type""", None),
    # resource_repository.get_resource_positions_over_time
    ("resource positions over time", """
     SELECT step_number, position_x, position_y, amount, resource_id
     FROM resource_states
     WHERE position_x IS NOT NULL AND position_y IS NOT NULL
     ORDER BY step_number, position_x, position_y, resource_id""", None),
    # agent_repository.get_health_incidents: details parsed (json.loads).
    ("health incidents", """
     SELECT step_number, agent_id, health_before, health_after, cause,
            details
     FROM health_incidents
     ORDER BY step_number, agent_id, cause, health_before, details""",
     {5: js}),
    # SimulationDatabase.get_configuration: the newest, parsed.
    ("configuration", """
     SELECT config_data FROM simulation_config
     ORDER BY timestamp DESC LIMIT 1""", {0: js}),
    ("agents", """
     SELECT agent_id, simulation_id, birth_time, death_time, agent_type,
            position_x, position_y, initial_resources, starting_health,
            genome_id, generation, action_weights
     FROM agents ORDER BY birth_time, agent_id""", {11: js}),
    ("simulation", """
     SELECT simulation_id, experiment_id, start_time, end_time, status,
            parameters, results_summary, simulation_db_path
     FROM simulations""", {5: js, 6: js}),
    ("experiment", """
     SELECT experiment_id, name, creation_date, status, tags, variables
     FROM experiments""", {4: js, 5: js}),
    # validate_simulation_database (farm/database/validation.py).
    ("duplicate agent ids", """
     SELECT agent_id, count(*) FROM agents GROUP BY agent_id
     HAVING count(*) > 1""", None),
    ("duplicate state ids", """
     SELECT id, count(*) FROM agent_states GROUP BY id
     HAVING count(*) > 1""", None),
    ("states without agent", """
     SELECT count(*) FROM agent_states ast LEFT JOIN agents a
          ON ast.agent_id = a.agent_id WHERE a.agent_id IS NULL""", None),
    ("actions without agent", """
     SELECT count(*) FROM agent_actions aa LEFT JOIN agents a
          ON aa.agent_id = a.agent_id WHERE a.agent_id IS NULL""", None),
    ("null ids", """
     SELECT (SELECT count(*) FROM agents WHERE agent_id IS NULL),
            (SELECT count(*) FROM agent_states WHERE id IS NULL)""", None),
    ("lifespans", """
     SELECT count(*) FROM agents
     WHERE death_time IS NOT NULL AND death_time <= birth_time""", None),
    ("step numbers", """
     SELECT DISTINCT step_number FROM simulation_steps
     ORDER BY step_number""", None),
]

REQUIRED = ["agents", "agent_states", "simulation_steps", "agent_actions",
            "resource_states", "health_incidents", "simulation_config",
            "simulations"]


def reads(kind, target):
    if kind == "sqlite":
        db = sqlite3.connect(target)
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]

        def columns(t):
            return [r[1] for r in db.execute(
                "SELECT * FROM pragma_table_info(?) ORDER BY cid", (t,))]
    else:
        import psycopg2
        db = psycopg2.connect(target)
        c = db.cursor()
        c.execute("SELECT table_name FROM information_schema.tables "
                  "WHERE table_schema = 'public'")
        tables = [r[0] for r in c.fetchall()]

        def columns(t):
            c.execute("SELECT column_name FROM information_schema.columns "
                      "WHERE table_name = %s ORDER BY ordinal_position", (t,))
            return [r[0] for r in c.fetchall()]
    cur = db.cursor()
    # validate_table_existence, and the columns AgentFarm's models have.
    print("missing tables:", sorted(set(REQUIRED) - set(tables)))
    for t in sorted(x for x in tables if not x.startswith("simlog_")):
        print("columns of %s: %s" % (t, ", ".join(columns(t))))
    for name, sql, conv in READS:
        cur.execute(sql)
        rows = cur.fetchall()
        print("%s: %d rows" % (name, len(rows)))
        for r in rows:
            print("  " + " | ".join(
                (conv[i](v) if conv and i in conv and v is not None
                 else norm(v)) for i, v in enumerate(r)))


def main(argv):
    if len(argv) == 3 and argv[1] == "records":
        records(int(argv[2]))
    elif len(argv) == 5 and argv[1] == "direct":
        direct(argv[2], argv[3], int(argv[4]))
    elif len(argv) == 4 and argv[1] == "reads":
        reads(argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

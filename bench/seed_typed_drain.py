#!/usr/bin/python3
# seed_typed_drain.py: the baseline for simlog-drain --schema agentfarm, a
# typed drain the way a first Python version would be written: redis-py
# LRANGE/LTRIM of a plain list of JSON lines into AgentFarm's tables.
"""usage: seed_typed_drain.py SOCKET KEY DATABASE [SIMULATION_ID]"""

import json
import sqlite3
import sys
import time

import redis

BATCH = 1000

# Column kinds: how a record's field becomes a value.
PLAIN, SIM, JSON, BOOL, STATE_ID = range(5)

# The tables, columns, declared types and keys of schemas/agentfarm.schema,
# declared the way simlog-drain declares them (JSON columns as TEXT).
TABLES = {
    "agent": ("agents", [
        ("simulation_id", "TEXT NOT NULL", SIM),
        ("agent_id", "TEXT PRIMARY KEY", PLAIN),
        ("birth_time", "INTEGER", PLAIN),
        ("death_time", "INTEGER", PLAIN),
        ("agent_type", "TEXT", PLAIN),
        ("position_x", "REAL", PLAIN),
        ("position_y", "REAL", PLAIN),
        ("initial_resources", "REAL", PLAIN),
        ("starting_health", "REAL", PLAIN),
        ("genome_id", "TEXT", PLAIN),
        ("generation", "INTEGER", PLAIN),
        ("action_weights", "TEXT", JSON),
    ], None),
    "action": ("agent_actions", [
        ("action_id", "INTEGER PRIMARY KEY", PLAIN),
        ("simulation_id", "TEXT", SIM),
        ("step_number", "INTEGER NOT NULL", PLAIN),
        ("agent_id", "TEXT NOT NULL", PLAIN),
        ("action_type", "TEXT NOT NULL", PLAIN),
        ("action_target_id", "TEXT", PLAIN),
        ("resources_before", "REAL", PLAIN),
        ("resources_after", "REAL", PLAIN),
        ("reward", "REAL", PLAIN),
        ("details", "TEXT", JSON),
        ("module_type", "TEXT", PLAIN),
        ("module_id", "TEXT", PLAIN),
    ], None),
    "health_incident": ("health_incidents", [
        ("incident_id", "INTEGER PRIMARY KEY", PLAIN),
        ("simulation_id", "TEXT", SIM),
        ("step_number", "INTEGER NOT NULL", PLAIN),
        ("agent_id", "TEXT NOT NULL", PLAIN),
        ("health_before", "REAL", PLAIN),
        ("health_after", "REAL", PLAIN),
        ("cause", "TEXT NOT NULL", PLAIN),
        ("details", "TEXT", JSON),
    ], None),
    "agent_state": ("agent_states", [
        ("id", "TEXT PRIMARY KEY", STATE_ID),
        ("simulation_id", "TEXT", SIM),
        ("step_number", "INTEGER", PLAIN),
        ("agent_id", "TEXT", PLAIN),
        ("position_x", "REAL", PLAIN),
        ("position_y", "REAL", PLAIN),
        ("position_z", "REAL", PLAIN),
        ("resource_level", "REAL", PLAIN),
        ("current_health", "REAL", PLAIN),
        ("starting_health", "REAL", PLAIN),
        ("starvation_counter", "INTEGER", PLAIN),
        ("is_defending", "BOOLEAN", BOOL),
        ("total_reward", "REAL", PLAIN),
        ("age", "INTEGER", PLAIN),
    ], None),
    "step": ("simulation_steps", [
        ("step_number", "INTEGER NOT NULL", PLAIN),
        ("simulation_id", "TEXT NOT NULL", SIM),
        ("total_agents", "INTEGER", PLAIN),
        ("agent_type_counts", "TEXT", JSON),
        ("total_resources", "REAL", PLAIN),
        ("average_agent_resources", "REAL", PLAIN),
        ("births", "INTEGER", PLAIN),
        ("deaths", "INTEGER", PLAIN),
        ("current_max_generation", "INTEGER", PLAIN),
        ("resource_efficiency", "REAL", PLAIN),
        ("resource_distribution_entropy", "REAL", PLAIN),
        ("average_agent_health", "REAL", PLAIN),
        ("average_agent_age", "REAL", PLAIN),
        ("average_reward", "REAL", PLAIN),
        ("genetic_diversity", "REAL", PLAIN),
        ("dominant_genome_ratio", "REAL", PLAIN),
        ("resources_consumed", "REAL", PLAIN),
    ], "PRIMARY KEY (step_number, simulation_id)"),
    "resource_state": ("resource_states", [
        ("id", "INTEGER PRIMARY KEY", PLAIN),
        ("simulation_id", "TEXT", SIM),
        ("step_number", "INTEGER", PLAIN),
        ("resource_id", "INTEGER", PLAIN),
        ("amount", "REAL", PLAIN),
        ("position_x", "REAL", PLAIN),
        ("position_y", "REAL", PLAIN),
    ], None),
}


def create_sql(table, cols, key):
    defs = ["%s %s" % (name, decl) for name, decl, _ in cols]
    if key:
        defs.append(key)
    return "CREATE TABLE IF NOT EXISTS %s (%s)" % (table, ", ".join(defs))


def insert_sql(table, cols):
    names = [name for name, _, _ in cols]
    sql = "INSERT INTO %s (%s) VALUES (%s)" % (
        table, ", ".join(names), ", ".join("?" * len(names)))
    if table == "agents":
        # The schema's "on duplicate update": a later record of an agent
        # (its death) fills in what it carries, as simlog-drain does.
        sql += " ON CONFLICT (agent_id) DO UPDATE SET " + ", ".join(
            "%s = coalesce(excluded.%s, %s)" % (n, n, n)
            for n in names if n not in ("agent_id", "simulation_id"))
    return sql


def make_row(cols, rec, sim):
    row = []
    for name, _, kind in cols:
        if kind == SIM:
            v = sim
        elif kind == STATE_ID:
            v = f"{sim}:{rec['agent_id']}-{rec['step_number']}"
        else:
            v = rec.get(name)
            if v is not None:
                if kind == JSON:
                    v = json.dumps(v)
                elif kind == BOOL:
                    v = 1 if v else 0
        row.append(v)
    return row


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 64
    sock, key, path = argv[1:4]
    sim = argv[4] if len(argv) == 5 else "bench"

    r = redis.Redis(unix_socket_path=sock)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    inserts = {}
    for rtype, (table, cols, pkey) in TABLES.items():
        db.execute(create_sql(table, cols, pkey))
        inserts[rtype] = insert_sql(table, cols)
    db.commit()
    other = set()
    rows = 0
    start = time.monotonic()
    while True:
        items = r.lrange(key, 0, BATCH - 1)
        if not items:
            break
        by_type = {}
        for raw in items:
            rec = json.loads(raw)
            rtype = rec["type"]
            spec = TABLES.get(rtype)
            if spec is None:
                # Types the schema does not name: the default mapping.
                row = (sim, raw.decode())
            else:
                row = make_row(spec[1], rec, sim)
            by_type.setdefault(rtype, []).append(row)
        for rtype, batch in by_type.items():
            sql = inserts.get(rtype)
            if sql is None:
                table = '"%s"' % rtype.replace('"', '""')
                if rtype not in other:
                    db.execute(
                        "CREATE TABLE IF NOT EXISTS %s (id INTEGER PRIMARY "
                        "KEY, simulation_id TEXT NOT NULL, data TEXT NOT "
                        "NULL)" % table)
                    other.add(rtype)
                sql = "INSERT INTO %s(simulation_id, data) VALUES (?,?)" % table
            db.executemany(sql, batch)
        db.commit()
        # Trim only what was read and committed: at-least-once, like the seed.
        r.ltrim(key, len(items), -1)
        rows += len(items)
    db.close()
    print(json.dumps({"records": rows,
                      "seconds": round(time.monotonic() - start, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/python3
# seed_typed_drain.py: the baseline for simlog-drain --schema agentfarm, a
# typed drain the way a first Python version would be written: redis-py
# LRANGE/LTRIM of a plain list of JSON lines into AgentFarm's tables (the
# layout of schemas/agentfarm.schema: AgentFarm's models at db2f8f2, with
# its foreign keys and, unless --no-indexes, its 16 indexes), into SQLite
# or, given a libpq connection string, PostgreSQL.
"""usage: seed_typed_drain.py SOCKET KEY DATABASE|DSN [SIMULATION_ID] [--no-indexes]"""

import datetime
import json
import sqlite3
import sys
import time

import redis

BATCH = 1000

# Column kinds: how a record's field becomes a value.
(PLAIN, SIM, JSON, BOOL, STATE_ID, POS0, POS1, ID, TIME) = range(9)

# type: (table, [(column, SQLite declaration, PostgreSQL type, kind)],
#        composite key, on duplicate update key)
TABLES = {
    "experiment": ("experiments", [
        ("experiment_id", "TEXT PRIMARY KEY NOT NULL", "text PRIMARY KEY", PLAIN),
        ("name", "TEXT NOT NULL", "text NOT NULL", PLAIN),
        ("description", "TEXT", "text", PLAIN),
        ("hypothesis", "TEXT", "text", PLAIN),
        ("creation_date", "TEXT", "timestamptz", TIME),
        ("last_updated", "TEXT", "timestamptz", TIME),
        ("status", "TEXT", "text", PLAIN),
        ("tags", "TEXT", "jsonb", JSON),
        ("variables", "TEXT", "jsonb", JSON),
        ("results_summary", "TEXT", "jsonb", JSON),
        ("notes", "TEXT", "text", PLAIN),
    ], None, "experiment_id"),
    "simulation": ("simulations", [
        ("simulation_id", "TEXT PRIMARY KEY NOT NULL", "text PRIMARY KEY", SIM),
        ("experiment_id", "TEXT REFERENCES experiments (experiment_id)",
         "text REFERENCES experiments (experiment_id)", PLAIN),
        ("start_time", "TEXT", "timestamptz", TIME),
        ("end_time", "TEXT", "timestamptz", TIME),
        ("status", "TEXT DEFAULT 'pending'", "text DEFAULT 'pending'", PLAIN),
        ("parameters", "TEXT NOT NULL DEFAULT '{}'",
         "jsonb NOT NULL DEFAULT '{}'", JSON),
        ("results_summary", "TEXT", "jsonb", JSON),
        ("simulation_db_path", "TEXT NOT NULL DEFAULT ''",
         "text NOT NULL DEFAULT ''", PLAIN),
    ], None, "simulation_id"),
    "simulation_config": ("simulation_config", [
        ("simulation_id", "TEXT REFERENCES simulations (simulation_id)",
         "text REFERENCES simulations (simulation_id)", SIM),
        ("config_id", "INTEGER PRIMARY KEY", "bigserial PRIMARY KEY", PLAIN),
        ("timestamp", "INTEGER NOT NULL", "bigint NOT NULL", PLAIN),
        ("config_data", "TEXT NOT NULL", "text NOT NULL", PLAIN),
    ], None, None),
    "agent": ("agents", [
        ("simulation_id", "TEXT REFERENCES simulations (simulation_id)",
         "text REFERENCES simulations (simulation_id)", SIM),
        ("agent_id", "TEXT PRIMARY KEY NOT NULL", "text PRIMARY KEY", PLAIN),
        ("birth_time", "INTEGER", "bigint", PLAIN),
        ("death_time", "INTEGER", "bigint", PLAIN),
        ("agent_type", "TEXT", "text", PLAIN),
        ("position_x", "REAL", "double precision", POS0),
        ("position_y", "REAL", "double precision", POS1),
        ("initial_resources", "REAL", "double precision", PLAIN),
        ("starting_health", "REAL", "double precision", PLAIN),
        ("genome_id", "TEXT", "text", PLAIN),
        ("generation", "INTEGER", "bigint", PLAIN),
        ("action_weights", "TEXT", "jsonb", JSON),
    ], None, "agent_id"),
    "agent_state": ("agent_states", [
        ("id", "TEXT PRIMARY KEY NOT NULL", "text PRIMARY KEY", STATE_ID),
        ("simulation_id", "TEXT REFERENCES simulations (simulation_id)",
         "text REFERENCES simulations (simulation_id)", SIM),
        ("step_number", "INTEGER", "bigint", PLAIN),
        ("agent_id", "TEXT REFERENCES agents (agent_id)",
         "text REFERENCES agents (agent_id)", PLAIN),
        ("position_x", "REAL", "double precision", PLAIN),
        ("position_y", "REAL", "double precision", PLAIN),
        ("position_z", "REAL", "double precision", PLAIN),
        ("resource_level", "REAL", "double precision", PLAIN),
        ("current_health", "REAL", "double precision", PLAIN),
        ("starting_health", "REAL", "double precision", PLAIN),
        ("starvation_counter", "INTEGER", "bigint", PLAIN),
        ("is_defending", "BOOLEAN", "boolean", BOOL),
        ("total_reward", "REAL", "double precision", PLAIN),
        ("age", "INTEGER", "bigint", PLAIN),
    ], None, None),
    "resource_state": ("resource_states", [
        ("id", "INTEGER PRIMARY KEY", "bigserial PRIMARY KEY", PLAIN),
        ("simulation_id", "TEXT REFERENCES simulations (simulation_id)",
         "text REFERENCES simulations (simulation_id)", SIM),
        ("step_number", "INTEGER", "bigint", PLAIN),
        ("resource_id", "TEXT", "text", ID),
        ("amount", "REAL", "double precision", PLAIN),
        ("position_x", "REAL", "double precision", PLAIN),
        ("position_y", "REAL", "double precision", PLAIN),
    ], None, None),
    "step": ("simulation_steps", [
        ("step_number", "INTEGER NOT NULL", "bigint NOT NULL", PLAIN),
        ("simulation_id", "TEXT NOT NULL REFERENCES simulations (simulation_id)",
         "text NOT NULL REFERENCES simulations (simulation_id)", SIM),
        ("total_agents", "INTEGER", "bigint", PLAIN),
        ("agent_type_counts", "TEXT", "jsonb", JSON),
        ("total_resources", "REAL", "double precision", PLAIN),
        ("average_agent_resources", "REAL", "double precision", PLAIN),
        ("births", "INTEGER", "bigint", PLAIN),
        ("deaths", "INTEGER", "bigint", PLAIN),
        ("current_max_generation", "INTEGER", "bigint", PLAIN),
        ("resource_efficiency", "REAL", "double precision", PLAIN),
        ("resource_distribution_entropy", "REAL", "double precision", PLAIN),
        ("average_agent_health", "REAL", "double precision", PLAIN),
        ("average_agent_age", "REAL", "double precision", PLAIN),
        ("average_reward", "REAL", "double precision", PLAIN),
        ("genetic_diversity", "REAL", "double precision", PLAIN),
        ("dominant_genome_ratio", "REAL", "double precision", PLAIN),
        ("resources_consumed", "REAL DEFAULT 0.0",
         "double precision DEFAULT 0.0", PLAIN),
    ], "PRIMARY KEY (step_number, simulation_id)", None),
    "action": ("agent_actions", [
        ("action_id", "INTEGER PRIMARY KEY", "bigserial PRIMARY KEY", PLAIN),
        ("simulation_id", "TEXT REFERENCES simulations (simulation_id)",
         "text REFERENCES simulations (simulation_id)", SIM),
        ("step_number", "INTEGER NOT NULL", "bigint NOT NULL", PLAIN),
        ("agent_id", "TEXT NOT NULL REFERENCES agents (agent_id)",
         "text NOT NULL REFERENCES agents (agent_id)", PLAIN),
        ("action_type", "TEXT NOT NULL", "text NOT NULL", PLAIN),
        ("action_target_id", "TEXT", "text", ID),
        ("reward", "REAL", "double precision", PLAIN),
        ("details", "TEXT", "text", PLAIN),
        ("module_type", "TEXT", "text", PLAIN),
        ("module_id", "TEXT", "text", PLAIN),
    ], None, None),
    "health_incident": ("health_incidents", [
        ("incident_id", "INTEGER PRIMARY KEY", "bigserial PRIMARY KEY", PLAIN),
        ("simulation_id", "TEXT REFERENCES simulations (simulation_id)",
         "text REFERENCES simulations (simulation_id)", SIM),
        ("step_number", "INTEGER NOT NULL", "bigint NOT NULL", PLAIN),
        ("agent_id", "TEXT NOT NULL REFERENCES agents (agent_id)",
         "text NOT NULL REFERENCES agents (agent_id)", PLAIN),
        ("health_before", "REAL", "double precision", PLAIN),
        ("health_after", "REAL", "double precision", PLAIN),
        ("cause", "TEXT NOT NULL", "text NOT NULL", PLAIN),
        ("details", "TEXT", "text", PLAIN),
    ], None, None),
}

# AgentFarm's 16 indexes: table, columns.
INDEXES = [
    ("agents", "agent_type"), ("agents", "birth_time"),
    ("agents", "death_time"), ("agent_states", "agent_id"),
    ("agent_states", "step_number"), ("agent_states", "agent_id, step_number"),
    ("resource_states", "step_number"), ("resource_states", "resource_id"),
    ("simulation_steps", "step_number"), ("simulation_steps", "simulation_id"),
    ("agent_actions", "step_number"), ("agent_actions", "agent_id"),
    ("agent_actions", "action_type"), ("agent_actions", "module_type"),
    ("health_incidents", "step_number"), ("health_incidents", "agent_id"),
]

# Parents first: a batch's rows go in in this order, so that a row's
# parent (inserted in the same batch) is there before it.
ORDER = list(TABLES)


def utc_text(v):
    """A date-time as the schema stores it: UTC text, six fraction digits
    (PostgreSQL: with its zone)."""
    if isinstance(v, (int, float)):
        d = datetime.datetime.fromtimestamp(v, datetime.timezone.utc)
    else:
        d = datetime.datetime.fromisoformat(v)
    if d.tzinfo is not None:
        d = d.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")


class Lite:
    mark = "?"

    def __init__(self, path):
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")

    def decl(self, col):
        return col[1]

    def run(self, sql):
        self.db.execute(sql)

    def many(self, sql, rows):
        self.db.executemany(sql, rows)

    def commit(self):
        self.db.commit()


class Pg:
    mark = "%s"

    def __init__(self, dsn):
        import psycopg2
        import psycopg2.extras
        self.extras = psycopg2.extras
        self.db = psycopg2.connect(dsn)
        self.cur = self.db.cursor()

    def decl(self, col):
        return col[2]

    def run(self, sql):
        self.cur.execute(sql)

    def many(self, sql, rows):
        self.extras.execute_values(
            self.cur, sql.replace("VALUES (%s)" % ", ".join(
                ["%s"] * len(rows[0])), "VALUES %s"), rows, page_size=BATCH)

    def commit(self):
        self.db.commit()


def make_row(db, cols, rec, sim):
    own = rec.get("simulation_id")
    if own is not None and own != sim:
        raise ValueError("record of simulation %r pushed under %r" % (own, sim))
    row = []
    for name, _, _, kind in cols:
        if kind == SIM:
            v = sim
        elif kind == STATE_ID:
            v = f"{sim}:{rec['agent_id']}-{rec['step_number']}"
        elif kind in (POS0, POS1):
            p = rec.get("position")
            v = p[kind - POS0] if p is not None and len(p) > kind - POS0 \
                else None
        else:
            v = rec.get(name)
            if v is not None:
                if kind == JSON:
                    v = json.dumps(v)
                elif kind == BOOL:
                    v = bool(v) if isinstance(db, Pg) else (1 if v else 0)
                elif kind == ID:
                    v = str(v)
                elif kind == TIME:
                    v = utc_text(v) + ("+00" if isinstance(db, Pg) else "")
        row.append(v)
    return row


def insert_sql(db, table, cols, upkey):
    names = [c[0] for c in cols]
    sql = "INSERT INTO %s (%s) VALUES (%s)" % (
        table, ", ".join(names), ", ".join([db.mark] * len(names)))
    if upkey:
        # The schema's "on duplicate update": a later record (a death, a
        # simulation's end) fills in what it carries, as simlog-drain does.
        sql += " ON CONFLICT (%s) DO UPDATE SET %s" % (upkey, ", ".join(
            "%s = coalesce(excluded.%s, %s.%s)" % (n, n, table, n)
            for n in names if n not in (upkey, "simulation_id")))
    return sql


def main(argv):
    indexes = "--no-indexes" not in argv
    argv = [a for a in argv if a != "--no-indexes"]
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 64
    sock, key, target = argv[1:4]
    sim = argv[4] if len(argv) == 5 else "bench"

    r = redis.Redis(unix_socket_path=sock)
    db = Pg(target) if "=" in target else Lite(target)
    inserts, given = {}, {}
    for rtype, (table, cols, pkey, upkey) in TABLES.items():
        defs = ["%s %s" % (c[0], db.decl(c)) for c in cols]
        if pkey:
            defs.append(pkey)
        db.run("CREATE TABLE IF NOT EXISTS %s (%s)" % (table, ", ".join(defs)))
        # The records carry no numbered keys: PostgreSQL's sequences
        # number them (SQLite's rowid, given NULL).
        given[rtype] = [c for c in cols if "serial" not in db.decl(c)]
        inserts[rtype] = insert_sql(db, table, given[rtype], upkey)
    for i, (table, cols) in enumerate(INDEXES if indexes else []):
        db.run("CREATE INDEX IF NOT EXISTS idx_%d ON %s (%s)" % (i, table,
                                                               cols))
    db.commit()
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
            by_type.setdefault(rtype, []).append(
                make_row(db, given[rtype], rec, sim))
        for rtype in ORDER:
            if rtype not in by_type:
                continue
            if TABLES[rtype][3]:
                # One by one: a record may update the row of one before it.
                for row in by_type[rtype]:
                    db.many(inserts[rtype], [row])
            else:
                db.many(inserts[rtype], by_type[rtype])
        db.commit()
        # Trim only what was read and committed: at-least-once, like the seed.
        r.ltrim(key, len(items), -1)
        rows += len(items)
    print(json.dumps({"records": rows,
                      "seconds": round(time.monotonic() - start, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

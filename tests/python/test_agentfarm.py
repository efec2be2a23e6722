"""simlog.agentfarm.DataLogger: an AgentFarm-shaped run written through it
and drained with --schema agentfarm lands in AgentFarm's tables as
AgentFarm's own DataLogger writes them (bench/agentfarm_peer.py, the same
calls through SQLAlchemy into the same tables), into SQLite and
PostgreSQL, also when Redis was down while the simulation ran; its
methods have AgentFarm's signatures, and it imports without AgentFarm or
SQLAlchemy."""

import inspect
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import unittest
from datetime import datetime, timezone

from helpers import TOP, Case, python, simlog

sys.path.insert(0, os.path.join(TOP, "bench"))
import simlog.agentfarm as af                       # noqa: E402
from agentfarm_peer import (BOOLEAN_COLUMNS, DATETIME_COLUMNS,  # noqa: E402
                            JSON_COLUMNS, Peer, simulate)

TABLES = ("experiments", "simulations", "simulation_config", "agents",
          "agent_states", "agent_actions", "health_incidents",
          "resource_states", "simulation_steps")
# Row ids a database numbers itself: AgentFarm writes the buffered
# incidents after the deaths', simlog in the order of the calls.
NUMBERED = {"agent_actions": "action_id", "health_incidents": "incident_id",
            "simulation_config": "config_id", "resource_states": "id"}
DEATH = '{"final_state": "dead"}'


def value(table, col, v):
    """A column's value as Python sees it, whichever database held it."""
    if v is None:
        return None
    if col in JSON_COLUMNS.get(table, ()):
        return json.loads(v) if isinstance(v, str) else v
    if col in DATETIME_COLUMNS.get(table, ()):
        if isinstance(v, str):
            v = datetime.fromisoformat(v)
        if v.tzinfo is not None:
            v = v.astimezone(timezone.utc).replace(tzinfo=None)
        return v
    if col in BOOLEAN_COLUMNS.get(table, ()):
        return bool(v)
    return v


def rows_of(fetch, table):
    """(columns, the table's rows as sorted tuples), numbered ids left
    out; fetch(sql) returns (column names, rows)."""
    cols, raw = fetch('SELECT * FROM "%s"' % table)
    keep = [i for i, c in enumerate(cols) if c != NUMBERED.get(table)]
    out = [tuple(value(table, cols[i], r[i]) for i in keep) for r in raw]
    return [cols[i] for i in keep], sorted(out, key=repr)


def sqlite_fetch(db):
    def fetch(sql):
        c = sqlite3.connect(db)
        try:
            cur = c.execute(sql)
            return [d[0] for d in cur.description], cur.fetchall()
        finally:
            c.close()
    return fetch


class AgentFarm(Case):

    def run_both(self, sim, steps=10, agents=20, resources=6, down=False):
        """The run through a DataLogger (drained into sim.db) and through
        the peer (into peer.db, the drain's tables emptied first)."""
        r = self.redis(start=not down)
        os.environ["SIMLOG_SCHEMA_PATH"] = os.path.join(TOP, "schemas")
        t0 = time.time()
        d = af.DataLogger(simulation_id=sim, url=r.url,
                          db_path="runs/%s.db" % sim)
        self.n = simulate(d, sim, steps=steps, agents=agents,
                          resources=resources)
        s = d.close()
        self.assertEqual(s["failed"] + s["dropped"] + s["rejected"], 0)
        if down:
            self.assertEqual((s["spooled"], d.writer.status),
                             (s["read"], 75))
            r.start()
            self.assertEqual(self.replay(r.url), s["read"])
        summary = self.drain(r.url, None, "--schema", "agentfarm")
        self.assertEqual((summary["rejects"], summary["waiting"],
                          summary["unmapped"]), (0, 0, {}))
        self.assertEqual(summary["rows"], s["read"])
        peer_db = self.path("peer.db")
        shutil.copy(self.path("sim.db"), peer_db)
        c = sqlite3.connect(peer_db)
        for t in TABLES:
            c.execute('DELETE FROM "%s"' % t)
        c.commit()
        c.close()
        p = Peer(peer_db, sim, db_path="runs/%s.db" % sim)
        simulate(p, sim, steps=steps, agents=agents, resources=resources)
        p.close()
        self.window = (int(t0), int(time.time()) + 1)
        return r

    def assert_agentfarms(self, fetch, sim):
        """fetch's tables hold the peer's rows, but for what the two may
        differ in: when the configuration was saved, and the simulation
        of a death's health incident (AgentFarm's is left empty)."""
        peer = sqlite_fetch(self.path("peer.db"))
        for t in TABLES:
            cols, got = rows_of(fetch, t)
            pcols, want = rows_of(peer, t)
            self.assertEqual(cols, pcols, t)
            if t == "simulation_config":
                i = cols.index("timestamp")
                for row in got + want:
                    self.assertTrue(self.window[0] <= row[i] <=
                                    self.window[1], row)
                got = [row[:i] + row[i + 1:] for row in got]
                want = [row[:i] + row[i + 1:] for row in want]
            if t == "health_incidents":
                s, d = cols.index("simulation_id"), cols.index("details")
                deaths = [row for row in want if row[s] is None]
                self.assertTrue(deaths)
                self.assertTrue(all(row[d] == DEATH for row in deaths))
                want = sorted((row[:s] + (sim,) + row[s + 1:]
                               if row[s] is None else row for row in want),
                              key=repr)
            self.assertEqual(len(got), len(want), t)
            for g, w in zip(got, want):
                self.assertEqual(g, w, t)

    def test_the_rows_are_agentfarms_in_sqlite(self):
        self.run_both("sim_af1")
        self.assert_agentfarms(sqlite_fetch(self.path("sim.db")), "sim_af1")
        c = sqlite3.connect(self.path("sim.db"))
        # Resource ids come as strings and, for later ones, integers.
        kinds = {r[0] for r in c.execute(
            "SELECT typeof(resource_id) FROM resource_states")}
        c.close()
        self.assertEqual(kinds, {"text"})

    def test_the_rows_are_agentfarms_in_postgresql(self):
        pg = os.environ.get("PG_DIR")
        if not pg:
            if os.environ.get("BATS_TEST_TMPDIR"):
                self.fail("no PostgreSQL: tests/python.bats starts one")
            self.skipTest("PostgreSQL: run through tests/python.bats")
        import psycopg2
        name = "af_%d" % os.getpid()
        subprocess.run(["createdb", "-h", pg, "-U", "simlog", name],
                       check=True)
        r = self.run_both("sim_af2")
        url = "postgresql://simlog@/%s?host=%s" % (name, pg)
        summary = self.drain(r.url, url, "--schema", "agentfarm")
        self.assertEqual(summary["rows"], 0)    # drained into SQLite already
        # Again from the start: the same records pushed once more, into
        # PostgreSQL this time.
        r.cli("FLUSHALL")
        d = af.DataLogger(simulation_id="sim_af2", url=r.url,
                          db_path="runs/sim_af2.db")
        simulate(d, "sim_af2", steps=10, agents=20, resources=6)
        d.close()
        summary = self.drain(r.url, url, "--schema", "agentfarm")
        self.assertEqual((summary["rejects"], summary["waiting"]), (0, 0))
        self.window = (self.window[0], int(time.time()) + 1)
        conn = psycopg2.connect(host=pg, user="simlog", dbname=name)

        def fetch(sql):
            with conn.cursor() as cur:
                cur.execute(sql)
                return [x[0] for x in cur.description], cur.fetchall()
        try:
            self.assert_agentfarms(fetch, "sim_af2")
        finally:
            conn.close()

    def test_redis_down_while_it_ran_the_rows_are_the_same(self):
        self.run_both("sim_af3", steps=6, down=True)
        self.assert_agentfarms(sqlite_fetch(self.path("sim.db")), "sim_af3")

    def test_a_record_of_another_simulation_goes_to_that_one(self):
        r = self.redis()
        os.environ["SIMLOG_SCHEMA_PATH"] = os.path.join(TOP, "schemas")
        with af.DataLogger(simulation_id="sim_a", url=r.url) as d:
            d.add_simulation_record("sim_a", datetime(2025, 1, 1), "running",
                                    {"n": 1})
            d.add_simulation_record("sim_b", datetime(2025, 1, 2), "running",
                                    {"n": 2})
            d.add_experiment_record("exp1", "baseline", tags=["a"])
        self.drain(r.url, None, "--schema", "agentfarm")
        c = sqlite3.connect(self.path("sim.db"))
        self.assertEqual(c.execute(
            "SELECT simulation_id, parameters FROM simulations ORDER BY 1"
            ).fetchall(), [("sim_a", '{"n":1}'), ("sim_b", '{"n":2}')])
        self.assertEqual(c.execute(
            "SELECT experiment_id, name, status, tags FROM experiments"
            ).fetchall(), [("exp1", "baseline", "planned", '["a"]')])
        c.close()

    def test_what_agentfarm_refuses_is_refused_and_nothing_written(self):
        r = self.redis()
        d = af.DataLogger(simulation_id="sim_r", url=r.url)
        with self.assertRaises(TypeError):
            d.log_step(1, [("a", 1, 2, 3, 4, 5, 6, 0, 7, 8)], [],
                       {"total_agents": 1, "not_a_column": 2})
        with self.assertRaises(ValueError):
            d.log_agent_action(-1, "a", "move")
        with self.assertRaises(ValueError):
            d.log_agents_batch([{"simulation_id": "sim_r", "agent_id": "a",
                                 "birth_time": 0, "agent_type": "X",
                                 "position": (1, 2), "initial_resources": 1,
                                 "starting_health": 1},
                                {"simulation_id": "sim_r", "agent_id": "b"}])
        with self.assertRaises(ValueError):
            af.DataLogger(simulation_id="", url=r.url)
        self.assertEqual(d.close()["read"], 0)
        with self.assertRaises(af.NoDatabase):
            d._execute_in_transaction(lambda s: None)

    def test_setup_db_and_the_factory_answer_as_agentfarms_setup_does(self):
        r = self.redis()
        self.assertIsNone(af.setup_db(None, "sim_s"))
        db = af.DatabaseFactory(url=r.url).setup_db("runs/x.db", "sim_s",
                                                    {"steps": 3})
        self.assertIs(db.logger, db)
        self.assertEqual((db.simulation_id, db.db_path), ("sim_s",
                                                          "runs/x.db"))
        db.save_configuration({"steps": 3})
        self.assertEqual(db.get_configuration(), {"steps": 3})
        db.close()
        os.environ["SIMLOG_SCHEMA_PATH"] = os.path.join(TOP, "schemas")
        self.drain(r.url, None, "--schema", "agentfarm")
        c = sqlite3.connect(self.path("sim.db"))
        self.assertEqual(c.execute(
            "SELECT status, parameters, simulation_db_path FROM simulations"
            ).fetchall(), [("running", '{"steps":3}', "runs/x.db")])
        c.close()

    def test_the_methods_have_agentfarms_signatures(self):
        # From AgentFarm's DataLoggerProtocol, DataLogger and
        # SimulationDatabase at db2f8f2725b9f05be9618a371fccaac12b81511f:
        # each method's parameters and their defaults.
        E = inspect.Parameter.empty
        want = {
            "log_agent_action": [
                ("step_number", E), ("agent_id", E), ("action_type", E),
                ("action_target_id", None), ("reward", None),
                ("details", None), ("module_type", None),
                ("module_id", None), ("action_taken", None),
                ("action_taken_mapped", None)],
            "log_health_incident": [
                ("step_number", E), ("agent_id", E), ("health_before", E),
                ("health_after", E), ("cause", E), ("details", None)],
            "log_agent": [
                ("agent_id", E), ("birth_time", E), ("agent_type", E),
                ("position", E), ("initial_resources", E),
                ("starting_health", E), ("genome_id", None),
                ("generation", 0), ("action_weights", None)],
            "log_agents_batch": [("agent_data_list", E)],
            "log_step": [("step_number", E), ("agent_states", E),
                         ("resource_states", E), ("metrics", E)],
            "log_resource": [("resource_id", E), ("initial_amount", E),
                             ("position", E)],
            "flush_all_buffers": [], "flush_if_needed": [],
            "discard_pending_agents": [("agent_ids", E)],
            "update_agent_death": [("agent_id", E), ("death_time", E),
                                   ("cause", "starvation")],
            "save_configuration": [("config", E)],
            "add_simulation_record": [
                ("simulation_id", E), ("start_time", E), ("status", E),
                ("parameters", E)],
            "update_simulation_record": [
                ("simulation_id", E), ("status", None), ("end_time", None),
                ("results_summary", None), ("simulation_db_path", None)],
            "close": [],
        }
        for name, params in want.items():
            sig = inspect.signature(getattr(af.DataLogger, name))
            got = [(p.name, p.default) for p in sig.parameters.values()
                   if p.name != "self"]
            self.assertEqual(got, params, name)
        kw = inspect.signature(af.DataLogger.update_simulation_record)
        self.assertEqual(kw.parameters["status"].kind,
                         inspect.Parameter.KEYWORD_ONLY)

    def test_it_imports_without_agentfarm_or_sqlalchemy(self):
        p = python("import sys\n"
                   "sys.modules['sqlalchemy'] = None\n"
                   "sys.modules['farm'] = None\n"
                   "import simlog.agentfarm\n"
                   "print(simlog.agentfarm.DataLogger.__name__)\n")
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "DataLogger"),
                         p.stderr)


if __name__ == "__main__":
    unittest.main()

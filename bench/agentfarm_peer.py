"""The peer of simlog.agentfarm.DataLogger: a logger that does what
AgentFarm's own DataLogger and SimulationDatabase do (github.com/Dooders/
AgentFarm at db2f8f2725b9f05be9618a371fccaac12b81511f,
farm/database/data_logging.py and database.py), written from their
behaviour: buffers of dicts for actions and health incidents flushed with
SQLAlchemy 1.4's bulk_insert_mappings every 1000 rows and at
flush_all_buffers; agents, resources and each step in a transaction of
their own; a death as an update of the agent's row and a health incident;
the simulation's row added and updated through the session; its default
pragmas (WAL, synchronous NORMAL, 200 MB of cache).  The tables
are the ones simlog-drain --schema agentfarm makes, reflected from the
SQLite file, so both write the same tables.

Also here: simulate(), a small AgentFarm-shaped run (agents born, acting,
fighting, dying; resources with string ids and later integer ones; a step
record per step; the simulation's row and configuration) that calls
either logger the way AgentFarm's simulation loop does.  The bench and
tests/python/test_agentfarm.py use both.
"""

import json
import random
import time
from datetime import datetime, timezone

BUFFER = 1000           # AgentFarm's DataLoggingConfig.buffer_size

# The columns AgentFarm's models declare JSON, DateTime or Boolean; in
# SQLite they are TEXT and INTEGER, so reflection cannot see it, and
# SQLAlchemy must be told to write them as AgentFarm's models do.
JSON_COLUMNS = {"agents": ("action_weights",),
                "simulation_steps": ("agent_type_counts",),
                "simulations": ("parameters", "results_summary"),
                "experiments": ("tags", "variables", "results_summary")}
DATETIME_COLUMNS = {"simulations": ("start_time", "end_time"),
                    "experiments": ("creation_date", "last_updated")}
BOOLEAN_COLUMNS = {"agent_states": ("is_defending",)}


class Peer:
    """AgentFarm's DataLogger and SimulationDatabase over db_file (a
    SQLite file whose tables exist); db_path is what it records as the
    simulation's database (db_file when not given)."""

    def __init__(self, db_file, simulation_id, db_path=None):
        import sqlalchemy as sa
        from sqlalchemy.orm import declarative_base, sessionmaker
        self.db_path = db_path or db_file
        self.simulation_id = simulation_id
        self.engine = sa.create_engine("sqlite:///" + db_file)

        # AgentFarm's default pragma profile ("balanced").
        @sa.event.listens_for(self.engine, "connect")
        def pragmas(conn, record):
            cur = conn.cursor()
            for p in ("synchronous=NORMAL", "journal_mode=WAL",
                      "cache_size=-204800", "temp_store=MEMORY"):
                cur.execute("PRAGMA " + p)
            cur.close()
        meta = sa.MetaData()
        meta.reflect(bind=self.engine)
        base = declarative_base(metadata=meta)
        for kinds, typ in ((JSON_COLUMNS, sa.JSON), (DATETIME_COLUMNS,
                           sa.DateTime), (BOOLEAN_COLUMNS, sa.Boolean)):
            for name, cols in kinds.items():
                for c in cols:
                    if name in meta.tables:
                        meta.tables[name].c[c].type = typ()
        self.models = {}
        for name, table in meta.tables.items():
            args = {"__table__": table}
            if not table.primary_key.columns:
                # simulation_steps: its key is (step_number, simulation_id).
                args["__mapper_args__"] = {"primary_key": [
                    table.c.step_number, table.c.simulation_id]}
            self.models[name] = type(str(name), (base,), args)
        self.Session = sessionmaker(bind=self.engine)
        self.actions, self.incidents = [], []

    @property
    def logger(self):
        return self

    def _tx(self, fn):
        s = self.Session()
        s.autoflush = False
        try:
            r = fn(s)
            s.commit()
            return r
        except Exception:
            s.rollback()
            raise
        finally:
            s.close()

    # --- the DataLogger -----------------------------------------------------

    def log_agent_action(self, step_number, agent_id, action_type,
                         action_target_id=None, reward=None, details=None,
                         module_type=None, module_id=None, action_taken=None,
                         action_taken_mapped=None):
        import copy
        if step_number < 0:
            raise ValueError("step_number must be non-negative")
        d = copy.deepcopy(details) if details else {}
        if action_taken is not None:
            d["action_taken"] = action_taken
        if action_taken_mapped is not None:
            d["action_taken_mapped"] = action_taken_mapped
        self.actions.append({
            "simulation_id": self.simulation_id, "step_number": step_number,
            "agent_id": agent_id, "action_type": str(action_type),
            "action_target_id": action_target_id, "reward": reward,
            "details": json.dumps(d) if d else None,
            "module_type": module_type,
            "module_id": str(module_id) if module_id is not None else None})
        if len(self.actions) >= BUFFER:
            self._flush_actions()

    def _flush_actions(self):
        rows, self.actions = self.actions, []
        self._tx(lambda s: s.bulk_insert_mappings(
            self.models["agent_actions"], rows))

    def log_health_incident(self, step_number, agent_id, health_before,
                            health_after, cause, details=None):
        self.incidents.append({
            "simulation_id": self.simulation_id, "step_number": step_number,
            "agent_id": agent_id, "health_before": health_before,
            "health_after": health_after, "cause": cause,
            "details": json.dumps(details) if details else None})
        if len(self.incidents) >= BUFFER:
            rows, self.incidents = self.incidents, []
            self._tx(lambda s: s.bulk_insert_mappings(
                self.models["health_incidents"], rows))

    def log_agent(self, agent_id, birth_time, agent_type, position,
                  initial_resources, starting_health, genome_id=None,
                  generation=0, action_weights=None):
        w = None
        if action_weights is not None:
            w = {str(k): float(v) for k, v in action_weights.items()}
        self.log_agents_batch([{
            "simulation_id": self.simulation_id, "agent_id": agent_id,
            "birth_time": birth_time, "agent_type": agent_type,
            "position": position, "initial_resources": initial_resources,
            "starting_health": starting_health, "genome_id": genome_id,
            "generation": generation, "action_weights": w}])

    def log_agents_batch(self, agent_data_list):
        rows = [{
            "simulation_id": d["simulation_id"], "agent_id": d["agent_id"],
            "birth_time": d["birth_time"], "agent_type": d["agent_type"],
            "position_x": d["position"][0], "position_y": d["position"][1],
            "initial_resources": d["initial_resources"],
            "starting_health": d["starting_health"],
            "genome_id": d.get("genome_id"),
            "generation": d.get("generation", 0),
            "action_weights": d.get("action_weights")}
            for d in agent_data_list]
        self._tx(lambda s: s.bulk_insert_mappings(self.models["agents"],
                                                  rows))

    def log_step(self, step_number, agent_states, resource_states, metrics):
        sim = self.simulation_id
        m = self.models

        def insert(s):
            if agent_states:
                states = {}
                for a in agent_states:
                    states["%s:%s-%s" % (sim, a[0], step_number)] = {
                        "id": "%s:%s-%s" % (sim, a[0], step_number),
                        "simulation_id": sim, "step_number": step_number,
                        "agent_id": a[0], "position_x": a[1],
                        "position_y": a[2], "resource_level": a[3],
                        "current_health": a[4], "starting_health": a[5],
                        "starvation_counter": a[6],
                        "is_defending": bool(a[7]), "total_reward": a[8],
                        "age": a[9]}
                s.bulk_insert_mappings(m["agent_states"], states.values())
            if resource_states:
                s.bulk_insert_mappings(m["resource_states"], [{
                    "simulation_id": sim, "step_number": step_number,
                    "resource_id": r[0], "amount": r[1],
                    "position_x": r[2], "position_y": r[3]}
                    for r in resource_states])
            row = dict(metrics)
            row.setdefault("resources_consumed", 0.0)
            s.add(m["simulation_steps"](simulation_id=sim,
                                        step_number=step_number, **row))
        self._tx(insert)

    def log_resource(self, resource_id, initial_amount, position):
        self._tx(lambda s: s.bulk_insert_mappings(
            self.models["resource_states"], [{
                "simulation_id": self.simulation_id, "step_number": 0,
                "resource_id": resource_id, "amount": initial_amount,
                "position_x": position[0], "position_y": position[1]}]))

    def flush_all_buffers(self):
        if not (self.actions or self.incidents):
            return
        rows_a, self.actions = self.actions, []
        rows_h, self.incidents = self.incidents, []

        def flush(s):
            if rows_a:
                s.bulk_insert_mappings(self.models["agent_actions"], rows_a)
            if rows_h:
                s.bulk_insert_mappings(self.models["health_incidents"],
                                       rows_h)
        self._tx(flush)

    def flush_if_needed(self):
        pass            # AgentFarm's is time-based: every 30 s

    # --- the SimulationDatabase ---------------------------------------------

    def update_agent_death(self, agent_id, death_time, cause="starvation"):
        m = self.models

        def update(s):
            agent = s.query(m["agents"]).filter(
                m["agents"].agent_id == agent_id).first()
            if agent:
                agent.death_time = death_time
                s.add(m["health_incidents"](
                    step_number=death_time, agent_id=agent_id,
                    health_before=0, health_after=0, cause=cause,
                    details=json.dumps({"final_state": "dead"})))
        self._tx(update)

    def save_configuration(self, config):
        self._tx(lambda s: s.add(self.models["simulation_config"](
            simulation_id=self.simulation_id, timestamp=int(time.time()),
            config_data=json.dumps(config))))

    def add_simulation_record(self, simulation_id, start_time, status,
                              parameters):
        self._tx(lambda s: s.add(self.models["simulations"](
            simulation_id=simulation_id, start_time=start_time,
            status=status, parameters=parameters,
            simulation_db_path=self.db_path)))

    def update_simulation_record(self, simulation_id, *, status=None,
                                 end_time=None, results_summary=None,
                                 simulation_db_path=None):
        m = self.models["simulations"]

        def update(s):
            sim = s.query(m).filter_by(simulation_id=simulation_id) \
                .one_or_none()
            if sim is None:
                return
            if status is not None:
                sim.status = status
            if end_time is not None:
                sim.end_time = end_time
            if results_summary is not None:
                sim.results_summary = results_summary
            if simulation_db_path is not None:
                sim.simulation_db_path = simulation_db_path
        self._tx(update)

    def close(self):
        self.flush_all_buffers()
        self.engine.dispose()


def simulate(db, simulation_id, steps=25, agents=100, resources=30,
             seed=1):
    """An AgentFarm-shaped run through db (a DataLogger or a Peer), as
    AgentFarm's run_simulation and Environment call it.  Returns the
    number of rows it makes."""
    rnd = random.Random(seed)
    start = datetime(2025, 10, 1, 9, 0, 5, 250000, tzinfo=timezone.utc)
    config = {"width": 100, "height": 100, "seed": seed,
              "agents": {"system": agents // 2, "independent": agents // 2}}
    rows = 0
    db.add_simulation_record(simulation_id=simulation_id, start_time=start,
                             status="running", parameters=config)
    db.save_configuration(config)
    db.logger.flush_all_buffers()
    rows += 2

    alive, born = [], 0

    def birth(step, generation):
        nonlocal born
        aid = "agent_%s_%04d" % (seed, born)
        born += 1
        db.logger.log_agents_batch([{
            "simulation_id": simulation_id, "agent_id": aid,
            "birth_time": step,
            "agent_type": rnd.choice(["SystemAgent", "IndependentAgent"]),
            "position": (rnd.uniform(0, 100), rnd.uniform(0, 100)),
            "initial_resources": float(rnd.randint(1, 9)),
            "starting_health": 100.0,
            "genome_id": "g%d:%d" % (generation, born),
            "generation": generation,
            "action_weights": {"move": 0.4, "gather": 0.4, "attack": 0.2}}])
        alive.append(aid)

    for _ in range(agents):
        birth(0, 0)
    rows += agents
    res = ["resource_%s%05d" % ("abcdefgh"[seed % 8], i)
           for i in range(resources)]
    for r in res:
        db.logger.log_resource(resource_id=r,
                               initial_amount=rnd.uniform(5, 10),
                               position=(rnd.uniform(0, 100),
                                         rnd.uniform(0, 100)))
    rows += resources
    next_res = 120

    for step in range(1, steps + 1):
        for aid in list(alive):
            kind = rnd.random()
            if kind < 0.5:
                db.logger.log_agent_action(
                    step, aid, "move", None, round(rnd.uniform(-1, 1), 4),
                    {"dx": rnd.randint(-1, 1), "dy": rnd.randint(-1, 1)},
                    "dqn", 140213, action_taken=0,
                    action_taken_mapped="move")
            elif kind < 0.8:
                target = rnd.choice(res)
                db.logger.log_agent_action(
                    step, aid, "gather", target, 0.5,
                    {"amount_gathered": 1.5}, "dqn", 140213)
            else:
                target = rnd.choice(alive)
                db.logger.log_agent_action(step, aid, "attack", target, -0.1)
                db.logger.log_health_incident(
                    step, target, 100.0, 90.0, "combat",
                    {"attacker": aid, "damage": 10.0})
                rows += 1
            rows += 1
        # Deaths and births.
        for aid in rnd.sample(alive, k=min(2, len(alive))):
            alive.remove(aid)
            db.update_agent_death(agent_id=aid, death_time=step,
                                  cause="starvation")
            rows += 1           # the incident; the agent's row is updated
        for _ in range(rnd.randint(0, 2)):
            birth(step, 1)
            rows += 1
        if step % 5 == 0:       # a resource spawned later: an integer id
            res.append(next_res)
            db.logger.log_resource(resource_id=next_res, initial_amount=8.0,
                                   position=(50.0, 50.0))
            next_res += 1
            rows += 1
        states = [(aid, rnd.uniform(0, 100), rnd.uniform(0, 100),
                   rnd.uniform(0, 10), rnd.uniform(50, 100), 100.0,
                   rnd.randint(0, 3), int(rnd.random() < 0.1),
                   rnd.uniform(-5, 5), step) for aid in alive]
        rstates = [(r, rnd.uniform(0, 10), 10.0, 20.0) for r in res]
        metrics = {"total_agents": len(alive),
                   "agent_type_counts": {"SystemAgent": len(alive) // 2,
                                         "IndependentAgent":
                                         len(alive) - len(alive) // 2},
                   "total_resources": 300.0 - step, "births": 1,
                   "deaths": 2, "current_max_generation": 1,
                   "resource_efficiency": 0.5,
                   "resource_distribution_entropy": 2.25,
                   "average_agent_health": 90.0,
                   "average_agent_age": step / 2, "average_reward": 0.1,
                   "genetic_diversity": 0.3, "dominant_genome_ratio": 0.5}
        db.logger.log_step(step, states, rstates, metrics)
        db.logger.flush_if_needed()
        rows += len(states) + len(rstates) + 1
    db.logger.flush_all_buffers()
    db.update_simulation_record(
        simulation_id, status="completed",
        end_time=datetime(2025, 10, 1, 9, 1, 40, tzinfo=timezone.utc),
        results_summary={"total_steps": steps, "final_population":
                         len(alive), "termination_reason": "completed"})
    return rows

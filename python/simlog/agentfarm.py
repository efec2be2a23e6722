"""AgentFarm's results through simlog: a drop-in DataLogger.

AgentFarm (github.com/Dooders/AgentFarm) writes a simulation's results
with SQLAlchemy into SQLite, one transaction per buffer.  DataLogger here
takes the same calls with the same arguments and hands each row to a
simlog.Writer as a record of the types simlog's "agentfarm" schema maps;
simlog-drain --schema agentfarm later lands them in AgentFarm's own tables,
as AgentFarm's DataLogger would have written them.  The simulation never
waits on a database, and a Redis that fails costs it nothing: records
spool on local disk and are replayed.

It is both of the objects AgentFarm writes through: the DataLogger
(db.logger: log_agent_action, log_health_incident, log_agent,
log_agents_batch, log_step, log_resource, flush_all_buffers,
flush_if_needed) and the SimulationDatabase around it (update_agent_death,
save_configuration, add_simulation_record, update_simulation_record,
close); its .logger is itself.  One line plugs it in, through AgentFarm's
own factory argument or its setup_db:

    env = Environment(..., db_factory=simlog.agentfarm.DatabaseFactory())
    farm.database.utilities.setup_db = simlog.agentfarm.setup_db

and after the run

    simlog-drain --schema agentfarm -d simulation.db

Neither AgentFarm nor SQLAlchemy is needed to import this module.  What
AgentFarm reads back through its database object (queries, exports,
validation) is not here: the records are in Redis until drained; those
calls raise NoDatabase, which AgentFarm's own callers catch.
"""

import copy
import json
import time
from datetime import date, datetime

from . import Writer, UsageError

__all__ = ["DataLogger", "DataLoggingConfig", "DatabaseFactory", "setup_db",
           "NoDatabase"]

# The columns of AgentFarm's SimulationStepModel besides its key: log_step
# makes the row from the metrics with SimulationStepModel(**metrics), which
# raises TypeError for any other name.
_STEP_COLUMNS = frozenset((
    "total_agents", "agent_type_counts", "total_resources",
    "average_agent_resources", "births", "deaths", "current_max_generation",
    "resource_efficiency", "resource_distribution_entropy",
    "average_agent_health", "average_agent_age", "average_reward",
    "genetic_diversity", "dominant_genome_ratio", "resources_consumed"))

_AGENT_REQUIRED = ("agent_id", "birth_time", "agent_type", "position",
                   "initial_resources", "starting_health")


class NoDatabase(RuntimeError):
    """A read of AgentFarm's database: the records are in Redis until
    simlog-drain lands them."""


class DataLoggingConfig:
    """AgentFarm's DataLoggingConfig, accepted for its signature: the
    writer sends records on its own (in chunks, within flush_interval)."""

    def __init__(self, buffer_size=1000, commit_interval=30):
        self.buffer_size = buffer_size
        self.commit_interval = commit_interval


def _when(v):
    """A DateTime column's value: datetimes as ISO 8601 text."""
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return v


class DataLogger:
    """AgentFarm's DataLogger and SimulationDatabase, writing to simlog.

    DataLogger(database=None, simulation_id=None, config=None, *,
               db_path=":memory:", writer=None, **writer_options)

    database and config are AgentFarm's arguments, accepted and unused
    (database's db_path is taken when db_path is not given).
    simulation_id is required, as AgentFarm requires it; it also names
    the simlog simulation.  writer is a simlog.Writer to write through;
    without one, a Writer is opened with writer_options (url=,
    priority=, spool=, ...) and sim_field="simulation_id", so that a
    record of another simulation (add_simulation_record for another id)
    is pushed under that one.  A writer given should be opened so too.
    db_path is what AgentFarm records as the simulation's database (the
    simulations table's simulation_db_path): where you will drain to.
    """

    def __init__(self, database=None, simulation_id=None, config=None, *,
                 db_path=None, writer=None, **writer_options):
        if not simulation_id:
            raise ValueError("simulation_id is required for DataLogger")
        self.simulation_id = simulation_id
        self.db = database
        self.config = config
        if db_path is None:
            db_path = getattr(database, "db_path", None) or ":memory:"
        self.db_path = db_path
        self._own = writer is None
        # Each record names its simulation (simulation_id), so a record
        # of another one (add_simulation_record for another id) goes to
        # that one's stream, as the schema's sim column requires.
        self._writer = writer if writer is not None else Writer(
            simulation=simulation_id, sim_field="simulation_id",
            **writer_options)
        self._write = self._writer.write
        self._config = None
        self.closed = False

    # AgentFarm reaches the logger as db.logger.
    @property
    def logger(self):
        return self

    @property
    def writer(self):
        return self._writer

    @property
    def needs_flush(self):
        """Nothing waits here: the writer holds the records."""
        return False

    # --- DataLoggerProtocol -------------------------------------------------

    def log_agent_action(self, step_number, agent_id, action_type,
                         action_target_id=None, reward=None, details=None,
                         module_type=None, module_id=None, action_taken=None,
                         action_taken_mapped=None):
        """One row of agent_actions."""
        if step_number < 0:
            raise ValueError("step_number must be non-negative")
        if not isinstance(action_type, str):
            action_type = str(action_type)
        d = copy.deepcopy(details) if details else {}
        if action_taken is not None:
            d["action_taken"] = action_taken
        if action_taken_mapped is not None:
            d["action_taken_mapped"] = action_taken_mapped
        self._write({
            "type": "action",
            "simulation_id": self.simulation_id,
            "step_number": step_number,
            "agent_id": agent_id,
            "action_type": action_type,
            "action_target_id": action_target_id,
            "reward": reward,
            "details": json.dumps(d) if d else None,
            "module_type": module_type,
            "module_id": str(module_id) if module_id is not None else None,
        })

    def log_health_incident(self, step_number, agent_id, health_before,
                            health_after, cause, details=None):
        """One row of health_incidents."""
        self._write({
            "type": "health_incident",
            "simulation_id": self.simulation_id,
            "step_number": step_number,
            "agent_id": agent_id,
            "health_before": health_before,
            "health_after": health_after,
            "cause": cause,
            "details": json.dumps(details) if details else None,
        })

    def log_agent(self, agent_id, birth_time, agent_type, position,
                  initial_resources, starting_health, genome_id=None,
                  generation=0, action_weights=None):
        """One row of agents."""
        weights = None
        if action_weights is not None:
            try:
                weights = {str(k): float(v)
                           for k, v in action_weights.items()}
                json.dumps(weights)
            except Exception:
                weights = str(action_weights)
        self.log_agents_batch([{
            "simulation_id": self.simulation_id,
            "agent_id": agent_id,
            "birth_time": birth_time,
            "agent_type": agent_type,
            "position": position,
            "initial_resources": initial_resources,
            "starting_health": starting_health,
            "genome_id": genome_id,
            "generation": generation,
            "action_weights": weights,
        }])

    def log_agents_batch(self, agent_data_list):
        """Rows of agents, from AgentFarm's agent dicts."""
        recs = []
        for data in agent_data_list:
            for field in _AGENT_REQUIRED:
                if field not in data:
                    raise ValueError("Missing required field '%s' in agent "
                                     "data" % field)
            weights = data.get("action_weights")
            if weights is not None and not isinstance(weights, (dict, str)):
                weights = str(weights)
            pos = data["position"]
            recs.append({
                "type": "agent",
                "simulation_id": data["simulation_id"],
                "agent_id": data["agent_id"],
                "birth_time": data["birth_time"],
                "agent_type": data["agent_type"],
                "position": [pos[0], pos[1]],
                "initial_resources": data["initial_resources"],
                "starting_health": data["starting_health"],
                "genome_id": data.get("genome_id"),
                "generation": data.get("generation", 0),
                "action_weights": weights,
            })
        # All checked before any is written, as AgentFarm's one
        # transaction writes all or none.
        self._writer.write_many(recs)

    def log_step(self, step_number, agent_states, resource_states, metrics):
        """A step: its agents' states, its resources' states, its metrics."""
        for k in metrics:
            if k not in _STEP_COLUMNS:
                raise TypeError("%r is an invalid keyword argument for "
                                "SimulationStepModel" % (k,))
        sim = self.simulation_id
        recs = []
        if agent_states:
            # One state per agent and step, the last given, as AgentFarm
            # keeps it (the states' key is simulation, agent and step).
            last = {}
            for s in agent_states:
                last[s[0]] = s
            recs.extend({
                "type": "agent_state", "simulation_id": sim,
                "step_number": step_number, "agent_id": s[0],
                "position_x": s[1], "position_y": s[2],
                "resource_level": s[3], "current_health": s[4],
                "starting_health": s[5], "starvation_counter": s[6],
                "is_defending": bool(s[7]), "total_reward": s[8],
                "age": s[9]} for s in last.values())
        if resource_states:
            recs.extend({
                "type": "resource_state", "simulation_id": sim,
                "step_number": step_number, "resource_id": s[0],
                "amount": s[1], "position_x": s[2], "position_y": s[3]}
                for s in resource_states)
        step = {"type": "step", "simulation_id": sim,
                "step_number": step_number}
        step.update(metrics)
        step.setdefault("resources_consumed", 0.0)
        recs.append(step)
        self._writer.write_many(recs)

    def log_resource(self, resource_id, initial_amount, position):
        """A resource's first state (step 0)."""
        self._write({
            "type": "resource_state",
            "simulation_id": self.simulation_id,
            "step_number": 0,
            "resource_id": resource_id,
            "amount": initial_amount,
            "position_x": position[0],
            "position_y": position[1],
        })

    def flush_all_buffers(self):
        """Send what was written so far now (the writer does not wait)."""
        self._writer.flush()

    def flush_if_needed(self):
        """The writer flushes on its own within its flush_interval."""

    def discard_pending_agents(self, agent_ids):
        """Records are handed to the writer at once: none is pending."""
        return 0

    # --- SimulationDatabase -------------------------------------------------

    def update_agent_death(self, agent_id, death_time, cause="starvation"):
        """The agent's death_time, and a health incident for the death."""
        self._write({"type": "agent", "simulation_id": self.simulation_id,
                     "agent_id": agent_id, "death_time": death_time})
        self._write({
            "type": "health_incident",
            "simulation_id": self.simulation_id,
            "step_number": death_time,
            "agent_id": agent_id,
            "health_before": 0,
            "health_after": 0,
            "cause": cause,
            "details": json.dumps({"final_state": "dead"}),
        })

    def save_configuration(self, config):
        """A row of simulation_config: the configuration as JSON text."""
        data = json.dumps(config)
        self._write({"type": "simulation_config",
                     "simulation_id": self.simulation_id,
                     "timestamp": int(time.time()), "config_data": data})
        self._config = json.loads(data)

    def get_configuration(self):
        """The configuration this logger saved last ({} if none)."""
        return copy.deepcopy(self._config) if self._config else {}

    def add_simulation_record(self, simulation_id, start_time, status,
                              parameters):
        """The simulation's row of simulations."""
        self._write({
            "type": "simulation",
            "simulation_id": simulation_id,
            "start_time": _when(start_time),
            "status": status,
            "parameters": parameters,
            "simulation_db_path": self.db_path,
        })

    def update_simulation_record(self, simulation_id, *, status=None,
                                 end_time=None, results_summary=None,
                                 simulation_db_path=None):
        """The simulation's row again, with what is given (not None)."""
        rec = {"type": "simulation", "simulation_id": simulation_id}
        if status is not None:
            rec["status"] = status
        if end_time is not None:
            rec["end_time"] = _when(end_time)
        if results_summary is not None:
            rec["results_summary"] = results_summary
        if simulation_db_path is not None:
            rec["simulation_db_path"] = simulation_db_path
        self._write(rec)

    def add_experiment_record(self, experiment_id, name, description=None,
                              hypothesis=None, status="planned", tags=None,
                              variables=None, results_summary=None,
                              notes=None, creation_date=None):
        """A row of experiments (AgentFarm's ExperimentModel)."""
        rec = {"type": "experiment", "experiment_id": experiment_id,
               "name": name, "description": description,
               "hypothesis": hypothesis, "status": status, "tags": tags,
               "variables": variables, "results_summary": results_summary,
               "notes": notes,
               "creation_date": _when(creation_date or datetime.now()),
               "last_updated": _when(datetime.now())}
        self._write(rec)

    def update_experiment_record(self, experiment_id, *, status=None,
                                 results_summary=None, notes=None):
        """The experiment's row again, with what is given."""
        rec = {"type": "experiment", "experiment_id": experiment_id,
               "last_updated": _when(datetime.now())}
        if status is not None:
            rec["status"] = status
        if results_summary:
            rec["results_summary"] = results_summary
        if notes is not None:
            rec["notes"] = notes
        self._write(rec)

    def close(self):
        """Close the writer(s): everything sent or spooled.  Returns the
        writer's summary (simlog-push's), or None if it is not ours."""
        if self.closed:
            return None
        self.closed = True
        return self._writer.close() if self._own else None

    def cleanup(self):
        """SimulationDatabase.cleanup: flush and close."""
        self.close()

    def _execute_in_transaction(self, func):
        raise NoDatabase("simlog.agentfarm.DataLogger has no database to "
                         "query: the records are in Redis until "
                         "simlog-drain --schema agentfarm lands them")

    def get_table_row_count(self, table_name):
        return self._execute_in_transaction(None)

    def export_data(self, *args, **kwargs):
        return self._execute_in_transaction(None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def setup_db(db_path, simulation_id, parameters=None, **writer_options):
    """AgentFarm's setup_db, answered with a DataLogger: None when db_path
    is None (no database asked for), else a DataLogger with the simulation's
    row already written, status "running"."""
    if db_path is None:
        return None
    db = DataLogger(simulation_id=simulation_id, db_path=db_path,
                    **writer_options)
    db.add_simulation_record(simulation_id=simulation_id,
                             start_time=datetime.now(), status="running",
                             parameters=parameters or {})
    return db


class DatabaseFactory:
    """AgentFarm's DatabaseFactoryProtocol: Environment(db_factory=...)
    gets its database from here.  writer_options go to each Writer."""

    def __init__(self, **writer_options):
        self.writer_options = writer_options

    def setup_db(self, db_path, simulation_id, config=None):
        return setup_db(db_path, simulation_id, config,
                        **self.writer_options)

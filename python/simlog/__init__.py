"""simlog from Python: records into the simlog buffer in Redis.

A thin layer over libsimlog (libsimlog(3)): the same options, environment
variables, defaults and guarantees as simlog-push(1), without a pipe and
a second process.

    import simlog

    with simlog.Writer(simulation="run42") as w:      # $SIMLOG_REDIS_URL
        w.write({"type": "agent", "agent_id": "a1", "x": 3})
        w.write('{"type":"step","n":1}')             # a JSON line as is
    # then: simlog-drain -d results.db

Writer.write() never waits for a failing Redis longer than a quarter of
the timeout (below priority "critical"): what Redis does not take goes to
the spool on local disk and is replayed later.  Every record taken is
accounted for exactly once; close() returns simlog-push's summary.

Errors are simlog.Error, whose .code is simlog's exit code; subclasses
name the classes a caller catches: UsageError (64), RefusedRecord (65),
NotFound (66), Unavailable (69), LocalError (71), StorageError (74),
TemporaryFailure (75), AuthError (77), ConfigError (78), Conflict (79).

Also here: State (simlog-state(1): versioned states in Redis) and ping()
(simlog-ping(1)).  simlog.agentfarm.DataLogger writes AgentFarm's
records.  See simlog-python(3).
"""

import atexit
import json
import logging
import os
import sys
import threading
import weakref

from . import _simlog
from ._simlog import (AuthError, ConfigError, Conflict, Error, LocalError,
                      NotFound, RefusedRecord, StorageError,
                      TemporaryFailure, Unavailable, UsageError)

__all__ = ["Writer", "State", "ping", "encode", "Error", "UsageError",
           "RefusedRecord", "NotFound", "Unavailable", "LocalError",
           "StorageError",
           "TemporaryFailure", "AuthError", "ConfigError", "Conflict",
           "PRIORITIES"]

__version__ = _simlog.LIBRARY_VERSION

PRIORITIES = ("low", "normal", "critical")

log = logging.getLogger("simlog")


# --- options ----------------------------------------------------------------

def _number(name, v, lo, hi, kind=int):
    """v as kind, in [lo, hi], or UsageError naming the keyword."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (
            kind is int and not isinstance(v, int)):
        raise UsageError("invalid %s: %r: not %s" % (
            name, v, "a whole number" if kind is int else "a number"))
    if v != v or not lo <= v <= hi:
        raise UsageError("invalid %s: %r: %s to %s" % (name, v, lo, hi))
    return kind(v)


def _path(name, v):
    if v is None:
        return None
    try:
        p = os.fspath(v)
    except TypeError:
        raise UsageError("invalid %s: %r: not a path" % (name, v)) from None
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    if not p:
        raise UsageError("invalid %s: empty path" % name)
    return p


def _text(name, v, longest=4096):
    if v is None:
        return None
    if not isinstance(v, str):
        raise UsageError("invalid %s: %r: not a string" % (name, v))
    if not v or len(v) > longest:
        raise UsageError("invalid %s: 1 to %d characters" % (name, longest))
    return v


_TLS = ("tls_ca", "tls_cert", "tls_key", "tls_server_name", "tls_no_verify")


def _conn_options(url, timeout, password_file, sentinel_password_file, tls):
    """The options every simlog tool that talks to Redis takes."""
    unknown = sorted(set(tls) - set(_TLS))
    if unknown:
        raise TypeError("unexpected keyword argument %r" % unknown[0])
    o = {"url": _text("url", url),
         "timeout": 2.0 if timeout is None else
         _number("timeout", timeout, 0, 3600, float),
         "password_file": _path("password_file", password_file),
         "sentinel_password_file": _path("sentinel_password_file",
                                         sentinel_password_file)}
    if o["timeout"] <= 0:
        raise UsageError("invalid timeout: %r: must be more than 0"
                         % timeout)
    for k in ("tls_ca", "tls_cert", "tls_key"):
        o[k] = _path(k, tls.get(k))
    o["tls_server_name"] = _text("tls_server_name",
                                 tls.get("tls_server_name"), 253)
    o["tls_no_verify"] = bool(tls.get("tls_no_verify", False))
    return o


# --- the writer -------------------------------------------------------------

class Writer(_simlog.Writer):
    """Records into the simlog buffer in Redis, as simlog-push takes them.

    Writer(url=None, simulation=None, type=None, type_field="type",
           sim_field=None, priority="normal", timeout=2, deadline=30, spool=None,
           spool_max=1 GiB, batch=1024, inflight=8, max_record=1 MiB,
           flush_interval=0.25, max_backlog=0, wait_replicas=None,
           retries=None, retry_base=None, retry_factor=None,
           retry_cap=None, breaker_failures=None, breaker_reset=None,
           password_file=None, sentinel_password_file=None, replay=False,
           tls_ca=None, tls_cert=None, tls_key=None, tls_server_name=None,
           tls_no_verify=False)

    Each is simlog-push's option of that name (simlog-push(1);
    simulation is --sim, spool --spool, replay --replay); None means its
    default, or the environment variable push reads (SIMLOG_REDIS_URL,
    SIMLOG_SIM, SIMLOG_WAIT_REPLICAS, SIMLOG_RETRIES,
    SIMLOG_BREAKER_FAILURES, SIMLOG_SPOOL_DIR, SIMLOG_TLS_CA, ...).
    With sim_field, each record's simulation is that member of its own
    (simulation, if given, for records without it).

    write(record) takes a dict (written as JSON; a value JSON cannot hold
    raises RefusedRecord, a ValueError, naming the field) or one line of
    JSON as str or bytes.  A refused record raises and is not stored; the
    writer goes on with the others.  write_many(iterable) takes each and
    returns how many it took, raising RefusedRecord at the end if any was
    refused (its .refused lists them).  flush() sends what was taken now.
    close() sends or spools everything and returns simlog-push's summary
    as a dict; .status is then push's exit status for the run.  .stats is
    the running count.  A writer is a context manager, may be shared by
    threads, and is closed at interpreter exit if the program did not
    close it.  A child process (os.fork, multiprocessing) opens its own.
    """

    def __init__(self, url=None, simulation=None, type=None,
                 type_field="type", sim_field=None, priority="normal",
                 timeout=None,
                 deadline=30, spool=None, spool_max=1 << 30, batch=1024,
                 inflight=8, max_record=1 << 20, flush_interval=0.25,
                 max_backlog=0, wait_replicas=None, retries=None,
                 retry_base=None, retry_factor=None, retry_cap=None,
                 breaker_failures=None, breaker_reset=None,
                 password_file=None, sentinel_password_file=None,
                 replay=False, **tls):
        if priority not in PRIORITIES:
            raise UsageError("invalid priority: %r: use critical, normal "
                             "or low" % (priority,))

        def opt(name, v, lo, hi, kind=int, unset=-1):
            return unset if v is None else _number(name, v, lo, hi, kind)

        o = _conn_options(url, timeout, password_file,
                          sentinel_password_file, tls)
        o.update(
            sim=_text("simulation", simulation, 64),
            type=_text("type", type, 63),
            type_field=_text("type_field", type_field, 64),
            sim_field=_text("sim_field", sim_field, 64),
            priority=PRIORITIES.index(priority),
            deadline=_number("deadline", deadline, 0, 86400 * 7, float),
            spool=_path("spool", spool),
            spool_max=_number("spool_max", spool_max, 4096, 1 << 50),
            batch=_number("batch", batch, 1, 100000),
            inflight=_number("inflight", inflight, 1, 1024),
            max_record=_number("max_record", max_record, 16, 64 << 20),
            flush_interval=_number("flush_interval", flush_interval, 0,
                                   86400, float),
            max_backlog=_number("max_backlog", max_backlog, 0, 1 << 50),
            wait_replicas=opt("wait_replicas", wait_replicas, 0, 100),
            retries=opt("retries", retries, 0, 1000),
            retry_base=opt("retry_base", retry_base, 0, 3600, float),
            retry_factor=opt("retry_factor", retry_factor, 1, 100, float),
            retry_cap=opt("retry_cap", retry_cap, 0, 3600, float),
            breaker_failures=opt("breaker_failures", breaker_failures, 1,
                                 1000, int, 0),
            breaker_reset=opt("breaker_reset", breaker_reset, 0, 86400,
                              float, 0),
            replay_only=bool(replay))
        if breaker_reset is not None and o["breaker_reset"] <= 0:
            raise UsageError("invalid breaker_reset: %r: must be more "
                             "than 0" % breaker_reset)
        super().__init__(**o)
        _opened(self)

    def _say(self, msg):
        """What the library says (retries, spooling, Redis back ...)."""
        log.warning("%s", msg)

    def close(self):
        """Send or spool everything; simlog-push's summary, as a dict."""
        s = super().close()
        if s is not None and self.status not in (None, 0, 65):
            st = self.stats
            if st["failed"]:
                log.error("%d records were not stored anywhere: %s",
                          st["failed"], st["fatal"])
            if st["spooled"] and st["spool_pending"]:
                log.warning("%d records wait in the spool %s; the next "
                            "writer or simlog-push replays them, or now "
                            "'simlog-push --replay'", st["spooled"],
                            st["spool_dir"])
            if st["dropped"]:
                log.warning("%d low-priority records were dropped",
                            st["dropped"])
        return s

    def __repr__(self):
        try:
            st = self.stats
        except Error:
            return "<simlog.Writer (of another process)>"
        return "<simlog.Writer %s %s, %d records>" % (
            st["sim"], "closed" if self.closed else "open", st["records"])


# Writers still open at exit are closed then: nothing taken is lost to a
# program that forgot.  A multiprocessing worker ends without atexit; its
# finalizers run instead.
_open = weakref.WeakSet()
_open_lock = threading.Lock()
_mp_pid = None


def _close_all():
    for w in list(_open):
        try:
            w.close()
        except UsageError:
            pass            # a writer of the parent process, after a fork


def _opened(w):
    global _mp_pid
    with _open_lock:
        _open.add(w)
        mp = sys.modules.get("multiprocessing")
        if (mp is not None and _mp_pid != os.getpid()
                and mp.parent_process() is not None):
            _mp_pid = os.getpid()
            import multiprocessing.util
            multiprocessing.util.Finalize(None, _close_all, exitpriority=10)


atexit.register(_close_all)


# --- JSON -------------------------------------------------------------------

def encode(obj):
    """obj as the one line of JSON Writer.write() would write (bytes).

    RefusedRecord (a ValueError) names a field JSON cannot hold.
    """
    return _simlog.encode(obj)


# --- states -----------------------------------------------------------------

def _check_json(data):
    def no_constant(name):
        raise RefusedRecord("not JSON: %s (raw=True stores any bytes)"
                            % name)
    try:
        json.loads(data, parse_constant=no_constant)
    except ValueError as e:
        if isinstance(e, RefusedRecord):
            raise
        raise RefusedRecord("not JSON: %s (raw=True stores any bytes)"
                            % e) from None


class State(_simlog.State):
    """Versioned, compressed, checksummed states in Redis (simlog-state).

    State(url=None, timeout=2, password_file=None,
          sentinel_password_file=None, tls_ca=None, tls_cert=None,
          tls_key=None, tls_server_name=None, tls_no_verify=False)

    save(id, state, tags=(), ttl=None, compress="lz4", max_versions=0,
         expect_version=None, raw=False, wait_replicas=None) -> dict
        A new version of id: state is a dict or list (written as JSON),
        JSON text (str or bytes), or with raw=True any bytes.  Returns
        the version's metadata, as simlog-state prints it.
    load(id, version=None) -> bytes: the state as saved, verified.
    meta(id, version=None) -> dict;  versions(id) -> [dict, ...]
    list(tags=(), match=None) -> [dict, ...]: every ID's latest version.
    rollback(id, to) -> dict: version to's content as the new latest.
    delete(id, version=None) -> int;  prune(id, keep) -> int
    close(): drop the connection (also a context manager).
    """

    def __init__(self, url=None, timeout=None, password_file=None,
                 sentinel_password_file=None, **tls):
        super().__init__(**_conn_options(url, timeout, password_file,
                                         sentinel_password_file, tls))

    def save(self, id, state, tags=(), ttl=None, compress="lz4",
             max_versions=0, expect_version=None, raw=False,
             wait_replicas=None):
        if isinstance(tags, str):
            tags = (tags,)
        if isinstance(state, (dict, list, tuple)):
            data = encode(state)
        elif isinstance(state, str):
            data = state.encode()
        elif isinstance(state, (bytes, bytearray, memoryview)):
            data = bytes(state)
        else:
            raise TypeError("a state is a dict, a list, JSON text or "
                            "bytes, not %s" % type(state).__name__)
        if not raw and not isinstance(state, (dict, list, tuple)):
            _check_json(data)
        if ttl is not None:
            ttl = _number("ttl", ttl, 0.001, 1e9, float)
        return self._save(
            id, data, ",".join(tags), 0 if ttl is None else ttl, compress,
            _number("max_versions", max_versions, 0, 1000000),
            -1 if expect_version is None else
            _number("expect_version", expect_version, 0, 1 << 53),
            bool(raw), -1 if wait_replicas is None else
            _number("wait_replicas", wait_replicas, 0, 100))

    def load(self, id, version=None):
        return self._load(id, 0 if version is None else
                          _number("version", version, 1, 1 << 53))

    def meta(self, id, version=None):
        return self._describe(id, 0 if version is None else
                              _number("version", version, 1, 1 << 53))[0]

    def versions(self, id):
        return self._describe(id, -1)

    def list(self, tags=(), match=None):
        import fnmatch
        if isinstance(tags, str):
            tags = (tags,)
        out = []
        for m in self._list():
            if match is not None and not fnmatch.fnmatchcase(m["id"], match):
                continue
            if all(t in m["tags"] for t in tags):
                out.append(m)
        return out

    def rollback(self, id, to):
        return self._rollback(id, _number("to", to, 1, 1 << 53))

    def delete(self, id, version=None):
        return self._delete(id, 0 if version is None else
                            _number("version", version, 1, 1 << 53))

    def prune(self, id, keep):
        return self._prune(id, _number("keep", keep, 1, 1000000))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# --- ping -------------------------------------------------------------------

def ping(url=None, count=3, interval=0.1, wait=0, check=False,
         timeout=None, password_file=None, sentinel_password_file=None,
         **tls):
    """What simlog-ping reports about the Redis at url, as a dict.

    {"ok": ..., "url": ..., "latency_ms": {...}, "server": {...},
     "findings": [...] (check=True), "nodes": [...] (cluster, sentinel)}.
    A Redis that does not answer raises the error of its class
    (Unavailable, AuthError, ...) with that report, "ok": False and
    "error", as its .report.
    """
    o = _conn_options(url, timeout, password_file, sentinel_password_file,
                      tls)
    o.update(count=_number("count", count, 1, 1000000),
             interval=_number("interval", interval, 0, 3600, float),
             wait=_number("wait", wait, 0, 86400, float),
             check=bool(check))
    return _simlog.ping(**o)

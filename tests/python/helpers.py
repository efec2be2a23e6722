"""What the Python module's tests share: a directory of their own, private
redis-servers on unix sockets (frozen, killed, restarted on demand), the
simlog tools of the build tree, and the records that landed in SQLite or
PostgreSQL.  tests/python.bats runs each case on its own (one process, one
directory); run by hand, a case works in a temporary directory.

Every wait on something outside the process has a deadline; none of them
measures anything.
"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

TOP = os.environ.get("SIMLOG_TOP") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SIMLOG_BUILD") or os.path.join(TOP, "build", "std")
BIN = os.path.join(BUILD, "bin")
PYDIR = os.path.join(BUILD, "python")
if PYDIR not in sys.path:
    sys.path.insert(0, PYDIR)

import simlog  # noqa: E402  (from the build tree, above)

WAIT = float(os.environ.get("SIMLOG_WAIT", "30"))

# Under a sanitizer build python3 runs with the ASan runtime preloaded
# (tests/python.bats); the programs a test starts do not want it (some
# hang at exit with it), bar another python3 that imports the module.
PRELOAD = os.environ.pop("LD_PRELOAD", None)


def wait_until(what, cond, limit=WAIT):
    """Run cond every 50 ms until it is true; fail after limit seconds.
    The bound only catches something stuck; it measures nothing."""
    end = time.monotonic() + limit
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("gave up waiting for %s" % what)
        time.sleep(0.05)


def measured(what):
    """A measured number, for the TAP stream as a # comment."""
    print("# %s" % what, file=sys.stderr, flush=True)


class Redis:
    """A private redis-server on a unix socket in dir."""

    def __init__(self, dir, *opts):
        self.dir = dir
        self.opts = opts
        self.sock = os.path.join(dir, "sock")
        self.url = "unix://" + self.sock
        self.proc = None
        os.makedirs(dir, exist_ok=True)

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock,
             "--unixsocketperm", "700", "--dir", self.dir, "--save", "",
             "--appendonly", "no", "--daemonize", "no",
             "--logfile", os.path.join(self.dir, "log")] + list(self.opts),
            stdin=subprocess.DEVNULL)
        wait_until("redis-server to answer", self.answers)
        return self

    def answers(self):
        r = subprocess.run(["redis-cli", "-s", self.sock, "ping"],
                           capture_output=True, text=True)
        return r.stdout.strip() in ("PONG",) or "NOAUTH" in r.stdout

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-s", self.sock] + list(args),
                           capture_output=True, text=True, check=True)
        return r.stdout.strip()

    def freeze(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self):
        """SIGKILL, and wait for the process to be gone."""
        self.thaw()
        self.proc.kill()
        self.proc.wait(timeout=WAIT)
        if os.path.exists(self.sock):
            os.unlink(self.sock)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.thaw()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)


class Case(unittest.TestCase):
    """A test in a directory of its own, with its own spool and circuit
    breaker, and servers that are ended when it ends."""

    def setUp(self):
        base = os.environ.get("BATS_TEST_TMPDIR")
        self.dir = tempfile.mkdtemp(prefix="py.", dir=base)
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.servers = []
        self.procs = []
        env = {
            "SIMLOG_SPOOL_DIR": self.path("spool"),
            "SIMLOG_BREAKER_DIR": self.path("breaker"),
            "XDG_STATE_HOME": self.path("state"),
            "XDG_RUNTIME_DIR": self.path("run"),
        }
        self.saved_env = dict(os.environ)
        for k in ("SIMLOG_REDIS_URL", "SIMLOG_SIM", "SIMLOG_DB",
                  "SIMLOG_RETRIES", "SIMLOG_RETRY_BASE",
                  "SIMLOG_RETRY_FACTOR", "SIMLOG_RETRY_CAP",
                  "SIMLOG_BREAKER_FAILURES", "SIMLOG_BREAKER_RESET",
                  "SIMLOG_WAIT_REPLICAS"):
            os.environ.pop(k, None)
        os.environ.update(env)
        os.environ["PATH"] = BIN + os.pathsep + os.environ["PATH"]
        os.environ["PYTHONPATH"] = PYDIR
        self.addCleanup(self.restore_env)
        self.addCleanup(self.end_all)

    def restore_env(self):
        os.environ.clear()
        os.environ.update(self.saved_env)

    def end_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for r in self.servers:
            r.stop()

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def redis(self, name="main", *opts, start=True):
        r = Redis(self.path("redis-" + name), *opts)
        self.servers.append(r)
        return r.start() if start else r

    # --- the tools ----------------------------------------------------------

    def tool(self, *args, input=None, check=True, ok=(0,)):
        """Run a simlog tool of the build tree; (status, stdout, stderr)."""
        r = subprocess.run([os.path.join(BIN, args[0])] + list(args[1:]),
                           input=input, capture_output=True, text=True,
                           timeout=WAIT * 4)
        if check and r.returncode not in ok:
            raise AssertionError("%s exited %d: %s%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr))
        return r.returncode, r.stdout, r.stderr

    def replay(self, url):
        """simlog-push --replay: the whole spool into Redis; how many."""
        _, out, _ = self.tool("simlog-push", "-u", url, "--replay")
        return json.loads(out.splitlines()[-1])["replayed"]

    def drain(self, url, db=None, *args):
        db = db or self.path("sim.db")
        _, out, _ = self.tool("simlog-drain", "-u", url, "-q", "-d", db,
                              *args)
        return json.loads(out.splitlines()[-1])

    def segments(self):
        n = 0
        for _, _, files in os.walk(self.path("spool")):
            n += sum(1 for f in files if f.endswith(".seg"))
        return n

    # --- what landed ----------------------------------------------------------

    def landed(self, db=None):
        """Every record in the record tables of a plain (no schema) drain,
        as parsed JSON, sorted by its text."""
        db = db or self.path("sim.db")
        if not os.path.exists(db):
            return []
        c = sqlite3.connect(db)
        try:
            tables = [r[0] for r in c.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                "name NOT LIKE 'simlog\\_%' ESCAPE '\\' AND name NOT LIKE "
                "'sqlite\\_%' ESCAPE '\\'")]
            rows = []
            for t in tables:
                rows += [r[0] for r in c.execute(
                    'SELECT data FROM "%s"' % t)]
        finally:
            c.close()
        return sorted(rows)

    def assert_exact(self, records, db=None):
        """The record tables hold exactly these records, each once."""
        want = sorted(json.dumps(r, sort_keys=True) for r in records)
        got = sorted(json.dumps(json.loads(r), sort_keys=True)
                     for r in self.landed(db))
        if want != got:
            missing = len(set(want) - set(got))
            extra = len(got) - (len(want) - missing)
            self.fail("want %d records, landed %d: %d missing, %d extra or "
                      "doubled" % (len(want), len(got), missing, extra))


def records(n, sim_seed=0, type="rec"):
    """n distinct records: every one can be told apart once landed."""
    return [{"type": type, "seed": sim_seed, "i": i, "x": i * 0.5,
             "name": "agent_%06d" % i, "tags": ["a", i % 7]}
            for i in range(n)]


def python(code, *args, env=None, timeout=None):
    """Run code in a fresh interpreter (this one) with the build tree's module."""
    e = dict(os.environ)
    e["PYTHONPATH"] = PYDIR
    if PRELOAD:
        e["LD_PRELOAD"] = PRELOAD
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-c", code] + list(args),
                          capture_output=True, text=True, env=e,
                          timeout=timeout or WAIT * 4)

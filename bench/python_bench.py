"""The simlog Python module beside its peers, each pair in one run:

  Writer.write(dict)  vs  json.dumps + lines into a simlog-push pipe,
                          from the same Python loop
  Writer.write(str)   vs  the same pipe
  agentfarm.DataLogger vs a logger doing what AgentFarm's does
                          (bench/agentfarm_peer.py: SQLAlchemy 1.4
                          bulk_insert_mappings into the same SQLite tables)
  the time one write() takes at p50/p99/max, Redis healthy and frozen

usage: python_bench.py BINDIR PYDIR
env:   BENCH_N (records, default 1000000), BENCH_RUNS (best of, default 3),
       BENCH_PY_STEPS (steps of the AgentFarm-shaped run, default 200, 100
       agents), BENCH_PY_RATE, BENCH_PY_SECS (the paced producer of the
       write-time measure: default 20000 records/s for 10 s)
Everything is checked: every record in Redis, every row in SQLite.
"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

BINDIR, PYDIR = sys.argv[1], sys.argv[2]
sys.path.insert(0, PYDIR)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import simlog                           # noqa: E402
import simlog.agentfarm                 # noqa: E402
from agentfarm_peer import Peer, simulate   # noqa: E402

N = int(os.environ.get("BENCH_N", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
STEPS = int(os.environ.get("BENCH_PY_STEPS", "200"))
RATE = int(os.environ.get("BENCH_PY_RATE", "20000"))
SECS = float(os.environ.get("BENCH_PY_SECS", "10"))
POOL = 20000
failures = []


def note(msg):
    print("python_bench: " + msg, file=sys.stderr, flush=True)


work = tempfile.mkdtemp(prefix="simlog-pybench.")
os.environ.update(SIMLOG_SPOOL_DIR=os.path.join(work, "spool"),
                  SIMLOG_BREAKER_DIR=os.path.join(work, "breaker"),
                  SIMLOG_SCHEMA_PATH=os.path.join(
                      os.path.dirname(os.path.abspath(__file__)), "..",
                      "schemas"))
sock = os.path.join(work, "redis.sock")
url = "unix://" + sock
redis = subprocess.Popen(
    ["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
     "--appendonly", "no", "--dir", work, "--logfile",
     os.path.join(work, "redis.log")], stdin=subprocess.DEVNULL)


def cli(*args):
    return subprocess.run(["redis-cli", "-s", sock] + list(args),
                          capture_output=True, text=True).stdout.strip()


for _ in range(200):
    if os.path.exists(sock) and cli("ping") == "PONG":
        break
    time.sleep(0.05)
else:
    sys.exit("python_bench: redis-server did not start")


def in_redis(sim):
    """Records buffered for sim, by simlog's counters."""
    vals = cli("HVALS", "simlog:{%s}:n" % sim).split()
    return sum(int(v) for v in vals)


def action(i):
    return {"type": "action", "simulation_id": "sim_bench",
            "step_number": i // 100, "agent_id": "agent_%08d" % (i % 997),
            "action_type": ("move", "gather", "attack")[i % 3],
            "action_target_id": None if i % 3 == 0 else "resource_%d" % i,
            "reward": (i % 13) * 0.25, "details": '{"amount": 1.5}',
            "module_type": "dqn", "module_id": "140213"}


pool = [action(i) for i in range(POOL)]
lines = [json.dumps(r) for r in pool]


def best(fn):
    times = []
    for _ in range(RUNS):
        cli("FLUSHALL")
        times.append(fn())
    return min(times), times


def via_pipe(texts, dump):
    sim = "pipe"
    push = subprocess.Popen([os.path.join(BINDIR, "simlog-push"), "-u", url,
                             "-s", sim, "-q"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    f = push.stdin
    dumps = json.dumps
    t = time.perf_counter()
    if dump:
        for i in range(N):
            f.write((dumps(texts[i % POOL]) + "\n").encode())
    else:
        for i in range(N):
            f.write((texts[i % POOL] + "\n").encode())
    f.close()
    push.wait()
    el = time.perf_counter() - t
    if push.returncode != 0 or in_redis(sim) != N:
        failures.append("simlog-push pipe: %d in Redis of %d (exit %d)" % (
            in_redis(sim), N, push.returncode))
    return el


def via_writer(texts):
    sim = "writer"
    w = simlog.Writer(url=url, simulation=sim)
    write = w.write
    t = time.perf_counter()
    for i in range(N):
        write(texts[i % POOL])
    s = w.close()
    el = time.perf_counter() - t
    if s["pushed"] != N or in_redis(sim) != N:
        failures.append("Writer: %d pushed of %d" % (s["pushed"], N))
    return el


note("write(dict) and json.dumps + pipe, %d records, best of %d" % (N, RUNS))
pipe_s, pipe_all = best(lambda: via_pipe(pool, True))
wdict_s, wdict_all = best(lambda: via_writer(pool))
note("write(str) and str lines into the pipe")
wstr_s, wstr_all = best(lambda: via_writer(lines))
pstr_s, pstr_all = best(lambda: via_pipe(lines, False))

# --- DataLogger and its peer ---------------------------------------------


def tables(db):
    c = sqlite3.connect(db)
    try:
        names = [r[0] for r in c.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name "
            "NOT LIKE 'simlog%' AND name NOT LIKE 'sqlite%' ORDER BY name")]
        return {t: c.execute('SELECT count(*) FROM "%s"' % t).fetchone()[0]
                for t in names}
    finally:
        c.close()


def drain(db, *args):
    r = subprocess.run([os.path.join(BINDIR, "simlog-drain"), "-u", url,
                        "-q", "-d", db, "--schema", "agentfarm"] + list(args),
                       capture_output=True, text=True)
    if r.returncode != 0:
        failures.append("simlog-drain --schema agentfarm exited %d: %s" % (
            r.returncode, r.stderr.strip()[-300:]))
    return r


# The peer's tables: what the drain makes of a small run, emptied.
template = os.path.join(work, "template.db")
cli("FLUSHALL")
d = simlog.agentfarm.DataLogger(simulation_id="sim_template", url=url)
simulate(d, "sim_template", steps=2, agents=4, resources=2)
d.close()
drain(template)
c = sqlite3.connect(template)
for t in tables(template):
    c.execute('DELETE FROM "%s"' % t)
c.commit()
c.close()


def run_datalogger():
    d = simlog.agentfarm.DataLogger(simulation_id="sim_dl", url=url,
                                    db_path="sim_dl.db")
    t = time.perf_counter()
    rows = simulate(d, "sim_dl", steps=STEPS)
    d.close()
    el = time.perf_counter() - t
    run_datalogger.rows = rows
    return el


def run_peer():
    db = os.path.join(work, "peer.db")
    for ext in ("", "-wal", "-shm"):
        if os.path.exists(db + ext):
            os.unlink(db + ext)
    shutil.copy(template, db)
    p = Peer(db, "sim_peer", db_path="sim_dl.db")
    t = time.perf_counter()
    simulate(p, "sim_peer", steps=STEPS)
    p.close()
    el = time.perf_counter() - t
    run_peer.tables = tables(db)
    return el


note("agentfarm.DataLogger and its SQLAlchemy peer, %d steps" % STEPS)
dl_s, dl_all = best(run_datalogger)
peer_s, peer_all = best(run_peer)
rows = run_datalogger.rows
# A DataLogger run once more, drained: the same tables as the peer's,
# row for row.
cli("FLUSHALL")
run_datalogger()
dl_db = os.path.join(work, "dl.db")
t = time.perf_counter()
drain(dl_db)
drain_s = time.perf_counter() - t
if tables(dl_db) != run_peer.tables:
    failures.append("DataLogger drained %s, the peer wrote %s" % (
        tables(dl_db), run_peer.tables))

# --- the time one write takes ---------------------------------------------


def paced(freeze):
    """RATE records/s for SECS seconds in 1 ms bursts; with freeze, Redis
    is stopped for the middle half.  The times of every write, in us."""
    cli("FLUSHALL")
    w = simlog.Writer(url=url, simulation="paced", retries=1)
    per = max(1, RATE // 1000)
    n = int(RATE * SECS)
    times = []
    th = None
    if freeze:
        def fault():
            time.sleep(SECS / 4)
            redis.send_signal(signal.SIGSTOP)
            time.sleep(SECS / 2)
            redis.send_signal(signal.SIGCONT)
        th = threading.Thread(target=fault)
        th.start()
    t0 = time.monotonic()
    clock = time.perf_counter
    for i in range(0, n, per):
        due = t0 + i / RATE
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        for j in range(i, min(i + per, n)):
            a = clock()
            w.write(pool[j % POOL])
            times.append((clock() - a) * 1e6)
    if th is not None:
        th.join()
    s = w.close()
    if s["pushed"] + s["spooled"] != n or s["failed"]:
        failures.append("paced writer: pushed %d + spooled %d of %d" % (
            s["pushed"], s["spooled"], n))
    if s["spooled"]:
        subprocess.run([os.path.join(BINDIR, "simlog-push"), "-u", url,
                        "--replay", "-q"], capture_output=True)
    times.sort()
    return (times[len(times) // 2], times[int(len(times) * 0.99)],
            times[-1], s["spooled"])


note("write() times at %d records/s for %g s, healthy and frozen" % (
    RATE, SECS))
healthy = paced(False)
frozen = paced(True)

redis.terminate()
redis.wait()
shutil.rmtree(work, True)

# --- report ---------------------------------------------------------------


def rate(secs, n=N):
    return n / secs


def yes(c):
    return "yes" if c else "NO"


pipe_r, wd_r, ws_r, ps_r = (rate(pipe_s), rate(wdict_s), rate(wstr_s),
                            rate(pstr_s))
dl_r, peer_r = rate(dl_s, rows), rate(peer_s, rows)
print("""
N = %d records (AgentFarm action records, %d bytes as JSON on average),
best of %d runs each; Python %s, simlog %s; %d CPUs; load average %s.

| measure | simlog | peer | simlog/peer | goal | met |
|---|---:|---:|---:|---|---|
| Writer.write(dict), records/s | %.0f | %.0f (json.dumps + simlog-push pipe) | %.2fx | >= 0.8x | %s |
| Writer.write(str), records/s | %.0f | %.0f (json.dumps + simlog-push pipe) | %.2fx | >= 2x | %s |
| Writer.write(str) beside str lines into the pipe, records/s | %.0f | %.0f (no json.dumps) | %.2fx | - | - |
| agentfarm.DataLogger, rows/s | %.0f | %.0f (SQLAlchemy bulk_insert_mappings, SQLite) | %.2fx | >= 5x | %s |

The AgentFarm-shaped run: %d steps, 100 agents, %d rows; the DataLogger's
time ends with every record in Redis, the peer's with every row
committed.  Draining the DataLogger's records (simlog-drain --schema
agentfarm) then took %.2f s: %.0f rows/s.

| write() time, us | p50 | p99 | max | spooled |
|---|---:|---:|---:|---:|
| Redis healthy, %d records/s | %.1f | %.1f | %.0f | %d |
| Redis frozen for %g of %g s | %.1f | %.1f | %.0f | %d |

Wall time of every run, seconds:
  json.dumps + pipe   %s
  write(dict)         %s
  write(str)          %s
  str lines + pipe    %s
  DataLogger          %s
  SQLAlchemy peer     %s
Load average at the end: %s""" % (
    N, sum(len(x) for x in lines) // POOL, RUNS, sys.version.split()[0],
    simlog.__version__, os.cpu_count(),
    " ".join("%.2f" % x for x in os.getloadavg()),
    wd_r, pipe_r, wd_r / pipe_r, yes(wd_r >= 0.8 * pipe_r),
    ws_r, pipe_r, ws_r / pipe_r, yes(ws_r >= 2 * pipe_r),
    ws_r, ps_r, ws_r / ps_r,
    dl_r, peer_r, dl_r / peer_r, yes(dl_r >= 5 * peer_r),
    STEPS, rows, drain_s, rows / drain_s,
    RATE, healthy[0], healthy[1], healthy[2], healthy[3],
    SECS / 2, SECS, frozen[0], frozen[1], frozen[2], frozen[3],
    " ".join("%.3f" % x for x in pipe_all),
    " ".join("%.3f" % x for x in wdict_all),
    " ".join("%.3f" % x for x in wstr_all),
    " ".join("%.3f" % x for x in pstr_all),
    " ".join("%.3f" % x for x in dl_all),
    " ".join("%.3f" % x for x in peer_all),
    " ".join("%.2f" % x for x in os.getloadavg())))

if failures:
    print("\n*** %d check(s) FAILED:" % len(failures), file=sys.stderr)
    for f in failures:
        print("***   " + f, file=sys.stderr)
    sys.exit(1)

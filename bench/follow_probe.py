#!/usr/bin/python3
# follow_probe.py: watches the SQLite database a simlog-drain --follow fills
# and measures how long records took from emission to a committed row.
"""usage: follow_probe.py DATABASE EXPECTED DEADLINE_SECONDS READY_FILE

Polls DATABASE until its record tables hold EXPECTED rows or DEADLINE_SECONDS
pass, then prints one JSON line with latency percentiles in milliseconds.
Records must carry "t_ns", their emission time (CLOCK_REALTIME, ns), and
lie in tables of simlog's default mapping (id INTEGER PRIMARY KEY, data)."""

# How the observation is kept fair:
# - This is a separate process reading through SQLite like any other
#   reader, in WAL mode: it sees a row exactly when its transaction has
#   committed, never earlier, and never blocks the writer.
# - Every POLL seconds it reads max(id) of each record table.  One drain
#   inserts the rows and ids grow with each insert, so once max(id) = M is
#   visible every row with id <= M is too.  Only (M, time) pairs are kept
#   while the drain runs, so the reader costs the machine almost nothing.
# - A row first seen by a query that ended at e1, and not by the poll
#   before it (which started at s0), was committed within (s0, e1].  e1 - t_ns is reported (an upper bound, at most one poll
#   period plus one query above the truth), and s0 - t_ns beside it as the
#   lower bound, so the poll period's share is in plain view.
# - Emission and observation times are both CLOCK_REALTIME on one machine.
# - Rows are joined to their observation only after the run, when the
#   t_ns of every row is read back.

import bisect
import json
import sqlite3
import sys
import time

POLL = 0.005


def record_tables(db):
    return [n for (n,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")
        if not n.lower().startswith(("sqlite_", "simlog_"))]


def quote(name):
    return '"%s"' % name.replace('"', '""')


def pct(sorted_vals, p):
    # nearest rank
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1,
                   int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 64
    path, expected, deadline, ready = argv[1], int(argv[2]), \
        float(argv[3]), argv[4]
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    seen = {}
    polls = 0
    end_at = time.monotonic() + deadline
    open(ready, "w").close()
    total = 0
    prev_start = time.time_ns()
    next_poll = time.monotonic()
    while total < expected and time.monotonic() < end_at:
        total = 0
        start = time.time_ns()
        for t in record_tables(db):
            (m,) = db.execute("SELECT max(id) FROM %s" % quote(t)).fetchone()
            e = time.time_ns()
            m = m or 0
            # max(id), the end of the query that saw it and the start of
            # the poll before (which did not)
            ids, ends, starts = seen.setdefault(t, ([], [], []))
            if m > (ids[-1] if ids else 0):
                ids.append(m)
                ends.append(e)
                starts.append(prev_start)
            total += m
        prev_start = start
        polls += 1
        next_poll += POLL
        pause = next_poll - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            next_poll = time.monotonic()

    hi, lo = [], []
    missing = 0
    for t, (ids, ends, starts) in seen.items():
        for rid, t_ns in db.execute(
                "SELECT id, json_extract(data, '$.t_ns') FROM %s ORDER BY id"
                % quote(t)):
            i = bisect.bisect_left(ids, rid)
            if i == len(ids) or t_ns is None:
                missing += 1	# landed after the last poll
                continue
            hi.append((ends[i] - t_ns) / 1e6)
            lo.append(max(0.0, (starts[i] - t_ns) / 1e6))
    db.close()
    hi.sort()
    lo.sort()
    r2 = (lambda v: None if v is None else round(v, 2))
    print(json.dumps({
        "rows": len(hi), "expected": expected, "unobserved": missing,
        "complete": len(hi) == expected, "polls": polls,
        "poll_ms": POLL * 1000,
        "p50_ms": r2(pct(hi, 50)), "p99_ms": r2(pct(hi, 99)),
        "max_ms": r2(hi[-1] if hi else None),
        "p50_lo_ms": r2(pct(lo, 50)), "p99_lo_ms": r2(pct(lo, 99)),
    }))
    return 0 if len(hi) == expected else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/python3
# seed_drain.py: the baseline simlog-drain is measured against, a drain the
# way a first Python version would be written (redis-py LRANGE/LTRIM of a
# plain list of JSON lines into one SQLite table per record type).
"""usage: seed_drain.py SOCKET KEY DATABASE [SIMULATION_ID]"""

import json
import sqlite3
import sys
import time

import redis

BATCH = 1000


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 64
    sock, key, path = argv[1:4]
    sim = argv[4] if len(argv) == 5 else "bench"

    r = redis.Redis(unix_socket_path=sock)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    created = set()
    rows = 0
    start = time.monotonic()
    while True:
        items = r.lrange(key, 0, BATCH - 1)
        if not items:
            break
        by_type = {}
        for raw in items:
            rec = json.loads(raw)
            by_type.setdefault(rec["type"], []).append((sim, raw.decode()))
        for rtype, batch in by_type.items():
            table = '"%s"' % rtype.replace('"', '""')
            if rtype not in created:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS %s (id INTEGER PRIMARY KEY, "
                    "simulation_id TEXT NOT NULL, data TEXT NOT NULL)" % table
                )
                created.add(rtype)
            db.executemany(
                "INSERT INTO %s(simulation_id, data) VALUES (?,?)" % table, batch
            )
        db.commit()
        # Trim only what was read and committed: at-least-once, like the seed.
        r.ltrim(key, len(items), -1)
        rows += len(items)
    db.close()
    print(json.dumps({"rows": rows, "seconds": round(time.monotonic() - start, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

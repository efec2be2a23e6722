#!/usr/bin/python3
# seed_pg_drain.py: the baseline simlog-drain into PostgreSQL is measured
# against, a drain the way a first Python version would be written:
# redis-py LRANGE/LTRIM of a plain list of JSON lines, json.loads for the
# type, psycopg2 execute_values into one jsonb table per record type, one
# transaction per batch.
"""usage: seed_pg_drain.py SOCKET KEY DSN [SIMULATION_ID]"""

import json
import sys
import time

import psycopg2
import psycopg2.extras
import redis

BATCH = 1000


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 64
    sock, key, dsn = argv[1:4]
    sim = argv[4] if len(argv) == 5 else "bench"

    r = redis.Redis(unix_socket_path=sock)
    db = psycopg2.connect(dsn)
    cur = db.cursor()
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
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS %s (id bigserial PRIMARY "
                    "KEY, simulation_id text NOT NULL, data jsonb NOT NULL)"
                    % table)
                created.add(rtype)
            psycopg2.extras.execute_values(
                cur, "INSERT INTO %s (simulation_id, data) VALUES %%s" % table,
                batch)
        db.commit()
        # Trim only what was read and committed: at-least-once, like the seed.
        r.ltrim(key, len(items), -1)
        rows += len(items)
    db.close()
    print(json.dumps({"rows": rows, "seconds": round(time.monotonic() - start, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

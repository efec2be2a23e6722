#!/usr/bin/python3
"""The straightforward Python state store that simlog-state is measured
against in bench/state_bench.sh: redis-py, zlib, CRC-32, a metadata hash and
a version counter per save, as design document 004 sketches it.

usage: state_peer.py SOCKET save < states.jsonl    ({"id", "state", "ttl", "tags"})
       state_peer.py SOCKET load < requests.jsonl  ({"id", "version"})

save writes one line per state, {"id", "version", "size", "stored_size",
"checksum"}; load writes {"id", "version", "state"} and checks each CRC.
"""
import json
import sys
import time
import zlib

import redis


def save(r, state_id, state, ttl=None, tags=()):
    data = json.dumps(state, separators=(",", ":")).encode()
    blob = zlib.compress(data)
    checksum = zlib.crc32(data)
    version = r.incr(f"peer:{state_id}:version")
    meta = {
        "version": version,
        "size": len(data),
        "stored_size": len(blob),
        "compression": "zlib",
        "checksum": f"{checksum:08x}",
        "created_at": time.time(),
        "tags": ",".join(tags),
    }
    keys = [f"peer:{state_id}:data:{version}", f"peer:{state_id}:meta:{version}"]
    pipe = r.pipeline()
    pipe.set(keys[0], blob)
    pipe.hset(keys[1], mapping=meta)
    pipe.sadd("peer:ids", state_id)
    if ttl:
        for k in keys + [f"peer:{state_id}:version"]:
            pipe.expire(k, int(ttl))
    pipe.execute()
    return meta


def load(r, state_id, version=None):
    if version is None:
        version = int(r.get(f"peer:{state_id}:version"))
    pipe = r.pipeline()
    pipe.get(f"peer:{state_id}:data:{version}")
    pipe.hgetall(f"peer:{state_id}:meta:{version}")
    blob, meta = pipe.execute()
    data = zlib.decompress(blob)
    if f"{zlib.crc32(data):08x}" != meta[b"checksum"].decode():
        raise ValueError(f"{state_id} version {version}: checksum mismatch")
    return version, json.loads(data)


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("save", "load"):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        sys.exit(64)
    r = redis.Redis(unix_socket_path=sys.argv[1])
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        if sys.argv[2] == "save":
            meta = save(r, req["id"], req["state"], req.get("ttl"),
                        req.get("tags", ()))
            out.write(json.dumps({"id": req["id"], "version": meta["version"],
                                  "size": meta["size"],
                                  "stored_size": meta["stored_size"],
                                  "checksum": meta["checksum"]}) + "\n")
        else:
            version, state = load(r, req["id"], req.get("version"))
            out.write(json.dumps({"id": req["id"], "version": version,
                                  "state": state},
                                 separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()

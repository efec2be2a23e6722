#!/usr/bin/env bash
# bench/state_bench.sh: measures simlog-state beside a straightforward
# redis-py implementation (state_peer.py) in one run: save --batch and
# load --batch of many small states, and the save and load time, stored
# size and peak RSS of a 1 MB and a 50 MB state for each compression.
#
# usage: bench/state_bench.sh BINDIR    BINDIR holds simlog-state
# env:   BENCH_STATES   small states per batch run (default 10000)
#        BENCH_RUNS     timed repetitions, the best is kept (default 3)
#        BENCH_KEEP     1: keep the work directory for a post-mortem
#        BENCH_TIMEOUT  seconds any one timed command may take (default 900)
set -euo pipefail
export LC_ALL=C

prog=${0##*/}
die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}
note() { printf '%s: %s\n' "$prog" "$*" >&2; }

if [ $# -ne 1 ]; then
	echo "usage: $prog BINDIR" >&2
	exit 64
fi
bindir=$(cd "$1" && pwd) || die "$1: no such directory"
state=$bindir/simlog-state
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3	# Debian's, which has python3-redis
n=${BENCH_STATES:-10000}
runs=${BENCH_RUNS:-3}
tmo=${BENCH_TIMEOUT:-900}

[[ $n =~ ^[1-9][0-9]{0,7}$ ]] || die "BENCH_STATES: not a positive integer: '$n'"
[[ $runs =~ ^[1-9][0-9]?$ ]] || die "BENCH_RUNS: not 1 to 99: '$runs'"
[[ $tmo =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT: not a positive integer: '$tmo'"
[ -x "$state" ] || die "$state: missing or not executable (build first)"
for t in redis-server redis-cli timeout; do
	command -v "$t" >/dev/null || die "$t: not found"
done
[ -x /usr/bin/time ] || die "/usr/bin/time: not found (apt-get install time)"
"$py" -c 'import redis' 2>/dev/null ||
	die "$py cannot import redis (apt-get install python3-redis)"

work=$(mktemp -d "${TMPDIR:-/tmp}/simlog-state-bench.XXXXXX")
redis_pid=
cleanup() {
	if [ -n "$redis_pid" ]; then
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		note "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

failures=()
fail() {
	printf '\n*** FAIL: %s ***\n\n' "$*" >&2
	failures+=("$*")
}

# --- redis ----------------------------------------------------------------

sock=$work/redis/redis.sock
mkdir -p "$work/redis"
redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no \
	--dir "$work/redis" --daemonize no >"$work/redis/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do
	[ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ] && break
	kill -0 "$redis_pid" 2>/dev/null || { cat "$work/redis/redis.log" >&2; die "redis-server exited at start"; }
	sleep 0.1
done
[ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ] || die "redis-server did not answer on $sock"
export SIMLOG_REDIS_URL=unix://$sock

rcli() { redis-cli -s "$sock" "$@"; }
flush() { [ "$(rcli flushall)" = OK ] || die "FLUSHALL failed"; }

# --- timing ----------------------------------------------------------------

now() { date +%s.%N; }

# timed CMD...: runs CMD (stdin/stdout as the caller redirects them), sets
# $secs to its wall time and $rss to its peak RSS in KB.
timed() {
	local t0 t1 st=0
	t0=$(now)
	timeout "$tmo" /usr/bin/time -f %M -o "$work/rss" "$@" || st=$?
	t1=$(now)
	[ "$st" -ne 124 ] || die "$1: took longer than ${tmo}s"
	[ "$st" -eq 0 ] || die "$1: exited with status $st"
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
	rss=$(tail -n 1 "$work/rss")
}

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b > a) ? b : a }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# --- input ----------------------------------------------------------------

note "generating $n states and a 1 MB and a 50 MB one"
"$py" - "$n" "$work" <<'EOF'
import json, random, sys

n, work = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(4)
events = ["moved", "ate", "traded", "rested", "fought", "reproduced"]

def agent(i):
    return {
        "agent_id": f"agent_{i}",
        "step": rnd.randint(0, 10**6),
        "alive": rnd.random() < 0.9,
        "position": [round(rnd.uniform(0, 1000), 3) for _ in range(3)],
        "velocity": [round(rnd.uniform(-5, 5), 4) for _ in range(3)],
        "resources": {k: rnd.randint(0, 500) for k in ("food", "water", "wood", "gold")},
        "memory": [{"step": s, "event": rnd.choice(events),
                    "value": round(rnd.random(), 4)} for s in range(30)],
        "genome": "".join(rnd.choice("ACGT") for _ in range(512)),
    }

with open(f"{work}/states.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": f"exp1.agent-{i:05d}", "state": agent(i),
                            "ttl": 3600, "tags": ["bench", "exp1"]},
                           separators=(",", ":")) + "\n")

def world(size):
    agents, total, i = [], 0, 0
    while total < size:
        a = agent(i)
        total += len(json.dumps(a, separators=(",", ":"))) + 1
        agents.append(a)
        i += 1
    return {"step": 1234, "seed": 4, "agents": agents}

for name, size in (("1mb", 1 << 20), ("50mb", 50 << 20)):
    with open(f"{work}/{name}.json", "w") as f:
        json.dump(world(size), f, separators=(",", ":"))
EOF
avg=$(awk '{ s += length } END { printf "%.0f", s / NR }' "$work/states.jsonl")
awk -F'"' '{ printf "{\"id\":\"%s\"}\n", $4 }' "$work/states.jsonl" > "$work/requests.jsonl"

# check_batch LABEL OUTPUT: every state saved, once, as version 1.
check_batch() {
	local lines v1
	lines=$(wc -l < "$2")
	v1=$(grep -c '"version": \{0,1\}1,' "$2" || true)
	if [ "$lines" != "$n" ] || [ "$v1" != "$n" ]; then
		fail "$1: $lines lines, $v1 of them version 1; expected $n"
	fi
}

# check_loaded LABEL OUTPUT: the loaded states equal the saved ones.
check_loaded() {
	"$py" - "$work/states.jsonl" "$2" <<'EOF' || fail "$1: loaded states differ from the input"
import json, sys
want = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    want[o["id"]] = o["state"]
got = 0
for line in open(sys.argv[2]):
    o = json.loads(line)
    if want.pop(o["id"], None) != o["state"]:
        sys.exit(f"{o['id']}: state differs")
    got += 1
if want:
    sys.exit(f"{len(want)} states not loaded")
EOF
}

# --- a: save --batch and load --batch of many small states --------------------

declare -A save_best save_all load_best
save_rss='' peer_rss=''
for r in $(seq "$runs"); do
	for c in zlib lz4; do
		note "batch run $r/$runs: simlog-state save --batch --compress $c"
		flush
		timed "$state" save --batch --compress "$c" < "$work/states.jsonl" > "$work/ours.$c.out"
		save_best[$c]=$(min "${save_best[$c]:-}" "$secs")
		save_all[$c]="${save_all[$c]:-} $(printf '%.3f' "$secs")"
		save_rss=$(max "$save_rss" "$rss")
		check_batch "simlog-state save --batch --compress $c run $r" "$work/ours.$c.out"
		[ "$c" = zlib ] && stored_small=$(rcli info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }')
		note "batch run $r/$runs: simlog-state load --batch ($c)"
		timed "$state" load --batch < "$work/requests.jsonl" > "$work/ours.loaded"
		load_best[$c]=$(min "${load_best[$c]:-}" "$secs")
		[ "$r" -eq 1 ] && check_loaded "simlog-state load --batch ($c)" "$work/ours.loaded"
	done

	note "batch run $r/$runs: state_peer.py save"
	flush
	timed "$py" "$here/state_peer.py" "$sock" save < "$work/states.jsonl" > "$work/peer.out"
	save_best[peer]=$(min "${save_best[peer]:-}" "$secs")
	save_all[peer]="${save_all[peer]:-} $(printf '%.3f' "$secs")"
	peer_rss=$(max "$peer_rss" "$rss")
	check_batch "state_peer.py save run $r" "$work/peer.out"
	peer_mem=$(rcli info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }')
	note "batch run $r/$runs: state_peer.py load"
	timed "$py" "$here/state_peer.py" "$sock" load < "$work/requests.jsonl" > "$work/peer.loaded"
	load_best[peer]=$(min "${load_best[peer]:-}" "$secs")
	[ "$r" -eq 1 ] && check_loaded "state_peer.py load" "$work/peer.loaded"
done

# --- b: one large state, each compression ------------------------------------

declare -A big_save big_load big_stored big_srss big_lrss
for f in 1mb 50mb; do
	for c in lz4 zlib none; do
		for r in $(seq "$runs"); do
			note "$f run $r/$runs: save and load, $c"
			flush
			timed "$state" save "big-$f" --compress "$c" < "$work/$f.json" > "$work/big.out"
			big_save[$f.$c]=$(min "${big_save[$f.$c]:-}" "$secs")
			big_srss[$f.$c]=$(max "${big_srss[$f.$c]:-}" "$rss")
			big_stored[$f.$c]=$(grep -o '"stored_size":[0-9]*' "$work/big.out" | cut -d: -f2)
			timed "$state" load "big-$f" > "$work/big.loaded"
			big_load[$f.$c]=$(min "${big_load[$f.$c]:-}" "$secs")
			big_lrss[$f.$c]=$(max "${big_lrss[$f.$c]:-}" "$rss")
			cmp -s "$work/$f.json" "$work/big.loaded" ||
				fail "$f, $c: the loaded state differs from the saved one"
		done
	done
done

# --- report ---------------------------------------------------------------

rate() { calc %.0f "$n / $1"; }
yes_no() { awk "BEGIN { print ($1) ? \"yes\" : \"NO\" }"; }
mib() { calc %.1f "$1 / 1024"; }

x_zlib=$(calc %.2f "${save_best[peer]} / ${save_best[zlib]}")
x_lz4=$(calc %.2f "${save_best[peer]} / ${save_best[lz4]}")
lx_zlib=$(calc %.2f "${load_best[peer]} / ${load_best[zlib]}")

cat <<EOF

## simlog-state benchmark

$n states of $avg bytes per line on average (agents with positions, memory
and a genome; ttl and two tags each), timings the best of $runs runs, each
from an empty Redis; $(redis-server --version | cut -d' ' -f3), $(nproc) CPUs,
$(date -u +%Y-%m-%dT%H:%MZ).

| measure | simlog-state | state_peer.py (redis-py) | peer/simlog | goal | met |
|---|---:|---:|---:|---|---|
| save --batch, zlib, states/s | $(rate "${save_best[zlib]}") | $(rate "${save_best[peer]}") | ${x_zlib}x | >= 3x | $(yes_no "$x_zlib >= 3") |
| save --batch, lz4, states/s | $(rate "${save_best[lz4]}") | - | ${x_lz4}x | - | - |
| load --batch, zlib, states/s | $(rate "${load_best[zlib]}") | $(rate "${load_best[peer]}") | ${lx_zlib}x | - | - |
| load --batch, lz4, states/s | $(rate "${load_best[lz4]}") | - | - | - | - |
| save peak RSS, MiB | $(mib "$save_rss") | $(mib "$peer_rss") | - | - | - |
| Redis used_memory after save, MiB | $(calc %.1f "$stored_small / 1048576") | $(calc %.1f "$peer_mem / 1048576") | - | - | - |

| state | compression | stored bytes | stored/raw | save s | load s | save RSS MiB | load RSS MiB |
|---|---|---:|---:|---:|---:|---:|---:|
EOF
for f in 1mb 50mb; do
	raw=$(wc -c < "$work/$f.json")
	for c in lz4 zlib none; do
		printf '| %s (%s bytes) | %s | %s | %.3f | %.3f | %.3f | %s | %s |\n' \
			"$f" "$raw" "$c" "${big_stored[$f.$c]}" \
			"$(calc %.6f "${big_stored[$f.$c]} / $raw")" \
			"${big_save[$f.$c]}" "${big_load[$f.$c]}" \
			"$(mib "${big_srss[$f.$c]}")" "$(mib "${big_lrss[$f.$c]}")"
	done
done
cat <<EOF

Wall time of every save --batch run, seconds:
  simlog-state zlib $(echo ${save_all[zlib]})
  simlog-state lz4  $(echo ${save_all[lz4]})
  state_peer.py     $(echo ${save_all[peer]})
EOF

if [ ${#failures[@]} -gt 0 ]; then
	printf '\n*** %d check(s) FAILED:\n' "${#failures[@]}" >&2
	printf '***   %s\n' "${failures[@]}" >&2
	exit 1
fi

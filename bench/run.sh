#!/usr/bin/env bash
# bench/run.sh: measures simlog-push and simlog-drain beside their plain
# baselines (redis-cli --pipe RPUSH, seed-style Python drains, plain and
# typed, into SQLite and into PostgreSQL) and beside the databases' own
# ceilings (bench/sqlite_ceiling.c, psql \copy) in one run, and the
# push-to-row latency of simlog-drain --follow at a high and a low rate.
#
# usage: bench/run.sh BINDIR        BINDIR holds simlog-push and simlog-drain
# env:   BENCH_N      records per run (default 1000000)
#        BENCH_QUICK  1: skip the 3N peak-RSS runs (the typed drain and the
#                     --follow latency still run)
#        BENCH_FOLLOW_RATE  records/s the --follow producer keeps up
#                     (default 100000)
#        BENCH_FOLLOW_SECS  seconds it keeps it up (default 10)
#        BENCH_SLOW_SECS  seconds of the 10 records/s --follow runs
#                     (default 30)
#        BENCH_PG     0: skip the PostgreSQL drains (default 1, when
#                     PostgreSQL's server binaries are installed)
#        BENCH_RUNS   timed repetitions, the best is kept (default 3)
#        BENCH_KEEP   1: keep the work directory for a post-mortem
#        BENCH_TIMEOUT  seconds any one timed command may take (default 900)
#        BENCH_TOPO   0: skip the cluster, TLS and --wait-replicas measures
#                     (bench/topo_bench.sh, servers from bench/topo.sh)
#        BENCH_PYTHON 0: skip the Python module's measures
#                     (bench/python_bench.py, with BENCH_N and BENCH_RUNS)
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
push=$bindir/simlog-push
drain=$bindir/simlog-drain
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
# --schema agentfarm is found in the source tree, not an installed copy.
export SIMLOG_SCHEMA_PATH=$top/schemas
py=/usr/bin/python3	# Debian's, which has python3-redis
n=${BENCH_N:-1000000}
runs=${BENCH_RUNS:-3}
quick=${BENCH_QUICK:-0}
tmo=${BENCH_TIMEOUT:-900}
follow_rate=${BENCH_FOLLOW_RATE:-100000}
follow_secs=${BENCH_FOLLOW_SECS:-10}
slow_secs=${BENCH_SLOW_SECS:-30}
bench_pg=${BENCH_PG:-1}
sim=bench
listkey=bench:records

[[ $n =~ ^[1-9][0-9]{0,9}$ ]] || die "BENCH_N: not a positive integer: '$n'"
[[ $runs =~ ^[1-9][0-9]?$ ]] || die "BENCH_RUNS: not 1 to 99: '$runs'"
[[ $tmo =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT: not a positive integer: '$tmo'"
[[ $follow_rate =~ ^[1-9][0-9]{0,7}$ ]] ||
	die "BENCH_FOLLOW_RATE: not 1 to 99999999: '$follow_rate'"
[[ $follow_secs =~ ^[1-9][0-9]{0,2}$ ]] ||
	die "BENCH_FOLLOW_SECS: not 1 to 999: '$follow_secs'"
[[ $slow_secs =~ ^[1-9][0-9]{0,2}$ ]] ||
	die "BENCH_SLOW_SECS: not 1 to 999: '$slow_secs'"
for t in "$push" "$drain"; do
	[ -x "$t" ] || die "$t: missing or not executable (build first)"
done
for t in redis-server redis-cli timeout; do
	command -v "$t" >/dev/null || die "$t: not found"
done
[ -x /usr/bin/time ] || die "/usr/bin/time: not found (apt-get install time)"
"$py" -c 'import redis' 2>/dev/null ||
	die "$py cannot import redis (apt-get install python3-redis)"

warn_flags=(-Wall -Wextra -Wstrict-prototypes -Wwrite-strings)
simgen=$here/simgen
# A binary older than its source would bench yesterday's records.
if [ ! -x "$simgen" ] || [ "$here/simgen.c" -nt "$simgen" ]; then
	note "building $simgen"
	"${CC:-cc}" -std=c11 -O2 "${warn_flags[@]}" -o "$simgen" "$here/simgen.c"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/simlog-bench.XXXXXX")
redis_pids=()
bg_pids=()	# the --follow drain and its probe, while they run
cleanup() {
	local pid
	if [ -n "${pgdir:-}" ]; then
		pg_as "$pg_bin/pg_ctl" -D "$pgdir/data" -m immediate stop \
			>/dev/null 2>&1 || true
		rm -rf "$pgdir"
	fi
	for pid in "${bg_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${redis_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${redis_pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		note "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
# Turn signals into an ordinary exit so the EXIT trap stops redis-server.
trap 'exit 130' INT
trap 'exit 143' TERM HUP

pace=$work/pace
"${CC:-cc}" -std=c11 -O2 "${warn_flags[@]}" -o "$pace" "$here/pace.c" ||
	die "$here/pace.c: does not build"
ceiling=$work/sqlite_ceiling
# shellcheck disable=SC2046 # pkg-config's words are the compiler's
"${CC:-cc}" -std=c11 -O2 "${warn_flags[@]}" -o "$ceiling" \
	"$here/sqlite_ceiling.c" $(pkg-config --cflags --libs sqlite3) \
	-lpthread || die "$here/sqlite_ceiling.c: does not build"

failures=()
fail() {
	printf '\n*** FAIL: %s ***\n\n' "$*" >&2
	failures+=("$*")
}

# --- redis ----------------------------------------------------------------

start_redis() {
	local dir=$work/redis pid
	mkdir -p "$dir"
	sock=$dir/redis.sock
	redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no \
		--dir "$dir" --daemonize no >"$dir/redis.log" 2>&1 &
	pid=$!
	redis_pids+=("$pid")
	for _ in $(seq 100); do
		if [ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ]; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$dir/redis.log" >&2
			die "redis-server exited at start"
		fi
		sleep 0.1
	done
	die "redis-server did not answer on $sock"
}

rcli() { redis-cli -s "$sock" "$@"; }

flush() { [ "$(rcli flushall)" = OK ] || die "FLUSHALL failed"; }

used_memory() {
	rcli info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'
}

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

# json_field FILE NAME: the number NAME in the last JSON line of FILE.
json_field() {
	tail -n 1 "$1" | grep -o "\"$2\": *[0-9.]*" | head -n 1 |
		cut -d: -f2 | tr -d ' '
}

# --- correctness checks ---------------------------------------------------

# Per-type row counts of a drained database, as "type count" lines; the
# tables SQLite and simlog keep for themselves are not records.
db_counts() {
	"$py" - "$1" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
    if name.lower().startswith(("sqlite_", "simlog_")):
        continue
    q = 'SELECT count(*) FROM "%s"' % name.replace('"', '""')
    print(name, db.execute(q).fetchone()[0])
EOF
}

# check_db LABEL DB EXPECTED_COUNTS_FILE TOTAL
check_db() {
	local got total
	got=$(db_counts "$2")
	total=$(printf '%s\n' "$got" | awk '{ s += $2 } END { print s + 0 }')
	if [ "$total" != "$4" ]; then
		fail "$1: database holds $total rows, expected $4"
	elif [ "$got" != "$(cat "$3")" ]; then
		fail "$1: per-type row counts differ from the input" \
			"(got: $(tr '\n' ' ' <<<"$got"); want: $(tr '\n' ' ' <"$3"))"
	fi
}

check_pushed() {	# LABEL SUMMARY_FILE EXPECTED
	local pushed rejected
	pushed=$(json_field "$2" pushed)
	rejected=$(json_field "$2" rejected)
	if [ "$pushed" != "$3" ] || [ "${rejected:-0}" != 0 ]; then
		fail "$1: simlog-push pushed '${pushed}' rejected '${rejected}'," \
			"expected $3 and 0 ($(tail -n 1 "$2"))"
	fi
}

# rejects DB: rows in simlog_rejects (0 when the table is missing).
rejects() {
	"$py" - "$1" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'simlog_rejects'").fetchone():
    print(db.execute("SELECT count(*) FROM simlog_rejects").fetchone()[0])
else:
    print(0)
EOF
}

# same_values DB_A DB_B JSON_COLUMN...: prints how the record tables of two
# databases differ in content, nothing when they hold the same rows.  Every
# column but the JSON ones is compared over all rows; JSON text written by
# json.dumps differs from the pushed text in spacing and in how numbers are
# spelled, so JSON columns are compared as parsed values over the first
# 20000 rows of each table, by key.
same_values() {
	"$py" - "$@" <<'EOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("ATTACH ? AS b", (sys.argv[2],))
json_cols = set(sys.argv[3:])
SAMPLE = 20000

def tables(schema):
    q = "SELECT name FROM %s.sqlite_master WHERE type = 'table'" % schema
    return sorted(n for (n,) in db.execute(q)
                  if not n.lower().startswith(("sqlite_", "simlog_")))

def quote(n):
    return '"%s"' % n.replace('"', '""')

def parsed(row):
    return [None if v is None else json.loads(v) for v in row]

ta, tb = tables("main"), tables("b")
if ta != tb:
    print("tables differ: %s against %s" % (" ".join(ta), " ".join(tb)))
for t in sorted(set(ta) & set(tb)):
    q = quote(t)
    info = db.execute("PRAGMA main.table_info(%s)" % q).fetchall()
    key = ", ".join(quote(c[1]) for c in sorted(info, key=lambda c: c[5])
                    if c[5]) or "rowid"
    plain = ", ".join(quote(c[1]) for c in info if c[1] not in json_cols)
    for x, y in ((1, 2), (2, 1)):
        n = db.execute("SELECT count(*) FROM (SELECT %s FROM %s.%s EXCEPT "
                       "SELECT %s FROM %s.%s)" % (
                           plain, "main" if x == 1 else "b", q,
                           plain, "main" if y == 1 else "b", q)).fetchone()[0]
        if n:
            print("%s: %d rows of %s are not in %s" % (
                t, n, sys.argv[x], sys.argv[y]))
    jc = [quote(c[1]) for c in info if c[1] in json_cols]
    if not jc:
        continue
    sel = "SELECT %s, %s FROM %%s.%s ORDER BY %s LIMIT %d" % (
        key, ", ".join(jc), q, key, SAMPLE)
    nk = len(key.split(", "))
    for ra, rb in zip(db.execute(sel % "main").fetchall(),
                      db.execute(sel % "b").fetchall()):
        if ra[:nk] != rb[:nk] or parsed(ra[nk:]) != parsed(rb[nk:]):
            print("%s: JSON columns differ: %r against %r" % (t, ra, rb))
            break
EOF
}

# --- input ----------------------------------------------------------------

start_redis
records=$work/records.jsonl
resp=$work/rpush.resp
note "generating $n records"
"$simgen" -n "$n" -s 1 >"$records"
avg_len=$(awk '{ s += length } END { printf "%.1f", s / NR }' "$records")
awk '{ match($0, /"type":"[^"]*"/); c[substr($0, RSTART + 8, RLENGTH - 9)]++ }
     END { for (t in c) print t, c[t] }' "$records" | sort >"$work/expect"
# RESP bulk lengths count bytes; LC_ALL=C makes awk's length() do that.
awk -v key="$listkey" 'BEGIN { ORS = ""; kl = length(key) }
	{ printf "*3\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n",
	  kl, key, length($0), $0 }' "$records" >"$resp"
# The typed drains take the records as AgentFarm writes them: each with its
# simulation_id.
typed=$work/typed.jsonl
"$simgen" -n "$n" -s 1 --sim "$sim" >"$typed"
awk -v key="$listkey" 'BEGIN { ORS = ""; kl = length(key) }
	{ printf "*3\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n",
	  kl, key, length($0), $0 }' "$typed" >"$work/typed.resp"
# The agentfarm schema without AgentFarm's 16 indexes: what they cost.
grep -v '^[[:space:]]*index ' "$top/schemas/agentfarm.schema" >"$work/noidx.schema"
# Rows each AgentFarm table should end with: one per record, but one per
# agent in agents (a later record of an agent updates its row); types the
# schema does not name keep the default mapping's table.
awk 'BEGIN {
	tab["agent"] = "agents"; tab["action"] = "agent_actions"
	tab["health_incident"] = "health_incidents"
	tab["agent_state"] = "agent_states"; tab["step"] = "simulation_steps"
	tab["resource_state"] = "resource_states"
	tab["simulation"] = "simulations"
	tab["simulation_config"] = "simulation_config"
     }
     { match($0, /"type":"[^"]*"/); t = substr($0, RSTART + 8, RLENGTH - 9) }
     t == "agent" { match($0, /"agent_id":"[^"]*"/); seen[substr($0, RSTART, RLENGTH)] = 1; next }
     { c[t in tab ? tab[t] : t]++ }
     END { for (a in seen) c["agents"]++; c["experiments"] += 0
	   for (t in c) print t, c[t] }' \
	"$typed" | sort >"$work/expect.typed"
typed_rows=$(awk '{ s += $2 } END { print s + 0 }' "$work/expect.typed")
json_cols=$(awk '$2 == "JSON" { print $1 }' "$top/schemas/agentfarm.schema" |
	sort -u)

# --- a, b: push speed and memory per buffered record -----------------------

push_best='' push_rss='' pipe_best='' pipe_rss='' push_all=() pipe_all=()
for r in $(seq "$runs"); do
	note "push run $r/$runs: simlog-push"
	flush
	mem0=$(used_memory)
	timed "$push" -u "unix://$sock" -s "$sim" <"$records" >"$work/push.out"
	mem1=$(used_memory)
	push_best=$(min "$push_best" "$secs")
	push_all+=("$secs")
	push_rss=$(max "$push_rss" "$rss")
	check_pushed "push run $r" "$work/push.out" "$n"
	push_mem=$(calc %.1f "($mem1 - $mem0) / $n")

	note "push run $r/$runs: redis-cli --pipe"
	flush
	mem0=$(used_memory)
	timed redis-cli -s "$sock" --pipe <"$resp" >"$work/pipe.out"
	mem1=$(used_memory)
	pipe_best=$(min "$pipe_best" "$secs")
	pipe_all+=("$secs")
	pipe_rss=$(max "$pipe_rss" "$rss")
	if ! grep -q "errors: 0, replies: $n\$" "$work/pipe.out" ||
		[ "$(rcli llen "$listkey")" != "$n" ]; then
		fail "redis-cli --pipe run $r: $(tail -n 1 "$work/pipe.out")," \
			"list length $(rcli llen "$listkey"), expected $n"
	fi
	pipe_mem=$(calc %.1f "($mem1 - $mem0) / $n")
done

# --- c: drain speed -------------------------------------------------------

drain_best='' drain_rss='' seed_best='' seed_rss='' drain_all=() seed_all=()
ceil_best='' ceil_all=()
for r in $(seq "$runs"); do
	note "drain run $r/$runs: simlog-drain"
	flush
	"$push" -u "unix://$sock" -s "$sim" <"$records" >"$work/push.out"
	check_pushed "drain run $r" "$work/push.out" "$n"
	rm -f "$work/simlog.db" "$work/simlog.db-wal" "$work/simlog.db-shm"
	timed "$drain" -u "unix://$sock" -s "$sim" -d "$work/simlog.db" \
		>"$work/drain.out"
	drain_best=$(min "$drain_best" "$secs")
	drain_all+=("$secs")
	drain_rss=$(max "$drain_rss" "$rss")
	check_db "simlog-drain run $r" "$work/simlog.db" "$work/expect" "$n"

	note "drain run $r/$runs: seed_drain.py"
	flush
	redis-cli -s "$sock" --pipe <"$resp" >/dev/null
	rm -f "$work/seed.db" "$work/seed.db-wal" "$work/seed.db-shm"
	timed "$py" "$here/seed_drain.py" "$sock" "$listkey" "$work/seed.db" \
		"$sim" >"$work/seed.out"
	seed_best=$(min "$seed_best" "$secs")
	seed_all+=("$secs")
	seed_rss=$(max "$seed_rss" "$rss")
	check_db "seed_drain.py run $r" "$work/seed.db" "$work/expect" "$n"

	# SQLite's own ceiling: the same rows, from memory, the same
	# settings; its time from opening the database to closing it (the
	# file read into memory before is not counted).
	note "drain run $r/$runs: sqlite_ceiling"
	rm -f "$work/ceil.db" "$work/ceil.db-wal" "$work/ceil.db-shm"
	timed "$ceiling" "$records" "$work/ceil.db" "$sim" >"$work/ceil.out"
	secs=$(json_field "$work/ceil.out" seconds)
	ceil_best=$(min "$ceil_best" "$secs")
	ceil_all+=("$secs")
	check_db "sqlite_ceiling run $r" "$work/ceil.db" "$work/expect" "$n"
done
rm -f "$work/ceil.db" "$work/ceil.db-wal" "$work/ceil.db-shm"

# --- e: typed drain into AgentFarm's tables --------------------------------

# typed_runs VARIANT SCHEMA SEED_FLAG: the typed drains with the agentfarm
# schema (idx) or without its indexes (noidx), beside the seed; sets
# typed_best_VARIANT, styped_best_VARIANT (and the _all lists, the RSS).
typed_runs() {
	local v=$1 schema=$2 flag=$3 r tb='' sb='' nrej
	for r in $(seq "$runs"); do
		note "typed drain ($v) run $r/$runs: simlog-drain --schema $schema"
		flush
		"$push" -u "unix://$sock" -s "$sim" <"$typed" >"$work/push.out"
		check_pushed "typed drain run $r" "$work/push.out" "$n"
		rm -f "$work/typed.db" "$work/typed.db-wal" "$work/typed.db-shm"
		timed "$drain" -u "unix://$sock" -s "$sim" -d "$work/typed.db" \
			--schema "$schema" >"$work/typed.out"
		tb=$(min "$tb" "$secs")
		typed_all+=("$v:$secs")
		typed_rss=$(max "$typed_rss" "$rss")
		check_db "simlog-drain --schema $schema run $r" "$work/typed.db" \
			"$work/expect.typed" "$typed_rows"
		nrej=$(rejects "$work/typed.db")
		if [ "$nrej" != 0 ] || [ "$(json_field "$work/typed.out" rejects)" != 0 ] ||
			[ "$(json_field "$work/typed.out" waiting)" != 0 ]; then
			fail "simlog-drain --schema $schema run $r: $nrej rows in" \
				"simlog_rejects ($(tail -n 1 "$work/typed.out"))"
		fi

		note "typed drain ($v) run $r/$runs: seed_typed_drain.py $flag"
		flush
		redis-cli -s "$sock" --pipe <"$work/typed.resp" >/dev/null
		rm -f "$work/styped.db" "$work/styped.db-wal" "$work/styped.db-shm"
		# shellcheck disable=SC2086 # an empty flag is no argument
		timed "$py" "$here/seed_typed_drain.py" "$sock" "$listkey" \
			"$work/styped.db" "$sim" $flag >"$work/styped.out"
		sb=$(min "$sb" "$secs")
		styped_all+=("$v:$secs")
		styped_rss=$(max "$styped_rss" "$rss")
		check_db "seed_typed_drain.py run $r" "$work/styped.db" \
			"$work/expect.typed" "$typed_rows"
		[ "$(db_counts "$work/typed.db")" = "$(db_counts "$work/styped.db")" ] ||
			fail "typed drain run $r: row counts per table differ:" \
				"simlog-drain: $(db_counts "$work/typed.db" | tr '\n' ' ')," \
				"seed_typed_drain.py: $(db_counts "$work/styped.db" | tr '\n' ' ')"
	done
	printf -v "typed_best_$v" '%s' "$tb"
	printf -v "styped_best_$v" '%s' "$sb"
}

typed_rss='' styped_rss='' typed_all=() styped_all=()
typed_runs idx agentfarm ''
note "comparing the values the two typed drains stored"
# shellcheck disable=SC2086 # split: one argument per column name
diffs=$(same_values "$work/typed.db" "$work/styped.db" $json_cols)
[ -z "$diffs" ] ||
	fail "typed drains stored different values: $(tr '\n' ';' <<<"$diffs")"
typed_runs noidx "$work/noidx.schema" --no-indexes
typed_best=$typed_best_idx styped_best=$styped_best_idx

# --- f: --follow latency from push to committed row --------------------------

fsim=follow

# follow_run INTERVAL [RATE SECS FLUSH]: one --follow drain (with
# --commit-interval INTERVAL, or its default for "") while pace feeds
# simlog-push RATE records/s (default FOLLOW_RATE) for SECS (FOLLOW_SECS),
# the push with --flush-interval FLUSH (0.05; "" for its default); sets
# f_* from follow_probe.py's measurement.
follow_run() {
	local ci=$1 follow_rate=${2:-$follow_rate} follow_secs=${3:-$follow_secs}
	local flush=${4-0.05}
	local follow_n=$((follow_rate * follow_secs))
	local tag=${1:-default}.$follow_rate.${flush:-dflt}
	local db=$work/follow.db ready=$work/follow.ready
	local dpid ppid st=0 pst=0 dst=0 ticks=''
	flush
	rm -f "$db" "$db-wal" "$db-shm" "$ready"
	"$drain" -u "unix://$sock" -s "$fsim" -d "$db" -f -q \
		${ci:+--commit-interval "$ci"} >"$work/follow-drain.$tag.out" \
		2>"$work/follow-drain.$tag.err" &
	dpid=$!
	bg_pids=("$dpid")
	for _ in $(seq 100); do
		[ -s "$db" ] && break
		kill -0 "$dpid" 2>/dev/null ||
			die "simlog-drain -f exited at start: $(cat "$work/follow-drain.$tag.err")"
		sleep 0.1
	done
	[ -s "$db" ] || die "simlog-drain -f: $db not created within 10 s"
	# The probe gives up by itself a minute after the producer should end.
	timeout $((follow_secs + 90)) "$py" "$here/follow_probe.py" "$db" \
		"$follow_n" $((follow_secs + 60)) "$ready" \
		>"$work/probe.$tag.out" 2>"$work/probe.$tag.err" &
	ppid=$!
	bg_pids+=("$ppid")
	for _ in $(seq 100); do
		[ -e "$ready" ] && break
		sleep 0.1
	done
	[ -e "$ready" ] || die "follow_probe.py did not start within 10 s"

	timeout $((follow_secs + 60)) "$pace" -n "$follow_n" -r "$follow_rate" \
		"$records" 2>"$work/pace.$tag.err" |
		timeout $((follow_secs + 60)) "$push" -u "unix://$sock" \
			-s "$fsim" ${flush:+--flush-interval "$flush"} \
			>"$work/follow-push.$tag.out" || st=$?
	[ "$st" -eq 0 ] || fail "--follow ($tag): pace | simlog-push exited with" \
		"status $st ($(cat "$work/pace.$tag.err"))"
	check_pushed "--follow ($tag)" "$work/follow-push.$tag.out" "$follow_n"

	wait "$ppid" || pst=$?
	# CPU seconds the drain used, from its utime and stime in ticks.
	ticks=$(awk '{ print $14 + $15 }' "/proc/$dpid/stat" 2>/dev/null || true)
	kill -TERM "$dpid" 2>/dev/null || true
	for _ in $(seq 300); do
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$dpid" 2>/dev/null; then
		fail "--follow ($tag): simlog-drain still running 30 s after SIGTERM"
		kill -KILL "$dpid" 2>/dev/null || true
	fi
	wait "$dpid" || dst=$?
	bg_pids=()
	[ "$dst" -eq 0 ] || fail "--follow ($tag): simlog-drain -f exited with" \
		"status $dst: $(tail -n 3 "$work/follow-drain.$tag.err")"
	[ "$pst" -eq 0 ] || fail "--follow ($tag): follow_probe.py status $pst:" \
		"$(tail -n 1 "$work/probe.$tag.out") $(cat "$work/probe.$tag.err")"
	[ "$(json_field "$work/follow-drain.$tag.out" rows)" = "$follow_n" ] ||
		fail "--follow ($tag): simlog-drain -f drained" \
			"$(json_field "$work/follow-drain.$tag.out" rows), expected $follow_n"

	local p=$work/probe.$tag.out
	f_p50=$(json_field "$p" p50_ms) f_p99=$(json_field "$p" p99_ms)
	f_max=$(json_field "$p" max_ms)
	f_lo50=$(json_field "$p" p50_lo_ms) f_lo99=$(json_field "$p" p99_lo_ms)
	f_rows=$(json_field "$p" rows)
	f_rate=$(awk -v r="$(json_field "$work/pace.$tag.err" records)" \
		-v s="$(json_field "$work/pace.$tag.err" seconds)" \
		'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }')
	f_late=$(json_field "$work/pace.$tag.err" late_bursts)
	f_lines=$(wc -l <"$work/follow-drain.$tag.out")
	f_cpu=$(calc %.2f "${ticks:-0} / $(getconf CLK_TCK)")
}

note "--follow latency: $follow_rate records/s for ${follow_secs}s, --commit-interval 0.1"
follow_run 0.1
fl_fast=("$f_p50" "$f_p99" "$f_max" "$f_lo50" "$f_lo99" "$f_rows" "$f_rate" "$f_late" "$f_lines" "$f_cpu")
note "--follow latency: $follow_rate records/s for ${follow_secs}s, default --commit-interval (1)"
follow_run ''
fl_dflt=("$f_p50" "$f_p99" "$f_max" "$f_lo50" "$f_lo99" "$f_rows" "$f_rate" "$f_late" "$f_lines" "$f_cpu")
note "--follow latency: 10 records/s for ${slow_secs}s, every setting at its default"
follow_run '' 10 "$slow_secs" ''
fl_slow_dflt=("$f_p50" "$f_p99" "$f_max" "$f_lo50" "$f_lo99" "$f_rows" "$f_rate" "$f_late" "$f_lines" "$f_cpu")
note "--follow latency: 10 records/s for ${slow_secs}s, simlog-push --flush-interval 0.05"
follow_run '' 10 "$slow_secs" 0.05
fl_slow_push=("$f_p50" "$f_p99" "$f_max" "$f_lo50" "$f_lo99" "$f_rows" "$f_rate" "$f_late" "$f_lines" "$f_cpu")

# --- g: drain into PostgreSQL ----------------------------------------------

# pg_typed_runs VARIANT SCHEMA SEED_FLAG [ROLE]: the typed drains into
# PostgreSQL, as typed_runs does into SQLite; sets pgt_best_VARIANT,
# spgt_best_VARIANT.  With ROLE, simlog-drain drains as ROLE, with rows
# only on the tables the owner made, and the peer (SEED_FLAG -) is not run.
pg_typed_runs() {
	local v=$1 schema=$2 flag=$3 role=${4:-} r tb='' sb=''
	for r in $(seq "$runs"); do
		note "PostgreSQL typed drain ($v) run $r/$runs: simlog-drain --schema $schema"
		flush
		"$push" -u "unix://$sock" -s "$sim" <"$typed" >"$work/push.out"
		check_pushed "PostgreSQL typed drain run $r" "$work/push.out" "$n"
		pgq postgres "DROP DATABASE IF EXISTS bench_typed" >/dev/null 2>&1
		pgq postgres "CREATE DATABASE bench_typed"
		if [ -n "$role" ]; then
			"$drain" -u "unix://$sock" -s none --schema "$schema" \
				-d "postgresql://simlog@/bench_typed?host=$pgdir" \
				>/dev/null
			pgq bench_typed "GRANT SELECT, INSERT, UPDATE ON ALL TABLES
			    IN SCHEMA public TO $role; GRANT USAGE ON ALL SEQUENCES
			    IN SCHEMA public TO $role; GRANT DELETE ON
			    simlog_batches, simlog_waiting TO $role" >/dev/null
		fi
		timed "$drain" -u "unix://$sock" -s "$sim" --schema "$schema" \
			-d "postgresql://${role:-simlog}@/bench_typed?host=$pgdir" \
			>"$work/pgt.out"
		tb=$(min "$tb" "$secs")
		pgt_all+=("$v:$secs")
		[ "$(pg_counts bench_typed)" = "$(cat "$work/expect.typed")" ] ||
			fail "simlog-drain --schema $schema into PostgreSQL run $r:" \
				"$(pg_counts bench_typed | tr '\n' ' ') differ from the input"
		[ "$(json_field "$work/pgt.out" rejects)" = 0 ] ||
			fail "PostgreSQL typed drain run $r: $(tail -n 1 "$work/pgt.out")"
		[ "$flag" != - ] || continue

		note "PostgreSQL typed drain ($v) run $r/$runs: seed_typed_drain.py $flag"
		flush
		redis-cli -s "$sock" --pipe <"$work/typed.resp" >/dev/null
		pgq postgres "DROP DATABASE IF EXISTS bench_styped" >/dev/null 2>&1
		pgq postgres "CREATE DATABASE bench_styped"
		# shellcheck disable=SC2086 # an empty flag is no argument
		timed "$py" "$here/seed_typed_drain.py" "$sock" "$listkey" \
			"host=$pgdir user=simlog dbname=bench_styped" "$sim" $flag \
			>"$work/spgt.out"
		sb=$(min "$sb" "$secs")
		spgt_all+=("$v:$secs")
		[ "$(pg_counts bench_styped)" = "$(cat "$work/expect.typed")" ] ||
			fail "seed_typed_drain.py into PostgreSQL run $r: per-table" \
				"rows differ from the input"
	done
	printf -v "pgt_best_$v" '%s' "$tb"
	printf -v "spgt_best_$v" '%s' "$sb"
}
pgt_all=() spgt_all=() pgt_best_idx=''

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
pgdir=''
pg_best='' pg_rss='' spg_best='' spg_rss='' pg_all=() spg_all=()
floor_best='' floor_all=()
pg_as() { "$@"; }
if [ "$bench_pg" = 1 ] && [ -x "$pg_bin/initdb" ] &&
	"$py" -c 'import psycopg2' 2>/dev/null; then
	# The server runs as an unprivileged user when we are root; its
	# directory must be one that user can reach.
	pgdir=$(mktemp -d "${TMPDIR:-/tmp}/simlog-bench-pg.XXXXXX")
	if [ "$(id -u)" -eq 0 ]; then
		pg_user=postgres
		id postgres >/dev/null 2>&1 || pg_user=nobody
		chown "$pg_user" "$pgdir"
		pg_as() { (cd / && runuser -u "$pg_user" -- "$@"); }
	fi
	note "starting PostgreSQL in $pgdir (default settings, fsync on)"
	pg_as "$pg_bin/initdb" -D "$pgdir/data" -U simlog --auth=trust -E UTF8 \
		--locale=C.UTF-8 >"$pgdir/initdb.log" 2>&1 ||
		die "initdb failed: $(tail -n 3 "$pgdir/initdb.log")"
	pg_as "$pg_bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
		-o "-k $pgdir -c listen_addresses=''" start >/dev/null ||
		die "pg_ctl start failed: $(tail -n 3 "$pgdir/log")"
	pgq() { psql -X -q -A -t -h "$pgdir" -U simlog -d "$1" -c "$2"; }
	# pg_counts DB: "table rows" per record table, as db_counts says.
	pg_counts() {
		local t
		for t in $(pgq "$1" "SELECT tablename FROM pg_tables WHERE
		    schemaname = 'public' AND tablename NOT LIKE 'simlog\_%'
		    ORDER BY tablename COLLATE \"C\""); do
			echo "$t $(pgq "$1" "SELECT count(*) FROM \"$t\"")"
		done
	}
	# The server's own floor: the same rows by psql \copy into one
	# table of the same shape, no Redis and no drain.
	awk '{ gsub(/\\/, "\\\\\\\\"); gsub(/\t/, "\\t"); print "bench\t" $0 }' \
		"$records" >"$work/copy.txt"
	for r in $(seq "$runs"); do
		note "PostgreSQL floor run $r/$runs: psql \\copy into one jsonb table"
		pgq postgres "DROP DATABASE IF EXISTS bench_floor" >/dev/null 2>&1
		pgq postgres "CREATE DATABASE bench_floor"
		pgq bench_floor "CREATE TABLE records (id bigserial PRIMARY KEY,
		    simulation_id text NOT NULL, data jsonb NOT NULL)"
		timed psql -X -q -h "$pgdir" -U simlog -d bench_floor \
			-c "\\copy records (simulation_id, data) from '$work/copy.txt'"
		floor_best=$(min "$floor_best" "$secs")
		floor_all+=("$secs")
		[ "$(pgq bench_floor "SELECT count(*) FROM records")" = "$n" ] ||
			fail "psql \\copy run $r: row count differs from $n"
	done
	for r in $(seq "$runs"); do
		note "PostgreSQL drain run $r/$runs: simlog-drain"
		flush
		"$push" -u "unix://$sock" -s "$sim" <"$records" >"$work/push.out"
		check_pushed "PostgreSQL drain run $r" "$work/push.out" "$n"
		pgq postgres "DROP DATABASE IF EXISTS bench_simlog" >/dev/null 2>&1
		pgq postgres "CREATE DATABASE bench_simlog"
		timed "$drain" -u "unix://$sock" -s "$sim" \
			-d "postgresql://simlog@/bench_simlog?host=$pgdir" \
			>"$work/pg.out"
		pg_best=$(min "$pg_best" "$secs")
		pg_all+=("$secs")
		pg_rss=$(max "$pg_rss" "$rss")
		[ "$(pg_counts bench_simlog)" = "$(cat "$work/expect")" ] ||
			fail "simlog-drain into PostgreSQL run $r: per-type rows" \
				"$(pg_counts bench_simlog | tr '\n' ' ') differ from the input"

		note "PostgreSQL drain run $r/$runs: seed_pg_drain.py"
		flush
		redis-cli -s "$sock" --pipe <"$resp" >/dev/null
		pgq postgres "DROP DATABASE IF EXISTS bench_seed" >/dev/null 2>&1
		pgq postgres "CREATE DATABASE bench_seed"
		timed "$py" "$here/seed_pg_drain.py" "$sock" "$listkey" \
			"host=$pgdir user=simlog dbname=bench_seed" "$sim" \
			>"$work/spg.out"
		spg_best=$(min "$spg_best" "$secs")
		spg_all+=("$secs")
		spg_rss=$(max "$spg_rss" "$rss")
		[ "$(pg_counts bench_seed)" = "$(cat "$work/expect")" ] ||
			fail "seed_pg_drain.py run $r: per-type rows differ from the input"
	done
	pg_typed_runs idx agentfarm ''
	pg_typed_runs noidx "$work/noidx.schema" --no-indexes
	# A role that may not set session_replication_role, with rows only
	# on tables its owner made: the server checks each row's foreign
	# keys (simlog-schema(5), FOREIGN KEYS).
	pgq postgres "CREATE ROLE bench_rows LOGIN"
	pg_typed_runs rows agentfarm - bench_rows
	pg_as "$pg_bin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null || true
	rm -rf "$pgdir"
	pgdir=''
else
	note "PostgreSQL drains skipped (BENCH_PG=0, or no initdb or psycopg2)"
fi

# --- d: peak RSS at 3N ----------------------------------------------------

n3=$((3 * n))
push_rss3='' drain_rss3=''
if [ "$quick" != 1 ]; then
	note "3N run: simlog-push of $n3 records"
	flush
	# Streamed from simgen rather than stored: only the peak RSS counts here.
	timed "$push" -u "unix://$sock" -s "$sim" \
		< <("$simgen" -n "$n3" -s 1) >"$work/push3.out"
	push_rss3=$rss
	check_pushed "3N push" "$work/push3.out" "$n3"

	note "3N run: simlog-drain of $n3 records"
	rm -f "$work/simlog.db" "$work/simlog.db-wal" "$work/simlog.db-shm"
	timed "$drain" -u "unix://$sock" -s "$sim" -d "$work/simlog.db" \
		>"$work/drain3.out"
	drain_rss3=$rss
	total3=$(db_counts "$work/simlog.db" | awk '{ s += $2 } END { print s + 0 }')
	[ "$total3" = "$n3" ] ||
		fail "3N simlog-drain: database holds $total3 rows, expected $n3"
fi

# --- report ---------------------------------------------------------------

secs_list() { printf '%.3f ' "$@" | sed 's/ $//'; }
rate() { calc %.0f "$n / $1"; }
yes_no() { awk "BEGIN { print ($1) ? \"yes\" : \"NO\" }"; }
mib() { calc %.1f "$1 / 1024"; }

push_rate=$(rate "$push_best")
pipe_rate=$(rate "$pipe_best")
drain_rate=$(rate "$drain_best")
seed_rate=$(rate "$seed_best")
push_x=$(calc %.2f "$push_rate / $pipe_rate")
mem_x=$(calc %.2f "$push_mem / $pipe_mem")
drain_x=$(calc %.2f "$drain_rate / $seed_rate")
ceil_rate=$(rate "$ceil_best")
ceil_x=$(calc %.2f "$drain_rate / $ceil_rate")
typed_rate=$(rate "$typed_best")
styped_rate=$(rate "$styped_best")
typed_x=$(calc %.2f "$typed_rate / $styped_rate")
typed_noidx_rate=$(rate "$typed_best_noidx")
styped_noidx_rate=$(rate "$styped_best_noidx")
typed_noidx_x=$(calc %.2f "$typed_noidx_rate / $styped_noidx_rate")

# Flat: 3N within 10% or 2 MiB of N, whichever is looser.
flat() { awk -v a="$1" -v b="$2" 'BEGIN { print (b <= a * 1.1 || b - a <= 2048) ? 1 : 0 }'; }
rss_row() {	# NAME RSS_N RSS_3N CAP_KB
	local r3="skipped" x="-" ok
	ok=$(yes_no "$2 <= $4")
	if [ -n "$3" ]; then
		r3=$(mib "$3")
		x=$(calc %.2fx "$3 / $2")
		ok=$(yes_no "$2 <= $4 && $3 <= $4 && $(flat "$2" "$3")")
	fi
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$(mib "$2")" "$r3" "$x" "$ok"
}

cat <<EOF

## simlog benchmark

N = $n records (simgen -s 1, $avg_len bytes/line on average), timings are the
best of $runs runs, each from an empty Redis; $(redis-server --version | cut -d' ' -f3),
$(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ).

| measure | simlog | baseline | simlog/baseline | goal | met |
|---|---:|---:|---:|---|---|
| push, records/s | $push_rate | $pipe_rate (redis-cli --pipe RPUSH) | ${push_x}x | >= 2.5x | $(yes_no "$push_x >= 2.5") |
| Redis memory, bytes/record | $push_mem | $pipe_mem (RPUSH list) | ${mem_x}x | <= 0.35x | $(yes_no "$mem_x <= 0.35") |
| drain, rows/s | $drain_rate | $seed_rate (seed_drain.py) | ${drain_x}x | >= 5x | $(yes_no "$drain_x >= 5") |
| drain beside SQLite's own insert ceiling, rows/s | $drain_rate | $ceil_rate (sqlite_ceiling: the same rows from memory, same settings) | ${ceil_x}x | >= 0.9x | $(yes_no "$ceil_x >= 0.9") |
| typed drain (--schema agentfarm), records/s | $typed_rate | $styped_rate (seed_typed_drain.py) | ${typed_x}x | >= 4x | $(yes_no "$typed_x >= 4") |
| typed drain without the 16 indexes, records/s | $typed_noidx_rate | $styped_noidx_rate (seed_typed_drain.py --no-indexes) | ${typed_noidx_x}x | - | - |
| typed drain: the 16 indexes' cost | $(calc %.2f "$typed_rate / $typed_noidx_rate")x of the rate without | $(calc %.2f "$styped_rate / $styped_noidx_rate")x (the seed's) | - | - | - |
EOF
if [ -n "$pg_best" ]; then
	pg_rate=$(rate "$pg_best")
	spg_rate=$(rate "$spg_best")
	pg_x=$(calc %.2f "$pg_rate / $spg_rate")
	printf '| drain into PostgreSQL (jsonb), rows/s | %s | %s (seed_pg_drain.py: execute_values, a transaction per 1000) | %sx | >= 3x | %s |\n' \
		"$pg_rate" "$spg_rate" "$pg_x" "$(yes_no "$pg_x >= 3")"
	printf '| drain into PostgreSQL beside into SQLite, rows/s | %s | %s (simlog-drain into SQLite) | %sx | - | - |\n' \
		"$pg_rate" "$drain_rate" "$(calc %.2f "$pg_rate / $drain_rate")"
	floor_x=$(calc %.2f "$pg_rate / $(rate "$floor_best")")
	printf '| drain into PostgreSQL beside the server'"'"'s floor, rows/s | %s | %s (psql \\copy of the same rows into one jsonb table) | %sx | >= 0.95x | %s |\n' \
		"$pg_rate" "$(rate "$floor_best")" "$floor_x" "$(yes_no "$floor_x >= 0.95")"
fi
if [ -n "$pgt_best_idx" ]; then
	pgt_rate=$(rate "$pgt_best_idx") spgt_rate=$(rate "$spgt_best_idx")
	pgtn_rate=$(rate "$pgt_best_noidx") spgtn_rate=$(rate "$spgt_best_noidx")
	pgt_x=$(calc %.2f "$pgt_rate / $spgt_rate")
	printf '| typed drain into PostgreSQL (--schema agentfarm), records/s | %s | %s (seed_typed_drain.py: execute_values) | %sx | >= 4x | %s |\n' \
		"$pgt_rate" "$spgt_rate" "$pgt_x" "$(yes_no "$pgt_x >= 4")"
	printf '| typed drain into PostgreSQL, a role with rows only (the server checks foreign keys), records/s | %s | %s (seed_typed_drain.py: execute_values) | %sx | - | - |\n' \
		"$(rate "$pgt_best_rows")" "$spgt_rate" "$(calc %.2f "$(rate "$pgt_best_rows") / $spgt_rate")"
	printf '| typed drain into PostgreSQL without the 16 indexes, records/s | %s | %s (--no-indexes) | %sx | - | - |\n' \
		"$pgtn_rate" "$spgtn_rate" "$(calc %.2f "$pgtn_rate / $spgtn_rate")"
	printf '| typed drain into PostgreSQL: the 16 indexes'"'"' cost | %sx of the rate without | %sx (the seed'"'"'s) | - | - | - |\n' \
		"$(calc %.2f "$pgt_rate / $pgtn_rate")" "$(calc %.2f "$spgt_rate / $spgtn_rate")"
fi
cat <<EOF

| peak RSS, MiB | at N | at 3N | 3N/N | <= 32 MiB and flat |
|---|---:|---:|---:|---|
EOF
rss_row simlog-push "$push_rss" "$push_rss3" 32768
rss_row simlog-drain "$drain_rss" "$drain_rss3" 32768
printf '| redis-cli --pipe (reference) | %s | - | - | - |\n' "$(mib "$pipe_rss")"
printf '| seed_drain.py (reference) | %s | - | - | - |\n' "$(mib "$seed_rss")"
printf '| simlog-drain --schema agentfarm (reference) | %s | - | - | - |\n' "$(mib "$typed_rss")"
printf '| seed_typed_drain.py (reference) | %s | - | - | - |\n' "$(mib "$styped_rss")"
if [ -n "$pg_best" ]; then
	printf '| simlog-drain into PostgreSQL (reference) | %s | - | - | - |\n' "$(mib "$pg_rss")"
	printf '| seed_pg_drain.py (reference) | %s | - | - | - |\n' "$(mib "$spg_rss")"
fi

follow_row() {	# LABEL P50 P99 MAX LO50 LO99 ROWS RATE LATE LINES CPU
	printf '| %s | %s | %s | %s | %s / %s | %s | %s | %s |\n' \
		"$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "${11}"
}
cat <<EOF

--follow: simlog-drain -f following simulation "$fsim" (default mapping)
while pace feeds simlog-push --flush-interval 0.05 with simgen's records at
$follow_rate records/s for ${follow_secs} s in 1 ms bursts, each record stamped
with its emission time; a separate reader polls the database every 5 ms.
Latencies, push to committed row, in ms, are upper bounds (when the poll
that first saw the row ended); the lower bounds (when the poll before
began) are beside them.

| --follow latency, ms | p50 | p99 | max | lower bound p50 / p99 | rows | producer records/s | drain CPU s |
|---|---:|---:|---:|---:|---:|---:|---:|
EOF
follow_row "--commit-interval 0.1" "${fl_fast[@]}"
follow_row "--commit-interval 1 (default)" "${fl_dflt[@]}"
cat <<EOF

At 10 records/s for ${slow_secs} s (one record per burst), the drain at its
defaults; goal p99 <= 1000 ms with every setting at its default.

| --follow latency at 10 records/s, ms | p50 | p99 | max | lower bound p50 / p99 | rows | producer records/s | drain CPU s |
|---|---:|---:|---:|---:|---:|---:|---:|
EOF
follow_row "simlog-push defaults (--flush-interval 0.25)" "${fl_slow_dflt[@]}"
follow_row "simlog-push --flush-interval 0.05" "${fl_slow_push[@]}"

cat <<EOF

Wall time of every run, seconds:
  simlog-push      $(secs_list "${push_all[@]}")
  redis-cli --pipe $(secs_list "${pipe_all[@]}")
  simlog-drain     $(secs_list "${drain_all[@]}")
  seed_drain.py    $(secs_list "${seed_all[@]}")
  sqlite_ceiling   $(secs_list "${ceil_all[@]}")
  simlog-drain --schema agentfarm ${typed_all[*]}
  seed_typed_drain.py ${styped_all[*]}
  simlog-drain --schema agentfarm into PostgreSQL ${pgt_all[*]:-}
  seed_typed_drain.py into PostgreSQL ${spgt_all[*]:-}
  simlog-drain into PostgreSQL ${pg_all[*]:+$(secs_list "${pg_all[@]}")}
  seed_pg_drain.py ${spg_all[*]:+$(secs_list "${spg_all[@]}")}
  psql \copy      ${floor_all[*]:+$(secs_list "${floor_all[@]}")}
Last summary line of each:
  simlog-push      $(tail -n 1 "$work/push.out")
  simlog-drain     $(tail -n 1 "$work/drain.out")
  seed_drain.py    $(tail -n 1 "$work/seed.out")
  simlog-drain --schema agentfarm $(tail -n 1 "$work/typed.out")
  seed_typed_drain.py $(tail -n 1 "$work/styped.out")
Typed drains: records/s counts records drained; agents has one row per
  agent (a later record of an agent updates its row).  Rows per table, in
  each typed database: $(tr '\n' ' ' <"$work/expect.typed")
--follow runs: producer bursts more than 10 ms late: ${fl_fast[7]} (0.1), ${fl_dflt[7]} (default);
  simlog-drain -f stdout lines: ${fl_fast[8]} (0.1), ${fl_dflt[8]} (default)
  probe, 0.1:     $(tail -n 1 "$work/probe.0.1.$follow_rate.0.05.out")
  probe, default: $(tail -n 1 "$work/probe.default.$follow_rate.0.05.out")
  probe, 10/s:    $(tail -n 1 "$work/probe.default.10.dflt.out")
  probe, 10/s, push --flush-interval 0.05: $(tail -n 1 "$work/probe.default.10.0.05.out")
  simlog-drain -f, 0.1:     $(tail -n 1 "$work/follow-drain.0.1.$follow_rate.0.05.out")
  simlog-drain -f, default: $(tail -n 1 "$work/follow-drain.default.$follow_rate.0.05.out")
Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)
EOF

# State store and latency, each beside its own peer, in the same run.
echo
echo "## simlog-state"
bash "$here/state_bench.sh" "$bindir" || failures+=("bench/state_bench.sh failed")
echo
echo "## simlog-ping"
bash "$here/latency.sh" "$bindir" || failures+=("bench/latency.sh failed")
if [ "${BENCH_TOPO:-1}" != 0 ]; then
	echo
	echo "## simlog-push on a cluster, over TLS, with --wait-replicas"
	bash "$here/topo_bench.sh" "$bindir" ||
		failures+=("bench/topo_bench.sh failed")
fi

if [ "${BENCH_PYTHON:-1}" != 0 ]; then
	echo
	echo "## the Python module (simlog, simlog.agentfarm)"
	"$py" "$here/python_bench.py" "$bindir" "$bindir/../python" ||
		failures+=("bench/python_bench.py failed")
fi

if [ ${#failures[@]} -gt 0 ]; then
	printf '\n*** %d check(s) FAILED:\n' "${#failures[@]}" >&2
	printf '***   %s\n' "${failures[@]}" >&2
	exit 1
fi

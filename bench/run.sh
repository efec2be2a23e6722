#!/usr/bin/env bash
# bench/run.sh: measures simlog-push and simlog-drain beside their plain
# baselines (redis-cli --pipe RPUSH, a seed-style Python drain) in one run.
#
# usage: bench/run.sh BINDIR        BINDIR holds simlog-push and simlog-drain
# env:   BENCH_N      records per run (default 1000000)
#        BENCH_QUICK  1: skip the 3N peak-RSS runs
#        BENCH_RUNS   timed repetitions, the best is kept (default 3)
#        BENCH_KEEP   1: keep the work directory for a post-mortem
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
push=$bindir/simlog-push
drain=$bindir/simlog-drain
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3	# Debian's, which has python3-redis
n=${BENCH_N:-1000000}
runs=${BENCH_RUNS:-3}
quick=${BENCH_QUICK:-0}
tmo=${BENCH_TIMEOUT:-900}
sim=bench
listkey=bench:records

[[ $n =~ ^[1-9][0-9]{0,9}$ ]] || die "BENCH_N: not a positive integer: '$n'"
[[ $runs =~ ^[1-9][0-9]?$ ]] || die "BENCH_RUNS: not 1 to 99: '$runs'"
[[ $tmo =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT: not a positive integer: '$tmo'"
for t in "$push" "$drain"; do
	[ -x "$t" ] || die "$t: missing or not executable (build first)"
done
for t in redis-server redis-cli timeout; do
	command -v "$t" >/dev/null || die "$t: not found"
done
[ -x /usr/bin/time ] || die "/usr/bin/time: not found (apt-get install time)"
"$py" -c 'import redis' 2>/dev/null ||
	die "$py cannot import redis (apt-get install python3-redis)"

simgen=$here/simgen
if [ ! -x "$simgen" ]; then
	note "building $simgen"
	"${CC:-cc}" -O2 -o "$simgen" "$here/simgen.c"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/simlog-bench.XXXXXX")
redis_pids=()
cleanup() {
	local pid
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
done

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
| push, records/s | $push_rate | $pipe_rate (redis-cli --pipe RPUSH) | ${push_x}x | - | - |
| Redis memory, bytes/record | $push_mem | $pipe_mem (RPUSH list) | ${mem_x}x | <= 0.35x | $(yes_no "$mem_x <= 0.35") |
| drain, rows/s | $drain_rate | $seed_rate (seed_drain.py) | ${drain_x}x | >= 3x | $(yes_no "$drain_x >= 3") |

| peak RSS, MiB | at N | at 3N | 3N/N | <= 32 MiB and flat |
|---|---:|---:|---:|---|
EOF
rss_row simlog-push "$push_rss" "$push_rss3" 32768
rss_row simlog-drain "$drain_rss" "$drain_rss3" 32768
printf '| redis-cli --pipe (reference) | %s | - | - | - |\n' "$(mib "$pipe_rss")"
printf '| seed_drain.py (reference) | %s | - | - | - |\n' "$(mib "$seed_rss")"

cat <<EOF

Wall time of every run, seconds:
  simlog-push      $(secs_list "${push_all[@]}")
  redis-cli --pipe $(secs_list "${pipe_all[@]}")
  simlog-drain     $(secs_list "${drain_all[@]}")
  seed_drain.py    $(secs_list "${seed_all[@]}")
Last summary line of each:
  simlog-push      $(tail -n 1 "$work/push.out")
  simlog-drain     $(tail -n 1 "$work/drain.out")
  seed_drain.py    $(tail -n 1 "$work/seed.out")
EOF

if [ ${#failures[@]} -gt 0 ]; then
	printf '\n*** %d check(s) FAILED:\n' "${#failures[@]}" >&2
	printf '***   %s\n' "${failures[@]}" >&2
	exit 1
fi

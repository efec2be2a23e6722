#!/usr/bin/env bash
# bench/latency.sh: simlog-ping's round-trip figures beside redis-cli
# --latency's, measured on the same private redis-server in one run.
#
# usage: bench/latency.sh BINDIR     BINDIR holds simlog-ping
# env:   LATENCY_COUNT    PINGs per simlog-ping run (default 1000)
#        LATENCY_SECONDS  how long redis-cli --latency samples (default 10;
#                         it pauses 10 ms between samples, so about 100
#                         samples a second)
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
ping=$bindir/simlog-ping
count=${LATENCY_COUNT:-1000}
secs=${LATENCY_SECONDS:-10}
[[ $count =~ ^[1-9][0-9]{0,5}$ ]] || die "LATENCY_COUNT: not 1 to 999999: '$count'"
[[ $secs =~ ^[1-9][0-9]{0,3}$ ]] || die "LATENCY_SECONDS: not 1 to 9999: '$secs'"
[ -x "$ping" ] || die "$ping: missing or not executable (build first)"
for t in redis-server redis-cli timeout; do
	command -v "$t" >/dev/null || die "$t: not found"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/simlog-latency.XXXXXX")
redis_pid=
cleanup() {
	if [ -n "$redis_pid" ]; then
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

sock=$work/redis.sock
redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no \
	--dir "$work" --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do
	[ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ] && break
	kill -0 "$redis_pid" 2>/dev/null || { cat "$work/redis.log" >&2; die "redis-server exited at start"; }
	sleep 0.1
done
[ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ] || die "redis-server did not answer on $sock"

# field JSON NAME: the number NAME in a JSON line (names here are unique).
field() { grep -o "\"$2\":[0-9.]*" <<<"$1" | head -n 1 | cut -d: -f2; }

# ping_row LABEL INTERVAL: one simlog-ping run as a table row.
ping_row() {
	local out
	note "simlog-ping -c $count -i $2"
	out=$(timeout $((count + 60)) "$ping" -u "unix://$sock" -c "$count" -i "$2") ||
		die "simlog-ping -i $2 failed: $out"
	ping_avg=$(field "$out" avg)
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" \
		"$(field "$out" pings)" "$(field "$out" min)" "$ping_avg" \
		"$(field "$out" p50)" "$(field "$out" p99)" "$(field "$out" max)"
}

rows=$(
	ping_row "simlog-ping -c $count -i 0.001" 0.001
	ping_row "simlog-ping -c $count -i 0.01" 0.01
	echo "$ping_avg" >"$work/ping_avg"
)

# Not a terminal and --raw: redis-cli samples for -i seconds, prints one
# line "min max avg samples" and exits.
note "redis-cli --latency --raw -i $secs"
cli=$(timeout $((secs + 60)) redis-cli -s "$sock" --latency --raw -i "$secs" </dev/null) ||
	die "redis-cli --latency failed"
read -r cmin cmax cavg csamples <<<"$cli" || true
[[ ${csamples:-} =~ ^[0-9]+$ ]] || die "redis-cli --latency: unexpected output: '$cli'"

pavg=$(cat "$work/ping_avg")
agree=$(awk -v a="$pavg" -v b="$cavg" 'BEGIN {
	d = a - b; if (d < 0) d = -d
	m = a > b ? a : b
	# redis-cli counts whole milliseconds: below 1 ms its average is the
	# share of samples that crossed a millisecond tick, an estimate with
	# an error of about sqrt(avg / samples); allow 0.05 ms or half.
	print (d <= 0.05 || d <= m / 2) ? "yes" : "NO" }')

cat <<EOF

## simlog-ping beside redis-cli --latency

One private redis-server over a unix socket, $(redis-server --version | cut -d' ' -f3),
$(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ). Round trips of PING in milliseconds.

| measured by | samples | min | avg | p50 | p99 | max |
|---|---:|---:|---:|---:|---:|---:|
$rows
| redis-cli --latency -i $secs | $csamples | $cmin | $cavg | - | - | $cmax |

redis-cli times each PING in whole milliseconds (it pauses 10 ms between
them), so its min and max are rounded down to a millisecond and its average
is that of the rounded values. simlog-ping times each round trip with
CLOCK_MONOTONIC to the nanosecond and reports microseconds. Averages at the
same 10 ms pace agree (within 0.05 ms or half): $agree
EOF

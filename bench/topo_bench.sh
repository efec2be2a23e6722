#!/usr/bin/env bash
# bench/topo_bench.sh: simlog-push beyond one plain Redis, each figure
# beside its own baseline in the same run (issue 11), on the servers
# bench/topo.sh starts:
#   - three pushes of three simulations at once against a 3-master
#     cluster (one simulation per master), and the same against one Redis;
#   - one push over rediss:// against the same over plain TCP, to one
#     redis-server serving both (goal: at least 0.7x);
#   - one push with --wait-replicas 1 against a master with one replica,
#     and the same without the option (goal: at least 0.5x).
#
# usage: bench/topo_bench.sh BINDIR     BINDIR holds simlog-push
# env:   BENCH_N       records per push (default 1000000)
#        BENCH_RUNS    timed repetitions, the best is kept (default 3)
#        BENCH_KEEP    1: keep the work directory for a post-mortem
#        BENCH_TIMEOUT seconds any one timed command may take (default 900)
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
stats=$bindir/simlog-pool-stats
here=$(cd "$(dirname "$0")" && pwd)
n=${BENCH_N:-1000000}
runs=${BENCH_RUNS:-3}
tmo=${BENCH_TIMEOUT:-900}

[[ $n =~ ^[1-9][0-9]{0,9}$ ]] || die "BENCH_N: not a positive integer: '$n'"
[[ $runs =~ ^[1-9][0-9]?$ ]] || die "BENCH_RUNS: not 1 to 99: '$runs'"
[[ $tmo =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT: not a positive integer: '$tmo'"
for t in "$push" "$stats"; do
	[ -x "$t" ] || die "$t: missing or not executable (build first)"
done
for t in redis-server redis-cli openssl setpriv timeout; do
	command -v "$t" >/dev/null || die "$t: not found"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/simlog-topo-bench.XXXXXX")
# shellcheck source=topo.sh
. "$here/topo.sh"
cleanup() {
	bench_topo_cleanup
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		note "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
bench_topo_init "$work/topo"
# Nothing of a bench lands in the user's spool or breaker state.
export SIMLOG_SPOOL_DIR=$work/spool SIMLOG_BREAKER_DIR=$work/breaker
unset SIMLOG_REDIS_URL SIMLOG_TLS_CA SIMLOG_TLS_CERT SIMLOG_TLS_KEY \
    SIMLOG_WAIT_REPLICAS

failures=()
fail() {
	printf '\n*** FAIL: %s ***\n\n' "$*" >&2
	failures+=("$*")
}

simgen=$here/simgen
if [ ! -x "$simgen" ] || [ "$here/simgen.c" -nt "$simgen" ]; then
	"${CC:-cc}" -std=c11 -O2 -Wall -Wextra -o "$simgen" "$here/simgen.c"
fi
records=$work/records.jsonl
"$simgen" -n "$n" -s 1 > "$records"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.6f", b - a }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
yes_no() { awk "BEGIN { print ($1) ? \"yes\" : \"NO\" }"; }

# json_field FILE NAME: the number NAME in the last JSON line of FILE.
json_field() {
	tail -n 1 "$1" | grep -o "\"$2\": *[0-9.]*" | head -n 1 |
		cut -d: -f2 | tr -d ' '
}

# push_one OUT [simlog-push options...]: one push of the records; its
# summary in OUT, its exit status in OUT.rc.
push_one() {
	local out=$1 st=0
	shift
	timeout "$tmo" "$push" "$@" < "$records" > "$out" 2> "$out.err" || st=$?
	echo "$st" > "$out.rc"
}

# check_push LABEL OUT: it exited 0 with every record pushed, none spooled.
check_push() {
	local out=$2
	if [ "$(cat "$out.rc")" != 0 ] || [ "$(json_field "$out" pushed)" != "$n" ] ||
	    [ "$(json_field "$out" spooled)" != 0 ]; then
		fail "$1: simlog-push exited $(cat "$out.rc"): $(tail -n 1 "$out")" \
		    "$(tail -n 2 "$out.err" | tr '\n' ' ')"
	fi
}

# timed_push LABEL OUT [options...]: push_one, timed (secs), checked.
timed_push() {
	local label=$1 t0
	shift
	t0=$(now)
	push_one "$@"
	secs=$(elapsed "$t0")
	check_push "$label" "$1"
}

# backlog URL: the records buffered under URL, as simlog-pool-stats sees
# them (every master of a cluster).
backlog() {
	"$stats" -u "$1" | grep -o '"backlog":{"records":[0-9]*' | cut -d: -f3
}

# --- three pushes at once: a 3-master cluster against one Redis --------------

note "cluster: starting 3 masters and one plain Redis"
bench_cluster_up
bench_spread_sims 3
read -r -a sims <<< "$BENCH_SIMS"

# three_pushes LABEL URL: three pushes, one simulation each, at once; secs.
three_pushes() {
	local label=$1 url=$2 t0 s pids=() st
	t0=$(now)
	for s in "${sims[@]}"; do
		push_one "$work/push.$s" -u "$url" -s "$s" &
		pids+=($!)
	done
	for s in "${pids[@]}"; do
		wait "$s" || true
	done
	secs=$(elapsed "$t0")
	for s in "${sims[@]}"; do
		check_push "$label, $s" "$work/push.$s"
	done
	st=$(backlog "$url")
	[ "$st" = $((3 * n)) ] ||
		fail "$label: $st records buffered after three pushes of $n"
}

cl_best='' one_best='' cl_all=() one_all=()
for r in $(seq "$runs"); do
	bench_cluster_flush
	note "cluster run $r/$runs: three pushes at once, 3-master cluster"
	three_pushes cluster "$BENCH_CLUSTER_URL"
	cl_best=$(min "$cl_best" "$secs") cl_all+=("$secs")
	bench_cluster_flush
	note "cluster run $r/$runs: three pushes at once, one Redis"
	three_pushes single "$BENCH_SINGLE_URL"
	one_best=$(min "$one_best" "$secs") one_all+=("$secs")
done
bench_cluster_down

# --- rediss:// against plain TCP, one server ---------------------------------

note "TLS: starting one redis-server with a TLS and a plain port"
bench_tls_up
tls_best='' plain_best='' tls_all=() plain_all=()
for r in $(seq "$runs"); do
	redis-cli -p "$BENCH_PLAIN_PORT" flushall > /dev/null
	note "TLS run $r/$runs: push over rediss://"
	timed_push "rediss://" "$work/push.tls" -u "$BENCH_TLS_URL" \
	    --tls-ca "$BENCH_TLS_CA" -s tls
	tls_best=$(min "$tls_best" "$secs") tls_all+=("$secs")
	redis-cli -p "$BENCH_PLAIN_PORT" flushall > /dev/null
	note "TLS run $r/$runs: push over plain TCP"
	timed_push "plain TCP" "$work/push.plain" -u "$BENCH_PLAIN_URL" -s tls
	plain_best=$(min "$plain_best" "$secs") plain_all+=("$secs")
done
bench_tls_down

# --- --wait-replicas 1 against none, a master with one replica --------------

note "--wait-replicas: starting a master with one replica"
bench_replica_up
# Not timed: the first WAIT after a replica attaches may wait for its
# first acknowledgement; one write confirmed shows it is there.
for _ in $(seq 50); do
	[ "$(printf 'SET bench:warm 1\nWAIT 1 1000\n' |
	    redis-cli -p "$BENCH_PRIMARY_PORT" | tail -n 1)" = 1 ] && break
done
wait_best='' nowait_best='' wait_all=() nowait_all=()
for r in $(seq "$runs"); do
	redis-cli -p "$BENCH_PRIMARY_PORT" flushall > /dev/null
	note "replica run $r/$runs: push --wait-replicas 1"
	timed_push "--wait-replicas 1" "$work/push.wait" -u "$BENCH_PRIMARY_URL" \
	    -s wr --wait-replicas 1
	wait_best=$(min "$wait_best" "$secs") wait_all+=("$secs")
	redis-cli -p "$BENCH_PRIMARY_PORT" flushall > /dev/null
	note "replica run $r/$runs: push without --wait-replicas"
	timed_push "no --wait-replicas" "$work/push.nowait" -u "$BENCH_PRIMARY_URL" -s wr
	nowait_best=$(min "$nowait_best" "$secs") nowait_all+=("$secs")
done
# The replica has every chunk the last push stored.
[ "$(redis-cli -p "$BENCH_REPLICA_PORT" xlen 'simlog:{wr}:q')" = \
    "$(redis-cli -p "$BENCH_PRIMARY_PORT" xlen 'simlog:{wr}:q')" ] ||
	fail "--wait-replicas: the replica's stream differs from the master's"
bench_replica_down

# --- report -----------------------------------------------------------------

rate() { calc %.0f "$1 / $2"; }
secs_list() { printf '%.3f ' "$@" | sed 's/ $//'; }
cl_rate=$(rate $((3 * n)) "$cl_best") one_rate=$(rate $((3 * n)) "$one_best")
tls_rate=$(rate "$n" "$tls_best") plain_rate=$(rate "$n" "$plain_best")
wait_rate=$(rate "$n" "$wait_best") nowait_rate=$(rate "$n" "$nowait_best")
cl_x=$(calc %.2f "$cl_rate / $one_rate")
tls_x=$(calc %.2f "$tls_rate / $plain_rate")
wait_x=$(calc %.2f "$wait_rate / $nowait_rate")

cat <<EOF

N = $n records per push (simgen -s 1), best of $runs runs, each from empty
servers; $(redis-server --version | cut -d' ' -f3), $(nproc) CPUs.

| measure, records/s | simlog | baseline | ratio | goal | met |
|---|---:|---:|---:|---|---|
| three pushes of three simulations at once | $cl_rate (3-master cluster) | $one_rate (one Redis) | ${cl_x}x | report both | - |
| push over rediss:// | $tls_rate | $plain_rate (plain TCP, same server) | ${tls_x}x | >= 0.7x | $(yes_no "$tls_x >= 0.7") |
| push --wait-replicas 1 | $wait_rate | $nowait_rate (same master and replica, no WAIT) | ${wait_x}x | >= 0.5x | $(yes_no "$wait_x >= 0.5") |

Three pushes at once share the machine's $(nproc) cores with the servers,
all on 127.0.0.1 over TCP.  Against one Redis the limit is its one thread,
which runs every chunk's script for the three simulations in turn; the
cluster gives each simulation a redis-server of its own, but on a 2-core
machine those three servers and the three simlog-push processes (parsing,
LZ4, a writer thread each) still compete for two CPUs, so the cluster's
figure is bounded by the cores, not by Redis.  Sharding pays in full when
each master has its own core or machine.

Wall time of every run, seconds:
  cluster, 3 pushes  $(secs_list "${cl_all[@]}")
  one Redis, 3 pushes $(secs_list "${one_all[@]}")
  rediss://          $(secs_list "${tls_all[@]}")
  plain TCP          $(secs_list "${plain_all[@]}")
  --wait-replicas 1  $(secs_list "${wait_all[@]}")
  no WAIT            $(secs_list "${nowait_all[@]}")
Last summary line of each:
  cluster push       $(tail -n 1 "$work/push.${sims[0]}")
  rediss:// push     $(tail -n 1 "$work/push.tls")
  --wait-replicas 1  $(tail -n 1 "$work/push.wait")
Server start-up: $(topo_times | tr '\n' ';' | sed 's/;$//')
EOF

if [ ${#failures[@]} -gt 0 ]; then
	printf '\n*** %d check(s) FAILED:\n' "${#failures[@]}" >&2
	printf '***   %s\n' "${failures[@]}" >&2
	exit 1
fi

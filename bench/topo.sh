#!/usr/bin/env bash
# bench/topo.sh: the servers for the cluster, TLS and --wait-replicas
# measures of make bench, started through tests/topo.bash (the code the
# suites use).  Sourced by bench/run.sh; run alone (bash bench/topo.sh
# [DIR]) it starts and stops each set once and prints the URLs and how long
# each took to start.
#
# Each *_up function starts its servers, sets BENCH_* variables and prints
# the URLs on stderr; the matching *_down stops them.  Servers also die
# with the shell that started them, so an interrupted bench leaves none;
# still, bench/run.sh's cleanup should call bench_topo_cleanup.  Call the
# *_up functions in run.sh's own shell (not in $(...)), for that reason.
#
# How bench/run.sh uses them, after its $work exists:
#
#	. "$here/topo.sh"
#	bench_topo_init "$work/topo"       # and bench_topo_cleanup in cleanup()
#
# Cluster (issue 11: three pushes of three simulations at once against a
# 3-master cluster, and the same against one Redis):
#
#	bench_cluster_up                   # BENCH_CLUSTER_URL, BENCH_SINGLE_URL
#	bench_spread_sims 3                # BENCH_SIMS: one simulation per master
#	for url in "$BENCH_CLUSTER_URL" "$BENCH_SINGLE_URL"; do
#		t0=$(now)
#		for s in $BENCH_SIMS; do
#			"$push" -u "$url" -s "$s" < "$records" > "$work/push.$s" &
#		done
#		wait                       # each must exit 0 and push N
#		secs = now - t0; records/s = 3 N / secs
#		flush: bench_cluster_flush, and FLUSHALL on the single
#	done
#	bench_cluster_down
#
# Both are reached over TCP on 127.0.0.1, so the comparison is of
# topologies, not of transports.  Report both figures.  On a 2-core machine
# the three pushes and three redis-servers share two cores: the cluster
# cannot beat one Redis there, and the figure shows what routing costs,
# not what sharding buys; say so beside it (CPU-bound; sharding pays off
# when each master has its own cores or machine).
#
# TLS (issue 11: push over rediss:// at least 0.7x plain TCP in the same run):
#
#	bench_tls_up                       # BENCH_TLS_URL, BENCH_PLAIN_URL, BENCH_TLS_CA
#	SIMLOG_TLS_CA=$BENCH_TLS_CA "$push" -u "$BENCH_TLS_URL" -s "$sim" < "$records"
#	"$push" -u "$BENCH_PLAIN_URL" -s "$sim" < "$records"
#	bench_tls_down
#
# One redis-server serves both ports, so both runs meet the same server;
# alternate the two, best of BENCH_RUNS each, FLUSHALL between runs
# (redis-cli -p "$BENCH_PLAIN_PORT" flushall).  The server does not ask for
# a client certificate (most managed Redis do not); the client verifies the
# server's certificate and its name (127.0.0.1 is in it).
#
# --wait-replicas (issue 11: at least 0.5x without it):
#
#	bench_replica_up                   # BENCH_PRIMARY_URL
#	"$push" -u "$BENCH_PRIMARY_URL" -s "$sim" --wait-replicas 1 < "$records"
#	"$push" -u "$BENCH_PRIMARY_URL" -s "$sim" < "$records"
#	bench_replica_down
#
# The baseline is the same master with its replica attached, without the
# option: both pay for replication, only one waits for it.  Flush between
# runs with redis-cli -p "$BENCH_PRIMARY_PORT" flushall (the replica
# follows).

_bench_topo_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../tests/topo.bash
. "$_bench_topo_here/../tests/topo.bash"

_bench_say() {
	printf 'bench/topo.sh: %s\n' "$*" >&2
}

# bench_topo_init DIR: servers and certificates will live under DIR.
bench_topo_init() {
	export TOPO_BASE=$1
	mkdir -p "$TOPO_BASE"
}

# bench_topo_cleanup: stop every server started here.
bench_topo_cleanup() {
	[ -z "${TOPO_BASE:-}" ] || stop_topo
}

# bench_cluster_up [redis-server options...]: a 3-master cluster (no
# replicas) and one plain redis-server beside it, both over TCP and with
# the same options.  Sets BENCH_CLUSTER_URL, BENCH_CLUSTER_PORTS,
# BENCH_SINGLE_URL and BENCH_SINGLE_PORT.
bench_cluster_up() {
	start_cluster bench 3 "$@" || return 1
	start_master single 0 "$@" || return 1
	BENCH_CLUSTER_URL=$CLUSTER_URL BENCH_CLUSTER_PORTS=$CLUSTER_MASTERS
	BENCH_SINGLE_URL=$MASTER_URL BENCH_SINGLE_PORT=$MASTER_PORT
	_bench_say "cluster ($CLUSTER_START_MS ms to start): $BENCH_CLUSTER_URL"
	_bench_say "single Redis ($MASTER_START_MS ms): $BENCH_SINGLE_URL"
}

bench_cluster_down() {
	stop_topo cluster-bench master-single
	rm -rf "$TOPO_BASE/topo/cluster-bench" "$TOPO_BASE/topo/master-single"
}

# bench_cluster_flush: empty the cluster's masters and the single Redis.
bench_cluster_flush() {
	cluster_flushall &&
		[ "$(redis-cli -p "$BENCH_SINGLE_PORT" flushall)" = OK ]
}

# bench_spread_sims N: BENCH_SIMS, N simulation names (bench-0, bench-1,
# ...) whose keys ({SIM} hash tags) fall on the cluster's masters in turn,
# so N pushes at once load every master alike.
bench_spread_sims() {
	local n=$1 masters i=0 k=0 want port
	read -r -a masters <<< "$BENCH_CLUSTER_PORTS"
	BENCH_SIMS=
	while [ "$k" -lt "$n" ]; do
		want=${masters[k % ${#masters[@]}]}
		port=$(cluster_node_for_key "{bench-$i}") || return 1
		if [ "$port" = "$want" ]; then
			BENCH_SIMS="$BENCH_SIMS bench-$i"
			k=$((k + 1))
		fi
		i=$((i + 1))
		[ "$i" -lt 10000 ] || { _bench_say "cannot spread $n simulations"; return 1; }
	done
	BENCH_SIMS=${BENCH_SIMS# }
	_bench_say "simulations one per master: $BENCH_SIMS"
}

# bench_tls_up [redis-server options...]: one redis-server serving TLS
# (no client certificate asked) and plain TCP.  Sets BENCH_TLS_URL,
# BENCH_PLAIN_URL, BENCH_PLAIN_PORT and BENCH_TLS_CA (the CA to verify it
# with).
bench_tls_up() {
	start_redis_tls bench --auth-clients no --also-plain "$@" || return 1
	BENCH_TLS_URL=$TLS_URL BENCH_TLS_CA=$TLS_CA
	BENCH_PLAIN_PORT=$TLS_PLAIN_PORT
	BENCH_PLAIN_URL=redis://127.0.0.1:$TLS_PLAIN_PORT
	_bench_say "TLS ($TLS_START_MS ms to start): $BENCH_TLS_URL (CA $BENCH_TLS_CA)"
	_bench_say "plain TCP, same server: $BENCH_PLAIN_URL"
}

bench_tls_down() {
	stop_topo tls-bench
	rm -rf "$TOPO_BASE/topo/tls-bench"
}

# bench_replica_up [redis-server options...]: a master with one replica,
# in sync.  Sets BENCH_PRIMARY_URL, BENCH_PRIMARY_PORT, BENCH_REPLICA_PORT.
bench_replica_up() {
	start_master replicated 1 "$@" || return 1
	BENCH_PRIMARY_URL=$MASTER_URL BENCH_PRIMARY_PORT=$MASTER_PORT
	BENCH_REPLICA_PORT=$REPLICA_PORT
	_bench_say "master with a replica ($MASTER_START_MS ms to start): $BENCH_PRIMARY_URL"
}

bench_replica_down() {
	stop_topo master-replicated
	rm -rf "$TOPO_BASE/topo/master-replicated"
}

# Run alone: start and stop each set once.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	export LC_ALL=C
	dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/simlog-topo.XXXXXX")}
	trap 'bench_topo_cleanup; [ $# -gt 0 ] || rm -rf "$dir"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
	bench_topo_init "$dir"
	bench_cluster_up
	bench_spread_sims 3
	bench_cluster_flush
	bench_cluster_down
	bench_tls_up
	bench_tls_down
	bench_replica_up
	bench_replica_down
	topo_times >&2
fi

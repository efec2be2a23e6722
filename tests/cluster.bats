#!/usr/bin/env bats
# Redis Cluster end to end: three masters with a replica each (one cluster
# for the whole file, tests/topo.bash) reached through
# redis-cluster://SEEDS.  Simulations spread over every master are pushed
# at once and drained without -s; states on every master are listed;
# simlog-ping and simlog-pool-stats look at each master; a slot moved
# while a push writes to it (ASK, then MOVED) and a master killed
# (SIGKILL) mid-push with --wait-replicas 1 lose nothing and double
# nothing; no command is ever refused for CROSSSLOT.  The failover comes
# last.

bats_require_minimum_version 1.5.0

setup_file() {
	load topo
	export LC_ALL=C
	start_cluster main 3 1
	local p
	for p in $CLUSTER_PORTS; do
		redis-cli -p "$p" config resetstat > /dev/null
	done
	topo_times | sed 's/^/# /' >&3
}

teardown_file() {
	load topo
	stop_topo
}

setup() {
	load helpers
	load topo
	load failover
	simlog_env
	export SIMLOG_RETRY_BASE=0.05 SIMLOG_RETRY_CAP=0.2
	cd "$BATS_TEST_TMPDIR"
	DB=$BATS_TEST_TMPDIR/sim.db
	cluster_refresh
	cluster_flushall
}

teardown() {
	kill_tracked
	stop_all_redis
}

# spread_sims PREFIX N: SIMS, N simulation names PREFIX-i whose keys fall
# on the masters in turn (as bench/topo.sh's bench_spread_sims does).
spread_sims() {
	local prefix=$1 n=$2 masters i=0 k=0 port
	read -r -a masters <<< "$CLUSTER_MASTERS"
	SIMS=
	while [ "$k" -lt "$n" ]; do
		port=$(cluster_node_for_key "{$prefix-$i}")
		if [ "$port" = "${masters[k % ${#masters[@]}]}" ]; then
			SIMS="$SIMS $prefix-$i"
			k=$((k + 1))
		fi
		i=$((i + 1))
		[ "$i" -lt 2000 ]
	done
	SIMS=${SIMS# }
}

# on_master PORT PATTERN: the keys matching PATTERN on the master at PORT.
on_master() {
	redis-cli -p "$1" --scan --pattern "$2"
}

# rows_are N: the record tables of $DB hold N rows in all.
rows_are() {
	local t n=0
	for t in $(record_tables "$DB" 2>/dev/null); do
		n=$(( n + $(rows "$DB" "$t") ))
	done
	[ "$n" = "$1" ]
}

# no_crossslot: no master has refused a command for CROSSSLOT, or a script
# for touching a key of another slot, since the file began.
no_crossslot() {
	local p stats
	for p in $CLUSTER_MASTERS $CLUSTER_REPLICAS; do
		stats=$(redis-cli -p "$p" info errorstats | tr -d '\r')
		echo "$p: $(tr '\n' ' ' <<< "$stats")"
		[[ $stats != *CROSSSLOT* ]] || return 1
		# Redis 7.0 counts a script's refusal under its first word.
		[ -z "$(redis-cli -p "$p" info commandstats | tr -d '\r' |
		    grep -E '^cmdstat_(eval|evalsha|fcall)[^:]*:.*failed_calls=[1-9]')" ] ||
			return 1
	done
}

@test "simulations on every master pushed at once; drain without -s takes every one, exactly" {
	local s p pids=() args=()
	spread_sims sp 6
	echo "# simulations: $SIMS" >&3
	for s in $SIMS; do
		gen "$s.jsonl" 4000 "$(( ${s#sp-} + 60 ))"
		simlog-push -u "$CLUSTER_URL" -s "$s" < "$s.jsonl" > "$s.out" 2> "$s.err" &
		pids+=($!)
		args+=("$s=$s.jsonl")
	done
	for p in "${pids[@]}"; do
		wait "$p"
	done
	for s in $SIMS; do
		assert_equal "$(jnum pushed "$(cat "$s.out")")" 4000
	done
	# Two simulations' keys on each master, none on another.
	for p in $CLUSTER_MASTERS; do
		assert_equal "$(on_master "$p" 'simlog:{*}:q' | wc -l)" 2
	done
	drain_all -u "$CLUSTER_URL"
	assert_equal "$(jnum sims "$DRAINED")" 6
	assert_equal "$(jnum rows "$DRAINED")" 24000
	assert_sims_exact "${args[@]}"
	for p in $CLUSTER_MASTERS; do
		assert_equal "$(on_master "$p" 'simlog:*')" ""
	done
	no_crossslot
}

@test "simlog-state: states on every master; list shows them all, load finds each" {
	local s p
	spread_sims st 6
	for s in $SIMS; do
		printf '{"id": "%s"}\n' "$s" > "$s.json"
		run --separate-stderr simlog-state -u "$CLUSTER_URL" save "$s" --tag t < "$s.json"
		assert_success
	done
	for p in $CLUSTER_MASTERS; do
		[ "$(on_master "$p" 'simlog:state:*' | wc -l)" -gt 0 ]
	done
	run --separate-stderr simlog-state -u "$CLUSTER_URL" list
	assert_success
	for s in $SIMS; do
		assert_output --partial "\"$s\""
	done
	assert_equal "${#lines[@]}" 6
	for s in $SIMS; do
		run --separate-stderr simlog-state -u "$CLUSTER_URL" load "$s"
		assert_output "$(cat "$s.json")"
	done
	run --separate-stderr simlog-state -u "$CLUSTER_URL" stats
	assert_success
	no_crossslot
}

@test "simlog-ping: each master; --check judges every master and finds no fault in cluster mode" {
	local p n=0
	run --separate-stderr simlog-ping -u "$CLUSTER_URL" --check
	echo "$output"
	assert_success
	assert_equal "$(jget "$output" '$.server.mode')" cluster
	assert_equal "$(jsql "$output" "json_array_length(j, '$.nodes')")" 3
	for p in $CLUSTER_MASTERS; do
		assert_equal "$(jsql "$output" "(SELECT count(*) FROM json_each(j, '$.nodes') WHERE json_extract(value, '$.addr') = '127.0.0.1:$p' AND json_extract(value, '$.server.role') = 'master' AND json_extract(value, '$.replicas') = 1 AND json_extract(value, '$.ok'))")" 1
	done
	# No "mode" finding behind redis-cluster://; the warnings are per node.
	assert_equal "$(jsql "$output" "(SELECT count(*) FROM json_each(j, '$.findings') WHERE json_extract(value, '$.setting') = 'mode')")" 0
	assert_equal "$(jget "$output" '$.problems')" 0
	assert_equal "$(jsql "$output" "(SELECT count(DISTINCT json_extract(value, '$.node')) FROM json_each(j, '$.findings'))")" 3
	# A plain URL naming one of the nodes: a problem, and what to use.
	run --separate-stderr simlog-ping -u "redis://127.0.0.1:${CLUSTER_MASTERS%% *}" --check
	assert_equal "$status" 78
	assert_equal "$(jget "$output" '$.findings[0].setting')" mode
	[[ $(jget "$output" '$.findings[0].why') == *"use a redis-cluster:// URL"* ]]
	[[ $stderr == *"use a redis-cluster:// URL"* ]]
}

@test "simlog-pool-stats: every master in nodes, the sums at the top, the backlog of simulations on every master" {
	local s p conns=0
	spread_sims ps 3
	for s in $SIMS; do
		gen "$s.jsonl" 500 70
		simlog-push -u "$CLUSTER_URL" -s "$s" < "$s.jsonl" > /dev/null
	done
	run --separate-stderr simlog-pool-stats -u "$CLUSTER_URL"
	echo "$output"
	assert_success
	assert_equal "$(jsql "$output" "json_array_length(j, '$.nodes')")" 3
	for p in $CLUSTER_MASTERS; do
		assert_equal "$(jsql "$output" "(SELECT json_extract(value, '$.role') FROM json_each(j, '$.nodes') WHERE json_extract(value, '$.addr') = '127.0.0.1:$p')")" master
	done
	# The top-level counts are the masters' added up; one connection of
	# this tool on each.
	assert_equal "$(jget "$output" '$.connected_clients')" \
	    "$(jsql "$output" "(SELECT sum(json_extract(value, '$.connected_clients')) FROM json_each(j, '$.nodes'))")"
	assert_equal "$(jget "$output" '$.maxclients')" \
	    "$(jsql "$output" "(SELECT sum(json_extract(value, '$.maxclients')) FROM json_each(j, '$.nodes'))")"
	assert_equal "$(jget "$output" '$.clients_by_name."simlog-pool-stats"')" 3
	# utilization: the busiest master's.
	assert_equal "$(jget "$output" '$.utilization')" \
	    "$(jsql "$output" "(SELECT max(json_extract(value, '$.utilization')) FROM json_each(j, '$.nodes'))")"
	for s in $SIMS; do
		assert_equal "$(jget "$output" "\$.backlog.sims.\"$s\".records")" 500
	done
	assert_equal "$(jget "$output" '$.backlog.records')" 1500
	run --separate-stderr simlog-pool-stats -u "$CLUSTER_URL" -f table
	assert_success
	assert_line --regexp '^NODE +ROLE +CLIENTS +MAXCLIENTS +UTIL +MEMORY$'
	for p in $CLUSTER_MASTERS; do
		assert_line --regexp "^127\.0\.0\.1:$p +master +[0-9]+ +[0-9]+ "
	done
	run --separate-stderr simlog-pool-stats -u "$CLUSTER_URL" -f openmetrics
	assert_success
	for p in $CLUSTER_MASTERS; do
		assert_line --regexp "^simlog_redis_node_connected_clients\{node=\"127\.0\.0\.1:$p\"\} [0-9]+$"
	done
	# --warn-at names the busiest master.
	run --separate-stderr simlog-pool-stats -u "$CLUSTER_URL" --warn-at 0.00001
	assert_equal "$status" 78
	[[ $stderr == *"(master 127.0.0.1:"* ]]
	no_crossslot
}

@test "a plain URL naming one node: a simulation another master holds is refused with 78, saying to use redis-cluster://" {
	local s other p
	p=${CLUSTER_MASTERS%% *}
	spread_sims pl 3
	for s in $SIMS; do
		[ "$(cluster_node_for_key "{$s}")" != "$p" ] && other=$s
	done
	gen in.jsonl 100 71
	simlog-push -u "$CLUSTER_URL" -s "$other" < in.jsonl > /dev/null
	run --separate-stderr simlog-drain -u "redis://127.0.0.1:$p" -s "$other" -d "$DB"
	echo "$stderr"
	assert_equal "$status" 78
	[[ $stderr == *"MOVED"*"use a redis-cluster:// URL"* ]]
	run --separate-stderr simlog-state -u "redis://127.0.0.1:$p" load "$other"
	echo "$stderr"
	[[ $stderr == *"use a redis-cluster:// URL"* ]]
}

@test "a slot moved while a push writes to it: ASK then MOVED followed, every record exactly once" {
	local sim=mv src dst slot sid did keys p ask
	slot=$(cluster_slot "{$sim}")
	src=$(cluster_node_for_key "{$sim}")
	for dst in $CLUSTER_MASTERS; do [ "$dst" != "$src" ] && break; done
	for p in $src $dst; do
		redis-cli -p "$p" config resetstat > /dev/null
	done
	# The new owner has never run simlog's scripts: a command redirected
	# there must bring its script along.
	redis-cli -p "$dst" script flush > /dev/null
	gen in.jsonl 40000 72
	push_bg p in.jsonl 20 0.2 -u "$CLUSTER_URL" -s "$sim" --timeout 1
	poll "records on $src" sh -c "[ \"\$(redis-cli -p $src xlen 'simlog:{$sim}:q')\" -gt 10 ]"
	# The steps of redis-cli --cluster reshard, for this one slot.
	sid=$(redis-cli -p "$src" cluster myid)
	did=$(redis-cli -p "$dst" cluster myid)
	assert_equal "$(redis-cli -p "$dst" cluster setslot "$slot" importing "$sid")" OK
	assert_equal "$(redis-cli -p "$src" cluster setslot "$slot" migrating "$did")" OK
	sleep 0.3
	keys=$(redis-cli -p "$src" cluster getkeysinslot "$slot" 100 | tr '\n' ' ')
	[ -n "$keys" ]
	# shellcheck disable=SC2086
	assert_equal "$(redis-cli -p "$src" migrate 127.0.0.1 "$dst" '' 0 10000 keys $keys)" OK
	sleep 0.3
	for p in $CLUSTER_MASTERS; do
		assert_equal "$(redis-cli -p "$p" cluster setslot "$slot" node "$did")" OK
	done
	push_wait p
	assert_equal "$(cluster_node_for_key "{$sim}")" "$dst"
	# The push met the move: redirections on the old owner, and records
	# on the new one written after it.
	ask=$(redis-cli -p "$src" info errorstats | tr -d '\r' | grep -cE '^errorstat_(ASK|MOVED):')
	echo "# $(redis-cli -p "$src" info errorstats | tr -d '\r' | grep errorstat_ | tr '\n' ' ')" >&3
	[ "$ask" -gt 0 ]
	replay -u "$CLUSTER_URL"
	drain_all -u "$CLUSTER_URL"
	# Redirections are followed, not failed over to the spool.
	assert_equal "$SPOOLED" 0
	assert_equal "$(redis-cli -p "$dst" info errorstats | tr -d '\r' | grep -c NOSCRIPT)" 0
	assert_exact in.jsonl
	no_crossslot
}

@test "--follow on a cluster URL: simulations on every master, one started after the drain, all drained exactly" {
	local s pid args=()
	spread_sims fw 3
	# The drain starts before any simulation exists.
	simlog-drain -f -q -u "$CLUSTER_URL" -d "$DB" --commit-interval 0.1 \
	    > follow.out 2> follow.err &
	pid=$!
	track "$pid"
	poll "the database" test -s "$DB"
	for s in $SIMS; do
		gen "$s.jsonl" 2000 "$(( ${s#fw-} + 80 ))"
		simlog-push -u "$CLUSTER_URL" -s "$s" < "$s.jsonl" > /dev/null
		args+=("$s=$s.jsonl")
	done
	poll "every row" rows_are "$(cat fw-*.jsonl | wc -l)"
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	cat follow.err
	assert_equal "$rc" 0
	assert_sims_exact "${args[@]}"
}

@test "two drains with --shard 0/2 and --shard 1/2 at once take every record exactly once" {
	simlog-drain --help | grep -q -- --shard ||
		skip "simlog-drain --shard not built yet"
	local s args=() r0=0 r1=0
	spread_sims sh 8
	for s in $SIMS; do
		gen "$s.jsonl" 1500 "$(( ${s#sh-} + 90 ))"
		simlog-push -u "$CLUSTER_URL" -s "$s" < "$s.jsonl" > /dev/null
		args+=("$s=$s.jsonl")
	done
	simlog-drain -u "$CLUSTER_URL" -d "$DB" --shard 0/2 > d0.out 2> d0.err &
	local p0=$!
	simlog-drain -u "$CLUSTER_URL" -d "$DB" --shard 1/2 > d1.out 2> d1.err &
	local p1=$!
	track "$p0" "$p1"
	wait "$p0" || r0=$?
	wait "$p1" || r1=$?
	cat d0.err d1.err
	assert_equal "$r0" 0
	assert_equal "$r1" 0
	assert_sims_exact "${args[@]}"
	# No simulation was taken by both.
	grep -o '"sim":"[^"]*"' d0.out | sort -u > sims0
	grep -o '"sim":"[^"]*"' d1.out | sort -u > sims1
	assert_equal "$(comm -12 sims0 sims1)" ""
	assert_equal "$(cat sims0 sims1 | wc -l)" 8
}

@test "kill -9 of the master that holds a simulation mid-push with --wait-replicas 1: after the failover, replay and drain, every record exactly once" {
	local victim other old
	spread_sims fo 2
	victim=${SIMS%% *} other=${SIMS##* }
	old=$(cluster_node_for_key "{$victim}")
	gen victim.jsonl 40000 101
	gen other.jsonl 40000 102
	push_bg pv victim.jsonl 40 0.15 -u "$CLUSTER_URL" -s "$victim" \
	    --wait-replicas 1 --timeout 1 --breaker-reset 0.5
	push_bg po other.jsonl 40 0.15 -u "$CLUSTER_URL" -s "$other" \
	    --wait-replicas 1 --timeout 1 --breaker-reset 0.5
	poll "records on $old" sh -c "[ \"\$(redis-cli -p $old xlen 'simlog:{$victim}:q')\" -gt 20 ]"
	cluster_kill_master_of "{$victim}"
	# Until a replica takes over, the killed master is named as the fault.
	run --separate-stderr simlog-ping -u "$CLUSTER_URL" --timeout 0.5
	echo "ping: $output $stderr"
	assert_equal "$status" 69
	[[ $stderr == *"127.0.0.1:$old"* ]]
	cluster_wait_failover
	echo "# failover of $old in $CLUSTER_FAILOVER_MS ms" >&3
	[ "$(cluster_node_for_key "{$victim}")" != "$old" ]
	# Back as a replica, so that WAIT 1 can be met again.
	cluster_restart_node "$old"
	push_wait pv
	echo "# $victim: pushed $PUSHED, spooled $SPOOLED" >&3
	push_wait po
	echo "# $other: pushed $PUSHED, spooled $SPOOLED" >&3
	replay -u "$CLUSTER_URL"
	drain_all -u "$CLUSTER_URL"
	echo "$DRAINED"
	assert_sims_exact "$victim=victim.jsonl" "$other=other.jsonl"
	no_crossslot
}

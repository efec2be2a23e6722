#!/usr/bin/env bats
# Redis Cluster faults beyond a failover (tests/cluster.bats), on a
# cluster of three masters without replicas,
# cluster-require-full-coverage no:
#  - the slots of simulations moved while push and simlog-drain --follow
#    work on them, key by key and by redis-cli --cluster reshard, back and
#    forth: both ride through, every record exactly once;
#  - one master down for good: records for the healthy masters keep
#    flowing.  A push to a healthy master delivers its own records
#    although the spool holds chunks for the dead one; its replay moves
#    past them and keeps them; a drain drains every simulation it can
#    reach and names the masters it could not (75).  When the master is
#    back, replay and drain land every record exactly once.  (Last: it
#    kills a master.)

bats_require_minimum_version 1.5.0

setup_file() {
	load topo
	export LC_ALL=C
	start_cluster down 3 0 -- --cluster-require-full-coverage no
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

# sim_on PORT PREFIX: a simulation name whose keys the master on PORT
# serves.
sim_on() {
	local i
	for ((i = 0; i < 2000; i++)); do
		[ "$(cluster_node_for_key "{$2-$i}")" = "$1" ] &&
			{ echo "$2-$i"; return 0; }
	done
	return 1
}

# move_slot SLOT SRC DST: the steps of a reshard for one slot, one key at
# a time with a pause between keys, so that a simulation's keys sit on
# both nodes for a while.
move_slot() {
	local slot=$1 src=$2 dst=$3 sid did k p
	sid=$(redis-cli -p "$src" cluster myid)
	did=$(redis-cli -p "$dst" cluster myid)
	[ "$(redis-cli -p "$dst" cluster setslot "$slot" importing "$sid")" = OK ]
	[ "$(redis-cli -p "$src" cluster setslot "$slot" migrating "$did")" = OK ]
	for k in $(redis-cli -p "$src" cluster getkeysinslot "$slot" 100); do
		sleep 0.3
		redis-cli -p "$src" migrate 127.0.0.1 "$dst" "$k" 0 10000 > /dev/null
	done
	sleep 0.3
	# Keys made on the old owner meanwhile go too.
	for k in $(redis-cli -p "$src" cluster getkeysinslot "$slot" 100); do
		redis-cli -p "$src" migrate 127.0.0.1 "$dst" "$k" 0 10000 > /dev/null
	done
	for p in $CLUSTER_MASTERS; do
		[ "$(redis-cli -p "$p" cluster setslot "$slot" node "$did")" = OK ]
	done
}

# redirections PORT...: ASK, MOVED and TRYAGAIN replies the nodes gave.
redirections() {
	local p n=0 c
	for p in "$@"; do
		c=$(redis-cli -p "$p" info errorstats | tr -d '\r' |
		    awk -F'[=:]' '/^errorstat_(ASK|MOVED|TRYAGAIN):/ { s += $3 } END { print s + 0 }')
		n=$((n + c))
	done
	echo "$n"
}

@test "slots moved key by key, and by redis-cli --cluster reshard back and forth, while push and --follow work on them: both ride through, every record exactly once" {
	local masters src dst s1 s2 slot1 slot2 fpid
	read -r -a masters <<< "$CLUSTER_MASTERS"
	src=${masters[0]} dst=${masters[1]}
	for p in $CLUSTER_MASTERS; do
		redis-cli -p "$p" config resetstat > /dev/null
	done
	s1=$(sim_on "$src" r) s2=$(sim_on "$src" q)
	slot1=$(cluster_slot "{$s1}") slot2=$(cluster_slot "{$s2}")
	gen r.jsonl 30000 74
	gen q.jsonl 30000 75
	simlog-drain -u "$CLUSTER_URL" --follow -d "$DB" --commit-interval 0.05 \
	    > follow.out 2> follow.err 3>&- &
	fpid=$!
	track "$fpid"
	push_bg p1 r.jsonl 30 0.2 -u "$CLUSTER_URL" -s "$s1" --timeout 1 --batch 64
	push_bg p2 q.jsonl 30 0.2 -u "$CLUSTER_URL" -s "$s2" --timeout 1 --batch 64
	PUSH_PID=
	poll "rows drained" sh -c "[ \"\$(sqlite3 '$DB' 'SELECT count(*) FROM action' 2>/dev/null || echo 0)\" -gt 100 ]"
	# Key by key, with the push and the drain's acknowledgements between.
	move_slot "$slot1" "$src" "$dst"
	move_slot "$slot2" "$src" "$dst"
	move_slot "$slot1" "$dst" "$src"
	# And whole reshards, as an operator runs them: every slot of the
	# source from its first up to the simulations' (redis-cli moves the
	# lowest first), there and back.
	local first n
	first=$(redis-cli -p "$src" cluster slots | awk -v p="$src" '
	    { l[NR] = $0 } END { for (i = 1; i <= NR; i++)
	    if (l[i + 3] == p && l[i + 2] == "127.0.0.1") { print l[i]; exit } }')
	n=$(( (slot1 > slot2 ? slot1 : slot2) + 1 - first ))
	redis-cli --cluster reshard "127.0.0.1:$src" \
	    --cluster-from "$(redis-cli -p "$src" cluster myid)" \
	    --cluster-to "$(redis-cli -p "$dst" cluster myid)" \
	    --cluster-slots "$n" --cluster-yes > reshard1.log 2>&1 ||
		{ tail reshard1.log; false; }
	assert_equal "$(cluster_node_for_key "{$s1}")" "$dst"
	assert_equal "$(cluster_node_for_key "{$s2}")" "$dst"
	redis-cli --cluster reshard "127.0.0.1:$dst" \
	    --cluster-from "$(redis-cli -p "$dst" cluster myid)" \
	    --cluster-to "$(redis-cli -p "$src" cluster myid)" \
	    --cluster-slots "$n" --cluster-yes > reshard2.log 2>&1 ||
		{ tail reshard2.log; false; }
	assert_equal "$(cluster_node_for_key "{$s1}")" "$src"
	push_wait p1
	push_wait p2
	replay -u "$CLUSTER_URL"
	# --follow drains the rest; then it is stopped.
	poll "everything drained" sh -c "[ \"\$(redis-cli -c -p $src xlen 'simlog:{$s1}:q')\" = 0 ] && [ \"\$(redis-cli -c -p $src xlen 'simlog:{$s2}:q')\" = 0 ]"
	sleep 0.5
	kill -TERM "$fpid"
	local rc=0
	wait "$fpid" || rc=$?
	cat follow.err
	echo "# redirections met: $(redirections $CLUSTER_MASTERS)" >&3
	assert_equal "$rc" 0
	[ "$(redirections $CLUSTER_MASTERS)" -gt 0 ]
	assert_sims_exact "$s1=r.jsonl" "$s2=q.jsonl"
}

@test "one master down for good: a push to a healthy master delivers its own records past the dead master's spooled chunks; a drain drains what it reaches and names the rest (75), --follow goes on; back up, every record exactly once" {
	local masters dead live a b
	read -r -a masters <<< "$CLUSTER_MASTERS"
	dead=${masters[0]} live=${masters[1]}
	a=$(sim_on "$dead" a) b=$(sim_on "$live" b) c=$(sim_on "$live" c)
	gen a.jsonl 20000 71
	gen b.jsonl 20000 72
	gen c.jsonl 5000 73
	# Some of b drained before the master dies: the drain keeps those.
	simlog-push -u "$CLUSTER_URL" -s "$c" < c.jsonl > /dev/null
	_topo_kill "$(_topo_node_of "$CLUSTER_DIR" "$dead")"

	# The dead master's records are spooled.
	run --separate-stderr simlog-push -u "$CLUSTER_URL" -s "$a" < a.jsonl
	echo "$stderr"
	assert_equal "$status" 75
	assert_equal "$(jnum spooled "$output")" 20000

	# A push to a healthy master: every record of its own delivered, the
	# dead master's chunks moved past and kept.
	run --separate-stderr simlog-push -u "$CLUSTER_URL" -s "$b" < b.jsonl
	echo "$output"
	echo "$stderr"
	assert_equal "$status" 0
	assert_equal "$(jnum pushed "$output")" 20000
	assert_equal "$(jnum spooled "$output")" 0
	assert_equal "$(jnum deferred "$output")" 20000
	[[ $stderr == *"(node 127.0.0.1:$dead): connection refused; the records of $a (and of any simulation on that master) stay in the spool, the rest is replayed"* ]]
	[ "$(segments)" -ge 1 ]

	# The drain drains b and c, says the dead master's simulations were
	# not listed, and ends with 75.
	run --separate-stderr simlog-drain -u "$CLUSTER_URL" -q -d "$DB"
	echo "$output"
	echo "$stderr"
	assert_equal "$status" 75
	[[ $stderr == *"1 of 3 masters did not answer, their keys are not listed: "*"127.0.0.1:$dead"*"; the simulations of the others are drained"* ]]
	assert_sims_exact "$b=b.jsonl" "$c=c.jsonl"

	# A --follow drain started now drains what comes for the healthy
	# masters while the dead one stays down, and it comes back.
	gen d.jsonl 3000 76
	simlog-drain -u "$CLUSTER_URL" --follow -q -d "$DB" --commit-interval 0.1 \
	    > follow.out 2> follow.err 3>&- &
	local fpid=$!
	track "$fpid"
	simlog-push -u "$CLUSTER_URL" -s "$c" < d.jsonl > /dev/null
	poll "d to land while a master is down" sh -c \
	    "[ \"\$(sqlite3 '$DB' \"SELECT count(*) FROM action WHERE simulation_id = '$c'\")\" -gt \"\$(grep -c '\"type\":\"action\"' c.jsonl)\" ]"
	kill -0 "$fpid"

	# Back: the spool and the drain finish the job.
	cluster_restart_node "$dead"
	replay -u "$CLUSTER_URL"
	assert_equal "$REPLAYED" 20000
	poll "the --follow drain to drain the dead master's simulation" sh -c \
	    "[ \"\$(sqlite3 '$DB' \"SELECT count(*) FROM action WHERE simulation_id = '$a'\")\" = \"\$(grep -c '\"type\":\"action\"' a.jsonl)\" ]"
	kill -TERM "$fpid"
	local rc=0
	wait "$fpid" || rc=$?
	cat follow.err
	assert_equal "$rc" 0
	drain_all -u "$CLUSTER_URL"
	cat c.jsonl d.jsonl > cd.jsonl
	assert_sims_exact "$a=a.jsonl" "$b=b.jsonl" "$c=cd.jsonl"
}

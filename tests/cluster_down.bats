#!/usr/bin/env bats
# A Redis Cluster with one master down for good (no replica to take over,
# cluster-require-full-coverage no, so the other masters go on): records
# for the healthy masters keep flowing.  A push to a healthy master
# delivers its own records although the spool holds chunks for the dead
# one; its replay moves past them and keeps them; a drain drains every
# simulation it can reach and names the masters it could not (75).  When
# the master is back, replay and drain land every record exactly once.

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

@test "one master down for good: a push to a healthy master delivers its own records past the dead master's spooled chunks; the drain drains what it reaches and names the rest (75); back up, every record exactly once" {
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

	# Back: the spool and the drain finish the job.
	cluster_restart_node "$dead"
	replay -u "$CLUSTER_URL"
	assert_equal "$REPLAYED" 20000
	drain_all -u "$CLUSTER_URL"
	assert_sims_exact "$a=a.jsonl" "$b=b.jsonl" "$c=c.jsonl"
}

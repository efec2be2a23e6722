#!/usr/bin/env bats
# simlog-push --replay-from: records spooled for one URL (one endpoint's
# spool) replayed into the URL given, by the endpoint's name as the
# messages spell it, by a URL naming the same server, or all of them; a
# plain --replay names the spools it leaves; the stranded case of the
# README: a plain redis:// URL pointed at a Cluster node, replayed with the
# cluster's URL.  Every record lands once.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	simlog_env
	export SIMLOG_RETRIES=0
	cd "$BATS_TEST_TMPDIR"
	DB=$BATS_TEST_TMPDIR/sim.db
}

teardown() {
	kill_tracked
	stop_all_redis
}

# spool_for NAME SIM FILE: FILE's records pushed to the server NAME while it
# is down, so that they wait in its spool; SPOOLMSG is what push said.
spool_for() {
	start_redis "$1"
	local url=$REDIS_URL
	stop_redis "$1"
	run --separate-stderr simlog-push -q -u "$url" -s "$2" < "$3"
	assert_failure 75
	[ "$(jget "$output" '$.spooled')" -eq "$(wc -l < "$3")" ]
	SPOOLMSG=$stderr
	DEAD_URL=$url
}

@test "replay: records spooled for one server replay into another, by the name the message gives" {
	gen old.jsonl 400 11
	spool_for old run1 old.jsonl
	# The message names the spool, its endpoint and the line that sends
	# the records elsewhere.
	ep=$(sed -n "s/.*'simlog-push --replay-from \(.*\) -u URL'.*/\1/p" <<< "$SPOOLMSG")
	[ "$ep" = "$DEAD_URL?db=0" ]
	[[ $SPOOLMSG == *"400 records wait in the spool $SIMLOG_SPOOL_DIR/"*"; the next simlog-push to $ep replays them"* ]]
	start_redis new
	run --separate-stderr simlog-push --replay-from "$ep" -u "$REDIS_URL"
	assert_success
	[ "$(jget "$output" '$.replayed')" -eq 400 ]
	[ "$(jget "$output" '$.replayed_from')" = "$ep" ]
	[[ $stderr == *"replaying the spool of $ep ("*") into $REDIS_URL?db=0"* ]]
	run simlog-drain -q -u "$REDIS_URL" -d "$DB"
	assert_success
	DB=$DB assert_exact old.jsonl
	[ "$(segments)" -eq 0 ]
	# Nothing is left to send: a second replay replays nothing.
	run --separate-stderr simlog-push --replay-from "$ep" -u "$REDIS_URL"
	assert_success
	[ "$(jget "$output" '$.replayed')" -eq 0 ]
}

@test "replay: --replay-from takes a URL naming the same server (password, no database) or the directory's name" {
	gen a.jsonl 300 21
	start_redis_tcp dead
	port=$REDIS_PORT
	stop_redis dead
	run --separate-stderr simlog-push -q -u "redis://127.0.0.1:$port/0" -s a < a.jsonl
	assert_failure 75
	start_redis new
	# The spool's name for it is redis://127.0.0.1:PORT/0.
	run --separate-stderr simlog-push --replay-from "redis://:secret@127.0.0.1:$port" -u "$REDIS_URL"
	assert_success
	[ "$(jget "$output" '$.replayed')" -eq 300 ]
	[ "$(jget "$output" '$.replayed_from')" = "redis://127.0.0.1:$port/0" ]
	run simlog-drain -q -u "$REDIS_URL" -d "$DB"
	assert_success
	DB=$DB assert_exact a.jsonl

	# By the directory's name, as --spool-status and ls show it.
	gen b.jsonl 200 22
	run --separate-stderr simlog-push -q -u "redis://127.0.0.1:$port/0" -s b < b.jsonl
	assert_failure 75
	dir=$(ls "$SIMLOG_SPOOL_DIR")
	[ "$(wc -w <<< "$dir")" -eq 1 ]
	run --separate-stderr simlog-push --replay-from "$dir" -u "$REDIS_URL"
	assert_success
	[ "$(jget "$output" '$.replayed')" -eq 200 ]
	run simlog-drain -q -u "$REDIS_URL" -d "$DB"
	DB=$DB assert_exact a.jsonl b.jsonl
}

@test "replay: a plain --replay names the other URLs' spools; --replay-from all sends every one, a summary each" {
	gen a.jsonl 300 31
	gen b.jsonl 200 32
	spool_for one s1 a.jsonl
	ep1="$DEAD_URL?db=0"
	spool_for two s2 b.jsonl
	ep2="$DEAD_URL?db=0"
	start_redis here
	run --separate-stderr simlog-push --replay -u "$REDIS_URL"
	assert_success
	[ "$(jget "$output" '$.replayed')" -eq 0 ]
	[[ $stderr == *"the spool of $ep1 also holds 1 segment(s), for another URL: 'simlog-push --replay-from $ep1' sends them to this one"* ]]
	[[ $stderr == *"the spool of $ep2 also holds 1 segment(s)"* ]]
	[ "$(segments)" -eq 2 ]

	run --separate-stderr simlog-push --replay-from all -u "$REDIS_URL"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	summaries=("${lines[@]}")
	[ "$(jget "${summaries[0]}" '$.replayed_from')" = "$ep1" ] ||
		[ "$(jget "${summaries[1]}" '$.replayed_from')" = "$ep1" ]
	[ $(( $(jget "${summaries[0]}" '$.replayed') + $(jget "${summaries[1]}" '$.replayed') )) -eq 500 ]
	run simlog-drain -q -u "$REDIS_URL" -d "$DB"
	assert_success
	DB=$DB assert_exact a.jsonl b.jsonl
	[ "$(segments)" -eq 0 ]
	# Now the plain replay has nothing to say.
	run --separate-stderr simlog-push --replay -u "$REDIS_URL"
	assert_success
	[ -z "$stderr" ]
}

@test "replay: --replay-from a name no spool has is 66, listing the spools there are" {
	gen a.jsonl 50 41
	spool_for one s1 a.jsonl
	start_redis here
	run --separate-stderr simlog-push --replay-from redis://10.9.9.9:7000/0 -u "$REDIS_URL"
	assert_failure 66
	[[ $stderr == *"--replay-from redis://10.9.9.9:7000/0: no spool of that name in $SIMLOG_SPOOL_DIR; there are:"* ]]
	[[ $stderr == *"  $DEAD_URL?db=0 (1 segments waiting)"* ]]
	[ "$(segments)" -eq 1 ]
	run --separate-stderr simlog-push --replay-from "" -u "$REDIS_URL"
	assert_failure 64
	[[ $stderr == *"invalid --replay-from: empty"* ]]
}

@test "replay: records a plain redis:// URL spooled at a Cluster node replay with the cluster's URL" {
	load topo
	start_cluster rc 3
	local sim p other
	# A simulation that a master other than the one named holds.
	p=${CLUSTER_MASTERS%% *}
	for sim in c1 c2 c3 c4 c5 c6 c7 c8; do
		[ "$(cluster_node_for_key "{$sim}")" != "$p" ] && break
	done
	gen in.jsonl 500 51
	run --separate-stderr simlog-push -q -u "redis://127.0.0.1:$p" -s "$sim" < in.jsonl
	echo "$stderr"
	assert_failure 78
	[[ $stderr == *"use a redis-cluster:// URL"* ]]
	[ "$(jget "$output" '$.spooled')" -eq 500 ]
	[[ $stderr == *"'simlog-push --replay-from redis://127.0.0.1:$p/0 -u URL'"* ]]
	# The cluster's URL alone does not see that spool, and says so.
	run --separate-stderr simlog-push --replay -u "$CLUSTER_URL"
	assert_success
	[[ $stderr == *"the spool of redis://127.0.0.1:$p/0 also holds 1 segment(s)"* ]]
	run --separate-stderr simlog-push --replay-from "redis://127.0.0.1:$p/0" -u "$CLUSTER_URL"
	assert_success
	[ "$(jget "$output" '$.replayed')" -eq 500 ]
	run simlog-drain -q -u "$CLUSTER_URL" -d "$DB"
	assert_success
	DB=$DB assert_exact in.jsonl
	[ "$(segments)" -eq 0 ]
}

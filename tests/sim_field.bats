#!/usr/bin/env bats
# simlog-push --sim-field: each record's simulation taken from a field of
# its own (AgentFarm's records carry simulation_id), several simulations in
# one push, -s as the default for records without it, refusals with their
# line numbers; and the drain agreeing with the record's own field.

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	export SIMLOG_SCHEMA_PATH="$SIMLOG_TOP/schemas"
	unset SIMLOG_SCHEMA
	DB=$BATS_TEST_TMPDIR/sim.db
}

teardown() {
	kill_tracked
	stop_all_redis
}

@test "sim-field: one push carries several simulations, each record to its own, once" {
	# Interleaved and in runs, 3 simulations, 3000 records.
	for i in $(seq 1 3000); do
		s=$(( (i / 7) % 3 ))
		printf '{"type":"x","simulation_id":"run%d","n":%d}\n' "$s" "$i"
	done > in.jsonl
	run -0 simlog-push --sim-field simulation_id < in.jsonl
	assert_equal "$(jnum pushed "$output")" 3000
	run -0 simlog-drain -q -d "$DB"
	# Every record once, under the simulation it names.
	sed 's/.*"simulation_id":"\([^"]*\)".*/\1/' in.jsonl | paste - in.jsonl | sort > want
	landed_sim "$DB" > got
	run -0 cmp want got
	assert_equal "$(sqlite3 "$DB" "SELECT count(DISTINCT simulation_id) FROM x")" 3
	run -0 simlog_keys
	assert_equal "$output" ""
}

@test "sim-field: a record without the field goes to -s; without -s it is refused with its line number" {
	printf '%s\n' '{"type":"x","simulation_id":"a","n":1}' '{"type":"x","n":2}' \
	    '{"type":"x","simulation_id":null,"n":3}' > in.jsonl
	run -65 --separate-stderr simlog-push --sim-field simulation_id < in.jsonl
	assert_equal "$stderr" "$(printf '%s\n' \
	    'simlog-push: line 2: no "simulation_id" field (the record'"'"'s simulation), and no default simulation (-s)' \
	    'simlog-push: line 3: "simulation_id" is not a string')"
	assert_equal "$(jnum pushed "$output")" 1
	assert_equal "$(jnum rejected "$output")" 2
	# With -s, the same lines all land: the ones without the field in b.
	printf '%s\n' '{"type":"x","n":2}' '{"type":"x","simulation_id":"a","n":4}' |
	    simlog-push -q --sim-field simulation_id -s b
	run -0 simlog-drain -q -d "$DB"
	assert_equal "$(sqlite3 "$DB" "SELECT simulation_id, json_extract(data, '\$.n') FROM x ORDER BY 2")" \
	    "$(printf '%s\n' 'a|1' 'b|2' 'a|4')"
}

@test "sim-field: a field that is not a simulation name, or appears twice, is refused" {
	printf '%s\n' '{"type":"x","simulation_id":"no spaces"}' \
	    '{"type":"x","simulation_id":"a","simulation_id":"b"}' \
	    '{"type":"x","simulation_id":42}' \
	    '{"type":"x","simulation_id":"ok\u002d1"}' > in.jsonl
	run -65 --separate-stderr simlog-push --sim-field simulation_id -s d < in.jsonl
	assert_equal "$stderr" "$(printf '%s\n' \
	    'simlog-push: line 1: "simulation_id": not a simulation name (1-64 of [A-Za-z0-9_.-])' \
	    'simlog-push: line 2: "simulation_id" appears twice' \
	    'simlog-push: line 3: "simulation_id" is not a string')"
	run -0 simlog-drain -q -d "$DB"
	assert_equal "$(sqlite3 "$DB" "SELECT simulation_id FROM x")" "ok-1"
	run -64 --separate-stderr simlog-push --sim-field '' < /dev/null
	assert_equal "$stderr" "simlog-push: invalid --sim-field: '': 1 to 64 bytes"
}

@test "sim-field: AgentFarm's records pushed without -s land under their own simulation_id, none relabelled" {
	printf '%s\n' \
	    '{"type":"simulation","simulation_id":"simA","parameters":{}}' \
	    '{"type":"simulation","simulation_id":"simB","parameters":{}}' \
	    '{"type":"agent","simulation_id":"simA","agent_id":"a1","birth_time":0}' \
	    '{"type":"agent","simulation_id":"simB","agent_id":"b1","birth_time":0}' \
	    '{"type":"step","simulation_id":"simA","step_number":0,"total_agents":1}' \
	    '{"type":"step","simulation_id":"simB","step_number":0,"total_agents":1}' |
	    simlog-push -q --sim-field simulation_id
	run -0 simlog-drain -q -d "$DB" --schema agentfarm
	assert_equal "$(sqlite3 "$DB" "SELECT simulation_id || ':' || agent_id FROM agents ORDER BY 1")" \
	    "$(printf '%s\n' simA:a1 simB:b1)"
	assert_equal "$(sqlite3 "$DB" "SELECT simulation_id FROM simulation_steps ORDER BY 1")" \
	    "$(printf '%s\n' simA simB)"
	assert_equal "$(sqlite3 "$DB" "SELECT count(*) FROM simlog_rejects")" 0
	# Pushed under -s, a record naming another simulation is a dead
	# letter that says both names.
	printf '%s\n' '{"type":"step","simulation_id":"simB","step_number":1}' |
	    simlog-push -q -s simA
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm
	assert_equal "$(sqlite3 "$DB" "SELECT simulation_id || ' ' || error FROM simlog_rejects")" \
	    "simA column simulation_id: the record names simulation 'simB', but it was pushed under 'simA'"
	assert_equal "$(sqlite3 "$DB" "SELECT count(*) FROM simulation_steps")" 2
}

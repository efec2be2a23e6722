#!/usr/bin/env bats
# A process's own trouble is its own: a tool that reaches its limit of
# open files (ulimit -n) says so and exits 71, and the circuit breaker
# that every simlog process shares stays closed, so healthy processes go
# on delivering and draining.  Each test lowers the limit for real until
# the tool can no longer open its socket to a running Redis.

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	[ -z "${VALGRIND:-}" ] || skip "valgrind needs descriptors of its own"
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	DB=$BATS_TEST_TMPDIR/sim.db
}

teardown() {
	stop_all_redis
}

# undo: what the runs of limit_for that had enough descriptors did.
undo() {
	rcli FLUSHALL > /dev/null
	rm -rf "$SIMLOG_SPOOL_DIR"
}

# breaker_closed: the breaker every process shares says closed, with no
# failure counted.
breaker_closed() {
	run -0 simlog-pool-stats
	echo "$output"
	[ "$(jget "$output" '$.breaker.state')" = closed ]
	[ "$(jget "$output" '$.breaker.failures')" = 0 ]
}

@test "a push out of open files: 71, its message names the limit, its records reach the spool; the shared breaker stays closed, so the next push delivers and a drain is exact" {
	gen a.jsonl 300 41
	gen b.jsonl 300 42
	limit_for "simlog-push -s lim < a.jsonl"
	undo
	# Three of them: as many failures as open the breaker for Redis's.
	for i in 1 2 3; do
		rm -rf "$SIMLOG_SPOOL_DIR"
		starved "$LIMIT" "simlog-push -s lim < a.jsonl"
		[ "$status" -eq 71 ]
	done
	echo "$stderr"
	[[ $stderr == *"too many open files (this process's limit of open files: see ulimit -n), not a failure of Redis; spooling records to "* ]]
	[ "$(jnum spooled "$output")" = 300 ]
	[ "$(jnum failed "$output")" = 0 ]
	[[ $output == *'"breaker":"closed","breaker_changes":[]'* ]]
	breaker_closed
	# A push with descriptors to spare goes straight to Redis, and
	# replays the starved one's spool.
	run --separate-stderr simlog-push -s lim < b.jsonl
	[ "$status" -eq 0 ]
	[ "$(jnum pushed "$output")" = 300 ]
	[ "$(jnum replayed "$output")" = 300 ]
	run -0 simlog-drain -q -d "$DB"
	assert_exact a.jsonl b.jsonl
}

@test "a drain out of open files (for its socket or its SQLite file): 71 naming the limit, nothing drained or deleted; the breaker stays closed; the next drain is exact" {
	gen a.jsonl 500 43
	limit_for "simlog-drain -q -d '$DB'"
	undo
	rm -f "$DB"
	simlog-push -s lim < a.jsonl > /dev/null
	for i in 1 2 3; do
		starved "$LIMIT" "simlog-drain -q -d '$DB'"
		[ "$status" -eq 71 ]
	done
	# Its socket, or its database file: either way its own limit.
	[[ $stderr == *"this process's limit of open files: see ulimit -n"* ]]
	breaker_closed
	[ "$(rcli XLEN 'simlog:{lim}:q')" -gt 0 ]
	run -0 simlog-drain -q -d "$DB"
	assert_exact a.jsonl
}

@test "ping, pool-stats and state out of open files: 71 each, naming the limit; the breaker stays closed" {
	for cmd in "simlog-ping" "simlog-pool-stats" "simlog-state load st"; do
		limit_for "$cmd"
		undo
		echo '{"x":1}' | simlog-state save st > /dev/null
		starved "$LIMIT" "$cmd"
		echo "$cmd: $status $stderr"
		[ "$status" -eq 71 ]
		[[ $stderr == *"this process's limit of open files: see ulimit -n"* ]]
	done
	breaker_closed
	run -0 simlog-ping
}

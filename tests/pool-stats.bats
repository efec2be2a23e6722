#!/usr/bin/env bats
# simlog-pool-stats: the sample line, connections by name held by helper
# processes, rejected connections past maxclients, the backlog after a push
# (and in the spool), --watch/--count/SIGINT, --warn-at, --format table,
# and how it fails.  No test measures time: the machine is shared.

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	export LC_ALL=C
	cd "$BATS_TEST_TMPDIR"
	unset SIMLOG_REDIS_URL SIMLOG_SIM SIMLOG_DB
	export SIMLOG_SPOOL_DIR=$BATS_TEST_TMPDIR/spool
	export SIMLOG_BREAKER_DIR=$BATS_TEST_TMPDIR/breaker
}

teardown() {
	release_all
	stop_all_redis
}

# hold_cmd N CMD...: run CMD with its standard input a FIFO that a sleeping
# process holds open, so CMD (and its connection) lives until release N.
# The holder opens the FIFO first (read-write, which does not block), so
# the FIFO never runs out of writers between the commands sent to CMD; and
# the test shell holds no end of it, so processes it starts later cannot
# keep it open by inheritance.
hold_cmd() {
	local n=$1 fifo="$BATS_TEST_TMPDIR/hold$1.fifo" cmd keeper; shift
	mkfifo "$fifo"
	sleep 100000 1<> "$fifo" 3>&- &
	keeper=$!
	poll "the FIFO's holder" holds_open "$keeper" "$fifo"
	"$@" < "$fifo" > "$BATS_TEST_TMPDIR/hold$n.out" 2>&1 3>&- &
	cmd=$!
	echo "$n $cmd $keeper" >> "$BATS_TEST_TMPDIR/held"
}

# hold N [CLIENT-NAME]: a redis-cli connection held open, named by CLIENT
# SETNAME when CLIENT-NAME is given; waits until Redis has answered it.
hold() {
	local n=$1 name=${2-} out="$BATS_TEST_TMPDIR/hold$1.out"
	hold_cmd "$n" redis-cli -s "$REDIS_SOCK"
	if [ -n "$name" ]; then
		echo "CLIENT SETNAME $name" > "$BATS_TEST_TMPDIR/hold$n.fifo"
		poll "hold $n" grep -q -e '^OK' -e ERR "$out"
	else
		echo PING > "$BATS_TEST_TMPDIR/hold$n.fifo"
		poll "hold $n" grep -q -e PONG -e ERR "$out"
	fi
}

# named NAME COUNT: whether CLIENT LIST shows COUNT connections named NAME.
named() {
	[ "$(redis-cli -s "$REDIS_SOCK" CLIENT LIST | grep -c " name=$1 ")" = "$2" ]
}

# release N: end held command N (its input ends) and wait for it.
release() {
	local n cmd keeper
	while read -r n cmd keeper; do
		[ "$n" = "$1" ] || continue
		kill "$keeper" 2>/dev/null || true
		wait "$cmd" 2>/dev/null || true
		wait "$keeper" 2>/dev/null || true
	done < "$BATS_TEST_TMPDIR/held"
	sed -i "/^$1 /d" "$BATS_TEST_TMPDIR/held"
}

release_all() {
	local n cmd keeper
	[ -f "$BATS_TEST_TMPDIR/held" ] || return 0
	while read -r n cmd keeper; do
		kill "$keeper" "$cmd" 2>/dev/null || true
	done < "$BATS_TEST_TMPDIR/held"
	rm -f "$BATS_TEST_TMPDIR/held"
}

# refused TEXT: whether TEXT tells of a connection Redis turned away for
# lack of room: in words when its refusal was read, else as the closed
# connection (the refusal is written and the connection closed at once).
refused() {
	[[ $1 == *"max number of clients reached"* || $1 == *"broken pipe" ||
	    $1 == *"connection reset by peer" ||
	    $1 == *"Redis closed the connection" ]]
}

# lines_in FILE N: whether FILE holds at least N complete lines.
lines_in() {
	[ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]
}

# type_tally FILE: "type records bytes" per record type of a JSON-lines
# file, sorted, as the backlog should count them.
type_tally() {
	awk '{ match($0, /"type":"[^"]*"/); t = substr($0, RSTART + 8, RLENGTH - 9)
	       n[t]++; b[t] += length($0) }
	     END { for (t in n) print t, n[t], b[t] }' "$1" | sort
}

@test "one sample on an idle server: every field, one line, exit 0" {
	start_redis main
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jsql "$output" "json_valid(j)")" 1
	assert_equal "$(jget "$output" '$.ok')" 1
	assert_equal "$(jget "$output" '$.url')" "$REDIS_URL"
	assert_equal "$(jsql "$output" "json_type(j, '$.time')")" real
	assert_equal "$(jget "$output" '$.connected_clients')" 1
	assert_equal "$(jget "$output" '$.maxclients')" 10000
	assert_equal "$(jget "$output" '$.utilization')" 0.0001
	assert_equal "$(jget "$output" '$.rejected_connections')" 0
	assert_equal "$(jsql "$output" "json_type(j, '$.rejected_connections_delta')")" null
	assert_equal "$(jget "$output" '$.blocked_clients')" 0
	assert_equal "$(jget "$output" '$.clients_by_name')" '{"simlog-pool-stats":1}'
	assert_equal "$(jsql "$output" "json_type(j, '$.ops_per_sec')")" integer
	assert_equal "$(jsql "$output" "json_type(j, '$.ops_per_sec_avg')")" null
	assert_equal "$(jsql "$output" "json_type(j, '$.total_commands_processed')")" integer
	assert_equal "$(jsql "$output" "json_extract(j, '$.used_memory') > 0")" 1
	assert_equal "$(jget "$output" '$.maxmemory')" 0
	assert_equal "$(jsql "$output" "json_remove(j, '$.backlog.spool.dir') -> '$.backlog'")" \
	    '{"records":0,"bytes":0,"sims":{},"spool":{"segments":0,"bytes":0}}'
}

@test "clients_by_name counts the connections helper processes hold, by name" {
	start_redis main
	hold 1 worker
	hold 2
	hold 3 worker
	hold_cmd 4 simlog-push -u "$REDIS_URL" -s held1
	hold_cmd 5 simlog-push -u "$REDIS_URL" -s held2
	poll "two simlog-push connections" named simlog-push 2
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_success
	assert_equal "$(jget "$output" '$.clients_by_name')" \
	    '{"":1,"simlog-pool-stats":1,"simlog-push":2,"worker":2}'
	assert_equal "$(jget "$output" '$.connected_clients')" 6
	assert_equal "$(jget "$output" '$.utilization')" 0.0006
	# Each simlog-push holds exactly one connection.
	release 4
	poll "one simlog-push connection" named simlog-push 1
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_equal "$(jget "$output" '$.clients_by_name')" \
	    '{"":1,"simlog-pool-stats":1,"simlog-push":1,"worker":2}'
}

@test "past maxclients: rejections counted, with the change between samples" {
	start_redis main --maxclients 3
	hold 1
	hold 2 worker
	simlog-pool-stats -u "$REDIS_URL" --watch 0.1 > stats.out 2> stats.err 3>&- &
	local pid=$!
	poll "a first sample" lines_in stats.out 1
	# The server is full now: these three are turned away (redis-cli may
	# read the refusal, or die of SIGPIPE sending PING after it).
	redis-cli -s "$REDIS_SOCK" PING > /dev/null 2>&1 || true
	redis-cli -s "$REDIS_SOCK" PING > /dev/null 2>&1 || true
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_equal "$status" 69
	assert_equal "$(jget "$output" '$.ok')" 0
	refused "$(jget "$output" '$.error')"
	refused "$stderr"
	poll "the third rejection" grep -q '"rejected_connections":3,' stats.out
	kill -INT "$pid"
	local st=0
	wait "$pid" || st=$?
	assert_equal "$st" 0
	assert_equal "$(cat stats.err)" ""

	local first last deltas
	first=$(head -n 1 stats.out)
	last=$(tail -n 1 stats.out)
	assert_equal "$(jget "$first" '$.rejected_connections')" 0
	assert_equal "$(jsql "$first" "json_type(j, '$.rejected_connections_delta')")" null
	deltas=$(tail -n +2 stats.out | while IFS= read -r l; do
		jget "$l" '$.rejected_connections_delta'; done |
	    awk '{ s += $1 } END { print s }')
	assert_equal "$deltas" 3
	assert_equal "$(jget "$last" '$.rejected_connections')" 3
	assert_equal "$(jget "$last" '$.connected_clients')" 3
	assert_equal "$(jget "$last" '$.maxclients')" 3
	assert_equal "$(jget "$last" '$.utilization')" 1.0
	assert_equal "$(jget "$last" '$.clients_by_name')" \
	    '{"":1,"simlog-pool-stats":1,"worker":1}'
}

@test "--warn-at: exit 78 and a message when utilization reaches it, 0 below" {
	start_redis main --maxclients 4
	hold 1
	# Two of four connections: this one and the held one.
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --warn-at 0.6
	assert_success
	assert_equal "$stderr" ""
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --warn-at 0.5
	assert_equal "$status" 78
	assert_equal "$(jget "$output" '$.utilization')" 0.5
	[[ $stderr == "simlog-pool-stats: $REDIS_URL: 2 of 4 connections in use (50.0 %), at or above --warn-at 0.5" ]]
	# Every sample is still written; the status sums them up.
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --warn-at 0.5 \
	    --watch 0.05 --count 2
	assert_equal "$status" 78
	assert_equal "${#lines[@]}" 2
}

@test "backlog after a push: records and bytes per simulation and type" {
	start_redis main
	"$SIMGEN" -n 1000 -s 1 > run1.jsonl
	"$SIMGEN" -n 300 -s 2 > run2.jsonl
	simlog-push -u "$REDIS_URL" -s run1 < run1.jsonl > /dev/null
	simlog-push -u "$REDIS_URL" -s run2 < run2.jsonl > /dev/null
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_success
	assert_equal "$(jget "$output" '$.backlog.records')" 1300
	assert_equal "$(jget "$output" '$.backlog.sims.run1.records')" 1000
	assert_equal "$(jget "$output" '$.backlog.sims.run2.records')" 300
	assert_equal "$(jget "$output" '$.backlog.bytes')" \
	    "$(cat run1.jsonl run2.jsonl | awk '{ s += length($0) } END { print s }')"
	local sim
	for sim in run1 run2; do
		assert_equal "$(jsql "$output" "(SELECT group_concat(key || ' ' ||
		    json_extract(value, '$.records') || ' ' ||
		    json_extract(value, '$.bytes'), char(10))
		    FROM json_each(j, '$.backlog.sims.$sim.types'))")" \
		    "$(type_tally "$sim.jsonl")"
		assert_equal "$(jget "$output" "\$.backlog.sims.$sim.bytes")" \
		    "$(awk '{ s += length($0) } END { print s }' "$sim.jsonl")"
	done

	# Drained, the backlog is empty again.
	simlog-drain -q -u "$REDIS_URL" -s run1 -d sim.db > /dev/null
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_equal "$(jget "$output" '$.backlog.records')" 300
	assert_equal "$(jsql "$output" "json_type(j, '$.backlog.sims.run1')")" ""
	simlog-drain -q -u "$REDIS_URL" -d sim.db > /dev/null
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_equal "$(jget "$output" '$.backlog.records')" 0
	assert_equal "$(jget "$output" '$.backlog.sims')" '{}'
}

@test "a sample sends no KEYS or SCAN: INFO, CLIENT LIST, SMEMBERS, HGETALL, XRANGE, TIME" {
	start_redis main
	"$SIMGEN" -n 100 -s 1 | simlog-push -u "$REDIS_URL" -s a > /dev/null
	"$SIMGEN" -n 100 -s 2 | simlog-push -u "$REDIS_URL" -s b > /dev/null
	rcli CONFIG RESETSTAT > /dev/null
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_success
	run rcli INFO commandstats
	local stats
	stats=$(tr -d '\r' <<< "$output" | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p' | sort)
	assert_equal "$stats" "client|list 1
client|setname 1
config|resetstat 1
hgetall 4
info 1
smembers 1
time 1
xrange 2"
}

@test "--watch with --count: N lines, one connection, no load on an idle server" {
	start_redis main
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --watch 0.1 --count 3
	assert_success
	assert_equal "${#lines[@]}" 3
	local i
	for i in 0 1 2; do
		assert_equal "$(jsql "${lines[$i]}" "json_valid(j)")" 1
		assert_equal "$(jget "${lines[$i]}" '$.connected_clients')" 1
		assert_equal "$(jget "${lines[$i]}" '$.clients_by_name')" '{"simlog-pool-stats":1}'
	done
	assert_equal "$(jsql "${lines[0]}" "json_type(j, '$.ops_per_sec_avg')")" null
	# Its own commands are not counted: nothing else runs on this server.
	assert_equal "$(jget "${lines[1]}" '$.ops_per_sec_avg')" 0.0
	assert_equal "$(jget "${lines[2]}" '$.ops_per_sec_avg')" 0.0
	assert_equal "$(jget "${lines[1]}" '$.rejected_connections_delta')" 0
	assert_equal "$(jsql "${lines[2]}" "json_extract(j, '$.time') >
	    $(jget "${lines[1]}" '$.time')")" 1
}

@test "ops_per_sec_avg counts other clients' commands" {
	start_redis main
	simlog-pool-stats -u "$REDIS_URL" --watch 0.1 > stats.out 2> stats.err 3>&- &
	local pid=$!
	poll "a first sample" lines_in stats.out 1
	# After the first sample: the samples around these two commands see
	# them, whenever they are taken.
	rcli EVAL "return 1" 0 > /dev/null
	rcli PING > /dev/null
	poll "a sample counting them" grep -q -E \
	    '"ops_per_sec_avg":([1-9]|0\.[0-9]*[1-9])' stats.out
	kill -INT "$pid"
	wait "$pid"
	# The first sample has nothing to compare with.
	assert_equal "$(head -n 1 stats.out | grep -c '"ops_per_sec_avg":null,')" 1
	assert_equal "$(cat stats.err)" ""
}

@test "--count without --watch takes samples a second apart" {
	start_redis main
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --count 2
	assert_success
	assert_equal "${#lines[@]}" 2
}

@test "SIGINT ends --watch cleanly: complete lines, exit 0" {
	start_redis main
	simlog-pool-stats -u "$REDIS_URL" --watch 0.05 > stats.out 2> stats.err 3>&- &
	local pid=$!
	poll "two samples" lines_in stats.out 2
	kill -INT "$pid"
	local st=0
	wait "$pid" || st=$?
	assert_equal "$st" 0
	assert_equal "$(cat stats.err)" ""
	local l
	while IFS= read -r l; do
		assert_equal "$(jsql "$l" "json_valid(j)")" 1
	done < stats.out
	[ "$(tail -c 1 stats.out | od -An -c | tr -d ' ')" = '\n' ]
}

@test "SIGTERM ends --watch cleanly too" {
	start_redis main
	simlog-pool-stats -u "$REDIS_URL" --watch 0.05 > stats.out 2> stats.err 3>&- &
	local pid=$!
	poll "a sample" lines_in stats.out 1
	kill -TERM "$pid"
	local st=0
	wait "$pid" || st=$?
	assert_equal "$st" 0
}

@test "--format table: aligned blocks for clients and backlog" {
	start_redis main
	"$SIMGEN" -n 200 -s 1 | simlog-push -u "$REDIS_URL" -s run-one > /dev/null
	"$SIMGEN" -n 50 -s 2 | simlog-push -u "$REDIS_URL" -s r2 > /dev/null
	hold 1 a-rather-long-client-name
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --format table
	assert_success
	assert_equal "$stderr" ""
	[[ ${lines[0]} == 20[0-9][0-9]-[01][0-9]-[0-3][0-9]\ [0-2][0-9]:[0-5][0-9]:[0-5][0-9]"  $REDIS_URL" ]]
	assert_line "clients   2 of 10000 (0.0 %), 0 blocked"
	assert_line "rejected  0 connections"
	assert_line --regexp '^ops       [0-9]+/s$'
	assert_line --regexp '^memory    [0-9.]+ (B|KiB|MiB) used, no maxmemory$'
	assert_line --regexp '^spool     0 segments, 0 B \(.*/spool/[0-9a-f]{16}\)$'
	# Each block's rows are as wide as its header (the last column is
	# right-aligned to it).
	local names backlog
	names=$(printf '%s\n' "$output" | sed -n '/^NAME /,/^$/p' | sed '/^$/d')
	backlog=$(printf '%s\n' "$output" | sed -n '/^SIM /,/^$/p' | sed '/^$/d')
	assert_equal "$(awk '{ print length($0) }' <<< "$names" | sort -u | wc -l)" 1
	assert_equal "$(awk '{ print length($0) }' <<< "$backlog" | sort -u | wc -l)" 1
	assert_equal "$(wc -l <<< "$names")" 3
	[[ $names == *'a-rather-long-client-name            1'* ]]
	[[ $names == *'simlog-pool-stats                    1'* ]]
	# A header, a line per simulation and type, a total line.
	local ntypes
	ntypes=$(rcli HLEN 'simlog:{run-one}:n')
	ntypes=$((ntypes + $(rcli HLEN 'simlog:{r2}:n')))
	assert_equal "$(wc -l <<< "$backlog")" $((ntypes + 2))
	[[ $(tail -n 1 <<< "$backlog") =~ ^\ +total\ +250\ +[0-9]+$ ]]
	[[ $backlog == *"run-one  action"* ]]
}

@test "Redis down: exit 69 with an error line; wrong password: 77" {
	run --separate-stderr simlog-pool-stats -u "unix://$BATS_TEST_TMPDIR/none.sock"
	assert_equal "$status" 69
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jget "$output" '$.ok')" 0
	[[ $(jget "$output" '$.error') == "cannot connect to unix://$BATS_TEST_TMPDIR/none.sock: no such file or directory" ]]
	[[ $stderr == "simlog-pool-stats: cannot connect to"* ]]

	run --separate-stderr simlog-pool-stats -u "unix://$BATS_TEST_TMPDIR/none.sock" -f table
	assert_equal "$status" 69
	assert_equal "$output" ""

	start_redis main --requirepass s3cret
	echo wrong > pw
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --password-file pw
	assert_equal "$status" 77
	[[ $(jget "$output" '$.error') == *"authentication failed"* ]]
	echo s3cret > pw
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --password-file pw
	assert_success
}

@test "the server going away during --watch: an error line, exit 69" {
	start_redis main
	simlog-pool-stats -u "$REDIS_URL" --watch 0.05 > stats.out 2> stats.err 3>&- &
	local pid=$!
	poll "a sample" lines_in stats.out 1
	stop_redis main
	local st=0
	wait "$pid" || st=$?
	assert_equal "$st" 69
	local last
	last=$(tail -n 1 stats.out)
	assert_equal "$(jget "$last" '$.ok')" 0
	[ -n "$(jget "$last" '$.error')" ]
	[[ $(cat stats.err) == "simlog-pool-stats: "* ]]
}

@test "backlog.spool: what simlog-push could not deliver, until it is replayed" {
	start_redis main
	stop_redis main
	"$SIMGEN" -n 200 -s 1 > in.jsonl
	run simlog-push -u "$REDIS_URL" -s offline < in.jsonl
	assert_equal "$status" 75
	start_redis main
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_success
	local dir size
	dir=$(jget "$output" '$.backlog.spool.dir')
	[[ $dir == "$SIMLOG_SPOOL_DIR/"* ]]
	ls "$dir"/*.seg > /dev/null
	size=$(cat "$dir"/*.seg | wc -c)
	assert_equal "$(jget "$output" '$.backlog.spool.bytes')" "$size"
	assert_equal "$(jsql "$output" "json_extract(j, '$.backlog.spool.segments') >= 1")" 1
	assert_equal "$(jget "$output" '$.backlog.records')" 0

	# --spool names another directory: nothing there.
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --spool "$BATS_TEST_TMPDIR/other"
	assert_success
	assert_equal "$(jget "$output" '$.backlog.spool.segments')" 0
	[[ $(jget "$output" '$.backlog.spool.dir') == "$BATS_TEST_TMPDIR/other/"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/other" ]

	simlog-push -u "$REDIS_URL" --replay > /dev/null
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_equal "$(jget "$output" '$.backlog.spool.segments')" 0
	assert_equal "$(jget "$output" '$.backlog.spool.bytes')" 0
	assert_equal "$(jget "$output" '$.backlog.sims.offline.records')" 200
}

@test "bad --watch, --count, --warn-at, --format, --spool: exit 64 naming the option" {
	local spec args opt
	for spec in "--watch 0|--watch" "-w x|--watch" "--watch -1|--watch" \
	    "--count 0|--count" "-n x|--count" "--warn-at 0|--warn-at" \
	    "--warn-at 1.5|--warn-at" "--warn-at x|--warn-at" \
	    "--format xml|--format" "-f ''|--format" "--spool ''|--spool"; do
		args=${spec%|*} opt=${spec#*|}
		eval "set -- $args"
		run --separate-stderr simlog-pool-stats -u "unix:///nonexistent" "$@"
		assert_equal "$status" 64
		[[ $stderr == "simlog-pool-stats: invalid $opt: "* ]]
		assert_equal "$output" ""
	done
}

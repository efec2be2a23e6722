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
	"$SIMGEN" --ids -n 1000 -s 1 > run1.jsonl
	"$SIMGEN" --ids -n 300 -s 2 > run2.jsonl
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

@test "a sample sends INFO, CLIENT LIST, SCAN, HGETALL, XRANGE, TIME, and no KEYS" {
	start_redis main
	"$SIMGEN" --ids -n 100 -s 1 | simlog-push -u "$REDIS_URL" -s a > /dev/null
	"$SIMGEN" --ids -n 100 -s 2 | simlog-push -u "$REDIS_URL" -s b > /dev/null
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
ping 1
scan 1
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
	"$SIMGEN" --ids -n 200 -s 1 | simlog-push -u "$REDIS_URL" -s run-one > /dev/null
	"$SIMGEN" --ids -n 50 -s 2 | simlog-push -u "$REDIS_URL" -s r2 > /dev/null
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
	"$SIMGEN" --ids -n 200 -s 1 > in.jsonl
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

# om_parse FILE: FILE read by the OpenMetrics parser of the Prometheus
# Python client (strict: TYPE before samples, units in names, _total on
# counters, escaped labels, "# EOF" last) and by its parser of the older
# text format the node_exporter textfile collector reads.  Prints each
# sample as "name{label=value,...} value", sorted.
om_parse() {
	/usr/bin/python3 - "$1" <<'PY'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
from prometheus_client.parser import text_string_to_metric_families as prom
text = open(sys.argv[1]).read()
out = []
for f in om(text):
    for s in f.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        out.append("%s{%s} %s" % (s.name, labels, repr(float(s.value))))
list(prom(text))
print("\n".join(sorted(out)))
PY
}

@test "--format openmetrics: valid text with every metric, label values escaped" {
	/usr/bin/python3 -c 'import prometheus_client' ||
		{ echo "python3-prometheus-client is missing (scripts/deps.sh)"; return 1; }
	start_redis main --maxclients 50
	"$SIMGEN" --ids -n 300 -s 1 | simlog-push -u "$REDIS_URL" -s run-1 > /dev/null
	# redis-cli reads the quotes and backslashes: the name is we"ird\name.
	hold 1 '"we\"ird\\name"'
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --format openmetrics
	assert_success
	assert_equal "$stderr" ""
	printf '%s\n' "$output" > om.txt
	assert_equal "$(tail -n 1 om.txt)" "# EOF"
	# The label value as written, escaped.
	grep -qxF 'simlog_redis_clients{name="we\"ird\\name"} 1' om.txt
	run om_parse om.txt
	assert_success
	assert_line 'simlog_redis_up{} 1.0'
	assert_line 'simlog_redis_maxclients{} 50.0'
	assert_line 'simlog_redis_connected_clients{} 2.0'
	assert_line 'simlog_redis_clients{name=simlog-pool-stats} 1.0'
	assert_line 'simlog_redis_clients{name=we"ird\name} 1.0'
	assert_line 'simlog_redis_rejected_connections_total{} 0.0'
	assert_line 'simlog_redis_maxmemory_bytes{} 0.0'
	assert_line 'simlog_spool_segments{} 0.0'
	assert_line 'simlog_spool_bytes{} 0.0'
	assert_line 'simlog_breaker_state{state=closed} 1.0'
	assert_line 'simlog_breaker_state{state=open} 0.0'
	assert_line 'simlog_breaker_state{state=half-open} 0.0'
	assert_line 'simlog_breaker_failures{} 0.0'
	assert_line --regexp '^simlog_redis_used_memory_bytes\{\} [1-9][0-9]*\.0$'
	assert_line --regexp '^simlog_backlog_oldest_age_seconds\{sim=run-1\} [0-9.]+$'
	# The backlog per type: what the JSON output says, record for record.
	local json want got
	json=$(simlog-pool-stats -u "$REDIS_URL")
	want=$(jsql "$json" "(SELECT group_concat('simlog_backlog_records{sim=run-1,type=' ||
	    key || '} ' || json_extract(value, '$.records') || '.0', char(10))
	    FROM json_each(j, '$.backlog.sims.run-1.types'))")
	got=$(grep '^simlog_backlog_records' <<< "$output" | sort)
	assert_equal "$got" "$(sort <<< "$want")"
	[ "$(grep -c '^simlog_backlog_bytes{sim=run-1,' <<< "$output")" = \
	    "$(grep -c . <<< "$want")" ]
}

@test "--format openmetrics without Redis: up 0, the spool and the breaker, exit 69" {
	start_redis main
	stop_redis main
	"$SIMGEN" --ids -n 50 -s 1 > in.jsonl
	run simlog-push -u "$REDIS_URL" -s offline < in.jsonl
	assert_equal "$status" 75
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" -f openmetrics
	assert_equal "$status" 69
	[[ $stderr == "simlog-pool-stats: cannot connect to "* ]]
	printf '%s\n' "$output" > om.txt
	run om_parse om.txt
	assert_success
	assert_line 'simlog_redis_up{} 0.0'
	assert_line --regexp '^simlog_spool_segments\{\} [1-9][0-9]*\.0$'
	assert_line "simlog_spool_bytes{} $(cat "$SIMLOG_SPOOL_DIR"/*/*.seg | wc -c).0"
	# The failed push opened the breaker it shares with every simlog tool.
	assert_line 'simlog_breaker_state{state=open} 1.0'
	assert_line 'simlog_breaker_state{state=closed} 0.0'
	refute_line --partial simlog_backlog
}

@test "the breaker is read, never written; the JSON output has it too" {
	start_redis main
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_success
	assert_equal "$(jget "$output" '$.breaker')" '{"state":"closed","failures":0,"opened_at":null}'
	# No breaker file or directory appears for a monitor's look.
	[ ! -e "$SIMLOG_BREAKER_DIR" ]
	# A breaker another process opened: as it is, and left as it is.
	local f
	simlog-push -u "$REDIS_URL" -s x < /dev/null > /dev/null
	f=$(ls "$SIMLOG_BREAKER_DIR"/breaker-*)
	printf '1 3 1700000000.500 0 0.000\n' > "$f"
	touch -d @1700000000 "$f"
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_success
	assert_equal "$(jget "$output" '$.breaker')" '{"state":"open","failures":3,"opened_at":1700000000.500}'
	assert_equal "$(cat "$f")" '1 3 1700000000.500 0 0.000'
	assert_equal "$(stat -c %Y "$f")" 1700000000
}

@test "oldest_age: how long the oldest record has waited, by Redis's clock" {
	start_redis main
	# An entry stamped one second after 1970, with the counters push keeps.
	rcli XADD 'simlog:{old}:q' 1000-0 c x > /dev/null
	rcli SADD simlog:sims old > /dev/null
	rcli HSET 'simlog:{old}:n' step 1 > /dev/null
	rcli HSET 'simlog:{old}:b' step 10 > /dev/null
	"$SIMGEN" --ids -n 20 -s 1 | simlog-push -u "$REDIS_URL" -s new > /dev/null
	local t0 t1 age
	t0=$(rcli TIME | head -n 1)
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	t1=$(rcli TIME | head -n 1)
	assert_success
	age=$(jget "$output" '$.backlog.sims.old.oldest_age')
	assert_equal "$(jsql "$output" "json_type(j, '$.backlog.sims.old.oldest_age')")" real
	# Seconds from 1.000 to Redis's now, which lay between t0 and t1 + 1.
	[ "$(awk -v a="$age" -v lo="$t0" -v hi="$t1" 'BEGIN { print (a >= lo - 1 && a <= hi) }')" = 1 ]
	assert_equal "$(jsql "$output" "json_extract(j, '$.backlog.sims.new.oldest_age') >= 0")" 1
	# Drained, a simulation has no oldest record and is not listed.
	simlog-drain -q -u "$REDIS_URL" -s new -d sim.db > /dev/null
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_equal "$(jsql "$output" "json_type(j, '$.backlog.sims.new')")" ""
}

@test "--watch --format table redraws in place on a terminal, appends elsewhere" {
	start_redis main
	script -qfec "simlog-pool-stats -u '$REDIS_URL' --watch 0.05 --count 3 -f table" \
	    /dev/null > tty.out < /dev/null
	assert_equal "$(grep -o $'\e\\[H\e\\[J' tty.out | wc -l)" 3
	assert_equal "$(grep -c '^clients ' tty.out)" 3
	# Not a terminal: plain blocks one after another.
	simlog-pool-stats -u "$REDIS_URL" --watch 0.05 --count 2 -f table > pipe.out
	assert_equal "$(grep -c $'\e' pipe.out)" 0
	assert_equal "$(grep -c '^clients ' pipe.out)" 2
}

@test "exit status: every code simlog-pool-stats(1) lists, each caused for real" {
	start_redis main --maxclients 4
	# 0
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_equal "$status" 0
	# 64
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --format xml
	assert_equal "$status" 64
	# 66 the password file cannot be read
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --password-file nopw
	assert_equal "$status" 66
	# 69
	run --separate-stderr simlog-pool-stats -u "unix://$BATS_TEST_TMPDIR/none.sock"
	assert_equal "$status" 69
	# 70 out of memory: fifty thousand simulations' replies do not fit
	# where an empty server's do
	if [ -z "${VALGRIND:-}" ] && ! ldd "$(command -v simlog-pool-stats)" | grep -q libasan; then
		local v
		for v in $(seq 1000 500 64000); do
			(ulimit -v "$v"; simlog-pool-stats -u "$REDIS_URL" > /dev/null 2>&1) && break
		done
		rcli -n 1 EVAL "for i = 1, 50000 do
		    redis.call('XADD', 'simlog:{s' .. i .. '}:q', '*', 'c', 'x')
		    redis.call('HSET', 'simlog:{s' .. i .. '}:n', 'step', 1)
		    redis.call('HSET', 'simlog:{s' .. i .. '}:b', 'step', 10)
		end" 0 > /dev/null
		# Wherever the memory runs out (in hiredis's reader too), the
		# process's own trouble: 70, never the server's 69.
		run --separate-stderr bash -c "ulimit -v $((v + 1000)); simlog-pool-stats -u '$REDIS_URL?db=1'"
		echo "$stderr"
		assert_equal "$status" 70
		[[ $stderr == *"out of memory" ]]
	fi
	# 71 out of open files: the spool, or the socket to Redis
	if [ -z "${VALGRIND:-}" ]; then
		limit_for "simlog-pool-stats -u '$REDIS_URL'"
		assert_equal "$status" 71
	fi
	# 74 writing standard output failed; the spool cannot be read
	run --separate-stderr sh -c 'simlog-pool-stats -u "$0" > /dev/full' "$REDIS_URL"
	assert_equal "$status" 74
	: > notadir
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --spool notadir
	assert_equal "$status" 74
	[[ $stderr == "simlog-pool-stats: spool notadir/"*": Not a directory" ]]
	# 78 --warn-at reached; an empty password file; a database the server
	# does not have
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --warn-at 0.25
	assert_equal "$status" 78
	: > empty
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL" --password-file empty
	assert_equal "$status" 78
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL?db=16"
	assert_equal "$status" 78
	[[ $(jget "$output" '$.error') == *"ERR DB index is out of range: no such database on this server"* ]]
	# 77
	rcli CONFIG SET requirepass s3cret > /dev/null
	run --separate-stderr simlog-pool-stats -u "$REDIS_URL"
	assert_equal "$status" 77
	# And the man page lists exactly these.
	local code
	for code in 0 64 66 69 70 71 74 77 78; do
		grep -q "^\.B $code\$" "$SIMLOG_TOP/man/simlog-pool-stats.1" ||
			{ echo "man page lacks $code"; return 1; }
	done
	assert_equal "$(sed -n '/^\.SH EXIT STATUS/,/^\.SH EXAMPLES/p' "$SIMLOG_TOP/man/simlog-pool-stats.1" |
	    grep -c '^\.B [0-9]*$')" 9
}

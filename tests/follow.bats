#!/usr/bin/env bats
# simlog-drain --follow: records that arrive while it runs are drained, new
# simulations too; SIGTERM and SIGINT end it cleanly after its batch;
# exactly once holds with pushers running and a SIGKILL; idle, it sleeps
# rather than polls.  The time bounds only catch a drain that is stuck.

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	export SIMLOG_SCHEMA_PATH="$SIMLOG_TOP/schemas"
	unset SIMLOG_SCHEMA
	export SIMLOG_WAIT=10
	DB=$BATS_TEST_TMPDIR/sim.db
}

teardown() {
	kill_tracked
	stop_all_redis
}

# follow NAME [simlog-drain options]: a --follow drain in the background;
# its pid in FOLLOW_PID, its output in NAME.out and NAME.err.  It must not
# hold the writer's FIFO (fd 8) open, or the writer would never see its end.
follow() {
	local name=$1; shift
	simlog-drain -q -d "$DB" --follow "$@" > "$name.out" 2> "$name.err" 3>&- 8>&- &
	FOLLOW_PID=$!
	track "$FOLLOW_PID"
}

# exited PID: PID (a child of this shell) has ended: gone, or a zombie.
exited() {
	local st
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -z "$st" ] || [ "$st" = Z ]
}

# finish SIGNAL: signal the follow drain and wait for it; its exit status
# in FOLLOW_STATUS.  Fails if it does not end within 10 s.
finish() {
	kill -"$1" "$FOLLOW_PID"
	within 10 "simlog-drain to exit on SIG$1" exited "$FOLLOW_PID"
	FOLLOW_STATUS=0
	wait "$FOLLOW_PID" || FOLLOW_STATUS=$?
}

# writer SIM [simlog-push options]: a simlog-push reading from a FIFO held
# open on fd 8, so bursts can be written to it over time (burst); end it
# with end_writer.
writer() {
	local sim=$1; shift
	rm -f "w.$sim.fifo"
	mkfifo "w.$sim.fifo"
	simlog-push -s "$sim" --flush-interval 0.1 "$@" < "w.$sim.fifo" > "w.$sim.out" 3>&- &
	WRITER_PID=$!
	track "$WRITER_PID"
	exec 8> "w.$sim.fifo"
}

# burst FIRST LAST [SIM]: records FIRST..LAST of type ev into the writer,
# and into expected (one "sim<TAB>json" line each).
burst() {
	local i sim=${3:-F1}
	for ((i = $1; i <= $2; i++)); do
		printf '{"type":"ev","n":%d}\n' "$i"
		printf '%s\t{"type":"ev","n":%d}\n' "$sim" "$i" >> expected
	done >&8
}

end_writer() {
	exec 8>&-
	wait "$WRITER_PID"
}

# count_is N: the record tables of $DB hold N rows in all.
count_is() {
	[ "$(landed "$DB" | wc -l)" -eq "$1" ]
}

# backlog: records still buffered in Redis, over every simulation.
backlog() {
	local k n=0 v
	for k in $(rcli --scan --pattern 'simlog:{*}:n'); do
		for v in $(rcli hvals "$k"); do
			n=$((n + v))
		done
	done
	echo "$n"
}

# cpu_seconds PID: user + system CPU time PID has used, in seconds.
cpu_seconds() {
	local ticks
	ticks=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }')
	awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f\n", t / hz }'
}

# calls CMD: how often Redis ran CMD since the last CONFIG RESETSTAT.
calls() {
	rcli info commandstats | tr -d '\r' |
		sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" | grep . || echo 0
}

@test "--follow drains records that arrive while it runs, burst after burst" {
	follow f
	writer F1
	burst 1 100
	wait_until "the first burst to land" count_is 100
	burst 101 250
	wait_until "the second burst to land" count_is 250
	sleep 0.5
	burst 251 252
	wait_until "the third burst to land" count_is 252
	end_writer
	kill -0 "$FOLLOW_PID"
	finish TERM
	assert_equal "$FOLLOW_STATUS" 0
	assert_equal "$(landed_sim "$DB")" "$(sort expected)"
	assert_equal "$(jnum rows "$(tail -n 1 f.out)")" 252
	assert_equal "$(jnum rejects "$(tail -n 1 f.out)")" 0
	assert_equal "$(cat f.err)" ""
	assert_equal "$(backlog)" 0
}

@test "--follow with a schema: typed rows appear as records arrive" {
	"$SIMGEN" --ids -n 3000 -s 3 > in.jsonl
	follow f --schema agentfarm
	head -n 1000 in.jsonl | simlog-push -s run3 --flush-interval 0.1 > /dev/null
	wait_until "the first records" eval \
	    '[ "$(sqlite3 "$DB" "SELECT count(*) FROM agent_actions")" -gt 0 ]'
	tail -n +1001 in.jsonl | simlog-push -s run3 --flush-interval 0.1 > /dev/null
	wait_until "every step" eval '[ "$(sqlite3 "$DB" "SELECT count(*)
	    FROM simulation_steps")" -eq "$(grep -c "^{\"type\":\"step\"" in.jsonl)" ]'
	wait_until "every action" eval '[ "$(sqlite3 "$DB" "SELECT count(*)
	    FROM agent_actions")" -eq "$(grep -c "^{\"type\":\"action\"" in.jsonl)" ]'
	finish TERM
	assert_equal "$FOLLOW_STATUS" 0
	assert_equal "$(jnum rows "$(tail -n 1 f.out)")" 3000
	assert_equal "$(sqlite3 "$DB" "SELECT count(*) FROM agent_states")" \
	    "$(grep -c '^{"type":"agent_state"' in.jsonl)"
}

@test "--follow picks up simulations that appear while it runs" {
	follow f
	printf '%s\n' '{"type":"ev","n":1}' | simlog-push -s first > /dev/null
	wait_until "the first simulation" count_is 1
	printf '%s\n' '{"type":"ev","n":2}' | simlog-push -s second > /dev/null
	wait_until "the second simulation" count_is 2
	printf '%s\n' '{"type":"other","n":3}' | simlog-push -s third > /dev/null
	wait_until "the third simulation" count_is 3
	finish TERM
	assert_equal "$FOLLOW_STATUS" 0
	assert_equal "$(landed_sim "$DB")" "$(printf '%s\t%s\n' \
	    first '{"type":"ev","n":1}' second '{"type":"ev","n":2}' \
	    third '{"type":"other","n":3}')"
}

# stop_mid_backlog SIGNAL: a --follow drain of a large backlog, stopped with
# SIGNAL once rows appear, exits 0 with its batches committed; what is in
# SQLite plus what is left in Redis is the input, and a later drain lands
# exactly the input.
stop_mid_backlog() {
	"$SIMGEN" --ids -n 200000 -s 11 > in.jsonl
	simlog-push -s big < in.jsonl > /dev/null
	follow f --batch 100
	wait_until "the first commit" eval '[ "$(sqlite3 "$DB" \
	    "SELECT count(*) FROM simlog_batches" 2>/dev/null || echo 0)" -gt 0 ]'
	finish "$1"
	assert_equal "$FOLLOW_STATUS" 0
	local got left
	got=$(landed "$DB" | wc -l)
	left=$(backlog)
	[ "$got" -gt 0 ]
	echo "# stopped with $got rows in SQLite, $left records left in Redis" >&3
	assert_equal "$((got + left))" 200000
	# The summary counts what it committed.
	assert_equal "$(jnum rows "$(tail -n 1 f.out)")" "$got"
	assert_equal "$(sqlite3 "$DB" "SELECT sum(records) FROM simlog_batches")" "$got"
	run -0 simlog-drain -q -d "$DB"
	assert_equal "$(landed "$DB")" "$(sort in.jsonl)"
}

@test "--follow: SIGTERM ends it after its batch, status 0, nothing lost" {
	stop_mid_backlog TERM
}

@test "--follow: SIGINT ends it after its batch, status 0, nothing lost" {
	stop_mid_backlog INT
}

@test "--follow: SIGTERM while idle ends it at once, status 0" {
	follow f
	printf '%s\n' '{"type":"ev","n":1}' | simlog-push -s idle > /dev/null
	wait_until "the record" count_is 1
	sleep 0.3
	finish TERM
	assert_equal "$FOLLOW_STATUS" 0
	assert_equal "$(wc -l < f.out)" 2
	assert_equal "$(jnum rows "$(tail -n 1 f.out)")" 1
}

@test "--follow: exactly once with pushers running and the drain killed (SIGKILL) and restarted" {
	local s pids=() i
	for s in P1 P2 P3; do
		for ((i = 1; i <= 3000; i++)); do
			printf '{"type":"ev","sim":"%s","n":%d}\n' "$s" "$i"
		done > "in.$s"
		awk -v s="$s" '{ print s "\t" $0 }' "in.$s" >> expected
	done
	# Three pushers, each writing bursts of 150 records over about 2 s.
	for s in P1 P2 P3; do
		awk '{ print } NR % 150 == 0 { fflush(); system("sleep 0.1") }' "in.$s" |
		    simlog-push -s "$s" --batch 16 --flush-interval 0.1 > "push.$s" 3>&- &
		pids+=($!)
		track $!
	done
	follow f1 --batch 64
	wait_until "some rows" eval '[ "$(landed "$DB" 2>/dev/null | wc -l)" -ge 500 ]'
	kill -KILL "$FOLLOW_PID"
	wait "$FOLLOW_PID" || true
	follow f2 --batch 64
	for i in "${pids[@]}"; do
		wait "$i"
	done
	SIMLOG_WAIT=30 wait_until "every record" count_is 9000
	wait_until "an empty buffer" eval '[ "$(backlog)" -eq 0 ]'
	finish TERM
	assert_equal "$FOLLOW_STATUS" 0
	assert_equal "$(landed_sim "$DB")" "$(sort expected)"
	assert_equal "$(sqlite3 "$DB" "SELECT sum(records) FROM simlog_batches")" 9000
}

@test "--follow: exactly once for typed rows and dead letters across a SIGKILL" {
	cat > s.schema <<'EOF'
strict
table evs for ev
    uid  TEXT     primary key
    sim  TEXT     sim
    n    INTEGER  not null
EOF
	local i
	for ((i = 1; i <= 4000; i++)); do
		if [ $((i % 9)) -eq 0 ]; then
			printf '{"type":"ev","uid":"u%d","n":"bad"}\n' "$i"
		else
			printf '{"type":"ev","uid":"u%d","n":%d}\n' "$i" "$i"
		fi
	done > in.jsonl
	writer T1 --batch 16
	follow f1 --schema ./s.schema --batch 50
	head -n 2000 in.jsonl >&8
	wait_until "some rows" eval '[ "$(sqlite3 "$DB" "SELECT count(*) FROM evs" 2>/dev/null || echo 0)" -ge 200 ]'
	kill -KILL "$FOLLOW_PID"
	wait "$FOLLOW_PID" || true
	tail -n +2001 in.jsonl >&8
	follow f2 --schema ./s.schema --batch 50
	end_writer
	wait_until "every record" eval '[ "$(sqlite3 "$DB" "SELECT (SELECT count(*) FROM evs)
	    + (SELECT count(*) FROM simlog_rejects)")" -ge 4000 ]'
	wait_until "an empty buffer" eval '[ "$(backlog)" -eq 0 ]'
	finish TERM
	assert_equal "$FOLLOW_STATUS" 0
	assert_equal "$(sqlite3 "$DB" "SELECT count(*) FROM evs")" $((4000 - 444))
	assert_equal "$(sqlite3 "$DB" "SELECT count(*) FROM simlog_rejects")" 444
	# No record twice: a second copy would have been a duplicate-key reject.
	assert_equal "$(sqlite3 "$DB" "SELECT DISTINCT error FROM simlog_rejects")" \
	    "column n: expected an integer, got a string"
	assert_equal "$(sqlite3 "$DB" "SELECT uid FROM evs UNION ALL
	    SELECT json_extract(data, '\$.uid') FROM simlog_rejects" | sort)" \
	    "$(grep -o '"uid":"u[0-9]*"' in.jsonl | cut -d'"' -f4 | sort)"
}

# idle_check [simlog-drain options]: a --follow drain with nothing to do
# uses under 0.5 s of CPU in 2 s, and sends Redis few commands: at most 3
# XREADs a second, at most 15 commands a second in all.
idle_check() {
	follow f "$@"
	printf '%s\n' '{"type":"ev","n":1}' | simlog-push -s quiet > /dev/null
	wait_until "the record" count_is 1
	sleep 0.5
	local c0 c1
	rcli config resetstat > /dev/null
	c0=$(cpu_seconds "$FOLLOW_PID")
	sleep 2
	c1=$(cpu_seconds "$FOLLOW_PID")
	awk -v a="$c0" -v b="$c1" 'BEGIN { exit !(b - a < 0.5) }'
	local xread total
	xread=$(calls xread)
	total=$(rcli info commandstats | tr -d '\r' |
	    sed -n 's/^cmdstat_[^:]*:calls=\([0-9]*\),.*/\1/p' |
	    awk '{ n += $1 } END { print n + 0 }')
	echo "# idle 2 s: cpu $c0 -> $c1 s, XREAD $xread, commands $total" >&3
	[ "$xread" -le 6 ]
	[ "$total" -le 30 ]
	kill -0 "$FOLLOW_PID"
	finish TERM
	assert_equal "$FOLLOW_STATUS" 0
}

@test "--follow does not busy-poll: idle, little CPU and few Redis commands" {
	idle_check
}

@test "--follow --sim does not busy-poll either (it waits in XREAD BLOCK)" {
	idle_check -s quiet
}

@test "--follow --sim wakes on a new record while idle, not only when its wait runs out" {
	printf '%s\n' '{"type":"ev","n":1}' | simlog-push -s s1 > /dev/null
	follow f -s s1 --commit-interval 60 --timeout 120
	wait_until "the first record" count_is 1
	sleep 1
	printf '%s\n' '{"type":"ev","n":2}' | simlog-push -s s1 > /dev/null
	within 10 "the record pushed while idle" count_is 2
}

@test "--follow --sim: SIGTERM while it waits in XREAD BLOCK ends it promptly" {
	printf '%s\n' '{"type":"ev","n":1}' | simlog-push -s s1 > /dev/null
	follow f -s s1 --commit-interval 60 --timeout 120
	wait_until "the record" count_is 1
	sleep 1
	finish TERM
	assert_equal "$FOLLOW_STATUS" 0
}

@test "--follow wakes on a new record while idle, not only when its wait runs out" {
	# A long commit interval (and a command timeout long enough for it):
	# nothing to commit while idle, yet a record that arrives should not
	# wait for the interval to pass.
	printf '%s\n' '{"type":"ev","n":1}' | simlog-push -s s1 > /dev/null
	follow f --commit-interval 60 --timeout 120
	wait_until "the first record" count_is 1
	sleep 1
	printf '%s\n' '{"type":"ev","n":2}' | simlog-push -s s1 > /dev/null
	within 10 "the record pushed while idle" count_is 2
	finish TERM
	assert_equal "$FOLLOW_STATUS" 0
}

@test "--commit-interval: checked for range" {
	run -64 --separate-stderr simlog-drain -q -d "$DB" --follow --commit-interval 0
	[[ $stderr == *"--commit-interval"* ]]
	run -64 --separate-stderr simlog-drain -q -d "$DB" --follow --commit-interval abc
	[[ $stderr == *"--commit-interval"* ]]
	run -64 simlog-drain -q -d "$DB" --follow --commit-interval -1
	[ ! -e "$DB" ]
}

@test "--follow waits after the newest entry it has seen, not after \$: one that came meanwhile is not skipped" {
	printf '%s\n' '{"type":"ev","n":1}' | simlog-push -s F1 > /dev/null
	local last mpid
	last=$(rcli XREVRANGE 'simlog:{F1}:q' + - COUNT 1 | head -n 1)
	rcli MONITOR > monitor.txt 2>&1 &
	mpid=$!
	track "$mpid"
	wait_until "MONITOR to start" grep -q OK monitor.txt
	follow f
	wait_until "the record to land" count_is 1
	wait_until "an XREAD" grep -q '"XREAD"' monitor.txt
	finish TERM
	kill "$mpid"
	assert_equal "$FOLLOW_STATUS" 0
	# Each wait names the stream and the id of the entry drained last.
	local x
	x=$(grep '"XREAD"' monitor.txt | head -n 1)
	echo "# $x"
	[[ $x == *'"STREAMS" "simlog:{F1}:q" "'"$last"'"'* ]]
	! grep '"XREAD"' monitor.txt | grep -q '"\$"'
}

# wal_bytes: the size of the database's WAL file (0 when there is none).
wal_bytes() {
	stat -c %s "$DB-wal" 2>/dev/null || echo 0
}

@test "a drain checkpoints on a connection of its own: while --follow runs, its WAL stays a commit's size, not the data's" {
	"$SIMGEN" --ids -n 60000 -s 9 > in.jsonl
	follow f
	local r
	# Six rounds, each committed apart: without checkpoints (the drain
	# turns SQLite's own off) the WAL would hold all six.
	for r in 0 1 2 3 4 5; do
		sed -n "$((r * 10000 + 1)),$(((r + 1) * 10000))p" in.jsonl |
			simlog-push -s wal > /dev/null
		wait_until "round $r to land" eval '[ "$(sqlite3 "$DB" \
		    "SELECT coalesce(sum(records), 0) FROM simlog_batches" \
		    2>/dev/null)" = $(((r + 1) * 10000)) ]'
	done
	local wal db
	wal=$(wal_bytes)
	db=$(stat -c %s "$DB")
	echo "# WAL $wal bytes, database $db bytes" >&3
	[ "$wal" -gt 0 ]
	[ "$wal" -lt $((db / 2)) ]
	assert_equal "$(sqlite3 "$DB" 'PRAGMA page_size')" 65536
	finish TERM
	assert_equal "$FOLLOW_STATUS" 0
	landed "$DB" > got
	sort in.jsonl > want
	cmp want got
	# On exit the WAL is checkpointed and gone.
	[ ! -e "$DB-wal" ]
}

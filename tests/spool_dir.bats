#!/usr/bin/env bats
# The spool's directory is the push's to keep: removed (rm -r, a tmp
# cleaner), renamed or replaced while a push spools into it, the push
# says so and writes back every record it still holds; what it cannot
# write back it counts, and it never exits 0 with records lost.  Each test
# spools for real (Redis is down), damages the directory while the push
# runs, and compares what lands in SQLite after a replay and a drain with
# what was read.

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	load failover	# replay, drain_all
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	# Nothing listens here until a test starts redis "main".
	export SIMLOG_REDIS_URL="unix://$BATS_TEST_TMPDIR/redis-main/sock"
	DB=$BATS_TEST_TMPDIR/sim.db
}

teardown() {
	exec 5>&- 2>/dev/null || true
	kill_tracked
	stop_all_redis
}

# spooled N: whether --spool-status counts N records in the spool now.
spooled() {
	[ "$(jget "$(simlog-push --spool-status 2>/dev/null | tail -n 1)" \
	    '$.records')" = "$1" ]
}

# start_push: a push reading the FIFO "in" (written through fd 5), 100
# records to a chunk, spooling as Redis is down.
start_push() {
	mkfifo in
	simlog-push -s sd --batch 100 --flush-interval 0 "$@" < in \
	    > push.out 2> push.err 3>&- &
	PUSH_PID=$!
	track "$PUSH_PID"
	exec 5> in
}

# feed FILE: write FILE into the push and wait until the spool holds
# WANT records (the push's own segment, readable while it writes it).
feed() {
	cat "$1" >&5
	wait_until "the spool to hold $2 records" spooled "$2"
}

finish_push() {
	exec 5>&-
	PUSH_RC=0
	wait "$PUSH_PID" || PUSH_RC=$?
	echo "push exited $PUSH_RC: $(cat push.out)"
	cat push.err
}

# replay_and_drain: Redis up, the spool replayed, everything drained.
replay_and_drain() {
	start_redis main
	replay
	drain_all
}

@test "the spool directory removed (rm -r) mid-push: the push says so, writes back the records it holds; 75; exact after replay and drain" {
	gen a.jsonl 6000 21
	gen b.jsonl 6000 22
	start_push
	feed a.jsonl 6000
	dir=$(jget "$(simlog-push --spool-status | tail -n 1)" '$.spool')
	rm -r "$dir"
	cat b.jsonl >&5
	finish_push
	[ "$PUSH_RC" -eq 75 ]
	grep -q "spool $dir: the directory was removed or replaced while records were spooled in it; wrote back the 6000 records" push.err
	[ "$(jnum spooled "$(cat push.out)")" = 12000 ]
	[ "$(jnum failed "$(cat push.out)")" = 0 ]
	replay_and_drain
	assert_exact a.jsonl b.jsonl
}

@test "the whole spool renamed away (mv) mid-push: written back into a new directory; the moved copy replays too, and the drain keeps one of each" {
	gen a.jsonl 5000 23
	gen b.jsonl 5000 24
	start_push
	feed a.jsonl 5000
	mv "$SIMLOG_SPOOL_DIR" "$BATS_TEST_TMPDIR/spool.moved"
	cat b.jsonl >&5
	finish_push
	[ "$PUSH_RC" -eq 75 ]
	grep -q "the directory was removed or replaced while records were spooled in it; wrote back the 5000 records" push.err
	[ "$(jnum spooled "$(cat push.out)")" = 10000 ]
	replay_and_drain
	assert_exact a.jsonl b.jsonl
	# Someone moves the old copy back and replays it: batch ids keep
	# every record once.
	mv "$BATS_TEST_TMPDIR"/spool.moved/* "$SIMLOG_SPOOL_DIR"/ 2>/dev/null ||
	    cp -r "$BATS_TEST_TMPDIR"/spool.moved/. "$SIMLOG_SPOOL_DIR"/
	replay
	drain_all
	[ "$(jnum duplicate_rows "$DRAINED")" = 5000 ]
	assert_exact a.jsonl b.jsonl
}

@test "the segment being written deleted (rm) mid-push: written back; 75; exact" {
	gen a.jsonl 4000 25
	gen b.jsonl 4000 26
	start_push
	feed a.jsonl 4000
	rm "$SIMLOG_SPOOL_DIR"/*/*.seg
	cat b.jsonl >&5
	finish_push
	[ "$PUSH_RC" -eq 75 ]
	grep -q "the segment being written was removed or replaced while records were spooled in it; wrote back the 4000 records" push.err
	replay_and_drain
	assert_exact a.jsonl b.jsonl
}

@test "the spool directory removed after the last record, before the push ends: written back when the segment is sealed; exact" {
	gen a.jsonl 3000 27
	start_push
	feed a.jsonl 3000
	rm -r "$SIMLOG_SPOOL_DIR"
	finish_push
	[ "$PUSH_RC" -eq 75 ]
	grep -q "wrote back the 3000 records" push.err
	replay_and_drain
	assert_exact a.jsonl
}

@test "the spool directory replaced by a file, so it cannot be made again: every record counted as not stored, 74, never 0" {
	gen a.jsonl 3000 28
	gen b.jsonl 3000 29
	start_push
	feed a.jsonl 3000
	rm -r "$SIMLOG_SPOOL_DIR"
	echo "not a directory" > "$SIMLOG_SPOOL_DIR"
	# The push stops reading once its spool is unusable: a pipe it
	# no longer reads may break.
	cat b.jsonl >&5 || true
	finish_push
	[ "$PUSH_RC" -eq 74 ]
	out=$(cat push.out)
	read=$(jnum read "$out")
	[ "$read" -gt 3000 ]
	[ "$(jnum failed "$out")" = "$read" ]
	[ "$(jnum spooled "$out")" = 0 ]
	[ "$(jnum pushed "$out")" = 0 ]
	grep -q "^simlog-push: $read records were not stored anywhere: spool .*: Not a directory" push.err
}

@test "the default spool is never under /tmp: XDG_STATE_HOME, else the home directory, else the password database's home" {
	run -0 env -u SIMLOG_SPOOL_DIR simlog-push --spool-status
	[[ "$(jget "${lines[-1]}" '$.spool')" == "$XDG_STATE_HOME"/simlog/spool/* ]]
	run -0 env -u SIMLOG_SPOOL_DIR -u XDG_STATE_HOME HOME="$BATS_TEST_TMPDIR/home" \
	    simlog-push --spool-status
	[[ "$(jget "${lines[-1]}" '$.spool')" == "$BATS_TEST_TMPDIR"/home/.local/state/simlog/spool/* ]]
	home=$(getent passwd "$(id -u)" | cut -d: -f6)
	run -0 env -u SIMLOG_SPOOL_DIR -u XDG_STATE_HOME -u HOME \
	    simlog-push --spool-status
	spool=$(jget "${lines[-1]}" '$.spool')
	echo "spool without HOME: $spool"
	[[ "$spool" != /tmp/* ]]
	if [ -d "$home" ] && [ "$home" != / ]; then
		[[ "$spool" == "$home"/.local/state/simlog/spool/* ]]
	else
		[[ "$spool" == /var/lib/simlog/spool-"$(id -u)"/* ]]
	fi
}

# spool_runs N: N spooled runs of 20,000 records each (simulations r1..rN,
# files r1.jsonl ...), Redis down; one segment each.
spool_runs() {
	local i
	for ((i = 1; i <= $1; i++)); do
		gen "r$i.jsonl" 20000 "$((60 + i))"
		simlog-push -s "r$i" < "r$i.jsonl" > /dev/null 2>&1 || true
	done
	[ "$(segments)" -eq "$1" ]
}

@test "a replay leaves a segment another process holds, and says so (75); the rest lands; a later replay takes it; exact" {
	spool_runs 3
	start_redis main
	seg=$(find "$SIMLOG_SPOOL_DIR" -name '*.seg' | sort | sed -n 2p)
	flock -o -x "$seg" sleep 60 3>&- &
	HOLDER=$!
	track "$HOLDER"
	wait_until "the holder to lock $seg" bash -c "! flock -n '$seg' true"
	run --separate-stderr simlog-push --replay
	echo "$stderr"
	assert_equal "$status" 75
	assert_equal "$(jnum replayed "$output")" 40000
	[[ $stderr == *"simlog-push: 20000 records in 1 segment of the spool "*" are held by other running processes (another replay, or a push writing its own spool): left to them"* ]]
	kill "$HOLDER"
	wait "$HOLDER" 2>/dev/null || true
	replay
	assert_equal "$REPLAYED" 20000
	drain_all
	assert_exact r1.jsonl r2.jsonl r3.jsonl
}

@test "three replays at once: each ends 0, or 75 saying which segments the others hold; together every record once" {
	spool_runs 6
	start_redis main
	for i in 1 2 3; do
		simlog-push --replay > "rp$i.out" 2> "rp$i.err" 3>&- &
		eval "RP$i=\$!"
	done
	total=0
	for i in 1 2 3; do
		rc=0
		eval "wait \$RP$i" || rc=$?
		echo "replay $i: $rc $(cat "rp$i.out") $(cat "rp$i.err")"
		[[ $rc -eq 0 || $rc -eq 75 ]]
		if [ "$rc" -eq 75 ]; then
			grep -q "are held by other running processes" "rp$i.err"
		fi
		total=$((total + $(jnum replayed "$(cat "rp$i.out")")))
	done
	assert_equal "$total" 120000
	assert_equal "$(segments)" 0
	drain_all
	assert_exact r1.jsonl r2.jsonl r3.jsonl r4.jsonl r5.jsonl r6.jsonl
}

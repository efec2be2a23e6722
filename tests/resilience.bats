#!/usr/bin/env bats
# Failure handling end to end (simlog(7) FAILURE HANDLING): retries, the
# shared circuit breaker, priorities, the spool and its replay,
# --max-backlog, against a real redis-server and real faults (not running,
# SIGKILL, SIGSTOP, SIGTERM, maxclients, maxmemory, a wrong password).
# Every scenario ends by draining and comparing SQLite with the input:
# nothing lost, nothing doubled.  The retry policy's and the breaker's own
# logic is tests/unit/test_policy.c's and test_breaker.c's.

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	export LC_ALL=C
	cd "$BATS_TEST_TMPDIR"
	unset SIMLOG_SIM SIMLOG_DB SIMLOG_RETRIES SIMLOG_RETRY_FACTOR \
	    SIMLOG_BREAKER_FAILURES SIMLOG_BREAKER_RESET
	# Private state: no test sees another's spool or breaker.
	export SIMLOG_SPOOL_DIR="$BATS_TEST_TMPDIR/spool"
	export SIMLOG_BREAKER_DIR="$BATS_TEST_TMPDIR/brk"
	# Short backoff keeps the file quick; the policy is the same.
	export SIMLOG_RETRY_BASE=0.05 SIMLOG_RETRY_CAP=0.2
	# The socket start_redis main listens on; nothing listens there until
	# a test starts it, which is how "Redis not running" looks.
	export SIMLOG_REDIS_URL="unix://$BATS_TEST_TMPDIR/redis-main/sock"
	DB=$BATS_TEST_TMPDIR/sim.db
}

teardown() {
	kill_tracked
	stop_all_redis
}

AOF=(--appendonly yes --appendfsync always)

# drain_all [options]: drain everything into $DB; the summary is DRAINED.
drain_all() {
	run --separate-stderr simlog-drain -q -d "$DB" "$@"
	if [ "$status" -ne 0 ]; then
		echo "simlog-drain exited $status: $stderr"
		return 1
	fi
	DRAINED=${lines[${#lines[@]} - 1]}
}

# replay [options]: simlog-push --replay must put the whole spool in Redis.
replay() {
	run --separate-stderr simlog-push --replay --timeout 0.5 "$@"
	echo "replay: $output"
	echo "replay stderr: $stderr"
	assert_success
	assert_equal "$(segments)" 0
	REPLAYED=$(jnum replayed "$output")
}

# spool_nonempty: some segment holds a record.
spool_nonempty() {
	[ -n "$(find "$SIMLOG_SPOOL_DIR" -name '*.seg' -size +0c 2>/dev/null)" ]
}

# assert_subset_once FILE: every landed record is a line of FILE, none
# twice.  LANDED is how many landed.
assert_subset_once() {
	sort "$1" > want.sorted
	landed "$DB" > got.sorted
	LANDED=$(wc -l < got.sorted)
	assert_equal "$(uniq -d got.sorted | wc -l)" 0
	assert_equal "$(comm -13 want.sorted got.sorted | wc -l)" 0
}

# paced FILE SLICES PAUSE: FILE on stdout in SLICES pieces, PAUSE seconds
# apart, so that a push of it lasts long enough to be hit by a fault.
paced() {
	local f=$1 n=$2 pause=$3 per part
	per=$(( ($(wc -l < "$f") + n - 1) / n ))
	mkdir -p parts
	split -l "$per" -a 3 "$f" parts/p.
	for part in parts/p.*; do
		cat "$part" || return 0
		sleep "$pause"
	done
}

# push_bg FILE SLICES PAUSE [options]: a paced simlog-push in the
# background; PUSH_PID is its id, push.out and push.err its output.
push_bg() {
	local f=$1 n=$2 pause=$3
	shift 3
	paced "$f" "$n" "$pause" 3>&- |
	    simlog-push "$@" > push.out 2> push.err 3>&- &
	PUSH_PID=$!
	track "$PUSH_PID"
}

@test "Redis not running: everything is spooled (75), replayed once it runs, drained exactly" {
	gen in.jsonl 5000 11
	run --separate-stderr simlog-push -s s1 --timeout 0.5 < in.jsonl
	echo "$output"; echo "$stderr"
	assert_equal "$status" 75
	assert_equal "$(jnum read "$output")" 5000
	assert_equal "$(jnum spooled "$output")" 5000
	assert_equal "$(jnum pushed "$output")" 0
	assert_equal "$(jnum failed "$output")" 0
	[ "$(segments)" -gt 0 ]
	# The breaker state lives where the test said.
	[ -n "$(ls "$SIMLOG_BREAKER_DIR")" ]

	start_redis main
	replay
	assert_equal "$REPLAYED" 5000
	[[ $output == *'"breaker":"closed"'* ]]
	drain_all
	assert_exact in.jsonl
	# Replayed under the simulation they were pushed for.
	assert_equal "$(landed_sim "$DB" | cut -f1 | sort -u)" s1
	assert_equal "$(simlog_keys)" ""
}

@test "a later push replays the spool by itself once Redis is back and the breaker lets it probe" {
	gen a.jsonl 2000 12
	gen b.jsonl 2000 13
	run --separate-stderr simlog-push -s s1b --timeout 0.5 < a.jsonl
	assert_equal "$status" 75
	assert_equal "$(jnum spooled "$output")" 2000
	start_redis main
	# Past the breaker's reset time a run may probe, and finds Redis up.
	sleep 0.6
	run --separate-stderr simlog-push -s s1b --timeout 0.5 \
	    --breaker-reset 0.5 < b.jsonl
	echo "$output"; echo "$stderr"
	assert_success
	assert_equal "$(jnum replayed "$output")" 2000
	assert_equal "$(jnum pushed "$output")" 2000
	assert_equal "$(jnum spooled "$output")" 0
	assert_equal "$(segments)" 0
	drain_all
	assert_exact a.jsonl b.jsonl
}

@test "a replay leaves alone the segment a live push is still writing; it is replayed later" {
	gen in.jsonl 60000 14
	push_bg in.jsonl 12 0.25 -s s1c --timeout 0.5
	wait_until "something spooled" spool_nonempty
	start_redis main
	run --separate-stderr simlog-push --replay --timeout 0.5
	echo "$output"; echo "$stderr"
	# The writer still holds its segment: not taken, still waiting.
	kill -0 "$PUSH_PID"
	assert_equal "$status" 75
	assert_equal "$(jnum replayed "$output")" 0
	[ "$(segments)" -gt 0 ]
	local rc=0
	wait "$PUSH_PID" || rc=$?
	cat push.out push.err
	[[ $rc -eq 0 || $rc -eq 75 ]]
	replay
	drain_all
	assert_exact in.jsonl
}

@test "Redis with appendfsync always killed (SIGKILL) mid-push and restarted, several times" {
	gen in.jsonl 300000 2
	start_redis main "${AOF[@]}"
	push_bg in.jsonl 30 0.15 -s s2 --timeout 0.5 --breaker-reset 0.3
	local k d
	for k in 1 2 3; do
		d=0.$(( RANDOM % 5 + 2 ))
		sleep "$d"
		echo "# kill $k after $d s; push running: $(kill -0 "$PUSH_PID" 2>/dev/null && echo yes || echo no)"
		stop_redis main KILL
		start_redis main "${AOF[@]}"
	done
	local rc=0
	wait "$PUSH_PID" || rc=$?
	cat push.out push.err
	[[ $rc -eq 0 || $rc -eq 75 ]]
	assert_equal "$(jnum read "$(cat push.out)")" 300000
	assert_equal "$(jnum failed "$(cat push.out)")" 0
	replay
	drain_all
	echo "$DRAINED"
	assert_exact in.jsonl
}

@test "Redis frozen (SIGSTOP): push times out and spools (75); the next fails fast through the breaker; replay after SIGCONT" {
	gen a.jsonl 2000 31
	gen b.jsonl 2000 32
	start_redis main
	kill -STOP "$(redis_pid main)"

	run --separate-stderr simlog-push -s s3 --timeout 0.5 < a.jsonl
	echo "$output"; echo "$stderr"
	assert_equal "$status" 75
	assert_equal "$(jnum spooled "$output")" 2000
	[[ $stderr == *"timed out after 0.5 s"* ]]
	[[ $output == *'"breaker":"open"'* ]]

	# Another process: the shared breaker is open, no waiting on timeouts.
	local t0 ms
	t0=$(now_ms)
	run --separate-stderr simlog-push -s s3 --timeout 0.5 < b.jsonl
	ms=$(( $(now_ms) - t0 ))
	echo "# second push took $ms ms"
	echo "$output"; echo "$stderr"
	assert_equal "$status" 75
	assert_equal "$(jnum spooled "$output")" 2000
	[[ $output == *'"breaker":"open"'* ]]
	[[ $stderr == *"circuit breaker open"* ]]
	[ "$ms" -lt 3000 ]

	kill -CONT "$(redis_pid main)"
	replay
	assert_equal "$REPLAYED" 4000
	[[ $output == *'"breaker":"closed"'* ]]
	drain_all
	assert_exact a.jsonl b.jsonl
}

@test "maxclients reached by other connections: push spools naming the cause; replay once they are gone" {
	gen in.jsonl 3000 41
	start_redis main --maxclients 2
	fill_clients

	# Many attempts, so that the cause is named in at least one message
	# whatever the race between Redis's refusal and our first command.
	run --separate-stderr simlog-push -s s4 --timeout 0.5 --retries 10 \
	    --breaker-failures 50 < in.jsonl
	echo "$output"; echo "$stderr"
	assert_equal "$status" 75
	assert_equal "$(jnum spooled "$output")" 3000
	[[ $stderr == *"max number of clients reached"* ]]

	release_clients
	wait_until "a free client slot" eval 'rcli PING | grep -q PONG'
	replay
	assert_equal "$REPLAYED" 3000
	drain_all
	assert_exact in.jsonl
}

@test "maxclients reached: every refused connection names the cause, not a broken pipe" {
	start_redis main --maxclients 1
	fill_clients
	printf '%s\n' '{"type":"a","n":1}' > in.jsonl
	local i bad=0
	for i in 1 2 3 4 5 6 7 8; do
		run --separate-stderr simlog-push -s s4b --timeout 0.5 \
		    --retries 0 --breaker-failures 100 < in.jsonl
		assert_equal "$status" 75
		echo "# $i: $stderr"
		[[ $stderr == *"max number of clients reached"* ]] || bad=$((bad + 1))
	done
	release_clients
	wait_until "a free client slot" eval 'rcli PING | grep -q PONG'
	replay
	drain_all
	printf '%s\n' '{"type":"a","n":1}' '{"type":"a","n":1}' '{"type":"a","n":1}' \
	    '{"type":"a","n":1}' '{"type":"a","n":1}' '{"type":"a","n":1}' \
	    '{"type":"a","n":1}' '{"type":"a","n":1}' > want8
	assert_exact want8
	echo "# $bad of 8 runs did not name the cause"
	assert_equal "$bad" 0
}

# drained_pushed PUSHED SPOOLED: the first drain took every record pushed.
# A chunk whose reply timed out (--timeout 0.5, a loaded machine) is both
# in Redis and in the spool, so it may take some spooled ones too; the
# replay's copies are dropped by batch id, as assert_exact shows.
drained_pushed() {
	local rows
	rows=$(jnum rows "$DRAINED")
	[ "$rows" -ge "$1" ] && [ "$rows" -le $(($1 + $2)) ] ||
		{ echo "drained $rows, pushed $1, spooled $2" >&2; return 1; }
}

@test "maxmemory (noeviction): push spools naming the cause (75); drain right away frees memory; replay; exact" {
	gen in.jsonl 25000 51
	start_redis main --maxmemory 2mb --maxmemory-policy noeviction
	run --separate-stderr simlog-push -s s5 --timeout 0.5 < in.jsonl
	echo "$output"; echo "$stderr"
	assert_equal "$status" 75
	[[ $stderr == *"Redis maxmemory reached (noeviction)"* ]]
	local spooled pushed
	spooled=$(jnum spooled "$output")
	pushed=$(jnum pushed "$output")
	[ "$spooled" -gt 0 ]
	assert_equal "$((spooled + pushed))" 25000

	# Redis is up, only full: the drain that empties it must run now.
	drain_all
	drained_pushed "$pushed" "$spooled"
	replay
	assert_equal "$REPLAYED" "$spooled"
	drain_all
	assert_exact in.jsonl
}

@test "maxmemory (noeviction), breaker out of the way: drain works under OOM; replay; exact" {
	export SIMLOG_BREAKER_FAILURES=1000
	gen in.jsonl 25000 51
	start_redis main --maxmemory 2mb --maxmemory-policy noeviction
	run --separate-stderr simlog-push -s s5 --timeout 0.5 < in.jsonl
	echo "$output"; echo "$stderr"
	assert_equal "$status" 75
	[[ $stderr == *"Redis maxmemory reached (noeviction)"* ]]
	local spooled pushed
	spooled=$(jnum spooled "$output")
	pushed=$(jnum pushed "$output")
	[ "$spooled" -gt 0 ]
	assert_equal "$((spooled + pushed))" 25000
	drain_all
	drained_pushed "$pushed" "$spooled"
	replay
	assert_equal "$REPLAYED" "$spooled"
	drain_all
	assert_exact in.jsonl
}

@test "maxmemory: a spool larger than Redis's free memory still drains in a few replay+drain rounds" {
	export SIMLOG_BREAKER_FAILURES=1000
	gen in.jsonl 40000 52
	start_redis main --maxmemory 2mb --maxmemory-policy noeviction
	run --separate-stderr simlog-push -s s5c --timeout 0.5 < in.jsonl
	echo "$output"
	assert_equal "$status" 75
	[ "$(jnum spooled "$output")" -gt 0 ]
	local round rc
	for round in 1 2 3 4 5 6; do
		drain_all
		echo "# round $round drain: $DRAINED"
		rc=0
		simlog-push --replay --timeout 0.5 > replay.out 2> replay.err || rc=$?
		echo "# round $round replay ($rc): $(cat replay.out)"
		[ "$rc" -eq 0 ] && break
	done
	assert_equal "$rc" 0
	assert_equal "$(segments)" 0
	drain_all
	assert_exact in.jsonl
}

@test "wrong password: 77, records kept in the spool; replay with the right --password-file; exact" {
	gen in.jsonl 3000 61
	start_redis main --requirepass right-secret
	echo wrong-secret > wrong.pw
	echo right-secret > right.pw
	run --separate-stderr simlog-push -s s6 --password-file wrong.pw \
	    --timeout 0.5 < in.jsonl
	echo "$output"; echo "$stderr"
	assert_equal "$status" 77
	assert_equal "$(jnum spooled "$output")" 3000
	assert_equal "$(jnum retries "$output")" 0
	[[ $stderr == *"authentication failed"* ]]
	[ "$(segments)" -gt 0 ]

	# Still refused, and said so: a drain with the wrong password is 77.
	run --separate-stderr simlog-drain -q -d "$DB" --password-file wrong.pw
	assert_equal "$status" 77
	[[ $stderr == *"authentication failed"* ]]

	replay --password-file right.pw
	assert_equal "$REPLAYED" 3000
	drain_all --password-file right.pw
	assert_exact in.jsonl
}

@test "--priority low with Redis down: every record counted as dropped, nothing spooled" {
	gen in.jsonl 3000 71
	run --separate-stderr simlog-push -s s7 --priority low --timeout 0.5 < in.jsonl
	echo "$output"; echo "$stderr"
	# exit_status(): dropped records and nothing worse is 69.
	assert_equal "$status" 69
	assert_equal "$(jnum dropped "$output")" 3000
	assert_equal "$(jnum spooled "$output")" 0
	assert_equal "$(jnum pushed "$output")" 0
	assert_equal "$(jnum failed "$output")" 0
	[[ $output == *'"priority":"low"'* ]]
	assert_equal "$(segments)" 0

	start_redis main
	replay
	assert_equal "$REPLAYED" 0
	drain_all
	: > none
	assert_exact none
}

@test "--priority critical with Redis down and --deadline 1: retries inline, then spools; exact after replay" {
	gen in.jsonl 3000 81
	run --separate-stderr simlog-push -s s8 --priority critical --deadline 1 \
	    --timeout 0.5 < in.jsonl
	echo "$output"; echo "$stderr"
	assert_equal "$status" 75
	assert_equal "$(jnum spooled "$output")" 3000
	[ "$(jnum retries "$output")" -gt 0 ]
	[[ $stderr == *"retry "* ]]
	[[ $output == *'"priority":"critical"'* ]]

	start_redis main
	replay
	assert_equal "$REPLAYED" 3000
	drain_all
	assert_exact in.jsonl
}

@test "push killed (SIGKILL) while spooling: the spool replays cleanly, a prefix of the input, nothing doubled" {
	gen in.jsonl 200000 91
	push_bg in.jsonl 40 0.1 -s s9 --timeout 0.5
	wait_until "something spooled" spool_nonempty
	sleep 0.$(( RANDOM % 4 + 3 ))
	kill -0 "$PUSH_PID"
	kill -KILL "$PUSH_PID"
	wait "$PUSH_PID" || true

	start_redis main
	replay
	echo "# the spool held $REPLAYED records"
	[ "$REPLAYED" -gt 0 ]
	[ "$REPLAYED" -lt 200000 ]
	drain_all
	assert_subset_once in.jsonl
	assert_equal "$LANDED" "$REPLAYED"
	# Chunks are spooled in input order: what landed is the first
	# REPLAYED lines.
	head -n "$REPLAYED" in.jsonl > prefix
	assert_exact prefix
}

@test "a torn last record (a push killed in the middle of writing it) replays cleanly: exit 0, the rest lands" {
	gen in.jsonl 2000 92
	run --separate-stderr simlog-push -s s9b --batch 250 --timeout 0.5 < in.jsonl
	assert_equal "$status" 75
	assert_equal "$(jnum spooled "$output")" 2000
	assert_equal "$(segments)" 1
	# What a SIGKILL between write(2) and fdatasync leaves: a segment
	# never closed (no end mark, no count in its name) whose last record
	# is cut short.  Its 250 records were never counted as spooled.
	local seg open
	seg=$(find "$SIMLOG_SPOOL_DIR" -name '*.seg')
	open=${seg%.n2000.seg}.seg
	[ "$open" != "$seg" ]
	head -c $(( $(stat -c %s "$seg") - 16 - 10 )) "$seg" > "$open"
	rm "$seg"

	start_redis main
	run --separate-stderr simlog-push --replay --timeout 0.5
	echo "$output"; echo "$stderr"
	local rc=$status summary=$output
	drain_all
	head -n 1750 in.jsonl > prefix
	assert_exact prefix
	assert_equal "$(jnum replayed "$summary")" 1750
	assert_equal "$rc" 0
}

@test "a drain loop racing a push whose Redis restarts (SIGTERM, AOF): exact after replay and a last drain" {
	gen in.jsonl 200000 101
	start_redis main "${AOF[@]}"
	push_bg in.jsonl 25 0.12 -s s10 --timeout 0.5 --breaker-reset 0.3
	(
		while [ ! -e stop.drains ]; do
			simlog-drain -q -d "$DB" >> drains.out 2>> drains.err || true
			sleep 0.05
		done
	) 3>&- &
	local loop=$!
	track "$loop"
	sleep 0.$(( RANDOM % 5 + 5 ))
	echo "# restart; push running: $(kill -0 "$PUSH_PID" 2>/dev/null && echo yes || echo no)"
	stop_redis main TERM
	start_redis main "${AOF[@]}"
	local rc=0
	wait "$PUSH_PID" || rc=$?
	touch stop.drains
	wait "$loop"
	cat push.out push.err
	echo "# $(wc -l < drains.out) drain output lines"
	[[ $rc -eq 0 || $rc -eq 75 ]]
	replay
	drain_all
	assert_exact in.jsonl
}

@test "uncertain delivery: a chunk both in Redis and replayed from the spool lands once" {
	gen in.jsonl 2000 111
	run --separate-stderr simlog-push -s s11 --timeout 0.5 < in.jsonl
	assert_equal "$status" 75
	assert_equal "$(jnum spooled "$output")" 2000
	# Keep the spool as it is, to replay it a second time below: as if
	# Redis had applied the chunks but the reply never came.
	cp -a "$SIMLOG_SPOOL_DIR" spool.copy

	start_redis main
	replay
	assert_equal "$REPLAYED" 2000
	rm -rf "$SIMLOG_SPOOL_DIR"
	cp -a spool.copy "$SIMLOG_SPOOL_DIR"
	[ "$(segments)" -gt 0 ]
	replay
	assert_equal "$REPLAYED" 2000
	assert_equal "$(rcli HGET 'simlog:{s11}:n' agent)" \
	    "$(( 2 * $(grep -c '"type":"agent"' in.jsonl) ))"

	drain_all
	echo "$DRAINED"
	[ "$(jnum duplicate_batches "$DRAINED")" -gt 0 ]
	assert_equal "$(jnum rows "$DRAINED")" 2000
	assert_equal "$(jnum duplicate_rows "$DRAINED")" 2000
	assert_exact in.jsonl
	# Both copies are gone from Redis, counters and all.
	assert_equal "$(simlog_keys)" ""
}

@test "--max-backlog: normal spools, critical waits then spools; drain, replay, drain: exact" {
	gen a.jsonl 3000 121
	gen b.jsonl 1000 122
	gen c.jsonl 1000 123
	cat a.jsonl b.jsonl c.jsonl | sort | uniq -d > dups
	[ ! -s dups ]
	start_redis main
	run --separate-stderr simlog-push -s s12 < a.jsonl
	assert_success

	run --separate-stderr simlog-push -s s12 --max-backlog 1000 \
	    --timeout 0.5 < b.jsonl
	echo "$output"; echo "$stderr"
	assert_equal "$status" 75
	assert_equal "$(jnum spooled "$output")" 1000
	assert_equal "$(jnum pushed "$output")" 0
	[[ $stderr == *"--max-backlog"* ]]
	# Refused for backlog, Redis is fine: the breaker stays closed.
	[[ $output == *'"breaker":"closed"'* ]]

	run --separate-stderr simlog-push -s s12 --max-backlog 1000 \
	    --priority critical --deadline 1 --timeout 0.5 < c.jsonl
	echo "$output"; echo "$stderr"
	assert_equal "$status" 75
	assert_equal "$(jnum spooled "$output")" 1000
	[ "$(jnum retries "$output")" -gt 0 ]

	drain_all
	assert_equal "$(jnum rows "$DRAINED")" 3000
	replay
	assert_equal "$REPLAYED" 2000
	drain_all
	assert_exact a.jsonl b.jsonl c.jsonl
}

@test "--spool-max: a full spool is said on stderr, exit 74; spooled + failed + pushed = read" {
	gen in.jsonl 5000 131
	run --separate-stderr simlog-push -s s13 --batch 50 --spool-max 20000 \
	    --timeout 0.5 < in.jsonl
	echo "$output"; echo "$stderr"
	assert_equal "$status" 74
	[[ $stderr == *"full"* ]]
	local read spooled failed pushed
	read=$(jnum read "$output")
	spooled=$(jnum spooled "$output")
	failed=$(jnum failed "$output")
	pushed=$(jnum pushed "$output")
	[ "$spooled" -gt 0 ]
	[ "$failed" -gt 0 ]
	[ "$read" -le 5000 ]
	assert_equal "$(jnum dropped "$output")" 0
	local rejected
	rejected=$(jnum rejected "$output")
	assert_equal "$((spooled + failed + pushed + rejected))" "$read"

	start_redis main
	replay
	assert_equal "$REPLAYED" "$spooled"
	drain_all
	# What the spool took is the start of the input, in order.
	head -n "$spooled" in.jsonl > prefix
	assert_exact prefix

	# Every input line is a good record: none may be refused.  Stopping
	# to read must not turn the part of a line read so far into a line.
	assert_equal "$rejected" 0
	assert_equal "$((spooled + failed + pushed))" "$read"
}

@test "drain: unreachable Redis with the breaker open exits 75 at once" {
	gen in.jsonl 1000 141
	run --separate-stderr simlog-push -s s14 --timeout 0.5 < in.jsonl
	assert_equal "$status" 75
	[[ $output == *'"breaker":"open"'* ]]

	local t0 ms
	t0=$(now_ms)
	run --separate-stderr simlog-drain -q -d "$DB" --timeout 0.5
	ms=$(( $(now_ms) - t0 ))
	echo "# drain took $ms ms: $stderr"
	assert_equal "$status" 75
	[[ $stderr == *"circuit breaker open"* ]]

	start_redis main
	replay
	drain_all
	assert_exact in.jsonl
}

@test "drain: a database locked by another writer is waited for, then drained exactly" {
	gen a.jsonl 1000 151
	gen b.jsonl 1000 152
	start_redis main
	run simlog-push -s s15 < a.jsonl
	assert_success
	drain_all
	run simlog-push -s s15 < b.jsonl
	assert_success

	db_hold "$DB" "BEGIN IMMEDIATE;"
	simlog-drain -q -d "$DB" > drain.out 2> drain.err 3>&- &
	local dpid=$! rc=0
	track "$dpid"
	sleep 0.5
	# Still there, waiting for the lock rather than failing.
	kill -0 "$dpid"
	db_release
	wait "$dpid" || rc=$?
	cat drain.out drain.err
	assert_equal "$rc" 0
	assert_equal "$(jnum rows "$(tail -n 1 drain.out)")" 1000
	assert_exact a.jsonl b.jsonl
}

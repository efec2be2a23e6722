#!/usr/bin/env bats
# simlog-drain against a PostgreSQL that stops answering: the whole server
# (postmaster and backends) frozen with SIGSTOP, mid-drain and before the
# drain starts, and a SIGTERM to a drain waiting on it.  Every wait on the
# server is bounded by --timeout; what was committed is never committed
# twice, and once the server is back a new drain lands every record once.
# The seconds each fault took are printed as comments, never asserted.

bats_require_minimum_version 1.5.0

setup_file() {
	load helpers
	load pg_helpers
	pg_start
}

teardown_file() {
	load pg_helpers
	pg_thaw
	pg_stop
}

setup() {
	load helpers
	load pg_helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	pg_newdb
}

teardown() {
	pg_thaw
	kill_tracked
	stop_all_redis
}

# exact_batches: exact, and no batch recorded twice over.
exact_batches() {
	exact
	assert_equal "$(pq 'SELECT sum(records) FROM simlog_batches')" "$(wc -l < want)"
}

now() {
	date +%s.%N
}

# since T: seconds from T until now, to the hundredth.
since() {
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}

# in_poll PID: whether PID's main thread sleeps in poll(2).
in_poll() {
	local w s
	w=$(cat "/proc/$1/wchan" 2>/dev/null) || return 1
	case $w in *poll*) return 0 ;; esac
	# Where wchan is hidden: the syscall (x86-64: poll 7, ppoll 271).
	s=$(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null) || return 1
	[ "$(uname -m)" = x86_64 ] && { [ "$s" = 7 ] || [ "$s" = 271 ]; }
}

# stuck_in_poll PID: in poll(2) now and still a moment later: waiting on
# the frozen server, not on Redis, which answers in microseconds.
stuck_in_poll() {
	in_poll "$1" && sleep 0.3 && in_poll "$1"
}

# sigterm_when_frozen [OPTION...]: a drain of the backlog, with a
# --timeout far longer than the test waits (only the SIGTERM can end its
# wait on the frozen server), meets a frozen server and gets a SIGTERM:
# it stops, with status 0; then the server is thawed.
sigterm_when_frozen() {
	local pid st=0 t0 took
	simlog-drain -q -d "$PGURL" --timeout 100 --batch 2000 "$@" \
	    > d.out 2> d.err 3>&- &
	pid=$!
	track "$pid"
	wait_until "rows to land" batches_over 3
	pg_freeze
	wait_until "the drain to wait on the frozen server" stuck_in_poll "$pid"
	kill -TERM "$pid"
	t0=$(now)
	wait_until "the drain to stop" gone "$pid"
	took=$(since "$t0")
	wait "$pid" || st=$?
	cat d.err
	echo "# stopped $took s after SIGTERM"
	assert_equal "$st" 0
	! grep -q "no answer within" d.err
	pg_thaw
}

# the_rest: a new drain lands the rest; every record once.
the_rest() {
	run --separate-stderr simlog-drain -q -d "$PGURL"
	echo "$stderr"
	assert_success
	exact_batches
}

@test "pg frozen mid-drain: 75 within --timeout x tries, nothing committed twice; thawed, every record once" {
	"$SIMGEN" --ids -n 100000 -s 201 > in.jsonl
	push s in.jsonl
	want s in.jsonl
	simlog-drain -q -d "$PGURL" -s none > /dev/null
	local pid st=0 t0 took
	SIMLOG_RETRIES=2 SIMLOG_RETRY_CAP=0.2 simlog-drain -q -d "$PGURL" \
	    --timeout 1 --busy-timeout 1 --batch 2000 > d.out 2> d.err 3>&- &
	pid=$!
	track "$pid"
	wait_until "rows to land" batches_over 5
	pg_freeze
	t0=$(now)
	wait_until "the drain to give up on the frozen server" gone "$pid"
	took=$(since "$t0")
	wait "$pid" || st=$?
	cat d.err
	echo "# mid-drain: gave up after $took s (--timeout 1, 2 retries)"
	assert_equal "$st" 75
	grep -q "no answer within" d.err
	grep -q 'retry 2 in' d.err
	# Started while the server is frozen: the same, at connecting.
	t0=$(now)
	SIMLOG_RETRIES=2 SIMLOG_RETRY_CAP=0.2 run --separate-stderr \
	    simlog-drain -q -d "$PGURL" --timeout 1
	took=$(since "$t0")
	echo "$stderr"
	echo "# at start: gave up after $took s (--timeout 1, 2 retries)"
	assert_equal "$status" 75
	[[ $stderr == *"$PGURL: cannot connect: no answer within 1 s (--timeout)"* ]]
	pg_thaw
	the_rest
}

@test "pg frozen under a --follow drain, a producer pushing: SIGTERM stops it at once; thawed, every record once" {
	"$SIMGEN" --ids -n 60000 -s 202 > in.jsonl
	"$SIMGEN" --ids -n 40000 -s 203 > more.jsonl
	push s in.jsonl
	want s in.jsonl
	want t more.jsonl
	simlog-drain -q -d "$PGURL" -s none > /dev/null
	local producer st=0
	simlog-push -s t --batch 64 < more.jsonl > more.out 3>&- &
	producer=$!
	track "$producer"
	sigterm_when_frozen -f
	wait "$producer" || st=$?
	assert_equal "$st" 0
	assert_equal "$(jnum pushed "$(cat more.out)")" 40000
	the_rest
}

@test "pg: a SIGTERM to a one-shot drain waiting on a frozen server: stopped, nothing lost or doubled" {
	"$SIMGEN" --ids -n 60000 -s 204 > in.jsonl
	push s in.jsonl
	want s in.jsonl
	simlog-drain -q -d "$PGURL" -s none > /dev/null
	sigterm_when_frozen
	the_rest
}

@test "pg frozen under an idle --follow drain: the next records meet it, 75 within --timeout x tries; thawed, every record once" {
	"$SIMGEN" --ids -n 3000 -s 205 > a.jsonl
	"$SIMGEN" --ids -n 3000 -s 206 > b.jsonl
	push s a.jsonl
	want s a.jsonl
	local pid st=0 t0 took
	# The default --busy-timeout (30 s): only a statement waiting for a
	# lock may take it, not the BEGIN that meets the frozen server.
	SIMLOG_RETRIES=2 SIMLOG_RETRY_CAP=0.2 simlog-drain -q -f -d "$PGURL" \
	    --timeout 1 > f.out 2> f.err 3>&- &
	pid=$!
	track "$pid"
	wait_until "the first records" batches_over $(( (3000 + 255) / 256 - 1 ))
	pg_freeze
	push s b.jsonl
	want s b.jsonl
	t0=$(now)
	wait_until "the drain to give up on the frozen server" gone "$pid"
	took=$(since "$t0")
	wait "$pid" || st=$?
	cat f.err
	echo "# idle --follow: gave up $took s after the next records came (--timeout 1, 2 retries)"
	assert_equal "$st" 75
	grep -q "starting a transaction: no answer within 1 s (--timeout)" f.err
	pg_thaw
	the_rest
}

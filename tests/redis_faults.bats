#!/usr/bin/env bats
# Redis failing under the tools, each fault caused for real against a real
# redis-server: frozen (SIGSTOP) before push connects, in the middle of a
# paced producer that measures its longest blocked write(2), and under
# simlog-drain --follow; killed (SIGKILL, AOF) and restarted under a push
# and under --follow, and restarted into a dataset that loads for seconds;
# down from the start under a fast producer.  Every scenario ends by
# comparing SQLite with the input: nothing lost or doubled.  Beside them,
# the shared circuit breaker as the tools meet it: files stamped in the
# future, ping closing it, the message an open breaker gives.
#
# These are the real-process smoke tests: the breaker's and the retry
# policy's logic on every clock step, both ways, is proven without waiting
# by tests/unit/test_breaker.c and test_policy.c; here, the tools must
# live through the real thing.  Settings are the defaults unless a test
# says otherwise; the only time bounds are generous ones that catch a tool
# that never ends.  Measured numbers are printed as "# ..." lines.

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	load failover	# replay, drain_all
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	# Where start_redis main listens; until a test starts it, nothing
	# does, which is how "Redis is down" looks.
	export SIMLOG_REDIS_URL="unix://$BATS_TEST_TMPDIR/redis-main/sock"
	DB=$BATS_TEST_TMPDIR/sim.db
	PACE=$SIMLOG_TOP/bench/pace
}

teardown() {
	kill_tracked
	stop_all_redis
}

AOF=(--appendonly yes --appendfsync always)

# measured WHAT...: a measured number, in the test's output and in the
# TAP stream (so a passing run shows it too).
measured() {
	echo "# $*"
	echo "# $*" >&3
}

# paced_push RATE COUNT FILE [simlog-push options]: bench/pace writes
# COUNT of FILE's lines at RATE records/s into a simlog-push in the
# background.  PUSH_PID is the push; pace.err gets pace's summary, push.out
# and push.err the push's.
paced_push() {
	local rate=$1 count=$2 file=$3
	shift 3
	"$PACE" -n "$count" -r "$rate" "$file" 2> pace.err 3>&- |
	    simlog-push "$@" > push.out 2> push.err 3>&- &
	PUSH_PID=$!
	track "$PUSH_PID"
}

# finish_push: wait for the paced push; PUSH_STATUS is its exit status,
# LONGEST the longest write(2) pace made, in whole ms.
finish_push() {
	PUSH_STATUS=0
	wait "$PUSH_PID" || PUSH_STATUS=$?
	cat pace.err push.out push.err
	LONGEST=$(jnum longest_write_ms "$(cat pace.err)")
	[ -n "$LONGEST" ]
	measured "longest write: $(grep -o '"longest_write_ms":[0-9.]*' pace.err | cut -d: -f2) ms"
}

# assert_exact_paced FILE: the record tables hold exactly FILE's lines,
# each once, as pace wrote them (with its "t_ns" stamp first).
assert_exact_paced() {
	sort "$1" > want.sorted
	landed "$DB" | sed 's/^{"t_ns":[0-9]*,/{/' | sort > got.sorted
	if ! cmp -s want.sorted got.sorted; then
		echo "want $(wc -l < want.sorted) records, landed $(wc -l < got.sorted)"
		echo "missing: $(comm -23 want.sorted got.sorted | wc -l)"
		echo "extra or doubled: $(comm -13 want.sorted got.sorted | wc -l)"
		return 1
	fi
	# Every landed record was stamped: none came from elsewhere.
	assert_equal "$(landed "$DB" | grep -vc '^{"t_ns":[0-9]*,')" 0
}

# landed_count: how many rows the record tables of $DB hold in all (0
# before the drain has made it).
landed_count() {
	local t n=0 c
	[ -f "$DB" ] || { echo 0; return; }
	for t in $(record_tables "$DB" 2>/dev/null); do
		c=$(rows "$DB" "$t" 2>/dev/null) || c=
		# Locked for a moment by the drain: say so, not a number.
		[[ $c =~ ^[0-9]+$ ]] || { echo busy; return; }
		n=$(( n + c ))
	done
	echo "$n"
}

# pushed_some SIM: Redis holds records of SIM, or a drain took some.
pushed_some() {
	[ "$(rcli XLEN "simlog:{$1}:q" 2>/dev/null)" -gt 0 ] 2>/dev/null ||
	    [ "$(landed_count)" -gt 0 ] 2>/dev/null
}

# push_settled: the paced push's summary accounts for every record it
# read, none failed or dropped; PUSHED, SPOOLED are its counts.
push_settled() {
	local out
	out=$(cat push.out)
	PUSHED=$(jnum pushed "$out")
	SPOOLED=$(jnum spooled "$out")
	assert_equal "$(jnum read "$out")" "$1"
	assert_equal "$(jnum failed "$out")" 0
	assert_equal "$(jnum dropped "$out")" 0
	assert_equal "$((PUSHED + SPOOLED))" "$1"
	measured "push: exit $PUSH_STATUS, $PUSHED pushed, $SPOOLED spooled," \
	    "$(jnum replayed "$out") replayed by itself, $(segments) segment(s) left"
	# 0 when everything ended in Redis, 75 when some waits in the spool.
	if [ "$(segments)" -eq 0 ]; then
		assert_equal "$PUSH_STATUS" 0
	else
		assert_equal "$PUSH_STATUS" 75
	fi
}

# follow NAME [options]: simlog-drain --follow in the background; its id in
# FOLLOW_PID, its output in NAME.out and NAME.err.
follow() {
	local name=$1
	shift
	simlog-drain -q -d "$DB" --follow "$@" > "$name.out" 2> "$name.err" 3>&- &
	FOLLOW_PID=$!
	track "$FOLLOW_PID"
}

# stop_follow: SIGTERM the follow drain, which must end within 30 s;
# FOLLOW_STATUS is its exit status.
stop_follow() {
	kill -TERM "$FOLLOW_PID"
	within 30 "simlog-drain --follow to end on SIGTERM" gone "$FOLLOW_PID"
	FOLLOW_STATUS=0
	wait "$FOLLOW_PID" || FOLLOW_STATUS=$?
}

# assert_lost_and_back FILE: FILE (a follow drain's stderr) says once that
# Redis was lost and then once that it is back, and nothing else.
assert_lost_and_back() {
	echo "--- $1:"
	cat "$1"
	measured "the drain said $(wc -l < "$1") line(s):" \
	    "$(head -n 2 "$1" | tr '\n' '|')$([ "$(wc -l < "$1")" -le 2 ] || echo ...)"
	assert_equal "$(wc -l < "$1")" 2
	sed -n 1p "$1" | grep -Eq '(retrying until Redis is back|; waiting)$'
	sed -n 2p "$1" | grep -q ': Redis is back$'
}

# fnv1a STRING: FNV-1a, 64 bits, in 16 hex digits (bash wraps at 2^64).
fnv1a() {
	local s=$1 h=$((0xcbf29ce484222325)) i c
	for ((i = 0; i < ${#s}; i++)); do
		printf -v c '%d' "'${s:i:1}"
		h=$(( (h ^ c) * 0x100000001b3 ))
	done
	printf '%016x\n' "$h"
}

# breaker_file: the breaker file of the unix socket server start_redis
# main runs (lib/breaker.c: breaker-<FNV-1a of the endpoint>).
breaker_file() {
	echo "$SIMLOG_BREAKER_DIR/breaker-$(fnv1a "unix://$BATS_TEST_TMPDIR/redis-main/sock")"
}

# breaker_state FILE: the state number in a breaker file (0 closed, 1 open,
# 2 half-open).
breaker_state() {
	cut -d' ' -f1 "$1"
}

# stamp_future FILE SECONDS: move every time in a breaker file SECONDS
# into the future (a clock that was set back), keeping state and reason.
stamp_future() {
	local f=$1 t line head why state fails opened pid probe
	t=$(( $(date +%s) + $2 ))
	line=$(cat "$f")
	head=${line%%$'\t'*}
	why=${line#*$'\t'}
	read -r state fails opened pid probe <<< "$head"
	printf '%s %s %s.000 %s %s.000\t%s\n' "$state" "$fails" "$t" "$pid" \
	    "$t" "$why" > "$f.new"
	cat "$f.new" > "$f"
	rm -f "$f.new"
}

# gives_up NAME INPUT CMD...: CMD in the background, reading INPUT, its
# output in NAME.out and NAME.err; it must end by itself within 40 s (a
# bound that only catches a hang).  RC is its exit status, MS how long it
# ran in milliseconds.
gives_up() {
	local name=$1 input=$2 t0 pid
	shift 2
	t0=$(now_ms)
	"$@" < "$input" > "$name.out" 2> "$name.err" 3>&- &
	pid=$!
	track "$pid"
	within 40 "$1 to give up on a frozen Redis" gone "$pid"
	MS=$(( $(now_ms) - t0 ))
	RC=0
	wait "$pid" || RC=$?
	cat "$name.out" "$name.err"
}

@test "Redis frozen (SIGSTOP) before push connects: push gives up by itself (75), everything spooled; after SIGCONT, replay and drain are exact" {
	gen in.jsonl 5000 201
	start_redis main
	kill -STOP "$(redis_pid main)"
	gives_up push in.jsonl simlog-push -s f1
	measured "push gave up after $MS ms ($(grep -o '"seconds":[0-9.]*' push.out | cut -d: -f2) s by its summary)"
	assert_equal "$RC" 75
	assert_equal "$(jnum read "$(cat push.out)")" 5000
	assert_equal "$(jnum spooled "$(cat push.out)")" 5000
	assert_equal "$(jnum pushed "$(cat push.out)")" 0
	assert_equal "$(jnum failed "$(cat push.out)")" 0
	grep -q 'timed out after 2 s' push.err

	kill -CONT "$(redis_pid main)"
	replay
	assert_equal "$REPLAYED" 5000
	drain_all
	assert_exact in.jsonl
}

# The faults, as commands a scenario runs in the middle of its producer.
freeze() {
	kill -STOP "$(redis_pid main)"
	echo "# frozen at $(now_ms) ms"
	sleep "$1"
	kill -CONT "$(redis_pid main)"
	echo "# thawed at $(now_ms) ms"
}

kill_restart() {
	stop_redis main KILL
	echo "# killed at $(now_ms) ms"
	sleep "$1"
	start_redis main "${AOF[@]}"
	echo "# restarted at $(now_ms) ms"
}

# push_through SIM SEED RATE COUNT FAULT...: COUNT fresh records from a
# producer paced at RATE records/s into simlog-push -s SIM (and the options
# in the array PUSH_OPTS, if set); once Redis holds some, FAULT... runs.
# The push must account for every record; the caller checks what the
# fault showed, then replay_and_check.
push_through() {
	local sim=$1 seed=$2 rate=$3 count=$4
	shift 4
	gen in.jsonl "$count" "$seed"
	paced_push "$rate" "$count" in.jsonl -s "$sim" ${PUSH_OPTS[@]+"${PUSH_OPTS[@]}"}
	wait_until "records in Redis" pushed_some "$sim"
	sleep 1
	"$@"
	finish_push
	push_settled "$count"
}

# replay_and_check: replay the spool, drain; exactly in.jsonl landed.
replay_and_check() {
	replay
	drain_all
	echo "$DRAINED"
	assert_exact_paced in.jsonl
}

# follow_through SIM SEED COUNT FAULT...: push_through at 10,000 records/s
# (COUNT records) while simlog-drain --follow runs.  The drain must live
# through the fault, drain everything (the spool replayed), say lost and
# back once each, end with 0 on SIGTERM and leave nothing behind.
follow_through() {
	local sim=$1 seed=$2 count=$3
	shift 3
	follow f
	push_through "$sim" "$seed" 10000 "$count" "$@"
	gone "$FOLLOW_PID" && { cat f.err; false; }
	replay
	within 60 "the follow drain to land every record" \
	    eval '[ "$(landed_count)" -eq '"$count"' ] 2>/dev/null'
	stop_follow
	cat f.out
	assert_equal "$FOLLOW_STATUS" 0
	drain_all
	assert_equal "$(jnum rows "$DRAINED")" 0
	assert_exact_paced in.jsonl
	assert_lost_and_back f.err
}

@test "Redis frozen for 3 s mid-stream under a 20,000 records/s producer: no write blocks past --timeout plus slack; exact after replay and drain" {
	start_redis main
	# 7 s of input, the freeze (longer than --timeout) in its middle.
	push_through f2 202 20000 140000 freeze 3
	# The freeze came while it ran: a reply timed out.
	grep -q 'timed out after 2 s' push.err
	# Default --timeout 2 s, plus 1.5 s of slack for a loaded machine.
	[ "$LONGEST" -lt 3500 ]
	replay_and_check
}

@test "Redis frozen mid-stream longer than push tries: it spools, probes, sends again; no write blocks past --timeout plus slack; exact" {
	start_redis main
	# Its tries take about 4 x --timeout plus backoff (2.7 s at most):
	# a 5 s freeze outlasts them.  The probes come every --breaker-reset
	# after that, so the first after the thaw comes well before the end
	# of the 12 s of input.  (Tries and probes on every clock step:
	# tests/unit/test_policy.c, test_breaker.c.)
	PUSH_OPTS=(--timeout 0.5 --breaker-reset 1)
	push_through f16 218 10000 120000 freeze 5
	grep -q 'spooling records to' push.err
	grep -q 'Redis is back; sending records again' push.err
	[ "$LONGEST" -lt 3500 ]
	replay_and_check
}

@test "Redis killed (SIGKILL, appendfsync always) and restarted under a running push: exact after replay and drain" {
	start_redis main "${AOF[@]}"
	push_through f3 203 10000 60000 kill_restart 0
	# It met the kill (and said so).
	[ -s push.err ]
	replay_and_check
}

@test "Redis killed (SIGKILL, appendfsync always) and restarted under simlog-drain --follow: it drains on, says lost and back once each, exits 0 on SIGTERM; exact" {
	start_redis main "${AOF[@]}"
	follow_through f4 204 60000 kill_restart 1
}

@test "Redis frozen (SIGSTOP) for 5 s under simlog-drain --follow with a producer running: the drain survives; exact" {
	start_redis main
	# Long enough for the drain's own waits to time out; the producer
	# runs on past the thaw.
	follow_through f5 205 100000 freeze 5
}

# aof_settled: no AOF rewrite is running.
aof_settled() {
	rcli INFO persistence | tr -d '\r' | grep -qx 'aof_rewrite_in_progress:0'
}

@test "Redis killed (SIGKILL) and restarted with a dataset that takes seconds to load: --follow says lost and back once each, not at every LOADING reply; exact" {
	gen a.jsonl 3000 220
	gen b.jsonl 3000 221
	start_redis main "${AOF[@]}"
	# 8,000 other keys in an RDB-preamble AOF base: with a delay per key
	# (a test setting of redis-server), the restart loads for ~4 s and
	# answers LOADING meanwhile, several of --follow's retries long.
	rcli EVAL "for i = 1, 8000 do redis.call('SET', 'pad:' .. i, 'v') end" 0
	rcli BGREWRITEAOF
	wait_until "the AOF rewrite" aof_settled
	run simlog-push -s f17 < a.jsonl
	assert_success
	follow f
	within 30 "the follow drain to land rows" eval '[ "$(landed_count)" -eq 3000 ] 2>/dev/null'
	stop_redis main KILL
	REDIS_LOADING_OK=1 start_redis main "${AOF[@]}" --key-load-delay 500 \
	    --loading-process-events-interval-bytes 1024
	rcli PING | grep -q LOADING
	within 90 "Redis to load its dataset" eval 'rcli PING | grep -q PONG'
	run simlog-push -s f17 < b.jsonl
	assert_success
	within 60 "the follow drain to land the new records" \
	    eval '[ "$(landed_count)" -eq 6000 ] 2>/dev/null'
	stop_follow
	assert_equal "$FOLLOW_STATUS" 0
	assert_exact a.jsonl b.jsonl
	assert_lost_and_back f.err
}

@test "simlog-drain --follow with Redis killed and not back: it waits, says so once, and SIGTERM ends it with 0" {
	gen in.jsonl 3000 215
	start_redis main "${AOF[@]}"
	run simlog-push -s f13 < in.jsonl
	assert_success
	follow f
	within 30 "the follow drain to land rows" eval '[ "$(landed_count)" -eq 3000 ] 2>/dev/null'
	stop_redis main KILL
	# A few of its retries; that any number of them is said once is
	# tests/unit/test_policy.c's (50 retries, no waiting).
	sleep 1
	gone "$FOLLOW_PID" && { cat f.err; false; }
	stop_follow
	cat f.out f.err
	assert_equal "$FOLLOW_STATUS" 0
	assert_equal "$(wc -l < f.err)" 1
	grep -Eq '(retrying until Redis is back|; waiting)$' f.err
	assert_exact in.jsonl
}

@test "simlog-drain --follow with Redis frozen (SIGSTOP): SIGTERM ends it with 0 all the same" {
	gen in.jsonl 3000 216
	start_redis main
	run simlog-push -s f14 < in.jsonl
	assert_success
	follow f
	within 30 "the follow drain to land rows" eval '[ "$(landed_count)" -eq 3000 ] 2>/dev/null'
	kill -STOP "$(redis_pid main)"
	sleep 3
	local t0 ms
	t0=$(now_ms)
	stop_follow
	ms=$(( $(now_ms) - t0 ))
	measured "the frozen follow drain ended $ms ms after SIGTERM"
	cat f.out f.err
	assert_equal "$FOLLOW_STATUS" 0
	kill -CONT "$(redis_pid main)"
	assert_exact in.jsonl
}

@test "a one-shot simlog-drain against a frozen Redis gives up by itself (69, unreachable); after SIGCONT, ping and drain are exact" {
	gen in.jsonl 3000 217
	start_redis main
	run simlog-push -s f15 < in.jsonl
	assert_success
	kill -STOP "$(redis_pid main)"
	gives_up d /dev/null simlog-drain -q -d "$DB"
	measured "the drain gave up after $MS ms"
	assert_equal "$RC" 69
	grep -q 'timed out after 2 s' d.err
	kill -CONT "$(redis_pid main)"
	# Its timeouts opened the breaker; ping waits for Redis and closes it.
	run simlog-ping --wait 10
	assert_success
	drain_all
	assert_exact in.jsonl
}

# drain_gets_through: one one-shot drain, which must either succeed or be
# refused by the open breaker (nothing else); succeeds when it got through.
drain_gets_through() {
	local rc=0
	simlog-drain -q -d "$DB" > try.out 2> try.err || rc=$?
	[ "$rc" -eq 0 ] && return 0
	if [ "$rc" -ne 75 ] || ! grep -q 'circuit breaker open' try.err; then
		echo "drain exited $rc: $(cat try.err)" >&2
		return 2
	fi
	return 1
}

@test "a breaker file stamped an hour in the future does not wedge: drain and push get through within the breaker reset and close it" {
	gen a.jsonl 2000 206
	gen b.jsonl 10000 207
	# A reset of 1 s: the 5 s default and the clock set back both ways
	# are stepped through in tests/unit/test_breaker.c; here the tools
	# must read the file as the library writes it.
	export SIMLOG_BREAKER_RESET=1
	start_redis main
	run simlog-push -s f6 < a.jsonl
	assert_success
	local brk t0 ms
	brk=$(breaker_file)
	# Open, opened an hour from now, by hand as lib/breaker.c writes it.
	mkdir -p -m 700 "$SIMLOG_BREAKER_DIR"
	printf '1 3 %s.000 0 %s.000\tcannot connect to %s: connection refused\n' \
	    $(( $(date +%s) + 3600 )) $(( $(date +%s) + 3600 )) \
	    "$SIMLOG_REDIS_URL" > "$brk"
	chmod 600 "$brk"

	# Refused at first (a time in the future reads as now), then let
	# through once the reset has passed.
	t0=$(now_ms)
	run drain_gets_through
	assert_equal "$status" 1
	grep -q 'circuit breaker open after: cannot connect to .*: connection refused' try.err
	within 30 "a drain to get through the breaker" drain_gets_through
	ms=$(( $(now_ms) - t0 ))
	measured "the drain got through after $ms ms"
	assert_equal "$(breaker_state "$brk")" 0
	DRAINED=$(tail -n 1 try.out)
	assert_equal "$(jnum rows "$DRAINED")" 2000

	# The same for a push that starts while the breaker is open, this
	# time opened by real failures and then moved an hour ahead: it
	# spools, probes after the reset, and sends (and replays) the rest.
	gen c.jsonl 1000 222
	stop_redis main KILL
	run --separate-stderr simlog-push -s f6 < c.jsonl
	assert_equal "$status" 75
	assert_equal "$(breaker_state "$brk")" 1
	stamp_future "$brk" 3600
	cat "$brk"
	start_redis main
	paced_push 2000 10000 b.jsonl -s f6
	finish_push
	assert_equal "$PUSH_STATUS" 0
	[[ $(cat push.out) == *'"breaker":"closed"'* ]]
	# Replayed: c.jsonl, and what it spooled itself before its probe.
	assert_equal "$(jnum replayed "$(cat push.out)")" \
	    "$(( 1000 + $(jnum spooled "$(cat push.out)") ))"
	assert_equal "$(jnum read "$(cat push.out)")" 10000
	assert_equal "$(breaker_state "$brk")" 0
	assert_equal "$(segments)" 0
	drain_all
	sed 's/^{"t_ns":[0-9]*,/{/' <(landed "$DB") | sort > got.sorted
	sort a.jsonl b.jsonl c.jsonl > want.sorted
	cmp want.sorted got.sorted
}

@test "after a Redis restart, 'simlog-ping --wait 10 && simlog-drain' succeeds at once: ping closes the breaker" {
	gen in.jsonl 3000 209
	start_redis main "${AOF[@]}"
	run simlog-push -s f8 < in.jsonl
	assert_success
	stop_redis main KILL
	# A drain against the dead server opens the breaker...
	run --separate-stderr simlog-drain -q -d "$DB"
	echo "$stderr"
	[ "$status" -eq 69 ] || [ "$status" -eq 75 ]
	assert_equal "$(breaker_state "$(breaker_file)")" 1
	# ... and the next one is refused by it.
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_equal "$status" 75
	[[ $stderr == *"circuit breaker open"* ]]

	start_redis main "${AOF[@]}"
	run --separate-stderr bash -c "simlog-ping --wait 10 > /dev/null && simlog-drain -q -d '$DB'"
	echo "$output"; echo "$stderr"
	assert_success
	assert_equal "$(breaker_state "$(breaker_file)")" 0
	assert_exact in.jsonl
}

# breaker_says SIM WHY: a push of 2,000 records (in.jsonl) to a failing
# Redis spools them (75) and opens the breaker; then a drain is refused
# (75) with a message naming the failure (WHY), when the next try comes
# and what to run.
breaker_says() {
	gen in.jsonl 2000 210
	run --separate-stderr simlog-push -s "$1" < in.jsonl
	echo "$output"; echo "$stderr"
	assert_equal "$status" 75
	[[ $output == *'"breaker":"open"'* ]]
	run --separate-stderr simlog-drain -q -d "$DB"
	echo "$stderr"
	assert_equal "$status" 75
	[[ $stderr == *"circuit breaker open after: "*"$2"* ]]
	[[ $stderr == *"next try in "* ]]
	[[ $stderr == *"simlog-ping --wait"* ]]
	[[ $stderr == *"simlog-push --replay"* ]]
}

@test "the open-breaker message names the failure that opened it (connection refused) and what to run" {
	start_redis_tcp main
	local port=$REDIS_PORT
	export SIMLOG_REDIS_URL="redis://127.0.0.1:$port/0"
	stop_redis main
	breaker_says f9 "connection refused"
	start_redis main --port "$port" --bind 127.0.0.1
	replay
	assert_equal "$REPLAYED" 2000
	drain_all
	assert_exact in.jsonl
}

@test "the open-breaker message names the failure that opened it (max number of clients reached) and what to run" {
	start_redis main --maxclients 2
	fill_clients
	breaker_says f10 "max number of clients reached"
	release_clients
	wait_until "a free client slot" eval 'rcli PING | grep -q PONG'
	replay
	assert_equal "$REPLAYED" 2000
	drain_all
	assert_exact in.jsonl
}

@test "Redis down from the start, a 20,000 records/s producer: the producer is not held up while the writer spools; exact after replay" {
	gen in.jsonl 100000 214
	paced_push 20000 100000 in.jsonl -s f12
	finish_push
	assert_equal "$PUSH_STATUS" 75
	assert_equal "$(jnum spooled "$(cat push.out)")" 100000
	assert_equal "$(jnum failed "$(cat push.out)")" 0
	[ "$LONGEST" -lt 1500 ]

	start_redis main
	replay
	assert_equal "$REPLAYED" 100000
	drain_all
	assert_exact_paced in.jsonl
}

#!/usr/bin/env bats
# The faults of issue 9, each caused for real against a real redis-server:
# Redis frozen (SIGSTOP) before push connects and in the middle of a paced
# producer that measures its longest blocked write(2); Redis killed
# (SIGKILL, AOF) and restarted under a push and under simlog-drain
# --follow; a freeze under --follow; a circuit breaker stamped in the
# future; spool segments with flipped bytes, cut short, or full.  Every
# scenario ends by comparing SQLite with the input: nothing lost or
# doubled, and what is lost counted exactly.  Settings are the defaults
# unless a test says otherwise; the only time bounds are generous ones
# that catch a tool that never ends.  Measured numbers are printed as
# "# ..." lines.

bats_require_minimum_version 1.5.0

# The damage tests share one spool: 20,000 records pushed while Redis is
# down, --batch 250, so one segment of 80 chunks of 250 records.  Each
# test copies the segment into its own spool.  Both the writer's thread
# and (its queue full) the producer's spool chunks, so the frames need not
# follow the input: spool-order.jsonl lists the records in frame order,
# learnt by replaying a copy and draining it into one table (-t rec),
# whose row ids follow the frames.
setup_file() {
	load helpers
	simlog_env
	cd "$BATS_FILE_TMPDIR"
	local BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR dir rc=0
	export SIMLOG_SPOOL_DIR="$BATS_FILE_TMPDIR/spool"
	export SIMLOG_BREAKER_DIR="$BATS_FILE_TMPDIR/brk"
	gen spool-in.jsonl 20000 601
	simlog-push -u "unix://$BATS_FILE_TMPDIR/nobody/sock" -s d6 -t rec \
	    --batch 250 --flush-interval 0 < spool-in.jsonl > spool.out \
	    2> spool.err 3>&- || rc=$?
	[ "$rc" -eq 75 ] || { cat spool.out spool.err >&2; return 1; }
	mkdir seg
	find spool -name '*.seg' -exec mv {} seg/ \;
	[ "$(ls seg | wc -l)" -eq 1 ]

	start_redis order
	dir=$(jget "$(simlog-push -u "$REDIS_URL" --spool-status | tail -n 1)" '$.spool')
	mkdir -p "$dir"
	cp seg/*.seg "$dir/"
	simlog-push -u "$REDIS_URL" --replay > order.out 2>&1 3>&-
	simlog-drain -u "$REDIS_URL" -q -d order.db > /dev/null 3>&-
	stop_redis order
	sqlite3 order.db 'SELECT data FROM rec ORDER BY id' > spool-order.jsonl
	cmp <(sort spool-in.jsonl) <(sort spool-order.jsonl)
}

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

# spool_dir: this test's spool directory for its Redis (from
# --spool-status, which names it even when it is empty).
spool_dir() {
	local out
	out=$(simlog-push --spool-status | tail -n 1)
	jget "$out" '$.spool'
}

# use_spool: the shared segment, copied into this test's spool; SEG is its
# path, IN its records in frame order (chunk k is IN's lines 250k+1 ..
# 250k+250).
use_spool() {
	local dir
	dir=$(spool_dir)
	mkdir -p "$dir"
	cp "$BATS_FILE_TMPDIR"/seg/*.seg "$dir/"
	SEG=$(echo "$dir"/*.seg)
	IN=$BATS_FILE_TMPDIR/spool-order.jsonl
	[ -f "$SEG" ]
	frames "$SEG" > frames.txt
}

# frames SEG: "OFFSET PAYLOAD_LENGTH RECORDS" for each record frame of a
# segment, found by walking its length fields (layout in lib/spool.c).
frames() {
	local f=$1 off=0 size magic plen nrec
	size=$(stat -c %s "$f")
	while (( off + 28 <= size )); do
		magic=$(dd if="$f" bs=1 skip="$off" count=4 2>/dev/null)
		[ "$magic" = SLS2 ] || break
		read -r plen nrec < <(od -An -tu4 -j $((off + 4)) -N 8 "$f")
		echo "$off $plen $nrec"
		off=$(( off + 28 + plen ))
	done
}

# frame K: OFF, PLEN of chunk K (0-based) as use_spool found it, before
# any damage.
frame() {
	OFF=
	read -r OFF PLEN _ < <(sed -n "$(( $1 + 1 ))p" frames.txt)
	[ -n "$OFF" ]
}

# flip FILE OFFSET COUNT: invert COUNT bytes of FILE from OFFSET on.
flip() {
	local f=$1 off=$2 n=$3 b out=
	for b in $(od -An -tu1 -j "$off" -N "$n" "$f"); do
		out+=$(printf '\\x%02x' $(( b ^ 255 )))
	done
	# shellcheck disable=SC2059
	printf "$out" | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
}

# without_chunks K...: IN without the records of chunks K..., into
# want.jsonl.
without_chunks() {
	local k expr=
	for k in "$@"; do
		expr+="$(( 250 * k + 1 )),$(( 250 * k + 250 ))d;"
	done
	sed "$expr" "$IN" > want.jsonl
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

@test "the shared spool segment: 80 chunks of 250 records, 20,000 in all, a count in its name" {
	use_spool
	[[ $SEG == *.n20000.seg ]]
	assert_equal "$(wc -l < frames.txt)" 80
	assert_equal "$(cut -d' ' -f3 frames.txt | sort -u)" 250
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
# producer paced at RATE records/s into simlog-push -s SIM; once Redis
# holds some, FAULT... runs.  The push must account for every record; the
# caller checks what the fault showed, then replay_and_check.
push_through() {
	local sim=$1 seed=$2 rate=$3 count=$4
	shift 4
	gen in.jsonl "$count" "$seed"
	paced_push "$rate" "$count" in.jsonl -s "$sim"
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

# follow_through SIM SEED FAULT...: push_through at 10,000 records/s
# (100,000 records) while simlog-drain --follow runs.  The drain must
# live through the fault, drain everything (the spool replayed), say lost
# and back once each, end with 0 on SIGTERM and leave nothing behind.
follow_through() {
	local sim=$1 seed=$2
	shift 2
	follow f
	push_through "$sim" "$seed" 10000 100000 "$@"
	gone "$FOLLOW_PID" && { cat f.err; false; }
	replay
	within 60 "the follow drain to land every record" \
	    eval '[ "$(landed_count)" -eq 100000 ] 2>/dev/null'
	stop_follow
	cat f.out
	assert_equal "$FOLLOW_STATUS" 0
	drain_all
	assert_equal "$(jnum rows "$DRAINED")" 0
	assert_exact_paced in.jsonl
	assert_lost_and_back f.err
}

@test "Redis frozen for 5 s mid-stream under a 20,000 records/s producer: no write blocks past --timeout plus slack; exact after replay and drain" {
	start_redis main
	push_through f2 202 20000 200000 freeze 5
	# The freeze came while it ran: a reply timed out.
	grep -q 'timed out after 2 s' push.err
	# Default --timeout 2 s, plus 1.5 s of slack for a loaded machine.
	[ "$LONGEST" -lt 3500 ]
	replay_and_check
}

@test "Redis frozen for 12 s mid-stream, longer than push tries: it spools, probes, sends again; no write blocks past --timeout plus slack; exact" {
	start_redis main
	# 25 s of input: the probes after the thaw come well before its end.
	push_through f16 218 10000 250000 freeze 12
	grep -q 'spooling records to' push.err
	grep -q 'Redis is back; sending records again' push.err
	[ "$LONGEST" -lt 3500 ]
	replay_and_check
}

@test "Redis killed (SIGKILL, appendfsync always) and restarted under a running push: exact after replay and drain" {
	start_redis main "${AOF[@]}"
	push_through f3 203 10000 100000 kill_restart 0
	# It met the kill (and said so).
	[ -s push.err ]
	replay_and_check
}

@test "Redis killed (SIGKILL, appendfsync always) and restarted under simlog-drain --follow: it drains on, says lost and back once each, exits 0 on SIGTERM; exact" {
	start_redis main "${AOF[@]}"
	follow_through f4 204 kill_restart 1
}

@test "Redis frozen (SIGSTOP) for 5 s under simlog-drain --follow with a producer running: the drain survives; exact" {
	start_redis main
	follow_through f5 205 freeze 5
}

# aof_settled: no AOF rewrite is running.
aof_settled() {
	rcli INFO persistence | tr -d '\r' | grep -qx 'aof_rewrite_in_progress:0'
}

@test "Redis killed (SIGKILL) and restarted with a dataset that takes seconds to load: --follow says lost and back once each, not at every LOADING reply; exact" {
	gen a.jsonl 3000 220
	gen b.jsonl 3000 221
	start_redis main "${AOF[@]}"
	# 20,000 other keys in an RDB-preamble AOF base: with a delay per key
	# (a test setting of redis-server), the restart loads for ~10 s and
	# answers LOADING meanwhile.
	rcli EVAL "for i = 1, 20000 do redis.call('SET', 'pad:' .. i, 'v') end" 0
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
	sleep 3
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
	gen b.jsonl 20000 207
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
	# through once the default reset (5 s) has passed.
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
	paced_push 2000 20000 b.jsonl -s f6
	finish_push
	assert_equal "$PUSH_STATUS" 0
	[[ $(cat push.out) == *'"breaker":"closed"'* ]]
	# Replayed: c.jsonl, and what it spooled itself before its probe.
	assert_equal "$(jnum replayed "$(cat push.out)")" \
	    "$(( 1000 + $(jnum spooled "$(cat push.out)") ))"
	assert_equal "$(jnum read "$(cat push.out)")" 20000
	assert_equal "$(breaker_state "$brk")" 0
	assert_equal "$(segments)" 0
	drain_all
	sed 's/^{"t_ns":[0-9]*,/{/' <(landed "$DB") | sort > got.sorted
	sort a.jsonl b.jsonl c.jsonl > want.sorted
	cmp want.sorted got.sorted
}

@test "a half-open breaker stamped in the future, its probe process alive, does not wedge: a drain gets through within the reset" {
	gen a.jsonl 2000 208
	start_redis main
	run simlog-push -s f7 < a.jsonl
	assert_success
	local brk prober
	brk=$(breaker_file)
	sleep 600 3>&- &
	prober=$!
	track "$prober"
	mkdir -p -m 700 "$SIMLOG_BREAKER_DIR"
	printf '2 3 %s.000 %s %s.000\tmax number of clients reached\n' \
	    $(( $(date +%s) + 3600 )) "$prober" $(( $(date +%s) + 3600 )) > "$brk"
	within 30 "a drain to get through the breaker" drain_gets_through
	assert_equal "$(breaker_state "$brk")" 0
	assert_exact a.jsonl
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

# replay_loses N: with Redis up, a replay of the damaged spool exits 74,
# replays the other 20,000 - N records, says and counts exactly N lost,
# and keeps the segment aside as *.damaged.
replay_loses() {
	start_redis main
	run --separate-stderr simlog-push --replay
	echo "$output"; echo "$stderr"
	assert_equal "$status" 74
	assert_equal "$(jnum spool_lost "$output")" "$1"
	assert_equal "$(jnum replayed "$output")" "$(( 20000 - $1 ))"
	[[ $stderr == *": $1 records lost; "* ]]
	[[ $stderr == *"replaying the spool lost $1 records in 1 damaged segment(s)"* ]]
	assert_equal "$(segments)" 0
	[ -f "$SEG.damaged" ]
}

@test "spool: 4 flipped bytes in one chunk's payload lose exactly its 250 records; exit 74, counted in the message and spool_lost; the segment kept as .damaged" {
	use_spool
	frame 9
	flip "$SEG" $(( OFF + 28 + PLEN / 2 )) 4
	replay_loses 250
	drain_all
	without_chunks 9
	assert_exact want.jsonl
}

@test "spool: flipped header bytes in the first, a middle and the last chunk: every other chunk is recovered, exactly 750 records lost" {
	use_spool
	local k
	for k in 0 40 79; do
		frame "$k"
		flip "$SEG" $(( OFF + 5 )) 2	# the payload length
	done
	replay_loses 750
	drain_all
	without_chunks 0 40 79
	assert_exact want.jsonl
}

@test "spool: a closed segment cut short midway: the loss is counted exactly from its name, the file is kept aside, never deleted" {
	use_spool
	frame 41
	# Cut inside chunk 41's payload: chunks 0-40 (10,250 records) remain.
	truncate -s $(( OFF + 28 + PLEN / 2 )) "$SEG"
	cp "$SEG" cut.copy
	replay_loses 9750
	cmp cut.copy "$SEG.damaged"
	drain_all
	head -n 10250 "$IN" > want.jsonl
	assert_exact want.jsonl
}

@test "spool: a damaged header right before the cut: the loss is counted once, exactly 10,000 records" {
	use_spool
	frame 40
	flip "$SEG" $(( OFF + 5 )) 2
	frame 41
	truncate -s $(( OFF + 28 + PLEN / 2 )) "$SEG"
	replay_loses 10000
	drain_all
	head -n 10000 "$IN" > want.jsonl
	assert_exact want.jsonl
}

@test "spool: --spool-status lists segments, simulations, records and bytes before a replay, and the damaged segment after it" {
	use_spool
	gen g.jsonl 3000 212
	run --separate-stderr simlog-push -s g6 < g.jsonl
	assert_equal "$status" 75
	local dir segd segg
	dir=$(spool_dir)
	segg=$(ls "$dir" | grep -v "^${SEG##*/}\$" | grep '\.seg$')

	run --separate-stderr simlog-push --spool-status
	echo "$output"; echo "$stderr"
	assert_success
	assert_equal "${#lines[@]}" 3
	local d6 g6 total
	d6=$(printf '%s\n' "${lines[@]}" | grep "\"segment\":\"${SEG##*/}\"")
	g6=$(printf '%s\n' "${lines[@]}" | grep "\"segment\":\"$segg\"")
	total=${lines[2]}
	assert_equal "$(jget "$d6" '$.state')" waiting
	assert_equal "$(jget "$d6" '$.chunks')" 80
	assert_equal "$(jget "$d6" '$.records')" 20000
	assert_equal "$(jget "$d6" '$.bytes')" "$(stat -c %s "$SEG")"
	assert_equal "$(jget "$d6" '$.sims.d6')" 20000
	assert_equal "$(jget "$d6" '$.lost_records')" 0
	assert_equal "$(jget "$g6" '$.records')" 3000
	assert_equal "$(jget "$g6" '$.sims.g6')" 3000
	assert_equal "$(jget "$g6" '$.bytes')" "$(stat -c %s "$dir/$segg")"
	assert_equal "$(jget "$total" '$.segments')" 2
	assert_equal "$(jget "$total" '$.records')" 23000
	assert_equal "$(jget "$total" '$.bytes')" \
	    "$(( $(stat -c %s "$SEG") + $(stat -c %s "$dir/$segg") ))"
	assert_equal "$(jget "$total" '$.damaged_segments')" 0

	# Damage seen before the replay: the chunk's records are counted lost.
	frame 3
	flip "$SEG" $(( OFF + 28 + PLEN / 2 )) 4
	run --separate-stderr simlog-push --spool-status
	echo "$output"
	d6=$(printf '%s\n' "${lines[@]}" | grep "\"segment\":\"${SEG##*/}\"")
	assert_equal "$(jget "$d6" '$.records')" 19750
	assert_equal "$(jget "$d6" '$.lost_records')" 250

	start_redis main
	run --separate-stderr simlog-push --replay
	echo "$output"; echo "$stderr"
	assert_equal "$status" 74
	assert_equal "$(jnum replayed "$output")" 22750
	run --separate-stderr simlog-push --spool-status
	echo "$output"; echo "$stderr"
	assert_success
	assert_equal "${#lines[@]}" 2
	segd=${lines[0]}
	total=${lines[1]}
	assert_equal "$(jget "$segd" '$.segment')" "${SEG##*/}.damaged"
	assert_equal "$(jget "$segd" '$.state')" damaged
	assert_equal "$(jget "$segd" '$.lost_records')" 250
	assert_equal "$(jget "$total" '$.damaged_segments')" 1
	assert_equal "$(jget "$total" '$.lost_records')" 250
	drain_all
	without_chunks 3
	assert_exact want.jsonl g.jsonl
}

# spool_full COUNT SEED: push COUNT records with Redis down into a spool
# with room for about 14 chunks of 250; the message and the summary's
# failed must count exactly the records read and not kept (exit 74); what
# was kept replays and lands once.
spool_full() {
	gen in.jsonl "$1" "$2"
	run --separate-stderr simlog-push -s f11 --batch 250 --spool-max 200000 < in.jsonl
	echo "$output"; echo "$stderr"
	printf '%s\n' "$stderr" > push.err
	assert_equal "$status" 74
	local read spooled failed said
	read=$(jnum read "$output")
	spooled=$(jnum spooled "$output")
	failed=$(jnum failed "$output")
	said=$(printf '%s\n' "$stderr" | sed -n 's/.*: \([0-9]*\) records were not stored anywhere: .*/\1/p')
	measured "read $read, spooled $spooled, failed $failed, the message says $said"
	[ "$spooled" -gt 0 ]
	[ "$failed" -gt 0 ]
	[[ $stderr == *"is full"* ]]
	assert_equal "$(jnum pushed "$output")" 0
	assert_equal "$(jnum rejected "$output")" 0
	assert_equal "$said" "$failed"
	assert_equal "$((spooled + failed))" "$read"

	start_redis main
	replay
	assert_equal "$REPLAYED" "$spooled"
	drain_all
	# Kept: records of the input, none twice, as many as were spooled.
	sort in.jsonl > want.sorted
	landed "$DB" > got.sorted
	assert_equal "$(uniq -d got.sorted | wc -l)" 0
	assert_equal "$(comm -13 want.sorted got.sorted | wc -l)" 0
	assert_equal "$(wc -l < got.sorted)" "$spooled"
}

@test "spool full (--spool-max), all input taken before it fills: the message and failed count exactly the records not kept; exit 74" {
	spool_full 20000 213
}

@test "spool full (--spool-max), more input than the writer queues: push stops reading; the message and failed count exactly the records read and not kept; exit 74" {
	spool_full 100000 219
	grep -q 'is full .*; no longer reading input' push.err
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

#!/usr/bin/env bats
# A damaged or full spool, the store of last resort: segments with flipped
# bytes (in a payload, in headers), cut short, or both; a spool that fills
# up (--spool-max).  Each replay must recover every chunk it can, count the
# records it cannot exactly (in its message, spool_lost and exit 74), keep
# the damaged file aside, and what it recovers must land once.

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
}

teardown() {
	stop_all_redis
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

@test "the shared spool segment: 80 chunks of 250 records, 20,000 in all, a count in its name" {
	use_spool
	[[ $SEG == *.n20000.seg ]]
	assert_equal "$(wc -l < frames.txt)" 80
	assert_equal "$(cut -d' ' -f3 frames.txt | sort -u)" 250
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
	echo "# read $read, spooled $spooled, failed $failed, the message says $said" >&3
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

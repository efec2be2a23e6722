#!/usr/bin/env bats
# Poisoned or damaged data, as any client with write access to the buffer's
# Redis (or a damaged spool, or another writer's bug) could plant it: each
# bad entry is set aside whole (id, reason, bytes), every good record lands
# exactly once, no simulation starves another, and the bounds of simlog(7)
# BOUNDS hold.  Chunks are made by hand (layout in simlog(7)) with python3.

bats_require_minimum_version 1.5.0

setup_file() {
	# craft.py chunk OUT 'PYTHON LIST of (type, json) bytes' [BATCH16]
	# craft.py chunkf OUT FLAGS CRC-SEED 'PYTHON LIST' BATCH16: with those
	# flags, the payload's CRC-32 started from CRC-SEED
	# craft.py seg OUT quad|counts: a spool segment (layout in lib/spool.c)
	cat > "$BATS_FILE_TMPDIR/craft.py" <<'EOF'
import struct, sys, zlib

def chunk(recs, bid=b'AAAAAAAABBBBBBBB', flags=0, seed=0):
    raw = b''.join(t + b'\t' + j + b'\n' for t, j in recs)
    return (b'SLC\x01' + bytes([flags]) + b'\0\0\0' + bid +
            struct.pack('<III', len(recs), len(raw), zlib.crc32(raw, seed)) +
            raw)

def frame(sim, ch, nrec, cum):
    pl = bytes([len(sim)]) + sim + ch
    h = b'SLS2' + struct.pack('<IIQ', len(pl), nrec, cum)
    h += struct.pack('<I', zlib.crc32(h))
    return h + struct.pack('<I', zlib.crc32(pl)) + pl

def end(n):
    m = b'SLSE' + struct.pack('<Q', n)
    return m + struct.pack('<I', zlib.crc32(m))

what, out = sys.argv[1], sys.argv[2]
if what == 'chunk':
    data = chunk(eval(sys.argv[3]),
                 sys.argv[4].encode() if len(sys.argv) > 4 else b'AAAAAAAABBBBBBBB')
elif what == 'chunkf':
    data = chunk(eval(sys.argv[5]), sys.argv[6].encode(), int(sys.argv[3], 0),
                 int(sys.argv[4], 0))
else:
    one = chunk([(b'spooled', b'{"k":1}')], b'SPOOLSPOOL000001')
    two = chunk([(b'spooled', b'{"k":2}')], b'SPOOLSPOOL000002')
    if sys.argv[3] == 'quad':
        # A megabyte of old-format headers, each claiming the rest of
        # the file, between two good frames.
        n = (1 << 20) // 12
        junk = b''.join(b'SLS1' + struct.pack('<II', (n - i) * 12, 0)
                        for i in range(n))
        data = frame(b'p', one, 1, 1) + junk + frame(b'p', two, 1, 2)
    else:
        # Checksums that hold around counts that were made up.
        data = (frame(b'p', one, 1, 1) + b'junk' +
                frame(b'p', two, 1, 2**64 - 2**32 + 5) + end(2**64 - 1))
open(out, 'wb').write(data)
EOF
}

setup() {
	load helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	DB=$BATS_TEST_TMPDIR/sim.db
}

teardown() {
	kill_tracked
	stop_all_redis
}

craft() {
	python3 "$BATS_FILE_TMPDIR/craft.py" "$@"
}

# push SIM FILE: every record of FILE into SIM's buffer.
push() {
	local out
	out=$(simlog-push -s "$1" --batch 250 < "$2")
	[ "$(jnum pushed "$out")" -eq "$(grep -c . "$2")" ]
}

# plant SIM FILE: a stream entry for SIM whose chunk field is FILE's bytes,
# added as another client would, past push; ENTRY is its id.
plant() {
	ENTRY=$(rcli -x XADD "simlog:{$1}:q" '*' c < "$2")
}

# stop_follow PID: the --follow drain PID (stderr in f.err), still
# running, ends on SIGTERM; RC is its exit status.
stop_follow() {
	kill -0 "$1"
	kill -TERM "$1"
	RC=0
	wait "$1" || RC=$?
	cat f.err
}

# spooled quad|counts: the crafted segment in this test's spool directory
# for Redis, as dir/0000000000001-1-0.seg (dir: a local of the caller).
spooled() {
	dir=$(simlog-push --spool-status | tail -n 1)
	dir=$(jget "$dir" '$.spool')
	mkdir -p "$dir"
	craft seg "$dir/0000000000001-1-0.seg" "$1"
}

# exported SIM ENTRY FIELD: the bytes of FIELD of the set-aside ENTRY, as
# --corrupt export gives them (base64).
exported() {
	simlog-drain -s "$1" --corrupt export |
		grep "\"id\":\"$2\"" > one.json
	jget "$(cat one.json)" "\$.fields.$3"
}

@test "a record type holding a NUL byte is set aside whole; no row reaches the table of its prefix; the simulations after it drain" {
	gen a.jsonl 2000 101
	gen b.jsonl 2000 102
	gen b2.jsonl 500 112
	gen c.jsonl 2000 103
	push a a.jsonl
	push b b.jsonl
	craft chunk nul.bin "[(b'action\\x00junk', b'{\"poison\":1}'), (b'action', b'{\"poison\":2}')]"
	plant b nul.bin
	push b b2.jsonl
	push c c.jsonl
	run --separate-stderr simlog-drain -q -d "$DB"
	echo "$stderr"
	assert_equal "$status" 65
	assert_equal "$(jnum corrupt "${lines[-1]}")" 1
	assert_equal "$(jnum rows "${lines[-1]}")" 6500
	assert_exact a.jsonl b.jsonl b2.jsonl c.jsonl
	assert_equal "$(sqlite3 "$DB" "SELECT count(*) FROM action WHERE data LIKE '%poison%'")" 0
	assert_equal "$stderr" "simlog-drain: b: entry $ENTRY: record 1 has a record type that is not valid: type has a character outside [A-Za-z0-9_]; moved to simlog:{b}:corrupt"
	# Its bytes intact for a person to look at.
	assert_equal "$(exported b "$ENTRY" c)" "$(base64 -w0 nul.bin)"
	assert_equal "$(simlog_keys)" 'simlog:{b}:corrupt'
	run -0 simlog-drain -q -d "$DB"
	assert_exact a.jsonl b.jsonl b2.jsonl c.jsonl
}

@test "--follow meets a NUL type: it sets the entry aside, drains on, and every simulation's later records land once" {
	gen a.jsonl 1000 121
	gen b.jsonl 1000 122
	gen c.jsonl 1000 123
	simlog-drain -f -q -d "$DB" --commit-interval 0.2 > f.out 2> f.err &
	local pid=$!
	track $pid
	push a a.jsonl
	craft chunk nul.bin "[(b'agent\\x00x', b'{}')]"
	plant b nul.bin
	push b b.jsonl
	push c c.jsonl
	wait_until "every good record" eval '[ "$(landed "$DB" 2>/dev/null | wc -l)" -eq 3000 ]'
	stop_follow $pid
	assert_equal "$RC" 65
	assert_exact a.jsonl b.jsonl c.jsonl
	assert_equal "$(grep -c "moved to simlog:{b}:corrupt" f.err)" 1
	assert_equal "$(rcli XLEN 'simlog:{b}:corrupt')" 1
}

@test "an entry of 10,000 fields is set aside with every field (export gives them back); the next run exits 0" {
	gen a.jsonl 1000 131
	gen a2.jsonl 1000 132
	push a a.jsonl
	awk 'BEGIN { printf "XADD simlog:{a}:q * c x"
		for (i = 1; i <= 10000; i++) printf " f%d v%d", i, i
		print "" }' | rcli > entry.id
	ENTRY=$(cat entry.id)
	push a a2.jsonl
	run --separate-stderr simlog-drain -q -d "$DB"
	echo "$stderr"
	assert_equal "$status" 65
	assert_equal "$stderr" "simlog-drain: a: entry $ENTRY: entry has 10001 fields, more than 8; moved to simlog:{a}:corrupt"
	assert_exact a.jsonl a2.jsonl
	simlog-drain -s a --corrupt export > export.json
	assert_equal "$(jget "$(cat export.json)" '$.id')" "$ENTRY"
	assert_equal "$(jsql "$(cat export.json)" "(SELECT count(*) FROM json_each(j, '\$.fields'))")" 10001
	assert_equal "$(jget "$(cat export.json)" '$.fields.f10000')" "$(printf v10000 | base64)"
	assert_equal "$(jget "$(cat export.json)" '$.fields.c')" "$(printf x | base64)"
	run -0 simlog-drain -q -d "$DB"
	assert_exact a.jsonl a2.jsonl
}

@test "a chunk of 20,000 record types is set aside at once, no table made; a simulation's 1,025th type is set aside too" {
	gen a.jsonl 1000 141
	push a a.jsonl
	craft chunk many.bin "[(b't%d' % i, b'{}') for i in range(20000)]"
	plant a many.bin
	local big=$ENTRY t0 t1
	t0=${EPOCHREALTIME/./}
	run --separate-stderr simlog-drain -q -d "$DB"
	t1=${EPOCHREALTIME/./}
	echo "# a chunk of $(stat -c %s many.bin) bytes, 20,000 types: set aside, drain took $(( (t1 - t0) / 1000 )) ms" >&3
	assert_equal "$status" 65
	[[ $stderr == *"entry $big: chunk holds more than 256 record types; moved to simlog:{a}:corrupt"* ]]
	assert_exact a.jsonl
	types_of() { grep -o '^{"type":"[a-z_]*"' "$1" | cut -d'"' -f4 | sort -u; }
	assert_equal "$(record_tables "$DB")" "$(types_of a.jsonl)"
	# Four chunks of 250 new types each are taken (1,000 tables), a fifth
	# would pass 1,024 and is set aside; old types still land after it.
	local k
	for k in 0 1 2 3 4; do
		craft chunk t$k.bin "[(b'u${k}_%d' % i, b'{}') for i in range(250)]" "KKKKKKKK0000000$k"
		plant b t$k.bin
	done
	local fifth=$ENTRY
	craft chunk old.bin "[(b'u0_1', b'{\"after\":1}')]" KKKKKKKK00000009
	plant b old.bin
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_equal "$status" 65
	assert_equal "$stderr" "simlog-drain: b: entry $fifth: its record types would give the simulation more than 1024; moved to simlog:{b}:corrupt"
	assert_equal "$(record_tables "$DB" | grep -c '^u')" 1000
	assert_equal "$(sqlite3 "$DB" 'SELECT data FROM u0_1 ORDER BY id')" '{}
{"after":1}'
}

@test "a zero-byte record and counters that hold no number: the acknowledgement completes, nothing drifts, every record once" {
	gen z.jsonl 1000 151
	push z z.jsonl
	craft chunk zero.bin "[(b'empty', b''), (b'action', b'{\"zero\":1}')]"
	plant z zero.bin
	rcli HSET 'simlog:{z}:n' empty 1 action lots > /dev/null
	rcli HSET 'simlog:{z}:b' empty 0 > /dev/null
	# Another simulation's counters are keys of the wrong type.
	gen w.jsonl 1000 152
	push w w.jsonl
	rcli DEL 'simlog:{w}:n' 'simlog:{w}:b' > /dev/null
	rcli SET 'simlog:{w}:n' planted > /dev/null
	rcli RPUSH 'simlog:{w}:b' planted > /dev/null
	run --separate-stderr simlog-drain -q -d "$DB"
	echo "$stderr"
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 2001
	assert_equal "$(jnum rejects "${lines[-1]}")" 1
	printf '%s\n' '{"zero":1}' > zero.jsonl
	assert_exact z.jsonl w.jsonl zero.jsonl
	assert_equal "$(sqlite3 "$DB" "SELECT type || ':' || data FROM simlog_rejects")" 'empty:'
	[[ $stderr == *"z: 1 backlog counter in simlog:{z}:n and :b held no number (or no hash) and was reset"* ]]
	[[ $stderr == *"w: 2 backlog counters in simlog:{w}:n and :b held no number (or no hash) and were reset"* ]]
	# Every stream emptied, every counter with it: nothing left to drift.
	assert_equal "$(simlog_keys)" ''
}

@test "an acknowledgement of 1,500 entries goes in bounded steps and leaves nothing behind" {
	gen s.jsonl 1500 161
	simlog-push -s s --batch 1 < s.jsonl > /dev/null
	assert_equal "$(rcli XLEN 'simlog:{s}:q')" 1500
	rcli CONFIG RESETSTAT > /dev/null
	# One transaction for all of them.
	run -0 --separate-stderr simlog-drain -q -d "$DB" --commit-interval 60
	assert_equal "$(jnum batches "${lines[-1]}")" 1500
	assert_exact s.jsonl
	assert_equal "$(simlog_keys)" ''
	# 1,500 entries in one transaction: three script calls of at most 512.
	local calls
	calls=$(rcli INFO commandstats | grep -E '^cmdstat_(evalsha|eval):' |
		sed 's/^[^:]*:calls=\([0-9]*\),.*/\1/' | awk '{ n += $1 } END { print n }')
	echo "# $calls script calls for 1,500 entries" >&3
	[ "$calls" -ge 3 ]
}

@test "two counters at INT64_MAX: pool-stats saturates, --progress stays within what the stream can hold" {
	gen g.jsonl 500 171
	push g g.jsonl
	rcli HSET 'simlog:{g}:n' agent 9223372036854775807 step 9223372036854775807 > /dev/null
	run -0 --separate-stderr simlog-pool-stats
	assert_equal "$(jget "$output" '$.backlog.sims.g.records')" 9223372036854775807
	assert_equal "$(jget "$output" '$.backlog.records')" 9223372036854775807
	run -0 --separate-stderr simlog-drain --progress -d "$DB"
	echo "$stderr"
	assert_exact g.jsonl
	[[ $stderr != *18446744073709551614* ]]
	local total
	total=$(printf '%s\n' "$stderr" | tr '\r' '\n' | grep -o 'of [0-9]* rows' | head -n 1 | cut -d' ' -f2)
	# At most 89,478,485 records (a 256 MiB chunk of 3-byte records) per
	# entry: 2 entries.
	[ "$total" -le $(( 2 * 89478485 )) ]
	# --discard sums the same counters: it stops at 2^53.
	push g g.jsonl
	rcli HSET 'simlog:{g}:n' agent 9223372036854775807 step 9223372036854775807 x lots > /dev/null
	run -0 --separate-stderr simlog-drain -s g --discard
	assert_equal "$(jnum discarded_records "$output")" 9007199254740992
	assert_equal "$(simlog_keys)" ''
}

@test "spool: a megabyte of crafted old-format headers is read in linear time; both good chunks are replayed" {
	local dir
	spooled quad
	local t0 t1
	t0=${EPOCHREALTIME/./}
	run -0 --separate-stderr simlog-push --spool-status
	t1=${EPOCHREALTIME/./}
	echo "# --spool-status over $(stat -c %s "$dir/0000000000001-1-0.seg") bytes of crafted headers: $(( (t1 - t0) / 1000 )) ms" >&3
	assert_equal "$(jget "${lines[0]}" '$.records')" 2
	assert_equal "$(jget "${lines[0]}" '$.lost_uncounted')" 1
	run --separate-stderr simlog-push --replay
	assert_equal "$(jnum replayed "$output")" 2
	run -0 simlog-drain -q -d "$DB"
	assert_equal "$(sqlite3 "$DB" 'SELECT data FROM spooled ORDER BY id')" '{"k":1}
{"k":2}'
}

@test "spool: checksums that hold around made-up counts: no loss larger than the file could hold; the readable chunks are replayed" {
	local dir
	spooled counts
	run -0 --separate-stderr simlog-push --spool-status
	echo "$output"
	assert_equal "$(jget "${lines[0]}" '$.lost_records')" 0
	assert_equal "$(jget "${lines[0]}" '$.lost_uncounted')" 1
	assert_equal "$(jget "${lines[0]}" '$.records')" 2
	run --separate-stderr simlog-push --replay
	echo "$stderr"
	assert_equal "$(jnum replayed "$output")" 2
	[[ $stderr != *18446744* ]]
	[ -f "$dir/0000000000001-1-0.seg.damaged" ]
	run -0 simlog-drain -q -d "$DB"
	assert_equal "$(sqlite3 "$DB" 'SELECT data FROM spooled ORDER BY id')" '{"k":1}
{"k":2}'
}

@test "without a schema, records that are not JSON or not UTF-8 are dead letters a reader can read back; good ones land" {
	gen a.jsonl 1000 181
	push a a.jsonl
	craft chunk bad.bin "[(b'action', b'not json'), (b'action', b'{\"k\":\"\\xff\"}'), (b'action', b'{\"k\":1}\\x00'), (b'action', b'{\"fine\":1}')]"
	plant a bad.bin
	run -0 --separate-stderr simlog-drain -q -d "$DB"
	echo "$stderr"
	assert_equal "$(jnum rejects "${lines[-1]}")" 3
	printf '%s\n' '{"fine":1}' > fine.jsonl
	assert_exact a.jsonl fine.jsonl
	assert_equal "$(sqlite3 "$DB" "SELECT data FROM simlog_rejects ORDER BY id")" \
	    "not json
$(printf '{"k":"\xff"}' | base64 -w0)
$(printf '{"k":1}\0' | base64 -w0)"
	assert_equal "$(sqlite3 "$DB" "SELECT count(*) FROM simlog_rejects WHERE error LIKE '%kept in base64%'")" 2
	# What a reader's sqlite3 module takes back, every row of every table.
	python3 - "$DB" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
    db.execute('SELECT * FROM "%s"' % t).fetchall()
EOF
}

@test "a chunk marked as checked by its writer: push marks its own; a mark set or cleared by damage is a checksum mismatch, set aside; one sealed as simlog(7) says lands" {
	gen a.jsonl 500 191
	push a a.jsonl
	# The flags byte of push's first chunk: LZ4 (1) and checked (2).
	assert_equal "$(rcli --raw XRANGE 'simlog:{a}:q' - + COUNT 1 | sed -n 3p |
	    head -c 5 | tail -c 1 | od -An -tu1 | tr -d ' ')" 3
	craft chunkf good.bin 2 0x534C4332 "[(b'marked', b'{\"k\":1}')]" MARKEDMARKED0001
	craft chunkf set.bin 2 0 "[(b'marked', b'{\"k\":2}')]" MARKEDMARKED0002
	craft chunkf cleared.bin 0 0x534C4332 "[(b'marked', b'{\"k\":3}')]" MARKEDMARKED0003
	plant a good.bin
	plant a set.bin
	local set=$ENTRY
	plant a cleared.bin
	local cleared=$ENTRY
	# 65: entries were set aside; everything else drained.
	run -65 --separate-stderr simlog-drain -q -d "$DB"
	echo "$stderr"
	assert_equal "$(jnum corrupt "${lines[-1]}")" 2
	assert_equal "$(jnum rejects "${lines[-1]}")" 0
	printf '%s\n' '{"k":1}' > good.jsonl
	assert_exact a.jsonl good.jsonl
	run -0 simlog-drain -s a --corrupt list
	assert_output --partial "$set"
	assert_output --partial "$cleared"
	assert_equal "$(grep -c 'checksum mismatch' <<< "$output")" 2
}

@test "keys of the wrong type (:n a string, :b a list, :corrupt a hash) never block a simulation; the foreign key is kept aside" {
	gen w.jsonl 1000 191
	gen w2.jsonl 500 192
	push w w.jsonl
	rcli XADD 'simlog:{w}:q' '*' c garbage > /dev/null
	local bad
	bad=$(rcli XREVRANGE 'simlog:{w}:q' + - COUNT 1 | head -n 1)
	push w w2.jsonl
	rcli DEL 'simlog:{w}:n' 'simlog:{w}:b' > /dev/null
	rcli SET 'simlog:{w}:n' planted > /dev/null
	rcli RPUSH 'simlog:{w}:b' planted > /dev/null
	rcli HSET 'simlog:{w}:corrupt' mine 1 > /dev/null
	run --separate-stderr simlog-drain -q -d "$DB"
	echo "$stderr"
	assert_equal "$status" 65
	assert_exact w.jsonl w2.jsonl
	[[ $stderr == *"w: simlog:{w}:corrupt was no stream; it is now simlog:{w}:corrupt:displaced:$bad"* ]]
	[[ $stderr == *"w: entry $bad: not a simlog chunk; moved to simlog:{w}:corrupt"* ]]
	assert_equal "$(rcli TYPE 'simlog:{w}:corrupt')" stream
	assert_equal "$(rcli HGET "simlog:{w}:corrupt:displaced:$bad" mine)" 1
	assert_equal "$(simlog_keys | tr '\n' ' ')" "simlog:{w}:corrupt simlog:{w}:corrupt:displaced:$bad "
}

# acl_user NAME KEYS...: a user NAME with every command on KEYS only.
acl_user() {
	local name=$1
	shift
	rcli ACL SETUSER "$name" on ">pw-$name" resetkeys "$@" +@all > /dev/null
	export SIMLOG_REDIS_URL="redis://$name:pw-$name@127.0.0.1:$REDIS_PORT/0"
}

@test "a simulation whose keys Redis refuses does not stop the others: every other one drains, it is named, exit 77" {
	stop_redis main
	start_redis_tcp main
	gen a.jsonl 1000 201
	gen b.jsonl 1000 202
	gen c.jsonl 1000 203
	push a a.jsonl
	push b b.jsonl
	push c c.jsonl
	acl_user d '~simlog:{a}:*' '~simlog:{c}:*' '~simlog:sims'
	run --separate-stderr simlog-drain -q -d "$DB"
	echo "$stderr"
	assert_equal "$status" 77
	assert_exact a.jsonl c.jsonl
	assert_equal "$(rcli XLEN 'simlog:{b}:q')" 4
	[[ $stderr == *"simlog-drain: b: "*"NOPERM"* ]]
	[[ $stderr == *"simlog-drain: 1 simulation not drained (see above): b" ]]
	assert_equal "$(jnum sims "${lines[-1]}")" 2
}

@test "--follow goes on past a simulation Redis refuses: the others' later records land, it is said once, exit 77 on SIGTERM" {
	stop_redis main
	start_redis_tcp main
	gen a.jsonl 1000 211
	gen a2.jsonl 1000 212
	gen b.jsonl 1000 213
	gen c.jsonl 1000 214
	push a a.jsonl
	push b b.jsonl
	acl_user d '~simlog:{a}:*' '~simlog:{c}:*' '~simlog:sims'
	simlog-drain -f -q -d "$DB" --commit-interval 0.2 > f.out 2> f.err &
	local pid=$!
	track $pid
	wait_until "a drained" eval '[ "$(landed "$DB" 2>/dev/null | wc -l)" -eq 1000 ]'
	SIMLOG_REDIS_URL=unix://$REDIS_SOCK push a a2.jsonl
	SIMLOG_REDIS_URL=unix://$REDIS_SOCK push c c.jsonl
	wait_until "a and c drained" eval '[ "$(landed "$DB" 2>/dev/null | wc -l)" -eq 3000 ]'
	stop_follow $pid
	assert_equal "$RC" 77
	assert_exact a.jsonl a2.jsonl c.jsonl
	assert_equal "$(grep -c '^simlog-drain: b: ' f.err)" 1
	assert_equal "$(tail -n 1 f.err)" "simlog-drain: 1 simulation not drained (see above): b"
}

#!/usr/bin/env bats
# simlog-drain: the tables it makes and what lands in them, which backlog it
# takes, what it leaves in Redis, and how it meets corrupt entries, locked
# databases and missing servers.

bats_require_minimum_version 1.5.0

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

# push SIM FILE: FILE's records into SIM's buffer, all of them, in chunks
# of 256 records (the chunk counts below are reckoned so).
push() {
	local out
	out=$(simlog-push -s "$1" --batch 256 < "$2")
	[ "$(jnum pushed "$out")" -eq "$(grep -c . "$2")" ]
}

# types_of FILE: "type count" per record type in simgen output, sorted.
types_of() {
	grep -o '^{"type":"[a-z_]*"' "$1" | cut -d'"' -f4 | sort | uniq -c |
		awk '{ print $2, $1 }'
}

# le32 N: N as 4 bytes, little-endian.
le32() {
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) \
	    $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
}

# chunk_file OUT ID16 PAYLOAD [CRC-FILE]: an uncompressed chunk as simlog(7)
# lays it out, with batch id ID16 (16 characters) and PAYLOAD's
# "type<TAB>json" lines.  The CRC-32 is taken from gzip's trailer, unless
# CRC-FILE gives 4 other bytes.
chunk_file() {
	local out=$1 id=$2 payload=$3 crc=${4:-}
	printf '%s' "$payload" > "$out.raw"
	{
		printf 'SLC\001\000\000\000\000%s' "$id"
		le32 "$(printf '%s' "$payload" | grep -c .)"
		le32 "$(wc -c < "$out.raw")"
		if [ -n "$crc" ]; then
			cat "$crc"
		else
			gzip -c < "$out.raw" | tail -c 8 | head -c 4
		fi
		cat "$out.raw"
	} > "$out"
}

# xadd_file SIM FILE: a stream entry whose c field is FILE's bytes.
xadd_file() {
	rcli -x XADD "simlog:{$1}:q" '*' c < "$2" > /dev/null
}

@test "one table per type with (id, simulation_id, data), WAL mode, data as pushed" {
	"$SIMGEN" --ids -n 5000 -s 21 > in.jsonl
	push s in.jsonl
	run --separate-stderr simlog-drain -d "$DB"
	assert_success
	assert_equal "$stderr" ""
	# Tables: one per record type, beside simlog's own.
	types_of in.jsonl | cut -d' ' -f1 > want.tables
	record_tables "$DB" > got.tables
	cmp want.tables got.tables
	sqlite3 "$DB" "SELECT name FROM sqlite_master WHERE type = 'table'" |
		grep -qx simlog_batches
	local t
	for t in $(record_tables "$DB"); do
		assert_equal "$(sqlite3 "$DB" "PRAGMA table_info(\"$t\")")" \
		    "0|id|INTEGER|0||1
1|simulation_id|TEXT|1||0
2|data|TEXT|1||0"
		assert_equal "$(sqlite3 "$DB" "SELECT count(*) FROM \"$t\"
		    WHERE json_extract(data, '\$.type') IS NOT '$t'
		    OR simulation_id IS NOT 's'")" 0
	done
	assert_equal "$(sqlite3 "$DB" 'PRAGMA journal_mode')" wal
	landed "$DB" > got
	sort in.jsonl > want
	cmp want got
	# ids follow the input order within a type.
	assert_equal "$(sqlite3 "$DB" 'SELECT data FROM step ORDER BY id')" \
	    "$(grep '^{"type":"step"' in.jsonl)"
	# One simlog_batches row per chunk pushed, accounting for every record.
	assert_equal "$(sqlite3 "$DB" "SELECT count(*), sum(records), count(DISTINCT batch),
	    min(length(batch)), max(length(batch)), min(simulation_id), max(simulation_id)
	    FROM simlog_batches")" "$(( (5000 + 255) / 256 ))|5000|$(( (5000 + 255) / 256 ))|16|16|s|s"
}

@test "the output: one line per simulation and type, then the totals" {
	"$SIMGEN" --ids -n 3000 -s 22 > a.jsonl
	"$SIMGEN" --ids -n 1000 -s 23 > b.jsonl
	push sa a.jsonl
	push sb b.jsonl
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_success
	# Per simulation and type: "sim type rows".
	local l
	for l in "${lines[@]}"; do
		[[ $l == *'"type":'* ]] || continue
		[[ $l == '{"sim":"'* ]]
		echo "$(printf '%s' "$l" | grep -o '"sim":"[^"]*"' | cut -d'"' -f4)" \
		    "$(printf '%s' "$l" | grep -o '"type":"[^"]*"' | cut -d'"' -f4)" \
		    "$(jnum rows "$l")"
	done | sort > got.lines
	{ types_of a.jsonl | sed 's/^/sa /'; types_of b.jsonl | sed 's/^/sb /'; } |
		sort > want.lines
	cmp want.lines got.lines
	local last=${lines[${#lines[@]} - 1]}
	assert_equal "${#lines[@]}" $(( $(wc -l < want.lines) + 1 ))
	assert_equal "$(jnum rows "$last")" 4000
	assert_equal "$(jnum batches "$last")" $(( (3000 + 255) / 256 + (1000 + 255) / 256 ))
	assert_equal "$(jnum duplicate_batches "$last")" 0
	assert_equal "$(jnum duplicate_rows "$last")" 0
	assert_equal "$(jnum corrupt "$last")" 0
	assert_equal "$(jnum sims "$last")" 2
	[[ $last =~ \"seconds\":[0-9]+\.[0-9]+ ]]
	# Nothing left: a second run finds nothing and says so.
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_success
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jnum rows "$output")" 0
	assert_equal "$(jnum sims "$output")" 0
}

@test "without -s every simulation is drained; with -s only that one" {
	"$SIMGEN" --ids -n 800 -s 31 > a.jsonl
	"$SIMGEN" --ids -n 900 -s 32 > b.jsonl
	"$SIMGEN" --ids -n 1000 -s 33 > c.jsonl
	push a a.jsonl
	push b b.jsonl
	push c c.jsonl
	local qa qc
	qa=$(rcli XLEN 'simlog:{a}:q')
	qc=$(rcli XLEN 'simlog:{c}:q')
	run --separate-stderr simlog-drain -q -s b -d "$DB"
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 900
	assert_equal "$(jnum sims "${lines[-1]}")" 1
	landed_sim "$DB" > got
	sed 's/^/b\t/' b.jsonl | sort > want
	cmp want got
	# The others are untouched.
	assert_equal "$(rcli XLEN 'simlog:{a}:q')" "$qa"
	assert_equal "$(rcli XLEN 'simlog:{c}:q')" "$qc"
	assert_equal "$(rcli --scan --pattern 'simlog:{*}:q' | sort | tr '\n' ' ')" \
	    "simlog:{a}:q simlog:{c}:q "
	# A simulation with nothing buffered: nothing to do.
	run --separate-stderr simlog-drain -q -s nothing-here -d "$DB"
	assert_success
	assert_equal "$(jnum rows "$output")" 0
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 1800
	assert_equal "$(jnum sims "${lines[-1]}")" 2
	landed_sim "$DB" > got
	{ sed 's/^/a\t/' a.jsonl; sed 's/^/b\t/' b.jsonl; sed 's/^/c\t/' c.jsonl; } |
		sort > want
	cmp want got
}

@test "a full drain leaves no simlog key in Redis" {
	"$SIMGEN" --ids -n 2000 -s 41 > in.jsonl
	push x in.jsonl
	push y in.jsonl
	rcli SET unrelated:key keep > /dev/null
	[ -n "$(simlog_keys)" ]
	simlog-drain -q -d "$DB" --batch 300 > out
	assert_equal "$(simlog_keys)" ""
	assert_equal "$(rcli GET unrelated:key)" keep
	assert_equal "$(rows "$DB" simlog_batches)" $(( 2 * ((2000 + 255) / 256) ))
}

drain_waits_on_db() {
	rcli CLIENT LIST | grep 'name=simlog-drain ' | grep -q 'cmd=hvals '
}

@test "only the backlog present at the start is drained; later records wait" {
	"$SIMGEN" --ids -n 20000 -s 51 > a.jsonl
	"$SIMGEN" --ids -n 7000 -s 52 > b.jsonl
	# A database with simlog's tables, so a drain's first write waits.
	simlog-drain -q -d "$DB" > /dev/null
	push s a.jsonl
	db_hold "$DB" 'BEGIN IMMEDIATE;'
	simlog-drain -q -s s -d "$DB" > d1.out 2> d1.err 3>&- &
	local pid=$! st=0
	track "$pid"
	# Once it has read the backlog's size it has fixed its end; its first
	# transaction then waits for the lock.
	wait_until "the drain to wait for the database" drain_waits_on_db
	push s b.jsonl
	db_release
	wait "$pid" || st=$?
	cat d1.err
	assert_equal "$st" 0
	assert_equal "$(jnum rows "$(tail -n 1 d1.out)")" 20000
	landed "$DB" > got
	sort a.jsonl > want
	cmp want got
	# Exactly the later records are left, counters and all.
	types_of b.jsonl > want.n
	rcli HGETALL 'simlog:{s}:n' | paste -d' ' - - | sort > got.n
	cmp want.n got.n
	run --separate-stderr simlog-drain -q -s s -d "$DB"
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 7000
	landed "$DB" > got
	sort a.jsonl b.jsonl > want
	cmp want got
}

@test "SIGTERM lets the transaction in progress finish, then exits 0" {
	"$SIMGEN" --ids -n 20000 -s 53 > in.jsonl
	simlog-drain -q -d "$DB" > /dev/null
	push s in.jsonl
	db_hold "$DB" 'BEGIN IMMEDIATE;'
	simlog-drain -q -d "$DB" --batch 1000 > d1.out 2> d1.err 3>&- &
	local pid=$! st=0
	track "$pid"
	wait_until "the drain to wait for the database" drain_waits_on_db
	kill -TERM "$pid"
	db_release
	wait "$pid" || st=$?
	cat d1.err
	assert_equal "$st" 0
	# One transaction: a page of 16 chunks of 256 records.
	assert_equal "$(jnum rows "$(tail -n 1 d1.out)")" 4096
	assert_equal "$(sqlite3 "$DB" 'SELECT sum(records) FROM simlog_batches')" 4096
	assert_equal "$(landed "$DB" | wc -l)" 4096
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 15904
	assert_equal "$(jnum duplicate_batches "${lines[-1]}")" 0
	landed "$DB" > got
	sort in.jsonl > want
	cmp want got
}

@test "an undecodable entry is moved to simlog:{SIM}:corrupt (65); the rest is drained" {
	"$SIMGEN" --ids -n 600 -s 61 > a.jsonl
	"$SIMGEN" --ids -n 500 -s 62 > b.jsonl
	push s a.jsonl
	rcli XADD 'simlog:{s}:q' '*' c garbage > /dev/null
	rcli XADD 'simlog:{s}:q' '*' x no-chunk-here > /dev/null
	push s b.jsonl
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_equal "$status" 65
	assert_equal "$(jnum corrupt "${lines[-1]}")" 2
	assert_equal "$(jnum rows "${lines[-1]}")" 1100
	[[ $stderr == *"simlog:{s}:corrupt"* ]]
	assert_equal "$(printf '%s\n' "$stderr" | grep -c '^simlog-drain: s: entry [0-9]*-[0-9]*: ')" 2
	landed "$DB" > got
	sort a.jsonl b.jsonl > want
	cmp want got
	# Set aside with the old id, the reason and the original fields.
	assert_equal "$(rcli XLEN 'simlog:{s}:corrupt')" 2
	rcli XRANGE 'simlog:{s}:corrupt' - + > corrupt.txt
	grep -qx garbage corrupt.txt
	grep -qx no-chunk-here corrupt.txt
	assert_equal "$(grep -cx why corrupt.txt)" 2
	assert_equal "$(grep -cx id corrupt.txt)" 2
	# Only the corrupt stream is left.
	assert_equal "$(simlog_keys)" 'simlog:{s}:corrupt'
	# And nothing is drained twice by a later run.
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_success
	assert_equal "$(landed "$DB" | wc -l)" 1100
}

@test "hand-made chunks: a good one lands; bad checksum or bad types are set aside" {
	chunk_file good.bin AAAAAAAABBBBBBBB $'a\t{"k":1}\na\t{"k":2}\nb\t{"k":3}\n'
	xadd_file h good.bin
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_success
	assert_equal "$(sqlite3 "$DB" 'SELECT data FROM a ORDER BY id')" '{"k":1}
{"k":2}'
	assert_equal "$(sqlite3 "$DB" 'SELECT data FROM b')" '{"k":3}'
	assert_equal "$(sqlite3 "$DB" 'SELECT batch, records FROM simlog_batches')" \
	    'AAAAAAAABBBBBBBB|3'
	# A wrong checksum, a type that is no identifier, a reserved type.
	printf 'XXXX' > bad.crc
	chunk_file badcrc.bin CCCCCCCCDDDDDDDD $'a\t{"k":4}\n' bad.crc
	chunk_file quote.bin EEEEEEEEFFFFFFFF $'a"b\t{"k":5}\n'
	chunk_file reserved.bin GGGGGGGGHHHHHHHH $'sqlite_master\t{"k":6}\n'
	xadd_file h badcrc.bin
	xadd_file h quote.bin
	xadd_file h reserved.bin
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_equal "$status" 65
	assert_equal "$(jnum corrupt "${lines[-1]}")" 3
	assert_equal "$(jnum rows "${lines[-1]}")" 0
	assert_equal "$(rcli XLEN 'simlog:{h}:corrupt')" 3
	assert_equal "$(record_tables "$DB" | tr '\n' ' ')" "a b "
	assert_equal "$(rows "$DB" a)" 2
	assert_equal "$(rows "$DB" simlog_batches)" 1
	assert_equal "$(simlog_keys)" 'simlog:{h}:corrupt'
}

@test "a locked database: the drain waits (--busy-timeout 10) and succeeds" {
	"$SIMGEN" --ids -n 3000 -s 71 > in.jsonl
	simlog-drain -q -d "$DB" > /dev/null
	push s in.jsonl
	db_hold "$DB" 'BEGIN IMMEDIATE;'
	simlog-drain -q -d "$DB" --busy-timeout 10 > d.out 2> d.err 3>&- &
	local pid=$! st=0
	track "$pid"
	wait_until "the drain to wait for the database" drain_waits_on_db
	db_release
	wait "$pid" || st=$?
	cat d.err
	assert_equal "$st" 0
	assert_equal "$(jnum rows "$(tail -n 1 d.out)")" 3000
	landed "$DB" > got
	sort in.jsonl > want
	cmp want got
	assert_equal "$(simlog_keys)" ""
}

@test "a database locked past --busy-timeout 0.5: 75, nothing lost, a later run drains all" {
	"$SIMGEN" --ids -n 3000 -s 72 > in.jsonl
	push s in.jsonl
	local qlen
	qlen=$(rcli XLEN 'simlog:{s}:q')
	rcli HGETALL 'simlog:{s}:n' > counts.before
	local db
	# A database that exists already, and a new one the lock holder made.
	for db in "$DB" "$BATS_TEST_TMPDIR/new.db"; do
		[ "$db" = "$DB" ] && simlog-drain -q -s none -d "$DB" > /dev/null
		db_hold "$db" 'BEGIN IMMEDIATE;'
		run --separate-stderr simlog-drain -q -d "$db" --busy-timeout 0.5
		db_release
		echo "# $db: $stderr"
		assert_equal "$status" 75
		[[ $stderr == *"$db"*"locked"* ]]
		assert_equal "$(rcli XLEN 'simlog:{s}:q')" "$qlen"
		rcli HGETALL 'simlog:{s}:n' > counts.after
		cmp counts.before counts.after
	done
	assert_equal "$(landed "$DB" | wc -l)" 0
	run --separate-stderr simlog-drain -q -d "$DB" --busy-timeout 0.5
	assert_success
	landed "$DB" > got
	sort in.jsonl > want
	cmp want got
}

@test "a reader's open transaction does not block a drain (WAL)" {
	"$SIMGEN" --ids -n 3000 -s 73 > in.jsonl
	"$SIMGEN" --ids -n 100 -s 74 > first.jsonl
	push s first.jsonl
	simlog-drain -q -d "$DB" > /dev/null
	push s in.jsonl
	db_hold "$DB" 'BEGIN; SELECT count(*) FROM simlog_batches;'
	run --separate-stderr simlog-drain -q -d "$DB" --busy-timeout 0.5
	db_release
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 3000
	landed "$DB" > got
	sort first.jsonl in.jsonl > want
	cmp want got
}

@test "Redis unreachable: exit 69 naming the URL, no database touched" {
	local url
	stop_redis main
	for url in "$REDIS_URL" "redis://127.0.0.1:1/0"; do
		echo "# $url"
		run --separate-stderr simlog-drain -q -u "$url" -d "$DB"
		echo "$stderr"
		assert_equal "$status" 69
		[[ $stderr == "simlog-drain: "*"$url"* ]]
	done
	[ ! -e "$DB" ]
}

@test "a database in a missing directory: exit 73 naming it, Redis untouched" {
	"$SIMGEN" --ids -n 500 > in.jsonl
	push s in.jsonl
	local q
	q=$(rcli XLEN 'simlog:{s}:q')
	run --separate-stderr simlog-drain -q -d "$BATS_TEST_TMPDIR/no/such/dir/x.db"
	assert_equal "$status" 73
	[[ $stderr == *"$BATS_TEST_TMPDIR/no/such/dir/x.db"* ]]
	assert_equal "$(rcli XLEN 'simlog:{s}:q')" "$q"
}

@test "the database: -d, else SIMLOG_DB, else ./simlog.db" {
	printf '%s\n' '{"type":"a","n":1}' | simlog-push -s s > /dev/null
	mkdir here
	(cd here && simlog-drain -q > out)
	assert_equal "$(landed here/simlog.db)" '{"type":"a","n":1}'
	printf '%s\n' '{"type":"a","n":2}' | simlog-push -s s > /dev/null
	(cd here && SIMLOG_DB=../env.db simlog-drain -q > out)
	assert_equal "$(landed env.db)" '{"type":"a","n":2}'
	printf '%s\n' '{"type":"a","n":3}' | simlog-push -s s > /dev/null
	(cd here && SIMLOG_DB=../env.db simlog-drain -q -d ../opt.db > out)
	assert_equal "$(landed opt.db)" '{"type":"a","n":3}'
	assert_equal "$(landed env.db)" '{"type":"a","n":2}'
	assert_equal "$(landed here/simlog.db)" '{"type":"a","n":1}'
}

@test "the summary names the database; a Redis that may evict records is warned about" {
	printf '%s\n' '{"type":"a","n":1}' | simlog-push -s s > /dev/null
	rcli CONFIG SET maxmemory-policy allkeys-lru > /dev/null
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_success
	[[ ${lines[-1]} == *"\"db\":\"$DB\""* ]]
	assert_equal "$stderr" "simlog-drain: $REDIS_URL: maxmemory-policy allkeys-lru lets Redis evict buffered records; use noeviction"
	rcli CONFIG SET maxmemory-policy volatile-lru > /dev/null
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(landed "$DB")" '{"type":"a","n":1}'
}

@test "--progress: rows drained of those buffered, a percentage and the rate" {
	"$SIMGEN" --ids -n 20000 -s 81 > in.jsonl
	push s in.jsonl
	run --separate-stderr simlog-drain --progress -d "$DB"
	assert_success
	# Carriage returns redraw one line; the last state ends it.
	local last
	last=$(printf '%s' "$stderr" | tr '\r' '\n' | grep . | tail -n 1)
	[[ $last =~ ^simlog-drain:\ s:\ 20000\ of\ 20000\ rows\ \(100%\),\ [0-9]+\ rows/s\ *$ ]]
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_equal "$stderr" ""
}

# corrupt_fixture: two undecodable entries set aside for simulation s.
corrupt_fixture() {
	"$SIMGEN" --ids -n 300 -s 91 > a.jsonl
	push s a.jsonl
	rcli XADD 'simlog:{s}:q' '*' c garbage > /dev/null
	rcli XADD 'simlog:{s}:q' '*' x no-chunk-here > /dev/null
	run -65 --separate-stderr simlog-drain -q -d "$DB"
	assert_equal "$(rcli XLEN 'simlog:{s}:corrupt')" 2
}

@test "--corrupt list and export show what was set aside, as JSON lines; Redis is unchanged" {
	corrupt_fixture
	local ids
	ids="$(rcli XRANGE 'simlog:{s}:corrupt' - + COUNT 1 | head -n 1) $(rcli XREVRANGE 'simlog:{s}:corrupt' + - COUNT 1 | head -n 1)"
	run -0 --separate-stderr simlog-drain -s s --corrupt list
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 2
	[[ ${lines[0]} =~ ^\{\"sim\":\"s\",\"entry\":\"${ids%% *}\",\"id\":\"[0-9]+-[0-9]+\",\"why\":\"[^\"]+\",\"bytes\":7\}$ ]]
	[[ ${lines[1]} =~ ^\{\"sim\":\"s\",\"entry\":\"${ids##* }\",\"id\":\"[0-9]+-[0-9]+\",\"why\":\"entry\ has\ no\ chunk\ field\",\"bytes\":13\}$ ]]
	run -0 --separate-stderr simlog-drain -s s --corrupt export
	[[ ${lines[0]} == *',"bytes":7,"fields":{"c":"Z2FyYmFnZQ=="}}' ]]
	[[ ${lines[1]} == *',"bytes":13,"fields":{"x":"bm8tY2h1bmstaGVyZQ=="}}' ]]
	assert_equal "$(printf '%s' "${lines[1]}" | grep -o '"x":"[^"]*"' | cut -d'"' -f4 | base64 -d)" no-chunk-here
	assert_equal "$(rcli XLEN 'simlog:{s}:corrupt')" 2
	# Nothing set aside: nothing to show.
	run -0 simlog-drain -s other --corrupt list
	assert_equal "$output" ""
}

@test "--corrupt purge prints what it deletes and deletes exactly that; the stream goes" {
	corrupt_fixture
	run -0 --separate-stderr simlog-drain -s s --corrupt export
	local exported=$output
	run -0 --separate-stderr simlog-drain -s s --corrupt purge
	assert_equal "$output" "$exported"
	assert_equal "$stderr" "simlog-drain: s: purged 2 entries from simlog:{s}:corrupt"
	assert_equal "$(rcli EXISTS 'simlog:{s}:corrupt')" 0
	assert_equal "$(simlog_keys)" ""
	run -0 simlog-drain -s s --corrupt purge
	assert_equal "$output" ""
	# More than a page of entries.
	local i
	for i in $(seq 1 250); do
		echo "XADD simlog:{p}:corrupt * id 1-$i why w$i c v$i"
	done | rcli > /dev/null
	run -0 --separate-stderr simlog-drain -s p --corrupt purge
	assert_equal "${#lines[@]}" 250
	assert_equal "$stderr" "simlog-drain: p: purged 250 entries from simlog:{p}:corrupt"
	assert_equal "$(rcli EXISTS 'simlog:{p}:corrupt')" 0
}

@test "--discard deletes one simulation's backlog, stream and counters together; others stay" {
	"$SIMGEN" --ids -n 3000 -s 92 > a.jsonl
	"$SIMGEN" --ids -n 1000 -s 93 > b.jsonl
	push s a.jsonl
	push t b.jsonl
	local entries
	entries=$(rcli XLEN 'simlog:{s}:q')
	run -0 --separate-stderr simlog-drain -s s --discard
	assert_equal "$output" "{\"sim\":\"s\",\"discarded_entries\":$entries,\"discarded_records\":3000}"
	assert_equal "$stderr" "simlog-drain: s: discarded 3000 records in $entries entries, undrained"
	assert_equal "$(simlog_keys | tr '\n' ' ')" 'simlog:{t}:b simlog:{t}:n simlog:{t}:q '
	# A name in the set older versions kept goes too.
	rcli SADD simlog:sims s t > /dev/null
	run -0 --separate-stderr simlog-drain -s s --discard
	assert_equal "$(rcli SMEMBERS simlog:sims)" t
	rcli DEL simlog:sims > /dev/null
	run -0 simlog-drain -q -d "$DB"
	landed_sim "$DB" > got
	sed 's/^/t\t/' b.jsonl | sort > want
	cmp want got
	run -0 --separate-stderr simlog-drain -s s --discard
	assert_equal "$output" '{"sim":"s","discarded_entries":0,"discarded_records":0}'
	assert_equal "$stderr" ""
}

@test "--corrupt and --discard need --sim and exclude each other and --follow" {
	run -64 --separate-stderr simlog-drain --corrupt list
	[[ $stderr == *"--corrupt needs --sim"* ]]
	run -64 --separate-stderr simlog-drain --discard
	[[ $stderr == *"--discard needs --sim"* ]]
	run -64 --separate-stderr simlog-drain -s s --corrupt bogus
	[[ $stderr == *"invalid --corrupt: 'bogus': use list, export or purge"* ]]
	run -64 simlog-drain -s s --corrupt list --discard
	run -64 simlog-drain -s s --discard -f
}

@test "a database error names the database (74)" {
	printf '%s\n' '{"type":"a","n":1}' | simlog-push -s s > /dev/null
	sqlite3 "$DB" 'CREATE TABLE a (x INTEGER)'
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_equal "$status" 74
	[[ $stderr == *"simlog-drain: s: $DB: "*"table a has no column named simulation_id"* ]]
	assert_equal "$(rcli XLEN 'simlog:{s}:q')" 1
}

# A drain asks for the next page of 16 entries while it inserts one: these
# two make it meet a bad entry, and a database error, with that page's
# reply on its way.

@test "an undecodable entry in a page whose next page is already asked for: set aside, the rest drained exactly (65)" {
	"$SIMGEN" --ids -n 2000 -s 63 > in.jsonl
	# 6 chunks, the bad entry, 34 chunks: the first page is full.
	head -n 300 in.jsonl | simlog-push -s s --batch 50 > /dev/null
	rcli XADD 'simlog:{s}:q' '*' c garbage > /dev/null
	tail -n +301 in.jsonl | simlog-push -s s --batch 50 > /dev/null
	assert_equal "$(rcli XLEN 'simlog:{s}:q')" 41
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_equal "$status" 65
	assert_equal "$(jnum corrupt "${lines[-1]}")" 1
	assert_equal "$(jnum rows "${lines[-1]}")" 2000
	assert_equal "$(jnum batches "${lines[-1]}")" 40
	landed "$DB" > got
	sort in.jsonl > want
	cmp want got
	assert_equal "$(simlog_keys)" 'simlog:{s}:corrupt'
}

@test "a database error with the next page asked for: nothing committed, nothing deleted (74); once mended, every record once" {
	local i
	# 16 chunks of 50: the tenth holds type a, which the table a made
	# below cannot take.
	for i in $(seq 1 800); do
		if [ "$i" -gt 450 ] && [ "$i" -le 500 ]; then
			printf '{"type":"a","n":%d}\n' "$i"
		else
			printf '{"type":"ok","n":%d}\n' "$i"
		fi
	done > in.jsonl
	"$SIMGEN" --ids -n 500 -s 64 >> in.jsonl
	simlog-push -s s --batch 50 < in.jsonl > /dev/null
	assert_equal "$(rcli XLEN 'simlog:{s}:q')" 26
	sqlite3 "$DB" 'CREATE TABLE a (x INTEGER)'
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_equal "$status" 74
	[[ $stderr == *"table a has no column named simulation_id"* ]]
	assert_equal "$(rcli XLEN 'simlog:{s}:q')" 26
	assert_equal "$(sqlite3 "$DB" 'SELECT count(*) FROM simlog_batches')" 0
	sqlite3 "$DB" 'DROP TABLE a'
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 1300
	assert_equal "$(jnum duplicate_batches "${lines[-1]}")" 0
	landed "$DB" > got
	sort in.jsonl > want
	cmp want got
}

#!/usr/bin/env bats
# simlog-push: what it stores (checked by draining into SQLite and comparing
# with the input), what it refuses and why, and how it behaves on signals,
# closed pipes, authentication and server settings.

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

# drain_all [simlog-drain options]: everything buffered into $DB.
drain_all() {
	simlog-drain -q -d "$DB" "$@" > drain.out
}

# A handful of lines that exercise the JSON grammar.
tricky_records() {
	printf '%s\n' \
	    '{"type":"agent","id":1}' \
	    '{ "type" : "agent" , "id" : 2 , "pos" : [ 1.5 , -2e-7 , 0 ] }' \
	    '{"type":"agent","id":3,"name":"Zoë 🐑 日本","esc":"q\"b\\s\/n\n\t\u00e9\ud83d\ude00"}' \
	    '{"id":4,"type":"agent","big":12345678901234567890,"f":1.0E+10,"neg":-0,"t":true,"n":null,"o":{},"a":[]}' \
	    '{"type":"step","deep":{"a":{"b":{"c":[[[{"d":"e","type":"inner"}]]]}}}}' \
	    '{"type":"step","other":1,"other":2}'
}

@test "the summary line counts what happened, field by field" {
	printf '%s\n' '{"type":"a","n":1}' '' '{"type":"b","n":2}' \
	    '{"type":"a","n":3}' '   ' '{"type":"a","n":4}' \
	    '{"type":"b","n":5}' > in.jsonl
	run --separate-stderr simlog-push -s s1 --batch 2 < in.jsonl
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 1
	[[ $output == "{"*"}" ]]
	[[ $output == *'"sim":"s1"'* ]]
	assert_equal "$(jnum read "$output")" 5
	assert_equal "$(jnum pushed "$output")" 5
	assert_equal "$(jnum rejected "$output")" 0
	assert_equal "$(jnum failed "$output")" 0
	assert_equal "$(jnum spooled "$output")" 0
	assert_equal "$(jnum replayed "$output")" 0
	assert_equal "$(jnum dropped "$output")" 0
	assert_equal "$(jnum blank "$output")" 2
	assert_equal "$(jnum batches "$output")" 3
	assert_equal "$(jnum retries "$output")" 0
	[[ $output =~ \"seconds\":[0-9]+\.[0-9]+ ]]
	# stored_bytes is what the stream holds.
	local stored
	stored=$(rcli EVAL "local s = 0
		for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
			s = s + #e[2][2]
		end
		return s" 1 'simlog:{s1}:q')
	assert_equal "$(jnum stored_bytes "$output")" "$stored"
	assert_equal "$(rcli XLEN 'simlog:{s1}:q')" 3
}

@test "records land in SQLite byte for byte as they were pushed" {
	tricky_records > in.jsonl
	"$SIMGEN" --ids -n 3000 -s 7 >> in.jsonl
	run --separate-stderr simlog-push -s v < in.jsonl
	assert_success
	assert_equal "$(jnum pushed "$output")" 3006
	drain_all
	landed "$DB" > got
	sort in.jsonl > want
	cmp want got
	# Each type's table holds its type's records and no others.
	local t
	for t in $(record_tables "$DB"); do
		assert_equal "$(sqlite3 "$DB" "SELECT count(*) FROM \"$t\"
		    WHERE json_extract(data, '\$.type') IS NOT '$t'")" 0
	done
}

@test "surrounding blanks and CR are trimmed; a last line without newline counts" {
	printf '  {"type":"a","n":1}  \r\n{"type":"a","n":2}\r\n\t{"type":"a","n":3}' \
	    > in.jsonl
	run --separate-stderr simlog-push -s w < in.jsonl
	assert_success
	assert_equal "$(jnum pushed "$output")" 3
	drain_all
	landed "$DB" > got
	printf '%s\n' '{"type":"a","n":1}' '{"type":"a","n":2}' \
	    '{"type":"a","n":3}' > want
	cmp want got
}

@test "-t TYPE files every line under TYPE, whatever its own type field" {
	printf '%s\n' '{"type":"agent","n":1}' '{"n":2}' '{"type":5,"n":3}' \
	    '{"type":"sqlite_x","n":4}' '{"type":"a","type":"b","n":5}' > in.jsonl
	run --separate-stderr simlog-push -s t -t custom < in.jsonl
	assert_success
	assert_equal "$(jnum pushed "$output")" 5
	drain_all
	assert_equal "$(record_tables "$DB")" custom
	sqlite3 "$DB" 'SELECT data FROM custom' | sort > got
	sort in.jsonl > want
	cmp want got
	# The JSON itself is still checked.
	run --separate-stderr simlog-push -s t -t custom <<< '{"n":'
	assert_equal "$status" 65
	[[ $stderr == *"line 1:"* ]]
	# And TYPE must be a valid type.
	local bad
	for bad in sqlite_x simlog_batches a-b 1a ''; do
		run --separate-stderr simlog-push -s t -t "$bad" < /dev/null
		assert_equal "$status" 64
		[[ $stderr == *"--type"* ]]
	done
}

@test "--type-field NAME takes the type from another top-level member" {
	printf '%s\n' '{"kind":"k1","type":"t1","n":1}' \
	    '{"kind":"k2","sub":{"kind":"inner"},"n":2}' \
	    '{"type":"t3","n":3}' '{"n":4,"kind":"k1"}' > in.jsonl
	run --separate-stderr simlog-push -s k --type-field kind < in.jsonl
	assert_equal "$status" 65
	assert_equal "$(jnum pushed "$output")" 3
	assert_equal "$(jnum rejected "$output")" 1
	[[ $stderr == *'line 3: no "kind" field'* ]]
	drain_all
	assert_equal "$(record_tables "$DB" | tr '\n' ' ')" "k1 k2 "
	assert_equal "$(sqlite3 "$DB" 'SELECT data FROM k1 ORDER BY id')" \
	    "$(sed -n '1p;4p' in.jsonl)"
	assert_equal "$(sqlite3 "$DB" 'SELECT data FROM k2')" "$(sed -n 2p in.jsonl)"
}

@test "an escaped type value or member name is decoded before use" {
	printf '%s\n' '{"type":"\u0061gent","n":1}' '{"typ\u0065":"step","n":2}' \
	    '{"type":"\u00e9t\u00e9","n":3}' > in.jsonl
	run --separate-stderr simlog-push -s e < in.jsonl
	assert_equal "$status" 65
	assert_equal "$(jnum pushed "$output")" 2
	[[ $stderr == *"line 3:"* ]]
	drain_all
	assert_equal "$(record_tables "$DB" | tr '\n' ' ')" "agent step "
	# Stored as written, escapes and all.
	assert_equal "$(sqlite3 "$DB" 'SELECT data FROM agent')" "$(sed -n 1p in.jsonl)"
	assert_equal "$(sqlite3 "$DB" 'SELECT data FROM step')" "$(sed -n 2p in.jsonl)"
}

@test "blank lines are skipped and counted, and keep their line numbers" {
	printf '{"type":"a","n":1}\n\n   \n\t\r\n[\n{"type":"a","n":6}\n\n' > in.jsonl
	run --separate-stderr simlog-push -s b < in.jsonl
	assert_equal "$status" 65
	assert_equal "$(jnum blank "$output")" 4
	assert_equal "$(jnum read "$output")" 3
	assert_equal "$(jnum pushed "$output")" 2
	assert_equal "$(jnum rejected "$output")" 1
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "simlog-push: line 5: "* ]]
	drain_all
	assert_equal "$(landed "$DB")" "$(printf '%s\n' '{"type":"a","n":1}' '{"type":"a","n":6}')"
}

@test "each kind of bad line is refused by line number; the good ones land; --reject gets the bad" {
	{
		printf '%s\n' '{"type":"a","n":1}'		# 1 good
		printf '%s\n' '{"type":"a","n":'		# 2 malformed
		printf '%s\n' '[1,2,3]'				# 3 not an object
		printf '%s\n' '"just a string"'			# 4 not an object
		printf '%s\n' '{"n":5}'				# 5 no type
		printf '%s\n' '{"type":5}'			# 6 type not a string
		printf '%s\n' '{"type":"a-b"}'			# 7 bad type name
		printf '%s\n' '{"type":"1abc"}'			# 8 bad type name
		printf '%s\n' '{"type":""}'			# 9 empty type
		printf '%s\n' '{"type":"sqlite_master"}'	# 10 reserved
		printf '%s\n' '{"type":"SIMLOG_batches"}'	# 11 reserved
		printf '{"type":"a","s":"x\0y"}\n'		# 12 NUL byte
		printf '{"type":"a","s":"\xff"}\n'		# 13 bad UTF-8
		printf '%s\n' '{"type":"a","type":"b"}'		# 14 type twice
		printf '%s\n' '{"type":"a","typ\u0065":"a"}'	# 15 type twice
		printf '%s\n' '{"type":"a","n":16}'		# 16 good
		printf '%s\n' '{"type":"a"} junk'		# 17 junk after
		printf '{"type":"%s"}\n' "$(printf 'x%.0s' $(seq 64))"	# 18 type too long
	} > in.jsonl
	run --separate-stderr simlog-push -s r --reject rej.jsonl < in.jsonl
	assert_equal "$status" 65
	assert_equal "$(jnum read "$output")" 18
	assert_equal "$(jnum pushed "$output")" 2
	assert_equal "$(jnum rejected "$output")" 16
	# One message per bad line, each naming its line and its cause.
	assert_equal "$(printf '%s\n' "$stderr" | wc -l)" 16
	local spec n re
	for spec in '2:' '3:.*object' '4:.*object' '5:.*type' '6:.*type.*string' \
	    '7:.*type' '8:.*type' '9:.*type' '10:.*reserved' '11:.*reserved' \
	    '12:.*NUL' '13:.*UTF-8' '14:.*type.*(twice|duplicate|more than once)' \
	    '15:.*type.*(twice|duplicate|more than once)' '17:' '18:.*type'; do
		n=${spec%%:*} re=${spec#*:}
		echo "# line $n: $re"
		printf '%s\n' "$stderr" | grep -Eiq "^simlog-push: line $n: $re"
	done
	drain_all
	assert_equal "$(landed "$DB")" "$(sed -n '1p;16p' in.jsonl | sort)"
	sed -n '2,15p;17,18p' in.jsonl > want.rej
	cmp want.rej rej.jsonl
}

@test "--reject FILE that cannot be created exits 73 naming it" {
	run --separate-stderr simlog-push -s r --reject "$BATS_TEST_TMPDIR/no/such/dir/rej" \
	    <<< '{"type":"a"}'
	assert_equal "$status" 73
	[[ $stderr == *"$BATS_TEST_TMPDIR/no/such/dir/rej"* ]]
	assert_equal "$(rcli EXISTS 'simlog:{r}:q')" 0
}

# A line of exactly N bytes: {"type":"a","s":"xxx..."}
line_of() {
	printf '{"type":"a","s":"%s"}\n' "$(head -c $(($1 - 19)) /dev/zero | tr '\0' x)"
}

@test "--max-record 100 takes a 100-byte line and refuses a 101-byte one by number" {
	{ line_of 100; line_of 101; printf '%s\n' '{"type":"a","n":3}' '['; } > in.jsonl
	assert_equal "$(sed -n 1p in.jsonl | tr -d '\n' | wc -c)" 100
	run --separate-stderr simlog-push -s m --max-record 100 --reject rej.jsonl \
	    --tee < in.jsonl
	assert_equal "$status" 65
	assert_equal "$(jnum read "$stderr")" 4
	assert_equal "$(jnum pushed "$stderr")" 2
	assert_equal "$(jnum rejected "$stderr")" 2
	printf '%s\n' "$stderr" | grep -Eq '^simlog-push: line 2: .*101'
	# As documented, the over-long line itself is never held, so it is
	# neither copied by --tee nor written to --reject.
	sed 2d in.jsonl > want.tee
	printf '%s\n' "$output" > got.tee
	cmp want.tee got.tee
	sed -n 4p in.jsonl > want.rej
	cmp want.rej rej.jsonl
	drain_all
	assert_equal "$(landed "$DB")" "$(sed -n '1p;3p' in.jsonl | sort)"
}

@test "a 5 MB line is refused under default settings and never held whole" {
	local st=0 base=
	printf '%s\n' '{"type":"a","n":1}' > small.jsonl
	{
		printf '%s\n' '{"type":"a","n":1}'
		line_of 5000000
		printf '%s\n' '{"type":"a","n":3}'
	} > in.jsonl
	if [ -x /usr/bin/time ]; then
		maxrss simlog-push -s small < small.jsonl > /dev/null
		base=$RSS_KB
		maxrss simlog-push -s big < in.jsonl > out 2> err || st=$?
		echo "# peak RSS: $base KiB for one small line, $RSS_KB KiB with the 5 MB line"
	else
		echo "# no GNU time: peak memory not checked"
		simlog-push -s big < in.jsonl > out 2> err || st=$?
	fi
	cat err
	assert_equal "$st" 65
	grep -Eq '^simlog-push: line 2: .*5000000' err
	assert_equal "$(jnum pushed "$(cat out)")" 2
	assert_equal "$(jnum rejected "$(cat out)")" 1
	[ -z "$base" ] || [ $((RSS_KB - base)) -lt 4096 ]
	drain_all -s big
	assert_equal "$(landed "$DB")" "$(sed -n '1p;3p' in.jsonl)"
}

@test "--tee copies every input line to stdout as read; the summary goes to stderr" {
	printf '{"type":"a","n":1}\n\n[\n{"type":"a","n":4}\r\n   \n{"type":"b","n":6}\n' \
	    > in.jsonl
	run --separate-stderr simlog-push -s tee --tee < in.jsonl
	assert_equal "$status" 65
	printf '%s\n' "$output" > got
	cmp in.jsonl got
	local last
	last=$(printf '%s\n' "$stderr" | tail -n 1)
	[[ $last == '{"sim":"tee",'* ]]
	assert_equal "$(jnum pushed "$last")" 3
	assert_equal "$(jnum rejected "$last")" 1
	[[ $stderr == *"line 3:"* ]]
	# All good: the summary alone on stderr.
	"$SIMGEN" --ids -n 500 > in2.jsonl
	run --separate-stderr simlog-push -s tee --tee < in2.jsonl
	assert_success
	printf '%s\n' "$output" > got2
	cmp in2.jsonl got2
	assert_equal "$(printf '%s\n' "$stderr" | wc -l)" 1
	assert_equal "$(jnum pushed "$stderr")" 500
}

@test "--tee into head -n 1: push ends cleanly and pushes every line it read" {
	"$SIMGEN" --ids -n 20000 -s 3 > in.jsonl
	local st
	simlog-push -s h --tee < in.jsonl 2> err | head -n 1 > first
	st=${PIPESTATUS[0]}
	cat err
	assert_equal "$(cat first)" "$(head -n 1 in.jsonl)"
	assert_equal "$st" 0
	local sum read
	sum=$(tail -n 1 err)
	read=$(jnum read "$sum")
	assert_equal "$(jnum rejected "$sum")" 0
	assert_equal "$(jnum pushed "$sum")" "$read"
	[ "$read" -ge 1 ]
	drain_all
	landed "$DB" > got
	head -n "$read" in.jsonl | sort > want
	cmp want got
}

# push_on_signal SIG SOURCE: push from a pipe (SOURCE=pipe) or a FIFO
# (SOURCE=fifo) whose writer stays open, signal it once it has read all,
# and check all of it landed.
push_on_signal() {
	local sig=$1 src=$2 sim="sig-$1-$2" pid st=0
	"$SIMGEN" --ids -n 600 -s 11 > "in.$sim"
	if [ "$src" = pipe ]; then
		( echo "$BASHPID" > "writer.$sim"; cat "in.$sim"; exec sleep 120 ) 3>&- |
			simlog-push -s "$sim" > "out.$sim" 2> "err.$sim" 3>&- &
		pid=$!
		track "$pid"
		wait_until "the writer to start" test -s "writer.$sim"
		track "$(cat "writer.$sim")"
	else
		rm -f "fifo.$sim"
		mkfifo "fifo.$sim"
		simlog-push -s "$sim" < "fifo.$sim" > "out.$sim" 2> "err.$sim" 3>&- &
		pid=$!
		track "$pid"
		exec 8> "fifo.$sim"
		cat "in.$sim" >&8
	fi
	wait_until "push to read everything" blocked_reading "$pid"
	kill -"$sig" "$pid"
	# The writer stays until push has ended: it must end on the signal,
	# not on end of input.
	wait_until "push to end on SIG$sig" gone "$pid"
	if [ "$src" = fifo ]; then
		exec 8>&-
	else
		kill "$(cat "writer.$sim")"
	fi
	wait "$pid" || st=$?
	echo "# SIG$sig, $src: status $st"
	cat "err.$sim"
	assert_equal "$st" 0
	assert_equal "$(jnum pushed "$(cat "out.$sim")")" 600
	rm -f "$DB"
	drain_all -s "$sim"
	landed "$DB" > "got.$sim"
	sort "in.$sim" > "want.$sim"
	cmp "want.$sim" "got.$sim"
}

@test "SIGTERM while reading a pipe: what was written is pushed, exit 0" {
	push_on_signal TERM pipe
}

@test "SIGINT while reading a pipe: what was written is pushed, exit 0" {
	push_on_signal INT pipe
}

@test "SIGTERM while reading a FIFO: what was written is pushed, exit 0" {
	push_on_signal TERM fifo
}

@test "SIGINT while reading a FIFO: what was written is pushed, exit 0" {
	push_on_signal INT fifo
}

@test "SIGTERM with half a line read: the whole lines are pushed, nothing rejected, exit 0" {
	printf '%s\n' '{"type":"a","n":1}' '{"type":"a","n":2}' > whole.jsonl
	( echo "$BASHPID" > writer.pid; cat whole.jsonl; printf '{"type":"a","n":'
	  exec sleep 120 ) 3>&- |
		simlog-push -s half --reject rej.jsonl > out 2> err 3>&- &
	local pid=$! st=0
	track "$pid"
	wait_until "the writer to start" test -s writer.pid
	track "$(cat writer.pid)"
	wait_until "push to read everything" blocked_reading "$pid"
	kill -TERM "$pid"
	wait_until "push to end on SIGTERM" gone "$pid"
	kill "$(cat writer.pid)"
	wait "$pid" || st=$?
	cat err
	assert_equal "$st" 0
	assert_equal "$(jnum pushed "$(cat out)")" 2
	assert_equal "$(jnum rejected "$(cat out)")" 0
	[ ! -s rej.jsonl ]
	drain_all
	landed "$DB" > got
	cmp whole.jsonl got
}

stream_has_entries() {
	[ "$(rcli XLEN "simlog:{$1}:q")" -gt 0 ]
}

@test "--flush-interval sends a partial chunk while the input stays open" {
	"$SIMGEN" --ids -n 100 -s 5 > in.jsonl
	( echo "$BASHPID" > writer.pid; cat in.jsonl; exec sleep 120 ) 3>&- |
		simlog-push -s fl --flush-interval 0.2 > out 2> err 3>&- &
	local pid=$! st=0
	track "$pid"
	wait_until "the writer to start" test -s writer.pid
	track "$(cat writer.pid)"
	wait_until "a partial chunk in Redis" stream_has_entries fl
	# No EOF yet, and what was flushed can already be drained.
	kill -0 "$pid"
	drain_all
	landed "$DB" > got
	sort in.jsonl > want
	cmp want got
	kill "$(cat writer.pid)"
	wait "$pid" || st=$?
	assert_equal "$st" 0
	assert_equal "$(jnum pushed "$(cat out)")" 100
	assert_equal "$(jnum batches "$(cat out)")" 1
	drain_all
	landed "$DB" > got
	cmp want got
}

@test "Redis not running: records are spooled (75), the message names the URL" {
	"$SIMGEN" --ids -n 700 -s 4 > in.jsonl
	local url
	stop_redis main
	for url in "$REDIS_URL" "unix://$BATS_TEST_TMPDIR/no-such.sock" \
	    "redis://127.0.0.1:1/0"; do
		echo "# $url"
		run --separate-stderr simlog-push -u "$url" -s down < in.jsonl
		assert_equal "$status" 75
		[[ $stderr == "simlog-push: "*"$url"* ]]
		assert_equal "$(jnum spooled "$output")" 700
		assert_equal "$(jnum pushed "$output")" 0
		assert_equal "$(jnum failed "$output")" 0
	done
	# Redis is back: the spool is replayed once, and then it is empty.
	start_redis main
	run --separate-stderr simlog-push --replay -s down
	echo "$stderr"
	assert_success
	assert_equal "$(jnum replayed "$output")" 700
	run --separate-stderr simlog-push --replay -s down
	assert_success
	assert_equal "$(jnum replayed "$output")" 0
	drain_all
	landed "$DB" > got
	sort in.jsonl > want
	cmp want got
}

@test "Redis not running, --priority low: records dropped, exit 69 naming the URL" {
	"$SIMGEN" --ids -n 300 > in.jsonl
	stop_redis main
	run --separate-stderr simlog-push --priority low -s low < in.jsonl
	assert_equal "$status" 69
	[[ $stderr == "simlog-push: "*"$REDIS_URL"* ]]
	assert_equal "$(jnum dropped "$output")" 300
	assert_equal "$(jnum spooled "$output")" 0
	# Nothing was kept for later.
	start_redis main
	run --separate-stderr simlog-push --replay -s low
	assert_success
	assert_equal "$(jnum replayed "$output")" 0
}

@test "--password-file: a wrong password exits 77, the right one works" {
	local pw=open-sesame-42
	start_redis auth --requirepass "$pw"
	export SIMLOG_REDIS_URL=$REDIS_URL
	printf 'wrong-guess-17\n' > bad.pw
	printf '%s\n' "$pw" > good.pw
	printf '%s\n' '{"type":"a","n":1}' > in1.jsonl
	printf '%s\n' '{"type":"a","n":2}' > in2.jsonl
	printf '%s\n' '{"type":"a","n":3}' > in3.jsonl
	run --separate-stderr simlog-push -s a --password-file bad.pw < in1.jsonl
	assert_equal "$status" 77
	[[ $stderr == *"authentication failed"* ]]
	[[ $stderr$output != *wrong-guess-17* ]]
	assert_equal "$(jnum pushed "$output")" 0
	run --separate-stderr simlog-push -s a < in2.jsonl
	assert_equal "$status" 77
	[[ $stderr == *"authentication failed"* ]]
	assert_equal "$(jnum pushed "$output")" 0
	assert_equal "$(REDISCLI_AUTH=$pw rcli EXISTS 'simlog:{a}:q')" 0
	# The right password: its record is pushed, and the two refused
	# ones, kept in the spool, follow.
	run --separate-stderr simlog-push -s a --password-file good.pw < in3.jsonl
	echo "$stderr"
	assert_success
	[[ $stderr$output != *"$pw"* ]]
	assert_equal "$(jnum pushed "$output")" 1
	assert_equal "$(jnum replayed "$output")" 2
	simlog-drain -q -d "$DB" --password-file good.pw > drain.out
	landed "$DB" > got
	cat in1.jsonl in2.jsonl in3.jsonl | sort > want
	cmp want got
}

@test "a password in SIMLOG_REDIS_URL works and is never printed" {
	local pw='S3cr@t:p/w%x' enc='S3cr%40t%3Ap%2Fw%25x'
	start_redis_tcp auth --requirepass "$pw"
	local url="redis://:$enc@127.0.0.1:$REDIS_PORT/0"
	"$SIMGEN" --ids -n 300 > in.jsonl
	SIMLOG_REDIS_URL=$url run --separate-stderr simlog-push -s pw < in.jsonl
	assert_success
	assert_equal "$(jnum pushed "$output")" 300
	[[ $stderr$output != *"S3cr"* ]]
	SIMLOG_REDIS_URL="redis://default:$enc@127.0.0.1:$REDIS_PORT/0" \
	    run --separate-stderr simlog-drain -d "$DB"
	assert_success
	[[ $stderr$output != *"S3cr"* ]]
	landed "$DB" > got
	sort in.jsonl > want
	cmp want got
	# A wrong password: refused, the URL shown with the password hidden.
	SIMLOG_REDIS_URL="redis://:Wr0ng-pass-abc@127.0.0.1:$REDIS_PORT/0" \
	    run --separate-stderr simlog-push -s pw < in.jsonl
	assert_equal "$status" 77
	[[ $stderr == *"authentication failed"* ]]
	[[ $stderr == *"redis://:***@127.0.0.1:$REDIS_PORT/0"* ]]
	[[ $stderr$output != *"Wr0ng"* ]]
	# A URL too broken to use is not echoed either.
	SIMLOG_REDIS_URL="redis://:Wr0ng-pass-abc@127.0.0.1:99999/0" \
	    run --separate-stderr simlog-push -s pw < in.jsonl
	assert_equal "$status" 64
	[[ $stderr$output != *"Wr0ng"* ]]
}

@test "--url with a password warns that ps shows it, and still works" {
	start_redis_tcp auth --requirepass 'Hunter2-xyz'
	local url="redis://:Hunter2-xyz@127.0.0.1:$REDIS_PORT/0"
	printf '%s\n' '{"type":"a","n":1}' > in.jsonl
	run --separate-stderr simlog-push -u "$url" -s u < in.jsonl
	assert_success
	assert_equal "$(jnum pushed "$output")" 1
	printf '%s\n' "$stderr" | grep -qw ps
	[[ $stderr$output != *Hunter2* ]]
	run --separate-stderr simlog-drain -u "$url" -d "$DB"
	assert_success
	printf '%s\n' "$stderr" | grep -qw ps
	[[ $stderr$output != *Hunter2* ]]
	assert_equal "$(landed "$DB")" "$(cat in.jsonl)"
}

@test "a maxmemory-policy that may evict the buffer is warned about" {
	printf '%s\n' '{"type":"a","n":1}' > in.jsonl
	local policy
	for policy in allkeys-lru allkeys-random; do
		start_redis "$policy" --maxmemory-policy "$policy"
		run --separate-stderr simlog-push -u "$REDIS_URL" -s m < in.jsonl
		assert_success
		[[ $stderr == "simlog-push: "*"$policy"* ]]
		assert_equal "$(jnum pushed "$output")" 1
	done
	start_redis volatile --maxmemory-policy volatile-lru
	run --separate-stderr simlog-push -u "$REDIS_URL" -s m < in.jsonl
	assert_success
	assert_equal "$stderr" ""
}

client_named() {
	rcli CLIENT LIST | grep -q "name=$1 "
}

@test "a running push is named simlog-push in CLIENT LIST" {
	( echo "$BASHPID" > writer.pid; exec sleep 120 ) 3>&- |
		simlog-push -s n > out 3>&- &
	local pid=$! st=0
	track "$pid"
	wait_until "the writer to start" test -s writer.pid
	track "$(cat writer.pid)"
	wait_until "a client named simlog-push" client_named simlog-push
	kill "$(cat writer.pid)"
	wait "$pid" || st=$?
	assert_equal "$st" 0
	assert_equal "$(jnum read "$(cat out)")" 0
	assert_equal "$(jnum batches "$(cat out)")" 0
}

@test "the simulation: -s, else SIMLOG_SIM, else 'default'" {
	printf '%s\n' '{"type":"a","n":1}' | SIMLOG_SIM=envsim simlog-push > o1
	printf '%s\n' '{"type":"a","n":2}' | SIMLOG_SIM=envsim simlog-push -s optsim > o2
	printf '%s\n' '{"type":"a","n":3}' | simlog-push > o3
	printf '%s\n' '{"type":"a","n":4}' | SIMLOG_SIM= simlog-push > o4
	[[ $(cat o1) == '{"sim":"envsim",'* ]]
	[[ $(cat o2) == '{"sim":"optsim",'* ]]
	[[ $(cat o3) == '{"sim":"default",'* ]]
	[[ $(cat o4) == '{"sim":"default",'* ]]
	# Each simulation has its own stream (no global index).
	assert_equal "$(rcli --scan --pattern 'simlog:{*}:q' | sort | tr '\n' ' ')" \
	    "simlog:{default}:q simlog:{envsim}:q simlog:{optsim}:q "
	drain_all
	landed_sim "$DB" > got
	printf '%s\t%s\n' default '{"type":"a","n":3}' default '{"type":"a","n":4}' \
	    envsim '{"type":"a","n":1}' optsim '{"type":"a","n":2}' | sort > want
	cmp want got
}

@test "an invalid --sim or SIMLOG_SIM exits 64 naming it" {
	local bad
	for bad in 'a/b' '' 'a b' '{x}' 'x}' 'é' 'a:b' \
	    "$(printf 'x%.0s' $(seq 65))"; do
		echo "# --sim '$bad'"
		run --separate-stderr simlog-push -s "$bad" <<< '{"type":"a"}'
		assert_equal "$status" 64
		[[ $stderr == *"--sim"* ]]
		[ "$bad" = '' ] && continue
		SIMLOG_SIM=$bad run --separate-stderr simlog-push <<< '{"type":"a"}'
		assert_equal "$status" 64
		[[ $stderr == *"SIMLOG_SIM"* ]]
	done
	assert_equal "$(simlog_keys)" ""
	# The longest name allowed works.
	run --separate-stderr simlog-push -s "$(printf 'x%.0s' $(seq 64))" <<< '{"type":"a"}'
	assert_success
}

@test "keys carry the {SIM} hash tag; their counters match the input" {
	local sim=run-7.b_2
	"$SIMGEN" --ids -n 3000 -s 9 > in.jsonl
	run --separate-stderr simlog-push -s "$sim" < in.jsonl
	assert_success
	# Only the simulation's own keys, all in its hash slot.
	printf '%s\n' "simlog:{$sim}:b" "simlog:{$sim}:n" \
	    "simlog:{$sim}:q" | sort > want.keys
	simlog_keys > got.keys
	cmp want.keys got.keys
	assert_equal "$(rcli XLEN "simlog:{$sim}:q")" "$(jnum batches "$output")"
	# Per type: records and JSON bytes buffered.
	awk 'match($0, /"type":"[a-z_]+"/) {
		t = substr($0, RSTART + 8, RLENGTH - 9); n[t]++; b[t] += length($0)
	} END { for (t in n) print t, n[t], b[t] }' in.jsonl | sort > want.counts
	join <(rcli HGETALL "simlog:{$sim}:n" | paste -d' ' - - | sort) \
	    <(rcli HGETALL "simlog:{$sim}:b" | paste -d' ' - - | sort) > got.counts
	cmp want.counts got.counts
}

#!/usr/bin/env bats
# Every exit status simlog-push(1) and simlog-drain(1) list under EXIT
# STATUS, each caused for real.  (simlog-state, simlog-ping and
# simlog-pool-stats walk theirs in their own suites.)

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	export SIMLOG_RETRIES=0 SIMLOG_RETRY_BASE=0.01
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	DB=$BATS_TEST_TMPDIR/out.db
}

teardown() {
	stop_all_redis
}

# listed TOOL: the codes the tool's man page gives under EXIT STATUS.
listed() {
	awk '/^\.SH EXIT STATUS/ { on = 1; next } /^\.SH / { on = 0 }
	    on && /^\.B [0-9]+$/ { print $2 }' "$SIMLOG_TOP/man/$1.1" | sort -n |
		tr '\n' ' '
}

# oom_possible: whether a limit on address space makes malloc fail here
# (AddressSanitizer and valgrind need far more address space themselves).
oom_possible() {
	[ -z "${VALGRIND:-}" ] && ! ldd "$(command -v simlog-push)" | grep -q libasan
}

# code N: the status run last was N; note that N was seen.
code() {
	assert_equal "$status" "$1"
	SEEN="$SEEN $1"
}

# all_seen TOOL: every code listed was caused.
all_seen() {
	local c missing=
	for c in $(listed "$1"); do
		[[ " $SEEN " == *" $c "* ]] || missing="$missing $c"
	done
	[ -z "$missing" ] || { echo "not caused:$missing"; return 1; }
}

@test "simlog-push: every exit status its man page lists, each caused for real" {
	local none="unix://$BATS_TEST_TMPDIR/none.sock"
	SEEN=
	assert_equal "$(listed simlog-push)" "0 64 65 66 69 70 71 73 74 75 77 78 "
	# 0 all in Redis
	run --separate-stderr simlog-push -s a <<< '{"type":"t","n":1}'
	code 0
	# 64 bad usage
	run --separate-stderr simlog-push --batch 0 < /dev/null
	code 64
	# 65 a line rejected, the others pushed
	run --separate-stderr simlog-push -s a <<< $'{"type":"t"}\nnot json'
	code 65
	assert_equal "$(jnum pushed "$output")" 1
	# 66 the password file cannot be read
	run --separate-stderr simlog-push --password-file nopw < /dev/null
	code 66
	# 69 low-priority records dropped
	run --separate-stderr simlog-push -u "$none" --priority low <<< '{"type":"t"}'
	code 69
	assert_equal "$(jnum dropped "$output")" 1
	# 70 internal error: no memory for the line buffer --max-record asks
	# (64 MiB more than a run with the default needs)
	if oom_possible; then
		local v
		for v in $(seq 20000 4000 400000); do
			(ulimit -v "$v"; simlog-push -u "$none" --priority low \
			    < /dev/null > /dev/null 2>&1) && break
		done
		run --separate-stderr bash -c "ulimit -v $((v + 16000)); simlog-push -u '$none' --priority low --max-record 67108864 < /dev/null"
		code 70
		[[ $stderr == *"out of memory"* ]]
	else
		SEEN="$SEEN 70"
	fi
	# 71 out of open files: no socket to Redis, the records spooled
	if [ -z "${VALGRIND:-}" ]; then
		limit_for "simlog-push -s lim <<< '{\"type\":\"t\"}'"
		code 71
		assert_equal "$(jnum spooled "$output")" 1
		rm -rf "$SIMLOG_SPOOL_DIR"
	else
		SEEN="$SEEN 71"
	fi
	# 73 --reject cannot be created
	run --separate-stderr simlog-push --reject "$BATS_TEST_TMPDIR/no/dir/r" < /dev/null
	code 73
	# 74 the spool is full: records stored nowhere
	run --separate-stderr simlog-push -u "$none" --spool-max 4096 < <("$SIMGEN" --ids -n 2000 -s 3)
	code 74
	[[ $stderr == *"not stored anywhere"* ]]
	# 75 records safe in the spool
	rm -rf "$SIMLOG_SPOOL_DIR" "$SIMLOG_BREAKER_DIR"
	run --separate-stderr simlog-push -u "$none" <<< '{"type":"t"}'
	code 75
	assert_equal "$(jnum spooled "$output")" 1
	# 77 authentication refused (records spooled)
	rm -rf "$SIMLOG_SPOOL_DIR" "$SIMLOG_BREAKER_DIR"
	start_redis locked --requirepass sekret
	run --separate-stderr simlog-push -u "$REDIS_URL" <<< '{"type":"t"}'
	code 77
	[[ $stderr == *"authentication"* ]]
	# 78 Redis blames the setup: a database it does not have
	start_redis plain
	run --separate-stderr simlog-push -u "$REDIS_URL?db=16" <<< '{"type":"t"}'
	code 78
	[[ $stderr == *"no such database on this server"* ]]
	all_seen simlog-push
}

@test "simlog-drain: every exit status its man page lists, each caused for real" {
	local none="unix://$BATS_TEST_TMPDIR/none.sock"
	SEEN=
	assert_equal "$(listed simlog-drain)" "0 64 65 66 69 70 71 73 74 75 77 78 "
	"$SIMGEN" --ids -n 500 -s 4 | simlog-push -s a > /dev/null
	# 0 drained
	run --separate-stderr simlog-drain -q -d "$DB"
	code 0
	assert_equal "$(jnum rows "${lines[-1]}")" 500
	# 64 bad usage
	run --separate-stderr simlog-drain --shard 2/2 -d "$DB"
	code 64
	# 65 an undecodable entry set aside
	rcli XADD 'simlog:{a}:q' '*' c garbage > /dev/null
	run --separate-stderr simlog-drain -q -d "$DB"
	code 65
	# 66 the password file cannot be read
	run --separate-stderr simlog-drain --password-file nopw -d "$DB"
	code 66
	# 69 Redis unreachable
	run --separate-stderr simlog-drain -u "$none" -d "$DB"
	code 69
	# 70 internal error: no memory to list fifty thousand simulations
	if oom_possible; then
		local v
		for v in $(seq 20000 2000 200000); do
			(ulimit -v "$v"; simlog-drain -q -d "$DB" > /dev/null 2>&1) && break
		done
		rcli -n 1 EVAL "for i = 1, 50000 do
		    redis.call('XADD', 'simlog:{s' .. i .. '}:q', '*', 'c', 'x')
		end" 0 > /dev/null
		run --separate-stderr bash -c "ulimit -v $((v + 2000)); simlog-drain -q -u '$REDIS_URL?db=1' -d '$DB'"
		code 70
		[[ $stderr == *"out of memory"* ]]
	else
		SEEN="$SEEN 70"
	fi
	# 71 out of open files: no socket to Redis
	if [ -z "${VALGRIND:-}" ]; then
		limit_for "simlog-drain -q -d '$BATS_TEST_TMPDIR/lim.db'"
		code 71
	else
		SEEN="$SEEN 71"
	fi
	# 73 the database cannot be created
	run --separate-stderr simlog-drain -d "$BATS_TEST_TMPDIR/no/dir/x.db"
	code 73
	# 74 database error: the file is not a database
	printf 'this is not SQLite, not at all, not a single page of it\n%.0s' \
	    $(seq 100) > notadb
	"$SIMGEN" --ids -n 10 -s 5 | simlog-push -s b > /dev/null
	run --separate-stderr simlog-drain -d notadb
	code 74
	[[ $stderr == *notadb* ]]
	# 75 the breaker is open (Redis known to be down): try again later
	SIMLOG_BREAKER_FAILURES=1 run --separate-stderr simlog-drain -u "$none" -d "$DB"
	run --separate-stderr simlog-drain -u "$none" -d "$DB"
	code 75
	[[ $stderr == *"circuit breaker open"* ]]
	# 77 authentication refused
	start_redis locked --requirepass sekret
	run --separate-stderr simlog-drain -u "$REDIS_URL" -d "$DB"
	code 77
	# 78 configuration: a database the server does not have
	start_redis plain
	run --separate-stderr simlog-drain -u "$REDIS_URL?db=16" -d "$DB"
	code 78
	[[ $stderr == *"no such database on this server"* ]]
	all_seen simlog-drain
}

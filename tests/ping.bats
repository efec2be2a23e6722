#!/usr/bin/env bats
# simlog-ping: the JSON line, reachability and its exit codes (up, down,
# refused, unknown host, timed out, wrong password, too many clients),
# --wait for a server that comes late or never, and --check on safe and
# unsafe servers.  No test measures time: the machine is shared.

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	export LC_ALL=C
	cd "$BATS_TEST_TMPDIR"
	unset SIMLOG_REDIS_URL SIMLOG_SIM SIMLOG_DB
	export SIMLOG_SPOOL_DIR=$BATS_TEST_TMPDIR/spool
	export SIMLOG_BREAKER_DIR=$BATS_TEST_TMPDIR/breaker
}

teardown() {
	release_all
	stop_all_redis
}

# hold N [CLIENT-NAME]: a redis-cli connection kept open: it reads a FIFO
# that a sleeping process holds open, named by CLIENT SETNAME when
# CLIENT-NAME is given.  The holder opens the FIFO first (read-write, which
# does not block), so it never runs out of writers between commands; and
# the test shell holds no end of it, so processes it starts later cannot
# keep it open by inheritance.
hold() {
	local n=$1 name=${2-} fifo="$BATS_TEST_TMPDIR/hold$1.fifo"
	local out="$BATS_TEST_TMPDIR/hold$1.out" cli keeper
	mkfifo "$fifo"
	sleep 100000 1<> "$fifo" 3>&- &
	keeper=$!
	poll "the FIFO's holder" holds_open "$keeper" "$fifo"
	redis-cli -s "$REDIS_SOCK" < "$fifo" > "$out" 2>&1 3>&- &
	cli=$!
	echo "$n $cli $keeper" >> "$BATS_TEST_TMPDIR/held"
	if [ -n "$name" ]; then
		echo "CLIENT SETNAME $name" > "$fifo"
		poll "hold $n" grep -q -e '^OK' -e ERR "$out"
	else
		echo PING > "$fifo"
		poll "hold $n" grep -q -e PONG -e ERR "$out"
	fi
}

# release N: end held connection N and wait for its redis-cli to exit.
release() {
	local n cli keeper
	while read -r n cli keeper; do
		[ "$n" = "$1" ] || continue
		kill "$keeper" 2>/dev/null || true
		wait "$cli" 2>/dev/null || true
		wait "$keeper" 2>/dev/null || true
	done < "$BATS_TEST_TMPDIR/held"
	sed -i "/^$1 /d" "$BATS_TEST_TMPDIR/held"
}

# pausing PID: whether PID sleeps in nanosleep(2), i.e. simlog-ping --wait
# between two attempts.
pausing() {
	local w s
	w=$(cat "/proc/$1/wchan" 2>/dev/null) || return 1
	case $w in *nanosleep*) return 0 ;; esac
	# Where wchan is hidden: the syscall (x86-64: 35 nanosleep, 230
	# clock_nanosleep).
	s=$(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null) || return 1
	[ "$(uname -m)" = x86_64 ] && { [ "$s" = 35 ] || [ "$s" = 230 ]; }
}

release_all() {
	local n cli keeper
	[ -f "$BATS_TEST_TMPDIR/held" ] || return 0
	while read -r n cli keeper; do
		kill "$keeper" "$cli" 2>/dev/null || true
	done < "$BATS_TEST_TMPDIR/held"
	rm -f "$BATS_TEST_TMPDIR/held"
}

@test "up: one JSON line with ok, url, latency_ms and server; exit 0" {
	start_redis main
	run --separate-stderr simlog-ping -u "$REDIS_URL"
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jsql "$output" "json_valid(j)")" 1
	assert_equal "$(jget "$output" '$.ok')" 1
	assert_equal "$(jget "$output" '$.url')" "$REDIS_URL"
	assert_equal "$(jget "$output" '$.pings')" 3
	assert_equal "$(jget "$output" '$.attempts')" 1
	assert_equal "$(jsql "$output" "json_type(j, '$.error')")" ""
	# The statistics are ordered as statistics must be; no value is judged.
	assert_equal "$(jsql "$output" "
	    json_extract(j, '$.latency_ms.min') > 0 AND
	    json_extract(j, '$.latency_ms.min') <= json_extract(j, '$.latency_ms.p50') AND
	    json_extract(j, '$.latency_ms.p50') <= json_extract(j, '$.latency_ms.p99') AND
	    json_extract(j, '$.latency_ms.p99') <= json_extract(j, '$.latency_ms.max') AND
	    json_extract(j, '$.latency_ms.min') <= json_extract(j, '$.latency_ms.avg') AND
	    json_extract(j, '$.latency_ms.avg') <= json_extract(j, '$.latency_ms.max')")" 1
	local version
	version=$(rcli INFO server | tr -d '\r' | sed -n 's/^redis_version://p')
	assert_equal "$(jget "$output" '$.server.version')" "$version"
	assert_equal "$(jget "$output" '$.server.role')" master
	assert_equal "$(jget "$output" '$.server.mode')" standalone
	assert_equal "$(jsql "$output" "json_type(j, '$.server.uptime')")" integer
	# Without --check there are no findings at all.
	assert_equal "$(jsql "$output" "json_type(j, '$.findings')")" ""
}

@test "-c 10 -i 0 sends exactly 10 PINGs, counted by the server too" {
	start_redis main
	rcli CONFIG RESETSTAT > /dev/null
	run --separate-stderr simlog-ping -u "$REDIS_URL" -c 10 -i 0
	assert_success
	assert_equal "$(jget "$output" '$.pings')" 10
	# And the one every connection ends its hello with.
	run rcli INFO commandstats
	assert_output --partial "cmdstat_ping:calls=11,"
}

@test "SIMLOG_REDIS_URL is used when --url is not given" {
	start_redis main
	SIMLOG_REDIS_URL=$REDIS_URL run --separate-stderr simlog-ping -c 1
	assert_success
	assert_equal "$(jget "$output" '$.url')" "$REDIS_URL"
}

@test "its one connection is named simlog-ping; SIGINT reports what it has" {
	start_redis main
	simlog-ping -u "$REDIS_URL" -c 100000 -i 0.01 > ping.out 2> ping.err 3>&- &
	local pid=$!
	poll "simlog-ping's connection" sh -c \
	    "redis-cli -s '$REDIS_SOCK' CLIENT LIST | grep -q ' name=simlog-ping '"
	run rcli CLIENT LIST
	assert_equal "$(grep -c ' name=simlog-ping ' <<< "$output")" 1
	kill -INT "$pid"
	local st=0
	wait "$pid" || st=$?
	assert_equal "$st" 0
	run cat ping.out
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jget "$output" '$.ok')" 1
	assert_equal "$(jsql "$output" "json_extract(j, '$.pings') BETWEEN 1 AND 99999")" 1
}

@test "down (no socket): exit 69, error in the JSON line and on stderr" {
	run --separate-stderr simlog-ping -u "unix://$BATS_TEST_TMPDIR/none.sock"
	assert_equal "$status" 69
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jget "$output" '$.ok')" 0
	assert_equal "$(jget "$output" '$.pings')" 0
	local e
	e=$(jget "$output" '$.error')
	[[ $e == "cannot connect to unix://$BATS_TEST_TMPDIR/none.sock: no such file or directory" ]]
	[[ $stderr == "simlog-ping: $e" ]]
	assert_equal "$(jsql "$output" "json_type(j, '$.latency_ms')")" ""
}

@test "connection refused: exit 69, said in words" {
	# Nothing listens on TCP port 1.
	run --separate-stderr simlog-ping -u redis://127.0.0.1:1/0
	assert_equal "$status" 69
	[[ $(jget "$output" '$.error') == *"redis://127.0.0.1:1/0: connection refused" ]]
	[[ $stderr == *"connection refused"* ]]
}

@test "unknown host: exit 69, the host named in the error" {
	run --separate-stderr simlog-ping -u redis://no-such-host.invalid:6379/0 \
	    --timeout 5
	assert_equal "$status" 69
	[[ $(jget "$output" '$.error') == "cannot connect to redis://no-such-host.invalid:6379/0: "?* ]]
	[[ $stderr == *"no-such-host.invalid"* ]]
}

@test "a server that does not answer: exit 69, timed out" {
	start_redis main
	# Stopped, it still accepts connections (the kernel does) but never
	# answers.  teardown continues it.
	kill -STOP "$(cat "$BATS_TEST_TMPDIR/redis-main/bgpid")"
	run --separate-stderr simlog-ping -u "$REDIS_URL" --timeout 0.2
	assert_equal "$status" 69
	[[ $(jget "$output" '$.error') == *"timed out after 0.2 s"* ]]
}

@test "wrong password: exit 77; no password: exit 77; the right one: 0" {
	start_redis main --requirepass s3cret
	echo wrong > pw.bad
	echo s3cret > pw.good
	run --separate-stderr simlog-ping -u "$REDIS_URL" --password-file pw.bad
	assert_equal "$status" 77
	assert_equal "$(jget "$output" '$.ok')" 0
	[[ $(jget "$output" '$.error') == *"authentication failed"* ]]
	[[ $stderr == *"authentication failed"* ]]
	[[ $output$stderr != *wrong* ]]

	run --separate-stderr simlog-ping -u "$REDIS_URL"
	assert_equal "$status" 77
	[[ $(jget "$output" '$.error') == *"authentication failed"* ]]

	run --separate-stderr simlog-ping -u "$REDIS_URL" --password-file pw.good
	assert_success
	[[ $output$stderr != *s3cret* ]]
}

@test "--wait: a wrong password is not waited out" {
	start_redis main --requirepass s3cret
	echo wrong > pw.bad
	run --separate-stderr simlog-ping -u "$REDIS_URL" --password-file pw.bad \
	    --wait 60
	assert_equal "$status" 77
	assert_equal "$(jget "$output" '$.attempts')" 1
}

@test "--wait: a server started late is waited for" {
	local dir=$BATS_TEST_TMPDIR/redis-late
	simlog-ping -u "unix://$dir/sock" --wait 60 > ping.out 2> ping.err 3>&- &
	local pid=$!
	# It pauses only after a failed attempt: start the server then.
	poll "a first failed attempt" pausing "$pid"
	start_redis late
	local st=0
	wait "$pid" || st=$?
	assert_equal "$st" 0
	run cat ping.out
	assert_equal "$(jget "$output" '$.ok')" 1
	assert_equal "$(jsql "$output" "json_extract(j, '$.attempts') > 1")" 1
	assert_equal "$(jget "$output" '$.pings')" 3
	assert_equal "$(cat ping.err)" ""
}

@test "--wait: a server that never comes gives 69 after several attempts" {
	run --separate-stderr simlog-ping -u "unix://$BATS_TEST_TMPDIR/never.sock" \
	    --wait 0.5
	assert_equal "$status" 69
	assert_equal "$(jget "$output" '$.ok')" 0
	assert_equal "$(jsql "$output" "json_extract(j, '$.attempts') > 1")" 1
	[[ $(jget "$output" '$.error') == *"no such file or directory"* ]]
}

@test "max number of clients reached: 69 in words; --wait sees a slot free up" {
	start_redis main --maxclients 1
	hold 1
	run --separate-stderr simlog-ping -u "$REDIS_URL"
	assert_equal "$status" 69
	# In words when the refusal was read before the connection closed.
	local e
	e=$(jget "$output" '$.error')
	[[ $e == *"max number of clients reached"* || $e == *"broken pipe" ||
	    $e == *"connection reset by peer" ||
	    $e == *"Redis closed the connection" ]]

	simlog-ping -u "$REDIS_URL" --wait 60 > ping.out 2> ping.err 3>&- &
	local pid=$!
	poll "a refused attempt" pausing "$pid"
	release 1
	local st=0
	wait "$pid" || st=$?
	assert_equal "$st" 0
	run cat ping.out
	assert_equal "$(jget "$output" '$.ok')" 1
	assert_equal "$(jsql "$output" "json_extract(j, '$.attempts') > 1")" 1
}

@test "--check on allkeys-lru: exit 78 and a problem finding" {
	start_redis main --maxmemory-policy allkeys-lru --maxmemory 64mb \
	    --appendonly yes
	run --separate-stderr simlog-ping -u "$REDIS_URL" --check
	assert_equal "$status" 78
	assert_equal "$(jget "$output" '$.ok')" 1
	assert_equal "$(jget "$output" '$.problems')" 1
	assert_equal "$(jget "$output" '$.warnings')" 0
	assert_equal "$(jsql "$output" "json_array_length(j, '$.findings')")" 1
	assert_equal "$(jget "$output" '$.findings[0].setting')" maxmemory-policy
	assert_equal "$(jget "$output" '$.findings[0].value')" allkeys-lru
	assert_equal "$(jget "$output" '$.findings[0].severity')" problem
	[[ $(jget "$output" '$.findings[0].why') == *evict* ]]
	[[ $stderr == *"maxmemory-policy allkeys-lru"* ]]
}

@test "--check on a safe config (AOF, noeviction, maxmemory): no findings, 0" {
	start_redis main --appendonly yes --maxmemory-policy noeviction \
	    --maxmemory 64mb
	run --separate-stderr simlog-ping -u "$REDIS_URL" --check
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(jsql "$output" "json_array_length(j, '$.findings')")" 0
	assert_equal "$(jget "$output" '$.problems')" 0
	assert_equal "$(jget "$output" '$.warnings')" 0
	run --separate-stderr simlog-ping -u "$REDIS_URL" --check --strict
	assert_success
}

@test "--check: RDB snapshots count as persistence; volatile-lru is safe" {
	start_redis main --save '3600 1' --maxmemory-policy volatile-lru \
	    --maxmemory 64mb
	run --separate-stderr simlog-ping -u "$REDIS_URL" --check
	assert_success
	assert_equal "$(jsql "$output" "json_array_length(j, '$.findings')")" 0
}

@test "--check: persistence off, no maxmemory, few client slots are warnings; --strict fails" {
	start_redis main --maxclients 10
	run --separate-stderr simlog-ping -u "$REDIS_URL" --check
	assert_success
	assert_equal "$(jget "$output" '$.problems')" 0
	assert_equal "$(jget "$output" '$.warnings')" 3
	assert_equal "$(jsql "$output" "(SELECT group_concat(json_extract(value,
	    '$.setting') || ':' || json_extract(value, '$.severity'), ' ')
	    FROM json_each(j, '$.findings'))")" \
	    "appendonly:warning maxclients:warning maxmemory:warning"
	[[ $(jsql "$output" "(SELECT json_extract(value, '$.why') FROM
	    json_each(j, '$.findings') WHERE json_extract(value, '$.setting')
	    = 'maxclients')") == "1 of 10 connections in use"* ]]
	assert_equal "$stderr" ""

	run --separate-stderr simlog-ping -u "$REDIS_URL" --strict
	assert_equal "$status" 78
	assert_equal "$(jget "$output" '$.warnings')" 3
	[[ $stderr == *"appendonly no"* ]]
}

@test "--check: memory nearly full is a warning" {
	start_redis main --appendonly yes
	# A limit a tenth above what an empty server uses: over 80 % used.
	local used
	used=$(rcli INFO memory | tr -d '\r' | sed -n 's/^used_memory://p')
	rcli CONFIG SET maxmemory $((used + used / 10)) > /dev/null
	run --separate-stderr simlog-ping -u "$REDIS_URL" --check
	assert_success
	assert_equal "$(jsql "$output" "json_array_length(j, '$.findings')")" 1
	assert_equal "$(jget "$output" '$.findings[0].setting')" maxmemory
	assert_equal "$(jget "$output" '$.findings[0].severity')" warning
	[[ $(jget "$output" '$.findings[0].why') == *"little headroom"* ]]
}

@test "--check: a command renamed away fails it (78), naming the command and the tools that need it" {
	start_redis main --appendonly yes --maxmemory 64mb \
	    --rename-command EVALSHA "" --rename-command XDEL simlog-xdel
	run --separate-stderr simlog-ping -u "$REDIS_URL" --check
	assert_equal "$status" 78
	assert_equal "$(jget "$output" '$.problems')" 2
	assert_equal "$(jget "$output" '$.warnings')" 0
	assert_equal "$(jsql "$output" "(SELECT group_concat(json_extract(value,
	    '$.setting') || ':' || json_extract(value, '$.value') || ':' ||
	    json_extract(value, '$.severity'), ' ') FROM json_each(j,
	    '$.findings'))")" "command:EVALSHA:problem command:XDEL:problem"
	[[ $stderr == *"$REDIS_URL: command EVALSHA: renamed away (rename-command) or not in this server: simlog-push, simlog-drain and simlog-state need it"* ]]
	[[ $stderr == *"$REDIS_URL: command XDEL: renamed away (rename-command) or not in this server: simlog-drain needs it"* ]]
	# What it says is so: the push cannot run its scripts.
	run --separate-stderr simlog-push -u "$REDIS_URL" -s s <<< '{"type":"a","n":1}'
	assert_equal "$status" 78
	# With every command there, nothing to say.
	stop_redis main
	start_redis main --appendonly yes --maxmemory 64mb
	run --separate-stderr simlog-ping -u "$REDIS_URL" --check
	assert_success
	assert_equal "$(jsql "$output" "json_array_length(j, '$.findings')")" 0
}

@test "an ACL that denies INFO: server is null without --check, 77 with it" {
	start_redis main
	rcli ACL SETUSER default -info > /dev/null
	run --separate-stderr simlog-ping -u "$REDIS_URL"
	assert_success
	assert_equal "$(jget "$output" '$.ok')" 1
	assert_equal "$(jsql "$output" "json_type(j, '$.server')")" null
	[[ $stderr == *"INFO"* ]]
	run --separate-stderr simlog-ping -u "$REDIS_URL" --check
	assert_equal "$status" 77
	assert_equal "$(jget "$output" '$.ok')" 0
	[[ $(jget "$output" '$.error') == *"permission denied"* ]]
}

@test "--check: a replica is a problem" {
	# Its master (port 1) never answers; it is a replica all the same.
	start_redis main --appendonly yes --maxmemory 64mb --replicaof 127.0.0.1 1
	run --separate-stderr simlog-ping -u "$REDIS_URL" --check
	assert_equal "$status" 78
	assert_equal "$(jget "$output" '$.server.role')" replica
	assert_equal "$(jget "$output" '$.findings[0].setting')" role
	assert_equal "$(jget "$output" '$.findings[0].severity')" problem
}

@test "cluster mode: reported as mode cluster; --check calls it a problem" {
	# The cluster bus needs a TCP port: a random one, tried a few times.
	local try
	for try in 1 2 3 4 5; do
		rm -f "$BATS_TEST_TMPDIR/redis-main/nodes.conf"
		start_redis main --appendonly yes --maxmemory 64mb \
		    --cluster-enabled yes --cluster-port $((20000 + RANDOM % 40000)) \
		    --cluster-config-file "$BATS_TEST_TMPDIR/redis-main/nodes.conf"
		rcli PING 2>/dev/null | grep -q PONG && break
		stop_redis main KILL
	done
	run --separate-stderr simlog-ping -u "$REDIS_URL"
	assert_success
	assert_equal "$(jget "$output" '$.server.mode')" cluster
	run --separate-stderr simlog-ping -u "$REDIS_URL" --check
	assert_equal "$status" 78
	assert_equal "$(jget "$output" '$.findings[0].setting')" mode
	[[ $(jget "$output" '$.findings[0].why') == *CROSSSLOT* ]]
}

@test "a sentinel: mode and role sentinel; --check calls it a problem" {
	local dir=$BATS_TEST_TMPDIR/redis-sentinel
	mkdir -p "$dir"
	printf 'port 0\nunixsocket %s/sock\ndir %s\nlogfile %s/log\n' \
	    "$dir" "$dir" "$dir" > "$dir/sentinel.conf"
	redis-server "$dir/sentinel.conf" --sentinel > /dev/null 2>&1 3>&- &
	echo $! > "$dir/bgpid"
	poll sentinel sh -c "redis-cli -s '$dir/sock' PING 2>/dev/null | grep -q PONG"
	run --separate-stderr simlog-ping -u "unix://$dir/sock" --check
	assert_equal "$status" 78
	assert_equal "$(jget "$output" '$.server.mode')" sentinel
	assert_equal "$(jget "$output" '$.server.role')" sentinel
	assert_equal "$(jsql "$output" "json_array_length(j, '$.findings')")" 1
	assert_equal "$(jget "$output" '$.findings[0].value')" sentinel
}

@test "bad -c, -i, --wait: exit 64 naming the option" {
	local spec args opt
	for spec in "-c 0|--count" "--count 1000001|--count" "--count x|--count" \
	    "-i -1|--interval" "--interval 3601|--interval" "--wait x|--wait" \
	    "--wait -1|--wait" "-w 86401|--wait"; do
		args=${spec%|*} opt=${spec#*|}
		run --separate-stderr simlog-ping -u "unix:///nonexistent" $args
		assert_equal "$status" 64
		[[ $stderr == "simlog-ping: invalid $opt: "* ]]
		assert_equal "$output" ""
	done
}

@test "a write error on stdout exits 74" {
	[ -w /dev/full ] || skip "no /dev/full"
	start_redis main
	run --separate-stderr sh -c 'simlog-ping -u "$0" -c 1 > /dev/full' "$REDIS_URL"
	assert_equal "$status" 74
	[[ $stderr == *"write error"* ]]
}

# oom_limit CMD...: the smallest address-space limit (KiB) under which CMD
# succeeds; 0 when a limit cannot make malloc fail here (AddressSanitizer
# and valgrind need far more address space themselves).
oom_limit() {
	local v
	[ -z "${VALGRIND:-}" ] || { echo 0; return; }
	! ldd "$(command -v "$1")" | grep -q libasan || { echo 0; return; }
	for v in $(seq 1000 500 64000); do
		if (ulimit -v "$v"; "$@" > /dev/null 2>&1); then
			echo "$v"
			return
		fi
	done
	echo 0
}

@test "exit status: every code simlog-ping(1) lists, each caused for real" {
	start_redis main --maxmemory-policy allkeys-lru
	# 0
	run --separate-stderr simlog-ping -u "$REDIS_URL" -c 1
	assert_equal "$status" 0
	# 64
	run --separate-stderr simlog-ping -u "$REDIS_URL" -c 0
	assert_equal "$status" 64
	# 66 the password file cannot be read
	run --separate-stderr simlog-ping -u "$REDIS_URL" --password-file nopw
	assert_equal "$status" 66
	# 69
	run --separate-stderr simlog-ping -u "unix://$BATS_TEST_TMPDIR/none.sock"
	assert_equal "$status" 69
	# 70 out of memory: a million round trips need 8 MB more than one
	local v
	v=$(oom_limit simlog-ping -u "$REDIS_URL" -c 1)
	if [ "$v" -gt 0 ]; then
		run --separate-stderr bash -c "ulimit -v $v; simlog-ping -u '$REDIS_URL' -c 1000000 -i 0"
		assert_equal "$status" 70
		assert_equal "$stderr" "simlog-ping: out of memory"
	fi
	# 71 out of open files: no socket to Redis
	if [ -z "${VALGRIND:-}" ]; then
		limit_for "simlog-ping -u '$REDIS_URL' -c 1"
		assert_equal "$status" 71
	fi
	# 74
	run --separate-stderr sh -c 'simlog-ping -u "$0" -c 1 > /dev/full' "$REDIS_URL"
	assert_equal "$status" 74
	# 77
	rcli CONFIG SET requirepass s3cret > /dev/null
	run --separate-stderr simlog-ping -u "$REDIS_URL" -c 1
	assert_equal "$status" 77
	echo s3cret > pw
	# 78 --check found a problem; an empty password file; a database the
	# server does not have
	run --separate-stderr simlog-ping -u "$REDIS_URL" --password-file pw -c 1 --check
	assert_equal "$status" 78
	: > empty
	run --separate-stderr simlog-ping -u "$REDIS_URL" --password-file empty -c 1
	assert_equal "$status" 78
	run --separate-stderr simlog-ping -u "$REDIS_URL?db=16" --password-file pw -c 1
	assert_equal "$status" 78
	assert_equal "$(jget "$output" '$.error')" "$REDIS_URL?db=16: ERR DB index is out of range: no such database on this server (see its 'databases'): use a lower /DB in the URL"
	[[ $stderr == "simlog-ping: $REDIS_URL?db=16: ERR DB index is out of range: "* ]]
	# And the man page lists exactly these.
	local code
	for code in 0 64 66 69 70 71 74 77 78; do
		grep -q "^\.B $code\$" "$SIMLOG_TOP/man/simlog-ping.1" ||
			{ echo "man page lacks $code"; return 1; }
	done
	assert_equal "$(sed -n '/^\.SH EXIT STATUS/,/^\.SH EXAMPLES/p' "$SIMLOG_TOP/man/simlog-ping.1" |
	    grep -c '^\.B [0-9]*$')" 9
}

@test "an over-long argument is not echoed whole" {
	run --separate-stderr simlog-ping "$(printf 'y%.0s' $(seq 1 3000))"
	assert_equal "$status" 64
	[[ $stderr == "simlog-ping: unexpected argument 'yyyy"*"...' (3000 bytes)"* ]]
	[[ ${#stderr} -lt 200 ]]
}

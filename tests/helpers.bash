# Shared setup for the bats suites: every test gets its own directory and,
# when it asks, its own redis-server on a private unix socket there.

bats_load_library bats-support
bats_load_library bats-assert

SIMGEN="$SIMLOG_TOP/bench/simgen"

# start_redis NAME [redis-server options...]
# Starts a private server; sets REDIS_SOCK and REDIS_URL (and NAME_SOCK).
start_redis() {
	local name=$1; shift
	local dir="$BATS_TEST_TMPDIR/redis-$name"
	mkdir -p "$dir"
	redis-server --port 0 --unixsocket "$dir/sock" --unixsocketperm 700 \
		--dir "$dir" --save '' --appendonly no --daemonize no \
		--logfile "$dir/log" --pidfile "$dir/pid" "$@" &
	echo $! > "$dir/bgpid"
	local i
	# Up: answering.  A test that slows loading down takes LOADING for
	# an answer (REDIS_LOADING_OK=1) and looks for the end itself.
	local up=(-e PONG -e NOAUTH)
	[ "${REDIS_LOADING_OK:-0}" = 1 ] && up+=(-e LOADING)
	for i in $(seq 1 100); do
		[ -S "$dir/sock" ] && redis-cli -s "$dir/sock" ping 2>/dev/null |
			grep -q "${up[@]}" && break
		sleep 0.05
	done
	REDIS_SOCK="$dir/sock"
	REDIS_URL="unix://$dir/sock"
	export REDIS_SOCK REDIS_URL
}

# stop_redis NAME [SIGNAL]
stop_redis() {
	local dir="$BATS_TEST_TMPDIR/redis-$1" sig=${2:-TERM}
	[ -f "$dir/bgpid" ] || return 0
	local pid; pid=$(cat "$dir/bgpid")
	kill -"$sig" "$pid" 2>/dev/null || true
	local i
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$dir/bgpid" "$dir/sock"
}

stop_all_redis() {
	local d
	for d in "$BATS_TEST_TMPDIR"/redis-*; do
		[ -d "$d" ] || continue
		[ -f "$d/bgpid" ] && kill -CONT "$(cat "$d/bgpid")" 2>/dev/null
		stop_redis "${d##*/redis-}" KILL
	done
}

rcli() {
	redis-cli -s "$REDIS_SOCK" "$@"
}

# Number of rows in TABLE of DB.
rows() {
	sqlite3 "$1" "SELECT count(*) FROM \"$2\""
}

# All data of every record table in DB, one JSON per line, sorted: what
# landed, to compare with what was pushed.
landed() {
	local db=$1 t
	for t in $(sqlite3 "$db" "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'simlog\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\\'"); do
		sqlite3 "$db" "SELECT data FROM \"$t\""
	done | sort
}

# --- helpers for the tool suites (push, drain, exactly_once, usage) ---

# simlog_env: give the test its own spool and circuit-breaker state (both
# live outside Redis and would otherwise carry over between tests and into
# the user's home), and default retry settings.
simlog_env() {
	export LC_ALL=C
	export SIMLOG_SPOOL_DIR="$BATS_TEST_TMPDIR/spool"
	export SIMLOG_BREAKER_DIR="$BATS_TEST_TMPDIR/breaker"
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/run"
	unset SIMLOG_REDIS_URL SIMLOG_SIM SIMLOG_DB SIMLOG_RETRIES \
	    SIMLOG_RETRY_BASE SIMLOG_RETRY_FACTOR SIMLOG_RETRY_CAP \
	    SIMLOG_BREAKER_FAILURES SIMLOG_BREAKER_RESET
	# The sanitizer pass's shorter waits (tests/run.sh), if any.
	# shellcheck disable=SC2086
	[ -z "${SIMLOG_TEST_TIMINGS:-}" ] || export $SIMLOG_TEST_TIMINGS
}

# start_redis_tcp NAME [redis-server options...]
# Like start_redis, but also listening on 127.0.0.1 on a free port, for URLs
# that carry a password (a unix:// URL cannot).  Sets REDIS_PORT.
start_redis_tcp() {
	local name=$1; shift
	local try port
	for try in 1 2 3 4 5; do
		port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		start_redis "$name" --port "$port" --bind 127.0.0.1 "$@"
		# redis-server binds its TCP port before its unix socket and
		# exits when the port is taken.
		if [ -S "$REDIS_SOCK" ] &&
		    kill -0 "$(cat "$BATS_TEST_TMPDIR/redis-$name/bgpid")" 2>/dev/null; then
			REDIS_PORT=$port
			export REDIS_PORT
			return 0
		fi
		stop_redis "$name" KILL
	done
	echo "start_redis_tcp: no free port found" >&2
	return 1
}

# jnum NAME TEXT: the number N of the first "NAME":N in TEXT (a summary line).
jnum() {
	printf '%s\n' "$2" | grep -o "\"$1\":-\{0,1\}[0-9][0-9]*" | head -n 1 |
		cut -d: -f2
}

# wait_until WHAT CMD...: run CMD every 50 ms until it succeeds, giving up
# after $SIMLOG_WAIT seconds (default 30).  The bound only catches a tool
# that is stuck; it measures nothing.
wait_until() {
	local what=$1; shift
	local i n=$(( ${SIMLOG_WAIT:-30} * 20 ))
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	echo "gave up waiting for $what" >&2
	return 1
}

# blocked_reading PID: whether PID sleeps in read(2) on its standard input,
# an empty pipe or FIFO.  A reader asleep on an empty pipe has taken in
# everything written to it so far.
blocked_reading() {
	local w s
	w=$(cat "/proc/$1/wchan" 2>/dev/null) || return 1
	case $w in *pipe_read*|pipe_wait*) return 0 ;; esac
	# Where wchan is hidden: the syscall number and first argument
	# (x86-64: read is 0; fd 0).
	s=$(cut -d' ' -f1,2 "/proc/$1/syscall" 2>/dev/null) || return 1
	[ "$s" = "0 0x0" ] && [ "$(uname -m)" = x86_64 ]
}

# gone PID: whether process PID has ended (exited, or a zombie not yet
# reaped).
gone() {
	[ ! -e "/proc/$1" ] || [ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" = Z ]
}

# track PID...: note background processes a test started, for kill_tracked.
track() {
	echo "$@" >> "$BATS_TEST_TMPDIR/tracked.pids"
}

# kill_tracked: end (by id) every process noted with track; for teardown.
kill_tracked() {
	local f="$BATS_TEST_TMPDIR/tracked.pids" p
	[ -f "$f" ] || return 0
	for p in $(cat "$f"); do
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -f "$f"
}

# landed_sim DB: like landed, each line "simulation_id<TAB>data".
landed_sim() {
	local db=$1 t
	for t in $(sqlite3 "$db" "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'simlog\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\\'"); do
		sqlite3 -separator '	' "$db" "SELECT simulation_id, data FROM \"$t\""
	done | sort
}

# record_tables DB: the names of DB's record tables, sorted.
record_tables() {
	sqlite3 "$1" "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'simlog\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\\'" | sort
}

# simlog_keys: every simlog key in the test's Redis, sorted.
simlog_keys() {
	rcli --scan --pattern 'simlog:*' | sort
}

# db_hold DB SQL: run SQL (e.g. "BEGIN IMMEDIATE;") in a sqlite3 session on
# DB and keep the session open, and whatever it holds, until db_release.
db_hold() {
	local fifo="$BATS_TEST_TMPDIR/hold.fifo" out="$BATS_TEST_TMPDIR/hold.out"
	rm -f "$fifo" "$out"
	mkfifo "$fifo"
	sqlite3 "$1" < "$fifo" > "$out" 2>&1 3>&- &
	HOLD_PID=$!
	track "$HOLD_PID"
	exec 7> "$fifo"
	printf "%s\nSELECT 'held';\n" "$2" >&7
	wait_until "sqlite3 to hold $1" grep -qx held "$out"
}

# db_release: end the db_hold session's transaction and the session.
db_release() {
	printf 'COMMIT;\n' >&7
	exec 7>&-
	wait "$HOLD_PID" || true
}

# maxrss CMD...: run CMD; RSS_KB is its peak resident set in KiB.  Returns
# CMD's status.
maxrss() {
	local f="$BATS_TEST_TMPDIR/rss" rc=0
	/usr/bin/time -f %M -o "$f" "$@" || rc=$?
	RSS_KB=$(tail -n 1 "$f")
	return $rc
}

# within SECONDS WHAT CMD...: run CMD every 50 ms until it succeeds, giving
# up once SECONDS of wall-clock time have passed (wait_until counts tries,
# which stretch on a loaded machine).  For "it happens within N s" checks.
within() {
	local limit=$1 what=$2 end
	shift 2
	end=$(( ${EPOCHREALTIME/./} + limit * 1000000 ))
	while :; do
		"$@" && return 0
		(( ${EPOCHREALTIME/./} < end )) || break
		sleep 0.05
	done
	echo "gave up after $limit s waiting for $what" >&2
	return 1
}

# jsql JSON EXPR: EXPR evaluated by SQLite's JSON functions with j the
# JSON text (jq is not among the test dependencies; sqlite3 is).
jsql() {
	printf '%s' "$1" > "$BATS_TEST_TMPDIR/jsql.json"
	sqlite3 -bail :memory: "WITH t(j) AS (SELECT CAST(readfile(
	    '$BATS_TEST_TMPDIR/jsql.json') AS TEXT)) SELECT $2 FROM t"
}

# jget JSON PATH: one member; true/false print as 1/0, null as nothing.
jget() {
	jsql "$1" "json_extract(j, '$2')"
}

# poll WHAT CMD...: run CMD every 50 ms until it succeeds; the 30 s bound
# only catches a stuck test, it measures nothing.
poll() {
	local what=$1 i; shift
	for ((i = 0; i < 600; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	echo "gave up waiting for $what" >&2
	return 1
}

# holds_open PID FILE: whether PID's standard output is FILE (open).
holds_open() {
	[ "$(readlink "/proc/$1/fd/1" 2>/dev/null)" = "$2" ]
}

# --- helpers for the fault suites (resilience, faults) ---

# gen FILE COUNT SEED...: simgen records for each seed, appended to FILE;
# fails if two lines are equal (the comparisons need unique lines).
gen() {
	local f=$1 n=$2 s
	shift 2
	for s in "$@"; do
		"$SIMGEN" --ids -n "$n" -s "$s" >> "$f"
	done
	[ -z "$(sort "$f" | uniq -d | head -n 1)" ]
}

# segments: how many spool segment files wait in $SIMLOG_SPOOL_DIR.
segments() {
	find "$SIMLOG_SPOOL_DIR" -name '*.seg' 2>/dev/null | wc -l
}

# assert_exact FILE...: the record tables of $DB hold exactly the lines of
# the FILEs, each once.
assert_exact() {
	cat "$@" | sort > want.sorted
	landed "$DB" > got.sorted
	if ! cmp -s want.sorted got.sorted; then
		echo "want $(wc -l < want.sorted) records, landed $(wc -l < got.sorted)"
		echo "missing: $(comm -23 want.sorted got.sorted | wc -l)"
		echo "extra or doubled: $(comm -13 want.sorted got.sorted | wc -l)"
		return 1
	fi
}

# redis_pid NAME: the process id of the server start_redis NAME started.
redis_pid() {
	cat "$BATS_TEST_TMPDIR/redis-$1/bgpid"
}

# now_ms: a monotonic-enough wall clock in milliseconds.
now_ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}

# hold_clients N: N more idle redis-cli connections, each reading commands
# from a FIFO no one writes; HOLDERS are their ids.
hold_clients() {
	local i
	if [ ! -p hold.fifo ]; then
		mkfifo hold.fifo
		exec 8<> hold.fifo
		HOLDERS=()
	fi
	for ((i = 0; i < $1; i++)); do
		redis-cli -s "$REDIS_SOCK" < hold.fifo > /dev/null 2>&1 3>&- 8>&- &
		HOLDERS+=($!)
		track $!
	done
}

# fill_clients: hold connections until the server refuses one more.  One
# at a time: a connection the server has not yet seen closed still counts,
# and a holder refused for it holds nothing.
fill_clients() {
	local i
	for ((i = 0; i < 50; i++)); do
		rcli PING 2>&1 | grep -q PONG || return 0
		hold_clients 1
		sleep 0.1
	done
	echo "fill_clients: the server still takes connections" >&2
	return 1
}

release_clients() {
	kill "${HOLDERS[@]}"
	wait "${HOLDERS[@]}" 2>/dev/null || true
	exec 8>&-
}

# starved N CMD...: run CMD (a shell command) with at most N open files.
starved() {
	local n=$1
	shift
	run --separate-stderr bash -c "ulimit -n $n && exec $*" 3>&-
}

# limit_for CMD...: the largest open-file limit under which CMD runs out
# of descriptors (status 71, the limit named), in LIMIT; the last run is
# one under that limit.  The runs with enough descriptors do their work.
limit_for() {
	local n
	LIMIT=
	for n in $(seq 5 40); do
		starved "$n" "$@"
		if [ "$status" -eq 71 ] &&
		    [[ $stderr == *"this process's limit of open files"* ]]; then
			LIMIT=$n
		elif [ -n "$LIMIT" ]; then
			break
		fi
	done
	echo "limit: ${LIMIT:-none}"
	[ -n "$LIMIT" ] || return 1
	starved "$LIMIT" "$@"
}

# replay_entry SIM N: append again, byte for byte, the c field of the N-th
# entry of SIM's stream, as a push retry after a lost reply would.
replay_entry() {
	rcli EVAL "local e = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[1])
		redis.call('XADD', KEYS[1], '*', 'c', e[tonumber(ARGV[1])][2][2])
		return 1" 1 "simlog:{$1}:q" "$2" > /dev/null
}

# drain_then_replay SIM DB: drain SIM into DB, then append again the chunk
# that was first in its stream, as a spooled copy replayed after its
# original was drained and deleted would be.
drain_then_replay() {
	rcli EVAL "local e = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
		redis.call('SET', 'copy', e[1][2][2]) return 1" 1 "simlog:{$1}:q" > /dev/null
	simlog-drain -q -d "$2" > /dev/null
	rcli EVAL "redis.call('XADD', KEYS[1], '*', 'c', redis.call('GET', 'copy'))
		redis.call('DEL', 'copy') return 1" 1 "simlog:{$1}:q" > /dev/null
}

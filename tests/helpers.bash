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
	for i in $(seq 1 100); do
		[ -S "$dir/sock" ] && redis-cli -s "$dir/sock" ping 2>/dev/null |
			grep -q -e PONG -e NOAUTH && break
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

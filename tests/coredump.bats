#!/usr/bin/env bats
# No password in core dumps: every tool turns core files off (RLIMIT_CORE
# 0) and makes itself not dumpable before it reads a password.
# once: core limits and dumpability; a sanitizer runtime sets those itself

load helpers

setup() {
	simlog_env
	start_redis main
	cd "$BATS_TEST_TMPDIR"
	mkfifo in.fifo
	# Read-write: the tools reading it block instead of seeing EOF.
	exec 5<> in.fifo
}

teardown() {
	exec 5>&-
	kill_tracked
	stop_all_redis
}

# start_tool TOOL ARGS...: TOOL in the background in a directory of its
# own, its standard input the FIFO; PID in TOOL_PID.
start_tool() {
	mkdir -p "$BATS_TEST_TMPDIR/cwd"
	(cd "$BATS_TEST_TMPDIR/cwd" && exec "$@" < "$BATS_TEST_TMPDIR/in.fifo" \
		> "$BATS_TEST_TMPDIR/out" 2>&1 5>&-) &
	TOOL_PID=$!
	track "$TOOL_PID"
}

# no_core PID: PID's RLIMIT_CORE is 0.
no_core() {
	grep -Eq '^Max core file size +0 +0 ' "/proc/$1/limits"
}

owned_by_root() {
	[ "$(stat -c %u "/proc/$1/status")" -eq 0 ]
}

# run_tool NAME: simlog-NAME doing something that lasts, started with
# start_tool.
run_tool() {
	case $1 in
	push)	start_tool simlog-push -u "$REDIS_URL" -s run1 ;;
	drain)	start_tool simlog-drain -q --follow -u "$REDIS_URL" -d "$BATS_TEST_TMPDIR/r.db" ;;
	state)	start_tool simlog-state -u "$REDIS_URL" save s1 ;;
	ping)	start_tool simlog-ping --wait 600 -u "unix://$BATS_TEST_TMPDIR/none.sock" ;;
	pool-stats)
		start_tool simlog-pool-stats -u "$REDIS_URL" --watch 1 ;;
	esac
}

@test "coredump: every tool runs with RLIMIT_CORE 0" {
	for t in push drain state ping pool-stats; do
		run_tool "$t"
		poll "simlog-$t to turn core files off" no_core "$TOOL_PID"
		kill -KILL "$TOOL_PID"
		wait "$TOOL_PID" || true
	done
}

@test "coredump: SIGABRT with ulimit -c unlimited leaves no core file" {
	local pattern
	pattern=$(cat /proc/sys/kernel/core_pattern)
	case $pattern in
	'|'*|*/*) skip "core_pattern '$pattern' does not write to the working directory" ;;
	esac
	ulimit -c unlimited || skip "cannot raise the core file limit"
	# The harness can see a core: an ordinary process leaves one.
	start_tool sleep 600
	poll "sleep to start" grep -q '^State:.*S' "/proc/$TOOL_PID/status"
	kill -ABRT "$TOOL_PID"
	wait "$TOOL_PID" || true
	run find "$BATS_TEST_TMPDIR/cwd" -name 'core*'
	[ -n "$output" ] || skip "no core file even from sleep(1) here"
	for t in push drain state ping pool-stats; do
		rm -rf "$BATS_TEST_TMPDIR/cwd"
		run_tool "$t"
		poll "simlog-$t to turn core files off" no_core "$TOOL_PID"
		kill -ABRT "$TOOL_PID"
		st=0
		wait "$TOOL_PID" || st=$?
		[ "$st" -eq 134 ]
		run find "$BATS_TEST_TMPDIR/cwd" -name 'core*'
		assert_output ""
	done
}

@test "coredump: a running tool is not dumpable" {
	local user=()
	if [ "$(id -u)" -eq 0 ]; then
		# Root owns every process's /proc files: watch one of nobody's.
		id nobody >/dev/null 2>&1 || skip "no user nobody"
		user=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
		"${user[@]}" test -x "$(command -v simlog-ping)" ||
			skip "user nobody cannot run $(command -v simlog-ping)"
	fi
	start_tool "${user[@]}" simlog-ping --wait 600 -u "unix://$BATS_TEST_TMPDIR/none.sock"
	poll "simlog-ping to turn core files off" no_core "$TOOL_PID"
	# A process that is not dumpable has its /proc files owned by root.
	poll "simlog-ping not to be dumpable" owned_by_root "$TOOL_PID"
	[ "$(awk '/^Uid:/ { print $2 }' "/proc/$TOOL_PID/status")" -ne 0 ]
}

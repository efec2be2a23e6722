#!/usr/bin/env bats
# make demo: it runs, asks only for the packages it needs, and leaves
# nothing behind in the user's home, state, runtime or temporary
# directories.

load helpers

@test "demo: runs and leaves nothing behind" {
	local d="$BATS_TEST_TMPDIR"
	mkdir -p "$d/home" "$d/state" "$d/run" "$d/tmp"
	cd "$SIMLOG_TOP"
	run env -u SIMLOG_SPOOL_DIR -u SIMLOG_BREAKER_DIR -u SIMLOG_REDIS_URL \
		HOME="$d/home" XDG_STATE_HOME="$d/state" \
		XDG_RUNTIME_DIR="$d/run" TMPDIR="$d/tmp" \
		O="${SIMLOG_BUILD#"$SIMLOG_TOP"/}" sh scripts/demo.sh
	assert_success
	assert_line "   0 simlog keys"
	assert_line "demo done; everything it made is removed on exit."
	run find "$d/home" "$d/state" "$d/run" "$d/tmp" -mindepth 1
	assert_output ""
}

@test "demo: asks for the build and run packages only" {
	run sh "$SIMLOG_TOP/scripts/deps.sh" -n demo
	assert_success
	for p in gcc make libhiredis-dev redis-server redis-tools sqlite3; do
		[[ " $output " == *" $p "* ]]
	done
	for p in zsh bash-completion bats man-db python3 clang systemd; do
		[[ " $output " != *" $p "* ]]
	done
}

@test "deps: every mode's packages, and an unknown mode refused" {
	run sh "$SIMLOG_TOP/scripts/deps.sh" -n
	assert_success
	[[ " $output " == *" bats "* && " $output " == *" systemd "* ]]
	run sh "$SIMLOG_TOP/scripts/deps.sh" -n fuzz
	[[ " $output " == *" clang "* && " $output " == *" libclang-rt-dev "* ]]
	run sh "$SIMLOG_TOP/scripts/deps.sh" -n bench
	[[ " $output " == *" python3-redis "* ]]
	run sh "$SIMLOG_TOP/scripts/deps.sh" nosuchmode
	assert_failure 64
	assert_output --partial "unknown mode 'nosuchmode'"
}

#!/usr/bin/env bats
# The command-line contract every simlog tool keeps (util-linux checkusage
# style): help, version, and how bad usage is refused.  Add a tool to TOOLS
# and it is held to all of it.

bats_require_minimum_version 1.5.0

TOOLS="simlog-push simlog-drain simlog-ping simlog-pool-stats simlog-state"

setup() {
	load helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	# No test here needs a server.  Point the tools at one that does not
	# exist: a tool that wrongly got past its options fails with 69, not
	# the 64 expected, and never touches a real Redis.
	export SIMLOG_REDIS_URL="unix://$BATS_TEST_TMPDIR/no-such.sock"
	VERSION=$(sed -n 's/^VERSION *:= *//p' "$SIMLOG_TOP/Makefile")
	[ -n "$VERSION" ]
}

# refused TOOL ARGS...: the tool must exit 64 with nothing on stdout.
refused() {
	echo "# $*"
	run --separate-stderr "$@" < /dev/null
	assert_equal "$status" 64
	assert_equal "$output" ""
}

@test "--help and -h print usage on stdout, exit 0, nothing on stderr" {
	local t opt
	for t in $TOOLS; do
		for opt in --help -h; do
			echo "# $t $opt"
			run --separate-stderr "$t" "$opt" < /dev/null
			assert_success
			[ -n "$output" ]
			[[ ${lines[0]} == "Usage: $t"* ]]
			assert_equal "$stderr" ""
		done
	done
}

@test "--help names every long option the tool accepts" {
	# Each option in the usage text is accepted (not refused as unknown):
	# probing with --help after it keeps the tool from doing anything.
	local t o
	for t in $TOOLS; do
		for o in $("$t" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
			echo "# $t $o"
			run --separate-stderr "$t" "$o" 1 --help < /dev/null
			[[ $stderr != *"unrecognized option"* ]]
		done
	done
}

@test "--version and -V print '<tool> (simlog) VERSION' and exit 0" {
	local t opt
	for t in $TOOLS; do
		for opt in --version -V; do
			echo "# $t $opt"
			run --separate-stderr "$t" "$opt" < /dev/null
			assert_success
			assert_output "$t (simlog) $VERSION"
			assert_equal "$stderr" ""
		done
	done
}

@test "--help and --version into a full disk fail with a write error" {
	[ -w /dev/full ] || skip "no /dev/full"
	local t opt
	for t in $TOOLS; do
		for opt in --help --version; do
			echo "# $t $opt > /dev/full"
			run --separate-stderr sh -c '"$0" "$1" >/dev/full' "$t" "$opt"
			assert_equal "$status" 74
			[[ $stderr == *"$t: "*"write error"* ]]
		done
	done
}

@test "an unknown option exits 64 with the Try line and nothing on stdout" {
	local t opt
	for t in $TOOLS; do
		for opt in --no-such-option -Z; do
			refused "$t" "$opt"
			[[ $stderr == *"Try '$t --help' for more information."* ]]
		done
	done
}

@test "an option missing its argument exits 64 with the Try line" {
	local t
	for t in $TOOLS; do
		refused "$t" --batch
		[[ $stderr == *"Try '$t --help' for more information."* ]]
	done
}

@test "a bad number exits 64 with a message naming the option" {
	local t spec opt val
	for t in $TOOLS; do
		for spec in "--batch 0" "--batch abc" "--batch -5" "--batch 12x" \
		    "--batch 99999999999999999999" "--timeout -1" \
		    "--timeout abc" "--timeout 0" "--timeout nan"; do
			opt=${spec%% *} val=${spec#* }
			refused "$t" "$opt" "$val"
			[[ $stderr == *"$t: "*"$opt"* ]]
		done
	done
	# Options only one tool has.
	for spec in "simlog-push --inflight 0" "simlog-push --max-record 1" \
	    "simlog-push --max-record x" "simlog-push --flush-interval -1" \
	    "simlog-drain --busy-timeout -1" "simlog-drain --busy-timeout x" \
	    "simlog-drain --keep-batches 0"; do
		set -- $spec
		refused "$1" "$2" "$3"
		[[ $stderr == *"$1: "*"$2"* ]]
	done
}

@test "a stray argument exits 64" {
	local t
	for t in $TOOLS; do
		refused "$t" stray
		[[ $stderr == *"stray"* ]]
		[[ $stderr == *"Try '$t --help' for more information."* ]]
	done
}

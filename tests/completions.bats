#!/usr/bin/env bats
# What the completions offer beyond option names: simulations with records
# buffered in Redis after -s/--sim, schema names after --schema, state IDs,
# formats.  bash completion is driven as bash does it (COMP_WORDS, the
# function); zsh's helpers run with the completion system's builtins
# replaced by ones that print what they are given.
# once: shell scripts; the tools they call run sanitized in other suites

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	[ -f /usr/share/bash-completion/bash_completion ] ||
		skip "bash-completion is not installed"
}

teardown() {
	stop_all_redis
}

# complete_bash TOOL WORD...: what bash completion offers for the command
# line TOOL WORD... (the last word is the one being completed), sorted.
complete_bash() {
	local tool=$1
	bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$SIMLOG_TOP/completions/$1.bash"
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		fn=$(complete -p "$1" | sed "s/.*-F \([^ ]*\) .*/\1/")
		"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' complete "$tool" "${@:2}" | sed '/^$/d' | sort
}

# complete_zsh FILE FUNCTION [OPTION VALUE]...: what a helper of a zsh
# completion FILE offers, with opt_args holding the OPTION VALUE pairs.
complete_zsh() {
	command -v zsh > /dev/null || skip "zsh is not installed"
	# Under AddressSanitizer, LeakSanitizer's check at exit was seen to
	# spin for good in tools started from this zsh; leaks are checked in
	# every other run of the tools.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 zsh -f -c '
		_arguments() { :; }
		_describe() { print -l -- ${(P)${@[-1]}}; }
		_alternative() { local a; for a; do [[ $a == names:* ]] &&
		    print -l -- $names; done; }
		typeset -A opt_args
		file=$1 fn=$2; shift 2
		while (( $# >= 2 )); do opt_args[$1]=$2; shift 2; done
		source $file
		$fn
	' complete "$SIMLOG_TOP/completions/$1" "${@:2}" | sort
}

@test "push and drain: -s and --sim offer the simulations with buffered records" {
	start_redis main
	"$SIMGEN" --ids -n 20 -s 1 | simlog-push -u "$REDIS_URL" -s run-1 > /dev/null
	"$SIMGEN" --ids -n 20 -s 2 | simlog-push -u "$REDIS_URL" -s run-2 > /dev/null
	"$SIMGEN" --ids -n 20 -s 3 | simlog-push -u "$REDIS_URL" -s other > /dev/null
	run complete_bash simlog-push -u "$REDIS_URL" -s ''
	assert_output "$(printf '%s\n' other run-1 run-2)"
	run complete_bash simlog-push --url "$REDIS_URL" --sim run
	assert_output "$(printf '%s\n' run-1 run-2)"
	run complete_bash simlog-drain -u "$REDIS_URL" -d x.db --sim ''
	assert_output "$(printf '%s\n' other run-1 run-2)"
	# SIMLOG_REDIS_URL, as the tools use it.
	SIMLOG_REDIS_URL=$REDIS_URL run complete_bash simlog-drain -s o
	assert_output other
	# A drained simulation is no longer offered.
	simlog-drain -q -u "$REDIS_URL" -s other -d x.db > /dev/null
	run complete_bash simlog-drain -u "$REDIS_URL" -s ''
	assert_output "$(printf '%s\n' run-1 run-2)"
	# No server: nothing offered, nothing said, no wait.
	run complete_bash simlog-push -u "unix://$BATS_TEST_TMPDIR/none.sock" -s ''
	assert_success
	assert_output ""

	run complete_zsh _simlog-push _simlog_buffered_sims -u "$REDIS_URL"
	assert_output "$(printf '%s\n' run-1 run-2)"
	run complete_zsh _simlog-drain _simlog_buffered_sims --url "$REDIS_URL"
	assert_output "$(printf '%s\n' run-1 run-2)"
}

@test "drain --schema offers schema names from SIMLOG_SCHEMA_PATH and the installed directory" {
	mkdir -p a b inst/bin inst/share/simlog/schemas
	touch a/alpha.schema a/shared.schema b/beta.schema b/shared.schema \
	    b/notes.txt inst/share/simlog/schemas/installed.schema
	# An installed simlog-drain: its schemas are in ../share/simlog/schemas.
	ln -s "$(command -v simlog-drain)" inst/bin/simlog-drain
	PATH="$BATS_TEST_TMPDIR/inst/bin:$PATH" SIMLOG_SCHEMA_PATH="$PWD/a:$PWD/b" \
	    run complete_bash simlog-drain --schema ''
	assert_output "$(printf '%s\n' alpha beta installed shared a b inst | sort)"
	PATH="$BATS_TEST_TMPDIR/inst/bin:$PATH" SIMLOG_SCHEMA_PATH="$PWD/a:$PWD/b" \
	    run complete_bash simlog-drain --schema al
	assert_output alpha
	# Schema files by path, too.
	SIMLOG_SCHEMA_PATH= run complete_bash simlog-drain --schema a/
	assert_output "$(printf '%s\n' a/alpha.schema a/shared.schema)"

	PATH="$BATS_TEST_TMPDIR/inst/bin:$PATH" SIMLOG_SCHEMA_PATH="$PWD/a:$PWD/b" \
	    run complete_zsh _simlog-drain _simlog_schema_names
	assert_output "$(printf '%s\n' alpha beta installed shared)"
}

@test "state load -o offers files; pool-stats --format offers openmetrics" {
	touch out.json
	run complete_bash simlog-state load run42 -o ou
	assert_output out.json
	run complete_bash simlog-state load run42 --ou
	assert_output --partial --output
	run complete_bash simlog-pool-stats --format ''
	assert_output "$(printf '%s\n' json openmetrics table)"
}

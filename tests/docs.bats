#!/usr/bin/env bats
# Every tool has a man page that renders without warnings and documents
# every long option, and bash and zsh completions that know every option.
# once: man pages and completions are text

load helpers

tools() {
	local f
	for f in "$SIMLOG_TOP"/cmd/simlog-*.c; do
		f=${f##*/}
		echo "${f%.c}"
	done
}

# The long options of the shared macro CLI_CONN_LONGOPTS in cmd/common.h:
# its lines up to the first that does not end in a backslash.
conn_options() {
	awk '/^#define CLI_CONN_LONGOPTS/ { on = 1 }
	    on { print; if (!/\\$/) exit }' "$SIMLOG_TOP/cmd/common.h" |
		grep -o '{ "[a-z][a-z0-9-]*"' | sed 's/^{ "//; s/"$//'
}

# Long options from a tool's longopts table (the connection ones come from
# the shared macro).
long_options() {
	local src="$SIMLOG_TOP/cmd/$1.c"
	if grep -q CLI_CONN_LONGOPTS "$src"; then
		conn_options
	fi
	sed -n 's/^[[:space:]]*{ "\([a-z][a-z0-9-]*\)",.*/\1/p' "$src"
}

@test "docs: the connection options are read from cmd/common.h" {
	# Were the macro renamed or reshaped, the checks below would quietly
	# hold no tool to its connection options.
	run conn_options
	assert_success
	assert_line url
	assert_line timeout
	assert_line tls-no-verify
}

@test "docs: every man page renders without warnings" {
	local page out
	for page in "$SIMLOG_TOP"/man/*.[1357]; do
		out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
		[ -z "$out" ] || { echo "$page: $out"; return 1; }
	done
}

@test "docs: every tool has a man page naming each long option" {
	local t o missing=""
	for t in $(tools); do
		[ -f "$SIMLOG_TOP/man/$t.1" ] || { echo "no man/$t.1"; return 1; }
		for o in $(long_options "$t"); do
			# roff spells each '-' of an option as '\-'.
			grep -qF -- "$(printf '%s' "--$o" | sed 's/-/\\-/g')" \
				"$SIMLOG_TOP/man/$t.1" || missing="$missing $t:--$o"
		done
	done
	[ -z "$missing" ] || { echo "not in the man page:$missing"; return 1; }
}

@test "docs: every man page has the sections users look for" {
	local t s
	for t in $(tools); do
		for s in SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES "SEE ALSO"; do
			grep -q "^\.SH \"\?$s\"\?" "$SIMLOG_TOP/man/$t.1" ||
				{ echo "man/$t.1 has no $s"; return 1; }
		done
	done
}

@test "completions: bash and zsh know every long option of every tool" {
	local t o missing=""
	for t in $(tools); do
		for o in $(long_options "$t"); do
			grep -q -- "--$o\\b" "$SIMLOG_TOP/completions/$t.bash" ||
				missing="$missing bash:$t:--$o"
			grep -q -- "--$o\\b" "$SIMLOG_TOP/completions/_$t" ||
				missing="$missing zsh:$t:--$o"
		done
	done
	[ -z "$missing" ] || { echo "missing:$missing"; return 1; }
}

@test "completions: bash completion offers the long options" {
	[ -f /usr/share/bash-completion/bash_completion ] || skip "bash-completion is not installed"
	local t
	for t in $(tools); do
		run bash -c "
			source /usr/share/bash-completion/bash_completion
			source '$SIMLOG_TOP/completions/$t.bash'
			COMP_WORDS=($t --); COMP_CWORD=1; COMP_LINE='$t --'; COMP_POINT=\${#COMP_LINE}
			\$(complete -p $t | sed 's/.*-F \([^ ]*\) .*/\1/') $t -- $t
			printf '%s\n' \"\${COMPREPLY[@]}\""
		assert_success
		assert_line --regexp '^--help'
	done
}

@test "completions: zsh completions parse" {
	command -v zsh >/dev/null || skip "zsh is not installed"
	local t
	for t in $(tools); do
		zsh -n "$SIMLOG_TOP/completions/_$t"
	done
}

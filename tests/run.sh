#!/bin/sh
# Runs the whole suite: C unit tests, then every bats file, all as TAP, and
# ends with one line "N passed, N failed".  VALGRIND=1 runs each tool under
# valgrind through wrapper scripts placed first on PATH.  TESTS="drain push"
# runs only those bats files (tests/NAME.bats) and no unit tests.
set -u
export LC_ALL=C
O=${O:-build/std}
top=$(pwd)
bin=$top/$O/bin
[ -x "$bin/simlog-push" ] || { echo "tests/run.sh: $bin: tools not built" >&2; exit 2; }

# Tallies live in the build tree, away from tests that clean /tmp.
work=$(mktemp -d "$top/$O/check.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

if [ -n "${VALGRIND:-}" ]; then
	mkdir -p "$work/bin"
	for t in "$bin"/simlog-*; do
		cat > "$work/bin/${t##*/}" <<W
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite "$t" "\$@"
W
		chmod +x "$work/bin/${t##*/}"
	done
	bin=$work/bin
fi
export PATH="$bin:$PATH"
export SIMLOG_TOP="$top" SIMLOG_BUILD="$top/$O"
export SIMLOG_SCHEMA_PATH="$top/schemas"
# Keep a developer's own settings out of the tests.
unset SIMLOG_REDIS_URL SIMLOG_SIM SIMLOG_DB

pass=0 fail=0 skip=0
count() {
	# TAP on stdin, echoed; tallies kept in files (a pipe runs in a subshell).
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case $line in
		"not ok "*) echo x >> "$work/fail" ;;
		"ok "*"# skip"*|"ok "*"# SKIP"*) echo x >> "$work/skip" ;;
		"ok "*) echo x >> "$work/pass" ;;
		esac
	done
}

: > "$work/pass"; : > "$work/fail"; : > "$work/skip"
suites=
for n in ${TESTS:-}; do
	suites="$suites $top/tests/${n%.bats}.bats"
done
[ -n "$suites" ] || suites=$(echo "$top"/tests/*.bats)

for t in "$top/$O"/tests/test_*; do
	[ -z "${TESTS:-}" ] || break
	[ -x "$t" ] || continue
	echo "# unit: ${t##*/}"
	"$t" > "$work/unit.out" 2>&1
	rc=$?
	count < "$work/unit.out"
	# A unit binary that crashed part-way still counts as a failure.
	if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$work/unit.out"; then
		echo "not ok - ${t##*/} exited with status $rc" | count
	fi
done
# shellcheck disable=SC2086
bats --tap $suites 2>&1 | count

pass=$(wc -l < "$work/pass")
fail=$(wc -l < "$work/fail")
skip=$(wc -l < "$work/skip")
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]

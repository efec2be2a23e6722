#!/bin/sh
# Runs the whole suite: C unit tests, then every bats file, all as TAP, and
# ends with one line "N passed, N failed".  VALGRIND=1 runs each tool under
# valgrind through wrapper scripts placed first on PATH.  TESTS="drain push"
# runs only those bats files (tests/NAME.bats) and no unit tests.  JOBS=N
# runs N bats files at a time (default 3; the tests mostly wait on servers,
# so a 2-core machine keeps up); each file's TAP is printed whole when the
# file ends.  With SANITIZE set (make check SANITIZE=...), files that
# carry a line "# once: WHY" are left out: they check what a sanitizer
# cannot (docs, packaging, installed plain builds), and the plain run has
# run them.
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
# Under a sanitizer the suites take shorter retry backoff and breaker
# resets (simlog_env in tests/helpers.bash applies them): waiting out the
# defaults there finds no memory bug, the plain run keeps the defaults,
# and tests/unit steps through them on a stepped clock.  A test that sets
# one itself still does.
if [ -n "${SANITIZE:-}" ]; then
	export SIMLOG_TEST_TIMINGS="SIMLOG_RETRY_BASE=0.02 SIMLOG_RETRY_CAP=0.25 SIMLOG_BREAKER_RESET=2"
else
	unset SIMLOG_TEST_TIMINGS
fi

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
if [ -n "${SANITIZE:-}" ]; then
	kept=
	for f in $suites; do
		if grep -q '^# once: ' "$f" 2>/dev/null; then
			echo "# ${f#"$top"/}: not run under SANITIZE ($(sed -n 's/^# once: //p' "$f" | head -n 1))"
		else
			kept="$kept $f"
		fi
	done
	suites=$kept
fi

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
# The longest files start first: by their time in the last run (kept in
# the build tree), files never timed before them, then the larger first.
times="$top/$O/check-times"
order() {
	for f in $suites; do
		t=$(awk -v f="${f##*/}" '$2 == f { print $1; exit }' \
		    "$times" 2>/dev/null)
		echo "${t:-999999} $(wc -c < "$f") $f"
	done | sort -k1,1nr -k2,2nr | cut -d' ' -f3-
}

# Each file runs in the background; when it ends it writes "N STATUS
# SECONDS FILE" to a FIFO, which this shell holds open for reading and
# writing, so neither side ever blocks on opening it.
mkfifo "$work/done"
exec 9<> "$work/done"
running=0 n=0
: > "$work/times"
finish_one() {
	# Names of their own: the loop that calls this is using $f.
	read -r done_n done_rc done_secs done_f <&9
	echo "# ${done_f#"$top"/} (${done_secs}s)"
	count < "$work/bats.$done_n"
	# A file that failed without a "not ok" (a bats error, a crash) still
	# counts as a failure.
	if [ "$done_rc" -ne 0 ] && ! grep -q '^not ok ' "$work/bats.$done_n"; then
		echo "not ok - ${done_f#"$top"/} exited with status $done_rc" | count
	fi
	echo "$done_secs ${done_f##*/}" >> "$work/times"
	running=$((running - 1))
}
for f in $(order); do
	[ "$running" -lt "${JOBS:-3}" ] || finish_one
	n=$((n + 1))
	(
		start=$(date +%s)
		bats --tap "$f" > "$work/bats.$n" 2>&1 9>&-
		rc=$?
		echo "$n $rc $(( $(date +%s) - start )) $f" >&9
	) &
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	finish_one
done
wait
# Times of files not run this time are kept, while the files exist.
if [ -f "$times" ]; then
	while read -r secs name; do
		[ -f "$top/tests/$name" ] || continue
		awk -v f="$name" '$2 == f { found = 1 } END { exit !found }' \
		    "$work/times" || echo "$secs $name"
	done < "$times" >> "$work/times"
fi
mv "$work/times" "$times"

pass=$(wc -l < "$work/pass")
fail=$(wc -l < "$work/fail")
skip=$(wc -l < "$work/skip")
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]

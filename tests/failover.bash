# Helpers for the suites that fail servers over, or fault them, under a
# running push (cluster.bats, sentinel.bats, redis_faults.bats): a push
# paced so that a fault lands in its middle, the replay and the drain, for
# a database in $DB (gen, segments and assert_exact are in helpers.bash).
# Load after helpers.bash.

# paced FILE SLICES PAUSE: FILE on stdout in SLICES pieces, PAUSE seconds
# apart, so that a push of it lasts long enough to be hit by a fault.
paced() {
	local f=$1 n=$2 pause=$3 per part dir
	per=$(( ($(wc -l < "$f") + n - 1) / n ))
	dir=parts.${f##*/}
	mkdir -p "$dir"
	split -l "$per" -a 3 "$f" "$dir/p."
	for part in "$dir"/p.*; do
		cat "$part" || return 0
		sleep "$pause"
	done
}

# push_bg NAME FILE SLICES PAUSE [options]: a paced simlog-push in the
# background; its id in PUSH_PID (and NAME.pid), its output in NAME.out
# and NAME.err.
push_bg() {
	local name=$1 f=$2 n=$3 pause=$4
	shift 4
	paced "$f" "$n" "$pause" 3>&- |
	    simlog-push "$@" > "$name.out" 2> "$name.err" 3>&- &
	PUSH_PID=$!
	echo "$PUSH_PID" > "$name.pid"
	track "$PUSH_PID"
}

# push_wait NAME: wait for push_bg NAME to end; it must exit 0 or 75 (some
# records spooled) and have stored every record somewhere: PUSHED and
# SPOOLED from its summary.
push_wait() {
	local rc=0 out
	wait "$(cat "$1.pid")" || rc=$?
	out=$(tail -n 1 "$1.out")
	echo "push $1 exited $rc: $out"
	tail -n 5 "$1.err"
	[[ $rc -eq 0 || $rc -eq 75 ]]
	[ "$(jnum failed "$out")" = 0 ]
	[ "$(jnum dropped "$out")" = 0 ]
	PUSHED=$(jnum pushed "$out") SPOOLED=$(jnum spooled "$out")
}

# replay [options]: simlog-push --replay must put the whole spool in Redis.
replay() {
	run --separate-stderr simlog-push --replay "$@"
	echo "replay: $output"
	echo "replay stderr: $stderr"
	assert_success
	assert_equal "$(segments)" 0
	REPLAYED=$(jnum replayed "$output")
}

# drain_all [options]: drain everything into $DB; the summary is DRAINED.
drain_all() {
	run --separate-stderr simlog-drain -q -d "$DB" "$@"
	if [ "$status" -ne 0 ]; then
		echo "simlog-drain exited $status: $stderr"
		return 1
	fi
	DRAINED=${lines[${#lines[@]} - 1]}
}

# assert_sims_exact SIM=FILE...: each simulation landed exactly its file.
assert_sims_exact() {
	local pair sim f
	landed_sim "$DB" > got.sim
	for pair in "$@"; do
		sim=${pair%%=*} f=${pair#*=}
		sort "$f" > "want.$sim"
		awk -F '\t' -v s="$sim" '$1 == s { sub(/^[^\t]*\t/, ""); print }' \
		    got.sim | sort > "got.$sim"
		if ! cmp -s "want.$sim" "got.$sim"; then
			echo "$sim: want $(wc -l < "want.$sim"), landed $(wc -l < "got.$sim")," \
			    "missing $(comm -23 "want.$sim" "got.$sim" | wc -l)," \
			    "extra or doubled $(comm -13 "want.$sim" "got.$sim" | wc -l)"
			return 1
		fi
	done
}

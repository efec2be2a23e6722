#!/usr/bin/env bats
# The core guarantee: whatever point a drain is killed at, however many
# drains and pushes run at once, and however often a chunk is delivered,
# every pushed record lands in SQLite exactly once.
#
# Random choices come from SIMLOG_SEED (printed on failure), so a failing
# run can be repeated.

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	DB=$BATS_TEST_TMPDIR/sim.db
	SEED=${SIMLOG_SEED:-$(( $(date +%s) % 100000 + $$ ))}
	RANDOM=$SEED
	echo "# SIMLOG_SEED=$SEED"
}

teardown() {
	kill_tracked
	stop_all_redis
}

# exactly_once DB FILE...: DB holds the records of the FILEs, each once,
# and nothing else; Redis holds no simlog key any more.
exactly_once() {
	local db=$1; shift
	sort "$@" > want
	# simgen never repeats a line, so equal means each record once.
	assert_equal "$(uniq -d want | wc -l)" 0
	landed "$db" > got
	echo "# $(wc -l < want) records pushed, $(wc -l < got) rows landed"
	[ -z "$(uniq -d got)" ] || { echo "# duplicate rows:"; uniq -d got | head -n 5; }
	cmp want got
	assert_equal "$(simlog_keys)" ""
}

# push_all SIM FILE [options]: push FILE's records; all must be pushed.
push_all() {
	local sim=$1 file=$2 out; shift 2
	out=$(simlog-push -s "$sim" "$@" < "$file")
	assert_equal "$(jnum pushed "$out")" "$(wc -l < "$file")"
}

@test "drains SIGKILLed at random points, then a final drain: every record once" {
	local n=${SIMLOG_EO_RECORDS:-200000} round=0 d st killed=0 more=0
	local files=in.jsonl
	"$SIMGEN" --ids -n "$n" -s 101 > in.jsonl
	push_all s in.jsonl
	# Kill drains part-way at random moments; when one gets to the end
	# before its kill, push more, until ten were killed.
	while [ "$killed" -lt 10 ] && [ "$round" -lt 40 ]; do
		round=$((round + 1))
		d=0.$(printf %02d $(( 2 + RANDOM % 29 )))
		st=0
		timeout -s KILL "$d" simlog-drain -q -d "$DB" --batch 2000 \
		    > "d$round.out" 2> "d$round.err" || st=$?
		echo "# round $round: SIGKILL after $d s: status $st," \
		    "$(sqlite3 "$DB" 'SELECT count(*) FROM simlog_batches' 2>/dev/null || echo 0) chunks in"
		# Killed, or done: anything else is a failure.
		[ "$st" -eq 137 ] || [ "$st" -eq 0 ] || { cat "d$round.err"; false; }
		if [ "$st" -eq 137 ]; then
			killed=$((killed + 1))
		else
			more=$((more + 1))
			"$SIMGEN" --ids -n 30000 -s $((200 + more)) > "more$more.jsonl"
			push_all s "more$more.jsonl"
			files="$files more$more.jsonl"
		fi
	done
	echo "# $killed drains were killed"
	run --separate-stderr simlog-drain -q -d "$DB" --batch 2000
	echo "$stderr"
	assert_success
	exactly_once "$DB" $files
	local total
	total=$(cat $files | wc -l)
	assert_equal "$(sqlite3 "$DB" 'SELECT sum(records) FROM simlog_batches')" "$total"
}

@test "two drains started together on one backlog and one database" {
	local n=100000 a=0 b=0
	"$SIMGEN" --ids -n "$n" -s 102 > in.jsonl
	push_all s in.jsonl
	# The database exists first, so neither race is about creating it.
	simlog-drain -q -d "$DB" -s none > /dev/null
	simlog-drain -q -d "$DB" --batch 2000 > a.out 2> a.err 3>&- &
	local pa=$!
	simlog-drain -q -d "$DB" --batch 2000 > b.out 2> b.err 3>&- &
	local pb=$!
	track "$pa" "$pb"
	wait "$pa" || a=$?
	wait "$pb" || b=$?
	cat a.err b.err
	assert_equal "$a" 0
	assert_equal "$b" 0
	local ra rb
	ra=$(jnum rows "$(tail -n 1 a.out)")
	rb=$(jnum rows "$(tail -n 1 b.out)")
	echo "# rows: $ra + $rb"
	assert_equal $((ra + rb)) "$n"
	exactly_once "$DB" in.jsonl
}

# drain_loop NAME: drain again and again until the file pushers.done
# appears, then once more; each run's last line goes to NAME.sums.
drain_loop() {
	local name=$1 i=0 st
	while :; do
		local last=0
		[ -e pushers.done ] && last=1
		st=0
		simlog-drain -q -d "$DB" --batch 500 > "$name.$i.out" 2> "$name.$i.err" || st=$?
		echo "$st $(tail -n 1 "$name.$i.out")" >> "$name.sums"
		i=$((i + 1))
		[ "$last" -eq 1 ] && break
	done
}

# paced FILE: FILE on stdout in 20 portions, a short pause after each.
paced() {
	local n i
	n=$(( ($(wc -l < "$1") + 19) / 20 ))
	for i in $(seq 0 19); do
		tail -n +$((i * n + 1)) "$1" | head -n "$n"
		sleep 0.05
	done
}

@test "three pushers and two looping drains at once" {
	"$SIMGEN" --ids -n 40000 -s 103 > p1.jsonl
	"$SIMGEN" --ids -n 40000 -s 104 > p2.jsonl
	"$SIMGEN" --ids -n 40000 -s 105 > p3.jsonl
	simlog-drain -q -d "$DB" -s none > /dev/null
	drain_loop da 3>&- &
	local la=$!
	drain_loop db 3>&- &
	local lb=$!
	track "$la" "$lb"
	# Two pushers share simulation s, one has t; small chunks, many of
	# them, fed in portions so the drains run while they push.
	paced p1.jsonl | simlog-push -s s --batch 50 > p1.out 2> p1.err 3>&- &
	local q1=$!
	paced p2.jsonl | simlog-push -s s --batch 50 > p2.out 2> p2.err 3>&- &
	local q2=$!
	paced p3.jsonl | simlog-push -s t --batch 50 > p3.out 2> p3.err 3>&- &
	local q3=$!
	track "$q1" "$q2" "$q3"
	local s1=0 s2=0 s3=0
	wait "$q1" || s1=$?
	wait "$q2" || s2=$?
	wait "$q3" || s3=$?
	cat p1.err p2.err p3.err
	# On a busy machine a pusher may spool chunks (Redis slow to
	# acknowledge for a quarter of --timeout), as designed: it replays
	# them itself once Redis answers (status 0), or leaves them for a
	# later replay (75), done here before the drains' last round.
	local f st inredis=0 left=0
	for f in p1:$s1 p2:$s2 p3:$s3; do
		st=${f#*:}
		f=${f%%:*}
		[ "$st" -eq 0 ] || { assert_equal "$st" 75; left=1; }
		inredis=$(( inredis + $(jnum pushed "$(cat $f.out)") +
		    $(jnum replayed "$(cat $f.out)") ))
	done
	if [ "$left" -eq 1 ]; then
		run -0 --separate-stderr simlog-push --replay
		echo "# left in the spool, replayed: $(jnum replayed "$output")" >&3
		inredis=$(( inredis + $(jnum replayed "$output") ))
	fi
	assert_equal "$inredis" 120000
	touch pushers.done
	wait "$la"
	wait "$lb"
	echo "# drain runs: $(cat da.sums db.sums | wc -l)"
	# Every drain run ended well, and their rows add up to the records.
	assert_equal "$(cut -d' ' -f1 da.sums db.sums | sort -u)" 0
	local total=0 line
	while read -r line; do
		total=$((total + $(jnum rows "$line")))
	done < <(cat da.sums db.sums)
	assert_equal "$total" 120000
	landed_sim "$DB" > got.sim
	{ sed 's/^/s\t/' p1.jsonl p2.jsonl; sed 's/^/t\t/' p3.jsonl; } | sort > want.sim
	cmp want.sim got.sim
	exactly_once "$DB" p1.jsonl p2.jsonl p3.jsonl
}

@test "a chunk delivered twice is stored once (same transaction)" {
	"$SIMGEN" --ids -n 1000 -s 106 > in.jsonl
	push_all s in.jsonl --batch 256
	replay_entry s 1
	assert_equal "$(rcli XLEN 'simlog:{s}:q')" 5
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 1000
	assert_equal "$(jnum batches "${lines[-1]}")" 4
	assert_equal "$(jnum duplicate_batches "${lines[-1]}")" 1
	assert_equal "$(jnum duplicate_rows "${lines[-1]}")" 256
	exactly_once "$DB" in.jsonl
}

@test "a chunk delivered twice is stored once (later transaction, later run)" {
	"$SIMGEN" --ids -n 10000 -s 107 > in.jsonl
	push_all s in.jsonl --batch 100
	replay_entry s 1
	replay_entry s 50
	# --batch 1: one page of 16 entries per transaction, so each copy
	# meets its original's batch id already committed.
	run --separate-stderr simlog-drain -q -d "$DB" --batch 1
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 10000
	assert_equal "$(jnum duplicate_batches "${lines[-1]}")" 2
	assert_equal "$(jnum duplicate_rows "${lines[-1]}")" 200
	exactly_once "$DB" in.jsonl
	# A copy arriving after its original was drained and deleted.
	"$SIMGEN" --ids -n 300 -s 108 > more.jsonl
	push_all s more.jsonl --batch 256
	drain_then_replay s "$DB"
	run --separate-stderr simlog-drain -q -d "$DB"
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 0
	assert_equal "$(jnum duplicate_batches "${lines[-1]}")" 1
	assert_equal "$(jnum duplicate_rows "${lines[-1]}")" 256
	exactly_once "$DB" in.jsonl more.jsonl
}

#!/usr/bin/env bats
# The SQLite database file deleted (rm) or replaced (mv another file over
# it) under a drain, one-shot and --follow, with a producer still pushing.
# The drain must notice before it commits again and before it deletes from
# Redis what a commit stored, and exit 74 naming the file: nothing it
# committed into the lost file may be gone from Redis.
#
# The test keeps a hard link to the original file (keep.db), to see what
# the drain committed into it; after the fault a fresh drain into a new
# file must land the rest: every record in keep.db or the new file, and a
# record in both only when its batch was committed into keep.db and then
# left in Redis, never deleted.  And a file that cannot grow (a size
# limit) in the middle of a transaction: nothing of it stored or deleted.

bats_require_minimum_version 1.5.0

load helpers

setup() {
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	# The database, with its tables, before any drain of records.
	simlog-drain -q -d r.db -s none > /dev/null
	ln r.db keep.db
}

teardown() {
	kill_tracked
	stop_all_redis
}

batches_over() {
	[ "$(sqlite3 keep.db 'SELECT count(*) FROM simlog_batches' 2>/dev/null || echo 0)" -gt "$1" ]
}

# produce SIM A B: push A's records, then, once the file "go" is there,
# B's; in the background, setting PRODUCER.
produce() {
	{
		cat "$2"
		for _ in $(seq 1 600); do
			[ -e go ] && break
			sleep 0.05
		done
		cat "$3"
	} | simlog-push -s "$1" --batch 256 > push.out 2> push.err 3>&- &
	PRODUCER=$!
	track "$PRODUCER"
}

now() {
	date +%s.%N
}

# exactly_once NEW TFAULT PUSHED...: the records of the PUSHED files (all
# of simulation s) are each in keep.db or NEW; a record in both only with
# a batch in both; no batch recorded in keep.db after TFAULT (Unix time,
# taken once the file was lost) is missing from NEW, i.e. was deleted from
# Redis; Redis is empty.
exactly_once() {
	local new=$1 tfault=$2 f
	shift 2
	for f in "$@"; do
		sed 's/^/s\t/' "$f"
	done | sort > pushed
	landed_sim keep.db > kept
	landed_sim "$new" > new
	# None lost: pushed minus kept minus new (as multisets).
	comm -23 pushed kept | comm -23 - new > lost
	assert_equal "$(wc -l < lost)" 0
	# None doubled, bar batches left in Redis after their commit.
	local both
	both=$(sqlite3 keep.db "ATTACH '$new' AS n;
	    SELECT coalesce(sum(records), 0) FROM simlog_batches
	    WHERE batch IN (SELECT batch FROM n.simlog_batches)")
	echo "# kept $(wc -l < kept), new $(wc -l < new), in both (left in Redis, drained again) $both"
	assert_equal $(( $(wc -l < kept) + $(wc -l < new) - both )) "$(wc -l < pushed)"
	# What went into the lost file after the fault stayed in Redis.
	assert_equal "$(sqlite3 keep.db "ATTACH '$new' AS n;
	    SELECT count(*) FROM simlog_batches WHERE drained_at > $tfault
	    AND batch NOT IN (SELECT batch FROM n.simlog_batches)")" 0
	assert_equal "$(simlog_keys)" ""
}

# fault_during_follow HOW: a --follow drain into r.db with a producer
# pushing, the file lost by HOW (rm or mv); then a fresh drain into the
# file at r.db.
fault_during_follow() {
	"$SIMGEN" --ids -n 60000 -s 41 > a.jsonl
	"$SIMGEN" --ids -n 20000 -s 42 > b.jsonl
	local pid st=0 tfault
	simlog-drain -q -f -d r.db --batch 500 > f.out 2> f.err 3>&- &
	pid=$!
	track "$pid"
	produce s a.jsonl b.jsonl
	simlog-drain -q -d other.db -s none > /dev/null
	sqlite3 other.db "CREATE TABLE simlog_mine (x); INSERT INTO simlog_mine VALUES (42)"
	wait_until "rows to land" batches_over 10
	if [ "$1" = rm ]; then
		rm r.db
	else
		mv other.db r.db
	fi
	tfault=$(now)
	touch go
	wait_until "the drain to stop" gone "$pid"
	wait "$pid" || st=$?
	cat f.err
	assert_equal "$st" 74
	grep -q "simlog-drain: s: r.db: the database file was $2" f.err
	local pst=0
	wait "$PRODUCER" || pst=$?
	# On a busy machine the producer may spool chunks (Redis slow to
	# acknowledge for a quarter of --timeout), as designed: it replays
	# them itself once Redis answers (status 0), or leaves them for a
	# later replay (75), done here.  Every record is in Redis before the
	# fresh drain.
	[ "$pst" -eq 0 ] || assert_equal "$pst" 75
	local inredis
	inredis=$(( $(jnum pushed "$(cat push.out)") +
	    $(jnum replayed "$(cat push.out)") ))
	if [ "$pst" -eq 75 ]; then
		run -0 --separate-stderr simlog-push --replay
		inredis=$(( inredis + $(jnum replayed "$output") ))
	fi
	assert_equal "$inredis" 80000
	run simlog-drain -q -d r.db
	assert_success
	exactly_once r.db "$tfault" a.jsonl b.jsonl
	# The file that took the old one's place is whole, its own rows
	# there: the lost file's WAL was not replayed into it.
	assert_equal "$(sqlite3 r.db 'PRAGMA integrity_check')" ok
	[ "$1" = rm ] || assert_equal "$(sqlite3 r.db 'SELECT x FROM simlog_mine')" 42
}

@test "sqlite file: rm under a --follow drain with a producer running: 74 naming it; a fresh drain, every record once" {
	fault_during_follow rm deleted
}

@test "sqlite file: replaced (mv) under a --follow drain with a producer running: 74 naming it; every record once" {
	fault_during_follow mv replaced
}

@test "sqlite file: rm under a one-shot drain: 74 naming it, nothing lost; a fresh drain into a new file, every record once" {
	"$SIMGEN" --ids -n 80000 -s 43 > a.jsonl
	simlog-push -s s --batch 256 < a.jsonl > /dev/null
	local pid st=0 tfault
	simlog-drain -q -d r.db --batch 500 > d.out 2> d.err 3>&- &
	pid=$!
	track "$pid"
	wait_until "rows to land" batches_over 10
	rm r.db
	tfault=$(now)
	wait_until "the drain to stop" gone "$pid"
	wait "$pid" || st=$?
	cat d.err
	assert_equal "$st" 74
	grep -q "simlog-drain: s: r.db: the database file was deleted" d.err
	run simlog-drain -q -d new.db
	assert_success
	exactly_once new.db "$tfault" a.jsonl
}

@test "sqlite file: no room to grow (a file size limit) in the middle of a transaction, while rows are stepped by the sink's writer thread: 74, the transaction rolled back, nothing stored or deleted; with room, every record once" {
	"$SIMGEN" --ids -n 300000 -s 44 > a.jsonl
	simlog-push -q -s s < a.jsonl
	local entries
	entries=$(rcli XLEN 'simlog:{s}:q')
	# 20 MB: the database holds a few pages, the transaction's spill to
	# the WAL does not fit.  SIGXFSZ ignored: the write fails instead.
	run --separate-stderr bash -c 'trap "" XFSZ; ulimit -f 20000
		exec simlog-drain -q -d r.db --batch 300000'
	assert_equal "$status" 74
	assert_regex "$stderr" "^simlog-drain: s: r\.db: [a-z_]+: .*\(the database rolled the transaction back\)\$"
	assert_equal "$(sqlite3 r.db 'SELECT count(*) FROM simlog_batches')" 0
	assert_equal "$(rcli XLEN 'simlog:{s}:q')" "$entries"
	run -0 --separate-stderr simlog-drain -q -d r.db
	assert_equal "$(jnum rows "${lines[-1]}")" 300000
	DB=r.db assert_exact a.jsonl
	assert_equal "$(simlog_keys)" ""
}

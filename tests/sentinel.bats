#!/usr/bin/env bats
# Sentinel end to end: a master, one replica and three sentinels (one set
# for the whole file, tests/topo.bash) reached through
# redis-sentinel://S1,S2,S3/NAME.  push and drain land exactly what was
# pushed; simlog-ping and simlog-pool-stats see the master and each
# sentinel; a wrong master name and the sentinels' own password are
# handled; and a master killed (SIGKILL) in the middle of a push with
# --wait-replicas 1 loses nothing and doubles nothing once the replica
# has taken over and the spool is replayed.  The failover comes last.

bats_require_minimum_version 1.5.0

setup_file() {
	load topo
	export LC_ALL=C
	start_sentinel_set main
	topo_times | sed 's/^/# /' >&3
}

teardown_file() {
	load topo
	stop_topo
}

setup() {
	load helpers
	load topo
	load failover
	simlog_env
	# Short backoff keeps the file quick; the policy is the same.
	export SIMLOG_RETRY_BASE=0.05 SIMLOG_RETRY_CAP=0.2
	cd "$BATS_TEST_TMPDIR"
	DB=$BATS_TEST_TMPDIR/sim.db
	sentinel_refresh
	# Each test starts from an empty master (the replica follows).
	redis-cli -s "$SENTINEL_MASTER_SOCK" flushall > /dev/null
}

teardown() {
	kill_tracked
	# A sentinel a test stopped must go on for the next.
	local p
	for p in $SENTINEL_PIDS; do
		kill -CONT "$p" 2>/dev/null || true
	done
	stop_all_redis
}

@test "push and drain through the sentinels: exactly what was pushed, on the master and on its replica" {
	gen in.jsonl 20000 51
	run --separate-stderr simlog-push -u "$SENTINEL_URL" -s sen1 --wait-replicas 1 < in.jsonl
	echo "$stderr"
	assert_success
	assert_equal "$(jnum pushed "$output")" 20000
	assert_equal "$(jnum spooled "$output")" 0
	# Every chunk was confirmed by the replica: it holds them all.
	assert_equal "$(redis-cli -s "$SENTINEL_REPLICA_SOCK" xlen 'simlog:{sen1}:q')" \
	    "$(redis-cli -s "$SENTINEL_MASTER_SOCK" xlen 'simlog:{sen1}:q')"
	drain_all -u "$SENTINEL_URL"
	assert_equal "$(jnum rows "$DRAINED")" 20000
	assert_exact in.jsonl
	assert_equal "$(redis-cli -s "$SENTINEL_MASTER_SOCK" --scan --pattern 'simlog:*{sen1}*')" ""
}

@test "state through the sentinels: save --wait-replicas 1 (and SIMLOG_WAIT_REPLICAS), load, list" {
	echo '{"step": 1}' > s1.json
	run --separate-stderr simlog-state -u "$SENTINEL_URL" save st1 --wait-replicas 1 < s1.json
	assert_success
	SIMLOG_WAIT_REPLICAS=1 run --separate-stderr simlog-state -u "$SENTINEL_URL" save st1 < s1.json
	assert_success
	run --separate-stderr simlog-state -u "$SENTINEL_URL" load st1 --version 2
	assert_output "$(cat s1.json)"
	run --separate-stderr simlog-state -u "$SENTINEL_URL" list
	assert_output --partial '"st1"'
	# The replica has both versions.
	[ -n "$(redis-cli -s "$SENTINEL_REPLICA_SOCK" --scan --pattern '*st1*')" ]
}

@test "simlog-ping: the master and each sentinel, and the master each names; --check judges the master" {
	local i
	run --separate-stderr simlog-ping -u "$SENTINEL_URL" --check
	echo "$output"
	assert_success
	assert_equal "$(jget "$output" '$.ok')" 1
	assert_equal "$(jsql "$output" "json_array_length(j, '$.nodes')")" 1
	assert_equal "$(jget "$output" '$.nodes[0].addr')" "127.0.0.1:$SENTINEL_MASTER_PORT"
	assert_equal "$(jget "$output" '$.nodes[0].ok')" 1
	assert_equal "$(jget "$output" '$.nodes[0].server.role')" master
	assert_equal "$(jget "$output" '$.nodes[0].replicas')" 1
	[ -n "$(jget "$output" '$.nodes[0].latency_ms')" ]
	assert_equal "$(jsql "$output" "json_array_length(j, '$.sentinels')")" 3
	for i in 0 1 2; do
		assert_equal "$(jget "$output" "\$.sentinels[$i].ok")" 1
		assert_equal "$(jget "$output" "\$.sentinels[$i].master")" "127.0.0.1:$SENTINEL_MASTER_PORT"
	done
	assert_equal "$(jget "$output" '$.sentinels[0].addr')" "${SENTINEL_ADDRS%%,*}"
	# A master with persistence off and no maxmemory: warnings, no
	# problem, each about the master.
	assert_equal "$(jget "$output" '$.problems')" 0
	assert_equal "$(jsql "$output" "(SELECT count(*) FROM json_each(j, '$.findings') WHERE json_extract(value, '$.node') != '127.0.0.1:$SENTINEL_MASTER_PORT')")" 0
	# A sentinel named by a plain URL stores nothing: --check says which
	# URL to use.
	run --separate-stderr simlog-ping -u "redis://${SENTINEL_ADDRS%%,*}" --check
	assert_equal "$status" 78
	[[ $(jget "$output" '$.findings[0].why') == *redis-sentinel://* ]]
}

@test "a sentinel that does not answer: ping is still 0 and says which; --check --strict fails on it" {
	local pid=${SENTINEL_PIDS##* } addr=${SENTINEL_ADDRS##*,}
	kill -STOP "$pid"
	run --separate-stderr simlog-ping -u "$SENTINEL_URL" --timeout 0.5
	echo "$output"
	assert_success
	assert_equal "$(jget "$output" '$.sentinels[2].addr')" "$addr"
	assert_equal "$(jget "$output" '$.sentinels[2].ok')" 0
	[[ $(jget "$output" '$.sentinels[2].error') == *"timed out"* ]]
	assert_equal "$(jget "$output" '$.sentinels[0].ok')" 1
	run --separate-stderr simlog-ping -u "$SENTINEL_URL" --timeout 0.5 --check --strict
	assert_equal "$status" 78
	assert_equal "$(jsql "$output" "(SELECT count(*) FROM json_each(j, '$.findings') WHERE json_extract(value, '$.setting') = 'sentinel' AND json_extract(value, '$.node') = '$addr')")" 1
	[[ $stderr == *"sentinel $addr: does not answer"* ]]
	kill -CONT "$pid"
}

@test "simlog-pool-stats: the master in nodes with its connections by name; the backlog of every simulation" {
	gen a.jsonl 700 52
	gen b.jsonl 300 53
	simlog-push -u "$SENTINEL_URL" -s pa < a.jsonl > /dev/null
	simlog-push -u "$SENTINEL_URL" -s pb < b.jsonl > /dev/null
	run --separate-stderr simlog-pool-stats -u "$SENTINEL_URL"
	echo "$output"
	assert_success
	assert_equal "$(jsql "$output" "json_array_length(j, '$.nodes')")" 1
	assert_equal "$(jget "$output" '$.nodes[0].addr')" "127.0.0.1:$SENTINEL_MASTER_PORT"
	assert_equal "$(jget "$output" '$.nodes[0].role')" master
	assert_equal "$(jget "$output" '$.nodes[0].clients_by_name."simlog-pool-stats"')" 1
	# One node: the top-level figures are its own.
	assert_equal "$(jget "$output" '$.connected_clients')" "$(jget "$output" '$.nodes[0].connected_clients')"
	assert_equal "$(jget "$output" '$.utilization')" "$(jget "$output" '$.nodes[0].utilization')"
	assert_equal "$(jget "$output" '$.backlog.sims.pa.records')" 700
	assert_equal "$(jget "$output" '$.backlog.sims.pb.records')" 300
	assert_equal "$(jget "$output" '$.backlog.records')" 1000
	run --separate-stderr simlog-pool-stats -u "$SENTINEL_URL" -f table
	assert_success
	assert_line --regexp "^127\.0\.0\.1:$SENTINEL_MASTER_PORT +master "
}

@test "a wrong master name: 78 at once from every tool, naming it" {
	local url=redis-sentinel://$SENTINEL_ADDRS/nosuch t
	for t in "simlog-ping" "simlog-pool-stats" "simlog-state list" \
	    "simlog-drain -d $DB"; do
		# shellcheck disable=SC2086
		run --separate-stderr $t -u "$url"
		echo "$t: $stderr"
		assert_equal "$status" 78
		[[ $stderr == *"does not know a master named 'nosuch'"* ]]
	done
}

@test "simlog-push with a wrong master name: 78 naming it, the records kept in the spool" {
	local url=redis-sentinel://$SENTINEL_ADDRS/nosuch
	echo '{"type":"a"}' > one.jsonl
	run --separate-stderr simlog-push -u "$url" -s x < one.jsonl
	echo "$stderr"
	[[ $stderr == *"does not know a master named 'nosuch'"* ]]
	assert_equal "$(jnum spooled "$output")" 1
	# Like a refused password (77), a setting that no retry can mend is
	# its own status, not 75 ("a later run sends them").
	assert_equal "$status" 78
}

@test "the sentinels' own password: --sentinel-password-file or SIMLOG_SENTINEL_PASSWORD; without it 77" {
	local i
	for i in 1 2 3; do
		sentinel_cli "$i" sentinel config set sentinel-pass s3cret > /dev/null
		sentinel_cli "$i" acl setuser default resetpass '>s3cret' > /dev/null
	done
	echo s3cret > spw
	run --separate-stderr simlog-ping -u "$SENTINEL_URL"
	assert_equal "$status" 77
	[[ $stderr == *"sentinel ${SENTINEL_ADDRS%%,*}"*"authentication"* ]]
	run --separate-stderr simlog-ping -u "$SENTINEL_URL" --sentinel-password-file spw
	assert_success
	assert_equal "$(jget "$output" '$.sentinels[1].ok')" 1
	gen in.jsonl 1000 54
	SIMLOG_SENTINEL_PASSWORD=s3cret run --separate-stderr simlog-push -u "$SENTINEL_URL" -s spw < in.jsonl
	assert_success
	SIMLOG_SENTINEL_PASSWORD=s3cret drain_all -u "$SENTINEL_URL"
	assert_exact in.jsonl
	echo wrong > bad
	run --separate-stderr simlog-drain -u "$SENTINEL_URL" --sentinel-password-file bad -d "$DB"
	assert_equal "$status" 77
	for i in 1 2 3; do
		REDISCLI_AUTH=s3cret redis-cli --no-auth-warning \
		    -p "$(cut -d' ' -f"$i" <<< "$SENTINEL_PORTS")" acl setuser default nopass > /dev/null
		sentinel_cli "$i" sentinel config set sentinel-pass "" > /dev/null
	done
	run --separate-stderr simlog-ping -u "$SENTINEL_URL"
	assert_success
}

@test "kill -9 of the master mid-push with --wait-replicas 1: after the failover, replay and drain, every record exactly once" {
	local old=$SENTINEL_MASTER_PORT
	gen in.jsonl 40000 55 56
	push_bg p in.jsonl 40 0.15 -u "$SENTINEL_URL" -s fo --wait-replicas 1 \
	    --timeout 1 --breaker-reset 0.5
	poll "records on the master" sh -c "[ \"\$(redis-cli -s '$SENTINEL_MASTER_SOCK' xlen 'simlog:{fo}:q')\" -gt 20 ]"
	sentinel_kill_master
	sentinel_wait_failover
	echo "# failover in $SENTINEL_FAILOVER_MS ms" >&3
	[ "$SENTINEL_MASTER_PORT" != "$old" ]
	# Back as a replica, so that WAIT 1 can be met again.
	sentinel_restart_old_master
	push_wait p
	echo "# pushed $PUSHED, spooled $SPOOLED" >&3
	replay -u "$SENTINEL_URL"
	drain_all -u "$SENTINEL_URL"
	echo "$DRAINED"
	assert_exact in.jsonl
	# The new master holds nothing of it any more.
	assert_equal "$(redis-cli -s "$SENTINEL_MASTER_SOCK" --scan --pattern 'simlog:*{fo}*')" ""
}

# push_stamped NAME FILE SLICES PAUSE [options]: push_bg, with each stderr
# line stamped with the wall clock in milliseconds (NAME.err).
push_stamped() {
	local name=$1 f=$2 n=$3 pause=$4
	shift 4
	paced "$f" "$n" "$pause" 3>&- |
	    simlog-push "$@" > "$name.out" 2> >(while IFS= read -r l; do
		echo "${EPOCHREALTIME/./} $l"; done > "$name.err") 3>&- &
	PUSH_PID=$!
	echo "$PUSH_PID" > "$name.pid"
	track "$PUSH_PID"
}

# learnt NAME: whether the push learnt of the failover (the sentinels'
# switch, a READONLY, or a replica that stopped confirming), and how many
# milliseconds after a sentinel first named the new master (a "# " line).
learnt() {
	local line
	line=$(grep -m 1 -e "the sentinels switched master $SENTINEL_NAME" \
	    -e "became a replica" -e "replicas confirmed a batch" "$1.err") ||
		{ echo "push $1 never learnt of the failover"; return 1; }
	echo "# push $1 learnt of the failover $(( ${line%% *} / 1000 - SENTINEL_SWITCHED_AT )) ms after a sentinel first named the new master: ${line#* simlog-push: }" >&3
}

@test "a planned failover (SENTINEL FAILOVER) mid-push with default settings: the push waits for a replica, says so, learns the switch from the sentinels; every record exactly once" {
	gen in.jsonl 40000 57 58
	push_stamped p in.jsonl 40 0.15 -u "$SENTINEL_URL" -s pf --timeout 1
	poll "records on the master" sh -c "[ \"\$(redis-cli -s '$SENTINEL_MASTER_SOCK' xlen 'simlog:{pf}:q')\" -gt 20 ]"
	sentinel_planned_failover
	push_wait p
	cat p.err
	grep -q "the master has 1 replica: a chunk counts as pushed once one of them has it too (--wait-replicas 0 not to wait)" p.err
	learnt p
	echo "# pushed $PUSHED, spooled $SPOOLED" >&3
	replay -u "$SENTINEL_URL"
	drain_all -u "$SENTINEL_URL"
	echo "$DRAINED"
	assert_exact in.jsonl
}

@test "a planned failover mid-push with --wait-replicas 0: the push learns the switch from the sentinels; what the demoted master took meanwhile is the window that remains (counted); nothing doubled" {
	gen in.jsonl 40000 59 60
	push_stamped p in.jsonl 40 0.15 -u "$SENTINEL_URL" -s pz --timeout 1 \
	    --wait-replicas 0
	poll "records on the master" sh -c "[ \"\$(redis-cli -s '$SENTINEL_MASTER_SOCK' xlen 'simlog:{pz}:q')\" -gt 20 ]"
	sentinel_planned_failover
	push_wait p
	cat p.err
	! grep -q "the master has 1 replica" p.err
	learnt p
	grep -q "the sentinels switched master $SENTINEL_NAME from 127.0.0.1:$SENTINEL_OLD_MASTER_PORT to 127.0.0.1:$SENTINEL_MASTER_PORT (a failover)" p.err
	replay -u "$SENTINEL_URL"
	drain_all -u "$SENTINEL_URL"
	sort in.jsonl > want.sorted
	landed "$DB" > got.sorted
	# Every record that landed was pushed, once.
	assert_equal "$(comm -13 want.sorted got.sorted | wc -l)" 0
	assert_equal "$(uniq -d got.sorted | wc -l)" 0
	echo "# without --wait-replicas: $(comm -23 want.sorted got.sorted | wc -l) of $(wc -l < want.sorted) acknowledged records lost in the planned failover" >&3
}

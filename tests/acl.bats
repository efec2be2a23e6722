#!/usr/bin/env bats
# Redis ACLs: the users simlog(7) gives, created in a real redis-server,
# and every tool doing real work as its own user; a user that lacks a rule
# gets a clear NOPERM and exit 77.  Passwords travel in SIMLOG_REDIS_URL
# or a --password-file, never on a command line.

load helpers

setup() {
	simlog_env
	start_redis_tcp main
	PW="pw-$RANDOM$RANDOM"
	printf '%s\n' "$PW" > "$BATS_TEST_TMPDIR/pw"
	chmod 600 "$BATS_TEST_TMPDIR/pw"
	local u
	for u in simlog-push simlog-drain simlog-state simlog-ping \
	    simlog-pool-stats simlog; do
		make_user "$u" "$u"
	done
	rcli ACL LOG RESET >/dev/null
	DB="$BATS_TEST_TMPDIR/r.db"
	"$SIMGEN" --ids -n 600 -s 1 > "$BATS_TEST_TMPDIR/in.jsonl"
}

teardown() {
	kill_tracked
	stop_all_redis
}

# man_acl USER: the ACL SETUSER rules simlog(7) gives for USER, one a line,
# password included as written there.
man_acl() {
	sed -n '/^\.SS ACLs/,/^\.SH/p' "$SIMLOG_TOP/man/simlog.7" |
	sed -n '/^\.EX/,/^\.EE/p' |
	sed -e 's/\\-/-/g' -e 's/\\f[IPB]//g' |
	awk -v user="$1" '
	/^\./ { next }
	{ more = sub(/ *\\e$/, ""); cmd = cmd " " $0 }
	!more { n = split(cmd, w, " ")
		if (w[1] == "ACL" && w[2] == "SETUSER" && w[3] == user)
			for (i = 4; i <= n; i++) print w[i]
		cmd = "" }'
}

# make_user NAME USER [-RULE...]: create the Redis user NAME with the rules
# simlog(7) gives USER, but the password the test's and without RULEs.
make_user() {
	local name=$1 from=$2 rule drop out
	shift 2
	local -a rules=()
	while IFS= read -r rule; do
		[ "$rule" = ">password" ] && rule=">$PW"
		for drop in "$@"; do
			[ "$rule" = "${drop/-/+}" ] && continue 2
		done
		rules+=("$rule")
	done < <(man_acl "$from")
	[ "${#rules[@]}" -gt 5 ] || { echo "simlog(7) has no user $from" >&2; return 1; }
	out=$(rcli ACL SETUSER "$name" "${rules[@]}")
	[ "$out" = OK ] || { echo "ACL SETUSER $name: $out" >&2; return 1; }
}

# url USER [DB]: a URL naming USER, with the password.
url() {
	echo "redis://$1:$PW@127.0.0.1:$REDIS_PORT/${2:-0}"
}

# as USER CMD...: CMD with USER's URL, password included, in the environment.
as() {
	local u=$1
	shift
	SIMLOG_REDIS_URL=$(url "$u") "$@"
}

# denied_only_config_get: Redis's ACL LOG holds no denial but CONFIG GET,
# which the rules leave out on purpose.
denied_only_config_get() {
	local objects
	objects=$(rcli ACL LOG | awk 'prev == "object" { print } { prev = $0 }' | sort -u)
	[ -z "$objects" ] || [ "$objects" = "config|get" ] ||
		{ echo "denied: $objects" >&2; return 1; }
}

@test "acl: simlog(7) gives rules for every tool and one user for all" {
	run rcli ACL LIST
	for u in simlog-push simlog-drain simlog-state simlog-ping \
	    simlog-pool-stats simlog; do
		assert_line --partial "user $u on "
	done
	# No user of the tools may subscribe, or touch keys outside simlog:*.
	for u in simlog-push simlog-drain simlog-state simlog-ping \
	    simlog-pool-stats simlog; do
		run rcli ACL DRYRUN "$u" SET other 1
		assert_output --partial "no permissions"
		run rcli ACL DRYRUN "$u" SUBSCRIBE news
		assert_output --partial "no permissions"
		run rcli ACL DRYRUN "$u" FLUSHALL
		assert_output --partial "no permissions"
	done
}

@test "acl: push and drain as their own users, through a database other than 0" {
	run as simlog-push simlog-push -u "$(url simlog-push 1)" -s run1 \
		< "$BATS_TEST_TMPDIR/in.jsonl"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# --max-backlog reads the counters in the script.
	run as simlog-push simlog-push -u "$(url simlog-push 1)" -s run2 \
		--max-backlog 100000 < "$BATS_TEST_TMPDIR/in.jsonl"
	assert_success
	# The drain's password from a file, its user from the URL.
	run simlog-drain -q -u "redis://simlog-drain:@127.0.0.1:$REDIS_PORT/1" \
		--password-file "$BATS_TEST_TMPDIR/pw" -d "$DB"
	assert_success
	[ "$(landed "$DB" | wc -l)" -eq 1200 ]
	run rcli -n 1 --scan --pattern 'simlog:*'
	assert_output ""
	denied_only_config_get
}

@test "acl: the drain sets an undecodable entry aside, as its own user" {
	as simlog-push simlog-push -s run1 < "$BATS_TEST_TMPDIR/in.jsonl" >/dev/null 2>&1
	rcli XADD 'simlog:{run1}:q' '*' c 'not a chunk' >/dev/null
	run as simlog-drain simlog-drain -q -d "$DB"
	assert_failure 65
	[ "$(landed "$DB" | wc -l)" -eq 600 ]
	[ "$(rcli XLEN 'simlog:{run1}:corrupt')" -eq 1 ]
	denied_only_config_get
}

@test "acl: a --follow drain as its own user" {
	# With --sim it waits in XREAD BLOCK even before the stream exists.
	SIMLOG_REDIS_URL=$(url simlog-drain) simlog-drain -q --follow -s run1 -d "$DB" \
		> "$BATS_TEST_TMPDIR/follow.out" 2>&1 &
	local pid=$!
	track "$pid"
	as simlog-push simlog-push -s run1 < "$BATS_TEST_TMPDIR/in.jsonl" >/dev/null 2>&1
	poll "the follow drain to take the records" \
		eval '[ "$(landed "$DB" 2>/dev/null | wc -l)" -eq 600 ]'
	as simlog-push simlog-push -s run1 < "$BATS_TEST_TMPDIR/in.jsonl" >/dev/null 2>&1
	poll "the follow drain to take more" \
		eval '[ "$(landed "$DB" 2>/dev/null | wc -l)" -eq 1200 ]'
	kill -TERM "$pid"
	local st=0
	wait "$pid" || st=$?
	[ "$st" -eq 0 ] || { cat "$BATS_TEST_TMPDIR/follow.out"; false; }
	denied_only_config_get
}

@test "acl: simlog-state, every command, as its own user" {
	local s=simlog-state
	echo '{"step":1}' > "$BATS_TEST_TMPDIR/st1.json"
	echo '{"step":2}' > "$BATS_TEST_TMPDIR/st2.json"
	run as $s simlog-state save run1 --ttl 3600 --tag nightly \
		< "$BATS_TEST_TMPDIR/st1.json"
	assert_success
	run as $s simlog-state save run1 --expect-version 1 --max-versions 5 \
		< "$BATS_TEST_TMPDIR/st2.json"
	assert_success
	run as $s simlog-state load run1 --version 1
	assert_success
	assert_output '{"step":1}'
	as $s simlog-state versions run1
	as $s simlog-state meta run1
	run as $s simlog-state list --match 'run*'
	assert_success
	assert_output --partial run1
	as $s simlog-state rollback run1 --to 1
	run as $s simlog-state load run1
	assert_output '{"step":1}'
	as $s simlog-state delete run1 --version 2
	as $s simlog-state prune run1 --keep 1
	as $s simlog-state stats
	printf '%s\n' '{"id":"b1","state":{"x":1}}' '{"id":"b2","state":{"x":2}}' |
		as $s simlog-state save --batch
	run as $s simlog-state load --batch <<< '{"id":"b2"}'
	assert_success
	assert_output --partial '"x":2'
	# More than one piece (4 MiB): uploaded and read in ranges.
	head -c 5000000 /dev/urandom > "$BATS_TEST_TMPDIR/big.bin"
	as $s simlog-state save big --raw --compress none < "$BATS_TEST_TMPDIR/big.bin"
	as $s simlog-state load big > "$BATS_TEST_TMPDIR/big.out"
	cmp "$BATS_TEST_TMPDIR/big.bin" "$BATS_TEST_TMPDIR/big.out"
	as $s simlog-state delete big
	denied_only_config_get
}

@test "acl: simlog-ping and simlog-pool-stats as their own users" {
	as simlog simlog-push -s run1 < "$BATS_TEST_TMPDIR/in.jsonl" >/dev/null 2>&1
	run as simlog-ping simlog-ping -c 2 -i 0
	assert_success
	assert_output --partial '"version":"'
	run as simlog-ping simlog-ping --check
	assert_success
	# From a file this time.
	run simlog-pool-stats -u "redis://simlog-pool-stats:@127.0.0.1:$REDIS_PORT/0" \
		--password-file "$BATS_TEST_TMPDIR/pw"
	assert_success
	assert_output --partial '"run1"'
	[ "$(jget "$output" '$.backlog.records')" -eq 600 ]
	denied_only_config_get
}

@test "acl: simlog-ping --check names a command an ACL rule refuses and the tool that needs it" {
	# The one user of every tool, as simlog(7) gives it: all there, and
	# asking leaves no denial in the ACL log (bar CONFIG GET).
	run as simlog simlog-ping --check
	assert_success
	refute_output --partial '"setting":"command"'
	# Without +xdel: the drain's.
	make_user ops simlog -xdel
	run as ops simlog-ping --check
	assert_failure 78
	assert_output --partial '"setting":"command","value":"xdel","severity":"problem"'
	assert_output --partial "command xdel: refused to user 'ops' by an ACL rule: simlog-drain needs it (+xdel)"
	denied_only_config_get
	# ... and so it is.
	as simlog-push simlog-push -s run1 < "$BATS_TEST_TMPDIR/in.jsonl" >/dev/null 2>&1
	run as ops simlog-drain -q -d "$DB"
	assert_failure 77
	# Without +eval: what needs scripts.
	make_user no-eval simlog -eval
	run as no-eval simlog-ping --check
	assert_failure 78
	assert_output --partial "command eval: refused to user 'no-eval' by an ACL rule: simlog-push, simlog-drain and simlog-state need it (+eval)"
	# A user named after a tool is checked for that tool alone: the
	# pool-stats user runs no scripts, so its reads are run.
	run as simlog-pool-stats simlog-ping --check
	assert_success
	rcli ACL DELUSER simlog-pool-stats > /dev/null
	make_user simlog-pool-stats simlog-pool-stats -time
	run as simlog-pool-stats simlog-ping --check
	assert_failure 78
	assert_output --partial "command time: refused to user 'simlog-pool-stats' by an ACL rule: simlog-pool-stats needs it (+time)"
}

@test "acl: --wait-replicas (WAIT) for push and state, as their own users" {
	local master=$REDIS_SOCK
	start_redis replica --replicaof 127.0.0.1 "$REDIS_PORT"
	REDIS_SOCK=$master
	poll "the replica to sync" eval \
		'rcli INFO replication | grep -q "^slave0:.*state=online"'
	run as simlog-push simlog-push -s run1 --wait-replicas 1 \
		< "$BATS_TEST_TMPDIR/in.jsonl"
	assert_success
	run as simlog-state simlog-state save s1 --wait-replicas 1 <<< '{"a":1}'
	assert_success
	denied_only_config_get
}

@test "acl: the drain clears an older version's set of simulations, as its own user" {
	as simlog-push simlog-push -s run1 < "$BATS_TEST_TMPDIR/in.jsonl" >/dev/null 2>&1
	rcli SADD simlog:sims run1 gone >/dev/null
	run as simlog-drain simlog-drain -q -d "$DB"
	assert_success
	[ "$(landed "$DB" | wc -l)" -eq 600 ]
	# A name whose stream is gone is taken out.
	run rcli SMEMBERS simlog:sims
	refute_line gone
	denied_only_config_get
}

@test "acl: one user runs every tool" {
	run as simlog simlog-ping
	assert_success
	as simlog simlog-push -s run1 < "$BATS_TEST_TMPDIR/in.jsonl" >/dev/null 2>&1
	run as simlog simlog-pool-stats
	assert_success
	run as simlog simlog-drain -q -d "$DB"
	assert_success
	[ "$(landed "$DB" | wc -l)" -eq 600 ]
	echo '{"a":1}' | as simlog simlog-state save s1
	run as simlog simlog-state load s1
	assert_output '{"a":1}'
	denied_only_config_get
}

@test "acl: a user lacking one rule gets NOPERM and exit 77, from every tool" {
	make_user no-xadd simlog-push -xadd
	make_user no-xdel simlog-drain -xdel
	make_user no-hset simlog-state -hset
	make_user no-ping simlog-ping -ping
	make_user no-list simlog-pool-stats -client\|list
	# A command a script runs: push keeps the records in its spool.
	run as no-xadd simlog-push -s run1 < "$BATS_TEST_TMPDIR/in.jsonl"
	assert_failure 77
	assert_output --partial "permission denied by Redis ACL"
	[ "$(jnum spooled "$output")" -eq 600 ]
	# ... and they go on from there with the right user.
	run as simlog-push simlog-push --replay
	assert_success
	[ "$(jnum replayed "$output")" -eq 600 ]
	run as no-xdel simlog-drain -q -d "$DB"
	assert_failure 77
	assert_output --partial "permission denied by Redis ACL"
	run as no-hset simlog-state save s1 <<< '{"a":1}'
	assert_failure 77
	assert_output --partial "permission denied by Redis ACL"
	run as no-ping simlog-ping
	assert_failure 77
	assert_output --partial "permission denied by Redis ACL"
	run as no-list simlog-pool-stats
	assert_failure 77
	assert_output --partial "permission denied by Redis ACL"
	# Keys of another tool.
	run as simlog-push simlog-state save s1 <<< '{"a":1}'
	assert_failure 77
	assert_output --partial "permission denied by Redis ACL"
	run as simlog-state simlog-drain -q -d "$DB"
	assert_failure 77
	assert_output --partial "permission denied by Redis ACL"
}

#!/usr/bin/env bats
# Messages name what is at fault, where it came from, and what to do
# about it (without echoing secrets or whole over-long values).

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	export SIMLOG_RETRIES=0
}

teardown() {
	stop_all_redis
}

@test "a bad URL says whether it came from --url or SIMLOG_REDIS_URL, and shows it redacted" {
	run --separate-stderr simlog-ping -u 'redis://:s3cret@h:99999/0'
	assert_equal "$status" 64
	assert_equal "$stderr" "simlog-ping: a password in --url is visible to other users (ps); use --password-file or SIMLOG_REDIS_URL
simlog-ping: invalid --url 'redis://:***@h:99999/0': URL port must be 1-65535"
	SIMLOG_REDIS_URL='http://user:s3cret@h/0' run --separate-stderr simlog-drain -d x.db
	assert_equal "$status" 64
	assert_equal "$stderr" "simlog-drain: invalid SIMLOG_REDIS_URL 'http://user:***@h/0': a URL starts with redis://, rediss://, unix://, redis-cluster:// or redis-sentinel://"
	[[ $stderr != *s3cret* ]]
}

@test "connection refused at the default URL says how to name another; from SIMLOG_REDIS_URL, says so" {
	local port
	port=$(( 20000 + RANDOM % 20000 ))
	# Nothing listens at the default (most likely) or at a free port.
	if ! redis-cli -p 6379 ping > /dev/null 2>&1; then
		run --separate-stderr simlog-ping
		assert_equal "$status" 69
		[[ $stderr == *"connection refused (the default URL: give -u URL or set SIMLOG_REDIS_URL)"* ]]
	fi
	SIMLOG_REDIS_URL=redis://127.0.0.1:$port/0 run --separate-stderr simlog-ping
	assert_equal "$status" 69
	[[ $stderr == *"connection refused (from SIMLOG_REDIS_URL)"* ]]
}

@test "a TLS URL works; TLS options with a plain URL are refused, the TLS variables ignored" {
	start_redis main
	run --separate-stderr simlog-ping -u "$REDIS_URL" --tls-ca /etc/hosts
	assert_equal "$status" 64
	[[ $stderr == *"TLS options are given but the URL does not use TLS: use rediss://"* ]]
	SIMLOG_TLS_CA=/etc/hosts run --separate-stderr simlog-ping -u "$REDIS_URL"
	assert_success
	run --separate-stderr simlog-ping -u "$REDIS_URL" --sentinel-password-file /etc/hosts
	assert_equal "$status" 64
	[[ $stderr == *"--sentinel-password-file is for redis-sentinel://"* ]]
}

@test "an unknown schema lists the schemas there are and where they were looked for" {
	run --separate-stderr simlog-drain --schema nosuch -d x.db
	assert_equal "$status" 66
	[[ $stderr == "simlog-drain: no schema named 'nosuch'; there are: agentfarm (looked in $SIMLOG_TOP/schemas, "* ]]
	[[ $stderr != *'$SIMLOG_SCHEMA_PATH'* ]]
	mkdir empty
	SIMLOG_SCHEMA_PATH=$BATS_TEST_TMPDIR/empty run --separate-stderr simlog-drain --schema nosuch -d x.db
	[[ $stderr == *"looked in $BATS_TEST_TMPDIR/empty, "* ]]
}

@test "a line without its type names -t and --type-field; a NUL byte is called one; an over-long --sim is cut" {
	start_redis main
	run --separate-stderr simlog-push -u "$REDIS_URL" <<< '{"kind":"a"}'
	assert_equal "$status" 65
	[[ $stderr == *'line 1: no "type" field (give every line'"'"'s type with -t TYPE, or name the field that holds it with --type-field)'* ]]
	run --separate-stderr simlog-push -u "$REDIS_URL" < <(printf '{"type":"a","s":"x\0y"}\n')
	assert_equal "$status" 65
	[[ $stderr == *"NUL byte"* ]]
	run --separate-stderr simlog-push -s "$(printf 'x%.0s' $(seq 5000))" < /dev/null
	assert_equal "$status" 64
	[ "${#stderr}" -lt 300 ]
	[[ $stderr == *"(too long)"* ]]
}

@test "a push that spooled names the spool, its endpoint, simlog-push --replay and --replay-from" {
	local ep="unix://$BATS_TEST_TMPDIR/none.sock?db=0"
	run --separate-stderr simlog-push -u "unix://$BATS_TEST_TMPDIR/none.sock" <<< '{"type":"a"}'
	assert_equal "$status" 75
	[[ $stderr == *"1 records wait in the spool $SIMLOG_SPOOL_DIR/"*"; the next simlog-push to $ep replays them, or now 'simlog-push --replay'; to send them with another URL, 'simlog-push --replay-from $ep -u URL'"* ]]
}

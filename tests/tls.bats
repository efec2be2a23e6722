#!/usr/bin/env bats
# TLS end to end: every tool over rediss:// against a real redis-server
# with certificates made by openssl (tests/topo.bash), with the options and
# with SIMLOG_TLS_*; client certificates; and each way a TLS connection
# goes wrong (wrong CA, wrong name, expired certificate, no or a foreign
# client certificate, plain text against TLS, TLS against plain text)
# failing fast, with a message that says what to fix and the exit status
# the man pages give.  One set of servers serves the whole file:
#   MAIN    tls-auth-clients yes, and a plain-text port beside it
#   OPEN    tls-auth-clients no (the CA alone is enough)
#   WRONG   a certificate for wrong.example only
#   EXPIRED an expired certificate

bats_require_minimum_version 1.5.0

setup_file() {
	load topo
	export LC_ALL=C
	make_certs "$BATS_FILE_TMPDIR/certs"
	start_redis_tls main --also-plain
	export MAIN_PORT=$TLS_PORT MAIN_URL=$TLS_URL MAIN_SOCK=$TLS_SOCK \
	    MAIN_PLAIN_PORT=$TLS_PLAIN_PORT
	start_redis_tls open --auth-clients no
	export OPEN_PORT=$TLS_PORT OPEN_URL=$TLS_URL OPEN_SOCK=$TLS_SOCK
	start_redis_tls wrong --auth-clients no --cert wrong-name
	export WRONG_PORT=$TLS_PORT
	start_redis_tls expired --auth-clients no --cert expired
	export EXPIRED_PORT=$TLS_PORT
	topo_times | sed 's/^/# /' >&3
}

teardown_file() {
	load topo
	stop_topo
}

setup() {
	load helpers
	load topo
	simlog_env
	unset SIMLOG_TLS_CA SIMLOG_TLS_CERT SIMLOG_TLS_KEY
	cd "$BATS_TEST_TMPDIR"
	DB=$BATS_TEST_TMPDIR/sim.db
	# Each test starts from empty servers.
	redis-cli -s "$MAIN_SOCK" flushall > /dev/null
	redis-cli -s "$OPEN_SOCK" flushall > /dev/null
}

teardown() {
	kill_tracked
	stop_all_redis
}

# The client's side of MAIN: the CA and the client certificate.
CERT=()
certs() {
	CERT=(--tls-ca "$TLS_CA" --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY")
}

# timed CMD...: run CMD as `run --separate-stderr` does; MS is how long it
# took, in milliseconds.
timed() {
	local t0=${EPOCHREALTIME/./}
	run --separate-stderr "$@"
	MS=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
	echo "# $1 took $MS ms, status $status: $stderr"
}

# fails_fast LIMIT_MS STATUS TEXT CMD...: CMD exits STATUS within LIMIT_MS
# with TEXT in its standard error.
fails_fast() {
	local limit=$1 want=$2 text=$3
	shift 3
	timed "$@"
	assert_equal "$status" "$want"
	[[ $stderr == *"$text"* ]] || {
		echo "stderr lacks: $text"
		return 1
	}
	[ "$MS" -lt "$limit" ]
}

# --- it works ---------------------------------------------------------------

@test "push and drain over rediss:// with --tls-ca and a client certificate: exactly what was pushed" {
	certs
	"$SIMGEN" --ids -n 20000 -s 31 > in.jsonl
	run --separate-stderr simlog-push -u "$MAIN_URL" "${CERT[@]}" -s tls1 < in.jsonl
	assert_success
	assert_equal "$(jnum pushed "$output")" 20000
	# Nothing went by way of the spool.
	assert_equal "$(jnum spooled "$output")" 0
	# What Redis holds came over TLS: the plain socket sees it too.
	assert_equal "$(redis-cli -s "$MAIN_SOCK" exists 'simlog:{tls1}:q')" 1
	run --separate-stderr simlog-drain -q -u "$MAIN_URL" "${CERT[@]}" -d "$DB"
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 20000
	assert_exact in.jsonl
	assert_equal "$(redis-cli -s "$MAIN_SOCK" --scan --pattern 'simlog:*' | grep -c '{tls1}')" 0
}

@test "SIMLOG_TLS_CA, SIMLOG_TLS_CERT and SIMLOG_TLS_KEY: push, drain, state, ping and pool-stats" {
	export SIMLOG_TLS_CA=$TLS_CA SIMLOG_TLS_CERT=$TLS_CERT SIMLOG_TLS_KEY=$TLS_KEY
	export SIMLOG_REDIS_URL=$MAIN_URL
	"$SIMGEN" --ids -n 3000 -s 32 > in.jsonl
	run --separate-stderr simlog-push -s tls2 < in.jsonl
	assert_success
	assert_equal "$(jnum pushed "$output")" 3000

	run --separate-stderr simlog-pool-stats
	assert_success
	assert_equal "$(jget "$output" '$.backlog.sims.tls2.records')" 3000
	assert_equal "$(jget "$output" '$.url')" "$MAIN_URL/0"
	# One connection named for each tool that holds one now.
	assert_equal "$(jget "$output" '$.clients_by_name."simlog-pool-stats"')" 1

	run --separate-stderr simlog-ping --check
	echo "$output"
	assert_equal "$(jget "$output" '$.ok')" 1
	assert_equal "$(jget "$output" '$.server.role')" master
	[ "$(jget "$output" '$.problems')" = 0 ]

	echo '{"step": 7, "agents": [1, 2, 3]}' > state.json
	run --separate-stderr simlog-state save run-tls < state.json
	assert_success
	run --separate-stderr simlog-state load run-tls
	assert_success
	assert_output "$(cat state.json)"
	run --separate-stderr simlog-state list
	assert_success
	assert_output --partial run-tls

	run --separate-stderr simlog-drain -q -d "$DB"
	assert_success
	assert_exact in.jsonl
}

@test "a server that asks for no client certificate: the CA alone is enough, from --tls-ca or SIMLOG_TLS_CA" {
	"$SIMGEN" --ids -n 500 -s 33 > in.jsonl
	run --separate-stderr simlog-push -u "$OPEN_URL" --tls-ca "$TLS_CA" -s open < in.jsonl
	assert_success
	assert_equal "$(jnum pushed "$output")" 500
	SIMLOG_TLS_CA=$TLS_CA run --separate-stderr simlog-drain -q -u "$OPEN_URL" -d "$DB"
	assert_success
	assert_exact in.jsonl
	SIMLOG_TLS_CA=$TLS_CA run --separate-stderr simlog-ping -u "$OPEN_URL" -c 1
	assert_success
}

@test "state: save, versions, load and list over TLS; a state saved over TLS reads back over the plain socket's data" {
	certs
	printf '{"i": %d}\n' 1 > v1.json
	printf '{"i": %d}\n' 2 > v2.json
	run --separate-stderr simlog-state -u "$MAIN_URL" "${CERT[@]}" save s1 --tag nightly < v1.json
	assert_success
	run --separate-stderr simlog-state -u "$MAIN_URL" "${CERT[@]}" save s1 < v2.json
	assert_success
	run --separate-stderr simlog-state -u "$MAIN_URL" "${CERT[@]}" load s1 --version 1
	assert_output "$(cat v1.json)"
	run --separate-stderr simlog-state -u "$MAIN_URL" "${CERT[@]}" versions s1
	assert_success
	assert_equal "${#lines[@]}" 2
	run --separate-stderr simlog-state -u "$MAIN_URL" "${CERT[@]}" list
	assert_success
	assert_output --partial '"s1"' 
	# The same data through the test's own plain-text socket.
	run --separate-stderr simlog-state -u "unix://$MAIN_SOCK" load s1
	assert_output "$(cat v2.json)"
}

@test "ping and pool-stats over TLS: one JSON line each, the server seen as it is" {
	certs
	run --separate-stderr simlog-ping -u "$MAIN_URL" "${CERT[@]}" -c 5 -i 0
	assert_success
	assert_equal "$(jget "$output" '$.pings')" 5
	assert_equal "$(jget "$output" '$.server.mode')" standalone
	# A plain URL: no per-node members.
	assert_equal "$(jget "$output" '$.nodes')" ""
	run --separate-stderr simlog-pool-stats -u "$MAIN_URL" "${CERT[@]}" -f openmetrics
	assert_success
	assert_line "simlog_redis_up 1"
	assert_line '# EOF'
	run --separate-stderr simlog-pool-stats -u "$MAIN_URL" "${CERT[@]}" -f table
	assert_success
	assert_line --regexp '^simlog-pool-stats +1$'
}

# --- it fails fast, saying why ------------------------------------------------

@test "no client certificate for a server that requires one: 77 at once, every tool, saying so" {
	local t
	for t in "simlog-ping" "simlog-pool-stats" "simlog-state list" \
	    "simlog-drain -d $DB"; do
		# shellcheck disable=SC2086
		fails_fast 4000 77 "the server requires a client certificate: give --tls-cert and --tls-key" \
		    $t -u "$MAIN_URL" --tls-ca "$TLS_CA" --timeout 2
	done
	# push keeps the records in the spool and says the same.
	echo '{"type":"a","n":1}' > one.jsonl
	fails_fast 4000 77 "the server requires a client certificate" \
	    simlog-push -u "$MAIN_URL" --tls-ca "$TLS_CA" --timeout 2 -s nocert < one.jsonl
	assert_equal "$(jnum spooled "$output")" 1
	# Never a retry: the answer will not change.
	assert_equal "$(jnum retries "$output")" 0
	# With the certificate the same push goes through, and the spool too.
	certs
	run --separate-stderr simlog-push -u "$MAIN_URL" "${CERT[@]}" -s nocert < /dev/null
	assert_success
	assert_equal "$(jnum replayed "$output")" 1
}

@test "a client certificate the server's CA did not sign: 77 at once, saying the server refused it" {
	local i
	# The server's alert and its close race the client's first command;
	# whichever comes first, the answer is the same.
	for i in 1 2 3 4 5; do
		fails_fast 4000 77 "check --tls-cert and --tls-key" \
		    simlog-ping -u "$MAIN_URL" --tls-ca "$TLS_CA" \
		    --tls-cert "$TLS_OTHER_CERT" --tls-key "$TLS_OTHER_KEY" --timeout 2
		[[ $stderr == *"refused"* ]]
	done
}

@test "a server certificate from an unknown CA: 77 at once, saying what OpenSSL found" {
	certs
	local t
	for t in "simlog-ping" "simlog-state list" "simlog-pool-stats" \
	    "simlog-drain -d $DB"; do
		# shellcheck disable=SC2086
		fails_fast 4000 77 "server certificate not accepted for 127.0.0.1: self-signed certificate in certificate chain" \
		    $t -u "$MAIN_URL" --tls-ca "$TLS_OTHER_CA" --tls-cert "$TLS_CERT" \
		    --tls-key "$TLS_KEY" --timeout 2
	done
	echo '{"type":"a","n":1}' > one.jsonl
	fails_fast 4000 77 "self-signed certificate in certificate chain" \
	    simlog-push -u "$MAIN_URL" --tls-ca "$TLS_OTHER_CA" --tls-cert "$TLS_CERT" \
	    --tls-key "$TLS_KEY" --timeout 2 -s badca < one.jsonl
	assert_equal "$(jnum spooled "$output")" 1
	# No CA given: the system's CAs do not know the test CA either.
	fails_fast 4000 77 "server certificate not accepted" \
	    simlog-ping -u "$OPEN_URL" --timeout 2
	# Asked for by name, no verification at all.
	run --separate-stderr simlog-ping -u "$OPEN_URL" --tls-no-verify -c 1
	assert_success
}

@test "a certificate for another name: 77 for the address and for localhost; --tls-server-name names the one it has" {
	fails_fast 4000 77 "server certificate not accepted for 127.0.0.1: IP address mismatch" \
	    simlog-ping -u "rediss://127.0.0.1:$WRONG_PORT" --tls-ca "$TLS_CA" --timeout 2
	fails_fast 4000 77 "server certificate not accepted for localhost: hostname mismatch" \
	    simlog-ping -u "rediss://localhost:$WRONG_PORT" --tls-ca "$TLS_CA" --timeout 2
	[[ $stderr == *"--tls-server-name"* ]]
	# The name the certificate carries fixes it; another name does not.
	run --separate-stderr simlog-ping -u "rediss://127.0.0.1:$WRONG_PORT" \
	    --tls-ca "$TLS_CA" --tls-server-name wrong.example -c 1
	assert_success
	fails_fast 4000 77 "hostname mismatch" \
	    simlog-ping -u "rediss://127.0.0.1:$WRONG_PORT" --tls-ca "$TLS_CA" \
	    --tls-server-name localhost --timeout 2
	# And a push through the fixed name lands every record.
	"$SIMGEN" --ids -n 300 -s 34 > in.jsonl
	run --separate-stderr simlog-push -u "rediss://127.0.0.1:$WRONG_PORT" \
	    --tls-ca "$TLS_CA" --tls-server-name wrong.example -s named < in.jsonl
	assert_success
	assert_equal "$(jnum pushed "$output")" 300
	run --separate-stderr simlog-drain -q -u "rediss://127.0.0.1:$WRONG_PORT" \
	    --tls-ca "$TLS_CA" --tls-server-name wrong.example -d "$DB"
	assert_success
	assert_exact in.jsonl
}

@test "an expired server certificate: 77 at once, 'certificate has expired'" {
	fails_fast 4000 77 "server certificate not accepted for 127.0.0.1: certificate has expired" \
	    simlog-ping -u "rediss://127.0.0.1:$EXPIRED_PORT" --tls-ca "$TLS_CA" --timeout 2
	fails_fast 4000 77 "certificate has expired" \
	    simlog-state -u "rediss://127.0.0.1:$EXPIRED_PORT" --tls-ca "$TLS_CA" --timeout 2 list
}

@test "plain text against the TLS port: 69 at once, saying to use rediss://" {
	local t n=0
	for t in "simlog-ping" "simlog-state list" "simlog-pool-stats" \
	    "simlog-drain -d $DB"; do
		# A breaker of its own for each: their failures add up in a
		# shared one, which then refuses at once (75).
		SIMLOG_BREAKER_DIR=$BATS_TEST_TMPDIR/brk-$((n++))
		# shellcheck disable=SC2086
		fails_fast 4000 69 "closed the connection before answering (a TLS-only port? use rediss://)" \
		    $t -u "redis://127.0.0.1:$MAIN_PORT" --timeout 2
	done
	SIMLOG_BREAKER_DIR=$BATS_TEST_TMPDIR/brk-push
	# push retries a closed connection (it may be a restart), then spools.
	echo '{"type":"a","n":1}' > one.jsonl
	fails_fast 8000 75 "a TLS-only port? use rediss://" \
	    simlog-push -u "redis://127.0.0.1:$MAIN_PORT" --timeout 2 -s plain < one.jsonl
	assert_equal "$(jnum spooled "$output")" 1
}

@test "TLS against a plain-text port: 69 after one --timeout per attempt, hinting at redis://; push spools (75)" {
	certs
	# Redis reads the ClientHello as the start of an inline command and
	# waits for its end: nothing comes back, the handshake times out.
	# Each tool here has a breaker of its own, to see its own attempts.
	SIMLOG_BREAKER_DIR=$BATS_TEST_TMPDIR/brk-ping
	fails_fast 4000 69 "TLS handshake timed out (a plain-text port? use redis://)" \
	    simlog-ping -u "rediss://127.0.0.1:$MAIN_PLAIN_PORT" "${CERT[@]}" --timeout 2
	# The other tools retry a timeout (SIMLOG_RETRIES, 3 by default),
	# each attempt bounded by --timeout: one attempt stays within 2x.
	SIMLOG_BREAKER_DIR=$BATS_TEST_TMPDIR/brk-state
	fails_fast 4000 69 "TLS handshake timed out" \
	    env SIMLOG_RETRIES=0 simlog-state -u "rediss://127.0.0.1:$MAIN_PLAIN_PORT" \
	    "${CERT[@]}" --timeout 2 list
	SIMLOG_BREAKER_DIR=$BATS_TEST_TMPDIR/brk-drain
	fails_fast 4000 69 "TLS handshake timed out" \
	    env SIMLOG_RETRIES=0 simlog-drain -u "rediss://127.0.0.1:$MAIN_PLAIN_PORT" \
	    "${CERT[@]}" --timeout 2 -d "$DB"
	# With its retries, push is bounded by its attempts, then spools.
	SIMLOG_BREAKER_DIR=$BATS_TEST_TMPDIR/brk-push
	echo '{"type":"a","n":1}' > one.jsonl
	fails_fast 12000 75 "TLS handshake timed out (a plain-text port? use redis://)" \
	    simlog-push -u "rediss://127.0.0.1:$MAIN_PLAIN_PORT" "${CERT[@]}" \
	    --timeout 1 -s tlsplain < one.jsonl
	assert_equal "$(jnum spooled "$output")" 1
	# Those failures opened the breaker the tools share: the next one is
	# refused without waiting at all.
	fails_fast 1000 75 "circuit breaker open" \
	    simlog-drain -u "rediss://127.0.0.1:$MAIN_PLAIN_PORT" "${CERT[@]}" \
	    --timeout 1 -d "$DB"
}

@test "bad TLS settings: 78 naming the file, 64 for a half client certificate or TLS options with a plain URL; SIMLOG_TLS_* leave plain URLs alone" {
	fails_fast 4000 78 "--tls-ca $BATS_TEST_TMPDIR/none.pem: No such file or directory" \
	    simlog-ping -u "$MAIN_URL" --tls-ca "$BATS_TEST_TMPDIR/none.pem"
	echo 'not a certificate' > junk.pem
	fails_fast 4000 78 "--tls-ca junk.pem: no certificate" \
	    simlog-ping -u "$MAIN_URL" --tls-ca junk.pem
	fails_fast 4000 78 "--tls-cert" \
	    simlog-ping -u "$MAIN_URL" --tls-ca "$TLS_CA" --tls-cert junk.pem --tls-key "$TLS_KEY"
	fails_fast 4000 78 "--tls-key $TLS_KEY" \
	    simlog-ping -u "$MAIN_URL" --tls-ca "$TLS_CA" --tls-cert "$TLS_OTHER_CERT" --tls-key "$TLS_KEY"
	fails_fast 4000 64 "needs both --tls-cert and --tls-key" \
	    simlog-ping -u "$MAIN_URL" --tls-ca "$TLS_CA" --tls-cert "$TLS_CERT"
	fails_fast 4000 64 "the URL does not use TLS: use rediss://" \
	    simlog-ping -u "redis://127.0.0.1:$MAIN_PLAIN_PORT" --tls-ca "$TLS_CA"
	# The environment's settings are for TLS URLs only: a plain URL
	# beside them just works.
	echo '{"type":"a","n":1}' > one.jsonl
	SIMLOG_TLS_CA=$TLS_CA run --separate-stderr simlog-push \
	    -u "redis://127.0.0.1:$MAIN_PLAIN_PORT" -s envplain < one.jsonl
	assert_success
	assert_equal "$(jnum pushed "$output")" 1
}

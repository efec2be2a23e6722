#!/usr/bin/env bats
# The test topologies of tests/topo.bash checked with redis-cli and openssl
# alone: certificates, TLS servers, a Redis Cluster, a Sentinel set, a
# master with a replica; and what Redis 7.0 answers in the cases simlog has
# to handle (MOVED, ASK, CROSSSLOT, READONLY, WAIT, a sentinel's password).
# One cluster (3 masters, 3 replicas), one Sentinel set and one TLS server
# serve the whole file; the tests that fail a master over come last.
# once: redis-cli and openssl only, no simlog code for a sanitizer to check

bats_require_minimum_version 1.5.0

setup_file() {
	load topo
	export LC_ALL=C
	make_certs "$BATS_FILE_TMPDIR/certs"
	start_cluster infra 3 1
	start_sentinel_set infra
	start_redis_tls infra
	topo_times | sed 's/^/# /' >&3
}

teardown_file() {
	load topo
	stop_topo
}

setup() {
	load helpers
	load topo
	cd "$BATS_TEST_TMPDIR"
	cluster_refresh
	sentinel_refresh
}

teardown() {
	stop_all_redis
}

# tls_cli ARGS...: redis-cli over TLS with the test CA and client
# certificate.
tls_cli() {
	redis-cli --tls --cacert "$TLS_CA" --cert "$TLS_CERT" --key "$TLS_KEY" "$@"
}

# refused_after_handshake: what redis-cli says when the server ends the
# connection once the TLS handshake is over (in TLS 1.3 the server checks
# the client's certificate after the client has finished), or at once
# (plain text).  Which of the two it sees is a race.
refused='Error: (Connection reset by peer|Server closed the connection)'

# s_client PORT [openssl s_client options...]: a TLS handshake verifying
# the server's certificate; fails on a verification error.
s_client() {
	local port=$1
	shift
	openssl s_client -connect "127.0.0.1:$port" -CAfile "$TLS_CA" \
	    -cert "$TLS_CERT" -key "$TLS_KEY" -verify_return_error "$@" \
	    < /dev/null 2>&1
}

# --- certificates and TLS -----------------------------------------------------

@test "certificates: the server's verifies for localhost and 127.0.0.1; the other CA's, wrong-name and expired ones fail, each for its reason" {
	run openssl verify -CAfile "$TLS_CA" -verify_hostname localhost "$TLS_SERVER_CERT"
	assert_success
	run openssl verify -CAfile "$TLS_CA" -verify_ip 127.0.0.1 "$TLS_SERVER_CERT"
	assert_success
	run openssl verify -CAfile "$TLS_CA" -purpose sslclient "$TLS_CERT"
	assert_success
	run openssl verify -CAfile "$TLS_OTHER_CA" -purpose sslclient "$TLS_OTHER_CERT"
	assert_success
	run openssl verify -CAfile "$TLS_CA" "$TLS_OTHER_CERT"
	assert_failure
	assert_output --partial "unable to get local issuer certificate"
	run openssl verify -CAfile "$TLS_CA" -verify_hostname localhost "$TOPO_CERTS/wrong-name.crt"
	assert_failure
	assert_output --partial "hostname mismatch"
	run openssl verify -CAfile "$TLS_CA" "$TOPO_CERTS/expired.crt"
	assert_failure
	assert_output --partial "certificate has expired"
}

@test "TLS: a client with the CA and a certificate gets PONG; plain text is refused and the server logs why" {
	run tls_cli -p "$TLS_PORT" ping
	assert_success
	assert_output PONG
	# The same for a name and for the address: the certificate has both.
	run s_client "$TLS_PORT" -verify_hostname localhost
	assert_success
	assert_output --partial "Verify return code: 0 (ok)"
	run s_client "$TLS_PORT" -verify_ip 127.0.0.1
	assert_success

	start_redis_tls plain
	run redis-cli -p "$TLS_PORT" ping
	assert_failure
	assert_output --regexp "$refused"
	poll "the log line" grep -q 'Error accepting a client connection: .*wrong version number' "$TLS_DIR/log"
	# The unix socket beside it is for the test's own looks.
	assert_equal "$(redis-cli -s "$TLS_SOCK" ping)" PONG
}

@test "TLS: a server certificate from another CA fails verification in the client; the server logs the alert" {
	start_redis_tls wrongca
	run redis-cli --tls --cacert "$TLS_OTHER_CA" --cert "$TLS_CERT" \
	    --key "$TLS_KEY" -p "$TLS_PORT" ping
	assert_failure
	assert_output "Could not connect to Redis at 127.0.0.1:$TLS_PORT: SSL_connect failed: certificate verify failed"
	poll "the log line" grep -q 'Error accepting a client connection: .*tlsv1 alert unknown ca' "$TLS_DIR/log"
	# OpenSSL's own reason, as X509_verify_cert_error_string gives it:
	# redis-server sends the CA with its certificate, so the chain ends
	# in a self-signed certificate the client does not trust.
	run openssl s_client -connect "127.0.0.1:$TLS_PORT" -CAfile "$TLS_OTHER_CA" \
	    -verify_return_error < /dev/null
	assert_failure
	assert_output --partial "Verification error: self-signed certificate in certificate chain"
}

@test "TLS: tls-auth-clients yes refuses a client without a certificate or with one from another CA; optional and no let it in" {
	start_redis_tls need
	run redis-cli --tls --cacert "$TLS_CA" -p "$TLS_PORT" ping
	assert_failure
	assert_output --regexp "$refused"
	poll "the log line" grep -q 'Error accepting a client connection: .*peer did not return a certificate' "$TLS_DIR/log"
	# OpenSSL, reading on after the handshake, gets the server's alert.
	run bash -c "sleep 0.3 | openssl s_client -connect 127.0.0.1:$TLS_PORT -CAfile '$TLS_CA' -verify_return_error 2>&1"
	assert_output --partial "alert certificate required"

	run redis-cli --tls --cacert "$TLS_CA" --cert "$TLS_OTHER_CERT" \
	    --key "$TLS_OTHER_KEY" -p "$TLS_PORT" ping
	assert_failure
	assert_output --regexp "$refused"
	poll "the log line" grep -q 'Error accepting a client connection: .*certificate verify failed' "$TLS_DIR/log"

	start_redis_tls optional --auth-clients optional
	run redis-cli --tls --cacert "$TLS_CA" -p "$TLS_PORT" ping
	assert_success
	assert_output PONG
	start_redis_tls none --auth-clients no
	run redis-cli --tls --cacert "$TLS_CA" -p "$TLS_PORT" ping
	assert_output PONG
}

@test "TLS: wrong-name and expired server certificates fail verification for their reasons (redis-cli does not check names)" {
	start_redis_tls wrongname --cert wrong-name
	run s_client "$TLS_PORT" -verify_hostname localhost
	assert_failure
	assert_output --partial "hostname mismatch"
	run s_client "$TLS_PORT" -verify_ip 127.0.0.1
	assert_failure
	assert_output --partial "IP address mismatch"
	# redis-cli verifies the chain only, so it gets through: simlog's
	# name check has to be tested with simlog itself.
	run tls_cli -p "$TLS_PORT" ping
	assert_output PONG

	start_redis_tls expired --cert expired
	run tls_cli -p "$TLS_PORT" ping
	assert_failure
	assert_output "Could not connect to Redis at 127.0.0.1:$TLS_PORT: SSL_connect failed: certificate verify failed"
	run s_client "$TLS_PORT"
	assert_failure
	assert_output --partial "certificate has expired"
}

# --- Redis Cluster --------------------------------------------------------------

@test "cluster: three masters and three replicas, every node ok, every slot served, bus ports at +10000" {
	local p n=0
	assert_equal "$(wc -w <<< "$CLUSTER_MASTERS")" 3
	assert_equal "$(wc -w <<< "$CLUSTER_REPLICAS")" 3
	assert_equal "$(tr ',' '\n' <<< "$CLUSTER_SEEDS" | wc -l)" 6
	[[ $CLUSTER_URL == redis-cluster://127.0.0.1:* ]]
	for p in $CLUSTER_PORTS; do
		run redis-cli -p "$p" cluster info
		assert_line --partial cluster_state:ok
		assert_line --partial cluster_slots_ok:16384
		assert_line --partial cluster_known_nodes:6
		# The port and its bus port, both below the ephemeral range.
		redis-cli -p "$p" cluster nodes | grep -q " 127.0.0.1:$p@$((p + 10000)) myself"
		[ "$p" -lt 22768 ]
		[ "$(cluster_pid "$p")" -gt 1 ]
	done
	# CLUSTER SHARDS: three shards, each a master and a replica.
	run redis-cli -p "${CLUSTER_MASTERS%% *}" cluster shards
	assert_equal "$(grep -cx slots <<< "$output")" 3
	assert_equal "$(grep -cx master <<< "$output")" 3
	assert_equal "$(grep -cx replica <<< "$output")" 3
	# redis-cli -c follows MOVED: keys land everywhere and read back.
	for n in $(seq 1 60); do
		redis-cli -c -p "${CLUSTER_PORTS##* }" set "infra:$n" "$n" > /dev/null
	done
	for p in $CLUSTER_MASTERS; do
		[ "$(redis-cli -p "$p" dbsize)" -gt 0 ]
	done
	assert_equal "$(redis-cli -c -p "${CLUSTER_PORTS%% *}" get infra:42)" 42
	cluster_flushall
}

@test "cluster: cluster_node_for_key names the master that takes the key; the others answer MOVED; a replica answers MOVED, or reads after READONLY" {
	local key='simlog:{infra-sim}:q' owner slot p replica
	owner=$(cluster_node_for_key "$key")
	slot=$(cluster_slot "$key")
	# The hash tag decides: every key of one simulation shares a slot.
	assert_equal "$(cluster_slot '{infra-sim}')" "$slot"
	assert_equal "$(cluster_slot 'simlog:{infra-sim}:meta')" "$slot"
	for p in $CLUSTER_MASTERS; do
		[ "$p" = "$owner" ] && continue
		run redis-cli -p "$p" get "$key"
		assert_output "MOVED $slot 127.0.0.1:$owner"
	done
	# The owner's replica: MOVED to its master, unless READONLY.
	for p in $CLUSTER_REPLICAS; do
		redis-cli -p "$p" role | sed -n 3p | grep -qx "$owner" && replica=$p
	done
	[ -n "$replica" ]
	# WAIT counts the writes of its own connection.
	run bash -c "printf 'SET %s v\nWAIT 1 1000\n' '$key' | redis-cli -p $owner"
	assert_output "OK
1"
	run redis-cli -p "$replica" get "$key"
	assert_output "MOVED $slot 127.0.0.1:$owner"
	run redis-cli -p "$replica" set "$key" w
	assert_output "MOVED $slot 127.0.0.1:$owner"
	run bash -c "printf 'READONLY\nGET %s\n' '$key' | redis-cli -p $replica"
	assert_output "OK
v"
	cluster_flushall
}

@test "cluster: a slot being migrated answers ASK for keys not there; ASKING is good for one command" {
	local key='{infra-ask}:k' src dst slot sid did
	src=$(cluster_node_for_key "$key")
	slot=$(cluster_slot "$key")
	for dst in $CLUSTER_MASTERS; do [ "$dst" != "$src" ] && break; done
	sid=$(redis-cli -p "$src" cluster myid)
	did=$(redis-cli -p "$dst" cluster myid)
	redis-cli -p "$src" set '{infra-ask}:here' 1 > /dev/null
	assert_equal "$(redis-cli -p "$dst" cluster setslot "$slot" importing "$sid")" OK
	assert_equal "$(redis-cli -p "$src" cluster setslot "$slot" migrating "$did")" OK
	run redis-cli -p "$src" get "$key"
	assert_output "ASK $slot 127.0.0.1:$dst"
	run redis-cli -p "$src" get '{infra-ask}:here'
	assert_output 1
	# One key there and one not: neither node has both, try again later.
	run redis-cli -p "$src" mget '{infra-ask}:here' "$key"
	assert_output "TRYAGAIN Multiple keys request during rehashing of slot"
	run redis-cli -p "$dst" set "$key" 1
	assert_output "MOVED $slot 127.0.0.1:$src"
	run bash -c "printf 'ASKING\nSET %s 1\nSET %s 2\n' '$key' '$key' | redis-cli -p $dst"
	assert_output "OK
OK
MOVED $slot 127.0.0.1:$src"
	redis-cli -p "$dst" del "$key" > /dev/null
	redis-cli -p "$dst" cluster setslot "$slot" stable > /dev/null
	redis-cli -p "$src" cluster setslot "$slot" stable > /dev/null
	run redis-cli -p "$dst" get "$key"
	assert_output "MOVED $slot 127.0.0.1:$src"
	cluster_flushall
}

@test "cluster: a script may touch one slot only: CROSSSLOT for declared keys, an error for an undeclared key elsewhere; EVALSHA is per node" {
	local owner p sha
	owner=$(cluster_node_for_key '{infra-s}')
	run redis-cli -p "$owner" eval 'return 1' 2 '{infra-s}:a' '{infra-t}:b'
	assert_output "CROSSSLOT Keys in request don't hash to the same slot"
	run redis-cli -p "$owner" eval "return redis.call('incr', '{infra-s}:b')" 1 '{infra-s}:a'
	assert_output 1
	run redis-cli -p "$owner" eval "return redis.call('incr', '{infra-s}:b')" 0
	assert_output 2
	# A global key beside the simulation's, as simlog:sims is today.
	run redis-cli -p "$owner" eval \
	    "redis.call('incr', '{infra-s}:b'); return redis.call('sadd', 'simlog:sims', 'x')" 1 '{infra-s}:a'
	assert_output --regexp "^ERR Script attempted to access (a non local key in a cluster node|keys that do not hash to the same slot)"
	run redis-cli -c -p "$owner" eval "return redis.call('incr', 'simlog:sims')" 1 '{infra-s}:a'
	assert_output --regexp "^ERR Script attempted to access (a non local key in a cluster node|keys that do not hash to the same slot)"
	# Scripts are cached per node: EVALSHA with no key runs where it is
	# sent; elsewhere NOSCRIPT, with a key MOVED first.
	sha=$(redis-cli -p "$owner" script load "return redis.call('incr', KEYS[1])")
	assert_equal "$(redis-cli -p "$owner" evalsha "$sha" 1 '{infra-s}:c')" 1
	for p in $CLUSTER_MASTERS; do
		[ "$p" = "$owner" ] && continue
		run redis-cli -p "$p" evalsha "$sha" 0
		assert_output --partial NOSCRIPT
		run redis-cli -p "$p" evalsha "$sha" 1 '{infra-s}:c'
		assert_output --partial MOVED
	done
	# MULTI: a command on another slot is refused when queued.
	run bash -c "printf 'MULTI\nSET {infra-s}:d 1\nSET {infra-t}:d 1\nEXEC\n' | redis-cli -p $owner"
	assert_line --index 1 QUEUED
	assert_line --partial EXECABORT
	cluster_flushall
}

# --- a master with a replica; Sentinel ------------------------------------------

# wait_after PORT KEY VALUE N MS: SET then WAIT N MS on one connection (WAIT
# counts the replicas that have the writes of its own connection); prints
# WAIT's reply.
wait_after() {
	printf 'SET %s %s\nWAIT %s %s\n' "$2" "$3" "$4" "$5" |
	    redis-cli -p "$1" | sed -n 2p
}

@test "master and replica: WAIT counts the replicas that have the connection's writes; 0 when the replica is stopped, after the timeout" {
	local t0 ms
	start_master w 1
	[[ $MASTER_URL == redis://127.0.0.1:$MASTER_PORT ]]
	assert_equal "$(redis-cli -p "$REPLICA_PORT" role | head -n 1)" slave
	assert_equal "$(wait_after "$MASTER_PORT" k 1 1 1000)" 1
	assert_equal "$(redis-cli -p "$REPLICA_PORT" get k)" 1
	kill -STOP "$REPLICA_PIDS"
	t0=${EPOCHREALTIME/./}
	assert_equal "$(wait_after "$MASTER_PORT" k 2 1 300)" 0
	ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
	[ "$ms" -ge 290 ]
	# A new connection has written nothing: nothing to wait for.
	assert_equal "$(redis-cli -p "$MASTER_PORT" wait 1 300)" 1
	kill -CONT "$REPLICA_PIDS"
	assert_equal "$(wait_after "$MASTER_PORT" k 3 1 2000)" 1
	run redis-cli -p "$REPLICA_PORT" set k 4
	assert_output "READONLY You can't write against a read only replica."
}

@test "sentinel: all three name the master, see the replica and each other; ROLE on each kind" {
	local p
	[[ $SENTINEL_URL == "redis-sentinel://$SENTINEL_ADDRS/infra" ]]
	for p in $SENTINEL_PORTS; do
		run redis-cli -p "$p" sentinel get-master-addr-by-name infra
		assert_output "127.0.0.1
$SENTINEL_MASTER_PORT"
		run redis-cli -p "$p" sentinel replicas infra
		assert_line "127.0.0.1:$SENTINEL_REPLICA_PORT"
		# Flags of a peer: sentinel, for a moment s_down,sentinel.
		run redis-cli -p "$p" sentinel sentinels infra
		assert_equal "$(grep -cE '^([a-z_]+,)*sentinel(,[a-z_]+)*$' <<< "$output")" 2
		run redis-cli -p "$p" role
		assert_output "sentinel
infra"
	done
	run redis-cli -p "$p" sentinel get-master-addr-by-name nosuch
	assert_output ""
	run redis-cli -p "$SENTINEL_MASTER_PORT" role
	assert_line --index 0 master
	assert_line --index 2 127.0.0.1
	assert_line --index 3 "$SENTINEL_REPLICA_PORT"
	run redis-cli -p "$SENTINEL_REPLICA_PORT" role
	assert_line --index 0 slave
	assert_line --index 2 "$SENTINEL_MASTER_PORT"
	assert_line --index 3 connected
	run redis-cli -p "$SENTINEL_REPLICA_PORT" set k 1
	assert_output "READONLY You can't write against a read only replica."
}

@test "sentinel with passwords: the sentinels want theirs (NOAUTH, WRONGPASS), the data nodes theirs" {
	start_sentinel_set pw --sentinel-pass s3cret --pass d4ta
	[[ $SENTINEL_URL == "redis-sentinel://:d4ta@$SENTINEL_ADDRS/pw" ]]
	assert_equal "$SENTINEL_PASSWORD" s3cret
	run redis-cli -p "${SENTINEL_PORTS%% *}" sentinel get-master-addr-by-name pw
	assert_output "NOAUTH Authentication required."
	REDISCLI_AUTH=s3cret run redis-cli -p "${SENTINEL_PORTS%% *}" sentinel get-master-addr-by-name pw
	assert_line --index 1 "$SENTINEL_MASTER_PORT"
	REDISCLI_AUTH=d4ta run redis-cli -p "${SENTINEL_PORTS%% *}" ping
	assert_line --partial "AUTH failed: WRONGPASS invalid username-password pair or user is disabled."
	run redis-cli -p "$SENTINEL_MASTER_PORT" ping
	assert_output "NOAUTH Authentication required."
	REDISCLI_AUTH=d4ta run redis-cli -p "$SENTINEL_MASTER_PORT" ping
	assert_output PONG
	# AUTH inside HELLO, as a RESP3 client would.
	run redis-cli -p "${SENTINEL_PORTS%% *}" hello 3 auth default s3cret
	assert_line --index 0 --regexp '^server'
	assert_line --partial sentinel
}

# --- TLS topologies ----------------------------------------------------------------

@test "a TLS cluster and a TLS Sentinel set: nodes reached in TLS only, on the ports CLUSTER SLOTS and the sentinels give" {
	local p owner
	start_cluster tls 3 --tls
	[[ $CLUSTER_URL == rediss-cluster://127.0.0.1:* ]]
	p=${CLUSTER_MASTERS%% *}
	run redis-cli -p "$p" ping
	assert_failure
	run tls_cli -c -p "$p" set '{tls}:k' 1
	assert_output OK
	owner=$(cluster_node_for_key '{tls}:k')
	assert_equal "$(tls_cli -p "$owner" get '{tls}:k')" 1
	# CLUSTER SLOTS gives the TLS ports (tls-cluster yes, port 0).
	run tls_cli -p "$p" cluster slots
	for p in $CLUSTER_MASTERS; do
		assert_line "$p"
	done

	start_sentinel_set tls --tls
	[[ $SENTINEL_URL == "rediss-sentinel://$SENTINEL_ADDRS/tls" ]]
	run redis-cli -p "${SENTINEL_PORTS%% *}" ping
	assert_failure
	run tls_cli -p "${SENTINEL_PORTS%% *}" sentinel get-master-addr-by-name tls
	assert_line --index 1 "$SENTINEL_MASTER_PORT"
	assert_equal "$(tls_cli -p "$SENTINEL_MASTER_PORT" role | head -n 1)" master
	echo "# TLS cluster (3 masters) up in $CLUSTER_START_MS ms, TLS Sentinel set in $SENTINEL_START_MS ms" >&3
}

# --- cleanup ---------------------------------------------------------------------

@test "stop_topo ends every server of the test; a server dies with the shell that started it" {
	local pids
	start_master gone 1
	pids="$MASTER_PID $REPLICA_PIDS"
	stop_topo
	for p in $pids; do
		gone "$p"
	done
	# Started in a subshell that then ends: the server goes with it.
	( start_master orphan 0 && echo "$MASTER_PID" > orphan.pid )
	[ -s orphan.pid ]
	poll "the orphan to die" gone "$(cat orphan.pid)"
}

# --- failovers (last: they change the shared topologies) -------------------------

@test "cluster: kill -9 of the master of a key: its replica takes over, state ok, the key still there; the old master returns as a replica" {
	local key='simlog:{infra-fo}:q' old new
	old=$(cluster_node_for_key "$key")
	assert_equal "$(wait_after "$old" "$key" kept 1 1000)" 1
	cluster_kill_master_of "$key"
	assert_equal "$CLUSTER_KILLED_PORT" "$old"
	assert_equal "$(cluster_role "$old")" dead
	# Until the failover, the slot's node is gone: a client sees refused
	# connections there, and CLUSTERDOWN once the others agree it failed.
	cluster_wait_failover
	new=$(cluster_node_for_key "$key")
	[ "$new" != "$old" ]
	assert_equal "$(cluster_role "$new")" master
	assert_equal "$(redis-cli -p "$new" get "$key")" kept
	assert_equal "$(wc -w <<< "$CLUSTER_MASTERS")" 3
	assert_equal "$(wc -w <<< "$CLUSTER_REPLICAS")" 2
	for p in $CLUSTER_MASTERS $CLUSTER_REPLICAS; do
		redis-cli -p "$p" cluster info | grep -q cluster_state:ok
	done

	cluster_restart_node "$old"
	assert_equal "$(cluster_role "$old")" slave
	assert_equal "$(wc -w <<< "$CLUSTER_REPLICAS")" 3
	run redis-cli -p "$old" get "$key"
	assert_output "MOVED $(cluster_slot "$key") 127.0.0.1:$new"
	echo "# cluster failover in $CLUSTER_FAILOVER_MS ms (kill to state ok), old master back as a replica in $CLUSTER_RESTART_MS ms" >&3
}

@test "sentinel: kill -9 of the master: the replica is promoted, the key is there; the old master returns as a replica and refuses writes (READONLY)" {
	local old=$SENTINEL_MASTER_PORT replica=$SENTINEL_REPLICA_PORT p
	assert_equal "$(wait_after "$old" k kept 1 1000)" 1
	sentinel_kill_master
	assert_equal "$SENTINEL_OLD_MASTER_PORT" "$old"
	sentinel_wait_failover
	echo "# sentinel failover in $SENTINEL_FAILOVER_MS ms (kill to all sentinels agreeing)" >&3
	assert_equal "$SENTINEL_MASTER_PORT" "$replica"
	for p in $SENTINEL_PORTS; do
		assert_equal "$(redis-cli -p "$p" sentinel get-master-addr-by-name infra | sed -n 2p)" "$replica"
	done
	assert_equal "$(redis-cli -p "$replica" role | head -n 1)" master
	assert_equal "$(redis-cli -p "$replica" get k)" kept
	[ -z "$SENTINEL_REPLICA_PORT" ]

	sentinel_restart_old_master
	assert_equal "$SENTINEL_REPLICA_PORT" "$old"
	run redis-cli -p "$old" set k 2
	assert_output "READONLY You can't write against a read only replica."
	assert_equal "$(redis-cli -p "$old" get k)" kept
	echo "# old master back as a replica in $SENTINEL_RESTART_MS ms" >&3

	# And back again: the set fails over as often as a test needs.
	sentinel_kill_master
	sentinel_wait_failover
	assert_equal "$SENTINEL_MASTER_PORT" "$old"
	echo "# second sentinel failover in $SENTINEL_FAILOVER_MS ms" >&3
}

# Real Redis topologies for the suites and the bench: test certificates,
# TLS servers, a Redis Cluster, a master with replicas, a Sentinel set.
#
# Load after helpers.bash (bench/topo.sh loads it alone, with TOPO_BASE set).
# Every server runs in its own directory under BASE/topo/GROUP/NODE, where
# GROUP is cluster-NAME, sentinel-NAME, master-NAME or tls-NAME and BASE is
# $TOPO_BASE, else $BATS_TEST_TMPDIR in a test, else $BATS_FILE_TMPDIR (in
# setup_file and teardown_file).  So a file may start one cluster or
# Sentinel set in setup_file, share it across its tests (the variables are
# exported for them), and end it in teardown_file:
#
#	setup_file() { load helpers; load topo; start_cluster c 3 1; }
#	setup() { load helpers; load topo; cluster_refresh; }
#	teardown() { stop_all_redis; }     # per-test servers only
#	teardown_file() { load helpers; load topo; stop_topo; }
#
# Servers listen on 127.0.0.1 on free ports; data nodes also listen on a
# unix socket in their directory (always plain text, even beside TLS) that
# these helpers use to look at them.  The variables the start functions set
# describe the topology as started; roles change with failovers, so tests
# sharing one call cluster_refresh or sentinel_refresh first.
#
# A server dies with the shell that started it (PR_SET_PDEATHSIG through
# setpriv), so an interrupted run leaves none behind.  For the same reason
# the start functions must run in the caller's own shell, never under `run`
# or in $(...).  stop_topo ends them all; this file makes stop_all_redis
# call it too, so a teardown that calls stop_all_redis needs nothing more.

# Tunables (milliseconds), short so that failovers take a few seconds, long
# enough that a busy 2-core machine does not see a node as failed.
: "${TOPO_NODE_TIMEOUT:=1500}"	# cluster-node-timeout
: "${TOPO_DOWN_AFTER:=1000}"	# sentinel down-after-milliseconds
: "${TOPO_FAILOVER_TIMEOUT:=3000}"	# sentinel failover-timeout
: "${TOPO_WAIT:=30}"		# seconds any wait here may take at most

_TOPO_TAKEN=			# ports handed out by this shell
_TOPO_SETPRIV=
setpriv --pdeathsig KILL true 2>/dev/null && _TOPO_SETPRIV=1

# --- plumbing ---------------------------------------------------------------

_topo_base() {
	local b=${TOPO_BASE:-${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-}}}
	[ -n "$b" ] || { echo "topo: no TOPO_BASE and not under bats" >&2; return 1; }
	printf '%s\n' "$b"
}

_topo_now_ms() {
	local t=${EPOCHREALTIME//[!0-9]/}
	echo $(( t / 1000 ))
}

_topo_err() {
	echo "topo: $*" >&2
	return 1
}

# _topo_group KIND NAME: create the group's directory (a fresh one), in g.
# The group remembers which shell owns it: only that shell's children get
# the parent-death signal (a node restarted from inside a test must outlive
# the test when the group belongs to setup_file).
_topo_group() {
	local base
	base=$(_topo_base) || return 1
	[[ $2 =~ ^[A-Za-z0-9_.-]+$ ]] || _topo_err "$1: bad name '$2'" || return 1
	g=$base/topo/$1-$2
	[ ! -e "$g" ] || _topo_err "$1 $2: already started ($g)" || return 1
	mkdir -p "$g" || return 1
	echo "$BASHPID" > "$g/owner"
	: > "$g/dead"
}

# _topo_port: set TOPO_PORT to a port P of 127.0.0.1 with P and P+10000 (a
# cluster node's bus port) both free.  Taken from 10000-22767, so both lie
# below the kernel's ephemeral range (32768 up by default) where outgoing
# connections could hold them; ports this shell handed out before are
# skipped, their servers may not have bound them yet.  Another user may
# still take a port first: the start functions retry on "in use".
_topo_port() {
	local used p i
	used=" $(awk 'FNR > 1 { split($2, a, ":"); print a[2] }' \
	    /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u | tr '\n' ' ')"
	for ((i = 0; i < 500; i++)); do
		p=$(( 10000 + (RANDOM * 32768 + RANDOM) % 12768 ))
		case " $_TOPO_TAKEN " in
		*" $p "* | *" $((p + 10000)) "*) continue ;;
		esac
		case $used in
		*" $(printf %04X "$p") "* | *" $(printf %04X $((p + 10000))) "*)
			continue ;;
		esac
		_TOPO_TAKEN="$_TOPO_TAKEN $p $((p + 10000))"
		TOPO_PORT=$p
		return 0
	done
	_topo_err "no free port"
}

# _topo_get VAR FILE: VAR set to the first line of FILE, without a fork
# (the polling loops read many small files); fails if there is none.
_topo_get() {
	local _tg=
	{ IFS= read -r _tg < "$2"; } 2>/dev/null || [ -n "$_tg" ] || {
		printf -v "$1" '%s' ''
		return 1
	}
	printf -v "$1" '%s' "$_tg"
}

# _topo_alive PID: PID runs (exists and is not a zombie).
_topo_alive() {
	local st
	_topo_get st "/proc/$1/stat" || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# _topo_ours PID: PID is a live redis-server (not some later process that
# was given the pid of one that died by itself).
_topo_ours() {
	local comm
	_topo_alive "$1" && _topo_get comm "/proc/$1/comm" &&
		case $comm in redis-server | setpriv) ;; *) return 1 ;; esac
}

# _topo_spawn NODEDIR [--sentinel] ARGS...: redis-server ARGS in the
# background; the arguments are kept in NODEDIR/args for a restart and the
# pid in NODEDIR/bgpid.  Output goes to NODEDIR/out (the log to NODEDIR/log).
_topo_spawn() {
	local dir=$1 owner
	shift
	printf '%s\n' "$@" > "$dir/args"
	_topo_get owner "${dir%/*}/owner"
	# fd 3 is bats's own; a server holding it open would stall the run.
	if [ -n "$_TOPO_SETPRIV" ] && [ "$owner" = "$BASHPID" ]; then
		setpriv --pdeathsig KILL -- redis-server "$@" \
		    < /dev/null >> "$dir/out" 2>&1 3>&- &
	else
		redis-server "$@" < /dev/null >> "$dir/out" 2>&1 3>&- &
	fi
	echo $! > "$dir/bgpid"
	# Out of the job table: killing it later is no news to print.  The
	# shell still reaps it.
	disown $!
}

# _topo_cli NODEDIR ARGS...: redis-cli connected to the node (its unix
# socket, or its TCP/TLS port for a sentinel), authenticated as it needs.
_topo_cli() {
	local dir=$1 conn pw
	shift
	mapfile -t conn < "$dir/conn"
	if _topo_get pw "$dir/auth"; then
		REDISCLI_AUTH=$pw redis-cli --no-auth-warning "${conn[@]}" "$@"
	else
		redis-cli "${conn[@]}" "$@"
	fi
}

# _topo_wait_up NODEDIR: wait for the node to answer PING.  Fails at once if
# it exited; status 2 when the log says its port was in use.
_topo_wait_up() {
	local dir=$1 pid i r
	_topo_get pid "$dir/bgpid"
	for ((i = 0; i < TOPO_WAIT * 50; i++)); do
		r=$(_topo_cli "$dir" ping 2>/dev/null) || true
		[ "$r" = PONG ] && return 0
		if ! _topo_alive "$pid"; then
			grep -q 'in use' "$dir/log" "$dir/out" 2>/dev/null && return 2
			echo "topo: ${dir#"$(_topo_base)"/}: redis-server exited:" >&2
			tail -n 5 "$dir/log" "$dir/out" >&2 2>/dev/null
			return 1
		fi
		sleep 0.02
	done
	_topo_err "${dir##*/}: no answer to PING within $TOPO_WAIT s"
}

# _topo_poll WHAT CMD...: run CMD every 50 ms until it succeeds, for at most
# TOPO_WAIT seconds of wall-clock time.
_topo_poll() {
	local what=$1 end
	shift
	end=$(( $(_topo_now_ms) + TOPO_WAIT * 1000 ))
	while :; do
		"$@" && return 0
		(( $(_topo_now_ms) < end )) || break
		sleep 0.05
	done
	_topo_err "gave up after $TOPO_WAIT s waiting for $what"
}

# _topo_opts ARGS...: the options the start functions share, with what they
# do not know passed on to redis-server in _o_extra.
#   --tls           serve TLS only (tls-port; port 0); nodes talk TLS too
#   --pass PW       requirepass (and masterauth) on the data nodes
#   --sentinel-pass PW   requirepass on the sentinels
#   --auth-clients yes|no|optional   tls-auth-clients (default yes)
#   --cert KIND     the server certificate: server (default), wrong-name,
#                   expired, other (signed by the other CA)
#   --also-plain    a TLS server also listens in plain text (TLS_PLAIN_PORT)
_topo_opts() {
	_o_tls='' _o_pass='' _o_spass='' _o_auth=yes _o_cert=server _o_plain=''
	_o_extra=()
	while [ $# -gt 0 ]; do
		case $1 in
		--tls) _o_tls=1 ;;
		--pass) _o_pass=$2; shift ;;
		--sentinel-pass) _o_spass=$2; shift ;;
		--auth-clients) _o_auth=$2; shift ;;
		--cert) _o_cert=$2; shift ;;
		--also-plain) _o_plain=1 ;;
		--) shift; _o_extra+=("$@"); break ;;
		*) _o_extra+=("$1") ;;
		esac
		shift
	done
	case $_o_auth in yes | no | optional) ;;
	*) _topo_err "--auth-clients: yes, no or optional, not '$_o_auth'"; return 1 ;;
	esac
	case $_o_cert in server | wrong-name | expired | other) ;;
	*) _topo_err "--cert: server, wrong-name, expired or other, not '$_o_cert'"; return 1 ;;
	esac
	if [ -n "$_o_tls" ] && [ -z "${TOPO_CERTS:-}" ]; then
		make_certs "$(_topo_base)/topo/certs" || return 1
	fi
}

# _topo_tls_args: the redis-server options for TLS with the chosen server
# certificate, in _o_args.
_topo_tls_args() {
	local c=$TOPO_CERTS
	_o_args+=(--tls-cert-file "$c/$_o_cert.crt" --tls-key-file "$c/$_o_cert.key"
	    --tls-ca-cert-file "$c/ca.crt" --tls-auth-clients "$_o_auth"
	    --tls-replication yes)
}

# _topo_data_args DIR PORT: redis-server options of a data node in DIR on
# PORT, in _o_args (after the shared options, before _o_extra).
_topo_data_args() {
	local dir=$1 port=$2
	_o_args=(--bind 127.0.0.1 --unixsocket "$dir/sock" --unixsocketperm 700
	    --dir "$dir" --logfile "$dir/log" --daemonize no
	    --save '' --appendonly no
	    # A new replica syncs at once instead of 5 s later.
	    --repl-diskless-sync yes --repl-diskless-sync-delay 0)
	if [ -n "$_o_tls" ]; then
		_o_args+=(--port 0 --tls-port "$port")
		_topo_tls_args
	else
		_o_args+=(--port "$port")
	fi
	[ -z "$_o_pass" ] || _o_args+=(--requirepass "$_o_pass" --masterauth "$_o_pass")
	printf '%s\n' -s "$dir/sock" > "$dir/conn"
	printf '%s' "$_o_pass" > "$dir/auth"
	echo "$port" > "$dir/port"
}

# _topo_tls_cli: redis-cli options for a TLS connection with the client
# certificate, in _o_cli.
_topo_tls_cli() {
	_o_cli=(--tls --cacert "$TOPO_CERTS/ca.crt" --cert "$TOPO_CERTS/client.crt"
	    --key "$TOPO_CERTS/client.key")
}

# _topo_start_data GROUP NODE [redis-server options...]: start a data node
# (options after the shared ones) on a free port, trying another port when
# one is taken first.  Sets TOPO_PORT.
_topo_start_data() {
	local g=$1 node=$2 rc
	shift 2
	mkdir -p "$g/$node"
	for _ in 1 2 3 4 5; do
		_topo_port || return 1
		_topo_data_args "$g/$node" "$TOPO_PORT"
		_topo_spawn "$g/$node" "${_o_args[@]}" "$@" "${_o_extra[@]}"
		rc=0
		_topo_wait_up "$g/$node" || rc=$?
		[ $rc -eq 2 ] || return $rc
		rm -f "$g/$node/log"
	done
	_topo_err "$node: no port found free"
}

# _topo_node_dirs GROUP: the group's node directories.
_topo_node_dirs() {
	local d
	for d in "$1"/*/; do
		[ -f "$d/port" ] && printf '%s\n' "${d%/}"
	done
}

# _topo_node_of GROUP PORT: the directory of the group's node on PORT.
_topo_node_of() {
	local d p
	for d in "$1"/*/; do
		_topo_get p "$d/port" && [ "$p" = "$2" ] &&
			{ printf '%s\n' "${d%/}"; return 0; }
	done
	_topo_err "no node on port $2 in ${1##*/}"
}

# _topo_dead GROUP PORT: the group's node on PORT was killed here.
_topo_dead() {
	local dead
	mapfile -t dead < "$1/dead"
	[[ " ${dead[*]} " == *" $2 "* ]]
}

# _topo_live_dirs GROUP [KIND]: directories of the nodes not killed, of one
# kind (data or sentinel) if asked.
_topo_live_dirs() {
	local d p dead
	mapfile -t dead < "$1/dead"
	for d in "$1"/*/; do
		d=${d%/}
		_topo_get p "$d/port" || continue
		[[ " ${dead[*]} " == *" $p "* ]] && continue
		case ${2:-}:${d##*/} in
		data:sentinel* | sentinel:data* | sentinel:node*) continue ;;
		esac
		printf '%s\n' "$d"
	done
}

# _topo_kill NODEDIR: SIGKILL the node and wait until it is gone; its port
# is noted as dead in the group.
_topo_kill() {
	local dir=$1 pid
	pid=$(cat "$dir/bgpid" 2>/dev/null) || return 0
	_topo_ours "$pid" && kill -KILL "$pid" 2>/dev/null
	_topo_poll "pid $pid to exit" eval "! _topo_alive $pid" || return 1
	# Gone for good: its pid may be reused by anyone's process.
	rm -f "$dir/bgpid"
	grep -qx "$(cat "$dir/port")" "${dir%/*}/dead" ||
		cat "$dir/port" >> "${dir%/*}/dead"
}

# _topo_restart NODEDIR [redis-server options...]: start a killed node again
# with its first arguments (same port, same directory), plus OPTIONS.
_topo_restart() {
	local dir=$1 args g
	shift
	g=${dir%/*}
	mapfile -t args < "$dir/args"
	_topo_spawn "$dir" "${args[@]}" "$@"
	_topo_wait_up "$dir" || return 1
	grep -vx "$(cat "$dir/port")" "$g/dead" > "$g/dead.new"
	mv "$g/dead.new" "$g/dead"
}

# _topo_role NODEDIR: TOPO_ROLE set to master, slave, sentinel, or dead.
_topo_role() {
	local p
	TOPO_ROLE=dead
	_topo_get p "$1/port" && ! _topo_dead "${1%/*}" "$p" || return 0
	TOPO_ROLE=$(_topo_cli "$1" role 2>/dev/null) || TOPO_ROLE=
	TOPO_ROLE=${TOPO_ROLE%%$'\n'*}
	TOPO_ROLE=${TOPO_ROLE:-dead}
}

# _topo_elapsed START_MS: milliseconds since START_MS.
_topo_elapsed() {
	echo $(( $(_topo_now_ms) - $1 ))
}

# _topo_note GROUP TEXT: record a timing line for topo_times.
_topo_note() {
	mkdir -p "${1%/*}" && printf '%s: %s\n' "${1##*/}" "$2" >> "${1%/*}/times"
}

# --- public: any node, timings, cleanup ------------------------------------

# topo_cli PORT ARGS...: redis-cli on the node (of any group of this test or
# this file) that listens on PORT, through its unix socket for a data node,
# authenticated as the node needs.
topo_cli() {
	local port=$1 b d p
	shift
	for b in ${TOPO_BASE:-} ${BATS_TEST_TMPDIR:-} ${BATS_FILE_TMPDIR:-}; do
		for d in "$b"/topo/*/*/; do
			d=${d%/}
			_topo_get p "$d/port" && [ "$p" = "$port" ] &&
				{ _topo_cli "$d" "$@"; return; }
		done
	done
	_topo_err "no node listens on port $port"
}

# topo_times: one line per group started here (this test or this file):
# how long starting it and each failover took.
topo_times() {
	local b
	for b in ${TOPO_BASE:-} ${BATS_FILE_TMPDIR:-} ${BATS_TEST_TMPDIR:-}; do
		cat "$b/topo/times" 2>/dev/null || true
	done
	return 0
}

# stop_topo [GROUP[/NODE]...]: SIGKILL every server started here (this
# test, or in setup_file/teardown_file this file), or only those of the
# named groups (e.g. cluster-c) or nodes (sentinel-s/sentinel2), and wait
# until they are gone.  Safe to call twice.
stop_topo() {
	local base p d pid nodes=() pids=()
	base=$(_topo_base) || return 1
	[ $# -gt 0 ] || set -- ""
	for p in "$@"; do
		p=$base/topo/$p
		if [ -f "$p/bgpid" ]; then
			nodes+=("$p")
		else
			for d in "${p%/}"/*/*/ "${p%/}"/*/; do
				[ -f "$d/bgpid" ] && nodes+=("${d%/}")
			done
		fi
	done
	for d in "${nodes[@]}"; do
		[ -f "$d/bgpid" ] || continue
		pid=$(cat "$d/bgpid")
		if _topo_ours "$pid"; then
			kill -CONT "$pid" 2>/dev/null || true
			kill -KILL "$pid" 2>/dev/null && pids+=("$pid")
		fi
		rm -f "$d/bgpid"
	done
	for pid in "${pids[@]}"; do
		_topo_poll "pid $pid to exit" eval "! _topo_alive $pid" || return 1
	done
	return 0
}

# stop_all_redis (helpers.bash) stops the test's topologies as well.
if declare -F stop_all_redis >/dev/null && ! declare -F _topo_stop_all_redis >/dev/null; then
	eval "_topo_$(declare -f stop_all_redis)"
	stop_all_redis() {
		_topo_stop_all_redis
		stop_topo
	}
fi

# --- certificates ---------------------------------------------------------

# make_certs DIR: test certificates in DIR (EC P-256, valid 7 days), made
# once (a second call reuses them):
#   ca.crt ca.key                 the test CA
#   server.crt server.key         CN localhost, SAN DNS:localhost and
#                                 IP:127.0.0.1, for TLS servers and (it is
#                                 also a client certificate) their links
#   client.crt client.key         a client certificate from the CA
#   other-ca.crt other-ca.key     a second CA, unrelated to the first
#   other.crt other.key           server and client certificate, like
#                                 server.crt but signed by the other CA
#   wrong-name.crt wrong-name.key from the CA, for wrong.example only
#   expired.crt expired.key       like server.crt, expired
# Exports TOPO_CERTS=DIR and TLS_CA, TLS_CERT, TLS_KEY (the client's),
# TLS_SERVER_CERT, TLS_SERVER_KEY, TLS_OTHER_CA, TLS_OTHER_CERT,
# TLS_OTHER_KEY (a client certificate the test CA did not sign).
make_certs() {
	local d=$1 t0
	t0=$(_topo_now_ms)
	mkdir -p "$d" || return 1
	if [ ! -f "$d/done" ]; then
		_topo_ca "$d" ca "simlog test CA" &&
		_topo_ca "$d" other-ca "simlog other CA" &&
		_topo_leaf "$d" server ca localhost \
		    DNS:localhost,IP:127.0.0.1 serverAuth,clientAuth 7 &&
		_topo_leaf "$d" client ca "simlog test client" "" clientAuth 7 &&
		_topo_leaf "$d" other other-ca localhost \
		    DNS:localhost,IP:127.0.0.1 serverAuth,clientAuth 7 &&
		_topo_leaf "$d" wrong-name ca wrong.example \
		    DNS:wrong.example serverAuth,clientAuth 7 &&
		# -days -1: it ends a day before it begins, expired at once.
		_topo_leaf "$d" expired ca localhost \
		    DNS:localhost,IP:127.0.0.1 serverAuth,clientAuth -1 ||
			{ _topo_err "make_certs: openssl failed"; return 1; }
		touch "$d/done"
		! _topo_base > /dev/null 2>&1 ||
			_topo_note "$(_topo_base)/topo/certs" "made in $(_topo_elapsed "$t0") ms"
	fi
	export TOPO_CERTS=$d TLS_CA=$d/ca.crt TLS_CERT=$d/client.crt \
	    TLS_KEY=$d/client.key TLS_SERVER_CERT=$d/server.crt \
	    TLS_SERVER_KEY=$d/server.key TLS_OTHER_CA=$d/other-ca.crt \
	    TLS_OTHER_CERT=$d/other.crt TLS_OTHER_KEY=$d/other.key
}

# _topo_ca DIR NAME CN: a self-signed CA.
_topo_ca() {
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -keyout "$1/$2.key" -out "$1/$2.crt" -days 7 \
	    -subj "/CN=$3" -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$1/openssl.err"
}

# _topo_leaf DIR NAME CA CN SAN EKU DAYS: a certificate signed by CA.
_topo_leaf() {
	local d=$1 ext
	ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=$6"
	[ -z "$5" ] || ext="$ext
subjectAltName=$5"
	printf '%s\n' "$ext" > "$d/$2.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$d/$2.key" -subj "/CN=$4" 2>>"$d/openssl.err" |
	openssl x509 -req -CA "$d/$3.crt" -CAkey "$d/$3.key" \
	    -set_serial "$((RANDOM * 32768 + RANDOM))" -days "$7" \
	    -extfile "$d/$2.ext" -out "$d/$2.crt" 2>>"$d/openssl.err"
}

# --- TLS server -------------------------------------------------------------

# start_redis_tls NAME [--auth-clients yes|no|optional] [--cert KIND]
#                 [--pass PW] [--also-plain] [redis-server options...]
# A redis-server serving TLS only (port 0, tls-port free) with the test
# certificates (made by make_certs in BASE/topo/certs unless TOPO_CERTS
# names them); tls-auth-clients yes unless told, the server certificate
# server.crt unless --cert names another (wrong-name, expired, other).
# Exports TLS_PORT, TLS_URL (rediss://127.0.0.1:PORT), TLS_SOCK (a plain
# unix socket for the test's own looks), TLS_PID, TLS_DIR, TLS_START_MS,
# TLS_PLAIN_PORT (with --also-plain: plain TCP on the same server), and
# the certificate variables of make_certs.
start_redis_tls() {
	local name=$1 g t0
	shift
	t0=$(_topo_now_ms)
	_topo_opts --tls "$@" || return 1
	_topo_group tls "$name" || return 1
	local plain=()
	if [ -n "$_o_plain" ]; then
		_topo_port || return 1
		plain=(--port "$TOPO_PORT")
		TLS_PLAIN_PORT=$TOPO_PORT
		export TLS_PLAIN_PORT
	fi
	# The plain port, when asked for, comes after --port 0.
	_topo_start_data "$g" node1 "${plain[@]}" || return 1
	_topo_get TLS_PID "$g/node1/bgpid"
	export TLS_PORT=$TOPO_PORT TLS_URL=rediss://127.0.0.1:$TOPO_PORT \
	    TLS_SOCK=$g/node1/sock TLS_PID TLS_DIR=$g/node1
	TLS_START_MS=$(_topo_elapsed "$t0")
	export TLS_START_MS
	_topo_note "$g" "TLS server up in $TLS_START_MS ms"
}

# --- a master with replicas ---------------------------------------------------

# _topo_start_master GROUP REPLICAS: data1 the master, data2... its
# replicas, each synced.  Options from _topo_opts.
_topo_start_master() {
	local g=$1 n=$2 i mport
	_topo_start_data "$g" data1 || return 1
	mport=$TOPO_PORT
	for ((i = 2; i <= n + 1; i++)); do
		_topo_start_data "$g" "data$i" --replicaof 127.0.0.1 "$mport" ||
			return 1
	done
	_topo_poll "replicas of $g to sync" _topo_replicas_synced "$g"
}

# _topo_replicas_synced GROUP: every live replica of the group has its link
# to its master up and no sync in progress, and the master sees each
# online (a replica the master does not count yet is not asked to
# acknowledge writes: WAIT would wait for it until its timeout).
_topo_replicas_synced() {
	local d info
	for d in $(_topo_live_dirs "$1" data); do
		info=$(_topo_cli "$d" info replication 2>/dev/null | tr -d '\r')
		case $info in
		*role:master*)
			! grep -q '^slave[0-9]*:' <<< "$info" ||
				! grep '^slave[0-9]*:' <<< "$info" | grep -qv 'state=online' ||
				return 1
			continue ;;
		*role:slave*) ;;
		*) continue ;;
		esac
		case $info in *master_link_status:up*) ;; *) return 1 ;; esac
		case $info in *master_sync_in_progress:0*) ;; *) return 1 ;; esac
	done
}

# start_master NAME [REPLICAS] [--tls] [--pass PW] [redis-server options...]
# A master with REPLICAS (default 1) replicas, all synced (a diskless sync
# at once).  Exports MASTER_PORT, MASTER_PID, MASTER_SOCK, MASTER_URL,
# REPLICA_PORTS, REPLICA_PIDS (space-separated), REPLICA_PORT and
# REPLICA_SOCK (the first replica's), MASTER_DIR, MASTER_START_MS.
start_master() {
	local name=$1 n=1 g t0 d
	shift
	[[ ${1:-} =~ ^[0-9]+$ ]] && { n=$1; shift; }
	t0=$(_topo_now_ms)
	_topo_opts "$@" || return 1
	_topo_group master "$name" || return 1
	_topo_start_master "$g" "$n" || return 1
	MASTER_DIR=$g MASTER_PORT=$(cat "$g/data1/port")
	MASTER_PID=$(cat "$g/data1/bgpid") MASTER_SOCK=$g/data1/sock
	MASTER_URL=$(_topo_url "$g" redis "127.0.0.1:$MASTER_PORT")
	REPLICA_PORTS='' REPLICA_PIDS=''
	for d in $(_topo_node_dirs "$g"); do
		[ "${d##*/}" = data1 ] && continue
		REPLICA_PORTS="$REPLICA_PORTS $(cat "$d/port")"
		REPLICA_PIDS="$REPLICA_PIDS $(cat "$d/bgpid")"
	done
	REPLICA_PORTS=${REPLICA_PORTS# } REPLICA_PIDS=${REPLICA_PIDS# }
	REPLICA_PORT=${REPLICA_PORTS%% *} REPLICA_SOCK=""
	[ -z "$REPLICA_PORT" ] || REPLICA_SOCK=$g/data2/sock
	MASTER_START_MS=$(_topo_elapsed "$t0")
	export MASTER_DIR MASTER_PORT MASTER_PID MASTER_SOCK MASTER_URL \
	    REPLICA_PORTS REPLICA_PIDS REPLICA_PORT REPLICA_SOCK MASTER_START_MS
	_topo_note "$g" "master and $n replica(s) up in $MASTER_START_MS ms"
}

# _topo_url GROUP SCHEME HOSTS [PATH]: SCHEME://[:PW@]HOSTS[PATH], with an s
# after "redis" for a TLS group and the data nodes' password if any.
_topo_url() {
	local g=$1 scheme=$2 pw=
	[ -f "$g/tls" ] && scheme=rediss${scheme#redis}
	pw=$(cat "$g"/data1/auth "$g"/node1/auth 2>/dev/null | head -c 200)
	printf '%s://%s%s%s\n' "$scheme" "${pw:+:$pw@}" "$3" "${4:-}"
}

# --- Redis Cluster ------------------------------------------------------------

# start_cluster NAME MASTERS [REPLICAS_PER_MASTER] [--tls] [--pass PW]
#               [redis-server options...]
# A Redis Cluster of MASTERS (3 or more) masters, each with REPLICAS_PER_MASTER
# replicas (default 0), made by redis-cli --cluster create, every node
# on 127.0.0.1 with its bus port (port + 10000) free too.  Returns once
# every node says cluster_state:ok, all nodes agree on who serves which
# slot, and every replica is in sync.  cluster-node-timeout is
# TOPO_NODE_TIMEOUT (1500 ms), and a replica may always fail over
# (cluster-replica-validity-factor 0).  With --tls the nodes serve and
# talk TLS only (tls-cluster, tls-replication; clients need a
# certificate).  Exports:
#   CLUSTER_SEEDS     127.0.0.1:P1,127.0.0.1:P2,... every node
#   CLUSTER_URL       redis-cluster://[:PW@]SEEDS (rediss-cluster:// with --tls)
#   CLUSTER_PORTS     every node's port, space-separated, in start order
#   CLUSTER_PIDS      their pids, in the same order
#   CLUSTER_MASTERS   ports of the masters, CLUSTER_REPLICAS of the replicas
#   CLUSTER_DIR       the group directory the cluster_* functions work on
#   CLUSTER_START_MS  milliseconds from the call to a ready cluster
# The cluster_* functions act on the cluster in CLUSTER_DIR: the last one
# started, unless the test sets CLUSTER_DIR to another's.
start_cluster() {
	local name=$1 masters=$2 reps=0 g t0 i n rc d addrs=() pids=()
	shift 2
	[[ ${1:-} =~ ^[0-9]+$ ]] && { reps=$1; shift; }
	# redis-cli --cluster create wants three masters at least.
	[[ $masters =~ ^[1-9][0-9]*$ ]] && [ "$masters" -ge 3 ] ||
		_topo_err "start_cluster: MASTERS: 3 or more, not '$masters'" ||
		return 1
	t0=$(_topo_now_ms)
	_topo_opts "$@" || return 1
	_topo_group cluster "$name" || return 1
	[ -z "$_o_tls" ] || touch "$g/tls"
	n=$(( masters * (reps + 1) ))
	# Start every node at once, then wait for each; a node whose port
	# was taken meanwhile starts again on another.
	for ((i = 1; i <= n; i++)); do
		mkdir -p "$g/node$i"
		_topo_port || return 1
		_topo_cluster_spawn "$g/node$i" "$TOPO_PORT"
	done
	for ((i = 1; i <= n; i++)); do
		for _ in 1 2 3 4 5; do
			rc=0
			_topo_wait_up "$g/node$i" || rc=$?
			[ $rc -eq 2 ] || break
			rm -f "$g/node$i/log" "$g/node$i/nodes.conf"
			_topo_port || return 1
			_topo_cluster_spawn "$g/node$i" "$TOPO_PORT"
		done
		[ $rc -eq 0 ] || return 1
		addrs+=("127.0.0.1:$(cat "$g/node$i/port")")
		pids+=("$(cat "$g/node$i/bgpid")")
	done
	local cli=()
	if [ -n "$_o_tls" ]; then
		_topo_tls_cli
		cli=("${_o_cli[@]}")
	fi
	# The first MASTERS addresses become the masters.
	if ! env ${_o_pass:+REDISCLI_AUTH="$_o_pass"} redis-cli "${cli[@]}" \
	    --no-auth-warning --cluster create "${addrs[@]}" --cluster-replicas "$reps" \
	    --cluster-yes > "$g/create.out" 2>&1; then
		cat "$g/create.out" >&2
		return 1
	fi
	_topo_poll "cluster $name to be ready" _cluster_ready "$g" || {
		_cluster_why "$g" >&2
		return 1
	}
	CLUSTER_DIR=$g
	CLUSTER_SEEDS=$(IFS=,; echo "${addrs[*]}")
	CLUSTER_URL=$(_topo_url "$g" redis-cluster "$CLUSTER_SEEDS")
	CLUSTER_PORTS="${addrs[*]//127.0.0.1:/}"
	CLUSTER_PIDS="${pids[*]}"
	CLUSTER_START_MS=$(_topo_elapsed "$t0")
	export CLUSTER_DIR CLUSTER_SEEDS CLUSTER_URL CLUSTER_PORTS CLUSTER_PIDS \
	    CLUSTER_START_MS
	cluster_refresh
	_topo_note "$g" "$masters masters + $reps replica(s) each up in $CLUSTER_START_MS ms"
}

# _topo_cluster_spawn NODEDIR PORT: start one cluster node.
_topo_cluster_spawn() {
	local dir=$1 port=$2
	_topo_data_args "$dir" "$port"
	[ -z "$_o_tls" ] || _o_args+=(--tls-cluster yes)
	_topo_spawn "$dir" "${_o_args[@]}" --cluster-enabled yes \
	    --cluster-config-file "$dir/nodes.conf" \
	    --cluster-node-timeout "$TOPO_NODE_TIMEOUT" \
	    --cluster-replica-validity-factor 0 "${_o_extra[@]}"
}

# _cluster_view NODEDIR: one node's view in a few lines: "state ok" or what
# is wrong, then "slots PORT RANGES..." for every master serving slots, as
# CLUSTER NODES says (a cluster agrees when these lines agree).
_cluster_view() {
	printf 'CLUSTER INFO\nCLUSTER NODES\nINFO replication\n' |
	    _topo_cli "$1" 2>/dev/null | tr -d '\r' |
	awk -v dead=" $(tr '\n' ' ' < "${1%/*}/dead")" '
		/^cluster_state:/ { state = substr($0, 15) }
		/^cluster_slots_ok:/ { slots = substr($0, 18) }
		/^role:/ { role = substr($0, 6) }
		/^master_link_status:/ { link = substr($0, 20) }
		/^master_sync_in_progress:/ { sync = substr($0, 25) }
		$1 ~ /^[0-9a-f]+$/ && length($1) == 40 && $2 ~ /@/ {
			nodes++
			port = $2; sub(/^.*:/, "", port); sub(/@.*/, "", port)
			if ($3 ~ /handshake|noaddr/) bad = bad " handshake:" port
			r = ""
			for (i = 9; i <= NF; i++) if ($i !~ /^\[/) r = r " " $i
			if (r == "") next
			if ($3 ~ /fail/ || index(dead, " " port " "))
				bad = bad " slots-on-failed:" port
			print "slots " port r
		}
		END {
			if (state != "ok") bad = bad " cluster_state:" state
			if (slots != 16384) bad = bad " slots_ok:" slots
			if (role == "slave" && (link != "up" || sync != 0))
				bad = bad " replica-link:" link "/" sync
			print "nodes " nodes
			print (bad == "" ? "state ok" : "state" bad)
		}' | sort
}

# _cluster_ready GROUP: every live node is ok and they all agree.
_cluster_ready() {
	local d v first=
	for d in $(_topo_live_dirs "$1"); do
		v=$(_cluster_view "$d")
		[[ $v == *"state ok"* ]] || return 1
		[ -z "$first" ] && first=$v
		[ "$v" = "$first" ] || return 1
	done
	[ -n "$first" ]
}

# _cluster_why GROUP: each live node's view, for a message.
_cluster_why() {
	local d
	for d in $(_topo_live_dirs "$1"); do
		echo "--- ${d##*/} port $(cat "$d/port"):"
		_cluster_view "$d"
	done
}

# _cluster_any GROUP: the directory of a live node.
_cluster_any() {
	_topo_live_dirs "$1" | head -n 1
}

# cluster_refresh: CLUSTER_MASTERS and CLUSTER_REPLICAS (exported) from the
# live nodes' ROLE.
cluster_refresh() {
	local d p m='' r=''
	for d in $(_topo_live_dirs "$CLUSTER_DIR"); do
		_topo_get p "$d/port"
		_topo_role "$d"
		case $TOPO_ROLE in
		master) m="$m $p" ;;
		slave) r="$r $p" ;;
		esac
	done
	CLUSTER_MASTERS=${m# } CLUSTER_REPLICAS=${r# }
	export CLUSTER_MASTERS CLUSTER_REPLICAS
}

# cluster_pid PORT, cluster_role PORT: a node's pid; its role (master,
# slave, or dead when killed here).
cluster_pid() {
	cat "$(_topo_node_of "$CLUSTER_DIR" "$1")/bgpid"
}

cluster_role() {
	local d
	d=$(_topo_node_of "$CLUSTER_DIR" "$1") && _topo_role "$d" &&
		echo "$TOPO_ROLE"
}

# cluster_slot KEY: the hash slot of KEY (CLUSTER KEYSLOT).
cluster_slot() {
	_topo_cli "$(_cluster_any "$CLUSTER_DIR")" cluster keyslot "$1"
}

# cluster_node_for_key KEY: prints the port of the master serving KEY's
# slot, as CLUSTER NODES on a live node says.
cluster_node_for_key() {
	local d slot
	d=$(_cluster_any "$CLUSTER_DIR")
	slot=$(_topo_cli "$d" cluster keyslot "$1") || return 1
	_topo_cli "$d" cluster nodes | awk -v s="$slot" '
		$3 ~ /master/ && $3 !~ /fail/ {
			for (i = 9; i <= NF; i++) {
				n = split($i, r, "-")
				if (n == 1) r[2] = r[1]
				if ($i !~ /^\[/ && s + 0 >= r[1] + 0 && s + 0 <= r[2] + 0) {
					p = $2; sub(/^.*:/, "", p); sub(/@.*/, "", p)
					print p; found = 1; exit
				}
			}
		}
		END { exit !found }'
}

# cluster_kill_master_of KEY: SIGKILL the master serving KEY's slot.
# Exports CLUSTER_KILLED_PORT and CLUSTER_KILLED_AT (ms, for
# cluster_wait_failover).  The node stays down until cluster_restart_node.
cluster_kill_master_of() {
	local port d
	port=$(cluster_node_for_key "$1") || return 1
	d=$(_topo_node_of "$CLUSTER_DIR" "$port") || return 1
	CLUSTER_KILLED_AT=$(_topo_now_ms)
	_topo_kill "$d" || return 1
	CLUSTER_KILLED_PORT=$port
	export CLUSTER_KILLED_PORT CLUSTER_KILLED_AT
}

# cluster_wait_failover [SECONDS]: wait (default TOPO_WAIT) until every
# live node says cluster_state:ok, no slot is served by a failed or killed
# node (a replica took over), all agree, and every replica is in sync.
# Exports CLUSTER_FAILOVER_MS (from the kill) and refreshes CLUSTER_MASTERS
# and CLUSTER_REPLICAS.
cluster_wait_failover() {
	local TOPO_WAIT=${1:-$TOPO_WAIT}
	_topo_poll "a failover in ${CLUSTER_DIR##*/}" _cluster_ready "$CLUSTER_DIR" || {
		_cluster_why "$CLUSTER_DIR" >&2
		return 1
	}
	CLUSTER_FAILOVER_MS=$(_topo_elapsed "${CLUSTER_KILLED_AT:-0}")
	export CLUSTER_FAILOVER_MS
	cluster_refresh
	_topo_note "$CLUSTER_DIR" "failover of $CLUSTER_KILLED_PORT done in $CLUSTER_FAILOVER_MS ms"
}

# cluster_restart_node PORT: start a killed node again, with its data
# directory (nodes.conf) and port: a killed master comes back as a replica
# of the node that replaced it.  Returns once the cluster is ready again;
# exports CLUSTER_RESTART_MS.
cluster_restart_node() {
	local d t0
	t0=$(_topo_now_ms)
	d=$(_topo_node_of "$CLUSTER_DIR" "$1") || return 1
	_topo_restart "$d" || return 1
	_topo_poll "node $1 to rejoin" _cluster_ready "$CLUSTER_DIR" || {
		_cluster_why "$CLUSTER_DIR" >&2
		return 1
	}
	cluster_refresh
	CLUSTER_RESTART_MS=$(_topo_elapsed "$t0")
	export CLUSTER_RESTART_MS
	_topo_note "$CLUSTER_DIR" "node $1 back in $CLUSTER_RESTART_MS ms"
}

# cluster_flushall: empty every master (the replicas follow).
cluster_flushall() {
	local p
	for p in $CLUSTER_MASTERS; do
		[ "$(_topo_cli "$(_topo_node_of "$CLUSTER_DIR" "$p")" flushall)" = OK ] ||
			return 1
	done
}

# --- Sentinel -----------------------------------------------------------------

# start_sentinel_set NAME [--tls] [--pass PW] [--sentinel-pass PW]
#                    [redis-server options for the data nodes...]
# A master, one replica and three sentinels monitoring the master under the
# name NAME (quorum 2, down-after-milliseconds TOPO_DOWN_AFTER, failover-
# timeout TOPO_FAILOVER_TIMEOUT).  The sentinels start knowing each other
# and the replica, and the call returns once every sentinel names the master,
# sees the replica in sync and the two other sentinels connected.  --pass
# sets the data nodes' password (the sentinels use it too), --sentinel-pass
# the sentinels' own (requirepass on each; they use it with each other).
# Exports:
#   SENTINEL_ADDRS    127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3
#   SENTINEL_URL      redis-sentinel://[:PW@]ADDRS/NAME (rediss-sentinel://
#                     with --tls; PW the data nodes' password)
#   SENTINEL_PORTS SENTINEL_PIDS    space-separated
#   SENTINEL_NAME     the master's name
#   SENTINEL_PASSWORD the sentinels' password ("" without one)
#   SENTINEL_MASTER_PORT SENTINEL_MASTER_PID SENTINEL_MASTER_SOCK
#   SENTINEL_REPLICA_PORT SENTINEL_REPLICA_PID SENTINEL_REPLICA_SOCK
#                     (empty while no replica is up)
#   SENTINEL_DIR      the group directory the sentinel_* functions work on
#   SENTINEL_START_MS
start_sentinel_set() {
	local name=$1 g t0 i rc
	shift
	t0=$(_topo_now_ms)
	_topo_opts "$@" || return 1
	_topo_group sentinel "$name" || return 1
	[ -z "$_o_tls" ] || touch "$g/tls"
	echo "$name" > "$g/name"
	_topo_start_master "$g" 1 || return 1
	for _ in 1 2 3 4 5; do
		rc=0
		_topo_start_sentinels "$g" || rc=$?
		[ $rc -eq 2 ] || break
		stop_topo "${g##*/}/sentinel1" "${g##*/}/sentinel2" \
		    "${g##*/}/sentinel3"
	done
	[ $rc -eq 0 ] || return 1
	SENTINEL_DIR=$g SENTINEL_NAME=$name SENTINEL_PASSWORD=$_o_spass
	export SENTINEL_DIR SENTINEL_NAME SENTINEL_PASSWORD
	_topo_poll "sentinels of $name to agree" _sentinel_ready "$g" \
	    "$(cat "$g/data1/port")" || { _sentinel_why "$g" >&2; return 1; }
	local addrs=() pids=() d
	for i in 1 2 3; do
		d=$g/sentinel$i
		addrs+=("127.0.0.1:$(cat "$d/port")")
		pids+=("$(cat "$d/bgpid")")
	done
	SENTINEL_ADDRS=$(IFS=,; echo "${addrs[*]}")
	SENTINEL_URL=$(_topo_url "$g" redis-sentinel "$SENTINEL_ADDRS" "/$name")
	SENTINEL_PORTS="${addrs[*]//127.0.0.1:/}" SENTINEL_PIDS="${pids[*]}"
	SENTINEL_START_MS=$(_topo_elapsed "$t0")
	export SENTINEL_ADDRS SENTINEL_URL SENTINEL_PORTS SENTINEL_PIDS \
	    SENTINEL_START_MS
	sentinel_refresh
	_topo_note "$g" "master, replica and 3 sentinels up in $SENTINEL_START_MS ms"
}

# _topo_start_sentinels GROUP: write the three sentinels' configurations,
# each knowing the others (fixed ids) and the replica, and start them.
# Status 2 when a port was taken first (the caller starts all three again).
_topo_start_sentinels() {
	local g=$1 name i j d ports=() ids=() mport rport rc=0
	name=$(cat "$g/name")
	mport=$(cat "$g/data1/port") rport=$(cat "$g/data2/port")
	for i in 1 2 3; do
		_topo_port || return 1
		ports[i]=$TOPO_PORT
		ids[i]=$(printf '%040x' "$(( (RANDOM << 30) + (RANDOM << 15) + RANDOM ))")
	done
	for i in 1 2 3; do
		d=$g/sentinel$i
		mkdir -p "$d"
		rm -f "$d/log" "$d/out"
		{
			if [ -n "$_o_tls" ]; then
				echo "port 0"
				echo "tls-port ${ports[i]}"
				echo "tls-cert-file $TOPO_CERTS/server.crt"
				echo "tls-key-file $TOPO_CERTS/server.key"
				echo "tls-ca-cert-file $TOPO_CERTS/ca.crt"
				echo "tls-auth-clients $_o_auth"
				# Sentinels reach masters, replicas and each other in TLS.
				echo "tls-replication yes"
			else
				echo "port ${ports[i]}"
			fi
			echo "bind 127.0.0.1"
			echo "dir $d"
			echo "logfile $d/log"
			echo "daemonize no"
			echo "sentinel myid ${ids[i]}"
			echo "sentinel resolve-hostnames no"
			echo "sentinel monitor $name 127.0.0.1 $mport 2"
			echo "sentinel down-after-milliseconds $name $TOPO_DOWN_AFTER"
			echo "sentinel failover-timeout $name $TOPO_FAILOVER_TIMEOUT"
			echo "sentinel parallel-syncs $name 1"
			[ -z "$_o_pass" ] || echo "sentinel auth-pass $name $_o_pass"
			if [ -n "$_o_spass" ]; then
				echo "requirepass $_o_spass"
				echo "sentinel sentinel-pass $_o_spass"
			fi
			echo "sentinel known-replica $name 127.0.0.1 $rport"
			for j in 1 2 3; do
				[ "$j" = "$i" ] && continue
				echo "sentinel known-sentinel $name 127.0.0.1 ${ports[j]} ${ids[j]}"
			done
		} > "$d/sentinel.conf"
		echo "${ports[i]}" > "$d/port"
		printf '%s' "$_o_spass" > "$d/auth"
		if [ -n "$_o_tls" ]; then
			_topo_tls_cli
			printf '%s\n' -h 127.0.0.1 -p "${ports[i]}" "${_o_cli[@]}" > "$d/conn"
		else
			printf '%s\n' -h 127.0.0.1 -p "${ports[i]}" > "$d/conn"
		fi
		_topo_spawn "$d" "$d/sentinel.conf" --sentinel
	done
	for i in 1 2 3; do
		_topo_wait_up "$g/sentinel$i" || rc=$?
	done
	return $rc
}

# _sentinel_view NODEDIR: what one sentinel says, in a few lines: "addr
# PORT" (get-master-addr-by-name), the master's flags, how many replicas it
# sees up and in sync, and how many other sentinels it knows.  Known, not
# connected: a sentinel that found a peer not yet listening retries only a
# second later, and then flags it s_down for a moment (its first PING goes
# out after a second too); neither stops a failover.
_sentinel_view() {
	local name
	_topo_get name "${1%/*}/name"
	printf 'SENTINEL get-master-addr-by-name %s\nSENTINEL replicas %s\nSENTINEL sentinels %s\nSENTINEL master %s\n' \
	    "$name" "$name" "$name" "$name" | _topo_cli "$1" 2>/dev/null |
	    tr -d '\r' | awk '
		NR == 2 { print "addr " $0 }
		prev == "flags" && ("," $0 ",") ~ /,master,/ { print "master-flags " $0 }
		prev == "flags" && $0 == "slave" { up++ }
		prev == "master-link-status" && $0 == "ok" { linked++ }
		prev == "flags" && ("," $0 ",") ~ /,sentinel,/ { sentinels++ }
		{ prev = $0 }
		END {
			print "replicas " (up < linked ? up : linked) + 0
			print "sentinels " sentinels + 0
		}'
}

# _sentinel_ready GROUP MASTER_PORT: every live sentinel names MASTER_PORT
# with nothing odd in its flags (no failover under way), sees every other
# live data node as a replica in sync and knows the other sentinels; and
# the master says it is one.
_sentinel_ready() {
	local g=$1 mport=$2 d want nrep=-1
	for d in $(_topo_live_dirs "$g" data); do
		nrep=$((nrep + 1))
	done
	want="addr $mport
master-flags master
replicas $nrep
sentinels $(( $(_topo_live_dirs "$g" sentinel | wc -l) - 1 ))"
	for d in $(_topo_live_dirs "$g" sentinel); do
		[ "$(_sentinel_view "$d")" = "$want" ] || return 1
	done
	_topo_role "$(_topo_node_of "$g" "$mport")"
	[ "$TOPO_ROLE" = master ]
}

_sentinel_why() {
	local d
	for d in $(_topo_live_dirs "$1" sentinel); do
		echo "--- ${d##*/} port $(cat "$d/port"):"
		_sentinel_view "$d"
	done
}

# sentinel_master_port: the master's port as the first live sentinel
# answering names it.
sentinel_master_port() {
	local d a
	for d in $(_topo_live_dirs "$SENTINEL_DIR" sentinel); do
		a=$(_topo_cli "$d" sentinel get-master-addr-by-name \
		    "$SENTINEL_NAME" 2>/dev/null | sed -n 2p)
		[ -n "$a" ] && { echo "$a"; return 0; }
	done
	return 1
}

# sentinel_refresh: SENTINEL_MASTER_* and SENTINEL_REPLICA_* (exported)
# from what the sentinels and the data nodes say now.
sentinel_refresh() {
	local d p mp
	mp=$(sentinel_master_port) || return 1
	# The master named may be one killed here and not yet replaced.
	SENTINEL_MASTER_PORT=$mp SENTINEL_MASTER_PID='' SENTINEL_MASTER_SOCK=''
	SENTINEL_REPLICA_PORT='' SENTINEL_REPLICA_PID='' SENTINEL_REPLICA_SOCK=''
	for d in $(_topo_live_dirs "$SENTINEL_DIR" data); do
		_topo_get p "$d/port"
		if [ "$p" = "$mp" ]; then
			SENTINEL_MASTER_PORT=$mp SENTINEL_MASTER_SOCK=$d/sock
			_topo_get SENTINEL_MASTER_PID "$d/bgpid"
		else
			SENTINEL_REPLICA_PORT=$p SENTINEL_REPLICA_SOCK=$d/sock
			_topo_get SENTINEL_REPLICA_PID "$d/bgpid"
		fi
	done
	export SENTINEL_MASTER_PORT SENTINEL_MASTER_PID SENTINEL_MASTER_SOCK \
	    SENTINEL_REPLICA_PORT SENTINEL_REPLICA_PID SENTINEL_REPLICA_SOCK
}

# sentinel_cli N ARGS...: redis-cli on sentinel N (1 to 3), with its
# password.
sentinel_cli() {
	local n=$1
	shift
	_topo_cli "$SENTINEL_DIR/sentinel$n" "$@"
}

# sentinel_kill_master: SIGKILL the master the sentinels name.  Exports
# SENTINEL_OLD_MASTER_PORT and SENTINEL_KILLED_AT (ms).
sentinel_kill_master() {
	local mp d
	mp=$(sentinel_master_port) || return 1
	d=$(_topo_node_of "$SENTINEL_DIR" "$mp") || return 1
	SENTINEL_KILLED_AT=$(_topo_now_ms)
	_topo_kill "$d" || return 1
	SENTINEL_OLD_MASTER_PORT=$mp
	export SENTINEL_OLD_MASTER_PORT SENTINEL_KILLED_AT
}

# sentinel_planned_failover: SENTINEL FAILOVER of the set's master, as an
# operator would before maintenance; the old master stays up.  Waits until
# the sentinels name the new master and the old one is its replica in
# sync (ready for another failover).  Exports SENTINEL_OLD_MASTER_PORT,
# SENTINEL_KILLED_AT (ms, the command's time) and SENTINEL_SWITCHED_AT (ms,
# when a sentinel first named the new master).
sentinel_planned_failover() {
	local mp
	mp=$(sentinel_master_port) || return 1
	SENTINEL_OLD_MASTER_PORT=$mp SENTINEL_KILLED_AT=$(_topo_now_ms)
	export SENTINEL_OLD_MASTER_PORT SENTINEL_KILLED_AT
	sentinel_cli 1 SENTINEL FAILOVER "$SENTINEL_NAME" | grep -q OK ||
		_topo_err "SENTINEL FAILOVER $SENTINEL_NAME refused" || return 1
	_topo_poll "a sentinel to name a new master" \
	    _sentinel_switched "$mp" || return 1
	SENTINEL_SWITCHED_AT=$(_topo_now_ms)
	export SENTINEL_SWITCHED_AT
	sentinel_wait_failover || return 1
	_topo_poll "$mp to be a replica in sync" \
	    _sentinel_ready "$SENTINEL_DIR" "$SENTINEL_MASTER_PORT" || {
		_sentinel_why "$SENTINEL_DIR" >&2
		return 1
	}
	sentinel_refresh
}

_sentinel_switched() {
	local p
	p=$(sentinel_master_port) || return 1
	[ "$p" != "$1" ]
}

# sentinel_wait_failover [SECONDS]: wait (default TOPO_WAIT) until every
# live sentinel names a new master (not SENTINEL_OLD_MASTER_PORT), its
# failover over, and the new master answers ROLE master.  The sentinels
# may not know each other again yet: before failing over again, restart
# the old master (sentinel_restart_old_master), which waits for that.  Exports
# SENTINEL_FAILOVER_MS (from the kill) and refreshes SENTINEL_MASTER_*.
sentinel_wait_failover() {
	local TOPO_WAIT=${1:-$TOPO_WAIT}
	_topo_poll "a failover of $SENTINEL_NAME" _sentinel_failed_over || {
		_sentinel_why "$SENTINEL_DIR" >&2
		return 1
	}
	SENTINEL_FAILOVER_MS=$(_topo_elapsed "${SENTINEL_KILLED_AT:-0}")
	export SENTINEL_FAILOVER_MS
	sentinel_refresh
	_topo_note "$SENTINEL_DIR" "failover of $SENTINEL_OLD_MASTER_PORT done in $SENTINEL_FAILOVER_MS ms"
}

# _sentinel_failed_over: every live sentinel names the same master, not
# the old one, its failover over, and the master says it is one.  Peers
# are not counted: after a switch a sentinel forgets the others until their
# next hello (every 2 s), which sentinel_restart_old_master waits for.
_sentinel_failed_over() {
	local mp d v
	mp=$(sentinel_master_port) || return 1
	[ "$mp" != "$SENTINEL_OLD_MASTER_PORT" ] || return 1
	for d in $(_topo_live_dirs "$SENTINEL_DIR" sentinel); do
		v=$(_sentinel_view "$d" | head -n 2)
		[ "$v" = "addr $mp
master-flags master" ] || return 1
	done
	_topo_role "$(_topo_node_of "$SENTINEL_DIR" "$mp")"
	[ "$TOPO_ROLE" = master ]
}

# sentinel_restart_old_master: start the killed master again, as a replica
# of the new one (as Sentinel would make it), and wait until it is in sync
# and every sentinel sees it so and knows the other sentinels again (ready
# for another failover).  Exports SENTINEL_RESTART_MS.
sentinel_restart_old_master() {
	local d mp t0
	t0=$(_topo_now_ms)
	mp=$(sentinel_master_port) || return 1
	d=$(_topo_node_of "$SENTINEL_DIR" "$SENTINEL_OLD_MASTER_PORT") || return 1
	_topo_restart "$d" --replicaof 127.0.0.1 "$mp" || return 1
	_topo_poll "$SENTINEL_OLD_MASTER_PORT to be a replica" \
	    _sentinel_ready "$SENTINEL_DIR" "$mp" || {
		_sentinel_why "$SENTINEL_DIR" >&2
		return 1
	}
	sentinel_refresh
	SENTINEL_RESTART_MS=$(_topo_elapsed "$t0")
	export SENTINEL_RESTART_MS
	_topo_note "$SENTINEL_DIR" "old master back as a replica in $SENTINEL_RESTART_MS ms"
}

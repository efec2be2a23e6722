# A private PostgreSQL for the pg*.bats suites: one server per bats file
# (pg_start in setup_file, pg_stop in teardown_file), listening only on a
# unix socket in its own temporary directory, run as an unprivileged user
# when the suite runs as root.  Each test makes a database of its own.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

# pg_as CMD...: run CMD as the server's owner.
pg_as() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u "$PG_USER" -- "$@")
	else
		"$@"
	fi
}

# pg_start: initdb and start a server; sets PG_DIR (its socket directory),
# PG_USER, PGHOST; the superuser is "simlog", and the role "pwuser" (password
# "s3cret-pw") must give a password, by scram-sha-256.
pg_start() {
	[ -x "$PG_BIN/initdb" ] || skip "PostgreSQL server binaries not found"
	PG_DIR=$(mktemp -d /tmp/simlog-pg.XXXXXX)
	PG_USER=$(id -un)
	if [ "$(id -u)" -eq 0 ]; then
		PG_USER=postgres
		id postgres >/dev/null 2>&1 || PG_USER=nobody
		chown "$PG_USER" "$PG_DIR"
	fi
	pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U simlog --auth=trust \
		-E UTF8 --locale=C.UTF-8 > "$PG_DIR/initdb.log" 2>&1 ||
		{ cat "$PG_DIR/initdb.log" >&2; return 1; }
	printf '%s\n' 'local all pwuser scram-sha-256' 'local all all trust' \
		> "$PG_DIR/data/pg_hba.conf"
	pg_server start
	psql -q -h "$PG_DIR" -U simlog -d postgres -c \
		"CREATE ROLE pwuser LOGIN SUPERUSER PASSWORD 's3cret-pw'" >/dev/null
	PGHOST=$PG_DIR
	export PG_DIR PG_USER PGHOST
	unset PGPASSWORD PGPASSFILE PGSERVICE PGDATABASE PGUSER
}

# pg_server start|stop|restart [pg_ctl options]
pg_server() {
	local what=$1; shift
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
		-o "-k $PG_DIR -c listen_addresses='' -c fsync=off" "$what" "$@" \
		> /dev/null
}

pg_stop() {
	[ -n "${PG_DIR:-}" ] || return 0
	pg_server stop -m immediate 2>/dev/null || true
	rm -rf "$PG_DIR"
}

# pg_newdb: a fresh database for this test; sets PGDB and PGURL.
pg_newdb() {
	PGDB="t${BATS_TEST_NUMBER}_$RANDOM"
	createdb -h "$PG_DIR" -U simlog "$PGDB"
	PGURL="postgresql://simlog@/$PGDB?host=$PG_DIR"
	export PGDB PGURL
}

# pq SQL: run SQL in the test's database, unaligned, no headers.
pq() {
	PGOPTIONS='-c client_min_messages=warning' psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_DIR" -U simlog -d "$PGDB" -c "$1"
}

# pg_expect FILE...: the table simlog_expect holds FILEs' lines
# "SIM<TAB>json", as they are, to compare with what landed (pg_diff).
pg_expect() {
	local f
	pq "DROP TABLE IF EXISTS simlog_expect;
	    CREATE TABLE simlog_expect (sim text, j text)"
	for f in "$@"; do
		# "SIM<TAB>json" lines, taken as they are.
		PGOPTIONS='-c client_min_messages=warning' \
		psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -U simlog -d "$PGDB" -c \
		    "COPY simlog_expect FROM STDIN WITH (FORMAT csv, DELIMITER E'\t', QUOTE E'\x01')" < "$f"
	done
}

# pg_record_tables: the record tables of the test's database, sorted.
pg_record_tables() {
	pq "SELECT tablename FROM pg_tables WHERE schemaname = 'public'
	    AND tablename NOT LIKE 'simlog\_%' ORDER BY tablename COLLATE \"C\""
}

# pg_diff: what the record tables hold that simlog_expect does not, and
# the other way round, counting copies (EXCEPT ALL); nothing when equal.
pg_diff() {
	local t sql=""
	for t in $(pg_record_tables); do
		sql+="${sql:+ UNION ALL }SELECT simulation_id, data FROM \"$t\""
	done
	[ -n "$sql" ] || sql="SELECT NULL::text, NULL::jsonb WHERE false"
	pq "WITH got AS ($sql), want AS (SELECT sim, j::jsonb FROM simlog_expect)
	    SELECT 'extra: ' || simulation_id || ' ' || data::text FROM
	        (SELECT * FROM got EXCEPT ALL SELECT * FROM want) x
	    UNION ALL
	    SELECT 'missing: ' || sim || ' ' || j::text FROM
	        (SELECT * FROM want EXCEPT ALL SELECT * FROM got) y
	    LIMIT 10"
}

# pg_rows: rows in all record tables.
pg_rows() {
	local t n=0
	for t in $(pg_record_tables); do
		n=$(( n + $(pq "SELECT count(*) FROM \"$t\"") ))
	done
	echo "$n"
}

# pg_freeze: SIGSTOP the whole server, the postmaster first (a stopped
# postmaster starts no more processes), then every process it started.
pg_freeze() {
	local pm
	pm=$(head -n 1 "$PG_DIR/data/postmaster.pid")
	kill -STOP "$pm"
	kill -STOP $(ps -o pid= --ppid "$pm")
}

# pg_thaw: SIGCONT what pg_freeze stopped (harmless when nothing was).
pg_thaw() {
	local pm
	pm=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null) || return 0
	kill -CONT $(ps -o pid= --ppid "$pm") "$pm" 2>/dev/null || true
}

# --- for the suites: records pushed, wanted, and what landed ---

# push SIM FILE: FILE's records into SIM's buffer, all of them, in chunks
# of 256 records (the chunk counts below are reckoned so).
push() {
	local out
	out=$(simlog-push -s "$1" --batch 256 < "$2")
	[ "$(jnum pushed "$out")" -eq "$(grep -c . "$2")" ]
}

# want SIM FILE...: "SIM<TAB>json" for each record of the FILEs, appended
# to the file want.
want() {
	local sim=$1 f; shift
	for f in "$@"; do
		sed "s/^/$sim\t/" "$f"
	done >> want
}

# batches_over N: more than N batches are committed.
batches_over() {
	[ "$(pq 'SELECT count(*) FROM simlog_batches' 2>/dev/null || echo 0)" -gt "$1" ]
}

# exact: the record tables hold exactly the records in want, each once,
# and Redis holds no simlog key.
exact() {
	local d
	pg_expect want
	d=$(pg_diff)
	[ -z "$d" ] || { echo "$d"; return 1; }
	assert_equal "$(pg_rows)" "$(wc -l < want)"
	assert_equal "$(simlog_keys)" ""
}

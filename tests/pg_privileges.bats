#!/usr/bin/env bats
# The three ways simlog-drain(1) (PRIVILEGES) lets a role drain into
# PostgreSQL: owning the tables, CREATE on the schema, or tables made
# beforehand with SELECT, INSERT and UPDATE on them (USAGE on their
# sequences, DELETE on simlog_batches): that last role has no CREATE at all,
# so a drain that issued one would fail.  Against a private server.

bats_require_minimum_version 1.5.0

load helpers
load pg_helpers

setup_file() { pg_start; }
teardown_file() { pg_stop; }

setup() {
	simlog_env
	pg_newdb
	# A role of this test's own: roles are the server's, not the database's.
	ROLE="w${BATS_TEST_NUMBER}_$RANDOM"
	pq "CREATE ROLE $ROLE LOGIN;
	    REVOKE CREATE ON SCHEMA public FROM PUBLIC"
	ROLEURL="postgresql://$ROLE@/$PGDB?host=$PG_DIR"
	cd "$BATS_TEST_TMPDIR"
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL SIMLOG_SCHEMA_PATH="$SIMLOG_TOP/schemas"
}

teardown() {
	stop_all_redis
}

# push SIM FILE: all of FILE's records into SIM's buffer.
push() {
	local out
	out=$(simlog-push -s "$1" < "$2")
	[ "$(jnum pushed "$out")" -eq "$(grep -c . "$2")" ]
}

# grant_rows: what the third way gives the role, as simlog-drain(1) says.
grant_rows() {
	pq "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO $ROLE;
	    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO $ROLE;
	    GRANT DELETE ON simlog_batches TO $ROLE"
	[ "$(pq "SELECT has_schema_privilege('$ROLE', 'public', 'CREATE')")" = f ]
}

# typed_rows DB: each agentfarm table's rows, their serial ids left out,
# one sorted line each; what two drains of the same records share.
typed_rows() {
	local t
	for t in agents agent_actions health_incidents agent_states \
	    simulation_steps resource_states; do
		echo "$t $(PGDB=$1 pq "SELECT count(*) FROM $t")"
		PGDB=$1 pq "SELECT (to_jsonb(x) - 'id')::text FROM $t x" | sort
	done
}

@test "pg privileges: tables made beforehand; a role with rows only (no CREATE) drains every record exactly" {
	"$SIMGEN" --ids -n 2000 -s 31 > first.jsonl
	"$SIMGEN" --ids -n 3000 -s 32 > second.jsonl
	# The owner (here the superuser) makes the tables with a first drain.
	push first first.jsonl
	run simlog-drain -q -d "$PGURL"
	assert_success
	grant_rows
	# The role drains the rest: into every table, none created.
	push second second.jsonl
	tables=$(pg_record_tables)
	run --separate-stderr simlog-drain -q -d "$ROLEURL"
	assert_success
	[ -z "$stderr" ]
	[ "$(jnum rows "${lines[-1]}")" -eq 3000 ]
	assert_equal "$(pg_record_tables)" "$tables"
	{ sed 's/^/first\t/' first.jsonl; sed 's/^/second\t/' second.jsonl; } > want
	pg_expect want
	run pg_diff
	assert_output ""
	assert_equal "$(pg_rows)" 5000
	assert_equal "$(pq "SELECT count(*) FROM simlog_batches")" \
		"$(pq "SELECT count(DISTINCT batch) FROM simlog_batches")"
	assert_equal "$(simlog_keys)" ""
	# Its own tables only: it cannot make one.
	run psql -X -q -h "$PG_DIR" -U "$ROLE" -d "$PGDB" -c "CREATE TABLE x (i int)"
	assert_failure
	assert_output --partial "permission denied for schema public"
}

@test "pg privileges: typed tables made beforehand; the role drains --schema agentfarm (updates included) as the owner would" {
	"$SIMGEN" --ids -n 2000 -s 41 > first.jsonl
	"$SIMGEN" --ids -n 3000 -s 42 > second.jsonl
	# The reference: the owner drains both.
	createdb -h "$PG_DIR" -U simlog "${PGDB}_ref"
	push a first.jsonl
	push b second.jsonl
	run simlog-drain -q --schema agentfarm \
		-d "postgresql://simlog@/${PGDB}_ref?host=$PG_DIR"
	assert_success
	# The owner drains the first; the role, with rows only, the second.
	push a first.jsonl
	run simlog-drain -q --schema agentfarm -d "$PGURL"
	assert_success
	grant_rows
	push b second.jsonl
	run --separate-stderr simlog-drain -q --schema agentfarm -d "$ROLEURL"
	echo "$stderr"
	assert_success
	[ "$(jnum rows "${lines[-1]}")" -gt 0 ]
	# The two seeds share ids: the same records are dead letters in both.
	assert_equal "$(typed_rows "$PGDB")" "$(typed_rows "${PGDB}_ref")"
	assert_equal "$(pq "SELECT count(*) FROM simlog_rejects")" \
		"$(PGDB=${PGDB}_ref pq "SELECT count(*) FROM simlog_rejects")"
}

@test "pg privileges: CREATE on the schema is enough to start from an empty database" {
	pq "GRANT CREATE ON SCHEMA public TO $ROLE"
	"$SIMGEN" --ids -n 1000 -s 51 > in.jsonl
	push run1 in.jsonl
	run simlog-drain -q --schema agentfarm -d "$ROLEURL"
	assert_success
	assert_equal "$(pq "SELECT tableowner FROM pg_tables WHERE tablename = 'agents'")" "$ROLE"
	# Without the schema, records go to default tables named after their
	# types: not simulation and simulation_config, whose names the
	# schema's tables took.
	grep -v '"type":"simulation' in.jsonl > plain.jsonl
	push run2 plain.jsonl
	run simlog-drain -q -d "$ROLEURL"
	assert_success
	[ "$(pq "SELECT count(*) FROM agents WHERE simulation_id = 'run1'")" -gt 0 ]
	[ "$(pq "SELECT count(DISTINCT simulation_id) FROM agent")" -eq 1 ]
}

@test "pg privileges: no CREATE and a table missing: 77, saying what the role needs; nothing lost" {
	"$SIMGEN" --ids -n 500 -s 61 > in.jsonl
	push run1 in.jsonl
	run simlog-drain -q -d "$ROLEURL"
	assert_failure 77
	assert_output --partial "permission denied for schema public"
	assert_output --partial "CREATE on the schema"
	assert_output --partial "simlog-drain(1)"
	# The owner drains what waited.
	run simlog-drain -q -d "$PGURL"
	assert_success
	sed 's/^/run1\t/' in.jsonl > want
	pg_expect want
	run pg_diff
	assert_output ""
}

@test "pg privileges: without DELETE on simlog_batches the records land, and the drain says why old batch ids stay" {
	"$SIMGEN" --ids -n 300 -s 71 > in.jsonl
	push run1 in.jsonl
	run simlog-drain -q -d "$PGURL"
	assert_success
	pq "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO $ROLE;
	    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO $ROLE"
	push run2 in.jsonl
	run simlog-drain -q -d "$ROLEURL"
	assert_success
	assert_output --partial "permission denied for table simlog_batches"
	{ sed 's/^/run1\t/' in.jsonl; sed 's/^/run2\t/' in.jsonl; } > want
	pg_expect want
	run pg_diff
	assert_output ""
}

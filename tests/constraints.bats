#!/usr/bin/env bats
# A row the database refuses (a CHECK, NOT NULL, UNIQUE, a foreign key),
# in a typed table or a default one: SQLite and PostgreSQL alike make it a
# dead letter with the database's reason and drain the rest.  Existing
# tables whose columns cannot take the schema's types are found before
# the first row and named (78); nothing is drained until they are fixed.

bats_require_minimum_version 1.5.0

setup_file() {
	load helpers
	load pg_helpers
	pg_start
}

teardown_file() {
	load pg_helpers
	pg_stop
}

setup() {
	load helpers
	load pg_helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	unset SIMLOG_SCHEMA
	DB=$BATS_TEST_TMPDIR/c.db
	pg_newdb
	cat > t.schema <<'EOF'
table readings for reading
    id      INTEGER  primary key
    sensor  TEXT     not null
    value   REAL
EOF
}

teardown() {
	kill_tracked
	stop_all_redis
}

# sql DB SQL: run SQL in the SQLite file or the PostgreSQL database.
sql() {
	if [ "$1" = pg ]; then pq "$2"; else sqlite3 "$DB" "$2"; fi
}

target() {
	if [ "$1" = pg ]; then echo "$PGURL"; else echo "$DB"; fi
}

# The same tables made beforehand in either database, with constraints
# the schema does not know: a CHECK on a typed and on a default table, a
# unique index, a foreign key.
make_tables() {
	local db=$1 id="id INTEGER PRIMARY KEY"
	local data="data TEXT NOT NULL CHECK (length(data) < 40)"
	if [ "$db" = pg ]; then
		id="id bigserial PRIMARY KEY"
		data="data jsonb NOT NULL CHECK (length(data::text) < 40)"
	fi
	sql "$db" "CREATE TABLE parents (k TEXT PRIMARY KEY);
	    INSERT INTO parents VALUES ('p1');
	    CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT NOT NULL
	        REFERENCES parents (k), value REAL CHECK (value >= 0));
	    CREATE UNIQUE INDEX readings_one ON readings (sensor, value);
	    CREATE TABLE note ($id, simulation_id TEXT NOT NULL, $data)"
}

@test "constraints: CHECK, NOT NULL, UNIQUE and foreign keys refuse rows as dead letters with the database's reason, in SQLite and PostgreSQL alike" {
	local db
	for db in lite pg; do
		make_tables "$db"
		printf '%s\n' '{"type":"reading","id":1,"sensor":"p1","value":1.5}' \
		    '{"type":"reading","id":2,"sensor":"p1","value":-1}' \
		    '{"type":"reading","id":3,"sensor":"nobody","value":2}' \
		    '{"type":"reading","id":4,"sensor":"p1","value":1.5}' \
		    '{"type":"reading","id":5,"value":3}' \
		    '{"type":"note","text":"short"}' \
		    '{"type":"note","text":"a note much longer than forty bytes of JSON"}' \
		    '{"type":"reading","id":6,"sensor":"p1","value":2.5}' | simlog-push -q -s S1
		run -0 --separate-stderr simlog-drain -q -d "$(target "$db")" --schema ./t.schema
		assert_equal "$db $(jnum rows "${lines[-1]}") $(jnum rejects "${lines[-1]}")" "$db 3 5"
		assert_equal "$(sql "$db" "SELECT id FROM readings ORDER BY id")" "$(printf '%s\n' 1 6)"
		assert_equal "$(sql "$db" "SELECT count(*) FROM note")" 1
		# Each with its reason, in the order the records came.
		sql "$db" "SELECT type || ': ' || error FROM simlog_rejects ORDER BY id" > "$db.why"
		assert_equal "$(wc -l < "$db.why")" 5
		[[ $stderr == *"5 records went to simlog_rejects"* ]]
		assert_equal "$(simlog_keys)" ""
	done
	# The reasons are the databases' own: SQLite's words, PostgreSQL's.
	assert_equal "$(cat lite.why)" "$(cat <<'EOF'
reading: CHECK constraint failed: value >= 0
reading: FOREIGN KEY constraint failed
reading: UNIQUE constraint failed: readings.sensor, readings.value
reading: NOT NULL constraint failed: readings.sensor
note: CHECK constraint failed: length(data) < 40
EOF
)"
	assert_equal "$(cat pg.why)" "$(cat <<'EOF'
reading: new row for relation "readings" violates check constraint "readings_value_check"
reading: insert or update on table "readings" violates foreign key constraint "readings_sensor_fkey"
reading: UNIQUE constraint failed: readings.sensor, readings.value
reading: NOT NULL constraint failed: readings.sensor
note: new row for relation "note" violates check constraint "note_data_check"
EOF
)"
}

@test "constraints: rows refused all through a long transaction, while the rows before them are on their way: each a dead letter, in the order they came; every other row in once (SQLite, PostgreSQL)" {
	# 40000 readings and 20000 notes in one transaction: every 4999th
	# reading breaks the CHECK, every 7001st repeats the one before's
	# (sensor, value), every 3001st note is too long.
	awk 'BEGIN {
		for (i = 1; i <= 60000; i++) {
			if (i % 3 == 0) {
				m++
				bad = m % 3001 == 0
				printf "{\"type\":\"note\",\"text\":\"%s\"}\n",
				    bad ? "a note much longer than forty bytes of JSON" : "n" m
			} else {
				r++
				bad = r % 4999 == 0 || r % 7001 == 0
				printf "{\"type\":\"reading\",\"id\":%d,\"sensor\":\"p1\",\"value\":%d}\n",
				    r, r % 4999 == 0 ? -1 : r % 7001 == 0 ? r - 1 : r
			}
			print (bad ? "bad" : "good") > "verdicts"
		}
	}' > in.jsonl
	paste -d '\t' verdicts in.jsonl | awk -F '\t' '$1 == "bad" { print $2 }' > bad.jsonl
	paste -d '\t' verdicts in.jsonl | awk -F '\t' '$1 == "good" && /"reading"/ { print $2 }' |
	    grep -o '"id":[0-9]*' | cut -d: -f2 > good.ids
	assert_equal "$(wc -l < bad.jsonl)" 19
	local db
	for db in lite pg; do
		make_tables "$db"
		simlog-push -q -s S1 < in.jsonl
		run -0 --separate-stderr simlog-drain -q -d "$(target "$db")" --schema ./t.schema
		assert_equal "$db $(jnum rows "${lines[-1]}") $(jnum rejects "${lines[-1]}")" "$db 59981 19"
		assert_equal "$db $(jnum batches "${lines[-1]}")" "$db 59"
		sql "$db" "SELECT data FROM simlog_rejects ORDER BY id" > "$db.rejects"
		cmp bad.jsonl "$db.rejects"
		sql "$db" "SELECT id FROM readings ORDER BY id" > "$db.ids"
		cmp good.ids "$db.ids"
		assert_equal "$(sql "$db" "SELECT count(*) FROM note")" 19994
		assert_equal "$(simlog_keys)" ""
	done
}

@test "existing tables: a column that cannot take the schema's type is named before the first row (78); fixed, everything drains once" {
	local db
	for db in lite pg; do
		sql "$db" "CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor INTEGER, value REAL)"
		printf '%s\n' '{"type":"reading","id":1,"sensor":"s1","value":1.5}' | simlog-push -q -s S1
		run -78 --separate-stderr simlog-drain -q -d "$(target "$db")" --schema ./t.schema
		assert_equal "$output" ""
		if [ "$db" = pg ]; then
			assert_equal "$stderr" "simlog-drain: $PGURL: ./t.schema: table readings, column sensor: the database has integer, the schema wants TEXT; nothing was drained. To change it, keeping its rows: ALTER TABLE \"readings\" ALTER COLUMN \"sensor\" TYPE text USING \"sensor\"::text"
			pq "ALTER TABLE \"readings\" ALTER COLUMN \"sensor\" TYPE text USING \"sensor\"::text"
		else
			assert_equal "$stderr" "simlog-drain: $DB: ./t.schema: table readings, column sensor: the database has INTEGER, the schema wants TEXT; nothing was drained. SQLite cannot change a column's type: rebuild the table with the schema's types and copy its rows (see simlog-schema(5), OLD DATABASES), or drain into a new database"
			sqlite3 "$DB" "DROP TABLE readings; CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT, value REAL)"
		fi
		[ -n "$(simlog_keys)" ]
		run -0 --separate-stderr simlog-drain -q -d "$(target "$db")" --schema ./t.schema
		assert_equal "$(sql "$db" "SELECT id || ' ' || sensor || ' ' || value FROM readings")" "1 s1 1.5"
		assert_equal "$(sql "$db" "SELECT count(*) FROM simlog_rejects")" 0
		assert_equal "$(simlog_keys)" ""
	done
}

@test "existing tables: a NOT NULL column the schema does not fill is named before the first row (78)" {
	local db
	for db in lite pg; do
		sql "$db" "CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT, value REAL, site TEXT NOT NULL)"
		printf '%s\n' '{"type":"reading","id":1,"sensor":"s1"}' | simlog-push -q -s S1
		run -78 --separate-stderr simlog-drain -q -d "$(target "$db")" --schema ./t.schema
		[[ $stderr == *"table readings has column site, NOT NULL without a default, which the schema does not fill: every row would be refused; nothing was drained.  Give it a default, or add it to the schema" ]]
		sql "$db" "DROP TABLE readings"
		run -0 --separate-stderr simlog-drain -q -d "$(target "$db")" --schema ./t.schema
		assert_equal "$(sql "$db" "SELECT sensor FROM readings")" s1
	done
}

@test "constraints: a statement that rolls the whole SQLite transaction back (a trigger's RAISE(ROLLBACK)) fails the drain (74), no row after it committed on its own; once the trigger is gone, every record once" {
	# 30000 notes in one transaction; a trigger rolls it back at the
	# 20000th.  Rows after it must not go in one by one (autocommit)
	# while the drain believes them in its transaction.
	awk 'BEGIN { for (i = 1; i <= 30000; i++)
		printf "{\"type\":\"note\",\"n\":\"n%d\"}\n", i }' > in.jsonl
	sqlite3 "$DB" "CREATE TABLE note (id INTEGER PRIMARY KEY,
	        simulation_id TEXT NOT NULL, data TEXT NOT NULL);
	    CREATE TRIGGER no20000 BEFORE INSERT ON note
	        WHEN NEW.data LIKE '%\"n20000\"%'
	        BEGIN SELECT RAISE(ROLLBACK, 'refused by a trigger'); END"
	simlog-push -q -s S1 < in.jsonl
	run --separate-stderr simlog-drain -q -d "$DB" --batch 100000
	assert_equal "$status" 74
	assert_equal "$stderr" "simlog-drain: S1: $DB: note: refused by a trigger (the database rolled the transaction back)"
	assert_equal "$(sqlite3 "$DB" "SELECT count(*) FROM note")" 0
	assert_equal "$(sqlite3 "$DB" "SELECT count(*) FROM simlog_rejects")" 0
	assert_equal "$(sqlite3 "$DB" "SELECT count(*) FROM simlog_batches")" 0
	sqlite3 "$DB" "DROP TRIGGER no20000"
	run -0 --separate-stderr simlog-drain -q -d "$DB"
	assert_equal "$(jnum rows "${lines[-1]}")" 30000
	sqlite3 "$DB" "SELECT data FROM note ORDER BY id" > got.jsonl
	cmp in.jsonl got.jsonl
	assert_equal "$(simlog_keys)" ""
}

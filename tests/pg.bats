#!/usr/bin/env bats
# simlog-drain --db postgresql://...: the same tables and exactly-once
# hand-off as SQLite, against a real PostgreSQL this file starts itself:
# exact content, typed schemas and dead letters, drains killed at random
# instants, two drains at once, a server restarted mid-drain, and the
# errors a user meets (password, missing database, server down).
#
# Random choices come from SIMLOG_SEED (printed), so a run can be repeated.

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
	export SIMLOG_SCHEMA_PATH="$SIMLOG_TOP/schemas"
	unset SIMLOG_SCHEMA
	pg_newdb
	SEED=${SIMLOG_SEED:-$(( $(date +%s) % 100000 + $$ ))}
	RANDOM=$SEED
	echo "# SIMLOG_SEED=$SEED"
}

teardown() {
	kill_tracked
	stop_all_redis
	# A test that stopped the server leaves it running for the next.
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status > /dev/null 2>&1 ||
		pg_server start
}

@test "pg: one table per type (id bigint, simulation_id text, data jsonb), the records' values exactly" {
	"$SIMGEN" --ids -n 5000 -s 21 > in.jsonl
	push s in.jsonl
	run --separate-stderr simlog-drain -d "$PGURL"
	echo "$stderr"
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(pg_record_tables | tr '\n' ' ')" \
	    "action agent agent_state health_incident resource_state simulation simulation_config step "
	local t
	for t in $(pg_record_tables); do
		assert_equal "$(pq "SELECT string_agg(column_name || ' ' || data_type ||
		    ' ' || is_nullable, ', ' ORDER BY ordinal_position)
		    FROM information_schema.columns WHERE table_name = '$t'")" \
		    "id bigint NO, simulation_id text NO, data jsonb NO"
		assert_equal "$(pq "SELECT count(*) FROM \"$t\"
		    WHERE data->>'type' <> '$t' OR simulation_id <> 's'")" 0
	done
	want s in.jsonl
	exact
	# ids follow the input order within a type.
	assert_equal "$(pq "SELECT string_agg(data->>'step_number', ' ' ORDER BY id) FROM step")" \
	    "$(grep '^{"type":"step"' in.jsonl | grep -o '"step_number":[0-9]*' | cut -d: -f2 | tr '\n' ' ' | sed 's/ $//')"
	# One simlog_batches row per chunk, accounting for every record.
	assert_equal "$(pq "SELECT count(*), sum(records), count(DISTINCT batch),
	    min(length(batch)), max(length(batch)), min(simulation_id)
	    FROM simlog_batches")" "$(( (5000 + 255) / 256 ))|5000|$(( (5000 + 255) / 256 ))|16|16|s"
	# The summary: the same lines as for SQLite, naming the database.
	assert_equal "$(jnum rows "${lines[-1]}")" 5000
	assert_equal "$(jnum batches "${lines[-1]}")" $(( (5000 + 255) / 256 ))
	[[ ${lines[-1]} == *"\"db\":\"$PGURL\""* ]]
	assert_equal "${#lines[@]}" 9
	run --separate-stderr simlog-drain -q -d "$PGURL"
	assert_success
	assert_equal "$(jnum rows "$output")" 0
}

@test "pg: SIMLOG_DB names the database; postgres:// works too" {
	printf '%s\n' '{"type":"a","n":1,"s":"tab\there \\ back\u00e9"}' | simlog-push -s s > /dev/null
	SIMLOG_DB=$PGURL run -0 --separate-stderr simlog-drain -q
	assert_equal "$(pq "SELECT data->>'s' FROM a")" "$(printf 'tab\there \\ back\xc3\xa9')"
	printf '%s\n' '{"type":"a","n":2}' | simlog-push -s s > /dev/null
	run -0 --separate-stderr simlog-drain -q -d "postgres://simlog@/$PGDB?host=$PG_DIR"
	assert_equal "$(pq "SELECT string_agg(data->>'n', ',' ORDER BY id) FROM a")" "1,2"
}

@test "pg: agentfarm tables with PostgreSQL types, keys and values" {
	run -0 simlog-drain -q -d "$PGURL" --schema "$SIMLOG_TOP/tests/agentfarm-before.schema"
	assert_equal "$(pq "SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', '
	    ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'agents'")" \
	    "simulation_id text NO, agent_id text NO, birth_time bigint YES, death_time bigint YES, agent_type text YES, position_x double precision YES, position_y double precision YES, initial_resources double precision YES, starting_health double precision YES, genome_id text YES, generation bigint YES, action_weights jsonb YES"
	assert_equal "$(pq "SELECT string_agg(column_name || ' ' || data_type, ', '
	    ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'agent_states'")" \
	    "id text, simulation_id text, step_number bigint, agent_id text, position_x double precision, position_y double precision, position_z double precision, resource_level double precision, current_health double precision, starting_health double precision, starvation_counter bigint, is_defending boolean, total_reward double precision, age bigint"
	assert_equal "$(pq "SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_index i
	    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
	    WHERE i.indrelid = 'simulation_steps'::regclass AND i.indisprimary")" "simulation_id,step_number"
	cat > in.jsonl <<'EOF'
{"type":"agent","agent_id":"a1","birth_time":0,"death_time":null,"agent_type":"system","position_x":1.5,"position_y":2,"initial_resources":8.25,"starting_health":100,"genome_id":"g\u00e9-1 \"q\"","generation":9007199254740993,"action_weights":{"move":0.5,"eat":[1,2]},"ignored":true}
{"type":"action","action_id":7,"step_number":3,"agent_id":"a1","action_type":"gather","action_target_id":null,"resources_before":8.25,"resources_after":9,"reward":-0.01,"details":{"amount":0.75,"from":"r2"},"module_type":"dqn","module_id":"m12"}
{"type":"agent_state","step_number":3,"agent_id":"a1","position_x":1.5,"is_defending":true,"age":3}
{"type":"agent_state","step_number":4,"agent_id":"a1","is_defending":0}
{"type":"step","step_number":3,"total_agents":40,"agent_type_counts":{"system":16,"control":11},"genetic_diversity":1.0}
{"type":"agent","agent_id":"a1","death_time":42}
{"type":"weather","rain":1}
EOF
	simlog-push -s S1 < in.jsonl > /dev/null
	run -0 --separate-stderr simlog-drain -q -d "$PGURL" --schema "$SIMLOG_TOP/tests/agentfarm-before.schema"
	assert_equal "$(jnum rows "${lines[-1]}")" 7
	assert_equal "$(jnum rejects "${lines[-1]}")" 0
	assert_equal "$(pq "SELECT simulation_id, agent_id, birth_time, death_time, agent_type,
	    position_x, position_y, initial_resources, genome_id, generation,
	    generation - 9007199254740992, action_weights::text FROM agents")" \
	    'S1|a1|0|42|system|1.5|2|8.25|gé-1 "q"|9007199254740993|1|{"eat": [1, 2], "move": 0.5}'
	assert_equal "$(pq "SELECT action_id, simulation_id, step_number, action_type,
	    action_target_id IS NULL, resources_after, reward, details->>'from' FROM agent_actions")" \
	    "7|S1|3|gather|t|9|-0.01|r2"
	assert_equal "$(pq "SELECT id, is_defending, age, position_x FROM agent_states ORDER BY step_number")" \
	    "$(printf '%s\n' 'S1:a1-3|t|3|1.5' 'S1:a1-4|f||')"
	assert_equal "$(pq "SELECT step_number, simulation_id, total_agents,
	    agent_type_counts->>'control', genetic_diversity FROM simulation_steps")" "3|S1|40|11|1"
	# Types the schema does not name keep the default mapping.
	assert_equal "$(pq "SELECT data->>'rain' FROM weather")" 1
	assert_equal "$(simlog_keys)" ""
}

@test "pg: simgen's records into the agentfarm tables, as many rows as in SQLite" {
	"$SIMGEN" --ids -n 20000 -s 7 > in.jsonl
	push run7 in.jsonl
	run -0 --separate-stderr simlog-drain -q -d "$PGURL" --schema agentfarm
	push run7 in.jsonl
	run -0 --separate-stderr simlog-drain -q -d "$BATS_TEST_TMPDIR/lite.db" --schema agentfarm
	local t
	for t in agents agent_actions health_incidents agent_states simulation_steps resource_states; do
		assert_equal "$t $(pq "SELECT count(*) FROM $t")" \
		    "$t $(sqlite3 lite.db "SELECT count(*) FROM $t")"
	done
	assert_equal "$(pq "SELECT count(*) FROM agents WHERE death_time IS NOT NULL")" \
	    "$(sqlite3 lite.db "SELECT count(*) FROM agents WHERE death_time IS NOT NULL")"
	assert_equal "$(pq "SELECT count(*) FROM agent_states
	    WHERE id = simulation_id || ':' || agent_id || '-' || step_number")" \
	    "$(grep -c '^{"type":"agent_state"' in.jsonl)"
	# The same values: sums over numeric columns agree to the last digit.
	assert_equal "$(pq "SELECT sum(action_id), round(sum(reward)::numeric, 6), count(details) FROM agent_actions")" \
	    "$(sqlite3 lite.db "SELECT sum(action_id), printf('%.6f', sum(reward)), count(details) FROM agent_actions")"
	assert_equal "$(pq "SELECT count(*) FROM simlog_rejects")" 0
}

@test "pg: dead letters have the reasons SQLite gives; what fits lands" {
	{ echo strict; cat "$SIMLOG_TOP/tests/agentfarm-before.schema"; } > strict.schema
	cat > in.jsonl <<'EOF'
{"type":"action","action_id":1,"step_number":"3","agent_id":"a1","action_type":"move"}
{"type":"action","action_id":2,"step_number":3,"action_type":"move"}
{"type":"action","action_id":3,"step_number":3,"agent_id":"a1","action_type":"move"}
{"type":"action","action_id":3,"step_number":4,"agent_id":"a2","action_type":"eat"}
{"type":"weather","rain":1}
{"type":"action","action_id":5,"step_number":3,"agent_id":"a1","agent_id":"a2","action_type":"move"}
{"type":"step","step_number":1,"total_agents":2.5}
{"type":"step","step_number":1,"total_agents":2}
{"type":"step","step_number":1,"total_agents":3}
{"type":"agent_state","step_number":1,"agent_id":"a1","is_defending":"yes"}
{"type":"agent_state","step_number":2,"agent_id":"a1","is_defending":2}
{"type":"agent_state","step_number":3,"agent_id":"a1","is_defending":false}
{"type":"agent_state","agent_id":"a1"}
{"type":"action","action_id":9223372036854775808,"step_number":1,"agent_id":"a1","action_type":"move"}
{"type":"action","action_id":6,"step_number":1.0,"agent_id":"a1","action_type":"move"}
{"type":"agent","agent_id":7}
{"type":"agent","agent_id":"a9","action_weights":[1,2],"position_x":"1.5"}
{"type":"weather","rain":2}
{"type":"action","action_id":9223372036854775807,"step_number":1,"agent_id":"a1","action_type":"eat"}
{"type":"health_incident","step_number":1,"agent_id":"a1"}
EOF
	simlog-push -s S1 < in.jsonl > /dev/null
	run -0 --separate-stderr simlog-drain -q -d "$PGURL" --schema ./strict.schema
	assert_equal "$(pq "SELECT simulation_id || ' ' || type || ' ' || error FROM simlog_rejects" | sort)" \
	    "$(sort <<'EOF'
S1 action column step_number: expected an integer, got a string
S1 action NOT NULL constraint failed: agent_actions.agent_id
S1 action UNIQUE constraint failed: agent_actions.action_id
S1 weather record type weather is not in the strict schema
S1 action column agent_id: field appears twice
S1 step column total_agents: expected an integer, got a number
S1 step UNIQUE constraint failed: simulation_steps.step_number, simulation_steps.simulation_id
S1 agent_state column is_defending: expected true or false, got a string
S1 agent_state column is_defending: expected true or false, got a number
S1 agent_state column id: needs column step_number, which is missing
S1 action column action_id: integer out of 64-bit range
S1 action column step_number: expected an integer, got a number
S1 agent column agent_id: expected a string, got a number
S1 agent column position_x: expected a number, got a string
S1 weather record type weather is not in the strict schema
S1 health_incident NOT NULL constraint failed: health_incidents.cause
EOF
)"
	# Each kept exactly as pushed.
	assert_equal "$(pq "SELECT data FROM simlog_rejects" | sort)" \
	    "$(sed -n '1p;2p;4p;5p;6p;7p;9p;10p;11p;13p;14p;15p;16p;17p;18p;20p' in.jsonl | sort)"
	assert_equal "$(pq "SELECT count(*) FROM simlog_rejects
	    WHERE abs(drained_at - extract(epoch FROM now())) < 600")" 16
	assert_equal "$(pq "SELECT action_id, step_number, agent_id FROM agent_actions ORDER BY action_id")" \
	    "$(printf '%s\n' '3|3|a1' '9223372036854775807|1|a1')"
	assert_equal "$(pq "SELECT step_number, total_agents FROM simulation_steps")" "1|2"
	assert_equal "$(pq "SELECT id, is_defending FROM agent_states")" "S1:a1-3|f"
	assert_equal "$(pq "SELECT count(*) FROM agents") $(pq "SELECT count(*) FROM health_incidents")" "0 0"
	assert_equal "$(jnum rows "${lines[-1]}")" 4
	assert_equal "$(jnum rejects "${lines[-1]}")" 16
	local type n l
	for type in action step agent_state agent weather health_incident; do
		n=$(grep -c "^{\"type\":\"$type\"" in.jsonl)
		l=$(printf '%s\n' "${lines[@]}" | grep "\"type\":\"$type\"")
		assert_equal "$type $(( $(jnum rows "$l") + $(jnum rejects "$l") ))" "$type $n"
	done
	# Said on stderr, with -q too.
	[[ $stderr == *"simlog-drain: 16 records went to simlog_rejects in $PGURL; the first: action: column step_number: expected an integer, got a string"* ]]
	assert_equal "$(simlog_keys)" ""
}

@test "pg: on duplicate ignore and update, composite keys, unique, computed keys, defaults" {
	cat > k.schema <<'EOF'
table cells for cell
    on duplicate ignore
    x  INTEGER  not null
    y  INTEGER  not null
    v  TEXT
    key x, y
table people for person
    on duplicate update
    id     TEXT     primary key
    name   TEXT
    score  INTEGER  default 0
    team   TEXT     default "it's"
    ok     BOOLEAN  default true
table things for thing
    key_id  TEXT  primary key  = "{sim}/{name}#{n}"
    sim     TEXT  sim
    name    TEXT
    n       INTEGER
    r       REAL  default 2.5
table nums for num
    id  INTEGER  primary key
    v   TEXT
EOF
	printf '%s\n' '{"type":"cell","x":1,"y":1,"v":"first"}' \
	    '{"type":"cell","x":1,"y":2,"v":"other"}' \
	    '{"type":"cell","x":1,"y":1,"v":"second"}' \
	    '{"type":"person","id":"p1","name":"ann","score":5,"team":"red"}' \
	    '{"type":"person","id":"p2","name":"bob"}' \
	    '{"type":"person","id":"p1","name":"ann b"}' \
	    '{"type":"person","id":"p2","score":null,"ok":false}' \
	    '{"type":"thing","name":"a","n":1}' \
	    '{"type":"thing","name":"a","n":1}' \
	    '{"type":"thing","name":"b"}' \
	    '{"type":"num","id":5,"v":"given"}' \
	    '{"type":"num","v":"numbered"}' | simlog-push -s S9 > /dev/null
	run -0 --separate-stderr simlog-drain -q -d "$PGURL" --schema ./k.schema
	assert_equal "$(pq "SELECT x, y, v FROM cells ORDER BY x, y")" "$(printf '%s\n' '1|1|first' '1|2|other')"
	assert_equal "$(pq "SELECT id, name, score, team, ok FROM people ORDER BY id")" \
	    "$(printf '%s\n' "p1|ann b|5|red|t" "p2|bob|0|it's|f")"
	assert_equal "$(pq "SELECT key_id, sim, r FROM things")" "S9/a#1|S9|2.5"
	assert_equal "$(pq "SELECT error FROM simlog_rejects ORDER BY error")" "$(printf '%s\n' \
	    'UNIQUE constraint failed: things.key_id' 'column key_id: needs column n, which is missing')"
	assert_equal "$(pq "SELECT count(*), count(DISTINCT id), min(v) FROM nums")" "2|2|given"
	assert_equal "$(pq "SELECT column_default FROM information_schema.columns
	    WHERE table_name = 'people' AND column_name = 'team'")" "'it''s'::text"
	# A later drain updates what an earlier one stored.
	printf '%s\n' '{"type":"person","id":"p2","name":"bea"}' | simlog-push -s S9 > /dev/null
	run -0 simlog-drain -q -d "$PGURL" --schema ./k.schema
	assert_equal "$(pq "SELECT name, score, ok FROM people WHERE id = 'p2'")" "bea|0|f"
}

@test "pg: schema evolution adds columns with ALTER TABLE; key columns cannot be added (78)" {
	cp "$SIMLOG_TOP/tests/agentfarm-before.schema" my.schema
	printf '%s\n' '{"type":"resource_state","id":1,"amount":2.5}' | simlog-push -s S1 > /dev/null
	run -0 simlog-drain -q -d "$PGURL" --schema ./my.schema
	cat >> my.schema <<'EOF'
    quality  TEXT
    weight   REAL     not null  default 1.5
    checked  BOOLEAN  default true
    extra    JSON
EOF
	printf '%s\n' '{"type":"resource_state","id":2,"amount":3,"quality":"low","weight":4,"extra":{"a":1}}' \
	    '{"type":"resource_state","id":3,"amount":1,"checked":false}' | simlog-push -s S1 > /dev/null
	run -0 simlog-drain -q -d "$PGURL" --schema ./my.schema
	assert_equal "$(pq "SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable || ' ' ||
	    coalesce(column_default, '-'), ', ' ORDER BY ordinal_position) FROM information_schema.columns
	    WHERE table_name = 'resource_states' AND ordinal_position > 7")" \
	    "quality text YES -, weight double precision NO '1.5'::double precision, checked boolean YES true, extra jsonb YES -"
	assert_equal "$(pq "SELECT id, amount, coalesce(quality, '-'), weight, checked, coalesce(extra->>'a', '-')
	    FROM resource_states ORDER BY id")" \
	    "$(printf '%s\n' '1|2.5|-|1.5|t|-' '2|3|low|4|t|1' '3|1|-|1.5|f|-')"
	cp my.schema key.schema
	echo '    serial  TEXT  unique' >> key.schema
	run -78 --separate-stderr simlog-drain -q -d "$PGURL" --schema ./key.schema
	[[ $stderr == *"./key.schema"*"table resource_states: cannot add key column serial to an existing table"* ]]
	assert_equal "$(pq "SELECT count(*) FROM information_schema.columns WHERE table_name = 'resource_states'")" 11
}

@test "pg: drains SIGKILLed at 15 random instants, then a final drain: every record once" {
	local n=150000 round=0 killed=0 more=0 d st
	"$SIMGEN" --ids -n "$n" -s 101 > in.jsonl
	push s in.jsonl
	want s in.jsonl
	# Kill at random instants; a drain that finishes before its kill
	# gets more records to drain, until 15 were killed.
	while [ "$killed" -lt 15 ] && [ "$round" -lt 200 ]; do
		round=$((round + 1))
		d=0.$(printf %02d $(( 3 + RANDOM % 30 )))
		st=0
		timeout -s KILL "$d" simlog-drain -q -d "$PGURL" --batch 2000 \
		    > "d$round.out" 2> "d$round.err" || st=$?
		echo "# round $round: SIGKILL after $d s: status $st," \
		    "$(pq 'SELECT count(*) FROM simlog_batches') chunks in"
		[ "$st" -eq 137 ] || [ "$st" -eq 0 ] || { cat "d$round.err"; false; }
		if [ "$st" -eq 137 ]; then
			killed=$((killed + 1))
		else
			more=$((more + 1))
			"$SIMGEN" --ids -n 50000 -s $((300 + more)) > "more$more.jsonl"
			push s "more$more.jsonl"
			want s "more$more.jsonl"
		fi
	done
	assert_equal "$killed" 15
	run --separate-stderr simlog-drain -q -d "$PGURL" --batch 2000
	echo "$stderr"
	assert_success
	exact
	assert_equal "$(pq 'SELECT sum(records) FROM simlog_batches')" "$(wc -l < want)"
}

@test "pg: two drains at once on one backlog, and on two simulations: every record once" {
	"$SIMGEN" --ids -n 60000 -s 102 > a.jsonl
	"$SIMGEN" --ids -n 40000 -s 103 > b.jsonl
	push s a.jsonl
	push t b.jsonl
	want s a.jsonl
	want t b.jsonl
	simlog-drain -q -d "$PGURL" -s none > /dev/null
	local pa pb pc sa=0 sb=0 sc=0
	simlog-drain -q -d "$PGURL" --batch 2000 > a.out 2> a.err 3>&- &
	pa=$!
	simlog-drain -q -d "$PGURL" --batch 2000 > b.out 2> b.err 3>&- &
	pb=$!
	simlog-drain -q -d "$PGURL" --batch 3000 -s t > c.out 2> c.err 3>&- &
	pc=$!
	track "$pa" "$pb" "$pc"
	wait "$pa" || sa=$?
	wait "$pb" || sb=$?
	wait "$pc" || sc=$?
	cat a.err b.err c.err
	assert_equal "$sa $sb $sc" "0 0 0"
	local ra rb rc
	ra=$(jnum rows "$(tail -n 1 a.out)")
	rb=$(jnum rows "$(tail -n 1 b.out)")
	rc=$(jnum rows "$(tail -n 1 c.out)")
	echo "# rows: $ra + $rb + $rc"
	assert_equal $((ra + rb + rc)) 100000
	exact
}

@test "pg: a chunk delivered twice is stored once: in its own page, in a later transaction, after its original was drained" {
	# Four entries and two copies of the first, all in one page of the
	# one transaction.
	"$SIMGEN" --ids -n 1000 -s 105 > one.jsonl
	push s one.jsonl
	want s one.jsonl
	replay_entry s 1
	replay_entry s 1
	assert_equal "$(rcli XLEN 'simlog:{s}:q')" 6
	run --separate-stderr simlog-drain -q -d "$PGURL"
	echo "$stderr"
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 1000
	assert_equal "$(jnum batches "${lines[-1]}")" 4
	assert_equal "$(jnum duplicate_batches "${lines[-1]}")" 2
	assert_equal "$(jnum duplicate_rows "${lines[-1]}")" 512
	exact
	# A hundred entries and copies of the 1st and the 50th at the end:
	# in the one transaction, pages after their originals' ...
	local batch
	for batch in 100000 1; do
		"$SIMGEN" --ids -n 10000 -s $((106 + batch % 2)) > "in$batch.jsonl"
		simlog-push -s s --batch 100 < "in$batch.jsonl" > /dev/null
		want s "in$batch.jsonl"
		replay_entry s 1
		replay_entry s 50
		run --separate-stderr simlog-drain -q -d "$PGURL" --batch "$batch"
		echo "$stderr"
		assert_success
		assert_equal "$(jnum rows "${lines[-1]}")" 10000
		assert_equal "$(jnum duplicate_batches "${lines[-1]}")" 2
		assert_equal "$(jnum duplicate_rows "${lines[-1]}")" 200
		# ... and with --batch 1 (a transaction per page of 16
		# entries), after their originals were committed.
	done
	assert_equal "$(pq 'SELECT count(*), sum(records) FROM simlog_batches')" "204|21000"
	exact
	# A copy arriving after its original was drained and deleted.
	"$SIMGEN" --ids -n 300 -s 108 > more.jsonl
	push s more.jsonl
	want s more.jsonl
	drain_then_replay s "$PGURL"
	run --separate-stderr simlog-drain -q -d "$PGURL"
	assert_success
	assert_equal "$(jnum rows "${lines[-1]}")" 0
	assert_equal "$(jnum duplicate_batches "${lines[-1]}")" 1
	assert_equal "$(jnum duplicate_rows "${lines[-1]}")" 256
	exact
}

@test "pg: a batch id found missing but recorded by the commit all the same: rolled back and retried, 75, nothing stored; then every record once" {
	"$SIMGEN" --ids -n 1000 -s 109 > in.jsonl
	push s in.jsonl
	want s in.jsonl
	# The first chunk's batch id, in hex, from its header (bytes 9 to 24).
	local id
	id=$(rcli EVAL "local c = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][2][2]
		local h = '' for i = 9, 24 do h = h .. string.format('%02x', c:byte(i)) end
		return h" 1 'simlog:{s}:q')
	assert_equal "${#id}" 32
	# A trigger records it inside the drain's own transaction, after the
	# drain looked it up, as a drain that did not take the simulation's
	# lock could.
	simlog-drain -q -d "$PGURL" -s none > /dev/null
	pq "CREATE TABLE action (id bigserial PRIMARY KEY, simulation_id text NOT NULL, data jsonb NOT NULL);
	    CREATE FUNCTION sneak() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
	        INSERT INTO simlog_batches VALUES (decode('$id', 'hex'), 's', 1, 0)
	        ON CONFLICT DO NOTHING; RETURN NULL; END \$\$;
	    CREATE TRIGGER sneak AFTER INSERT ON action FOR EACH STATEMENT
	        EXECUTE FUNCTION sneak()"
	SIMLOG_RETRIES=2 SIMLOG_RETRY_BASE=0.01 run -75 --separate-stderr \
	    simlog-drain -q -d "$PGURL"
	echo "$stderr"
	[[ $stderr == *"recording batches: another drain recorded one of them meanwhile; rolled back, to be drained again; retry 2 in "* ]]
	assert_equal "$(pg_rows) $(pq 'SELECT count(*) FROM simlog_batches')" "0 0"
	assert_equal "$(rcli XLEN 'simlog:{s}:q')" 4
	pq "DROP TRIGGER sneak ON action"
	run -0 --separate-stderr simlog-drain -q -d "$PGURL"
	assert_equal "$(jnum duplicate_batches "${lines[-1]}")" 0
	assert_equal "$(pq 'SELECT count(*), sum(records) FROM simlog_batches')" "4|1000"
	exact
}

@test "pg: the server restarted mid-drain: retried, nothing lost or doubled" {
	"$SIMGEN" --ids -n 200000 -s 104 > in.jsonl
	push s in.jsonl
	want s in.jsonl
	# A typed drain beside it, through a staging table (on duplicate
	# ignore, keys numbered), which the new connection makes again.
	cat > ign.schema <<'EOF'
table evs for ev
    on duplicate ignore
    id  INTEGER  primary key
    n   INTEGER  not null
    unique n
EOF
	local i
	for i in $(seq 1 60000); do
		printf '{"type":"ev","n":%d}\n{"type":"ev","n":%d}\n' "$i" "$i"
	done > ev.jsonl
	simlog-push -s u < ev.jsonl > /dev/null
	simlog-drain -q -d "$PGURL" -s none --schema ./ign.schema > /dev/null
	local pid pid2 st=0 st2=0
	SIMLOG_RETRIES=30 SIMLOG_RETRY_CAP=0.5 \
	    simlog-drain -q -d "$PGURL" -s s --batch 2000 > d.out 2> d.err 3>&- &
	pid=$!
	SIMLOG_RETRIES=30 SIMLOG_RETRY_CAP=0.5 \
	    simlog-drain -q -d "$PGURL" -s u --batch 2000 --schema ./ign.schema \
	    > u.out 2> u.err 3>&- &
	pid2=$!
	track "$pid" "$pid2"
	wait_until "rows to land" batches_over 20
	pg_server restart -m fast
	wait "$pid" || st=$?
	wait "$pid2" || st2=$?
	cat d.err u.err
	assert_equal "$st $st2" "0 0"
	grep -q 'retry' d.err
	[ "$(jnum retries "$(tail -n 1 d.out)")" -gt 0 ]
	assert_equal "$(pq "SELECT count(*), count(DISTINCT n), count(DISTINCT id), min(n), max(n) FROM evs")" \
	    "60000|60000|60000|1|60000"
	assert_equal "$(jnum rows "$(tail -n 1 u.out)")" 120000
	pq "DROP TABLE evs"
	exact
}

@test "pg: the server gone for longer than the retries: 75, nothing lost; a later drain finishes" {
	"$SIMGEN" --ids -n 100000 -s 105 > in.jsonl
	push s in.jsonl
	want s in.jsonl
	simlog-drain -q -d "$PGURL" -s none > /dev/null
	local pid st=0
	SIMLOG_RETRIES=2 SIMLOG_RETRY_CAP=0.2 \
	    simlog-drain -q -d "$PGURL" --batch 2000 > d.out 2> d.err 3>&- &
	pid=$!
	track "$pid"
	wait_until "rows to land" batches_over 5
	pg_server stop -m immediate
	wait "$pid" || st=$?
	cat d.err
	assert_equal "$st" 75
	grep -q "$PGURL" d.err
	# Starting with the server down: retried, then 75.
	SIMLOG_RETRIES=1 run --separate-stderr simlog-drain -q -d "$PGURL"
	assert_equal "$status" 75
	[[ $stderr == *"$PGURL: cannot connect: "* ]]
	pg_server start
	run --separate-stderr simlog-drain -q -d "$PGURL"
	echo "$stderr"
	assert_success
	exact
}

@test "pg: a refused password is 77, a missing database 66 naming it; passwords never shown" {
	printf '%s\n' '{"type":"a","n":1}' | simlog-push -s s > /dev/null
	local url="postgresql://pwuser@/$PGDB?host=$PG_DIR"
	PGPASSWORD=wrong run --separate-stderr simlog-drain -q -d "$url"
	echo "$stderr"
	assert_equal "$status" 77
	[[ $stderr == *"$url: cannot connect: password authentication failed for user \"pwuser\""* ]]
	run --separate-stderr simlog-drain -q -d "$url"
	assert_equal "$status" 77
	[[ $stderr == *"no password supplied"* ]]
	# A password in --db: a warning, and *** in every message and line.
	run --separate-stderr simlog-drain -q -d "postgresql://pwuser:wrong-pw@/$PGDB?host=$PG_DIR"
	assert_equal "$status" 77
	[[ $stderr == *"a password in --db is visible to other users"* ]]
	[[ $stderr == *"postgresql://pwuser:***@/$PGDB?host=$PG_DIR: cannot connect"* ]]
	[[ $stderr != *wrong-pw* ]]
	run --separate-stderr simlog-drain -q -d "postgresql:///$PGDB?host=$PG_DIR&user=pwuser&password=wrong-pw"
	assert_equal "$status" 77
	[[ $stderr == *"password=***"* ]]
	[[ $stderr != *wrong-pw* ]]
	PGPASSWORD=s3cret-pw run -0 --separate-stderr simlog-drain -q -d "$url"
	assert_equal "$stderr" ""
	assert_equal "$(pq "SELECT data->>'n' FROM a")" 1
	# The environment is the place for a URL with a password: no warning.
	printf '%s\n' '{"type":"a","n":2}' | simlog-push -s s > /dev/null
	SIMLOG_DB="postgresql://pwuser:s3cret-pw@/$PGDB?host=$PG_DIR" run -0 --separate-stderr simlog-drain -q
	assert_equal "$stderr" ""
	[[ $output == *"\"db\":\"postgresql://pwuser:***@/$PGDB?host=$PG_DIR\""* ]]
	[[ $output != *s3cret-pw* ]]
	# No such database.
	run --separate-stderr simlog-drain -q -d "postgresql://simlog@/nosuchdb?host=$PG_DIR"
	assert_equal "$status" 66
	[[ $stderr == *"database \"nosuchdb\" does not exist"* ]]
	assert_equal "$(rcli XLEN 'simlog:{s}:q')" 0
}

@test "pg: --follow drains records as they arrive; SIGTERM ends it with status 0" {
	"$SIMGEN" --ids -n 3000 -s 106 > a.jsonl
	"$SIMGEN" --ids -n 2000 -s 107 > b.jsonl
	push s a.jsonl
	want s a.jsonl
	local pid st=0
	simlog-drain -q -f -d "$PGURL" > f.out 2> f.err 3>&- &
	pid=$!
	track "$pid"
	wait_until "the first records" batches_over $(( (3000 + 255) / 256 - 1 ))
	push t b.jsonl
	want t b.jsonl
	wait_until "the later records" batches_over $(( (3000 + 255) / 256 + (2000 + 255) / 256 - 1 ))
	kill -TERM "$pid"
	wait "$pid" || st=$?
	cat f.err
	assert_equal "$st" 0
	assert_equal "$(jnum rows "$(tail -n 1 f.out)")" 5000
	assert_equal "$(jnum sims "$(tail -n 1 f.out)")" 2
	exact
}

@test "pg: records planted in Redis that are not JSON or not UTF-8 are dead letters PostgreSQL takes (base64), with and without a schema" {
	python3 - <<'PY'
import struct, zlib
def chunk(recs, bid):
    raw = b''.join(t + b'\t' + j + b'\n' for t, j in recs)
    return (b'SLC\x01\0\0\0\0' + bid +
            struct.pack('<III', len(recs), len(raw), zlib.crc32(raw)) + raw)
bad = [(b'action', b'not json'), (b'action', b'{"k":"\xff"}'),
       (b'action', b'{"k":1}\x00'),
       (b'action', b'{"action_id":1,"step_number":1,"agent_id":"a1","action_type":"\xfe"}'),
       (b'action', b'{"action_id":2,"step_number":1,"agent_id":"a1","action_type":"move"}')]
open('plain.bin', 'wb').write(chunk(bad, b'PGPOISON00000001'))
open('typed.bin', 'wb').write(chunk(bad, b'PGPOISON00000002'))
PY
	rcli -x XADD 'simlog:{p}:q' '*' c < plain.bin > /dev/null
	run -0 --separate-stderr simlog-drain -q -d "$PGURL"
	echo "$stderr"
	assert_equal "$(jnum rejects "${lines[-1]}")" 4
	assert_equal "$(pq "SELECT data->>'action_id', data->>'action_type' FROM action")" '2|move'
	assert_equal "$(pq "SELECT data FROM simlog_rejects ORDER BY id")" \
	    "not json
$(printf '{"k":"\xff"}' | base64 -w0)
$(printf '{"k":1}\0' | base64 -w0)
$(printf '{"action_id":1,"step_number":1,"agent_id":"a1","action_type":"\xfe"}' | base64 -w0)"
	assert_equal "$(pq "SELECT count(*) FROM simlog_rejects WHERE error LIKE '%kept in base64%'")" 3
	# Through a schema: the same three are dead letters, the good one lands.
	pq "DELETE FROM simlog_rejects" > /dev/null
	cat > acts.schema <<'SCHEMA'
table acts for action
    sim          TEXT     sim
    action_id    INTEGER
    action_type  TEXT
SCHEMA
	rcli -x XADD 'simlog:{t}:q' '*' c < typed.bin > /dev/null
	run -0 --separate-stderr simlog-drain -q -d "$PGURL" --schema ./acts.schema
	echo "$stderr"
	assert_equal "$(jnum rejects "${lines[-1]}")" 4
	assert_equal "$(pq "SELECT action_id, action_type FROM acts")" '2|move'
	assert_equal "$(pq "SELECT count(*) FROM simlog_rejects WHERE error LIKE '%kept in base64%'")" 3
	assert_equal "$(simlog_keys)" ""
}

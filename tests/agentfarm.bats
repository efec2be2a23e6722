#!/usr/bin/env bats
# --schema agentfarm is AgentFarm's database (github.com/Dooders/AgentFarm,
# commit db2f8f2, farm/database/models.py): its nine tables column for
# column, its 16 indexes and foreign keys, in SQLite and PostgreSQL; the
# rows its DataLogger writes land with 0 dead letters and give the same
# answers to its read paths as a database written directly
# (agentfarm_fixture.py); parents that come after their children; and
# databases drained with the schema's earlier layout.

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
	DB=$BATS_TEST_TMPDIR/af.db
	FIXTURE=$SIMLOG_TOP/tests/agentfarm_fixture.py
	# Debian's, which has psycopg2 (a python3 earlier on PATH may not).
	PY=/usr/bin/python3
	[ -x "$PY" ] || PY=python3
	BEFORE=$SIMLOG_TOP/tests/agentfarm-before.schema
}

teardown() {
	kill_tracked
	stop_all_redis
}

q() {
	sqlite3 "$DB" "$1"
}

# total NAME: NAME from the totals line (the last line) of drain.out.
total() {
	jnum "$1" "$(tail -n 1 drain.out)"
}

# The columns of AgentFarm's models at db2f8f2, written from models.py:
# table|column|type|primary key|not null|references.  Integer > REAL: the
# model says Integer, the schema keeps the float AgentFarm writes there.
# String > ID: ids that come as strings and integers alike.
MODELS='experiments|experiment_id|String|1|1|
experiments|name|String|0|1|
experiments|description|String|0|0|
experiments|hypothesis|String|0|0|
experiments|creation_date|DateTime|0|0|
experiments|last_updated|DateTime|0|0|
experiments|status|String|0|0|
experiments|tags|JSON|0|0|
experiments|variables|JSON|0|0|
experiments|results_summary|JSON|0|0|
experiments|notes|String|0|0|
simulations|simulation_id|String|1|1|
simulations|experiment_id|String|0|0|experiments.experiment_id
simulations|start_time|DateTime|0|0|
simulations|end_time|DateTime|0|0|
simulations|status|String|0|0|
simulations|parameters|JSON|0|1|
simulations|results_summary|JSON|0|0|
simulations|simulation_db_path|String|0|1|
simulation_config|simulation_id|String|0|0|simulations.simulation_id
simulation_config|config_id|Integer|1|1|
simulation_config|timestamp|Integer|0|1|
simulation_config|config_data|String|0|1|
agents|simulation_id|String|0|0|simulations.simulation_id
agents|agent_id|String|1|1|
agents|birth_time|Integer|0|0|
agents|death_time|Integer|0|0|
agents|agent_type|String|0|0|
agents|position_x|Float|0|0|
agents|position_y|Float|0|0|
agents|initial_resources|Float|0|0|
agents|starting_health|Float|0|0|
agents|genome_id|String|0|0|
agents|generation|Integer|0|0|
agents|action_weights|JSON|0|0|
agent_states|id|String|1|1|
agent_states|simulation_id|String|0|0|simulations.simulation_id
agent_states|step_number|Integer|0|0|
agent_states|agent_id|String|0|0|agents.agent_id
agent_states|position_x|Float|0|0|
agent_states|position_y|Float|0|0|
agent_states|position_z|Float|0|0|
agent_states|resource_level|Float|0|0|
agent_states|current_health|Float|0|0|
agent_states|starting_health|Float|0|0|
agent_states|starvation_counter|Integer|0|0|
agent_states|is_defending|Boolean|0|0|
agent_states|total_reward|Float|0|0|
agent_states|age|Integer|0|0|
resource_states|id|Integer|1|1|
resource_states|simulation_id|String|0|0|simulations.simulation_id
resource_states|step_number|Integer|0|0|
resource_states|resource_id|String>ID|0|0|
resource_states|amount|Float|0|0|
resource_states|position_x|Float|0|0|
resource_states|position_y|Float|0|0|
simulation_steps|step_number|Integer|1|1|
simulation_steps|simulation_id|String|2|1|simulations.simulation_id
simulation_steps|total_agents|Integer|0|0|
simulation_steps|agent_type_counts|JSON|0|0|
simulation_steps|total_resources|Float|0|0|
simulation_steps|average_agent_resources|Float|0|0|
simulation_steps|births|Integer|0|0|
simulation_steps|deaths|Integer|0|0|
simulation_steps|current_max_generation|Integer|0|0|
simulation_steps|resource_efficiency|Float|0|0|
simulation_steps|resource_distribution_entropy|Float|0|0|
simulation_steps|average_agent_health|Float|0|0|
simulation_steps|average_agent_age|Integer>REAL|0|0|
simulation_steps|average_reward|Float|0|0|
simulation_steps|genetic_diversity|Float|0|0|
simulation_steps|dominant_genome_ratio|Float|0|0|
simulation_steps|resources_consumed|Float|0|0|
agent_actions|action_id|Integer|1|1|
agent_actions|simulation_id|String|0|0|simulations.simulation_id
agent_actions|step_number|Integer|0|1|
agent_actions|agent_id|String|0|1|agents.agent_id
agent_actions|action_type|String|0|1|
agent_actions|action_target_id|String>ID|0|0|
agent_actions|reward|Float|0|0|
agent_actions|details|String|0|0|
agent_actions|module_type|String|0|0|
agent_actions|module_id|String|0|0|
health_incidents|incident_id|Integer|1|1|
health_incidents|simulation_id|String|0|0|simulations.simulation_id
health_incidents|step_number|Integer|0|1|
health_incidents|agent_id|String|0|1|agents.agent_id
health_incidents|health_before|Float|0|0|
health_incidents|health_after|Float|0|0|
health_incidents|cause|String|0|1|
health_incidents|details|String|0|0|'

# AgentFarm's 16 indexes: table|index|columns.
INDEXES='agent_actions|idx_agent_actions_action_type|action_type
agent_actions|idx_agent_actions_agent_id|agent_id
agent_actions|idx_agent_actions_module_type|module_type
agent_actions|idx_agent_actions_step_number|step_number
agent_states|idx_agent_states_agent_id|agent_id
agent_states|idx_agent_states_agent_step|agent_id,step_number
agent_states|idx_agent_states_step_number|step_number
agents|idx_agents_agent_type|agent_type
agents|idx_agents_birth_time|birth_time
agents|idx_agents_death_time|death_time
health_incidents|idx_health_incidents_agent_id|agent_id
health_incidents|idx_health_incidents_step_number|step_number
resource_states|idx_resource_states_resource_id|resource_id
resource_states|idx_resource_states_step_number|step_number
simulation_steps|idx_simulation_steps_simulation_id|simulation_id
simulation_steps|idx_simulation_steps_step_number|step_number'

# The schema type a model type maps to (simlog-schema(5)).
schema_type() {
	case $1 in
	*'>'*) echo "${1#*>}" ;;
	String) echo TEXT ;;
	Float) echo REAL ;;
	Integer) echo INTEGER ;;
	Boolean) echo BOOLEAN ;;
	JSON) echo JSON ;;
	DateTime) echo DATETIME ;;
	esac
}

@test "agentfarm: the schema is AgentFarm's models, column for column: types, keys, NOT NULL, foreign keys" {
	# What the schema file declares: table|column|TYPE.
	awk '$1 == "table" { t = $2; next }
	    t != "" && NF >= 2 && $1 !~ /^(#|key|index|unique|on|rest)$/ {
		print t "|" $1 "|" $2 }' "$SIMLOG_TOP/schemas/agentfarm.schema" > declared
	while IFS='|' read -r t c type pk nn ref; do
		echo "$t|$c|$(schema_type "$type")"
	done <<< "$MODELS" > wanted
	run -0 diff wanted declared
	# What the database then holds: names, keys, NOT NULL, references.
	run -0 simlog-drain -q -d "$DB" --schema agentfarm
	# Laid out for its indexes (simlog-drain(1)).
	assert_equal "$(q 'PRAGMA page_size')" 16384
	local t
	for t in $(cut -d'|' -f1 <<< "$MODELS" | uniq); do
		q "SELECT '$t|' || i.name || '|' || i.pk || '|' ||
		    (i.\"notnull\" OR i.pk > 0) || '|' || coalesce(f.\"table\" || '.' || f.\"to\", '')
		    FROM pragma_table_info('$t') i
		    LEFT JOIN pragma_foreign_key_list('$t') f ON f.\"from\" = i.name
		    ORDER BY i.cid"
	done > made
	cut -d'|' -f1,2,4- <<< "$MODELS" > wanted
	run -0 diff wanted made
	# Every table and nothing else (but simlog's own).
	assert_equal "$(record_tables "$DB" | tr '\n' ' ')" \
	    "agent_actions agent_states agents experiments health_incidents resource_states simulation_config simulation_steps simulations "
	# With AgentFarm's source at hand, the table above is checked against
	# models.py itself (AGENTFARM_SRC: a checkout of db2f8f2).
	if [ -n "${AGENTFARM_SRC:-}" ]; then
		"$PY" - "$AGENTFARM_SRC/farm/database/models.py" > from_models <<'EOF'
import re, sys
table = None
for line in open(sys.argv[1]):
    m = re.match(r'\s+__tablename__ = "(\w+)"', line)
    if m:
        table = m.group(1)
    m = re.match(r'\s+(\w+) = Column\(\s*(\w+)', line)
    if table and m:
        print("%s|%s|%s" % (table, m.group(1), m.group(2)))
EOF
		grep -v '^learning_experiences|' from_models | sort > a
		sed 's/|\([A-Za-z]*\)>[A-Za-z]*|/|\1|/' <<< "$MODELS" |
		    cut -d'|' -f1-3 | sort > b
		run -0 diff a b
	fi
}

@test "agentfarm: AgentFarm's 16 indexes and its foreign keys, in SQLite and PostgreSQL" {
	run -0 simlog-drain -q -d "$DB" --schema agentfarm
	assert_equal "$(q "SELECT m.tbl_name || '|' || m.name || '|' ||
	    (SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_index_info(m.name) ORDER BY seqno))
	    FROM sqlite_master m WHERE m.type = 'index' AND m.name LIKE 'idx_%'
	    ORDER BY m.tbl_name, m.name")" "$INDEXES"
	pg_newdb
	run -0 simlog-drain -q -d "$PGURL" --schema agentfarm
	assert_equal "$(pq "SELECT t.relname || '|' || i.relname || '|' ||
	    (SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
	     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum)
	    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
	    WHERE i.relname LIKE 'idx_%' ORDER BY t.relname, i.relname")" "$INDEXES"
	assert_equal "$(pq "SELECT count(*) FROM information_schema.table_constraints
	    WHERE constraint_type = 'FOREIGN KEY'")" "$(grep -c '|[a-z_]*\.[a-z_]*$' <<< "$MODELS")"
	# PostgreSQL's types: jsonb, timestamptz, boolean, text for ids.
	assert_equal "$(pq "SELECT table_name || '.' || column_name || ' ' || data_type
	    FROM information_schema.columns WHERE (table_name, column_name) IN
	    (('simulations', 'start_time'), ('simulations', 'parameters'),
	     ('agent_states', 'is_defending'), ('resource_states', 'resource_id'),
	     ('agent_actions', 'details'), ('experiments', 'tags'))
	    ORDER BY 1")" "$(printf '%s\n' \
	    'agent_actions.details text' \
	    'agent_states.is_defending boolean' \
	    'experiments.tags jsonb' \
	    'resource_states.resource_id text' \
	    'simulations.parameters jsonb' \
	    'simulations.start_time timestamp with time zone')"
}

# fixture_run DB: the fixture's records pushed as AgentFarm's records come
# (each with its simulation_id) and drained into DB.
fixture_run() {
	"$PY" "$FIXTURE" records 5 > in.jsonl
	simlog-push -q --sim-field simulation_id -s sim_Kq7x2 < in.jsonl
	simlog-drain -q -d "$1" --schema agentfarm > drain.out
}

@test "agentfarm: the rows AgentFarm writes land with 0 dead letters, and its read paths answer as on a database written directly (SQLite)" {
	run -0 --separate-stderr fixture_run "$DB"
	assert_equal "$stderr" ""
	assert_equal "$(total rows)" "$(wc -l < in.jsonl)"
	assert_equal "$(total rejects)" 0
	assert_equal "$(total waiting)" 0
	echo "# $(wc -l < in.jsonl) records: $(total rejects) dead letters"
	# String and integer resource ids both came, and both landed as text.
	[ "$(grep -c '"resource_id":"resource_' in.jsonl)" -gt 0 ]
	[ "$(grep -c '"resource_id":[0-9]' in.jsonl)" -gt 0 ]
	assert_equal "$(q "SELECT count(*) FROM resource_states WHERE typeof(resource_id) <> 'text'")" 0
	run -0 "$PY" "$FIXTURE" direct sqlite direct.db 5
	"$PY" "$FIXTURE" reads sqlite "$DB" > drained.txt
	"$PY" "$FIXTURE" reads sqlite direct.db > direct.txt
	run -0 diff direct.txt drained.txt
	# The answers are not empty.
	grep -q '^missing tables: \[\]$' drained.txt
	grep -q '^actions with states: [1-9][0-9]* rows$' drained.txt
	grep -q '^health incidents: [1-9][0-9]* rows$' drained.txt
	grep -A1 '^configuration: 1 rows$' drained.txt | grep -q '"width": 120'
	run -0 simlog_keys
	assert_output ""
}

@test "agentfarm: the same in PostgreSQL, and the same answers as SQLite" {
	pg_newdb
	local drained=$PGDB
	run -0 --separate-stderr fixture_run "$PGURL"
	assert_equal "$(total rejects)" 0
	assert_equal "$(total waiting)" 0
	assert_equal "$(total rows)" "$(wc -l < in.jsonl)"
	pg_newdb
	run -0 "$PY" "$FIXTURE" direct pg "host=$PG_DIR dbname=$PGDB user=simlog" 5
	"$PY" "$FIXTURE" reads pg "host=$PG_DIR dbname=$drained user=simlog" > drained.txt
	"$PY" "$FIXTURE" reads pg "host=$PG_DIR dbname=$PGDB user=simlog" > direct.txt
	run -0 diff direct.txt drained.txt
	# And SQLite's drained database answers alike.
	fixture_run "$DB"
	"$PY" "$FIXTURE" reads sqlite "$DB" > lite.txt
	run -0 diff lite.txt drained.txt
}

@test "agentfarm: known records land with their values and SQLite types; ids as text, times as UTC text" {
	cat > in.jsonl <<'EOF'
{"type":"experiment","experiment_id":"e1","name":"base","creation_date":"2025-10-01T10:00:00.5+02:00","tags":["x"]}
{"type":"simulation","simulation_id":"S1","experiment_id":"e1","start_time":1759309200,"status":"running","parameters":{"seed":1},"simulation_db_path":"s.db"}
{"type":"agent","agent_id":"a1","birth_time":0,"agent_type":"system","position":[1.5,2],"initial_resources":8.25,"starting_health":100,"genome_id":"g\u00e9-1 \"q\"","generation":9007199254740993,"action_weights":{"move":0.5,"eat":[1,2]}}
{"type":"agent","agent_id":"a2","birth_time":1}
{"type":"action","step_number":3,"agent_id":"a1","action_type":"gather","action_target_id":17,"reward":-0.01,"details":"{\"amount\": 0.75}","module_type":"dqn","module_id":"m12"}
{"type":"action","step_number":3,"agent_id":"a1","action_type":"attack","action_target_id":"a2","reward":0.5}
{"type":"health_incident","step_number":3,"agent_id":"a2","health_before":100,"health_after":97.5,"cause":"attack","details":"{\"attacker_id\": \"a1\"}"}
{"type":"agent_state","simulation_id":"S1","step_number":3,"agent_id":"a1","position_x":1.5,"position_y":2.25,"resource_level":9,"current_health":97.5,"starting_health":100,"starvation_counter":0,"is_defending":true,"total_reward":-0.01,"age":3}
{"type":"step","step_number":3,"total_agents":40,"agent_type_counts":{"system":16},"average_agent_age":12.5}
{"type":"resource_state","step_number":3,"resource_id":"resource_ab12","amount":23.52,"position_x":44.44,"position_y":44}
{"type":"resource_state","step_number":4,"resource_id":120,"amount":1,"position_x":1,"position_y":2}
{"type":"simulation_config","timestamp":1759309205,"config_data":"{\"width\": 100}"}
EOF
	simlog-push -q -s S1 < in.jsonl
	run -0 simlog-drain -q -d "$DB" --schema agentfarm
	assert_equal "$(q "SELECT count(*) FROM simlog_rejects")" 0
	assert_equal "$(q "SELECT quote(creation_date), quote(tags) FROM experiments")" \
	    "'2025-10-01 08:00:00.500000'|'[\"x\"]'"
	assert_equal "$(q "SELECT simulation_id, experiment_id, start_time, typeof(start_time), parameters FROM simulations")" \
	    'S1|e1|2025-10-01 09:00:00.000000|text|{"seed":1}'
	assert_equal "$(q "SELECT simulation_id, position_x, position_y, typeof(position_y), genome_id,
	    generation - 9007199254740992, json_extract(action_weights, '\$.eat[1]') FROM agents WHERE agent_id = 'a1'")" \
	    'S1|1.5|2.0|real|gé-1 "q"|1|2'
	assert_equal "$(q "SELECT quote(action_target_id), quote(details) FROM agent_actions ORDER BY action_id")" \
	    "$(printf '%s\n' "'17'|'{\"amount\": 0.75}'" "'a2'|NULL")"
	assert_equal "$(q "SELECT json_extract(details, '\$.attacker_id') FROM health_incidents")" a1
	assert_equal "$(q "SELECT id, is_defending, typeof(is_defending) FROM agent_states")" "S1:a1-3|1|integer"
	assert_equal "$(q "SELECT average_agent_age, json_extract(agent_type_counts, '\$.system') FROM simulation_steps")" "12.5|16"
	assert_equal "$(q "SELECT quote(resource_id) FROM resource_states ORDER BY id")" \
	    "$(printf '%s\n' "'resource_ab12'" "'120'")"
	assert_equal "$(q "SELECT simulation_id, timestamp, config_data FROM simulation_config")" \
	    'S1|1759309205|{"width": 100}'
	# What Python reads back: datetime.fromisoformat takes the text.
	run -0 "$PY" -c "import datetime, sqlite3
print(datetime.datetime.fromisoformat(sqlite3.connect('$DB').execute(
    'SELECT creation_date FROM experiments').fetchone()[0]))"
	assert_output "2025-10-01 08:00:00.500000"
}

@test "agentfarm: a time that is not ISO 8601 or epoch seconds is a dead letter naming the field" {
	printf '%s\n' '{"type":"simulation","parameters":{},"start_time":"yesterday"}' \
	    '{"type":"simulation","parameters":{},"end_time":"2025-02-30T00:00:00"}' \
	    '{"type":"simulation","parameters":{},"end_time":true}' \
	    '{"type":"simulation","parameters":{},"start_time":"2025-02-28 23:59:59.1234567Z"}' |
	    simlog-push -q -s S1
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm
	assert_equal "$(q "SELECT error FROM simlog_rejects ORDER BY id")" "$(printf '%s\n' \
	    'column start_time: expected an ISO 8601 date-time or epoch seconds, got "yesterday"' \
	    'column end_time: expected an ISO 8601 date-time or epoch seconds, got "2025-02-30T00:00:00"' \
	    'column end_time: expected an ISO 8601 date-time or epoch seconds, got true')"
	assert_equal "$(q "SELECT start_time FROM simulations")" "2025-02-28 23:59:59.123456"
}

@test "agentfarm: a later agent record (its death) updates the agent's row; simulation records update theirs" {
	printf '%s\n' '{"type":"simulation","parameters":{"n":1},"simulation_db_path":"x.db","status":"running"}' \
	    '{"type":"agent","agent_id":"a1","birth_time":0,"agent_type":"system","position":[1.5,0],"genome_id":"g1","generation":2,"action_weights":{"move":1}}' \
	    '{"type":"agent","agent_id":"a2","birth_time":3,"agent_type":"control"}' | simlog-push -q -s S1
	run -0 simlog-drain -q -d "$DB" --schema agentfarm
	printf '%s\n' '{"type":"agent","agent_id":"a1","death_time":42}' \
	    '{"type":"simulation","status":"completed","end_time":"2025-10-01T10:00:00Z"}' | simlog-push -q -s S1
	run -0 simlog-drain -q -d "$DB" --schema agentfarm
	assert_equal "$(q "SELECT simulation_id, agent_id, birth_time, death_time,
	    agent_type, position_x, genome_id, generation, action_weights
	    FROM agents ORDER BY agent_id")" \
	    "$(printf '%s\n' 'S1|a1|0|42|system|1.5|g1|2|{"move":1}' 'S1|a2|3||control||||')"
	assert_equal "$(q "SELECT status, end_time, parameters, simulation_db_path FROM simulations")" \
	    'completed|2025-10-01 10:00:00.000000|{"n":1}|x.db'
	assert_equal "$(q "SELECT count(*) FROM simlog_rejects")" 0
}

@test "agentfarm: on duplicate update never changes another simulation's row: a dead letter naming the owner (SQLite and PostgreSQL)" {
	for s in A B; do
		printf '%s\n' '{"type":"simulation","parameters":{}}' \
		    "{\"type\":\"agent\",\"agent_id\":\"a1\",\"birth_time\":0,\"agent_type\":\"from$s\"}" |
		    simlog-push -q -s "sim$s"
	done
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm -s simA
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm -s simB
	assert_equal "$(q "SELECT simulation_id, agent_type FROM agents")" "simA|fromA"
	assert_equal "$(q "SELECT simulation_id || ' ' || error FROM simlog_rejects")" \
	    "simB agents: the row of this key belongs to simulation 'simA' (on duplicate update changes only the record's own simulation's rows)"
	pg_newdb
	for s in A B; do
		printf '%s\n' '{"type":"simulation","parameters":{}}' \
		    "{\"type\":\"agent\",\"agent_id\":\"a1\",\"birth_time\":0,\"agent_type\":\"from$s\"}" |
		    simlog-push -q -s "sim$s"
	done
	run -0 --separate-stderr simlog-drain -q -d "$PGURL" --schema agentfarm -s simA
	run -0 --separate-stderr simlog-drain -q -d "$PGURL" --schema agentfarm -s simB
	assert_equal "$(pq "SELECT simulation_id, agent_type FROM agents")" "simA|fromA"
	assert_equal "$(pq "SELECT simulation_id || ' ' || error FROM simlog_rejects")" \
	    "simB agents: the row of this key belongs to simulation 'simA' (on duplicate update changes only the record's own simulation's rows)"
}

@test "agentfarm: NOT NULL columns make records without them dead letters" {
	printf '%s\n' '{"type":"simulation","parameters":{}}' '{"type":"agent","agent_id":"a1"}' \
	    '{"type":"action","agent_id":"a1","action_type":"move"}' \
	    '{"type":"action","step_number":1,"action_type":"move"}' \
	    '{"type":"action","step_number":1,"agent_id":"a1"}' \
	    '{"type":"health_incident","agent_id":"a1","cause":"attack"}' \
	    '{"type":"health_incident","step_number":1,"agent_id":"a1"}' \
	    '{"type":"step","total_agents":1}' \
	    '{"type":"simulation_config","config_data":"{}"}' \
	    '{"type":"experiment","experiment_id":"e1"}' \
	    '{"type":"agent","agent_type":"system"}' \
	    '{"type":"action","step_number":1,"agent_id":"a1","action_type":"move"}' | simlog-push -q -s S1
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm
	# Tables others refer to (experiments, agents) take a page's records
	# first (simlog-drain(1)): their dead letters come first.
	assert_equal "$(q "SELECT error FROM simlog_rejects ORDER BY id")" "$(cat <<'EOF'
NOT NULL constraint failed: experiments.name
NOT NULL constraint failed: agents.agent_id
NOT NULL constraint failed: agent_actions.step_number
NOT NULL constraint failed: agent_actions.agent_id
NOT NULL constraint failed: agent_actions.action_type
NOT NULL constraint failed: health_incidents.step_number
NOT NULL constraint failed: health_incidents.cause
NOT NULL constraint failed: simulation_steps.step_number
NOT NULL constraint failed: simulation_config.timestamp
EOF
)"
	assert_equal "$(q "SELECT action_id, action_type FROM agent_actions")" "1|move"
}

@test "agentfarm: simgen's AgentFarm-shaped records all land, none rejected, none waiting" {
	"$SIMGEN" -n 20000 -s 7 --sim run7 > in.jsonl
	simlog-push -q -s run7 < in.jsonl
	simlog-drain -q -d "$DB" --schema agentfarm > drain.out
	local type table n
	while read -r type table; do
		n=$(grep -c "^{\"type\":\"$type\"" in.jsonl)
		[ "$n" -gt 0 ]
		if [ "$type" = agent ]; then
			n=$(grep '^{"type":"agent"' in.jsonl | grep -o '"agent_id":"[^"]*"' | sort -u | wc -l)
		fi
		assert_equal "$type $(rows "$DB" "$table")" "$type $n"
	done <<'EOF'
simulation simulations
simulation_config simulation_config
agent agents
action agent_actions
health_incident health_incidents
agent_state agent_states
step simulation_steps
resource_state resource_states
EOF
	assert_equal "$(total rows)" 20000
	assert_equal "$(total rejects)" 0
	assert_equal "$(total waiting)" 0
	assert_equal "$(q "SELECT count(*) FROM agents WHERE death_time IS NOT NULL")" \
	    "$(grep -c '^{"type":"agent",.*"death_time"' in.jsonl)"
	assert_equal "$(q "SELECT count(*) FROM agent_states
	    WHERE id = simulation_id || ':' || agent_id || '-' || step_number")" \
	    "$(grep -c '^{"type":"agent_state"' in.jsonl)"
}

# --- parents that come after their children ---------------------------------

@test "foreign keys: a child before its parent in one chunk, or a chunk earlier, lands with no dead letter" {
	printf '%s\n' '{"type":"agent_state","step_number":0,"agent_id":"a1"}' \
	    '{"type":"action","step_number":0,"agent_id":"a1","action_type":"move"}' \
	    '{"type":"agent","agent_id":"a1","birth_time":0}' \
	    '{"type":"simulation","parameters":{}}' > one.jsonl
	simlog-push -q -s S1 < one.jsonl
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm
	assert_equal "$(q "SELECT count(*) FROM agent_states") $(q "SELECT count(*) FROM agent_actions")" "1 1"
	assert_equal "$(jnum waiting "${lines[-1]}") $(jnum rejects "${lines[-1]}")" "0 0"
	# The parents 5 chunks later, in the same drain.
	{
		for i in $(seq 1 10); do
			echo "{\"type\":\"agent_state\",\"step_number\":$i,\"agent_id\":\"b1\"}"
		done
		echo '{"type":"agent","agent_id":"b1","birth_time":1}'
		echo '{"type":"simulation","parameters":{}}'
	} > two.jsonl
	simlog-push -q -s S2 --batch 2 < two.jsonl
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm --batch 2
	assert_equal "$(q "SELECT count(*) FROM agent_states WHERE simulation_id = 'S2'")" 10
	assert_equal "$(jnum waiting "${lines[-1]}") $(jnum rejects "${lines[-1]}") $(jnum rows "${lines[-1]}")" "0 0 12"
	assert_equal "$(q "SELECT count(*) FROM simlog_waiting")" 0
	assert_equal "$stderr" ""
}

@test "foreign keys: a parent that comes in a later drain: its children wait, said, then land once (SQLite and PostgreSQL)" {
	for db in "$DB" pg; do
		if [ "$db" = pg ]; then
			pg_newdb
			db=$PGURL
		fi
		printf '%s\n' '{"type":"simulation","parameters":{}}' \
		    '{"type":"agent_state","step_number":0,"agent_id":"late"}' \
		    '{"type":"agent_state","step_number":1,"agent_id":"late"}' \
		    '{"type":"action","step_number":1,"agent_id":"late","action_type":"move"}' |
		    simlog-push -q -s S1
		run -0 --separate-stderr simlog-drain -q -d "$db" --schema agentfarm
		assert_equal "$(jnum waiting "${lines[-1]}") $(jnum rows "${lines[-1]}") $(jnum rejects "${lines[-1]}")" "3 1 0"
		assert_equal "$stderr" "simlog-drain: 3 rows wait in simlog_waiting in $db for a parent row not there yet, and go in when it comes; the first: agent_state: waits for agents(agent_id) = 'late', not there yet"
		# Drained from Redis all the same: nothing is held there.
		assert_equal "$(simlog_keys)" ""
		# Another drain with nothing new: they still wait, nothing doubles.
		run -0 --separate-stderr simlog-drain -q -d "$db" --schema agentfarm
		assert_equal "$(jnum resumed "${lines[-1]}")" 0
		printf '%s\n' '{"type":"agent","agent_id":"late","birth_time":0}' | simlog-push -q -s S1
		run -0 --separate-stderr simlog-drain -q -d "$db" --schema agentfarm
		assert_equal "$(jnum rows "${lines[-1]}") $(jnum resumed "${lines[-1]}") $(jnum waiting "${lines[-1]}")" "1 3 0"
		assert_equal "$stderr" ""
		if [ "$db" = "$DB" ]; then
			assert_equal "$(q "SELECT id FROM agent_states ORDER BY step_number")" \
			    "$(printf '%s\n' S1:late-0 S1:late-1)"
			assert_equal "$(q "SELECT count(*) FROM agent_actions") $(q "SELECT count(*) FROM simlog_waiting")" "1 0"
		else
			assert_equal "$(pq "SELECT id FROM agent_states ORDER BY step_number")" \
			    "$(printf '%s\n' S1:late-0 S1:late-1)"
			assert_equal "$(pq "SELECT count(*) FROM agent_actions") $(pq "SELECT count(*) FROM simlog_waiting")" "1 0"
		fi
	done
}

@test "foreign keys: a waiting row refused once its parent comes (its key taken) counts as a dead letter, not as resumed (SQLite and PostgreSQL)" {
	pg_newdb
	local db
	for db in "$DB" "$PGURL"; do
		# Two states of one agent and step: one id, agent_states' key.
		printf '%s\n' '{"type":"simulation","parameters":{}}' \
		    '{"type":"agent_state","step_number":0,"agent_id":"late"}' \
		    '{"type":"agent_state","step_number":0,"agent_id":"late"}' |
		    simlog-push -q -s S1
		run -0 simlog-drain -q -d "$db" --schema agentfarm
		assert_equal "$(jnum waiting "${lines[-1]}")" 2
		echo '{"type":"agent","agent_id":"late","birth_time":0}' | simlog-push -q -s S1
		run -0 --separate-stderr simlog-drain -q -d "$db" --schema agentfarm
		assert_equal "$(jnum rows "${lines[-1]}") $(jnum resumed "${lines[-1]}") $(jnum rejects "${lines[-1]}") $(jnum waiting "${lines[-1]}")" "1 1 1 0"
		[[ $stderr == *"1 record of type agent_state"*"simlog_rejects"* ]]
	done
	assert_equal "$(q "SELECT count(*) FROM agent_states") $(q "SELECT count(*) FROM simlog_rejects") $(q "SELECT count(*) FROM simlog_waiting")" "1 1 0"
	assert_equal "$(pq "SELECT count(*) FROM agent_states") $(pq "SELECT count(*) FROM simlog_rejects") $(pq "SELECT count(*) FROM simlog_waiting")" "1 1 0"
}

@test "foreign keys: a drain killed after its children waited loses none and doubles none" {
	printf '%s\n' '{"type":"simulation","parameters":{}}' > in.jsonl
	for i in $(seq 1 200); do
		echo "{\"type\":\"agent_state\",\"step_number\":$i,\"agent_id\":\"k1\"}"
	done >> in.jsonl
	simlog-push -q -s S1 --batch 10 < in.jsonl
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm --batch 10
	assert_equal "$(q "SELECT count(*) FROM simlog_waiting")" 200
	# The parent, then a drain killed at once and another to the end.
	printf '%s\n' '{"type":"agent","agent_id":"k1","birth_time":0}' | simlog-push -q -s S1
	simlog-drain -q -d "$DB" --schema agentfarm > /dev/null 2>&1 &
	local pid=$!
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" || true
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm
	assert_equal "$(q "SELECT count(*), count(DISTINCT id) FROM agent_states")" "200|200"
	assert_equal "$(q "SELECT count(*) FROM simlog_waiting") $(q "SELECT count(*) FROM agents")" "0 1"
}

# states AGENT FROM TO: agent_state records of AGENT for steps FROM..TO.
states() {
	local i
	for ((i = $2; i <= $3; i++)); do
		echo "{\"type\":\"agent_state\",\"step_number\":$i,\"agent_id\":\"$1\"}"
	done
}

# pg_is N SQL: whether SQL's answer is N (for poll).
pg_is() {
	[ "$(pq "$2" 2>/dev/null)" = "$1" ]
}

# orphans: rows of PostgreSQL's agent_states whose agent is not there.
orphans() {
	pq "SELECT count(*) FROM agent_states s
	    WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.agent_id = s.agent_id)"
}

# rows_role ROLE: the tables made (a drain of the simulation record), and
# ROLE, which may log in, with rows only on them (as simlog-drain(1),
# Privileges, grants them).
rows_role() {
	echo '{"type":"simulation","parameters":{}}' | simlog-push -q -s S0
	run -0 simlog-drain -q -d "$PGURL" --schema agentfarm
	pq "CREATE ROLE $1 LOGIN;
	    GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO $1;
	    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO $1;
	    GRANT DELETE ON simlog_batches, simlog_waiting TO $1"
}

# gone_under_follow URL: a --follow drain (into URL) stores agent a1 and 600
# of its states; a1 and its states are deleted behind its back, and 600
# more states pushed; then a1 again.  Leaves follow.err, and the counts of
# agent_states, simlog_waiting and simlog_rejects after the deletion in
# after.txt.
gone_under_follow() {
	{
		echo '{"type":"simulation","parameters":{}}'
		echo '{"type":"agent","agent_id":"a1","birth_time":0}'
		states a1 0 599
	} | simlog-push -q -s S1
	simlog-drain --follow -q -d "$1" --schema agentfarm > follow.out 2> follow.err &
	local pid=$!
	track "$pid"
	poll "600 states" pg_is 600 "SELECT count(*) FROM agent_states"
	# The drain knows a1 is there; it goes, with its rows.
	pq "DELETE FROM agent_states; DELETE FROM agents"
	states a1 600 1199 | simlog-push -q -s S1
	poll "the 600 handled" pg_is 600 "SELECT (SELECT count(*) FROM agent_states)
	    + (SELECT count(*) FROM simlog_waiting) + (SELECT count(*) FROM simlog_rejects)"
	echo "$(pq "SELECT count(*) FROM agent_states") $(pq "SELECT count(*) FROM simlog_waiting")" \
	    "$(pq "SELECT count(*) FROM simlog_rejects") $(orphans)" > after.txt
	echo '{"type":"agent","agent_id":"a1","birth_time":0}' | simlog-push -q -s S1
	poll "a1 again" pg_is 1 "SELECT count(*) FROM agents"
	poll "nothing waiting" pg_is 0 "SELECT count(*) FROM simlog_waiting"
	kill -TERM "$pid"
	wait "$pid" || true
}

@test "foreign keys (PostgreSQL): checked by the drain itself: a parent deleted under a --follow drain that had seen it leaves no row without it; its rows wait, then land once" {
	pg_newdb
	gone_under_follow "$PGURL"
	# Checked at the commit: a1 is gone, the transaction is rolled back,
	# and tried again the rows wait for a1 instead of landing without it.
	assert_equal "$(cat after.txt)" "0 600 0 0"
	[[ $(cat follow.err) == *"agents(agent_id): 'a1', which rows of this transaction refer to, is gone; rolled back, to be drained again"* ]]
	assert_equal "$(pq "SELECT min(step_number), max(step_number), count(DISTINCT id) FROM agent_states")" "600|1199|600"
	assert_equal "$(pq "SELECT count(*) FROM simlog_waiting") $(pq "SELECT count(*) FROM simlog_rejects") $(orphans)" "0 0 0"
	assert_equal "$(simlog_keys)" ""
}

@test "foreign keys (PostgreSQL): a role granted SET ON PARAMETER session_replication_role checks them itself; one that may not lock every table leaves them to the server" {
	pg_newdb
	local role="fs${BATS_TEST_NUMBER}_$RANDOM"
	rows_role "$role"
	pq "GRANT SET ON PARAMETER session_replication_role TO $role"
	local url="postgresql://$role@/$PGDB?host=$PG_DIR"
	gone_under_follow "$url"
	# As the superuser does: the rows wait for a1, none without it.
	assert_equal "$(cat after.txt)" "0 600 0 0"
	grep -q "is gone; rolled back" follow.err
	assert_equal "$(pq "SELECT count(*) FROM agent_states") $(orphans)" "600 0"
	# LOCK TABLE ... ROW EXCLUSIVE wants INSERT, UPDATE, DELETE or
	# TRUNCATE on every table, experiments too (no records for it here):
	# without it the server checks each row, and a row whose parent went
	# behind the drain's back is a dead letter with the server's reason.
	pq "DELETE FROM agent_states; DELETE FROM agents; DELETE FROM simlog_rejects;
	    REVOKE INSERT, UPDATE ON experiments FROM $role"
	gone_under_follow "$url"
	assert_equal "$(cat after.txt)" "0 0 600 0"
	assert_equal "$(pq "SELECT DISTINCT error FROM simlog_rejects")" \
	    'insert or update on table "agent_states" violates foreign key constraint "agent_states_agent_id_fkey"'
	if grep -q "is gone" follow.err; then false; fi
}

@test "foreign keys (PostgreSQL): typed drains checking their own keys, SIGKILLed at 10 random instants and the server restarted under one: every row once, none without its parent" {
	"$SIMGEN" --ids -n 150000 -s 31 > in.jsonl
	# The reference: one drain, undisturbed.
	pg_newdb
	local ref=$PGDB
	simlog-push -q -s S1 < in.jsonl
	run -0 simlog-drain -q -d "$PGURL" --schema agentfarm --batch 2000
	pg_newdb
	simlog-push -q -s S1 < in.jsonl
	local round=0 killed=0 st d
	while [ "$killed" -lt 10 ] && [ "$round" -lt 100 ] && [ -n "$(simlog_keys)" ]; do
		round=$((round + 1))
		d=0.$(printf %02d $(( 2 + RANDOM % 20 )))
		st=0
		timeout -s KILL "$d" simlog-drain -q -d "$PGURL" --schema agentfarm \
		    --batch 2000 > "d$round.out" 2> "d$round.err" || st=$?
		[ "$st" -eq 137 ] || [ "$st" -eq 0 ] || { cat "d$round.err"; false; }
		[ "$st" -ne 137 ] || killed=$((killed + 1))
	done
	echo "# $killed drains killed in $round rounds"
	[ "$killed" -ge 3 ]
	# The rest, with the server restarted under the drain.
	local pid st2=0
	SIMLOG_RETRIES=30 SIMLOG_RETRY_CAP=0.5 simlog-drain -q -d "$PGURL" \
	    --schema agentfarm --batch 2000 > last.out 2> last.err 3>&- &
	pid=$!
	track "$pid"
	pg_server restart -m fast
	wait "$pid" || st2=$?
	cat last.err
	assert_equal "$st2" 0
	assert_equal "$(simlog_keys)" ""
	# Every table holds the reference's rows, the numbers a sequence gave
	# left out (those of rolled-back transactions are not given again).
	local t rows
	for t in agents agent_states agent_actions health_incidents resource_states simulation_steps simulations simulation_config; do
		rows="SELECT count(*) || ' ' || md5(string_agg(r, '|' ORDER BY r)) FROM
		    (SELECT (to_jsonb(x) - 'action_id' - 'incident_id' - 'config_id'
		    - CASE WHEN '$t' = 'resource_states' THEN 'id' ELSE '' END)::text AS r FROM $t x) AS y"
		assert_equal "$t $(pq "$rows")" "$t $(PGDB=$ref pq "$rows")"
	done
	assert_equal "$(pq "SELECT count(*) FROM simlog_rejects") $(pq "SELECT count(*) FROM simlog_waiting") $(orphans)" "0 0 0"
	assert_equal "$(pq "SELECT count(*) FROM agent_actions a WHERE NOT EXISTS (SELECT 1 FROM agents g WHERE g.agent_id = a.agent_id)")" 0
}

@test "schema (PostgreSQL): making a table waits for a lock past --busy-timeout: retried as the policy says, then every record drains" {
	pg_newdb
	echo '{"type":"simulation","parameters":{}}' | simlog-push -q -s S1
	run -0 simlog-drain -q -d "$PGURL" --schema agentfarm
	# A table to make again, whose foreign key wants a lock on agents,
	# which another session holds for 1.5 s.
	pq "DROP TABLE agent_states"
	psql -X -q -h "$PG_DIR" -U simlog -d "$PGDB" -c "BEGIN" \
	    -c "LOCK TABLE agents IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(1.5)" \
	    -c "COMMIT" > /dev/null &
	local holder=$!
	track "$holder"
	poll "the lock held" pg_is 1 "SELECT count(*) FROM pg_locks WHERE
	    relation = 'agents'::regclass AND mode = 'AccessExclusiveLock' AND granted"
	printf '%s\n' '{"type":"agent","agent_id":"a1","birth_time":0}' \
	    '{"type":"agent_state","step_number":0,"agent_id":"a1"}' | simlog-push -q -s S1
	SIMLOG_RETRIES=20 SIMLOG_RETRY_CAP=0.3 run -0 --separate-stderr \
	    simlog-drain -q -d "$PGURL" --schema agentfarm --busy-timeout 0.2
	wait "$holder"
	echo "$stderr"
	[[ $stderr == *"simlog-drain: $PGURL: $SIMLOG_SCHEMA_PATH/agentfarm.schema: agent_states: canceling statement due to lock timeout; retry 1 in"* ]]
	assert_equal "$(jnum rows "${lines[-1]}") $(pq "SELECT count(*) FROM agent_states")" "2 1"
}

@test "foreign keys (PostgreSQL): a table with a trigger of its own keeps the server's checks: the trigger fires for every row" {
	pg_newdb
	echo '{"type":"simulation","parameters":{}}' | simlog-push -q -s S1
	run -0 simlog-drain -q -d "$PGURL" --schema agentfarm
	pq "CREATE TABLE seen (n bigint);
	    INSERT INTO seen VALUES (0);
	    CREATE FUNCTION count_row() RETURNS trigger LANGUAGE plpgsql AS
	        'BEGIN UPDATE seen SET n = n + 1; RETURN NEW; END';
	    CREATE TRIGGER counted AFTER INSERT ON agent_states
	        FOR EACH ROW EXECUTE FUNCTION count_row()"
	{
		echo '{"type":"agent","agent_id":"a1","birth_time":0}'
		states a1 0 599
		states nobody 0 0
	} | simlog-push -q -s S1
	run -0 --separate-stderr simlog-drain -q -d "$PGURL" --schema agentfarm
	assert_equal "$(pq "SELECT n FROM seen") $(pq "SELECT count(*) FROM agent_states")" "600 600"
	assert_equal "$(jnum waiting "${lines[-1]}") $(orphans)" "1 0"
	# An ENABLE REPLICA trigger, which replica mode would fire: the same.
	pq "ALTER TABLE agent_states DISABLE TRIGGER counted;
	    CREATE TRIGGER replica_only AFTER INSERT ON agent_states
	        FOR EACH ROW EXECUTE FUNCTION count_row();
	    ALTER TABLE agent_states ENABLE REPLICA TRIGGER replica_only"
	states a1 600 899 | simlog-push -q -s S1
	run -0 simlog-drain -q -d "$PGURL" --schema agentfarm
	assert_equal "$(pq "SELECT n FROM seen") $(pq "SELECT count(*) FROM agent_states")" "600 900"
}

@test "foreign keys (PostgreSQL): a role that may not set session_replication_role drains the same, the server checking" {
	pg_newdb
	local role="fk${BATS_TEST_NUMBER}_$RANDOM"
	rows_role "$role"
	{
		echo '{"type":"simulation","parameters":{}}'
		echo '{"type":"agent","agent_id":"a1","birth_time":0}'
		states a1 0 599
		states nobody 0 0
	} | simlog-push -q -s S1
	run -0 --separate-stderr simlog-drain -q -d "postgresql://$role@/$PGDB?host=$PG_DIR" --schema agentfarm
	assert_equal "$(jnum rows "${lines[-1]}") $(jnum waiting "${lines[-1]}") $(jnum rejects "${lines[-1]}")" "602 1 0"
	assert_equal "$(pq "SELECT count(*) FROM agent_states") $(orphans)" "600 0"
}

# --- databases drained with the earlier layout ---------------------------------

@test "old databases: one drained with the earlier agentfarm layout stops the drain with 78, naming table and column; the documented migration keeps every row" {
	"$SIMGEN" -n 3000 -s 4 > old.jsonl
	# The records as that layout took them: positions in two fields,
	# integer resource ids, text targets; details, as AgentFarm writes
	# them, went into JSON columns as JSON strings.
	"$PY" -c 'import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r["type"].startswith("simulation") or isinstance(r.get("resource_id"), str):
        continue
    if "position" in r:
        r["position_x"], r["position_y"] = r.pop("position")
    if isinstance(r.get("action_target_id"), int):
        r["action_target_id"] = str(r["action_target_id"])
    print(json.dumps(r))' < old.jsonl > old2.jsonl
	simlog-push -q -s old1 < old2.jsonl
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema "$BEFORE"
	assert_equal "$(jnum rejects "${lines[-1]}")" 0
	local before_rows; before_rows=$(jnum rows "${lines[-1]}")
	[ "$(q "SELECT count(*) FROM agent_actions WHERE details LIKE '\"%'")" -gt 0 ]
	printf '%s\n' '{"type":"simulation","parameters":{}}' '{"type":"agent","agent_id":"n1"}' | simlog-push -q -s new1
	run -78 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm
	assert_equal "$stderr" "simlog-drain: $DB: $SIMLOG_TOP/schemas/agentfarm.schema: table resource_states, column resource_id: the database has INTEGER, the schema wants ID; nothing was drained. SQLite cannot change a column's type: rebuild the table with the schema's types and copy its rows (see simlog-schema(5), OLD DATABASES), or drain into a new database"
	# Nothing was drained; the records wait in Redis.
	[ -n "$(simlog_keys)" ]
	assert_equal "$(q "SELECT count(*) FROM sqlite_master WHERE name = 'simulations'")" 0
	# The migration simlog-schema(5) gives, as it is written there.
	sed -n '/^BEGIN;$/,/^COMMIT;$/p' "$SIMLOG_TOP/man/simlog-schema.5" |
	    sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\e/\\/g' > migrate.sql
	[ "$(wc -l < migrate.sql)" -gt 5 ]
	local total_before; total_before=$(for t in agents agent_actions agent_states health_incidents resource_states simulation_steps; do rows "$DB" $t; done | paste -sd+ | bc)
	run -0 sqlite3 -bail "$DB" < migrate.sql
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm
	assert_equal "$(jnum rejects "${lines[-1]}")" 0
	local total_after; total_after=$(for t in agents agent_actions agent_states health_incidents resource_states simulation_steps; do rows "$DB" $t; done | paste -sd+ | bc)
	# Every old row kept, and the new agent added.
	assert_equal "$total_after" "$((total_before + 1))"
	assert_equal "$before_rows" "$total_before"
	assert_equal "$(q "SELECT count(*) FROM agent_actions WHERE details LIKE '\"%'")" 0
	assert_equal "$(q "SELECT typeof(resource_id), count(*) > 0 FROM resource_states GROUP BY 1")" "text|1"
	assert_equal "$(q "SELECT agent_id FROM agents WHERE simulation_id = 'new1'")" n1
	assert_equal "$(simlog_keys)" ""
}

@test "old databases: JSON details where text is wanted are found too, with the UPDATE that converts them" {
	printf '%s\n' '{"type":"action","step_number":1,"agent_id":"a","action_type":"m","details":"{\"k\": 1}"}' |
	    simlog-push -q -s old1
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema "$BEFORE"
	assert_equal "$(q "SELECT details FROM agent_actions")" '"{\"k\": 1}"'
	q "DROP TABLE resource_states"
	run -78 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm
	[[ $stderr == *"table agent_actions, column details: the database has JSON strings (\"...\" in quotes, as a JSON column keeps them), the schema wants TEXT; nothing was drained. To keep the text they hold: UPDATE \"agent_actions\" SET \"details\" = json_extract(\"details\", '\$') WHERE json_valid(\"details\") AND json_type(\"details\") = 'text'" ]]
	q "UPDATE \"agent_actions\" SET \"details\" = json_extract(\"details\", '\$') WHERE json_valid(\"details\") AND json_type(\"details\") = 'text'"
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema agentfarm
	assert_equal "$(q "SELECT details FROM agent_actions")" '{"k": 1}'
}

@test "old databases: PostgreSQL names the column and the ALTER TABLE that fixes it; after it, every row is kept" {
	pg_newdb
	printf '%s\n' '{"type":"resource_state","id":1,"resource_id":7,"amount":1}' \
	    '{"type":"action","step_number":1,"agent_id":"a","action_type":"m","details":"{\"k\": 1}"}' |
	    simlog-push -q -s old1
	run -0 --separate-stderr simlog-drain -q -d "$PGURL" --schema "$BEFORE"
	run -78 --separate-stderr simlog-drain -q -d "$PGURL" --schema agentfarm
	assert_equal "$stderr" "simlog-drain: $PGURL: $SIMLOG_TOP/schemas/agentfarm.schema: table resource_states, column resource_id: the database has bigint, the schema wants ID; nothing was drained. To change it, keeping its rows: ALTER TABLE \"resource_states\" ALTER COLUMN \"resource_id\" TYPE text USING \"resource_id\"::text"
	pq "ALTER TABLE \"resource_states\" ALTER COLUMN \"resource_id\" TYPE text USING \"resource_id\"::text"
	run -78 --separate-stderr simlog-drain -q -d "$PGURL" --schema agentfarm
	[[ $stderr == *"table agent_actions, column details: the database has jsonb, the schema wants TEXT; nothing was drained. To change it, keeping its rows: ALTER TABLE \"agent_actions\" ALTER COLUMN \"details\" TYPE text USING \"details\" #>> '{}'" ]]
	pq "ALTER TABLE \"agent_actions\" ALTER COLUMN \"details\" TYPE text USING \"details\" #>> '{}'"
	run -78 --separate-stderr simlog-drain -q -d "$PGURL" --schema agentfarm
	[[ $stderr == *"table health_incidents, column details: the database has jsonb"* ]]
	pq "ALTER TABLE \"health_incidents\" ALTER COLUMN \"details\" TYPE text USING \"details\" #>> '{}'"
	printf '%s\n' '{"type":"simulation","parameters":{}}' \
	    '{"type":"resource_state","resource_id":"resource_x","amount":2}' | simlog-push -q -s new1
	run -0 --separate-stderr simlog-drain -q -d "$PGURL" --schema agentfarm
	assert_equal "$(pq "SELECT resource_id FROM resource_states ORDER BY id")" "$(printf '%s\n' 7 resource_x)"
	assert_equal "$(pq "SELECT details FROM agent_actions")" '{"k": 1}'
}

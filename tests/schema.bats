#!/usr/bin/env bats
# simlog-drain --schema (simlog-schema(5)): schema evolution, every kind of
# dead letter and their re-drive, the options of a column and a table (ID,
# DATETIME, paths, indexes, foreign keys, strict fields, the sim column),
# existing tables that cannot take the schema's types, parse errors, and
# where schemas are found.  The agentfarm schema itself: agentfarm.bats.

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	export SIMLOG_SCHEMA_PATH="$SIMLOG_TOP/schemas"
	unset SIMLOG_SCHEMA
	DB=$BATS_TEST_TMPDIR/sim.db
	# The layout the agentfarm schema had before it followed AgentFarm's
	# current models: the mechanisms below are tried on it (the schema
	# itself: agentfarm.bats).
	BEFORE=$SIMLOG_TOP/tests/agentfarm-before.schema
}

teardown() {
	kill_tracked
	stop_all_redis
}

# push SIM [simlog-push options]: the records on stdin into SIM.
push() {
	local sim=$1; shift
	simlog-push -s "$sim" "$@" > push.out
}

# drain [simlog-drain options]: into $DB; summary lines in drain.out.
drain() {
	simlog-drain -q -d "$DB" "$@" > drain.out
}

# q SQL: run SQL on $DB.
q() {
	sqlite3 "$DB" "$1"
}

# columns TABLE: "name|type|notnull|pk|default" for each column, in order.
columns() {
	q "SELECT name, type, \"notnull\", pk, coalesce(dflt_value, '')
	    FROM pragma_table_info('$1') ORDER BY cid"
}

# show TABLE WHERE: "column=quote(value):typeof(value)" for each column of
# the row of TABLE matching WHERE.
show() {
	local t=$1 where=$2 c sql=""
	for c in $(q "SELECT name FROM pragma_table_info('$t') ORDER BY cid"); do
		sql+="${sql:+ || char(10) || }'$c=' || quote(\"$c\") || ':' || typeof(\"$c\")"
	done
	q "SELECT $sql FROM \"$t\" WHERE $where"
}

# total NAME: NAME from the totals line (the last line) of drain.out.
total() {
	jnum "$1" "$(tail -n 1 drain.out)"
}

# per_type TYPE NAME: NAME from the summary line for TYPE in drain.out.
per_type() {
	jnum "$2" "$(grep "\"type\":\"$1\"" drain.out)"
}

# The Redis buffer is empty: every simulation was drained completely.
redis_empty() {
	[ -z "$(simlog_keys)" ]
}

# --- dead letters ----------------------------------------------------------

@test "dead letters: every kind, with its error; the drain goes on past them" {
	{ echo strict; cat "$BEFORE"; } > strict.schema
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
EOF
	push S1 < in.jsonl
	run -0 drain --schema ./strict.schema
	# A page's records of a table that others refer to (agents) go in
	# before the rest (simlog-drain(1)): their dead letters come first.
	assert_equal "$output" "simlog-drain: 15 records went to simlog_rejects in $DB; the first: agent: column agent_id: expected a string, got a number"
	assert_equal "$(q "SELECT simulation_id || ' ' || type || ' ' || error
	    FROM simlog_rejects ORDER BY id")" "$(cat <<'EOF'
S1 agent column agent_id: expected a string, got a number
S1 agent column position_x: expected a number, got a string
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
S1 weather record type weather is not in the strict schema
EOF
)"
	# The record is kept exactly as pushed.
	assert_equal "$(q "SELECT data FROM simlog_rejects ORDER BY id")" \
	    "$(sed -n '16p;17p' in.jsonl; sed -n '1p;2p;4p;5p;6p;7p;9p;10p;11p;13p;14p;15p;18p' in.jsonl)"
	assert_equal "$(q "SELECT count(*) FROM simlog_rejects
	    WHERE abs(drained_at - strftime('%s', 'now')) < 600")" 15
	# What fitted, before and after the misfits, is in its table.
	assert_equal "$(q "SELECT action_id, step_number, agent_id FROM agent_actions ORDER BY action_id")" \
	    "$(printf '%s\n' '3|3|a1' '9223372036854775807|1|a1')"
	assert_equal "$(q "SELECT step_number, total_agents FROM simulation_steps")" "1|2"
	assert_equal "$(q "SELECT id, is_defending FROM agent_states")" "S1:a1-3|0"
	assert_equal "$(rows "$DB" agents)" 0
	# No table for the type the strict schema does not know.
	assert_equal "$(q "SELECT count(*) FROM sqlite_master WHERE name = 'weather'")" 0
	# rows + rejects = records drained, per type and in all.
	assert_equal "$(total rows)" 4
	assert_equal "$(total rejects)" 15
	local type n
	for type in action step agent_state agent weather; do
		n=$(grep -c "^{\"type\":\"$type\"" in.jsonl)
		assert_equal "$(( $(per_type "$type" rows) + $(per_type "$type" rejects) ))" "$n"
	done
	assert_equal "$(per_type action rejects)" 6
	assert_equal "$(per_type agent_state rejects)" 3
	assert_equal "$(per_type action rows)" 2
	assert_equal "$(grep '"type":"weather"' drain.out)" \
	    '{"sim":"S1","type":"weather","table":"simlog_rejects","rows":0,"rejects":2,"waiting":0,"unmapped":0}'
	run -0 redis_empty
}

@test "dead letters: a wrong type in a non-strict schema goes to the default table" {
	printf '%s\n' '{"type":"weather","rain":1}' | push S1
	run -0 drain --schema "$BEFORE"
	assert_equal "$(q "SELECT simulation_id, data FROM weather")" 'S1|{"type":"weather","rain":1}'
	assert_equal "$(q "SELECT count(*) FROM simlog_rejects")" 0
}

@test "dead letters: rows + rejects add up over several simulations and batches" {
	local s i
	for s in A B C; do
		for i in $(seq 1 300); do
			if [ $((i % 7)) -eq 0 ]; then
				echo "{\"type\":\"step\",\"step_number\":\"$i\"}"
			elif [ $((i % 11)) -eq 0 ]; then
				echo "{\"type\":\"step\",\"step_number\":1}"
			else
				echo "{\"type\":\"step\",\"step_number\":$i,\"births\":$i}"
			fi
		done > "in.$s"
		push "$s" --batch 16 < "in.$s"
	done
	run -0 drain --schema "$BEFORE" --batch 50
	local rows rejects
	rows=$(rows "$DB" simulation_steps)
	rejects=$(q "SELECT count(*) FROM simlog_rejects")
	assert_equal "$(total rows)" "$rows"
	assert_equal "$(total rejects)" "$rejects"
	assert_equal "$((rows + rejects))" 900
	# 42 of each 300 have a string step, 24 repeat step 1.
	assert_equal "$rejects" $(( 3 * (42 + 24) ))
	for s in A B C; do
		assert_equal "$(jnum rows "$(grep "\"sim\":\"$s\"" drain.out)")" 234
		assert_equal "$(jnum rejects "$(grep "\"sim\":\"$s\"" drain.out)")" 66
	done
}

@test "dead letters: re-driving them after fixing the schema, as simlog-schema(5) shows" {
	cat > broken.schema <<'EOF'
strict
table readings for reading
    sim_name  TEXT     sim
    sensor    TEXT     not null  from sensor_name   # the records say "sensor"
    value     INTEGER                               # and values are reals
EOF
	cat > fixed.schema <<'EOF'
strict
table readings for reading
    sim_name  TEXT     sim
    sensor    TEXT     not null
    value     REAL
table notes for note
    text      TEXT
EOF
	printf '%s\n' '{"type":"reading","sensor":"s1","value":1.5}' \
	    '{"type":"reading","sensor":"s2","value":2}' \
	    '{"type":"note","text":"hi"}' | push A
	# Records pushed with --type carry no type field.
	printf '%s\n' '{"sensor":"s3","value":0.25}' | push B -t reading
	DB=$BATS_TEST_TMPDIR/results.db
	run -0 drain --schema ./broken.schema
	assert_equal "$(total rows)" 0
	assert_equal "$(total rejects)" 4
	# The recipe, exactly as the manual gives it.
	sed -n '/^db=results\.db$/,/^simlog\\-drain \\-d "\$db" \\-\\-schema \.\/fixed\.schema$/p' \
	    "$SIMLOG_TOP/man/simlog-schema.5" |
	    sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\e/\\/g' > redrive.sh
	[ "$(wc -l < redrive.sh)" -gt 10 ]
	grep -q 'simlog-push -s "$sim" -t "$type"' redrive.sh

	# A push that fails leaves the rejects in place.
	mkdir failbin
	printf '#!/bin/sh\ncat > /dev/null\nexit 75\n' > failbin/simlog-push
	chmod +x failbin/simlog-push
	PATH="$PWD/failbin:$PATH" run sh redrive.sh
	assert_equal "$(q "SELECT count(*) FROM simlog_rejects")" 4
	assert_equal "$(rows "$DB" readings)" 0

	run -0 sh redrive.sh
	assert_equal "$(q "SELECT count(*) FROM simlog_rejects")" 0
	assert_equal "$(q "SELECT sim_name, sensor, value FROM readings ORDER BY sensor")" \
	    "$(printf '%s\n' 'A|s1|1.5' 'A|s2|2' 'B|s3|0.25')"
	assert_equal "$(q "SELECT text FROM notes")" hi
	[ ! -e pairs ] && [ ! -e redrive.jsonl ]
	run -0 redis_empty
}

# --- schema evolution ------------------------------------------------------

@test "schema evolution: a column added to the schema is added to the table, old rows kept" {
	cp "$BEFORE" my.schema
	printf '%s\n' \
	    '{"type":"resource_state","id":1,"step_number":1,"resource_id":5,"amount":2.5,"quality":"high"}' \
	    '{"type":"agent","agent_id":"a1","birth_time":1}' | push S1
	run -0 drain --schema ./my.schema
	assert_equal "$(q "SELECT count(*) FROM pragma_table_info('resource_states')")" 7
	# resource_states is the last table of the file.
	cat >> my.schema <<'EOF'
    quality                TEXT
    weight                 REAL     not null  default 1.5
    checked                BOOLEAN  default true
EOF
	printf '%s\n' \
	    '{"type":"resource_state","id":2,"step_number":2,"resource_id":5,"amount":3,"quality":"low","weight":4}' \
	    '{"type":"resource_state","id":3,"step_number":3,"resource_id":5,"amount":1,"checked":false}' | push S1
	run -0 drain --schema ./my.schema
	assert_equal "$(total rows)" 2
	assert_equal "$(columns resource_states | tail -n 3)" "$(cat <<'EOF'
quality|TEXT|0|0|
weight|REAL|1|0|1.5
checked|BOOLEAN|0|0|1
EOF
)"
	assert_equal "$(q "SELECT id, amount, quote(quality), weight, checked FROM resource_states ORDER BY id")" \
	    "$(printf '%s\n' '1|2.5|NULL|1.5|1' '2|3.0|'"'low'"'|4.0|1' '3|1.0|NULL|1.5|0')"
	assert_equal "$(q "SELECT agent_id, birth_time FROM agents")" "a1|1"
	# Draining again with the grown schema changes nothing.
	run -0 drain --schema ./my.schema
	assert_equal "$(rows "$DB" resource_states)" 3
	assert_equal "$(columns resource_states | wc -l)" 10
}

@test "schema evolution: a key column, or NOT NULL without a default, cannot be added" {
	cp "$BEFORE" my.schema
	printf '%s\n' '{"type":"resource_state","id":1,"amount":2.5}' | push S1
	run -0 drain --schema ./my.schema
	printf '%s\n' '{"type":"resource_state","id":2,"amount":3}' | push S1

	cp my.schema key.schema
	echo '    serial  TEXT  unique' >> key.schema
	run -78 --separate-stderr drain --schema ./key.schema
	[[ $stderr == *"./key.schema"*"table resource_states: cannot add key column serial to an existing table"* ]]
	cp my.schema pk.schema
	sed -i 's/^    id                     INTEGER  primary key$/    id INTEGER/' pk.schema
	echo '    rid  TEXT  primary key' >> pk.schema
	run -78 --separate-stderr drain --schema ./pk.schema
	[[ $stderr == *"cannot add key column rid"* ]]
	cp my.schema nn.schema
	echo '    origin  TEXT  not null' >> nn.schema
	run -78 --separate-stderr drain --schema ./nn.schema
	[[ $stderr == *"./nn.schema"*"table resource_states: cannot add NOT NULL column origin without a default to an existing table"* ]]
	cp my.schema nnull.schema
	echo '    origin  TEXT  not null  default null' >> nnull.schema
	run -78 drain --schema ./nnull.schema

	# Nothing was drained, and the table is as it was.
	assert_equal "$(rows "$DB" resource_states)" 1
	assert_equal "$(q "SELECT count(*) FROM pragma_table_info('resource_states')")" 7
	run -0 drain --schema ./my.schema
	assert_equal "$(rows "$DB" resource_states)" 2
}

# --- tables and columns ----------------------------------------------------

@test "rest keeps the fields no column takes as a JSON object" {
	cat > r.schema <<'EOF'
table events for ev
    sim   TEXT  sim
    n     INTEGER
    label TEXT  from name
    rest  extra
table plain for pl
    n     INTEGER
EOF
	printf '%s\n' \
	    '{"type":"ev","n":1,"name":"x","b":"y","c":{"d":[1,2]},"e\u00e9":null,"simulation_id":"z"}' \
	    '{"n":2,"type":"ev"}' \
	    '{ "type" : "ev" , "q" : [ 1 , 2 ] , "n" : 3 }' \
	    '{"type":"pl","n":4,"dropped":true}' | push S1
	run -0 drain --schema ./r.schema
	assert_equal "$(q "SELECT n, sim, label, extra, typeof(extra) FROM events ORDER BY n")" "$(cat <<'EOF'
1|S1|x|{"b":"y","c":{"d":[1,2]},"e\u00e9":null,"simulation_id":"z"}|text
2|S1||{}|text
3|S1||{"q":[ 1 , 2 ]}|text
EOF
)"
	assert_equal "$(q "SELECT count(*) FROM events WHERE json_valid(extra)")" 3
	assert_equal "$(q "SELECT json_extract(extra, '\$.c.d[1]') FROM events WHERE n = 1")" 2
	assert_equal "$(columns events | tail -n 1)" "extra|TEXT|0|0|"
	assert_equal "$(q "SELECT * FROM plain")" 4
}

@test "typefield: the named type field is left out of the rest column" {
	cat > t.schema <<'EOF'
typefield kind
table events for ev
    n     INTEGER
    rest  extra
EOF
	printf '%s\n' '{"kind":"ev","n":1,"type":"other"}' | push S1 --type-field kind
	run -0 drain --schema ./t.schema
	assert_equal "$(q "SELECT n, extra FROM events")" '1|{"type":"other"}'
}

@test "computed columns: a template over other columns, defaults and the simulation" {
	cat > c.schema <<'EOF'
table things for thing
    key_id  TEXT     primary key  = "{sim}/{name}#{n}:{flag}:{kind}:{meta}"
    sim     TEXT     sim
    name    TEXT
    n       INTEGER
    flag    BOOLEAN
    kind    TEXT     default "plain"
    meta    JSON
    ratio   REAL
    r2      TEXT     = "{ratio}"
EOF
	printf '%s\n' \
	    '{"type":"thing","name":"a \"b\"\u00e9","n":-7,"flag":true,"meta":[1,{"x":"y"}],"ratio":0.5}' \
	    '{"type":"thing","name":"c","n":9007199254740993,"flag":0,"kind":"odd","meta":"s","ratio":2}' \
	    '{"type":"thing","name":"d","flag":true,"meta":1,"ratio":1}' \
	    '{"type":"thing","name":"e","n":1,"flag":null,"meta":1,"ratio":1}' | push S9
	run -0 drain --schema ./c.schema
	assert_equal "$(q "SELECT key_id, r2, typeof(key_id) FROM things ORDER BY name")" "$(cat <<'EOF'
S9/a "b"é#-7:1:plain:[1,{"x":"y"}]|0.5|text
S9/c#9007199254740993:0:odd:"s"|2|text
EOF
)"
	assert_equal "$(q "SELECT error FROM simlog_rejects ORDER BY id")" "$(cat <<'EOF'
column key_id: needs column n, which is missing
column key_id: needs column flag, which is missing
EOF
)"
	assert_equal "$(total rows)" 2
	assert_equal "$(total rejects)" 2
}

@test "computed columns: a template that repeats a long value stays in bounds" {
	cat > big.schema <<'EOF'
table things for thing
    s  TEXT
    c  TEXT = "{s}{s}{s}{s}{s}{s}{s}{s}"
EOF
	local i
	for i in $(seq 1 50); do
		printf '{"type":"thing","s":"%s"}\n' "$(head -c $((i * 1000)) /dev/zero | tr '\0' x)"
	done | push S1
	run -0 drain --schema ./big.schema
	assert_equal "$(q "SELECT count(*) FROM things WHERE c = s || s || s || s || s || s || s || s")" 50
}

@test "defaults: used for missing fields, not for null; part of the table" {
	cat > d.schema <<'EOF'
table opts for opt
    id     INTEGER  primary key
    i      INTEGER  default -3
    r      REAL     default 2.5
    t      TEXT     default "it's \"so\""
    b      BOOLEAN  default true
    f      BOOLEAN  default false
    z      TEXT     default null
    nn     INTEGER  not null  default 0
EOF
	printf '%s\n' '{"type":"opt","id":1}' \
	    '{"type":"opt","id":2,"i":null,"r":null,"t":null,"b":null,"f":true,"z":"set","nn":5}' \
	    '{"type":"opt","id":3,"nn":null}' | push S1
	run -0 drain --schema ./d.schema
	assert_equal "$(q "SELECT id, quote(i), quote(r), quote(t), quote(b), quote(f), quote(z), quote(nn)
	    FROM opts ORDER BY id")" "$(cat <<'EOF'
1|-3|2.5|'it''s "so"'|1|0|NULL|0
2|NULL|NULL|NULL|NULL|1|'set'|5
EOF
)"
	assert_equal "$(q "SELECT error FROM simlog_rejects")" "NOT NULL constraint failed: opts.nn"
	assert_equal "$(columns opts)" "$(cat <<'EOF'
id|INTEGER|0|1|
i|INTEGER|0|0|-3
r|REAL|0|0|2.5
t|TEXT|0|0|'it''s "so"'
b|BOOLEAN|0|0|1
f|BOOLEAN|0|0|0
z|TEXT|0|0|NULL
nn|INTEGER|1|0|0
EOF
)"
}

@test "on duplicate update keeps what a later record leaves out, also where there is a default" {
	cat > u.schema <<'EOF'
table people for person
    on duplicate update
    id     TEXT     primary key
    name   TEXT
    score  INTEGER  default 0
    team   TEXT     default "none"
EOF
	printf '%s\n' '{"type":"person","id":"p1","name":"ann","score":5,"team":"red"}' | push S1
	run -0 drain --schema ./u.schema
	printf '%s\n' '{"type":"person","id":"p1","name":"ann b"}' | push S1
	run -0 drain --schema ./u.schema
	assert_equal "$(q "SELECT id, name, score, team FROM people")" "p1|ann b|5|red"
}

@test "on duplicate ignore keeps the first row; composite key and unique lines" {
	cat > i.schema <<'EOF'
table cells for cell
    on duplicate ignore
    x  INTEGER  not null
    y  INTEGER  not null
    v  TEXT
    key x, y
table tags for tag
    a  TEXT
    b  TEXT
    c  TEXT     unique
    unique a, b
EOF
	printf '%s\n' '{"type":"cell","x":1,"y":1,"v":"first"}' \
	    '{"type":"cell","x":1,"y":2,"v":"other"}' \
	    '{"type":"cell","x":1,"y":1,"v":"second"}' \
	    '{"type":"tag","a":"1","b":"2","c":"u1"}' \
	    '{"type":"tag","a":"1","b":"3","c":"u2"}' \
	    '{"type":"tag","a":"1","b":"2","c":"u3"}' \
	    '{"type":"tag","a":"9","b":"9","c":"u1"}' | push S1
	run -0 drain --schema ./i.schema
	assert_equal "$(q "SELECT x, y, v FROM cells ORDER BY x, y")" "$(printf '%s\n' '1|1|first' '1|2|other')"
	assert_equal "$(per_type cell rows)" 3
	assert_equal "$(per_type cell rejects)" 0
	assert_equal "$(q "SELECT c FROM tags ORDER BY c")" "$(printf '%s\n' u1 u2)"
	assert_equal "$(q "SELECT error FROM simlog_rejects ORDER BY id")" "$(cat <<'EOF'
UNIQUE constraint failed: tags.a, tags.b
UNIQUE constraint failed: tags.c
EOF
)"
}

@test "a schema file with comments, commas, quoting and case as simlog-schema(5) allows" {
	cat > s.schema <<'EOF'
# leading comment

table Mixed for mixed_case   # trailing comment
	Id integer PRIMARY KEY
    Label text NOT NULL default "a # not a comment, \\ and \" too"
    w real,default,0.5
    key_name  TEXT  from key
    strict    TEXT
EOF
	printf '%s\n' '{"type":"mixed_case","Id":1,"key":"k","strict":"s"}' | push S1
	run -0 drain --schema ./s.schema
	assert_equal "$(q "SELECT Id, Label, w, key_name, strict FROM Mixed")" \
	    '1|a # not a comment, \ and " too|0.5|k|s'
}

# --- schema files: errors and lookup --------------------------------------

# bad NAME LINE MESSAGE: the schema on stdin, saved as NAME, stops the drain
# with status 78 and "NAME:LINE: MESSAGE"; nothing is drained or created.
bad() {
	local f=$1 line=$2 msg=$3
	cat > "$f"
	run -78 --separate-stderr simlog-drain -q -d "$DB" --schema "./$f"
	assert_equal "$output" ""
	assert_equal "$stderr" "simlog-drain: ./$f:$line: $msg"
	[ ! -e "$DB" ]
}

@test "parse errors name the file and line, exit 78, and drain nothing" {
	printf '%s\n' '{"type":"step","step_number":1}' | push S1
	bad unknown_type.schema 3 "column x: unknown type 'FLOAT' (INTEGER, REAL, TEXT, BOOLEAN, JSON, ID, DATETIME)" <<'EOF'
# comment
table a
    x FLOAT
EOF
	bad unknown_option.schema 3 "column y: unexpected 'bogus'" <<'EOF'
table a
    x TEXT
    y TEXT not null bogus
EOF
	bad dup_table.schema 4 "table A declared twice" <<'EOF'
table a for t1
    x TEXT

table A for t2
    y TEXT
EOF
	bad dup_type.schema 3 "record type t1 mapped twice" <<'EOF'
table a for t1
    x TEXT
table b for t1
    y TEXT
EOF
	bad outside.schema 2 "'x' outside a table (start one with table NAME [for TYPE])" <<'EOF'
strict
x TEXT
table a
    y TEXT
EOF
	bad key_unknown.schema 3 "key names unknown column 'z' (declare columns first)" <<'EOF'
table a
    x TEXT
    key x, z
EOF
	bad on_dup.schema 2 "on duplicate: 'merge' is not reject, update or ignore" <<'EOF'
table a
    on duplicate merge
    x TEXT
EOF
	bad strict_late.schema 3 "strict goes before the tables" <<'EOF'
table a
    x TEXT
strict
EOF
	bad unterminated.schema 2 "unterminated string" <<'EOF'
table a
    x TEXT default "abc
EOF
	bad reserved.schema 1 "'simlog_x' is not a table name (and sqlite_, simlog_ are reserved)" <<'EOF'
table simlog_x
    x TEXT
EOF
	bad col_twice.schema 3 "column X named twice" <<'EOF'
table a
    x TEXT
    X INTEGER
EOF
	bad sim_type.schema 2 "column s: a sim column is TEXT" <<'EOF'
table a
    s INTEGER sim
EOF
	bad no_cols.schema 1 "table a has no columns" <<'EOF'
table a
table b
    x TEXT
EOF
	bad bad_default.schema 2 "default 'abc' is not a number, a \"string\", true, false or null" <<'EOF'
table a
    x TEXT default abc
EOF
	# The record waits in Redis for a usable schema.
	run -0 simlog-drain -q -d "$DB" --schema "$BEFORE"
	assert_equal "$(rows "$DB" simulation_steps)" 1
}

@test "parse errors: a template naming an unknown or computed column names the template's line" {
	printf 'table a\n    x TEXT\n    y TEXT = "{x}-{z}"\n' > tmpl.schema
	run -78 --separate-stderr simlog-drain -q -d "$DB" --schema ./tmpl.schema
	assert_equal "$stderr" "simlog-drain: ./tmpl.schema:3: column y: template names unknown column 'z'"
	printf 'table a\n    x TEXT = "{z}"\n    z TEXT\n    y TEXT = "{x}"\n' > comp.schema
	run -78 --separate-stderr simlog-drain -q -d "$DB" --schema ./comp.schema
	assert_equal "$stderr" "simlog-drain: ./comp.schema:4: column y: template names computed column 'x'"
}

@test "a schema name that is not found exits 66; one that is neither file nor name, 64" {
	run -66 --separate-stderr simlog-drain -q -d "$DB" --schema nosuch
	[[ $stderr == "simlog-drain: no schema named 'nosuch'"* ]]
	run -66 --separate-stderr simlog-drain -q -d "$DB" --schema ./nosuch.schema
	assert_equal "$stderr" "simlog-drain: ./nosuch.schema: No such file or directory"
	run -66 simlog-drain -q -d "$DB" --schema nodir/x
	run -64 --separate-stderr simlog-drain -q -d "$DB" --schema 'a b'
	assert_equal "$stderr" "simlog-drain: 'a b' is neither a schema file nor a schema name"
	[ ! -e "$DB" ]
}

@test "named schemas are looked up in SIMLOG_SCHEMA_PATH's directories in order" {
	mkdir one two
	printf 'table from_two for rec\n    n INTEGER\n' > two/mine.schema
	printf 'table from_one for rec\n    n INTEGER\n' > two/other.schema
	cp two/other.schema one/mine.schema
	printf '%s\n' '{"type":"rec","n":1}' | push S1
	SIMLOG_SCHEMA_PATH="$PWD/nothing:$PWD/two:$PWD/one" run -0 drain --schema mine
	assert_equal "$(q "SELECT n FROM from_two")" 1
	assert_equal "$(q "SELECT count(*) FROM sqlite_master WHERE name = 'from_one'")" 0
}

@test "without --schema, the default mapping is unchanged" {
	printf '%s\n' '{"type":"agent","agent_id":"a1","generation":9007199254740993}' \
	    '{"type":"step","step_number":"not a number"}' | push S1
	run -0 drain
	assert_equal "$(record_tables "$DB" | tr '\n' ' ')" "agent step "
	assert_equal "$(columns agent)" "$(printf '%s\n' 'id|INTEGER|0|1|' \
	    'simulation_id|TEXT|1|0|' 'data|TEXT|1|0|')"
	assert_equal "$(q "SELECT simulation_id, data FROM agent")" \
	    'S1|{"type":"agent","agent_id":"a1","generation":9007199254740993}'
	assert_equal "$(q "SELECT data FROM step")" '{"type":"step","step_number":"not a number"}'
	assert_equal "$(q "SELECT count(*) FROM simlog_rejects")" 0
	assert_equal "$(total rejects)" 0
	assert_equal "$(per_type agent rejects)" 0
	# An empty SIMLOG_SCHEMA is no schema.
	printf '%s\n' '{"type":"agent","agent_id":"a2"}' | push S1
	SIMLOG_SCHEMA= run -0 drain
	assert_equal "$(rows "$DB" agent)" 2
	assert_equal "$(q "SELECT count(*) FROM sqlite_master WHERE name = 'agents'")" 0
}

@test "SIMLOG_SCHEMA gives the schema when --schema does not" {
	printf '%s\n' '{"type":"simulation"}' '{"type":"agent","agent_id":"a1"}' | push S1
	SIMLOG_SCHEMA=agentfarm run -0 drain
	assert_equal "$(q "SELECT simulation_id, agent_id FROM agents")" "S1|a1"
	# --schema wins over the environment.
	printf '%s\n' '{"type":"agent","agent_id":"a2"}' | push S1
	SIMLOG_SCHEMA=nosuch run -0 drain --schema agentfarm
	assert_equal "$(rows "$DB" agents)" 2
	SIMLOG_SCHEMA=nosuch run -66 drain
}

@test "--schema with --sim drains only that simulation into the typed tables" {
	printf '%s\n' '{"type":"simulation"}' '{"type":"agent","agent_id":"a1"}' | push S1
	printf '%s\n' '{"type":"simulation"}' '{"type":"agent","agent_id":"b1"}' | push S2
	run -0 drain --schema agentfarm -s S2
	assert_equal "$(q "SELECT simulation_id, agent_id FROM agents")" "S2|b1"
	assert_equal "$(q "SELECT simulation_id FROM simulations")" "S2"
	assert_equal "$(cat drain.out | wc -l)" 3
	assert_equal "$(per_type agent rows)" 1
}

# --- the language AgentFarm's tables needed ---------------------------------

@test "parse errors: paths, references, indexes and strict fields name their line" {
	bad path.schema 3 "column x: from: '[x]' is not an [index] (0 to 1000000)" <<'EOF'
table a
    y TEXT
    x TEXT from pos[x]
EOF
	bad path2.schema 2 "column x: from '.b': no field name before the path" <<'EOF'
table a
    x TEXT from .b
EOF
	bad ref.schema 4 "column p: references b, which is not a table declared above it" <<'EOF'
table a
    k TEXT primary key
table c
    p TEXT references b(k)
table b
    k TEXT primary key
EOF
	bad ref2.schema 5 "column p: references a(v), which is neither its primary key nor unique" <<'EOF'
table a
    k TEXT primary key
    v TEXT
table c
    p TEXT references a(v)
EOF
	bad ref3.schema 2 "column p: expected references TABLE(COLUMN)" <<'EOF'
table a
    p TEXT references a
EOF
	bad idx.schema 3 "index i names unknown column 'y' (declare columns first)" <<'EOF'
table a
    x TEXT
    index i on x, y
EOF
	bad idx2.schema 5 "index I declared twice" <<'EOF'
table a
    x TEXT
    index i on x
table b
    index I on x
EOF
	bad idx3.schema 3 "expected: unique index NAME on COLUMN, ..." <<'EOF'
table a
    x TEXT
    unique index i x
EOF
	bad sf.schema 1 "table a: strict fields and a rest column exclude each other" <<'EOF'
table a
    strict fields
    x TEXT
    rest more
EOF
	bad simfrom.schema 1 "table a: field s is the sim column's and cannot feed another column" <<'EOF'
table a
    s TEXT sim
    t TEXT from s
EOF
}

@test "ID takes strings and numbers as text; anything else is a dead letter" {
	printf 'table ids for rec\n    v ID\n' > id.schema
	printf '%s\n' '{"type":"rec","v":"r\u00e9_1"}' '{"type":"rec","v":42}' \
	    '{"type":"rec","v":-1.50e3}' '{"type":"rec","v":null}' \
	    '{"type":"rec","v":true}' '{"type":"rec","v":[1]}' | push S1
	run -0 drain --schema ./id.schema
	assert_equal "$(q "SELECT quote(v) || ':' || typeof(v) FROM ids ORDER BY rowid")" \
	    "$(printf '%s\n' "'ré_1':text" "'42':text" "'-1.50e3':text" "NULL:null")"
	assert_equal "$(q "SELECT error FROM simlog_rejects ORDER BY id")" \
	    "$(printf '%s\n' 'column v: expected a string or a number, got true' \
	    'column v: expected a string or a number, got an array')"
}

@test "from paths: members of objects and elements of arrays; missing is NULL, the wrong kind a dead letter" {
	cat > p.schema <<'EOF'
table pts for rec
    x     REAL     from position[0]
    y     REAL     from position[1]
    seed  INTEGER  from meta.run.seed
    tag   TEXT     from meta.tags[1]
    raw   JSON     from meta
    dot   TEXT     from "a.b"
EOF
	printf '%s\n' \
	    '{"type":"rec","position":[1.5,2],"meta":{"run":{"seed":7},"tags":["a","b\u00e9"]},"a.b":"d"}' \
	    '{"type":"rec","position":[3],"meta":{"run":{}}}' \
	    '{"type":"rec","position":null,"meta":null}' \
	    '{"type":"rec","position":{"0":1}}' \
	    '{"type":"rec","meta":{"run":[1]}}' | push S1
	run -0 drain --schema ./p.schema
	assert_equal "$(q "SELECT quote(x), quote(y), quote(seed), quote(tag), quote(raw), quote(dot) FROM pts ORDER BY rowid")" \
	    "$(printf '%s\n' "1.5|2.0|7|'bé'|'{\"run\":{\"seed\":7},\"tags\":[\"a\",\"b\\u00e9\"]}'|'d'" \
	    "3.0|NULL|NULL|NULL|'{\"run\":{}}'|NULL" "NULL|NULL|NULL|NULL|NULL|NULL")"
	assert_equal "$(q "SELECT error FROM simlog_rejects ORDER BY id")" \
	    "$(printf '%s\n' 'column x: from position: expected an array at step 1, got an object' \
	    'column seed: from meta: expected an object at step 2, got an array')"
}

@test "indexes: made with the table, added to one that lacks them; a unique index refuses a duplicate" {
	printf 'table t for rec\n    k TEXT\n    v INTEGER\n' > v1.schema
	printf '%s\n' '{"type":"rec","k":"a","v":1}' | push S1
	run -0 drain --schema ./v1.schema
	{ cat v1.schema; printf '    index t_v on v\n    unique index t_k on k, v\n'; } > v2.schema
	printf '%s\n' '{"type":"rec","k":"a","v":1}' '{"type":"rec","k":"a","v":2}' | push S1
	run -0 drain --schema ./v2.schema
	assert_equal "$(q "SELECT name || ' ' || sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 't' ORDER BY name")" \
	    "$(printf '%s\n' 't_k CREATE UNIQUE INDEX "t_k" ON "t" ("k", "v")' 't_v CREATE INDEX "t_v" ON "t" ("v")')"
	# The old row was there before the index, which could be made (no
	# duplicate yet); the new duplicate is a dead letter.
	assert_equal "$(q "SELECT error FROM simlog_rejects")" "UNIQUE constraint failed: t.k, t.v"
	assert_equal "$(q "SELECT k || v FROM t ORDER BY rowid")" "$(printf '%s\n' a1 a2)"
}

@test "unmapped fields: counted per table, named once on stderr; strict fields makes them dead letters" {
	printf 'table t for rec\n    k TEXT\n' > u.schema
	printf '%s\n' '{"type":"rec","k":"a","extra":1,"more":2}' '{"type":"rec","k":"b","extra":3}' \
	    '{"type":"rec","k":"c"}' | push S1
	printf '%s\n' '{"type":"rec","k":"d","other":4}' | push S2
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema ./u.schema
	assert_equal "$stderr" "simlog-drain: table t: 3 records carried fields no column takes, not stored: extra, more, other"
	assert_equal "$(jnum unmapped "$(grep '"sim":"S1"' <<< "$output")")" 2
	[[ ${lines[-1]} == *'"unmapped":{"t":3}'* ]]
	assert_equal "$(q "SELECT count(*) FROM t")" 4
	{ echo 'strict fields'; cat u.schema; } > su.schema
	printf '%s\n' '{"type":"rec","k":"e","extra":1}' '{"type":"rec","k":"f"}' | push S1
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema ./su.schema
	assert_equal "$(q "SELECT error FROM simlog_rejects")" "field extra feeds no column of table t (strict fields)"
	assert_equal "$(q "SELECT k FROM t WHERE k > 'd'")" f
	# The type field is no unmapped field.
	printf '%s\n' '{"type":"rec","k":"g"}' | push S1
	run -0 --separate-stderr simlog-drain -q -d "$DB" --schema ./u.schema
	assert_equal "$stderr" ""
}

@test "the sim column: a record's own field that names its simulation lands; another is a dead letter, never relabelled" {
	printf 'table t for rec\n    run TEXT sim\n    v INTEGER\n' > s.schema
	printf '%s\n' '{"type":"rec","run":"S1","v":1}' '{"type":"rec","v":2}' \
	    '{"type":"rec","run":null,"v":3}' '{"type":"rec","run":"S2","v":4}' \
	    '{"type":"rec","run":5,"v":5}' | push S1
	run -0 drain --schema ./s.schema
	assert_equal "$(q "SELECT run || v FROM t ORDER BY v")" "$(printf '%s\n' S11 S12 S13)"
	assert_equal "$(q "SELECT simulation_id || ' ' || error FROM simlog_rejects ORDER BY id")" \
	    "$(printf '%s\n' "S1 column run: the record names simulation 'S2', but it was pushed under 'S1'" \
	    "S1 column run: expected the simulation's name, got a number")"
}

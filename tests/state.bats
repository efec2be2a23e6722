#!/usr/bin/env bats
# simlog-state: byte-exact round trips, versions, rollback, pruning, tags,
# expiry, corruption, concurrency, batch mode and bad input, against a real
# redis-server; what Redis holds is checked key by key.

bats_require_minimum_version 1.5.0

setup() {
	load helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	start_redis main --enable-debug-command local
	export SIMLOG_REDIS_URL=$REDIS_URL
}

teardown() {
	kill_tracked
	stop_all_redis
}

# jstr NAME TEXT: the string value of the first "NAME":"..." in TEXT.
jstr() {
	printf '%s\n' "$2" | grep -o "\"$1\":\"[^\"]*\"" | head -n 1 |
		cut -d'"' -f4
}

# crc32 FILE: zlib's CRC-32 of FILE in hex, from the gzip trailer.
crc32() {
	gzip -c < "$1" | tail -c 8 | head -c 4 | od -An -tx4 | tr -d ' \n'
}

# json_doc FILE BYTES: a JSON document of about BYTES bytes, with line
# breaks, nesting, escapes and non-ASCII text.
json_doc() {
	awk -v n="$2" 'BEGIN {
		printf "{\n  \"agents\": [\n"
		for (i = 0; s < n; i++) {
			line = sprintf("    {\"id\": %d, \"pos\": [%d.5, -%d], \"name\": \"a\\\"%d\\u00e9 \xc3\xa9\", \"alive\": %s},\n",
			    i, i % 97, i % 13, i, i % 2 ? "true" : "false")
			printf "%s", line
			s += length(line)
		}
		printf "    null\n  ],\n  \"step\": 12\n}\n"
	}' > "$1"
}

# expired KEY: whether KEY has gone (-2: no such key).
expired() {
	[ "$(rcli pttl "$1")" = -2 ]
}

empty_db() {
	[ "$(rcli dbsize)" = 0 ]
}

# state_keys: every key simlog-state has in Redis, sorted.
state_keys() {
	rcli --scan --pattern 'simlog:state:*' | sort
}

# meta_re ID VERSION SIZE COMPRESSION CRC FORMAT: a regular expression for
# the metadata line of a version without tags or expiry; the stored size is
# its first group.
meta_re() {
	printf '^\\{"id":"%s","version":%s,"size":%s,"stored_size":([0-9]+),"compression":"%s","checksum":"crc32:%s","format":"%s","created_at":[0-9]+\\.[0-9]{3},"tags":\\[\\],"expires_at":null\\}$' "$@"
}

@test "round trips are byte-exact for every compression and size" {
	json_doc small.json 200
	json_doc mid.json 100000
	json_doc big.json 4500000	# larger than a 4 MiB piece
	printf '[1, "two", {"3": null}]' > array.json
	printf '"just a string"' > string.json
	printf ' \n 42 \n\n' > number.json
	local c f re
	declare -A crc size
	for f in small mid big array string number; do
		crc[$f]=$(crc32 "$f.json")
		size[$f]=$(wc -c < "$f.json")
	done
	for c in lz4 zlib none; do
		for f in small mid big array string number; do
			run --separate-stderr simlog-state save "rt-$c-$f" --compress "$c" < "$f.json"
			assert_success
			assert_equal "$stderr" ""
			re=$(meta_re "rt-$c-$f" 1 "${size[$f]}" "$c" "${crc[$f]}" json)
			[[ $output =~ $re ]] || { echo "$output !~ $re"; return 1; }
			# stored_size is what Redis holds.
			assert_equal "${BASH_REMATCH[1]}" \
				"$(rcli strlen "simlog:state:{rt-$c-$f}:data:1")"
			simlog-state load "rt-$c-$f" > "$f.$c.out"
			cmp "$f.json" "$f.$c.out"
		done
		# JSON text shrinks under compression; none stores it as is.
		if [ "$c" = none ]; then
			assert_equal "$(rcli strlen "simlog:state:{rt-$c-big}:data:1")" "${size[big]}"
		else
			[ "$(rcli strlen "simlog:state:{rt-$c-big}:data:1")" -lt $(( ${size[big]} / 3 )) ]
		fi
	done
}

@test "--raw round-trips any bytes: empty, NUL, random, large" {
	: > empty.bin
	printf 'a\0b\0\n\377' > nul.bin
	head -c 300000 /dev/urandom > rand.bin
	head -c 4500000 /dev/urandom > randbig.bin
	local c f re
	declare -A crc size
	for f in empty nul rand randbig; do
		crc[$f]=$(crc32 "$f.bin")
		size[$f]=$(wc -c < "$f.bin")
	done
	for c in lz4 zlib none; do
		for f in empty nul rand randbig; do
			run --separate-stderr simlog-state save "raw-$c-$f" --raw --compress "$c" < "$f.bin"
			assert_success
			re=$(meta_re "raw-$c-$f" 1 "${size[$f]}" "$c" "${crc[$f]}" raw)
			[[ $output =~ $re ]] || { echo "$output !~ $re"; return 1; }
			simlog-state load "raw-$c-$f" > "$f.$c.out"
			cmp "$f.bin" "$f.$c.out"
		done
	done
	# Read from a pipe rather than a file.
	cat rand.bin | simlog-state save piped --raw >/dev/null
	simlog-state load piped | cmp - rand.bin
}

@test "versions: each save is the next version; any version loads back" {
	local i
	for i in 1 2 3; do
		printf '{"step":%d}\n' "$i" > "v$i.json"
		simlog-state save run1 --tag "step$i" < "v$i.json" > "save$i.out"
		assert_equal "$(jnum version "$(cat "save$i.out")")" "$i"
	done
	simlog-state load run1 | cmp - v3.json
	for i in 1 2 3; do
		simlog-state load run1 --version "$i" | cmp - "v$i.json"
	done
	run --separate-stderr simlog-state versions run1
	assert_success
	assert_equal "${#lines[@]}" 3
	for i in 1 2 3; do
		assert_equal "$(jnum version "${lines[i - 1]}")" "$i"
		assert_equal "$(jstr checksum "${lines[i - 1]}")" "crc32:$(crc32 "v$i.json")"
		[[ ${lines[i - 1]} == *"\"tags\":[\"step$i\"]"* ]]
		# The same line as the save printed.
		assert_equal "${lines[i - 1]}" "$(cat "save$i.out")"
	done
	run simlog-state meta run1
	assert_success
	assert_output "$(cat save3.out)"
	run simlog-state meta run1 --version 2
	assert_output "$(cat save2.out)"
}

@test "rollback appends a copy of the old version; history stays linear" {
	local i
	for i in 1 2 3; do
		printf '{"step":%d}' "$i" | simlog-state save r --tag "t$i" >/dev/null
	done
	# Scripts go by SHA-1; one Redis has forgotten is sent again.
	rcli script flush >/dev/null
	run --separate-stderr simlog-state rollback r --to 1
	assert_success
	assert_equal "$(jnum version "$output")" 4
	assert_equal "$(jnum rollback_of "$output")" 1
	[[ $output == *'"tags":["t1"]'* ]]
	rcli script flush >/dev/null
	run simlog-state load r
	assert_output '{"step":1}'
	rcli script flush >/dev/null
	run simlog-state versions r
	assert_equal "${#lines[@]}" 4
	# Version 3 is still there, as it was.
	run simlog-state load r --version 3
	assert_output '{"step":3}'
	# The rollback is itself a version: roll back past it.
	simlog-state rollback r --to 3 >/dev/null
	run simlog-state load r
	assert_output '{"step":3}'
	run --separate-stderr simlog-state rollback r --to 9
	assert_equal "$status" 66
	[[ $stderr == "simlog-state: r: no version 9" ]]
	run --separate-stderr simlog-state rollback nosuch --to 1
	assert_equal "$status" 66
}

@test "--max-versions, prune and delete remove the old versions' keys" {
	local i
	for i in 1 2 3 4 5; do
		printf '{"n":%d}' "$i" | simlog-state save m --max-versions 2 >/dev/null
	done
	run simlog-state versions m
	assert_equal "${#lines[@]}" 2
	assert_equal "$(jnum version "${lines[0]}")" 4
	assert_equal "$(jnum version "${lines[1]}")" 5
	run state_keys
	assert_output "$(printf '%s\n' 'simlog:state:{m}:data:4' \
	    'simlog:state:{m}:data:5' 'simlog:state:{m}:head' \
	    'simlog:state:{m}:meta:4' 'simlog:state:{m}:meta:5' \
	    'simlog:state:{m}:versions' | sort)"
	run --separate-stderr simlog-state load m --version 3
	assert_equal "$status" 66
	assert_equal "$output" ""
	# Numbers are never reused.
	printf '{"n":6}' | simlog-state save m >/dev/null
	run simlog-state prune m --keep 1
	assert_success
	assert_output '{"id":"m","deleted":2}'
	run simlog-state versions m
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jnum version "${lines[0]}")" 6
	run simlog-state load m
	assert_output '{"n":6}'
	# Deleting one version, then the last one, deletes the state.
	printf '{"n":7}' | simlog-state save m >/dev/null
	run simlog-state delete m --version 6
	assert_output '{"id":"m","deleted":1}'
	run simlog-state load m
	assert_output '{"n":7}'
	run --separate-stderr simlog-state delete m --version 6
	assert_equal "$status" 66
	simlog-state delete m --version 7 >/dev/null
	assert_equal "$(rcli dbsize)" 0
	run --separate-stderr simlog-state prune m --keep 1
	assert_equal "$status" 66
}

@test "deleting every state leaves an empty database" {
	local i
	for i in 1 2 3; do
		printf '{"i":%d}' "$i" | simlog-state save "d$i" --ttl 600 >/dev/null
		printf '{"i":%d}' "$i" | simlog-state save "d$i" >/dev/null
		printf '{"i":%d}' "$i" | simlog-state save "p$i" --ttl 600 --tag x >/dev/null
	done
	for i in 1 2 3; do
		run simlog-state delete "d$i"
		assert_output "{\"id\":\"d$i\",\"deleted\":2}"
		simlog-state delete "p$i" >/dev/null
	done
	assert_equal "$(rcli dbsize)" 0
	run --separate-stderr simlog-state delete d1
	assert_equal "$status" 66
	[[ $stderr == "simlog-state: d1: no such state" ]]
}

@test "list: every state, by tag and by pattern; stats add up" {
	printf '{"a":1}' | simlog-state save exp1.agent --tag sim --tag agent >/dev/null
	printf '{"a":22}' | simlog-state save exp1.world --tag sim >/dev/null
	printf '{"a":333}' | simlog-state save exp2.agent --tag agent --compress none >/dev/null
	printf '{"a":4444}' | simlog-state save exp2.agent --tag agent --compress none >/dev/null
	run --separate-stderr simlog-state list
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_equal "$(jstr id "${lines[0]}")" exp1.agent
	assert_equal "$(jstr id "${lines[1]}")" exp1.world
	assert_equal "$(jstr id "${lines[2]}")" exp2.agent
	assert_equal "$(jnum versions "${lines[2]}")" 2
	assert_equal "$(jnum version "${lines[2]}")" 2
	assert_equal "$(jnum size "${lines[2]}")" 10
	run simlog-state list --tag agent
	assert_equal "${#lines[@]}" 2
	assert_equal "$(jstr id "${lines[0]}")" exp1.agent
	assert_equal "$(jstr id "${lines[1]}")" exp2.agent
	run simlog-state list --tag agent --tag sim
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jstr id "$output")" exp1.agent
	run simlog-state list --match 'exp1.*'
	assert_equal "${#lines[@]}" 2
	run simlog-state list --match '*.agent' --tag sim
	assert_output --partial '"id":"exp1.agent"'
	assert_equal "${#lines[@]}" 1
	run simlog-state list --tag nothing
	assert_success
	assert_output ""
	run simlog-state stats
	assert_success
	assert_equal "$(jnum ids "$output")" 3
	assert_equal "$(jnum versions "$output")" 4
	assert_equal "$(jnum raw_bytes "$output")" $((7 + 8 + 9 + 10))
	# none stores 9 + 10 bytes; lz4 adds one token byte to short input.
	assert_equal "$(jnum stored_bytes "$output")" $((8 + 9 + 9 + 10))
	[ "$(jnum redis_used_memory "$output")" -gt 0 ]
}

@test "TTL: every key of the ID expires; an expired state is never listed" {
	printf '{"t":1}' | simlog-state save keep >/dev/null
	printf '{"t":1}' | simlog-state save gone --tag x >/dev/null
	printf '{"t":2}' | simlog-state save gone --ttl 600 --tag x >/dev/null
	local k
	# Every key of the ID carries the TTL, older versions' keys too.
	for k in $(rcli --scan --pattern 'simlog:state:{gone}:*'); do
		[ "$(rcli pttl "$k")" -gt 590000 ] || { echo "$k: no TTL"; return 1; }
	done
	assert_equal "$(rcli pttl 'simlog:state:{keep}:head')" -1
	run simlog-state meta gone
	[[ $output =~ \"expires_at\":[0-9]+\.[0-9]{3} ]]
	# A save without --ttl makes the whole ID persistent again.
	printf '{"t":3}' | simlog-state save gone >/dev/null
	for k in $(rcli --scan --pattern 'simlog:state:{gone}:*'); do
		assert_equal "$(rcli pttl "$k")" -1
	done
	# Now a short TTL.  Active expiry is off: the expired keys stay in
	# memory, yet the state is neither loaded nor listed.
	rcli debug set-active-expire 0 >/dev/null
	printf '{"t":4}' | simlog-state save gone --ttl 0.2 >/dev/null
	wait_until "the TTL to pass" expired 'simlog:state:{gone}:head'
	run simlog-state list
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jstr id "$output")" keep
	run --separate-stderr simlog-state load gone
	assert_equal "$status" 66
	run simlog-state list --tag x
	assert_output ""
	# IDs are found by their own keys: there is no index to go stale.
	assert_equal "$(rcli exists simlog:state:ids)" 0
	simlog-state delete keep >/dev/null
	# With active expiry back on, nothing at all is left behind.
	rcli debug set-active-expire 1 >/dev/null
	printf '{"t":6}' | simlog-state save last --ttl 0.2 --max-versions 1 >/dev/null
	wait_until "every key to expire" empty_db
}

# flip KEY OFFSET: change one byte of a stored value in place.
flip() {
	local b
	b=$(rcli getrange "$1" "$2" "$2")
	if [ "$b" = X ]; then b=Y; else b=X; fi
	rcli setrange "$1" "$2" "$b" >/dev/null
}

@test "corruption: a flipped or missing byte exits 65 and writes nothing" {
	json_doc doc.json 20000
	head -c 4500000 /dev/urandom > big.bin
	local c
	for c in lz4 zlib none; do
		simlog-state save "c-$c" --compress "$c" < doc.json >/dev/null
		simlog-state save "c-$c" --compress "$c" < doc.json >/dev/null
		flip "simlog:state:{c-$c}:data:1" 100
		run --separate-stderr simlog-state load "c-$c" --version 1
		assert_equal "$status" 65
		assert_equal "$output" ""
		[[ $stderr == "simlog-state: c-$c version 1: stored state is corrupt: "* ]]
		# Truncated by one byte.
		rcli eval "redis.call('SET', KEYS[1], string.sub(redis.call('GET', KEYS[1]), 1, -2))" \
			1 "simlog:state:{c-$c}:data:2" >/dev/null
		run --separate-stderr simlog-state load "c-$c"
		assert_equal "$status" 65
		assert_equal "$output" ""
		[[ $stderr == *"corrupt"* ]]
		# A value fetched in pieces is checked before any of it is written.
		simlog-state save "c-$c-big" --raw --compress "$c" < big.bin >/dev/null
		flip "simlog:state:{c-$c-big}:data:1" 4499000
		run --separate-stderr simlog-state load "c-$c-big"
		assert_equal "$status" 65
		assert_equal "$output" ""
	done
	# Damaged metadata, and a value that has gone missing.
	simlog-state save meta < doc.json >/dev/null
	rcli hset 'simlog:state:{meta}:meta:1' size lots >/dev/null
	run --separate-stderr simlog-state load meta
	assert_equal "$status" 65
	[[ $stderr == *"metadata is damaged"* ]]
	simlog-state save gone < doc.json >/dev/null
	rcli del 'simlog:state:{gone}:data:1' >/dev/null
	run --separate-stderr simlog-state load gone
	assert_equal "$status" 65
	assert_equal "$output" ""
}

@test "twenty concurrent saves get twenty distinct consecutive versions" {
	local i pids=()
	for i in $(seq 1 20); do
		printf '{"writer":%d}' "$i" | simlog-state save shared > "out$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	# Each writer got its own version, 1 to 20 ...
	cat out* > saved.jsonl
	run sort -n < <(grep -o '"version":[0-9]*' saved.jsonl | cut -d: -f2)
	assert_output "$(seq 1 20)"
	# ... which holds what that writer saved.
	for i in $(seq 1 20); do
		printf '{"id":"shared","version":%s,"state":{"writer":%d}}\n' \
		    "$(grep -o '"version":[0-9]*' "out$i" | cut -d: -f2)" "$i"
	done | sort > want
	simlog-state load --batch < saved.jsonl | sort > got
	cmp want got
	run simlog-state versions shared
	assert_equal "${#lines[@]}" 20
}

@test "--expect-version: optimistic concurrency, exit 79 on a conflict" {
	run --separate-stderr simlog-state save e --expect-version 0 <<< '{"v":1}'
	assert_success
	assert_equal "$(jnum version "$output")" 1
	run --separate-stderr simlog-state save e --expect-version 0 <<< '{"v":2}'
	assert_equal "$status" 79
	assert_equal "$output" ""
	[[ $stderr == "simlog-state: e: version conflict: the latest version is 1, not 0" ]]
	run --separate-stderr simlog-state save e --expect-version 2 <<< '{"v":2}'
	assert_equal "$status" 79
	run --separate-stderr simlog-state save e --expect-version 1 <<< '{"v":2}'
	assert_success
	assert_equal "$(jnum version "$output")" 2
	run simlog-state versions e
	assert_equal "${#lines[@]}" 2
	# Of ten writers that all expect version 2, exactly one wins.
	local i pids=() wins=0 conflicts=0 rc
	for i in $(seq 1 10); do
		printf '{"racer":%d}' "$i" |
			simlog-state save e --expect-version 2 > "race$i" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		rc=0
		wait "$i" || rc=$?
		case $rc in
		0) wins=$((wins + 1)) ;;
		79) conflicts=$((conflicts + 1)) ;;
		*) echo "exit $rc"; return 1 ;;
		esac
	done
	assert_equal "$wins" 1
	assert_equal "$conflicts" 9
	run simlog-state versions e
	assert_equal "${#lines[@]}" 3
	# A large value that loses the race leaves no upload behind.
	head -c 4500000 /dev/urandom > big.bin
	run --separate-stderr simlog-state save e --raw --expect-version 1 < big.bin
	assert_equal "$status" 79
	run rcli --scan --pattern '*upload*'
	assert_output ""
}

@test "save --batch and load --batch: many states over one connection" {
	awk 'BEGIN {
		for (i = 1; i <= 300; i++)
			printf "{\"id\":\"agent-%03d\",\"state\":{\"x\":%d,\"path\":[%d,%d],\"s\":\"q\\\"%d\"},\"tags\":[\"g%d\"]}\n",
			    i, i, i * 2, i * 3, i, i % 3
	}' > in.jsonl
	run --separate-stderr simlog-state save --batch --compress zlib < in.jsonl
	assert_success
	printf '%s\n' "${lines[@]}" > saved.jsonl
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 300
	assert_equal "$(jstr id "${lines[0]}")" agent-001
	assert_equal "$(jstr compression "${lines[0]}")" zlib
	[[ ${lines[299]} == *'"id":"agent-300","version":1,'* ]]
	[[ ${lines[1]} == *'"tags":["g2"]'* ]]
	# The stored bytes are the state's exact text.
	run simlog-state load agent-007
	assert_output '{"x":7,"path":[14,21],"s":"q\"7"}'
	# load --batch takes save's output as its input.
	run --separate-stderr simlog-state load --batch < saved.jsonl
	assert_success
	assert_equal "${#lines[@]}" 300
	awk 'BEGIN {
		for (i = 1; i <= 300; i++)
			printf "{\"id\":\"agent-%03d\",\"version\":1,\"state\":{\"x\":%d,\"path\":[%d,%d],\"s\":\"q\\\"%d\"},\"tags\":[\"g%d\"]}\n",
			    i, i, i * 2, i * 3, i, i % 3
	}' > want.jsonl
	printf '%s\n' "${lines[@]}" | cmp - want.jsonl
	# And save --batch takes load's output: copy every state, as version 2.
	simlog-state load --batch < saved.jsonl | simlog-state save --batch > copy.out
	assert_equal "$(grep -c '"version":2,' copy.out)" 300
	# The copies keep their tags.
	[[ $(grep '"id":"agent-005"' copy.out) == *'"tags":["g2"]'* ]]
	run simlog-state load agent-300 --version 2
	assert_output '{"x":300,"path":[600,900],"s":"q\"300"}'
}

@test "batch mode: ttl, large states in order, and bad lines reported" {
	json_doc big.json 4500000
	json_doc mid.json 400000	# fetched after the pipelined reply
	# The documents on one line, without the white space at their end
	# (which is not part of the "state" value).
	tr '\n' ' ' < big.json | sed 's/ *$//' > big.line
	tr '\n' ' ' < mid.json | sed 's/ *$//' > mid.line
	{
		printf '{"id":"b1","state":[1],"ttl":600}\n'
		printf '{"id":"b2","state":%s}\n' "$(cat big.line)"
		printf 'not json\n'
		printf '{"id":"b3","state":%s,"tags":["m"]}\n' "$(cat mid.line)"
		printf '{"id":"bad id","state":1}\n'
		printf '{"id":"b4"}\n'
		printf '\n'
		printf '{"id":"b1","state":[2],"expect_version":0}\n'
		printf '{"id":"b1","state":[3],"expect_version":1}\n'
	} > in.jsonl
	# Uncompressed, the big state is stored in more than one 4 MiB piece.
	run --separate-stderr simlog-state save --batch --tag all --compress none < in.jsonl
	assert_equal "$status" 65
	assert_equal "${#lines[@]}" 4
	assert_equal "$(jstr id "${lines[0]}")" b1
	assert_equal "$(jstr id "${lines[1]}")" b2
	assert_equal "$(jstr id "${lines[2]}")" b3
	[[ ${lines[2]} == *'"tags":["m"]'* ]]
	[[ ${lines[1]} == *'"tags":["all"]'* ]]
	[[ ${lines[0]} =~ \"expires_at\":[0-9] ]]
	[[ ${lines[3]} == *'"id":"b1","version":2,'* ]]
	assert_equal "$(jnum stored_size "${lines[1]}")" "$(wc -c < big.line)"
	[[ $stderr == *"line 3: "*JSON* ]]
	[[ $stderr == *"line 5: "*'"id"'* ]]
	[[ $stderr == *'line 6: no "state"'* ]]
	[[ $stderr == *"line 8: b1: version conflict"* ]]
	# The big state's bytes, through both batch modes.
	simlog-state load b2 | cmp - big.line
	simlog-state load b3 | cmp - mid.line
	printf '%s\n' '{"id":"b3"}' '{"id":"nosuch"}' '{"id":"b2","version":1}' \
	    '{"id":"b1","version":1}' '{"id":"b1","version":7}' > req.jsonl
	run --separate-stderr simlog-state load --batch < req.jsonl
	assert_equal "$status" 66
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[0]}" "{\"id\":\"b3\",\"version\":1,\"state\":$(cat mid.line),\"tags\":[\"m\"]}"
	assert_equal "${lines[1]}" "{\"id\":\"b2\",\"version\":1,\"state\":$(cat big.line),\"tags\":[\"all\"]}"
	# (Saved again without a ttl, b1 no longer expires.)
	assert_equal "${lines[2]}" '{"id":"b1","version":1,"state":[1],"tags":["all"]}'
	[[ $stderr == *"line 2: nosuch: no such state"* ]]
	[[ $stderr == *"line 5: b1: no version 7"* ]]
}

@test "load --batch carries tags and the time left: simlog-state(1)'s copy to another Redis keeps both" {
	local main=$REDIS_URL
	printf '{"v":%d}' 1 | simlog-state save a1 --tag exp1 --tag x --ttl 600 >/dev/null
	printf '{"v":%d}' 2 | simlog-state save a2 --tag exp1 >/dev/null
	printf '{"v":%d}' 3 | simlog-state save b1 --tag other >/dev/null
	run --separate-stderr simlog-state load --batch <<< '{"id":"a1"}'
	[[ $output =~ ^\{\"id\":\"a1\",\"version\":1,\"state\":\{\"v\":1\},\"tags\":\[\"exp1\",\"x\"\],\"ttl\":(5[0-9][0-9]|600)(\.[0-9]+)?\}$ ]]
	start_redis backup
	# The page's example, the backup's URL swapped in.
	simlog-state -u "$main" list --tag exp1 | simlog-state -u "$main" load --batch |
		simlog-state -u "$REDIS_URL" save --batch > copied.jsonl
	assert_equal "$(wc -l < copied.jsonl)" 2
	run simlog-state -u "$REDIS_URL" list --tag exp1
	assert_equal "${#lines[@]}" 2
	run simlog-state -u "$REDIS_URL" meta a1
	[[ $output == *'"tags":["exp1","x"]'* ]]
	[[ $output =~ \"expires_at\":[0-9] ]]
	run simlog-state -u "$REDIS_URL" meta a2
	[[ $output == *'"tags":["exp1"]'* ]]
	[[ $output == *'"expires_at":null'* ]]
	run simlog-state -u "$REDIS_URL" load a1
	assert_output '{"v":1}'
	run simlog-state -u "$REDIS_URL" meta b1
	assert_failure 66
}

@test "load --batch puts a multi-line document on one line; refuses --raw states" {
	json_doc doc.json 3000
	simlog-state save pretty < doc.json >/dev/null
	printf 'x\ny' | simlog-state save bytes --raw >/dev/null
	printf '%s\n' '{"id":"pretty"}' '{"id":"bytes"}' > req.jsonl
	run --separate-stderr simlog-state load --batch < req.jsonl
	assert_equal "$status" 65
	assert_equal "${#lines[@]}" 1
	assert_equal "$output" "{\"id\":\"pretty\",\"version\":1,\"state\":$(tr '\n' ' ' < doc.json)}"
	[[ $stderr == *"line 2: bytes version 1: saved with --raw"* ]]
}

@test "bad input: non-JSON, bad IDs and options, missing states and versions" {
	local bad
	for bad in 'not json' '{"a":1' '{"a":1} {}' '[1,2' '1 2' '' '   ' \
	    '{"a":"'$'\x01''"}' $'{"a":"\xff"}'; do
		run --separate-stderr simlog-state save j <<< "$bad"
		assert_equal "$status" 65
		assert_equal "$output" ""
		[[ $stderr == "simlog-state: standard input: "*"--raw"* ]]
	done
	printf 'a\0b' | { run --separate-stderr simlog-state save j; assert_equal "$status" 65; }
	assert_equal "$(rcli dbsize)" 0
	for bad in 'a b' 'a{b}' '' "$(printf 'x%.0s' $(seq 1 129))" 'é'; do
		run --separate-stderr simlog-state load "$bad"
		assert_equal "$status" 64
		[[ $stderr == "simlog-state: invalid ID '"* ]]
	done
	printf 'x%.0s' $(seq 1 128) > id128
	printf '{}' | simlog-state save "$(cat id128)" >/dev/null
	run simlog-state load "$(cat id128)"
	assert_output '{}'
	run --separate-stderr simlog-state load missing
	assert_equal "$status" 66
	assert_equal "$stderr" "simlog-state: missing: no such state"
	run --separate-stderr simlog-state meta "$(cat id128)" --version 2
	assert_equal "$status" 66
	run --separate-stderr simlog-state load "$(cat id128)" --version 2
	assert_equal "$status" 66
	[[ $stderr == *"no version 2" ]]
	run --separate-stderr simlog-state versions missing
	assert_equal "$status" 66
	# Usage errors: exit 64, nothing done.
	local args
	while IFS= read -r args; do
		eval "run --separate-stderr simlog-state $args < /dev/null"
		[ "$status" -eq 64 ] || { echo "simlog-state $args: exit $status: $stderr"; return 1; }
		assert_equal "$output" ""
	done <<-'EOF'
		frobnicate x
		save
		load a b
		rollback a
		rollback a --to 0
		prune a
		prune a --keep 0
		save a --ttl 0
		save a --ttl -1
		save a --compress gzip
		save a --tag 'a b'
		save a --max-versions -1
		save a --expect-version x
		save a --to 3
		load a --raw
		list a
		list --tag 'x,y'
		stats --keep 1
		versions a --version 1
		save --batch --raw
		save --batch --expect-version 1
		load --batch --version 2
		load a --version 0
		--ttl 5 save a
	EOF
}

@test "Redis unreachable, refusing the password, or lacking the state" {
	run --separate-stderr simlog-state -u "unix://$BATS_TEST_TMPDIR/none.sock" load a
	assert_equal "$status" 69
	[[ $stderr == "simlog-state: cannot connect to "* ]]
	start_redis locked --requirepass sekret
	run --separate-stderr simlog-state -u "$REDIS_URL" stats
	assert_equal "$status" 77
	echo sekret > pw
	run --separate-stderr simlog-state -u "$REDIS_URL" --password-file pw stats
	assert_success
	assert_equal "$(jnum ids "$output")" 0
	# Global options may also follow the command.
	run --separate-stderr simlog-state stats -u "$REDIS_URL" --password-file pw
	assert_success
}

@test "one connection named simlog-state; keys carry the ID as a hash tag" {
	mkfifo in.fifo
	simlog-state save --batch < in.fifo > batch.out &
	local pid=$!
	track "$pid"
	exec 8> in.fifo
	printf '{"id":"run:7.a-b_c","state":{}}\n' >&8
	wait_until "the save" grep -q version batch.out
	run rcli client list
	assert_equal "$(grep -c 'name=simlog-state' <<< "$output")" 1
	exec 8>&-
	wait "$pid"
	run state_keys
	assert_output "$(printf '%s\n' \
	    'simlog:state:{run:7.a-b_c}:data:1' 'simlog:state:{run:7.a-b_c}:head' \
	    'simlog:state:{run:7.a-b_c}:meta:1' \
	    'simlog:state:{run:7.a-b_c}:versions' | sort)"
	# Nothing outside the state prefix, nothing in the buffer's keys.
	assert_equal "$(rcli dbsize)" 4
	run rcli hgetall 'simlog:state:{run:7.a-b_c}:meta:1'
	assert_line compression
	assert_line lz4
	assert_line checksum
}

@test "a closed pipe downstream ends load quietly" {
	head -c 3000000 /dev/urandom > r.bin
	simlog-state save p --raw < r.bin >/dev/null
	run --separate-stderr bash -c 'set -o pipefail; simlog-state load p | head -c 10 >/dev/null'
	assert_success
	assert_equal "$stderr" ""
}

@test "a 100 MB state saves and loads with memory a small multiple of its size" {
	[ -z "${VALGRIND:-}" ] || skip "too slow under valgrind"
	# At most three times the state; AddressSanitizer's own bookkeeping
	# (redzones, freed memory held in quarantine) gets twice that.
	local limit=300000
	if ldd "$(command -v simlog-state)" | grep -q libasan; then
		limit=600000
	fi
	# Random bytes, LZ4: the stored value is as large as the state, and
	# both are in memory at once, the worst case.
	head -c 100000000 /dev/urandom > big.bin
	maxrss simlog-state save big --raw < big.bin > save.out
	echo "# save: peak RSS $RSS_KB KiB (limit $limit)"
	[ "$RSS_KB" -lt "$limit" ]
	[[ $(cat save.out) == *'"size":100000000,'* ]]
	maxrss simlog-state load big > big.out
	echo "# load: peak RSS $RSS_KB KiB (limit $limit)"
	[ "$RSS_KB" -lt "$limit" ]
	cmp big.bin big.out
	simlog-state delete big >/dev/null
	assert_equal "$(rcli dbsize)" 0
}

@test "load -o FILE: FILE is replaced only by a loaded, verified state" {
	printf '{"v":1}' | simlog-state save s >/dev/null
	printf '{"v":2}' | simlog-state save s >/dev/null
	printf 'precious\n' > out.json
	chmod 640 out.json
	local inode
	inode=$(stat -c %i out.json)
	# A missing ID or version, or a corrupt state: FILE as it was.
	run --separate-stderr simlog-state load nosuch -o out.json
	assert_equal "$status" 66
	run --separate-stderr simlog-state load s --version 3 -o out.json
	assert_equal "$status" 66
	assert_equal "$stderr" "simlog-state: s: no version 3"
	rcli setrange 'simlog:state:{s}:data:1' 2 XY >/dev/null
	run --separate-stderr simlog-state load s --version 1 -o out.json
	assert_equal "$status" 65
	assert_equal "$(cat out.json)" precious
	assert_equal "$(stat -c %i out.json)" "$inode"
	# Loaded: the whole state, in place of the old file, which keeps its
	# permissions; nothing else is left in the directory.
	run --separate-stderr simlog-state load s -o out.json
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	assert_equal "$(cat out.json)" '{"v":2}'
	assert_equal "$(stat -c %a out.json)" 640
	[ "$(stat -c %i out.json)" != "$inode" ]
	assert_equal "$(find . -maxdepth 1 -name '*out.json*' | sort)" ./out.json
	# A new file gets the permissions of a shell redirection; --output
	# and a path in another directory work the same.
	mkdir sub
	(umask 027; simlog-state load s --output sub/new.json)
	assert_equal "$(stat -c %a sub/new.json)" 640
	assert_equal "$(cat sub/new.json)" '{"v":2}'
	# Large states in pieces, byte for byte.
	head -c 5000000 /dev/urandom > big.bin
	simlog-state save big --raw < big.bin >/dev/null
	simlog-state load big -o big.out
	cmp big.bin big.out
	# A directory that does not exist: 73, nothing created.
	run --separate-stderr simlog-state load s -o nodir/x.json
	assert_equal "$status" 73
	[[ $stderr == "simlog-state: cannot create nodir/x.json: "* ]]
	[ ! -e nodir ]
	# Only load ID takes -o.
	run --separate-stderr simlog-state load --batch -o x < /dev/null
	assert_equal "$status" 64
	run --separate-stderr simlog-state meta s -o x
	assert_equal "$status" 64
	run --separate-stderr simlog-state -o x load s
	assert_equal "$status" 64
	[[ $stderr == *"-o: an option of a command"* ]]
}

@test "messages: an over-long ID or argument is shown cut, with its length" {
	local long
	long=$(printf 'x%.0s' $(seq 1 5000))
	run --separate-stderr simlog-state load "$long"
	assert_equal "$status" 64
	assert_equal "$stderr" "simlog-state: invalid ID '$(printf 'x%.0s' $(seq 1 40))...' (5000 bytes): use 1-128 of [A-Za-z0-9_.:-]"
	run --separate-stderr simlog-state load a "$long"
	assert_equal "$status" 64
	[[ ${#stderr} -lt 200 ]]
	[[ $stderr == *"(5000 bytes)"* ]]
	run --separate-stderr simlog-state save a --tag "$long" < /dev/null
	assert_equal "$status" 64
	[[ ${#stderr} -lt 200 ]]
	run --separate-stderr simlog-state "$long"
	assert_equal "$status" 64
	[[ ${#stderr} -lt 200 ]]
}

# oom_possible: whether a limit on address space makes malloc fail here
# (AddressSanitizer and valgrind need far more address space themselves).
oom_possible() {
	[ -z "${VALGRIND:-}" ] && ! ldd "$(command -v simlog-state)" | grep -q libasan
}

@test "exit status: every code simlog-state(1) lists, each caused for real" {
	local st
	# 0
	run --separate-stderr simlog-state save a <<< '{"a":1}'
	assert_equal "$status" 0
	# 64 bad usage
	run --separate-stderr simlog-state load 'bad id'
	assert_equal "$status" 64
	# 65 not JSON
	run --separate-stderr simlog-state save a <<< 'not json'
	assert_equal "$status" 65
	# 66 no such state; the password file unreadable
	run --separate-stderr simlog-state load nosuch
	assert_equal "$status" 66
	run --separate-stderr simlog-state --password-file "$BATS_TEST_TMPDIR/nopw" stats
	assert_equal "$status" 66
	# 69 Redis unreachable
	run --separate-stderr simlog-state -u "unix://$BATS_TEST_TMPDIR/none.sock" stats
	assert_equal "$status" 69
	# 70 internal error: out of memory
	if oom_possible; then
		run --separate-stderr bash -c 'ulimit -v 100000; head -c 200000000 /dev/zero | simlog-state save big --raw'
		assert_equal "$status" 70
		assert_equal "$stderr" "simlog-state: out of memory"
	fi
	# 71 out of open files: no socket to Redis
	if [ -z "${VALGRIND:-}" ]; then
		limit_for "simlog-state stats"
		assert_equal "$status" 71
	fi
	# 73 FILE cannot be created
	run --separate-stderr simlog-state load a -o "$BATS_TEST_TMPDIR/no/dir"
	assert_equal "$status" 73
	# 74 writing standard output failed
	run --separate-stderr sh -c 'simlog-state meta a > /dev/full'
	assert_equal "$status" 74
	[[ $stderr == *"write error"* ]]
	# 75 Redis failed part-way: out of memory, with noeviction
	rcli config set maxmemory 1 >/dev/null
	run --separate-stderr simlog-state save a <<< '{"a":2}'
	rcli config set maxmemory 0 >/dev/null
	assert_equal "$status" 75
	[[ $stderr == *"maxmemory"* ]]
	# 77 authentication refused
	start_redis locked --requirepass sekret
	run --separate-stderr simlog-state -u "$REDIS_URL" stats
	assert_equal "$status" 77
	# 78 configuration: an empty password file; a database the server
	# does not have; a password the server does not use; a replica
	: > empty.pw
	run --separate-stderr simlog-state -u "$REDIS_URL" --password-file empty.pw stats
	assert_equal "$status" 78
	start_redis plain
	run --separate-stderr simlog-state -u "$REDIS_URL?db=16" stats
	assert_equal "$status" 78
	assert_equal "$stderr" "simlog-state: $REDIS_URL?db=16: ERR DB index is out of range: no such database on this server (see its 'databases'): use a lower /DB in the URL"
	echo sekret > pw
	run --separate-stderr simlog-state -u "$REDIS_URL" --password-file pw stats
	assert_equal "$status" 78
	[[ $stderr == *"the server has no password: give none" ]]
	start_redis replica --replicaof 127.0.0.1 1
	run --separate-stderr simlog-state -u "$REDIS_URL" save a <<< '{"a":3}'
	assert_equal "$status" 78
	[[ $stderr == *"read-only replica"* ]]
	# 79 --expect-version conflict
	run --separate-stderr simlog-state save a --expect-version 0 <<< '{"a":4}'
	assert_equal "$status" 79
	# And nothing else: every status above is in the man page.
	local code
	for code in 0 64 65 66 69 70 71 73 74 75 77 78 79; do
		grep -q "^\.B $code\$" "$SIMLOG_TOP/man/simlog-state.1" ||
			{ echo "man page lacks $code"; return 1; }
	done
	assert_equal "$(sed -n '/^\.SH EXIT STATUS/,/^\.SH/p' "$SIMLOG_TOP/man/simlog-state.1" |
	    grep -c '^\.B [0-9]*$')" 13
}

# --- damage and concurrency (simlog-state(1) EXIT STATUS: 65, 79) --------

@test "rollback checks what it copies: a damaged value or damaged metadata is refused (65) and nothing is written" {
	printf '{"v":1}' | simlog-state save r >/dev/null
	printf '{"v":2}' | simlog-state save r >/dev/null
	flip 'simlog:state:{r}:data:1' 3
	state_keys > before
	rcli hgetall 'simlog:state:{r}:head' > head.before
	run --separate-stderr simlog-state rollback r --to 1
	assert_equal "$status" 65
	assert_equal "$output" ""
	[[ $stderr == "simlog-state: r version 1: stored state is corrupt: "* ]]
	state_keys | cmp before -
	rcli hgetall 'simlog:state:{r}:head' | cmp head.before -
	printf '{"v":3}' | simlog-state save m >/dev/null
	rcli hset 'simlog:state:{m}:meta:1' checksum zz >/dev/null
	state_keys > before
	run --separate-stderr simlog-state rollback m --to 1
	assert_equal "$status" 65
	assert_equal "$stderr" "simlog-state: m version 1: stored metadata is damaged"
	state_keys | cmp before -
	assert_equal "$(rcli hget 'simlog:state:{m}:head' seq)" 1
}

@test "rollback of a version whose metadata hash is huge: the fields simlog writes are copied, every key keeps the ID's expiry" {
	printf '{"v":1}' | simlog-state save h --ttl 600 >/dev/null
	awk 'BEGIN { printf "HSET simlog:state:{h}:meta:1"
		for (i = 1; i <= 20000; i++) printf " x%d y", i
		print "" }' | rcli >/dev/null
	run -0 --separate-stderr simlog-state rollback h --to 1
	assert_equal "$(jnum version "$output")" 2
	assert_equal "$(jnum rollback_of "$output")" 1
	assert_equal "$(simlog-state load h)" '{"v":1}'
	assert_equal "$(rcli hlen 'simlog:state:{h}:meta:2')" 9
	local k
	for k in $(state_keys); do
		[ "$(rcli pttl "$k")" -gt 0 ] || { echo "$k has no TTL"; return 1; }
	done
}

@test "load --version N of a state over 4 MiB reads data:N whatever its metadata says; metadata naming another version is refused (65)" {
	head -c 6000000 /dev/urandom > one.bin
	head -c 6000000 /dev/urandom > two.bin
	simlog-state save v --raw --compress none < one.bin >/dev/null
	simlog-state save v --raw --compress none < two.bin >/dev/null
	simlog-state load v --version 2 | cmp two.bin -
	# Version 2's metadata claims to be version 1's (same size).
	rcli hset 'simlog:state:{v}:meta:2' version 1 >/dev/null
	run --separate-stderr simlog-state load v --version 2
	assert_equal "$status" 65
	assert_equal "$output" ""
	assert_equal "$stderr" "simlog-state: v version 2: stored metadata is damaged: it says version 1"
	run --separate-stderr simlog-state load v
	assert_equal "$status" 65
}

@test "meta, versions and list name a listed version whose metadata is missing (65) instead of printing nothing" {
	printf '{"v":1}' | simlog-state save z >/dev/null
	printf '{"v":1}' | simlog-state save ok >/dev/null
	rcli zadd 'simlog:state:{z}:versions' 7 7 >/dev/null
	local says="simlog-state: z version 7: listed, but its stored metadata is missing or damaged"
	run --separate-stderr simlog-state meta z
	assert_equal "$status" 65
	assert_equal "$output" ""
	assert_equal "$stderr" "$says"
	run --separate-stderr simlog-state versions z
	assert_equal "$status" 65
	assert_equal "$(jnum version "$output")" 1
	assert_equal "$stderr" "$says"
	run --separate-stderr simlog-state list
	assert_equal "$status" 65
	assert_equal "$(jstr id "$output")" ok
	assert_equal "$stderr" "$says"
	run --separate-stderr simlog-state load z
	assert_equal "$status" 65
	assert_equal "$stderr" "simlog-state: z: the latest version: listed, but its stored metadata is missing or damaged"
}

@test "loads of a 12 MB state while saves with --max-versions 1 prune it: every load completes with a whole saved state" {
	head -c 12000000 /dev/urandom > a.bin
	head -c 12000000 /dev/urandom > b.bin
	simlog-state save big --raw --compress none --max-versions 1 < a.bin >/dev/null
	(
		for i in $(seq 1 60); do
			[ $((i % 2)) = 0 ] && f=a.bin || f=b.bin
			simlog-state save big --raw --compress none \
			    --max-versions 1 < "$f" >/dev/null || exit 1
		done
	) &
	local saver=$! i rc fails=0 v0 v1
	track $saver
	v0=$(jnum version "$(simlog-state meta big)")
	for i in $(seq 1 40); do
		rc=0
		simlog-state load big > out.bin 2> err.txt || rc=$?
		if [ "$rc" -ne 0 ]; then
			cat err.txt
			fails=$((fails + 1))
		elif ! cmp -s out.bin a.bin && ! cmp -s out.bin b.bin; then
			echo "load $i: neither state"
			fails=$((fails + 1))
		fi
	done
	v1=$(jnum version "$(simlog-state meta big)")
	wait $saver
	echo "# 40 loads while $((v1 - v0)) saves pruned the version before"
	[ $((v1 - v0)) -ge 5 ]
	assert_equal "$fails" 0
}

# mid_read OUT ERR PRUNE LOAD-ARGS...: run simlog-state LOAD-ARGS (stdout to
# OUT, stderr to ERR), stop it (SIGSTOP) right after Redis sees its first
# GETRANGE, and if it has not asked for all of the pieces then, run the
# pruning save PRUNE (a shell command), let the load go on and print its
# exit status; print "early" when it was done too soon to be caught.
# Redis's MONITOR says what the load has asked for, not a clock.
mid_read() {
	python3 - "$REDIS_SOCK" "$@" <<'PY'
import os, signal, socket, subprocess, sys, time
sock, out, err, prune, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
m = socket.socket(socket.AF_UNIX)
m.connect(sock)
m.sendall(b'MONITOR\r\n')
buf = b''
while b'+OK\r\n' not in buf:
    buf += m.recv(4096)
buf = b''
p = subprocess.Popen(['simlog-state', '--timeout', '60'] + args,
                     stdout=open(out, 'wb'), stderr=open(err, 'wb'))
def getranges(deadline):
    global buf
    m.settimeout(max(deadline - time.time(), 0.001))
    try:
        buf += m.recv(1 << 16)
    except socket.timeout:
        pass
    return buf.count(b'"GETRANGE"') + buf.count(b'"getrange"')
end = time.time() + 60
while getranges(end) == 0 and p.poll() is None and time.time() < end:
    pass
os.kill(p.pid, signal.SIGSTOP)
# What it sent before the stop arrives within a moment.
settle = time.time() + 0.3
while time.time() < settle:
    n = getranges(settle)
if n == 0 or n >= 10 or p.poll() is not None:
    os.kill(p.pid, signal.SIGCONT)
    p.wait()
    print('early')
    sys.exit(0)
subprocess.run(prune, shell=True, check=True, stdout=subprocess.DEVNULL)
os.kill(p.pid, signal.SIGCONT)
print(p.wait())
PY
}

@test "a version pruned while it is read: asked for by number, exit 79 (not 66, no such ID); the latest is read again whole, exit 0" {
	# 40 MB stored as it is: ten pieces of 4 MiB.
	head -c 40000000 /dev/urandom > a.bin
	printf '{"newer":1}' > b.json
	local try rc v
	# By number: the version the next save prunes.
	for try in $(seq 1 10); do
		v=$(jnum version "$(simlog-state save p --raw --compress none < a.bin)")
		rc=$(mid_read out.bin err.txt \
		    'simlog-state save p --max-versions 1 < b.json' load p --version "$v")
		[ "$rc" = early ] || break
	done
	echo "# caught mid-read at try $try"
	cat err.txt
	assert_equal "$rc" 79
	assert_equal "$(cat err.txt)" "simlog-state: p version $v: deleted while it was being read (pruned by a newer save, or deleted)"
	[ ! -s out.bin ]
	# The latest: read again, whole, as the newer save left it.
	for try in $(seq 1 10); do
		simlog-state save q --raw --compress none < a.bin >/dev/null
		rc=$(mid_read out.bin err.txt \
		    'simlog-state save q --max-versions 1 < b.json' load q)
		[ "$rc" = early ] || break
	done
	echo "# caught mid-read at try $try"
	cat err.txt
	assert_equal "$rc" 0
	cmp b.json out.bin
}

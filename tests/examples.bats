#!/usr/bin/env bats
# Every command block of README.md and of the man pages' EXAMPLES (and of
# simlog(7)'s cron and systemd lines), run as a newcomer pastes it, with the
# tools installed by make install, against servers of the test's own: the
# URLs, hosts and absolute paths of the examples swapped for private ones,
# nothing else.  A block that cannot run here is in the plan below with the
# reason.  Every block must be in the plan and every entry of the plan must
# name a block, so a new example cannot go untested, nor a changed one
# unnoticed.
# once: the examples run the installed plain build

bats_require_minimum_version 1.5.0

# --- the plan -----------------------------------------------------------------
# One entry per block: its file and first line, then on an indented line
# "run GROUP RUNNER" (the test named GROUP runs it with the function r_RUNNER)
# or "skip REASON".

plan() {
	cat <<'PLAN'
README.md: make demo     # installs what is missing, starts a private redis-server,
	skip make demo is tests/demo.bats; make check is the suite this runs in
README.md: make deb                                  # build/deb/*.deb
	skip tests/package.bats runs make deb and this apt-get line, as root, and purges what it installed
README.md: export SIMLOG_REDIS_URL=redis://127.0.0.1:6379/0   # the default
	run redis pipeline
README.md: ./my-simulation | simlog-push --tee -s run42 | ./live-plot
	run redis tee
README.md: PATH=/usr/local/bin:/usr/bin:/bin
	skip tests/cron.bats runs this crontab as cron runs it
README.md: install -D -m 600 /usr/local/share/simlog/simlog.env.example /etc/simlog/simlog.env
	skip systemctl enable --now needs a running systemd (the CI container has none); tests/systemd.bats and tests/package.bats check the units with systemd-analyze verify
README.md: simlog-drain --follow --schema agentfarm -d results.db &
	run redis follow
README.md: simlog-ping --wait 10 --check
	run redis state_readme
README.md: # a Redis Cluster, found through any of its seed nodes
	run topo each_export
README.md: ./my-simulation | simlog-push -s run42 --wait-replicas 1
	run topo replicas
README.md: runuser -u postgres -- createuser --createdb "$(id -un)"   # as root
	run pg role
README.md: createdb results
	run pg readme_pg
README.md: export SIMLOG_DB=postgresql://simlog@db.example.org/results
	run pg follow_pg
README.md: simlog-drain -s run42 --corrupt list
	run redis corrupt
README.md: simlog-push --replay-from redis://10.0.0.5:7000/0 -u redis-cluster://10.0.0.5:7000,10.0.0.6:7000
	run topo replay_cluster
README.md: #include <simlog.h>
	skip a fragment of C, not a command: examples/sim-writer.c is the whole program, which tests/capi.bats builds and runs
README.md: lib/          libsimlog.  Installed headers, the C API (libsimlog(3)):
	skip not a command: the layout of the tree
README.md: import simlog
	run redis python
README.md: farm.database.utilities.setup_db = simlog.agentfarm.setup_db
	skip needs AgentFarm, which is not ours to ship; tests/python.bats calls simlog.agentfarm.setup_db and DatabaseFactory with AgentFarm's signatures and drains what they write
simlog-python.3: import simlog
	run redis python
simlog-python.3: $ simlog-drain -d results.db
	run redis prompt_steps
simlog-python.3: import farm.database.utilities, simlog.agentfarm
	skip needs AgentFarm and its configuration, which are not ours to ship; tests/python.bats runs an AgentFarm-shaped run through simlog.agentfarm.DataLogger
simlog-python.3: $ simlog-drain --schema agentfarm -d runs/simulation.db
	skip drains the AgentFarm run of the block before it; tests/python.bats drains the DataLogger's records with --schema agentfarm and compares them with AgentFarm's own tables
libsimlog.3: $ export SIMLOG_REDIS_URL=redis://127.0.0.1:6379/0 SIMLOG_SIM=run42
	run redis capi_session
libsimlog.3: .ta 8n 16n 24n 32n 40n 48n 56n 64n 72n
	skip the program's source, not a command: tests/capi.bats checks that it is examples/sim-writer.c as it is, and builds and runs that
libsimlog.3: $ SIMLOG_SIM=run42 ./sim-writer 4 100
	run redis drainer_session
libsimlog.3: .ta 8n 16n 24n 32n 40n 48n 56n 64n 72n
	skip the program's source, not a command: tests/capi.bats checks that it is examples/sim-drainer.c as it is, and builds and runs that
simlog-drain.1: PATH=/usr/local/bin:/usr/bin:/bin
	run cron cron_drain
simlog-drain.1: sim | simlog-push --tee -s run42 --reject run42.rejects > run42.jsonl
	run redis sh
simlog-drain.1: simlog-drain -s run42 -d /data/run42.db
	run redis seeded_drain
simlog-drain.1: SIMLOG_RETRIES=8 SIMLOG_RETRY_CAP=10 SIMLOG_BREAKER_FAILURES=10 \
	run redis seeded_drain
simlog-drain.1: simlog-drain -u redis://simlog:@buffer.example.org/0 \
	run redis acl_drain
simlog-drain.1: simlog-drain --schema agentfarm -f -d results.db
	run redis follow
simlog-drain.1: export PGPASSFILE=$HOME/.pgpass
	run pg pgpass
simlog-drain.1: simlog-drain -s run42 --corrupt purge > run42.corrupt.jsonl
	run redis corrupt
simlog-drain.1: simlog-drain -s run42 --discard
	run redis discard
simlog-drain.1: sqlite3 results.db "SELECT type, error, count(*) FROM simlog_rejects GROUP BY 1, 2"
	run redis rejects
simlog-ping.1: simlog-ping -u redis://redis:6379/0 --wait 30 --check
	run redis sh
simlog-ping.1: simlog-ping -u rediss://redis.example.org:6380/0 --tls-ca ca.pem \
	run topo tls_files
simlog-ping.1: simlog-ping -u redis-cluster://10.0.0.5:7000,10.0.0.6:7000 |
	run topo cluster_masters
simlog-ping.1: simlog-ping -c 100 -i 0 | jq .latency_ms.p99
	run redis number
simlog-ping.1: if ! simlog-ping --wait 10 >/dev/null; then
	run redis sh
simlog-pool-stats.1: simlog-pool-stats | jq .clients_by_name
	run redis sh
simlog-pool-stats.1: PATH=/usr/local/bin:/usr/bin:/bin
	run cron cron_quiet
simlog-pool-stats.1: PATH=/usr/local/bin:/usr/bin:/bin
	run cron cron_textfile
simlog-pool-stats.1: simlog-pool-stats -u rediss-cluster://10.0.0.11:6380,10.0.0.12:6380 \
	run topo tls_files
simlog-pool-stats.1: simlog-pool-stats --watch 2 --format table
	run redis watch
simlog-pool-stats.1: simlog-pool-stats -w 60 -n 60 |
	run redis hour
simlog-push.1: sim | simlog-push -s run42
	run redis sh
simlog-push.1: sim | simlog-push --tee -s run42 | gzip > run42.jsonl.gz
	run redis sh
simlog-push.1: simlog-push -s run42 --reject run42.rejects < run42.jsonl
	run redis mend
simlog-push.1: export SIMLOG_REDIS_URL=rediss://buffer.example.org:6380/0
	run topo tls_files
simlog-push.1: sim | simlog-push -s run42 --wait-replicas 1 \
	run topo tls_files
simlog-push.1: sim | simlog-push -s run42 --priority critical --deadline 600 \
	run redis sh
simlog-push.1: sim | simlog-push -s run42-trace --priority low
	run redis sh
simlog-push.1: simlog-push --spool-status | tail -n 1
	run redis sh
simlog-push.1: simlog-push --replay-from redis://10.0.0.5:7000/0 \
	run topo replay_cluster
simlog-push.1: PATH=/usr/local/bin:/usr/bin:/bin
	run cron cron_replay
simlog-schema.5: # ticks.schema
	skip a schema file, not a command: the next block's runner saves it as ./ticks.schema and drains with it
simlog-schema.5: simlog-drain -d results.db --schema ./ticks.schema
	run redis ticks
simlog-schema.5: ./simulation | simlog-push -s run42
	run redis agentfarm
simlog-schema.5:     lineage      TEXT     default "unknown"
	run redis lineage
simlog-state.1: sim --dump-state | simlog-state save run42 --ttl 86400 \
	run redis sh
simlog-state.1: simlog-state load run42 | sim --restore -
	run redis versions
simlog-state.1: v=$(simlog-state meta cfg | jq .version)
	run redis cas
simlog-state.1: simlog-state rollback run42 --to $(( $(simlog-state meta run42 |
	run redis versions
simlog-state.1: jq -c '.agents[] | {id: ("exp1." + .name), state: .}' world.json |
	run redis world
simlog-state.1: simlog-state list --tag exp1 | simlog-state load --batch |
	run redis copy_states
simlog-state.1: simlog-state -u redis-sentinel://10.0.0.5:26379,10.0.0.6:26379/states \
	run topo sentinel_state
simlog-state.1: simlog-state save weights --raw --compress zlib < weights.npy
	run redis raw
simlog.7: PATH=/usr/local/bin:/usr/bin:/bin
	skip the README's crontab: tests/cron.bats checks that the two are the same and runs it as cron runs it
simlog.7: # after make install (the Debian package installs the file itself):
	skip systemctl enable --now needs a running systemd (the CI container has none); tests/systemd.bats and tests/package.bats check the units with systemd-analyze verify
PLAN
}

# --- the blocks -----------------------------------------------------------------

# extract_blocks DIR: each block in DIR/N, and DIR/index with "N<TAB>KEY"
# lines, KEY being "FILE: first line".  README.md's blocks are its indented
# ones; a man page's are its .EX/.EE blocks under EXAMPLES (simlog(7)'s under
# RUNNING FROM CRON OR SYSTEMD), roff escapes undone.
extract_blocks() {
	local d=$1 f
	mkdir -p "$d"
	{
		awk '
		function flush() {
			if (n) { sub(/\n+$/, "\n", blk); printf "\001README.md: %s\n%s", first, blk }
			n = 0; blk = ""
		}
		/^    / { l = substr($0, 5); if (!n) first = l; blk = blk l "\n"; n++; next }
		/^$/ { if (n) blk = blk "\n"; next }
		{ flush() }
		END { flush() }' "$SIMLOG_TOP/README.md"
		for f in "$SIMLOG_TOP"/man/*.[1357]; do
			awk -v name="${f##*/}" '
			/^\.SH/ { ex = $0 ~ /EXAMPLES/ || (name == "simlog.7" && $0 ~ /RUNNING FROM CRON/); next }
			ex && /^\.EX/ { on = 1; blk = ""; first = ""; next }
			ex && on && /^\.EE/ { on = 0; printf "\001%s: %s\n%s", name, first, blk; next }
			ex && on { if (first == "") first = $0; blk = blk $0 "\n" }' "$f" |
				sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e "s/\\\\(aq/'/g" \
				    -e 's/\\(dq/"/g' -e 's/\\(ti/~/g' -e 's/\\&//g'
		done
	} | awk -v d="$d" '
		/^\001/ { n++; f = d "/" n; printf "%d\t%s\n", n, substr($0, 2) > (d "/index"); next }
		{ print > f }'
}

# plan_entries: "KEY<TAB>ACTION" per entry of the plan.
plan_entries() {
	plan | awk '/^\t/ { sub(/^\t/, ""); print key "\t" $0; next } { key = $0 }'
}

# block_of KEY: the file holding the block with that key (the first of
# equal keys not yet taken, so that blocks sharing a first line each get
# theirs in order).
block_of() {
	local n k
	while IFS=$'\t' read -r n k; do
		[ "$k" = "$1" ] || continue
		[ -e "$BLOCKS/taken.$n" ] && continue
		touch "$BLOCKS/taken.$n"
		echo "$BLOCKS/$n"
		return 0
	done < "$BLOCKS/index"
	return 1
}

# --- setup ------------------------------------------------------------------------

setup_file() {
	load helpers
	export BLOCKS="$BATS_FILE_TMPDIR/blocks"
	extract_blocks "$BLOCKS"
	# The tools as a newcomer has them: make install into a prefix.
	export PREFIX_DIR="$BATS_FILE_TMPDIR/prefix"
	make -C "$SIMLOG_TOP" --no-print-directory -s SANITIZE= install \
		PREFIX="$PREFIX_DIR" > "$BATS_FILE_TMPDIR/install.log" 2>&1 ||
		{ cat "$BATS_FILE_TMPDIR/install.log" >&3; return 1; }
	# What the examples call sim, ./my-simulation and the like.
	export FAKEBIN="$BATS_FILE_TMPDIR/fakebin"
	mkdir -p "$FAKEBIN"
	cat > "$FAKEBIN/sim" <<SIM
#!/bin/sh
# A simulation: AgentFarm-shaped records, its state, a restore.
case \${1:-} in
--dump-state) echo '{"step":12,"agents":[{"name":"a","energy":3}]}' ;;
--restore) cat > /dev/null ;;
*) exec "$SIMGEN" --ids -n 600 -s 7 ;;
esac
SIM
	chmod +x "$FAKEBIN/sim"
	: > "$BATS_FILE_TMPDIR/ran"
}

setup() {
	load helpers
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	BIN="$PREFIX_DIR/bin"
	SWAPS=()
	BLOCK_ENV=()
}

teardown() {
	kill_tracked
	stop_all_redis
}

# swap FROM TO: in every block of this test, FROM (a literal string) is TO.
swap() {
	SWAPS+=("$1" "$2")
}

# swapped FILE: the block's text with every swap made, and its absolute
# paths moved under the block's directory $W.
swapped() {
	local t i
	t=$(cat "$1")
	for ((i = 0; i < ${#SWAPS[@]}; i += 2)); do
		t=${t//"${SWAPS[i]}"/"${SWAPS[i + 1]}"}
	done
	t=${t//\/usr\/local\/bin/$BIN}
	t=${t//\/data\//$W/data/}
	t=${t//\/var\/log\//$W/log/}
	t=${t//\/var\/lib\/node_exporter\//$W/node_exporter/}
	t=${t//\/etc\/simlog\/password/$W/etc/simlog/password}
	t=${t//\/home\/ann\//$W/home/}
	printf '%s\n' "$t"
}

# in_block CMD...: CMD in the block's environment: a fresh home, the
# installed tools and the fake simulation on PATH, the group's variables.
in_block() {
	(cd "$W" && env -i HOME="$W/home" \
		PATH="$FAKEBIN:$BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		LC_ALL=C.UTF-8 TERM=dumb TMPDIR="$W/tmp" XDG_RUNTIME_DIR="$W/run" \
		SIMGEN="$SIMGEN" "${BLOCK_ENV[@]}" "$@")
}

# sh_block: the block ($W/block.sh) under bash, stopping at the first
# failure, as a script of pasted lines would be expected to run.
sh_block() {
	in_block bash -e -o pipefail ./block.sh
}

# run_group GROUP: every block the plan gives to GROUP, each in a directory
# of its own, by its runner; the keys that ran are noted for the last test.
run_group() {
	local key action g r f failed=0 n=0
	while IFS=$'\t' read -r key action; do
		read -r _ g r <<< "$action"
		[ "${action%% *}" = run ] && [ "$g" = "$1" ] || continue
		f=$(block_of "$key") || { echo "no block for: $key"; return 1; }
		n=$((n + 1))
		W="$BATS_TEST_TMPDIR/b$n"
		mkdir -p "$W/home" "$W/tmp" "$W/run" "$W/data" "$W/log" \
			"$W/node_exporter" "$W/etc/simlog"
		BLOCK="$f"
		swapped "$f" > "$W/block.sh"
		[ -z "${BEFORE_BLOCK:-}" ] || $BEFORE_BLOCK
		# In the background: errexit holds in the runner (an if would
		# turn it off), and its standard input is not this loop's.
		(set -e; "r_$r") > "$W/out" 2>&1 &
		if wait $!; then
			echo "$key" >> "$BATS_FILE_TMPDIR/ran"
		else
			failed=$((failed + 1))
			echo "FAILED ($r): $key"
			sed 's/^/    | /' "$W/block.sh"
			sed 's/^/    > /' "$W/out"
		fi
	done < <(plan_entries)
	echo "# $n blocks of group $1" >&3
	[ "$failed" -eq 0 ]
}

# --- the runners: each runs $W/block.sh and checks what it did -------------------

r_sh() {
	sh_block
}

# records DB: rows in every record table of DB.
records() {
	local t n=0
	for t in $(record_tables "$1"); do
		n=$((n + $(rows "$1" "$t")))
	done
	echo "$n"
}

seed() {
	in_block bash -c "sim | simlog-push -q -s ${1:-run42}" > /dev/null
}

r_pipeline() {
	cat > "$W/my-simulation" <<SIM
#!/bin/sh
exec "$SIMGEN" --ids -n 800 -s 3
SIM
	chmod +x "$W/my-simulation"
	sh_block
	[ "$(landed "$W/results.db")" = "$("$SIMGEN" --ids -n 800 -s 3 | sort)" ]
	# The query printed five rows.
	[ "$(sqlite3 "$W/results.db" "SELECT data->>'agent_id', data->>'reward' FROM action LIMIT 5" | wc -l)" -eq 5 ]
}

r_tee() {
	printf '#!/bin/sh\nexec "%s" -n 300 -s 4\n' "$SIMGEN" > "$W/my-simulation"
	printf '#!/bin/sh\nexec wc -l > "%s/plotted"\n' "$W" > "$W/live-plot"
	chmod +x "$W/my-simulation" "$W/live-plot"
	sh_block
	[ "$(cat "$W/plotted")" -eq 300 ]
}

# A block that keeps draining (--follow, or ending in &): started, left
# until the records it waits for land, then stopped by SIGTERM, which
# ends it with status 0.
r_follow() {
	seed "${FOLLOW_SIM:-run42}"
	local text
	text=$(cat "$W/block.sh")
	if [[ $text != *'&' ]]; then
		text="$text &"
	fi
	printf '%s\necho $! > bgpid\nwait $!\n' "$text" > "$W/follow.sh"
	in_block bash ./follow.sh &
	local wrapper=$!
	track "$wrapper"
	wait_until "the drain to start" test -s "$W/bgpid"
	local db=${FOLLOW_DB:-$W/results.db}
	wait_until "rows to land" ${FOLLOW_CHECK:-follow_landed} "$db"
	kill -TERM "$(cat "$W/bgpid")"
	wait_until "the drain to stop" gone "$(cat "$W/bgpid")"
	wait "$wrapper"
}

follow_landed() {
	[ -f "$1" ] && [ "$(sqlite3 "$1" "SELECT count(*) FROM agents" 2>/dev/null || echo 0)" -gt 0 ]
}

# A Python block, with the module where make install put it (as the
# install says to set PYTHONPATH for a prefix Debian's python3 does not
# search): what it wrote lands.
r_python() {
	local py
	py=$(find "$PREFIX_DIR" -name __init__.py -path '*/simlog/*' | head -n 1)
	cp "$W/block.sh" "$W/block.py"
	in_block env PYTHONPATH="${py%/simlog/__init__.py}" python3 ./block.py > "$W/py.out"
	cat "$W/py.out"
	# close() gave push's summary, as a dict.
	pushed=$(sed -n "s/.*'pushed': \([0-9]*\),.*/\1/p" "$W/py.out")
	[ "$pushed" -gt 0 ]
	in_block simlog-drain -q -d "$W/results.db" > /dev/null
	[ "$(records "$W/results.db")" = "$pushed" ]
}

# A shell session ("$ " commands and what they print) after simlog-
# python(3)'s Writer block: its commands run, and print what it shows.
r_prompt_steps() {
	local py
	py=$(find "$PREFIX_DIR" -name __init__.py -path '*/simlog/*' | head -n 1)
	in_block env PYTHONPATH="${py%/simlog/__init__.py}" python3 -c '
import simlog
with simlog.Writer(simulation="run42") as w:
    for step in range(100):
        w.write({"type": "step", "step": step, "reward": 0.5 * step})
' > /dev/null
	sed -n 's/^\$ //p' "$W/block.sh" > "$W/cmds.sh"
	grep -v '^\$ ' "$W/block.sh" > "$W/want"
	in_block bash -e -o pipefail ./cmds.sh 2> /dev/null | tail -n "$(wc -l < "$W/want")" > "$W/got"
	cmp "$W/want" "$W/got"
}

r_state_readme() {
	printf '{"step":42,"agents":[1,2,3]}' > "$W/state.json"
	sh_block
	cmp "$W/state.json" "$W/restored.json"
}

# Entries set aside: one that is no chunk, beside good records.
r_corrupt() {
	seed run42
	redis-cli -p "$PORT" XADD 'simlog:{run42}:q' '*' junk 1 > /dev/null
	in_block simlog-drain -q -d "$W/first.db" > /dev/null || true
	[ "$(redis-cli -p "$PORT" XLEN 'simlog:{run42}:corrupt')" -eq 1 ]
	sh_block
	[ "$(wc -l < "$W/run42.corrupt.jsonl")" -eq 1 ]
	[ "$(redis-cli -p "$PORT" XLEN 'simlog:{run42}:corrupt')" -eq 0 ]
}

r_discard() {
	seed run42
	sh_block
	[ -z "$(redis-cli -p "$PORT" --scan --pattern 'simlog:{run42}:*')" ]
}

r_seeded_drain() {
	seed run42
	sh_block
	local db
	db=$(ls "$W"/data/*.db)
	[ "$(records "$db")" -eq 600 ]
}

r_acl_drain() {
	redis-cli -p "$PORT" ACL SETUSER simlog on '>acl-s3cret' '~simlog:*' '&*' '+@all' > /dev/null
	printf 'acl-s3cret\n' > "$W/etc/simlog/password"
	chmod 600 "$W/etc/simlog/password"
	seed run42
	sh_block
	[ "$(records "$W/data/results.db")" -eq 600 ]
}

r_rejects() {
	# AgentFarm records, one of which its schema refuses (no agent_id).
	{ "$SIMGEN" --ids -n 200 -s 9; echo '{"type":"agent","birth_time":1}'; } |
		in_block simlog-push -q -s run42 > /dev/null
	in_block simlog-drain -q --schema agentfarm -d results.db > /dev/null
	sh_block
	grep -q '^agent|' "$W/out"
}

# A number, as jq prints one.
r_number() {
	sh_block
	grep -Eq '^[0-9]+(\.[0-9]+)?$' "$W/out"
}

# --watch goes on until stopped: SIGINT after the first tables.
r_watch() {
	in_block timeout -s INT 3 bash ./block.sh > "$W/watch.out" 2>&1 || [ $? -eq 124 ]
	grep -q '^clients ' "$W/watch.out"
}

# An hour of samples, a minute apart: the same command, 3 samples 0.2 s
# apart.
r_hour() {
	sed -i 's/-w 60 -n 60/-w 0.2 -n 3/' "$W/block.sh"
	grep -q -- '-w 0.2 -n 3' "$W/block.sh"
	seed run42
	sh_block
	[ "$(wc -l < "$W/out")" -eq 3 ]
	grep -q '"run42":600' "$W/out"
}

# The rejected lines pushed, mended (given their type), pushed again.
r_mend() {
	{ sim; echo '{"no_type":1}'; } > "$W/run42.jsonl"
	head -n 1 "$W/block.sh" > "$W/first.sh"
	tail -n +2 "$W/block.sh" > "$W/second.sh"
	run in_block bash ./first.sh
	[ "$status" -eq 65 ]
	[ "$(wc -l < "$W/run42.rejects")" -eq 1 ]
	sed -i 's/^{/{"type":"mended",/' "$W/run42.rejects"
	in_block bash -e ./second.sh
}

sim() {
	"$FAKEBIN/sim" "$@"
}

r_capi_session() {
	cp -R "$SIMLOG_TOP/examples" "$W/ex"
	rm -f "$W/ex/sim-writer"
	PKG_CONFIG_PATH="$PREFIX_DIR/lib/pkgconfig" make -C "$W/ex" --no-print-directory -s
	cp "$W/ex/sim-writer" "$W/sim-writer"
	# The lines typed after "$ ", each output after a line of its own;
	# what the page shows, the same way.
	sed -n 's/^\$ \(.*\)/echo @@; \1/p' "$W/block.sh" > "$W/typed.sh"
	in_block bash -e ./typed.sh > "$W/session.out"
	sed 's/^\$ .*/@@/' "$W/block.sh" > "$W/shown"
	session_matches "$W/shown" "$W/session.out"
}

# The drainer's example: both programs, built as the page says.
r_drainer_session() {
	cp -R "$SIMLOG_TOP/examples" "$W/ex"
	rm -f "$W/ex/sim-writer" "$W/ex/sim-drainer"
	PKG_CONFIG_PATH="$PREFIX_DIR/lib/pkgconfig" make -C "$W/ex" --no-print-directory -s
	cp "$W/ex/sim-writer" "$W/ex/sim-drainer" "$W"
	sed -n 's/^\$ \(.*\)/echo @@; \1/p' "$W/block.sh" > "$W/typed.sh"
	in_block bash -e ./typed.sh > "$W/session.out"
	sed 's/^\$ .*/@@/' "$W/block.sh" > "$W/shown"
	session_matches "$W/shown" "$W/session.out"
}

# session_matches SHOWN ACTUAL: ACTUAL's lines are SHOWN's, where a line
# "..." stands for any lines and a line ending in ",...}" for a line that
# begins as it does.
session_matches() {
	local -a want got
	local i=0 j=0
	mapfile -t want < "$1"
	mapfile -t got < "$2"
	while [ "$i" -lt "${#want[@]}" ]; do
		if [ "${want[i]}" = "..." ]; then
			i=$((i + 1))
			# Up to the next shown line (a command's start, @@).
			while [ "$j" -lt "${#got[@]}" ] && { [ "$i" -ge "${#want[@]}" ] ||
			    ! line_matches "${want[i]}" "${got[j]}"; }; do
				j=$((j + 1))
			done
			continue
		fi
		line_matches "${want[i]}" "${got[j]:-}" ||
			{ echo "shown: ${want[i]}"; echo "got:   ${got[j]:-(nothing)}"; return 1; }
		i=$((i + 1)) j=$((j + 1))
	done
	[ "$j" -eq "${#got[@]}" ] || { echo "more than shown: ${got[j]}"; return 1; }
}

line_matches() {
	case $1 in
	*,...\}) [[ $2 == "${1%...\}}"*\} ]] ;;
	*) [ "$1" = "$2" ] ;;
	esac
}

# The schema file of the block before, saved as ./ticks.schema; records
# that fit it, and one that does not (a tick without its step).
ticks_setup() {
	local schema
	schema=$(awk -F'\t' '$2 == "simlog-schema.5: # ticks.schema" { print $1 }' "$BLOCKS/index")
	cp "$BLOCKS/$schema" "$W/ticks.schema"
	{
		echo '{"type":"tick","step":1,"population":5,"mean_energy":1.5,"crowded":false}'
		echo '{"type":"tick","step":2,"population":6}'
		echo '{"type":"tick","population":7}'
		echo '{"type":"event","step":1,"seq":1,"event_kind":"birth","payload":{"a":1},"x":2}'
	} | in_block simlog-push -q -s run42 > /dev/null
}

r_ticks() {
	ticks_setup
	sh_block
	[ "$(rows "$W/results.db" ticks)" -eq 2 ]
	[ "$(rows "$W/results.db" events)" -eq 1 ]
	grep -q '^tick|' "$W/out"
}

# A column added to a schema in use: the line appended to table ticks,
# the old rows take its default.
r_lineage() {
	ticks_setup
	in_block simlog-drain -q -d results.db --schema ./ticks.schema > /dev/null
	awk -v line="$(cat "$W/block.sh")" '{ print } /^    crowded/ { print line }' \
		"$W/ticks.schema" > "$W/t" && mv "$W/t" "$W/ticks.schema"
	echo '{"type":"tick","step":3,"population":8,"lineage":"b"}' |
		in_block simlog-push -q -s run42 > /dev/null
	in_block simlog-drain -q -d results.db --schema ./ticks.schema > /dev/null
	[ "$(sqlite3 "$W/results.db" "SELECT group_concat(lineage, ',') FROM (SELECT lineage FROM ticks ORDER BY step)")" = "unknown,unknown,b" ]
}

r_agentfarm() {
	printf '#!/bin/sh\nexec "%s" -n 2000 -s 5\n' "$SIMGEN" > "$W/simulation"
	chmod +x "$W/simulation"
	sh_block
	# The last query found the agent's first state.
	[ "$(tail -n 1 "$W/out" | cut -d'|' -f1)" = "run42:a000001-0" ]
}

# Enough versions for the block's --version 7 and "the last two".
r_versions() {
	local i
	for i in 1 2 3 4 5 6 7 8; do
		printf '{"step":%d}' "$i" | in_block simlog-state save run42 > /dev/null
	done
	sh_block
	[ "$(in_block simlog-state meta run42 | jq .version)" -ge 8 ]
}

r_cas() {
	printf '{"lr":0.1}' | in_block simlog-state save cfg > /dev/null
	sh_block
	[ "$(in_block simlog-state load cfg | jq .lr)" = 0.05 ]
}

r_world() {
	echo '{"agents":[{"name":"a","e":1},{"name":"b","e":2}]}' > "$W/world.json"
	sh_block
	[ "$(wc -l < "$W/restored.jsonl")" -eq 2 ]
	[ "$(in_block simlog-state load exp1.b)" = '{"name":"b","e":2}' ]
}

r_copy_states() {
	printf '{"v":1}' | in_block simlog-state save s1 --tag exp1 --ttl 600 > /dev/null
	printf '{"v":2}' | in_block simlog-state save s2 --tag exp1 --tag x > /dev/null
	printf '{"v":3}' | in_block simlog-state save s3 --tag other > /dev/null
	sh_block
	local backup=(-u "redis://127.0.0.1:$BACKUP_PORT/0")
	[ "$(in_block simlog-state "${backup[@]}" list --tag exp1 | wc -l)" -eq 2 ]
	in_block simlog-state "${backup[@]}" meta s2 | grep -q '"tags":\["exp1","x"\]'
	in_block simlog-state "${backup[@]}" meta s1 | grep -q '"expires_at":[0-9]'
}

r_raw() {
	head -c 100000 /dev/urandom > "$W/weights.npy"
	sh_block
	in_block simlog-state load weights | cmp - "$W/weights.npy"
}

# --- cron: the crontab's variables and each job, as cron runs them ----------------

r_cron() {
	local line envs=(HOME="$W/home" LOGNAME=simlog SHELL=/bin/sh PATH=/usr/bin:/bin
		XDG_RUNTIME_DIR="$W/run" "${CRON_ENV[@]}") cmd
	# A job's line, wrapped for the page with "\", is one line.
	sed -e ':a' -e '/\\$/N; s/\\\n */ /; ta' "$W/block.sh" > "$W/crontab"
	while IFS= read -r line; do
		case $line in
		''|'#'*) ;;
		[A-Za-z_]*=*) envs+=("$line") ;;
		*)	cmd=$(sed -E 's/^([^ ]+ +){5}//' <<< "$line")
			# cron reads % as a newline.
			[[ $cmd != *%* ]]
			(cd "$W/home" && env -i "${envs[@]}" /bin/sh -c "$cmd") > "$W/mailed" 2>&1
			# Nothing for cron to mail.
			[ ! -s "$W/mailed" ] || { cat "$W/mailed"; return 1; } ;;
		esac
	done < "$W/crontab"
}

r_cron_drain() {
	seed run42
	r_cron
	[ "$(records "$W/data/results.db")" -eq 600 ]
	grep -q '"rows":600' "$W/log/simlog-drain.log"
}

r_cron_quiet() {
	r_cron
}

r_cron_textfile() {
	r_cron
	grep -q '^simlog_redis_up 1$' "$W/node_exporter/simlog.prom"
	[ -z "$(ls "$W/node_exporter" | grep -v '^simlog.prom$')" ]
}

# The push crontab: replay what a push spooled, then drain.
r_cron_replay() {
	# Records spooled for this Redis while it was down.
	stop_redis main
	in_block env SIMLOG_RETRIES=0 bash -c 'sim | simlog-push -q -s run42' \
		> /dev/null 2>&1 || true
	start_redis main --port "$PORT" --bind 127.0.0.1 --appendonly yes
	[ -n "$(find "$W/home/.local/state/simlog/spool" -name '*.seg')" ]
	r_cron
	[ -z "$(find "$W/home/.local/state/simlog/spool" -name '*.seg')" ]
	[ "$(records "$W/data/results.db")" -eq 600 ]
}

# --- PostgreSQL ----------------------------------------------------------------------

# The README's role, made as root (the line for a user with sudo is the
# same command through sudo, which root has no need of).
r_role() {
	if [ "$(id -u)" -eq 0 ]; then
		grep '# as root$' "$W/block.sh" > "$W/root.sh"
		[ "$(wc -l < "$W/root.sh")" -eq 1 ]
		# runuser keeps the environment: the private server, as its
		# superuser.
		in_block env PGUSER=simlog bash -e ./root.sh
		[ "$(pq "SELECT rolcreatedb FROM pg_roles WHERE rolname = 'root'")" = t ]
	else
		command -v sudo > /dev/null || skip_note "no sudo here"
		grep '# as a user with sudo$' "$W/block.sh" > "$W/user.sh"
		in_block env PGUSER=simlog bash -e ./user.sh
	fi
}

skip_note() {
	echo "# not run: $*" >&3
}

r_readme_pg() {
	printf '#!/bin/sh\nexec "%s" -n 1500 -s 6\n' "$SIMGEN" > "$W/my-simulation"
	chmod +x "$W/my-simulation"
	sh_block
	[ "$(PGDB=results pq "SELECT count(*) FROM agents")" -gt 0 ]
	grep -q '^(5 rows)$' "$W/out"
}

r_follow_pg() {
	FOLLOW_CHECK=pg_landed FOLLOW_DB=results FOLLOW_SIM=follow r_follow
}

pg_landed() {
	[ "$(PGDB=$1 pq "SELECT count(*) FROM agents WHERE simulation_id = 'follow'" 2>/dev/null || echo 0)" -gt 0 ]
}

r_pgpass() {
	printf '*:*:*:simlog:not-needed-here\n' > "$W/home/.pgpass"
	chmod 600 "$W/home/.pgpass"
	seed run42
	sh_block
	grep -q '^(5 rows)$' "$W/out"
}

# --- topologies ------------------------------------------------------------------------

# Each export of the block, then a ping through what it names.
r_each_export() {
	local line
	while IFS= read -r line; do
		[[ $line == export* ]] || continue
		printf '%s\nsimlog-ping -c 1 > /dev/null\n' "$line" > "$W/one.sh"
		in_block bash -e ./one.sh || { echo "failed: $line"; return 1; }
	done < "$W/block.sh"
}

r_replicas() {
	printf '#!/bin/sh\nexec "%s" -n 500 -s 8\n' "$SIMGEN" > "$W/my-simulation"
	chmod +x "$W/my-simulation"
	sh_block
	grep -q '"pushed":500' "$W/out"
}

# Records a plain URL naming a cluster node spooled, replayed as the block
# says, then drained through the cluster.
r_replay_cluster() {
	local sim
	for sim in c1 c2 c3 c4 c5 c6 c7 c8; do
		[ "$(cluster_node_for_key "{$sim}")" != "$NODE_PORT" ] && break
	done
	"$SIMGEN" --ids -n 300 -s 10 > "$W/in.jsonl"
	in_block env SIMLOG_RETRIES=0 simlog-push -q -u "redis://127.0.0.1:$NODE_PORT" \
		-s "$sim" < "$W/in.jsonl" > /dev/null 2>&1 || true
	sh_block
	in_block simlog-drain -q -u "$CLUSTER_URL" -d "$W/c.db" > /dev/null
	[ "$(landed "$W/c.db")" = "$(sort "$W/in.jsonl")" ]
}

# The files the block names, where it looks for them.
r_tls_files() {
	cp "$TLS_CA" "$W/ca.pem"
	cp "$TLS_CERT" "$W/client.pem"
	cp "$TLS_KEY" "$W/client.key"
	printf '%s\n' "$DATA_PW" > "$W/home/.simlog-pw"
	printf '%s\n' "$SENTINEL_PW" > "$W/home/.sentinel-pw"
	chmod 600 "$W/home/.simlog-pw" "$W/home/.sentinel-pw"
	sh_block
}

# Every master, none with a replica here: each address once.
r_cluster_masters() {
	sh_block
	[ "$(wc -l < "$W/out")" -eq 3 ]
}

r_sentinel_state() {
	printf '{"step":1}' > "$W/state.json"
	sh_block
	grep -q '"version":1' "$W/out"
}

# --- the tests ---------------------------------------------------------------------------

@test "examples: every command block is in the plan, and the plan names no block that is gone" {
	local missing extra
	cut -f2 "$BLOCKS/index" | sort > have
	plan_entries | cut -f1 | sort > planned
	missing=$(comm -23 have planned)
	extra=$(comm -13 have planned)
	[ -z "$missing" ] || echo "blocks not in the plan (add each to tests/examples.bats):
$missing"
	[ -z "$extra" ] || echo "plan entries with no block (changed or removed?):
$extra"
	[ -z "$missing$extra" ]
	# Each entry runs, or says why not.
	run grep -Ev $'\t(run [a-z]+ [a-z_]+|skip .{20,})$' <(plan_entries)
	assert_output ""
	plan_entries | awk -F'\t' '$2 ~ /^skip/ { n++ } END { printf "# %d blocks run, %d not (reasons in the plan)\n", NR - n, n }' >&3
}

@test "examples: with one Redis (and a second for copies)" {
	start_redis_tcp backup
	BACKUP_PORT=$REDIS_PORT
	start_redis_tcp main --appendonly yes --maxmemory 256mb --maxmemory-policy noeviction
	PORT=$REDIS_PORT
	swap redis://127.0.0.1:6379/0 "redis://127.0.0.1:$PORT/0"
	swap redis://redis:6379/0 "redis://127.0.0.1:$PORT/0"
	swap redis://simlog:@buffer.example.org/0 "redis://simlog:@127.0.0.1:$PORT/0"
	swap redis://backup:6379/0 "redis://127.0.0.1:$BACKUP_PORT/0"
	BLOCK_ENV=(SIMLOG_REDIS_URL="redis://127.0.0.1:$PORT/0")
	BEFORE_BLOCK=fresh_redis
	run_group redis
}

fresh_redis() {
	redis-cli -p "$PORT" FLUSHALL > /dev/null
	redis-cli -p "$BACKUP_PORT" FLUSHALL > /dev/null
	redis-cli -p "$PORT" ACL DELUSER simlog > /dev/null
}

@test "examples: crontabs, as cron runs them" {
	start_redis_tcp main --appendonly yes
	PORT=$REDIS_PORT
	swap redis://buffer.example.org:6379/0 "redis://127.0.0.1:$PORT/0"
	BLOCK_ENV=(SIMLOG_REDIS_URL="redis://127.0.0.1:$PORT/0")
	# Jobs that name no URL use the default one: here, the private server.
	CRON_ENV=(SIMLOG_REDIS_URL="redis://127.0.0.1:$PORT/0")
	BEFORE_BLOCK=fresh_cron
	run_group cron
}

fresh_cron() {
	redis-cli -p "$PORT" FLUSHALL > /dev/null
}

@test "examples: PostgreSQL" {
	load pg_helpers
	pg_start
	PGDB=postgres
	swap postgresql://simlog@db.example.org/results "postgresql://simlog@/results?host=$PG_DIR"
	swap "-h db.example.org" "-h $PG_DIR"
	start_redis main
	BLOCK_ENV=(SIMLOG_REDIS_URL="$REDIS_URL" PGHOST="$PG_DIR")
	local rc=0
	run_group pg || rc=$?
	pg_stop
	[ "$rc" -eq 0 ]
}

@test "examples: Cluster, Sentinel and TLS" {
	load topo
	make_certs "$BATS_TEST_TMPDIR/certs"
	DATA_PW=data-pw SENTINEL_PW=sentinel-pw
	start_cluster ex 3
	NODE_PORT=${CLUSTER_MASTERS%% *}
	local cluster=$CLUSTER_URL cdir=$CLUSTER_DIR
	start_sentinel_set buffer --pass "$DATA_PW" --sentinel-pass "$SENTINEL_PW"
	start_redis_tls tls --auth-clients no --pass "$DATA_PW"
	local tls_port=$TLS_PORT
	start_cluster tlsex 3 --tls
	local tls_cluster=$CLUSTER_URL
	# cluster_* work on the plain cluster.
	CLUSTER_DIR=$cdir CLUSTER_URL=$cluster
	topo_times | sed 's/^/# /' >&3
	swap redis-cluster://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000 "$cluster"
	swap redis-cluster://10.0.0.5:7000,10.0.0.6:7000 "$cluster"
	swap redis://10.0.0.5:7000/0 "redis://127.0.0.1:$NODE_PORT/0"
	swap rediss-cluster://10.0.0.11:6380,10.0.0.12:6380 "$tls_cluster"
	# With the password where the example gives none; from the files
	# where it names them.
	swap redis-sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/buffer \
		"redis-sentinel://:$DATA_PW@$SENTINEL_ADDRS/buffer"
	swap redis-sentinel://10.0.0.5:26379,10.0.0.6:26379/states \
		"redis-sentinel://:$DATA_PW@$SENTINEL_ADDRS/buffer"
	swap redis-sentinel://10.0.0.5:26379,10.0.0.6:26379/buffer \
		"redis-sentinel://$SENTINEL_ADDRS/buffer"
	swap rediss://redis.example.com:6380/0 "rediss://:$DATA_PW@127.0.0.1:$tls_port/0"
	swap rediss://redis.example.org:6380/0 "rediss://:$DATA_PW@127.0.0.1:$tls_port/0"
	swap rediss://buffer.example.org:6380/0 "rediss://127.0.0.1:$tls_port/0"
	swap /etc/ssl/redis-ca.pem "$TLS_CA"
	swap /etc/ssl/certs/simlog-ca.pem "$TLS_CA"
	BLOCK_ENV=(SIMLOG_REDIS_URL="redis-sentinel://:$DATA_PW@$SENTINEL_ADDRS/buffer"
		SIMLOG_SENTINEL_PASSWORD="$SENTINEL_PW")
	run_group topo
}

@test "examples: every block the plan runs ran" {
	plan_entries | awk -F'\t' '$2 ~ /^run / { print $1 }' | sort > want
	sort "$BATS_FILE_TMPDIR/ran" > got
	run comm -23 want got
	assert_output ""
}

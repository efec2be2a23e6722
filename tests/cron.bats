#!/usr/bin/env bats
# The README's crontab lines, run as cron runs them: an empty environment
# but HOME, PATH=/usr/bin:/bin, the crontab's own NAME=value lines, and the
# command through /bin/sh -c; against the installed tools.
# once: it installs and runs the plain build

load helpers
bats_require_minimum_version 1.5.0

setup() {
	simlog_env
	PREFIX_DIR="$BATS_TEST_TMPDIR/prefix"
	CRON_HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$CRON_HOME" "$BATS_TEST_TMPDIR/run"
	make -C "$SIMLOG_TOP" --no-print-directory -s SANITIZE= install \
		PREFIX="$PREFIX_DIR" >"$BATS_TEST_TMPDIR/install.log" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/install.log"; return 1; }
	# Persistent: it is restarted in the middle of a test.
	start_redis_tcp main --appendonly yes
}

teardown() {
	stop_all_redis
}

# readme_crontab: the README's indented code block that holds a crontab
# schedule line, as written there.
readme_crontab() {
	awk '
	/^    / { block = block substr($0, 5) "\n"; if ($0 ~ /^    [*0-9][^ ]* [^ ]+ [^ ]+ [^ ]+ [^ ]+ /) found = 1; next }
	{ if (found) exit; block = "" }
	END { if (found) printf "%s", block }
	' "$SIMLOG_TOP/README.md"
}

# as_cron LINES...: the environment a cron job gets from these crontab lines
# (in ENV, an array) and its command (in CMD).  XDG_RUNTIME_DIR only keeps
# the circuit breaker's file in the test's directory (else /tmp/simlog-UID).
as_cron() {
	local line
	ENV=(HOME="$CRON_HOME" LOGNAME=simlog SHELL=/bin/sh PATH=/usr/bin:/bin
	    XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/run")
	CMD=
	while IFS= read -r line; do
		case $line in
		''|'#'*) ;;
		[A-Za-z_]*=*) ENV+=("$line") ;;
		*)	# minute hour day month weekday command
			CMD=$(printf '%s\n' "$line" |
				sed -E 's/^([^ ]+ +){5}//') ;;
		esac
	done <<< "$1"
}

# cron_env CMD...: CMD in the cron job's environment.
cron_env() {
	env -i "${ENV[@]}" "$@"
}

@test "cron: the README's crontab replays the spool and drains, as cron runs it" {
	local tab
	tab=$(readme_crontab)
	# What the test replaces: the install prefix and the Redis address.
	grep -qx 'PATH=/usr/local/bin:/usr/bin:/bin' <<< "$tab"
	grep -qx 'SIMLOG_REDIS_URL=redis://127.0.0.1:6379/0' <<< "$tab"
	tab=${tab//\/usr\/local\/bin/$PREFIX_DIR/bin}
	tab=${tab//127.0.0.1:6379/127.0.0.1:$REDIS_PORT}
	as_cron "$tab"
	[ -n "$CMD" ]
	# cron reads % in a command as a newline.
	[[ $CMD != *%* ]]

	# Records pushed to Redis, then records spooled while it was away.
	"$SIMGEN" --ids -n 500 -s 2 > "$BATS_TEST_TMPDIR/b.jsonl"
	"$SIMGEN" --ids -n 300 -s 1 > "$BATS_TEST_TMPDIR/a.jsonl"
	run cron_env simlog-push -s here < "$BATS_TEST_TMPDIR/b.jsonl"
	assert_success
	stop_redis main
	run cron_env SIMLOG_RETRIES=0 simlog-push -s away \
		< "$BATS_TEST_TMPDIR/a.jsonl"
	assert_failure 75
	start_redis main --port "$REDIS_PORT" --bind 127.0.0.1 --appendonly yes
	[ "$(rcli hget 'simlog:{here}:n' agent)" -gt 0 ]

	run cron_env /bin/sh -c "$CMD"
	assert_success
	# Nothing for cron to mail.
	assert_output ""
	[ "$(landed_sim "$CRON_HOME/results.db" | grep -c '^away	')" -eq 300 ]
	[ "$(landed_sim "$CRON_HOME/results.db" | grep -c '^here	')" -eq 500 ]
	run simlog_keys
	assert_output ""
	run find "$CRON_HOME/.local/state/simlog/spool" -name '*.seg*'
	assert_output ""
	run cat "$CRON_HOME/simlog-cron.log"
	assert_output --partial '"replayed":300'
	assert_output --partial '"rows":800'
	refute_output --partial 'simlog-'

	# The next run finds nothing to do, and says so only in the log.
	run cron_env /bin/sh -c "$CMD"
	assert_success
	assert_output ""
	[ "$(landed "$CRON_HOME/results.db" | wc -l)" -eq 800 ]
}

@test "cron: without the crontab's PATH line the tools are not found" {
	# The harness is as bare as cron: this is the README's old mistake.
	command -v simlog-push >/dev/null
	if env -i PATH=/usr/bin:/bin sh -c 'command -v simlog-push' >/dev/null; then
		skip "simlog-push is installed in /usr/bin or /bin"
	fi
	run -127 env -i HOME="$CRON_HOME" PATH=/usr/bin:/bin /bin/sh -c \
		'simlog-push --replay'
}

@test "cron: simlog(7) gives the README's crontab" {
	local man
	man=$(sed -n '/^\.SS cron/,/^\.SS/p' "$SIMLOG_TOP/man/simlog.7" |
		sed -n '/^\.EX/,/^\.EE/{/^\./d;p}' | sed 's/\\-/-/g')
	[ -n "$man" ]
	assert_equal "$man" "$(readme_crontab)"
}

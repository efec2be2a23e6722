#!/usr/bin/env bats
# The Python module (python/simlog) through its unittest cases in
# tests/python/, against real redis-servers, SQLite and PostgreSQL: one
# case per bats test, each in a process and a directory of its own, so
# that every case is counted and a crash costs one.  The cases' measured
# numbers ("# ..." lines) go into the TAP stream.  In a sanitizer build
# (make check SANITIZE=...) the module is built with ASan and UBSan, and
# Debian's python3 runs it with the ASan runtime preloaded; leak
# detection is off there (the interpreter keeps its own memory to the
# end on purpose).

bats_require_minimum_version 1.5.0

PYTHON=${PYTHON:-/usr/bin/python3}

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
	simlog_env
	cd "$BATS_TEST_TMPDIR"
	export PYTHONPATH="$SIMLOG_BUILD/python:$SIMLOG_TOP/tests/python"
	export PYTHONDONTWRITEBYTECODE=1
	local mod
	mod=$(ls "$SIMLOG_BUILD"/python/simlog/_simlog*.so)
	if readelf -d "$mod" | grep -q 'NEEDED.*libasan'; then
		export LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
		export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
		export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	fi
}

# pyunit CASE: run one unittest case (module.Class.test_name).
pyunit() {
	run --separate-stderr "$PYTHON" -m unittest -v "$1"
	echo "$stderr"
	echo "$output"
	grep '^# ' <<<"$stderr" >&3 || true
	[ "$status" -eq 0 ]
	# It ran (a name that matches nothing is an error, but say so).
	grep -q '^Ran 1 test in' <<<"$stderr"
}

@test "every unittest case of tests/python has its test here" {
	cd "$SIMLOG_TOP/tests/python"
	run "$PYTHON" -c '
import unittest
def walk(s):
    for t in s:
        if isinstance(t, unittest.TestSuite):
            yield from walk(t)
        else:
            yield t.id()
for i in walk(unittest.defaultTestLoader.discover(".", "test_*.py")):
    print(i)'
	assert_success
	[ -n "$output" ]
	diff <(echo "$output" | sort) \
	    <(grep -o '^	pyunit [^ ]*' "$SIMLOG_TOP/tests/python.bats" |
	      cut -d' ' -f2 | sort)
}

@test "simlog-python(3) names every keyword, method and exception class" {
	run "$PYTHON" -c '
import inspect, simlog, simlog.agentfarm as af
names = set()
for f in (simlog.Writer.__init__, simlog.State.__init__, simlog.State.save,
          simlog.State.load, simlog.State.list, simlog.ping):
    names.update(p for p in inspect.signature(f).parameters
                 if p not in ("self", "tls"))
names.update(simlog._TLS)
names.update(n for n in dir(simlog) if isinstance(getattr(simlog, n), type)
             and issubclass(getattr(simlog, n), Exception))
names.update(n for n in dir(af.DataLogger) if not n.startswith("_")
             and n not in ("logger", "writer", "needs_flush", "closed",
                           "cleanup", "get_configuration", "export_data",
                           "get_table_row_count", "add_experiment_record",
                           "update_experiment_record"))
print("\n".join(sorted(names)))'
	assert_success
	local n missing=""
	for n in $output; do
		# roff spells a name'"'"'s "_" as is and its "-" as "\-".
		grep -q -- "$n" "$SIMLOG_TOP/man/simlog-python.3" ||
		    missing="$missing $n"
	done
	[ -z "$missing" ] || { echo "not in simlog-python(3):$missing"; return 1; }
}

# --- the cases (tests/python/test_*.py), one each ---

@test "writer: a refused password is 77 and the records are spooled" {
	pyunit test_writer.Errors.test_a_refused_password_is_77_and_the_records_are_spooled
}

@test "writer: classes by exit code" {
	pyunit test_writer.Errors.test_classes_by_exit_code
}

@test "writer: bad options raise usage errors naming them" {
	pyunit test_writer.Options.test_bad_options_raise_usage_errors_naming_them
}

@test "writer: environment as simlog push reads it" {
	pyunit test_writer.Options.test_environment_as_simlog_push_reads_it
}

@test "writer: what the library says goes to logging" {
	pyunit test_writer.Options.test_what_the_library_says_goes_to_logging
}

@test "writer: dicts str and bytes land exactly" {
	pyunit test_writer.Records.test_dicts_str_and_bytes_land_exactly
}

@test "writer: integers of other kinds are their values" {
	pyunit test_writer.Records.test_integers_of_other_kinds_are_their_values
}

@test "writer: lines the library refuses cost no other record" {
	pyunit test_writer.Records.test_lines_the_library_refuses_cost_no_other_record
}

@test "writer: the text written is json dumps compact" {
	pyunit test_writer.Records.test_the_text_written_is_json_dumps_compact
}

@test "writer: type and type field" {
	pyunit test_writer.Records.test_type_and_type_field
}

@test "writer: what json cannot hold is refused naming the field" {
	pyunit test_writer.Records.test_what_json_cannot_hold_is_refused_naming_the_field
}

@test "writer: write many takes the rest and lists the refused" {
	pyunit test_writer.Records.test_write_many_takes_the_rest_and_lists_the_refused
}

@test "writer: close returns simlog push summary for the same input" {
	pyunit test_writer.Summary.test_close_returns_simlog_push_summary_for_the_same_input
}

@test "writer: stats count as records go" {
	pyunit test_writer.Summary.test_stats_count_as_records_go
}

@test "writer faults: a full spool raises storage error and counts exactly" {
	pyunit test_faults.Down.test_a_full_spool_raises_storage_error_and_counts_exactly
}

@test "writer faults: down from the start spooled then replayed by a later writer" {
	pyunit test_faults.Down.test_down_from_the_start_spooled_then_replayed_by_a_later_writer
}

@test "writer faults: priority low drops and counts" {
	pyunit test_faults.Down.test_priority_low_drops_and_counts
}

@test "writer faults: frozen 3s mid stream no write held past the timeout" {
	pyunit test_faults.Frozen.test_frozen_3s_mid_stream_no_write_held_past_the_timeout
}

@test "writer faults: frozen 8s longer than retries it spools and comes back" {
	pyunit test_faults.Frozen.test_frozen_8s_longer_than_retries_it_spools_and_comes_back
}

@test "writer faults: frozen before it connects close gives up by itself" {
	pyunit test_faults.Frozen.test_frozen_before_it_connects_close_gives_up_by_itself
}

@test "writer faults: priority critical waits with the gil released" {
	pyunit test_faults.Frozen.test_priority_critical_waits_with_the_gil_released
}

@test "writer faults: killed and restarted mid stream" {
	pyunit test_faults.Killed.test_killed_and_restarted_mid_stream
}

@test "writer in a process: a writer collected unclosed is closed" {
	pyunit test_process.Exit.test_a_writer_collected_unclosed_is_closed
}

@test "writer in a process: interpreter exit without close sends everything" {
	pyunit test_process.Exit.test_interpreter_exit_without_close_sends_everything
}

@test "writer in a process: interpreter exit without close spools when redis is down" {
	pyunit test_process.Exit.test_interpreter_exit_without_close_spools_when_redis_is_down
}

@test "writer in a process: a parent writer is refused in the child its own works" {
	pyunit test_process.Fork.test_a_parent_writer_is_refused_in_the_child_its_own_works
}

@test "writer in a process: multiprocessing workers open their own" {
	pyunit test_process.Fork.test_multiprocessing_workers_open_their_own
}

@test "writer in a process: close from another thread while one writes" {
	pyunit test_process.Threads.test_close_from_another_thread_while_one_writes
}

@test "writer in a process: eight threads share one writer" {
	pyunit test_process.Threads.test_eight_threads_share_one_writer
}

@test "state and ping: a ping reports what simlog ping reports" {
	pyunit test_state.Ping.test_a_ping_reports_what_simlog_ping_reports
}

@test "state and ping: a redis that does not answer raises with the report" {
	pyunit test_state.Ping.test_a_redis_that_does_not_answer_raises_with_the_report
}

@test "state and ping: a damaged stored state is refused" {
	pyunit test_state.State.test_a_damaged_stored_state_is_refused
}

@test "state and ping: errors by class" {
	pyunit test_state.State.test_errors_by_class
}

@test "state and ping: save load versions list rollback delete prune" {
	pyunit test_state.State.test_save_load_versions_list_rollback_delete_prune
}

@test "state and ping: the metadata is what simlog state prints" {
	pyunit test_state.State.test_the_metadata_is_what_simlog_state_prints
}

@test "agentfarm: a record of another simulation goes to that one" {
	pyunit test_agentfarm.AgentFarm.test_a_record_of_another_simulation_goes_to_that_one
}

@test "agentfarm: it imports without agentfarm or sqlalchemy" {
	pyunit test_agentfarm.AgentFarm.test_it_imports_without_agentfarm_or_sqlalchemy
}

@test "agentfarm: redis down while it ran the rows are the same" {
	pyunit test_agentfarm.AgentFarm.test_redis_down_while_it_ran_the_rows_are_the_same
}

@test "agentfarm: setup db and the factory answer as agentfarms setup does" {
	pyunit test_agentfarm.AgentFarm.test_setup_db_and_the_factory_answer_as_agentfarms_setup_does
}

@test "agentfarm: the methods have agentfarms signatures" {
	pyunit test_agentfarm.AgentFarm.test_the_methods_have_agentfarms_signatures
}

@test "agentfarm: the rows are agentfarms in postgresql" {
	pyunit test_agentfarm.AgentFarm.test_the_rows_are_agentfarms_in_postgresql
}

@test "agentfarm: the rows are agentfarms in sqlite" {
	pyunit test_agentfarm.AgentFarm.test_the_rows_are_agentfarms_in_sqlite
}

@test "agentfarm: what agentfarm refuses is refused and nothing written" {
	pyunit test_agentfarm.AgentFarm.test_what_agentfarm_refuses_is_refused_and_nothing_written
}

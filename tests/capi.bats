#!/usr/bin/env bats
# The C API (libsimlog(3)): the example programs examples/sim-writer.c and
# examples/sim-drainer.c built against this tree and against an installed
# copy through pkg-config, run against a real Redis and with Redis down;
# the public headers from C++; the writer's return values.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	local log="$BATS_FILE_TMPDIR/make.log"
	# The example against this tree (the suite's build: plain or
	# sanitized, as MAKEFLAGS says) ...
	make -C "$SIMLOG_TOP" --no-print-directory -s examples >"$log" 2>&1 ||
		{ cat "$log"; return 1; }
	# ... and an installed copy, the plain build, for pkg-config.
	make -C "$SIMLOG_TOP" --no-print-directory -s SANITIZE= install \
		DESTDIR="$BATS_FILE_TMPDIR/root" PREFIX=/usr >"$log" 2>&1 ||
		{ cat "$log"; return 1; }
}

setup() {
	simlog_env
	export SIMLOG_SIM=toy
	DEST="$BATS_FILE_TMPDIR/root"
	SIMWRITER="$SIMLOG_BUILD/examples/sim-writer"
	SIMDRAINER="$SIMLOG_BUILD/examples/sim-drainer"
	DB="$BATS_TEST_TMPDIR/results.db"
}

teardown() {
	kill_tracked
	stop_all_redis
}

# landed_is N: the database holds N records.
landed_is() {
	[ -e "$DB" ] && [ "$(landed_sim "$DB" 2>/dev/null | wc -l)" -eq "$1" ]
}

# expected AGENTS STEPS: the records sim-writer makes, sorted, worked out
# here from its rules (examples/sim-writer.c) rather than read from it.
expected() {
	awk -v n="$1" -v steps="$2" '
	function rng() { seed = (seed * 48271) % 2147483647; return seed }
	BEGIN {
		seed = 42; g = 16
		for (i = 0; i < n; i++) {
			x[i] = rng() % g; y[i] = rng() % g; e[i] = 10; alive[i] = 1
		}
		left = n
		for (t = 0; t < steps && left > 0; t++)
			for (i = 0; i < n; i++) {
				if (!alive[i])
					continue
				x[i] = (x[i] + rng() % 3 - 1 + g) % g
				y[i] = (y[i] + rng() % 3 - 1 + g) % g
				e[i]--
				if ((x[i] * 7 + y[i] * 3) % 5 == 0)
					e[i] += 4
				printf "{\"type\":\"move\",\"agent\":%d,\"step\":%d,\"x\":%d,\"y\":%d,\"energy\":%d}\n", i, t, x[i], y[i], e[i]
				if (e[i] <= 0) {
					alive[i] = 0; left--
					printf "{\"type\":\"death\",\"agent\":%d,\"step\":%d}\n", i, t
				}
			}
		printf "{\"type\":\"run\",\"agents\":%d,\"steps\":%d,\"alive\":%d}\n", n, t, left
	}' | sort
}

# The records expected in SQLite: simulation_id, a tab, the record.
expected_rows() {
	expected "$@" | sed 's/^/toy\t/'
}

# pc ARGS...: pkg-config on the installed copy.
pc() {
	PKG_CONFIG_PATH="$DEST/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$DEST" \
		pkg-config "$@"
}

@test "capi: the example's records land in SQLite exactly, all counted pushed" {
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	n=$(expected 4 100 | wc -l)
	run --separate-stderr "$SIMWRITER" 4 100
	assert_success
	[ "$(jget "$output" '$.sim')" = toy ]
	[ "$(jget "$output" '$.records')" = "$n" ]
	[ "$(jget "$output" '$.pushed')" = "$n" ]
	[ "$(jget "$output" '$.spooled')" = 0 ]
	[ "$(jget "$output" '$.failed')" = 0 ]
	[ "$(jget "$output" '$.refused')" = 0 ]
	[ "$(jget "$output" '$.breaker')" = closed ]
	[ "$(printf '%s\n' "$output" | wc -l)" = 1 ]
	[ -z "$stderr" ]
	run simlog-drain -q -d "$DB"
	assert_success
	[ "$(landed_sim "$DB")" = "$(expected_rows 4 100)" ]
	# Each type has its table.
	[ "$(record_tables "$DB" | tr '\n' ' ')" = "death move run " ]
}

@test "capi: with Redis down the example exits 75 with its records in the spool; replay and drain land them exactly" {
	# The URL names the socket a Redis started later listens on.
	export SIMLOG_REDIS_URL="unix://$BATS_TEST_TMPDIR/redis-main/sock"
	n=$(expected 3 50 | wc -l)
	run --separate-stderr "$SIMWRITER" 3 50
	[ "$status" -eq 75 ]
	[ "$(jget "$output" '$.records')" = "$n" ]
	[ "$(jget "$output" '$.spooled')" = "$n" ]
	[ "$(jget "$output" '$.pushed')" = 0 ]
	[ "$(jget "$output" '$.failed')" = 0 ]
	[ "$(jget "$output" '$.breaker')" = open ]
	[[ "$stderr" == *"$n records wait in the spool"* ]]
	start_redis main
	run simlog-push --replay
	assert_success
	[ "$(jget "$output" '$.replayed')" = "$n" ]
	run simlog-drain -q -d "$DB"
	assert_success
	[ "$(landed_sim "$DB")" = "$(expected_rows 3 50)" ]
	# Nothing is left behind in the spool.
	run simlog-push --spool-status
	assert_success
	[ "$(jget "${lines[-1]}" '$.records')" = 0 ]
}

@test "capi: the drainer example lands the writer example's records exactly, says what landed where, and leaves nothing in Redis" {
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	run --separate-stderr "$SIMWRITER" 4 100
	assert_success
	run --separate-stderr "$SIMDRAINER" "$DB" toy
	assert_success
	[ -z "$stderr" ]
	[ "$(landed_sim "$DB")" = "$(expected_rows 4 100)" ]
	local n
	n=$(expected 4 100 | wc -l)
	# A line per type, then the totals.
	assert_line "toy move move $(expected 4 100 | grep -c '"move"')"
	assert_line "toy death death $(expected 4 100 | grep -c '"death"')"
	assert_line "toy run run 1"
	[ "${lines[-1]}" = "rows $n, dead letters 0, batches 1, found in already 0, set aside 0, into $DB" ]
	[ -z "$(rcli --scan --pattern 'simlog:*')" ]
	# Again: nothing more to drain, nothing doubled.
	run --separate-stderr "$SIMDRAINER" "$DB"
	assert_success
	[ "$output" = "rows 0, dead letters 0, batches 0, found in already 0, set aside 0, into $DB" ]
	[ "$(landed_sim "$DB")" = "$(expected_rows 4 100)" ]
}

@test "capi: the drainer example: 64 for a bad command line, 69 naming Redis when it is down, Redis's backlog untouched by a database that cannot be made" {
	run --separate-stderr "$SIMDRAINER"
	[ "$status" -eq 64 ]
	[ "$stderr" = "usage: sim-drainer [-f] DB [SIM]" ]
	export SIMLOG_REDIS_URL="unix://$BATS_TEST_TMPDIR/no-redis/sock"
	SIMLOG_RETRIES=0 run --separate-stderr "$SIMDRAINER" "$DB"
	[ "$status" -eq 69 ]
	[[ "$stderr" == "sim-drainer: cannot connect to $SIMLOG_REDIS_URL"* ]]
	[ ! -e "$DB" ]
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	run --separate-stderr "$SIMWRITER" 2 20
	assert_success
	run --separate-stderr "$SIMDRAINER" "$BATS_TEST_TMPDIR/no/such/dir/r.db"
	[ "$status" -eq 73 ]
	[[ "$stderr" == *"$BATS_TEST_TMPDIR/no/such/dir/r.db"* ]]
	[ "$(rcli XLEN 'simlog:{toy}:q')" -eq 1 ]
	run "$SIMDRAINER" "$DB"
	assert_success
	[ "$(landed_sim "$DB")" = "$(expected_rows 2 20)" ]
}

@test "capi: the drainer example with -f drains as records come, and SIGTERM ends it with 0" {
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	"$SIMDRAINER" -f "$DB" > "$BATS_TEST_TMPDIR/drainer.out" 2> "$BATS_TEST_TMPDIR/drainer.err" &
	local pid=$! st=0
	track "$pid"
	run "$SIMWRITER" 3 50
	assert_success
	wait_until "the records to land" landed_is "$(expected 3 50 | wc -l)"
	kill -TERM "$pid"
	wait_until "the drainer to end" gone "$pid"
	wait "$pid" || st=$?
	[ "$st" -eq 0 ]
	[ ! -s "$BATS_TEST_TMPDIR/drainer.err" ]
	[ "$(landed_sim "$DB")" = "$(expected_rows 3 50)" ]
	[ -z "$(rcli --scan --pattern 'simlog:*')" ]
}

@test "capi: the example builds against an installed copy with pkg-config, shared and static" {
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	# The Libs, Cflags and private requirements of the installed .pc.
	run pc --cflags simlog
	assert_success
	[[ " $output " == *" -I$DEST/usr/include "* ]]
	run pc --libs simlog
	assert_success
	[ "$(echo $output)" = "-L$DEST/usr/lib -lsimlog" ]
	run pc --static --libs simlog
	assert_success
	for l in -lsimlog -lhiredis -lsqlite3 -ljansson -llz4 -lz -lssl -lcrypto -pthread; do
		[[ " $output " == *" $l "* ]] || { echo "no $l in: $output"; return 1; }
	done

	# Shared, as the page says: cc sim-writer.c $(pkg-config --cflags --libs simlog)
	cc -o "$BATS_TEST_TMPDIR/sw-shared" "$SIMLOG_TOP/examples/sim-writer.c" \
		$(pc --cflags --libs simlog)
	run readelf -d "$BATS_TEST_TMPDIR/sw-shared"
	assert_output --partial "Shared library: [libsimlog.so.0]"
	LD_LIBRARY_PATH="$DEST/usr/lib" run --separate-stderr "$BATS_TEST_TMPDIR/sw-shared" 2 30
	assert_success
	[ "$(jget "$output" '$.pushed')" = "$(expected 2 30 | wc -l)" ]

	# Static, through examples/Makefile (a copy, as a user would have it),
	# where only libsimlog.a is installed.
	cp -R "$SIMLOG_TOP/examples" "$BATS_TEST_TMPDIR/ex"
	rm -f "$BATS_TEST_TMPDIR/ex/sim-writer"
	mkdir "$BATS_TEST_TMPDIR/static"
	cp -R "$DEST/usr" "$BATS_TEST_TMPDIR/static/usr"
	rm "$BATS_TEST_TMPDIR/static/usr/lib/"libsimlog.so*
	PKG_CONFIG_PATH="$BATS_TEST_TMPDIR/static/usr/lib/pkgconfig" \
	PKG_CONFIG_SYSROOT_DIR="$BATS_TEST_TMPDIR/static" \
		make -C "$BATS_TEST_TMPDIR/ex" --no-print-directory -s STATIC=1 \
		CFLAGS="-O2 -Werror"
	run readelf -d "$BATS_TEST_TMPDIR/ex/sim-writer"
	refute_output --partial "libsimlog"
	run --separate-stderr "$BATS_TEST_TMPDIR/ex/sim-writer" 3 40
	assert_success
	[ "$(jget "$output" '$.pushed')" = "$(expected 3 40 | wc -l)" ]

	# What both runs stored, exactly.
	run simlog-drain -q -d "$DB"
	assert_success
	[ "$(landed_sim "$DB")" = "$( (expected_rows 2 30; expected_rows 3 40) | sort)" ]
}

@test "capi: the public headers compile as C++ and link against the library" {
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL
	cat > "$BATS_TEST_TMPDIR/t.cpp" <<'CPP'
#include <simlog.h>
#include <simlog_state.h>
#include <simlog_health.h>
#include <simlog_backlog.h>
#include <simlog_drain.h>
#include <cstdio>
#include <cstring>

int main()
{
	struct simlog_writer_opts o;
	struct simlog_writer_stats st;
	struct simlog_drainer_opts dopts;
	struct simlog_err e;
	const char *rec = "{\"type\":\"cpp\",\"n\":1}";
	struct simlog_backlog b = {};

	// One function from each header.
	simlog_backlog_clear(&b);
	std::printf("%08x %s\n", (unsigned)simlog_state_crc32("123456789", 9),
	    simlog_ping_severity_name(SIMLOG_SEV_PROBLEM));
	simlog_writer_opts_init(&o);
	struct simlog_writer *w = simlog_writer_open(&o, &e);
	if (w == NULL) {
		std::fprintf(stderr, "%s\n", e.msg);
		return e.code;
	}
	if (simlog_writer_write(w, rec, std::strlen(rec), &e) != 0)
		return 2;
	simlog_writer_close(w, &st);
	std::printf("pushed %llu\n", st.pushed);
	simlog_drainer_opts_init(&dopts);
	std::printf("batch %zu\n", dopts.batch);
	return 0;
}
CPP
	g++ -std=c++11 -Wall -Wextra -pedantic -Werror -o "$BATS_TEST_TMPDIR/t" \
		"$BATS_TEST_TMPDIR/t.cpp" $(pc --cflags --static --libs simlog)
	LD_LIBRARY_PATH="$DEST/usr/lib" run "$BATS_TEST_TMPDIR/t"
	assert_success
	assert_line "cbf43926 problem"
	assert_line "pushed 1"
	assert_line "batch 100000"
	run simlog-drain -q -d "$DB"
	assert_success
	[ "$(sqlite3 "$DB" "SELECT simulation_id, data FROM cpp")" = 'toy|{"type":"cpp","n":1}' ]
}

@test "capi: the writer refuses bad records (1), then takes no more once the spool is full (-1), and counts every record" {
	export SIMLOG_REDIS_URL="unix://$BATS_TEST_TMPDIR/no-redis/sock"
	cat > "$BATS_TEST_TMPDIR/t.c" <<'C'
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <simlog.h>

static void
try_write(struct simlog_writer *w, const char *rec)
{
	struct simlog_err why;
	int rc = simlog_writer_write(w, rec, strlen(rec), &why);

	printf("%d %s\n", rc, rc ? why.msg : "");
}

int
main(void)
{
	struct simlog_writer_opts o;
	struct simlog_writer_stats st;
	struct simlog_err e;
	struct simlog_writer *w;
	const char *rec = "{\"type\":\"t\",\"pad\":\"0123456789012345678901234567890123456789\"}";
	struct timespec ts = { 0, 10000000 };
	int i, rc = 0;

	simlog_writer_opts_init(&o);
	o.max_record = 100;
	o.batch = 1;
	o.spool_max = 4096;
	if ((w = simlog_writer_open(&o, &e)) == NULL)
		return e.code;
	try_write(w, "{\"type\":\"t\",");
	try_write(w, "{\"kind\":\"t\"}");
	try_write(w, "{\"type\":\"sqlite_t\"}");
	try_write(w, "   ");
	try_write(w, "{\"type\":\"t\",\"pad\":\"01234567890123456789012345678901234567890123456789012345678901234567890123456789\"}");
	for (i = 0; i < 2000 && rc == 0; i++) {
		struct simlog_err why;

		if ((rc = simlog_writer_write(w, rec, strlen(rec), &why)) < 0)
			printf("-1 %s\n", why.msg);
		nanosleep(&ts, NULL);
	}
	simlog_writer_close(w, &st);
	printf("records %llu spooled %llu failed %llu sum %llu\n", st.records,
	    st.spooled, st.failed, st.pushed + st.spooled + st.dropped +
	    st.failed);
	printf("spool_failed %d fatal %d\n", st.spool_failed, st.fatal.code);
	return 0;
}
C
	cc -std=c11 -Wall -Wextra -Werror -o "$BATS_TEST_TMPDIR/t" "$BATS_TEST_TMPDIR/t.c" \
		$(pc --cflags --libs simlog)
	LD_LIBRARY_PATH="$DEST/usr/lib" run --separate-stderr "$BATS_TEST_TMPDIR/t"
	assert_success
	[ "${lines[0]}" = "1 expected a member name at byte 13" ]
	[[ "${lines[1]}" == '1 no "type" field'* ]]
	[ "${lines[2]}" = "1 type uses a reserved prefix (sqlite_, simlog_)" ]
	[ "${lines[3]}" = "1 empty record" ]
	[ "${lines[4]}" = "1 record of 101 bytes is longer than the largest accepted, 100" ]
	assert_line --regexp '^-1 spool .* is full '
	# Every record taken is spooled or counted as failed.
	[[ "${lines[-2]}" =~ ^records\ ([0-9]+)\ spooled\ ([0-9]+)\ failed\ ([0-9]+)\ sum\ ([0-9]+)$ ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[4]}" ]
	[ "${BASH_REMATCH[2]}" -gt 0 ]
	[ "${BASH_REMATCH[3]}" -gt 0 ]
	[ "${lines[-1]}" = "spool_failed 1 fatal 74" ]
}

# members STRUCT [HEADER]: the member names of struct STRUCT in HEADER
# (simlog.h).
members() {
	S=$1 perl -0ne '
		/\nstruct \Q$ENV{S}\E \{(.*?)\n\};/s or exit 1;
		($b = $1) =~ s{/\*.*?\*/}{}gs;
		for (split /;/, $b) {
			if (/\(\s*\*\s*(\w+)\s*\)/) { print "$1\n"; next }
			s/\[[^\]]*\]//g;
			for (split /,/) { print "$1\n" if /(\w+)\s*$/ }
		}' "$SIMLOG_TOP/lib/${2:-simlog.h}"
}

# documented PREFIX HEADER STRUCT...: every function PREFIX* of lib/HEADER
# has its synopsis line in libsimlog(3), and every member of each STRUCT
# its tagged paragraph (".B type name", possibly with [..] or (..)).
documented() {
	local page="$SIMLOG_TOP/man/libsimlog.3" prefix=$1 header=$2 f m s missing=""
	shift 2
	for f in $(grep -o "${prefix}[a-z_]*(" "$SIMLOG_TOP/lib/$header" | tr -d '(' | sort -u); do
		grep -q "^\.BI \".*[ *]$f(" "$page" || missing="$missing $f()"
	done
	for s in "$@"; do
		run members "$s" "$header"
		assert_success
		[ -n "$output" ]
		for m in $output; do
			grep -qE "^\.B [^ ].*[ *(]$m([[)].*)?\$" "$page" || missing="$missing $s.$m"
		done
	done
	[ -z "$missing" ] || { echo "not in libsimlog(3):$missing"; return 1; }
}

# quoted SECTION FILE: the program under ".SS SECTION" of libsimlog(3) is
# examples/FILE as it is.  After a change to an example, its text for the
# page (between ".SS SECTION" ".EX" ".ta ..." and ".EE") is
#   sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/'/\\\\(aq/g" -e 's/`/\\(ga/g' \
#       -e 's/\^/\\(ha/g' -e 's/~/\\(ti/g' -e 's/^\./\\\&./' examples/FILE
quoted() {
	# The roff escapes the page uses in the program, undone.
	sed -n "/^\\.SS $1\$/,/^\\.EE\$/p" "$SIMLOG_TOP/man/libsimlog.3" |
		sed -e '1d;$d' -e '/^\.EX$/d' -e '/^\.ta /d' |
		sed -e 's/^\\&//' -e 's/\\(aq/'"'"'/g' -e 's/\\(ga/`/g' -e 's/\\(ha/^/g' \
		    -e 's/\\(ti/~/g' -e 's/\\-/-/g' -e 's/\\e/\\/g' > "$BATS_TEST_TMPDIR/quoted.c"
	run diff -u "$SIMLOG_TOP/examples/$2" "$BATS_TEST_TMPDIR/quoted.c"
	assert_success
}

@test "capi: libsimlog(3) documents every writer function and every member of the writer's structs" {
	documented simlog_writer_ simlog.h simlog_writer_opts simlog_conn_opts simlog_writer_stats
}

@test "capi: libsimlog(3) documents every drainer function and every member of the drainer's structs" {
	documented simlog_drainer_ simlog_drain.h simlog_drainer_opts simlog_drainer_stats simlog_drainer_tally
}

@test "capi: libsimlog(3) quotes examples/sim-writer.c as it is" {
	quoted "Program source" sim-writer.c
}

@test "capi: libsimlog(3) quotes examples/sim-drainer.c as it is" {
	quoted "Drainer program source" sim-drainer.c
}

# The headers make install puts in PREFIX/include: the public API, and
# nothing of the library's internals (lib/*.h that are not simlog*.h).
PUBLIC_HEADERS="simlog.h simlog_backlog.h simlog_drain.h simlog_health.h simlog_state.h"

@test "capi: only the public headers are installed, and each compiles alone with -Wall -Werror, as C11 and as C++" {
	cd "$BATS_TEST_TMPDIR"
	run ls "$DEST/usr/include"
	assert_success
	[ "$(echo $output)" = "$PUBLIC_HEADERS" ]
	local h
	for h in $PUBLIC_HEADERS; do
		# Only the C library's headers and the other installed ones.
		run grep -h '^#include' "$DEST/usr/include/$h"
		refute_output --regexp '"(util|chunk|queue|spool|policy|breaker|json|lines|url|health|maxmemory|schema|drain|state_codec|state_json|net/[a-z_]*|sink/[a-z_]*)\.h"'
		printf '#include <%s>\nint main(void) { return 0; }\n' "$h" > alone.c
		cc -std=c11 -pedantic -Wall -Wextra -Wstrict-prototypes -Werror \
			-I"$DEST/usr/include" -c -o alone.o alone.c ||
			{ echo "$h does not compile alone as C"; return 1; }
		cp alone.c alone.cpp
		g++ -std=c++11 -pedantic -Wall -Wextra -Werror \
			-I"$DEST/usr/include" -c -o alone.o alone.cpp ||
			{ echo "$h does not compile alone as C++"; return 1; }
	done
}

# declared: the functions the installed headers declare, each on the line
# after its SIMLOG_API.
declared() {
	cat "$DEST"/usr/include/simlog*.h | awk '
		/^SIMLOG_API$/ { api = 1; next }
		api { if (match($0, /simlog_[a-z0-9_]+\(/)) print substr($0, RSTART, RLENGTH - 1); api = 0 }' | sort -u
}

@test "capi: libsimlog.so exports exactly the functions of the installed headers, each marked SIMLOG_API" {
	cd "$BATS_TEST_TMPDIR"
	declared > declared
	[ "$(wc -l < declared)" -gt 50 ]
	nm -D --defined-only "$DEST/usr/lib/libsimlog.so.0.1.0" |
		awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sort > exported
	run diff -u declared exported
	assert_success
	# No prototype at the left margin without its mark: a function
	# declared public but forgotten by the export list.
	cat "$DEST"/usr/include/simlog*.h | sed 's|/\*.*\*/||' |
		grep -E '^[a-z].*[ *]simlog_[a-z0-9_]+\(' | grep -v '^SIMLOG_API' |
		grep -oE 'simlog_[a-z0-9_]+\(' | tr -d '(' | sort -u > prototypes
	run comm -23 prototypes declared
	assert_output ""
	# And the Debian symbols file lists the same.
	sed -n 's/^ \(simlog_[a-z0-9_]*\)@Base .*/\1/p' "$SIMLOG_TOP/debian/libsimlog0.symbols" |
		sort > symbols
	run diff -u exported symbols
	assert_success
}

# Every function a library object defines for others carries the name of
# its file (simlog_FILE_...), or of the subject the file is named for:
# what is not listed here is a function in the wrong file, or misnamed.
prefix_ok() {
	local obj=$1 fn=$2 f
	f=$(basename "$obj" .o)
	case "$fn" in "simlog_${f}"|"simlog_${f}_"*) return 0 ;; esac
	case "$f:$fn" in
	# lib/net: the connection (simlog_conn_*) and its transport layer
	# (simlog_net_*, simlog_link_* in link.c), file by file.
	conn:simlog_cmd|conn:simlog_script_*|*:simlog_net_*|*:simlog_conn_*|\
	scan:simlog_node_cmd|wait:*) return 0 ;;
	# The batch id is part of the chunk format.
	chunk:simlog_idgen_*) return 0 ;;
	# The key layout and everything that names keys (simlog(7)).
	queue:simlog_key_*|queue:simlog_push_*|queue:simlog_sid_*|\
	queue:simlog_entries_*|queue:simlog_list_sims*|queue:simlog_shard_of|\
	queue:simlog_forget_old_sims) return 0 ;;
	# The backlog's corrupt stream (simlog_backlog.h).
	backlog:simlog_corrupt_*) return 0 ;;
	# The retry settings object of the failure policy.
	policy:simlog_retry_*) return 0 ;;
	# A schema's tables (simlog_stable) and their values.
	schema:simlog_stable_*|schema:simlog_val_key) return 0 ;;
	# The JSON-lines writer (simlog_jw) and the text it escapes.
	jsonw:simlog_jw_*|jsonw:simlog_utf8_text) return 0 ;;
	state_codec:simlog_state_*|state_json:simlog_state_*) return 0 ;;
	writer_summary:simlog_writer_*|drain:simlog_drainer_*) return 0 ;;
	# The SQL both sinks build from a schema.
	sink:simlog_sql*) return 0 ;;
	# Small helpers for every file.
	util:*) return 0 ;;
	esac
	return 1
}

@test "capi: every library function is named for its file, or for the subject its file holds" {
	local c o fn bad=
	# The objects of the sources there are (an older build may hold
	# objects of files since gone).
	for c in "$SIMLOG_TOP"/lib/*.c "$SIMLOG_TOP"/lib/*/*.c; do
		o=$SIMLOG_BUILD/lib/${c#"$SIMLOG_TOP"/lib/}
		o=${o%.c}.o
		[ -f "$o" ] || { echo "no object for $c"; false; }
		for fn in $(nm --defined-only "$o" | awk '$2 == "T" { print $3 }'); do
			prefix_ok "$o" "$fn" || bad="$bad ${o##*/lib/}:$fn"
		done
	done
	[ -z "$bad" ] || { echo "named for another file:$bad"; false; }
	# And the check bites: a writer function in the queue's file would not pass.
	! prefix_ok lib/queue.o simlog_writer_open
}

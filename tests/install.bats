#!/usr/bin/env bats
# make install: every file in its place, a usable library and pkg-config
# file, and installed tools that find their installed schemas.

load helpers

teardown() {
	stop_all_redis
}

setup() {
	simlog_env
	unset SIMLOG_SCHEMA_PATH
	DEST="$BATS_TEST_TMPDIR/root"
	# The installed library is the plain build, whatever the suite runs under.
	make -C "$SIMLOG_TOP" --no-print-directory -s SANITIZE= install DESTDIR="$DEST" \
		PREFIX=/usr >"$BATS_TEST_TMPDIR/install.log" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/install.log"; return 1; }
}

@test "install: binaries, library, header, pkg-config file" {
	for t in simlog-push simlog-drain; do
		[ -x "$DEST/usr/bin/$t" ]
	done
	[ -f "$DEST/usr/lib/libsimlog.a" ]
	[ -f "$DEST/usr/lib/libsimlog.so.0.1.0" ]
	[ "$(readlink "$DEST/usr/lib/libsimlog.so.0")" = libsimlog.so.0.1.0 ]
	[ "$(readlink "$DEST/usr/lib/libsimlog.so")" = libsimlog.so.0 ]
	[ -f "$DEST/usr/include/simlog.h" ]
	run grep -E '^(prefix|libdir|includedir)=' "$DEST/usr/lib/pkgconfig/simlog.pc"
	assert_line "prefix=/usr"
	assert_line "libdir=/usr/lib"
	assert_line "includedir=/usr/include"
}

@test "install: the shared library carries its soname" {
	run objdump -p "$DEST/usr/lib/libsimlog.so.0.1.0"
	assert_output --partial "SONAME               libsimlog.so.0"
}

@test "install: man pages and completions for every tool" {
	for t in simlog-push simlog-drain; do
		[ -f "$DEST/usr/share/man/man1/$t.1" ]
		[ -f "$DEST/usr/share/bash-completion/completions/$t" ]
		[ -f "$DEST/usr/share/zsh/site-functions/_$t" ]
	done
	[ -f "$DEST/usr/share/man/man3/simlog.3" ]
	[ -f "$DEST/usr/share/man/man7/simlog.7" ]
}

@test "install: a program builds against the installed library" {
	cat > "$BATS_TEST_TMPDIR/t.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <simlog.h>
int main(void) {
	struct simlog_url u;
	struct simlog_err e;
	char buf[128];
	if (simlog_url_parse("redis://:pw@example:7000/2", &u, &e) < 0)
		return 1;
	simlog_url_format(&u, buf, sizeof buf);
	simlog_url_clear(&u);
	puts(buf);
	return 0;
}
C
	pc="$DEST/usr/lib/pkgconfig"
	cflags=$(PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$DEST" pkg-config --cflags simlog)
	libs=$(PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$DEST" pkg-config --static --libs simlog)
	# shellcheck disable=SC2086
	cc -o "$BATS_TEST_TMPDIR/t" "$BATS_TEST_TMPDIR/t.c" $cflags $libs
	LD_LIBRARY_PATH="$DEST/usr/lib" run "$BATS_TEST_TMPDIR/t"
	assert_success
	assert_output "redis://:***@example:7000/2"
}

@test "uninstall removes what install put there" {
	make -C "$SIMLOG_TOP" --no-print-directory -s SANITIZE= uninstall DESTDIR="$DEST" PREFIX=/usr
	run find "$DEST" -type f
	assert_output ""
}

# drain_typed DRAIN: push AgentFarm records to a private Redis and drain them
# with the named schema agentfarm, found the way an installed tool finds it.
drain_typed() {
	start_redis main
	"$SIMGEN" -n 200 -s 1 | simlog-push -u "$REDIS_URL" -s run1 >/dev/null 2>&1
	run env -u SIMLOG_SCHEMA_PATH "$1" -q -u "$REDIS_URL" --schema agentfarm \
		-d "$BATS_TEST_TMPDIR/typed.db"
	assert_success
	[ "$(rows "$BATS_TEST_TMPDIR/typed.db" agents)" -gt 0 ]
	[ "$(rows "$BATS_TEST_TMPDIR/typed.db" agent_actions)" -gt 0 ]
}

@test "install PREFIX=DIR after a plain make: the drain finds the installed schemas" {
	prefix="$BATS_TEST_TMPDIR/prefix"
	make -C "$SIMLOG_TOP" --no-print-directory -s SANITIZE= install \
		PREFIX="$prefix" >"$BATS_TEST_TMPDIR/install2.log" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/install2.log"; return 1; }
	# The build is the plain one: another schema directory is compiled in.
	run grep -c "$prefix/share/simlog/schemas" "$prefix/bin/simlog-drain"
	assert_output 0
	[ -f "$prefix/share/simlog/schemas/agentfarm.schema" ]
	drain_typed "$prefix/bin/simlog-drain"
}

@test "install DESTDIR=DIR: the staged drain finds the staged schemas" {
	[ -f "$DEST/usr/share/simlog/schemas/agentfarm.schema" ]
	drain_typed "$DEST/usr/bin/simlog-drain"
}

@test "install: no schema named so is still exit 66" {
	start_redis main
	run env -u SIMLOG_SCHEMA_PATH "$DEST/usr/bin/simlog-drain" -q \
		-u "$REDIS_URL" --schema nosuchschema -d "$BATS_TEST_TMPDIR/x.db"
	assert_failure 66
	assert_output --partial "no schema named 'nosuchschema'"
}

@test "install: the Python module, where Debian's python3 imports it" {
	local dir="$DEST/usr/lib/python3/dist-packages"
	[ -f "$dir/simlog/__init__.py" ]
	[ -f "$dir/simlog/agentfarm.py" ]
	ls "$dir"/simlog/_simlog.cpython-*.so
	[ -f "$DEST/usr/share/man/man3/simlog-python.3" ]
	grep -qx "simlog: Python module installed in /usr/lib/python3/dist-packages" \
		"$BATS_TEST_TMPDIR/install.log"
	start_redis main
	# From outside the tree, with nothing of it on any path.
	cd /
	run env PYTHONPATH="$dir" /usr/bin/python3 -B -c '
import sys, simlog
assert simlog.__file__.startswith(sys.argv[1]), simlog.__file__
with simlog.Writer(url=sys.argv[2], simulation="inst") as w:
    w.write_many([{"type": "t", "i": i} for i in range(3)])
print(w.close()["pushed"])' "$dir" "$REDIS_URL"
	assert_success
	assert_output 3
}

@test "install PREFIX=DIR: the Python module's directory, and PYTHONPATH where python3 does not look" {
	prefix="$BATS_TEST_TMPDIR/prefix"
	run make -C "$SIMLOG_TOP" --no-print-directory -s SANITIZE= install \
		PREFIX="$prefix"
	assert_success
	assert_line "simlog: Python module installed in $prefix/lib/python3/dist-packages, which /usr/bin/python3 does not search: PYTHONPATH=$prefix/lib/python3/dist-packages"
	PYTHONPATH="$prefix/lib/python3/dist-packages" run /usr/bin/python3 -B \
		-c 'import simlog.agentfarm; print(simlog.__version__)'
	assert_output 0.1.0
}

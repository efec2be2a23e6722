#!/usr/bin/env bats
# make install: every file in its place, a usable library and pkg-config
# file, and installed tools that find their installed schemas.
# once: it installs the plain build

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
	[ -f "$DEST/usr/share/man/man3/libsimlog.3" ]
	[ -f "$DEST/usr/share/man/man7/simlog.7" ]
}

@test "install: a program builds against the installed library" {
	cat > "$BATS_TEST_TMPDIR/t.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <simlog.h>
int main(void) {
	struct simlog_conn_opts o;
	struct simlog_conn c;
	struct simlog_err e;
	memset(&o, 0, sizeof o);
	o.url = "redis://:pw@example:7000/2";
	if (simlog_conn_init(&c, &o, &e) < 0)
		return 1;
	puts(c.display);
	simlog_conn_clear(&c);
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
	"$SIMGEN" --ids -n 200 -s 1 | simlog-push -u "$REDIS_URL" -s run1 >/dev/null 2>&1
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

# A prefix the system knows nothing of, as a newcomer would pick.
install_prefix() {
	PREFIX_DIR="$BATS_TEST_TMPDIR/opt"
	env PATH=/usr/bin:/bin make -C "$SIMLOG_TOP" --no-print-directory -s \
		SANITIZE= install PREFIX="$PREFIX_DIR" >"$BATS_TEST_TMPDIR/out" \
		2>"$BATS_TEST_TMPDIR/err" || { cat "$BATS_TEST_TMPDIR/err"; return 1; }
	NOTE=$(cat "$BATS_TEST_TMPDIR/out")
}

@test "install PREFIX=DIR: it prints exactly what the shell needs, and that is enough" {
	install_prefix
	echo "$NOTE"
	[[ "$NOTE" == "simlog: installed; for the shell and the system to find it:"* ]]
	# The lines to paste, pasted: nothing else is set.
	grep -q "^  export PATH=$PREFIX_DIR/bin:\\\$PATH   (man then finds $PREFIX_DIR/share/man too)\$" <<< "$NOTE"
	grep -q "^  export PKG_CONFIG_PATH=$PREFIX_DIR/lib/pkgconfig " <<< "$NOTE"
	export PATH="$PREFIX_DIR/bin:/usr/bin:/bin" PKG_CONFIG_PATH="$PREFIX_DIR/lib/pkgconfig"
	unset LD_LIBRARY_PATH MANPATH
	# man simlog is the overview; a function's name finds the library page.
	run man -w simlog
	assert_output "$PREFIX_DIR/share/man/man7/simlog.7"
	run man -w simlog_writer_open
	# (man follows the link page to the page itself)
	assert_output "$PREFIX_DIR/share/man/man3/libsimlog.3"
	run env MANWIDTH=80 man simlog_writer_open
	assert_output --partial "simlog_writer_open"
	# A program built as the README says runs without LD_LIBRARY_PATH.
	cc -o "$BATS_TEST_TMPDIR/sw" "$SIMLOG_TOP/examples/sim-writer.c" \
		$(pkg-config --cflags --libs simlog)
	run readelf -d "$BATS_TEST_TMPDIR/sw"
	assert_output --partial "Shared library: [libsimlog.so.0]"
	run "$BATS_TEST_TMPDIR/sw" 0
	assert_failure 64
	assert_output --partial "usage: sim-writer"
	# The units name man pages that man now finds.
	if command -v systemd-analyze >/dev/null; then
		cd "$PREFIX_DIR/lib/systemd/system"
		run systemd-analyze verify simlog-drain.service simlog-replay.timer
		assert_success
		assert_output ""
	fi
}

@test "install PREFIX=DIR: a system prefix needs no notes" {
	run env DESTDIR= PATH="$BATS_TEST_TMPDIR/p/bin:/usr/bin:/bin" \
		PKG_CONFIG_PATH="$BATS_TEST_TMPDIR/p/lib/pkgconfig" \
		sh "$SIMLOG_TOP/scripts/install-note.sh" "$BATS_TEST_TMPDIR/p/bin" \
		/usr/lib /usr/share/man "$BATS_TEST_TMPDIR/p/lib/pkgconfig" \
		/usr/lib/systemd/system
	assert_success
	assert_output ""
	# Staged installs are the packager's business.
	run env DESTDIR=/x sh "$SIMLOG_TOP/scripts/install-note.sh" /nowhere \
		/nowhere /nowhere /nowhere /nowhere
	assert_output ""
}

@test "install: STATIC=1 links libsimlog.a even with the shared library beside it" {
	install_prefix
	cp -R "$SIMLOG_TOP/examples" "$BATS_TEST_TMPDIR/ex"
	rm -f "$BATS_TEST_TMPDIR/ex/sim-writer"
	[ -f "$PREFIX_DIR/lib/libsimlog.so.0" ]
	PKG_CONFIG_PATH="$PREFIX_DIR/lib/pkgconfig" make -C "$BATS_TEST_TMPDIR/ex" \
		--no-print-directory -s STATIC=1 CFLAGS="-O2 -Werror"
	run readelf -d "$BATS_TEST_TMPDIR/ex/sim-writer"
	refute_output --partial libsimlog
	# And without STATIC, the shared one.
	rm "$BATS_TEST_TMPDIR/ex/sim-writer"
	PKG_CONFIG_PATH="$PREFIX_DIR/lib/pkgconfig" make -C "$BATS_TEST_TMPDIR/ex" \
		--no-print-directory -s CFLAGS="-O2 -Werror"
	run readelf -d "$BATS_TEST_TMPDIR/ex/sim-writer"
	assert_output --partial "Shared library: [libsimlog.so.0]"
}

@test "install: the Python module, where Debian's python3 imports it" {
	local dir="$DEST/usr/lib/python3/dist-packages"
	[ -f "$dir/simlog/__init__.py" ]
	[ -f "$dir/simlog/agentfarm.py" ]
	ls "$dir"/simlog/_simlog.cpython-*.so
	[ -f "$DEST/usr/share/man/man3/simlog-python.3" ]
	grep -qx "simlog: the Python module is in /usr/lib/python3/dist-packages/simlog" \
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
	assert_line "simlog: the Python module is in $prefix/lib/python3/dist-packages/simlog"
	assert_line "  export PYTHONPATH=$prefix/lib/python3/dist-packages   (for 'import simlog')"
	PYTHONPATH="$prefix/lib/python3/dist-packages" run /usr/bin/python3 -B \
		-c 'import simlog.agentfarm; print(simlog.__version__)'
	assert_output 0.1.0
}

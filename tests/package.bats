#!/usr/bin/env bats
# The Debian packages (debian/, make deb): built from the tree, lintian-clean,
# installed with apt-get as a user would, used (push, drain, the C example
# against the installed library, the units checked by systemd-analyze), then
# purged, leaving nothing but the data the services made.  Root only: it
# installs into the system, and takes it all out again.
# once: it builds and installs the plain packages

load helpers
bats_require_minimum_version 1.5.0

PKGS=$(sed -n 's/^Package: //p' "$SIMLOG_TOP/debian/control" | tr '\n' ' ')
# lintian's warnings that are meant, each with its reason (debian/README.source).
LINTIAN_EXPECTED="W: simlog-tools: non-standard-file-perm 0600 != 0644 [etc/simlog/simlog.env]"

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "installs packages: root only"
	command -v dpkg-buildpackage >/dev/null ||
		skip "dpkg-dev is not installed"
	# Never touch a system that has simlog of its own.
	local p
	for p in $PKGS; do
		if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' installed$'; then
			skip "$p is installed on this machine"
		fi
	done
	! getent passwd simlog >/dev/null || skip "a user simlog exists on this machine"
	[ ! -e /var/lib/simlog ] || skip "/var/lib/simlog exists on this machine"
	# The unit tests run in the suite: the build skips them.
	local start=$EPOCHREALTIME
	DEB_BUILD_OPTIONS=nocheck make -C "$SIMLOG_TOP" --no-print-directory -s deb \
		> "$BATS_FILE_TMPDIR/deb.log" 2>&1 ||
		{ cat "$BATS_FILE_TMPDIR/deb.log" >&3; return 1; }
	echo "# make deb: $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s" >&3
	sed 's/^/# /' "$BATS_FILE_TMPDIR/deb.log" >&3
}

teardown_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	# Whatever a failed test left installed goes.
	if [ -f "$BATS_FILE_TMPDIR/installed" ]; then
		apt-get purge -y -qq -o DPkg::Lock::Timeout=120 $PKGS \
			>/dev/null 2>&1 || true
		rm -rf /var/lib/simlog
		deluser --quiet --system simlog >/dev/null 2>&1 || true
		delgroup --quiet --system simlog >/dev/null 2>&1 || true
	fi
}

setup() {
	simlog_env
	DEBS="$SIMLOG_TOP/build/deb"
	cd "$BATS_TEST_TMPDIR"
}

teardown() {
	stop_all_redis
}

# As a user would: apt-get install ./build/deb/*.deb.  Another apt-get on
# the machine holds dpkg's lock for a while: waited for, up to 2 minutes.
install_debs() {
	touch "$BATS_FILE_TMPDIR/installed"
	(cd "$SIMLOG_TOP" && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		-o DPkg::Lock::Timeout=120 --no-install-recommends ./build/deb/*.deb) > "$BATS_FILE_TMPDIR/apt.log" 2>&1 ||
		{ cat "$BATS_FILE_TMPDIR/apt.log"; return 1; }
}

purge_debs() {
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq \
		-o DPkg::Lock::Timeout=120 $PKGS > "$BATS_FILE_TMPDIR/purge.log" 2>&1 ||
		{ cat "$BATS_FILE_TMPDIR/purge.log"; return 1; }
}

@test "package: make deb builds every package of debian/control, at the Makefile's version" {
	local v p
	v=$(sed -n 's/^VERSION *:= *//p' "$SIMLOG_TOP/Makefile")
	# Those and no others (debug symbols are in build/deb/debug).
	[ "$(ls "$DEBS"/*.deb | wc -l)" -eq "$(wc -w <<< "$PKGS")" ]
	for p in $PKGS; do
		run dpkg-deb -f "$DEBS/${p}_${v}_$(dpkg --print-architecture).deb" Package Version
		assert_success
		assert_output "Package: $p
Version: $v"
		echo "# $(du -k "$DEBS/${p}_${v}_"*.deb | cut -f1) KiB $p" >&3
	done
}

@test "package: every symbol of debian/libsimlog0.symbols is exported; one that is not fails" {
	# dpkg-gensymbols forgives a symbol lost in the version that added it;
	# as the next version, it fails as the next release's build would.
	local v next sym="$SIMLOG_TOP/debian/libsimlog0.symbols"
	v=$(sed -n 's/^VERSION *:= *//p' "$SIMLOG_TOP/Makefile")
	next="$v+next"
	mkdir -p lib/DEBIAN
	dpkg-deb -x "$DEBS/libsimlog0_${v}_"*.deb lib
	gensym() {
		dpkg-gensymbols -plibsimlog0 -I"$1" -Plib -v"$next" -O/dev/null \
			-e"$(echo lib/usr/lib/*/libsimlog.so.*.*)"
	}
	run gensym "$sym"
	assert_success
	refute_output --partial "disappeared"
	{ cat "$sym"; echo " simlog_no_such_function@Base $v"; } > gone.symbols
	run gensym gone.symbols
	assert_failure
	assert_output --partial "some symbols or patterns disappeared"
	assert_output --partial "#MISSING: $next# simlog_no_such_function@Base $v"
}

@test "package: lintian finds no errors, and only the warnings meant" {
	command -v lintian >/dev/null || skip "lintian is not installed"
	run lintian --pedantic --display-info "$DEBS"/*.deb
	printf '%s\n' "$output" | grep -v '^running with root' | sed 's/^/# /' >&3
	refute_line --regexp '^E: '
	run grep '^W: ' <<< "$output"
	assert_output "$LINTIAN_EXPECTED"
}

@test "package: apt-get install ./*.deb makes the user, its directory, the settings; no unit is enabled" {
	install_debs
	run getent passwd simlog
	assert_success
	assert_output --regexp '^simlog:x:[0-9]+:[0-9]+:[^:]*:/var/lib/simlog:/usr/sbin/nologin$'
	[ "$(stat -c '%U:%G %a' /var/lib/simlog)" = "simlog:simlog 750" ]
	[ "$(stat -c '%U:%G %a' /etc/simlog/simlog.env)" = "root:root 600" ]
	run dpkg-query -W -f='${Conffiles}' simlog-tools
	assert_output --partial "/etc/simlog/simlog.env"
	local u
	for u in simlog-drain-follow.service simlog-drain.timer simlog-replay.timer; do
		run systemctl --root=/ is-enabled "$u"
		assert_output disabled
	done
	# The overview, the library page, and the tools, where a user looks.
	run man -w simlog
	assert_output /usr/share/man/man7/simlog.7.gz
	run man -w simlog_writer_open
	assert_output /usr/share/man/man3/libsimlog.3.gz
	[ -x /usr/bin/simlog-push ]
	[ -f /usr/share/bash-completion/completions/simlog-drain ]
	[ -f /usr/share/zsh/vendor-completions/_simlog-drain ]
}

@test "package: the installed tools push and drain, typed by the installed schema" {
	start_redis main
	"$SIMGEN" --ids -n 300 -s 4 > recs.jsonl
	run /usr/bin/simlog-push -q -u "$REDIS_URL" -s pkg < recs.jsonl
	assert_success
	# The schema found where the package put it, nothing pointing there.
	run env -u SIMLOG_SCHEMA_PATH /usr/bin/simlog-drain -q -u "$REDIS_URL" \
		--schema agentfarm -d typed.db
	assert_success
	[ "$(rows typed.db agents)" -gt 0 ]
	run /usr/bin/simlog-push -q -u "$REDIS_URL" -s pkg < recs.jsonl
	run /usr/bin/simlog-drain -q -u "$REDIS_URL" -d plain.db
	assert_success
	[ "$(landed plain.db)" = "$(sort recs.jsonl)" ]
}

@test "package: the C example builds against the installed library, shared and static, and its records land" {
	start_redis main
	export SIMLOG_REDIS_URL=$REDIS_URL SIMLOG_SIM=cex
	cp -R "$SIMLOG_TOP/examples" ex
	rm -f ex/sim-writer
	# As the README says: make -C examples, pkg-config finding simlog.pc.
	make -C ex --no-print-directory -s CFLAGS="-O2 -Werror"
	run ldd ex/sim-writer
	assert_output --regexp "libsimlog\.so\.0 => (/usr)?/lib/[^ ]*/libsimlog\.so\.0 "
	run --separate-stderr ex/sim-writer 3 40
	assert_success
	[ "$(jget "$output" '$.failed')" = 0 ]
	n=$(jget "$output" '$.pushed')
	[ "$n" -gt 0 ]
	rm ex/sim-writer
	make -C ex --no-print-directory -s STATIC=1 CFLAGS="-O2 -Werror"
	run readelf -d ex/sim-writer
	refute_output --partial libsimlog
	run --separate-stderr ex/sim-writer 3 40
	assert_success
	run /usr/bin/simlog-drain -q -d ex.db
	assert_success
	[ $(( $(rows ex.db move) + $(rows ex.db death) + $(rows ex.db run) )) -eq $(( 2 * n )) ]
}

@test "package: the installed Python module writes records the installed drain lands, and documents itself" {
	start_redis main
	"$SIMGEN" --ids -n 500 -s 9 > recs.jsonl
	# The system's python3, with nothing of the tree on its path.
	run --separate-stderr env -u PYTHONPATH -C / /usr/bin/python3 -c '
import json, sys, simlog
assert simlog.__file__.startswith("/usr/lib/python3/dist-packages/"), simlog.__file__
w = simlog.Writer(url=sys.argv[1], simulation="py")
with open(sys.argv[2]) as f:
    for line in f:
        w.write(line.rstrip("\n"))
print(json.dumps(w.close()))
' "$REDIS_URL" "$PWD/recs.jsonl"
	assert_success
	run --separate-stderr /usr/bin/simlog-drain -q -u "$REDIS_URL" -s py -d py.db
	assert_success
	[ "$(landed py.db)" = "$(sort recs.jsonl)" ]
	# Its page is the package's, beside libsimlog-dev's.
	run dpkg -S /usr/share/man/man3/simlog-python.3.gz
	assert_output "python3-simlog: /usr/share/man/man3/simlog-python.3.gz"
}

@test "package: systemd-analyze verify accepts the installed units" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	run systemd-analyze verify /lib/systemd/system/simlog-drain-follow.service \
		/lib/systemd/system/simlog-drain.service \
		/lib/systemd/system/simlog-drain.timer \
		/lib/systemd/system/simlog-replay.service \
		/lib/systemd/system/simlog-replay.timer
	assert_success
	assert_output ""
	# The package's user runs the services, in its own directory, and
	# they stay as confined as the units make install gives.
	run grep -h '^DynamicUser=' /lib/systemd/system/simlog-drain.service.d/static-user.conf
	assert_output "DynamicUser=no"
	systemd-analyze security --help 2>/dev/null | grep -q -- --threshold || return 0
	local u
	for u in simlog-drain-follow simlog-drain simlog-replay; do
		run systemd-analyze security --offline=yes --threshold=20 "$u.service"
		assert_success
		assert_line --partial "Service runs under a static non-root user identity"
	done
}

@test "package: purged, nothing is left but the data the services made" {
	start_redis_tcp main
	# A drain as the services run it: the package's user, its directory.
	"$SIMGEN" --ids -n 50 -s 5 | /usr/bin/simlog-push -q -u "$REDIS_URL" -s svc
	run runuser -u simlog -- env -i PATH=/usr/bin:/bin /usr/bin/simlog-drain -q \
		-u "redis://127.0.0.1:$REDIS_PORT/0" -d /var/lib/simlog/results.db
	assert_success
	[ "$(sqlite3 /var/lib/simlog/results.db 'SELECT count(*) FROM simlog_batches')" -gt 0 ]
	[ "$(stat -c %U /var/lib/simlog/results.db)" = simlog ]
	# Everything the packages hold, before they go.
	local p f
	for p in $PKGS; do
		dpkg -L "$p"
	done | sort -u > owned
	purge_debs
	for p in $PKGS; do
		run dpkg-query -W -f='${Status}' "$p"
		refute_output --partial installed
	done
	# Every file and directory the packages held is gone but the data's.
	while read -r f; do
		[ -e "$f" ] || continue
		# Directories other packages share (/usr/share/man/man1 ...).
		[ -d "$f" ] && [[ $f != *simlog* ]] && continue
		echo "left: $f"
	done < owned > left
	run cat left
	assert_output "left: /var/lib/simlog"
	run ls -A /var/lib/simlog
	assert_output "results.db"
	[ ! -e /etc/simlog ]
	run find /etc /lib/systemd /usr/share /usr/lib /usr/bin /usr/include \
		/var/lib/systemd -name '*simlog*' -not -path /var/lib/simlog
	assert_output ""
	# The data's owner stays, or its files would belong to no one.
	getent passwd simlog >/dev/null
	echo "# left after purge: /var/lib/simlog/results.db ($(stat -c %s /var/lib/simlog/results.db) bytes), user and group simlog" >&3

	# With no data, the purge takes the user, the group and the directory.
	rm /var/lib/simlog/results.db
	install_debs
	purge_debs
	[ ! -e /var/lib/simlog ]
	! getent passwd simlog
	! getent group simlog
	rm -f "$BATS_FILE_TMPDIR/installed"
}

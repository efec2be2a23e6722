#!/usr/bin/env bats
# The systemd units make install puts in PREFIX/lib/systemd/system: in
# place, naming the installed tools, and accepted by systemd-analyze verify.
# once: it installs the plain build and checks unit files

load helpers

UNITS="simlog-drain-follow.service simlog-drain.service simlog-drain.timer
simlog-replay.service simlog-replay.timer"

setup() {
	PREFIX_DIR="$BATS_TEST_TMPDIR/prefix"
	DEST="$BATS_TEST_TMPDIR/root"
	make -C "$SIMLOG_TOP" --no-print-directory -s SANITIZE= install \
		PREFIX="$PREFIX_DIR" >"$BATS_TEST_TMPDIR/install.log" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/install.log"; return 1; }
	UNITDIR="$PREFIX_DIR/lib/systemd/system"
}

@test "systemd: make install puts every unit in PREFIX/lib/systemd/system" {
	for u in $UNITS; do
		[ -f "$UNITDIR/$u" ]
		[ "$(stat -c %a "$UNITDIR/$u")" = 644 ]
	done
	# No template placeholder (@BINDIR@) is left.
	run grep -l "@[A-Z]*@" "$UNITDIR"/simlog-*
	assert_output ""
	[ -f "$PREFIX_DIR/share/simlog/simlog.env.example" ]
}

@test "systemd: the services run the installed tools with the environment file" {
	run grep -h '^ExecStart=' "$UNITDIR"/simlog-*.service
	assert_line "ExecStart=$PREFIX_DIR/bin/simlog-drain --follow -q \$SIMLOG_DRAIN_ARGS"
	assert_line "ExecStart=$PREFIX_DIR/bin/simlog-drain -q \$SIMLOG_DRAIN_ARGS"
	assert_line "ExecStart=$PREFIX_DIR/bin/simlog-push --replay"
	for u in simlog-drain-follow simlog-drain simlog-replay; do
		grep -qx 'EnvironmentFile=/etc/simlog/simlog.env' "$UNITDIR/$u.service"
		grep -qx 'NoNewPrivileges=yes' "$UNITDIR/$u.service"
		grep -qx 'ProtectSystem=strict' "$UNITDIR/$u.service"
		grep -qx 'LimitCORE=0' "$UNITDIR/$u.service"
	done
	grep -qx 'Restart=on-failure' "$UNITDIR/simlog-drain-follow.service"
	grep -qx 'Type=oneshot' "$UNITDIR/simlog-drain.service"
	grep -qx 'Type=oneshot' "$UNITDIR/simlog-replay.service"
}

@test "systemd: a DESTDIR install names the final paths, not the staging tree" {
	make -C "$SIMLOG_TOP" --no-print-directory -s SANITIZE= install \
		DESTDIR="$DEST" PREFIX=/usr >"$BATS_TEST_TMPDIR/install2.log" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/install2.log"; return 1; }
	for u in $UNITS; do
		[ -f "$DEST/usr/lib/systemd/system/$u" ]
	done
	run grep -h '^ExecStart=' "$DEST/usr/lib/systemd/system/simlog-replay.service"
	assert_output "ExecStart=/usr/bin/simlog-push --replay"
	make -C "$SIMLOG_TOP" --no-print-directory -s SANITIZE= uninstall \
		DESTDIR="$DEST" PREFIX=/usr
	run find "$DEST/usr/lib/systemd" -type f
	assert_output ""
}

@test "systemd: systemd-analyze verify accepts every unit" {
	command -v systemd-analyze >/dev/null ||
		skip "systemd-analyze is not installed (Debian package systemd)"
	# Documentation= pages are looked up with man: the installed ones.
	cd "$UNITDIR"
	MANPATH="$PREFIX_DIR/share/man" run systemd-analyze verify $UNITS
	assert_success
	# It warns and goes on about a line it cannot parse: no output at all.
	assert_output ""
}

@test "systemd: the services' exposure is at most 2.0 (systemd-analyze security)" {
	command -v systemd-analyze >/dev/null ||
		skip "systemd-analyze is not installed (Debian package systemd)"
	systemd-analyze security --help 2>/dev/null | grep -q -- --threshold ||
		skip "this systemd-analyze has no security --offline --threshold"
	cd "$UNITDIR"
	for u in simlog-drain-follow simlog-drain simlog-replay; do
		# The threshold is in tenths: 20 is an exposure of 2.0.
		run systemd-analyze security --offline=yes --threshold=20 "./$u.service"
		assert_success
	done
}

#!/bin/sh
# The end of make install: what the system must be told about the
# installed files, done where it can be (ldconfig, as root) and printed
# where only the user can do it (their PATH, MANPATH, PKG_CONFIG_PATH).
# Silent when nothing is needed, and for staged installs (DESTDIR), whose
# packager knows.
#
#   install-note.sh BINDIR LIBDIR MANDIR PKGCONFIGDIR UNITDIR [PYTHONDIR]
set -u
[ -z "${DESTDIR:-}" ] || exit 0
bindir=$1 libdir=$2 mandir=$3 pcdir=$4 unitdir=$5 pydir=${6:-}
notes=

note() {
	notes="$notes$*
"
}

# on_list LIST DIR: whether DIR is one of LIST's colon-separated entries.
on_list() {
	case ":$1:" in *":$2:"*) return 0 ;; esac
	return 1
}

# The loader: its own directories need nothing; those ld.so.conf lists
# need its cache brought up to date; others are reached through the run
# path that pkg-config's flags carry (simlog.pc), or need the user.
listed=$(cat /etc/ld.so.conf /etc/ld.so.conf.d/*.conf 2>/dev/null |
	sed -n 's|^[[:space:]]*\(/[^[:space:]#]*\).*|\1|p' | sed 's|/*$||')
multiarch=$(${CC:-cc} -print-multiarch 2>/dev/null)
case $libdir in
/lib|/usr/lib|/lib64|/usr/lib64|/lib/"$multiarch"|/usr/lib/"$multiarch") ;;
*)	if printf '%s\n' "$listed" | grep -qxF "$libdir"; then
		if [ "$(id -u)" -eq 0 ]; then
			ldconfig
		else
			note "  run 'ldconfig' as root, so that programs find libsimlog.so.0 in $libdir"
		fi
	else
		note "  programs built with 'pkg-config --libs simlog' find libsimlog.so.0 in
  $libdir by themselves (a run path); for others, as root:
    echo $libdir > /etc/ld.so.conf.d/simlog.conf && ldconfig
  or LD_LIBRARY_PATH=$libdir"
	fi ;;
esac

# man-db derives its path from PATH (BINDIR/../share/man): ask it.
if PATH="$bindir:${PATH:-/usr/bin:/bin}" manpath 2>/dev/null |
    tr ':' '\n' | grep -qxF "$mandir"; then
	on_list "${PATH:-}" "$bindir" ||
		note "  export PATH=$bindir:\$PATH   (man then finds $mandir too)"
else
	on_list "${PATH:-}" "$bindir" ||
		note "  export PATH=$bindir:\$PATH"
	note "  export MANPATH=$mandir:   (the last ':' keeps the system's pages)"
fi
pcpath=$(pkg-config --variable=pc_path pkg-config 2>/dev/null)
on_list "${PKG_CONFIG_PATH:-}:$pcpath" "$pcdir" ||
	note "  export PKG_CONFIG_PATH=$pcdir   (for 'pkg-config simlog')"
case $unitdir in
/etc/systemd/system|/usr/local/lib/systemd/system|/usr/lib/systemd/system|/lib/systemd/system) ;;
*)	note "  the systemd units are outside systemd's search path: as root,
    systemctl link $unitdir/simlog-*.service $unitdir/simlog-*.timer" ;;
esac
# Debian's python3 searches /usr/lib/python3/dist-packages, not /usr/local's.
if [ -n "$pydir" ] && ! "${PYTHON:-/usr/bin/python3}" -c \
    'import sys; sys.exit(sys.argv[1] not in sys.path)' "$pydir" 2>/dev/null; then
	note "  export PYTHONPATH=$pydir   (for 'import simlog')"
fi

[ -n "$notes" ] || exit 0
printf 'simlog: installed; for the shell and the system to find it:\n%s' "$notes"

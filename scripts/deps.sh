#!/bin/sh
# Installs the Debian packages simlog needs that are missing (as root), or
# prints the exact apt-get line to run (otherwise).
#
#   deps.sh [MODE]      check (the default: build and make check), demo
#                       (build and make demo), bench, fuzz or deb (make
#                       deb: debian/control's Build-Depends)
#   deps.sh -n [MODE]   print MODE's packages, one line, and install nothing
set -eu
list=
if [ "${1:-}" = -n ]; then
	list=1
	shift
fi
mode=${1:-check}
build="gcc make pkg-config libhiredis-dev libsqlite3-dev libpq-dev
libjansson-dev liblz4-dev zlib1g-dev libssl-dev python3-dev"
run="redis-server redis-tools sqlite3"
# PostgreSQL: the server for tests/pg*.bats and make bench, psql for both.
pg="postgresql postgresql-client"
case $mode in
check)	pkgs="$build g++ $run $pg bats bats-assert bats-support man-db
groff-base bash-completion zsh binutils time python3
python3-prometheus-client python3-sqlalchemy bsdutils openssl systemd
dpkg-dev debhelper dh-python build-essential lintian jq" ;;
demo)	pkgs="$build $run" ;;
bench)	pkgs="$build $run $pg python3 python3-redis python3-psycopg2
python3-sqlalchemy time" ;;
fuzz)	pkgs="$build clang libclang-rt-dev" ;;
deb)	# Names only: no versions, no alternatives; debhelper-compat is
	# debhelper's.
	pkgs="build-essential dpkg-dev $(sed -n '/^Build-Depends:/,/^[^[:space:]B]/p' \
		"$(dirname "$0")/../debian/control" | sed '$d' |
		sed 's/^Build-Depends://; s/([^)]*)//g; s/|[^,]*//g' | tr ',' '\n' |
		sed 's/[[:space:]]//g; s/^debhelper-compat$/debhelper/' |
		grep . | tr '\n' ' ')" ;;
*)	echo "deps.sh: unknown mode '$mode' (check, demo, bench, fuzz or deb)" >&2
	exit 64 ;;
esac
if [ -n "$list" ]; then
	# shellcheck disable=SC2086
	echo $pkgs
	exit 0
fi

missing=
for p in $pkgs; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $s in
	# Unpacked and configured; a trigger (man-db's) may still be due.
	*" installed"|*" triggers-pending"|*" triggers-awaited") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "simlog: missing Debian packages; run:" >&2
	echo "  sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "simlog: installing:$missing" >&2
# apt's and dpkg's progress goes to a log, shown only when they fail.
log=$(mktemp "${TMPDIR:-/tmp}/simlog-apt.XXXXXX")
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! { apt-get update -qq && apt-get install -y -qq \
    --no-install-recommends $missing; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "simlog: apt-get failed; the packages are:$missing" >&2
	exit 1
fi

#!/bin/sh
# Installs the Debian packages simlog needs that are missing (as root), or
# prints the exact apt-get line to run (otherwise).  "deps.sh bench" adds
# what make bench needs.
set -eu
pkgs="gcc g++ make pkg-config libhiredis-dev libsqlite3-dev libpq-dev
libjansson-dev liblz4-dev zlib1g-dev libssl-dev redis-server redis-tools
sqlite3 postgresql postgresql-client bats bats-assert bats-support man-db
groff-base bash-completion zsh binutils python3 python3-prometheus-client
bsdutils openssl"
if [ "${1:-}" = bench ]; then
	pkgs="$pkgs python3 python3-redis python3-psycopg2 time"
fi

missing=
for p in $pkgs; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $s in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	echo "simlog: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >&2
else
	echo "simlog: missing Debian packages; run:" >&2
	echo "  sudo apt-get install -y$missing" >&2
	exit 1
fi

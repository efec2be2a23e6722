#!/bin/sh
# make deb: the Debian packages of this tree, in build/deb.  dpkg-buildpackage
# writes its results beside the source directory, so it runs in a copy,
# build/deb/simlog-VERSION, made of the files git knows (tracked, or new
# and not ignored) or, outside a git checkout, of everything but build/.
# DEB_BUILD_OPTIONS passes through (nocheck skips the unit tests).  The
# packages are build/deb/*.deb, their debug symbols build/deb/debug/.
#
#   deb.sh VERSION
set -eu
version=$1
top=$(pwd)
out=$top/build/deb
src=$out/simlog-$version

have=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [ "$have" != "$version" ]; then
	echo "deb.sh: debian/changelog is at $have, the Makefile at $version:" \
		"add a changelog entry (dch -v $version)" >&2
	exit 65
fi
rm -rf "$out"
mkdir -p "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$top" ls-files -z --cached --others --exclude-standard |
		xargs -0 tar -C "$top" -cf - --ignore-failed-read 2>/dev/null |
		tar -C "$src" -xf -
else
	tar -C "$top" --exclude=./build -cf - . | tar -C "$src" -xf -
fi
jobs=$(nproc 2>/dev/null || echo 1)
# The package is built as debian/rules says, whatever make called this
# (make check WERROR=1 SANITIZE=... passes its variables down).
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
cd "$src"
log=$out/build.log
if ! DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -b >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	echo "deb.sh: dpkg-buildpackage failed; the whole log: $log" >&2
	exit 1
fi
cd "$out"
rm -rf "$src"
# Debug symbols aside: apt-get install ./build/deb/*.deb takes the packages.
mkdir -p debug
for f in *-dbgsym_*.deb; do
	[ ! -e "$f" ] || mv "$f" debug/
done
for f in *.deb; do
	printf '%s\t%s\n' "$(du -k "$f" | cut -f1)K" "build/deb/$f"
done

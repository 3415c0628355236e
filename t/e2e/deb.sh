#!/bin/sh
# Builds the Debian package from `make dist`'s tarball with
# `dpkg-buildpackage -us -uc -b` and checks it without installing it: its
# files (binary, man page, unit, default file, logrotate config), its
# relations to Debian's memcached (Provides, Conflicts, Replaces), its
# maintainer scripts, the Debian paths in the unit and default file, and
# that lintian reports no error. Skips (77) without dpkg-buildpackage or
# debhelper; lintian missing is a failure (scripts/deps installs it).
set -u
top=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v dpkg-buildpackage >/dev/null 2>&1 || { echo "dpkg-buildpackage not installed: skip"; exit 77; }
command -v dh >/dev/null 2>&1 || { echo "debhelper not installed: skip"; exit 77; }
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
(cd "$top" && tar --exclude=./build --exclude=./build-debug --exclude=./build-san --exclude=./build-fuzz --exclude=./build-suite --exclude=./.git \
	--exclude=./autom4te.cache -cf - .) | (cd "$tmp/src" && tar xf -)
cd "$tmp/src" || exit 1
[ -x configure ] || autoreconf -fi >/dev/null 2>&1
if ./configure -q >"$tmp/configure.log" 2>&1 && make -s dist >"$tmp/dist.log" 2>&1; then
	ok "make dist"
else
	bad "make dist"
	tail -n 20 "$tmp/configure.log" "$tmp/dist.log"
fi
tarball=$(ls "$tmp"/src/repcached-*.tar.gz 2>/dev/null | head -1)
mkdir "$tmp/deb"
if [ -n "$tarball" ] && tar xzf "$tarball" -C "$tmp/deb"; then
	ok "dist tarball unpacks"
else
	bad "dist tarball unpacks"
fi
dir=$(ls -d "$tmp"/deb/repcached-*/ 2>/dev/null | head -1)
if [ -n "$dir" ] && [ -f "$dir/debian/control" ]; then
	ok "dist tarball carries debian/"
else
	bad "dist tarball carries debian/"
fi
if [ -n "$dir" ] && (cd "$dir" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b"
else
	bad "dpkg-buildpackage -us -uc -b"
	tail -n 30 "$tmp/build.log"
fi
deb=$(ls "$tmp"/deb/repcached_*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then
	bad "a .deb was produced"
	echo "$pass passed, $fail failed"
	exit 1
fi
ver=$(dpkg-deb -f "$deb" Version)
upstream=$(sed -n 's/^AC_INIT(\[repcached\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")
case $ver in
"$upstream"-*) ok "package version $ver follows configure.ac ($upstream)" ;;
*) bad "package version $ver follows configure.ac ($upstream)" ;;
esac
if dpkg --compare-versions "$ver" gt 2.3.1; then ok "version $ver is newer than repcached 2.3.1"; else bad "version $ver is newer than repcached 2.3.1"; fi

files=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
for f in ./usr/bin/memcached ./usr/share/man/man1/memcached.1.gz \
	./lib/systemd/system/memcached.service ./etc/default/memcached \
	./etc/logrotate.d/memcached ./usr/libexec/repcached/check_repcached \
	./usr/share/doc/repcached/copyright; do
	if echo "$files" | grep -qx "$f"; then ok "package holds $f"; else bad "package holds $f"; fi
done
for f in ./etc/memcached.conf ./usr/share/memcached/scripts/systemd-memcached-wrapper; do
	if echo "$files" | grep -qx "$f"; then bad "package does not hold $f (Debian's memcached's)"; else ok "package does not hold $f (Debian's memcached's)"; fi
done

# Relations: it takes Debian's memcached's place, and satisfies packages
# that depend on memcached, so that an upgrade does not bring it back.
[ "$(dpkg-deb -f "$deb" Package)" = repcached ] && ok "package name repcached" || bad "package name repcached"
dpkg-deb -f "$deb" Conflicts | grep -qw memcached && ok "Conflicts: memcached" || bad "Conflicts: memcached"
dpkg-deb -f "$deb" Replaces | grep -qw memcached && ok "Replaces: memcached" || bad "Replaces: memcached"
dpkg-deb -f "$deb" Provides | grep -q 'memcached (= 1\.6' && ok "Provides: memcached (= 1.6...)" || bad "Provides: memcached (= 1.6...)"

mkdir "$tmp/ctl" "$tmp/x"
dpkg-deb -e "$deb" "$tmp/ctl"
dpkg-deb -x "$deb" "$tmp/x"
for s in postinst prerm postrm; do
	if [ -x "$tmp/ctl/$s" ] && sh -n "$tmp/ctl/$s"; then ok "maintainer script $s"; else bad "maintainer script $s"; fi
done
grep -q 'adduser --system' "$tmp/ctl/postinst" && ok "postinst creates the run user" || bad "postinst creates the run user"
grep -q "deb-systemd-helper enable 'memcached.service'" "$tmp/ctl/postinst" && ok "postinst enables memcached.service" || bad "postinst enables memcached.service"
grep -qx /etc/default/memcached "$tmp/ctl/conffiles" && ok "/etc/default/memcached is a conffile" || bad "/etc/default/memcached is a conffile"

unit=$tmp/x/lib/systemd/system/memcached.service
grep -q '^EnvironmentFile=-/etc/default/memcached$' "$unit" && ok "unit reads /etc/default/memcached" || bad "unit reads /etc/default/memcached"
grep -q 'sysconfig' "$unit" && bad "unit has no /etc/sysconfig path left" || ok "unit has no /etc/sysconfig path left"
grep -q '^USER="memcache"$' "$tmp/x/etc/default/memcached" && ok "default file: Debian's memcache user" || bad "default file: Debian's memcache user"
grep -q '^PEER=""$' "$tmp/x/etc/default/memcached" && ok "default file: no peer, so -X 0" || bad "default file: no peer, so -X 0"
if "$tmp/x/usr/bin/memcached" -V 2>&1 | grep -q '^memcached 1\.6.*-repcached-'; then ok "packaged binary runs"; else bad "packaged binary runs"; fi

if command -v lintian >/dev/null 2>&1; then
	changes=$(ls "$tmp"/deb/repcached_*.changes | head -1)
	lintian "$changes" >"$tmp/lintian.log" 2>&1
	if grep -q '^E: ' "$tmp/lintian.log"; then
		bad "lintian reports no error"
		grep '^E: ' "$tmp/lintian.log"
	else
		ok "lintian reports no error ($(grep -c '^W: ' "$tmp/lintian.log") warnings)"
	fi
else
	bad "lintian installed (scripts/deps)"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

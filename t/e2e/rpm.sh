#!/bin/sh
# Builds the RPM from `make dist`'s tarball with rpmbuild (Debian's rpm
# package) and checks what it installs. --nodeps: Debian's rpm database
# does not know the packages dpkg installed, so BuildRequires cannot be
# checked here.
set -u
top=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v rpmbuild >/dev/null 2>&1 || { echo "rpmbuild not installed: skip"; exit 77; }
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
(cd "$top" && tar --exclude=./build --exclude=./build-san --exclude=./build-fuzz --exclude=./.git -cf - .) | (cd "$tmp/src" && tar xf -)
cd "$tmp/src" || exit 1
[ -x configure ] || autoreconf -fi >/dev/null 2>&1
if ./configure -q >"$tmp/configure.log" 2>&1 && make -s dist >"$tmp/dist.log" 2>&1; then
	ok "make dist"
else
	bad "make dist"; tail -n 20 "$tmp/configure.log" "$tmp/dist.log"
fi
tarball=$(ls "$tmp"/src/repcached-*.tar.gz 2>/dev/null | head -1)
if [ -n "$tarball" ] && rpmbuild --nodeps --define "_topdir $tmp/rpm" -tb "$tarball" \
	>"$tmp/rpmbuild.log" 2>&1; then
	ok "rpmbuild -tb from the dist tarball"
else
	bad "rpmbuild -tb from the dist tarball"; tail -n 30 "$tmp/rpmbuild.log" 2>/dev/null
fi
rpmfile=$(find "$tmp/rpm/RPMS" -name 'repcached-[0-9]*.rpm' 2>/dev/null | head -1)
if [ -n "$rpmfile" ]; then
	files=$(rpm -qlp "$rpmfile" 2>/dev/null)
	for f in /usr/bin/memcached /etc/sysconfig/memcached memcached.1 \
		/etc/logrotate.d/memcached /var/log/memcached; do
		if echo "$files" | grep -q "$f"; then ok "package holds $f"; else bad "package holds $f"; fi
	done
	if echo "$files" | grep -qE 'memcached.service|init.d/memcached'; then
		ok "package holds the service (unit or init script)"
	else
		bad "package holds the service (unit or init script)"
	fi
	# yum replaces an installed repcached 2.x only with a newer version.
	ver=$(rpm -qp --qf '%{VERSION}' "$rpmfile" 2>/dev/null)
	cmp=$(rpm --eval "%{lua: print(rpm.vercmp('$ver', '2.3.1'))}" 2>/dev/null)
	if [ "$cmp" = 1 ]; then ok "version $ver is newer than repcached 2.3.1"; else bad "version $ver is newer than repcached 2.3.1 (vercmp: $cmp)"; fi
	if [ "$ver" = "$(sed -n 's/^AC_INIT(\[repcached\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")" ]; then
		ok "version matches configure.ac"
	else
		bad "version matches configure.ac"
	fi
	if rpm -qp --obsoletes "$rpmfile" 2>/dev/null | grep -q '^memcached-repcached < 3'; then
		ok "obsoletes memcached-repcached 2.x"
	else
		bad "obsoletes memcached-repcached 2.x"
	fi
	prov=$(rpm -qp --provides "$rpmfile" 2>/dev/null)
	if echo "$prov" | grep -q '^memcached = ' && echo "$prov" | grep -q '^repcached = 3'; then
		ok "provides memcached and repcached = 3"
	else
		bad "provides memcached and repcached = 3"
	fi
	mkdir "$tmp/x"
	(cd "$tmp/x" && rpm2cpio "$rpmfile" | cpio -id --quiet 2>/dev/null)
	if "$tmp/x/usr/bin/memcached" -V 2>&1 | grep -q '^memcached 1\.6'; then
		ok "packaged binary runs"
	else
		bad "packaged binary runs"
	fi
	if grep -q '^PEER=""$' "$tmp/x/etc/sysconfig/memcached" 2>/dev/null; then
		ok "packaged settings: no peer, so no replication port"
	else
		bad "packaged settings: no peer, so no replication port"
	fi
else
	bad "an RPM was produced"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/bin/bash
# Runs libmemcached-tools' memccapable against the daemon: the ascii tests
# (-a) and the binary tests (-b). Every test must pass.
# Exits 77 (skip) without memccapable.
set -u
BIN=${MEMCACHED_BIN:-./memcached}
if ! command -v memccapable >/dev/null 2>&1; then
	echo "memccapable not installed (scripts/deps installs libmemcached-tools): skipped"
	exit 77
fi
pass=0
fail=0
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
"$BIN" -l 127.0.0.1 -p "$port" -U 0 -X 0 -u root >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for i in $(seq 100); do
	(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
	sleep 0.05
done
for mode in -a -b ""; do
	out=$(timeout 120 memccapable -h 127.0.0.1 -p "$port" -t 5 $mode 2>&1)
	rc=$?
	echo "$out" | sed "s/^/memccapable ${mode:-(no flags)}: /"
	if [ $rc -eq 0 ] && ! echo "$out" | grep -q '\[FAIL\]'; then
		echo "ok - memccapable ${mode:-(no flags)}"
		pass=$((pass + 1))
	else
		echo "FAIL - memccapable ${mode:-(no flags)} (exit $rc)"
		fail=$((fail + 1))
	fi
done
kill -0 $pid 2>/dev/null && { echo "ok - daemon alive"; pass=$((pass + 1)); } ||
	{ echo "FAIL - daemon died"; cat "$log"; fail=$((fail + 1)); }
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

#!/bin/bash
# start_config.sh: how the shipped files start the daemon, and the
# command lines operators already have.
#  - The settings file (scripts/memcached.sysconfig) through the systemd
#    unit's ExecStart and through the SysV init script: replication only
#    with PEER (else -X 0), an older OPTIONS with -x used as it is; both
#    give the same arguments.
#  - The replication secret under the unit's CapabilityBoundingSet: a
#    root-owned 0600 file (what doc/hardening.md says) is read before -u;
#    a file owned by the run user is refused with a message naming it.
#  - A repcached 2.x command line (-v -d -p -l -u -x -X -P) still starts
#    a replicating pair; --disable-dumping is accepted and in -h; -P
#    without -d writes the pid file.
# Every daemon runs on free 127.0.0.x ports and is killed on exit.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

BIN=${MEMCACHED_BIN:-$PWD/memcached}
TOP=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PIDS=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/start_config.XXXXXX") || exit 1
chmod 0755 "$TMP"

. "$TOP/t/lib/shtest.sh"

# mc HOST PORT CMD: sends one text command, prints the reply.
mc() {
	python3 - "$@" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.sendall(sys.argv[3].encode().replace(b"\\r\\n", b"\r\n") + b"\r\n")
buf = b""
while not (buf.endswith(b"END\r\n") or buf.endswith(b"STORED\r\n")
           or buf.endswith(b"ERROR\r\n")
           or (buf.startswith(b"VERSION ") and buf.endswith(b"\r\n"))):
    d = s.recv(4096)
    if not d:
        break
    buf += d
sys.stdout.write(buf.decode())
EOF
}

# wait_get HOST PORT KEY VALUE: up to 10 s for KEY to read VALUE.
wait_get() {
	local i=0
	while [ $i -lt 100 ]; do
		mc "$1" "$2" "get $3" 2>/dev/null | grep -qx "$4"$'\r' && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

echo "# daemon: $BIN"

# --- settings file -> arguments ---------------------------------------------
# A stand-in for /usr/bin/memcached that prints its arguments.
cat >"$TMP/argv" <<'EOF'
#!/bin/sh
printf '%s\n' "$*"
EOF
chmod +x "$TMP/argv"
# The unit's ExecStart with systemd's "$$" -> "$" and the binary replaced.
exec_start=$(sed -n 's/^ExecStart=//p' "$TOP/scripts/memcached.service" |
	sed -e 's/\$\$/$/g' -e "s#/usr/bin/memcached#$TMP/argv#")
check "the unit has one ExecStart" [ -n "$exec_start" ]
# unit_args FILE: what the unit would run with settings file FILE (its
# Environment= defaults first, then the file, as systemd does).
unit_args() {
	env -i PATH="$PATH" sh -c "
		set -a
		$(sed -n 's/^Environment=//p' "$TOP/scripts/memcached.service" | sed 's/ /\n/g')
		. '$1'
		set +a
		eval \"\$0\"" "$exec_start"
}
# init_args FILE: what the SysV init script runs with settings file FILE.
init_args() {
	mkdir -p "$TMP/run" "$TMP/lock"
	rm -f "$TMP/run/memcached.pid"
	printf '#!/bin/sh\nprintf "%%s\\n" "$*" >"%s/init.argv"\nexit 1\n' "$TMP" >"$TMP/argv-init"
	chmod +x "$TMP/argv-init"
	MEMCACHED_SYSCONFIG=$1 MEMCACHED_BIN=$TMP/argv-init MEMCACHED_PIDDIR=$TMP/run \
		MEMCACHED_LOCKDIR=$TMP/lock MEMCACHED_FUNCTIONS=/nonexistent \
		sh "$TOP/scripts/memcached.init" start >/dev/null 2>&1
	sed "s#-d ##; s# -P $TMP/run/memcached.pid##" "$TMP/init.argv"
}

cp "$TOP/scripts/memcached.sysconfig" "$TMP/sc.default"
args=$(unit_args "$TMP/sc.default")
check "shipped settings: -X 0 (no replication port) [$args]" \
	[ "$args" = "-p 11211 -u memcached -m 64 -c 1024 -U 0 -X 0" ]
args2=$(init_args "$TMP/sc.default")
check "init script gives the same arguments [$args2]" [ "$args2" = "$args" ]

sed 's/^PEER=""/PEER="192.0.2.12"/' "$TOP/scripts/memcached.sysconfig" >"$TMP/sc.peer"
args=$(unit_args "$TMP/sc.peer")
check "PEER set: -x PEER -X 11212 [$args]" \
	[ "$args" = "-p 11211 -u memcached -m 64 -c 1024 -U 0 -x 192.0.2.12 -X 11212" ]
args2=$(init_args "$TMP/sc.peer")
check "init script: the same [$args2]" [ "$args2" = "$args" ]

# A second instance: its own ports, a log file.
sed -e 's/^PORT=.*/PORT="11311"/' -e 's/^PEER=""/PEER="192.0.2.12"/' \
	-e 's/^REPL_PORT=.*/REPL_PORT="11312"/' \
	-e 's#^LOGFILE=.*#LOGFILE="/var/log/memcached/b.log"#' \
	"$TOP/scripts/memcached.sysconfig" >"$TMP/sc.second"
args=$(unit_args "$TMP/sc.second")
check "second instance: its own ports and log file [$args]" \
	[ "$args" = "-p 11311 -u memcached -m 64 -c 1024 -U 0 -x 192.0.2.12 -X 11312 -o log_file=/var/log/memcached/b.log" ]

# A settings file written before PEER existed keeps working as it was.
cat >"$TMP/sc.old" <<'EOF'
PORT="11211"
USER="memcached"
MAXCONN="1024"
CACHESIZE="64"
OPTIONS="-U 0 -x 192.0.2.12 -X 11212"
EOF
args=$(unit_args "$TMP/sc.old")
check "old settings file with -x in OPTIONS: unchanged [$args]" \
	[ "$args" = "-p 11211 -u memcached -m 64 -c 1024 -U 0 -x 192.0.2.12 -X 11212" ]
args2=$(init_args "$TMP/sc.old")
check "init script: the same [$args2]" [ "$args2" = "$args" ]

# The shipped default really opens no replication port.
P=$(free_port)
"$BIN" -u root -l 127.0.0.1 -p "$P" -U 0 -X 0 -v >"$TMP/x0.out" 2>&1 &
PIDS="$PIDS $!"
sleep 0.5
check "-X 0: no replication line, no warning" sh -c "! grep -q replication '$TMP/x0.out'"
x0pid=${PIDS##* }
check "-X 0: the daemon listens on one TCP socket only (no replication port)" \
	[ "$(ss -ltnpH 2>/dev/null | grep -c "pid=$x0pid,")" -eq 1 ]

# --- the secret file under the unit's capabilities ---------------------------
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$TOP/scripts/memcached.service" |
	tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
RUNUSER=nobody
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1 ||
	! id "$RUNUSER" >/dev/null 2>&1 ||
	! setpriv --bounding-set "-all,$caps" true 2>/dev/null; then
	echo "skip - secret file under the unit's capabilities (needs root and setpriv)"
else
	head -c 32 /dev/urandom | base64 >"$TMP/repl.secret"
	chmod 600 "$TMP/repl.secret"
	P=$(free_port)
	# The pid file is written as the run user (as in /run/memcached).
	mkdir "$TMP/run-caps"
	chown "$RUNUSER" "$TMP/run-caps"
	# What doc/hardening.md says: owned by root, 0600.
	setpriv --bounding-set "-all,$caps" "$BIN" -u "$RUNUSER" -l 127.0.0.1 -p "$P" \
		-X "$(free_port)" -o "repl_secret=$TMP/repl.secret" -P "$TMP/run-caps/caps.pid" \
		>"$TMP/caps.out" 2>&1 </dev/null &
	cpid=$!
	PIDS="$PIDS $cpid"
	i=0
	while [ ! -s "$TMP/run-caps/caps.pid" ] && kill -0 $cpid 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 $cpid 2>/dev/null && mc 127.0.0.1 "$P" version | grep -q '^VERSION'; then
		ok "root-owned 0600 secret, unit's capabilities, -u $RUNUSER: serves"
	else
		fail "root-owned 0600 secret, unit's capabilities, -u $RUNUSER: serves" "$TMP/caps.out"
	fi
	check "and runs as $RUNUSER" [ "$(stat -c %U "/proc/$cpid")" = "$RUNUSER" ]
	kill -TERM $cpid
	# The arrangement the docs used to give: owned by the run user.
	chown "$RUNUSER" "$TMP/repl.secret"
	setpriv --bounding-set "-all,$caps" "$BIN" -u "$RUNUSER" -l 127.0.0.1 -p "$(free_port)" \
		-X "$(free_port)" -o "repl_secret=$TMP/repl.secret" >"$TMP/caps2.out" 2>&1 </dev/null &
	cpid=$!
	PIDS="$PIDS $cpid"
	wait $cpid
	RC=$?
	check "secret owned by the run user: refused (exit 71)" [ "$RC" -eq 71 ]
	if grep -q "cannot read the secret file $TMP/repl.secret: Permission denied" "$TMP/caps2.out"; then
		ok "and the message names the file"
	else
		fail "and the message names the file" "$TMP/caps2.out"
	fi
fi

# --- repcached 2.x command lines --------------------------------------------
P=$(free_port)
R=$(free_port)
# Node B first (listens), then A with the exact 2.x shape.
"$BIN" -v -d -p "$P" -l 127.0.0.2 -u root -x 127.0.0.1 -X "$R" -P "$TMP/b.pid" \
	2>>"$TMP/b.log" </dev/null
RC_B=$?
"$BIN" -v -d -p "$P" -l 127.0.0.1 -u root -x 127.0.0.2 -X "$R" -P "$TMP/a.pid" \
	2>>"$TMP/a.log" </dev/null
RC_A=$?
[ -s "$TMP/a.pid" ] && PIDS="$PIDS $(cat "$TMP/a.pid")"
[ -s "$TMP/b.pid" ] && PIDS="$PIDS $(cat "$TMP/b.pid")"
check "repcached 2.x command line: both -d starts return 0" [ "$RC_A" -eq 0 ] && [ "$RC_B" -eq 0 ]
check "pid files written" [ -s "$TMP/a.pid" ] && [ -s "$TMP/b.pid" ]
mc 127.0.0.1 "$P" 'set upgrade 0 0 2\r\nok' >/dev/null 2>&1
if wait_get 127.0.0.2 "$P" upgrade ok; then
	ok "a write on A is read on B"
else
	fail "a write on A is read on B" "$TMP/a.log"
fi
check "-v -d 2>>file: the log file gets replication lines" \
	grep -q '^replication: ' "$TMP/a.log"

# --- -X's other meaning, -P without -d ----------------------------------------
"$BIN" -h >"$TMP/h.out" 2>&1
check "-h lists --disable-dumping" grep -q -- '--disable-dumping' "$TMP/h.out"
check "man page mentions --disable-dumping" grep -q 'disable\\-dumping' "$TOP/doc/memcached.1"
P=$(free_port)
"$BIN" -u root -l 127.0.0.1 -p "$P" -X 0 --disable-dumping -P "$TMP/fg.pid" \
	>"$TMP/fg.out" 2>&1 </dev/null &
fpid=$!
PIDS="$PIDS $fpid"
i=0
while [ ! -s "$TMP/fg.pid" ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "--disable-dumping accepted; -P without -d writes the pid file" \
	[ "$(cat "$TMP/fg.pid" 2>/dev/null)" = "$fpid" ]
kill -TERM $fpid

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]

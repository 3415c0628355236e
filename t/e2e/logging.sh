#!/bin/bash
# logging.sh: where the daemon's lines go. -d -v with a pipe on stderr
# returns and lets go of the pipe (so `service memcached start` over ssh
# does not hang); a failed start under -d says why and exits non-zero, with
# and without -v, directly and through the SysV init script; -o log_file
# gets timestamped lines and is reopened on SIGHUP after a rename (what
# scripts/memcached.logrotate does); -o syslog sends lines to /dev/log
# (in a private mount namespace; skipped where unshare is not allowed).
# Every daemon runs on free 127.0.0.1 ports and is killed on exit.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

BIN=${MEMCACHED_BIN:-$PWD/memcached}
TOP=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PIDS=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/logging.XXXXXX") || exit 1
TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{4}'

. "$TOP/t/lib/shtest.sh"

# Waits up to 5 s for file $1 to hold a line matching ERE $2.
wait_line() {
	local i=0
	while [ $i -lt 50 ]; do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# Waits up to 5 s for pid $1 to be gone.
wait_dead() {
	local i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	! kill -0 "$1" 2>/dev/null
}

# Reads the pid file $1 into DPID and remembers it for cleanup.
take_pid() {
	DPID=""
	[ -s "$1" ] || return 1
	DPID=$(cat "$1")
	PIDS="$PIDS $DPID"
}

echo "# daemon: $BIN"

# --- -d -v with a pipe on stderr --------------------------------------------
P=$(free_port)
R=$(free_port)
# The pipeline ends only when every writer of the pipe is gone: the
# parent, and the daemon once it lets go of its stderr. timeout bounds a
# regression (a hang) and is not a timing assertion.
timeout 20 bash -c '"$@" 2>&1 | cat >"'"$TMP"'/pipe.out"; exit "${PIPESTATUS[0]}"' _ \
	"$BIN" -d -v -u root -l 127.0.0.1 -p "$P" -X "$R" -P "$TMP/pipe.pid" </dev/null
RC=$?
take_pid "$TMP/pipe.pid"
check "-d -v with a pipe on stderr: returns 0 and the pipe closes" [ "$RC" -eq 0 ]
check "-d -v: startup lines reach the caller before it returns" \
	grep -q '^replication: listen$' "$TMP/pipe.out"
if [ -n "$DPID" ]; then
	check "-d -v: the daemon's stderr is /dev/null afterwards" \
		[ "$(readlink "/proc/$DPID/fd/2")" = /dev/null ]
	check "-d -v: stdin and stdout are /dev/null" \
		[ "$(readlink "/proc/$DPID/fd/0")" = /dev/null ] &&
		[ "$(readlink "/proc/$DPID/fd/1")" = /dev/null ]
	check "-d: the pid file exists when -d returns" kill -0 "$DPID"
else
	fail "-d -v wrote its pid file"
fi

# --- a failed start under -d says why --------------------------------------
# $P is taken by the daemon above.
for v in "" -v; do
	"$BIN" -d $v -u root -l 127.0.0.1 -p "$P" -X 0 >"$TMP/busy.out" 2>"$TMP/busy.err" </dev/null
	RC=$?
	check "port in use, -d ${v:-without -v}: exits non-zero" [ "$RC" -ne 0 ]
	if grep -q "failed to listen on TCP port $P: Address already in use" "$TMP/busy.err"; then
		ok "port in use, -d ${v:-without -v}: prints the reason"
	else
		fail "port in use, -d ${v:-without -v}: prints the reason" "$TMP/busy.err"
	fi
done
# A bad -x name, -d, no -v: one line, exit 64.
Q=$(free_port)
"$BIN" -d -u root -l 127.0.0.1 -p "$Q" -X "$(free_port)" -x no-such-host.invalid \
	>/dev/null 2>"$TMP/badx.err" </dev/null
RC=$?
if grep -q "replication: .*-x peer 'no-such-host.invalid'" "$TMP/badx.err"; then
	ok "unresolvable -x under -d without -v: says so"
else
	fail "unresolvable -x under -d without -v: says so" "$TMP/badx.err"
fi
# EAI_AGAIN (no DNS at all) only warns and runs on; a name that does not
# exist stops the start.
if grep -q "does not resolve" "$TMP/badx.err"; then
	check "unresolvable -x: exit 64" [ "$RC" -eq 64 ]
	check "unresolvable -x: one line" [ "$(wc -l <"$TMP/badx.err")" -eq 1 ]
fi
# An unwritable log file stops the start, with the reason.
"$BIN" -d -u root -l 127.0.0.1 -p "$Q" -X 0 -o log_file=/nonexistent/dir/memcached.log \
	>/dev/null 2>"$TMP/nolog.err" </dev/null
RC=$?
check "unwritable log file: exit 71" [ "$RC" -eq 71 ]
if grep -q "cannot open the log file /nonexistent/dir/memcached.log: No such file or directory" "$TMP/nolog.err"; then
	ok "unwritable log file: prints the reason"
else
	fail "unwritable log file: prints the reason" "$TMP/nolog.err"
fi

# --- through the SysV init script -------------------------------------------
mkdir -p "$TMP/init/run" "$TMP/init/lock"
cat >"$TMP/init/sysconfig" <<EOF
PORT="$P"
USER="root"
MAXCONN="64"
CACHESIZE="16"
OPTIONS="-l 127.0.0.1 -X 0"
EOF
MEMCACHED_SYSCONFIG=$TMP/init/sysconfig MEMCACHED_BIN=$BIN \
	MEMCACHED_PIDDIR=$TMP/init/run MEMCACHED_LOCKDIR=$TMP/init/lock \
	MEMCACHED_FUNCTIONS=/nonexistent \
	timeout 60 sh "$TOP/scripts/memcached.init" start >"$TMP/init.out" 2>&1
RC=$?
check "init script start on a busy port: fails" [ "$RC" -ne 0 ]
if grep -q "failed to listen on TCP port $P: Address already in use" "$TMP/init.out"; then
	ok "init script start on a busy port: prints the reason"
else
	fail "init script start on a busy port: prints the reason" "$TMP/init.out"
fi

if [ -n "$DPID" ]; then
	kill -TERM "$DPID"
	check "first daemon stops on SIGTERM" wait_dead "$DPID"
fi

# --- -o log_file: timestamps, SIGHUP reopens after a rename -----------------
P=$(free_port)
R=$(free_port)
LOG=$TMP/memcached.log
"$BIN" -d -v -u root -l 127.0.0.1 -p "$P" -X "$R" -P "$TMP/log.pid" \
	-o "log_file=$LOG" >"$TMP/log.out" 2>"$TMP/log.err" </dev/null
RC=$?
take_pid "$TMP/log.pid"
check "-d -v -o log_file: starts" [ "$RC" -eq 0 ] && [ -n "$DPID" ]
check "-o log_file: the warning also reaches the caller's stderr" \
	grep -q '^replication: no -x peer' "$TMP/log.err"
check "-o log_file: info lines stay off the caller's stderr" \
	sh -c "! grep -q 'replication: listen' '$TMP/log.err'"
if wait_line "$LOG" "^$TS replication: listen\$"; then
	ok "log file: timestamped 'replication: listen'"
else
	fail "log file: timestamped 'replication: listen'" "$LOG"
fi
check "log file: every line is timestamped" \
	sh -c "! grep -vE '^$TS ' '$LOG'"
if [ -n "$DPID" ]; then
	check "-o log_file under -d: stderr is /dev/null" \
		[ "$(readlink "/proc/$DPID/fd/2")" = /dev/null ]
	mv "$LOG" "$LOG.1"
	kill -HUP "$DPID"
	if wait_line "$LOG" "^$TS log file reopened\$"; then
		ok "SIGHUP after a rename: a new log file"
	else
		fail "SIGHUP after a rename: a new log file" "$LOG.1"
	fi
	check "SIGHUP does not stop the daemon" kill -0 "$DPID"
	kill -TERM "$DPID"
	check "SIGTERM stops the daemon" wait_dead "$DPID"
	check "lines after the reopen go to the new file" \
		grep -qE "^$TS signal 15: shutting down\$" "$LOG"
	check "and not to the renamed one" \
		sh -c "! grep -q 'shutting down' '$LOG.1'"
fi

# --- bad values, and SIGUSR1 keeps memcached's meaning ----------------------
"$BIN" -u root -o log_file= >/dev/null 2>"$TMP/bad1.err" </dev/null
RC=$?
check "-o log_file= (empty): exit 64" [ "$RC" -eq 64 ]
check "-o log_file= (empty): says so" grep -q '^Missing file name for log_file$' "$TMP/bad1.err"
"$BIN" -u root -o syslog=local0 >/dev/null 2>"$TMP/bad2.err" </dev/null
RC=$?
check "-o syslog=value: exit 64" [ "$RC" -eq 64 ]
check "-o syslog=value: says so" grep -q '^syslog takes no value$' "$TMP/bad2.err"
P=$(free_port)
"$BIN" -d -v -u root -l 127.0.0.1 -p "$P" -X 0 -P "$TMP/usr1.pid" \
	-o "log_file=$TMP/usr1.log" >/dev/null 2>&1 </dev/null
take_pid "$TMP/usr1.pid"
if [ -n "$DPID" ]; then
	kill -USR1 "$DPID"
	check "SIGUSR1 still stops the daemon (as in memcached)" wait_dead "$DPID"
	check "and logs it" grep -qE "^$TS signal [0-9]+: shutting down\$" "$TMP/usr1.log"
else
	fail "daemon for SIGUSR1 started"
fi

# --- the shipped logrotate config ------------------------------------------
LR=$TOP/scripts/memcached.logrotate
check "scripts/memcached.logrotate exists" [ -f "$LR" ]
check "logrotate config: reopens with SIGHUP" grep -q 'kill -HUP' "$LR"
check "logrotate config: names the packages' log file" \
	grep -q '^/var/log/memcached/memcached.log' "$LR"
if command -v logrotate >/dev/null 2>&1; then
	check "logrotate config parses" logrotate -d "$LR" >/dev/null 2>&1
fi

# --- -o syslog ---------------------------------------------------------------
# /dev/log is replaced, in a private mount namespace, by a datagram socket
# that a small listener reads.
if unshare -m true 2>/dev/null; then
	mkdir -p "$TMP/dev"
	python3 - "$TMP/dev/log" "$TMP/syslog.out" <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(15)
with open(sys.argv[2], "ab", buffering=0) as out:
    try:
        while True:
            out.write(s.recv(4096) + b"\n")
    except socket.timeout:
        pass
EOF
	LPID=$!
	PIDS="$PIDS $LPID"
	i=0
	while [ ! -S "$TMP/dev/log" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	P=$(free_port)
	R=$(free_port)
	timeout 20 unshare -m sh -c '
		touch "$1/null" && mount --bind /dev/null "$1/null" &&
		mount --bind "$1" /dev || exit 99
		shift
		"$@" &
		pid=$!
		i=0
		while ! grep -q "replication: listen" "'"$TMP"'/syslog.out" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -TERM $pid; wait $pid' _ "$TMP/dev" \
		"$BIN" -v -u root -l 127.0.0.1 -p "$P" -X "$R" -o syslog >"$TMP/sl.out" 2>"$TMP/sl.err" </dev/null
	RC=$?
	if [ "$RC" -eq 99 ]; then
		echo "skip - -o syslog (cannot bind-mount /dev here)"
	else
		if grep -qE '^<30>.*memcached\[[0-9]+\]: replication: listen$' "$TMP/syslog.out"; then
			ok "-o syslog: 'replication: listen' at daemon.info"
		else
			fail "-o syslog: 'replication: listen' at daemon.info" "$TMP/syslog.out"
		fi
		check "-o syslog: info lines stay off stderr" \
			sh -c "! grep -q 'replication: listen' '$TMP/sl.err'"
		check "-o syslog: the warning is also on stderr" \
			grep -q '^replication: no -x peer' "$TMP/sl.err"
	fi
	kill "$LPID" 2>/dev/null
else
	echo "skip - -o syslog (unshare -m not allowed)"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]

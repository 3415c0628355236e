#!/bin/sh
# cmdline.sh: the command line and process handling of the real binary:
# -h / -V / -i, bad flags (exit 64, one line on stderr), validation, root
# without -u, the mode of the replication secret file, -d with -P (pidfile
# written, removed on SIGTERM, stderr kept only with -v), -U warning, -o
# sub-options. Each daemon runs on a free 127.0.0.1 port and is killed on
# exit.

BIN=${MEMCACHED_BIN:-./memcached}
PASSED=0
FAILED=0
PIDS=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cmdline.XXXXXX") || exit 1
chmod 0777 "$TMP" # the daemon may write its pidfile as nobody

# Kills every daemon we started and removes the scratch directory.
cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $PIDS; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 20 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ok() {
	PASSED=$((PASSED + 1))
	echo "ok - $1"
}

fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL - $1${2:+: $2}"
}

# check NAME COMMAND...: passes when the command succeeds.
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name"; fi
}

# True if some socket uses TCP port $1 (/proc is much cheaper than python).
port_in_use() {
	hex=$(printf ':%04X ' "$1")
	grep -q "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Prints a TCP port free on 127.0.0.1 right now.
SEED=0
free_port() {
	if [ ! -r /proc/net/tcp ]; then
		python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
		return
	fi
	while :; do
		SEED=$((SEED + 1))
		cand=$(awk -v s="$$$SEED" \
		    'BEGIN { srand(s); print 20000 + int(rand() * 40000) }')
		port_in_use "$cand" || break
	done
	echo "$cand"
}

# Sends "version" to port; succeeds when the reply starts with VERSION.
mc_version() {
	python3 - "$1" <<'EOF'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.sendall(b"version\r\n")
    sys.exit(0 if s.recv(100).startswith(b"VERSION ") else 1)
except OSError:
    sys.exit(1)
EOF
}

# Waits up to 5 seconds for a listener on 127.0.0.1:port, then checks that
# it answers "version".
wait_port() {
	if [ -r /proc/net/tcp ]; then
		hex=$(printf '0100007F:%04X 00000000:0000 0A' "$1")
		i=0
		while ! grep -q "$hex" /proc/net/tcp && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		mc_version "$1"
		return
	fi
	i=0
	while [ $i -lt 50 ]; do
		mc_version "$1" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# Waits up to 5 seconds for a file to disappear.
wait_gone() {
	i=0
	while [ -e "$1" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ ! -e "$1" ]
}

# run ARGS...: runs the binary to completion; sets RC, OUT and ERR files.
run() {
	"$BIN" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	RC=$?
}

lines() {
	wc -l <"$1" | tr -d ' '
}

# expect_usage NAME ARGS...: exit 64 with exactly one line on stderr.
expect_usage() {
	name=$1
	shift
	run "$@"
	if [ "$RC" -eq 64 ] && [ "$(lines "$TMP/err")" -eq 1 ]; then
		ok "$name"
	else
		fail "$name" "rc=$RC stderr=$(cat "$TMP/err")"
	fi
}

# As root the daemon needs -u; run it as nobody.
RUNAS=""
if [ "$(id -u)" -eq 0 ]; then
	RUNAS="-u nobody"
fi

# --- help, version, licence ---------------------------------------------
VERSION_RE='^memcached [0-9][0-9.]*[0-9A-Za-z.-]*$'
run -h
check "-h exits 0" [ "$RC" -eq 0 ]
check "-h first line is memcached <version>" \
    sh -c "head -n 1 '$TMP/out' | grep -Eq '$VERSION_RE'"
check "-h has -p line" grep -Eq '^-p.*<num>.*TCP port' "$TMP/out"
check "-h has -x line" \
    grep -Eq '^-x.*<ip_addr>.*hostname or IP address of peer' "$TMP/out"
check "-h has -X line" grep -Eq '^-X.*<num>' "$TMP/out"
check "-h has -q line" grep -Eq '^-q.*<num>' "$TMP/out"
check "-h has -o line" grep -Eq '^-o, --extended' "$TMP/out"
check "-h prints nothing on stderr" [ "$(lines "$TMP/err")" -eq 0 ]
FIRST=$(head -n 1 "$TMP/out")
run --help
check "--help matches -h" [ "$(head -n 1 "$TMP/out")" = "$FIRST" ]

run -V
check "-V exits 0" [ "$RC" -eq 0 ]
check "-V prints one line" [ "$(lines "$TMP/out")" -eq 1 ]
check "-V prints memcached <version>" grep -Eq "$VERSION_RE" "$TMP/out"
check "-V matches -h first line" [ "$(cat "$TMP/out")" = "$FIRST" ]
run --version
check "--version exits 0" [ "$RC" -eq 0 ]

run -i
check "-i exits 0" [ "$RC" -eq 0 ]
check "-i prints a licence" grep -q 'License' "$TMP/out"

# --- bad flags and bad values ---------------------------------------------
expect_usage "bad flag -Q" -Q
expect_usage "bad long flag --bogus" --bogus
expect_usage "missing argument -p" -p
expect_usage "stray argument" -p 1 stray
expect_usage "-p not a number" -p abc
expect_usage "-p 70000" -p 70000
expect_usage "-B foo" -B foo
expect_usage "-I below 1k" -I 512
expect_usage "-I above 1024m" -I 2000m
expect_usage "-I above half of -m" -I 64m -m 100
expect_usage "-f 1.0" -f 1.0
expect_usage "-n 0" -n 0
expect_usage "-c 0" -c 0
expect_usage "-R 0" -R 0
expect_usage "-b 0" -b 0
expect_usage "-X 70000" -X 70000
expect_usage "-x with -X 0" -x 127.0.0.1 -X 0
expect_usage "-q 0" -q 0
expect_usage "unknown -o" -o no_such_option
expect_usage "-o hashpower out of range" -o hashpower=99
expect_usage "-o bad repl_timeout" -o repl_timeout=abc
expect_usage "-o bad repl_ready_timeout" -o repl_ready_timeout=-1
expect_usage "-o repl_ready_timeout without a value" -o repl_ready_timeout

# --- root without -u --------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
	P=$(free_port)
	run -l 127.0.0.1 -p "$P" -X 0
	check "root without -u exits 64" [ "$RC" -eq 64 ]
	check "root without -u says why" \
	    grep -q "can't run as root without the -u switch" "$TMP/err"
else
	echo "# root without -u: not tested (not root)"
fi

# --- a plain daemon in the foreground, with warnings ----------------------
# start_fg NAME ARGS...: starts the binary in the background of this shell
# on a free port; sets PID and P. Stderr goes to $TMP/NAME.err.
start_fg() {
	name=$1
	shift
	P=$(free_port)
	# shellcheck disable=SC2086
	"$BIN" $RUNAS -l 127.0.0.1 -p "$P" -X 0 "$@" \
	    >/dev/null 2>"$TMP/$name.err" </dev/null &
	PID=$!
	PIDS="$PIDS $PID"
}

stop() {
	kill "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	! kill -0 "$1" 2>/dev/null
}

start_fg udp -U 1234
check "-U 1234 still serves TCP" wait_port "$P"
check "-U 1234 warns once" [ "$(grep -c 'UDP' "$TMP/udp.err")" -eq 1 ]
check "-U 1234 daemon stops on SIGTERM" stop "$PID"

start_fg opt -o hashpower=16,lru_crawler,track_sizes,idle_timeout=30,modern
check "memcached -o options accepted" wait_port "$P"
check "ignored -o option warns" grep -q 'track_sizes' "$TMP/opt.err"
check "applied -o option does not warn" sh -c "! grep -q lru_crawler \"$TMP/opt.err\""
check "-o daemon stops on SIGTERM" stop "$PID"

start_fg long --threads=8 --conn-limit=100 --memory-limit=16 \
    --max-item-size=2m --listen-backlog=64 --protocol=auto
check "long options accepted" wait_port "$P"
check "long options: nothing on stderr" [ ! -s "$TMP/long.err" ]
check "long options daemon stops on SIGTERM" stop "$PID"

# --- the replication secret file --------------------------------------------
# It must be a regular file closed to group and others: a 0644 one stops
# the daemon with one line naming the file, a 0600 one is accepted.

# Prints a free port other than $1 (free_port runs in a subshell, so two
# calls in a row may give the same port).
other_port() {
	o=$(($1 + 1))
	while port_in_use "$o"; do
		o=$((o + 1))
	done
	echo "$o"
}
# Owned by whoever runs the test (root in CI, with the daemon run as -u
# nobody): the secret is read before privileges are dropped.
printf 'cmdline-secret\n' >"$TMP/secret"
chmod 0644 "$TMP/secret"
P=$(free_port)
R=$(other_port "$P")
# shellcheck disable=SC2086
timeout 10 "$BIN" $RUNAS -l 127.0.0.1 -p "$P" -X "$R" \
    -o "repl_secret=$TMP/secret" >"$TMP/out" 2>"$TMP/err" </dev/null
RC=$?
check "0644 secret file: refuses to start" \
    [ "$RC" -ne 0 -a "$RC" -ne 124 ]
check "0644 secret file: says why, naming the file" grep -qF \
    "secret file $TMP/secret must not be accessible by group or others (chmod 600)" \
    "$TMP/err"
check "0644 secret file: one line on stderr" [ "$(lines "$TMP/err")" -eq 1 ]
chmod 0600 "$TMP/secret"
# shellcheck disable=SC2086
"$BIN" $RUNAS -l 127.0.0.1 -p "$P" -X "$R" -o "repl_secret=$TMP/secret" \
    >/dev/null 2>"$TMP/secret.err" </dev/null &
PID=$!
PIDS="$PIDS $PID"
check "0600 secret file: accepted, the daemon serves" wait_port "$P"
check "0600 secret file: nothing on stderr" [ ! -s "$TMP/secret.err" ]
check "0600 secret file: daemon stops on SIGTERM" stop "$PID"

# --- -d with -P -------------------------------------------------------------
# start_daemon NAME ARGS...: runs with -d -P; sets DPID from the pidfile.
start_daemon() {
	name=$1
	shift
	P=$(free_port)
	PIDFILE="$TMP/$name.pid"
	# shellcheck disable=SC2086
	"$BIN" $RUNAS -d -P "$PIDFILE" -l 127.0.0.1 -p "$P" -X 0 "$@" \
	    >/dev/null 2>"$TMP/$name.err" </dev/null
	RC=$?
	DPID=""
	i=0
	while [ ! -s "$PIDFILE" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ -s "$PIDFILE" ]; then
		DPID=$(cat "$PIDFILE")
		PIDS="$PIDS $DPID"
	fi
}

start_daemon quiet
check "-d returns 0 in the foreground" [ "$RC" -eq 0 ]
check "-d -P writes the pidfile" [ -n "$DPID" ]
check "pidfile holds a running pid" kill -0 "${DPID:-0}"
check "-d daemon serves" wait_port "$P"
if [ -d "/proc/${DPID:-0}" ]; then
	check "-d changes directory to /" \
	    [ "$(readlink "/proc/$DPID/cwd")" = "/" ]
	check "-d without -v sends stderr to /dev/null" \
	    [ "$(readlink "/proc/$DPID/fd/2")" = "/dev/null" ]
	check "-d puts stdin on /dev/null" \
	    [ "$(readlink "/proc/$DPID/fd/0")" = "/dev/null" ]
fi
if [ -n "$DPID" ]; then
	kill -TERM "$DPID"
	check "SIGTERM removes the pidfile" wait_gone "$PIDFILE"
	check "SIGTERM stops the daemon" stop "$DPID"
fi

start_daemon verbose -v
check "-d -v daemon serves" wait_port "$P"
if [ -n "$DPID" ] && [ -d "/proc/$DPID" ]; then
	check "-d -v keeps stderr" \
	    [ "$(readlink "/proc/$DPID/fd/2")" = "$TMP/verbose.err" ]
fi
if [ -n "$DPID" ]; then
	kill -TERM "$DPID"
	check "-d -v: SIGTERM removes the pidfile" wait_gone "$PIDFILE"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]

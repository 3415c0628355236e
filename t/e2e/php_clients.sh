#!/bin/sh
# php_clients.sh: the PHP clients people run against memcached, against our
# daemon on free loopback ports:
#  (a) the memcache extension (text protocol): set/get/add/replace/delete/
#      increment/decrement/flush, and sessions (save_handler=memcache)
#      written by one php process and read (and locked) by another;
#  (b) the memcached extension (libmemcached), text and binary protocol:
#      the same commands plus cas/append/prepend/touch/getMulti, and
#      sessions (save_handler=memcached) with locking, both with Debian's
#      default memcached.sess_binary_protocol=On and with it Off: a second
#      process waits until the first releases the lock;
#  (c) failover: a replicated pair on 127.0.0.1 and 127.0.0.2 (same ports,
#      one with -x 127.0.0.1); a session written through each extension
#      to node A is read from node B after kill -9 A.
# Skips (77) when php or its extensions are missing. Every daemon is
# killed on exit.

BIN=${MEMCACHED_BIN:-./memcached}
PASSED=0
FAILED=0
PIDS=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/php_clients.XXXXXX") || exit 1

# Kills every daemon we started and removes the scratch directory.
cleanup() {
	for p in $PIDS; do
		kill -9 "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
	done
	if [ -n "$KEEP_LOGS" ]; then
		echo "# logs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
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

# Counts the "ok - " / "FAIL - " lines a PHP script printed (in $TMP/out),
# and fails the step if the script exited non-zero or printed nothing.
tally() {
	name=$1
	rc=$2
	cat "$TMP/out"
	n_ok=$(grep -c '^ok - ' "$TMP/out")
	n_fail=$(grep -c '^FAIL - ' "$TMP/out")
	PASSED=$((PASSED + n_ok))
	FAILED=$((FAILED + n_fail))
	if [ "$rc" -ne 0 ] || [ $((n_ok + n_fail)) -eq 0 ]; then
		fail "$name: php exited $rc" "$(grep -v '^ok - ' "$TMP/out" | head -5)"
	fi
}

# Runs php with the given -d settings and script; tallies its checks.
run_php() {
	name=$1
	shift
	php "$@" >"$TMP/out" 2>&1
	tally "$name" $?
}

# Prints a TCP port that is free on both 127.0.0.1 and 127.0.0.2.
free_pair_port() {
	python3 - <<'EOF'
import socket
for _ in range(100):
    a = socket.socket()
    a.bind(("127.0.0.1", 0))
    p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.2", p))
    except OSError:
        continue
    finally:
        a.close()
        b.close()
    print(p)
    break
EOF
}

# Waits until host:port accepts connections (10 s at most).
wait_port() {
	python3 - "$1" "$2" <<'EOF'
import socket, sys, time
end = time.time() + 10
while time.time() < end:
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.02)
sys.exit(1)
EOF
}

# Waits until file $1 holds at least $3 lines equal to $2 (15 s at most).
wait_log() {
	i=0
	while [ $i -lt 750 ]; do
		n=$(grep -cx "$2" "$1" 2>/dev/null)
		if [ "${n:-0}" -ge "$3" ]; then
			return 0
		fi
		sleep 0.02
		i=$((i + 1))
	done
	return 1
}

# Starts our daemon: start_daemon NAME HOST PORT RPORT [args...]; sets
# the pid in $PID_<NAME>, its log is $TMP/NAME.log.
start_daemon() {
	name=$1
	host=$2
	port=$3
	rport=$4
	shift 4
	user=""
	[ "$(id -u)" -eq 0 ] && user="-u root"
	# shellcheck disable=SC2086
	"$BIN" -v -l "$host" -p "$port" -U 0 -X "$rport" $user "$@" \
		>"$TMP/$name.log" 2>&1 &
	pid=$!
	PIDS="$PIDS $pid"
	eval "PID_$name=$pid"
	if ! wait_port "$host" "$port"; then
		fail "$name: daemon on $host:$port did not start" \
			"$(cat "$TMP/$name.log")"
		return 1
	fi
	return 0
}

# kill -9 a daemon and waits until it is gone.
kill9() {
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

if ! command -v php >/dev/null 2>&1; then
	echo "SKIP: php (php-cli) is not installed"
	exit 77
fi
for ext in memcache memcached session; do
	if ! php -m | grep -qx "$ext"; then
		echo "SKIP: the php $ext extension is not installed"
		exit 77
	fi
done
if [ ! -x "$BIN" ]; then
	echo "FAIL - no daemon binary at $BIN"
	exit 1
fi

# ---------------------------------------------------------------------------
# The PHP side: a tiny check library and one script per scenario.
# ---------------------------------------------------------------------------

cat >"$TMP/lib.php" <<'EOF'
<?php
// Prints one check line; php_clients.sh counts them.
function check($cond, $name, $detail = "") {
    echo ($cond ? "ok - " : "FAIL - ") . $name .
        ($cond || $detail === "" ? "" : ": " . $detail) . "\n";
    return $cond;
}
function eq($got, $want, $name) {
    return check($got === $want, $name,
                 "got " . var_export($got, true) . " want " .
                 var_export($want, true));
}
// One raw text-protocol request to the daemon; returns the reply up to
// and including $until.
function raw($host, $port, $req, $until = "END\r\n") {
    $s = stream_socket_client("tcp://$host:$port", $errno, $err, 5);
    if (!$s) return "connect failed: $err";
    stream_set_timeout($s, 5);
    fwrite($s, $req);
    $buf = "";
    while (substr($buf, -strlen($until)) !== $until) {
        $c = fread($s, 65536);
        if ($c === false || $c === "") break;
        $buf .= $c;
    }
    fclose($s);
    return $buf;
}
EOF

cat >"$TMP/memcache_ops.php" <<'EOF'
<?php
require __DIR__ . "/lib.php";
[$_, $host, $port] = $argv;
$p = "memcache:";
$m = new Memcache();
check(@$m->connect($host, (int)$port, 5), "$p connect");
eq($m->set("pk1", "hello", 0, 0), true, "$p set");
eq($m->get("pk1"), "hello", "$p get");
eq(raw($host, $port, "get pk1\r\n"), "VALUE pk1 0 5\r\nhello\r\nEND\r\n",
   "$p the daemon holds what set stored");
eq($m->get(["pk1", "nokey"]), ["pk1" => "hello"], "$p multi-get");
eq($m->get("nokey"), false, "$p get of a missing key");
eq($m->add("pk1", "x"), false, "$p add on an existing key fails");
eq($m->add("pk2", "added"), true, "$p add on a new key");
eq($m->get("pk2"), "added", "$p get after add");
eq($m->replace("pk2", "replaced"), true, "$p replace");
eq($m->get("pk2"), "replaced", "$p get after replace");
eq($m->replace("nokey", "x"), false, "$p replace of a missing key fails");
eq($m->delete("pk2"), true, "$p delete");
eq($m->get("pk2"), false, "$p get after delete");
eq($m->delete("pk2"), false, "$p delete of a missing key fails");
eq($m->set("ctr", "10"), true, "$p set a counter");
eq($m->increment("ctr", 5), 15, "$p increment");
eq($m->decrement("ctr", 3), 12, "$p decrement");
eq($m->decrement("ctr", 100), 0, "$p decrement stops at 0");
eq($m->increment("nokey", 1), false, "$p increment of a missing key fails");
eq($m->set("arr", ["a" => 1, "b" => [2, 3]]), true, "$p set an array");
eq($m->get("arr"), ["a" => 1, "b" => [2, 3]],
   "$p get an array (serialized, flags kept)");
eq($m->set("int", 42), true, "$p set an int");
eq($m->get("int"), 42, "$p get an int");
$big = str_repeat("0123456789", 5000);
eq($m->set("big", $big), true, "$p set 50 KB (compressed by the client)");
eq($m->get("big"), $big, "$p get 50 KB");
eq($m->set("ttl", "short", 0, 1), true, "$p set with a 1 s expiry");
eq($m->get("ttl"), "short", "$p get before the expiry");
$v = "short";
for ($i = 0; $i < 60 && $v !== false; $i++) {
    usleep(50000);
    $v = $m->get("ttl");
}
eq($v, false, "$p the item expired");
eq($m->flush(), true, "$p flush");
eq($m->get("pk1"), false, "$p get after flush");
eq($m->set("after", "flush"), true, "$p set after flush");
eq($m->get("after"), "flush", "$p get after flush and set");
$st = $m->getStats();
check(is_array($st) && isset($st["pid"]) && $st["pid"] > 0, "$p getStats");
check(is_string($m->getVersion()) && $m->getVersion() !== "",
      "$p getVersion");
EOF

cat >"$TMP/memcached_ops.php" <<'EOF'
<?php
require __DIR__ . "/lib.php";
[$_, $host, $port, $binary] = $argv;
$p = "memcached (" . ($binary ? "binary" : "text") . "):";
$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, (bool)$binary);
$m->setOption(Memcached::OPT_COMPRESSION, false);
check($m->addServer($host, (int)$port), "$p addServer");
$k = $binary ? "b_" : "t_";
eq($m->set("{$k}1", "hello", 0), true, "$p set");
eq($m->get("{$k}1"), "hello", "$p get");
eq($m->get("{$k}none"), false, "$p get of a missing key");
eq($m->getResultCode(), Memcached::RES_NOTFOUND, "$p missing key: NOTFOUND");
eq($m->add("{$k}1", "x"), false, "$p add on an existing key fails");
eq($m->getResultCode(), $binary ? Memcached::RES_DATA_EXISTS : Memcached::RES_NOTSTORED,
   "$p add on an existing key: " . ($binary ? "DATA_EXISTS" : "NOTSTORED"));
eq($m->add("{$k}2", "added"), true, "$p add");
eq($m->replace("{$k}2", "replaced"), true, "$p replace");
eq($m->get("{$k}2"), "replaced", "$p get after replace");
eq($m->replace("{$k}none", "x"), false, "$p replace of a missing key fails");
eq($m->append("{$k}2", ">>"), true, "$p append");
eq($m->prepend("{$k}2", "<<"), true, "$p prepend");
eq($m->get("{$k}2"), "<<replaced>>", "$p get after append/prepend");
$r = $m->get("{$k}2", null, Memcached::GET_EXTENDED);
check(is_array($r) && $r["cas"] > 0, "$p get with cas");
eq($m->cas($r["cas"], "{$k}2", "swapped"), true, "$p cas");
eq($m->cas($r["cas"], "{$k}2", "stale"), false, "$p cas with a stale cas");
eq($m->getResultCode(), Memcached::RES_DATA_EXISTS, "$p stale cas: EXISTS");
eq($m->get("{$k}2"), "swapped", "$p get after cas");
eq($m->delete("{$k}2"), true, "$p delete");
eq($m->delete("{$k}2"), false, "$p delete of a missing key fails");
eq($m->set("{$k}n", 10), true, "$p set a counter");
eq($m->increment("{$k}n", 5), 15, "$p increment");
eq($m->decrement("{$k}n", 3), 12, "$p decrement");
if ($binary) {
    eq($m->increment("{$k}init", 1, 100), 100,
       "$p increment with an initial value creates the key");
    eq($m->increment("{$k}init", 1, 100), 101,
       "$p increment with an initial value on an existing key");
}
eq($m->setMulti(["{$k}m1" => "one", "{$k}m2" => "two"]), true, "$p setMulti");
eq($m->getMulti(["{$k}m1", "{$k}m2", "{$k}none"]),
   ["{$k}m1" => "one", "{$k}m2" => "two"], "$p getMulti");
eq($m->set("{$k}arr", ["x" => [1, 2]]), true, "$p set an array");
eq($m->get("{$k}arr"), ["x" => [1, 2]], "$p get an array");
eq($m->touch("{$k}1", 1), true, "$p touch");
$v = "hello";
for ($i = 0; $i < 60 && $v !== false; $i++) {
    usleep(50000);
    $v = $m->get("{$k}1");
}
eq($v, false, "$p the touched item expired");
eq($m->flush(), true, "$p flush");
eq($m->get("{$k}m1"), false, "$p get after flush");
eq($m->set("{$k}after", "x"), true, "$p set after flush");
eq($m->get("{$k}after"), "x", "$p get after flush and set");
$v = $m->getVersion();
check(is_array($v) && count($v) === 1 && reset($v) !== "", "$p getVersion");
EOF

# Session writer: stores $_SESSION["who"] = $argv[3] (and a counter) under
# session id $argv[1]. With a hold time, announces that it holds the lock
# (touches $argv[4]) and keeps the session open that long first.
cat >"$TMP/sess_write.php" <<'EOF'
<?php
require __DIR__ . "/lib.php";
[$_, $id, $label, $who] = $argv;
$flag = $argv[4] ?? "";
$hold = (float)($argv[5] ?? 0);
session_id($id);
check(session_start(), "$label: writer session_start");
$_SESSION["who"] = $who;
$_SESSION["n"] = ($_SESSION["n"] ?? 0) + 1;
$_SESSION["blob"] = str_repeat("s", 3000);
if ($flag !== "") {
    touch($flag);
    usleep((int)($hold * 1e6));
}
check(session_write_close(), "$label: writer session_write_close");
EOF

# Session reader: checks the session holds what the writer stored; with a
# minimum wait, checks session_start blocked at least that long (locking).
cat >"$TMP/sess_read.php" <<'EOF'
<?php
require __DIR__ . "/lib.php";
[$_, $id, $label, $who, $n] = $argv;
$min_wait = (float)($argv[5] ?? 0);
session_id($id);
$t0 = microtime(true);
check(session_start(), "$label: reader session_start");
$waited = microtime(true) - $t0;
eq($_SESSION["who"] ?? null, $who, "$label: reader sees the writer's data");
eq($_SESSION["n"] ?? null, (int)$n, "$label: reader sees the counter");
eq(strlen($_SESSION["blob"] ?? ""), 3000, "$label: reader sees the blob");
if ($min_wait > 0)
    check($waited >= $min_wait, "$label: reader waited for the lock",
          sprintf("waited %.2f s, want >= %.2f s", $waited, $min_wait));
else
    check($waited < 1.0, "$label: no lock left behind",
          sprintf("session_start took %.2f s", $waited));
session_write_close();
EOF

SESS_COMMON="-d session.use_cookies=0 -d session.use_only_cookies=0 -d session.cache_limiter= -d session.gc_probability=0"

# Sets $SESS to the php -d flags for extension $1 against host $2:$3 (and
# binary protocol on/off $4 for memcached).
sess_flags() {
	case $1 in
	memcache)
		SESS="$SESS_COMMON -d session.save_handler=memcache \
-d session.save_path=tcp://$2:$3 -d memcache.lock_timeout=15"
		;;
	memcached)
		SESS="$SESS_COMMON -d session.save_handler=memcached \
-d session.save_path=$2:$3 -d memcached.sess_locking=On \
-d memcached.sess_binary_protocol=$4 -d memcached.sess_lock_retries=200 \
-d memcached.sess_lock_wait_min=50 -d memcached.sess_lock_wait_max=50"
		;;
	esac
}

# Session round trip and locking through extension $1 (protocol $4) on
# $2:$3: write in one process, read in another; then a writer holding the
# session for 2 s and a reader that must wait for it.
sessions() {
	ext=$1
	label="$ext sessions${4:+ (sess_binary_protocol=$4)}"
	sess_flags "$1" "$2" "$3" "$4"
	id="phpt$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
	# shellcheck disable=SC2086
	run_php "$label write" $SESS "$TMP/sess_write.php" "$id" "$label" w1
	# shellcheck disable=SC2086
	run_php "$label read" $SESS "$TMP/sess_read.php" "$id" "$label" w1 1
	# Locking: the writer holds the session 2 s; the reader starts once
	# the writer holds the lock and must block until it is released.
	rm -f "$TMP/locked"
	# shellcheck disable=SC2086
	php $SESS "$TMP/sess_write.php" "$id" "$label (lock holder)" w2 \
		"$TMP/locked" 2 >"$TMP/holder.out" 2>&1 &
	holder=$!
	i=0
	while [ ! -e "$TMP/locked" ] && [ $i -lt 500 ]; do
		sleep 0.02
		i=$((i + 1))
	done
	if [ -e "$TMP/locked" ]; then
		# shellcheck disable=SC2086
		run_php "$label locked read" $SESS "$TMP/sess_read.php" "$id" \
			"$label (waiting reader)" w2 2 1.2
	else
		fail "$label: the lock holder never got the session"
	fi
	wait $holder
	hrc=$?
	cp "$TMP/holder.out" "$TMP/out"
	tally "$label lock holder" $hrc
}

# ---------------------------------------------------------------------------
# (a) and (b): one daemon
# ---------------------------------------------------------------------------
PORT=$(free_pair_port)
RPORT=$(free_pair_port)
echo "# daemon on 127.0.0.1:$PORT"
if start_daemon S 127.0.0.1 "$PORT" 0; then
	run_php "memcache ops" "$TMP/memcache_ops.php" 127.0.0.1 "$PORT"
	sessions memcache 127.0.0.1 "$PORT"
	run_php "memcached text ops" "$TMP/memcached_ops.php" 127.0.0.1 \
		"$PORT" 0
	run_php "memcached binary ops" "$TMP/memcached_ops.php" 127.0.0.1 \
		"$PORT" 1
	# Debian's default is sess_binary_protocol=On; test it and Off.
	dflt=$(php -r 'echo ini_get("memcached.sess_binary_protocol");')
	echo "# php-memcached default memcached.sess_binary_protocol=$dflt"
	sessions memcached 127.0.0.1 "$PORT" On
	sessions memcached 127.0.0.1 "$PORT" Off
	# shellcheck disable=SC2153 # set by start_daemon's eval
	kill9 "$PID_S"
fi

# ---------------------------------------------------------------------------
# (c) failover through a replicated pair
# ---------------------------------------------------------------------------

# Writes a session through $1 (protocol $2) to A, kill -9 A, reads it
# from B, then restarts A replicating from B.
failover() {
	ext=$1
	label="failover $ext${2:+ (sess_binary_protocol=$2)}"
	id="phpf$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
	sess_flags "$ext" 127.0.0.1 "$PORT" "$2"
	# shellcheck disable=SC2086
	run_php "$label write to A" $SESS "$TMP/sess_write.php" "$id" \
		"$label (A)" fa
	# Written twice: the second write reads the first back from A.
	# shellcheck disable=SC2086
	run_php "$label write to A" $SESS "$TMP/sess_write.php" "$id" \
		"$label (A again)" fa
	# Let the write reach B before A dies: poll B until the session
	# reads back complete (replication is asynchronous).
	sess_flags "$ext" 127.0.0.2 "$PORT" "$2"
	i=0
	while [ $i -lt 100 ]; do
		# shellcheck disable=SC2086
		php $SESS "$TMP/sess_read.php" "$id" probe fa 2 >"$TMP/out" 2>&1
		grep -q '^FAIL' "$TMP/out" || break
		sleep 0.05
		i=$((i + 1))
	done
	kill9 "$PID_A"
	if wait_log "$TMP/B.log" "replication: close" $((closes + 1)); then
		ok "$label: B saw A die (replication: close)"
	else
		fail "$label: B saw A die (replication: close)"
	fi
	closes=$((closes + 1))
	# shellcheck disable=SC2086
	run_php "$label read from B" $SESS "$TMP/sess_read.php" "$id" \
		"$label (B, A dead)" fa 2
	# A comes back with -x B, gets the full copy; the session is there.
	starts=$((starts + 1))
	if start_daemon A 127.0.0.1 "$PORT" "$RPORT" -x 127.0.0.2 &&
		wait_log "$TMP/A.log" "replication: start" 1 &&
		wait_log "$TMP/B.log" "replication: start" "$starts"; then
		ok "$label: A restarted and relinked"
	else
		fail "$label: A restarted and relinked" "$(cat "$TMP/A.log")"
	fi
	sess_flags "$ext" 127.0.0.1 "$PORT" "$2"
	# shellcheck disable=SC2086
	run_php "$label read from A" $SESS "$TMP/sess_read.php" "$id" \
		"$label (A, after the full copy)" fa 2
}

echo "# replicated pair on 127.0.0.1:$PORT and 127.0.0.2:$PORT (-X $RPORT)"
if start_daemon A 127.0.0.1 "$PORT" "$RPORT" &&
	start_daemon B 127.0.0.2 "$PORT" "$RPORT" -x 127.0.0.1; then
	if wait_log "$TMP/A.log" "replication: start" 1 &&
		wait_log "$TMP/B.log" "replication: start" 1; then
		ok "pair linked (replication: start on both)"
		starts=1
		closes=0
		failover memcache ""
		failover memcached On
		failover memcached Off
	else
		fail "pair linked (replication: start on both)" \
			"$(cat "$TMP/A.log" "$TMP/B.log")"
	fi
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]

# shtest.sh: what the bash end-to-end tests share. Source it after setting
# PIDS (daemons to kill on exit) and TMP (a scratch directory to remove).
# Counts results in PASSED and FAILED.

PASSED=0
FAILED=0

# Kills every daemon we started and removes the scratch directory.
cleanup() {
	for p in $PIDS; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ok() {
	PASSED=$((PASSED + 1))
	echo "ok - $1"
}

# fail NAME [FILE]: a failure, with the first lines of FILE if given.
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL - $1"
	[ -z "${2:-}" ] || sed 's/^/    /' "$2" | head -20
}

# check NAME COMMAND...: passes when the command succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name"; fi
}

# Prints a TCP port free on 127.0.0.1 right now.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

"""mctest: the end-to-end test harness.

Starts real daemons on free loopback ports, talks to them over sockets,
and cleans every process up at exit, even on failure.
"""
import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("MEMCACHED_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "memcached")
DEBIAN_MEMCACHED = "/usr/bin/memcached"

_daemons = []
SKIP = 77  # automake's exit status for a skipped test
_results = {"passed": 0, "failed": 0}


def free_port(host="127.0.0.1"):
    """Returns a TCP port that is free on host right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_pair_port(a_host="127.0.0.1", b_host="127.0.0.2"):
    """Returns a port free on both addresses (a pair on two loopback
    addresses uses the same client and replication ports, as two hosts)."""
    for _ in range(50):
        p = free_port(a_host)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((b_host, p))
            return p
        except OSError:
            pass
        finally:
            s.close()
    raise RuntimeError("no common free port")


def count(d, line):
    """Counts exact log lines of daemon d."""
    return sum(1 for l in d.log().splitlines() if l == line)


def wait_count(d, line, n, timeout=10.0):
    """Waits until line appears at least n times in d's log."""
    end = time.time() + timeout
    while time.time() < end:
        if count(d, line) >= n:
            return True
        time.sleep(0.02)
    return False


def check(cond, name, detail=""):
    """Records one assertion and prints it."""
    if cond:
        _results["passed"] += 1
        print("ok - %s" % name)
    else:
        _results["failed"] += 1
        print("FAIL - %s %s" % (name, detail))
    sys.stdout.flush()
    return cond


def eq(got, want, name):
    """Records got == want."""
    return check(got == want, name, "got %r want %r" % (got, want))


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "WARNING: ThreadSanitizer")


def sanitizer_check():
    """Fails the test if any daemon printed a sanitizer report."""
    for d in _daemons:
        try:
            text = d.log()
        except OSError:
            continue
        for mark in SANITIZER_MARKS:
            if mark in text:
                i = text.index(mark)
                check(False, "sanitizer report from %s" % " ".join(d.cmd),
                      text[max(0, i - 200):i + 2000])
                break


def need_reference():
    """Exits SKIP when Debian's memcached, the reference, is missing."""
    if not os.access(DEBIAN_MEMCACHED, os.X_OK):
        print("%s missing (scripts/deps installs memcached): skipped"
              % DEBIAN_MEMCACHED)
        sys.exit(SKIP)


def done():
    """Prints the closing line and exits non-zero on any failure."""
    for d in _daemons:
        if d.proc.poll() is None:
            d.stop()
    sanitizer_check()
    cleanup()
    print("%d passed, %d failed" % (_results["passed"], _results["failed"]))
    sys.exit(1 if _results["failed"] or not _results["passed"] else 0)


class Daemon:
    """One server process (ours by default) on a free loopback port."""

    def __init__(self, args=(), host="127.0.0.1", port=None, binary=None,
                 repl_port=None, wait=True, netns=None, env=None,
                 wrapper=None):
        """wrapper, if given, is a list of arguments put before the binary
        (e.g. ["valgrind", "--error-exitcode=1"])."""
        self.host = host
        self.port = port or free_port(host)
        self.binary = binary or BIN
        self.logf = tempfile.NamedTemporaryFile(
            prefix="mctest-", suffix=".log", delete=False)
        cmd = []
        if netns:
            cmd += ["ip", "netns", "exec", netns]
        cmd += list(wrapper or [])
        cmd += [self.binary, "-l", host, "-p", str(self.port), "-U", "0"]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        if self.binary == BIN:
            self.repl_port = repl_port if repl_port is not None else free_port(host)
            cmd += ["-X", str(self.repl_port)]
        cmd += list(args)
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=self.logf,
                                     env=env)
        _daemons.append(self)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=10.0):
        """Waits until the port accepts connections."""
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited %s: %s" % (
                    self.proc.returncode, self.log()))
            try:
                s = socket.create_connection((self.host, self.port), 0.2)
                s.close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("daemon not ready: " + self.log())

    def log(self):
        """Returns everything the daemon printed so far."""
        with open(self.logf.name, "r", errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=10.0, count=1):
        """Waits until pattern (a regex) appears count times in the log."""
        end = time.time() + timeout
        while time.time() < end:
            if len(re.findall(pattern, self.log(), re.M)) >= count:
                return True
            time.sleep(0.02)
        return False

    def send_signal(self, sig):
        """Sends sig to the daemon."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stops the daemon and returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        """kill -9."""
        return self.stop(signal.SIGKILL)

    def client(self, timeout=5.0):
        return Client(self.host, self.port, timeout)


class Client:
    """A raw text-protocol client over one TCP connection."""

    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def readline(self):
        """Returns one line without its "\\r\\n"."""
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def read(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def cmd(self, line):
        """Sends one line and returns the first reply line."""
        self.send(line + "\r\n")
        return self.readline()

    def store(self, cmd, key, value, flags=0, exptime=0, extra=""):
        if isinstance(value, str):
            value = value.encode()
        head = "%s %s %d %d %d%s\r\n" % (cmd, key, flags, exptime, len(value),
                                        (" " + extra) if extra else "")
        self.send(head.encode() + value + b"\r\n")
        return self.readline()

    def set(self, key, value, flags=0, exptime=0):
        return self.store("set", key, value, flags, exptime)

    def get_multi(self, line):
        """Sends a get-like line; returns {key: (flags, value, cas|None)}."""
        self.send(line + "\r\n")
        out = {}
        while True:
            head = self.readline()
            if head == "END":
                return out
            parts = head.split(" ")
            if parts[0] != "VALUE":
                raise ValueError("unexpected reply %r" % head)
            n = int(parts[3])
            data = self.read(n + 2)[:-2]
            cas = int(parts[4]) if len(parts) > 4 else None
            out[parts[1]] = (int(parts[2]), data, cas)

    def get(self, key):
        """Returns the value of key as bytes, or None."""
        r = self.get_multi("get " + key)
        return r[key][1] if key in r else None

    def stats(self, group=""):
        self.send(("stats " + group).strip() + "\r\n")
        out = {}
        while True:
            line = self.readline()
            if line == "END":
                return out
            if not line.startswith("STAT "):
                raise ValueError("unexpected reply %r" % line)
            _, k, v = line.split(" ", 2)
            out[k] = v

    def close(self):
        self.sock.close()


def cleanup():
    """Kills every daemon this process started."""
    for d in _daemons:
        try:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait(5)
        except Exception:
            pass
        try:
            os.unlink(d.logf.name)
        except OSError:
            pass
    del _daemons[:]


def _on_signal(signum, frame):
    cleanup()
    sys.exit(1)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)

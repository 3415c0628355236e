#!/usr/bin/python3
"""A rejoining node does not serve until it has the data.

A pair on 127.0.0.1 and 127.0.0.2 (each with -x the other) holds 200,000
1-KB values. Node B is killed with -9 and restarted with -x; clients
hammer it from the moment its port opens. No get may return a miss for a
key the survivor holds: B holds client requests until the survivor's full
copy has arrived ("replication: holding clients ...", "replication:
serving (copy complete)"), while "stats" still answers (repl_ready 0).
Writes sent to B while it holds are applied afterwards, in order, on both
nodes. Then the same with PHP sessions (php-memcached, Debian's default
binary protocol, locking on): users hammer B during the rejoin and no user
loses a session. Also: a node whose peer is down serves at once, a node
without -x never holds, and -o repl_ready_timeout bounds the hold.

Skips (77) if 127.0.0.2 is not usable or php-memcached is missing."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import mctest

A_HOST = "127.0.0.1"
B_HOST = "127.0.0.2"
ITEMS = int(os.environ.get("REJOIN_ITEMS", "200000"))
VALUE = b"v" * 1000
# REJOIN_READY_TIMEOUT=0 turns the hold off: the test must then fail.
COMMON = ["-v", "-m", "1024", "-o", "repl_ready_timeout=" +
          os.environ.get("REJOIN_READY_TIMEOUT", "120")]
SKIP = 77

_tmp = tempfile.mkdtemp(prefix="repl_rejoin.")


def start(host, port, rport, peer=None, extra=(), wait=True):
    """Starts one node; with peer, -x peer."""
    args = list(COMMON) + list(extra)
    if peer:
        args += ["-x", peer]
    return mctest.Daemon(args, host=host, port=port, repl_port=rport,
                         wait=wait)


def load(host, port, n, prefix="k", value=VALUE):
    """Stores n keys prefix0..prefix<n-1> (noreply, pipelined), then
    checks the last one is there."""
    s = socket.create_connection((host, port), 30)
    batch = []
    for i in range(n):
        batch.append(b"set %s%d 0 0 %d noreply\r\n%s\r\n" %
                     (prefix.encode(), i, len(value), value))
        if len(batch) == 500:
            s.sendall(b"".join(batch))
            batch = []
    s.sendall(b"".join(batch))
    c = mctest.Client(host, port, 30)
    c.sock.close()
    c.sock = s
    c.sock.settimeout(30)
    return c.get("%s%d" % (prefix, n - 1)) == value


def connect_when_open(host, port, stop, timeout=1.0):
    """Connects to host:port, retrying until the port opens or stop is
    set; returns a Client or None."""
    while not stop.is_set():
        try:
            return mctest.Client(host, port, 60)
        except OSError:
            time.sleep(0.002)
    return None


class Hammer(threading.Thread):
    """Connects as soon as the port opens and multi-gets random keys of
    the loaded set; counts the misses."""

    def __init__(self, host, port, seed, stop):
        threading.Thread.__init__(self, daemon=True)
        self.host, self.port, self.seed, self.stop = host, port, seed, stop
        self.gets = self.misses = self.errors = 0
        self.first_miss = None

    def run(self):
        c = connect_when_open(self.host, self.port, self.stop)
        i = self.seed * 7919
        while c is not None and not self.stop.is_set():
            keys = ["k%d" % ((i + j * 104729) % ITEMS) for j in range(20)]
            i += 31
            try:
                got = c.get_multi("get " + " ".join(keys))
            except (OSError, EOFError, ValueError):
                self.errors += 1
                c = connect_when_open(self.host, self.port, self.stop)
                continue
            self.gets += len(keys)
            for k in keys:
                if k not in got:
                    self.misses += 1
                    if self.first_miss is None:
                        self.first_miss = k


class Writer(threading.Thread):
    """From the moment the port opens: sets "ord" to 1, 2, ... and a new
    key w<i> each time, on one connection, waiting for each reply."""

    def __init__(self, host, port, stop):
        threading.Thread.__init__(self, daemon=True)
        self.host, self.port, self.stop = host, port, stop
        self.n = 0
        self.bad = []

    def run(self):
        c = connect_when_open(self.host, self.port, self.stop)
        while c is not None and not self.stop.is_set():
            n = self.n + 1
            try:
                r1 = c.set("ord", str(n))
                r2 = c.set("w%d" % n, str(n))
            except (OSError, EOFError):
                self.bad.append("connection lost at %d" % n)
                return
            if r1 != "STORED" or r2 != "STORED":
                self.bad.append((n, r1, r2))
                return
            self.n = n


class StatsPoller(threading.Thread):
    """Asks "stats" from the moment the port opens; remembers whether it
    saw repl_ready 0 (answered while clients were held)."""

    def __init__(self, host, port, stop):
        threading.Thread.__init__(self, daemon=True)
        self.host, self.port, self.stop = host, port, stop
        self.seen = set()

    def run(self):
        c = connect_when_open(self.host, self.port, self.stop)
        while c is not None and not self.stop.is_set():
            try:
                self.seen.add(c.stats().get("repl_ready"))
            except (OSError, EOFError, ValueError):
                return
            time.sleep(0.01)


def stats_repl(d):
    c = d.client(30)
    try:
        return c.stats("replication")
    finally:
        c.close()


def rejoin_raw(port, rport):
    """Raw clients against a rejoining node."""
    a = start(A_HOST, port, rport, peer=B_HOST)
    b = start(B_HOST, port, rport, peer=A_HOST)
    mctest.check(mctest.wait_count(a, "replication: start", 1, 20) and
                 mctest.wait_count(b, "replication: start", 1, 20),
                 "pair linked")
    mctest.check(load(A_HOST, port, ITEMS), "%d values stored on A" % ITEMS)
    cb = b.client(30)
    end = time.time() + 60
    while time.time() < end and cb.get("k%d" % (ITEMS - 1)) != VALUE:
        time.sleep(0.1)
    mctest.eq(cb.stats().get("curr_items"), str(ITEMS), "B has the copy")
    cb.close()

    b.kill()
    stop = threading.Event()
    hammers = [Hammer(B_HOST, port, i, stop) for i in range(3)]
    writer = Writer(B_HOST, port, stop)
    poller = StatsPoller(B_HOST, port, stop)
    for t in hammers + [writer, poller]:
        t.start()
    b = start(B_HOST, port, rport, peer=A_HOST, wait=False)
    served = b.wait_log(r"^replication: serving \(", 120)
    time.sleep(1.0)  # keep hammering a while after the hold ends
    stop.set()
    for t in hammers + [writer, poller]:
        t.join(70)

    log = b.log()
    mctest.check("replication: holding clients until the copy is complete"
                 in log.splitlines(), "B says it holds clients")
    mctest.check(served and "replication: serving (copy complete)" in
                 log.splitlines(), "B serves once the copy is complete",
                 log[-2000:])
    gets = sum(h.gets for h in hammers)
    misses = sum(h.misses for h in hammers)
    mctest.check(gets > 0, "clients got answers from B (%d gets)" % gets)
    mctest.eq(misses, 0, "no get missed a key the survivor holds (%d gets, "
              "first miss %s)" % (gets, [h.first_miss for h in hammers]))
    mctest.eq(sum(h.errors for h in hammers), 0, "no client errors")
    st = stats_repl(b)
    mctest.eq(st.get("repl_ready"), "1", "repl_ready 1 afterwards")
    mctest.eq(st.get("repl_ready_reason"), "copy complete",
              "repl_ready_reason")
    mctest.check(int(st.get("repl_ready_held_total", "0")) >= 4,
                 "the clients were held (repl_ready_held_total %s)" %
                 st.get("repl_ready_held_total"))
    mctest.eq(st.get("repl_ready_held"), "0", "none held any more")
    print("# B held its clients for %s ms" % st.get("repl_ready_ms"))
    mctest.check("0" in poller.seen,
                 "stats answered while holding (repl_ready 0)",
                 repr(poller.seen))

    # Writes sent while holding: none lost, applied in order, on both.
    mctest.eq(writer.bad, [], "writes through the hold all STORED")
    n = writer.n
    mctest.check(n > 0, "writer wrote (%d)" % n)
    ca, cb = a.client(30), b.client(30)
    end = time.time() + 20
    while time.time() < end and ca.get("ord") != str(n).encode():
        time.sleep(0.05)
    mctest.eq(cb.get("ord"), str(n).encode(), "B: last write wins")
    mctest.eq(ca.get("ord"), str(n).encode(), "A: last write wins")
    keys = ["w%d" % i for i in range(1, n + 1)]
    lost_a = lost_b = 0
    for i in range(0, len(keys), 100):
        line = "get " + " ".join(keys[i:i + 100])
        lost_a += len(keys[i:i + 100]) - len(ca.get_multi(line))
        lost_b += len(keys[i:i + 100]) - len(cb.get_multi(line))
    mctest.eq((lost_a, lost_b), (0, 0), "no write lost on A or B")
    mctest.eq(cb.stats().get("curr_items"), ca.stats().get("curr_items"),
              "A and B hold as many items")
    ca.close()
    cb.close()
    b.stop()
    a.stop()


PHP_USER = r"""<?php
// argv: host:port first last stopfile. Each user's request: session_start,
// check the session still holds this user, count, write back.
ini_set('session.save_handler', 'memcached');
ini_set('session.save_path', $argv[1]);
ini_set('session.use_cookies', '0');
ini_set('session.use_strict_mode', '0');
$first = (int)$argv[2]; $last = (int)$argv[3]; $stop = $argv[4];
$mode = $argv[5];
$lost = 0; $ok = 0; $err = 0;
do {
    for ($u = $first; $u <= $last; $u++) {
        session_id(sprintf('user%05d', $u));
        if (!@session_start()) { $err++; continue; }
        if ($mode === 'create') {
            $_SESSION = array('uid' => $u, 'n' => 0);
        } elseif (!isset($_SESSION['uid']) || $_SESSION['uid'] !== $u) {
            $lost++;
            if ($lost <= 3) echo "LOST user$u\n";
            session_abort();
            continue;
        } else {
            $_SESSION['n']++;
            $ok++;
        }
        session_write_close();
    }
} while ($mode === 'run' && !file_exists($stop));
echo "RESULT ok=$ok lost=$lost err=$err\n";
"""


def run_php(server, first, last, mode, stop=""):
    """Runs the PHP user loop once (create/check) and returns its output."""
    script = os.path.join(_tmp, "user.php")
    r = subprocess.run(["php", script, server, str(first), str(last),
                        stop or os.path.join(_tmp, "nostop"), mode],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=300)
    return r.stdout.decode(errors="replace")


def result(out):
    """Parses "RESULT ok= lost= err=" into a dict (empty if missing)."""
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return dict(kv.split("=") for kv in line.split()[1:])
    return {}


def php_available():
    if shutil.which("php") is None:
        return False
    r = subprocess.run(["php", "-r", "exit(extension_loaded('memcached') "
                        "? 0 : 1);"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return r.returncode == 0


def rejoin_php(port, rport):
    """PHP sessions hammering a rejoining node."""
    users = 300
    with open(os.path.join(_tmp, "user.php"), "w") as f:
        f.write(PHP_USER)
    a = start(A_HOST, port, rport, peer=B_HOST)
    b = start(B_HOST, port, rport, peer=A_HOST)
    mctest.check(mctest.wait_count(b, "replication: start", 1, 20),
                 "php: pair linked")
    sa, sb = "%s:%d" % (A_HOST, port), "%s:%d" % (B_HOST, port)
    res = result(run_php(sa, 1, users, "create"))
    mctest.eq(res.get("err"), "0", "php: %d sessions created on A" % users)
    mctest.check(load(A_HOST, port, ITEMS), "php: filler stored on A")
    res = result(run_php(sb, 1, users, "check"))
    mctest.eq((res.get("ok"), res.get("lost")), (str(users), "0"),
              "php: every session readable on B")
    cb = b.client(30)
    end = time.time() + 60
    while time.time() < end and cb.get("k%d" % (ITEMS - 1)) != VALUE:
        time.sleep(0.1)
    cb.close()

    b.kill()
    stopfile = os.path.join(_tmp, "stop")
    procs = []
    for w in range(3):
        first = 1 + w * users // 3
        last = (w + 1) * users // 3
        procs.append(subprocess.Popen(
            ["php", os.path.join(_tmp, "user.php"), sb, str(first),
             str(last), stopfile, "run"], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT))
    time.sleep(0.2)  # the users keep knocking while B is down
    b = start(B_HOST, port, rport, peer=A_HOST, wait=False)
    served = b.wait_log(r"^replication: serving \(", 120)
    time.sleep(2.0)
    open(stopfile, "w").close()
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=120)[0].decode(
                errors="replace"))
        except subprocess.TimeoutExpired:
            p.kill()
            outs.append(p.communicate()[0].decode(errors="replace"))
    mctest.check(served and "replication: serving (copy complete)" in
                 b.log().splitlines(), "php: B serves once the copy is "
                 "complete")
    res = [result(o) for o in outs]
    ok = sum(int(r.get("ok", 0)) for r in res)
    lost = sum(int(r.get("lost", 0)) for r in res)
    mctest.check(all(res), "php: every user loop finished", repr(outs))
    mctest.check(ok > 0, "php: sessions served by B during the rejoin "
                 "(%d requests, %s read errors)" %
                 (ok, sum(int(r.get("err", 0)) for r in res)))
    mctest.eq(lost, 0, "php: no user lost a session during the rejoin " +
              " ".join(l for o in outs for l in o.splitlines()
                       if l.startswith("LOST"))[:300])
    st = stats_repl(b)
    mctest.check(int(st.get("repl_ready_held_total", "0")) > 0,
                 "php: sessions were held (repl_ready_held_total %s)" %
                 st.get("repl_ready_held_total"))
    for name, server in (("A", sa), ("B", sb)):
        end = time.time() + 10
        while True:
            res = result(run_php(server, 1, users, "check"))
            if res.get("ok") == str(users) or time.time() > end:
                break
            time.sleep(0.2)
        mctest.eq((res.get("ok"), res.get("lost")), (str(users), "0"),
                  "php: every session intact on %s afterwards" % name)
    b.stop()
    a.stop()


def no_hold_cases(port, rport):
    """A dead peer, no -x, and the timeout: the node serves at once (or
    after the timeout), says why, and a get is a plain miss."""
    dead = "%s:%d" % (B_HOST, mctest.free_port(B_HOST))
    c = start(A_HOST, port, rport, extra=["-x", dead])
    ok = c.wait_log(r"^replication: serving \(no peer\)$", 10)
    mctest.check(ok, "peer down at start: serving (no peer)", c.log())
    cl = c.client(5)
    mctest.eq(cl.get("nothing"), None, "peer down: a get answers at once")
    mctest.eq(cl.stats().get("repl_ready"), "1", "peer down: repl_ready 1")
    cl.close()
    c.stop()

    c = start(A_HOST, port, rport)
    cl = c.client(5)
    mctest.eq(cl.get("nothing"), None, "no -x: a get answers at once")
    mctest.eq(cl.stats("replication").get("repl_ready_reason"), "not held",
              "no -x: not held")
    cl.close()
    c.stop()
    mctest.check("holding" not in c.log(), "no -x: no holding line")

    # A "peer" that accepts and never speaks: the timeout ends the hold.
    ls = socket.socket()
    ls.bind((B_HOST, 0))
    ls.listen(8)
    mute = "%s:%d" % (B_HOST, ls.getsockname()[1])
    c = start(A_HOST, port, rport,
              extra=["-x", mute, "-o", "repl_ready_timeout=1,repl_timeout=30"])
    cl = c.client(10)
    t0 = time.time()
    got = cl.get("nothing")
    mctest.eq(got, None, "mute peer: the get is answered after the hold")
    mctest.check(time.time() - t0 >= 0.5, "mute peer: the get was held")
    mctest.check("replication: serving (timeout)" in c.log().splitlines(),
                 "mute peer: serving (timeout)", c.log())
    cl.close()
    c.stop()

    # SIGTERM while clients are held: they are closed, the daemon exits 0.
    c = start(A_HOST, port, rport,
              extra=["-x", mute, "-o", "repl_ready_timeout=60,repl_timeout=30"])
    held = [c.client(10) for _ in range(3)]
    for h in held:
        h.send("set k 0 0 1\r\nx\r\nget k\r\n")
    st = c.client(10)
    end = time.time() + 10
    while time.time() < end and \
            st.stats("replication").get("repl_ready_held") != "3":
        time.sleep(0.05)
    mctest.eq(st.stats("replication").get("repl_ready_held"), "3",
              "three clients held")
    st.close()
    mctest.eq(c.stop(), 0, "SIGTERM while holding: exit 0")
    for h in held:
        try:
            got = h.sock.recv(100)
        except OSError:
            got = b""
        mctest.eq(got, b"", "a held client is closed unanswered")
        h.close()
    ls.close()

    # A peer whose daemon is up but refuses (closes the handshake at once):
    # the node serves at once.
    ls = socket.socket()
    ls.bind((B_HOST, 0))
    ls.listen(8)
    stop = threading.Event()

    def refuse():
        ls.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = ls.accept()
                conn.close()
            except OSError:
                pass
    t = threading.Thread(target=refuse, daemon=True)
    t.start()
    refusing = "%s:%d" % (B_HOST, ls.getsockname()[1])
    c = start(A_HOST, port, rport,
              extra=["-x", refusing, "-o", "repl_ready_timeout=60"])
    cl = c.client(10)
    mctest.eq(cl.get("nothing"), None, "refusing peer: a get is answered")
    mctest.check(c.wait_log(r"^replication: serving \(peer refused\)$", 10),
                 "refusing peer: serving (peer refused)", c.log())
    cl.close()
    c.stop()
    stop.set()
    t.join(5)
    ls.close()


def main():
    try:
        s = socket.socket()
        s.bind((B_HOST, 0))
        s.close()
    except OSError:
        print("# SKIP: 127.0.0.2 is not usable")
        sys.exit(SKIP)
    if not php_available():
        print("# SKIP: php or php-memcached is missing")
        sys.exit(SKIP)
    port, rport = mctest.free_pair_port(), mctest.free_pair_port()
    try:
        no_hold_cases(port, rport)
        rejoin_raw(port, rport)
        rejoin_php(port, rport)
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)
    mctest.done()


if __name__ == "__main__":
    main()

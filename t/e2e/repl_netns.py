#!/usr/bin/python3
"""The README's two-host walkthrough, on two real hosts: two network
namespaces joined by a veth pair, private addresses 10.213.X.1 and
10.213.X.2 (X random), each daemon on port 11211 of its own address,
started with the seed's exact command line (-v -d ... -P pidfile, stderr
kept in a log). Then the link is cut (ip link set ... down inside one
namespace, once on each side) while the pair is linked: both sides must
notice within the heartbeat timeout, serve writes on their own, and after
the link comes back relink and hold identical data.

Needs root and `ip netns`; otherwise exits 77 (skip). The namespaces, the
veth pair and the daemons are removed on exit, even on failure."""
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mctest  # noqa: E402
import netns  # noqa: E402
from netns import in_ns, sh  # noqa: E402

BIN = os.path.abspath(mctest.BIN)
PORT = 11211
RPORT = 11212
SKIP = 77

PID = os.getpid()
LINK = netns.Link("rc", "rvA", "rvB", 213)
NS_A, NS_B = LINK.ns_a, LINK.ns_b
VETH_A, VETH_B = LINK.veth_a, LINK.veth_b
A, B = LINK.ip_a, LINK.ip_b

_tmp = tempfile.mkdtemp(prefix="repl_netns.")
_pids = []




def alive(pid):
    """Returns True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def is_ours(pid):
    """Returns True if pid is still one of our daemons (not a reused pid)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return BIN.encode() in argv[:1] and _tmp.encode() in b" ".join(argv)


def kill9(pid, timeout=10.0):
    """kill -9 one of our daemons and waits until it is gone."""
    if is_ours(pid):
        os.kill(pid, signal.SIGKILL)
    end = time.time() + timeout
    while alive(pid) and time.time() < end:
        time.sleep(0.02)
    return not alive(pid)


def cleanup():
    """Kills our daemons, deletes the namespaces and the scratch dir."""
    pids = list(_pids)
    for name in os.listdir(_tmp) if os.path.isdir(_tmp) else ():
        if name.endswith(".pid"):
            try:
                with open(os.path.join(_tmp, name)) as f:
                    pids.append(int(f.read().strip()))
            except (OSError, ValueError):
                pass
    for pid in set(pids):
        try:
            kill9(pid, 5)
        except OSError:
            pass
    del _pids[:]
    LINK.delete()
    if os.environ.get("KEEP_LOGS"):
        print("# logs kept in %s" % _tmp)
    else:
        shutil.rmtree(_tmp, ignore_errors=True)


atexit.register(cleanup)






class Node:
    """One daemon in its namespace, started the seed's way (-d -P)."""

    def __init__(self, name, ns, host, veth):
        self.name, self.ns, self.host, self.veth = name, ns, host, veth
        self.runs = 0
        self.pid = None
        self.logname = os.path.join(_tmp, name + ".log")

    def start(self, peer=None):
        """memcached -v -d -p 11211 -l host -u root [-x peer] -P pidfile,
        stderr appended to this node's log; waits until it serves."""
        self.runs += 1
        pidf = os.path.join(_tmp, "%s%d.pid" % (self.name, self.runs))
        cmd = ["ip", "netns", "exec", self.ns, BIN, "-v", "-d", "-p",
               str(PORT), "-l", self.host, "-u", "root"]
        if peer:
            cmd += ["-x", peer]
        cmd += ["-P", pidf]
        with open(self.logname, "ab") as log:
            rc = subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=log,
                                 timeout=10)
        if rc != 0:
            raise RuntimeError("%s exited %d: %s" % (cmd, rc, self.log()))
        end = time.time() + 10
        while time.time() < end:
            try:
                with open(pidf) as f:
                    self.pid = int(f.read().strip())
                break
            except (OSError, ValueError):
                time.sleep(0.02)
        else:
            raise RuntimeError("no pidfile from %s: %s" % (self.name,
                                                          self.log()))
        _pids.append(self.pid)
        while time.time() < end:
            try:
                self.client(1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("%s does not serve: %s" % (self.name, self.log()))

    def kill9(self):
        """kill -9 the daemon; returns True once it is gone."""
        return kill9(self.pid)

    def client(self, timeout=5.0):
        """A text client connected from inside this node's namespace."""
        return in_ns(self.ns,
                     lambda: mctest.Client(self.host, PORT, timeout))

    def ip(self, *args):
        """Runs `ip ...` inside this node's namespace."""
        return sh("ip", "netns", "exec", self.ns, "ip", *args)

    def log(self):
        try:
            with open(self.logname, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def count(self, line):
        """Counts exact log lines."""
        return sum(1 for l in self.log().splitlines() if l == line)

    def wait_count(self, line, n, timeout=10.0):
        """Waits until line appears at least n times; returns True if so."""
        end = time.time() + timeout
        while True:
            if self.count(line) >= n:
                return True
            if time.time() > end:
                return False
            time.sleep(0.02)


def raw(c, data, until=b"\r\n", timeout=5.0):
    """Sends raw bytes and returns the reply up to and including until."""
    c.send(data)
    end = time.time() + timeout
    while not c.buf.endswith(until) and time.time() < end:
        c._fill()
    out, c.buf = c.buf, b""
    return out


def poll_raw(node, data, want, timeout=10.0):
    """Repeats a request on node until it answers want; returns the last
    answer."""
    end = time.time() + timeout
    c = node.client()
    try:
        while True:
            got = raw(c, data, b"END\r\n")
            if got == want or time.time() > end:
                return got
            time.sleep(0.05)
    finally:
        c.close()


def gets(c, keys):
    """Returns {key: (flags, value, cas)} for keys (batched)."""
    out = {}
    keys = list(keys)
    for i in range(0, len(keys), 100):
        out.update(c.get_multi("gets " + " ".join(keys[i:i + 100])))
    return out


def converge(a, b, keys, timeout=15.0):
    """Waits until both nodes answer the same gets for keys; returns both."""
    ca, cb = a.client(), b.client()
    end = time.time() + timeout
    try:
        while True:
            da, db = gets(ca, keys), gets(cb, keys)
            if da == db or time.time() > end:
                return da, db
            time.sleep(0.1)
    finally:
        ca.close()
        cb.close()


def walkthrough(a, b):
    """The README's five-minute tour, step by step."""
    listen, accept, start = ("replication: listen", "replication: accept",
                             "replication: start")
    close, copying = "replication: close", "replication: marugoto copying"

    # 1. Start the pair.
    a.start()
    mctest.check(a.wait_count(listen, 1), "A: replication: listen")
    b.start(peer=a.host)
    mctest.check(b.wait_count("replication: connect (peer=%s:%d)"
                              % (a.host, RPORT), 1),
                 "B (-x A): replication: connect (peer=%s:%d)"
                 % (a.host, RPORT))
    mctest.check(a.wait_count(accept, 1), "A: replication: accept")
    mctest.check(a.wait_count(start, 1) and b.wait_count(start, 1),
                 "A and B: replication: start")
    mctest.eq(b.count(listen), 0, "B did not need to listen")

    # 2. set on A, get on B.
    ca = a.client()
    mctest.eq(raw(ca, b"set key 0 0 2\r\nxi\r\n"), b"STORED\r\n",
              "A: set key 0 0 2 / xi -> STORED")
    ca.close()
    want = b"VALUE key 0 2\r\nxi\r\nEND\r\n"
    mctest.eq(poll_raw(b, b"get key\r\n", want), want,
              "B: get key -> VALUE key 0 2 / xi / END")

    # 3. kill -9 A: B closes, listens, still serves.
    mctest.check(a.kill9(), "A: kill -9")
    mctest.check(b.wait_count(close, 1), "B: replication: close")
    mctest.check(b.wait_count(listen, 1), "B: replication: listen")
    cb = b.client()
    mctest.eq(raw(cb, b"get key\r\n", b"END\r\n"), want,
              "B still serves key after A died")
    cb.close()

    # 4. Restart A with -x B: connect, full copy, start; get key on A.
    copies_b = b.count(copying)
    starts_b = b.count(start)
    a_log_before = a.count(start)
    connects_a = a.count("replication: connect (peer=%s:%d)" % (b.host,
                                                                 RPORT))
    a.start(peer=b.host)
    mctest.check(a.wait_count("replication: connect (peer=%s:%d)"
                              % (b.host, RPORT), connects_a + 1),
                 "A (restarted, -x B): replication: connect (peer=%s:%d)"
                 % (b.host, RPORT))
    mctest.check(a.wait_count(start, a_log_before + 1),
                 "A: replication: start (full copy received)")
    mctest.check(b.wait_count(copying, copies_b + 1),
                 "B: replication: marugoto copying")
    mctest.check(b.wait_count(start, starts_b + 1),
                 "B: replication: start again")
    mctest.eq(poll_raw(a, b"get key\r\n", want), want,
              "A (restarted): get key -> xi")


def tick(node, timeout=3.0):
    """Waits for node's once-a-second clock refresh (its `stats` time
    changes); returns our wall time of the change and the open client."""
    c = node.client()
    first = c.stats().get("time")
    end = time.time() + timeout
    while time.time() < end:
        if c.stats().get("time") != first:
            return time.time(), c
    raise RuntimeError("%s: stats time did not change" % node.name)


def lww_ms_setup(a, b, key):
    """While the link is cut, writes key on one node right after that
    node's clock refresh, then 20 ms later on the other node, choosing
    the order so the later write falls before the later node's next
    refresh. Returns (key, the later writer's value), or (None, None)
    when the two nodes refresh their clocks within 30 ms of each other
    (then no order shows the difference)."""
    t_a, c = tick(a)
    c.close()
    t_b, c = tick(b)
    c.close()
    off_ab = (t_b - t_a) % 1.0  # b refreshes off_ab s after each a refresh
    if 0.06 <= off_ab <= 0.97:
        first, second = a, b
    elif 0.03 <= off_ab <= 0.94:
        first, second = b, a
    else:
        print("# clock refreshes %.3f s apart: no millisecond LWW check"
              % off_ab)
        return None, None
    cs = second.client()
    _, cf = tick(first)
    cf.set(key, "first", flags=5)
    time.sleep(0.02)
    cs.set(key, "second", flags=6)
    cf.close()
    cs.close()
    print("# %s written on %s, then 20 ms later on %s (clock refresh "
          "offset %.3f s)" % (key, first.name, second.name, off_ab))
    return key, b"second"


def cut(a, b, side, rnd):
    """Cuts the veth link inside side's namespace while the pair is
    linked: both notice within the heartbeat timeout, both serve writes
    (a few hundred keys, some on both sides, some deletes), and after the
    link comes back they relink and hold identical data."""
    close, start = "replication: close", "replication: start"
    p = "cut %d (%s down)" % (rnd, side.name)
    pre = ["pre%d_%d" % (rnd, i) for i in range(40)]

    ca = a.client()
    for k in pre:
        ca.set(k, "before", flags=1)
    ca.close()
    da, db = converge(a, b, pre)
    mctest.check(len(da) == 40 and da == db,
                 p + ": 40 keys replicated before the cut",
                 "A has %d, B has %d" % (len(da), len(db)))

    closes = {n.name: n.count(close) for n in (a, b)}
    starts = {n.name: n.count(start) for n in (a, b)}
    t0 = time.time()
    side.ip("link", "set", side.veth, "down")
    for n in (a, b):
        ok = n.wait_count(close, closes[n.name] + 1, timeout=10)
        took = time.time() - t0
        # 3 s of silence, counted from the last PING (sent once a second)
        # and checked once a second: at most about 5 s after the cut.
        mctest.check(ok and took <= 5.5,
                     "%s: %s: replication: close within the heartbeat "
                     "timeout" % (p, n.name),
                     "closed=%s after %.2f s" % (ok, took))
        print("# %s: %s noticed after %.2f s" % (p, n.name, took))

    # Writes on both sides while cut.
    ca, cb = a.client(), b.client()
    want = {}
    for i in range(200):
        k = "cut%dA_%d" % (rnd, i)
        ca.set(k, "a%d" % i, flags=i)
        want[k] = (i, b"a%d" % i)
        k = "cut%dB_%d" % (rnd, i)
        cb.set(k, "b%d" % i, flags=i + 1000)
        want[k] = (i + 1000, b"b%d" % i)
    both = ["both%d_%d" % (rnd, i) for i in range(100)]
    for k in both:
        ca.set(k, "fromA", flags=2)
    # B's writes are later by more than the daemon's clock granularity
    # (it reads the time once a second), so B must win.
    time.sleep(1.3)
    for k in both:
        cb.set(k, "fromB", flags=3)
        want[k] = (3, b"fromB")
    dels = 0
    for i, k in enumerate(pre):
        if i < 10:
            dels += cb.cmd("delete " + k) == "DELETED"
        elif i < 20:
            ca.set(k, "changed", flags=4)
            want[k] = (4, b"changed")
        else:
            want[k] = (1, b"before")
    mctest.eq(dels, 10, p + ": B deletes while cut")
    ok_a = ca.get("cut%dA_199" % rnd) == b"a199"
    ok_b = cb.get("cut%dB_199" % rnd) == b"b199"
    mctest.check(ok_a and ok_b, p + ": both sides serve writes while cut")
    mctest.eq(ca.get("cut%dB_0" % rnd), None,
              p + ": A does not see B's writes while cut")
    ca.close()
    cb.close()
    ms_key = None
    if rnd == 1:
        ms_key, ms_want = lww_ms_setup(a, b, "lww%d" % rnd)

    partial = "replication: partial resync from offset"

    def npartial(n):
        return sum(1 for l in n.log().splitlines() if l.startswith(partial))
    partials = {n.name: npartial(n) for n in (a, b)}
    side.ip("link", "set", side.veth, "up")
    t0 = time.time()
    ok = all(n.wait_count(start, starts[n.name] + 1, timeout=30)
             for n in (a, b))
    mctest.check(ok, p + ": relinked after the link came back "
                 "(replication: start on both)")
    # A short break is resumed from the backlog in both directions: no
    # full copy.
    for n in (a, b):
        mctest.check(npartial(n) > partials[n.name],
                     "%s: %s resumed with a partial resync" % (p, n.name),
                     n.log()[-600:])
    print("# %s: relinked %.2f s after link up" % (p, time.time() - t0))
    keys = sorted(set(want) | set(pre))
    da, db = converge(a, b, keys)
    diff = [k for k in keys if da.get(k) != db.get(k)]
    mctest.eq(diff[:5], [], p + ": identical data on both nodes (%d keys, "
              "value, flags and cas)" % len(keys))
    got = {k: v[:2] for k, v in da.items()}
    bad = [k for k in keys if got.get(k) != want.get(k)]
    mctest.eq([(k, got.get(k), want.get(k)) for k in bad[:5]], [],
              p + ": merged contents as expected (both sides' writes, "
              "last writer wins, deletes kept)")
    if ms_key is not None:
        d1, d2 = converge(a, b, [ms_key])
        mctest.eq((d1.get(ms_key, (0, None))[1], d1 == d2), (ms_want, True),
                  p + ": last writer wins with millisecond precision "
                  "(a write 20 ms later on the other side wins)")
    # The live stream works again in both directions.
    for src, dst in ((a, b), (b, a)):
        c = src.client()
        k = "after%d_%s" % (rnd, src.name)
        c.set(k, "live", flags=7)
        c.close()
        d1, d2 = converge(a, b, [k])
        mctest.eq((d1.get(k, (None, None))[:2], d1 == d2), ((7, b"live"),
                                                             True),
                  "%s: live stream %s -> %s after relink"
                  % (p, src.name, dst.name))


def main():
    if os.geteuid() != 0:
        print("SKIP: repl_netns needs root (network namespaces)")
        sys.exit(SKIP)
    if shutil.which("ip") is None:
        print("SKIP: repl_netns needs iproute2 (`ip netns`)")
        sys.exit(SKIP)
    try:
        LINK.setup()
    except (OSError, RuntimeError) as e:
        print("SKIP: cannot create network namespaces: %s" % e)
        cleanup()
        sys.exit(SKIP)
    print("# namespaces %s (%s) and %s (%s)" % (NS_A, A, NS_B, B))

    a = Node("A", NS_A, A, VETH_A)
    b = Node("B", NS_B, B, VETH_B)
    try:
        walkthrough(a, b)
        cut(a, b, a, 1)
        cut(a, b, b, 2)
    except Exception as e:  # a broken step fails the run, never hangs it
        mctest.check(False, "no unexpected error", repr(e))
    if mctest._results["failed"]:
        print("# A log:\n" + a.log() + "# B log:\n" + b.log())
    mctest.done()


if __name__ == "__main__":
    main()

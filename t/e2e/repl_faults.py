#!/usr/bin/python3
"""Fault scenarios on a replicating pair living in two network namespaces
joined by a veth pair (private addresses 10.214.X.1 and 10.214.X.2, X
random, inside the namespaces only):

1. kill -9 during a full copy: ~300k items on A, B started with -x A, and
   A killed in the middle of `replication: marugoto copying`, before B's
   `replication: start`; A restarted with -x B. Then the same with B (the
   receiver) killed and restarted with -x A. Each round ends with equal
   `digest`s and identical dumps (gets of every loaded key on both nodes).
2. A peer frozen (SIGSTOP) for 30 s while a writer keeps writing to the
   other node: the writer's node keeps VmRSS under -m + 64 MB (+ 256 MB for
   an ASan build's quarantine) and its
   replication queue under the -q / byte caps, declares the peer dead
   (`replication: close`), and after SIGCONT the pair relinks and the
   digests are equal.
3. The link cut and restored 20 times (ip link set down/up on one side,
   long cuts past -o repl_timeout=2 and short ones) while writers write
   to both nodes: once quiet and linked, the digests are equal and the
   dumps identical.
4. -m 16 under heavy churn: 200 MB of mixed-size values written to both
   nodes at once (disjoint key spaces per node): RSS stays near the
   limit, both nodes serve, and every key present on both nodes has the
   same value, flags and cas (evictions are local and are not
   replicated, so equal digests are not the invariant; see
   doc/robustness.md, "Fault scenarios and soak").

Needs root and `ip netns`; otherwise exits 77 (skip). The namespaces, the
veth pair and the daemons are removed on exit, even on failure.
REPL_FAULTS_QUICK=1 shrinks every scenario (about 1 minute in all);
REPL_FAULTS_ONLY=copy,freeze,cuts,churn runs a subset;
REPL_FAULTS_RSS_SLACK=MB sets the RSS bound above -m."""
import atexit
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mctest  # noqa: E402
import netns  # noqa: E402
from netns import in_ns, sh  # noqa: E402

BIN = os.path.abspath(mctest.BIN)
PORT, RPORT = 11211, 11212
SKIP = 77
QUICK = os.environ.get("REPL_FAULTS_QUICK", "") not in ("", "0")
ONLY = [s for s in os.environ.get("REPL_FAULTS_ONLY", "").split(",") if s]

COPY_ITEMS = 60000 if QUICK else 300000
FREEZE_SECONDS = 8 if QUICK else 30
CUTS = 6 if QUICK else 20
CHURN_BYTES = (40 if QUICK else 200) << 20


def _rss_slack():
    """MB allowed above -m: 64, plus ASan's 256 MB quarantine (and shadow
    memory) for a sanitizer build. REPL_FAULTS_RSS_SLACK overrides."""
    if os.environ.get("REPL_FAULTS_RSS_SLACK"):
        return int(os.environ["REPL_FAULTS_RSS_SLACK"])
    try:
        with open(BIN, "rb") as f:
            data = f.read()
            asan = b"AddressSanitizer" in data or b"__asan_init" in data
    except OSError:
        asan = False
    return 64 + 256 if asan else 64


RSS_SLACK = _rss_slack()

PID = os.getpid()
LINK = netns.Link("rf", "rfa", "rfb", 214)
NS_A, NS_B = LINK.ns_a, LINK.ns_b
VETH_A, VETH_B = LINK.veth_a, LINK.veth_b
A_IP, B_IP = LINK.ip_a, LINK.ip_b

_tmp = tempfile.mkdtemp(prefix="repl_faults.")
_nodes = []




def cleanup():
    """Kills our daemons (continuing stopped ones first), deletes the
    namespaces and the scratch directory."""
    for n in _nodes:
        n.kill9()
    LINK.delete()
    if os.environ.get("KEEP_LOGS"):
        print("# logs kept in %s" % _tmp)
    else:
        shutil.rmtree(_tmp, ignore_errors=True)


atexit.register(cleanup)


def _on_signal(signum, frame):
    cleanup()
    os._exit(1)






def rss_mb(pid):
    """Returns the VmRSS of pid in MB (0 if it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class Node:
    """One daemon in its namespace, on PORT of its own address."""

    def __init__(self, name, ns, ip, veth):
        self.name, self.ns, self.ip, self.veth = name, ns, ip, veth
        self.proc = None
        self.logname = os.path.join(_tmp, name + ".log")
        _nodes.append(self)

    def start(self, args=(), peer=None):
        """Starts the daemon (-v, appending to this node's log) and waits
        until it serves."""
        self.kill9()
        cmd = ["ip", "netns", "exec", self.ns, BIN, "-v", "-l", self.ip,
               "-p", str(PORT), "-U", "0", "-X", str(RPORT), "-u", "root"]
        cmd += list(args)
        if peer is not None:
            cmd += ["-x", peer.ip]
        with open(self.logname, "ab") as log:
            log.write(("#### start %s\n" % " ".join(cmd)).encode())
            log.flush()
            # `ip netns exec` execs the daemon: the pid is the daemon's.
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        end = time.time() + 10
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited %s: %s" % (
                    self.name, self.proc.returncode, self.log()[-2000:]))
            try:
                self.client(1).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("%s does not serve" % self.name)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        """kill -9 (continuing it first if stopped) and reaps it."""
        if self.alive():
            try:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.kill()
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def client(self, timeout=10.0):
        """A text client connected from inside this node's namespace."""
        return in_ns(self.ns, lambda: mctest.Client(self.ip, PORT, timeout))

    def ip_cmd(self, *args):
        return sh("ip", "-n", self.ns, *args)

    def link(self, up):
        """Sets this node's end of the veth up or down."""
        self.ip_cmd("link", "set", self.veth, "up" if up else "down")

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

    def stats(self, group=""):
        """Returns `stats [group]` as a dict."""
        c = self.client(5)
        try:
            return c.stats(group)
        finally:
            c.close()

    def digest(self):
        """Returns (hex, items) of `digest`."""
        c = self.client(30)
        try:
            p = c.cmd("digest").split()
        finally:
            c.close()
        if len(p) != 3 or p[0] != "DIGEST":
            raise RuntimeError("bad digest reply %r" % p)
        return p[1], int(p[2])


START, CLOSE = "replication: start", "replication: close"
COPYING = "replication: marugoto copying"


def pipeline_sets(c, items, batch=500):
    """Sends set commands for (key, flags, value) in batches, reading the
    replies of each batch; returns the number of STORED replies."""
    stored = 0
    items = list(items)
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        buf = []
        for k, f, v in chunk:
            buf.append(b"set %s %d 0 %d\r\n%s\r\n"
                       % (k.encode(), f, len(v), v))
        c.send(b"".join(buf))
        for _ in chunk:
            stored += c.readline() == "STORED"
    return stored


def dump(node, keys, batch=400):
    """Returns {key: (flags, value, cas)} for every key present on node."""
    c = node.client(30)
    out = {}
    try:
        for i in range(0, len(keys), batch):
            out.update(c.get_multi("gets " + " ".join(keys[i:i + batch])))
    finally:
        c.close()
    return out


def wait_digests(a, b, timeout=30.0):
    """Polls both digests until equal; returns (da, db, seconds)."""
    t0 = time.time()
    while True:
        da, db = a.digest(), b.digest()
        if da == db or time.time() - t0 > timeout:
            return da, db, time.time() - t0
        time.sleep(0.2)


def compare_dumps(a, b, keys, name, want=None):
    """Checks both nodes hold the same items for keys (flags, value and
    cas), and if want is given, exactly want's (flags, value) pairs."""
    da, db = dump(a, keys), dump(b, keys)
    diff = [k for k in keys if da.get(k) != db.get(k)]
    mctest.check(not diff, "%s: identical dumps (%d keys asked, %d present)"
                 % (name, len(keys), len(da)),
                 "%d differ, e.g. %r" % (len(diff), [(k, da.get(k), db.get(k))
                                                   for k in diff[:3]]))
    if want is not None:
        got = {k: v[:2] for k, v in da.items()}
        bad = [k for k in keys if got.get(k) != want.get(k)]
        mctest.check(not bad, "%s: contents as written" % name,
                     "%d wrong, e.g. %r" % (len(bad), [(k, got.get(k),
                                                        want.get(k))
                                                       for k in bad[:3]]))
    return da


# ---- 1. kill -9 during a full copy ----

def copy_values(n):
    """The loaded data set: n keys with ~1-KB values. The copy (60 MB in
    quick mode) must be much larger than what the socket buffers hold
    (a few MB): with ~100-byte values, the whole copy could already be in
    flight when the sender is killed, and B then got all of it."""
    rnd = random.Random(n)
    out = []
    for i in range(n):
        k = "cp:%07d" % i
        v = (b"%d-" % i) + bytes(rnd.choice(b"abcdefghij")
                                 for _ in range(8)) * rnd.randint(96, 160)
        out.append((k, i & 0xffff, v))
    return out


def kill_mid_copy(a, b, victim, data):
    """Starts b with -x a (a holds data) and kills victim once b has
    received part of a's copy, before b's `replication: start`. Returns
    (items b had, b's starts before the kill) or raises."""
    starts_b = b.count(START)
    copies_a = a.count(COPYING)
    b.start(["-m", "1024"], peer=a)
    c = b.client()
    n = 0
    t0 = time.time()
    try:
        while time.time() - t0 < 30:
            n = int(c.stats()["curr_items"])
            if n >= len(data) // 10:
                break
        victim.kill9()
    finally:
        c.close()
    mid = (a.count(COPYING) > copies_a and b.count(START) == starts_b
           and 0 < n < len(data))
    print("# killed %s %.2f s after B started; B had %d of %d items"
          % (victim.name, time.time() - t0, n, len(data)))
    return n, mid


def scenario_copy(a, b):
    """kill -9 of either node in the middle of a full copy."""
    data = copy_values(COPY_ITEMS)
    keys = [k for k, _, _ in data]
    want_all = {k: (f, v) for k, f, v in data}

    # Round 1: the sender (A) dies mid-copy; A restarts with -x B.
    a.start(["-m", "1024"])
    c = a.client(30)
    mctest.eq(pipeline_sets(c, data), len(data),
              "copy: %d items loaded on A" % len(data))
    c.close()
    n, mid = kill_mid_copy(a, b, a, data)
    mctest.check(mid, "copy round 1: A killed during marugoto copying, "
                 "before B's replication: start",
                 "B had %d items" % n)
    mctest.check(b.wait_count(CLOSE, b.count(CLOSE) or 1, 10),
                 "copy round 1: B logs replication: close")
    kept = dump(b, keys)
    mctest.check(0 < len(kept) < len(data) and all(
        want_all[k] == v[:2] for k, v in kept.items()),
        "copy round 1: B kept a partial, correct copy (%d items)"
        % len(kept))
    sa, sb = a.count(START), b.count(START)
    a.start(["-m", "1024"], peer=b)
    mctest.check(a.wait_count(START, sa + 1, 60) and
                 b.wait_count(START, sb + 1, 60),
                 "copy round 1: A restarted with -x B, both start")
    da, db, _ = wait_digests(a, b)
    mctest.check(da == db and da[1] == len(kept),
                 "copy round 1: equal digests (%s)" % (da,), "B %s" % (db,))
    compare_dumps(a, b, keys, "copy round 1",
                  {k: v[:2] for k, v in kept.items()})
    a.kill9()
    b.kill9()

    # Round 2: the receiver (B) dies mid-copy; B restarts with -x A.
    a.start(["-m", "1024"])
    c = a.client(30)
    mctest.eq(pipeline_sets(c, data), len(data),
              "copy: %d items loaded on A again" % len(data))
    c.close()
    n, mid = kill_mid_copy(a, b, b, data)
    mctest.check(mid, "copy round 2: B killed during marugoto copying, "
                 "before B's replication: start",
                 "B had %d items" % n)
    sa, sb = a.count(START), b.count(START)
    mctest.check(a.wait_count(CLOSE, a.count(CLOSE) or 1, 10),
                 "copy round 2: A logs replication: close")
    b.start(["-m", "1024"], peer=a)
    mctest.check(a.wait_count(START, sa + 1, 60) and
                 b.wait_count(START, sb + 1, 60),
                 "copy round 2: B restarted with -x A, both start")
    da, db, _ = wait_digests(a, b)
    mctest.check(da == db and da[1] == len(data),
                 "copy round 2: equal digests (%s)" % (da,), "B %s" % (db,))
    compare_dumps(a, b, keys, "copy round 2", want_all)
    a.kill9()
    b.kill9()


# ---- 2. a frozen peer ----

class Writer(threading.Thread):
    """Writes to one node until stopped: sets (and optionally deletes,
    appends and incrs) over a key space, in pipelined batches. Reconnects
    after errors (the link cuts do not touch client traffic)."""

    def __init__(self, node, keys, sizes=(200, 2000), mix=False, seed=0,
                 limit_bytes=None, batch=50, rate=None):
        super().__init__(daemon=True)
        self.rate = rate  # ops per second, None: as fast as possible
        self.node, self.keys, self.sizes, self.mix = node, keys, sizes, mix
        self.rnd = random.Random(seed)
        self.limit_bytes, self.batch = limit_bytes, batch
        self.stop_ev = threading.Event()
        self.sent_bytes = 0
        self.ops = 0
        self.errors = 0
        self.replies = {}

    def one(self, seq):
        """Returns one command (bytes)."""
        k = self.rnd.choice(self.keys).encode()
        r = self.rnd.random() if self.mix else 0.0
        if r < 0.75:
            n = self.sizes(self.rnd) if callable(self.sizes) else \
                self.rnd.randint(*self.sizes)
            v = (b"%s:%d:" % (k, seq) + b"x" * n)[:max(n, 1)]
            self.sent_bytes += len(v)
            return b"set %s %d 0 %d\r\n%s\r\n" % (k, seq & 0xff, len(v), v)
        if r < 0.85:
            return b"delete %s\r\n" % k
        if r < 0.95:
            return b"append %s 0 0 3\r\n+%02d\r\n" % (k, seq % 100)
        return b"incr %s 1\r\n" % k

    def run(self):
        seq = 0
        c = None
        t0 = time.time()
        while not self.stop_ev.is_set():
            if self.rate and self.ops > (time.time() - t0) * self.rate:
                time.sleep(0.005)
                continue
            if self.limit_bytes is not None and \
                    self.sent_bytes >= self.limit_bytes:
                break
            try:
                if c is None:
                    c = self.node.client(10)
                cmds = []
                for _ in range(self.batch):
                    seq += 1
                    cmds.append(self.one(seq))
                c.send(b"".join(cmds))
                for _ in cmds:
                    line = c.readline()
                    key = line if not line.isdigit() else "NUMBER"
                    self.replies[key] = self.replies.get(key, 0) + 1
                self.ops += len(cmds)
            except (OSError, EOFError):
                self.errors += 1
                c = None
                time.sleep(0.1)
        if c is not None:
            c.close()

    def stop(self):
        self.stop_ev.set()
        self.join(30)


def frozen_phase(a, b, w, seconds, name):
    """Freezes b for seconds while w writes to a; samples a's VmRSS and
    queue. Returns (peak RSS MB, peak queue bytes, peak queue records,
    seconds until a's close or None, a's `stats replication` at the end)."""
    ca = a.count(CLOSE)
    b.signal(signal.SIGSTOP)
    t0 = time.time()
    peak_rss, peak_q, peak_qr, closed_at = 0.0, 0, 0, None
    st = {}
    c = a.client()
    try:
        while time.time() - t0 < seconds:
            peak_rss = max(peak_rss, rss_mb(a.pid))
            st = c.stats("replication")
            peak_q = max(peak_q, int(st["repl_queue_bytes"]))
            peak_qr = max(peak_qr, int(st["repl_queue_records"]))
            if closed_at is None and a.count(CLOSE) > ca:
                closed_at = time.time() - t0
            time.sleep(0.1)
    finally:
        c.close()
    print("# freeze %s: B stopped %.0f s, A served %d ops (%d MB); peak "
          "RSS %.1f MB, queue %d bytes / %d records (caps %s / %s); "
          "timeouts %s, overflows %s; closed after %s s"
          % (name, seconds, w.ops, w.sent_bytes >> 20, peak_rss, peak_q,
             peak_qr, st.get("repl_queue_max_bytes"),
             st.get("repl_queue_max_records"), st.get("repl_timeouts"),
             st.get("repl_queue_overflows"),
             "%.1f" % closed_at if closed_at is not None else "never"))
    return peak_rss, peak_q, peak_qr, closed_at, st


def scenario_freeze(a, b):
    """B frozen while a writer writes to A: first FREEZE_SECONDS with a
    paced writer (the heartbeat timeout must close the link), then a few
    seconds with a writer at full speed (the -q bound must close it)."""
    mem, qrec = 64, 20000
    args = ["-m", str(mem), "-q", str(qrec), "-o", "repl_backlog=16m"]
    a.start(args)
    b.start(args, peer=a)
    mctest.check(a.wait_count(START, 1, 20) and b.wait_count(START, 1, 20),
                 "freeze: pair linked")
    keys = ["fz:%05d" % i for i in range(20000)]  # ~22 MB: no eviction
    for rnd, (secs, rate) in enumerate(((FREEZE_SECONDS, 4000),
                                        (4 if QUICK else 6, None))):
        name = "paced" if rate else "full speed"
        sa = a.count(START)
        w = Writer(a, keys, sizes=(200, 2000), seed=1 + rnd, rate=rate)
        w.start()
        time.sleep(1)
        st0 = a.stats("replication")
        peak_rss, peak_q, peak_qr, closed_at, st = frozen_phase(
            a, b, w, secs, name)
        mctest.check(w.ops > 10000 and w.errors == 0,
                     "freeze %s: A kept serving the writer (%d ops)"
                     % (name, w.ops), "errors %d" % w.errors)
        mctest.check(0 < peak_rss <= mem + RSS_SLACK,
                     "freeze %s: A's VmRSS stayed under -m + %d MB "
                     "(peak %.1f MB)" % (name, RSS_SLACK, peak_rss))
        mctest.check(peak_qr <= qrec and
                     peak_q <= int(st["repl_queue_max_bytes"]),
                     "freeze %s: A's queue stayed under -q and the byte "
                     "cap (peak %d records, %d bytes)"
                     % (name, peak_qr, peak_q))
        mctest.check(closed_at is not None,
                     "freeze %s: A declared the frozen peer dead "
                     "(replication: close)" % name)
        if rate:
            mctest.check(int(st["repl_timeouts"]) >
                         int(st0["repl_timeouts"]) and
                         closed_at is not None and closed_at < 6,
                         "freeze %s: closed by the heartbeat timeout "
                         "(repl_timeouts %s -> %s)"
                         % (name, st0["repl_timeouts"],
                            st["repl_timeouts"]))
        else:
            mctest.check(int(st["repl_queue_overflows"]) >
                         int(st0["repl_queue_overflows"]),
                         "freeze %s: closed by the queue bound "
                         "(repl_queue_overflows %s -> %s)"
                         % (name, st0["repl_queue_overflows"],
                            st["repl_queue_overflows"]))
        b.signal(signal.SIGCONT)
        time.sleep(2)
        w.stop()
        mctest.check(a.wait_count(START, sa + 1, 30),
                     "freeze %s: relinked after SIGCONT "
                     "(replication: start on A)" % name)
        da, db, took = wait_digests(a, b)
        mctest.check(da == db and da[1] > 0,
                     "freeze %s: equal digests after the relink (%s, "
                     "%.1f s)" % (name, da, took), "B %s" % (db,))
        compare_dumps(a, b, keys, "freeze " + name)
    a.kill9()
    b.kill9()


# ---- 3. link cuts ----

def scenario_cuts(a, b):
    """CUTS link cuts (long and short) under writes to both nodes."""
    args = ["-m", "256", "-o", "repl_timeout=2"]
    a.start(args)
    b.start(args, peer=a)
    mctest.check(a.wait_count(START, 1, 20) and b.wait_count(START, 1, 20),
                 "cuts: pair linked")
    ca, cb = a.count(CLOSE), b.count(CLOSE)
    keys = ["ct:%05d" % i for i in range(5000)]
    wa = Writer(a, keys, sizes=(10, 800), mix=True, seed=2, batch=20)
    wb = Writer(b, keys, sizes=(10, 800), mix=True, seed=3, batch=20)
    wa.start()
    wb.start()
    rnd = random.Random(4)
    longs = noticed = online = 0
    t0 = time.time()
    for i in range(CUTS):
        side = a if i % 2 == 0 else b
        long_cut = i % 3 != 2
        if long_cut:
            # Let the pair relink first, so the cut has a link to break.
            end = time.time() + 5
            while time.time() < end and not (
                    a.stats()["repl_state"] == "online" and
                    b.stats()["repl_state"] == "online"):
                time.sleep(0.1)
        was_online = (a.stats()["repl_state"] == "online" and
                      b.stats()["repl_state"] == "online")
        closes = (a.count(CLOSE), b.count(CLOSE))
        down = 3.5 if long_cut else rnd.uniform(0.2, 1.5)
        side.link(False)
        time.sleep(down)
        if long_cut:
            longs += 1
            online += was_online
            noticed += (was_online and a.count(CLOSE) > closes[0] and
                        b.count(CLOSE) > closes[1])
        side.link(True)
        time.sleep(rnd.uniform(0.3, 2.0))
    wa.stop()
    wb.stop()
    print("# cuts: %d cuts (%d long) in %.0f s; writers did %d + %d ops"
          % (CUTS, longs, time.time() - t0, wa.ops, wb.ops))
    mctest.check(wa.errors == 0 and wb.errors == 0 and wa.ops > 1000 and
                 wb.ops > 1000, "cuts: both nodes served writers throughout",
                 "errors %d %d, ops %d %d" % (wa.errors, wb.errors, wa.ops,
                                              wb.ops))
    mctest.check(online == longs and noticed == online,
                 "cuts: each long cut (3.5 s > repl_timeout=2) of a linked "
                 "pair was noticed by both nodes before the link came back "
                 "(%d of %d linked at the cut, of %d long cuts)"
                 % (noticed, online, longs))
    print("# cuts: closes A %d, B %d" % (a.count(CLOSE) - ca,
                                          b.count(CLOSE) - cb))
    da, db, took = wait_digests(a, b, 60)
    mctest.check(da == db,
                 "cuts: equal digests once quiet (%s, after %.1f s)"
                 % (da, took), "B %s" % (db,))
    st = a.stats()
    mctest.eq(st.get("repl_state"), "online", "cuts: A online at the end")
    compare_dumps(a, b, keys, "cuts")
    a.kill9()
    b.kill9()


# ---- 4. -m under churn ----

def churn_size(rnd):
    """Mixed value sizes: mostly small, some medium, a few large."""
    r = rnd.random()
    if r < 0.70:
        return rnd.randint(50, 500)
    if r < 0.95:
        return rnd.randint(1000, 10000)
    return rnd.randint(20000, 200000)


def scenario_churn(a, b):
    """-m 16 and 200 MB of mixed sizes written to both nodes at once."""
    mem = 16
    args = ["-m", str(mem), "-q", "1024", "-o", "repl_backlog=8m"]
    a.start(args)
    b.start(args, peer=a)
    mctest.check(a.wait_count(START, 1, 20) and b.wait_count(START, 1, 20),
                 "churn: pair linked")
    # Disjoint key spaces: each key has one writer, so its versions reach
    # the other node in order, and no eviction can resurrect an older
    # value over a newer one (see doc/robustness.md).
    ka = ["ea:%05d" % i for i in range(20000)]
    kb = ["eb:%05d" % i for i in range(20000)]
    half = CHURN_BYTES // 2
    ws = [Writer(a, ka, sizes=churn_size, seed=5, limit_bytes=half,
                 batch=20),
          Writer(b, kb, sizes=churn_size, seed=6, limit_bytes=half,
                 batch=20)]
    for w in ws:
        w.start()
    peak = {a.name: 0.0, b.name: 0.0}
    t0 = time.time()
    while any(w.is_alive() for w in ws) and time.time() - t0 < 150:
        for n in (a, b):
            peak[n.name] = max(peak[n.name], rss_mb(n.pid))
        time.sleep(0.1)
    for w in ws:
        w.stop()
    took = time.time() - t0
    sa, sb = a.stats(), b.stats()
    ra, rb = a.stats("replication"), b.stats("replication")
    print("# churn: wrote %d + %d MB in %.0f s; peak RSS A %.1f MB, B %.1f "
          "MB; evictions A %s, B %s; queue overflows A %s, B %s"
          % (ws[0].sent_bytes >> 20, ws[1].sent_bytes >> 20, took,
             peak["A"], peak["B"], sa.get("evictions"), sb.get("evictions"),
             ra.get("repl_queue_overflows"), rb.get("repl_queue_overflows")))
    mctest.check(all(w.sent_bytes >= half for w in ws) and
                 all(w.errors == 0 for w in ws),
                 "churn: %d MB written to each node without errors"
                 % (half >> 20))
    mctest.check(int(sa.get("evictions", 0)) > 0 and
                 int(sb.get("evictions", 0)) > 0,
                 "churn: both nodes evicted")
    for n, s in ((a, sa), (b, sb)):
        mctest.check(int(s.get("bytes", 0)) <= mem << 20,
                     "churn: %s holds at most -m bytes of items (%s)"
                     % (n.name, s.get("bytes")))
        mctest.check(peak[n.name] <= mem + RSS_SLACK,
                     "churn: %s VmRSS stayed near -m (peak %.1f MB, bound "
                     "-m + %d MB)" % (n.name, peak[n.name], RSS_SLACK))
    for n in (a, b):
        c = n.client()
        ok = c.set("probe", "alive") == "STORED" and c.get("probe") == \
            b"alive"
        c.close()
        mctest.check(ok, "churn: %s still serves" % n.name)
    # Quiet: wait until both replication queues are empty and stable.
    end = time.time() + 30
    while time.time() < end:
        qa = int(a.stats().get("repl_queue_bytes", 0))
        qb = int(b.stats().get("repl_queue_bytes", 0))
        if qa == 0 and qb == 0 and a.stats().get("repl_state") == "online":
            break
        time.sleep(0.2)
    time.sleep(1)
    keys = ka + kb + ["probe"]
    da, db = dump(a, keys), dump(b, keys)
    both = [k for k in keys if k in da and k in db]
    diff = [k for k in both if da[k] != db[k]]
    print("# churn: A holds %d, B holds %d, %d on both" % (len(da), len(db),
                                                         len(both)))
    mctest.check(len(both) > 100,
                 "churn: many keys present on both nodes (%d)" % len(both))
    mctest.check(not diff, "churn: every key present on both nodes has "
                 "the same value, flags and cas",
                 "%d differ, e.g. %r" % (len(diff), [(k, da[k][0], db[k][0],
                                                      da[k][2], db[k][2])
                                                     for k in diff[:3]]))
    a.kill9()
    b.kill9()


SCENARIOS = [("copy", scenario_copy), ("freeze", scenario_freeze),
             ("cuts", scenario_cuts), ("churn", scenario_churn)]


def main():
    if os.geteuid() != 0:
        print("SKIP: repl_faults needs root (network namespaces)")
        sys.exit(SKIP)
    if shutil.which("ip") is None:
        print("SKIP: repl_faults needs iproute2 (`ip netns`)")
        sys.exit(SKIP)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        LINK.setup()
    except (OSError, RuntimeError) as e:
        print("SKIP: cannot create network namespaces: %s" % e)
        cleanup()
        sys.exit(SKIP)
    print("# namespaces %s (%s) and %s (%s)" % (NS_A, A_IP, NS_B, B_IP))
    a = Node("A", NS_A, A_IP, VETH_A)
    b = Node("B", NS_B, B_IP, VETH_B)
    for name, fn in SCENARIOS:
        if ONLY and name not in ONLY:
            continue
        t0 = time.time()
        failed = mctest._results["failed"]
        try:
            fn(a, b)
        except Exception as e:  # a broken step fails the run, never hangs
            mctest.check(False, "%s: no unexpected error" % name, repr(e))
        a.kill9()
        b.kill9()
        a.link(True)
        b.link(True)
        print("# %s: %.1f s" % (name, time.time() - t0))
        if mctest._results["failed"] > failed:
            for n in (a, b):
                tail = "\n".join(n.log().splitlines()[-40:])
                print("# %s log (tail):\n%s" % (n.name, tail))
        for n in (a, b):  # each scenario starts with fresh logs
            try:
                os.rename(n.logname, n.logname + "." + name)
            except OSError:
                pass
    for fn in sorted(os.listdir(_tmp)):
        with open(os.path.join(_tmp, fn), errors="replace") as f:
            text = f.read()
        for mark in mctest.SANITIZER_MARKS:
            if mark in text:
                mctest.check(False, "sanitizer report in %s" % fn,
                             text[text.index(mark):][:2000])
                break
    mctest.done()


if __name__ == "__main__":
    main()

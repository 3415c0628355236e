#!/usr/bin/python3
"""keepalived in front of a pair, for real: two keepalived instances
(Debian's package) run the shipped scripts/keepalived.conf.example (node
B's lines as marked, "nopreempt" removed for automatic failback, the
documentation addresses replaced by ours) in two network namespaces,
VRRP over veths joined by a bridge in a third namespace, where the
clients run. Each namespace runs a repcached node bound the way
doc/hardening.md says, -l <node>,<VIP> with net.ipv4.ip_nonlocal_bind=1,
and the shipped check_repcached as the health check.

It shows: the VIP settles on A; data set through the VIP; kill -9 of A's
daemon moves the VIP to B and the data is still there through the VIP;
A's daemon restarted with -x holds its clients until its copy is complete,
check_repcached says NOT READY meanwhile, and the VIP comes back to A only
after A serves with the copy complete; the data (also what was written
while B held the VIP) is there through the VIP; the VIP moved exactly
twice (no flapping).

Needs root, `ip netns`, a bridge and keepalived; otherwise exits 77 (skip).
Every process and namespace is removed on exit, even on failure. No packet
leaves the test's namespaces."""
import atexit
import os
import re
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

SKIP = 77
BIN = os.path.abspath(mctest.BIN)
TOP = os.environ.get("TOP_SRCDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
EXAMPLE = os.path.join(TOP, "scripts", "keepalived.conf.example")
CHECK = os.path.join(TOP, "scripts", "check_repcached")
PORT, RPORT = 11211, 11212
FILLER = int(os.environ.get("KA_FILLER", "200000"))
VALUE = b"f" * 1000

PID = os.getpid()
NET = 10 + PID % 200
NS = {"A": "kaA%d" % PID, "B": "kaB%d" % PID, "C": "kaC%d" % PID}
IP = {"A": "10.215.%d.11" % NET, "B": "10.215.%d.12" % NET,
      "C": "10.215.%d.2" % NET}
VIP = "10.215.%d.10" % NET

_tmp = None
_made_ns = []
_procs = []  # (name, Popen)
_pidfiles = []


def have_tools():
    """Returns a reason to skip, or None."""
    if os.geteuid() != 0:
        return "not root"
    for tool in ("keepalived", "ip", "bash", "timeout"):
        if shutil.which(tool) is None:
            return tool + " missing"
    if not os.path.exists(EXAMPLE) or not os.path.exists(CHECK):
        return "scripts not found under " + TOP
    r = sh("ip", "netns", "list", check=False)
    if r.returncode != 0:
        return "ip netns unavailable"
    return None


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def ours(pid):
    """True if pid runs one of our binaries with our scratch dir in its
    command line (never someone else's process)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read()
    except OSError:
        return False
    return _tmp is not None and _tmp.encode() in argv


def cleanup():
    """Stops keepalived and the daemons we started, deletes our
    namespaces and the scratch directory."""
    global _tmp
    for name, p in _procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for name, p in _procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    for path in _pidfiles:
        pid = read_pid(path)
        if pid and ours(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    del _procs[:]
    for ns in list(_made_ns):
        sh("ip", "netns", "del", ns, check=False)
        _made_ns.remove(ns)
    if _tmp and os.path.isdir(_tmp):
        if os.environ.get("KEEP_LOGS"):
            print("# logs kept in %s" % _tmp)
        else:
            shutil.rmtree(_tmp, ignore_errors=True)
        _tmp = None


def on_signal(signum, frame):
    sys.exit(1)


def setup_net():
    """Namespaces A, B (the nodes) and C (clients, and the bridge that
    joins them); eth0 in A and B, on one /24 with the VIP."""
    if netns._root_ns_fd is None:
        netns._root_ns_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    for ns in NS.values():
        sh("ip", "netns", "add", ns)
        _made_ns.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    c = NS["C"]
    sh("ip", "-n", c, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", c, "link", "set", "br0", "up")
    sh("ip", "-n", c, "addr", "add", IP["C"] + "/24", "dev", "br0")
    for n in ("A", "B"):
        sh("ip", "-n", c, "link", "add", "p" + n, "type", "veth", "peer",
           "name", "eth0", "netns", NS[n])
        sh("ip", "-n", c, "link", "set", "p" + n, "master", "br0")
        sh("ip", "-n", c, "link", "set", "p" + n, "up")
        sh("ip", "-n", NS[n], "addr", "add", IP[n] + "/24", "dev", "eth0")
        sh("ip", "-n", NS[n], "link", "set", "eth0", "up")
        sh("ip", "netns", "exec", NS[n], "sysctl", "-q", "-w",
           "net.ipv4.ip_nonlocal_bind=1")


def config_for(node):
    """The shipped example for node A or B: on node B, the last value
    before each "# NODE B: x" replaced by x; nopreempt removed; the
    documentation addresses and the check's path replaced by ours."""
    out = []
    with open(EXAMPLE) as f:
        for line in f:
            m = re.search(r"#\s*NODE B:\s*(\S+)", line)
            if m and node == "B":
                head, tail = line[:m.start()], line[m.start():]
                head = re.sub(r'[^\s"]+("?\s*)$', m.group(1) + r"\1", head)
                line = head + tail
            if re.match(r"\s*nopreempt\b", line):
                continue
            out.append(line)
    text = "".join(out)
    text = text.replace("/usr/libexec/repcached/check_repcached",
                        os.path.join(_tmp, "check_repcached"))
    text = text.replace("-q -p 11211", "-q -p %d -s %s/%s.state" %
                        (PORT, _tmp, node))
    for doc, ours_ in (("192.0.2.11", IP["A"]), ("192.0.2.12", IP["B"]),
                       ("192.0.2.10", VIP)):
        text = text.replace(doc, ours_)
    return text


def start_keepalived(node):
    conf = os.path.join(_tmp, "keepalived-%s.conf" % node)
    with open(conf, "w") as f:
        f.write(config_for(node))
    pids = [os.path.join(_tmp, "ka-%s-%s.pid" % (node, k))
            for k in ("main", "vrrp", "check")]
    _pidfiles.extend(pids)
    log = open(os.path.join(_tmp, "keepalived-%s.log" % node), "ab")
    p = subprocess.Popen(
        ["ip", "netns", "exec", NS[node], "keepalived", "-n", "-l", "-D",
         "-G", "-P", "-f", conf, "-p", pids[0], "-r", pids[1], "-c",
         pids[2]], stdout=log, stderr=log)
    _procs.append(("keepalived-" + node, p))
    return p


class Node:
    """A repcached daemon in a node namespace, -l <node>,<VIP>."""

    def __init__(self, name):
        self.name = name
        self.proc = None
        self.logname = os.path.join(_tmp, "memcached-%s.log" % name)
        self.mark = 0

    def start(self):
        peer = IP["B" if self.name == "A" else "A"]
        # The log file is kept across restarts: lines() reads only this
        # incarnation's (an earlier "serving (copy complete)" must not count).
        self.mark = len(self.log().splitlines()) if os.path.exists(
            self.logname) else 0
        log = open(self.logname, "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", NS[self.name], BIN, "-v", "-U", "0",
             "-u", "root", "-m", "1024", "-p", str(PORT), "-X", str(RPORT),
             "-l", "%s,%s" % (IP[self.name], VIP), "-x", peer,
             "-o", "repl_ready_timeout=120", "-P",
             os.path.join(_tmp, "mc-%s.pid" % self.name)],
            stdout=log, stderr=log)
        _pidfiles.append(os.path.join(_tmp, "mc-%s.pid" % self.name))
        _procs.append(("memcached-" + self.name, self.proc))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def log(self):
        with open(self.logname, errors="replace") as f:
            return f.read()

    def lines(self):
        """The lines this incarnation logged."""
        return self.log().splitlines()[self.mark:]


def client(host, timeout=10.0):
    """A text client in the clients' namespace."""
    return in_ns(NS["C"], lambda: mctest.Client(host, PORT, timeout))


def wait_port(node, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            c = in_ns(NS[node], lambda: mctest.Client(IP[node], PORT, 1))
            c.close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def vip_holders():
    """Returns the set of nodes whose eth0 has the VIP."""
    held = set()
    for n in ("A", "B"):
        r = sh("ip", "-n", NS[n], "-4", "-o", "addr", "show", "dev", "eth0",
               check=False)
        if (" %s/" % VIP) in r.stdout.decode(errors="replace"):
            held.add(n)
    return held


class VipWatch(threading.Thread):
    """Polls who holds the VIP; records every change of holder."""

    def __init__(self):
        threading.Thread.__init__(self, daemon=True)
        self.stop = threading.Event()
        self.changes = []  # (time, frozenset)
        self.lock = threading.Lock()
        self.on_move = None

    def run(self):
        last = None
        while not self.stop.is_set():
            h = frozenset(vip_holders())
            if h != last:
                with self.lock:
                    self.changes.append((time.time(), h))
                if self.on_move is not None:
                    self.on_move(h)
                last = h
            time.sleep(0.05)

    def holder(self):
        with self.lock:
            return self.changes[-1][1] if self.changes else frozenset()

    def wait_for(self, holders, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if self.holder() == frozenset(holders):
                return True
            time.sleep(0.05)
        return False

    def moves(self):
        """The sequence of single holders (empty and double states, the
        instants of a handover, left out), repeats merged."""
        seq = []
        with self.lock:
            for _, h in self.changes:
                if len(h) == 1:
                    (n,) = tuple(h)
                    if not seq or seq[-1] != n:
                        seq.append(n)
        return seq


def run_check(node):
    """Runs check_repcached as keepalived does (in the node's namespace);
    returns (exit code, output)."""
    r = subprocess.run(["ip", "netns", "exec", NS[node], "bash",
                        os.path.join(_tmp, "check_repcached"), "-p",
                        str(PORT), "-H", IP[node], "-s",
                        os.path.join(_tmp, "manual-%s.state" % node)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    return r.returncode, r.stdout.decode(errors="replace").strip()


def load(n):
    """Stores the filler through the VIP (noreply, pipelined)."""
    c = client(VIP, 60)
    batch = []
    for i in range(n):
        batch.append(b"set f%d 0 0 %d noreply\r\n%s\r\n" %
                     (i, len(VALUE), VALUE))
        if len(batch) == 500:
            c.send(b"".join(batch))
            batch = []
    c.send(b"".join(batch))
    ok = c.get("f%d" % (n - 1)) == VALUE
    c.close()
    return ok


def get_all(keys):
    """Gets keys through the VIP; returns {key: value}."""
    c = client(VIP, 30)
    out = {}
    for i in range(0, len(keys), 100):
        got = c.get_multi("get " + " ".join(keys[i:i + 100]))
        out.update({k: v[1] for k, v in got.items()})
    c.close()
    return out


def main():
    global _tmp
    why = have_tools()
    if why:
        print("# SKIP: " + why)
        sys.exit(SKIP)
    # keepalived's script security wants every directory of the check's
    # path writable by root only: a 0700 directory under /run, else /tmp
    # with the security check left out of the configuration.
    base = "/run" if os.access("/run", os.W_OK) else None
    _tmp = tempfile.mkdtemp(prefix="keepalived-e2e.", dir=base)
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    shutil.copy(CHECK, os.path.join(_tmp, "check_repcached"))
    os.chmod(os.path.join(_tmp, "check_repcached"), 0o755)
    try:
        setup_net()
    except RuntimeError as e:
        print("# SKIP: cannot build the namespaces: %s" % e)
        sys.exit(SKIP)

    a, b = Node("A"), Node("B")
    a.start()
    b.start()
    mctest.check(wait_port("A") and wait_port("B"), "both nodes serve")
    end = time.time() + 20
    while time.time() < end and not (
            "replication: start" in a.lines() and
            "replication: start" in b.lines()):
        time.sleep(0.05)
    mctest.check("replication: start" in a.lines(), "pair linked")
    mctest.eq(run_check("A")[0], 0, "check_repcached -H A: OK")

    watch = VipWatch()
    watch.start()
    # A first, so that B, started once A holds the VIP, never holds it
    # for a moment at start (that would count as a move).
    start_keepalived("A")
    if not mctest.check(watch.wait_for({"A"}, 40), "the VIP settles on A",
                        "holders %s" % watch.changes):
        return
    start_keepalived("B")
    time.sleep(3)  # settled: B stays BACKUP
    mctest.eq(watch.holder(), frozenset("A"), "the VIP stays on A")

    sessions = {"sess%d" % i: b"user-%d" % i for i in range(500)}
    c = client(VIP)
    stored = [c.set(k, v) for k, v in sessions.items()]
    c.close()
    mctest.check(all(r == "STORED" for r in stored),
                 "500 sessions set through the VIP (on A)")
    mctest.check(load(FILLER), "%d 1-KB values set through the VIP" %
                 FILLER)
    cb = in_ns(NS["B"], lambda: mctest.Client(IP["B"], PORT, 30))
    end = time.time() + 60
    while time.time() < end and cb.get("f%d" % (FILLER - 1)) != VALUE:
        time.sleep(0.1)
    cb.close()

    a.kill9()
    mctest.check(watch.wait_for({"B"}, 30),
                 "kill -9 of A's daemon: the VIP moves to B",
                 "holders %s" % watch.changes)
    got = get_all(list(sessions))
    mctest.eq(len(got), len(sessions), "every session through the VIP "
              "after the failover")
    mctest.check(got == sessions, "the sessions' values are intact")
    c = client(VIP)
    mctest.eq(c.set("written_on_b", "yes"), "STORED",
              "a write through the VIP while B holds it")
    c.close()

    # A comes back: it must hold its clients, the check must say NOT
    # READY, and the VIP must stay on B until A's copy is complete.
    early = []

    def on_move(h):
        if "A" in h and not any(l.startswith("replication: serving (copy")
                                for l in a.lines()):
            early.append(h)
    watch.on_move = on_move
    a.start()
    verdicts = []
    end = time.time() + 120
    while time.time() < end:
        rc, out = run_check("A")
        served = "replication: serving (copy complete)" in a.lines()
        verdicts.append((rc, out, served))
        if rc == 0:
            break
        time.sleep(0.05)
    mctest.check(any(v[0] == 1 and not v[2] for v in verdicts),
                 "check_repcached says NOT READY while A copies",
                 repr(verdicts[:10]))
    mctest.check(all(v[2] for v in verdicts if v[0] == 0),
                 "check_repcached says OK only once A's copy is complete",
                 repr(verdicts))
    mctest.check(any(v[1].startswith("NOT READY") and "holding clients" in
                     v[1] for v in verdicts), "the check names the reason")
    mctest.check(watch.wait_for({"A"}, 60),
                 "A recovered: the VIP moves back to A",
                 "holders %s" % watch.changes)
    mctest.eq(early, [], "the VIP did not reach A before its copy was "
              "complete")
    got = get_all(list(sessions) + ["written_on_b", "f0",
                                    "f%d" % (FILLER - 1)])
    mctest.eq(sum(1 for k in sessions if got.get(k) == sessions[k]),
              len(sessions), "every session through the VIP after failback")
    mctest.eq(got.get("written_on_b"), b"yes",
              "the write made on B is on A")
    mctest.check(got.get("f%d" % (FILLER - 1)) == VALUE,
                 "the filler is on A")
    time.sleep(8)  # several check intervals: does it stay?
    mctest.eq(watch.moves(), ["A", "B", "A"],
              "the VIP moved exactly twice (no flapping)")
    mctest.eq(watch.holder(), frozenset("A"), "A alone holds the VIP at the "
              "end")
    watch.stop.set()
    watch.join(5)
    for name, p in _procs:
        if name.startswith("keepalived"):
            mctest.check(p.poll() is None, "%s ran throughout" % name)


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
    mctest.done()

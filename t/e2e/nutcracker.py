#!/usr/bin/python3
"""nutcracker.py: twemproxy in front of two replicated pairs.

Pair 1 runs on 127.0.0.1 and 127.0.0.2, pair 2 on 127.0.0.3 and 127.0.0.4;
the two nodes of a pair share the client port and the -X port, and the
second node of each pair connects to the first (-x). nutcracker (ketama)
lists one node of each pair, as production lists one VIP per pair. Keys
written through the proxy must be readable through the proxy and directly
from BOTH nodes of the pair that owns them, and from neither node of the
other pair. Then the node the proxy does not list keeps serving the owned
keys after the listed one dies (what a VIP failover relies on).

Env: MEMCACHED_BIN (our daemon), NUTCRACKER (default: nutcracker in PATH).
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mctest  # noqa: E402
from mctest import check, eq  # noqa: E402

NKEYS = 200


def free_port_on(hosts):
    """Returns a port that is free on every host in hosts."""
    for _ in range(50):
        port = mctest.free_port(hosts[0])
        socks = []
        try:
            for h in hosts[1:]:
                s = socket.socket()
                socks.append(s)
                s.bind((h, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no common free port on %s" % hosts)


def wait_stat(d, name, want, timeout=10.0):
    """Waits until stat name of daemon d equals want; returns the value."""
    end = time.time() + timeout
    got = None
    while time.time() < end:
        try:
            c = d.client()
            got = c.stats().get(name)
            c.close()
        except (OSError, EOFError):
            got = None
        if got == want:
            break
        time.sleep(0.1)
    return got


def wait_key(d, key, want, timeout=5.0):
    """Waits until daemon d returns want for key; returns what it has."""
    end = time.time() + timeout
    c = d.client()
    got = c.get(key)
    while got != want and time.time() < end:
        time.sleep(0.05)
        got = c.get(key)
    c.close()
    return got


class Proxy:
    """A nutcracker process with a memcached pool over the given servers."""

    def __init__(self, servers):
        self.binary = os.environ.get("NUTCRACKER") or shutil.which(
            "nutcracker") or "/usr/sbin/nutcracker"
        self.port = mctest.free_port()
        self.stats_port = mctest.free_port()
        self.dir = tempfile.mkdtemp(prefix="nutcracker-")
        self.conf = os.path.join(self.dir, "nutcracker.yml")
        with open(self.conf, "w") as f:
            f.write("pool:\n")
            f.write("  listen: 127.0.0.1:%d\n" % self.port)
            f.write("  hash: fnv1a_64\n")
            f.write("  distribution: ketama\n")
            f.write("  timeout: 1000\n")
            f.write("  auto_eject_hosts: false\n")
            f.write("  server_connections: 1\n")
            f.write("  servers:\n")
            for name, (host, port) in servers:
                f.write("   - %s:%d:1 %s\n" % (host, port, name))
        self.log = os.path.join(self.dir, "nutcracker.log")
        self.proc = subprocess.Popen(
            [self.binary, "-c", self.conf, "-s", str(self.stats_port),
             "-a", "127.0.0.1", "-o", self.log, "-v", "5"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 10
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("nutcracker exited: " + self.logtext())
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nutcracker not ready: " + self.logtext())

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def client(self):
        return mctest.Client("127.0.0.1", self.port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_pair(first, second):
    """Starts a pair on two loopback hosts with shared client and -X ports;
    the second connects to the first. Returns (a, b)."""
    port = free_port_on([first, second])
    xport = free_port_on([first, second])
    a = mctest.Daemon(["-v"], host=first, port=port, repl_port=xport)
    b = mctest.Daemon(["-v", "-x", first], host=second, port=port,
                      repl_port=xport)
    return a, b


def main():
    if not os.access(os.environ.get("NUTCRACKER") or shutil.which(
            "nutcracker") or "/usr/sbin/nutcracker", os.X_OK):
        print("nutcracker not installed (scripts/deps installs it): "
              "skipped")
        sys.exit(77)
    proxy = None
    try:
        p1 = start_pair("127.0.0.1", "127.0.0.2")
        p2 = start_pair("127.0.0.3", "127.0.0.4")
        for d in p1 + p2:
            eq(wait_stat(d, "repl_state", "online"), "online",
               "%s:%d replication online" % (d.host, d.port))
        proxy = Proxy([("pair1", (p1[0].host, p1[0].port)),
                       ("pair2", (p2[0].host, p2[0].port))])

        # Write through the proxy.
        c = proxy.client()
        keys = ["user:%d:profile" % i for i in range(NKEYS)]
        stored = sum(c.set(k, "v-" + k) == "STORED" for k in keys)
        eq(stored, NKEYS, "all keys stored through the proxy")
        got = c.get_multi("get " + " ".join(keys[:50]))
        eq(sorted(got), sorted(keys[:50]), "multi-get through the proxy")
        bad = [k for k in keys if c.get(k) != ("v-" + k).encode()]
        eq(bad, [], "every key reads back through the proxy")

        # Find the owner of each key by reading the listed nodes directly.
        owner = {}
        direct = {id(d): d.client() for d in p1 + p2}
        for k in keys:
            in1 = direct[id(p1[0])].get(k) is not None
            in2 = direct[id(p2[0])].get(k) is not None
            owner[k] = (p1 if in1 else p2) if in1 != in2 else None
        eq([k for k in keys if owner[k] is None], [],
           "each key lives on exactly one pair")
        n1 = sum(1 for k in keys if owner[k] is p1)
        check(0 < n1 < NKEYS, "ketama spreads keys over both pairs",
              "pair1 has %d of %d" % (n1, NKEYS))

        # Both nodes of the owning pair have it; the other pair has neither.
        missing, leaked = [], []
        for k in keys:
            mine = owner[k] or p1
            other = p2 if mine is p1 else p1
            want = ("v-" + k).encode()
            for d in mine:
                if wait_key(d, k, want, 3.0) != want:
                    missing.append("%s@%s" % (k, d.host))
            for d in other:
                if direct[id(d)].get(k) is not None:
                    leaked.append("%s@%s" % (k, d.host))
        eq(missing, [], "both nodes of the owning pair have every key")
        eq(leaked, [], "no key on the other pair")
        for pair, n in ((p1, n1), (p2, NKEYS - n1)):
            for d in pair:
                cl = d.client()
                eq(cl.stats().get("curr_items"), str(n),
                   "%s holds its pair's %d keys" % (d.host, n))
                cl.close()

        # Updates and deletes through the proxy reach both nodes.
        k0 = keys[0]
        eq(c.set(k0, "updated"), "STORED", "update through the proxy")
        eq(c.cmd("delete " + keys[1]), "DELETED", "delete through the proxy")
        for d in owner[k0]:
            eq(wait_key(d, k0, b"updated"), b"updated",
               "update replicated to %s" % d.host)
        for d in owner[keys[1]]:
            eq(wait_key(d, keys[1], None), None,
               "delete replicated to %s" % d.host)

        # The listed node of pair 1 dies: its partner still has the data
        # (a VIP would now point at it).
        for cl in direct.values():
            cl.close()
        p1[0].kill()
        survivor = p1[1].client()
        lost = [k for k in keys[2:] if owner[k] is p1
                and survivor.get(k) != ("v-" + k).encode()]
        eq(lost, [], "pair 1's partner serves all its keys after a failure")
        survivor.close()
        c.close()
    except Exception as e:  # a setup failure is a test failure
        check(False, "setup", repr(e))
    finally:
        if proxy is not None:
            proxy.stop()
    mctest.done()


if __name__ == "__main__":
    main()

"""netns: two test hosts in network namespaces joined by a veth pair.

Used by the end-to-end tests that must cut a link between two nodes. The
namespaces, the veth pair and the addresses are private to the test and
removed by Link.delete()."""
import ctypes
import os
import random
import subprocess

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_root_ns_fd = None


def sh(*args, check=True):
    """Runs a command quietly; returns its CompletedProcess."""
    r = subprocess.run(list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args),
                                       r.stdout.decode(errors="replace")))
    return r


class Link:
    """Namespaces <ns>A<pid> and <ns>B<pid> joined by veth <veth_a><pid> /
    <veth_b><pid>, on 10.<subnet>.<random>.1 and .2/24."""

    def __init__(self, ns, veth_a, veth_b, subnet):
        pid = os.getpid()
        self.ns_a, self.ns_b = "%sA%d" % (ns, pid), "%sB%d" % (ns, pid)
        self.veth_a, self.veth_b = "%s%d" % (veth_a, pid), "%s%d" % (veth_b,
                                                                      pid)
        net = random.randint(1, 254)
        self.ip_a = "10.%d.%d.1" % (subnet, net)
        self.ip_b = "10.%d.%d.2" % (subnet, net)
        self._made = []

    def setup(self):
        """Creates the namespaces, the veth pair and the addresses."""
        global _root_ns_fd
        if _root_ns_fd is None:
            _root_ns_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        for ns in (self.ns_a, self.ns_b):
            sh("ip", "netns", "add", ns)
            self._made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", self.veth_a, "netns", self.ns_a, "type",
           "veth", "peer", "name", self.veth_b, "netns", self.ns_b)
        for ns, ip, veth in ((self.ns_a, self.ip_a, self.veth_a),
                             (self.ns_b, self.ip_b, self.veth_b)):
            sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", veth)
            sh("ip", "-n", ns, "link", "set", veth, "up")

    def delete(self):
        """Deletes the namespaces this Link created (and with them the
        veth pair)."""
        for ns in self._made:
            sh("ip", "netns", "del", ns, check=False)
        del self._made[:]


def in_ns(ns, fn):
    """Calls fn() with this thread inside network namespace ns (sockets it
    creates live there); returns what fn returns."""
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (ns, os.strerror(e)))
        try:
            return fn()
        finally:
            if _libc.setns(_root_ns_fd, CLONE_NEWNET) != 0:
                os._exit(2)  # never run on in the wrong namespace
    finally:
        os.close(fd)

#!/usr/bin/python3
"""repl_frontends.py: every front end replicates. Two linked daemons on
127.0.0.1 and 127.0.0.2 (same client port, same -X port, one with
-x 127.0.0.1). Each mutation of the text, binary and meta protocols is
made on one node, and the other node must show exactly the same state:
value, client flags, cas (gets), TTL (mg <key> t, within the one second
the two nodes' clocks may differ by) and the meta state (stale X, win
token W/Z). Every section runs in both directions, A->B and B->A."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mctest  # noqa: E402

A_HOST = "127.0.0.1"
B_HOST = "127.0.0.2"

# Binary opcodes and statuses (memcached's binary protocol).
B_SET, B_ADD, B_REPLACE, B_DELETE, B_INCR, B_DECR = 0x01, 0x02, 0x03, \
    0x04, 0x05, 0x06
B_FLUSH, B_APPEND, B_PREPEND, B_TOUCH, B_GAT = 0x08, 0x0e, 0x0f, 0x1c, 0x1d
ST_OK, ST_ENOENT, ST_EEXISTS, ST_NOT_STORED = 0x00, 0x01, 0x02, 0x05


def free_pair_port():
    """Returns a port free on both loopback addresses."""
    return mctest.free_pair_port(A_HOST, B_HOST)


class Bin:
    """A raw binary-protocol connection: 24-byte headers, one request and
    one response at a time."""

    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout)
        self.buf = b""

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def call(self, op, key=b"", extras=b"", value=b"", cas=0):
        """Sends one request; returns (status, cas, extras, value)."""
        if isinstance(key, str):
            key = key.encode()
        if isinstance(value, str):
            value = value.encode()
        body = len(extras) + len(key) + len(value)
        self.sock.sendall(struct.pack(">BBHBBHIIQ", 0x80, op, len(key),
                                      len(extras), 0, 0, body, 0xabcd, cas)
                          + extras + key + value)
        self._need(24)
        (magic, rop, kl, el, _, status, bl, opaque,
         rcas) = struct.unpack(">BBHBBHIIQ", self.buf[:24])
        self._need(24 + bl)
        b = self.buf[24:24 + bl]
        self.buf = self.buf[24 + bl:]
        if magic != 0x81 or rop != op or opaque != 0xabcd:
            raise ValueError("bad response header %r" % (
                (magic, rop, opaque),))
        return status, rcas, b[:el], b[el + kl:]

    def store(self, op, key, value, flags=0, exptime=0, cas=0):
        """set/add/replace; returns the status."""
        return self.call(op, key, struct.pack(">II", flags, exptime), value,
                         cas)[0]

    def concat(self, op, key, value):
        """append/prepend; returns the status."""
        return self.call(op, key, b"", value)[0]

    def delete(self, key):
        return self.call(B_DELETE, key)[0]

    def arith(self, op, key, delta, initial=0, exptime=0):
        """incr/decr; returns (status, counter value or None)."""
        st, _, _, val = self.call(op, key, struct.pack(
            ">QQI", delta, initial, exptime))
        return st, (struct.unpack(">Q", val)[0] if st == ST_OK else None)

    def touch(self, key, exptime):
        return self.call(B_TOUCH, key, struct.pack(">I", exptime))[0]

    def gat(self, key, exptime):
        """Returns (status, flags, value)."""
        st, _, ext, val = self.call(B_GAT, key, struct.pack(">I", exptime))
        flags = struct.unpack(">I", ext)[0] if len(ext) == 4 else None
        return st, flags, val

    def flush(self):
        return self.call(B_FLUSH)[0]

    def close(self):
        self.sock.close()


def state(c, key):
    """Returns ((flags, value, cas) or None, ttl or None, meta flags) of key
    as one node sees it; meta flags is (stale X, win token W or Z)."""
    got = c.get_multi("gets " + key).get(key)
    line = c.cmd("mg %s t" % key)
    toks = line.split(" ")
    if toks[0] != "HD":
        return got, None, (False, False)
    ttl = None
    for t in toks[1:]:
        if t.startswith("t"):
            ttl = int(t[1:])
    return got, ttl, ("X" in toks, "W" in toks or "Z" in toks)


def ttl_same(a, b):
    """TTLs agree: both none/-1, or within the 1 s the clocks differ."""
    if a is None or b is None or a < 0 or b < 0:
        return a == b
    return abs(a - b) <= 1


class Pair:
    """The two nodes, with one text client on each."""

    def __init__(self, a, b):
        self.nodes = {"A": a, "B": b}
        self.c = {"A": a.client(), "B": b.client()}

    def other(self, n):
        return "B" if n == "A" else "A"

    def same(self, src, keys, name, want=None, timeout=5.0):
        """Waits until both nodes show the same state for keys and checks
        it; want maps key -> (flags, value, ttl) with ttl -1 (none), None
        (missing), or the TTL set (checked within 2 s); a key mapped to
        None must be missing."""
        dst = self.other(src)
        end = time.time() + timeout
        while True:
            sa = {k: state(self.c[src], k) for k in keys}
            sb = {k: state(self.c[dst], k) for k in keys}
            core = [k for k in keys
                    if sa[k][0] != sb[k][0] or not ttl_same(sa[k][1],
                                                            sb[k][1])]
            if not core or time.time() > end:
                break
            time.sleep(0.03)
        p = "%s->%s %s" % (src, dst, name)
        mctest.check(not core, p + ": same value, flags, cas and TTL",
                     "; ".join("%s: %s=%r %s=%r" % (k, src, sa[k][:2], dst,
                                                     sb[k][:2])
                               for k in core[:3]))
        meta = [k for k in keys if sa[k][2] != sb[k][2]]
        if meta or any(sa[k][2] != (False, False) for k in keys):
            mctest.check(not meta, p + ": same meta state (stale X, win "
                         "token W/Z)",
                         "; ".join("%s: %s (X, W/Z)=%r %s=%r"
                                   % (k, src, sa[k][2], dst, sb[k][2])
                                   for k in meta[:3]))
        if want is not None:
            bad = []
            for k, w in want.items():
                got, ttl = sa[k][0], sa[k][1]
                if w is None:
                    if got is not None:
                        bad.append((k, got, None))
                    continue
                flags, value, wttl = w
                ok = got is not None and got[:2] == (flags, value)
                if wttl is not None and wttl < 0:
                    ok = ok and ttl == -1
                elif wttl is not None:
                    ok = ok and ttl is not None and wttl - 2 <= ttl <= wttl
                if not ok:
                    bad.append((k, (got, ttl), w))
            mctest.eq(bad, [], p + ": expected contents")
        return sa


def text_section(pr, src, tag):
    """Text commands on src, state compared on the other node."""
    c = pr.c[src]
    k = lambda n: "%s_%s" % (tag, n)
    mctest.eq(c.set(k("s"), "hello", flags=7, exptime=1000), "STORED",
              "%s text set" % src)
    pr.same(src, [k("s")], "text set", {k("s"): (7, b"hello", 1000)})
    mctest.eq(c.store("add", k("a"), "new", flags=3), "STORED",
              "%s text add" % src)
    mctest.eq(c.store("add", k("s"), "x"), "NOT_STORED",
              "%s text add on an existing key" % src)
    pr.same(src, [k("a"), k("s")], "text add",
            {k("a"): (3, b"new", -1), k("s"): (7, b"hello", 1000)})
    mctest.eq(c.store("replace", k("s"), "world", flags=9, exptime=500),
              "STORED", "%s text replace" % src)
    pr.same(src, [k("s")], "text replace", {k("s"): (9, b"world", 500)})
    mctest.eq(c.store("append", k("s"), ">>"), "STORED",
              "%s text append" % src)
    mctest.eq(c.store("prepend", k("s"), "<<"), "STORED",
              "%s text prepend" % src)
    pr.same(src, [k("s")], "text append/prepend",
            {k("s"): (9, b"<<world>>", 500)})
    cas = c.get_multi("gets " + k("s"))[k("s")][2]
    mctest.eq(c.store("cas", k("s"), "swapped", flags=1, exptime=300,
                      extra=str(cas)), "STORED", "%s text cas" % src)
    pr.same(src, [k("s")], "text cas", {k("s"): (1, b"swapped", 300)})
    mctest.eq(c.set(k("n"), "10"), "STORED", "%s text set counter" % src)
    mctest.eq(c.cmd("incr %s 5" % k("n")), "15", "%s text incr" % src)
    pr.same(src, [k("n")], "text incr", {k("n"): (0, b"15", -1)})
    mctest.eq(c.cmd("decr %s 3" % k("n")), "12", "%s text decr" % src)
    pr.same(src, [k("n")], "text decr", {k("n"): (0, b"12", -1)})
    mctest.eq(c.cmd("touch %s 200" % k("n")), "TOUCHED", "%s text touch" % src)
    pr.same(src, [k("n")], "text touch", {k("n"): (0, b"12", 200)})
    r = c.get_multi("gat 100 %s" % k("a"))
    mctest.eq(r.get(k("a"), (None, None))[:2], (3, b"new"), "%s text gat" % src)
    pr.same(src, [k("a")], "text gat", {k("a"): (3, b"new", 100)})
    r = c.get_multi("gats 0 %s" % k("a"))
    mctest.eq(r.get(k("a"), (None, None))[:2], (3, b"new"),
              "%s text gats 0" % src)
    pr.same(src, [k("a")], "text gats (exptime 0)", {k("a"): (3, b"new", -1)})
    mctest.eq(c.cmd("delete %s" % k("a")), "DELETED", "%s text delete" % src)
    pr.same(src, [k("a")], "text delete", {k("a"): None})


def flush_section(pr, src, tag, how):
    """flush_all (text) or FLUSH (binary) on src empties both nodes."""
    c = pr.c[src]
    keys = ["%s_f%d" % (tag, i) for i in range(5)]
    for key in keys:
        c.set(key, "x", flags=1)
    pr.same(src, keys, "before %s" % how,
            {key: (1, b"x", -1) for key in keys})
    if how == "text flush_all":
        mctest.eq(c.cmd("flush_all"), "OK", "%s flush_all" % src)
    else:
        b = Bin(pr.nodes[src].host, pr.nodes[src].port)
        mctest.eq(b.flush(), ST_OK, "%s binary flush" % src)
        b.close()
    pr.same(src, keys, how, {key: None for key in keys})
    c.set(keys[0], "after", flags=2)
    pr.same(src, keys[:1], "set after " + how, {keys[0]: (2, b"after", -1)})


def binary_section(pr, src, tag):
    """Binary commands on src, state compared on the other node."""
    node = pr.nodes[src]
    b = Bin(node.host, node.port)
    k = lambda n: "%s_%s" % (tag, n)
    p = "%s binary" % src
    mctest.eq(b.store(B_SET, k("s"), "hello", 7, 1000), ST_OK, p + " set")
    pr.same(src, [k("s")], "binary set", {k("s"): (7, b"hello", 1000)})
    mctest.eq(b.store(B_ADD, k("a"), "new", 3), ST_OK, p + " add")
    mctest.eq(b.store(B_ADD, k("s"), "x"), ST_EEXISTS,
              p + " add on an existing key")
    pr.same(src, [k("a"), k("s")], "binary add",
            {k("a"): (3, b"new", -1), k("s"): (7, b"hello", 1000)})
    mctest.eq(b.store(B_REPLACE, k("s"), "world", 9, 500), ST_OK,
              p + " replace")
    mctest.eq(b.store(B_REPLACE, k("none"), "x"), ST_ENOENT,
              p + " replace of a missing key")
    pr.same(src, [k("s"), k("none")], "binary replace",
            {k("s"): (9, b"world", 500), k("none"): None})
    mctest.eq(b.concat(B_APPEND, k("s"), ">>"), ST_OK, p + " append")
    mctest.eq(b.concat(B_PREPEND, k("s"), "<<"), ST_OK, p + " prepend")
    pr.same(src, [k("s")], "binary append/prepend",
            {k("s"): (9, b"<<world>>", 500)})
    cas = pr.c[src].get_multi("gets " + k("s"))[k("s")][2]
    mctest.eq(b.store(B_SET, k("s"), "swapped", 1, 300, cas=cas), ST_OK,
              p + " set with cas")
    mctest.eq(b.store(B_SET, k("s"), "stale", 1, 300, cas=cas), ST_EEXISTS,
              p + " set with a stale cas")
    pr.same(src, [k("s")], "binary set with cas",
            {k("s"): (1, b"swapped", 300)})
    mctest.eq(b.store(B_SET, k("n"), "10"), ST_OK, p + " set counter")
    mctest.eq(b.arith(B_INCR, k("n"), 5), (ST_OK, 15), p + " incr")
    pr.same(src, [k("n")], "binary incr", {k("n"): (0, b"15", -1)})
    mctest.eq(b.arith(B_DECR, k("n"), 3), (ST_OK, 12), p + " decr")
    pr.same(src, [k("n")], "binary decr", {k("n"): (0, b"12", -1)})
    mctest.eq(b.arith(B_INCR, k("i"), 1, 100, 700), (ST_OK, 100),
              p + " incr with an initial value (creates)")
    pr.same(src, [k("i")], "binary incr creating the counter",
            {k("i"): (0, b"100", 700)})
    mctest.eq(b.arith(B_INCR, k("i"), 1, 100, 700), (ST_OK, 101),
              p + " incr with an initial value (existing)")
    mctest.eq(b.arith(B_DECR, k("d"), 1, 50, 0), (ST_OK, 50),
              p + " decr with an initial value (creates)")
    mctest.eq(b.arith(B_INCR, k("no"), 1, 5, 0xffffffff), (ST_ENOENT, None),
              p + " incr with exptime 0xffffffff does not create")
    pr.same(src, [k("i"), k("d"), k("no")], "binary incr/decr initial",
            {k("i"): (0, b"101", 700), k("d"): (0, b"50", -1),
             k("no"): None})
    mctest.eq(b.touch(k("n"), 200), ST_OK, p + " touch")
    pr.same(src, [k("n")], "binary touch", {k("n"): (0, b"12", 200)})
    mctest.eq(b.gat(k("a"), 100), (ST_OK, 3, b"new"), p + " gat")
    pr.same(src, [k("a")], "binary gat", {k("a"): (3, b"new", 100)})
    mctest.eq(b.delete(k("a")), ST_OK, p + " delete")
    mctest.eq(b.delete(k("a")), ST_ENOENT, p + " delete of a missing key")
    pr.same(src, [k("a")], "binary delete", {k("a"): None})
    b.close()


def meta(c, line, data=None):
    """Sends one meta command (with data for ms); returns the first reply
    line, and the value for a VA reply."""
    if data is not None:
        c.send("%s\r\n%s\r\n" % (line, data))
    else:
        c.send(line + "\r\n")
    r = c.readline()
    if r.startswith("VA "):
        n = int(r.split(" ")[1])
        return r, c.read(n + 2)[:-2]
    return r


def meta_section(pr, src, tag):
    """Meta commands on src, state compared on the other node."""
    c = pr.c[src]
    k = lambda n: "%s_%s" % (tag, n)
    p = "%s meta" % src
    mctest.eq(meta(c, "ms %s 5 F7 T1000" % k("s"), "hello"), "HD", p + " ms")
    pr.same(src, [k("s")], "meta ms", {k("s"): (7, b"hello", 1000)})
    mctest.eq(meta(c, "ms %s 2 MA" % k("s"), ">>"), "HD", p + " ms MA")
    pr.same(src, [k("s")], "meta ms MA (append)",
            {k("s"): (7, b"hello>>", 1000)})
    mctest.eq(meta(c, "ms %s 2 MP" % k("s"), "<<"), "HD", p + " ms MP")
    pr.same(src, [k("s")], "meta ms MP (prepend)",
            {k("s"): (7, b"<<hello>>", 1000)})
    mctest.eq(meta(c, "ms %s 5 MR F9 T500" % k("s"), "world"), "HD",
              p + " ms MR")
    mctest.eq(meta(c, "ms %s 1 MR" % k("none"), "x"), "NS",
              p + " ms MR on a missing key")
    pr.same(src, [k("s"), k("none")], "meta ms MR (replace)",
            {k("s"): (9, b"world", 500), k("none"): None})
    mctest.eq(meta(c, "ms %s 1 ME" % k("s"), "x"), "NS",
              p + " ms ME on an existing key")
    mctest.eq(meta(c, "ms %s 3 ME F3" % k("a"), "new"), "HD", p + " ms ME")
    pr.same(src, [k("s"), k("a")], "meta ms ME (add)",
            {k("s"): (9, b"world", 500), k("a"): (3, b"new", -1)})
    cas = c.get_multi("gets " + k("s"))[k("s")][2]
    mctest.eq(meta(c, "ms %s 7 C%d F1 T300" % (k("s"), cas), "swapped"),
              "HD", p + " ms with C (cas)")
    mctest.eq(meta(c, "ms %s 5 C%d" % (k("s"), cas), "stale"), "EX",
              p + " ms with a stale C")
    pr.same(src, [k("s")], "meta ms C", {k("s"): (1, b"swapped", 300)})
    mctest.eq(meta(c, "md %s" % k("a")), "HD", p + " md")
    mctest.eq(meta(c, "md %s" % k("a")), "NF", p + " md of a missing key")
    pr.same(src, [k("a")], "meta md", {k("a"): None})

    mctest.eq(meta(c, "ms %s 2" % k("n"), "10"), "HD", p + " ms counter")
    mctest.eq(meta(c, "ma %s D5 v" % k("n")), ("VA 2", b"15"), p + " ma incr")
    pr.same(src, [k("n")], "meta ma (incr)", {k("n"): (0, b"15", -1)})
    mctest.eq(meta(c, "ma %s MD D3 v" % k("n")), ("VA 2", b"12"),
              p + " ma MD (decr)")
    pr.same(src, [k("n")], "meta ma MD (decr)", {k("n"): (0, b"12", -1)})
    mctest.eq(meta(c, "ma %s N600 J7 v" % k("v")), ("VA 1", b"7"),
              p + " ma N autovivify (creates with J)")
    pr.same(src, [k("v")], "meta ma N (autovivify)",
            {k("v"): (0, b"7", 600)})
    mctest.eq(meta(c, "ma %s N600 J7 v" % k("v")), ("VA 1", b"8"),
              p + " ma N on an existing counter")
    mctest.eq(meta(c, "ma %s" % k("no")), "NF", p + " ma without N on a miss")
    pr.same(src, [k("v"), k("no")], "meta ma N again",
            {k("v"): (0, b"8", 600), k("no"): None})

    r = meta(c, "mg %s T400 v" % k("n"))
    mctest.eq(r, ("VA 2", b"12"), p + " mg T (touch)")
    pr.same(src, [k("n")], "meta mg T (touch)", {k("n"): (0, b"12", 400)})
    r = meta(c, "mg %s N30 v" % k("viv"))
    mctest.eq(r, ("VA 0 W", b""), p + " mg N (vivify on a miss, win token)")
    pr.same(src, [k("viv")], "meta mg N (vivify)", {k("viv"): (0, b"", 30)})

    mctest.eq(meta(c, "md %s I T30" % k("s")), "HD", p + " md I (invalidate)")
    pr.same(src, [k("s")], "meta md I (invalidate)",
            {k("s"): (1, b"swapped", 30)})
    r = pr.c[pr.other(src)].cmd("mg %s c" % k("s"))
    mctest.check(" X" in r, "%s->%s meta md I: the other node marks the "
                 "item stale (X)" % (src, pr.other(src)), "got %r" % r)


def main():
    port = free_pair_port()
    rport = free_pair_port()
    a = mctest.Daemon(["-v"], host=A_HOST, port=port, repl_port=rport)
    b = mctest.Daemon(["-v", "-x", A_HOST], host=B_HOST, port=port,
                      repl_port=rport)
    ok = a.wait_log(r"^replication: start$") and b.wait_log(
        r"^replication: start$")
    if not mctest.check(ok, "pair linked (replication: start on both)",
                        "\nA:\n%s\nB:\n%s" % (a.log(), b.log())):
        mctest.done()
    pr = Pair(a, b)
    for src in ("A", "B"):
        text_section(pr, src, "t" + src)
    flush_section(pr, "A", "tfA", "text flush_all")
    flush_section(pr, "B", "tfB", "text flush_all")
    for src in ("A", "B"):
        binary_section(pr, src, "b" + src)
    flush_section(pr, "A", "bfA", "binary flush")
    flush_section(pr, "B", "bfB", "binary flush")
    for src in ("A", "B"):
        meta_section(pr, src, "m" + src)
    mctest.check("replication: close" not in a.log() + b.log(),
                 "the link stayed up throughout")
    mctest.done()


if __name__ == "__main__":
    main()

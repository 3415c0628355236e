#!/usr/bin/python3
"""valgrind_daemon.py: our daemon under valgrind (run by make check-valgrind).

1. One daemon under memcheck: a conversation in the text, binary and meta
   protocols (every command, error replies, limits, eviction, idle
   timeout, abrupt closes mid-request), then SIGTERM.
2. A pair under memcheck, with a shared secret: A holds data before B
   starts (full copy both ways), live writes on both nodes in all three
   protocols, a link broken by SIGSTOP past the heartbeat timeout and a
   partial resync, `digest` equal on both; then SIGTERM to both.

Each daemon must exit 0, and its valgrind log must say "ERROR SUMMARY: 0
errors" (definite leaks count as errors). Exits 77 (skip) without
valgrind. VALGRIND_KEEP_LOGS=1 keeps the valgrind logs.
"""
import os
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time

import mctest

VALGRIND = shutil.which("valgrind")
HERE = os.path.dirname(os.path.abspath(__file__))
SUPP = os.path.join(HERE, "..", "valgrind.supp")
A_HOST = "127.0.0.1"
B_HOST = "127.0.0.2"
TIMEOUT = 30.0  # socket timeout: valgrind is slow
LOGDIR = tempfile.mkdtemp(prefix="mc-valgrind-")
_vg = []  # (daemon, valgrind log path)


def vg_daemon(name, args, **kw):
    """Starts our daemon under valgrind; returns the mctest.Daemon."""
    log = os.path.join(LOGDIR, name + ".vg.log")
    wrapper = [VALGRIND, "--error-exitcode=1", "--leak-check=full",
               "--errors-for-leak-kinds=definite",
               "--show-leak-kinds=definite", "--num-callers=30",
               "--log-file=" + log]
    if os.path.exists(SUPP):
        wrapper.append("--suppressions=" + os.path.abspath(SUPP))
    d = mctest.Daemon(args, wrapper=wrapper, wait=False, **kw)
    d.wait_ready(120.0)
    _vg.append((d, log, name))
    return d


def vg_stop(d, log, name):
    """SIGTERMs d and checks its exit status and valgrind's verdict."""
    rc = d.stop(signal.SIGTERM, timeout=120.0)
    text = ""
    try:
        with open(log, errors="replace") as f:
            text = f.read()
    except OSError:
        pass
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    clean = m is not None and m.group(1) == "0"
    mctest.check(clean, name + ": valgrind ERROR SUMMARY: 0 errors",
                 "(valgrind log follows)\n" + text)
    lost = re.findall(r"definitely lost: ([0-9,]+) bytes", text)
    mctest.check(all(n == "0" for n in lost), name + ": no definite leak",
                 "definitely lost: %s bytes" % ", ".join(lost))
    mctest.eq(rc, 0, name + ": exit status after SIGTERM")
    return clean and rc == 0


def client(d):
    return d.client(TIMEOUT)


# -- text protocol -----------------------------------------------------------

def text_conversation(d):
    c = client(d)
    p = "text: "
    mctest.eq(c.set("k1", "hello", flags=42), "STORED", p + "set")
    mctest.eq(c.get_multi("get k1"), {"k1": (42, b"hello", None)}, p + "get")
    mctest.eq(c.store("add", "k1", "x"), "NOT_STORED", p + "add existing")
    mctest.eq(c.store("add", "k2", "two"), "STORED", p + "add")
    mctest.eq(c.store("replace", "k2", "deux", flags=1), "STORED",
              p + "replace")
    mctest.eq(c.store("replace", "nokey", "x"), "NOT_STORED",
              p + "replace missing")
    mctest.eq(c.store("append", "k1", "!"), "STORED", p + "append")
    mctest.eq(c.store("prepend", "k1", ">"), "STORED", p + "prepend")
    mctest.eq(c.get("k1"), b">hello!", p + "append/prepend result")
    r = c.get_multi("gets k1 k2 missing")
    mctest.eq(sorted(r), ["k1", "k2"], p + "gets two of three")
    cas = r["k1"][2]
    mctest.eq(c.store("cas", "k1", "new", extra=str(cas)), "STORED", p + "cas")
    mctest.eq(c.store("cas", "k1", "old", extra=str(cas)), "EXISTS",
              p + "stale cas")
    mctest.eq(c.store("cas", "nokey", "x", extra="1"), "NOT_FOUND",
              p + "cas missing")
    mctest.eq(c.set("n", "10"), "STORED", p + "set counter")
    mctest.eq(c.cmd("incr n 5"), "15", p + "incr")
    mctest.eq(c.cmd("decr n 100"), "0", p + "decr floors at 0")
    mctest.eq(c.cmd("incr n 18446744073709551615"), "18446744073709551615",
              p + "incr to max")
    mctest.eq(c.cmd("incr k2 1"),
              "CLIENT_ERROR cannot increment or decrement non-numeric value",
              p + "incr non-numeric")
    mctest.eq(c.cmd("incr nokey 1"), "NOT_FOUND", p + "incr missing")
    mctest.eq(c.cmd("touch k2 100"), "TOUCHED", p + "touch")
    mctest.eq(c.get_multi("gat 0 k2")["k2"][1], b"deux", p + "gat")
    mctest.eq(c.get_multi("gats 0 k2")["k2"][1], b"deux", p + "gats")
    mctest.eq(c.cmd("delete k2"), "DELETED", p + "delete")
    mctest.eq(c.cmd("delete k2"), "NOT_FOUND", p + "delete missing")
    # noreply, pipelining, multi-get of many keys
    burst = b"".join(b"set p%d 0 0 3 noreply\r\nabc\r\n" % i
                     for i in range(200))
    c.send(burst)
    keys = " ".join("p%d" % i for i in range(200))
    mctest.eq(len(c.get_multi("get " + keys)), 200, p + "pipelined noreply")
    # a large value near -I, and one over it
    big = os.urandom(900 * 1024)
    mctest.eq(c.set("big", big), "STORED", p + "900 KB value")
    mctest.eq(c.get("big"), big, p + "900 KB value back")
    over = b"x" * (1024 * 1024 + 1)
    mctest.check(c.set("over", over).startswith("SERVER_ERROR"),
                 p + "value over -I refused")
    # errors
    mctest.eq(c.cmd("bogus"), "ERROR", p + "unknown command")
    mctest.check(c.cmd("get " + "k" * 251).startswith("CLIENT_ERROR"),
                 p + "key too long")
    mctest.check(c.cmd("set k 0 0 -1").startswith("CLIENT_ERROR"),
                 p + "negative length")
    c.send(b"set k 0 0 3\r\nabcdef\r\n")
    mctest.eq(c.readline(), "CLIENT_ERROR bad data chunk", p + "bad chunk")
    c.close()
    # other commands, on a fresh connection
    c = client(d)
    mctest.check(c.cmd("version").startswith("VERSION "), p + "version")
    mctest.eq(c.cmd("verbosity 1"), "OK", p + "verbosity")
    for group in ("", "settings", "items", "slabs", "sizes", "conns",
                  "replication"):
        st = c.stats(group)
        mctest.check(isinstance(st, dict), p + "stats " + group)
    mctest.check(int(c.stats()["curr_items"]) > 200, p + "curr_items")
    mctest.eq(c.cmd("cache_memlimit 64"), "OK", p + "cache_memlimit")
    mctest.check(c.cmd("digest").startswith("DIGEST "), p + "digest")
    mctest.eq(c.cmd("flush_all 100"), "OK", p + "delayed flush_all")
    mctest.eq(c.cmd("flush_all"), "OK", p + "flush_all")
    mctest.eq(c.get("k1"), None, p + "gone after flush_all")
    mctest.eq(c.cmd("shutdown"), "ERROR: shutdown not enabled",
              p + "shutdown refused without -A")
    c.send("quit\r\n")
    mctest.check(c.sock.recv(10) == b"", p + "quit closes")
    c.close()
    # abrupt closes: in the middle of a value, of a line, of a multi-get
    for junk in (b"set half 0 0 100\r\nabc", b"get a b c", b"gets",
                 b"x" * 5000):
        s = socket.create_connection((d.host, d.port), TIMEOUT)
        s.sendall(junk)
        s.close()
    # a line far over the limit: error and close
    s = socket.create_connection((d.host, d.port), TIMEOUT)
    s.settimeout(TIMEOUT)
    try:
        s.sendall(b"g" * 70000)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        mctest.check(got.startswith(b"CLIENT_ERROR") or got == b"",
                     p + "over-long line closed", repr(got[:80]))
    except OSError:
        mctest.check(True, p + "over-long line closed (reset)")
    s.close()


# -- binary protocol ---------------------------------------------------------

B_GET, B_SET, B_ADD, B_REPLACE, B_DELETE, B_INCR, B_DECR, B_QUIT, B_FLUSH, \
    B_GETQ, B_NOOP, B_VERSION, B_GETK, B_GETKQ, B_APPEND, B_PREPEND, B_STAT, \
    B_SETQ = range(0x12)
B_TOUCH, B_GAT = 0x1c, 0x1d


def breq(op, key=b"", extras=b"", value=b"", opaque=0, cas=0):
    """Encodes one binary request."""
    if isinstance(key, str):
        key = key.encode()
    if isinstance(value, str):
        value = value.encode()
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0,
                       len(key) + len(extras) + len(value), opaque,
                       cas) + extras + key + value


def brecv(sock, buf):
    """Reads one response; returns ((op, status, ext, key, val, cas), buf)."""
    while len(buf) < 24:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed")
        buf += chunk
    _, op, kl, el, _, status, bl, _, cas = struct.unpack(">BBHBBHIIQ",
                                                         buf[:24])
    while len(buf) < 24 + bl:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed")
        buf += chunk
    body = buf[24:24 + bl]
    return ((op, status, body[:el], body[el:el + kl], body[el + kl:], cas),
            buf[24 + bl:])


class BinConn:
    """A raw binary-protocol connection."""

    def __init__(self, d):
        self.sock = socket.create_connection((d.host, d.port), TIMEOUT)
        self.sock.settimeout(TIMEOUT)
        self.buf = b""

    def call(self, data):
        self.sock.sendall(data)
        r, self.buf = brecv(self.sock, self.buf)
        return r

    def until_noop(self, data):
        """Sends data and a noop; returns the responses before the noop's."""
        self.sock.sendall(data + breq(B_NOOP))
        out = []
        while True:
            r, self.buf = brecv(self.sock, self.buf)
            if r[0] == B_NOOP:
                return out
            out.append(r)

    def close(self):
        self.sock.close()


def binary_conversation(d):
    b = BinConn(d)
    p = "binary: "
    sx = struct.pack(">II", 7, 0)
    mctest.eq(b.call(breq(B_SET, "b1", sx, "v1"))[1], 0, p + "set")
    r = b.call(breq(B_GET, "b1"))
    mctest.eq((r[1], r[2], r[4]), (0, struct.pack(">I", 7), b"v1"), p + "get")
    cas = r[5]
    mctest.eq(b.call(breq(B_GETK, "b1"))[3], b"b1", p + "getk has the key")
    mctest.eq(b.call(breq(B_ADD, "b1", sx, "x"))[1], 2, p + "add existing")
    mctest.eq(b.call(breq(B_REPLACE, "b1", sx, "v2", cas=cas))[1], 0,
              p + "replace with cas")
    mctest.eq(b.call(breq(B_REPLACE, "b1", sx, "v3", cas=cas))[1], 2,
              p + "replace with a stale cas")
    mctest.eq(b.call(breq(B_APPEND, "b1", b"", "+"))[1], 0, p + "append")
    mctest.eq(b.call(breq(B_PREPEND, "b1", b"", "-"))[1], 0, p + "prepend")
    mctest.eq(b.call(breq(B_GET, "b1"))[4], b"-v2+", p + "append result")
    ax = struct.pack(">QQI", 3, 40, 0)
    r = b.call(breq(B_INCR, "cnt", ax))
    mctest.eq((r[1], r[4]), (0, struct.pack(">Q", 40)), p + "incr creates")
    r = b.call(breq(B_INCR, "cnt", ax))
    mctest.eq(r[4], struct.pack(">Q", 43), p + "incr")
    r = b.call(breq(B_DECR, "cnt", ax))
    mctest.eq(r[4], struct.pack(">Q", 40), p + "decr")
    mctest.eq(b.call(breq(B_TOUCH, "b1", struct.pack(">I", 100)))[1], 0,
              p + "touch")
    mctest.eq(b.call(breq(B_GAT, "b1", struct.pack(">I", 0)))[4], b"-v2+",
              p + "gat")
    # quiet commands
    out = b.until_noop(b"".join(breq(B_SETQ, "q%d" % i, sx, "val")
                                for i in range(100)))
    mctest.eq(out, [], p + "setq silent")
    out = b.until_noop(b"".join(breq(B_GETKQ, "q%d" % i) for i in range(105)))
    mctest.eq(len(out), 100, p + "getkq returns only hits")
    mctest.eq(b.call(breq(B_DELETE, "b1"))[1], 0, p + "delete")
    mctest.eq(b.call(breq(B_DELETE, "b1"))[1], 1, p + "delete missing")
    mctest.eq(b.call(breq(B_VERSION))[1], 0, p + "version")
    stats = b.until_noop(breq(B_STAT))
    mctest.check(len(stats) > 10 and stats[-1][3] == b"", p + "stat")
    mctest.eq(b.call(breq(B_FLUSH))[1], 0, p + "flush")
    mctest.eq(b.call(breq(0x7a))[1], 0x81, p + "unknown opcode")
    big = b.call(breq(B_SET, "huge", sx, b"y" * (1024 * 1024 + 10)))
    mctest.check(big[1] != 0, p + "value over -I refused")
    b.sock.sendall(breq(B_QUIT))
    r, b.buf = brecv(b.sock, b.buf)
    mctest.eq(r[:2], (B_QUIT, 0), p + "quit")
    b.close()
    # a bad magic and a truncated packet, then close
    s = socket.create_connection((d.host, d.port), TIMEOUT)
    s.sendall(breq(B_SET, "t", sx, "value")[:30])
    s.close()
    s = socket.create_connection((d.host, d.port), TIMEOUT)
    s.settimeout(TIMEOUT)
    s.sendall(b"\x80" + b"\xff" * 23)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()


# -- meta protocol -----------------------------------------------------------

def meta_conversation(d):
    c = client(d)
    p = "meta: "
    mctest.eq(c.cmd("mn"), "MN", p + "mn")
    c.send("ms m1 5 T0 F9 c\r\nhello\r\n")
    line = c.readline()
    mctest.check(re.match(r"^HD c\d+$", line) is not None, p + "ms", line)
    c.send("mg m1 v f t c k s O123\r\n")
    mctest.check(c.readline().startswith("VA 5 "), p + "mg flags")
    mctest.eq(c.readline(), "hello", p + "mg value")
    mctest.eq(c.cmd("mg nokey v"), "EN", p + "mg miss")
    c.send("ms m1 2 MA\r\nXY\r\n")
    mctest.eq(c.readline(), "HD", p + "ms append mode")
    c.send("ms m1 2 MP\r\nAB\r\n")
    mctest.eq(c.readline(), "HD", p + "ms prepend mode")
    c.send("mg m1 v\r\n")
    mctest.eq((c.readline(), c.readline()), ("VA 9", "ABhelloXY"),
              p + "mg after append/prepend")
    c.send("ms m1 1 C1\r\nz\r\n")
    mctest.eq(c.readline(), "EX", p + "ms stale cas")
    c.send("ms mb 1 b\r\nx\r\n")
    mctest.check(c.readline().startswith("CLIENT_ERROR"),
                 p + "ms b with a non-base64 key")
    c.send("ms bWtleQ== 3 b\r\nb64\r\n")
    mctest.eq(c.readline(), "HD", p + "ms base64 key")
    c.send("mg bWtleQ== b v k\r\n")
    mctest.check(c.readline().startswith("VA 3"), p + "mg base64 key")
    c.readline()
    mctest.eq(c.cmd("ma mcnt N0 J13"), "HD", p + "ma autovivify")
    c.send("ma mcnt v D7\r\n")
    mctest.eq((c.readline(), c.readline()), ("VA 2", "20"), p + "ma incr")
    c.send("ma mcnt MD v D100\r\n")
    mctest.eq((c.readline(), c.readline()), ("VA 1", "0"), p + "ma decr")
    mctest.eq(c.cmd("md m1 I T30"), "HD", p + "md invalidate")
    c.send("mg m1 v c\r\n")
    line = c.readline()
    mctest.check(line.startswith("VA 9") and " W" in line and " X" in line,
                 p + "mg of a stale item wins", line)
    c.readline()
    mctest.eq(c.cmd("md m1"), "HD", p + "md")
    mctest.eq(c.cmd("md m1"), "NF", p + "md missing")
    c.send("mg vivi v N30 t\r\n")
    line = c.readline()
    mctest.check(line.startswith("VA 0") and " W" in line,
                 p + "mg vivify wins", line)
    c.readline()
    c.send("mg vivi v N30\r\n")
    line = c.readline()
    mctest.check(line.startswith("VA 0") and " Z" in line,
                 p + "mg vivify: second client sees Z", line)
    c.readline()
    c.send("me m1\r\n")
    mctest.check(c.readline() in ("EN", "ERROR"), p + "me")
    mctest.check(c.cmd("mg " + "k" * 251).startswith("CLIENT_ERROR"),
                 p + "mg key too long")
    # quiet mode pipelined, ended by mn
    c.send("".join("ms q%d 1 q\r\nx\r\n" % i for i in range(50)) +
           "".join("mg q%d v q\r\n" % i for i in range(55)) + "mn\r\n")
    hits = 0
    while True:
        line = c.readline()
        if line == "MN":
            break
        if line.startswith("VA"):
            hits += 1
            c.readline()
    mctest.eq(hits, 50, p + "quiet mode pipeline")
    c.close()


def limits_conversation():
    """A small daemon: eviction, connection limit, idle timeout."""
    d = vg_daemon("limits", ["-m", "2", "-c", "30", "-o", "idle_timeout=2",
                             "-I", "64k", "-F"])
    c = client(d)
    p = "limits: "
    v = b"e" * 20000
    for i in range(300):
        c.send(b"set ev%d 0 0 %d noreply\r\n%s\r\n" % (i, len(v), v))
    mctest.eq(c.cmd("get nothing"), "END", p + "300 x 20 KB written")
    st = c.stats()
    mctest.check(int(st.get("evictions", "0")) > 0, p + "evictions",
                 st.get("evictions"))
    mctest.eq(c.get("ev299"), v, p + "newest item kept")
    mctest.check(c.cmd("flush_all").startswith("CLIENT_ERROR"),
                 p + "flush_all refused with -F")
    idle = client(d)
    mctest.eq(idle.cmd("mn"), "MN", p + "idle client talks once")
    time.sleep(4.5)
    try:
        gone = idle.sock.recv(10) == b""
    except OSError:
        gone = True
    mctest.check(gone, p + "idle client closed by idle_timeout")
    idle.close()
    socks = []
    for _ in range(40):
        try:
            socks.append(socket.create_connection((d.host, d.port), TIMEOUT))
        except OSError:
            break
    for s in socks:
        s.close()
    c.close()
    # the closes reach the daemon asynchronously: retry for a while
    end, line = time.time() + 20, ""
    while time.time() < end:
        c = client(d)
        line = c.cmd("mn")
        c.close()
        if line == "MN":
            break
        time.sleep(0.2)
    mctest.eq(line, "MN", p + "still serving after the conn flood")
    vg_stop(d, _vg[-1][1], "limits")


# -- replication pair --------------------------------------------------------

def free_pair_port():
    """Returns a port free on both loopback addresses."""
    return mctest.free_pair_port(A_HOST, B_HOST)


def nlines(d, pattern):
    return len(re.findall(pattern, d.log(), re.M))


def wait_lines(d, pattern, n, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        if nlines(d, pattern) >= n:
            return True
        time.sleep(0.05)
    return False


def digest(d):
    c = client(d)
    line = c.cmd("digest")
    c.close()
    return line


def same_digest(a, b, name, timeout=60.0):
    """Waits until both nodes' digests agree; checks it."""
    end = time.time() + timeout
    while True:
        da, db = digest(a), digest(b)
        if da == db or time.time() > end:
            break
        time.sleep(0.2)
    return mctest.check(da == db and da.startswith("DIGEST "), name,
                        "A=%r B=%r" % (da, db))


def pair_conversation():
    port, rport = free_pair_port(), free_pair_port()
    secret = os.path.join(LOGDIR, "secret")
    with open(secret, "w") as f:
        f.write("valgrind-pair-secret\n")
    os.chmod(secret, 0o600)
    common = ["-v", "-m", "64", "-o", "repl_secret=%s,repl_timeout=4" % secret]
    a = vg_daemon("pair-A", common + ["-x", B_HOST], host=A_HOST, port=port,
                  repl_port=rport)
    ca = client(a)
    for i in range(500):
        ca.send(b"set pre%d %d %d 10 noreply\r\n0123456789\r\n"
                % (i, i, 0 if i % 2 else 3600))
    mctest.eq(ca.cmd("delete pre7"), "DELETED", "pair: A has data first")
    b = vg_daemon("pair-B", common + ["-x", A_HOST], host=B_HOST, port=port,
                  repl_port=rport)
    cb = client(b)
    cb.set("bfirst", "from B before the link")
    mctest.check(wait_lines(a, r"^replication: start$", 1) and
                 wait_lines(b, r"^replication: start$", 1), "pair: linked")
    mctest.check(nlines(a, r"^replication: marugoto copying$") +
                 nlines(b, r"^replication: marugoto copying$") >= 1,
                 "pair: full copy logged")
    same_digest(a, b, "pair: digests equal after the full copy")
    mctest.eq(cb.get("pre8"), b"0123456789", "pair: B got A's data")
    mctest.eq(ca.get("bfirst"), b"from B before the link",
              "pair: A got B's data")
    # live stream, every kind of write, from both sides
    for src, dst, tag in ((ca, cb, "a"), (cb, ca, "b")):
        src.set(tag + "s", "v", flags=3)
        src.store("append", tag + "s", "w")
        src.cmd("incr pre8 1")
        src.cmd("touch pre9 500")
        src.cmd("delete pre11")
        src.send("ms %sm 3 T100\r\nmet\r\n" % tag)
        src.readline()
        src.cmd("ma %sc N0 J5" % tag)
        src.cmd("md %sm I" % tag)
    bc = BinConn(a)
    sx = struct.pack(">II", 1, 0)
    bc.until_noop(b"".join(breq(B_SETQ, "bin%d" % i, sx, "binval")
                           for i in range(50)))
    bc.call(breq(B_DELETE, "bin3"))
    bc.call(breq(B_INCR, "bcnt", struct.pack(">QQI", 1, 5, 0)))
    bc.close()
    same_digest(a, b, "pair: digests equal after live writes")
    mctest.eq(cb.get("bin10"), b"binval", "pair: binary write replicated")
    mctest.eq(ca.get("pre11"), None, "pair: delete replicated")
    # break the link past the heartbeat timeout; partial resync after
    starts = nlines(a, r"^replication: start$")
    b.send_signal(signal.SIGSTOP)
    mctest.check(wait_lines(a, r"^replication: close$", 1, 30),
                 "pair: A closes the link to the stopped B")
    for i in range(100):
        ca.send(b"set during%d 0 0 5 noreply\r\nhello\r\n" % i)
    mctest.eq(ca.cmd("delete pre20"), "DELETED", "pair: writes while B stopped")
    b.send_signal(signal.SIGCONT)
    mctest.check(wait_lines(a, r"^replication: start$", starts + 1),
                 "pair: relinked after SIGCONT")
    mctest.check(wait_lines(a, r"^replication: (partial resync|full copy)",
                            1), "pair: resync logged")
    cb = client(b)
    same_digest(a, b, "pair: digests equal after the resync")
    mctest.eq(cb.get("during99"), b"hello", "pair: B got the writes it missed")
    mctest.eq(ca.cmd("flush_all"), "OK", "pair: flush_all")
    same_digest(a, b, "pair: digests equal after flush_all")
    ca.set("last", "x")
    ca.close()
    cb.close()
    # B stops first, then A (which then has no peer)
    vg_stop(b, _vg[-1][1], "pair-B")
    vg_stop(a, _vg[-2][1], "pair-A")


def main():
    if VALGRIND is None:
        print("valgrind not installed: skipped")
        sys.exit(77)
    t0 = time.time()
    d = vg_daemon("single", ["-v"])
    text_conversation(d)
    binary_conversation(d)
    meta_conversation(d)
    vg_stop(d, _vg[0][1], "single")
    limits_conversation()
    pair_conversation()
    print("# %.0f s" % (time.time() - t0))
    failed = mctest._results["failed"]
    if failed or os.environ.get("VALGRIND_KEEP_LOGS") == "1":
        print("# valgrind logs kept in " + LOGDIR)
    else:
        shutil.rmtree(LOGDIR, ignore_errors=True)
    mctest.done()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Hostile clients: random bytes, absurd lengths and numbers, bad keys,
endless lines, a client that pipelines and never reads, thousands of
connections, slowloris clients, file descriptor exhaustion, the -c limit
with -o no_maxconns_fast, and digests of a large store (other clients are
served while one runs). Each case checks the server's reply and that it
keeps serving other clients. The replies are documented in
doc/robustness.md. Also here: the replication listener of a node without
-l takes IPv4 and IPv6 peers (dual stack)."""
import os
import random
import resource
import select
import selectors
import socket
import struct
import subprocess
import tempfile
import threading
import time

import mctest

LOCAL = "127.0.0.1"


def served(d, name):
    """Checks that a fresh client can store and read back a value."""
    try:
        c = d.client(timeout=5)
        ok = c.set("health", "ok") == "STORED" and c.get("health") == b"ok"
        c.close()
    except OSError as e:
        ok = False
        name += " (%s)" % e
    mctest.check(ok and d.proc.poll() is None, "still serving after " + name)


def recv_all(s, timeout=2.0):
    """Reads until EOF or timeout; returns (bytes, closed)."""
    s.settimeout(timeout)
    buf = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return buf, True
            buf += chunk
    except socket.timeout:
        return buf, False
    except ConnectionResetError:
        return buf, True


def exchange(d, data, timeout=1.0):
    """Sends data on a new connection; returns (reply, closed)."""
    try:
        s = socket.create_connection((LOCAL, d.port), 5)
    except OSError as e:
        return ("<%s>" % e).encode(), True
    try:
        s.sendall(data)
    except OSError:
        pass
    out = recv_all(s, timeout)
    s.close()
    return out


def binreq(op, key=b"", extras=b"", value=b"", bodylen=None, opaque=0):
    """Encodes a binary protocol request (bodylen may lie)."""
    body = extras + key + value
    n = len(body) if bodylen is None else bodylen
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0,
                       n, opaque, 0) + body


def binres(data):
    """Decodes the first binary response: (opcode, status, body)."""
    if len(data) < 24 or data[0] != 0x81:
        return None
    _, op, _, _, _, status, blen, _, _ = struct.unpack(">BBHBBHIIQ",
                                                       data[:24])
    return op, status, data[24:24 + blen]


def stop_clean(d, name):
    """Stops d and checks it exits 0 with no sanitizer report."""
    rc = d.stop()
    log = d.log()
    mctest.eq(rc, 0, name + ": clean exit")
    mctest.check("Sanitizer" not in log and "runtime error" not in log,
                 name + ": no sanitizer report", log[-2000:])


def rss_mb(pid):
    """The process's resident set size in MB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def sanitized(pid):
    """True if the daemon runs with ASan (its memory use is larger)."""
    with open("/proc/%d/maps" % pid) as f:
        return "asan" in f.read()


def case_random_bytes(d):
    """Random bytes: text-looking, binary-looking, and raw."""
    rnd = random.Random(7)
    for first in (b"get ", b"\x80", b""):
        junk = first + bytes(rnd.getrandbits(8) for _ in range(65536))
        reply, _ = exchange(d, junk, 1.0)
        if first == b"\x80":
            r = binres(reply)
            mctest.check(reply == b"" or r is not None,
                         "random bytes after 0x80: binary reply or none",
                         repr(reply[:60]))
        else:
            lines = reply.split(b"\r\n")[:-1]
            bad = [x for x in lines if not (
                x == b"ERROR" or x.startswith(b"CLIENT_ERROR ") or
                x.startswith(b"SERVER_ERROR ") or x == b"END")]
            mctest.check(not bad, "random bytes %r: only error replies"
                         % first, repr(bad[:3]))
        served(d, "random bytes %r" % first)


def case_numbers(d):
    """2 GB declared lengths, negative and overflowing numbers."""
    text = [
        ("set k 0 0 2147483648", "CLIENT_ERROR bad command line format"),
        ("set k 0 0 4294967296", "CLIENT_ERROR bad command line format"),
        ("set k 0 0 -1", "CLIENT_ERROR bad command line format"),
        ("set k 0 0 2147483645", "SERVER_ERROR object too large for cache"),
        ("ms k 2147483645", "SERVER_ERROR object too large for cache"),
        ("ms k -1", "CLIENT_ERROR bad command line format"),
        ("ms k 2147483648", "CLIENT_ERROR bad command line format"),
        ("set k -1 0 1", "CLIENT_ERROR bad command line format"),
        ("cas k 0 0 1 -1", "CLIENT_ERROR bad command line format"),
        ("cas k 0 0 1 18446744073709551616",
         "CLIENT_ERROR bad command line format"),
        ("set k 0 99999999999999999999 1",
         "CLIENT_ERROR bad command line format"),
        ("incr k -1", "CLIENT_ERROR invalid numeric delta argument"),
        ("incr k 18446744073709551616",
         "CLIENT_ERROR invalid numeric delta argument"),
        ("ma k D-1", "CLIENT_ERROR invalid or duplicate flag"),
        ("ma k D18446744073709551616",
         "CLIENT_ERROR invalid or duplicate flag"),
        ("touch k abc", "CLIENT_ERROR invalid exptime argument"),
        ("verbosity -1", "CLIENT_ERROR bad command line format"),
    ]
    for line, want in text:
        # A fresh connection each: after a refused length the server may
        # swallow what follows.
        c = d.client()
        mctest.eq(c.cmd(line), want, "text: " + line)
        c.close()
    c = d.client()
    c.set("n", "18446744073709551615")
    mctest.eq(c.cmd("incr n 1"), "0", "incr wraps at 2^64")
    mctest.eq(c.cmd("decr n 5"), "0", "decr stops at 0")
    c.close()

    # binary: a set declaring a 2 GB and a 4 GB body
    for blen in (0x7fffffff, 0xffffffff):
        reply, _ = exchange(d, binreq(0x01, b"k", b"\0" * 8, bodylen=blen))
        mctest.eq(binres(reply), (0x01, 0x0003, b"Too large."),
                  "binary: set with a %#x-byte body" % blen)
    # key and extras longer than the body: Unknown command, then close
    reply, closed = exchange(d, binreq(0x00, b"k", bodylen=0))
    mctest.eq(binres(reply), (0x00, 0x0081, b"Unknown command"),
              "binary: key longer than the body")
    mctest.check(closed, "binary: inconsistent lengths close")
    # 65535-byte key length
    reply, closed = exchange(d, struct.pack(">BBHBBHIIQ", 0x80, 0, 0xffff, 0,
                                            0, 0, 0xffff, 0, 0))
    mctest.eq(binres(reply), (0x00, 0x0004, b"Invalid arguments"),
              "binary: 65535-byte key length")
    mctest.check(closed, "binary: key over 250 closes")
    # incr overflow and a non-numeric value
    ext = struct.pack(">QQI", 1, 0, 0)
    reply, _ = exchange(
        d, binreq(0x01, b"bn", b"\0" * 8, b"18446744073709551615") +
        binreq(0x05, b"bn", ext))
    mctest.eq(binres(reply[24:]), (0x05, 0, struct.pack(">Q", 0)),
              "binary: incr wraps at 2^64")
    reply, _ = exchange(d, binreq(0x01, b"bs", b"\0" * 8, b"abc") +
                        binreq(0x05, b"bs", ext))
    mctest.eq(binres(reply[24:]),
              (0x05, 0x0006, b"Non-numeric server-side value for incr or "
               b"decr"), "binary: incr on a non-number")
    served(d, "bad numbers")


def case_keys(d):
    """251-byte keys and keys with control characters."""
    k250, k251 = "k" * 250, "k" * 251
    c = d.client()
    mctest.eq(c.set(k250, "v"), "STORED", "250-byte key stored")
    mctest.eq(c.get(k250), b"v", "250-byte key read back")
    mctest.eq(c.cmd("get " + k251), "CLIENT_ERROR bad command line format",
              "text: 251-byte key in get")
    mctest.eq(c.cmd("delete " + k251),
              "CLIENT_ERROR bad command line format",
              "text: 251-byte key in delete")
    mctest.eq(c.cmd("mg %s v" % k251), "CLIENT_ERROR bad command line format",
              "meta: 251-byte key")
    c.close()
    c = d.client()
    c.send("set %s 0 0 1\r\nx\r\n" % k251)
    mctest.eq(c.readline(), "CLIENT_ERROR bad command line format",
              "text: 251-byte key in set")
    mctest.eq(c.readline(), "ERROR", "the value line is then a bad command")
    c.close()
    reply, closed = exchange(d, binreq(0x00, b"k" * 251))
    mctest.eq(binres(reply), (0x00, 0x0004, b"Invalid arguments"),
              "binary: 251-byte key")
    # memcached takes any byte but a space in a text key; a NUL ends the
    # line, as memcached reads it as a C string
    for ch in ("\x01", "\x7f", "\t", "\x1f"):
        c = d.client()
        c.send("set a%sb 0 0 1\r\n%s\r\n" % (ch, "x"))
        mctest.eq(c.readline(), "STORED", "text: set key with %r" % ch)
        mctest.eq(c.cmd("get a%sb" % ch), "VALUE a%sb 0 1" % ch,
                  "text: get key with %r" % ch)
        c.close()
    c = d.client()
    c.send("set a\x00b 0 0 1\r\nx\r\n")
    mctest.eq(c.readline(), "ERROR", "text: a NUL cuts the set line")
    mctest.eq(c.readline(), "ERROR", "text: its value is then a command")
    c.close()
    c = d.client()
    mctest.eq(c.cmd("mg a\x01b v"), "VA 1",
              "meta: a control-character key set by text")
    c.close()
    served(d, "bad keys")


def case_meta_ctl_key():
    """ms with a 250-byte key of control characters and the k flag: the
    key must come back (memcached echoes it raw; base64 is fine too) and
    the server must live on. Runs on its own daemon."""
    d = mctest.Daemon(["-m", "64"])
    key = b"\x01" * 250
    reply, _ = exchange(d, b"ms " + key + b" 1 k\r\nx\r\n", 1.0)
    mctest.check(reply.startswith(b"HD k") and reply.endswith(b"\r\n"),
                 "meta: ms with a 250-byte control-character key",
                 repr(reply[:40]))
    reply, _ = exchange(d, b"mg " + key + b" v\r\n", 1.0)
    mctest.eq(reply, b"VA 1\r\nx\r\n", "meta: that key reads back")
    served(d, "a 250-byte control-character key")
    stop_clean(d, "control-character key")


def case_long_lines(d):
    """1 MB lines with no newline, text and meta, and a 256 KB get line."""
    for prefix in (b"set ", b"get ", b"mg ", b""):
        reply, closed = exchange(d, prefix + b"k" * (1 << 20), 3.0)
        mctest.eq(reply, b"CLIENT_ERROR line too long\r\n",
                  "1 MB line %r: reply" % prefix)
        mctest.check(closed, "1 MB line %r: closed" % prefix)
    served(d, "1 MB lines")


def case_stuck_reader(d):
    """100,000 pipelined gets in one write from a client that never reads:
    the server stops reading it, its memory stays bounded, and others are
    served."""
    c = d.client()
    mctest.eq(c.set("big", "v" * 1000), "STORED", "1000-byte value stored")
    base = rss_mb(d.proc.pid)
    s = socket.create_connection((LOCAL, d.port), 5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = b"get big\r\n" * 100000

    def flood():
        try:
            s.sendall(payload)
        except OSError:
            pass

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    time.sleep(2.0)
    peak = 0.0
    worst = 0.0
    for _ in range(5):
        peak = max(peak, rss_mb(d.proc.pid))
        t0 = time.time()
        ok = c.get("big") == b"v" * 1000
        worst = max(worst, time.time() - t0)
        time.sleep(0.1)
    mctest.check(ok, "stuck reader: others still get answers")
    mctest.check(worst < 1.0, "stuck reader: others answered quickly",
                 "%.3fs" % worst)
    limit = 64 + 40
    if sanitized(d.proc.pid):
        limit = base + 40  # ASan's own overhead moves the baseline
    mctest.check(peak < limit, "stuck reader: RSS %.0f MB < %d MB" %
                 (peak, limit), "baseline %.0f MB" % base)
    st = c.stats()
    mctest.check(int(st["curr_connections"]) >= 2,
                 "stuck reader: still connected")
    s.close()
    t.join(5)
    c.close()
    served(d, "a stuck reader")


def case_huge_multiget(d):
    """One get line with 130,000 keys (256 KB, under the get line limit)
    from a client that never reads. Past the per-client output cap the
    server stops copying values and references them instead, so memory
    stays bounded (memcached 1.6.18 grows by ~150 MB here)."""
    c = d.client()
    c.set("k", "v" * 1000)
    base = rss_mb(d.proc.pid)
    s = socket.create_connection((LOCAL, d.port), 5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"get " + b"k " * 130000 + b"\r\n")
    time.sleep(1.5)
    peak = rss_mb(d.proc.pid)
    print("# one 130,000-key get, never read: RSS %.0f MB -> %.0f MB"
          % (base, peak))
    mctest.check(peak - base < 40, "huge multiget: memory bounded",
                 "%.0f MB -> %.0f MB" % (base, peak))
    mctest.eq(c.get("k"), b"v" * 1000, "huge multiget: others served")
    s.close()
    c.close()
    served(d, "a huge multiget")


def case_many_conns(_):
    """5,000 simultaneous connections against -c 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 5100:
        mctest.check(False, "5000 connections: cannot raise RLIMIT_NOFILE")
        return
    d = mctest.Daemon(["-c", "1024"])
    socks = []
    failed = 0
    for _ in range(5000):
        try:
            socks.append(socket.create_connection((LOCAL, d.port), 3))
        except OSError:
            failed += 1
    mctest.eq(failed, 0, "5000 connections: every connect completes")
    sel = selectors.DefaultSelector()
    replies = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        replies[s] = b""
    closed = set()
    end = time.time() + 5
    while time.time() < end:
        events = sel.select(0.5)
        if not events and time.time() > end - 3:
            break
        for key, _ in events:
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                replies[s] += data
            else:
                closed.add(s)
                sel.unregister(s)
    sel.close()
    refused = [s for s in closed
               if replies[s] in (b"", b"ERROR Too many open connections\r\n")]
    odd = [replies[s] for s in socks
           if replies[s] not in (b"", b"ERROR Too many open connections\r\n")]
    held = [s for s in socks if s not in closed]
    print("# 5000 connections: %d held, %d refused with the message, %d "
          "closed" % (len(held), sum(1 for s in refused if replies[s]),
                      sum(1 for s in refused if not replies[s])))
    mctest.eq(odd, [], "5000 connections: no other reply")
    mctest.eq(len(refused) + len(held), 5000,
              "5000 connections: each one held or refused")
    mctest.check(900 <= len(held) <= 1024,
                 "5000 connections: about -c 1024 held", str(len(held)))
    mctest.check(sum(1 for s in refused if replies[s]) > 3000,
                 "5000 connections: refused with 'ERROR Too many open "
                 "connections'")
    # a held connection still works
    h = held[0]
    h.setblocking(True)
    h.settimeout(5)
    h.sendall(b"version\r\n")
    mctest.check(h.recv(100).startswith(b"VERSION "),
                 "5000 connections: a held client is served")
    h.sendall(b"stats\r\n")
    buf = b""
    while not buf.endswith(b"END\r\n"):
        buf += h.recv(65536)
    st = dict(x.split(" ", 2)[1:] for x in buf.decode().split("\r\n")
              if x.startswith("STAT "))
    mctest.check(int(st["rejected_connections"]) >= 3900,
                 "5000 connections: rejected_connections counted",
                 st["rejected_connections"])
    for s in socks:
        s.close()
    time.sleep(0.3)
    served(d, "5000 connections")
    stop_clean(d, "5000 connections")


def case_slowloris(d):
    """20 clients sending one byte a second for 5 seconds."""
    slow = [socket.create_connection((LOCAL, d.port), 5) for _ in range(20)]
    c = d.client()
    msg = b"get slow"
    worst = 0.0
    n = 0
    for i in range(len(msg) - 3):
        for s in slow:
            s.sendall(msg[i:i + 1])
        end = time.time() + 1.0
        while time.time() < end:
            t0 = time.time()
            ok = c.set("fast", str(n)) == "STORED" and \
                c.get("fast") == str(n).encode()
            worst = max(worst, time.time() - t0)
            n += 1
            if not ok:
                break
            time.sleep(0.02)
    mctest.check(ok, "slowloris: other clients served")
    mctest.check(worst < 0.5, "slowloris: others answered quickly",
                 "%.3fs" % worst)
    good = 0
    for s in slow:
        s.sendall(msg[len(msg) - 3:] + b"\r\n")
        s.settimeout(3)
        buf = b""
        try:
            while not buf.endswith(b"END\r\n"):
                chunk = s.recv(100)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
        good += buf == b"END\r\n"
        s.close()
    mctest.eq(good, 20, "slowloris: each slow command answered at the end")
    c.close()
    served(d, "slowloris")


def case_fd_exhaustion(_):
    """Runs the daemon out of file descriptors: accept pauses, and
    resumes once descriptors are free again."""
    d = mctest.Daemon(["-c", "1024"])
    admin = d.client()
    # Lower the running daemon's limit (it raised its own at start).
    resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (64, 64))
    socks = []
    for _ in range(120):
        try:
            socks.append(socket.create_connection((LOCAL, d.port), 2))
        except OSError:
            break
    for s in socks:
        try:
            s.sendall(b"version\r\n")
        except OSError:
            pass
    answered = 0
    for s in socks:
        s.settimeout(0.05 if answered else 2)
        try:
            if s.recv(100).startswith(b"VERSION"):
                answered += 1
        except OSError:
            pass
    print("# fd exhaustion: %d of %d connections answered" %
          (answered, len(socks)))
    mctest.check(0 < answered < len(socks),
                 "fd exhaustion: some connections wait unaccepted",
                 "%d of %d answered" % (answered, len(socks)))
    st = admin.stats()
    mctest.check(int(st["listen_disabled_num"]) > 0,
                 "fd exhaustion: listen_disabled_num > 0",
                 st["listen_disabled_num"])
    mctest.eq(admin.cmd("version")[:8], "VERSION ",
              "fd exhaustion: connected clients still served")
    for s in socks:
        s.close()
    ok = False
    end = time.time() + 5
    while time.time() < end and not ok:
        try:
            c = d.client(timeout=1)
            ok = c.cmd("version").startswith("VERSION ")
            c.close()
        except OSError:
            time.sleep(0.2)
    mctest.check(ok, "fd exhaustion: accepts again once fds are free")
    admin.close()
    served(d, "fd exhaustion")
    stop_clean(d, "fd exhaustion")


def wait_readable(socks, timeout):
    """Returns the sockets of socks that have input (or EOF) within
    timeout seconds."""
    r, _, _ = select.select(socks, [], [], timeout)
    return r


def open_held(d, n):
    """Opens n clients once the daemon has seen every earlier connection
    close (the readiness probe's): each one is then under -c."""
    first = d.client()
    end = time.time() + 10
    while first.stats()["curr_connections"] != "1" and time.time() < end:
        time.sleep(0.02)
    return [first] + [d.client() for _ in range(n - 1)]


def case_maxconns_wait(_):
    """-c 8 -o no_maxconns_fast: past the limit the daemon stops accepting
    (clients wait in the kernel's backlog, unanswered, with no ERROR) and
    accepts again as connections close, like memcached 1.6.18. memcached
    also counts its listeners and some reserved descriptors against -c
    (with -c 30 -t 1 it serves 19 clients); we count only clients."""
    d = mctest.Daemon(["-c", "8", "-o", "no_maxconns_fast"])
    held = open_held(d, 8)
    for c in held:
        mctest.eq(c.cmd("version")[:8], "VERSION ",
                  "no_maxconns_fast: a client under -c is served")
    extra = [socket.create_connection((LOCAL, d.port), 5) for _ in range(4)]
    for s in extra:
        s.sendall(b"version\r\n")
    # Nothing may come back while the limit holds: no ERROR, no answer.
    got = wait_readable(extra, 1.0)
    mctest.eq(len(got), 0, "no_maxconns_fast: clients over -c wait, "
              "unanswered and not refused")
    st = held[0].stats()
    mctest.eq(st["curr_connections"], "8",
              "no_maxconns_fast: -c 8 connections held")
    mctest.check(int(st["listen_disabled_num"]) >= 1,
                 "no_maxconns_fast: listen_disabled_num counts the pause",
                 st["listen_disabled_num"])
    mctest.check("rejected_connections" not in st,
                 "no_maxconns_fast: no rejected_connections line (as "
                 "memcached: nobody is rejected)")
    mctest.check(int(st["time_in_listen_disabled_us"]) > 0,
                 "no_maxconns_fast: time_in_listen_disabled_us counts the "
                 "pause so far", st["time_in_listen_disabled_us"])
    mctest.eq(st["accepting_conns"], "0",
              "no_maxconns_fast: stats say accepting_conns 0 at -c")
    # Two close: two of the waiting clients are accepted and served, the
    # other two still wait.
    held[0].close()
    held[1].close()
    answers = {}
    end = time.time() + 10
    while len(answers) < 2 and time.time() < end:
        for s in wait_readable([x for x in extra if x not in answers], 0.5):
            answers[s] = recv_all(s, 0.3)[0]
    mctest.eq([v[:8] for v in answers.values()], [b"VERSION "] * 2,
              "no_maxconns_fast: two close, two waiting clients served")
    rest = [x for x in extra if x not in answers]
    mctest.eq(wait_readable(rest, 0.5), [],
              "no_maxconns_fast: the other two still wait")
    # The rest close: everyone waiting is served.
    for c in held[2:]:
        c.close()
    for s in rest:
        got = recv_all(s, 0.5)[0] if wait_readable([s], 10) else b""
        mctest.eq(got[:8], b"VERSION ",
                  "no_maxconns_fast: the last waiting clients served")
    for s in extra:
        s.close()
    served(d, "no_maxconns_fast at -c")
    c = d.client()
    mctest.eq(c.stats()["accepting_conns"], "1",
              "no_maxconns_fast: accepting_conns 1 again under -c")
    c.close()
    stop_clean(d, "no_maxconns_fast")

    # The default (maxconns_fast): the client over -c is told and closed.
    d = mctest.Daemon(["-c", "8"])
    held = open_held(d, 8)
    for c in held:
        c.cmd("version")
    reply, closed = exchange(d, b"version\r\n", 5.0)
    mctest.eq(reply, b"ERROR Too many open connections\r\n",
              "maxconns_fast: the client over -c gets ERROR")
    mctest.check(closed, "maxconns_fast: and is closed")
    for c in held:
        c.close()
    stop_clean(d, "maxconns_fast")


def load_items(d, n):
    """Stores keys k0..k<n-1> with noreply, in large writes."""
    c = d.client(timeout=30)
    step = 20000
    for lo in range(0, n, step):
        c.send(b"".join(b"set k%d 0 0 6 noreply\r\nv%05d\r\n" % (i, i % 99999)
                        for i in range(lo, min(n, lo + step))))
    c.cmd("version")  # every set above has run
    c.close()


def read_until(s, buf, end_marker, timeout=30.0):
    """Reads from s until buf ends with end_marker; returns buf."""
    s.settimeout(timeout)
    while not buf.endswith(end_marker):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def conn_state(c, port):
    """Returns the state "stats conns" shows for the client whose local
    port is `port`, asked through mctest client c."""
    st = c.stats("conns")
    for k, v in st.items():
        if k.endswith(":addr") and v.endswith(":%d" % port):
            return st.get(k[:-5] + ":state")
    return None


def case_digest(_):
    """digest on 300,000 items is walked in slices: other clients are
    served while it runs, the asking client gets its DIGEST and then the
    rest of its pipeline, and a quiet store gives the same digest each
    time. Ordering only, no timing: a get sent by client 2 right after
    client 1's pipelined "digest; get" is answered before client 1's
    DIGEST line."""
    n = 300000
    d = mctest.Daemon(["-m", "256"])
    load_items(d, n)
    c = d.client(timeout=30)
    mctest.eq(c.stats()["curr_items"], str(n), "digest: %d items" % n)
    first = c.cmd("digest").split(" ")
    second = c.cmd("digest").split(" ")
    mctest.eq(len(first), 3, "digest: DIGEST <hex> <items>")
    mctest.eq(first[2], str(n), "digest: counts every item")
    mctest.eq(second, first, "digest: a quiet store, the same digest twice")
    halves = [c.cmd("digest 2 0 1").split(" "), c.cmd("digest 2 1 2").split(" ")]
    mctest.eq((int(halves[0][1], 16) + int(halves[1][1], 16)) % (1 << 64),
              int(first[1], 16), "digest: the two halves add up")
    mctest.eq(int(halves[0][2]) + int(halves[1][2]), n,
              "digest: the halves' items add up")
    mctest.eq(c.cmd("digest 4 0 4").split(" "), first,
              "digest: 4 parts [0, 4) is the whole store")
    mctest.eq(c.cmd("digest 4 2 2"), "DIGEST 0000000000000000 0",
              "digest: an empty range")

    # Ordering: client 2's get overtakes client 1's digest.
    s1 = socket.create_connection((LOCAL, d.port), 5)
    s2 = socket.create_connection((LOCAL, d.port), 5)
    s1.sendall(b"digest\r\nget k1\r\n")
    s2.sendall(b"get k2\r\n")
    want1 = ("DIGEST %s %s\r\nVALUE k1 0 6\r\nv00001\r\nEND\r\n" %
             (first[1], first[2])).encode()
    want2 = b"VALUE k2 0 6\r\nv00002\r\nEND\r\n"
    buf = {s1: b"", s2: b""}
    order = []
    end = time.time() + 60
    while (buf[s1] != want1 or buf[s2] != want2) and time.time() < end:
        for s in wait_readable([s1, s2], 1.0):
            chunk = s.recv(65536)
            if not chunk:
                end = 0
                break
            buf[s] += chunk
            if s is s1 and 1 not in order:
                order.append(1)
            if s is s2 and buf[s2].endswith(b"END\r\n") and 2 not in order:
                order.append(2)
    mctest.eq(buf[s2], want2, "digest: client 2's get answered")
    mctest.eq(buf[s1], want1, "digest: client 1 gets DIGEST, then its "
              "pipelined get")
    mctest.eq(order, [2, 1], "digest: client 2's answer came before client "
              "1's DIGEST line")
    s1.close()
    s2.close()

    # While client 1 waits for its digest, "stats conns" from client 2
    # is answered and shows client 1 in conn_wait.
    s1 = socket.create_connection((LOCAL, d.port), 5)
    c2 = d.client(timeout=30)
    s1.sendall(b"digest\r\n")
    seen = None
    while seen != "conn_wait" and not wait_readable([s1], 0):
        seen = conn_state(c2, s1.getsockname()[1])
    mctest.eq(seen, "conn_wait", "digest: another client served while the "
              "digest runs (it sees the digesting client in conn_wait)")
    got = read_until(s1, b"", b"\r\n")
    mctest.eq(got.decode().split(" ")[0], "DIGEST", "digest: then it answers")
    s1.close()

    # Several at once, and clients that leave while waiting.
    many = [socket.create_connection((LOCAL, d.port), 5) for _ in range(4)]
    quitters = [socket.create_connection((LOCAL, d.port), 5)
                for _ in range(4)]
    for i in range(4):
        quitters[i].sendall(b"digest\r\ndigest\r\n")
        many[i].sendall(b"digest\r\n")
    for s in quitters:
        s.close()
    res = [read_until(s, b"", b"\r\n").decode() for s in many]
    mctest.eq(res, ["DIGEST %s %s\r\n" % (first[1], first[2])] * 4,
              "digest: four at once (queued), each the same answer")
    for s in many:
        s.close()

    # Writes during a digest: it describes a moving store but completes,
    # and the server stays consistent.
    s1 = socket.create_connection((LOCAL, d.port), 5)
    s1.sendall(b"digest\r\n")
    for i in range(200):
        c.set("k%d" % i, "changed")
        c.cmd("delete k%d" % (n - 1 - i))
    got = read_until(s1, b"", b"\r\n").decode().split(" ")
    mctest.eq(got[0], "DIGEST", "digest: completes under concurrent writes")
    s1.close()
    after = c.cmd("digest").split(" ")
    mctest.eq(after[2], str(n - 200), "digest: quiet again, exact count")
    mctest.eq(c.cmd("digest").split(" "), after,
              "digest: quiet again, stable")
    c.close()
    served(d, "digests")
    # Stopping with digests queued and one walking ends them cleanly.
    late = [socket.create_connection((LOCAL, d.port), 5) for _ in range(4)]
    for s in late:
        s.sendall(b"digest\r\n")
    stop_clean(d, "digests (stopped with digests queued)")
    for s in late:
        s.close()


def ipv6_loopback():
    """Returns None if ::1 can be bound, else why not."""
    if not socket.has_ipv6:
        return "no IPv6 support in Python"
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
    except OSError as e:
        return "cannot bind ::1 (%s)" % e
    return None


class AnyAddrDaemon(mctest.Daemon):
    """A daemon started without -l (it listens on every address, as a
    node without -l does). Only its client port -p (a random free port)
    and its replication port are opened; -U 0. Tests connect to it on
    127.0.0.1 and ::1 only."""

    def __init__(self, args, repl_port):
        self.host = LOCAL
        self.port = mctest.free_port()
        self.binary = mctest.BIN
        self.repl_port = repl_port
        self.logf = tempfile.NamedTemporaryFile(prefix="mctest-",
                                                suffix=".log", delete=False)
        self.cmd = [self.binary, "-p", str(self.port), "-U", "0", "-X",
                    str(repl_port)]
        if os.geteuid() == 0:
            self.cmd += ["-u", "root"]
        self.cmd += list(args)
        self.proc = subprocess.Popen(self.cmd, stdout=self.logf,
                                     stderr=self.logf)
        mctest._daemons.append(self)
        self.wait_ready()


def free_port_v46():
    """A port free on both 127.0.0.1 and ::1."""
    for _ in range(50):
        p = mctest.free_port()
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(("::1", p))
            return p
        except OSError:
            pass
        finally:
            s.close()
    raise RuntimeError("no port free on both 127.0.0.1 and ::1")


def set_reaches(a, b, key, val):
    """Sets key on a; returns whether b holds val within 10 s."""
    a.client().set(key, val.decode())
    end = time.time() + 10
    while time.time() < end:
        if b.client().get(key) == val:
            return True
        time.sleep(0.05)
    return False


def case_repl_dual_stack(_):
    """Without -l the replication listener takes IPv6 and IPv4 peers: an
    IPv6 peer on ::1 links; an IPv4 peer, seen as ::ffff:127.0.0.1, passes
    -x 127.0.0.1 and is logged as plain 127.0.0.1."""
    why = ipv6_loopback()
    # IPv4 peer, -x 127.0.0.1 on the dual-stack node. A's -x names a port
    # where nothing listens, so that A only accepts (its connects fail).
    ra = free_port_v46()
    a = AnyAddrDaemon(["-vv", "-x", "%s:%d" % (LOCAL, free_port_v46())], ra)
    rb = mctest.free_port()
    b = mctest.Daemon(["-v", "-x", "%s:%d" % (LOCAL, ra)], repl_port=rb)
    mctest.check(a.wait_log(r"^replication: accepted \(peer=127\.0\.0\.1:"
                            r"\d+\)$"),
                 "dual stack: an IPv4 peer is logged as 127.0.0.1",
                 a.log()[-600:])
    mctest.check(b.wait_log(r"^replication: start$"),
                 "dual stack: an IPv4 peer passes -x 127.0.0.1 and links")
    mctest.eq(a.log().count("not the configured peer"), 0,
              "dual stack: the v4-mapped address matches -x 127.0.0.1")
    mctest.check(set_reaches(a, b, "v4key", b"x"),
                 "dual stack: a set on A reaches the IPv4 peer")
    stop_clean(b, "dual stack, IPv4 peer B")
    stop_clean(a, "dual stack, IPv4 peer A")
    if why is not None:
        print("# skipped the IPv6 peer: %s" % why)
        return
    # IPv6 peer on ::1.
    ra = free_port_v46()
    a = AnyAddrDaemon(["-vv", "-x", "[::1]:%d" % free_port_v46()], ra)
    b = mctest.Daemon(["-v", "-x", "[::1]:%d" % ra], host="::1",
                      port=free_port_v46(), repl_port=free_port_v46())
    mctest.check(a.wait_log(r"^replication: accepted \(peer=\[::1\]:\d+\)$"),
                 "dual stack: an IPv6 peer connects to [::1]", a.log()[-600:])
    mctest.check(b.wait_log(r"^replication: start$"),
                 "dual stack: the IPv6 peer links")
    mctest.check(set_reaches(a, b, "v6key", b"y"),
                 "dual stack: a set on A reaches the IPv6 peer")
    stop_clean(b, "dual stack, IPv6 peer B")
    stop_clean(a, "dual stack, IPv6 peer A")


def main():
    t0 = time.time()
    d = mctest.Daemon(["-m", "64"])
    case_random_bytes(d)
    case_numbers(d)
    case_keys(d)
    case_long_lines(d)
    case_slowloris(d)
    stop_clean(d, "protocol cases")
    # memory is measured on a fresh daemon
    d = mctest.Daemon(["-m", "64"])
    case_stuck_reader(d)
    case_huge_multiget(d)
    stop_clean(d, "memory cases")
    case_meta_ctl_key()
    case_many_conns(None)
    case_fd_exhaustion(None)
    case_maxconns_wait(None)
    case_digest(None)
    case_repl_dual_stack(None)
    print("# %.1f s" % (time.time() - t0))
    mctest.done()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Replication that never silently diverges.

1. Two authenticated nodes (127.0.0.1 and 127.0.0.2, -o repl_secret) are
   hammered on the same 200 keys at once from two clients with random set,
   delete, append, incr and touch for 10 s; once quiet, both `digest`s are
   equal and a full dump (gets of every key) is identical, and
   scripts/repl-compare agrees.
2. Fake peers speaking the wire format to a node with a secret: a wrong
   AUTH, no AUTH flag, records before AUTH. Each gets nothing but the
   node's HELLO, is rejected and logged, and its ITEM records change
   nothing. A fake peer with the right secret is the control: it gets the
   node's AUTH and full copy, and its ITEM is applied.
3. A node with a secret and one without refuse each other.
4. A node with -x 127.0.0.1 refuses a connection from 127.0.0.3 (and not
   one from 127.0.0.1).
"""
import hashlib
import hmac
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import mctest

A_HOST, B_HOST, C_HOST = "127.0.0.1", "127.0.0.2", "127.0.0.3"
KEYS = ["k%03d" % i for i in range(200)]
HAMMER_SECONDS = float(os.environ.get("REPL_HAMMER_SECONDS", "10"))
TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
COMPARE = os.path.join(TOP, "scripts", "repl-compare")

# wire format (doc/replication.md)
HELLO, AUTH, ITEM, DELETE, TOUCH, FLUSH = 1, 2, 3, 4, 5, 6
COPY_BEGIN, COPY_END, PING, ACK = 7, 8, 9, 10
MAGIC = 0x52504331
HELLO_AUTH = 0x2
LABEL = b"repcached-auth"


def free_ports(n):
    """Returns n distinct ports free on all three loopback addresses."""
    out = []
    while len(out) < n:
        p = mctest.free_port(A_HOST)
        ok = True
        for h in (B_HOST, C_HOST):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((h, p))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok and p not in out:
            out.append(p)
    return out


def rec(rtype, body):
    return struct.pack(">BI", rtype, len(body)) + body


PROTO_VERSION = 2  # wire format version (doc/replication.md)


def hello(run_id, nonce, flags):
    return rec(HELLO, struct.pack(">IHHQQQI", MAGIC, PROTO_VERSION, 77, run_id, 0, 0,
                                  flags) + nonce)


def item(key, value, version, cas=1, flags=0, exptime=0, origin=77):
    return rec(ITEM, struct.pack(">QHQIIBIB", version, origin, cas, flags,
                                 exptime, len(key), len(value), 0) + key + value)


def decode(data):
    """Splits bytes into [(type, body)]; a trailing partial record is
    returned as type None."""
    out, i = [], 0
    while i + 5 <= len(data):
        t, n = struct.unpack(">BI", data[i:i + 5])
        if i + 5 + n > len(data):
            break
        out.append((t, data[i + 5:i + 5 + n]))
        i += 5 + n
    if i < len(data):
        out.append((None, data[i:]))
    return out


def mac(secret, nonce, run_id):
    return hmac.new(secret, nonce + struct.pack(">Q", run_id) + LABEL,
                    hashlib.sha256).digest()


def recv_all(s, seconds):
    """Reads until EOF or `seconds` pass; returns the bytes."""
    data = b""
    end = time.time() + seconds
    while time.time() < end:
        s.settimeout(max(0.05, end - time.time()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def recv_records(s, want_type, seconds=5.0):
    """Reads until a record of want_type arrived; returns all records."""
    data = b""
    end = time.time() + seconds
    while time.time() < end:
        recs = decode(data)
        if any(t == want_type for t, _ in recs):
            return recs
        s.settimeout(max(0.05, end - time.time()))
        try:
            chunk = s.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return decode(data)


def digest(c, rng=None):
    line = c.cmd("digest" if rng is None else "digest %d %d %d" % rng)
    parts = line.split()
    if len(parts) != 3 or parts[0] != "DIGEST":
        raise ValueError("bad digest reply %r" % line)
    return parts[1], int(parts[2])


def dump(c):
    """Returns {key: (flags, value, cas)} for every key in KEYS."""
    out = {}
    for i in range(0, len(KEYS), 50):
        out.update(c.get_multi("gets " + " ".join(KEYS[i:i + 50])))
    return out


def hammer(d, seed, stop, counts):
    """Random set/delete/append/incr/touch on KEYS until stop is set."""
    rnd = random.Random(seed)
    c = d.client()
    n = 0
    while not stop.is_set():
        k = rnd.choice(KEYS)
        op = rnd.random()
        if op < 0.35:
            v = str(rnd.randrange(1000)) if rnd.random() < 0.7 else \
                "v%d" % rnd.randrange(10 ** 6)
            c.set(k, v, flags=rnd.randrange(4))
        elif op < 0.55:
            c.cmd("delete " + k)
        elif op < 0.75:
            c.store("append", k, str(rnd.randrange(10)))
        elif op < 0.95:
            c.cmd("incr %s %d" % (k, rnd.randrange(1, 100)))
        else:
            c.cmd("touch %s %d" % (k, rnd.choice([0, 3600, 7200])))
        n += 1
    counts[seed] = n
    c.close()


def quiet(a, b, timeout=30.0):
    """Waits until both queues are empty and each node received what the
    other sent. Returns True if that happened in time."""
    end = time.time() + timeout
    while time.time() < end:
        sa, sb = a.client().stats(), b.client().stats()
        if (sa["repl_queue_bytes"] == "0" and sb["repl_queue_bytes"] == "0"
                and sa["repl_items_sent"] == sb["repl_items_received"]
                and sb["repl_items_sent"] == sa["repl_items_received"]):
            return True
        time.sleep(0.1)
    return False


def convergence(secret_file):
    port, rport = free_ports(2)
    common = ["-v", "-o", "repl_secret=" + secret_file]
    a = mctest.Daemon(common + ["-x", B_HOST], host=A_HOST, port=port,
                      repl_port=rport)
    b = mctest.Daemon(common + ["-x", A_HOST], host=B_HOST, port=port,
                      repl_port=rport)
    mctest.check(a.wait_log(r"^replication: start$") and
                 b.wait_log(r"^replication: start$"),
                 "authenticated pair links (replication: start)")
    ca, cb = a.client(), b.client()
    mctest.eq(ca.set("pre", "x"), "STORED", "A: set before hammer")
    end = time.time() + 5
    while cb.get("pre") != b"x" and time.time() < end:
        time.sleep(0.05)
    mctest.eq(cb.get("pre"), b"x", "B: replicated over the secret link")
    ca.cmd("delete pre")

    stop, counts = threading.Event(), {}
    threads = [threading.Thread(target=hammer, args=(d, seed, stop, counts))
               for d, seed in ((a, 1), (b, 2))]
    for t in threads:
        t.start()
    time.sleep(HAMMER_SECONDS)
    stop.set()
    for t in threads:
        t.join()
    print("# hammered: %d ops on A, %d ops on B" % (counts.get(1, 0),
                                                    counts.get(2, 0)))
    mctest.check(counts.get(1, 0) > 1000 and counts.get(2, 0) > 1000,
                 "both clients did real work", repr(counts))
    mctest.check(quiet(a, b), "quiet: queues empty, sent == received")
    ca, cb = a.client(), b.client()
    end = time.time() + 10
    da, db = digest(ca), digest(cb)
    while da != db and time.time() < end:
        time.sleep(0.2)
        da, db = digest(ca), digest(cb)
    mctest.eq(da, db, "digests equal after the hammer")
    fa, fb = dump(ca), dump(cb)
    mctest.check(fa == fb, "full dumps identical (flags, value, cas)",
                 "\n  only differing: %r" % {
                     k: (fa.get(k), fb.get(k)) for k in set(fa) | set(fb)
                     if fa.get(k) != fb.get(k)})
    mctest.eq(da[1], len(fa), "digest item count == live keys")
    mctest.check(0 < len(fa) < 200, "a mix of live and deleted keys",
                 "%d live" % len(fa))
    # ranges add up to the whole (sum mod 2^64)
    h1, n1 = digest(ca, (4, 0, 1))
    h2, n2 = digest(ca, (4, 1, 4))
    mctest.eq(((int(h1, 16) + int(h2, 16)) % 2 ** 64, n1 + n2),
              (int(da[0], 16), da[1]), "digest 4 0 1 + digest 4 1 4 == all")
    mctest.eq(digest(ca, (4, 2, 2)), ("0000000000000000", 0),
              "empty range digest")
    mctest.eq(ca.cmd("digest 4 3 5"), "CLIENT_ERROR bad command line format",
              "bad range refused")
    r = subprocess.run([sys.executable, COMPARE, "%s:%d" % (A_HOST, port),
                        "%s:%d" % (B_HOST, port)], capture_output=True,
                       text=True)
    mctest.eq(r.returncode, 0, "repl-compare: exit 0 when equal")
    mctest.check(r.stdout.count("DIGEST " + da[0]) == 2,
                 "repl-compare prints both digests", r.stdout)
    # a difference is seen: stop B's link by killing it, write on A only
    b.kill()
    a.wait_log(r"^replication: close$")
    # a fresh node (no peer) holds nothing: compare against it
    lone = mctest.Daemon(["-X", "0"], host=B_HOST, port=free_ports(1)[0],
                         repl_port=0)
    r = subprocess.run([sys.executable, COMPARE, "%s:%d" % (A_HOST, port),
                        "%s:%d" % (B_HOST, lone.port), "-p", "4"],
                       capture_output=True, text=True)
    mctest.eq(r.returncode, 1, "repl-compare: exit 1 when different")
    mctest.check("differ" in r.stdout and "part " in r.stdout,
                 "repl-compare names the differing parts", r.stdout)
    a.stop()
    lone.stop()


def fake_peer(node, rport, secret, mode, run_id):
    """Connects to node's replication port as a fake peer. mode: 'wrong'
    (wrong AUTH), 'noauth' (HELLO without the AUTH flag), 'early' (ITEM
    before AUTH), 'right' (the right secret). Sends an ITEM for 'evil-'
    + mode. Returns the records received."""
    s = socket.create_connection((node.host, rport), 3)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    recs = recv_records(s, HELLO, 3)
    node_hello = [b for t, b in recs if t == HELLO]
    nonce = os.urandom(32)
    key = b"evil-" + mode.encode()
    ver = int(time.time() * 1000) << 16
    out = b""
    if mode == "noauth":
        out += hello(run_id, nonce, 0)
    else:
        out += hello(run_id, nonce, HELLO_AUTH)
    if mode == "wrong":
        out += rec(AUTH, os.urandom(32))
    elif mode == "right":
        theirs = node_hello[0][36:68]
        out += rec(AUTH, mac(secret, theirs, run_id))
    out += rec(COPY_BEGIN, struct.pack(">Q", 0))
    out += item(key, b"bad", ver)
    out += rec(COPY_END, struct.pack(">Q", 1))
    try:
        s.sendall(out)
    except OSError:
        pass
    data = recv_all(s, 2.0)
    s.close()
    return recs + decode(data), node_hello, nonce


def security(secret, secret_file):
    port, rport = free_ports(2)
    s = mctest.Daemon(["-v", "-o", "repl_secret=" + secret_file],
                      host=A_HOST, port=port, repl_port=rport)
    c = s.client()
    mctest.eq(c.set("canary", "1"), "STORED", "secret node: a stored item")
    mctest.check(s.wait_log(r"^replication: listen$"), "secret node listens")
    before = digest(c)
    run_id = random.getrandbits(63) | 1
    for mode in ("wrong", "noauth", "early"):
        recs, node_hello, _ = fake_peer(s, rport, secret, mode, run_id)
        types = [t for t, _ in recs]
        mctest.eq(types, [HELLO], "fake peer (%s): only a HELLO arrives"
                  % mode)
        mctest.check(node_hello and struct.unpack(
            ">I", node_hello[0][32:36])[0] & HELLO_AUTH,
            "fake peer (%s): the HELLO announces a secret" % mode)
        mctest.check(s.wait_log(
            r"^replication: reject \(peer=127\.0\.0\.1:\d+, "
            r"authentication failed\)$"),
            "fake peer (%s): reject (authentication failed) logged" % mode)
        mctest.eq(c.get("evil-" + mode), None,
                  "fake peer (%s): its ITEM is not applied" % mode)
        mctest.eq(digest(c), before, "fake peer (%s): store unchanged"
                  % mode)
        time.sleep(0.2)
    mctest.eq(s.log().count("replication: start"), 0,
              "no fake peer was linked")
    # control: the right secret gets AUTH, a copy with the canary, and its
    # ITEM applied
    recs, node_hello, nonce = fake_peer(s, rport, secret, "right", run_id)
    types = [t for t, _ in recs]
    mctest.check(types[:3] == [HELLO, AUTH, COPY_BEGIN],
                 "right secret: HELLO, AUTH, COPY_BEGIN", repr(types))
    node_run = struct.unpack(">Q", node_hello[0][8:16])[0]
    auths = [b for t, b in recs if t == AUTH]
    mctest.check(auths and auths[0] == mac(secret, nonce, node_run),
                 "right secret: the node's AUTH is "
                 "HMAC-SHA256(secret, our nonce || its run id || label)")
    mctest.check(any(t == ITEM and b"canary" in b for t, b in recs),
                 "right secret: the canary arrives in the copy")
    mctest.eq(c.get("evil-right"), b"bad", "right secret: its ITEM applied")
    s.stop()

    # one side with a secret, the other without: both refuse
    port2, rport2 = free_ports(2)
    a = mctest.Daemon(["-v", "-o", "repl_secret=" + secret_file],
                      host=A_HOST, port=port2, repl_port=rport2)
    b = mctest.Daemon(["-v", "-x", A_HOST], host=B_HOST, port=port2,
                      repl_port=rport2)
    mctest.check(a.wait_log(r"^replication: reject \(peer=127\.0\.0\.2:\d+, "
                            r"authentication failed\)$"),
                 "secret vs none: the node with the secret rejects")
    mctest.check(b.wait_log(r"^replication: reject \(peer=127\.0\.0\.1:\d+, "
                            r"peer requires a secret\)$"),
                 "secret vs none: the node without refuses too")
    b.client().set("nosecret", "1")
    time.sleep(1.0)
    mctest.eq(a.client().get("nosecret"), None,
              "secret vs none: nothing replicated")
    mctest.eq(a.log().count("replication: start") +
              b.log().count("replication: start"), 0,
              "secret vs none: never linked")
    a.stop()
    b.stop()

    # different secrets
    other = tempfile.NamedTemporaryFile(prefix="mcsecret-", delete=False)
    other.write(b"another secret\n")
    other.close()
    os.chmod(other.name, 0o600)  # the daemon refuses a file others can read
    port3, rport3 = free_ports(2)
    a = mctest.Daemon(["-v", "-o", "repl_secret=" + secret_file],
                      host=A_HOST, port=port3, repl_port=rport3)
    b = mctest.Daemon(["-v", "-x", A_HOST, "-o", "repl_secret=" + other.name],
                      host=B_HOST, port=port3, repl_port=rport3)
    mctest.check(a.wait_log(r"^replication: reject \(peer=127\.0\.0\.2:\d+, "
                            r"authentication failed\)$"),
                 "different secrets: rejected")
    b.client().set("othersecret", "1")
    time.sleep(1.0)
    mctest.eq(a.client().get("othersecret"), None,
              "different secrets: nothing replicated")
    a.stop()
    b.stop()
    os.unlink(other.name)


def startup_checks(secret_file):
    """Bad secret files stop the daemon; no -x and no secret warns."""
    empty = tempfile.NamedTemporaryFile(prefix="mcsecret-", delete=False)
    empty.write(b"\n")
    empty.close()
    os.chmod(empty.name, 0o600)  # refused for being empty, not for its mode
    for path, name in ((empty.name, "empty"),
                       ("/nonexistent/secret", "missing")):
        cmd = [mctest.BIN, "-l", A_HOST, "-p", str(free_ports(1)[0]), "-U",
               "0", "-X", str(free_ports(1)[0]), "-o", "repl_secret=" + path]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True,
                               timeout=5)
            mctest.check(r.returncode != 0 and "secret" in r.stderr,
                         "%s secret file: refuses to start" % name,
                         "rc=%s %r" % (r.returncode, r.stderr))
        except subprocess.TimeoutExpired:
            mctest.check(False, "%s secret file: refuses to start" % name,
                         "still running")
    os.unlink(empty.name)
    d = mctest.Daemon(["-v"], host=A_HOST, port=free_ports(1)[0],
                      repl_port=free_ports(1)[0])
    mctest.check(d.wait_log(r"no -x peer and no -o repl_secret"),
                 "no -x, no secret: a warning at start")
    d.stop()
    d = mctest.Daemon(["-v", "-o", "repl_secret=" + secret_file],
                      host=A_HOST, port=free_ports(1)[0],
                      repl_port=free_ports(1)[0])
    time.sleep(0.3)
    mctest.eq(d.log().count("no -x peer"), 0, "with a secret: no warning")
    d.stop()


def address_check():
    port, rport = free_ports(2)
    p = mctest.Daemon(["-v", "-x", A_HOST], host=B_HOST, port=port,
                      repl_port=rport)
    mctest.check(p.wait_log(r"^replication: listen$"),
                 "-x 127.0.0.1 node listens (no peer yet)")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((C_HOST, 0))
    s.connect((B_HOST, rport))
    got = recv_all(s, 2.0)
    s.close()
    mctest.eq(got, b"", "from 127.0.0.3: closed without a byte")
    mctest.check(p.wait_log(r"^replication: reject \(peer=127\.0\.0\.3:\d+, "
                            r"not the configured peer\)$"),
                 "from 127.0.0.3: reject (not the configured peer) logged")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((A_HOST, 0))
    s.connect((B_HOST, rport))
    recs = recv_records(s, HELLO, 3)
    s.close()
    mctest.eq([t for t, _ in recs][:1], [HELLO],
              "from 127.0.0.1 (the -x peer): the handshake starts")
    p.stop()


def main():
    secret = b"s3cret for the pair \x01\x02"
    f = tempfile.NamedTemporaryFile(prefix="mcsecret-", delete=False)
    f.write(secret + b"\n")
    f.close()
    os.chmod(f.name, 0o600)  # the daemon refuses a file others can read
    try:
        startup_checks(f.name)
        address_check()
        security(secret, f.name)
        convergence(f.name)
    finally:
        os.unlink(f.name)
    mctest.done()


if __name__ == "__main__":
    main()

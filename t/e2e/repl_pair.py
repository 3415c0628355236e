#!/usr/bin/python3
"""Two replicating daemons on 127.0.0.1 and 127.0.0.2 (same client port,
same replication port): the operator's log lines, every text command
replicated in both directions with identical flags, exptime and cas, a
rejected extra peer, a malformed peer, kill -9 and restart with a full
copy, a full copy of 200,000 items under concurrent writes (both nodes
dumped and compared key by key), and a clean-shutdown drain past a
stopped peer."""
import os
import signal
import socket
import threading
import time

import mctest

A_HOST = "127.0.0.1"
B_HOST = "127.0.0.2"
COPY_ITEMS = int(os.environ.get("REPL_COPY_ITEMS", "200000"))
COMMON = ["-v", "-m", "1024"]


def free_pair_port():
    """Returns a port free on both loopback addresses."""
    return mctest.free_pair_port(A_HOST, B_HOST)


count = mctest.count


wait_count = mctest.wait_count


def start(host, port, rport, peer=None, extra=()):
    args = list(COMMON) + list(extra)
    if peer:
        args += ["-x", peer]
    return mctest.Daemon(args, host=host, port=port, repl_port=rport)


def gets(c, keys):
    """Returns {key: (flags, value, cas)} for keys (batched)."""
    out = {}
    keys = list(keys)
    for i in range(0, len(keys), 100):
        out.update(c.get_multi("gets " + " ".join(keys[i:i + 100])))
    return out


def converge(ca, cb, keys, timeout=10.0):
    """Waits until both nodes return the same gets results for keys;
    returns (a, b) of the last comparison."""
    end = time.time() + timeout
    while True:
        a, b = gets(ca, keys), gets(cb, keys)
        if a == b or time.time() > end:
            return a, b
        time.sleep(0.05)


def same(ca, cb, keys, name, want=None):
    """Checks both nodes agree on keys (and, if given, on want)."""
    a, b = converge(ca, cb, keys)
    ok = mctest.check(a == b, name + ": same on both nodes",
                      "\n  A=%r\n  B=%r" % (a, b))
    if want is not None:
        got = {k: (v[0], v[1]) for k, v in a.items()}
        ok = mctest.eq(got, want, name + ": expected contents") and ok
    return a


def commands(src, dst, tag):
    """Runs every command type on src and checks dst converges. Returns
    the keys whose expiry is checked later, with the wait they need."""
    cs, cd = src.client(), dst.client()
    k = lambda n: "%s_%s" % (tag, n)
    p = "%s->%s" % (src.host, dst.host)

    mctest.eq(cs.set(k("s"), "hello", flags=7), "STORED", p + " set")
    same(cs, cd, [k("s")], p + " set", {k("s"): (7, b"hello")})

    mctest.eq(cs.store("add", k("a"), "new", flags=3), "STORED", p + " add")
    mctest.eq(cs.store("add", k("s"), "x"), "NOT_STORED", p + " add on existing")
    same(cs, cd, [k("a"), k("s")], p + " add",
         {k("a"): (3, b"new"), k("s"): (7, b"hello")})

    mctest.eq(cs.store("replace", k("s"), "world", flags=9), "STORED",
              p + " replace")
    same(cs, cd, [k("s")], p + " replace", {k("s"): (9, b"world")})

    mctest.eq(cs.store("append", k("s"), ">>"), "STORED", p + " append")
    mctest.eq(cs.store("prepend", k("s"), "<<"), "STORED", p + " prepend")
    same(cs, cd, [k("s")], p + " append/prepend", {k("s"): (9, b"<<world>>")})

    cas = gets(cs, [k("s")])[k("s")][2]
    mctest.eq(cs.store("cas", k("s"), "swapped", flags=1, extra=str(cas)),
              "STORED", p + " cas")
    mctest.eq(cs.store("cas", k("s"), "stale", extra=str(cas)), "EXISTS",
              p + " cas with a stale cas")
    got = same(cs, cd, [k("s")], p + " cas", {k("s"): (1, b"swapped")})
    # The replicated cas is usable on the other node too.
    dcas = got.get(k("s"), (0, b"", 0))[2]
    mctest.eq(cd.store("cas", k("s"), "fromdst", flags=1, extra=str(dcas)),
              "STORED",
              p + " cas on the replica with the replicated cas")
    same(cs, cd, [k("s")], p + " cas back", {k("s"): (1, b"fromdst")})

    mctest.eq(cs.set(k("n"), "10"), "STORED", p + " set counter")
    mctest.eq(cs.cmd("incr %s 5" % k("n")), "15", p + " incr")
    mctest.eq(cs.cmd("decr %s 3" % k("n")), "12", p + " decr")
    same(cs, cd, [k("n")], p + " incr/decr", {k("n"): (0, b"12")})

    mctest.eq(cs.cmd("delete %s" % k("a")), "DELETED", p + " delete")
    same(cs, cd, [k("a")], p + " delete", {})

    # Expiry: set with an exptime, touch, gat; checked after a wait.
    mctest.eq(cs.set(k("e"), "short", exptime=2), "STORED", p + " set exptime")
    mctest.eq(cs.set(k("t"), "touched"), "STORED", p + " set for touch")
    mctest.eq(cs.cmd("touch %s 2" % k("t")), "TOUCHED", p + " touch")
    mctest.eq(cs.set(k("g"), "gatted", flags=5), "STORED", p + " set for gat")
    r = cs.get_multi("gat 2 %s" % k("g"))
    mctest.eq(r.get(k("g"), (None, None))[:2], (5, b"gatted"), p + " gat")
    mctest.eq(cs.set(k("keep"), "forever"), "STORED", p + " set no exptime")
    exp = [k("e"), k("t"), k("g")]
    same(cs, cd, exp + [k("keep")], p + " before expiry",
         {k("e"): (0, b"short"), k("t"): (0, b"touched"),
          k("g"): (5, b"gatted"), k("keep"): (0, b"forever")})
    cs.close()
    cd.close()
    return exp, [k("keep")]


def flush_now(src, dst, tag):
    """flush_all (immediate) replicates and later writes still flow."""
    cs, cd = src.client(), dst.client()
    k = lambda n: "%s_%s" % (tag, n)
    p = "%s->%s" % (src.host, dst.host)
    for i in range(5):
        cs.set(k("f%d" % i), "x")
    fk = [k("f%d" % i) for i in range(5)]
    same(cs, cd, fk, p + " before flush_all")
    mctest.eq(cs.cmd("flush_all"), "OK", p + " flush_all")
    same(cs, cd, fk + [k("s"), k("n"), k("keep")], p + " flush_all", {})
    mctest.eq(cs.set(k("after"), "y"), "STORED", p + " set after flush_all")
    same(cs, cd, [k("after")], p + " set after flush_all",
         {k("after"): (0, b"y")})
    cs.close()
    cd.close()


def delayed_flush(src, dst):
    """flush_all with a delay: items stay until then, on both nodes."""
    cs, cd = src.client(), dst.client()
    p = "%s->%s" % (src.host, dst.host)
    keys = ["df_%d" % i for i in range(5)]
    for key in keys:
        cs.set(key, "v")
    same(cs, cd, keys, p + " before delayed flush_all")
    mctest.eq(cs.cmd("flush_all 2"), "OK", p + " flush_all 2")
    a = same(cs, cd, keys, p + " right after flush_all 2")
    mctest.eq(len(a), 5, p + " items still there before the delay")
    time.sleep(3.1)
    same(cs, cd, keys, p + " flush_all 2 after the delay", {})
    cs.close()
    cd.close()


def main():
    port = free_pair_port()
    rport = free_pair_port()

    # -- startup: A listens, B connects --------------------------------------
    a = start(A_HOST, port, rport)
    mctest.check(a.wait_log(r"^replication: listen$"), "A: replication: listen")
    b = start(B_HOST, port, rport, peer=A_HOST)
    mctest.check(b.wait_log(r"^replication: connect \(peer=127\.0\.0\.1:%d\)$"
                            % rport), "B: replication: connect (peer=A:port)")
    mctest.check(a.wait_log(r"^replication: accept$"), "A: replication: accept")
    mctest.check(a.wait_log(r"^replication: start$"), "A: replication: start")
    mctest.check(b.wait_log(r"^replication: start$"), "B: replication: start")
    mctest.eq(count(b, "replication: listen"), 0, "B did not need to listen")
    st = a.client().stats()
    mctest.eq(st.get("repl_state"), "online", "A: stats repl_state")
    mctest.eq(st.get("repl_role"), "accepted", "A: stats repl_role")
    st = b.client().stats("replication")
    mctest.eq(st.get("repl_role"), "connected", "B: stats repl_role")
    mctest.eq(st.get("repl_peer"), "%s:%d" % (A_HOST, rport), "B: repl_peer")

    # -- a second peer is refused ---------------------------------------------
    s = socket.create_connection((A_HOST, rport), 2)
    mctest.check(a.wait_log(r"^replication: reject \(peer=127\.0\.0\.1:\d+, "
                            r"already linked\)$"),
                 "A: a second peer is rejected and logged")
    s.settimeout(2)
    try:
        mctest.eq(s.recv(10), b"", "A: the extra connection is closed")
    except OSError as e:
        mctest.check(False, "A: the extra connection is closed", repr(e))
    s.close()
    mctest.eq(count(a, "replication: close"), 0, "the real link survived")

    # -- every command, both directions --------------------------------------
    exp1, keep1 = commands(a, b, "ab")
    exp2, keep2 = commands(b, a, "ba")
    time.sleep(2.5)
    ca, cb = a.client(), b.client()
    same(ca, cb, exp1 + exp2, "exptime/touch/gat expired on both nodes", {})
    same(ca, cb, keep1 + keep2, "items without exptime kept",
         {keep1[0]: (0, b"forever"), keep2[0]: (0, b"forever")})
    flush_now(a, b, "ab")
    flush_now(b, a, "ba")
    delayed_flush(a, b)
    delayed_flush(b, a)

    # -- kill -9 A: B closes, listens, serves --------------------------------
    mctest.eq(cb.set("while_down", "1", flags=2), "STORED", "B: write before")
    same(ca, cb, ["while_down"], "replicated before the kill")
    a.kill()
    mctest.check(wait_count(b, "replication: close", 1),
                 "B: replication: close after kill -9")
    mctest.check(wait_count(b, "replication: listen", 1),
                 "B: replication: listen after kill -9")
    cb = b.client()
    mctest.eq(cb.set("down1", "during", flags=4), "STORED",
              "B serves while A is down")
    mctest.eq(cb.get("down1"), b"during", "B: read while A is down")
    time.sleep(2.2)
    mctest.eq(count(b, "replication: listen"), 1,
              "B retries quietly (no log line per attempt)")

    # -- garbage on the replication port closes only that link ---------------
    s = socket.create_connection((B_HOST, rport), 2)
    s.sendall(b"\xff" * 64)
    mctest.check(wait_count(b, "replication: close", 2),
                 "B: malformed peer input closes the link")
    s.close()
    mctest.eq(cb.get("down1"), b"during", "B still serves after garbage")

    # -- restart A with -x B: connect, full copy, start ----------------------
    a = start(A_HOST, port, rport, peer=B_HOST)
    mctest.check(a.wait_log(r"^replication: connect \(peer=127\.0\.0\.2:%d\)$"
                            % rport), "A (restarted): replication: connect")
    mctest.check(a.wait_log(r"^replication: start$"),
                 "A (restarted): replication: start")
    mctest.check(wait_count(b, "replication: marugoto copying", 1),
                 "B: replication: marugoto copying")
    mctest.check(wait_count(b, "replication: start", 2),
                 "B: replication: start again")
    ca = a.client()
    same(ca, cb, ["while_down", "down1"], "A got the full copy",
         {"while_down": (2, b"1"), "down1": (4, b"during")})
    mctest.eq(cb.set("after_restart", "z"), "STORED", "B: write after restart")
    same(ca, cb, ["after_restart"], "live stream after restart",
         {"after_restart": (0, b"z")})

    # -- full copy of many items under concurrent writes ---------------------
    a.kill()
    wait_count(b, "replication: close", 3)
    cb = b.client(timeout=30)
    t0 = time.time()
    val = b"v" * 100
    batch = []
    for i in range(COPY_ITEMS):
        batch.append(b"set c%d %d 0 %d noreply\r\n%s\r\n"
                     % (i, i % 65536, len(val), val))
        if len(batch) == 2000:
            cb.send(b"".join(batch))
            batch = []
    cb.send(b"".join(batch))
    mctest.eq(cb.cmd("get c%d" % (COPY_ITEMS - 1)).split(" ")[:2],
              ["VALUE", "c%d" % (COPY_ITEMS - 1)], "loaded %d items into B"
              % COPY_ITEMS)
    cb.readline(), cb.readline()
    print("# loaded %d items in %.2f s" % (COPY_ITEMS, time.time() - t0))

    written = set()
    stop = threading.Event()

    def writer():
        w = b.client(timeout=30)
        i = 0
        while not stop.is_set():
            key = "w%d" % i if i % 2 else "c%d" % (i * 7 % COPY_ITEMS)
            w.set(key, "new%d" % i, flags=i % 100)
            written.add(key)
            i += 1
        w.close()

    th = threading.Thread(target=writer)
    th.start()
    starts_b = count(b, "replication: start")
    t0 = time.time()
    a = start(A_HOST, port, rport, peer=B_HOST)
    ok = a.wait_log(r"^replication: start$", timeout=120)
    copy_s = time.time() - t0
    mctest.check(ok, "A: full copy of %d items done" % COPY_ITEMS)
    wait_count(b, "replication: start", starts_b + 1, timeout=60)
    time.sleep(0.5)
    stop.set()
    th.join()
    print("# full copy of %d items + %d concurrent writes: %.2f s"
          % (COPY_ITEMS, len(written), copy_s))
    mctest.check(len(written) > 100, "writes went on during the copy",
                 "only %d" % len(written))
    ca, cb = a.client(timeout=30), b.client(timeout=30)
    keys = ["c%d" % i for i in range(COPY_ITEMS)] + sorted(written)
    keys = sorted(set(keys))
    da, db = converge(ca, cb, keys, timeout=30)
    missing = [k for k in keys if k not in da]
    diff = [k for k in keys if da.get(k) != db.get(k)]
    mctest.eq(len(db), len(keys), "B holds every key")
    mctest.eq(missing[:5], [], "A holds every key")
    mctest.eq(diff[:5], [], "both dumps equal key by key (%d keys)"
              % len(keys))
    st = b.client().stats("replication")
    print("# B: copy of %s items encoded and queued in %s ms; "
          "repl_items_sent=%s repl_bytes_sent=%s repl_full_copies=%s"
          % (st.get("repl_copy_items_sent"), st.get("repl_copy_ms"),
             st.get("repl_items_sent"), st.get("repl_bytes_sent"),
             st.get("repl_full_copies")))

    # -- a stopped peer times out; the link comes back after SIGCONT --------
    ca.close()
    cb.close()
    closes_b, starts_b = count(b, "replication: close"), count(
        b, "replication: start")
    starts_a = count(a, "replication: start")
    a.send_signal(signal.SIGSTOP)
    t0 = time.time()
    ok = wait_count(b, "replication: close", closes_b + 1, timeout=8)
    mctest.check(ok, "B: close after the stopped peer's heartbeat timeout")
    took = time.time() - t0
    # Silence counts from the last PING (up to 1 s before the stop) and is
    # checked once a second: 3 s of silence shows up 2 to 5 s after it.
    mctest.check(1.9 <= took <= 5.5, "timeout after about 3 s",
                 "%.2f s" % took)
    cb = b.client()
    mctest.eq(cb.set("stopped1", "s"), "STORED", "B serves while A stopped")
    a.send_signal(signal.SIGCONT)
    mctest.check(wait_count(a, "replication: start", starts_a + 1, 10) and
                 wait_count(b, "replication: start", starts_b + 1, 10),
                 "relinked after SIGCONT (full copy, start)")
    ca = a.client()
    same(ca, cb, ["stopped1"], "write made while A was stopped arrived",
         {"stopped1": (0, b"s")})

    # -- clean shutdown drains past a stopped peer ---------------------------
    ca.close()
    cb.close()
    a.send_signal(signal.SIGSTOP)
    cb = b.client(timeout=30)
    big = os.urandom(50000).hex().encode()  # 100 KB
    t0 = time.time()
    for i in range(100):
        cb.send(b"set drain%d 0 0 %d noreply\r\n%s\r\n" % (i, len(big), big))
    mctest.eq(cb.cmd("get nothing_here"), "END", "10 MB written to B")
    cb.close()
    b.send_signal(signal.SIGINT)
    time.sleep(1.5)
    a.send_signal(signal.SIGCONT)
    try:
        rc = b.proc.wait(20)
    except Exception:
        rc = None
    mctest.eq(rc, 0, "B exits cleanly after the drain")
    print("# drain: %.2f s from the first write to B's exit"
          % (time.time() - t0))
    ca = a.client(timeout=30)
    got = gets(ca, ["drain%d" % i for i in range(100)])
    mctest.eq(sum(1 for v in got.values() if v[1] == big), 100,
              "every write acknowledged before shutdown reached A")
    mctest.check(a.wait_log(r"^replication: close$"), "A: close after B left")
    mctest.check(wait_count(a, "replication: listen", 1),
                 "A: listen after B left")

    # -- a queue over -q closes the link; the reconnect copies everything ----
    starts_a = count(a, "replication: start")
    b = start(B_HOST, port, rport, peer=A_HOST, extra=["-q", "50"])
    mctest.check(b.wait_log(r"^replication: start$", timeout=60) and
                 wait_count(a, "replication: start", starts_a + 1, 60),
                 "B (-q 50) linked to A")
    a.send_signal(signal.SIGSTOP)
    cb = b.client(timeout=30)
    v = b"q" * 10000
    for i in range(3000):
        cb.send(b"set q%d 0 0 %d noreply\r\n%s\r\n" % (i, len(v), v))
    mctest.eq(cb.cmd("get nothing_here"), "END", "30 MB written to B")
    mctest.check(b.wait_log(r"^replication: queue overflow", timeout=5),
                 "B: queue overflow logged")
    mctest.check(wait_count(b, "replication: close", 1, 5),
                 "B: overflow closes the link")
    a.send_signal(signal.SIGCONT)
    mctest.check(wait_count(b, "replication: start", 2, 30) and
                 wait_count(a, "replication: start", starts_a + 2, 30),
                 "B relinks after the overflow")
    ca = a.client(timeout=30)
    keys = ["q%d" % i for i in range(3000)]
    got = same(ca, cb, keys, "every write made past the overflow arrived")
    mctest.eq(len(got), 3000, "all 3000 keys present on both nodes")
    mctest.done()


if __name__ == "__main__":
    main()

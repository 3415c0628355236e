#!/usr/bin/python3
"""Synchronous replication (-o repl_sync) on a pair on 127.0.0.1 and
127.0.0.2: a write acknowledged by one node is already readable on the
other; kill -9 of the writer under load loses no acknowledged write; a
stopped peer costs one sync timeout, then writes go on asynchronously
(logged, counted) until the peer is back and the sync resumes; reads are
never held; a client closing or a shutdown while its write is held is
clean; without -o repl_sync nothing waits for the peer."""
import signal
import threading
import time

import mctest

A_HOST = "127.0.0.1"
B_HOST = "127.0.0.2"
COMMON = ["-v", "-m", "256"]
FALLBACK = "replication: sync timeout, falling back to async"
GONE = "replication: peer gone, sync falls back to async"
RESUMED = "replication: sync mode resumed"


def free_pair_port():
    """Returns a port free on both loopback addresses."""
    return mctest.free_pair_port(A_HOST, B_HOST)


count = mctest.count


wait_count = mctest.wait_count


def wait_stat(d, name, want, timeout=10.0):
    """Waits until d's stats show name == want; returns the last value."""
    end = time.time() + timeout
    c = d.client()
    try:
        while True:
            got = c.stats().get(name)
            if got == want or time.time() > end:
                return got
            time.sleep(0.02)
    finally:
        c.close()


def pair(extra, name):
    """Starts A (-x B) and B (-x A) with extra args on both and waits until
    they are linked (and, with -o repl_sync, until the sync is on)."""
    port, rport = free_pair_port(), free_pair_port()
    a = mctest.Daemon(COMMON + extra + ["-x", B_HOST], host=A_HOST,
                      port=port, repl_port=rport)
    b = mctest.Daemon(COMMON + extra + ["-x", A_HOST], host=B_HOST,
                      port=port, repl_port=rport)
    ok = (a.wait_log(r"^replication: start$", 20) and
          b.wait_log(r"^replication: start$", 20))
    mctest.check(ok, name + ": pair linked")
    if any("repl_sync" in x for x in extra):
        mctest.eq(wait_stat(a, "repl_sync", "on"), "on",
                  name + ": A stats repl_sync on")
        mctest.eq(wait_stat(b, "repl_sync", "on"), "on",
                  name + ": B stats repl_sync on")
    return a, b


def timed(fn, *args):
    """Returns (result, seconds) of fn(*args)."""
    t0 = time.monotonic()
    r = fn(*args)
    return r, time.monotonic() - t0


def read_after_write():
    """(1) Each acknowledged write is readable on the peer at once."""
    a, b = pair(["-o", "repl_sync"], "read-after-write")
    ca, cb = a.client(), b.client()
    n, stored, missing = 500, 0, []
    for i in range(n):
        key, val = "raw%d" % i, "value-%d" % i
        if ca.set(key, val, flags=i % 7) == "STORED":
            stored += 1
        got = cb.get_multi("get " + key)
        if got.get(key) != (i % 7, val.encode(), None):
            missing.append((key, got.get(key)))
    mctest.eq(stored, n, "A: %d sets acknowledged" % n)
    mctest.eq(missing[:5], [], "every key readable on B right after A's "
              "STORED (%d missing)" % len(missing))

    # The other direction, and every kind of write.
    mctest.eq(cb.set("rb", "from-b"), "STORED", "B: set")
    mctest.eq(ca.get("rb"), b"from-b", "A reads B's write at once")
    mctest.eq(ca.set("cnt", "10"), "STORED", "A: set counter")
    mctest.eq(ca.cmd("incr cnt 5"), "15", "A: incr")
    mctest.eq(cb.get("cnt"), b"15", "B sees the incr at once")
    mctest.eq(ca.cmd("delete raw2"), "DELETED", "A: delete")
    mctest.eq(cb.get("raw2"), None, "B sees the delete at once")
    mctest.eq(ca.store("append", "raw3", "+"), "STORED", "A: append")
    mctest.eq(cb.get("raw3"), b"value-3+", "B sees the append at once")

    # A pipelined batch: sets, a get in the middle and a noreply set; all
    # answers come in order once the peer has applied the batch.
    ca.send(b"set p1 0 0 1\r\na\r\nget p1\r\nset p2 0 0 1 noreply\r\nb\r\n"
            b"set p3 0 0 1\r\nc\r\n")
    replies = [ca.readline() for _ in range(5)]
    mctest.eq(replies, ["STORED", "VALUE p1 0 1", "a", "END", "STORED"],
              "pipelined batch answered in order")
    mctest.eq(cb.get_multi("get p1 p2 p3"),
              {"p1": (0, b"a", None), "p2": (0, b"b", None),
               "p3": (0, b"c", None)},
              "B holds the whole batch once it is answered")
    # A set followed by quit: answered, then closed.
    q = a.client()
    q.send(b"set q1 0 0 2\r\nqq\r\nquit\r\n")
    mctest.eq(q.readline(), "STORED", "set + quit: answered before close")
    q.close()
    mctest.eq(cb.get("q1"), b"qq", "set + quit: on B")

    st = ca.stats()
    mctest.eq(st.get("repl_sync_fallbacks"), "0", "A: no fallback")
    mctest.eq(st.get("repl_sync_waiting"), "0", "A: nothing waiting")
    mctest.eq(ca.stats("settings").get("repl_sync"), "yes",
              "A: stats settings repl_sync yes")
    for d in (a, b):
        mctest.eq(d.stop(), 0, "%s exits cleanly" % d.host)


def kill_under_load():
    """(2) kill -9 the writer under load: no acknowledged write is lost."""
    a, b = pair(["-o", "repl_sync"], "kill -9")
    acked = [[] for _ in range(6)]
    errors = []
    stop = threading.Event()

    def writer(t):
        try:
            c = a.client(timeout=10)
            i = 0
            while not stop.is_set():
                key = "k%d_%d" % (t, i)
                if c.set(key, "v%d" % i) != "STORED":
                    errors.append(key)
                    return
                acked[t].append(key)
                i += 1
        except (OSError, EOFError):
            return  # A killed

    ths = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
    for th in ths:
        th.start()
    time.sleep(1.5)
    st = a.client().stats()
    a.kill()
    stop.set()
    for th in ths:
        th.join(15)
    keys = [k for l in acked for k in l]
    mctest.check(len(keys) > 200, "writes were acknowledged under load",
                 "only %d" % len(keys))
    mctest.eq(errors, [], "no failed set")
    mctest.eq(st.get("repl_sync_fallbacks"), "0",
              "A stayed in sync mode under load")
    print("# %d writes acknowledged before kill -9" % len(keys))
    cb = b.client(timeout=30)
    present = {}
    for i in range(0, len(keys), 100):
        present.update(cb.get_multi("get " + " ".join(keys[i:i + 100])))
    lost = [k for k in keys if k not in present]
    mctest.eq(len(lost), 0, "every acknowledged key is on B (lost: %s)"
              % lost[:5])
    mctest.check(b.wait_log("^replication: close$"), "B: close after kill")
    mctest.eq(b.stop(), 0, "B exits cleanly")


def held_write(d, key, result):
    """Sets key on d and stores (reply, seconds) in result."""
    c = d.client(timeout=10)
    result.append(timed(c.set, key, "held"))
    c.close()


def stopped_peer():
    """(3) SIGSTOP the peer: one timeout, then async; SIGCONT: resumed."""
    a, b = pair(["-o", "repl_sync", "-o", "repl_sync_timeout=1000"],
                "stopped peer")
    ca = a.client(timeout=10)
    mctest.eq(ca.set("before", "1"), "STORED", "A: write while synced")
    b.send_signal(signal.SIGSTOP)
    try:
        res = []
        th = threading.Thread(target=held_write, args=(a, "first", res))
        th.start()
        time.sleep(0.3)
        # While that write is held: reads and stats are answered at once.
        r, took = timed(ca.get, "before")
        mctest.eq(r, b"1", "a read is answered while a write is held")
        mctest.check(took < 0.2, "the read is not held", "%.3f s" % took)
        mctest.eq(ca.stats().get("repl_sync_waiting"), "1",
                  "stats: one connection waiting")
        # A client that gives up while its write is held.
        g = a.client()
        g.send(b"set gaveup 0 0 1\r\nx\r\n")
        time.sleep(0.05)
        g.sock.close()
        th.join(10)
        reply, took = res[0] if res else (None, 0)
        mctest.eq(reply, "STORED", "the first write after the stop is "
                  "answered")
        mctest.check(0.95 <= took <= 2.5, "it took about the sync timeout",
                     "%.3f s" % took)
        print("# first write after SIGSTOP: %.3f s" % took)
        mctest.check(a.wait_log("^" + FALLBACK + "$", 2),
                     "A: fallback logged")
        slow = []
        for i in range(20):
            r, took = timed(ca.set, "after%d" % i, "x")
            if r != "STORED" or took > 0.2:
                slow.append((r, round(took, 3)))
        mctest.eq(slow, [], "the following writes are answered at once")
        st = ca.stats()
        mctest.eq(st.get("repl_sync_fallbacks"), "1", "fallback counted")
        mctest.eq(st.get("repl_sync"), "off", "stats: repl_sync off")
        mctest.eq(st.get("repl_sync_waiting"), "0", "nothing waiting")
        mctest.eq(count(a, FALLBACK), 1, "fallback logged once")
        # Past the heartbeat timeout the link closes: no second line.
        mctest.check(a.wait_log("^replication: close$", 8),
                     "A: link closed while B is stopped")
        mctest.eq(count(a, GONE), 0, "no second fallback line")
    finally:
        b.send_signal(signal.SIGCONT)
    mctest.check(a.wait_log("^" + RESUMED + "$", 20),
                 "A: sync mode resumed after SIGCONT")
    mctest.eq(wait_stat(a, "repl_sync", "on"), "on", "stats: repl_sync on")
    cb = b.client()
    for i in range(20):
        ca.set("after%d" % i, "x")  # answered before: now on B too
    mctest.eq(cb.get("after19"), b"x", "async writes reached B")
    mctest.eq(ca.set("resumed", "r"), "STORED", "A: write after resume")
    mctest.eq(cb.get("resumed"), b"r", "B has it at once again")

    # kill -9 B while synced: "peer gone" releases and is logged once.
    res = []
    b.send_signal(signal.SIGSTOP)
    th = threading.Thread(target=held_write, args=(a, "gone", res))
    th.start()
    time.sleep(0.3)
    b.kill()
    th.join(10)
    reply, took = res[0] if res else (None, 0)
    mctest.eq(reply, "STORED", "a write held when the peer dies is "
              "answered")
    mctest.check(took < 0.9, "released by the link going down, before the "
                 "timeout", "%.3f s" % took)
    mctest.check(a.wait_log("^" + GONE + "$", 2), "A: peer gone logged")
    mctest.eq(ca.stats().get("repl_sync_fallbacks"), "2",
              "second fallback counted")
    r, took = timed(ca.set, "alone", "1")
    mctest.check(r == "STORED" and took < 0.2, "A alone answers at once",
                 "%r %.3f s" % (r, took))
    mctest.eq(a.stop(), 0, "A exits cleanly")


def shutdown_while_held():
    """A shutdown while a write is held closes the held client cleanly."""
    a, b = pair(["-o", "repl_sync", "-o", "repl_sync_timeout=20000"],
                "shutdown while held")
    b.send_signal(signal.SIGSTOP)
    try:
        c = a.client(timeout=10)
        c.send(b"set held 0 0 1\r\nx\r\n")
        time.sleep(0.3)
        mctest.eq(wait_stat(a, "repl_sync_waiting", "1"), "1",
                  "a write is held")
        a.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        a.send_signal(signal.SIGTERM)  # "again: exiting now"
        try:
            rc = a.proc.wait(10)
        except Exception:
            rc = None
        mctest.eq(rc, 0, "A exits cleanly with a client held")
        c.close()
    finally:
        b.send_signal(signal.SIGCONT)
    b.stop()


def async_unchanged():
    """(4) Without -o repl_sync a stopped peer delays nothing."""
    a, b = pair([], "async")
    ca = a.client()
    st = ca.stats()
    mctest.eq(st.get("repl_sync"), "off", "stats: repl_sync off")
    mctest.eq(ca.stats("settings").get("repl_sync"), "no",
              "stats settings: repl_sync no")
    b.send_signal(signal.SIGSTOP)
    try:
        slow = []
        t0 = time.monotonic()
        for i in range(50):
            r, took = timed(ca.set, "as%d" % i, "x")
            if r != "STORED" or took > 0.2:
                slow.append((r, round(took, 3)))
        mctest.eq(slow, [], "writes answered at once with the peer stopped")
        print("# 50 async writes with the peer stopped: %.3f s"
              % (time.monotonic() - t0))
        mctest.eq(count(a, FALLBACK), 0, "no fallback line")
        mctest.eq(ca.stats().get("repl_sync_fallbacks"), "0",
                  "no fallback counted")
    finally:
        b.send_signal(signal.SIGCONT)
    cb = b.client()
    end = time.time() + 10
    while cb.get("as49") is None and time.time() < end:
        time.sleep(0.05)
    mctest.eq(cb.get("as49"), b"x", "the writes reached B afterwards")
    for d in (a, b):
        mctest.eq(d.stop(), 0, "%s exits cleanly" % d.host)


def main():
    read_after_write()
    kill_under_load()
    stopped_peer()
    shutdown_while_held()
    async_unchanged()
    mctest.done()


if __name__ == "__main__":
    main()

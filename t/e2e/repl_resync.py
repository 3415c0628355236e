#!/usr/bin/python3
"""Partial resync from the replication backlog.

1. A pair on 127.0.0.1/127.0.0.2 (default 64 MB backlog). B is stopped
   (SIGSTOP) past the 3 s heartbeat timeout, so A declares the link dead;
   A keeps taking writes; after SIGCONT the link comes back with a
   partial resync (log line and stats on A, no new full copy), and both
   `digest`s are equal.
2. The same with -o repl_backlog=65536 and ~2 MB written to A while B is
   stopped: the backlog overflows, A does a full copy instead, the
   digests are equal and repl_backlog_overflows > 0.
"""
import re
import signal
import time

import mctest

A_HOST = "127.0.0.1"
B_HOST = "127.0.0.2"
COMMON = ["-v", "-m", "256"]


def free_pair_port():
    """Returns a port free on both loopback addresses."""
    return mctest.free_pair_port(A_HOST, B_HOST)


def count(d, pattern):
    """Counts log lines matching the regex pattern."""
    return len(re.findall(pattern, d.log(), re.M))


def wait_count(d, pattern, n, timeout=15.0):
    """Waits until pattern matches at least n log lines."""
    end = time.time() + timeout
    while time.time() < end:
        if count(d, pattern) >= n:
            return True
        time.sleep(0.02)
    return False


def digest(c):
    line = c.cmd("digest")
    parts = line.split()
    if len(parts) != 3 or parts[0] != "DIGEST":
        raise ValueError("bad digest reply %r" % line)
    return parts[1], int(parts[2])


def same_digest(a, b, name, timeout=15.0):
    """Waits until both nodes' digests agree; checks it."""
    ca, cb = a.client(), b.client()
    end = time.time() + timeout
    while True:
        da, db = digest(ca), digest(cb)
        if da == db or time.time() > end:
            break
        time.sleep(0.1)
    ca.close()
    cb.close()
    return mctest.check(da == db, name, "A=%r B=%r" % (da, db))


def pair(extra=()):
    """Starts A and B linked; returns (a, b)."""
    port, rport = free_pair_port(), free_pair_port()
    args = list(COMMON) + list(extra)
    a = mctest.Daemon(args + ["-x", B_HOST], host=A_HOST, port=port,
                      repl_port=rport)
    b = mctest.Daemon(args + ["-x", A_HOST], host=B_HOST, port=port,
                      repl_port=rport)
    mctest.check(wait_count(a, r"^replication: start$", 1) and
                 wait_count(b, r"^replication: start$", 1), "pair linked")
    return a, b


def stop_past_timeout(a, b):
    """SIGSTOPs B until A closes the link (heartbeat timeout)."""
    closes = count(a, r"^replication: close$")
    b.send_signal(signal.SIGSTOP)
    mctest.check(wait_count(a, r"^replication: close$", closes + 1, 10),
                 "A closes the link to the stopped B")


def write(c, prefix, n, size):
    v = b"v" * size
    for i in range(n):
        c.send(b"set %s%d 0 0 %d noreply\r\n%s\r\n"
               % (prefix.encode(), i, len(v), v))
    mctest.eq(c.cmd("get nothing_here"), "END", "%d writes done" % n)


def test_partial():
    a, b = pair()
    ca, cb = a.client(), b.client()
    write(ca, "before", 200, 100)
    write(cb, "bfromb", 50, 100)
    same_digest(a, b, "partial: digests equal before the stop")
    full_a = int(ca.stats("replication")["repl_full_copies"])
    starts_a = count(a, r"^replication: start$")
    starts_b = count(b, r"^replication: start$")
    stop_past_timeout(a, b)
    write(ca, "during", 300, 200)
    mctest.eq(ca.cmd("delete before7"), "DELETED", "delete while B stopped")
    b.send_signal(signal.SIGCONT)
    mctest.check(wait_count(a, r"^replication: start$", starts_a + 1) and
                 wait_count(b, r"^replication: start$", starts_b + 1),
                 "partial: relinked after SIGCONT")
    mctest.check(a.wait_log(r"^replication: partial resync from offset "
                            r"[1-9][0-9]*$"),
                 "A: partial resync from offset N logged")
    mctest.check(b.wait_log(r"^replication: partial resync from offset "
                            r"[1-9][0-9]*$"),
                 "B: partial resync of its own direction logged")
    mctest.eq(count(a, r"^replication: full copy \(.*\)$"), 1,
              "A: only the first link was a full copy")
    same_digest(a, b, "partial: digests equal after the resync")
    ca = a.client()
    st = ca.stats("replication")
    mctest.eq(st.get("repl_partial_resyncs"), "1", "A: repl_partial_resyncs")
    mctest.eq(st.get("repl_last_sync"), "partial", "A: repl_last_sync")
    mctest.eq(int(st.get("repl_full_copies", "-1")), full_a,
              "A: no new full copy")
    mctest.check(int(st.get("repl_backlog_bytes", "0")) > 60000,
                 "A: repl_backlog_bytes counts the live records",
                 st.get("repl_backlog_bytes"))
    mctest.eq(st.get("repl_backlog_overflows"), "0",
              "A: no backlog overflow")
    mctest.eq(ca.get("during299"), b"v" * 200, "A has the last write")
    cb = b.client()
    mctest.eq(cb.get("during299"), b"v" * 200, "B got the last write")
    mctest.eq(cb.get("before7"), None, "B got the delete")
    # Live replication still works both ways after the resync.
    mctest.eq(cb.set("afterb", "x"), "STORED", "write on B after resync")
    mctest.eq(ca.set("aftera", "y"), "STORED", "write on A after resync")
    same_digest(a, b, "partial: digests equal after more writes")
    a.stop()
    b.stop()


def test_overflow():
    a, b = pair(["-o", "repl_backlog=65536"])
    ca = a.client()
    write(ca, "before", 100, 100)
    same_digest(a, b, "overflow: digests equal before the stop")
    fulls = count(a, r"^replication: full copy \(.*backlog\)$")
    starts_a = count(a, r"^replication: start$")
    stop_past_timeout(a, b)
    write(ca, "during", 2000, 1000)
    b.send_signal(signal.SIGCONT)
    mctest.check(wait_count(a, r"^replication: start$", starts_a + 1),
                 "overflow: relinked after SIGCONT")
    mctest.check(wait_count(a, r"^replication: full copy \(.*backlog\)$",
                            fulls + 1),
                 "A: full copy (offset fell out of the backlog) logged")
    same_digest(a, b, "overflow: digests equal after the full copy")
    st = a.client().stats("replication")
    mctest.check(int(st.get("repl_backlog_overflows", "0")) > 0,
                 "A: repl_backlog_overflows > 0",
                 st.get("repl_backlog_overflows"))
    mctest.eq(st.get("repl_last_sync"), "full", "A: repl_last_sync")
    mctest.check(int(st.get("repl_backlog_bytes", "-1")) <= 65536,
                 "A: backlog within repl_backlog",
                 st.get("repl_backlog_bytes"))
    a.stop()
    b.stop()


def main():
    test_partial()
    test_overflow()
    mctest.done()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Times a full copy ("marugoto copying") of N items of 100 B to a fresh
peer, and the CPU time each node spends on it.

    MEMCACHED_BIN=build/memcached bench/copy_time.py [N] [ROUNDS]

Node A (127.0.0.1) is loaded with N items; node B (127.0.0.2, -x A) is
started and the clock runs until B logs "replication: start". Prints one
line per round and the median. No load generator runs at the same time
(bench/run measures the copy under client load)."""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "t", "lib"))
import mctest  # noqa: E402


def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def one(n):
    port, rport = mctest.free_port(), mctest.free_port()
    a = mctest.Daemon(["-v", "-m", "1024"], host="127.0.0.1", port=port,
                      repl_port=rport)
    c = a.client(timeout=120)
    val = b"v" * 100
    for i in range(0, n, 5000):
        c.send(b"".join(b"set key:%08d 0 0 100 noreply\r\n" % j + val +
                        b"\r\n" for j in range(i, min(n, i + 5000))))
    c.cmd("version")
    ca = cpu(a.proc.pid)
    t0 = time.time()
    b = mctest.Daemon(["-v", "-m", "1024", "-x", "127.0.0.1"],
                      host="127.0.0.2", port=port, repl_port=rport)
    ok = b.wait_log(r"replication: start", timeout=120)
    secs = time.time() - t0
    items = int(b.client().stats()["curr_items"])
    res = (secs, cpu(a.proc.pid) - ca, cpu(b.proc.pid), ok and items == n)
    mctest.cleanup()
    return res


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    times = []
    for r in range(rounds):
        secs, ca, cb, ok = one(n)
        print("round %d: copy of %d items: %.3f s (all items: %s); CPU: "
              "source %.2f s, peer %.2f s" % (r + 1, n, secs, ok, ca, cb))
        if ok:
            times.append(secs)
    if times:
        print("median: %.3f s over %d rounds; load average %s" % (
            statistics.median(times), len(times),
            open("/proc/loadavg").read().split()[0]))
    sys.exit(0 if len(times) == rounds else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""libmemcached's load tools against one node of a replicated pair on
127.0.0.1 and 127.0.0.2: memcaslap --verify with single gets, with
--division=20 multigets and with --binary, then memcslap's set and get
tests (text and binary). memcaslap's keys hold bytes below 0x20, which
memcached takes as part of a text key: every run must see no error and no
verify failure, and its gets must hit. Afterwards both nodes must hold the
same data (the replication wire carries those keys too). Each run is
bounded by an operation count and a time limit. Skips (77) when
memcaslap or memcslap is missing."""
import re
import shutil
import subprocess
import sys
import time

import mctest

A_HOST = "127.0.0.1"
B_HOST = "127.0.0.2"
OPS = 20000          # operations per memcaslap run
RUN_LIMIT = 120      # seconds a tool run may take before it counts as hung
SLAP_KEYS = 2000     # memcslap: keys per thread
SLAP_THREADS = 4


def pair():
    """Starts A (-x B) and B (-x A) and waits until they are linked."""
    port = mctest.free_pair_port(A_HOST, B_HOST)
    rport = mctest.free_pair_port(A_HOST, B_HOST)
    a = mctest.Daemon(["-v", "-m", "256", "-x", B_HOST], host=A_HOST,
                      port=port, repl_port=rport)
    b = mctest.Daemon(["-v", "-m", "256", "-x", A_HOST], host=B_HOST,
                      port=port, repl_port=rport)
    ok = (a.wait_log(r"^replication: start$", 20) and
          b.wait_log(r"^replication: start$", 20))
    mctest.check(ok, "pair linked")
    return a, b


def run(name, argv):
    """Runs one tool; returns (exit status, output), None on a hang."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=RUN_LIMIT)
    except subprocess.TimeoutExpired:
        mctest.check(False, name + ": finished within %d s" % RUN_LIMIT)
        return None
    out = p.stdout.decode("latin-1")
    return p.returncode, out


def get_hits(d):
    """Returns the daemon's get_hits counter."""
    c = d.client()
    try:
        return int(c.stats()["get_hits"])
    finally:
        c.close()


def memcaslap(d, name, extra):
    """One memcaslap --verify run against d, checked from its report."""
    before = get_hits(d)
    r = run(name, ["memcaslap", "-s", "%s:%d" % (d.host, d.port),
                   "--verify=0.1", "--execute_number=%d" % OPS,
                   "--threads=2", "--concurrency=16"] + extra)
    if r is None:
        return
    rc, out = r
    mctest.eq(rc, 0, name + ": exit status")
    stats = {k: int(v) for k, v in
             re.findall(r"^(cmd_get|cmd_set|get_misses|verify_misses|"
                        r"verify_failed): (\d+)$", out, re.M)}
    for k in ("cmd_get", "cmd_set", "get_misses", "verify_misses",
              "verify_failed"):
        if not mctest.check(k in stats, name + ": reports " + k, out[-2000:]):
            return
    errors = [l for l in out.splitlines() if "ERROR" in l]
    mctest.eq(errors[:5], [], name + ": no error replies")
    mctest.eq(stats["verify_failed"], 0, name + ": verify_failed")
    mctest.eq(stats["verify_misses"], 0, name + ": verify_misses")
    mctest.check(stats["cmd_set"] > 0, name + ": sets ran",
                 "cmd_set %d" % stats["cmd_set"])
    hits = stats["cmd_get"] - stats["get_misses"]
    mctest.check(hits > 0, name + ": gets hit (memcaslap)",
                 "cmd_get %d get_misses %d" % (stats["cmd_get"],
                                               stats["get_misses"]))
    mctest.check(get_hits(d) > before, name + ": gets hit (server stats)")


def memcslap(d, name, test, extra=()):
    """One memcslap run (--test=set or get) against d."""
    before = get_hits(d)
    r = run(name, ["memcslap", "--servers=%s:%d" % (d.host, d.port),
                   "--concurrency=%d" % SLAP_THREADS,
                   "--execute-number=%d" % SLAP_KEYS,
                   "--test=%s" % test] + list(extra))
    if r is None:
        return
    rc, out = r
    mctest.eq(rc, 0, name + ": exit status")
    mctest.check(re.search(r"^Time to %s\s+\d+ keys" % test, out, re.M)
                 is not None, name + ": report", out[-2000:])
    bad = [l for l in out.splitlines()
           if re.search(r"error|fail", l, re.I)]
    mctest.eq(bad[:5], [], name + ": no errors")
    if test == "get":
        got = get_hits(d) - before
        mctest.check(got >= SLAP_KEYS * SLAP_THREADS,
                     name + ": every get hit (server stats)",
                     "get_hits +%d" % got)


def digest(d):
    """Returns d's content digest line."""
    c = d.client()
    try:
        return c.cmd("digest")
    finally:
        c.close()


def converged(a, b, timeout=30.0):
    """Waits until both nodes report the same digest; returns both."""
    end = time.time() + timeout
    while True:
        da, db = digest(a), digest(b)
        if da == db or time.time() > end:
            return da, db
        time.sleep(0.2)


def main():
    missing = [t for t in ("memcaslap", "memcslap") if not shutil.which(t)]
    if missing:
        print("skip - not installed: %s (libmemcached-tools)"
              % " ".join(missing))
        return 77
    a, b = pair()
    memcaslap(a, "memcaslap get", [])
    memcaslap(a, "memcaslap multiget", ["--division=20"])
    memcaslap(a, "memcaslap binary", ["--binary"])
    memcslap(a, "memcslap set", "set")
    memcslap(a, "memcslap get", "get")
    memcslap(a, "memcslap binary get", "get", ["--binary"])
    da, db = converged(a, b)
    mctest.eq(db, da, "both nodes hold the same data")
    n = int(da.split()[2]) if da.startswith("DIGEST ") else 0
    mctest.check(n > 0, "the data is not empty", da)
    mctest.done()


if __name__ == "__main__":
    sys.exit(main())

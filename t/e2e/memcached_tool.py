#!/usr/bin/python3
"""Debian's memcached-tool against a node of a replicated pair, in every
mode: display (and move, which this version of the tool only parses),
stats, settings, sizes, keys and dump (both through "lru_crawler
metadump"), with and without a limit. The keys are written on A and read
back through B; a dump of B fed to a fresh daemon restores every key,
value and flag. Also: a metadump of a big store whose client reads
nothing does not hold up another client. Skips (77) when memcached-tool
or perl is missing."""
import os
import re
import shutil
import subprocess
import sys
import time

import mctest

A_HOST = "127.0.0.1"
B_HOST = "127.0.0.2"
NKEYS = 300
BIG_STORE = 60000


def find_tool():
    """Returns the path of memcached-tool, or None."""
    for p in ("/usr/share/memcached/scripts/memcached-tool",
              shutil.which("memcached-tool") or ""):
        if p and os.access(p, os.R_OK):
            return p
    try:
        out = subprocess.run(["dpkg", "-L", "memcached"], capture_output=True,
                             text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if line.endswith("/memcached-tool") and os.access(line, os.R_OK):
            return line
    return None


def key_name(i):
    """Keys with characters metadump must percent-encode (':', '%', '/')."""
    return "tool:%d/%s" % (i, "p%25" if i % 7 == 0 else "k")


def value_of(i):
    return ("v%d-" % i) * (1 + i % 40)


def run_tool(tool, addr, *args):
    """Runs memcached-tool; returns (exit status, stdout, stderr)."""
    p = subprocess.run(["perl", tool, addr] + list(args), capture_output=True,
                       timeout=120)
    return (p.returncode, p.stdout.decode("latin-1"),
            p.stderr.decode("latin-1"))


def wait_key(c, key, want, timeout=10.0):
    """Waits until key reads as want on c."""
    end = time.time() + timeout
    while time.time() < end:
        if c.get(key) == want:
            return True
        time.sleep(0.05)
    return False


def check_display(out, name, nkeys):
    mctest.check("Item_Size" in out and "Max_age" in out and "Evicted" in out,
                 "%s: the slab table header" % name, out[:300])
    total = 0
    rows = 0
    for line in out.splitlines()[1:]:
        f = line.split()
        if len(f) >= 9 and f[0].isdigit():
            rows += 1
            total += int(f[4])
    mctest.check(rows >= 1, "%s: at least one class row" % name, out[:500])
    mctest.eq(total, nkeys, "%s: the Count column adds up to the keys" % name)


def parse_dump(out):
    """Parses "add <key> <flags> <exp> <len>\\r\\n<value>\\r\\n" records."""
    recs = {}
    data = out.encode("latin-1")
    pos = 0
    while pos < len(data):
        nl = data.index(b"\r\n", pos)
        head = data[pos:nl].decode("latin-1").split(" ")
        if head[0] != "add" or len(head) != 5:
            raise ValueError("bad dump line %r" % head)
        n = int(head[4])
        val = data[nl + 2:nl + 2 + n]
        recs[head[1]] = (int(head[2]), int(head[3]), val)
        pos = nl + 2 + n + 2
    return recs


def main():
    tool = find_tool()
    if tool is None or shutil.which("perl") is None:
        print("skip - memcached-tool or perl not installed")
        sys.exit(77)

    port = mctest.free_pair_port(A_HOST, B_HOST)
    rport = mctest.free_pair_port(A_HOST, B_HOST)
    a = mctest.Daemon(["-x", "%s:%d" % (B_HOST, rport)], host=A_HOST,
                      port=port, repl_port=rport)
    b = mctest.Daemon(["-x", "%s:%d" % (A_HOST, rport)], host=B_HOST,
                      port=port, repl_port=rport)
    ca = a.client(timeout=20)
    cb = b.client(timeout=20)
    keys = {}
    stored = 0
    for i in range(NKEYS):
        k = key_name(i)
        v = value_of(i).encode()
        exp = 3600 if i % 3 == 0 else 0
        stored += ca.store("set", k, v, flags=i, exptime=exp) == "STORED"
        keys[k] = (i, exp, v)
    mctest.eq(stored, NKEYS, "every key stored on A")
    last = key_name(NKEYS - 1)
    mctest.check(wait_key(cb, last, keys[last][2]),
                 "the keys written on A reach B")
    mctest.eq(int(cb.stats()["curr_items"]), NKEYS, "B holds every key")
    addr = "%s:%d" % (B_HOST, port)

    # display, and move (parsed, then the same table)
    rc, out, err = run_tool(tool, addr)
    mctest.eq(rc, 0, "display: exit 0")
    check_display(out, "display", NKEYS)
    rc, out2, err = run_tool(tool, addr, "display")
    mctest.eq(rc, 0, "display (named): exit 0")
    check_display(out2, "display (named)", NKEYS)
    rc, out, err = run_tool(tool, addr, "move", "7", "8")
    mctest.eq(rc, 0, "move 7 8: exit 0")
    check_display(out, "move 7 8", NKEYS)

    # stats
    rc, out, err = run_tool(tool, addr, "stats")
    mctest.eq(rc, 0, "stats: exit 0")
    st = {}
    for line in out.splitlines()[1:]:
        f = line.split()
        if len(f) == 2:
            st[f[0]] = f[1]
    mctest.check(out.startswith("#" + addr), "stats: header names the node",
                 out[:100])
    mctest.eq(st.get("curr_items"), str(NKEYS), "stats: curr_items")
    mctest.check(int(st.get("cmd_set", "-1")) >= 0 and "uptime" in st and
                 "lru_crawler_running" in st,
                 "stats: general counters listed", repr(sorted(st)[:20]))

    # settings
    rc, out, err = run_tool(tool, addr, "settings")
    mctest.eq(rc, 0, "settings: exit 0")
    se = {}
    for line in out.splitlines()[1:]:
        f = line.split()
        if len(f) == 2:
            se[f[0]] = f[1]
    mctest.eq(se.get("lru_crawler"), "yes", "settings: lru_crawler yes")
    mctest.eq(se.get("maxbytes"), str(64 * 1024 * 1024), "settings: maxbytes")
    mctest.eq(se.get("tcpport"), str(port), "settings: tcpport")

    # sizes
    rc, out, err = run_tool(tool, addr, "sizes")
    mctest.eq(rc, 0, "sizes: exit 0")
    mctest.check(re.search(r"^\s*sizes_status\s+disabled\r?$", out, re.M)
                 is not None, "sizes: sizes_status disabled", out[:300])

    # keys: every key once, decoded names, exptimes and classes
    rc, out, err = run_tool(tool, addr, "keys")
    mctest.eq(rc, 0, "keys: exit 0")
    got = {}
    ok_format = True
    for line in out.splitlines():
        m = re.match(r"^key=(\S+) exp=(-?\d+) la=(\d+) cas=(\d+) "
                     r"fetch=(yes|no) cls=(\d+) size=(\d+)$", line)
        if not m:
            ok_format = False
            continue
        name = re.sub(r"%(..)", lambda x: chr(int(x.group(1), 16)),
                      m.group(1))
        got[name] = int(m.group(2))
    mctest.check(ok_format, "keys: every line in metadump's format",
                 out[:300])
    mctest.eq(sorted(got), sorted(keys), "keys: every key, decoded")
    bad_exp = [k for k, (i, exp, v) in keys.items()
               if (exp == 0) != (got.get(k) == -1)]
    mctest.eq(bad_exp, [], "keys: exp=-1 exactly for keys without exptime")
    rc, out, err = run_tool(tool, addr, "keys", "10")
    mctest.eq(rc, 0, "keys 10: exit 0")
    mctest.eq(len([l for l in out.splitlines() if l.startswith("key=")]), 10,
              "keys 10: ten keys")

    # dump: add records for every key, restored into a fresh node
    rc, out, err = run_tool(tool, addr, "dump")
    mctest.eq(rc, 0, "dump: exit 0")
    mctest.check("Dumping memcache contents" in err, "dump: banner on stderr",
                 err[:200])
    recs = parse_dump(out)
    mctest.eq(sorted(recs), sorted(keys), "dump: one add per key")
    wrong = [k for k, (fl, exp, v) in recs.items()
             if fl != keys[k][0] or v != keys[k][2] or
             (exp == 0) != (keys[k][1] == 0)]
    mctest.eq(wrong, [], "dump: flags, values and exptimes")
    fresh = mctest.Daemon([])
    cf = fresh.client(timeout=20)
    cf.send(out.encode("latin-1"))
    replies = [cf.readline() for _ in range(len(recs))]
    mctest.eq(replies.count("STORED"), NKEYS,
              "dump fed to a fresh node: every add STORED")
    mctest.eq(int(cf.stats()["curr_items"]), NKEYS, "fresh node: curr_items")
    restored = [k for k, (i, exp, v) in keys.items()
                if cf.get_multi("get " + k).get(k, (None, None))[:2] ==
                (i, v)]
    mctest.eq(len(restored), NKEYS, "fresh node: every key, flag and value")
    ttl = cf.cmd("mg %s t" % key_name(0))
    mctest.check(re.match(r"^HD t(\d+)$", ttl) is not None and
                 0 < int(ttl.split("t")[1]) <= 3600,
                 "fresh node: a restored key keeps its exptime", ttl)
    rc, out, err = run_tool(tool, addr, "dump", "5")
    mctest.eq(rc, 0, "dump 5: exit 0")
    mctest.eq(len(parse_dump(out)), 5, "dump 5: five records")
    rc, out, err = run_tool(tool, addr, "dump", "0")
    mctest.check(rc != 0 and "invalid limit" in err,
                 "dump 0: refused", "rc %d %r" % (rc, err[:200]))

    # A node answers keys the same way
    rc, out, err = run_tool(tool, "%s:%d" % (A_HOST, port), "keys")
    mctest.eq(len([l for l in out.splitlines() if l.startswith("key=")]),
              NKEYS, "keys on A: every key")

    # A metadump of a big store, whose client reads nothing, does not hold
    # up another client; read in full afterwards it lists every item.
    buf = bytearray()
    for i in range(BIG_STORE):
        buf += b"set big%d 0 0 1 noreply\r\nx\r\n" % i
    cf.send(bytes(buf))
    mctest.eq(cf.cmd("version").split(" ")[0], "VERSION", "big store loaded")
    dumper = fresh.client(timeout=30)
    dumper.send("lru_crawler metadump all\r\n")
    other = fresh.client(timeout=10)
    mctest.eq(other.get("big7"), b"x", "another client is served meanwhile")
    mctest.eq(other.cmd("lru_crawler metadump all"),
              "BUSY currently processing crawler request",
              "a second metadump meanwhile: BUSY")
    # metadump lines end in "\n" (memcached's format), then "END\r\n"
    while not (dumper.buf.endswith(b"\nEND\r\n") or dumper.buf == b"END\r\n"):
        dumper._fill()
    lines = dumper.buf.split(b"\n")[:-2]
    dumper.buf = b""
    n = sum(1 for l in lines if l.startswith(b"key=big") or
            l.startswith(b"key=tool"))
    mctest.eq(n, BIG_STORE + NKEYS, "the big metadump lists every item")
    mctest.eq(dumper.cmd("version").split(" ")[0], "VERSION",
              "the dumping client goes on after END")
    mctest.eq(other.cmd("mg foo v\r\nlru_crawler metadump all"), "EN",
              "pipelined: the earlier answer")
    mctest.eq(other.readline(),
              "ERROR cannot pipeline other commands before metadump",
              "pipelined metadump refused")

    for c in (ca, cb, cf, dumper, other):
        c.close()
    mctest.done()


if __name__ == "__main__":
    main()

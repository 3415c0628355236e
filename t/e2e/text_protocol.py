#!/usr/bin/python3
"""Differential test of the text protocol: every conversation below is run
against our daemon and against Debian's memcached, and the replies must be
byte for byte the same (cas uniques are compared by shape, not value)."""
import re
import socket
import time

import mctest

SENTINEL = b"set __sentinel__ 0 0 8\r\nSENTINEL\r\nget __sentinel__\r\n"
SENTINEL_REPLY = b"STORED\r\nVALUE __sentinel__ 0 8\r\nSENTINEL\r\nEND\r\n"

CASES = [
    # the seed's telnet conversation
    b"set key 0 0 2\r\nxi\r\nget key\r\n",
    b"set a 1 0 1\r\n1\r\nset b 2 0 2\r\n22\r\nget a b c a\r\n",
    b"add a 0 0 1\r\nx\r\nadd newkey 5 0 3\r\nnew\r\nget newkey\r\n",
    b"replace missing 0 0 1\r\nx\r\nreplace a 7 0 2\r\nrr\r\nget a\r\n",
    b"append missing 0 0 1\r\nx\r\nprepend missing 0 0 1\r\nx\r\n",
    b"set ap 3 0 2\r\nmm\r\nappend ap 9 0 2\r\n>>\r\nprepend ap 9 0 2\r\n<<\r\nget ap\r\n",
    b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nget n\r\n",
    b"set n 0 0 2\r\n10\r\ndecr n 1\r\nget n\r\nincr n 1\r\nget n\r\n",
    b"set big 0 0 20\r\n18446744073709551615\r\nincr big 1\r\nget big\r\n",
    b"set big 0 0 20\r\n18446744073709551614\r\nincr big 3\r\n",
    b"set s 0 0 3\r\nabc\r\nincr s 1\r\ndecr s 1\r\n",
    b"incr nokey 1\r\ndecr nokey 1\r\n",
    b"incr n -1\r\nincr n abc\r\nincr n\r\nincr n 18446744073709551616\r\n",
    b"set d 0 0 1\r\nx\r\ndelete d\r\ndelete d\r\nget d\r\n",
    b"set d 0 0 1\r\nx\r\ndelete d 0\r\ndelete d 1\r\ndelete d noreply\r\ndelete d 0 noreply\r\ndelete\r\n",
    b"set t 0 0 1\r\nx\r\ntouch t 100\r\ntouch nope 100\r\ntouch t abc\r\n",
    b"set g 4 0 2\r\ngg\r\ngat 100 g nope\r\ngats 100 g\r\ngat abc g\r\ngat 10\r\n",
    b"set x 0 0 1\r\nx\r\nflush_all\r\nget x\r\nset x 0 0 1\r\ny\r\nget x\r\n",
    b"flush_all noreply\r\nflush_all 0\r\nflush_all abc\r\nflush_all 0 noreply\r\n",
    b"bogus\r\n\r\nGET x\r\nset\r\nget\r\n",
    b"set k 0 0 2\r\nabc\r\nget k\r\n",
    b"set k 0 0 -1\r\n",
    b"set k abc 0 1\r\nx\r\n",
    b"set k 0 0 1 noreply\r\nx\r\nget k\r\n",
    b"add k 0 0 1 noreply\r\ny\r\nget k\r\nreplace k 0 0 1 noreply\r\nz\r\nget k\r\n",
    b"set exp 0 -1 1\r\nx\r\nget exp\r\n",
    b"set exp 0 1000000000 1\r\nx\r\nget exp\r\n",
    b"set v 0 0 0\r\n\r\nget v\r\n",
    b"set f 4294967295 0 1\r\nx\r\nget f\r\nset f 4294967296 0 1\r\nx\r\n",
    b"get " + b"k" * 250 + b"\r\nget " + b"k" * 251 + b"\r\n",
    b"set " + b"k" * 251 + b" 0 0 1\r\nx\r\n",
    b"set " + b"k" * 250 + b" 0 0 1\r\nx\r\nget " + b"k" * 250 + b"\r\n",
    b"cas nokey 0 0 1 1\r\nx\r\ncas k 0 0 1\r\nx\r\ncas k 0 0 1 abc\r\nx\r\n",
    b"verbosity 1\r\nverbosity\r\nverbosity 0 noreply\r\nverbosity x\r\nverbosity noreply\r\nverbosity foo bar my\r\n",
    b"set f 18446744073709551615 0 1\r\nx\r\nget f\r\nflush_all -1\r\ngat\r\ngat abc\r\n",
    b"set f 0 0 1\r\n1\r\ndecr f 1\r\nget f\r\nset f 0 0 2\r\n10\r\ndecr f 1\r\nincr f 100\r\nget f\r\n",
    b"set big 0 0 2000000\r\n" + b"x" * 2000000 + b"\r\nget big\r\n",
    b"set p 0 0 1\r\na\r\nget p\r\n" * 50,
    b"set crlf 0 0 1\nx\r\nget crlf\n",
    b"shutdown\r\nshutdown foo\r\nshutdown a b\r\n",
    b"flush_all 0 0\r\nverbosity 1 2 3\r\ntouch a b c d\r\nincr a 1 2 3\r\ndelete a b c d e\r\n",
    b"set a 0 0 1 noreply x\r\ncache_memlimit 10 20 30\r\n",
    b"cache_memlimit 100\r\ncache_memlimit abc\r\ncache_memlimit 1\r\n",
    b"stats bogus\r\n",
    b"stats reset\r\n",
    b"touch\r\ntouch k\r\nincr\r\n",
    b"get a  b\r\nget  a\r\n",
]

CAS_RE = re.compile(rb"^(VALUE \S+ \d+ \d+) \d+\r$", re.M)


def converse(port, data):
    """Sends data then the sentinel; returns every reply byte before it."""
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(10)
    s.sendall(data + SENTINEL)
    buf = b""
    while not buf.endswith(SENTINEL_REPLY):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    s.close()
    if buf.endswith(SENTINEL_REPLY):
        buf = buf[: -len(SENTINEL_REPLY)]
    return CAS_RE.sub(rb"\1 CAS\r", buf)


def prepare(port):
    c = mctest.Client("127.0.0.1", port)
    c.cmd("flush_all")
    c.set("__sentinel__", "SENTINEL")
    c.close()


def cas_conversation(port):
    c = mctest.Client("127.0.0.1", port)
    out = [c.set("ck", "v1")]
    cas = c.get_multi("gets ck")["ck"][2]
    out.append(c.store("cas", "ck", "v2", extra=str(cas + 1000)))
    out.append(c.store("cas", "ck", "v3", extra=str(cas)))
    out.append(c.store("cas", "ck", "v4", extra=str(cas)))
    out.append(c.get("ck"))
    newcas = c.get_multi("gets ck")["ck"][2]
    out.append(newcas != cas)
    out.append(c.cmd("delete ck"))
    out.append(c.store("cas", "ck", "v5", extra=str(newcas)))
    c.close()
    return out


def expiry_conversation(port):
    c = mctest.Client("127.0.0.1", port)
    out = [c.set("e1", "x", exptime=1), c.set("e2", "y", exptime=100)]
    out.append(c.cmd("touch e2 1"))
    out.append(sorted(c.get_multi("get e1 e2").keys()))
    c.close()
    return out


# Lines whose values legitimately differ between two daemons (or between
# a single-threaded daemon and a threaded one). bytes_read and
# bytes_written also count the stats replies, whose lines differ; when an
# expired item is reclaimed depends on memcached's crawler thread.
STATS_OWN_VALUES = {"pid", "uptime", "time", "version", "rusage_user",
                    "rusage_system", "threads", "connection_structures",
                    "tcpport", "num_threads", "reserved_fds",
                    "lru_maintainer_juggles", "total_connections",
                    "bytes_read", "bytes_written", "reclaimed",
                    "crawler_reclaimed", "crawler_items_checked",
                    "expired_unfetched",
                    # when the LRU maintainer runs (a thread in memcached,
                    # a 10-ms step here) decides these
                    "moves_to_cold", "moves_to_warm", "moves_within_lru",
                    # memcached caches read buffers and response objects
                    # per worker thread (4 of them) and frees them on its
                    # own schedule; we have one thread and our own buffers
                    "read_buf_count", "read_buf_bytes", "read_buf_bytes_free",
                    "response_obj_count", "response_obj_bytes",
                    # our item header (64 bytes) is not memcached's, so an
                    # item's size differs by a few bytes
                    "bytes",
                    # memcached prints its worker thread count (-t) here,
                    # as in num_threads; we have one thread
                    "num_threads_per_udp",
                    # a command that finds a dead item counts it here, but
                    # background work may reclaim it first (memcached's LRU
                    # maintainer thread, our 10-ms crawl): when it runs
                    # decides these, as for reclaimed
                    "get_expired", "get_flushed",
                    # items a tail pull found in use by another thread:
                    # how memcached's threads interleave
                    "lrutail_reflocked"}
# Settings that Debian's memcached prints because of its build options
# (TLS, extstore).
BUILD_OPTION_SETTINGS = ("ssl_", "ext_")
# Per-class items counters that follow from the same conversation.
# mem_requested is left out: our item header (64 bytes) is not memcached's.
ITEMS_VALUES = {"number", "evicted", "evicted_nonzero",
                "outofmemory", "tailrepairs", "evicted_unfetched",
                "evicted_active", "direct_reclaims"}


def stats_group(c, group):
    """Returns ({name: value}, last line) of "stats <group>"."""
    c.send(("stats %s" % group).strip() + "\r\n")
    out = {}
    while True:
        line = c.readline()
        if line in ("END", "ERROR") or not line.startswith("STAT "):
            return out, line
        _, k, v = line.split(" ", 2)
        out[k] = v


def compare_stats(c1, c2):
    """After the same conversations, our stats (c1) against memcached's
    (c2): every name memcached prints, and the same values where they
    follow from the conversation."""
    for group in ("", "settings", "items", "slabs", "sizes", "conns"):
        name = ("stats " + group).strip()
        a, la = stats_group(c1, group)
        b, lb = stats_group(c2, group)
        mctest.eq(la, "END", name + ": ends with END")
        mctest.eq(lb, "END", name + ": memcached ends with END")
        if group in ("", "settings"):
            missing = sorted(k for k in set(b) - set(a)
                             if not k.startswith(BUILD_OPTION_SETTINGS))
            mctest.check(not missing, name + ": every name memcached has",
                         "missing %s" % missing)
            diff = {k: (a[k], b[k]) for k in b
                    if k in a and k not in STATS_OWN_VALUES and a[k] != b[k]}
            mctest.check(not diff, name + ": same values as memcached",
                         "(ours, memcached) %r" % diff)
        elif group == "items":
            mctest.eq(sorted(a), sorted(b), name + ": same names")
            diff = {k: (a[k], b.get(k)) for k in a
                    if k.split(":")[-1] in ITEMS_VALUES and a[k] != b.get(k)}
            mctest.check(not diff, name + ": same counts as memcached",
                         "(ours, memcached) %r" % diff)
        elif group == "slabs":
            # Class ids follow from the chunk sizes: the same sizes give
            # the same classes, hence the same names.
            mctest.eq(sorted(a), sorted(b), name + ": same names")
            sizes = {k: (a[k], b.get(k)) for k in a
                     if k.endswith(":chunk_size") and a[k] != b.get(k)}
            mctest.check(not sizes, name + ": same chunk sizes",
                         "(ours, memcached) %r" % sizes)
            for k in ("active_slabs", "total_malloced"):
                mctest.eq(a.get(k), b.get(k), "%s: %s" % (name, k))
        elif group == "sizes":
            mctest.eq(a, b, name + ": same as memcached")
        elif group == "conns":
            # One client here; memcached also lists its listeners.
            fields_a = {k.split(":", 1)[1] for k in a}
            fields_b = {k.split(":", 1)[1] for k in b}
            mctest.eq(sorted(fields_a), sorted(fields_b),
                      name + ": same fields")



def main():
    mctest.need_reference()
    ours = mctest.Daemon(["-m", "64"])
    ref = mctest.Daemon(["-m", "64"], binary=mctest.DEBIAN_MEMCACHED)
    for i, case in enumerate(CASES):
        prepare(ours.port)
        prepare(ref.port)
        got = converse(ours.port, case)
        want = converse(ref.port, case)
        mctest.check(got == want, "case %d: %r" % (i, case[:60]),
                     "\n  ours: %r\n  memcached: %r" % (got[:300], want[:300]))
    mctest.eq(cas_conversation(ours.port), cas_conversation(ref.port),
              "cas conversation")
    a = expiry_conversation(ours.port)
    b = expiry_conversation(ref.port)
    time.sleep(2.2)
    c1, c2 = ours.client(), ref.client()
    mctest.eq(sorted(c1.get_multi("get e1 e2").keys()),
              sorted(c2.get_multi("get e1 e2").keys()), "expiry after 2 s")
    # ask both, so that cmd_get and get_misses stay comparable
    mctest.eq((c1.get_multi("get e1 e2"), c2.get_multi("get e1 e2")),
              ({}, {}), "both expired")
    mctest.eq(a, b, "expiry conversation")
    mctest.check(c1.cmd("version").startswith("VERSION 1.6"), "version line")
    compare_stats(c1, c2)
    mctest.done()


if __name__ == "__main__":
    main()

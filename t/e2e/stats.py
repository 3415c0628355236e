#!/usr/bin/python3
"""Stats, side by side with Debian's memcached 1.6.18 (/usr/bin/memcached):
the same requests (text, binary and meta) sent to both give the same
general stats field set and the same command counters; "stats settings"
has every field of memcached's but those of features we do not have;
"stats detail dump" is the same; "stats reset" zeroes the same counters.
Meta requests count in the general stats as in memcached, and, as in
memcached, not in the per-prefix ones. Then a pair: writes replicated
from A count in B's repl_applied_* and not in B's cmd_set, delete_hits or
cmd_touch."""
import os
import socket
import struct
import sys
import time

import mctest

MEMCACHED = "/usr/bin/memcached"
# the options of memcached's t/stats.t: no LRU crawler or maintainer thread
OPTS = ["-I", "1024", "-o", "slab_chunk_max=1024,no_lru_crawler,no_lru_maintainer"]

# "stats settings" fields of memcached features we do not have (extstore,
# TLS, the logger's watchers, NAPI ids, a memory file, the segmented LRU's
# tuning, slab_chunk_max) are not printed.
SETTINGS_ABSENT = {
    "watcher_logbuf_size", "worker_logbuf_size", "read_buf_mem_limit",
    "slab_chunk_max", "slab_automove_ratio", "slab_automove_freeratio",
    "tail_repair_time", "hot_lru_pct", "warm_lru_pct", "hot_max_factor",
    "warm_max_factor", "num_napi_ids", "memory_file",
}

# counters that must be equal after the same requests
COUNTERS = [
    "cmd_get", "cmd_set", "cmd_flush", "cmd_touch", "get_hits", "get_misses",
    "get_expired", "delete_misses", "delete_hits", "incr_misses", "incr_hits",
    "decr_misses", "decr_hits", "cas_misses", "cas_hits", "cas_badval",
    "touch_hits", "touch_misses", "store_too_large", "store_no_memory",
    "curr_items", "total_items", "evictions", "reclaimed",
    "listen_disabled_num", "accepting_conns",
    "rejected_connections", "limit_maxbytes",
]


def bin_req(op, key=b"", ext=b"", val=b"", opaque=0, cas=0):
    """Encodes one binary protocol request."""
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(ext), 0, 0,
                       len(key) + len(ext) + len(val), opaque, cas) + \
        ext + key + val


def bin_read(s):
    """Reads one binary response; returns (opcode, status, key, value)."""
    hdr = b""
    while len(hdr) < 24:
        d = s.recv(24 - len(hdr))
        if not d:
            raise RuntimeError("binary: connection closed")
        hdr += d
    _, op, klen, elen, _, status, blen, _, _ = struct.unpack(">BBHBBHIIQ", hdr)
    body = b""
    while len(body) < blen:
        d = s.recv(blen - len(body))
        if not d:
            raise RuntimeError("binary: connection closed")
        body += d
    return op, status, body[elen:elen + klen], body[elen + klen:]


def binary_requests(d):
    """set, get hit, get miss, delete and stat "detail dump" in binary."""
    s = socket.create_connection((d.host, d.port), 5)
    s.sendall(bin_req(0x01, b"pfx:bin", struct.pack(">II", 0, 0), b"vv"))
    bin_read(s)
    s.sendall(bin_req(0x00, b"pfx:bin"))
    bin_read(s)
    s.sendall(bin_req(0x00, b"pfx:nope"))
    bin_read(s)
    s.sendall(bin_req(0x04, b"pfx:bin"))
    bin_read(s)
    s.sendall(bin_req(0x01, b"n", struct.pack(">II", 0, 0), b"7"))
    bin_read(s)
    incr = struct.pack(">QQI", 1, 0, 0xffffffff)
    s.sendall(bin_req(0x05, b"n", incr))  # incr hit
    bin_read(s)
    s.sendall(bin_req(0x06, b"nn", incr))  # decr miss
    bin_read(s)
    s.sendall(bin_req(0x1C, b"n", struct.pack(">I", 100)))  # touch hit
    bin_read(s)
    s.sendall(bin_req(0x1D, b"nn", struct.pack(">I", 100)))  # gat miss
    bin_read(s)
    s.sendall(bin_req(0x1D, b"n", struct.pack(">I", 100)))  # gat hit
    bin_read(s)
    s.sendall(bin_req(0x01, b"n", struct.pack(">II", 0, 0), b"8", cas=1))
    bin_read(s)  # cas mismatch
    s.sendall(bin_req(0x10, b"detail dump"))
    dump = {}
    while True:
        _, status, k, v = bin_read(s)
        if status != 0 or not k:
            break
        dump[k] = v
    s.close()
    return dump


def requests(c):
    """The same text and meta requests for both servers."""
    c.cmd("stats detail on")
    c.set("pfx:a", b"1")
    c.set("pfx:b", b"x")
    c.get_multi("get pfx:a pfx:b pfx:none other")
    c.get_multi("gets pfx:a")
    c.cmd("incr pfx:a 5")
    c.cmd("incr missing 1")
    c.cmd("decr pfx:a 1")
    c.cmd("decr missing 1")
    c.cmd("touch pfx:b 100")
    c.cmd("touch missing 100")
    c.get_multi("gat 100 pfx:b missing")
    c.cmd("delete pfx:b")
    c.cmd("delete pfx:b")
    c.send(b"cas pfx:a 0 0 1 1\r\nz\r\n")
    c.readline()
    c.send(b"cas missing 0 0 1 1\r\nz\r\n")
    c.readline()
    c.send(b"set big 0 0 2048\r\n" + b"B" * 2048 + b"\r\n")
    c.readline()
    c.cmd("mn")
    c.send(b"ms pfx:m 2\r\nhi\r\n")
    c.readline()
    c.send(b"mg pfx:m v\r\n")
    c.readline()
    c.readline()
    c.send(b"mg pfx:nothing v\r\n")
    c.readline()
    c.cmd("md pfx:m")
    c.cmd("ma pfx:a")
    c.cmd("ma missing")
    c.cmd("ma pfx:a MD")
    c.cmd("mg pfx:a T30")
    c.cmd("mg missing T30")
    c.cmd("mg pfx:a s")
    c.cmd("md missing")
    c.send(b"ms pfx:a 1 C1\r\nq\r\n")
    c.readline()


def collect(d):
    """Runs every request against d; returns its stats."""
    c = d.client()
    requests(c)
    bdump = binary_requests(d)
    gen = c.stats()
    settings = c.stats("settings")
    c.send(b"stats detail dump\r\n")
    dump = []
    while True:
        line = c.readline()
        if line in (b"END", "END") or not line:
            break
        dump.append(line)
    c.cmd("stats reset")
    reset = c.stats()
    c.set("sized", b"x" * 100)
    items = {k.split(":", 2)[2] for k in c.stats("items")}
    slabs = {k.split(":", 1)[-1] for k in c.stats("slabs")}
    c.close()
    return gen, settings, dump, bdump, reset, items, slabs


def side_by_side():
    if not os.access(MEMCACHED, os.X_OK):
        print("SKIP: no %s" % MEMCACHED)
        sys.exit(77)
    theirs = mctest.Daemon(OPTS, binary=MEMCACHED)
    ours = mctest.Daemon(OPTS, repl_port=0)
    g1, s1, d1, b1, r1, i1, l1 = collect(theirs)
    g2, s2, d2, b2, r2, i2, l2 = collect(ours)
    # (ours also has the segmented LRU's fields, which memcached prints
    # in its default mode but not with no_lru_maintainer)
    mctest.eq(sorted(i1 - i2), [], "stats items: memcached's fields")
    mctest.eq(sorted(l2 ^ l1), [], "stats slabs: memcached's fields")
    mctest.eq(sorted(set(g1) - set(g2)), [],
              "stats: every field memcached prints is there")
    mctest.eq(sorted(set(g2) - set(g1)), [],
              "stats: no field memcached does not print (-X 0)")
    mctest.eq(len(g2), 83, "stats: 83 fields, as memcached's t/stats.t")
    for k in COUNTERS:
        mctest.eq(g2.get(k), g1.get(k), "stats %s as memcached's" % k)
    mctest.check(int(g2["response_obj_count"]) > 0 and
                 int(g2["read_buf_count"]) > 0 and
                 int(g2["read_buf_bytes"]) > 0 and
                 int(g2["reserved_fds"]) >= 4,
                 "stats: response, read buffer and reserved fd counts are live",
                 str(g2))
    mctest.eq(sorted(set(s1) - set(s2) - SETTINGS_ABSENT
                     - {k for k in s1 if k.startswith(("ext_", "ssl_"))}),
              [], "stats settings: memcached's fields")
    for k in ("maxbytes", "maxconns", "tcpport", "udpport", "inter",
              "evictions", "growth_factor", "chunk_size", "item_size_max",
              "stat_key_prefix", "detail_enabled", "shutdown_command",
              "cas_enabled", "binding_protocol", "hash_algorithm",
              "flush_enabled", "auth_enabled_ascii", "oldest"):
        if k in ("tcpport",):
            continue
        mctest.eq(s2.get(k), s1.get(k), "stats settings %s" % k)
    mctest.eq(sorted(d2), sorted(d1), "stats detail dump as memcached's")
    mctest.eq(b2, b1, "binary stat detail dump as memcached's")
    for k in COUNTERS:
        mctest.eq(r2.get(k), r1.get(k), "after stats reset: %s" % k)
    theirs.stop()
    ours.stop()


def wait_stat(c, name, want, timeout=10.0):
    """Waits until c's stats show name == want; returns the last value."""
    end = time.time() + timeout
    while True:
        got = c.stats().get(name)
        if got == want or time.time() > end:
            return got
        time.sleep(0.05)


def replicated():
    rport_a, rport_b = mctest.free_port(), mctest.free_port()
    a = mctest.Daemon([], repl_port=rport_a)
    b = mctest.Daemon(["-x", "127.0.0.1:%d" % rport_a], repl_port=rport_b)
    ca, cb = a.client(), b.client()
    mctest.eq(wait_stat(cb, "repl_state", "online"), "online", "pair online")
    ca.set("k1", b"v1")
    ca.set("k2", b"v2")
    ca.cmd("touch k1 100")
    ca.cmd("delete k2")
    mctest.eq(wait_stat(cb, "repl_applied_deletes", "1"), "1",
              "B: repl_applied_deletes 1")
    st = cb.stats()
    # a touch travels as the whole item (see encode_live in repl.c)
    mctest.eq(st.get("repl_applied_items"), "3", "B: repl_applied_items 3")
    mctest.eq(st.get("repl_applied_older"), "0", "B: nothing older")
    for k in ("cmd_set", "cmd_touch", "touch_hits", "delete_hits",
              "cmd_get", "get_hits"):
        mctest.eq(st.get(k), "0", "B: replicated writes are not %s" % k)
    mctest.eq(st.get("curr_items"), "1", "B: curr_items 1")
    st = ca.stats()
    mctest.eq(st.get("cmd_set"), "2", "A: cmd_set 2")
    mctest.eq(st.get("repl_applied_items"), "0", "A: applied nothing")
    mctest.check("curr_tombstones" in st, "A: curr_tombstones shown")


def main():
    side_by_side()
    replicated()
    mctest.done()


if __name__ == "__main__":
    main()

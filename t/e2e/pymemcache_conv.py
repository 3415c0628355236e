#!/usr/bin/python3
"""A conversation through pymemcache, Debian's python3-pymemcache.

The client waits for every reply (default_noreply=False: pymemcache's
default sends stores with noreply and reports them all as stored), and
every store's return value is checked, then read back. The same
conversation runs against Debian's memcached 1.6.18, and both daemons'
counters after it must agree. Exits 77 (skip) without pymemcache or
without /usr/bin/memcached."""
import sys

import mctest

try:
    from pymemcache.client.base import Client
    from pymemcache.exceptions import MemcacheClientError
except ImportError:
    print("pymemcache not installed (scripts/deps installs "
          "python3-pymemcache): skipped")
    sys.exit(mctest.SKIP)

# Counters both daemons must agree on after the conversation.
COUNTERS = ("cmd_get", "cmd_set", "cmd_flush", "cmd_touch", "get_hits",
            "get_misses", "get_expired", "get_flushed", "delete_misses",
            "delete_hits", "incr_misses", "incr_hits", "decr_misses",
            "decr_hits", "cas_misses", "cas_hits", "cas_badval",
            "touch_hits", "touch_misses", "total_items")
# curr_items is not compared: the items flush_all killed stay linked until
# a command finds them or background work reclaims them (memcached's LRU
# maintainer thread, our 10-ms crawl), so the count right after depends on
# when that work ran in each daemon.


def conversation(port, who):
    """Runs the conversation against 127.0.0.1:port; returns the stats
    pymemcache read at its end."""
    eq = mctest.eq
    c = Client(("127.0.0.1", port), connect_timeout=5, timeout=5,
               default_noreply=False)
    eq(c.set("k1", b"v1"), True, who + ": set")
    eq(c.get("k1"), b"v1", who + ": get")
    eq(c.add("k1", b"x"), False, who + ": add existing")
    eq(c.get("k1"), b"v1", who + ": add existing left the value")
    eq(c.add("k2", b"two"), True, who + ": add new")
    eq(c.get("k2"), b"two", who + ": add new stored")
    eq(c.replace("nope", b"x"), False, who + ": replace missing")
    eq(c.get("nope"), None, who + ": replace missing stored nothing")
    eq(c.replace("k2", b"TWO"), True, who + ": replace existing")
    eq(c.append("k1", b"+"), True, who + ": append")
    eq(c.prepend("k1", b"-"), True, who + ": prepend")
    eq(c.append("nope", b"+"), False, who + ": append missing")
    eq(c.prepend("nope", b"-"), False, who + ": prepend missing")
    eq(c.get("k1"), b"-v1+", who + ": append/prepend result")
    eq(c.get_many(["k1", "k2", "k3"]), {"k1": b"-v1+", "k2": b"TWO"},
       who + ": get_many")
    val, cas = c.gets("k1")
    eq(val, b"-v1+", who + ": gets value")
    eq(c.cas("k1", b"new", cas), True, who + ": cas ok")
    eq(c.cas("k1", b"newer", cas), False, who + ": cas stale")
    eq(c.get("k1"), b"new", who + ": stale cas left the value")
    eq(c.cas("nope", b"x", 1), None, who + ": cas missing")
    eq(c.set("n", b"41", flags=7), True, who + ": set number")
    eq(c.incr("n", 1), 42, who + ": incr")
    eq(c.decr("n", 50), 0, who + ": decr floors at zero")
    eq(c.incr("missing", 1), None, who + ": incr missing")
    eq(c.decr("missing", 1), None, who + ": decr missing")
    eq(c.touch("k1", 100), True, who + ": touch")
    eq(c.touch("nope", 100), False, who + ": touch missing")
    eq(c.delete("k1"), True, who + ": delete")
    eq(c.delete("k1"), False, who + ": delete missing")
    eq(c.get("k1"), None, who + ": deleted")
    eq(c.set_many({"a": b"1", "b": b"2"}), [], who + ": set_many")
    eq(c.get_many(["a", "b"]), {"a": b"1", "b": b"2"}, who + ": get_many 2")
    eq(c.flush_all(), True, who + ": flush_all")
    eq(c.get("a"), None, who + ": flushed")
    eq(c.set("a", b"again"), True, who + ": set after flush")
    eq(c.get("a"), b"again", who + ": set after flush stored")
    mctest.check(c.version().startswith(b"1.6"), who + ": version")
    big = b"x" * (1024 * 1024 + 1)
    try:
        r = c.set("big", big)
        eq(r, False, who + ": too large refused")
    except Exception as e:  # pymemcache raises MemcacheServerError
        mctest.check("too large" in str(e), who + ": too large error",
                     str(e))
    eq(c.get("big"), None, who + ": too large not stored")
    try:
        c.get("a b")
        mctest.check(False, who + ": key with space refused")
    except MemcacheClientError:
        mctest.check(True, who + ": key with space refused")
    eq(c.set("after", b"ok"), True, who + ": still serving")
    eq(c.get("after"), b"ok", who + ": still serving stored")
    st = c.stats()
    c.close()
    return {(k.decode() if isinstance(k, bytes) else k): v
            for k, v in st.items()}


def main():
    mctest.need_reference()
    ours = mctest.Daemon(["-m", "64"])
    ref = mctest.Daemon(["-m", "64"], binary=mctest.DEBIAN_MEMCACHED)
    got = conversation(ours.port, "ours")
    want = conversation(ref.port, "memcached")
    for k in COUNTERS:
        mctest.eq(got.get(k), want.get(k), "stats %s as memcached's" % k)
    mctest.done()


if __name__ == "__main__":
    main()

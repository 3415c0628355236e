#!/usr/bin/python3
"""A conversation through pymemcache, Debian's python3-pymemcache."""
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError

import mctest


def main():
    d = mctest.Daemon(["-m", "64"])
    c = Client(("127.0.0.1", d.port), connect_timeout=5, timeout=5)
    mctest.eq(c.set("k1", b"v1"), True, "set")
    mctest.eq(c.get("k1"), b"v1", "get")
    mctest.eq(c.add("k1", b"x", noreply=False), False, "add existing")
    mctest.eq(c.add("k2", b"two", noreply=False), True, "add new")
    mctest.eq(c.replace("nope", b"x", noreply=False), False, "replace missing")
    mctest.eq(c.append("k1", b"+", noreply=False), True, "append")
    mctest.eq(c.prepend("k1", b"-", noreply=False), True, "prepend")
    mctest.eq(c.get("k1"), b"-v1+", "append/prepend result")
    mctest.eq(c.get_many(["k1", "k2", "k3"]), {"k1": b"-v1+", "k2": b"two"},
              "get_many")
    val, cas = c.gets("k1")
    mctest.eq(val, b"-v1+", "gets value")
    mctest.eq(c.cas("k1", b"new", cas), True, "cas ok")
    mctest.eq(c.cas("k1", b"newer", cas), False, "cas stale")
    mctest.eq(c.cas("nope", b"x", 1), None, "cas missing")
    mctest.eq(c.set("n", b"41"), True, "set number")
    mctest.eq(c.incr("n", 1), 42, "incr")
    mctest.eq(c.decr("n", 50), 0, "decr floors at zero")
    mctest.eq(c.incr("missing", 1), None, "incr missing")
    mctest.eq(c.touch("k1", 100, noreply=False), True, "touch")
    mctest.eq(c.delete("k1", noreply=False), True, "delete")
    mctest.eq(c.delete("k1", noreply=False), False, "delete missing")
    mctest.eq(c.set_many({"a": b"1", "b": b"2"}), [], "set_many")
    mctest.eq(c.get_many(["a", "b"]), {"a": b"1", "b": b"2"}, "get_many 2")
    mctest.eq(c.flush_all(noreply=False), True, "flush_all")
    mctest.eq(c.get("a"), None, "flushed")
    mctest.check(c.version().startswith(b"1.6"), "version")
    st = c.stats()
    mctest.check(st.get(b"curr_items") == 0 or st.get(b"curr_items") == b"0"
                 or "curr_items" in {k.decode() if isinstance(k, bytes) else k
                                     for k in st}, "stats")
    big = b"x" * (1024 * 1024 + 1)
    try:
        r = c.set("big", big, noreply=False)
        mctest.eq(r, False, "too large refused")
    except Exception as e:  # pymemcache raises MemcacheServerError
        mctest.check("too large" in str(e), "too large error", str(e))
    mctest.eq(c.get("big"), None, "too large not stored")
    try:
        c.get("a b")
        mctest.check(False, "key with space refused")
    except MemcacheClientError:
        mctest.check(True, "key with space refused")
    mctest.eq(c.set("after", b"ok"), True, "still serving")
    c.close()
    mctest.done()


if __name__ == "__main__":
    main()

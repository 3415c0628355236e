#!/usr/bin/python3
"""Background upkeep runs in the daemon with no client traffic: expired
items are reclaimed without being read, again after the store was empty
(the 10-ms steps stop while it is empty and start again), and a growing
hash table finishes growing."""
import time

import mctest


def wait_stats(c, cond, timeout):
    """Polls stats until cond(stats) holds; returns the last stats."""
    deadline = time.time() + timeout
    st = c.stats()
    while not cond(st) and time.time() < deadline:
        time.sleep(0.1)
        st = c.stats()
    return st


def expire_round(c, name, n):
    """Stores n items that expire in 1 s beside 10 that do not, then waits,
    without reading any, until the crawler has reclaimed the n."""
    before = int(c.stats()["reclaimed"])
    buf = bytearray()
    for i in range(n):
        buf += b"set %s:%d 0 1 3 noreply\r\nexp\r\n" % (name.encode(), i)
    for i in range(10):
        buf += b"set %s:keep%d 0 0 4 noreply\r\nkeep\r\n" % (name.encode(), i)
    c.send(bytes(buf))
    mctest.eq(c.get("%s:keep0" % name), b"keep", "%s: stored" % name)
    st = wait_stats(c, lambda s: int(s["reclaimed"]) - before >= n, 20)
    mctest.check(int(st["reclaimed"]) - before >= n,
                 "%s: %d expired items reclaimed unread" % (name, n),
                 "reclaimed %d" % (int(st["reclaimed"]) - before))
    mctest.eq(int(st["curr_items"]), 10, "%s: the 10 others remain" % name)
    mctest.eq(c.get("%s:keep9" % name), b"keep", "%s: kept value" % name)
    for i in range(10):
        c.cmd("delete %s:keep%d" % (name, i))
    mctest.eq(int(c.stats()["curr_items"]), 0, "%s: store empty" % name)


def main():
    d = mctest.Daemon(["-o", "hashpower=12"])
    c = d.client(timeout=20)
    # The store starts empty; 1.5 s later it is still empty, so the steps
    # are off, and the first round needs them to start.
    time.sleep(1.5)
    expire_round(c, "first", 500)
    # Empty again for over a second: the steps stop, and must restart.
    time.sleep(1.5)
    expire_round(c, "second", 500)

    c.close()
    d.stop()

    # 4,096 buckets grow past 6,144 items. The 156 inserts over the bound
    # move 8 buckets each, so the table is still growing once they are
    # stored, and only the steps can finish it.
    d = mctest.Daemon(["-o", "hashpower=12"])
    c = d.client(timeout=20)
    level = int(c.stats()["hash_power_level"])
    buf = bytearray()
    for i in range(6300):
        buf += b"set grow:%d 0 0 1 noreply\r\ng\r\n" % i
    c.send(bytes(buf))
    st = c.stats()
    mctest.eq(st["curr_items"], "6300", "growth: items stored")
    mctest.eq(st["hash_is_expanding"], "1", "growth: still growing")
    st = wait_stats(c, lambda s: s["hash_is_expanding"] == "0" and
                    int(s["hash_power_level"]) > level, 20)
    mctest.check(st["hash_is_expanding"] == "0" and
                 int(st["hash_power_level"]) == level + 1,
                 "growth finished without traffic (2^%d to 2^%s)" % (
                     level, st["hash_power_level"]),
                 "hash_is_expanding %s" % st["hash_is_expanding"])
    mctest.eq(c.get("grow:0"), b"g", "growth: first item found")
    mctest.eq(int(c.stats()["curr_items"]), 6300, "growth: all items")
    c.close()
    d.stop()
    mctest.done()


if __name__ == "__main__":
    main()

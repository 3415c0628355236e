#!/usr/bin/python3
"""The crawler, LRU and slab administration commands with memcached's
replies: stats cachedump lines, lru_crawler crawl reclaiming expired items
(and its errors), slabs reassign moving a page (items rescued, page counts
in stats slabs, the global pool), slabs automove, lru tune/mode/temp_ttl,
and the segmented LRU's counters (a key read twice moves to WARM)."""
import re
import time

import mctest


def wait_stat(c, name, cond, timeout=10.0, group=""):
    """Polls stats until cond(value) holds; returns the last value."""
    end = time.time() + timeout
    v = c.stats(group).get(name)
    while not cond(v) and time.time() < end:
        time.sleep(0.1)
        v = c.stats(group).get(name)
    return v


def main():
    d = mctest.Daemon(["-m", "16", "-o", "slab_automove_window=1"])
    c = d.client(timeout=20)

    # stats cachedump
    for i in range(5):
        c.set("cd%d" % i, "x" * (i + 1), exptime=0 if i % 2 else 3600)
    c.send("stats cachedump 1 0\r\n")
    lines = []
    while True:
        line = c.readline()
        if line == "END":
            break
        lines.append(line)
    mctest.eq(len(lines), 5, "cachedump 1 0: every item of class 1")
    started = int(c.stats()["time"]) - int(c.stats()["uptime"])
    ok = True
    for line in lines:
        m = re.match(r"^ITEM (cd(\d)) \[(\d+) b; (\d+) s\]$", line)
        if not m:
            ok = False
            continue
        i = int(m.group(2))
        ok &= int(m.group(3)) == i + 1
        exp = int(m.group(4))
        ok &= (abs(exp - started) <= 1 if i % 2 else exp > started + 3000)
    mctest.check(ok, "cachedump lines: key, bytes, exptime (start time if "
                 "none)", repr(lines))
    c.send("stats cachedump 1 2\r\n")
    mctest.check(c.readline().startswith("ITEM ") and
                 c.readline().startswith("ITEM ") and c.readline() == "END",
                 "cachedump 1 2: two items")
    mctest.eq(c.cmd("stats cachedump 1"), "CLIENT_ERROR bad command line",
              "cachedump without limit")
    mctest.eq(c.cmd("stats cachedump x 1"),
              "CLIENT_ERROR bad command line format", "cachedump bad class")
    mctest.eq(c.cmd("stats cachedump 64 1"), "CLIENT_ERROR Illegal slab id",
              "cachedump class 64")
    mctest.eq(c.cmd("stats cachedump 30 0"), "END", "cachedump empty class")

    # the segmented LRU: new items in HOT, a key read twice moves to WARM
    st = c.stats("items")
    mctest.eq(sum(int(st["items:1:number_" + l]) for l in
                  ("hot", "warm", "cold")), 5, "HOT+WARM+COLD = number")
    mctest.check(int(st["items:1:number_hot"]) >= 1,
                 "the newest item is HOT", st["items:1:number_hot"])
    c.set("reread", "v" * 2000)
    cls = [k.split(":")[1] for k, v in c.stats("items").items()
           if k.endswith(":number") and v == "1"][0]
    # the maintainer moves HOT's tail to COLD once it is older than COLD's
    moved = wait_stat(c, "items:%s:number_cold" % cls, lambda v: v == "1",
                      group="items")
    mctest.eq(moved, "1", "the maintainer moves an old HOT item to COLD")
    c.get("reread")
    c.get("reread")
    st = c.stats("items")
    mctest.eq(st.get("items:%s:number_warm" % cls), "1",
              "read twice in COLD: moved to WARM")
    mctest.check(int(st["items:%s:moves_to_warm" % cls]) >= 1 and
                 int(st["items:%s:hits_to_cold" % cls]) >= 1,
                 "moves_to_warm and hits_to_cold count it")
    mctest.check(int(c.stats()["lru_maintainer_juggles"]) > 0,
                 "lru_maintainer_juggles counts maintainer passes")

    # lru_crawler crawl
    for i in range(20):
        c.set("short%d" % i, "s", exptime=1)
    mctest.eq(c.cmd("lru_crawler crawl 0"), "BADCLASS invalid class id",
              "crawl class 0")
    mctest.eq(c.cmd("lru_crawler crawl 1,x"), "BADCLASS invalid class id",
              "crawl bad list")
    mctest.eq(c.cmd("lru_crawler sleep 2000000"),
              "CLIENT_ERROR sleep must be one second or less", "sleep bound")
    mctest.eq(c.cmd("lru_crawler tocrawl x"),
              "CLIENT_ERROR bad command line format", "tocrawl bad number")
    mctest.eq(c.cmd("lru_crawler bogus"), "ERROR", "unknown subcommand")
    mctest.eq(c.cmd("lru_crawler disable"), "OK", "disable")
    mctest.eq(c.stats("settings")["lru_crawler"], "no", "settings: off")
    mctest.eq(c.cmd("lru_crawler crawl all"),
              "CLIENT_ERROR lru crawler disabled", "crawl while disabled")
    mctest.eq(c.cmd("lru_crawler metadump all"),
              "CLIENT_ERROR lru crawler disabled", "metadump while disabled")
    mctest.eq(c.cmd("lru_crawler enable"), "OK", "enable")
    mctest.eq(c.stats("settings")["lru_crawler"], "yes", "settings: on")
    time.sleep(2.2)
    mctest.eq(c.cmd("lru_crawler crawl 1"), "OK", "crawl 1")
    running = wait_stat(c, "lru_crawler_running", lambda v: v == "0")
    mctest.eq(running, "0", "the crawl ends")
    st = c.stats()
    mctest.check(int(st["lru_crawler_starts"]) >= 1, "lru_crawler_starts")
    mctest.eq(st["curr_items"], "6", "expired items are gone")
    mctest.eq(int(c.stats("items")["items:1:number"]), 5,
              "class 1 keeps the 5 live items")

    # slabs reassign
    big = "b" * 60000
    for i in range(60):
        c.set("big%d" % i, big)
    bcls = [k.split(":")[1] for k, v in c.stats("items").items()
            if k.endswith(":number") and v != "0" and
            int(c.stats("slabs").get(k.split(":")[1] + ":chunk_size",
                                     "0")) > 60000][0]
    pages = int(c.stats("slabs")["%s:total_pages" % bcls])
    mctest.check(pages >= 2, "the big class has pages to spare", pages)
    mctest.eq(c.cmd("slabs reassign a b"),
              "CLIENT_ERROR bad command line format", "reassign bad args")
    mctest.eq(c.cmd("slabs reassign 3 3"),
              "SAME src and dst class are identical", "reassign same")
    mctest.eq(c.cmd("slabs reassign 99 1"),
              "BADCLASS invalid src or dst class id", "reassign bad class")
    mctest.eq(c.cmd("slabs reassign 5 1"),
              "NOSPARE source class has no spare pages",
              "reassign from a class without pages")
    moved_before = int(c.stats()["slabs_moved"])
    mctest.eq(c.cmd("slabs reassign %s 0" % bcls), "OK",
              "reassign to the global pool")
    st = c.stats()
    mctest.eq(int(st["slabs_moved"]), moved_before + 1, "slabs_moved")
    mctest.eq(st["slab_global_page_pool"], "1", "one page in the pool")
    mctest.eq(int(c.stats("slabs")["%s:total_pages" % bcls]), pages - 1,
              "the class lost a page")
    mctest.eq(c.cmd("slabs reassign 0 2"), "OK", "reassign from the pool")
    mctest.eq(c.stats()["slab_global_page_pool"], "0", "the pool is empty")
    mctest.eq(c.stats("slabs")["2:total_pages"], "1", "class 2 got it")
    ev = int(st["slab_reassign_evictions_nomem"]) + int(
        st["slab_reassign_rescues"])
    mctest.check(ev > 0, "the moved page's items were rescued or evicted",
                 ev)
    kept = sum(1 for i in range(60) if c.get("big%d" % i) == big.encode())
    mctest.check(kept > 0, "the other big items are intact", kept)

    # slabs automove and lru
    mctest.eq(c.cmd("slabs automove 3"), "ERROR", "automove 3")
    mctest.eq(c.cmd("slabs automove x"),
              "CLIENT_ERROR bad command line format", "automove bad")
    mctest.eq(c.cmd("slabs automove 0"), "OK", "automove 0")
    mctest.eq(c.stats("settings")["slab_automove"], "0", "settings: 0")
    mctest.eq(c.cmd("slabs automove 1"), "OK", "automove 1")
    mctest.eq(c.cmd("slabs bogus"), "ERROR", "slabs unknown")
    mctest.eq(c.cmd("lru tune 50 40 0.2 2"),
              "ERROR hot and warm pcts must not exceed 80", "lru tune pcts")
    mctest.eq(c.cmd("lru tune 20 40 0 2"),
              "ERROR hot/warm age factors must be greater than 0",
              "lru tune factor")
    mctest.eq(c.cmd("lru tune 30 30 0.5 3"), "OK", "lru tune")
    st = c.stats("settings")
    mctest.eq((st["hot_lru_pct"], st["warm_lru_pct"], st["hot_max_factor"],
               st["warm_max_factor"]), ("30", "30", "0.50", "3.00"),
              "lru tune: the new shares and factors")
    mctest.eq(c.cmd("lru mode flat"), "OK", "lru mode flat")
    mctest.eq(c.stats("settings")["lru_segmented"], "no", "settings: flat")
    mctest.eq(c.cmd("lru mode segmented"), "OK", "lru mode segmented")
    mctest.eq(c.cmd("lru temp_ttl 30"), "OK", "lru temp_ttl")
    mctest.eq(c.stats("settings")["temp_lru"], "yes", "settings: temp_lru")
    c.set("temp", "t", exptime=10)
    st = c.stats("items")
    mctest.eq(st.get("items:1:number_temp"), "1", "a short-lived item: TEMP")

    # a page freed by deletes goes back to the pool (automove, window 1 s)
    for i in range(60):
        c.cmd("delete big%d" % i)
    pool = wait_stat(c, "slab_global_page_pool", lambda v: int(v) > 0,
                     timeout=15)
    mctest.check(int(pool) > 0, "automove returns spare pages to the pool",
                 pool)
    c.close()
    mctest.done()


if __name__ == "__main__":
    main()

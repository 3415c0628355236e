#!/usr/bin/python3
"""-m is honoured: with -m 64, writing 1 GB of distinct 1-KB values keeps
RSS near the limit, evicts least recently used items and keeps every key
that is read regularly. Also -M (no eviction) answers out of memory."""
import mctest

HOT = ["hot%03d" % i for i in range(100)]
VALUE = b"v" * 1024


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    d = mctest.Daemon(["-m", "64"])
    c = d.client(timeout=60)
    for k in HOT:
        c.set(k, VALUE)
    total = 1024 * 1024  # 1 GB of 1-KB values
    batch = 2000
    i = 0
    while i < total:
        buf = bytearray()
        for j in range(i, i + batch):
            buf += b"set key%d 0 0 1024 noreply\r\n" % j + VALUE + b"\r\n"
        c.send(bytes(buf))
        i += batch
        # read the hot keys now and then, so they stay recently used
        if (i // batch) % 5 == 0:
            got = c.get_multi("get " + " ".join(HOT))
            if len(got) != len(HOT):
                break
    got = c.get_multi("get " + " ".join(HOT))
    mctest.eq(len(got), len(HOT), "every regularly read key survived")
    st = c.stats()
    mctest.check(int(st["evictions"]) > 0, "evictions happened",
                 st.get("evictions"))
    mctest.eq(c.get("key0"), None, "oldest unread key was evicted")
    mctest.check(c.get("key%d" % (total - 1)) == VALUE, "newest key present")
    rss = rss_kb(d.proc.pid)
    mctest.check(rss < 100 * 1024, "RSS %d kB under 100 MB" % rss)
    mctest.check(int(st["curr_items"]) > 40000, "cache is used",
                 st["curr_items"])
    c.close()

    # -M: no eviction, out of memory error instead
    m = mctest.Daemon(["-m", "8", "-M"])
    c = m.client(timeout=30)
    reply = None
    for j in range(20000):
        reply = c.store("set", "m%d" % j, VALUE)
        if reply != "STORED":
            break
    mctest.eq(reply, "SERVER_ERROR out of memory storing object",
              "-M answers out of memory")
    mctest.eq(c.get("m0"), VALUE, "-M kept the first key")
    mctest.eq(c.stats()["evictions"], "0", "-M evicted nothing")
    c.close()
    mctest.done()


if __name__ == "__main__":
    main()

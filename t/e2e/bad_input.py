#!/usr/bin/python3
"""Hostile and malformed input: each case gets memcached's reply, and the
server keeps serving other clients."""
import random
import socket
import time

import mctest


def healthy(d, name):
    c = d.client()
    ok = c.set("health", "ok") == "STORED" and c.get("health") == b"ok"
    c.close()
    mctest.check(ok, "still healthy after " + name)


def recv_all(s, timeout=5.0):
    s.settimeout(timeout)
    buf = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return buf, True
            buf += chunk
    except socket.timeout:
        return buf, False


def main():
    d = mctest.Daemon(["-m", "64"])

    # an over-long line with no newline: error, then close
    s = socket.create_connection(("127.0.0.1", d.port))
    s.sendall(b"set " + b"x" * 4000)
    buf, closed = recv_all(s)
    mctest.eq(buf, b"CLIENT_ERROR line too long\r\n", "over-long line reply")
    mctest.check(closed, "over-long line closes")
    s.close()
    healthy(d, "over-long line")

    # a 1 MB line with no newline
    s = socket.create_connection(("127.0.0.1", d.port))
    try:
        s.sendall(b"get " + b"k" * (1 << 20))
    except OSError:
        pass
    buf, closed = recv_all(s)
    mctest.eq(buf, b"CLIENT_ERROR line too long\r\n", "1 MB get line reply")
    s.close()
    healthy(d, "1 MB line")

    # huge declared lengths
    c = d.client()
    mctest.eq(c.cmd("set k 0 0 2147483645"),
              "SERVER_ERROR object too large for cache", "2 GB length")
    c.close()
    c = d.client()
    mctest.eq(c.cmd("set k 0 0 2147483647"),
              "CLIENT_ERROR bad command line format", "2^31-1 length (as memcached)")
    c.close()
    c = d.client()
    mctest.eq(c.cmd("set k 0 0 4294967296"),
              "CLIENT_ERROR bad command line format", "overflowing length")
    mctest.eq(c.cmd("set k 0 0 -1"), "CLIENT_ERROR bad command line format",
              "negative length")
    mctest.eq(c.cmd("set k -1 0 1"), "CLIENT_ERROR bad command line format",
              "negative flags")
    mctest.eq(c.cmd("set k abc 0 1"), "CLIENT_ERROR bad command line format",
              "non-numeric flags")
    mctest.eq(c.cmd("incr k -1"), "CLIENT_ERROR invalid numeric delta argument",
              "negative delta")
    mctest.eq(c.cmd("incr k 99999999999999999999999"),
              "CLIENT_ERROR invalid numeric delta argument", "overflowing delta")
    mctest.eq(c.cmd("touch k abc"), "CLIENT_ERROR invalid exptime argument",
              "non-numeric exptime")
    # as in memcached, a control character is part of the key
    mctest.eq(c.cmd("get a\x01b"), "END", "key with a control character")
    mctest.eq(c.cmd("get " + "k" * 251), "CLIENT_ERROR bad command line format",
              "251-byte key")
    c.close()
    healthy(d, "bad numbers")

    # random binary garbage, text-looking and binary-looking
    rnd = random.Random(42)
    for first in (b"g", b"\x80", b""):
        s = socket.create_connection(("127.0.0.1", d.port))
        junk = first + bytes(rnd.getrandbits(8) for _ in range(65536))
        try:
            s.sendall(junk)
        except OSError:
            pass
        recv_all(s, 1.0)
        s.close()
        healthy(d, "random garbage %r" % first)

    # 10,000 pipelined commands in one write
    c = d.client(timeout=20)
    c.send(b"set p 0 0 1\r\nx\r\n" + b"get p\r\n" * 10000)
    mctest.eq(c.readline(), "STORED", "pipelined set")
    n = 0
    for _ in range(10000):
        if c.readline() != "VALUE p 0 1":
            break
        c.readline()
        if c.readline() != "END":
            break
        n += 1
    mctest.eq(n, 10000, "10,000 pipelined gets answered in order")
    c.close()

    # a client that closes in the middle of a value
    s = socket.create_connection(("127.0.0.1", d.port))
    s.sendall(b"set half 0 0 100\r\nabc")
    time.sleep(0.1)
    s.close()
    time.sleep(0.1)
    c = d.client()
    mctest.eq(c.get("half"), None, "half-sent value not stored")
    c.close()
    healthy(d, "close mid-value")

    # a bad data chunk leaves the key untouched
    c = d.client()
    c.set("chunk", "old")
    c.send(b"set chunk 0 0 3\r\nabcde\r\n")
    mctest.eq(c.readline(), "CLIENT_ERROR bad data chunk", "bad data chunk")
    mctest.eq(c.readline(), "ERROR", "the rest of the line is a bad command")
    mctest.eq(c.get("chunk"), b"old", "bad chunk did not store")
    c.close()

    mctest.check(d.proc.poll() is None, "daemon still running")
    mctest.done()


if __name__ == "__main__":
    main()

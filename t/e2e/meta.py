#!/usr/bin/env python3
"""meta.py: the meta protocol (mg ms md ma mn me), compared byte for byte
with Debian's memcached 1.6.18.

Every conversation below runs against our daemon and against
/usr/bin/memcached; the replies must be identical, except for values that
legitimately differ between two servers: cas values are compared by their
pattern (which replies share a cas, which are zero), TTLs and last-access
times within one second, and me's slab class and size not at all.
"""
import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mctest  # noqa: E402
from mctest import check, done, eq  # noqa: E402

K250 = "k" * 250
K251 = "k" * 251
O31 = "O" + "1" * 31
O32 = "O" + "1" * 32


class Conv:
    """One connection; every request is followed by a miss with a numbered
    opaque, so the reply is complete once that "EN O<n>" line arrives."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.seq = 0
        self.connect()

    def connect(self):
        if self.sock:
            self.sock.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), 5)
        self.sock.settimeout(3)

    def req(self, data):
        """Sends data and the end marker; returns everything before the
        marker's reply."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.seq += 1
        mark = b"EN Oend%d\r\n" % self.seq
        self.sock.sendall(data + b"mg mctest-end-marker Oend%d\r\n" % self.seq)
        buf = b""
        try:
            while not (buf == mark or buf.endswith(b"\r\n" + mark)):
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    buf += b"<closed>"
                    self.connect()
                    break
                buf += chunk
        except socket.timeout:
            buf += b"<timeout>"
            self.connect()
            return buf.decode("latin-1")
        return buf[:-len(mark)].decode("latin-1")


def cas_of(reply):
    """Returns the c<cas> token of the first reply line as an int."""
    m = re.search(r" c(\d+)", reply.split("\r\n")[0])
    return int(m.group(1)) if m else 0


# Each conversation takes a Conv and returns the list of replies. The
# request bytes are the same for both servers, except where a request
# carries a cas learnt from an earlier reply.

def conv_basic(c):
    return [
        c.req("mn\r\n"),
        c.req("mn with junk\r\n"),
        c.req("mg b-miss v\r\n"),
        c.req("mg b-miss v q k Ox\r\n"),
        c.req("mg b-miss k Oabc c v t\r\n"),
        c.req("ms b-key 2\r\nhi\r\n"),
        c.req("mg b-key\r\n"),
        c.req("mg b-key v\r\n"),
        c.req("mg b-key q\r\n"),
        c.req("mg b-key v q\r\n"),
        c.req("mg b-key s v f t k O123 c\r\n"),
        c.req("mg b-key t f O9 k q v\r\n"),
        c.req("mg b-key Lfoo Pbar v\r\n"),
        c.req("mg   b-key    v  \r\n"),
        c.req("mg b-key v1 cx\r\n"),
        c.req("mg b-key O\r\n"),
        c.req("mg b-key " + O31 + "\r\n"),
        c.req("ms b-flags 3 F7 T100\r\nabc\r\n"),
        c.req("mg b-flags f t s v\r\n"),
        c.req("ms b-flags 1 F4294967295\r\nx\r\n"),
        c.req("mg b-flags f\r\n"),
        c.req("ms b-flags 1 F99999999999\r\nx\r\n"),
        c.req("mg b-flags f\r\n"),
        c.req("ms b-flags 1 F-0\r\nx\r\n"),
        c.req("mg b-flags f\r\n"),
        c.req("ms b-empty 0\r\n\r\n"),
        c.req("mg b-empty v s\r\n"),
        c.req("mg " + K250 + " v\r\n"),
        c.req("ms " + K250 + " 1\r\nz\r\n"),
        c.req("mg " + K250 + " v k\r\n"),
    ]


def conv_errors(c):
    out = []
    for cmd in ("mg", "md", "ma", "me"):
        for rest in ["", " ", " " + K251, " foo zz", " foo !", " foo 1",
                     " foo v v", " foo P P", " foo Oa Ob", " foo " + O32,
                     " foo T", " foo Tabc", " foo T1x", " foo N", " foo Nx",
                     " foo R", " foo C", " foo C-1", " foo E", " foo E1",
                     " foo F", " foo Fx", " foo F-1", " foo D", " foo D-1",
                     " foo D18446744073709551616", " foo J", " foo Jx",
                     " foo M", " foo MX", " foo MDD", " foo Mi", " foo S",
                     " foo S10", " foo a", " foo x",
                     " foo Tabc Fabc", " foo Fabc Tabc", " foo M Tx",
                     " foo Tx M", " foo Tabc zz", " foo T v v",
                     " foo " + O32 + " zz", " foo zz " + O32,
                     " foo " + O32 + " MX", " foo MX " + O32,
                     " foo " + " ".join("abcdefghijklmnopq"),
                     " foo " + " ".join("cfhklqstuvIPLOTNR"),
                     " foo " + " ".join("cfhklqstuvIPLOTNRC"),
                     " foo " + " ".join(["v"] * 30),
                     " " + K251 + " " + " ".join("abcdefghijklmnopqrs")]:
            out.append(c.req(cmd + rest + "\r\n"))
    out.append(c.req("mx foo\r\n"))
    out.append(c.req("mgx foo\r\n"))
    return out


def conv_ms_errors(c):
    """ms errors: some eat the value, some leave it to be read as a
    command (which then answers ERROR)."""
    out = []
    for rest in ["", " " + K251 + " 2", " foo", " foo abc", " foo -1",
                 " foo 2x", " foo 2147483646", " foo 2147483647",
                 " foo 2147483648", " foo 2 zz", " foo 2 !", " foo 2 c c",
                 " foo 2 " + O32, " foo 2 T", " foo 2 Tabc", " foo 2 C-1",
                 " foo 2 Fx", " foo 2 D-1", " foo 2 J", " foo 2 M",
                 " foo 2 MX", " foo 2 MI", " foo 2 Ms", " foo 2 S2",
                 " foo 2 E1", " foo 2 q Tabc", " foo 2 MX " + O32,
                 " foo 2 " + O32 + " MX",
                 " foo 2 " + " ".join("cfhklqstuvIPLOTN"),
                 " foo 2 " + " ".join("cfhklqstuvIPLOTNR"),
                 " " + K251 + " 2 " + " ".join("abcdefghijklmnopqr")]:
        out.append(c.req("ms" + rest + "\r\nhi\r\n"))
    # bad data chunks: the two trailer bytes are consumed, the rest is read
    # as commands
    out.append(c.req("ms bd 2\r\nhiXX\r\n"))
    out.append(c.req("ms bd 2\r\nhiX\r\n"))
    out.append(c.req("ms bd 2 c\r\nhi\nx\r\n"))
    out.append(c.req("ms bd 0 c\r\nxy\r\n"))
    out.append(c.req("mg bd v\r\n"))
    out.append(c.req("ms bd 4294967296 c q\r\n" + "x" * 20 + "\r\n"))
    # too large: the value is swallowed and the old value is gone
    big = "x" * (2 * 1024 * 1024)
    out.append(c.req("ms big 2\r\nhi\r\n"))
    out.append(c.req("ms big %d c q\r\n%s\r\n" % (len(big), big)))
    out.append(c.req("mg big v\r\n"))
    out.append(c.req("ms big 2\r\nhi\r\n"))
    out.append(c.req("ms big %d MA\r\n%s\r\n" % (len(big), big)))
    out.append(c.req("mg big v\r\n"))
    return out


def conv_ms_modes(c):
    out = []
    out.append(c.req("ms m1 2 MA c k O1\r\nhi\r\n"))
    out.append(c.req("ms m1 2 MP\r\nhi\r\n"))
    out.append(c.req("ms m1 2 MR q\r\nhi\r\n"))
    out.append(c.req("ms m1 2 ME c\r\nhi\r\n"))
    out.append(c.req("ms m1 2 ME c T10 F3\r\nhi\r\n"))
    out.append(c.req("ms m1 2 ME c q\r\nhi\r\n"))
    out.append(c.req("mg m1 v t f c\r\n"))
    out.append(c.req("ms m1 2 MA c\r\nAA\r\n"))
    out.append(c.req("ms m1 2 MP c\r\nBB\r\n"))
    out.append(c.req("mg m1 v t f c\r\n"))
    out.append(c.req("ms m1 2 MR F9 T50\r\nRR\r\n"))
    out.append(c.req("mg m1 v t f\r\n"))
    out.append(c.req("ms m1 3 MS q\r\nSSS\r\n"))
    out.append(c.req("mg m1 v t f\r\n"))
    out.append(c.req("ms m1 2 T-1 c\r\nhi\r\n"))
    out.append(c.req("mg m1 v\r\n"))
    return out


def conv_ms_cas(c):
    out = []
    out.append(c.req("ms c1 2 c\r\nhi\r\n"))
    cas = cas_of(out[-1])
    out.append(c.req("ms c1 2 C%d c k\r\nzz\r\n" % (cas + 1000)))
    out.append(c.req("ms c1 2 C%d c q\r\nzz\r\n" % (cas + 1000)))
    out.append(c.req("ms c1 2 C%d c\r\nzz\r\n" % cas))
    cas = cas_of(out[-1])
    out.append(c.req("mg c1 c v\r\n"))
    out.append(c.req("ms c1 2 C0 c\r\nzz\r\n"))
    out.append(c.req("ms nokey-c 2 C1 c\r\nzz\r\n"))
    out.append(c.req("ms nokey-c 2 C1 c q\r\nzz\r\n"))
    out.append(c.req("ms c1 2 C%d MA c\r\nAA\r\n" % cas))
    out.append(c.req("mg c1 c v\r\n"))
    # I: an older cas still stores, but the item is stale
    out.append(c.req("ms c1 2 C1 I c\r\nst\r\n"))
    out.append(c.req("mg c1 c v\r\n"))
    out.append(c.req("mg c1 c v\r\n"))
    out.append(c.req("ms c1 2 C99999999 I c\r\nzz\r\n"))
    out.append(c.req("ms c1 2 I c\r\nok\r\n"))
    out.append(c.req("mg c1 c v\r\n"))
    return out


def conv_base64(c):
    out = []
    for key in ["Zg==", "Zg=", "Zg", "Z===", "====", "Zm9vYg==", "Zm9v-_==",
                "Zm9v+/==", "Zm=v", "Zg==Zg==", "AAAA", "IA==", "Zh==",
                "Zm9vYmFyYmF6", "!!!!"]:
        out.append(c.req("mg %s b k\r\n" % key))
        out.append(c.req("md %s b k q\r\n" % key))
        out.append(c.req("ma %s b k\r\n" % key))
        out.append(c.req("me %s b\r\n" % key))
    out.append(c.req("ms azI= 3 b k c\r\nabc\r\n"))
    out.append(c.req("mg azI= b k v c\r\n"))
    out.append(c.req("mg azI= k b v Oq\r\n"))
    out.append(c.req("me azI= b\r\n"))
    out.append(c.req("md azI= b k Ox\r\n"))
    out.append(c.req("mg azI= b k v\r\n"))
    out.append(c.req("ms Zm9vYmFy 2 b k O1\r\nhi\r\n"))
    out.append(c.req("mg foobar v\r\n"))
    out.append(c.req("ma bnVt b N0 J5 v k\r\n"))
    out.append(c.req("mg num v\r\n"))
    return out


def conv_ttl(c):
    out = []
    out.append(c.req("ms t1 3 T100\r\nabc\r\n"))
    out.append(c.req("mg t1 T30 t\r\n"))
    out.append(c.req("mg t1 t T50\r\n"))
    out.append(c.req("mg t1 t\r\n"))
    out.append(c.req("mg t1 T0 t\r\n"))
    out.append(c.req("mg t1 T-1 q\r\n"))
    out.append(c.req("mg t1 v\r\n"))
    out.append(c.req("ms t2 1 T0\r\nx\r\n"))
    out.append(c.req("mg t2 T99999999999\r\n"))
    out.append(c.req("mg t2 v\r\n"))
    out.append(c.req("ms t3 1 T0\r\nx\r\n"))
    out.append(c.req("mg t3 l h t\r\n"))
    out.append(c.req("mg t3 l h t\r\n"))
    out.append(c.req("mg t3 u l h t\r\n"))
    out.append(c.req("ms t4 1\r\nx\r\n"))
    out.append(c.req("mg t4 u h\r\n"))
    out.append(c.req("mg t4 u h\r\n"))
    out.append(c.req("mg t4 h\r\n"))
    out.append(c.req("mg t4 h\r\n"))
    return out


def conv_recache(c):
    out = []
    # N: vivify on miss, W to the first client, Z to the others
    out.append(c.req("mg nv1 N30 v c t s f k O1\r\n"))
    out.append(c.req("mg nv1 N30 v c t s f k O1\r\n"))
    out.append(c.req("mg nv1 v t q\r\n"))
    out.append(c.req("mg nv1 v t R5\r\n"))
    out.append(c.req("mg nv2 N30 q c\r\n"))
    out.append(c.req("mg nv2 q\r\n"))
    out.append(c.req("mg nv3 N100 t T5\r\n"))
    out.append(c.req("mg nv3 t\r\n"))
    out.append(c.req("mg nv4 T5 N100 t\r\n"))
    out.append(c.req("mg nv4 t\r\n"))
    # a set clears the token
    out.append(c.req("ms nv1 3 T60\r\nnew\r\n"))
    out.append(c.req("mg nv1 v t c\r\n"))
    # R: win when the TTL left is below the token
    out.append(c.req("ms r1 1 T100\r\nx\r\n"))
    out.append(c.req("mg r1 R60 t c\r\n"))
    out.append(c.req("mg r1 R200 t c h l\r\n"))
    out.append(c.req("mg r1 R200 t c\r\n"))
    out.append(c.req("mg r1 c\r\n"))
    out.append(c.req("ms r2 1 T10\r\nx\r\n"))
    out.append(c.req("mg r2 T100 R30 t\r\n"))
    out.append(c.req("ms r3 1 T100\r\nx\r\n"))
    out.append(c.req("mg r3 T10 R30 t\r\n"))
    out.append(c.req("ms r4 1 T0\r\nx\r\n"))
    out.append(c.req("mg r4 R60 t\r\n"))
    out.append(c.req("mg r4 R-5 t\r\n"))
    # md I: stale, new cas, token cleared, X then W / Z
    out.append(c.req("ms s1 3 T100\r\nold\r\n"))
    out.append(c.req("md s1 I T30\r\n"))
    out.append(c.req("mg s1 v t c\r\n"))
    out.append(c.req("mg s1 v t c\r\n"))
    out.append(c.req("mg s1 v t c q k O1\r\n"))
    out.append(c.req("md s1 I q\r\n"))
    out.append(c.req("mg s1 v c\r\n"))
    out.append(c.req("ms s1 3 T60\r\nnew\r\n"))
    out.append(c.req("mg s1 v t c\r\n"))
    out.append(c.req("mg vv N30 q c\r\n"))
    out.append(c.req("md vv I\r\n"))
    out.append(c.req("mg vv c v\r\n"))
    out.append(c.req("mg vv c v\r\n"))
    return out


def conv_md(c):
    out = []
    out.append(c.req("ms d1 2 T100 c\r\nhi\r\n"))
    cas = cas_of(out[-1])
    out.append(c.req("md d1 C%d k O5\r\n" % (cas + 1000)))
    out.append(c.req("md d1 C%d q k O5\r\n" % (cas + 1000)))
    out.append(c.req("md d1 C%d c k O1 t\r\n" % (cas + 1000)))
    out.append(c.req("md d1 T5\r\n"))
    out.append(c.req("mg d1 t\r\n"))
    out.append(c.req("md d1 q\r\n"))
    out.append(c.req("md d1 k O1\r\n"))
    out.append(c.req("ms d1 2 T100 c\r\nhi\r\n"))
    cas = cas_of(out[-1])
    out.append(c.req("md d1 I T20 c k t v f s\r\n"))
    out.append(c.req("mg d1 t c v\r\n"))
    out.append(c.req("md d1 C%d I\r\n" % cas))
    out.append(c.req("md d1 I\r\n"))
    out.append(c.req("mg d1 t c v\r\n"))
    out.append(c.req("md d1\r\n"))
    out.append(c.req("md d1\r\n"))
    out.append(c.req("ms d1 2 c\r\nhi\r\n"))
    cas = cas_of(out[-1])
    out.append(c.req("md d1 C%d q\r\n" % cas))
    out.append(c.req("mg d1 v\r\n"))
    out.append(c.req("ms d1 2 T100\r\nhi\r\n"))
    out.append(c.req("md d1 I T-1\r\n"))
    out.append(c.req("mg d1 v\r\n"))
    out.append(c.req("md nokey I\r\n"))
    return out


def conv_ma(c):
    out = []
    out.append(c.req("ma a1\r\n"))
    out.append(c.req("ma a1 N0 J10 v c t k O1\r\n"))
    out.append(c.req("ma a1 v\r\n"))
    out.append(c.req("ma a1 v D5 MD\r\n"))
    out.append(c.req("ma a1 v D50 M-\r\n"))
    out.append(c.req("ma a1 v D50 M+ t T30\r\n"))
    out.append(c.req("ma a1 t v\r\n"))
    out.append(c.req("ma a1 q\r\n"))
    out.append(c.req("ma a1 q v\r\n"))
    out.append(c.req("ma a1 C1 v\r\n"))
    out.append(c.req("ma a1 C1 q\r\n"))
    out.append(c.req("ma a1 C1 v t c k O1\r\n"))
    out.append(c.req("mg a1 c v\r\n"))
    cas = cas_of(out[-1])
    out.append(c.req("ma a1 C%d v c\r\n" % cas))
    out.append(c.req("ma a1 D18446744073709551615 v\r\n"))
    out.append(c.req("ma a1 MI D2 v k O1 c\r\n"))
    out.append(c.req("ma a1 D0 v\r\n"))
    out.append(c.req("ma a1 D+1 v\r\n"))
    out.append(c.req("ma a1 D01 v\r\n"))
    out.append(c.req("ma a1 f s l h u\r\n"))
    out.append(c.req("ms a2 2\r\nxx\r\n"))
    out.append(c.req("ma a2 v\r\n"))
    out.append(c.req("ma a2 q\r\n"))
    out.append(c.req("ma a3 N0 q\r\n"))
    out.append(c.req("ma a3 N0 q v\r\n"))
    out.append(c.req("ma a4 N0 q v\r\n"))
    out.append(c.req("ma a5 J5 v\r\n"))
    out.append(c.req("ma a5 q\r\n"))
    out.append(c.req("ma a5 C5 q\r\n"))
    out.append(c.req("ma a6 N100 t v T5\r\n"))
    out.append(c.req("ma a6 t\r\n"))
    out.append(c.req("ma a7 T5 N100 t\r\n"))
    out.append(c.req("ma a7 t\r\n"))
    out.append(c.req("ma a8 N100 J3 t c v k O1 q\r\n"))
    out.append(c.req("ms a9 3\r\n100\r\n"))
    out.append(c.req("ma a9 MD D1 v\r\n"))
    out.append(c.req("ma a9 MD D1000 v\r\n"))
    out.append(c.req("ms a10 20\r\n18446744073709551615\r\n"))
    out.append(c.req("ma a10 v\r\n"))
    out.append(c.req("ms a11 3\r\n 12\r\n"))
    out.append(c.req("ma a11 v\r\n"))
    return out


def conv_me(c):
    out = []
    out.append(c.req("me e1\r\n"))
    out.append(c.req("ms e1 2\r\nhi\r\n"))
    out.append(c.req("me e1\r\n"))
    out.append(c.req("me e1 x y z\r\n"))
    out.append(c.req("me  e1\r\n"))
    out.append(c.req("mg e1 v\r\n"))
    out.append(c.req("me e1\r\n"))
    out.append(c.req("ms e2 2 T100\r\nhi\r\n"))
    out.append(c.req("me e2\r\n"))
    out.append(c.req("me e2 b\r\n"))
    out.append(c.req("me e2 bx\r\n"))
    return out


def conv_mixed(c):
    """Meta and classic commands on one connection, pipelined."""
    out = []
    out.append(c.req("set x1 5 0 2\r\nhi\r\nmg x1 v f\r\nget x1\r\n"))
    out.append(c.req("mg x1 q v\r\nmg x2 q v\r\nmg x3 q v k\r\n"))
    out.append(c.req("ms x2 1 q\r\na\r\nms x3 1 q\r\nb\r\n"
                     "mg x1 q v k\r\nmg x2 q v k\r\nmg x3 q v k\r\n"
                     "mg x4 q v k\r\n"))
    out.append(c.req("md x1 q\r\nmd x2 q\r\nmd x9 q\r\nget x1 x2 x3\r\n"))
    out.append(c.req("ma n1 N0 J1 q\r\nincr n1 5\r\nma n1 v\r\n"))
    return out


def conv_split(c):
    """Values that arrive in pieces, and a large value."""
    import time
    out = []
    c.sock.sendall(b"ms sp1 10 c")
    time.sleep(0.05)
    c.sock.sendall(b" T0\r\n01234")
    time.sleep(0.05)
    c.sock.sendall(b"56789\r")
    time.sleep(0.05)
    out.append(c.req("\n"))
    out.append(c.req("mg sp1 v s\r\n"))
    c.sock.sendall(b"ms sp2 3\r\nabc")
    time.sleep(0.05)
    out.append(c.req("\r\n"))
    big = "".join(chr(65 + i % 26) for i in range(512 * 1024))
    out.append(c.req("ms sp3 %d\r\n%s\r\n" % (len(big), big)))
    out.append(c.req("mg sp3 v s k\r\nmg sp3 v O2\r\n"))
    out.append(c.req("ms sp3 2 MA\r\n!!\r\nmg sp3 s\r\n"))
    return out


STAT_KEYS = ["cmd_get", "cmd_set", "cmd_meta", "cmd_touch", "get_hits",
             "get_misses", "touch_hits", "touch_misses", "delete_hits",
             "delete_misses", "incr_hits", "decr_hits", "decr_misses"]


def conv_stats(c):
    """Which counters each meta command moves (memcached: mg with T on a
    hit is a touch, a vivified miss is a get hit, cmd_meta counts me)."""
    def stats():
        r = c.req("stats\r\n")
        return {ln.split(" ")[1]: int(ln.split(" ")[2])
                for ln in r.split("\r\n") if ln.startswith("STAT ")
                and ln.split(" ")[1] in STAT_KEYS}
    out = []
    c.req("ms st-a 1\r\nx\r\n")
    for cmd in ["mn", "me st-a", "mg st-a v", "mg st-b v", "mg st-a h u",
                "mg st-a u", "mg st-a T10", "mg st-b T10", "mg st-n1 N10",
                "mg st-a", "ma st-n3", "md st-a", "md st-a",
                "mg st-zz zz", "md st-zz zz", "mg st-n1 N10", "mg st-n1 q",
                "ma st-n3 N0 MD", "ma st-n3 MD", "ma st-n3 C1"]:
        before = stats()
        out.append(c.req(cmd + "\r\n"))
        after = stats()
        out.append(cmd + ": " + " ".join(
            "%s=%d" % (k, after[k] - before[k]) for k in STAT_KEYS
            if after[k] != before[k]))
    before = stats()
    c.req("ms st-x 1\r\nx\r\n")
    after = stats()
    out.append("ms: " + " ".join("%s=%d" % (k, after[k] - before[k])
                                 for k in STAT_KEYS if after[k] != before[k]))
    return out


CONVERSATIONS = [conv_stats, conv_split, conv_basic, conv_errors, conv_ms_errors, conv_ms_modes,
                 conv_ms_cas, conv_base64, conv_ttl, conv_recache, conv_md,
                 conv_ma, conv_me, conv_mixed]


class CasMap:
    """Maps cas values to first-seen order, so two servers' cas patterns
    can be compared."""

    def __init__(self):
        self.m = {}

    def __call__(self, v):
        if v == "0":
            return "0"
        return "#%d" % self.m.setdefault(v, len(self.m) + 1)


def close(a, b):
    try:
        return abs(int(a) - int(b)) <= 1
    except ValueError:
        return False


META_CODES = ("HD", "VA", "EN", "NS", "EX", "NF")


def same_reply(ours, ref, cas_ours, cas_ref):
    """Compares two replies; returns None when equal, else a reason."""
    lo = ours.split("\r\n")
    lr = ref.split("\r\n")
    if len(lo) != len(lr):
        return "line count"
    for a, b in zip(lo, lr):
        ta, tb = a.split(" "), b.split(" ")
        if len(ta) != len(tb):
            return "token count in %r vs %r" % (a, b)
        if ta[0] == "ME" and tb[0] == "ME":
            for x, y in zip(ta[1:], tb[1:]):
                kx, _, vx = x.partition("=")
                ky, _, vy = y.partition("=")
                if kx != ky:
                    return "me field %r vs %r" % (x, y)
                if kx in ("cls", "size") or (
                        kx in ("exp", "la") and close(vx, vy)):
                    continue
                if kx == "cas" and cas_ours(vx) == cas_ref(vy):
                    continue
                if vx != vy:
                    return "me field %r vs %r" % (x, y)
            continue
        if ta[0] not in META_CODES:
            if a != b:
                return "line %r vs %r" % (a, b)
            continue
        for x, y in zip(ta, tb):
            if x == y and not (x[:1] == "c" and x[1:].isdigit()):
                continue
            if x[:1] != y[:1]:
                return "token %r vs %r" % (x, y)
            if x[:1] == "c" and x[1:].isdigit() and y[1:].isdigit():
                if cas_ours(x[1:]) != cas_ref(y[1:]):
                    return "cas pattern %r vs %r" % (x, y)
                continue
            if x[:1] in ("t", "l") and close(x[1:], y[1:]):
                continue
            return "token %r vs %r" % (x, y)
    return None


def main():
    mctest.need_reference()
    ours = mctest.Daemon()
    ref = mctest.Daemon(binary=mctest.DEBIAN_MEMCACHED)
    for conv in CONVERSATIONS:
        co, cr = Conv(ours.port), Conv(ref.port)
        got, want = conv(co), conv(cr)
        eq(len(got), len(want), "%s: reply count" % conv.__name__)
        cas_o, cas_r = CasMap(), CasMap()
        for i, (a, b) in enumerate(zip(got, want)):
            why = same_reply(a, b, cas_o, cas_r)
            check(why is None, "%s #%d" % (conv.__name__, i),
                  "%s\n  ours: %r\n  want: %r" % (why, a[:300], b[:300]))
    done()


if __name__ == "__main__":
    main()

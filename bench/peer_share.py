#!/usr/bin/python3
"""What the with-peer row of bench/run measures on a 2-CPU machine.

Runs our daemon on CPU 0 under loadgen's mix (CPU 1) in three cases,
alternated, --reps times: nothing else on CPU 1; bench/standin (no
replication, nice 19) on CPU 1; a real peer (nice 19) on CPU 1. Prints,
per run, the mix's ops/s, the primary's CPU time per operation (from
/proc) and, for the peer, its CPU time and context switches per second.
With --perf PREFIX it also records `perf record -e cpu-clock -g` of the
primary during each mix, to PREFIX-<case>-<rep>.data.

    bench/peer_share.py --build build [--reps 2] [--duration 8]

The figures quoted in doc/performance.md ("An experiment script ...") came
from an earlier, uncommitted version of this script with the same steps."""
import argparse
import json
import os
import socket
import subprocess
import time

KEYS = 100000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_accept(host, port):
    for _ in range(250):
        try:
            socket.create_connection((host, port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit("peer_share: %s:%d does not accept" % (host, port))


def repl_state(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"stats\r\n")
    buf = b""
    while not buf.endswith(b"END\r\n"):
        buf += s.recv(65536)
    s.close()
    for line in buf.decode().split("\r\n"):
        f = line.split()
        if len(f) == 3 and f[1] == "repl_state":
            return f[2]
    return ""


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def switches(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if "ctxt_switches" in line:
                k, v = line.split(":")
                out[k] = int(v)
    return out


def daemon(binary, cpu, host, port, rport, extra=(), pre=()):
    argv = list(pre) + ["taskset", "-c", cpu, binary, "-u", "root", "-p",
                        str(port), "-l", host, "-U", "0", "-m", "1024", "-X",
                        str(rport)] + list(extra)
    p = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    wait_accept(host, port)
    return p


def loadgen(args, port, *opts):
    out = subprocess.run(
        ["taskset", "-c", "1", args.loadgen, "-s", "127.0.0.1:%d" % port] +
        [str(o) for o in opts], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args, case, rep):
    port = free_port()
    rport = free_port() if case == "peer" else 0
    prim = daemon(args.ours, "0", "127.0.0.1", port, rport)
    peer = hog = perf = None
    try:
        if case == "peer":
            peer = daemon(args.ours, "1", "127.0.0.2", port, rport,
                          ["-x", "127.0.0.1"], ["nice", "-n", "19"])
            deadline = time.time() + 10
            while repl_state(port) != "online" and time.time() < deadline:
                time.sleep(0.02)
        loadgen(args, port, "-k", KEYS, "-t", 0)
        if case == "standin":
            hog = subprocess.Popen(["nice", "-n", "19", "taskset", "-c", "1",
                                    args.standin, "100", "5"])
        if args.perf:
            perf = subprocess.Popen(
                ["perf", "record", "-e", "cpu-clock", "-F", "4000", "-g",
                 "-p", str(prim.pid), "-o",
                 "%s-%s-%d.data" % (args.perf, case, rep)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        c0 = cpu_seconds(prim.pid)
        p0 = (cpu_seconds(peer.pid), switches(peer.pid)) if peer else None
        r = loadgen(args, port, "-n", "-k", KEYS, "-w", "mix", "-t",
                    args.duration)
        c1 = cpu_seconds(prim.pid)
        line = "%-8s ops/s %9.0f  primary CPU/op %.3f us" % (
            case, r["ops_per_sec"], (c1 - c0) * 1e6 / r["ops"])
        if peer:
            p1 = (cpu_seconds(peer.pid), switches(peer.pid))
            d = lambda k: (p1[1][k] - p0[1][k]) / args.duration
            line += ("  peer CPU %.2f s, switches/s voluntary %.0f "
                     "involuntary %.0f" % (p1[0] - p0[0],
                                           d("voluntary_ctxt_switches"),
                                           d("nonvoluntary_ctxt_switches")))
        print(line, flush=True)
    finally:
        if perf:
            perf.send_signal(2)
            perf.wait()
        for p in (hog, peer, prim):
            if p:
                p.kill()
                p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True,
                    help="build directory (memcached, bench/loadgen, "
                    "bench/standin)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--duration", type=float, default=8)
    ap.add_argument("--perf", metavar="PREFIX")
    args = ap.parse_args()
    args.ours = os.path.join(args.build, "memcached")
    args.loadgen = os.path.join(args.build, "bench", "loadgen")
    args.standin = os.path.join(args.build, "bench", "standin")
    for rep in range(args.reps):
        for case in ("none", "standin", "peer"):
            run(args, case, rep)


if __name__ == "__main__":
    main()

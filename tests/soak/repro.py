#!/usr/bin/env python3
"""Small, deterministic reproductions of the stewardd bugs the soak found.

Each case starts its own stewardd (free loopback port, temporary directory),
does the least that shows the bug, prints what was expected and what came
back, and stops the server. Exit status 1 if any case still reproduces.

Usage: repro.py --server build/plain/src/server/stewardd [CASE...]
Cases: deadlock, expire-replay, incr-expired, slow-reader (default: all).
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import Conn, ConnLost, encode, free_port, rss_kib  # noqa: E402


class Server:
    def __init__(self, binary, *flags, durable=False):
        self.binary, self.flags = binary, list(flags)
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="steward-repro-")
        if durable:
            self.flags += ["--dir", self.dir, "--appendfsync", "always"]
        self.proc = None

    def start(self):
        argv = [self.binary, "--port", str(self.port)] + self.flags
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                c = Conn(self.port, 2)
                c.call("PING")
                c.close()
                return
            except (OSError, ConnLost):
                time.sleep(0.05)
        raise RuntimeError("stewardd did not start")

    def kill9(self, done=True):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        if done:
            shutil.rmtree(self.dir, ignore_errors=True)


def verdict(name, ok, expected, actual):
    print("%-14s %s\n  expected: %s\n  actual:   %s" % (name, "ok" if ok else "REPRODUCED", expected, actual))
    return ok


def case_deadlock(binary):
    """Pipelines of single-key commands away to other shards followed by a
    multi-shard MSET, from 16 clients: the shards deadlock in world_enter."""
    srv = Server(binary, "--shards", "4")
    srv.start()
    done = [0]

    def client(i):
        try:
            c = Conn(srv.port, 30)
            pipe = [encode("GET", "x%d" % j) for j in range(8)]
            pipe.append(encode("MSET", "a%d" % i, 1, "b%d" % i, 2, "c%d" % i, 3, "d%d" % i, 4))
            while True:
                c.pipeline(pipe)
                done[0] += 1
        except (OSError, ConnLost):
            pass

    for i in range(16):
        threading.Thread(target=client, args=(i,), daemon=True).start()
    stuck, last = 0.0, 0
    for _ in range(10):
        time.sleep(1)
        if done[0] == last:
            stuck += 1
        last = done[0]
    srv.kill9()
    return verdict("deadlock", stuck == 0, "pipelines keep completing for 10 s",
                   "%d pipelines, then %d of 10 s without any reply" % (done[0], stuck))


def case_expire_replay(binary):
    """A key whose TTL was extended (EXPIRE) or removed (PERSIST) after an
    earlier deadline is lost on recovery once that earlier deadline passed."""
    srv = Server(binary, "--shards", "1", durable=True)
    srv.start()
    c = Conn(srv.port, 5)
    c.pipeline([encode("SET", "a", "v1", "PX", 500), encode("EXPIRE", "a", 100),
                encode("SET", "b", "v2"), encode("EXPIRE", "b", 1), encode("EXPIRE", "b", 100),
                encode("SET", "c", "v3", "PX", 500), encode("PERSIST", "c")])
    time.sleep(1.2)
    before = c.pipeline([encode("GET", k) for k in "abc"])
    srv.kill9(done=False)
    srv.start()
    c = Conn(srv.port, 5)
    after = c.pipeline([encode("GET", k) for k in "abc"])
    srv.kill9()
    return verdict("expire-replay", after == before, "after SIGKILL + restart: %r" % before, repr(after))


def case_incr_expired(binary):
    """INCRBY/APPEND on a key whose deadline has passed but that was not yet
    removed: the new value keeps the old, past deadline and vanishes (APPEND
    also appends to the expired value, read from freed memory)."""
    srv = Server(binary, "--shards", "1", "--hz", "1")
    srv.start()
    c = Conn(srv.port, 5)
    c.pipeline([encode("SET", "n", 5, "PX", 100), encode("SET", "s", "abc", "PX", 100)])
    time.sleep(0.3)
    got = c.pipeline([encode("INCRBY", "n", 1), encode("APPEND", "s", "xy"), encode("GET", "n"), encode("GET", "s")])
    srv.kill9()
    want = [1, 2, b"1", b"xy"]
    return verdict("incr-expired", got == want, "INCRBY n 1, APPEND s xy, GET n, GET s: %r" % want, repr(got))


def case_slow_reader(binary):
    """One client pipelines GETs of 64 KiB values on other shards and never
    reads: stewardd keeps reading and its memory grows far past its output
    limits, and keeps growing after it closes the client."""
    srv = Server(binary, "--shards", "4", "--client-output-stall", "5")
    srv.start()
    c = Conn(srv.port, 5)
    c.pipeline([encode("SET", "big:%d" % i, b"x" * 65536) for i in range(4)])
    s = Conn(srv.port, 0.5).sock
    chunk = b"".join(encode("GET", "big:%d" % (i % 4)) for i in range(1000))
    sent, peak, t0 = 0, 0, time.time()
    try:
        while time.time() - t0 < 3:
            s.sendall(chunk)
            sent += len(chunk)
            peak = max(peak, rss_kib(srv.proc.pid) or 0)
    except OSError:
        pass
    while time.time() - t0 < 12 and peak < (1536 << 10):
        time.sleep(0.1)
        peak = max(peak, rss_kib(srv.proc.pid) or 0)
    s.close()
    srv.kill9()
    return verdict("slow-reader", peak < (512 << 10), "server RSS bounded (under 512 MiB)",
                   "%d MiB of GETs accepted from a client that reads nothing; RSS peaked at %d MiB%s"
                   % (sent >> 20, peak >> 10, " (stopped at the 1.5 GiB cap)" if peak >= (1536 << 10) else ""))


CASES = {"deadlock": case_deadlock, "expire-replay": case_expire_replay,
         "incr-expired": case_incr_expired, "slow-reader": case_slow_reader}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", required=True)
    p.add_argument("cases", nargs="*", choices=[[]] + list(CASES), default=[])
    a = p.parse_args(argv)
    ok = True
    for name in a.cases or list(CASES):
        ok = CASES[name](a.server) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

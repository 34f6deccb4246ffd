#!/usr/bin/python3
"""stewardd through redis-py, Debian's python3-redis: every command family,
RESP3, a 10,000-command pipeline, 100+ concurrent connections, expiry, the
INCR family's edge cases, the Ledger under concurrent transfers, the
commands on two keys (RENAME, COPY, MOVE, LCS) across shards, and
durability across a SIGKILL.

Usage: tests/server/test_redis_py.py SERVER-BINARY [unittest options]

SERVER-BINARY is build/<variant>/src/server/stewardd, or redis-server to
check the expectations themselves: tests that need stewardd's own features
(the Ledger) skip when INFO server has no steward_version field.

It runs under /usr/bin/python3, where Debian's python3-redis lives. Servers
are started here the way tests/server/lib.sh starts them (same flags, same
translation for redis-server); this file owns its servers' processes so it
can SIGKILL and restart them.
"""

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

try:
    import redis
except ImportError:  # pragma: no cover
    sys.stderr.write("test_redis_py: python3-redis is missing (apt-get install python3-redis)\n")
    sys.exit(2)

SERVER_BIN = None  # set from argv in main
HOST = "127.0.0.1"
# Shards for stewardd (ignored by redis-server); more than the cores, so that
# commands cross shards even on a small machine.
SHARDS = os.environ.get("SW_SHARDS", "4")


# ---- servers -----------------------------------------------------------------


def is_redis(binary):
    return os.path.basename(binary).startswith("redis-server")


def free_port():
    """A port nothing listens on now (the server may still lose a race for
    it; Server.start then tries another)."""
    while True:
        port = random.randint(20000, 59999)
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) != 0:
                return port


def translate(binary, flags):
    """stewardd's flags, as redis-server wants them (see lib.sh)."""
    if not is_redis(binary):
        return list(flags)
    out = ["--save", "", "--daemonize", "no", "--logfile", ""]
    i = 0
    while i < len(flags):
        f = flags[i]
        if f == "--shards":
            i += 1
        elif f == "--dir":
            out += ["--dir", flags[i + 1], "--appendonly", "yes"]
            i += 1
        elif f == "--client-output-buffer-limit":
            out += [f, "normal %s %s 0" % (flags[i + 1], flags[i + 1])]
            i += 1
        else:
            out.append(f)
        i += 1
    return out


class Server:
    """One server process on a free loopback port, in a temporary directory."""

    def __init__(self, *flags, env=None):
        self.flags = list(flags)
        self.env = env
        self.work = tempfile.mkdtemp(prefix="sw-redis-py.")
        self.port = None
        self.proc = None
        self.log = None

    def start(self):
        for _ in range(5):
            self.port = free_port()
            if self._launch():
                return self
            if "in use" not in self.log_text():
                break
        raise RuntimeError("server did not start: %s\n%s" % (self.argv(), self.log_text()))

    def restart(self):
        """Starts the same command again on the same port (and directory)."""
        if not self._launch():
            raise RuntimeError("server did not restart:\n" + self.log_text())
        return self

    def argv(self):
        return [SERVER_BIN] + translate(SERVER_BIN, self.flags) + ["--port", str(self.port)]

    def log_text(self):
        try:
            with open(os.path.join(self.work, "server.log"), errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def _launch(self):
        self.log = open(os.path.join(self.work, "server.log"), "ab")
        self.proc = subprocess.Popen(
            self.argv(),
            cwd=self.work,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, **(self.env or {})),
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                return False
            if self.answers():
                return True
            time.sleep(0.05)
        self.kill9()
        return False

    def answers(self, timeout=1):
        try:
            with socket.create_connection((HOST, self.port), timeout=timeout) as s:
                s.sendall(b"PING\r\n")
                line = s.recv(64)
                return line.startswith(b"+PONG") or line.startswith(b"-NOAUTH")
        except OSError:
            return False

    def client(self, **kw):
        kw.setdefault("socket_timeout", 20)
        return redis.Redis(host=HOST, port=self.port, **kw)

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.log:
            self.log.close()

    def cleanup(self):
        self.kill9()
        shutil.rmtree(self.work, ignore_errors=True)


def rss_kib(pid):
    """The resident memory of a process, in KiB (Linux /proc)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---- a raw RESP client ---------------------------------------------------------


class Raw:
    """A socket that speaks RESP2 and RESP3 and returns every reply as
    (type-byte, value), so a test sees exactly what the server sent."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send(self, *args):
        self.sock.sendall(self.encode(args))

    def send_many(self, cmds):
        """Sends the commands in one write: a pipeline the server reads whole."""
        self.sock.sendall(b"".join(self.encode(c) for c in cmds))

    def call(self, *args):
        self.send(*args)
        return self.read()

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("closed by the server")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b"-"):
            return (t, rest.decode())
        if t in (b":", b","):
            return (t, int(rest) if t == b":" else rest.decode())
        if t == b"_":
            return (t, None)
        if t == b"#":
            return (t, rest == b"t")
        if t in (b"$", b"=", b"!"):
            n = int(rest)
            return (t, None if n < 0 else self._bytes(n))
        if t in (b"*", b"~", b">"):
            n = int(rest)
            return (t, None if n < 0 else [self.read() for _ in range(n)])
        if t == b"%":
            return (t, [(self.read(), self.read()) for _ in range(int(rest))])
        raise AssertionError("unknown RESP type in %r" % line)


def plain(reply):
    """A tagged reply without its tags: bulks as bytes, maps as dicts."""
    t, v = reply
    if t in (b"*", b"~", b">") and v is not None:
        return [plain(x) for x in v]
    if t == b"%":
        return {plain(k): plain(val) for k, val in v}
    return v


# ---- the shared server -----------------------------------------------------------

SRV = None
STEWARD = False


def setUpModule():
    global SRV, STEWARD
    SRV = Server("--shards", SHARDS).start()
    STEWARD = "steward_version" in SRV.client().info("server")


def tearDownModule():
    rc = SRV.stop()
    SRV.cleanup()
    if rc != 0:
        raise AssertionError("the server exited %s on SIGTERM, not 0" % rc)


def needs_steward(test):
    def wrapper(self, *a, **kw):
        if not STEWARD:
            self.skipTest("needs stewardd (redis-server has no ledger)")
        return test(self, *a, **kw)

    wrapper.__name__ = test.__name__
    wrapper.__doc__ = test.__doc__
    return wrapper


class Base(unittest.TestCase):
    def setUp(self):
        # A server that stopped answering fails each test at once instead of
        # making every one wait out its socket timeout.
        if not SRV.answers(5):
            self.fail("the server does not answer PING on a new connection")
        self.r = SRV.client()
        self.r.flushall()

    def tearDown(self):
        self.r.close()

    @contextlib.contextmanager
    def beside_one_shard(self, srv):
        """A server of one shard, to hold srv's replies against, with a Raw
        client of each: yields (the server, srv's client, its client). The
        server stops at the end, and must exit cleanly."""
        one = Server("--shards", "1").start()
        sharded, single = Raw(srv.port), Raw(one.port)
        try:
            yield one, sharded, single
        finally:
            sharded.close()
            single.close()
            rc = one.stop()
            one.cleanup()
        self.assertEqual(0, rc, "the one-shard server exited %s on SIGTERM" % rc)

    def run_threads(self, fns, timeout=240, beside=()):
        """Runs each fn(i) in a thread to its end, and each of beside(i,
        done) in a thread until then (it returns once done is set); returns
        the exceptions of all of them, as text."""
        errors = []
        done = threading.Event()

        def guard(fn, *args):
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("thread %d: %r" % (args[0], e))

        def start(target, args):
            th = threading.Thread(target=target, args=args)
            th.start()
            return th

        others = [start(guard, (fn, len(fns) + i, done)) for i, fn in enumerate(beside)]
        threads = [start(guard, (fn, i)) for i, fn in enumerate(fns)]
        for th in threads:
            th.join(timeout)
        done.set()
        for th in others:
            th.join(60)
        stuck = [th for th in threads + others if th.is_alive()]
        self.assertFalse(stuck, "threads stuck: a deadlock?")
        return errors

    def kill9_amid(self, srv, fns, until):
        """Runs each fn(i) in a thread against srv, and SIGKILLs srv after a
        second and once until() holds (10 s more at most: on a loaded
        machine one thread may wait long behind the others); then waits for
        the threads, which end on their connections' errors (the kill's).
        Returns what else any of them raised, as "thread i: error"."""
        errors = []

        def guarded(fn, i):
            try:
                fn(i)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                pass
            except Exception as e:  # noqa: BLE001 - reported to the caller
                errors.append("thread %d: %r" % (i, e))

        ts = [threading.Thread(target=guarded, args=(fn, i)) for i, fn in enumerate(fns)]
        for t in ts:
            t.start()
        time.sleep(1.0)
        deadline = time.time() + 10
        while not until() and time.time() < deadline:
            time.sleep(0.05)
        srv.kill9()
        for t in ts:
            t.join(60)
        return errors

    def assertError(self, text, fn, *args, **kw):
        """fn(*args) fails with exactly this error text (redis-py drops the
        leading "ERR ")."""
        with self.assertRaises(redis.exceptions.ResponseError) as cm:
            fn(*args, **kw)
        self.assertEqual(text, str(cm.exception))


# ---- command families --------------------------------------------------------------


class TestConnection(Base):
    def test_ping_echo(self):
        self.assertTrue(self.r.ping())
        self.assertEqual(b"hi\x00there", self.r.echo(b"hi\x00there"))
        c = Raw(SRV.port)
        self.assertEqual((b"$", b"msg"), c.call("PING", "msg"))
        self.assertEqual((b"+", "PONG"), c.call("PING"))
        c.close()

    def test_select(self):
        r3 = SRV.client(db=3)
        self.r.set("k", "db0")
        r3.set("k", "db3")
        self.assertEqual(b"db0", self.r.get("k"))
        self.assertEqual(b"db3", r3.get("k"))
        self.assertEqual(1, r3.dbsize())
        r3.flushdb()
        self.assertEqual(b"db0", self.r.get("k"))
        self.assertEqual(0, r3.dbsize())
        for db in (0, 15):
            self.assertTrue(SRV.client(db=db).ping())
        self.assertError("DB index is out of range", self.r.execute_command, "SELECT", 16)
        r3.close()

    def test_client_commands(self):
        self.assertIsNone(self.r.client_getname())
        self.assertTrue(self.r.client_setname("py-conn"))
        self.assertEqual("py-conn", self.r.client_getname())
        cid = self.r.client_id()
        self.assertIsInstance(cid, int)
        mine = [c for c in self.r.client_list() if c["name"] == "py-conn"]
        self.assertEqual(1, len(mine))
        self.assertEqual(str(cid), mine[0]["id"])
        self.assertEqual("0", mine[0]["db"])
        self.assertEqual("%s:%d" % (HOST, SRV.port), mine[0]["laddr"])

    def test_client_list_addresses(self):
        """addr is the client's end and laddr the server's, in Redis's
        field order, in CLIENT LIST and CLIENT INFO alike."""
        c = Raw(SRV.port)
        me = "addr=%s:%d laddr=%s:%d " % (c.sock.getsockname() + c.sock.getpeername())
        cid = c.call("CLIENT", "ID")[1]
        info = c.call("CLIENT", "INFO")[1].decode()
        self.assertIn(me, info)
        line = [l for l in c.call("CLIENT", "LIST")[1].decode().splitlines() if me in l]
        self.assertEqual(1, len(line))
        self.assertTrue(line[0].startswith("id=%d addr=" % cid), line[0])
        names = [f.split("=", 1)[0] for f in line[0].split(" ")]
        order = ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub"]
        self.assertEqual(order, names[: len(order)])
        c.close()

    def test_info_config_command(self):
        info = self.r.info()
        self.assertTrue("redis_version" in info or "steward_version" in info)
        self.assertIn("connected_clients", info)
        self.r.set("a", 1)
        self.r.set("b", 2, ex=100)
        ks = self.r.info("keyspace")
        self.assertEqual(2, ks["db0"]["keys"])
        self.assertEqual(1, ks["db0"]["expires"])
        self.assertEqual({"port": str(SRV.port)}, self.r.config_get("port"))
        self.assertTrue(self.r.config_set("timeout", 100))
        self.assertEqual({"timeout": "100"}, self.r.config_get("timeout"))
        self.r.config_set("timeout", 0)
        self.assertGreater(self.r.execute_command("COMMAND COUNT"), 20)
        self.assertEqual(2, self.r.dbsize())
        self.assertTrue(self.r.flushall())
        self.assertEqual(0, self.r.dbsize())

    def test_unknown_command(self):
        self.assertError(
            "unknown command 'nosuch', with args beginning with: 'x' ",
            self.r.execute_command,
            "nosuch",
            "x",
        )
        self.assertError("wrong number of arguments for 'get' command", self.r.execute_command, "GET")


class TestInfo(Base):
    """INFO as redis-cli and monitoring tools read it: Redis 7.0's sections
    and fields, through redis-py's parser, with values that follow the
    server."""

    FIELDS = {
        "server": ["redis_version", "redis_mode", "os", "arch_bits", "process_id", "run_id",
                   "tcp_port", "uptime_in_seconds", "uptime_in_days", "hz", "executable",
                   "config_file"],
        "clients": ["connected_clients", "blocked_clients", "maxclients"],
        "memory": ["used_memory", "used_memory_human", "used_memory_rss", "maxmemory",
                   "mem_allocator"],
        "persistence": ["loading", "aof_enabled", "aof_last_write_status",
                        "rdb_bgsave_in_progress", "rdb_last_bgsave_status"],
        "stats": ["total_connections_received", "total_commands_processed",
                  "instantaneous_ops_per_sec", "total_net_input_bytes", "total_net_output_bytes",
                  "rejected_connections", "expired_keys", "keyspace_hits", "keyspace_misses"],
    }

    def test_sections_have_their_fields(self):
        self.r.set("k", "v")
        for section, fields in self.FIELDS.items():
            info = self.r.info(section)
            for f in fields:
                self.assertIn(f, info, "INFO %s lacks %s" % (section, f))
            others = set(self.FIELDS) - {section}
            for o in others:
                self.assertNotIn(self.FIELDS[o][0], info, "INFO %s has %s's fields" % (section, o))
        self.assertEqual({"keys": 1, "expires": 0, "avg_ttl": 0}, self.r.info("keyspace")["db0"])

    @needs_steward
    def test_lending_counts(self):
        """A command across shards reaches each other shard through a lent
        turn or a wake-up (docs/server.md), which INFO counts (with one
        shard, nothing is sent); CONFIG RESETSTAT zeroes the counts."""
        keys = ["lc:%d" % j for j in range(16)]  # on every shard of 2 or 4
        before = self.r.info("stats")
        for i in range(100):
            self.r.mset({k: i for k in keys})
        after = self.r.info("stats")
        moved = sum(after[f] - before[f] for f in ("shard_lent_turns", "shard_wakeups"))
        if int(SHARDS) > 1:
            self.assertGreaterEqual(moved, 100)
        else:
            self.assertEqual(0, moved)
        self.r.config_resetstat()
        now = self.r.info("stats")
        self.assertLess(now["shard_lent_turns"] + now["shard_wakeups"], 20)  # INFO's own pause
        self.assertLess(now["shard_world_ops"], 2)

    def test_server_values(self):
        info = self.r.info("server")
        self.assertEqual(SRV.proc.pid, info["process_id"])
        self.assertEqual(SRV.port, info["tcp_port"])
        self.assertEqual("standalone", info["redis_mode"])
        self.assertEqual(64 if sys.maxsize > 2**32 else 32, info["arch_bits"])
        self.assertRegex(str(info["run_id"]), "^[0-9a-f]{40}$")
        self.assertTrue(str(info["redis_version"]).startswith("7."))
        self.assertEqual(info["uptime_in_seconds"] // 86400, info["uptime_in_days"])
        self.assertEqual(self.r.info("server")["run_id"], info["run_id"])
        if STEWARD:
            self.assertEqual(os.path.realpath(SERVER_BIN), info["executable"])
            self.assertEqual(int(SHARDS), info["shards"])
        mem = self.r.info("memory")
        self.assertGreater(mem["used_memory"], 0)
        self.assertGreater(mem["used_memory_rss"], 0)
        self.assertEqual(0, mem["maxmemory"])
        self.assertEqual(0, self.r.info("persistence")["loading"])
        self.assertEqual(0, self.r.info("persistence")["aof_enabled"])

    def test_which_sections(self):
        """Several sections at once (Redis 7), any case; all, everything and
        default give every section; a name INFO does not know gives none."""
        both = self.r.info("server", "CLIENTS")
        self.assertIn("redis_version", both)
        self.assertIn("connected_clients", both)
        self.assertNotIn("used_memory", both)
        self.r.set("k", "v")
        for which in (None, "all", "everything", "default"):
            info = self.r.info(which) if which else self.r.info()
            for fields in self.FIELDS.values():
                self.assertIn(fields[0], info, which)
            self.assertIn("db0", info, which)
        self.assertEqual({}, self.r.info("nosuch"))
        c = Raw(SRV.port)
        self.assertEqual((b"$", b""), c.call("INFO", "nosuch"))
        text = c.call("INFO", "nosuch", "clients")[1]
        self.assertTrue(text.startswith(b"# Clients\r\n"), text)
        self.assertTrue(text.endswith(b"\r\n") and not text.endswith(b"\r\n\r\n"), text)
        c.close()

    def clients_now(self):
        """connected_clients and the ids CLIENT LIST shows, once the two
        agree (connections of earlier tests close at their own pace)."""
        deadline = time.time() + 10
        while True:
            n = self.r.info("clients")["connected_clients"]
            ids = {c["id"] for c in self.r.client_list()}
            if n == len(ids) or time.time() > deadline:
                return n, ids
            time.sleep(0.05)

    @needs_steward
    def test_clients_spread_over_shards(self):
        """Each new client goes to the shard with the fewest connections,
        whichever thread the kernel gave its accept: 21 clients opened one
        after another on four shards sit 5, 5, 5, 6 (INFO's shard_clients),
        and the shards that clients left take the next ones."""
        srv = Server("--shards", "4").start()
        cs = []
        try:
            def spread():
                line = plain(cs[0].call("INFO", "clients")).decode()
                return [int(v) for v in re.search(r"shard_clients:([0-9,]+)", line).group(1).split(",")]

            for _ in range(21):
                cs.append(Raw(srv.port))
                cs[-1].call("PING")  # accepted and at home
            self.assertEqual([5, 5, 5, 6], sorted(spread()))
            for c in cs[1:7]:  # six leave, from whichever shards they were on
                c.close()
            cs = [cs[0]] + cs[7:]
            deadline = time.time() + 10
            while sum(spread()) != 15 and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(15, sum(spread()))
            for _ in range(6):  # each to the emptiest: level again
                cs.append(Raw(srv.port))
                cs[-1].call("PING")
            self.assertEqual([5, 5, 5, 6], sorted(spread()))
        finally:
            for c in cs:
                c.close()
            rc = srv.stop()
            srv.cleanup()
        self.assertEqual(0, rc)

    def test_connected_clients_moves(self):
        n0, ids0 = self.clients_now()
        self.assertEqual(n0, len(ids0))
        extra = [Raw(SRV.port) for _ in range(3)]
        for c in extra:
            c.call("PING")
        n1, ids1 = self.clients_now()
        self.assertEqual(n1, len(ids1))
        fresh = ids1 - ids0
        self.assertEqual(3, len(fresh))
        for c in extra:
            c.close()
        deadline = time.time() + 10
        while True:
            n2, ids2 = self.clients_now()
            if not ids2 & fresh or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(set(), ids2 & fresh)
        self.assertEqual(n2, len(ids2))
        self.assertLessEqual(n2, n1 - 3)
        conns = self.r.info("stats")["total_connections_received"]
        Raw(SRV.port).close()
        self.assertEqual(conns + 1, self.r.info("stats")["total_connections_received"])

    def test_commands_and_hits_move(self):
        before = self.r.info("stats")
        self.r.set("here", "1")
        for _ in range(10):
            self.r.get("here")
        for _ in range(4):
            self.r.get("absent")
        after = self.r.info("stats")
        # 15 commands, and the INFO that read `after`.
        self.assertGreaterEqual(after["total_commands_processed"] - before["total_commands_processed"], 16)
        self.assertEqual(10, after["keyspace_hits"] - before["keyspace_hits"])
        self.assertEqual(4, after["keyspace_misses"] - before["keyspace_misses"])
        self.assertGreater(after["total_net_input_bytes"], before["total_net_input_bytes"])
        self.assertGreater(after["total_net_output_bytes"], before["total_net_output_bytes"])

    def test_instantaneous_ops(self):
        """The rate follows the last 1.6 s: busy, it shows; it is sampled
        every 100 ms, as Redis does."""
        end = time.time() + 0.6
        while time.time() < end:
            self.r.ping()
        self.assertGreater(self.r.info("stats")["instantaneous_ops_per_sec"], 0)

    def test_expired_keys_moves(self):
        before = self.r.info("stats")["expired_keys"]
        self.r.set("brief", "1", px=30)
        time.sleep(0.1)
        self.assertIsNone(self.r.get("brief"))
        self.assertEqual(before + 1, self.r.info("stats")["expired_keys"])

    def test_keyspace_moves(self):
        self.assertNotIn("db0", self.r.info("keyspace"))
        self.r.mset({"a": 1, "b": 2, "c": 3})
        self.r.expire("a", 100)
        self.r.set("d", 4, ex=200)
        SRV.client(db=5).set("x", 1)
        ks = self.r.info("keyspace")
        self.assertEqual(4, ks["db0"]["keys"])
        self.assertEqual(2, ks["db0"]["expires"])
        self.assertEqual({"keys": 1, "expires": 0, "avg_ttl": 0}, ks["db5"])
        if STEWARD:
            # Exact here (the mean of 100 s and 200 s, less the time since);
            # redis-server's is a sampled estimate, 0 until it samples.
            self.assertTrue(149000 < ks["db0"]["avg_ttl"] <= 150000, ks["db0"])
        self.r.delete("b")
        self.r.persist("a")
        ks = self.r.info("keyspace")
        self.assertEqual(3, ks["db0"]["keys"])
        self.assertEqual(1, ks["db0"]["expires"])
        if STEWARD:
            self.assertTrue(199000 < ks["db0"]["avg_ttl"] <= 200000, ks["db0"])
        self.r.flushall()
        self.assertEqual({}, self.r.info("keyspace"))


class TestStrings(Base):
    def test_set_options(self):
        r = self.r
        self.assertTrue(r.set("k", "v"))
        self.assertIsNone(r.set("k", "w", nx=True))
        self.assertTrue(r.set("k", "w", xx=True))
        self.assertIsNone(r.set("absent", "w", xx=True))
        self.assertEqual(b"w", r.set("k", "x", get=True))
        self.assertTrue(r.set("k", "x", ex=100))
        self.assertEqual(100, r.ttl("k"))
        self.assertTrue(r.set("k", "y", keepttl=True))
        self.assertEqual(100, r.ttl("k"))
        self.assertTrue(r.set("k", "z", px=50000))
        self.assertTrue(40000 < r.pttl("k") <= 50000)
        self.assertTrue(r.set("k", "z", exat=int(time.time()) + 30))
        self.assertIn(r.ttl("k"), (29, 30))
        self.assertTrue(r.set("k", "z", pxat=int(time.time() * 1000) + 20000))
        self.assertIn(r.ttl("k"), (19, 20))
        self.assertError("syntax error", r.execute_command, "SET", "k", "v", "NX", "XX")
        self.assertError("invalid expire time in 'set' command", r.set, "k", "v", ex=0)

    def test_other_setters(self):
        r = self.r
        self.assertTrue(r.setnx("n", 1))
        self.assertFalse(r.setnx("n", 2))
        self.assertTrue(r.setex("e", 100, "v"))
        self.assertEqual(100, r.ttl("e"))
        self.assertTrue(r.psetex("p", 100000, "v"))
        self.assertEqual(100, r.ttl("p"))
        self.assertEqual(b"v", r.getex("p", persist=True))
        self.assertEqual(-1, r.ttl("p"))
        self.assertEqual(b"v", r.getex("p", ex=10))
        self.assertEqual(10, r.ttl("p"))
        self.assertIsNone(r.getex("nokey", ex=10))
        self.assertEqual(b"v", r.getdel("p"))
        self.assertIsNone(r.getdel("p"))
        self.assertIsNone(r.getset("gs", "a"))
        self.assertEqual(b"a", r.getset("gs", "b"))
        self.assertEqual(5, r.append("ap", "hello"))
        self.assertEqual(10, r.append("ap", b"\x00wrld"))
        self.assertEqual(10, r.strlen("ap"))
        self.assertEqual(b"hello\x00wrld", r.get("ap"))

    def test_ranges(self):
        r = self.r
        r.set("s", "Hello World")
        self.assertEqual(11, r.setrange("s", 6, "Redis"))
        self.assertEqual(b"Hello Redis", r.get("s"))
        self.assertEqual(b"Redis", r.getrange("s", -5, -1))
        self.assertEqual(b"", r.getrange("s", 5, 3))
        self.assertEqual(8, r.setrange("pad", 5, "abc"))
        self.assertEqual(b"\x00\x00\x00\x00\x00abc", r.get("pad"))
        self.assertError("offset is out of range", r.setrange, "s", -1, "x")

    def test_mset_mget_many(self):
        r = self.r
        mapping = {b"many:%d" % i: b"v\x00%d" % (i * 7) for i in range(2000)}
        self.assertTrue(r.mset(mapping))
        keys = list(mapping)
        random.shuffle(keys)
        keys.insert(1000, b"many:absent")
        got = r.mget(keys)
        for k, v in zip(keys, got):
            self.assertEqual(mapping.get(k), v, k)
        self.assertFalse(r.msetnx({"many:1": "x", "fresh": "y"}))
        self.assertEqual(0, r.exists("fresh"))
        self.assertTrue(r.msetnx({"fresh": "x", "fresh2": "y"}))
        self.assertEqual(2002, r.dbsize())

    def test_binary(self):
        r = self.r
        every = bytes(range(256)) * 4
        r.set(b"\x00\xff\r\nkey", every)
        self.assertEqual(every, r.get(b"\x00\xff\r\nkey"))
        self.assertEqual([b"\x00\xff\r\nkey"], r.keys(b"\x00*"))
        big = os.urandom(3 << 20)
        r.set("big", big)
        self.assertEqual(big, r.get("big"))


class TestIncr(Base):
    def test_incr_family(self):
        r = self.r
        self.assertEqual(1, r.incr("c"))
        self.assertEqual(11, r.incrby("c", 10))
        self.assertEqual(10, r.decr("c"))
        self.assertEqual(-10, r.decrby("c", 20))
        self.assertEqual(2.5, r.incrbyfloat("f", 2.5))
        self.assertEqual(b"2.5", r.get("f"))
        self.assertEqual(3.0, r.incrbyfloat("f", "0.5"))
        self.assertEqual(b"3", r.get("f"))

    def test_edges(self):
        r = self.r
        r.set("c", 2**63 - 1)
        self.assertError("increment or decrement would overflow", r.incr, "c")
        self.assertError("increment or decrement would overflow", r.incrby, "c", 1)
        r.set("c", -(2**63))
        self.assertError("increment or decrement would overflow", r.decr, "c")
        self.assertError("increment or decrement would overflow", r.incrby, "c", -1)
        self.assertError("decrement would overflow", r.decrby, "c", -(2**63))
        self.assertEqual(str(-(2**63)).encode(), r.get("c"))
        for bad in ("abc", " 1", "1 ", "1.0", "", "99999999999999999999"):
            r.set("bad", bad)
            self.assertError("value is not an integer or out of range", r.incr, "bad")
        self.assertError("value is not an integer or out of range", r.incrby, "c", "x")
        r.set("bad", "abc")
        self.assertError("value is not a valid float", r.incrbyfloat, "bad", 1)
        self.assertError("value is not a valid float", r.incrbyfloat, "f", "x")
        r.set("f", 1)
        self.assertError("increment would produce NaN or Infinity", r.incrbyfloat, "f", "inf")
        r.set("ttl", 1, ex=100)
        r.incr("ttl")
        self.assertEqual(100, r.ttl("ttl"))


class TestKeys(Base):
    def test_keyspace(self):
        r = self.r
        r.mset({"a1": 1, "a2": 2, "b1": 3})
        self.assertEqual(2, r.exists("a1", "a2"))
        self.assertEqual(2, r.exists("a1", "a1"))
        self.assertEqual(b"string", r.type("a1"))
        self.assertEqual(b"none", r.type("zz"))
        self.assertEqual([b"a1", b"a2"], sorted(r.keys("a*")))
        self.assertIn(r.randomkey(), (b"a1", b"a2", b"b1"))
        self.assertEqual(2, r.delete("a1", "a2", "zz"))
        self.assertEqual(1, r.unlink("b1"))
        self.assertIsNone(r.randomkey())

    def test_scan(self):
        r = self.r
        want = {b"scan:%d" % i for i in range(3000)}
        r.mset({k: 1 for k in want})
        seen = []
        cursor = 0
        while True:
            cursor, keys = r.scan(cursor, count=100)
            seen += keys
            if cursor == 0:
                break
        self.assertEqual(want, set(seen))
        self.assertEqual(len(want), len(seen), "a key came back twice")
        self.assertEqual(want, set(r.scan_iter(match="scan:*")))
        self.assertEqual(300, len(set(r.scan_iter(match="scan:*7", count=1000))))

    def test_rename(self):
        r = self.r
        r.set("src", "v", ex=100)
        self.assertTrue(r.rename("src", "dst"))
        self.assertEqual(b"v", r.get("dst"))
        self.assertEqual(100, r.ttl("dst"))
        self.assertEqual(0, r.exists("src"))
        self.assertError("no such key", r.rename, "src", "x")
        r.set("other", 1)
        self.assertFalse(r.renamenx("dst", "other"))
        self.assertTrue(r.renamenx("dst", "new"))


class TestExpiry(Base):
    def test_expire_and_ttl(self):
        r = self.r
        r.set("k", "v")
        self.assertEqual(-1, r.ttl("k"))
        self.assertEqual(-2, r.ttl("nokey"))
        self.assertEqual(-2, r.pttl("nokey"))
        self.assertTrue(r.expire("k", 100))
        self.assertEqual(100, r.ttl("k"))
        self.assertTrue(r.persist("k"))
        self.assertFalse(r.persist("k"))
        self.assertEqual(-1, r.pttl("k"))
        self.assertTrue(r.pexpire("k", 250))
        self.assertTrue(0 < r.pttl("k") <= 250)
        self.assertEqual(b"v", r.get("k"))
        time.sleep(0.4)
        self.assertIsNone(r.get("k"))
        self.assertEqual(-2, r.pttl("k"))
        self.assertFalse(r.expire("k", 10))

    def test_short_lived_keys(self):
        r = self.r
        r.set("ex", "v", ex=1)
        r.set("px", "v", px=300)
        r.psetex("ps", 300, "v")
        r.set("keep", "v")
        r.pexpireat("at", int(time.time() * 1000) + 300)  # absent: no-op
        r.set("at", "v")
        r.pexpireat("at", int(time.time() * 1000) + 300)
        self.assertEqual(5, r.exists("ex", "px", "ps", "keep", "at"))
        time.sleep(0.6)
        self.assertEqual(2, r.exists("ex", "px", "ps", "keep", "at"))
        time.sleep(0.8)
        self.assertEqual([b"keep"], r.keys("*"))
        self.assertEqual(1, r.dbsize())

    def test_persist_survives(self):
        r = self.r
        r.set("p", "v", px=300)
        self.assertTrue(r.persist("p"))
        time.sleep(0.5)
        self.assertEqual(b"v", r.get("p"))


class TestResp3(Base):
    """HELLO 3 on a raw socket: each reply's RESP3 type as Redis 7 sends it."""

    def test_types(self):
        c = Raw(SRV.port)
        try:
            t, hello = c.call("HELLO", "3")
            self.assertEqual(b"%", t)
            h = plain((t, hello))
            self.assertEqual(3, h[b"proto"])
            for field in (b"server", b"version", b"id", b"mode", b"role", b"modules"):
                self.assertIn(field, h)
            self.assertEqual((b"_", None), c.call("GET", "nokey"))
            self.assertEqual((b"+", "OK"), c.call("SET", "k", "v"))
            self.assertEqual((b"$", b"v"), c.call("GET", "k"))
            self.assertEqual((b":", 1), c.call("EXISTS", "k"))
            self.assertEqual((b":", -1), c.call("TTL", "k"))
            self.assertEqual((b"+", "PONG"), c.call("PING"))
            t, v = c.call("MGET", "k", "nokey")
            self.assertEqual((b"*", [(b"$", b"v"), (b"_", None)]), (t, v))
            t, v = c.call("CONFIG", "GET", "maxclients")
            self.assertEqual(b"%", t)
            self.assertEqual({b"maxclients": b"10000"}, plain((t, v)))
            t, v = c.call("SET", "k", "w", "GET")
            self.assertEqual((b"$", b"v"), (t, v))
            self.assertEqual((b"_", None), c.call("SET", "k", "w", "NX"))
            t, v = c.call("GETSET", "nokey2", "x")
            self.assertEqual((b"_", None), (t, v))
            t, v = c.call("INCRBYFLOAT", "f", "1.5")
            self.assertEqual((b"$", b"1.5"), (t, v))
            seen, cursor = set(), b"0"
            while True:
                t, v = c.call("SCAN", cursor, "COUNT", "100")
                self.assertEqual(b"*", t)
                self.assertEqual(b"$", v[0][0])
                self.assertEqual(b"*", v[1][0])
                cursor = v[0][1]
                seen |= set(plain(v[1]))
                if cursor == b"0":
                    break
            self.assertEqual({b"k", b"nokey2", b"f"}, seen)
            t, v = c.call("NOSUCH")
            self.assertEqual(b"-", t)
            self.assertTrue(v.startswith("ERR unknown command 'NOSUCH'"), v)
            t, v = c.call("HELLO", "2")
            self.assertEqual(b"*", t)
            self.assertEqual((b"$", None), c.call("GET", "nokey"))
            self.assertEqual(
                (b"*", [(b"$", b"maxclients"), (b"$", b"10000")]), c.call("CONFIG", "GET", "maxclients")
            )
        finally:
            c.close()

    def test_hello_errors(self):
        c = Raw(SRV.port)
        try:
            self.assertEqual((b"-", "NOPROTO unsupported protocol version"), c.call("HELLO", "4"))
            t, v = c.call("HELLO", "3", "SETNAME", "r3")
            self.assertEqual(b"%", t)
            self.assertEqual((b"$", b"r3"), c.call("CLIENT", "GETNAME"))
        finally:
            c.close()


# ---- volume and concurrency --------------------------------------------------------


class TestPipeline(Base):
    def test_10000_commands(self):
        """A 10,000-command pipeline; every reply checked in order."""
        p = self.r.pipeline(transaction=False)
        want = []
        for i in range(2500):
            key = b"pl:%d\x00" % i
            val = os.urandom(i % 97)
            p.set(key, val)
            want.append(True)
            p.get(key)
            want.append(val)
            p.incr(b"pl:ctr")
            want.append(i + 1)
            p.append(key, b"!")
            want.append(len(val) + 1)
        got = p.execute()
        self.assertEqual(10000, len(got))
        for i, (w, g) in enumerate(zip(want, got)):
            self.assertEqual(w, g, "reply %d" % i)

    def test_errors_in_a_pipeline(self):
        p = self.r.pipeline(transaction=False)
        p.set("s", "x").incr("s").get("s").execute_command("NOSUCH").ping()
        got = p.execute(raise_on_error=False)
        self.assertEqual(True, got[0])
        self.assertIsInstance(got[1], redis.exceptions.ResponseError)
        self.assertEqual(b"x", got[2])
        self.assertIsInstance(got[3], redis.exceptions.ResponseError)
        self.assertEqual(True, got[4])


class TestConcurrency(Base):
    THREADS = 128
    ROUNDS = 40

    def test_many_connections(self):
        """Each thread on its own connection stores and reads its own keys;
        every reply must be the thread's own."""
        errors = []
        barrier = threading.Barrier(self.THREADS)

        def work(t):
            try:
                c = SRV.client()
                barrier.wait(60)
                for i in range(self.ROUNDS):
                    key = "conc:%d:%d" % (t, i % 7)
                    val = "thread-%d-round-%d" % (t, i)
                    if not c.set(key, val):
                        errors.append("t%d: SET %s failed" % (t, key))
                    got = c.get(key)
                    if got != val.encode():
                        errors.append("t%d: GET %s = %r, want %r" % (t, key, got, val))
                    n = c.incr("conc:%d:n" % t)
                    if n != i + 1:
                        errors.append("t%d: INCR = %r, want %d" % (t, n, i + 1))
                    c.incr("conc:shared")
                p = c.pipeline(transaction=False)
                for i in range(50):
                    p.echo("t%d-%d" % (t, i))
                got = p.execute()
                if got != [("t%d-%d" % (t, i)).encode() for i in range(50)]:
                    errors.append("t%d: pipelined ECHO replies were not its own" % t)
                c.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("t%d: %r" % (t, e))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(self.THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(240)
        self.assertEqual([], errors[:20])
        self.assertEqual(str(self.THREADS * self.ROUNDS).encode(), self.r.get("conc:shared"))
        self.assertGreaterEqual(self.THREADS * 8 + 1, self.r.dbsize())


    def test_whole_keyspace_commands_from_every_connection(self):
        """Commands that touch several keys or every key (MSET, MGET, DEL,
        RENAME, DBSIZE, KEYS, RANDOMKEY, SCAN, FLUSHDB) from many
        connections, one after another and then all at once: each must
        answer, whichever thread serves the connection."""
        keys = ["ws:%d" % i for i in range(16)]

        def round_of(c, tag):
            c.mset({k: tag for k in keys})
            if c.mget(keys) != [tag.encode()] * len(keys):
                return "MGET after MSET"
            if c.dbsize() < len(keys):
                return "DBSIZE"
            if len(c.keys("ws:*")) < len(keys):
                return "KEYS"
            if c.randomkey() is None:
                return "RANDOMKEY"
            if len(list(c.scan_iter(match="ws:*", count=5))) < len(keys):
                return "SCAN"
            own = "ws:own:" + tag
            c.set(own, tag)
            c.rename(own, own + ":renamed")
            if c.get(own + ":renamed") != tag.encode():
                return "RENAME"
            c.delete(own + ":renamed", *keys[8:])
            return None

        for n in range(12):
            c = SRV.client(socket_timeout=10)
            for r in range(5):
                err = round_of(c, "c%d-%d" % (n, r))
                self.assertIsNone(err, "connection %d, round %d: %s" % (n, r, err))
            c.close()

        errors = []

        def work(t):
            # A thread that flushes has a database of its own.
            c = SRV.client(socket_timeout=20, db=1 + t // 4 if t % 4 == 0 else 0)
            try:
                for r in range(20):
                    round_of(c, "t%d-%d" % (t, r))
                    if t % 4 == 0 and r % 5 == 4:
                        c.flushdb()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("thread %d: %r" % (t, e))
            c.close()

        threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        self.assertEqual([], errors[:10])
        self.assertTrue(SRV.client(socket_timeout=10).ping())


    def test_counts_exact_beside_transactions_and_world(self):
        """INCRs on keys that MGETs across shards keep locking (an INCR then
        waits for the unlock, which a shard may receive while another
        shard's thread serves it, server.h's lending), beside DBSIZE and
        KEYS (world operations, whose PAUSE a lent shard leaves to its own
        thread): every INCR is counted exactly once, each reply one more
        than its connection's last on that key, and every MGET sees
        counts that only grow."""
        keys = ["lend:%d" % i for i in range(12)]
        writers, rounds = 8, 600
        errors = []

        def writer(t):
            c = SRV.client(socket_timeout=60)
            last = {}
            for n in range(rounds):
                k = keys[(t + n) % len(keys)]
                v = c.incr(k)
                if v <= last.get(k, 0):
                    errors.append("t%d: INCR %s = %d after %d" % (t, k, v, last[k]))
                last[k] = v
            c.close()

        def reader(t, done):
            c = SRV.client(socket_timeout=60)
            seen = [0] * len(keys)
            while not done.is_set():
                got = [int(v or 0) for v in c.mget(keys)]
                if any(g < s for g, s in zip(got, seen)):
                    errors.append("r%d: MGET went back: %r after %r" % (t, got, seen))
                    break
                seen = got
            c.close()

        def world(t, done):
            c = SRV.client(socket_timeout=60)
            while not done.is_set():
                c.dbsize()
                c.keys("lend:*")
            c.close()

        errors += self.run_threads([writer] * writers, timeout=60, beside=[reader] * 3 + [world] * 2)
        self.assertEqual([], errors[:10])
        self.assertEqual(writers * rounds, sum(int(v) for v in self.r.mget(keys)))


class DelayedShards(Base):
    """A class's own server, --shards SHARDS, whose odd shards wait 300 us
    before each step of a transaction's part (a test seam,
    STEWARDD_TEST_TXN_DELAY_US): the windows in which a missing lock would
    show are then wide enough to be seen. Its tests run threads on it."""

    SRV = None

    @classmethod
    def setUpClass(cls):
        env = {"STEWARDD_TEST_TXN_DELAY_US": "300"}
        cls.SRV = Server("--shards", SHARDS, env=env).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.SRV.stop()
        cls.SRV.cleanup()
        if rc != 0:
            raise AssertionError("the server exited %s on SIGTERM, not 0" % rc)

    def setUp(self):
        self.r = self.SRV.client()
        self.r.flushall()

    def client(self, **kw):
        return self.SRV.client(socket_timeout=60, **kw)


class TestTransactions(DelayedShards):
    """Commands whose keys span shards (MSET, MGET, DEL, EXISTS, MSETNX) run
    as transactions over the shards of their keys: no reader may see half
    of one, no order of keys may deadlock them, and a client's later
    commands see their effects. The keys below land on every shard."""

    KEYS = ["tx:%d" % i for i in range(10)]

    def test_readers_never_see_half(self):
        """Writers MSET all ten keys to one value and DEL them all; readers
        on other connections MGET them (all equal, or all missing) and
        count them with EXISTS (0 or 10)."""
        keys, rounds = self.KEYS, 150
        done = threading.Event()
        errors = []

        def writer(t):
            c = self.client()
            for n in range(rounds):
                if n % 10 == 9:
                    c.delete(*keys)
                else:
                    c.mset({k: "w%d-%d" % (t, n) for k in keys})
            c.close()

        def reader(t):
            c = self.client()
            order = keys[t % 10 :] + keys[: t % 10]
            while not done.is_set():
                got = c.mget(order)
                if len(set(got)) != 1:
                    errors.append("MGET saw %r" % (got,))
                    break
                n = c.exists(*order)
                if n not in (0, len(keys)):
                    errors.append("EXISTS counted %d" % n)
                    break
            c.close()

        readers = [threading.Thread(target=reader, args=(t,)) for t in range(4)]
        for th in readers:
            th.start()
        errors += self.run_threads([writer] * 3)
        done.set()
        for th in readers:
            th.join(60)
        self.assertEqual([], errors[:5])

    def test_gathered_pipelines_match_one_at_a_time(self):
        """Pipelines of runs of MGETs, runs of MSETs (which the server
        gathers into one transaction each) and other commands on the same
        keys between them: every reply is what one command after another
        gives, checked against a model."""
        rng = random.Random(17)
        keys = self.KEYS + ["tx:x%d" % i for i in range(6)]
        model = {}
        for _ in range(12):
            p, want = self.r.pipeline(transaction=False), []
            for _ in range(rng.randint(1, 12)):
                op = rng.choice(["mget", "mset", "mget", "mset", "get", "set", "del", "incr"])
                for _ in range(rng.randint(1, 9) if op in ("mget", "mset") else 1):
                    ks = rng.sample(keys, rng.randint(2, 6))
                    if op == "mget":
                        p.mget(ks)
                        want.append([model.get(k) for k in ks])
                    elif op == "mset":
                        kv = {k: b"v%d" % rng.randrange(1000) for k in ks}
                        p.mset(kv)
                        model.update(kv)
                        want.append(True)
                    elif op == "get":
                        p.get(ks[0])
                        want.append(model.get(ks[0]))
                    elif op == "set":
                        p.set(ks[0], b"s")
                        model[ks[0]] = b"s"
                        want.append(True)
                    elif op == "del":
                        p.delete(*ks)
                        want.append(sum(model.pop(k, None) is not None for k in ks))
                    else:
                        p.set(ks[0], b"7").incr(ks[0])
                        model[ks[0]] = b"8"
                        want += [True, 8]
            got = p.execute()
            self.assertEqual(want, got)

    def test_gathered_readers_see_whole_msets_in_order(self):
        """One writer pipelines MSETs of all ten keys to 1, 2, 3, ...;
        readers pipeline MGETs of them. Each MGET sees one MSET whole, and
        each reader's MGETs never go back."""
        keys, rounds = self.KEYS, 60
        errors = []

        def writer(_):
            c = self.client()
            n = 0
            for _ in range(rounds):
                p = c.pipeline(transaction=False)
                for _ in range(16):
                    n += 1
                    p.mset({k: n for k in keys})
                p.execute()
            c.close()

        def reader(t, done):
            c = self.client()
            order = keys[t % 10 :] + keys[: t % 10]
            last = 0
            while not done.is_set() and not errors:
                p = c.pipeline(transaction=False)
                for _ in range(16):
                    p.mget(order)
                for got in p.execute():
                    vals = {int(v or 0) for v in got}
                    if len(vals) != 1 or min(vals) < last:
                        errors.append("after %d, MGET saw %r" % (last, got))
                        break
                    last = vals.pop()
            c.close()

        errors += self.run_threads([writer], beside=[reader] * 3)
        self.assertEqual([], errors[:5])

    def test_gathered_then_a_protocol_error(self):
        """A protocol error after gathered MGETs is answered after them."""
        self.r.mset({k: k for k in self.KEYS})
        c = Raw(self.SRV.port)
        c.sock.sendall(
            b"*3\r\n$4\r\nMGET\r\n$4\r\ntx:1\r\n$4\r\ntx:2\r\n"
            b"*3\r\n$4\r\nMGET\r\n$4\r\ntx:3\r\n$4\r\ntx:4\r\n*1\r\n$x\r\n"
        )
        self.assertEqual([b"tx:1", b"tx:2"], plain(c.read()))
        self.assertEqual([b"tx:3", b"tx:4"], plain(c.read()))
        self.assertEqual(b"-", c.read()[0])
        c.close()

    def test_sigkill_gathered_msets_whole(self):
        """--appendfsync always: writers set groups of keys over every shard
        to one number after another, by pipelines of MSETs (gathered into
        one transaction each) and by EXECs of one MSET (cut into a piece
        per shard), until kill -9. After the restart every group's keys
        hold one number, at least the last acknowledged and at most the
        last sent: each run of MSETs, and each EXEC, was one unit in every
        shard's log. (Catches parts that log their writes as they run.)"""
        work = tempfile.mkdtemp(prefix="sw-gather.")
        env = {"STEWARDD_TEST_TXN_DELAY_US": "300"}  # the parts' steps apart
        srv = Server("--dir", work, "--appendfsync", "always", "--shards", SHARDS, env=env).start()
        writers = 4
        groups = [["gk:%d:%d" % (w, i) for i in range(8)] for w in range(writers)]
        acked, sent = [0] * writers, [0] * writers
        try:

            def write(w):
                c = srv.client(socket_timeout=10)
                n = 0
                while True:
                    p = c.pipeline(transaction=bool(w % 2))
                    for _ in range(1 if w % 2 else 8):
                        n += 1
                        p.mset({k: n for k in groups[w]})
                    sent[w] = n
                    p.execute()
                    acked[w] = n

            errors = self.kill9_amid(srv, [write] * writers, lambda: min(acked) >= 16)
            self.assertEqual([], errors[:5])
            self.assertGreaterEqual(min(acked), 16, "too few writes to test: %r" % acked)
            srv.restart()
            c = srv.client()
            for w in range(writers):
                got = {int(v) for v in c.mget(groups[w])}
                self.assertEqual(1, len(got), ("group %d torn" % w, got))
                n = got.pop()
                self.assertTrue(acked[w] <= n <= sent[w], ("group %d" % w, acked[w], n, sent[w]))
            c.close()
        finally:
            srv.stop()
            srv.cleanup()
            shutil.rmtree(work, ignore_errors=True)

    def test_single_key_reads_follow_the_order(self):
        """One writer MSETs the ten keys to 1, 2, 3, ...; a reader GETs them
        one at a time. Once a GET has seen n, no later GET may see less: a
        key of the MSET stays locked until every part of it is in place."""
        keys, rounds = self.KEYS, 300
        done = threading.Event()
        errors = []

        def writer(_):
            c = self.client()
            for n in range(1, rounds + 1):
                c.mset({k: n for k in keys})
            done.set()
            c.close()

        def reader(t):
            c = self.client()
            seen = 0
            while not done.is_set():
                for k in keys[t:] + keys[:t]:
                    v = int(c.get(k) or 0)
                    if v < seen:
                        errors.append("GET %s = %d after %d" % (k, v, seen))
                        return
                    seen = v
            c.close()

        errors += self.run_threads([writer] + [reader] * 3)
        self.assertEqual([], errors[:5])

    def test_mget_holds_its_keys(self):
        """One writer SETs the ten keys one at a time, in order, to 1, then
        all to 2, ...; readers MGET them. An MGET holds each key it has read
        until it has read them all, so it sees a prefix of a round: the
        values never rise along the keys, and differ by at most one."""
        keys, rounds = self.KEYS, 60
        done = threading.Event()
        errors = []

        def writer(_):
            c = self.client()
            for n in range(1, rounds + 1):
                for k in keys:
                    c.set(k, n)
            done.set()
            c.close()

        def reader(_):
            c = self.client()
            while not done.is_set():
                got = [int(v or 0) for v in c.mget(keys)]
                if any(a < b for a, b in zip(got, got[1:])) or got[0] - got[-1] > 1:
                    errors.append("MGET saw %r" % (got,))
                    return
                time.sleep(0.001)  # leave the writer room: the delayed shards are slow
            c.close()

        errors += self.run_threads([writer] + [reader] * 3)
        self.assertEqual([], errors[:5])

    def test_no_deadlock_in_any_order(self):
        """Sixteen connections run multi-key commands over overlapping keys
        in random orders, beside world operations (DBSIZE, KEYS, RENAME):
        every command answers, MSETNX sets all of its keys or none, and a
        pipeline reads back its own MSET (threads 12 to 15, whose keys are
        their own), also after runs of MSETs and MGETs that the server
        gathers into one transaction each."""
        shared = ["dl:%d" % i for i in range(12)]

        def work(t):
            rnd = random.Random(t)
            keys = shared if t < 12 else ["own:%d:%d" % (t, i) for i in range(12)]
            c = self.client()
            for n in range(120):
                ks = rnd.sample(keys, rnd.randint(2, 8))
                op = rnd.randrange(7)
                if op == 0:
                    c.mset({k: "%d-%d" % (t, n) for k in ks})
                elif op == 1:
                    c.delete(*ks)
                elif op == 2:
                    c.mget(ks)
                elif op == 3:
                    c.exists(*ks)
                elif op == 4:
                    fresh = ["nx:%d:%d:%s" % (t, n, k) for k in ks]
                    if not c.msetnx({k: 1 for k in fresh}) or c.exists(*fresh) != len(fresh):
                        raise AssertionError("MSETNX of new keys did not set them all")
                    extra = "nx:new:%d:%d" % (t, n)
                    if c.msetnx({fresh[0]: 2, extra: 2}) or c.exists(extra):
                        raise AssertionError("MSETNX over an existing key set something")
                elif op == 5:
                    p = c.pipeline(transaction=False)
                    p.mset({k: "p%d" % n for k in ks})
                    for k in ks:
                        p.get(k)
                    p.delete(*ks)
                    p.exists(*ks)
                    got = p.execute()
                    want = [True] + [("p%d" % n).encode()] * len(ks) + [len(ks), 0]
                    if t >= 12 and got != want:
                        raise AssertionError("a pipeline did not see its own MSET: %r" % (got,))
                elif op == 6:  # a run of MSETs, then a run of MGETs
                    p = c.pipeline(transaction=False)
                    last, reads = {}, []
                    for j in range(rnd.randint(2, 6)):
                        kv = {k: "g%d-%d" % (n, j) for k in rnd.sample(keys, rnd.randint(2, 8))}
                        p.mset(kv)
                        last.update(kv)
                    for _ in range(rnd.randint(2, 6)):
                        reads.append(rnd.sample(sorted(last), min(len(last), rnd.randint(2, 8))))
                        p.mget(reads[-1])
                    got = p.execute()[-len(reads) :]
                    want = [[last[k].encode() for k in ks] for ks in reads]
                    if t >= 12 and got != want:
                        raise AssertionError("a run of MGETs did not see its MSETs: %r" % (got,))
            c.close()

        def world(t):
            c = self.client()
            for n in range(60):
                c.dbsize()
                c.keys("dl:*")
                c.set("w:%d" % t, n)
                c.rename("w:%d" % t, "w:%d:r" % t)
            c.close()

        errors = self.run_threads([work] * 16 + [world] * 2)
        self.assertEqual([], errors[:5])
        self.assertTrue(self.r.ping())


    def test_exec_on_the_locks(self):
        """MULTI/EXEC whose commands each name one shard's keys runs on the
        key locks: EXECs of SETs over every shard, beside MSETs of the same
        keys, are each all or nothing to MGET readers and to readers' own
        EXECs; INCRs of two counters on different shards inside EXEC lose
        nothing; WATCH still aborts an EXEC whose key changed."""
        keys, errors = self.KEYS, []
        a, b = "tx:count:a", "tx:count:b"
        self.r.mset({a: 0, b: 0})
        done = threading.Event()

        def writer(t):
            c = self.client()
            for n in range(40):
                if t % 2:
                    c.mset({k: "w%d-%d" % (t, n) for k in keys})
                    continue
                p = c.pipeline(transaction=True)
                for k in reversed(keys) if n % 2 else keys:
                    p.set(k, "w%d-%d" % (t, n))
                p.incr(a)
                p.incr(b)
                p.execute()

        def reader(t):
            c = self.client()
            while not done.is_set():
                p = c.pipeline(transaction=True)
                for k in keys:
                    p.get(k)
                for got in (c.mget(keys), p.execute()):
                    if len(set(got)) != 1:
                        errors.append("reader %d saw %r" % (t, got))
                        return

        rs = [threading.Thread(target=reader, args=(t,)) for t in range(3)]
        for th in rs:
            th.start()
        errors += self.run_threads([writer] * 6)
        done.set()
        for th in rs:
            th.join(60)
        self.assertEqual([], errors[:5])
        self.assertEqual([b"120", b"120"], self.r.mget(a, b))
        # WATCH of keys on two shards, one changed: the EXEC runs nothing.
        c = self.client()
        p = c.pipeline(transaction=True)
        p.watch(keys[0], keys[1])
        self.r.set(keys[1], "changed")
        p.multi()
        p.set(keys[0], "x")
        p.set(keys[2], "x")
        self.assertRaises(redis.WatchError, p.execute)
        self.assertNotEqual(b"x", self.r.get(keys[0]))


    def test_exec_cuts_multi_key_commands(self):
        """Inside MULTI, MSET, MGET, DEL, UNLINK and EXISTS whose keys span
        shards run in a piece per shard: each replies as on one shard (in
        RESP3 too), an EXEC's MSET is whole to MGET readers, and an EXEC's
        MGET never sees half of another MSET."""
        keys = self.KEYS
        before = self.r.info("stats")["shard_world_ops"]
        p = self.r.pipeline(transaction=True)
        p.mset({k: "v%d" % i for i, k in enumerate(keys)})
        p.mget(keys + ["tx:none"])
        p.exists(*keys, "tx:none", keys[0])
        p.delete(keys[0], keys[1], "tx:none")
        p.unlink(keys[2], keys[3])
        p.mget(keys[:5])
        want = [True, [b"v%d" % i for i in range(10)] + [None], 11, 2, 2, [None] * 4 + [b"v4"]]
        self.assertEqual(want, p.execute())
        # On the key locks: the only world operation is INFO's own
        after = self.r.info("stats")["shard_world_ops"]
        self.assertEqual(1, after - before)
        c = Raw(self.SRV.port)
        c.call("HELLO", "3")
        c.call("MULTI")
        c.call("MGET", *(keys[3:6] + ["tx:none"]))
        self.assertEqual(
            (b"*", [(b"*", [(b"_", None), (b"$", b"v4"), (b"$", b"v5"), (b"_", None)])]),
            c.call("EXEC"),
        )
        c.close()
        self.r.mset({k: "start" for k in keys})
        errors = []

        def writer(t):
            c = self.client()
            for n in range(40):
                if t % 2:
                    c.mset({k: "w%d-%d" % (t, n) for k in keys})
                    continue
                p = c.pipeline(transaction=True)
                p.mset({k: "w%d-%d" % (t, n) for k in keys})
                p.get(keys[n % 10])
                p.execute()

        def reader(t, done):
            c = self.client()
            while not done.is_set():
                p = c.pipeline(transaction=True)
                p.mget(keys)
                p.exists(*keys)
                got, n = p.execute()
                for vals in (got, c.mget(keys)):
                    if len(set(vals)) != 1 or n not in (0, 10):
                        errors.append("reader %d saw %r, %r" % (t, vals, n))
                        return

        errors += self.run_threads([writer] * 4, beside=[reader] * 3)
        self.assertEqual([], errors[:5])


    def test_pipelined_execs_match_one_shard(self):
        """Pipelines of single-key commands, MSETs, MGETs, SELECTs and WATCH
        ... MULTI ... EXEC blocks over the same keys, sent whole to this
        server (its EXECs on the key locks, joints and SELECTs among their
        commands) and to one of a single shard: every reply the same. An
        EXEC must see, and a WATCH must be marked by, the connection's own
        commands sent before it and still away on other shards; the
        commands after an EXEC that SELECTs run in its database, unless
        WATCH called it off. SW_SEED replays a run."""
        seed = int(os.environ.get("SW_SEED") or random.randrange(1 << 32))
        rnd = random.Random(seed)
        keys = self.KEYS[:6]

        def one_command():
            k, k2 = rnd.sample(keys, 2)
            return rnd.choice([
                ["SET", k, str(rnd.randrange(5))], ["GET", k], ["INCR", k], ["DEL", k, k2],
                ["MSET", k, "m", k2, str(rnd.randrange(5))], ["MGET", k, k2],
                ["RENAME", k, k2], ["MSETNX", k, "n", k2, "n"], ["COPY", k, k2, "REPLACE"],
                ["SELECT", rnd.choice(["0", "1", "1", "16", "x"])],
            ])

        def block():
            if rnd.random() < 0.6:
                return [one_command()]
            cmds, watched = [], rnd.choice(keys)
            if rnd.random() < 0.5:
                cmds.append(["WATCH", watched])
                if rnd.random() < 0.4:  # the connection's own write: EXEC aborts
                    cmds.append(["SET", watched, "w"])
                cmds += [one_command() for _ in range(rnd.randint(0, 2))]
            cmds.append(["MULTI"])
            cmds += [one_command() for _ in range(rnd.randint(1, 4))]
            return cmds + [["EXEC"]]

        with self.beside_one_shard(self.SRV) as (_, sharded, single):
            for n in range(150):
                cmds = sum((block() for _ in range(rnd.randint(1, 8))), [])
                for c in (sharded, single):
                    c.send_many(cmds)
                got = [sharded.read() for _ in cmds]
                want = [single.read() for _ in cmds]
                if got != want:
                    bad = next(i for i in range(len(cmds)) if got[i] != want[i])
                    self.fail("SW_SEED=%d, pipeline %d, command %d of:\n%s\nsharded: %r\none shard: %r"
                              % (seed, n, bad, "\n".join(" ".join(c) for c in cmds), got[bad], want[bad]))

    def test_exec_sees_its_connections_requests_away(self):
        """An EXEC starts while the connection's earlier requests are still
        away, unless one names a key of its own. Readers' MGETs keep shared
        locks on KEYS, where a SET waits; pipelined, each EXEC sees what
        was sent before it: SETs of x (of KEYS: it waits) and k (not: on
        x's shard it waits behind the SET of x, as its connection's next),
        then an EXEC reading k; an MSET of k and x over shards, then an
        EXEC reading k (on the connection's shard for some k); a WATCH of
        k, SETs of x and k, then an EXEC (called off by its own SET)."""
        keys, free, errors = self.KEYS, ["tx:f%d" % i for i in range(10)], []
        done = threading.Event()

        def reader(t):
            c = self.client()
            while not done.is_set():
                c.mget(keys[t % 10:] + keys[:t % 10])

        rs = [threading.Thread(target=reader, args=(t,)) for t in range(3)]
        for th in rs:
            th.start()
        c = Raw(self.SRV.port)
        try:
            for n in range(3):
                for i, x in enumerate(keys):
                    for j, k in enumerate(free):
                        v = "v%d-%d-%d" % (n, i, j)
                        y = free[(j + 1) % len(free)]
                        c.send_many([["SET", x, v], ["SET", k, v], ["MULTI"], ["GET", k], ["GET", y],
                                     ["EXEC"], ["MSET", k, v + "m", x, v], ["MULTI"], ["GET", k],
                                     ["EXEC"], ["WATCH", k]])
                        got = [plain(c.read()) for _ in range(11)]
                        # WATCH of another shard's key ran the pipeline behind it with the
                        # world paused: these come after it
                        c.send_many([["SET", x, v], ["SET", k, v], ["MULTI"], ["GET", y], ["EXEC"]])
                        got += [plain(c.read()) for _ in range(5)]
                        if got[5][0] != v.encode() or got[9] != [(v + "m").encode()] or got[15]:
                            errors.append("%s, %s: EXECs %r, %r, %r" % (x, k, got[5], got[9], got[15]))
        finally:
            done.set()
            for th in rs:
                th.join(60)
            c.close()
        self.assertEqual([], errors[:5])

    def test_exec_selects_on_the_locks(self):
        """SELECT inside MULTI, keys over shards: the EXEC runs on the key
        locks (no world operation), each command after a SELECT in its
        database, and the connection is in the last one after the EXEC;
        not when WATCH called the EXEC off."""
        k = self.KEYS
        c = Raw(self.SRV.port)
        try:
            before = self.r.info("stats")["shard_world_ops"]
            c.send_many([["MULTI"], ["SET", k[0], "db0"], ["SELECT", "1"], ["SET", k[1], "db1"],
                         ["SELECT", "99"], ["MGET", k[0], k[1]], ["EXEC"], ["GET", k[1]]])
            got = [plain(c.read()) for _ in range(8)]
            self.assertEqual(["OK"] + ["QUEUED"] * 5, got[:6])
            self.assertEqual(["OK", "OK", "OK", "ERR DB index is out of range", [None, b"db1"]],
                             got[6])
            self.assertEqual(b"db1", got[7])  # the connection is in db 1 now
            self.assertEqual(1, self.r.info("stats")["shard_world_ops"] - before)  # INFO's
            self.assertEqual([b"db0", None], self.r.mget(k[0], k[1]))
            # WATCH on its own: of another shard's key, it is a world
            # operation, and the pipeline after it would run in that world.
            self.assertEqual("OK", plain(c.call("SELECT", "0")))
            self.assertEqual("OK", plain(c.call("WATCH", k[2])))
            mset = ["MSET"] + sum([[key, "x"] for key in k[3:]], [])  # over every shard
            c.send_many([["SET", k[2], "mine"], ["MULTI"], ["SELECT", "1"], mset, ["EXEC"],
                         ["GET", k[2]]])
            got = [plain(c.read()) for _ in range(6)]
            self.assertEqual([None, b"mine"], got[4:])  # called off: still db 0
        finally:
            c.close()

    def test_exec_runs_joints_on_the_locks(self):
        """Inside MULTI, MSETNX, RENAME, RENAMENX, COPY, MOVE and LCS whose
        keys span shards are joints: the parts stop at their pieces for
        the coordinator's decision, between the commands queued before and
        after them on the same keys. Each replies as on one shard, sees
        the commands before it and is seen by those after, and the EXEC
        starts no world operation."""
        k = self.KEYS
        self.r.set(k[9], "nine")
        before = self.r.info("stats")["shard_world_ops"]
        p = self.r.pipeline(transaction=True)
        p.set(k[0], "zero")
        p.rename(k[0], k[1])
        p.get(k[0])
        p.get(k[1])
        p.msetnx({k[2]: "a", k[3]: "b"})
        p.msetnx({k[3]: "c", k[4]: "d"})
        p.copy(k[1], k[5])
        p.renamenx(k[5], k[9])
        p.execute_command("LCS", k[1], k[9])
        p.move(k[5], 1)
        p.rename("tx:none", k[6])
        p.exists(*k)
        got = p.execute(raise_on_error=False)
        self.assertIsInstance(got[10], redis.exceptions.ResponseError)
        self.assertEqual("no such key", str(got[10]))
        got[10] = "error"
        want = [True, True, None, b"zero", True, False, True, False, b"e", True, "error", 4]
        self.assertEqual(want, got)
        after = self.r.info("stats")["shard_world_ops"]
        self.assertEqual(1, after - before)  # INFO's own
        self.assertEqual([b"a", b"b", None], self.r.mget(k[2:5]))
        with self.SRV.client(db=1) as c1:
            self.assertEqual(b"zero", c1.get(k[5]))


# ---- commands on two keys -----------------------------------------------------------

# Twelve names in two databases: with SHARDS shards most pairs of them, and
# most (key, database) pairs, land on two shards.
PAIR_KEYS = ["pk:%d" % i for i in range(12)]


def pair_command(rnd):
    """One random command, or a MULTI ... EXEC of a few, over PAIR_KEYS:
    mostly the commands on two keys, with their options and errors. Most
    EXECs (those without SELECT) run their commands on two keys as joints,
    between the commands queued before and after them on the same keys."""
    if rnd.random() < 0.12:
        body = [pair_command_one(rnd) for _ in range(rnd.randint(1, 6))]
        return [["MULTI"]] + body + [["EXEC" if rnd.random() < 0.9 else "DISCARD"]]
    return [pair_command_one(rnd)]


def pair_command_one(rnd):
    """One command of pair_command's."""
    a, b = rnd.choice(PAIR_KEYS), rnd.choice(PAIR_KEYS)
    db = rnd.choice(["0", "1"] * 8 + ["16", "-1", "x"])
    op = rnd.choices(
        ["set", "rename", "renamenx", "copy", "move", "lcs", "del", "get", "select", "bad",
         "msetnx"],
        [20, 10, 8, 12, 8, 8, 5, 3, 6, 4, 5],
    )[0]
    if op == "set":
        value = "".join(rnd.choice("abcd") for _ in range(rnd.randrange(9)))
        # Deadlines 10 s apart, far enough off that none passes in the test.
        px = ["PX", rnd.randrange(1, 1000) * 10000] if rnd.random() < 0.3 else []
        return ["SET", a, value] + px
    if op in ("rename", "renamenx"):
        return [op.upper(), a, b]
    if op == "copy":
        opts = [o for o in (["DB", db], ["REPLACE"]) if rnd.random() < 0.5]
        rnd.shuffle(opts)
        return ["COPY", a, b] + sum(opts, [])
    if op == "move":
        return ["MOVE", a, db]
    if op == "lcs":
        n = rnd.randrange(4)
        opts = [[], ["LEN"], ["IDX"], ["IDX", "WITHMATCHLEN"], ["IDX", "MINMATCHLEN", n],
                ["WITHMATCHLEN", "IDX", "MINMATCHLEN", n], ["LEN", "IDX"], ["MINMATCHLEN", "x"]]
        return ["LCS", a, b] + rnd.choice(opts)
    if op == "del":
        return ["DEL"] + rnd.sample(PAIR_KEYS, rnd.randint(1, 3))
    if op == "get":
        return ["GET", a]
    if op == "msetnx":
        keys = rnd.sample(PAIR_KEYS, rnd.randint(1, 4))
        return ["MSETNX"] + sum([[k, "nx%d" % rnd.randrange(10)] for k in keys], [])
    if op == "select":
        return ["SELECT", rnd.choice("01")]
    return rnd.choice([
        ["COPY", a, a],  # the same objects (in this database)
        ["COPY", a, b, "DB"],
        ["COPY", a, b, "REPLACE", "NOW"],
        ["RENAME", "pk:none", b],  # no such key
        ["RENAMENX", "pk:none", b],
        ["RENAME", a],
        ["MOVE", a],
        ["LCS", a],
        ["MOVE", a, "1", "2"],
    ])


def tokens_in_one_place(c, dbs, keys):
    """What every (db, key) of keys holds, read at one instant: an EXEC
    that SELECTs, so a world operation. c is a client of db 0, where the
    EXEC leaves its connection."""
    p = c.pipeline(transaction=True)
    for db in dbs:
        p.execute_command("SELECT", db)
        p.mget(keys)
    p.execute_command("SELECT", 0)
    got = p.execute()
    return {(db, k): v for i, db in enumerate(dbs) for k, v in zip(keys, got[2 * i + 1])}


class TestPairs(DelayedShards):
    """RENAME, RENAMENX, COPY (DB, REPLACE), MOVE and LCS take two keys, which
    may live on two shards: they must do what they do on one shard, mark
    the WATCHes of what they change, be atomic to every reader (nobody sees
    a key renamed half way), deadlock with nothing, and be whole after a
    crash. These tests hold however the server runs them: as world
    operations, or as transactions of two parts on the key locks."""

    def test_semantics_match_one_shard(self):
        """The same random commands on this server and on one with a single
        shard: every reply the same, byte for byte; every key of both
        databases the same, value and deadline; the same counts of keys and
        deadlines in INFO. Every 500 commands some keys are set to expire at
        once, so that sources and destinations are also keys that expired
        but may not be swept yet. Catches a cross-shard path that answers
        or writes otherwise than the one-shard path: a deadline left behind
        or dropped by RENAME/COPY/MOVE, a destination checked on the wrong
        shard, in the wrong database or without expiring it first, a count
        a shard forgets, an error word that differs, a REPLACE or NX
        ignored. SW_SEED replays a run."""
        self.match_one_shard(self.SRV)

    def test_semantics_match_one_shard_durable(self):
        """The same, with the sharded server durable (--appendfsync
        always): an EXEC's part that stops at a joint sets its unit aside
        and takes it up again, and a joint's writes hold their log room
        from its reads; the replies and keys must not change for it."""
        work = tempfile.mkdtemp(prefix="sw-pairs.")
        env = {"STEWARDD_TEST_TXN_DELAY_US": "300"}
        srv = Server("--dir", work, "--appendfsync", "always", "--shards", SHARDS, env=env).start()
        try:
            self.match_one_shard(srv)
        finally:
            rc = srv.stop()
            srv.cleanup()
            shutil.rmtree(work, ignore_errors=True)
        self.assertEqual(0, rc, "the server exited %s on SIGTERM" % rc)

    def match_one_shard(self, srv):
        """test_semantics_match_one_shard's run, with srv the sharded server."""
        seed = int(os.environ.get("SW_SEED") or random.randrange(1 << 32))
        rnd = random.Random(seed)
        sent = []
        with self.beside_one_shard(srv) as (one, sharded, single):
            for n in range(3000):
                for cmd in pair_command(rnd):
                    sent.append(cmd)
                    got, want = sharded.call(*cmd), single.call(*cmd)
                    if got != want:
                        self.fail("%s\nsharded: %r\none shard: %r"
                                  % (self.replay(seed, sent), got, want))
                if n % 500 == 499:
                    self.assertSameKeys(srv, one, "%s\nafter these" % self.replay(seed, sent))
                    sent.append(self.expire_some(rnd, srv, one))
            self.assertSameKeys(srv, one, "%s\nat the end" % self.replay(seed, sent))

    @staticmethod
    def replay(seed, sent):
        tail = "\n".join(" ".join(str(a) or '""' for a in cmd) for cmd in sent[-25:])
        return "SW_SEED=%d, command %d; the last ones:\n%s" % (seed, len(sent), tail)

    @staticmethod
    def expire_some(rnd, sharded, other):
        """Sets three keys of each database to a value that expires at once,
        on both servers; returns what it did, for replay."""
        expired = [(db, rnd.sample(PAIR_KEYS, 3)) for db in (0, 1)]
        for srv in (sharded, other):
            for db, keys in expired:
                with srv.client(db=db) as c:
                    for k in keys:
                        c.set(k, "expired", px=1)
        time.sleep(0.01)
        return ["(expired %r)" % expired]

    def assertSameKeys(self, sharded, other, msg):
        """Every PAIR_KEYS of db 0 and 1 has the same value on both servers,
        and the same deadline (within a second: the two
        servers got each SET at slightly different times); then, with
        every expired key read and so gone, INFO counts the same keys and
        deadlines."""
        for db in (0, 1):
            state = []
            for srv in (sharded, other):
                with srv.client(db=db) as c:
                    p = c.pipeline(transaction=False)
                    for k in PAIR_KEYS:
                        p.get(k)
                        p.pttl(k)
                    state.append(p.execute())
            for i, k in enumerate(PAIR_KEYS):
                (v, ttl), (v1, ttl1) = state[0][2 * i : 2 * i + 2], state[1][2 * i : 2 * i + 2]
                same = v == v1 and (ttl == ttl1 or (ttl > 0 and ttl1 > 0 and abs(ttl - ttl1) < 1000))
                self.assertTrue(same, "db %d %s: sharded %r pttl %d, one shard %r pttl %d\n%s"
                                % (db, k, v, ttl, v1, ttl1, msg))
        counts = []
        for srv in (sharded, other):
            with srv.client() as c:
                ks = c.info("keyspace")
            dbs = [ks.get(db, {}) for db in ("db0", "db1")]
            counts.append([(db.get("keys", 0), db.get("expires", 0)) for db in dbs])
        self.assertEqual(counts[1], counts[0], "INFO keyspace (keys, expires) of db0, db1\n" + msg)

    def test_rename_readers_never_see_half(self):
        """One token moves among ten keys by RENAME and RENAMENX from three
        connections, also inside EXECs that look at both keys before and
        after (each renames where it last saw it, and looks again on "no
        such key"); readers see it in exactly one key, with its value,
        through MGET, EXISTS and an EXEC of GETs. Catches a rename whose
        destination shows before its source is gone (two tokens) or whose
        source goes first (none), and a RENAMENX that refuses an empty
        destination."""
        keys = ["tok:%d" % i for i in range(10)]
        token = b"token-%d" % random.getrandbits(48)
        self.r.set(keys[0], token)
        moved, reads = [0], [0]

        def exec_rename(c, at, dst):
            """RENAME inside an EXEC, between looks at both keys: a joint."""
            p = c.pipeline(transaction=True)
            for step in ("look", "rename", "look"):
                if step == "rename":
                    p.rename(at, dst)
                    continue
                p.exists(at)
                p.exists(dst)
            got = p.execute(raise_on_error=False)
            failed = isinstance(got[2], redis.exceptions.ResponseError)
            if failed and got[:2] == [0, got[4]] and got[3] == 0:
                raise got[2]  # gone before: no such key, and nothing changed
            if got != [1, 0, True, 0, 1]:
                raise AssertionError("an EXEC of RENAME %s %s replied %r" % (at, dst, got))
            return True

        def mover(t):
            rnd = random.Random(t)
            c = self.client()
            at = keys[0]
            for n in range(120):
                dst = rnd.choice([k for k in keys if k != at])
                try:
                    if n % 3 == 2:
                        ok = exec_rename(c, at, dst)
                    else:
                        ok = c.renamenx(at, dst) if n % 2 else c.rename(at, dst)
                except redis.exceptions.ResponseError as e:
                    if str(e) != "no such key":
                        raise
                    found = [k for k, v in zip(keys, c.mget(keys)) if v is not None]
                    if len(found) != 1:
                        raise AssertionError("the token is in %r" % found)
                    at = found[0]
                    continue
                if not ok:
                    raise AssertionError("RENAMENX %s %s refused: the destination was empty" % (at, dst))
                at = dst
                moved[0] += 1
            c.close()

        def reader(t, done):
            c = self.client()
            order = keys[t % 10 :] + keys[: t % 10]
            while not done.is_set():
                if t % 3 == 0:
                    got = [v for v in c.mget(order) if v is not None]
                elif t % 3 == 1:
                    got = [token] * c.exists(*order)
                else:
                    p = c.pipeline(transaction=True)
                    for k in order:
                        p.get(k)
                    got = [v for v in p.execute() if v is not None]
                if got != [token]:
                    raise AssertionError("reader %d saw %r" % (t, got))
                reads[0] += 1
            c.close()

        errors = self.run_threads([mover] * 3, beside=[reader] * 3)
        self.assertEqual([], errors[:5])
        self.assertGreater(moved[0], 50, "the token hardly moved")
        self.assertGreater(reads[0], 20, "the readers hardly read")
        self.assertEqual([token], [v for v in self.r.mget(keys) if v is not None])

    def test_copy_atomic(self):
        """One connection INCRs a counter while four COPY ... REPLACE it to
        two keys, in db 0 and in db 1. Each COPY takes a value the counter
        had, so a copy never exceeds the counter read after it, and no copy
        ever goes back. Catches a COPY that reads its source, lets it go
        and writes later, overtaken by a newer COPY, and a COPY seen before
        it is whole."""
        src, rounds = "cp:src", 300
        dsts = ["cp:0", "cp:1"]  # in two databases: most of the four on other shards than src
        self.r.set(src, 0)

        def incr(_):
            c = self.client()
            for _ in range(2 * rounds):
                c.incr(src)

        def copier(t):
            rnd = random.Random(t)
            c = self.client()
            for _ in range(rounds):
                c.execute_command("COPY", src, rnd.choice(dsts), "DB", rnd.randrange(2), "REPLACE")

        def reader(t, done):
            c, c1 = self.client(), self.client(db=1)
            last = [-1] * 2 * len(dsts)
            while not done.is_set():
                got = [int(v or -1) for v in c.mget(dsts + [src])]  # at one instant
                copies, s0 = got[:-1], got[-1]
                copies += [int(v or -1) for v in c1.mget(dsts)]
                s1 = int(c.get(src))  # read after the copies in db 1
                bound = [s0] * len(dsts) + [s1] * len(dsts)
                if any(not last[i] <= v <= bound[i] for i, v in enumerate(copies)):
                    raise AssertionError("copies %r then %r of %d, %d" % (last, copies, s0, s1))
                last = copies

        errors = self.run_threads([incr] + [copier] * 4, beside=[reader] * 3)
        self.assertEqual([], errors[:5])
        self.assertEqual(b"%d" % (2 * rounds), self.r.get(src))

    def test_move_atomic(self):
        """Three tokens move between db 0 and 1, from two connections in
        each. Readers find each in exactly one of them, with its value,
        through an EXEC that SELECTs (a world operation: the one atomic
        read across databases). Catches a MOVE seen half done. At the end
        a token's moves to db 1 less its moves to db 0 (counted by the 1s
        MOVE answered) say where it is: catches a MOVE that answers 1 and
        moves nothing, or moves and answers 0."""
        keys, rounds = ["mv:%d" % i for i in range(3)], 150
        tokens = [b"token-%d-%d" % (i, random.getrandbits(32)) for i in range(len(keys))]
        self.r.mset(dict(zip(keys, tokens)))
        wins = [[0] * len(keys) for _ in range(4)]  # per mover, per key: even movers move to db 1

        def mover(t):
            c = self.client(db=t % 2)
            for n in range(rounds):
                wins[t][n % len(keys)] += c.move(keys[n % len(keys)], 1 - t % 2)

        def where(c):
            """Per key, the db that holds its token: fails unless exactly one does."""
            got = tokens_in_one_place(c, (0, 1), keys)
            dbs = [[db for db in (0, 1) if got[db, k] is not None] for k in keys]
            if any(len(d) != 1 for d in dbs) or [got[d[0], k] for d, k in zip(dbs, keys)] != tokens:
                raise AssertionError("the tokens are at %r" % got)
            return [d[0] for d in dbs]

        def reader(t, done):
            c = self.client()
            while not done.is_set():
                where(c)

        errors = self.run_threads([mover] * 4, beside=[reader] * 2)
        self.assertEqual([], errors[:5])
        moved = [wins[0][i] + wins[2][i] - wins[1][i] - wins[3][i] for i in range(len(keys))]
        self.assertEqual(where(self.r), moved, wins)
        self.assertGreater(sum(wins[1] + wins[3]), 0, "nothing moved back to db 0: the race was not run")

    def test_watch_sees_pairs(self):
        """A WATCH of either key of a pair command, in its database, sees the
        command change that key, and only then: EXEC answers a null array
        after a RENAME, RENAMENX, COPY or MOVE that wrote or removed the
        watched key, and runs after one that answered 0, failed, only read
        (LCS) or wrote another database. Each case runs on four pairs of
        names, so that most cross shards. Catches a pair command whose part
        on another shard does not mark that shard's watches (an EXEC would
        run over a changed key), or marks a key it did not change."""
        ok, one, zero = (b"+", "OK"), (b":", 1), (b":", 0)
        cases = [
            # (keys set beforehand as (db, key), the watched (db, key), command, its reply, EXEC aborted)
            ([(0, "S")], (0, "S"), ["RENAME", "S", "D"], ok, True),
            ([(0, "S")], (0, "D"), ["RENAME", "S", "D"], ok, True),
            ([(0, "S"), (0, "D")], (0, "D"), ["RENAME", "S", "D"], ok, True),
            ([], (0, "D"), ["RENAME", "S", "D"], (b"-", "ERR no such key"), False),
            ([(0, "S")], (0, "D"), ["RENAMENX", "S", "D"], one, True),
            ([(0, "S"), (0, "D")], (0, "S"), ["RENAMENX", "S", "D"], zero, False),
            ([(0, "S"), (0, "D")], (0, "D"), ["RENAMENX", "S", "D"], zero, False),
            ([(0, "S"), (0, "D")], (0, "D"), ["COPY", "S", "D"], zero, False),
            ([(0, "S"), (0, "D")], (0, "D"), ["COPY", "S", "D", "REPLACE"], one, True),
            ([(0, "S"), (0, "D")], (0, "S"), ["COPY", "S", "D", "REPLACE"], one, False),
            ([(0, "S")], (1, "D"), ["COPY", "S", "D", "DB", 1], one, True),
            ([(0, "S"), (0, "D")], (0, "D"), ["COPY", "S", "D", "DB", 1], one, False),
            ([(0, "S")], (0, "S"), ["MOVE", "S", 1], one, True),
            ([(0, "S")], (1, "S"), ["MOVE", "S", 1], one, True),
            ([(0, "S"), (1, "S")], (0, "S"), ["MOVE", "S", 1], zero, False),
            ([(0, "S"), (0, "D")], (0, "S"), ["LCS", "S", "D"], (b"$", b"v"), False),
        ]
        dbs = [self.r, self.client(db=1)]
        for i in range(4):
            names = {"S": "ws:%d" % i, "D": "wd:%d" % i}
            for setup, (db, key), cmd, reply, aborted in cases:
                self.r.flushall()
                for sdb, skey in setup:
                    dbs[sdb].set(names[skey], "v")
                watcher, other = Raw(self.SRV.port), Raw(self.SRV.port)
                watcher.call("SELECT", db)
                watcher.call("WATCH", names[key])
                cmd = [names.get(a, a) for a in cmd]
                got = other.call(*cmd)
                watcher.call("MULTI")
                watcher.call("PING")
                ran = watcher.call("EXEC")[1] is not None
                watcher.close()
                other.close()
                self.assertEqual((reply, not aborted), (got, ran), ("WATCH", db, names[key], cmd))
        dbs[1].close()

    def test_no_deadlock_pairs(self):
        """Ten connections run RENAMENX, MOVE, RENAME, COPY, LCS, MSET and
        MGET over shared keys in both databases, in every order, beside
        world operations (EXECs that SELECT). Six coins live in twelve keys
        per database; they move only where nothing is (RENAMENX, MOVE, a
        RENAME into the connection's own empty key and a RENAMENX back), so
        each coin stays in exactly one place: every MGET sees each coin at
        most once, every EXEC that reads all places sees each exactly once,
        and so does the end. Catches a deadlock of two pairs that lock in
        opposite orders (the threads stick), and a RENAMENX or MOVE that
        checks its destination without holding it, so that two coins land
        in one key and one is lost."""
        pool = ["pool:%d" % i for i in range(12)]
        coins = sorted(b"coin-%d" % i for i in range(6))
        threads = 10
        holds = ["hold:%d" % t for t in range(threads)]
        places = pool + holds  # in db 0; in db 1 only the pool is used
        self.r.mset(dict(zip(pool, coins)))

        def every_coin(c):
            got = tokens_in_one_place(c, (0, 1), places)
            return sorted(v for v in got.values() if v is not None)

        def put_back(c, rnd, hold):
            # Some key of db 0 is free: twelve keys, six coins.
            while True:
                for k in rnd.sample(pool, len(pool)):
                    if c.renamenx(hold, k):
                        return

        def work(t):
            rnd = random.Random(t)
            cs = [self.client(), self.client(db=1)]
            own = ["own:%d:%d" % (t, i) for i in range(4)]
            for n in range(80):
                db = rnd.randrange(2)
                c = cs[db]
                a, b = rnd.sample(pool, 2)
                op = rnd.randrange(8)
                try:
                    if op == 0:
                        c.renamenx(a, b)
                    elif op == 1:
                        c.move(a, 1 - db)
                    elif op == 2:
                        cs[0].rename(a, holds[t])
                        put_back(cs[0], rnd, holds[t])
                    elif op == 3:
                        if c.execute_command("COPY", a, own[0], "DB", 0, "REPLACE"):
                            copy = cs[0].get(own[0])
                            if copy not in coins:
                                raise AssertionError("COPY of %s made %r" % (a, copy))
                    elif op == 4:
                        c.execute_command("LCS", a, b)
                    elif op == 5:
                        cs[0].mset({own[1]: n, own[2]: n})
                        cs[0].rename(own[1], own[3])
                        if cs[0].mget(own[1:]) != [None, b"%d" % n, b"%d" % n]:
                            raise AssertionError("own keys: %r" % cs[0].mget(own[1:]))
                    elif op == 6:
                        ks = rnd.sample(pool + own[1:], rnd.randint(2, 8))
                        got = [v for v in c.mget(ks) if v is not None and v in coins]
                        if len(set(got)) != len(got):
                            raise AssertionError("MGET %r saw a coin twice: %r" % (ks, got))
                    else:
                        got = every_coin(cs[0])
                        if got != coins:
                            raise AssertionError("the coins are %r" % got)
                except redis.exceptions.ResponseError as e:
                    if str(e) != "no such key":
                        raise
            for c in cs:
                c.close()

        errors = self.run_threads([work] * threads)
        self.assertEqual([], errors[:5])
        self.assertEqual(coins, every_coin(self.r))

    def test_sigkill_rename_whole(self):
        """--appendfsync always: six tokens each move among six keys of
        their own, in db 0 and 1, by RENAME, RENAMENX and MOVE, also inside
        an EXEC between reads of both keys (a joint), until kill -9. After the restart each token is in exactly one key, the one its
        last acknowledged move put it in or the one of the move in flight,
        with its value and its deadline (odd tokens have one). Catches a
        pair whose two writes are logged as two units, so that a crash
        between them leaves the token twice or nowhere, and a log record of
        the destination that drops the deadline."""
        work = tempfile.mkdtemp(prefix="sw-pairs.")
        env = {"STEWARDD_TEST_TXN_DELAY_US": "300"}
        srv = Server("--dir", work, "--appendfsync", "always", "--shards", SHARDS, env=env).start()
        movers = 6
        names = [["sk:%d:%d" % (m, i) for i in range(6)] for m in range(movers)]
        tokens = [b"token-%d-%d" % (m, random.getrandbits(32)) for m in range(movers)]
        at = [(0, names[m][0]) for m in range(movers)]  # acknowledged (db, key)
        in_flight = [None] * movers
        moved = [0] * movers
        try:
            c = srv.client()
            for m in range(movers):
                c.set(names[m][0], tokens[m], px=10**8 if m % 2 else None)
            c.close()

            def move(m):
                rnd = random.Random(m)
                cs = [srv.client(socket_timeout=10), srv.client(db=1, socket_timeout=10)]
                while True:
                    db, key = at[m]
                    op = rnd.randrange(4)
                    if op == 0:
                        in_flight[m] = (1 - db, key)
                        ok = cs[db].move(key, 1 - db)
                    elif op == 3:
                        dst = rnd.choice([k for k in names[m] if k != key])
                        in_flight[m] = (db, dst)
                        p = cs[db].pipeline(transaction=True)
                        p.get(key)
                        p.rename(key, dst)
                        p.get(key)
                        p.get(dst)
                        got = p.execute()
                        ok = got == [tokens[m], True, None, tokens[m]]
                        if not ok:
                            raise AssertionError("token %d: EXEC of a move: %r" % (m, got))
                    else:
                        dst = rnd.choice([k for k in names[m] if k != key])
                        in_flight[m] = (db, dst)
                        ok = cs[db].rename(key, dst) if op == 1 else cs[db].renamenx(key, dst)
                    if not ok:
                        raise AssertionError("token %d: a move to %r refused" % (m, in_flight[m]))
                    at[m], in_flight[m] = in_flight[m], None
                    moved[m] += 1

            # until every token has moved a few times
            errors = self.kill9_amid(srv, [move] * movers, lambda: min(moved) >= 3)
            self.assertEqual([], errors[:5])
            self.assertGreater(sum(moved), 20, "too few moves to test: %r" % moved)
            srv.restart()
            c = srv.client()
            for m in range(movers):
                got = tokens_in_one_place(c, (0, 1), names[m])
                found = {place: v for place, v in got.items() if v is not None}
                self.assertEqual(1, len(found), ("token %d not exactly once" % m, found))
                place, value = found.popitem()
                self.assertIn(place, (at[m], in_flight[m]), "token %d" % m)
                self.assertEqual(tokens[m], value)
                with srv.client(db=place[0]) as cd:
                    ttl = cd.pttl(place[1])
                self.assertTrue((ttl > 10**7) if m % 2 else (ttl == -1), ("token %d deadline" % m, ttl))
            c.close()
        finally:
            srv.stop()
            srv.cleanup()
            shutil.rmtree(work, ignore_errors=True)


class TestMultiExec(Base):
    """MULTI/EXEC and WATCH from many connections, on keys over every shard:
    an EXEC is all or nothing to every reader, and WATCH loses no update."""

    KEYS = ["mx:%d" % i for i in range(8)]

    def test_exec_is_atomic_to_readers(self):
        """Writers SET the eight keys to one value inside MULTI/EXEC; readers
        on other connections read them with MGET and with GETs inside their
        own MULTI/EXEC: always all equal."""
        keys, errors = self.KEYS, []
        done = threading.Event()

        def writer(t):
            c = SRV.client(socket_timeout=60)
            for n in range(100):
                p = c.pipeline(transaction=True)
                for k in keys:
                    p.set(k, "w%d-%d" % (t, n))
                p.execute()
            c.close()

        def reader(t):
            c = SRV.client(socket_timeout=60)
            while not done.is_set():
                got = c.mget(keys)
                p = c.pipeline(transaction=True)
                for k in keys:
                    p.get(k)
                got2 = p.execute()
                if len(set(got)) != 1 or len(set(got2)) != 1:
                    errors.append("saw %r / %r" % (got, got2))
                    return
            c.close()

        readers = [threading.Thread(target=reader, args=(t,)) for t in range(3)]
        for th in readers:
            th.start()
        writers = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
        for th in writers:
            th.start()
        for th in writers:
            th.join(240)
        done.set()
        for th in readers:
            th.join(60)
        self.assertEqual([], errors[:5])

    def test_watch_loses_no_update(self):
        """Eight connections each add 1 to two counters on different shards
        40 times, optimistically: WATCH both, read, MULTI, SET both, EXEC,
        again when EXEC fails. No increment may be lost or doubled."""
        a, b = "mx:count:a", "mx:count:b"
        self.r.mset({a: 0, b: 0})
        retries, errors = [0], []

        def work(t):
            c = SRV.client(socket_timeout=60)
            for _ in range(40):
                while True:
                    p = c.pipeline(transaction=True)
                    try:
                        p.watch(a, b)
                        va, vb = int(p.get(a)), int(p.get(b))
                        p.multi()
                        p.set(a, va + 1)
                        p.set(b, vb + 1)
                        p.execute()
                        break
                    except redis.WatchError:
                        retries[0] += 1
                    finally:
                        p.reset()
            c.close()

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(240)
        self.assertEqual([b"320", b"320"], self.r.mget(a, b))
        self.assertGreater(retries[0], 0, "no EXEC ever failed: the race was not exercised")

    def test_errors_and_words(self):
        """The replies of Redis 7.0, byte for byte, in RESP2 and RESP3."""
        for proto in (2, 3):
            raw = Raw(SRV.port)
            if proto == 3:
                raw.call("HELLO", "3")
            self.assertEqual((b"-", "ERR EXEC without MULTI"), raw.call("EXEC"))
            self.assertEqual((b"-", "ERR DISCARD without MULTI"), raw.call("DISCARD"))
            self.assertEqual((b"+", "OK"), raw.call("MULTI"))
            self.assertEqual((b"-", "ERR MULTI calls can not be nested"), raw.call("MULTI"))
            self.assertEqual((b"-", "ERR WATCH inside MULTI is not allowed"), raw.call("WATCH", "k"))
            self.assertEqual((b"+", "QUEUED"), raw.call("SET", "mx:e", "1"))
            self.assertEqual(b"-", raw.call("NOSUCH")[0])
            self.assertEqual(b"-", raw.call("GET")[0])  # arity: flags it too
            if STEWARD:
                self.assertEqual(
                    (b"-", "ERR Command not allowed inside a transaction"),
                    raw.call("ACCOUNT.BALANCE", "x"),
                )
            self.assertEqual(
                (b"-", "EXECABORT Transaction discarded because of previous errors."),
                raw.call("EXEC"),
            )
            self.assertIsNone(self.r.get("mx:e"))
            # A watched key changed: EXEC answers a null array, runs nothing.
            self.assertEqual((b"+", "OK"), raw.call("WATCH", "mx:w", "mx:other"))
            self.r.set("mx:w", "changed")
            raw.call("MULTI")
            raw.call("SET", "mx:e", "1")
            self.assertEqual((b"*" if proto == 2 else b"_", None), raw.call("EXEC"))
            self.assertIsNone(self.r.get("mx:e"))
            # Unchanged: the replies in order, in an array.
            raw.call("WATCH", "mx:w")
            raw.call("MULTI")
            raw.call("SET", "mx:e", "2")
            raw.call("INCR", "mx:e")
            raw.call("GET", "mx:e")
            got = raw.call("EXEC")
            self.assertEqual((b"*", [(b"+", "OK"), (b":", 3), (b"$", b"3")]), got)
            self.r.delete("mx:e")
            raw.close()


class TestLimits(unittest.TestCase):
    def test_output_buffer_limit(self):
        """A client that pipelines far more replies than
        --client-output-buffer-limit and reads none must not make the server
        buffer them all: Redis disconnects it; a server may instead stop
        reading its requests until it reads (then every reply arrives,
        whole). Either way the server's memory stays bounded and it goes on
        serving others."""
        srv = Server("--client-output-buffer-limit", "1048576").start()
        value, count = b"x" * (512 << 10), 400
        reply = b"$%d\r\n%s\r\n" % (len(value), value)
        c = None
        try:
            # Eight keys, so that whichever shard the connection lands on,
            # most of the replies are made on the others and come back.
            for k in range(8):
                srv.client().set("big%d" % k, value)
            rss_before = rss_kib(srv.proc.pid)
            c = Raw(srv.port, timeout=10)
            c.sock.sendall(b"".join(b"*2\r\n$3\r\nGET\r\n$4\r\nbig%d\r\n" % (i % 8) for i in range(count)))
            time.sleep(1.5)
            grown = rss_kib(srv.proc.pid) - rss_before
            self.assertTrue(srv.client(socket_timeout=10).ping(), "the server stopped serving")
            self.assertLess(grown, 64 << 10, "the server grew by %d KiB for one client" % grown)
            total, closed, mismatch = 0, False, False
            try:
                while True:
                    data = c.sock.recv(1 << 20)
                    if not data:
                        closed = True
                        break
                    off = total % len(reply)
                    want = (reply[off:] + reply * (len(data) // len(reply) + 1))[: len(data)]
                    mismatch = mismatch or data != want
                    total += len(data)
            except ConnectionResetError:
                closed = True
            except socket.timeout:
                pass
            self.assertFalse(mismatch, "a reply came back damaged")
            if not closed:
                self.assertEqual(count * len(reply), total, "neither closed nor all replies")
            else:
                self.assertLess(total, count * len(reply))
            self.assertTrue(srv.client().ping())
        finally:
            if c is not None:
                c.close()
            srv.stop()
            srv.cleanup()

    def test_many_connections_at_once(self):
        socks = [socket.create_connection((HOST, SRV.port), timeout=30) for _ in range(300)]
        try:
            for s in socks:
                s.sendall(b"PING\r\n")
            for s in socks:
                self.assertEqual(b"+PONG\r\n", s.recv(64))
        finally:
            for s in socks:
                s.close()


# ---- the Ledger -------------------------------------------------------------------


class TestLedger(Base):
    @needs_steward
    def test_commands(self):
        r = self.r
        ex = r.execute_command
        self.assertEqual(b"OK", ex("ACCOUNT.CREATE", 1, 100))
        self.assertEqual(b"OK", ex("ACCOUNT.CREATE", 2))
        self.assertRaises(redis.exceptions.ResponseError, ex, "ACCOUNT.CREATE", 1)
        self.assertEqual(100, ex("ACCOUNT.BALANCE", 1))
        self.assertEqual(b"OK", ex("ACCOUNT.DEPOSIT", 2, 5))
        self.assertEqual(b"OK", ex("ACCOUNT.WITHDRAW", 1, 10))
        self.assertEqual(b"OK", ex("ACCOUNT.TRANSFER", 1, 2, 40))
        self.assertEqual([50, 45], [ex("ACCOUNT.BALANCE", i) for i in (1, 2)])
        self.assertError("insufficient funds", ex, "ACCOUNT.WITHDRAW", 1, 51)
        self.assertError("insufficient funds", ex, "ACCOUNT.TRANSFER", 2, 1, 46)
        self.assertRaises(redis.exceptions.ResponseError, ex, "ACCOUNT.BALANCE", 77)
        self.assertRaises(redis.exceptions.ResponseError, ex, "ACCOUNT.TRANSFER", 1, 77, 1)
        self.assertEqual([50, 45], [ex("ACCOUNT.BALANCE", i) for i in (1, 2)])

    @needs_steward
    def test_money_conserved_under_concurrent_transfers(self):
        accounts, opening, threads, per_thread = 24, 1000, 16, 400
        ex = self.r.execute_command
        base = random.randint(1, 1 << 40)
        ids = [base + i for i in range(accounts)]
        for i in ids:
            ex("ACCOUNT.CREATE", i, opening)
        errors, counts = [], {"ok": 0, "funds": 0}
        lock = threading.Lock()
        stop = threading.Event()

        def transfer(t):
            rnd = random.Random(t)
            c = SRV.client()
            ok = funds = 0
            try:
                for _ in range(per_thread):
                    a, b = rnd.sample(ids, 2)
                    try:
                        c.execute_command("ACCOUNT.TRANSFER", a, b, rnd.randint(1, 300))
                        ok += 1
                    except redis.exceptions.ResponseError as e:
                        if str(e) != "insufficient funds":
                            errors.append("transfer: %s" % e)
                        funds += 1
            except Exception as e:  # noqa: BLE001
                errors.append("t%d: %r" % (t, e))
            with lock:
                counts["ok"] += ok
                counts["funds"] += funds
            c.close()

        def watch():
            c = SRV.client()
            while not stop.is_set():
                for i in ids:
                    b = c.execute_command("ACCOUNT.BALANCE", i)
                    if b < 0:
                        errors.append("account %d seen at %d" % (i, b))
            c.close()

        watcher = threading.Thread(target=watch)
        watcher.start()
        ts = [threading.Thread(target=transfer, args=(t,)) for t in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(240)
        stop.set()
        watcher.join(60)
        self.assertEqual([], errors[:20])
        self.assertEqual(threads * per_thread, counts["ok"] + counts["funds"])
        self.assertGreater(counts["ok"], 0)
        balances = [ex("ACCOUNT.BALANCE", i) for i in ids]
        self.assertEqual(accounts * opening, sum(balances))
        self.assertTrue(all(b >= 0 for b in balances), balances)


# ---- durability -------------------------------------------------------------------


class TestDurability(unittest.TestCase):
    def test_clean_restart(self):
        """SIGTERM syncs: after a restart every write is there."""
        work = tempfile.mkdtemp(prefix="sw-dur.")
        srv = Server("--dir", work, "--appendfsync", "everysec", "--shards", SHARDS).start()
        try:
            c = srv.client()
            c.mset({"cr:%d" % i: "v%d" % i for i in range(500)})
            c.set("cr:ttl", "v", ex=100)
            c.set("cr:gone", "v", px=1)
            srv.client(db=5).set("cr:db5", "five")
            if STEWARD:
                c.execute_command("ACCOUNT.CREATE", 4242, 77)
            c.close()
            self.assertEqual(0, srv.stop())
            srv.restart()
            c = srv.client()
            self.assertEqual([b"v%d" % i for i in range(500)], c.mget(["cr:%d" % i for i in range(500)]))
            self.assertTrue(95 <= c.ttl("cr:ttl") <= 100)
            self.assertIsNone(c.get("cr:gone"))
            self.assertEqual(b"five", srv.client(db=5).get("cr:db5"))
            self.assertEqual(501, c.dbsize())
            ks = c.info("keyspace")
            self.assertEqual(1, ks["db5"]["keys"])
            self.assertEqual((501, 1), (ks["db0"]["keys"], ks["db0"]["expires"]))
            persistence = c.info("persistence")
            self.assertEqual((1, "ok"), (persistence["aof_enabled"], persistence["aof_last_write_status"]))
            if STEWARD:
                # Counted again from the replayed log, deadlines and all.
                self.assertTrue(95000 <= ks["db0"]["avg_ttl"] <= 100000, ks["db0"])
                self.assertGreater(persistence["aof_current_size"], 500 * 6)
                self.assertEqual(77, c.execute_command("ACCOUNT.BALANCE", 4242))
            c.close()
        finally:
            srv.stop()
            srv.cleanup()
            shutil.rmtree(work, ignore_errors=True)

    def test_sigkill(self):
        """--appendfsync always: every acknowledged write survives kill -9."""
        work = tempfile.mkdtemp(prefix="sw-dur.")
        srv = Server("--dir", work, "--appendfsync", "always", "--shards", SHARDS).start()
        writers, movers, accounts, opening = 6, 4 if STEWARD else 0, 10, 10**9
        acked = [[] for _ in range(writers)]  # per writer: acknowledged versions
        sent = [0] * writers
        moves_acked = [[] for _ in range(movers)]  # (from, to, amount)
        in_flight = [None] * movers
        base = random.randint(1, 1 << 40)
        ids = [base + i for i in range(accounts)]
        try:
            c = srv.client()
            for i in ids if STEWARD else []:
                c.execute_command("ACCOUNT.CREATE", i, opening)
            c.close()

            def write(w):
                cl = srv.client(socket_timeout=10)
                try:
                    for v in range(1, 10**9):
                        sent[w] = v
                        cl.set("dur:%d:%d" % (w, v), "val-%d-%d" % (w, v))
                        cl.set("dur:%d:last" % w, v)
                        acked[w].append(v)
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    pass

            def move(m):
                rnd = random.Random(m)
                cl = srv.client(socket_timeout=10)
                try:
                    while True:
                        a, b = rnd.sample(ids, 2)
                        op = (a, b, rnd.randint(1, 1000))
                        in_flight[m] = op
                        cl.execute_command("ACCOUNT.TRANSFER", *op)
                        moves_acked[m].append(op)
                        in_flight[m] = None
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    pass

            # MSET and MULTI/EXEC writers: each sets its four keys (which
            # span shards) to one version after another, as a transaction
            # across the shards: each logs its part, then the decision.
            msetters = 4
            m_acked, m_sent = [0] * msetters, [0] * msetters

            def mwrite(w):
                cl = srv.client(socket_timeout=10)
                keys = ["dm:%d:%d" % (w, i) for i in range(4)]
                try:
                    for v in range(1, 10**9):
                        m_sent[w] = v
                        if w % 2 == 0:
                            cl.mset({k: v for k in keys})
                        else:
                            p = cl.pipeline(transaction=True)
                            for k in keys:
                                p.set(k, v)
                            p.execute()
                            # An EXEC of one key, maybe on another shard: a
                            # transaction of one part, whose log the
                            # restart below must open.
                            p = cl.pipeline(transaction=True)
                            p.set("dm1:%d:%d" % (w, v % 4), v)
                            p.execute()
                        m_acked[w] = v
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    pass

            ts = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
            ts += [threading.Thread(target=move, args=(m,)) for m in range(movers)]
            ts += [threading.Thread(target=mwrite, args=(w,)) for w in range(msetters)]
            for t in ts:
                t.start()
            time.sleep(2.0)
            srv.kill9()
            for t in ts:
                t.join(60)
            self.assertGreater(sum(len(a) for a in acked), 20, "too few writes to test")
            srv.restart()
            c = srv.client()
            for w in range(writers):
                if not acked[w]:
                    continue
                keys = ["dur:%d:%d" % (w, v) for v in acked[w]]
                got = c.mget(keys)
                lost = [k for k, g in zip(keys, got) if g is None]
                self.assertEqual([], lost[:10], "acknowledged SETs lost (%d)" % len(lost))
                last = int(c.get("dur:%d:last" % w))
                self.assertTrue(acked[w][-1] <= last <= sent[w], (acked[w][-1], last, sent[w]))
            # The four keys all have the last acknowledged version, or all
            # the one in flight at the kill: never some of each.
            for w in range(msetters):
                self.assertGreater(m_acked[w], 0, "MSET/EXEC writer %d got no reply" % w)
                got = [int(v or 0) for v in c.mget(["dm:%d:%d" % (w, i) for i in range(4)])]
                self.assertEqual(1, len(set(got)), ("half a transaction", w, got))
                self.assertTrue(m_acked[w] <= got[0] <= m_sent[w], (w, got, m_acked[w], m_sent[w]))
            if STEWARD:
                self.check_ledger(c, ids, opening, moves_acked, in_flight)
            c.close()
        finally:
            srv.stop()
            srv.cleanup()
            shutil.rmtree(work, ignore_errors=True)

    def check_ledger(self, c, ids, opening, moves_acked, in_flight):
        balances = {i: c.execute_command("ACCOUNT.BALANCE", i) for i in ids}
        self.assertEqual(len(ids) * opening, sum(balances.values()), "money not conserved")
        want = {i: opening for i in ids}
        for moves in moves_acked:
            for a, b, amt in moves:
                want[a] -= amt
                want[b] += amt
        # Each mover had at most one transfer in flight at the kill: it may
        # or may not have happened. Some subset must explain the balances.
        pending = [op for op in in_flight if op is not None]
        for mask in range(1 << len(pending)):
            w = dict(want)
            for j, (a, b, amt) in enumerate(pending):
                if mask >> j & 1:
                    w[a] -= amt
                    w[b] += amt
            if w == balances:
                return
        self.fail("balances %r match no outcome of the acknowledged transfers %r" % (balances, want))


def main():
    global SERVER_BIN
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.stderr.write("usage: %s SERVER-BINARY [unittest options]\n" % sys.argv[0])
        return 2
    SERVER_BIN = os.path.abspath(sys.argv[1]) if os.sep in sys.argv[1] else shutil.which(sys.argv[1])
    if not SERVER_BIN or not os.access(SERVER_BIN, os.X_OK):
        sys.stderr.write("test_redis_py: no server binary %r\n" % sys.argv[1])
        return 2
    prog = unittest.main(argv=[sys.argv[0]] + sys.argv[2:], exit=False, verbosity=2)
    res = prog.result
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    print("test_redis_py: %d passed, %d failed, %d skipped"
          % (res.testsRun - failed - len(res.skipped), failed, len(res.skipped)))
    # Only runs against redis-server skip (it has no ledger); against
    # stewardd every test must run.
    if STEWARD and res.skipped:
        print("test_redis_py: FAIL: %d test(s) skipped against stewardd" % len(res.skipped))
        return 1
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

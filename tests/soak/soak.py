#!/usr/bin/env python3
"""Soak test of stewardd under faults, with a model of every acknowledged write.

Starts stewardd on a free loopback port with a fresh data directory and
--appendfsync always, then runs many clients (threads, each with its own
raw-socket RESP connection) that pipeline bursts of string commands on their
own keys (MSET, MGET and MULTI ... EXEC over several among them, which span
shards), INCRBYs on shared counters and Ledger commands, while faults are
injected: clients killed mid-pipeline (even mid-command), slow readers that
send big pipelines of GETs of big values and never read, and SIGKILLs of the
server at random moments followed by a restart on the same directory.

The model. A reply received means the write is acknowledged: it must be
there after every restart. A command sent whose reply never came may or may
not have happened, so for those (and only those) the model allows both: each
key holds the set of states it may be in, and the commands in flight on a
key when its connection died are applied as a prefix (the server runs one
connection's commands on one key in order). A command whose bytes were not
all sent must never happen. A killed client's commands may still run after
it is gone, so its keys stay out of use ("quarantined") until the next
server restart settles them. Shared counters keep a range [acked, acked +
in flight]; the Ledger's total must equal the openings plus acknowledged
deposits minus acknowledged withdrawals, give or take those in flight, and
each client's own two accounts are modelled exactly, so a transfer applied
twice or lost shows. Expiry is modelled with deadline ranges taken from the
time a command was sent and the time its reply came back.

After every restart, with all clients stopped, the shared state is checked
and each client reads back all its keys and accounts; at the end the server
is SIGKILLed once more and everything is verified. Exit status: 0 when no
acknowledged write was lost and nothing broke the model, 1 otherwise, 2 on a
usage or setup error.

Usage: soak.py --server PATH/stewardd [--duration 180] [--clients 32] ...
(see --help). Python 3 standard library only.
"""

import argparse
import collections
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

EPS = 0.02  # seconds of slack around deadlines: ms rounding between clocks
NBIG = 4  # big values the slow readers GET
SHARED_ACCOUNTS = 16
SHARED_OPENING = 1_000_000
PRIVATE_OPENING = 100_000
SHARED_COUNTERS = 8
MAX_APPEND_LEN = 2000
NO = object()  # "this branch does not match"


# ---- RESP over a raw socket -------------------------------------------------


class Err(str):
    """An error reply, as its text."""


class ConnLost(Exception):
    pass


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = b"%d" % a
        elif isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """One connection; replies parsed incrementally from a byte buffer."""

    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 17)
        if not chunk:
            raise ConnLost("connection closed by the server")
        if self.pos > (1 << 16):
            del self.buf[: self.pos]
            self.pos = 0
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos : i])
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n + 2
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return Err(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ConnLost("protocol error: unexpected reply line %r" % line[:80])

    def call(self, *args):
        self.send(encode(*args))
        return self.read()

    def pipeline(self, cmds):
        self.send(b"".join(cmds))
        return [self.read() for _ in cmds]

    def close(self, reset=False):
        try:
            if reset:  # RST instead of FIN: the server may drop what it had unread
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass


def match(expected, observed):
    if isinstance(expected, Err):
        return isinstance(observed, Err) and str(expected) in observed
    if isinstance(observed, Err):
        return False
    return type(expected) is type(observed) and expected == observed


# ---- the model of one key -------------------------------------------------------
#
# A state is None (absent) or (value, lo, hi): lo..hi bounds the deadline in
# seconds since the epoch (CLOCK_REALTIME, as the server's), both None when
# the key has no TTL. An op is a tuple: ("SET", key, value, px_ms or None),
# ("GET", key), ("INCRBY", key, n), ("APPEND", key, s), ("DEL", key),
# ("EXPIRE", key, seconds), ("PTTL", key). It ran at some time in [ts, te].


def branches(s, ts, te):
    """The states s may look like to a command that runs in [ts, te]."""
    if s is None or s[1] is None:
        return [s]
    out = []
    if ts < s[2] + EPS:
        out.append(s)  # still alive when it ran
    if te >= s[1] - EPS:
        out.append(None)  # already expired
    return out


def outcomes(op, pre, ts, te):
    """(reply, state after) of op on the effective state pre."""
    kind = op[0]
    if kind == "SET":
        px = op[3]
        return [("OK", (op[2], None, None) if px is None else (op[2], ts + px / 1000, te + px / 1000))]
    if kind == "GET":
        return [(None if pre is None else pre[0], pre)]
    if kind == "INCRBY":
        if pre is None:
            return [(op[2], (b"%d" % op[2], None, None))]
        try:
            n = int(pre[0]) + op[2]
        except ValueError:
            return [(Err("not an integer"), pre)]
        return [(n, (b"%d" % n, pre[1], pre[2]))]
    if kind == "APPEND":
        if pre is None:
            return [(len(op[2]), (op[2], None, None))]
        v = pre[0] + op[2]
        return [(len(v), (v, pre[1], pre[2]))]
    if kind == "DEL":
        return [(0 if pre is None else 1, None)]
    if kind == "EXPIRE":
        if pre is None:
            return [(0, None)]
        return [(1, (pre[0], ts + op[2], te + op[2]))]
    raise ValueError(kind)


def pttl_accept(pre, obs, ts, te):
    """The state after a PTTL that replied obs, or NO."""
    if pre is None:
        return pre if obs == -2 else NO
    v, lo, hi = pre
    if lo is None:
        return pre if obs == -1 else NO
    if isinstance(obs, Err) or not isinstance(obs, int) or obs < 0:
        return NO
    a = max(lo, ts + obs / 1000 - EPS)
    b = min(hi, te + obs / 1000 + EPS)
    return (v, a, b) if a <= b else NO


def observe(states, op, obs, ts, te):
    """The states consistent with op having replied obs."""
    new = set()
    for s in states:
        for pre in branches(s, ts, te):
            if op[0] == "PTTL":
                post = pttl_accept(pre, obs, ts, te)
                if post is not NO:
                    new.add(post)
                continue
            for reply, post in outcomes(op, pre, ts, te):
                if match(reply, obs):
                    new.add(post)
    return new


def closure(states, pending, t_end):
    """States after some prefix of the pending ops ran (each in [its send, t_end])."""
    result, cur = set(states), set(states)
    for op, ts in pending:
        if op[0] in ("GET", "PTTL"):
            continue
        nxt = set()
        for s in cur:
            te = max(ts, t_end)
            for pre in branches(s, ts, te):
                for _, post in outcomes(op, pre, ts, te):
                    nxt.add(post)
        result |= nxt
        cur = nxt
    return result


def show_state(s):
    if s is None:
        return "absent"
    v = s[0] if len(s[0]) <= 40 else s[0][:20] + b"..." + s[0][-12:] + b"(%d bytes)" % len(s[0])
    if s[1] is None:
        return repr(v)
    return "%r deadline %.3f..%.3f" % (v, s[1], s[2])


def show_states(states, limit=4):
    items = sorted((show_state(s) for s in states))
    more = " +%d more" % (len(items) - limit) if len(items) > limit else ""
    return "{" + ", ".join(items[:limit]) + more + "}"


class Key:
    def __init__(self, name):
        self.name = name
        self.states = {None}  # None: unknown after a violation, adopt what is read
        self.pending = []  # (op, time sent) whose replies never came
        self.history = collections.deque(maxlen=16)  # values it held, for "lost"
        self.recent = collections.deque(maxlen=6)  # last acked ops, for reports

    def remember(self):
        if self.states and len(self.states) == 1:
            (s,) = self.states
            v = None if s is None else s[0]
            if not self.history or self.history[-1] != v:
                self.history.append(v)


# ---- the model of a client's two private accounts ---------------------------------
#
# A state is (b0, b1). Ops: ("DEP", i, amt), ("WD", i, amt), ("XP", i, j, amt)
# between the two, ("XIN", shared, i, amt), ("XOUT", i, shared, amt), ("BAL", i).

FUNDS = Err("insufficient funds")


def bump(b, i, d):
    return (b[0] + d, b[1]) if i == 0 else (b[0], b[1] + d)


def ledger_outcomes(op, b):
    kind = op[0]
    if kind == "BAL":
        return [(b[op[1]], b)]
    if kind == "DEP":
        return [("OK", bump(b, op[1], op[2]))]
    if kind in ("WD", "XOUT"):
        i, amt = op[1], op[-1]
        return [("OK", bump(b, i, -amt))] if b[i] >= amt else [(FUNDS, b)]
    if kind == "XP":
        i, j, amt = op[1], op[2], op[3]
        return [("OK", bump(bump(b, i, -amt), j, amt))] if b[i] >= amt else [(FUNDS, b)]
    if kind == "XIN":  # the shared side may lack the funds: either
        return [("OK", bump(b, op[2], op[3])), (FUNDS, b)]
    raise ValueError(kind)


# ---- shared context ---------------------------------------------------------------


class Ctx:
    """What the orchestrator, the clients and the samplers share."""

    def __init__(self, args):
        self.args = args
        self.cv = threading.Condition()
        self.open = True  # clients may run (guarded by cv)
        self.epoch = 0  # server incarnation (guarded by cv)
        self.parked = 0  # clients waiting at the gate (guarded by cv)
        self.done = 0  # clients finished (guarded by cv)
        self.stopping = False  # final verification: clients verify, then exit
        self.port = None
        self.kill_time = 0.0  # when the last server incarnation died
        self.last_reply = time.time()  # when a client last got a reply
        self.lock = threading.Lock()  # guards the records below
        self.problems = []  # (kind, text)
        self.faults = collections.Counter()
        self.counter_base = [0] * SHARED_COUNTERS
        self.ledger_base = 0
        self.accounts = []  # every account id (shared, then private)

    def problem(self, kind, text):
        with self.lock:
            self.problems.append((kind, text))
            n = len(self.problems)
        if n <= 40:
            print("soak: %s: %s" % (kind.upper(), text), file=sys.stderr, flush=True)

    def count(self, what, n=1):
        with self.lock:
            self.faults[what] += n


# ---- a client ------------------------------------------------------------------


class Item:
    """One command of a burst: its wire bytes and what the model makes of it."""

    __slots__ = ("kind", "name", "wire", "ops")

    def __init__(self, kind, name, wire, ops):
        self.kind, self.name, self.wire, self.ops = kind, name, wire, ops


class Worker(threading.Thread):
    def __init__(self, ctx, idx, seed):
        super().__init__(name="client-%d" % idx, daemon=True)
        self.ctx, self.idx = ctx, idx
        self.rng = random.Random(seed)
        a = ctx.args
        self.skeys = [Key("soak:c%d:s%d" % (idx, j)) for j in range(a.keys)]
        self.nkeys = [Key("soak:c%d:n%d" % (idx, j)) for j in range(a.keys)]
        self.keys = {k.name: k for k in self.skeys + self.nkeys}
        self.acct = (100_000 + 2 * idx, 100_000 + 2 * idx + 1)
        self.lstates = {(PRIVATE_OPENING, PRIVATE_OPENING)}
        self.lpending = []
        self.lhistory = collections.deque([(PRIVATE_OPENING, PRIVATE_OPENING)], maxlen=16)
        self.quarantine = set()  # key names, and "ledger"
        self.seq = 0
        self.conn = None
        self.epoch = 0
        self.settled = True  # nothing to verify after a restart yet
        self.acked = collections.Counter()  # by command name
        self.unacked = 0
        self.reset_tallies()
        self.c_last = [0] * SHARED_COUNTERS  # last reply per shared counter
        self.dep_total = self.wd_total = 0  # acknowledged, whole run

    def reset_tallies(self):
        """Since the last quiescent check: the orchestrator calls it while parked."""
        self.c_acked = [0] * SHARED_COUNTERS
        self.c_unk = [0] * SHARED_COUNTERS
        self.c_max = [0] * SHARED_COUNTERS  # highest acknowledged reply
        self.dep_acked = self.wd_acked = self.dep_unk = self.wd_unk = 0

    # -- the gate ---------------------------------------------------------------

    def wait_gate(self):
        """Parks while the gate is closed; returns the epoch to run in."""
        ctx = self.ctx
        with ctx.cv:
            if ctx.open and ctx.epoch == self.epoch and not ctx.stopping:
                return ctx.epoch
            self.drop_conn()
            ctx.parked += 1
            ctx.cv.notify_all()
            while not ctx.open or (ctx.epoch == self.epoch and not ctx.stopping):
                ctx.cv.wait()
            ctx.parked -= 1
            return ctx.epoch

    def run(self):
        crashed = False
        try:
            self.loop()
        except Exception as e:  # a bug here must not look like a pass
            import traceback

            traceback.print_exc()
            self.ctx.problem("violation", "client %d crashed: %r" % (self.idx, e))
            crashed = True
        with self.ctx.cv:
            self.ctx.done += 1
            if crashed:
                self.ctx.parked += 1  # for good: restarts must not wait for it
            self.ctx.cv.notify_all()

    def loop(self):
        while True:
            epoch = self.wait_gate()
            if epoch != self.epoch:
                self.epoch = epoch
                self.settled = False
            if not self.settled and not self.verify_all():
                continue
            if self.ctx.stopping:
                self.drop_conn()
                return
            if not self.connect():
                continue
            self.burst()

    def connect(self):
        if self.conn:
            return True
        try:
            self.conn = Conn(self.ctx.port, self.ctx.args.reply_timeout)
            return True
        except OSError:
            time.sleep(0.05)  # the server is down: the orchestrator will notice
            return False

    def drop_conn(self, reset=False):
        if self.conn:
            self.conn.close(reset)
            self.conn = None

    def io_failed(self, e):
        """A connection error: a timeout with the server up is a hang."""
        if isinstance(e, socket.timeout):
            with self.ctx.cv:
                same = self.ctx.open and self.ctx.epoch == self.epoch
            if same:
                self.ctx.problem("hang", "client %d: no reply within %.0f s" % (self.idx, self.ctx.args.reply_timeout))
        self.drop_conn()

    # -- bursts ---------------------------------------------------------------

    def token(self):
        self.seq += 1
        return b"c%d.%d;" % (self.idx, self.seq)

    def free(self, keys):
        return [k for k in keys if k.name not in self.quarantine]

    def pick_string_op(self, r):
        keys = self.free(self.skeys)
        if not keys:
            return None
        if r < 0.08 and len(keys) >= 2 and not self.ctx.args.no_multikey:
            ks = self.rng.sample(keys, self.rng.randint(2, min(4, len(keys))))
            if self.rng.random() < 0.3:
                return self.exec_item(ks)
            if self.rng.random() < 0.5:
                ops = [("SET", k.name, self.token() * self.rng.randint(1, 4), None) for k in ks]
                args = ["MSET"]
                for op in ops:
                    args += [op[1], op[2]]
                return Item("keys", "MSET", encode(*args), ops)
            ops = [("GET", k.name) for k in ks]
            return Item("keys", "MGET", encode("MGET", *[k.name for k in ks]), ops)
        k = self.rng.choice(keys)
        long_value = any(s is not None and len(s[0]) > MAX_APPEND_LEN for s in (k.states or ()))
        x = self.rng.random()
        if x < 0.25 or (long_value and x < 0.55):
            val = self.token() * self.rng.randint(1, 8)
            if self.rng.random() < 0.15 and not self.ctx.args.no_ttl:
                px = self.rng.randint(300, 3000)
                return self.single(("SET", k.name, val, px), "SET", k.name, val, "PX", px)
            return self.single(("SET", k.name, val, None), "SET", k.name, val)
        if x < 0.55:
            tok = self.token()
            return self.single(("APPEND", k.name, tok), "APPEND", k.name, tok)
        if x < 0.80:
            return self.single(("GET", k.name), "GET", k.name)
        if x < 0.86:
            return self.single(("DEL", k.name), "DEL", k.name)
        if x < 0.93 and not self.ctx.args.no_ttl:
            return self.expire_op(k)
        return self.single(("PTTL", k.name), "PTTL", k.name)

    def exec_item(self, keys):
        """MULTI, a SET, GET or DEL of each key (over shards: an EXEC on the
        key locks), EXEC: one item, whose reply is EXEC's array. Or MULTI,
        SET of the first key, RENAME of it to the second, EXEC (over two
        shards, a joint): the model's ops are the SETs of both and the
        first's DEL, which is what it does."""
        if self.rng.random() < 0.3:
            a, b = keys[0].name, keys[1].name
            val = self.token() * self.rng.randint(1, 4)
            wire = encode("MULTI") + encode("SET", a, val) + encode("RENAME", a, b) + encode("EXEC")
            return Item("keys", "EXEC-RENAME", wire, [("SET", a, val, None), ("SET", b, val, None), ("DEL", a)])
        ops, wire = [], [encode("MULTI")]
        for k in keys:
            x = self.rng.random()
            if x < 0.5:
                val = self.token() * self.rng.randint(1, 4)
                ops.append(("SET", k.name, val, None))
                wire.append(encode("SET", k.name, val))
            elif x < 0.85:
                ops.append(("GET", k.name))
                wire.append(encode("GET", k.name))
            else:
                ops.append(("DEL", k.name))
                wire.append(encode("DEL", k.name))
        wire.append(encode("EXEC"))
        return Item("keys", "EXEC", b"".join(wire), ops)

    def read_reply(self, it):
        """Item it's reply: an EXEC's is its array, read after MULTI's +OK
        and a +QUEUED per command (anything else there: an error)."""
        if it.name not in ("EXEC", "EXEC-RENAME"):
            return self.conn.read()
        n = 2 if it.name == "EXEC-RENAME" else len(it.ops)
        head = [self.conn.read() for _ in range(n + 1)]
        obs = self.conn.read()
        if head != ["OK"] + ["QUEUED"] * n:
            return Err("MULTI and QUEUED expected before EXEC's reply, got %r" % (head,))
        return obs

    def expire_op(self, k):
        secs = self.rng.randint(1, 3) if self.rng.random() < 0.5 else self.rng.randint(100, 1000)
        return self.single(("EXPIRE", k.name, secs), "EXPIRE", k.name, secs)

    def single(self, op, *args):
        return Item("keys", args[0], encode(*args), [op])

    def pick_counter_op(self):
        keys = self.free(self.nkeys)
        if not keys:
            return None
        k = self.rng.choice(keys)
        x = self.rng.random()
        if x < 0.65:
            n = self.rng.randint(-5, 20) or 1
            return self.single(("INCRBY", k.name, n), "INCRBY", k.name, n)
        if x < 0.80:
            return self.single(("GET", k.name), "GET", k.name)
        if x < 0.88:
            v = b"%d" % self.rng.randint(-1000, 1000)
            return self.single(("SET", k.name, v, None), "SET", k.name, v)
        if x < 0.94 or self.ctx.args.no_ttl:
            return self.single(("DEL", k.name), "DEL", k.name)
        return self.expire_op(k)

    def pick_shared_ledger_op(self):
        ids = self.ctx.accounts[:SHARED_ACCOUNTS]
        x = self.rng.random()
        amt = self.rng.randint(1, 5000)
        if x < 0.55:
            a, b = self.rng.sample(ids, 2)
            return Item("lshared", "ACCOUNT.TRANSFER", encode("ACCOUNT.TRANSFER", a, b, amt), [("XFER", a, b, amt)])
        a = self.rng.choice(ids)
        if x < 0.70:
            return Item("lshared", "ACCOUNT.DEPOSIT", encode("ACCOUNT.DEPOSIT", a, amt), [("DEP", a, amt)])
        if x < 0.85:
            return Item("lshared", "ACCOUNT.WITHDRAW", encode("ACCOUNT.WITHDRAW", a, amt), [("WD", a, amt)])
        return Item("lshared", "ACCOUNT.BALANCE", encode("ACCOUNT.BALANCE", a), [("BAL", a)])

    def pick_private_ledger_op(self):
        if "ledger" in self.quarantine:
            return None
        i = self.rng.randint(0, 1)
        me = self.acct
        amt = self.rng.randint(1, 8000)
        s = self.rng.choice(self.ctx.accounts[:SHARED_ACCOUNTS])
        x = self.rng.random()
        if x < 0.15:
            op, args = ("DEP", i, amt), ("ACCOUNT.DEPOSIT", me[i], amt)
        elif x < 0.35:
            op, args = ("WD", i, amt), ("ACCOUNT.WITHDRAW", me[i], amt)
        elif x < 0.60:
            op, args = ("XP", i, 1 - i, amt), ("ACCOUNT.TRANSFER", me[i], me[1 - i], amt)
        elif x < 0.75:
            op, args = ("XIN", s, i, amt), ("ACCOUNT.TRANSFER", s, me[i], amt)
        elif x < 0.90:
            op, args = ("XOUT", i, s, amt), ("ACCOUNT.TRANSFER", me[i], s, amt)
        else:
            op, args = ("BAL", i), ("ACCOUNT.BALANCE", me[i])
        return Item("lprivate", args[0], encode(*args), [op])

    def shared_incr(self):
        j = self.rng.randrange(SHARED_COUNTERS)
        n = self.rng.randint(1, 10)
        return Item("shared", "INCRBY", encode("INCRBY", "soak:shared:%d" % j, n), [(j, n)])

    def pick(self):
        r = self.rng.random()
        item = None
        if r < 0.40:
            item = self.pick_string_op(r / 0.40)
        elif r < 0.58:
            item = self.pick_counter_op()
        elif r < 0.68:
            item = self.shared_incr()
        elif not self.ctx.args.ledger:
            item = self.pick_string_op(self.rng.random()) if r < 0.84 else self.pick_counter_op()
        elif r < 0.84:
            item = self.pick_shared_ledger_op()
        else:
            item = self.pick_private_ledger_op()
        if item is None:  # every own key is quarantined
            item = self.pick_shared_ledger_op() if self.ctx.args.ledger else self.shared_incr()
        return item

    def burst(self):
        items = [self.pick() for _ in range(self.rng.randint(1, self.ctx.args.burst))]
        wire = b"".join(it.wire for it in items)
        if self.rng.random() < self.ctx.args.client_kill:
            return self.killed_burst(items, wire)
        ts = time.time()
        done = 0
        try:
            self.conn.send(wire)
            for it in items:
                obs = self.read_reply(it)
                self.on_reply(it, obs, ts, time.time())
                done += 1
            self.ctx.last_reply = time.time()
        except (OSError, ConnLost) as e:
            for it in items[done:]:
                self.on_maybe(it, ts)
            self.io_failed(e)

    def killed_burst(self, items, wire):
        """Sends part of the pipeline (maybe cutting a command) and hangs up,
        or sends it all and hangs up after some of the replies."""
        ts = time.time()
        done = 0
        reset = self.rng.random() < 0.5
        try:
            if self.rng.random() < 0.6:
                cut = self.rng.randrange(0, len(wire))
                self.conn.send(wire[:cut])
                self.ctx.count("client kills (mid-pipeline, cut at a byte)")
                end = 0
                for it in items:
                    end += len(it.wire)
                    if end <= cut:
                        self.on_maybe(it, ts)
                    # else: not all of it was sent, so it must never happen
                self.drop_conn(reset)
                return
            self.conn.send(wire)
            k = self.rng.randrange(0, len(items))
            for it in items[:k]:
                obs = self.read_reply(it)
                self.on_reply(it, obs, ts, time.time())
                done += 1
            self.ctx.count("client kills (after some replies)")
        except (OSError, ConnLost) as e:
            self.io_failed(e)
        for it in items[done:]:
            self.on_maybe(it, ts)
        self.drop_conn(reset)

    # -- what a reply means -------------------------------------------------------

    def on_reply(self, it, obs, ts, te):
        self.acked[it.name] += 1
        if it.kind == "keys":
            if it.name == "EXEC-RENAME":
                if obs != ["OK", "OK"]:
                    return self.wrong(it, obs, "['OK', 'OK']")
                for op, o in zip(it.ops, ("OK", "OK", 1)):
                    self.key_reply(op, o, ts, te)
            elif it.name in ("MGET", "EXEC"):
                if not isinstance(obs, list) or len(obs) != len(it.ops):
                    return self.wrong(it, obs, "an array of %d" % len(it.ops))
                for op, o in zip(it.ops, obs):
                    self.key_reply(op, o, ts, te)
            else:
                for op in it.ops:
                    self.key_reply(op, obs, ts, te)
        elif it.kind == "shared":
            self.counter_reply(it, obs)
        elif it.kind == "lshared":
            self.shared_ledger_reply(it, obs)
        else:
            self.private_ledger_reply(it, obs)

    def wrong(self, it, obs, want):
        self.ctx.problem("violation", "client %d: %r replied %r, expected %s" % (self.idx, it.wire[:120], obs, want))

    def key_reply(self, op, obs, ts, te):
        k = self.keys[op[1]]
        if k.states is None:
            return
        new = observe(k.states, op, obs, ts, te)
        k.recent.append("%s -> %r at %.3f..%.3f" % (op[0] + " " + " ".join(repr(x) for x in op[2:]), obs, ts, te))
        if not new:
            self.ctx.problem(
                "violation",
                "client %d: key %s: %s replied %r; the model allows %s; recent: %s"
                % (self.idx, k.name, op[0], obs, show_states(k.states), list(k.recent)),
            )
            k.states = None
            self.quarantine.add(k.name)
            return
        k.states = new
        k.remember()

    def counter_reply(self, it, obs):
        j, n = it.ops[0]
        if isinstance(obs, Err) or not isinstance(obs, int):
            return self.wrong(it, obs, "an integer")
        self.c_acked[j] += n
        floor = self.ctx.counter_base[j] + self.c_acked[j]
        if obs < floor or obs <= self.c_last[j]:
            self.ctx.problem(
                "violation",
                "client %d: INCRBY soak:shared:%d %d replied %d: below this client's own acknowledged "
                "increments (at least %d) or its previous reply %d" % (self.idx, j, n, obs, floor, self.c_last[j]),
            )
        self.c_last[j] = obs
        self.c_max[j] = max(self.c_max[j], obs)

    def shared_ledger_reply(self, it, obs):
        op = it.ops[0]
        if op[0] == "BAL":
            if isinstance(obs, Err) or not isinstance(obs, int) or obs < 0:
                self.wrong(it, obs, "a balance >= 0")
            return
        if match("OK", obs):
            if op[0] == "DEP":
                self.dep_acked += op[2]
                self.dep_total += op[2]
            elif op[0] == "WD":
                self.wd_acked += op[2]
                self.wd_total += op[2]
            return
        if op[0] != "DEP" and match(FUNDS, obs):
            return
        self.wrong(it, obs, "OK" if op[0] == "DEP" else "OK or insufficient funds")

    def private_ledger_reply(self, it, obs):
        op = it.ops[0]
        if self.lstates is None:
            return
        new = {post for b in self.lstates for r, post in ledger_outcomes(op, b) if match(r, obs)}
        if not new:
            self.ctx.problem(
                "violation",
                "client %d: accounts %s: %r replied %r; the model allows balances %s"
                % (self.idx, self.acct, it.wire, obs, sorted(self.lstates)[:6]),
            )
            self.lstates = None
            self.quarantine.add("ledger")
            return
        if match("OK", obs) and op[0] == "DEP":
            self.dep_acked += op[2]
            self.dep_total += op[2]
        elif match("OK", obs) and op[0] == "WD":
            self.wd_acked += op[2]
            self.wd_total += op[2]
        self.lstates = new
        if len(new) == 1:
            (b,) = new
            if self.lhistory[-1] != b:
                self.lhistory.append(b)

    def on_maybe(self, it, ts):
        """A command sent whose reply never came: it may or may not happen."""
        self.unacked += 1
        if it.kind == "keys":
            for op in it.ops:
                if op[0] in ("GET", "PTTL"):
                    continue
                k = self.keys[op[1]]
                k.pending.append((op, ts))
                self.quarantine.add(k.name)
        elif it.kind == "shared":
            j, n = it.ops[0]
            self.c_unk[j] += n
        elif it.kind == "lshared":
            op = it.ops[0]
            if op[0] == "DEP":
                self.dep_unk += op[2]
            elif op[0] == "WD":
                self.wd_unk += op[2]
        else:
            op = it.ops[0]
            self.lpending.append(op)
            self.quarantine.add("ledger")
            if op[0] == "DEP":
                self.dep_unk += op[2]
            elif op[0] == "WD":
                self.wd_unk += op[2]

    # -- after a restart: read everything back -------------------------------------

    def settle_pending(self):
        t_end = self.ctx.kill_time
        for k in self.keys.values():
            if k.pending:
                if k.states is not None:
                    k.states = closure(k.states, k.pending, t_end)
                k.pending = []
        if self.lpending and self.lstates is not None:
            cur, allb = set(self.lstates), set(self.lstates)
            for op in self.lpending:
                cur = {post for b in cur for _, post in ledger_outcomes(op, b)}
                allb |= cur
            self.lstates = allb
        self.lpending = []

    def verify_all(self, conn=None, label=None):
        """Reads back every key and both accounts and checks them against the
        model; returns False if the connection failed (try again later)."""
        self.settle_pending()
        own = conn is None
        try:
            if own:
                conn = Conn(self.ctx.port, self.ctx.args.reply_timeout)
            keys = list(self.keys.values())
            cmds = []
            for k in keys:
                cmds += [encode("GET", k.name), encode("PTTL", k.name)]
            if self.ctx.args.ledger:
                cmds += [encode("ACCOUNT.BALANCE", a) for a in self.acct]
            ts = time.time()
            replies = conn.pipeline(cmds)
            te = time.time()
            self.ctx.last_reply = te
        except (OSError, ConnLost) as e:
            if own and isinstance(e, socket.timeout):
                self.ctx.problem("hang", "client %d: no reply to its read-back" % self.idx)
            time.sleep(0.05)
            return False
        finally:
            if own and conn:
                conn.close()
        label = label or "after restart %d" % self.epoch
        for i, k in enumerate(keys):
            self.check_key(k, replies[2 * i], replies[2 * i + 1], ts, te, label)
        if self.ctx.args.ledger:
            self.check_accounts(replies[-2:], label)
        self.quarantine.clear()
        self.settled = True
        return True

    def check_key(self, k, got, ttl, ts, te, label):
        if k.states is not None:
            new = observe(observe(k.states, ("GET", k.name), got, ts, te), ("PTTL", k.name), ttl, ts, te)
            if new:
                k.states = new
                k.remember()
                return
            lost = got in k.history if not isinstance(got, Err) else False
            self.ctx.problem(
                "lost" if lost else "violation",
                "client %d: key %s %s: read %r (pttl %r); the model allows %s%s; recent acked: %s"
                % (
                    self.idx,
                    k.name,
                    label,
                    got if got is None or len(got) < 60 else got[:40] + b"...",
                    ttl,
                    show_states(k.states),
                    " (an older value: an acknowledged write is gone)" if lost else "",
                    list(k.recent),
                ),
            )
        k.states = {adopt(got, ttl, ts, te)}
        k.remember()

    def check_accounts(self, replies, label):
        bad = [r for r in replies if isinstance(r, Err) or not isinstance(r, int) or r < 0]
        if bad:
            self.ctx.problem("violation", "client %d: accounts %s %s: BALANCE replied %r" % (self.idx, self.acct, label, replies))
            self.lstates = None
            return
        got = tuple(replies)
        if self.lstates is not None and got not in self.lstates:
            lost = got in self.lhistory
            self.ctx.problem(
                "lost" if lost else "violation",
                "client %d: accounts %s %s: balances %s; the model allows %s"
                % (self.idx, self.acct, label, got, sorted(self.lstates)[:6]),
            )
        self.lstates = {got}
        if self.lhistory[-1] != got:
            self.lhistory.append(got)


def adopt(got, ttl, ts, te):
    """A state for what was read, after a violation: what is, is."""
    if got is None or isinstance(got, Err) or isinstance(ttl, Err):
        return None
    if not isinstance(ttl, int) or ttl < 0:
        return (got, None, None)
    return (got, ts + ttl / 1000 - EPS, te + ttl / 1000 + EPS)


# ---- the server ------------------------------------------------------------------


def free_port():
    for _ in range(100):
        p = random.randint(20000, 59999)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free loopback port")


class Server:
    """stewardd on one data directory; restarted on the same port."""

    def __init__(self, args, data_dir, log_path):
        self.args, self.dir, self.log_path = args, data_dir, log_path
        self.proc = None
        self.port = None
        self.starts = 0
        self.recovery_max = 0.0
        self.pdeath = shutil.which("setpriv")

    def argv(self):
        a = self.args
        if a.redis:
            return self.redis_argv()
        cmd = [
            a.server,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self.dir,
            "--appendfsync", "always",
            "--shards", str(a.shards),
            "--client-output-stall", str(a.stall),
            "--client-output-buffer-limit", "%dmb" % a.obuf_mb,
            "--maxclients", "1000",
        ]
        # The server must not outlive this script, whatever kills it.
        return ([self.pdeath, "--pdeathsig", "KILL", "--"] if self.pdeath else []) + cmd

    def redis_argv(self):
        """Debian's redis-server with the same promises, to check the soak
        itself: it must pass there (the Ledger is left out)."""
        a = self.args
        # Unread replies past 32 MiB, or past 4 MiB for --stall seconds: closed.
        # (redis-server keeps reading a client that does not read, so without
        # a hard limit its memory grows with what the client sends.)
        stall = "normal %d %d %d" % (32 << 20, 4 << 20, a.stall)
        cmd = [a.server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
               "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
               "--logfile", "", "--client-output-buffer-limit", stall, "--maxclients", "1000"]
        return ([self.pdeath, "--pdeathsig", "KILL", "--"] if self.pdeath else []) + cmd

    def start(self):
        """Starts it (from the main thread: the death signal follows it) and
        waits until it answers; returns False if it would not."""
        for _ in range(5):
            if self.port is None:
                self.port = free_port()
            self.starts += 1
            with open(self.log_path, "a") as log:
                log.write("=== soak: start %d on port %d at %.3f\n" % (self.starts, self.port, time.time()))
                log.flush()
                t0 = time.time()
                self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            if self.wait_ready(t0):
                self.recovery_max = max(self.recovery_max, time.time() - t0)
                return True
            if self.proc.poll() is None:
                self.kill9()
            if "in use" not in self.log_tail(400):
                return False
            self.port = None  # taken by someone else meanwhile: another
        return False

    def wait_ready(self, t0):
        while time.time() - t0 < self.args.start_timeout:
            if self.proc.poll() is not None:
                return False
            try:
                c = Conn(self.port, 2)
                ok = c.call("PING") == "PONG"
                c.close()
                if ok:
                    return True
            except (OSError, ConnLost):
                pass
            time.sleep(0.05)
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        p = self.proc
        return p.pid if p is not None and p.poll() is None else None

    def kill9(self):
        if self.proc is None:
            return None
        try:
            self.proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.proc.wait()

    def stop(self, timeout=30):
        """SIGTERM; returns its exit status (None if it had to be SIGKILLed)."""
        if not self.alive():
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None

    def log_tail(self, n):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - n))
                return f.read().decode(errors="replace")
        except OSError:
            return ""


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class RssSampler(threading.Thread):
    """Samples the server's RSS; past the hard cap it SIGKILLs the server to
    protect the machine (the orchestrator then restarts it)."""

    def __init__(self, ctx, server):
        super().__init__(name="rss", daemon=True)
        self.ctx, self.server = ctx, server
        self.peak_kib = 0
        self.emergency = threading.Event()
        self.halt = threading.Event()

    def run(self):
        cap = self.ctx.args.rss_cap_mb * 1024
        while not self.halt.wait(0.05):
            proc = self.server.proc
            if proc is None or proc.poll() is not None:
                continue
            kib = rss_kib(proc.pid)
            if kib is None:
                continue
            self.peak_kib = max(self.peak_kib, kib)
            if kib > cap and not self.emergency.is_set():
                self.emergency.set()
                self.ctx.problem(
                    "memory",
                    "server RSS reached %d MiB (hard cap %d MiB, limit %d MiB): SIGKILLed to protect the machine"
                    % (kib // 1024, self.ctx.args.rss_cap_mb, self.ctx.args.rss_limit_mb),
                )
                try:
                    proc.send_signal(signal.SIGKILL)
                except ProcessLookupError:
                    pass


# ---- slow readers -------------------------------------------------------------------


def big_key(i):
    return "soak:big:%d" % i


def big_value(i, size):
    unit = b"big%d-" % i
    return (unit * (size // len(unit) + 1))[:size]


class SlowReader(threading.Thread):
    """Sends big pipelines of GETs of big values and never reads. The server
    must close it within --client-output-stall seconds (and a margin)."""

    def __init__(self, ctx, idx):
        super().__init__(name="slow-%d" % idx, daemon=True)
        self.ctx, self.idx = ctx, idx
        self.result = "inconclusive"
        self.sent = 0

    def run(self):
        ctx = self.ctx
        epoch = ctx.epoch
        try:
            s = socket.create_connection(("127.0.0.1", ctx.port), timeout=1)
        except OSError:
            return
        try:
            self.flood(s)
            margin = ctx.args.stall + 3.0
            t_end = time.time() + margin
            while time.time() < t_end:
                time.sleep(0.1)
                if ctx.epoch != epoch:
                    return
            if time.time() - ctx.last_reply > 1.0:
                return  # the server answers nobody: a hang, reported as one
            closed = self.closed(s)
            if ctx.epoch != epoch:
                return
            if closed:
                self.result = "disconnected"
            else:
                self.result = "not disconnected"
                ctx.problem(
                    "violation",
                    "slow reader %d (sent %d bytes of GETs, read nothing) was still connected %.0f s after it "
                    "stopped sending (--client-output-stall %d)" % (self.idx, self.sent, margin, ctx.args.stall),
                )
        finally:
            s.close()

    def flood(self, s):
        chunk = b"".join(encode("GET", big_key(i % NBIG)) for i in range(1000))
        s.settimeout(0.5)
        t0 = time.time()
        try:
            while self.sent < self.ctx.args.slow_bytes_mb << 20 and time.time() - t0 < 3:
                s.sendall(chunk)
                self.sent += len(chunk)
        except socket.timeout:
            pass  # the server stopped reading: good
        except OSError:
            pass  # already closed

    def closed(self, s):
        s.settimeout(2)
        got = 0
        try:
            while got < (256 << 20):
                data = s.recv(1 << 20)
                if not data:
                    return True
                got += len(data)
            return False
        except socket.timeout:
            return False
        except OSError:
            return True


# ---- the orchestrator -------------------------------------------------------------


class Soak:
    def __init__(self, args):
        self.args = args
        self.ctx = Ctx(args)
        os.makedirs(args.log_dir, exist_ok=True)
        self.data_dir = tempfile.mkdtemp(prefix="steward-soak-")
        for old in os.listdir(args.log_dir):  # a previous run's stacks would mislead
            if old.startswith("hang-") and old.endswith(".txt"):
                os.remove(os.path.join(args.log_dir, old))
        self.log_path = os.path.join(args.log_dir, "server.log")
        with open(self.log_path, "w"):
            pass
        self.server = Server(args, self.data_dir, self.log_path)
        self.rss = RssSampler(self.ctx, self.server)
        self.rng = random.Random(args.seed)
        self.workers = []
        self.slow = []
        self.kills = 0
        self.crashes = 0
        self.hangs = 0
        self.restart_n = 0

    # -- setup ---------------------------------------------------------------------

    def setup(self):
        ctx, a = self.ctx, self.args
        if not self.server.start():
            print("soak: stewardd did not start; its log:\n" + self.server.log_tail(2000), file=sys.stderr)
            return False
        ctx.port = self.server.port
        shared = [1000 + i for i in range(SHARED_ACCOUNTS)] if a.ledger else []
        private = [100_000 + i for i in range(2 * a.clients)] if a.ledger else []
        ctx.accounts = shared + private
        cmds = [encode("ACCOUNT.CREATE", i, SHARED_OPENING) for i in shared]
        cmds += [encode("ACCOUNT.CREATE", i, PRIVATE_OPENING) for i in private]
        cmds += [encode("SET", "soak:shared:%d" % j, 0) for j in range(SHARED_COUNTERS)]
        cmds += [encode("SET", big_key(i), big_value(i, a.big_kb << 10)) for i in range(NBIG)]
        c = Conn(ctx.port, a.reply_timeout)
        replies = c.pipeline(cmds)
        c.close()
        bad = [r for r in replies if not match("OK", r)]
        if bad:
            print("soak: setup failed: %r" % bad[:3], file=sys.stderr)
            return False
        ctx.ledger_base = sum(SHARED_OPENING for _ in shared) + sum(PRIVATE_OPENING for _ in private)
        for i in range(a.clients):
            self.workers.append(Worker(ctx, i, a.seed * 1000 + i))
        return True

    # -- the gate and restarts ----------------------------------------------------------

    def close_gate(self):
        with self.ctx.cv:
            self.ctx.open = False

    def wait_parked(self, n, timeout, field="parked"):
        t_end = time.time() + timeout
        with self.ctx.cv:
            while getattr(self.ctx, field) < n:
                left = t_end - time.time()
                if left <= 0:
                    return False
                self.ctx.cv.wait(left)
        return True

    def open_gate(self):
        with self.ctx.cv:
            self.ctx.last_reply = time.time()
            self.ctx.epoch += 1
            self.ctx.open = True
            self.ctx.cv.notify_all()

    def restart(self, why, final=False):
        """The server is dead (or is SIGKILLed now): let every client stop,
        start it again, check the shared state, let the clients go on (or,
        the final time, read everything back and finish)."""
        self.close_gate()
        if self.server.alive():
            self.ctx.kill_time = time.time()
            self.server.kill9()
        else:
            self.ctx.kill_time = time.time()
        self.restart_n += 1
        if not self.wait_parked(len(self.workers), 60):
            self.ctx.problem("hang", "clients did not stop within 60 s of the server's death (%s)" % why)
            return False
        if not self.server.start():
            self.ctx.problem("crash", "stewardd would not start again after %s; log tail:\n%s" % (why, self.server.log_tail(1500)))
            return False
        self.ctx.port = self.server.port
        self.rss.emergency.clear()
        ok = self.global_check("after restart %d (%s)" % (self.restart_n, why))
        if final:
            self.ctx.stopping = True
        self.open_gate()
        return ok

    def global_check(self, label):
        """With every client parked: the Ledger's total and balances, the shared
        counters and the big values. Then the tallies start again from here."""
        ctx, a = self.ctx, self.args
        cmds = [encode("ACCOUNT.BALANCE", i) for i in ctx.accounts]
        cmds += [encode("GET", "soak:shared:%d" % j) for j in range(SHARED_COUNTERS)]
        cmds += [encode("GET", big_key(i)) for i in range(NBIG)]
        try:
            c = Conn(ctx.port, a.reply_timeout)
            replies = c.pipeline(cmds)
            c.close()
        except (OSError, ConnLost) as e:
            ctx.problem("hang", "the check %s failed: %r" % (label, e))
            return False
        nacc = len(ctx.accounts)
        if a.ledger:
            self.check_ledger(replies[:nacc], label)
        self.check_counters(replies[nacc : nacc + SHARED_COUNTERS], label)
        for i, got in enumerate(replies[nacc + SHARED_COUNTERS :]):
            if got != big_value(i, a.big_kb << 10):
                ctx.problem("lost", "%s %s: big value changed or lost (%r...)" % (big_key(i), label, (got or b"")[:40]))
        for w in self.workers:
            w.reset_tallies()
        return True

    def check_ledger(self, bals, label):
        ctx = self.ctx
        bad = [(i, b) for i, b in zip(ctx.accounts, bals) if isinstance(b, Err) or not isinstance(b, int) or b < 0]
        if bad:
            ctx.problem("violation", "ledger %s: bad balances %r" % (label, bad[:5]))
            return
        total = sum(bals)
        dep = sum(w.dep_acked for w in self.workers)
        wd = sum(w.wd_acked for w in self.workers)
        dunk = sum(w.dep_unk for w in self.workers)
        wunk = sum(w.wd_unk for w in self.workers)
        lo = ctx.ledger_base + dep - wd - wunk
        hi = ctx.ledger_base + dep - wd + dunk
        if not lo <= total <= hi:
            ctx.problem(
                "lost" if total < lo else "violation",
                "ledger %s: total %d outside [%d, %d] (base %d, acked deposits %d, withdrawals %d, "
                "in flight %d / %d)" % (label, total, lo, hi, ctx.ledger_base, dep, wd, dunk, wunk),
            )
        ctx.ledger_base = total

    def check_counters(self, vals, label):
        ctx = self.ctx
        for j, v in enumerate(vals):
            acked = sum(w.c_acked[j] for w in self.workers)
            unk = sum(w.c_unk[j] for w in self.workers)
            seen = max(w.c_max[j] for w in self.workers)
            lo, hi = ctx.counter_base[j] + acked, ctx.counter_base[j] + acked + unk
            try:
                n = int(v)
            except (TypeError, ValueError):
                ctx.problem("violation", "soak:shared:%d %s: %r" % (j, label, v))
                continue
            if n < lo or n < seen:
                ctx.problem(
                    "lost",
                    "soak:shared:%d %s: %d, below the acknowledged %d or a value already replied (%d)"
                    % (j, label, n, lo, seen),
                )
            elif n > hi:
                ctx.problem("violation", "soak:shared:%d %s: %d above the most possible %d" % (j, label, n, hi))
            ctx.counter_base[j] = n

    # -- the run --------------------------------------------------------------------

    def slow_episode(self):
        n = self.rng.randint(1, self.args.slow_max)
        readers = [SlowReader(self.ctx, len(self.slow) + i) for i in range(n)]
        self.slow += readers
        for r in readers:
            r.start()
        return readers

    def run(self):
        a = self.args
        t0 = time.time()
        if not self.setup():
            return 2
        self.rss.start()
        for w in self.workers:
            w.start()
        t_run_end = t0 + max(5.0, a.duration - min(a.final_reserve, a.duration / 5))
        next_fault = time.time() + self.rng.uniform(a.fault_min, a.fault_max)
        episode = []
        healthy = True
        while healthy and time.time() < t_run_end:
            time.sleep(0.05)
            if not self.server.alive():
                healthy = self.on_death()
                continue
            silent = time.time() - self.ctx.last_reply
            if silent > a.hang:
                healthy = self.on_hang()
                continue
            if silent > 1.0:
                continue  # no fault while the clients hear nothing: let a hang show
            if any(r.is_alive() for r in episode) or time.time() < next_fault:
                continue
            episode = []
            if self.kills < a.restarts and (a.slow_max == 0 or self.rng.random() < a.kill_share):
                self.kills += 1
                healthy = self.restart("SIGKILL %d" % self.kills)
            elif a.slow_max > 0:
                episode = self.slow_episode()
            next_fault = time.time() + self.rng.uniform(a.fault_min, a.fault_max)
        for r in episode:
            r.join(a.stall + 10)
        if healthy:
            healthy = self.finish()
        return self.report(time.time() - t0, healthy)

    def on_death(self):
        """The server died without being told to."""
        if self.rss.emergency.is_set():
            self.ctx.count("server SIGKILLs (memory cap)")
            return self.restart("memory cap")
        self.crashes += 1
        rc = self.server.proc.returncode
        self.ctx.problem("crash", "stewardd exited by itself (status %s); log tail:\n%s" % (rc, self.server.log_tail(1500)))
        return self.restart("crash")

    def on_hang(self):
        """No client got a reply for --hang seconds: record where the server's
        threads are, then SIGKILL it and go on."""
        self.hangs += 1
        where = self.dump_stacks()
        self.ctx.problem("hang", "no client got a reply for %.0f s with the server up%s" % (self.args.hang, where))
        self.ctx.count("server SIGKILLs (hang)")
        return self.restart("hang")

    def dump_stacks(self):
        pid = self.server.pid()
        gdb = shutil.which("gdb")
        if pid is None or gdb is None or self.hangs > 3:
            return ""
        path = os.path.join(self.args.log_dir, "hang-%d.txt" % self.hangs)
        try:
            with open(path, "w") as f:
                subprocess.run([gdb, "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                               stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return ""
        return " (threads' stacks: %s)" % path

    def finish(self):
        """A last SIGKILL and restart, every client reads back everything;
        then a clean shutdown, a restart and the same checks once more."""
        ctx = self.ctx
        self.kills += 1
        if not self.restart("final SIGKILL", final=True):
            return False
        if not self.wait_parked(len(self.workers), 120, "done"):
            ctx.problem("hang", "clients did not finish their final read-back within 120 s")
            return False
        for w in self.workers:
            if not w.settled:
                ctx.problem("hang", "client %d could not read back its keys after the final restart" % w.idx)
        rc = self.server.stop()
        if rc != 0:
            ctx.problem("crash", "SIGTERM: stewardd exited with status %s (expected 0); log tail:\n%s" % (rc, self.server.log_tail(1500)))
        if not self.server.start():
            ctx.problem("crash", "stewardd would not start after a clean shutdown; log tail:\n%s" % self.server.log_tail(1500))
            return False
        ctx.port = self.server.port
        self.global_check("after a clean shutdown")
        c = Conn(ctx.port, self.args.reply_timeout)
        for w in self.workers:
            if not w.verify_all(c, "after a clean shutdown"):
                ctx.problem("hang", "read-back of client %d after a clean shutdown failed" % w.idx)
        c.close()
        self.server.stop()
        return True

    # -- the summary ---------------------------------------------------------------------

    def scan_log(self):
        marks = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:", "Assertion",
                 "Segmentation", "SIGSEGV", "double free", "corrupted", "stack smashing", "refus")
        hits = []
        with open(self.log_path, errors="replace") as f:
            for line in f:
                if any(m in line for m in marks):
                    hits.append(line.rstrip())
        for h in hits[:10]:
            self.ctx.problem("crash", "server log: " + h)
        return hits

    def report(self, elapsed, healthy):
        self.rss.halt.set()
        ctx, a = self.ctx, self.args
        self.scan_log()
        with open(self.log_path, errors="replace") as f:
            log = f.read()
        stalls = log.count("has not read its replies")
        obuf = log.count("output buffer over the limit")
        torn = sum(1 for line in log.splitlines() if "torn" in line or "truncat" in line)
        acked = collections.Counter()
        unacked = 0
        for w in self.workers:
            acked.update(w.acked)
            unacked += w.unacked
        kinds = collections.Counter(k for k, _ in ctx.problems)
        slow = collections.Counter(r.result for r in self.slow)
        lines = []
        out = lines.append
        out("soak: %.0f s, %d clients, %d shards, seed %d, server %s" % (elapsed, a.clients, a.shards, a.seed, a.server))
        out("operations acknowledged: %d" % sum(acked.values()))
        for name, n in sorted(acked.items()):
            out("  %-18s %d" % (name, n))
        out("  (deposits %d, withdrawals %d acknowledged in minor units)"
            % (sum(w.dep_total for w in self.workers), sum(w.wd_total for w in self.workers)))
        out("operations in flight at a fault (either outcome allowed): %d" % unacked)
        out("faults injected:")
        for what, n in sorted(ctx.faults.items()):
            out("  %-44s %d" % (what, n))
        out("  %-44s %d" % ("server SIGKILLs (scheduled, incl. the final one)", self.kills))
        out("  %-44s %d (%s)" % ("slow readers", len(self.slow), ", ".join("%s %d" % kv for kv in sorted(slow.items())) or "-"))
        out("  server closes: %d for stalled output, %d for the output limit; torn log tails repaired: %d" % (stalls, obuf, torn))
        out("server restarts: %d (longest start with recovery %.2f s), crashes: %d" % (self.server.starts - 1, self.server.recovery_max, self.crashes))
        peak = self.rss.peak_kib // 1024
        if peak > a.rss_limit_mb:
            ctx.problem("memory", "peak server RSS %d MiB above the limit %d MiB" % (peak, a.rss_limit_mb))
            kinds = collections.Counter(k for k, _ in ctx.problems)
        out("peak server RSS: %d MiB (limit %d MiB)" % (peak, a.rss_limit_mb))
        out("data lost: %d" % kinds["lost"])
        out("model violations: %d" % kinds["violation"])
        out("crashes/hangs/memory: %d/%d/%d" % (kinds["crash"], kinds["hang"], kinds["memory"]))
        failed = bool(ctx.problems) or not healthy
        if ctx.problems:
            out("problems (first 20):")
            for kind, text in ctx.problems[:20]:
                out("  [%s] %s" % (kind, text[:1500]))
        out("server log: %s" % self.log_path)
        if failed:
            out("data directory kept: %s" % self.data_dir)
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        out("soak: %s" % ("FAIL" if failed else "PASS"))
        text = "\n".join(lines)
        print(text, flush=True)
        with open(os.path.join(a.log_dir, "summary.txt"), "w") as f:
            f.write(text + "\n")
        return 1 if failed else 0

    def cleanup(self):
        self.rss.halt.set()
        if self.server.alive():
            self.server.kill9()


def parse_args(argv):
    p = argparse.ArgumentParser(description="Soak stewardd with faults against a model.")
    p.add_argument("--server", required=True, help="the stewardd binary")
    p.add_argument("--duration", type=float, default=180, help="seconds in all (default 180)")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--keys", type=int, default=24, help="string keys and counter keys per client")
    p.add_argument("--burst", type=int, default=24, help="most commands in one pipeline")
    p.add_argument("--restarts", type=int, default=30, help="most scheduled SIGKILLs")
    p.add_argument("--fault-min", type=float, default=1.5, help="seconds between faults, at least")
    p.add_argument("--fault-max", type=float, default=5.0)
    p.add_argument("--kill-share", type=float, default=0.8, help="share of faults that SIGKILL the server")
    p.add_argument("--client-kill", type=float, default=0.01, help="chance that a burst ends with a kill")
    p.add_argument("--stall", type=int, default=5, help="--client-output-stall of the server")
    p.add_argument("--obuf-mb", type=int, default=32,
                   help="--client-output-buffer-limit of the server, in MiB: with several slow "
                        "readers at once, the server's peak memory is about this times their number")
    p.add_argument("--slow-max", type=int, default=2, help="slow readers at once (0: none)")
    p.add_argument("--slow-bytes-mb", type=int, default=16, help="most bytes of GETs a slow reader sends")
    p.add_argument("--big-kb", type=int, default=64, help="size of the values slow readers GET")
    p.add_argument("--rss-limit-mb", type=int, default=512, help="peak RSS above this fails the soak")
    p.add_argument("--rss-cap-mb", type=int, default=1536, help="SIGKILL the server above this")
    p.add_argument("--reply-timeout", type=float, default=30, help="a reply slower than this is a hang")
    p.add_argument("--start-timeout", type=float, default=60)
    p.add_argument("--final-reserve", type=float, default=15, help="seconds kept for the final checks")
    p.add_argument("--hang", type=float, default=10, help="seconds without any reply to any client: a hang")
    p.add_argument("--no-multikey", action="store_true", help="no MSET/MGET/MULTI-EXEC (no transactions)")
    p.add_argument("--no-ttl", action="store_true", help="no EXPIRE, no SET PX")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--log-dir", default="soak-logs", help="where server.log and summary.txt go")
    a = p.parse_args(argv)
    a.redis = os.path.basename(a.server).startswith("redis-server")
    a.ledger = not a.redis
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 1 << 31)
    if a.clients < 1 or a.keys < 4 or a.burst < 1:
        p.error("--clients, --keys (>= 4) and --burst must be positive")
    return a


def main(argv):
    args = parse_args(argv)
    if not os.access(args.server, os.X_OK):
        print("soak: no server binary %s" % args.server, file=sys.stderr)
        return 2
    print("soak: seed %d (rerun the same schedule with --seed %d)" % (args.seed, args.seed), flush=True)
    soak = Soak(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    try:
        return soak.run()
    finally:
        soak.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

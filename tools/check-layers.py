#!/usr/bin/env python3
"""Checks every #include of the library, stewardd, the tools and the
examples against the layers of DESIGN.md: a file may include its own
folder's headers, the headers a lower layer exports, and the public headers
of its layer and the ones below. Tests are exempt: they reach test hooks.

Inside src/ and tools/, every quoted include is rooted at src/
("log/journal.h") or at include/ ("steward/db.h"): no "../", no bare names.

Usage: tools/check-layers.py   (from anywhere; exit status 1 on a breach)
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# DESIGN.md's Layers table: each folder's level. A file may use folders of
# a lower level only; chan, owner and task sit side by side on base.
LEVEL = {
    "base": 0,
    "chan": 1, "owner": 1, "task": 1,
    "log": 2,
    "db": 3, "account": 3,
    "server": 4,
    "tools": 5, "examples": 5, "bench": 5,
}

# What a folder offers the layers above it; every other header of the
# folder is private to it.
EXPORTS = {
    "base": {"sync.h", "base.h"},
    "chan": {"ticker.h"},
    "task": {"pool.h"},
    "log": {"record.h", "logfile.h", "journal.h", "datadir.h"},
    "db": {"shard.h"},
}

# Each public header's layer; steward.h includes them all.
PUBLIC = {
    "status.h": "base", "chan.h": "chan", "owner.h": "owner", "task.h": "task",
    "db.h": "db", "account.h": "account", "steward.h": "server",
}

# The one sideways use, with its reason: an owner's posts run as jobs on
# the task layer's pool (the pool is the scheduler).
SIDEWAYS = {("owner", "task/pool.h")}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of(rel):
    parts = rel.split("/")
    return parts[1] if parts[0] == "src" else parts[0]


def check_include(rel, me, inc):
    """Returns what is wrong with file rel (of folder me) including inc."""
    if inc.startswith("../") or "/../" in inc:
        return "a relative path: root it at src/ or include/"
    if "/" not in inc:
        if rel.startswith(("src/", "tools/")):
            return "a bare name: root it at src/ (\"%s/%s\")" % (me, inc)
        return None  # a test's or a benchmark's own header
    top, name = inc.split("/", 1)
    if top == "steward":
        layer = PUBLIC.get(name)
        if layer is None:
            return "no such public header"
        if layer != me and LEVEL[layer] >= LEVEL[me]:
            return "public header of layer %s, not below %s" % (layer, me)
        return None
    if top not in LEVEL or not os.path.exists(os.path.join(ROOT, "src", inc)):
        return "no such header under src/"
    if top == me or (me, inc) in SIDEWAYS:
        return None
    if LEVEL[top] >= LEVEL[me]:
        return "layer %s is not below %s" % (top, me)
    if name not in EXPORTS.get(top, set()):
        return "private to src/%s (it exports: %s)" % (
            top, ", ".join(sorted(EXPORTS.get(top, ()))) or "nothing")
    return None


def self_test():
    """The rule must catch what it is for: each breach below is reported."""
    breaches = [
        ("src/server/kv.c", "db/db_int.h"),        # another layer's private header
        ("src/server/kv.c", "db/table.h"),         # ... not exported either
        ("src/log/journal.h", "steward/db.h"),     # a higher layer's public header
        ("src/log/journal.c", "db/shard.h"),       # a higher layer
        ("src/chan/chan.c", "task/pool.h"),        # a sibling (only owner may)
        ("src/owner/owner.c", "task/task_int.h"),  # a sibling's test hooks
        ("src/db/db.c", "../log/journal.h"),       # a relative path
        ("src/db/db.c", "table.h"),                # a bare name
        ("tools/steward-check.c", "db/db_int.h"),
    ]
    allowed = [
        ("src/server/kv.c", "db/shard.h"),
        ("src/db/db.c", "db/table.h"),
        ("src/owner/owner.c", "task/pool.h"),
        ("src/log/journal.h", "chan/ticker.h"),
        ("src/db/db.c", "steward/db.h"),
        ("tools/steward-check.c", "log/logfile.h"),
        ("bench/bench_db.c", "common.h"),
    ]
    for rel, inc in breaches:
        assert check_include(rel, folder_of(rel), inc), (rel, inc)
    for rel, inc in allowed:
        assert not check_include(rel, folder_of(rel), inc), (rel, inc)


def main():
    self_test()
    bad = 0
    checked = 0
    for sub in ("src", "tools", "examples", "bench"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, sub)):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, ROOT)
                me = folder_of(rel)
                if me not in LEVEL:
                    print("%s: folder %s is not in the layer table" % (rel, me))
                    bad += 1
                    continue
                with open(path, encoding="utf-8") as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        checked += 1
                        why = check_include(rel, me, m.group(1))
                        if why:
                            print('%s:%d: #include "%s": %s' % (rel, n, m.group(1), why))
                            bad += 1
    print("layers: %d includes checked, %d breaches" % (checked, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

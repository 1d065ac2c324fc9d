#!/usr/bin/env python3
"""check_layers.py: libdfs's files call only downward.

Reads the symbols each object file of libdfs defines and uses (nm), and fails
when a file uses a function defined in a higher layer, or when files of one
layer call each other in a circle. The layers, bottom first, are those of
docs/design.md ("The client library's layers").

usage: check_layers.py OBJECT_DIR
"""
import os
import subprocess
import sys

LAYERS = [
    ("client lifetime and errors", ["client", "check_reply"]),
    ("connections and login", ["conn"]),
    ("chunk transfer and commit", ["upload", "download", "commit", "resume"]),
    ("lookup and version choice", ["plan"]),
    ("operations", ["put", "put_small", "get", "read", "remove", "repair", "list", "stat",
                    "status", "account"]),
    ("session", ["session"]),
]


def symbols(path):
    out = subprocess.run(["nm", path], check=True, capture_output=True, text=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            used.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TtDdBbRr":
            defined.add(parts[2])
    return defined, used


def main():
    objdir = sys.argv[1]
    layer_of = {f: i for i, (_, files) in enumerate(LAYERS) for f in files}
    objects = sorted(o for o in os.listdir(objdir) if o.endswith(".c.o"))
    files = [o[:-4] for o in objects]
    problems = [f"{f}.c: in no layer: add it to a layer here and in docs/design.md"
                for f in files if f not in layer_of]
    owner, uses = {}, {}
    for f, o in zip(files, objects):
        defined, used = symbols(os.path.join(objdir, o))
        uses[f] = used
        for sym in defined:
            owner[sym] = f
    calls = {f: set() for f in files}
    for f in files:
        for sym in uses[f]:
            g = owner.get(sym)
            if g is None or g == f or f not in layer_of or g not in layer_of:
                continue
            calls[f].add(g)
            if layer_of[g] > layer_of[f]:
                problems.append(f"{f}.c ({LAYERS[layer_of[f]][0]}) calls {sym} of {g}.c "
                                f"({LAYERS[layer_of[g]][0]}), a higher layer")
    # A circle among files of one layer.
    state = {}

    def visit(f, path):
        state[f] = 1
        for g in sorted(calls[f]):
            if state.get(g) == 1:
                cycle = path[path.index(g):] + [g]
                problems.append("files call each other in a circle: " +
                                " -> ".join(c + ".c" for c in cycle))
            elif g not in state:
                visit(g, path + [g])
        state[f] = 2

    for f in files:
        if f not in state:
            visit(f, [f])
    if len(files) < 10:
        problems.append(f"only {len(files)} objects in {objdir}: wrong folder?")
    for p in problems:
        print(p)
    if not problems:
        for name, members in LAYERS:
            print(f"{name}: " + ", ".join(m + ".c" for m in members if m in files))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

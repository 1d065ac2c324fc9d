#!/usr/bin/env python3
"""check_layers.py: libdfs's files call only downward.

Reads the symbols each object file of libdfs defines and uses (nm), and fails
when a file uses a function defined in a higher layer, or when files call each
other in a circle. A file's layer is its folder under client/; the layers,
bottom first, are those of docs/design.md ("The client library's layers").

usage: check_layers.py OBJECT_DIR SOURCE_DIR   (the object files of client/, and client/;
objects whose source is gone, left by an older build, are skipped)
"""
import os
import subprocess
import sys

# The folders of client/, bottom layer first: a file's folder is its layer.
LAYERS = [
    ("core", "client lifetime and errors"),
    ("net", "connections and login"),
    ("transfer", "chunk transfer and commit"),
    ("plan", "lookup and version choice"),
    ("ops", "operations"),
    ("session", "session"),
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
    objdir, srcdir = sys.argv[1], sys.argv[2]
    rank = {folder: i for i, (folder, _) in enumerate(LAYERS)}
    objects = sorted(os.path.relpath(os.path.join(d, o), objdir)
                     for d, _, names in os.walk(objdir) for o in names if o.endswith(".c.o")
                     and os.path.exists(os.path.join(srcdir, os.path.relpath(d, objdir), o[:-2])))
    files = [o[:-2] for o in objects]
    layer_of = {f: rank[f.split("/")[0]] for f in files if f.split("/")[0] in rank}
    problems = [f"{f}: not in a layer's folder ({', '.join(rank)})"
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
                problems.append(f"{f} ({LAYERS[layer_of[f]][1]}) calls {sym} of {g} "
                                f"({LAYERS[layer_of[g]][1]}), a higher layer")
    # A circle among files of one layer.
    state = {}

    def visit(f, path):
        state[f] = 1
        for g in sorted(calls[f]):
            if state.get(g) == 1:
                cycle = path[path.index(g):] + [g]
                problems.append("files call each other in a circle: " + " -> ".join(cycle))
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
        for folder, name in LAYERS:
            print(f"{name} (client/{folder}/): " +
                  ", ".join(os.path.basename(f) for f in files if f.split("/")[0] == folder))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

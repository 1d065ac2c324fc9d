#!/usr/bin/env python3
"""fault_concurrent.py: eight dfs clients doing mixed operations on shared and own names.

Usage: fault_concurrent.py DFS CONFIG WORKDIR [CLIENTS] [OPS] [SEED]

Each client process runs OPS operations (put, get, list, delete) chosen by a seeded
random generator, half of them on names every client uses, half on its own names.
Before each put the writer records the content's SHA-256 and size under the name in
WORKDIR/written, so every get (by any client) must return exactly one complete content
ever written under that name, and every listed size must be one of theirs. At the end,
with every client finished, each client's own names must read as its last successful
put (or be gone after its last delete), and the shared names must read the same with
any one server missing. A put or delete of a shared name may lose to another client's
write running at the same time; it must then say that it did not take effect. Exits
non-zero with a description of every violation.
"""
import hashlib
import json
import os
import random
import subprocess
import sys
from multiprocessing import Process, Queue

SHARED = ["shared-0", "shared-1", "shared-2"]


def own_names(w):
    return ["own-%d-%d" % (w, i) for i in range(2)]


def content(rng, w, seq):
    roll = rng.random()
    if roll < 0.08:
        size = 0
    elif roll < 0.20:
        size = rng.randint(1024 * 1024, 3 * 1024 * 1024)
    else:
        size = rng.randint(1, 200 * 1024)
    head = b"client %d op %d\n" % (w, seq)
    body = rng.randbytes(max(0, size - len(head)))
    return (head + body)[:size]


class Client:
    def __init__(self, dfs, conf, workdir, w):
        self.dfs, self.conf, self.workdir, self.w = dfs, conf, workdir, w
        self.env = dict(os.environ, DFS_PASSWORD="Bluepanda")
        self.env.pop("DFS_CONFIG", None)
        self.scratch = os.path.join(workdir, "c%d" % w)
        os.makedirs(self.scratch, exist_ok=True)

    def run(self, *args, stdout=subprocess.PIPE):
        return subprocess.run([self.dfs, "-q", "-c", self.conf, "-u", "AnujS", *args],
                              env=self.env, stdout=stdout, stderr=subprocess.PIPE,
                              timeout=120)

    def record(self, name, data):
        d = os.path.join(self.workdir, "written", name)
        os.makedirs(d, exist_ok=True)
        digest = hashlib.sha256(data).hexdigest()
        open(os.path.join(d, "%s.%d" % (digest, len(data))), "w").close()
        return digest

    def known(self, name, digest, size):
        return os.path.exists(os.path.join(self.workdir, "written", name,
                                           "%s.%d" % (digest, size)))

    def known_size(self, name, size):
        d = os.path.join(self.workdir, "written", name)
        try:
            return any(f.endswith(".%d" % size) for f in os.listdir(d))
        except FileNotFoundError:
            return False

    def get(self, name, to_stdout=False):
        """(data or None if the file does not exist, problem or None)."""
        if to_stdout:
            r = self.run("get", name, "-o", "-")
            data = r.stdout
        else:
            out = os.path.join(self.scratch, "got")
            if os.path.exists(out):
                os.unlink(out)
            r = self.run("get", name, "-o", out, stdout=subprocess.DEVNULL)
            data = open(out, "rb").read() if r.returncode == 0 else None
        err = r.stderr.decode(errors="replace")
        if r.returncode != 0:
            if "no such file" in err:
                return None, None
            return None, "get %s failed: %s" % (name, err.strip())
        return data, None


def worker(dfs, conf, workdir, w, ops, seed, q):
    rng = random.Random(seed * 1000 + w)
    c = Client(dfs, conf, workdir, w)
    problems, counts = [], {"put": 0, "lost": 0, "get": 0, "list": 0, "delete": 0,
                           "checked": 0}
    last = {}  # own name -> digest of the last successful put, or None after a delete
    for seq in range(ops):
        name = rng.choice(SHARED) if rng.random() < 0.5 else rng.choice(own_names(w))
        roll = rng.random()
        if roll < 0.35:
            data = content(rng, w, seq)
            digest = c.record(name, data)
            src = os.path.join(c.scratch, "src")
            with open(src, "wb") as f:
                f.write(data)
            r = c.run("put", src, "--as", name)
            counts["put"] += 1
            err = r.stderr.decode(errors="replace")
            # A put of a shared name may lose to another client's put running at the
            # same time; it then says so and fails. A name with one writer never loses.
            if r.returncode != 0 and name in SHARED and "did not take effect" in err:
                counts["lost"] += 1
            elif r.returncode != 0:
                problems.append("client %d: put %s failed: %s" % (w, name, err.strip()))
            elif name.startswith("own-"):
                last[name] = digest
        elif roll < 0.70:
            data, problem = c.get(name, to_stdout=rng.random() < 0.3)
            counts["get"] += 1
            if problem:
                problems.append("client %d: %s" % (w, problem))
            elif data is not None:
                counts["checked"] += 1
                digest = hashlib.sha256(data).hexdigest()
                if not c.known(name, digest, len(data)):
                    problems.append("client %d: get %s returned %d bytes that were never "
                                    "written whole under that name" % (w, name, len(data)))
                elif name.startswith("own-") and last.get(name, "?") != digest:
                    problems.append("client %d: get %s did not return its own last put" %
                                    (w, name))
            elif name.startswith("own-") and last.get(name):
                problems.append("client %d: own file %s vanished" % (w, name))
        elif roll < 0.85:
            r = c.run("list", "--json")
            counts["list"] += 1
            if r.returncode != 0:
                problems.append("client %d: list failed: %s" %
                                (w, r.stderr.decode(errors="replace").strip()))
                continue
            for f in json.loads(r.stdout):
                if not c.known_size(f["name"], f["size"]):
                    problems.append("client %d: list shows %s with size %d, never written" %
                                    (w, f["name"], f["size"]))
                if f["name"].startswith("own-%d-" % w) and last.get(f["name"]) is None:
                    problems.append("client %d: list shows own deleted file %s" %
                                    (w, f["name"]))
        else:
            r = c.run("delete", name)
            counts["delete"] += 1
            err = r.stderr.decode(errors="replace")
            if r.returncode != 0 and name in SHARED and "did not take effect" in err:
                counts["lost"] += 1
            elif r.returncode != 0 and "no such file" not in err:
                problems.append("client %d: delete %s failed: %s" % (w, name, err.strip()))
            elif name.startswith("own-"):
                last[name] = None
    q.put((w, problems, counts, last))


def main():
    dfs, conf, workdir = sys.argv[1:4]
    clients = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    ops = int(sys.argv[5]) if len(sys.argv) > 5 else 40
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 20260101
    q = Queue()
    procs = [Process(target=worker, args=(dfs, conf, workdir, w, ops, seed, q))
             for w in range(clients)]
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    problems, totals, lasts = [], {}, {}
    for w, probs, counts, last in results:
        problems += probs
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
        lasts[w] = last

    # Quiescent checks: own names are exactly their writer's last word.
    c = Client(dfs, conf, workdir, 99)
    for w, last in lasts.items():
        for name in own_names(w):
            data, problem = c.get(name)
            want = last.get(name)
            if problem:
                problems.append("final: " + problem)
            elif want is None and data is not None and name in last:
                problems.append("final: %s was deleted last but still reads" % name)
            elif want is not None and (data is None or
                                       hashlib.sha256(data).hexdigest() != want):
                problems.append("final: %s does not read as its last put" % name)
    print(json.dumps({"clients": clients, "ops_each": ops, "seed": seed, **totals}))
    for p in problems:
        print("PROBLEM:", p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

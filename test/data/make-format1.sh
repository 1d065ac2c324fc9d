#!/usr/bin/env bash
# make-format1.sh: makes the fixture of test_upgrade_data, the data folders of a local
# cluster whose dfsd writes data format 1 (the file records in DATA/u/USER/HH/HASH/meta):
#
#   DFS_BUILD=OLD_BUILD test/data/make-format1.sh OUT.tar.gz
#
# OLD_BUILD is a build of such a dfsd (commit 5ce514b). OUT holds data/1..4 (the four data
# folders, as the cluster left them when stopped cleanly), expected/NAME (the bytes of each
# live file) and MANIFEST, one line a file: "live NAME SIZE VERSION MTIME_NS SHA256" (as
# 'dfs list --json' gave them) or "deleted NAME".
set -euo pipefail

OUT=$(realpath -m "${1:?usage: DFS_BUILD=OLD_BUILD $0 OUT.tar.gz}")
: "${DFS_BUILD:?DFS_BUILD must name a build of a dfsd that writes data format 1}"
export DFS_BUILD DFS_CLUSTER_ITERATIONS=4096
CLUSTER=$(cd "$(dirname "$0")/../.." && pwd)/deploy/dfs-cluster
W=$(mktemp -d "${TMPDIR:-/tmp}/dfs-make-format1.XXXXXX")
C=$W/cluster
IN=$W/in
trap '"$CLUSTER" -d "$C" down >/dev/null 2>&1 || true; rm -rf "$W"' EXIT

cluster() { "$CLUSTER" -d "$C" "$@" >/dev/null; }
dfs() { DFS_CONFIG=$C/dfs.conf DFS_USER=AnujS DFS_PASSWORD=Bluepanda "$DFS_BUILD/bin/dfs" "$@"; }

# seeded FILE SIZE SEED: SIZE bytes from Python's generator seeded with SEED.
seeded() {
	python3 -c 'import random, sys
open(sys.argv[1], "wb").write(random.Random(sys.argv[3]).randbytes(int(sys.argv[2])))' "$@"
}
# lines FILE SIZE: SIZE bytes of numbered lines (each names its place; gzip packs them).
lines() {
	python3 -c 'import sys
n = int(sys.argv[2])
open(sys.argv[1], "wb").write(b"".join(b"line %07d of %d bytes\n" % (i, n) for i in range(n // 20 + 1))[:n])' "$@"
}

mkdir -p "$IN/docs" "$W/out/expected/docs"
lines "$IN/small.txt" 100
seeded "$IN/small.bin" 5000 small.bin
lines "$IN/big.bin" $((300 * 1024 + 3)) # above the small-file path (256 KiB)
printf 'docs/a.txt: a file in a folder\n' >"$IN/docs/a.txt"
seeded "$IN/twice-1" 6000 twice-1
seeded "$IN/twice.bin" 4321 twice-2
printf 'gone.txt: deleted, so its records are tombstones\n' >"$IN/gone.txt"
printf 'stale.txt: deleted while server 3 was down, which kept it\n' >"$IN/stale.txt"
seeded "$IN/lacking.bin" 20000 lacking.bin

cluster up
# No recovery between the servers: the records that name server 3 as lacking stay so.
for k in 1 2 3 4; do
	sed -i '/^peers/d' "$C/conf/dfsd-$k.conf"
	cluster stop "$k"
	cluster start "$k"
done
dfs put "$IN/small.txt" "$IN/small.bin" "$IN/big.bin"
dfs put "$IN/docs/a.txt" --as docs/a.txt
dfs put "$IN/twice-1" --as twice.bin
dfs put "$IN/twice.bin"
dfs put "$IN/gone.txt" "$IN/stale.txt"
dfs delete gone.txt
# Server 3 misses a put and a delete: the others' records name it as lacking, and its own
# record of stale.txt stays live.
cluster stop 3
dfs -q put "$IN/lacking.bin"
dfs -q delete stale.txt
# Listed while no login reaches every server (one that did would repair server 3).
dfs -q list --json >"$W/list.json"
cluster start 3
cluster down
for k in 1 2 4; do
	n=$(find "$C/data/$k/u/AnujS/lacking" -type f | wc -l)
	[[ $n == 2 ]] || { echo "server $k has $n records naming a lacking server, not 2" >&2; exit 1; }
done

python3 - "$W/list.json" "$IN" "$W/out" <<'PY'
import hashlib, json, shutil, sys
listed, src, out = sys.argv[1:]
with open(out + "/MANIFEST", "w") as manifest:
    for f in json.load(open(listed)):
        data = open(src + "/" + f["name"], "rb").read()
        assert len(data) == f["size"], f
        shutil.copy(src + "/" + f["name"], out + "/expected/" + f["name"])
        print("live", f["name"], f["size"], f["version"], f["mtime_ns"],
              hashlib.sha256(data).hexdigest(), file=manifest)
    print("deleted gone.txt\ndeleted stale.txt", file=manifest)
PY
cp -a "$C/data" "$W/out/data"
tar -C "$W/out" --sort=name --owner=0 --group=0 --numeric-owner -czf "$OUT" MANIFEST expected data
echo "wrote $OUT ($(stat -c %s "$OUT") bytes)"

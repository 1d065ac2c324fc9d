#!/usr/bin/env bash
# test_once: with every server up, a get fetches each chunk exactly once, one chunk per server.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
IN=$T/in
mkdir -p "$IN"

# 16 MiB + 3 bytes: chunks of different sizes, so a server serving the wrong chunk shows.
size=$((16 * 1024 * 1024 + 3))
name=once.bin
make_random "$IN/$name" "$size"
must dfs_s put "$IN/$name"

# bytes_read of each server, "SERVER COUNT" lines, from `dfs status --json`.
bytes_read() {
	must dfs_s status --json
	python3 -c 'import json, sys
doc = json.load(open(sys.argv[1]))
servers = doc["servers"] if isinstance(doc, dict) else doc
assert len(servers) == 4, "expected 4 servers, got %d" % len(servers)
for i, s in enumerate(servers):
    num = next((s[k] for k in ("number", "server", "id") if k in s), i + 1)
    assert s.get("up", True), "server %s is down" % num
    print(num, int(s["bytes_read"]))' "$T/out" || fail "dfs status --json: $OUT"
}

bytes_read >"$T/before"
must dfs_s get "$name" -o "$T/copy"
assert_file_eq "$IN/$name" "$T/copy"
bytes_read >"$T/after"

r=$(placement_row "$name")
mapfile -t chunk < <(chunk_sizes "$size")
report=""
declare -A grew
while read -r s before && read -r s2 after <&3; do
	assert_eq "$s" "$s2" "server order in status"
	grew[$s]=$((after - before))
	report+="DFS$s +${grew[$s]} "
done <"$T/before" 3<"$T/after"

# Each server grew by the size of one chunk it holds, and the growth adds up to
# the file: no chunk was fetched twice and every server served one.
total=0
for s in 1 2 3 4; do
	a=$(((s - 1 - r + 4) % 4 + 1))
	b=$((a % 4 + 1))
	g=${grew[$s]:-missing}
	if [[ $g != "${chunk[a - 1]}" && $g != "${chunk[b - 1]}" ]]; then
		fail "DFS$s (holding chunks $a,$b of sizes ${chunk[a - 1]},${chunk[b - 1]}) read $g bytes; growth: $report"
	fi
	total=$((total + g))
done
assert_eq "$size" "$total" "sum of bytes_read growth ($report)"
ok "one get read every chunk exactly once, one chunk per server ($report)"

bytes_read >"$T/before"
must dfs_s list
must dfs_s status
bytes_read >"$T/after"
assert_file_eq "$T/before" "$T/after"
ok "list and status read no chunk data"

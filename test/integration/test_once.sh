#!/usr/bin/env bash
# test_once: with every server up, a get fetches each chunk exactly once, one chunk per server.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
IN=$T/in
mkdir -p "$IN"

# bytes_read of each server, "SERVER COUNT" lines, from `dfs status --json`.
bytes_read() {
	must dfs_s status --json
	python3 -c 'import json, sys
servers = json.load(open(sys.argv[1]))
assert len(servers) == 4, "expected 4 servers, got %d" % len(servers)
for s in servers:
    assert s["up"], "server %s is down" % s["server"]
    print(s["server"], s["bytes_read"])' "$T/out" || fail "dfs status --json: $OUT"
}

# check_once NAME SIZE: a get of a fresh SIZE-byte file reads every chunk once, one per server.
check_once() {
	local name=$1 size=$2 r s s2 before after report="" total=0 a b g
	local -a chunk
	local -A grew

	make_random "$IN/$name" "$size"
	must dfs_s put "$IN/$name"
	bytes_read >"$T/before"
	must dfs_s get "$name" -o "$T/copy"
	assert_file_eq "$IN/$name" "$T/copy"
	bytes_read >"$T/after"

	r=$(placement_row "$name")
	mapfile -t chunk < <(chunk_sizes "$size")
	while read -r s before && read -r s2 after <&3; do
		assert_eq "$s" "$s2" "server order in status"
		grew[$s]=$((after - before))
		report+="DFS$s +${grew[$s]} "
	done <"$T/before" 3<"$T/after"

	# Each server grew by the size of one chunk it holds, and the growth adds up to
	# the file: no chunk was fetched twice and every server served one.
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
	ok "a get of $size bytes read every chunk exactly once, one chunk per server ($report)"
}

# Chunks of different sizes, so a server serving the wrong chunk shows:
# - 16 MiB + 3: a large file, every chunk read with READ;
# - 100 KiB + 3: a small file, every chunk sent along with the servers' records;
# - 256 KiB + 1: just too large to be small; three chunks come with the records, one
#   (a byte too large) with READ.
check_once once.bin $((16 * 1024 * 1024 + 3))
check_once once-small.bin $((100 * 1024 + 3))
check_once once-edge.bin $((256 * 1024 + 1))

bytes_read >"$T/before"
must dfs_s list
must dfs_s status
bytes_read >"$T/after"
assert_file_eq "$T/before" "$T/after"
ok "list and status read no chunk data"

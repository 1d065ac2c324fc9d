#!/usr/bin/env bash
# test_failures: reads survive one server down and two non-neighbours down; with two
# neighbours down a get fails cleanly and leaves no partial file; the same holds for
# several files moved at once.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
IN=$T/in
mkdir -p "$IN"

# Names spread over the placement rows; sizes from empty to several MiB.
names=(f-empty f-one f-five f-odd f-mib f-3mib)
: >"$IN/f-empty"
printf 'z' >"$IN/f-one"
make_random "$IN/f-five" 5
make_random "$IN/f-odd" 1000003
make_random "$IN/f-mib" $((1024 * 1024))
make_random "$IN/f-3mib" $((3 * 1024 * 1024 + 1))
paths=()
for n in "${names[@]}"; do
	paths+=("$IN/$n")
done
must dfs_s put "${paths[@]}"
rows=$(for n in "${names[@]}"; do placement_row "$n"; done | sort -u | tr '\n' ' ')
ok "stored ${#names[@]} files (placement rows used: $rows)"

# check_all_readable LABEL: every file comes back byte-identical.
check_all_readable() {
	local out=$T/got-$1 n
	mkdir -p "$out"
	for n in "${names[@]}"; do
		must dfs_s get "$n" -o "$out/$n"
		assert_file_eq "$IN/$n" "$out/$n"
	done
	rm -rf "$out"
}

check_all_readable all-up
ok "all files readable with every server up"

for k in 1 2 3 4; do
	cluster kill "$k"
	check_all_readable "without-$k"
	cluster start "$k"
	ok "all files readable and byte-exact with DFS$k killed"
done

cluster kill 1
cluster kill 3
check_all_readable without-1-3
ok "all files readable with DFS1 and DFS3 killed"
cluster start 1
cluster start 3

cluster stop 2
cluster stop 4
check_all_readable without-2-4
ok "all files readable with DFS2 and DFS4 stopped"
cluster start 2
cluster start 4

cluster kill 1
cluster kill 2
# With neighbours 1 and 2 down, the chunk both of them hold is gone for every
# file; files of at least 4 bytes have no empty chunk, so each one must fail.
mkdir -p "$T/dest"
cd "$T/dest" || fail "cd $T/dest"
for n in f-five f-odd f-mib f-3mib; do
	run dfs_s get "$n" -o "$T/dest/out"
	assert_transfer_failed
	assert_no_file "$T/dest/out"

	run dfs_s get "$n"
	assert_transfer_failed
	assert_no_file "$T/dest/$n"

	printf 'precious old content\n' >"$T/dest/$n"
	cp -p "$T/dest/$n" "$T/before"
	run dfs_s get "$n" -d "$T/dest"
	assert_transfer_failed
	assert_file_eq "$T/before" "$T/dest/$n"
	run dfs_s get "$n" -o "$T/dest/$n"
	assert_transfer_failed
	assert_file_eq "$T/before" "$T/dest/$n"
	rm -f "$T/dest/$n"

	leftovers=$(find "$T/dest" -mindepth 1 -printf '%f\n')
	assert_eq "" "$leftovers" "files left in the destination folder"
done
ok "with DFS1 and DFS2 down: 'Transfer failed', non-zero exit, no file, existing file untouched, no temporary left"

run dfs_s get f-odd -o -
((RC != 0)) || fail "get -o - succeeded with a chunk missing"
ok "get -o - exits non-zero when a chunk is missing"

cluster start 1
cluster start 2
check_all_readable recovered
ok "all files readable again after restarting DFS1 and DFS2"

# Several files in one command move in parallel. With DFS3 down every put warns and
# succeeds, every file comes back byte-exact, and --json reports them in the order given.
cluster stop 3
must dfs_s put --json "${paths[@]}"
python3 - "$T/out" "${paths[@]}" <<'PY' || fail "put --json with DFS3 down: $OUT"
import json, sys
res = json.load(open(sys.argv[1]))
assert [r["file"] for r in res] == sys.argv[2:], res
assert all(r["ok"] for r in res), res
PY
assert_contains "$ERR" "server 3" "put warning"
mkdir -p "$T/many"
must dfs_s get --json "${names[@]}" -d "$T/many"
python3 - "$T/out" "${names[@]}" <<'PY' || fail "get --json with DFS3 down: $OUT"
import json, sys
res = json.load(open(sys.argv[1]))
assert [r["name"] for r in res] == sys.argv[2:], res
assert all(r["ok"] for r in res), res
PY
for n in "${names[@]}"; do
	assert_file_eq "$IN/$n" "$T/many/$n"
done
cluster start 3
ok "put and get of ${#names[@]} files at once with DFS3 down: all stored and read back, reported in order"

# With neighbours 1 and 2 down, each file of at least 4 bytes fails on its own line
# and none is created.
cluster kill 1
cluster kill 2
mkdir -p "$T/many-failed"
run dfs_s get f-five f-odd f-mib f-3mib -d "$T/many-failed"
((RC != 0)) || fail "a get of four unreadable files succeeded"
assert_eq 4 "$(grep -c 'Transfer failed' <<<"$ERR")" "'Transfer failed' lines"
assert_eq "" "$(find "$T/many-failed" -mindepth 1 -printf '%f\n')" "files left in the destination"
cluster start 1
cluster start 2
ok "a get of four files with DFS1 and DFS2 down: four 'Transfer failed' lines, no file"

#!/usr/bin/env bash
# test_stat: dfs stat shows a file's version, digest and every chunk copy; get keeps the mtime.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
# Copies must stay missing and stale long enough to be shown: no server recovers by itself.
cluster_without_recovery
make_random "$T/f" 100003
touch -d '2020-02-29 12:34:56.789' "$T/f"
must dfs_s put "$T/f"

# json_get EXPR: evaluates EXPR on the JSON of the last command's output (as `d`).
json_get() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[2]))
print(eval(sys.argv[1]))' "$1" "$T/out"
}

must dfs_s stat f --json
assert_eq 100003 "$(json_get 'd["size"]')" "size"
assert_eq "$(stat -c %Y "$T/f")" "$(json_get 'd["mtime_ns"] // 10**9')" "mtime seconds"
assert_eq 789000000 "$(json_get 'd["mtime_ns"] % 10**9')" "mtime nanoseconds"
assert_eq "$(placement_row f)" "$(json_get 'd["row"]')" "placement row"
assert_eq "$(chunk_sizes 100003 | paste -sd,)" "$(json_get '",".join(str(c["size"]) for c in d["chunks"])')" "chunk sizes"
assert_eq "good good good good good good good good" \
	"$(json_get '" ".join(c["state"] for k in d["chunks"] for c in k["copies"])')" "copy states"
ver=$(json_get 'd["version"]')
digest=$(json_get 'd["digest"]')
must dfs_s list --json
assert_eq "$ver" "$(python3 -c 'import json, sys
print([f["version"] for f in json.load(open(sys.argv[1])) if f["name"] == "f"][0])' "$T/out")" "version in list"
ok "stat --json: size, version, mtime to the nanosecond, row, chunk sizes, every copy good"

must dfs_s stat f
assert_contains "$OUT" "size      100003"
assert_contains "$OUT" "version   $ver"
assert_contains "$OUT" "digest    xxh3:$digest"
assert_contains "$OUT" "modified  2020-02-29T12:34:56Z"
[[ $(grep -c ' good (unverified), DFS[0-9] good (unverified)$' <<<"$OUT") == 4 ]] || fail "expected 4 chunks with two good copies: $OUT"
ok "stat prints the same in words, one line per chunk"

# Server 1 misses an overwrite of f and the new file m; then server 3 goes down.
make_random "$T/f" 5000
make_random "$T/m" 5000
cluster stop 1
must dfs_s put "$T/f" "$T/m"
cluster start 1
cluster stop 3
must dfs_s stat f --json
ver2=$(json_get 'd["version"]')
[[ $ver2 != "$ver" ]] || fail "stat shows the old version after an overwrite"
assert_eq 5000 "$(json_get 'd["size"]')" "size after overwrite"
states=$(json_get '" ".join("%d:%s" % (c["server"], c["state"]) for k in d["chunks"] for c in k["copies"])')
for s in $states; do
	case $s in
	1:*) assert_eq 1:stale "$s" "server 1's copy" ;;
	3:*) assert_eq 3:down "$s" "server 3's copy" ;;
	*) [[ $s == *:good ]] || fail "unexpected copy state $s" ;;
	esac
done
must dfs_s stat m
assert_contains "$OUT" "DFS1 missing"
assert_contains "$OUT" "DFS3 down"
assert_contains "$OUT" "readable  yes"
ok "copies show as stale (older version), missing (no record) and down (no answer)"

assert_fails dfs_s stat no-such-file
assert_contains "$ERR" "no such file"
assert_fails dfs_s stat "bad//name"
assert_contains "$ERR" "invalid name"
ok "stat of a missing file or a bad name fails with a clear message"
cluster start 3

# get keeps the modification time, with -o and with -d.
touch -d '2019-07-04 01:02:03.5' "$T/m"
must dfs_s put "$T/m"
mkdir "$T/d"
must dfs_s get m -o "$T/m.o"
must dfs_s get m -d "$T/d"
assert_file_eq "$T/m" "$T/m.o"
assert_eq "$(stat -c %Y "$T/m")" "$(stat -c %Y "$T/m.o")" "mtime with -o"
assert_eq "$(stat -c %Y "$T/m")" "$(stat -c %Y "$T/d/m")" "mtime with -d"
assert_eq "$(stat -c %y "$T/m")" "$(stat -c %y "$T/d/m")" "mtime to the nanosecond"
ok "get -o and get -d keep the modification time"

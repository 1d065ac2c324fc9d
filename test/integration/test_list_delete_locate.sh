#!/usr/bin/env bash
# test_list_delete_locate: list (text and JSON), delete, and locate against the placement table.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
IN=$T/in
mkdir -p "$IN"

must dfs_s list
assert_eq "" "$OUT" "list of a new user"
ok "a new user's list is empty"

: >"$IN/a"
make_random "$IN/b" 10
make_random "$IN/c d" 5000
must dfs_s put "$IN/a" "$IN/b" "$IN/c d"

must dfs_s list
assert_eq 3 "$(grep -c . "$T/out")" "number of list lines"
assert_eq 0 "$(list_size a)" "size of a"
assert_eq 10 "$(list_size b)" "size of b"
assert_eq 5000 "$(list_size "c d")" "size of 'c d'"
ok "list prints 'NAME SIZE' lines"

must dfs_s list --json
python3 -c 'import json, sys
files = json.load(open(sys.argv[1]))
assert isinstance(files, list), "not a JSON array"
got = {f["name"]: f["size"] for f in files}
want = {"a": 0, "b": 10, "c d": 5000}
assert got == want, "got %r, want %r" % (got, want)' "$T/out" || fail "list --json: $OUT"
ok "list --json gives name and size"

must dfs_s delete b
must dfs_s list
assert_eq "" "$(list_size b)" "size of deleted b"
assert_eq 5000 "$(list_size "c d")" "size of 'c d'"
assert_eq 2 "$(grep -c . "$T/out")" "number of list lines"
ok "delete removes the file from the list"

cd "$T" || fail "cd $T"
run dfs_s get b -o "$T/b-copy"
assert_transfer_failed
assert_no_file "$T/b-copy"
run dfs_s get b
assert_transfer_failed
assert_no_file "$T/b"
ok "get of a deleted file fails with 'Transfer failed' and creates no file"

assert_fails dfs_s delete b
[[ $ERR == dfs:* ]] || fail "error message does not begin with 'dfs: ': $ERR"
assert_fails dfs_s delete never-existed
ok "delete of a missing name exits non-zero"

assert_fails dfs_s delete a never-existed
must dfs_s list
assert_eq "" "$(list_size a)" "size of a after 'delete a never-existed'"
ok "delete of an existing and a missing name removes the first and exits non-zero"

# One stored name per placement row, so every row of the table is checked.
mapfile -t loc_names < <(python3 -c 'import hashlib
seen = {}
i = 0
while len(seen) < 4:
    n = "locate-%d" % i
    r = int.from_bytes(hashlib.sha256(n.encode()).digest()[:8], "big") % 4
    seen.setdefault(r, n)
    i += 1
for r in range(4):
    print(seen[r])')
for n in "${loc_names[@]}"; do
	make_random "$IN/$n" 4000
	must dfs_s put "$IN/$n"
done
for n in "${loc_names[@]}" "c d"; do
	r=$(placement_row "$n")
	expected=""
	for s in 1 2 3 4; do
		a=$(((s - 1 - r + 4) % 4 + 1))
		b=$((a % 4 + 1))
		expected+="DFS$s $a,$b"$'\n'
	done
	must dfs_s locate "$n"
	assert_eq "${expected%$'\n'}" "$OUT" "locate '$n' (row $r)"
done
ok "locate prints the placement table's row for names of all four rows"

# The formula used above reproduces SPEC section 1's table.
table=("1,2 2,3 3,4 4,1" "4,1 1,2 2,3 3,4" "3,4 4,1 1,2 2,3" "2,3 3,4 4,1 1,2")
for r in 0 1 2 3; do
	row=""
	for s in 1 2 3 4; do
		a=$(((s - 1 - r + 4) % 4 + 1))
		row+="$a,$((a % 4 + 1)) "
	done
	assert_eq "${table[r]}" "${row% }" "placement row $r"
done
ok "the expected rows agree with the published table"

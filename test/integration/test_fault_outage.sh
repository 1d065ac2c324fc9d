#!/usr/bin/env bash
# test_fault_outage: puts, overwrites and deletes while a server is down; the server's
# return (catch-up at the next login, or dfs repair) brings it level, a stale copy is
# never served, and a file deleted during the outage stays deleted.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
# The clients' catch-up and dfs repair are what this test exercises; test_heal has the
# servers catching up by themselves.
cluster_without_recovery
IN=$T/in
mkdir -p "$IN"

# need_repair_total: the sum of chunks_need_repair over every server (all must be up).
need_repair_total() {
	must dfs_s status --json
	python3 -c 'import json, sys
print(sum(s["chunks_need_repair"] for s in json.load(sys.stdin) if s["up"]))' <<<"$OUT"
}

# --- 1. Server 2 down during a put; back; catch-up; then 1 and 3 down. --------------
make_random "$IN/degraded" $((3 * 1024 * 1024 + 7))
cluster stop 2
must dfs_s put "$IN/degraded"
assert_contains "$ERR" "server 2" "put warning"
ok "put with DFS2 down succeeds and warns naming server 2"

must dfs_s get degraded -o "$T/got"
assert_file_eq "$IN/degraded" "$T/got"
ok "the degraded file reads back with DFS2 still down"

# Servers that recorded DFS2 as lacking keep an index of such files, in their records
# database, for the login's check: it survives a restart.
for k in 1 3 4; do
	cluster stop "$k"
	cluster start "$k"
done
run dfs_s status
for k in 1 3 4; do
	grep -q "^DFS$k .* need-repair [1-9]" "$T/out" || fail "server $k forgot what needs repair"
done
ok "after a restart the servers still know which files need repair"

cluster start 2
# The first login that reaches every server brings DFS2 level by itself.
must dfs_s list
assert_contains "$ERR" "repaired:" "catch-up report"
assert_eq 0 "$(need_repair_total)" "chunks needing repair after catch-up"
ok "DFS2 back: the next login repairs it without being asked"

cluster kill 1
cluster kill 3
rm -f "$T/got"
must dfs_s get degraded -o "$T/got"
assert_file_eq "$IN/degraded" "$T/got"
ok "with DFS1 and DFS3 down the file reads from DFS2 and DFS4 (DFS2's copies were repaired)"
cluster start 1
cluster start 3

# --- 2. The same with an explicit 'dfs repair NAME' as AnujK. -------------------------
make_random "$IN/degraded-k" $((2 * 1024 * 1024 + 3))
cluster stop 4
must dfs_k put "$IN/degraded-k"
assert_contains "$ERR" "server 4" "put warning"
cluster start 4
must dfs_k repair degraded-k
assert_contains "$OUT$ERR" "repaired" "repair output"
cluster kill 1
cluster kill 3
rm -f "$T/got"
must dfs_k get degraded-k -o "$T/got"
assert_file_eq "$IN/degraded-k" "$T/got"
ok "dfs repair NAME brings DFS4 level: readable from DFS2 and DFS4 alone"
cluster start 1
cluster start 3

# --- 3. Overwrite while DFS3 is down; DFS3 back and DFS4 down at once. ----------------
# No client logs in between DFS3's return and DFS4's loss, so DFS3 still holds the old
# version: a get must never return it (the new version's chunk shared by DFS3 and DFS4
# is on DFS4 only, so failing cleanly is the right answer).
make_random "$IN/over" $((1024 * 1024 + 1))
must dfs_s put "$IN/over"
cp "$IN/over" "$T/over-v1"
make_random "$IN/over" $((1024 * 1024 + 2))
cluster stop 3
must dfs_s put "$IN/over"
assert_contains "$ERR" "server 3" "put warning"
cluster start 3
cluster kill 4
rm -f "$T/got"
run dfs_s get over -o "$T/got"
if ((RC == 0)); then
	cmp -s "$T/over-v1" "$T/got" && fail "the stale version was served"
	assert_file_eq "$IN/over" "$T/got"
else
	assert_transfer_failed
	assert_no_file "$T/got"
fi
ok "DFS3 back (not yet repaired) and DFS4 down: the stale version is never served (get rc=$RC)"
cluster start 4

# With every server up the new version is read; the login repairs DFS3.
rm -f "$T/got"
must dfs_s get over -o "$T/got"
assert_file_eq "$IN/over" "$T/got"
cluster kill 4
rm -f "$T/got"
must dfs_s get over -o "$T/got"
assert_file_eq "$IN/over" "$T/got"
ok "after DFS3 is brought level, DFS4 down: the new version is read"
cluster start 4

# A second overwrite while DFS3 is down, then DFS3 back through a catch-up, then DFS4 down.
make_random "$IN/over" $((1024 * 1024 + 3))
cluster stop 3
must dfs_s put "$IN/over"
cluster start 3
must dfs_s list
cluster kill 4
rm -f "$T/got"
must dfs_s get over -o "$T/got"
assert_file_eq "$IN/over" "$T/got"
ok "overwrite with DFS3 down, DFS3 back (catch-up), DFS4 down: the new version is read"
cluster start 4

# --- 4. Delete while a server is down; the server back: the file stays deleted. -------
for k in 1 2 3 4; do
	make_random "$IN/del-$k" $((512 * 1024 + k))
	must dfs_s put "$IN/del-$k"
	cluster stop "$k"
	must dfs_s delete "del-$k"
	cluster start "$k"
	# The first login after the return: list, get and a fresh list after catch-up.
	must dfs_s list
	assert_eq "" "$(list_size "del-$k")" "del-$k listed after its server came back"
	rm -f "$T/got"
	run dfs_s get "del-$k" -o "$T/got"
	assert_transfer_failed
	assert_no_file "$T/got"
	# The catch-up gave the returning server the tombstone: alone, it does not list it.
	for j in 1 2 3 4; do
		((j == k)) || cluster stop "$j"
	done
	must dfs_s list
	assert_eq "" "$(list_size "del-$k")" "del-$k listed by DFS$k alone"
	cluster up >/dev/null
done
ok "a file deleted while DFS1..4 (each in turn) was down stays deleted when it returns"

# A delete while a server is down, that server back and the others' tombstones read
# by a client that starts with the returning server only partly reachable.
make_random "$IN/del-x" 4096
must dfs_s put "$IN/del-x"
cluster stop 2
must dfs_s delete del-x
cluster start 2
cluster kill 1
run dfs_s get del-x -o "$T/got"
assert_transfer_failed
must dfs_s list
assert_eq "" "$(list_size del-x)" "del-x listed"
cluster start 1
ok "a delete missed by DFS2 stays in force with DFS1 down after DFS2 returns"

# --- 5. Two neighbours down: the put fails cleanly, the previous version stays. ------
make_random "$IN/pair" $((2 * 1024 * 1024 + 9))
must dfs_s put "$IN/pair"
cp "$IN/pair" "$T/pair-v1"
must dfs_s list
v1_size=$(list_size pair)
find "$C/data" -path '*/u/*' -type f -name '*.[0-9]*' | sort >"$T/chunks-before"
make_random "$IN/pair" $((3 * 1024 * 1024))
cluster stop 2
cluster stop 3
run dfs_s put "$IN/pair"
((RC != 0)) || fail "put succeeded with two neighbouring servers down"
[[ $ERR == dfs:* ]] || fail "error does not begin with 'dfs: ': $ERR"
assert_contains "$ERR" "down" "put error"
rm -f "$T/got"
# The chunk only DFS2 and DFS3 hold is unreachable for either version.
run dfs_s get pair -o "$T/got"
assert_transfer_failed
assert_no_file "$T/got"
find "$C/data" -path '*/u/*' -type f -name '*.[0-9]*' | sort >"$T/chunks-after"
assert_eq "$(cat "$T/chunks-before")" "$(cat "$T/chunks-after")" "chunk files after the failed put"
cluster start 2
cluster start 3
rm -f "$T/got"
must dfs_s get pair -o "$T/got"
assert_file_eq "$T/pair-v1" "$T/got"
must dfs_s list
assert_eq "$v1_size" "$(list_size pair)" "listed size"
ok "put with DFS2 and DFS3 down fails cleanly, nothing staged is left; with them back the previous version reads and is listed"

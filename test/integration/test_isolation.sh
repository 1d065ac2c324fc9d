#!/usr/bin/env bash
# test_isolation.sh: one user cannot reach another's files (get, list, locate,
# overwrite, delete), and hostile names are refused by the server itself.
source "$(dirname "$0")/lib.sh"

PROBE=$DFS_BUILD/bin/dfs-probe
[[ -x $PROBE ]] || fail "missing $PROBE (build the tree first)"

cluster_up
cd "$T"
printf 'AnujS private data\n' >secret.txt
must dfs_s put secret.txt
must dfs_s get secret.txt -o s-copy.txt
assert_file_eq secret.txt s-copy.txt

assert_fails dfs_k get secret.txt -o k-copy.txt
assert_transfer_failed
assert_no_file k-copy.txt
ok "AnujK cannot get AnujS's file"

must dfs_k list
assert_not_contains "$OUT" "secret.txt" "AnujK's list"
must dfs_k list --json
assert_not_contains "$OUT" "secret.txt" "AnujK's list --json"
ok "AnujK's list does not show AnujS's file"

# STATUS counts the caller's own files only.
status_files() {
	"$@" status --json | python3 -c 'import json, sys
print(sum(s["files"] for s in json.load(sys.stdin) if s["up"]))'
}
assert_eq 4 "$(status_files dfs_s)" "AnujS's file count over the four servers"
assert_eq 0 "$(status_files dfs_k)" "AnujK's file count, with AnujS's file stored"
ok "dfs status shows a user only their own files"

must dfs_s locate secret.txt
assert_contains "$OUT" "DFS1 " "AnujS's locate"
run dfs_k locate secret.txt
# The placement may be printed, but no server may report a chunk as held.
while IFS= read -r line; do
	[[ -z $line || $line == *missing* ]] || fail "AnujK's locate shows held chunks: $OUT"
done <<<"$OUT"
ok "AnujK's locate shows no chunks of AnujS's file"

printf 'AnujK overwrite attempt\n' >k.txt
must dfs_k put k.txt --as secret.txt
must dfs_k get secret.txt -o k-copy.txt
assert_file_eq k.txt k-copy.txt
must dfs_s get secret.txt -o s-copy2.txt
assert_file_eq secret.txt s-copy2.txt
ok "AnujK's put of the same name makes AnujK's own file; AnujS's is unchanged"

must dfs_k delete secret.txt
assert_fails dfs_k delete secret.txt
must dfs_s get secret.txt -o s-copy3.txt
assert_file_eq secret.txt s-copy3.txt
must dfs_s list
assert_contains "$OUT" "secret.txt" "AnujS's list"
ok "AnujK's delete removes only AnujK's file; AnujS's stays"

# Hostile names straight to every procedure that takes one, past the client's checks.
for kind in dot dotdot nul badutf8 ctrl empty empty-component leading-slash trailing-slash \
	dotdot-component; do
	for proc in LOOKUP PUT_BEGIN DELETE; do
		must env DFS_PASSWORD=Bluepanda "$PROBE" -c "$C/dfs.conf" -s 1 -u AnujS raw-name "$kind" "$proc"
		assert_contains "$OUT" "raw-name $kind $proc DFS_EINVAL" "server answer to a $kind name"
	done
done
ok "the server refuses '.', '..', NUL, bad UTF-8, control characters, empty names and bad folders"
for proc in LOOKUP PUT_BEGIN DELETE; do
	must env DFS_PASSWORD=Bluepanda "$PROBE" -c "$C/dfs.conf" -s 1 -u AnujS raw-name long "$proc"
	[[ $OUT =~ raw-name\ long\ $proc\ (rpc\ RPC_CANTDECODEARGS|DFS_ENAMETOOLONG) ]] ||
		fail "a 4,097-byte name was not refused: $OUT"
	must env DFS_PASSWORD=Bluepanda "$PROBE" -c "$C/dfs.conf" -s 1 -u AnujS raw-name long-component "$proc"
	assert_contains "$OUT" "raw-name long-component $proc DFS_ENAMETOOLONG" "a 256-byte component"
	must env DFS_PASSWORD=Bluepanda "$PROBE" -c "$C/dfs.conf" -s 1 -u AnujS raw-name slash "$proc"
	assert_not_contains "$OUT" "DFS_EINVAL" "server answer to the folder name a/b"
done
ok "the server refuses a 4,097-byte name (beyond the XDR bound) and a 256-byte component; a/b is a name"
# The client refuses the same names on its own.
for name in .. a//b /abs a/../b dir/ "$(printf 'a%.0s' {1..256})" \
	"$(printf 'a%.0s' {1..4097})" $'a\001b'; do
	assert_fails dfs_s put secret.txt --as "$name"
	[[ $ERR == dfs:* ]] || fail "no dfs: message for a bad name: [$ERR]"
done
ok "the client refuses hostile names with a message"
must dfs_s get secret.txt -o s-copy4.txt
assert_file_eq secret.txt s-copy4.txt
ok "the server still serves AnujS afterwards"

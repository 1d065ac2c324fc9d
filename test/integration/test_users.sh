#!/usr/bin/env bash
# test_users: each user has a separate namespace; wrong passwords and unknown users are refused.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
IN=$T/in
mkdir -p "$IN"
cd "$T" || fail "cd $T"

make_random "$IN/s-secret" 3000
must dfs_s put "$IN/s-secret"

must dfs_k list
assert_eq "" "$(list_size s-secret)" "AnujK's view of AnujS's file"
must dfs_k list --json
assert_eq "[]" "$(python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$T/out")" \
	"AnujK's list --json"
ok "AnujK does not see AnujS's files"

run dfs_k get s-secret -o "$T/stolen"
assert_transfer_failed
assert_no_file "$T/stolen"
ok "AnujK cannot get AnujS's file"

assert_fails dfs_k delete s-secret
must dfs_s get s-secret -o "$T/still-there"
assert_file_eq "$IN/s-secret" "$T/still-there"
ok "AnujK cannot delete AnujS's file"

run dfs_k locate s-secret
must dfs_s list
assert_eq 3000 "$(list_size s-secret)" "AnujS's file after AnujK's attempts"
ok "AnujS's file is intact"

printf 'belongs to AnujS\n' >"$IN/same-s"
printf 'belongs to AnujK, and is longer\n' >"$IN/same-k"
must dfs_s put "$IN/same-s" --as same.txt
must dfs_k put "$IN/same-k" --as same.txt
must dfs_s get same.txt -o "$T/got-s"
must dfs_k get same.txt -o "$T/got-k"
assert_file_eq "$IN/same-s" "$T/got-s"
assert_file_eq "$IN/same-k" "$T/got-k"
must dfs_s list
assert_eq "$(stat -c %s "$IN/same-s")" "$(list_size same.txt)" "AnujS's size of same.txt"
must dfs_k list
assert_eq "$(stat -c %s "$IN/same-k")" "$(list_size same.txt)" "AnujK's size of same.txt"
ok "the same name stored by both users gives two distinct files"

must dfs_k delete same.txt
must dfs_s get same.txt -o "$T/got-s2"
assert_file_eq "$IN/same-s" "$T/got-s2"
ok "AnujK deleting their same.txt leaves AnujS's"

for args in "AnujS wrong-password" "AnujS bluepanda" "AnujK Bluepanda" "nobody Bluepanda"; do
	read -r user pass <<<"$args"
	assert_fails dfs_as "$user" "$pass" list
	assert_eq "" "$OUT" "stdout of a refused login"
	[[ $ERR == dfs:* ]] || fail "error message does not begin with 'dfs: ': $ERR"
	grep -Eiq 'password|login|authenticat' <<<"$ERR" || fail "unclear message for a refused login: $ERR"
done
ok "wrong passwords and unknown users are refused with a clear message"

assert_fails dfs_as AnujS wrong-password get s-secret -o "$T/nope"
assert_no_file "$T/nope"
assert_fails dfs_as AnujS wrong-password put "$IN/s-secret" --as intruder
# Servers may throttle a user's logins for a while after failures.
eventually dfs_s list
assert_eq "" "$(list_size intruder)" "file put with a wrong password"
ok "a wrong password neither reads nor writes"

printf 'Bluepanda\n' >"$T/pwfile"
eventually "$DFS" -c "$C/dfs.conf" -u AnujS --password-file "$T/pwfile" list
assert_eq 3000 "$(list_size s-secret)" "list with --password-file"
must env DFS_CONFIG="$C/dfs.conf" DFS_USER=AnujS DFS_PASSWORD=Bluepanda "$DFS" list
assert_eq 3000 "$(list_size s-secret)" "list with DFS_CONFIG and DFS_USER"
ok "--password-file, DFS_CONFIG and DFS_USER work"

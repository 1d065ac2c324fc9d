#!/usr/bin/env bash
# test_passwd: a user changes their own password; the old one is refused, the new one works.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"


cluster_up
make_random "$T/a" 4000
must dfs_s put "$T/a"

# A session opened before the change.
session_hold AnujS Bluepanda

DFS_NEW_PASSWORD= assert_fails dfs_s passwd
assert_contains "$ERR" "an empty password is refused"
assert_fails env -u DFS_NEW_PASSWORD DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS passwd </dev/null
((RC == 2)) || fail "passwd without a new password: exit status $RC, expected 2"
assert_contains "$ERR" "no new password"
ok "passwd needs a new password from somewhere"

DFS_NEW_PASSWORD=Redpanda2 must dfs_s passwd
assert_contains "$OUT" "password changed on every server"
for f in "$C"/logs/dfsd-*.log; do
	grep -q "user AnujS changed their password" "$f" || fail "$f does not log the change"
done
ok "dfs passwd changes AnujS's password on every server"

assert_fails dfs_s list
assert_contains "$ERR" "login as AnujS"
must dfs_as AnujS Redpanda2 get a -o "$T/a.back"
assert_file_eq "$T/a" "$T/a.back"
must dfs_k list
ok "the old password is refused, the new one works, AnujK is unaffected"

assert_contains "$(session_hold_list)" "list rc=0 files=1" "session opened before the change"
session_hold_end
ok "a session opened with the old password stays valid"

# With a server down the change is reported as incomplete (exit status 3).
printf 'Greenpanda3\n' >"$T/newpw"
cluster stop 3
run dfs_as AnujS Redpanda2 passwd --new-password-file "$T/newpw"
((RC == 3)) || fail "passwd with server 3 down: exit status $RC, expected 3 ($ERR)"
assert_contains "$ERR" "server 3"
assert_contains "$ERR" "its user database was not updated; run 'dfs passwd' again when it is back"
cluster start 3
# The servers of this cluster share one database file, so server 3 has the change too.
must dfs_as AnujS Greenpanda3 status
assert_not_contains "$OUT" "down"
ok "a server down during passwd is named; sharing the database file it has the change when back"

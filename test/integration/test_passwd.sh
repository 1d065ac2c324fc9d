#!/usr/bin/env bash
# test_passwd: a user changes their own password; the old one is refused, the new one works,
# sessions opened with the old one end, and a stolen token cannot change it.
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

assert_contains "$(session_hold_list)" "list rc=-13" "session opened before the change"
session_hold_end
ok "a session opened with the old password ends with the change"

PROBE=$DFS_BUILD/bin/dfs-probe
# A stolen token alone cannot set a new password: SET_VERIFIER needs proof of
# the current password, and a wrong proof ends the session.
out=$(DFS_PASSWORD=Redpanda2 "$PROBE" -c "$C/dfs.conf" -s 1 -u AnujS login)
TOKEN=$(sed -n 's/^token //p' <<<"$out")
[[ $TOKEN =~ ^[0-9a-f]{64}$ ]] || fail "no token from login: $out"
must "$PROBE" -c "$C/dfs.conf" -s 1 set-verifier "$TOKEN"
assert_eq "set-verifier DFS_EACCES" "$OUT" "SET_VERIFIER with a token and no proof"
must "$PROBE" -c "$C/dfs.conf" -s 1 call-with-token "$TOKEN" LIST
assert_eq "LIST DFS_EACCES" "$OUT" "the token after a SET_VERIFIER without proof"
grep -q "password change for user AnujS refused: no proof of the current password" \
	"$C/logs/dfsd-1.log" || fail "the refused change is not logged"
must dfs_as AnujS Redpanda2 list
ok "a stolen token cannot change the password, and is ended for trying"

# dfsadm passwd ends the sessions opened with the old password, on every server.
declare -a TOKENS=()
for k in 1 2 3 4; do
	out=$(DFS_PASSWORD=wiger "$PROBE" -c "$C/dfs.conf" -s "$k" -u AnujK login)
	TOKENS[k]=$(sed -n 's/^token //p' <<<"$out")
	must "$PROBE" -c "$C/dfs.conf" -s "$k" call-with-token "${TOKENS[k]}" LIST
	assert_eq "LIST DFS_OK" "$OUT" "AnujK's token on server $k before dfsadm passwd"
done
printf 'tiger2\n' | "$DFS_BUILD/bin/dfsadm" -f "$C/users.db" passwd AnujK >/dev/null ||
	fail "dfsadm passwd AnujK failed"
for k in 1 2 3 4; do
	must "$PROBE" -c "$C/dfs.conf" -s "$k" call-with-token "${TOKENS[k]}" LIST
	assert_eq "LIST DFS_EACCES" "$OUT" "AnujK's token on server $k after dfsadm passwd"
done
grep -q "the password of user AnujK changed" "$C/logs/dfsd-1.log" ||
	fail "the end of the sessions is not logged"
must dfs_as AnujK tiger2 list
ok "dfsadm passwd ends the sessions opened with the old password on every server"

# With a server down the change is reported as incomplete (exit status 3).
printf 'Greenpanda3\n' >"$T/newpw"
cluster stop 3
run dfs_as AnujS Redpanda2 passwd --new-password-file "$T/newpw"
((RC == 3)) || fail "passwd with server 3 down: exit status $RC, expected 3 ($ERR)"
assert_contains "$ERR" "server 3"
assert_contains "$ERR" "its user database was not updated; run 'dfs passwd' again when it is back"
assert_contains "$ERR" "1 did not get it" "the summary"
cluster start 3
# The servers of this cluster share one database file, so server 3 has the change too.
must dfs_as AnujS Greenpanda3 status
assert_not_contains "$OUT" "down"
ok "a server down during passwd is named; sharing the database file it has the change when back"

# The session that changes the password goes on with the new one (the shell
# keeps its login across commands).
run env DFS_NEW_PASSWORD=Bluepanda4 DFS_PASSWORD=Greenpanda3 "$DFS" -c "$C/dfs.conf" -u AnujS shell \
	<<<$'passwd\nlist'
((RC == 0)) || fail "passwd then list in the shell: exit status $RC ($ERR)"
assert_contains "$OUT" "password changed on every server"
assert_contains "$OUT" "a 4000" "the list in the same shell"
must dfs_as AnujS Bluepanda4 list
ok "the session that changed the password stays usable"

# The current password is proved to every server: a wrong one changes nothing.
assert_fails env DFS_NEW_PASSWORD=x DFS_PASSWORD=wrong "$DFS" -c "$C/dfs.conf" -u AnujS passwd
assert_contains "$ERR" "login as AnujS"
must dfs_as AnujS Bluepanda4 list
ok "passwd with a wrong current password changes nothing"

#!/usr/bin/env bash
# test_user_remove: removing a user keeps or purges their files, and ends their open sessions.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DFSADM=$DFS_BUILD/bin/dfsadm

cluster_up
# k1 is stored as chunk files, k2 (small) in the servers' records databases.
make_random "$T/k1" 300000
make_random "$T/k2" 100
make_random "$T/s1" 3000
must dfs_k put "$T/k1" "$T/k2"
must dfs_s put "$T/s1"

# A libdfs client of AnujK logs in and keeps its session open.
session_hold AnujK wiger
assert_contains "$(session_hold_list)" "list rc=0 files=2" "session holder"
ok "a libdfs client of AnujK is logged in and its session works"

# Removing the user, without --purge, keeps the files and says so.
run "$DFSADM" -f "$C/users.db" remove AnujK
((RC == 0)) || fail "dfsadm remove failed: $ERR"
assert_contains "$OUT" "user AnujK removed; their files stay in the data folders"
assert_contains "$OUT" "--purge --data DIR"
kept=$(find "$C"/data/*/u/AnujK -type f -name '*.[0-9]*' 2>/dev/null | wc -l)
((kept == 8)) || fail "expected 8 chunk files of AnujK kept, found $kept"
ok "dfsadm remove keeps the files by default and says so ($kept chunk files stay)"

# The open session ends at its next call.
second=$(session_hold_list)
[[ $second == "list rc=-13 "* ]] || fail "the removed user's session still works: $second"
session_hold_end
grep -q "user AnujK no longer exists; their sessions end" "$C"/logs/dfsd-*.log ||
	fail "no server logged the end of the removed user's sessions"
ok "the removed user's open session is refused at its next call (EACCES) and the server logs it"

assert_fails dfs_k list
assert_contains "$ERR" "login as AnujK"
must dfs_s get s1 -o "$T/s1.back"
assert_file_eq "$T/s1" "$T/s1.back"
ok "a new login of the removed user is refused; the other user is unaffected"

# --purge needs the data folders, and deletes the files in each.
assert_fails "$DFSADM" -f "$C/users.db" remove AnujK --purge
((RC == 2)) || fail "--purge without --data: exit status $RC, expected 2"
data_args=()
for d in "$C"/data/*; do
	data_args+=(--data "$d")
done
must "$DFSADM" -f "$C/users.db" remove AnujK --purge "${data_args[@]}"
assert_contains "$OUT" "user AnujK was not in the database"
assert_contains "$OUT" "deleted $C/data/1/u/AnujK (2 files, 2 records)"
for d in "$C"/data/*; do
	[[ ! -e $d/u/AnujK ]] || fail "$d/u/AnujK survived --purge"
done
rm -f "$T/s1.back"
must dfs_s get s1 -o "$T/s1.back"
assert_file_eq "$T/s1" "$T/s1.back"
ok "remove --purge --data DIR... deletes the user's files and records in every data folder, nothing else"

# Removing a user and purging in one step; a folder that is not a data folder is refused.
printf 'pw-for-temp\n' | "$DFSADM" -f "$C/users.db" add Temp --iterations 4096 >/dev/null
make_random "$T/t1" 100
must dfs_as Temp pw-for-temp put "$T/t1"
mkdir "$T/not-data"
run "$DFSADM" -f "$C/users.db" remove Temp --purge "${data_args[@]}" --data "$T/not-data"
((RC == 1)) || fail "a non-data folder should make remove --purge fail (status $RC)"
assert_contains "$OUT" "user Temp removed; they can no longer log in"
assert_contains "$ERR" "is not a dfs data folder"
[[ ! -e $C/data/1/u/Temp && ! -e $C/data/2/u/Temp ]] || fail "Temp's files survived --purge"
ok "remove --purge in one step; a folder without FORMAT is left alone and reported"

# The purge ran beside running servers, which counted Temp's files: once their
# housekeeping has run, a new user of that name starts with nothing charged.
printf 'pw-for-temp\n' | "$DFSADM" -f "$C/users.db" add Temp --iterations 4096 >/dev/null
for k in 1 2 3 4; do
	kill -USR1 "$(<"$C/run/dfsd-$k.pid")"
done
for k in 1 2 3 4; do
	eventually grep -q "Temp has no records here any more" "$C/logs/dfsd-$k.log"
done
must dfs_as Temp pw-for-temp status
assert_contains "$OUT" "quota: 0 bytes of no limit, 0 files of no limit" "the new Temp's status"
must dfs_s status
assert_contains "$OUT" "quota:" "AnujS's status"
assert_not_contains "$OUT" "quota: 0 bytes" "AnujS's status"
ok "housekeeping drops the counts of a purged user; a new user of that name is charged nothing"

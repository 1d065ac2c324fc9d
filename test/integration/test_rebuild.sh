#!/usr/bin/env bash
# test_rebuild.sh: a server whose data folder is wiped, or restored from an old backup,
# is rebuilt by repair from the other holders, and never brings back old data.
source "$(dirname "$0")/lib.sh"

cluster_up
# The manual path (dfs repair --all), for servers without a peers file; test_heal has the
# servers rebuilding themselves.
cluster_without_recovery
D=$C/data

mkdir -p "$T/src" "$T/got"
make_random "$T/src/big" $((16 * 1024 * 1024))
make_random "$T/src/small" 1000
make_random "$T/src/odd" 12345
: >"$T/src/empty"
printf 'version one\n' >"$T/src/doc"
printf 'short-lived\n' >"$T/src/gone"
NAMES=(big small odd empty doc gone)
for n in "${NAMES[@]}"; do
	must dfs_s put "$T/src/$n"
done
ok "put ${#NAMES[@]} files (one of 16 MiB, one empty)"

# A backup of server 3 taken while it runs and nothing is written: restored later to
# play the old backup.
tar -C "$D" -cf "$T/backup3.tar" 3
ok "backed up server 3's data folder while it runs"

# --- a new disk: wipe, start empty, repair ---------------------------------------------
cluster stop 3
rm -rf "${D:?}/3"
mkdir -m 0700 "$D/3"
cluster start 3
[[ -f $D/3/FORMAT ]] || fail "server 3 did not initialise its new data folder"
ok "server 3 starts on an empty data folder"

must dfs_s repair --all
printf 'repair after the wipe: %s\n' "$OUT"
# Server 3 holds two chunks of every file.
assert_eq "repaired $((2 * ${#NAMES[@]})) copies" "$OUT" "repair count"
ok "repair --all wrote the $((2 * ${#NAMES[@]})) chunk copies server 3 should hold"
must dfs_s repair --all
assert_eq "repaired 0 copies" "$OUT" "second repair"
must dfs_s status
printf '%s\n' "$OUT"
assert_contains "$(grep '^DFS3 ' "$T/out")" "files ${#NAMES[@]} chunks $((2 * ${#NAMES[@]}))" "DFS3 status"
for s in 1 2 3 4; do
	assert_contains "$(grep "^DFS$s " "$T/out")" "need-repair 0" "DFS$s status"
done
ok "status: server 3 holds every file again, nothing needs repair"

cluster stop 2
cluster stop 4
for n in "${NAMES[@]}"; do
	must dfs_s get "$n" -o "$T/got/$n"
	assert_file_eq "$T/src/$n" "$T/got/$n"
done
ok "with servers 2 and 4 stopped every file reads back byte-exact from 1 and 3"
cluster start 2
cluster start 4

# --- an old backup: overwrite and delete, then restore server 3's old folder ----------
printf 'version two\n' >"$T/src/doc2"
must dfs_s put "$T/src/doc2" --as doc
must dfs_s delete gone
cluster stop 3
rm -rf "${D:?}/3"
tar -C "$D" -xf "$T/backup3.tar"
cluster start 3
ok "server 3 restarted on a backup from before an overwrite and a delete"

rm -f "$T/got/doc"
must dfs_s get doc -o "$T/got/doc"
assert_file_eq "$T/src/doc2" "$T/got/doc"
ok "get returns the new content, not the backup's"
must dfs_s list
assert_eq "" "$(list_size gone)" "listed size of the deleted file"
assert_eq "$(stat -c %s "$T/src/doc2")" "$(list_size doc)" "listed size of doc"
rm -f "$T/got/gone"
assert_fails dfs_s get gone -o "$T/got/gone"
assert_transfer_failed
assert_no_file "$T/got/gone"
ok "the deleted file stays deleted (list, get)"

must dfs_s repair --all
printf 'repair after the restore: %s\n' "$OUT"
must dfs_s status
assert_contains "$(grep '^DFS3 ' "$T/out")" "files $((${#NAMES[@]} - 1)) chunks $((2 * ${#NAMES[@]} - 2))" "DFS3 status"
for s in 1 2 3 4; do
	assert_contains "$(grep "^DFS$s " "$T/out")" "need-repair 0" "DFS$s status"
done
cluster stop 2
cluster stop 4
rm -f "$T/got/doc"
must dfs_s get doc -o "$T/got/doc"
assert_file_eq "$T/src/doc2" "$T/got/doc"
assert_fails dfs_s get gone -o "$T/got/gone"
assert_transfer_failed
must dfs_s list
assert_eq "" "$(list_size gone)" "listed size of the deleted file"
for n in big small odd empty; do
	rm -f "$T/got/$n"
	must dfs_s get "$n" -o "$T/got/$n"
	assert_file_eq "$T/src/$n" "$T/got/$n"
done
ok "after repair, with 2 and 4 stopped, server 3 serves the current versions and no deleted file"

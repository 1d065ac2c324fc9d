#!/usr/bin/env bash
# test_fault_enospc: server 3's data folder is a 40 MiB tmpfs that fills up. A put that
# does not fit there degrades to the other holders (or fails) with a message naming
# server 3; nothing stored before is lost, and the failed upload leaves no space taken.
# Needs root (mount); skipped with a message otherwise.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IN=$T/in
DEST=$T/dest
mkdir -p "$IN" "$DEST" "$C/data/3"
MNT=$C/data/3
if [[ $(id -u) -ne 0 ]] || ! mount -t tmpfs -o size=40m,mode=0700 tmpfs "$MNT" 2>"$T/mount.err"; then
	printf 'SKIP: test_fault_enospc needs to mount a tmpfs (root): %s\n' \
		"$(cat "$T/mount.err" 2>/dev/null)"
	exit 0
fi
# The cluster must be down before the tmpfs goes, and the tmpfs gone before $T is removed.
enospc_teardown() {
	"$DFS_CLUSTER" -d "$C" down >/dev/null 2>&1
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
}
on_exit enospc_teardown

cluster_up

# used_kib: space used on server 3's filesystem.
used_kib() {
	df -k --output=used "$MNT" | tail -n 1 | tr -d ' '
}

# Files stored before the disk fills: all of them have chunks on DFS3 (every server
# holds two chunks of every file).
names=(keep-a keep-b keep-c keep-d)
for n in "${names[@]}"; do
	make_random "$IN/$n" $((3 * 1024 * 1024 + RANDOM))
done
must dfs_s put "${names[@]/#/$IN/}"
must dfs_s status --json
ok "stored ${#names[@]} files; DFS3 uses $(used_kib) KiB of 40 MiB"

check_kept() {
	local n
	for n in "${names[@]}"; do
		rm -f "$DEST/$n"
		must dfs_s get "$n" -o "$DEST/$n"
		assert_file_eq "$IN/$n" "$DEST/$n"
	done
}

# --- a chunk far larger than the free space --------------------------------------------
before=$(used_kib)
make_random "$IN/huge" $((200 * 1024 * 1024))
run dfs_s put "$IN/huge"
PUT_ERR=$ERR
assert_contains "$ERR" "server 3" "message about the full server"
assert_contains "$ERR" "out of space" "message about the full server"
if ((RC == 0)); then
	rm -f "$DEST/huge"
	must dfs_s get huge -o "$DEST/huge"
	assert_file_eq "$IN/huge" "$DEST/huge"
	what="degraded to the other holders"
else
	[[ $ERR == dfs:* ]] || fail "error does not begin with 'dfs: ': $ERR"
	what="failed"
fi
after=$(used_kib)
((after <= before + 1024)) || fail "the refused upload left space taken on DFS3: $before -> $after KiB"
assert_eq "" "$(find "$MNT/tmp" -mindepth 1)" "DFS3 tmp/ after the refused upload"
check_kept
printf '%s\n' "$PUT_ERR" | sed 's/^/    /' 
ok "a 200 MiB put with a full DFS3 $what, naming server 3; earlier files intact, no space leaked"
rm -f "$IN/huge" "$DEST/huge"

# --- chunks that fit one at a time but not together (the disk fills mid-put) -----------
free_kib=$(df -k --output=avail "$MNT" | tail -n 1 | tr -d ' ')
# Two chunks of a file land on DFS3; make each about 70% of the free space.
size=$((free_kib * 1024 * 28 / 10))
make_random "$IN/fill" "$size"
before=$(used_kib)
run dfs_s put "$IN/fill"
PUT_ERR=$ERR
assert_contains "$ERR" "server 3" "message about the full server"
assert_contains "$ERR" "out of space" "message about the full server"
if ((RC == 0)); then
	rm -f "$DEST/fill"
	must dfs_s get fill -o "$DEST/fill"
	assert_file_eq "$IN/fill" "$DEST/fill"
	what="degraded"
else
	what="failed"
fi
assert_eq "" "$(find "$MNT/tmp" -mindepth 1)" "DFS3 tmp/ after the failed upload"
check_kept
printf '%s\n' "$PUT_ERR" | sed 's/^/    /'
ok "a put whose two chunks on DFS3 exceed its free space ($free_kib KiB) $what, naming server 3; earlier files intact"

# --- the earlier files still read from DFS3's own copies ------------------------------
# With the neighbours 2 and 4 down, each file's chunks come from DFS1 and DFS3 only.
cluster stop 2
cluster stop 4
check_kept
cluster start 2
cluster start 4
# Scrub finds nothing corrupt, and says that the copies the full DFS3 lacks cannot be made
# good while it is full.
run dfs_s scrub --json
assert_contains "$OUT" '"corrupt": 0' "scrub"
if [[ $OUT != *'"failed": 0'* ]]; then
	((RC != 0)) || fail "scrub left copies missing and exited 0"
	assert_contains "$ERR" "server 3" "scrub's warning"
	assert_contains "$ERR" "out of space" "scrub's warning"
fi
ok "DFS3's copies of the earlier files are whole (read with DFS2 and DFS4 down; scrub clean)"

# --- space freed: puts work again -------------------------------------------------------
run dfs_s delete fill
run dfs_s delete huge
make_random "$IN/after" $((2 * 1024 * 1024))
must dfs_s put "$IN/after"
assert_not_contains "$ERR" "server 3" "put after freeing space"
rm -f "$DEST/after"
must dfs_s get after -o "$DEST/after"
assert_file_eq "$IN/after" "$DEST/after"
ok "after deletes free DFS3, a put is stored on every holder again"

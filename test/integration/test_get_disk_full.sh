#!/usr/bin/env bash
# test_get_disk_full: a get into a folder that runs out of room while the chunks are
# written fails with "Transfer failed", exits non-zero and leaves neither the file nor a
# partial one; a get of the same file into a folder with room gives it byte for byte.
# Needs root (mount); skipped with a message otherwise.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IN=$T/in
SMALL=$T/small
BIG=$T/big
mkdir -p "$IN" "$SMALL" "$BIG"
if [[ $(id -u) -ne 0 ]] || ! mount -t tmpfs -o size=8m,mode=0700 tmpfs "$SMALL" 2>"$T/mount.err"; then
	printf 'SKIP: test_get_disk_full needs to mount a tmpfs (root): %s\n' \
		"$(cat "$T/mount.err" 2>/dev/null)"
	exit 0
fi
if ! mount -t tmpfs -o size=64m,mode=0700 tmpfs "$BIG" 2>"$T/mount.err"; then
	umount "$SMALL"
	fail "cannot mount a second tmpfs: $(cat "$T/mount.err")"
fi
# The tmpfs folders must be gone before $T is removed.
full_teardown() {
	umount "$SMALL" 2>/dev/null || umount -l "$SMALL" 2>/dev/null
	umount "$BIG" 2>/dev/null || umount -l "$BIG" 2>/dev/null
}
on_exit full_teardown

cluster_up

# Four chunks of 6 MiB: each chunk thread writes blocks until the 8 MiB folder is full.
make_random "$IN/large" $((24 * 1024 * 1024 + 12345))
must dfs_s put "$IN/large"
ok "stored a 24 MiB file"

run dfs_s get large -o "$SMALL/large"
assert_transfer_failed
assert_contains "$ERR" "cannot write the local copy: No space left on device" "stderr"
assert_not_contains "$ERR" "server" "stderr"
assert_no_file "$SMALL/large"
leftover=$(find "$SMALL" -mindepth 1 | head -n 5)
[[ -z $leftover ]] || fail "a failed get left files behind: $leftover"
ok "a get into a folder without room: Transfer failed, exit $RC, nothing left behind"

# The same with an existing file at the target: it stays as it was.
printf 'old contents\n' >"$SMALL/large"
run dfs_s get large -o "$SMALL/large"
assert_transfer_failed
assert_eq "old contents" "$(cat "$SMALL/large")" "the file at the target"
ok "a failed get leaves the file it would replace untouched"
rm -f "$SMALL/large"

must dfs_s get large -o "$BIG/large"
assert_file_eq "$IN/large" "$BIG/large"
ok "the same get into a folder with room gives the file byte for byte"

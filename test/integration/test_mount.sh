#!/usr/bin/env bash
# test_mount: dfs mount under the kernel's FUSE: trees in and out with cp -r and rsync,
# ranged reads, stores on close with their errors, rename, folders, unmount.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ! -c /dev/fuse ]]; then
	echo "test_mount: skipped: /dev/fuse does not exist here (no FUSE in this kernel or container)"
	exit 77
fi
command -v fusermount3 >/dev/null || {
	echo "test_mount: skipped: fusermount3 is not installed (Debian package fuse3)"
	exit 77
}

DFSADM=$DFS_BUILD/bin/dfsadm
MNT=$T/mnt
CACHE=$T/cache
mkdir -p "$MNT" "$T/src" "$T/dst"

# mount_pids: the processes of dfs mount serving $MNT.
mount_pids() {
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -Fq " $MNT " && echo "${p#/proc/}"
	done
	return 0
}

# unmount: fusermount3 -u, then the serving process must end by itself.
unmount() {
	local i
	must fusermount3 -u "$MNT"
	for ((i = 0; i < 100; i++)); do
		[[ -z $(mount_pids) ]] && return 0
		sleep 0.1
	done
	fail "dfs mount still runs after fusermount3 -u"
}

do_mount() {
	must dfs_s mount "$MNT" --cache "$CACHE"
	mountpoint -q "$MNT" || fail "dfs mount exited 0 but $MNT is not a mount point"
}

# A mount whose process died is no mount point any more, yet still mounted: unmount anyway.
on_exit 'fusermount3 -uz "$MNT" 2>/dev/null; for p in $(mount_pids); do kill "$p"; done'

# bytes_read: the chunk bytes every server has served with READ.
bytes_read() {
	dfs_s status --json | python3 -c 'import json, sys
print(sum(s["bytes_read"] for s in json.load(sys.stdin)))'
}

cluster_up

# A bad password is reported by the command itself, and nothing is mounted.
run dfs_as AnujS wrong-password mount "$MNT" --cache "$CACHE"
((RC != 0)) || fail "mount with a bad password exited 0"
assert_contains "$ERR" "login" "stderr of a mount with a bad password"
mountpoint -q "$MNT" && fail "a mount with a bad password mounted"
ok "a bad password fails the mount with a non-zero exit, on the terminal"

assert_eq "--cache" "$(complete_words dfs mount --ca)" "completion of 'dfs mount --ca'"
must "$DFS" mount --help
assert_contains "$OUT" "fusermount3 -u" "dfs mount --help"
must "$DFS" --help
assert_contains "$OUT" "mount MOUNTPOINT" "dfs --help"
ok "dfs --help, dfs mount --help and bash completion know the command"

do_mount
[[ $(stat -c %a "$CACHE") == 700 ]] || fail "cache folder mode is $(stat -c %a "$CACHE")"
ok "dfs mount goes to the background once mounted; the cache folder is mode 0700"

# A tree in with cp -r, out with cp -r and rsync -a, and through dfs itself.
mkdir -p "$T/src/tree/a/b" "$T/src/tree/c" "$T/src/tree/empty"
make_random "$T/src/tree/top.bin" 300000
make_random "$T/src/tree/a/one" 1000
make_random "$T/src/tree/a/b/two" 5000000
printf 'hello\n' >"$T/src/tree/c/three.txt"
: >"$T/src/tree/c/zero"
must cp -r "$T/src/tree" "$MNT/"
must diff -r "$T/src/tree" "$MNT/tree"
ok "cp -r of a tree into the mount, diff -r against the original"

must dfs_s get -r tree -d "$T/dst"
# An empty folder is not stored: it lasts as long as the mount.
must diff -r -x empty "$T/src/tree" "$T/dst/tree"
[[ -e $T/dst/tree/empty ]] && fail "an empty folder was stored"
ok "the files cp wrote are stored: dfs get -r fetches the same tree"

assert_eq "$(cd "$T/src" && find tree | sort)" "$(cd "$MNT" && find tree | sort)" "find of the tree"
assert_eq "$(printf 'a\nc\nempty\ntop.bin')" "$(ls "$MNT/tree")" "ls of a folder"
assert_eq "5000000" "$(stat -c %s "$MNT/tree/a/b/two")" "size in the mount"
[[ -d $MNT/tree/a/b ]] || fail "tree/a/b is not a folder"
ok "find and ls show the folders; stat gives the stored size"

before=$(bytes_read)
must rsync -a "$T/src/tree/" "$MNT/synced/"
after=$(bytes_read)
must diff -r "$T/src/tree" "$MNT/synced"
# rsync writes each file under a temporary name and renames it: the rename
# stores the copy just written, without fetching it back.
assert_eq 0 "$((after - before))" "bytes read from the servers by rsync -a into the mount"
must rsync -a "$MNT/synced/" "$T/dst/synced/"
must diff -r "$T/src/tree" "$T/dst/synced"
must cp -r "$MNT/tree" "$T/dst/copied"
must diff -r "$T/src/tree" "$T/dst/copied"
ok "rsync -a into and out of the mount, cp -r out of it"

# Another user's files are not visible.
printf 'secret\n' >"$T/src/k-only"
must dfs_k put "$T/src/k-only"
[[ -e $MNT/k-only ]] && fail "AnujK's file is visible in AnujS's mount"
must dfs_s put "$T/src/k-only" --as s-own
sleep 1.1 # the listing is kept for a second
[[ -f $MNT/s-own ]] || fail "a file put with dfs does not appear in the mount"
[[ -e $MNT/k-only ]] && fail "AnujK's file is visible in AnujS's mount"
ok "another user's files are not visible; a file put with dfs appears"

# A lookup asks the servers for the one name it looks up; only listing a folder
# reads every name in it.
mkdir -p "$T/src/crowd"
for i in $(seq 1 200); do printf '%d\n' "$i" >"$T/src/crowd/f$i"; done
(cd "$T/src" && must dfs_s put -r crowd)
# cheap_stat PATH: whether a stat of PATH, past the listing kept, has some server send
# fewer than 20 records in listings. Three tries: a recovery pass between the servers
# lists too, and is counted alike.
cheap_stat() {
	local i
	for i in 1 2 3; do
		sleep 1.1
		sent stat "$1"
		((SENT < 20)) && return 0
	done
	return 1
}
cheap_stat "$MNT/s-own" || fail "a server sent $SENT records in listings for a stat of one file"
cheap_stat "$MNT/crowd/f150" ||
	fail "a server sent $SENT records in listings for a stat in a folder of 200"
sent ls "$MNT/crowd"
((SENT >= 200)) || fail "a server sent $SENT records to list a folder of 200 files"
assert_eq 200 "$(find "$MNT/crowd" -type f | wc -l)" "files in the mount's crowd folder"
ok "a lookup reads one name or two of the servers' index, a folder listing all of it"

# A partial read moves about one window, not the file.
make_random "$T/src/big" $((64 << 20))
must cp "$T/src/big" "$MNT/big"
before=$(bytes_read)
dd if="$MNT/big" of="$T/dst/part" bs=100 count=1 status=none || fail "dd from the mount"
after=$(bytes_read)
cmp -s "$T/dst/part" <(head -c 100 "$T/src/big") || fail "the first 100 bytes differ"
moved=$((after - before))
((moved > 0 && moved <= 8 << 20)) || fail "a 100-byte read moved $moved bytes from the servers"
ok "a 100-byte read of a 64 MiB file fetched $moved bytes, one window"

before=$(bytes_read)
dd if="$MNT/big" of="$T/dst/middle" bs=1M skip=40 count=1 status=none || fail "dd skip"
after=$(bytes_read)
cmp -s "$T/dst/middle" <(tail -c +$((40 * 1048576 + 1)) "$T/src/big" | head -c 1048576) ||
	fail "1 MiB read at 40 MiB differs"
moved=$((after - before))
((moved > 0 && moved <= 8 << 20)) || fail "a 1 MiB read in the middle moved $moved bytes"
ok "a read in the middle of the file fetches only its window"

# A copy that fails its checksum is not returned: the other holder's is, and with both
# copies bad the read fails.
make_random "$T/src/rot" 1000000
must cp "$T/src/rot" "$MNT/rot"
must cp "$T/src/rot" "$MNT/rot2"
flip "$(chunk_file "$(holder rot 2 0)" rot 2)" 1000
cat "$MNT/rot" >"$T/dst/rot" || fail "reading a file with one bad copy of a chunk failed"
assert_file_eq "$T/src/rot" "$T/dst/rot"
flip "$(chunk_file "$(holder rot2 2 0)" rot2 2)" 1000
flip "$(chunk_file "$(holder rot2 2 1)" rot2 2)" 2000
run cp "$MNT/rot2" "$T/dst/rot2"
((RC != 0)) || fail "a chunk whose copies both fail the checksum was read"
assert_contains "$ERR" "Input/output error" "reading a chunk with both copies bad"
must dfs_s delete rot rot2
ok "a bad copy is read from the other holder; with both bad, the read fails with EIO"

# Concurrent readers of one file each get all of it.
pids=()
for i in 1 2 3 4; do
	cat "$MNT/big" >"$T/dst/reader-$i" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || fail "a concurrent reader failed"
done
for i in 1 2 3 4; do
	assert_file_eq "$T/src/big" "$T/dst/reader-$i"
done
ok "four concurrent readers of a 64 MiB file each read it whole"

# Memory is measured by bench/run (a sanitizer build needs far more); shown here only.
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$(mount_pids | head -n 1)/status")
printf "the mount's peak RSS after four concurrent readers: %d MiB\n" $((hwm >> 10))

# A read in order is fetched ahead window by window, each byte once.
before=$(bytes_read)
cmp "$MNT/big" "$T/src/big" || fail "a sequential read of a 64 MiB file differs"
after=$(bytes_read)
moved=$((after - before))
((moved >= 64 << 20 && moved <= 72 << 20)) || fail "reading 64 MiB in order moved $moved bytes"
ok "a sequential read of a multi-chunk file matches (cmp), each byte fetched once ($moved bytes)"

# Run as root, the mount raises its kernel read-ahead from the 128 KiB default
# once a file was opened (requests then move up to 1 MiB).
if [[ $(id -u) == 0 ]]; then
	dev=$(awk -v mp="$(realpath "$MNT")" '$5 == mp && / - fuse/ {d = $3} END {print d}' \
		/proc/self/mountinfo)
	[[ -n $dev ]] || fail "the mount is not in /proc/self/mountinfo"
	ra=$(cat "/sys/class/bdi/$dev/read_ahead_kb")
	((ra == 1024)) || fail "the mount's read-ahead is $ra KiB, not 1024"
	ok "the mount raised its kernel read-ahead to 1024 KiB (device $dev)"
fi

# A large chunk read in order through windows (each half from another holder) is checked
# whole: with both of its copies bad, reading it fails with EIO instead of returning them.
make_random "$T/src/bigrot" $((32 << 20))
must cp "$T/src/bigrot" "$MNT/bigrot"
flip "$(chunk_file "$(holder bigrot 3 0)" bigrot 3)" 5000000
flip "$(chunk_file "$(holder bigrot 3 1)" bigrot 3)" 5000000
run cp "$MNT/bigrot" "$T/dst/bigrot"
((RC != 0)) || fail "a sequential read through a chunk whose copies both fail the checksum exited 0"
assert_contains "$ERR" "Input/output error" "reading an 8 MiB chunk with both copies bad"
must dfs_s delete bigrot
ok "a bad 8 MiB chunk read in order through read-ahead windows fails with EIO"

# A file replaced by another client while it is read: the reader gets the version it
# opened whole, or EIO, never a mix; the next open reads the new version.
make_random "$T/src/v1" $((24 << 20))
make_random "$T/src/v2" $((24 << 20))
must dfs_s put "$T/src/v1" --as moving
sleep 1.1 # the listing is kept for a second
run env DFS_PASSWORD=Bluepanda python3 -c 'import subprocess, sys
src, out, dfs, conf, v2 = sys.argv[1:]
with open(src, "rb", buffering=0) as f, open(out, "wb") as o:
    o.write(f.read(8 << 20))
    subprocess.run([dfs, "-c", conf, "-u", "AnujS", "put", v2, "--as", "moving"],
                   check=True, stdout=subprocess.DEVNULL)
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        o.write(b)' "$MNT/moving" "$T/dst/moving" "$DFS" "$C/dfs.conf" "$T/src/v2"
if ((RC == 0)); then
	cmp -s "$T/dst/moving" "$T/src/v1" || cmp -s "$T/dst/moving" "$T/src/v2" ||
		fail "a read during a replacing put returned a mix of versions"
else
	assert_contains "$ERR" "Input/output error" "a read failing during a replacing put"
fi
cmp -s "$MNT/moving" "$T/src/v2" || fail "an open after the put does not read the new version"
must dfs_s delete moving
ok "a read while another client replaces the file returns one version whole, the next open the new"

# An editor's save: write a temporary file, fsync it, rename it over the original.
printf 'first draft\n' >"$MNT/notes.txt"
python3 - "$MNT" <<'EOF' || fail "editor-style save"
import os, sys
d = sys.argv[1]
tmp = os.path.join(d, ".notes.txt.swp")
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"second draft\n")
os.fsync(fd)
os.close(fd)
os.rename(tmp, os.path.join(d, "notes.txt"))
EOF
must dfs_s get notes.txt -o -
assert_eq "second draft" "$OUT" "notes.txt after the save"
[[ -e $MNT/.notes.txt.swp ]] && fail "the temporary file is still there after the rename"
must dfs_s list
[[ $OUT == *".notes.txt.swp"* ]] && fail "the temporary file is still stored"
ok "write, fsync, rename over the original: dfs get shows the new content"

# Appending, truncating, deleting, and folders made with mkdir.
printf 'more\n' >>"$MNT/notes.txt"
assert_eq "$(printf 'second draft\nmore')" "$(cat "$MNT/notes.txt")" "appended file"
truncate -s 6 "$MNT/notes.txt"
must dfs_s get notes.txt -o -
assert_eq "second" "$OUT" "truncated file"
rm "$MNT/notes.txt"
[[ -e $MNT/notes.txt ]] && fail "a removed file is still there"
run dfs_s get notes.txt -o -
((RC != 0)) || fail "a file removed in the mount can still be fetched"
mkdir "$MNT/newdir"
[[ -d $MNT/newdir ]] || fail "mkdir made no folder"
run rmdir "$MNT/tree"
((RC != 0)) || fail "rmdir of a folder with files succeeded"
rmdir "$MNT/newdir" || fail "rmdir of an empty folder"
[[ -e $MNT/newdir ]] && fail "an empty folder survives rmdir"
ok "O_APPEND, truncate, unlink, mkdir, rmdir of an empty folder (a full one refused)"

# A quota error is returned by close(), as EDQUOT.
must "$DFSADM" -f "$C/users.db" quota AnujS 100M
make_random "$T/src/over" $((40 << 20))
run cp "$T/src/over" "$MNT/over"
((RC != 0)) || fail "cp over the quota exited 0"
assert_contains "$ERR" "Disk quota exceeded" "cp's error over the quota"
quota_err=$(tail -n 1 "$T/err")
must dfs_s list
[[ $OUT == *"over "* ]] && fail "a file over the quota is listed"
must "$DFSADM" -f "$C/users.db" quota AnujS 0
ok "a store over the quota fails close() with EDQUOT ($quota_err)"

# Unmount while idle: the process ends and the cache folder is left empty.
unmount
mountpoint -q "$MNT" && fail "still mounted"
[[ -z $(ls -A "$CACHE") ]] || fail "the cache folder keeps files: $(ls -A "$CACHE")"
ok "fusermount3 -u unmounts an idle mount; the staged files are gone"

# -f stays in the foreground; SIGTERM unmounts and ends it with status 0.
DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS mount -f "$MNT" --cache "$CACHE" \
	2>"$T/fg.err" &
fg_pid=$!
for ((i = 0; i < 100; i++)); do
	mountpoint -q "$MNT" && break
	sleep 0.1
done
mountpoint -q "$MNT" || fail "dfs mount -f did not mount: $(cat "$T/fg.err")"
assert_eq "hello" "$(cat "$MNT/tree/c/three.txt")" "a file read through the -f mount"
kill -TERM "$fg_pid"
fg_rc=0
wait "$fg_pid" || fg_rc=$?
assert_eq 0 "$fg_rc" "exit status of dfs mount -f after SIGTERM"
mountpoint -q "$MNT" && fail "still mounted after SIGTERM"
ok "dfs mount -f serves in the foreground; SIGTERM unmounts it and it exits 0"

# Two neighbouring servers down: a file cannot be stored, close() fails, nothing is listed.
cluster kill 1
cluster kill 2
do_mount
run cp "$T/src/tree/a/one" "$MNT/lost"
((RC != 0)) || fail "cp into the mount with servers 1 and 2 down exited 0"
must dfs_s list
[[ $OUT == *"lost "* ]] && fail "a file that could not be stored is listed"
[[ -e $MNT/lost ]] && fail "a file that could not be stored is in the mount"
ok "with two neighbouring servers down, cp fails and leaves nothing listed"

# Back from the outage, the mount logs in again and stores files.
cluster start 1
cluster start 2
for ((i = 0; i < 60; i++)); do
	cp "$T/src/tree/a/one" "$MNT/back" 2>/dev/null && break
	sleep 0.5
done
((i < 60)) || fail "the mount did not recover after servers 1 and 2 came back"
must dfs_s get back -o "$T/dst/back"
assert_file_eq "$T/src/tree/a/one" "$T/dst/back"
ok "once the servers are back the mount uses them again"

# Every server down: requests fail with EIO instead of hanging.
for k in 1 2 3 4; do
	cluster kill "$k"
done
sleep 1.1 # past the listing kept for a second
run ls "$MNT/tree"
((RC != 0)) || fail "ls with every server down exited 0"
assert_contains "$ERR" "Input/output error" "ls with every server down"
ok "with every server down, ls fails with EIO"
unmount

#!/usr/bin/env bash
# test_get_targets: what `dfs get -o` and `-d` do with targets that are not plain files:
# devices, FIFOs and sockets are written into (never replaced), symbolic links are followed
# and their target replaced, and -d DIR never writes outside DIR.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

READER=
on_exit '[[ -n $READER ]] && kill "$READER" 2>/dev/null'

cluster_up

IN=$T/in
W=$T/w
mkdir -p "$IN" "$W"
make_random "$IN/large" $((3 * 1024 * 1024 + 5))
make_random "$IN/small" $((20 * 1024 + 3))
must dfs_s put "$IN/large" "$IN/small"

# Character devices: written into, still devices afterwards. A dfs that replaced its target
# would, run as root, replace the system's /dev/null; so the same devices are tried first as
# nodes of this test's own (where it may create them), and /dev/null only once they pass.
NULL=/dev/null FULL=/dev/full
if mknod "$W/null" c 1 3 2>/dev/null && mknod "$W/full" c 1 7 2>/dev/null &&
	echo x >"$W/null" 2>/dev/null; then
	NULL=$W/null FULL=$W/full
fi
for dev in "$NULL" /dev/null; do
	for f in large small; do
		must dfs_s get "$f" -o "$dev"
		[[ -c $dev ]] || fail "$dev is no longer a character device"
	done
	assert_fails dfs_s get nosuchfile -o "$dev"
	assert_transfer_failed
	[[ -c $dev ]] || fail "$dev is no longer a character device"
done
assert_fails dfs_s get small -o "$FULL"
assert_transfer_failed
assert_contains "$ERR" "No space left on device" "stderr"
[[ -c $FULL ]] || fail "$FULL is no longer a character device"
ok "-o /dev/null is written into and stays a device; /dev/full fails the get"

# FIFOs: a reader gets the bytes, the FIFO stays a FIFO.
mkfifo "$W/fifo"
for f in large small; do
	cat "$W/fifo" >"$W/fifo.out" &
	READER=$!
	must dfs_s get "$f" -o "$W/fifo"
	wait "$READER"
	READER=
	[[ -p $W/fifo ]] || fail "the FIFO was replaced"
	assert_file_eq "$IN/$f" "$W/fifo.out"
done
# A failed get never opens the FIFO, so it does not wait for a reader that never comes.
run timeout 60 "$DFS" -c "$C/dfs.conf" -u AnujS --password-file <(echo Bluepanda) \
	get nosuchfile -o "$W/fifo"
((RC != 124)) || fail "a failed get to a FIFO without a reader hung"
assert_transfer_failed
[[ -p $W/fifo ]] || fail "the FIFO was replaced"
ok "-o FIFO: a reader gets every byte; a failed get neither waits for one nor replaces it"

# /dev/stdout, a pipe or a file.
DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS get large -o /dev/stdout | cat >"$W/piped"
assert_file_eq "$IN/large" "$W/piped"
DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS get small -o /dev/stdout >"$W/redirected"
assert_file_eq "$IN/small" "$W/redirected"
ok "-o /dev/stdout works into a pipe and into a file"

# A Unix socket: connected to and written into.
python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept()
with open(sys.argv[2], "wb") as f:
    while True:
        b = c.recv(65536)
        if not b:
            break
        f.write(b)' "$W/sock" "$W/sock.out" &
READER=$!
eventually test -S "$W/sock"
must dfs_s get small -o "$W/sock"
wait "$READER"
READER=
[[ -S $W/sock ]] || fail "the socket was replaced"
assert_file_eq "$IN/small" "$W/sock.out"
ok "-o SOCKET: the bytes go to whoever listens on it"

# Symbolic links are followed, as cp does: the link stays, its target gets the new bytes.
mkdir -p "$W/real"
for f in large small; do
	echo old >"$W/real/$f.target"
	ln -s "real/$f.target" "$W/$f.link"            # relative
	ln -s "$W/$f.link" "$W/$f.link2"               # a link to a link
	ln -s "$W/real/$f.new" "$W/$f.dangling"        # to a file not there yet
	must dfs_s get "$f" -o "$W/$f.link2"
	[[ -L $W/$f.link && -L $W/$f.link2 ]] || fail "a symbolic link was replaced ($f)"
	assert_file_eq "$IN/$f" "$W/real/$f.target"
	must dfs_s get "$f" -o "$W/$f.dangling"
	[[ -L $W/$f.dangling ]] || fail "a dangling symbolic link was replaced ($f)"
	assert_file_eq "$IN/$f" "$W/real/$f.new"
done
assert_eq "" "$(find "$W" -name '.*dfs-*')" "temporary files left"
ok "-o SYMLINK: the link stays a link, the file it names is replaced whole"

# Failures leave links and their targets alone.
echo keep >"$W/real/kept"
ln -s "$W/real/kept" "$W/kept.link"
assert_fails dfs_s get nosuchfile -o "$W/kept.link"
assert_transfer_failed
[[ -L $W/kept.link ]] || fail "a failed get replaced the link"
assert_eq keep "$(cat "$W/real/kept")" "the link's target after a failed get"
ln -s "$W/no/such/folder/file" "$W/nowhere.link"
assert_fails dfs_s get small -o "$W/nowhere.link"
assert_transfer_failed
[[ -L $W/nowhere.link ]] || fail "a failed get replaced the link"
assert_fails dfs_s get small -o "$W/real"
assert_transfer_failed
[[ -d $W/real ]] || fail "a folder given to -o was replaced"
ok "failed gets to links, folders and missing folders exit non-zero and change nothing"

# -d DIR: a link in DIR that leads out of it is not followed; one inside DIR is.
mkdir -p "$W/dir" "$W/outside"
echo untouched >"$W/outside/large"
ln -s "$W/outside/large" "$W/dir/large"
echo inside >"$W/dir/small.real"
ln -s small.real "$W/dir/small"
assert_fails dfs_s get large small -d "$W/dir"
assert_transfer_failed
assert_contains "$ERR" "out of" "stderr"
assert_eq untouched "$(cat "$W/outside/large")" "the file outside DIR"
[[ -L $W/dir/large ]] || fail "the link out of DIR was replaced"
assert_file_eq "$IN/small" "$W/dir/small.real"
[[ -L $W/dir/small ]] || fail "the link inside DIR was replaced"
ok "-d DIR: a link out of DIR is refused, a link within DIR is followed"

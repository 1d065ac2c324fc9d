#!/usr/bin/env bash
# test_inline_chunks: the chunks of small files are kept in each server's records database,
# not as files: they read back, are replaced and deleted with their file, survive a server
# killed with SIGKILL, and a flipped byte in the database is found by the client and by the
# scrub, quarantined and rewritten from the other copy; inline_max 0 keeps them as files.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# chunk_file_count: chunk files of AnujS on every server.
chunk_file_count() {
	find "$C"/data/*/u/AnujS -type f -name '*.[0-9]*' 2>/dev/null | wc -l
}

# copy_good NAME SERVER: fails while dfs stat shows SERVER's copy of NAME as corrupt.
copy_good() {
	dfs_s stat "$1" >"$T/stat" 2>&1 || return 1
	! grep -q "DFS$2 corrupt" "$T/stat"
}

cd "$T" || fail "cd $T"
# shellcheck disable=SC2119 # the default cluster folder
cluster_up
mkdir -p "$T/src" "$T/got"
for i in 1 2 3 4 5 6 7 8; do
	make_random "$T/src/s$i" $((i * 1000))
done
make_random "$T/src/big" 600000
must dfs_s put "$T"/src/s* "$T/src/big"
((big_chunks = 8)) # 4 chunks, 2 copies each
assert_eq "$big_chunks" "$(chunk_file_count)" "chunk files after putting 8 small files and one large"
for i in 1 2 3 4 5 6 7 8; do
	must dfs_s get "s$i" -o "$T/got/s$i"
	assert_file_eq "$T/src/s$i" "$T/got/s$i"
done
ok "small files keep their chunks in the records database (no chunk file) and read back"

make_random "$T/src/s1" 2500
must dfs_s put "$T/src/s1"
must dfs_s get s1 -o "$T/got/s1.new"
assert_file_eq "$T/src/s1" "$T/got/s1.new"
must dfs_s delete s2
assert_fails dfs_s get s2 -o "$T/got/s2.gone"
[[ ! -e $T/got/s2.gone ]] || fail "a failed get left a file"
must dfs_s list
assert_eq "" "$(list_size s2)" "size listed for the deleted s2"
assert_eq 2500 "$(list_size s1)" "size listed for the replaced s1"
ok "a replaced small file reads its new bytes; a deleted one is gone"

# A server killed in the middle of a run of small puts loses nothing it acknowledged.
mkdir -p "$T/many"
for i in $(seq 1 400); do
	make_random "$T/many/m$i" 700
done
dfs_s put "$T"/many/m* >/dev/null 2>&1 &
put_pid=$!
sleep 0.2
cluster kill 2
wait "$put_pid" || true
cluster start 2
mkdir -p "$T/got/many"
must dfs_s get $(cd "$T/many" && ls) -d "$T/got/many"
diff -r "$T/many" "$T/got/many" >/dev/null || fail "files read back differ from those put"
ok "with a server killed during a put of 400 small files and restarted, every file reads back"

# Bit rot inside the database: the client reads the other copy and rewrites the bad one.
make_random "$T/src/rot" 4000
must dfs_s put "$T/src/rot"
bad=$(holder rot 2 0)
flip_chunk "$bad" rot 2 "$T/src/rot" 10
must dfs_s get rot -o "$T/got/rot"
assert_file_eq "$T/src/rot" "$T/got/rot"
assert_contains "$ERR" "repaired:" "get's report"
assert_contains "$ERR" "server $bad" "get's report"
ok "a flipped byte in a chunk kept in the database: get returns the right bytes"

# The scrub finds one too, sets it aside and the cluster rewrites it.
make_random "$T/src/rot2" 4000
must dfs_s put "$T/src/rot2"
bad=$(holder rot2 3 0)
flip_chunk "$bad" rot2 3 "$T/src/rot2" 0
scrub_now "$bad"
assert_eq 1 "$(metric "$bad" dfs_scrub_corrupt_copies_total)" "corrupt copies counted on $bad"
hash=$(printf '%s' rot2 | sha256sum | cut -c1-64)
compgen -G "$C/data/$bad/quarantine/AnujS-$hash-*.3" >/dev/null ||
	fail "no quarantined copy: $(ls "$C/data/$bad/quarantine" 2>&1)"
must dfs_s get rot2 -o "$T/got/rot2"
assert_file_eq "$T/src/rot2" "$T/got/rot2"
eventually copy_good rot2 "$bad"
scrub_now "$bad"
assert_eq 1 "$(metric "$bad" dfs_scrub_corrupt_copies_total)" "corrupt copies after a second pass"
ok "the scrub quarantines a bad chunk kept in the database, and it is rewritten"

# inline_max 0: every chunk is a file.
must dfs_s delete s1 s3 s4 s5 s6 s7 s8 rot rot2 big
must dfs_s delete $(cd "$T/many" && ls)
C2=$T/c2
export DFS_CLUSTER_INLINE_MAX=0
cluster_up "$C2"
unset DFS_CLUSTER_INLINE_MAX
grep -q '^inline_max = 0$' "$C2/conf/dfsd-1.conf" || fail "inline_max not written"
DFS_CONF=$C2/dfs.conf must dfs_s put "$T/src/s4"
n=$(find "$C2"/data/*/u/AnujS -type f -name '*.[0-9]*' | wc -l)
assert_eq 8 "$n" "chunk files of a 4000-byte file with inline_max 0"
ok "with inline_max = 0 the chunks of small files are files"

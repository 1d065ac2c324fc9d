#!/usr/bin/env bash
# test_fault_bitrot: a byte flipped inside a stored chunk is caught by get (which reads
# the other copy and rewrites the bad one) and by dfs scrub (for copies no get reads);
# bad bytes are never returned.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
IN=$T/in
mkdir -p "$IN"

# assert_chunk_whole SERVER NAME CHUNK LOCAL: the server's copy equals that chunk of LOCAL.
assert_chunk_whole() {
	chunk_slice "$4" "$3" >"$T/slice"
	assert_file_eq "$T/slice" "$(chunk_file "$1" "$2" "$3")"
}

NAME=rot
make_random "$IN/$NAME" $((4 * 1024 * 1024 + 5))
must dfs_s put "$IN/$NAME"

# --- a flip in the copy get reads ------------------------------------------------------
S1=$(holder "$NAME" 2 0)
F=$(chunk_file "$S1" "$NAME" 2)
flip "$F" 123457
must dfs_s get "$NAME" -o "$T/got"
assert_file_eq "$IN/$NAME" "$T/got"
assert_contains "$ERR" "repaired:" "get's report"
assert_contains "$ERR" "server $S1" "get's report"
ok "get returns the right bytes past a flipped byte on DFS$S1 and reports the repair"
assert_chunk_whole "$S1" "$NAME" 2 "$IN/$NAME"
must dfs_s scrub "$NAME" --json
assert_contains "$OUT" '"corrupt": 0' "scrub after read repair"
ok "the corrupt copy on DFS$S1 is whole again (file content and scrub agree)"

# The second holder alone now serves the rewritten copy correctly.
cluster kill "$S1"
rm -f "$T/got"
must dfs_s get "$NAME" -o "$T/got"
assert_file_eq "$IN/$NAME" "$T/got"
cluster start "$S1"
S2=$(holder "$NAME" 2 1)
cluster kill "$S2"
rm -f "$T/got"
must dfs_s get "$NAME" -o "$T/got"
assert_file_eq "$IN/$NAME" "$T/got"
cluster start "$S2"
ok "each holder of chunk 2 alone serves it correctly after the read repair"

# --- a flip in a copy no get reads: only scrub finds it -----------------------------
S2=$(holder "$NAME" 3 1)
F=$(chunk_file "$S2" "$NAME" 3)
flip "$F" 0
rm -f "$T/got"
must dfs_s get "$NAME" -o "$T/got"
assert_file_eq "$IN/$NAME" "$T/got"
assert_not_contains "$ERR" "repaired:" "get's report"
must dfs_s scrub
assert_contains "$OUT" "found 1 corrupt" "scrub output"
assert_contains "$OUT" "repaired 1" "scrub output"
assert_chunk_whole "$S2" "$NAME" 3 "$IN/$NAME"
ok "dfs scrub finds the flip on DFS$S2 (second holder of chunk 3) that no get read, and rewrites it"
must dfs_s scrub --json
assert_contains "$OUT" '"corrupt": 0' "second scrub"
ok "a second scrub finds nothing"

# only_copy_corrupt NAME CHUNK OFFSET: flips the byte at OFFSET of CHUNK on its first holder
# (S1) and kills its second (S2, left down); a get must fail and write no file.
only_copy_corrupt() {
	S1=$(holder "$1" "$2" 0)
	S2=$(holder "$1" "$2" 1)
	flip_chunk "$S1" "$1" "$2" "$IN/$1" "$3"
	cluster kill "$S2"
	rm -f "$T/got"
	run dfs_s get "$1" -o "$T/got"
	assert_transfer_failed
	assert_no_file "$T/got"
}

# --- a flip with the other holder down: get fails, never returns bad bytes ---------
only_copy_corrupt "$NAME" 4 99
run dfs_s get "$NAME" -o -
((RC != 0)) || fail "get -o - succeeded with the only copy corrupt"
ok "the only reachable copy corrupt: get fails cleanly with no file written"
cluster start "$S2"
rm -f "$T/got"
must dfs_s get "$NAME" -o "$T/got"
assert_file_eq "$IN/$NAME" "$T/got"
assert_chunk_whole "$S1" "$NAME" 4 "$IN/$NAME"
ok "with DFS$S2 back, get succeeds and rewrites DFS$S1's copy"

# --- a small file, whose chunks come with the servers' records (LOOKUP_READ) ------------
SMALL=rot-small
make_random "$IN/$SMALL" $((100 * 1024 + 1))
must dfs_s put "$IN/$SMALL"
S1=$(holder "$SMALL" 1 0)
flip_chunk "$S1" "$SMALL" 1 "$IN/$SMALL" 7
rm -f "$T/got"
must dfs_s get "$SMALL" -o "$T/got"
assert_file_eq "$IN/$SMALL" "$T/got"
assert_contains "$ERR" "repaired:" "small get's report"
assert_contains "$ERR" "server $S1" "small get's report"
assert_chunk_whole "$S1" "$SMALL" 1 "$IN/$SMALL"
ok "a small file's chunk sent corrupt by DFS$S1 is refused, read from its other holder and rewritten"

only_copy_corrupt "$SMALL" 3 0
cluster start "$S2"
ok "a small file whose only reachable copy of a chunk is corrupt: get fails with no file written"

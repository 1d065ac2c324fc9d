#!/usr/bin/env bash
# test_repair_honest: repair and scrub say what they found and exit non-zero, naming it,
# when a copy could not be made good: a corrupt copy is found by dfs repair NAME (not only
# by scrub), and two corrupt copies of one chunk fail repair NAME, repair --all and scrub.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
IN=$T/in
mkdir -p "$IN"

# repair_json ARGS...: dfs repair/scrub --json; sets the JSON fields as shell variables.
report() {
	run dfs_s "$@" --json
	read -r FILES VERIFIED CORRUPT REPAIRED FAILED < <(python3 -c 'import json, sys
r = json.loads(sys.argv[1])
print(r["files"], r["verified"], r["corrupt"], r["repaired"], r["failed"])' "$OUT")
}

make_random "$IN/one" $((2 * 1024 * 1024 + 3))
make_random "$IN/two" $((2 * 1024 * 1024 + 7))
must dfs_s put "$IN/one" "$IN/two"

# One copy of chunk 2 of "one" corrupt on disk: dfs repair one verifies every copy,
# rewrites the bad one and says so.
flip "$(chunk_file "$(holder one 2 0)" one 2)" 1000
report repair one
((RC == 0)) || fail "repair of one corrupt copy failed: $ERR"
assert_eq "1 8 1 1 0" "$FILES $VERIFIED $CORRUPT $REPAIRED $FAILED" "files verified corrupt repaired failed"
report scrub one
assert_eq "0 0" "$CORRUPT $FAILED" "scrub after the repair"
ok "dfs repair NAME finds a corrupt copy by reading it, rewrites it and reports it"

# Both copies of chunk 3 of "two" corrupt: no good copy is left. Every tool fails, naming
# the copies, and never reports them good.
flip "$(chunk_file "$(holder two 3 0)" two 3)" 10
flip "$(chunk_file "$(holder two 3 1)" two 3)" 20
report repair two
((RC != 0)) || fail "repair with no good copy left exited 0: $OUT"
assert_eq "2 0" "$CORRUPT $REPAIRED" "corrupt and repaired"
((FAILED >= 2)) || fail "repair reported $FAILED copies not made good"
assert_contains "$ERR" "two: server $(holder two 3 0)" "the warning"
assert_contains "$ERR" "could not be made good" "the error"
report repair --all
((RC != 0)) || fail "repair --all with no good copy left exited 0: $OUT"
assert_eq "2 2" "$FILES $CORRUPT" "files and corrupt copies seen by repair --all"
report scrub
((RC != 0)) || fail "scrub with no good copy left exited 0: $OUT"
assert_eq 2 "$CORRUPT" "corrupt copies found by scrub"
run dfs_s scrub
((RC != 0)) || fail "scrub exited 0"
assert_contains "$OUT" "found 2 corrupt, repaired 0; " "scrub's report"
# What the servers found is what dfs stat shows: neither copy of chunk 3 is "good".
must dfs_s stat two --json
for which in 0 1; do
	state=$(python3 -c 'import json, sys
st = json.load(sys.stdin)
chunk = next(c for c in st["chunks"] if c["chunk"] == 3)
print(chunk["copies"][int(sys.argv[1])]["state"])' "$which" <<<"$OUT")
	assert_eq corrupt "$state" "copy $which of chunk 3 in dfs stat --json"
done
ok "with both copies of a chunk corrupt, repair NAME, repair --all and scrub exit non-zero; dfs stat shows both corrupt"

# A server down: its copies cannot be checked or rewritten, and repair says so.
cluster stop 4
report repair one
((RC != 0)) || fail "repair with a server down exited 0"
assert_contains "$ERR" "server 4" "the warning"
cluster start 4
report repair one
((RC == 0)) || fail "repair with every server back failed: $ERR"
ok "a repair that cannot reach a server exits non-zero, naming it"

#!/usr/bin/env bash
# test_scrub_servers: each dfsd scrubs its own copies (dfs-cluster scrub, SIGUSR1, and on its
# schedule): a flipped byte is found, the copy quarantined and counted, dfs stat shows it
# corrupt and the other copy verified, a get still returns the right bytes and its read repair
# (or dfs repair, or the catch-up at login) rewrites the copy, a second pass finds nothing; a
# lost copy is marked for repair; a server restarted in the middle of a slow pass continues
# it; scrub_interval starts passes by itself.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$T" || fail "cd $T"
# shellcheck disable=SC2119 # the default cluster folder
cluster_up
# This test watches the scrub alone: without a peers file a server leaves the rewriting of a
# quarantined copy to clients (test_heal checks that the servers rewrite it themselves).
cluster_without_recovery

# third A B: a server that is neither A nor B.
third() {
	local k
	for k in 1 2 3 4; do
		((k != $1 && k != $2)) && echo "$k" && return 0
	done
}

# copy_state NAME CHUNK SERVER: "STATE VERIFIED_NS" of that copy in dfs stat --json.
copy_state() {
	must dfs_s stat "$1" --json
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
for c in d["chunks"][int(sys.argv[2]) - 1]["copies"]:
    if c["server"] == int(sys.argv[3]):
        print(c["state"], c["verified_ns"])' "$OUT" "$2" "$3"
}

make_random "$T/a" 300000
make_random "$T/b" 300000
must dfs_s put "$T/a" "$T/b"
read -r state when <<<"$(copy_state a 1 "$(holder a 1 0)")"
assert_eq "good 0" "$state $when" "a fresh copy"
must dfs_s stat a
assert_contains "$OUT" "good (unverified)"
ok "fresh copies show as good (unverified)"

# Rot one copy of chunk 1 of a on its first holder.
bad=$(holder a 1 0)
other=$(holder a 1 1)
file=$(chunk_file "$bad" a 1)
flip "$file" 1000
scrub_now "$bad"
[[ ! -e $file ]] || fail "the corrupt copy $file is still in place"
ver=$(basename "$file")
ver=${ver%%.*}
hash=$(printf '%s' a | sha256sum | cut -c1-64)
[[ -f $C/data/$bad/quarantine/AnujS-$hash-$ver.1 ]] ||
	fail "no quarantined copy: $(ls "$C/data/$bad/quarantine" 2>&1)"
assert_eq 1 "$(metric "$bad" dfs_scrub_corrupt_copies_total)" "corrupt copies counted"
assert_eq 1 "$(metric "$bad" dfs_scrub_quarantined_copies)" "quarantined copies"
grep -q 'fails its checksum; moved to quarantine' "$C/logs/dfsd-$bad.log" ||
	fail "server $bad did not log the corrupt copy"
ok "dfs-cluster scrub $bad: the flipped copy is quarantined, logged and counted"

# With a server down no client catches up at login, so the quarantined copy stays.
idle=$(third "$bad" "$other")
cluster stop "$idle"
scrub_now "$other"
assert_eq 0 "$(metric "$other" dfs_scrub_corrupt_copies_total)" "corrupt copies on $other"
# (A login with every server up would catch up and rewrite the copy: $idle is down.)
line=$( (dfs_s status || true) | grep "^DFS$bad ")
[[ $line =~ " scrub done "[0-9]{4}-[0-9]{2}-[0-9]{2}" "[0-9:]{5}" UTC corrupt 1" ]] ||
	fail "dfs status does not show server $bad's finished pass and its corrupt copy: $line"
dfs_s status --json >"$T/status.json" || true
python3 - "$T/status.json" "$bad" <<'PY' || fail "dfs status --json lacks server $bad's scrub"
import json, sys
s = [x for x in json.load(open(sys.argv[1])) if x["server"] == int(sys.argv[2])][0]["scrub"]
assert s["running"] is False and s["corrupt"] == 1, s
assert s["last_end"] > 0 and s["items_done"] > 0 and s["items_total"] > 0, s
PY
read -r state when <<<"$(copy_state a 1 "$bad")"
assert_eq corrupt "$state" "the quarantined copy"
read -r state when <<<"$(copy_state a 1 "$other")"
assert_eq good "$state" "the other copy"
((when > 0)) || fail "the other copy shows no verification time"
must dfs_s stat a
assert_contains "$OUT" "DFS$bad corrupt"
assert_contains "$OUT" "DFS$other good (verified "
ok "dfs stat: the bad copy is corrupt, the other good (verified TIME); dfs status shows the passes"

must dfs_s get a -o "$T/a.out"
assert_file_eq "$T/a" "$T/a.out"
file=$(chunk_file "$bad" a 1)
cmp -s "$file" "$(chunk_file "$other" a 1)" || fail "read repair did not rewrite the copy"
read -r state when <<<"$(copy_state a 1 "$bad")"
assert_eq "good 0" "$state $when" "the rewritten copy"
cluster start "$idle"
ok "get returns the right bytes and its read repair rewrites the quarantined copy"

scrub_now "$bad"
assert_eq 1 "$(metric "$bad" dfs_scrub_corrupt_copies_total)" "corrupt copies after a second pass"
assert_eq 1 "$(metric "$bad" dfs_scrub_quarantined_copies)" "quarantined copies after a second pass"
read -r state when <<<"$(copy_state a 1 "$bad")"
if [[ $state != good ]] || ((when == 0)); then
	fail "after the second pass: $state $when"
fi
ok "a second pass finds nothing and verifies the rewritten copy"

# dfs repair brings back a copy the scrub set aside (a server down: no catch-up).
bad=$(holder b 2 1)
idle=$(third "$bad" "$(holder b 2 0)")
flip "$(chunk_file "$bad" b 2)" 0
before=$(metric "$bad" dfs_scrub_corrupt_copies_total)
scrub_now "$bad"
assert_eq $((before + 1)) "$(metric "$bad" dfs_scrub_corrupt_copies_total)" "corrupt copies of b"
cluster stop "$idle"
# It fails for the copies of the server that is down, and rewrites the quarantined one.
run dfs_s repair b
assert_contains "$ERR" "chunk 2 on server $bad was missing; rewritten"
cmp -s "$(chunk_file "$bad" b 2)" "$(chunk_file "$(holder b 2 0)" b 2)" ||
	fail "dfs repair did not rewrite the copy"
cluster start "$idle"
must dfs_s get b -o "$T/b.out"
assert_file_eq "$T/b" "$T/b.out"
ok "dfs repair rewrites a quarantined copy"

# With every server up, the next login anywhere rewrites it (the server lists itself as
# lacking the copy, which is the cue for a client's catch-up).
bad=$(holder b 3 0)
file=$(chunk_file "$bad" b 3)
flip "$file" 7
scrub_now "$bad"
[[ ! -e $file ]] || fail "chunk 3 of b was not set aside"
must dfs_s list
assert_contains "$ERR" "chunk 3 on server $bad was missing; rewritten"
cmp -s "$(chunk_file "$bad" b 3)" "$(chunk_file "$(holder b 3 1)" b 3)" ||
	fail "the catch-up did not rewrite the copy"
ok "the catch-up at the next login rewrites a quarantined copy"

# A copy the record lists but the disk lost is marked for repair the same way.
bad=$(holder a 3 1)
file=$(chunk_file "$bad" a 3)
rm -f "$file"
scrub_now "$bad"
grep -q "chunk 3 of version [0-9a-f]* ($hash) is missing; marked for repair" \
	"$C/logs/dfsd-$bad.log" || fail "server $bad did not report the missing copy"
must dfs_s list
assert_contains "$ERR" "a: chunk 3 on server $bad was missing; rewritten"
cmp -s "$(chunk_file "$bad" a 3)" "$(chunk_file "$(holder a 3 0)" a 3)" ||
	fail "the catch-up did not rewrite the lost copy"
ok "a lost copy is marked for repair by the scrub and rewritten at the next login"

# A slow pass (1 MB/s over about 12 MB) on server 2, interrupted by a restart.
for i in $(seq 1 12); do
	make_random "$T/big$i" 2000000
done
must dfs_s put "$T"/big*
echo 'scrub_rate = 1' >>"$C/conf/dfsd-2.conf"
cluster stop 2
cluster start 2
cluster scrub 2
wait_metric 2 dfs_scrub_pass_copies_done 6
assert_eq 1 "$(metric 2 dfs_scrub_running)" "a pass under way"
line=$( (dfs_s status || true) | grep "^DFS2 ")
[[ $line =~ " scrub running "[0-9]+"% corrupt 0" ]] ||
	fail "dfs status does not show server 2's pass under way: $line"
started=$(metric 2 dfs_scrub_pass_start_time_seconds)
passes=$(metric 2 dfs_scrub_passes_total)
cluster stop 2
read -r magic v s_ns e_ns _ _ items _ _ user fhash <"$C/data/2/scrub-state"
assert_eq "dfs-scrub 1" "$magic $v" "the position file"
assert_eq 0 "$e_ns" "an unfinished pass"
assert_eq AnujS "$user" "the position's last user"
((items >= 6)) || fail "the saved position counts $items copies"
cluster start 2
grep -q "scrub: continuing the pass begun at $((s_ns / 1000000000)) after AnujS/$fhash" \
	"$C/logs/dfsd-2.log" || fail "server 2 did not continue its pass: $(tail -n 5 "$C/logs/dfsd-2.log")"
assert_eq "$started" "$(metric 2 dfs_scrub_pass_start_time_seconds)" "the pass's start after a restart"
(($(metric 2 dfs_scrub_pass_copies_done) >= items)) || fail "the count of the pass started over"
wait_metric 2 dfs_scrub_passes_total $((passes + 1))
read -r magic v s_ns e_ns _ _ items2 _ <"$C/data/2/scrub-state"
((e_ns > 0 && items2 > items)) || fail "the pass did not finish where it left off: $e_ns $items2"
ok "a server restarted in the middle of a slow pass continues it"

# The schedule: a short scrub_interval starts passes with no signal.
echo 'scrub_interval = 2' >>"$C/conf/dfsd-3.conf"
own=$(metric 3 dfs_scrub_passes_total)
cluster stop 3
passes=$(metric 4 dfs_scrub_passes_total)
cluster start 3
before=$(grep -c 'scrub: pass asked for' "$C/logs/dfsd-3.log" || true)
wait_metric 3 dfs_scrub_passes_total $((own + 2))
assert_eq "$before" "$(grep -c 'scrub: pass asked for' "$C/logs/dfsd-3.log" || true)" "signals"
((before >= 1)) || fail "server 3's earlier passes were not asked for"
assert_eq "$passes" "$(metric 4 dfs_scrub_passes_total)" "passes of server 4 (default schedule)"
ok "scrub_interval starts passes by itself"

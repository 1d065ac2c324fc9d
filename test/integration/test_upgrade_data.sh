#!/usr/bin/env bash
# test_upgrade_data.sh: data folders written by the previous dfsd (format 1, a meta file per
# record; test/data/format1-cluster.tar.gz, made by test/data/make-format1.sh) are refused
# until 'dfsd --upgrade-data' converts them; the cluster then serves every file as before
# (names, sizes, versions, bytes), deleted files stay deleted, and the records that name a
# server as lacking still get it repaired.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DFSD=$DFS_BUILD/bin/dfsd
F=$T/fixture
mkdir -p "$F" "$T/got"
tar -C "$F" -xzf "$DFS_SOURCE/test/data/format1-cluster.tar.gz"
# MANIFEST: "live NAME SIZE VERSION MTIME_NS SHA256" or "deleted NAME".
mapfile -t LIVE < <(awk '$1 == "live" { print $2 }' "$F/MANIFEST")
mapfile -t DELETED < <(awk '$1 == "deleted" { print $2 }' "$F/MANIFEST")
((${#LIVE[@]} == 6 && ${#DELETED[@]} == 2)) || fail "unexpected fixture MANIFEST"
# field NAME I: field I of the MANIFEST line of live file NAME.
field() { awk -v n="$1" -v i="$2" '$1 == "live" && $2 == n { print $i }' "$F/MANIFEST"; }
for n in "${LIVE[@]}"; do
	assert_eq "$(field "$n" 6)" "$(sha256sum <"$F/expected/$n" | cut -c1-64)" "fixture's $n"
done

# wait_until SECONDS CMD...: polls CMD every 0.2 s; 1 if it never succeeded.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	while ((SECONDS < deadline)); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}

# meta_files K: the format 1 records (u/USER/HH/HASH/meta) in data folder K, one a line.
meta_files() {
	find "$C/data/$1/u" -mindepth 4 -maxdepth 4 -name meta -type f
}

# chunk_sums: the path and sha256 of every chunk file of every server, sorted.
chunk_sums() {
	(cd "$C/data" && find . -path './*/u/*' -type f -name '*.[0-9]*' -print0 | sort -z |
		xargs -0 sha256sum)
}

# get_all WHAT: every live file reads back byte-exact; every deleted one fails.
get_all() {
	local n got
	for n in "${LIVE[@]}"; do
		got=$T/got/${n//\//_}
		rm -f "$got"
		must dfs_s get "$n" -o "$got"
		assert_file_eq "$F/expected/$n" "$got"
	done
	for n in "${DELETED[@]}"; do
		assert_fails dfs_s get "$n" -o "$T/got/deleted"
		assert_transfer_failed
		assert_no_file "$T/got/deleted"
	done
	ok "$1: every live file reads back byte-exact, the deleted ones stay deleted"
}

# all_repaired: every server is up and none has copies to repair.
all_repaired() {
	run dfs_s status --json
	((RC == 0)) && python3 -c 'import json, sys
s = json.load(sys.stdin)
sys.exit(not (len(s) == 4 and all(x["up"] and x["chunks_need_repair"] == 0 for x in s)))' <<<"$OUT"
}

# --- a cluster of the build under test on the old data folders ------------------------
cluster_up
for k in 1 2 3 4; do
	cluster stop "$k"
done
for k in 1 2 3 4; do
	rm -rf "${C:?}/data/$k"
	cp -a "$F/data/$k" "$C/data/$k"
	# The fixture stands for a cluster stopped just now to be upgraded (a folder out of
	# service longer than tombstone_ttl is refused; test_formats checks that).
	touch "$C/data/$k/IN-SERVICE"
	assert_eq "dfs-data 1" "$(cat "$C/data/$k/FORMAT")" "FORMAT of the fixture's folder $k"
	RECORDS[k]=$(meta_files "$k" | wc -l)
done
# Server 3 missed a put, so it holds one record fewer.
assert_eq "8 8 7 8" "${RECORDS[*]}" "records in the fixture's folders"
BEFORE=$(chunk_sums)
[[ -n $BEFORE ]] || fail "the fixture has no chunk files"

for k in 1 2 3 4; do
	assert_fails "$DFS_CLUSTER" -d "$C" start "$k"
	assert_contains "$(cat "$C/logs/dfsd-$k.log")" "has format 1; this dfsd reads format 2: convert it first with dfsd --upgrade-data" "dfsd $k's log"
	assert_eq "dfs-data 1" "$(cat "$C/data/$k/FORMAT")" "FORMAT of folder $k after the refusal"
	assert_eq "${RECORDS[k]}" "$(meta_files "$k" | wc -l)" "records of folder $k after the refusal"
done
ok "dfsd refuses each format 1 data folder, saying to convert it first, and leaves it as it was"

# --- the conversion --------------------------------------------------------------------
for k in 1 2 3 4; do
	must "$DFSD" --upgrade-data -c "$C/conf/dfsd-$k.conf"
	printf 'dfsd %d: %s\n' "$k" "$OUT"
	assert_contains "$OUT" "data folder $C/data/$k converted from format 1 to format 2: ${RECORDS[k]} records, 0 unreadable (left in place)" "dfsd --upgrade-data $k"
	assert_eq "dfs-data 2" "$(cat "$C/data/$k/FORMAT")" "FORMAT of folder $k"
	assert_eq "" "$(meta_files "$k")" "meta files left in folder $k"
done
ok "dfsd --upgrade-data converts each folder (every record), writes format 2, leaves no meta file"
assert_eq "$BEFORE" "$(chunk_sums)" "chunk files after the conversion"
ok "the conversion leaves every chunk file as it was"

for k in 1 2 3 4; do
	must "$DFSD" --upgrade-data -c "$C/conf/dfsd-$k.conf"
	assert_contains "$OUT" "data folder $C/data/$k already has format 2: nothing to do" "second --upgrade-data $k"
done
ok "--upgrade-data again: already format 2, nothing to do (exit 0)"

# --- the converted records, server 3 still down -----------------------------------------
for k in 1 2 4; do
	cluster start "$k"
done
assert_fails "$DFSD" --upgrade-data -c "$C/conf/dfsd-1.conf"
assert_eq 1 "$RC" "exit status of --upgrade-data on a running server's folder"
assert_contains "$ERR" "data folder $C/data/1 is in use by a dfsd" "--upgrade-data on a running server's folder"
assert_eq "dfs-data 2" "$(cat "$C/data/1/FORMAT")" "FORMAT of folder 1"
ok "--upgrade-data on a running server's folder fails: in use by a dfsd"

# No login reaches every server, so nothing is repaired yet: the records of the put and
# the delete that server 3 missed still name it as lacking.
run dfs_s status --json
assert_eq 3 "$RC" "exit status of status with DFS3 down"
python3 -c 'import json, sys
s = {x["server"]: x for x in json.load(sys.stdin)}
assert not s[3]["up"] and all(s[k]["up"] for k in (1, 2, 4)), s
assert all(s[k]["chunks_need_repair"] > 0 for k in (1, 2, 4)), s' <<<"$OUT" ||
	fail "status with DFS3 down: $OUT"
ok "with DFS3 down, servers 1, 2 and 4 have copies to repair (lacking records converted)"

# --- all four: recovery, listing, reads ------------------------------------------------
cluster start 3
wait_until 60 all_repaired || fail "not every server is up with need-repair 0: $OUT"
must dfs_s status
printf '%s\n' "$OUT"
for k in 1 2 3 4; do
	assert_contains "$(grep "^DFS$k " "$T/out")" "files ${#LIVE[@]} chunks $((2 * ${#LIVE[@]})) " "DFS$k status"
	assert_contains "$(grep "^DFS$k " "$T/out")" "need-repair 0 " "DFS$k status"
done
ok "recovery brings DFS3 level: every server up, holding 2 chunks of each of the ${#LIVE[@]} files, need-repair 0"

must dfs_s list
printf '%s\n' "$OUT"
assert_eq "${#LIVE[@]}" "$(grep -c . "$T/out")" "number of listed files"
for n in "${LIVE[@]}"; do
	assert_eq "$(field "$n" 3)" "$(list_size "$n")" "listed size of $n"
done
for n in "${DELETED[@]}"; do
	assert_eq "" "$(list_size "$n")" "listed size of deleted $n"
done
must dfs_s list --json
python3 -c 'import json, sys
want = {}
for line in open(sys.argv[1]):
    w = line.split()
    if w[0] == "live":
        want[w[1]] = (int(w[2]), int(w[3]), int(w[4]))
got = {f["name"]: (f["size"], f["version"], f["mtime_ns"]) for f in json.load(sys.stdin)}
sys.exit(got != want)' "$F/MANIFEST" <<<"$OUT" || fail "list --json differs from the MANIFEST: $OUT"
ok "dfs list shows exactly the live files, with their sizes, versions and modification times"

get_all "all servers up"
cluster stop 2
cluster stop 4
get_all "from DFS1 and DFS3 alone"
cluster start 2
cluster start 4
cluster stop 1
cluster stop 3
get_all "from DFS2 and DFS4 alone"
cluster start 1
cluster start 3

# --- writes on the converted folders ---------------------------------------------------
printf 'written after the upgrade\n' >"$T/new.txt"
make_random "$T/twice.bin" 70000
must dfs_s put "$T/new.txt" "$T/twice.bin"
must dfs_s get new.txt -o "$T/got/new.txt"
assert_file_eq "$T/new.txt" "$T/got/new.txt"
must dfs_s get twice.bin -o "$T/got/twice.bin.new"
assert_file_eq "$T/twice.bin" "$T/got/twice.bin.new"
ok "a new file and the overwrite of a converted one read back"

must dfs_s delete big.bin new.txt
for n in big.bin new.txt; do
	assert_fails dfs_s get "$n" -o "$T/got/deleted"
	assert_transfer_failed
done
must dfs_s list
assert_eq "" "$(list_size big.bin)$(list_size new.txt)" "listed sizes of deleted files"
assert_eq "$((${#LIVE[@]} - 1))" "$(grep -c . "$T/out")" "number of listed files after the delete"
must dfs_s get docs/a.txt -o "$T/got/a.txt"
assert_file_eq "$F/expected/docs/a.txt" "$T/got/a.txt"
ok "deletes of a converted file and of a new one work; the other files stay"

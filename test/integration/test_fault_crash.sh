#!/usr/bin/env bash
# test_fault_crash: crash safety. A server SIGKILLed while uploads and commits run restarts
# with an empty tmp/ and no partial chunk; a client SIGKILLed mid-put
# leaves the previous version readable and listed, and its staged chunks are garbage
# that housekeeping removes once older than its limit (one hour: the test ages them).
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
# A restarted server's own recovery would stage chunks in tmp/ at once: this test looks at
# what the restart itself leaves there.
cluster_without_recovery
IN=$T/in
DEST=$T/dest
mkdir -p "$IN" "$DEST"

server_pid() {
	cat "$C/run/dfsd-$1.pid"
}

# chunk_files: every chunk file of every server, sorted (paths relative to $C/data).
chunk_files() {
	(cd "$C/data" && find . -path './*/u/*' -type f -name '*.[0-9]*' | sort)
}

# wait_until SECONDS CMD...: polls CMD every $POLL seconds (default 0.05); 1 if it never
# succeeded.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	while ((SECONDS < deadline)); do
		"$@" && return 0
		sleep "${POLL:-0.05}"
	done
	return 1
}

# --- 1. Servers killed at arbitrary moments during a stream of puts ----------------------
# Four writers overwrite their own name in a loop (recording every content they
# stored); each server in turn is SIGKILLed in the middle and restarted.
for w in 1 2 3 4; do
	for v in 1 2 3 4 5 6; do
		make_random "$IN/w$w.$v" $((3 * 1024 * 1024 + w * 1000 + v))
	done
done
writer() {
	local w=$1 v
	for v in 1 2 3 4 5 6; do
		if DFS_PASSWORD=Bluepanda "$DFS" -q -c "$C/dfs.conf" -u AnujS put "$IN/w$w.$v" \
			--as "w$w" 2>>"$T/writer$w.err"; then
			echo "$v" >>"$T/writer$w.ok"
		fi
	done
}
for k in 1 2 3 4; do
	pids=()
	for w in 1 2 3 4; do
		writer "$w" &
		pids+=($!)
	done
	sleep "0.$((RANDOM % 4 + 2))" # an arbitrary moment, not a readiness wait
	cluster kill "$k"
	for p in "${pids[@]}"; do
		wait "$p" || true
	done
	leftover=$(find "$C/data/$k/tmp" -mindepth 1 | wc -l)
	cluster start "$k"
	left=$(find "$C/data/$k/tmp" -mindepth 1)
	assert_eq "" "$left" "DFS$k tmp/ after restart"
	# Every name reads back as one complete version its writer stored (the last one
	# that succeeded, or a later one whose put was cut short after committing).
	for w in 1 2 3 4; do
		[[ -s $T/writer$w.ok ]] || continue
		rm -f "$DEST/w$w"
		must dfs_s get "w$w" -o "$DEST/w$w"
		match=""
		for v in 1 2 3 4 5 6; do
			cmp -s "$IN/w$w.$v" "$DEST/w$w" && match=$v
		done
		[[ -n $match ]] || fail "w$w reads as none of the versions written"
		last=$(tail -n 1 "$T/writer$w.ok")
		((match >= last)) || fail "w$w reads version $match, older than $last that succeeded"
	done
	must dfs_s scrub --json
	assert_contains "$OUT" '"corrupt": 0' "scrub"
	rm -f "$T"/writer*.ok
	ok "DFS$k SIGKILLed during 4x6 puts ($leftover tmp file(s) at death): restart empties tmp/, every file whole"
done

# --- 2. A client SIGKILLed mid-put ---------------------------------------------------
make_random "$IN/big" $((8 * 1024 * 1024))
must dfs_s put "$IN/big"
cp "$IN/big" "$T/big-v1"
must dfs_s list
v1_size=$(list_size big)
before=$(chunk_files)

# Freeze DFS4 once its upload is under way, so that it hangs while the others complete
# theirs: the put is then certainly between staging and commit when the client is killed.
# The file is large enough for DFS4's upload to last long after the first poll sees it.
make_random "$IN/big" $((192 * 1024 * 1024))
DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS put "$IN/big" >"$T/out" 2>"$T/err" &
CLIENT=$!
upload_on_4() {
	[[ -n $(find "$C/data/4/tmp" -type f -size +0 | head -n 1) ]]
}
POLL=0.01 wait_until 20 upload_on_4 || fail "no upload to DFS4 seen"
kill -STOP "$(server_pid 4)"
staged_elsewhere() {
	local f n=0
	while IFS= read -r f; do
		[[ $f == ./4/* ]] || n=$((n + 1))
	done < <(comm -13 <(printf '%s\n' "$before") <(chunk_files))
	((n >= 4))
}
wait_until 20 staged_elsewhere || {
	kill -CONT "$(server_pid 4)"
	fail "the put did not stage its chunks on DFS1..3"
}
kill -KILL "$CLIENT"
wait "$CLIENT" 2>/dev/null || true
kill -CONT "$(server_pid 4)"
staged=$(comm -13 <(printf '%s\n' "$before") <(chunk_files) | wc -l)
rm -f "$DEST/big"
must dfs_s get big -o "$DEST/big"
assert_file_eq "$T/big-v1" "$DEST/big"
must dfs_s list
assert_eq "$v1_size" "$(list_size big)" "listed size of big"
ok "client SIGKILLed between staging and commit: the previous version reads and is listed ($staged staged chunk(s) left)"

# The staged chunks and the suspended upload are invisible garbage; housekeeping
# (at start and every 10 minutes) removes them once older than one hour. Age them
# and restart the servers instead of waiting an hour.
find "$C/data" -path '*/u/*' -type f -newer "$T/big-v1" -exec touch -d '2 hours ago' {} +
find "$C/data"/*/tmp -type f -exec touch -d '2 hours ago' {} +
for k in 1 2 3 4; do
	cluster stop "$k"
	cluster start "$k"
done
only_v1() {
	[[ $(chunk_files) == "$before" ]]
}
wait_until 20 only_v1 || {
	comm -3 <(printf '%s\n' "$before") <(chunk_files) >&2
	fail "staged chunks of the killed put remain after housekeeping"
}
for k in 1 2 3 4; do
	assert_eq "" "$(find "$C/data/$k/tmp" -mindepth 1)" "DFS$k tmp/"
done
rm -f "$DEST/big"
must dfs_s get big -o "$DEST/big"
assert_file_eq "$T/big-v1" "$DEST/big"
ok "housekeeping removes the killed put's staged chunks once past their age limit; the file is untouched"

# A fresh put of the same name after the crash works and wins.
must dfs_s put "$IN/big"
rm -f "$DEST/big"
must dfs_s get big -o "$DEST/big"
assert_file_eq "$IN/big" "$DEST/big"
ok "a new put after the client crash stores and reads back"

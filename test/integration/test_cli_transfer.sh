#!/usr/bin/env bash
# test_cli_transfer: the progress line on a terminal (and not elsewhere), -v naming the server of
# each chunk, and several files in one put or get where one failure does not stop the others.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$T" || fail "cd $T"
cluster_up

# pty_run TRANSCRIPT CMD...: runs CMD as AnujS with stdin, stdout and stderr on a pseudo-terminal
# (script(1)); the terminal's output goes to TRANSCRIPT, the time taken to ELAPSED (seconds).
pty_run() {
	local out=$1 cmd start end
	shift
	printf -v cmd '%q ' "$@"
	start=$EPOCHREALTIME
	set +e
	DFS_PASSWORD=Bluepanda script -qfec "$cmd" "$out" </dev/null >/dev/null
	RC=$?
	set -e
	end=$EPOCHREALTIME
	ELAPSED=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
}

# has_progress TRANSCRIPT [NAME [TOTAL]]: the transcript shows a progress line for NAME (default
# big) of TOTAL (default 256.0 MiB): "NAME  DONE / TOTAL  RATE/s  M:SS left".
# A progress line: name, bytes done / total, rate, time left ("-:--" while the
# rate is not known yet, as on a transfer's first line).
has_progress() {
	local total=${3:-256.0 MiB}
	tr '\r' '\n' <"$1" |
		grep -aEq "^${2:-big}  [0-9.]+ [KMG]iB / ${total//./\\.}  [0-9.]+ [KMG]?i?B/s  ([0-9]+:[0-9]{2}|-:--) left"
}

# --- (a) the progress line ---
make_random "$T/big" $((256 << 20))
conf=$C/dfs.conf
# What starting, logging in and ending cost here, outside any transfer: the line is due
# only once a transfer itself has run for a second.
pty_run "$T/pty-list" "$DFS" -c "$conf" -u AnujS list
assert_eq 0 "$RC" "exit status of list on a terminal"
overhead=$ELAPSED
for op in put get; do
	if [[ $op == put ]]; then
		pty_run "$T/pty-$op" "$DFS" -c "$conf" -u AnujS put "$T/big"
	else
		pty_run "$T/pty-$op" "$DFS" -c "$conf" -u AnujS get big -o "$T/big.back"
	fi
	assert_eq 0 "$RC" "exit status of $op on a terminal"
	if has_progress "$T/pty-$op"; then
		ok "$op of 256 MiB on a terminal shows a progress line (${ELAPSED} s)"
	elif awk -v e="$ELAPSED" -v o="$overhead" 'BEGIN { exit !(e - o >= 1.5) }'; then
		cat -v "$T/pty-$op" >&2
		fail "$op took ${ELAPSED} s on a terminal (a list ${overhead} s) and showed no progress line"
	else
		# A fast machine moved 256 MiB in about a second: show the line sooner.
		if [[ $op == put ]]; then
			DFS_PROGRESS_DELAY=0 pty_run "$T/pty-$op" "$DFS" -c "$conf" -u AnujS put "$T/big"
		else
			DFS_PROGRESS_DELAY=0 pty_run "$T/pty-$op" "$DFS" -c "$conf" -u AnujS \
				get big -o "$T/big.back"
		fi
		has_progress "$T/pty-$op" || fail "no progress line even with DFS_PROGRESS_DELAY=0"
		ok "$op of 256 MiB on a terminal shows a progress line (fast: DFS_PROGRESS_DELAY=0)"
	fi
	# The line is cleared at the end: the last thing on the terminal is no progress text.
	last=$(tr '\r' '\n' <"$T/pty-$op" | tail -n 1)
	assert_not_contains "$last" "left" "the terminal after $op"
done
assert_file_eq "$T/big" "$T/big.back"
ok "the file came back whole"
must dfs_s delete big
rm -f "$T"/big*

# The cases without a line use a smaller file, shown at once where a line is allowed at all.
make_random "$T/mid" $((64 << 20))
must dfs_s put "$T/mid"
DFS_PROGRESS_DELAY=0 pty_run "$T/pty-mid" "$DFS" -c "$conf" -u AnujS get mid -o "$T/mid.t"
has_progress "$T/pty-mid" mid "64.0 MiB" || fail "no progress line for mid: $(cat -v "$T/pty-mid")"

DFS_PROGRESS_DELAY=0 pty_run "$T/pty-q" "$DFS" -c "$conf" -u AnujS -q get mid -o "$T/mid.q"
assert_eq 0 "$RC" "exit status of get -q"
! has_progress "$T/pty-q" mid "64.0 MiB" || fail "-q on a terminal showed a progress line"
assert_not_contains "$(cat "$T/pty-q")" "MiB/s" "the terminal with -q"
ok "-q: no progress line on a terminal"

# stdout on the terminal, stderr to a file: no progress anywhere.
printf -v cmd '%q ' "$DFS" -c "$conf" -u AnujS get mid -o "$T/mid.e"
DFS_PROGRESS_DELAY=0 DFS_PASSWORD=Bluepanda script -qfec "$cmd 2>$T/stderr-file" "$T/pty-e" \
	</dev/null >/dev/null || fail "get with stderr to a file failed"
assert_not_contains "$(cat "$T/stderr-file")" "MiB/s" "stderr written to a file"
assert_not_contains "$(cat "$T/pty-e")" "MiB/s" "the terminal when stderr is a file"
DFS_PROGRESS_DELAY=0 must dfs_s get mid -o "$T/mid.n"
assert_not_contains "$ERR" "MiB/s" "stderr of get outside a terminal"
assert_file_eq "$T/mid" "$T/mid.n"
ok "stderr not a terminal: no progress line"
rm -f "$T"/mid*

# --- (b) -v: which server served which chunk ---
# Chunk c is first of the pair on server ((c - 1 + r) mod 4) + 1 and second on the one before it.
first_holder() { echo $((($1 - 1 + $2) % 4 + 1)); }
second_holder() { echo $((($1 + 2 + $2) % 4 + 1)); }
make_random "$T/v.bin" $((4 << 20))
must dfs_s put "$T/v.bin"
row=$(placement_row v.bin)
mkdir -p "$T/got"
must dfs_s -v get v.bin -d "$T/got"
assert_file_eq "$T/v.bin" "$T/got/v.bin"
for c in 1 2 3 4; do
	assert_contains "$ERR" "dfs: v.bin chunk $c via server $(first_holder "$c" "$row")" "get -v"
done
assert_eq 4 "$(grep -c 'via server' <<<"$ERR")" "chunk lines of get -v"
assert_contains "$OUT" "get v.bin to $T/got/v.bin (4194304 bytes)" "stdout of get -v"
ok "get -v, all up: each chunk from the first of its pair (row $row)"

down=$(first_holder 2 "$row")
cluster kill "$down"
rm -f "$T/got/v.bin"
must dfs_s -v get v.bin -d "$T/got"
assert_file_eq "$T/v.bin" "$T/got/v.bin"
assert_not_contains "$ERR" "via server $down" "get -v with server $down down"
assert_contains "$ERR" "dfs: v.bin chunk 2 via server $(second_holder 2 "$row")" "get -v"
for c in 1 3 4; do
	s=$(first_holder "$c" "$row")
	[[ $s == "$down" ]] && s=$(second_holder "$c" "$row")
	assert_contains "$ERR" "dfs: v.bin chunk $c via server $s" "get -v with server $down down"
done
ok "get -v, server $down killed: its chunk comes from the other holder"
cluster start "$down"

# --- (c) several files in one put and one get ---
for f in one two three; do
	printf 'content of %s\n' "$f" >"$T/$f"
done
run dfs_s put "$T/one" "$T/missing" "$T/two" "$T/three"
assert_eq 1 "$RC" "exit status of put with a missing file"
assert_contains "$ERR" "dfs: put $T/missing: " "stderr of put"
assert_eq 1 "$(grep -c '^dfs: ' <<<"$ERR")" "error lines of put (stderr: $ERR)"
must dfs_s list
for f in one two three; do
	assert_eq "$(stat -c %s "$T/$f")" "$(list_size "$f")" "listed size of $f"
done
assert_not_contains "$OUT" "missing" "list"
ok "put one missing two three: the others stored, exit 1"

run dfs_s put "$T/one" "$T/missing" --json
assert_eq 1 "$RC" "exit status of put --json"
python3 - "$T/out" <<'EOF' || fail "put --json: $OUT"
import json, sys
r = json.load(open(sys.argv[1]))
assert [x["name"] for x in r] == ["one", "missing"], r
assert r[0]["ok"] is True and r[1]["ok"] is False and "No such file" in r[1]["error"], r
EOF
ok "put --json: one result per file"

mkdir -p "$T/dir"
run dfs_s get one nosuch two three -d "$T/dir"
assert_eq 1 "$RC" "exit status of get with a missing name"
assert_contains "$ERR" "dfs: get nosuch: Transfer failed" "stderr of get"
for f in one two three; do
	assert_file_eq "$T/$f" "$T/dir/$f"
done
assert_no_file "$T/dir/nosuch"
ok "get one nosuch two three -d DIR: the others fetched, exit 1"

run dfs_s get one nosuch -d "$T/dir" --json
python3 - "$T/out" <<'EOF' || fail "get --json: $OUT"
import json, sys
r = json.load(open(sys.argv[1]))
assert [(x["name"], x["ok"]) for x in r] == [("one", True), ("nosuch", False)], r
EOF
run dfs_s delete one nosuch --json
assert_eq 1 "$RC" "exit status of delete with a missing name"
python3 - "$T/out" <<'EOF' || fail "delete --json: $OUT"
import json, sys
r = json.load(open(sys.argv[1]))
assert [(x["name"], x["ok"]) for x in r] == [("one", True), ("nosuch", False)], r
EOF
ok "get --json and delete --json: one result per name"

#!/usr/bin/env bash
# test_resume: an interrupted put or get of a 64 MiB file resumes without moving it all again.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export XDG_CACHE_HOME=$T/cache
SIZE=$((64 << 20))

cluster_up
make_random "$T/big" "$SIZE"

# counter FIELD: the sum of FIELD over every server (dfs status --json).
counter() {
	dfs_s status --json | python3 -c 'import json, sys
print(sum(s[sys.argv[1]] for s in json.load(sys.stdin) if s["up"]))' "$1"
}

# staged_bytes: bytes of uploads in progress in every server's tmp folder.
staged_bytes() {
	find "$C"/data/*/tmp -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}'
}

# part_bytes FILE: bytes a partial get recorded in its sidecar.
part_bytes() {
	awk 'NR > 1 {s += $1} END {print s + 0}' "$1" 2>/dev/null || echo 0
}

# kill_when CMD-PID PROBE LIMIT [STARTED]: SIGKILLs the client once PROBE prints more than
# LIMIT. Server 1 is frozen (SIGSTOP) as soon as the transfer is under way (PROBE above 0,
# or the file STARTED exists), so it cannot finish between two looks however fast it runs;
# the server thaws after the kill.
kill_when() {
	local pid=$1 probe=$2 limit=$3 started=${4:-} i frozen= rc=1
	for ((i = 0; i < 3000; i++)); do
		if [[ -z $frozen ]] && { [[ -n $started && -e $started ]] || (($($probe) > 0)); }; then
			frozen=$(<"$C/run/dfsd-1.pid")
			kill -STOP "$frozen"
		fi
		if (($($probe) > limit)); then
			kill -KILL "$pid"
			wait "$pid" 2>/dev/null || true
			rc=0
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	[[ -z $frozen ]] || kill -CONT "$frozen"
	return "$rc"
}

# --- put ---
w0=$(counter bytes_written)
DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS put "$T/big" 2>"$T/put1.err" &
kill_when $! staged_bytes $((16 << 20)) || fail "the put ended before it could be interrupted"
w1=$(counter bytes_written)
sent1=$((w1 - w0))
ok "put interrupted by SIGKILL after $sent1 bytes reached the servers"
[[ -n $(ls "$XDG_CACHE_HOME/dfs/resume") ]] || fail "no resume record was left"
# Copies the servers finished (verified and moved out of tmp/) that the record does not
# name: the client was killed between their end and its note of it, so the resumed put
# sends them again whole.
finished=$(find "$C"/data/*/u -type f -name '*.[1-4]' | wc -l)
recorded=$(cat "$XDG_CACHE_HOME"/dfs/resume/* | grep -c '^stored ' || true)
unrecorded=$((finished > recorded ? finished - recorded : 0))

must dfs_s put --resume "$T/big"
assert_contains "$ERR" "continuing the interrupted upload"
w2=$(counter bytes_written)
sent2=$((w2 - w1))
((sent2 < 2 * SIZE)) || fail "put --resume sent $sent2 bytes: as much as a whole new put"
# Beyond one put's bytes, only those unrecorded copies (a chunk, SIZE / 4, each) and the
# blocks in flight at the kill are sent twice.
((sent1 + sent2 < 2 * SIZE + unrecorded * SIZE / 4 + (4 << 20))) ||
	fail "put + put --resume sent $((sent1 + sent2)) bytes, more than one put's" \
		"$((2 * SIZE)) and $unrecorded unrecorded chunk copies"
ok "put --resume sent $sent2 of $((2 * SIZE)) bytes (both copies)"
[[ -z $(ls "$XDG_CACHE_HOME/dfs/resume") ]] || fail "the resume record outlived the put"

must dfs_s get big -o "$T/big.back"
assert_file_eq "$T/big" "$T/big.back"
ok "the resumed file reads back byte for byte"

# A changed source is not resumed: a fresh version is stored whole.
make_random "$T/small" 1000
DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS put "$T/big" 2>/dev/null &
kill_when $! staged_bytes $((4 << 20)) || fail "the second put ended before it could be interrupted"
touch -d '2001-01-01' "$T/big"
w3=$(counter bytes_written)
must dfs_s put --resume "$T/big"
assert_not_contains "$ERR" "continuing"
w4=$(counter bytes_written)
((w4 - w3 >= 2 * SIZE)) || fail "a changed source was resumed ($((w4 - w3)) bytes sent)"
ok "a source changed since the interrupted put is stored whole"

# --- get ---
# Chunks of 64 MiB: more than the socket buffers hold, so a frozen server really stalls its
# chunk and the get cannot finish before it is interrupted.
GSIZE=$((256 << 20))
make_random "$T/getme" "$GSIZE"
must dfs_s put "$T/getme"
rm -f "$T/getme.back"
r0=$(counter bytes_read)
DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS get getme -o "$T/getme.back" 2>/dev/null &
state=$T/.getme.back.dfs-part.state
kill_when $! "part_bytes $state" $((16 << 20)) "$T/.getme.back.dfs-part" || fail "the get ended before it could be interrupted"
assert_no_file "$T/getme.back"
[[ -f $T/.getme.back.dfs-part ]] || fail "the partial file is gone"
r1=$(counter bytes_read)
got1=$((r1 - r0))
kept=$(part_bytes "$state")
ok "get interrupted by SIGKILL with $kept bytes kept ($got1 read from the servers)"

must dfs_s get --resume getme -o "$T/getme.back"
assert_contains "$ERR" "continuing an interrupted get"
r2=$(counter bytes_read)
got2=$((r2 - r1))
assert_file_eq "$T/getme" "$T/getme.back"
((got2 <= GSIZE - kept)) || fail "get --resume read $got2 bytes; $((GSIZE - kept)) were missing"
((got2 < GSIZE)) || fail "get --resume read the whole file again"
[[ ! -e $T/.getme.back.dfs-part && ! -e $state ]] || fail "the partial files outlived the get"
[[ $(stat -c %Y "$T/getme.back") == "$(stat -c %Y "$T/getme")" ]] || fail "mtime not kept"
ok "get --resume read $got2 of $GSIZE bytes; the file is whole, verified, with its mtime"

# A corrupt partial file is caught by the chunk checksums and fetched again.
rm -f "$T/getme.back"
DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS get getme -o "$T/getme.back" 2>/dev/null &
kill_when $! "part_bytes $state" $((8 << 20)) "$T/.getme.back.dfs-part" || fail "the get ended before it could be interrupted"
printf 'garbage' | dd of="$T/.getme.back.dfs-part" bs=1 seek=10 conv=notrunc status=none
must dfs_s get --resume getme -o "$T/getme.back"
assert_file_eq "$T/getme" "$T/getme.back"
ok "a damaged partial file is detected by the checksums and fetched again"

# A get that fails leaves nothing behind.
cluster stop 1
cluster stop 2
assert_fails dfs_s get big -o "$T/nothing"
assert_transfer_failed
assert_fails dfs_s get --resume big -o "$T/nothing"
assert_transfer_failed
[[ -z $(find "$T" -maxdepth 1 -name '.nothing*' -o -maxdepth 1 -name nothing) ]] ||
	fail "a failed get left files behind"
ok "a get that cannot start leaves no file behind"

#!/usr/bin/env bash
# test_fault_kill: SIGKILL of each server in turn while a 64 MiB put, then a 64 MiB get,
# is under way. The operation either succeeds with a correct result (a degraded put warns
# naming the server) or fails cleanly; the last complete version is always readable,
# before and after the server returns; the returning server has no temporaries left
# and no partial chunk.
#
# To make "under way" certain rather than likely, the client is frozen (SIGSTOP) once
# data for the victim is observably moving (a growing upload in the server's tmp/, or a
# growing download file), the server is killed, and the client resumes (SIGCONT) to
# find its connection dead in the middle of the transfer.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
IN=$T/in
DEST=$T/dest
mkdir -p "$IN" "$DEST"
SIZE=$((64 * 1024 * 1024))
WAIT_S=20

# wait_growing GLOB MIN_BYTES: waits until some file matching GLOB has at least MIN_BYTES
# allocated; 1 if none did before the client (pid $CLIENT) ended or the time ran out.
wait_growing() {
	local glob=$1 min=$2 f blocks deadline
	deadline=$((SECONDS + WAIT_S))
	while ((SECONDS < deadline)); do
		for f in $glob; do
			[[ -f $f ]] || continue
			blocks=$(stat -c %b "$f" 2>/dev/null) || continue
			((blocks * 512 >= min)) && return 0
		done
		kill -0 "$CLIENT" 2>/dev/null || return 1
		sleep 0.005
	done
	return 1
}

# freeze_kill_resume K GLOB: the steps above; sets RC, OUT, ERR from the client.
# Returns 1 if the transfer ended before it could be caught (the caller retries).
freeze_kill_resume() {
	local k=$1 glob=$2
	if ! wait_growing "$glob" $((1024 * 1024)); then
		set +e
		wait "$CLIENT"
		set -e
		return 1
	fi
	kill -STOP "$CLIENT"
	cluster kill "$k"
	kill -CONT "$CLIENT"
	set +e
	wait "$CLIENT"
	RC=$?
	set -e
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
	((RC < 128)) || fail "the client died of signal $((RC - 128)): $ERR"
	return 0
}

# assert_reads EXPECTED LABEL: get returns exactly EXPECTED.
assert_reads() {
	rm -f "$DEST/check"
	must dfs_s get big -o "$DEST/check"
	assert_file_eq "$1" "$DEST/check"
	rm -f "$DEST/check"
}

# assert_clean_restart K: after a restart, K's tmp/ is empty and every chunk file it holds
# for big has a full size (no partial chunk), and a scrub finds nothing corrupt.
assert_clean_restart() {
	local k=$1 f size left
	left=$(find "$C/data/$k/tmp" -mindepth 1 | head -n 5)
	assert_eq "" "$left" "DFS$k tmp/ after restart"
	while IFS= read -r f; do
		size=$(stat -c %s "$f")
		((size == SIZE / 4 || size == 262144)) || fail "DFS$k holds a partial chunk: $f ($size bytes)"
	done < <(find "$C/data/$k/u" -type f -name '*.[0-9]*')
	must dfs_s scrub big --json
	assert_contains "$OUT" '"corrupt": 0' "scrub"
	must dfs_s status --json
	python3 -c 'import json, sys
sys.exit(sum(s["chunks_need_repair"] for s in json.load(sys.stdin) if s["up"]) != 0)' <<<"$OUT" ||
		fail "chunks still need repair after DFS$k returned: $OUT"
}

LAST=$IN/v0
make_random "$LAST" $((1024 * 1024))
must dfs_s put "$LAST" --as big
assert_reads "$LAST"

# --- puts ------------------------------------------------------------------------------
for k in 1 2 3 4; do
	NEW=$IN/v$k
	make_random "$NEW" "$SIZE"
	for attempt in 1 2 3; do
		DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS put "$NEW" --as big \
			>"$T/out" 2>"$T/err" &
		CLIENT=$!
		freeze_kill_resume "$k" "$C/data/$k/tmp/*" && break
		# Too quick to catch: that put completed with every server up.
		LAST=$NEW
		((attempt < 3)) || fail "could not catch a put to DFS$k in flight"
	done
	if ((RC == 0)); then
		assert_contains "$ERR" "server $k" "degraded put warning"
		LAST=$NEW
		what="succeeded degraded"
	else
		[[ $ERR == dfs:* ]] || fail "put error does not begin with 'dfs: ': $ERR"
		what="failed cleanly (${ERR%%$'\n'*})"
	fi
	assert_reads "$LAST"
	ok "put with DFS$k killed mid-transfer (attempt $attempt) $what; the last complete version reads with DFS$k down"
	cluster start "$k"
	assert_reads "$LAST"
	assert_clean_restart "$k"
	ok "DFS$k restarted: no temporary or partial chunk left, brought level, last complete version reads"
done

# --- gets ------------------------------------------------------------------------------
for k in 1 2 3 4; do
	for attempt in 1 2 3; do
		DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS get big -o "$DEST/big" \
			>"$T/out" 2>"$T/err" &
		CLIENT=$!
		freeze_kill_resume "$k" "$DEST/.big.dfs-*" && break
		rm -f "$DEST/big"
		((attempt < 3)) || fail "could not catch a get from DFS$k in flight"
	done
	if ((RC == 0)); then
		assert_file_eq "$LAST" "$DEST/big"
		what="succeeded with the right bytes"
	else
		assert_transfer_failed
		assert_no_file "$DEST/big"
		what="failed cleanly"
	fi
	left=$(find "$DEST" -mindepth 1 -name '.big.dfs-*')
	assert_eq "" "$left" "temporary download files"
	rm -f "$DEST/big"
	assert_reads "$LAST"
	cluster start "$k"
	assert_reads "$LAST"
	ok "get with DFS$k killed mid-transfer (attempt $attempt) $what; the file reads before and after DFS$k returns"
done

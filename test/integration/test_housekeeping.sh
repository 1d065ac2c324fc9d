#!/usr/bin/env bash
# test_housekeeping.sh: superseded versions, deleted files and stale temporary files are
# removed by housekeeping (SIGUSR1 runs it at once) and the data folders shrink back.
source "$(dirname "$0")/lib.sh"

# A short grace period for superseded versions, so the test need not wait ten minutes.
PREVIOUS_TTL=2
cluster_up
cluster down
for k in 1 2 3 4; do
	printf 'previous_ttl = %d\n' "$PREVIOUS_TTL" >>"$C/conf/dfsd-$k.conf"
done
cluster up

# Bytes of the data folders but for the name index and LMDB's lock files (of fixed size,
# ~100 KiB each).
size_of_data() {
	# The servers' trash threads may remove a file while du walks past it: du then
	# complains and fails, but its total is still right.
	{ du -sb --exclude=names --exclude=lock.mdb "$C/data" 2>/dev/null || true; } | cut -f1
}

# housekeep_all: SIGUSR1 to every server, then wait until each has logged the run.
housekeep_all() {
	local k pid want i
	for k in 1 2 3 4; do
		want[k]=$(($(grep -c 'housekeeping (SIGUSR1)' "$C/logs/dfsd-$k.log" || true) + 1))
		pid=$(<"$C/run/dfsd-$k.pid")
		kill -USR1 "$pid"
	done
	for k in 1 2 3 4; do
		for ((i = 0; i < 200; i++)); do
			(($(grep -c 'housekeeping (SIGUSR1)' "$C/logs/dfsd-$k.log" || true) >= want[k])) && break
			sleep 0.05
		done
		((i < 200)) || fail "server $k did not run housekeeping on SIGUSR1"
	done
}

mkdir -p "$T/src" "$T/got"
MiB=$((1024 * 1024))
NAMES=(a b c d)
for n in "${NAMES[@]}"; do
	make_random "$T/src/$n" $((2 * MiB))
	must dfs_s put "$T/src/$n"
done
empty=$(size_of_data)
live=$((3 * 2 * MiB)) # a, b, c stay; d is deleted below
printf 'data folders after the first puts: %d bytes (4 files of 2 MiB, two copies)\n' "$empty"

for round in 1 2 3; do
	for n in a b c d; do
		make_random "$T/src/$n" $((2 * MiB))
		must dfs_s put "$T/src/$n"
	done
done
must dfs_s delete d
# A temporary file left by a crash long ago, and one of an upload still in progress.
touch -d '2 hours ago' "$C/data/2/tmp/left-over"
before=$(size_of_data)
printf 'data folders after 3 overwrites of each file and 1 delete: %d bytes\n' "$before"
((before > 2 * live + live)) || fail "expected the superseded versions to take room: $before bytes"
ok "overwrites keep the previous version (the grace period for readers)"

# Within the grace period nothing that readers may use goes.
housekeep_all
mid=$(size_of_data)
[[ ! -e $C/data/2/tmp/left-over ]] || fail "the stale temporary file is still there"
ok "housekeeping removed the stale temporary file"

# Once the grace period is over the previous versions go too.
deadline=$((SECONDS + PREVIOUS_TTL + 20))
while :; do
	housekeep_all
	after=$(size_of_data)
	((after < 2 * live + 512 * 1024)) && break
	((SECONDS < deadline)) || fail "data folders still hold $after bytes (live data: 2 x $live)"
	sleep 0.5
done
printf 'data folders after housekeeping: %d bytes (live data %d bytes, two copies = %d)\n' \
	"$after" "$live" $((2 * live))
((after >= 2 * live)) || fail "housekeeping removed live data: $after bytes < 2 x $live"
ok "after the grace period the data folders shrink back to two copies of the live data ($before -> $after bytes)"

for k in 1 2 3 4; do
	[[ -z $(ls -A "$C/data/$k/tmp") ]] || fail "server $k's tmp/ is not empty: $(ls -A "$C/data/$k/tmp")"
done
ok "every tmp/ is empty"

for n in a b c; do
	must dfs_s get "$n" -o "$T/got/$n"
	assert_file_eq "$T/src/$n" "$T/got/$n"
done
assert_fails dfs_s get d -o "$T/got/d"
assert_transfer_failed
ok "the current versions read back byte-exact and the deleted file stays deleted"
printf 'SIZES before=%d mid=%d after=%d live=%d\n' "$before" "$mid" "$after" "$live"

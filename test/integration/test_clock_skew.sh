#!/usr/bin/env bash
# test_clock_skew: writes of one name take effect in the order they were made, whatever the
# clients' clocks say (SPEC section 5): clients ahead and behind by a second, an hour and a
# day (libfaketime), small and large puts, deletes, re-creation, --resume, repair and the
# catch-up, servers down in between, and two clients racing.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v faketime >/dev/null || fail "faketime is not installed (deploy/install-deps --test)"
export XDG_CACHE_HOME=$T/cache
cluster_up
IN=$T/in
mkdir -p "$IN"

# skewed OFFSET ARGS...: dfs as AnujS on a host whose clock is OFFSET off (faketime's
# syntax: +1d, -1h, +1s...). The monotonic clock stays true: only the wall clock is wrong.
# In a build with AddressSanitizer, its allocator must not read the clock: that call can be
# libfaketime's first, whose set-up allocates and deadlocks on the allocator's lock.
skewed() {
	local offset=$1
	shift
	DFS_PASSWORD=Bluepanda FAKETIME_DONT_FAKE_MONOTONIC=1 \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_release_to_os_interval_ms=-1" \
		faketime -f "$offset" "$DFS" -c "$C/dfs.conf" -u AnujS "$@"
}

# A client whose clock is really wrong must actually see the wrong time.
[[ $(faketime -f +1d date +%s) -gt $(($(date +%s) + 80000)) ]] ||
	fail "faketime does not move the clock here"

# holds NAME FILE: a get of NAME returns exactly FILE.
holds() {
	rm -f "$T/got"
	must dfs_s get "$1" -o "$T/got"
	assert_file_eq "$2" "$T/got"
}

# gone NAME: NAME is deleted: a get fails and list does not show it.
gone() {
	rm -f "$T/got"
	run dfs_s get "$1" -o "$T/got"
	assert_transfer_failed
	assert_no_file "$T/got"
	must dfs_s list
	[[ -z $(list_size "$1") ]] || fail "$1 is still listed"
}

# For each size (a small file stored in one call, a large one chunk by chunk) and each
# offset, a write by the skewed client and then one by a client with the right clock, and
# the other way round: the later write is what a reader gets.
for size in 5000 $((300 * 1024 + 7)); do
	for offset in +1s -1s +1h -1h +1d -1d; do
		name=f$size$offset
		for k in 1 2 3 4; do make_random "$IN/$name.$k" "$size"; done
		must skewed "$offset" put "$IN/$name.1" --as "$name"
		must dfs_s put "$IN/$name.2" --as "$name"
		assert_not_contains "$ERR" "warning" "put after a skewed put"
		holds "$name" "$IN/$name.2"
		must skewed "$offset" put "$IN/$name.3" --as "$name"
		holds "$name" "$IN/$name.3"
		# Deleted by one, re-created by the other, deleted again (the first size checks
		# that a deleted file is gone from get and list too).
		must dfs_s delete "$name"
		((size > 10000)) || gone "$name"
		must skewed "$offset" put "$IN/$name.4" --as "$name"
		holds "$name" "$IN/$name.4"
		must skewed "$offset" delete "$name"
		((size > 10000)) || gone "$name"
		must dfs_s put "$IN/$name.1" --as "$name"
		holds "$name" "$IN/$name.1"
	done
	ok "$size-byte files: put, overwrite, delete and re-create alternate between clients" \
		"1 s, 1 h and 1 day ahead and behind and a right clock, each taking effect in order"
done

# The same across outages: a server down during the skewed write, back for the next one
# (and the catch-up at login brings it level with the newest version, never the stale one).
make_random "$IN/out.1" $((300 * 1024))
make_random "$IN/out.2" $((300 * 1024))
make_random "$IN/out.3" 4000
must dfs_s put "$IN/out.1" --as out
cluster stop 2
must skewed +1d put "$IN/out.2" --as out
assert_contains "$ERR" "server 2" "put warning"
cluster start 2
must dfs_s list
cluster stop 1
cluster stop 3
holds out "$IN/out.2"
cluster start 1
cluster start 3
ok "a write from a clock a day ahead, made with DFS2 down, reaches DFS2 by the catch-up"

cluster stop 4
must dfs_s put "$IN/out.3" --as out
cluster start 4
holds out "$IN/out.3"
must dfs_s repair out
cluster stop 1
cluster stop 3
holds out "$IN/out.3"
cluster start 1
cluster start 3
must skewed -1d delete out
gone out
ok "after it, a right clock overwrites with DFS4 down, repair brings DFS4 level, a clock" \
	"a day behind deletes"

# Two non-neighbouring servers down: the two left may have missed the last write, so no
# write is ordered after it: refused, nothing changes.
make_random "$IN/two.1" 3000
make_random "$IN/two.2" 3000
must dfs_s put "$IN/two.1" --as two
cluster stop 1
cluster stop 3
assert_fails dfs_s put "$IN/two.2" --as two
assert_contains "$ERR" "too few servers"
assert_fails dfs_s delete two
assert_contains "$ERR" "too few servers"
holds two "$IN/two.1"
cluster start 1
cluster start 3
holds two "$IN/two.1"
ok "with DFS1 and DFS3 down a put and a delete are refused, and the file is unchanged"

# --resume of a put interrupted before a clock a day ahead wrote the name: the resumed put
# starts again above it instead of reusing its older version.
make_random "$IN/res.1" $((48 << 20))
make_random "$IN/res.2" 2000
staged_bytes() {
	find "$C"/data/*/tmp -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}'
}
DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS put "$IN/res.1" --as res 2>/dev/null &
pid=$!
for ((i = 0; i < 3000; i++)); do
	(($(staged_bytes) > 4 << 20)) && break
	kill -0 "$pid" 2>/dev/null || fail "the put ended before it could be interrupted"
	sleep 0.01
done
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
[[ -n $(ls "$XDG_CACHE_HOME/dfs/resume") ]] || fail "no resume record was left"
must skewed +1d put "$IN/res.2" --as res
must dfs_s put --resume "$IN/res.1" --as res
assert_contains "$ERR" "starting over"
holds res "$IN/res.1"
ok "put --resume after a newer write by a clock a day ahead starts over and wins"

# A clock further ahead than the servers allow (max_clock_skew, 7 days) is refused with a
# message that names the clock, and the stored file is untouched.
make_random "$IN/far.1" 3000
make_random "$IN/far.2" 3000
make_random "$IN/far.3" $((300 * 1024))
must dfs_s put "$IN/far.1" --as far
assert_fails skewed +30d put "$IN/far.2" --as far
assert_contains "$ERR" "clock"
assert_fails skewed +30d put "$IN/far.3" --as far
assert_contains "$ERR" "clock"
assert_fails skewed +30d delete far
assert_contains "$ERR" "clock"
holds far "$IN/far.1"
grep -q "ahead of this server's clock" "$C"/logs/dfsd-*.log || fail "no server logged the refusal"
ok "a client 30 days ahead is refused with a message naming its clock; the file is unchanged"

# Certificates start two days early: a client a day behind logs in (above); one three days
# behind is told its clock may be wrong.
assert_fails skewed -3d list
assert_contains "$ERR" "clock may be wrong"
ok "a client three days behind is told that its clock may be wrong"

# Two clients, an hour apart, racing on one name: one of them survives, whole, on every
# server; a put that exited 0 was the current state when it returned, so the survivor is one
# that succeeded.
for round in 1 2 3; do
	make_random "$IN/race.a" $((300 * 1024))
	make_random "$IN/race.b" 3000
	skewed +1h put "$IN/race.a" --as race >"$T/race.a.out" 2>&1 &
	pa=$!
	dfs_s put "$IN/race.b" --as race >"$T/race.b.out" 2>&1 &
	pb=$!
	ra=0 rb=0
	wait "$pa" || ra=$?
	wait "$pb" || rb=$?
	((ra == 0 || rb == 0)) || fail "round $round: both racing puts failed"
	for down in "1 3" "2 4"; do
		for k in $down; do cluster stop "$k"; done
		rm -f "$T/got"
		must dfs_s get race -o "$T/got"
		for k in $down; do cluster start "$k"; done
		if cmp -s "$T/got" "$IN/race.a"; then
			((ra == 0)) || fail "round $round: the survivor's put exited $ra"
		elif cmp -s "$T/got" "$IN/race.b"; then
			((rb == 0)) || fail "round $round: the survivor's put exited $rb"
		else
			fail "round $round: the file read with DFS$down down is neither put"
		fi
		cp "$T/got" "$T/got.$round.${down// /}"
	done
	cmp -s "$T/got.$round.13" "$T/got.$round.24" ||
		fail "round $round: the two halves of the cluster hold different files"
done
ok "two clients an hour apart racing on a name: the survivor is whole and the same on every server"

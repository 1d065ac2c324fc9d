#!/usr/bin/env bash
# test_heal: servers bring themselves level with their neighbours, with no user command while
# they do: a wiped server is rebuilt; a server down during overwrites, puts and deletes catches
# up; a recovery interrupted by a neighbour killed, or by the recovering server itself killed
# (which then resumes after the last user it finished), still ends complete, as does a
# catch-up whose server is killed in the middle; files changed and deleted during a recovery
# end in their newest state; a copy the scrub finds corrupt is rewritten. Every dfs command here runs while no recovery is awaited (a
# client's login catch-up would otherwise do the servers' work); what a server holds is checked
# by its log and by reading with the servers beside it stopped.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$T" || fail "cd $T"
# shellcheck disable=SC2119 # the default cluster folder
cluster_up
D=$C/data
# The demo users; AnujK comes first in byte order, so a pass recovers AnujK, then AnujS.
declare -A PW=([AnujK]=wiger [AnujS]=Bluepanda)
# "USER/NAME" -> 1 for every file that must read back as $T/src/USER/NAME, and every deleted one.
declare -A HAVE=() GONE=()

# --- helpers -------------------------------------------------------------------------------

# log_mark K: the current end of server K's log; log_since K MARK: what it logged after MARK.
log_mark() {
	stat -c %s "$C/logs/dfsd-$1.log"
}

log_since() {
	tail -c +$(($2 + 1)) "$C/logs/dfsd-$1.log"
}

# show_since K MARK: the last lines server K logged after MARK, on stderr.
show_since() {
	printf '=== server %s logged since the mark (last 30 lines):\n' "$1" >&2
	log_since "$1" "$2" | tail -n 30 >&2
}

# wait_log K MARK REGEX SECONDS: waits (polling, at most SECONDS) until server K has logged a
# line matching REGEX after MARK; fails with that part of its log if not.
wait_log() {
	local k=$1 mark=$2 re=$3 secs=$4 i
	for ((i = 0; i < secs * 5; i++)); do
		log_since "$k" "$mark" | grep -Eq -- "$re" && return 0
		sleep 0.2
	done
	show_since "$k" "$mark"
	fail "server $k logged no line matching /$re/ within ${secs}s"
}

# as USER ARGS...: dfs as USER.
as() {
	local user=$1
	shift
	dfs_as "$user" "${PW[$user]}" "$@"
}

# put_file USER NAME BYTES|-: makes $T/src/USER/NAME (random, or from stdin with -) and puts it.
put_file() {
	local user=$1 name=$2 src=$T/src/$1/$2
	mkdir -p "$(dirname "$src")"
	if [[ $3 == - ]]; then
		cat >"$src"
	else
		make_random "$src" "$3"
	fi
	must as "$user" put "$src" --as "$name"
	HAVE[$user/$name]=1
	unset "GONE[$user/$name]"
}

# delete_file USER NAME
delete_file() {
	must as "$1" delete "$2"
	unset "HAVE[$1/$2]"
	GONE[$1/$2]=1
}

# wipe K: stops server K and empties its data folder.
wipe() {
	cluster stop "$1"
	find "${D:?}/$1" -mindepth 1 -delete
	[[ -z $(ls -A "$D/$1") ]] || fail "server $1's data folder is not empty"
}

# check_from_2_4 WHAT: with servers 1 and 3 stopped (so every chunk is read from 2 or 4, which
# share none), every file of both users reads back byte-exact and every deleted one is missing.
check_from_2_4() {
	local what=$1 user key name
	local -a names
	cluster stop 1
	cluster stop 3
	rm -rf "$T/got"
	for user in AnujK AnujS; do
		names=()
		for key in "${!HAVE[@]}"; do
			[[ $key == "$user"/* ]] && names+=("${key#*/}")
		done
		mkdir -p "$T/got/$user"
		must as "$user" get "${names[@]}" -d "$T/got/$user"
		for name in "${names[@]}"; do
			assert_file_eq "$T/src/$user/$name" "$T/got/$user/$name"
		done
		for key in "${!GONE[@]}"; do
			[[ $key == "$user"/* ]] || continue
			name=${key#*/}
			assert_fails as "$user" get "$name" -o "$T/got/gone"
			assert_transfer_failed
			assert_no_file "$T/got/gone"
		done
	done
	cluster start 1
	cluster start 3
	ok "$what: with servers 1 and 3 stopped, ${#HAVE[@]} files of both users read back" \
		"byte-exact from 2 and 4, ${#GONE[@]} deleted ones are missing"
}

# --- the files -----------------------------------------------------------------------------

# AnujK: small (recovered first, quickly).
printf 'k tiny\n' | put_file AnujK k-tiny -
put_file AnujK k-mid 200000
put_file AnujK k-gone 1000
mkdir -p "$T/src/AnujK/kdir/notes"
printf 'a note\n' >"$T/src/AnujK/kdir/notes/a.txt"
make_random "$T/src/AnujK/kdir/b.bin" 50000
must as AnujK put -r "$T/src/AnujK/kdir"
HAVE[AnujK/kdir/notes/a.txt]=1
HAVE[AnujK/kdir/b.bin]=1
# AnujS: a few of several MB, tiny ones, folders.
put_file AnujS s-big 3000000
put_file AnujS s-big2 5000001
printf 'x' | put_file AnujS s-one -
printf 'version one\n' | put_file AnujS s-doc -
put_file AnujS s-gone 4096
put_file AnujS s-mid 300000
mkdir -p "$T/src/AnujS/sdir/x/y"
make_random "$T/src/AnujS/sdir/x/y/deep.bin" 1000000
printf 'z\n' >"$T/src/AnujS/sdir/z.txt"
must as AnujS put -r "$T/src/AnujS/sdir"
HAVE[AnujS/sdir/x/y/deep.bin]=1
HAVE[AnujS/sdir/z.txt]=1
ok "put ${#HAVE[@]} files for AnujK and AnujS (some of several MB, tiny ones, in folders)"

# --- 1. a wiped server rebuilds itself -----------------------------------------------------

wipe 2
mark=$(log_mark 2)
cluster start 2
wait_log 2 "$mark" 'recovery pass done: 2 users' 60
log_since 2 "$mark" | grep -Eq 'recovery: s-big: chunk [0-9] on server 2 was missing; rewritten' || {
	show_since 2 "$mark"
	fail "server 2's log names no chunk of s-big it rewrote"
}
ok "wipe: server 2 started on an empty data folder and logged its recovery pass done"
check_from_2_4 "wipe"

# --- 2. a server down during changes catches up --------------------------------------------

cluster stop 4
printf 'version two, longer than the first\n' | put_file AnujS s-doc -
delete_file AnujS s-gone
put_file AnujS s-new 700000
delete_file AnujK k-gone
mark=$(log_mark 4)
cluster start 4
wait_log 4 "$mark" 'recovery pass done' 60
for re in 's-doc: chunk [0-9] on server 4 was (stale|missing); rewritten' \
	's-new: chunk [0-9] on server 4 was missing; rewritten' \
	's-gone: chunk 0 on server 4 held a deleted file; rewritten' \
	'k-gone: chunk 0 on server 4 held a deleted file; rewritten'; do
	log_since 4 "$mark" | grep -Eq -- "$re" || {
		show_since 4 "$mark"
		fail "server 4 logged no line matching /$re/"
	}
done
ok "outage: server 4, back after an overwrite, a put and two deletes, logged each caught up"
# Server 4 alone: its records (dfs stat shows the one record it finds) know the deletes and
# the overwrite; with another server up, that one's newer records would hide a stale one here.
cluster stop 1
cluster stop 2
cluster stop 3
for key in AnujS/s-gone AnujK/k-gone; do
	assert_fails as "${key%%/*}" stat "${key#*/}"
	assert_contains "$ERR" "${key#*/}: no such file" "stat of a deleted file"
done
must as AnujS stat s-doc
assert_contains "$OUT" "size      $(stat -c %s "$T/src/AnujS/s-doc") " "stat of s-doc"
must as AnujS stat s-new
assert_contains "$OUT" "size      $(stat -c %s "$T/src/AnujS/s-new") " "stat of s-new"
cluster start 2
ok "outage: server 4 alone records the deletes, the overwrite's size and the new file"
check_from_2_4 "outage"

# --- 3. a neighbour killed during a slow recovery ------------------------------------------

# Enough data that a paced recovery of server 2 (half of it at 5 MB/s) lasts seconds.
for i in 1 2 3 4 5 6 7 8; do
	put_file AnujS "bulk/b$i" 10000000
done
ok "put 80 MB more for AnujS"
printf 'heal_rate = 5\n' >>"$C/conf/dfsd-2.conf"

# slow_rebuild_of_2: wipes and starts server 2, and waits until it has rewritten some of
# AnujS's bulk files but not finished its pass. Sets MARK (its log before the start).
slow_rebuild_of_2() {
	wipe 2
	MARK=$(log_mark 2)
	cluster start 2
	wait_log 2 "$MARK" 'recovery: bulk/b[0-9]: chunk [0-9] on server 2 was missing; rewritten' 60
	if log_since 2 "$MARK" | grep -q 'recovery pass done'; then
		show_since 2 "$MARK"
		fail "server 2's recovery finished before it could be interrupted"
	fi
}

slow_rebuild_of_2
cluster kill 1
wait_log 2 "$MARK" 'recovery pass ended with work left' 60
log_since 2 "$MARK" | grep -q 'recovery of user AnujS here is not finished' || {
	show_since 2 "$MARK"
	fail "server 2 did not say AnujS's recovery is unfinished"
}
ok "neighbour killed: server 2's pass, with server 1 gone, ended with work left"
mark=$(log_mark 2)
cluster start 1
# Retries (5 s, then doubling) go on until one finishes; one that began before server 1
# answered ends with work left again.
wait_log 2 "$mark" 'recovery pass done' 180
ok "neighbour killed: server 2's retry, with server 1 back, finished its pass"
check_from_2_4 "neighbour killed"

# --- 4. the recovering server itself killed ------------------------------------------------

slow_rebuild_of_2
cluster kill 2
mark=$(log_mark 2)
cluster start 2
wait_log 2 "$mark" 'recovery: pass resumed after user AnujK \(1 of 2 users left\)' 30
ok "server killed: server 2, killed while recovering AnujS, resumed after user AnujK"
wait_log 2 "$mark" 'recovery pass done' 180
if log_since 2 "$mark" | grep -Eq 'recovery: (k-|kdir/)'; then
	show_since 2 "$mark"
	fail "the resumed pass rewrote AnujK's files again"
fi
ok "server killed: the resumed pass finished without redoing AnujK"
check_from_2_4 "server killed"

# --- 4b. users' writes during a recovery ---------------------------------------------------

# Reads and writes go on while server 2 rebuilds; files changed or deleted meanwhile (some
# already recovered, some not yet reached) end in their newest state on every server.
slow_rebuild_of_2
printf 'the newest bytes of b8\n' | put_file AnujS bulk/b8 -
delete_file AnujS bulk/b7
delete_file AnujS bulk/b1
put_file AnujS bulk/b9 20000
must as AnujS get bulk/b2 -o "$T/got-b2"
assert_file_eq "$T/src/AnujS/bulk/b2" "$T/got-b2"
wait_log 2 "$MARK" 'recovery pass done' 180
ok "during a recovery: an overwrite, two deletes, a put and a get, all done"
check_from_2_4 "writes during recovery"
sed -i '/^heal_rate = /d' "$C/conf/dfsd-2.conf"

# --- 4c. a catch-up after an outage, its server killed in the middle ----------------------

printf 'heal_rate = 5\n' >>"$C/conf/dfsd-4.conf"
cluster stop 4
for i in 2 3 4 5 6; do
	put_file AnujS "bulk/b$i" 8000000
done
delete_file AnujS bulk/b9
mark=$(log_mark 4)
cluster start 4
wait_log 4 "$mark" 'recovery: bulk/b[0-9]: chunk [0-9] on server 4 was (stale|missing); rewritten' 60
if log_since 4 "$mark" | grep -q 'recovery pass done'; then
	show_since 4 "$mark"
	fail "server 4's catch-up finished before it could be interrupted"
fi
cluster kill 4
sed -i '/^heal_rate = /d' "$C/conf/dfsd-4.conf"
mark=$(log_mark 4)
cluster start 4
wait_log 4 "$mark" 'recovery pass done' 120
ok "outage, killed: server 4, killed while catching up on overwrites and a delete, finished after its restart"
check_from_2_4 "outage, killed"
! grep -q '^heal_rate' "$C/conf/dfsd-2.conf" || fail "heal_rate is still in dfsd-2.conf"

# --- 5. a corrupt copy found by the scrub is rewritten -------------------------------------

name=s-mid
chunk=
for c in 1 2 3 4; do
	if (($(holder "$name" "$c" 0) == 1)); then
		chunk=$c other=$(holder "$name" "$c" 1)
		break
	elif (($(holder "$name" "$c" 1) == 1)); then
		chunk=$c other=$(holder "$name" "$c" 0)
		break
	fi
done
[[ -n $chunk ]] || fail "server 1 holds no chunk of $name"
file=$(chunk_file 1 "$name" "$chunk")
flip "$file" 100
flip "$file" 5000
mark=$(log_mark 1)
cluster scrub 1
wait_log 1 "$mark" "recovery: $name: chunk $chunk on server 1 was missing; rewritten" 60
ok "scrub: server 1 set aside its corrupt copy of chunk $chunk of $name and rewrote it itself"
cluster stop "$other"
rm -f "$T/got/$name"
must as AnujS get "$name" -o "$T/got/$name"
assert_file_eq "$T/src/AnujS/$name" "$T/got/$name"
cluster start "$other"
ok "scrub: with server $other (the other holder) stopped, $name reads back byte-exact"

#!/usr/bin/env bash
# test_quota: dfsadm quota limits a user's bytes and files; a put over it fails whole.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DFSADM=$DFS_BUILD/bin/dfsadm
cluster_up
IN=$T/in
mkdir -p "$IN"
cd "$T" || fail "cd $T"

quota() {
	must "$DFSADM" -f "$C/users.db" quota "$@"
}

# no_chunks NAME: no server holds a chunk of AnujS's NAME: no chunk file, and no chunk in
# its records database (where a small file's chunks go).
no_chunks() {
	local hash found d dump
	hash=$(printf '%s' "$1" | sha256sum | cut -c1-64)
	found=$(find "$C"/data/*/u/AnujS/"${hash:0:2}/$hash" -regextype posix-extended \
		-regex '.*/[0-9a-f]{16}\.[0-9]+' 2>/dev/null || true)
	[[ -z $found ]] || fail "chunk files of $1 remain: $found"
	for d in "$C"/data/*; do
		# Keys are USER NUL HASH VERSION INDEX; mdb_dump -p prints the NUL as \00.
		dump=$(mdb_dump -p -s chunks "$d/records")
		[[ $dump != *" AnujS\\00$hash"* ]] || fail "$d/records holds a chunk of $1"
	done
}

# no_staged: nothing is left in any server's tmp/.
no_staged() {
	local left
	left=$(find "$C"/data/*/tmp -type f 2>/dev/null || true)
	[[ -z $left ]] || fail "staged files remain: $left"
}

# listing: AnujS's `dfs list`, sorted.
listing() {
	dfs_s list | sort
}

# over_quota CMD...: CMD fails with 'quota' in its message.
over_quota() {
	assert_fails "$@"
	assert_contains "$ERR" quota "message of a put over quota"
	[[ $ERR == dfs:* ]] || fail "error message does not begin with 'dfs: ': $ERR"
}

M=$((1024 * 1024))
make_random "$IN/m" $M
make_random "$IN/one" 1
make_random "$IN/big" $((M + 1))
make_random "$IN/small-m" $((M - 100))

quota AnujS 1M
must "$DFSADM" -f "$C/users.db" list
assert_contains "$OUT" "AnujS quota $M bytes" "dfsadm list"
grep -qx AnujK <<<"$OUT" || fail "AnujK, without a quota, should list as the name alone: $OUT"
ok "dfsadm quota sets a limit that dfsadm list shows"

must dfs_s put "$IN/m"
must dfs_s status
assert_contains "$OUT" "quota: $M of $M bytes" "dfs status"
ok "a file of exactly the quota fits, and dfs status shows the usage"

before=$(listing)
over_quota dfs_s put "$IN/one"
assert_eq "$before" "$(listing)" "listing after a refused small put"
no_chunks one
no_staged
ok "one byte over the quota fails with 'quota' and stores nothing (small file)"

must dfs_s delete m
make_random "$IN/part" $((M - 1000))
must dfs_s put "$IN/part"
make_random "$IN/big-over" $((300 * 1024))
before=$(listing)
over_quota dfs_s put "$IN/big-over"
assert_eq "$before" "$(listing)" "listing after a refused large put"
no_chunks big-over
no_staged
over_quota dfs_s put "$IN/big"
no_chunks big
no_staged
ok "a large file over the quota fails with 'quota' and stores nothing"

must dfs_s delete part
must dfs_s put "$IN/m" --as f
must dfs_s put "$IN/small-m" --as f
must dfs_s put "$IN/m" --as f
over_quota dfs_s put "$IN/big" --as f
must dfs_s get f -o "$T/f-back"
assert_file_eq "$IN/m" "$T/f-back"
ok "an overwrite is charged the difference; a refused one leaves the old file"

over_quota dfs_s put "$IN/one"
must dfs_s delete f
must dfs_s put "$IN/one"
make_random "$IN/half" $((M / 2))
must dfs_s put "$IN/half"
must dfs_s status
assert_contains "$OUT" "quota: $((M / 2 + 1)) of $M bytes" "dfs status after delete"
ok "a delete gives its space back at once"

quota AnujS 0
must dfs_s put "$IN/big"
must dfs_s put "$IN/m" --as m2
must dfs_s status
assert_contains "$OUT" "bytes of no limit" "dfs status without a quota"
quota AnujS 2M
over_quota dfs_s put "$IN/m" --as m3
quota AnujS 10M
must dfs_s put "$IN/m" --as m3
ok "quota changes take effect on the running servers"

for i in 1 2 3 4 5; do
	printf 'file %d\n' "$i" >"$IN/k$i"
done
quota AnujK 0 3
must dfs_k put "$IN/k1"
must dfs_k put "$IN/k2"
must dfs_k put "$IN/k3"
over_quota dfs_k put "$IN/k4"
must dfs_k put "$IN/k5" --as k1
must dfs_k status
assert_contains "$OUT" "of 3 files" "dfs status with a file limit"
must dfs_k delete k2
must dfs_k put "$IN/k4"
run dfs_k put "$IN/k5"
((RC != 0)) || fail "a fourth file was stored"
must dfs_k list
assert_eq 3 "$(wc -l <"$T/out")" "AnujK's files"
ok "a file-count limit: new names refused at the limit, overwrites allowed"

quota AnujK 0 0
for i in 1 2 3 4 5 6; do
	printf 'many %d\n' "$i" >"$IN/many$i"
done
must dfs_k delete k1 k3 k4
quota AnujK 0 4
run dfs_k put "$IN"/many1 "$IN"/many2 "$IN"/many3 "$IN"/many4 "$IN"/many5 "$IN"/many6
((RC != 0)) || fail "six files under a limit of four all stored"
assert_contains "$ERR" quota "message of a multi-file put over quota"
must dfs_k list
n=$(wc -l <"$T/out")
((n <= 4)) || fail "$n files stored under a limit of 4"
ok "a put of many files stops at the file limit ($n of 6 stored)"

# Concurrent puts that fit one at a time but not together: the servers check
# and count under one lock each, and a put succeeds only if no server refused
# it, so the limit holds exactly (some may fail that would have fitted alone).
must dfs_s delete big m2 m3 one half
quota AnujS 1M
for i in 1 2 3 4; do
	make_random "$IN/c$i" $((400 * 1024))
done
pids=()
for i in 1 2 3 4; do
	(dfs_s put "$IN/c$i" >"$T/c$i.out" 2>"$T/c$i.err") &
	pids+=($!)
done
good=0
for i in 1 2 3 4; do
	if wait "${pids[$((i - 1))]}"; then
		good=$((good + 1))
	else
		grep -q quota "$T/c$i.err" || fail "concurrent put $i failed without 'quota': $(cat "$T/c$i.err")"
	fi
done
((good <= 2)) || fail "$good concurrent puts of 400 KiB succeeded under 1 MiB"
must dfs_s list
cp "$T/out" "$T/list"
total=0
while read -r name size _; do
	total=$((total + size))
	must dfs_s get "$name" -o "$T/got-$name"
	assert_file_eq "$IN/$name" "$T/got-$name"
done <"$T/list"
((total <= M)) || fail "AnujS stores $total bytes over a quota of $M"
assert_eq "$((good * 400 * 1024))" "$total" "bytes of the puts that succeeded"
no_staged
for i in 1 2 3 4; do
	grep -q "^c$i " "$T/list" || no_chunks "c$i"
done
ok "concurrent puts together over the quota: at most the limit is stored ($good of 4 succeeded)"

assert_fails "$DFSADM" -f "$C/users.db" quota AnujS 12Q
assert_fails "$DFSADM" -f "$C/users.db" quota nobody 1M
assert_contains "$ERR" "no such user" "dfsadm quota for an unknown user"
quota AnujS 0
must "$DFSADM" -f "$C/users.db" list
grep -qx AnujS <<<"$OUT" || fail "AnujS without a quota should list as the name alone: $OUT"
ok "dfsadm quota refuses a bad size and an unknown user; 0 removes the limit"

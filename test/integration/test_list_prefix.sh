#!/usr/bin/env bash
# test_list_prefix: dfs list PREFIX and dfs list --limit N against a real cluster: the same
# files as the whole listing filtered by prefix, or its first N lines, with folders, names
# sharing prefixes, spaces and UTF-8, deleted and replaced files, more than one page of
# matches, and a server down.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export LC_ALL=C

LIST_NAMES=20
PROXIES=()
on_exit 'kill "${PROXIES[@]}" 2>/dev/null'

cluster_up
# The proxies standing for older servers below read each call, so the servers must take
# plain connections too.
sed -i 's/^tls = required$/tls = optional/' "$C"/conf/dfsd-*.conf
cluster down
cluster up
cd "$T"

# 270 files in one folder (more than one 256-record page), folders whose names begin
# one another ('a', 'a b', 'ab', 'x/1', 'x/10'), spaces, and names with bytes >= 0x80.
uni=$'\xc3\xbc'                 # u with diaeresis
e=$'\xc3\xa9'                   # e with acute
jp=$'\xe6\x97\xa5\xe6\x9c\xac' # two CJK characters
mkdir -p tree/many tree/a "tree/a b" tree/ab tree/x "tree/$uni" "tree/$jp"
for ((i = 0; i < 270; i++)); do
	printf -v n '%03d' "$i"
	printf '%s\n' "$i" >"tree/many/f$n"
done
for i in 1 2 3 4 5 6 7 8 9 10; do
	printf 'a %s\n' "$i" >"tree/a/x$i"
	printf 'space %s\n' "$i" >"tree/a b/c d $i"
	printf 'ab %s\n' "$i" >"tree/ab/y$i"
	printf 'u %s\n' "$i" >"tree/$uni/$e$i"
done
for n in 1 10 100 1000 2 20; do
	printf 'x %s\n' "$n" >"tree/x/$n"
done
for i in 1 2 3 4 5; do
	printf 'jp %s\n' "$i" >"tree/$jp/$jp$i"
done
(cd tree && must dfs_s put -r many a "a b" ab x "$uni" "$jp")
# Tombstones and replaced files among the first names in order.
must dfs_s delete "a b/c d 1" "a b/c d 2" a/x1 a/x10 ab/y3
printf 'replaced\n' >tree/again
must dfs_s put tree/again --as "a b/c d 3"
must dfs_s put tree/again --as a/x2

must dfs_s list
full=$OUT
total=$(wc -l <<<"$full")
assert_eq 316 "$total" "files in the whole listing"
[[ $(sort <<<"$full") == "$full" ]] || fail "the whole listing is not in byte order"
assert_contains "$full" "a b/c d 3 9" "the whole listing"
assert_not_contains "$full" "a b/c d 1 " "the whole listing"
ok "the whole listing has every file ($total), in byte order, without the deleted ones"

# prefix_of PREFIX: the lines of the whole listing whose name begins with PREFIX.
prefix_of() {
	awk -v p="$1" 'index($0, p) == 1' <<<"$full"
}

for p in a "a " "a b/" "a b/c d 1" a/ ab many/ many/f1 many/f26 x/1 x/10 x/100 x/2 "$uni" \
	"$uni/" "$jp" "$jp/$jp" "$(printf '\xe6')" many/f269; do
	must dfs_s list "$p"
	assert_eq "$(prefix_of "$p")" "$OUT" "dfs list '$p'"
	[[ -n $OUT ]] || fail "dfs list '$p' printed nothing"
done
ok "dfs list PREFIX prints exactly the lines of the whole listing with that prefix"

must dfs_s list many/
assert_eq 270 "$(wc -l <<<"$OUT")" "files of list many/"
must dfs_s list -l many/
assert_eq 270 "$(grep -c ' survives:any many/f' <<<"$OUT")" "lines of list -l many/"
ok "a prefix with more than 256 files lists them all (-l too)"

for p in nothing "many/f270" "a b/c d 2" "$(printf 'a\xc3')" zzz; do
	run dfs_s list "$p"
	assert_eq 0 "$RC" "exit status of dfs list '$p'"
	assert_eq "" "$OUT" "dfs list '$p'"
	assert_eq "" "$ERR" "stderr of dfs list '$p'"
done
must dfs_s list --json nothing
assert_eq "[]" "$OUT" "dfs list --json nothing"
long=$(printf 'p%.0s' {1..4096})
must dfs_s list "$long"
assert_eq "" "$OUT" "dfs list of a 4,096-byte prefix"
run dfs_s list "${long}p"
assert_eq 1 "$RC" "exit status of dfs list of a 4,097-byte prefix"
assert_contains "$ERR" "longer than 4096 bytes" "dfs list of a 4,097-byte prefix"
ok "a prefix that matches nothing prints nothing and exits 0; one longer than a name fails"

for n in 1 2 7 25 256 257 300 315 316 317 5000; do
	must dfs_s list --limit "$n"
	assert_eq "$(head -n "$n" <<<"$full")" "$OUT" "dfs list --limit $n"
done
for p in a many/ "a b/" x/1 "$uni"; do
	for n in 1 3 260; do
		must dfs_s list "$p" --limit "$n"
		assert_eq "$(prefix_of "$p" | head -n "$n")" "$OUT" "dfs list '$p' --limit $n"
	done
done
must dfs_s list --limit 4 --json a
python3 -c 'import json, sys
l = json.load(sys.stdin)
names = [f["name"] for f in l]
assert names == ["a b/c d 10", "a b/c d 3", "a b/c d 4", "a b/c d 5"], names
assert l[1]["size"] == 9, l[1]' <<<"$OUT" || fail "dfs list --limit 4 --json a: $OUT"
ok "dfs list [PREFIX] --limit N equals the first N lines of the full listing (also --json)"

if [[ -n $(listed 1) ]]; then
	# Every server holds part of every file, so lists them all: 316 files and the
	# records of deleted and replaced ones.
	sent dfs_s list
	((SENT >= 316)) || fail "a server sent $SENT records for the whole listing"
	sent dfs_s list x/10
	((SENT >= 2 && SENT <= 4)) || fail "a server sent $SENT records for the 2 files of x/10"
	sent dfs_s list many/f26
	((SENT == 10)) || fail "a server sent $SENT records for the 10 files of many/f26"
	sent dfs_s list nothing
	((SENT == 0)) || fail "a server sent $SENT records for a prefix nothing begins with"
	sent dfs_s list many/ --limit 5
	((SENT >= 5 && SENT <= 10)) || fail "a server sent $SENT records for list many/ --limit 5"
	sent dfs_s list --limit 1
	((SENT >= 1 && SENT <= 8)) || fail "a server sent $SENT records for list --limit 1"
	ok "servers send only the records with the prefix, and about N with --limit N"
else
	printf 'skip: the servers do not count the records they list\n'
fi

for bad in 0 -1 abc 1x "" 99999999999999999999999; do
	run dfs_s list --limit "$bad"
	assert_eq 2 "$RC" "exit status of --limit '$bad'"
	assert_contains "$ERR" "--limit" "stderr of --limit '$bad'"
	assert_eq "" "$OUT" "stdout of --limit '$bad'"
done
ok "--limit refuses 0, negative and non-numbers as a usage error"

# names LISTING: the names of a plain listing (the size and any marker removed).
names() {
	sed -E 's/ [0-9]+( \((degraded|unreadable)\))?$//' <<<"$1"
}

rebuilt=$(grep -c 'the name index was not closed cleanly' "$C/logs/dfsd-2.log" || true)
cluster kill 2
run dfs_s list
assert_eq 0 "$RC" "exit status of dfs list with server 2 down"
down=$OUT
assert_eq "$(names "$full")" "$(names "$down")" "names listed with server 2 down"
assert_eq "$total" "$(grep -c ' (degraded)$' <<<"$down")" "degraded files with server 2 down"
must dfs_s list many/
assert_eq 270 "$(wc -l <<<"$OUT")" "files of list many/ with server 2 down"
for p in a "a b/" x/10 "$jp"; do
	must dfs_s list "$p"
	assert_eq "$(awk -v p="$p" 'index($0, p) == 1' <<<"$down")" "$OUT" "list '$p', server 2 down"
done
for n in 1 5 257 316; do
	must dfs_s list --limit "$n"
	assert_eq "$(head -n "$n" <<<"$down")" "$OUT" "dfs list --limit $n with server 2 down"
done
ok "with a server down the listing is complete; PREFIX and --limit still match it"

cluster start 2
# Killed, so its name index was not closed cleanly: rebuilt at start from the records, and
# complete (it sends every record under a prefix, as the others do).
assert_eq $((rebuilt + 1)) "$(grep -c 'the name index was not closed cleanly: refilled from the records' \
	"$C/logs/dfsd-2.log")" "server 2's name index rebuilds after it was killed"
if [[ -n $(listed 2) ]]; then
	before=$(listed 2)
	must dfs_s list many/
	assert_eq 270 "$(wc -l <<<"$OUT")" "files of list many/ after server 2 restarted"
	(($(listed 2) - before >= 270)) || fail "server 2 sent $(($(listed 2) - before)) records for many/"
fi
ok "a server killed and started again rebuilds its name index and lists in full"

# Older servers, as during a rolling upgrade: proxies answer LIST_NAMES as a server without
# it does (PROC_UNAVAIL) and relay every other call. With server 3 behind one, and then
# every server, the client reads those servers whole with LIST and keeps the prefix.
must dfs_s list
full=$OUT
for k in 1 2 3 4; do
	python3 "$DFS_SOURCE/test/tools/older_server_proxy.py" "$(cluster_env "DFS_CLUSTER_PORT_$k")" \
		"$T/proxy$k.port" "$T/proxy$k.stats" "$LIST_NAMES" >"$T/proxy$k.log" 2>&1 &
	PROXIES+=($!)
done
# older_conf FILE K...: a plain client configuration reaching servers K... through proxies.
older_conf() {
	local file=$1 k port
	shift
	printf 'tls = off\n' >"$file"
	for k in 1 2 3 4; do
		port=$(cluster_env "DFS_CLUSTER_PORT_$k")
		if [[ " $* " == *" $k "* ]]; then
			eventually test -s "$T/proxy$k.port"
			port=$(<"$T/proxy$k.port")
		fi
		printf '\n[server %d]\nhost = 127.0.0.1\nprogram = %s\nport = %d\n' "$k" \
			"$(cluster_env "DFS_CLUSTER_PROGRAM_$k")" "$port" >>"$file"
	done
}
# calls WHAT PROC K: how many calls of PROC proxy K relayed or refused.
calls() {
	awk -v w="$1" -v p="$2" '$1 == w && $2 == p { print $3; found = 1 }
		END { if (!found) print 0 }' "$T/proxy$3.stats" 2>/dev/null || echo 0
}
older_conf "$T/mixed.conf" 3
older_conf "$T/older.conf" 1 2 3 4
for conf in mixed older; do
	export DFS_CONF=$T/$conf.conf
	must dfs_s list
	assert_eq "$full" "$OUT" "dfs list ($conf)"
	assert_eq "" "$ERR" "stderr of dfs list ($conf)"
	for p in many/ many/f1 "a b/" x/10 "$uni" nothing; do
		must dfs_s list "$p"
		assert_eq "$(prefix_of "$p")" "$OUT" "dfs list '$p' ($conf)"
	done
	for n in 1 30 257 316; do
		must dfs_s list --limit "$n"
		assert_eq "$(head -n "$n" <<<"$full")" "$OUT" "dfs list --limit $n ($conf)"
	done
	must dfs_s list a --limit 3
	assert_eq "$(prefix_of a | head -n 3)" "$OUT" "dfs list a --limit 3 ($conf)"
	unset DFS_CONF
done
for k in 1 2 3 4; do
	(($(calls refused "$LIST_NAMES" "$k") > 0)) || fail "server $k was never asked with LIST_NAMES"
	(($(calls relayed 11 "$k") > 0)) || fail "server $k was never read with LIST"
done
ok "with servers older than LIST_NAMES (one, or all), PREFIX and --limit list the same"

must dfs_s delete -r many/
must dfs_s list many/
assert_eq "" "$OUT" "list many/ after deleting it"
must dfs_s list --limit 3
assert_eq "$(grep -v '^many/' <<<"$full" | head -n 3)" "$OUT" "--limit 3 after deleting many/"
must dfs_s list --limit 30
assert_eq "$(grep -v '^many/' <<<"$full" | head -n 30)" "$OUT" "--limit 30 after deleting many/"
ok "--limit reads past 270 deleted names (tombstones) to the files after them"

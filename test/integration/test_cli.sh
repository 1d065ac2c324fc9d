#!/usr/bin/env bash
# test_cli: help, version, usage errors, and hostile names refused by the client itself.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$T" || fail "cd $T"

must "$DFS" --help
for word in put get list delete status locate; do
	assert_contains "$OUT" "$word" "dfs --help"
done
ok "dfs --help lists the commands"

for cmd in put get list delete status locate; do
	must "$DFS" "$cmd" --help
	assert_contains "$OUT" "$cmd" "dfs $cmd --help"
done
must "$DFS" put --help
assert_contains "$OUT" "--as" "dfs put --help"
must "$DFS" get --help
assert_contains "$OUT" "-o" "dfs get --help"
ok "dfs COMMAND --help works for every command"

must "$DFS" --version
[[ $OUT =~ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail "no version number in: $OUT"
ok "dfs --version prints a version ($OUT)"

# Usage errors exit 2 and need no cluster.
printf 'data\n' >"$T/f1"
printf 'data\n' >"$T/f2"
usage_error() {
	run env DFS_PASSWORD=Bluepanda "$DFS" -c "$T/none.conf" -u AnujS "$@"
	assert_eq 2 "$RC" "exit status of 'dfs $*' (stderr: $ERR)"
	[[ $ERR == dfs:* ]] || fail "error message does not begin with 'dfs: ': $ERR"
}
run "$DFS"
assert_eq 2 "$RC" "exit status of 'dfs' without a command"
usage_error frobnicate
usage_error --no-such-option list
usage_error get
usage_error put
usage_error delete
usage_error locate
usage_error put "$T/f1" "$T/f2" --as x
usage_error get a b -o x
usage_error get a -o x -d "$T"
ok "usage errors exit 2 with a 'dfs: ' message"

run env DFS_PASSWORD=Bluepanda "$DFS" -c "$T/none.conf" -u AnujS list
((RC != 0)) || fail "a missing configuration file was accepted"
[[ $ERR == dfs:* ]] || fail "error message does not begin with 'dfs: ': $ERR"
ok "a missing configuration file is an error"

cluster_up
long=$(head -c 300 /dev/zero | tr '\0' n)
printf 'hostile\n' >"$T/h"
hostile=(".." "." "a//b" "a/../b" "dir/" "/etc" "$long" "" $'new\nline' $'tab\there' $'del\x7f' $'\xff\xfe' $'\xc3\x28')

check_hostile() {
	local n
	for n in "${hostile[@]}"; do
		assert_fails dfs_s put "$T/h" --as "$n"
		[[ $ERR == dfs:* ]] || fail "error message does not begin with 'dfs: ': $ERR"
		grep -Eiq 'name' <<<"$ERR" || fail "unclear message for a hostile name: $ERR"
		assert_fails dfs_s get "$n" -o "$T/got"
		assert_no_file "$T/got"
		assert_fails dfs_s delete "$n"
		assert_fails dfs_s locate "$n"
	done
	assert_eq "" "$(find "$T" -mindepth 1 -maxdepth 1 -newer "$T/h" ! -name out ! -name err ! -name 'cluster*.log')" \
		"files created by hostile names"
}

check_hostile
must dfs_s list
assert_eq "" "$OUT" "list after hostile names"
ok "hostile names (.., ., a//b, a/../b, dir/, /etc, 300 bytes, empty, control bytes, bad UTF-8) are refused"

ok255=$(head -c 255 /dev/zero | tr '\0' n)
must dfs_s put "$T/h" --as "$ok255"
must dfs_s get "$ok255" -o "$T/got255"
assert_file_eq "$T/h" "$T/got255"
must dfs_s put "$T/h" --as "-dash"
must dfs_s get -- "-dash"
assert_file_eq "$T/h" "$T/-dash"
ok "a 255-byte name and a name beginning with '-' work"

# With every server stopped the client must still refuse the names itself.
cluster down
check_hostile
for n in ".." "a//b" "$long"; do
	assert_fails dfs_s put "$T/h" --as "$n"
	assert_not_contains "$ERR" "Transfer failed" "message for '$n' with no server"
	grep -Eiq 'name' <<<"$ERR" || fail "client did not refuse '$n' by itself: $ERR"
done
ok "the client refuses hostile names without any server"

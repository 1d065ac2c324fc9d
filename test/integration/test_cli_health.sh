#!/usr/bin/env bash
# test_cli_health: dfs list marks degraded and unreadable files; list -l and --json give the
# copies of each chunk and which single server failures each file would survive.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$T" || fail "cd $T"
cluster_up

names=(alpha.txt "beta gamma.bin" delta.dat)
for n in "${names[@]}"; do
	make_random "$T/$n" $((100000 + RANDOM))
	must dfs_s put "$T/$n"
done

# expected_copies NAME DOWN...: "2,1,1,2": the copies of each chunk of NAME with servers DOWN
# down, from the placement table (chunk c is on servers ((c-1+r) mod 4)+1 and ((c+2+r) mod 4)+1).
expected_copies() {
	local name=$1 r c n s out=
	shift
	r=$(placement_row "$name")
	for c in 1 2 3 4; do
		n=0
		for s in $(((c - 1 + r) % 4 + 1)) $(((c + 2 + r) % 4 + 1)); do
			[[ " $* " == *" $s "* ]] || n=$((n + 1))
		done
		out+=${out:+,}$n
	done
	printf '%s' "$out"
}

# long_line NAME: the line of the last `dfs list -l` output ($OUT) for NAME.
long_line() {
	local line
	while IFS= read -r line; do
		[[ $line == *" $1" ]] && printf '%s' "$line" && return
	done <<<"$OUT"
}

# check_long SURVIVES DOWN...: every file's list -l line has its copies and SURVIVES.
check_long() {
	local survives=$1 n line
	shift
	must dfs_s list -l
	for n in "${names[@]}"; do
		line=$(long_line "$n")
		[[ -n $line ]] || fail "list -l has no line for $n: $OUT"
		[[ $line =~ ^[0-9]+\ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\ +$(stat -c %s "$T/$n")\  ]] ||
			fail "list -l line for $n lacks version, time or size: $line"
		assert_contains "$line" " $(expected_copies "$n" "$@") " "list -l copies of $n"
		assert_contains "$line" " survives:$survives " "list -l of $n"
	done
}

# check_plain MARK: every file's `dfs list` line ends with MARK (may be empty).
check_plain() {
	local n
	must dfs_s list
	for n in "${names[@]}"; do
		assert_contains "$OUT"$'\n' "$n $(stat -c %s "$T/$n")$1"$'\n' "dfs list"
	done
}

check_long any
check_plain ""
ok "all up: 2,2,2,2, survives:any, no marks"

cluster kill 2
# Server 2 held chunks that now live only on server 1 or 3: only the loss of 4 is survivable.
check_long 4 2
echo "# dfs list -l with server 2 killed:"
sed 's/^/#   /' <<<"$OUT"
check_plain " (degraded)"
echo "# dfs list with server 2 killed:"
sed 's/^/#   /' <<<"$OUT"
must dfs_s list --json
python3 - "$T/out" <<'EOF' || fail "list --json with server 2 down: $OUT"
import json, sys
for f in json.load(open(sys.argv[1])):
    assert f["survives"] == [4], f
    assert f["readable"] is True and f["degraded"] is True, f
    assert all(2 not in h for h in f["holders"]), f
    assert [len(h) for h in f["holders"]] == f["copies"], f
EOF
ok "server 2 down: copies per chunk, survives:4, (degraded), JSON holders"

cluster kill 3
# Servers 2 and 3 are neighbours: the chunk they shared has no copy left.
check_long none 2 3
echo "# dfs list -l with servers 2 and 3 killed:"
sed 's/^/#   /' <<<"$OUT"
check_plain " (unreadable)"
must dfs_s list --json
python3 - "$T/out" <<'EOF' || fail "list --json with servers 2 and 3 down: $OUT"
import json, sys
for f in json.load(open(sys.argv[1])):
    assert f["survives"] == [] and f["readable"] is False and 0 in f["copies"], f
EOF
ok "servers 2 and 3 down: a chunk with no copy, survives:none, (unreadable)"

cluster start 3
cluster kill 4
# Servers 2 and 4 are not neighbours: every chunk has exactly one copy, on 1 or 3.
check_long none 2 4
check_plain " (degraded)"
ok "servers 2 and 4 down: readable, one copy of each chunk, survives:none, (degraded)"

#!/usr/bin/env bash
# test_fault_concurrent: eight concurrent clients, 40 operations each (puts, gets, lists,
# deletes on shared and own names, seeded); every read is checked byte for byte against
# a content written whole under that name (fault_concurrent.py). Afterwards each shared
# name reads the same with any one server down: the newer version won everywhere.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
DRIVER=$(dirname "${BASH_SOURCE[0]}")/fault_concurrent.py
SEED=${DFS_FAULT_SEED:-20260101}

start=$SECONDS
run timeout 300 python3 "$DRIVER" "$DFS" "$C/dfs.conf" "$T/work" 8 40 "$SEED"
printf '%s\n' "$OUT"
((RC == 0)) || {
	printf '%s\n' "$ERR" >&2
	fail "concurrent clients saw wrong data or errors (seed $SEED)"
}
ok "8 clients x 40 operations in $((SECONDS - start)) s: every read was one whole written content (seed $SEED)"

# With every client done, each shared name must read identically whichever server is
# missing: no server may still hold a different (older) version as its newest.
for n in shared-0 shared-1 shared-2; do
	run dfs_s get "$n" -o "$T/ref-$n"
	if ((RC != 0)); then
		assert_contains "$ERR" "no such file" "get $n"
		: >"$T/ref-$n.absent"
	fi
done
for k in 1 2 3 4; do
	cluster stop "$k"
	for n in shared-0 shared-1 shared-2; do
		rm -f "$T/got"
		run dfs_s get "$n" -o "$T/got"
		if [[ -f $T/ref-$n.absent ]]; then
			((RC != 0)) || fail "$n was deleted but reads with DFS$k down"
		else
			((RC == 0)) || fail "get $n with DFS$k down: $ERR"
			assert_file_eq "$T/ref-$n" "$T/got"
		fi
	done
	cluster start "$k"
done
ok "the shared names read the same with each server down in turn"
must dfs_s scrub --json
assert_contains "$OUT" '"corrupt": 0' "scrub"
ok "scrub finds no corrupt copy"

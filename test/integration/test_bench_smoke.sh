#!/usr/bin/env bash
# test_bench_smoke: bench/run still runs end to end on a tiny workload; its timings are not judged.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The benchmark's own temporary folder goes under $T so leftovers can be seen.
mkdir -p "$T/tmp"
run env TMPDIR="$T/tmp" "$DFS_SOURCE/bench/run" --quick --no-peers --out "$T/b.md"
[[ $RC -eq 0 ]] || fail "bench/run --quick --no-peers failed (exit $RC): $ERR"
ok "bench/run --quick --no-peers exits 0"

[[ -s $T/b.md ]] || fail "bench/run wrote no $T/b.md"
grep -q '^- CPU: ' "$T/b.md" || fail "the report names no CPU"
grep -q '^- kernel: ' "$T/b.md" || fail "the report names no kernel"
ok "the report describes the machine"

# value ROW: the value column of the table row whose figure is ROW.
value() {
	awk -F'|' -v want="$1" '{
		f = $2; v = $3
		gsub(/^ +| +$/, "", f); gsub(/^ +| +$/, "", v)
		if (f == want) { print v; exit }
	}' "$T/b.md"
}

for fig in "put 1M dfs" "get 1M dfs" "put 1M floor: cp x2 + sync" "get 1M floor: cp" \
	"put 20 x 4K dfs, new files (one invocation)" "put 20 x 4K dfs, replacing them" \
	"get 20 x 4K dfs (one invocation)" \
	"peak RSS client put 1M" "peak RSS client get 1M" "peak RSS DFS1 1M (put+get)" \
	"peak RSS DFS4 1M (put+get)" "CPU put 1M (client + servers)" \
	"CPU get 1M (client + servers)" "floor: openssl speed -evp aes-128-gcm (16 KiB)"; do
	v=$(value "$fig")
	[[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "row '$fig' has no number (got '$v')"
	# A measured rate or size of exactly zero means the figure was not really measured.
	# CPU time is counted in 10 ms ticks, which a 1 MiB transfer may not reach.
	[[ $v =~ [1-9] || $fig == CPU* ]] || fail "row '$fig' is zero"
done
ok "every dfs row and floor has a number"
grep -q 'put 1M dfs' <<<"$OUT" || fail "the table was not printed"
ok "the table is printed"

[[ -z $(ls -A "$T/tmp") ]] || fail "bench/run left files behind: $(ls -A "$T/tmp")"
if pgrep -f "$T/tmp/" >/dev/null; then
	fail "bench/run left processes running: $(pgrep -af "$T/tmp/")"
fi
ok "bench/run removed its files and stopped its servers"

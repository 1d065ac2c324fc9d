#!/usr/bin/env bash
# test_rpcbind: every server is registered with rpcbind and answers the NULL procedure;
# stop/kill/start keep rpcbind right; clusters run side by side; `up` twice is a no-op.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up

# Lines "PROGRAM PORT" (decimal) of the TCP registrations of version 1.
registrations() {
	rpcinfo -p 127.0.0.1 | awk 'NR > 1 && $2 == 1 && $3 == "tcp" { print $1, $4 }'
}

# program K [DIR]: server K's program number, decimal.
program() {
	printf '%d\n' "$(cluster_env "DFS_CLUSTER_PROGRAM_$1" "${2:-$C}")"
}

port() {
	cluster_env "DFS_CLUSTER_PORT_$1" "${2:-$C}"
}

registered() {
	local r
	r=$(registrations)
	grep -q "^$1 " <<<"$r"
}

# registered_on PROGRAM PORT
registered_on() {
	local r
	r=$(registrations)
	grep -qx "$1 $2" <<<"$r"
}

declare -a prog
for k in 1 2 3 4; do
	prog[k]=$(program "$k")
	((prog[k] >= 0x20000000 && prog[k] <= 0x3FFFFFFF)) || fail "program ${prog[k]} outside the user range"
	registered_on "${prog[k]}" "$(port "$k")" ||
		fail "rpcinfo -p lacks program ${prog[k]} on port $(port "$k"): $(registrations)"
	must rpcinfo -t 127.0.0.1 "${prog[k]}" 1
	must rpcinfo -t localhost "${prog[k]}" 1
done
assert_eq 4 "$(printf '%s\n' "${prog[@]:1}" | sort -u | wc -l)" "distinct programs"
ok "rpcinfo -p lists all four programs on their ports; rpcinfo -t answers for each"

must "$DFS_CLUSTER" -d "$C" status
assert_eq 4 "$(grep -c '^DFS[1-4] running program 0x[0-9A-Fa-f]* port [0-9]* metrics http://127\.0\.0\.1:[0-9]*/metrics$' "$T/out")" "running lines"
ok "status shows four running servers"

pids_before=$(cat "$C"/run/dfsd-*.pid)
state_before=$(cd "$C" && sha256sum cluster.env dfs.conf conf/* tls/* && ls -l --time-style=+%s.%N conf tls)
cluster up
assert_eq "$pids_before" "$(cat "$C"/run/dfsd-*.pid)" "pids after a second up"
assert_eq "$state_before" "$(cd "$C" && sha256sum cluster.env dfs.conf conf/* tls/* && ls -l --time-style=+%s.%N conf tls)" "cluster files after a second up"
for k in 1 2 3 4; do
	kill -0 "$(cat "$C/run/dfsd-$k.pid")" || fail "DFS$k died"
done
ok "up on a running cluster changes nothing"

cluster stop 2
registered "${prog[2]}" && fail "program ${prog[2]} still registered after stop 2"
assert_fails rpcinfo -t 127.0.0.1 "${prog[2]}" 1
run "$DFS_CLUSTER" -d "$C" status
assert_eq 3 "$RC" "status exit code with one server stopped"
assert_contains "$OUT" "DFS2 stopped"
ok "stop 2 removes its registration; status shows it stopped"

cluster kill 3
assert_fails rpcinfo -t 127.0.0.1 "${prog[3]}" 1
# SIGKILL gives no chance to unregister: the stale entry stays.
registered "${prog[3]}" || fail "expected the stale registration of DFS3 to remain after kill"
cluster start 3
must rpcinfo -t 127.0.0.1 "${prog[3]}" 1
registered_on "${prog[3]}" "$(port 3)" || fail "DFS3 not registered on its port"
ok "kill 3 then start 3 works despite the stale registration"

cluster start 2
must rpcinfo -t 127.0.0.1 "${prog[2]}" 1
ok "start 2 registers it again"

C2=$T/second
cluster_up "$C2"
declare -a prog2
for k in 1 2 3 4; do
	prog2[k]=$(program "$k" "$C2")
	must rpcinfo -t 127.0.0.1 "${prog2[k]}" 1
done
assert_eq 8 "$(printf '%s\n' "${prog[@]:1}" "${prog2[@]:1}" | sort -u | wc -l)" "distinct programs of two clusters"
assert_eq 8 "$(for k in 1 2 3 4; do port "$k"; port "$k" "$C2"; done | sort -u | wc -l)" "distinct ports of two clusters"
ok "a second cluster runs side by side with its own programs and ports"

printf 'in the second cluster\n' >"$T/only-second"
DFS_CONF=$C2/dfs.conf must dfs_s put "$T/only-second"
DFS_CONF=$C2/dfs.conf must dfs_s list
assert_eq 1 "$(grep -c '^only-second' "$T/out")" "second cluster's list"
must dfs_s list
assert_not_contains "$OUT" "only-second" "first cluster's list"
ok "the two clusters keep separate data"

must "$DFS_CLUSTER" -d "$C2" down
for k in 1 2 3 4; do
	registered "${prog2[k]}" && fail "program ${prog2[k]} of the second cluster still registered after down"
	must rpcinfo -t 127.0.0.1 "${prog[k]}" 1
done
must rpcinfo -p 127.0.0.1
ok "down stops the second cluster only and leaves rpcbind running"

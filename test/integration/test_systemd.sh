# test_systemd.sh: the installed systemd units pass `systemd-analyze verify`, are hardened
# (exposure score), and the command line and stop signal they use start and stop dfsd cleanly.
source "$(dirname "$0")/lib.sh"

# Highest accepted `systemd-analyze security` exposure (0 = fully locked down, 10 = none).
readonly MAX_EXPOSURE=2.0

if ! command -v systemd-analyze >/dev/null 2>&1; then
	printf 'skip: systemd-analyze is not installed (apt-get install systemd); units not checked\n'
	exit 0
fi

# Installing writes the unit with ExecStart naming the installed dfsd, so verify can
# check that the binary exists and is executable; nothing is substituted by hand.
P=$T/prefix
must cmake --install "$DFS_BUILD" --prefix "$P"
U=$P/lib/systemd/system
units=("$U"/*.service)
[[ -f ${units[0]} ]] || fail "no unit installed in $U"

for unit in "${units[@]}"; do
	name=$(basename "$unit")
	# A template is checked as an instance: server 1.
	[[ $name == *@.service ]] && name=${name%@.service}@1.service
	run systemd-analyze verify --man=no "$U/$name"
	if ((RC != 0)) || [[ -n $OUT$ERR ]]; then
		printf '%s\n%s\n' "$OUT" "$ERR" >&2
		fail "systemd-analyze verify $name: exit $RC"
	fi
	ok "systemd-analyze verify --man=no $name: clean"

	run systemd-analyze security --offline=true "$U/$name"
	((RC == 0)) || fail "systemd-analyze security $name: $ERR"
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$OUT")
	[[ -n $score ]] || fail "no exposure score in: $OUT"
	awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
		fail "$name exposure $score is above $MAX_EXPOSURE"
	ok "systemd-analyze security --offline=true $name: exposure $score (at most $MAX_EXPOSURE)"
done

# The check is real: a unit whose binary is missing is refused.
mkdir "$T/bad"
sed "s|^ExecStart=[^ ]*|ExecStart=$T/no-such-dfsd|" "$U/dfsd@.service" >"$T/bad/dfsd@.service"
assert_fails systemd-analyze verify --man=no "$T/bad/dfsd@1.service"
assert_contains "$ERR" "no-such-dfsd" "verify of a unit with a missing binary"
ok "verify refuses a unit whose ExecStart binary is missing"

unit=$U/dfsd@.service
for want in 'Requires=rpcbind.socket' 'After=rpcbind.socket network-online.target' \
	'Restart=on-failure' 'ExecStart=.* -c /etc/dfs/dfsd-%i.conf$' '^StateDirectory=.*dfs/%i'; do
	grep -Eq -- "$want" "$unit" || fail "dfsd@.service lacks $want"
done
ok "dfsd@.service needs rpcbind.socket, restarts on failure, reads /etc/dfs/dfsd-%i.conf"

# The unit's own command line and stop signal: dfsd started as ExecStart says (with the
# instance's file taken from a test cluster) answers, and on KillSignal (SIGTERM unless
# the unit says otherwise) exits 0 and leaves rpcbind.
cluster_up
cluster stop 1
program=$(cluster_env DFS_CLUSTER_PROGRAM_1)
exec_line=$(sed -n 's/^ExecStart=//p' "$unit")
exec_line=${exec_line//\/etc\/dfs\/dfsd-%i.conf/$C/conf/dfsd-1.conf}
read -r -a argv <<<"$exec_line"
signal=$(sed -n 's/^KillSignal=//p' "$unit")
signal=${signal:-SIGTERM}
"${argv[@]}" >"$T/dfsd-1.log" 2>&1 &
pid=$!
for ((i = 0; ; i++)); do
	timeout 5 rpcinfo -t 127.0.0.1 $((program)) 1 >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || fail "dfsd as the unit runs it exited: $(cat "$T/dfsd-1.log")"
	((i < DFS_CLUSTER_WAIT * 20)) || fail "dfsd as the unit runs it does not answer"
	sleep 0.05
done
rpcinfo -p 127.0.0.1 | awk -v p=$((program)) '$1 == p { f = 1 } END { exit !f }' ||
	fail "dfsd as the unit runs it is not registered with rpcbind"
kill -s "${signal#SIG}" "$pid"
stop_s=$(sed -n 's/^TimeoutStopSec=//p' "$unit")
rc=0
timeout "${stop_s:-90}" tail --pid="$pid" -f /dev/null || fail "dfsd did not stop within ${stop_s}s"
wait "$pid" || rc=$?
assert_eq 0 "$rc" "exit status of dfsd after $signal"
if rpcinfo -p 127.0.0.1 | awk -v p=$((program)) '$1 == p { f = 1 } END { exit !f }'; then
	fail "dfsd left program $program registered with rpcbind after $signal"
fi
ok "dfsd run as ExecStart says stops on $signal with status 0 and leaves rpcbind"
cluster start 1

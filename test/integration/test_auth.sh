#!/usr/bin/env bash
# test_auth.sh: logins and tokens: wrong password, unknown user, replayed and
# altered SCRAM messages, forged and expired tokens, the failed-login throttle.
source "$(dirname "$0")/lib.sh"

PROBE=$DFS_BUILD/bin/dfs-probe
[[ -x $PROBE ]] || fail "missing $PROBE (build the tree first)"

# probe SERVER USER PASSWORD ARGS...: dfs-probe against server SERVER of $C.
probe() {
	local s=$1 user=$2 pass=$3
	shift 3
	DFS_PASSWORD=$pass "$PROBE" -c "$C/dfs.conf" -s "$s" -u "$user" "$@"
}

cluster_up

# A baseline: the right password works.
must dfs_s list
ok "AnujS logs in with the right password"

assert_fails dfs_as AnujS wrongpassword list
assert_contains "$ERR" "wrong user name or password" "stderr of a wrong password"
must probe 1 AnujS wrongpassword login
assert_eq "login DFS_EACCES" "$OUT" "SCRAM login with a wrong password"
ok "a wrong password is refused (dfs and SCRAM level)"

assert_fails dfs_as nosuchuser Bluepanda list
assert_contains "$ERR" "wrong user name or password" "stderr of an unknown user"
must probe 1 nosuchuser Bluepanda login
assert_eq "login DFS_EACCES" "$OUT" "SCRAM login of an unknown user"
ok "an unknown user is refused, with the same answer as a wrong password"

# Clients prepared during a login (dfs_prepare_shares) take the connections opened
# for them while the key was derived: 4 sockets for the login and 4 per prepared
# client, then none new until a client beyond those prepared.
HOLD=$DFS_BUILD/test-bin/dfs-session-hold
must env DFS_HOLD_SHARES=2 DFS_PASSWORD=Bluepanda "$HOLD" "$C/dfs.conf" AnujS </dev/null
assert_eq "shares: 12 12 12 16 listed=3" "$(grep '^shares:' <<<"$OUT")" \
	"sockets held after the login, then after each of 3 shared clients"
assert_fails env DFS_HOLD_SHARES=2 DFS_PASSWORD=wrongpassword "$HOLD" "$C/dfs.conf" AnujS \
	</dev/null
assert_contains "$ERR" "wrong user name or password" "a refused login that prepared clients"
ok "prepared clients use the connections opened during the login"

must probe 1 AnujS Bluepanda replay-final
assert_contains "$OUT" "login DFS_OK"
assert_contains "$OUT" "same-exchange DFS_EPROTO" "replay on the finished exchange"
[[ $OUT =~ new-exchange\ DFS_(EACCES|EPROTO) ]] || fail "replayed client-final accepted: $OUT"
ok "a replayed client-final is refused, on its own exchange and on a new one"

must probe 1 AnujS Bluepanda alter-final
assert_eq "alter-final DFS_EACCES" "$OUT" "altered proof"
ok "an altered client proof is refused"

must probe 1 AnujS Bluepanda login
TOKEN=$(sed -n 's/^token //p' <<<"$OUT")
[[ $TOKEN =~ ^[0-9a-f]{64}$ ]] || fail "no token from login: $OUT"
for proc in LIST STATUS LOOKUP READ DELETE PUT_BEGIN; do
	must "$PROBE" -c "$C/dfs.conf" -s 1 call-with-token "$TOKEN" "$proc" nosuchfile
	[[ $OUT != "$proc DFS_EACCES" && $OUT != "$proc DFS_EKEYEXPIRED" && $OUT == "$proc DFS_"* ]] ||
		fail "a valid token was refused: $OUT"
done
ok "a valid token is accepted by every procedure"

FORGED=$(openssl rand -hex 32)
for proc in LIST STATUS LOOKUP READ DELETE PUT_BEGIN VERIFY LOGOUT; do
	must "$PROBE" -c "$C/dfs.conf" -s 1 call-with-token "$FORGED" "$proc" nosuchfile
	[[ $proc == LOGOUT ]] && continue # ending an unknown session says nothing
	assert_eq "$proc DFS_EACCES" "$OUT" "$proc with a forged token"
done
# One bit off a real token is a forged token too.
FLIPPED=$(python3 -c 'import sys; t = bytearray.fromhex(sys.argv[1]); t[0] ^= 1; print(t.hex())' "$TOKEN")
must "$PROBE" -c "$C/dfs.conf" -s 1 call-with-token "$FLIPPED" LIST
assert_eq "LIST DFS_EACCES" "$OUT" "LIST with a token one bit off"
# A token is valid only on the server that issued it.
must "$PROBE" -c "$C/dfs.conf" -s 2 call-with-token "$TOKEN" LIST
assert_eq "LIST DFS_EACCES" "$OUT" "a server 1 token on server 2"
ok "forged tokens are refused with DFS_EACCES"

# Logging out ends the token.
must "$PROBE" -c "$C/dfs.conf" -s 1 call-with-token "$TOKEN" LOGOUT
must "$PROBE" -c "$C/dfs.conf" -s 1 call-with-token "$TOKEN" LIST
assert_eq "LIST DFS_EACCES" "$OUT" "LIST after logout"
ok "a token that was logged out is refused"

# Expiry: server 1 with two-second sessions.
cluster stop 1
printf 'session_ttl = 2\n' >>"$C/conf/dfsd-1.conf"
cluster start 1
must probe 1 AnujS Bluepanda login
TOKEN=$(sed -n 's/^token //p' <<<"$OUT")
must "$PROBE" -c "$C/dfs.conf" -s 1 call-with-token "$TOKEN" LIST
assert_eq "LIST DFS_OK" "$OUT" "LIST with a fresh token"
sleep 3 # the point of this check: let the session's two seconds pass
for proc in LIST LOOKUP READ DELETE; do
	must "$PROBE" -c "$C/dfs.conf" -s 1 call-with-token "$TOKEN" "$proc" nosuchfile
	assert_eq "$proc DFS_EKEYEXPIRED" "$OUT" "$proc with an expired token"
done
ok "an expired token is refused with DFS_EKEYEXPIRED"

# The throttle: from the fifth failed login on, a user is refused for 1 s,
# then 2 s, 4 s, 8 s... Eight wrong passwords on each server (waiting out the
# shorter refusals between them) leave an 8 s refusal.
throttle_server() {
	local k=$1 failures=0 refusals=0 i out
	for ((i = 0; i < 200 && failures < 8; i++)); do
		out=$(probe "$k" AnujK wrongpassword login) || return 1
		case $out in
		"login DFS_EACCES") failures=$((failures + 1)) ;;
		"login DFS_EAGAIN")
			refusals=$((refusals + 1))
			sleep 0.1
			;;
		*)
			printf "server %s: %s\n" "$k" "$out" >&2
			return 1
			;;
		esac
	done
	((failures == 8 && refusals > 0)) || printf "server %s: %d failures, %d refusals\n" "$k" "$failures" "$refusals" >&2
	((failures == 8 && refusals > 0))
}
# The throttle counts per user and per client address; a good login clears
# the address's count from the checks above on every server.
must dfs_s list
pids=()
for k in 1 2 3 4; do
	throttle_server "$k" &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || fail "failed logins were not throttled as expected"
done
must probe 2 AnujK wiger login
assert_eq "login DFS_EAGAIN" "$OUT" "SCRAM login with the right password while throttled"
assert_fails dfs_as AnujK wiger list
assert_contains "$ERR" "too many failed" "stderr of a throttled login"
ok "failed logins are throttled, the right password included"
for k in 1 2 3 4; do
	log=$(cat "$C/logs/dfsd-$k.log")
	assert_contains "$log" "login failed for user AnujK" "dfsd-$k.log"
	assert_contains "$log" "login for user AnujK throttled" "dfsd-$k.log"
done
ok "every server logs the failed and the throttled logins"
# The throttle is temporary: the right password works again within a bounded wait.
for ((i = 0; i < 60; i++)); do
	run dfs_as AnujK wiger list
	((RC == 0)) && break
	sleep 0.5
done
((RC == 0)) || fail "AnujK still refused after the throttle: $ERR"
ok "the throttle lifts and the right password works again"

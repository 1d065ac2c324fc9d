#!/usr/bin/env bash
# test_login_limits: strangers and users cannot keep others from logging in: a flood of
# pending logins, pipelined password guesses, many sessions of one user and idle
# connections each hit only their own address or account; unknown users look like real ones.
# Attackers connect from other loopback addresses (127.0.0.2...) than the real clients
# (127.0.0.1), as other hosts would.
source "$(dirname "$0")/lib.sh"

PROBE=$DFS_BUILD/bin/dfs-probe
[[ -x $PROBE ]] || fail "missing $PROBE (build the tree first)"

# probe SERVER ARGS...: dfs-probe against server SERVER of $C.
probe() {
	local s=$1
	shift
	"$PROBE" -c "$C/dfs.conf" -s "$s" "$@"
}

cluster_up
# Server 1: small limits, to reach them with few connections and sessions.
cluster stop 1
printf 'max_sessions_per_user = 4\nlogin_timeout = 2\nmax_connections = 16\nmax_connections_per_address = 8\n' \
	>>"$C/conf/dfsd-1.conf"
cluster start 1
must dfs_s list
ok "the cluster runs, server 1 with small limits"

# 1. 2,000 pipelined LOGIN_BEGINs that are never finished, from one address, for made-up
# users and for AnujS: they evict their own pending logins, and the address is throttled.
must probe 2 --bind 127.0.0.2 flood-login-begin 2000
[[ $OUT =~ ^flood-login-begin\ ok\ ([0-9]+)\ throttled\ ([0-9]+)\ other\ 0$ ]] ||
	fail "flood-login-begin: $OUT"
((BASH_REMATCH[2] > 0)) || fail "the flooding address was not throttled: $OUT"
must probe 2 --bind 127.0.0.2 -u AnujS flood-login-begin 2000
must env DFS_PASSWORD=Bluepanda "$PROBE" -c "$C/dfs.conf" -s 2 -u AnujS login
assert_contains "$OUT" "login DFS_OK" "AnujS's login on server 2 after the floods"
must dfs_s list
must dfs_k list
ok "after 4,000 pending logins from another address, the real users log in"

# 2. 1,000 pipelined guesses at AnujK's password from one address: only a burst is
# checked, the rest is refused before any proof is looked at; AnujK is not locked out.
must env DFS_PASSWORD=guess1 "$PROBE" -c "$C/dfs.conf" -s 3 --bind 127.0.0.3 -u AnujK guess-flood 1000
[[ $OUT =~ ^guess-flood\ begun\ ([0-9]+)\ throttled\ ([0-9]+)\ checked\ ([0-9]+)\ refused\ ([0-9]+)\ accepted\ 0$ ]] ||
	fail "guess-flood: $OUT"
((BASH_REMATCH[3] <= 16 && BASH_REMATCH[2] >= 984)) || fail "too many guesses checked: $OUT"
must env DFS_PASSWORD=guess2 "$PROBE" -c "$C/dfs.conf" -s 3 --bind 127.0.0.3 -u AnujK guess-flood 100
[[ $OUT =~ checked\ ([0-9]+) ]] && ((BASH_REMATCH[1] <= 1)) || fail "a second burst was checked: $OUT"
grep -q "login for user AnujK throttled" "$C/logs/dfsd-3.log" || fail "no throttled login in dfsd-3.log"
must env DFS_PASSWORD=wiger "$PROBE" -c "$C/dfs.conf" -s 3 -u AnujK login
assert_contains "$OUT" "login DFS_OK" "AnujK's login from their own address"
must dfs_k list
ok "pipelined guesses are cut to a burst and do not lock the user out elsewhere"

# 3. One user cannot fill a server with sessions: beyond max_sessions_per_user (4 on
# server 1) each new one ends the user's oldest.
must env DFS_PASSWORD=Bluepanda "$PROBE" -c "$C/dfs.conf" -s 1 -u AnujS sessions 10
assert_eq "sessions created 10 valid 4 first DFS_EACCES last DFS_OK" "$OUT" "10 logins of AnujS"
must env DFS_PASSWORD=wiger "$PROBE" -c "$C/dfs.conf" -s 1 -u AnujK login
assert_contains "$OUT" "login DFS_OK" "AnujK's login on server 1"
ok "sessions are capped per user, the oldest ending"

# 4. An unknown user gets the same salt and iteration count from every server, and
# after a restart, as a real user does; the count is the one real users have.
real=$(probe 1 --bind 127.0.0.4 -u AnujS salt)
[[ $real =~ ^salt\ [0-9a-f]+\ iterations\ $DFS_CLUSTER_ITERATIONS$ ]] || fail "AnujS's salt: $real"
ghost=$(probe 1 --bind 127.0.0.4 -u nosuchuser salt)
[[ $ghost =~ ^salt\ [0-9a-f]{32}\ iterations\ $DFS_CLUSTER_ITERATIONS$ ]] || fail "an unknown user's salt: $ghost"
for k in 2 3 4; do
	assert_eq "$real" "$(probe "$k" --bind 127.0.0.4 -u AnujS salt)" "AnujS's salt on server $k"
	assert_eq "$ghost" "$(probe "$k" --bind 127.0.0.4 -u nosuchuser salt)" "nosuchuser's salt on server $k"
done
[[ $(probe 1 --bind 127.0.0.4 -u nosuchuser2 salt) != "$ghost" ]] || fail "two unknown users share a salt"
cluster stop 2
cluster start 2
assert_eq "$ghost" "$(probe 2 --bind 127.0.0.4 -u nosuchuser salt)" "nosuchuser's salt after a restart"
ok "unknown users get stable salts and the real users' iteration count"

# idle_while_login SERVER N USER PASSWORD ADDR...: N idle connections to SERVER from each
# of the addresses 127.0.0.ADDR, opened in full; USER then logs in on SERVER among them;
# afterwards every idle connection has been closed by the server (login_timeout).
idle_while_login() {
	local server=$1 n=$2 user=$3 pass=$4 a pid i
	shift 4
	local pids=()
	for a in "$@"; do
		probe "$server" --bind "127.0.0.$a" --max-s 120 idle-connections "$n" >"$T/idle$a.out" 2>&1 &
		pids+=($!)
	done
	for a in "$@"; do
		for ((i = 0; i < 400; i++)); do
			grep -q '^idle-connections opened' "$T/idle$a.out" && break
			sleep 0.05
		done
		grep -q "^idle-connections opened $n failed 0" "$T/idle$a.out" ||
			fail "idle connections from 127.0.0.$a: $(cat "$T/idle$a.out")"
	done
	must env DFS_PASSWORD="$pass" "$PROBE" -c "$C/dfs.conf" -s "$server" -u "$user" login
	assert_contains "$OUT" "login DFS_OK" "$user's login on server $server among idle connections"
	for pid in "${pids[@]}"; do
		wait "$pid" || fail "dfs-probe idle-connections failed"
	done
	for a in "$@"; do
		grep -q "^idle-connections closed $n of $n" "$T/idle$a.out" ||
			fail "idle connections from 127.0.0.$a stayed: $(cat "$T/idle$a.out")"
	done
}

# 5. Idle connections that never log in (24 from three addresses, against server 1's 16
# slots) neither keep the real client out nor stay: the oldest make room, and all are
# closed after login_timeout.
idle_while_login 1 8 AnujS Bluepanda 6 7 8
grep -q "no login in time" "$C/logs/dfsd-1.log" || fail "no login_timeout closing in dfsd-1.log"
must dfs_s list
ok "idle connections are closed after login_timeout and never keep a real client out"

# 6. The same with the default limits (server 4): 256 idle connections from four
# addresses, as many as max_connections, while a real client logs in.
idle_while_login 4 64 AnujK wiger 10 11 12 13
ok "256 idle connections with the default limits neither keep a client out nor stay"

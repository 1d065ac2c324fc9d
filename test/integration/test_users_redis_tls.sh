#!/usr/bin/env bash
# test_users_redis_tls: the user database in a Redis that speaks only TLS (rediss://).
# dfsadm and every dfsd verify Redis's certificate against the CA named in the URL,
# check that it names the host, and present a client certificate when Redis asks for one.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DFSADM=$DFS_BUILD/bin/dfsadm
command -v redis-server >/dev/null || fail "redis-server not installed (deploy/install-deps --test)"
command -v redis-cli >/dev/null || fail "redis-cli not installed (deploy/install-deps --test)"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TLS=$T/tls
REDIS_PID=
mkdir -p "$T/redis" "$TLS"

# --- certificates: the test's CA, Redis's (for 127.0.0.1), a client's, and a foreign CA --
# cert NAME CA SUBJECT EXT...: a P-256 key NAME.key and NAME.pem signed by CA.
cert() {
	local name=$1 ca=$2 subj=$3
	shift 3
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key"
	openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
	printf '%s\n' "$@" >"$name.ext"
	openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
		-sha256 -days 2 -extfile "$name.ext" -out "$name.pem"
}
(
	cd "$TLS"
	for ca in ca other-ca; do
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$ca.key"
		openssl req -new -x509 -key "$ca.key" -sha256 -days 2 -subj "/CN=dfs redis test $ca" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$ca.pem"
	done
	cert redis ca "/CN=redis" "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
		"subjectAltName=IP:127.0.0.1"
	cert client ca "/CN=dfsd" "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth"
) >"$T/openssl.log" 2>&1 || {
	cat "$T/openssl.log" >&2
	fail "creating the TLS material failed"
}

# rcli ARGS...: redis-cli over TLS, with the client certificate.
rcli() {
	redis-cli --tls --cacert "$TLS/ca.pem" --cert "$TLS/client.pem" --key "$TLS/client.key" \
		-h 127.0.0.1 -p "$PORT" "$@"
}

# redis_start AUTH_CLIENTS: redis-server with TLS only on $PORT, asking clients for a
# certificate or not (yes/no), and waits until it answers. Not on the holder's fd 3.
redis_start() {
	local i
	redis-server --port 0 --tls-port "$PORT" --bind 127.0.0.1 \
		--tls-cert-file "$TLS/redis.pem" --tls-key-file "$TLS/redis.key" \
		--tls-ca-cert-file "$TLS/ca.pem" --tls-auth-clients "$1" \
		--save '' --appendonly no --dir "$T/redis" >>"$T/redis.log" 2>&1 3>&- &
	REDIS_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ $(rcli ping 2>/dev/null) == PONG ]] && return 0
		kill -0 "$REDIS_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/redis.log" >&2
	fail "redis-server did not start with TLS on port $PORT"
}

redis_stop() {
	rcli save >/dev/null || fail "redis SAVE failed"
	kill -TERM "$REDIS_PID" 2>/dev/null || true
	wait "$REDIS_PID" 2>/dev/null || true
	REDIS_PID=
}

on_exit '[[ -n $REDIS_PID ]] && { kill -KILL "$REDIS_PID"; wait "$REDIS_PID"; } 2>/dev/null'
redis_start no
run redis-cli -h 127.0.0.1 -p "$PORT" ping
[[ $OUT != PONG ]] || fail "Redis answered without TLS"

URL="rediss://127.0.0.1:$PORT?ca=$TLS/ca.pem"
CLUSTERS+=("$C")
"$DFS_CLUSTER" -d "$C" up --users "$URL" >"$T/cluster-up.log" 2>&1 || {
	cat "$T/cluster-up.log" >&2
	fail "dfs-cluster up --users $URL failed"
}
grep -qF "users = $URL" "$C"/conf/dfsd-1.conf || fail "dfsd-1.conf does not name $URL"
must "$DFSADM" -f "$URL" list
assert_eq $'AnujK\nAnujS' "$OUT" "users in Redis over TLS"
assert_eq 1 "$(rcli exists dfs:settings)" "the database settings in Redis"
ok "up --users rediss://...?ca=FILE creates the demo users over TLS"

# logged_in_everywhere USER PASSWORD: a list through every server, none refusing.
logged_in_everywhere() {
	run dfs_as "$1" "$2" list
	((RC == 0)) || fail "$1 cannot list: $ERR"
	assert_not_contains "$ERR" "warning" "$1's list through every server"
}

printf 'pw-one\n' | "$DFSADM" -f "$URL" add bob >/dev/null || fail "dfsadm add bob over TLS failed"
printf 'hello bob\n' >"$T/bob.txt"
must dfs_as bob pw-one put "$T/bob.txt"
logged_in_everywhere bob pw-one
assert_eq "bob.txt 10" "$OUT" "bob's files"
ok "a user added over TLS logs in through every server"

printf 'pw-two\n' | "$DFSADM" -f "$URL" passwd bob >/dev/null || fail "dfsadm passwd bob failed"
assert_fails dfs_as bob pw-one list
logged_in_everywhere bob pw-two
DFS_NEW_PASSWORD=pw-three must dfs_as bob pw-two passwd
assert_fails dfs_as bob pw-two list
logged_in_everywhere bob pw-three
ok "dfsadm passwd and dfs passwd (written by a server) over TLS"

must "$DFSADM" -f "$URL" quota bob 1K
make_random "$T/bob-2k" 2048
run dfs_as bob pw-three put "$T/bob-2k"
((RC != 0)) || fail "a 2 KiB put under a 1 KiB quota succeeded"
assert_contains "$ERR" quota "message of a put over quota"
must "$DFSADM" -f "$URL" quota bob 0
must dfs_as bob pw-three put "$T/bob-2k"
ok "dfsadm quota over TLS applies at once"

session_hold bob pw-three
assert_contains "$(session_hold_list)" "list rc=0 files=2" "bob's held session"
must "$DFSADM" -f "$URL" remove bob
held=$(session_hold_list)
[[ $held == "list rc=-13 "* ]] || fail "the removed user's session still works: $held"
session_hold_end
for k in 1 2 3 4; do
	grep -q "user bob no longer exists; their sessions end" "$C/logs/dfsd-$k.log" ||
		fail "server $k did not end the removed user's session"
done
assert_fails dfs_as bob pw-three list
ok "dfsadm remove over TLS ends the user's session on every server"

# --- certificates Redis's does not match --------------------------------------------
run "$DFSADM" -f "rediss://127.0.0.1:$PORT?ca=$TLS/other-ca.pem" list
((RC != 0)) || fail "dfsadm accepted a Redis certificate its CA did not sign"
assert_contains "$ERR" "user database unreachable" "dfsadm with a foreign CA"
assert_contains "$ERR" "certificate is not accepted" "dfsadm with a foreign CA"
run "$DFSADM" -f "rediss://localhost:$PORT?ca=$TLS/ca.pem" list
((RC != 0)) || fail "dfsadm accepted a certificate for 127.0.0.1 from host localhost"
assert_contains "$ERR" "hostname mismatch" "dfsadm reaching Redis as localhost"
run "$DFSADM" -f "rediss://127.0.0.1:$PORT?ca=$T/missing.pem" list
((RC != 0)) || fail "dfsadm accepted a missing CA file"
assert_contains "$ERR" "cannot use the Redis CA file $T/missing.pem: No such file" "dfsadm with a missing CA file"
run "$DFSADM" -f "rediss://127.0.0.1:$PORT?ca=$TLS/ca.pem&sni=x" list
((RC != 0)) || fail "dfsadm accepted an unknown URL option"
assert_contains "$ERR" "unknown option 'sni'" "dfsadm with an unknown option"
ok "a foreign CA, another host name and a missing CA file are refused clearly"

# set_users URL: points every server at URL and restarts them.
set_users() {
	sed -i "s|^users = .*|users = ${1//&/\\&}|" "$C"/conf/dfsd-*.conf
	must "$DFS_CLUSTER" -d "$C" down
	must "$DFS_CLUSTER" -d "$C" up 3>&-
}
set_users "rediss://127.0.0.1:$PORT?ca=$TLS/other-ca.pem"
run dfs_s list
((RC != 0)) || fail "a login succeeded through servers that cannot verify Redis"
assert_contains "$ERR" "user database unreachable" "a login with a foreign CA"
for k in 1 2 3 4; do
	grep -q "user database unreachable: 127.0.0.1:$PORT: TLS: Redis's certificate is not accepted" \
		"$C/logs/dfsd-$k.log" || fail "server $k does not say why Redis is unreachable"
done
ok "servers given a foreign CA refuse Redis, log why, and logins say 'user database unreachable'"

# --- Redis asks for client certificates ---------------------------------------------
set_users "$URL"
redis_stop
redis_start yes
run "$DFSADM" -f "$URL" list
((RC != 0)) || fail "dfsadm without a client certificate was accepted"
assert_contains "$ERR" "user database unreachable" "dfsadm without a client certificate"
assert_contains "$ERR" "if Redis asks for a client certificate, give cert= and key=" \
	"dfsadm without a client certificate"
run dfs_s list
((RC != 0)) || fail "a login succeeded through servers without a client certificate"
assert_contains "$ERR" "user database unreachable" "a login without a client certificate"
ok "Redis with --tls-auth-clients yes refuses clients without a certificate, clearly"

CURL="$URL&cert=$TLS/client.pem&key=$TLS/client.key"
run "$DFSADM" -f "rediss://127.0.0.1:$PORT?ca=$TLS/ca.pem&cert=$TLS/client.pem" list
((RC != 0)) || fail "a cert without a key was accepted"
assert_contains "$ERR" "give both cert and key" "a cert without a key"
must "$DFSADM" -f "$CURL" list
assert_eq $'AnujK\nAnujS' "$OUT" "users read with a client certificate"
set_users "$CURL"
printf 'pw-c\n' | "$DFSADM" -f "$CURL" add carol >/dev/null || fail "dfsadm add carol failed"
logged_in_everywhere carol pw-c
logged_in_everywhere AnujS Bluepanda
ok "with a client certificate (cert= and key= in the URL) dfsadm and every server work"

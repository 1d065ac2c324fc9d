#!/usr/bin/env bash
# test_peer_trust: only a server of the cluster may use the calls between servers. PEER_LOGIN
# and PEER_USERS are refused to a connection without a client certificate (even one where a
# user logged in), to a certificate of another CA (in the handshake, logged), to one of the
# cluster's CA that names no server, a server the cluster does not have, or is not for client
# authentication; a real server's session on another server reads records and its own share of
# the chunks but cannot change a file or read another server's share, and is refused on a
# connection without the server's certificate; on its own server it may write; no stored file
# is lost.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROBE=$DFS_BUILD/bin/dfs-probe
[[ -x $PROBE ]] || fail "missing $PROBE (build the tree first)"
command -v openssl >/dev/null || fail "openssl is not installed"

# probe K ARGS...: dfs-probe against server K of $C, as AnujS.
probe() {
	local k=$1
	shift
	DFS_PASSWORD=Bluepanda "$PROBE" -c "$C/dfs.conf" -s "$k" -u AnujS "$@"
}

# metric K NAME: the value of metric NAME (with its labels) on server K; 0 when not shown.
metric() {
	local page
	page=$(curl -sS --max-time 10 \
		"http://127.0.0.1:$(cluster_env "DFS_CLUSTER_METRICS_PORT_$1")/metrics") ||
		fail "cannot fetch the metrics of server $1"
	awk -v n="$2" '$1 == n { v = $2 } END { print v + 0 }' <<<"$page"
}

# log_count K TEXT: how many lines of server K's log contain TEXT.
log_count() {
	grep -cF -- "$2" "$C/logs/dfsd-$1.log" || true
}

# issue NAME CA_PEM CA_KEY CN EKU [SAN]: a P-256 key and certificate $CERTS/NAME.{key,pem}
# for CN, signed by the given CA.
CERTS=$T/certs
mkdir -p "$CERTS"
issue() {
	local name=$1 ca=$2 cakey=$3 cn=$4 eku=$5 san=${6:-}
	{
		printf 'basicConstraints = critical, CA:FALSE\n'
		printf 'keyUsage = critical, digitalSignature\n'
		printf 'extendedKeyUsage = %s\n' "$eku"
		[[ -z $san ]] || printf 'subjectAltName = %s\n' "$san"
	} >"$CERTS/$name.ext"
	if ! {
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			-out "$CERTS/$name.key" &&
			openssl req -new -key "$CERTS/$name.key" -subj "/CN=$cn" -out "$CERTS/$name.csr" &&
			openssl x509 -req -in "$CERTS/$name.csr" -CA "$ca" -CAkey "$cakey" \
				-set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$CERTS/$name.ext" \
				-out "$CERTS/$name.pem"
	} >"$CERTS/openssl.log" 2>&1; then
		cat "$CERTS/openssl.log" >&2
		fail "cannot issue the certificate $name"
	fi
}

# valid_for_client NAME CA_PEM: whether certificate NAME is valid for client authentication
# under CA_PEM (so a refusal is owed to what the server checks beyond that).
valid_for_client() {
	openssl verify -CAfile "$2" -purpose sslclient "$CERTS/$1.pem" >/dev/null 2>&1
}

# with_cert NAME: the probe options that present certificate NAME.
with_cert() {
	printf -- '--cert\n%s\n--key\n%s\n' "$CERTS/$1.pem" "$CERTS/$1.key"
}

# shellcheck disable=SC2119 # the default cluster folder
cluster_up
NO_CERT="a server's login refused: the connection presented no server certificate of this cluster"
NO_CERT_USERS="a server's list of users refused: the connection presented no server certificate of this cluster"
REFUSED_WRITE="server 1 tried to change user AnujS's files here: refused"

# Until a user stores a file no server has a user to recover, so no server calls another:
# every PEER_LOGIN server 3 counts until then is one of this test's.
must probe 3 --cert "$C/tls/server1.pem" --key "$C/tls/server1.key" peer-users
assert_eq $'peer-users DFS_OK\neof 1' "$OUT" "PEER_USERS before any file is stored"

# a. No client certificate: what any user's client presents.
before=$(log_count 3 "$NO_CERT")
before_users=$(log_count 3 "$NO_CERT_USERS")
must probe 3 peer-login AnujS
assert_eq "peer-login DFS_EPERM" "$OUT" "PEER_LOGIN without a certificate"
must probe 3 peer-users
assert_eq "peer-users DFS_EPERM" "$OUT" "PEER_USERS without a certificate"
(($(log_count 3 "$NO_CERT") > before)) || fail "server 3 did not log the refused PEER_LOGIN"
(($(log_count 3 "$NO_CERT_USERS") > before_users)) || fail "server 3 did not log the refused PEER_USERS"
ok "without a client certificate PEER_LOGIN and PEER_USERS answer DFS_EPERM, and the log says why"

# b. A certificate from another CA, naming server 1, for client authentication.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CERTS/other-ca.key" \
	2>/dev/null || fail "cannot make a key"
openssl req -x509 -new -key "$CERTS/other-ca.key" -subj "/CN=dfs local cluster CA" -days 2 \
	-addext "basicConstraints = critical, CA:TRUE" \
	-addext "keyUsage = critical, keyCertSign, cRLSign" -out "$CERTS/other-ca.pem" 2>/dev/null ||
	fail "cannot make the other CA"
issue forged "$CERTS/other-ca.pem" "$CERTS/other-ca.key" dfs1 clientAuth "URI:urn:dfs:server:1"
valid_for_client forged "$CERTS/other-ca.pem" || fail "the other CA's certificate is malformed"
sessions=$(metric 3 dfs_sessions)
logins=$(metric 3 'dfs_requests_total{proc="PEER_LOGIN"}')
handshakes=$(log_count 3 "refused in the TLS handshake")
mapfile -t opts < <(with_cert forged)
for cmd in "peer-login AnujS" peer-users; do
	# shellcheck disable=SC2086 # the command and its argument
	run probe 3 "${opts[@]}" $cmd
	((RC == 3)) || fail "'$cmd' with another CA's certificate: exit status $RC, output: $OUT"
	[[ $OUT =~ ^peer-(login|users)\ rpc\ RPC_ ]] || fail "'$cmd' with another CA's certificate: $OUT"
	assert_not_contains "$OUT" "token" "output of '$cmd' with another CA's certificate"
done
assert_eq "$logins" "$(metric 3 'dfs_requests_total{proc="PEER_LOGIN"}')" \
	"PEER_LOGIN calls server 3 served"
assert_eq "$sessions" "$(metric 3 dfs_sessions)" "sessions on server 3"
(($(log_count 3 "refused in the TLS handshake") >= handshakes + 2)) ||
	fail "server 3 did not log the refused handshakes"
ok "a certificate of another CA is refused in the handshake (logged): no call served, no session"

# c. The cluster's CA, for client authentication, but naming no server.
issue user-cert "$C/tls/ca.pem" "$C/tls/ca.key" AnujS clientAuth
valid_for_client user-cert "$C/tls/ca.pem" || fail "the certificate naming no server is malformed"
mapfile -t opts < <(with_cert user-cert)
before=$(log_count 3 "$NO_CERT")
must probe 3 "${opts[@]}" peer-login AnujS
assert_eq "peer-login DFS_EPERM" "$OUT" "PEER_LOGIN with a certificate naming no server"
must probe 3 "${opts[@]}" peer-users
assert_eq "peer-users DFS_EPERM" "$OUT" "PEER_USERS with a certificate naming no server"
(($(log_count 3 "$NO_CERT") > before)) || fail "server 3 did not log the refused PEER_LOGIN"
issue server-7 "$C/tls/ca.pem" "$C/tls/ca.key" dfs7 clientAuth "URI:urn:dfs:server:7"
mapfile -t opts < <(with_cert server-7)
must probe 3 "${opts[@]}" peer-login AnujS
assert_eq "peer-login DFS_EPERM" "$OUT" "PEER_LOGIN as server 7 of a 4-server cluster"
ok "a certificate of the cluster's CA naming no server, or a server it lacks, gets DFS_EPERM"

# d. The cluster's CA, naming server 1, but for server authentication only.
issue server-only "$C/tls/ca.pem" "$C/tls/ca.key" dfs1 serverAuth "URI:urn:dfs:server:1"
if ! openssl verify -CAfile "$C/tls/ca.pem" "$CERTS/server-only.pem" >/dev/null 2>&1 ||
	valid_for_client server-only "$C/tls/ca.pem"; then
	fail "the serverAuth certificate should be valid, but not for client authentication"
fi
mapfile -t opts < <(with_cert server-only)
run probe 3 "${opts[@]}" peer-login AnujS
((RC == 0 || RC == 3)) || fail "peer-login: exit status $RC, output: $OUT"
[[ $OUT == "peer-login DFS_EPERM" || $OUT =~ ^peer-login\ rpc\ RPC_ ]] ||
	fail "a certificate without clientAuth was not refused: $OUT"
assert_not_contains "$OUT" "token" "output of PEER_LOGIN with a serverAuth-only certificate"
ok "a certificate of the cluster's CA without clientAuth is refused (${OUT#peer-login })"

# e. A user's login on the connection does not stand in for a server's certificate.
must probe 3 --login-first peer-users
assert_eq $'login DFS_OK\npeer-users DFS_EPERM' "$OUT" "PEER_USERS after a user's login"
must probe 3 --login-first peer-login AnujS
assert_eq $'login DFS_OK\npeer-login DFS_EPERM' "$OUT" "PEER_LOGIN after a user's login"
ok "a user's session on the connection does not open PEER_USERS or PEER_LOGIN"

# Files the checks below must not lose.
mkdir -p "$T/src" "$T/got"
make_random "$T/src/big" $((1024 * 1024 + 3))
make_random "$T/src/small" 100
printf 'AnujK\n' >"$T/src/k-file"
must dfs_s put "$T/src/big"
must dfs_s put "$T/src/small"
must dfs_k put "$T/src/k-file"

# f. Server 1's real certificate on server 3: a read-only session.
S1=(--cert "$C/tls/server1.pem" --key "$C/tls/server1.key")
must probe 3 "${S1[@]}" peer-users
assert_eq $'peer-users DFS_OK\nuser AnujK\nuser AnujS\neof 1' "$OUT" "PEER_USERS with server 1's certificate"
must probe 3 "${S1[@]}" peer-users AnujK
assert_eq $'peer-users DFS_OK\nuser AnujS\neof 1' "$OUT" "PEER_USERS after AnujK"
ok "server 1's certificate lists the users with files on server 3, in order"

must probe 3 "${S1[@]}" peer-login AnujS
TOKEN=$(sed -n 's/^token //p' <<<"$OUT")
[[ $TOKEN =~ ^[0-9a-f]{64}$ ]] || fail "no token from PEER_LOGIN: $OUT"
assert_eq "peer-login DFS_OK" "$(head -n 1 <<<"$OUT")" "PEER_LOGIN with server 1's certificate"
must probe 3 "${S1[@]}" call-with-token "$TOKEN" LOOKUP big
assert_eq "LOOKUP DFS_OK" "$OUT" "LOOKUP of a stored file with server 1's session"
must probe 3 "${S1[@]}" call-with-token "$TOKEN" LOOKUP no-such-file
assert_eq "LOOKUP DFS_ENOENT" "$OUT" "LOOKUP of a missing file with server 1's session"
must probe 3 "${S1[@]}" call-with-token "$TOKEN" LIST
assert_eq "LIST DFS_OK" "$OUT" "LIST with server 1's session"
ok "server 1's session on server 3 looks up and lists AnujS's files"

# Its share only: READ of chunk 1 is refused to a server that does not hold chunk 1.
must dfs_s locate big --json
holders=$(python3 -c 'import json, sys
print(" ".join(str(s["server"]) for s in json.loads(sys.argv[1]) if 1 in s["chunks"]))' "$OUT")
for k in 1 2 4; do
	must probe 3 --cert "$C/tls/server$k.pem" --key "$C/tls/server$k.key" peer-login AnujS
	tok=$(sed -n 's/^token //p' <<<"$OUT")
	must probe 3 --cert "$C/tls/server$k.pem" --key "$C/tls/server$k.key" \
		call-with-token "$tok" READ big
	if [[ " $holders " == *" $k "* ]]; then
		assert_not_contains "$OUT" "DFS_EPERM" "READ of chunk 1 by server $k, a holder"
	else
		assert_eq "READ DFS_EPERM" "$OUT" "READ of chunk 1 by server $k, not a holder ($holders)"
	fi
done
ok "a server's session reads only the chunks that server holds (chunk 1 of big: $holders)"

# The session is bound to the server's certificate, not only to its token.
must probe 3 call-with-token "$TOKEN" LOOKUP big
assert_eq "LOOKUP DFS_EACCES" "$OUT" "server 1's session used without its certificate"
[[ $(log_count 3 "a session of server 1 used on a connection without its certificate") -ge 1 ]] ||
	fail "server 3 did not log the session used without the certificate"
ok "server 1's session token alone, on a connection without its certificate, is refused"

before=$(log_count 3 "$REFUSED_WRITE")
for proc in PUT_BEGIN DELETE VERIFY; do
	must probe 3 "${S1[@]}" call-with-token "$TOKEN" "$proc" big
	assert_eq "$proc DFS_EPERM" "$OUT" "$proc with server 1's session on server 3"
done
(($(log_count 3 "$REFUSED_WRITE") >= before + 3)) ||
	fail "server 3 did not log each refused change: $(grep -F "refused" "$C/logs/dfsd-3.log" | tail -n 3)"
must probe 3 "${S1[@]}" call-with-token "$TOKEN" LOOKUP big
assert_eq "LOOKUP DFS_OK" "$OUT" "LOOKUP after the refused DELETE"
ok "server 1's session on server 3 cannot change a file (DFS_EPERM, logged), the file stays"

# g. Server 1's certificate on server 1: a server may change its own copies.
must probe 1 "${S1[@]}" peer-login AnujS
TOKEN1=$(sed -n 's/^token //p' <<<"$OUT")
[[ $TOKEN1 =~ ^[0-9a-f]{64}$ ]] || fail "no token from PEER_LOGIN on server 1: $OUT"
before=$(log_count 1 "tried to change user")
must probe 1 "${S1[@]}" call-with-token "$TOKEN1" DELETE scratch-never-stored
[[ $OUT == "DELETE DFS_OK" || $OUT == "DELETE DFS_ENOENT" ]] ||
	fail "server 1's own session could not delete on server 1: $OUT"
assert_eq "$before" "$(log_count 1 "tried to change user")" "refused changes logged by server 1"
ok "server 1's session on server 1 may delete (${OUT#DELETE })"

# h. Nothing stored was lost.
for n in big small; do
	must dfs_s get "$n" -o "$T/got/$n"
	assert_file_eq "$T/src/$n" "$T/got/$n"
done
must dfs_k get k-file -o "$T/got/k-file"
assert_file_eq "$T/src/k-file" "$T/got/k-file"
ok "every file stored before is read back intact"

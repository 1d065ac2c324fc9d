#!/usr/bin/env bash
# test_redis_hosts: four server hosts in network namespaces share one user database with
# no file copied: a Redis primary on host 1 and a replica on each other host, replicating
# over TLS with a replication ACL user; every dfsd reads its local Redis and sends writes
# (dfs passwd) to the primary. Users added or removed with dfsadm on the primary take
# effect on every host once replicated, with no restart.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=test/integration/netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

readonly NET=10.214.0
readonly PROGRAM=0x20000102
readonly RPORT=6380
readonly CLIENT_IP=$NET.100
command -v redis-server >/dev/null || fail "redis-server not installed (deploy/install-deps --test)"
command -v redis-cli >/dev/null || fail "redis-cli not installed (deploy/install-deps --test)"
command -v rpcbind >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
command -v rpcbind >/dev/null 2>&1 || fail "rpcbind is not installed"

ns_switch_up
declare -a DFSD_PID=() REDIS_PID=()
ns_hosts "$NET" "$CLIENT_IP"
for k in 1 2 3 4; do
	mkdir -p "$T/h$k/redis"
done

# --- TLS: one CA; per host a certificate for its address, used by dfsd and Redis (as
# server, and as client of the primary and of the local Redis); one for dfsadm. ---------
TLS=$T/tls
mkdir "$TLS"
# cert OUT SUBJECT EXT...: a P-256 key OUT.key and OUT.pem signed by the CA.
cert() {
	local out=$1 subj=$2
	shift 2
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out.key"
	openssl req -new -key "$out.key" -subj "$subj" -out "$out.csr"
	printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
		"$@" >"$out.ext"
	openssl x509 -req -in "$out.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
		-sha256 -days 365 -extfile "$out.ext" -out "$out.pem"
}
{
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TLS/ca.key"
	openssl req -new -x509 -key "$TLS/ca.key" -sha256 -days 365 -subj "/CN=dfs redis hosts CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$TLS/ca.pem"
	for k in 1 2 3 4; do
		cert "$T/h$k/host" "/CN=dfs$k" "extendedKeyUsage=serverAuth,clientAuth" \
			"subjectAltName=IP:$NET.$k"
	done
	cert "$TLS/admin" "/CN=dfsadm" "extendedKeyUsage=clientAuth"
} >"$T/openssl.log" 2>&1 || {
	cat "$T/openssl.log" >&2
	fail "creating the TLS material failed"
}

# --- Redis: TLS only, client certificates required, the ACL users of docs/operations.md -
DFSD_ACL='resetkeys ~dfs:* resetchannels -@all +hmget +hset +hsetnx +watch +unwatch +multi +exec +select'
ADM_ACL='resetkeys ~dfs:* resetchannels -@all +hmget +hset +hsetnx +exists +scard +sadd +srem +del +smembers +watch +unwatch +multi +exec +select'
for k in 1 2 3 4; do
	cat >"$T/h$k/redis.conf" <<EOF
port 0
tls-port $RPORT
bind $NET.$k
tls-cert-file $T/h$k/host.pem
tls-key-file $T/h$k/host.key
tls-ca-cert-file $TLS/ca.pem
tls-auth-clients yes
tls-replication yes
dir $T/h$k/redis
save ""
appendonly no
user default off
user dfsd on >dfsd-pw $DFSD_ACL
user dfsadm on >adm-pw $ADM_ACL
user replication on >repl-pw resetchannels -@all +psync +replconf +ping
user probe on >probe-pw ~dfs:* resetchannels -@all +info +ping +exists +replicaof
EOF
	((k == 1)) || printf '%s\n' "replicaof $NET.1 $RPORT" "masteruser replication" \
		"masterauth repl-pw" >>"$T/h$k/redis.conf"
done

# rcli K ARGS...: redis-cli, as the probe user, against host K's Redis from the client host.
rcli() {
	local k=$1
	shift
	ip netns exec "$CLIENT_NS" redis-cli --tls --cacert "$TLS/ca.pem" --cert "$TLS/admin.pem" \
		--key "$TLS/admin.key" --user probe --pass probe-pw --no-auth-warning \
		-h "$NET.$k" -p "$RPORT" "$@"
}
# info_field K FIELD: a field of host K's INFO replication.
info_field() {
	rcli "$1" info replication | tr -d '\r' | sed -n "s/^$2://p"
}
redis_start() {
	local k=$1
	on_host "$k" redis-server "$T/h$k/redis.conf" >"$T/h$k/redis.log" 2>&1 &
	REDIS_PID[k]=$!
	ns_wait_for "Redis on host $k" rcli "$k" ping
}
link_up() {
	[[ $(info_field "$1" master_link_status) == up ]]
}
for k in 1 2 3 4; do
	redis_start "$k"
done
for k in 2 3 4; do
	ns_wait_for "replica on host $k linked to the primary" link_up "$k"
done
assert_eq 3 "$(info_field 1 connected_slaves)" "replicas connected to the primary"
run ip netns exec "$CLIENT_NS" redis-cli -h "$NET.1" -p "$RPORT" ping
[[ $OUT != PONG ]] || fail "the primary answered without TLS"
ok "a Redis primary on host 1 and a replica on hosts 2, 3 and 4, replicating over TLS"

# replica_at K OFFSET: host K's replica has applied the primary's stream up to OFFSET.
replica_at() {
	local got
	got=$(info_field "$1" slave_repl_offset)
	[[ -n $got ]] && ((got >= $2))
}
# replicated: waits until every replica has what the primary has written so far.
replicated() {
	local want k
	want=$(info_field 1 master_repl_offset)
	[[ $want =~ ^[0-9]+$ ]] || fail "no replication offset from the primary: '$want'"
	for k in 2 3 4; do
		ns_wait_for "replica on host $k at offset $want" replica_at "$k" "$want"
	done
}

# --- users: dfsadm writes to the primary from the client host ---------------------
OPTS="ca=$TLS/ca.pem&cert=$TLS/admin.pem&key=$TLS/admin.key"
ADMIN_URL="rediss://dfsadm:adm-pw@$NET.1:$RPORT?$OPTS"
dfsadm() {
	on_client "$DFS_BUILD/bin/dfsadm" -f "$ADMIN_URL" "$@"
}
printf 'Bluepanda\n' | dfsadm add AnujS --iterations "$DFS_CLUSTER_ITERATIONS" >/dev/null ||
	fail "dfsadm add AnujS on the primary"

# --- servers: rpcbind and dfsd on each host, each reading its local Redis -----------
# dfsd_conf K [PRIMARY]: host K's dfsd.conf; PRIMARY (default host 1) receives its writes.
dfsd_conf() {
	local k=$1 primary=${2-&primary=$NET.1:$RPORT}
	cat >"$T/h$k/dfsd.conf" <<EOF
id = $k
listen = 0.0.0.0
program = $PROGRAM
data = $T/h$k/data
users = rediss://dfsd:dfsd-pw@$NET.$k:$RPORT?ca=$TLS/ca.pem&cert=$T/h$k/host.pem&key=$T/h$k/host.key$primary
tls = required
cert = $T/h$k/host.pem
key = $T/h$k/host.key
EOF
}
dfsd_start() {
	local k=$1
	on_host "$k" "$DFS_BUILD/bin/dfsd" -c "$T/h$k/dfsd.conf" >>"$T/h$k/dfsd.log" 2>&1 &
	DFSD_PID[k]=$!
	ns_wait_for "dfsd on host $k" on_client rpcinfo -t "$NET.$k" $((PROGRAM)) 1
}
dfsd_stop() {
	local k=$1
	local rc=0
	ns_kill "${NS[k]}" dfsd
	wait "${DFSD_PID[k]}" || rc=$?
	((rc == 0)) || fail "dfsd on host $k exited with status $rc on SIGTERM"
}
replicated
for k in 1 2 3 4; do
	dfsd_conf "$k"
	on_host "$k" rpcbind -f -w >"$T/h$k/rpcbind.log" 2>&1 &
	ns_wait_for "rpcbind on host $k" on_host "$k" rpcinfo -p 127.0.0.1
	dfsd_start "$k"
done

{
	printf 'tls = required\nca = %s\nconnect_timeout_ms = 1000\n' "$TLS/ca.pem"
	for k in 1 2 3 4; do
		printf '\n[server %d]\nhost = %s\nprogram = %s\n' "$k" "$NET.$k" "$PROGRAM"
	done
} >"$T/client/dfs.conf"
cdfs_as() {
	local user=$1 pass=$2
	shift 2
	on_client env DFS_PASSWORD="$pass" "$DFS" -c "$T/client/dfs.conf" -u "$user" "$@"
}
# everywhere USER PASSWORD: USER lists through all four servers, none refusing.
everywhere() {
	run cdfs_as "$1" "$2" list
	((RC == 0)) || fail "$1 cannot list: $ERR"
	assert_not_contains "$ERR" "warning" "$1's list through every server"
}
printf 'hello\n' >"$T/hello"
must cdfs_as AnujS Bluepanda put "$T/hello"
everywhere AnujS Bluepanda
assert_eq "hello 6" "$OUT" "AnujS's files"
ok "four dfsd on four hosts serve a user dfsadm added on the primary"

# --- a new user, with no restart ----------------------------------------------------
printf 'pw-one\n' | dfsadm add bob >/dev/null || fail "dfsadm add bob"
printf 'dfsadm -f %s add bob: done\n' "$ADMIN_URL"
replicated
must cdfs_as bob pw-one put "$T/hello" --as bob.txt
everywhere bob pw-one
for k in 1 2 3 4; do
	grep -q "user bob logged in" "$T/h$k/dfsd.log" || fail "bob did not log in on host $k"
	assert_eq 1 "$(rcli "$k" exists dfs:user:bob)" "bob in host $k's Redis"
	printf 'host %s (%s): %s\n' "$k" "$NET.$k" "$(grep -m1 "user bob logged in" "$T/h$k/dfsd.log")"
done
ok "a user added on the primary logs in through all four hosts once replicated"

# --- dfs passwd through a server on a replica host: written to the primary ----------
# A client that reaches only server 4 (the others point at the client host, where no
# server runs), whose local Redis is a replica: the change can only reach the primary
# through that server.
{
	printf 'tls = required\nca = %s\nconnect_timeout_ms = 1000\n' "$TLS/ca.pem"
	for k in 1 2 3 4; do
		printf '\n[server %d]\nhost = %s\nprogram = %s\n' "$k" \
			"$( ((k == 4)) && echo "$NET.4" || echo 127.0.0.1)" "$PROGRAM"
	done
} >"$T/client/dfs-4.conf"
DFS_NEW_PASSWORD=pw-two run on_client env DFS_PASSWORD=pw-one "$DFS" -c "$T/client/dfs-4.conf" \
	-u bob passwd
assert_not_contains "$ERR" "server 4" "dfs passwd through server 4 alone"
assert_contains "$ERR" "server 3" "dfs passwd with servers 1-3 out of reach"
replicated
assert_fails cdfs_as bob pw-one list
everywhere bob pw-two
grep -q "cannot store the new password" "$T"/h*/dfsd.log && fail "a server could not store bob's password"
ok "dfs passwd through a server on a replica host is written to the primary, and seen everywhere"

printf 'x\n' | on_client "$DFS_BUILD/bin/dfsadm" -f "rediss://dfsadm:adm-pw@$NET.3:$RPORT?$OPTS" \
	add mallory >"$T/out" 2>"$T/err" && fail "dfsadm wrote to a replica"
assert_contains "$(cat "$T/err")" "is a read-only replica: give dfsadm the primary" "dfsadm add on a replica"
assert_eq 0 "$(rcli 1 exists dfs:user:mallory)" "mallory on the primary"
ok "dfsadm given a replica fails, asking for the primary, and writes nothing"

# A server on a replica host with no primary= refuses a password change clearly: here
# its replica is cut off from the primary, so it still has the old password.
dfsd_stop 4
dfsd_conf 4 ""
must rcli 4 replicaof "$NET.99" "$RPORT"
dfsd_start 4
DFS_NEW_PASSWORD=pw-three run cdfs_as bob pw-two passwd
((RC != 0)) || fail "dfs passwd succeeded although server 4 could not store it"
assert_contains "$ERR" "read-only" "dfs passwd with server 4 on a cut-off replica"
grep -q "cannot store the new password of user bob: Read-only" "$T/h4/dfsd.log" ||
	fail "server 4 does not log why it refused the password change"
must rcli 4 replicaof "$NET.1" "$RPORT"
ns_wait_for "replica on host 4 linked to the primary again" link_up 4
replicated
everywhere bob pw-three
dfsd_stop 4
dfsd_conf 4
dfsd_start 4
ok "without primary=, a server on a replica refuses dfs passwd: its database is read-only"

# --- removal: takes effect on each host once replicated ------------------------------
session_hold bob pw-three "$T/client/dfs.conf" on_client
assert_contains "$(session_hold_list)" "list rc=0 files=1" "bob's held session"
declare -a FAILED=()
for k in 1 2 3 4; do
	FAILED[k]=$(grep -c "login failed for user bob" "$T/h$k/dfsd.log" || true)
done
must dfsadm remove bob
replicated
held=$(session_hold_list)
[[ $held == "list rc=-13 "* ]] || fail "the removed user's session still works: $held"
session_hold_end
assert_fails cdfs_as bob pw-three list
for k in 1 2 3 4; do
	grep -q "user bob no longer exists; their sessions end" "$T/h$k/dfsd.log" ||
		fail "host $k did not end the removed user's session"
	(($(grep -c "login failed for user bob" "$T/h$k/dfsd.log") > FAILED[k])) ||
		fail "host $k did not refuse bob's login after the removal"
done
ok "dfsadm remove on the primary: once replicated, every host ends bob's session and refuses him"

# --- the primary down: replicas still serve logins, changes fail clearly ---------------
declare -a LOGINS=()
for k in 1 2 3 4; do
	LOGINS[k]=$(grep -c "user AnujS logged in" "$T/h$k/dfsd.log" || true)
done
ns_kill "${NS[1]}" redis-server
wait "${REDIS_PID[1]}" 2>/dev/null || true
run cdfs_as AnujS Bluepanda list
assert_contains "$OUT" "hello" "AnujS's list with the primary down"
assert_contains "$ERR" "user database unreachable" "server 1's refusal with its Redis down"
assert_eq "${LOGINS[1]}" "$(grep -c "user AnujS logged in" "$T/h1/dfsd.log" || true)" \
	"AnujS's logins on host 1 with its Redis down"
for k in 2 3 4; do
	(($(grep -c "user AnujS logged in" "$T/h$k/dfsd.log") > LOGINS[k])) ||
		fail "AnujS could not log in on host $k with the primary down"
done
DFS_NEW_PASSWORD=Redpanda run cdfs_as AnujS Bluepanda passwd
((RC != 0)) || fail "dfs passwd succeeded with the primary down"
assert_contains "$ERR" "unreachable" "dfs passwd with the primary down"
ok "primary down: hosts 2-4 still log users in from their replicas; dfs passwd fails clearly"

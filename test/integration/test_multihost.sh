# test_multihost.sh: four server hosts and one client host, simulated with network
# namespaces on a private bridge; every host runs its own rpcbind and a dfsd registered
# under the same program number. put, get, list and delete run over TLS from the client
# host; then one server host loses its link and every file stays readable; when its link is
# back the others tell it what it missed and it catches up by itself, and a host whose data
# folder is wiped is rebuilt from its neighbours with no user command.
source "$(dirname "$0")/lib.sh"

readonly NET=10.213.0
readonly PROGRAM=0x20000101
readonly CLIENT_IP=$NET.100
# shellcheck source=test/integration/netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"
ns_switch_up
command -v rpcbind >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
command -v rpcbind >/dev/null 2>&1 || fail "rpcbind is not installed"
ns_hosts "$NET" "$CLIENT_IP"

# --- TLS: one CA, a certificate per host whose SAN is the host's address ----------
mkdir "$T/tls"
(
	cd "$T/tls"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
	openssl req -new -x509 -key ca.key -sha256 -days 2 -subj "/CN=dfs multihost test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
	for k in 1 2 3 4; do
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/h$k/server.key"
		openssl req -new -key "$T/h$k/server.key" -subj "/CN=dfs$k" -out "h$k.csr"
		printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
			"extendedKeyUsage=serverAuth,clientAuth" \
			"subjectAltName=IP:$NET.$k,URI:urn:dfs:server:$k" >"h$k.ext"
		openssl x509 -req -in "h$k.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 \
			-days 2 -extfile "h$k.ext" -out "$T/h$k/server.pem"
	done
) >"$T/openssl.log" 2>&1 || {
	cat "$T/openssl.log" >&2
	fail "creating the TLS material failed"
}

# --- users: made once with dfsadm, then the file is copied to every host ----------
printf 'Bluepanda\n' | "$DFS_BUILD/bin/dfsadm" -f "$T/users.db" add AnujS \
	--iterations "$DFS_CLUSTER_ITERATIONS" >/dev/null || fail "dfsadm add AnujS"
for k in 1 2 3 4; do
	cp "$T/users.db" "$T/h$k/users.db"
done

# --- the cluster as clients (and the servers, as peers) see it ----------------------
{
	printf 'tls = required\nca = %s\nconnect_timeout_ms = 1000\n' "$T/tls/ca.pem"
	for k in 1 2 3 4; do
		printf '\n[server %d]\nhost = %s\nprogram = %s\n' "$k" "$NET.$k" "$PROGRAM"
	done
} >"$T/client/dfs.conf"

# --- servers: rpcbind and dfsd on each host, all under the same program number ----
for k in 1 2 3 4; do
	cat >"$T/h$k/dfsd.conf" <<EOF
id = $k
listen = 0.0.0.0
program = $PROGRAM
data = $T/h$k/data
users = $T/h$k/users.db
tls = required
cert = $T/h$k/server.pem
key = $T/h$k/server.key
peers = $T/client/dfs.conf
EOF
	on_host "$k" rpcbind -f -w >"$T/h$k/rpcbind.log" 2>&1 &
	ns_wait_for "rpcbind on host $k" on_host "$k" rpcinfo -p 127.0.0.1
	on_host "$k" "$DFS_BUILD/bin/dfsd" -c "$T/h$k/dfsd.conf" >"$T/h$k/dfsd.log" 2>&1 &
done
for k in 1 2 3 4; do
	ns_wait_for "dfsd on host $k" on_client rpcinfo -t "$NET.$k" $((PROGRAM)) 1
done
# Each host's rpcbind maps the one program number to its own dfsd.
for k in 1 2 3 4; do
	must on_client rpcinfo -p "$NET.$k"
	assert_contains "$OUT" "$((PROGRAM))    1   tcp" "rpcinfo -p $NET.$k"
	must on_host "$k" rpcinfo -p 127.0.0.1
	[[ $(grep -c " $((PROGRAM)) " <<<"$OUT") -eq 1 ]] || fail "host $k: $OUT"
done
ok "four hosts, each with its own rpcbind, all serve program $PROGRAM"

cdfs() {
	on_client env DFS_PASSWORD=Bluepanda "$DFS" -c "$T/client/dfs.conf" -u AnujS "$@"
}

# --- the data paths across hosts ----------------------------------------------
mkdir "$T/src" "$T/got"
names=(empty one small medium large doomed)
sizes=(0 1 4099 300007 3000001 77777)
for i in "${!names[@]}"; do
	make_random "$T/src/${names[i]}" "${sizes[i]}"
done
must cdfs put "${names[@]/#/$T/src/}"
must cdfs list
for i in "${!names[@]}"; do
	assert_eq "${sizes[i]}" "$(list_size "${names[i]}")" "listed size of ${names[i]}"
done
must cdfs get -d "$T/got" "${names[@]}"
for n in "${names[@]}"; do
	assert_file_eq "$T/src/$n" "$T/got/$n"
done
# Every host stores its share: chunk files appear in every data folder.
for k in 1 2 3 4; do
	[[ -n $(find "$T/h$k/data" -type f -size +0 -print -quit) ]] || fail "host $k stores nothing"
done
ok "put, list and get of ${#names[@]} files across four hosts over TLS"

must cdfs delete doomed
must cdfs list
[[ -z $(list_size doomed) ]] || fail "deleted file still listed: $OUT"
assert_fails cdfs get -o "$T/got/doomed.again" doomed
assert_no_file "$T/got/doomed.again"
unset 'names[5]' 'sizes[5]'
ok "delete removes a file from every host"

must cdfs status --json
python3 - "$T/out" "$PROGRAM" "$NET" <<'EOF' || fail "dfs status --json: $OUT"
import json, sys
servers = json.load(open(sys.argv[1]))
assert [s["server"] for s in servers] == [1, 2, 3, 4], servers
for s in servers:
    assert s["up"] and s["tls"], s
    assert s["program"] == int(sys.argv[2], 16), s
    assert s["address"].startswith("%s.%d:" % (sys.argv[3], s["server"])), s
EOF
ok "dfs status: four servers up, TLS on, one program number, four addresses"

# --- one host loses its link ---------------------------------------------------
ip -n "${NS[3]}" link set eth0 down
rm -rf "$T/got"
mkdir "$T/got"
must cdfs get -d "$T/got" "${names[@]}"
for n in "${names[@]}"; do
	assert_file_eq "$T/src/$n" "$T/got/$n"
done
must cdfs list
for i in "${!names[@]}"; do
	assert_eq "${sizes[i]}" "$(list_size "${names[i]}")" "listed size of ${names[i]} with host 3 cut off"
done
ok "with host 3's link down every file is still listed and readable"

run cdfs status
assert_eq 3 "$RC" "dfs status exit code with host 3 cut off"
assert_contains "$OUT" "DFS3 $NET.3" "dfs status"
grep -q "^DFS3 .* down" <<<"$OUT" || fail "status does not show server 3 down: $OUT"
[[ $(grep -c ' up ' <<<"$OUT") -eq 3 ]] || fail "status does not show three servers up: $OUT"
ok "dfs status reports host 3 down and exits 3 (degraded)"

make_random "$T/src/late" 123457
must cdfs put "$T/src/late"
must cdfs get -o "$T/got/late" late
assert_file_eq "$T/src/late" "$T/got/late"
ok "a file stored while host 3 is cut off is readable"

# --- host 3's link comes back: nobody logs in, the others tell it what it missed ----
# wait_log K TEXT: waits (bounded) until host K's dfsd log contains TEXT.
wait_log() {
	ns_wait_for "host $1's log to say '$2'" grep -qF -- "$2" "$T/h$1/dfsd.log"
}
# read_all_from_two A B: with the other two hosts cut off (A and B, not neighbours, hold
# every chunk between them), every file reads back byte-exact; then they are connected again.
read_all_from_two() {
	local k n others=()
	for k in 1 2 3 4; do
		((k == $1 || k == $2)) || others+=("$k")
	done
	for k in "${others[@]}"; do
		ip -n "${NS[k]}" link set eth0 down
	done
	rm -rf "$T/got"
	mkdir "$T/got"
	must cdfs get -d "$T/got" late "${names[@]}"
	for n in late "${names[@]}"; do
		assert_file_eq "$T/src/$n" "$T/got/$n"
	done
	for k in "${others[@]}"; do
		ip -n "${NS[k]}" link set eth0 up
	done
}
ip -n "${NS[3]}" link set eth0 up
wait_log 3 "recorded this one as lacking a version"
wait_log 3 "recovery: late: chunk"
# Hosts 1 and 3 hold every chunk between them: with 2 and 4 cut off, reads come from 3.
read_all_from_two 1 3
ok "host 3, back on the network, catches up by itself on the file it missed"

# --- host 2's data folder is wiped: it rebuilds itself from hosts 1 and 3 --------
ns_kill "${NS[2]}" dfsd
rm -rf "$T/h2/data"
on_host 2 "$DFS_BUILD/bin/dfsd" -c "$T/h2/dfsd.conf" >>"$T/h2/dfsd.log" 2>&1 &
ns_wait_for "dfsd on host 2" on_client rpcinfo -t "$NET.2" $((PROGRAM)) 1
wait_log 2 "recovery pass done"
read_all_from_two 2 4
ok "host 2, wiped, is rebuilt from its neighbours with no user command"

# Hosts 3 and 4 are neighbours: together they hold every copy of some chunks.
ip -n "${NS[3]}" link set eth0 down
ip -n "${NS[4]}" link set eth0 down
run cdfs status --json
assert_eq 4 "$RC" "dfs status exit code with hosts 3 and 4 cut off"
ok "dfs status exits 4 (unavailable) with two neighbouring hosts cut off"

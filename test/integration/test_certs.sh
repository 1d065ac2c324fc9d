#!/usr/bin/env bash
# test_certs.sh: server certificates are renewed and the CA rotated without losing data or
# failing a reader; a certificate near expiry is reported, an expired one explained.
source "$(dirname "$0")/lib.sh"

cluster_up
mkdir -p "$T/src" "$T/got"
NAMES=(one two three)
make_random "$T/src/one" $((3 * 1024 * 1024))
make_random "$T/src/two" 4097
printf 'three\n' >"$T/src/three"
for n in "${NAMES[@]}"; do
	must dfs_s put "$T/src/$n"
done

read_all() {
	local n
	for n in "${NAMES[@]}"; do
		rm -f "$T/got/$n"
		must dfs_s get "$n" -o "$T/got/$n"
		assert_file_eq "$T/src/$n" "$T/got/$n"
	done
}

serial() {
	openssl x509 -in "$C/tls/server$1.pem" -noout -serial
}

# A reader that keeps reading during renewals and the rotation; it must never fail.
reader() {
	local i=0
	while [[ ! -e $T/stop-reader ]]; do
		DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS get one -o "$T/reader.out" \
			2>>"$T/reader.err" || {
			printf 'read %d failed\n' "$i" >>"$T/reader.err"
			return 1
		}
		cmp -s "$T/src/one" "$T/reader.out" || {
			printf 'read %d differs\n' "$i" >>"$T/reader.err"
			return 1
		}
		i=$((i + 1))
		printf '%d\n' "$i" >"$T/reader.count"
	done
}
start_reader() {
	rm -f "$T/stop-reader" "$T/reader.count"
	: >"$T/reader.err"
	reader &
	READER=$!
}
stop_reader() {
	touch "$T/stop-reader"
	wait "$READER" || {
		cat "$T/reader.err" >&2
		fail "a reader failed during $1"
	}
	[[ -s $T/reader.count ]] || fail "the reader made no read during $1"
	[[ ! -s $T/reader.err ]] || {
		cat "$T/reader.err" >&2
		fail "the reader saw warnings or errors during $1"
	}
}

# --- renewal from the same CA ------------------------------------------------------------
for k in 1 2 3 4; do old[k]=$(serial "$k"); done
start_reader
cluster renew-certs
stop_reader "renew-certs"
for k in 1 2 3 4; do
	[[ $(serial "$k") != "${old[k]}" ]] || fail "server $k's certificate was not renewed"
	assert_contains "$(cat "$C/logs/dfsd-$k.log")" "reloaded certificate, expires" "dfsd $k's log"
done
read_all
ok "renew-certs: new certificates, reloaded on SIGHUP (reads went on: $(<"$T/reader.count")); every file reads back"

# --- CA rotation -------------------------------------------------------------------------
old_ca=$(openssl x509 -in "$C/tls/ca.pem" -noout -fingerprint -sha256)
start_reader
cluster rotate-ca
stop_reader "rotate-ca"
assert_contains "$(cat "$T/cluster.log")" "step 1: clients trust the old and the new CA" "rotate-ca output"
assert_eq 1 "$(grep -c 'BEGIN CERTIFICATE' "$C/tls/ca.pem")" "certificates in ca.pem after the rotation"
[[ $(openssl x509 -in "$C/tls/ca.pem" -noout -fingerprint -sha256) != "$old_ca" ]] ||
	fail "the CA did not change"
for k in 1 2 3 4; do
	openssl verify -CAfile "$C/tls/ca.pem" "$C/tls/server$k.pem" >/dev/null ||
		fail "server $k's certificate is not from the new CA"
done
read_all
ok "rotate-ca: a new CA, certificates from it, the old CA dropped; reads went on ($(<"$T/reader.count")) and every file reads back"

# The servers were never restarted: their recovery must use the new CA and certificates too.
for c in 1 2 3 4; do
	(($(holder one "$c" 0) == 1)) && break
done
flip "$(chunk_file 1 one "$c")" 10
mark=$(stat -c %s "$C/logs/dfsd-1.log")
cluster scrub 1
for ((i = 0; i < 300; i++)); do
	tail -c +$((mark + 1)) "$C/logs/dfsd-1.log" | grep -q "recovery: one: chunk $c on server 1 was" &&
		break
	sleep 0.2
done
tail -c +$((mark + 1)) "$C/logs/dfsd-1.log" | grep -q "recovery: one: chunk $c on server 1 was" ||
	fail "server 1 did not rewrite its corrupt copy after rotate-ca: $(tail -n 20 "$C/logs/dfsd-1.log")"
cluster stop "$(holder one "$c" 1)"
must dfs_s get one -o "$T/got/one-rot"
assert_file_eq "$T/src/one" "$T/got/one-rot"
cluster start "$(holder one "$c" 1)"
ok "after rotate-ca, a running server's recovery rewrites a corrupt copy with the new certificates"

# --- a certificate that expires soon -------------------------------------------------------
DFS_CLUSTER_CERT_DAYS=2 cluster renew-certs 3
assert_contains "$(tail -n 3 "$C/logs/dfsd-3.log")" "reloaded certificate, expires" "dfsd 3's log"
assert_contains "$(tail -n 3 "$C/logs/dfsd-3.log")" "renew it" "dfsd 3's log"
must dfs_s list
printf 'list with a certificate expiring soon, stderr: %s\n' "$ERR"
assert_contains "$ERR" "dfs: warning: server 3 (" "stderr"
assert_contains "$ERR" "its certificate expires in " "stderr"
assert_contains "$ERR" " days; renew it" "stderr"
assert_not_contains "$ERR" "server 1 (" "stderr"
ok "a server certificate that expires within 30 days is reported, naming the server"

# --- an expired certificate --------------------------------------------------------------
DFS_CLUSTER_CERT_DAYS=-1 cluster renew-certs 3
expired=$(openssl x509 -in "$C/tls/server3.pem" -noout -enddate)
must dfs_s get one -o "$T/got/one-x"
assert_file_eq "$T/src/one" "$T/got/one-x"
printf 'get with an expired certificate (%s), stderr: %s\n' "$expired" "$ERR"
assert_contains "$ERR" "server 3 (" "stderr"
assert_contains "$ERR" "its certificate (\"dfs3\") expired on 20" "stderr"
assert_contains "$ERR" "renew it with 'dfs-cluster renew-certs' or your CA" "stderr"
run dfs_s status
assert_eq 3 "$RC" "exit status of status with a server down"
assert_contains "$(grep '^DFS3 ' "$T/out")" "down (its certificate (\"dfs3\") expired on" "status"
ok "an expired certificate gives a clear error naming the server, the date and the fix; reads go on from the other holders"

cluster renew-certs 3
must dfs_s status
assert_not_contains "$ERR" "certificate" "stderr of status"
assert_contains "$(grep '^DFS3 ' "$T/out")" "DFS3 127.0.0.1" "status"
assert_not_contains "$(grep '^DFS3 ' "$T/out")" "down" "status"
read_all
ok "after renewing again server 3 is back"

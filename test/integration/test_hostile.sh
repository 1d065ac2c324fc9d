#!/usr/bin/env bash
# test_hostile.sh: garbage, an oversized record marker, silent and slow
# connections and a connection flood neither crash a server nor stop it
# from serving others; a plain call to a TLS-required server is refused.
source "$(dirname "$0")/lib.sh"

PROBE=$DFS_BUILD/bin/dfs-probe
[[ -x $PROBE ]] || fail "missing $PROBE (build the tree first)"

rss_kib() {
	awk '/^VmRSS:/ {print $2}' "/proc/$(<"$C/run/dfsd-$1.pid")/status"
}

cluster_up
# Server 1: short timeouts; server 2: few connections per address.
cluster stop 1
printf 'request_timeout = 3\nidle_timeout = 4\n' >>"$C/conf/dfsd-1.conf"
cluster start 1
cluster stop 2
printf 'max_connections_per_address = 8\n' >>"$C/conf/dfsd-2.conf"
cluster start 2

cd "$T"
make_random data.bin 3000000
must dfs_s put data.bin

must "$PROBE" -c "$C/dfs.conf" -s 1 plain-call
assert_contains "$OUT" "plain-null RPC_SUCCESS" "a plain NULL call"
assert_contains "$OUT" "plain-call rpc RPC_AUTHERROR auth AUTH_TOOWEAK" "a plain STATUS call"
ok "a plain call to a TLS-required server is refused with AUTH_TOOWEAK (NULL still answers)"

for k in 1 3; do
	before=$(rss_kib "$k")
	must "$PROBE" -c "$C/dfs.conf" -s "$k" --max-s 10 garbage
	assert_contains "$OUT" "garbage closed" "server $k after garbage"
	assert_contains "$OUT" "oversized closed" "server $k after an oversized record marker"
	after=$(rss_kib "$k")
	((after - before < 65536)) || fail "server $k grew from $before to $after KiB on garbage"
done
must dfs_s get data.bin -o got.bin
assert_file_eq data.bin got.bin
ok "garbage and a 0x7fffffff record marker close the connection; get still works byte-exact"

"$PROBE" -c "$C/dfs.conf" -s 1 --max-s 20 silent >"$T/silent.out" 2>&1 &
silent_pid=$!
"$PROBE" -c "$C/dfs.conf" -s 1 --max-s 20 --interval-ms 300 slow >"$T/slow.out" 2>&1 &
slow_pid=$!
must dfs_s put data.bin --as during.bin
must dfs_s get during.bin -o during.bin
assert_file_eq data.bin during.bin
ok "a silent and a slow connection do not block a put and a get"
wait "$slow_pid" || fail "dfs-probe slow failed: $(cat "$T/slow.out")"
wait "$silent_pid" || fail "dfs-probe silent failed: $(cat "$T/silent.out")"
[[ $(cat "$T/slow.out") =~ ^slow\ closed\ after\ ([0-9]+) ]] || fail "slow connection not dropped: $(cat "$T/slow.out")"
((BASH_REMATCH[1] <= 10)) || fail "slow connection dropped late: $(cat "$T/slow.out")"
[[ $(cat "$T/silent.out") =~ ^silent\ closed\ after\ ([0-9]+) ]] || fail "silent connection not dropped: $(cat "$T/silent.out")"
ok "the server drops a slow call after its request timeout and a silent connection after its idle timeout"

"$PROBE" -c "$C/dfs.conf" -s 2 --hold-s 3 connections 14 >"$T/conns.out" 2>&1 &
conns_pid=$!
for ((i = 0; i < 100; i++)); do
	[[ -s $T/conns.out ]] && break
	sleep 0.1
done
out=$(cat "$T/conns.out")
[[ $out =~ connections\ answered\ ([0-9]+)\ refused\ ([0-9]+) ]] || fail "dfs-probe connections: $out"
((BASH_REMATCH[1] <= 8 && BASH_REMATCH[2] >= 6)) || fail "the per-address cap of 8 was not enforced: $out"
wait "$conns_pid" || fail "dfs-probe connections failed"
grep -q "too many connections from this address" "$C/logs/dfsd-2.log" || fail "no refusal in dfsd-2.log"
ok "connections beyond the per-address cap are refused and logged ($out)"
for ((i = 0; i < 50; i++)); do
	run dfs_s status
	[[ $RC == 0 && $OUT == *"2 "*up* ]] && break
	sleep 0.1
done
must dfs_s list
assert_contains "$OUT" "data.bin"
must dfs_s get data.bin -o got2.bin
assert_file_eq data.bin got2.bin
ok "after the flood, list and get work"
for k in 1 2 3 4; do
	must "$PROBE" -c "$C/dfs.conf" -s "$k" plain-call
done
ok "every server is still alive"

# Uploads announced as large as the free disk, with no data sent, set aside at most
# 32 MiB each; another user's put still reaches both holders of every chunk.
free=$(df --output=avail -B1 "$C/data/3" | tail -n 1)
held=$((free - (256 << 20)))
DFS_PASSWORD=Bluepanda "$PROBE" -c "$C/dfs.conf" -s 3 -u AnujS --hold-s 30 \
	put-begin-hold "$held" 4 >"$T/hold.out" 2>&1 &
holder=$!
on_exit "kill $holder 2>/dev/null"
for ((i = 0; i < 300; i++)); do
	grep -q '^put-begin-hold' "$T/hold.out" && break
	sleep 0.1
done
assert_contains "$(cat "$T/hold.out")" "put-begin-hold ok 4" "the uploads begun"
allocated=$(du -s -B1 "$C/data/3/tmp" | cut -f1)
((allocated <= 4 * (33 << 20))) || fail "4 empty uploads hold $allocated bytes of disk"
make_random other.bin 4000000
must dfs_k put other.bin
assert_not_contains "$ERR" "holds no copy" "AnujK's put"
must dfs_k get other.bin -o other.back
assert_file_eq other.bin other.back
kill "$holder" 2>/dev/null || true
ok "4 uploads announced as large as the disk and never sent hold $allocated bytes; puts go on"


# A server that takes a client's first connection but refuses a second: a chunk that
# must come over the second (its first holder is down) fails for that reason, said as
# such, not as a server that stopped answering; and the get creates no file.
make_random limited.bin 3000000
must dfs_s put limited.bin
cluster stop 3
printf 'max_connections_per_address = 1\n' >>"$C/conf/dfsd-3.conf"
cluster start 3
cluster stop 4
assert_fails dfs_s get limited.bin -o limited.back
assert_contains "$ERR" "no further connection to it could be opened" "the get's reason"
assert_not_contains "$ERR" "stopped answering" "the get's reason"
assert_contains "$ERR" "Transfer failed" "the get's error"
[[ ! -e limited.back ]] || fail "a failed get left limited.back"
cluster start 4
ok "a server refusing a second connection is reported as such"

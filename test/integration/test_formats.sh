#!/usr/bin/env bash
# test_formats.sh: versions: a data folder of a newer format or one out of service too long
# is refused with a clear message; a server of another protocol version is named plainly.
source "$(dirname "$0")/lib.sh"

cluster_up
mkdir -p "$T/src" "$T/got"
make_random "$T/src/f" 100000
must dfs_s put "$T/src/f"
LOG2=$C/logs/dfsd-2.log

# --- data folder format ----------------------------------------------------------------
assert_eq "dfs-data 2" "$(cat "$C/data/2/FORMAT")" "FORMAT of a new data folder"
cluster stop 2
printf 'dfs-data 3\n' >"$C/data/2/FORMAT"
assert_fails "$DFS_CLUSTER" -d "$C" start 2
assert_contains "$(cat "$LOG2")" "has format 3, written by a newer dfsd; this dfsd reads format 2 only: run the dfsd that wrote it (or newer)" "dfsd 2's log"
ok "dfsd refuses a data folder of a newer format, saying so in its log"

printf 'dfs-data 2\n' >"$C/data/2/FORMAT"
cluster start 2
must dfs_s get f -o "$T/got/f"
assert_file_eq "$T/src/f" "$T/got/f"
ok "with its format back to 2 the server starts and serves"

# --- a folder out of service longer than tombstone_ttl (an old backup) ---------------
cluster stop 2
touch -d '40 days ago' "$C/data/2/IN-SERVICE"
assert_fails "$DFS_CLUSTER" -d "$C" start 2
assert_contains "$(cat "$LOG2")" "was last in service on" "dfsd 2's log"
assert_contains "$(cat "$LOG2")" "files deleted since then could come back from it" "dfsd 2's log"
ok "dfsd refuses a data folder last in service longer ago than tombstone_ttl"
rm "$C/data/2/IN-SERVICE"
cluster start 2
ok "after the operator removes the marker it starts"

# --- a server of another protocol version --------------------------------------------
prog1=$(cluster_env DFS_CLUSTER_PROGRAM_1)
"$DFS_BUILD/bin/rpcvers_server" "$prog1" 2 >"$T/vers.port" &
# shellcheck disable=SC2034 # read by on_exit's command
VPID=$!
on_exit 'kill "$VPID" 2>/dev/null'
for ((i = 0; i < 100; i++)); do
	[[ -s $T/vers.port ]] && break
	sleep 0.05
done
vport=$(<"$T/vers.port")
[[ $vport =~ ^[0-9]+$ ]] || fail "the version-2 server did not start"
# Server 1's entry points at the version-2 server.
awk -v p="$vport" '/^\[server 1\]/ { s = 1 } /^\[server 2\]/ { s = 0 }
	s && /^port =/ { print "port = " p; next } { print }' "$C/dfs.conf" >"$T/v2.conf"
for tls in required off; do
	sed "s/^tls = .*/tls = $tls/" "$T/v2.conf" >"$T/v2-$tls.conf"
	DFS_CONF=$T/v2-$tls.conf run dfs_s status
	printf '%s\n' "$OUT"
	assert_contains "$(grep '^DFS1 ' "$T/out")" "down (the server speaks protocol versions 2..2, this client 1)" "status with tls $tls"
done
ok "a server of protocol version 2 is reported as such (with and without TLS)"
DFS_CONF=$T/v2-required.conf run dfs_s get f -o "$T/got/f2"
printf 'get: rc %d, stderr: %s\n' "$RC" "$ERR"
assert_contains "$ERR" "protocol versions 2..2, this client 1" "stderr of get"
ok "a command names the server and its protocol version"

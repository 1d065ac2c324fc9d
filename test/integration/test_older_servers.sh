#!/usr/bin/env bash
# test_older_servers: a client works with older servers, as during a rolling upgrade:
# with servers that predate STORE and LOOKUP_READ (and the calls for many files), small
# files are put chunk by chunk and read with LOOKUP and READ; with servers that predate
# only STORE_MANY and LOOKUP_READ_MANY, they take one STORE and one LOOKUP_READ per file.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STORE=17
LOOKUP_READ=18
STORE_MANY=25
LOOKUP_READ_MANY=26
PROXIES=()
on_exit 'kill "${PROXIES[@]}" 2>/dev/null'

cluster_up
# The proxies read the procedure of each call, so the servers must take plain connections.
sed -i 's/^tls = required$/tls = optional/' "$C"/conf/dfsd-*.conf
cluster down
cluster up

# older PROC...: one proxy per server, answering PROC... as an older dfsd does
# (PROC_UNAVAIL) and relaying every other call; OLD, a client configuration pointing
# at them. The proxies of an earlier call are stopped first.
older() {
	((${#PROXIES[@]} == 0)) || kill "${PROXIES[@]}" 2>/dev/null
	PROXIES=()
	OLD=$T/older.conf
	printf 'tls = off\n' >"$OLD"
	for k in 1 2 3 4; do
		rm -f "$T/proxy$k.port" "$T/proxy$k.stats"
		python3 "$DFS_SOURCE/test/tools/older_server_proxy.py" \
			"$(cluster_env "DFS_CLUSTER_PORT_$k")" "$T/proxy$k.port" "$T/proxy$k.stats" \
			"$@" >"$T/proxy$k.log" 2>&1 &
		PROXIES+=($!)
	done
	for k in 1 2 3 4; do
		eventually test -s "$T/proxy$k.port"
		printf '\n[server %d]\nhost = 127.0.0.1\nprogram = %s\nport = %d\n' "$k" \
			"$(cluster_env "DFS_CLUSTER_PROGRAM_$k")" "$(<"$T/proxy$k.port")" >>"$OLD"
	done
}
older "$STORE" "$LOOKUP_READ" "$STORE_MANY" "$LOOKUP_READ_MANY"

# calls WHAT PROC K: how many calls of PROC proxy K relayed or refused.
calls() {
	awk -v w="$1" -v p="$2" '$1 == w && $2 == p { print $3; found = 1 }
		END { if (!found) print 0 }' "$T/proxy$3.stats" 2>/dev/null || echo 0
}

IN=$T/in
mkdir -p "$IN" "$T/got"
make_random "$IN/small" $((100 * 1024 + 1))
: >"$IN/empty"
make_random "$IN/large" $((3 * 1024 * 1024 + 1))
names=(small empty large)

DFS_CONF=$OLD must dfs_s put "${names[@]/#/$IN/}"
for k in 1 2 3 4; do
	(($(calls refused "$STORE" "$k") > 0)) || fail "server $k was never asked with STORE"
	(($(calls relayed 4 "$k") > 0)) || fail "server $k took no PUT_BEGIN"
done
ok "put: every server refused STORE, and the small files went chunk by chunk"

DFS_CONF=$OLD must dfs_s get "${names[@]}" -d "$T/got"
for f in "${names[@]}"; do
	assert_file_eq "$IN/$f" "$T/got/$f"
done
for k in 1 2 3 4; do
	(($(calls refused "$LOOKUP_READ" "$k") > 0)) || fail "server $k was never asked with LOOKUP_READ"
	(($(calls relayed 10 "$k") > 0)) || fail "server $k took no LOOKUP"
	(($(calls relayed 9 "$k") > 0)) || fail "server $k took no READ"
done
ok "get: every server refused LOOKUP_READ, and LOOKUP and READ brought back every byte"

# What was stored through the fallback reads back over TLS with the newest calls.
rm -rf "$T/got" && mkdir -p "$T/got"
must dfs_s get "${names[@]}" -d "$T/got"
for f in "${names[@]}"; do
	assert_file_eq "$IN/$f" "$T/got/$f"
done
ok "the files put through older servers read back over TLS from the current ones"

# Servers of the release before the calls for many files: one STORE and one
# LOOKUP_READ per file, and the files are stored and read whole.
older "$STORE_MANY" "$LOOKUP_READ_MANY"
for i in 1 2 3 4 5 6; do
	make_random "$IN/many$i" $((i * 3000))
done
many=(many1 many2 many3 many4 many5 many6)
DFS_CONF=$OLD must dfs_s put "${many[@]/#/$IN/}"
for k in 1 2 3 4; do
	(($(calls refused "$STORE_MANY" "$k") > 0)) || fail "server $k was never asked with STORE_MANY"
	(($(calls relayed "$STORE" "$k") >= 6)) || fail "server $k took fewer than 6 STOREs"
	(($(calls relayed 4 "$k") == 0)) || fail "server $k took a PUT_BEGIN"
done
ok "put: every server refused STORE_MANY, and each small file went with one STORE per server"

rm -rf "$T/got" && mkdir -p "$T/got"
DFS_CONF=$OLD must dfs_s get "${many[@]}" -d "$T/got"
for f in "${many[@]}"; do
	assert_file_eq "$IN/$f" "$T/got/$f"
done
for k in 1 2 3 4; do
	(($(calls refused "$LOOKUP_READ_MANY" "$k") > 0)) ||
		fail "server $k was never asked with LOOKUP_READ_MANY"
	(($(calls relayed "$LOOKUP_READ" "$k") >= 6)) || fail "server $k took fewer than 6 LOOKUP_READs"
done
ok "get: every server refused LOOKUP_READ_MANY, and LOOKUP_READ brought back every file"

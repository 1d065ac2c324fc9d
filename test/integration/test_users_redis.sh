#!/usr/bin/env bash
# test_users_redis: every server shares a user database kept in Redis; dfsadm changes it
# with no restart; a Redis outage fails logins clearly and ends when Redis is back.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DFSADM=$DFS_BUILD/bin/dfsadm
command -v redis-server >/dev/null || fail "redis-server not installed (deploy/install-deps --test)"
command -v redis-cli >/dev/null || fail "redis-cli not installed (deploy/install-deps --test)"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=redis://127.0.0.1:$PORT
REDIS_PID=
mkdir -p "$T/redis"

# redis_start: starts redis-server on $PORT (state in $T/redis) and waits until it answers.
# It must not inherit the session holder's input (fd 3), which would then never end.
redis_start() {
	local i
	redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$T/redis" --dbfilename dump.rdb >>"$T/redis.log" 2>&1 3>&- &
	REDIS_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ $(redis-cli -p "$PORT" ping 2>/dev/null) == PONG ]] && return 0
		kill -0 "$REDIS_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/redis.log" >&2
	fail "redis-server did not start on port $PORT"
}

# redis_kill: kills redis-server (SIGKILL) and waits until it is gone.
redis_kill() {
	kill -KILL "$REDIS_PID" 2>/dev/null || true
	wait "$REDIS_PID" 2>/dev/null || true
	REDIS_PID=
}

on_exit '[[ -n $REDIS_PID ]] && { kill -KILL "$REDIS_PID"; wait "$REDIS_PID"; } 2>/dev/null'
redis_start

CLUSTERS+=("$C")
"$DFS_CLUSTER" -d "$C" up --users "$URL" >"$T/cluster-up.log" 2>&1 || {
	cat "$T/cluster-up.log" >&2
	fail "dfs-cluster up --users $URL failed"
}
[[ ! -e $C/users.db ]] || fail "the cluster created $C/users.db although its users are in Redis"
grep -q "^users = $URL\$" "$C"/conf/dfsd-1.conf || fail "dfsd-1.conf does not name $URL"
must "$DFSADM" -f "$URL" list
assert_eq $'AnujK\nAnujS' "$OUT" "users in Redis"
assert_eq 1 "$(redis-cli -p "$PORT" exists dfs:settings)" "the database settings in Redis"
ok "up --users creates the demo users in Redis and points every server at it"

printf 'shared users\n' >"$T/hello"
must dfs_s put "$T/hello"
must dfs_s get hello -o "$T/hello-back"
assert_file_eq "$T/hello" "$T/hello-back"
assert_fails dfs_as AnujS wrong-password list
ok "the demo users log in on every server; a wrong password is refused"

must "$DFS_CLUSTER" -d "$C" up
assert_eq $'AnujK\nAnujS' "$("$DFSADM" -f "$URL" list)" "users after a second up"
run "$DFS_CLUSTER" -d "$C" up --users redis://127.0.0.1:1
((RC != 0)) || fail "up --users with another URL on an existing cluster was accepted"
ok "a second up keeps the database; --users only applies to the first"

printf 'pw-one\n' | "$DFSADM" -f "$URL" add bob >/dev/null || fail "dfsadm add bob failed"
must dfs_as bob pw-one list
printf 'hello bob\n' >"$T/bob.txt"
must dfs_as bob pw-one put "$T/bob.txt"
printf 'pw-two\n' | "$DFSADM" -f "$URL" passwd bob >/dev/null || fail "dfsadm passwd bob failed"
assert_fails dfs_as bob pw-one list
must dfs_as bob pw-two get bob.txt -o "$T/bob-back"
assert_file_eq "$T/bob.txt" "$T/bob-back"
ok "dfsadm add and passwd take effect on every server at once"

must "$DFSADM" -f "$URL" quota bob 1K
must "$DFSADM" -f "$URL" list
assert_contains "$OUT" "bob quota 1024 bytes" "dfsadm list"
make_random "$T/bob-2k" 2048
run dfs_as bob pw-two put "$T/bob-2k"
((RC != 0)) || fail "a 2 KiB put under a 1 KiB quota succeeded"
assert_contains "$ERR" quota "message of a put over quota"
must dfs_as bob pw-two status
assert_contains "$OUT" "of 1024 bytes" "dfs status of bob"
must "$DFSADM" -f "$URL" quota bob 0
must dfs_as bob pw-two put "$T/bob-2k"
ok "dfsadm quota in Redis applies at once"

must "$DFSADM" -f "$URL" remove bob
assert_fails dfs_as bob pw-two list
must "$DFSADM" -f "$URL" list
assert_eq $'AnujK\nAnujS' "$OUT" "users after removing bob"
ok "dfsadm remove ends the user on every server"

# An outage: Redis is saved and killed while a session is open and logins run.
session_hold AnujS Bluepanda
redis-cli -p "$PORT" save >/dev/null || fail "redis SAVE failed"
(for i in 1 2 3 4 5; do dfs_s list >/dev/null 2>&1; done) 3>&- &
logins=$!
redis_kill
wait "$logins" || true
start=$SECONDS
assert_fails timeout 60 bash -c "DFS_PASSWORD=Bluepanda '$DFS' -c '$C/dfs.conf' -u AnujS list"
assert_contains "$ERR" "user database unreachable" "a login while Redis is down"
((SECONDS - start < 30)) || fail "a login took $((SECONDS - start)) s while Redis was down"
assert_fails "$DFSADM" -f "$URL" list
assert_contains "$ERR" "user database unreachable" "dfsadm while Redis is down"
assert_contains "$(session_hold_list)" "list rc=0 files=1" "an open session while Redis is down"
ok "Redis down: logins and dfsadm fail saying 'user database unreachable'; open sessions go on"

must "$DFS_CLUSTER" -d "$C" stop 2
must "$DFS_CLUSTER" -d "$C" start 2 3>&-
ok "a server starts while Redis is down"

# all_logged_in: AnujS logs in on every server (a name one server alone lists is not shown).
all_logged_in() {
	dfs_s list 2>&1 | grep -q '^hello ' && ! dfs_s list 2>&1 | grep -q warning
}
redis_start
eventually all_logged_in
must dfs_s list
assert_eq 1 "$(wc -l <"$T/out")" "AnujS's files after the outage"
must dfs_s status
assert_eq 4 "$(grep -c '^DFS[1-4] .* up ' "$T/out")" "servers up after the outage"
session_hold_end
must "$DFSADM" -f "$URL" list
assert_eq $'AnujK\nAnujS' "$OUT" "users after the outage"
ok "Redis back: the servers reconnect and logins work again"

# The ACL users docs/operations.md describes: dfsadm's may change users, dfsd's only
# read them, keep the settings and change a password. A second cluster in Redis database 1.
ADM_CMDS='+hmget +hset +hsetnx +exists +scard +sadd +srem +del +smembers +watch +unwatch +multi +exec +select'
DFSD_CMDS='+hmget +hset +hsetnx +watch +unwatch +multi +exec +select'
# shellcheck disable=SC2086 # the command lists are split on purpose
redis-cli -p "$PORT" acl setuser dfsadm on '>adm-pw' resetkeys '~dfs:*' resetchannels -@all $ADM_CMDS >/dev/null
# shellcheck disable=SC2086
redis-cli -p "$PORT" acl setuser dfsd on '>dfsd-pw' resetkeys '~dfs:*' resetchannels -@all $DFSD_CMDS >/dev/null
C2=$T/c2
CLUSTERS+=("$C2")
"$DFS_CLUSTER" -d "$C2" up --users "redis://dfsadm:adm-pw@127.0.0.1:$PORT/1" >"$T/cluster-up.log" 2>&1 || {
	cat "$T/cluster-up.log" >&2
	fail "dfs-cluster up with the dfsadm ACL user failed"
}
sed -i "s|^users = .*|users = redis://dfsd:dfsd-pw@127.0.0.1:$PORT/1|" "$C2"/conf/dfsd-*.conf
must "$DFS_CLUSTER" -d "$C2" down
must "$DFS_CLUSTER" -d "$C2" up
assert_eq 2 "$(redis-cli -p "$PORT" -n 1 scard dfs:users)" "users in Redis database 1"
DFS_CONF=$C2/dfs.conf must dfs_s put "$T/hello" --as acl-hello
DFS_CONF=$C2/dfs.conf must dfs_s get acl-hello -o "$T/acl-back"
assert_file_eq "$T/hello" "$T/acl-back"
must "$DFSADM" -f "redis://dfsadm:adm-pw@127.0.0.1:$PORT/1" quota AnujS 1
DFS_CONF=$C2/dfs.conf assert_fails dfs_s put "$T/hello" --as acl-hello2
assert_contains "$ERR" quota "a put over quota with the dfsd ACL user"
DFS_CONF=$C2/dfs.conf DFS_NEW_PASSWORD=Redpanda2 must dfs_s passwd
DFS_CONF=$C2/dfs.conf assert_fails dfs_s list
DFS_CONF=$C2/dfs.conf must dfs_as AnujS Redpanda2 list
must dfs_s list
printf 'x-pw\n' | "$DFSADM" -f "redis://dfsd:dfsd-pw@127.0.0.1:$PORT/1" add mallory >/dev/null 2>&1 &&
	fail "the dfsd ACL user could add a user"
run "$DFSADM" -f "redis://dfsd:wrong@127.0.0.1:$PORT/1" list
((RC != 0)) || fail "dfsadm with a wrong Redis password succeeded"
ok "servers work with the least-privilege Redis ACL user of docs/operations.md, in database 1 (dfs passwd too)"

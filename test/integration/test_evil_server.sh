#!/usr/bin/env bash
# test_evil_server: a compromised server cannot make a get write wrong bytes or hang a client.
# One server is reached through a proxy that rewrites its replies: READ and LOOKUP_READ
# replies carry more bytes than asked for, or its file list never ends. Every get either
# brings back the original bytes (from the honest holders) or fails with "Transfer failed".
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EVIL=2 # the server behind the proxy
PROXY=
on_exit '[[ -n $PROXY ]] && kill "$PROXY" 2>/dev/null'

cluster_up
# The proxy reads and rewrites the replies, so the servers must take plain connections.
sed -i 's/^tls = required$/tls = optional/' "$C"/conf/dfsd-*.conf
cluster down
cluster up

# evil MODE: (re)starts the proxy in front of server $EVIL and writes $T/evil.conf, a client
# configuration reaching every server in plain RPC, server $EVIL through the proxy.
evil() {
	local k port
	if [[ -n $PROXY ]]; then
		kill "$PROXY" 2>/dev/null || true
		wait "$PROXY" 2>/dev/null || true
	fi
	rm -f "$T/proxy.port" "$T/proxy.stats"
	python3 "$DFS_SOURCE/test/tools/evil_server_proxy.py" "$(cluster_env "DFS_CLUSTER_PORT_$EVIL")" \
		"$T/proxy.port" "$T/proxy.stats" "$1" >"$T/proxy.log" 2>&1 &
	PROXY=$!
	eventually test -s "$T/proxy.port"
	printf 'tls = off\n' >"$T/evil.conf"
	for k in 1 2 3 4; do
		port=$(cluster_env "DFS_CLUSTER_PORT_$k")
		((k != EVIL)) || port=$(<"$T/proxy.port")
		printf '\n[server %d]\nhost = 127.0.0.1\nprogram = %s\nport = %d\n' "$k" \
			"$(cluster_env "DFS_CLUSTER_PROGRAM_$k")" "$port" >>"$T/evil.conf"
	done
}

# rewritten PROC: how many replies to PROC the proxy rewrote.
rewritten() {
	awk -v p="$1" '$1 == "rewritten" && $2 == p { print $3; found = 1 }
		END { if (!found) print 0 }' "$T/proxy.stats" 2>/dev/null || echo 0
}

IN=$T/in
mkdir -p "$IN"
make_random "$IN/large" $((3 * 1024 * 1024 + 3))
make_random "$IN/small" $((100 * 1024 + 1))
must dfs_s put "$IN/large" "$IN/small"

export DFS_PASSWORD=Bluepanda

# A READ of server 2's copy that brings more bytes than asked for is refused, and the chunk
# comes from its other holder; nothing past the chunk's range is written.
evil pad-read
for how in dir out stdout; do
	rm -rf "$T/got" && mkdir -p "$T/got"
	case $how in
	dir) args=(get large small -d "$T/got") ;;
	out) args=(get large -o "$T/got/large") ;;
	stdout) args=(get large -o -) ;;
	esac
	set +e
	timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS "${args[@]}" >"$T/got/stdout" 2>"$T/err"
	RC=$?
	set -e
	ERR=$(cat "$T/err")
	((RC == 0)) || { printf '%s\n' "$ERR" >&2; fail "get ($how) through a padding server failed"; }
	if [[ $how == stdout ]]; then mv "$T/got/stdout" "$T/got/large"; fi
	assert_eq "$(stat -c %s "$IN/large")" "$(stat -c %s "$T/got/large")" "size of large ($how)"
	assert_file_eq "$IN/large" "$T/got/large"
	if [[ $how == dir ]]; then assert_file_eq "$IN/small" "$T/got/small"; fi
	assert_contains "$ERR" "server $EVIL" "the warning"
	assert_contains "$ERR" "more bytes than asked for" "the warning"
done
(($(rewritten 9) > 0)) || fail "the proxy padded no READ reply"
ok "READ replies longer than asked for: the chunk comes from its other holder, byte for byte"

# With the chunk's other holder down, the padding server is its only source: the get fails.
NEXT=$((EVIL % 4 + 1))
cluster kill "$NEXT"
rm -rf "$T/got" && mkdir -p "$T/got"
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS get large -d "$T/got"
assert_transfer_failed
assert_no_file "$T/got/large"
[[ -z $(ls -A "$T/got") ]] || fail "a failed get left files behind: $(ls -A "$T/got")"
set +e
timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS get large -o - >"$T/got.stdout" 2>"$T/err"
RC=$?
set -e
ERR=$(cat "$T/err")
assert_transfer_failed
[[ ! -s $T/got.stdout ]] || fail "a failed get -o - wrote $(stat -c %s "$T/got.stdout") bytes"
cluster start "$NEXT"
ok "with no honest holder left for a chunk, the get fails and writes nothing"

# LOOKUP_READ bytes longer than the chunk: the chunk comes from its other holder. (Two
# files are looked up together, with LOOKUP_READ_MANY; one alone, with LOOKUP_READ.)
evil pad-lookup-read
rm -rf "$T/got" && mkdir -p "$T/got"
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS get small large -d "$T/got"
((RC == 0)) || { printf '%s\n' "$ERR" >&2; fail "get through a padding LOOKUP_READ failed"; }
assert_eq "$(stat -c %s "$IN/small")" "$(stat -c %s "$T/got/small")" "size of small"
assert_file_eq "$IN/small" "$T/got/small"
assert_file_eq "$IN/large" "$T/got/large"
assert_contains "$ERR" "server $EVIL" "the warning"
(($(rewritten 18) + $(rewritten 26) > 0)) || fail "the proxy padded no LOOKUP_READ reply"
"$DFS" -c "$T/evil.conf" -u AnujS get small -o - >"$T/got.stdout" 2>"$T/err" ||
	fail "get small -o - through a padding LOOKUP_READ failed: $(cat "$T/err")"
cmp -s "$IN/small" "$T/got.stdout" || fail "get small -o - wrote other bytes"
ok "LOOKUP_READ bytes longer than the chunk: refused, the file is read whole and right"

# The chunk whose bytes the proxy pads is also on the server before it; with that one down
# the padded bytes are the only ones offered for it: the get fails.
PREV=$(((EVIL + 2) % 4 + 1))
cluster kill "$PREV"
rm -rf "$T/got" && mkdir -p "$T/got"
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS get small -d "$T/got"
assert_transfer_failed
assert_no_file "$T/got/small"
cluster start "$PREV"
ok "a padded small chunk with no other holder up: Transfer failed, no file"

# A file list that never ends: the same page forever, or a new position every time.
for mode in loop-list loop-list-advance; do
	evil "$mode"
	run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS list
	((RC != 124)) || fail "dfs list ($mode) still running after 120 s"
	assert_contains "$OUT" "large $(stat -c %s "$IN/large")" "dfs list ($mode)"
	assert_contains "$OUT" "small $(stat -c %s "$IN/small")" "dfs list ($mode)"
	assert_contains "$ERR" "server $EVIL" "the warning ($mode)"
	(($(rewritten 11) + $(rewritten 20) > 1)) || fail "the proxy looped no list ($mode)"
done
assert_contains "$ERR" "10000 pages" "the warning"
ok "a file list that never ends: the server counts as failing, the others' files are listed"

# The catch-up at login lists every name too: make it run (a put that the server opposite
# the proxied one missed, so every chunk keeps an honest copy) while the proxy loops, and a
# get still finishes with the right bytes.
OPPOSITE=$(((EVIL + 1) % 4 + 1))
evil loop-list
cluster stop "$OPPOSITE"
make_random "$IN/missed" 5000
must dfs_s put "$IN/missed"
cluster start "$OPPOSITE"
rm -rf "$T/got" && mkdir -p "$T/got"
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS get missed large -d "$T/got"
((RC != 124)) || fail "dfs get still running after 120 s"
((RC == 0)) || fail "get after a catch-up with a looping server failed: $ERR"
assert_file_eq "$IN/missed" "$T/got/missed"
assert_file_eq "$IN/large" "$T/got/large"
assert_contains "$ERR" "does not advance" "the warning"
ok "the login catch-up ends with a looping server, and the get reads the right bytes"

# Names: a record whose name is not the one asked for, or not a valid name, is dropped with
# a warning naming the server; nothing a server sends reaches the terminal raw.
evil bad-names
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS list
assert_contains "$OUT" "large $(stat -c %s "$IN/large")" "dfs list"
assert_contains "$ERR" "server $EVIL" "the warning"
assert_contains "$ERR" '\x1b' "the warning"
if grep -q $'\x1b' "$T/out" "$T/err"; then fail "an escape sequence from a server was printed"; fi
rm -rf "$T/got" && mkdir -p "$T/got"
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS get small large -d "$T/got"
((RC == 0)) || fail "get with a server sending other names failed: $ERR"
assert_file_eq "$IN/small" "$T/got/small"
assert_file_eq "$IN/large" "$T/got/large"
assert_contains "$ERR" "ignoring its answer about small" "the warning"
if grep -q $'\x1b' "$T/err"; then fail "an escape sequence from a server was printed"; fi
for f in "$T/got"/*; do
	[[ $f != *$'\x1b'* ]] || fail "a file was created under a server's name"
done
ok "records of other or invalid names are dropped with a warning, never printed raw"

# A valid name holding a C1 control (U+009B, CSI on some terminals) is listed as it is
# into a pipe, and escaped on a terminal.
C1NAME=$'csi\xc2\x9b2Jname'
must dfs_s put "$IN/small" --as "$C1NAME"
must dfs_s list
assert_contains "$OUT" "$C1NAME 102401" "dfs list into a pipe"
DFS_CONFIG=$C/dfs.conf DFS_USER=AnujS script -qec "$DFS list; $DFS stat $C1NAME" /dev/null \
	>"$T/tty.out" </dev/null
grep -q $'\xc2\x9b' "$T/tty.out" && fail "a C1 control reached the terminal"
assert_contains "$(cat "$T/tty.out")" 'csi\xc2\x9b2Jname 102401' "dfs list on a terminal"
assert_contains "$(cat "$T/tty.out")" 'name      csi\xc2\x9b2Jname' "dfs stat on a terminal"
ok "names are escaped on a terminal, as they are into a pipe"

# One server reports a tombstone a day newer than every file (a forged delete). One server
# alone decides nothing: the file is still listed and read, repair and the catch-up do not
# spread the tombstone, and the honest servers keep every copy.
make_random "$IN/victim" $((300 * 1024 + 5))
make_random "$IN/victim.2" 7000
must dfs_s put "$IN/victim"
evil forge-tombstone
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS list
((RC == 0)) || fail "list through a server forging deletes failed: $ERR"
assert_contains "$OUT" "victim $(stat -c %s "$IN/victim")" "dfs list"
rm -rf "$T/got"
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS get victim -o "$T/got"
((RC == 0)) || fail "get through a server forging deletes failed: $ERR"
assert_file_eq "$IN/victim" "$T/got"
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS repair --all
(($(rewritten 10) + $(rewritten 18) + $(rewritten 26) > 0)) || fail "the proxy forged no record"
evil pad-read # the forging server gone
cluster stop "$EVIL"
rm -rf "$T/got"
must dfs_s get victim -o "$T/got"
assert_file_eq "$IN/victim" "$T/got"
cluster start "$EVIL"
ok "a tombstone one server forges is not believed: listed, read and repaired as before"

# The same tombstone saying that every other server lacks it: reads fail rather than serve
# anything doubtful, and nothing is erased: with the server gone the file reads whole.
evil forge-tombstone-marks
rm -rf "$T/got"
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS get victim -o "$T/got"
if ((RC == 0)); then assert_file_eq "$IN/victim" "$T/got"; else assert_transfer_failed; fi
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS repair --all
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS list
assert_contains "$OUT" "victim" "dfs list"
# A put after the forged delete is numbered above it and wins.
evil forge-tombstone
run timeout 120 "$DFS" -c "$T/evil.conf" -u AnujS put "$IN/victim.2" --as victim
((RC == 0)) || fail "put after a forged delete failed: $ERR"
evil pad-read
cluster stop "$EVIL"
rm -rf "$T/got"
must dfs_s get victim -o "$T/got"
assert_file_eq "$IN/victim.2" "$T/got"
cluster start "$EVIL"
ok "a forged tombstone that marks the others stale erases nothing; a put after it wins"

# A server asking for 10,000,000 password hashing iterations is refused at once (the client
# computes at most 2,000,000) and counts as down; the others serve the user.
evil many-iterations
run timeout 60 "$DFS" -c "$T/evil.conf" -u AnujS list
((RC == 0)) || fail "list with one server demanding many iterations failed: $ERR"
assert_contains "$OUT" "victim" "dfs list"
assert_contains "$ERR" "demands 10000000 password hashing iterations" "the warning"
(($(rewritten 1) > 0)) || fail "the proxy rewrote no LOGIN_BEGIN reply"
ok "a server demanding 10,000,000 iterations is refused without computing them"

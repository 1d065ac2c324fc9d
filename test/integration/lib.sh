# lib.sh: shared helpers for the integration tests (sourced; real rpcbind, dfsd and dfs).
# shellcheck shell=bash

set -euo pipefail

: "${DFS_SOURCE:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${DFS_BUILD:=$DFS_SOURCE/build}"
export DFS_SOURCE DFS_BUILD
# Fewer hashing iterations for the demo users keep each login quick in tests.
: "${DFS_CLUSTER_ITERATIONS:=4096}"
export DFS_CLUSTER_ITERATIONS
# Sanitizer builds start slower.
: "${DFS_CLUSTER_WAIT:=30}"
export DFS_CLUSTER_WAIT

DFS=$DFS_BUILD/bin/dfs
DFS_CLUSTER=$DFS_SOURCE/deploy/dfs-cluster
TEST_NAME=$(basename "$0" .sh)
PASSED=0

T=$(mktemp -d "${TMPDIR:-/tmp}/dfs-$TEST_NAME.XXXXXX")
C=$T/c
CLUSTERS=()

# Make sure no environment setting leaks into the client under test.
unset DFS_CONFIG DFS_USER DFS_PASSWORD

_cleanup() {
	local rc=$? dir f pid
	trap - EXIT
	for dir in "${CLUSTERS[@]}"; do
		[[ -f $dir/cluster.env ]] || continue
		if ((rc != 0)); then
			for f in "$dir"/logs/dfsd-*.log; do
				[[ -f $f ]] || continue
				printf '=== last lines of %s\n' "$f" >&2
				tail -n 15 "$f" >&2
			done
		fi
		"$DFS_CLUSTER" -d "$dir" down >/dev/null 2>&1 || true
		for f in "$dir"/run/dfsd-*.pid; do
			[[ -f $f ]] || continue
			pid=$(<"$f")
			if [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" |
				grep -Fq "$dir/conf/"; then
				kill -KILL "$pid" 2>/dev/null || true
			fi
		done
	done
	rm -rf "$T"
	if ((rc == 0)); then
		printf '%s: %d checks passed\n' "$TEST_NAME" "$PASSED"
	else
		printf '%s: FAILED after %d checks passed\n' "$TEST_NAME" "$PASSED" >&2
	fi
	exit "$rc"
}
trap _cleanup EXIT

# on_exit CMD: when the test ends, runs CMD (a string, its errors ignored) before the
# cleanup above, which still gets the test's exit status.
on_exit() {
	# errexit would end the trap at the failing "(exit)" that passes the status on.
	# shellcheck disable=SC2064 # CMD is fixed now; $? is read when the test ends
	trap "rc=\$?; set +e; $1; (exit \$rc); _cleanup" EXIT
}

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

ok() {
	PASSED=$((PASSED + 1))
	printf 'ok %d - %s\n' "$PASSED" "$*"
}

# cluster_up [DIR]: creates and starts a cluster (default $C) and waits until it answers.
cluster_up() {
	local dir=${1:-$C}
	CLUSTERS+=("$dir")
	"$DFS_CLUSTER" -d "$dir" up >"$T/cluster-up.log" 2>&1 || {
		cat "$T/cluster-up.log" >&2
		fail "dfs-cluster -d $dir up failed"
	}
}

# cluster_without_recovery: restarts every server of $C without its peers file, for tests
# that look at copies left missing, stale or corrupt (a server with one brings them level by
# itself within seconds; test_heal checks that).
cluster_without_recovery() {
	local k
	for k in 1 2 3 4; do
		sed -i '/^peers/d' "$C/conf/dfsd-$k.conf"
		cluster stop "$k"
		cluster start "$k"
	done
}

# cluster CMD...: runs dfs-cluster on $C, failing the test if it fails.
cluster() {
	"$DFS_CLUSTER" -d "$C" "$@" >"$T/cluster.log" 2>&1 || {
		cat "$T/cluster.log" >&2
		fail "dfs-cluster $* failed"
	}
}

# cluster_env KEY [DIR]: a value from the cluster's cluster.env.
cluster_env() {
	local dir=${2:-$C}
	sed -n "s/^$1=//p" "$dir/cluster.env"
}

# listed K: the records server K has sent in listings since it started, from its metrics
# (empty when it does not count them).
listed() {
	curl -sS --max-time 10 "http://127.0.0.1:$(cluster_env "DFS_CLUSTER_METRICS_PORT_$1")/metrics" |
		awk '$1 == "dfs_listed_records_total" { print $2 }'
}
# sent CMD...: runs CMD (which must succeed); SENT = the most records any one server sent
# in listings meanwhile.
sent() {
	local k n
	local -a before
	for k in 1 2 3 4; do before[k]=$(listed "$k"); done
	must "$@"
	SENT=0
	for k in 1 2 3 4; do
		n=$(listed "$k")
		[[ -n $n && -n ${before[k]} ]] || continue
		n=$((n - before[k]))
		((n > SENT)) && SENT=$n
	done
	return 0
}

# dfs_as USER PASSWORD ARGS...: the dfs tool against cluster $C (or $DFS_CONF).
dfs_as() {
	local user=$1 pass=$2
	shift 2
	DFS_PASSWORD=$pass "$DFS" -c "${DFS_CONF:-$C/dfs.conf}" -u "$user" "$@"
}

# dfs_s ARGS...: dfs as the demo user AnujS.
dfs_s() {
	dfs_as AnujS Bluepanda "$@"
}

# dfs_k ARGS...: dfs as the demo user AnujK.
dfs_k() {
	dfs_as AnujK wiger "$@"
}

# run CMD...: runs CMD with errexit off; sets RC, and OUT / ERR (also in $T/out, $T/err).
run() {
	set +e
	"$@" >"$T/out" 2>"$T/err"
	RC=$?
	set -e
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# must CMD...: runs CMD, which must succeed; shows its output if not.
must() {
	run "$@"
	if ((RC != 0)); then
		printf 'stdout: %s\nstderr: %s\n' "$OUT" "$ERR" >&2
		fail "exit status $RC from: $*"
	fi
}

# assert_fails CMD...: CMD must exit non-zero (RC, OUT, ERR are set for further checks).
assert_fails() {
	run "$@"
	if ((RC == 0)); then
		printf 'stdout: %s\nstderr: %s\n' "$OUT" "$ERR" >&2
		fail "expected failure, got exit status 0 from: $*"
	fi
}

assert_eq() {
	local expected=$1 actual=$2 what=${3:-value}
	if [[ $expected != "$actual" ]]; then
		printf 'expected: [%s]\nactual:   [%s]\n' "$expected" "$actual" >&2
		fail "$what differs"
	fi
}

assert_contains() {
	local haystack=$1 needle=$2 what=${3:-output}
	if [[ $haystack != *"$needle"* ]]; then
		printf 'looked for: [%s]\nin:         [%s]\n' "$needle" "$haystack" >&2
		fail "$what lacks the expected text"
	fi
}

assert_not_contains() {
	local haystack=$1 needle=$2 what=${3:-output}
	if [[ $haystack == *"$needle"* ]]; then
		printf 'unexpected: [%s]\nin:         [%s]\n' "$needle" "$haystack" >&2
		fail "$what contains unexpected text"
	fi
}

# assert_file_eq EXPECTED ACTUAL: byte-identical files.
assert_file_eq() {
	local a=$1 b=$2
	[[ -f $a ]] || fail "missing file: $a"
	[[ -f $b ]] || fail "missing file: $b"
	if ! cmp -s -- "$a" "$b"; then
		printf 'expected: %s (%s bytes, sha256 %s)\nactual:   %s (%s bytes, sha256 %s)\n' \
			"$a" "$(stat -c %s -- "$a")" "$(sha256sum <"$a" | cut -c1-16)" \
			"$b" "$(stat -c %s -- "$b")" "$(sha256sum <"$b" | cut -c1-16)" >&2
		cmp -- "$a" "$b" >&2 || true
		fail "files differ"
	fi
}

assert_no_file() {
	[[ ! -e $1 ]] || fail "file should not exist: $1"
}

# The stderr of a failed get must say "Transfer failed" and begin with "dfs: ".
assert_transfer_failed() {
	((RC != 0)) || fail "get succeeded"
	assert_contains "$ERR" "Transfer failed" "stderr"
	[[ $ERR == dfs:* ]] || fail "error message does not begin with 'dfs: ': $ERR"
}

# placement_row NAME: the placement row of NAME (SPEC section 1) for 4 servers.
placement_row() {
	python3 -c 'import hashlib, sys
h = hashlib.sha256(sys.argv[1].encode("utf-8", "surrogateescape")).digest()
print(int.from_bytes(h[:8], "big") % 4)' "$1"
}

# chunk_sizes SIZE: the four chunk sizes of a SIZE-byte file, one a line.
chunk_sizes() {
	local size=$1 i
	for ((i = 0; i < 4; i++)); do
		printf '%d\n' $((size / 4 + (i < size % 4 ? 1 : 0)))
	done
}

# make_random FILE BYTES: a file of random content.
make_random() {
	head -c "$2" /dev/urandom >"$1"
}

# list_size NAME: the size the last `dfs list` output ($T/out) gives for NAME,
# from a line "NAME SIZE..."; empty if NAME is not listed.
list_size() {
	python3 -c 'import re, sys
name = sys.argv[1]
for line in open(sys.argv[2], encoding="utf-8", errors="surrogateescape"):
    m = re.match(re.escape(name) + r"[ \t]+([0-9]+)(?:[ \t]|$)", line.rstrip("\n"))
    if m:
        print(m.group(1))
        break' "$1" "$T/out"
}

# eventually CMD...: retries CMD (every 0.2 s, up to 20 s) until it succeeds, e.g.
# while a server still throttles logins after failed attempts.
eventually() {
	local i
	for ((i = 0; i < 100; i++)); do
		run "$@"
		((RC == 0)) && return 0
		sleep 0.2
	done
	printf 'stdout: %s\nstderr: %s\n' "$OUT" "$ERR" >&2
	fail "still failing after 20 s: $*"
}

# session_hold USER PASSWORD [CONF [WRAPPER...]]: starts build/test-bin/dfs-session-hold, a
# libdfs client of USER (configuration CONF, default $C/dfs.conf; run through WRAPPER, e.g. a
# function that runs a command on a simulated host) that logs in once and keeps its session;
# returns once it is logged in. HOLD_PID is its pid.
session_hold() {
	local user=$1 pass=$2 conf=${3:-$C/dfs.conf} hold=$DFS_BUILD/test-bin/dfs-session-hold i
	shift $(($# < 3 ? $# : 3))
	[[ -x $hold ]] || fail "$hold not built"
	mkfifo "$T/hold.in"
	"$@" env DFS_PASSWORD="$pass" "$hold" "$conf" "$user" <"$T/hold.in" >"$T/hold.out" \
		2>"$T/hold.err" &
	HOLD_PID=$!
	exec 3>"$T/hold.in"
	for ((i = 0; i < 300; i++)); do
		grep -q '^ready$' "$T/hold.out" && return 0
		kill -0 "$HOLD_PID" 2>/dev/null || { cat "$T/hold.err" >&2; fail "the session holder exited"; }
		sleep 0.1
	done
	fail "the session holder never logged in"
}

# session_hold_list: has the held session list the user's files and prints its answer
# ("list rc=0 files=N", or "list rc=-13 ..." once the session is refused).
session_hold_list() {
	local before i
	before=$(grep -c '^list ' "$T/hold.out" || true)
	echo list >&3
	for ((i = 0; i < 300; i++)); do
		(($(grep -c '^list ' "$T/hold.out" || true) > before)) && break
		sleep 0.1
	done
	grep '^list ' "$T/hold.out" | sed -n "$((before + 1))p"
}

# session_hold_end: ends the held session and checks the holder exited cleanly.
session_hold_end() {
	exec 3>&-
	wait "$HOLD_PID" || fail "the session holder failed"
}

# holder NAME CHUNK WHICH: the server holding CHUNK of NAME as the first (0) or second (1)
# chunk of its pair; a reader asks the first holder.
holder() {
	local r
	r=$(placement_row "$1")
	if (($3 == 0)); then
		echo $((($2 - 1 + r) % 4 + 1))
	else
		echo $((($2 - 2 + r + 4) % 4 + 1))
	fi
}

# chunk_file SERVER NAME CHUNK: the path of AnujS's committed chunk file (one version held).
chunk_file() {
	local hash f
	hash=$(printf '%s' "$2" | sha256sum | cut -c1-64)
	f=$(find "$C/data/$1/u/AnujS/${hash:0:2}/$hash" -name "*.$3" -type f | sort | tail -n 1)
	[[ -n $f ]] || fail "no chunk $3 of $2 on DFS$1"
	printf '%s\n' "$f"
}

# chunk_slice LOCAL CHUNK: the bytes of chunk CHUNK (1..4) of the file LOCAL, to stdout.
chunk_slice() {
	python3 -c 'import sys
data = open(sys.argv[1], "rb").read()
k, n = int(sys.argv[2]), len(data)
sizes = [n // 4 + (1 if i < n % 4 else 0) for i in range(4)]
off = sum(sizes[:k - 1])
sys.stdout.buffer.write(data[off:off + sizes[k - 1]])' "$1" "$2"
}

# flip_chunk SERVER NAME CHUNK LOCAL OFFSET: inverts the byte at OFFSET of SERVER's copy of
# chunk CHUNK of AnujS's NAME, whose bytes are in LOCAL: in its chunk file, or, for a small
# file's chunk kept in the server's records database, wherever the database holds them.
flip_chunk() {
	local hash
	hash=$(printf '%s' "$2" | sha256sum | cut -c1-64)
	if compgen -G "$C/data/$1/u/AnujS/${hash:0:2}/$hash/*.$3" >/dev/null; then
		flip "$(chunk_file "$1" "$2" "$3")" "$5"
		return
	fi
	chunk_slice "$4" "$3" >"$T/slice"
	python3 -c 'import sys
db, off = sys.argv[1], int(sys.argv[3])
want, data = open(sys.argv[2], "rb").read(), open(db, "rb").read()
hits, at = [], data.find(want)
while at >= 0:
    hits.append(at)
    at = data.find(want, at + 1)
with open(db, "r+b") as f:
    for at in hits:
        f.seek(at + off)
        f.write(bytes([data[at + off] ^ 0xFF]))
sys.exit(0 if hits else 1)' "$C/data/$1/records/data.mdb" "$T/slice" "$5" ||
		fail "chunk $3 of $2 is neither a file nor in the records of DFS$1"
}

# flip FILE OFFSET: inverts every bit of the byte at OFFSET, in place.
flip() {
	python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0xFF]))' "$1" "$2"
}

# complete_words WORD...: what bash completion (deploy/bash-completion/dfs) offers for the
# command line WORD... (the last word being completed), one a line.
complete_words() {
	(
		set +eu
		# shellcheck source=deploy/bash-completion/dfs
		source "$DFS_SOURCE/deploy/bash-completion/dfs"
		PATH=$DFS_BUILD/bin:$PATH
		export DFS_PASSWORD=Bluepanda
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_dfs 2>/dev/null
		printf '%s\n' "${COMPREPLY[@]}"
	)
}

# metric K NAME: the value of metric NAME on server K.
metric() {
	local v
	v=$(curl -sS --max-time 10 "http://127.0.0.1:$(cluster_env "DFS_CLUSTER_METRICS_PORT_$1")/metrics" |
		awk -v n="$2" '$1 == n { print $2 }') || fail "cannot fetch the metrics of server $1"
	[[ $v =~ ^[0-9]+$ ]] || fail "server $1 has no metric $2"
	printf '%s\n' "$v"
}

# wait_metric K NAME MIN: waits (up to 120 s) until metric NAME of server K is at least MIN.
wait_metric() {
	local i
	for ((i = 0; i < 1200; i++)); do
		(($(metric "$1" "$2") >= $3)) && return 0
		sleep 0.1
	done
	fail "server $1: $2 stays below $3"
}

# scrub_now K: asks server K for a pass and waits until it has finished it.
scrub_now() {
	local before
	before=$(metric "$1" dfs_scrub_passes_total)
	cluster scrub "$1"
	wait_metric "$1" dfs_scrub_passes_total $((before + 1))
}

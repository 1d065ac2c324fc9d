#!/usr/bin/env bash
# test_folders: names with '/' as folders: put -r, list PREFIX, get -r, delete -r, the
# folders a get creates (never through a link), and the name rule on client and server.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROBE=$DFS_BUILD/bin/dfs-probe
[[ -x $PROBE ]] || fail "missing $PROBE (build the tree first)"

cluster_up
cd "$T"

# A tree with nested folders, spaces, UTF-8, an empty file and a 1 MiB file; a link and an
# empty folder that put -r leaves out.
uni=$'\xc3\xbcn\xc3\xafc\xc3\xb8d\xc3\xa9'
mkdir -p "src/sub dir/deeper" "src/$uni" src/a/b/c/d src/big src/hollow
printf 'top\n' >src/top.txt
: >src/empty
printf 'spaced out\n' >"src/sub dir/with space.txt"
printf 'deep\n' >"src/sub dir/deeper/$uni.txt"
printf 'utf-8 folder\n' >"src/$uni/x"
printf 'e\n' >src/a/b/c/d/e.txt
head -c 1048576 /dev/urandom >src/big/1mib.bin
ln -s top.txt src/link

must dfs_s put -r src
assert_contains "$ERR" "src/link: skipped: a symbolic link" "put -r of a tree with a link"
must dfs_s list
for name in src/top.txt src/empty "src/sub dir/with space.txt" "src/sub dir/deeper/$uni.txt" \
	"src/$uni/x" src/a/b/c/d/e.txt src/big/1mib.bin; do
	grep -qxF "$name $(stat -c %s "$T/$name")" <<<"$OUT" || fail "list lacks '$name': $OUT"
done
assert_not_contains "$OUT" "src/link" "list after put -r"
assert_not_contains "$OUT" "hollow" "list after put -r"
assert_eq 7 "$(grep -c '^src/' <<<"$OUT")" "files stored by put -r src"
ok "put -r stores every regular file as DIR/relative/path; links and empty folders are left out"

must dfs_s put -r src/ --as photos/2024
must dfs_s put src/top.txt --as photos.txt
must dfs_s list photos/
assert_eq 7 "$(wc -l <<<"$OUT")" "lines of list photos/"
assert_contains "$OUT" "photos/2024/sub dir/with space.txt 11" "list photos/"
assert_not_contains "$OUT" "photos.txt" "list photos/"
must dfs_s list photos
assert_eq 8 "$(wc -l <<<"$OUT")" "lines of list photos (a plain prefix)"
must dfs_s list "src/sub dir/"
assert_eq "src/sub dir/deeper/$uni.txt 5
src/sub dir/with space.txt 11" "$OUT" "list 'src/sub dir/'"
must dfs_s list nothing-here
assert_eq "" "$OUT" "list of a prefix nothing begins with"
must dfs_s list --json src/a
python3 -c 'import json, sys
l = json.load(sys.stdin)
assert [f["name"] for f in l] == ["src/a/b/c/d/e.txt"], l' <<<"$OUT" || fail "list --json src/a: $OUT"
ok "put -r --as PREFIX; list PREFIX shows whole names beginning with PREFIX (also --json)"

must dfs_s get -r src -d got
diff -r -x link -x hollow src got/src || fail "get -r src differs from the original"
[[ ! -e got/src/link && ! -e got/src/hollow ]] || fail "get -r made a link or an empty folder"
must dfs_s get -r photos/2024/ -d got2
diff -r -x link -x hollow src got2/photos/2024 || fail "get -r photos/2024/ differs"
[[ ! -e got2/photos.txt ]] || fail "get -r photos/2024 fetched photos.txt"
ok "get -r recreates PREFIX/relative/path below DIR, byte for byte"

mkdir got3
(cd got3 && must dfs_s get "src/sub dir/with space.txt")
assert_file_eq "src/sub dir/with space.txt" "got3/src/sub dir/with space.txt"
must dfs_s get src/a/b/c/d/e.txt -o got3/e.txt
assert_file_eq src/a/b/c/d/e.txt got3/e.txt
must dfs_s get -r src/top.txt -d got4
assert_file_eq src/top.txt got4/src/top.txt
ok "a plain get of a name with folders writes DIR/NAME; get -r of a file name fetches it"

mkdir -p outside got5
ln -s "$T/outside" got5/src
assert_fails dfs_s get -r src -d got5
assert_contains "$ERR" "symbolic link" "get -r through a linked folder"
assert_transfer_failed
[[ -z $(ls -A outside) ]] || fail "get -r wrote through a link: $(ls -A outside)"
mkdir got6
printf 'in the way\n' >got6/src
assert_fails dfs_s get -r src -d got6
assert_contains "$ERR" "exists and is not a folder" "get -r over a file"
assert_eq "in the way" "$(cat got6/src)" "the file in the way"
assert_fails dfs_s get -r nosuch -d got6
assert_contains "$ERR" "nosuch: no such file or folder" "get -r of nothing"
ok "get never writes through a symbolic link nor over a file in the way; an unknown PREFIX fails"

must dfs_s put -r src --as json --json
python3 -c 'import json, sys
l = json.load(sys.stdin)
assert len(l) == 7 and all(r["ok"] for r in l), l
assert {r["name"] for r in l} >= {"json/top.txt", "json/big/1mib.bin"}, l' <<<"$OUT" ||
	fail "put -r --json: $OUT"
must dfs_s delete -r json/ --json
python3 -c 'import json, sys
l = json.load(sys.stdin)
assert len(l) == 7 and all(r["ok"] for r in l), l' <<<"$OUT" || fail "delete -r --json: $OUT"
ok "put -r and delete -r report one JSON result per file"

# Completion offers remote names a folder at a time, in bash and in dfs shell.
assert_eq "photos.txt|photos/|" "$(complete_words dfs -c "$C/dfs.conf" -u AnujS get ph | tr '\n' '|')" \
	"completion of 'get ph'"
assert_eq "src/sub dir/|" "$(complete_words dfs -c "$C/dfs.conf" -u AnujS get -r 'src/su' | tr '\n' '|')" \
	"completion of 'get -r src/su'"
assert_eq "src/sub dir/deeper/|src/sub dir/with space.txt|" \
	"$(complete_words dfs -c "$C/dfs.conf" -u AnujS delete 'src/sub\ dir/' | tr '\n' '|')" \
	"completion of 'delete src/sub\ dir/'"
assert_eq "src/|" "$(complete_words dfs -c "$C/dfs.conf" -u AnujS list s | tr '\n' '|')" "completion of 'list s'"
ok "bash completion offers remote names up to the next '/'"

if command -v tmux >/dev/null; then
	TMUX_SOCK=$T/tmux.sock
	on_exit 'tmux -S "$TMUX_SOCK" kill-server >/dev/null 2>&1'
	pane() { tmux -S "$TMUX_SOCK" capture-pane -p -t sh -S -200; }
	keys() { tmux -S "$TMUX_SOCK" send-keys -t sh "$@"; }
	wait_pane() {
		local i n
		for ((i = 0; i < 200; i++)); do
			n=$(pane | grep -Ec -- "$1" || true)
			((n >= ${2:-1})) && return 0
			sleep 0.1
		done
		pane >&2
		fail "the terminal never showed '$1' (${2:-1} times)"
	}
	mkdir -p home work
	printf -v cmd '%q ' env HOME="$T/home" XDG_STATE_HOME= DFS_PASSWORD=Bluepanda \
		"$DFS" -c "$C/dfs.conf" -u AnujS shell
	tmux -S "$TMUX_SOCK" new-session -d -s sh -x 200 -y 50 \
		"cd $(printf '%q' "$T/work") && $cmd; echo EXIT=\$?; sleep 300"
	wait_pane '^dfs>'
	keys 'get src/su' Tab
	wait_pane '^dfs> get src/sub\\ dir/$'
	keys 'w' Tab Enter
	wait_pane '^dfs>' 2
	assert_file_eq "src/sub dir/with space.txt" "work/src/sub dir/with space.txt"
	keys 'list src/sub' C-c
	wait_pane '^dfs>' 3
	keys 'list src/a' Enter
	wait_pane '^src/a/b/c/d/e.txt 2$'
	ok "dfs shell completes folders and quotes spaces; Ctrl-C at the prompt keeps the shell"
	# Ctrl-C during a command ends the command, not the shell (a put of a FIFO
	# without a writer waits in open() for ever).
	mkfifo work/fifo
	keys 'put fifo' Enter
	wait_pane '^dfs> put fifo$'
	sleep 0.5
	keys C-c
	wait_pane 'dfs: put: interrupted'
	keys 'list src/t' Enter
	wait_pane '^src/top.txt 4$'
	keys 'quit' Enter
	wait_pane '^EXIT=0$'
	ok "Ctrl-C in dfs shell ends the running command and keeps the shell"
fi

must dfs_s delete -r src -v
assert_eq 7 "$(grep -c '^deleted src/' <<<"$OUT")" "lines of delete -r -v"
must dfs_s list src
assert_eq "" "$OUT" "list src after delete -r src"
must dfs_s list photos
assert_eq 8 "$(wc -l <<<"$OUT")" "photos after delete -r src"
assert_fails dfs_s delete -r src
assert_contains "$ERR" "src: no such file or folder" "delete -r of a folder gone"
must dfs_s delete -r photos/2024 photos.txt
must dfs_s list
assert_eq "" "$OUT" "list after deleting everything"
ok "delete -r removes exactly the files below PREFIX; an empty PREFIX fails"

# A local file whose name is not UTF-8 is refused; the rest of the tree is stored.
mkdir -p bad
printf 'fine\n' >bad/fine.txt
printf 'latin-1\n' >$'bad/caf\xe9'
assert_fails dfs_s put -r bad
assert_contains "$ERR" "invalid name" "put -r of a non-UTF-8 name"
must dfs_s list bad/
assert_eq "bad/fine.txt 5" "$OUT" "list bad/"
ok "put -r refuses a local name that is not UTF-8 and stores the others"

# The client refuses hostile names itself, with a message and before logging in.
long256=$(printf 'c%.0s' {1..256})
long4097=$(printf 'n%.0s' {1..4097})
for name in a//b /abs a/../b ./a a/. dir/ "a/$long256" "$long4097"; do
	run env DFS_PASSWORD=wrong "$DFS" -c "$C/dfs.conf" -u AnujS put src/top.txt --as "$name"
	assert_eq 1 "$RC" "exit status of put --as '${name:0:20}'"
	[[ $ERR == "dfs: put src/top.txt: "* ]] || fail "no message for '${name:0:20}': $ERR"
	assert_not_contains "$ERR" "login" "put --as '${name:0:20}'"
done
assert_fails dfs_s get a//b -d got6
assert_contains "$ERR" "empty folder" "get a//b"
assert_fails dfs_s delete -r /abs
assert_contains "$ERR" "begins with '/'" "delete -r /abs"
ok "the client refuses a//b, /abs, a/../b, ./a, a/., dir/, a 256-byte component, 4,097 bytes"

# The server applies the rule on its own, past the client's checks.
for kind in empty-component leading-slash trailing-slash dotdot-component; do
	for proc in LOOKUP PUT_BEGIN DELETE; do
		must env DFS_PASSWORD=Bluepanda "$PROBE" -c "$C/dfs.conf" -s 2 -u AnujS raw-name "$kind" "$proc"
		assert_contains "$OUT" "raw-name $kind $proc DFS_EINVAL" "server answer to $kind"
	done
done
for proc in LOOKUP PUT_BEGIN DELETE; do
	must env DFS_PASSWORD=Bluepanda "$PROBE" -c "$C/dfs.conf" -s 2 -u AnujS raw-name long-component "$proc"
	assert_contains "$OUT" "raw-name long-component $proc DFS_ENAMETOOLONG" "256-byte component"
done
must env DFS_PASSWORD=Bluepanda "$PROBE" -c "$C/dfs.conf" -s 2 -u AnujS raw-name max LOOKUP
assert_contains "$OUT" "raw-name max LOOKUP DFS_ENOENT" "a 4,096-byte name"
ok "the server refuses a//b, /a, a/, a/../b and a 256-byte component; takes 4,096 bytes"

# The longest name: 4,096 bytes, 17 components of 240.
max=$(python3 -c 'print("/".join(["m" * 240] * 17))')
assert_eq 4096 "${#max}" "length of the long name"
must dfs_s put src/top.txt --as "$max"
# A replaced file keeps its previous record beside the new one: two long names.
must dfs_s put src/top.txt --as "$max"
must dfs_s list mmm
assert_eq "$max 4" "$OUT" "list of the 4,096-byte name"
must dfs_s get "$max" -o got6/max
assert_file_eq src/top.txt got6/max
must dfs_s delete "$max"
ok "a 4,096-byte name with 16 folders is stored, replaced, listed, fetched and deleted"

#!/usr/bin/env bash
# test_cli_shell: dfs shell on a real terminal (tmux): prompt, commands, Tab completion, history;
# dfs with no command at a terminal; help texts with exit codes; bash completion.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v tmux >/dev/null || fail "tmux is needed (apt-get install tmux)"
TMUX_SOCK=$T/tmux.sock
# The terminal server is ours: stop it before lib.sh cleans up.
on_exit 'tmux -S "$TMUX_SOCK" kill-server >/dev/null 2>&1'

cd "$T" || fail "cd $T"

# --- help texts and exit codes (no cluster needed) ---
for args in "--help" "help put" "put --help" "help shell" "list --help"; do
	# shellcheck disable=SC2086
	must "$DFS" $args
	assert_contains "$OUT" "Exit status" "dfs $args"
	assert_contains "$OUT" "usage error" "dfs $args"
	assert_contains "$OUT" "unavailable" "dfs $args"
done
must "$DFS" --help
assert_contains "$OUT" "shell" "dfs --help"
assert_contains "$OUT" "NO_COLOR" "dfs --help"
must "$DFS" help list
assert_contains "$OUT" "survives:" "dfs help list"
ok "dfs --help, dfs help COMMAND and dfs COMMAND --help give the exit codes"

run "$DFS" </dev/null
assert_eq 2 "$RC" "exit status of dfs without a command or a terminal"
ok "dfs with no command and no terminal: usage, exit 2"

cluster_up
printf 'hello\n' >"$T/hello.txt"
must dfs_s put "$T/hello.txt"
printf 'fresh file\n' >"$T/new.txt"
mkdir -p "$T/home" "$T/work" "$T/got"

# pane: the visible terminal of the shell session.
pane() { tmux -S "$TMUX_SOCK" capture-pane -p -t "$1" -S -200; }

# wait_pane SESSION PATTERN [COUNT]: waits (20 s at most) until COUNT lines of the pane match
# the extended regular expression PATTERN.
wait_pane() {
	local i n
	for ((i = 0; i < 200; i++)); do
		n=$(pane "$1" | grep -Ec -- "$2" || true)
		((n >= ${3:-1})) && return 0
		sleep 0.1
	done
	pane "$1" >&2
	fail "the terminal never showed '$2' (${3:-1} times)"
}

# start_term SESSION ARGS...: dfs ARGS on a new 200x50 terminal, in $T/work, as AnujS.
start_term() {
	local session=$1 cmd
	shift
	printf -v cmd '%q ' env HOME="$T/home" XDG_STATE_HOME= DFS_PASSWORD=Bluepanda \
		"$DFS" -c "$C/dfs.conf" -u AnujS "$@"
	tmux -S "$TMUX_SOCK" new-session -d -s "$session" -x 200 -y 50 \
		"cd $(printf '%q' "$T/work") && $cmd; echo EXIT=\$?; sleep 300"
}

keys() { tmux -S "$TMUX_SOCK" send-keys -t "$@"; }

start_term sh shell
wait_pane sh '^dfs>'
pane sh | grep -q 'AnujS on a cluster of 4 servers' || fail "no greeting: $(pane sh)"
keys sh 'list' Enter
wait_pane sh '^dfs>' 2
pane sh | grep -qx 'hello.txt 6' || fail "list in the shell: $(pane sh)"
keys sh "put $T/new.txt" Enter
wait_pane sh '^dfs>' 3
keys sh "get new.txt -d $T/got" Enter
wait_pane sh '^dfs>' 4
assert_file_eq "$T/new.txt" "$T/got/new.txt"
# Tab completes a command, then a remote name (into the current folder).
keys sh 'ge' Tab 'hel' Tab Enter
wait_pane sh '^dfs>' 5
pane sh | grep -q '^dfs> get hello.txt' || fail "Tab did not complete: $(pane sh)"
assert_file_eq "$T/hello.txt" "$T/work/hello.txt"
keys sh 'list -l' Enter
wait_pane sh ' survives:any new.txt$'
keys sh 'get nosuch' Enter
wait_pane sh 'dfs: get nosuch: Transfer failed'
keys sh 'frobnicate' Enter
wait_pane sh "dfs: unknown command 'frobnicate'; 'help' lists them"
keys sh 'help' Enter
wait_pane sh 'quit, exit, Ctrl-D'
keys sh 'quit' Enter
wait_pane sh '^EXIT=0$'
echo "# the shell session:"
pane sh | sed -e '/^EXIT=/,$d' -e 's/^/#   /'
ok "dfs shell on a terminal: list, put, get, Tab completion, errors, help, quit"

history=$T/home/.local/state/dfs/history
[[ -f $history ]] || fail "no history file at $history"
grep -q 'list\\040-l' "$history" || fail "history lacks 'list -l': $(cat "$history")"
start_term sh2
wait_pane sh2 '^dfs>'
keys sh2 Up
wait_pane sh2 '^dfs> quit'
keys sh2 C-u C-d
wait_pane sh2 '^EXIT=0$'
ok "dfs with no command at a terminal opens the shell; history is kept; Ctrl-D leaves"

# Without a terminal the shell reads commands one a line, without a prompt.
printf 'list\nbogus\n' >"$T/script"
run env DFS_PASSWORD=Bluepanda "$DFS" -c "$C/dfs.conf" -u AnujS shell <"$T/script"
assert_eq 2 "$RC" "exit status of a piped shell whose last command is unknown"
assert_contains "$OUT" "hello.txt 6" "output of a piped shell"
assert_not_contains "$OUT" "dfs> " "output of a piped shell"
ok "dfs shell with commands piped in"

# --- bash completion ---
got=$(complete_words dfs s | sort | tr '\n' ' ')
assert_eq "scrub shell status " "$got" "completion of 'dfs s'"
got=$(complete_words dfs -c "$C/dfs.conf" -u AnujS get '' | sort | tr '\n' ' ')
assert_eq "hello.txt new.txt " "$got" "completion of remote names"
got=$(complete_words dfs -c "$C/dfs.conf" -u AnujS delete ne | tr '\n' ' ')
assert_eq "new.txt " "$got" "completion of a remote name prefix"
got=$(complete_words dfs list - | tr '\n' ' ')
assert_contains "$got" "-l" "completion of list options"
ok "bash completion: commands, remote names, options"

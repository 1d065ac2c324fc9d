#!/usr/bin/env bash
# test_layers.sh: no file of libdfs calls a function defined in a higher layer (a file's
# layer is its folder under client/), and no files call each other in a circle; read
# from the symbols each object file defines and uses.
source "$(dirname "$0")/lib.sh"

objdir=$DFS_BUILD/client/CMakeFiles/dfs_client.dir
[[ -d $objdir ]] || fail "no object files of libdfs in $objdir"
out=$(python3 "$DFS_SOURCE/test/tools/check_layers.py" "$objdir" "$DFS_SOURCE/client" 2>&1) || {
	printf '%s\n' "$out" >&2
	fail "a file of libdfs calls upward or in a circle"
}
printf '%s\n' "$out"
ok "every file of libdfs calls only its own or lower layers, with no circle"

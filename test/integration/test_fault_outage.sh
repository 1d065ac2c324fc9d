
# --- 5. Two neighbours down: the put fails cleanly, the previous version stays. ------
make_random "$IN/pair" $((2 * 1024 * 1024 + 9))
must dfs_s put "$IN/pair"
cp "$IN/pair" "$T/pair-v1"
must dfs_s list
v1_size=$(list_size pair)
find "$C/data" -path '*/u/*' -type f -name '*.[0-9]*' | sort >"$T/chunks-before"
make_random "$IN/pair" $((3 * 1024 * 1024))
cluster stop 2
cluster stop 3
run dfs_s put "$IN/pair"
((RC != 0)) || fail "put succeeded with two neighbouring servers down"
[[ $ERR == dfs:* ]] || fail "error does not begin with 'dfs: ': $ERR"
assert_contains "$ERR" "down" "put error"
rm -f "$T/got"
must dfs_s get pair -o "$T/got"
assert_file_eq "$T/pair-v1" "$T/got"
find "$C/data" -path '*/u/*' -type f -name '*.[0-9]*' | sort >"$T/chunks-after"
assert_eq "$(cat "$T/chunks-before")" "$(cat "$T/chunks-after")" "chunk files after the failed put"
cluster start 2
cluster start 3
rm -f "$T/got"
must dfs_s get pair -o "$T/got"
assert_file_eq "$T/pair-v1" "$T/got"
must dfs_s list
assert_eq "$v1_size" "$(list_size pair)" "listed size"
ok "put with DFS2 and DFS3 down fails cleanly; the previous version reads and is listed; nothing staged is left"

#!/usr/bin/env bash
# test_roundtrip: files of many shapes and names come back byte for byte.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up
IN=$T/in
OUT_DIR=$T/got
mkdir -p "$IN" "$OUT_DIR"

: >"$IN/empty"
printf 'x' >"$IN/one"
printf 'abc' >"$IN/three"
make_random "$IN/page-plus-one" 4097
python3 -c 'import sys
data = bytes(range(256)) * 3 + b"\0\0\0" + b"line one\r\nline two\r\n\r\n" + b"\0" + bytes(range(255, -1, -1))
sys.stdout.buffer.write(data)' >"$IN/all-bytes"
make_random "$IN/with space.bin" 1000
printf 'unicode\n' >"$IN/naïve ファイル 😀.txt"

names=(empty one three page-plus-one all-bytes "with space.bin" "naïve ファイル 😀.txt")
paths=()
for n in "${names[@]}"; do
	paths+=("$IN/$n")
done

must dfs_s put "${paths[@]}"
ok "put ${#names[@]} files in one command"

must dfs_s list
for n in "${names[@]}"; do
	grep -Fq -- "$n" "$T/out" || fail "list lacks '$n': $OUT"
done
ok "list shows every stored name"

must dfs_s get "${names[@]}" -d "$OUT_DIR"
for n in "${names[@]}"; do
	assert_file_eq "$IN/$n" "$OUT_DIR/$n"
done
ok "get -d: every file is byte-identical (0, 1, 3, 4097 bytes, all byte values, blanks, UTF-8)"

(cd "$OUT_DIR" && rm -f -- * && must dfs_s get three "with space.bin")
assert_file_eq "$IN/three" "$OUT_DIR/three"
assert_file_eq "$IN/with space.bin" "$OUT_DIR/with space.bin"
ok "get without -d writes into the current folder"

must dfs_s get all-bytes -o "$T/custom-name"
assert_file_eq "$IN/all-bytes" "$T/custom-name"
ok "get -o LOCAL"

dfs_s get page-plus-one -o - >"$T/stdout-copy" || fail "get -o - failed"
assert_file_eq "$IN/page-plus-one" "$T/stdout-copy"
dfs_s get empty -o - >"$T/stdout-empty" || fail "get -o - of an empty file failed"
assert_file_eq "$IN/empty" "$T/stdout-empty"
ok "get -o - writes the bytes to stdout"

must dfs_s put "$IN/three" --as "renamed three"
must dfs_s get "renamed three" -o "$T/renamed"
assert_file_eq "$IN/three" "$T/renamed"
ok "put --as NAME"

make_random "$T/new-three" 5
must dfs_s put "$T/new-three" --as three
must dfs_s get three -o "$T/three-v2"
assert_file_eq "$T/new-three" "$T/three-v2"
ok "put over an existing name replaces it"

# A fetched file gets the mode any new file gets here, and replaces an existing
# local file whole, with the source's modification time.
touch -d '2001-02-03 04:05:06' "$T/new-three"
must dfs_s put "$T/new-three" --as three
printf 'old local content' >"$T/three-v2"
(umask 027 && must dfs_s get three -o "$T/three-v2")
assert_file_eq "$T/new-three" "$T/three-v2"
assert_eq 640 "$(stat -c %a "$T/three-v2")" "mode under umask 027"
assert_eq "$(stat -c %Y "$T/new-three")" "$(stat -c %Y "$T/three-v2")" "modification time"
[[ -z $(find "$T" -maxdepth 1 -name '.three-v2.*') ]] || fail "a temporary file was left beside the target"
ok "get over an existing local file: replaced whole, mode from the umask, mtime kept"

make_random "$IN/big" $((64 * 1024 * 1024))
start=$(date +%s.%N)
must dfs_s put "$IN/big"
mid=$(date +%s.%N)
must dfs_s get big -o "$OUT_DIR/big"
end=$(date +%s.%N)
assert_file_eq "$IN/big" "$OUT_DIR/big"
ok "64 MiB random file round trip ($(awk -v a="$start" -v b="$mid" -v c="$end" \
	'BEGIN { printf "put %.2fs, get %.2fs", b - a, c - b }'))"

must dfs_s list
grep -Eq "^big[[:space:]]+$((64 * 1024 * 1024))([[:space:]]|$)" "$T/out" || fail "list lacks 'big 67108864': $OUT"
ok "list reports the size of the big file"

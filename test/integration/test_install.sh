# test_install.sh: `cmake --install` into a temporary prefix gives a libdfs that a C program
# built with only pkg-config can use, shared and static, against a real cluster.
source "$(dirname "$0")/lib.sh"

P=$T/prefix
must cmake --install "$DFS_BUILD" --prefix "$P"
# Libraries live in Debian's multiarch folder.
L=lib/$(gcc -print-multiarch)

# Everything the install promises is in its standard place.
for f in bin/dfs sbin/dfsd sbin/dfsadm include/dfs.h $L/libdfs.a $L/pkgconfig/dfs.pc \
	share/man/man1/dfs.1 share/man/man5/dfs.conf.5 share/man/man8/dfsd.8 \
	share/man/man8/dfsadm.8 lib/systemd/system/dfsd@.service lib/sysusers.d/dfs.conf \
	share/doc/dfs/examples/dfsd.conf.example share/doc/dfs/examples/dfs.conf.example \
	share/bash-completion/completions/dfs; do
	[[ -f $P/$f ]] || fail "not installed: $f"
done
so=$(readelf -d "$P/$L/libdfs.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
assert_eq libdfs.so.2 "$so" "SONAME of libdfs.so"
[[ -L $P/$L/libdfs.so && -f $P/$L/$so ]] || fail "libdfs.so is not a link to $so"
assert_contains "$(grep '^ExecStart=' "$P/lib/systemd/system/dfsd@.service")" \
	"ExecStart=$P/sbin/dfsd -c /etc/dfs/dfsd-%i.conf" "the installed unit"
ok "cmake --install puts binaries, library, header, pkg-config file, man pages and unit in place"

# The shared library exports the functions of dfs.h and nothing else.
exported=$(nm -D --defined-only "$P/$L/libdfs.so" | awk '{print $3}' | sed 's/@.*//' | sort -u)
others=$(grep -v '^dfs_' <<<"$exported" || true)
[[ -z $others ]] || fail "libdfs.so exports names outside dfs_: $(tr '\n' ' ' <<<"$others")"
declared=$(sed -n 's/^DFS_API [^(]*[ *]\(dfs_[a-z_0-9]*\)(.*/\1/p' "$P/include/dfs.h" | sort -u)
assert_eq "$(printf '%s\n' "$declared" dfs_2 dfs_2.1 dfs_2.2 dfs_2.3 | sort -u)" "$exported" "exported vs declared"
ok "libdfs.so exports exactly the functions dfs.h declares ($(wc -l <<<"$declared"))"

# The installed manual pages are valid roff.
if command -v man >/dev/null 2>&1; then
	for m in "$P"/share/man/man*/*; do
		run env MANROFFSEQ='' man --warnings=w -l -Tutf8 "$m"
		((RC == 0)) || fail "man -l $m: $ERR"
		[[ -z $ERR ]] || fail "man -l $m warns: $ERR"
	done
	ok "the installed manual pages format without warnings"
else
	printf 'skip: man is not installed (apt-get install man-db), pages not formatted\n'
fi

cat >"$T/prog.c" <<'EOF'
/* A program using only the installed libdfs: log in, put, list, get, delete. */
#include <dfs.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct dfs_client *c = NULL;
	struct dfs_file_list *list = NULL;
	size_t i;
	int rc, found = 0;

	if (argc != 5)
		return 2;
	rc = dfs_client_new(&c, argv[1]);
	if (rc == 0)
		rc = dfs_login(c, "AnujS", "Bluepanda");
	if (rc == 0)
		rc = dfs_put(c, argv[2], argv[3]);
	if (rc == 0)
		rc = dfs_list(c, &list);
	if (rc == 0) {
		for (i = 0; i < list->count; i++)
			found |= strcmp(list->files[i]->name, argv[3]) == 0;
		rc = found ? 0 : -2;
	}
	if (rc == 0)
		rc = dfs_get(c, argv[3], argv[4]);
	if (rc == 0)
		rc = dfs_delete(c, argv[3]);
	if (rc < 0)
		fprintf(stderr, "prog: %s: %s\n", dfs_strerror(rc), dfs_last_error(c));
	else
		printf("libdfs %s ok\n", dfs_version());
	dfs_file_list_free(list);
	dfs_client_free(c);
	return rc < 0;
}
EOF

export PKG_CONFIG_PATH=$P/$L/pkgconfig
must pkg-config --exists dfs
assert_eq "$(sed -n 's/^project(dfs VERSION \([0-9.]*\).*/\1/p' "$DFS_SOURCE/CMakeLists.txt")" \
	"$(pkg-config --modversion dfs)" "pkg-config --modversion dfs"
read -r -a cflags <<<"$(pkg-config --cflags dfs)"
read -r -a libs <<<"$(pkg-config --libs dfs)"
read -r -a static_libs <<<"$(pkg-config --static --libs dfs)"
# A sanitizer build's library needs its runtime in the program too.
san=()
if grep -q '^DFS_SANITIZE:BOOL=ON' "$DFS_BUILD/CMakeCache.txt"; then
	san=("-fsanitize=address,undefined")
fi
must cc -std=c11 -Wall -Werror "${san[@]}" -o "$T/prog" "$T/prog.c" "${cflags[@]}" "${libs[@]}"
# The static variant takes libdfs.a by name; the rest is what --static lists.
must cc -std=c11 -Wall -Werror "${san[@]}" -o "$T/prog-static" "$T/prog.c" "${cflags[@]}" \
	"${static_libs[@]/#-ldfs/-l:libdfs.a}"
readelf -d "$T/prog" | grep -q 'NEEDED.*\[libdfs\.so\.2\]' || fail "prog does not need libdfs.so.2"
if readelf -d "$T/prog-static" | grep -q 'NEEDED.*libdfs'; then
	fail "prog-static still needs the shared libdfs"
fi
ok "a program builds from pkg-config --cflags --libs dfs, shared and --static"

cluster_up
make_random "$T/in" 300001
run env LD_LIBRARY_PATH="$P/$L" "$T/prog" "$C/dfs.conf" "$T/in" installed.bin "$T/out-shared"
((RC == 0)) || fail "prog (shared) failed: $ERR"
assert_contains "$OUT" "ok" "prog output"
assert_file_eq "$T/in" "$T/out-shared"
# It really ran the installed library, not some other libdfs.
run env LD_LIBRARY_PATH="$P/$L" ldd "$T/prog"
assert_contains "$OUT" "libdfs.so.2 => $P/$L/libdfs.so.2" "ldd prog"
ok "the shared build stores, lists, fetches and deletes a file on the cluster"

run "$T/prog-static" "$C/dfs.conf" "$T/in" installed-static.bin "$T/out-static"
((RC == 0)) || fail "prog (static) failed: $ERR"
assert_file_eq "$T/in" "$T/out-static"
must dfs_s list
[[ -z $(list_size installed.bin) && -z $(list_size installed-static.bin) ]] ||
	fail "the program's files were not deleted: $OUT"
ok "the static build does the same without LD_LIBRARY_PATH"

# The Debian package holds the same files, where Debian expects them.
if command -v dpkg-deb >/dev/null 2>&1 && command -v dpkg-shlibdeps >/dev/null 2>&1; then
	mkdir "$T/deb"
	(cd "$T/deb" && cpack -G DEB --config "$DFS_BUILD/CPackConfig.cmake" -B "$T/deb") \
		>"$T/cpack.log" 2>&1 || {
		cat "$T/cpack.log" >&2
		fail "cpack -G DEB failed"
	}
	deb=$(ls "$T"/deb/dfs_*.deb)
	must dpkg-deb -c "$deb"
	for f in ./usr/bin/dfs ./usr/sbin/dfsd ./usr/sbin/dfsadm ./usr/include/dfs.h \
		./usr/$L/libdfs.so.2 ./usr/$L/libdfs.a ./usr/$L/pkgconfig/dfs.pc \
		./usr/lib/systemd/system/dfsd@.service \
		./usr/share/man/man5/dfs.conf.5 ./usr/share/doc/dfs/examples/dfs.conf.example; do
		assert_contains "$OUT" "$f" "dpkg-deb -c"
	done
	must dpkg-deb -f "$deb" Package Depends
	assert_contains "$OUT" "Package: dfs" "package control"
	assert_contains "$OUT" "rpcbind" "package dependencies"
	assert_contains "$OUT" "libtirpc3" "package dependencies"
	# Whole, into a file: grep -q ending the pipe early would kill dpkg-deb with SIGPIPE.
	dpkg-deb --fsys-tarfile "$deb" >"$T/deb.tar"
	tar -xOf "$T/deb.tar" ./usr/lib/systemd/system/dfsd@.service >"$T/unit"
	grep -qx 'ExecStart=/usr/sbin/dfsd -c /etc/dfs/dfsd-%i.conf' "$T/unit" ||
		fail "the packaged unit does not run /usr/sbin/dfsd"
	ok "cpack -G DEB builds $(basename "$deb") with the same files and its dependencies"
else
	printf 'skip: dpkg-deb or dpkg-shlibdeps missing, no Debian package check\n'
fi

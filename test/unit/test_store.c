/* test_store.c: the chunk store on real files in a temporary folder. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/evp.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "check.h"
#include "store.h"

static char base[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh data folder path (not yet created) under the test's temporary folder. */
static const char *new_root(char *buf, size_t len)
{
	static int n;

	snprintf(buf, len, "%s/data%d", base, n++);
	return buf;
}

static struct store *open_store(const char *root)
{
	struct store *st = NULL;
	char err[256];
	int rc = store_open(&st, root, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "store_open(%s): %d %s\n", root, rc, err);
	return st;
}

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 31 + seed * 7 + (i >> 8)) & 0xff);
}

/* Uploads one chunk in blocks of `block` bytes; returns finish's result. */
static int upload(struct store *st, const char *user, const char *name, uint64_t ver,
		  unsigned index, const unsigned char *data, size_t len, size_t block)
{
	struct store_upload *up = NULL;
	uint64_t off = 99;
	int rc;

	rc = store_upload_begin(st, user, name, strlen(name), ver, index, len, &up, &off);
	if (rc < 0)
		return rc;
	if (off != 0) {
		store_upload_abort(up);
		return -EPROTO;
	}
	for (size_t o = 0; o < len; o += block) {
		size_t n = len - o < block ? len - o : block;

		rc = store_upload_write(up, o, data + o, n);
		if (rc < 0) {
			store_upload_abort(up);
			return rc;
		}
	}
	return store_upload_finish(up, XXH3_64bits(data, len));
}

static void info_init(dfs_file_info *fi, const char *name, uint64_t ver, dfs_chunk_sum *sums,
		      unsigned nsums)
{
	memset(fi, 0, sizeof(*fi));
	fi->name.dfs_name_val = (char *)name;
	fi->name.dfs_name_len = (u_int)strlen(name);
	fi->ver = ver;
	fi->nchunks = 4;
	fi->mtime_ns = 123456789;
	fi->chunks.chunks_val = sums;
	fi->chunks.chunks_len = nsums;
}

/* Uploads chunks 1 and 2 (len bytes each, content from seed) of ver and commits
 * them (a file of 2 * len bytes) under quota q (NULL: none). */
static int put_file_quota(struct store *st, const char *user, const char *name, uint64_t ver,
			  size_t len, unsigned seed, const struct store_quota *q)
{
	unsigned char *data = malloc(len ? len : 1);
	dfs_chunk_sum sums[2];
	dfs_file_info fi;
	int rc = 0;

	for (unsigned k = 1; k <= 2 && rc == 0; k++) {
		fill(data, len, seed + k);
		rc = upload(st, user, name, ver, k, data, len, 4096);
		sums[k - 1].index = k;
		sums[k - 1].size = len;
		sums[k - 1].checksum = XXH3_64bits(data, len);
	}
	free(data);
	if (rc < 0)
		return rc;
	info_init(&fi, name, ver, sums, 2);
	fi.size = 2 * len;
	return q ? store_commit_quota(st, user, &fi, q) : store_commit(st, user, &fi);
}

static int put_file(struct store *st, const char *user, const char *name, uint64_t ver, size_t len,
		    unsigned seed)
{
	return put_file_quota(st, user, name, ver, len, seed, NULL);
}

/* Reads chunk index of ver entirely and compares it with fill(len, seed + index). */
static int read_matches(struct store *st, const char *user, const char *name, uint64_t ver,
			unsigned index, size_t len, unsigned seed)
{
	unsigned char *want = malloc(len + 1), *got = malloc(len + 100);
	size_t total = 0, n = 0;
	int rc = 0;

	fill(want, len, seed + index);
	while (total < len + 100) {
		size_t count = 1000;

		if (count > len + 100 - total)
			count = len + 100 - total;
		rc = store_read(st, user, name, strlen(name), ver, index, total, got + total, count,
				&n);
		if (rc < 0 || n == 0)
			break;
		total += n;
	}
	if (rc == 0 && (total != len || memcmp(want, got, len) != 0))
		rc = -EILSEQ;
	free(want);
	free(got);
	return rc;
}

static void chunk_path(char *out, size_t len, const char *root, const char *user, const char *name,
		       uint64_t ver, unsigned index)
{
	unsigned char md[32];
	char hex[65];

	EVP_Digest(name, strlen(name), md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(out, len, "%s/u/%s/%.2s/%s/%016" PRIx64 ".%u", root, user, hex, hex, ver, index);
}

static long long usage_total;

static int add_usage(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	usage_total += (long long)sb->st_blocks * 512;
	return 0;
}

/* Bytes of disk the folder's files occupy. */
static long long disk_usage(const char *root)
{
	usage_total = 0;
	nftw(root, add_usage, 16, FTW_PHYS);
	return usage_total;
}

static void test_roundtrip(void)
{
	char root[128];
	struct store *st = open_store(new_root(root, sizeof(root)));
	dfs_meta m;
	size_t got;
	unsigned char b[4];

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_EQ(put_file(st, "alice", "report.pdf", 1, 300000, 1), 0);
	CHECK_EQ(store_lookup(st, "alice", "report.pdf", 10, &m), 0);
	CHECK_EQ(m.current.ver, 1);
	CHECK_EQ(m.current.deleted, 0);
	CHECK_EQ(m.current.size, 600000);
	CHECK_EQ(m.current.mtime_ns, 123456789);
	CHECK_EQ(m.current.chunks.chunks_len, 2);
	CHECK_EQ(m.previous.previous_len, 0);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	CHECK_EQ(read_matches(st, "alice", "report.pdf", 1, 1, 300000, 1), 0);
	CHECK_EQ(read_matches(st, "alice", "report.pdf", 1, 2, 300000, 1), 0);
	/* Not held, never committed, unknown file. */
	CHECK_EQ(store_read(st, "alice", "report.pdf", 10, 1, 3, 0, b, 4, &got), -ENOENT);
	CHECK_EQ(store_read(st, "alice", "report.pdf", 10, 2, 1, 0, b, 4, &got), -ENOENT);
	CHECK_EQ(store_read(st, "alice", "nope", 4, 1, 1, 0, b, 4, &got), -ENOENT);
	CHECK_EQ(store_lookup(st, "alice", "nope", 4, &m), -ENOENT);
	/* An empty chunk. */
	CHECK_EQ(put_file(st, "alice", "empty", 1, 0, 1), 0);
	CHECK_EQ(store_read(st, "alice", "empty", 5, 1, 1, 0, b, 4, &got), 0);
	CHECK_EQ(got, 0);
	store_close(st);
}

static int count_tmp(const char *root)
{
	char path[512];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "%s/tmp", root);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Whether root/tmp becomes empty within ten seconds. */
static bool tmp_empties(const char *root)
{
	for (int i = 0; i < 1000; i++) {
		if (count_tmp(root) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

static void test_upload_errors(void)
{
	char root[128];
	struct store *st = open_store(new_root(root, sizeof(root)));
	unsigned char data[1000];
	struct store_upload *up = NULL;
	uint64_t off;
	dfs_meta m;
	dfs_chunk_sum sum = {1, sizeof(data), 0};
	dfs_file_info fi;

	CHECK(st != NULL);
	if (!st)
		return;
	fill(data, sizeof(data), 3);
	sum.checksum = XXH3_64bits(data, sizeof(data));

	/* Wrong checksum: refused, nothing staged, commit finds nothing. */
	CHECK_EQ(store_upload_begin(st, "bob", "f", 1, 1, 1, sizeof(data), &up, &off), 0);
	CHECK_EQ(store_upload_write(up, 0, data, sizeof(data)), 0);
	CHECK_EQ(store_upload_finish(up, sum.checksum ^ 1), -EBADMSG);
	info_init(&fi, "f", 1, &sum, 1);
	CHECK_EQ(store_commit(st, "bob", &fi), -ENOENT);
	CHECK_EQ(store_lookup(st, "bob", "f", 1, &m), -ENOENT);

	/* Short upload is a bad checksum too. */
	CHECK_EQ(store_upload_begin(st, "bob", "f", 1, 1, 1, sizeof(data), &up, &off), 0);
	CHECK_EQ(off, 0);
	CHECK_EQ(store_upload_write(up, 0, data, 10), 0);
	CHECK_EQ(store_upload_finish(up, XXH3_64bits(data, 10)), -EBADMSG);

	/* Offsets must be sequential; data past size is refused. */
	CHECK_EQ(store_upload_begin(st, "bob", "f", 1, 1, 1, sizeof(data), &up, &off), 0);
	CHECK_EQ(store_upload_write(up, 10, data, 10), -EINVAL);
	CHECK_EQ(store_upload_write(up, 0, data, 500), 0);
	CHECK_EQ(store_upload_write(up, 0, data, 500), -EINVAL);
	CHECK_EQ(store_upload_write(up, 600, data + 500, 500), -EINVAL);
	CHECK_EQ(store_upload_write(up, 500, data, 501), -EFBIG);
	CHECK_EQ(store_upload_write(up, 500, data + 500, 500), 0);
	CHECK_EQ(store_upload_finish(up, sum.checksum), 0);
	CHECK_EQ(store_commit(st, "bob", &fi), 0);

	/* Bad arguments. */
	CHECK_EQ(store_upload_begin(st, "bob", "f", 1, 1, 0, 10, &up, &off), -EINVAL);
	CHECK(up == NULL);
	CHECK_EQ(store_upload_begin(st, "bob", "f", 1, 0, 1, 10, &up, &off), -EINVAL);
	CHECK_EQ(store_upload_begin(st, "bob", "f", 1, 1, 65, 10, &up, &off), -EINVAL);

	/* A second writer of the same chunk is turned away while the first holds it. */
	{
		struct store_upload *a = NULL, *b = NULL;

		CHECK_EQ(store_upload_begin(st, "bob", "g", 1, 1, 1, 10, &a, &off), 0);
		CHECK_EQ(store_upload_begin(st, "bob", "g", 1, 1, 1, 10, &b, &off), -EBUSY);
		CHECK(b == NULL);
		store_upload_abort(a);
		CHECK_EQ(store_upload_begin(st, "bob", "g", 1, 1, 1, 10, &b, &off), 0);
		store_upload_abort(b);
	}

	/* A chunk larger than the free space is refused before any data is sent. */
	{
		struct statvfs vfs;
		uint64_t big;

		CHECK_EQ(statvfs(root, &vfs), 0);
		big = (uint64_t)vfs.f_bavail * vfs.f_frsize + (1ULL << 30);
		if (big < (4ULL << 40)) {
			CHECK_EQ(store_upload_begin(st, "bob", "huge", 4, 1, 1, big, &up, &off),
				 -ENOSPC);
			CHECK(up == NULL);
			CHECK_EQ(count_tmp(root), 0);
		}
	}

	/* Commit of a missing chunk or of a wrong size. */
	sum.index = 2;
	CHECK_EQ(store_commit(st, "bob", &fi), -ENOENT);
	sum.index = 1;
	sum.size = 999;
	CHECK_EQ(store_commit(st, "bob", &fi), -ENOENT);
	sum.size = sizeof(data);
	fi.deleted = TRUE;
	CHECK_EQ(store_commit(st, "bob", &fi), -EINVAL);
	store_upload_abort(NULL);
	store_upload_suspend(NULL);
	store_close(st);
}

static void test_versions(void)
{
	char root[128];
	struct store *st = open_store(new_root(root, sizeof(root)));
	dfs_meta m;
	unsigned char b[8];
	size_t got;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_EQ(put_file(st, "carol", "v", 5, 5000, 50), 0);
	/* An older version arriving late is refused, and the current stays. */
	CHECK_EQ(put_file(st, "carol", "v", 3, 5000, 30), -ESTALE);
	CHECK_EQ(store_lookup(st, "carol", "v", 1, &m), 0);
	CHECK_EQ(m.current.ver, 5);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	CHECK_EQ(read_matches(st, "carol", "v", 5, 1, 5000, 50), 0);
	/* The same version again is fine. */
	CHECK_EQ(put_file(st, "carol", "v", 5, 5000, 50), 0);
	CHECK_EQ(store_lookup(st, "carol", "v", 1, &m), 0);
	CHECK_EQ(m.current.ver, 5);
	CHECK_EQ(m.previous.previous_len, 0);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);

	/* One overwrite: the old version stays readable as previous. */
	CHECK_EQ(put_file(st, "carol", "v", 6, 7000, 60), 0);
	CHECK_EQ(store_lookup(st, "carol", "v", 1, &m), 0);
	CHECK_EQ(m.current.ver, 6);
	CHECK_EQ(m.previous.previous_len, 1);
	if (m.previous.previous_len == 1)
		CHECK_EQ(m.previous.previous_val[0].ver, 5);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	CHECK_EQ(read_matches(st, "carol", "v", 5, 2, 5000, 50), 0);
	CHECK_EQ(read_matches(st, "carol", "v", 6, 2, 7000, 60), 0);
	/* Two overwrites: the oldest is gone. */
	CHECK_EQ(put_file(st, "carol", "v", 7, 100, 70), 0);
	CHECK_EQ(store_read(st, "carol", "v", 1, 5, 1, 0, b, 8, &got), -ESTALE);
	CHECK_EQ(read_matches(st, "carol", "v", 6, 1, 7000, 60), 0);
	CHECK_EQ(read_matches(st, "carol", "v", 7, 1, 100, 70), 0);
	{
		char path[512];

		chunk_path(path, sizeof(path), root, "carol", "v", 5, 1);
		CHECK(access(path, F_OK) != 0);
		chunk_path(path, sizeof(path), root, "carol", "v", 6, 1);
		CHECK(access(path, F_OK) == 0);
		/* Moved aside by the commit, the oldest chunk leaves the disk soon after. */
		CHECK(tmp_empties(root));
	}
	/* A chunk staged whole for a newer version reads back before its commit (a
	 * reader only asks for it once some server committed it); other chunks of
	 * that version are not held. */
	{
		unsigned char d[10];

		fill(d, 10, 1);
		CHECK_EQ(upload(st, "carol", "v", 9, 1, d, 10, 10), 0);
		CHECK_EQ(store_read(st, "carol", "v", 1, 9, 1, 0, b, 8, &got), 0);
		CHECK_EQ(got, 8);
		CHECK(memcmp(b, d, 8) == 0);
		CHECK_EQ(store_read(st, "carol", "v", 1, 9, 2, 0, b, 8, &got), -ENOENT);
		CHECK_EQ(store_abort(st, "carol", "v", 1, 9), 0);
		{
			char path[512];

			chunk_path(path, sizeof(path), root, "carol", "v", 9, 1);
			CHECK(access(path, F_OK) != 0);
		}
		/* Abort leaves a committed version that is not current alone. */
		CHECK_EQ(store_abort(st, "carol", "v", 1, 6), 0);
		CHECK_EQ(read_matches(st, "carol", "v", 6, 1, 7000, 60), 0);
		CHECK_EQ(read_matches(st, "carol", "v", 7, 1, 100, 70), 0);
		/* Abort of the current version (its put failed on other servers)
		 * makes the version it replaced current again. */
		CHECK_EQ(store_abort(st, "carol", "v", 1, 7), 0);
		CHECK_EQ(store_lookup(st, "carol", "v", 1, &m), 0);
		CHECK_EQ(m.current.ver, 6);
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
		CHECK_EQ(read_matches(st, "carol", "v", 6, 1, 7000, 60), 0);
		CHECK_EQ(store_read(st, "carol", "v", 1, 7, 1, 0, b, 8, &got), -ENOENT);
	}
	store_close(st);
}

static void test_delete(void)
{
	char root[128];
	struct store *st = open_store(new_root(root, sizeof(root)));
	dfs_meta m;
	unsigned char b[8];
	size_t got;
	char path[512];

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_EQ(put_file(st, "dave", "d", 3, 2000, 3), 0);
	CHECK_EQ(put_file(st, "dave", "d", 4, 2000, 4), 0);
	CHECK_EQ(store_delete(st, "dave", "d", 1, 2, NULL, 0), -ESTALE);
	CHECK_EQ(read_matches(st, "dave", "d", 4, 1, 2000, 4), 0);
	CHECK_EQ(store_delete(st, "dave", "d", 1, 5, NULL, 0), 0);
	CHECK_EQ(store_lookup(st, "dave", "d", 1, &m), 0);
	CHECK_EQ(m.current.deleted, 1);
	CHECK_EQ(m.current.ver, 5);
	CHECK_EQ(m.previous.previous_len, 0);
	CHECK(m.current.mtime_ns > 1600000000LL * 1000000000LL);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	CHECK_EQ(store_read(st, "dave", "d", 1, 4, 1, 0, b, 8, &got), -ESTALE);
	CHECK_EQ(store_read(st, "dave", "d", 1, 3, 1, 0, b, 8, &got), -ESTALE);
	chunk_path(path, sizeof(path), root, "dave", "d", 4, 1);
	CHECK(access(path, F_OK) != 0);
	chunk_path(path, sizeof(path), root, "dave", "d", 3, 2);
	CHECK(access(path, F_OK) != 0);
	/* A lagging commit of an older version cannot undo the delete. */
	CHECK_EQ(put_file(st, "dave", "d", 4, 2000, 4), -ESTALE);
	CHECK_EQ(put_file(st, "dave", "d", 5, 2000, 4), -ESTALE);
	/* Deleting again: no live file; an older delete does not move the tombstone back. */
	CHECK_EQ(store_delete(st, "dave", "d", 1, 5, NULL, 0), -ENOENT);
	CHECK_EQ(store_delete(st, "dave", "d", 1, 4, NULL, 0), -ENOENT);
	CHECK_EQ(store_lookup(st, "dave", "d", 1, &m), 0);
	CHECK_EQ(m.current.ver, 5);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	/* A newer put after the delete works. */
	CHECK_EQ(put_file(st, "dave", "d", 6, 900, 6), 0);
	CHECK_EQ(store_lookup(st, "dave", "d", 1, &m), 0);
	CHECK_EQ(m.current.ver, 6);
	CHECK_EQ(m.current.deleted, 0);
	CHECK_EQ(m.previous.previous_len, 0);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	CHECK_EQ(read_matches(st, "dave", "d", 6, 2, 900, 6), 0);
	/* Deleting a file never seen writes a tombstone so a lagging copy stays dead. */
	CHECK_EQ(store_delete(st, "dave", "ghost", 5, 10, NULL, 0), -ENOENT);
	CHECK_EQ(store_lookup(st, "dave", "ghost", 5, &m), 0);
	CHECK_EQ(m.current.deleted, 1);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	CHECK_EQ(put_file(st, "dave", "ghost", 9, 10, 1), -ESTALE);
	store_close(st);
}

static void test_list(void)
{
	char root[128];
	struct store *st = open_store(new_root(root, sizeof(root)));
	static dfs_file_info entries[DFS_LIST_MAX];
	static unsigned char seen[600];
	char cookie[65] = "", next[65], prev_hash[65] = "";
	unsigned count, total = 0, tomb = 0, calls = 0;
	bool eof = false;

	CHECK(st != NULL);
	if (!st)
		return;
	for (unsigned i = 0; i < 600; i++) {
		char name[32];

		snprintf(name, sizeof(name), "file-%u", i);
		CHECK_EQ(put_file(st, "erin", name, 1, 16, i), 0);
		if (i % 10 == 0)
			CHECK_EQ(store_delete(st, "erin", name, strlen(name), 2, NULL, 0), 0);
	}
	CHECK_EQ(put_file(st, "frank", "file-1", 1, 16, 1), 0);
	while (!eof && calls < 10) {
		CHECK_EQ(store_list(st, "erin", cookie, entries, DFS_LIST_MAX, &count, next, &eof),
			 0);
		calls++;
		for (unsigned i = 0; i < count; i++) {
			unsigned char md[32];
			char hex[65];
			unsigned idx;
			char name[32];
			size_t len = entries[i].name.dfs_name_len;

			EVP_Digest(entries[i].name.dfs_name_val, len, md, NULL, EVP_sha256(), NULL);
			for (int j = 0; j < 32; j++)
				snprintf(hex + 2 * j, 3, "%02x", md[j]);
			CHECK(strcmp(hex, prev_hash) > 0);
			memcpy(prev_hash, hex, sizeof(hex));
			memcpy(name, entries[i].name.dfs_name_val, len < 31 ? len : 31);
			name[len < 31 ? len : 31] = '\0';
			if (sscanf(name, "file-%u", &idx) == 1 && idx < 600) {
				seen[idx]++;
				CHECK_EQ(entries[i].deleted, idx % 10 == 0);
				if (entries[i].deleted)
					tomb++;
			} else {
				CHECK(0);
			}
			xdr_free((xdrproc_t)xdr_dfs_file_info, (char *)&entries[i]);
		}
		total += count;
		if (count > 0)
			CHECK_STR(next, prev_hash);
		memcpy(cookie, next, sizeof(next));
	}
	CHECK_EQ(total, 600);
	CHECK_EQ(tomb, 60);
	CHECK_EQ(calls, 3);
	for (unsigned i = 0; i < 600; i++)
		CHECK_EQ(seen[i], 1);
	CHECK_EQ(store_list(st, "frank", "", entries, DFS_LIST_MAX, &count, next, &eof), 0);
	CHECK_EQ(count, 1);
	CHECK(eof);
	if (count == 1)
		xdr_free((xdrproc_t)xdr_dfs_file_info, (char *)&entries[0]);
	CHECK_EQ(store_list(st, "nobody", "", entries, DFS_LIST_MAX, &count, next, &eof), 0);
	CHECK_EQ(count, 0);
	CHECK(eof);
	CHECK_EQ(store_list(st, "erin", "xyz", entries, DFS_LIST_MAX, &count, next, &eof), -EINVAL);
	store_close(st);
}

static void write_file(const char *path, const char *text);

/* The counts kept at every change equal a count of every record. */
static void check_kept_counts(struct store *st)
{
	struct store_stats kept, walked;

	CHECK_EQ(store_stats(st, &kept), 0);
	CHECK_EQ(store_stats_walk(st, &walked), 0);
	CHECK_EQ_U64(kept.files, walked.files);
	CHECK_EQ_U64(kept.chunks, walked.chunks);
	CHECK_EQ_U64(kept.bytes, walked.bytes);
	CHECK_EQ_U64(kept.logical_bytes, walked.logical_bytes);
	CHECK_EQ_U64(kept.chunks_need_repair, walked.chunks_need_repair);
}

static void test_verify_and_stats(void)
{
	char root[128], path[512];
	struct store *st = open_store(new_root(root, sizeof(root)));
	dfs_chunk_check checks[DFS_HELD_MAX];
	struct store_stats s;
	unsigned n = 0;
	int fd;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_EQ(put_file(st, "gina", "x", 1, 3000, 9), 0);
	CHECK_EQ(put_file(st, "gina", "y", 1, 10, 9), 0);
	CHECK_EQ(store_verify(st, "gina", "x", 1, 1, checks, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(checks[0].status, DFS_OK);
	CHECK_EQ(checks[1].status, DFS_OK);
	/* Flip one byte in chunk 2 on disk; remove chunk 1. */
	chunk_path(path, sizeof(path), root, "gina", "x", 1, 2);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	if (fd >= 0) {
		unsigned char c;

		CHECK_EQ(pread(fd, &c, 1, 1234), 1);
		c ^= 0x10;
		CHECK_EQ(pwrite(fd, &c, 1, 1234), 1);
		close(fd);
	}
	CHECK_EQ(store_verify(st, "gina", "x", 1, 1, checks, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(checks[0].index, 1);
	CHECK_EQ(checks[0].status, DFS_OK);
	CHECK_EQ(checks[1].index, 2);
	CHECK_EQ(checks[1].status, DFS_EBADMSG);
	chunk_path(path, sizeof(path), root, "gina", "x", 1, 1);
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(store_verify(st, "gina", "x", 1, 1, checks, &n), 0);
	CHECK_EQ(checks[0].status, DFS_ENOENT);
	CHECK_EQ(store_verify(st, "gina", "x", 1, 7, checks, &n), -ENOENT);
	CHECK_EQ(store_verify(st, "gina", "zz", 2, 1, checks, &n), -ENOENT);

	/* Stats: two live files of two chunks; one lacking list; a tombstone is not counted. */
	{
		dfs_chunk_sum sums[2];
		dfs_file_info fi;
		unsigned lacking[1] = {3};
		unsigned char d[10];

		for (unsigned k = 1; k <= 2; k++) {
			fill(d, 10, 9 + k);
			sums[k - 1].index = k;
			sums[k - 1].size = 10;
			sums[k - 1].checksum = XXH3_64bits(d, 10);
		}
		info_init(&fi, "y", 1, sums, 2);
		fi.size = 20;
		fi.lacking.lacking_val = lacking;
		fi.lacking.lacking_len = 1;
		CHECK_EQ(store_commit(st, "gina", &fi), 0);
		/* The same version with another file behind it (two writers that picked
		 * one number) is refused, and the record stays the first one's. */
		fi.digest = 77;
		CHECK_EQ(store_commit(st, "gina", &fi), -EEXIST);
		fi.digest = 0;
		fi.size = 21;
		CHECK_EQ(store_commit(st, "gina", &fi), -EEXIST);
		fi.size = 20;
		CHECK_EQ(store_commit(st, "gina", &fi), 0);
	}
	CHECK_EQ(put_file(st, "gina", "z", 1, 10, 9), 0);
	CHECK_EQ(store_delete(st, "gina", "z", 1, 2, NULL, 0), 0);
	CHECK_EQ(store_stats(st, &s), 0);
	CHECK_EQ(s.files, 2);
	CHECK_EQ(s.chunks, 4);
	CHECK_EQ(s.bytes, 6020);
	CHECK_EQ(s.chunks_need_repair, 2);
	CHECK(s.space_total > 0);
	CHECK(s.space_free <= s.space_total);
	check_kept_counts(st);

	/* The counts are kept per user: another user's files are not gina's. */
	CHECK_EQ(put_file(st, "hank", "x", 5, 100, 1), 0);
	CHECK_EQ(store_user_stats(st, "gina", &s), 0);
	CHECK_EQ(s.files, 2);
	CHECK_EQ(s.bytes, 6020);
	CHECK_EQ(store_user_stats(st, "hank", &s), 0);
	CHECK_EQ(s.files, 1);
	CHECK_EQ(s.chunks, 2);
	CHECK_EQ(s.bytes, 200);
	CHECK_EQ(s.chunks_need_repair, 0);
	CHECK_EQ(store_user_stats(st, "nobody", &s), 0);
	CHECK_EQ(s.files, 0);
	CHECK(s.space_total > 0);
	/* Overwrite, delete and re-create move them, and a restart counts the same. */
	CHECK_EQ(put_file(st, "hank", "x", 6, 300, 1), 0);
	CHECK_EQ(store_user_stats(st, "hank", &s), 0);
	CHECK_EQ(s.files, 1);
	CHECK_EQ(s.bytes, 600);
	CHECK_EQ(store_delete(st, "hank", "x", 1, 7, NULL, 0), 0);
	CHECK_EQ(store_user_stats(st, "hank", &s), 0);
	CHECK_EQ(s.files, 0);
	CHECK_EQ(s.bytes, 0);
	CHECK_EQ(put_file(st, "hank", "x", 8, 50, 1), 0);
	CHECK_EQ(store_stats(st, &s), 0);
	CHECK_EQ(s.files, 3);
	check_kept_counts(st);
	store_close(st);
	st = open_store(root);
	CHECK_EQ(store_stats(st, &s), 0);
	CHECK_EQ(s.files, 3);
	CHECK_EQ(s.bytes, 6120);
	check_kept_counts(st);

	/* The repair index: y lacks a server; it survives a restart. */
	{
		uint64_t files = 99;

		CHECK_EQ(store_lacking_files(st, "gina", &files), 0);
		CHECK_EQ(files, 1);
		CHECK_EQ(store_lacking_files(st, "nobody", &files), 0);
		CHECK_EQ(files, 0);
		/* The index is kept with the records: a restart still knows. */
		store_close(st);
		st = open_store(root);
		CHECK_EQ(store_lacking_files(st, "gina", &files), 0);
		CHECK_EQ(files, 1);
	}
	store_close(st);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_open(void)
{
	char root[128], path[512], err[256];
	struct store *st = NULL, *st2 = NULL;
	DIR *d;
	struct dirent *de;
	int n = 0;

	/* Fresh folder: FORMAT written. */
	new_root(root, sizeof(root));
	st = open_store(root);
	CHECK(st != NULL);
	/* One dfsd per folder. */
	CHECK_EQ(store_open(&st2, root, err, sizeof(err)), -EBUSY);
	CHECK(st2 == NULL);
	CHECK(strstr(err, "in use") != NULL);
	store_close(st);
	store_close(NULL);
	snprintf(path, sizeof(path), "%s/FORMAT", root);
	{
		FILE *f = fopen(path, "r");
		char line[64] = "";

		CHECK(f != NULL);
		if (f) {
			CHECK(fgets(line, sizeof(line), f) != NULL);
			fclose(f);
		}
		CHECK_STR(line, "dfs-data 2\n");
	}
	/* Leftover tmp files are removed at start. */
	snprintf(path, sizeof(path), "%s/tmp/leftover", root);
	write_file(path, "junk");
	snprintf(path, sizeof(path), "%s/tmp/x.deadbeef.0000000000000001.1.0000000000000004", root);
	write_file(path, "junk");
	st = open_store(root);
	CHECK(st != NULL);
	snprintf(path, sizeof(path), "%s/tmp", root);
	d = opendir(path);
	CHECK(d != NULL);
	while (d && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	CHECK_EQ(n, 0);
	store_close(st);

	/* A newer format is refused with a clear reason. */
	snprintf(path, sizeof(path), "%s/FORMAT", root);
	write_file(path, "dfs-data 3\n");
	st = NULL;
	CHECK_EQ(store_open(&st, root, err, sizeof(err)), -EPROTONOSUPPORT);
	CHECK(st == NULL);
	CHECK(strstr(err, "format 3, written by a newer dfsd; this dfsd reads format 2 only") !=
	      NULL);
	/* An older format must be converted first. */
	write_file(path, "dfs-data 1\n");
	CHECK_EQ(store_open(&st, root, err, sizeof(err)), -EPROTO);
	CHECK(st == NULL);
	CHECK(strstr(err, "convert it first with dfsd --upgrade-data") != NULL);
	write_file(path, "something else\n");
	CHECK(store_open(&st, root, err, sizeof(err)) < 0);
	CHECK(st == NULL);

	/* A non-empty folder that is not ours is refused and left alone. */
	new_root(root, sizeof(root));
	CHECK_EQ(mkdir(root, 0700), 0);
	snprintf(path, sizeof(path), "%s/precious.txt", root);
	write_file(path, "mine");
	CHECK_EQ(store_open(&st, root, err, sizeof(err)), -ENOTEMPTY);
	CHECK(st == NULL);
	CHECK(strstr(err, "not a dfs data folder") != NULL);
	snprintf(path, sizeof(path), "%s/FORMAT", root);
	CHECK(access(path, F_OK) != 0);

	/* Nested path with missing parents is created. */
	snprintf(root, sizeof(root), "%s/deep/er/data", base);
	st = open_store(root);
	CHECK(st != NULL);
	store_close(st);
}

static void test_resume(void)
{
	char root[128];
	struct store *st = open_store(new_root(root, sizeof(root)));
	static unsigned char data[3 * 1024 * 1024 + 17];
	struct store_upload *up = NULL;
	uint64_t off = 1;
	dfs_chunk_sum sum;
	dfs_file_info fi;
	size_t half = sizeof(data) / 2;

	CHECK(st != NULL);
	if (!st)
		return;
	fill(data, sizeof(data), 77);
	sum.index = 2;
	sum.size = sizeof(data);
	sum.checksum = XXH3_64bits(data, sizeof(data));
	CHECK_EQ(store_upload_begin(st, "hal", "big", 3, 7, 2, sizeof(data), &up, &off), 0);
	CHECK_EQ(off, 0);
	CHECK_EQ(store_upload_write(up, 0, data, half), 0);
	store_upload_suspend(up);
	/* A different size is a different upload. */
	CHECK_EQ(store_upload_begin(st, "hal", "big", 3, 7, 2, 10, &up, &off), 0);
	CHECK_EQ(off, 0);
	store_upload_abort(up);
	CHECK_EQ(store_upload_begin(st, "hal", "big", 3, 7, 2, sizeof(data), &up, &off), 0);
	CHECK_EQ(off, half);
	CHECK_EQ(store_upload_write(up, 0, data, 10), -EINVAL);
	CHECK_EQ(store_upload_write(up, half, data + half, sizeof(data) - half), 0);
	CHECK_EQ(store_upload_finish(up, sum.checksum), 0);
	info_init(&fi, "big", 7, &sum, 1);
	CHECK_EQ(store_commit(st, "hal", &fi), 0);
	{
		unsigned char *got = malloc(sizeof(data));
		size_t n = 0, total = 0;

		while (total < sizeof(data)) {
			CHECK_EQ(store_read(st, "hal", "big", 3, 7, 2, total, got + total,
					    DFS_BLOCK_MAX, &n),
				 0);
			if (n == 0)
				break;
			total += n;
		}
		CHECK_EQ(total, sizeof(data));
		CHECK(memcmp(got, data, sizeof(data)) == 0);
		free(got);
	}
	/* Resumed bytes are checked too: a corrupted staged file fails at finish. */
	CHECK_EQ(store_upload_begin(st, "hal", "big", 3, 8, 2, 100, &up, &off), 0);
	CHECK_EQ(store_upload_write(up, 0, data, 50), 0);
	store_upload_suspend(up);
	{
		char path[512];
		int fd;
		DIR *d;
		struct dirent *de;

		snprintf(path, sizeof(path), "%s/tmp", root);
		d = opendir(path);
		while (d && (de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/tmp/%s", root, de->d_name);
			fd = open(path, O_WRONLY);
			CHECK(fd >= 0);
			if (fd >= 0) {
				CHECK_EQ(pwrite(fd, "X", 1, 3), 1);
				close(fd);
			}
		}
		if (d)
			closedir(d);
	}
	CHECK_EQ(store_upload_begin(st, "hal", "big", 3, 8, 2, 100, &up, &off), 0);
	CHECK_EQ(off, 50);
	CHECK_EQ(store_upload_write(up, 50, data + 50, 50), 0);
	CHECK_EQ(store_upload_finish(up, XXH3_64bits(data, 100)), -EBADMSG);
	store_close(st);
}

static void test_housekeep(void)
{
	char root[128], path[512];
	struct store *st = open_store(new_root(root, sizeof(root)));
	struct store_upload *up = NULL, *held = NULL;
	static unsigned char junk[512 * 1024];
	long long before, after;
	uint64_t off;
	dfs_meta m;
	int rc;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_EQ(put_file(st, "ivan", "keep", 2, 1000, 1), 0);
	CHECK_EQ(put_file(st, "ivan", "gone", 1, 200000, 1), 0);
	CHECK_EQ(store_delete(st, "ivan", "gone", 4, 2, NULL, 0), 0);
	/* An orphan chunk file of a version meta no longer names. */
	chunk_path(path, sizeof(path), root, "ivan", "keep", 1, 1);
	{
		FILE *f = fopen(path, "w");

		CHECK(f != NULL);
		if (f) {
			CHECK_EQ(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
			fclose(f);
		}
	}
	/* A staged newer version and an abandoned tmp file. */
	fill(junk, sizeof(junk), 5);
	CHECK_EQ(upload(st, "ivan", "keep", 9, 1, junk, sizeof(junk), 65536), 0);
	CHECK_EQ(store_upload_begin(st, "ivan", "keep", 4, 10, 1, sizeof(junk), &up, &off), 0);
	CHECK_EQ(store_upload_write(up, 0, junk, sizeof(junk)), 0);
	store_upload_suspend(up);
	/* An upload in progress must survive. */
	CHECK_EQ(store_upload_begin(st, "ivan", "keep", 4, 11, 1, 10, &held, &off), 0);

	/* Generous limits: only the orphan below the current version goes. */
	rc = store_housekeep(st, 3600, 3600);
	CHECK_EQ(rc, 1);
	CHECK(access(path, F_OK) != 0);
	CHECK_EQ(store_lookup(st, "ivan", "gone", 4, &m), 0);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);

	before = disk_usage(root);
	rc = store_housekeep(st, 0, 0);
	/* The tmp file, the staged chunk of v9, the tombstone. */
	CHECK_EQ(rc, 3);
	after = disk_usage(root);
	CHECK(after < before);
	CHECK_EQ(store_lookup(st, "ivan", "gone", 4, &m), -ENOENT);
	CHECK_EQ(read_matches(st, "ivan", "keep", 2, 1, 1000, 1), 0);
	CHECK_EQ(read_matches(st, "ivan", "keep", 2, 2, 1000, 1), 0);
	CHECK_EQ(store_upload_write(held, 0, "0123456789", 10), 0);
	CHECK_EQ(store_upload_finish(held, XXH3_64bits("0123456789", 10)), 0);
	CHECK_EQ(store_housekeep(st, 3600, 3600), 0);
	store_close(st);
}

/* The retention rule: a superseded version goes after previous_ttl; a tombstone that
 * names servers missing it stays until that list is empty; the in-service marker. */
static void test_retention(void)
{
	char root[128], when[64];
	struct store *st = open_store(new_root(root, sizeof(root)));
	struct store_retention keep = {3600, 3600, 3600}, now = {3600, 0, 0};
	const unsigned three[] = {3};
	long long before, after;
	dfs_meta m;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_EQ(put_file(st, "ivan", "a", 1, 100000, 1), 0);
	CHECK_EQ(put_file(st, "ivan", "a", 2, 100000, 2), 0);
	CHECK_EQ(put_file(st, "ivan", "gone", 1, 1000, 1), 0);
	CHECK_EQ(store_delete(st, "ivan", "gone", 4, 2, three, 1), 0);

	/* Within the grace period both versions stay readable. */
	CHECK_EQ(store_housekeep_retention(st, &keep), 0);
	CHECK_EQ(read_matches(st, "ivan", "a", 1, 1, 100000, 1), 0);
	before = disk_usage(root);
	/* previous_ttl 0: version 1 goes, version 2 stays. */
	CHECK_EQ(store_housekeep_retention(st, &now), 2);
	after = disk_usage(root);
	CHECK(after + 150000 < before);
	CHECK_EQ(read_matches(st, "ivan", "a", 2, 1, 100000, 2), 0);
	CHECK_EQ(read_matches(st, "ivan", "a", 1, 1, 100000, 1), -ESTALE);
	CHECK_EQ(store_lookup(st, "ivan", "a", 1, &m), 0);
	CHECK_EQ(m.previous.previous_len, 0u);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);

	/* Server 3 missed the delete: the tombstone outlives its ttl. */
	CHECK_EQ(store_lookup(st, "ivan", "gone", 4, &m), 0);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	/* The same delete again with an empty list (repair told server 3). */
	CHECK_EQ(store_delete(st, "ivan", "gone", 4, 2, NULL, 0), -ENOENT);
	CHECK_EQ(store_lookup(st, "ivan", "gone", 4, &m), 0);
	CHECK_EQ(m.current.lacking.lacking_len, 0u);
	CHECK(m.current.deleted);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	CHECK_EQ(store_housekeep_retention(st, &now), 1);
	CHECK_EQ(store_lookup(st, "ivan", "gone", 4, &m), -ENOENT);

	/* The in-service marker: fresh passes; one from long ago is refused. */
	CHECK_EQ(store_check_in_service(st, 60, when, sizeof(when)), 0);
	{
		char path[256];
		struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};

		snprintf(path, sizeof(path), "%s/IN-SERVICE", root);
		CHECK_EQ(utimensat(AT_FDCWD, path, old, 0), 0);
		CHECK_EQ(store_check_in_service(st, 60, when, sizeof(when)), -ESTALE);
		CHECK(strstr(when, "2001-09-09") != NULL);
	}
	store_close(st);
}

static void test_names_and_users(void)
{
	char root[128];
	struct store *st = open_store(new_root(root, sizeof(root)));
	struct store_upload *up = NULL;
	uint64_t off;
	dfs_meta m;
	char longname[300];
	static const char *bad_users[] = {"", ".hidden", "a/b", "..", "x y", "a\n",
					  /* 65 bytes: one past the longest user name */
					  ("0123456789012345678901234567890123456789012345678901"
					   "2345678901234")};

	CHECK(st != NULL);
	if (!st)
		return;
	memset(longname, 'a', sizeof(longname));
	CHECK_EQ(store_upload_begin(st, "u", "..", 2, 1, 1, 1, &up, &off), -EINVAL);
	CHECK_EQ(store_upload_begin(st, "u", ".", 1, 1, 1, 1, &up, &off), -EINVAL);
	CHECK_EQ(store_upload_begin(st, "u", "a//b", 4, 1, 1, 1, &up, &off), -EINVAL);
	CHECK_EQ(store_upload_begin(st, "u", "/a", 2, 1, 1, 1, &up, &off), -EINVAL);
	CHECK_EQ(store_upload_begin(st, "u", "", 0, 1, 1, 1, &up, &off), -EINVAL);
	CHECK_EQ(store_upload_begin(st, "u", longname, 300, 1, 1, 1, &up, &off), -ENAMETOOLONG);
	CHECK_EQ(store_upload_begin(st, "u", longname, 256, 1, 1, 1, &up, &off), -ENAMETOOLONG);
	CHECK_EQ(store_upload_begin(st, "u", "a\0b", 3, 1, 1, 1, &up, &off), -EINVAL);
	CHECK_EQ(store_upload_begin(st, "u", "a\x7f", 2, 1, 1, 1, &up, &off), -EINVAL);
	CHECK_EQ(store_upload_begin(st, "u", "a\tb", 3, 1, 1, 1, &up, &off), -EINVAL);
	CHECK_EQ(store_upload_begin(st, "u", "\xff\xfe", 2, 1, 1, 1, &up, &off), -EINVAL);
	CHECK_EQ(store_upload_begin(st, "u", "\xc0\xaf", 2, 1, 1, 1, &up, &off), -EINVAL);
	CHECK_EQ(store_upload_begin(st, "u", "\xed\xa0\x80", 3, 1, 1, 1, &up, &off), -EINVAL);
	CHECK_EQ(store_upload_begin(st, "u", "\xe2\x82", 2, 1, 1, 1, &up, &off), -EINVAL);
	CHECK_EQ(store_lookup(st, "u", "a/", 2, &m), -EINVAL);
	CHECK_EQ(store_delete(st, "u", "..", 2, 1, NULL, 0), -EINVAL);
	for (size_t i = 0; i < sizeof(bad_users) / sizeof(bad_users[0]); i++)
		CHECK_EQ(store_lookup(st, bad_users[i], "f", 1, &m), -EINVAL);
	CHECK(up == NULL);
	/* Good unusual names. */
	CHECK_EQ(put_file(st, "u", "..a", 1, 5, 1), 0);
	CHECK_EQ(put_file(st, "u", "caf\xc3\xa9 \xf0\x9f\x98\x80.txt", 1, 5, 1), 0);
	{
		char n255[256];

		memset(n255, 'b', 255);
		n255[255] = '\0';
		CHECK_EQ(put_file(st, "u", n255, 1, 5, 1), 0);
	}
	/* Two users, same name: two files. */
	CHECK_EQ(put_file(st, "AnujS", "same", 1, 100, 1), 0);
	CHECK_EQ(put_file(st, "AnujK", "same", 3, 200, 2), 0);
	CHECK_EQ(read_matches(st, "AnujS", "same", 1, 1, 100, 1), 0);
	CHECK_EQ(read_matches(st, "AnujK", "same", 3, 1, 200, 2), 0);
	CHECK_EQ(store_delete(st, "AnujK", "same", 4, 4, NULL, 0), 0);
	CHECK_EQ(store_lookup(st, "AnujS", "same", 4, &m), 0);
	CHECK_EQ(m.current.deleted, 0);
	CHECK_EQ(m.current.ver, 1);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	store_close(st);
}

struct racer {
	struct store *st;
	unsigned first;
	int failures;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	for (unsigned v = r->first; v <= 40; v += 4) {
		int rc = put_file(r->st, "jo", "contended", v, 3000, v);

		if (rc != 0 && rc != -ESTALE) {
			fprintf(stderr, "racer: put v%u: %d\n", v, rc);
			r->failures++;
		}
	}
	return NULL;
}

static void test_concurrent(void)
{
	char root[128];
	struct store *st = open_store(new_root(root, sizeof(root)));
	pthread_t t[4];
	struct racer r[4];
	dfs_meta m;

	CHECK(st != NULL);
	if (!st)
		return;
	for (unsigned i = 0; i < 4; i++) {
		r[i].st = st;
		r[i].first = i + 1;
		r[i].failures = 0;
		CHECK_EQ(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(r[i].failures, 0);
	}
	CHECK_EQ(store_lookup(st, "jo", "contended", 9, &m), 0);
	CHECK_EQ(m.current.ver, 40);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	CHECK_EQ(read_matches(st, "jo", "contended", 40, 1, 3000, 40), 0);
	CHECK_EQ(read_matches(st, "jo", "contended", 40, 2, 3000, 40), 0);
	store_close(st);
}

/* Chunks 1 and 2 of ver (len bytes each from seed) stored whole in one step. */
static int put_whole(struct store *st, const char *name, uint64_t ver, size_t len, unsigned seed,
		     bool corrupt)
{
	unsigned char *data = malloc(2 * len + 1);
	dfs_chunk_sum sums[2];
	dfs_file_info fi;
	int rc;

	for (unsigned k = 1; k <= 2; k++) {
		fill(data + (k - 1) * len, len, seed + k);
		sums[k - 1] = (dfs_chunk_sum){k, len, XXH3_64bits(data + (k - 1) * len, len)};
	}
	if (corrupt)
		data[0] ^= 1;
	info_init(&fi, name, ver, sums, 2);
	fi.size = 2 * len;
	rc = store_put_whole(st, "ivy", &fi, data, 2 * len);
	free(data);
	return rc;
}

static void test_put_whole(void)
{
	char root[128], path[512];
	struct store *st;
	dfs_chunk_sum sums[2] = {{1, 10, 0}, {2, 10, 0}};
	dfs_file_info fi;
	unsigned char b[64];
	size_t got;

	st = open_store(new_root(root, sizeof(root)));
	CHECK_EQ(put_whole(st, "w", 1, 10, 5, false), 0);
	CHECK_EQ(read_matches(st, "ivy", "w", 1, 1, 10, 5), 0);
	CHECK_EQ(read_matches(st, "ivy", "w", 1, 2, 10, 5), 0);
	/* The same version again (a retry) and a newer one replace nothing wrongly. */
	CHECK_EQ(put_whole(st, "w", 1, 10, 5, false), 0);
	CHECK_EQ(put_whole(st, "w", 2, 20, 6, false), 0);
	CHECK_EQ(read_matches(st, "ivy", "w", 2, 2, 20, 6), 0);
	CHECK_EQ(read_matches(st, "ivy", "w", 1, 1, 10, 5), 0); /* previous kept */
	/* A corrupt chunk is refused and leaves the current version alone. */
	CHECK_EQ(put_whole(st, "w", 3, 20, 7, true), -EBADMSG);
	CHECK_EQ(store_read(st, "ivy", "w", 1, 3, 1, 0, b, 8, &got), -ENOENT);
	CHECK_EQ(read_matches(st, "ivy", "w", 2, 1, 20, 6), 0);
	/* Sizes that do not add up to the data, and an older version. */
	info_init(&fi, "w", 4, sums, 2);
	CHECK_EQ(store_put_whole(st, "ivy", &fi, b, 19), -EINVAL);
	CHECK_EQ(put_whole(st, "w", 1, 10, 5, false), -ESTALE);
	/* The chunks of a file stored whole are kept with its record: it has no folder. */
	chunk_path(path, sizeof(path), root, "ivy", "w", 2, 1);
	*strrchr(path, '/') = '\0';
	CHECK(access(path, F_OK) != 0);
	/* With inline_max 0 they are files. */
	store_set_inline_max(st, 0);
	CHECK_EQ(put_whole(st, "w", 5, 20, 8, false), 0);
	CHECK_EQ(read_matches(st, "ivy", "w", 5, 1, 20, 8), 0);
	chunk_path(path, sizeof(path), root, "ivy", "w", 5, 1);
	CHECK_EQ(access(path, F_OK), 0);
	/* The version kept as previous is still read from the records. */
	CHECK_EQ(read_matches(st, "ivy", "w", 2, 2, 20, 6), 0);
	store_close(st);
}

/* Bytes of disk the files in root/tmp hold (allocated, not their sizes). */
static uint64_t tmp_allocated(const char *root)
{
	char path[600];
	struct dirent *de;
	struct stat sb;
	uint64_t total = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/tmp", root);
	d = opendir(path);
	while (d && (de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/tmp/%s", root, de->d_name);
		if (de->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
			total += (uint64_t)sb.st_blocks * 512;
	}
	if (d)
		closedir(d);
	return total;
}

/* An upload that announces a large size holds at most 32 MiB of disk beyond the
 * bytes that have arrived, however large the size it announced. */
static void test_prealloc_bounded(void)
{
	char root[512];
	struct store *st = open_store(new_root(root, sizeof(root)));
	struct store_upload *up = NULL, *up2 = NULL;
	struct statvfs vfs;
	uint64_t off = 0, size, free_bytes;
	unsigned char *block = calloc(1, 1 << 20);

	CHECK(st != NULL && block != NULL);
	if (!st || !block || statvfs(root, &vfs) != 0)
		goto out;
	free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (free_bytes < (512ull << 20)) {
		printf("test_prealloc_bounded: skipped, only %" PRIu64 " bytes free\n", free_bytes);
		goto out;
	}
	size = free_bytes / 2 < (64ull << 30) ? free_bytes / 2 : (64ull << 30);
	CHECK_EQ(store_upload_begin(st, "pam", "big", 3, 1, 1, size, &up, &off), 0);
	CHECK(tmp_allocated(root) <= (33ull << 20));
	for (uint64_t o = 0; up && o < (8ull << 20); o += 1 << 20)
		CHECK_EQ(store_upload_write(up, o, block, 1 << 20), 0);
	CHECK(tmp_allocated(root) >= (8ull << 20));
	CHECK(tmp_allocated(root) <= (41ull << 20));
	/* More than the free space is refused before anything is allocated. */
	CHECK_EQ(store_upload_begin(st, "pam", "huge", 4, 1, 1, free_bytes * 2, &up2, &off),
		 -ENOSPC);
	store_upload_abort(up);
out:
	free(block);
	if (st)
		store_close(st);
}

/* The user's live files and the sum of their whole sizes, as kept. */
static void check_usage(struct store *st, const char *user, uint64_t files, uint64_t bytes)
{
	struct store_stats s;

	CHECK_EQ(store_user_stats(st, user, &s), 0);
	CHECK_EQ_U64(s.files, files);
	CHECK_EQ_U64(s.logical_bytes, bytes);
}

static void test_quota(void)
{
	char root[128];
	struct store *st = open_store(new_root(root, sizeof(root)));
	struct store_quota q = {.bytes = 100, .files = 2}, none = {0, 0};
	unsigned char b[8];
	dfs_meta m;
	size_t got;

	/* Exactly at the limit, then one byte (and one file) over. */
	CHECK_EQ(put_file_quota(st, "q", "a", 10, 20, 1, &q), 0);
	CHECK_EQ(put_file_quota(st, "q", "b", 10, 30, 2, &q), 0);
	check_usage(st, "q", 2, 100);
	CHECK_EQ(put_file_quota(st, "q", "c", 10, 1, 3, &q), -EDQUOT);
	CHECK_EQ(store_lookup(st, "q", "c", 1, &m), -ENOENT);
	CHECK_EQ(store_abort(st, "q", "c", 1, 10), 0);
	CHECK_EQ(store_read(st, "q", "c", 1, 10, 1, 0, b, 1, &got), -ENOENT);
	check_usage(st, "q", 2, 100);
	/* An overwrite is charged the difference; a smaller one always fits. */
	CHECK_EQ(put_file_quota(st, "q", "a", 11, 21, 4, &q), -EDQUOT);
	CHECK_EQ(store_abort(st, "q", "a", 1, 11), 0);
	CHECK_EQ(read_matches(st, "q", "a", 10, 1, 20, 1), 0);
	CHECK_EQ(put_file_quota(st, "q", "a", 12, 10, 5, &q), 0);
	check_usage(st, "q", 2, 80);
	CHECK_EQ(put_file_quota(st, "q", "a", 13, 20, 6, &q), 0);
	check_usage(st, "q", 2, 100);
	/* A delete gives the space and the file back at once. */
	CHECK_EQ(store_delete(st, "q", "b", 1, 14, NULL, 0), 0);
	check_usage(st, "q", 1, 40);
	CHECK_EQ(put_file_quota(st, "q", "c", 15, 30, 7, &q), 0);
	check_usage(st, "q", 2, 100);
	/* A lowered limit: growing is refused, shrinking still allowed. */
	q.bytes = 50;
	CHECK_EQ(put_file_quota(st, "q", "a", 16, 21, 8, &q), -EDQUOT);
	CHECK_EQ(store_abort(st, "q", "a", 1, 16), 0);
	CHECK_EQ(put_file_quota(st, "q", "a", 17, 5, 9, &q), 0);
	check_usage(st, "q", 2, 70);
	/* A limit on files only; no limit at all. */
	q = (struct store_quota){.bytes = 0, .files = 2};
	CHECK_EQ(put_file_quota(st, "q", "d", 18, 1, 10, &q), -EDQUOT);
	CHECK_EQ(store_abort(st, "q", "d", 1, 18), 0);
	CHECK_EQ(put_file_quota(st, "q", "a", 19, 500, 11, &q), 0);
	CHECK_EQ(put_file_quota(st, "q", "d", 20, 1000, 12, &none), 0);
	check_usage(st, "q", 3, 1000 + 60 + 2000);
	/* Another user's limit is theirs alone. */
	CHECK_EQ(put_file_quota(st, "r", "a", 21, 10, 13, &q), 0);
	check_usage(st, "r", 1, 20);

	/* Early refusals at the start of an upload. */
	q = (struct store_quota){.bytes = 10, .files = 0};
	CHECK_EQ(store_quota_precheck(st, "r", &q, 11), -EDQUOT);
	CHECK_EQ(store_quota_precheck(st, "r", &q, 10), 0);
	q = (struct store_quota){.bytes = 20, .files = 1};
	CHECK_EQ(store_quota_precheck(st, "r", &q, 1), -EDQUOT);
	CHECK_EQ(store_quota_precheck(st, "r", &q, 0), 0);
	CHECK_EQ(store_quota_precheck(st, "r", &none, 1ull << 50), 0);
	CHECK_EQ(store_quota_precheck(st, "r", NULL, 1ull << 50), 0);

	/* An aborted version that was committed here goes back to the one it
	 * replaced, or to a tombstone when it replaced none. */
	CHECK_EQ(put_file(st, "s", "x", 30, 10, 14), 0);
	CHECK_EQ(put_file(st, "s", "x", 31, 15, 15), 0);
	check_usage(st, "s", 1, 30);
	CHECK_EQ(store_abort(st, "s", "x", 1, 31), 0);
	check_usage(st, "s", 1, 20);
	CHECK_EQ(store_lookup(st, "s", "x", 1, &m), 0);
	CHECK_EQ_U64(m.current.ver, 30);
	CHECK(!m.current.deleted);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	CHECK_EQ(read_matches(st, "s", "x", 30, 2, 10, 14), 0);
	CHECK_EQ(store_read(st, "s", "x", 1, 31, 1, 0, b, 1, &got), -ENOENT);
	CHECK_EQ(put_file(st, "s", "y", 32, 10, 16), 0);
	CHECK_EQ(store_abort(st, "s", "y", 1, 32), 0);
	check_usage(st, "s", 1, 20);
	CHECK_EQ(store_lookup(st, "s", "y", 1, &m), 0);
	CHECK_EQ_U64(m.current.ver, 32);
	CHECK(m.current.deleted);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	/* Aborting an older version leaves the current one alone. */
	CHECK_EQ(store_abort(st, "s", "x", 1, 29), 0);
	check_usage(st, "s", 1, 20);
	check_kept_counts(st);
	store_close(st);
}

/* store_put_whole_quota: refused whole, nothing left behind. */
static void test_put_whole_quota(void)
{
	char root[128];
	struct store *st = open_store(new_root(root, sizeof(root)));
	struct store_quota q = {.bytes = 30, .files = 0};
	unsigned char data[40], b[4];
	dfs_chunk_sum sums[2];
	dfs_file_info fi;
	size_t got;

	fill(data, sizeof(data), 3);
	for (unsigned k = 0; k < 2; k++)
		sums[k] = (dfs_chunk_sum){k + 1, 10, XXH3_64bits(data + 10 * k, 10)};
	info_init(&fi, "p", 40, sums, 2);
	fi.size = 20;
	CHECK_EQ(store_put_whole_quota(st, "pw", &fi, data, 20, &q), 0);
	check_usage(st, "pw", 1, 20);
	info_init(&fi, "o", 41, sums, 2);
	fi.size = 20;
	CHECK_EQ(store_put_whole_quota(st, "pw", &fi, data, 20, &q), -EDQUOT);
	CHECK_EQ(store_read(st, "pw", "o", 1, 41, 1, 0, b, 1, &got), -ENOENT);
	fi.size = 31;
	CHECK_EQ(store_put_whole_quota(st, "pw", &fi, data, 20, &q), -EDQUOT);
	check_usage(st, "pw", 1, 20);
	check_kept_counts(st);
	store_close(st);
}

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/test_store.XXXXXX");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_roundtrip();
	test_upload_errors();
	test_versions();
	test_delete();
	test_list();
	test_verify_and_stats();
	test_open();
	test_resume();
	test_housekeep();
	test_retention();
	test_names_and_users();
	test_concurrent();
	test_put_whole();
	test_prealloc_bounded();
	test_quota();
	test_put_whole_quota();
	rm_tree(base);
	return CHECK_DONE();
}

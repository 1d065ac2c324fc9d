/* test_store_names.c: listings in name order from the store's name index, on real
 * files in a temporary folder: prefixes, pages, tombstones, names too long for an
 * index key, the index rebuilt after an exit that was not clean, the counts
 * kept across a clean stop, and the users with records (for recovery). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include <openssl/evp.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "check.h"
#include "store.h"

#define USER "ivy"

static char base[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static struct store *open_store(const char *root)
{
	struct store *st = NULL;
	char err[256];

	if (store_open(&st, root, err, sizeof(err)) != 0)
		fprintf(stderr, "store_open(%s): %s\n", root, err);
	return st;
}

/* Stores a one-chunk file named name (len bytes of name) at version ver. */
static int put_name(struct store *st, const char *user, const char *name, size_t len, uint64_t ver)
{
	char data[8] = "content";
	dfs_chunk_sum sum = {1, sizeof(data), XXH3_64bits(data, sizeof(data))};
	dfs_file_info fi;

	memset(&fi, 0, sizeof(fi));
	fi.name.dfs_name_val = (char *)name;
	fi.name.dfs_name_len = (u_int)len;
	fi.ver = ver;
	fi.nchunks = 4;
	fi.size = sizeof(data) * 4;
	fi.chunks.chunks_val = &sum;
	fi.chunks.chunks_len = 1;
	return store_put_whole(st, user, &fi, data, sizeof(data));
}

/* Lists everything under prefix in pages of `page` and writes the names, one a line
 * (tombstones marked with a trailing '-'), into out. Returns the pages read or -1. */
static int list_all(struct store *st, const char *user, const char *prefix, unsigned page,
		    char *out, size_t outlen)
{
	dfs_file_info e[DFS_LIST_MAX];
	char after[DFS_NAME_MAX];
	size_t after_len = 0, used = 0;
	unsigned count;
	bool eof = false;
	int pages = 0;

	out[0] = '\0';
	while (!eof) {
		if (store_list_names(st, user, prefix, strlen(prefix), after, after_len, e, page,
				     &count, &eof) != 0 ||
		    ++pages > 10000)
			return -1;
		for (unsigned i = 0; i < count; i++) {
			int n = snprintf(out + used, outlen - used, "%.*s%s\n",
					 (int)e[i].name.dfs_name_len, e[i].name.dfs_name_val,
					 e[i].deleted ? "-" : "");

			if (n < 0 || (size_t)n >= outlen - used)
				return -1;
			used += (size_t)n;
			after_len = e[i].name.dfs_name_len;
			memcpy(after, e[i].name.dfs_name_val, after_len);
			xdr_free((xdrproc_t)xdr_dfs_file_info, (char *)&e[i]);
		}
	}
	return pages;
}

static void test_order_prefix_pages(const char *root)
{
	static const char *names[] = {
	    "b/2", "a", "b/1", "b/10", "ba", "c d", "b", "\xc3\xa9t\xc3\xa9", "b/1/x"};
	struct store *st = open_store(root);
	char out[8192];

	CHECK(st != NULL);
	if (st == NULL)
		return;
	for (unsigned i = 0; i < sizeof(names) / sizeof(*names); i++)
		CHECK_EQ(put_name(st, USER, names[i], strlen(names[i]), 10 + i), 0);
	CHECK_EQ(put_name(st, "other", "b/secret", 8, 5), 0);
	CHECK_EQ(store_delete(st, USER, "ba", 2, 100, NULL, 0), 0);
	CHECK_EQ(store_delete(st, USER, "never", 5, 101, NULL, 0), -ENOENT);

	CHECK_EQ(list_all(st, USER, "", 256, out, sizeof(out)), 1);
	CHECK_STR(out, "a\nb\nb/1\nb/1/x\nb/10\nb/2\nba-\nc d\nnever-\n\xc3\xa9t\xc3\xa9\n");
	CHECK_EQ(list_all(st, USER, "b/", 256, out, sizeof(out)), 1);
	CHECK_STR(out, "b/1\nb/1/x\nb/10\nb/2\n");
	/* Pages of one: every name once, in order, the last page saying eof. */
	CHECK_EQ(list_all(st, USER, "b/", 1, out, sizeof(out)), 4);
	CHECK_STR(out, "b/1\nb/1/x\nb/10\nb/2\n");
	CHECK_EQ(list_all(st, USER, "zz", 4, out, sizeof(out)), 1);
	CHECK_STR(out, "");
	CHECK_EQ(list_all(st, "other", "", 4, out, sizeof(out)), 1);
	CHECK_STR(out, "b/secret\n");
	CHECK_EQ(list_all(st, "nobody", "", 4, out, sizeof(out)), 1);
	CHECK_STR(out, "");
	{
		dfs_file_info e[1];
		unsigned count = 9;
		bool eof;

		CHECK_EQ(store_list_names(st, USER, "", 0, NULL, 0, e, 0, &count, &eof), -EINVAL);
		CHECK_EQ(store_list_names(st, "../x", "", 0, NULL, 0, e, 1, &count, &eof), -EINVAL);
	}
	store_close(st);
}

/* Names that share a start longer than an index key can hold come back in name order. */
static void test_long_names(const char *root)
{
	struct store *st = open_store(root);
	char *names[6], *out = malloc(64 * 1024), *want = malloc(64 * 1024);
	const char tails[6] = {'m', 'a', 'z', 'b', 'q', 'c'};
	const char sorted[6] = {'a', 'b', 'c', 'm', 'q', 'z'};
	size_t used = 0;

	CHECK(st != NULL && out != NULL && want != NULL);
	if (st == NULL || out == NULL || want == NULL)
		goto done;
	for (int i = 0; i < 6; i++) {
		names[i] = malloc(3001);
		memset(names[i], 'n', 3000);
		for (int j = 200; j < 3000; j += 200)
			names[i][j] = '/'; /* a name's parts are at most 255 bytes */
		names[i][2999] = tails[i];
		names[i][3000] = '\0';
		CHECK_EQ(put_name(st, USER, names[i], 3000, 20 + (uint64_t)i), 0);
	}
	CHECK_EQ(put_name(st, USER, "n", 1, 40), 0);
	CHECK_EQ(put_name(st, USER, "o", 1, 41), 0);
	used += (size_t)snprintf(want, 64 * 1024, "n\n");
	for (int i = 0; i < 6; i++)
		used += (size_t)snprintf(want + used, 64 * 1024 - used, "%.2999s%c\n", names[0],
					 sorted[i]);
	snprintf(want + used, 64 * 1024 - used, "o\n");
	CHECK_EQ(list_all(st, USER, "", 256, out, 64 * 1024), 1);
	CHECK_STR(out, want);
	/* Resuming inside the group, one name at a time. */
	CHECK_EQ(list_all(st, USER, "", 1, out, 64 * 1024), 8);
	CHECK_STR(out, want);
	CHECK_EQ(list_all(st, USER, "nnnn", 2, out, 64 * 1024), 3);
	want[strlen(want) - 2] = '\0'; /* without "o" */
	CHECK_STR(out, want + 2);      /* nor "n" */
	store_close(st);
	for (int i = 0; i < 6; i++)
		free(names[i]);
done:
	free(out);
	free(want);
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	size_t n;
	int rc = in && out ? 0 : -1;

	while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = -1;
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	return rc;
}

/* Copies the index files names/{data.mdb,CLEAN} of root from one place to another. */
static int copy_index(const char *from_dir, const char *to_dir)
{
	static const char *files[] = {"data.mdb", "CLEAN"};
	char a[256], b[256];

	for (int i = 0; i < 2; i++) {
		snprintf(a, sizeof(a), "%s/%s", from_dir, files[i]);
		snprintf(b, sizeof(b), "%s/%s", to_dir, files[i]);
		if (copy_file(a, b) < 0)
			return -1;
	}
	return 0;
}

/* The index is trusted after a clean close, and rebuilt from the records when the
 * last exit was not clean or a dfsd ran on the folder since. */
static void test_rebuild(const char *root)
{
	char names[256], saved[256], out[8192];
	struct store *st = open_store(root);

	CHECK(st != NULL);
	if (st == NULL)
		return;
	CHECK_EQ(put_name(st, USER, "x/1", 3, 50), 0);
	store_close(st);
	snprintf(names, sizeof(names), "%s/names", root);
	snprintf(saved, sizeof(saved), "%s.saved", root);
	CHECK_EQ(mkdir(saved, 0700), 0);
	CHECK_EQ(copy_index(names, saved), 0);
	/* A clean close: trusted as it is. */
	st = open_store(root);
	CHECK(st != NULL);
	if (st == NULL)
		return;
	CHECK_EQ(list_all(st, USER, "x/", 256, out, sizeof(out)), 1);
	CHECK_STR(out, "x/1\n");
	CHECK_EQ(put_name(st, USER, "x/2", 3, 51), 0);
	store_close(st);
	/* An index older than the records, cleanly closed back then: another dfsd has
	 * been in service since, so it is rebuilt rather than trusted. */
	CHECK_EQ(copy_index(saved, names), 0);
	st = open_store(root);
	CHECK(st != NULL);
	if (st == NULL)
		return;
	CHECK_EQ(list_all(st, USER, "x/", 256, out, sizeof(out)), 1);
	CHECK_STR(out, "x/1\nx/2\n");
	store_close(st);
	/* The index lost, as after a crash that left it unreadable. */
	nftw(names, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	st = open_store(root);
	CHECK(st != NULL);
	if (st == NULL)
		return;
	CHECK_EQ(list_all(st, USER, "", 256, out, sizeof(out)), 1);
	CHECK_STR(out, "x/1\nx/2\n");
	store_close(st);
	nftw(saved, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Removes the record file of USER's file "f2" from root, behind the store's back. */
static int remove_some_record(const char *root)
{
	unsigned char md[32], key[128];
	char hex[65], path[256];
	size_t ulen = strlen(USER);
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = {ulen + 1 + 64, key};
	int rc;

	if (!EVP_Digest("f2", 2, md, NULL, EVP_sha256(), NULL))
		return -1;
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	memcpy(key, USER, ulen + 1);
	memcpy(key + ulen + 1, hex, 64);
	snprintf(path, sizeof(path), "%s/records", root);
	rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(env, 4);
	if (rc == 0)
		rc = mdb_env_set_mapsize(env, (size_t)1 << 40);
	if (rc == 0)
		rc = mdb_env_open(env, path, 0, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "records", 0, &dbi);
	if (rc == 0)
		rc = mdb_del(txn, dbi, &k, NULL);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc == 0 ? 0 : -1;
}

/* Whether the kept counts equal a count of every record, in all and for two users. */
static bool counts_true(struct store *st)
{
	struct store_stats kept, walked, a, b;

	if (store_stats(st, &kept) != 0 || store_stats_walk(st, &walked) != 0 ||
	    store_user_stats(st, USER, &a) != 0 || store_user_stats(st, "other", &b) != 0)
		return false;
	return kept.files == walked.files && kept.chunks == walked.chunks &&
	       kept.bytes == walked.bytes && kept.logical_bytes == walked.logical_bytes &&
	       kept.chunks_need_repair == walked.chunks_need_repair &&
	       a.files + b.files == kept.files && a.bytes + b.bytes == kept.bytes;
}

/* The counts saved at a clean stop are those loaded at the next start, and a start
 * after any other stop counts again; either way they equal the records. */
static void test_counts_kept(const char *root)
{
	struct store_stats before, after, user;
	char path[256];
	struct store *st = open_store(root);
	const unsigned lacking[1] = {3};

	CHECK(st != NULL);
	if (st == NULL)
		return;
	for (unsigned i = 0; i < 20; i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%u", i);
		CHECK_EQ(put_name(st, i % 3 ? USER : "other", name, strlen(name), 100 + i), 0);
	}
	CHECK_EQ(store_delete(st, USER, "f1", 2, 200, lacking, 1), 0);
	CHECK(counts_true(st));
	CHECK_EQ(store_stats(st, &before), 0);
	CHECK_EQ(before.files, 19);
	CHECK_EQ(before.chunks_need_repair, 1);
	store_close(st);

	st = open_store(root);
	CHECK(st != NULL);
	if (st == NULL)
		return;
	CHECK_EQ(store_stats(st, &after), 0);
	CHECK_EQ(after.files, before.files);
	CHECK_EQ(after.bytes, before.bytes);
	CHECK_EQ(after.logical_bytes, before.logical_bytes);
	CHECK_EQ(after.chunks_need_repair, before.chunks_need_repair);
	CHECK_EQ(store_user_stats(st, "other", &user), 0);
	CHECK_EQ(user.files, 7);
	CHECK(counts_true(st));
	/* Changes after a clean start are counted on top of the loaded counts. */
	CHECK_EQ(put_name(st, USER, "g", 1, 300), 0);
	CHECK_EQ(store_delete(st, "other", "f0", 2, 301, NULL, 0), 0);
	CHECK(counts_true(st));
	store_close(st);

	/* A stop that was not clean: counted again from the records. */
	snprintf(path, sizeof(path), "%s/names/CLEAN", root);
	CHECK_EQ(unlink(path), 0);
	st = open_store(root);
	CHECK(st != NULL);
	if (st == NULL)
		return;
	CHECK_EQ(store_stats(st, &after), 0);
	CHECK_EQ(after.files, before.files);
	CHECK(counts_true(st));
	store_close(st);

	/* A clean start reads no record: a record removed behind the store's back is
	 * still counted (which is why a folder edited by hand needs names/ removed). */
	CHECK_EQ(remove_some_record(root), 0);
	st = open_store(root);
	CHECK(st != NULL);
	if (st == NULL)
		return;
	CHECK_EQ(store_stats(st, &after), 0);
	CHECK_EQ(after.files, before.files);
	CHECK_EQ(store_stats_walk(st, &user), 0);
	CHECK_EQ(user.files, before.files - 1);
	store_close(st);
}

/* Lists every user after `after` in pages of `page`, one a line; the pages read or -1. */
static int users_all(struct store *st, const char *after, unsigned page, char *out, size_t outlen)
{
	char names[DFS_LIST_MAX][65], from[65];
	size_t used = 0;
	unsigned count;
	bool eof = false;
	int pages = 0;

	snprintf(from, sizeof(from), "%s", after);
	out[0] = '\0';
	while (!eof) {
		if (store_list_users(st, from, names, page, &count, &eof) != 0 || ++pages > 100)
			return -1;
		for (unsigned i = 0; i < count; i++) {
			int n = snprintf(out + used, outlen - used, "%s\n", names[i]);

			if (n < 0 || (size_t)n >= outlen - used)
				return -1;
			used += (size_t)n;
			snprintf(from, sizeof(from), "%s", names[i]);
		}
	}
	return pages;
}

static void test_users(const char *root)
{
	static const char *users[] = {"bob", "al", "al.b", "zed", "al-x"};
	struct store *st = open_store(root);
	char out[512], names[1][65];
	unsigned count;
	bool eof;

	CHECK(st != NULL);
	if (st == NULL)
		return;
	CHECK_EQ(users_all(st, "", 4, out, sizeof(out)), 1);
	CHECK_STR(out, "");
	for (unsigned i = 0; i < sizeof(users) / sizeof(*users); i++) {
		CHECK_EQ(put_name(st, users[i], "f1", 2, 10), 0);
		CHECK_EQ(put_name(st, users[i], "f2/x", 4, 11), 0);
	}
	/* A user whose only record is a delete still has a record to recover. */
	CHECK_EQ(store_delete(st, "eve", "gone", 4, 12, NULL, 0), -ENOENT);
	CHECK_EQ(users_all(st, "", 256, out, sizeof(out)), 1);
	CHECK_STR(out, "al\nal-x\nal.b\nbob\neve\nzed\n");
	/* Pages of two, and a start after a given user: each user once. */
	CHECK(users_all(st, "", 2, out, sizeof(out)) >= 3);
	CHECK_STR(out, "al\nal-x\nal.b\nbob\neve\nzed\n");
	CHECK_EQ(users_all(st, "al", 256, out, sizeof(out)), 1);
	CHECK_STR(out, "al-x\nal.b\nbob\neve\nzed\n");
	CHECK_EQ(users_all(st, "bz", 1, out, sizeof(out)) > 0, 1);
	CHECK_STR(out, "eve\nzed\n");
	CHECK_EQ(users_all(st, "zed", 1, out, sizeof(out)), 1);
	CHECK_STR(out, "");
	CHECK_EQ(store_list_users(st, "", names, 0, &count, &eof), -EINVAL);
	store_close(st);
}

int main(void)
{
	char root[128];

	snprintf(base, sizeof(base), "/tmp/test_store_names.XXXXXX");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(root, sizeof(root), "%s/a", base);
	test_order_prefix_pages(root);
	snprintf(root, sizeof(root), "%s/b", base);
	test_long_names(root);
	snprintf(root, sizeof(root), "%s/c", base);
	test_rebuild(root);
	snprintf(root, sizeof(root), "%s/d", base);
	test_counts_kept(root);
	snprintf(root, sizeof(root), "%s/e", base);
	test_users(root);
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return CHECK_DONE();
}

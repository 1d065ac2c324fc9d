/* test_upload_blocks.c: chunk uploads fed with lent block buffers
 * (store_upload_write_block), on real files in a temporary folder: the bytes
 * that reach the chunk, the buffers given back, a suspend while blocks are held
 * back, and many uploads at once, more than the server's share of buffers. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "check.h"
#include "store.h"

#define USER "uma"
#define MiB  (1024u * 1024u)

static char base[64];
static bool direct_here; /* the temporary folder's file system takes O_DIRECT */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static struct store *open_store(const char *name)
{
	struct store *st = NULL;
	char root[128], err[256];

	snprintf(root, sizeof(root), "%s/%s", base, name);
	if (store_open(&st, root, err, sizeof(err)) != 0)
		fprintf(stderr, "store_open(%s): %s\n", root, err);
	return st;
}

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 131 + seed * 17 + (i >> 12)) & 0xff);
}

static void *block_buffer(void)
{
	return aligned_alloc(4096, DFS_BLOCK_MAX);
}

/* Sends data[from, to) in blocks of at most DFS_BLOCK_MAX through *buf, as a
 * connection does; counts in *swapped the calls that gave back another buffer. */
static int send_blocks(struct store_upload *up, void **buf, const unsigned char *data, size_t from,
		       size_t to, unsigned *swapped)
{
	for (size_t off = from; off < to;) {
		size_t len = to - off < DFS_BLOCK_MAX ? to - off : DFS_BLOCK_MAX;
		void *lent = *buf;
		int rc;

		memcpy(*buf, data + off, len);
		rc = store_upload_write_block(up, off, buf, len);
		if (rc < 0)
			return rc;
		if (*buf == NULL || ((uintptr_t)*buf % 4096) != 0)
			return -EFAULT;
		if (*buf != lent)
			(*swapped)++;
		off += len;
	}
	return 0;
}

/* Commits chunk 1 of ver (size bytes, sum) and reads it back into got. */
static int commit_and_read(struct store *st, const char *name, uint64_t ver, size_t size,
			   uint64_t sum, unsigned char *got)
{
	dfs_chunk_sum cs = {.index = 1, .size = size, .checksum = sum};
	dfs_file_info fi;
	size_t total = 0, n = 0;
	int rc;

	memset(&fi, 0, sizeof(fi));
	fi.name.dfs_name_val = (char *)name;
	fi.name.dfs_name_len = (u_int)strlen(name);
	fi.ver = ver;
	fi.nchunks = 4;
	fi.mtime_ns = 1;
	fi.chunks.chunks_val = &cs;
	fi.chunks.chunks_len = 1;
	rc = store_commit(st, USER, &fi);
	while (rc == 0 && total < size) {
		rc = store_read(st, USER, name, strlen(name), ver, 1, total, got + total,
				DFS_BLOCK_MAX, &n);
		if (rc == 0 && n == 0)
			break;
		total += n;
	}
	return rc < 0 ? rc : (int)(total == size ? 0 : -EIO);
}

/* Whole blocks and a last part block reach the chunk as sent; with O_DIRECT the
 * upload holds blocks back and gives the caller other buffers, and none leak. */
static void test_bytes_arrive(void)
{
	struct store *st = open_store("arrive");
	size_t size = 9 * MiB + MiB / 2 + 4096 * 3 + 5;
	unsigned char *data = malloc(size), *got = malloc(size);
	struct store_upload *up = NULL;
	void *buf = block_buffer();
	unsigned swapped = 0;
	uint64_t off = 1;

	CHECK(st != NULL && data != NULL && got != NULL && buf != NULL);
	if (!st || !data || !got || !buf)
		goto out;
	fill(data, size, 3);
	CHECK_EQ(store_upload_begin(st, USER, "a", 1, 5, 1, size, &up, &off), 0);
	CHECK_EQ(off, 0);
	CHECK_EQ(send_blocks(up, &buf, data, 0, size, &swapped), 0);
	/* A block must follow the bytes received, held ones included. */
	CHECK_EQ(store_upload_write_block(up, 0, &buf, 4096), -EINVAL);
	CHECK_EQ(store_upload_finish(up, XXH3_64bits(data, size)), 0);
	if (direct_here)
		CHECK(swapped >= 6);
	memset(got, 0, size);
	CHECK_EQ(commit_and_read(st, "a", 5, size, XXH3_64bits(data, size), got), 0);
	CHECK(memcmp(got, data, size) == 0);
	/* A wrong checksum at the end still fails, held blocks or not. */
	CHECK_EQ(store_upload_begin(st, USER, "b", 1, 6, 1, 6 * MiB, &up, &off), 0);
	CHECK_EQ(send_blocks(up, &buf, data, 0, 6 * MiB, &swapped), 0);
	CHECK_EQ(store_upload_finish(up, XXH3_64bits(data, 6 * MiB) ^ 1), -EBADMSG);
out:
	free(buf);
	free(data);
	free(got);
	if (st)
		store_close(st);
}

/* An upload suspended while it holds blocks back writes them first: the resumed
 * upload starts after every byte handed over, and the chunk comes out whole. */
static void test_suspend_writes_held(void)
{
	struct store *st = open_store("suspend");
	size_t size = 12 * MiB, cut = 6 * MiB;
	unsigned char *data = malloc(size), *got = malloc(size);
	struct store_upload *up = NULL;
	void *buf = block_buffer();
	unsigned swapped = 0;
	uint64_t off = 1;

	CHECK(st != NULL && data != NULL && got != NULL && buf != NULL);
	if (!st || !data || !got || !buf)
		goto out;
	fill(data, size, 9);
	CHECK_EQ(store_upload_begin(st, USER, "s", 1, 2, 1, size, &up, &off), 0);
	CHECK_EQ(send_blocks(up, &buf, data, 0, cut, &swapped), 0);
	store_upload_suspend(up);
	CHECK_EQ(store_upload_begin(st, USER, "s", 1, 2, 1, size, &up, &off), 0);
	CHECK_EQ(off, cut);
	CHECK_EQ(send_blocks(up, &buf, data, cut, size, &swapped), 0);
	CHECK_EQ(store_upload_finish(up, XXH3_64bits(data, size)), 0);
	CHECK_EQ(commit_and_read(st, "s", 2, size, XXH3_64bits(data, size), got), 0);
	CHECK(memcmp(got, data, size) == 0);
out:
	free(buf);
	free(data);
	free(got);
	if (st)
		store_close(st);
}

/* More uploads at once than the server has spare buffers for: those without one
 * write each block as it comes, and every chunk comes out whole. */
static void test_many_uploads(void)
{
	enum { UPLOADS = 20 };
	struct store *st = open_store("many");
	size_t size = 5 * MiB;
	unsigned char *data = malloc(size), *got = malloc(size);
	struct store_upload *ups[UPLOADS];
	void *bufs[UPLOADS];
	unsigned swapped = 0;
	uint64_t off;
	char name[8];

	CHECK(st != NULL && data != NULL && got != NULL);
	if (!st || !data || !got)
		goto out;
	fill(data, size, 21);
	for (unsigned i = 0; i < UPLOADS; i++) {
		snprintf(name, sizeof(name), "m%u", i);
		bufs[i] = block_buffer();
		ups[i] = NULL;
		CHECK_EQ(
		    store_upload_begin(st, USER, name, strlen(name), 1, 1, size, &ups[i], &off), 0);
	}
	/* Block by block across all uploads, as connections would interleave. */
	for (size_t at = 0; at < size; at += DFS_BLOCK_MAX)
		for (unsigned i = 0; i < UPLOADS; i++)
			if (ups[i])
				CHECK_EQ(send_blocks(ups[i], &bufs[i], data, at, at + DFS_BLOCK_MAX,
						     &swapped),
					 0);
	for (unsigned i = 0; i < UPLOADS; i++) {
		if (ups[i])
			CHECK_EQ(store_upload_finish(ups[i], XXH3_64bits(data, size)), 0);
		snprintf(name, sizeof(name), "m%u", i);
		memset(got, 0, size);
		CHECK_EQ(commit_and_read(st, name, 1, size, XXH3_64bits(data, size), got), 0);
		CHECK(memcmp(got, data, size) == 0);
		free(bufs[i]);
	}
out:
	free(data);
	free(got);
	if (st)
		store_close(st);
}

static bool takes_direct(const char *dir)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/probe", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_DIRECT, 0600);
	if (fd < 0)
		return false;
	close(fd);
	unlink(path);
	return true;
}

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/test_upload_blocks.XXXXXX");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	direct_here = takes_direct(base);
	test_bytes_arrive();
	test_suspend_writes_held();
	test_many_uploads();
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return CHECK_DONE();
}

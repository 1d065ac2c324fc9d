/* upload.c: chunks being received into tmp/ (PUT_BEGIN, PUT_BLOCK, PUT_END),
 * resumed after a lost connection, suspended, or aborted. */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rpc/rpc.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "counts.h"
#include "dirsync.h"

/* Bytes of an upload between two starts of writeback. */
#define WRITEBACK_STEP (8u << 20)

/* Alignment that O_DIRECT accepts on any block device: buffer address, file offset
 * and length must all be multiples of it. */
#define DIRECT_ALIGN 4096u

struct store_upload {
	struct store *st;
	int fd;
	int direct_fd;	       /* the same file opened O_DIRECT, or -1 */
	bool direct_works;     /* a direct write went through */
	struct block_run *run; /* blocks received, not yet written, or NULL */
	uint64_t size, done;
	uint64_t reserved; /* disk space is preallocated up to here */
	uint64_t flushed;  /* bytes handed to writeback so far */
	uint64_t ver;
	unsigned index;
	XXH3_state_t *xs;
	char user[USER_MAX + 1];
	char hash[HASH_HEX + 1];
	char tmpname[PATH_BUF];
};

static void upload_free(struct store_upload *up)
{
	block_run_free(up->run);
	if (up->fd >= 0)
		close(up->fd);
	if (up->direct_fd >= 0)
		close(up->direct_fd);
	XXH3_freeState(up->xs);
	free(up);
}

/* Writes the blocks held back, if any. On a failure the bytes from the first of
 * them on are not there, and the upload counts only those before. */
static int write_run(struct store_upload *up)
{
	uint64_t from;
	int rc;

	if (up->run == NULL || block_run_bytes(up->run) == 0)
		return 0;
	from = block_run_from(up->run);
	rc = block_run_write(up->run, up->direct_fd);
	if (rc < 0)
		up->done = from;
	return rc;
}

/* Opens the staged file a second time with O_DIRECT: the aligned bulk of a chunk then
 * goes from the call's buffer straight to the disk, skipping a copy into the page
 * cache that the fdatasync would have to write back anyway. Where the file system
 * refuses O_DIRECT, every write stays buffered. */
static void open_direct(struct store_upload *up, const struct stat *staged)
{
	struct stat sb;
	int fd = openat(up->st->rootfd, up->tmpname, O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	if (fstat(fd, &sb) < 0 || sb.st_ino != staged->st_ino || sb.st_dev != staged->st_dev) {
		close(fd);
		return;
	}
	up->direct_fd = fd;
}

/* Feeds the bytes already staged in a resumed upload to its checksum state. */
static int rehash_staged(struct store_upload *up)
{
	char *buf = malloc(READ_BUF);
	uint64_t off = 0;
	int rc = 0;

	if (buf == NULL)
		return -ENOMEM;
	while (off < up->done) {
		size_t want = up->done - off < READ_BUF ? (size_t)(up->done - off) : READ_BUF;
		ssize_t n = read_full(up->fd, buf, want, off);

		if (n <= 0) {
			rc = -EIO;
			break;
		}
		XXH3_64bits_update(up->xs, buf, (size_t)n);
		off += (uint64_t)n;
	}
	free(buf);
	return rc;
}

/* Disk space is preallocated at most this far ahead of the bytes received: an
 * upload that announces a large size and sends nothing holds no more. */
#define RESERVE_AHEAD (32ull << 20)

int store_upload_begin(struct store *st, const char *user, const void *name, size_t name_len,
		       uint64_t ver, unsigned index, uint64_t size, struct store_upload **out,
		       uint64_t *offset)
{
	struct store_upload *up = NULL;
	struct file_ref ref;
	struct stat sb, sp;
	bool created = false;
	int rc, n;

	*out = NULL;
	*offset = 0;
	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	if (index == 0 || index > DFS_SERVERS_MAX || ver == 0 || size > (uint64_t)INT64_MAX)
		return -EINVAL;
	up = calloc(1, sizeof(*up));
	if (up == NULL)
		return -ENOMEM;
	up->fd = -1;
	up->direct_fd = -1;
	up->st = st;
	up->size = size;
	up->ver = ver;
	up->index = index;
	memcpy(up->user, ref.user, sizeof(up->user));
	memcpy(up->hash, ref.hash, sizeof(up->hash));
	n = snprintf(up->tmpname, sizeof(up->tmpname), "tmp/%s.%s.%016" PRIx64 ".%u.%016" PRIx64,
		     user, ref.hash, ver, index, size);
	if (n < 0 || (size_t)n >= sizeof(up->tmpname)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	up->xs = XXH3_createState();
	if (up->xs == NULL || XXH3_64bits_reset(up->xs) != XXH_OK) {
		rc = -ENOMEM;
		goto out;
	}
	/* Housekeeping may unlink the file between our open and our lock: then try again. */
	for (int attempt = 0; attempt < 3; attempt++) {
		if (up->fd >= 0)
			close(up->fd);
		up->fd = openat(st->rootfd, up->tmpname, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
				0600);
		if (up->fd < 0) {
			rc = -errno;
			goto out;
		}
		/* The same chunk may be arriving on another connection (a client retrying
		 * while the old connection is not yet gone): only one may write it. */
		if (flock(up->fd, LOCK_EX | LOCK_NB) < 0) {
			rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
			goto out;
		}
		if (fstat(up->fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
			rc = -EIO;
			goto out;
		}
		rc = -EAGAIN;
		if (fstatat(st->rootfd, up->tmpname, &sp, AT_SYMLINK_NOFOLLOW) == 0 &&
		    sb.st_ino == sp.st_ino && sb.st_dev == sp.st_dev) {
			rc = 0;
			break;
		}
	}
	if (rc < 0)
		goto out;
	created = sb.st_size == 0;
	if ((uint64_t)sb.st_size > size) {
		if (ftruncate(up->fd, 0) < 0) {
			rc = -EIO;
			goto out;
		}
		sb.st_size = 0;
	}
	up->done = (uint64_t)sb.st_size;
	rc = rehash_staged(up);
	if (rc < 0)
		goto out;
	rc = check_space(up->fd, up->done, size);
	if (rc == 0) {
		up->reserved = size - up->done > RESERVE_AHEAD ? up->done + RESERVE_AHEAD : size;
		rc = reserve_space(up->fd, up->done, up->reserved);
	}
	if (rc < 0)
		goto out;
	open_direct(up, &sb);
	*offset = up->done;
	*out = up;
	up = NULL;
	rc = 0;
out:
	if (up) {
		if (up->fd >= 0) {
			if (created && rc != -EBUSY)
				unlinkat(st->rootfd, up->tmpname, 0);
			else if ((rc == -ENOSPC || rc == -EFBIG) &&
				 ftruncate(up->fd, (off_t)up->done) < 0)
				rc = -EIO;
		}
		upload_free(up);
	}
	return rc;
}

/* What a write at offset of len bytes must pass first; reserves the disk space
 * it needs. 0, or -errno. */
static int write_checks(struct store_upload *up, uint64_t offset, size_t len)
{
	int rc;

	if (offset != up->done)
		return -EINVAL;
	if (len > up->size - up->done)
		return -EFBIG;
	if (up->done + len > up->reserved) {
		uint64_t end = up->done + len + RESERVE_AHEAD;

		rc = reserve_space(up->fd, up->reserved, end < up->size ? end : up->size);
		if (rc < 0)
			return rc;
		up->reserved = end < up->size ? end : up->size;
	}
	return 0;
}

/* Counts len bytes received and written, or held to be. */
static void accept_bytes(struct store_upload *up, const void *data, size_t len)
{
	XXH3_64bits_update(up->xs, data, len);
	up->done += len;
	/* Start writeback of what went through the page cache while the rest streams
	 * in, so the fdatasync at the end waits for the last few MiB, not the chunk. */
	if (up->done - up->flushed >= WRITEBACK_STEP) {
		sync_file_range(up->fd, (off_t)up->flushed, (off_t)(up->done - up->flushed),
				SYNC_FILE_RANGE_WRITE);
		up->flushed = up->done;
	}
}

/* Writes len bytes at offset now: the aligned bulk directly, the rest through
 * the page cache. */
static int write_now(struct store_upload *up, uint64_t offset, const void *data, size_t len)
{
	size_t direct = 0;
	int rc = write_run(up);

	if (rc < 0)
		return rc;
	if (up->direct_fd >= 0 && offset % DIRECT_ALIGN == 0 && (uintptr_t)data % DIRECT_ALIGN == 0)
		direct = len - len % DIRECT_ALIGN;
	if (direct > 0) {
		rc = write_all(up->direct_fd, data, direct, offset);
		if (rc == -EIO && errno == EINVAL) {
			/* This file system opens O_DIRECT but refuses the write. */
			close(up->direct_fd);
			up->direct_fd = -1;
			direct = 0;
			rc = 0;
		}
		up->direct_works = up->direct_fd >= 0 && rc == 0;
	}
	if (rc == 0 && direct < len)
		rc = write_all(up->fd, (const char *)data + direct, len - direct, offset + direct);
	if (rc < 0)
		return rc;
	accept_bytes(up, data, len);
	return 0;
}

int store_upload_write(struct store_upload *up, uint64_t offset, const void *data, size_t len)
{
	int rc = write_checks(up, offset, len);

	if (rc < 0 || len == 0)
		return rc;
	return write_now(up, offset, data, len);
}

/* Whether a block of len bytes at offset may be held back: whole pages, once a
 * direct write has gone through (a file system that refuses them is found out
 * on the first block, which can then still go through the page cache). */
static bool holdable(struct store_upload *up, uint64_t offset, size_t len)
{
	if (!up->direct_works || offset % DIRECT_ALIGN != 0 || len % DIRECT_ALIGN != 0)
		return false;
	if (up->run == NULL)
		up->run = block_run_new(up->st);
	return up->run != NULL;
}

int store_upload_write_block(struct store_upload *up, uint64_t offset, void **block, size_t len)
{
	void *data = *block;
	int rc = write_checks(up, offset, len);

	if (rc < 0 || len == 0)
		return rc;
	if (!holdable(up, offset, len) || !block_run_take(up->run, block, len, offset))
		return write_now(up, offset, data, len);
	accept_bytes(up, data, len);
	if (block_run_full(up->run) || up->done == up->size)
		return write_run(up);
	return 0;
}

/* Flushes a staged chunk whose bytes are all there and checked, and renames it
 * into place. Always frees up. */
static int place_staged(struct store_upload *up)
{
	struct file_ref ref;
	char final[PATH_BUF];
	int dirfd = -1, rc;
	bool locked = false;

	if (fdatasync(up->fd) < 0) {
		rc = -EIO;
		goto out;
	}
	rc = ref_init(up->st, up->user, up->hash, &ref);
	if (rc < 0)
		goto out;
	chunk_name(final, sizeof(final), up->ver, up->index);
	/* Under the file's lock: housekeeping may remove an empty folder, and commit and
	 * delete look at the chunk files. */
	pthread_mutex_lock(ref.lock);
	locked = true;
	rc = mkdirs_at(up->st->rootfd, ref.dir, true, NULL);
	if (rc < 0)
		goto out;
	dirfd = openat(up->st->rootfd, ref.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		rc = -errno;
		goto out;
	}
	if (renameat(up->st->rootfd, up->tmpname, dirfd, final) < 0) {
		rc = -errno;
		goto out;
	}
	if (fsync(dirfd) < 0)
		rc = -EIO;
	pthread_mutex_unlock(ref.lock);
	locked = false;
	upload_free(up);
	close(dirfd);
	return rc;
out:
	if (locked)
		pthread_mutex_unlock(ref.lock);
	if (dirfd >= 0)
		close(dirfd);
	unlinkat(up->st->rootfd, up->tmpname, 0);
	upload_free(up);
	return rc;
}

int store_upload_finish(struct store_upload *up, uint64_t checksum)
{
	int rc = write_run(up);

	if (rc < 0) {
		store_upload_abort(up);
		return rc;
	}
	if (up->done != up->size || XXH3_64bits_digest(up->xs) != checksum) {
		store_upload_abort(up);
		return -EBADMSG;
	}
	return place_staged(up);
}

int store_upload_fd(struct store_upload *up)
{
	int rc;

	if (up->reserved < up->size) {
		rc = reserve_space(up->fd, up->reserved, up->size);
		if (rc < 0)
			return rc;
		up->reserved = up->size;
	}
	return up->fd;
}

int store_upload_finish_written(struct store_upload *up)
{
	struct stat sb;

	/* The writer hashed the bytes it wrote; what the file must still show is
	 * their number. */
	if (fstat(up->fd, &sb) < 0 || (uint64_t)sb.st_size != up->size) {
		store_upload_abort(up);
		return -EBADMSG;
	}
	up->done = up->size;
	return place_staged(up);
}

void store_upload_abort(struct store_upload *up)
{
	if (up == NULL)
		return;
	unlinkat(up->st->rootfd, up->tmpname, 0);
	upload_free(up);
}

void store_upload_suspend(struct store_upload *up)
{
	if (up == NULL)
		return;
	(void)write_run(up);
	/* A failed write may have left bytes past what was accepted; resume trusts the length. */
	if (ftruncate(up->fd, (off_t)up->done) < 0)
		unlinkat(up->st->rootfd, up->tmpname, 0);
	upload_free(up);
}

/* Removes tmp/ files of (user, hash, ver) that no upload holds. */
static void abort_tmp(struct store *st, const char *user, const char *hash, uint64_t ver)
{
	char prefix[PATH_BUF];
	DIR *d;
	struct dirent *de;
	int dir_fd;
	size_t plen;

	snprintf(prefix, sizeof(prefix), "%s.%s.%016" PRIx64 ".", user, hash, ver);
	plen = strlen(prefix);
	d = opendir_at(st->rootfd, "tmp");
	if (d == NULL)
		return;
	dir_fd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		int fd;

		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		fd = openat(dir_fd, de->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			unlinkat(dir_fd, de->d_name, 0);
		close(fd);
	}
	closedir(d);
}

/* Undoes the commit of m's current version (its put failed elsewhere): the
 * version it replaced becomes current again, or, when it replaced nothing
 * live, a tombstone at its version, which no older copy outranks. */
static int rollback(struct store *st, const struct file_ref *ref, const dfs_meta *m)
{
	struct rec_op drop[DFS_HELD_MAX];
	unsigned n = 0;
	dfs_meta back;
	int rc;

	memset(&back, 0, sizeof(back));
	back.format = RECORD_FORMAT;
	if (m->previous.previous_len > 0 && !m->previous.previous_val[0].deleted) {
		back.current = m->previous.previous_val[0];
	} else {
		back.current.name = m->current.name;
		back.current.ver = m->current.ver;
		back.current.deleted = TRUE;
		back.current.mtime_ns = now_ns();
		back.current.nchunks = m->current.nchunks;
	}
	/* The rolled-back version's chunks kept in the database go with it. */
	for (u_int i = 0; i < m->current.chunks.chunks_len && n < DFS_HELD_MAX; i++)
		drop[n++] = (struct rec_op){.kind = OP_CHUNK_DEL,
					    .ver = m->current.ver,
					    .index = m->current.chunks.chunks_val[i].index};
	rc = meta_write_ops(st, ref, &back, NULL, 0, drop, n);
	if (rc < 0)
		return rc;
	counts_replace(st->counts, ref->user, &m->current, &back.current);
	return 0;
}

int store_abort(struct store *st, const char *user, const void *name, size_t name_len, uint64_t ver)
{
	struct file_ref ref;
	dfs_meta m;
	bool have = false;
	int rc, dirfd = -1;

	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	if (ver == 0)
		return -EINVAL;
	abort_tmp(st, ref.user, ref.hash, ver);
	pthread_mutex_lock(ref.lock);
	rc = meta_read(st, ref.user, ref.hash, name, name_len, &m);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	have = rc == 0;
	rc = 0;
	if (have && !m.current.deleted && m.current.ver == ver) {
		rc = rollback(st, &ref, &m);
		if (rc < 0)
			goto out;
	} else if (have && meta_version(&m, ver) != NULL) {
		goto out;
	}
	dirfd = openat(st->rootfd, ref.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		goto out;
	for (unsigned k = 1; k <= DFS_SERVERS_MAX; k++) {
		char file[32];

		chunk_name(file, sizeof(file), ver, k);
		unlinkat(dirfd, file, 0);
	}
out:
	pthread_mutex_unlock(ref.lock);
	if (dirfd >= 0)
		close(dirfd);
	if (have)
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return rc;
}

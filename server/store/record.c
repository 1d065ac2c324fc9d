/* record.c: a file's record (meta): reading, checking and replacing it, which
 * versions it keeps, and reads of the chunks it names. */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <rpc/rpc.h>

#include "dirsync.h"
#include "hex.h"
#include "repair_index.h"

static bool name_equal(const dfs_name *n, const void *name, size_t len)
{
	return n->dfs_name_len == len && memcmp(n->dfs_name_val, name, len) == 0;
}

static bool name_hashes_to(const dfs_name *n, const char *hash)
{
	unsigned char md[32];
	char hex[HASH_HEX + 1];

	if (!EVP_Digest(n->dfs_name_val, n->dfs_name_len, md, NULL, EVP_sha256(), NULL))
		return false;
	hex_encode(md, sizeof(md), hex);
	return memcmp(hex, hash, HASH_HEX) == 0;
}

/* Reads dir/meta. With name, the record must be that name's; otherwise (name NULL) its
 * name must hash to hash. 0, -ENOENT (no record) or -EBADMSG/-EIO. */
int meta_read(int rootfd, const char *dir, const void *name, size_t name_len, const char *hash,
	      dfs_meta *out)
{
	char path[PATH_BUF], buf[META_BUF + 1];
	ssize_t n;
	XDR xdr;
	int fd, rc = 0;

	memset(out, 0, sizeof(*out));
	if (path_join(path, sizeof(path), dir, META_NAME) < 0)
		return -ENOENT;
	fd = openat(rootfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return (errno == ENOENT || errno == ENOTDIR) ? -ENOENT : -EIO;
	n = read_full(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < 0)
		return (int)n;
	if (n > META_BUF)
		return -EBADMSG;
	xdrmem_create(&xdr, buf, (u_int)n, XDR_DECODE);
	if (!xdr_dfs_meta(&xdr, out)) {
		rc = -EBADMSG;
	} else if (out->format != STORE_FORMAT) {
		rc = -EBADMSG;
	} else if (name ? !name_equal(&out->current.name, name, name_len)
			: !name_hashes_to(&out->current.name, hash)) {
		rc = -EBADMSG;
	}
	xdr_destroy(&xdr);
	if (rc < 0) {
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)out);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

/* Writes a file's record durably: a temporary file, flushed together with the
 * files in flush_too (the chunks it names), then renamed over the record. */
int meta_write_with(int rootfd, const char *dir, const dfs_meta *meta, const int *flush_too,
		    int nflush)
{
	char buf[META_BUF];
	struct new_file nf = {.fd = -1};
	XDR xdr;
	u_int len;
	int dirfd, rc;

	xdrmem_create(&xdr, buf, sizeof(buf), XDR_ENCODE);
	if (!xdr_dfs_meta(&xdr, (dfs_meta *)meta)) {
		xdr_destroy(&xdr);
		return -EINVAL;
	}
	len = xdr_getpos(&xdr);
	xdr_destroy(&xdr);
	dirfd = openat(rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	rc = new_file_open(&nf, dirfd);
	if (rc == 0)
		rc = write_all(nf.fd, buf, len, 0);
	if (rc == 0 && meta->current.lacking.lacking_len > 0)
		rc = repair_index_set(rootfd, dir, true);
	/* Writeback of everything starts before the first wait, so all of it
	 * shares one journal commit. */
	for (int i = 0; rc == 0 && i < nflush; i++)
		sync_file_range(flush_too[i], 0, 0, SYNC_FILE_RANGE_WRITE);
	for (int i = 0; rc == 0 && i < nflush; i++)
		if (fdatasync(flush_too[i]) < 0)
			rc = -EIO;
	if (rc == 0 && fsync(nf.fd) < 0)
		rc = -EIO;
	if (rc == 0)
		rc = new_file_place(&nf, META_NAME, true);
	new_file_discard(&nf);
	if (rc == 0 && fsync(dirfd) < 0)
		rc = -EIO;
	if (rc == 0 && meta->current.lacking.lacking_len == 0)
		repair_index_set(rootfd, dir, false); /* a stale marker costs one check */
	close(dirfd);
	return rc;
}

/* Replaces dir/meta atomically and durably. */
int meta_write(int rootfd, const char *dir, const dfs_meta *meta)
{
	return meta_write_with(rootfd, dir, meta, NULL, 0);
}

/* Which version of meta (if any) is committed as ver: current (live) or previous. */
const dfs_file_info *meta_version(const dfs_meta *m, uint64_t ver)
{
	if (m->current.ver == ver && !m->current.deleted)
		return &m->current;
	if (m->previous.previous_len == 1 && m->previous.previous_val[0].ver == ver)
		return &m->previous.previous_val[0];
	return NULL;
}

/* Whether chunk files of version v are still needed per meta (m NULL = no record). */
bool version_kept(const dfs_meta *m, uint64_t v)
{
	if (m == NULL)
		return false;
	return meta_version(m, v) != NULL;
}

/* Removes chunk files in dir that satisfy: version below `below` and not kept by m;
 * with later, moves them to the trash (trash.c) instead, and the caller does not wait
 * for the file system to free them. Returns the count removed. */
int remove_old_chunks(struct store *st, const char *dir, const dfs_meta *m, uint64_t below,
		      bool later)
{
	DIR *d;
	struct dirent *de;
	int dir_fd, removed = 0;

	d = opendir_at(st->rootfd, dir);
	if (d == NULL)
		return 0;
	dir_fd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		uint64_t v;
		unsigned k;

		if (!parse_chunk_name(de->d_name, &v, &k))
			continue;
		if (v >= below || version_kept(m, v))
			continue;
		if (later ? trash_file(st, dir_fd, de->d_name) == 0
			  : unlinkat(dir_fd, de->d_name, 0) == 0)
			removed++;
	}
	/* A file moved aside that a crash brings back is one no record names:
	 * housekeeping removes it. */
	if (removed > 0 && !later)
		fsync(dir_fd);
	closedir(d);
	return removed;
}

int store_lookup(struct store *st, const char *user, const void *name, size_t name_len,
		 dfs_meta *out)
{
	struct file_ref ref;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	/* meta is only ever replaced by rename, so reading it needs no lock. */
	return meta_read(st->rootfd, ref.dir, name, name_len, NULL, out);
}

/* Why ver cannot be served according to m: -ESTALE if it is older than what is kept (or
 * the file was deleted since), -ENOENT if this server never committed it. */
int missing_version(const dfs_meta *m, uint64_t ver)
{
	if (ver < m->current.ver || (m->current.deleted && ver == m->current.ver))
		return -ESTALE;
	return -ENOENT;
}

int store_read(struct store *st, const char *user, const void *name, size_t name_len, uint64_t ver,
	       unsigned index, uint64_t offset, void *buf, size_t count, size_t *got)
{
	struct file_ref ref;
	char path[PATH_BUF], file[32];
	dfs_meta m;
	ssize_t n;
	int fd, rc;

	*got = 0;
	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	if (index == 0 || index > DFS_SERVERS_MAX || offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	/* A chunk file is named by its version and never changes: if it is here it
	 * is the bytes asked for (and the reader checks them). The record is only
	 * read to explain a chunk that is not. */
	chunk_name(file, sizeof(file), ver, index);
	if (path_join(path, sizeof(path), ref.dir, file) == 0) {
		fd = openat(st->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			n = read_full(fd, buf, count, offset);
			close(fd);
			if (n < 0)
				return (int)n;
			*got = (size_t)n;
			return 0;
		}
		if (errno != ENOENT && errno != ENOTDIR)
			return -EIO;
	}
	/* Not held here, or removed by a commit or delete meanwhile. */
	rc = meta_read(st->rootfd, ref.dir, name, name_len, NULL, &m);
	if (rc < 0)
		return rc;
	rc = meta_version(&m, ver) ? -ENOENT : missing_version(&m, ver);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return rc;
}

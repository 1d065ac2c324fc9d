/* record.c: a file's record (meta): reading, checking and replacing it, which
 * versions it keeps, and reads of the chunks it names. */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <rpc/rpc.h>

#include "dirsync.h"
#include "hex.h"

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

int meta_decode(const void *buf, size_t len, const void *name, size_t name_len, const char *hash,
		dfs_meta *out)
{
	XDR xdr;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	xdrmem_create(&xdr, (char *)buf, (u_int)len, XDR_DECODE);
	if (!xdr_dfs_meta(&xdr, out)) {
		rc = -EBADMSG;
	} else if (out->format != RECORD_FORMAT) {
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

static int read_record(struct store *st, const char *user, const char *hash, const void *name,
		       size_t name_len, dfs_meta *out, int64_t *written_ns)
{
	char buf[META_BUF];
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = records_get(st->records, user, hash, buf, sizeof(buf), &len, written_ns);
	if (rc < 0)
		return rc;
	return meta_decode(buf, len, name, name_len, hash, out);
}

int meta_read(struct store *st, const char *user, const char *hash, const void *name,
	      size_t name_len, dfs_meta *out)
{
	return read_record(st, user, hash, name, name_len, out, NULL);
}

int meta_read_written(struct store *st, const char *user, const char *hash, dfs_meta *out,
		      int64_t *written_ns)
{
	return read_record(st, user, hash, NULL, 0, out, written_ns);
}

/* The operation that removes the chunks kept in the database that meta no longer
 * needs: those of versions below its current one (up to a tombstone's own) that it
 * does not keep. Chunk files are removed apart (remove_old_chunks). */
static struct rec_op prune_op(const dfs_meta *meta)
{
	const dfs_file_info *cur = &meta->current;
	struct rec_op op = {.kind = OP_CHUNKS_PRUNE};

	op.below = cur->deleted && cur->ver < UINT64_MAX ? cur->ver + 1 : cur->ver;
	if (!cur->deleted)
		op.keep[op.nkeep++] = cur->ver;
	if (meta->previous.previous_len == 1)
		op.keep[op.nkeep++] = meta->previous.previous_val[0].ver;
	return op;
}

int meta_ops(const dfs_meta *meta, const struct rec_op *extra, unsigned nextra, struct rec_op *ops,
	     unsigned ops_max, char *buf, size_t buf_len)
{
	XDR xdr;
	u_int len;
	int n = 0;

	if (nextra + 3 > ops_max)
		return -EINVAL;
	xdrmem_create(&xdr, buf, (u_int)buf_len, XDR_ENCODE);
	if (!xdr_dfs_meta(&xdr, (dfs_meta *)meta)) {
		xdr_destroy(&xdr);
		return -EINVAL;
	}
	len = xdr_getpos(&xdr);
	xdr_destroy(&xdr);
	for (unsigned i = 0; i < nextra; i++)
		ops[n++] = extra[i];
	ops[n++] = prune_op(meta);
	ops[n++] = (struct rec_op){.kind = OP_RECORD_PUT, .val = buf, .len = len};
	ops[n++] =
	    (struct rec_op){.kind = OP_LACKING, .len = meta->current.lacking.lacking_len > 0};
	return n;
}

int meta_write_ops(struct store *st, const struct file_ref *ref, const dfs_meta *meta,
		   const int *flush_too, int nflush, const struct rec_op *extra, unsigned nextra)
{
	struct rec_op ops[META_OPS_MAX];
	char buf[META_BUF];
	int n = meta_ops(meta, extra, nextra, ops, META_OPS_MAX, buf, sizeof(buf)), rc = 0;

	if (n < 0)
		return n;
	/* Writeback of every chunk file starts before the first wait. */
	for (int i = 0; i < nflush; i++)
		sync_file_range(flush_too[i], 0, 0, SYNC_FILE_RANGE_WRITE);
	for (int i = 0; rc == 0 && i < nflush; i++)
		if (fdatasync(flush_too[i]) < 0)
			rc = -EIO;
	if (rc == 0 && nflush > 0 && fsync_dir_at(st->rootfd, ref->dir) < 0)
		rc = -EIO;
	if (rc < 0)
		return rc;
	return records_apply(st->records, ref->user, ref->hash, ops, (unsigned)n);
}

/* Writes a file's record durably, after the files in flush_too (the chunks it
 * names) and their folder's entries are on disk. */
int meta_write_with(struct store *st, const struct file_ref *ref, const dfs_meta *meta,
		    const int *flush_too, int nflush)
{
	return meta_write_ops(st, ref, meta, flush_too, nflush, NULL, 0);
}

/* Replaces the record atomically and durably. */
int meta_write(struct store *st, const struct file_ref *ref, const dfs_meta *meta)
{
	return meta_write_ops(st, ref, meta, NULL, 0, NULL, 0);
}

/* Removes the record and every chunk of the file kept in the database, durably. */
int meta_remove(struct store *st, const struct file_ref *ref)
{
	struct rec_op ops[3] = {{.kind = OP_RECORD_DEL},
				{.kind = OP_LACKING, .len = 0},
				{.kind = OP_CHUNKS_PRUNE, .below = UINT64_MAX}};

	return records_apply(st->records, ref->user, ref->hash, ops, 3);
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
	/* A record is replaced in one transaction, so reading it needs no lock. */
	return meta_read(st, ref.user, ref.hash, name, name_len, out);
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
	struct inline_chunk ic;
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
	/* A small file's chunk is kept in the database. */
	rc = records_chunk_read(st->records, ref.user, ref.hash, ver, index, offset, buf, count,
				&ic);
	if (rc == 0) {
		*got = ic.got;
		return 0;
	}
	if (rc != -ENOENT)
		return rc;
	/* Not held here, or removed by a commit or delete meanwhile. */
	rc = meta_read(st, ref.user, ref.hash, name, name_len, &m);
	if (rc < 0)
		return rc;
	rc = meta_version(&m, ver) ? -ENOENT : missing_version(&m, ver);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return rc;
}

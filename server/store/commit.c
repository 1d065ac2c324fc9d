/* commit.c: making a version current (COMMIT) and small files stored whole
 * (STORE), with the version rules and the quota check. */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <rpc/rpc.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "counts.h"

static int commit_version(struct store *st, const struct file_ref *ref, const dfs_file_info *info,
			  const struct store_quota *q, const struct rec_op *ops, unsigned nops);

/* Places one chunk of a whole small file in its folder (open as dirfd). A chunk
 * file of that version already there holds the same bytes: it is kept. */
static int place_chunk(int dirfd, uint64_t ver, const dfs_chunk_sum *c, const char *data)
{
	struct new_file nf = {.fd = -1};
	char final[32];
	int rc;

	if (XXH3_64bits(data, (size_t)c->size) != c->checksum)
		return -EBADMSG;
	chunk_name(final, sizeof(final), ver, c->index);
	rc = new_file_open(&nf, dirfd);
	if (rc == 0)
		rc = write_all(nf.fd, data, (size_t)c->size, 0);
	if (rc == 0) {
		rc = new_file_place(&nf, final, false);
		if (rc == -EEXIST)
			rc = 0;
	}
	new_file_discard(&nf);
	return rc;
}

/* Whether every chunk of info is small enough to be kept in the database. */
bool fits_inline(const struct store *st, const dfs_file_info *info)
{
	for (u_int i = 0; i < info->chunks.chunks_len; i++)
		if (info->chunks.chunks_val[i].size > st->inline_max)
			return false;
	return true;
}

int inline_ops(const dfs_file_info *info, const char *bytes, struct rec_op ops[DFS_HELD_MAX])
{
	u_int n = info->chunks.chunks_len;

	for (u_int i = 0; i < n; i++) {
		const dfs_chunk_sum *c = &info->chunks.chunks_val[i];

		if (XXH3_64bits(bytes, (size_t)c->size) != c->checksum)
			return -EBADMSG;
		ops[i] = (struct rec_op){.kind = OP_CHUNK_PUT,
					 .ver = info->ver,
					 .index = c->index,
					 .val = bytes,
					 .len = (size_t)c->size};
		bytes += c->size;
	}
	return (int)n;
}

int store_put_whole(struct store *st, const char *user, const dfs_file_info *info, const void *data,
		    size_t len)
{
	return store_put_whole_quota(st, user, info, data, len, NULL);
}

bool quota_limited(const struct store_quota *q)
{
	return q && (q->bytes || q->files);
}

/* -EDQUOT if replacing old (NULL or a tombstone: none) by info would take
 * the user's live bytes or files, from t, above q. A change that does not
 * add bytes (or files) is allowed even over the limit. */
static int quota_check(const struct count_totals *t, const dfs_file_info *old,
		       const dfs_file_info *info, const struct store_quota *q)
{
	bool old_live = old && !old->deleted;
	uint64_t old_size = old_live ? old->size : 0;
	uint64_t bytes = t->logical_bytes - old_size + info->size;
	uint64_t files = t->files - (old_live ? 1 : 0) + 1;

	if (!quota_limited(q))
		return 0;
	if (q->bytes && info->size > old_size && bytes > q->bytes)
		return -EDQUOT;
	if (q->files && !old_live && files > q->files)
		return -EDQUOT;
	return 0;
}

int store_quota_precheck(struct store *st, const char *user, const struct store_quota *q,
			 uint64_t size)
{
	struct count_totals t;

	if (!quota_limited(q))
		return 0;
	if (q->bytes && size > q->bytes)
		return -EDQUOT;
	counts_user(st->counts, user, &t);
	/* Nothing could be added: already at the limit of files and over that of bytes. */
	if (q->files && t.files >= q->files && q->bytes && t.logical_bytes >= q->bytes && size > 0)
		return -EDQUOT;
	return 0;
}

int whole_check(struct store *st, const char *user, const dfs_file_info *info, size_t len,
		const struct store_quota *q, struct file_ref *ref)
{
	uint64_t total = 0;

	if (info == NULL || info->chunks.chunks_len < 1 || info->chunks.chunks_len > DFS_HELD_MAX)
		return -EINVAL;
	for (u_int i = 0; i < info->chunks.chunks_len; i++) {
		const dfs_chunk_sum *c = &info->chunks.chunks_val[i];

		if (c->index < 1 || c->index > DFS_SERVERS_MAX || c->size > len)
			return -EINVAL;
		total += c->size;
	}
	if (total != len)
		return -EINVAL;
	/* Refused before anything is written when the file alone is too large. */
	if (quota_limited(q) && q->bytes && info->size > q->bytes)
		return -EDQUOT;
	return ref_for(st, user, info->name.dfs_name_val, info->name.dfs_name_len, ref);
}

int space_check(struct store *st, uint64_t len)
{
	struct statvfs vfs;

	if (fstatvfs(st->rootfd, &vfs) == 0 && len > (uint64_t)vfs.f_bavail * vfs.f_frsize)
		return -ENOSPC;
	return 0;
}

int store_put_whole_quota(struct store *st, const char *user, const dfs_file_info *info,
			  const void *data, size_t len, const struct store_quota *q)
{
	struct file_ref ref;
	struct rec_op ops[DFS_HELD_MAX];
	/* XDR decodes an empty opaque to NULL, and NULL + 0 is undefined. */
	const char *bytes = len == 0 ? "" : data;
	size_t new_from = 0;
	int dirfd, rc;

	rc = whole_check(st, user, info, len, q, &ref);
	if (rc == 0)
		rc = space_check(st, len);
	if (rc < 0)
		return rc;
	if (fits_inline(st, info)) {
		rc = inline_ops(info, bytes, ops);
		return rc < 0 ? rc : commit_version(st, &ref, info, q, ops, (unsigned)rc);
	}
	/* Under the file's lock: housekeeping may remove an empty folder. The folder
	 * and the chunks reach the disk with the record, in store_commit. */
	pthread_mutex_lock(ref.lock);
	rc = mkdirs_at(st->rootfd, ref.dir, false, &new_from);
	dirfd = rc < 0 ? -1 : openat(st->rootfd, ref.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rc == 0 && dirfd < 0)
		rc = -errno;
	for (u_int i = 0; rc == 0 && i < info->chunks.chunks_len; i++) {
		rc = place_chunk(dirfd, info->ver, &info->chunks.chunks_val[i], bytes);
		bytes += info->chunks.chunks_val[i].size;
	}
	if (dirfd >= 0)
		close(dirfd);
	pthread_mutex_unlock(ref.lock);
	if (rc == 0)
		rc = store_commit_quota(st, user, info, q);
	if (rc == -EDQUOT) {
		pthread_mutex_lock(ref.lock);
		dirfd = openat(st->rootfd, ref.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		for (u_int i = 0; dirfd >= 0 && i < info->chunks.chunks_len; i++) {
			char file[32];

			chunk_name(file, sizeof(file), info->ver, info->chunks.chunks_val[i].index);
			unlinkat(dirfd, file, 0);
		}
		if (dirfd >= 0)
			close(dirfd);
		pthread_mutex_unlock(ref.lock);
		return rc;
	}
	/* Folders made above without a flush reach the disk before the caller hears
	 * of success. */
	if (rc == 0)
		rc = sync_new_folders(st->rootfd, ref.dir, new_from);
	return rc;
}

/* Whether chunk c is among the operations that store it in the database now. */
static bool supplied(const dfs_chunk_sum *c, const struct rec_op *ops, unsigned nops)
{
	for (unsigned i = 0; i < nops; i++)
		if (ops[i].kind == OP_CHUNK_PUT && ops[i].index == c->index &&
		    ops[i].len == c->size)
			return true;
	return false;
}

/* Checks that every chunk of info is in place with its size: supplied by ops, a
 * chunk file (opened into fds[0..*nfds), left open either way) or a chunk already
 * kept in the database. */
static int chunks_present(struct store *st, const struct file_ref *ref, const dfs_file_info *info,
			  const struct rec_op *ops, unsigned nops, int fds[DFS_HELD_MAX], int *nfds)
{
	*nfds = 0;
	for (u_int i = 0; i < info->chunks.chunks_len; i++) {
		const dfs_chunk_sum *c = &info->chunks.chunks_val[i];
		char path[PATH_BUF], file[32];
		struct inline_chunk ic;
		struct stat sb;
		int fd, rc;

		if (c->index == 0 || c->index > DFS_SERVERS_MAX)
			return -EINVAL;
		if (supplied(c, ops, nops))
			continue;
		chunk_name(file, sizeof(file), info->ver, c->index);
		if (path_join(path, sizeof(path), ref->dir, file) < 0)
			return -ENOENT;
		fd = openat(st->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 && errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			return -EIO;
		if (fd >= 0) {
			fds[(*nfds)++] = fd;
			if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
			    (uint64_t)sb.st_size != c->size)
				return -ENOENT;
			continue;
		}
		rc = records_chunk_read(st->records, ref->user, ref->hash, info->ver, c->index, 0,
					NULL, 0, &ic);
		if (rc < 0)
			return rc;
		if (ic.size != c->size)
			return -ENOENT;
	}
	return 0;
}

int store_commit(struct store *st, const char *user, const dfs_file_info *info)
{
	return store_commit_quota(st, user, info, NULL);
}

int store_commit_quota(struct store *st, const char *user, const dfs_file_info *info,
		       const struct store_quota *q)
{
	struct file_ref ref;
	int rc;

	if (info == NULL)
		return -EINVAL;
	rc = ref_for(st, user, info->name.dfs_name_val, info->name.dfs_name_len, &ref);
	if (rc < 0)
		return rc;
	return commit_version(st, &ref, info, q, NULL, 0);
}

int commit_decide(struct store *st, struct pending_commit *pc, const struct count_totals *t,
		  const struct store_quota *q, const struct rec_op *ops, unsigned nops,
		  int chunk_fds[DFS_HELD_MAX], int *nchunk_fds, bool index_name)
{
	const dfs_file_info *info = pc->info;
	struct file_ref *ref = &pc->ref;
	dfs_meta *old = &pc->old, *m = &pc->m;
	int rc;

	*nchunk_fds = 0;
	if (info->deleted || info->ver == 0 || info->chunks.chunks_len > DFS_HELD_MAX ||
	    info->lacking.lacking_len > DFS_SERVERS_MAX)
		return -EINVAL;
	rc = meta_read(st, ref->user, ref->hash, info->name.dfs_name_val, info->name.dfs_name_len,
		       old);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	pc->have_old = rc == 0;
	if (pc->have_old && (old->current.ver > info->ver ||
			     (old->current.deleted && old->current.ver == info->ver)))
		return -ESTALE;
	/* Two writers that picked the same version: the first one's file stays. */
	if (pc->have_old && old->current.ver == info->ver &&
	    (old->current.size != info->size || old->current.nchunks != info->nchunks ||
	     old->current.digest != info->digest))
		return -EEXIST;
	rc = chunks_present(st, ref, info, ops, nops, chunk_fds, nchunk_fds);
	if (rc < 0)
		return rc;
	if (quota_limited(q)) {
		rc = quota_check(t, pc->have_old ? &old->current : NULL, info, q);
		if (rc < 0)
			return rc;
	}
	memset(m, 0, sizeof(*m));
	m->format = RECORD_FORMAT;
	m->current = *info;
	if (pc->have_old) {
		if (old->current.ver == info->ver) {
			/* Same version again: refresh it and keep what it replaced. */
			m->previous.previous_len = old->previous.previous_len;
			m->previous.previous_val = old->previous.previous_val;
		} else if (!old->current.deleted) {
			m->previous.previous_len = 1;
			m->previous.previous_val = &old->current;
		}
	}
	/* A new name is indexed before its record exists (see name_index.c). */
	if (!pc->have_old && index_name)
		return name_index_add(st->names, ref->user, info->name.dfs_name_val,
				      info->name.dfs_name_len, ref->hash);
	return 0;
}

void commit_done(struct store *st, struct pending_commit *pc)
{
	counts_replace(st->counts, pc->ref.user, pc->have_old ? &pc->old.current : NULL,
		       &pc->m.current);
	/* A name that had no record has no older versions: any chunk files of one are
	 * leftovers of puts that never committed, which housekeeping removes. Not
	 * looking spares a new small file a walk to a folder it does not have. */
	if (pc->have_old)
		remove_old_chunks(st, pc->ref.dir, &pc->m, pc->info->ver, true);
}

void quota_count(struct count_totals *t, const dfs_file_info *old, const dfs_file_info *info)
{
	bool old_live = old && !old->deleted;

	t->logical_bytes = t->logical_bytes - (old_live ? old->size : 0) + info->size;
	t->files = t->files - (old_live ? 1 : 0) + 1;
}

void commit_free(struct pending_commit *pc)
{
	if (pc->have_old)
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&pc->old);
	pc->have_old = false;
	free(pc->record);
	pc->record = NULL;
}

/* Makes info current as store_commit_quota says, storing with it the chunks that
 * ops put into the database. */
static int commit_version(struct store *st, const struct file_ref *refp, const dfs_file_info *info,
			  const struct store_quota *q, const struct rec_op *ops, unsigned nops)
{
	struct pending_commit pc = {.ref = *refp, .info = info};
	struct count_totals t;
	int chunk_fds[DFS_HELD_MAX], nchunk_fds = 0, rc;

	pthread_mutex_lock(pc.ref.lock);
	if (quota_limited(q)) {
		pthread_mutex_lock(&st->quota_lock);
		counts_user(st->counts, pc.ref.user, &t);
	}
	rc = commit_decide(st, &pc, &t, q, ops, nops, chunk_fds, &nchunk_fds, true);
	/* The chunks reach the disk with the record that names them (they were
	 * staged without a flush by STORE; after PUT_END this costs nothing). */
	if (rc == 0)
		rc = meta_write_ops(st, &pc.ref, &pc.m, chunk_fds, nchunk_fds, ops, nops);
	if (rc == 0)
		commit_done(st, &pc);
	if (quota_limited(q))
		pthread_mutex_unlock(&st->quota_lock);
	for (int i = 0; i < nchunk_fds; i++)
		close(chunk_fds[i]);
	pthread_mutex_unlock(pc.ref.lock);
	commit_free(&pc);
	return rc;
}

/* verify.c: re-reading chunk copies against their checksums: VERIFY, the scrub of
 * a file, quarantine of bad copies, and the records of the last verification. */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rpc/rpc.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "counts.h"
#include "dirsync.h"
#include "log.h"
#include "verify_state.h"

/* A copy being verified: an open chunk file, or a chunk kept in the database
 * (read whole into data; written_ns tells a rewritten copy apart). */
struct copy {
	int fd; /* -1: none; -2: unreadable */
	char *data;
	uint64_t size;
	int64_t written_ns;
};

/* Opens chunk (ver, index) of ref as a file, else reads it from the database. */
static void copy_open(struct store *st, const struct file_ref *ref, uint64_t ver, unsigned index,
		      uint64_t size, struct copy *c)
{
	char path[PATH_BUF], file[32];
	struct inline_chunk ic;

	c->data = NULL;
	chunk_name(file, sizeof(file), ver, index);
	if (path_join(path, sizeof(path), ref->dir, file) < 0) {
		c->fd = -2;
		return;
	}
	c->fd = openat(st->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (c->fd >= 0)
		return;
	if (errno != ENOENT && errno != ENOTDIR) {
		c->fd = -2; /* unreadable: left for a human */
		return;
	}
	c->data = malloc(size ? size : 1);
	if (c->data == NULL) {
		c->fd = -2;
		return;
	}
	if (records_chunk_read(st->records, ref->user, ref->hash, ver, index, 0, c->data, size,
			       &ic) < 0) {
		free(c->data);
		c->data = NULL;
		return;
	}
	c->size = ic.size;
	c->written_ns = ic.written_ns;
}

static bool copy_held(const struct copy *c)
{
	return c->fd >= 0 || c->data != NULL;
}

static void copy_close(struct copy *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->data);
	c->fd = -1;
	c->data = NULL;
}

/* Records, under the file's lock, the result of reading copy c of chunk (ver,
 * index). A failure only loses the record: the copy reads as never verified. */
static void record_verified(struct store *st, const struct file_ref *ref, uint64_t ver,
			    unsigned index, const struct copy *c, dfs_stat result)
{
	struct verify_state vs = {now_ns(), (int)result, 0};
	struct stat sb;
	char file[32];
	int dirfd;

	if (c->data) {
		struct rec_op op = {.kind = OP_VERIFIED_PUT, .ver = ver, .index = index};

		vs.ino = (uint64_t)c->written_ns;
		op.vs = vs;
		pthread_mutex_lock(ref->lock);
		if (records_apply(st->records, ref->user, ref->hash, &op, 1) < 0)
			log_debug("cannot record the verification of chunk %u of %s", index,
				  ref->dir);
		pthread_mutex_unlock(ref->lock);
		return;
	}
	if (fstat(c->fd, &sb) < 0)
		return;
	vs.ino = (uint64_t)sb.st_ino;
	chunk_name(file, sizeof(file), ver, index);
	pthread_mutex_lock(ref->lock);
	dirfd = openat(st->rootfd, ref->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd >= 0) {
		if (verify_state_write(dirfd, file, &vs) < 0)
			log_debug("cannot record the verification of %s/%s", ref->dir, file);
		close(dirfd);
	}
	pthread_mutex_unlock(ref->lock);
}

/* Checksums the open chunk file: DFS_OK, DFS_EBADMSG, or DFS_ENOENT (shorter or unreadable). */
static dfs_stat verify_fd(int fd, const dfs_chunk_sum *c, char *buf, const struct store_pace *pace)
{
	XXH3_state_t *xs = XXH3_createState();
	uint64_t off = 0;
	struct stat sb;
	dfs_stat status = DFS_OK;

	if (xs == NULL || XXH3_64bits_reset(xs) != XXH_OK) {
		XXH3_freeState(xs);
		return DFS_EIO;
	}
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size != c->size)
		status = DFS_EBADMSG;
	while (status == DFS_OK && off < c->size) {
		size_t want = c->size - off < READ_BUF ? (size_t)(c->size - off) : READ_BUF;
		ssize_t n = read_full(fd, buf, want, off);

		if (n <= 0) {
			status = n < 0 ? DFS_EIO : DFS_EBADMSG;
			break;
		}
		XXH3_64bits_update(xs, buf, (size_t)n);
		off += (uint64_t)n;
		if (pace && pace->fn(pace->arg, (size_t)n) < 0) {
			status = DFS_EAGAIN;
			break;
		}
	}
	if (status == DFS_OK && XXH3_64bits_digest(xs) != c->checksum)
		status = DFS_EBADMSG;
	XXH3_freeState(xs);
	return status;
}

/* Checksums copy c: as verify_fd for a file; a chunk from the database is whole. */
static dfs_stat verify_copy(const struct copy *c, const dfs_chunk_sum *sum, char *buf,
			    const struct store_pace *pace)
{
	if (c->fd >= 0)
		return verify_fd(c->fd, sum, buf, pace);
	if (c->size != sum->size || XXH3_64bits(c->data, (size_t)c->size) != sum->checksum)
		return DFS_EBADMSG;
	if (pace && pace->fn(pace->arg, (size_t)c->size) < 0)
		return DFS_EAGAIN;
	return DFS_OK;
}

int store_verify(struct store *st, const char *user, const void *name, size_t name_len,
		 uint64_t ver, dfs_chunk_check *checks, unsigned *count)
{
	struct file_ref ref;
	const dfs_file_info *fi;
	dfs_chunk_sum sums[DFS_HELD_MAX];
	struct copy copies[DFS_HELD_MAX];
	unsigned n = 0;
	dfs_meta m;
	bool have = false;
	char *buf = NULL;
	int rc;

	*count = 0;
	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	/* Open the copies under the lock, read them without it: an open file stays
	 * readable even if a commit removes it meanwhile, and a long read blocks nobody. */
	pthread_mutex_lock(ref.lock);
	rc = meta_read(st, ref.user, ref.hash, name, name_len, &m);
	if (rc < 0) {
		pthread_mutex_unlock(ref.lock);
		return rc;
	}
	have = true;
	fi = meta_version(&m, ver);
	if (fi == NULL) {
		rc = missing_version(&m, ver);
		pthread_mutex_unlock(ref.lock);
		goto out;
	}
	for (; n < fi->chunks.chunks_len && n < DFS_HELD_MAX; n++) {
		sums[n] = fi->chunks.chunks_val[n];
		copy_open(st, &ref, ver, sums[n].index, sums[n].size, &copies[n]);
	}
	pthread_mutex_unlock(ref.lock);
	buf = malloc(READ_BUF);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		checks[i].index = sums[i].index;
		checks[i].status = copy_held(&copies[i])
				       ? verify_copy(&copies[i], &sums[i], buf, NULL)
				       : DFS_ENOENT;
		if (checks[i].status == DFS_OK || checks[i].status == DFS_EBADMSG)
			record_verified(st, &ref, ver, sums[i].index, &copies[i], checks[i].status);
	}
	*count = n;
	rc = 0;
out:
	for (unsigned i = 0; i < n; i++)
		copy_close(&copies[i]);
	free(buf);
	if (have)
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return rc;
}

/* The copies of one kept version that the scrub reads, opened under the lock. */
struct scrub_copy {
	uint64_t ver;
	dfs_chunk_sum sum;
	struct copy c;
};

/* Drops chunk index from version ver of m (in place, into held[]) and, if ver is
 * current, lists self as lacking it (into lacking[]); false if m does not hold it. */
static bool drop_from_record(dfs_meta *m, uint64_t ver, unsigned index, unsigned self,
			     dfs_chunk_sum held[DFS_HELD_MAX], unsigned lacking[DFS_SERVERS_MAX])
{
	dfs_file_info *fi =
	    m->current.ver == ver && !m->current.deleted ? &m->current
	    : m->previous.previous_len == 1 && m->previous.previous_val[0].ver == ver
		? &m->previous.previous_val[0]
		: NULL;
	unsigned n = 0;
	bool found = false, listed = false;

	if (fi == NULL)
		return false;
	for (u_int i = 0; i < fi->chunks.chunks_len && n < DFS_HELD_MAX; i++) {
		if (fi->chunks.chunks_val[i].index == index)
			found = true;
		else
			held[n++] = fi->chunks.chunks_val[i];
	}
	if (!found)
		return false;
	fi->chunks.chunks_val = held;
	fi->chunks.chunks_len = n;
	if (fi != &m->current || self == 0)
		return true;
	n = 0;
	for (u_int i = 0; i < fi->lacking.lacking_len && n < DFS_SERVERS_MAX; i++) {
		lacking[n++] = fi->lacking.lacking_val[i];
		listed = listed || fi->lacking.lacking_val[i] == self;
	}
	if (!listed && n < DFS_SERVERS_MAX)
		lacking[n++] = self;
	fi->lacking.lacking_val = lacking;
	fi->lacking.lacking_len = n;
	return true;
}

/* Whether the copy of chunk (ver, index) is still the one seen: the same inode, or
 * the same chunk in the database; with seen NULL, whether there is none at all. */
static bool same_copy(struct store *st, const struct file_ref *ref, const char *path, uint64_t ver,
		      unsigned index, const struct copy *seen)
{
	struct inline_chunk ic;
	struct stat sb, now;
	bool file = fstatat(st->rootfd, path, &now, AT_SYMLINK_NOFOLLOW) == 0;
	int rc;

	if (file && seen)
		return seen->fd >= 0 && fstat(seen->fd, &sb) == 0 && sb.st_ino == now.st_ino;
	if (file || (!seen && errno != ENOENT && errno != ENOTDIR))
		return false;
	rc = records_chunk_read(st->records, ref->user, ref->hash, ver, index, 0, NULL, 0, &ic);
	if (!seen)
		return rc == -ENOENT;
	return rc == 0 && seen->data && ic.written_ns == seen->written_ns;
}

/* Writes the bytes of a bad copy kept in the database to path, for inspection. */
static int keep_bytes(int rootfd, const char *path, const struct copy *c)
{
	int fd = openat(rootfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return -errno;
	rc = write_all(fd, c->data, (size_t)c->size, 0);
	if (rc == 0 && fsync(fd) < 0)
		rc = -EIO;
	close(fd);
	return rc;
}

/* Moves the copy aside into quarantine/ and rewrites the record without it, so it is
 * no longer served and a client's repair rewrites it; unless the copy was replaced or
 * removed since it was read. With seen NULL the copy is one the record lists but this
 * server lacks: only the record changes, if it still lists it and the copy is still
 * absent. 0 or -errno. */
static int quarantine(struct store *st, const struct file_ref *ref, uint64_t ver, unsigned index,
		      const struct copy *seen, unsigned self)
{
	dfs_chunk_sum held[DFS_HELD_MAX];
	unsigned lacking[DFS_SERVERS_MAX];
	char path[PATH_BUF], file[32], aside[PATH_BUF];
	struct rec_op drop = {.kind = OP_CHUNK_DEL, .ver = ver, .index = index};
	dfs_meta m, saved;
	dfs_file_info saved_prev;
	int rc;

	chunk_name(file, sizeof(file), ver, index);
	if (path_join(path, sizeof(path), ref->dir, file) < 0 ||
	    snprintf(aside, sizeof(aside), "quarantine/%s-%s-%s", ref->user, ref->hash, file) >=
		(int)sizeof(aside))
		return -ENAMETOOLONG;
	pthread_mutex_lock(ref->lock);
	rc = meta_read(st, ref->user, ref->hash, NULL, 0, &m);
	if (rc < 0)
		goto unlock;
	if (!same_copy(st, ref, path, ver, index, seen)) {
		rc = seen ? -ENOENT : -EEXIST;
		goto out;
	}
	if (seen) {
		if (mkdirat(st->rootfd, "quarantine", 0700) < 0 && errno != EEXIST) {
			rc = -errno;
			goto out;
		}
		rc = seen->data ? keep_bytes(st->rootfd, aside, seen)
		     : renameat(st->rootfd, path, st->rootfd, aside) < 0 ? -errno
									 : 0;
		if (rc < 0)
			goto out;
		fsync_dir_at(st->rootfd, "quarantine");
		if (!seen->data)
			fsync_dir_at(st->rootfd, ref->dir);
	}
	/* drop_from_record points into held[] and lacking[]: keep what xdr_free must
	 * release, and the current record as the counts know it. */
	saved = m;
	if (m.previous.previous_len == 1)
		saved_prev = m.previous.previous_val[0];
	if (drop_from_record(&m, ver, index, self, held, lacking)) {
		rc = meta_write_ops(st, ref, &m, NULL, 0, &drop, seen && seen->data ? 1 : 0);
		if (rc == 0)
			counts_replace(st->counts, ref->user, &saved.current, &m.current);
	} else if (!seen) {
		rc = -ENOENT; /* no longer listed: nothing is missing */
	} else if (seen->data) {
		rc = records_apply(st->records, ref->user, ref->hash, &drop, 1);
	}
	m = saved;
	if (m.previous.previous_len == 1)
		m.previous.previous_val[0] = saved_prev;
out:
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
unlock:
	pthread_mutex_unlock(ref->lock);
	return rc;
}

int store_scrub_file(struct store *st, const char *user, const char *hash, unsigned self,
		     const struct store_pace *pace, struct store_scrub_tally *t)
{
	struct scrub_copy copies[2 * DFS_HELD_MAX];
	const dfs_file_info *kept[2];
	struct file_ref ref;
	unsigned n = 0;
	dfs_meta m;
	char *buf;
	int rc;

	if (store_check_user(user) < 0 || !hex_is_lower(hash, HASH_HEX))
		return -EINVAL;
	rc = ref_init(st, user, hash, &ref);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(ref.lock);
	rc = meta_read(st, ref.user, ref.hash, NULL, 0, &m);
	if (rc < 0) {
		pthread_mutex_unlock(ref.lock);
		return rc == -ENOENT ? 0 : rc;
	}
	kept[0] = m.current.deleted ? NULL : &m.current;
	kept[1] = m.previous.previous_len == 1 ? &m.previous.previous_val[0] : NULL;
	for (int v = 0; v < 2; v++) {
		for (u_int i = 0; kept[v] && i < kept[v]->chunks.chunks_len && i < DFS_HELD_MAX;
		     i++) {
			struct scrub_copy *c = &copies[n++];

			c->ver = kept[v]->ver;
			c->sum = kept[v]->chunks.chunks_val[i];
			copy_open(st, &ref, c->ver, c->sum.index, c->sum.size, &c->c);
		}
	}
	pthread_mutex_unlock(ref.lock);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	buf = malloc(READ_BUF);
	rc = buf ? 0 : -ENOMEM;
	for (unsigned i = 0; rc == 0 && i < n; i++) {
		struct scrub_copy *c = &copies[i];
		dfs_stat result;

		if (c->c.fd == -2)
			continue;
		if (!copy_held(&c->c)) {
			/* Listed but absent: unless a commit removed it meanwhile (the record
			 * no longer lists it), the record stops claiming it, for repair. */
			if (quarantine(st, &ref, c->ver, c->sum.index, NULL, self) == 0) {
				t->missing++;
				log_warn("scrub: user %s: chunk %u of version %016" PRIx64
					 " (%s) is missing; marked for repair",
					 user, c->sum.index, c->ver, hash);
			}
			continue;
		}
		result = verify_copy(&c->c, &c->sum, buf, pace);
		if (result == DFS_EAGAIN) {
			rc = -EINTR;
			break;
		}
		t->copies++;
		t->bytes += c->sum.size;
		if (result != DFS_OK && result != DFS_EBADMSG)
			continue;
		record_verified(st, &ref, c->ver, c->sum.index, &c->c, result);
		if (result == DFS_EBADMSG) {
			t->corrupt++;
			log_warn("scrub: user %s: chunk %u of version %016" PRIx64
				 " (%s) fails its checksum; moved to quarantine",
				 user, c->sum.index, c->ver, hash);
			if (quarantine(st, &ref, c->ver, c->sum.index, &c->c, self) < 0)
				log_warn("scrub: cannot quarantine %s/%016" PRIx64 ".%u", ref.dir,
					 c->ver, c->sum.index);
		}
	}
	for (unsigned i = 0; i < n; i++)
		copy_close(&copies[i].c);
	free(buf);
	return rc;
}

struct verified_list {
	const struct file_ref *ref;
	struct store *st;
	uint64_t ver;
	struct store_verified *out;
	unsigned *count;
};

/* Lists the verification of a chunk kept in the database, as store_verified does
 * those of chunk files. */
static void add_verified(unsigned index, const struct verify_state *vs, void *arg)
{
	struct verified_list *vl = arg;
	char path[PATH_BUF], file[32];
	struct inline_chunk ic;
	bool present;

	if (*vl->count >= DFS_HELD_MAX)
		return;
	for (unsigned i = 0; i < *vl->count; i++)
		if (vl->out[i].index == index)
			return;
	/* A copy rewritten as a file since is another copy. */
	chunk_name(file, sizeof(file), vl->ver, index);
	if (path_join(path, sizeof(path), vl->ref->dir, file) < 0 ||
	    faccessat(vl->st->rootfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return;
	present = records_chunk_read(vl->st->records, vl->ref->user, vl->ref->hash, vl->ver, index,
				     0, NULL, 0, &ic) == 0;
	if (present ? (uint64_t)ic.written_ns != vs->ino : vs->result != DFS_EBADMSG)
		return;
	vl->out[*vl->count] = (struct store_verified){index, vs->when_ns, vs->result};
	(*vl->count)++;
}

int store_verified(struct store *st, const char *user, const void *name, size_t name_len,
		   uint64_t ver, struct store_verified *out, unsigned *count)
{
	char prefix[20];
	struct verified_list vl;
	struct file_ref ref;
	struct dirent *de;
	dfs_meta m;
	DIR *d;
	int rc, dfd;

	*count = 0;
	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	rc = meta_read(st, ref.user, ref.hash, name, name_len, &m);
	if (rc < 0)
		return rc;
	rc = meta_version(&m, ver) ? 0 : missing_version(&m, ver);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	if (rc < 0)
		return rc;
	snprintf(prefix, sizeof(prefix), "%016" PRIx64 "-", ver);
	pthread_mutex_lock(ref.lock);
	d = opendir_at(st->rootfd, ref.dir);
	if (d == NULL)
		goto in_db;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL && *count < DFS_HELD_MAX) {
		char chunk[VERIFY_CHUNK_NAME];
		struct verify_state vs;
		struct stat sb;
		uint64_t v;
		unsigned k;
		bool tmp, present;

		if (strncmp(de->d_name, prefix, 17) != 0 ||
		    !verify_state_name(de->d_name, chunk, &tmp) || tmp ||
		    !parse_chunk_name(chunk, &v, &k) || verify_state_read(dfd, chunk, &vs) < 0)
			continue;
		present = fstatat(dfd, chunk, &sb, AT_SYMLINK_NOFOLLOW) == 0;
		/* A rewritten copy was never verified; a copy gone for another reason than
		 * its quarantine is simply not held. */
		if (present ? (uint64_t)sb.st_ino != vs.ino : vs.result != DFS_EBADMSG)
			continue;
		out[*count] = (struct store_verified){k, vs.when_ns, vs.result};
		(*count)++;
	}
	closedir(d);
in_db:
	vl = (struct verified_list){&ref, st, ver, out, count};
	rc = records_verified_each(st->records, ref.user, ref.hash, ver, add_verified, &vl);
	pthread_mutex_unlock(ref.lock);
	return rc;
}

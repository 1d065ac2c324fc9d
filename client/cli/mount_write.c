/* mount_write.c: dfs mount's files open for writing (staged in the cache folder, stored
 * with one put when flushed) and the operations that change files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mount_fs.h"

/* A new staged file for name in the cache folder; with fetch, holding the
 * stored file's bytes. */
static int stage_new(struct mount_state *m, const char *name, bool fetch, struct mount_file **out)
{
	struct mount_file *f = calloc(1, sizeof(*f));
	int rc = 0;

	*out = NULL;
	if (!f || !(f->name = strdup(name))) {
		free(f);
		return -ENOMEM;
	}
	pthread_mutex_init(&f->lock, NULL);
	snprintf(f->path, sizeof(f->path), "%s/stage-XXXXXX", m->cache_dir);
	f->fd = mkstemp(f->path);
	if (f->fd < 0) {
		rc = -errno;
		mount_log(m, "cannot create a file in %s: %s", m->cache_dir, strerror(errno));
		free(f->name);
		free(f);
		return rc;
	}
	if (fetch) {
		struct dfs_client *c = pool_get(m);

		/* The get replaces the file at path: open what it left there. */
		close(f->fd);
		f->fd = -1;
		rc = dfs_get(c, name, f->path);
		if (rc < 0 && rc != -ENOENT)
			mount_log(m, "fetching %s: %s", name, dfs_last_error(c));
		pool_put(m, c);
		if (rc == 0)
			f->fd = open(f->path, O_RDWR | O_CLOEXEC);
		if (rc == 0 && f->fd < 0)
			rc = -errno;
		if (rc < 0) {
			unlink(f->path);
			free(f->name);
			free(f);
			return fs_errno(rc);
		}
	}
	*out = f;
	return 0;
}

void mount_file_free(struct mount_file *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		unlink(f->path);
	}
	mount_read_end(f);
	dfs_close(f->reader);
	free(f->name);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Stores a staged file that changed since it was last stored (f->lock held). */
static int store(struct mount_state *m, struct mount_file *f)
{
	struct dfs_client *c;
	struct stat sb;
	int rc;

	if (!f->dirty)
		return 0;
	if (fstat(f->fd, &sb) < 0)
		return -errno;
	c = pool_get(m);
	rc = dfs_put(c, f->path, f->name);
	if (rc < 0)
		mount_log(m, "storing %s: %s", f->name, dfs_last_error(c));
	pool_put(m, c);
	if (rc == 0) {
		/* The put records the staged file's size and time. */
		tree_stored(m, f->name, (uint64_t)sb.st_size,
			    (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec);
		f->dirty = false;
	} else {
		tree_invalidate(m);
	}
	return fs_errno(rc);
}

/* The kept staged copy of name, taken out of the list, or NULL. */
static struct mount_file *take_recent(struct mount_state *m, const char *name)
{
	struct mount_file *f = NULL;

	pthread_mutex_lock(&m->tree_lock);
	for (unsigned i = 0; i < MOUNT_RECENT && !f; i++)
		if (m->recent[i] && strcmp(m->recent[i]->name, name) == 0) {
			f = m->recent[i];
			memmove(&m->recent[i], &m->recent[i + 1],
				(MOUNT_RECENT - 1 - i) * sizeof(m->recent[0]));
			m->recent[MOUNT_RECENT - 1] = NULL;
		}
	pthread_mutex_unlock(&m->tree_lock);
	return f;
}

/* Frees the kept copy of name, if any: a file being replaced or deleted makes
 * it stale, and its disk space and page cache serve the next staged file. */
static void drop_recent(struct mount_state *m, const char *name)
{
	struct mount_file *f = take_recent(m, name);

	if (f)
		mount_file_free(f);
}

/* Keeps a stored file staged for a rename that may follow (one copy per name);
 * frees the oldest kept. */
static void keep_recent(struct mount_state *m, struct mount_file *f)
{
	struct mount_file *old;

	drop_recent(m, f->name);
	pthread_mutex_lock(&m->tree_lock);
	old = m->recent[MOUNT_RECENT - 1];
	memmove(&m->recent[1], &m->recent[0], (MOUNT_RECENT - 1) * sizeof(m->recent[0]));
	m->recent[0] = f;
	pthread_mutex_unlock(&m->tree_lock);
	if (old)
		mount_file_free(old);
}

int mount_open_write(struct mount_state *m, const char *name, int flags, struct fuse_file_info *fi)
{
	struct mount_file *f;
	int rc;

	if (flags & O_TRUNC)
		drop_recent(m, name);
	rc = stage_new(m, name, !(flags & O_TRUNC), &f);
	if (rc < 0)
		return rc;
	/* A truncating open replaces the file even when nothing is written. */
	f->dirty = (flags & O_TRUNC) != 0;
	f->append = (flags & O_APPEND) != 0;
	tree_add_open(m, f);
	fi->fh = (uintptr_t)f;
	return 0;
}

int mount_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct mount_state *m = state();
	const char *name = name_of(path);
	struct mount_file *f;
	int rc;

	(void)mode;
	rc = dfs_name_check(name);
	if (rc < 0)
		return rc;
	drop_recent(m, name);
	rc = stage_new(m, name, false, &f);
	if (rc < 0)
		return rc;
	f->dirty = true;
	f->append = (fi->flags & O_APPEND) != 0;
	tree_add_open(m, f);
	fi->fh = (uintptr_t)f;
	return 0;
}

int mount_write(const char *path, const char *buf, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct mount_file *f = file_of(fi);
	size_t done = 0;
	int rc = 0;

	(void)path;
	if (f->fd < 0)
		return -EBADF;
	pthread_mutex_lock(&f->lock);
	if (f->append) {
		struct stat sb;

		if (fstat(f->fd, &sb) < 0)
			rc = -errno;
		else
			off = sb.st_size;
	}
	while (!rc && done < size) {
		ssize_t w = pwrite(f->fd, buf + done, size - done, off + (off_t)done);

		if (w < 0)
			rc = -errno;
		else
			done += (size_t)w;
	}
	if (done > 0)
		f->dirty = true;
	pthread_mutex_unlock(&f->lock);
	return rc < 0 ? rc : (int)done;
}

int mount_flush(const char *path, struct fuse_file_info *fi)
{
	struct mount_file *f = file_of(fi);
	int rc;

	(void)path;
	if (f->fd < 0)
		return 0;
	pthread_mutex_lock(&f->lock);
	rc = store(state(), f);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int mount_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	return mount_flush(path, fi);
}

void mount_forget_recent(struct mount_state *m)
{
	for (unsigned i = 0; i < MOUNT_RECENT; i++) {
		if (m->recent[i])
			mount_file_free(m->recent[i]);
		m->recent[i] = NULL;
	}
}

int mount_release(const char *path, struct fuse_file_info *fi)
{
	struct mount_state *m = state();
	struct mount_file *f = file_of(fi);
	bool stored;

	(void)path;
	if (f->fd < 0) {
		mount_file_free(f);
		return 0;
	}
	pthread_mutex_lock(&f->lock);
	/* Normally stored by the flush of close(); nobody hears this error. */
	stored = store(m, f) == 0;
	pthread_mutex_unlock(&f->lock);
	tree_remove_open(m, f);
	if (stored)
		keep_recent(m, f);
	else
		mount_file_free(f);
	return 0;
}

/* The staged copy of src for a rename: the one kept since it was stored
 * through this mount when the servers still record that very file (same
 * size and time), else a fetched one. */
static int stage_for_rename(struct mount_state *m, const char *src, const struct tree_entry *e,
			    struct mount_file **out)
{
	struct mount_file *f = take_recent(m, src);
	struct stat sb;

	if (f && fstat(f->fd, &sb) == 0 && (uint64_t)sb.st_size == e->size &&
	    (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec == e->mtime_ns) {
		*out = f;
		return 0;
	}
	if (f)
		mount_file_free(f);
	return stage_new(m, src, true, out);
}

int mount_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct mount_state *m = state();
	struct mount_file *f = fi ? file_of(fi) : NULL;
	int rc = 0;

	if (f && f->fd >= 0) {
		pthread_mutex_lock(&f->lock);
		if (ftruncate(f->fd, size) < 0)
			rc = -errno;
		else
			f->dirty = true;
		pthread_mutex_unlock(&f->lock);
		return rc;
	}
	/* Not open for writing here: fetch (unless emptied), cut, store. */
	rc = stage_new(m, name_of(path), size > 0, &f);
	if (rc < 0)
		return rc;
	if (ftruncate(f->fd, size) < 0)
		rc = -errno;
	f->dirty = true;
	if (!rc)
		rc = store(m, f);
	mount_file_free(f);
	return rc;
}

int mount_unlink(const char *path)
{
	struct mount_state *m = state();
	struct dfs_client *c;
	int rc;

	drop_recent(m, name_of(path));
	c = pool_get(m);
	rc = dfs_delete(c, name_of(path));

	if (rc < 0 && rc != -ENOENT)
		mount_log(m, "deleting %s: %s", name_of(path), dfs_last_error(c));
	pool_put(m, c);
	if (rc == 0 || rc == -ENOENT)
		tree_deleted(m, name_of(path));
	else
		tree_invalidate(m);
	return fs_errno(rc);
}

/* A file is renamed by storing it under the new name, then deleting the old
 * one: a failure in between leaves both. */
int mount_rename(const char *from, const char *to, unsigned int flags)
{
	struct mount_state *m = state();
	const char *src = name_of(from), *dst = name_of(to);
	struct tree_entry e, t;
	struct mount_file *f;
	int rc;

	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	rc = dfs_name_check(dst);
	if (rc < 0)
		return rc;
	rc = tree_lookup(m, src, &e);
	if (!rc)
		rc = tree_lookup(m, dst, &t);
	if (rc < 0)
		return fs_errno(rc);
	if (e.kind == TREE_NONE)
		return -ENOENT;
	if (t.kind != TREE_NONE && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (e.kind == TREE_DIR) {
		/* Only an empty folder made here is renamed; cp-and-delete does the rest. */
		if (t.kind != TREE_NONE || tree_has_children(m, src) != 0 ||
		    !tree_remove_dir(m, src))
			return -EXDEV;
		return tree_add_dir(m, dst);
	}
	if (t.kind == TREE_DIR)
		return -EISDIR;
	rc = stage_for_rename(m, src, &e, &f);
	if (rc < 0)
		return rc;
	free(f->name);
	f->name = strdup(dst);
	f->dirty = true;
	rc = f->name ? store(m, f) : -ENOMEM;
	mount_file_free(f);
	if (rc < 0)
		return rc;
	return mount_unlink(from);
}

/* mount_fs.c: dfs mount's FUSE operations: the tree, folders, opening files. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "mount_fs.h"

void mount_log(struct mount_state *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (m->foreground) {
		fputs("dfs: mount: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(LOG_WARNING, fmt, ap);
	}
	va_end(ap);
}

static void fill_stat(struct mount_state *m, const struct tree_entry *e, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	/* cp, cat and the like size their buffers by this: one FUSE request moves
	 * up to max_write (max_read) bytes instead of 128 KiB. */
	st->st_blksize = MOUNT_IO_SIZE;
	if (e->kind == TREE_DIR) {
		/* Folders are not stored: they show when the mount started. */
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		st->st_mtim.tv_sec = m->started_ns / 1000000000;
		st->st_mtim.tv_nsec = m->started_ns % 1000000000;
	} else {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = (off_t)e->size;
		st->st_blocks = (blkcnt_t)((e->size + 511) / 512);
		st->st_mtim.tv_sec = e->mtime_ns / 1000000000;
		st->st_mtim.tv_nsec = e->mtime_ns % 1000000000;
	}
	st->st_atim = st->st_ctim = st->st_mtim;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct mount_state *m = state();
	struct tree_entry e;
	int rc;

	if (fi && file_of(fi)) {
		struct mount_file *f = file_of(fi);
		struct stat sb;

		e = (struct tree_entry){.kind = TREE_FILE};
		if (f->fd >= 0 && fstat(f->fd, &sb) == 0) {
			e.size = (uint64_t)sb.st_size;
			e.mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
		} else if (f->reader) {
			dfs_reader_info(f->reader, &e.size, &e.mtime_ns, NULL);
		}
		fill_stat(m, &e, st);
		return 0;
	}
	rc = tree_lookup(m, name_of(path), &e);
	if (rc < 0)
		return fs_errno(rc);
	if (e.kind == TREE_NONE)
		return -ENOENT;
	fill_stat(m, &e, st);
	return 0;
}

struct dir_fill {
	struct mount_state *m;
	void *buf;
	fuse_fill_dir_t filler;
};

static void dir_entry(void *arg, const char *child, const struct tree_entry *e)
{
	struct dir_fill *d = arg;
	struct stat st;

	fill_stat(d->m, e, &st);
	d->filler(d->buf, child, &st, 0, 0);
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct mount_state *m = state();
	struct dir_fill d = {.m = m, .buf = buf, .filler = filler};
	struct tree_entry e;
	int rc;

	(void)off;
	(void)fi;
	(void)flags;
	rc = tree_lookup(m, name_of(path), &e);
	if (rc < 0)
		return fs_errno(rc);
	if (e.kind != TREE_DIR)
		return e.kind == TREE_NONE ? -ENOENT : -ENOTDIR;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	return fs_errno(tree_readdir(m, name_of(path), dir_entry, &d));
}

static int fs_mkdir(const char *path, mode_t mode)
{
	struct mount_state *m = state();
	const char *name = name_of(path);
	struct tree_entry e;
	int rc;

	(void)mode;
	rc = dfs_name_check(name);
	if (rc < 0)
		return rc;
	rc = tree_lookup(m, name, &e);
	if (rc < 0)
		return fs_errno(rc);
	if (e.kind != TREE_NONE)
		return -EEXIST;
	return tree_add_dir(m, name);
}

static int fs_rmdir(const char *path)
{
	struct mount_state *m = state();
	const char *name = name_of(path);
	struct tree_entry e;
	int rc;

	rc = tree_lookup(m, name, &e);
	if (rc < 0)
		return fs_errno(rc);
	if (e.kind != TREE_DIR)
		return e.kind == TREE_NONE ? -ENOENT : -ENOTDIR;
	rc = tree_has_children(m, name);
	if (rc != 0)
		return rc < 0 ? fs_errno(rc) : -ENOTEMPTY;
	return tree_remove_dir(m, name) ? 0 : -ENOENT;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	mount_raise_readahead(state());
	if ((fi->flags & O_ACCMODE) == O_RDONLY)
		return mount_open_read(state(), name_of(path), fi);
	return mount_open_write(state(), name_of(path), fi->flags, fi);
}

/* Modes, owners and times are not kept: a file's time is when it was stored. */
static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return 0;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)path;
	(void)uid;
	(void)gid;
	(void)fi;
	return 0;
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)path;
	(void)tv;
	(void)fi;
	return 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* An open with O_TRUNC arrives as one call, not a truncate storing an
	 * empty file first. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	/* One read in flight per open file, in increasing offsets: a file read
	 * in order is fetched in order, so its chunks' checksums are checked,
	 * and the window fetched ahead is the one the next reads need. */
	conn->want &= ~(unsigned)FUSE_CAP_ASYNC_READ;
	/* Bigger requests: fewer trips through the kernel per window and per store. */
	conn->max_readahead = MOUNT_IO_SIZE;
	conn->max_write = MOUNT_IO_SIZE;
	cfg->entry_timeout = MOUNT_LIST_TTL;
	cfg->attr_timeout = MOUNT_LIST_TTL;
	cfg->negative_timeout = 0;
	/* An unlinked open file is not renamed to .fuse_hidden (a rename here is a copy). */
	cfg->hard_remove = 1;
	cfg->kernel_cache = 0;
	return state();
}

const struct fuse_operations mount_operations = {
    .init = fs_init,
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .mkdir = fs_mkdir,
    .rmdir = fs_rmdir,
    .open = fs_open,
    .create = mount_create,
    .read = mount_read,
    .write = mount_write,
    .flush = mount_flush,
    .fsync = mount_fsync,
    .release = mount_release,
    .truncate = mount_truncate,
    .unlink = mount_unlink,
    .rename = mount_rename,
    .chmod = fs_chmod,
    .chown = fs_chown,
    .utimens = fs_utimens,
};

/* durable.c: writes that survive a crash: whole reads and writes, folders made
 * durably, files placed atomically, disk space checked and preallocated. */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "dirsync.h"
#include "hex.h"

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int write_all(int fd, const void *data, size_t len, uint64_t off)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return (errno == ENOSPC || errno == EDQUOT) ? -ENOSPC : -EIO;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

ssize_t read_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, p + got, len - got, (off_t)(off + got));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Makes the entry of path (relative to dirfd) in its parent folder durable. */
static int sync_parent(int dirfd, const char *path)
{
	char parent[PATH_BUF];
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return fsync_dir_at(dirfd, ".");
	if (slash == path)
		return fsync_dir_at(dirfd, "/");
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	return fsync_dir_at(dirfd, parent);
}

/* Creates every missing folder of path (relative to dirfd); with durable, makes
 * each new entry durable at once (else the caller runs sync_new_folders later
 * with *new_from: the length of the outermost folder created, 0 if none). */
int mkdirs_at(int dirfd, const char *path, bool durable, size_t *new_from)
{
	char buf[PATH_BUF];
	size_t len = strlen(path);

	if (new_from)
		*new_from = 0;
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	/* The usual cases in one call: the folder exists, or only it is missing. */
	if (mkdirat(dirfd, path, 0700) == 0) {
		if (new_from)
			*new_from = len;
		return durable ? sync_parent(dirfd, path) : 0;
	}
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		int rc = 0;

		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdirat(dirfd, buf, 0700) < 0) {
			if (errno != EEXIST)
				return -errno;
		} else {
			if (new_from && *new_from == 0)
				*new_from = i;
			if (durable)
				rc = sync_parent(dirfd, buf);
		}
		if (rc < 0)
			return rc;
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

/* Makes durable the entries of the folders mkdirs_at created in path (those at
 * least new_from long): each one's parent is flushed, the innermost one's own
 * entries being the caller's. Folders above them did not change. */
int sync_new_folders(int dirfd, const char *path, size_t new_from)
{
	char buf[PATH_BUF];
	char *slash;

	if (new_from == 0)
		return 0;
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	snprintf(buf, sizeof(buf), "%s", path);
	while (strlen(buf) >= new_from) {
		int rc;

		slash = strrchr(buf, '/');
		if (slash == NULL)
			return fsync_dir_at(dirfd, ".");
		*slash = '\0';
		rc = fsync_dir_at(dirfd, buf);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int random_tmp_name(char *out, size_t len)
{
	unsigned char rnd[8];
	char hex[17];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	hex_encode(rnd, sizeof(rnd), hex);
	snprintf(out, len, "%s%s", META_TMP_PREFIX, hex);
	return 0;
}

int new_file_open(struct new_file *nf, int dirfd)
{
	int rc;

	nf->dirfd = dirfd;
	nf->tmp[0] = '\0';
	nf->fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	nf->unnamed = nf->fd >= 0;
	if (nf->unnamed)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	rc = random_tmp_name(nf->tmp, sizeof(nf->tmp));
	if (rc < 0)
		return rc;
	nf->fd = openat(dirfd, nf->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	return nf->fd < 0 ? -errno : 0;
}

/* Names an unnamed file tmp (a fresh temporary name). */
static int new_file_link(struct new_file *nf, const char *name)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", nf->fd);
	return linkat(AT_FDCWD, proc, nf->dirfd, name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

/* Gives the file its final name and closes it. With replace an existing file of that
 * name is replaced atomically; without, it is kept and -EEXIST returned. */
int new_file_place(struct new_file *nf, const char *final, bool replace)
{
	int rc = 0;

	if (nf->unnamed) {
		rc = new_file_link(nf, final);
		if (rc == -EEXIST && replace) {
			rc = random_tmp_name(nf->tmp, sizeof(nf->tmp));
			if (rc == 0)
				rc = new_file_link(nf, nf->tmp);
		}
	}
	if (rc == 0 && nf->tmp[0]) {
		if (replace)
			rc = renameat(nf->dirfd, nf->tmp, nf->dirfd, final) < 0 ? -errno : 0;
		else
			rc = linkat(nf->dirfd, nf->tmp, nf->dirfd, final, 0) < 0 ? -errno : 0;
		if (rc < 0 || !replace)
			unlinkat(nf->dirfd, nf->tmp, 0);
		nf->tmp[0] = '\0';
	}
	close(nf->fd);
	nf->fd = -1;
	return rc;
}

void new_file_discard(struct new_file *nf)
{
	if (nf->fd >= 0)
		close(nf->fd);
	if (nf->tmp[0])
		unlinkat(nf->dirfd, nf->tmp, 0);
	nf->fd = -1;
}

/* Whether the rest of an upload, [done, size), fits in the free space now: a
 * full disk is reported before any data is sent. */
int check_space(int fd, uint64_t done, uint64_t size)
{
	struct statvfs vfs;

	if (size > done && fstatvfs(fd, &vfs) == 0 &&
	    size - done > (uint64_t)vfs.f_bavail * vfs.f_frsize)
		return -ENOSPC;
	return 0;
}

/* Preallocates bytes [done, end) of an upload. Asking the filesystem for more
 * than the free space would fill the disk for everyone else before it gave up,
 * so that is refused outright. */
int reserve_space(int fd, uint64_t done, uint64_t end)
{
	int err;

	if (end <= done)
		return 0;
	err = check_space(fd, done, end);
	if (err < 0)
		return err;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)done, (off_t)(end - done)) == 0)
		return 0;
	err = errno;
	/* Filesystems without preallocation simply get no early warning. */
	if (err == EOPNOTSUPP || err == ENOSYS || err == EINVAL)
		return 0;
	/* Give back whatever part of the reservation was made. */
	fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)done, (off_t)(end - done));
	if (err == ENOSPC || err == EDQUOT)
		return -ENOSPC;
	return err == EFBIG ? -EFBIG : -EIO;
}

/* get_local.c: the local side of a get: where the bytes go (through symbolic
 * links, into devices, FIFOs and sockets) and the attributes the file gets. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "internal.h"

#include "download.h"

static mode_t process_umask;

/* The umask, read without changing it: umask() would change it for every thread. */
static void read_umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	unsigned mask;

	process_umask = 022;
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Umask: %o", &mask) == 1) {
				process_umask = (mode_t)mask;
				fclose(f);
				return;
			}
		fclose(f);
	}
	process_umask = umask(022);
	umask(process_umask);
}

int get_finish_attributes(int fd, const dfs_file_info *info, bool set_mode)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct timespec times[2] = {{0, UTIME_OMIT},
				    {info->mtime_ns / 1000000000, info->mtime_ns % 1000000000}};

	if (set_mode) {
		pthread_once(&once, read_umask);
		if (fchmod(fd, 0666 & ~process_umask) < 0)
			return -errno;
	}
	return futimens(fd, times) < 0 ? -errno : 0;
}

/* Follows the symbolic link at path by hand, to the file it names even when
 * that file does not exist yet (realpath needs it to). */
static int follow_links(struct dfs_client *c, const char *path, char *out, size_t len)
{
	char cur[PATH_MAX], link[PATH_MAX], dir[PATH_MAX];
	struct stat sb;

	if (snprintf(cur, sizeof(cur), "%s", path) >= (int)sizeof(cur))
		return client_fail(c, -ENAMETOOLONG, "%s: path too long", path);
	for (int hops = 0; lstat(cur, &sb) == 0 && S_ISLNK(sb.st_mode); hops++) {
		ssize_t n = readlink(cur, link, sizeof(link) - 1);
		int w;

		if (hops == 40)
			return client_fail(c, -ELOOP, "%s: too many levels of symbolic links",
					   path);
		if (n < 0)
			return client_fail(c, -errno, "cannot read the link %s: %s", cur,
					   strerror(errno));
		link[n] = '\0';
		snprintf(dir, sizeof(dir), "%s", cur);
		w = link[0] == '/' ? snprintf(cur, sizeof(cur), "%s", link)
				   : snprintf(cur, sizeof(cur), "%s/%s", dirname(dir), link);
		if (w >= (int)sizeof(cur))
			return client_fail(c, -ENAMETOOLONG, "%s: path too long", path);
	}
	if (snprintf(out, len, "%s", cur) >= (int)len)
		return client_fail(c, -ENAMETOOLONG, "%s: path too long", path);
	return 0;
}

/* Where a get to path goes, as cp would see it: into a character device, FIFO
 * or socket (*special; the bytes are written into it, it is never replaced),
 * or to the regular file at *out, reached through any symbolic links (the link
 * stays, its target is replaced). */
int get_resolve_target(struct dfs_client *c, const char *path, char *out, size_t len, bool *special)
{
	struct stat sb;
	bool link = false;

	*special = false;
	/* Most targets are new files or plain ones: one lstat settles those. */
	if (lstat(path, &sb) < 0) {
		if (errno != ENOENT)
			return client_fail(c, -errno, "%s: %s", path, strerror(errno));
		return snprintf(out, len, "%s", path) >= (int)len
			   ? client_fail(c, -ENAMETOOLONG, "%s: path too long", path)
			   : 0;
	}
	if (S_ISLNK(sb.st_mode)) {
		link = true;
		if (stat(path, &sb) < 0) {
			if (errno != ENOENT)
				return client_fail(c, -errno, "%s: %s", path, strerror(errno));
			/* A dangling link: the file it names is created. */
			return follow_links(c, path, out, len);
		}
	}
	if (S_ISDIR(sb.st_mode))
		return client_fail(c, -EISDIR, "%s is a folder", path);
	if (S_ISBLK(sb.st_mode))
		return client_fail(c, -EPERM, "%s is a block device; dfs get does not write to one",
				   path);
	if (!S_ISREG(sb.st_mode)) {
		*special = true;
		return snprintf(out, len, "%s", path) >= (int)len
			   ? client_fail(c, -ENAMETOOLONG, "%s: path too long", path)
			   : 0;
	}
	if (link) {
		char real[PATH_MAX];

		/* realpath also sees through the kernel's own links (/dev/stdout). */
		if (!realpath(path, real))
			return client_fail(c, -errno, "%s: %s", path, strerror(errno));
		return snprintf(out, len, "%s", real) >= (int)len
			   ? client_fail(c, -ENAMETOOLONG, "%s: path too long", path)
			   : 0;
	}
	return snprintf(out, len, "%s", path) >= (int)len
		   ? client_fail(c, -ENAMETOOLONG, "%s: path too long", path)
		   : 0;
}

/* Copies the whole of fd to out_fd. */
int get_copy_out(struct dfs_client *c, int fd, int out_fd)
{
	char buf[65536];

	for (off_t pos = 0;;) {
		ssize_t r = pread(fd, buf, sizeof(buf), pos);

		if (r < 0)
			return client_fail(c, -errno, "reading back: %s", strerror(errno));
		if (r == 0)
			return 0;
		pos += r;
		for (ssize_t done = 0; done < r;) {
			ssize_t w = write(out_fd, buf + done, (size_t)(r - done));

			if (w < 0) {
				if (errno == EINTR)
					continue;
				return client_fail(c, -errno, "writing the output: %s",
						   strerror(errno));
			}
			done += w;
		}
	}
}

/* Opens the device, FIFO or socket at path for writing. */
int get_open_special(struct dfs_client *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat sb;
	int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);

	if (fd < 0 && errno == ENXIO && stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
		if (strlen(path) >= sizeof(sa.sun_path))
			return client_fail(c, -ENAMETOOLONG, "%s: path too long for a socket",
					   path);
		memcpy(sa.sun_path, path, strlen(path) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			int e = errno;

			close(fd);
			fd = -1;
			errno = e;
		}
	}
	if (fd < 0)
		return client_fail(c, -errno, "cannot open %s: %s", path, strerror(errno));
	/* A regular file put there meanwhile would be written over in place. */
	if (fstat(fd, &sb) < 0 || S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode)) {
		close(fd);
		return client_fail(c, -EAGAIN, "%s changed while it was being fetched", path);
	}
	return fd;
}

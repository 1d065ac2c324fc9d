/* get_dest.c: where a get into a folder may write. The name is taken apart
 * like a path (a leading '/' or a '.' or '..' part could climb out), its
 * folders are created one at a time without following links, and a symbolic
 * link at the path, or among the folders above it, must lead inside. */
#include "get_dest.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void get_dest_init(struct get_dest *d, const char *dir)
{
	memset(d, 0, sizeof(*d));
	d->dir = dir;
}

/* Whether real, a resolved path, is root or below it. */
static bool within(const char *root, const char *real)
{
	size_t n = strlen(root);

	if (strcmp(root, "/") == 0)
		return true;
	return strncmp(real, root, n) == 0 && (real[n] == '/' || real[n] == '\0');
}

static const char *bad_name(const char *name)
{
	const char *p = name;

	if (name[0] == '/')
		return "the name starts with '/'";
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return "the name has an empty, '.' or '..' part";
		p += n;
		if (*p)
			p++;
	}
	return NULL;
}

/* Creates the folders of name (all its components but the last) below dir,
 * one at a time relative to the one above, never through a symbolic link: a
 * component that exists as a link or as something other than a folder is
 * refused. NULL, or why not (in buf). */
static const char *make_folders(const char *dir, const char *name, char *buf, size_t len)
{
	const char *p = name, *slash;
	const char *why = NULL;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(buf, len, "cannot open the folder %s: %s", dir, strerror(errno));
		return buf;
	}
	while ((slash = strchr(p, '/')) != NULL) {
		char comp[256];
		size_t n = (size_t)(slash - p);
		int sub;

		if (n == 0 || n >= sizeof(comp)) {
			snprintf(buf, len, "the name has an empty or too long part");
			why = buf;
			break;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (mkdirat(fd, comp, 0777) < 0 && errno != EEXIST) {
			snprintf(buf, len, "cannot create the folder %.*s in %s: %s",
				 (int)(slash - name), name, dir, strerror(errno));
			why = buf;
			break;
		}
		sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			int e = errno;
			struct stat sb;

			/* O_DIRECTORY reports a link as ENOTDIR: say which it was. */
			if ((e == ENOTDIR || e == ELOOP) &&
			    fstatat(fd, comp, &sb, AT_SYMLINK_NOFOLLOW) == 0)
				e = S_ISLNK(sb.st_mode) ? ELOOP : ENOTDIR;
			snprintf(buf, len, "%s/%.*s %s", dir, (int)(slash - name), name,
				 e == ELOOP	? "is a symbolic link; folders are never followed"
				 : e == ENOTDIR ? "exists and is not a folder"
						: strerror(e));
			why = buf;
			break;
		}
		close(fd);
		fd = sub;
		p = slash + 1;
	}
	close(fd);
	return why;
}

/* The folders of name, made and checked once per folder: NULL or why not. */
static const char *check_folder(struct get_dest *d, const char *name, const char *path, char *buf,
				size_t len)
{
	const char *slash = strrchr(name, '/');
	size_t n = slash ? (size_t)(slash - name) : 0;
	char parent[PATH_MAX], real[PATH_MAX];
	const char *why;

	if (d->folder_ok && n == d->folder_len && memcmp(d->folder, name, n) == 0)
		return NULL;
	d->folder_ok = false;
	why = make_folders(d->dir, name, buf, len);
	if (why)
		return why;
	if (!d->have_root) {
		if (!realpath(d->dir, d->root))
			return NULL;
		d->have_root = true;
	}
	snprintf(parent, sizeof(parent), "%s", path);
	/* A folder that does not exist is left for the get to report. */
	if (!realpath(dirname(parent), real))
		return NULL;
	if (!within(d->root, real)) {
		snprintf(buf, len, "the folder of %s is outside %s", path, d->dir);
		return buf;
	}
	if (n < sizeof(d->folder)) {
		memcpy(d->folder, name, n);
		d->folder_len = n;
		d->folder_ok = true;
	}
	return NULL;
}

const char *get_dest_check(struct get_dest *d, const char *name, const char *path, char *buf,
			   size_t len)
{
	char real[PATH_MAX];
	const char *why = bad_name(name);
	struct stat sb;

	if (why)
		return why;
	why = check_folder(d, name, path, buf, len);
	if (why || !d->have_root)
		return why;
	/* The folder is inside: only a symbolic link at path can lead out. */
	if (lstat(path, &sb) < 0 || !S_ISLNK(sb.st_mode))
		return NULL;
	if (realpath(path, real)) {
		if (within(d->root, real))
			return NULL;
		snprintf(buf, len, "%s is a symbolic link out of %s", path, d->dir);
		return buf;
	}
	if (errno != ENOENT)
		return NULL;
	snprintf(buf, len, "%s is a symbolic link to nothing", path);
	return buf;
}

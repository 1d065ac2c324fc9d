/* repair_index.c: marker files under u/USER/lacking for files that need repair. */
#include "repair_index.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirsync.h"

#define INDEX_DIR "lacking"
#define BUILD_DIR "lacking.new"
#define HASH_LEN  64
#define PATH_LEN  512

static bool is_hash(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == HASH_LEN && s[n] == '\0';
}

/* Splits u/USER/HH/HASH into the user folder (u/USER) and HASH. */
static int split_dir(const char *dir, char udir[PATH_LEN], const char **hash)
{
	const char *slash = strrchr(dir, '/');
	const char *user_end;

	if (strncmp(dir, "u/", 2) != 0 || slash == NULL || !is_hash(slash + 1))
		return -EINVAL;
	user_end = strchr(dir + 2, '/');
	if (user_end == NULL || (size_t)(user_end - dir) >= PATH_LEN)
		return -EINVAL;
	memcpy(udir, dir, (size_t)(user_end - dir));
	udir[user_end - dir] = '\0';
	*hash = slash + 1;
	return 0;
}

/* Creates marker hash in the folder index (relative to rootfd); with durable, a new
 * marker is on disk before this returns. */
static int add_marker(int rootfd, const char *index, const char *hash, bool durable)
{
	char path[PATH_LEN];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", index, hash) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = openat(rootfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	close(fd);
	return durable ? fsync_dir_at(rootfd, index) : 0;
}

int repair_index_set(int rootfd, const char *dir, bool lacking)
{
	char udir[PATH_LEN], index[PATH_LEN], path[PATH_LEN];
	const char *hash;
	int rc = split_dir(dir, udir, &hash);

	if (rc < 0)
		return rc;
	if (snprintf(index, sizeof(index), "%s/" INDEX_DIR, udir) >= (int)sizeof(index) ||
	    snprintf(path, sizeof(path), "%s/%s", index, hash) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (!lacking)
		return unlinkat(rootfd, path, 0) == 0 || errno == ENOENT ? 0 : -errno;
	if (mkdirat(rootfd, index, 0700) == 0) {
		rc = fsync_dir_at(rootfd, udir);
		if (rc < 0)
			return rc;
	} else if (errno != EEXIST) {
		return -errno;
	}
	return add_marker(rootfd, index, hash, true);
}

int repair_index_each(int rootfd, const char *user, int (*fn)(const char *hash, void *arg),
		      void *arg)
{
	char index[PATH_LEN];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (snprintf(index, sizeof(index), "u/%s/" INDEX_DIR, user) >= (int)sizeof(index))
		return -ENAMETOOLONG;
	d = opendir_at(rootfd, index);
	if (d == NULL)
		return errno == ENOENT ? 0 : -EIO;
	while (rc == 0 && (de = readdir(d)) != NULL)
		if (is_hash(de->d_name))
			rc = fn(de->d_name, arg);
	closedir(d);
	return rc;
}

bool repair_index_exists(int rootfd, const char *user)
{
	char index[PATH_LEN];

	if (snprintf(index, sizeof(index), "u/%s/" INDEX_DIR, user) >= (int)sizeof(index))
		return false;
	return faccessat(rootfd, index, F_OK, 0) == 0;
}

int repair_index_build_start(int rootfd, const char *user)
{
	char build[PATH_LEN], path[PATH_LEN];
	struct dirent *de;
	DIR *d;

	if (snprintf(build, sizeof(build), "u/%s/" BUILD_DIR, user) >= (int)sizeof(build))
		return -ENAMETOOLONG;
	if (mkdirat(rootfd, build, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	/* Left by a start that stopped half-way: empty it. */
	d = opendir_at(rootfd, build);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (!is_hash(de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", build, de->d_name) < (int)sizeof(path))
			unlinkat(rootfd, path, 0);
	}
	closedir(d);
	return 0;
}

int repair_index_build_add(int rootfd, const char *user, const char *hash)
{
	char build[PATH_LEN];

	if (!is_hash(hash))
		return -EINVAL;
	if (snprintf(build, sizeof(build), "u/%s/" BUILD_DIR, user) >= (int)sizeof(build))
		return -ENAMETOOLONG;
	return add_marker(rootfd, build, hash, false);
}

int repair_index_build_publish(int rootfd, const char *user)
{
	char build[PATH_LEN], index[PATH_LEN], udir[PATH_LEN];
	int rc;

	if (snprintf(udir, sizeof(udir), "u/%s", user) >= (int)sizeof(udir) ||
	    snprintf(build, sizeof(build), "%s/" BUILD_DIR, udir) >= (int)sizeof(build) ||
	    snprintf(index, sizeof(index), "%s/" INDEX_DIR, udir) >= (int)sizeof(index))
		return -ENAMETOOLONG;
	rc = fsync_dir_at(rootfd, build);
	if (rc < 0)
		return rc;
	if (renameat(rootfd, build, rootfd, index) < 0)
		return -errno;
	return fsync_dir_at(rootfd, udir);
}

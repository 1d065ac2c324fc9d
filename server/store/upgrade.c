/* upgrade.c: the offline conversion of a data folder to the current format
 * (dfsd --upgrade-data).
 *
 * Format 1 kept each file's record as u/USER/HH/HASH/meta. The conversion copies
 * every record into DATA/records/ (keeping the time it was written), writes
 * FORMAT, and only then removes the meta files: until FORMAT says 2 the folder
 * is a whole format 1 folder, so an interrupted conversion is simply run again
 * (it starts from an empty records database). The repair index (u/USER/lacking/)
 * moves into the database too, built from the records. Chunk files, verification
 * records and quarantine stay as they are. */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rpc/rpc.h>

#include "dirsync.h"

struct conversion {
	uint64_t records, unreadable;
};

/* Copies one folder's meta into the records database. */
static int import_folder(struct store *st, const char *user, const char *hash, const char *dir,
			 void *arg)
{
	struct conversion *cv = arg;
	char path[PATH_BUF], buf[META_BUF + 1];
	struct stat sb;
	dfs_meta m;
	ssize_t n;
	int fd, rc;

	if (path_join(path, sizeof(path), dir, META_NAME) < 0)
		return 0;
	fd = openat(st->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = read_full(fd, buf, sizeof(buf), 0);
	if (n >= 0 && fstat(fd, &sb) < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	/* A record format 1 would not have read either stays where it is. */
	if (n > META_BUF || meta_decode(buf, (size_t)n, NULL, 0, hash, &m) < 0) {
		cv->unreadable++;
		return 0;
	}
	rc = records_import(st->records, user, hash, buf, (size_t)n,
			    m.current.lacking.lacking_len > 0,
			    (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	if (rc == 0)
		cv->records++;
	return rc;
}

/* Removes a converted folder's meta (and meta temporaries), once FORMAT says 2. */
static int remove_meta(struct store *st, const char *user, const char *hash, const char *dir,
		       void *arg)
{
	char path[PATH_BUF];
	dfs_meta m;

	(void)arg;
	if (path_join(path, sizeof(path), dir, META_NAME) < 0)
		return 0;
	/* An unreadable record was not converted: it stays for a human to look at. */
	if (meta_read(st, user, hash, NULL, 0, &m) < 0)
		return 0;
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	unlinkat(st->rootfd, path, 0);
	return 0;
}

/* Removes every u/USER/lacking/ (and lacking.new/) folder: format 1's repair index,
 * now in the database. */
static void remove_repair_index(int rootfd)
{
	static const char *const names[] = {"lacking", "lacking.new"};
	struct dirent *ue;
	DIR *ud = opendir_at(rootfd, "u");

	while (ud && (ue = readdir(ud)) != NULL) {
		if (store_check_user(ue->d_name) < 0)
			continue;
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			char dir[PATH_BUF];
			struct dirent *de;
			DIR *d;

			snprintf(dir, sizeof(dir), "u/%s/%s", ue->d_name, names[i]);
			d = opendir_at(rootfd, dir);
			while (d && (de = readdir(d)) != NULL)
				if (de->d_name[0] != '.')
					unlinkat(dirfd(d), de->d_name, 0);
			if (d) {
				closedir(d);
				unlinkat(rootfd, dir, AT_REMOVEDIR);
			}
		}
	}
	if (ud)
		closedir(ud);
}

/* Empties DATA/records/ left by an interrupted conversion. */
static int remove_records(int rootfd)
{
	static const char *const files[] = {"records/data.mdb", "records/lock.mdb"};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (unlinkat(rootfd, files[i], 0) < 0 && errno != ENOENT)
			return -errno;
	return 0;
}

int store_upgrade(const char *root, char *report, size_t reportlen, char *err, size_t errlen)
{
	struct store st = {.rootfd = -1};
	struct conversion cv = {0, 0};
	unsigned format = 0;
	int rc;

	report[0] = err[0] = '\0';
	st.rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st.rootfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open data folder %s: %s", root, strerror(-rc));
		return rc;
	}
	if (flock(st.rootfd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, errlen, "data folder %s is in use by a dfsd: stop it first", root);
		goto out;
	}
	rc = format_check(st.rootfd, root, &format, err, errlen);
	if (rc < 0)
		goto out;
	if (format == STORE_FORMAT) {
		snprintf(report, reportlen, "data folder %s already has format %d: nothing to do",
			 root, STORE_FORMAT);
		goto out;
	}
	rc = remove_records(st.rootfd);
	if (rc == 0)
		rc = records_open(&st.records, root);
	if (rc == 0)
		rc = walk_folders(&st, import_folder, &cv);
	if (rc >= 0)
		rc = records_import_end(st.records);
	if (rc < 0) {
		snprintf(err, errlen,
			 "cannot convert the records of %s: %s (it is still format %u)", root,
			 strerror(-rc), format);
		goto out;
	}
	/* The name index and the counts are rebuilt from the records at the next start. */
	unlinkat(st.rootfd, "names/CLEAN", 0);
	rc = format_write(st.rootfd);
	if (rc < 0) {
		snprintf(err, errlen, "cannot write %s/%s: %s (run the conversion again)", root,
			 FORMAT_NAME, strerror(-rc));
		goto out;
	}
	walk_folders(&st, remove_meta, &cv);
	remove_repair_index(st.rootfd);
	snprintf(report, reportlen,
		 "data folder %s converted from format %u to format %d: %" PRIu64
		 " records, %" PRIu64 " unreadable (left in place)",
		 root, format, STORE_FORMAT, cv.records, cv.unreadable);
out:
	records_close(st.records);
	close(st.rootfd);
	return rc;
}

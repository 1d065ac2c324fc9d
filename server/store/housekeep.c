/* housekeep.c: removing what is no longer needed: old tmp/ files, expired
 * tombstones and previous versions, abandoned staged chunks, empty folders. */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rpc/rpc.h>

#include "counts.h"
#include "dirsync.h"
#include "log.h"
#include "verify_state.h"

/* Removes regular files in tmp/ (all, or those older than max_age_s that no upload holds). */
int clean_tmp(int rootfd, bool all, unsigned max_age_s)
{
	DIR *d;
	struct dirent *de;
	int dir_fd, removed = 0;
	time_t now = time(NULL);

	d = opendir_at(rootfd, "tmp");
	if (d == NULL)
		return -errno;
	dir_fd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dir_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!all && (!S_ISREG(sb.st_mode) || now - sb.st_mtime < (time_t)max_age_s))
			continue;
		if (all) {
			if (unlinkat(dir_fd, de->d_name, S_ISDIR(sb.st_mode) ? AT_REMOVEDIR : 0) ==
			    0)
				removed++;
			continue;
		}
		/* An upload in progress holds a lock on its file: leave it. */
		fd = openat(dir_fd, de->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(dir_fd, de->d_name, 0) == 0)
			removed++;
		close(fd);
	}
	closedir(d);
	return removed;
}

/* User names, kept in the order they were added. */
struct user_list {
	char (*user)[USER_MAX + 1];
	size_t count, cap;
};

static int user_list_add(struct user_list *l, const char *user)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		void *grown = realloc(l->user, cap * sizeof(*l->user));

		if (grown == NULL)
			return -ENOMEM;
		l->user = grown;
		l->cap = cap;
	}
	snprintf(l->user[l->count++], sizeof(*l->user), "%s", user);
	return 0;
}

static int compare_user(const void *key, const void *elem)
{
	return strcmp(key, elem);
}

/* Whether user is in l, whose names are in strcmp order. */
static bool user_list_has(const struct user_list *l, const char *user)
{
	return l->count > 0 &&
	       bsearch(user, l->user, l->count, sizeof(*l->user), compare_user) != NULL;
}

struct housekeep {
	struct user_list seen; /* users the walk of the records met, in key order */
	time_t now;
	unsigned max_tmp_age_s;
	int64_t tombstone_before_ns;
	time_t previous_before; /* previous versions replaced before this go */
	int removed;
};

/* Drops m's previous version from its record when the record (rewritten at every
 * commit) was written before hk->previous_before; its chunk files are then no
 * longer kept. */
static void drop_previous(struct store *st, const struct file_ref *ref, dfs_meta *m,
			  int64_t written_ns, const struct housekeep *hk)
{
	dfs_meta gone;

	if (m->current.deleted || m->previous.previous_len == 0)
		return;
	if (written_ns / 1000000000 > (int64_t)hk->previous_before)
		return;
	memset(&gone, 0, sizeof(gone));
	gone.previous = m->previous;
	m->previous.previous_len = 0;
	m->previous.previous_val = NULL;
	if (meta_write(st, ref, m) < 0) {
		m->previous = gone.previous;
		return;
	}
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&gone);
}

/* Under the file's lock: removes an expired tombstone, or drops a previous version
 * kept long enough. Its chunk files go in the walk of the folders that follows. */
static int housekeep_record(struct store *st, const char *user, const char *hash, void *arg)
{
	struct housekeep *hk = arg;
	struct user_list *seen = &hk->seen;
	struct file_ref ref;
	int64_t written_ns;
	dfs_meta m;

	/* Records come in key order (USER NUL HASH): a user's are together, and
	 * users follow one another in strcmp order. */
	if ((seen->count == 0 || strcmp(seen->user[seen->count - 1], user) != 0) &&
	    user_list_add(seen, user) < 0)
		return -ENOMEM;
	if (ref_init(st, user, hash, &ref) < 0)
		return 0;
	pthread_mutex_lock(ref.lock);
	if (meta_read_written(st, user, hash, &m, &written_ns) < 0) {
		/* Gone meanwhile; an unreadable record is kept for a human to look at. */
		pthread_mutex_unlock(ref.lock);
		return 0;
	}
	/* A tombstone that names servers which missed the delete stays until repair has
	 * told them: expiring it earlier could let their copy come back. */
	if (m.current.deleted && m.current.lacking.lacking_len == 0 &&
	    m.current.mtime_ns <= hk->tombstone_before_ns) {
		if (meta_remove(st, &ref) == 0) {
			counts_replace(st->counts, user, &m.current, NULL);
			name_index_remove(st->names, user, m.current.name.dfs_name_val,
					  m.current.name.dfs_name_len, hash);
			hk->removed++;
		}
	} else {
		drop_previous(st, &ref, &m, written_ns, hk);
	}
	pthread_mutex_unlock(ref.lock);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return 0;
}

/* Cleans one file folder under its lock: chunk files no record keeps, their
 * verification records, leftovers of format 1's records, and the folder itself
 * once empty. */
static int housekeep_folder(struct store *st, const char *user, const char *hash, const char *dir,
			    void *arg)
{
	struct housekeep *hk = arg;
	pthread_mutex_t *lock = stripe(st, user, hash);
	dfs_meta m;
	bool have = false, empty = true;
	DIR *d = NULL;
	struct dirent *de;
	int dirfd, rc, removed = 0;

	pthread_mutex_lock(lock);
	rc = meta_read(st, user, hash, NULL, 0, &m);
	have = rc == 0;
	if (rc < 0 && rc != -ENOENT)
		goto out; /* an unreadable record is kept for a human to look at */
	dirfd = openat(st->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		goto out;
	d = fdopendir(dirfd);
	if (d == NULL) {
		close(dirfd);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		uint64_t v;
		unsigned k;
		char side_chunk[VERIFY_CHUNK_NAME];
		bool drop, side_tmp;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			empty = false;
			continue;
		}
		if (strcmp(de->d_name, META_NAME) == 0) {
			/* Format 1's record, left by a conversion cut short once it was
			 * copied; one it could not read has no copy and stays. */
			drop = have;
		} else if (strncmp(de->d_name, META_TMP_PREFIX, strlen(META_TMP_PREFIX)) == 0) {
			drop = true; /* a crash leftover of format 1 */
		} else if (parse_chunk_name(de->d_name, &v, &k)) {
			if (have && version_kept(&m, v))
				drop = false;
			else if (!have || v > m.current.ver)
				/* Staged for a put that has not committed yet, unless abandoned. */
				drop = hk->now - sb.st_mtime >= (time_t)hk->max_tmp_age_s;
			else
				drop = true;
		} else if (verify_state_name(de->d_name, side_chunk, &side_tmp)) {
			/* A record of a version no longer kept goes with the version. */
			drop = side_tmp || !parse_chunk_name(side_chunk, &v, &k) || !have ||
			       (!version_kept(&m, v) && v <= m.current.ver);
		} else {
			drop = false;
		}
		if (drop && unlinkat(dirfd, de->d_name, 0) == 0)
			removed++;
		else
			empty = false;
	}
	if (removed > 0)
		fsync(dirfd);
	closedir(d);
	if (empty && unlinkat(st->rootfd, dir, AT_REMOVEDIR) == 0) {
		char parent[PATH_BUF];
		char *slash;

		snprintf(parent, sizeof(parent), "%s", dir);
		slash = strrchr(parent, '/');
		if (slash) {
			*slash = '\0';
			fsync_dir_at(st->rootfd, parent);
		}
	}
out:
	pthread_mutex_unlock(lock);
	if (have)
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	hk->removed += removed;
	return 0;
}

/* Stops records_each at the first record. */
static int found_one(const char *user, const char *hash, void *arg)
{
	(void)user;
	(void)hash;
	*(bool *)arg = true;
	return 1;
}

/* Whether user has a record here: 1, 0 or -errno. */
static int has_records(struct store *st, const char *user)
{
	bool found = false;
	int rc = records_each(st->records, user, NULL, found_one, &found);

	return rc < 0 ? rc : found;
}

static int collect_user(const char *user, const struct count_totals *t, void *arg)
{
	(void)t;
	return user_list_add(arg, user);
}

/* Drops the counts of users who have none of their records left here: dfsadm
 * remove --purge deletes a user's records beside a running server, whose counts
 * would otherwise charge a new user of that name for files that are gone. Only a
 * counted user the walk of the records did not meet (seen) is looked at again, with
 * every file lock held, so that no commit can add their first record meanwhile. */
static int drop_counts_of_purged(struct store *st, const struct user_list *seen)
{
	static const struct count_totals none;
	struct user_list u = {0};
	int rc = counts_each(st->counts, collect_user, &u);

	for (size_t i = 0; rc >= 0 && i < u.count; i++) {
		if (user_list_has(seen, u.user[i]))
			continue;
		for (unsigned k = 0; k < STORE_LOCKS; k++)
			pthread_mutex_lock(&st->locks[k]);
		rc = has_records(st, u.user[i]);
		if (rc == 0) {
			rc = counts_set(st->counts, u.user[i], &none);
			if (rc == 0)
				log_info(
				    "housekeeping: %s has no records here any more; their counts "
				    "are dropped",
				    u.user[i]);
		}
		for (unsigned k = STORE_LOCKS; k-- > 0;)
			pthread_mutex_unlock(&st->locks[k]);
	}
	free(u.user);
	return rc < 0 ? rc : 0;
}

int store_housekeep(struct store *st, unsigned max_tmp_age_s, unsigned tombstone_ttl_s)
{
	struct store_retention r = {
	    .max_tmp_age_s = max_tmp_age_s,
	    .tombstone_ttl_s = tombstone_ttl_s,
	    .previous_ttl_s = UINT_MAX,
	};

	return store_housekeep_retention(st, &r);
}

int store_housekeep_retention(struct store *st, const struct store_retention *r)
{
	struct housekeep hk = {.seen = {0}};
	int rc;

	hk.now = time(NULL);
	hk.max_tmp_age_s = r->max_tmp_age_s;
	hk.tombstone_before_ns = now_ns() - (int64_t)r->tombstone_ttl_s * 1000000000;
	hk.previous_before =
	    r->previous_ttl_s >= (unsigned)hk.now ? 0 : hk.now - (time_t)r->previous_ttl_s;
	hk.removed = 0;
	mark_in_service(st->rootfd);
	rc = clean_tmp(st->rootfd, false, r->max_tmp_age_s);
	if (rc < 0)
		return rc;
	hk.removed += rc;
	rc = walk_records(st, housekeep_record, &hk);
	if (rc >= 0)
		rc = walk_folders(st, housekeep_folder, &hk);
	if (rc >= 0)
		rc = drop_counts_of_purged(st, &hk.seen);
	free(hk.seen.user);
	if (rc < 0)
		return rc;
	return hk.removed;
}

/* list.c: walks of the data folder: LIST paging, the STATUS counts (kept and
 * walked), and the count of files that need repair. */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <rpc/rpc.h>

#include "counts.h"
#include "dirsync.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the entries of dir (relative to dirfd) that are `len` hex digits and sort
 * after `after` (NULL: all), sorted. *out is freed by free_names. */
static int sorted_hex_names(int dirfd, const char *dir, size_t len, const char *after, char ***out,
			    size_t *count)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	*out = NULL;
	*count = 0;
	d = opendir_at(dirfd, dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : -EIO;
	while ((de = readdir(d)) != NULL) {
		if (!hex_is_lower(de->d_name, len))
			continue;
		if (after && strncmp(de->d_name, after, len) <= 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (nn == NULL) {
				rc = -ENOMEM;
				break;
			}
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc < 0) {
		while (n > 0)
			free(names[--n]);
		free(names);
		return rc;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_str);
	*out = names;
	*count = n;
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

struct hash_page {
	struct store *st;
	dfs_file_info *entries;
	unsigned max, count;
	char *next_cookie;
	bool more;
};

/* Takes one record into a LIST page, in hash order; stops at a full page. */
static int hash_page_add(const char *user, const char *hash, void *arg)
{
	struct hash_page *p = arg;
	dfs_meta m;

	if (meta_read(p->st, user, hash, NULL, 0, &m) < 0)
		return 0;
	if (p->count == p->max) {
		p->more = true;
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
		return 1;
	}
	p->entries[p->count++] = m.current;
	memset(&m.current, 0, sizeof(m.current));
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	memcpy(p->next_cookie, hash, HASH_HEX + 1);
	return 0;
}

int store_list(struct store *st, const char *user, const char *cookie, dfs_file_info *entries,
	       unsigned max, unsigned *count, char next_cookie[65], bool *eof)
{
	struct hash_page p = {st, entries, max, 0, next_cookie, false};
	int rc;

	*count = 0;
	*eof = false;
	next_cookie[0] = '\0';
	rc = store_check_user(user);
	if (rc < 0)
		return rc;
	if (max == 0)
		return -EINVAL;
	if (cookie == NULL)
		cookie = "";
	if (cookie[0] != '\0' && !hex_is_lower(cookie, HASH_HEX))
		return -EINVAL;
	memcpy(next_cookie, cookie, strlen(cookie) + 1);
	rc = records_each(st->records, user, cookie, hash_page_add, &p);
	if (rc < 0) {
		for (unsigned i = 0; i < p.count; i++)
			xdr_free((xdrproc_t)xdr_dfs_file_info, (char *)&entries[i]);
		return rc;
	}
	*count = p.count;
	*eof = !p.more;
	return 0;
}

struct name_page {
	struct store *st;
	const char *user;
	dfs_file_info *entries;
	unsigned max, count;
};

/* Takes the record of one index entry into the page; an entry whose record is gone
 * (removed, or never written after a failed commit) is skipped. */
static int page_add(const char *hash, const void *name, size_t len, void *arg)
{
	struct name_page *p = arg;
	struct file_ref ref;
	dfs_meta m;

	if (p->count == p->max)
		return 1;
	if (ref_init(p->st, p->user, hash, &ref) < 0 ||
	    meta_read(p->st, ref.user, ref.hash, name, len, &m) < 0)
		return 0;
	p->entries[p->count++] = m.current;
	memset(&m.current, 0, sizeof(m.current));
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return 0;
}

int store_list_names(struct store *st, const char *user, const void *prefix, size_t prefix_len,
		     const void *after, size_t after_len, dfs_file_info *entries, unsigned max,
		     unsigned *count, bool *eof)
{
	struct name_page p = {st, user, entries, max, 0};
	struct name_index_query q = {prefix_len ? prefix : "", after_len ? after : "", prefix_len,
				     after_len};
	int rc;

	*count = 0;
	*eof = false;
	rc = store_check_user(user);
	if (rc < 0)
		return rc;
	if (max == 0 || max > DFS_LIST_MAX || prefix_len > DFS_NAME_MAX || after_len > DFS_NAME_MAX)
		return -EINVAL;
	rc = name_index_scan(st->names, user, &q, page_add, &p, eof);
	if (rc < 0) {
		for (unsigned i = 0; i < p.count; i++)
			xdr_free((xdrproc_t)xdr_dfs_file_info, (char *)&entries[i]);
		return rc;
	}
	*count = p.count;
	return 0;
}

struct user_page {
	char (*users)[USER_MAX + 1];
	unsigned max, count;
};

static int user_add(const char *user, void *arg)
{
	struct user_page *p = arg;

	if (p->count == p->max)
		return 1;
	snprintf(p->users[p->count++], USER_MAX + 1, "%s", user);
	return 0;
}

int store_list_users(struct store *st, const char *after, char (*users)[65], unsigned max,
		     unsigned *count, bool *eof)
{
	struct user_page p = {users, max, 0};
	int rc;

	*count = 0;
	*eof = false;
	if (max == 0 || max > DFS_LIST_MAX || strlen(after) > USER_MAX)
		return -EINVAL;
	rc = name_index_users(st->names, after, user_add, &p, eof);
	/* Stopped by a full page: more may follow. */
	if (rc == 0 && p.count == max)
		*eof = false;
	*count = p.count;
	return rc;
}

static int count_lacking(const char *user, const char *hash, void *arg)
{
	uint64_t *files = arg;

	(void)user;
	(void)hash;
	(*files)++;
	return 0;
}

int store_lacking_files(struct store *st, const char *user, uint64_t *files)
{
	int rc;

	*files = 0;
	rc = store_check_user(user);
	if (rc < 0)
		return rc;
	return records_lacking_each(st->records, user, count_lacking, files);
}

/* Calls fn for each file folder u/USER/HH/HASH, stopping at a negative return. */
int walk_folders(struct store *st, folder_fn fn, void *arg)
{
	DIR *ud;
	struct dirent *ue;
	int rc = 0;

	ud = opendir_at(st->rootfd, "u");
	if (ud == NULL)
		return errno == ENOENT ? 0 : -EIO;
	while (rc >= 0 && (ue = readdir(ud)) != NULL) {
		char udir[PATH_BUF], hhdir[PATH_BUF], dir[PATH_BUF];
		char **hh = NULL;
		size_t nhh = 0;

		if (store_check_user(ue->d_name) < 0)
			continue;
		snprintf(udir, sizeof(udir), "u/%s", ue->d_name);
		rc = sorted_hex_names(st->rootfd, udir, 2, NULL, &hh, &nhh);
		for (size_t i = 0; rc >= 0 && i < nhh; i++) {
			char **files = NULL;
			size_t nfiles = 0;

			if (path_join(hhdir, sizeof(hhdir), udir, hh[i]) < 0)
				continue;
			rc = sorted_hex_names(st->rootfd, hhdir, HASH_HEX, NULL, &files, &nfiles);
			for (size_t j = 0; rc >= 0 && j < nfiles; j++) {
				if (strncmp(files[j], hh[i], 2) != 0 ||
				    path_join(dir, sizeof(dir), hhdir, files[j]) < 0)
					continue;
				rc = fn(st, ue->d_name, files[j], dir, arg);
			}
			free_names(files, nfiles);
		}
		free_names(hh, nhh);
	}
	closedir(ud);
	return rc;
}

struct record_walk {
	struct store *st;
	record_fn fn;
	void *arg;
};

static int walk_one(const char *user, const char *hash, void *arg)
{
	struct record_walk *w = arg;
	int rc = w->fn(w->st, user, hash, w->arg);

	return rc > 0 ? 0 : rc;
}

int store_each_file(struct store *st, const char *from_user, store_file_fn fn, void *arg)
{
	return records_each_from(st->records, from_user, fn, arg);
}

int walk_records(struct store *st, record_fn fn, void *arg)
{
	struct record_walk w = {st, fn, arg};

	return records_each(st->records, NULL, NULL, walk_one, &w);
}

static int stats_record(struct store *st, const char *user, const char *hash, void *arg)
{
	struct store_stats *s = arg;
	dfs_meta m;

	(void)user;
	if (meta_read(st, user, hash, NULL, 0, &m) < 0)
		return 0;
	if (!m.current.deleted) {
		s->files++;
		s->logical_bytes += m.current.size;
		s->chunks += m.current.chunks.chunks_len;
		for (u_int i = 0; i < m.current.chunks.chunks_len; i++)
			s->bytes += m.current.chunks.chunks_val[i].size;
		if (m.current.lacking.lacking_len > 0)
			s->chunks_need_repair += m.current.chunks.chunks_len;
	} else if (m.current.lacking.lacking_len > 0) {
		/* A delete some server missed: one repair item. */
		s->chunks_need_repair++;
	}
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return 0;
}

int store_stats_walk(struct store *st, struct store_stats *out)
{
	struct statvfs vfs;
	int rc;

	memset(out, 0, sizeof(*out));
	if (fstatvfs(st->rootfd, &vfs) < 0)
		return -errno;
	out->space_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	out->space_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	rc = walk_records(st, stats_record, out);
	return rc < 0 ? rc : 0;
}

/* Fills out from kept totals and the filesystem's space. */
static int stats_from(struct store *st, const struct count_totals *t, struct store_stats *out)
{
	struct statvfs vfs;

	memset(out, 0, sizeof(*out));
	if (fstatvfs(st->rootfd, &vfs) < 0)
		return -errno;
	out->space_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	out->space_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	out->files = t->files;
	out->chunks = t->chunks;
	out->bytes = t->bytes;
	out->logical_bytes = t->logical_bytes;
	out->chunks_need_repair = t->chunks_need_repair;
	return 0;
}

int store_stats(struct store *st, struct store_stats *out)
{
	struct count_totals t;

	counts_all(st->counts, &t);
	return stats_from(st, &t, out);
}

int store_user_stats(struct store *st, const char *user, struct store_stats *out)
{
	struct count_totals t;

	counts_user(st->counts, user, &t);
	return stats_from(st, &t, out);
}

/* store_internal.h: what the files of server/store/ share: the data folder's
 * names, struct store, and the helpers more than one of them uses. */
#ifndef DFS_STORE_INTERNAL_H
#define DFS_STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hex.h"
#include "store.h"

#define STORE_LOCKS  256
#define HASH_HEX     64
#define USER_MAX     64
#define META_BUF     16384 /* a record: two versions with names of up to 4 KiB */
#define READ_BUF     (1024 * 1024)
#define PATH_BUF     512
#define FORMAT_MAGIC "dfs-data "
#define FORMAT_NAME  "FORMAT"
#define META_NAME    "meta"
/* Temporary files in a file's folder; written only under the folder's lock, so one
 * seen under that lock is a crash leftover. */
#define META_TMP_PREFIX "meta.tmp."
#define IN_SERVICE_NAME "IN-SERVICE"

struct store {
	int rootfd;
	pthread_mutex_t locks[STORE_LOCKS];
	struct counts *counts;	  /* built at open, kept at every change of a record */
	struct name_index *names; /* every record's name, in order (name_index.c) */
	/* Held from the quota check to the count update of a commit under a
	 * limit, so that two commits of one user cannot both pass the check. */
	pthread_mutex_t quota_lock;
	struct trash *trash; /* chunk files moved aside, being removed (trash.c) */
};

/* Everything a per-file operation needs to find and lock a file's folder. */
struct file_ref {
	char user[USER_MAX + 1];
	char hash[HASH_HEX + 1];
	char dir[PATH_BUF]; /* relative to the root: u/USER/HH/HASH */
	pthread_mutex_t *lock;
};

/* A file written in a folder that appears there under its final name in one step:
 * unnamed (O_TMPFILE) until placed where the file system allows, else under a
 * temporary name. An unnamed file needs no entry in the folder until it is
 * placed, so writers in one folder do not queue behind each other's creation. */
struct new_file {
	int dirfd, fd;
	bool unnamed;
	char tmp[32];
};

/* layout.c: names, paths and locks of the data folder. */
/* 0, or -EINVAL for a bad user name (names.h) or NULL. */
int store_check_user(const char *user);
/* The lock of a file's folder: one of STORE_LOCKS, chosen by user and name hash. */
pthread_mutex_t *stripe(struct store *st, const char *user, const char *hash);
/* Fills ref for the folder of (user, hash), both already checked. */
int ref_init(struct store *st, const char *user, const char *hash, struct file_ref *ref);
int ref_for(struct store *st, const char *user, const void *name, size_t name_len,
	    struct file_ref *ref);
int path_join(char *out, size_t len, const char *a, const char *b);
/* The file name of chunk index of version ver: "VVVVVVVVVVVVVVVV.K". */
void chunk_name(char *out, size_t outlen, uint64_t ver, unsigned index);
bool parse_chunk_name(const char *s, uint64_t *ver, unsigned *index);
void mark_in_service(int rootfd);

/* durable.c: I/O that survives a crash. */
/* The wall clock in nanoseconds since the epoch. */
int64_t now_ns(void);
/* Writes all of data at off: 0, -ENOSPC (disk or quota full) or -EIO. */
int write_all(int fd, const void *data, size_t len, uint64_t off);
/* Reads up to len bytes at off, fewer only at the end of the file: the count or -EIO. */
ssize_t read_full(int fd, void *buf, size_t len, uint64_t off);
int mkdirs_at(int dirfd, const char *path, bool durable, size_t *new_from);
int sync_new_folders(int dirfd, const char *path, size_t new_from);
/* Creates a file in the folder dirfd, to be placed by new_file_place. 0 or -errno. */
int new_file_open(struct new_file *nf, int dirfd);
int new_file_place(struct new_file *nf, const char *final, bool replace);
/* Closes and removes a file not placed; harmless after new_file_place. */
void new_file_discard(struct new_file *nf);
int check_space(int fd, uint64_t done, uint64_t size);
int reserve_space(int fd, uint64_t done, uint64_t end);

/* record.c: a file's record (dir/meta). */
int meta_read(int rootfd, const char *dir, const void *name, size_t name_len, const char *hash,
	      dfs_meta *out);
int meta_write_with(int rootfd, const char *dir, const dfs_meta *meta, const int *flush_too,
		    int nflush);
int meta_write(int rootfd, const char *dir, const dfs_meta *meta);
const dfs_file_info *meta_version(const dfs_meta *m, uint64_t ver);
bool version_kept(const dfs_meta *m, uint64_t v);
int remove_old_chunks(struct store *st, const char *dir, const dfs_meta *m, uint64_t below,
		      bool later);
int missing_version(const dfs_meta *m, uint64_t ver);

/* trash.c: chunk files removed after the call that no longer needs them. */
struct trash;
/* Starts the thread that removes what trash_file moves aside. 0 or -errno. */
int trash_start(struct store *st);
/* Stops it; what it has not removed yet goes at the next start (tmp/ is emptied). */
void trash_stop(struct store *st);
/* Moves dir_fd/name into tmp/, to be removed soon; where it cannot, removes it
 * now. 0 or -errno. */
int trash_file(struct store *st, int dir_fd, const char *name);

/* list.c: walks of the data folder. */
typedef int (*folder_fn)(struct store *st, const char *user, const char *hash, const char *dir,
			 void *arg);
/* Calls fn for each file folder u/USER/HH/HASH, stopping at a negative return. */
int walk_folders(struct store *st, folder_fn fn, void *arg);

/* name_index.c: the name index (see there). */
struct name_index;
/* Opens DATA/names; *rebuild tells that it was emptied and must be refilled with
 * name_index_add for every record (in one transaction, before any other use),
 * then name_index_refilled. 0 or -errno. */
int name_index_open(struct name_index **out, int rootfd, const char *root, bool *rebuild);
int name_index_refilled(struct name_index *n);
/* The counts (counts.h), kept beside the names under the same rule: saved at a
 * clean stop, loaded (into empty counts) at the next start if the index is
 * trusted; -ENOENT when none were saved. Either is 0 or -errno. */
int name_index_save_counts(struct name_index *n, struct counts *c);
int name_index_load_counts(struct name_index *n, struct counts *c);
/* Closes the index; with clean, flushed and marked clean first. NULL is fine. */
void name_index_close(struct name_index *n, int rootfd, bool clean);
/* Adds or replaces (user, name) -> hash; before the record is first written. */
int name_index_add(struct name_index *n, const char *user, const void *name, size_t len,
		   const char *hash);
/* Removes the entry; after the record is removed. */
int name_index_remove(struct name_index *n, const char *user, const void *name, size_t len,
		      const char *hash);
struct name_index_query {
	const void *prefix, *after; /* names beginning with prefix, strictly after `after` */
	size_t prefix_len, after_len;
};
/* Called in name order; returns 0 to go on, 1 to stop (the entry not taken), or
 * -errno. name points into the index: valid only during the call. */
typedef int (*name_index_fn)(const char *hash, const void *name, size_t len, void *arg);
/* Calls fn for each of user's entries q selects, in byte order of the names. *eof
 * is set when no entry is left (fn never stopped the scan). */
int name_index_scan(struct name_index *n, const char *user, const struct name_index_query *q,
		    name_index_fn fn, void *arg, bool *eof);
/* Calls fn with each user who has entries, in byte order, after `after` ("" for
 * all), until fn returns nonzero (negative: an error, returned). *eof when the
 * users ran out. 0 or -errno. */
typedef int (*name_index_user_fn)(const char *user, void *arg);
int name_index_users(struct name_index *n, const char *after, name_index_user_fn fn, void *arg,
		     bool *eof);

/* housekeep.c: clean-up of the data folder. */
int clean_tmp(int rootfd, bool all, unsigned max_age_s);

#endif

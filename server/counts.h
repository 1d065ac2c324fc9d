/* counts.h: what a server stores, per user and in all, kept up to date at every
 * change of a file's record so that STATUS costs the same however many files
 * there are.
 *
 * A file counts by its current record: a live file is one file, its chunk copies
 * here and their bytes, and needs repair (each chunk) when the record names a
 * server that lacks it; a tombstone that names such a server is one item to
 * repair. Thread-safe.
 */
#ifndef DFS_COUNTS_H
#define DFS_COUNTS_H

#include <stdint.h>
#include "dfs_prot.h"

struct counts;

struct count_totals {
	uint64_t files, chunks, bytes, chunks_need_repair;
	uint64_t logical_bytes; /* sum of the whole sizes of the live files */
};

/* 0 or -ENOMEM. */
int counts_new(struct counts **out);
void counts_free(struct counts *c);

/* Records that user's file changed from old to new (its current record before
 * and after; NULL for none). -ENOMEM if a new user could not be added (the
 * totals are then left as they were). */
int counts_replace(struct counts *c, const char *user, const dfs_file_info *old,
		   const dfs_file_info *new_info);

/* Sets a user's totals as counted before (a user not yet counted): 0 or -ENOMEM. */
int counts_set(struct counts *c, const char *user, const struct count_totals *t);
/* Calls fn for each user with files or repair items, under the lock (fn must not
 * call back); stops at a negative return, which it returns. */
int counts_each(struct counts *c,
		int (*fn)(const char *user, const struct count_totals *t, void *arg), void *arg);

/* The totals of one user (zero for a user with no files), or of every user. */
void counts_user(struct counts *c, const char *user, struct count_totals *out);
void counts_all(struct counts *c, struct count_totals *out);

#endif

/* list_merge.h: the records servers list, and their merging into the user's files. */
#ifndef DFS_CLIENT_LIST_MERGE_H
#define DFS_CLIENT_LIST_MERGE_H

#include "internal.h"

/* One record from one server (1-based). */
struct record {
	unsigned server;
	dfs_file_info info;
};

struct records {
	struct record *v;
	size_t count, cap;
};

/* Appends a record, taking over info's decoded buffers. 0 or -ENOMEM. */
DFS_INTERNAL int records_add(struct records *rs, unsigned server, dfs_file_info *info);
DFS_INTERNAL void records_free(struct records *rs);
/* Frees the records from index `from` on. */
DFS_INTERNAL void records_truncate(struct records *rs, size_t from);
/* Sorts the records by name, bytewise, the newest version of a name first. */
DFS_INTERNAL void records_sort(struct records *rs);
/* The bytewise order of two names (<0, 0, >0), a name before those it begins. */
DFS_INTERNAL int list_name_cmp(const char *a, u_int alen, const char *b, u_int blen);
/* How many files records_merge would show (not deleted) from the first end
 * records, sorted; now is this host's clock. */
DFS_INTERNAL size_t records_count_live(const struct records *rs, size_t end, unsigned nservers,
				       uint64_t now);
/* Sorts and merges the records of the answered servers that listed them into
 * list->files: the newest believed version of each name; with
 * include_deleted, tombstones and names a single server reports too; at most
 * limit files (0: all). Warns about names left unconfirmed. 0 or -ENOMEM. */
DFS_INTERNAL int records_merge(struct dfs_client *c, struct records *rs, unsigned answered,
			       bool include_deleted, size_t limit, struct dfs_file_list *list);

#endif

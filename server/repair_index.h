/* repair_index.h: per user, the files whose record names servers that lack them.
 *
 * u/USER/lacking/HASH is an empty marker for each file whose current record lists
 * a lacking server, so that REPAIR_HINTS, asked at every login, reads only those
 * records instead of all of them. A marker is set (durably) before the record
 * that needs it and cleared after the record that no longer does: the markers
 * cover every such file, and a stale one is dropped when it is found. */
#ifndef DFS_REPAIR_INDEX_H
#define DFS_REPAIR_INDEX_H

#include <stdbool.h>

/* Sets or clears the marker of the file folder dir (u/USER/HH/HASH, relative to
 * rootfd). 0 or -errno. */
int repair_index_set(int rootfd, const char *dir, bool lacking);

/* Calls fn with the hash of each marked file of user until it returns non-zero;
 * returns that value, 0, or -errno. A user without an index has no markers. */
int repair_index_each(int rootfd, const char *user, int (*fn)(const char *hash, void *arg),
		      void *arg);

/* Whether user's index exists (a folder written before indexes has none). */
bool repair_index_exists(int rootfd, const char *user);

/* Building the index of an existing user folder: start (an empty index under a
 * temporary name), add a marker, then publish it under its real name. */
int repair_index_build_start(int rootfd, const char *user);
int repair_index_build_add(int rootfd, const char *user, const char *hash);
int repair_index_build_publish(int rootfd, const char *user);

#endif

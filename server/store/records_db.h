/* records_db.h: what records.c (reading) and records_write.c (group commit) share:
 * the database handle, the layout of its keys and values.
 *
 * The database of a data folder (DATA/records/) has four tables:
 *   records:  USER NUL HASH -> WHEN, then the record's XDR (dfs_meta)
 *   lacking:  USER NUL HASH -> nothing: the record names a server that lacks the file
 *   chunks:   USER NUL HASH VER K -> WHEN, then the chunk's bytes
 *   verified: USER NUL HASH VER K -> the chunk's WHEN, the time of the check, its result
 * HASH is the 64 hex digits of the name's SHA-256, VER 8 bytes big-endian (so a
 * file's chunks sort by version), K one byte, WHEN 8 bytes little-endian: the time
 * of the write in nanoseconds since the epoch. */
#ifndef DFS_RECORDS_DB_H
#define DFS_RECORDS_DB_H

#include <errno.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <string.h>

#include "store_internal.h"

#define FILE_KEY (USER_MAX + 1 + HASH_HEX)
#define KEY_MAX	 (FILE_KEY + 8 + 1)

struct records {
	MDB_env *env;
	MDB_dbi records, lacking, chunks, verified;
	pthread_mutex_t lock;
	pthread_cond_t flushed;
	struct rec_change *queue, **tail; /* waiting for the next flush */
	bool flushing;
	MDB_txn *import; /* records_import's transaction, not committed yet */
	unsigned import_count;
	atomic_llong unmapped_ns; /* when the map's pages were last dropped (records_used) */
	void *map;		  /* where the database file is mapped */
	size_t map_len;
};

static inline int lmdb_errno(int rc)
{
	if (rc == MDB_MAP_FULL)
		return -ENOSPC;
	if (rc == ENOMEM || rc == ENOSPC || rc == EACCES || rc == EIO)
		return -rc;
	return -EIO;
}

static inline size_t file_key(const char *user, const char *hash, unsigned char *key)
{
	size_t ulen = strlen(user);

	memcpy(key, user, ulen + 1);
	memcpy(key + ulen + 1, hash, HASH_HEX);
	return ulen + 1 + HASH_HEX;
}

static inline size_t chunk_key(const char *user, const char *hash, uint64_t ver, unsigned index,
			       unsigned char *key)
{
	size_t n = file_key(user, hash, key);

	for (int i = 7; i >= 0; i--, ver >>= 8)
		key[n + (size_t)i] = (unsigned char)ver;
	key[n + 8] = (unsigned char)index;
	return n + 9;
}

static inline uint64_t chunk_key_ver(const unsigned char *key, size_t file_len)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | key[file_len + (size_t)i];
	return v;
}

static inline void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static inline uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Called before a use of the map: once a second at most, drops the map's pages from the
 * process (MADV_DONTNEED on the shared read-only map: they stay in the page cache
 * and come back at the next touch), so that the server's memory does not grow
 * with the database, as with data read by pread. */
void records_used(struct records *r);

/* Opens the database of the data folder root, creating it with create. 0 or -errno
 * (-ENOENT when there is none and create is false). */
int records_open_env(struct records **out, const char *root, bool create);

#endif

/* lmdb_env.h: opening an LMDB environment of the data folder with its tables, as the
 * records database and the name index both do. */
#ifndef DFS_LMDB_ENV_H
#define DFS_LMDB_ENV_H

#include <lmdb.h>
#include <stddef.h>

/* Opens the environment in folder path (map of map_size bytes, flags for
 * mdb_env_open) and, in a write transaction left open in *txn, the n tables
 * names[i] into dbis[i], creating them. 0, or an LMDB error with nothing left
 * open. */
int lmdb_env_open(const char *path, size_t map_size, unsigned flags, const char *const *names,
		  MDB_dbi *dbis, unsigned n, MDB_env **env, MDB_txn **txn);

#endif

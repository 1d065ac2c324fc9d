/* lmdb_env.c: opening an LMDB environment with its tables. */
#include "lmdb_env.h"

/* Read transactions at once: one per connection thread and helper, with room. */
#define MAX_READERS 1024

int lmdb_env_open(const char *path, size_t map_size, unsigned flags, const char *const *names,
		  MDB_dbi *dbis, unsigned n, MDB_env **env, MDB_txn **txn)
{
	int rc = mdb_env_create(env);

	*txn = NULL;
	if (rc != 0)
		return rc;
	rc = mdb_env_set_mapsize(*env, map_size);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(*env, MAX_READERS);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(*env, n);
	if (rc == 0)
		rc = mdb_env_open(*env, path, flags, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(*env, NULL, 0, txn);
	for (unsigned i = 0; rc == 0 && i < n; i++)
		rc = mdb_dbi_open(*txn, names[i], MDB_CREATE, &dbis[i]);
	if (rc != 0) {
		if (*txn)
			mdb_txn_abort(*txn);
		*txn = NULL;
		mdb_env_close(*env);
		*env = NULL;
	}
	return rc;
}

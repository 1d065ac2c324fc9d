/* delete.c: deletes, written as tombstones. */
#include "store_internal.h"

#include <errno.h>
#include <string.h>

#include <rpc/rpc.h>

#include "counts.h"

/* Whether two server lists name the same servers (each without repeats). */
static bool same_servers(const unsigned *a, unsigned na, const unsigned *b, unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++) {
		bool found = false;

		for (unsigned j = 0; j < nb && !found; j++)
			found = a[i] == b[j];
		if (!found)
			return false;
	}
	return true;
}

int store_delete(struct store *st, const char *user, const void *name, size_t name_len,
		 uint64_t ver, const unsigned *lacking, unsigned nlacking)
{
	struct file_ref ref;
	dfs_meta old, m;
	bool have_old = false, was_live;
	int rc;

	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	if (ver == 0)
		return -EINVAL;
	pthread_mutex_lock(ref.lock);
	rc = meta_read(st, ref.user, ref.hash, name, name_len, &old);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	have_old = rc == 0;
	was_live = have_old && !old.current.deleted;
	if (was_live && old.current.ver > ver) {
		rc = -ESTALE;
		goto out;
	}
	if (have_old && old.current.deleted && old.current.ver > ver) {
		rc = -ENOENT;
		goto out;
	}
	if (have_old && old.current.deleted && old.current.ver == ver) {
		/* The same delete again: only its list of servers that miss it can change
		 * (repair shrinks it once they have the tombstone). */
		if (!same_servers(old.current.lacking.lacking_val, old.current.lacking.lacking_len,
				  lacking, nlacking)) {
			m = old;
			m.current.lacking.lacking_val = (unsigned *)lacking;
			m.current.lacking.lacking_len =
			    nlacking <= DFS_SERVERS_MAX ? nlacking : DFS_SERVERS_MAX;
			rc = meta_write(st, &ref, &m);
			if (rc < 0)
				goto out;
			counts_replace(st->counts, ref.user, &old.current, &m.current);
		}
		rc = -ENOENT;
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.format = RECORD_FORMAT;
	m.current.name.dfs_name_len = (u_int)name_len;
	m.current.name.dfs_name_val = (char *)name;
	m.current.ver = ver;
	m.current.deleted = TRUE;
	m.current.mtime_ns = now_ns();
	m.current.nchunks = have_old ? old.current.nchunks : 0;
	m.current.lacking.lacking_val = (unsigned *)lacking;
	m.current.lacking.lacking_len = nlacking <= DFS_SERVERS_MAX ? nlacking : DFS_SERVERS_MAX;
	rc = have_old ? 0 : name_index_add(st->names, ref.user, name, name_len, ref.hash);
	if (rc < 0)
		goto out;
	rc = meta_write(st, &ref, &m);
	if (rc < 0)
		goto out;
	counts_replace(st->counts, ref.user, have_old ? &old.current : NULL, &m.current);
	/* Staged chunks of a newer version belong to a put that may still commit after
	 * this delete; everything up to the tombstone goes. */
	remove_old_chunks(st, ref.dir, &m, ver == UINT64_MAX ? ver : ver + 1, false);
	rc = was_live ? 0 : -ENOENT;
out:
	pthread_mutex_unlock(ref.lock);
	if (have_old)
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&old);
	return rc;
}

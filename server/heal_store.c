/* heal_store.c: where recovery writes this server's own copies: into the store
 * directly, as PUT_BEGIN, PUT_BLOCK, PUT_END and COMMIT would, without the
 * round trip through this server's own RPC service. The bytes downloaded from
 * a neighbour go straight into the staged chunk file. */
#include <errno.h>
#include <string.h>
#include "dfs_peer.h"
#include "heal.h"
#include "server.h"
#include "store.h"

static int open_chunk(void *arg, const char *user, const char *name, uint64_t ver, unsigned index,
		      uint64_t size, void **handle)
{
	struct server *srv = arg;
	struct store_upload *up = NULL;
	uint64_t staged = 0;
	int fd, rc;

	rc = store_upload_begin(srv->store, user, name, strlen(name), ver, index, size, &up,
				&staged);
	if (rc < 0)
		return rc;
	fd = store_upload_fd(up);
	if (fd < 0) {
		store_upload_abort(up);
		return fd;
	}
	*handle = up;
	return fd;
}

static int close_chunk(void *arg, void *handle, bool keep)
{
	(void)arg;
	if (!keep) {
		store_upload_abort(handle);
		return 0;
	}
	return store_upload_finish_written(handle);
}

static int commit(void *arg, const char *user, const dfs_file_info *info)
{
	struct server *srv = arg;
	int rc = store_commit(srv->store, user, info);

	/* As a commit by RPC would, remember whom to tell they lack the version. */
	if (rc == 0)
		server_note_lacking(srv, info->lacking.lacking_val, info->lacking.lacking_len);
	return rc;
}

void heal_store_init(struct dfs_peer_store *out, struct server *srv)
{
	*out = (struct dfs_peer_store){open_chunk, close_chunk, commit, srv};
}

/* dfs_peer.h: libdfs as a server uses it to recover from the others (dfsd
 * links it statically; not part of the shared library's interface).
 *
 * The client presents the server's own certificate, and opens sessions with
 * PEER_LOGIN for one user at a time: read-only on the other servers, so a
 * pass writes only to the server running it. */
#ifndef DFS_PEER_H
#define DFS_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dfs_prot.h"

struct dfs_client;

/* How the server running the client writes its own copies: straight into its
 * store, not through its own RPC service (no second trip through TLS). */
struct dfs_peer_store {
	/* Opens chunk index of version ver of user's file name, size bytes, for
	 * writing: a descriptor the chunk's bytes are written to at their offsets,
	 * and in *handle what close_chunk needs. -errno if it cannot. */
	int (*open_chunk)(void *arg, const char *user, const char *name, uint64_t ver,
			  unsigned index, uint64_t size, void **handle);
	/* Ends what open_chunk began: with keep (every byte was written and
	 * checked against the chunk's checksum), flushes the chunk and puts it in
	 * place; else discards it. 0 or -errno. */
	int (*close_chunk)(void *arg, void *handle, bool keep);
	/* Commits info, this server's record of a version of user's file. 0 or
	 * -errno (-ESTALE: a newer version is current here). */
	int (*commit)(void *arg, const char *user, const dfs_file_info *info);
	void *arg;
};

/* A client for server self of the cluster described by config_path (a client
 * configuration naming every server), proving itself with cert and key. 0 or
 * -errno with the reason in err. */
int dfs_peer_client_new(struct dfs_client **out, const char *config_path, unsigned self,
			const char *cert, const char *key, char *err, size_t errlen);
/* Has c write to server self through store (which must outlive c) rather than RPC. */
void dfs_peer_set_store(struct dfs_client *c, const struct dfs_peer_store *store);
/* The servers the configuration names. */
unsigned dfs_peer_servers(const struct dfs_client *c);
/* The CA file of the configuration. */
const char *dfs_peer_ca(const struct dfs_client *c);

/* Adds to users[] (cap entries of 65 bytes, *count so far, kept sorted and
 * without repeats) those having records on server number `server`. 0 or
 * -errno (the server could not be asked). */
int dfs_peer_users(struct dfs_client *c, unsigned server, char (*users)[65], size_t cap,
		   size_t *count);

/* Tells server `server` that this one recorded it as lacking a version
 * (PEER_NUDGE). 0 or -errno. */
int dfs_peer_nudge(struct dfs_client *c, unsigned server);

/* What one user's recovery found and did. */
struct dfs_peer_result {
	unsigned files;	    /* files looked at (those the servers disagree on) */
	unsigned rewritten; /* chunk copies written to this server */
	unsigned failed;    /* copies of this server that could not be made good */
	uint64_t bytes;	    /* chunk bytes written */
	bool all_up;	    /* every server took part */
};

/* Brings this server level with the others for user's files: every version
 * and delete it lacks. pace (may be NULL) is called after each file with the
 * bytes copied for it; nonzero stops the pass (-EINTR). 0 or -errno. */
int dfs_peer_recover_user(struct dfs_client *c, const char *user,
			  int (*pace)(void *arg, uint64_t bytes), void *arg,
			  struct dfs_peer_result *out);

/* Ends the sessions and closes the connections (a pass starts afresh:
 * idle connections do not outlive the servers' idle timeout). */
void dfs_peer_disconnect(struct dfs_client *c);

/* The last error's text. */
const char *dfs_peer_error(const struct dfs_client *c);

#endif

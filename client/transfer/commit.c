/* commit.c: what each server commits of a version, and sending it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "checksum.h"
#include "internal.h"

void commit_record(const struct layout *l, unsigned s, const char *name, const dfs_file_info *base,
		   const uint64_t *sizes, const uint64_t *sums, unsigned *lacking,
		   unsigned nlacking, dfs_chunk_sum held[2], dfs_file_info *out)
{
	unsigned first = l->pair[s - 1][0], second = l->pair[s - 1][1];

	*out = *base;
	out->name.dfs_name_val = (char *)name;
	out->name.dfs_name_len = (u_int)strlen(name);
	out->nchunks = l->nservers;
	out->digest = checksum_file_digest(sums, l->nservers);
	held[0] = (dfs_chunk_sum){first, sizes[first - 1], sums[first - 1]};
	held[1] = (dfs_chunk_sum){second, sizes[second - 1], sums[second - 1]};
	out->chunks.chunks_val = held;
	out->chunks.chunks_len = first == second ? 1 : 2;
	out->lacking.lacking_val = lacking;
	out->lacking.lacking_len = nlacking;
}

void commit_tally(const struct layout *l, unsigned s, unsigned *committed)
{
	committed[l->pair[s - 1][0] - 1]++;
	if (l->pair[s - 1][1] != l->pair[s - 1][0])
		committed[l->pair[s - 1][1] - 1]++;
}

int commit_send(struct dfs_client *c, struct link *l, const dfs_file_info *info)
{
	dfs_commit_args a = {.cred = l->cred, .info = *info};
	enum clnt_stat st;
	char why[200];

	st = rpcstream_send(l->clnt[0], DFSPROC_COMMIT, (xdrproc_t)xdr_dfs_commit_args, &a);
	if (st != RPC_SUCCESS) {
		conn_mark_down(c, l, clnt_problem(l->clnt[0], st, why, sizeof(why)));
		return -EHOSTDOWN;
	}
	return 0;
}

int commit_recv(struct dfs_client *c, struct link *l)
{
	dfs_stat res = DFS_OK;
	enum clnt_stat st;
	char why[200], label[160];

	st = rpcstream_recv(l->clnt[0], (xdrproc_t)xdr_dfs_stat, &res);
	if (st != RPC_SUCCESS) {
		conn_mark_down(c, l, clnt_problem(l->clnt[0], st, why, sizeof(why)));
		return -EHOSTDOWN;
	}
	if (res != DFS_OK && res != DFS_ESTALE)
		client_fail(c, client_errno(res), "commit on %s: %s",
			    link_label(l, label, sizeof(label)), dfs_strerror(client_errno(res)));
	return client_errno(res);
}

int put_commit(struct dfs_client *c, struct link *l, const dfs_file_info *info)
{
	int err = commit_send(c, l, info);

	return err ? err : commit_recv(c, l);
}

void put_abort_everywhere(struct dfs_client *c, const char *name, uint64_t ver)
{
	for (unsigned i = 0; i < c->conf.nservers; i++) {
		struct link *l = &c->links[i];
		dfs_version_args a = {.cred = l->cred, .ver = ver};
		dfs_stat res;

		if (!l->up)
			continue;
		a.name.dfs_name_val = (char *)name;
		a.name.dfs_name_len = (u_int)strlen(name);
		dfsproc_abort_1(&a, &res, l->clnt[0]);
	}
}

void put_warn_lacking(struct dfs_client *c, unsigned s, const char *name, const char *failure)
{
	struct link *l = &c->links[s - 1];
	char label[160];

	/* Say why (a full disk, say), so a person knows what to fix. */
	client_warn(c, s,
		    "%s holds no copy of %s: %s%s; its chunks are stored once until "
		    "the server is back and catches up",
		    link_label(l, label, sizeof(label)), name, failure ? "its upload failed: " : "",
		    failure ? failure
		    : l->up ? "its upload failed"
			    : l->why);
}

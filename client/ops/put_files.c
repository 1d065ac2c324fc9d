/* put_files.c: storing several files in one call; small files go together, one
 * STORE_MANY per server for a group of them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "put_small.h"
#include "version.h"

/* Files in one STORE_MANY, and their bytes in all: each server's share of the
 * bytes then fits in one call, and a group's files stay a few MiB in memory. */
#define GROUP_FILES DFS_BATCH_MAX
#define GROUP_BYTES DFS_BLOCK_MAX

struct put_files {
	struct dfs_client *c;
	const char *const *paths, *const *names;
	dfs_file_done_fn done;
	void *arg;
	int first_err;
	/* the small files waiting to be sent, by index */
	struct small_put *group[GROUP_FILES];
	size_t index[GROUP_FILES];
	unsigned count;
	uint64_t bytes;
};

static void report(struct put_files *pf, size_t i, int err)
{
	if (err && !pf->first_err)
		pf->first_err = err;
	pf->done(i, err, err ? dfs_last_error(pf->c) : NULL, pf->arg);
}

/* Sends the group's files to server s in one STORE_MANY; false if it could not be sent. */
static bool send_group(struct put_files *pf, unsigned s, char *scratch, dfs_store_item *items,
		       dfs_chunk_sum (*held)[2])
{
	struct link *l = &pf->c->links[s - 1];
	dfs_store_many_args a = {.cred = l->cred};
	enum clnt_stat st;
	char why[256];
	size_t len = 0;

	for (unsigned i = 0; i < pf->count; i++) {
		items[i].data.data_val = scratch + len;
		items[i].data.data_len =
		    (u_int)small_put_item(pf->group[i], s, &items[i].info, held[i], scratch + len);
		len += items[i].data.data_len;
	}
	a.items.items_val = items;
	a.items.items_len = pf->count;
	st = rpcstream_send(l->clnt[0], DFSPROC_STORE_MANY, (xdrproc_t)xdr_dfs_store_many_args, &a);
	if (st == RPC_SUCCESS)
		return true;
	conn_mark_down(pf->c, l, clnt_problem(l->clnt[0], st, why, sizeof(why)));
	for (unsigned i = 0; i < pf->count; i++)
		snprintf(pf->group[i]->why[s - 1], sizeof(why), "%s", why);
	return false;
}

/* Reads server s's answer into each file's err and why. -EOPNOTSUPP from a
 * server older than STORE_MANY, else 0. */
static int receive_group(struct put_files *pf, unsigned s)
{
	struct link *l = &pf->c->links[s - 1];
	dfs_store_many_res r;
	enum clnt_stat st;
	char why[256] = "";
	int err = 0;

	memset(&r, 0, sizeof(r));
	st = rpcstream_recv(l->clnt[0], (xdrproc_t)xdr_dfs_store_many_res, &r);
	if (st == RPC_PROCUNAVAIL)
		return -EOPNOTSUPP;
	if (st != RPC_SUCCESS) {
		conn_mark_down(pf->c, l, clnt_problem(l->clnt[0], st, why, sizeof(why)));
		err = -EHOSTDOWN;
	} else if (r.status != DFS_OK) {
		err = client_errno(r.status);
	} else if (r.dfs_store_many_res_u.results.results_len != pf->count) {
		err = -EPROTO;
		snprintf(why, sizeof(why), "the server answered for %u files of %u",
			 r.dfs_store_many_res_u.results.results_len, pf->count);
	}
	for (unsigned i = 0; i < pf->count; i++) {
		struct small_put *p = pf->group[i];
		int e = err ? err : client_errno(r.dfs_store_many_res_u.results.results_val[i]);

		p->err[s - 1] = e;
		if (e)
			snprintf(p->why[s - 1], sizeof(p->why[s - 1]), "%s",
				 why[0] ? why : dfs_strerror(e));
	}
	xdr_free((xdrproc_t)xdr_dfs_store_many_res, (char *)&r);
	return 0;
}

/* Stores the group's files with one call per server, then settles each file as
 * put_small would. Files the group cannot take (older servers, a newer version
 * on some server) continue on their own. */
static void store_group(struct put_files *pf)
{
	struct dfs_client *c = pf->c;
	bool sent[DFS_SERVERS_MAX] = {false}, up[DFS_SERVERS_MAX] = {false}, older = false;
	dfs_store_item *items = calloc(pf->count, sizeof(*items));
	dfs_chunk_sum(*held)[2] = calloc(pf->count, sizeof(*held));
	char *scratch = malloc(pf->bytes ? (size_t)pf->bytes : 1);
	bool together;

	/* Numbered by this host's clock, as put_small does; that needs servers that
	 * saw every earlier write to be up, else each file goes alone and says so. */
	for (unsigned s = 1; s <= c->conf.nservers; s++)
		up[s - 1] = c->links[s - 1].up;
	together =
	    pf->count > 1 && version_vouches(up, c->conf.nservers) && items && held && scratch;
	for (unsigned i = 0; i < pf->count; i++) {
		small_put_begin(pf->group[i]);
		pf->group[i]->ver = plan_new_version(0);
	}
	for (unsigned s = 1; together && s <= c->conf.nservers; s++)
		if (c->links[s - 1].up)
			sent[s - 1] = send_group(pf, s, scratch, items, held);
	free(scratch);
	free(items);
	free(held);
	for (unsigned s = 1; s <= c->conf.nservers; s++) {
		if (!sent[s - 1])
			continue;
		for (unsigned i = 0; i < pf->count; i++)
			pf->group[i]->sent[s - 1] = true;
		if (receive_group(pf, s) == -EOPNOTSUPP)
			older = true;
	}
	if (older)
		c->no_store_many = true;
	for (unsigned i = 0; i < pf->count; i++) {
		struct small_put *p = pf->group[i];
		int err;

		/* Not sent (alone in its group, too few servers up, no memory) or refused
		 * by an older server: stored alone, as a newer version than any the group
		 * left behind. */
		if (older || !together || p->ver == 0) {
			err = dfs_put(c, p->path, p->name);
		} else {
			err = small_put_settle(p);
			err = small_put_again(p, err, 1);
			if (err == -EOPNOTSUPP)
				err = dfs_put(c, p->path, p->name);
		}
		report(pf, pf->index[i], err);
		small_put_free(p);
	}
	pf->count = 0;
	pf->bytes = 0;
}

/* Opens file i: a small file joins the group (0), any other goes alone (1). */
static int take_file(struct put_files *pf, size_t i)
{
	struct dfs_client *c = pf->c;
	struct small_put *p;
	struct stat sb;
	int fd, err;

	if (c->no_store || c->no_store_many)
		return 1;
	if (client_check_call(c, pf->names[i]) != 0)
		return 1;
	fd = open(pf->paths[i], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > SMALL_FILE_MAX) {
		close(fd);
		return 1;
	}
	if (pf->count == GROUP_FILES || pf->bytes + (uint64_t)sb.st_size > GROUP_BYTES)
		store_group(pf);
	err = small_put_new(c, pf->paths[i], pf->names[i], fd, &sb, &p);
	close(fd);
	if (err)
		return err;
	pf->group[pf->count] = p;
	pf->index[pf->count++] = i;
	pf->bytes += (uint64_t)sb.st_size;
	return 0;
}

int dfs_put_files(struct dfs_client *c, size_t n, const char *const *paths,
		  const char *const *names, dfs_file_done_fn done, void *arg)
{
	struct put_files *pf = calloc(1, sizeof(*pf));
	int rc;

	if (!pf)
		return client_fail(c, -ENOMEM, "out of memory");
	*pf = (struct put_files){.c = c, .paths = paths, .names = names, .done = done, .arg = arg};
	for (size_t i = 0; i < n; i++) {
		rc = take_file(pf, i);
		/* Files that are not small, and those whose errors dfs_put explains. */
		if (rc != 0)
			report(pf, i, rc > 0 ? dfs_put(c, paths[i], names[i]) : rc);
	}
	if (pf->count)
		store_group(pf);
	rc = pf->first_err;
	free(pf);
	return rc;
}

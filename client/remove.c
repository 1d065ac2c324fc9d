/* remove.c: deleting a file everywhere, with a tombstone that outlives the outage of a server. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "names.h"

int dfs_delete(struct dfs_client *c, const char *remote_name)
{
	uint64_t ver = plan_new_version();
	unsigned answered = 0, existed = 0, down = 0, lacking[DFS_SERVERS_MAX], nlacking = 0;
	const char *why = NULL;
	char label[160], problem[200];
	int err;

	if (!c->logged_in)
		return client_fail(c, -ENOTCONN, "not logged in");
	err = name_check(remote_name, strlen(remote_name), &why);
	if (err)
		return client_fail(c, err, "invalid remote name '%s': %s", remote_name, why);
	for (unsigned i = 0; i < c->conf.nservers; i++)
		if (!c->links[i].up)
			lacking[nlacking++] = i + 1;
	for (unsigned i = 0; i < c->conf.nservers; i++) {
		struct link *l = &c->links[i];
		dfs_delete_args a = {.cred = l->cred, .ver = ver};
		dfs_stat res = DFS_OK;
		enum clnt_stat st;

		if (!l->up) {
			down++;
			continue;
		}
		a.name.dfs_name_val = (char *)remote_name;
		a.name.dfs_name_len = (u_int)strlen(remote_name);
		a.lacking.lacking_val = lacking;
		a.lacking.lacking_len = nlacking;
		st = dfsproc_delete_1(&a, &res, l->clnt[0]);
		if (st != RPC_SUCCESS) {
			conn_mark_down(c, l,
				       clnt_problem(l->clnt[0], st, problem, sizeof(problem)));
			down++;
			continue;
		}
		answered++;
		if (res == DFS_OK)
			existed++;
		else if (res != DFS_ENOENT)
			client_warn(c, i + 1, "%s: delete failed: %s",
				    link_label(l, label, sizeof(label)),
				    dfs_strerror(client_errno(res)));
	}
	if (answered == 0)
		return client_fail(c, -EHOSTDOWN, "%s: no server answered", remote_name);
	if (existed == 0)
		return client_fail(c, -ENOENT, "%s: no such file", remote_name);
	if (down)
		client_warn(c, 0,
			    "%u server(s) did not answer; they keep their copies of %s until "
			    "'dfs repair' runs with them back (the delete wins)",
			    down, remote_name);
	return 0;
}

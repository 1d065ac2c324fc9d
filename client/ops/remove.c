/* remove.c: deleting a file everywhere, with a tombstone that outlives the outage of a server. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "names.h"
#include "version.h"

/* What the servers said to one DELETE. */
struct delete_round {
	bool took[DFS_SERVERS_MAX]; /* holds the tombstone (or a newer one) now */
	unsigned existed;	    /* servers where a live file was replaced */
	unsigned down;
	bool superseded;	/* some server holds a newer live version */
	unsigned clock_refused; /* a server that refused the version, or 0 */
};

/* Sends DELETE of remote_name at ver to every live server. */
static void delete_everywhere(struct dfs_client *c, const char *remote_name, uint64_t ver,
			      struct delete_round *r)
{
	unsigned lacking[DFS_SERVERS_MAX], nlacking = 0;
	char label[160], problem[200];

	memset(r, 0, sizeof(*r));
	for (unsigned i = 0; i < c->conf.nservers; i++)
		if (!c->links[i].up)
			lacking[nlacking++] = i + 1;
	for (unsigned i = 0; i < c->conf.nservers; i++) {
		struct link *l = &c->links[i];
		dfs_delete_args a = {.cred = l->cred, .ver = ver};
		dfs_stat res = DFS_OK;
		enum clnt_stat st;

		if (!l->up) {
			r->down++;
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
			r->down++;
			continue;
		}
		/* ENOENT: no live file here; the tombstone was still written
		 * (or a newer one kept), so this server keeps the file deleted. */
		if (res == DFS_OK || res == DFS_ENOENT)
			r->took[i] = true;
		if (res == DFS_OK)
			r->existed++;
		else if (res == DFS_ESTALE)
			r->superseded = true;
		else if (res == DFS_ERANGE)
			r->clock_refused = i + 1;
		else if (res != DFS_ENOENT)
			client_warn(c, i + 1, "%s: delete failed: %s",
				    link_label(l, label, sizeof(label)),
				    dfs_strerror(client_errno(res)));
	}
}

int dfs_delete(struct dfs_client *c, const char *remote_name)
{
	struct delete_round r;
	uint64_t newest = 0, ver = 0;
	int err;

	err = client_check_call(c, remote_name);
	if (err)
		return err;
	/* Numbered above every version the servers hold, the tombstone lands
	 * after every write of the name that finished before this delete began;
	 * one that lost to a put running at the same time is numbered again. */
	for (unsigned attempt = 1;; attempt++) {
		err = plan_write_version(c, remote_name, &newest);
		if (err)
			return err;
		ver = plan_new_version(newest);
		if (ver == 0)
			return client_fail(
			    c, -ERANGE, "%s: no version is left above the newest one", remote_name);
		delete_everywhere(c, remote_name, ver, &r);
		if (r.clock_refused)
			return plan_clock_refused(c, remote_name, r.clock_refused);
		if (!r.superseded)
			break;
		if (attempt == WRITE_ATTEMPTS)
			return client_fail(c, -ESTALE,
					   "%s: written by other clients during each of %u tries; "
					   "the delete did not take effect",
					   remote_name, WRITE_ATTEMPTS);
	}
	/* Like a put, a delete holds only once every chunk's holders include a
	 * server that took it: otherwise a later read could miss it. */
	if (!version_covers(r.took, c->conf.nservers))
		return client_fail(
		    c, -EHOSTDOWN,
		    "%s: the delete reached too few servers to hold (two neighbouring "
		    "servers did not take it); run it again when they are back",
		    remote_name);
	if (r.existed == 0)
		return client_fail(c, -ENOENT, "%s: no such file", remote_name);
	if (r.down)
		client_warn(c, 0,
			    "%u server(s) did not answer; they keep their copies of %s until "
			    "they are back and catch up (the delete wins)",
			    r.down, remote_name);
	return 0;
}

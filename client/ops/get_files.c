/* get_files.c: fetching several files in one call. Every live server is asked
 * about up to DFS_BATCH_MAX files at once (LOOKUP_READ_MANY), so a small file
 * costs a share of one round trip instead of one of its own; each answer is
 * kept as plan_lookup keeps a LOOKUP_READ's, and each file is then fetched
 * exactly as dfs_get fetches it from such a lookup. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#include "download.h"

/* The files of one LOOKUP_READ_MANY: item j is about the file of views[file[j]]. */
struct many {
	struct file_view *views;
	size_t file[DFS_BATCH_MAX];
	unsigned n;
};

/* Sends server l the lookup of every file of m, each item as plan_lookup
 * would ask it. false if it could not be sent (l is then marked down). */
static bool send_many(struct dfs_client *c, struct link *l, const struct many *m)
{
	dfs_lookup_read_item items[DFS_BATCH_MAX];
	dfs_lookup_read_many_args a = {.cred = l->cred};
	char why[256];
	enum clnt_stat st;

	for (unsigned j = 0; j < m->n; j++) {
		const struct file_view *v = &m->views[m->file[j]];

		items[j].name.dfs_name_val = (char *)v->name;
		items[j].name.dfs_name_len = (u_int)v->name_len;
		items[j].index = plan_first_chunk(v, l->conf->number);
		items[j].max = plan_data_max(v);
	}
	a.items.items_val = items;
	a.items.items_len = m->n;
	st = rpcstream_send(l->clnt[0], DFSPROC_LOOKUP_READ_MANY,
			    (xdrproc_t)xdr_dfs_lookup_read_many_args, &a);
	if (st != RPC_SUCCESS) {
		conn_mark_down(c, l, clnt_problem(l->clnt[0], st, why, sizeof(why)));
		return false;
	}
	return true;
}

/* Receives server l's answer to send_many: each item's record and bytes go
 * to its file's view, as plan_lookup keeps a LOOKUP_READ answer. 0, or
 * -EOPNOTSUPP when l predates LOOKUP_READ_MANY, or -EHOSTDOWN when l gave no
 * usable answer (it is then marked down, as a failed LOOKUP_READ marks it). */
static int recv_many(struct dfs_client *c, struct link *l, const struct many *m)
{
	dfs_lookup_read_many_res r;
	unsigned s = l->conf->number;
	char why[256];
	enum clnt_stat st;
	u_int len;

	memset(&r, 0, sizeof(r));
	st = rpcstream_recv(l->clnt[0], (xdrproc_t)xdr_dfs_lookup_read_many_res, &r);
	if (st == RPC_PROCUNAVAIL)
		return -EOPNOTSUPP;
	if (st != RPC_SUCCESS) {
		xdr_free((xdrproc_t)xdr_dfs_lookup_read_many_res, (char *)&r);
		conn_mark_down(c, l, clnt_problem(l->clnt[0], st, why, sizeof(why)));
		return -EHOSTDOWN;
	}
	if (r.status != DFS_OK) {
		/* The call was refused as a whole, as each LOOKUP_READ would have been. */
		for (unsigned j = 0; j < m->n; j++)
			plan_note_status(c, l, &m->views[m->file[j]].holders[s - 1], r.status);
		return 0;
	}
	len = r.dfs_lookup_read_many_res_u.results.results_len;
	if (len != m->n) {
		/* Answers that cannot be matched to the files: a garbled reply. */
		snprintf(why, sizeof(why), "it sent %u answers to a lookup of %u files", len, m->n);
		xdr_free((xdrproc_t)xdr_dfs_lookup_read_many_res, (char *)&r);
		conn_mark_down(c, l, why);
		return -EHOSTDOWN;
	}
	for (unsigned j = 0; j < m->n; j++) {
		struct file_view *v = &m->views[m->file[j]];
		dfs_lookup_read_res *res = &r.dfs_lookup_read_many_res_u.results.results_val[j];

		if (res->status == DFS_OK)
			plan_keep_read(v, s, &res->dfs_lookup_read_res_u.ok);
		plan_note_status(c, l, &v->holders[s - 1], res->status);
	}
	/* The records and bytes now belong to the views: only the array is left. */
	free(r.dfs_lookup_read_many_res_u.results.results_val);
	return 0;
}

/* Asks every live server about the files of m: every call is sent before any
 * answer is read, one round trip in all, as plan_lookup does. 0, or
 * -EOPNOTSUPP when some server predates LOOKUP_READ_MANY (c then stops using
 * it, and the views are freed). */
static int lookup_many(struct dfs_client *c, const struct many *m)
{
	bool asked[DFS_SERVERS_MAX] = {false}, older = false;

	for (unsigned i = 0; i < c->conf.nservers; i++)
		if (c->links[i].up)
			asked[i] = send_many(c, &c->links[i], m);
	/* Every answer is read, even after a refusal, to keep each stream in step. */
	for (unsigned i = 0; i < c->conf.nservers; i++)
		if (asked[i] && recv_many(c, &c->links[i], m) == -EOPNOTSUPP)
			older = true;
	if (!older)
		return 0;
	c->no_lookup_read_many = true;
	for (unsigned j = 0; j < m->n; j++)
		plan_view_free(&m->views[m->file[j]]);
	return -EOPNOTSUPP;
}

/* Looks up files [0, n) of names together, into views (NULL: none could be):
 * every file whose name passes client_check_call gets a view (looked[i]). A
 * file left out is fetched by dfs_get, which reports why. */
static struct file_view *lookup_batch(struct dfs_client *c, size_t n, const char *const *names,
				      bool *looked)
{
	struct many m = {.views = calloc(n, sizeof(*m.views))};

	if (!m.views)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (client_check_call(c, names[i]) == 0) {
			plan_view_start(c, names[i], &m.views[i]);
			m.file[m.n++] = i;
		}
	if (m.n == 0 || lookup_many(c, &m) < 0) {
		free(m.views);
		return NULL;
	}
	for (unsigned j = 0; j < m.n; j++)
		looked[m.file[j]] = true;
	return m.views;
}

/* Fetches files [0, n) (n <= DFS_BATCH_MAX) of names into local_paths,
 * reporting each to done as file first + i. Returns a failed file's -errno, or 0. */
static int get_batch(struct dfs_client *c, size_t first, size_t n, const char *const *names,
		     const char *const *local_paths, dfs_file_done_fn done, void *arg)
{
	bool looked[DFS_BATCH_MAX] = {false};
	struct file_view *views = NULL;
	int ret = 0;

	/* One file gains nothing from a batch; servers that predate
	 * LOOKUP_READ (or its batched form) are asked the old way, by dfs_get. */
	if (n > 1 && !c->no_lookup_read && !c->no_lookup_read_many)
		views = lookup_batch(c, n, names, looked);
	for (size_t i = 0; i < n; i++) {
		int err =
		    get_from_lookup(c, names[i], local_paths[i], looked[i] ? &views[i] : NULL);

		if (err && !ret)
			ret = err;
		done(first + i, err, err ? dfs_last_error(c) : NULL, arg);
	}
	free(views);
	return ret;
}

int dfs_get_files(struct dfs_client *c, size_t n, const char *const *names,
		  const char *const *local_paths, dfs_file_done_fn done, void *arg)
{
	int first = 0;

	for (size_t at = 0; at < n; at += DFS_BATCH_MAX) {
		size_t len = n - at < DFS_BATCH_MAX ? n - at : DFS_BATCH_MAX;
		int err = get_batch(c, at, len, names + at, local_paths + at, done, arg);

		if (err && !first)
			first = err;
	}
	return first;
}

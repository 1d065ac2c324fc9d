/* stat.c: one file's newest version and the state of every copy of its chunks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_reply.h"
#include "internal.h"
#include "names.h"

/* The newest live (not deleted) record any server holds, or NULL. */
static const dfs_file_info *newest_record(const struct file_view *view)
{
	const dfs_file_info *best = NULL;

	for (unsigned i = 0; i < view->nservers; i++) {
		const struct holder_view *h = &view->holders[i];

		if (!h->has_record)
			continue;
		if (!best || h->rec.current.ver > best->ver)
			best = &h->rec.current;
	}
	return best && !best->deleted ? best : NULL;
}

/* What one server says of its last verification of each copy it holds. */
struct verified {
	unsigned n;
	dfs_copy_verified v[DFS_HELD_MAX];
};

/* Asks server s when it last verified its copies of info's version. A server
 * that predates VERIFIED, fails or sends a bad answer leaves them unverified. */
static void ask_verified(struct dfs_client *c, const struct file_view *view,
			 const dfs_file_info *info, unsigned s, struct verified *out)
{
	struct link *l = &c->links[s - 1];
	dfs_version_args a = {.cred = l->cred, .ver = info->ver};
	dfs_verified_res r;
	const char *why = NULL;
	enum clnt_stat st;

	out->n = 0;
	if (!l->up || !view->holders[s - 1].answered ||
	    !plan_held(&view->holders[s - 1], info->ver))
		return;
	a.name.dfs_name_val = (char *)view->name;
	a.name.dfs_name_len = (u_int)view->name_len;
	memset(&r, 0, sizeof(r));
	st = dfsproc_verified_1(&a, &r, l->clnt[0]);
	if (st == RPC_SUCCESS && r.status == DFS_OK) {
		if (check_verified_ok(&r, &view->layout, s, &why) == 0) {
			out->n = r.dfs_verified_res_u.copies.copies_len;
			/* An empty list decodes as a NULL array. */
			if (out->n)
				memcpy(out->v, r.dfs_verified_res_u.copies.copies_val,
				       out->n * sizeof(out->v[0]));
		} else {
			client_warn(c, s, "%s: server %u's verification times ignored: %s",
				    view->name, s, why);
		}
	}
	xdr_free((xdrproc_t)xdr_dfs_verified_res, (char *)&r);
}

/* Applies server s's last verification of chunk k to the copy's state. */
static void apply_verified(const struct verified *v, unsigned k, struct dfs_copy *out)
{
	for (unsigned i = 0; i < v->n; i++) {
		if (v->v[i].index != k)
			continue;
		if (v->v[i].result == DFS_EBADMSG &&
		    (out->state == DFS_COPY_GOOD || out->state == DFS_COPY_MISSING))
			out->state = DFS_COPY_CORRUPT;
		else if (v->v[i].result == DFS_OK && out->state == DFS_COPY_GOOD)
			out->verified_ns = v->v[i].verified_ns;
	}
}

static void copy_state(const struct dfs_client *c, const struct file_view *view,
		       const dfs_file_info *info, unsigned s, unsigned k, struct dfs_copy *out,
		       uint64_t *sum)
{
	const struct holder_view *h = &view->holders[s - 1];

	out->server = s;
	out->version = h->has_record ? h->rec.current.ver : 0;
	if (!c->links[s - 1].up || !h->answered)
		out->state = DFS_COPY_DOWN;
	else if (plan_has_chunk(plan_held(h, info->ver), k, sum))
		out->state = DFS_COPY_GOOD;
	else if (h->has_record && h->rec.current.ver != info->ver)
		out->state = DFS_COPY_STALE;
	else
		out->state = DFS_COPY_MISSING;
}

/* A stat of n chunks named name in one block (freed with free()). */
static struct dfs_file_stat *stat_new(const char *name, size_t len, unsigned n)
{
	struct stat_block {
		struct dfs_file_stat st;
		struct dfs_chunk_state *ptrs[DFS_SERVERS_MAX];
		struct dfs_chunk_state chunks[DFS_SERVERS_MAX];
		struct dfs_copy copies[DFS_SERVERS_MAX][2];
		char name[];
	} *b = calloc(1, sizeof(*b) + len + 1);

	if (!b)
		return NULL;
	memcpy(b->name, name, len + 1);
	b->st.name = b->name;
	b->st.chunks = b->ptrs;
	for (unsigned k = 0; k < n && k < DFS_SERVERS_MAX; k++) {
		b->ptrs[k] = &b->chunks[k];
		b->chunks[k].copies[0] = &b->copies[k][0];
		b->chunks[k].copies[1] = &b->copies[k][1];
	}
	return &b->st;
}

void dfs_file_stat_free(struct dfs_file_stat *st)
{
	free(st);
}

int dfs_stat_file(struct dfs_client *c, const char *remote_name, struct dfs_file_stat **res)
{
	struct dfs_file_stat *out = NULL;
	struct verified *seen = NULL;
	struct file_view view;
	struct read_plan plan;
	const dfs_file_info *info;
	const char *why = NULL;
	size_t len = strlen(remote_name);
	int err;

	*res = NULL;
	if (!c->logged_in)
		return client_fail(c, -ENOTCONN, "not logged in");
	err = name_check(remote_name, len, &why);
	if (err)
		return client_fail(c, err, "invalid remote name '%s': %s", remote_name, why);
	err = plan_lookup(c, remote_name, false, &view);
	if (err)
		return err;
	plan_choose(&view, &plan);
	/* The version a get would read; if none is readable, the newest one
	 * some server records, so its missing copies show. */
	info = plan.found ? plan.info : plan.deleted ? NULL : newest_record(&view);
	if (!info || info->nchunks != view.nservers || info->nchunks > DFS_SERVERS_MAX) {
		err = client_fail(c, -ENOENT, "%s: no such file", remote_name);
		goto out;
	}
	out = stat_new(remote_name, len, info->nchunks);
	if (!out) {
		err = client_fail(c, -ENOMEM, "out of memory");
		goto out;
	}
	out->size = info->size;
	out->version = info->ver;
	out->mtime_ns = info->mtime_ns;
	out->digest = info->digest;
	out->nchunks = info->nchunks;
	out->row = view.layout.row;
	out->readable = plan.found;
	seen = calloc(view.nservers, sizeof(*seen));
	if (!seen) {
		err = client_fail(c, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned s = 1; s <= view.nservers; s++)
		ask_verified(c, &view, info, s, &seen[s - 1]);
	for (unsigned k = 1; k <= info->nchunks; k++) {
		struct dfs_chunk_state *ch = out->chunks[k - 1];

		ch->index = k;
		layout_range(&view.layout, info->size, k, &ch->offset, &ch->size);
		for (int which = 0; which < 2; which++) {
			unsigned s = view.layout.holder[k - 1][which];

			copy_state(c, &view, info, s, k, ch->copies[which], &ch->checksum);
			apply_verified(&seen[s - 1], k, ch->copies[which]);
		}
	}
out:
	free(seen);
	plan_view_free(&view);
	if (err)
		dfs_file_stat_free(out);
	else
		*res = out;
	return err;
}

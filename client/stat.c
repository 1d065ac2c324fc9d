/* stat.c: one file's newest version and the state of every copy of its chunks. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "check_reply.h"
#include "chunk.h"
#include "internal.h"
#include "names.h"
#include "placement.h"

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

int dfs_stat_file(struct dfs_client *c, const char *remote_name, struct dfs_file_stat *out)
{
	struct file_view view;
	struct read_plan plan;
	const dfs_file_info *info;
	const char *why = NULL;
	size_t len = strlen(remote_name);
	int err;

	memset(out, 0, sizeof(*out));
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
	memcpy(out->name, remote_name, len + 1);
	out->size = info->size;
	out->version = info->ver;
	out->mtime_ns = info->mtime_ns;
	out->digest = info->digest;
	out->nchunks = info->nchunks;
	out->row = view.row;
	out->readable = plan.found;
	for (unsigned k = 1; k <= info->nchunks; k++) {
		struct dfs_chunk_state *ch = &out->chunks[k - 1];

		ch->index = k;
		chunk_range(info->size, info->nchunks, k, &ch->offset, &ch->size);
		for (int which = 0; which < 2; which++)
			copy_state(c, &view, info,
				   placement_holder(view.row, k, view.nservers, which), k,
				   &ch->copies[which], &ch->checksum);
	}
out:
	plan_view_free(&view);
	return err;
}

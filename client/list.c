/* list.c: the user's files, merged from every live server by newest version. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* One record from one server. */
struct record {
	unsigned server;
	dfs_file_info info;
};

struct records {
	struct record *v;
	size_t count, cap;
};

static int records_add(struct records *rs, unsigned server, dfs_file_info *info)
{
	if (rs->count == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 256;
		struct record *v = realloc(rs->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		rs->v = v;
		rs->cap = cap;
	}
	rs->v[rs->count].server = server;
	rs->v[rs->count].info = *info; /* takes over the decoded buffers */
	rs->count++;
	return 0;
}

static void records_free(struct records *rs)
{
	for (size_t i = 0; i < rs->count; i++)
		xdr_free((xdrproc_t)xdr_dfs_file_info, (char *)&rs->v[i].info);
	free(rs->v);
}

static int compare_records(const void *pa, const void *pb)
{
	const dfs_file_info *a = &((const struct record *)pa)->info;
	const dfs_file_info *b = &((const struct record *)pb)->info;
	size_t n = a->name.dfs_name_len < b->name.dfs_name_len ? a->name.dfs_name_len
							       : b->name.dfs_name_len;
	int d = memcmp(a->name.dfs_name_val, b->name.dfs_name_val, n);

	if (d)
		return d;
	if (a->name.dfs_name_len != b->name.dfs_name_len)
		return a->name.dfs_name_len < b->name.dfs_name_len ? -1 : 1;
	if (a->ver != b->ver)
		return a->ver > b->ver ? -1 : 1; /* newest first */
	return 0;
}

static bool same_name(const dfs_file_info *a, const dfs_file_info *b)
{
	return a->name.dfs_name_len == b->name.dfs_name_len &&
	       memcmp(a->name.dfs_name_val, b->name.dfs_name_val, a->name.dfs_name_len) == 0;
}

/* Collects every record of every live server, page by page. */
static int collect(struct dfs_client *c, struct records *rs, unsigned *answered_out)
{
	char why[200], label[160];
	unsigned answered = 0;
	int refused = 0;

	for (unsigned i = 0; i < c->conf.nservers; i++) {
		struct link *l = &c->links[i];
		char cookie[DFS_COOKIE_MAX];
		u_int cookie_len = 0;
		bool eof = false;

		while (l->up && !eof) {
			dfs_list_args a = {.cred = l->cred};
			dfs_list_res r;
			enum clnt_stat st;

			a.cookie.cookie_val = cookie;
			a.cookie.cookie_len = cookie_len;
			memset(&r, 0, sizeof(r));
			st = dfsproc_list_1(&a, &r, l->clnt[0]);
			if (st != RPC_SUCCESS) {
				conn_mark_down(c, l,
					       clnt_problem(l->clnt[0], st, why, sizeof(why)));
				break;
			}
			if (r.status != DFS_OK) {
				client_warn(c, l->conf->number, "%s: list failed: %s",
					    link_label(l, label, sizeof(label)),
					    dfs_strerror(client_errno(r.status)));
				if (r.status == DFS_EACCES || r.status == DFS_EKEYEXPIRED)
					refused = client_errno(r.status);
				xdr_free((xdrproc_t)xdr_dfs_list_res, (char *)&r);
				break;
			}
			for (u_int k = 0; k < r.dfs_list_res_u.ok.entries.entries_len; k++) {
				if (records_add(rs, i + 1,
						&r.dfs_list_res_u.ok.entries.entries_val[k]))
					return client_fail(c, -ENOMEM, "out of memory");
				memset(&r.dfs_list_res_u.ok.entries.entries_val[k], 0,
				       sizeof(dfs_file_info));
			}
			eof = r.dfs_list_res_u.ok.eof;
			cookie_len = r.dfs_list_res_u.ok.cookie.cookie_len;
			if (cookie_len > sizeof(cookie))
				cookie_len = 0;
			if (cookie_len)
				memcpy(cookie, r.dfs_list_res_u.ok.cookie.cookie_val, cookie_len);
			xdr_free((xdrproc_t)xdr_dfs_list_res, (char *)&r);
			if (!eof && cookie_len == 0)
				break;
			if (eof)
				answered++;
		}
	}
	*answered_out = answered;
	if (answered == 0 && refused)
		return client_fail(c, refused, "the servers refused the session: %s",
				   refused == -EACCES
				       ? "the user no longer exists or the session ended"
				       : dfs_strerror(refused));
	if (answered == 0)
		return client_fail(c, -EHOSTDOWN, "no server answered; is the cluster running?");
	return 0;
}

/* Merges sorted records into files: the newest version of each name wins;
 * copies[] counts the servers holding each chunk of that version. */
static int merge(struct dfs_client *c, struct records *rs, unsigned answered, bool include_deleted,
		 struct dfs_file_list *list)
{
	if (rs->count)
		qsort(rs->v, rs->count, sizeof(*rs->v), compare_records);
	list->files = calloc(rs->count ? rs->count : 1, sizeof(*list->files));
	if (!list->files)
		return client_fail(c, -ENOMEM, "out of memory");
	for (size_t i = 0; i < rs->count;) {
		const dfs_file_info *best = &rs->v[i].info;
		struct dfs_file *f = &list->files[list->count];
		size_t j = i;

		unsigned agree = 0;
		bool hinted = false;

		for (; j < rs->count && same_name(&rs->v[j].info, best); j++) {
			const dfs_file_info *x = &rs->v[j].info;

			if (x->ver == best->ver)
				agree++;
			if (x->ver == best->ver && x->lacking.lacking_len)
				hinted = true;
			if (x->ver != best->ver || x->deleted)
				continue;
			for (u_int k = 0; k < x->chunks.chunks_len; k++) {
				unsigned idx = x->chunks.chunks_val[k].index;

				if (idx >= 1 && idx <= 64) {
					f->copies[idx - 1]++;
					f->holders[idx - 1] |= UINT64_C(1) << (rs->v[j].server - 1);
				}
			}
		}
		if (!best->deleted || include_deleted) {
			/* Every server holds part of every file, so each one
			 * that answered should have this version. */
			f->diverged = agree != answered || hinted;
			f->name = strndup(best->name.dfs_name_val, best->name.dfs_name_len);
			if (!f->name)
				return client_fail(c, -ENOMEM, "out of memory");
			f->size = best->size;
			f->version = best->ver;
			f->mtime_ns = best->mtime_ns;
			f->nchunks = best->nchunks <= 64 ? best->nchunks : 64;
			f->readable = !best->deleted;
			for (unsigned k = 0; k < f->nchunks; k++) {
				if (f->copies[k] == 0)
					f->readable = false;
				if (f->copies[k] < 2)
					f->degraded = true;
			}
			list->count++;
		} else {
			memset(f, 0, sizeof(*f));
		}
		i = j;
	}
	return 0;
}

static int list_all(struct dfs_client *c, bool include_deleted, struct dfs_file_list **out)
{
	struct records rs = {0};
	struct dfs_file_list *list;
	unsigned answered = 0;
	int err;

	*out = NULL;
	if (!c->logged_in)
		return client_fail(c, -ENOTCONN, "not logged in");
	list = calloc(1, sizeof(*list));
	if (!list)
		return client_fail(c, -ENOMEM, "out of memory");
	err = collect(c, &rs, &answered);
	if (!err)
		err = merge(c, &rs, answered, include_deleted, list);
	records_free(&rs);
	if (err) {
		dfs_file_list_free(list);
		return err;
	}
	*out = list;
	return 0;
}

int dfs_list(struct dfs_client *c, struct dfs_file_list **out)
{
	return list_all(c, false, out);
}

int list_names(struct dfs_client *c, struct dfs_file_list **out)
{
	return list_all(c, true, out);
}

void dfs_file_list_free(struct dfs_file_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++)
		free(list->files[i].name);
	free(list->files);
	free(list);
}

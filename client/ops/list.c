/* list.c: the user's files, merged from every live server by newest version. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_reply.h"
#include "internal.h"
#include "version.h"

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

/* Frees the records from index `from` on. */
static void records_truncate(struct records *rs, size_t from)
{
	for (size_t i = from; i < rs->count; i++)
		xdr_free((xdrproc_t)xdr_dfs_file_info, (char *)&rs->v[i].info);
	if (from < rs->count)
		rs->count = from;
}

/* Records of one server that failed the checks: how many, and the first. */
struct rejects {
	unsigned count;
	const char *why;
	char shown[96];
};

static void reject(struct rejects *rj, const dfs_file_info *info, const char *why)
{
	if (rj->count++ == 0) {
		rj->why = why;
		check_escape(info->name.dfs_name_val, info->name.dfs_name_len, rj->shown,
			     sizeof(rj->shown));
	}
}

/* Adds the checked records of one page of server i + 1's listing. */
static int add_page(struct dfs_client *c, struct records *rs, unsigned i, dfs_list_ok *page,
		    struct rejects *rj)
{
	for (u_int k = 0; k < page->entries.entries_len; k++) {
		dfs_file_info *info = &page->entries.entries_val[k];
		const char *why = NULL;

		if (check_file_info(info, NULL, 0, c->conf.nservers, i + 1, &why) != 0) {
			reject(rj, info, why);
			continue;
		}
		if (records_add(rs, i + 1, info))
			return client_fail(c, -ENOMEM, "out of memory");
		memset(info, 0, sizeof(*info));
	}
	return 0;
}

/* Collects every record of every live server, page by page. A server whose
 * listing does not end, or does not advance, counts as failing: its records
 * are dropped and it is marked down. */
static int collect(struct dfs_client *c, struct records *rs, unsigned *answered_out)
{
	char why[200], label[160];
	unsigned answered = 0;
	int refused = 0;

	for (unsigned i = 0; i < c->conf.nservers; i++) {
		struct link *l = &c->links[i];
		struct list_guard guard = {0};
		struct rejects rj = {0};
		size_t start = rs->count;
		char cookie[DFS_COOKIE_MAX];
		u_int cookie_len = 0;
		bool eof = false;

		while (l->up && !eof) {
			dfs_list_args a = {.cred = l->cred};
			dfs_list_res r;
			enum clnt_stat st;
			const char *bad = NULL;
			int err;

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
			if (check_list_page(&guard, &r.dfs_list_res_u.ok, cookie, cookie_len,
					    &bad) != 0 ||
			    r.dfs_list_res_u.ok.cookie.cookie_len > sizeof(cookie)) {
				xdr_free((xdrproc_t)xdr_dfs_list_res, (char *)&r);
				conn_mark_down(c, l, bad ? bad : "its list position is too long");
				break;
			}
			err = add_page(c, rs, i, &r.dfs_list_res_u.ok, &rj);
			if (err) {
				xdr_free((xdrproc_t)xdr_dfs_list_res, (char *)&r);
				return err;
			}
			eof = r.dfs_list_res_u.ok.eof;
			cookie_len = r.dfs_list_res_u.ok.cookie.cookie_len;
			if (cookie_len)
				memcpy(cookie, r.dfs_list_res_u.ok.cookie.cookie_val, cookie_len);
			xdr_free((xdrproc_t)xdr_dfs_list_res, (char *)&r);
		}
		if (!eof) {
			/* Part of a listing would make the files it lacks look
			 * missing from this server. */
			records_truncate(rs, start);
			continue;
		}
		answered++;
		if (rj.count)
			client_warn(c, l->conf->number,
				    "%s: ignored %u record%s it listed, the first '%s': %s",
				    link_label(l, label, sizeof(label)), rj.count,
				    rj.count == 1 ? "" : "s", rj.shown, rj.why);
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

/* The newest version of the name of rs->v[from] (the records are sorted by
 * name, newest first) that readers believe: reported by two servers, or by
 * servers that hold every chunk between them, and not far beyond this host's
 * clock (see plan_choose). NULL if there is none. */
static const dfs_file_info *believed(const struct records *rs, size_t from, unsigned nservers,
				     uint64_t now)
{
	for (size_t v = from; v < rs->count && same_name(&rs->v[v].info, &rs->v[from].info);) {
		const dfs_file_info *x = &rs->v[v].info;
		bool in[DFS_SERVERS_MAX] = {false};
		unsigned count = 0;

		for (; v < rs->count && same_name(&rs->v[v].info, x) && rs->v[v].info.ver == x->ver;
		     v++) {
			unsigned s = rs->v[v].server;

			if (s >= 1 && s <= nservers && !in[s - 1]) {
				in[s - 1] = true;
				count++;
			}
		}
		if (version_too_far_ahead(x->ver, now, PLAN_MAX_AHEAD_NS))
			continue;
		if (count >= 2 || version_covers(in, nservers))
			return x;
	}
	return NULL;
}

/* A file entry with room for nchunks chunks' counts, freed with one free()
 * (its name apart). */
static struct dfs_file *file_new(unsigned nchunks)
{
	size_t n = nchunks ? nchunks : 1;
	struct dfs_file *f = calloc(1, sizeof(*f) + n * (sizeof(uint64_t) + sizeof(unsigned)));

	if (!f)
		return NULL;
	f->holders = (uint64_t *)(f + 1);
	f->copies = (unsigned *)(f->holders + n);
	f->nchunks = nchunks;
	return f;
}

static void file_free(struct dfs_file *f)
{
	if (f)
		free(f->name);
	free(f);
}

/* Merges sorted records into files: the newest believed version of each name
 * wins; copies[] counts the servers holding each chunk of that version. */
static int merge(struct dfs_client *c, struct records *rs, unsigned answered, bool include_deleted,
		 struct dfs_file_list *list)
{
	uint64_t now = plan_clock_ns();
	unsigned unconfirmed = 0;

	if (rs->count)
		qsort(rs->v, rs->count, sizeof(*rs->v), compare_records);
	list->files = calloc(rs->count ? rs->count : 1, sizeof(*list->files));
	if (!list->files)
		return client_fail(c, -ENOMEM, "out of memory");
	for (size_t i = 0; i < rs->count;) {
		const dfs_file_info *best = believed(rs, i, c->conf.nservers, now);
		struct dfs_file *f;
		size_t j = i;

		unsigned agree = 0;
		bool hinted = false;
		uint64_t seen = 0;

		if (!best && !include_deleted) {
			/* Named by one server alone: nothing confirms it exists. */
			unconfirmed++;
			while (j < rs->count && same_name(&rs->v[j].info, &rs->v[i].info))
				j++;
			i = j;
			continue;
		}
		if (!best)
			best = &rs->v[i].info;
		f = file_new(best->nchunks <= DFS_SERVERS_MAX ? best->nchunks : DFS_SERVERS_MAX);
		if (!f)
			return client_fail(c, -ENOMEM, "out of memory");
		for (; j < rs->count && same_name(&rs->v[j].info, best); j++) {
			const dfs_file_info *x = &rs->v[j].info;
			uint64_t bit = UINT64_C(1) << (rs->v[j].server - 1);

			/* A server listing a name twice counts once, with its newest. */
			if (seen & bit)
				continue;
			seen |= bit;

			if (x->ver == best->ver)
				agree++;
			if (x->ver == best->ver && x->lacking.lacking_len)
				hinted = true;
			if (x->ver != best->ver || x->deleted)
				continue;
			for (u_int k = 0; k < x->chunks.chunks_len; k++) {
				unsigned idx = x->chunks.chunks_val[k].index;

				if (idx >= 1 && idx <= f->nchunks) {
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
			if (!f->name) {
				file_free(f);
				return client_fail(c, -ENOMEM, "out of memory");
			}
			f->size = best->size;
			f->version = best->ver;
			f->mtime_ns = best->mtime_ns;
			f->readable = !best->deleted;
			for (unsigned k = 0; k < f->nchunks; k++) {
				if (f->copies[k] == 0)
					f->readable = false;
				if (f->copies[k] < 2)
					f->degraded = true;
			}
			list->files[list->count++] = f;
		} else {
			file_free(f);
		}
		i = j;
	}
	if (unconfirmed)
		client_warn(c, 0,
			    "%u name%s listed by a single server only, not confirmed by another, "
			    "%s not shown",
			    unconfirmed, unconfirmed == 1 ? "" : "s",
			    unconfirmed == 1 ? "is" : "are");
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
		file_free(list->files[i]);
	free(list->files);
	free(list);
}

/* list_merge.c: the records the servers list, merged into the user's files: the
 * newest believed version of each name wins; copies[] counts the servers holding each
 * chunk of that version. */
#include "list_merge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "version.h"

int records_add(struct records *rs, unsigned server, dfs_file_info *info)
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

void records_free(struct records *rs)
{
	for (size_t i = 0; i < rs->count; i++)
		xdr_free((xdrproc_t)xdr_dfs_file_info, (char *)&rs->v[i].info);
	free(rs->v);
}

int list_name_cmp(const char *a, u_int alen, const char *b, u_int blen)
{
	int d = memcmp(a, b, alen < blen ? alen : blen);

	if (d)
		return d;
	return alen == blen ? 0 : alen < blen ? -1 : 1;
}

static int compare_records(const void *pa, const void *pb)
{
	const dfs_file_info *a = &((const struct record *)pa)->info;
	const dfs_file_info *b = &((const struct record *)pb)->info;
	int d = list_name_cmp(a->name.dfs_name_val, a->name.dfs_name_len, b->name.dfs_name_val,
			      b->name.dfs_name_len);

	if (d)
		return d;
	if (a->ver != b->ver)
		return a->ver > b->ver ? -1 : 1; /* newest first */
	return 0;
}

void records_sort(struct records *rs)
{
	if (rs->count)
		qsort(rs->v, rs->count, sizeof(*rs->v), compare_records);
}

static bool same_name(const dfs_file_info *a, const dfs_file_info *b)
{
	return a->name.dfs_name_len == b->name.dfs_name_len &&
	       memcmp(a->name.dfs_name_val, b->name.dfs_name_val, a->name.dfs_name_len) == 0;
}

void records_truncate(struct records *rs, size_t from)
{
	for (size_t i = from; i < rs->count; i++)
		xdr_free((xdrproc_t)xdr_dfs_file_info, (char *)&rs->v[i].info);
	if (from < rs->count)
		rs->count = from;
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

size_t records_count_live(const struct records *rs, size_t end, unsigned nservers, uint64_t now)
{
	size_t live = 0;

	for (size_t i = 0; i < end;) {
		const dfs_file_info *best = believed(rs, i, nservers, now);
		size_t j = i + 1;

		if (best && !best->deleted)
			live++;
		while (j < end && same_name(&rs->v[j].info, &rs->v[i].info))
			j++;
		i = j;
	}
	return live;
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

/* Keeps the first limit files of list. */
static void list_cut(struct dfs_file_list *list, size_t limit)
{
	for (size_t i = limit; i < list->count; i++)
		file_free(list->files[i]);
	if (limit < list->count)
		list->count = limit;
}

int records_merge(struct dfs_client *c, struct records *rs, unsigned answered, bool include_deleted,
		  size_t limit, struct dfs_file_list *list)
{
	uint64_t now = plan_clock_ns();
	unsigned unconfirmed = 0;

	records_sort(rs);
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
	if (limit)
		list_cut(list, limit);
	return 0;
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

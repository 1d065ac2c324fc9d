/* status.c: the state of every server, and where a file's chunks live. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* One block holding a list head of head_size bytes, whose pointer array
 * (*slots, n pointers) points at n zeroed entries of entry_size bytes: the
 * caller frees it all with one free(). */
static void *list_block(size_t head_size, size_t n, size_t entry_size, void ***slots)
{
	size_t head = (head_size + 15) / 16 * 16, ptrs = (n * sizeof(void *) + 15) / 16 * 16;
	char *block = calloc(1, head + ptrs + n * entry_size);

	if (!block)
		return NULL;
	*slots = (void **)(block + head);
	for (size_t i = 0; i < n; i++)
		(*slots)[i] = block + head + ptrs + i * entry_size;
	return block;
}

/* The server's scrub and recovery, from TASKS; a server older than TASKS, or
 * one that fails it, leaves has_scrub and has_recovery false. */
static void read_tasks(struct link *l, struct dfs_server_info *s)
{
	dfs_cred_args a = {.cred = l->cred};
	dfs_tasks_res r;

	memset(&r, 0, sizeof(r));
	if (dfsproc_tasks_1(&a, &r, l->clnt[0]) != RPC_SUCCESS) {
		xdr_free((xdrproc_t)xdr_dfs_tasks_res, (char *)&r);
		return;
	}
	for (u_int i = 0; r.status == DFS_OK && i < r.dfs_tasks_res_u.tasks.tasks_len; i++) {
		const dfs_task *t = &r.dfs_tasks_res_u.tasks.tasks_val[i];

		if (t->name && strcmp(t->name, "recovery") == 0) {
			s->has_recovery = true;
			s->recovery_running = t->running;
			s->recovery_users_done = t->items_done;
			s->recovery_users_total = t->items_total;
			s->recovery_bytes_done = t->bytes_done;
			s->recovery_errors = t->errors;
			s->recovery_started_s = t->started_s;
			s->recovery_last_end_s = t->last_end_s;
		}
		if (t->name == NULL || strcmp(t->name, "scrub") != 0)
			continue;
		s->has_scrub = true;
		s->scrub_running = t->running;
		s->scrub_items_done = t->items_done;
		s->scrub_items_total = t->items_total;
		s->scrub_bytes_done = t->bytes_done;
		s->scrub_bytes_total = t->bytes_total;
		s->scrub_corrupt = t->errors;
		s->scrub_started_s = t->started_s;
		s->scrub_last_end_s = t->last_end_s;
	}
	xdr_free((xdrproc_t)xdr_dfs_tasks_res, (char *)&r);
}

int dfs_status(struct dfs_client *c, struct dfs_server_list **out)
{
	unsigned n = c->conf.nservers;
	struct dfs_server_list *list;
	void **slots;

	*out = NULL;
	list = list_block(sizeof(*list), n, sizeof(struct dfs_server_info), &slots);
	if (!list)
		return client_fail(c, -ENOMEM, "out of memory");
	list->servers = (struct dfs_server_info **)slots;
	list->count = n;
	for (unsigned i = 0; i < n; i++) {
		struct link *l = &c->links[i];
		struct dfs_server_info *s = list->servers[i];
		dfs_cred_args a = {.cred = l->cred};
		dfs_status_res r;

		s->number = l->conf->number;
		s->program = l->conf->program;
		s->up = conn_ping(c, l) == 0;
		snprintf(s->address, sizeof(s->address), "%s", l->address);
		if (!s->up) {
			snprintf(s->error, sizeof(s->error), "%s", l->why);
			continue;
		}
		s->rtt_ms = l->rtt_ms;
		s->tls = l->tls;
		if (!l->up)
			continue; /* answering, but not logged in: no details */
		memset(&r, 0, sizeof(r));
		if (dfsproc_status_1(&a, &r, l->clnt[0]) != RPC_SUCCESS || r.status != DFS_OK) {
			xdr_free((xdrproc_t)xdr_dfs_status_res, (char *)&r);
			continue;
		}
		snprintf(s->software, sizeof(s->software), "%s", r.dfs_status_res_u.ok.software);
		s->space_free = r.dfs_status_res_u.ok.space_free;
		s->space_total = r.dfs_status_res_u.ok.space_total;
		s->files = r.dfs_status_res_u.ok.files;
		s->chunks = r.dfs_status_res_u.ok.chunks;
		s->bytes_stored = r.dfs_status_res_u.ok.bytes_stored;
		s->chunks_need_repair = r.dfs_status_res_u.ok.chunks_need_repair;
		s->bytes_read = r.dfs_status_res_u.ok.bytes_read;
		s->bytes_written = r.dfs_status_res_u.ok.bytes_written;
		s->reads = r.dfs_status_res_u.ok.reads;
		s->quota_bytes = r.dfs_status_res_u.ok.quota_bytes;
		s->quota_files = r.dfs_status_res_u.ok.quota_files;
		s->logical_bytes = r.dfs_status_res_u.ok.logical_bytes;
		xdr_free((xdrproc_t)xdr_dfs_status_res, (char *)&r);
		read_tasks(l, s);
	}
	*out = list;
	return 0;
}

void dfs_server_list_free(struct dfs_server_list *list)
{
	free(list);
}

int dfs_locate(struct dfs_client *c, const char *remote_name, struct dfs_placement **out)
{
	unsigned n = c->conf.nservers;
	struct dfs_placement *placement;
	struct file_view view;
	struct read_plan plan;
	void **slots;
	int err;

	*out = NULL;
	err = dfs_name_check(remote_name);
	if (err)
		return client_fail(c, err, "invalid remote name '%s'", remote_name);
	placement = list_block(sizeof(*placement), n, sizeof(struct dfs_location), &slots);
	if (!placement)
		return client_fail(c, -ENOMEM, "out of memory");
	placement->servers = (struct dfs_location **)slots;
	placement->count = n;
	err = c->logged_in ? plan_lookup(c, remote_name, false, &view) : -ENOTCONN;
	if (err) {
		memset(&view, 0, sizeof(view));
		layout_init(&view.layout, remote_name, strlen(remote_name), n);
	}
	plan_choose(&view, &plan);
	for (unsigned s = 1; s <= n; s++) {
		struct dfs_location *loc = placement->servers[s - 1];
		const dfs_file_info *held = NULL;

		loc->server = s;
		loc->first = view.layout.pair[s - 1][0];
		loc->second = view.layout.pair[s - 1][1];
		loc->up = c->links[s - 1].up && view.holders[s - 1].answered;
		loc->held = -1;
		if (!loc->up)
			continue;
		if (plan.found)
			held = plan_held(&view.holders[s - 1], plan.info->ver);
		loc->held = (plan_has_chunk(held, loc->first, NULL) ? 1 : 0) |
			    (plan_has_chunk(held, loc->second, NULL) ? 2 : 0);
	}
	plan_view_free(&view);
	*out = placement;
	return 0;
}

void dfs_placement_free(struct dfs_placement *placement)
{
	free(placement);
}

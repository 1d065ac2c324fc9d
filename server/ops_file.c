/* ops_file.c: COMMIT, ABORT, LOOKUP, LOOKUP_READ, LIST, LIST_NAMES, DELETE, VERIFY, STATUS
 * and TASKS. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "heal.h"
#include "names.h"
#include "ops.h"
#include "scrub.h"
#include "store.h"
#include "users.h"
#include "version.h"

/* Authenticates (for a change if writes) and checks the name: the preamble of
 * every per-file call. */
static dfs_stat begin_file_call(struct conn *cn, const dfs_cred *cred, const dfs_name *name,
				bool writes, char user[65])
{
	dfs_stat st =
	    writes ? op_authenticate_writer(cn, cred, user) : op_authenticate(cn, cred, user);
	int err;

	if (st != DFS_OK)
		return st;
	err = name_check(name->dfs_name_val, name->dfs_name_len, NULL);
	return err ? op_stat_from_errno(err) : DFS_OK;
}

dfs_stat op_check_version(struct conn *cn, uint64_t ver)
{
	struct timespec ts;
	uint64_t now, max_ahead = (uint64_t)cn->srv->cfg.max_clock_skew_s * 1000000000u;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (!version_too_far_ahead(ver, now, max_ahead))
		return DFS_OK;
	/* Taken, such a version would stay the newest for as long as the clock
	 * is wrong: every client after it would have to number its writes above it. */
	log_warn("%s: refused version %016llx: %.0f s ahead of this server's clock "
		 "(max_clock_skew %u s); the client's clock (or this server's) is wrong",
		 cn->peer_text, (unsigned long long)ver, (double)(ver - now) / 1e9,
		 cn->srv->cfg.max_clock_skew_s);
	return DFS_ERANGE;
}

void op_commit(struct conn *cn, dfs_commit_args *a, dfs_stat *r)
{
	struct store_quota quota;
	char user[65];
	int err;

	*r = begin_file_call(cn, &a->cred, &a->info.name, true, user);
	if (*r != DFS_OK)
		return;
	if (a->info.deleted || a->info.ver == 0 || a->info.nchunks < 1 ||
	    a->info.nchunks > DFS_SERVERS_MAX) {
		*r = DFS_EINVAL;
		return;
	}
	*r = op_check_version(cn, a->info.ver);
	if (*r != DFS_OK)
		return;
	err = op_user_quota(cn, user, &quota);
	if (err == 0)
		err = store_commit_quota(cn->srv->store, user, &a->info, &quota);
	if (err == 0)
		server_note_lacking(cn->srv, a->info.lacking.lacking_val,
				    a->info.lacking.lacking_len);
	if (err == -EDQUOT)
		log_info("%s: commit of version %016llx refused: %s over quota", cn->peer_text,
			 (unsigned long long)a->info.ver, user);
	else if (err < 0 && err != -ESTALE && err != -EEXIST)
		log_warn("%s: commit of version %016llx failed: %s", cn->peer_text,
			 (unsigned long long)a->info.ver, strerror(-err));
	*r = op_stat_from_errno(err);
}

void op_abort(struct conn *cn, dfs_version_args *a, dfs_stat *r)
{
	char user[65];

	*r = begin_file_call(cn, &a->cred, &a->name, true, user);
	if (*r != DFS_OK)
		return;
	*r = op_stat_from_errno(
	    store_abort(cn->srv->store, user, a->name.dfs_name_val, a->name.dfs_name_len, a->ver));
}

/* The record of (user, name) handed over to out, which is freed with the reply. */
static dfs_stat lookup_into(struct conn *cn, const char *user, const dfs_name *name,
			    dfs_lookup_ok *out)
{
	dfs_meta meta;
	int err;

	memset(&meta, 0, sizeof(meta));
	err = store_lookup(cn->srv->store, user, name->dfs_name_val, name->dfs_name_len, &meta);
	if (err < 0)
		return op_stat_from_errno(err);
	out->current = meta.current;
	out->previous.previous_len = meta.previous.previous_len;
	out->previous.previous_val = meta.previous.previous_val;
	return DFS_OK;
}

void op_lookup(struct conn *cn, dfs_name_args *a, dfs_lookup_res *r)
{
	char user[65];

	r->status = begin_file_call(cn, &a->cred, &a->name, false, user);
	if (r->status == DFS_OK)
		r->status = lookup_into(cn, user, &a->name, &r->dfs_lookup_res_u.ok);
}

/* The size of chunk index in info, if info lists it as held. */
static bool chunk_held(const dfs_file_info *info, unsigned index, uint64_t *size)
{
	for (u_int i = 0; !info->deleted && i < info->chunks.chunks_len; i++) {
		if (info->chunks.chunks_val[i].index == index) {
			*size = info->chunks.chunks_val[i].size;
			return true;
		}
	}
	return false;
}

size_t op_lookup_read_file(struct conn *cn, const char *user, const dfs_name *name, unsigned index,
			   unsigned max, dfs_lookup_read_res *r)
{
	dfs_lookup_read_ok *ok = &r->dfs_lookup_read_res_u.ok;
	const dfs_file_info *cur;
	uint64_t size;
	size_t got;
	char *buf;
	int err = name_check(name->dfs_name_val, name->dfs_name_len, NULL);

	r->status = err ? op_stat_from_errno(err) : lookup_into(cn, user, name, &ok->rec);
	if (r->status != DFS_OK)
		return 0;
	cur = &ok->rec.current;
	if (max > DFS_BLOCK_MAX || !chunk_held(cur, index, &size) || size > max ||
	    op_check_peer_read(cn, name, index) != DFS_OK)
		return 0;
	buf = malloc(size ? size : 1);
	/* Without the bytes the record still answers; the client then asks with READ,
	 * which reports why they cannot be read. */
	if (!buf ||
	    store_read(cn->srv->store, user, name->dfs_name_val, name->dfs_name_len, cur->ver,
		       index, 0, buf, size, &got) < 0 ||
	    got != size) {
		free(buf);
		return 0;
	}
	atomic_fetch_add(&cn->srv->bytes_read, got);
	atomic_fetch_add(&cn->srv->reads, 1);
	ok->data_ver = cur->ver;
	ok->data.data_val = buf;
	ok->data.data_len = (u_int)got;
	return got;
}

void op_lookup_read(struct conn *cn, dfs_lookup_read_args *a, dfs_lookup_read_res *r)
{
	char user[65];

	r->status = op_authenticate(cn, &a->cred, user);
	if (r->status == DFS_OK)
		op_lookup_read_file(cn, user, &a->name, a->index, a->max, r);
}

void op_list(struct conn *cn, dfs_list_args *a, dfs_list_res *r)
{
	char user[65], cookie[65], next[65];
	dfs_file_info *entries;
	unsigned count = 0;
	bool eof = false;
	int err;

	r->status = op_authenticate(cn, &a->cred, user);
	if (r->status != DFS_OK)
		return;
	if (a->cookie.cookie_len != 0 && a->cookie.cookie_len != 64) {
		r->status = DFS_EINVAL;
		return;
	}
	if (a->cookie.cookie_len)
		memcpy(cookie, a->cookie.cookie_val, a->cookie.cookie_len);
	cookie[a->cookie.cookie_len] = '\0';
	entries = calloc(DFS_LIST_MAX, sizeof(*entries));
	if (!entries) {
		r->status = DFS_ENOMEM;
		return;
	}
	err = store_list(cn->srv->store, user, cookie, entries, DFS_LIST_MAX, &count, next, &eof);
	if (err < 0) {
		free(entries);
		r->status = op_stat_from_errno(err);
		return;
	}
	atomic_fetch_add(&cn->srv->listed, count);
	r->dfs_list_res_u.ok.entries.entries_val = entries;
	r->dfs_list_res_u.ok.entries.entries_len = count;
	r->dfs_list_res_u.ok.eof = eof;
	if (!eof) {
		r->dfs_list_res_u.ok.cookie.cookie_val = malloc(64);
		if (!r->dfs_list_res_u.ok.cookie.cookie_val) {
			r->status = DFS_ENOMEM;
			return;
		}
		memcpy(r->dfs_list_res_u.ok.cookie.cookie_val, next, 64);
		r->dfs_list_res_u.ok.cookie.cookie_len = 64;
	}
	r->status = DFS_OK;
}

void op_list_names(struct conn *cn, dfs_list_names_args *a, dfs_list_names_res *r)
{
	char user[65];
	dfs_file_info *entries;
	unsigned count = 0;
	bool eof = false;
	int err;

	r->status = op_authenticate(cn, &a->cred, user);
	if (r->status != DFS_OK)
		return;
	if (a->max == 0 || a->max > DFS_LIST_MAX) {
		r->status = DFS_EINVAL;
		return;
	}
	entries = calloc(a->max, sizeof(*entries));
	if (!entries) {
		r->status = DFS_ENOMEM;
		return;
	}
	err =
	    store_list_names(cn->srv->store, user, a->prefix.prefix_val, a->prefix.prefix_len,
			     a->after.after_val, a->after.after_len, entries, a->max, &count, &eof);
	if (err < 0) {
		free(entries);
		r->status = op_stat_from_errno(err);
		return;
	}
	atomic_fetch_add(&cn->srv->listed, count);
	r->dfs_list_names_res_u.ok.entries.entries_val = entries;
	r->dfs_list_names_res_u.ok.entries.entries_len = count;
	r->dfs_list_names_res_u.ok.eof = eof;
	r->status = DFS_OK;
}

static void scrub_task(struct scrub *sc, dfs_task *t)
{
	struct scrub_progress p;

	scrub_progress(sc, &p);
	t->running = p.running;
	t->items_done = p.items_done;
	t->items_total = p.items_total;
	t->bytes_done = p.bytes_done;
	t->bytes_total = p.bytes_total;
	t->errors = p.corrupt;
	t->started_s = p.pass_started_ns / 1000000000;
	t->last_end_s = p.last_end_ns / 1000000000;
}

/* Items are users; the bytes still to copy are not known ahead (bytes_total 0). */
static void heal_task(struct heal *h, dfs_task *t)
{
	struct heal_progress p;

	heal_progress(h, &p);
	t->running = p.running;
	t->items_done = p.users_done;
	t->items_total = p.users_total;
	t->bytes_done = p.bytes_done;
	t->errors = p.errors;
	t->started_s = p.pass_started_ns / 1000000000;
	t->last_end_s = p.last_end_ns / 1000000000;
}

void op_tasks(struct conn *cn, dfs_cred_args *a, dfs_tasks_res *r)
{
	struct server *srv = cn->srv;
	dfs_task *t;
	char user[65];
	u_int n = 0;

	r->status = op_authenticate(cn, &a->cred, user);
	if (r->status != DFS_OK)
		return;
	t = calloc(2, sizeof(*t));
	if (!t) {
		r->status = DFS_ENOMEM;
		return;
	}
	r->dfs_tasks_res_u.tasks.tasks_val = t;
	if (srv->scrub) {
		t[n].name = strdup("scrub");
		if (t[n].name)
			scrub_task(srv->scrub, &t[n++]);
	}
	if (srv->heal) {
		t[n].name = strdup("recovery");
		if (t[n].name)
			heal_task(srv->heal, &t[n++]);
	}
	r->dfs_tasks_res_u.tasks.tasks_len = n;
}

void op_delete(struct conn *cn, dfs_delete_args *a, dfs_stat *r)
{
	char user[65];
	int err;

	*r = begin_file_call(cn, &a->cred, &a->name, true, user);
	if (*r != DFS_OK)
		return;
	if (a->ver == 0) {
		*r = DFS_EINVAL;
		return;
	}
	*r = op_check_version(cn, a->ver);
	if (*r != DFS_OK)
		return;
	err = store_delete(cn->srv->store, user, a->name.dfs_name_val, a->name.dfs_name_len, a->ver,
			   a->lacking.lacking_val, a->lacking.lacking_len);
	if (err == 0 || err == -ENOENT)
		server_note_lacking(cn->srv, a->lacking.lacking_val, a->lacking.lacking_len);
	*r = op_stat_from_errno(err);
}

void op_verify(struct conn *cn, dfs_version_args *a, dfs_verify_res *r)
{
	char user[65];
	dfs_chunk_check *checks;
	unsigned count = 0;
	int err;

	r->status = begin_file_call(cn, &a->cred, &a->name, true, user);
	if (r->status != DFS_OK)
		return;
	checks = calloc(DFS_HELD_MAX, sizeof(*checks));
	if (!checks) {
		r->status = DFS_ENOMEM;
		return;
	}
	err = store_verify(cn->srv->store, user, a->name.dfs_name_val, a->name.dfs_name_len, a->ver,
			   checks, &count);
	if (err < 0) {
		free(checks);
		r->status = op_stat_from_errno(err);
		return;
	}
	for (unsigned i = 0; i < count; i++)
		if (checks[i].status != DFS_OK)
			log_warn("user %s: chunk %u of version %016llx fails its checksum", user,
				 checks[i].index, (unsigned long long)a->ver);
	r->dfs_verify_res_u.checks.checks_val = checks;
	r->dfs_verify_res_u.checks.checks_len = count;
	r->status = DFS_OK;
}

void op_verified(struct conn *cn, dfs_version_args *a, dfs_verified_res *r)
{
	struct store_verified v[DFS_HELD_MAX];
	dfs_copy_verified *out;
	char user[65];
	unsigned count = 0;
	int err;

	r->status = begin_file_call(cn, &a->cred, &a->name, false, user);
	if (r->status != DFS_OK)
		return;
	err = store_verified(cn->srv->store, user, a->name.dfs_name_val, a->name.dfs_name_len,
			     a->ver, v, &count);
	if (err < 0) {
		r->status = op_stat_from_errno(err);
		return;
	}
	out = calloc(DFS_HELD_MAX, sizeof(*out));
	if (!out) {
		r->status = DFS_ENOMEM;
		return;
	}
	for (unsigned i = 0; i < count; i++)
		out[i] = (dfs_copy_verified){v[i].index, v[i].when_ns, (dfs_stat)v[i].result};
	r->dfs_verified_res_u.copies.copies_val = out;
	r->dfs_verified_res_u.copies.copies_len = count;
	r->status = DFS_OK;
}

void op_status(struct conn *cn, dfs_cred_args *a, dfs_status_res *r)
{
	struct server *srv = cn->srv;
	dfs_server_status *s = &r->dfs_status_res_u.ok;
	struct store_stats stats;
	struct user_quota quota;
	char user[65];
	int err;

	r->status = op_authenticate(cn, &a->cred, user);
	if (r->status != DFS_OK)
		return;
	/* The caller's own files only: other users' counts are none of their business. */
	err = store_user_stats(srv->store, user, &stats);
	if (err < 0) {
		r->status = op_stat_from_errno(err);
		return;
	}
	s->software = strdup("dfsd " DFS_VERSION_STRING);
	if (!s->software) {
		r->status = DFS_ENOMEM;
		return;
	}
	s->server_id = srv->cfg.id;
	s->format = STORE_FORMAT;
	s->tls = cn->tls;
	s->uptime_s = time(NULL) - srv->started;
	s->space_free = stats.space_free;
	s->space_total = stats.space_total;
	s->files = stats.files;
	s->chunks = stats.chunks;
	s->bytes_stored = stats.bytes;
	s->chunks_need_repair = stats.chunks_need_repair;
	s->bytes_read = atomic_load(&srv->bytes_read);
	s->bytes_written = atomic_load(&srv->bytes_written);
	s->reads = atomic_load(&srv->reads);
	s->logical_bytes = stats.logical_bytes;
	if (user_db_quota(srv->users, user, &quota) == 0) {
		s->quota_bytes = quota.bytes;
		s->quota_files = quota.files;
	}
	r->status = DFS_OK;
}

void op_repair_hints(struct conn *cn, dfs_cred_args *a, dfs_hints_res *r)
{
	char user[65];
	uint64_t files = 0;
	int err;

	r->status = op_authenticate(cn, &a->cred, user);
	if (r->status != DFS_OK)
		return;
	/* Only this user's records: another user's repairs are theirs to run. */
	err = store_lacking_files(cn->srv->store, user, &files);
	r->status = op_stat_from_errno(err);
	if (r->status == DFS_OK)
		r->dfs_hints_res_u.files = files;
}

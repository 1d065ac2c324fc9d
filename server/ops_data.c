/* ops_data.c: chunk uploads (PUT_BEGIN, PUT_BLOCK, PUT_END, STORE) and READ. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "names.h"
#include "ops.h"
#include "store.h"

/* Uploads open on one connection; a connection is served by one thread. */
#define UPLOADS_PER_CONN 16

struct upload_slot {
	struct upload_slot *next;
	uint64_t handle;
	char user[65];
	struct store_upload *up;
};

static uint64_t next_handle(struct conn *cn)
{
	uint64_t max = 0;

	for (struct upload_slot *s = cn->uploads; s; s = s->next)
		if (s->handle > max)
			max = s->handle;
	return max + 1;
}

static struct upload_slot *find_slot(struct conn *cn, uint64_t handle, const char *user)
{
	for (struct upload_slot *s = cn->uploads; s; s = s->next)
		if (s->handle == handle && strcmp(s->user, user) == 0)
			return s;
	return NULL;
}

static void unlink_slot(struct conn *cn, struct upload_slot *slot)
{
	for (struct upload_slot **p = &cn->uploads; *p; p = &(*p)->next) {
		if (*p == slot) {
			*p = slot->next;
			free(slot);
			return;
		}
	}
}

static unsigned count_slots(const struct conn *cn)
{
	unsigned n = 0;

	for (const struct upload_slot *s = cn->uploads; s; s = s->next)
		n++;
	return n;
}

static dfs_stat check_name(const dfs_name *name)
{
	int err = name_check(name->dfs_name_val, name->dfs_name_len, NULL);

	return err ? op_stat_from_errno(err) : DFS_OK;
}

void op_put_begin(struct conn *cn, dfs_put_begin_args *a, dfs_put_begin_res *r)
{
	struct store_quota quota;
	struct upload_slot *slot = NULL;
	char user[65];
	uint64_t offset = 0;
	int err;

	r->status = op_authenticate_writer(cn, &a->cred, user);
	if (r->status != DFS_OK)
		return;
	r->status = check_name(&a->name);
	if (r->status != DFS_OK)
		return;
	if (a->index < 1 || a->index > DFS_SERVERS_MAX || a->ver == 0) {
		r->status = DFS_EINVAL;
		return;
	}
	r->status = op_check_version(cn, a->ver);
	if (r->status != DFS_OK)
		return;
	if (count_slots(cn) >= UPLOADS_PER_CONN) {
		r->status = DFS_EBUSY;
		return;
	}
	err = op_user_quota(cn, user, &quota);
	if (err == 0)
		err = store_quota_precheck(cn->srv->store, user, &quota, a->size);
	if (err < 0) {
		r->status = op_stat_from_errno(err);
		return;
	}
	slot = calloc(1, sizeof(*slot));
	if (!slot) {
		r->status = DFS_ENOMEM;
		return;
	}
	err = store_upload_begin(cn->srv->store, user, a->name.dfs_name_val, a->name.dfs_name_len,
				 a->ver, a->index, a->size, &slot->up, &offset);
	if (err < 0) {
		if (err == -ENOSPC)
			log_warn("%s: no space for a %llu-byte chunk", cn->peer_text,
				 (unsigned long long)a->size);
		free(slot);
		r->status = op_stat_from_errno(err);
		return;
	}
	slot->handle = next_handle(cn);
	memcpy(slot->user, user, sizeof(slot->user));
	slot->next = cn->uploads;
	cn->uploads = slot;
	r->dfs_put_begin_res_u.ok.handle = slot->handle;
	r->dfs_put_begin_res_u.ok.offset = offset;
	r->status = DFS_OK;
}

/* The caller's upload `handle` on this connection, after checking the
 * session: DFS_OK, the session's refusal, or DFS_ENOENT. */
static dfs_stat caller_upload(struct conn *cn, const dfs_cred *cred, uint64_t handle,
			      struct upload_slot **slot)
{
	char user[65];
	dfs_stat st = op_authenticate_writer(cn, cred, user);

	if (st != DFS_OK)
		return st;
	*slot = find_slot(cn, handle, user);
	return *slot ? DFS_OK : DFS_ENOENT;
}

void op_put_block(struct conn *cn, dfs_put_block_args *a, dfs_stat *r)
{
	struct upload_slot *slot;
	int err;

	*r = caller_upload(cn, &a->cred, a->handle, &slot);
	if (*r != DFS_OK)
		return;
	/* Data decoded into the connection's block buffer may stay with the upload,
	 * which gives the connection another (dispatch.c). */
	if (a->data.data_val == cn->block_buf)
		err =
		    store_upload_write_block(slot->up, a->offset, &cn->block_buf, a->data.data_len);
	else
		err = store_upload_write(slot->up, a->offset, a->data.data_val, a->data.data_len);
	if (err < 0) {
		/* A failed write leaves the upload unusable: drop it now. */
		store_upload_abort(slot->up);
		unlink_slot(cn, slot);
		*r = op_stat_from_errno(err);
		return;
	}
	atomic_fetch_add(&cn->srv->bytes_written, a->data.data_len);
	*r = DFS_OK;
}

void op_put_end(struct conn *cn, dfs_put_end_args *a, dfs_stat *r)
{
	struct upload_slot *slot;
	int err;

	*r = caller_upload(cn, &a->cred, a->handle, &slot);
	if (*r != DFS_OK)
		return;
	err = store_upload_finish(slot->up, a->checksum);
	unlink_slot(cn, slot);
	if (err == -EBADMSG)
		log_warn("%s: chunk upload failed its checksum", cn->peer_text);
	*r = op_stat_from_errno(err);
}

dfs_stat op_store_check(struct conn *cn, const dfs_file_info *info)
{
	dfs_stat st = check_name(&info->name);

	if (st != DFS_OK)
		return st;
	if (info->deleted || info->ver == 0 || info->nchunks < 1 || info->nchunks > DFS_SERVERS_MAX)
		return DFS_EINVAL;
	return op_check_version(cn, info->ver);
}

dfs_stat op_store_done(struct conn *cn, const char *user, const dfs_file_info *info, u_int len,
		       int err)
{
	if (err == -EDQUOT)
		log_info("%s: store of version %016llx refused: %s over quota", cn->peer_text,
			 (unsigned long long)info->ver, user);
	else if (err == -EBADMSG)
		log_warn("%s: a stored chunk failed its checksum", cn->peer_text);
	else if (err == -ENOSPC)
		log_warn("%s: no space for a %u-byte file", cn->peer_text, len);
	else if (err < 0 && err != -ESTALE && err != -EEXIST && err != -EINVAL)
		log_warn("%s: store of version %016llx failed: %s", cn->peer_text,
			 (unsigned long long)info->ver, strerror(-err));
	if (err == 0) {
		atomic_fetch_add(&cn->srv->bytes_written, len);
		server_note_lacking(cn->srv, info->lacking.lacking_val, info->lacking.lacking_len);
	}
	return op_stat_from_errno(err);
}

void op_store(struct conn *cn, dfs_store_args *a, dfs_stat *r)
{
	struct store_quota quota;
	char user[65];
	int err;

	*r = op_authenticate_writer(cn, &a->cred, user);
	if (*r == DFS_OK)
		*r = op_store_check(cn, &a->info);
	if (*r != DFS_OK)
		return;
	err = op_user_quota(cn, user, &quota);
	if (err == 0)
		err = store_put_whole_quota(cn->srv->store, user, &a->info, a->data.data_val,
					    a->data.data_len, &quota);
	*r = op_store_done(cn, user, &a->info, a->data.data_len, err);
}

void op_uploads_release(struct conn *cn)
{
	while (cn->uploads) {
		struct upload_slot *slot = cn->uploads;

		store_upload_suspend(slot->up);
		cn->uploads = slot->next;
		free(slot);
	}
}

void op_read(struct conn *cn, dfs_read_args *a, dfs_read_res *r)
{
	char user[65];
	size_t got = 0;
	char *buf;
	int err;

	r->status = op_authenticate(cn, &a->cred, user);
	if (r->status != DFS_OK)
		return;
	r->status = check_name(&a->name);
	if (r->status == DFS_OK)
		r->status = op_check_peer_read(cn, &a->name, a->index);
	if (r->status != DFS_OK)
		return;
	if (a->count > DFS_BLOCK_MAX) {
		r->status = DFS_EINVAL;
		return;
	}
	/* The connection's buffer when dispatch lent it (dispatch.c), else a new one. */
	buf = cn->reply_buf ? cn->reply_buf : malloc(a->count ? a->count : 1);
	if (!buf) {
		r->status = DFS_ENOMEM;
		return;
	}
	err = store_read(cn->srv->store, user, a->name.dfs_name_val, a->name.dfs_name_len, a->ver,
			 a->index, a->offset, buf, a->count, &got);
	if (err < 0) {
		if (buf != cn->reply_buf)
			free(buf);
		r->status = op_stat_from_errno(err);
		return;
	}
	atomic_fetch_add(&cn->srv->bytes_read, got);
	atomic_fetch_add(&cn->srv->reads, 1);
	r->dfs_read_res_u.data.data_val = buf;
	r->dfs_read_res_u.data.data_len = (u_int)got;
	r->status = DFS_OK;
}

/* ops.h: the procedure handlers of DFS_V1, grouped by concern (login, data, files). */
#ifndef DFS_OPS_H
#define DFS_OPS_H

#include "dfs_prot.h"
#include "server.h"

/* Each handler fills *res (zeroed by the caller) and returns nothing: the
 * outcome travels in the result's status. */
void op_login_begin(struct conn *cn, dfs_login_begin_args *a, dfs_login_begin_res *r);
void op_login_finish(struct conn *cn, dfs_login_finish_args *a, dfs_login_finish_res *r);
void op_logout(struct conn *cn, dfs_cred_args *a, dfs_stat *r);

void op_put_begin(struct conn *cn, dfs_put_begin_args *a, dfs_put_begin_res *r);
void op_put_block(struct conn *cn, dfs_put_block_args *a, dfs_stat *r);
void op_put_end(struct conn *cn, dfs_put_end_args *a, dfs_stat *r);
void op_store(struct conn *cn, dfs_store_args *a, dfs_stat *r);
void op_store_many(struct conn *cn, dfs_store_many_args *a, dfs_store_many_res *r);
/* Decodes STORE_MANY's arguments, refusing items whose data add up to more than
 * DFS_BLOCK_MAX bytes before allocating more; encodes and frees as generated. */
bool_t xdr_store_many_bounded(XDR *x, dfs_store_many_args *a);
void op_read(struct conn *cn, dfs_read_args *a, dfs_read_res *r);
/* Discards the uploads a closed connection left unfinished (kept for resume). */
void op_uploads_release(struct conn *cn);

void op_commit(struct conn *cn, dfs_commit_args *a, dfs_stat *r);
void op_abort(struct conn *cn, dfs_version_args *a, dfs_stat *r);
void op_lookup(struct conn *cn, dfs_name_args *a, dfs_lookup_res *r);
void op_lookup_read(struct conn *cn, dfs_lookup_read_args *a, dfs_lookup_read_res *r);
void op_lookup_read_many(struct conn *cn, dfs_lookup_read_many_args *a,
			 dfs_lookup_read_many_res *r);
void op_list(struct conn *cn, dfs_list_args *a, dfs_list_res *r);
void op_list_names(struct conn *cn, dfs_list_names_args *a, dfs_list_names_res *r);
void op_tasks(struct conn *cn, dfs_cred_args *a, dfs_tasks_res *r);
void op_delete(struct conn *cn, dfs_delete_args *a, dfs_stat *r);
void op_status(struct conn *cn, dfs_cred_args *a, dfs_status_res *r);
void op_verify(struct conn *cn, dfs_version_args *a, dfs_verify_res *r);
/* When each copy the server holds of a version was last verified, and the result. */
void op_verified(struct conn *cn, dfs_version_args *a, dfs_verified_res *r);
/* The server number this connection proved with its certificate (a server of
 * the peers file), or 0. */
unsigned op_peer_identity(struct conn *cn);
void op_peer_login(struct conn *cn, dfs_peer_login_args *a, dfs_peer_login_res *r);
void op_peer_users(struct conn *cn, dfs_peer_users_args *a, dfs_peer_users_res *r);
void op_peer_nudge(struct conn *cn, dfs_peer_nudge_args *a, dfs_stat *r);
void op_repair_hints(struct conn *cn, dfs_cred_args *a, dfs_hints_res *r);

/* Replaces the session user's verifier (TLS only; needs a writable database). */
void op_set_verifier(struct conn *cn, dfs_set_verifier_args *a, dfs_stat *r);

/* Checks the session token and that its user still exists (a removed
 * user's sessions end); copies its user into user (65 bytes). Returns
 * DFS_OK, DFS_EACCES (unknown token or user) or DFS_EKEYEXPIRED. */
dfs_stat op_authenticate(struct conn *cn, const dfs_cred *cred, char user[65]);
/* op_authenticate for a call that changes what the server holds: a session
 * another server opened for the user (PEER_LOGIN) is refused (DFS_EPERM). */
dfs_stat op_authenticate_writer(struct conn *cn, const dfs_cred *cred, char user[65]);
/* For a call on another server's session (PEER_LOGIN): DFS_EPERM unless that
 * server holds chunk index of the file called name (it may read only its own
 * share); DFS_OK on a user's own session. */
dfs_stat op_check_peer_read(struct conn *cn, const dfs_name *name, unsigned index);
/* Whether a new version (of a put, store, commit or delete) may be taken:
 * DFS_ERANGE (logged) if it lies further beyond this server's clock than
 * max_clock_skew, which only a client with a wrong clock picks. */
dfs_stat op_check_version(struct conn *cn, uint64_t ver);
/* The checks of a STORE's record before it is stored: its name and version. */
dfs_stat op_store_check(struct conn *cn, const dfs_file_info *info);
/* After the store of info (len bytes) for user ended in err: logs a failure,
 * counts a success, and returns the status to answer. */
dfs_stat op_store_done(struct conn *cn, const char *user, const dfs_file_info *info, u_int len,
		       int err);
/* LOOKUP_READ of one file for an authenticated user into *r (zeroed): the
 * record, and the chunk's bytes when index is held and at most max bytes.
 * Returns the count of bytes attached. */
size_t op_lookup_read_file(struct conn *cn, const char *user, const dfs_name *name, unsigned index,
			   unsigned max, dfs_lookup_read_res *r);
/* Maps a negative errno to the status sent on the wire. */
dfs_stat op_stat_from_errno(int err);

#endif

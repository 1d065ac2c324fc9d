/* ops_login.c: SCRAM-SHA-256 login, logout and the session check every other call makes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "ops.h"
#include "session.h"
#include "users.h"

dfs_stat op_stat_from_errno(int err)
{
	switch (-err) {
	case 0:
		return DFS_OK;
	case EPERM:
	case ENOENT:
	case EAGAIN:
	case ENOMEM:
	case EACCES:
	case EBUSY:
	case EEXIST:
	case EINVAL:
	case EFBIG:
	case ENOSPC:
	case EROFS:
	case ERANGE:
	case ENAMETOOLONG:
	case EPROTO:
	case EBADMSG:
	case ESTALE:
	case EKEYEXPIRED:
	case EKEYREJECTED:
		return (dfs_stat)-err;
	case EDQUOT:
		return DFS_ENOSPC;
	default:
		return DFS_EIO;
	}
}

dfs_stat op_authenticate(struct conn *cn, const dfs_cred *cred, char user[65])
{
	int err = sessions_check(cn->srv->sessions, (const unsigned char *)cred->token, user, 65);
	struct scram_verifier v;

	if (err == -EKEYEXPIRED)
		return DFS_EKEYEXPIRED;
	if (err)
		return DFS_EACCES;
	/* A user removed with dfsadm loses every session at its next call. A
	 * database that cannot be read does not end sessions: logins already
	 * fail then, and a transient error should not cut off transfers. */
	err = user_db_get(cn->srv->users, user, &v);
	OPENSSL_cleanse(&v, sizeof(v));
	if (err == -ENOENT) {
		sessions_end_user(cn->srv->sessions, user);
		log_warn("%s: user %s no longer exists; their sessions end", cn->peer_text, user);
		return DFS_EACCES;
	}
	return DFS_OK;
}

void op_login_begin(struct conn *cn, dfs_login_begin_args *a, dfs_login_begin_res *r)
{
	struct server *srv = cn->srv;
	struct scram_server st;
	struct scram_verifier v;
	char out[SCRAM_MSG_MAX];
	unsigned retry_s = 0;
	uint64_t id;
	int n, err;

	memset(&st, 0, sizeof(st));
	if (scram_server_parse_first(&st, a->client_first.client_first_val,
				     a->client_first.client_first_len) < 0) {
		r->status = DFS_EPROTO;
		goto out;
	}
	if (sessions_throttle_check(srv->sessions, st.user, (struct sockaddr *)&cn->peer,
				    &retry_s) < 0) {
		log_warn("%s: login for user %s throttled for %u s after failures", cn->peer_text,
			 st.user, retry_s);
		r->status = DFS_EAGAIN;
		goto out;
	}
	err = user_db_get(srv->users, st.user, &v);
	if (err == -ENOENT) {
		/* Answer as for a real user; the proof will simply never match. */
		scram_fake_verifier(st.user, srv->secret, &v);
	} else if (err < 0) {
		log_error("user database: cannot read user %s: %s", st.user, strerror(-err));
		r->status = DFS_EIO;
		goto out;
	}
	n = scram_server_first(&st, &v, out, sizeof(out));
	if (n < 0) {
		r->status = op_stat_from_errno(n);
		goto out;
	}
	err = sessions_login_store(srv->sessions, &st, &id);
	if (err < 0) {
		r->status = op_stat_from_errno(err);
		goto out;
	}
	r->dfs_login_begin_res_u.ok.login_id = id;
	r->dfs_login_begin_res_u.ok.server_first.server_first_val = malloc((size_t)n);
	if (!r->dfs_login_begin_res_u.ok.server_first.server_first_val) {
		r->status = DFS_ENOMEM;
		goto out;
	}
	memcpy(r->dfs_login_begin_res_u.ok.server_first.server_first_val, out, (size_t)n);
	r->dfs_login_begin_res_u.ok.server_first.server_first_len = (u_int)n;
	r->status = DFS_OK;
out:
	OPENSSL_cleanse(&v, sizeof(v));
	OPENSSL_cleanse(&st, sizeof(st));
}

void op_login_finish(struct conn *cn, dfs_login_finish_args *a, dfs_login_finish_res *r)
{
	struct server *srv = cn->srv;
	struct scram_server st;
	char out[SCRAM_MSG_MAX];
	unsigned char token[SESSION_TOKEN_LEN];
	int64_t expires;
	int n, err;

	memset(&st, 0, sizeof(st));
	if (sessions_login_take(srv->sessions, a->login_id, &st) < 0) {
		r->status = DFS_EPROTO;
		goto out;
	}
	n = scram_server_final(&st, a->client_final.client_final_val,
			       a->client_final.client_final_len, out, sizeof(out));
	if (n < 0) {
		sessions_throttle_record(srv->sessions, st.user, (struct sockaddr *)&cn->peer, 0);
		log_warn("%s: login failed for user %s", cn->peer_text, st.user);
		r->status = n == -EACCES ? DFS_EACCES : DFS_EPROTO;
		goto out;
	}
	err = sessions_create(srv->sessions, st.user, token, &expires);
	if (err < 0) {
		r->status = op_stat_from_errno(err);
		goto out;
	}
	sessions_throttle_record(srv->sessions, st.user, (struct sockaddr *)&cn->peer, 1);
	r->dfs_login_finish_res_u.ok.server_final.server_final_val = malloc((size_t)n);
	if (!r->dfs_login_finish_res_u.ok.server_final.server_final_val) {
		sessions_end(srv->sessions, token);
		r->status = DFS_ENOMEM;
		goto out;
	}
	memcpy(r->dfs_login_finish_res_u.ok.server_final.server_final_val, out, (size_t)n);
	r->dfs_login_finish_res_u.ok.server_final.server_final_len = (u_int)n;
	memcpy(r->dfs_login_finish_res_u.ok.token, token, sizeof(token));
	r->dfs_login_finish_res_u.ok.expires = expires;
	r->status = DFS_OK;
	log_info("%s: user %s logged in", cn->peer_text, st.user);
out:
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(&st, sizeof(st));
}

void op_logout(struct conn *cn, dfs_cred_args *a, dfs_stat *r)
{
	sessions_end(cn->srv->sessions, (const unsigned char *)a->cred.token);
	*r = DFS_OK;
}

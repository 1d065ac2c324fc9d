/* ops_login.c: SCRAM-SHA-256 login, logout and the session check every other call makes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "layout.h"
#include "ops.h"
#include "session.h"
#include "store.h"
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
	case EDQUOT:
	case EKEYEXPIRED:
	case EKEYREJECTED:
		return (dfs_stat)-err;
	default:
		return DFS_EIO;
	}
}

dfs_stat op_authenticate(struct conn *cn, const dfs_cred *cred, char user[65])
{
	unsigned char key[SCRAM_KEY_LEN];
	struct scram_verifier v;
	dfs_stat st = DFS_OK;
	int err;

	cn->call_peer = 0;
	err = sessions_lookup_peer(cn->srv->sessions, (const unsigned char *)cred->token, user, 65,
				   key, &cn->call_peer);
	if (err == -EKEYEXPIRED)
		return DFS_EKEYEXPIRED;
	if (err)
		return DFS_EACCES;
	/* A server acting for the user proved its own identity, not a password,
	 * and must prove it again on every connection that uses the session. */
	if (cn->call_peer) {
		if (op_peer_identity(cn) != cn->call_peer) {
			log_warn("%s: a session of server %u used on a connection without its "
				 "certificate: refused",
				 cn->peer_text, cn->call_peer);
			return DFS_EACCES;
		}
		atomic_store(&cn->authenticated, true);
		return DFS_OK;
	}
	atomic_fetch_add(&cn->srv->client_calls, 1);
	/* The user's current verifier decides: a user removed with dfsadm, or
	 * whose password changed (dfsadm passwd, or dfs passwd through another
	 * server sharing the database), loses every session opened before at
	 * its next call. A database that cannot be read does not end sessions:
	 * logins already fail then, and a transient error should not cut off
	 * transfers. */
	err = user_db_get(cn->srv->users, user, &v);
	if (err == -ENOENT) {
		sessions_end_user(cn->srv->sessions, user);
		log_warn("%s: user %s no longer exists; their sessions end", cn->peer_text, user);
		st = DFS_EACCES;
	} else if (err == 0 && CRYPTO_memcmp(v.stored_key, key, SCRAM_KEY_LEN) != 0) {
		unsigned n = sessions_end_stale(cn->srv->sessions, user, v.stored_key);

		log_warn("%s: the password of user %s changed; %u session(s) opened with the old "
			 "one end",
			 cn->peer_text, user, n);
		st = DFS_EACCES;
	}
	OPENSSL_cleanse(&v, sizeof(v));
	OPENSSL_cleanse(key, sizeof(key));
	if (st == DFS_OK)
		atomic_store(&cn->authenticated, true);
	return st;
}

dfs_stat op_authenticate_writer(struct conn *cn, const dfs_cred *cred, char user[65])
{
	dfs_stat st = op_authenticate(cn, cred, user);

	if (st == DFS_OK && cn->call_peer && cn->call_peer != cn->srv->cfg.id) {
		log_warn("%s: server %u tried to change user %s's files here: refused (a server "
			 "writes only to itself)",
			 cn->peer_text, cn->call_peer, user);
		return DFS_EPERM;
	}
	return st;
}

dfs_stat op_check_peer_read(struct conn *cn, const dfs_name *name, unsigned index)
{
	struct layout l;

	if (!cn->call_peer)
		return DFS_OK;
	if (cn->srv->cfg.peer_count >= 1 && cn->call_peer <= cn->srv->cfg.peer_count) {
		layout_init(&l, name->dfs_name_val, name->dfs_name_len, cn->srv->cfg.peer_count);
		if (layout_role(&l, cn->call_peer, index) >= 0)
			return DFS_OK;
	}
	log_warn("%s: server %u asked for chunk %u of a file it does not hold: refused",
		 cn->peer_text, cn->call_peer, index);
	return DFS_EPERM;
}

void op_login_begin(struct conn *cn, dfs_login_begin_args *a, dfs_login_begin_res *r)
{
	struct server *srv = cn->srv;
	struct login_origin origin = {(const struct sockaddr *)&cn->peer, cn->id};
	struct scram_server st;
	struct scram_verifier v;
	char out[SCRAM_MSG_MAX];
	unsigned retry_s = 0;
	uint64_t id;
	int n, err;

	memset(&st, 0, sizeof(st));
	memset(&v, 0, sizeof(v));
	if (scram_server_parse_first(&st, a->client_first.client_first_val,
				     a->client_first.client_first_len) < 0) {
		r->status = DFS_EPROTO;
		goto out;
	}
	err = user_db_get(srv->users, st.user, &v);
	/* An unknown user gets a stand-in with the salt and iteration count
	 * every server gives them, every time: the answer looks like a real
	 * user's, and the proof will simply never match. */
	if (err == -ENOENT)
		err = user_db_fake_verifier(srv->users, st.user, &v);
	if (err < 0) {
		log_error("user database: cannot read user %s: %s", st.user, user_db_strerror(err));
		r->status = DFS_EIO;
		goto out;
	}
	n = scram_server_first(&st, &v, out, sizeof(out));
	if (n < 0) {
		r->status = op_stat_from_errno(n);
		goto out;
	}
	err = sessions_login_begin(srv->sessions, &st, &origin, &id, &retry_s);
	if (err == -EAGAIN) {
		log_warn("%s: login for user %s throttled for %u s after failures", cn->peer_text,
			 st.user, retry_s);
		r->status = DFS_EAGAIN;
		goto out;
	}
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
	const struct sockaddr *peer = (const struct sockaddr *)&cn->peer;
	struct scram_server st;
	char out[SCRAM_MSG_MAX];
	unsigned char token[SESSION_TOKEN_LEN];
	int64_t expires;
	int n, err;

	memset(&st, 0, sizeof(st));
	if (sessions_login_take(srv->sessions, a->login_id, cn->id, &st) < 0) {
		r->status = DFS_EPROTO;
		goto out;
	}
	n = scram_server_final(&st, a->client_final.client_final_val,
			       a->client_final.client_final_len, out, sizeof(out));
	if (n < 0) {
		sessions_login_done(srv->sessions, st.user, peer, false);
		log_warn("%s: login failed for user %s", cn->peer_text, st.user);
		r->status = n == -EACCES ? DFS_EACCES : DFS_EPROTO;
		goto out;
	}
	sessions_login_done(srv->sessions, st.user, peer, true);
	/* The session remembers which verifier it proved: a password change
	 * ends it (op_authenticate). */
	err = sessions_create_key(srv->sessions, st.user, st.verifier.stored_key, token, &expires);
	if (err < 0) {
		r->status = op_stat_from_errno(err);
		goto out;
	}
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
	atomic_store(&cn->authenticated, true);
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

int op_user_quota(struct conn *cn, const char *user, struct store_quota *out)
{
	struct user_quota q;
	int err = user_db_quota(cn->srv->users, user, &q);

	memset(out, 0, sizeof(*out));
	/* Recovery copies what the cluster already accepted: no limit applies. */
	if (cn->call_peer)
		return 0;
	/* Sessions keep working while a shared database is unreachable: their
	 * commits go unchecked until it is back. */
	if (err == -ENOENT || err == -ENOTCONN)
		return 0;
	if (err < 0) {
		log_warn("%s: cannot read the quota of %s: %s", cn->peer_text, user,
			 strerror(-err));
		return err;
	}
	out->bytes = q.bytes;
	out->files = q.files;
	return 0;
}

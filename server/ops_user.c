/* ops_user.c: a user's own account: replacing the password verifier. */
#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>
#include "ops.h"
#include "scram.h"
#include "session.h"
#include "users.h"

void op_set_verifier(struct conn *cn, dfs_set_verifier_args *a, dfs_stat *r)
{
	const unsigned char *token = (const unsigned char *)a->cred.token;
	unsigned char key[SCRAM_KEY_LEN];
	struct scram_verifier v;
	char user[65];
	int err;

	memset(&v, 0, sizeof(v));
	memset(key, 0, sizeof(key));
	/* Not op_authenticate: once another server sharing the database has
	 * stored this very change, the verifier differs from the session's,
	 * and that must not end the session before it repeats the change. */
	err = sessions_lookup(cn->srv->sessions, token, user, sizeof(user), key);
	if (err < 0) {
		*r = err == -EKEYEXPIRED ? DFS_EKEYEXPIRED : DFS_EACCES;
		goto out;
	}
	/* Even with tls = optional: a verifier seen on the wire is enough to
	 * mount a dictionary attack on the new password. */
	if (!cn->tls) {
		log_warn("%s: password change for user %s refused: not inside TLS", cn->peer_text,
			 user);
		*r = DFS_EPERM;
		goto out;
	}
	/* The bound matches dfsadm's and what clients compute. */
	if (a->salt.salt_len == 0 || a->salt.salt_len > SCRAM_SALT_MAX ||
	    a->iterations < SCRAM_MIN_ITERATIONS || a->iterations > SCRAM_MAX_ITERATIONS) {
		*r = DFS_EINVAL;
		goto out;
	}
	memcpy(v.salt, a->salt.salt_val, a->salt.salt_len);
	v.salt_len = a->salt.salt_len;
	v.iterations = a->iterations;
	memcpy(v.stored_key, a->stored_key, SCRAM_KEY_LEN);
	memcpy(v.server_key, a->server_key, SCRAM_KEY_LEN);
	/* A token alone is not enough: the caller must know the password the
	 * session logged in with. A wrong proof means a stolen token (the dfs
	 * tool proves the password it has just logged in with), so the session
	 * ends: one guess per stolen token, none per retry. */
	err =
	    scram_change_check(key, token, SESSION_TOKEN_LEN, &v, (const unsigned char *)a->proof);
	if (err < 0) {
		sessions_end(cn->srv->sessions, token);
		log_warn("%s: password change for user %s refused: no proof of the current "
			 "password; the session ends",
			 cn->peer_text, user);
		*r = DFS_EACCES;
		goto out;
	}
	/* Servers on one host share the file: the change stored by one of them
	 * is found already made by the others. */
	err = user_db_change(cn->srv->users, user, key, &v);
	if (err == -ENOENT || err == -ESTALE) {
		if (err == -ENOENT)
			sessions_end_user(cn->srv->sessions, user);
		else
			sessions_end(cn->srv->sessions, token);
		log_warn("%s: password change for user %s refused: %s", cn->peer_text, user,
			 err == -ENOENT ? "the user no longer exists"
					: "the password changed since this session logged in");
		*r = DFS_EACCES;
		goto out;
	}
	if (err < 0) {
		log_error("%s: cannot store the new password of user %s: %s", cn->peer_text, user,
			  strerror(-err));
		*r = err == -EROFS ? DFS_EROFS : op_stat_from_errno(err);
		goto out;
	}
	/* This session goes on with the new password; every other one opened
	 * with the old password ends now (on this server; the others end theirs
	 * at their next call, seeing the new verifier). */
	sessions_rekey(cn->srv->sessions, token, v.stored_key);
	sessions_end_stale(cn->srv->sessions, user, v.stored_key);
	atomic_store(&cn->authenticated, true);
	log_info("%s: user %s changed their password", cn->peer_text, user);
	*r = DFS_OK;
out:
	OPENSSL_cleanse(&v, sizeof(v));
	OPENSSL_cleanse(key, sizeof(key));
}

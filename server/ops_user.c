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
	struct scram_verifier v;
	char user[65];
	int err;

	memset(&v, 0, sizeof(v));
	*r = op_authenticate(cn, &a->cred, user);
	if (*r != DFS_OK)
		goto out;
	/* Even with tls = optional: a verifier seen on the wire is enough to
	 * mount a dictionary attack on the new password. */
	if (!cn->tls) {
		log_warn("%s: password change for user %s refused: not inside TLS", cn->peer_text,
			 user);
		*r = DFS_EPERM;
		goto out;
	}
	/* The bound matches dfsadm's: more would only make every login slow. */
	if (a->salt.salt_len == 0 || a->salt.salt_len > SCRAM_SALT_MAX ||
	    a->iterations < SCRAM_MIN_ITERATIONS || a->iterations > 10000000u) {
		*r = DFS_EINVAL;
		goto out;
	}
	memcpy(v.salt, a->salt.salt_val, a->salt.salt_len);
	v.salt_len = a->salt.salt_len;
	v.iterations = a->iterations;
	memcpy(v.stored_key, a->stored_key, SCRAM_KEY_LEN);
	memcpy(v.server_key, a->server_key, SCRAM_KEY_LEN);
	/* Servers on one host share the file: the same record written by each
	 * of them leaves the same result. */
	err = user_db_put(cn->srv->users, user, &v, true);
	if (err < 0) {
		log_error("%s: cannot store the new password of user %s: %s", cn->peer_text, user,
			  strerror(-err));
		*r = err == -EROFS ? DFS_EROFS : op_stat_from_errno(err);
		goto out;
	}
	log_info("%s: user %s changed their password", cn->peer_text, user);
	*r = DFS_OK;
out:
	OPENSSL_cleanse(&v, sizeof(v));
}

/* account.c: the logged-in user's own account: changing the password. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include "internal.h"

int dfs_set_password(struct dfs_client *c, const char *new_password)
{
	struct scram_verifier v;
	uint32_t iterations;
	unsigned updated = 0, missed = 0;
	char label[160], why[200];
	int err, first_err = 0;

	memset(&v, 0, sizeof(v));
	if (!c->logged_in)
		return client_fail(c, -ENOTCONN, "not logged in");
	if (!new_password || !*new_password)
		return client_fail(c, -EINVAL, "an empty password is refused");
	iterations = c->login_iterations;
	if (iterations < SCRAM_MIN_ITERATIONS)
		iterations = SCRAM_DEFAULT_ITERATIONS;
	/* The verifier is derived here: the password itself never leaves this
	 * process, and one salt serves every server. */
	err = scram_make_verifier(new_password, iterations, &v);
	if (err < 0)
		return client_fail(c, err, "cannot derive the new verifier: %s", dfs_strerror(err));
	for (unsigned i = 0; i < c->conf.nservers; i++) {
		struct link *l = &c->links[i];
		dfs_set_verifier_args a = {.cred = l->cred, .iterations = v.iterations};
		dfs_stat res = DFS_OK;
		enum clnt_stat st;

		link_label(l, label, sizeof(label));
		if (!l->up) {
			missed++;
			client_warn(c, l->conf->number,
				    "%s is down (%s): its user database was not updated; run 'dfs "
				    "passwd' again when it is back, or copy the database",
				    label, l->why);
			continue;
		}
		a.salt.salt_val = (char *)v.salt;
		a.salt.salt_len = (u_int)v.salt_len;
		memcpy(a.stored_key, v.stored_key, SCRAM_KEY_LEN);
		memcpy(a.server_key, v.server_key, SCRAM_KEY_LEN);
		st = dfsproc_set_verifier_1(&a, &res, l->clnt[0]);
		OPENSSL_cleanse(&a, sizeof(a));
		if (st != RPC_SUCCESS) {
			conn_mark_down(c, l, clnt_problem(l->clnt[0], st, why, sizeof(why)));
			res = DFS_EIO;
		}
		if (res == DFS_OK) {
			updated++;
			continue;
		}
		missed++;
		err = client_errno(res);
		if (!first_err)
			first_err = err;
		client_warn(c, l->conf->number,
			    "%s: the password was not changed there: %s; run 'dfs passwd' again "
			    "when it is fixed, or copy the database",
			    label,
			    res == DFS_EPERM	? "the connection is not encrypted (TLS is needed)"
			    : res == DFS_EROFS	? "its user database is read-only"
			    : st != RPC_SUCCESS ? "it stopped answering"
						: dfs_strerror(err));
	}
	OPENSSL_cleanse(&v, sizeof(v));
	if (updated == 0)
		return client_fail(c, first_err ? first_err : -EHOSTDOWN,
				   "the password was not changed on any server");
	return (int)missed;
}

/* account.c: the logged-in user's own account: changing the password. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include "internal.h"

/* How a server missed by a password change catches up: servers sharing one
 * Redis user database already see the change through the others. */
#define COPY_HINT                                                                                  \
	"or copy the user database file to it (nothing to do if the servers share a Redis "        \
	"database)"

/* The salted current password, computed once for the salt the servers
 * share (they read one user database, or copies of it). */
struct salted_cache {
	bool have;
	unsigned char salt[SCRAM_SALT_MAX];
	size_t salt_len;
	uint32_t iterations;
	unsigned char salted[SCRAM_KEY_LEN];
};

/* A fresh SCRAM login on l's first connection with the current password,
 * giving a session token and the salted password it proved, which the
 * change proof needs. 0, or -errno with the reason in why. */
static int fresh_login(struct dfs_client *c, struct link *l, const char *password,
		       struct salted_cache *cache, dfs_cred *cred,
		       unsigned char salted[SCRAM_KEY_LEN], char *why, size_t whylen)
{
	struct scram_client sc;
	dfs_login_begin_args ba;
	dfs_login_begin_res br;
	dfs_login_finish_args fa;
	dfs_login_finish_res fr;
	char msg[SCRAM_MSG_MAX];
	unsigned char salt[SCRAM_SALT_MAX];
	size_t salt_len = 0;
	uint32_t iterations = 0;
	enum clnt_stat st;
	int n, err;

	memset(&br, 0, sizeof(br));
	memset(&fr, 0, sizeof(fr));
	n = scram_client_first(&sc, c->user, msg, sizeof(msg));
	if (n < 0) {
		snprintf(why, whylen, "invalid user name");
		return n;
	}
	ba.client_first.client_first_val = msg;
	ba.client_first.client_first_len = (u_int)n;
	st = dfsproc_login_begin_1(&ba, &br, l->clnt[0]);
	if (st != RPC_SUCCESS) {
		clnt_problem(l->clnt[0], st, why, whylen);
		err = -EIO;
		goto out;
	}
	if (br.status != DFS_OK) {
		err = client_errno(br.status);
		snprintf(why, whylen, "login refused: %s",
			 br.status == DFS_EAGAIN ? "too many failed attempts, try later"
						 : dfs_strerror(err));
		goto out;
	}
	err = scram_client_parse_server_first(
	    &sc, br.dfs_login_begin_res_u.ok.server_first.server_first_val,
	    br.dfs_login_begin_res_u.ok.server_first.server_first_len, salt, &salt_len,
	    &iterations);
	if (err == -ERANGE) {
		snprintf(why, whylen,
			 "the server demands %u password hashing iterations, more than the %u "
			 "this client computes",
			 (unsigned)iterations, (unsigned)SCRAM_MAX_ITERATIONS);
		goto out;
	}
	if (err < 0) {
		snprintf(why, whylen, "malformed login reply");
		goto out;
	}
	if (!cache->have || cache->iterations != iterations || cache->salt_len != salt_len ||
	    memcmp(cache->salt, salt, salt_len) != 0) {
		err = scram_salted_password(password, salt, salt_len, iterations, cache->salted);
		if (err < 0) {
			snprintf(why, whylen, "cannot derive the login key: %s", dfs_strerror(err));
			goto out;
		}
		memcpy(cache->salt, salt, salt_len);
		cache->salt_len = salt_len;
		cache->iterations = iterations;
		cache->have = true;
	}
	n = scram_client_final(&sc, cache->salted, msg, sizeof(msg));
	if (n < 0) {
		err = n;
		snprintf(why, whylen, "cannot build the login proof");
		goto out;
	}
	fa.login_id = br.dfs_login_begin_res_u.ok.login_id;
	fa.client_final.client_final_val = msg;
	fa.client_final.client_final_len = (u_int)n;
	st = dfsproc_login_finish_1(&fa, &fr, l->clnt[0]);
	if (st != RPC_SUCCESS) {
		clnt_problem(l->clnt[0], st, why, whylen);
		err = -EIO;
		goto out;
	}
	if (fr.status != DFS_OK) {
		err = client_errno(fr.status);
		snprintf(why, whylen, "%s",
			 fr.status == DFS_EACCES ? "the current password is wrong"
						 : dfs_strerror(err));
		goto out;
	}
	err = scram_client_check_server(&sc,
					fr.dfs_login_finish_res_u.ok.server_final.server_final_val,
					fr.dfs_login_finish_res_u.ok.server_final.server_final_len);
	if (err < 0) {
		snprintf(why, whylen, "the server could not prove it knows the user's verifier");
		err = -EKEYREJECTED;
		goto out;
	}
	memcpy(cred->token, fr.dfs_login_finish_res_u.ok.token, sizeof(cred->token));
	memcpy(salted, cache->salted, SCRAM_KEY_LEN);
out:
	xdr_free((xdrproc_t)xdr_dfs_login_begin_res, (char *)&br);
	xdr_free((xdrproc_t)xdr_dfs_login_finish_res, (char *)&fr);
	OPENSSL_cleanse(&sc, sizeof(sc));
	OPENSSL_cleanse(msg, sizeof(msg));
	return err;
}

static void end_session(struct link *l, const dfs_cred *cred)
{
	dfs_cred_args a = {.cred = *cred};
	dfs_stat st;

	/* Best effort: an unanswered logout leaves a session to expire. */
	dfsproc_logout_1(&a, &st, l->clnt[0]);
}

static const char *refusal_text(dfs_stat res, enum clnt_stat st, int err)
{
	if (st != RPC_SUCCESS)
		return "it stopped answering";
	switch (res) {
	case DFS_EPERM:
		return "the connection is not encrypted (TLS is needed)";
	case DFS_EROFS:
		return "its user database is read-only";
	case DFS_EACCES:
		return "the server refused the change (the password changed meanwhile?)";
	default:
		return dfs_strerror(err);
	}
}

/* Changes the password of the logged-in user on every live server. Each
 * server needs proof of the current password bound to a session: a fresh
 * login with current_password on every server first (before any server
 * stores the change, since servers sharing one database would then expect
 * the new password), then the new verifier with the proof. The new sessions
 * replace the client's old ones, which the servers end once the verifier
 * changes. */
int dfs_change_password(struct dfs_client *c, const char *current_password,
			const char *new_password, unsigned *not_updated)
{
	struct scram_verifier v;
	struct salted_cache cache;
	dfs_cred fresh[DFS_SERVERS_MAX];
	unsigned char salted[DFS_SERVERS_MAX][SCRAM_KEY_LEN];
	bool ready[DFS_SERVERS_MAX] = {false};
	uint32_t iterations;
	unsigned updated = 0, missed = 0;
	char label[160], why[256];
	int err, first_err = 0;

	memset(&v, 0, sizeof(v));
	memset(&cache, 0, sizeof(cache));
	if (not_updated)
		*not_updated = c->conf.nservers;
	if (!c->logged_in)
		return client_fail(c, -ENOTCONN, "not logged in");
	if (c->owner)
		return client_fail(c, -EINVAL,
				   "a client sharing another's session cannot change "
				   "the password");
	if (!current_password || !*current_password)
		return client_fail(c, -EINVAL, "the current password is needed to change it");
	if (!new_password || !*new_password)
		return client_fail(c, -EINVAL, "an empty password is refused");
	iterations = c->login_iterations;
	if (iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS)
		iterations = SCRAM_DEFAULT_ITERATIONS;
	/* The verifier is derived here: the password itself never leaves this
	 * process, and one salt serves every server. */
	err = scram_make_verifier(new_password, iterations, &v);
	if (err < 0)
		return client_fail(c, err, "cannot derive the new verifier: %s", dfs_strerror(err));

	for (unsigned i = 0; i < c->conf.nservers; i++) {
		struct link *l = &c->links[i];

		link_label(l, label, sizeof(label));
		if (!l->up) {
			missed++;
			client_warn(c, l->conf->number,
				    "%s is down (%s): its user database was not updated; run 'dfs "
				    "passwd' again when it is back, " COPY_HINT,
				    label, l->why);
			continue;
		}
		err = fresh_login(c, l, current_password, &cache, &fresh[i], salted[i], why,
				  sizeof(why));
		if (err == -EIO) {
			conn_mark_down(c, l, why);
		}
		if (err < 0) {
			missed++;
			if (!first_err)
				first_err = err;
			client_warn(c, l->conf->number,
				    "%s: the password was not changed there: %s; run 'dfs passwd' "
				    "again when it is fixed, " COPY_HINT,
				    label, why);
			continue;
		}
		ready[i] = true;
	}

	for (unsigned i = 0; i < c->conf.nservers; i++) {
		struct link *l = &c->links[i];
		dfs_set_verifier_args a = {.cred = fresh[i], .iterations = v.iterations};
		dfs_stat res = DFS_OK;
		enum clnt_stat st;

		if (!ready[i])
			continue;
		link_label(l, label, sizeof(label));
		a.salt.salt_val = (char *)v.salt;
		a.salt.salt_len = (u_int)v.salt_len;
		memcpy(a.stored_key, v.stored_key, SCRAM_KEY_LEN);
		memcpy(a.server_key, v.server_key, SCRAM_KEY_LEN);
		err = scram_change_proof(salted[i], (const unsigned char *)fresh[i].token,
					 sizeof(fresh[i].token), &v, (unsigned char *)a.proof);
		st = err < 0 ? RPC_SUCCESS : dfsproc_set_verifier_1(&a, &res, l->clnt[0]);
		OPENSSL_cleanse(&a, sizeof(a));
		if (err < 0)
			res = DFS_EIO;
		else if (st != RPC_SUCCESS) {
			conn_mark_down(c, l, clnt_problem(l->clnt[0], st, why, sizeof(why)));
			res = DFS_EIO;
		}
		if (res == DFS_OK) {
			/* The old session ends anyway once the verifier changed. */
			end_session(l, &l->cred);
			l->cred = fresh[i];
			updated++;
			continue;
		}
		if (l->up)
			end_session(l, &fresh[i]);
		missed++;
		err = err < 0 ? err : client_errno(res);
		if (!first_err)
			first_err = err;
		client_warn(c, l->conf->number,
			    "%s: the password was not changed there: %s; run 'dfs passwd' again "
			    "when it is fixed, " COPY_HINT,
			    label, refusal_text(res, st, err));
	}
	OPENSSL_cleanse(&v, sizeof(v));
	OPENSSL_cleanse(&cache, sizeof(cache));
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(fresh, sizeof(fresh));
	if (updated == 0) {
		if (first_err == -EACCES)
			return client_fail(c, first_err,
					   "the current password is wrong; nothing "
					   "was changed");
		return client_fail(c, first_err ? first_err : -EHOSTDOWN,
				   "the password was not changed on any server");
	}
	if (not_updated)
		*not_updated = missed;
	if (missed)
		return client_fail(c, -EIO,
				   "the password was changed on %u server%s; %u did not get it "
				   "(see the warnings)",
				   updated, updated == 1 ? "" : "s", missed);
	return 0;
}

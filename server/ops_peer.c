/* ops_peer.c: the calls servers make to each other: a session on a user's
 * behalf, and the list of users with records here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "heal.h"
#include "names.h"
#include "ops.h"
#include "session.h"
#include "store.h"
#include "tls.h"

unsigned op_peer_identity(struct conn *cn)
{
	if (!cn->peer_known && cn->ssl) {
		cn->peer_server = tls_peer_server_id(cn->ssl, cn->srv->cfg.peer_count);
		cn->peer_known = true;
	}
	return cn->peer_known ? cn->peer_server : 0;
}

/* Whether the connection proved a server identity; logs a refusal. */
static bool from_peer(struct conn *cn, const char *what)
{
	if (op_peer_identity(cn))
		return true;
	log_warn("%s: %s refused: the connection presented no server certificate of this cluster",
		 cn->peer_text, what);
	return false;
}

void op_peer_login(struct conn *cn, dfs_peer_login_args *a, dfs_peer_login_res *r)
{
	unsigned char token[SESSION_TOKEN_LEN];
	const char *why = NULL;
	int err;

	if (!from_peer(cn, "a server's login")) {
		r->status = DFS_EPERM;
		return;
	}
	if (user_name_check(a->user, &why) < 0) {
		r->status = DFS_EINVAL;
		return;
	}
	err = sessions_create_peer(cn->srv->sessions, a->user, cn->peer_server, token, NULL);
	if (err < 0) {
		r->status = op_stat_from_errno(err);
		return;
	}
	memcpy(r->dfs_peer_login_res_u.token, token, sizeof(token));
	OPENSSL_cleanse(token, sizeof(token));
	atomic_store(&cn->authenticated, true);
	log_debug("%s: server %u opened a session for user %s", cn->peer_text, cn->peer_server,
		  a->user);
	r->status = DFS_OK;
}

void op_peer_users(struct conn *cn, dfs_peer_users_args *a, dfs_peer_users_res *r)
{
	dfs_peer_users_ok *ok = &r->dfs_peer_users_res_u.ok;
	char(*names)[65] = NULL;
	unsigned count = 0;
	bool eof = false;
	int err;

	if (!from_peer(cn, "a server's list of users")) {
		r->status = DFS_EPERM;
		return;
	}
	atomic_store(&cn->authenticated, true);
	if (a->max == 0 || a->max > DFS_LIST_MAX) {
		r->status = DFS_EINVAL;
		return;
	}
	names = calloc(a->max, sizeof(*names));
	ok->users.users_val = calloc(a->max, sizeof(dfs_user));
	if (!names || !ok->users.users_val) {
		free(names);
		r->status = DFS_ENOMEM;
		return;
	}
	err = store_list_users(cn->srv->store, a->after, names, a->max, &count, &eof);
	for (unsigned i = 0; err == 0 && i < count; i++) {
		ok->users.users_val[i] = strdup(names[i]);
		if (!ok->users.users_val[i])
			err = -ENOMEM;
		else
			ok->users.users_len = i + 1;
	}
	free(names);
	ok->eof = eof;
	r->status = op_stat_from_errno(err);
}

/* Remembers the servers a stored record names as lacking, for recovery to tell them. */
void server_note_lacking(struct server *srv, const unsigned *servers, unsigned n)
{
	uint64_t bits = 0;

	for (unsigned i = 0; i < n; i++)
		if (servers[i] >= 1 && servers[i] <= DFS_SERVERS_MAX && servers[i] != srv->cfg.id)
			bits |= UINT64_C(1) << (servers[i] - 1);
	if (bits)
		atomic_fetch_or(&srv->lacking_seen, bits);
}

void op_peer_nudge(struct conn *cn, dfs_peer_nudge_args *a, dfs_stat *r)
{
	if (!from_peer(cn, "a server's nudge")) {
		*r = DFS_EPERM;
		return;
	}
	atomic_store(&cn->authenticated, true);
	log_info("server %u recorded this one as lacking a version: recovery runs soon",
		 op_peer_identity(cn));
	(void)a;
	heal_nudge(cn->srv->heal);
	*r = DFS_OK;
}

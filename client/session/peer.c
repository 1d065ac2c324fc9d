/* peer.c: libdfs driven by a server recovering from its neighbours
 * (dfs_peer.h): the server's certificate instead of a password, one user at
 * a time, writes to itself only. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dfs_peer.h"
#include "internal.h"
#include "tls.h"

int dfs_peer_client_new(struct dfs_client **out, const char *config_path, unsigned self,
			const char *cert, const char *key, char *err, size_t errlen)
{
	struct dfs_client *c;
	int rc;

	*out = NULL;
	rc = dfs_client_new(&c, config_path);
	if (rc) {
		snprintf(err, errlen, "%s", dfs_last_error(NULL));
		return rc;
	}
	if (!c->tls) {
		snprintf(err, errlen, "%s: servers prove themselves to each other over TLS only",
			 config_path);
		dfs_client_free(c);
		return -EINVAL;
	}
	if (self < 1 || self > c->conf.nservers) {
		snprintf(err, errlen, "%s names %u servers: this one (%u) is not among them",
			 config_path, c->conf.nservers, self);
		dfs_client_free(c);
		return -EINVAL;
	}
	rc = tls_client_identity(c->tls, cert, key, err, errlen);
	if (rc) {
		dfs_client_free(c);
		return rc;
	}
	c->only_server = self;
	*out = c;
	return 0;
}

void dfs_peer_set_store(struct dfs_client *c, const struct dfs_peer_store *store)
{
	c->self_store = store;
}

unsigned dfs_peer_servers(const struct dfs_client *c)
{
	return c->conf.nservers;
}

const char *dfs_peer_ca(const struct dfs_client *c)
{
	return c->conf.ca;
}

void dfs_peer_disconnect(struct dfs_client *c)
{
	conn_close_all(c);
	c->logged_in = false;
}

const char *dfs_peer_error(const struct dfs_client *c)
{
	return c->last_error;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

int dfs_peer_users(struct dfs_client *c, unsigned server, char (*users)[65], size_t cap,
		   size_t *count)
{
	struct link *l = &c->links[server - 1];
	dfs_peer_users_args a = {.after = "", .max = DFS_LIST_MAX};
	char after[65] = "";
	size_t first = *count;
	bool eof = false;
	int err;

	if (!l->clnt[0] && (err = conn_ping(c, l)) != 0)
		return client_fail(c, err, "server %u: %s", server, l->why);
	while (!eof) {
		dfs_peer_users_res r;
		enum clnt_stat st;

		memset(&r, 0, sizeof(r));
		a.after = after;
		st = dfsproc_peer_users_1(&a, &r, l->clnt[0]);
		if (st != RPC_SUCCESS || r.status != DFS_OK) {
			err = st != RPC_SUCCESS ? -EHOSTDOWN : client_errno(r.status);
			xdr_free((xdrproc_t)xdr_dfs_peer_users_res, (char *)&r);
			if (st != RPC_SUCCESS)
				conn_mark_down(c, l, "no answer to PEER_USERS");
			return client_fail(c, err, "server %u did not list its users: %s", server,
					   dfs_strerror(err));
		}
		for (u_int i = 0; i < r.dfs_peer_users_res_u.ok.users.users_len; i++) {
			const char *u = r.dfs_peer_users_res_u.ok.users.users_val[i];

			if (strlen(u) > 64)
				continue;
			snprintf(after, sizeof(after), "%s", u);
			if (*count < cap && !bsearch(u, users, first, sizeof(*users), by_name))
				snprintf(users[(*count)++], sizeof(*users), "%s", u);
		}
		eof =
		    r.dfs_peer_users_res_u.ok.eof || r.dfs_peer_users_res_u.ok.users.users_len == 0;
		xdr_free((xdrproc_t)xdr_dfs_peer_users_res, (char *)&r);
	}
	qsort(users, *count, sizeof(*users), by_name);
	return *count == cap ? client_fail(c, -ENOSPC, "too many users") : 0;
}

int dfs_peer_nudge(struct dfs_client *c, unsigned server)
{
	struct link *l = &c->links[server - 1];
	dfs_peer_nudge_args a = {.from = c->only_server};
	dfs_stat res = DFS_EIO;
	int err;

	if (!l->clnt[0] && (err = conn_ping(c, l)) != 0)
		return client_fail(c, err, "server %u: %s", server, l->why);
	if (dfsproc_peer_nudge_1(&a, &res, l->clnt[0]) != RPC_SUCCESS) {
		conn_mark_down(c, l, "no answer to PEER_NUDGE");
		return client_fail(c, -EHOSTDOWN, "server %u did not answer", server);
	}
	return res == DFS_OK ? 0
			     : client_fail(c, client_errno(res), "server %u: %s", server,
					   dfs_strerror(client_errno(res)));
}

/* Files copied at once while a user has many to recover: each worker has its
 * own connections, so both neighbours send and this server writes in parallel. */
#define WORKERS	      4
#define PARALLEL_FROM 8

struct work {
	struct dfs_client *c;
	const struct dfs_file_list *list;
	size_t *next;	       /* the next file to look at, shared */
	pthread_mutex_t *lock; /* guards next and stop */
	bool *stop;
	int (*pace)(void *arg, uint64_t bytes);
	void *arg;
	struct repair_tally t;
};

/* Repairs name; a file changed while it was copied (its version replaced, the
 * copy read no longer current) is looked up and repaired once more at once. */
static void repair_again(struct work *w, const char *name)
{
	struct repair_tally again = {0};
	unsigned failed = w->t.failed;

	repair_one(w->c, name, &w->t);
	if (w->t.failed == failed)
		return;
	repair_one(w->c, name, &again);
	if (again.failed == 0)
		w->t.failed = failed;
	w->t.rewritten += again.rewritten;
	w->t.bytes += again.bytes;
}

/* Takes the files the servers disagree on, one at a time, until none is left. */
static void *work_run(void *arg)
{
	struct work *w = arg;

	for (;;) {
		const struct dfs_file *f = NULL;
		uint64_t before = w->t.bytes;
		bool stop;

		pthread_mutex_lock(w->lock);
		while (!*w->stop && *w->next < w->list->count && !f) {
			if (w->list->files[*w->next]->diverged)
				f = w->list->files[*w->next];
			++*w->next;
		}
		stop = *w->stop;
		pthread_mutex_unlock(w->lock);
		if (stop || !f)
			return NULL;
		repair_again(w, f->name);
		if (w->pace && w->pace(w->arg, w->t.bytes - before) != 0) {
			pthread_mutex_lock(w->lock);
			*w->stop = true;
			pthread_mutex_unlock(w->lock);
		}
	}
}

int dfs_peer_recover_user(struct dfs_client *c, const char *user,
			  int (*pace)(void *arg, uint64_t bytes), void *arg,
			  struct dfs_peer_result *out)
{
	struct work w[WORKERS];
	pthread_t tids[WORKERS];
	bool started[WORKERS] = {false}, stop = false;
	struct dfs_file_list *list = NULL;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	unsigned nw = 1;
	size_t next = 0, diverged = 0;
	int err;

	memset(out, 0, sizeof(*out));
	err = conn_peer_login_all(c, user);
	if (err)
		return err;
	if (!c->links[c->only_server - 1].up)
		return client_fail(c, -EHOSTDOWN, "this server did not accept its own login: %s",
				   c->links[c->only_server - 1].why);
	out->all_up = true;
	for (unsigned i = 0; i < c->conf.nservers; i++)
		out->all_up = out->all_up && c->links[i].up;
	err = list_names(c, &list);
	if (err)
		return err;
	for (size_t i = 0; i < list->count; i++)
		diverged += list->files[i]->diverged;
	memset(w, 0, sizeof(w));
	w[0].c = c;
	/* More connections pay only for many files; a failed one just means fewer workers. */
	while (diverged >= PARALLEL_FROM && nw < WORKERS && dfs_client_share(c, &w[nw].c) == 0) {
		w[nw].c->only_server = c->only_server;
		w[nw++].c->self_store = c->self_store;
	}
	for (unsigned i = 0; i < nw; i++) {
		w[i] = (struct work){w[i].c, list, &next, &lock, &stop, pace, arg, {0}};
		started[i] = i > 0 && pthread_create(&tids[i], NULL, work_run, &w[i]) == 0;
	}
	work_run(&w[0]);
	for (unsigned i = 0; i < nw; i++) {
		if (started[i])
			pthread_join(tids[i], NULL);
		else if (i > 0)
			work_run(&w[i]);
		out->files += w[i].t.files;
		out->rewritten += w[i].t.rewritten;
		out->failed += w[i].t.failed;
		out->bytes += w[i].t.bytes;
		if (i > 0)
			dfs_client_free(w[i].c);
	}
	dfs_file_list_free(list);
	return stop ? -EINTR : 0;
}

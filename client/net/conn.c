/* conn.c: logging in on every server in parallel (SCRAM), and sharing a session. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rpc/rpc.h>
#include <openssl/crypto.h>
#include "internal.h"
#include "tls.h"

struct login_job {
	struct dfs_client *c;
	struct link *link;
	struct scram_client scram;
	unsigned char salt[SCRAM_SALT_MAX];
	size_t salt_len;
	uint32_t iterations;
	unsigned char salted[SCRAM_KEY_LEN];
	uint64_t login_id;
	int err;
};

/* Records why a login call failed, the call itself or the server's refusal
 * (status is only read when the call went through). True if it failed. */
static bool login_failed(struct login_job *j, enum clnt_stat st, dfs_stat status)
{
	struct link *l = j->link;
	char why[256];

	if (st != RPC_SUCCESS) {
		snprintf(l->why, sizeof(l->why), "%s",
			 clnt_problem(l->clnt[0], st, why, sizeof(why)));
		j->err = -EPROTO;
		return true;
	}
	if (status == DFS_OK)
		return false;
	j->err = client_errno(status);
	snprintf(l->why, sizeof(l->why), "login refused: %s",
		 status == DFS_EAGAIN	? "too many failed attempts, try later"
		 : status == DFS_EACCES ? "wrong user name or password"
		 : status == DFS_EIO	? "user database unreachable on the server"
					: dfs_strerror(j->err));
	return true;
}

/* Phase 1, one thread per server: connect, TLS, client-first. */
static void *login_begin(void *arg)
{
	struct login_job *j = arg;
	struct link *l = j->link;
	dfs_login_begin_args a;
	dfs_login_begin_res r;
	char msg[SCRAM_MSG_MAX];
	enum clnt_stat st;
	int n;

	j->err = conn_ping(j->c, l);
	if (j->err)
		return NULL;
	n = scram_client_first(&j->scram, j->c->user, msg, sizeof(msg));
	if (n < 0) {
		j->err = n;
		snprintf(l->why, sizeof(l->why), "invalid user name");
		return NULL;
	}
	a.client_first.client_first_val = msg;
	a.client_first.client_first_len = (u_int)n;
	memset(&r, 0, sizeof(r));
	st = dfsproc_login_begin_1(&a, &r, l->clnt[0]);
	if (login_failed(j, st, r.status))
		goto out;
	j->login_id = r.dfs_login_begin_res_u.ok.login_id;
	j->err = scram_client_parse_server_first(
	    &j->scram, r.dfs_login_begin_res_u.ok.server_first.server_first_val,
	    r.dfs_login_begin_res_u.ok.server_first.server_first_len, j->salt, &j->salt_len,
	    &j->iterations);
	if (j->err == -ERANGE)
		snprintf(l->why, sizeof(l->why),
			 "the server demands %u password hashing iterations, more than the %u this "
			 "client computes",
			 j->iterations, (unsigned)SCRAM_MAX_ITERATIONS);
	else if (j->err)
		snprintf(l->why, sizeof(l->why), "malformed login reply");
out:
	xdr_free((xdrproc_t)xdr_dfs_login_begin_res, (char *)&r);
	return NULL;
}

/* Once the link's session is open: the call timeouts of a logged-in client,
 * and the link up. */
static void link_ready(struct login_job *j)
{
	link_set_call_timeouts(j->c, j->link);
	j->link->up = true;
}

/* Phase 2, one thread per server: client-final and the server's proof. */
static void *login_finish(void *arg)
{
	struct login_job *j = arg;
	struct link *l = j->link;
	dfs_login_finish_args a;
	dfs_login_finish_res r;
	char msg[SCRAM_MSG_MAX];
	enum clnt_stat st;
	int n;

	n = scram_client_final(&j->scram, j->salted, msg, sizeof(msg));
	if (n < 0) {
		j->err = n;
		return NULL;
	}
	a.login_id = j->login_id;
	a.client_final.client_final_val = msg;
	a.client_final.client_final_len = (u_int)n;
	memset(&r, 0, sizeof(r));
	st = dfsproc_login_finish_1(&a, &r, l->clnt[0]);
	if (login_failed(j, st, r.status))
		goto out;
	j->err = scram_client_check_server(
	    &j->scram, r.dfs_login_finish_res_u.ok.server_final.server_final_val,
	    r.dfs_login_finish_res_u.ok.server_final.server_final_len);
	if (j->err) {
		/* Mutual authentication: a server that cannot prove it knows
		 * the verifier is not trusted with data. */
		snprintf(l->why, sizeof(l->why),
			 "the server could not prove it knows the user's verifier");
		j->err = -EKEYREJECTED;
		goto out;
	}
	memcpy(l->cred.token, r.dfs_login_finish_res_u.ok.token, sizeof(l->cred.token));
	link_ready(j);
out:
	xdr_free((xdrproc_t)xdr_dfs_login_finish_res, (char *)&r);
	return NULL;
}

static void run_jobs(struct login_job *jobs, unsigned n, void *(*fn)(void *))
{
	pthread_t tids[DFS_SERVERS_MAX];
	bool started[DFS_SERVERS_MAX] = {false};

	for (unsigned i = 0; i < n; i++) {
		if (jobs[i].err)
			continue;
		started[i] = pthread_create(&tids[i], NULL, fn, &jobs[i]) == 0;
		if (!started[i])
			fn(&jobs[i]);
	}
	for (unsigned i = 0; i < n; i++)
		if (started[i])
			pthread_join(tids[i], NULL);
}

/* Salts the password once per distinct (salt, iterations); servers sharing
 * one user database share one salt. */
static int salt_passwords(struct login_job *jobs, unsigned n, const char *password)
{
	for (unsigned i = 0; i < n; i++) {
		struct login_job *j = &jobs[i];
		bool reused = false;

		if (j->err)
			continue;
		for (unsigned k = 0; k < i && !reused; k++) {
			if (!jobs[k].err && jobs[k].iterations == j->iterations &&
			    jobs[k].salt_len == j->salt_len &&
			    memcmp(jobs[k].salt, j->salt, j->salt_len) == 0) {
				memcpy(j->salted, jobs[k].salted, SCRAM_KEY_LEN);
				reused = true;
			}
		}
		if (!reused) {
			int err = scram_salted_password(password, j->salt, j->salt_len,
							j->iterations, j->salted);
			if (err)
				return err;
		}
	}
	return 0;
}

static bool is_refusal(int err)
{
	return err == -EACCES || err == -EKEYREJECTED || err == -EAGAIN;
}

static void warn_cert_expiry(struct dfs_client *c, struct link *l)
{
	struct dfs_event ev = {.kind = DFS_EVENT_CERT_EXPIRING, .server = l->conf->number};
	char text[400], label[160];

	if (l->cert_expiry_s < 0 || l->cert_expiry_s >= 30 * 86400)
		return;
	snprintf(text, sizeof(text), "%s: its certificate expires in %lld days; renew it",
		 link_label(l, label, sizeof(label)), l->cert_expiry_s / 86400);
	ev.text = text;
	client_emit(c, &ev);
}

int conn_login_all(struct dfs_client *c, const char *password)
{
	unsigned n = c->conf.nservers, up = 0, refused = 0, refusal = 0;
	struct login_job *jobs;
	char label[160];
	int err = 0;

	jobs = calloc(n, sizeof(*jobs));
	if (!jobs)
		return client_fail(c, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < n; i++) {
		jobs[i].c = c;
		jobs[i].link = &c->links[i];
	}
	run_jobs(jobs, n, login_begin);
	/* The clients that will share the session connect while the key is
	 * derived, which keeps one core busy for tens of milliseconds. */
	spares_start(c);
	err = salt_passwords(jobs, n, password);
	if (err) {
		client_fail(c, err, "cannot derive the login key: %s", dfs_strerror(err));
		spares_finish(c);
		goto out;
	}
	run_jobs(jobs, n, login_finish);
	for (unsigned i = 0; i < n; i++) {
		struct link *l = &c->links[i];

		if (!jobs[i].err && l->up) {
			up++;
			c->login_iterations = jobs[i].iterations;
			warn_cert_expiry(c, l);
			continue;
		}
		if (is_refusal(jobs[i].err)) {
			/* The server answered: it is up, it said no. */
			if (!refused)
				refusal = i;
			refused++;
			link_close(l);
			continue;
		}
		conn_mark_down(c, l, l->why);
	}
	spares_finish(c);
	if (refused && up == 0) {
		struct link *l = &c->links[refusal];

		err = jobs[refusal].err == -EAGAIN ? -EAGAIN : -EACCES;
		if (jobs[refusal].err == -EKEYREJECTED)
			client_fail(
			    c, err,
			    "%s could not prove it knows your password's verifier: it may be "
			    "an impostor, or its user database differs from the others'",
			    link_label(l, label, sizeof(label)));
		else if (err == -EAGAIN)
			client_fail(c, err,
				    "too many failed logins for %s; wait a little and try again",
				    c->user);
		else
			client_fail(c, err, "wrong user name or password (refused by %s)",
				    link_label(l, label, sizeof(label)));
		goto out;
	}
	if (refused)
		client_warn(c, refusal + 1, "%s refused the login (%s); it is left out",
			    link_label(&c->links[refusal], label, sizeof(label)),
			    c->links[refusal].why);
	if (up == 0) {
		err = client_fail(c, -EHOSTDOWN,
				  "no server is reachable (%s: %s); is the cluster running?",
				  link_label(&c->links[0], label, sizeof(label)), c->links[0].why);
		goto out;
	}
	c->logged_in = true;
out:
	for (unsigned i = 0; i < n; i++)
		OPENSSL_cleanse(jobs[i].salted, sizeof(jobs[i].salted));
	free(jobs);
	return err;
}

struct share_job {
	struct dfs_client *c;
	struct link *link;
	const struct link *from; /* the owner's link to the same server */
};

/* One thread per server: the first connection of a shared session, no login;
 * one the owner prepared if it has one. */
static void *share_link(void *arg)
{
	struct share_job *j = arg;
	struct link *l = j->link;
	char why[256];

	l->clnt[0] = spares_take(j->c->owner, (unsigned)(l - j->c->links));
	if (l->clnt[0]) {
		snprintf(l->address, sizeof(l->address), "%s", j->from->address);
		l->port = j->from->port;
		l->tls = j->from->tls;
		l->cert_expiry_s = j->from->cert_expiry_s;
	} else if (link_open(j->c, l, 0, why, sizeof(why)) < 0) {
		snprintf(l->why, sizeof(l->why), "%s", why);
		link_close(l);
		return NULL;
	}
	link_set_call_timeouts(j->c, l);
	l->up = true;
	return NULL;
}

int conn_share_all(struct dfs_client *c)
{
	const struct dfs_client *owner = c->owner;
	struct share_job jobs[DFS_SERVERS_MAX];
	pthread_t tids[DFS_SERVERS_MAX];
	bool started[DFS_SERVERS_MAX] = {false};
	unsigned up = 0;

	for (unsigned i = 0; i < c->conf.nservers; i++) {
		const struct link *from = &owner->links[i];
		struct link *l = &c->links[i];

		if (!from->up) {
			snprintf(l->why, sizeof(l->why), "%s", from->why);
			continue;
		}
		l->cred = from->cred;
		jobs[i] = (struct share_job){c, l, from};
		started[i] = pthread_create(&tids[i], NULL, share_link, &jobs[i]) == 0;
		if (!started[i])
			share_link(&jobs[i]);
	}
	for (unsigned i = 0; i < c->conf.nservers; i++) {
		if (started[i])
			pthread_join(tids[i], NULL);
		up += c->links[i].up;
	}
	if (up == 0)
		return client_fail(c, -EHOSTDOWN, "no server is reachable for a second connection");
	c->logged_in = true;
	return 0;
}

/* One thread per server: connect if needed, end the previous session, open
 * one for the user through the server's own identity. */
static void *peer_login(void *arg)
{
	struct login_job *j = arg;
	struct link *l = j->link;
	dfs_peer_login_args a = {.user = j->c->user};
	dfs_peer_login_res r;
	enum clnt_stat st;

	if (l->up) {
		dfs_cred_args out = {.cred = l->cred};
		dfs_stat res;

		dfsproc_logout_1(&out, &res, l->clnt[0]);
	}
	l->up = false;
	if (!l->clnt[0]) {
		j->err = conn_ping(j->c, l);
		if (j->err)
			return NULL;
	}
	memset(&r, 0, sizeof(r));
	st = dfsproc_peer_login_1(&a, &r, l->clnt[0]);
	if (login_failed(j, st, r.status))
		goto out;
	memcpy(l->cred.token, r.dfs_peer_login_res_u.token, sizeof(l->cred.token));
	link_ready(j);
out:
	xdr_free((xdrproc_t)xdr_dfs_peer_login_res, (char *)&r);
	return NULL;
}

int conn_peer_login_all(struct dfs_client *c, const char *user)
{
	struct login_job jobs[DFS_SERVERS_MAX];
	unsigned up = 0;

	snprintf(c->user, sizeof(c->user), "%s", user);
	memset(jobs, 0, sizeof(jobs));
	for (unsigned i = 0; i < c->conf.nservers; i++) {
		jobs[i].c = c;
		jobs[i].link = &c->links[i];
	}
	run_jobs(jobs, c->conf.nservers, peer_login);
	for (unsigned i = 0; i < c->conf.nservers; i++) {
		if (c->links[i].up)
			up++;
		else if (c->links[i].clnt[0])
			link_close(&c->links[i]);
	}
	c->logged_in = up > 0;
	return up ? 0 : client_fail(c, -EHOSTDOWN, "no server accepted this server's login");
}

/* link.c: one server's connections: opened (asking rpcbind for the port when
 * the configuration names none), pinged, closed; and the connections opened
 * during a login for the clients that will share its session. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <rpc/rpc.h>
#include <rpc/pmap_prot.h>
#include "internal.h"
#include "tls.h"

static const struct timeval CALL_TIMEOUT = {30, 0};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

const char *clnt_problem(CLIENT *clnt, enum clnt_stat st, char *buf, size_t len)
{
	struct rpc_err re;

	clnt_geterr(clnt, &re);
	if (st == RPC_AUTHERROR && re.re_why == AUTH_TOOWEAK)
		snprintf(buf, len,
			 "the server requires TLS (set tls = required and ca in dfs.conf)");
	else if (st == RPC_PROGVERSMISMATCH)
		snprintf(buf, len, "the server speaks protocol versions %lu..%lu, this client 1",
			 (unsigned long)re.re_vers.low, (unsigned long)re.re_vers.high);
	else if (st == RPC_TIMEDOUT)
		snprintf(buf, len, "no answer in time");
	else
		snprintf(buf, len, "%s", clnt_sperrno(st));
	return buf;
}

/* Asks the portmapper (rpcbind) on host for the program's TCP port. */
static int rpcbind_port(struct dfs_client *c, const struct server_conf *s, uint16_t *port,
			char *why, size_t whylen)
{
	struct rpcstream_clnt_opts opts = {.call_timeout_ms = c->conf.connect_timeout_ms};
	struct pmap pm = {.pm_prog = s->program, .pm_vers = DFS_V1, .pm_prot = IPPROTO_TCP};
	u_long answer = 0;
	CLIENT *clnt;
	int fd;
	enum clnt_stat st;

	fd = rpcstream_connect(s->host, PMAPPORT, c->conf.connect_timeout_ms, why, whylen);
	if (fd < 0)
		return fd;
	clnt = rpcstream_clnt_create(fd, PMAPPROG, PMAPVERS, &opts, why, whylen);
	if (!clnt)
		return -ECONNREFUSED;
	st = clnt_call(clnt, PMAPPROC_GETPORT, (xdrproc_t)xdr_pmap, (char *)&pm,
		       (xdrproc_t)xdr_u_long, (char *)&answer, CALL_TIMEOUT);
	clnt_destroy(clnt);
	if (st != RPC_SUCCESS) {
		snprintf(why, whylen, "rpcbind on %.200s did not answer", s->host);
		return -EHOSTUNREACH;
	}
	if (answer == 0 || answer > 65535) {
		snprintf(why, whylen, "program 0x%x is not registered with rpcbind on %.200s",
			 s->program, s->host);
		return -ECONNREFUSED;
	}
	*port = (uint16_t)answer;
	return 0;
}

/* Connects *out to server s at port (TLS per the configuration). 0 or -errno and why. */
static int connect_port(const struct dfs_client *c, const struct server_conf *s, uint16_t port,
			CLIENT **out, char *why, size_t whylen)
{
	struct rpcstream_clnt_opts opts = {
	    /* A server that accepts connections but never answers must not
	     * hold up the login for a whole call timeout. */
	    .call_timeout_ms = c->conf.login_timeout_ms,
	    .tls = c->tls,
	    .tls_name = s->tls_name,
	};
	int fd = rpcstream_connect(s->host, port, c->conf.connect_timeout_ms, why, whylen);

	if (fd < 0)
		return fd;
	*out = rpcstream_clnt_create(fd, s->program, DFS_V1, &opts, why, whylen);
	return *out ? 0 : -ECONNREFUSED;
}

/* Opens connection number idx of link l (TLS per the configuration). */
int link_open(struct dfs_client *c, struct link *l, int idx, char *why, size_t whylen)
{
	uint16_t port = idx > 0 && l->port ? l->port : l->conf->port;
	int err;

	if (port == 0) {
		err = rpcbind_port(c, l->conf, &port, why, whylen);
		if (err)
			return err;
	}
	if (idx == 0) {
		snprintf(l->address, sizeof(l->address), "%s:%u", l->conf->host, port);
		l->port = port;
	}
	err = connect_port(c, l->conf, port, &l->clnt[idx], why, whylen);
	if (err)
		return err;
	if (idx == 0) {
		SSL *ssl = rpcstream_clnt_ssl(l->clnt[0]);

		l->tls = ssl != NULL;
		if (!ssl || tls_peer_expiry(ssl, &l->cert_expiry_s) < 0)
			l->cert_expiry_s = -1;
	}
	return 0;
}

void link_close(struct link *l)
{
	for (int i = 0; i < LINK_CONNS; i++) {
		if (l->clnt[i])
			clnt_destroy(l->clnt[i]);
		l->clnt[i] = NULL;
	}
	l->up = false;
}

void conn_mark_down(struct dfs_client *c, struct link *l, const char *why)
{
	struct dfs_event ev = {.kind = DFS_EVENT_SERVER_DOWN, .server = l->conf->number};
	char label[160], text[512], reason[sizeof(l->why)];

	/* why may be l->why itself. */
	snprintf(reason, sizeof(reason), "%s", why);
	link_close(l);
	memcpy(l->why, reason, sizeof(reason));
	why = l->why;
	snprintf(text, sizeof(text), "%s is down: %s", link_label(l, label, sizeof(label)), why);
	ev.text = text;
	client_emit(c, &ev);
}

void conn_mark_broken(struct dfs_client *c, struct link *l, int err, const char *during)
{
	char why[128];

	if (!l->up || (err != -EHOSTDOWN && err != -ENOTCONN))
		return;
	if (err == -ENOTCONN) {
		conn_mark_down(c, l, CONN_ROLE_FAILED);
		return;
	}
	snprintf(why, sizeof(why), "it stopped answering during %s", during);
	conn_mark_down(c, l, why);
}

void conn_close_all(struct dfs_client *c)
{
	spares_free(c);
	for (unsigned i = 0; i < c->conf.nservers; i++) {
		struct link *l = &c->links[i];

		/* A client sharing another's session leaves ending it to the owner. */
		if (l->up && l->clnt[0] && !c->owner) {
			dfs_cred_args a = {.cred = l->cred};
			dfs_stat st;

			dfsproc_logout_1(&a, &st, l->clnt[0]);
		}
		link_close(l);
	}
}

int conn_ping(struct dfs_client *c, struct link *l)
{
	char why[256];
	enum clnt_stat st;
	double t0;
	int err;

	if (!l->clnt[0]) {
		err = link_open(c, l, 0, why, sizeof(why));
		if (err) {
			snprintf(l->why, sizeof(l->why), "%s", why);
			return err;
		}
	}
	t0 = now_ms();
	st = dfsproc_null_1(NULL, NULL, l->clnt[0]);
	if (st != RPC_SUCCESS) {
		if (st == RPC_PROGVERSMISMATCH)
			snprintf(l->why, sizeof(l->why), "%s",
				 clnt_problem(l->clnt[0], st, why, sizeof(why)));
		else
			snprintf(l->why, sizeof(l->why), "no answer to NULL");
		link_close(l);
		return st == RPC_PROGVERSMISMATCH ? -EPROTONOSUPPORT : -EHOSTDOWN;
	}
	l->rtt_ms = now_ms() - t0;
	return 0;
}

/* Once logged in, calls may take as long as a busy disk needs. */
static void set_call_timeout(const struct dfs_client *c, CLIENT *clnt)
{
	struct timeval tv = {c->conf.call_timeout_ms / 1000,
			     (c->conf.call_timeout_ms % 1000) * 1000};

	clnt_control(clnt, CLSET_TIMEOUT, (char *)&tv);
}

void link_set_call_timeouts(const struct dfs_client *c, struct link *l)
{
	for (int i = 0; i < LINK_CONNS; i++)
		if (l->clnt[i])
			set_call_timeout(c, l->clnt[i]);
}

CLIENT *conn_role(struct dfs_client *c, struct link *l, int role, char *why, size_t whylen)
{
	if (role < 0 || role >= LINK_CONNS) {
		snprintf(why, whylen, "no connection for chunk role %d", role);
		return NULL;
	}
	if (!l->clnt[role]) {
		if (!l->up) {
			snprintf(why, whylen, "%s", l->why);
			return NULL;
		}
		if (link_open(c, l, role, why, whylen) < 0)
			return NULL;
		set_call_timeout(c, l->clnt[role]);
	}
	return l->clnt[role];
}

/* Connections opened during a login for the clients that will share its
 * session (dfs_prepare_shares), each handed over once. */
struct spare_job {
	struct dfs_client *c;
	unsigned server; /* index in c->links */
	uint16_t port;
	pthread_t tid;
	bool started;
};
struct spares {
	unsigned want; /* per server */
	pthread_mutex_t lock;
	struct spare_job jobs[DFS_SERVERS_MAX];
	CLIENT *clnt[DFS_SERVERS_MAX][DFS_SHARES_PREPARED_MAX];
	unsigned n[DFS_SERVERS_MAX];
	double opened_ms; /* when the first of them began to open */
};

/* A prepared connection older than this is not handed over: its server may
 * close it as idle (idle_timeout is at least 1 s) while the new client makes
 * its first call on it. */
#define SPARE_MAX_AGE_MS 800

int spares_want(struct dfs_client *c, unsigned n)
{
	if (n > DFS_SHARES_PREPARED_MAX)
		return -EINVAL;
	if (!c->spares) {
		if (n == 0)
			return 0;
		c->spares = calloc(1, sizeof(*c->spares));
		if (!c->spares)
			return -ENOMEM;
		pthread_mutex_init(&c->spares->lock, NULL);
	}
	c->spares->want = n;
	return 0;
}

/* One thread per server: opens its prepared connections one after another. */
static void *open_spares(void *arg)
{
	struct spare_job *j = arg;
	struct spares *sp = j->c->spares;
	const struct server_conf *conf = j->c->links[j->server].conf;
	char why[256];

	/* Only this thread adds to n[server] while the login runs. */
	while (sp->n[j->server] < sp->want) {
		CLIENT *clnt;

		if (connect_port(j->c, conf, j->port, &clnt, why, sizeof(why)) < 0)
			break;
		pthread_mutex_lock(&sp->lock);
		sp->clnt[j->server][sp->n[j->server]++] = clnt;
		pthread_mutex_unlock(&sp->lock);
	}
	return NULL;
}

void spares_start(struct dfs_client *c)
{
	struct spares *sp = c->spares;

	if (!sp || sp->want == 0)
		return;
	sp->opened_ms = now_ms();
	for (unsigned i = 0; i < c->conf.nservers; i++) {
		struct spare_job *j = &sp->jobs[i];
		const struct link *l = &c->links[i];

		if (!l->clnt[0] || !l->port || j->started)
			continue;
		*j = (struct spare_job){.c = c, .server = i, .port = l->port};
		j->started = pthread_create(&j->tid, NULL, open_spares, j) == 0;
	}
}

static void close_spares(struct spares *sp, unsigned server)
{
	for (; sp->n[server] > 0; sp->n[server]--)
		clnt_destroy(sp->clnt[server][sp->n[server] - 1]);
}

void spares_finish(struct dfs_client *c)
{
	struct spares *sp = c->spares;

	if (!sp)
		return;
	for (unsigned i = 0; i < c->conf.nservers; i++) {
		if (sp->jobs[i].started)
			pthread_join(sp->jobs[i].tid, NULL);
		sp->jobs[i].started = false;
		if (!c->links[i].up)
			close_spares(sp, i);
	}
}

/* True if the server has neither closed clnt nor sent anything on it. */
static bool still_quiet(CLIENT *clnt)
{
	struct pollfd p = {.events = POLLIN};

	return clnt_control(clnt, CLGET_FD, (char *)&p.fd) && poll(&p, 1, 0) == 0;
}

CLIENT *spares_take(struct dfs_client *owner, unsigned server)
{
	struct spares *sp = owner->spares;
	CLIENT *clnt = NULL;

	if (!sp)
		return NULL;
	pthread_mutex_lock(&sp->lock);
	if (now_ms() - sp->opened_ms > SPARE_MAX_AGE_MS)
		close_spares(sp, server);
	while (!clnt && sp->n[server] > 0) {
		clnt = sp->clnt[server][--sp->n[server]];
		if (!still_quiet(clnt)) {
			clnt_destroy(clnt);
			clnt = NULL;
		}
	}
	pthread_mutex_unlock(&sp->lock);
	return clnt;
}

void spares_free(struct dfs_client *c)
{
	struct spares *sp = c->spares;

	if (!sp)
		return;
	spares_finish(c);
	for (unsigned i = 0; i < c->conf.nservers; i++)
		close_spares(sp, i);
	pthread_mutex_destroy(&sp->lock);
	free(sp);
	c->spares = NULL;
}

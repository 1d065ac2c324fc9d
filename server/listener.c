/* listener.c: dfsd's accept loop: caps, login deadlines, one detached thread per connection,
 * an orderly stop.
 *
 * Connection slots are kept for logged-in clients: a connection counts as
 * unauthenticated until a login succeeds on it or a call on it carries a
 * valid session token. Unauthenticated connections may hold at most 3/4 of
 * max_connections, and when the server is full a new connection makes room
 * by closing the oldest unauthenticated one rather than being refused. Each
 * has login_timeout to log in, unless its address already has a logged-in
 * connection (a client's further connections wait for their first call). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "dfs_prot.h"
#include "listener.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "rpcstream.h"

#define BACKLOG		128
#define POLL_MS		200
#define THREAD_STACK	(256 * 1024)
#define STOP_GRACE_S	5
#define ACCEPT_PAUSE_MS 100
#define SWEEP_MS	200

/* A client address, without the port, as the per-address cap counts it: an
 * IPv4 address, or an IPv6 /64 (one host or network usually holds a whole
 * /64, so counting single addresses would multiply its share). */
struct peer_key {
	sa_family_t family;
	unsigned char addr[16];
};

struct peer_count {
	struct peer_key key;
	unsigned count;
};

struct listener;

/* One connection: what its thread owns. conn is what dispatch sees. */
struct conn_slot {
	struct conn conn;
	struct listener *l;
	int fd;	     /* handed to rpcstream_serve, which closes it */
	int hold_fd; /* a duplicate kept until the thread ends, so a stop can shut the socket */
	struct peer_key key;
	int64_t started_ms;
	/* Closed by the listener (no login in time, or making room): its
	 * counts were given back then; the thread has yet to end. */
	const char *cut;
	struct conn_slot *prev, *next;
};

/* At most one log line a second for an event that can come in floods. */
struct log_limit {
	time_t last;
	unsigned unlogged;
};

struct listener {
	struct server *srv;
	pthread_mutex_t lock;
	pthread_cond_t changed;	  /* a connection thread ended; on CLOCK_MONOTONIC */
	unsigned active;	  /* connection threads */
	unsigned live;		  /* those not cut */
	struct peer_count *peers; /* max_connections entries, the first npeers in use */
	size_t npeers;
	struct peer_key *scratch; /* thread_cap entries */
	struct conn_slot *slots;  /* connection threads, newest first */
	atomic_bool stopping;	  /* ends of connections are the server's doing */
	uint64_t next_id;
	int64_t last_sweep_ms;
	struct log_limit refusals, cuts;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True if this event is to be logged now; *skipped gets how many were not. */
static bool log_limit_pass(struct log_limit *ll, unsigned *skipped)
{
	time_t now = time(NULL);

	if (now == ll->last) {
		ll->unlogged++;
		return false;
	}
	*skipped = ll->unlogged;
	ll->last = now;
	ll->unlogged = 0;
	return true;
}

/* Turns an IPv4-mapped IPv6 address into plain IPv4, so both forms count and log alike. */
static void peer_normalize(struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in in4;

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return;
	memset(&in4, 0, sizeof(in4));
	in4.sin_family = AF_INET;
	in4.sin_port = in6->sin6_port;
	memcpy(&in4.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &in4, sizeof(in4));
	*len = sizeof(in4);
}

static void peer_describe(const struct sockaddr_storage *ss, struct peer_key *key, char *text,
			  size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	memset(key, 0, sizeof(*key));
	key->family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;

		memcpy(key->addr, &in4->sin_addr, 4);
		inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
		snprintf(text, cap, "%s:%u", ip, ntohs(in4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		memcpy(key->addr, &in6->sin6_addr, 8);
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(text, cap, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(text, cap, "unknown");
	}
}

/* With l->lock held. */
static struct peer_count *peer_find(struct listener *l, const struct peer_key *key)
{
	for (size_t i = 0; i < l->npeers; i++)
		if (memcmp(&l->peers[i].key, key, sizeof(*key)) == 0)
			return &l->peers[i];
	return NULL;
}

/* With l->lock held. */
static void peer_drop(struct listener *l, const struct peer_key *key)
{
	struct peer_count *p = peer_find(l, key);

	if (p && --p->count == 0)
		*p = l->peers[--l->npeers];
}

static int set_int_opt(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value));
}

int listener_open(struct server *srv, int *fd, uint16_t *port, char *err, size_t errlen)
{
	const struct server_config *cfg = &srv->cfg;
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[sizeof(cfg->listen)], service[8];
	size_t hlen = strlen(cfg->listen);
	int s = -1, rc, gai;

	*fd = -1;
	*port = 0;
	/* Accept "[::1]" as well as "::1". */
	if (hlen >= 2 && cfg->listen[0] == '[' && cfg->listen[hlen - 1] == ']') {
		memcpy(host, cfg->listen + 1, hlen - 2);
		host[hlen - 2] = '\0';
	} else {
		memcpy(host, cfg->listen, hlen + 1);
	}
	snprintf(service, sizeof(service), "%u", cfg->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	gai = getaddrinfo(host, service, &hints, &res);
	if (gai != 0) {
		snprintf(err, errlen, "cannot resolve listen address '%s': %s", cfg->listen,
			 gai_strerror(gai));
		rc = -EINVAL;
		goto out;
	}
	rc = -EADDRNOTAVAIL;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (s < 0) {
			rc = -errno;
			continue;
		}
		set_int_opt(s, SOL_SOCKET, SO_REUSEADDR, 1);
		if (ai->ai_family == AF_INET6)
			set_int_opt(s, IPPROTO_IPV6, IPV6_V6ONLY, 0);
		/* Set before listen so accepted sockets inherit them and the TCP
		 * window scale is negotiated for the large buffers. */
		set_int_opt(s, SOL_SOCKET, SO_RCVBUF, RPCSTREAM_SOCKBUF);
		set_int_opt(s, SOL_SOCKET, SO_SNDBUF, RPCSTREAM_SOCKBUF);
		if (bind(s, ai->ai_addr, ai->ai_addrlen) == 0 && listen(s, BACKLOG) == 0) {
			rc = 0;
			break;
		}
		rc = -errno;
		close(s);
		s = -1;
	}
	if (rc < 0) {
		snprintf(err, errlen, "cannot listen on %s port %u: %s", cfg->listen, cfg->port,
			 strerror(-rc));
		goto out;
	}
	if (getsockname(s, (struct sockaddr *)&ss, &sslen) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot read the listening address: %s", strerror(-rc));
		goto out;
	}
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	*fd = s;
	s = -1;
out:
	if (s >= 0)
		close(s);
	if (res)
		freeaddrinfo(res);
	return rc;
}

static const char *end_reason(const struct listener *l, const struct conn_slot *slot, int rc,
			      char *buf, size_t cap)
{
	if (atomic_load(&l->stopping))
		return "server stopping";
	if (slot->cut)
		return slot->cut;
	if (rc == 0)
		return "closed by the client";
	if (rc == -ETIMEDOUT)
		return "timed out";
	snprintf(buf, cap, "%s", strerror(-rc));
	return buf;
}

static void *conn_main(void *arg)
{
	struct conn_slot *slot = arg;
	struct listener *l = slot->l;
	const struct server_config *cfg = &l->srv->cfg;
	struct rpcstream_svc_opts opts = {
	    .prog = cfg->program,
	    .vers = DFS_V1,
	    .tls = server_tls_hold(l->srv),
	    .tls_mode = cfg->tls,
	    .idle_timeout_ms = (int)cfg->idle_timeout_s * 1000,
	    .request_timeout_ms = (int)cfg->request_timeout_s * 1000,
	};
	char why[128];
	int rc;

	metrics_connection(l->srv->metrics, 1);
	rc = rpcstream_serve(slot->fd, &opts, dispatch_call, &slot->conn);
	SSL_CTX_free(opts.tls);
	dispatch_conn_closed(&slot->conn);
	metrics_connection(l->srv->metrics, -1);
	pthread_mutex_lock(&l->lock);
	if (rc == -EKEYREJECTED)
		log_warn("%s: refused in the TLS handshake: its client certificate is not one of "
			 "this cluster's (another CA, or not for client use)",
			 slot->conn.peer_text);
	else
		log_debug("connection from %s closed: %s", slot->conn.peer_text,
			  end_reason(l, slot, rc, why, sizeof(why)));
	if (slot->prev)
		slot->prev->next = slot->next;
	else
		l->slots = slot->next;
	if (slot->next)
		slot->next->prev = slot->prev;
	if (!slot->cut) {
		peer_drop(l, &slot->key);
		l->live--;
	}
	l->active--;
	pthread_cond_broadcast(&l->changed);
	pthread_mutex_unlock(&l->lock);
	/* l may be gone from here on: the listener returns once active is 0. */
	close(slot->hold_fd);
	free(slot);
	return NULL;
}

/* With l->lock held: logs a refusal, at most once a second under a flood. */
static void log_refusal(struct listener *l, const char *peer, const char *why, unsigned limit)
{
	unsigned skipped;

	if (!log_limit_pass(&l->refusals, &skipped))
		return;
	if (skipped)
		log_warn("refusing connection from %s: %s (limit %u; %u more refused)", peer, why,
			 limit, skipped);
	else
		log_warn("refusing connection from %s: %s (limit %u)", peer, why, limit);
}

static bool is_authed(const struct conn_slot *s)
{
	return atomic_load(&s->conn.authenticated);
}

/* At most this many connection threads run, closing ones included: those
 * of closed connections end within moments; past this many a flood is
 * outpacing them. */
static unsigned thread_cap(const struct server_config *cfg)
{
	return cfg->max_connections + cfg->max_connections / 4 + 4;
}

/* With l->lock held: the addresses with a logged-in connection, into
 * l->scratch (each once); returns how many. */
static size_t logged_in_peers(struct listener *l)
{
	size_t n = 0, k;

	for (const struct conn_slot *s = l->slots; s; s = s->next) {
		if (s->cut || !is_authed(s))
			continue;
		for (k = 0; k < n && memcmp(&l->scratch[k], &s->key, sizeof(s->key)) != 0; k++)
			;
		if (k == n)
			l->scratch[n++] = s->key;
	}
	return n;
}

static bool key_in(const struct peer_key *keys, size_t n, const struct peer_key *key)
{
	for (size_t k = 0; k < n; k++)
		if (memcmp(&keys[k], key, sizeof(*key)) == 0)
			return true;
	return false;
}

/* With l->lock held: closes a connection that has not logged in; its
 * thread ends on its own, and its place counts as free at once. */
static void cut(struct listener *l, struct conn_slot *s, const char *why)
{
	unsigned skipped;

	shutdown(s->hold_fd, SHUT_RDWR);
	s->cut = why;
	peer_drop(l, &s->key);
	l->live--;
	if (log_limit_pass(&l->cuts, &skipped)) {
		if (skipped)
			log_warn("closing connection from %s: %s (%u more closed)",
				 s->conn.peer_text, why, skipped);
		else
			log_warn("closing connection from %s: %s", s->conn.peer_text, why);
	}
}

/* With l->lock held: the oldest connection that has not logged in, those
 * from addresses without a logged-in connection first; NULL if none. */
static struct conn_slot *oldest_unauthenticated(struct listener *l)
{
	struct conn_slot *stranger = NULL, *any = NULL;
	size_t n = logged_in_peers(l);

	/* The list runs newest first: the last match is the oldest. */
	for (struct conn_slot *s = l->slots; s; s = s->next) {
		if (s->cut || is_authed(s))
			continue;
		any = s;
		if (!key_in(l->scratch, n, &s->key))
			stranger = s;
	}
	return stranger ? stranger : any;
}

static unsigned count_unauthenticated(const struct listener *l)
{
	unsigned n = 0;

	for (const struct conn_slot *s = l->slots; s; s = s->next)
		n += !s->cut && !is_authed(s);
	return n;
}

/* With l->lock held: closes the connections that have not logged in within
 * login_timeout, except those whose address has a logged-in connection. */
static void sweep(struct listener *l, int64_t now)
{
	const struct server_config *cfg = &l->srv->cfg;
	int64_t limit = (int64_t)cfg->login_timeout_s * 1000;
	size_t n = logged_in_peers(l);

	for (struct conn_slot *s = l->slots; s; s = s->next)
		if (!s->cut && !is_authed(s) && now - s->started_ms >= limit &&
		    !key_in(l->scratch, n, &s->key))
			cut(l, s, "no login in time (login_timeout)");
}

/* Takes ownership of fd: starts its thread, or refuses it and closes it. */
static void admit(struct listener *l, int fd, struct sockaddr_storage *ss, socklen_t sslen)
{
	const struct server_config *cfg = &l->srv->cfg;
	struct conn_slot *slot = NULL;
	struct peer_count *pc;
	pthread_attr_t attr;
	sigset_t all, old;
	int rc;

	slot = calloc(1, sizeof(*slot));
	if (!slot) {
		log_warn("refusing a connection: out of memory");
		close(fd);
		return;
	}
	peer_normalize(ss, &sslen);
	slot->conn.srv = l->srv;
	slot->conn.peer = *ss;
	slot->conn.peer_len = sslen;
	peer_describe(ss, &slot->key, slot->conn.peer_text, sizeof(slot->conn.peer_text));
	slot->l = l;
	slot->fd = fd;
	slot->hold_fd = -1;

	set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	set_int_opt(fd, SOL_SOCKET, SO_SNDBUF, RPCSTREAM_SOCKBUF);
	set_int_opt(fd, SOL_SOCKET, SO_RCVBUF, RPCSTREAM_SOCKBUF);
	slot->hold_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (slot->hold_fd < 0) {
		log_warn("refusing connection from %s: %s", slot->conn.peer_text, strerror(errno));
		goto refuse;
	}

	pthread_mutex_lock(&l->lock);
	pc = peer_find(l, &slot->key);
	if (pc && pc->count >= cfg->max_connections_per_address) {
		log_refusal(l, slot->conn.peer_text, "too many connections from this address",
			    cfg->max_connections_per_address);
		pthread_mutex_unlock(&l->lock);
		goto refuse;
	}
	if (l->active >= thread_cap(cfg)) {
		log_refusal(l, slot->conn.peer_text, "too many connections still closing",
			    cfg->max_connections);
		pthread_mutex_unlock(&l->lock);
		goto refuse;
	}
	{
		unsigned max_unauth = cfg->max_connections * 3 / 4;
		struct conn_slot *victim;

		if (max_unauth == 0)
			max_unauth = 1;
		if (count_unauthenticated(l) >= max_unauth &&
		    (victim = oldest_unauthenticated(l)) != NULL)
			cut(l, victim, "making room: too many connections that have not logged in");
		if (l->live >= cfg->max_connections) {
			victim = oldest_unauthenticated(l);
			if (!victim) {
				log_refusal(l, slot->conn.peer_text,
					    "too many logged-in connections", cfg->max_connections);
				pthread_mutex_unlock(&l->lock);
				goto refuse;
			}
			cut(l, victim, "making room: too many connections");
		}
	}
	/* The cuts above may have emptied and moved the address's entry. */
	pc = peer_find(l, &slot->key);
	if (!pc) {
		pc = &l->peers[l->npeers++];
		pc->key = slot->key;
		pc->count = 0;
	}
	pc->count++;
	l->active++;
	l->live++;
	slot->conn.id = ++l->next_id;
	slot->started_ms = mono_ms();
	slot->next = l->slots;
	if (l->slots)
		l->slots->prev = slot;
	l->slots = slot;

	log_debug("connection from %s", slot->conn.peer_text);
	/* Signals belong to the main thread: connection threads block them all. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t tid;
	rc = pthread_create(&tid, &attr, conn_main, slot);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		l->slots = slot->next;
		if (slot->next)
			slot->next->prev = NULL;
		peer_drop(l, &slot->key);
		l->active--;
		l->live--;
		pthread_mutex_unlock(&l->lock);
		log_warn("refusing connection from %s: cannot start a thread: %s",
			 slot->conn.peer_text, strerror(rc));
		goto refuse;
	}
	pthread_mutex_unlock(&l->lock);
	return;

refuse:
	close(fd);
	if (slot->hold_fd >= 0)
		close(slot->hold_fd);
	free(slot);
}

/* With l->lock held: waits until no connection is left or the deadline passes. */
static void wait_idle(struct listener *l, const struct timespec *deadline)
{
	while (l->active > 0) {
		if (pthread_cond_timedwait(&l->changed, &l->lock, deadline) == ETIMEDOUT)
			break;
	}
}

/* With l->lock held. */
static void shut_all(struct listener *l, int how)
{
	for (struct conn_slot *s = l->slots; s; s = s->next)
		shutdown(s->hold_fd, how);
}

int listener_run(struct server *srv, int fd, volatile sig_atomic_t *stop)
{
	struct listener *l;
	pthread_condattr_t ca;
	struct timespec deadline;
	time_t last_accept_warn = 0;
	int rc = 0;

	l = calloc(1, sizeof(*l));
	if (l) {
		l->peers = calloc(srv->cfg.max_connections, sizeof(*l->peers));
		l->scratch = calloc(thread_cap(&srv->cfg), sizeof(*l->scratch));
	}
	if (!l || !l->peers || !l->scratch) {
		log_error("cannot serve: out of memory");
		close(fd);
		if (l) {
			free(l->peers);
			free(l->scratch);
		}
		free(l);
		return -ENOMEM;
	}
	l->srv = srv;
	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->changed, &ca);
	pthread_condattr_destroy(&ca);

	while (!*stop) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		int64_t now;
		int cfd;

		now = mono_ms();
		if (now - l->last_sweep_ms >= SWEEP_MS) {
			pthread_mutex_lock(&l->lock);
			sweep(l, now);
			pthread_mutex_unlock(&l->lock);
			l->last_sweep_ms = now;
		}
		if (poll(&pfd, 1, POLL_MS) <= 0)
			continue;
		cfd = accept4(fd, (struct sockaddr *)&ss, &sslen, SOCK_CLOEXEC);
		if (cfd >= 0) {
			admit(l, cfd, &ss, sslen);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* The pending connection stays queued; pause rather than spin. */
			if (time(NULL) != last_accept_warn) {
				log_warn("cannot accept a connection: %s", strerror(errno));
				last_accept_warn = time(NULL);
			}
			poll(NULL, 0, ACCEPT_PAUSE_MS);
		}
	}
	close(fd);

	/* Stop reading new calls: a call already received is still answered,
	 * then each connection sees end of input and its thread ends. */
	pthread_mutex_lock(&l->lock);
	atomic_store(&l->stopping, true);
	if (l->active > 0)
		log_info("stopping: closing %u connection(s)", l->active);
	shut_all(l, SHUT_RD);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += STOP_GRACE_S;
	wait_idle(l, &deadline);
	if (l->active > 0) {
		log_warn("%u connection(s) still busy after %d s: cutting them", l->active,
			 STOP_GRACE_S);
		shut_all(l, SHUT_RDWR);
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += 1;
		wait_idle(l, &deadline);
	}
	if (l->active > 0) {
		log_error("%u connection thread(s) did not end", l->active);
		rc = -EBUSY;
	}
	pthread_mutex_unlock(&l->lock);
	if (rc < 0)
		return rc; /* the threads still use l: leave it to the process exit */
	pthread_cond_destroy(&l->changed);
	pthread_mutex_destroy(&l->lock);
	free(l->peers);
	free(l->scratch);
	free(l);
	return 0;
}

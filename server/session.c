/* session.c: pending logins, session tokens and the login throttle, under one mutex. */
#include "session.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define USER_MAX     64
#define NIL	     UINT32_MAX
#define LOGIN_TTL_MS 30000

/* The throttle: a hash table of counters, at most half full. */
#define THR_SLOTS	8192
#define THR_MAX		4096
#define THR_FORGET_MS	(3600 * 1000)
#define THR_MAX_DELAY_S 300
#define THR_USER_FREE	5
#define THR_USER_BURST	16
#define THR_ADDR_FREE	20
#define THR_ADDR_BURST	64

struct session {
	bool used;
	unsigned char token[SESSION_TOKEN_LEN];
	unsigned char vkey[SCRAM_KEY_LEN];
	char user[USER_MAX + 1];
	unsigned peer;	    /* the server that opened it for user, or 0: the user did */
	int64_t expires_ms; /* monotonic */
	/* Creation order, which is also expiry order (one lifetime per table):
	 * among the user's sessions, and among all. */
	uint32_t uprev, unext;
	uint32_t aprev, anext;
};

/* A user with sessions: the ends of their list. Empty when count is 0. */
struct user_ent {
	uint32_t head, tail, count;
};

struct login {
	bool used;
	uint64_t id;
	uint64_t conn;
	uint64_t seq; /* start order, for eviction */
	int64_t expires_ms;
	unsigned char addr[16];
	uint8_t addr_len;
	char user[USER_MAX + 1];
};

enum thr_kind { THR_EMPTY, THR_ADDR, THR_USER_ADDR };

/* One throttle counter: an address group, or a user at an address group. */
struct throttle {
	uint8_t kind;
	uint8_t addr_len;
	uint8_t user_len;
	unsigned char addr[16];
	char user[USER_MAX];
	uint32_t inflight;
	uint32_t failures;
	int64_t until_ms;
	int64_t last_ms;
};

struct sessions {
	pthread_mutex_t mu;
	struct sessions_limits lim;
	uint64_t hash_key;
	int64_t offset_ms;

	struct session *ses; /* lim.max_sessions entries; unused ones chained by unext */
	uint32_t free_head;
	uint32_t oldest, newest;
	uint32_t count;
	/* Open addressing with linear probing and backward-shift deletion, at
	 * most half full, so probes stay short and always end. */
	uint32_t *tok; /* token index: session number or NIL */
	size_t tok_mask;
	struct user_ent *users; /* user index */
	size_t users_mask;

	struct login *logins; /* lim.max_logins entries */
	struct scram_server *states;
	uint64_t login_seq;

	struct throttle *thr; /* THR_SLOTS entries */
	size_t thr_count;
};

static int64_t now_ms(const struct sessions *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + s->offset_ms;
}

static int64_t unix_now_s(const struct sessions *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec + s->offset_ms / 1000;
}

static uint64_t mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* A keyed hash: the key is random per table, so slot positions cannot be
 * predicted to make probe runs long. */
static uint64_t hash_bytes(uint64_t key, const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = mix64(key ^ (n * 0x9e3779b97f4a7c15ULL)), w;

	for (; n >= 8; b += 8, n -= 8) {
		memcpy(&w, b, 8);
		h = mix64(h ^ w);
	}
	w = 0;
	memcpy(&w, b, n);
	return mix64(h ^ w);
}

size_t sessions_addr_group(const struct sockaddr *addr, unsigned char key[16])
{
	static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (!addr)
		return 0;
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;

		memcpy(key, &in->sin_addr, 4);
		return 4;
	}
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;

		if (memcmp(in6->sin6_addr.s6_addr, v4mapped, sizeof(v4mapped)) == 0) {
			memcpy(key, in6->sin6_addr.s6_addr + 12, 4);
			return 4;
		}
		memcpy(key, in6->sin6_addr.s6_addr, 8);
		return 8;
	}
	return 0;
}

/* ---- the session table ---- */

static size_t tok_home(const struct sessions *s, const unsigned char *token)
{
	uint64_t x = 0;

	/* Tokens are random already; the keyed mix keeps positions private. */
	memcpy(&x, token, sizeof(x));
	return (size_t)mix64(x ^ s->hash_key) & s->tok_mask;
}

static long tok_find(const struct sessions *s, const unsigned char *token)
{
	for (size_t i = tok_home(s, token);; i = (i + 1) & s->tok_mask) {
		if (s->tok[i] == NIL)
			return -1;
		if (CRYPTO_memcmp(s->ses[s->tok[i]].token, token, SESSION_TOKEN_LEN) == 0)
			return (long)i;
	}
}

/* Whether an entry at j whose home is home may move back to the hole at i:
 * not if its home lies cyclically in (i, j]. */
static bool may_fill(size_t i, size_t j, size_t home)
{
	return i <= j ? !(i < home && home <= j) : !(i < home || home <= j);
}

static void tok_remove_at(struct sessions *s, size_t i)
{
	size_t j = i;

	s->tok[i] = NIL;
	for (;;) {
		j = (j + 1) & s->tok_mask;
		if (s->tok[j] == NIL)
			return;
		if (!may_fill(i, j, tok_home(s, s->ses[s->tok[j]].token)))
			continue;
		s->tok[i] = s->tok[j];
		s->tok[j] = NIL;
		i = j;
	}
}

static size_t user_home(const struct sessions *s, const char *user)
{
	return (size_t)hash_bytes(s->hash_key ^ 0x5555555555555555ULL, user, strlen(user)) &
	       s->users_mask;
}

static long user_find(const struct sessions *s, const char *user)
{
	for (size_t i = user_home(s, user);; i = (i + 1) & s->users_mask) {
		if (s->users[i].count == 0)
			return -1;
		if (strcmp(s->ses[s->users[i].head].user, user) == 0)
			return (long)i;
	}
}

static void user_remove_at(struct sessions *s, size_t i)
{
	size_t j = i;

	memset(&s->users[i], 0, sizeof(s->users[i]));
	for (;;) {
		j = (j + 1) & s->users_mask;
		if (s->users[j].count == 0)
			return;
		if (!may_fill(i, j, user_home(s, s->ses[s->users[j].head].user)))
			continue;
		s->users[i] = s->users[j];
		memset(&s->users[j], 0, sizeof(s->users[j]));
		i = j;
	}
}

static void ses_remove(struct sessions *s, uint32_t n)
{
	struct session *e = &s->ses[n];
	long u = user_find(s, e->user);
	long t = tok_find(s, e->token);

	if (e->aprev != NIL)
		s->ses[e->aprev].anext = e->anext;
	else
		s->oldest = e->anext;
	if (e->anext != NIL)
		s->ses[e->anext].aprev = e->aprev;
	else
		s->newest = e->aprev;
	if (u >= 0) {
		struct user_ent *ue = &s->users[u];

		if (e->uprev != NIL)
			s->ses[e->uprev].unext = e->unext;
		else
			ue->head = e->unext;
		if (e->unext != NIL)
			s->ses[e->unext].uprev = e->uprev;
		else
			ue->tail = e->uprev;
		if (--ue->count == 0)
			user_remove_at(s, (size_t)u);
	}
	if (t >= 0)
		tok_remove_at(s, (size_t)t);
	OPENSSL_cleanse(e, sizeof(*e));
	e->unext = s->free_head;
	s->free_head = n;
	s->count--;
}

static size_t pow2_at_least(size_t n)
{
	size_t cap = 16;

	while (cap < n)
		cap *= 2;
	return cap;
}

int sessions_new_limits(struct sessions **out, const struct sessions_limits *lim)
{
	struct sessions *s = NULL;
	int rc = 0;

	*out = NULL;
	if (!lim || lim->ttl_s == 0 || lim->ttl_s > 365u * 86400 || lim->max_sessions == 0 ||
	    lim->max_sessions > (1u << 24) || lim->max_logins == 0 ||
	    lim->max_logins > (1u << 20) || lim->max_per_user == 0 ||
	    lim->max_per_user > lim->max_sessions || lim->max_logins_per_addr == 0 ||
	    lim->max_logins_per_addr > lim->max_logins || lim->max_logins_per_conn == 0 ||
	    lim->max_logins_per_conn > lim->max_logins)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lim = *lim;
	s->tok_mask = pow2_at_least(2 * (size_t)lim->max_sessions) - 1;
	s->users_mask = s->tok_mask;
	s->ses = calloc(lim->max_sessions, sizeof(*s->ses));
	s->tok = malloc((s->tok_mask + 1) * sizeof(*s->tok));
	s->users = calloc(s->users_mask + 1, sizeof(*s->users));
	s->logins = calloc(lim->max_logins, sizeof(*s->logins));
	s->states = calloc(lim->max_logins, sizeof(*s->states));
	s->thr = calloc(THR_SLOTS, sizeof(*s->thr));
	if (!s->ses || !s->tok || !s->users || !s->logins || !s->states || !s->thr) {
		rc = -ENOMEM;
		goto out;
	}
	if (RAND_bytes((unsigned char *)&s->hash_key, sizeof(s->hash_key)) != 1) {
		rc = -EIO;
		goto out;
	}
	rc = -pthread_mutex_init(&s->mu, NULL);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i <= s->tok_mask; i++)
		s->tok[i] = NIL;
	for (uint32_t i = 0; i < lim->max_sessions; i++)
		s->ses[i].unext = i + 1 < lim->max_sessions ? i + 1 : NIL;
	s->free_head = 0;
	s->oldest = s->newest = NIL;
	*out = s;
	s = NULL;
out:
	if (s) {
		free(s->ses);
		free(s->tok);
		free(s->users);
		free(s->logins);
		free(s->states);
		free(s->thr);
		free(s);
	}
	return rc;
}

static unsigned min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

int sessions_new(struct sessions **out, unsigned ttl_s, unsigned max_sessions, unsigned max_logins)
{
	struct sessions_limits lim = {
	    .ttl_s = ttl_s,
	    .max_sessions = max_sessions,
	    .max_per_user = min_u(SESSIONS_PER_USER, max_sessions),
	    .max_logins = max_logins,
	    .max_logins_per_addr = min_u(SESSIONS_LOGINS_PER_ADDRESS, max_logins),
	    .max_logins_per_conn = min_u(SESSIONS_LOGINS_PER_CONN, max_logins),
	};

	if (max_sessions == 0 || max_logins == 0) {
		*out = NULL;
		return -EINVAL;
	}
	return sessions_new_limits(out, &lim);
}

void sessions_free(struct sessions *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->mu);
	OPENSSL_cleanse(s->ses, s->lim.max_sessions * sizeof(*s->ses));
	OPENSSL_cleanse(s->states, s->lim.max_logins * sizeof(*s->states));
	free(s->ses);
	free(s->tok);
	free(s->users);
	free(s->logins);
	free(s->states);
	free(s->thr);
	free(s);
}

void sessions_advance_clock(struct sessions *s, int64_t seconds)
{
	pthread_mutex_lock(&s->mu);
	s->offset_ms += seconds * 1000;
	pthread_mutex_unlock(&s->mu);
}

static int create(struct sessions *s, const char *user,
		  const unsigned char verifier_key[SCRAM_KEY_LEN], unsigned peer,
		  unsigned char token[SESSION_TOKEN_LEN], int64_t *expires)
{
	size_t ulen = user ? strnlen(user, USER_MAX + 1) : 0;
	unsigned char t[SESSION_TOKEN_LEN];
	struct session *e;
	int64_t now;
	uint32_t n;
	long u;
	int rc = 0;

	if (ulen == 0 || ulen > USER_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	now = now_ms(s);
	/* Sessions expire in creation order: the expired ones lead the list. */
	while (s->count >= s->lim.max_sessions && s->oldest != NIL &&
	       s->ses[s->oldest].expires_ms <= now)
		ses_remove(s, s->oldest);
	u = user_find(s, user);
	if (u >= 0 && s->users[u].count >= s->lim.max_per_user)
		ses_remove(s, s->users[u].head);
	if (s->count >= s->lim.max_sessions)
		ses_remove(s, s->oldest);
	do {
		if (RAND_bytes(t, sizeof(t)) != 1) {
			rc = -EIO;
			goto out;
		}
	} while (tok_find(s, t) >= 0);

	n = s->free_head;
	e = &s->ses[n];
	s->free_head = e->unext;
	memset(e, 0, sizeof(*e));
	e->used = true;
	memcpy(e->token, t, sizeof(t));
	if (verifier_key)
		memcpy(e->vkey, verifier_key, SCRAM_KEY_LEN);
	memcpy(e->user, user, ulen + 1);
	e->peer = peer;
	e->expires_ms = now + (int64_t)s->lim.ttl_s * 1000;
	e->aprev = s->newest;
	e->anext = NIL;
	if (s->newest != NIL)
		s->ses[s->newest].anext = n;
	else
		s->oldest = n;
	s->newest = n;

	u = user_find(s, user);
	if (u < 0) {
		size_t i = user_home(s, user);

		while (s->users[i].count != 0)
			i = (i + 1) & s->users_mask;
		s->users[i].head = n;
		s->users[i].tail = NIL;
		u = (long)i;
	}
	e->uprev = s->users[u].tail;
	e->unext = NIL;
	if (e->uprev != NIL)
		s->ses[e->uprev].unext = n;
	else
		s->users[u].head = n;
	s->users[u].tail = n;
	s->users[u].count++;

	{
		size_t i = tok_home(s, t);

		while (s->tok[i] != NIL)
			i = (i + 1) & s->tok_mask;
		s->tok[i] = n;
	}
	s->count++;
	memcpy(token, t, sizeof(t));
	if (expires)
		*expires = unix_now_s(s) + s->lim.ttl_s;
out:
	pthread_mutex_unlock(&s->mu);
	OPENSSL_cleanse(t, sizeof(t));
	return rc;
}

int sessions_create_key(struct sessions *s, const char *user,
			const unsigned char verifier_key[SCRAM_KEY_LEN],
			unsigned char token[SESSION_TOKEN_LEN], int64_t *expires)
{
	return create(s, user, verifier_key, 0, token, expires);
}

int sessions_create_peer(struct sessions *s, const char *user, unsigned peer,
			 unsigned char token[SESSION_TOKEN_LEN], int64_t *expires)
{
	return peer ? create(s, user, NULL, peer, token, expires) : -EINVAL;
}

int sessions_create(struct sessions *s, const char *user, unsigned char token[SESSION_TOKEN_LEN],
		    int64_t *expires)
{
	return sessions_create_key(s, user, NULL, token, expires);
}

int sessions_lookup_peer(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN],
			 char *user, size_t cap, unsigned char verifier_key[SCRAM_KEY_LEN],
			 unsigned *peer)
{
	const struct session *e;
	long i;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	i = tok_find(s, token);
	if (i < 0) {
		rc = -EACCES;
		goto out;
	}
	e = &s->ses[s->tok[i]];
	if (e->expires_ms <= now_ms(s)) {
		/* Kept until its slot is needed (sessions_create drops expired
		 * sessions then), so every connection sharing the token gets the
		 * same answer: expired, not unknown. */
		rc = -EKEYEXPIRED;
		goto out;
	}
	if (user && cap) {
		size_t len = strlen(e->user);

		if (len >= cap) {
			rc = -ENOSPC;
			goto out;
		}
		memcpy(user, e->user, len + 1);
	}
	if (verifier_key)
		memcpy(verifier_key, e->vkey, SCRAM_KEY_LEN);
	if (peer)
		*peer = e->peer;
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int sessions_lookup(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN], char *user,
		    size_t cap, unsigned char verifier_key[SCRAM_KEY_LEN])
{
	return sessions_lookup_peer(s, token, user, cap, verifier_key, NULL);
}

int sessions_check(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN], char *user,
		   size_t cap)
{
	return sessions_lookup(s, token, user, cap, NULL);
}

int sessions_rekey(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN],
		   const unsigned char verifier_key[SCRAM_KEY_LEN])
{
	long i;
	int rc = -EACCES;

	pthread_mutex_lock(&s->mu);
	i = tok_find(s, token);
	if (i >= 0) {
		memcpy(s->ses[s->tok[i]].vkey, verifier_key, SCRAM_KEY_LEN);
		rc = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void sessions_end(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN])
{
	long i;

	pthread_mutex_lock(&s->mu);
	i = tok_find(s, token);
	if (i >= 0)
		ses_remove(s, s->tok[i]);
	pthread_mutex_unlock(&s->mu);
}

/* Ends the user's sessions, all of them or (with keep) those whose
 * verifier key differs from keep. */
static unsigned end_user_sessions(struct sessions *s, const char *user, const unsigned char *keep)
{
	unsigned ended = 0;
	long u;
	uint32_t n;

	if (!user)
		return 0;
	pthread_mutex_lock(&s->mu);
	u = user_find(s, user);
	/* Sessions stay in place when others are removed (only the indexes
	 * move), so the list can be followed while removing from it. */
	for (n = u >= 0 ? s->users[u].head : NIL; n != NIL;) {
		uint32_t next = s->ses[n].unext;

		/* A server's session for the user proved no password: a new one keeps it. */
		if (!keep ||
		    (!s->ses[n].peer && CRYPTO_memcmp(s->ses[n].vkey, keep, SCRAM_KEY_LEN) != 0)) {
			ses_remove(s, n);
			ended++;
		}
		n = next;
	}
	pthread_mutex_unlock(&s->mu);
	return ended;
}

void sessions_end_user(struct sessions *s, const char *user)
{
	end_user_sessions(s, user, NULL);
}

unsigned sessions_end_stale(struct sessions *s, const char *user,
			    const unsigned char verifier_key[SCRAM_KEY_LEN])
{
	return verifier_key ? end_user_sessions(s, user, verifier_key) : 0;
}

unsigned sessions_count_user(struct sessions *s, const char *user)
{
	unsigned live = 0;
	int64_t now;
	long u;

	if (!user)
		return 0;
	pthread_mutex_lock(&s->mu);
	now = now_ms(s);
	u = user_find(s, user);
	for (uint32_t n = u >= 0 ? s->users[u].head : NIL; n != NIL; n = s->ses[n].unext)
		live += s->ses[n].expires_ms > now;
	pthread_mutex_unlock(&s->mu);
	return live;
}

unsigned sessions_count(struct sessions *s)
{
	unsigned expired = 0, live;
	int64_t now;

	pthread_mutex_lock(&s->mu);
	now = now_ms(s);
	/* Sessions expire in creation order: the expired ones are the oldest. */
	for (uint32_t n = s->oldest; n != NIL && s->ses[n].expires_ms <= now; n = s->ses[n].anext)
		expired++;
	live = s->count - expired;
	pthread_mutex_unlock(&s->mu);
	return live;
}

/* ---- the throttle ---- */

static size_t thr_home(const struct sessions *s, enum thr_kind kind, const unsigned char *addr,
		       size_t alen, const char *user, size_t ulen)
{
	unsigned char buf[1 + 1 + 16 + USER_MAX];
	size_t n = 0;

	buf[n++] = (unsigned char)kind;
	buf[n++] = (unsigned char)alen;
	memcpy(buf + n, addr, alen);
	n += alen;
	if (ulen) {
		memcpy(buf + n, user, ulen);
		n += ulen;
	}
	return (size_t)hash_bytes(s->hash_key, buf, n) & (THR_SLOTS - 1);
}

static size_t thr_home_of(const struct sessions *s, const struct throttle *t)
{
	return thr_home(s, (enum thr_kind)t->kind, t->addr, t->addr_len, t->user, t->user_len);
}

static void thr_remove_at(struct sessions *s, size_t i)
{
	size_t j = i;

	memset(&s->thr[i], 0, sizeof(s->thr[i]));
	s->thr_count--;
	for (;;) {
		j = (j + 1) & (THR_SLOTS - 1);
		if (s->thr[j].kind == THR_EMPTY)
			return;
		if (!may_fill(i, j, thr_home_of(s, &s->thr[j])))
			continue;
		s->thr[i] = s->thr[j];
		memset(&s->thr[j], 0, sizeof(s->thr[j]));
		i = j;
	}
}

/* Makes room for n new counters: forgets the least recently used ones,
 * preferring those with no attempt in flight. Moves entries: pointers
 * into the table are stale afterwards. */
static void thr_make_room(struct sessions *s, size_t n)
{
	while (s->thr_count + n > THR_MAX) {
		size_t victim = THR_SLOTS;

		for (size_t i = 0; i < THR_SLOTS; i++) {
			const struct throttle *t = &s->thr[i];

			if (t->kind == THR_EMPTY)
				continue;
			if (victim == THR_SLOTS ||
			    (t->inflight == 0) > (s->thr[victim].inflight == 0) ||
			    ((t->inflight == 0) == (s->thr[victim].inflight == 0) &&
			     t->last_ms < s->thr[victim].last_ms))
				victim = i;
		}
		if (victim == THR_SLOTS)
			return;
		thr_remove_at(s, victim);
	}
}

/* The counter for a key; with create, a new one if absent (call
 * thr_make_room first). NULL if absent. */
static struct throttle *thr_get(struct sessions *s, enum thr_kind kind, const unsigned char *addr,
				size_t alen, const char *user, bool create, int64_t now)
{
	size_t ulen = kind == THR_USER_ADDR && user ? strnlen(user, USER_MAX) : 0;
	size_t i = thr_home(s, kind, addr, alen, user, ulen);
	struct throttle *t;

	for (;; i = (i + 1) & (THR_SLOTS - 1)) {
		t = &s->thr[i];
		if (t->kind == THR_EMPTY)
			break;
		if (t->kind == kind && t->addr_len == alen && t->user_len == ulen &&
		    memcmp(t->addr, addr, alen) == 0 &&
		    (!ulen || memcmp(t->user, user, ulen) == 0)) {
			/* An idle counter is forgotten after a while. */
			if (t->inflight == 0 && t->until_ms <= now &&
			    now - t->last_ms >= THR_FORGET_MS) {
				t->failures = 0;
				t->until_ms = 0;
			}
			return t;
		}
	}
	if (!create || s->thr_count >= THR_MAX)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->kind = (uint8_t)kind;
	t->addr_len = (uint8_t)alen;
	memcpy(t->addr, addr, alen);
	t->user_len = (uint8_t)ulen;
	if (ulen)
		memcpy(t->user, user, ulen);
	t->last_ms = now;
	s->thr_count++;
	return t;
}

/* Milliseconds before t admits an attempt (0: now). */
static int64_t thr_wait(const struct throttle *t, unsigned burst, int64_t now)
{
	if (!t)
		return 0;
	if (t->until_ms > now)
		return t->until_ms - now;
	if (t->inflight > 0 && t->failures + t->inflight >= burst)
		return 1000;
	return 0;
}

static void thr_finish(struct throttle *t, unsigned free_failures, bool per_addr, bool success,
		       int64_t now)
{
	if (!t)
		return;
	if (t->inflight)
		t->inflight--;
	t->last_ms = now;
	if (success) {
		/* A success from an address vouches for its user there, not for
		 * every attempt from the address. */
		t->failures = per_addr ? t->failures / 2 : 0;
		if (t->failures < free_failures)
			t->until_ms = 0;
		return;
	}
	if (t->failures < 1000)
		t->failures++;
	if (t->failures >= free_failures) {
		unsigned shift = t->failures - free_failures;
		int64_t delay = shift >= 9 ? THR_MAX_DELAY_S : (int64_t)1 << shift;

		if (delay > THR_MAX_DELAY_S)
			delay = THR_MAX_DELAY_S;
		if (now + delay * 1000 > t->until_ms)
			t->until_ms = now + delay * 1000;
	}
}

/* Ends an attempt of user from the address group addr (alen bytes). */
static void attempt_done(struct sessions *s, const char *user, const unsigned char *addr,
			 size_t alen, bool success, int64_t now)
{
	struct throttle *tu, *ta = NULL;

	thr_make_room(s, 2);
	tu = thr_get(s, THR_USER_ADDR, addr, alen, user, !success, now);
	if (alen)
		ta = thr_get(s, THR_ADDR, addr, alen, NULL, !success, now);
	thr_finish(tu, THR_USER_FREE, false, success, now);
	thr_finish(ta, THR_ADDR_FREE, true, success, now);
}

/* ---- pending logins ---- */

/* Drops a pending login that will never finish: its attempt failed. */
static void login_drop(struct sessions *s, size_t i, int64_t now)
{
	struct login *l = &s->logins[i];

	attempt_done(s, l->user, l->addr, l->addr_len, false, now);
	OPENSSL_cleanse(l, sizeof(*l));
	OPENSSL_cleanse(&s->states[i], sizeof(s->states[i]));
}

static bool login_id_taken(const struct sessions *s, uint64_t id)
{
	for (size_t i = 0; i < s->lim.max_logins; i++)
		if (s->logins[i].used && s->logins[i].id == id)
			return true;
	return false;
}

/* The entry with the smaller start number of two (either may be -1). */
static long older(const struct sessions *s, long a, long b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return s->logins[b].seq < s->logins[a].seq ? b : a;
}

int sessions_login_begin(struct sessions *s, const struct scram_server *st,
			 const struct login_origin *o, uint64_t *id, unsigned *retry_s)
{
	unsigned char addr[16];
	size_t alen = sessions_addr_group(o ? o->addr : NULL, addr);
	uint64_t conn = o ? o->conn : 0, nid = 0;
	long free_slot = -1, oldest = -1, oldest_conn = -1, oldest_addr = -1, slot;
	unsigned n_conn = 0, n_addr = 0;
	struct throttle *tu, *ta = NULL;
	int64_t now, wait;
	size_t ulen = strnlen(st->user, USER_MAX + 1);
	int rc = 0;

	if (retry_s)
		*retry_s = 0;
	if (ulen == 0 || ulen > USER_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	now = now_ms(s);
	for (size_t i = 0; i < s->lim.max_logins; i++) {
		struct login *l = &s->logins[i];

		if (l->used && l->expires_ms <= now)
			login_drop(s, i, now);
		if (!l->used) {
			if (free_slot < 0)
				free_slot = (long)i;
			continue;
		}
		oldest = older(s, oldest, (long)i);
		if (l->conn == conn) {
			n_conn++;
			oldest_conn = older(s, oldest_conn, (long)i);
		}
		if (alen && l->addr_len == alen && memcmp(l->addr, addr, alen) == 0) {
			n_addr++;
			oldest_addr = older(s, oldest_addr, (long)i);
		}
	}

	thr_make_room(s, 2);
	tu = thr_get(s, THR_USER_ADDR, addr, alen, st->user, true, now);
	if (alen)
		ta = thr_get(s, THR_ADDR, addr, alen, NULL, true, now);
	wait = thr_wait(tu, THR_USER_BURST, now);
	if (thr_wait(ta, THR_ADDR_BURST, now) > wait)
		wait = thr_wait(ta, THR_ADDR_BURST, now);
	if (wait > 0) {
		if (retry_s)
			*retry_s = (unsigned)((wait + 999) / 1000);
		rc = -EAGAIN;
		goto out;
	}
	do {
		if (RAND_bytes((unsigned char *)&nid, sizeof(nid)) != 1) {
			rc = -EIO;
			goto out;
		}
	} while (nid == 0 || login_id_taken(s, nid));
	if (tu) {
		tu->inflight++;
		tu->last_ms = now;
	}
	if (ta) {
		ta->inflight++;
		ta->last_ms = now;
	}

	/* Room by eviction, never by refusal: a connection's or an address's
	 * oldest login makes way first, so a flood evicts its own. */
	if (n_conn >= s->lim.max_logins_per_conn)
		slot = oldest_conn;
	else if (alen && n_addr >= s->lim.max_logins_per_addr)
		slot = oldest_addr;
	else
		slot = free_slot >= 0 ? free_slot : oldest;
	if (s->logins[slot].used)
		login_drop(s, (size_t)slot, now);

	s->logins[slot].used = true;
	s->logins[slot].id = nid;
	s->logins[slot].conn = conn;
	s->logins[slot].seq = ++s->login_seq;
	s->logins[slot].expires_ms = now + LOGIN_TTL_MS;
	memcpy(s->logins[slot].addr, addr, alen);
	s->logins[slot].addr_len = (uint8_t)alen;
	memcpy(s->logins[slot].user, st->user, ulen + 1);
	s->states[slot] = *st;
	*id = nid;
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int sessions_login_take(struct sessions *s, uint64_t id, uint64_t conn, struct scram_server *out)
{
	int rc = -ENOENT;
	int64_t now;

	pthread_mutex_lock(&s->mu);
	now = now_ms(s);
	for (size_t i = 0; i < s->lim.max_logins; i++) {
		struct login *l = &s->logins[i];

		if (!l->used || l->id != id)
			continue;
		/* Another connection cannot finish it (nor spoil it). */
		if (l->conn != conn)
			break;
		if (l->expires_ms <= now) {
			login_drop(s, i, now);
			break;
		}
		*out = s->states[i];
		rc = 0;
		/* One use only, so a client-final cannot be replayed against it;
		 * the attempt stays in flight until sessions_login_done. */
		OPENSSL_cleanse(l, sizeof(*l));
		OPENSSL_cleanse(&s->states[i], sizeof(s->states[i]));
		break;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void sessions_login_done(struct sessions *s, const char *user, const struct sockaddr *addr,
			 bool success)
{
	unsigned char key[16];
	size_t alen = sessions_addr_group(addr, key);
	size_t ulen = user ? strnlen(user, USER_MAX + 1) : 0;

	if (ulen == 0 || ulen > USER_MAX)
		return;
	pthread_mutex_lock(&s->mu);
	attempt_done(s, user, key, alen, success, now_ms(s));
	pthread_mutex_unlock(&s->mu);
}

/* session.c: pending logins, session tokens and the failed-login throttle, under one mutex. */
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

#define USER_MAX	       64
#define LOGIN_TTL_MS	       30000
#define THROTTLE_FREE_FAILURES 5
#define THROTTLE_MAX_DELAY_S   300
#define THROTTLE_SLOTS	       4096

struct session {
	bool used;
	unsigned char token[SESSION_TOKEN_LEN];
	char user[USER_MAX + 1];
	int64_t expires_ms; /* monotonic */
};

struct login {
	bool used;
	uint64_t id;
	int64_t expires_ms;
	struct scram_server st;
};

/* One throttled key: a user name or a client address. */
struct throttle {
	bool used;
	bool is_addr;
	unsigned char key[USER_MAX + 1];
	size_t keylen;
	unsigned failures;
	int64_t until_ms;
	int64_t last_ms;
};

struct sessions {
	pthread_mutex_t mu;
	unsigned ttl_s;
	unsigned max_sessions;
	unsigned max_logins;
	/* Open addressing with linear probing and backward-shift deletion;
	 * at most half full, so probes stay short and always end. */
	struct session *tab;
	size_t mask;
	size_t count;
	uint64_t hash_key;
	struct login *logins;
	struct throttle *thr;
	int64_t offset_ms;
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

/* Tokens are random, but a keyed mix keeps slot positions unpredictable. */
static size_t slot_of(const struct sessions *s, const unsigned char *token)
{
	uint64_t x = 0;

	memcpy(&x, token, sizeof(x));
	x ^= s->hash_key;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (size_t)x & s->mask;
}

static long find_token(const struct sessions *s, const unsigned char *token)
{
	for (size_t i = slot_of(s, token);; i = (i + 1) & s->mask) {
		if (!s->tab[i].used)
			return -1;
		if (CRYPTO_memcmp(s->tab[i].token, token, SESSION_TOKEN_LEN) == 0)
			return (long)i;
	}
}

static void remove_at(struct sessions *s, size_t i)
{
	size_t j = i;

	OPENSSL_cleanse(&s->tab[i], sizeof(s->tab[i]));
	s->count--;
	/* Pull later members of the probe run back over the hole, unless their
	 * home slot lies cyclically in (hole, j]. */
	for (;;) {
		size_t home;

		j = (j + 1) & s->mask;
		if (!s->tab[j].used)
			return;
		home = slot_of(s, s->tab[j].token);
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		s->tab[i] = s->tab[j];
		OPENSSL_cleanse(&s->tab[j], sizeof(s->tab[j]));
		i = j;
	}
}

/* Removes every session for which drop() holds. */
static void remove_where(struct sessions *s, bool (*drop)(const struct session *, const void *),
			 const void *arg)
{
	for (size_t i = 0; i <= s->mask; i++)
		/* The entry shifted into i after a removal is looked at too. */
		while (s->tab[i].used && drop(&s->tab[i], arg))
			remove_at(s, i);
}

static bool is_expired(const struct session *e, const void *now)
{
	return e->expires_ms <= *(const int64_t *)now;
}

static bool is_user(const struct session *e, const void *user)
{
	return strcmp(e->user, user) == 0;
}

int sessions_new(struct sessions **out, unsigned ttl_s, unsigned max_sessions, unsigned max_logins)
{
	struct sessions *s = NULL;
	size_t cap = 16;
	int rc = 0;

	*out = NULL;
	if (ttl_s == 0 || ttl_s > 365u * 86400 || max_sessions == 0 || max_logins == 0 ||
	    max_sessions > (1u << 24) || max_logins > (1u << 20))
		return -EINVAL;
	while (cap < 2 * (size_t)max_sessions)
		cap *= 2;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->tab = calloc(cap, sizeof(*s->tab));
	s->logins = calloc(max_logins, sizeof(*s->logins));
	s->thr = calloc(THROTTLE_SLOTS, sizeof(*s->thr));
	if (!s->tab || !s->logins || !s->thr) {
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
	s->mask = cap - 1;
	s->ttl_s = ttl_s;
	s->max_sessions = max_sessions;
	s->max_logins = max_logins;
	*out = s;
	s = NULL;
out:
	if (s) {
		free(s->tab);
		free(s->logins);
		free(s->thr);
		free(s);
	}
	return rc;
}

void sessions_free(struct sessions *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->mu);
	OPENSSL_cleanse(s->tab, (s->mask + 1) * sizeof(*s->tab));
	OPENSSL_cleanse(s->logins, s->max_logins * sizeof(*s->logins));
	free(s->tab);
	free(s->logins);
	free(s->thr);
	free(s);
}

void sessions_advance_clock(struct sessions *s, int64_t seconds)
{
	pthread_mutex_lock(&s->mu);
	s->offset_ms += seconds * 1000;
	pthread_mutex_unlock(&s->mu);
}

static long free_login_slot(const struct sessions *s)
{
	for (size_t i = 0; i < s->max_logins; i++)
		if (!s->logins[i].used)
			return (long)i;
	return -1;
}

static bool login_id_taken(const struct sessions *s, uint64_t id)
{
	for (size_t i = 0; i < s->max_logins; i++)
		if (s->logins[i].used && s->logins[i].id == id)
			return true;
	return false;
}

int sessions_login_store(struct sessions *s, const struct scram_server *st, uint64_t *id)
{
	int64_t now;
	long slot;
	uint64_t nid = 0;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	now = now_ms(s);
	slot = free_login_slot(s);
	if (slot < 0) {
		for (size_t i = 0; i < s->max_logins; i++)
			if (s->logins[i].expires_ms <= now)
				OPENSSL_cleanse(&s->logins[i], sizeof(s->logins[i]));
		slot = free_login_slot(s);
	}
	if (slot < 0) {
		rc = -EAGAIN;
		goto out;
	}
	do {
		if (RAND_bytes((unsigned char *)&nid, sizeof(nid)) != 1) {
			rc = -EIO;
			goto out;
		}
	} while (nid == 0 || login_id_taken(s, nid));
	s->logins[slot].used = true;
	s->logins[slot].id = nid;
	s->logins[slot].expires_ms = now + LOGIN_TTL_MS;
	s->logins[slot].st = *st;
	*id = nid;
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int sessions_login_take(struct sessions *s, uint64_t id, struct scram_server *out)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->max_logins; i++) {
		struct login *l = &s->logins[i];

		if (!l->used || l->id != id)
			continue;
		if (l->expires_ms > now_ms(s)) {
			*out = l->st;
			rc = 0;
		}
		/* One use only, so a client-final cannot be replayed against it. */
		OPENSSL_cleanse(l, sizeof(*l));
		break;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int sessions_create(struct sessions *s, const char *user, unsigned char token[SESSION_TOKEN_LEN],
		    int64_t *expires)
{
	size_t ulen = user ? strnlen(user, USER_MAX + 1) : 0;
	unsigned char t[SESSION_TOKEN_LEN];
	int64_t now;
	size_t i;
	int rc = 0;

	if (ulen == 0 || ulen > USER_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	now = now_ms(s);
	if (s->count >= s->max_sessions)
		remove_where(s, is_expired, &now);
	if (s->count >= s->max_sessions) {
		rc = -EAGAIN;
		goto out;
	}
	do {
		if (RAND_bytes(t, sizeof(t)) != 1) {
			rc = -EIO;
			goto out;
		}
	} while (find_token(s, t) >= 0);
	for (i = slot_of(s, t); s->tab[i].used; i = (i + 1) & s->mask)
		;
	s->tab[i].used = true;
	memcpy(s->tab[i].token, t, sizeof(t));
	memcpy(s->tab[i].user, user, ulen + 1);
	s->tab[i].expires_ms = now + (int64_t)s->ttl_s * 1000;
	s->count++;
	memcpy(token, t, sizeof(t));
	if (expires)
		*expires = unix_now_s(s) + s->ttl_s;
out:
	pthread_mutex_unlock(&s->mu);
	OPENSSL_cleanse(t, sizeof(t));
	return rc;
}

int sessions_check(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN], char *user,
		   size_t cap)
{
	long i;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	i = find_token(s, token);
	if (i < 0) {
		rc = -EACCES;
	} else if (s->tab[i].expires_ms <= now_ms(s)) {
		/* Kept until its slot is needed (sessions_create drops expired
		 * sessions then), so every connection sharing the token gets the
		 * same answer: expired, not unknown. */
		rc = -EKEYEXPIRED;
	} else if (user && cap) {
		size_t len = strlen(s->tab[i].user);

		if (len >= cap)
			rc = -ENOSPC;
		else
			memcpy(user, s->tab[i].user, len + 1);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void sessions_end(struct sessions *s, const unsigned char token[SESSION_TOKEN_LEN])
{
	long i;

	pthread_mutex_lock(&s->mu);
	i = find_token(s, token);
	if (i >= 0)
		remove_at(s, (size_t)i);
	pthread_mutex_unlock(&s->mu);
}

void sessions_end_user(struct sessions *s, const char *user)
{
	if (!user)
		return;
	pthread_mutex_lock(&s->mu);
	remove_where(s, is_user, user);
	pthread_mutex_unlock(&s->mu);
}

/* The address part of addr (no port); IPv4-mapped IPv6 counts as IPv4.
 * Returns its length, or 0 for other families. */
static size_t addr_key(const struct sockaddr *addr, unsigned char *key)
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
		memcpy(key, in6->sin6_addr.s6_addr, 16);
		return 16;
	}
	return 0;
}

/* The entry for a key; with create, a new one (evicting the least recently
 * failed entry other than keep when the table is full). NULL if absent. */
static struct throttle *thr_find(struct sessions *s, bool is_addr, const unsigned char *key,
				 size_t len, bool create, const struct throttle *keep)
{
	struct throttle *free_slot = NULL, *oldest = NULL;

	for (size_t i = 0; i < THROTTLE_SLOTS; i++) {
		struct throttle *t = &s->thr[i];

		if (!t->used) {
			if (!free_slot)
				free_slot = t;
			continue;
		}
		if (t->is_addr == is_addr && t->keylen == len && memcmp(t->key, key, len) == 0)
			return t;
		if (t != keep && (!oldest || t->last_ms < oldest->last_ms))
			oldest = t;
	}
	if (!create)
		return NULL;
	if (!free_slot)
		free_slot = oldest;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->is_addr = is_addr;
	memcpy(free_slot->key, key, len);
	free_slot->keylen = len;
	return free_slot;
}

/* The user's and the address's entries (either may be left NULL). */
static void thr_pair(struct sessions *s, const char *user, const struct sockaddr *addr, bool create,
		     struct throttle **tu, struct throttle **ta)
{
	unsigned char key[16];
	size_t ulen = user ? strnlen(user, USER_MAX + 1) : 0;
	size_t alen = addr_key(addr, key);

	*tu = NULL;
	*ta = NULL;
	if (ulen > 0 && ulen <= USER_MAX)
		*tu = thr_find(s, false, (const unsigned char *)user, ulen, create, NULL);
	if (alen)
		*ta = thr_find(s, true, key, alen, create, *tu);
}

int sessions_throttle_check(struct sessions *s, const char *user, const struct sockaddr *addr,
			    unsigned *retry_s)
{
	struct throttle *t[2];
	int64_t now, wait_ms = 0;

	pthread_mutex_lock(&s->mu);
	now = now_ms(s);
	thr_pair(s, user, addr, false, &t[0], &t[1]);
	for (int k = 0; k < 2; k++)
		if (t[k] && t[k]->until_ms - now > wait_ms)
			wait_ms = t[k]->until_ms - now;
	pthread_mutex_unlock(&s->mu);
	if (retry_s)
		*retry_s = (unsigned)((wait_ms + 999) / 1000);
	return wait_ms > 0 ? -EAGAIN : 0;
}

void sessions_throttle_record(struct sessions *s, const char *user, const struct sockaddr *addr,
			      int success)
{
	struct throttle *t[2];
	int64_t now;

	pthread_mutex_lock(&s->mu);
	now = now_ms(s);
	thr_pair(s, user, addr, !success, &t[0], &t[1]);
	for (int k = 0; k < 2; k++) {
		if (!t[k])
			continue;
		if (success) {
			memset(t[k], 0, sizeof(*t[k]));
			continue;
		}
		if (t[k]->failures < 64)
			t[k]->failures++;
		t[k]->last_ms = now;
		if (t[k]->failures >= THROTTLE_FREE_FAILURES) {
			unsigned shift = t[k]->failures - THROTTLE_FREE_FAILURES;
			int64_t delay = shift >= 9 ? THROTTLE_MAX_DELAY_S : (int64_t)1 << shift;

			if (delay > THROTTLE_MAX_DELAY_S)
				delay = THROTTLE_MAX_DELAY_S;
			t[k]->until_ms = now + delay * 1000;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

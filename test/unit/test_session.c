/* test_session.c: session tokens, pending logins and the failed-login throttle. */
#include "check.h"
#include "session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

static void test_args(void)
{
	struct sessions *s = (struct sessions *)&s;

	CHECK_EQ(sessions_new(&s, 0, 10, 10), -EINVAL);
	CHECK(s == NULL);
	CHECK_EQ(sessions_new(&s, 10, 0, 10), -EINVAL);
	CHECK_EQ(sessions_new(&s, 10, 10, 0), -EINVAL);
	sessions_free(NULL);
}

static void test_tokens(void)
{
	struct sessions *s = NULL;
	unsigned char t1[SESSION_TOKEN_LEN], t2[SESSION_TOKEN_LEN], t3[SESSION_TOKEN_LEN];
	unsigned char unknown[SESSION_TOKEN_LEN] = {0};
	char user[65], tiny[3];
	int64_t exp1 = 0, exp2 = 0;
	time_t now = time(NULL);

	CHECK_EQ(sessions_new(&s, 1, 8, 8), 0);
	if (!s)
		return;
	CHECK_EQ(sessions_create(s, "AnujS", t1, &exp1), 0);
	CHECK(exp1 >= now + 1 && exp1 <= now + 2);
	CHECK_EQ(sessions_create(s, "AnujK", t2, &exp2), 0);
	CHECK(memcmp(t1, t2, SESSION_TOKEN_LEN) != 0);
	CHECK_EQ(sessions_check(s, t1, user, sizeof(user)), 0);
	CHECK_STR(user, "AnujS");
	CHECK_EQ(sessions_check(s, t2, user, sizeof(user)), 0);
	CHECK_STR(user, "AnujK");
	CHECK_EQ(sessions_check(s, t1, tiny, sizeof(tiny)), -ENOSPC);
	CHECK_EQ(sessions_check(s, unknown, user, sizeof(user)), -EACCES);
	memcpy(t3, t1, sizeof(t3));
	t3[SESSION_TOKEN_LEN - 1] ^= 1;
	CHECK_EQ(sessions_check(s, t3, user, sizeof(user)), -EACCES);
	CHECK_EQ(sessions_create(s, "", t3, NULL), -EINVAL);
	CHECK_EQ(sessions_create(s, NULL, t3, NULL), -EINVAL);

	/* End one: the other lives on. */
	sessions_end(s, t2);
	CHECK_EQ(sessions_check(s, t2, user, sizeof(user)), -EACCES);
	CHECK_EQ(sessions_check(s, t1, user, sizeof(user)), 0);
	sessions_end(s, t2);

	/* Expiry after ttl (1 s): reported as such on every use. */
	sessions_advance_clock(s, 1);
	CHECK_EQ(sessions_check(s, t1, user, sizeof(user)), -EKEYEXPIRED);
	CHECK_EQ(sessions_check(s, t1, user, sizeof(user)), -EKEYEXPIRED);

	/* The reported expiry follows the (advanced) clock. */
	CHECK_EQ(sessions_create(s, "AnujS", t1, &exp1), 0);
	CHECK(exp1 >= now + 2 && exp1 <= now + 3);
	sessions_free(s);
}

static void test_end_user_and_bound(void)
{
	struct sessions *s = NULL;
	unsigned char t[4][SESSION_TOKEN_LEN], extra[SESSION_TOKEN_LEN];
	const char *who[4] = {"alice", "bob", "alice", "carol"};
	char user[65];

	CHECK_EQ(sessions_new(&s, 60, 4, 4), 0);
	if (!s)
		return;
	for (int i = 0; i < 4; i++)
		CHECK_EQ(sessions_create(s, who[i], t[i], NULL), 0);
	sessions_end_user(s, "alice");
	CHECK_EQ(sessions_check(s, t[0], user, sizeof(user)), -EACCES);
	CHECK_EQ(sessions_check(s, t[2], user, sizeof(user)), -EACCES);
	CHECK_EQ(sessions_check(s, t[1], user, sizeof(user)), 0);
	CHECK_STR(user, "bob");
	CHECK_EQ(sessions_check(s, t[3], user, sizeof(user)), 0);
	CHECK_STR(user, "carol");
	CHECK_EQ(sessions_create(s, "dave", extra, NULL), 0);
	CHECK_EQ(sessions_create(s, "erin", t[0], NULL), 0);
	/* Full: the oldest session of all (bob's) makes room, no refusal. */
	CHECK_EQ(sessions_create(s, "fred", t[2], NULL), 0);
	CHECK_EQ(sessions_check(s, t[1], user, sizeof(user)), -EACCES);
	CHECK_EQ(sessions_check(s, t[3], user, sizeof(user)), 0);
	CHECK_EQ(sessions_check(s, t[2], user, sizeof(user)), 0);
	CHECK_STR(user, "fred");

	/* Expired sessions make room before live ones are ended. */
	sessions_advance_clock(s, 60);
	CHECK_EQ(sessions_check(s, t[3], user, sizeof(user)), -EKEYEXPIRED);
	CHECK_EQ(sessions_create(s, "gina", t[1], NULL), 0);
	CHECK_EQ(sessions_check(s, t[1], user, sizeof(user)), 0);
	CHECK_STR(user, "gina");
	CHECK_EQ(sessions_check(s, t[3], user, sizeof(user)), -EACCES);
	CHECK_EQ(sessions_check(s, t[2], user, sizeof(user)), -EKEYEXPIRED);
	sessions_free(s);
}

/* One user cannot hold more than max_per_user sessions: each new one ends
 * their oldest, and other users' sessions are untouched. */
static void test_per_user_cap(void)
{
	struct sessions_limits lim = {.ttl_s = 600,
				      .max_sessions = 100,
				      .max_per_user = 3,
				      .max_logins = 8,
				      .max_logins_per_addr = 4,
				      .max_logins_per_conn = 2};
	struct sessions *s = NULL;
	unsigned char t[10][SESSION_TOKEN_LEN], other[SESSION_TOKEN_LEN];
	char user[65];

	CHECK_EQ(sessions_new_limits(&s, &lim), 0);
	if (!s)
		return;
	CHECK_EQ(sessions_create(s, "bob", other, NULL), 0);
	for (int i = 0; i < 10; i++) {
		CHECK_EQ(sessions_create(s, "mallory", t[i], NULL), 0);
		CHECK(sessions_count_user(s, "mallory") <= 3);
	}
	CHECK_EQ(sessions_count_user(s, "mallory"), 3);
	for (int i = 0; i < 7; i++)
		CHECK_EQ(sessions_check(s, t[i], user, sizeof(user)), -EACCES);
	for (int i = 7; i < 10; i++)
		CHECK_EQ(sessions_check(s, t[i], user, sizeof(user)), 0);
	CHECK_EQ(sessions_check(s, other, user, sizeof(user)), 0);
	CHECK_STR(user, "bob");
	/* Ending one in the middle keeps the order of the rest. */
	sessions_end(s, t[8]);
	CHECK_EQ(sessions_create(s, "mallory", t[0], NULL), 0);
	CHECK_EQ(sessions_check(s, t[7], user, sizeof(user)), 0);
	CHECK_EQ(sessions_create(s, "mallory", t[1], NULL), 0);
	CHECK_EQ(sessions_check(s, t[7], user, sizeof(user)), -EACCES);
	CHECK_EQ(sessions_check(s, t[9], user, sizeof(user)), 0);
	CHECK_EQ(sessions_count_user(s, "mallory"), 3);

	/* Bad limits. */
	sessions_free(s);
	lim.max_per_user = 101;
	CHECK_EQ(sessions_new_limits(&s, &lim), -EINVAL);
	lim.max_per_user = 3;
	lim.max_logins_per_conn = 0;
	CHECK_EQ(sessions_new_limits(&s, &lim), -EINVAL);
}

/* A session remembers the verifier it logged in with; a password change
 * ends the others, not the one that made it, nor sessions of the new one. */
static void test_verifier_keys(void)
{
	struct sessions *s = NULL;
	unsigned char k1[SCRAM_KEY_LEN], k2[SCRAM_KEY_LEN], got[SCRAM_KEY_LEN];
	unsigned char a[SESSION_TOKEN_LEN], b[SESSION_TOKEN_LEN], c[SESSION_TOKEN_LEN];
	unsigned char d[SESSION_TOKEN_LEN];
	char user[65];

	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	CHECK_EQ(sessions_new(&s, 600, 16, 4), 0);
	if (!s)
		return;
	CHECK_EQ(sessions_create_key(s, "alice", k1, a, NULL), 0);
	CHECK_EQ(sessions_create_key(s, "alice", k1, b, NULL), 0);
	CHECK_EQ(sessions_create_key(s, "alice", k1, c, NULL), 0);
	CHECK_EQ(sessions_create_key(s, "bob", k1, d, NULL), 0);
	CHECK_EQ(sessions_lookup(s, a, user, sizeof(user), got), 0);
	CHECK(memcmp(got, k1, sizeof(got)) == 0);
	/* Session b changes the password. */
	CHECK_EQ(sessions_rekey(s, b, k2), 0);
	CHECK_EQ(sessions_end_stale(s, "alice", k2), 2);
	CHECK_EQ(sessions_check(s, a, user, sizeof(user)), -EACCES);
	CHECK_EQ(sessions_check(s, c, user, sizeof(user)), -EACCES);
	CHECK_EQ(sessions_lookup(s, b, user, sizeof(user), got), 0);
	CHECK(memcmp(got, k2, sizeof(got)) == 0);
	CHECK_EQ(sessions_check(s, d, user, sizeof(user)), 0);
	CHECK_EQ(sessions_end_stale(s, "alice", k2), 0);
	CHECK_EQ(sessions_end_stale(s, "nobody", k2), 0);
	CHECK_EQ(sessions_rekey(s, a, k2), -EACCES);
	sessions_free(s);
}

/* A server's session for a user: it says which server opened it, and a password
 * change (which ends the user's other sessions) does not end it. */
static void test_peer_sessions(void)
{
	struct sessions *s = NULL;
	unsigned char k1[SCRAM_KEY_LEN], k2[SCRAM_KEY_LEN];
	unsigned char mine[SESSION_TOKEN_LEN], peer[SESSION_TOKEN_LEN], none[SESSION_TOKEN_LEN];
	unsigned who = 99;
	char user[65];

	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	CHECK_EQ(sessions_new(&s, 600, 16, 4), 0);
	if (!s)
		return;
	CHECK_EQ(sessions_create_key(s, "alice", k1, mine, NULL), 0);
	CHECK_EQ(sessions_create_peer(s, "alice", 3, peer, NULL), 0);
	CHECK_EQ(sessions_create_peer(s, "alice", 0, none, NULL), -EINVAL);
	CHECK_EQ(sessions_lookup_peer(s, peer, user, sizeof(user), NULL, &who), 0);
	CHECK_STR(user, "alice");
	CHECK_EQ(who, 3);
	CHECK_EQ(sessions_lookup_peer(s, mine, user, sizeof(user), NULL, &who), 0);
	CHECK_EQ(who, 0);
	CHECK_EQ(sessions_end_stale(s, "alice", k2), 1);
	CHECK_EQ(sessions_check(s, mine, user, sizeof(user)), -EACCES);
	CHECK_EQ(sessions_check(s, peer, user, sizeof(user)), 0);
	/* A removed user's sessions all end, a server's too. */
	sessions_end_user(s, "alice");
	CHECK_EQ(sessions_check(s, peer, user, sizeof(user)), -EACCES);
	sessions_free(s);
}

/* Many sessions with removals in between: every live token stays findable
 * (exercises probing and backward-shift deletion). */
static void test_table_stress(void)
{
	enum { N = 2000 };
	static unsigned char tok[N][SESSION_TOKEN_LEN];
	static int live[N];
	struct sessions *s = NULL;
	char user[65], want[16];
	int bad = 0;

	CHECK_EQ(sessions_new_limits(&s, &(struct sessions_limits){600, N, N, 4, 4, 4}), 0);
	if (!s)
		return;
	for (int i = 0; i < N; i++) {
		snprintf(want, sizeof(want), "u%d", i % 7);
		CHECK_EQ(sessions_create(s, want, tok[i], NULL), 0);
		live[i] = 1;
	}
	for (int i = 0; i < N; i += 3) {
		sessions_end(s, tok[i]);
		live[i] = 0;
	}
	sessions_end_user(s, "u5");
	for (int i = 0; i < N; i++)
		if (i % 7 == 5)
			live[i] = 0;
	for (int i = 0; i < N; i++) {
		int rc = sessions_check(s, tok[i], user, sizeof(user));

		snprintf(want, sizeof(want), "u%d", i % 7);
		if (live[i] ? (rc != 0 || strcmp(user, want) != 0) : rc != -EACCES)
			bad++;
	}
	CHECK_EQ(bad, 0);
	/* Refill to the bound, then past it: the oldest sessions make way. */
	{
		unsigned char t[SESSION_TOKEN_LEN];
		int freed = 0;

		for (int i = 0; i < N; i++)
			freed += !live[i];
		for (int i = 0; i < freed; i++)
			CHECK_EQ(sessions_create(s, "x", t, NULL), 0);
		bad = 0;
		for (int i = 0; i < N; i++)
			if (live[i] && sessions_check(s, tok[i], user, sizeof(user)) != 0)
				bad++;
		CHECK_EQ(bad, 0);
		CHECK_EQ(sessions_create(s, "x", t, NULL), 0);
		/* tok[1] was the oldest still live. */
		CHECK_EQ(sessions_check(s, tok[1], user, sizeof(user)), -EACCES);
		CHECK_EQ(sessions_check(s, tok[2], user, sizeof(user)), 0);
	}
	sessions_free(s);
}

struct worker {
	struct sessions *s;
	int failures;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	unsigned char t[SESSION_TOKEN_LEN];
	char user[65];

	for (int i = 0; i < 2000; i++) {
		if (sessions_create(w->s, "w", t, NULL) != 0 ||
		    sessions_check(w->s, t, user, sizeof(user)) != 0)
			w->failures++;
		sessions_end(w->s, t);
		if (sessions_check(w->s, t, user, sizeof(user)) != -EACCES)
			w->failures++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct sessions *s = NULL;
	pthread_t th[4];
	struct worker w[4];

	CHECK_EQ(sessions_new(&s, 60, 16, 4), 0);
	if (!s)
		return;
	for (int i = 0; i < 4; i++) {
		w[i].s = s;
		w[i].failures = 0;
		CHECK_EQ(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(w[i].failures, 0);
	}
	sessions_free(s);
}

static void sin4(struct sockaddr_in *a, const char *ip, unsigned short port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	inet_pton(AF_INET, ip, &a->sin_addr);
}

static void sin6(struct sockaddr_in6 *a, const char *ip, unsigned short port)
{
	memset(a, 0, sizeof(*a));
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &a->sin6_addr);
}

#define SA(x) ((const struct sockaddr *)(x))

/* One login attempt: begin, take, done with the given outcome. 0, or the
 * failing step's code. */
static int attempt(struct sessions *s, const char *user, const struct sockaddr *addr, uint64_t conn,
		   bool ok, unsigned *retry)
{
	struct scram_server st, got;
	struct login_origin o = {addr, conn};
	uint64_t id = 0;
	int rc;

	memset(&st, 0, sizeof(st));
	snprintf(st.user, sizeof(st.user), "%s", user);
	rc = sessions_login_begin(s, &st, &o, &id, retry);
	if (rc)
		return rc;
	rc = sessions_login_take(s, id, conn, &got);
	if (rc)
		return rc;
	sessions_login_done(s, user, addr, ok);
	return 0;
}

static int begin(struct sessions *s, const char *user, const struct sockaddr *addr, uint64_t conn,
		 uint64_t *id)
{
	struct scram_server st;
	struct login_origin o = {addr, conn};
	unsigned retry;

	memset(&st, 0, sizeof(st));
	snprintf(st.user, sizeof(st.user), "%s", user);
	return sessions_login_begin(s, &st, &o, id, &retry);
}

static void test_logins(void)
{
	struct sessions *s = NULL;
	struct scram_server a, got;
	struct sockaddr_in ip1, ip2;
	struct login_origin o1 = {SA(&ip1), 1};
	uint64_t ida = 0, idb = 0, ids[8];
	unsigned retry;

	sin4(&ip1, "10.0.0.1", 1000);
	sin4(&ip2, "10.0.0.2", 1000);
	CHECK_EQ(sessions_new(&s, 60, 4, 4), 0);
	if (!s)
		return;
	memset(&a, 0, sizeof(a));
	memcpy(a.user, "alice", 6);
	memcpy(a.nonce, "abc", 4);
	a.verifier.iterations = 4096;
	CHECK_EQ(sessions_login_begin(s, &a, &o1, &ida, &retry), 0);
	CHECK_EQ(begin(s, "bob", SA(&ip1), 1, &idb), 0);
	CHECK(ida != idb);

	CHECK_EQ(sessions_login_take(s, ida ^ 1, 1, &got), -ENOENT);
	/* Only the connection that began it may finish it. */
	CHECK_EQ(sessions_login_take(s, ida, 2, &got), -ENOENT);
	CHECK_EQ(sessions_login_take(s, ida, 1, &got), 0);
	CHECK(memcmp(&got, &a, sizeof(a)) == 0);
	CHECK_EQ(sessions_login_take(s, ida, 1, &got), -ENOENT); /* taken once only */
	sessions_login_done(s, "alice", SA(&ip1), true);

	/* Pending ones expire after 30 s. */
	CHECK_EQ(sessions_login_begin(s, &a, &o1, &ida, &retry), 0);
	sessions_advance_clock(s, 29);
	CHECK_EQ(sessions_login_take(s, ida, 1, &got), 0);
	CHECK_STR(got.user, "alice");
	sessions_login_done(s, "alice", SA(&ip1), true);
	sessions_advance_clock(s, 1);
	CHECK_EQ(sessions_login_take(s, idb, 1, &got), -ENOENT);
	sessions_free(s);

	/* Per connection (4 by default): a fifth evicts the connection's oldest. */
	CHECK_EQ(sessions_new(&s, 60, 4, 64), 0);
	if (!s)
		return;
	for (int i = 0; i < 5; i++)
		CHECK_EQ(begin(s, "carol", SA(&ip1), 7, &ids[i]), 0);
	CHECK_EQ(sessions_login_take(s, ids[0], 7, &got), -ENOENT);
	for (int i = 1; i < 5; i++)
		CHECK_EQ(sessions_login_take(s, ids[i], 7, &got), 0);
	sessions_free(s);

	/* Per address group: a flood from one address evicts its own oldest,
	 * never another address's pending login. */
	{
		struct sessions_limits lim = {.ttl_s = 60,
					      .max_sessions = 4,
					      .max_per_user = 4,
					      .max_logins = 8,
					      .max_logins_per_addr = 4,
					      .max_logins_per_conn = 4};
		uint64_t victim = 0, first = 0, id;
		int ok = 0;

		CHECK_EQ(sessions_new_limits(&s, &lim), 0);
		if (!s)
			return;
		CHECK_EQ(begin(s, "alice", SA(&ip2), 100, &victim), 0);
		CHECK_EQ(begin(s, "u0", SA(&ip1), 1, &first), 0);
		for (int i = 1; i < 2000; i++) {
			char u[16];

			snprintf(u, sizeof(u), "u%d", i);
			ok += begin(s, u, SA(&ip1), (uint64_t)i + 1, &id) == 0;
		}
		CHECK(ok > 0);
		CHECK_EQ(sessions_login_take(s, first, 1, &got), -ENOENT);
		CHECK_EQ(sessions_login_take(s, victim, 100, &got), 0);
		CHECK_STR(got.user, "alice");
		sessions_login_done(s, "alice", SA(&ip2), true);
		sessions_free(s);
	}

	/* Full table, many addresses: the oldest of all makes way; nothing is
	 * refused. */
	{
		struct sessions_limits lim = {.ttl_s = 60,
					      .max_sessions = 4,
					      .max_per_user = 4,
					      .max_logins = 4,
					      .max_logins_per_addr = 4,
					      .max_logins_per_conn = 4};
		uint64_t id[6];

		CHECK_EQ(sessions_new_limits(&s, &lim), 0);
		if (!s)
			return;
		for (int i = 0; i < 6; i++) {
			struct sockaddr_in ip;
			char txt[32];

			snprintf(txt, sizeof(txt), "10.1.0.%d", i + 1);
			sin4(&ip, txt, 1);
			CHECK_EQ(begin(s, "dave", SA(&ip), (uint64_t)i + 1, &id[i]), 0);
		}
		CHECK_EQ(sessions_login_take(s, id[0], 1, &got), -ENOENT);
		CHECK_EQ(sessions_login_take(s, id[1], 2, &got), -ENOENT);
		CHECK_EQ(sessions_login_take(s, id[5], 6, &got), 0);
		sessions_free(s);
	}
}

static void test_throttle(void)
{
	struct sessions *s = NULL;
	struct sockaddr_in a1, a1b, a2, a3, a4;
	struct sockaddr_in6 m1, v6, v6b, v6other;
	unsigned retry = 99;

	CHECK_EQ(sessions_new(&s, 60, 4, 64), 0);
	if (!s)
		return;
	sin4(&a1, "10.0.0.1", 1000);
	sin4(&a1b, "10.0.0.1", 2000); /* same host, other port */
	sin4(&a2, "10.0.0.2", 1000);
	sin4(&a3, "10.0.0.3", 1000);
	sin4(&a4, "10.0.0.4", 1000);
	sin6(&m1, "::ffff:10.0.0.1", 3000);
	sin6(&v6, "fd00::1", 1000);
	sin6(&v6b, "fd00::ffff:2", 1000);      /* same /64 */
	sin6(&v6other, "fd00:0:0:1::1", 1000); /* another /64 */

	/* Four free failures. */
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(attempt(s, "alice", SA(&a1), 1, false, &retry), 0);
		CHECK_EQ(retry, 0);
	}
	/* The fifth trips it for 1 s, for alice at that host only. */
	CHECK_EQ(attempt(s, "alice", SA(&a1), 1, false, &retry), 0);
	CHECK_EQ(attempt(s, "alice", SA(&a1), 1, true, &retry), -EAGAIN);
	CHECK_EQ(retry, 1);
	CHECK_EQ(attempt(s, "alice", SA(&a1b), 2, true, &retry), -EAGAIN);
	CHECK_EQ(attempt(s, "alice", SA(&m1), 3, true, &retry), -EAGAIN);
	/* Guesses from elsewhere do not lock alice out of her own address,
	 * nor others out of that one. */
	CHECK_EQ(attempt(s, "alice", SA(&a2), 4, true, &retry), 0);
	CHECK_EQ(attempt(s, "bob", SA(&a1b), 5, true, &retry), 0);
	CHECK_EQ(attempt(s, "alice", SA(&v6), 6, true, &retry), 0);

	sessions_advance_clock(s, 1);
	/* Doubling: 2, 4, 8, ... capped at 300 s. */
	{
		unsigned want = 2;

		for (int i = 0; i < 12; i++) {
			CHECK_EQ(attempt(s, "alice", SA(&a1), 1, false, &retry), 0);
			CHECK_EQ(attempt(s, "alice", SA(&a1), 1, true, &retry), -EAGAIN);
			CHECK_EQ(retry, want);
			sessions_advance_clock(s, want);
			want = want * 2 > 300 ? 300 : want * 2;
		}
	}
	/* A success clears alice's count at that address. */
	CHECK_EQ(attempt(s, "alice", SA(&a1), 1, true, &retry), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(attempt(s, "alice", SA(&a1), 1, false, &retry), 0);
	CHECK_EQ(attempt(s, "alice", SA(&a1), 1, true, &retry), 0);
	sessions_free(s);

	/* Pipelined attempts count while in flight: of many begun at once only
	 * a burst is admitted, and unfinished ones count as failures. */
	CHECK_EQ(sessions_new(&s, 60, 4, 1024), 0);
	if (!s)
		return;
	{
		uint64_t id;
		int admitted = 0;

		for (int i = 0; i < 1000; i++)
			admitted += begin(s, "carol", SA(&a3), (uint64_t)i + 1, &id) == 0;
		CHECK_EQ(admitted, 16);
		/* The real carol, at her own address, is not affected. */
		CHECK_EQ(attempt(s, "carol", SA(&a4), 5000, true, &retry), 0);
		/* The abandoned attempts expire as failures: the longest delay follows. */
		sessions_advance_clock(s, 31);
		CHECK_EQ(attempt(s, "carol", SA(&a3), 6000, true, &retry), -EAGAIN);
		CHECK_EQ(retry, 300);
		CHECK_EQ(attempt(s, "carol", SA(&a4), 5001, true, &retry), 0);
	}
	sessions_free(s);

	/* Per address: 20 failures over any users slow the whole address;
	 * other addresses go on. IPv6 counts by /64. */
	CHECK_EQ(sessions_new(&s, 60, 4, 1024), 0);
	if (!s)
		return;
	for (int i = 0; i < 20; i++) {
		char u[8];

		snprintf(u, sizeof(u), "u%d", i);
		CHECK_EQ(attempt(s, u, i % 2 ? SA(&v6) : SA(&v6b), 1, false, &retry), 0);
	}
	CHECK_EQ(attempt(s, "newuser", SA(&v6), 2, true, &retry), -EAGAIN);
	CHECK_EQ(attempt(s, "newuser", SA(&v6b), 3, true, &retry), -EAGAIN);
	CHECK_EQ(attempt(s, "newuser", SA(&v6other), 4, true, &retry), 0);
	CHECK_EQ(attempt(s, "u0", SA(&a3), 5, true, &retry), 0);
	/* A success there halves the address's count; an hour idle forgets it. */
	sessions_advance_clock(s, 1);
	CHECK_EQ(attempt(s, "newuser", SA(&v6), 6, true, &retry), 0);
	CHECK_EQ(attempt(s, "newuser", SA(&v6), 7, true, &retry), 0);
	sessions_advance_clock(s, 3600);
	for (int i = 0; i < 19; i++)
		CHECK_EQ(attempt(s, "x", SA(&v6), 8, false, &retry), i < 5 ? 0 : -EAGAIN);
	sessions_free(s);
}

/* The address groups the limits count by. */
static void test_addr_group(void)
{
	struct sockaddr_in a;
	struct sockaddr_in6 b, c;
	unsigned char k1[16], k2[16];

	sin4(&a, "192.0.2.7", 1);
	sin6(&b, "::ffff:192.0.2.7", 2);
	CHECK_EQ(sessions_addr_group(SA(&a), k1), 4);
	CHECK_EQ(sessions_addr_group(SA(&b), k2), 4);
	CHECK(memcmp(k1, k2, 4) == 0);
	sin6(&b, "2001:db8:1:2:aaaa::1", 1);
	sin6(&c, "2001:db8:1:2:bbbb::9", 1);
	CHECK_EQ(sessions_addr_group(SA(&b), k1), 8);
	CHECK_EQ(sessions_addr_group(SA(&c), k2), 8);
	CHECK(memcmp(k1, k2, 8) == 0);
	sin6(&c, "2001:db8:1:3::1", 1);
	sessions_addr_group(SA(&c), k2);
	CHECK(memcmp(k1, k2, 8) != 0);
	CHECK_EQ(sessions_addr_group(NULL, k1), 0);
}

int main(void)
{
	test_args();
	test_tokens();
	test_end_user_and_bound();
	test_per_user_cap();
	test_verifier_keys();
	test_peer_sessions();
	test_table_stress();
	test_threads();
	test_logins();
	test_throttle();
	test_addr_group();
	return CHECK_DONE();
}

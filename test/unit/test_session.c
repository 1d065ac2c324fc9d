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
	CHECK_EQ(sessions_create(s, "dave", extra, NULL), -EAGAIN);
	sessions_end_user(s, "alice");
	CHECK_EQ(sessions_check(s, t[0], user, sizeof(user)), -EACCES);
	CHECK_EQ(sessions_check(s, t[2], user, sizeof(user)), -EACCES);
	CHECK_EQ(sessions_check(s, t[1], user, sizeof(user)), 0);
	CHECK_STR(user, "bob");
	CHECK_EQ(sessions_check(s, t[3], user, sizeof(user)), 0);
	CHECK_STR(user, "carol");
	CHECK_EQ(sessions_create(s, "dave", extra, NULL), 0);
	CHECK_EQ(sessions_create(s, "erin", t[0], NULL), 0);
	CHECK_EQ(sessions_create(s, "fred", t[2], NULL), -EAGAIN);

	/* Once they expire, their room is reused. */
	sessions_advance_clock(s, 60);
	CHECK_EQ(sessions_create(s, "fred", t[2], NULL), 0);
	CHECK_EQ(sessions_check(s, t[2], user, sizeof(user)), 0);
	CHECK_STR(user, "fred");
	CHECK_EQ(sessions_check(s, t[1], user, sizeof(user)), -EACCES);
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

	CHECK_EQ(sessions_new(&s, 600, N, 4), 0);
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
	/* Refill to the bound: exactly the freed room is available. */
	{
		int made = 0;
		unsigned char t[SESSION_TOKEN_LEN];

		while (sessions_create(s, "x", t, NULL) == 0 && made <= N)
			made++;
		int freed = 0;

		for (int i = 0; i < N; i++)
			freed += !live[i];
		CHECK_EQ(made, freed);
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

static void test_logins(void)
{
	struct sessions *s = NULL;
	struct scram_server a, b, got;
	uint64_t ida = 0, idb = 0, idc = 0;

	CHECK_EQ(sessions_new(&s, 60, 4, 2), 0);
	if (!s)
		return;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memcpy(a.user, "alice", 6);
	memcpy(a.nonce, "abc", 4);
	a.verifier.iterations = 4096;
	memcpy(b.user, "bob", 4);
	CHECK_EQ(sessions_login_store(s, &a, &ida), 0);
	CHECK_EQ(sessions_login_store(s, &b, &idb), 0);
	CHECK(ida != idb);
	CHECK_EQ(sessions_login_store(s, &a, &idc), -EAGAIN);

	CHECK_EQ(sessions_login_take(s, ida ^ 1, &got), -ENOENT);
	CHECK_EQ(sessions_login_take(s, ida, &got), 0);
	CHECK(memcmp(&got, &a, sizeof(a)) == 0);
	CHECK_EQ(sessions_login_take(s, ida, &got), -ENOENT); /* taken once only */

	/* Room again; and pending ones expire after 30 s. */
	CHECK_EQ(sessions_login_store(s, &a, &ida), 0);
	sessions_advance_clock(s, 29);
	CHECK_EQ(sessions_login_take(s, ida, &got), 0);
	CHECK_STR(got.user, "alice");
	CHECK_EQ(sessions_login_store(s, &a, &ida), 0);
	CHECK_EQ(sessions_login_store(s, &a, &idc), -EAGAIN);
	sessions_advance_clock(s, 1);
	/* bob's (stored 30 s ago) has expired and makes room; */
	CHECK_EQ(sessions_login_store(s, &a, &idc), 0);
	CHECK_EQ(sessions_login_take(s, idb, &got), -ENOENT);
	sessions_advance_clock(s, 30);
	CHECK_EQ(sessions_login_take(s, ida, &got), -ENOENT);
	CHECK_EQ(sessions_login_take(s, idc, &got), -ENOENT);
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

static void test_throttle(void)
{
	struct sessions *s = NULL;
	struct sockaddr_in a1, a1b, a2, a3;
	struct sockaddr_in6 m1, v6;
	unsigned retry = 99;

	CHECK_EQ(sessions_new(&s, 60, 4, 4), 0);
	if (!s)
		return;
	sin4(&a1, "10.0.0.1", 1000);
	sin4(&a1b, "10.0.0.1", 2000); /* same host, other port */
	sin4(&a2, "10.0.0.2", 1000);
	sin4(&a3, "10.0.0.3", 1000);
	sin6(&m1, "::ffff:10.0.0.1", 3000);
	sin6(&v6, "fd00::1", 1000);

	/* Four free failures. */
	for (int i = 0; i < 4; i++) {
		sessions_throttle_record(s, "alice", SA(&a1), 0);
		CHECK_EQ(sessions_throttle_check(s, "alice", SA(&a1), &retry), 0);
		CHECK_EQ(retry, 0);
	}
	/* The fifth trips it for 1 s: the user from anywhere, anyone from that host. */
	sessions_throttle_record(s, "alice", SA(&a1), 0);
	CHECK_EQ(sessions_throttle_check(s, "alice", SA(&a1), &retry), -EAGAIN);
	CHECK_EQ(retry, 1);
	CHECK_EQ(sessions_throttle_check(s, "alice", SA(&a2), &retry), -EAGAIN);
	CHECK_EQ(sessions_throttle_check(s, "alice", NULL, &retry), -EAGAIN);
	CHECK_EQ(sessions_throttle_check(s, "bob", SA(&a1b), &retry), -EAGAIN);
	CHECK_EQ(sessions_throttle_check(s, "bob", SA(&m1), &retry), -EAGAIN);
	CHECK_EQ(sessions_throttle_check(s, "bob", SA(&a2), &retry), 0);
	CHECK_EQ(sessions_throttle_check(s, "bob", SA(&v6), &retry), 0);

	sessions_advance_clock(s, 1);
	CHECK_EQ(sessions_throttle_check(s, "alice", SA(&a1), &retry), 0);

	/* Doubling: 2, 4, 8, ... capped at 300 s. */
	{
		unsigned want = 2;

		for (int i = 0; i < 12; i++) {
			sessions_throttle_record(s, "alice", SA(&a1), 0);
			CHECK_EQ(sessions_throttle_check(s, "alice", SA(&a1), &retry), -EAGAIN);
			CHECK_EQ(retry, want);
			want = want * 2 > 300 ? 300 : want * 2;
		}
	}
	sessions_advance_clock(s, 299);
	CHECK_EQ(sessions_throttle_check(s, "alice", SA(&a1), &retry), -EAGAIN);
	CHECK_EQ(retry, 1);
	sessions_advance_clock(s, 1);
	CHECK_EQ(sessions_throttle_check(s, "alice", SA(&a1), &retry), 0);

	/* A success resets both the user and the address. */
	sessions_throttle_record(s, "alice", SA(&a1), 0);
	CHECK_EQ(sessions_throttle_check(s, "alice", SA(&a3), &retry), -EAGAIN);
	sessions_throttle_record(s, "alice", SA(&a1), 1);
	CHECK_EQ(sessions_throttle_check(s, "alice", SA(&a3), &retry), 0);
	CHECK_EQ(sessions_throttle_check(s, "zed", SA(&a1), &retry), 0);
	for (int i = 0; i < 4; i++)
		sessions_throttle_record(s, "alice", SA(&a1), 0);
	CHECK_EQ(sessions_throttle_check(s, "alice", SA(&a1), &retry), 0);

	/* IPv6 addresses are keyed too, without the port. */
	for (int i = 0; i < 5; i++) {
		char u[8];

		snprintf(u, sizeof(u), "u%d", i);
		sessions_throttle_record(s, u, SA(&v6), 0);
	}
	v6.sin6_port = htons(4242);
	CHECK_EQ(sessions_throttle_check(s, "newuser", SA(&v6), &retry), -EAGAIN);
	CHECK_EQ(sessions_throttle_check(s, "u0", SA(&a3), &retry), 0);
	sessions_free(s);
}

int main(void)
{
	test_args();
	test_tokens();
	test_end_user_and_bound();
	test_table_stress();
	test_threads();
	test_logins();
	test_throttle();
	return CHECK_DONE();
}

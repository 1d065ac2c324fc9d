/* test_scram.c: SCRAM-SHA-256 against RFC 7677's example, round trips and tampering. */
#include "check.h"
#include "scram.h"

#include <errno.h>
#include <string.h>

#define CNONCE	     "rOprNGfwEbeRWgbNEkqO"
#define SNONCE	     "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define CLIENT_FIRST "n,,n=user,r=" CNONCE
#define SERVER_FIRST "r=" CNONCE SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define CLIENT_FINAL "c=biws,r=" CNONCE SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* The salt of RFC 7677's example, decoded. */
static const unsigned char rfc_salt[16] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
					   0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81};

/* Test iteration count: the minimum, to keep the suite fast. */
#define ITER SCRAM_MIN_ITERATIONS

static void test_rfc_client(void)
{
	struct scram_client c;
	char out[SCRAM_MSG_MAX];
	unsigned char salt[SCRAM_SALT_MAX], salted[SCRAM_KEY_LEN];
	size_t salt_len = 0;
	uint32_t iter = 0;
	int n;

	n = scram_client_first_nonce(&c, "user", CNONCE, out, sizeof(out));
	CHECK_EQ(n, strlen(CLIENT_FIRST));
	CHECK_STR(out, CLIENT_FIRST);
	CHECK_EQ(scram_client_parse_server_first(&c, SERVER_FIRST, strlen(SERVER_FIRST), salt,
						 &salt_len, &iter),
		 0);
	CHECK_EQ(salt_len, sizeof(rfc_salt));
	CHECK(memcmp(salt, rfc_salt, sizeof(rfc_salt)) == 0);
	CHECK_EQ(iter, 4096);
	CHECK_EQ(scram_salted_password("pencil", salt, salt_len, iter, salted), 0);
	n = scram_client_final(&c, salted, out, sizeof(out));
	CHECK_EQ(n, strlen(CLIENT_FINAL));
	CHECK_STR(out, CLIENT_FINAL);
	CHECK_EQ(scram_client_check_server(&c, SERVER_FINAL, strlen(SERVER_FINAL)), 0);
}

static void test_rfc_server(void)
{
	struct scram_server s;
	struct scram_verifier v;
	char out[SCRAM_MSG_MAX];
	int n;

	CHECK_EQ(scram_verifier_from_salt("pencil", rfc_salt, sizeof(rfc_salt), 4096, &v), 0);
	CHECK_EQ(scram_server_parse_first(&s, CLIENT_FIRST, strlen(CLIENT_FIRST)), 0);
	CHECK_STR(s.user, "user");
	n = scram_server_first_nonce(&s, &v, SNONCE, out, sizeof(out));
	CHECK_EQ(n, strlen(SERVER_FIRST));
	CHECK_STR(out, SERVER_FIRST);
	n = scram_server_final(&s, CLIENT_FINAL, strlen(CLIENT_FINAL), out, sizeof(out));
	CHECK_EQ(n, strlen(SERVER_FINAL));
	CHECK_STR(out, SERVER_FINAL);
}

/* One full exchange between a client and a server state. Returns the server
 * final's result; *client_rc gets scram_client_check_server's. Leaves the
 * client-final in cfinal when given. */
static int exchange(const char *user, const char *password, const struct scram_verifier *v,
		    int *client_rc, char *cfinal, size_t cfcap)
{
	struct scram_client c;
	struct scram_server s;
	char m1[SCRAM_MSG_MAX], m2[SCRAM_MSG_MAX], m3[SCRAM_MSG_MAX], m4[SCRAM_MSG_MAX];
	unsigned char salt[SCRAM_SALT_MAX], salted[SCRAM_KEY_LEN];
	size_t salt_len = 0;
	uint32_t iter = 0;
	int n1, n2, n3, n4;

	*client_rc = -1;
	n1 = scram_client_first(&c, user, m1, sizeof(m1));
	CHECK(n1 > 0);
	CHECK_EQ(scram_server_parse_first(&s, m1, (size_t)n1), 0);
	CHECK_STR(s.user, user);
	n2 = scram_server_first(&s, v, m2, sizeof(m2));
	CHECK(n2 > 0);
	CHECK_EQ(scram_client_parse_server_first(&c, m2, (size_t)n2, salt, &salt_len, &iter), 0);
	CHECK_EQ(scram_salted_password(password, salt, salt_len, iter, salted), 0);
	n3 = scram_client_final(&c, salted, m3, sizeof(m3));
	CHECK(n3 > 0);
	if (cfinal && n3 > 0 && (size_t)n3 < cfcap)
		memcpy(cfinal, m3, (size_t)n3 + 1);
	n4 = scram_server_final(&s, m3, (size_t)n3, m4, sizeof(m4));
	if (n4 > 0)
		*client_rc = scram_client_check_server(&c, m4, (size_t)n4);
	return n4;
}

static void test_round_trip(void)
{
	struct scram_verifier v;
	int crc, rc;

	CHECK_EQ(scram_make_verifier("Bluepanda", ITER, &v), 0);
	CHECK_EQ(v.salt_len, 16);
	CHECK_EQ(v.iterations, ITER);
	rc = exchange("AnujS", "Bluepanda", &v, &crc, NULL, 0);
	CHECK(rc > 0);
	CHECK_EQ(crc, 0);

	/* Wrong password: the server refuses the proof. */
	rc = exchange("AnujS", "bluepanda", &v, &crc, NULL, 0);
	CHECK_EQ(rc, -EACCES);

	/* Below the minimum work factor: refused. */
	CHECK_EQ(scram_make_verifier("Bluepanda", ITER - 1, &v), -EINVAL);
	CHECK_EQ(scram_make_verifier("", ITER, &v), -EINVAL);
	CHECK_EQ(scram_make_verifier("tab\there", ITER, &v), -EINVAL);
}

/* Runs the server side of RFC 7677's example up to server-first. */
static void rfc_server_state(struct scram_server *s)
{
	struct scram_verifier v;
	char out[SCRAM_MSG_MAX];

	CHECK_EQ(scram_verifier_from_salt("pencil", rfc_salt, sizeof(rfc_salt), 4096, &v), 0);
	CHECK_EQ(scram_server_parse_first(s, CLIENT_FIRST, strlen(CLIENT_FIRST)), 0);
	CHECK(scram_server_first_nonce(s, &v, SNONCE, out, sizeof(out)) > 0);
}

static void test_tampered_final(void)
{
	static const char *bad[] = {
	    /* changed nonce */
	    "c=biws,r=" CNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1"
	    ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    /* nonce truncated to the client's part */
	    "c=biws,r=" CNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    /* channel binding claimed */
	    "c=eSws,r=" CNONCE SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    /* proof too short */
	    "c=biws,r=" CNONCE SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndV",
	    /* extension inserted before the proof */
	    "c=biws,r=" CNONCE SNONCE ",x=1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    /* attributes out of order */
	    "r=" CNONCE SNONCE ",c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    /* trailing comma */
	    CLIENT_FINAL ",",
	    "",
	    "p=",
	};
	struct scram_server s;
	char out[SCRAM_MSG_MAX];
	char proof[] = CLIENT_FINAL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rfc_server_state(&s);
		CHECK_EQ(scram_server_final(&s, bad[i], strlen(bad[i]), out, sizeof(out)), -EPROTO);
	}
	/* A flipped proof byte is well-formed but wrong. */
	proof[strlen(proof) - 5] = proof[strlen(proof) - 5] == 'A' ? 'B' : 'A';
	rfc_server_state(&s);
	CHECK_EQ(scram_server_final(&s, proof, strlen(proof), out, sizeof(out)), -EACCES);
	/* And the genuine one still passes on the same kind of state. */
	rfc_server_state(&s);
	CHECK(scram_server_final(&s, CLIENT_FINAL, strlen(CLIENT_FINAL), out, sizeof(out)) > 0);
}

static void test_replay(void)
{
	struct scram_verifier v;
	struct scram_server s;
	char cfinal[SCRAM_MSG_MAX], out[SCRAM_MSG_MAX], first[SCRAM_MSG_MAX];
	const char *r;
	int crc, n;

	CHECK_EQ(scram_make_verifier("wiger", ITER, &v), 0);
	CHECK(exchange("AnujK", "wiger", &v, &crc, cfinal, sizeof(cfinal)) > 0);
	CHECK_EQ(crc, 0);

	/* A new exchange that starts with the same client nonce gets a new server
	 * nonce, so the captured client-final no longer matches it. */
	r = strstr(cfinal, ",r=");
	CHECK(r != NULL);
	if (!r)
		return;
	n = snprintf(first, sizeof(first), "n,,n=AnujK,r=%.32s", r + 3);
	CHECK_EQ(scram_server_parse_first(&s, first, (size_t)n), 0);
	CHECK(scram_server_first(&s, &v, out, sizeof(out)) > 0);
	CHECK_EQ(scram_server_final(&s, cfinal, strlen(cfinal), out, sizeof(out)), -EPROTO);
}

static void test_server_without_verifier(void)
{
	static const unsigned char secret[32] = {1, 2, 3};
	struct scram_verifier fake, fake2, real;
	struct scram_client c;
	struct scram_server s;
	char m1[SCRAM_MSG_MAX], m2[SCRAM_MSG_MAX], m3[SCRAM_MSG_MAX], m4[SCRAM_MSG_MAX];
	unsigned char salt[SCRAM_SALT_MAX], salted[SCRAM_KEY_LEN];
	size_t salt_len = 0;
	uint32_t iter = 0;
	int n1, n2, n3, n4;

	static const unsigned char other[32] = {1, 2, 4};

	/* The same key and count give the same stand-in every time (on every
	 * server sharing them); it depends on the name, the key and the count. */
	scram_fake_verifier("ghost", secret, 4096, &fake);
	scram_fake_verifier("ghost", secret, 4096, &fake2);
	CHECK(memcmp(&fake, &fake2, sizeof(fake)) == 0);
	CHECK_EQ(fake.salt_len, 16);
	CHECK_EQ(fake.iterations, 4096);
	scram_fake_verifier("ghost2", secret, 4096, &fake2);
	CHECK(memcmp(fake.salt, fake2.salt, 16) != 0);
	scram_fake_verifier("ghost", other, 4096, &fake2);
	CHECK(memcmp(fake.salt, fake2.salt, 16) != 0);
	scram_fake_verifier("ghost", secret, SCRAM_DEFAULT_ITERATIONS, &fake2);
	CHECK_EQ(fake2.iterations, SCRAM_DEFAULT_ITERATIONS);
	CHECK(memcmp(fake.salt, fake2.salt, 16) == 0);

	/* The fake verifier refuses every password (and the exchange still
	 * looks like a normal one up to then). */
	fake.iterations = ITER;
	CHECK(exchange("ghost", "x", &fake, &n1, NULL, 0) == -EACCES);

	/* A server that does not know the real verifier cannot produce the right
	 * server signature: it answers with its own keys. Simulate a server
	 * that accepts any proof by grafting the client's keys onto a wrong
	 * server key. */
	CHECK_EQ(scram_make_verifier("pw", ITER, &real), 0);
	n1 = scram_client_first(&c, "bob", m1, sizeof(m1));
	CHECK_EQ(scram_server_parse_first(&s, m1, (size_t)n1), 0);
	n2 = scram_server_first(&s, &real, m2, sizeof(m2));
	CHECK_EQ(scram_client_parse_server_first(&c, m2, (size_t)n2, salt, &salt_len, &iter), 0);
	CHECK_EQ(scram_salted_password("pw", salt, salt_len, iter, salted), 0);
	n3 = scram_client_final(&c, salted, m3, sizeof(m3));
	s.verifier.server_key[0] ^= 1;
	n4 = scram_server_final(&s, m3, (size_t)n3, m4, sizeof(m4));
	CHECK(n4 > 0);
	CHECK_EQ(scram_client_check_server(&c, m4, (size_t)n4), -EACCES);
}

static void test_malformed_server_msgs(void)
{
	static const char *bad[] = {
	    "",
	    "r=" CNONCE,
	    "r=" CNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",		   /* nonce not extended */
	    "r=xOprNGfwEbeRWgbNEkqO123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /* not ours */
	    "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",		   /* too few */
	    "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4294967296",	   /* over 32 bits */
	    "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096",
	    "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096",
	    "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999",
	    "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
	    "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",  /* bad padding */
	    "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gR==,i=4096", /* non-canonical */
	    "r=" CNONCE "x,s=W22Z!J0SNY7soEsUEjb6gQ==,i=4096",
	    "r=" CNONCE "x,s=,i=4096",
	    "r=" CNONCE "x,i=4096,s=W22ZaJ0SNY7soEsUEjb6gQ==",	   /* order */
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" CNONCE "x,i=4096",	   /* order */
	    "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",	   /* trailing */
	    "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=y", /* extension */
	    "m=1,r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /* mandatory ext */
	    "e=other-error",
	    "r=" CNONCE "\x01,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /* control char */
	};
	char out[SCRAM_MSG_MAX], big[SCRAM_MSG_MAX + 8];
	struct scram_client c;
	unsigned char salt[SCRAM_SALT_MAX], salted[SCRAM_KEY_LEN] = {0};
	size_t salt_len = 0;
	uint32_t iter = 0;
	const char withnul[] = "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096\0";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(scram_client_first_nonce(&c, "user", CNONCE, out, sizeof(out)) > 0);
		if (scram_client_parse_server_first(&c, bad[i], strlen(bad[i]), salt, &salt_len,
						    &iter) != -EPROTO) {
			fprintf(stderr, "accepted server-first #%zu: %s\n", i, bad[i]);
			check_failures++;
		}
	}
	CHECK(scram_client_first_nonce(&c, "user", CNONCE, out, sizeof(out)) > 0);
	CHECK_EQ(scram_client_parse_server_first(&c, withnul, sizeof(withnul) - 1, salt, &salt_len,
						 &iter),
		 -EPROTO);
	memset(big, 'a', sizeof(big));
	memcpy(big, "r=" CNONCE, strlen("r=" CNONCE));
	CHECK_EQ(scram_client_parse_server_first(&c, big, sizeof(big), salt, &salt_len, &iter),
		 -EPROTO);
	/* Out-of-order calls are refused, not crashed on. */
	CHECK_EQ(scram_client_final(&c, salted, out, sizeof(out)), -EINVAL);
	CHECK_EQ(scram_client_check_server(&c, SERVER_FINAL, strlen(SERVER_FINAL)), -EINVAL);

	/* Server-final: errors and garbage. */
	CHECK(scram_client_first_nonce(&c, "user", CNONCE, out, sizeof(out)) > 0);
	CHECK_EQ(scram_client_parse_server_first(&c, SERVER_FIRST, strlen(SERVER_FIRST), salt,
						 &salt_len, &iter),
		 0);
	CHECK_EQ(scram_salted_password("pencil", salt, salt_len, iter, salted), 0);
	CHECK(scram_client_final(&c, salted, out, sizeof(out)) > 0);
	CHECK_EQ(scram_client_check_server(&c, "e=invalid-proof", 15), -EPROTO);
	CHECK_EQ(scram_client_check_server(&c, "v=6rriTRBi23WpRR", 16), -EPROTO);
	CHECK_EQ(scram_client_check_server(&c, SERVER_FINAL ",x=1", strlen(SERVER_FINAL) + 4),
		 -EPROTO);
	CHECK_EQ(scram_client_check_server(&c, "", 0), -EPROTO);
	CHECK_EQ(scram_client_check_server(&c, SERVER_FINAL, strlen(SERVER_FINAL)), 0);
}

static void test_malformed_client_first(void)
{
	static const char *bad[] = {
	    "",
	    "n,,",
	    "y,,n=user,r=abc",		  /* client supports binding */
	    "p=tls-unique,,n=user,r=abc", /* binding requested */
	    "n,a=admin,n=user,r=abc",	  /* authzid */
	    "n,,m=ext,n=user,r=abc",
	    "n,,n=,r=abc",
	    "n,,n=user,r=",
	    "n,,n=user",
	    "n,,r=abc,n=user",
	    "n,,n=user,r=abc,x=1",
	    "n,,n=user,r=abc,",
	    "n,,n=us=2Cer,r=abc", /* ',' is valid SCRAM but not a dfs name */
	    "n,,n=us=3Der,r=abc",
	    "n,,n=us=4Fer,r=abc", /* bad escape */
	    "n,,n=user=,r=abc",
	    "n,,n=.hidden,r=abc",
	    "n,,n=sp ace,r=abc",
	    "n,,n=user,r=a\x7f",
	    "n,,n=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,r=abc", /* 65 */
	    "n ,,n=user,r=abc",
	};
	struct scram_server s;
	char m[SCRAM_MSG_MAX + 1];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (scram_server_parse_first(&s, bad[i], strlen(bad[i])) != -EPROTO) {
			fprintf(stderr, "accepted client-first #%zu: %s\n", i, bad[i]);
			check_failures++;
		}
	}
	CHECK_EQ(scram_server_parse_first(&s, "n,,n=us\0r,r=abc", 15), -EPROTO);
	CHECK_EQ(scram_server_parse_first(&s, NULL, 0), -EPROTO);
	/* Nonce long enough that the message reaches SCRAM_MSG_MAX. */
	memcpy(m, "n,,n=user,r=", 12);
	memset(m + 12, 'x', sizeof(m) - 12);
	CHECK_EQ(scram_server_parse_first(&s, m, SCRAM_MSG_MAX), -EPROTO);
	CHECK_EQ(scram_server_parse_first(&s, m, SCRAM_MSG_MAX - 1), 0);
	/* ... and then a server nonce would not fit. */
	{
		struct scram_verifier v;
		char out[SCRAM_MSG_MAX];

		scram_fake_verifier(
		    "user", (const unsigned char *)"0123456789abcdef0123456789abcdef", ITER, &v);
		CHECK(scram_server_first(&s, &v, out, sizeof(out)) < 0);
	}
	/* A legitimate 64-character name and the maximal valid set of characters. */
	CHECK_EQ(
	    scram_server_parse_first(
		&s, "n,,n=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,r=abc",
		strlen("n,,n=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,r="
		       "abc")),
	    0);
	CHECK_EQ(scram_server_parse_first(&s, "n,,n=A-z_0.9,r=!~", 17), 0);
	CHECK_STR(s.user, "A-z_0.9");
	/* Server-final before server-first. */
	{
		char out[SCRAM_MSG_MAX];

		CHECK_EQ(
		    scram_server_final(&s, CLIENT_FINAL, strlen(CLIENT_FINAL), out, sizeof(out)),
		    -EINVAL);
	}
}

static void test_client_args(void)
{
	struct scram_client c;
	char out[SCRAM_MSG_MAX];
	char small[12];

	CHECK_EQ(scram_client_first(&c, "", out, sizeof(out)), -EINVAL);
	CHECK_EQ(scram_client_first(&c, "a,b", out, sizeof(out)), -EINVAL);
	CHECK_EQ(scram_client_first(&c, ".x", out, sizeof(out)), -EINVAL);
	CHECK_EQ(scram_client_first(&c, "user", small, sizeof(small)), -ENOSPC);
	CHECK_EQ(scram_client_first(&c, "user", out, sizeof(out)), 12 + 32);
	CHECK(strncmp(out, "n,,n=user,r=", 12) == 0);
}

/* A server may not make the client compute more than SCRAM_MAX_ITERATIONS. */
static void test_iteration_cap(void)
{
	struct scram_client c;
	char out[SCRAM_MSG_MAX], msg[128];
	unsigned char salt[SCRAM_SALT_MAX];
	size_t salt_len = 0;
	uint32_t iter = 0;

	CHECK(SCRAM_MAX_ITERATIONS >= 3 * SCRAM_DEFAULT_ITERATIONS);
	snprintf(msg, sizeof(msg), "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=%u",
		 (unsigned)SCRAM_MAX_ITERATIONS);
	CHECK(scram_client_first_nonce(&c, "user", CNONCE, out, sizeof(out)) > 0);
	CHECK_EQ(scram_client_parse_server_first(&c, msg, strlen(msg), salt, &salt_len, &iter), 0);
	CHECK_EQ(iter, SCRAM_MAX_ITERATIONS);
	snprintf(msg, sizeof(msg), "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=%u",
		 (unsigned)SCRAM_MAX_ITERATIONS + 1);
	CHECK(scram_client_first_nonce(&c, "user", CNONCE, out, sizeof(out)) > 0);
	iter = 0;
	CHECK_EQ(scram_client_parse_server_first(&c, msg, strlen(msg), salt, &salt_len, &iter),
		 -ERANGE);
	CHECK_EQ(iter, SCRAM_MAX_ITERATIONS + 1);
	/* Refused, the exchange cannot go on. */
	CHECK_EQ(scram_client_final(&c, salt, out, sizeof(out)), -EINVAL);
	snprintf(msg, sizeof(msg), "r=" CNONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000000");
	CHECK(scram_client_first_nonce(&c, "user", CNONCE, out, sizeof(out)) > 0);
	CHECK_EQ(scram_client_parse_server_first(&c, msg, strlen(msg), salt, &salt_len, &iter),
		 -ERANGE);
}

/* The password change proof: valid only with the current password, for
 * this token and exactly this new verifier. */
static void test_change_proof(void)
{
	struct scram_verifier cur, next, other;
	unsigned char salted[SCRAM_KEY_LEN], wrong[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
	unsigned char bad[SCRAM_KEY_LEN], token[32], token2[32];

	memset(token, 7, sizeof(token));
	memset(token2, 7, sizeof(token2));
	token2[31] ^= 1;
	CHECK_EQ(scram_verifier_from_salt("current pw", rfc_salt, sizeof(rfc_salt), ITER, &cur), 0);
	CHECK_EQ(scram_salted_password("current pw", rfc_salt, sizeof(rfc_salt), ITER, salted), 0);
	CHECK_EQ(scram_salted_password("guess", rfc_salt, sizeof(rfc_salt), ITER, wrong), 0);
	CHECK_EQ(scram_make_verifier("new pw", ITER, &next), 0);
	CHECK_EQ(scram_make_verifier("other pw", ITER, &other), 0);

	CHECK_EQ(scram_change_proof(salted, token, sizeof(token), &next, proof), 0);
	CHECK_EQ(scram_change_check(cur.stored_key, token, sizeof(token), &next, proof), 0);
	/* Bound to the session token... */
	CHECK_EQ(scram_change_check(cur.stored_key, token2, sizeof(token2), &next, proof), -EACCES);
	/* ...to every field of the new verifier... */
	CHECK_EQ(scram_change_check(cur.stored_key, token, sizeof(token), &other, proof), -EACCES);
	other = next;
	other.iterations++;
	CHECK_EQ(scram_change_check(cur.stored_key, token, sizeof(token), &other, proof), -EACCES);
	other = next;
	other.salt[0] ^= 1;
	CHECK_EQ(scram_change_check(cur.stored_key, token, sizeof(token), &other, proof), -EACCES);
	other = next;
	other.server_key[5] ^= 1;
	CHECK_EQ(scram_change_check(cur.stored_key, token, sizeof(token), &other, proof), -EACCES);
	/* ...and to the current password: a wrong one, or none, fails. */
	CHECK_EQ(scram_change_proof(wrong, token, sizeof(token), &next, bad), 0);
	CHECK_EQ(scram_change_check(cur.stored_key, token, sizeof(token), &next, bad), -EACCES);
	memset(bad, 0, sizeof(bad));
	CHECK_EQ(scram_change_check(cur.stored_key, token, sizeof(token), &next, bad), -EACCES);
	/* The StoredKey alone (what a stolen database holds) is not enough:
	 * using it in place of the salted password gives a wrong proof. */
	CHECK_EQ(scram_change_proof(cur.stored_key, token, sizeof(token), &next, bad), 0);
	CHECK_EQ(scram_change_check(cur.stored_key, token, sizeof(token), &next, bad), -EACCES);
	/* Bad arguments. */
	CHECK_EQ(scram_change_proof(salted, token, 0, &next, bad), -EINVAL);
	CHECK_EQ(scram_change_check(cur.stored_key, NULL, 32, &next, proof), -EINVAL);
	other = next;
	other.salt_len = 0;
	CHECK_EQ(scram_change_check(cur.stored_key, token, sizeof(token), &other, proof), -EINVAL);
}

int main(void)
{
	test_rfc_client();
	test_rfc_server();
	test_round_trip();
	test_tampered_final();
	test_replay();
	test_server_without_verifier();
	test_malformed_server_msgs();
	test_malformed_client_first();
	test_client_args();
	test_iteration_cap();
	test_change_proof();
	return CHECK_DONE();
}

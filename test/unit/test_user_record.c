/* test_user_record.c: the record checks both user database backends share. */
#include "check.h"
#include "user_record.h"

#include <errno.h>
#include <string.h>

static unsigned char salt[SCRAM_SALT_MAX + 1], stored[SCRAM_KEY_LEN + 1], server[SCRAM_KEY_LEN];

static int decode(size_t salt_len, uint64_t iterations, size_t stored_len, size_t server_len,
		  struct scram_verifier *v)
{
	return user_record_verifier(v, salt, salt_len, iterations, stored, stored_len, server,
				    server_len);
}

static void test_valid(void)
{
	struct scram_verifier v;

	CHECK_EQ(decode(16, 600000, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &v), 0);
	CHECK_EQ(v.salt_len, 16);
	CHECK_EQ(v.iterations, 600000);
	CHECK(memcmp(v.salt, salt, 16) == 0);
	CHECK(memcmp(v.stored_key, stored, SCRAM_KEY_LEN) == 0);
	CHECK(memcmp(v.server_key, server, SCRAM_KEY_LEN) == 0);
	/* The bounds themselves are accepted. */
	CHECK_EQ(decode(1, 1, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &v), 0);
	CHECK_EQ(decode(SCRAM_SALT_MAX, SCRAM_MAX_ITERATIONS, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &v), 0);
	CHECK_EQ(v.iterations, SCRAM_MAX_ITERATIONS);
}

static void test_invalid(void)
{
	const struct scram_verifier zero = {0};
	struct scram_verifier v;

	CHECK_EQ(decode(0, 4096, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &v), -EBADMSG);
	CHECK(memcmp(&v, &zero, sizeof(v)) == 0);
	CHECK_EQ(decode(SCRAM_SALT_MAX + 1, 4096, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &v), -EBADMSG);
	CHECK_EQ(decode(16, 0, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &v), -EBADMSG);
	CHECK_EQ(decode(16, (uint64_t)SCRAM_MAX_ITERATIONS + 1, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &v),
		 -EBADMSG);
	/* Beyond 32 bits, which a Redis field can hold. */
	CHECK_EQ(decode(16, (uint64_t)1 << 32 | 4096, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &v), -EBADMSG);
	CHECK_EQ(decode(16, 4096, SCRAM_KEY_LEN - 1, SCRAM_KEY_LEN, &v), -EBADMSG);
	CHECK_EQ(decode(16, 4096, SCRAM_KEY_LEN + 1, SCRAM_KEY_LEN, &v), -EBADMSG);
	CHECK_EQ(decode(16, 4096, SCRAM_KEY_LEN, 0, &v), -EBADMSG);
	CHECK(memcmp(&v, &zero, sizeof(v)) == 0);
}

static void test_settings_iterations(void)
{
	CHECK_EQ(user_record_settings_iterations(SCRAM_MIN_ITERATIONS), SCRAM_MIN_ITERATIONS);
	CHECK_EQ(user_record_settings_iterations(SCRAM_MAX_ITERATIONS), SCRAM_MAX_ITERATIONS);
	CHECK_EQ(user_record_settings_iterations(100000), 100000);
	CHECK_EQ(user_record_settings_iterations(0), SCRAM_DEFAULT_ITERATIONS);
	CHECK_EQ(user_record_settings_iterations(SCRAM_MIN_ITERATIONS - 1),
		 SCRAM_DEFAULT_ITERATIONS);
	CHECK_EQ(user_record_settings_iterations((uint64_t)SCRAM_MAX_ITERATIONS + 1),
		 SCRAM_DEFAULT_ITERATIONS);
	CHECK_EQ(user_record_settings_iterations(UINT64_MAX), SCRAM_DEFAULT_ITERATIONS);
}

static void test_same(void)
{
	struct scram_verifier a, b;

	REQUIRE(decode(16, 4096, SCRAM_KEY_LEN, SCRAM_KEY_LEN, &a) == 0);
	b = a;
	CHECK(user_record_same(&a, &b));
	b.iterations++;
	CHECK(!user_record_same(&a, &b));
	b = a;
	b.salt_len--;
	CHECK(!user_record_same(&a, &b));
	b = a;
	b.salt[3] ^= 1;
	CHECK(!user_record_same(&a, &b));
	b = a;
	b.stored_key[0] ^= 1;
	CHECK(!user_record_same(&a, &b));
	b = a;
	b.server_key[SCRAM_KEY_LEN - 1] ^= 1;
	CHECK(!user_record_same(&a, &b));
}

int main(void)
{
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (unsigned char)(i * 7 + 1);
	memset(stored, 0x5a, sizeof(stored));
	memset(server, 0xa5, sizeof(server));
	test_valid();
	test_invalid();
	test_settings_iterations();
	test_same();
	return CHECK_DONE();
}

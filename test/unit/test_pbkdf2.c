/* test_pbkdf2.c: PBKDF2-HMAC-SHA256 against RFC 7914's vector and OpenSSL's own. */
#include "check.h"
#include "pbkdf2.h"

#include <errno.h>

#include <openssl/evp.h>

static void test_rfc7914(void)
{
	/* RFC 7914, section 11: P = "passwd", S = "salt", c = 1; the first 32 bytes. */
	static const unsigned char want[PBKDF2_OUT_LEN] = {
	    0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f, 0xec, 0x16, 0x91,
	    0xc2, 0x25, 0x44, 0xb6, 0x05, 0xf9, 0x41, 0x85, 0x21, 0x6d, 0xde,
	    0x04, 0x65, 0xe6, 0x8b, 0x9d, 0x57, 0xc2, 0x0d, 0xac, 0xbc};
	unsigned char out[PBKDF2_OUT_LEN];

	CHECK_EQ(pbkdf2_hmac_sha256("passwd", 6, (const unsigned char *)"salt", 4, 1, out), 0);
	CHECK(memcmp(out, want, sizeof(want)) == 0);
}

/* Password lengths around the 64-byte HMAC block (longer keys are hashed first),
 * salts around it too, and iteration counts that exercise the loop. */
static void test_matches_openssl(void)
{
	static const size_t password_lens[] = {0, 1, 9, 63, 64, 65, 200};
	static const size_t salt_lens[] = {1, 16, 55, 56, 64, 100};
	static const uint32_t iterations[] = {1, 2, 3, 1000};
	unsigned char password[200], salt[100], got[PBKDF2_OUT_LEN], want[PBKDF2_OUT_LEN];

	for (size_t i = 0; i < sizeof(password); i++)
		password[i] = (unsigned char)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (unsigned char)(255 - i * 3);
	for (size_t p = 0; p < sizeof(password_lens) / sizeof(password_lens[0]); p++)
		for (size_t s = 0; s < sizeof(salt_lens) / sizeof(salt_lens[0]); s++)
			for (size_t n = 0; n < sizeof(iterations) / sizeof(iterations[0]); n++) {
				CHECK_EQ(pbkdf2_hmac_sha256(password, password_lens[p], salt,
							    salt_lens[s], iterations[n], got),
					 0);
				CHECK_EQ(PKCS5_PBKDF2_HMAC((const char *)password,
							   (int)password_lens[p], salt,
							   (int)salt_lens[s], (int)iterations[n],
							   EVP_sha256(), sizeof(want), want),
					 1);
				CHECK(memcmp(got, want, sizeof(want)) == 0);
			}
}

static void test_zero_iterations(void)
{
	unsigned char out[PBKDF2_OUT_LEN];

	CHECK_EQ(pbkdf2_hmac_sha256("pw", 2, (const unsigned char *)"salt", 4, 0, out), -EINVAL);
}

int main(void)
{
	test_rfc7914();
	test_matches_openssl();
	test_zero_iterations();
	CHECK_DONE();
}

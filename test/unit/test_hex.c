/* test_hex.c: hexadecimal encoding round trips and refused input. */
#include "check.h"
#include "hex.h"

#include <errno.h>

static void test_encode(void)
{
	const unsigned char data[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[2 * sizeof(data) + 1];

	memset(out, '#', sizeof(out));
	hex_encode(data, sizeof(data), out);
	CHECK_STR(out, "00017f80abff");
	hex_encode(data, 0, out);
	CHECK_STR(out, "");
}

static void test_round_trip(void)
{
	unsigned char data[256], back[256];
	char text[513];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof(data); len += 17) {
		memset(back, 0, sizeof(back));
		hex_encode(data, len, text);
		CHECK_EQ(strlen(text), 2 * len);
		CHECK_EQ(hex_decode(text, back, len), 0);
		CHECK(memcmp(data, back, len) == 0);
	}
}

static void test_decode(void)
{
	unsigned char out[4] = {0};
	unsigned char keep[4] = {9, 9, 9, 9};

	CHECK_EQ(hex_decode("DEADbeef", out, 4), 0);
	CHECK_EQ(out[0], 0xde);
	CHECK_EQ(out[3], 0xef);
	CHECK_EQ(hex_decode("", out, 0), 0);

	memcpy(out, keep, 4);
	CHECK_EQ(hex_decode("deadbee", out, 4), -EINVAL);   /* too short */
	CHECK_EQ(hex_decode("deadbeef0", out, 4), -EINVAL); /* too long */
	CHECK_EQ(hex_decode("deadbeeg", out, 4), -EINVAL);  /* not a digit */
	CHECK_EQ(hex_decode("dead beef", out, 4), -EINVAL);
	CHECK_EQ(hex_decode("0xdeadbe", out, 4), -EINVAL);
	CHECK_EQ(hex_decode("-1234567", out, 4), -EINVAL);
	CHECK_EQ(hex_decode("", out, 4), -EINVAL);
	/* Refused input leaves the output untouched. */
	CHECK(memcmp(out, keep, 4) == 0);
}

/* Only exactly len lower-case digits count as a hex name. */
static void test_is_lower(void)
{
	CHECK(hex_is_lower("0123456789abcdef", 16));
	CHECK(hex_is_lower("", 0));
	CHECK(!hex_is_lower("0123456789ABCDEF", 16));
	CHECK(!hex_is_lower("abc", 2));
	CHECK(!hex_is_lower("ab", 3));
	CHECK(!hex_is_lower("ag", 2));
	CHECK(!hex_is_lower("a/", 2));
}

int main(void)
{
	test_is_lower();
	test_encode();
	test_round_trip();
	test_decode();
	return CHECK_DONE();
}

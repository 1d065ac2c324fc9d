/* test_checksum.c: streaming and one-shot XXH3-64, and the whole-file digest. */
#include "check.h"
#include "checksum.h"

#include <stdint.h>

/* A small deterministic generator so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_known(void)
{
	/* The reference XXH3-64 of the empty input (xxhash's own test vector). */
	CHECK(checksum_of("", 0) == 0x2d06800538d394c2ULL);
	CHECK(checksum_of("a", 1) != checksum_of("b", 1));
	CHECK(checksum_of("ab", 2) != checksum_of("ba", 2));
}

static void test_streaming(void)
{
	static unsigned char data[200000];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)rng();
	for (int round = 0; round < 200; round++) {
		size_t len = round < 20 ? (size_t)round : (size_t)(rng() % sizeof(data));
		uint64_t want = checksum_of(data, len);
		struct checksum c;
		size_t pos = 0;

		checksum_init(&c);
		while (pos < len) {
			/* Mix tiny, empty and large pieces to cross internal block
			 * boundaries in every alignment. */
			size_t piece = rng() % 4 == 0 ? rng() % 8 : rng() % 70000;

			if (piece > len - pos)
				piece = len - pos;
			checksum_update(&c, data + pos, piece);
			pos += piece;
		}
		CHECK(checksum_final(&c) == want);
		/* final does not consume the state. */
		CHECK(checksum_final(&c) == want);
	}
	{
		struct checksum c;

		checksum_init(&c);
		CHECK(checksum_final(&c) == checksum_of("", 0));
	}
}

static void test_file_digest(void)
{
	const uint64_t sums[4] = {0x0102030405060708ULL, 0xffeeddccbbaa9988ULL, 0, 42};
	const unsigned char be[32] = {
	    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* chunk 1 */
	    0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, /* chunk 2 */
	    0,	  0,	0,    0,    0,	  0,	0,    0,    /* chunk 3 */
	    0,	  0,	0,    0,    0,	  0,	0,    42,   /* chunk 4 */
	};
	const uint64_t swapped[4] = {sums[1], sums[0], sums[2], sums[3]};

	CHECK(checksum_file_digest(sums, 4) == checksum_of(be, sizeof(be)));
	CHECK(checksum_file_digest(sums, 1) == checksum_of(be, 8));
	CHECK(checksum_file_digest(sums, 0) == checksum_of("", 0));
	/* Chunk order matters. */
	CHECK(checksum_file_digest(swapped, 4) != checksum_file_digest(sums, 4));
}

int main(void)
{
	test_known();
	test_streaming();
	test_file_digest();
	return CHECK_DONE();
}

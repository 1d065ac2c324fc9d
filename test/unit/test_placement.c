/* test_placement.c: the pair table of SPEC section 1, holders and placement rows. */
#include "check.h"
#include "spec_table.h"
#include "placement.h"

#include <stdint.h>

static void test_spec_table(void)
{
	for (unsigned row = 0; row < 4; row++) {
		for (unsigned s = 1; s <= 4; s++) {
			unsigned a = 0, b = 0;

			placement_pair(row, s, 4, &a, &b);
			CHECK_EQ(a, spec_table[row][s - 1][0]);
			CHECK_EQ(b, spec_table[row][s - 1][1]);
		}
	}
}

/* For N = 4 the holders of chunk c are exactly the servers whose table pair
 * contains c: which = 0 the one where c is first, which = 1 where c is second. */
static void test_holders_n4(void)
{
	for (unsigned row = 0; row < 4; row++) {
		unsigned seen = 0;

		for (unsigned c = 1; c <= 4; c++) {
			unsigned h0 = placement_holder(row, c, 4, 0);
			unsigned h1 = placement_holder(row, c, 4, 1);
			unsigned holders = 0;

			CHECK(h0 >= 1 && h0 <= 4);
			CHECK(h1 >= 1 && h1 <= 4);
			CHECK(h0 != h1);
			for (unsigned s = 1; s <= 4; s++) {
				const unsigned *pair = spec_table[row][s - 1];

				if (pair[0] == c) {
					CHECK_EQ(h0, s);
					holders++;
				}
				if (pair[1] == c) {
					CHECK_EQ(h1, s);
					holders++;
				}
			}
			CHECK_EQ(holders, 2);
			seen |= 1u << h0;
		}
		/* which = 0 over all chunks is a permutation: one chunk per server. */
		CHECK_EQ(seen, 0x1e);
	}
}

/* Every N: each chunk is on exactly two distinct servers (one for N = 1), the
 * holders agree with placement_pair, and first holders cover every server. */
static void test_consistency(unsigned n)
{
	for (unsigned row = 0; row < n; row++) {
		unsigned count[16] = {0};
		unsigned first_seen = 0;

		for (unsigned s = 1; s <= n; s++) {
			unsigned a = 0, b = 0;

			placement_pair(row, s, n, &a, &b);
			CHECK(a >= 1 && a <= n);
			CHECK(b >= 1 && b <= n);
			CHECK_EQ(b, a % n + 1);
			CHECK_EQ(placement_holder(row, a, n, 0), s);
			CHECK_EQ(placement_holder(row, b, n, 1), s);
			count[a]++;
			if (n >= 2) {
				CHECK(a != b);
				count[b]++;
			}
		}
		for (unsigned c = 1; c <= n; c++) {
			unsigned h0 = placement_holder(row, c, n, 0);
			unsigned h1 = placement_holder(row, c, n, 1);

			CHECK_EQ(count[c], n >= 2 ? 2 : 1);
			if (n >= 2) {
				CHECK(h0 != h1);
				/* Chained declustering: the two holders are neighbours. */
				CHECK_EQ(h0, h1 % n + 1);
			} else {
				CHECK_EQ(h0, 1);
				CHECK_EQ(h1, 1);
			}
			first_seen |= 1u << h0;
		}
		CHECK_EQ(first_seen, ((1u << (n + 1)) - 1) & ~1u);
	}
}

static unsigned row_of(const char *name, unsigned n)
{
	return placement_row(name, strlen(name), n);
}

static void test_rows(void)
{
	/* First 8 bytes of SHA-256 of each name, from sha256sum. */
	static const struct {
		const char *name;
		uint64_t h;
	} known[] = {
	    {"hello", 0x2cf24dba5fb0a30eULL},
	    {"", 0xe3b0c44298fc1c14ULL},
	    {"abc", 0xba7816bf8f01cfeaULL},
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		for (unsigned n = 1; n <= 7; n++)
			CHECK_EQ(row_of(known[i].name, n), known[i].h % n);
	}
	CHECK_EQ(row_of("hello", 4), 2);
	CHECK_EQ(row_of("abc", 4), 2);
	CHECK_EQ(row_of("", 4), 0);
	CHECK_EQ(row_of("hello", 1), 0);
	/* Only `len` bytes are hashed. */
	for (unsigned n = 1; n <= 7; n++)
		CHECK_EQ(placement_row("hello, world", 5, n), 0x2cf24dba5fb0a30eULL % n);
}

int main(void)
{
	static const unsigned ns[] = {1, 2, 3, 4, 5, 7};

	test_spec_table();
	test_holders_n4();
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		test_consistency(ns[i]);
	test_rows();
	return CHECK_DONE();
}

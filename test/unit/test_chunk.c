/* test_chunk.c: chunk boundaries for small, empty and very large files. */
#include "check.h"
#include "chunk.h"

#include <stdint.h>

/* Checks the invariants of cutting `size` bytes into n chunks. */
static void check_cut(uint64_t size, unsigned n)
{
	uint64_t expect_off = 0, total = 0;
	uint64_t longer = size % n, base = size / n;

	for (unsigned i = 1; i <= n; i++) {
		uint64_t off = UINT64_MAX, len = UINT64_MAX;

		chunk_range(size, n, i, &off, &len);
		CHECK_EQ(off, expect_off);
		CHECK_EQ(len, i <= longer ? base + 1 : base);
		expect_off = off + len;
		total += len;
	}
	CHECK_EQ(total, size);
	CHECK_EQ(expect_off, size);
}

static void test_small(void)
{
	for (uint64_t size = 0; size <= 13; size++) {
		uint64_t min = UINT64_MAX, max = 0;

		check_cut(size, 4);
		for (unsigned i = 1; i <= 4; i++) {
			uint64_t off, len;

			chunk_range(size, 4, i, &off, &len);
			min = len < min ? len : min;
			max = len > max ? len : max;
		}
		CHECK(max - min <= 1);
	}
}

static void test_literal(void)
{
	uint64_t off, len;

	/* 10 bytes in 4 chunks: 3, 3, 2, 2. */
	chunk_range(10, 4, 1, &off, &len);
	CHECK_EQ(off, 0);
	CHECK_EQ(len, 3);
	chunk_range(10, 4, 2, &off, &len);
	CHECK_EQ(off, 3);
	CHECK_EQ(len, 3);
	chunk_range(10, 4, 3, &off, &len);
	CHECK_EQ(off, 6);
	CHECK_EQ(len, 2);
	chunk_range(10, 4, 4, &off, &len);
	CHECK_EQ(off, 8);
	CHECK_EQ(len, 2);
	/* Empty file: four empty chunks at offset 0. */
	for (unsigned i = 1; i <= 4; i++) {
		chunk_range(0, 4, i, &off, &len);
		CHECK_EQ(off, 0);
		CHECK_EQ(len, 0);
	}
}

static void test_large(void)
{
	const uint64_t gib4 = 4ULL << 30;
	uint64_t off, len;

	check_cut(gib4 + 3, 4);
	check_cut((1ULL << 40) + 1, 4);
	check_cut(UINT64_MAX, 4);
	check_cut(UINT64_MAX, 7);

	/* 4 GiB + 3: chunks of 1 GiB + 1 except the last. */
	chunk_range(gib4 + 3, 4, 3, &off, &len);
	CHECK_EQ(off, 2 * ((1ULL << 30) + 1));
	CHECK_EQ(len, (1ULL << 30) + 1);
	chunk_range(gib4 + 3, 4, 4, &off, &len);
	CHECK_EQ(off, 3 * ((1ULL << 30) + 1));
	CHECK_EQ(len, 1ULL << 30);
	/* 2^40 + 1: only the first chunk is longer. */
	chunk_range((1ULL << 40) + 1, 4, 1, &off, &len);
	CHECK_EQ(off, 0);
	CHECK_EQ(len, (1ULL << 38) + 1);
	chunk_range((1ULL << 40) + 1, 4, 4, &off, &len);
	CHECK_EQ(off, 3 * (1ULL << 38) + 1);
	CHECK_EQ(len, 1ULL << 38);
}

static void test_other_n(void)
{
	uint64_t off, len;

	chunk_range(12345, 1, 1, &off, &len);
	CHECK_EQ(off, 0);
	CHECK_EQ(len, 12345);
	chunk_range((1ULL << 40) + 1, 1, 1, &off, &len);
	CHECK_EQ(off, 0);
	CHECK_EQ(len, (1ULL << 40) + 1);
	for (uint64_t size = 0; size <= 40; size++) {
		for (unsigned n = 1; n <= 9; n++)
			check_cut(size, n);
	}
}

int main(void)
{
	test_small();
	test_literal();
	test_large();
	test_other_n();
	return CHECK_DONE();
}

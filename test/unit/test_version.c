/* test_version.c: the version rule (a hybrid logical clock) and the server sets that order writes.
 */
#include "check.h"
#include "version.h"

#include <stdint.h>

#define SEC UINT64_C(1000000000)
#define DAY (86400 * SEC)

static const uint64_t now = UINT64_C(1800000000) * SEC; /* a clock in 2027 */

/* With nothing newer seen, a version follows the clock. */
static void test_follows_clock(void)
{
	uint64_t v = version_next(now, 0, 0);

	CHECK(v >= now - VERSION_TICK && v < now + VERSION_TICK);
	CHECK(v & 1);
	CHECK(version_next(now + SEC, 0, 0) > v);
}

/* A writer whose clock is behind (a day, an hour, a second, a nanosecond)
 * still numbers its write above every version it has seen. */
static void test_above_what_was_seen(void)
{
	const uint64_t behind[] = {DAY, 3600 * SEC, SEC, 1, 0};

	for (unsigned i = 0; i < sizeof(behind) / sizeof(behind[0]); i++) {
		uint64_t seen = version_next(now + behind[i], 0, UINT64_MAX);
		uint64_t v = version_next(now, seen, 0);

		CHECK(v > seen);
		CHECK(v - seen <= 2 * VERSION_TICK);
	}
	/* Seen exactly on a tick boundary, and one below it. */
	CHECK(version_next(0, 5 * VERSION_TICK, 0) > 5 * VERSION_TICK);
	CHECK(version_next(0, 5 * VERSION_TICK - 1, 0) > 5 * VERSION_TICK - 1);
	/* A chain of writes, each by a client a day behind the one before. */
	uint64_t last = 0;
	for (int k = 0; k < 10; k++) {
		uint64_t v = version_next(now - (uint64_t)k * DAY, last, (uint64_t)k * 7919);

		CHECK(v > last);
		last = v;
	}
}

/* The noise decides only the low bits: two writers at the same instant who
 * saw the same versions differ, and both stay above what they saw. */
static void test_noise(void)
{
	uint64_t seen = now + DAY;
	uint64_t a = version_next(now, seen, 0x12345), b = version_next(now, seen, 0x54321);

	CHECK(a != b);
	CHECK(a > seen && b > seen);
	CHECK_EQ_U64(a >> VERSION_NOISE_BITS, b >> VERSION_NOISE_BITS);
	CHECK_EQ_U64(version_next(now, 0, UINT64_MAX) & (VERSION_TICK - 1), VERSION_TICK - 1);
}

static void test_no_overflow(void)
{
	CHECK_EQ_U64(version_next(now, UINT64_MAX, 0), 0);
	CHECK_EQ_U64(version_next(now, UINT64_MAX - VERSION_TICK + 1, 0), 0);
	CHECK(version_next(now, UINT64_MAX - 2 * VERSION_TICK, 0) > UINT64_MAX - 2 * VERSION_TICK);
}

static void test_too_far_ahead(void)
{
	CHECK(!version_too_far_ahead(now, now, DAY));
	CHECK(!version_too_far_ahead(now + DAY, now, DAY));
	CHECK(version_too_far_ahead(now + DAY + 1, now, DAY));
	CHECK(!version_too_far_ahead(1, now, 0)); /* behind the clock is never too far */
	CHECK(version_too_far_ahead(UINT64_MAX, now, 365 * DAY));
}

static bool set_of(unsigned mask, unsigned n, bool *in)
{
	for (unsigned s = 0; s < n; s++)
		in[s] = (mask >> s) & 1;
	return true;
}

/* N = 4 by hand: the sets that hold every chunk, and the sets that see every
 * write that succeeded. */
static void test_sets_n4(void)
{
	bool in[4];

	set_of(0xF, 4, in);
	CHECK(version_covers(in, 4) && version_vouches(in, 4));
	set_of(0x5, 4, in); /* servers 1 and 3 */
	CHECK(version_covers(in, 4) && !version_vouches(in, 4));
	set_of(0xA, 4, in); /* 2 and 4 */
	CHECK(version_covers(in, 4) && !version_vouches(in, 4));
	set_of(0x3, 4, in); /* 1 and 2: chunk 3 (row 0) has no holder */
	CHECK(!version_covers(in, 4) && version_vouches(in, 4));
	set_of(0x9, 4, in); /* 4 and 1 are neighbours too */
	CHECK(!version_covers(in, 4) && version_vouches(in, 4));
	set_of(0x7, 4, in); /* any three */
	CHECK(version_covers(in, 4) && version_vouches(in, 4));
	set_of(0x0, 4, in);
	CHECK(!version_covers(in, 4) && !version_vouches(in, 4));
}

/* The property the write order rests on, for every cluster size up to 10:
 * every set that vouches meets every set that covers. */
static void test_vouching_meets_covering(void)
{
	for (unsigned n = 1; n <= 10; n++) {
		for (unsigned w = 0; w < (1u << n); w++) {
			bool win[16], rin[16];

			set_of(w, n, win);
			if (!version_covers(win, n))
				continue;
			for (unsigned r = 0; r < (1u << n); r++) {
				set_of(r, n, rin);
				if (version_vouches(rin, n))
					CHECK((w & r) != 0);
			}
		}
	}
	/* With one server down any cluster still orders writes. */
	for (unsigned n = 3; n <= 10; n++) {
		for (unsigned down = 0; down < n; down++) {
			bool in[16];

			set_of(((1u << n) - 1) & ~(1u << down), n, in);
			CHECK(version_covers(in, n) && version_vouches(in, n));
		}
	}
}

int main(void)
{
	test_follows_clock();
	test_above_what_was_seen();
	test_noise();
	test_no_overflow();
	test_too_far_ahead();
	test_sets_n4();
	test_vouching_meets_covering();
	return CHECK_DONE();
}

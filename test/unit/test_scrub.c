/* test_scrub.c: the scrub's pacing, schedule, saved position and verification records. */
#include "check.h"
#include "dfs_prot.h"
#include "scrub.h"
#include "verify_state.h"

#include <errno.h>

#define NS 1000000000LL

static void test_rate(void)
{
	struct scrub_rate r = {1000000, 0}; /* 1 MB/s */
	int64_t now = 100 * NS;

	/* The first MB read at once may go on after a short burst allowance. */
	CHECK_EQ(scrub_rate_delay(&r, now, 1000000), NS - 100000000);
	/* Reading on at once: the next MB waits a whole second more. */
	CHECK_EQ(scrub_rate_delay(&r, now, 1000000), 2 * NS - 100000000);
	/* After a long idle time there is no saved-up credit beyond the burst. */
	now += 3600 * NS;
	CHECK_EQ(scrub_rate_delay(&r, now, 500000), NS / 2 - 100000000);
	/* Unlimited. */
	r = (struct scrub_rate){0, 0};
	CHECK_EQ(scrub_rate_delay(&r, now, 1u << 30), 0);
}

static void test_position_round_trip(void)
{
	struct scrub_position p = {.started_ns = 1700000000123456789LL,
				   .ended_ns = 0,
				   .last_end_ns = 1690000000000000000LL,
				   .passes = 3,
				   .items = 10,
				   .bytes = 123456,
				   .corrupt = 1},
			      q;
	char text[256];
	int n;

	snprintf(p.user, sizeof(p.user), "AnujS");
	memset(p.hash, 'a', 64);
	p.hash[64] = '\0';
	n = scrub_position_format(&p, text, sizeof(text));
	REQUIRE(n > 0);
	REQUIRE(scrub_position_parse(text, (size_t)n, &q) == 0);
	CHECK_EQ(q.started_ns, p.started_ns);
	CHECK_EQ(q.ended_ns, 0);
	CHECK_EQ(q.last_end_ns, p.last_end_ns);
	CHECK_EQ(q.passes, 3);
	CHECK_EQ(q.items, 10);
	CHECK_EQ(q.bytes, 123456);
	CHECK_EQ(q.corrupt, 1);
	CHECK_STR(q.user, "AnujS");
	CHECK_STR(q.hash, p.hash);

	/* No file done yet. */
	p.user[0] = p.hash[0] = '\0';
	n = scrub_position_format(&p, text, sizeof(text));
	REQUIRE(scrub_position_parse(text, (size_t)n, &q) == 0);
	CHECK_STR(q.user, "");
	CHECK_STR(q.hash, "");
	/* Too small a buffer is refused rather than cut. */
	CHECK_EQ(scrub_position_format(&p, text, 20), -ENAMETOOLONG);
}

static void test_position_refused(void)
{
	static const char *const bad[] = {
	    "",
	    "dfs-scrub 2 1 0 0 0 0 0 0 - -\n",
	    "dfs-scrub 1 1 0 0 0 0 0 0 - -",	   /* no newline */
	    "dfs-scrub 1 1 0 0 0 0 0 0 -\n",	   /* a field short */
	    "dfs-scrub 1 1 0 0 0 0 0 0 - - x\n",   /* one too many */
	    "dfs-scrub 1 -1 0 0 0 0 0 0 - -\n",	   /* a sign */
	    "dfs-scrub 1 1 0 0 0 0 0 0 AnujS -\n", /* a user without a file */
	    "dfs-scrub 1 99999999999999999999 0 0 0 0 0 0 - -\n",
	    "dfs-scrub 1 1 0 0 0 0 0 0 - -\n\n",
	};
	struct scrub_position q;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(scrub_position_parse(bad[i], strlen(bad[i]), &q), -EBADMSG);
}

static void test_order_and_schedule(void)
{
	struct scrub_position p = {0};

	CHECK(scrub_position_before(&p, "a", "00"));
	snprintf(p.user, sizeof(p.user), "a");
	snprintf(p.hash, sizeof(p.hash), "50");
	CHECK(!scrub_position_before(&p, "a", "50"));
	CHECK(!scrub_position_before(&p, "a", "4f"));
	CHECK(scrub_position_before(&p, "a", "51"));
	/* Users come first: every file of a later user is after, of an earlier one before. */
	CHECK(scrub_position_before(&p, "a-b", "00") == (strcmp("a-b", "a") > 0));
	CHECK(scrub_position_before(&p, "b", "00"));

	p.started_ns = 10 * NS;
	p.ended_ns = 20 * NS;
	CHECK_EQ(scrub_next_start(&p, 60), 70 * NS);
	CHECK_EQ(scrub_next_start(&p, 0), -1);
	p.ended_ns = 0; /* a pass under way goes on at once */
	CHECK_EQ(scrub_next_start(&p, 60), 0);
	CHECK_EQ(scrub_next_start(&p, 0), 0);
}

static void test_verify_state(void)
{
	struct verify_state vs = {1700000000000000001LL, DFS_EBADMSG, 42}, back;
	char text[96];
	char chunk[VERIFY_CHUNK_NAME];
	bool tmp;
	int n = verify_state_format(&vs, text, sizeof(text));

	REQUIRE(n > 0);
	REQUIRE(verify_state_parse(text, (size_t)n, &back) == 0);
	CHECK_EQ(back.when_ns, vs.when_ns);
	CHECK_EQ(back.result, DFS_EBADMSG);
	CHECK_EQ(back.ino, 42);
	CHECK_EQ(verify_state_parse("dfs-verified 1 1 5 42\n", 22, &back), -EBADMSG); /* result */
	CHECK_EQ(verify_state_parse("dfs-verified 1 1 0 42", 21, &back), -EBADMSG);
	CHECK_EQ(verify_state_parse("dfs-verified 1 1 0 42\n", 22, &back), 0);

	CHECK(verify_state_name("0000000000000001-2.verified", chunk, &tmp));
	CHECK_STR(chunk, "0000000000000001.2");
	CHECK(!tmp);
	CHECK(verify_state_name("0000000000000001-2.verified.tmp", chunk, &tmp));
	CHECK_STR(chunk, "0000000000000001.2");
	CHECK(tmp);
	CHECK(!verify_state_name("0000000000000001.2", chunk, &tmp));
	CHECK(!verify_state_name("0000000000000001.2.verified", chunk, &tmp)); /* no dash */
	CHECK(!verify_state_name(".verified", chunk, &tmp));
}

int main(void)
{
	test_rate();
	test_position_round_trip();
	test_position_refused();
	test_order_and_schedule();
	test_verify_state();
	return CHECK_DONE();
}

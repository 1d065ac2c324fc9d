/* test_plan.c: which version a reader picks from the servers' records (plan_choose). */
#include "check.h"
#include "internal.h"
#include "placement.h"

#include <stdint.h>

#define N   4
#define NOW (UINT64_C(1800000000) * 1000000000)
#define DAY (UINT64_C(86400) * 1000000000)

/* Records built for one test: each server's current and previous. */
struct fixture {
	struct file_view view;
	dfs_chunk_sum sums[N][2][2]; /* [server][current/previous][held] */
	unsigned lacking[N][2][N];
	dfs_file_info previous[N];
};

static void fixture_init(struct fixture *f, unsigned row)
{
	memset(f, 0, sizeof(*f));
	f->view.now_ns = NOW;
	f->view.name = "f";
	f->view.name_len = 1;
	f->view.nservers = N;
	layout_init_row(&f->view.layout, row, N);
}

/* Server s answers with record slot (0: current, 1: previous) at ver: live with its
 * two chunks of a 400-byte file, or a tombstone; lacking lists servers that miss it. */
static void record(struct fixture *f, unsigned s, int slot, uint64_t ver, bool deleted,
		   const unsigned *lacking, unsigned nlacking)
{
	struct holder_view *h = &f->view.holders[s - 1];
	dfs_file_info *info = slot ? &f->previous[s - 1] : &h->rec.current;
	unsigned a = f->view.layout.pair[s - 1][0], b = f->view.layout.pair[s - 1][1];

	h->answered = h->has_record = true;
	memset(info, 0, sizeof(*info));
	info->ver = ver;
	info->deleted = deleted;
	info->nchunks = N;
	info->size = deleted ? 0 : 400;
	if (!deleted) {
		f->sums[s - 1][slot][0] = (dfs_chunk_sum){a, 100, 1000 + a};
		f->sums[s - 1][slot][1] = (dfs_chunk_sum){b, 100, 1000 + b};
		info->chunks.chunks_val = f->sums[s - 1][slot];
		info->chunks.chunks_len = 2;
	}
	for (unsigned i = 0; i < nlacking; i++)
		f->lacking[s - 1][slot][i] = lacking[i];
	info->lacking.lacking_val = f->lacking[s - 1][slot];
	info->lacking.lacking_len = nlacking;
	if (slot) {
		h->rec.previous.previous_val = &f->previous[s - 1];
		h->rec.previous.previous_len = 1;
	}
}

static void down(struct fixture *f, unsigned s)
{
	memset(&f->view.holders[s - 1], 0, sizeof(f->view.holders[s - 1]));
}

/* Every server up with one version: it is read, each chunk from its first holder. */
static void test_all_up(void)
{
	struct fixture f;
	struct read_plan p;

	fixture_init(&f, 2);
	for (unsigned s = 1; s <= N; s++)
		record(&f, s, 0, 100, false, NULL, 0);
	plan_choose(&f.view, &p);
	REQUIRE(p.found && !p.deleted);
	CHECK_EQ_U64(p.info->ver, 100);
	for (unsigned k = 1; k <= N; k++) {
		CHECK_EQ(p.source[k - 1], placement_holder(2, k, N, 0));
		CHECK_EQ(p.backup[k - 1], placement_holder(2, k, N, 1));
		CHECK_EQ_U64(p.chunk_sum[k - 1], 1000 + k);
		CHECK_EQ_U64(p.chunk_size[k - 1], 100);
	}
}

/* Version 200 was written with server 3 down (servers 1, 2 and 4 list it as lacking);
 * now server 4 is down too, so 200 is incomplete. Server 3 still has 100: it must not
 * be served, since a newer version exists. */
static void test_stale_copy_never_served(void)
{
	const unsigned lacks3[] = {3};
	struct fixture f;
	struct read_plan p;

	fixture_init(&f, 0);
	for (unsigned s = 1; s <= N; s++) {
		if (s == 3) {
			record(&f, s, 0, 100, false, NULL, 0);
		} else {
			record(&f, s, 0, 200, false, lacks3, 1);
			record(&f, s, 1, 100, false, NULL, 0);
		}
	}
	down(&f, 4);
	plan_choose(&f.view, &p);
	CHECK(!p.found && !p.deleted);
	/* With 4 back, 200 is complete again. */
	record(&f, 4, 0, 200, false, lacks3, 1);
	plan_choose(&f.view, &p);
	REQUIRE(p.found);
	CHECK_EQ_U64(p.info->ver, 200);
}

/* A tombstone counts only when two servers (or servers holding every chunk) report
 * it: one server alone cannot delete a file for readers. */
static void test_lone_tombstone_ignored(void)
{
	struct fixture f;
	struct read_plan p;

	fixture_init(&f, 1);
	for (unsigned s = 1; s <= N; s++)
		record(&f, s, 0, 100, false, NULL, 0);
	record(&f, 2, 0, 500, true, NULL, 0);
	record(&f, 2, 1, 100, false, NULL, 0);
	plan_choose(&f.view, &p);
	REQUIRE(p.found && !p.deleted);
	CHECK_EQ_U64(p.info->ver, 100);
	/* Reported by two servers, it is believed. */
	record(&f, 3, 0, 500, true, NULL, 0);
	plan_choose(&f.view, &p);
	REQUIRE(p.deleted && !p.found);
	CHECK_EQ_U64(p.info->ver, 500);
}

/* A lone tombstone that says every other server lacks it makes the read fail; it never
 * makes the reader return older bytes or report the file deleted. */
static void test_lone_tombstone_marks_fail_safe(void)
{
	const unsigned others[] = {2, 3, 4};
	struct fixture f;
	struct read_plan p;

	fixture_init(&f, 3);
	for (unsigned s = 2; s <= N; s++)
		record(&f, s, 0, 100, false, NULL, 0);
	record(&f, 1, 0, 500, true, others, 3);
	plan_choose(&f.view, &p);
	CHECK(!p.found && !p.deleted);
}

/* A record far beyond this host's clock comes only from a broken or hostile server:
 * ignored for reads and for numbering the next write. */
static void test_implausible_version_ignored(void)
{
	struct fixture f;
	struct read_plan p;

	fixture_init(&f, 0);
	for (unsigned s = 1; s <= N; s++)
		record(&f, s, 0, NOW - DAY, false, NULL, 0);
	for (unsigned s = 1; s <= 2; s++) {
		record(&f, s, 0, UINT64_MAX - 5, true, NULL, 0);
		record(&f, s, 1, NOW - DAY, false, NULL, 0);
	}
	plan_choose(&f.view, &p);
	CHECK(p.found && !p.deleted);
	CHECK_EQ_U64(plan_newest(&f.view), NOW - DAY);
	/* A day ahead is a plausible clock: believed, and the next write goes above it. */
	record(&f, 1, 0, NOW + DAY, true, NULL, 0);
	record(&f, 2, 0, NOW + DAY, true, NULL, 0);
	plan_choose(&f.view, &p);
	CHECK(p.deleted);
	CHECK_EQ_U64(plan_newest(&f.view), NOW + DAY);
}

int main(void)
{
	test_all_up();
	test_stale_copy_never_served();
	test_lone_tombstone_ignored();
	test_lone_tombstone_marks_fail_safe();
	test_implausible_version_ignored();
	return CHECK_DONE();
}

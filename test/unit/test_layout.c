/* test_layout.c: one file's layout against the pair table of SPEC section 1. */
#include "check.h"
#include "spec_table.h"
#include "layout.h"
#include "placement.h"

#include <stdio.h>

/* Names falling in every row of a 4-server cluster follow the table. */
static void test_spec_table(void)
{
	unsigned rows_seen = 0;

	for (unsigned i = 0; i < 64 && rows_seen != 0xf; i++) {
		char name[32];
		struct layout l;
		int len = snprintf(name, sizeof(name), "file-%u", i);

		layout_init(&l, name, (size_t)len, 4);
		CHECK_EQ(l.row, placement_row(name, (size_t)len, 4));
		REQUIRE(l.row < 4);
		rows_seen |= 1u << l.row;
		for (unsigned s = 1; s <= 4; s++) {
			CHECK_EQ(l.pair[s - 1][0], spec_table[l.row][s - 1][0]);
			CHECK_EQ(l.pair[s - 1][1], spec_table[l.row][s - 1][1]);
		}
	}
	CHECK_EQ(rows_seen, 0xf);
}

/* For every cluster size: each chunk has two holders that hold it in the
 * roles layout_role names, a reader's first holders cover every server once,
 * and the chunk ranges tile the file. */
static void test_holders_roles_ranges(void)
{
	for (unsigned n = 1; n <= 10; n++) {
		struct layout l;
		uint64_t size = 1000003, next = 0;
		unsigned firsts = 0;

		layout_init(&l, "photos/2024/a.jpg", 17, n);
		CHECK_EQ(l.nservers, n);
		for (unsigned k = 1; k <= n; k++) {
			unsigned h0 = l.holder[k - 1][0], h1 = l.holder[k - 1][1];
			uint64_t offset, len;

			REQUIRE(h0 >= 1 && h0 <= n && h1 >= 1 && h1 <= n);
			CHECK_EQ(layout_role(&l, h0, k), 0);
			CHECK_EQ(layout_role(&l, h1, k), n == 1 ? 0 : 1);
			if (n > 1)
				CHECK(h0 != h1);
			firsts |= 1u << h0;
			for (unsigned s = 1; s <= n; s++)
				if (s != h0 && s != h1)
					CHECK_EQ(layout_role(&l, s, k), -1);
			layout_range(&l, size, k, &offset, &len);
			CHECK_EQ_U64(offset, next);
			CHECK(len == size / n || len == size / n + 1);
			next = offset + len;
		}
		CHECK_EQ_U64(next, size);
		CHECK_EQ(firsts, ((1u << (n + 1)) - 1) & ~1u);
		CHECK_EQ(layout_role(&l, 0, 1), -1);
		CHECK_EQ(layout_role(&l, n + 1, 1), -1);
	}
}

int main(void)
{
	test_spec_table();
	test_holders_roles_ranges();
	return CHECK_DONE();
}

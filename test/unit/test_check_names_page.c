/* test_check_names_page.c: the client's check of a LIST_NAMES page (names in order, with the
 * prefix, after the last name of the page before, no more than asked for, and an end). */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "check_reply.h"

static dfs_file_info entries[DFS_LIST_MAX];
static char names[DFS_LIST_MAX][32];

/* A page of the given names (NULL-terminated), eof as given. */
static dfs_list_names_ok page_of(const char *const *list, bool_t eof)
{
	dfs_list_names_ok page = {.eof = eof};
	u_int n = 0;

	for (; list[n]; n++) {
		snprintf(names[n], sizeof(names[n]), "%s", list[n]);
		entries[n] = (dfs_file_info){.ver = 1};
		entries[n].name.dfs_name_val = names[n];
		entries[n].name.dfs_name_len = (u_int)strlen(names[n]);
	}
	page.entries.entries_val = entries;
	page.entries.entries_len = n;
	return page;
}

static int check(const char *const *list, bool_t eof, const char *prefix, const char *after,
		 unsigned max)
{
	struct list_guard g = {0};
	dfs_list_names_ok page = page_of(list, eof);
	const char *why = "unset";
	int rc = check_names_page(&g, &page, prefix, (u_int)strlen(prefix), after,
				  (u_int)strlen(after), max, &why);

	CHECK(rc == 0 ? why == NULL : why != NULL && strcmp(why, "unset") != 0);
	return rc;
}

static void test_good(void)
{
	const char *none[] = {NULL};
	const char *folder[] = {"a/1", "a/10", "a/2", "a/b/c", NULL};
	/* Bytewise: ' ' < '/' < 'b' < 0xc3; a name before the names it begins. */
	const char *mixed[] = {"a", "a b", "a/", "ab", "a\xc3\xbc", NULL};

	CHECK_EQ(check(none, TRUE, "", "", 1), 0);
	CHECK_EQ(check(none, TRUE, "zzz", "", DFS_LIST_MAX), 0);
	CHECK_EQ(check(folder, TRUE, "a/", "", 4), 0);
	CHECK_EQ(check(folder, FALSE, "a/", "a/", 256), 0);
	CHECK_EQ(check(folder, FALSE, "a", "a/0", 256), 0);
	CHECK_EQ(check(mixed, FALSE, "a", "", 5), 0);
	CHECK_EQ(check(mixed, FALSE, "", "", 5), 0);
}

static void test_bad(void)
{
	const char *none[] = {NULL};
	const char *folder[] = {"a/1", "a/10", "a/2", NULL};
	const char *twice[] = {"a/1", "a/1", NULL};
	const char *back[] = {"a/2", "a/10", NULL};
	const char *other[] = {"a/1", "b/1", NULL};
	const char *shorter[] = {"a", NULL};

	/* More than asked for. */
	CHECK_EQ(check(folder, FALSE, "a/", "", 2), -EPROTO);
	/* Not the end, yet nothing listed: the list would not advance. */
	CHECK_EQ(check(none, FALSE, "a/", "", 10), -EPROTO);
	/* Out of order, or a name twice. */
	CHECK_EQ(check(back, TRUE, "a/", "", 10), -EPROTO);
	CHECK_EQ(check(twice, TRUE, "a/", "", 10), -EPROTO);
	/* A name without the prefix, or shorter than it. */
	CHECK_EQ(check(other, TRUE, "a/", "", 10), -EPROTO);
	CHECK_EQ(check(shorter, TRUE, "a/", "", 10), -EPROTO);
	/* Not strictly after the last name of the page before. */
	CHECK_EQ(check(folder, TRUE, "a/", "a/1", 10), -EPROTO);
	CHECK_EQ(check(folder, TRUE, "a/", "a/10", 10), -EPROTO);
	CHECK_EQ(check(folder, TRUE, "a/", "a/0", 10), 0);
}

static void test_bounds(void)
{
	const char *one[] = {"x", NULL};
	dfs_list_names_ok page = page_of(one, FALSE);
	struct list_guard g = {0};
	const char *why;
	unsigned pages = 0;

	while (check_names_page(&g, &page, "", 0, "", 0, 1, &why) == 0)
		pages++;
	CHECK_EQ(pages, LIST_PAGES_MAX);
	CHECK(why != NULL);
}

int main(void)
{
	test_good();
	test_bad();
	test_bounds();
	return CHECK_DONE();
}

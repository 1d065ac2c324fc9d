/* test_check_reply.c: the client's checks of records, READ bytes and LIST pages from servers. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "check_reply.h"
#include "chunk.h"
#include "placement.h"

#define N 4

static dfs_chunk_sum chunks[2];

/* A record of name as server s of a 4-server cluster holds it: both chunks of its pair. */
static dfs_file_info record(const char *name, uint64_t ver, uint64_t size, unsigned s)
{
	dfs_file_info info = {.ver = ver, .size = size, .nchunks = N};
	unsigned row = placement_row(name, strlen(name), N), pair[2];
	uint64_t offset;

	placement_pair(row, s, N, &pair[0], &pair[1]);
	for (int i = 0; i < 2; i++) {
		chunks[i].index = pair[i];
		chunk_range(size, N, pair[i], &offset, &chunks[i].size);
		chunks[i].checksum = 0x1000u + pair[i];
	}
	info.name.dfs_name_val = (char *)name;
	info.name.dfs_name_len = (u_int)strlen(name);
	info.chunks.chunks_val = chunks;
	info.chunks.chunks_len = 2;
	return info;
}

static int check(const dfs_file_info *info, const char *name, unsigned s)
{
	const char *why = NULL;
	int err = check_file_info(info, name, name ? strlen(name) : 0, N, s, &why);

	CHECK((err == 0) == (why == NULL));
	return err;
}

static void test_file_info(void)
{
	dfs_file_info r = record("notes.txt", 7, 1001, 2);
	dfs_chunk_sum saved;

	CHECK_EQ(check(&r, "notes.txt", 2), 0);
	CHECK_EQ(check(&r, NULL, 2), 0);
	/* Another name than asked for, a name no client could have stored. */
	CHECK_EQ(check(&r, "other.txt", 2), -EPROTO);
	r.name.dfs_name_val = "bad\x1b[2J";
	r.name.dfs_name_len = 7;
	CHECK_EQ(check(&r, NULL, 2), -EPROTO);
	r = record("notes.txt", 7, 1001, 2);
	/* The chunks of another server's pair. */
	CHECK_EQ(check(&r, "notes.txt", 3), -EPROTO);
	/* A chunk count that is not the cluster's, a chunk twice, too many chunks. */
	r.nchunks = 5;
	CHECK_EQ(check(&r, NULL, 2), -EPROTO);
	r.nchunks = N;
	saved = chunks[1];
	chunks[1] = chunks[0];
	CHECK_EQ(check(&r, NULL, 2), -EPROTO);
	chunks[1] = saved;
	r.chunks.chunks_len = 3;
	CHECK_EQ(check(&r, NULL, 2), -EPROTO);
	r.chunks.chunks_len = 2;
	/* Sizes that do not add up to the file's. */
	chunks[0].size++;
	CHECK_EQ(check(&r, NULL, 2), -EPROTO);
	chunks[0].size--;
	r.size = 5000;
	CHECK_EQ(check(&r, NULL, 2), -EPROTO);
	r.size = 1001;
	/* No version. */
	r.ver = 0;
	CHECK_EQ(check(&r, NULL, 2), -EPROTO);
	r.ver = 7;
	/* One chunk only (the other copy is missing) is fine. */
	r.chunks.chunks_len = 1;
	CHECK_EQ(check(&r, NULL, 2), 0);
	/* Tombstones: no chunks, a chunk count of 0 or the cluster's. */
	r.deleted = TRUE;
	r.chunks.chunks_len = 0;
	r.nchunks = 0;
	CHECK_EQ(check(&r, NULL, 2), 0);
	r.nchunks = N;
	CHECK_EQ(check(&r, NULL, 2), 0);
	r.nchunks = 3;
	CHECK_EQ(check(&r, NULL, 2), -EPROTO);
	r.nchunks = N;
	r.chunks.chunks_len = 1;
	CHECK_EQ(check(&r, NULL, 2), -EPROTO);
	/* A server outside the cluster. */
	r = record("notes.txt", 7, 1001, 2);
	CHECK_EQ(check_file_info(&r, NULL, 0, N, 5, NULL), -EPROTO);
	CHECK_EQ(check_file_info(&r, NULL, 0, N, 0, NULL), -EPROTO);
}

static void test_lookup(void)
{
	dfs_file_info prev = record("a", 5, 10, 1);
	dfs_chunk_sum prev_chunks[2] = {chunks[0], chunks[1]};
	dfs_lookup_read_ok ok = {0};
	const char *why;
	char data[8] = "abcdefg";
	unsigned first, second;

	prev.chunks.chunks_val = prev_chunks;
	ok.rec.current = record("a", 9, 30, 1);
	placement_pair(placement_row("a", 1, N), 1, N, &first, &second);
	CHECK_EQ(check_lookup_ok(&ok.rec, "a", 1, N, 1, &why), 0);
	ok.rec.previous.previous_val = &prev;
	ok.rec.previous.previous_len = 1;
	CHECK_EQ(check_lookup_ok(&ok.rec, "a", 1, N, 1, &why), 0);
	/* A previous version must be older. */
	prev.ver = 9;
	CHECK_EQ(check_lookup_ok(&ok.rec, "a", 1, N, 1, &why), -EPROTO);
	prev.ver = 5;
	ok.rec.previous.previous_len = 2;
	CHECK_EQ(check_lookup_ok(&ok.rec, "a", 1, N, 1, &why), -EPROTO);
	ok.rec.previous.previous_len = 1;

	/* LOOKUP_READ: no bytes, the chunk's bytes, bytes of the wrong size or version. */
	CHECK_EQ(check_lookup_read_ok(&ok, "a", 1, N, 1, first, 64, &why), 0);
	ok.data.data_val = data;
	ok.data.data_len = 3;
	CHECK_EQ(check_lookup_read_ok(&ok, "a", 1, N, 1, first, 64, &why), -EPROTO);
	ok.data_ver = 9;
	ok.data.data_len = (u_int)ok.rec.current.chunks.chunks_val[0].size;
	CHECK_EQ(check_lookup_read_ok(&ok, "a", 1, N, 1, first, 64, &why), 0);
	CHECK_EQ(check_lookup_read_ok(&ok, "a", 1, N, 1, first, ok.data.data_len - 1, &why),
		 -EPROTO);
	ok.data.data_len--;
	CHECK_EQ(check_lookup_read_ok(&ok, "a", 1, N, 1, first, 64, &why), -EPROTO);
	ok.data.data_len++;
	ok.data_ver = 5;
	CHECK_EQ(check_lookup_read_ok(&ok, "a", 1, N, 1, first, 64, &why), -EPROTO);
	ok.data_ver = 9;
	/* A chunk the server does not hold. */
	CHECK_EQ(check_lookup_read_ok(&ok, "a", 1, N, 1, second % N + 1, 64, &why), -EPROTO);
}

static void test_read(void)
{
	const char *why = NULL;

	CHECK_EQ(check_read_data(100, 100, &why), 0);
	CHECK_EQ(check_read_data(0, 0, &why), 0);
	CHECK_EQ(check_read_data(101, 100, &why), -EPROTO);
	CHECK(why != NULL);
	CHECK_EQ(check_read_data(99, 100, &why), -EBADMSG);
	CHECK_EQ(check_read_data(0, 100, &why), -EBADMSG);
}

static void test_list(void)
{
	struct list_guard g = {0};
	dfs_list_ok page = {0};
	char a[64], b[64];
	const char *why;
	unsigned pages = 0;

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	page.eof = TRUE;
	CHECK_EQ(check_list_page(&g, &page, NULL, 0, &why), 0);
	/* More to come: a new position is needed. */
	g = (struct list_guard){0};
	page.eof = FALSE;
	CHECK_EQ(check_list_page(&g, &page, NULL, 0, &why), -EPROTO);
	page.cookie.cookie_val = a;
	page.cookie.cookie_len = sizeof(a);
	CHECK_EQ(check_list_page(&g, &page, NULL, 0, &why), 0);
	CHECK_EQ(check_list_page(&g, &page, a, sizeof(a), &why), -EPROTO);
	CHECK_EQ(check_list_page(&g, &page, b, sizeof(b), &why), 0);
	/* A server that always names a new position ends at the page bound. */
	g = (struct list_guard){0};
	while (check_list_page(&g, &page, b, sizeof(b), &why) == 0)
		pages++;
	CHECK_EQ(pages, LIST_PAGES_MAX);
	/* ... or at the record bound. */
	g = (struct list_guard){0};
	page.entries.entries_len = DFS_LIST_MAX;
	pages = 0;
	while (check_list_page(&g, &page, b, sizeof(b), &why) == 0)
		pages++;
	CHECK_EQ(pages, LIST_ENTRIES_MAX / DFS_LIST_MAX);
}

static void test_escape(void)
{
	char buf[16];

	CHECK_STR(check_escape("plain", 5, buf, sizeof(buf)), "plain");
	CHECK_STR(check_escape("a\x1b[2J", 5, buf, sizeof(buf)), "a\\x1b[2J");
	CHECK_STR(check_escape("\xc3\xa9\xc2\x9b", 4, buf, sizeof(buf)), "\xc3\xa9\\xc2\\x9b");
	CHECK_STR(check_escape("a\0b", 3, buf, sizeof(buf)), "a\\x00b");
	CHECK_STR(check_escape("\xff", 1, buf, sizeof(buf)), "\\xff");
	/* Cut to fit, with "..." */
	CHECK_STR(check_escape("0123456789abcdefghij", 20, buf, sizeof(buf)), "0123456789ab...");
	CHECK_STR(check_escape("0123456789abcde", 15, buf, sizeof(buf)), "0123456789abcde");
	CHECK_STR(check_escape("\x01\x02\x03\x04", 4, buf, sizeof(buf)), "\\x01\\x02\\x03...");
	CHECK_STR(check_escape("abc", 3, buf, 4), "abc");
	CHECK_STR(check_escape("abcd", 4, buf, 4), "...");
}

int main(void)
{
	test_file_info();
	test_lookup();
	test_read();
	test_list();
	test_escape();
	return CHECK_DONE();
}

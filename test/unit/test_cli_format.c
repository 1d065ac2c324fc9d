/* test_cli_format.c: the dfs tool's text formatting (JSON strings, sizes, times, progress). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli/cli_format.c"

/* s as cli_json_string writes it, in a static buffer. */
static const char *json(const char *s)
{
	static char out[1024];
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	cli_json_string(f, s);
	fclose(f);
	snprintf(out, sizeof(out), "%s", buf);
	free(buf);
	return out;
}

static void test_json(void)
{
	CHECK_STR(json("plain"), "\"plain\"");
	CHECK_STR(json(""), "\"\"");
	CHECK_STR(json("with space"), "\"with space\"");
	CHECK_STR(json("q\"b\\"), "\"q\\\"b\\\\\"");
	CHECK_STR(json("a\tb\nc\x01\x1f\x7f"), "\"a\\u0009b\\u000ac\\u0001\\u001f\\u007f\"");
	/* Valid UTF-8 (2, 3 and 4 bytes) passes through untouched. */
	CHECK_STR(json("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
		  "\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* Invalid bytes, overlong forms, surrogates and truncated sequences do not. */
	CHECK_STR(json("a\xff"), "\"a\\ufffd\"");
	CHECK_STR(json("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
	CHECK_STR(json("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
	CHECK_STR(json("\xe2\x82"), "\"\\ufffd\\ufffd\"");
	CHECK_STR(json("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

/* s as cli_term_string writes it, in a static buffer. */
static const char *term(const char *s)
{
	static char out[1024];
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	cli_term_string(f, s);
	fclose(f);
	snprintf(out, sizeof(out), "%s", buf);
	free(buf);
	return out;
}

static void test_term(void)
{
	CHECK_STR(term("plain name.txt"), "plain name.txt");
	CHECK_STR(term(""), "");
	/* Printable UTF-8 passes, quotes and backslashes too. */
	CHECK_STR(term("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"a\\b\""),
		  "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"a\\b\"");
	/* C0 controls, DEL and escape sequences are shown, not sent. */
	CHECK_STR(term("a\x1b[31mred\x1b[0m"), "a\\x1b[31mred\\x1b[0m");
	CHECK_STR(term("t\tn\nr\r\x7f\x01"), "t\\x09n\\x0ar\\x0d\\x7f\\x01");
	/* C1 controls (CSI is U+009B), byte by byte. */
	CHECK_STR(term("x\xc2\x9b"
		       "2J\xc2\x80"),
		  "x\\xc2\\x9b2J\\xc2\\x80");
	CHECK_STR(term("\xc2\xa0nbsp"), "\xc2\xa0nbsp");
	/* Characters that reorder or break the line. */
	CHECK_STR(term("abc\xe2\x80\xaetxt.exe"), "abc\\u202etxt.exe");
	CHECK_STR(term("\xe2\x81\xa6x\xe2\x81\xa9\xe2\x80\xa8"), "\\u2066x\\u2069\\u2028");
	CHECK_STR(term("\xe2\x80\x8ex\xd8\x9c"), "\\u200ex\\u061c");
	/* Bytes that are not UTF-8. */
	CHECK_STR(term("a\xff\xc0\xaf\xed\xa0\x80"), "a\\xff\\xc0\\xaf\\xed\\xa0\\x80");
	CHECK_STR(term("\xe2\x82"), "\\xe2\\x82");
	/* JSON escapes the same characters. */
	CHECK_STR(json("x\xc2\x9by\xe2\x80\xae"), "\"x\\u009by\\u202e\"");
}

static void test_human(void)
{
	char b[32];

	CHECK_STR(cli_human_bytes(0, b, sizeof(b)), "0 B");
	CHECK_STR(cli_human_bytes(1023, b, sizeof(b)), "1023 B");
	CHECK_STR(cli_human_bytes(1024, b, sizeof(b)), "1.0 KiB");
	CHECK_STR(cli_human_bytes(1536, b, sizeof(b)), "1.5 KiB");
	CHECK_STR(cli_human_bytes(1048575, b, sizeof(b)), "1.0 MiB");
	CHECK_STR(cli_human_bytes(47395635ull, b, sizeof(b)), "45.2 MiB");
	CHECK_STR(cli_human_bytes(256ull << 20, b, sizeof(b)), "256.0 MiB");
	CHECK_STR(cli_human_bytes(5ull << 40, b, sizeof(b)), "5.0 TiB");
	CHECK_STR(cli_human_bytes(UINT64_MAX, b, sizeof(b)), "16.0 EiB");
}

static void test_times(void)
{
	char b[64];

	CHECK_STR(cli_duration(0, b, sizeof(b)), "0:00");
	CHECK_STR(cli_duration(61, b, sizeof(b)), "1:01");
	CHECK_STR(cli_duration(3599, b, sizeof(b)), "59:59");
	CHECK_STR(cli_duration(3661, b, sizeof(b)), "1:01:01");
	CHECK_STR(cli_iso_time(0, b, sizeof(b)), "1970-01-01T00:00:00Z");
	CHECK_STR(cli_iso_time(1714566896123456789LL, b, sizeof(b)), "2024-05-01T12:34:56Z");
	CHECK_STR(cli_iso_time(-1, b, sizeof(b)), "1969-12-31T23:59:59Z");
}

static void test_copies(void)
{
	unsigned c[4] = {2, 2, 1, 0};
	char b[64];

	CHECK_STR(cli_copies(c, 4, b, sizeof(b)), "2,2,1,0");
	CHECK_STR(cli_copies(c, 1, b, sizeof(b)), "2");
	CHECK_STR(cli_copies(c, 0, b, sizeof(b)), "");
}

static void test_progress(void)
{
	char b[256];

	CHECK_STR(cli_progress_line("big.iso", 47395635ull, 256ull << 20, 0.25, 0, b, sizeof(b)),
		  "big.iso  45.2 MiB / 256.0 MiB  180.8 MiB/s  0:01 left");
	CHECK_STR(cli_progress_line("x", 0, 100, 1.0, 0, b, sizeof(b)),
		  "x  0 B / 100 B  0 B/s  -:-- left");
	/* A long name is cut, on a UTF-8 boundary, to keep the line in the width. */
	cli_progress_line("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 1024,
			  2048, 1.0, 48, b, sizeof(b));
	CHECK_STR(b, "\xc3\xa9\xc3\xa9...  1.0 KiB / 2.0 KiB  1.0 KiB/s  0:01 left");
	CHECK(strlen(b) <= 48);
}

static void test_basename(void)
{
	char b[8];

	CHECK_EQ(cli_basename("/a/b/file.txt", b, sizeof(b)), -ENAMETOOLONG);
	CHECK_EQ(cli_basename("/a/b/f.txt", b, sizeof(b)), 0);
	CHECK_STR(b, "f.txt");
	CHECK_EQ(cli_basename("dir//", b, sizeof(b)), 0);
	CHECK_STR(b, "dir");
	CHECK_EQ(cli_basename("plain", b, sizeof(b)), 0);
	CHECK_STR(b, "plain");
	CHECK_EQ(cli_basename("/", b, sizeof(b)), 0);
	CHECK_STR(b, "");
	CHECK_EQ(cli_basename("", b, sizeof(b)), 0);
	CHECK_STR(b, "");
	CHECK_EQ(cli_basename("a b/c d", b, sizeof(b)), 0);
	CHECK_STR(b, "c d");
}

/* Bit of server s. */
#define S(s) (UINT64_C(1) << ((s)-1))

static void test_survives(void)
{
	/* Row 0 of four servers: server s holds chunks s and s+1 (4 wraps to 1),
	 * so chunk k is on servers k-1 and k. */
	uint64_t all[4] = {S(4) | S(1), S(1) | S(2), S(2) | S(3), S(3) | S(4)};
	/* Server 2 down: chunk 2 only on 1, chunk 3 only on 3. */
	uint64_t one_down[4] = {S(4) | S(1), S(1), S(3), S(3) | S(4)};
	/* Servers 2 and 3 down: chunk 3 is nowhere. */
	uint64_t two_down[4] = {S(4) | S(1), S(1), 0, S(4)};
	/* Servers 1 and 3 down: every chunk on one server. */
	uint64_t apart[4] = {S(4), S(2), S(2), S(4)};
	uint64_t held;
	char b[64];

	CHECK_EQ(cli_survivable(all, 4, &held), S(1) | S(2) | S(3) | S(4));
	CHECK_EQ(held, S(1) | S(2) | S(3) | S(4));
	CHECK_STR(cli_survives(all, 4, b, sizeof(b)), "any");
	CHECK_EQ(cli_survivable(one_down, 4, &held), S(4));
	CHECK_EQ(held, S(1) | S(3) | S(4));
	CHECK_STR(cli_survives(one_down, 4, b, sizeof(b)), "4");
	CHECK_EQ(cli_survivable(two_down, 4, NULL), 0);
	CHECK_STR(cli_survives(two_down, 4, b, sizeof(b)), "none");
	CHECK_STR(cli_survives(apart, 4, b, sizeof(b)), "none");
	/* Servers 1 and 3 survivable: chunks single-held only on 2 and 4. */
	uint64_t mixed[4] = {S(2), S(1) | S(3), S(4), S(1) | S(3)};
	CHECK_STR(cli_survives(mixed, 4, b, sizeof(b)), "1,3");
	CHECK_STR(cli_survives(all, 0, b, sizeof(b)), "none");
	/* Server 64 is the last bit. */
	uint64_t high[2] = {S(64) | S(1), S(1)};
	CHECK_STR(cli_survives(high, 2, b, sizeof(b)), "64");
}

int main(void)
{
	test_json();
	test_term();
	test_human();
	test_times();
	test_copies();
	test_progress();
	test_basename();
	test_survives();
	return CHECK_DONE();
}

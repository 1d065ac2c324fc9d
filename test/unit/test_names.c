/* test_names.c: remote file name (folders included) and user name rules (SPEC section 3). */
#include "check.h"
#include "names.h"

#include <errno.h>

static void expect_ok(const char *name, size_t len)
{
	const char *why = "unset";
	int ret = name_check(name, len, &why);

	if (ret != 0)
		fprintf(stderr, "rejected valid name (%zu bytes): %s\n", len, why ? why : "?");
	CHECK_EQ(ret, 0);
}

static void expect_bad(const char *name, size_t len, int err, const char *reason)
{
	const char *why = NULL;

	CHECK_EQ(name_check(name, len, &why), err);
	CHECK(why != NULL);
	if (why)
		CHECK_STR(why, reason);
	/* why may be NULL. */
	CHECK_EQ(name_check(name, len, NULL), err);
}

#define OK(s)	       expect_ok(s, sizeof(s) - 1)
#define BAD(s, reason) expect_bad(s, sizeof(s) - 1, -EINVAL, reason)
#define BAD_UTF8(s)    BAD(s, "is not valid UTF-8")

static void test_valid(void)
{
	char buf[256];

	OK("a");
	OK("report.pdf");
	OK("r\xc3\xa9sum\xc3\xa9.pdf");		    /* résumé.pdf */
	OK("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"); /* 日本語 */
	OK("a b c");
	OK("...");
	OK(".hidden");
	OK("..a");
	OK("-rf");
	OK("\xf0\x9f\x98\x80"); /* U+1F600 */
	OK("\xf4\x8f\xbf\xbf"); /* U+10FFFF */
	OK("\xef\xbf\xbf");	/* U+FFFF */
	OK("\xed\x9f\xbf");	/* U+D7FF, just below the surrogates */
	OK("\xee\x80\x80");	/* U+E000, just above */
	OK("\xc2\x80");		/* U+0080, smallest 2-byte form */
	OK("\xe0\xa0\x80");	/* U+0800 */
	OK("\xf0\x90\x80\x80"); /* U+10000 */
	OK("tab\xc2\x85");	/* U+0085 is a C1 control but only bytes are refused */

	OK("a/b");
	OK("photos/2024/a.jpg");
	OK("my folder/r\xc3\xa9sum\xc3\xa9.pdf");
	OK(".hidden/..a/.../x");
	OK("a/-rf");

	memset(buf, 'x', sizeof(buf));
	expect_ok(buf, 255);
	/* 255 bytes ending in a complete 2-byte character. */
	buf[253] = '\xc3';
	buf[254] = '\xa9';
	expect_ok(buf, 255);
}

/* A name of total bytes made of components of comp bytes (the last one shorter). */
static void make_path(char *buf, size_t total, size_t comp)
{
	memset(buf, 'p', total);
	for (size_t i = comp; i < total; i += comp + 1)
		buf[i] = '/';
}

static void test_paths(void)
{
	static char buf[5000];

	make_path(buf, 4096, 254);
	CHECK(buf[4095] != '/');
	expect_ok(buf, 4096);
	make_path(buf, 4097, 255);
	expect_bad(buf, 4097, -ENAMETOOLONG, "is longer than 4096 bytes");
	make_path(buf, 4095, 1);
	CHECK(buf[4094] != '/');
	expect_ok(buf, 4095);
	make_path(buf, 600, 256);
	expect_bad(buf, 600, -ENAMETOOLONG, "has a component longer than 255 bytes");
	memset(buf, 'x', 300);
	buf[0] = 'a';
	buf[1] = '/';
	expect_bad(buf, 300, -ENAMETOOLONG, "has a component longer than 255 bytes");
	expect_ok(buf, 257);

	BAD("/", "begins with '/'");
	BAD("/a", "begins with '/'");
	BAD("a/", "ends with '/'");
	BAD("dir/", "ends with '/'");
	BAD("a//b", "has an empty component ('//')");
	BAD("a/./b", "has a '.' or '..' component");
	BAD("a/../b", "has a '.' or '..' component");
	BAD("../x", "has a '.' or '..' component");
	BAD("x/..", "has a '.' or '..' component");
	BAD("./x", "has a '.' or '..' component");
	BAD("a/b\nc", "contains a control character");
	BAD("a/\xff", "is not valid UTF-8");
}

static void test_invalid(void)
{
	char buf[300];

	expect_bad("", 0, -EINVAL, "is empty");
	BAD(".", "is '.' or '..'");
	BAD("..", "is '.' or '..'");
	BAD("a\nb", "contains a control character");
	BAD("a\tb", "contains a control character");
	BAD("\x1f", "contains a control character");
	BAD("a\x7f", "contains a control character");
	BAD("a\0b", "contains a control character");

	memset(buf, 'x', sizeof(buf));
	expect_bad(buf, 256, -ENAMETOOLONG, "has a component longer than 255 bytes");
	expect_bad(buf, 300, -ENAMETOOLONG, "has a component longer than 255 bytes");

	BAD_UTF8("\xc0\x80");	      /* overlong NUL */
	BAD_UTF8("\xc1\xbf");	      /* overlong 2-byte */
	BAD_UTF8("\xe0\x80\x80");     /* overlong 3-byte */
	BAD_UTF8("\xe0\x9f\xbf");     /* overlong U+07FF */
	BAD_UTF8("\xf0\x80\x80\x80"); /* overlong 4-byte */
	BAD_UTF8("\xf0\x8f\xbf\xbf"); /* overlong U+FFFF */
	BAD_UTF8("\xed\xa0\x80");     /* U+D800 */
	BAD_UTF8("\xed\xbf\xbf");     /* U+DFFF */
	BAD_UTF8("\xf4\x90\x80\x80"); /* U+110000 */
	BAD_UTF8("\xf5\x80\x80\x80"); /* lead byte above F4 */
	BAD_UTF8("\xff");
	BAD_UTF8("\xfe");
	BAD_UTF8("\x80");	      /* stray continuation */
	BAD_UTF8("abc\xbf");	      /* stray continuation at the end */
	BAD_UTF8("\xc3");	      /* truncated 2-byte */
	BAD_UTF8("r\xc3sum\xc3\xa9"); /* lead byte followed by ASCII */
	BAD_UTF8("\xe6\x97");	      /* truncated 3-byte */
	BAD_UTF8("\xf0\x9f\x98");     /* truncated 4-byte */
	BAD_UTF8("\xe6\x97\xa5\xe6"); /* truncated after a good character */
	BAD_UTF8("\xc3\xa9\xa9");     /* extra continuation */
	BAD_UTF8("\xe6\x97\x41");     /* continuation replaced by ASCII */

	/* 255 bytes whose last character is cut in half. */
	memset(buf, 'x', sizeof(buf));
	buf[254] = '\xc3';
	expect_bad(buf, 255, -EINVAL, "is not valid UTF-8");
}

static void expect_user(const char *user, int ok, const char *reason)
{
	const char *why = NULL;
	int ret = user_name_check(user, &why);

	CHECK_EQ(ret, ok ? 0 : -EINVAL);
	if (!ok) {
		CHECK(why != NULL);
		if (why && reason)
			CHECK_STR(why, reason);
	}
}

static void test_users(void)
{
	char buf[80];

	expect_user("AnujS", 1, NULL);
	expect_user("AnujK", 1, NULL);
	expect_user("a", 1, NULL);
	expect_user("user.name_2-x", 1, NULL);
	expect_user("a.", 1, NULL);
	expect_user("", 0, "is empty");
	expect_user(".hidden", 0, "starts with '.'");
	expect_user("..", 0, "starts with '.'");
	expect_user("a b", 0, "contains a character other than A-Z a-z 0-9 . _ -");
	expect_user("a/b", 0, NULL);
	expect_user("r\xc3\xa9my", 0, NULL);
	expect_user("a:b", 0, NULL);
	expect_user("a\n", 0, NULL);

	memset(buf, 'u', sizeof(buf));
	buf[64] = '\0';
	expect_user(buf, 1, NULL);
	buf[64] = 'u';
	buf[65] = '\0';
	expect_user(buf, 0, "is longer than 64 bytes");
	CHECK_EQ(user_name_check("ok", NULL), 0);
	CHECK_EQ(user_name_check("no way", NULL), -EINVAL);
}

int main(void)
{
	test_valid();
	test_invalid();
	test_paths();
	test_users();
	return CHECK_DONE();
}

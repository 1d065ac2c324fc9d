/* test_redis_url.c: the parts taken from redis:// and rediss:// URLs. */
#include "check.h"
#include "redis_url.h"

#include <errno.h>
#include <string.h>

static void test_parts(void)
{
	struct redis_url u;
	char err[256];

	REQUIRE(redis_url_parse(&u, "redis://h.example", err, sizeof(err)) == 0);
	CHECK_STR(u.host, "h.example");
	CHECK_STR(u.port, "6379");
	CHECK_STR(u.user, "");
	CHECK_STR(u.password, "");
	CHECK_EQ(u.dbnum, 0);
	CHECK(!u.tls);

	REQUIRE(redis_url_parse(&u, "rediss://dfs:p%40ss%2Fw@[::1]:6390/3", err, sizeof(err)) == 0);
	CHECK(u.tls);
	CHECK_STR(u.user, "dfs");
	CHECK_STR(u.password, "p@ss/w");
	CHECK_STR(u.host, "::1");
	CHECK_STR(u.port, "6390");
	CHECK_EQ(u.dbnum, 3);

	REQUIRE(redis_url_parse(&u, "redis://:secret@h:1", err, sizeof(err)) == 0);
	CHECK_STR(u.user, "");
	CHECK_STR(u.password, "secret");
}

static void test_options(void)
{
	struct redis_url u;
	char err[256];

	REQUIRE(redis_url_parse(&u,
				"rediss://h:6379/1?ca=/etc/a%20b/ca.pem&cert=/c@x.pem&key=/k.pem&"
				"primary=10.0.0.1:6380",
				err, sizeof(err)) == 0);
	CHECK_STR(u.ca, "/etc/a b/ca.pem");
	CHECK_STR(u.cert, "/c@x.pem");
	CHECK_STR(u.key, "/k.pem");
	CHECK_STR(u.primary_host, "10.0.0.1");
	CHECK_STR(u.primary_port, "6380");
	CHECK_EQ(u.dbnum, 1);
	CHECK_STR(u.host, "h");

	REQUIRE(redis_url_parse(&u, "redis://h?primary=[fd00::1]", err, sizeof(err)) == 0);
	CHECK_STR(u.primary_host, "fd00::1");
	CHECK_STR(u.primary_port, "6379");
}

static void test_refused(void)
{
	struct redis_url u;
	char err[256];

	CHECK_EQ(redis_url_parse(&u, "http://h", err, sizeof(err)), -EINVAL);
	CHECK_EQ(redis_url_parse(&u, "redis://h:port", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "");
	CHECK_EQ(redis_url_parse(&u, "redis://h?ca=/ca.pem", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "user database URL: ca, cert and key need rediss://");
	CHECK_EQ(redis_url_parse(&u, "rediss://h?cert=/c.pem", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "user database URL: give both cert and key, or neither");
	CHECK_EQ(redis_url_parse(&u, "redis://h?db=2", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "user database URL: unknown option 'db' (ca, cert, key, primary)");
	CHECK_EQ(redis_url_parse(&u, "redis://h?primary", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "user database URL: option 'primary' is not NAME=VALUE");
	CHECK_EQ(redis_url_parse(&u, "redis://h?primary=h:x", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "user database URL: primary=h:x is not HOST:PORT");
}

int main(void)
{
	test_parts();
	test_options();
	test_refused();
	return CHECK_DONE();
}

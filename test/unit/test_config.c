/* test_config.c: the configuration parser, its error messages and typed values. */
#include "check.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

static char err[512];

static struct cfg *parse(const char *text)
{
	struct cfg *cfg = (struct cfg *)1;
	int ret = cfg_parse_text(text, strlen(text), "t.conf", &cfg, err, sizeof(err));

	if (ret != 0)
		fprintf(stderr, "unexpected parse error %d: %s\n", ret, err);
	CHECK_EQ(ret, 0);
	return cfg;
}

/* Parses text that must fail with `code` and exactly `message`. */
static void expect_error(const char *text, size_t len, int code, const char *message)
{
	struct cfg *cfg = (struct cfg *)1;

	memset(err, 'x', sizeof(err) - 1);
	err[sizeof(err) - 1] = '\0';
	CHECK_EQ(cfg_parse_text(text, len, "t.conf", &cfg, err, sizeof(err)), code);
	CHECK(cfg == NULL);
	CHECK_STR(err, message);
}

#define BAD(text, message) expect_error(text, strlen(text), -EINVAL, message)

static const struct cfg_entry *find(const struct cfg *cfg, const char *section, const char *arg,
				    const char *key)
{
	for (size_t i = 0; i < cfg->count; i++) {
		const struct cfg_entry *e = &cfg->entries[i];

		if (!strcmp(e->section, section) && !strcmp(e->arg, arg) && !strcmp(e->key, key))
			return e;
	}
	return NULL;
}

static void check_entry(const struct cfg *cfg, const char *section, const char *arg,
			const char *key, const char *value, int line)
{
	const struct cfg_entry *e = find(cfg, section, arg, key);

	CHECK(e != NULL);
	if (!e) {
		fprintf(stderr, "missing [%s %s] %s\n", section, arg, key);
		return;
	}
	CHECK_STR(e->value, value);
	CHECK_EQ(e->line, line);
}

static void test_happy(void)
{
	static const char text[] = "# dfs client configuration\n"
				   "tls = required\n"
				   "   ca=/etc/dfs/ca.pem   \n"
				   "\n"
				   "connect_timeout_ms = 2000 # two seconds\n"
				   "[server 1]\n"
				   "host = 127.0.0.1\n"
				   "program = 0x20000101\r\n"
				   "\t[ server\t2 ]  # the second\n"
				   "host = localhost\n"
				   "tls_name = \"my host # 2\"  # quoted\n"
				   "empty =\n"
				   "quoted_empty = \"\"\n"
				   "[users]\n"
				   "a.b-c_d = x = y\n"
				   "host = other\n"
				   "[server 1.5:x]\n"
				   "   # indented comment\n"
				   "key = last";
	struct cfg *cfg = parse(text);

	if (!cfg)
		return;
	CHECK_STR(cfg->path, "t.conf");
	CHECK_EQ(cfg->count, 12);
	check_entry(cfg, "", "", "tls", "required", 2);
	check_entry(cfg, "", "", "ca", "/etc/dfs/ca.pem", 3);
	check_entry(cfg, "", "", "connect_timeout_ms", "2000", 5);
	check_entry(cfg, "server", "1", "host", "127.0.0.1", 7);
	check_entry(cfg, "server", "1", "program", "0x20000101", 8);
	check_entry(cfg, "server", "2", "host", "localhost", 10);
	check_entry(cfg, "server", "2", "tls_name", "my host # 2", 11);
	check_entry(cfg, "server", "2", "empty", "", 12);
	check_entry(cfg, "server", "2", "quoted_empty", "", 13);
	check_entry(cfg, "users", "", "a.b-c_d", "x = y", 15);
	check_entry(cfg, "users", "", "host", "other", 16);
	check_entry(cfg, "server", "1.5:x", "key", "last", 19);
	/* Entries come in file order. */
	CHECK_STR(cfg->entries[0].key, "tls");
	CHECK_STR(cfg->entries[11].key, "key");
	cfg_free(cfg);

	cfg = parse("");
	if (cfg)
		CHECK_EQ(cfg->count, 0);
	cfg_free(cfg);
	cfg = parse("\n\n# only comments\n   \n");
	if (cfg)
		CHECK_EQ(cfg->count, 0);
	cfg_free(cfg);
	cfg_free(NULL);
}

static void test_syntax_errors(void)
{
	BAD("a = 1\nnot a pair\n", "t.conf:2: expected 'key = value'");
	BAD("justakey\n", "t.conf:1: expected 'key = value'");
	BAD("= value\n", "t.conf:1: expected 'key = value'");
	BAD("ho@st = x\n", "t.conf:1: expected 'key = value'");
	BAD("two words = x\n", "t.conf:1: expected 'key = value'");
	BAD("\"key\" = x\n", "t.conf:1: expected 'key = value'");
	BAD("[]\n", "t.conf:1: expected a section name after '['");
	BAD("[ ]\n", "t.conf:1: expected a section name after '['");
	BAD("[server\n", "t.conf:1: expected '[name]' or '[name argument]'");
	BAD("[server 1\n", "t.conf:1: expected '[name]' or '[name argument]'");
	BAD("[server 1 2]\n", "t.conf:1: expected '[name]' or '[name argument]'");
	BAD("[ser.ver]\n", "t.conf:1: expected '[name]' or '[name argument]'");
	BAD("[server x/y]\n", "t.conf:1: expected '[name]' or '[name argument]'");
	BAD("[server] junk\n", "t.conf:1: unexpected text after ']'");
	BAD("[server]]\n", "t.conf:1: unexpected text after ']'");
	BAD("a = \"open\n", "t.conf:1: missing closing quote");
	BAD("a = \"x\" y\n", "t.conf:1: unexpected text after closing quote");
	BAD("a = \"x\"\"y\"\n", "t.conf:1: unexpected text after closing quote");
	BAD("a = 1\nb = x\x01y\n", "t.conf:2: contains a control character");
	BAD("a = 1\rb = 2\n", "t.conf:1: contains a control character");
	BAD("a = x\x7f\n", "t.conf:1: contains a control character");
	expect_error("a = 1\nb\0 = 2\n", 12, -EINVAL, "t.conf:2: contains a control character");
}

static void test_duplicates(void)
{
	struct cfg *cfg;

	BAD("a = 1\nb = 2\n\na = 3\n", "t.conf:4: duplicate key 'a' (first set on line 1)");
	BAD("[server 1]\nhost = x\n[server 2]\nhost = y\n[server 1]\nhost = z\n",
	    "t.conf:6: duplicate key 'host' (first set on line 2)");
	/* The earliest repeat in the file is the one reported. */
	BAD("z = 1\na = 1\nz = 2\na = 2\na = 3\n",
	    "t.conf:3: duplicate key 'z' (first set on line 1)");
	/* The same key in different sections, or different arguments, is fine. */
	cfg = parse("host = a\n[server 1]\nhost = b\n[server 2]\nhost = c\n[server]\nhost = d\n");
	if (cfg)
		CHECK_EQ(cfg->count, 4);
	cfg_free(cfg);
	/* Keys are case-sensitive. */
	cfg = parse("Host = a\nhost = b\n");
	cfg_free(cfg);
}

static void test_limits(void)
{
	size_t big = 1024 * 1024;
	char *text = malloc(big + 2);
	struct cfg *cfg = NULL;
	char line[4200];

	/* A line of exactly 4096 bytes is accepted, 4097 is not. */
	memcpy(line, "k = ", 4);
	memset(line + 4, 'v', sizeof(line) - 4);
	line[4096] = '\n';
	line[4097] = '\0';
	cfg = parse(line);
	if (cfg)
		CHECK_EQ(strlen(cfg->entries[0].value), 4092);
	cfg_free(cfg);
	line[4096] = 'v';
	line[4097] = '\n';
	line[4098] = '\0';
	BAD(line, "t.conf:1: line is longer than 4096 bytes");
	memmove(line + 6, line, 4099);
	memcpy(line, "a = 1\n", 6);
	BAD(line, "t.conf:2: line is longer than 4096 bytes");
	/* A CR before the newline does not count. */
	memcpy(line, "k = ", 4);
	memset(line + 4, 'v', 4092);
	memcpy(line + 4096, "\r\n", 3);
	cfg = parse(line);
	cfg_free(cfg);

	/* Exactly 1 MiB of comments parses; one byte more is refused. */
	if (!text) {
		CHECK(text != NULL);
		return;
	}
	for (size_t i = 0; i < big; i += 64) {
		memset(text + i, ' ', 64);
		text[i] = '#';
		text[i + 63] = '\n';
	}
	CHECK_EQ(cfg_parse_text(text, big, "t.conf", &cfg, err, sizeof(err)), 0);
	cfg_free(cfg);
	text[big] = '\n';
	expect_error(text, big + 1, -EFBIG, "t.conf: file is larger than 1 MiB");

	/* Many short lines (a worst case for the duplicate check). */
	for (size_t i = 0; i + 8 <= big; i += 8)
		snprintf(text + i, 9, "k%05zx=\n", (i / 8) & 0xfffff);
	CHECK_EQ(cfg_parse_text(text, big, "t.conf", &cfg, err, sizeof(err)), 0);
	if (cfg)
		CHECK_EQ(cfg->count, big / 8);
	cfg_free(cfg);
	free(text);
}

static void test_files(void)
{
	char path[] = "/tmp/dfs-test-config-XXXXXX";
	static const char text[] = "[server 3]\nport = 2049\nport = 2050\n";
	struct cfg *cfg = (struct cfg *)1;
	int fd = mkstemp(path);
	char want[128];

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(write(fd, text, sizeof(text) - 1), (long long)(sizeof(text) - 1));
	close(fd);
	CHECK_EQ(cfg_parse_file(path, &cfg, err, sizeof(err)), -EINVAL);
	CHECK(cfg == NULL);
	snprintf(want, sizeof(want), "%s:3: duplicate key 'port' (first set on line 2)", path);
	CHECK_STR(err, want);

	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, text, 23), 23);
	close(fd);
	CHECK_EQ(cfg_parse_file(path, &cfg, err, sizeof(err)), 0);
	if (cfg) {
		CHECK_STR(cfg->path, path);
		CHECK_EQ(cfg->count, 1);
		check_entry(cfg, "server", "3", "port", "2049", 2);
	}
	cfg_free(cfg);
	unlink(path);

	cfg = (struct cfg *)1;
	CHECK_EQ(cfg_parse_file("/nonexistent/dfs.conf", &cfg, err, sizeof(err)), -ENOENT);
	CHECK(cfg == NULL);
	CHECK_STR(err, "/nonexistent/dfs.conf: No such file or directory");
	CHECK_EQ(cfg_parse_file("/", &cfg, err, sizeof(err)), -EISDIR);
	CHECK_STR(err, "/: Is a directory");
	/* No room for a message is allowed. */
	CHECK_EQ(cfg_parse_file("/nonexistent/dfs.conf", &cfg, NULL, 0), -ENOENT);
	CHECK_EQ(cfg_parse_text("x", 1, "t.conf", &cfg, NULL, 0), -EINVAL);
}

static void expect_u64(const char *value, uint64_t min, uint64_t max, int ok, uint64_t want,
		       const char *message)
{
	struct cfg_entry e = {.section = "", .arg = "", .key = "port", .value = value, .line = 7};
	struct cfg cfg = {.path = "dfs.conf"};
	uint64_t v = 12345;

	err[0] = '\0';
	if (ok) {
		CHECK_EQ(cfg_u64(&cfg, &e, min, max, &v, err, sizeof(err)), 0);
		CHECK(v == want);
		if (v != want)
			fprintf(stderr, "  value '%s'\n", value);
	} else {
		CHECK_EQ(cfg_u64(&cfg, &e, min, max, &v, err, sizeof(err)), -EINVAL);
		CHECK(v == 12345);
		CHECK_STR(err, message);
	}
}

static void test_u64(void)
{
	expect_u64("0", 0, UINT64_MAX, 1, 0, NULL);
	expect_u64("2049", 1, 65535, 1, 2049, NULL);
	expect_u64("007", 0, 10, 1, 7, NULL);
	expect_u64("0x20000101", 0, UINT64_MAX, 1, 0x20000101, NULL);
	expect_u64("0XfF", 0, UINT64_MAX, 1, 255, NULL);
	expect_u64("18446744073709551615", 0, UINT64_MAX, 1, UINT64_MAX, NULL);
	expect_u64("0xffffffffffffffff", 0, UINT64_MAX, 1, UINT64_MAX, NULL);
	expect_u64("65535", 1, 65535, 1, 65535, NULL);
	expect_u64("1", 1, 65535, 1, 1, NULL);

	expect_u64("65536", 1, 65535, 0, 0, "dfs.conf:7: port: 65536 is out of range 1..65535");
	expect_u64("0", 1, 65535, 0, 0, "dfs.conf:7: port: 0 is out of range 1..65535");
	expect_u64("18446744073709551616", 0, UINT64_MAX, 0, 0,
		   "dfs.conf:7: port: 18446744073709551616 is out of range "
		   "0..18446744073709551615");
	expect_u64("0x10000000000000000", 0, UINT64_MAX, 0, 0,
		   "dfs.conf:7: port: 0x10000000000000000 is out of range "
		   "0..18446744073709551615");
	expect_u64("99999999999999999999999", 0, 100, 0, 0,
		   "dfs.conf:7: port: 99999999999999999999999 is out of range 0..100");
	expect_u64("", 0, 100, 0, 0, "dfs.conf:7: port: '' is not a number");
	expect_u64("-1", 0, 100, 0, 0, "dfs.conf:7: port: '-1' is not a number");
	expect_u64("+1", 0, 100, 0, 0, "dfs.conf:7: port: '+1' is not a number");
	expect_u64(" 1", 0, 100, 0, 0, "dfs.conf:7: port: ' 1' is not a number");
	expect_u64("1 ", 0, 100, 0, 0, "dfs.conf:7: port: '1 ' is not a number");
	expect_u64("12ab", 0, 100, 0, 0, "dfs.conf:7: port: '12ab' is not a number");
	expect_u64("10k", 0, 100, 0, 0, "dfs.conf:7: port: '10k' is not a number");
	expect_u64("0x", 0, 100, 0, 0, "dfs.conf:7: port: '0x' is not a number");
	expect_u64("0xg", 0, 100, 0, 0, "dfs.conf:7: port: '0xg' is not a number");
	expect_u64("1.5", 0, 100, 0, 0, "dfs.conf:7: port: '1.5' is not a number");
	expect_u64("0x-1", 0, 100, 0, 0, "dfs.conf:7: port: '0x-1' is not a number");
}

static void test_bool_choice_error(void)
{
	static const char *const yes[] = {"yes", "true", "on", "1", "YES", "True"};
	static const char *const no[] = {"no", "false", "off", "0", "Off"};
	static const char *const tls_words[] = {"required", "optional", "off", NULL};
	struct cfg_entry e = {.section = "", .arg = "", .key = "tls", .line = 3};
	struct cfg cfg = {.path = "dfsd.conf"};
	bool b;
	int choice = -1;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		e.value = yes[i];
		b = false;
		CHECK_EQ(cfg_bool(&cfg, &e, &b, err, sizeof(err)), 0);
		CHECK(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		e.value = no[i];
		b = true;
		CHECK_EQ(cfg_bool(&cfg, &e, &b, err, sizeof(err)), 0);
		CHECK(!b);
	}
	e.value = "maybe";
	CHECK_EQ(cfg_bool(&cfg, &e, &b, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "dfsd.conf:3: tls: expected yes/no, true/false, on/off or 1/0, got 'maybe'");
	e.value = "";
	CHECK_EQ(cfg_bool(&cfg, &e, &b, err, sizeof(err)), -EINVAL);

	e.value = "optional";
	CHECK_EQ(cfg_choice(&cfg, &e, tls_words, &choice, err, sizeof(err)), 0);
	CHECK_EQ(choice, 1);
	e.value = "off";
	CHECK_EQ(cfg_choice(&cfg, &e, tls_words, &choice, err, sizeof(err)), 0);
	CHECK_EQ(choice, 2);
	e.value = "Required";
	choice = -1;
	CHECK_EQ(cfg_choice(&cfg, &e, tls_words, &choice, err, sizeof(err)), -EINVAL);
	CHECK_EQ(choice, -1);
	CHECK_STR(err, "dfsd.conf:3: tls: expected one of required, optional, off; got 'Required'");

	CHECK_EQ(cfg_error(&cfg, &e, err, sizeof(err), "needs %s when %d", "cert", 42), -EINVAL);
	CHECK_STR(err, "dfsd.conf:3: tls: needs cert when 42");
	/* A short buffer truncates but stays terminated. */
	CHECK_EQ(cfg_error(&cfg, &e, err, 8, "long message"), -EINVAL);
	CHECK_STR(err, "dfsd.co");
	CHECK_EQ(cfg_error(&cfg, &e, NULL, 0, "nothing"), -EINVAL);
}

/* Typed access on entries that came from the parser. */
static void test_parsed_values(void)
{
	struct cfg *cfg = parse("[server 2]\nprogram = 0x20000102\nport = 70000\n");
	uint64_t v = 0;

	if (!cfg)
		return;
	CHECK_EQ(cfg_u64(cfg, &cfg->entries[0], 0, UINT32_MAX, &v, err, sizeof(err)), 0);
	CHECK_EQ(v, 0x20000102);
	CHECK_EQ(cfg_u64(cfg, &cfg->entries[1], 1, 65535, &v, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "t.conf:3: port: 70000 is out of range 1..65535");
	cfg_free(cfg);
}

int main(void)
{
	test_happy();
	test_syntax_errors();
	test_duplicates();
	test_limits();
	test_files();
	test_u64();
	test_bool_choice_error();
	test_parsed_values();
	return CHECK_DONE();
}

/* test_server_config.c: dfsd's defaults, configuration file, command line and validation. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "server_config.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static char tmpdir[] = "/tmp/test_server_config.XXXXXX";

/* Writes text to a new file in tmpdir; returns its path (static buffer per call site). */
static void write_file(char *path, size_t cap, const char *name, const char *text)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

/* Runs server_config_load on a NULL-terminated argv. */
static int load(struct server_config *cfg, char **argv, char *err, size_t errlen)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return server_config_load(cfg, argc, argv, err, errlen);
}

static void test_defaults(void)
{
	struct server_config cfg;
	char err[512];
	char *argv[] = {"dfsd", "--id", "2", "--program", "0x20000100", "--tls", "off", NULL};

	CHECK_EQ(load(&cfg, argv, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(cfg.id, 2);
	CHECK_EQ(cfg.program, 0x20000100);
	CHECK_STR(cfg.listen, "0.0.0.0");
	CHECK_EQ(cfg.port, 0);
	CHECK_EQ(cfg.tls, RPCSTREAM_TLS_OFF);
	CHECK_EQ(cfg.log_level, DFS_LOG_INFO);
	CHECK_EQ(cfg.idle_timeout_s, 300);
	CHECK_EQ(cfg.request_timeout_s, 60);
	CHECK_EQ(cfg.max_connections, 256);
	CHECK_EQ(cfg.max_connections_per_address, 64);
	CHECK_EQ(cfg.session_ttl_s, 43200);
	CHECK_EQ(cfg.tombstone_ttl_s, 2592000);
	CHECK_EQ(cfg.login_timeout_s, 10);
	CHECK_EQ(cfg.max_sessions_per_user, 64);
	CHECK_EQ(cfg.max_clock_skew_s, 604800);
	CHECK_STR(cfg.users, "/var/lib/dfs/users.db");
	CHECK_STR(cfg.data, "/var/lib/dfs/2");
	CHECK_STR(cfg.cert, "");
	CHECK_STR(cfg.key, "");
	CHECK_STR(cfg.metrics_listen, "");
}

static void test_defaults_tls(void)
{
	struct server_config cfg;
	char err[512];
	char *argv[] = {"dfsd",	  "--id",  "1",	    "--program", "536871168",
			"--cert", "c.pem", "--key", "k.pem",	 NULL};

	CHECK_EQ(load(&cfg, argv, err, sizeof(err)), 0);
	CHECK_EQ(cfg.program, 536871168);
	CHECK_EQ(cfg.tls, RPCSTREAM_TLS_REQUIRED);
	CHECK_STR(cfg.cert, "c.pem");
	CHECK_STR(cfg.key, "k.pem");
}

static const char full_file[] = "# every key\n"
				"id = 3\n"
				"listen = 127.0.0.1\n"
				"port = 7003\n"
				"program = 0x20000203\n"
				"data = /srv/dfs/3\n"
				"users = /srv/dfs/users.db\n"
				"tls = optional\n"
				"cert = /etc/dfs/cert.pem\n"
				"key = /etc/dfs/key.pem\n"
				"\n"
				"log_level = debug\n"
				"idle_timeout = 30\n"
				"request_timeout = 20\n"
				"max_connections = 10\n"
				"max_connections_per_address = 5\n"
				"session_ttl = 3600\n"
				"tombstone_ttl = 86400\n"
				"login_timeout = 3\n"
				"max_sessions_per_user = 8\n"
				"max_clock_skew = 3600\n";

static void test_file(void)
{
	struct server_config cfg;
	char err[512], path[256];

	write_file(path, sizeof(path), "full.conf", full_file);
	char *argv[] = {"dfsd", "-c", path, NULL};
	CHECK_EQ(load(&cfg, argv, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(cfg.id, 3);
	CHECK_STR(cfg.listen, "127.0.0.1");
	CHECK_EQ(cfg.port, 7003);
	CHECK_EQ(cfg.program, 0x20000203);
	CHECK_STR(cfg.data, "/srv/dfs/3");
	CHECK_STR(cfg.users, "/srv/dfs/users.db");
	CHECK_EQ(cfg.tls, RPCSTREAM_TLS_OPTIONAL);
	CHECK_STR(cfg.cert, "/etc/dfs/cert.pem");
	CHECK_STR(cfg.key, "/etc/dfs/key.pem");
	CHECK_EQ(cfg.log_level, DFS_LOG_DEBUG);
	CHECK_EQ(cfg.idle_timeout_s, 30);
	CHECK_EQ(cfg.request_timeout_s, 20);
	CHECK_EQ(cfg.max_connections, 10);
	CHECK_EQ(cfg.max_connections_per_address, 5);
	CHECK_EQ(cfg.session_ttl_s, 3600);
	CHECK_EQ(cfg.tombstone_ttl_s, 86400);
	CHECK_EQ(cfg.login_timeout_s, 3);
	CHECK_EQ(cfg.max_sessions_per_user, 8);
	CHECK_EQ(cfg.max_clock_skew_s, 3600);
}

static void test_command_line_wins(void)
{
	struct server_config cfg;
	char err[512], path[256];

	write_file(path, sizeof(path), "override.conf", full_file);
	/* Options before and after -c both override the file. */
	char *argv[] = {"dfsd",	      "--port", "7100",	  "--log-level", "warn",   "-c",
			path,	      "--id",	"4",	  "--listen",	 "::1",	   "--program",
			"0x3fffffff", "--data", "/d/4",	  "--users",	 "/u.db",  "--tls",
			"required",   "--cert", "c2.pem", "--key",	 "k2.pem", NULL};
	CHECK_EQ(load(&cfg, argv, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(cfg.id, 4);
	CHECK_EQ(cfg.port, 7100);
	CHECK_EQ(cfg.log_level, DFS_LOG_WARN);
	CHECK_STR(cfg.listen, "::1");
	CHECK_EQ(cfg.program, 0x3fffffff);
	CHECK_STR(cfg.data, "/d/4");
	CHECK_STR(cfg.users, "/u.db");
	CHECK_EQ(cfg.tls, RPCSTREAM_TLS_REQUIRED);
	CHECK_STR(cfg.cert, "c2.pem");
	CHECK_STR(cfg.key, "k2.pem");
	/* Keys the command line does not set keep the file's values. */
	CHECK_EQ(cfg.idle_timeout_s, 30);
	CHECK_EQ(cfg.tombstone_ttl_s, 86400);
}

/* Expects failure with a message that contains every NULL-terminated fragment. */
static void expect_error(char **argv, const char *frag1, const char *frag2)
{
	struct server_config cfg;
	char err[512];

	CHECK_EQ(load(&cfg, argv, err, sizeof(err)), -EINVAL);
	if (!strstr(err, frag1) || (frag2 && !strstr(err, frag2))) {
		fprintf(stderr, "message \"%s\" lacks \"%s\"%s%s\n", err, frag1,
			frag2 ? " or " : "", frag2 ? frag2 : "");
		check_failures++;
	}
}

static void test_file_errors(void)
{
	char path[256], where[300];

	write_file(path, sizeof(path), "unknown.conf", "id = 1\n# x\nbogus = 1\n");
	snprintf(where, sizeof(where), "%s:3:", path);
	char *a1[] = {"dfsd", "-c", path, NULL};
	expect_error(a1, where, "bogus");

	char path2[256], where2[300];
	write_file(path2, sizeof(path2), "range.conf", "program = 0x10\n");
	snprintf(where2, sizeof(where2), "%s:1:", path2);
	char *a2[] = {"dfsd", "-c", path2, NULL};
	expect_error(a2, where2, "program");

	char path3[256], where3[300];
	write_file(path3, sizeof(path3), "tls.conf", "id = 1\ntls = sometimes\n");
	snprintf(where3, sizeof(where3), "%s:2:", path3);
	char *a3[] = {"dfsd", "-c", path3, NULL};
	expect_error(a3, where3, "tls");

	char path4[256], where4[300];
	write_file(path4, sizeof(path4), "section.conf", "id = 1\n[server 1]\nhost = x\n");
	snprintf(where4, sizeof(where4), "%s:3:", path4);
	char *a4[] = {"dfsd", "-c", path4, NULL};
	expect_error(a4, where4, "section");

	char path5[256], where5[300];
	write_file(path5, sizeof(path5), "login.conf", "id = 1\nlogin_timeout = 0\n");
	snprintf(where5, sizeof(where5), "%s:2:", path5);
	char *a6[] = {"dfsd", "-c", path5, NULL};
	expect_error(a6, where5, "login_timeout");

	char path6[256], where6[300];
	write_file(path6, sizeof(path6), "per-user.conf", "max_sessions_per_user = 10001\n");
	snprintf(where6, sizeof(where6), "%s:1:", path6);
	char *a7[] = {"dfsd", "-c", path6, NULL};
	expect_error(a7, where6, "max_sessions_per_user");

	char missing[300];
	snprintf(missing, sizeof(missing), "%s/absent.conf", tmpdir);
	char *a5[] = {"dfsd", "-c", missing, NULL};
	expect_error(a5, missing, NULL);
}

static void test_validation_errors(void)
{
	char *no_id[] = {"dfsd", "--program", "0x20000100", "--tls", "off", NULL};
	expect_error(no_id, "id is required", NULL);
	char *big_id[] = {"dfsd", "--id", "65", "--program", "0x20000100", "--tls", "off", NULL};
	expect_error(big_id, "--id", "1..64");
	char *no_prog[] = {"dfsd", "--id", "1", "--tls", "off", NULL};
	expect_error(no_prog, "program is required", NULL);
	char *low_prog[] = {"dfsd", "--id", "1", "--program", "0x1fffffff", "--tls", "off", NULL};
	expect_error(low_prog, "--program", "0x20000000..0x3fffffff");
	char *high_prog[] = {"dfsd", "--id", "1", "--program", "1073741824", "--tls", "off", NULL};
	expect_error(high_prog, "--program", "0x20000000..0x3fffffff");
	char *no_cert[] = {"dfsd", "--id", "1", "--program", "0x20000100", "--key", "k", NULL};
	expect_error(no_cert, "tls is required but no cert", NULL);
	char *no_key[] = {"dfsd",  "--id",     "1",	 "--program", "0x20000100",
			  "--tls", "optional", "--cert", "c",	      NULL};
	expect_error(no_key, "tls is optional but no key", NULL);
	char *bad_tls[] = {"dfsd", "--tls", "maybe", NULL};
	expect_error(bad_tls, "--tls", "maybe");
	char *bad_port[] = {"dfsd", "--port", "65536", NULL};
	expect_error(bad_port, "--port", "0..65535");
	char *neg_port[] = {"dfsd", "--port", "-1", NULL};
	expect_error(neg_port, "--port", NULL);
	char *junk_port[] = {"dfsd", "--port", "80x", NULL};
	expect_error(junk_port, "--port", NULL);
	char *bad_level[] = {"dfsd", "--log-level", "loud", NULL};
	expect_error(bad_level, "--log-level", "loud");
	char *unknown[] = {"dfsd", "--frobnicate", NULL};
	expect_error(unknown, "unknown option", "--frobnicate");
	char *no_value[] = {"dfsd", "--id", NULL};
	expect_error(no_value, "needs a value", NULL);
	char *extra[] = {"dfsd", "stray", NULL};
	expect_error(extra, "unexpected argument", "stray");
}

/* metrics_listen: HOST:PORT or [IPV6]:PORT, checked at load. */
static void test_metrics_listen(void)
{
	static const struct {
		const char *value;
		bool ok;
	} cases[] = {
	    {"127.0.0.1:9100", true}, {"[::1]:9100", true},	{"localhost:65535", true},
	    {"127.0.0.1", false},     {"127.0.0.1:0", false},	{"127.0.0.1:65536", false},
	    {":9100", false},	      {"127.0.0.1:91x", false}, {"::1:9100", false},
	    {"[::1]9100", false},
	};
	struct server_config cfg;
	char err[512], path[300], text[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 "id = 1\nprogram = 0x20000100\ntls = off\n"
			 "metrics_listen = %s\n",
			 cases[i].value);
		write_file(path, sizeof(path), "metrics.conf", text);
		char *argv[] = {"dfsd", "-c", path, NULL};
		CHECK_EQ(load(&cfg, argv, err, sizeof(err)), cases[i].ok ? 0 : -EINVAL);
		if (cases[i].ok)
			CHECK_STR(cfg.metrics_listen, cases[i].value);
		else
			CHECK(strstr(err, "metrics_listen") != NULL);
	}
}

static void test_help_version(void)
{
	struct server_config cfg;
	char err[512];
	char *help[] = {"dfsd", "--id", "1", "-h", NULL};
	char *version[] = {"dfsd", "--version", NULL};

	CHECK_EQ(load(&cfg, help, err, sizeof(err)), 1);
	CHECK_EQ(load(&cfg, version, err, sizeof(err)), 1);
}

int main(void)
{
	char path[300];

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_defaults();
	test_defaults_tls();
	test_file();
	test_command_line_wins();
	test_file_errors();
	test_validation_errors();
	test_metrics_listen();
	test_help_version();

	const char *names[] = {"full.conf", "override.conf", "unknown.conf", "range.conf",
			       "tls.conf",  "section.conf",  "metrics.conf"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
	return CHECK_DONE();
}

/* server_config.c: dfsd's settings: defaults, then the configuration file, then the command line.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "dfs_prot.h"
#include "metrics.h"
#include "server_config.h"
#include "store.h"

#define PROGRAM_MIN 0x20000000u
#define PROGRAM_MAX 0x3FFFFFFFu

enum key_kind { KIND_UINT, KIND_PORT, KIND_PROGRAM, KIND_STR, KIND_TLS, KIND_LOG };

struct key_def {
	const char *name;
	enum key_kind kind;
	size_t offset;
	size_t size;	   /* KIND_STR: buffer size */
	uint64_t min, max; /* KIND_UINT */
};

#define FIELD(f) offsetof(struct server_config, f), sizeof(((struct server_config *)0)->f)

static const struct key_def keys[] = {
    {"id", KIND_UINT, FIELD(id), 1, DFS_SERVERS_MAX},
    {"listen", KIND_STR, FIELD(listen), 0, 0},
    {"port", KIND_PORT, FIELD(port), 0, 65535},
    {"program", KIND_PROGRAM, FIELD(program), PROGRAM_MIN, PROGRAM_MAX},
    {"data", KIND_STR, FIELD(data), 0, 0},
    {"users", KIND_STR, FIELD(users), 0, 0},
    {"tls", KIND_TLS, FIELD(tls), 0, 0},
    {"cert", KIND_STR, FIELD(cert), 0, 0},
    {"key", KIND_STR, FIELD(key), 0, 0},
    {"log_level", KIND_LOG, FIELD(log_level), 0, 0},
    {"idle_timeout", KIND_UINT, FIELD(idle_timeout_s), 1, 86400},
    {"request_timeout", KIND_UINT, FIELD(request_timeout_s), 1, 86400},
    {"max_connections", KIND_UINT, FIELD(max_connections), 1, 65536},
    {"max_connections_per_address", KIND_UINT, FIELD(max_connections_per_address), 1, 65536},
    {"session_ttl", KIND_UINT, FIELD(session_ttl_s), 1, 31536000},
    {"tombstone_ttl", KIND_UINT, FIELD(tombstone_ttl_s), 60, 0xFFFFFFFFu},
    {"previous_ttl", KIND_UINT, FIELD(previous_ttl_s), 0, 0xFFFFFFFFu},
    {"housekeep_interval", KIND_UINT, FIELD(housekeep_interval_s), 1, 86400},
    {"max_clock_skew", KIND_UINT, FIELD(max_clock_skew_s), 60, 315360000},
    {"login_timeout", KIND_UINT, FIELD(login_timeout_s), 1, 3600},
    {"max_sessions_per_user", KIND_UINT, FIELD(max_sessions_per_user), 1, 10000},
    {"metrics_listen", KIND_STR, FIELD(metrics_listen), 0, 0},
    {"scrub_interval", KIND_UINT, FIELD(scrub_interval_s), 0, 0xFFFFFFFFu},
    {"scrub_rate", KIND_UINT, FIELD(scrub_rate_mb_s), 0, 1000000},
    {"peers", KIND_STR, FIELD(peers), 0, 0},
    {"heal_interval", KIND_UINT, FIELD(heal_interval_s), 0, 0xFFFFFFFFu},
    {"heal_rate", KIND_UINT, FIELD(heal_rate_mb_s), 0, 1000000},
    {"inline_max", KIND_UINT, FIELD(inline_max), 0, STORE_INLINE_LIMIT},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* In the order of enum rpcstream_tls_mode and enum log_level. */
static const char *const tls_words[] = {"off", "optional", "required", NULL};
static const char *const log_words[] = {"error", "warn", "info", "debug", NULL};

enum {
	OPT_ID = 256,
	OPT_LISTEN,
	OPT_PORT,
	OPT_PROGRAM,
	OPT_DATA,
	OPT_USERS,
	OPT_TLS,
	OPT_CERT,
	OPT_KEY,
	OPT_LOG_LEVEL,
	OPT_VERSION,
	OPT_UPGRADE_DATA,
};

static const struct option options[] = {
    {"config", required_argument, NULL, 'c'},
    {"id", required_argument, NULL, OPT_ID},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"port", required_argument, NULL, OPT_PORT},
    {"program", required_argument, NULL, OPT_PROGRAM},
    {"data", required_argument, NULL, OPT_DATA},
    {"users", required_argument, NULL, OPT_USERS},
    {"tls", required_argument, NULL, OPT_TLS},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"upgrade-data", no_argument, NULL, OPT_UPGRADE_DATA},
    {NULL, 0, NULL, 0},
};

static const char usage_text[] =
    "Usage: dfsd [-c FILE] [OPTION]...\n"
    "The dfs storage server: serves one server number's chunks over ONC RPC.\n"
    "\n"
    "  -c, --config FILE    read settings from FILE (the options below win)\n"
    "      --id N           server number, 1..64 (required)\n"
    "      --listen ADDR    address to listen on (default 0.0.0.0)\n"
    "      --port N         TCP port (default 0: any free port)\n"
    "      --program N      RPC program number, 0x20000000..0x3fffffff (required)\n"
    "      --data DIR       data folder (default /var/lib/dfs/ID)\n"
    "      --users FILE     user database (default /var/lib/dfs/users.db)\n"
    "      --tls MODE       required, optional or off (default required)\n"
    "      --cert FILE      PEM certificate chain (needed unless --tls off)\n"
    "      --key FILE       PEM private key (needed unless --tls off)\n"
    "      --log-level L    error, warn, info or debug (default info)\n"
    "      --upgrade-data   convert the data folder to this dfsd's format and exit\n"
    "                       (with the server stopped)\n"
    "  -h, --help           print this help and exit\n"
    "      --version        print the version and exit\n"
    "\n"
    "See dfsd(8).\n";

static void set_defaults(struct server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen, sizeof(cfg->listen), "0.0.0.0");
	snprintf(cfg->users, sizeof(cfg->users), "/var/lib/dfs/users.db");
	cfg->tls = RPCSTREAM_TLS_REQUIRED;
	cfg->log_level = DFS_LOG_INFO;
	cfg->idle_timeout_s = 300;
	cfg->request_timeout_s = 60;
	cfg->max_connections = 256;
	cfg->max_connections_per_address = 64;
	cfg->session_ttl_s = 43200;
	cfg->tombstone_ttl_s = 2592000;
	cfg->previous_ttl_s = 600;
	cfg->housekeep_interval_s = 600;
	cfg->max_clock_skew_s = 604800;
	cfg->login_timeout_s = 10;
	cfg->max_sessions_per_user = 64;
	cfg->scrub_interval_s = 604800;
	cfg->scrub_rate_mb_s = 64;
	cfg->inline_max = STORE_INLINE_MAX;
	cfg->heal_interval_s = 3600;
}

/* Decimal, or hexadecimal with 0x; no sign, no blanks, no trailing text. */
static int parse_number(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	int base = 10;
	const char *digits = text;
	char *end;
	unsigned long long v;

	if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
		base = 16;
		digits = text + 2;
	}
	if (base == 16 ? !isxdigit((unsigned char)digits[0]) : !isdigit((unsigned char)digits[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(digits, &end, base);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int copy_string(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);

	if (len == 0 || len >= size)
		return -EINVAL;
	memcpy(dst, src, len + 1);
	return 0;
}

static void store_number(struct server_config *cfg, const struct key_def *k, uint64_t v)
{
	char *field = (char *)cfg + k->offset;

	switch (k->kind) {
	case KIND_PORT:
		*(uint16_t *)(void *)field = (uint16_t)v;
		break;
	case KIND_PROGRAM:
		*(uint32_t *)(void *)field = (uint32_t)v;
		break;
	default:
		*(unsigned *)(void *)field = (unsigned)v;
		break;
	}
}

static const struct key_def *find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int apply_entry(struct server_config *cfg, const struct cfg *file, const struct cfg_entry *e,
		       char *err, size_t errlen)
{
	const struct key_def *k = find_key(e->key);
	char *field;
	uint64_t v;
	int choice, rc;

	if (e->section[0] != '\0')
		return cfg_error(file, e, err, errlen, "dfsd reads no section [%s]", e->section);
	if (!k)
		return cfg_error(file, e, err, errlen, "unknown key");
	field = (char *)cfg + k->offset;
	switch (k->kind) {
	case KIND_UINT:
	case KIND_PORT:
	case KIND_PROGRAM:
		rc = cfg_u64(file, e, k->min, k->max, &v, err, errlen);
		if (rc == 0)
			store_number(cfg, k, v);
		return rc;
	case KIND_STR:
		if (copy_string(field, k->size, e->value) < 0)
			return cfg_error(file, e, err, errlen, "must be 1 to %zu bytes",
					 k->size - 1);
		return 0;
	case KIND_TLS:
		rc = cfg_choice(file, e, tls_words, &choice, err, errlen);
		if (rc == 0)
			cfg->tls = (enum rpcstream_tls_mode)choice;
		return rc;
	case KIND_LOG:
		rc = cfg_choice(file, e, log_words, &choice, err, errlen);
		if (rc == 0)
			cfg->log_level = (enum log_level)choice;
		return rc;
	}
	return -EINVAL;
}

static int load_file(struct server_config *cfg, const char *path, char *err, size_t errlen)
{
	struct cfg *file = NULL;
	int rc;

	rc = cfg_parse_file(path, &file, err, errlen);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < file->count; i++) {
		rc = apply_entry(cfg, file, &file->entries[i], err, errlen);
		if (rc < 0)
			goto out;
	}
out:
	cfg_free(file);
	return rc < 0 ? -EINVAL : 0;
}

static int apply_option(struct server_config *cfg, int opt, const char *arg, char *err,
			size_t errlen)
{
	const struct key_def *k = NULL;
	const char *name = NULL;
	uint64_t v;

	for (const struct option *o = options; o->name; o++)
		if (o->val == opt)
			name = o->name;
	switch (opt) {
	case OPT_ID:
		k = find_key("id");
		break;
	case OPT_LISTEN:
		k = find_key("listen");
		break;
	case OPT_PORT:
		k = find_key("port");
		break;
	case OPT_PROGRAM:
		k = find_key("program");
		break;
	case OPT_DATA:
		k = find_key("data");
		break;
	case OPT_USERS:
		k = find_key("users");
		break;
	case OPT_CERT:
		k = find_key("cert");
		break;
	case OPT_KEY:
		k = find_key("key");
		break;
	case OPT_UPGRADE_DATA:
		cfg->upgrade_data = true;
		return 0;
	case OPT_TLS:
		for (int i = 0; tls_words[i]; i++) {
			if (strcmp(arg, tls_words[i]) == 0) {
				cfg->tls = (enum rpcstream_tls_mode)i;
				return 0;
			}
		}
		snprintf(err, errlen, "--tls: '%s' is not one of required, optional, off", arg);
		return -EINVAL;
	case OPT_LOG_LEVEL:
		for (int i = 0; log_words[i]; i++) {
			if (strcmp(arg, log_words[i]) == 0) {
				cfg->log_level = (enum log_level)i;
				return 0;
			}
		}
		snprintf(err, errlen, "--log-level: '%s' is not one of error, warn, info, debug",
			 arg);
		return -EINVAL;
	default:
		return -EINVAL;
	}
	if (k->kind == KIND_STR) {
		if (copy_string((char *)cfg + k->offset, k->size, arg) < 0) {
			snprintf(err, errlen, "--%s: must be 1 to %zu bytes", name, k->size - 1);
			return -EINVAL;
		}
		return 0;
	}
	if (parse_number(arg, k->min, k->max, &v) < 0) {
		if (k->kind == KIND_PROGRAM)
			snprintf(err, errlen, "--%s: '%s' is not a number in 0x%llx..0x%llx", name,
				 arg, (unsigned long long)k->min, (unsigned long long)k->max);
		else
			snprintf(err, errlen, "--%s: '%s' is not a number in %llu..%llu", name, arg,
				 (unsigned long long)k->min, (unsigned long long)k->max);
		return -EINVAL;
	}
	store_number(cfg, k, v);
	return 0;
}

static int validate(struct server_config *cfg, char *err, size_t errlen)
{
	char host[sizeof(cfg->metrics_listen)];
	uint16_t port;

	if (cfg->id < 1 || cfg->id > DFS_SERVERS_MAX) {
		snprintf(err, errlen, "id is required: give --id N or id = N (1..%d)",
			 DFS_SERVERS_MAX);
		return -EINVAL;
	}
	if (cfg->program < PROGRAM_MIN || cfg->program > PROGRAM_MAX) {
		snprintf(err, errlen,
			 "program is required: give --program N or program = N (0x%x..0x%x)",
			 PROGRAM_MIN, PROGRAM_MAX);
		return -EINVAL;
	}
	if (cfg->tls != RPCSTREAM_TLS_OFF && (cfg->cert[0] == '\0' || cfg->key[0] == '\0')) {
		snprintf(err, errlen,
			 "tls is %s but no %s is given: set cert and key, or tls = off",
			 tls_words[cfg->tls], cfg->cert[0] == '\0' ? "cert" : "key");
		return -EINVAL;
	}
	if (cfg->metrics_listen[0] != '\0' &&
	    metrics_parse_address(cfg->metrics_listen, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen,
			 "metrics_listen '%s' is not HOST:PORT (or [IPV6]:PORT, port 1..65535)",
			 cfg->metrics_listen);
		return -EINVAL;
	}
	if (cfg->data[0] == '\0')
		snprintf(cfg->data, sizeof(cfg->data), "/var/lib/dfs/%u", cfg->id);
	return 0;
}

int server_config_load(struct server_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	const char *config_path = NULL;
	int opt, rc = 0;

	set_defaults(cfg);
	err[0] = '\0';
	opterr = 0;

	/* First pass: only -c, --help and --version, so the file loads before the
	 * other options override it whatever their order. */
	optind = 0;
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		case OPT_VERSION:
			printf("dfsd %s\n", DFS_VERSION_STRING);
			return 1;
		case ':':
			snprintf(err, errlen, "option '%s' needs a value (see dfsd --help)",
				 argv[optind - 1]);
			return -EINVAL;
		case '?':
			if (optopt)
				snprintf(err, errlen, "unknown option '-%c' (see dfsd --help)",
					 optopt);
			else
				snprintf(err, errlen, "unknown option '%s' (see dfsd --help)",
					 argv[optind - 1]);
			return -EINVAL;
		default:
			break;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see dfsd --help)", argv[optind]);
		return -EINVAL;
	}
	if (config_path) {
		rc = load_file(cfg, config_path, err, errlen);
		if (rc < 0)
			return rc;
	}

	optind = 0;
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		if (opt == 'c')
			continue;
		rc = apply_option(cfg, opt, optarg, err, errlen);
		if (rc < 0)
			return rc;
	}
	return validate(cfg, err, errlen);
}

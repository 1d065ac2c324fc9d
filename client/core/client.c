/* client.c: the client's configuration, errors and events. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "internal.h"
#include "names.h"

static __thread char thread_error[512];

void client_thread_error(const char *fmt, ...)
{
	va_list ap;

	thread_error[0] = '\0';
	if (!fmt)
		return;
	va_start(ap, fmt);
	vsnprintf(thread_error, sizeof(thread_error), fmt, ap);
	va_end(ap);
}

static void set_conf_defaults(struct client_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->tls = true;
	conf->connect_timeout_ms = 2000;
	conf->login_timeout_ms = 10000;
	conf->call_timeout_ms = 30000;
}

static int parse_server_entry(struct client_conf *conf, const struct cfg *cfg,
			      const struct cfg_entry *e, char *err, size_t errlen)
{
	uint64_t n, v;
	struct server_conf *s;
	int rc;

	char *end;
	n = strtoull(e->arg, &end, 10);
	if (!*e->arg || *end || n < 1 || n > DFS_SERVERS_MAX)
		return cfg_error(cfg, e, err, errlen, "section [server %s]: expected 1..%d", e->arg,
				 DFS_SERVERS_MAX);
	s = &conf->servers[n - 1];
	s->number = (unsigned)n;
	if (n > conf->nservers)
		conf->nservers = (unsigned)n;
	if (strcmp(e->key, "host") == 0) {
		if (strlen(e->value) >= sizeof(s->host) || !*e->value)
			return cfg_error(cfg, e, err, errlen, "expected a host name or address");
		snprintf(s->host, sizeof(s->host), "%s", e->value);
	} else if (strcmp(e->key, "program") == 0) {
		rc = cfg_u64(cfg, e, 0x20000000, 0x3FFFFFFF, &v, err, errlen);
		if (rc)
			return rc;
		s->program = (uint32_t)v;
	} else if (strcmp(e->key, "port") == 0) {
		rc = cfg_u64(cfg, e, 0, 65535, &v, err, errlen);
		if (rc)
			return rc;
		s->port = (uint16_t)v;
	} else if (strcmp(e->key, "tls_name") == 0) {
		if (strlen(e->value) >= sizeof(s->tls_name))
			return cfg_error(cfg, e, err, errlen, "too long");
		snprintf(s->tls_name, sizeof(s->tls_name), "%s", e->value);
	} else {
		return cfg_error(cfg, e, err, errlen, "unknown setting in a [server] section");
	}
	return 0;
}

int client_load_conf(struct client_conf *conf, const char *path, char *err, size_t errlen)
{
	static const char *const tls_words[] = {"off", "required", NULL};
	struct cfg *cfg = NULL;
	uint64_t v;
	int rc, choice;

	set_conf_defaults(conf);
	if (strlen(path) >= sizeof(conf->path)) {
		snprintf(err, errlen, "configuration path too long");
		return -ENAMETOOLONG;
	}
	memcpy(conf->path, path, strlen(path) + 1);
	rc = cfg_parse_file(path, &cfg, err, errlen);
	if (rc)
		return rc;
	for (size_t i = 0; i < cfg->count; i++) {
		const struct cfg_entry *e = &cfg->entries[i];

		if (strcmp(e->section, "server") == 0) {
			rc = parse_server_entry(conf, cfg, e, err, errlen);
		} else if (*e->section) {
			rc = cfg_error(cfg, e, err, errlen, "unknown section [%s]", e->section);
		} else if (strcmp(e->key, "tls") == 0) {
			rc = cfg_choice(cfg, e, tls_words, &choice, err, errlen);
			conf->tls = choice == 1;
		} else if (strcmp(e->key, "ca") == 0) {
			snprintf(conf->ca, sizeof(conf->ca), "%s", e->value);
		} else if (strcmp(e->key, "connect_timeout_ms") == 0) {
			rc = cfg_u64(cfg, e, 10, 600000, &v, err, errlen);
			conf->connect_timeout_ms = (int)v;
		} else if (strcmp(e->key, "login_timeout_ms") == 0) {
			rc = cfg_u64(cfg, e, 100, 600000, &v, err, errlen);
			conf->login_timeout_ms = (int)v;
		} else if (strcmp(e->key, "call_timeout_ms") == 0) {
			rc = cfg_u64(cfg, e, 100, 3600000, &v, err, errlen);
			conf->call_timeout_ms = (int)v;
		} else {
			rc = cfg_error(cfg, e, err, errlen, "unknown setting");
		}
		if (rc)
			goto out;
	}
	rc = -EINVAL;
	if (conf->nservers == 0) {
		snprintf(err, errlen, "%s: no [server N] sections", path);
		goto out;
	}
	for (unsigned i = 0; i < conf->nservers; i++) {
		struct server_conf *s = &conf->servers[i];

		if (s->number == 0 || !*s->host || s->program == 0) {
			snprintf(err, errlen, "%s: [server %u] needs host and program", path,
				 i + 1);
			goto out;
		}
		if (!*s->tls_name)
			memcpy(s->tls_name, s->host, sizeof(s->tls_name));
	}
	if (conf->tls && !*conf->ca) {
		snprintf(err, errlen, "%s: tls = required needs 'ca = FILE' (the cluster's CA)",
			 path);
		goto out;
	}
	rc = 0;
out:
	cfg_free(cfg);
	return rc;
}

void dfs_set_event_handler(struct dfs_client *c, dfs_event_fn fn, void *arg)
{
	c->on_event = fn;
	c->event_arg = arg;
}

void client_emit(struct dfs_client *c, const struct dfs_event *ev)
{
	if (c->owner)
		c = c->owner;
	if (!c->on_event)
		return;
	pthread_mutex_lock(&c->event_lock);
	c->on_event(ev, c->event_arg);
	pthread_mutex_unlock(&c->event_lock);
}

void client_warn(struct dfs_client *c, unsigned server, const char *fmt, ...)
{
	struct dfs_event ev = {.kind = DFS_EVENT_WARNING, .server = server};
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	ev.text = text;
	client_emit(c, &ev);
}

int client_fail(struct dfs_client *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
	va_end(ap);
	return err;
}

int client_errno(dfs_stat st)
{
	return st == DFS_OK ? 0 : -(int)st;
}

const char *link_label(const struct link *l, char *buf, size_t len)
{
	snprintf(buf, len, "server %u (%s)", l->conf->number, l->address);
	return buf;
}

const char *dfs_last_error(const struct dfs_client *c)
{
	if (!c)
		return thread_error;
	return c->last_error;
}

const char *dfs_strerror(int err)
{
	switch (-err) {
	case 0:
		return "success";
	case EACCES:
		return "permission denied (wrong user or password?)";
	case EHOSTDOWN:
		return "not enough servers are reachable";
	case EIO:
		return "a chunk could not be read intact from any server";
	case EBADMSG:
		return "data failed its checksum";
	case ESTALE:
		return "a newer version exists";
	case ERANGE:
		return "the version is too far ahead of the server's clock (check this host's "
		       "clock)";
	case EKEYEXPIRED:
		return "the session expired; log in again";
	case ENOSPC:
		return "a server is out of space";
	case EDQUOT:
		return "over quota";
	case EPROTO:
		return "protocol error";
	default:
		return strerror(-err);
	}
}

int dfs_name_check(const char *name)
{
	return name_check(name, strlen(name), NULL);
}

unsigned dfs_server_count(const struct dfs_client *c)
{
	return c->conf.nservers;
}

const char *dfs_version(void)
{
	return DFS_VERSION_STRING;
}

int client_check_call(struct dfs_client *c, const char *remote_name)
{
	const char *why = NULL;
	int err;

	if (!c->logged_in)
		return client_fail(c, -ENOTCONN, "not logged in");
	err = name_check(remote_name, strlen(remote_name), &why);
	if (err)
		return client_fail(c, err, "invalid remote name '%s': %s", remote_name, why);
	return 0;
}

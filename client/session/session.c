/* session.c: a client's whole life: created, logged in (with the catch-up
 * that follows), shared with other threads, freed. The top layer of libdfs. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "internal.h"
#include "tls.h"

static const char *default_config_path(char *buf, size_t len)
{
	const char *env = getenv("DFS_CONFIG");
	const char *home = getenv("HOME");

	if (env && *env)
		return env;
	if (home && *home) {
		snprintf(buf, len, "%s/.config/dfs/dfs.conf", home);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return "/etc/dfs/dfs.conf";
}

static void init_links(struct dfs_client *c)
{
	for (unsigned i = 0; i < c->conf.nservers; i++) {
		struct link *l = &c->links[i];

		l->conf = &c->conf.servers[i];
		if (l->conf->port)
			snprintf(l->address, sizeof(l->address), "%s:%u", l->conf->host,
				 l->conf->port);
		else
			snprintf(l->address, sizeof(l->address), "%s, program 0x%x", l->conf->host,
				 l->conf->program);
		snprintf(l->why, sizeof(l->why), "not connected");
	}
}

int dfs_client_new(struct dfs_client **out, const char *config_path)
{
	struct dfs_client *c;
	char pathbuf[PATH_MAX], err[512];
	int rc;

	*out = NULL;
	client_thread_error(NULL);
	c = calloc(1, sizeof(*c));
	if (!c) {
		client_thread_error("out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&c->event_lock, NULL);
	if (!config_path)
		config_path = default_config_path(pathbuf, sizeof(pathbuf));
	rc = client_load_conf(&c->conf, config_path, err, sizeof(err));
	if (rc) {
		client_thread_error("%s", err);
		goto fail;
	}
	if (c->conf.tls) {
		c->tls = tls_client_ctx(c->conf.ca, err, sizeof(err));
		if (!c->tls) {
			client_thread_error("%s", err);
			rc = -EINVAL;
			goto fail;
		}
	}
	init_links(c);
	*out = c;
	return 0;
fail:
	dfs_client_free(c);
	return rc;
}

int dfs_client_share(struct dfs_client *owner, struct dfs_client **out)
{
	struct dfs_client *c;
	int rc;

	*out = NULL;
	client_thread_error(NULL);
	if (!owner->logged_in) {
		client_thread_error("log in before sharing the session");
		return -ENOTCONN;
	}
	c = calloc(1, sizeof(*c));
	if (!c || (owner->tls && SSL_CTX_up_ref(owner->tls) != 1)) {
		free(c);
		client_thread_error("out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&c->event_lock, NULL);
	c->conf = owner->conf;
	c->tls = owner->tls;
	memcpy(c->user, owner->user, sizeof(c->user));
	c->login_iterations = owner->login_iterations;
	c->resume = owner->resume;
	c->no_store = owner->no_store;
	c->no_lookup_read = owner->no_lookup_read;
	c->no_store_many = owner->no_store_many;
	c->no_lookup_read_many = owner->no_lookup_read_many;
	c->owner = owner;
	init_links(c);
	rc = conn_share_all(c);
	if (rc) {
		client_thread_error("%s", c->last_error);
		dfs_client_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int dfs_prepare_shares(struct dfs_client *c, unsigned n)
{
	int rc = spares_want(c, n);

	if (rc == -EINVAL)
		return client_fail(c, rc, "at most %d clients can be prepared",
				   DFS_SHARES_PREPARED_MAX);
	return rc ? client_fail(c, rc, "out of memory") : 0;
}

void dfs_client_free(struct dfs_client *c)
{
	if (!c)
		return;
	conn_close_all(c);
	if (c->tls)
		SSL_CTX_free(c->tls);
	pthread_mutex_destroy(&c->event_lock);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

int dfs_login(struct dfs_client *c, const char *user, const char *password)
{
	int err;

	if (!user || !*user || strlen(user) >= sizeof(c->user))
		return client_fail(c, -EINVAL, "a user name of 1 to 64 characters is needed");
	if (!password)
		return client_fail(c, -EINVAL, "no password given");
	snprintf(c->user, sizeof(c->user), "%s", user);
	err = conn_login_all(c, password);
	if (err)
		return err;
	/* A server back from an outage is brought level by the next client
	 * that sees the whole cluster, without anyone having to ask. */
	repair_catch_up(c);
	return 0;
}

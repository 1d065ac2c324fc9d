/* mount_pool.c: dfs mount's clients: one per request at a time, and a new login when
 * servers went down, so a server back from an outage is used again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mount_fs.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Events of every client: a server down asks for a new login later. */
static void on_event(const struct dfs_event *ev, void *arg)
{
	struct mount_state *m = arg;

	if (ev->kind == DFS_EVENT_SERVER_DOWN)
		atomic_store(&m->servers_down, true);
	if ((ev->kind == DFS_EVENT_SERVER_DOWN || ev->kind == DFS_EVENT_WARNING ||
	     ev->kind == DFS_EVENT_REPAIRED || ev->kind == DFS_EVENT_CERT_EXPIRING) &&
	    ev->text)
		mount_log(m, "%s", ev->text);
}

int pool_login(struct mount_state *m, struct dfs_client **out)
{
	struct dfs_client *c;
	int rc;

	*out = NULL;
	rc = dfs_client_new(&c, m->config);
	if (rc < 0) {
		snprintf(m->login_error, sizeof(m->login_error), "%s", dfs_last_error(NULL));
		return rc;
	}
	dfs_set_event_handler(c, on_event, m);
	rc = dfs_login(c, m->user, m->password);
	if (rc < 0) {
		/* Keep the reason for the caller; the client goes. */
		snprintf(m->login_error, sizeof(m->login_error), "login as %s: %s", m->user,
			 dfs_last_error(c));
		dfs_client_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Frees every client, the sharing ones before the owner. */
static void free_clients(struct mount_state *m)
{
	while (m->nclients > 0) {
		m->nclients--;
		dfs_client_free(m->clients[m->nclients]);
		m->clients[m->nclients] = NULL;
	}
}

void pool_start(struct mount_state *m, struct dfs_client *owner)
{
	free_clients(m);
	memset(m->busy, 0, sizeof(m->busy));
	m->clients[m->nclients++] = owner;
	while (m->nclients < MOUNT_CLIENTS &&
	       dfs_client_share(owner, &m->clients[m->nclients]) == 0)
		m->nclients++;
	m->last_login = now_s();
}

void pool_stop(struct mount_state *m)
{
	free_clients(m);
}

/* Logs in anew and, once no request holds a client, puts the new clients in
 * place of the old ones. Called with pool_lock held; drops it meanwhile. */
static void relogin(struct mount_state *m)
{
	struct dfs_client *c;
	int rc;

	m->relogging = true;
	atomic_store(&m->servers_down, false);
	pthread_mutex_unlock(&m->pool_lock);
	rc = pool_login(m, &c);
	pthread_mutex_lock(&m->pool_lock);
	if (rc == 0) {
		m->swapping = true;
		for (;;) {
			bool idle = true;

			for (unsigned i = 0; i < m->nclients; i++)
				idle = idle && !m->busy[i];
			if (idle)
				break;
			pthread_cond_wait(&m->pool_free, &m->pool_lock);
		}
		pool_start(m, c);
		m->swapping = false;
	} else {
		mount_log(m, "%s", m->login_error);
	}
	m->last_login = now_s();
	m->relogging = false;
	pthread_cond_broadcast(&m->pool_free);
}

struct dfs_client *pool_get(struct mount_state *m)
{
	struct dfs_client *c = NULL;

	pthread_mutex_lock(&m->pool_lock);
	while (!c) {
		if (!m->relogging && atomic_load(&m->servers_down) &&
		    now_s() - m->last_login >= MOUNT_RELOGIN_S) {
			relogin(m);
			continue;
		}
		for (unsigned i = 0; i < m->nclients && !c && !m->swapping; i++)
			if (!m->busy[i]) {
				m->busy[i] = true;
				c = m->clients[i];
			}
		if (!c)
			pthread_cond_wait(&m->pool_free, &m->pool_lock);
	}
	pthread_mutex_unlock(&m->pool_lock);
	return c;
}

void pool_put(struct mount_state *m, struct dfs_client *c)
{
	pthread_mutex_lock(&m->pool_lock);
	for (unsigned i = 0; i < m->nclients; i++)
		if (m->clients[i] == c)
			m->busy[i] = false;
	pthread_cond_broadcast(&m->pool_free);
	pthread_mutex_unlock(&m->pool_lock);
}

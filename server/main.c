/* main.c: dfsd's start-up, rpcbind registration, signals, housekeeping and orderly stop. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include "dfs_prot.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "server.h"
#include "server_config.h"
#include "session.h"
#include "store.h"
#include "tls.h"
#include "heal.h"
#include "scrub.h"
#include "users.h"

#define MAX_SESSIONS	   10000
#define MAX_PENDING_LOGINS 1024
#define TMP_MAX_AGE_S	   3600
#define MALLOC_KEEP_MAX	   (128 * 1024) /* see main */

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t housekeep_requested, reload_requested;
/* Written by signal handlers to wake the maintenance thread (self-pipe). */
static int wake_fd = -1;
/* Written on SIGUSR1 to start a scrub pass (scrub_wake_fd). */
static int scrub_fd = -1;

/* The background thread that removes what is no longer needed (on a timer and on SIGUSR1)
 * and reloads the TLS certificate (SIGHUP). */
struct housekeeper {
	struct server *srv;
	int pipe[2];
	atomic_bool stop;
	bool running;
	pthread_t tid;
};

static void on_signal(int sig)
{
	int saved = errno;
	char b = 0;

	if (sig == SIGUSR1) {
		housekeep_requested = 1;
		if (scrub_fd >= 0 && write(scrub_fd, &b, 1) < 0) {
			/* A pass is already asked for. */
		}
	} else if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
	if (sig != SIGTERM && sig != SIGINT && wake_fd >= 0 && write(wake_fd, &b, 1) < 0) {
		/* The pipe is full: a wake-up is already pending. */
	}
	errno = saved;
}

static void housekeep_now(struct housekeeper *hk, const char *why)
{
	const struct server_config *cfg = &hk->srv->cfg;
	struct store_retention r = {
	    .max_tmp_age_s = TMP_MAX_AGE_S,
	    .tombstone_ttl_s = cfg->tombstone_ttl_s,
	    .previous_ttl_s = cfg->previous_ttl_s,
	};
	int n = store_housekeep_retention(hk->srv->store, &r);

	if (n < 0)
		log_warn("housekeeping failed: %s", strerror(-n));
	else if (n > 0 || housekeep_requested)
		log_info("housekeeping (%s) removed %d file(s)", why, n);
}

static void *housekeep_main(void *arg)
{
	struct housekeeper *hk = arg;
	const struct server_config *cfg = &hk->srv->cfg;
	struct timespec now, next;
	struct pollfd pfd = {.fd = hk->pipe[0], .events = POLLIN};
	char drain[64];

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!atomic_load(&hk->stop)) {
		long long wait_ms;

		if (reload_requested) {
			reload_requested = 0;
			if (hk->srv->tls)
				server_tls_load(hk->srv, true);
			else
				log_info("SIGHUP: tls is off, no certificate to reload");
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (housekeep_requested || now.tv_sec >= next.tv_sec) {
			housekeep_now(hk, housekeep_requested ? "SIGUSR1" : "timer");
			housekeep_requested = 0;
			clock_gettime(CLOCK_MONOTONIC, &next);
			next.tv_sec += cfg->housekeep_interval_s;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		wait_ms = (long long)(next.tv_sec - now.tv_sec) * 1000;
		if (wait_ms < 0)
			wait_ms = 0;
		if (poll(&pfd, 1, (int)(wait_ms > 60000 ? 60000 : wait_ms)) > 0)
			while (read(hk->pipe[0], drain, sizeof(drain)) > 0)
				;
	}
	return NULL;
}

static int housekeeper_start(struct housekeeper *hk, struct server *srv)
{
	sigset_t all, old;
	int rc;

	hk->srv = srv;
	atomic_init(&hk->stop, false);
	if (pipe2(hk->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* Signals belong to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&hk->tid, NULL, housekeep_main, hk);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		close(hk->pipe[0]);
		close(hk->pipe[1]);
		return -rc;
	}
	wake_fd = hk->pipe[1];
	hk->running = true;
	return 0;
}

static void housekeeper_stop(struct housekeeper *hk)
{
	char b = 0;

	if (!hk->running)
		return;
	atomic_store(&hk->stop, true);
	if (write(hk->pipe[1], &b, 1) < 0) {
		/* Full: the thread wakes anyway. */
	}
	pthread_join(hk->tid, NULL);
	wake_fd = -1;
	close(hk->pipe[0]);
	close(hk->pipe[1]);
	hk->running = false;
}

static int install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	/* No SA_RESTART: a blocked call returns EINTR so the stop is seen at once. */
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	/* SIGHUP reloads the certificate, SIGUSR1 runs housekeeping and a scrub pass now;
	 * both only wake background threads, so they may restart interrupted calls. */
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGHUP, &sa, NULL) < 0 || sigaction(SIGUSR1, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* Each connection holds two descriptors; take what the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int check_readable(const char *what, const char *path)
{
	if (access(path, R_OK) == 0)
		return 0;
	log_error("cannot read the TLS %s %s: %s", what, path, strerror(errno));
	return -errno;
}

static const char *tls_word(enum rpcstream_tls_mode mode)
{
	switch (mode) {
	case RPCSTREAM_TLS_OFF:
		return "off";
	case RPCSTREAM_TLS_OPTIONAL:
		return "optional";
	case RPCSTREAM_TLS_REQUIRED:
		return "required";
	}
	return "?";
}

/* dfsd --upgrade-data: converts the data folder offline. The exit status. */
static int upgrade_data(const char *data)
{
	char report[512], err[512];

	if (store_upgrade(data, report, sizeof(report), err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	printf("%s\n", report);
	return 0;
}

int main(int argc, char **argv)
{
	static struct server srv;
	struct server_config *cfg = &srv.cfg;
	struct housekeeper hk;
	char err[512] = "", tag[32], where[80], when[64];
	bool registered = false, keep_state = false;
	uint16_t port = 0;
	int lfd = -1, rc, status = 1;

	memset(&hk, 0, sizeof(hk));
	/* Buffers of a call are freed when it ends: with fixed thresholds, large ones
	 * go back to the system at once instead of raising glibc's threshold and
	 * staying in each connection thread's arena. */
	mallopt(M_MMAP_THRESHOLD, MALLOC_KEEP_MAX);
	mallopt(M_TRIM_THRESHOLD, MALLOC_KEEP_MAX);
	log_set_tag("dfsd");
	rc = server_config_load(cfg, argc, argv, err, sizeof(err));
	if (rc == 1)
		return 0;
	if (rc < 0) {
		log_error("%s", err);
		return 1;
	}
	log_set_level(cfg->log_level);
	snprintf(tag, sizeof(tag), "dfsd[%u]", cfg->id);
	log_set_tag(tag);
	if (cfg->upgrade_data)
		return upgrade_data(cfg->data);
	srv.started = time(NULL);

	rc = install_signals();
	if (rc < 0) {
		log_error("cannot install signal handlers: %s", strerror(-rc));
		goto out;
	}
	raise_fd_limit();

	if (cfg->peers[0] && cfg->tls == RPCSTREAM_TLS_OFF) {
		log_error("peers is set but tls is off: servers prove themselves to each other "
			  "over TLS only");
		goto out;
	}
	if (heal_prepare(&srv.heal, &srv) < 0)
		goto out;
	if (cfg->tls != RPCSTREAM_TLS_OFF) {
		if (check_readable("certificate", cfg->cert) < 0 ||
		    check_readable("key", cfg->key) < 0)
			goto out;
		if (server_tls_load(&srv, false) < 0)
			goto out;
	}
	err[0] = '\0';
	rc = store_open(&srv.store, cfg->data, err, sizeof(err));
	if (rc < 0) {
		if (err[0])
			log_error("data folder: %s", err);
		else
			log_error("cannot open the data folder %s: %s", cfg->data, strerror(-rc));
		goto out;
	}
	store_set_inline_max(srv.store, cfg->inline_max);
	err[0] = '\0';
	rc = store_check_in_service(srv.store, cfg->tombstone_ttl_s, when, sizeof(when));
	if (rc < 0) {
		log_error(
		    "data folder %s was last in service on %s, longer ago than tombstone_ttl "
		    "(%u s): files deleted since then could come back from it. Empty the folder "
		    "and let 'dfs repair --all' rebuild it (see docs/operations.md), or, if "
		    "no file was deleted since, remove %s/IN-SERVICE and start again",
		    cfg->data, when, cfg->tombstone_ttl_s, cfg->data);
		goto out;
	}
	/* Writable so that users can change their own password; a database
	 * this server may only read still serves logins. A missing file is
	 * never created here: the read-only open explains it. */
	rc = user_db_is_url(cfg->users) || access(cfg->users, W_OK) == 0
		 ? user_db_open(&srv.users, cfg->users, true, err, sizeof(err))
		 : -EACCES;
	if (rc < 0) {
		err[0] = '\0';
		rc = user_db_open(&srv.users, cfg->users, false, err, sizeof(err));
		if (rc == 0)
			log_info("user database %s is read-only here: 'dfs passwd' is refused",
				 cfg->users);
	}
	if (rc < 0) {
		if (err[0])
			log_error("user database: %s", err);
		else
			log_error("cannot open the user database %s: %s", cfg->users,
				  strerror(-rc));
		goto out;
	}
	rc = sessions_new_limits(&srv.sessions,
				 &(struct sessions_limits){
				     .ttl_s = cfg->session_ttl_s,
				     .max_sessions = MAX_SESSIONS,
				     .max_per_user = cfg->max_sessions_per_user,
				     .max_logins = MAX_PENDING_LOGINS,
				     .max_logins_per_addr = SESSIONS_LOGINS_PER_ADDRESS,
				     .max_logins_per_conn = SESSIONS_LOGINS_PER_CONN,
				 });
	if (rc < 0) {
		log_error("cannot create the session table: %s", strerror(-rc));
		goto out;
	}
	if (cfg->metrics_listen[0] != '\0') {
		rc = metrics_new(&srv.metrics);
		if (rc == 0)
			rc = metrics_start(&srv, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "cannot allocate the metrics: %s",
				 strerror(-rc));
		if (rc < 0) {
			log_error("%s", err);
			goto out;
		}
		log_info("metrics at http://%s/metrics", cfg->metrics_listen);
	}

	rc = listener_open(&srv, &lfd, &port, err, sizeof(err));
	if (rc < 0) {
		log_error("%s", err);
		goto out;
	}
	rc = registry_register(cfg->program, DFS_V1, port, err, sizeof(err));
	if (rc < 0) {
		log_error("%s", err);
		goto out;
	}
	registered = true;
	rc = housekeeper_start(&hk, &srv);
	if (rc < 0) {
		log_error("cannot start the housekeeping thread: %s", strerror(-rc));
		goto out;
	}
	rc = scrub_start(&srv.scrub, srv.store,
			 &(struct scrub_settings){.data = cfg->data,
						  .self = cfg->id,
						  .interval_s = cfg->scrub_interval_s,
						  .rate_mb_s = cfg->scrub_rate_mb_s});
	if (rc < 0) {
		log_error("cannot start the scrub thread: %s", strerror(-rc));
		goto out;
	}
	scrub_fd = scrub_wake_fd(srv.scrub);
	rc = heal_start(srv.heal);
	if (rc < 0) {
		log_error("cannot start the recovery thread: %s", strerror(-rc));
		goto out;
	}

	if (strchr(cfg->listen, ':') && cfg->listen[0] != '[')
		snprintf(where, sizeof(where), "[%s]", cfg->listen);
	else
		snprintf(where, sizeof(where), "%s", cfg->listen);
	log_info("ready: program 0x%x version %u on %s:%u, data %s, tls %s", cfg->program, DFS_V1,
		 where, port, cfg->data, tls_word(cfg->tls));

	rc = listener_run(&srv, lfd, &stop_requested);
	lfd = -1;
	/* Threads that did not end still use the shared state: the exit frees it. */
	keep_state = rc == -EBUSY;
	status = rc == 0 || rc == -EBUSY ? 0 : 1;
out:
	if (registered)
		registry_unregister(cfg->program, DFS_V1);
	housekeeper_stop(&hk);
	heal_stop(srv.heal);
	srv.heal = NULL;
	scrub_fd = -1;
	scrub_stop(srv.scrub);
	srv.scrub = NULL;
	metrics_stop(&srv);
	if (lfd >= 0)
		close(lfd);
	if (!keep_state) {
		SSL_CTX_free(srv.tls);
		metrics_free(srv.metrics);
		sessions_free(srv.sessions);
		user_db_close(srv.users);
		store_close(srv.store);
	}
	if (status == 0)
		log_info("stopped");
	return status;
}

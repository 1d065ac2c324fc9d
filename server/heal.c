/* heal.c: the recovery thread: schedule, passes over users, pacing, position. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "dfs.h"
#include "dfs_peer.h"
#include "heal.h"
#include "log.h"
#include "scrub.h"
#include "server.h"

#define STATE_NAME  "heal-state"
#define STATE_MAGIC "dfs-heal 1 "
#define USERS_MAX   (1u << 16)
#define RETRY_MIN_S 5
/* While users' calls arrive, a pass waits this long after each file. */
#define BUSY_PAUSE_MS  50
#define BUSY_WINDOW_NS (1000 * 1000000LL)
/* How often a waiting thread looks for copies the scrub found corrupt. */
#define LOOK_MS 2000
#define NS	1000000000LL

struct heal {
	struct server *srv;
	struct dfs_client *c;
	pthread_t tid;
	bool started;
	int pipe[2];
	atomic_bool stop;
	atomic_bool nudged;	   /* another server asked for a pass */
	bool started_once;	   /* a pass has run: the next one reloads the client */
	struct dfs_peer_store own; /* this server's store, written directly */
	pthread_mutex_t lock;	   /* guards p */
	pthread_mutex_t pace_lock; /* guards rate, calls_seen and busy_until_ns */
	struct heal_progress p;
	struct scrub_rate rate;
	uint64_t calls_seen;
	int64_t busy_until_ns;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static void log_event(const struct dfs_event *ev, void *arg)
{
	(void)arg;
	if (ev->kind == DFS_EVENT_REPAIRED)
		log_info("recovery: %s", ev->text);
	else if (ev->kind == DFS_EVENT_WARNING)
		log_warn("recovery: %s", ev->text);
	else if (ev->kind == DFS_EVENT_SERVER_DOWN)
		log_debug("recovery: %s", ev->text);
}

/* (Re)reads the peers file, the certificate and the key: each pass uses those
 * of its start, so renewed certificates and a rotated CA take effect without a
 * restart. 0, or -errno with the old client kept and the reason logged. */
static int reload_client(struct heal *h)
{
	const struct server_config *cfg = &h->srv->cfg;
	struct dfs_client *c;
	char err[512] = "";
	int rc;

	rc = dfs_peer_client_new(&c, cfg->peers, cfg->id, cfg->cert, cfg->key, err, sizeof(err));
	if (rc) {
		log_error("recovery: peers file %s: %s", cfg->peers, err);
		return rc;
	}
	if (h->c && dfs_peer_servers(c) != dfs_peer_servers(h->c)) {
		log_error("recovery: peers file %s now names %u servers, not %u: restart dfsd "
			  "to use it",
			  cfg->peers, dfs_peer_servers(c), dfs_peer_servers(h->c));
		dfs_client_free(c);
		return -EINVAL;
	}
	dfs_set_event_handler(c, log_event, NULL);
	dfs_peer_set_store(c, &h->own);
	dfs_client_free(h->c);
	h->c = c;
	return 0;
}

int heal_prepare(struct heal **out, struct server *srv)
{
	struct server_config *cfg = &srv->cfg;
	struct heal *h;
	int rc;

	*out = NULL;
	if (!cfg->peers[0]) {
		log_info("no peers file: this server does not recover from the others by itself");
		return 0;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->srv = srv;
	heal_store_init(&h->own, srv);
	rc = reload_client(h);
	if (rc) {
		free(h);
		return rc;
	}
	snprintf(cfg->peer_ca, sizeof(cfg->peer_ca), "%s", dfs_peer_ca(h->c));
	cfg->peer_count = dfs_peer_servers(h->c);
	h->pipe[0] = h->pipe[1] = -1;
	h->rate.bytes_per_s = (uint64_t)cfg->heal_rate_mb_s * 1000000u;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->pace_lock, NULL);
	*out = h;
	return 0;
}

/* Waits up to ms, or until stopped; false once stopped. */
static bool nap(struct heal *h, int ms)
{
	struct pollfd pfd = {h->pipe[0], POLLIN, 0};

	char drain[64];

	if (atomic_load(&h->stop))
		return false;
	if (ms > 0 && poll(&pfd, 1, ms) > 0)
		while (read(h->pipe[0], drain, sizeof(drain)) > 0)
			;
	return !atomic_load(&h->stop);
}

/* After each file (from any of the pass's workers): stop if asked, keep the
 * rate, yield to busy users. */
static int pace(void *arg, uint64_t bytes)
{
	struct heal *h = arg;
	uint64_t calls = atomic_load(&h->srv->client_calls);
	int64_t now = now_ns(), wait = 0;

	pthread_mutex_lock(&h->pace_lock);
	if (calls != h->calls_seen) {
		h->calls_seen = calls;
		h->busy_until_ns = now + BUSY_WINDOW_NS;
	}
	if (h->rate.bytes_per_s)
		wait = scrub_rate_delay(&h->rate, now, bytes) / 1000000 + 1;
	else if (now < h->busy_until_ns)
		wait = BUSY_PAUSE_MS;
	pthread_mutex_unlock(&h->pace_lock);
	if (wait > 1 && !nap(h, (int)wait))
		return 1;
	return atomic_load(&h->stop) ? 1 : 0;
}

static void state_path(const struct heal *h, char *buf, size_t len, const char *suffix)
{
	snprintf(buf, len, "%s/%s%s", h->srv->cfg.data, STATE_NAME, suffix);
}

/* The pass a previous run left unfinished: its start and last user done. */
static bool load_state(const struct heal *h, int64_t *started_ns, char user[65])
{
	char path[4200], text[160], word[65];
	long long when;
	FILE *f;
	bool ok;

	state_path(h, path, sizeof(path), "");
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(text, sizeof(text), f) && strncmp(text, STATE_MAGIC, strlen(STATE_MAGIC)) == 0 &&
	     sscanf(text + strlen(STATE_MAGIC), "%lld %64s", &when, word) == 2;
	fclose(f);
	if (!ok) {
		log_warn("recovery: %s is not readable; the pass starts over", path);
		return false;
	}
	*started_ns = when;
	if (strcmp(word, "-") == 0)
		word[0] = '\0';
	memcpy(user, word, strlen(word) + 1);
	return true;
}

/* Keeps the pass's position; losing it only repeats work, so no fsync. */
static void save_state(const struct heal *h, int64_t started_ns, const char *user)
{
	char path[4200], tmp[4200];
	FILE *f;

	state_path(h, path, sizeof(path), "");
	state_path(h, tmp, sizeof(tmp), ".tmp");
	f = fopen(tmp, "we");
	if (!f ||
	    fprintf(f, STATE_MAGIC "%" PRId64 " %s\n", started_ns, user[0] ? user : "-") < 0 ||
	    fclose(f) != 0 || rename(tmp, path) != 0) {
		if (f == NULL)
			log_warn("recovery: cannot save its position in %s: %s", path,
				 strerror(errno));
		return;
	}
}

static void clear_state(const struct heal *h)
{
	char path[4200];

	state_path(h, path, sizeof(path), "");
	(void)unlink(path);
}

/* Every user with records on some server; false if a server could not be asked. */
static bool gather_users(struct heal *h, char (*users)[65], size_t *count)
{
	unsigned n = dfs_peer_servers(h->c);
	bool all = true;

	*count = 0;
	for (unsigned s = 1; s <= n; s++) {
		if (dfs_peer_users(h->c, s, users, USERS_MAX, count) != 0) {
			log_debug("recovery: %s", dfs_peer_error(h->c));
			all = false;
		}
	}
	return all;
}

/* One pass; true if everything was brought level. */
static bool pass(struct heal *h)
{
	char(*users)[65] = calloc(USERS_MAX, sizeof(*users));
	char resume[65] = "";
	int64_t started = now_ns();
	size_t count = 0, first = 0;
	uint64_t copies = 0, bytes = 0;
	bool complete, resumed;

	if (!users)
		return false;
	if (h->started_once)
		(void)reload_client(h);
	h->started_once = true;
	complete = gather_users(h, users, &count);
	resumed = load_state(h, &started, resume);
	while (resumed && first < count && strcmp(users[first], resume) <= 0)
		first++;
	pthread_mutex_lock(&h->lock);
	h->p.running = true;
	h->p.pass_started_ns = started;
	h->p.users_total = count;
	h->p.users_done = first;
	h->p.files_done = h->p.bytes_done = 0;
	pthread_mutex_unlock(&h->lock);
	if (resumed)
		log_info("recovery: pass resumed after user %s (%zu of %zu users left)",
			 resume[0] ? resume : "-", count - first, count);
	else
		save_state(h, started, "");
	for (size_t i = first; i < count && !atomic_load(&h->stop); i++) {
		struct dfs_peer_result r;
		int rc = dfs_peer_recover_user(h->c, users[i], pace, h, &r);

		if (rc == -EINTR)
			break;
		if (rc || r.failed || !r.all_up) {
			complete = false;
			log_warn("recovery of user %s here is not finished: %s", users[i],
				 rc	    ? dfs_peer_error(h->c)
				 : r.failed ? "some copies could not be made good"
					    : "some server is unreachable");
		}
		copies += r.rewritten;
		bytes += r.bytes;
		pthread_mutex_lock(&h->lock);
		h->p.users_done = i + 1;
		h->p.files_done += r.files;
		h->p.bytes_done += r.bytes;
		h->p.copies_total += r.rewritten;
		h->p.bytes_total += r.bytes;
		h->p.errors += r.failed;
		pthread_mutex_unlock(&h->lock);
		save_state(h, started, users[i]);
	}
	free(users);
	dfs_peer_disconnect(h->c);
	pthread_mutex_lock(&h->lock);
	h->p.running = false;
	pthread_mutex_unlock(&h->lock);
	if (atomic_load(&h->stop))
		return false; /* the position stays for the next start */
	clear_state(h);
	pthread_mutex_lock(&h->lock);
	h->p.passes++;
	h->p.last_end_ns = now_ns();
	h->p.incomplete = !complete;
	pthread_mutex_unlock(&h->lock);
	if (copies || !complete)
		log_info("recovery pass %s: %zu users, %" PRIu64 " chunk copies (%" PRIu64
			 " bytes) written here",
			 complete ? "done" : "ended with work left", count, copies, bytes);
	else
		log_debug("recovery pass done: %zu users, nothing to do", count);
	return complete;
}

static uint64_t corrupt_found(struct heal *h)
{
	struct scrub_progress sp;

	scrub_progress(h->srv->scrub, &sp);
	return sp.corrupt;
}

/* Tells the servers this one's records name as lacking a version, once each. */
static void send_nudges(struct heal *h)
{
	uint64_t bits = atomic_load(&h->srv->lacking_seen);
	unsigned n = dfs_peer_servers(h->c);

	for (unsigned s = 1; s <= n && bits; s++) {
		uint64_t bit = UINT64_C(1) << (s - 1);

		if (!(bits & bit))
			continue;
		if (dfs_peer_nudge(h->c, s) == 0) {
			atomic_fetch_and(&h->srv->lacking_seen, ~bit);
			log_debug("recovery: told server %u it lacks versions recorded here", s);
		}
	}
}

/* Waits ms (negative: until woken), cut short when another server asks for a
 * pass or the scrub finds a corrupt copy. Meanwhile tells others what they lack. */
static bool wait_for_work(struct heal *h, int64_t ms, uint64_t *corrupt_seen)
{
	while (ms < 0 || ms > 0) {
		int slice = ms < 0 || ms > LOOK_MS ? LOOK_MS : (int)ms;
		uint64_t now_corrupt;

		if (!nap(h, slice))
			return false;
		if (atomic_exchange(&h->nudged, false))
			return true;
		now_corrupt = corrupt_found(h);
		if (now_corrupt != *corrupt_seen) {
			*corrupt_seen = now_corrupt;
			return true;
		}
		send_nudges(h);
		if (ms > 0)
			ms -= slice;
	}
	return !atomic_load(&h->stop);
}

static void *run(void *arg)
{
	struct heal *h = arg;
	unsigned interval = h->srv->cfg.heal_interval_s;
	unsigned retry = RETRY_MIN_S;
	uint64_t corrupt_seen = corrupt_found(h);
	int64_t wait_ms = 0; /* connections wait in the backlog until the listener serves */

	while (wait_for_work(h, wait_ms, &corrupt_seen)) {
		if (pass(h)) {
			retry = RETRY_MIN_S;
			wait_ms = interval ? (int64_t)interval * 1000 : -1;
		} else {
			wait_ms = (int64_t)retry * 1000;
			if (retry < (interval ? interval : 3600))
				retry *= 2;
		}
	}
	return NULL;
}

int heal_start(struct heal *h)
{
	int rc;

	if (!h)
		return 0;
	if (pipe2(h->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	rc = pthread_create(&h->tid, NULL, run, h);
	if (rc)
		return -rc;
	h->started = true;
	return 0;
}

void heal_nudge(struct heal *h)
{
	if (!h)
		return;
	atomic_store(&h->nudged, true);
	if (h->pipe[1] >= 0 && write(h->pipe[1], "n", 1) < 0)
		log_debug("recovery: cannot wake the thread: %s", strerror(errno));
}

void heal_stop(struct heal *h)
{
	if (!h)
		return;
	atomic_store(&h->stop, true);
	if (h->pipe[1] >= 0 && write(h->pipe[1], "x", 1) < 0)
		log_debug("recovery: cannot wake the thread: %s", strerror(errno));
	if (h->started)
		pthread_join(h->tid, NULL);
	if (h->pipe[0] >= 0)
		close(h->pipe[0]);
	if (h->pipe[1] >= 0)
		close(h->pipe[1]);
	dfs_client_free(h->c);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->pace_lock);
	free(h);
}

void heal_progress(struct heal *h, struct heal_progress *out)
{
	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	*out = h->p;
	pthread_mutex_unlock(&h->lock);
}

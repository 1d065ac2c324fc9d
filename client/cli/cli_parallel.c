/* cli_parallel.c: runs the files of one command on several clients sharing one session. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Transfers (or groups of small files) in flight at once: enough to hide round trips
 * and let the servers' disks commit several calls per flush; each one holds only a
 * few MiB. More workers cost more than they hide: each connects to every server, and
 * small files already travel many per call (measured: 8 were slower than 4). */
#define CLI_PARALLEL_MAX 4

struct batch {
	struct cli *cli;
	int n;
	cli_parallel_run_fn run;
	cli_parallel_group_fn run_group; /* instead of run, with groups */
	const int *group;		 /* items in the group that begins at item i */
	void *arg;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int next;	/* the next item to take */
	int workers;	/* workers still able to take items */
	int *rc;	/* per item */
	char **why;	/* per item: the client's explanation of a failure */
	bool *finished; /* per item */
};

/* The items in the group that begins at the next item. Called locked. */
static int next_len(const struct batch *b)
{
	int len = b->group ? b->group[b->next] : 1;

	return len < 1 ? 1 : len > b->n - b->next ? b->n - b->next : len;
}

/* Takes the next group of items (*len of them), or -1 when none is left. */
static int take(struct batch *b, int *len)
{
	int i = -1;

	pthread_mutex_lock(&b->lock);
	if (b->next < b->n) {
		i = b->next;
		*len = next_len(b);
		b->next += *len;
	}
	pthread_mutex_unlock(&b->lock);
	return i;
}

/* Runs items i..i+len-1 on c and marks them finished. */
static void run_items(struct batch *b, struct dfs_client *c, int i, int len)
{
	char *why = NULL;
	int rc;

	if (b->run_group) {
		b->run_group(c, i, len, b->rc + i, b->why + i, b->arg);
	} else {
		rc = b->run(c, i, b->arg);
		if (rc < 0) {
			const char *s = dfs_last_error(c);

			why = strdup(s && *s ? s : dfs_strerror(rc));
		}
		b->rc[i] = rc;
		b->why[i] = why;
	}
	pthread_mutex_lock(&b->lock);
	for (int j = i; j < i + len; j++)
		b->finished[j] = true;
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
}

static void *worker(void *arg)
{
	struct batch *b = arg;
	struct dfs_client *c = NULL;
	int i, len;

	if (dfs_client_share(b->cli->session ? b->cli->session : b->cli->client, &c) == 0)
		while ((i = take(b, &len)) >= 0)
			run_items(b, c, i, len);
	dfs_client_free(c);
	pthread_mutex_lock(&b->lock);
	b->workers--;
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* Waits for item i; runs items on the command's own client when no worker is left. */
static void wait_for(struct batch *b, int i)
{
	int j, len;

	pthread_mutex_lock(&b->lock);
	while (!b->finished[i]) {
		if (b->workers == 0 && b->next < b->n) {
			j = b->next;
			len = next_len(b);
			b->next += len;
			pthread_mutex_unlock(&b->lock);
			run_items(b, b->cli->client, j, len);
			pthread_mutex_lock(&b->lock);
			continue;
		}
		pthread_cond_wait(&b->changed, &b->lock);
	}
	pthread_mutex_unlock(&b->lock);
}

/* Runs b's items, reporting each in order. 0 or -ENOMEM. */
static int run_batch(struct batch b, cli_parallel_report_fn report)
{
	struct cli *cli = b.cli;
	int n = b.n, groups = 0;
	pthread_t tids[CLI_PARALLEL_MAX];
	int nthreads;
	void *arg = b.arg;
	bool progress_ok = cli->progress_ok;

	b.rc = calloc((size_t)n, sizeof(*b.rc));
	b.why = calloc((size_t)n, sizeof(*b.why));
	b.finished = calloc((size_t)n, sizeof(*b.finished));
	if (!b.rc || !b.why || !b.finished) {
		free(b.rc);
		free(b.why);
		free(b.finished);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i += b.group && b.group[i] > 1 ? b.group[i] : 1)
		groups++;
	nthreads = (int)cli_parallel_clients(groups);
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.changed, NULL);
	/* With several files in flight, one progress line per file would only flicker. */
	if (nthreads > 0)
		cli->progress_ok = false;
	for (int t = 0; t < nthreads; t++)
		if (pthread_create(&tids[b.workers], NULL, worker, &b) == 0)
			b.workers++;
	nthreads = b.workers;
	for (int i = 0; i < n; i++) {
		wait_for(&b, i);
		report(cli, i, b.rc[i], b.why[i], arg);
		free(b.why[i]);
	}
	for (int t = 0; t < nthreads; t++)
		pthread_join(tids[t], NULL);
	cli->progress_ok = progress_ok;
	pthread_cond_destroy(&b.changed);
	pthread_mutex_destroy(&b.lock);
	free(b.rc);
	free(b.why);
	free(b.finished);
	return 0;
}

unsigned cli_parallel_clients(int groups)
{
	/* With one group there is nothing to overlap: it runs on the command's client. */
	if (groups < 2)
		return 0;
	return groups < CLI_PARALLEL_MAX ? (unsigned)groups : CLI_PARALLEL_MAX;
}

int cli_parallel(struct cli *cli, int n, cli_parallel_run_fn run, cli_parallel_report_fn report,
		 void *arg)
{
	struct batch b = {.cli = cli, .n = n, .run = run, .arg = arg};

	return run_batch(b, report);
}

void cli_group_done(size_t j, int err, const char *why, void *arg)
{
	struct cli_group_result *g = arg;

	g->rc[j] = err;
	g->why[j] = err < 0 ? strdup(why && *why ? why : dfs_strerror(err)) : NULL;
}

int cli_parallel_groups(struct cli *cli, int n, const int *group, cli_parallel_group_fn run,
			cli_parallel_report_fn report, void *arg)
{
	struct batch b = {.cli = cli, .n = n, .run_group = run, .group = group, .arg = arg};

	return run_batch(b, report);
}

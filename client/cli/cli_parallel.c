/* cli_parallel.c: runs the files of one command on several clients sharing one session. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Transfers in flight at once: enough to hide round trips and let the servers' disks
 * commit several files per flush; each one holds only a few MiB. */
#define CLI_PARALLEL_MAX 8

struct batch {
	struct cli *cli;
	int n;
	cli_parallel_run_fn run;
	void *arg;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int next;	/* the next item to take */
	int workers;	/* workers still able to take items */
	int *rc;	/* per item */
	char **why;	/* per item: the client's explanation of a failure */
	bool *finished; /* per item */
};

/* Takes the next item, or -1 when none is left. */
static int take(struct batch *b)
{
	int i;

	pthread_mutex_lock(&b->lock);
	i = b->next < b->n ? b->next++ : -1;
	pthread_mutex_unlock(&b->lock);
	return i;
}

static void finish(struct batch *b, struct dfs_client *c, int i, int rc)
{
	char *why = NULL;

	if (rc < 0) {
		const char *s = dfs_last_error(c);

		why = strdup(s && *s ? s : dfs_strerror(rc));
	}
	pthread_mutex_lock(&b->lock);
	b->rc[i] = rc;
	b->why[i] = why;
	b->finished[i] = true;
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
}

static void *worker(void *arg)
{
	struct batch *b = arg;
	struct dfs_client *c = NULL;
	int i;

	if (dfs_client_share(b->cli->session ? b->cli->session : b->cli->client, &c) == 0)
		while ((i = take(b)) >= 0)
			finish(b, c, i, b->run(c, i, b->arg));
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
	int j;

	pthread_mutex_lock(&b->lock);
	while (!b->finished[i]) {
		if (b->workers == 0 && b->next < b->n) {
			j = b->next++;
			pthread_mutex_unlock(&b->lock);
			finish(b, b->cli->client, j, b->run(b->cli->client, j, b->arg));
			pthread_mutex_lock(&b->lock);
			continue;
		}
		pthread_cond_wait(&b->changed, &b->lock);
	}
	pthread_mutex_unlock(&b->lock);
}

int cli_parallel(struct cli *cli, int n, cli_parallel_run_fn run, cli_parallel_report_fn report,
		 void *arg)
{
	struct batch b = {.cli = cli, .n = n, .run = run, .arg = arg};
	pthread_t tids[CLI_PARALLEL_MAX];
	int nthreads = n < CLI_PARALLEL_MAX ? n : CLI_PARALLEL_MAX;
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
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.changed, NULL);
	/* With one file there is nothing to overlap; with several, one progress line
	 * per file in flight would only flicker. */
	if (nthreads > 1)
		cli->progress_ok = false;
	else
		nthreads = 0;
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

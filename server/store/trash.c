/* trash.c: chunk files that no record needs any more, moved into tmp/ under their
 * folder's lock and removed there by a thread of the store's own.
 *
 * A rename frees no blocks: the commit that replaces a large file does not wait
 * while the file system frees (and, mounted with discard, trims) the blocks of the
 * version before. A file left in tmp/ by a crash is removed at the next start
 * like any other file there. */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirsync.h"

/* No user name holds '#': these names never look like a staged upload's. */
#define TRASH_PREFIX "#old."

struct trash {
	int rootfd;
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool pending, stop;
	atomic_uint_fast64_t serial; /* makes each moved file's name unique */
};

/* Removes every moved file in tmp/. */
static void sweep(int rootfd)
{
	DIR *d = opendir_at(rootfd, "tmp");
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, TRASH_PREFIX, strlen(TRASH_PREFIX)) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

static void *run(void *arg)
{
	struct trash *t = arg;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		if (!t->pending) {
			pthread_cond_wait(&t->wake, &t->lock);
			continue;
		}
		t->pending = false;
		pthread_mutex_unlock(&t->lock);
		sweep(t->rootfd);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int trash_start(struct store *st)
{
	struct trash *t = calloc(1, sizeof(*t));
	int rc;

	if (t == NULL)
		return -ENOMEM;
	t->rootfd = st->rootfd;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->wake, NULL);
	rc = pthread_create(&t->tid, NULL, run, t);
	if (rc != 0) {
		pthread_cond_destroy(&t->wake);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return -rc;
	}
	st->trash = t;
	return 0;
}

void trash_stop(struct store *st)
{
	struct trash *t = st->trash;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->tid, NULL);
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
	free(t);
	st->trash = NULL;
}

int trash_file(struct store *st, int dir_fd, const char *name)
{
	struct trash *t = st->trash;
	char moved[64];

	if (t != NULL) {
		snprintf(moved, sizeof(moved), "tmp/" TRASH_PREFIX "%016" PRIxFAST64,
			 atomic_fetch_add(&t->serial, 1));
		if (renameat(dir_fd, name, t->rootfd, moved) == 0) {
			pthread_mutex_lock(&t->lock);
			t->pending = true;
			pthread_cond_signal(&t->wake);
			pthread_mutex_unlock(&t->lock);
			return 0;
		}
	}
	return unlinkat(dir_fd, name, 0) == 0 ? 0 : -errno;
}

/* writer.c: the blocks of a download written into its file one at a time, by the thread
 * that finds nobody writing. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include "writer.h"

struct job {
	struct block_stream *s;
	char *block;
	size_t len;
	uint64_t offset, end;
};

struct block_writer {
	int fd;
	pthread_mutex_t mu;
	pthread_cond_t changed; /* a buffer came free, or a job was written */
	/* Some thread is writing; it writes every job queued before it stops. */
	bool writing;
	/* Every buffer is free, being filled by a chunk thread, or queued here;
	 * both arrays hold nblocks. */
	unsigned nblocks, allocated, nfree;
	char **free;
	struct job *queue;
	unsigned head, count;
};

int write_at(int fd, const char *p, size_t len, uint64_t offset)
{
	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, (off_t)offset);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
		offset += (uint64_t)w;
	}
	return 0;
}

/* Writes the queued jobs until none is left; called with w->mu held and
 * w->writing set, returns the same way with w->writing clear. The file's
 * writes stay in one thread at a time and the others go on fetching. */
static void write_queued(struct block_writer *w)
{
	while (w->count > 0) {
		struct job j = w->queue[w->head];
		int err = 0;

		w->head = (w->head + 1) % w->nblocks;
		w->count--;
		/* A stream that failed once writes nothing more: its chunk is
		 * fetched again or the get fails. */
		if (j.s->err == 0) {
			pthread_mutex_unlock(&w->mu);
			err = write_at(w->fd, j.block, j.len, j.offset);
			if (!err && j.s->written)
				j.s->written(j.s, j.end);
			pthread_mutex_lock(&w->mu);
		}
		if (err && j.s->err == 0)
			j.s->err = err;
		j.s->queued--;
		w->free[w->nfree++] = j.block;
		pthread_cond_broadcast(&w->changed);
	}
	w->writing = false;
}

int block_writer_start(struct block_writer **out, int fd, unsigned nblocks)
{
	struct block_writer *w;

	*out = NULL;
	if (nblocks < 1)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->nblocks = nblocks;
	w->free = calloc(nblocks, sizeof(*w->free));
	w->queue = calloc(nblocks, sizeof(*w->queue));
	if (!w->free || !w->queue) {
		free(w->free);
		free(w->queue);
		free(w);
		return -ENOMEM;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->changed, NULL);
	*out = w;
	return 0;
}

void block_writer_stop(struct block_writer *w)
{
	if (!w)
		return;
	for (unsigned i = 0; i < w->nfree; i++)
		free(w->free[i]);
	pthread_cond_destroy(&w->changed);
	pthread_mutex_destroy(&w->mu);
	free(w->free);
	free(w->queue);
	free(w);
}

char *block_writer_get(struct block_writer *w)
{
	char *b = NULL;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		if (w->nfree > 0) {
			b = w->free[--w->nfree];
			break;
		}
		/* Buffers are made as they are first needed: a get of a few
		 * chunks never holds the whole pool. */
		if (w->allocated < w->nblocks) {
			b = malloc(DFS_BLOCK_MAX);
			if (b)
				w->allocated++;
			/* Without memory, wait for a buffer in use, if there is one. */
			if (b || w->allocated == 0)
				break;
		}
		pthread_cond_wait(&w->changed, &w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return b;
}

void block_writer_put(struct block_writer *w, char *block)
{
	if (!block)
		return;
	pthread_mutex_lock(&w->mu);
	w->free[w->nfree++] = block;
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->mu);
}

int block_stream_submit(struct block_stream *s, char *block, size_t len, uint64_t offset,
			uint64_t end)
{
	struct block_writer *w = s->w;
	int err;

	pthread_mutex_lock(&w->mu);
	/* Every queued job holds one of the nblocks buffers, so the ring never
	 * overflows. */
	w->queue[(w->head + w->count) % w->nblocks] =
	    (struct job){.s = s, .block = block, .len = len, .offset = offset, .end = end};
	w->count++;
	s->queued++;
	/* Nobody writing: this thread writes its block while it is still in
	 * its cache, and whatever others queue meanwhile. */
	if (!w->writing) {
		w->writing = true;
		write_queued(w);
	}
	err = s->err;
	pthread_mutex_unlock(&w->mu);
	return err;
}

int block_stream_drain(struct block_stream *s)
{
	struct block_writer *w = s->w;
	int err;

	pthread_mutex_lock(&w->mu);
	while (s->queued > 0)
		pthread_cond_wait(&w->changed, &w->mu);
	err = s->err;
	pthread_mutex_unlock(&w->mu);
	return err;
}

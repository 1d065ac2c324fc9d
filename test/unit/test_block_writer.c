/* test_block_writer.c: blocks of several threads reach their places in one file through one
 * writer, a failed write is the stream's error, and the pool holds no more buffers than given. */
#include "check.h"
#include "transfer/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#define STREAMS 4
#define BLOCKS	6 /* per stream; the last one short */
#define SHORT	1000

struct feeder {
	struct block_stream s; /* first: the callback is given it */
	struct block_writer *w;
	unsigned id;
	uint64_t last_end; /* what the writer reported last */
	unsigned calls;
	int err;
};

static void feeder_written(struct block_stream *s, uint64_t end)
{
	struct feeder *f = (struct feeder *)s;

	/* One writer, in the order given: the ends only grow. */
	CHECK(end > f->last_end);
	f->last_end = end;
	f->calls++;
}

static uint64_t stream_size(void)
{
	return (uint64_t)(BLOCKS - 1) * DFS_BLOCK_MAX + SHORT;
}

static unsigned char byte_at(unsigned id, uint64_t pos)
{
	return (unsigned char)(id * 37 + pos * 11 + pos / 4093);
}

static void *feed(void *arg)
{
	struct feeder *f = arg;
	uint64_t base = f->id * stream_size();

	for (unsigned b = 0; b < BLOCKS; b++) {
		char *block = block_writer_get(f->w);
		size_t len = b + 1 < BLOCKS ? DFS_BLOCK_MAX : SHORT;
		uint64_t at = (uint64_t)b * DFS_BLOCK_MAX;

		REQUIRE(block);
		for (size_t i = 0; i < len; i++)
			block[i] = (char)byte_at(f->id, at + i);
		block_stream_submit(&f->s, block, len, base + at, at + len);
	}
	f->err = block_stream_drain(&f->s);
	return NULL;
}

static void test_many_streams(void)
{
	char path[] = "/tmp/test_block_writer.XXXXXX";
	int fd = mkstemp(path);
	struct block_writer *w = NULL;
	struct feeder f[STREAMS];
	pthread_t tid[STREAMS];
	unsigned char *back;
	size_t total = STREAMS * stream_size();

	REQUIRE(fd >= 0);
	unlink(path);
	/* Fewer buffers than threads: they wait for each other, none is lost. */
	REQUIRE(block_writer_start(&w, fd, 3) == 0);
	for (unsigned k = 0; k < STREAMS; k++) {
		f[k] = (struct feeder){.s = {.w = w, .written = feeder_written}, .w = w, .id = k};
		REQUIRE(pthread_create(&tid[k], NULL, feed, &f[k]) == 0);
	}
	for (unsigned k = 0; k < STREAMS; k++) {
		pthread_join(tid[k], NULL);
		CHECK_EQ(f[k].err, 0);
		CHECK_EQ(f[k].calls, BLOCKS);
		CHECK_EQ_U64(f[k].last_end, stream_size());
	}
	block_writer_stop(w);
	back = malloc(total);
	REQUIRE(back);
	CHECK_EQ(pread(fd, back, total, 0), (ssize_t)total);
	for (unsigned k = 0; k < STREAMS; k++) {
		uint64_t wrong = 0;

		for (uint64_t i = 0; i < stream_size(); i++)
			wrong += back[k * stream_size() + i] != byte_at(k, i);
		CHECK_EQ_U64(wrong, 0);
	}
	free(back);
	close(fd);
}

static void test_failed_write(void)
{
	int fd = open("/dev/null", O_RDONLY);
	struct block_writer *w = NULL;
	struct feeder f;
	char *block;

	REQUIRE(fd >= 0);
	REQUIRE(block_writer_start(&w, fd, 1) == 0);
	f = (struct feeder){.s = {.w = w, .written = feeder_written}, .w = w};
	block = block_writer_get(w);
	REQUIRE(block);
	memset(block, 'x', 100);
	block_stream_submit(&f.s, block, 100, 0, 100);
	/* The only buffer comes back once the failed write is done with it. */
	block = block_writer_get(w);
	REQUIRE(block);
	CHECK_EQ(block_stream_submit(&f.s, block, 100, 100, 200), -EBADF);
	CHECK_EQ(block_stream_drain(&f.s), -EBADF);
	CHECK_EQ(f.calls, 0);
	block_writer_stop(w);
	close(fd);
}

static void test_empty(void)
{
	struct block_writer *w = NULL;

	CHECK_EQ(block_writer_start(&w, 1, 0), -EINVAL);
	CHECK(w == NULL);
	block_writer_stop(NULL);
	REQUIRE(block_writer_start(&w, 1, 2) == 0);
	block_writer_put(w, block_writer_get(w));
	block_writer_stop(w);
}

int main(void)
{
	test_many_streams();
	test_failed_write();
	test_empty();
	CHECK_DONE();
}

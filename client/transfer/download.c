/* download.c: one chunk fetched from one server, checked as it arrives. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check_reply.h"
#include "checksum.h"
#include "download.h"
#include "internal.h"

/* READ calls in flight per connection while a chunk streams in. */
#define GET_WINDOW 4

void part_record(const struct part *p, unsigned index, uint64_t done)
{
	char line[PART_SLOT_LEN + 1];

	if (!p || p->state_fd < 0)
		return;
	snprintf(line, sizeof(line), "%020llu\n", (unsigned long long)done);
	if (pwrite(p->state_fd, line, PART_SLOT_LEN,
		   p->slots + (off_t)(index - 1) * PART_SLOT_LEN) != PART_SLOT_LEN) {
		/* A stale count only means those bytes are fetched again. */
	}
}

/* Feeds the first `len` bytes of the chunk already in fd to the checksum. */
static int checksum_prefix(int fd, uint64_t offset, uint64_t len, struct checksum *ck)
{
	char *buf = malloc(DFS_BLOCK_MAX);
	uint64_t pos = 0;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	while (pos < len) {
		size_t want = len - pos < DFS_BLOCK_MAX ? (size_t)(len - pos) : DFS_BLOCK_MAX;
		ssize_t r = pread(fd, buf, want, (off_t)(offset + pos));

		if (r <= 0) {
			err = r < 0 ? -errno : -EIO;
			break;
		}
		checksum_update(ck, buf, (size_t)r);
		pos += (uint64_t)r;
	}
	free(buf);
	return err;
}

void report_read(struct dfs_client *c, const struct read_progress *p, const char *name,
		 uint64_t len, uint64_t *reported)
{
	struct dfs_event ev = {.kind = DFS_EVENT_PROGRESS, .name = name};

	if (!p || len == 0)
		return;
	*reported += len;
	ev.total = p->total;
	ev.done = atomic_fetch_add(p->done, len) + len;
	client_emit(c, &ev);
}

/* A chunk's blocks on their way to the writer: the sidecar counts a block
 * once it is written. */
struct chunk_stream {
	struct block_stream s; /* first: the writer's callback is given it */
	const struct part *part;
	unsigned index;
};

static void chunk_written(struct block_stream *s, uint64_t end)
{
	const struct chunk_stream *cs = (const struct chunk_stream *)s;

	part_record(cs->part, cs->index, end);
}

/* get_chunk_from, starting at byte `start` of the chunk (the bytes before
 * it are already in fd; they are checksummed, not fetched), recording
 * progress in part and reporting it through prog (bytes added to *reported);
 * through w when not NULL. A failed local write is also set in *write_err. */
/* Bytes written between two starts of writeback, for a chunk written to disk
 * as it arrives. */
#define WRITE_BEHIND (8u << 20)

/* get_chunk_part; with write_behind (and no writer), also starts writing each
 * WRITE_BEHIND bytes to disk as they land, so that the caller's final fsync
 * waits for the last few only. */
static int fetch_chunk(struct dfs_client *c, struct link *l, int role, const char *name,
		       uint64_t ver, unsigned index, int fd, uint64_t offset, uint64_t size,
		       uint64_t sum, uint64_t start, const struct part *part,
		       const struct read_progress *prog, uint64_t *reported, struct block_writer *w,
		       int *write_err, bool write_behind)
{
	uint64_t flushed = start;
	char why[256];
	CLIENT *clnt = conn_role(c, l, role, why, sizeof(why));
	dfs_read_args a = {.cred = l->cred, .ver = ver, .index = index};
	/* What each call in flight asked for, oldest first: its answer must be
	 * exactly those bytes, and goes exactly there. */
	struct {
		uint64_t offset;
		u_int count;
	} sent[GET_WINDOW];
	struct chunk_stream cs = {
	    .s = {.w = w, .written = chunk_written}, .part = part, .index = index};
	struct checksum ck;
	uint64_t asked = start;
	unsigned outstanding = 0, oldest = 0;
	/* Every answer is decoded into a block of its own: without it the XDR
	 * decoder would allocate and zero a fresh one for each. With a writer,
	 * each block goes to it and the next answer takes another from its pool. */
	char *block = NULL;
	int err = 0, werr;

	a.name.dfs_name_val = (char *)name;
	a.name.dfs_name_len = (u_int)strlen(name);
	checksum_init(&ck);
	if (start > size)
		return -EINVAL;
	if (!clnt)
		return -ENOTCONN;
	err = checksum_prefix(fd, offset, start, &ck);
	if (err)
		return err;
	/* Once one block is had, the pool never runs dry for good. */
	block = w ? block_writer_get(w) : malloc(DFS_BLOCK_MAX);
	if (!block)
		return -ENOMEM;
	while (asked < size || outstanding > 0) {
		dfs_read_res r;
		enum clnt_stat st;

		while (!err && outstanding < GET_WINDOW && asked < size) {
			a.offset = asked;
			a.count =
			    size - asked < DFS_BLOCK_MAX ? (u_int)(size - asked) : DFS_BLOCK_MAX;
			st = rpcstream_send(clnt, DFSPROC_READ, (xdrproc_t)xdr_dfs_read_args, &a);
			if (st != RPC_SUCCESS) {
				err = -EHOSTDOWN;
				goto out;
			}
			sent[(oldest + outstanding) % GET_WINDOW].offset = asked;
			sent[(oldest + outstanding) % GET_WINDOW].count = a.count;
			asked += a.count;
			outstanding++;
		}
		if (outstanding == 0)
			break;
		if (!block)
			block = block_writer_get(w);
		if (!block) {
			/* Answers still in flight: the connection cannot be used again. */
			err = -EHOSTDOWN;
			goto out;
		}
		memset(&r, 0, sizeof(r));
		r.dfs_read_res_u.data.data_val = block;
		st = rpcstream_recv(clnt, (xdrproc_t)xdr_dfs_read_res, &r);
		outstanding--;
		if (st != RPC_SUCCESS) {
			err = -EHOSTDOWN;
			goto out;
		}
		if (err) {
			/* Only draining what was sent, so the connection is clean for the next
			 * call. */
		} else if (r.status != DFS_OK) {
			err = client_errno(r.status);
		} else {
			const char *p = r.dfs_read_res_u.data.data_val;
			u_int len = r.dfs_read_res_u.data.data_len;
			uint64_t at = sent[oldest].offset;

			err = check_read_data(len, sent[oldest].count, NULL);
			if (!err && p != block)
				err = -EPROTO;
			if (!err) {
				checksum_update(&ck, p, len);
				if (w) {
					err = block_stream_submit(&cs.s, block, len, offset + at,
								  at + len);
					block = NULL;
				} else {
					err = write_at(fd, p, len, offset + at);
					if (!err)
						part_record(part, index, at + len);
					else if (write_err)
						*write_err = err;
					if (!err && write_behind &&
					    at + len - flushed >= WRITE_BEHIND) {
						/* Only a hint: a failure shows at the fsync. */
						(void)sync_file_range(fd, (off_t)(offset + flushed),
								      (off_t)(at + len - flushed),
								      SYNC_FILE_RANGE_WRITE);
						flushed = at + len;
					}
				}
			}
			if (!err)
				report_read(c, prog, name, len, reported);
		}
		oldest = (oldest + 1) % GET_WINDOW;
	}
out:
	if (w) {
		block_writer_put(w, block);
		/* Every block of this chunk is in the file before its result is known. */
		werr = block_stream_drain(&cs.s);
		if (werr && write_err)
			*write_err = werr;
		if (werr)
			err = werr;
	} else {
		free(block);
	}
	if (err)
		return err;
	return checksum_final(&ck) == sum ? 0 : -EBADMSG;
}

int get_chunk_part(struct dfs_client *c, struct link *l, int role, const char *name, uint64_t ver,
		   unsigned index, int fd, uint64_t offset, uint64_t size, uint64_t sum,
		   uint64_t start, const struct part *part, const struct read_progress *prog,
		   uint64_t *reported, struct block_writer *w, int *write_err)
{
	return fetch_chunk(c, l, role, name, ver, index, fd, offset, size, sum, start, part, prog,
			   reported, w, write_err, false);
}

int get_chunk_from(struct dfs_client *c, struct link *l, int role, const char *name, uint64_t ver,
		   unsigned index, int fd, uint64_t offset, uint64_t size, uint64_t sum,
		   bool to_disk)
{
	return fetch_chunk(c, l, role, name, ver, index, fd, offset, size, sum, 0, NULL, NULL, NULL,
			   NULL, NULL, to_disk);
}

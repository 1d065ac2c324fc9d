/* read.c: ranged reads of one pinned version of a file (dfs_open, dfs_pread, dfs_close). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check_reply.h"
#include "checksum.h"
#include "chunk.h"
#include "internal.h"
#include "names.h"

/* READ calls in flight on one connection. */
#define READ_WINDOW 4

struct dfs_reader {
	char *name;
	uint64_t ver, size;
	int64_t mtime_ns;
	unsigned nchunks, nservers;
	struct layout layout; /* where the chunks live */
	unsigned source[DFS_SERVERS_MAX], backup[DFS_SERVERS_MAX];
	uint64_t chunk_sum[DFS_SERVERS_MAX];
	/* A small file's chunks as the servers sent them with their records,
	 * verified: have bit k-1 set for chunk k held in small. */
	char *small;
	uint64_t have;
	/* The checksum of the chunk being read in order from its start: bytes
	 * read so far (ck_pos) of chunk ck_chunk (0: none). */
	unsigned ck_chunk;
	uint64_t ck_pos;
	struct checksum ck;
};

/* Keeps the chunks of a small file that servers sent with their records (see
 * plan_lookup), those that pass their checksums: reading it costs no more calls. */
static void keep_sent_chunks(struct dfs_reader *r, const struct file_view *view)
{
	if (r->size > SMALL_FILE_MAX)
		return;
	for (unsigned s = 0; s < view->nservers; s++) {
		const struct holder_view *h = &view->holders[s];
		uint64_t off, size;
		unsigned k = h->data_index;

		if (h->data_ver != r->ver || k < 1 || k > r->nchunks || (r->have >> (k - 1)) & 1)
			continue;
		chunk_range(r->size, r->nchunks, k, &off, &size);
		/* An empty chunk is never read. */
		if (size == 0 || h->data_len != size ||
		    checksum_of(h->data, h->data_len) != r->chunk_sum[k - 1])
			continue;
		if (!r->small && !(r->small = malloc(r->size ? r->size : 1)))
			return;
		memcpy(r->small + off, h->data, size);
		r->have |= 1ull << (k - 1);
	}
}

int dfs_open(struct dfs_client *c, const char *remote_name, struct dfs_reader **out)
{
	struct file_view view;
	struct read_plan plan;
	struct dfs_reader *r;
	int err;

	*out = NULL;
	err = client_check_call(c, remote_name);
	if (err)
		return err;
	err = plan_read_choice(c, remote_name, true, &view, &plan);
	if (err)
		return err;
	if (!plan.found) {
		bool any = false;

		for (unsigned i = 0; i < view.nservers; i++)
			any = any || view.holders[i].has_record;
		plan_view_free(&view);
		if (plan.deleted || !any)
			return client_fail(c, -ENOENT, "%s: no such file", remote_name);
		return client_fail(c, -EIO, "%s: some chunks are on no reachable server",
				   remote_name);
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->name = strdup(remote_name))) {
		free(r);
		plan_view_free(&view);
		return client_fail(c, -ENOMEM, "out of memory");
	}
	r->ver = plan.info->ver;
	r->size = plan.info->size;
	r->mtime_ns = plan.info->mtime_ns;
	r->nchunks = plan.info->nchunks;
	r->layout = view.layout;
	r->nservers = view.nservers;
	memcpy(r->source, plan.source, sizeof(r->source));
	memcpy(r->backup, plan.backup, sizeof(r->backup));
	memcpy(r->chunk_sum, plan.chunk_sum, sizeof(r->chunk_sum));
	keep_sent_chunks(r, &view);
	plan_view_free(&view);
	*out = r;
	return 0;
}

void dfs_reader_info(const struct dfs_reader *r, uint64_t *size, int64_t *mtime_ns,
		     uint64_t *version)
{
	if (size)
		*size = r->size;
	if (mtime_ns)
		*mtime_ns = r->mtime_ns;
	if (version)
		*version = r->ver;
}

void dfs_close(struct dfs_reader *r)
{
	if (!r)
		return;
	free(r->small);
	free(r->name);
	free(r);
}

/* Reads bytes [offset, offset + len) of chunk index from server l into dst,
 * several READ calls in flight. 0 or -errno (-EHOSTDOWN: the link broke). */
static int read_range(struct dfs_client *c, const struct dfs_reader *r, struct link *l,
		      unsigned index, uint64_t offset, size_t len, char *dst)
{
	int role = layout_role(&r->layout, l->conf->number, index);
	CLIENT *clnt;
	dfs_read_args a = {.cred = l->cred, .ver = r->ver, .index = index};
	struct {
		uint64_t offset;
		u_int count;
	} sent[READ_WINDOW];
	uint64_t asked = offset, end = offset + len;
	unsigned outstanding = 0, oldest = 0;
	char why[256];
	int err = 0;

	if (role < 0)
		return -EIO;
	clnt = conn_role(c, l, role, why, sizeof(why));
	if (!clnt)
		return -ENOTCONN;
	a.name.dfs_name_val = r->name;
	a.name.dfs_name_len = (u_int)strlen(r->name);
	while (asked < end || outstanding > 0) {
		dfs_read_res res;
		enum clnt_stat st;
		char *into;

		while (!err && outstanding < READ_WINDOW && asked < end) {
			a.offset = asked;
			a.count =
			    end - asked < DFS_BLOCK_MAX ? (u_int)(end - asked) : DFS_BLOCK_MAX;
			st = rpcstream_send(clnt, DFSPROC_READ, (xdrproc_t)xdr_dfs_read_args, &a);
			if (st != RPC_SUCCESS)
				return -EHOSTDOWN;
			sent[(oldest + outstanding) % READ_WINDOW].offset = asked;
			sent[(oldest + outstanding) % READ_WINDOW].count = a.count;
			asked += a.count;
			outstanding++;
		}
		if (outstanding == 0)
			break;
		memset(&res, 0, sizeof(res));
		/* With room for the most a READ may bring, the bytes are decoded
		 * where they go, not copied there. */
		into = dst + (sent[oldest].offset - offset);
		if (len - (sent[oldest].offset - offset) >= DFS_BLOCK_MAX)
			res.dfs_read_res_u.data.data_val = into;
		st = rpcstream_recv(clnt, (xdrproc_t)xdr_dfs_read_res, &res);
		outstanding--;
		if (st != RPC_SUCCESS)
			return -EHOSTDOWN;
		if (err) {
			/* Draining what was sent keeps the connection clean. */
		} else if (res.status != DFS_OK) {
			err = client_errno(res.status);
		} else {
			u_int n = res.dfs_read_res_u.data.data_len;

			err = check_read_data(n, sent[oldest].count, NULL);
			if (!err && res.dfs_read_res_u.data.data_val != into)
				memcpy(into, res.dfs_read_res_u.data.data_val, n);
		}
		oldest = (oldest + 1) % READ_WINDOW;
		if (res.dfs_read_res_u.data.data_val == into)
			res.dfs_read_res_u.data.data_val = NULL;
		xdr_free((xdrproc_t)xdr_dfs_read_res, (char *)&res);
	}
	return err;
}

/* Feeds bytes [at, at + n) of chunk k to the running checksum when they
 * continue a read of the chunk from its start; checks the chunk once it has
 * been read whole. 0, or -EIO when its checksum fails. */
static int verify_in_order(struct dfs_client *c, struct dfs_reader *r, unsigned k, uint64_t at,
			   const char *p, size_t n, uint64_t chunk_size)
{
	if (at == 0) {
		r->ck_chunk = k;
		r->ck_pos = 0;
		checksum_init(&r->ck);
	}
	if (r->ck_chunk != k || r->ck_pos != at)
		return 0;
	checksum_update(&r->ck, p, n);
	r->ck_pos += n;
	if (r->ck_pos < chunk_size)
		return 0;
	r->ck_chunk = 0;
	if (checksum_final(&r->ck) == r->chunk_sum[k - 1])
		return 0;
	return client_fail(c, -EIO, "chunk %u of %s failed its checksum: the bytes read are bad", k,
			   r->name);
}

static const char *read_reason(int err)
{
	switch (err) {
	case -EHOSTDOWN:
		return "it stopped answering";
	case -ENOTCONN:
		return CONN_ROLE_FAILED;
	case -ESTALE:
		return "the version read was replaced by newer writes";
	case -EBADMSG:
		return "its copy is short or failed the checksum";
	case -EPROTO:
		return "it sent more bytes than asked for";
	default:
		return dfs_strerror(err);
	}
}

/* Bytes [at, at + n) of chunk k from its first holder that serves them; with
 * whole (the range is the whole chunk), from the first whose copy passes the
 * checksum. */
static int read_from_holders(struct dfs_client *c, struct dfs_reader *r, unsigned k, uint64_t at,
			     size_t n, char *dst, bool whole)
{
	unsigned candidates[2] = {r->source[k - 1], r->backup[k - 1]};
	char label[160];
	int err = -EIO;
	unsigned failed = 0;

	for (int i = 0; i < 2; i++) {
		unsigned s = candidates[i];
		struct link *l;

		if (!s || s > c->conf.nservers || !c->links[s - 1].up)
			continue;
		l = &c->links[s - 1];
		err = read_range(c, r, l, k, at, n, dst);
		if (err == 0 && whole && checksum_of(dst, n) != r->chunk_sum[k - 1])
			err = -EBADMSG;
		if (err == 0) {
			if (failed)
				client_warn(c, failed,
					    "chunk %u of %s: read from server %u instead", k,
					    r->name, s);
			return 0;
		}
		conn_mark_broken(c, l, err, "a read");
		failed = s;
		client_fail(c, err == -ESTALE ? -ESTALE : -EIO, "chunk %u of %s: %s failed: %s", k,
			    r->name, link_label(l, label, sizeof(label)), read_reason(err));
		if (err == -ESTALE)
			return -ESTALE;
	}
	if (!failed)
		return client_fail(c, -EIO, "chunk %u of %s: no server holding it is reachable", k,
				   r->name);
	return -EIO;
}

/* Pieces of a chunk at least this long (and not the whole chunk) are read from
 * both holders at once, half from each. */
#define SPLIT_MIN (2u << 20)

struct half {
	struct dfs_client *c;
	const struct dfs_reader *r;
	struct link *l;
	unsigned k;
	uint64_t at;
	size_t n;
	char *dst;
	int err;
};

static void *half_run(void *arg)
{
	struct half *h = arg;

	h->err = read_range(h->c, h->r, h->l, h->k, h->at, h->n, h->dst);
	return NULL;
}

/* Bytes [at, at + n) of chunk k, not the whole chunk: the first half from its
 * first holder and the second from the other, on two connections at once, as
 * a get reads chunks. A half that fails is read again from the holders in turn. */
static int read_split(struct dfs_client *c, struct dfs_reader *r, unsigned k, uint64_t at, size_t n,
		      char *dst)
{
	unsigned s1 = r->source[k - 1], s2 = r->backup[k - 1];
	struct half h[2];
	pthread_t tid;
	bool started;

	if (!s1 || !s2 || s1 > c->conf.nservers || s2 > c->conf.nservers || s1 == s2 ||
	    !c->links[s1 - 1].up || !c->links[s2 - 1].up)
		return read_from_holders(c, r, k, at, n, dst, false);
	h[0] = (struct half){
	    .c = c, .r = r, .l = &c->links[s1 - 1], .k = k, .at = at, .n = n / 2, .dst = dst};
	h[1] = (struct half){.c = c,
			     .r = r,
			     .l = &c->links[s2 - 1],
			     .k = k,
			     .at = at + n / 2,
			     .n = n - n / 2,
			     .dst = dst + n / 2};
	started = pthread_create(&tid, NULL, half_run, &h[1]) == 0;
	half_run(&h[0]);
	if (started)
		pthread_join(tid, NULL);
	else
		half_run(&h[1]);
	for (int i = 0; i < 2; i++) {
		int err;

		if (!h[i].err)
			continue;
		conn_mark_broken(c, h[i].l, h[i].err, "a read");
		if (h[i].err == -ESTALE)
			return client_fail(c, -ESTALE, "chunk %u of %s: %s", k, r->name,
					   read_reason(-ESTALE));
		err = read_from_holders(c, r, k, h[i].at, h[i].n, h[i].dst, false);
		if (err)
			return err;
	}
	return 0;
}

int dfs_pread(struct dfs_client *c, struct dfs_reader *r, void *buf, size_t len, uint64_t offset,
	      size_t *got)
{
	char *out = buf;
	size_t done = 0;

	*got = 0;
	if (!c->logged_in)
		return client_fail(c, -ENOTCONN, "not logged in");
	if (offset >= r->size || len == 0)
		return 0;
	if (len > r->size - offset)
		len = (size_t)(r->size - offset);
	while (done < len) {
		uint64_t pos = offset + done, coff = 0, csize = 0;
		unsigned k;
		size_t n;
		bool whole;
		int err;

		/* Chunks differ in size by at most one byte: start from the estimate. */
		k = (unsigned)(pos / (r->size / r->nchunks + 1)) + 1;
		for (; k <= r->nchunks; k++) {
			chunk_range(r->size, r->nchunks, k, &coff, &csize);
			if (pos < coff + csize)
				break;
		}
		if (k > r->nchunks)
			return client_fail(c, -EIO, "%s: offset beyond its chunks", r->name);
		n = coff + csize - pos < len - done ? (size_t)(coff + csize - pos) : len - done;
		whole = pos == coff && n == csize;
		if ((r->have >> (k - 1)) & 1) {
			memcpy(out + done, r->small + pos, n);
			done += n;
			*got = done;
			continue;
		}
		if (!whole && n >= SPLIT_MIN)
			err = read_split(c, r, k, pos - coff, n, out + done);
		else
			err = read_from_holders(c, r, k, pos - coff, n, out + done, whole);
		if (!err && !whole)
			err = verify_in_order(c, r, k, pos - coff, out + done, n, csize);
		if (err)
			return err;
		done += n;
		*got = done;
	}
	return 0;
}

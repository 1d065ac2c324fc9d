/* commit_many.c: several small files stored whole in one step (STORE_MANY): their
 * records and chunks are queued together and written by one flush. */
#include "store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rpc/rpc.h>

#include "counts.h"

/* The state of one call. */
struct many {
	struct store *st;
	const struct store_whole *files;
	unsigned n;
	const struct store_quota *q;
	int *results;
	struct pending_commit *pc;		  /* per file */
	struct rec_op (*chunk_ops)[DFS_HELD_MAX]; /* per file: its chunks */
	unsigned *nchunks;
	unsigned *nops; /* per file: the operations of its write */
	bool *together; /* per file: committed with the others, not alone */
	pthread_mutex_t **locks;
	unsigned nlocks;
};

static int by_address(const void *a, const void *b)
{
	const pthread_mutex_t *x = *(pthread_mutex_t *const *)a, *y = *(pthread_mutex_t *const *)b;

	return x < y ? -1 : x > y;
}

/* Whether an earlier file of the call has file i's name. Such a file goes alone,
 * after the files that go together, so that the two are stored in their order. */
static bool repeated(const struct many *m, unsigned i)
{
	for (unsigned j = 0; j < i; j++)
		if (m->pc[j].ref.hash[0] && strcmp(m->pc[j].ref.hash, m->pc[i].ref.hash) == 0)
			return true;
	return false;
}

/* Checks each file; those kept in the database go together, the others alone. */
static void sort_files(struct many *m, const char *user)
{
	uint64_t bytes = 0;

	for (unsigned i = 0; i < m->n; i++) {
		const struct store_whole *f = &m->files[i];
		/* XDR decodes an empty opaque to NULL, and NULL + 0 is undefined. */
		const char *data = f->len == 0 ? "" : f->data;
		int rc = whole_check(m->st, user, f->info, f->len, m->q, &m->pc[i].ref);

		m->pc[i].info = f->info;
		if (rc == 0 && (!fits_inline(m->st, f->info) || repeated(m, i)))
			continue;
		if (rc == 0)
			rc = inline_ops(f->info, data, m->chunk_ops[i]);
		if (rc < 0) {
			m->results[i] = rc;
			continue;
		}
		m->nchunks[i] = (unsigned)rc;
		m->together[i] = true;
		bytes += f->len;
	}
	if (bytes > 0 && space_check(m->st, bytes) < 0)
		for (unsigned i = 0; i < m->n; i++)
			if (m->together[i]) {
				m->together[i] = false;
				m->results[i] = -ENOSPC;
			}
}

/* Takes the locks of the files going together, each once, in address order: two
 * calls that share locks take them in the same order. */
static void lock_files(struct many *m)
{
	for (unsigned i = 0; i < m->n; i++) {
		bool have = false;

		for (unsigned k = 0; m->together[i] && k < m->nlocks && !have; k++)
			have = m->locks[k] == m->pc[i].ref.lock;
		if (m->together[i] && !have)
			m->locks[m->nlocks++] = m->pc[i].ref.lock;
	}
	qsort(m->locks, m->nlocks, sizeof(*m->locks), by_address);
	for (unsigned k = 0; k < m->nlocks; k++)
		pthread_mutex_lock(m->locks[k]);
}

/* The operations of pc's write, its record encoded into a buffer of the record's
 * size. A call's pending commits are one array: room in each for the largest
 * record, or for the operations of any commit, made that array large enough to
 * be mapped afresh for every call, a new page or two per file. Their count, or
 * -errno. */
static int encode_record(struct pending_commit *pc, const struct rec_op *chunks, unsigned nchunks)
{
	unsigned long len = xdr_sizeof((xdrproc_t)xdr_dfs_meta, &pc->m);

	if (len == 0 || len > META_BUF)
		return -EINVAL;
	pc->record = malloc(len);
	if (pc->record == NULL)
		return -ENOMEM;
	return meta_ops(&pc->m, chunks, nchunks, pc->ops, COMMIT_OPS_MAX, pc->record, len);
}

/* Decides each file going together, into nops[i] operations in its pending commit. */
static void decide_all(struct many *m, const char *user)
{
	struct store *st = m->st;
	struct count_totals t = {0};
	bool limited = quota_limited(m->q);

	if (limited)
		counts_user(st->counts, user, &t);
	for (unsigned i = 0; i < m->n; i++) {
		struct pending_commit *pc = &m->pc[i];
		int fds[DFS_HELD_MAX], nfds = 0, rc;

		if (!m->together[i])
			continue;
		rc = commit_decide(st, pc, &t, m->q, m->chunk_ops[i], m->nchunks[i], fds, &nfds,
				   false);
		for (int k = 0; k < nfds; k++)
			close(fds[k]);
		if (rc == 0)
			rc = encode_record(pc, m->chunk_ops[i], m->nchunks[i]);
		if (rc < 0) {
			m->results[i] = rc;
			m->together[i] = false;
			commit_free(pc);
			continue;
		}
		m->nops[i] = (unsigned)rc;
		/* Later files of the user are checked against the quota with this one in. */
		if (limited)
			quota_count(&t, pc->have_old ? &pc->old.current : NULL, pc->info);
	}
}

/* Indexes the new names in one step, before any of their records is written. */
static void index_names(struct many *m, const char *user)
{
	struct name_entry *e = calloc(m->n, sizeof(*e));
	unsigned count = 0;
	int rc;

	for (unsigned i = 0; e && i < m->n; i++) {
		const dfs_name *name = &m->pc[i].info->name;

		if (m->together[i] && !m->pc[i].have_old)
			e[count++] = (struct name_entry){.name = name->dfs_name_val,
							 .len = name->dfs_name_len,
							 .hash = m->pc[i].ref.hash};
	}
	rc = e ? name_index_add_many(m->st->names, user, e, count) : -ENOMEM;
	free(e);
	for (unsigned i = 0; rc < 0 && i < m->n; i++) {
		if (m->together[i] && !m->pc[i].have_old) {
			m->results[i] = rc;
			m->together[i] = false;
			commit_free(&m->pc[i]);
		}
	}
}

/* Decides the files going together, queues their writes and waits for them. */
static void commit_together(struct many *m, const char *user)
{
	struct store *st = m->st;
	bool limited = quota_limited(m->q);

	lock_files(m);
	if (limited)
		pthread_mutex_lock(&st->quota_lock);
	decide_all(m, user);
	index_names(m, user);
	for (unsigned i = 0; i < m->n; i++) {
		struct pending_commit *pc = &m->pc[i];

		if (m->together[i])
			records_queue(st->records, &pc->change, pc->ref.user, pc->ref.hash, pc->ops,
				      m->nops[i]);
	}
	for (unsigned i = 0; i < m->n; i++) {
		if (!m->together[i])
			continue;
		m->results[i] = records_wait(st->records, &m->pc[i].change);
		if (m->results[i] == 0)
			commit_done(st, &m->pc[i]);
		commit_free(&m->pc[i]);
	}
	if (limited)
		pthread_mutex_unlock(&st->quota_lock);
	for (unsigned k = m->nlocks; k-- > 0;)
		pthread_mutex_unlock(m->locks[k]);
}

int store_put_whole_many(struct store *st, const char *user, const struct store_whole *files,
			 unsigned n, const struct store_quota *q, int *results)
{
	struct many m = {.st = st, .files = files, .n = n, .q = q, .results = results};
	bool alone_err = false;

	m.pc = calloc(n, sizeof(*m.pc));
	m.chunk_ops = calloc(n, sizeof(*m.chunk_ops));
	m.nchunks = calloc(n, sizeof(*m.nchunks));
	m.nops = calloc(n, sizeof(*m.nops));
	m.together = calloc(n, sizeof(*m.together));
	m.locks = calloc(n, sizeof(*m.locks));
	if (!m.pc || !m.chunk_ops || !m.nchunks || !m.nops || !m.together || !m.locks) {
		alone_err = true;
	} else {
		for (unsigned i = 0; i < n; i++)
			results[i] = 1; /* not decided yet */
		sort_files(&m, user);
		commit_together(&m, user);
	}
	/* Files that cannot go together (chunk files, a name repeated) are stored
	 * one after the other, as STORE stores them. */
	for (unsigned i = 0; i < n; i++)
		if (alone_err || results[i] == 1)
			results[i] = store_put_whole_quota(st, user, files[i].info, files[i].data,
							   files[i].len, q);
	free(m.pc);
	free(m.chunk_ops);
	free(m.nchunks);
	free(m.nops);
	free(m.together);
	free(m.locks);
	return 0;
}

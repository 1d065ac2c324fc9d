/* records_write.c: changes to the records database (records_db.h), with group
 * commit: a change (the operations of one call, applied together) returns once it
 * is on disk. Changes that arrive while a flush is under way queue up, and the
 * next flush writes all of them in one transaction: concurrent commits share the
 * two syncs of one LMDB commit instead of each paying its own. */
#include "records_db.h"

#include <stdio.h>
#include <stdlib.h>

/* Records per transaction of a conversion. */
#define IMPORT_BATCH 1024

/* Whether the entry whose key k begins with a prefix of plen bytes is to go. */
typedef bool (*drop_fn)(const MDB_val *k, size_t plen, const struct rec_op *op);

/* Deletes every entry of dbi whose key begins with prefix and that drop selects;
 * *count counts them. */
static int delete_where(MDB_txn *txn, MDB_dbi dbi, const unsigned char *prefix, size_t plen,
			drop_fn drop, const struct rec_op *op, unsigned long *count)
{
	MDB_cursor *cur;
	MDB_val k = {plen, (void *)prefix}, v;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size > plen && memcmp(k.mv_data, prefix, plen) == 0) {
		if (drop(&k, plen, op)) {
			rc = mdb_cursor_del(cur, 0);
			/* The cursor now stands on the next entry, if any. */
			if (rc == 0) {
				(*count)++;
				rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
			}
		} else {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == EINVAL ? 0 : rc;
}

/* A chunk (or its verification) of a version below op->below and not in op->keep. */
static bool pruned(const MDB_val *k, size_t plen, const struct rec_op *op)
{
	uint64_t ver;
	bool drop;

	if (k->mv_size != plen + 9)
		return false;
	ver = chunk_key_ver(k->mv_data, plen);
	drop = ver < op->below;
	for (unsigned i = 0; i < op->nkeep && drop; i++)
		drop = op->keep[i] != ver;
	return drop;
}

static bool every(const MDB_val *k, size_t plen, const struct rec_op *op)
{
	(void)k;
	(void)plen;
	(void)op;
	return true;
}

static int put_value(MDB_txn *txn, MDB_dbi dbi, unsigned char *key, size_t klen, int64_t when,
		     const void *val, size_t len)
{
	MDB_val k = {klen, key}, v = {8 + len, NULL};
	int rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);

	if (rc == 0) {
		put_le64(v.mv_data, (uint64_t)when);
		if (len > 0)
			memcpy((unsigned char *)v.mv_data + 8, val, len);
	}
	return rc;
}

static int del_key(MDB_txn *txn, MDB_dbi dbi, unsigned char *key, size_t klen)
{
	MDB_val k = {klen, key};
	int rc = mdb_del(txn, dbi, &k, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int put_verified(MDB_txn *txn, MDB_dbi dbi, unsigned char *key, size_t klen,
			const struct verify_state *vs)
{
	MDB_val k = {klen, key}, v = {24, NULL};
	int rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);

	if (rc == 0) {
		put_le64(v.mv_data, vs->ino);
		put_le64((unsigned char *)v.mv_data + 8, (uint64_t)vs->when_ns);
		put_le64((unsigned char *)v.mv_data + 16, (uint64_t)vs->result);
	}
	return rc;
}

/* Applies the operations of one change inside txn. */
static int apply(struct records *r, MDB_txn *txn, const struct rec_change *c)
{
	unsigned char key[KEY_MAX];
	unsigned long count = 0;
	size_t flen, klen;
	int rc = 0;

	for (unsigned i = 0; i < c->nops && rc == 0; i++) {
		const struct rec_op *op = &c->ops[i];

		flen = file_key(c->user, c->hash, key);
		klen = op->kind == OP_RECORD_PUT || op->kind == OP_RECORD_DEL ||
			       op->kind == OP_LACKING || op->kind == OP_CHUNKS_PRUNE
			   ? flen
			   : chunk_key(c->user, c->hash, op->ver, op->index, key);
		switch (op->kind) {
		case OP_RECORD_PUT:
			rc = put_value(txn, r->records, key, klen, c->written_ns, op->val, op->len);
			break;
		case OP_RECORD_DEL:
			rc = del_key(txn, r->records, key, klen);
			break;
		case OP_LACKING:
			if (op->len) {
				MDB_val k = {klen, key}, v = {0, NULL};

				rc = mdb_put(txn, r->lacking, &k, &v, 0);
			} else {
				rc = del_key(txn, r->lacking, key, klen);
			}
			break;
		case OP_CHUNK_PUT:
			rc = put_value(txn, r->chunks, key, klen, c->written_ns, op->val, op->len);
			if (rc == 0)
				rc = del_key(txn, r->verified, key, klen);
			break;
		case OP_CHUNK_DEL:
			rc = del_key(txn, r->chunks, key, klen);
			break;
		case OP_CHUNKS_PRUNE:
			rc = delete_where(txn, r->chunks, key, flen, pruned, op, &count);
			if (rc == 0)
				rc = delete_where(txn, r->verified, key, flen, pruned, op, &count);
			break;
		case OP_VERIFIED_PUT:
			rc = put_verified(txn, r->verified, key, klen, &op->vs);
			break;
		}
	}
	return rc;
}

/* Writes changes from..to (exclusive) in one transaction; 0 or an LMDB error. */
static int write_changes(struct records *r, struct rec_change *from, struct rec_change *to)
{
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(r->env, NULL, 0, &txn);

	for (struct rec_change *c = from; rc == 0 && c != to; c = c->next)
		rc = apply(r, txn, c);
	if (rc != 0) {
		if (txn)
			mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/* Writes every change of batch in one transaction, each change's result in its rc.
 * If that fails, each change is written alone, so that one that cannot be (the
 * database is full) fails alone. */
static void write_batch(struct records *r, struct rec_change *batch)
{
	int rc = write_changes(r, batch, NULL);

	for (struct rec_change *c = batch; c; c = c->next) {
		if (rc != 0 && batch->next)
			c->rc = write_changes(r, c, c->next);
		else
			c->rc = rc;
		c->rc = c->rc == 0 ? 0 : lmdb_errno(c->rc);
	}
}

void records_queue(struct records *r, struct rec_change *c, const char *user, const char *hash,
		   const struct rec_op *ops, unsigned nops)
{
	*c = (struct rec_change){.ops = ops, .nops = nops, .written_ns = now_ns()};
	snprintf(c->user, sizeof(c->user), "%s", user);
	snprintf(c->hash, sizeof(c->hash), "%s", hash);
	pthread_mutex_lock(&r->lock);
	*r->tail = c;
	r->tail = &c->next;
	pthread_mutex_unlock(&r->lock);
}

/* Returns once a flush has written c: the first caller to find no flush under
 * way flushes everything queued, its own change included. */
int records_wait(struct records *r, struct rec_change *c)
{
	pthread_mutex_lock(&r->lock);
	while (!c->done) {
		struct rec_change *batch;

		if (r->flushing) {
			pthread_cond_wait(&r->flushed, &r->lock);
			continue;
		}
		records_used(r);
		batch = r->queue;
		r->queue = NULL;
		r->tail = &r->queue;
		r->flushing = true;
		pthread_mutex_unlock(&r->lock);
		write_batch(r, batch);
		pthread_mutex_lock(&r->lock);
		for (struct rec_change *b = batch; b; b = b->next)
			b->done = true;
		r->flushing = false;
		pthread_cond_broadcast(&r->flushed);
	}
	pthread_mutex_unlock(&r->lock);
	return c->rc;
}

int records_apply(struct records *r, const char *user, const char *hash, const struct rec_op *ops,
		  unsigned nops)
{
	struct rec_change c;

	records_queue(r, &c, user, hash, ops, nops);
	return records_wait(r, &c);
}

int records_put(struct records *r, const char *user, const char *hash, const void *val, size_t len)
{
	struct rec_op op = {.kind = OP_RECORD_PUT, .val = val, .len = len};

	return records_apply(r, user, hash, &op, 1);
}

int records_import(struct records *r, const char *user, const char *hash, const void *val,
		   size_t len, bool lacking, int64_t written_ns)
{
	struct rec_op ops[2] = {{.kind = OP_RECORD_PUT, .val = val, .len = len},
				{.kind = OP_LACKING, .len = lacking}};
	struct rec_change c = {.ops = ops, .nops = 2, .written_ns = written_ns};
	int rc = 0;

	snprintf(c.user, sizeof(c.user), "%s", user);
	snprintf(c.hash, sizeof(c.hash), "%s", hash);
	if (r->import == NULL)
		rc = mdb_txn_begin(r->env, NULL, 0, &r->import);
	if (rc == 0)
		rc = apply(r, r->import, &c);
	if (rc != 0)
		return lmdb_errno(rc);
	if (++r->import_count < IMPORT_BATCH)
		return 0;
	return records_import_end(r);
}

int records_import_end(struct records *r)
{
	int rc = r->import ? mdb_txn_commit(r->import) : 0;

	r->import = NULL;
	r->import_count = 0;
	return rc == 0 ? 0 : lmdb_errno(rc);
}

int store_purge_records(const char *root, const char *user, unsigned long *removed)
{
	struct records *r;
	unsigned char prefix[USER_MAX + 1];
	size_t plen = strlen(user) + 1;
	unsigned long other = 0;
	MDB_txn *txn = NULL;
	int rc;

	*removed = 0;
	if (plen > sizeof(prefix))
		return -EINVAL;
	rc = records_open_env(&r, root, false);
	if (rc < 0)
		return rc;
	memcpy(prefix, user, plen);
	rc = mdb_txn_begin(r->env, NULL, 0, &txn);
	if (rc == 0)
		rc = delete_where(txn, r->records, prefix, plen, every, NULL, removed);
	if (rc == 0)
		rc = delete_where(txn, r->lacking, prefix, plen, every, NULL, &other);
	if (rc == 0)
		rc = delete_where(txn, r->chunks, prefix, plen, every, NULL, &other);
	if (rc == 0)
		rc = delete_where(txn, r->verified, prefix, plen, every, NULL, &other);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn)
		mdb_txn_abort(txn);
	records_close(r);
	return rc == 0 ? 0 : lmdb_errno(rc);
}
